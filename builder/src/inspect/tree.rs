//! The image's filesystem as `C:\` sees it, written out of any image format — the merged view
//! `silo ls` and `silo registry` show, as files: `silo build`'s buildx outputs
//! `-o type=local,dest=DIR` (a directory) and `-o type=tar,dest=FILE|-` (the same tree as one
//! tar). The layers' `Files/` trees are unpacked bottom to top with whiteouts applied
//! ([`crate::layer::unpack`]); nothing under `Hives/` is written as such. Instead, every machine
//! hive a layer above the base changed is merged (base hive ⊕ each layer's `Hives/*_Delta`, the
//! codec's [`crate::hive::layers::merge`]) and written as a full regf where Windows keeps it,
//! `Windows\System32\config\<HIVE>`, its now stale `.LOG1`/`.LOG2` removed; hives no layer
//! changed stay the base layer's bytes.
//!
//! What a Linux directory cannot hold is not written: NTFS security descriptors, file
//! attributes and alternate data streams (the unpacker skips and counts them, and the output
//! says how many were left out).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::registry::image_hives;
use crate::build::engine::BuiltImage;
use crate::build::sources::base::BaseImage;
use crate::hive::{write_hive, WriteOptions};
use crate::layer::{UnpackFilter, UnpackOptions};
use crate::store::{Store, StoreError};

/// What writing the tree did (for the note the build prints).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TreeReport {
    /// Hives rewritten from the base hive and the layers' deltas.
    pub hives: Vec<&'static str>,
    /// Layer entries outside `Files/` or that a directory cannot hold: `Hives/` deltas (merged
    /// into `hives` instead), alternate data streams, `UtilityVM/`.
    pub skipped: u64,
}

fn invalid(what: impl std::fmt::Display, problem: impl Into<String>) -> StoreError {
    StoreError::invalid(what.to_string(), problem.into())
}

/// Writes `image`'s merged tree into `dest` (created when missing). As buildx's local exporter
/// does, an existing directory is written into: files the image has replace those at the same
/// path, others are left alone.
pub fn write_local(
    store: &Store,
    image: &BuiltImage,
    dest: &Path,
) -> Result<TreeReport, StoreError> {
    if dest.exists() && !dest.is_dir() {
        return Err(invalid(
            dest.display(),
            "exists and is not a directory: type=local writes a directory (type=tar writes a file)",
        ));
    }
    let empty = match std::fs::read_dir(dest) {
        Ok(mut entries) => entries.next().is_none(),
        Err(_) => true,
    };
    if empty {
        return write_tree(store, image, dest);
    }
    // Whiteouts must delete only what lower layers wrote, never the user's files: flatten beside
    // `dest`, then move the tree in.
    let scratch = scratch_beside(dest)?;
    let report = write_tree(store, image, scratch.path())?;
    move_into(scratch.path(), dest)
        .map_err(|e| invalid(dest.display(), format!("writing: {e}")))?;
    Ok(report)
}

/// Writes `image`'s merged tree as one tar at `dest` (`-`: standard output); a file appears
/// whole or not at all.
pub fn write_tar(store: &Store, image: &BuiltImage, dest: &Path) -> Result<TreeReport, StoreError> {
    let to_stdout = dest == Path::new("-");
    if !to_stdout && dest.is_dir() {
        return Err(invalid(
            dest.display(),
            "is a directory: type=tar writes a tar file (type=local writes a directory)",
        ));
    }
    let scratch = scratch_beside(if to_stdout { Path::new("") } else { dest })?;
    let tree = scratch.path().join("tree");
    let report = write_tree(store, image, &tree)?;
    let io = |e: std::io::Error| invalid(dest.display(), format!("writing the tar: {e}"));
    if to_stdout {
        let mut out = std::io::stdout().lock();
        tar_tree(&tree, &mut out).map_err(io)?;
        return Ok(report);
    }
    let mut file = tempfile::NamedTempFile::new_in(scratch.path()).map_err(io)?;
    tar_tree(&tree, &mut std::io::BufWriter::new(file.as_file_mut())).map_err(io)?;
    file.as_file().sync_all().map_err(io)?;
    file.persist(dest).map_err(|e| io(e.error))?;
    Ok(report)
}

/// A scratch directory on the same filesystem as `path` (so moving out of it is a rename).
fn scratch_beside(path: &Path) -> Result<tempfile::TempDir, StoreError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        Some(_) => PathBuf::from("."),
        None => std::env::temp_dir(),
    };
    std::fs::create_dir_all(&parent)
        .and_then(|()| {
            tempfile::Builder::new()
                .prefix(".silo-tree-")
                .tempdir_in(&parent)
        })
        .map_err(|e| invalid(parent.display(), format!("making a scratch directory: {e}")))
}

