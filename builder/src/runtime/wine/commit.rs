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
//! - symlinks that silo's mklink made (the link journal, [`super::links`]) → the entry Windows
//!   records: [`EntryKind::Symlink`] (a directory one for `/D`) or [`EntryKind::Junction`] with
//!   the target as Windows stored it, a descriptor and attributes like any new entry; other
//!   symlinks → [`EntryKind::Symlink`] with the target in Windows form;
//! - a file with more than one name in the upper dir (`mklink /H`) → its first name (in walk
//!   order) as a file, the others as [`EntryKind::HardLink`]s to it, as Windows' layer export
//!   writes a file whose link count is above one.
//!
//! Times, as Windows sets them: the last-write time is the file's mtime (a copy keeps its
//! source's, as `CopyFile` does; a change sets it). The creation time of an entry the step
//! created (nothing of that path below) is when the step created it: the upper file's birth
//! time (`statx`), or its inode change time where the file system keeps no birth time — so
//! `copy a b` gives `b` a new creation time, not `a`'s. An entry that exists below (changed
//! by the step) gets no creation time here (the codec writes its last-write time): the
//! unpacked lower dirs do not keep the creation time their layer recorded.
//!
//! Security descriptors, as NTFS gives them (Wine keeps none, so silo decides):
//! - an entry that exists below (a changed file, or a directory the step wrote into, which is
//!   now emitted too) keeps the descriptor its layer recorded (the unpack's xattr, copied up by
//!   overlayfs with the file); without one the codec's default applies;
//! - an entry the step created is owned by the step's USER and gets the DACL NTFS inheritance
//!   gives from its parent's descriptor ([`sd::inherited`]); `C:\` itself, which no layer
//!   records, has silo's default directory descriptor (Windows' system-drive root grants). A
//!   parent whose descriptor is unknown gives silo's default descriptors with that owner.
// xattrs (Wine's DOS attributes, overlayfs' opaque mark, descriptors) have no std API.
#![allow(unsafe_code)]

use std::collections::BTreeSet;
use std::ffi::CString;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use std::collections::HashMap;

use super::layers::SD_XATTR;
use super::links::{LinkKind, MadeLink};
use crate::layer::changeset::Timestamp;
use crate::layer::sd::{self, SecurityDescriptor, Sid};
use crate::layer::{ChangeSet, Entry, EntryKind, FileMeta, FileSource};

/// FILE_ATTRIBUTE_* bits Wine may store.
const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x10;
/// What NTFS gives a new file (a file symbolic link included).
const FILE_ATTRIBUTE_ARCHIVE: u32 = 0x20;

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let n = CString::new(name).ok()?;
    // SAFETY: a size query (NULL buffer, size 0).
    let size = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), std::ptr::null_mut(), 0) };
    if size < 0 {
        return None;
    }
    let mut buf = vec![0u8; size as usize];
    // SAFETY: lgetxattr writes at most buf.len() bytes into buf.
    let len =
        unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (len >= 0).then(|| buf[..len as usize].to_vec())
}

/// What the walk needs to give entries their descriptors: the step's owner SID and the
/// descriptors of the directories the step created (by path).
struct Owners<'a> {
    owner: &'a Sid,
    lowers: &'a [PathBuf],
    created: HashMap<String, Vec<u8>>,
    /// The links silo's mklink made, by path.
    links: &'a HashMap<String, MadeLink>,
    /// Files with more than one name: (device, inode) → the first name met.
    names: HashMap<(u64, u64), String>,
}

impl Owners<'_> {
    /// The descriptor of the directory `rel` (`""` = `C:\`) as the step sees it.
    fn of_dir(&self, upper: &Path, rel: &str) -> Option<Vec<u8>> {
        if rel.is_empty() {
            return Some(SecurityDescriptor::default_directory(None).to_bytes());
        }
        if let Some(sd) = self.created.get(rel) {
            return Some(sd.clone());
        }
        std::iter::once(upper)
            .chain(self.lowers.iter().map(PathBuf::as_path))
            .find_map(|dir| xattr(&dir.join(rel), SD_XATTR))
    }

    /// The descriptor of a new entry `rel` made by the step.
    fn for_new(&mut self, upper: &Path, rel: &str, directory: bool) -> Vec<u8> {
        let parent = rel.rsplit_once('/').map_or("", |(p, _)| p);
        let sd = self
            .of_dir(upper, parent)
            .and_then(|p| sd::inherited(&p, self.owner, directory))
            .unwrap_or_else(|| {
                if directory {
                    SecurityDescriptor::default_directory(Some(self.owner)).to_bytes()
                } else {
                    SecurityDescriptor::default_file(Some(self.owner)).to_bytes()
                }
            });
        if directory {
            self.created.insert(rel.to_string(), sd.clone());
        }
        sd
    }
}

