//! The Win32 backup stream format (what `BackupRead` produces and `BackupWrite` consumes), in pure
//! Rust: the legacy import/export folder stores every `Files\…` entry as a 4-byte
//! `FILE_ATTRIBUTES` prefix followed by one of these streams (research windows-layers.md §1.3).
//!
//! A stream is a sequence of `WIN32_STREAM_ID` headers — `dwStreamId` u32, `dwStreamAttributes`
//! u32, `Size` u64, `dwStreamNameSize` u32 (all little-endian), then the UTF-16LE name (alternate
//! data: `:name:$DATA`), then `Size` bytes. A `BACKUP_SPARSE_BLOCK` body starts with its
//! 8-byte file offset, counted in `Size`. Also here: the two payloads silo decodes —
//! `REPARSE_DATA_BUFFER` (symlinks and mount points) and `FILE_FULL_EA_INFORMATION` lists.
//!
//! File data is never loaded: [`BackupReader`] reports where each body lies so the caller can
//! record `(offset, len)` and stream it later; only the metadata streams are read, and those
//! are bounded by [`MAX_METADATA_STREAM`].

use std::io::{self, Read, Seek, SeekFrom, Write};

/// `dwStreamId` values (winbase.h; go-winio backup.go `BackupData`…`BackupTxfsData`).
pub const BACKUP_DATA: u32 = 1;
pub const BACKUP_EA_DATA: u32 = 2;
pub const BACKUP_SECURITY_DATA: u32 = 3;
pub const BACKUP_ALTERNATE_DATA: u32 = 4;
pub const BACKUP_LINK: u32 = 5;
pub const BACKUP_PROPERTY_DATA: u32 = 6;
pub const BACKUP_OBJECT_ID: u32 = 7;
pub const BACKUP_REPARSE_DATA: u32 = 8;
pub const BACKUP_SPARSE_BLOCK: u32 = 9;
pub const BACKUP_TXFS_DATA: u32 = 10;

/// `STREAM_SPARSE_ATTRIBUTE` in `dwStreamAttributes`.
pub const STREAM_SPARSE_ATTRIBUTE: u32 = 8;

/// Largest security descriptor, EA list or reparse buffer read into memory. Real ones are far
/// smaller (an EA list is at most 64 KiB, a reparse buffer 16 KiB); a bigger one is corrupt.
pub const MAX_METADATA_STREAM: u64 = 1 << 20;

/// Longest stream name accepted (`dwStreamNameSize`, bytes); NTFS names are ≤ 255 UTF-16 units.
const MAX_NAME_BYTES: u32 = 64 * 1024;

/// `sizeof(WIN32_STREAM_ID)` without the name.
pub const HEADER_LEN: u64 = 20;

/// `IO_REPARSE_TAG_MOUNT_POINT` (junctions).
pub const IO_REPARSE_TAG_MOUNT_POINT: u32 = 0xA000_0003;
/// `IO_REPARSE_TAG_SYMLINK`.
pub const IO_REPARSE_TAG_SYMLINK: u32 = 0xA000_000C;
/// `SYMLINK_FLAG_RELATIVE` in a symlink reparse buffer.
pub const SYMLINK_FLAG_RELATIVE: u32 = 1;

/// A human name for a stream ID (for error messages).
pub fn stream_name(id: u32) -> &'static str {
    match id {
        BACKUP_DATA => "BACKUP_DATA",
        BACKUP_EA_DATA => "BACKUP_EA_DATA",
        BACKUP_SECURITY_DATA => "BACKUP_SECURITY_DATA",
        BACKUP_ALTERNATE_DATA => "BACKUP_ALTERNATE_DATA",
        BACKUP_LINK => "BACKUP_LINK",
        BACKUP_PROPERTY_DATA => "BACKUP_PROPERTY_DATA",
        BACKUP_OBJECT_ID => "BACKUP_OBJECT_ID",
        BACKUP_REPARSE_DATA => "BACKUP_REPARSE_DATA",
        BACKUP_SPARSE_BLOCK => "BACKUP_SPARSE_BLOCK",
        BACKUP_TXFS_DATA => "BACKUP_TXFS_DATA",
        _ => "unknown stream",
    }
}

/// Why a backup stream or one of its payloads could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("backup stream at byte {offset}: {reason}")]
    Malformed { offset: u64, reason: String },
    #[error("reading the backup stream: {0}")]
    Io(#[from] io::Error),
}

