//! Image layers as overlay lower directories: each layer blob unpacked once per diff_id into
//! `<state>/wine/layers/<hex>/` (`Files/…` = the layer's `C:\` tree, `Hives/*_Delta`; complete
//! when `.complete` exists), with the layer codec's safe unpack (`layer::unpack_strict`, which
//! refuses anything that would write outside the target) and reader.
//!
//! Windows whiteouts (`Files/dir/.wh.name`) become overlayfs whiteouts (a 0/0 character device)
//! so the layer hides the path in the merged view. A Windows layer never has opaque whiteouts.
//!
//! Each file's and directory's security descriptor (`MSWINDOWS.rawsd`) is kept in the xattr
//! [`SD_XATTR`] of its unpacked copy: overlayfs shows it through the merged view and copies it
//! up with the file, so the commit can keep a changed entry's descriptor and derive a new
//! entry's from its parent's (see `commit.rs`).
// xattrs and whiteout device nodes (mknod) have no std API.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::path::{Path, PathBuf};

use crate::layer::unpack::open_blob;
use crate::layer::{self, LayerEntryKind, UnpackFilter};
use crate::runtime::LayerRef;

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("layer {diff_id} ({path}): {message}")]
    Bad {
        diff_id: String,
        path: PathBuf,
        message: String,
    },
    #[error("layer {diff_id}: unpacking into {dir}: {source}")]
    Io {
        diff_id: String,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The xattr holding an unpacked entry's binary security descriptor.
pub const SD_XATTR: &str = "user.silo.rawsd";

/// Sets `user.*` xattr `name` on `path` (not following symlinks).
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> std::io::Result<()> {
    let p = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::Error::other("NUL in path"))?;
    let n = CString::new(name).map_err(|_| std::io::Error::other("NUL in name"))?;
    // SAFETY: valid C strings and a buffer of value.len() bytes.
    let r = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The unpacked directory of `layer`, unpacking it first when needed.
pub fn unpacked_layer(state_dir: &Path, layer: &LayerRef) -> Result<PathBuf, LayerError> {
    let hex = layer
        .diff_id
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| LayerError::Bad {
            diff_id: layer.diff_id.clone(),
            path: layer.blob_path.clone(),
            message: "diff_id is not `sha256:<64 hex digits>`".into(),
        })?;
    let root = state_dir.join("wine").join("layers");
    let dir = root.join(hex);
    if dir.join(".complete").exists() {
        return Ok(dir);
    }
    let io = |dir: &Path| {
        let dir = dir.to_path_buf();
        let diff_id = layer.diff_id.clone();
        move |source| LayerError::Io {
            diff_id,
            dir,
            source,
        }
    };
    std::fs::create_dir_all(&root).map_err(io(&root))?;
    let tmp = root.join(format!(".{hex}.{}.tmp", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    let made = std::fs::create_dir_all(tmp.join("Files"))
        .and_then(|()| std::fs::create_dir_all(tmp.join("Hives")))
        .map_err(io(&tmp))
        .and_then(|()| unpack(layer, &tmp))
        .and_then(|()| std::fs::write(tmp.join(".complete"), &layer.diff_id).map_err(io(&tmp)));
    if let Err(e) = made {
        // A refused or failed unpack leaves nothing behind (`silo prune` removes what a killed
        // process left).
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => Ok(dir),
        // Another process finished the same layer first: use its copy.
        Err(_) if dir.join(".complete").exists() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(dir)
        }
        Err(e) => Err(io(&dir)(e)),
    }
}

fn unpack(layer: &LayerRef, dest: &Path) -> Result<(), LayerError> {
    let bad = |message: String| LayerError::Bad {
        diff_id: layer.diff_id.clone(),
        path: layer.blob_path.clone(),
        message,
    };
    let io = |source| LayerError::Io {
        diff_id: layer.diff_id.clone(),
        dir: dest.to_path_buf(),
        source,
    };
    let files = dest.join("Files");
    let blob = open_blob(&layer.blob_path).map_err(|e| bad(e.to_string()))?;
    let report = layer::unpack_strict(blob, &files, UnpackFilter::WindowsFiles)
        .map_err(|e| bad(e.to_string()))?;
    if report.diff_id.to_string() != layer.diff_id {
        return Err(bad(format!(
            "the uncompressed layer is {}, not the diff_id the image names",
            report.diff_id
        )));
    }
    for deleted in &report.whiteouts {
        if deleted.ends_with("/*") {
            return Err(bad(format!(
                "opaque whiteout for {deleted}: Windows layers have none"
            )));
        }
        let target = files.join(deleted);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        make_whiteout(&target).map_err(io)?;
    }
    // The registry deltas (skipped by the Files/ unpack) and the security descriptors.
    let blob = open_blob(&layer.blob_path).map_err(|e| bad(e.to_string()))?;
    layer::read_layer(blob, |entry, data| {
        if let (LayerEntryKind::File | LayerEntryKind::Directory, Some(sd), Some(rel)) = (
            &entry.kind,
            &entry.security_descriptor,
            entry.path.strip_prefix("Files/"),
        ) {
            let path = files.join(rel);
            if path.symlink_metadata().is_err() {
                return Ok(()); // not unpacked (filtered out, or deleted by a later whiteout)
            }
            return set_xattr(&path, SD_XATTR, sd)
                .map_err(|e| layer::LayerError::io(path.display().to_string(), e));
        }
        let LayerEntryKind::HiveDelta(hive) = entry.kind else {
            return Ok(());
        };
        let name = hive.delta_file_name();
        let path = dest.join("Hives").join(name);
        let mut out = std::fs::File::create(&path)
            .map_err(|e| layer::LayerError::io(path.display().to_string(), e))?;
        std::io::copy(data, &mut out)
            .map_err(|e| layer::LayerError::io(path.display().to_string(), e))?;
        Ok(())
    })
    .map_err(|e| bad(e.to_string()))?;
    Ok(())
}

/// An overlayfs whiteout: a character device 0/0.
pub fn make_whiteout(path: &Path) -> std::io::Result<()> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::Error::other("NUL in path"))?;
    // SAFETY: mknod with a valid C path.
    if unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, libc::makedev(0, 0)) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
