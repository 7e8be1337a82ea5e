//! [`ChangeSet`] → Windows layer tar, streamed through compression with both digests computed on
//! the way (diff_id over the tar, digest over the compressed bytes) — one pass, no temp copy.
//!
//! Order of entries: `Hives` (not in base layers), `Files`, then the `Files/` tree depth-first in sorted order (every
//! ancestor directory before its children, each file's alternate streams right after it,
//! whiteouts among their siblings), then hard links (their targets exist by then), then
//! `Hives/<Name>_Delta`. Paths are compared the way NTFS does (case-insensitively): two spellings
//! of one path are a duplicate, not two entries.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use base64::Engine as _;
use oci_spec::image::Digest;

use super::changeset::{ChangeSet, Entry, EntryKind, FileMeta, FileSource, Timestamp};
use super::pgzip::ParallelGzWriter;
use super::sd::{SecurityDescriptor, Sid};
use super::tarfmt::{self, HeaderSpec, TypeFlag};
use super::{attributes, LayerError};
use crate::oci::digest::HashingWriter;

/// How to compress a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerCompression {
    None,
    /// gzip with a level 0–9 (6 is the usual default).
    Gzip(u32),
    /// zstd with a level 1–19.
    Zstd(i32),
}

impl LayerCompression {
    /// The compression the blob has (what its media type says), without the level.
    pub fn kind(self) -> crate::oci::Compression {
        match self {
            LayerCompression::None => crate::oci::Compression::None,
            LayerCompression::Gzip(_) => crate::oci::Compression::Gzip,
            LayerCompression::Zstd(_) => crate::oci::Compression::Zstd,
        }
    }
}

/// Options of [`write_layer`].
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub compression: LayerCompression,
    /// Compression threads; 0 = one per CPU.
    pub threads: usize,
    /// Times for entries whose metadata has none (and for added parent directories).
    pub default_time: Timestamp,
    /// When set (from `SOURCE_DATE_EPOCH`), no time in the layer is later than this.
    pub clamp_time: Option<Timestamp>,
    /// Owner of entries without their own security descriptor (`--chown`); BUILTIN\Administrators
    /// otherwise.
    pub owner: Option<Sid>,
    /// A base layer (no parent): no `Hives` directory (Microsoft's base layers have none; the
    /// importer's base-layer writer would create it as a folder), and no whiteouts or hive deltas
    /// (hcsshim: "base layer cannot have tombstones").
    pub base_layer: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            compression: LayerCompression::Gzip(6),
            threads: 0,
            default_time: Timestamp::default(),
            clamp_time: None,
            owner: None,
            base_layer: false,
        }
    }
}

impl WriteOptions {
    /// Options with `SOURCE_DATE_EPOCH` honoured: it becomes the default time and the clamp.
    pub fn from_env(default_time: Timestamp) -> WriteOptions {
        let epoch = crate::oci::source_date_epoch().map(|secs| Timestamp { secs, nanos: 0 });
        WriteOptions {
            default_time: epoch.unwrap_or(default_time),
            clamp_time: epoch,
            ..WriteOptions::default()
        }
    }
}

/// What writing a layer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDigests {
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
    /// sha256 of the blob as written.
    pub digest: Digest,
    /// Size of the blob as written.
    pub size: u64,
    pub uncompressed_size: u64,
    pub compression: LayerCompression,
}

/// One entry of the plan, in output order.
enum Planned<'a> {
    /// A directory nobody listed (an ancestor); written with default metadata.
    ImpliedDir(String),
    Entry(&'a Entry),
    Whiteout(String),
}

/// A path as NTFS compares it: per-character simple upper-casing of each component.
fn fold(path: &str) -> Vec<String> {
    path.split('/').map(super::ntfs_fold).collect()
}

