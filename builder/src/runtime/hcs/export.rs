//! Reads the folder HCS's `ExportLayer` writes for a scratch layer into a [`ChangeSet`]:
//! `Files/…` (the changed files), `Hives/<Name>_Delta` (differencing hives, passed through
//! byte-exact), and `tombstones.txt` (UTF-8 BOM, `Version 1.0`, then one `\path` per deleted
//! entry, relative to `Files`). Research windows-layers.md §1.4.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::layer::{ChangeSet, Entry, EntryKind, FileMeta, FileSource, HiveName};

/// A delta hive larger than this is refused rather than read into memory.
const MAX_DELTA_HIVE_BYTES: u64 = 2 << 30;

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

/// Reads `folder` (an `ExportLayer` result) into a ChangeSet whose files point into `folder`.
pub fn read_export_folder(folder: &Path) -> Result<ChangeSet, ExportError> {
    let mut changes = ChangeSet::default();
    let files = folder.join("Files");
    if files.is_dir() {
        walk_files(&files, "", &mut changes.entries)?;
    }
    let hives = folder.join("Hives");
    if hives.is_dir() {
        for item in fs::read_dir(&hives).map_err(io(&hives))? {
            let item = item.map_err(io(&hives))?;
            let path = item.path();
            let name = item.file_name().to_string_lossy().into_owned();
            let hive =
                HiveName::from_delta_file_name(&name).ok_or_else(|| ExportError::Unexpected {
                    path: path.clone(),
                    reason: "not one of the five delta hives (System_Delta, Software_Delta, \
                             Sam_Delta, Security_Delta, DefaultUser_Delta)"
                        .into(),
                })?;
            let len = item.metadata().map_err(io(&path))?.len();
            if len > MAX_DELTA_HIVE_BYTES {
                return Err(ExportError::Unexpected {
                    path,
                    reason: format!("a {len}-byte delta hive is larger than silo accepts"),
                });
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

fn walk_files(dir: &Path, prefix: &str, entries: &mut Vec<Entry>) -> Result<(), ExportError> {
    let mut items: Vec<_> = fs::read_dir(dir)
        .map_err(io(dir))?
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    items.sort_by_key(|i| i.file_name());
    for item in items {
        let name = item.file_name().to_string_lossy().into_owned();
        let path = item.path();
        // Windows' recycle bin is never part of a layer (hcsshim skips it too).
        if prefix.is_empty() && name.eq_ignore_ascii_case("$Recycle.Bin") {
            continue;
        }
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let meta = fs::symlink_metadata(&path).map_err(io(&path))?;
        let kind = if meta.is_dir() {
            EntryKind::Directory
        } else if meta.is_file() {
            EntryKind::File {
                source: FileSource::Path(path.clone()),
                size: meta.len(),
            }
        } else {
            return Err(ExportError::Unexpected {
                path,
                reason: "links and reparse points in an export folder are not read yet".into(),
            });
        };
        let is_dir = kind == EntryKind::Directory;
        entries.push(Entry {
            path: rel.clone(),
            kind,
            meta: FileMeta::default(),
            streams: Vec::new(),
        });
        if is_dir {
            walk_files(&path, &rel, entries)?;
        }
    }
    Ok(())
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
    use super::*;
    use crate::layer::check::check_windows_layer;
    use crate::layer::{list_layer, write_layer, LayerCompression, Timestamp, WriteOptions};

    fn shared_delta_hive() -> Vec<u8> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/fixtures/hives/yarp__System_Delta"
        );
        fs::read(path).unwrap_or_else(|e| panic!("{path}: {e} (the shared hive fixtures)"))
    }

    #[test]
    fn export_folder_becomes_a_changeset_and_a_layer_the_checker_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("Files/app/sub")).unwrap();
        fs::create_dir_all(root.join("Files/$Recycle.Bin/S-1-5-18")).unwrap();
        fs::write(root.join("Files/app/hello.txt"), b"hello from RUN\r\n").unwrap();
        fs::write(root.join("Files/app/sub/empty.bin"), b"").unwrap();
        fs::create_dir_all(root.join("Hives")).unwrap();
        let delta = shared_delta_hive();
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
            ["app", "app/hello.txt", "app/sub", "app/sub/empty.bin"]
        );
        assert_eq!(changes.deletions, ["Windows/Temp/old.log", "app/gone"]);
        assert_eq!(changes.hive_deltas[&HiveName::System], delta, "byte-exact");
        assert_eq!(changes.hive_deltas[&HiveName::Software], &delta[..4096]);

        let options = WriteOptions {
            compression: LayerCompression::None,
            ..WriteOptions::from_env(Timestamp {
                secs: 1_700_000_000,
                nanos: 0,
            })
        };
        let (tar, _) = write_layer(&changes, &options, Vec::new()).unwrap();
        let (entries, _) = list_layer(&tar[..]).unwrap();
        assert_eq!(check_windows_layer(&entries, false), vec![]);
        let names: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        assert!(names.contains(&"Hives/System_Delta"), "{names:?}");
        assert!(names.contains(&"Files/app/.wh.gone"), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("Recycle")), "{names:?}");
        // The delta inside the tar is the exported file, byte for byte.
        let mut archive = tar::Archive::new(&tar[..]);
        let mut found = false;
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            if entry.path().unwrap().to_string_lossy() == "Hives/System_Delta" {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).unwrap();
                assert_eq!(bytes, delta);
                found = true;
            }
        }
        assert!(found);
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
    }
}
