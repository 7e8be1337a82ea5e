//! Reads the folder HCS's `ExportLayer` writes for a scratch layer into a [`ChangeSet`]. It is
//! hcsshim's legacy layer format (internal/wclayer/legacy.go `legacyLayerReader`; research
//! windows-layers.md §1.4), the same one `import.rs` stages:
//!
//! - every file under `Files\` is a 4-byte little-endian `FILE_ATTRIBUTES` prefix followed by a
//!   Win32 backup stream ([`super::backup`]): security descriptor, EAs, reparse data, the file
//!   data, alternate data streams. The data is not copied: the ChangeSet points at its byte
//!   range ([`FileSource::Range`]) and the layer writer streams it from there;
//! - a directory `Files\…\d` carries its metadata in the sibling file `d.$wcidirs$` (same
//!   format, no data); `.$wcidirs$` files are never entries themselves;
//! - `Hives\<Name>_Delta` are plain files (differencing hives, passed through byte-exact);
//! - `tombstones.txt`: UTF-8 BOM, `Version 1.0`, then one `\path` per deleted entry, relative
//!   to `Files`.
//!
//! Times come from the export file's own metadata (modification time; creation time too on
//! Windows), as hcsshim takes them from the file's basic info.
//!
//! Hard links, as hcsshim's `ociwclayer.ExportLayerToTar` rebuilds them: a file with several
//! links (NumberOfLinks > 1) is written once under the first name the walk meets, and every
//! other name with the same file identity becomes a hard-link entry to it (no data; hcsshim
//! writes the link's times and attributes, silo also the shared file's descriptor rather than a
//! default one).

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::backup::{self, BackupReader, MAX_METADATA_STREAM};
use crate::layer::{
    attributes, AltStream, ChangeSet, Entry, EntryKind, FileMeta, FileSource, HiveName, Timestamp,
};

/// A delta hive larger than this is refused rather than read into memory.
const MAX_DELTA_HIVE_BYTES: u64 = 2 << 30;

/// The suffix of a directory's metadata file in the legacy format.
const DIR_METADATA_SUFFIX: &str = ".$wcidirs$";

