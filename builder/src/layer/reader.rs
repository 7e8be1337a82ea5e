//! Layer tar → typed entries. Reads gzip, zstd or plain tars (sniffed from the first bytes), PAX
//! and GNU long-name extensions, and classifies each entry the way hcsshim's importer would:
//! `Files/…` content with its Windows metadata, whiteouts, alternate data streams, hive deltas.
//! Linux-style layers (no `Files/` prefix) read as plain entries with Linux whiteouts.
//!
//! The tar parser is ours: every size it trusts is bounded (extension headers ≤ 1 MiB), so a
//! hostile or decompression-bomb layer cannot make it allocate without limit.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read};

use base64::Engine as _;
use oci_spec::image::Digest;

use super::changeset::{HiveName, Timestamp};
use super::sd::{self, Sid};
use super::LayerError;
use crate::oci::digest::HashingReader;

/// Largest PAX or GNU long-name extension accepted.
const EXTENSION_LIMIT: u64 = 1024 * 1024;

/// What a layer entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerEntryKind {
    Directory,
    File,
    /// Hard link; the target is in [`LayerEntry::link_target`] (as written, e.g. `Files/a`).
    HardLink,
    /// Symbolic link (Windows-style target in a Windows layer).
    Symlink,
    /// A junction: a symlink entry with `MSWINDOWS.mountpoint=1`.
    Junction,
    /// `.wh.<name>`: `deleted` is the deleted path (without the `Files/` prefix in Windows layers).
    Whiteout {
        deleted: String,
    },
    /// `.wh..wh..opq` (Linux layers; meaningless to Windows, which treats it as a plain whiteout).
    OpaqueWhiteout {
        directory: String,
    },
    /// `Files/<file>:<stream>`.
    AltStream {
        file: String,
        stream: String,
    },
    /// `Hives/<Name>_Delta`.
    HiveDelta(HiveName),
    /// Another tar type (device, FIFO, …): the type flag byte.
    Other(u8),
}

/// One entry of a layer with everything the headers say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerEntry {
    /// The path as written in the tar (no leading `./`, no trailing `/`).
    pub path: String,
    pub kind: LayerEntryKind,
    pub type_flag: u8,
    pub size: u64,
    pub mode: u32,
    /// `MSWINDOWS.fileattr`.
    pub attributes: Option<u32>,
    /// `MSWINDOWS.rawsd`, decoded.
    pub security_descriptor: Option<Vec<u8>>,
    /// The owner SID of the security descriptor.
    pub owner: Option<Sid>,
    pub mtime: Timestamp,
    pub atime: Option<Timestamp>,
    /// `LIBARCHIVE.creationtime`.
    pub creation_time: Option<Timestamp>,
    /// Link name of hard links and symlinks/junctions.
    pub link_target: Option<String>,
    /// Every PAX record, as read.
    pub pax: BTreeMap<String, Vec<u8>>,
    /// Offset of the entry's first header (its PAX header if any) in the uncompressed tar.
    pub offset: u64,
}

impl LayerEntry {
    /// The path inside the container (`C:\` relative, `/`-separated) for `Files/` entries.
    pub fn windows_path(&self) -> Option<&str> {
        self.path.strip_prefix("Files/")
    }
}

/// Raw header fields as read.
struct RawHeader {
    name: String,
    link_name: String,
    type_flag: u8,
    mode: u32,
    size: u64,
    mtime: i64,
    pax: BTreeMap<String, Vec<u8>>,
    offset: u64,
}

/// A streaming tar parser over the uncompressed bytes.
pub struct TarReader<R: Read> {
    inner: R,
    /// Data bytes of the current entry not yet read, then its padding.
    remaining: u64,
    padding: u64,
    position: u64,
    finished: bool,
}

fn bad(offset: u64, message: impl Into<String>) -> LayerError {
    LayerError::Malformed {
        offset,
        message: message.into(),
    }
}

fn parse_octal(field: &[u8], offset: u64, what: &str) -> Result<u64, LayerError> {
    // GNU base-256 for large values: high bit of the first byte set.
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut value: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            value = value
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(b)))
                .ok_or_else(|| bad(offset, format!("{what} overflows")))?;
        }
        return Ok(value);
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .take_while(|&b| b != 0)
        .filter(|&b| b != b' ')
        .collect();
    if text.is_empty() {
        return Ok(0);
    }
    let text =
        std::str::from_utf8(&text).map_err(|_| bad(offset, format!("{what} is not octal")))?;
    u64::from_str_radix(text, 8).map_err(|_| bad(offset, format!("{what} {text:?} is not octal")))
}

