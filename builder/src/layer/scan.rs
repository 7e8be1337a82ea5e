//! A [`ChangeSet`] from a host directory: every file, directory and symlink below it as an added
//! entry (file bytes are read later, while the layer is written). Used by benchmarks and tools
//! that turn a directory into a layer; COPY has its own rules in the build engine.

use std::fs;
use std::path::Path;

use super::changeset::{ChangeSet, Entry, EntryKind, FileMeta, FileSource, Timestamp};
use super::LayerError;

fn timestamp(time: std::io::Result<std::time::SystemTime>) -> Option<Timestamp> {
    let d = time.ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(Timestamp {
        secs: d.as_secs() as i64,
        nanos: d.subsec_nanos(),
    })
}

/// Scans `root` recursively (sorted, not following symlinks). Names that cannot be Windows paths
/// (non-UTF-8, or containing `\` or `:`) are errors naming the file.
pub fn scan_directory(root: &Path) -> Result<ChangeSet, LayerError> {
    let mut changes = ChangeSet::default();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let mut children: Vec<_> = fs::read_dir(&dir)
            .and_then(|it| it.collect::<std::io::Result<Vec<_>>>())
            .map_err(|e| LayerError::io(dir.display().to_string(), e))?;
        children.sort_by_key(|c| c.file_name());
        for child in children {
            let name = child
                .file_name()
                .into_string()
                .map_err(|n| LayerError::InvalidPath {
                    path: format!("{prefix}{}", n.to_string_lossy()),
                    reason: "not UTF-8".into(),
                })?;
            let path = format!("{prefix}{name}");
            let meta = child
                .metadata()
                .map_err(|e| LayerError::io(child.path().display().to_string(), e))?;
            let file_meta = FileMeta {
                modification_time: timestamp(meta.modified()),
                access_time: timestamp(meta.accessed()),
                ..FileMeta::default()
            };
            let kind = if meta.file_type().is_symlink() {
                let target = fs::read_link(child.path())
                    .map_err(|e| LayerError::io(child.path().display().to_string(), e))?;
                EntryKind::Symlink {
                    target: target.to_string_lossy().replace('/', "\\"),
                    directory: fs::metadata(child.path())
                        .map(|m| m.is_dir())
                        .unwrap_or(false),
                }
            } else if meta.is_dir() {
                stack.push((child.path(), format!("{path}/")));
                EntryKind::Directory
            } else if meta.is_file() {
                EntryKind::File {
                    source: FileSource::Path(child.path()),
                    size: meta.len(),
                }
            } else {
                continue; // sockets, FIFOs, devices have no Windows equivalent
            };
            changes.entries.push(Entry {
                path,
                kind,
                meta: file_meta,
                streams: vec![],
            });
        }
    }
    Ok(changes)
}