/// Why an export folder could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    Tombstones {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path}: {reason}")]
    Unexpected { path: PathBuf, reason: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn unexpected(path: &Path, reason: impl Into<String>) -> ExportError {
    ExportError::Unexpected {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads `folder` (an `ExportLayer` result) into a ChangeSet whose files point into `folder`.
pub fn read_export_folder(folder: &Path) -> Result<ChangeSet, ExportError> {
    let mut changes = ChangeSet::default();
    let files = folder.join("Files");
    if files.is_dir() {
        walk_files(&files, "", &mut changes.entries, &mut HashMap::new())?;
    }
    let hives = folder.join("Hives");
    if hives.is_dir() {
        for item in fs::read_dir(&hives).map_err(io(&hives))? {
            let item = item.map_err(io(&hives))?;
            let path = item.path();
            let name = item.file_name().to_string_lossy().into_owned();
            let hive = HiveName::from_delta_file_name(&name).ok_or_else(|| {
                unexpected(
                    &path,
                    "not one of the five delta hives (System_Delta, Software_Delta, Sam_Delta, \
                     Security_Delta, DefaultUser_Delta)",
                )
            })?;
            let len = item.metadata().map_err(io(&path))?.len();
            if len > MAX_DELTA_HIVE_BYTES {
                return Err(unexpected(
                    &path,
                    format!("a {len}-byte delta hive is larger than silo accepts"),
                ));
            }
            let mut bytes = Vec::with_capacity(len as usize);
            fs::File::open(&path)
                .and_then(|f| f.take(MAX_DELTA_HIVE_BYTES).read_to_end(&mut bytes))
                .map_err(io(&path))?;
            changes.hive_deltas.insert(hive, bytes);
        }
    }
    let tombstones = folder.join("tombstones.txt");
    if tombstones.exists() {
        let text = fs::read(&tombstones).map_err(io(&tombstones))?;
        changes.deletions = parse_tombstones(&tombstones, &text)?;
    }
    Ok(changes)
}

/// A file's identity on its volume (volume, file index), for files with more than one link.
type LinkIdentity = (u64, u64);

/// The identity of the file at `path` when it has several links (`None` for a single link).
#[cfg(unix)]
fn link_identity(path: &Path, meta: &fs::Metadata) -> Result<Option<LinkIdentity>, ExportError> {
    use std::os::unix::fs::MetadataExt;
    let _ = path;
    Ok((meta.nlink() > 1).then(|| (meta.dev(), meta.ino())))
}

/// The identity of the file at `path` when it has several links (`None` for a single link):
/// `GetFileInformationByHandle`'s link count, volume serial number and file index, the
/// identity hcsshim takes from `FileStandardInfo`/`FileIdInfo`.
#[cfg(windows)]
#[allow(unsafe_code)] // GetFileInformationByHandle is a Win32 call.
fn link_identity(path: &Path, _meta: &fs::Metadata) -> Result<Option<LinkIdentity>, ExportError> {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Storage::FileSystem::{
        GetFileInformationByHandle, BY_HANDLE_FILE_INFORMATION,
    };
    let file = fs::File::open(path).map_err(io(path))?;
    // SAFETY: a zeroed plain-data struct the call fills in.
    let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
    // SAFETY: `file` is an open handle for the duration of the call; `info` is writable.
    if unsafe { GetFileInformationByHandle(file.as_raw_handle() as _, &mut info) } == 0 {
        return Err(io(path)(std::io::Error::last_os_error()));
    }
    let index = (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow);
    Ok((info.nNumberOfLinks > 1).then_some((u64::from(info.dwVolumeSerialNumber), index)))
}

fn walk_files(
    dir: &Path,
    prefix: &str,
    entries: &mut Vec<Entry>,
    links: &mut HashMap<LinkIdentity, String>,
) -> Result<(), ExportError> {
    let mut items: Vec<_> = fs::read_dir(dir)
        .map_err(io(dir))?
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    items.sort_by_key(|i| i.file_name());
    for item in items {
        let name = item.file_name().to_string_lossy().into_owned();
        let path = item.path();
        // Windows' recycle bin is never part of a layer (hcsshim skips it too).
        if prefix.is_empty() && crate::layer::ntfs_eq(&name, "$Recycle.Bin") {
            continue;
        }
        // A directory's metadata, read with the directory.
        if name.ends_with(DIR_METADATA_SUFFIX) {
            continue;
        }
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let fs_meta = fs::symlink_metadata(&path).map_err(io(&path))?;
        let meta_path = dir.join(format!("{name}{DIR_METADATA_SUFFIX}"));
        // A directory, or a directory reparse point if Windows left one on disk (its
        // metadata file says which; the host's link is never followed).
        let directory = fs_meta.is_dir() || (!fs_meta.is_file() && meta_path.is_file());
        let entry = if directory {
            let parsed = read_backup_file(&meta_path, true)?;
            let is_reparse = parsed.reparse.is_some();
            let entry = parsed.into_entry(rel.clone(), true)?;
            if !is_reparse {
                entries.push(entry);
                walk_files(&path, &rel, entries, links)?;
                continue;
            }
            if fs_meta.is_dir() && fs::read_dir(&path).map_err(io(&path))?.next().is_some() {
                return Err(unexpected(
                    &path,
                    "a directory symlink or junction with entries under it",
                ));
            }
            entry
        } else if fs_meta.is_file() {
            let parsed = read_backup_file(&path, false)?;
            match link_identity(&path, &fs_meta)? {
                Some(id) => match links.get(&id) {
                    Some(first) => Entry {
                        path: rel,
                        kind: EntryKind::HardLink {
                            target: first.clone(),
                        },
                        // The shared file's metadata; its data, EAs and streams stay with
                        // the first name.
                        meta: FileMeta {
                            extended_attributes: Default::default(),
                            ..parsed.meta
                        },
                        streams: Vec::new(),
                    },
                    None => {
                        links.insert(id, rel.clone());
                        parsed.into_entry(rel, false)?
                    }
                },
                None => parsed.into_entry(rel, false)?,
            }
        } else {
            return Err(unexpected(
                &path,
                "a link or reparse point of the host without a <name>.$wcidirs$ metadata file \
                 (the legacy format stores links inside backup streams)",
            ));
        };
        entries.push(entry);
    }
    Ok(())
}

/// What one legacy-format file says about its entry.
struct Parsed {
    attributes: u32,
    meta: FileMeta,
    reparse: Option<backup::ReparsePoint>,
    /// `BACKUP_DATA`: (offset, len) inside the file.
    data: Option<(u64, u64)>,
    streams: Vec<AltStream>,
    path: PathBuf,
}

/// Reads the attributes and backup stream of `path` (a `Files\…` file, or a directory's
/// `.$wcidirs$` when `directory`), loading only the metadata streams.
fn read_backup_file(path: &Path, directory: bool) -> Result<Parsed, ExportError> {
    let bad = |reason: String| unexpected(path, reason);
    let mut file = fs::File::open(path).map_err(|e| {
        if directory && e.kind() == std::io::ErrorKind::NotFound {
            bad(
                "missing: every directory under Files\\ needs its <dir>.$wcidirs$ metadata file"
                    .into(),
            )
        } else {
            io(path)(e)
        }
    })?;
    let fs_meta = file.metadata().map_err(io(path))?;
    let mut prefix = [0u8; 4];
    file.read_exact(&mut prefix).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            bad("shorter than its 4-byte FILE_ATTRIBUTES prefix".into())
        } else {
            io(path)(e)
        }
    })?;
    let attributes = u32::from_le_bytes(prefix);
    let mut meta = FileMeta {
        attributes: Some(attributes),
        modification_time: fs_meta.modified().ok().and_then(timestamp),
        creation_time: if cfg!(windows) {
            fs_meta.created().ok().and_then(timestamp)
        } else {
            None
        },
        ..FileMeta::default()
    };
    let mut parsed_reparse = None;
    let mut data = None;
    let mut streams = Vec::new();
    let mut reader = BackupReader::new(file).map_err(io(path))?;
    let backup_err = |e: backup::BackupError| bad(e.to_string());
    while let Some(header) = reader.next_stream().map_err(backup_err)? {
        let kind = backup::stream_name(header.id);
        match header.id {
            backup::BACKUP_SECURITY_DATA => {
                let sd = reader.read_body(MAX_METADATA_STREAM).map_err(backup_err)?;
                meta.security_descriptor = Some(sd);
            }
            backup::BACKUP_EA_DATA => {
                let body = reader.read_body(MAX_METADATA_STREAM).map_err(backup_err)?;
                let eas = backup::decode_extended_attributes(&body)
                    .map_err(|e| bad(format!("{kind}: {e}")))?;
                for ea in eas {
                    if meta
                        .extended_attributes
                        .insert(ea.name.clone(), ea.value)
                        .is_some()
                    {
                        return Err(bad(format!(
                            "extended attribute {:?} appears twice",
                            ea.name
                        )));
                    }
                }
            }
            backup::BACKUP_REPARSE_DATA => {
                let body = reader.read_body(MAX_METADATA_STREAM).map_err(backup_err)?;
                let point = backup::decode_reparse_point(&body).map_err(|e| {
                    bad(format!(
                        "{kind}: {e} (silo carries only symlinks and junctions)"
                    ))
                })?;
                parsed_reparse = Some(point);
            }
            backup::BACKUP_DATA if !directory => {
                if data.is_some() {
                    return Err(bad("two BACKUP_DATA streams".into()));
                }
                data = Some((header.body_offset, header.size));
            }
            backup::BACKUP_ALTERNATE_DATA => {
                let name = backup::alternate_stream_name(&header.name).ok_or_else(|| {
                    bad(format!(
                        "alternate stream name {:?} is not of the form :name:$DATA",
                        header.name
                    ))
                })?;
                if header.attributes & backup::STREAM_SPARSE_ATTRIBUTE != 0 {
                    return Err(bad(format!(
                        "alternate stream {name:?} is sparse (not supported, as in go-winio)"
                    )));
                }
                streams.push(AltStream {
                    name: name.to_string(),
                    source: FileSource::Range {
                        path: path.to_path_buf(),
                        offset: header.body_offset,
                        len: header.size,
                    },
                });
            }
            backup::BACKUP_SPARSE_BLOCK => {
                return Err(bad(
                    "the file is sparse with several allocated ranges (BACKUP_SPARSE_BLOCK \
                     streams): silo's HCS export cannot carry sparse files yet"
                        .into(),
                ));
            }
            // Streams a tar layer has no place for (go-winio ignores them too).
            backup::BACKUP_LINK
            | backup::BACKUP_PROPERTY_DATA
            | backup::BACKUP_OBJECT_ID
            | backup::BACKUP_TXFS_DATA => {}
            other => {
                let what = if other == backup::BACKUP_DATA {
                    "a directory's metadata file with file data".to_string()
                } else {
                    format!("unknown backup stream ID {other}")
                };
                return Err(bad(format!(
                    "{what} at byte {} (not written by ExportLayer as silo knows it)",
                    header.body_offset
                )));
            }
        }
    }
    Ok(Parsed {
        attributes,
        meta,
        reparse: parsed_reparse,
        data,
        streams,
        path: path.to_path_buf(),
    })
}