fn c_string(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// Parses PAX records (`len key=value\n`).
fn parse_pax(body: &[u8], offset: u64) -> Result<Vec<(String, Vec<u8>)>, LayerError> {
    let mut records = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        if rest.iter().all(|&b| b == 0) {
            break;
        }
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad(offset, "PAX record without a length"))?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| bad(offset, "PAX record length is not a number"))?;
        if len <= space + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(bad(offset, "PAX record length does not match its content"));
        }
        let record = &rest[space + 1..len - 1];
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| bad(offset, "PAX record without '='"))?;
        let key = String::from_utf8_lossy(&record[..eq]).into_owned();
        records.push((key, record[eq + 1..].to_vec()));
        rest = &rest[len..];
    }
    Ok(records)
}

/// Parses a PAX time (`secs[.fraction]`).
pub fn parse_pax_time(text: &str) -> Option<Timestamp> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (secs, fraction) = text.split_once('.').unwrap_or((text, ""));
    let secs: i64 = secs.parse().ok()?;
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits = fraction
        .as_bytes()
        .iter()
        .take(9)
        .map(|b| u32::from(b - b'0'))
        .collect::<Vec<_>>();
    digits.resize(9, 0);
    let nanos = digits.iter().fold(0u32, |acc, d| acc * 10 + d);
    Some(if negative && nanos > 0 {
        Timestamp {
            secs: -secs - 1,
            nanos: 1_000_000_000 - nanos,
        }
    } else if negative {
        Timestamp {
            secs: -secs,
            nanos: 0,
        }
    } else {
        Timestamp { secs, nanos }
    })
}

impl<R: Read> TarReader<R> {
    pub fn new(inner: R) -> Self {
        TarReader {
            inner,
            remaining: 0,
            padding: 0,
            position: 0,
            finished: false,
        }
    }