fn malformed(offset: u64, reason: impl Into<String>) -> BackupError {
    BackupError::Malformed {
        offset,
        reason: reason.into(),
    }
}

/// One `WIN32_STREAM_ID` as read, with where its body lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHeader {
    pub id: u32,
    pub attributes: u32,
    /// Body length (for `BACKUP_SPARSE_BLOCK`, without the 8-byte offset).
    pub size: u64,
    /// The stream name (alternate data streams: `:name:$DATA`), trailing NULs removed.
    pub name: String,
    /// `BACKUP_SPARSE_BLOCK` only: where in the file the block belongs.
    pub sparse_offset: Option<u64>,
    /// Absolute position of the body in the underlying reader.
    pub body_offset: u64,
}

/// Walks the headers of a backup stream that ends where the underlying reader ends.
pub struct BackupReader<R: Read + Seek> {
    inner: R,
    /// Where the next header starts.
    next: u64,
    /// Where the underlying data ends.
    end: u64,
    /// The current stream's body, not yet consumed: (start, len).
    body: Option<(u64, u64)>,
}

impl<R: Read + Seek> BackupReader<R> {
    /// A reader over the stream from `inner`'s current position to its end.
    pub fn new(mut inner: R) -> io::Result<Self> {
        let start = inner.stream_position()?;
        let end = inner.seek(SeekFrom::End(0))?;
        inner.seek(SeekFrom::Start(start))?;
        Ok(BackupReader {
            inner,
            next: start,
            end,
            body: None,
        })
    }

    /// The next stream header, skipping whatever of the previous body was not read; `None` at
    /// the end of the data. A header or body cut short by the end is an error.
    pub fn next_stream(&mut self) -> Result<Option<StreamHeader>, BackupError> {
        self.body = None;
        let offset = self.next;
        if offset == self.end {
            return Ok(None);
        }
        if offset > self.end || self.end - offset < HEADER_LEN {
            return Err(malformed(
                offset,
                format!(
                    "{} trailing bytes are too few for a WIN32_STREAM_ID header ({HEADER_LEN})",
                    self.end.saturating_sub(offset)
                ),
            ));
        }
        self.inner.seek(SeekFrom::Start(offset))?;
        let mut fixed = [0u8; HEADER_LEN as usize];
        self.inner.read_exact(&mut fixed)?;
        let u32_at = |i: usize| u32::from_le_bytes(fixed[i..i + 4].try_into().expect("4 bytes"));
        let id = u32_at(0);
        let attributes = u32_at(4);
        let mut size = u64::from_le_bytes(fixed[8..16].try_into().expect("8 bytes"));
        let name_size = u32_at(16);
        if name_size % 2 != 0 || name_size > MAX_NAME_BYTES {
            return Err(malformed(
                offset,
                format!("stream name size {name_size} is odd or larger than {MAX_NAME_BYTES}"),
            ));
        }
        let mut position = offset + HEADER_LEN;
        if u64::from(name_size) > self.end - position {
            return Err(malformed(offset, "the stream name runs past the end"));
        }
        let mut raw = vec![0u8; name_size as usize];
        self.inner.read_exact(&mut raw)?;
        position += u64::from(name_size);
        let units: Vec<u16> = raw
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let name = String::from_utf16(&units)
            .map_err(|_| malformed(offset, "the stream name is not valid UTF-16"))?
            .trim_end_matches('\0')
            .to_string();
        let mut sparse_offset = None;
        if id == BACKUP_SPARSE_BLOCK {
            if size < 8 || self.end - position < 8 {
                return Err(malformed(
                    offset,
                    "a BACKUP_SPARSE_BLOCK too short for its 8-byte offset",
                ));
            }
            let mut block = [0u8; 8];
            self.inner.read_exact(&mut block)?;
            sparse_offset = Some(u64::from_le_bytes(block));
            position += 8;
            size -= 8;
        }
        if size > self.end - position {
            return Err(malformed(
                offset,
                format!(
                    "{} says {size} bytes but only {} remain (truncated file?)",
                    stream_name(id),
                    self.end - position
                ),
            ));
        }
        self.next = position + size;
        self.body = Some((position, size));
        Ok(Some(StreamHeader {
            id,
            attributes,
            size,
            name,
            sparse_offset,
            body_offset: position,
        }))
    }