impl Parsed {
    /// The ChangeSet entry at `rel`; `is_dir` when this came from a directory's `.$wcidirs$`.
    fn into_entry(self, rel: String, is_dir: bool) -> Result<Entry, ExportError> {
        let directory = self.attributes & attributes::DIRECTORY != 0;
        let kind = match (self.reparse, self.data) {
            (Some(_), Some(_)) => {
                return Err(unexpected(&self.path, "both reparse data and file data"));
            }
            (Some(point), None) if point.mount_point => EntryKind::Junction {
                target: point.target,
            },
            (Some(point), None) => EntryKind::Symlink {
                target: point.target,
                directory,
            },
            (None, _) if is_dir => EntryKind::Directory,
            (None, data) => {
                let (offset, len) = data.unwrap_or((0, 0));
                EntryKind::File {
                    source: FileSource::Range {
                        path: self.path,
                        offset,
                        len,
                    },
                    size: len,
                }
            }
        };
        Ok(Entry {
            path: rel,
            kind,
            meta: self.meta,
            streams: self.streams,
        })
    }
}

/// A file time as a [`Timestamp`] (times before 1970 are kept as negative seconds).
fn timestamp(time: SystemTime) -> Option<Timestamp> {
    Some(match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => Timestamp {
            secs: i64::try_from(d.as_secs()).ok()?,
            nanos: d.subsec_nanos(),
        },
        Err(before) => {
            let d = before.duration();
            let secs = i64::try_from(d.as_secs()).ok()?;
            if d.subsec_nanos() == 0 {
                Timestamp {
                    secs: -secs,
                    nanos: 0,
                }
            } else {
                Timestamp {
                    secs: -secs - 1,
                    nanos: 1_000_000_000 - d.subsec_nanos(),
                }
            }
        }
    })
}