    /// The wrapped reader (to drain trailing bytes after the end of the archive).
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn skip(&mut self, mut n: u64) -> Result<(), LayerError> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let want = n.min(buf.len() as u64) as usize;
            let got = self
                .inner
                .read(&mut buf[..want])
                .map_err(|e| LayerError::io("reading the layer", e))?;
            if got == 0 {
                return Err(bad(self.position, "the tar ends in the middle of an entry"));
            }
            n -= got as u64;
            self.position += got as u64;
        }
        Ok(())
    }

    fn read_block(&mut self, block: &mut [u8; 512]) -> Result<bool, LayerError> {
        let mut filled = 0;
        while filled < 512 {
            let n = self
                .inner
                .read(&mut block[filled..])
                .map_err(|e| LayerError::io("reading the layer", e))?;
            if n == 0 {
                if filled == 0 {
                    return Ok(false);
                }
                return Err(bad(self.position, "the tar ends inside a header"));
            }
            filled += n;
        }
        self.position += 512;
        Ok(true)
    }

    fn read_extension(&mut self, size: u64, offset: u64) -> Result<Vec<u8>, LayerError> {
        if size > EXTENSION_LIMIT {
            return Err(bad(
                offset,
                format!("extension header of {size} bytes (limit {EXTENSION_LIMIT})"),
            ));
        }
        let mut body = vec![0u8; size as usize];
        self.inner
            .read_exact(&mut body)
            .map_err(|_| bad(offset, "the tar ends inside an extension header"))?;
        self.position += size;
        let pad = super::tarfmt::padding(size) as u64;
        self.skip(pad)?;
        Ok(body)
    }

    /// The next entry's headers (extensions applied); its data is then readable through
    /// [`TarReader::data`]. `None` at the end of the archive.
    fn next_header(&mut self) -> Result<Option<RawHeader>, LayerError> {
        if self.finished {
            return Ok(None);
        }
        // Skip what the caller did not read of the previous entry.
        let rest = self.remaining + self.padding;
        self.remaining = 0;
        self.padding = 0;
        self.skip(rest)?;
        let mut pax: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut long_name: Option<String> = None;
        let mut long_link: Option<String> = None;
        let mut first_offset = None;
        let mut block = [0u8; 512];
        loop {
            let offset = self.position;
            if !self.read_block(&mut block)? {
                self.finished = true;
                if first_offset.is_some() {
                    return Err(bad(
                        offset,
                        "extension headers without the entry they describe",
                    ));
                }
                return Ok(None); // EOF without the zero blocks: accepted, as GNU tar does
            }
            if block.iter().all(|&b| b == 0) {
                self.finished = true;
                if first_offset.is_some() {
                    return Err(bad(
                        offset,
                        "extension headers without the entry they describe",
                    ));
                }
                return Ok(None);
            }
            first_offset.get_or_insert(offset);
            let stored: u64 = parse_octal(&block[148..156], offset, "checksum")?;
            let mut sum: u64 = block.iter().map(|&b| u64::from(b)).sum();
            sum -= block[148..156].iter().map(|&b| u64::from(b)).sum::<u64>();
            sum += 8 * u64::from(b' ');
            if sum != stored {
                return Err(bad(
                    offset,
                    "header checksum mismatch (not a tar, or corrupt)",
                ));
            }
            let type_flag = block[156];
            let size = parse_octal(&block[124..136], offset, "size")?;
            match type_flag {
                b'x' => {
                    let body = self.read_extension(size, offset)?;
                    for (k, v) in parse_pax(&body, offset)? {
                        pax.insert(k, v);
                    }
                    continue;
                }
                b'g' => {
                    self.read_extension(size, offset)?; // global defaults: not used by layers
                    continue;
                }
                b'L' => {
                    let body = self.read_extension(size, offset)?;
                    long_name = Some(c_string(&body));
                    continue;
                }
                b'K' => {
                    let body = self.read_extension(size, offset)?;
                    long_link = Some(c_string(&body));
                    continue;
                }
                _ => {}
            }
            let ustar = &block[257..263] == b"ustar\0" || &block[257..263] == b"ustar ";
            let mut name = c_string(&block[..100]);
            if ustar && &block[257..263] == b"ustar\0" && block[345] != 0 {
                name = format!("{}/{}", c_string(&block[345..500]), name);
            }
            let name = pax
                .get("path")
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .or(long_name)
                .unwrap_or(name);
            let link_name = pax
                .get("linkpath")
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .or(long_link)
                .unwrap_or_else(|| c_string(&block[157..257]));
            let size = match pax.get("size") {
                Some(v) => std::str::from_utf8(v)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| bad(offset, "PAX size is not a number"))?,
                None => size,
            };
            // Links and directories carry no data whatever the size field says.
            let data = if matches!(type_flag, b'1' | b'2' | b'5') {
                0
            } else {
                size
            };
            self.remaining = data;
            self.padding = super::tarfmt::padding(data) as u64;
            let mode = parse_octal(&block[100..108], offset, "mode")? as u32;
            let mtime = parse_octal(&block[136..148], offset, "mtime")? as i64;
            return Ok(Some(RawHeader {
                name,
                link_name,
                type_flag,
                mode,
                size: data,
                mtime,
                pax,
                offset: first_offset.unwrap_or(offset),
            }));
        }
    }

    /// The current entry's data.
    pub fn data(&mut self) -> EntryData<'_, R> {
        EntryData { tar: self }
    }
}

/// Reads the data of the current entry.
pub struct EntryData<'a, R: Read> {
    tar: &'a mut TarReader<R>,
}

impl<R: Read> Read for EntryData<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.tar.remaining == 0 {
            return Ok(0);
        }
        let want = (buf.len() as u64).min(self.tar.remaining) as usize;
        let n = self.tar.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the tar ends in the middle of an entry",
            ));
        }
        self.tar.remaining -= n as u64;
        self.tar.position += n as u64;
        Ok(n)
    }
}

/// Wraps a blob in the right decompressor, sniffing gzip and zstd magic.
pub fn decompressed<'a, R: Read + 'a>(blob: R) -> Result<Box<dyn Read + 'a>, LayerError> {
    let mut buffered = BufReader::with_capacity(256 * 1024, blob);
    let head = buffered
        .fill_buf()
        .map_err(|e| LayerError::io("reading the layer", e))?;
    Ok(match crate::oci::Compression::sniff(head) {
        crate::oci::Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        crate::oci::Compression::Zstd => {
            Box::new(zstd::Decoder::with_buffer(buffered).map_err(|e| LayerError::io("zstd", e))?)
        }
        crate::oci::Compression::None => Box::new(buffered),
    })
}

