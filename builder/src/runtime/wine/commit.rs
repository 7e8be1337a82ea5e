//! Turning the overlay's upper directory into a [`ChangeSet`]. Only the upper directory is
//! walked (plus the lower listing of directories made opaque), so the cost follows what the
//! step changed, never the image size.
//!
//! - regular files → [`EntryKind::File`] streamed from the upper dir; attributes from Wine's
//!   DOS attribute xattr (`user.DOSATTRIB`, Samba's `0x…` text form) when present;
//! - directories that do not exist below, or that overlayfs made opaque (deleted and
//!   re-created) → [`EntryKind::Directory`]; directories that only hold changed children are
//!   left to the codec, which adds ancestors itself;
//! - whiteouts (character device 0/0) → deletions;
//! - opaque directories (`trusted.overlay.opaque = y`) → an explicit deletion of every lower
//!   entry that is not in the upper dir (Windows layers have no opaque whiteouts);
//! - symlinks → [`EntryKind::Symlink`] with the target in Windows form.
//!
//! Times, as Windows sets them: the last-write time is the file's mtime (a copy keeps its
//! source's, as `CopyFile` does; a change sets it). The creation time of an entry the step
//! created (nothing of that path below) is when the step created it: the upper file's birth
//! time (`statx`), or its inode change time where the file system keeps no birth time — so
//! `copy a b` gives `b` a new creation time, not `a`'s. An entry that exists below (changed
//! by the step) gets no creation time here (the codec writes its last-write time): the
//! unpacked lower dirs do not keep the creation time their layer recorded.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::layer::changeset::Timestamp;
use crate::layer::{ChangeSet, Entry, EntryKind, FileMeta, FileSource};

/// FILE_ATTRIBUTE_* bits Wine may store.
const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x10;

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let n = CString::new(name).ok()?;
    let mut buf = [0u8; 256];
    // SAFETY: lgetxattr writes at most buf.len() bytes into buf.
    let len =
        unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (len >= 0).then(|| buf[..len as usize].to_vec())
}

/// Wine's `user.DOSATTRIB`: Samba's text form `0x<hex>` (optionally NUL-terminated).
fn dos_attributes(path: &Path) -> Option<u32> {
    let raw = xattr(path, "user.DOSATTRIB")?;
    let text = String::from_utf8_lossy(&raw);
    let text = text.trim_end_matches('\0').trim();
    let hex = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))?;
    u32::from_str_radix(hex, 16).ok()
}

fn is_opaque(path: &Path) -> bool {
    xattr(path, "trusted.overlay.opaque").is_some_and(|v| v.first() == Some(&b'y'))
}

fn timestamp(secs: i64, nanos: i64) -> Timestamp {
    Timestamp {
        secs,
        nanos: nanos.clamp(0, 999_999_999) as u32,
    }
}

/// When the step created the upper-dir entry `meta` describes: its birth time, else its inode
/// change time (see the module documentation).
fn creation_time(meta: &std::fs::Metadata) -> Timestamp {
    match meta
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
    {
        Some(d) => timestamp(d.as_secs() as i64, d.subsec_nanos() as i64),
        None => timestamp(meta.ctime(), meta.ctime_nsec()),
    }
}

/// Paths (relative to `C:\`, `/`-separated) that are Wine's own housekeeping and never part of
/// a layer. Matched case-insensitively as whole paths or path prefixes.
const HOUSEKEEPING: &[&str] = &[];

fn is_housekeeping(rel: &str) -> bool {
    HOUSEKEEPING.iter().any(|h| {
        rel.len() >= h.len()
            && rel[..h.len()].eq_ignore_ascii_case(h)
            && (rel.len() == h.len() || rel.as_bytes()[h.len()] == b'/')
    })
}

/// Builds the file part of a ChangeSet from `upper`, with `lowers` (highest priority first)
/// consulted only for directories: whether they existed below, and what an opaque one hid.
pub fn changes_from_upper(upper: &Path, lowers: &[PathBuf]) -> std::io::Result<ChangeSet> {
    let mut cs = ChangeSet::default();
    walk(upper, upper, lowers, &mut cs)?;
    Ok(cs)
}

