//! Image layer tar → the folder vmcompute imports (research windows-layers.md §1.3).
//!
//! - A **base** layer (no parents) is written straight into its layer folder (`Files/…`,
//!   `UtilityVM/Files/…`), parents before children; then `ProcessBaseImage` (and
//!   `ProcessUtilityImage` when `UtilityVM/Files` is present) make it a layer.
//! - A **non-base** layer is staged for `ImportLayer`: each `Files\…` file becomes a 4-byte
//!   little-endian `FileAttributes` prefix followed by a Win32 backup stream (one
//!   `BACKUP_DATA` stream), each directory also gets a `<dir>.$wcidirs$` file in that format,
//!   `Hives\…` are plain files, and deleted paths (`.wh.` entries) go to `tombstones.txt`.
//!
//! Security descriptors and extended attributes from the tar's PAX records are not carried
//! into the backup streams yet: files get the layer folder's inherited ACL.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use crate::layer::attributes;

/// `BACKUP_DATA` in a `WIN32_STREAM_ID`.
const BACKUP_DATA: u32 = 1;

/// Why a layer tar could not be staged.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("layer {layer}: {what}: {source}")]
    Io {
        layer: String,
        what: String,
        source: io::Error,
    },
    #[error("layer {layer}: entry {entry:?}: {reason}")]
    Entry {
        layer: String,
        entry: String,
        reason: String,
    },
}

/// What staging found (the runtime needs to know whether to run `ProcessUtilityImage`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Staged {
    pub has_utility_vm: bool,
    pub tombstones: usize,
}

/// Stages `blob` (compressed or not) into `dest`; `base` selects the base-layer layout.
pub fn stage_layer(blob: &Path, dest: &Path, base: bool) -> Result<Staged, ImportError> {
    let layer = blob.display().to_string();
    let io_err = |what: String| {
        let layer = layer.clone();
        move |source| ImportError::Io {
            layer,
            what,
            source,
        }
    };
    let file = fs::File::open(blob).map_err(io_err("open".into()))?;
    let reader = crate::layer::reader::decompressed(file).map_err(|e| ImportError::Entry {
        layer: layer.clone(),
        entry: String::new(),
        reason: e.to_string(),
    })?;
    stage_tar(reader, dest, base, &layer)
}

/// Stages an uncompressed layer tar stream.
pub fn stage_tar<R: Read>(
    tar_stream: R,
    dest: &Path,
    base: bool,
    layer: &str,
) -> Result<Staged, ImportError> {
    let entry_err = |entry: &str, reason: &str| ImportError::Entry {
        layer: layer.into(),
        entry: entry.into(),
        reason: reason.into(),
    };
    let io_err = |what: &Path, source| ImportError::Io {
        layer: layer.into(),
        what: what.display().to_string(),
        source,
    };
    fs::create_dir_all(dest).map_err(|e| io_err(dest, e))?;
    let mut staged = Staged::default();
    let mut tombstones = String::from("\u{feff}Version 1.0\r\n");
    let mut archive = tar::Archive::new(tar_stream);
    let entries = archive.entries().map_err(|e| io_err(dest, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| io_err(dest, e))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = raw.trim_end_matches('/').to_string();
        let rel = safe_relative(&name).ok_or_else(|| {
            entry_err(
                &name,
                "absolute path or `..` component (refused: it would escape)",
            )
        })?;
        let in_files = name.starts_with("Files/") || name.starts_with("UtilityVM/Files/");
        if name.starts_with("UtilityVM/Files") {
            staged.has_utility_vm = true;
        }
        let file_name = rel.file_name().map(|n| n.to_string_lossy().into_owned());
        if let Some(deleted) = file_name.as_deref().and_then(|n| n.strip_prefix(".wh.")) {
            if base {
                return Err(entry_err(&name, "a base layer cannot have tombstones"));
            }
            if !name.starts_with("Files/") {
                return Err(entry_err(&name, "invalid tombstone (only under Files/)"));
            }
            let parent = name["Files/".len()..]
                .rsplit_once('/')
                .map(|(dir, _)| format!("\\{}", dir.replace('/', "\\")))
                .unwrap_or_default();
            tombstones.push_str(&format!("{parent}\\{deleted}\r\n"));
            staged.tombstones += 1;
            continue;
        }
        let target = dest.join(&rel);
        let kind = entry.header().entry_type();
        let attrs = pax_attributes(&mut entry);
        let staged_as_backup = !base && in_files;
        if kind.is_dir() {
            fs::create_dir_all(&target).map_err(|e| io_err(&target, e))?;
            if staged_as_backup {
                let meta = with_suffix(&target, ".$wcidirs$");
                let attrs = attrs.unwrap_or(attributes::DIRECTORY);
                write_backup_file(&meta, attrs, &mut io::empty(), 0)
                    .map_err(|e| io_err(&meta, e))?;
            }
        } else if kind.is_file() {
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
            }
            let size = entry.header().size().map_err(|e| io_err(&target, e))?;
            if staged_as_backup {
                let attrs = attrs.unwrap_or(attributes::ARCHIVE);
                write_backup_file(&target, attrs, &mut entry, size)
                    .map_err(|e| io_err(&target, e))?;
            } else {
                let mut out = fs::File::create(&target).map_err(|e| io_err(&target, e))?;
                io::copy(&mut entry, &mut out).map_err(|e| io_err(&target, e))?;
            }
        } else if kind.is_hard_link() {
            let link = entry
                .link_name()
                .ok()
                .flatten()
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !(link.starts_with("Files/") || link.starts_with("UtilityVM/Files/")) {
                return Err(entry_err(
                    &name,
                    "invalid hard link in layer (target outside Files/)",
                ));
            }
            let source = safe_relative(&link)
                .map(|l| dest.join(l))
                .ok_or_else(|| entry_err(&name, "hard-link target escapes the layer"))?;
            fs::hard_link(&source, &target).map_err(|e| io_err(&target, e))?;
        } else {
            return Err(entry_err(
                &name,
                "symbolic links and other special entries are not imported by silo's HCS \
                 runtime yet",
            ));
        }
    }
    if !base {
        let path = dest.join("tombstones.txt");
        fs::write(&path, tombstones.as_bytes()).map_err(|e| io_err(&path, e))?;
    }
    Ok(staged)
}

