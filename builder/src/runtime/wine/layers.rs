//! Image layers as overlay lower directories: each layer tar unpacked once per diff_id into
//! `<state>/wine/layers/<hex>/` (`Files/…`, `Hives/…`, complete when `.complete` exists).
//!
//! Windows whiteouts (`Files/dir/.wh.name`) become overlayfs whiteouts (a 0/0 character device)
//! so the layer hides the path in the merged view. This is the runtime's own minimal unpacker;
//! [`unpacked_layer`] is the single entry point, to be replaced by the store's unpacked-layer
//! cache (layer codec's safe unpack) once that exists.

use std::ffi::CString;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

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
    std::fs::create_dir_all(tmp.join("Files")).map_err(io(&tmp))?;
    std::fs::create_dir_all(tmp.join("Hives")).map_err(io(&tmp))?;
    unpack(layer, &tmp)?;
    std::fs::write(tmp.join(".complete"), &layer.diff_id).map_err(io(&tmp))?;
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

fn open_decompressed(path: &Path) -> std::io::Result<Box<dyn Read>> {
    let mut f = std::fs::File::open(path)?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic)?;
    let head = std::io::Cursor::new(magic[..n].to_vec());
    let chained = BufReader::new(head.chain(f));
    Ok(if magic[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(chained))
    } else if magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Box::new(zstd::stream::read::Decoder::new(chained)?)
    } else {
        Box::new(chained)
    })
}

fn unpack(layer: &LayerRef, dest: &Path) -> Result<(), LayerError> {
    let bad = |path: &Path, message: String| LayerError::Bad {
        diff_id: layer.diff_id.clone(),
        path: path.to_path_buf(),
        message,
    };
    let io = |source| LayerError::Io {
        diff_id: layer.diff_id.clone(),
        dir: dest.to_path_buf(),
        source,
    };
    let reader = open_decompressed(&layer.blob_path).map_err(io)?;
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        let path = entry.path().map_err(io)?.into_owned();
        if path
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(bad(
                &path,
                "entry path leaves the layer (absolute or `..`)".into(),
            ));
        }
        let top = path.components().next();
        let top = top.and_then(|c| c.as_os_str().to_str()).unwrap_or("");
        if top != "Files" && top != "Hives" {
            continue; // UtilityVM/ and other top-level entries are not part of C:\.
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(hidden) = name.strip_prefix(".wh.") {
            if hidden.starts_with(".wh.") || top != "Files" {
                return Err(bad(
                    &path,
                    "opaque or misplaced whiteout in a Windows layer".into(),
                ));
            }
            let target = dest.join(path.with_file_name(hidden));
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            make_whiteout(&target).map_err(io)?;
            continue;
        }
        entry.set_preserve_mtime(true);
        entry.unpack_in(dest).map_err(io)?;
    }
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
