//! The Wine system layer: a `wineboot -i` prefix made once per Wine version and kept in the
//! state directory (`<state>/wine/system/<version>/`). It plays the part the host kernel plays
//! for a real silo — provided by the host, never exported into an image.
//!
//! It is the **lowest** lower layer of every silo: the image's layers lie above it, so a file an
//! image (or an earlier step) put at a path Wine also ships wins, and later steps see it. Wine's
//! own DLLs stay in charge anyway: Wine loads DLLs from `System32` builtin-first, so a real
//! Windows DLL an image carries there does not replace Wine's implementation.
//!
//! Windows layers spell directories the Windows way (`Windows/System32`, `Users`) while Wine
//! creates `windows/system32` and `users` and needs those exact names to find its DLLs. The layer
//! therefore holds the Windows spelling as real directories plus lowercase symlinks
//! (`windows → Windows`, `Windows/system32 → System32`, `users → Users`), so that both spellings
//! land in one merged directory of the overlay. The user profile is made for
//! `ContainerAdministrator` (Wine names the profile after `$USER`), and the profile's links into
//! the host's home directory are replaced by empty directories.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::preflight::{version_slug, WineInstall};

/// Bumped when the layout below changes, so old system layers are rebuilt (and artifacts of
/// another layout are not used: it is part of their key).
pub const LAYOUT_VERSION: u32 = 3;

/// The account Wine's profile is created for.
pub const PROFILE_USER: &str = "ContainerAdministrator";

/// A ready Wine system layer.
#[derive(Debug, Clone)]
pub struct SystemLayer {
    /// The prefix directory (holds `drive_c/`, `system.reg`, `userdef.reg`, `user.reg`).
    pub prefix: PathBuf,
}