    /// Reads the current stream's body into memory; refuses bodies larger than `limit`.
    pub fn read_body(&mut self, limit: u64) -> Result<Vec<u8>, BackupError> {
        let (start, len) = self
            .body
            .take()
            .ok_or_else(|| malformed(self.next, "no current stream body to read"))?;
        if len > limit {
            return Err(malformed(
                start,
                format!("a {len}-byte metadata stream is larger than the {limit}-byte limit"),
            ));
        }
        self.inner.seek(SeekFrom::Start(start))?;
        let mut body = vec![0u8; len as usize];
        self.inner.read_exact(&mut body)?;
        Ok(body)
    }
}

/// Writes a backup stream in the order go-winio's tar → backup conversion uses (backuptar
/// `WriteBackupStreamFromTarFile`): security descriptor, EAs, reparse data, file data, then
/// alternate data streams. Writing out of that order is an error.
pub struct BackupWriter<W: Write> {
    out: W,
    /// Rank of the last stream written (see [`rank`]).
    last: u8,
}

/// Position of a stream kind in the required order.
fn rank(id: u32) -> u8 {
    match id {
        BACKUP_SECURITY_DATA => 1,
        BACKUP_EA_DATA => 2,
        BACKUP_REPARSE_DATA => 3,
        BACKUP_DATA => 4,
        _ => 5, // alternate data streams (and anything else) last
    }
}

impl<W: Write> BackupWriter<W> {
    pub fn new(out: W) -> Self {
        BackupWriter { out, last: 0 }
    }

    fn header(&mut self, id: u32, size: u64, name: &str) -> io::Result<()> {
        let r = rank(id);
        // Each of the first four appears at most once, in order; ADS may repeat.
        if r < self.last || (r == self.last && r < 5) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} written out of order (security, EA, reparse, data, then alternate streams)",
                    stream_name(id)
                ),
            ));
        }
        self.last = r;
        let name: Vec<u16> = name.encode_utf16().collect();
        let name_bytes = u32::try_from(name.len() * 2)
            .ok()
            .filter(|&n| n <= MAX_NAME_BYTES)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "stream name too long"))?;
        let mut head = Vec::with_capacity(HEADER_LEN as usize + name.len() * 2);
        head.extend(id.to_le_bytes());
        head.extend(0u32.to_le_bytes()); // dwStreamAttributes: silo writes no sparse streams
        head.extend(size.to_le_bytes());
        head.extend(name_bytes.to_le_bytes());
        for unit in name {
            head.extend(unit.to_le_bytes());
        }
        self.out.write_all(&head)
    }

    /// A stream whose body is in memory (security descriptor, EAs, reparse buffer).
    pub fn stream(&mut self, id: u32, body: &[u8]) -> io::Result<()> {
        self.header(id, body.len() as u64, "")?;
        self.out.write_all(body)
    }

    /// A stream of exactly `size` bytes copied from `data` (file data: `BACKUP_DATA`, no name;
    /// an alternate stream: `BACKUP_ALTERNATE_DATA` named `:name:$DATA`).
    pub fn stream_from(
        &mut self,
        id: u32,
        name: &str,
        size: u64,
        data: &mut dyn Read,
    ) -> io::Result<()> {
        self.header(id, size, name)?;
        let copied = io::copy(&mut data.take(size), &mut self.out)?;
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the source ended after {copied} of {size} bytes"),
            ));
        }
        Ok(())
    }

    /// An alternate data stream `name` (as in a tar `file:name` entry).
    pub fn alternate_stream(
        &mut self,
        name: &str,
        size: u64,
        data: &mut dyn Read,
    ) -> io::Result<()> {
        self.stream_from(
            BACKUP_ALTERNATE_DATA,
            &alternate_data_name(name),
            size,
            data,
        )
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// The backup stream name of alternate data stream `name`: `:name:$DATA`.
pub fn alternate_data_name(name: &str) -> String {
    format!(":{name}:$DATA")
}

/// The stream name of an alternate data stream as a tar/ChangeSet stream name: `:name:$DATA` →
/// `name`. `None` for a name of another form (a stream of another type than `$DATA`).
pub fn alternate_stream_name(backup_name: &str) -> Option<&str> {
    let name = backup_name.strip_prefix(':')?.strip_suffix(":$DATA")?;
    (!name.is_empty() && !name.contains([':', '\\', '/', '\0'])).then_some(name)
}

/// A decoded symlink or mount-point reparse buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReparsePoint {
    /// The target in Win32 form (`C:\x`, `\\server\share`, `..\x`).
    pub target: String,
    /// A junction (`IO_REPARSE_TAG_MOUNT_POINT`) rather than a symlink.
    pub mount_point: bool,
    /// Symlinks only: `SYMLINK_FLAG_RELATIVE` was set.
    pub relative: bool,
}