/// Classifies a raw header.
fn classify(raw: RawHeader) -> LayerEntry {
    let path = raw
        .name
        .trim_start_matches("./")
        .trim_end_matches('/')
        .to_string();
    let text = |key: &str| {
        raw.pax
            .get(key)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    let attributes = text("MSWINDOWS.fileattr").and_then(|t| t.trim().parse::<u32>().ok());
    let security_descriptor = raw.pax.get("MSWINDOWS.rawsd").and_then(|v| {
        base64::engine::general_purpose::STANDARD
            .decode(v.trim_ascii())
            .ok()
    });
    let owner = security_descriptor.as_deref().and_then(sd::owner_of);
    let mtime = text("mtime")
        .and_then(|t| parse_pax_time(&t))
        .unwrap_or(Timestamp {
            secs: raw.mtime,
            nanos: 0,
        });
    let windows = path.starts_with("Files/") || path.starts_with("UtilityVM/Files/");
    let (dir, base) = match path.rsplit_once('/') {
        Some((d, b)) => (Some(d), b),
        None => (None, path.as_str()),
    };
    let kind = if base == ".wh..wh..opq" {
        LayerEntryKind::OpaqueWhiteout {
            directory: dir.unwrap_or("").to_string(),
        }
    } else if let Some(name) = base.strip_prefix(".wh.") {
        let deleted = match dir {
            Some(d) => format!("{d}/{name}"),
            None => name.to_string(),
        };
        let deleted = deleted
            .strip_prefix("Files/")
            .map(str::to_string)
            .unwrap_or(deleted);
        LayerEntryKind::Whiteout { deleted }
    } else {
        match raw.type_flag {
            b'5' => LayerEntryKind::Directory,
            b'1' => LayerEntryKind::HardLink,
            b'2' if raw.pax.get("MSWINDOWS.mountpoint").map(Vec::as_slice) == Some(b"1") => {
                LayerEntryKind::Junction
            }
            b'2' => LayerEntryKind::Symlink,
            b'0' | 0 | b'7' => {
                if let (true, Some((file, stream))) = (windows, base.split_once(':')) {
                    let file = match dir {
                        Some(d) => format!("{d}/{file}"),
                        None => file.to_string(),
                    };
                    LayerEntryKind::AltStream {
                        file,
                        stream: stream.to_string(),
                    }
                } else if let (Some("Hives"), Some(hive)) =
                    (dir, HiveName::from_delta_file_name(base))
                {
                    LayerEntryKind::HiveDelta(hive)
                } else {
                    LayerEntryKind::File
                }
            }
            other => LayerEntryKind::Other(other),
        }
    };
    let link_target = matches!(raw.type_flag, b'1' | b'2').then(|| raw.link_name.clone());
    LayerEntry {
        path,
        kind,
        type_flag: raw.type_flag,
        size: raw.size,
        mode: raw.mode,
        attributes,
        owner,
        security_descriptor,
        mtime,
        atime: text("atime").and_then(|t| parse_pax_time(&t)),
        creation_time: text("LIBARCHIVE.creationtime").and_then(|t| parse_pax_time(&t)),
        link_target,
        pax: raw.pax,
        offset: raw.offset,
    }
}

/// What reading a whole layer produced.
#[derive(Debug, Clone)]
pub struct ReadSummary {
    pub entries: u64,
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
    pub uncompressed_size: u64,
}

/// Reads a layer blob (any compression) and calls `visit` with each entry and its data (which
/// the visitor may read or leave; unread data is skipped).
pub fn read_layer<R: Read>(
    blob: R,
    mut visit: impl FnMut(&LayerEntry, &mut dyn Read) -> Result<(), LayerError>,
) -> Result<ReadSummary, LayerError> {
    let tar_stream = HashingReader::new(decompressed(blob)?);
    read_tar(tar_stream, |entry, data| visit(entry, data))
}

/// Like [`read_layer`] on an already-uncompressed tar stream wrapped in a [`HashingReader`].
pub(crate) fn read_tar<R: Read>(
    tar_stream: HashingReader<R>,
    mut visit: impl FnMut(&LayerEntry, &mut dyn Read) -> Result<(), LayerError>,
) -> Result<ReadSummary, LayerError> {
    let mut tar = TarReader::new(tar_stream);
    let mut entries = 0;
    while let Some(raw) = tar.next_header()? {
        let entry = classify(raw);
        entries += 1;
        visit(&entry, &mut tar.data())?;
    }
    let mut rest = tar.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| LayerError::io("reading the layer", e))?;
    let (diff_id, uncompressed_size) = rest.finish();
    Ok(ReadSummary {
        entries,
        diff_id,
        uncompressed_size,
    })
}

/// Every entry of a layer (metadata only) and its diff_id.
pub fn list_layer<R: Read>(blob: R) -> Result<(Vec<LayerEntry>, ReadSummary), LayerError> {
    let mut entries = Vec::new();
    let summary = read_layer(blob, |entry, _| {
        entries.push(entry.clone());
        Ok(())
    })?;
    Ok((entries, summary))
}