/// Checks a ChangeSet path: relative, `/`-separated, no empty/`.`/`..` components, no `\`, `:`
/// (reserved for alternate streams) or NUL, no `.wh.` names (reserved for whiteouts).
pub fn check_path(path: &str) -> Result<(), LayerError> {
    let bad = |reason: &str| LayerError::InvalidPath {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    if path.is_empty() {
        return Err(bad("empty path"));
    }
    for component in path.split('/') {
        match component {
            "" => return Err(bad("leading, trailing or doubled '/'")),
            "." | ".." => return Err(bad("'.' and '..' are not allowed")),
            c if c.contains(['\\', ':', '\0']) => {
                return Err(bad("'\\', ':' and NUL are not allowed in a name"))
            }
            c if c.starts_with(".wh.") => return Err(bad("names starting with .wh. are reserved")),
            _ => {}
        }
    }
    Ok(())
}

/// Orders everything the layer will contain and checks for duplicates.
fn plan(changes: &ChangeSet) -> Result<(Vec<Planned<'_>>, Vec<&Entry>), LayerError> {
    let mut tree: BTreeMap<Vec<String>, Planned<'_>> = BTreeMap::new();
    let mut hard_links = Vec::new();
    let mut hard_link_keys = BTreeMap::new();
    for entry in &changes.entries {
        check_path(&entry.path)?;
        for stream in &entry.streams {
            if stream.name.is_empty() || stream.name.contains(['/', '\\', ':', '\0']) {
                return Err(LayerError::InvalidPath {
                    path: format!("{}:{}", entry.path, stream.name),
                    reason: "bad alternate stream name".into(),
                });
            }
        }
        let key = fold(&entry.path);
        let duplicate = if let EntryKind::HardLink { target } = &entry.kind {
            check_path(target)?;
            hard_links.push(entry);
            hard_link_keys.insert(key.clone(), ()).is_some() || tree.contains_key(&key)
        } else {
            hard_link_keys.contains_key(&key) || tree.insert(key, Planned::Entry(entry)).is_some()
        };
        if duplicate {
            return Err(LayerError::DuplicatePath(entry.path.clone()));
        }
    }
    for deleted in &changes.deletions {
        check_path(deleted)?;
        let key = fold(deleted);
        // Deleted and re-added (or re-created as a parent) means replaced: the entry wins.
        let has_descendant = tree
            .range(key.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&key));
        if has_descendant || hard_link_keys.contains_key(&key) {
            continue;
        }
        let (parent, name) = match deleted.rsplit_once('/') {
            Some((parent, name)) => (Some(parent), name),
            None => (None, deleted.as_str()),
        };
        let whiteout = match parent {
            Some(parent) => format!("{parent}/.wh.{name}"),
            None => format!(".wh.{name}"),
        };
        tree.insert(fold(&whiteout), Planned::Whiteout(whiteout));
    }
    // Every ancestor of every entry, whiteout and hard link gets a directory entry.
    let mut implied = Vec::new();
    let paths: Vec<String> = tree
        .values()
        .map(|p| match p {
            Planned::Entry(e) => e.path.clone(),
            Planned::Whiteout(w) | Planned::ImpliedDir(w) => w.clone(),
        })
        .chain(hard_links.iter().map(|e| e.path.clone()))
        .collect();
    for path in &paths {
        let mut end = 0;
        while let Some(slash) = path[end..].find('/') {
            end += slash;
            let ancestor = &path[..end];
            let key = fold(ancestor);
            match tree.get(&key) {
                Some(Planned::Entry(e)) if !matches!(e.kind, EntryKind::Directory) => {
                    return Err(LayerError::InvalidPath {
                        path: path.clone(),
                        reason: format!("its parent {ancestor} is not a directory in this layer"),
                    })
                }
                Some(_) => {}
                None => {
                    if hard_link_keys.contains_key(&key) {
                        return Err(LayerError::InvalidPath {
                            path: path.clone(),
                            reason: format!("its parent {ancestor} is a hard link"),
                        });
                    }
                    implied.push((key.clone(), ancestor.to_string()));
                    tree.insert(key, Planned::ImpliedDir(ancestor.to_string()));
                }
            }
            end += 1;
        }
    }
    hard_links.sort_by_key(|e| fold(&e.path));
    Ok((tree.into_values().collect(), hard_links))
}

/// The compressing end of the pipeline.
enum Compressor<W: Write> {
    Plain(W),
    Gzip(Box<ParallelGzWriter<W>>),
    Zstd(zstd::Encoder<'static, W>),
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::Plain(w) => w.write(buf),
            Compressor::Gzip(w) => w.write(buf),
            Compressor::Zstd(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::Plain(w) => w.flush(),
            Compressor::Gzip(w) => w.flush(),
            Compressor::Zstd(w) => w.flush(),
        }
    }
}