/// Why a reparse buffer could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReparseError {
    #[error("reparse tag {0:#010x} is neither a symlink (0xa000000c) nor a junction (0xa0000003)")]
    UnsupportedTag(u32),
    #[error("malformed reparse buffer: {0}")]
    Malformed(&'static str),
}

fn utf16z(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(std::iter::once(0)).collect()
}

/// Encodes a `REPARSE_DATA_BUFFER` the way go-winio's `EncodeReparsePoint` does: the substitute
/// name is the NT path (`\??\C:\…` for drive paths, `\??\UNC\…` for `\\server\…`, `\??\…` for
/// `\\?\…`; relative targets as they are, with `SYMLINK_FLAG_RELATIVE`), followed by the
/// print name (the target as given), both NUL-terminated but counted without the NUL.
pub fn encode_reparse_point(target: &str, mount_point: bool) -> Result<Vec<u8>, ReparseError> {
    let bytes = target.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    let (nt_target, relative) = if let Some(rest) = target.strip_prefix(r"\\?\") {
        (format!(r"\??\{rest}"), false)
    } else if let Some(rest) = target.strip_prefix(r"\\") {
        (format!(r"\??\UNC\{rest}"), false)
    } else if drive {
        (format!(r"\??\{target}"), false)
    } else {
        (target.to_string(), true)
    };
    let substitute = utf16z(&nt_target);
    let print = utf16z(target);
    let flags_len = if mount_point { 0 } else { 4 };
    let data_len = 8 + flags_len + 2 * (substitute.len() + print.len());
    let too_long = ReparseError::Malformed("the target is too long for a reparse buffer");
    let data_len = u16::try_from(data_len).map_err(|_| too_long.clone())?;
    let field = |units: usize| u16::try_from(units * 2).map_err(|_| too_long.clone());
    let tag = if mount_point {
        IO_REPARSE_TAG_MOUNT_POINT
    } else {
        IO_REPARSE_TAG_SYMLINK
    };
    let mut out = Vec::with_capacity(8 + usize::from(data_len));
    out.extend(tag.to_le_bytes());
    out.extend(data_len.to_le_bytes());
    out.extend(0u16.to_le_bytes()); // Reserved
    out.extend(0u16.to_le_bytes()); // SubstituteNameOffset
    out.extend(field(substitute.len() - 1)?.to_le_bytes()); // SubstituteNameLength
    out.extend(field(substitute.len())?.to_le_bytes()); // PrintNameOffset
    out.extend(field(print.len() - 1)?.to_le_bytes()); // PrintNameLength
    if !mount_point {
        let flags = if relative { SYMLINK_FLAG_RELATIVE } else { 0 };
        out.extend(flags.to_le_bytes());
    }
    for unit in substitute.iter().chain(&print) {
        out.extend(unit.to_le_bytes());
    }
    Ok(out)
}

/// Decodes a symlink or mount-point `REPARSE_DATA_BUFFER` the way go-winio's
/// `DecodeReparsePoint` does: the target is the substitute name with its NT prefix turned back
/// into Win32 form (`\??\C:\x` → `C:\x`, `\??\UNC\s\x` → `\\s\x`, other `\??\x` → `\\?\x`).
pub fn decode_reparse_point(buffer: &[u8]) -> Result<ReparsePoint, ReparseError> {
    let u16_at = |i: usize| -> Result<u16, ReparseError> {
        buffer
            .get(i..i + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .ok_or(ReparseError::Malformed("shorter than its header"))
    };
    let tag = buffer
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(ReparseError::Malformed("shorter than its tag"))?;
    let mount_point = match tag {
        IO_REPARSE_TAG_MOUNT_POINT => true,
        IO_REPARSE_TAG_SYMLINK => false,
        other => return Err(ReparseError::UnsupportedTag(other)),
    };
    let data_len = usize::from(u16_at(4)?);
    if 8 + data_len > buffer.len() {
        return Err(ReparseError::Malformed(
            "ReparseDataLength runs past the end",
        ));
    }
    let buffer = &buffer[..8 + data_len];
    let substitute_offset = usize::from(u16_at(8)?);
    let substitute_len = usize::from(u16_at(10)?);
    let path_buffer = if mount_point { 16 } else { 20 };
    let relative = if mount_point {
        false
    } else {
        let flags = buffer
            .get(16..20)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or(ReparseError::Malformed("symlink buffer without its flags"))?;
        flags & SYMLINK_FLAG_RELATIVE != 0
    };
    let start = path_buffer + substitute_offset;
    let name = buffer
        .get(start..start + substitute_len)
        .filter(|n| n.len() % 2 == 0)
        .ok_or(ReparseError::Malformed(
            "the substitute name lies outside the buffer or has an odd length",
        ))?;
    let units: Vec<u16> = name
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let substitute = String::from_utf16(&units)
        .map_err(|_| ReparseError::Malformed("the substitute name is not valid UTF-16"))?;
    let target = if let Some(rest) = substitute.strip_prefix(r"\??\UNC\") {
        format!(r"\\{rest}")
    } else if let Some(rest) = substitute.strip_prefix(r"\??\") {
        let b = rest.as_bytes();
        if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
            rest.to_string()
        } else {
            format!(r"\\?\{rest}")
        }
    } else {
        substitute
    };
    Ok(ReparsePoint {
        target,
        mount_point,
        relative,
    })
}

