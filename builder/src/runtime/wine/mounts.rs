//! `RUN --mount` in the Wine silo: where each [`StepMount`] goes under the prefix's `drive_c`
//! (a [`silo::Bind`]), and the mount points it leaves in the overlay's upper dir.
//!
//! The init creates a missing mount point (and its missing parents) in the overlay, so they
//! land in the upper dir — and would be committed as empty directories or files. Like
//! BuildKit's mount-stub cleanup, [`Stubs`] notes which paths of each target's chain were not
//! in the upper dir before the step, and afterwards removes those that are still empty: what
//! only the mount made. Whatever the step really wrote there stays (mounts cover their target,
//! so only its parents can receive writes, and a parent that did is not empty).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::process;
use super::silo::Bind;
use crate::runtime::StepMount;

/// A mount placed under `drive_c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub bind: Bind,
    /// The target relative to `drive_c`, `/`-separated, in the spelling that exists.
    pub rel: String,
}

/// Places `mounts` under `drive_c`; `dirs` are the upper dir then the lower dirs (a target that
/// exists there keeps its spelling, as Windows paths are case-insensitive).
pub fn place(
    mounts: &[StepMount],
    dirs: &[PathBuf],
    drive_c: &Path,
) -> anyhow::Result<Vec<Placed>> {
    let mut placed: Vec<Placed> = Vec::new();
    for mount in mounts {
        let rel = process::workdir_relative(&mount.target)
            .with_context(|| format!("RUN --mount target {}", mount.target))?;
        if rel.is_empty() {
            bail!(
                "RUN --mount target {}: cannot mount over C:\\",
                mount.target
            );
        }
        let rel = process::existing_spelling(dirs, &rel);
        let meta = std::fs::metadata(&mount.source).with_context(|| {
            format!(
                "RUN --mount target {}: its source {}",
                mount.target,
                mount.source.display()
            )
        })?;
        let overlaps = |other: &str| {
            let (a, b) = (
                crate::layer::ntfs_fold(&rel),
                crate::layer::ntfs_fold(other),
            );
            a == b || a.starts_with(&format!("{b}/")) || b.starts_with(&format!("{a}/"))
        };
        if let Some(other) = placed.iter().find(|p| overlaps(&p.rel)) {
            bail!(
                "RUN --mount target {}: it overlaps the mount at C:\\{} (give each mount its own \
                 directory)",
                mount.target,
                other.rel.replace('/', "\\")
            );
        }
        placed.push(Placed {
            bind: Bind {
                source: mount.source.clone(),
                target: drive_c.join(&rel),
                read_only: mount.read_only,
                file: meta.is_file(),
            },
            rel,
        });
    }
    Ok(placed)
}

/// The paths of the mounts' chains that were not in the upper dir before the step.
#[derive(Debug, Default)]
pub struct Stubs {
    /// Relative to the upper dir, deepest first; `true` for a file mount's own target.
    candidates: Vec<(String, bool)>,
}

impl Stubs {
    /// Notes, before the step runs, which chain paths the upper dir does not have.
    pub fn before(upper: &Path, placed: &[Placed]) -> Stubs {
        let mut candidates = Vec::new();
        for mount in placed {
            let parts: Vec<&str> = mount.rel.split('/').collect();
            for depth in (1..=parts.len()).rev() {
                let rel = parts[..depth].join("/");
                let is_target = depth == parts.len();
                if upper.join(&rel).symlink_metadata().is_err() {
                    candidates.push((rel, is_target && mount.bind.file));
                }
            }
        }
        Stubs { candidates }
    }

    /// Removes, after the step, those that are still empty. Best effort: what cannot be
    /// removed is a change the step made and stays in its layer.
    pub fn remove(&self, upper: &Path) {
        for (rel, file) in &self.candidates {
            let path = upper.join(rel);
            let Ok(meta) = path.symlink_metadata() else {
                continue;
            };
            if *file && meta.is_file() && meta.len() == 0 {
                let _ = std::fs::remove_file(&path);
            } else if meta.is_dir() {
                let _ = std::fs::remove_dir(&path); // fails unless empty
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn mount(source: &Path, target: &str) -> StepMount {
        StepMount {
            source: source.to_path_buf(),
            target: target.into(),
            read_only: true,
        }
    }

    #[test]
    fn targets_keep_existing_spellings_and_overlaps_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (upper, lower, src) = (
            dir.path().join("u"),
            dir.path().join("l"),
            dir.path().join("s"),
        );
        fs::create_dir_all(lower.join("Program Files")).unwrap();
        fs::create_dir_all(&upper).unwrap();
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("f"), b"x").unwrap();
        let dirs = [upper.clone(), lower];
        let drive_c = Path::new("/prefix/drive_c");
        let placed = place(
            &[
                mount(&src, r"C:\program files\tool"),
                mount(&src.join("f"), r"C:\run\secrets\f"),
            ],
            &dirs,
            drive_c,
        )
        .unwrap();
        assert_eq!(placed[0].rel, "Program Files/tool");
        assert_eq!(placed[0].bind.target, drive_c.join("Program Files/tool"));
        assert!(!placed[0].bind.file && placed[1].bind.file);
        for (mounts, needle) in [
            (
                vec![mount(&src, r"C:\a"), mount(&src, r"C:\A\b")],
                "overlaps",
            ),
            (vec![mount(&src, r"C:\")], "cannot mount over"),
            (vec![mount(&src, r"D:\x")], "RUN --mount target D:\\x"),
            (
                vec![mount(&dir.path().join("missing"), r"C:\x")],
                "its source",
            ),
        ] {
            let err = format!("{:#}", place(&mounts, &dirs, drive_c).unwrap_err());
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn only_what_the_mount_made_and_the_step_left_empty_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let upper = dir.path().join("upper");
        fs::create_dir_all(upper.join("kept")).unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(&src).unwrap();
        fs::write(dir.path().join("secret"), b"s").unwrap();
        let drive_c = dir.path().join("drive_c");
        let placed = place(
            &[
                mount(&src, r"C:\kept\m"),
                mount(&src, r"C:\deep\er\m"),
                mount(&src, r"C:\busy\m"),
                mount(&dir.path().join("secret"), r"C:\run\secrets\tok"),
            ],
            std::slice::from_ref(&upper),
            &drive_c,
        )
        .unwrap();
        let stubs = Stubs::before(&upper, &placed);
        // What the init and the step leave: every mount point, and a real file in `busy`.
        for p in ["kept/m", "deep/er/m", "busy/m", "run/secrets"] {
            fs::create_dir_all(upper.join(p)).unwrap();
        }
        fs::write(upper.join("run/secrets/tok"), b"").unwrap();
        fs::write(upper.join("busy/real.txt"), b"step output").unwrap();
        stubs.remove(&upper);
        assert!(upper.join("kept").is_dir(), "it was there before the step");
        assert!(!upper.join("kept/m").exists());
        assert!(!upper.join("deep").exists());
        assert!(!upper.join("run").exists());
        assert!(upper.join("busy/real.txt").is_file() && !upper.join("busy/m").exists());
    }
}