/// Flattens the layers into `dir`, then writes the merged hives.
fn write_tree(store: &Store, image: &BuiltImage, dir: &Path) -> Result<TreeReport, StoreError> {
    let mut report = TreeReport::default();
    for layer in &image.layers {
        let digest = layer.descriptor.digest();
        let path = layer.home.ensure_in_store(store, &layer.descriptor)?;
        let layer_err =
            |e: crate::layer::LayerError| invalid(format!("layer {digest}"), e.to_string());
        let blob = crate::layer::unpack::open_blob(&path).map_err(layer_err)?;
        let unpacked = crate::layer::unpack::unpack_with(
            blob,
            dir,
            UnpackOptions {
                filter: UnpackFilter::WindowsFiles,
                apply_whiteouts: true,
            },
        )
        .map_err(layer_err)?;
        if !unpacked.refusals.is_empty() {
            let list: Vec<String> = unpacked.refusals.iter().map(|r| r.to_string()).collect();
            return Err(invalid(
                format!("layer {digest}"),
                format!("entries that cannot be written safely: {}", list.join("; ")),
            ));
        }
        report.skipped += unpacked.skipped;
    }
    write_hives(store, image, dir, &mut report)?;
    Ok(report)
}

/// Every hive a layer above its base file changed, merged and written as a full hive.
fn write_hives(
    store: &Store,
    image: &BuiltImage,
    dir: &Path,
    report: &mut TreeReport,
) -> Result<(), StoreError> {
    let view = BaseImage {
        name: "the built image".into(),
        manifest_digest: image.manifest_descriptor.digest().clone(),
        flavor: image.flavor,
        config: image.config.clone(),
        layers: image.layers.clone(),
    };
    let hives =
        image_hives(store, &view).map_err(|e| invalid("the image's registry", e.to_string()))?;
    for (hive, bytes) in hives {
        if bytes.sources().iter().all(|(_, is_base)| *is_base) {
            continue;
        }
        let name = hive.base_file_name();
        let merged = bytes
            .project(hive, &[""])
            .map_err(|e| invalid(format!("hive {name}"), e.to_string()))?
            .ok_or_else(|| {
                invalid(
                    format!("hive {name}"),
                    "a layer deleted the hive's root key; Windows cannot boot without it, and \
                     there is no file to write",
                )
            })?;
        let options = WriteOptions {
            file_name: format!(r"\SystemRoot\System32\Config\{name}"),
            ..WriteOptions::default()
        };
        let regf = write_hive(&merged, &options).map_err(|e| {
            invalid(
                format!("hive {name}"),
                format!("writing the merged hive: {e}"),
            )
        })?;
        let config = existing_case(dir, &["Windows", "System32", "config"]);
        std::fs::create_dir_all(&config)
            .and_then(|()| std::fs::write(existing_case(&config, &[name]), regf))
            .map_err(|e| invalid(config.display(), format!("writing hive {name}: {e}")))?;
        // Logs of the base hive describe the old primary; beside the merged one they would be
        // replayed over it.
        for log in ["LOG1", "LOG2"] {
            let path = existing_case(&config, &[&format!("{name}.{log}")]);
            if path.exists() {
                std::fs::remove_file(&path)
                    .map_err(|e| invalid(path.display(), format!("removing a stale log: {e}")))?;
            }
        }
        report.hives.push(name);
    }
    Ok(())
}

/// `dir` joined with `parts`, each part spelled as it already exists there (NTFS names match
/// case-insensitively; the layers may spell `config` as `Config`), else as given.
fn existing_case(dir: &Path, parts: &[&str]) -> PathBuf {
    let mut path = dir.to_path_buf();
    for part in parts {
        let found = std::fs::read_dir(&path).ok().and_then(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name())
                .find(|n| n.to_string_lossy().eq_ignore_ascii_case(part))
        });
        match found {
            Some(name) => path.push(name),
            None => path.push(part),
        }
    }
    path
}

/// Moves every entry of `from` into `to`, merging directories and replacing anything else.
fn move_into(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let is_dir = entry.file_type()?.is_dir();
        match std::fs::symlink_metadata(&target) {
            Ok(m) if is_dir && m.is_dir() => move_into(&entry.path(), &target)?,
            Ok(m) if m.is_dir() => {
                std::fs::remove_dir_all(&target)?;
                std::fs::rename(entry.path(), &target)?;
            }
            Ok(_) => {
                std::fs::remove_file(&target)?;
                std::fs::rename(entry.path(), &target)?;
            }
            Err(_) => std::fs::rename(entry.path(), &target)?,
        }
    }
    Ok(())
}

/// The tree at `root` as a tar in a fixed order (each directory's entries sorted, a directory
/// before what it holds), names relative to `root`, no owner; times and modes as unpacked.
fn tar_tree(root: &Path, out: &mut dyn Write) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut children: Vec<_> = std::fs::read_dir(root.join(&rel))?
            .map(|e| e.map(|e| rel.join(e.file_name())))
            .collect::<std::io::Result<_>>()?;
        children.sort();
        // Depth first in sorted order: pushed reversed so the smallest is taken next.
        for child in children.iter().rev() {
            if std::fs::symlink_metadata(root.join(child))?.is_dir() {
                stack.push(child.clone());
            }
        }
        for child in &children {
            let path = root.join(child);
            let meta = std::fs::symlink_metadata(&path)?;
            let mut header = tar::Header::new_gnu();
            header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
            header.set_uid(0);
            header.set_gid(0);
            if meta.is_file() {
                tar.append_data(&mut header, child, std::fs::File::open(&path)?)?;
            } else if meta.file_type().is_symlink() {
                tar.append_link(&mut header, child, std::fs::read_link(&path)?)?;
            } else {
                header.set_size(0);
                tar.append_data(&mut header, child, std::io::empty())?;
            }
        }
    }
    tar.into_inner()?.flush()
}