impl<W: Write> Compressor<W> {
    fn finish(self) -> io::Result<W> {
        match self {
            Compressor::Plain(w) => Ok(w),
            Compressor::Gzip(w) => (*w).finish(),
            Compressor::Zstd(w) => w.finish(),
        }
    }
}

/// How many compression threads to use.
pub fn thread_count(requested: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    }
}

/// Writes `changes` as a Windows layer to `out`; returns `out` and the digests.
pub fn write_layer<W: Write>(
    changes: &ChangeSet,
    options: &WriteOptions,
    out: W,
) -> Result<(W, LayerDigests), LayerError> {
    if options.base_layer && (!changes.deletions.is_empty() || !changes.hive_deltas.is_empty()) {
        return Err(LayerError::InvalidPath {
            path: changes
                .deletions
                .first()
                .cloned()
                .unwrap_or_else(|| "Hives/".into()),
            reason: "a base layer cannot carry deletions or registry deltas".into(),
        });
    }
    let (planned, hard_links) = plan(changes)?;
    let compressed = HashingWriter::new(out);
    let compressor = match options.compression {
        LayerCompression::None => Compressor::Plain(compressed),
        LayerCompression::Gzip(level) => Compressor::Gzip(Box::new(ParallelGzWriter::new(
            compressed,
            level,
            thread_count(options.threads),
        ))),
        LayerCompression::Zstd(level) => Compressor::Zstd(
            zstd::Encoder::new(compressed, level).map_err(|e| LayerError::io("zstd", e))?,
        ),
    };
    let mut tar = TarOut {
        out: HashingWriter::new(compressor),
        options,
        buffer: vec![0u8; 256 * 1024],
        default_dir_sd: encode_sd(&SecurityDescriptor::default_directory(
            options.owner.as_ref(),
        )),
        default_file_sd: encode_sd(&SecurityDescriptor::default_file(options.owner.as_ref())),
    };
    if !options.base_layer {
        tar.directory("Hives", None)?;
    }
    tar.directory("Files", None)?;
    for item in &planned {
        match item {
            Planned::ImpliedDir(path) => tar.directory(&format!("Files/{path}"), None)?,
            Planned::Entry(entry) => tar.entry(entry)?,
            Planned::Whiteout(path) => tar.whiteout(&format!("Files/{path}"))?,
        }
    }
    for link in hard_links {
        tar.entry(link)?;
    }
    for (hive, bytes) in &changes.hive_deltas {
        let path = format!("Hives/{}", hive.delta_file_name());
        tar.file_from(
            &path,
            &FileMeta::default(),
            bytes.len() as u64,
            &FileSource::Bytes(bytes.clone()),
        )?;
    }
    tar.out
        .write_all(&[0u8; 2 * tarfmt::BLOCK])
        .map_err(|e| LayerError::io("writing the layer", e))?;
    let (compressor, diff_id, uncompressed_size) = tar.out.finish();
    let compressed = compressor
        .finish()
        .map_err(|e| LayerError::io("compressing the layer", e))?;
    let (out, digest, size) = compressed.finish();
    Ok((
        out,
        LayerDigests {
            diff_id,
            digest,
            size,
            uncompressed_size,
            compression: options.compression,
        },
    ))
}

fn encode_sd(sd: &SecurityDescriptor) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .encode(sd.to_bytes())
        .into_bytes()
}

struct TarOut<'o, W: Write> {
    out: HashingWriter<Compressor<W>>,
    options: &'o WriteOptions,
    buffer: Vec<u8>,
    default_dir_sd: Vec<u8>,
    default_file_sd: Vec<u8>,
}