/// One extended attribute of a `FILE_FULL_EA_INFORMATION` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedAttribute {
    pub name: String,
    pub value: Vec<u8>,
    /// `FILE_NEED_EA` etc.; tar layers cannot carry it (go-winio drops it too).
    pub flags: u8,
}

/// `sizeof(FILE_FULL_EA_INFORMATION)` up to the name: NextEntryOffset u32, Flags u8,
/// NameLength u8, ValueLength u16.
const EA_HEADER_LEN: usize = 8;

/// Encodes EAs as a `FILE_FULL_EA_INFORMATION` list (go-winio ea.go `EncodeExtendedAttributes`):
/// each entry is header, name, NUL, value, padded to 4 bytes (the last one too); every
/// `NextEntryOffset` but the last points at the next entry.
pub fn encode_extended_attributes(eas: &[ExtendedAttribute]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for (index, ea) in eas.iter().enumerate() {
        let name_len = u8::try_from(ea.name.len())
            .map_err(|_| format!("extended attribute name {:?} is over 255 bytes", ea.name))?;
        let value_len = u16::try_from(ea.value.len()).map_err(|_| {
            format!(
                "extended attribute {:?} has a {}-byte value (the limit is 65535)",
                ea.name,
                ea.value.len()
            )
        })?;
        if ea.name.is_empty() || ea.name.contains('\0') {
            return Err(format!(
                "extended attribute name {:?} is empty or has NUL",
                ea.name
            ));
        }
        let entry = EA_HEADER_LEN + ea.name.len() + 1 + ea.value.len();
        let padded = (entry + 3) & !3;
        let next = if index + 1 == eas.len() {
            0
        } else {
            padded as u32
        };
        out.extend(next.to_le_bytes());
        out.push(ea.flags);
        out.push(name_len);
        out.extend(value_len.to_le_bytes());
        out.extend(ea.name.as_bytes());
        out.push(0);
        out.extend(&ea.value);
        out.resize(out.len() + (padded - entry), 0);
    }
    Ok(out)
}