fn rel_string(upper: &Path, path: &Path) -> String {
    path.strip_prefix(upper)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

fn exists_below(lowers: &[PathBuf], rel: &str) -> bool {
    lowers.iter().any(|l| {
        let p = l.join(rel);
        // A whiteout in a higher lower hides lower ones; good enough: the first hit decides.
        std::fs::symlink_metadata(&p).is_ok_and(|m| !is_whiteout(&m))
    })
}

fn is_whiteout(meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Names visible below `rel` in the merged lower view.
fn lower_children(lowers: &[PathBuf], rel: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut hidden = BTreeSet::new();
    for l in lowers {
        let Ok(rd) = std::fs::read_dir(l.join(rel)) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if seen.contains(&name) || hidden.contains(&name) {
                continue;
            }
            match e.metadata() {
                Ok(m) if is_whiteout(&m) => {
                    hidden.insert(name);
                }
                _ => {
                    seen.insert(name);
                }
            }
        }
        if is_opaque(&l.join(rel)) {
            break;
        }
    }
    seen
}

fn walk(upper: &Path, dir: &Path, lowers: &[PathBuf], cs: &mut ChangeSet) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let rel = rel_string(upper, &path);
        if is_housekeeping(&rel) {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path)?;
        let ft = meta.file_type();
        let created_here = !is_whiteout(&meta) && !exists_below(lowers, &rel);
        let file_meta = FileMeta {
            attributes: dos_attributes(&path),
            modification_time: Some(timestamp(meta.mtime(), meta.mtime_nsec())),
            creation_time: created_here.then(|| creation_time(&meta)),
            ..FileMeta::default()
        };
        if is_whiteout(&meta) {
            cs.deletions.push(rel);
        } else if ft.is_dir() {
            let opaque = is_opaque(&path);
            if opaque {
                let present: BTreeSet<String> = std::fs::read_dir(&path)?
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                for gone in lower_children(lowers, &rel) {
                    if !present.contains(&gone) {
                        cs.deletions.push(format!("{rel}/{gone}"));
                    }
                }
            }
            if opaque || !exists_below(lowers, &rel) {
                let mut m = file_meta;
                if let Some(a) = m.attributes.as_mut() {
                    *a |= FILE_ATTRIBUTE_DIRECTORY;
                }
                cs.entries.push(Entry {
                    path: rel.clone(),
                    kind: EntryKind::Directory,
                    meta: m,
                    streams: Vec::new(),
                });
            }
            walk(upper, &path, lowers, cs)?;
        } else if ft.is_file() {
            cs.entries.push(Entry {
                path: rel,
                kind: EntryKind::File {
                    source: FileSource::Path(path.clone()),
                    size: meta.len(),
                },
                meta: file_meta,
                streams: Vec::new(),
            });
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&path)?;
            let directory = std::fs::metadata(&path).is_ok_and(|m| m.is_dir());
            cs.entries.push(Entry {
                path: rel,
                kind: EntryKind::Symlink {
                    target: target.to_string_lossy().replace('/', "\\"),
                    directory,
                },
                meta: file_meta,
                streams: Vec::new(),
            });
        }
        // Sockets, fifos and other devices have no Windows meaning and are skipped.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::wine::layers::make_whiteout;

    #[test]
    fn upper_dir_becomes_entries_and_deletions() {
        let t = tempfile::tempdir().unwrap();
        let lower = t.path().join("lower");
        let upper = t.path().join("upper");
        std::fs::create_dir_all(lower.join("old/sub")).unwrap();
        std::fs::write(lower.join("old/a.txt"), "a").unwrap();
        std::fs::write(lower.join("gone.txt"), "g").unwrap();
        std::fs::create_dir_all(upper.join("old")).unwrap();
        std::fs::create_dir_all(upper.join("new/dir")).unwrap();
        std::fs::write(upper.join("new/dir/f.txt"), "hello").unwrap();
        std::fs::write(upper.join("old/b.txt"), "b").unwrap();
        make_whiteout(&upper.join("gone.txt")).unwrap();
        let cs = changes_from_upper(&upper, &[lower]).unwrap();
        let paths: Vec<_> = cs.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["new", "new/dir", "new/dir/f.txt", "old/b.txt"]);
        assert_eq!(cs.deletions, ["gone.txt"]);
        match &cs.entries[2].kind {
            EntryKind::File { size, .. } => assert_eq!(*size, 5),
            other => panic!("{other:?}"),
        }
    }
}