impl SystemLayer {
    pub fn drive_c(&self) -> PathBuf {
        self.prefix.join("drive_c")
    }
    pub fn reg_file(&self, name: &str) -> PathBuf {
        self.prefix.join(name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SystemLayerError {
    #[error("creating the Wine system layer in {dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "`wineboot -i` failed while creating the Wine system layer in {dir} ({status}): {stderr}"
    )]
    Wineboot {
        dir: PathBuf,
        status: String,
        stderr: String,
    },
    /// An imported system layer artifact was refused (see `system_artifact`).
    #[error("{0}")]
    Artifact(String),
}

/// Case renames: (Wine's name, Windows' name), parents before children.
const CASE_RENAMES: &[(&str, &str)] = &[
    ("windows", "Windows"),
    ("Windows/system32", "System32"),
    ("Windows/syswow64", "SysWOW64"),
    ("Windows/temp", "Temp"),
    ("Windows/inf", "INF"),
    ("Windows/logs", "Logs"),
    ("Windows/help", "Help"),
    ("Windows/winsxs", "WinSxS"),
    ("users", "Users"),
];

/// Where this Wine's system layer lives: `<state>/wine/system/<version>-v<LAYOUT_VERSION>/`.
pub fn layer_dir(state_dir: &Path, wine: &WineInstall) -> PathBuf {
    state_dir
        .join("wine")
        .join("system")
        .join(format!("{}-v{LAYOUT_VERSION}", version_slug(&wine.version)))
}

/// The system layer of this Wine when it is complete in `state_dir`.
pub fn existing(state_dir: &Path, wine: &WineInstall) -> Option<SystemLayer> {
    let dir = layer_dir(state_dir, wine);
    dir.join(COMPLETE).exists().then(|| SystemLayer {
        prefix: dir.join("prefix"),
    })
}

/// Marks a finished layer (its content is the Wine version).
const COMPLETE: &str = ".complete";
/// Says how the layer was made: `wineboot`, or `cache <digest>` for an imported artifact.
pub const ORIGIN: &str = ".origin";

/// Returns the system layer for this Wine, creating it with `wineboot -i` when missing (under an
/// exclusive lock, so concurrent builds make it once).
pub fn ensure(state_dir: &Path, wine: &WineInstall) -> Result<SystemLayer, SystemLayerError> {
    make_with(state_dir, wine, "wineboot", |prefix| wineboot(wine, prefix))
}

/// Makes the system layer unless it is complete: `fill` fills a fresh prefix dir (in a temp dir
/// beside the layer's, removed again when `fill` fails); the result becomes the layer, its
/// [`ORIGIN`] file saying `origin`. The one place a system layer comes into being, for
/// `wineboot` and for an imported artifact alike.
pub fn make_with(
    state_dir: &Path,
    wine: &WineInstall,
    origin: &str,
    fill: impl FnOnce(&Path) -> Result<(), SystemLayerError>,
) -> Result<SystemLayer, SystemLayerError> {
    let dir = layer_dir(state_dir, wine);
    let layer = SystemLayer {
        prefix: dir.join("prefix"),
    };
    if dir.join(COMPLETE).exists() {
        return Ok(layer);
    }
    let root = dir.parent().expect("layer_dir has a parent").to_path_buf();
    std::fs::create_dir_all(&root).map_err(io_err(&root))?;
    let lock_path = root.join(".lock");
    let lock = std::fs::File::create(&lock_path).map_err(io_err(&lock_path))?;
    // SAFETY: flock on a descriptor we own; released when `lock` is dropped.
    #[allow(unsafe_code)] // file locks have no std API before Rust 1.89.
    let locked = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    if locked != 0 {
        return Err(io_err(&lock_path)(std::io::Error::last_os_error()));
    }
    if dir.join(COMPLETE).exists() {
        return Ok(layer);
    }
    let name = dir
        .file_name()
        .expect("layer_dir has a name")
        .to_string_lossy();
    let tmp = root.join(format!(".{name}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    if let Err(e) = fill(&tmp.join("prefix")) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    std::fs::write(tmp.join(ORIGIN), origin).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, &dir).map_err(io_err(&dir))?;
    std::fs::write(dir.join(COMPLETE), &wine.version).map_err(io_err(&dir))?;
    Ok(layer)
}

fn io_err(dir: &Path) -> impl FnOnce(std::io::Error) -> SystemLayerError {
    let dir = dir.to_path_buf();
    move |source| SystemLayerError::Io { dir, source }
}

/// `wineboot -i` into `prefix`, shaped and settled.
fn wineboot(wine: &WineInstall, prefix: &Path) -> Result<(), SystemLayerError> {
    let home = prefix.with_file_name("home");
    std::fs::create_dir_all(&home).map_err(io_err(&home))?;
    let out = Command::new(&wine.wineboot)
        .arg("-i")
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("WINEPREFIX", prefix)
        .env("WINEDEBUG", "-all")
        .env("WINELOADER", &wine.loader)
        .env("HOME", &home)
        .env("USER", PROFILE_USER)
        .env("LOGNAME", PROFILE_USER)
        .env("LANG", "C.UTF-8")
        .output()
        .map_err(io_err(prefix))?;
    // wineboot returns before wineserver has saved the registry; wait for it.
    let flushed = Command::new(&wine.server)
        .arg("-w")
        .env("WINEPREFIX", prefix)
        .env("HOME", &home)
        .status();
    if !out.status.success() || !prefix.join("system.reg").exists() || flushed.is_err() {
        return Err(SystemLayerError::Wineboot {
            dir: prefix.to_path_buf(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    shape_prefix(prefix).map_err(io_err(prefix))?;
    // Twice: the first start rewrites what changed with the new layout (fonts, devices), the
    // second one what the first left half-done.
    for _ in 0..2 {
        settle(wine, prefix, &home).map_err(io_err(prefix))?;
    }
    std::fs::remove_dir_all(&home).map_err(io_err(&home))
}

/// Runs one do-nothing process on the shaped prefix the way a silo runs one, so that what Wine
/// rewrites on every start (fonts it can no longer see on the removed `Z:` drive, network
/// cards…) is already in the layer's registry and does not show up as a step's change.
fn settle(wine: &WineInstall, prefix: &Path, home: &Path) -> std::io::Result<()> {
    let status = Command::new(&wine.loader)
        .args(["cmd", "/c", "exit"])
        .current_dir(prefix.join("drive_c"))
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("WINEPREFIX", prefix)
        .env("WINEDEBUG", "-all")
        .env("WINELOADER", &wine.loader)
        .env("WINEDLLOVERRIDES", "winemenubuilder.exe=d")
        .env("HOME", home)
        .env("USER", PROFILE_USER)
        .env("LOGNAME", PROFILE_USER)
        .env("LANG", "C.UTF-8")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()?;
    Command::new(&wine.server)
        .arg("-w")
        .env("WINEPREFIX", prefix)
        .env("HOME", home)
        .status()?;
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "a first `wine cmd /c exit` in the new prefix failed ({status})"
        )));
    }
    Ok(())
}

/// Windows spellings with lowercase links, no links into the host, no `Z:` drive.
fn shape_prefix(prefix: &Path) -> std::io::Result<()> {
    let drive = prefix.join("drive_c");
    for (from, to) in CASE_RENAMES {
        let from_path = drive.join(from);
        let Some(parent) = from_path.parent() else {
            continue;
        };
        let to_path = parent.join(to);
        if from_path.is_dir() && !from_path.is_symlink() && !to_path.exists() {
            std::fs::rename(&from_path, &to_path)?;
            std::os::unix::fs::symlink(to, &from_path)?;
        }
    }
    replace_outward_links(&drive.join("Users"))?;
    let z = prefix.join("dosdevices").join("z:");
    if z.is_symlink() {
        std::fs::remove_file(z)?;
    }
    Ok(())
}

/// Wine links profile folders (Desktop, Documents…) to `$HOME`; a silo gets real directories.
fn replace_outward_links(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let ft = entry.file_type()?;
        if ft.is_symlink() {
            let target = std::fs::read_link(&path)?;
            if target.is_absolute() {
                std::fs::remove_file(&path)?;
                std::fs::create_dir(&path)?;
            }
        } else if ft.is_dir() {
            replace_outward_links(&path)?;
        }
    }
    Ok(())
}
