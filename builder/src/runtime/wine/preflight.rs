//! Preconditions of the Wine silo, checked before anything is prepared, each failing with a
//! message that says what is missing and what to do: the Wine binaries (Debian package
//! `wine64`), root (or CAP_SYS_ADMIN) for namespaces and mounts, overlayfs in the kernel, and a
//! kernel new enough for overlayfs with whiteouts and the namespaces used.
// statfs and geteuid have no std API.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Wine installation the silo runs.
#[derive(Debug, Clone)]
pub struct WineInstall {
    /// The 64-bit loader (`/usr/lib/wine/wine64` on Debian).
    pub loader: PathBuf,
    /// `wineboot` (to make the Wine system layer).
    pub wineboot: PathBuf,
    /// The wineserver binary itself (not a wrapper script).
    pub server: PathBuf,
    /// `wine --version`, e.g. `wine-8.0 (Debian 8.0~repack-4)`.
    pub version: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error("Wine is not installed ({0} not found): install the Debian package `wine64` (apt-get install wine64), or choose --runtime none")]
    WineMissing(String),
    #[error("`{cmd}` failed: {detail}")]
    WineBroken { cmd: String, detail: String },
    #[error("the Wine silo needs root (or CAP_SYS_ADMIN) to create mount/pid/ipc/uts namespaces and mount overlayfs; run silo as root (e.g. sudo) or choose --runtime none")]
    NotRoot,
    #[error("the kernel has no overlayfs (not listed in /proc/filesystems): load it with `modprobe overlay` or use a kernel built with CONFIG_OVERLAY_FS")]
    NoOverlay,
    #[error("kernel {0} is too old for the Wine silo: Linux 4.0 or newer is needed (overlayfs with multiple lower layers and whiteouts)")]
    OldKernel(String),
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn first_existing(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// Finds Wine's binaries.
pub fn find_wine() -> Result<WineInstall, PreflightError> {
    let loader = first_existing(&["/usr/lib/wine/wine64", "/usr/lib64/wine/wine64"])
        .or_else(|| find_in_path("wine64"))
        .or_else(|| find_in_path("wine"))
        .ok_or_else(|| PreflightError::WineMissing("wine64".into()))?;
    let server = first_existing(&["/usr/lib/wine/wineserver64", "/usr/lib64/wine/wineserver64"])
        .or_else(|| find_in_path("wineserver"))
        .ok_or_else(|| PreflightError::WineMissing("wineserver".into()))?;
    let wineboot =
        find_in_path("wineboot").ok_or_else(|| PreflightError::WineMissing("wineboot".into()))?;
    let out = Command::new(&loader)
        .arg("--version")
        .output()
        .map_err(|e| PreflightError::WineBroken {
            cmd: format!("{} --version", loader.display()),
            detail: e.to_string(),
        })?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || version.is_empty() {
        return Err(PreflightError::WineBroken {
            cmd: format!("{} --version", loader.display()),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(WineInstall {
        loader,
        wineboot,
        server,
        version,
    })
}

/// Checks the host: root, overlayfs, kernel version.
pub fn check_host() -> Result<(), PreflightError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(PreflightError::NotRoot);
    }
    let fs = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !fs
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"))
    {
        // It may be a module that loads on first mount; only fail when modprobe cannot help.
        let loaded = Command::new("modprobe")
            .arg("overlay")
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !loaded {
            return Err(PreflightError::NoOverlay);
        }
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let release = release.trim();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    if major < 4 {
        return Err(PreflightError::OldKernel(release.to_string()));
    }
    Ok(())
}

/// A file-name-safe form of the Wine version, for the system layer's directory.
pub fn version_slug(version: &str) -> String {
    version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// Whether `path` is on a file system overlayfs accepts as an upper layer.
pub fn is_overlay_upper_capable(path: &Path) -> bool {
    // overlayfs refuses an upper dir on another overlay (and a few network file systems).
    const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c7630;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs writes into the zeroed struct we pass.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        if libc::statfs(c.as_ptr(), &mut st) != 0 {
            return true;
        }
        st.f_type as i64 != OVERLAYFS_SUPER_MAGIC
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_is_path_safe() {
        assert_eq!(
            version_slug("wine-8.0 (Debian 8.0~repack-4)"),
            "wine-8.0-Debian-8.0-repack-4"
        );
    }
}