/// Decodes a `FILE_FULL_EA_INFORMATION` list; every offset and length is checked.
pub fn decode_extended_attributes(buffer: &[u8]) -> Result<Vec<ExtendedAttribute>, String> {
    let mut eas = Vec::new();
    let mut at = 0usize;
    while at < buffer.len() {
        let rest = &buffer[at..];
        if rest.len() < EA_HEADER_LEN {
            return Err(format!("EA entry at byte {at} is shorter than its header"));
        }
        let next = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let flags = rest[4];
        let name_len = usize::from(rest[5]);
        let value_len = usize::from(u16::from_le_bytes([rest[6], rest[7]]));
        let value_start = EA_HEADER_LEN + name_len + 1;
        let entry = value_start + value_len;
        if entry > rest.len() {
            return Err(format!("EA entry at byte {at} runs past the end"));
        }
        let name = std::str::from_utf8(&rest[EA_HEADER_LEN..EA_HEADER_LEN + name_len])
            .map_err(|_| format!("EA name at byte {at} is not UTF-8"))?
            .to_string();
        eas.push(ExtendedAttribute {
            name,
            value: rest[value_start..entry].to_vec(),
            flags,
        });
        if next == 0 {
            break;
        }
        if next < entry || next > rest.len() {
            return Err(format!(
                "EA entry at byte {at}: NextEntryOffset {next} does not point past the entry"
            ));
        }
        at += next;
    }
    Ok(eas)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Cursor;

    fn header(id: u32, attributes: u32, size: u64, name: &str) -> Vec<u8> {
        let units: Vec<u16> = name.encode_utf16().collect();
        let mut out = Vec::new();
        out.extend(id.to_le_bytes());
        out.extend(attributes.to_le_bytes());
        out.extend(size.to_le_bytes());
        out.extend(((units.len() * 2) as u32).to_le_bytes());
        for u in units {
            out.extend(u.to_le_bytes());
        }
        out
    }

    fn all_streams(bytes: &[u8]) -> Result<Vec<(StreamHeader, Vec<u8>)>, BackupError> {
        let mut reader = BackupReader::new(Cursor::new(bytes))?;
        let mut out = Vec::new();
        while let Some(h) = reader.next_stream()? {
            let body = reader.read_body(MAX_METADATA_STREAM)?;
            out.push((h, body));
        }
        Ok(out)
    }

    #[test]
    fn constants_match_winbase() {
        let ids = [
            BACKUP_DATA,
            BACKUP_EA_DATA,
            BACKUP_SECURITY_DATA,
            BACKUP_ALTERNATE_DATA,
            BACKUP_LINK,
            BACKUP_PROPERTY_DATA,
            BACKUP_OBJECT_ID,
            BACKUP_REPARSE_DATA,
            BACKUP_SPARSE_BLOCK,
            BACKUP_TXFS_DATA,
        ];
        assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(STREAM_SPARSE_ATTRIBUTE, 8);
        assert_eq!(IO_REPARSE_TAG_SYMLINK, 0xA000_000C);
        assert_eq!(IO_REPARSE_TAG_MOUNT_POINT, 0xA000_0003);
    }

    #[test]
    fn a_hand_built_stream_is_read_field_by_field() {
        // SD (4 bytes), data (3 bytes), ADS ":z:$DATA" (2 bytes), then a sparse block whose
        // Size counts its 8-byte offset.
        let mut bytes = header(BACKUP_SECURITY_DATA, 0, 4, "");
        bytes.extend([1, 0, 4, 0x80]);
        bytes.extend(header(BACKUP_DATA, 0, 3, ""));
        bytes.extend(b"abc");
        bytes.extend(header(BACKUP_ALTERNATE_DATA, 0, 2, ":z:$DATA"));
        bytes.extend(b"hi");
        bytes.extend(header(BACKUP_SPARSE_BLOCK, 0, 8 + 1, ""));
        bytes.extend(4096u64.to_le_bytes());
        bytes.push(b'!');
        // The header layout itself: id, attributes, size, name size, name.
        assert_eq!(&bytes[0..4], &[3, 0, 0, 0]);
        assert_eq!(&bytes[8..16], &[4, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[16..20], &[0, 0, 0, 0]);

        let streams = all_streams(&bytes).unwrap();
        let ids: Vec<u32> = streams.iter().map(|(h, _)| h.id).collect();
        assert_eq!(
            ids,
            [
                BACKUP_SECURITY_DATA,
                BACKUP_DATA,
                BACKUP_ALTERNATE_DATA,
                BACKUP_SPARSE_BLOCK
            ]
        );
        assert_eq!(streams[0].1, [1, 0, 4, 0x80]);
        assert_eq!(streams[1].0.body_offset, 20 + 4 + 20);
        assert_eq!(streams[1].1, b"abc");
        assert_eq!(streams[2].0.name, ":z:$DATA");
        assert_eq!(alternate_stream_name(&streams[2].0.name), Some("z"));
        assert_eq!(streams[2].1, b"hi");
        assert_eq!(streams[3].0.sparse_offset, Some(4096));
        assert_eq!(streams[3].0.size, 1);
        assert_eq!(streams[3].1, b"!");
    }

    #[test]
    fn unread_bodies_are_skipped_without_loading_them() {
        let mut bytes = header(BACKUP_DATA, 0, 5, "");
        bytes.extend(b"12345");
        bytes.extend(header(BACKUP_EA_DATA, 0, 1, ""));
        bytes.push(7);
        let mut reader = BackupReader::new(Cursor::new(&bytes[..])).unwrap();
        let data = reader.next_stream().unwrap().unwrap();
        assert_eq!((data.body_offset, data.size), (20, 5));
        let ea = reader.next_stream().unwrap().unwrap();
        assert_eq!(ea.id, BACKUP_EA_DATA);
        assert_eq!(reader.read_body(1).unwrap(), [7]);
        assert!(reader.next_stream().unwrap().is_none());
        // A metadata stream over the limit is refused, not read.
        let mut reader = BackupReader::new(Cursor::new(&bytes[..])).unwrap();
        reader.next_stream().unwrap();
        let err = reader.read_body(4).unwrap_err().to_string();
        assert!(
            err.contains("5-byte") && err.contains("4-byte limit"),
            "{err}"
        );
    }

    #[test]
    fn the_writer_emits_what_the_reader_reads_in_go_winio_order() {
        let mut w = BackupWriter::new(Vec::new());
        w.stream(BACKUP_SECURITY_DATA, b"sd").unwrap();
        w.stream(BACKUP_EA_DATA, b"ea").unwrap();
        w.stream(BACKUP_REPARSE_DATA, b"rp").unwrap();
        w.stream_from(BACKUP_DATA, "", 4, &mut &b"data"[..])
            .unwrap();
        w.alternate_stream("one", 1, &mut &b"1"[..]).unwrap();
        w.alternate_stream("two", 0, &mut io::empty()).unwrap();
        // Out of order, or a second data stream, is refused.
        assert!(w.stream(BACKUP_SECURITY_DATA, b"x").is_err());
        assert!(w.stream_from(BACKUP_DATA, "", 0, &mut io::empty()).is_err());
        let bytes = w.into_inner();
        let streams = all_streams(&bytes).unwrap();
        let got: Vec<(u32, &str, &[u8])> = streams
            .iter()
            .map(|(h, b)| (h.id, h.name.as_str(), b.as_slice()))
            .collect();
        assert_eq!(
            got,
            [
                (BACKUP_SECURITY_DATA, "", &b"sd"[..]),
                (BACKUP_EA_DATA, "", b"ea"),
                (BACKUP_REPARSE_DATA, "", b"rp"),
                (BACKUP_DATA, "", b"data"),
                (BACKUP_ALTERNATE_DATA, ":one:$DATA", b"1"),
                (BACKUP_ALTERNATE_DATA, ":two:$DATA", b""),
            ]
        );
        // A short source is an error, not a silently short stream.
        let mut w = BackupWriter::new(Vec::new());
        let err = w
            .stream_from(BACKUP_DATA, "", 9, &mut &b"abc"[..])
            .unwrap_err();
        assert!(err.to_string().contains("3 of 9"), "{err}");
    }

    #[test]
    fn truncated_streams_are_errors_at_every_cut() {
        let mut bytes = header(BACKUP_ALTERNATE_DATA, 0, 3, ":s:$DATA");
        bytes.extend(b"abc");
        for cut in 1..bytes.len() {
            let err = all_streams(&bytes[..cut]).unwrap_err().to_string();
            assert!(err.contains("backup stream at byte 0"), "cut {cut}: {err}");
        }
        let mut odd = header(BACKUP_DATA, 0, 0, "");
        odd[16] = 3;
        assert!(all_streams(&odd).unwrap_err().to_string().contains("odd"));
        let sparse = header(BACKUP_SPARSE_BLOCK, 0, 4, "");
        assert!(all_streams(&sparse)
            .unwrap_err()
            .to_string()
            .contains("8-byte offset"));
    }

    #[test]
    fn reparse_points_round_trip_like_go_winio() {
        let cases = [
            (r"C:\Users\Public", false, r"\??\C:\Users\Public", false),
            (r"..\lib\x.dll", false, r"..\lib\x.dll", true),
            (r"\\server\share\d", false, r"\??\UNC\server\share\d", false),
            (r"\\?\Volume{1}\x", false, r"\??\Volume{1}\x", false),
            (r"C:\ProgramData", true, r"\??\C:\ProgramData", false),
        ];
        for (target, mount_point, substitute, relative) in cases {
            let buffer = encode_reparse_point(target, mount_point).unwrap();
            let tag = u32::from_le_bytes(buffer[0..4].try_into().unwrap());
            let want_tag = if mount_point {
                IO_REPARSE_TAG_MOUNT_POINT
            } else {
                IO_REPARSE_TAG_SYMLINK
            };
            assert_eq!(tag, want_tag, "{target}");
            let field = |i: usize| u16::from_le_bytes([buffer[i], buffer[i + 1]]) as usize;
            assert_eq!(field(4), buffer.len() - 8, "ReparseDataLength of {target}");
            assert_eq!(field(8), 0, "SubstituteNameOffset");
            let sub16: Vec<u16> = substitute.encode_utf16().collect();
            let print16: Vec<u16> = target.encode_utf16().collect();
            assert_eq!(field(10), sub16.len() * 2);
            assert_eq!(field(12), sub16.len() * 2 + 2, "print name after the NUL");
            assert_eq!(field(14), print16.len() * 2);
            let path_buffer = if mount_point {
                16
            } else {
                let flags = u32::from_le_bytes(buffer[16..20].try_into().unwrap());
                assert_eq!(flags, u32::from(relative), "{target}");
                20
            };
            let sub_bytes: Vec<u8> = sub16.iter().flat_map(|u| u.to_le_bytes()).collect();
            assert_eq!(
                &buffer[path_buffer..path_buffer + sub_bytes.len()],
                sub_bytes
            );
            let decoded = decode_reparse_point(&buffer).unwrap();
            assert_eq!(
                decoded,
                ReparsePoint {
                    target: target.to_string(),
                    mount_point,
                    relative
                }
            );
        }
        let mut other = encode_reparse_point("x", false).unwrap();
        other[..4].copy_from_slice(&0x8000_0023u32.to_le_bytes());
        let err = decode_reparse_point(&other).unwrap_err();
        assert_eq!(err, ReparseError::UnsupportedTag(0x8000_0023));
        assert!(err.to_string().contains("0x80000023"), "{err}");
        let good = encode_reparse_point(r"C:\x", false).unwrap();
        for cut in 0..good.len() {
            assert!(decode_reparse_point(&good[..cut]).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn extended_attributes_round_trip_with_padding() {
        let eas = vec![
            ExtendedAttribute {
                name: "$KERNEL.PURGE.ESBCACHE".into(),
                value: vec![1, 2, 3],
                flags: 0,
            },
            ExtendedAttribute {
                name: "X".into(),
                value: vec![],
                flags: 0,
            },
        ];
        let bytes = encode_extended_attributes(&eas).unwrap();
        // First entry: 8 + 22 + 1 + 3 = 34 → padded to 36; second: 8 + 1 + 1 = 10 → 12.
        assert_eq!(u32::from_le_bytes(bytes[0..4].try_into().unwrap()), 36);
        assert_eq!(bytes[5], 22, "NameLength");
        assert_eq!(u16::from_le_bytes([bytes[6], bytes[7]]), 3, "ValueLength");
        assert_eq!(bytes[8 + 22], 0, "name is NUL-terminated");
        assert_eq!(
            u32::from_le_bytes(bytes[36..40].try_into().unwrap()),
            0,
            "last"
        );
        assert_eq!(bytes.len(), 48);
        assert_eq!(decode_extended_attributes(&bytes).unwrap(), eas);
        for cut in 1..34 {
            assert!(
                decode_extended_attributes(&bytes[..cut]).is_err(),
                "cut {cut}"
            );
        }
        let mut looping = bytes.clone();
        looping[0..4].copy_from_slice(&4u32.to_le_bytes());
        assert!(decode_extended_attributes(&looping).is_err());
        let long = ExtendedAttribute {
            name: "n".repeat(256),
            value: vec![],
            flags: 0,
        };
        assert!(encode_extended_attributes(&[long]).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = all_streams(&bytes);
            let _ = decode_reparse_point(&bytes);
            let _ = decode_extended_attributes(&bytes);
        }

        #[test]
        fn mutated_valid_streams_never_panic(
            flips in proptest::collection::vec((0usize..200, any::<u8>()), 1..6)
        ) {
            let mut w = BackupWriter::new(Vec::new());
            w.stream(BACKUP_SECURITY_DATA, b"sd").unwrap();
            let eas = encode_extended_attributes(&[ExtendedAttribute {
                name: "a".into(), value: b"b".to_vec(), flags: 0 }]).unwrap();
            w.stream(BACKUP_EA_DATA, &eas).unwrap();
            w.stream(BACKUP_REPARSE_DATA, &encode_reparse_point(r"C:\t", false).unwrap()).unwrap();
            w.alternate_stream("s", 2, &mut &b"xy"[..]).unwrap();
            let mut bytes = w.into_inner();
            for (at, value) in flips {
                let len = bytes.len();
                bytes[at % len] = value;
            }
            if let Ok(streams) = all_streams(&bytes) {
                for (h, body) in streams {
                    match h.id {
                        BACKUP_EA_DATA => { let _ = decode_extended_attributes(&body); }
                        BACKUP_REPARSE_DATA => { let _ = decode_reparse_point(&body); }
                        _ => {}
                    }
                }
            }
        }
    }
}