/// `MSWINDOWS.fileattr` from the entry's PAX records (decimal), if present.
fn pax_attributes<R: Read>(entry: &mut tar::Entry<R>) -> Option<u32> {
    let extensions = entry.pax_extensions().ok()??;
    for ext in extensions.flatten() {
        if ext.key().ok() == Some("MSWINDOWS.fileattr") {
            return ext.value().ok()?.parse().ok();
        }
    }
    None
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Writes the legacy import format: attributes, then one `WIN32_STREAM_ID` (`BACKUP_DATA`,
/// no name) and the data — omitted for directories' metadata files (no data stream).
fn write_backup_file(path: &Path, attrs: u32, data: &mut dyn Read, size: u64) -> io::Result<()> {
    let mut out = io::BufWriter::new(fs::File::create(path)?);
    out.write_all(&attrs.to_le_bytes())?;
    if attrs & attributes::DIRECTORY == 0 {
        out.write_all(&BACKUP_DATA.to_le_bytes())?; // dwStreamId
        out.write_all(&0u32.to_le_bytes())?; // dwStreamAttributes
        out.write_all(&size.to_le_bytes())?; // Size
        out.write_all(&0u32.to_le_bytes())?; // dwStreamNameSize
        let copied = io::copy(&mut data.take(size), &mut out)?;
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the tar entry ended after {copied} of {size} bytes"),
            ));
        }
    }
    out.flush()
}

/// `name` as a relative path with only normal components, or `None`.
fn safe_relative(name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    let ok = path.components().all(|c| matches!(c, Component::Normal(_)));
    (ok && !name.is_empty()).then(|| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut header = tar::Header::new_ustar();
            match data {
                Some(bytes) => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(bytes.len() as u64);
                    header.set_mode(0o644);
                    builder.append_data(&mut header, path, *bytes).unwrap();
                }
                None => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    header.set_mode(0o755);
                    builder.append_data(&mut header, path, &[][..]).unwrap();
                }
            }
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn non_base_layer_is_staged_in_the_legacy_import_format() {
        let tar = tar_of(&[
            ("Hives", None),
            ("Files", None),
            ("Files/app", None),
            ("Files/app/a.txt", Some(b"abc")),
            ("Files/app/.wh.old", Some(b"")),
            ("Hives/System_Delta", Some(b"regf-delta")),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let staged = stage_tar(&tar[..], dir.path(), false, "test").unwrap();
        assert_eq!(staged.tombstones, 1);
        let file = fs::read(dir.path().join("Files/app/a.txt")).unwrap();
        let mut want = attributes::ARCHIVE.to_le_bytes().to_vec();
        want.extend(1u32.to_le_bytes());
        want.extend(0u32.to_le_bytes());
        want.extend(3u64.to_le_bytes());
        want.extend(0u32.to_le_bytes());
        want.extend(b"abc");
        assert_eq!(file, want);
        let dirmeta = fs::read(dir.path().join("Files/app.$wcidirs$")).unwrap();
        assert_eq!(dirmeta, attributes::DIRECTORY.to_le_bytes());
        assert_eq!(
            fs::read(dir.path().join("Hives/System_Delta")).unwrap(),
            b"regf-delta"
        );
        assert_eq!(
            fs::read(dir.path().join("tombstones.txt")).unwrap(),
            b"\xEF\xBB\xBFVersion 1.0\r\n\\app\\old\r\n"
        );
    }

    #[test]
    fn base_layers_are_plain_files_and_refuse_tombstones_and_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let tar = tar_of(&[
            ("Files", None),
            ("Files/Windows", None),
            ("Files/Windows/x.dll", Some(b"MZ")),
            ("UtilityVM/Files", None),
        ]);
        let staged = stage_tar(&tar[..], dir.path(), true, "base").unwrap();
        assert!(staged.has_utility_vm);
        assert_eq!(
            fs::read(dir.path().join("Files/Windows/x.dll")).unwrap(),
            b"MZ"
        );
        assert!(!dir.path().join("tombstones.txt").exists());

        let tar = tar_of(&[("Files", None), ("Files/.wh.x", Some(b""))]);
        let err = stage_tar(&tar[..], &dir.path().join("b"), true, "base").unwrap_err();
        assert!(
            err.to_string()
                .contains("base layer cannot have tombstones"),
            "{err}"
        );
        let tar = tar_of(&[("Hives/.wh.System_Delta", Some(b""))]);
        let err = stage_tar(&tar[..], &dir.path().join("c"), false, "l").unwrap_err();
        assert!(err.to_string().contains("invalid tombstone"), "{err}");
    }
}