/// Parses `tombstones.txt`: UTF-8 BOM + `Version 1.0`, then `\dir\name` lines (CRLF or LF).
pub fn parse_tombstones(path: &Path, bytes: &[u8]) -> Result<Vec<String>, ExportError> {
    let bad = |line: usize, reason: &str| ExportError::Tombstones {
        path: path.to_path_buf(),
        line,
        reason: reason.into(),
    };
    let body = bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .ok_or_else(|| bad(1, "does not start with a UTF-8 byte-order mark"))?;
    let text = std::str::from_utf8(body).map_err(|_| bad(1, "is not UTF-8"))?;
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    if lines.next() != Some("Version 1.0") {
        return Err(bad(1, "the first line is not `Version 1.0`"));
    }
    let mut deletions = Vec::new();
    for (index, line) in lines.enumerate() {
        if line.is_empty() {
            continue;
        }
        let rel = line
            .strip_prefix('\\')
            .ok_or_else(|| bad(index + 2, "a tombstone must start with `\\`"))?;
        let parts: Vec<&str> = rel.split('\\').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return Err(bad(index + 2, "empty, `.` or `..` path component"));
        }
        deletions.push(parts.join("/"));
    }
    Ok(deletions)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use sha2::Digest as _;

    use super::*;
    use crate::layer::check::check_windows_layer;
    use crate::layer::reader::{read_layer, LayerEntryKind};
    use crate::layer::sd::{SecurityDescriptor, Sid};
    use crate::layer::{list_layer, write_layer, LayerCompression, WriteOptions};
    use crate::runtime::hcs::backup::{encode_extended_attributes, ExtendedAttribute};
    use crate::runtime::hcs::import::{link_pending, stage_layer, Layout};

    /// A real differencing hive from the shared fixtures, or `None` (the test is skipped) when
    /// the corpus is absent.
    fn shared_delta_hive() -> Option<Vec<u8>> {
        let path = registry_client::corpus::shared("fixtures/hives/yarp__System_Delta")?;
        Some(fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
    }

    fn options() -> WriteOptions {
        WriteOptions {
            compression: LayerCompression::None,
            ..WriteOptions::from_env(Timestamp {
                secs: 1_700_000_000,
                nanos: 0,
            })
        }
    }

    /// Writes a legacy-format file: attributes, then the given streams in order.
    fn legacy(path: &Path, attrs: u32, streams: &[(u32, &str, &[u8])]) {
        let mut bytes = attrs.to_le_bytes().to_vec();
        for (id, name, body) in streams {
            let units: Vec<u16> = name.encode_utf16().collect();
            bytes.extend(id.to_le_bytes());
            bytes.extend(0u32.to_le_bytes());
            bytes.extend((body.len() as u64).to_le_bytes());
            bytes.extend(((units.len() * 2) as u32).to_le_bytes());
            bytes.extend(units.iter().flat_map(|u| u.to_le_bytes()));
            bytes.extend(*body);
        }
        fs::write(path, bytes).unwrap();
    }

    #[test]
    fn export_folder_becomes_a_changeset_and_a_layer_the_checker_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let d = attributes::DIRECTORY;
        fs::create_dir_all(root.join("Files/app/sub")).unwrap();
        fs::create_dir_all(root.join("Files/app/jct")).unwrap();
        fs::create_dir_all(root.join("Files/$Recycle.Bin/S-1-5-18")).unwrap();
        let sd = SecurityDescriptor::default_file(Some(&Sid::container_user())).to_bytes();
        let eas = encode_extended_attributes(&[ExtendedAttribute {
            name: "NOTE".into(),
            value: b"v".to_vec(),
            flags: 0,
        }])
        .unwrap();
        legacy(
            &root.join("Files/app.$wcidirs$"),
            d | attributes::HIDDEN,
            &[],
        );
        legacy(&root.join("Files/app/sub.$wcidirs$"), d, &[]);
        legacy(
            &root.join("Files/app/hello.txt"),
            attributes::ARCHIVE,
            &[
                (backup::BACKUP_SECURITY_DATA, "", &sd),
                (backup::BACKUP_EA_DATA, "", &eas),
                (backup::BACKUP_DATA, "", b"hello from RUN\r\n"),
                (
                    backup::BACKUP_ALTERNATE_DATA,
                    ":Zone.Identifier:$DATA",
                    b"[Zone]",
                ),
                (backup::BACKUP_OBJECT_ID, "", &[0; 64]),
            ],
        );
        legacy(&root.join("Files/app/sub/empty.bin"), 0, &[]);
        let junction = backup::encode_reparse_point(r"C:\Users", true).unwrap();
        legacy(
            &root.join("Files/app/jct.$wcidirs$"),
            d | attributes::REPARSE_POINT,
            &[(backup::BACKUP_REPARSE_DATA, "", &junction)],
        );
        fs::create_dir_all(root.join("Hives")).unwrap();
        let Some(delta) = shared_delta_hive() else {
            return;
        };
        fs::write(root.join("Hives/System_Delta"), &delta).unwrap();
        fs::write(root.join("Hives/Software_Delta"), &delta[..4096]).unwrap();
        fs::write(
            root.join("tombstones.txt"),
            b"\xEF\xBB\xBFVersion 1.0\r\n\\Windows\\Temp\\old.log\r\n\\app\\gone\r\n",
        )
        .unwrap();

        let changes = read_export_folder(root).unwrap();
        let paths: Vec<&str> = changes.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "app",
                "app/hello.txt",
                "app/jct",
                "app/sub",
                "app/sub/empty.bin"
            ]
        );
        let by_path = |p: &str| changes.entries.iter().find(|e| e.path == p).unwrap();
        assert_eq!(by_path("app").meta.attributes, Some(d | attributes::HIDDEN));
        assert_eq!(by_path("app").kind, EntryKind::Directory);
        let hello = by_path("app/hello.txt");
        assert_eq!(hello.meta.security_descriptor.as_ref(), Some(&sd));
        assert_eq!(hello.meta.extended_attributes["NOTE"], b"v");
        assert!(hello.meta.modification_time.is_some(), "from the file");
        assert!(
            matches!(
                &hello.kind,
                EntryKind::File {
                    source: FileSource::Range { len: 16, .. },
                    size: 16
                }
            ),
            "{:?}",
            hello.kind
        );
        assert_eq!(hello.streams.len(), 1);
        assert_eq!(hello.streams[0].name, "Zone.Identifier");
        assert_eq!(
            by_path("app/jct").kind,
            EntryKind::Junction {
                target: r"C:\Users".into()
            }
        );
        assert!(matches!(
            by_path("app/sub/empty.bin").kind,
            EntryKind::File { size: 0, .. }
        ));
        assert_eq!(changes.deletions, ["Windows/Temp/old.log", "app/gone"]);
        assert_eq!(changes.hive_deltas[&HiveName::System], delta, "byte-exact");
        assert_eq!(changes.hive_deltas[&HiveName::Software], &delta[..4096]);

        let (tar, _) = write_layer(&changes, &options(), Vec::new()).unwrap();
        let (entries, _) = list_layer(&tar[..]).unwrap();
        assert_eq!(check_windows_layer(&entries, false), vec![]);
        let names: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        assert!(names.contains(&"Hives/System_Delta"), "{names:?}");
        assert!(names.contains(&"Files/app/.wh.gone"), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("Recycle")), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("wcidirs")), "{names:?}");
        // The bytes inside the tar are the data range and the delta, byte for byte.
        let mut data = BTreeMap::new();
        read_layer(&tar[..], |entry, body| {
            let mut bytes = Vec::new();
            body.read_to_end(&mut bytes).unwrap();
            data.insert(entry.path.clone(), bytes);
            Ok(())
        })
        .unwrap();
        assert_eq!(data["Files/app/hello.txt"], b"hello from RUN\r\n");
        assert_eq!(data["Files/app/hello.txt:Zone.Identifier"], b"[Zone]");
        assert_eq!(data["Hives/System_Delta"], delta);
    }

    #[test]
    fn bad_export_folders_are_refused_with_where_and_why() {
        let p = Path::new("x/tombstones.txt");
        let err = parse_tombstones(p, b"Version 1.0\n").unwrap_err();
        assert!(err.to_string().contains("byte-order mark"), "{err}");
        let err = parse_tombstones(p, b"\xEF\xBB\xBFVersion 2.0\n").unwrap_err();
        assert!(err.to_string().contains(":1:"), "{err}");
        let err = parse_tombstones(p, b"\xEF\xBB\xBFVersion 1.0\n\\ok\nno-slash\n").unwrap_err();
        assert!(err.to_string().contains("x/tombstones.txt:3:"), "{err}");
        let err = parse_tombstones(p, b"\xEF\xBB\xBFVersion 1.0\n\\a\\..\\b\n").unwrap_err();
        assert!(err.to_string().contains(":2:"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("Hives")).unwrap();
        fs::write(dir.path().join("Hives/Bogus_Delta"), b"x").unwrap();
        let err = read_export_folder(dir.path()).unwrap_err();
        assert!(err.to_string().contains("Bogus_Delta"), "{err}");

        // Each broken Files\ file is named with what is wrong.
        type Make = Box<dyn Fn(&Path)>;
        let cases: Vec<(&str, Make, &str)> = vec![
            (
                "d",
                Box::new(|files: &Path| fs::create_dir(files.join("d")).unwrap()),
                "d.$wcidirs$: missing",
            ),
            (
                "short",
                Box::new(|files: &Path| fs::write(files.join("short"), b"\x20\0").unwrap()),
                "4-byte FILE_ATTRIBUTES",
            ),
            (
                "tag",
                Box::new(|files: &Path| {
                    let mut rp = backup::encode_reparse_point("x", false).unwrap();
                    rp[..4].copy_from_slice(&0x8000_0017u32.to_le_bytes());
                    legacy(
                        &files.join("tag"),
                        0,
                        &[(backup::BACKUP_REPARSE_DATA, "", &rp)],
                    );
                }),
                "0x80000017",
            ),
            (
                "sparse",
                Box::new(|files: &Path| {
                    let block = [0u8; 8];
                    legacy(
                        &files.join("sparse"),
                        0,
                        &[(backup::BACKUP_SPARSE_BLOCK, "", &block)],
                    );
                }),
                "sparse",
            ),
            (
                "unknown",
                Box::new(|files: &Path| {
                    legacy(&files.join("unknown"), 0, &[(42, "", b"?")]);
                }),
                "unknown backup stream ID 42",
            ),
            (
                "truncated",
                Box::new(|files: &Path| {
                    legacy(
                        &files.join("truncated"),
                        0,
                        &[(backup::BACKUP_DATA, "", b"abc")],
                    );
                    let path = files.join("truncated");
                    let bytes = fs::read(&path).unwrap();
                    fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
                }),
                "truncated",
            ),
        ];
        for (name, make, want) in cases {
            let dir = tempfile::tempdir().unwrap();
            let files = dir.path().join("Files");
            fs::create_dir_all(&files).unwrap();
            make(&files);
            let err = read_export_folder(dir.path()).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains(want), "{name}: {err}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_reparse_point_left_on_disk_is_read_from_its_metadata_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let files = dir.path().join("Files");
        fs::create_dir_all(dir.path().join("elsewhere/secret")).unwrap();
        fs::create_dir_all(&files).unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), files.join("j")).unwrap();
        let junction = backup::encode_reparse_point(r"C:\ProgramData", true).unwrap();
        legacy(
            &files.join("j.$wcidirs$"),
            attributes::DIRECTORY | attributes::REPARSE_POINT,
            &[(backup::BACKUP_REPARSE_DATA, "", &junction)],
        );
        let changes = read_export_folder(dir.path()).unwrap();
        assert_eq!(changes.entries.len(), 1, "{:?}", changes.entries);
        assert_eq!(
            changes.entries[0].kind,
            EntryKind::Junction {
                target: r"C:\ProgramData".into()
            }
        );
        // Without its metadata file, a host link is refused.
        fs::remove_file(files.join("j.$wcidirs$")).unwrap();
        let err = read_export_folder(dir.path()).unwrap_err().to_string();
        assert!(err.contains("reparse point of the host"), "{err}");
    }

    /// What a layer entry must keep through import staging → export reading → writing (the
    /// data as length and sha256, so a failure stays readable).
    type Kept = (
        String,
        LayerEntryKind,
        Option<u32>,
        Option<Vec<u8>>,
        BTreeMap<String, Vec<u8>>,
        Option<String>,
        (usize, String),
    );

    fn kept(tar: &[u8]) -> Vec<Kept> {
        let mut out = Vec::new();
        read_layer(tar, |entry, body| {
            let mut data = Vec::new();
            body.read_to_end(&mut data).unwrap();
            let pax = entry
                .pax
                .iter()
                .filter(|(k, _)| k.starts_with("MSWINDOWS.") && k.as_str() != "MSWINDOWS.rawsd")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            out.push((
                entry.path.clone(),
                entry.kind.clone(),
                entry.attributes,
                entry.security_descriptor.clone(),
                pax,
                entry.link_target.clone(),
                (data.len(), hex::encode(sha2::Sha256::digest(&data))),
            ));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn a_layer_survives_import_staging_and_export_reading() {
        let sd = |sid: Sid, dir: bool| {
            if dir {
                SecurityDescriptor::default_directory(Some(&sid)).to_bytes()
            } else {
                SecurityDescriptor::default_file(Some(&sid)).to_bytes()
            }
        };
        let meta = |attrs: u32, sd: Vec<u8>| FileMeta {
            attributes: Some(attrs),
            security_descriptor: Some(sd),
            ..FileMeta::default()
        };
        let entry = |path: &str, kind: EntryKind, meta: FileMeta| Entry {
            path: path.into(),
            kind,
            meta,
            streams: vec![],
        };
        let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut file = entry(
            "app/nested/data.bin",
            EntryKind::File {
                source: FileSource::Bytes(data.clone()),
                size: data.len() as u64,
            },
            meta(
                attributes::ARCHIVE | attributes::READONLY,
                sd(Sid::builtin_administrators(), false),
            ),
        );
        file.meta
            .extended_attributes
            .insert("$KERNEL.PURGE.ESBCACHE".into(), vec![1, 2, 3]);
        file.meta
            .extended_attributes
            .insert("USER.NOTE".into(), b"hi".to_vec());
        file.streams = vec![
            AltStream {
                name: "Zone.Identifier".into(),
                source: FileSource::Bytes(b"[ZoneTransfer]\r\nZoneId=3".to_vec()),
            },
            AltStream {
                name: "empty".into(),
                source: FileSource::Bytes(Vec::new()),
            },
        ];
        let mut changes = ChangeSet {
            entries: vec![
                entry(
                    "app",
                    EntryKind::Directory,
                    meta(attributes::HIDDEN, sd(Sid::builtin_users(), true)),
                ),
                entry(
                    "app/nested",
                    EntryKind::Directory,
                    meta(attributes::SYSTEM, sd(Sid::local_system(), true)),
                ),
                file,
                entry(
                    "app/empty.txt",
                    EntryKind::File {
                        source: FileSource::Bytes(Vec::new()),
                        size: 0,
                    },
                    FileMeta::default(),
                ),
                entry(
                    "app/link.txt",
                    EntryKind::Symlink {
                        target: r"C:\app\nested\data.bin".into(),
                        directory: false,
                    },
                    meta(0, sd(Sid::container_user(), false)),
                ),
                entry(
                    "app/up",
                    EntryKind::Symlink {
                        target: r"..\Windows".into(),
                        directory: true,
                    },
                    FileMeta::default(),
                ),
                entry(
                    "app/users",
                    EntryKind::Junction {
                        target: r"C:\Users".into(),
                    },
                    FileMeta::default(),
                ),
                // A second name of data.bin (after it in walk order: the first name met keeps
                // the data, as in hcsshim): staged as a hard link, read back as one
                // (hcsshim's ExportLayerToTar keeps links), with the shared file's metadata.
                entry(
                    "app/nested/link-to-data.bin",
                    EntryKind::HardLink {
                        target: "app/nested/data.bin".into(),
                    },
                    meta(
                        attributes::ARCHIVE | attributes::READONLY,
                        sd(Sid::builtin_administrators(), false),
                    ),
                ),
            ],
            deletions: vec!["Windows/Temp/old.log".into(), "app/gone".into()],
            hive_deltas: BTreeMap::new(),
        };
        let Some(delta) = shared_delta_hive() else {
            return;
        };
        changes.hive_deltas.insert(HiveName::System, delta);

        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("layer.tar.gz");
        let gzip = WriteOptions {
            compression: LayerCompression::Gzip(1),
            ..options()
        };
        write_layer(&changes, &gzip, fs::File::create(&blob).unwrap()).unwrap();
        let original = {
            let (tar, _) = write_layer(&changes, &options(), Vec::new()).unwrap();
            kept(&tar)
        };

        let staging = dir.path().join("staging");
        let staged = stage_layer(&blob, &staging, Layout::Legacy(None)).unwrap();
        let mut tombstones = staged.tombstones.clone();
        tombstones.sort();
        assert_eq!(tombstones, ["Files/Windows/Temp/old.log", "Files/app/gone"]);
        // The staging folder is in the export format but for the deletions, which ExportLayer
        // lists in tombstones.txt (and ImportLayer is not given): write them that way, then
        // read the folder back as if ExportLayer wrote it.
        let mut listed = String::from("\u{feff}Version 1.0\r\n");
        for path in &staged.tombstones {
            let inside = path.strip_prefix("Files").unwrap();
            listed.push_str(&format!("{}\r\n", inside.replace('/', "\\")));
        }
        fs::write(staging.join("tombstones.txt"), listed).unwrap();
        // The hard link, made after the import as the runtime does.
        assert_eq!(staged.pending_links.len(), 1);
        link_pending(&staging, &[], &staged.pending_links).unwrap();
        let exported = read_export_folder(&staging).unwrap();
        let mut deletions = exported.deletions.clone();
        deletions.sort();
        assert_eq!(deletions, ["Windows/Temp/old.log", "app/gone"]);
        for e in &exported.entries {
            if let EntryKind::File { source, .. } = &e.kind {
                assert!(
                    matches!(source, FileSource::Range { .. }),
                    "{}: {source:?}",
                    e.path
                );
            }
        }
        let (tar, _) = write_layer(&exported, &options(), Vec::new()).unwrap();
        let again = kept(&tar);
        let paths = |k: &[Kept]| k.iter().map(|e| e.0.clone()).collect::<Vec<_>>();
        assert_eq!(paths(&again), paths(&original));
        for (got, want) in again.iter().zip(&original) {
            assert_eq!(got, want, "{}", want.0);
        }
        let (entries, _) = list_layer(&tar[..]).unwrap();
        assert_eq!(check_windows_layer(&entries, false), vec![]);
        // The interesting kinds really were there.
        let kinds: Vec<&LayerEntryKind> = again.iter().map(|k| &k.1).collect();
        assert!(kinds.contains(&&LayerEntryKind::Junction));
        assert!(kinds.contains(&&LayerEntryKind::Symlink));
        assert!(kinds.iter().any(
            |k| matches!(k, LayerEntryKind::AltStream { stream, .. } if stream == "Zone.Identifier")
        ));
        assert!(kinds.contains(&&LayerEntryKind::HiveDelta(HiveName::System)));
        let link = again
            .iter()
            .find(|k| k.0 == "Files/app/nested/link-to-data.bin")
            .unwrap();
        assert_eq!(link.1, LayerEntryKind::HardLink, "{link:?}");
        let xattrs = &again
            .iter()
            .find(|k| k.0 == "Files/app/nested/data.bin")
            .unwrap()
            .4;
        assert_eq!(xattrs["MSWINDOWS.xattr.USER.NOTE"], b"aGk=");
    }
}