/// The descriptor the commit gives the entry at `path` of the silo's merged `C:` view `root`,
/// as a process inside the silo can tell it (Get-Acl): the descriptor its layer recorded (the
/// xattr shows through the merged view and is copied up with the entry), else the one NTFS
/// inheritance gives a new entry from its parent's, as [`Owners::for_new`] does for the commit.
pub fn descriptor_in_view(root: &Path, path: &Path, owner: &Sid) -> Vec<u8> {
    let directory = path.is_dir();
    if path == root {
        return SecurityDescriptor::default_directory(None).to_bytes();
    }
    if let Some(recorded) = xattr(path, SD_XATTR) {
        return recorded;
    }
    let parent = path
        .parent()
        .filter(|p| p.starts_with(root))
        .map(|p| descriptor_in_view(root, p, owner));
    parent
        .and_then(|p| sd::inherited(&p, owner, directory))
        .unwrap_or_else(|| {
            if directory {
                SecurityDescriptor::default_directory(Some(owner)).to_bytes()
            } else {
                SecurityDescriptor::default_file(Some(owner)).to_bytes()
            }
        })
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
/// The changes in `upper` over `lowers` (highest first); entries the step created are owned by
/// `owner` (the step's USER); `links` are the links silo's mklink made (the link journal).
pub fn changes_from_upper(
    upper: &Path,
    lowers: &[PathBuf],
    owner: &Sid,
    links: &HashMap<String, MadeLink>,
) -> std::io::Result<ChangeSet> {
    let mut cs = ChangeSet::default();
    let mut owners = Owners {
        owner,
        lowers,
        created: HashMap::new(),
        links,
        names: HashMap::new(),
    };
    walk(upper, upper, lowers, &mut owners, &mut cs)?;
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

fn walk(
    upper: &Path,
    dir: &Path,
    lowers: &[PathBuf],
    owners: &mut Owners<'_>,
    cs: &mut ChangeSet,
) -> std::io::Result<()> {
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
        // A directory overlayfs made opaque was deleted and made again by the step.
        let created_here = !is_whiteout(&meta)
            && (!exists_below(lowers, &rel) || (ft.is_dir() && is_opaque(&path)));
        // A link silo's mklink made, if the step left it as it was made.
        let made = ft
            .is_symlink()
            .then(|| owners.links.get(&rel))
            .flatten()
            .filter(|m| std::fs::read_link(&path).is_ok_and(|t| t == Path::new(&m.unix_target)))
            .cloned();
        let directory_link = made
            .as_ref()
            .is_some_and(|m| m.kind != LinkKind::FileSymlink);
        let security_descriptor = if is_whiteout(&meta) || (ft.is_symlink() && made.is_none()) {
            None
        } else if created_here {
            Some(owners.for_new(upper, &rel, ft.is_dir() || directory_link))
        } else {
            xattr(&path, SD_XATTR)
        };
        let file_meta = FileMeta {
            attributes: dos_attributes(&path),
            modification_time: Some(timestamp(meta.mtime(), meta.mtime_nsec())),
            creation_time: created_here.then(|| creation_time(&meta)),
            security_descriptor,
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
            // A directory that exists below is emitted when its layer recorded a descriptor,
            // so the layer keeps it (the codec would give an ancestor it adds its default).
            if opaque || created_here || file_meta.security_descriptor.is_some() {
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
            walk(upper, &path, lowers, owners, cs)?;
        } else if ft.is_file() {
            let first_name = if meta.nlink() > 1 {
                let first = owners
                    .names
                    .entry((meta.dev(), meta.ino()))
                    .or_insert_with(|| rel.clone());
                (*first != rel).then(|| first.clone())
            } else {
                None
            };
            let kind = match first_name {
                Some(target) => EntryKind::HardLink { target },
                None => EntryKind::File {
                    source: FileSource::Path(path.clone()),
                    size: meta.len(),
                },
            };
            cs.entries.push(Entry {
                path: rel,
                kind,
                meta: file_meta,
                streams: Vec::new(),
            });
        } else if let Some(made) = made {
            let (kind, attributes) = match made.kind {
                LinkKind::Junction => (
                    EntryKind::Junction {
                        target: made.target,
                    },
                    FILE_ATTRIBUTE_DIRECTORY,
                ),
                LinkKind::DirectorySymlink => (
                    EntryKind::Symlink {
                        target: made.target,
                        directory: true,
                    },
                    FILE_ATTRIBUTE_DIRECTORY,
                ),
                // A hard link is no symlink; the journal never holds one.
                LinkKind::FileSymlink | LinkKind::HardLink => (
                    EntryKind::Symlink {
                        target: made.target,
                        directory: false,
                    },
                    FILE_ATTRIBUTE_ARCHIVE,
                ),
            };
            cs.entries.push(Entry {
                path: rel,
                kind,
                meta: FileMeta {
                    attributes: Some(attributes),
                    ..file_meta
                },
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
        let cs = changes_from_upper(
            &upper,
            &[lower],
            &Sid::container_administrator(),
            &HashMap::new(),
        )
        .unwrap();
        let paths: Vec<_> = cs.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["new", "new/dir", "new/dir/f.txt", "old/b.txt"]);
        assert_eq!(cs.deletions, ["gone.txt"]);
        match &cs.entries[2].kind {
            EntryKind::File { size, .. } => assert_eq!(*size, 5),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn journaled_links_and_second_names_become_windows_link_entries() {
        let t = tempfile::tempdir().unwrap();
        let lower = t.path().join("lower");
        let upper = t.path().join("upper");
        std::fs::create_dir_all(lower.join("data")).unwrap();
        std::fs::create_dir_all(upper.join("app")).unwrap();
        std::fs::write(upper.join("app/a.txt"), "a").unwrap();
        std::fs::hard_link(upper.join("app/a.txt"), upper.join("b.txt")).unwrap();
        std::os::unix::fs::symlink("../data", upper.join("app/d")).unwrap();
        std::os::unix::fs::symlink("data", upper.join("j")).unwrap();
        std::os::unix::fs::symlink("data", upper.join("replaced")).unwrap();
        std::os::unix::fs::symlink("data", upper.join("other")).unwrap();
        let made = |path: &str, kind, target: &str, unix: &str| {
            let m = MadeLink {
                path: path.into(),
                kind,
                target: target.into(),
                unix_target: unix.into(),
            };
            (path.to_string(), m)
        };
        let links: HashMap<_, _> = [
            made("app/d", LinkKind::DirectorySymlink, r"..\data", "../data"),
            made("j", LinkKind::Junction, r"C:\data", "data"),
            // Made by mklink, then replaced by another link: no longer the journal's.
            made("replaced", LinkKind::Junction, r"C:\x", "x"),
        ]
        .into_iter()
        .collect();
        let cs =
            changes_from_upper(&upper, &[lower], &Sid::container_administrator(), &links).unwrap();
        let kind = |p: &str| {
            let e = cs.entries.iter().find(|e| e.path == p).unwrap();
            (
                e.kind.clone(),
                e.meta.attributes,
                e.meta.security_descriptor.is_some(),
            )
        };
        assert!(matches!(kind("app/a.txt").0, EntryKind::File { .. }));
        assert_eq!(
            kind("b.txt").0,
            EntryKind::HardLink {
                target: "app/a.txt".into()
            }
        );
        assert_eq!(
            kind("app/d"),
            (
                EntryKind::Symlink {
                    target: r"..\data".into(),
                    directory: true
                },
                Some(FILE_ATTRIBUTE_DIRECTORY),
                true
            )
        );
        assert_eq!(
            kind("j").0,
            EntryKind::Junction {
                target: r"C:\data".into()
            }
        );
        for p in ["replaced", "other"] {
            assert!(
                matches!(kind(p).0, EntryKind::Symlink { ref target, .. } if target == "data"),
                "{p}"
            );
        }
    }
}