impl<W: Write> TarOut<'_, W> {
    fn clamp(&self, t: Timestamp) -> Timestamp {
        match self.options.clamp_time {
            Some(max) if t > max => max,
            _ => t,
        }
    }

    /// The PAX records every `Files/` entry (and hive file) carries, and its mtime.
    fn windows_records(
        &self,
        meta: Option<&FileMeta>,
        attributes: u32,
        directory: bool,
    ) -> (Vec<(String, Vec<u8>)>, Timestamp) {
        let meta_time = |f: fn(&FileMeta) -> Option<Timestamp>| meta.and_then(f);
        let mtime =
            self.clamp(meta_time(|m| m.modification_time).unwrap_or(self.options.default_time));
        let atime = self.clamp(meta_time(|m| m.access_time).unwrap_or(mtime));
        let ctime = self.clamp(meta_time(|m| m.creation_time).unwrap_or(mtime));
        let sd = match meta.and_then(|m| m.security_descriptor.as_ref()) {
            Some(bytes) => base64::engine::general_purpose::STANDARD
                .encode(bytes)
                .into_bytes(),
            None if directory => self.default_dir_sd.clone(),
            None => self.default_file_sd.clone(),
        };
        let mut records = vec![
            (
                "MSWINDOWS.fileattr".to_string(),
                attributes.to_string().into_bytes(),
            ),
            ("MSWINDOWS.rawsd".to_string(), sd),
            (
                "LIBARCHIVE.creationtime".to_string(),
                tarfmt::pax_time(ctime).into_bytes(),
            ),
            ("atime".to_string(), tarfmt::pax_time(atime).into_bytes()),
            // go-winio reads ctime as the change time; without it that would be the year 1601.
            ("ctime".to_string(), tarfmt::pax_time(mtime).into_bytes()),
        ];
        if let Some(meta) = meta {
            for (name, value) in &meta.extended_attributes {
                records.push((
                    format!("MSWINDOWS.xattr.{name}"),
                    base64::engine::general_purpose::STANDARD
                        .encode(value)
                        .into_bytes(),
                ));
            }
        }
        (records, mtime)
    }

    fn headers(
        &mut self,
        spec: &HeaderSpec<'_>,
        records: Vec<(String, Vec<u8>)>,
    ) -> Result<(), LayerError> {
        tarfmt::write_headers(&mut self.out, spec, records)
            .map(|_| ())
            .map_err(|e| LayerError::io("writing the layer", e))
    }

    fn directory(&mut self, path: &str, meta: Option<&FileMeta>) -> Result<(), LayerError> {
        let attrs = meta.and_then(|m| m.attributes).unwrap_or(0) | attributes::DIRECTORY;
        let (records, mtime) = self.windows_records(meta, attrs, true);
        self.headers(
            &HeaderSpec {
                name: path,
                type_flag: TypeFlag::Directory,
                mode: 0o40755,
                size: 0,
                mtime,
                link_name: "",
            },
            records,
        )
    }

    fn whiteout(&mut self, path: &str) -> Result<(), LayerError> {
        let mtime = self.clamp(self.options.default_time);
        self.headers(
            &HeaderSpec {
                name: path,
                type_flag: TypeFlag::Regular,
                mode: 0o100644,
                size: 0,
                mtime,
                link_name: "",
            },
            Vec::new(),
        )
    }

    /// A symlink or junction: both are reparse points stored as tar symlinks with the Windows
    /// target; a junction is a directory and carries `MSWINDOWS.mountpoint=1`.
    fn reparse_point(
        &mut self,
        path: &str,
        meta: &FileMeta,
        target: &str,
        directory: bool,
        junction: bool,
    ) -> Result<(), LayerError> {
        let mut attrs = meta.attributes.unwrap_or(0) | attributes::REPARSE_POINT;
        if directory {
            attrs |= attributes::DIRECTORY;
        }
        let (mut records, mtime) = self.windows_records(Some(meta), attrs, directory);
        if junction {
            records.push(("MSWINDOWS.mountpoint".into(), b"1".to_vec()));
        }
        self.headers(
            &HeaderSpec {
                name: path,
                type_flag: TypeFlag::Symlink,
                mode: 0o120777,
                size: 0,
                mtime,
                link_name: target,
            },
            records,
        )
    }

    fn entry(&mut self, entry: &Entry) -> Result<(), LayerError> {
        let path = format!("Files/{}", entry.path);
        let meta = &entry.meta;
        match &entry.kind {
            EntryKind::Directory => self.directory(&path, Some(meta))?,
            EntryKind::File { source, size } => self.file_from(&path, meta, *size, source)?,
            EntryKind::HardLink { target } => {
                let (records, mtime) =
                    self.windows_records(Some(meta), file_attributes(meta), false);
                self.headers(
                    &HeaderSpec {
                        name: &path,
                        type_flag: TypeFlag::HardLink,
                        mode: 0o100644,
                        size: 0,
                        mtime,
                        link_name: &format!("Files/{target}"),
                    },
                    records,
                )?;
            }
            EntryKind::Symlink { target, directory } => {
                self.reparse_point(&path, meta, target, *directory, false)?;
            }
            EntryKind::Junction { target } => {
                self.reparse_point(&path, meta, target, true, true)?;
            }
        }
        // Alternate data streams right after their file, sorted by name.
        let mut streams: Vec<_> = entry.streams.iter().collect();
        streams.sort_by(|a, b| a.name.cmp(&b.name));
        for stream in streams {
            let stream_path = format!("{path}:{}", stream.name);
            let size = source_size(&stream.source, &stream_path)?;
            let mtime = self.clamp(meta.modification_time.unwrap_or(self.options.default_time));
            self.headers(
                &HeaderSpec {
                    name: &stream_path,
                    type_flag: TypeFlag::Regular,
                    mode: 0o100644,
                    size,
                    mtime,
                    link_name: "",
                },
                Vec::new(),
            )?;
            self.body(&stream.source, size, &stream_path)?;
        }
        Ok(())
    }

    fn file_from(
        &mut self,
        path: &str,
        meta: &FileMeta,
        size: u64,
        source: &FileSource,
    ) -> Result<(), LayerError> {
        let (records, mtime) = self.windows_records(Some(meta), file_attributes(meta), false);
        self.headers(
            &HeaderSpec {
                name: path,
                type_flag: TypeFlag::Regular,
                mode: 0o100644,
                size,
                mtime,
                link_name: "",
            },
            records,
        )?;
        self.body(source, size, path)
    }

    /// Copies up to `size` bytes of `from` into the tar; returns how many there were. Reads
    /// exactly `size` bytes (no extra read for EOF: one syscall less per file); a source that
    /// shrank since the ChangeSet was made comes back short, which the caller reports.
    fn copy_exactly(
        &mut self,
        mut from: impl Read,
        size: u64,
        host: &std::path::Path,
        path: &str,
    ) -> Result<u64, LayerError> {
        let mut copied = 0u64;
        while copied < size {
            let want = (size - copied).min(self.buffer.len() as u64) as usize;
            let n = from
                .read(&mut self.buffer[..want])
                .map_err(|e| LayerError::io(format!("{} (for {path})", host.display()), e))?;
            if n == 0 {
                break;
            }
            copied += n as u64;
            self.out
                .write_all(&self.buffer[..n])
                .map_err(|e| LayerError::io(format!("writing {path}"), e))?;
        }
        Ok(copied)
    }

    /// Streams exactly `size` bytes of `source`, then the padding.
    fn body(&mut self, source: &FileSource, size: u64, path: &str) -> Result<(), LayerError> {
        let io_err = |e| LayerError::io(format!("writing {path}"), e);
        let copied = match source {
            FileSource::Bytes(bytes) => {
                if bytes.len() as u64 == size {
                    self.out.write_all(bytes).map_err(io_err)?;
                }
                bytes.len() as u64
            }
            FileSource::Path(host) => {
                let file = File::open(host)
                    .map_err(|e| LayerError::io(format!("{} (for {path})", host.display()), e))?;
                self.copy_exactly(file, size, host, path)?
            }
            FileSource::Range {
                path: host,
                offset,
                len,
            } => {
                let mut file = File::open(host)
                    .map_err(|e| LayerError::io(format!("{} (for {path})", host.display()), e))?;
                file.seek(SeekFrom::Start(*offset)).map_err(|e| {
                    LayerError::io(format!("{} at {offset} (for {path})", host.display()), e)
                })?;
                // Never read past the range, even if the entry's size says more.
                self.copy_exactly(file.take(*len), size, host, path)?
            }
        };
        if copied != size {
            return Err(LayerError::SizeChanged {
                path: path.to_string(),
                expected: size,
                actual: copied,
            });
        }
        let pad = tarfmt::padding(size);
        self.out
            .write_all(&[0u8; tarfmt::BLOCK][..pad])
            .map_err(io_err)
    }
}

fn file_attributes(meta: &FileMeta) -> u32 {
    match meta.attributes {
        Some(a) if a != 0 => a & !attributes::DIRECTORY,
        _ => attributes::ARCHIVE,
    }
}

fn source_size(source: &FileSource, path: &str) -> Result<u64, LayerError> {
    match source {
        FileSource::Bytes(b) => Ok(b.len() as u64),
        FileSource::Path(host) => std::fs::metadata(host)
            .map(|m| m.len())
            .map_err(|e| LayerError::io(format!("{} (for {path})", host.display()), e)),
        FileSource::Range { len, .. } => Ok(*len),
    }
}
