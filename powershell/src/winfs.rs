//! Windows paths over the Unix directory that is drive C: — which provider a path belongs to
//! (FileSystem, Registry, Environment), resolving `C:\…`, `c:/…`, relative paths, `..` and `.`
//! against the current location, matching existing components case-insensitively (NTFS is
//! case-insensitive, the Unix directory is not) and keeping the spelling of what exists.
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};

use crate::host::Hive;

/// Where a PowerShell path points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A file-system path: its normalised Windows form (`C:\Program Files\x`) and components
    /// below `C:\`.
    File(WinPath),
    /// A registry key: hive and `\`-separated subpath (may be empty).
    Registry(Hive, String),
    /// `env:` (name None) or `env:NAME`.
    Env(Option<String>),
}

/// A normalised absolute path on drive C: (components below the root, script spelling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WinPath {
    pub parts: Vec<String>,
}

impl WinPath {
    pub fn root() -> WinPath {
        WinPath { parts: Vec::new() }
    }

    /// `C:\a\b` (the root is `C:\`).
    pub fn display(&self) -> String {
        format!("C:\\{}", self.parts.join("\\"))
    }

    pub fn join(&self, name: &str) -> WinPath {
        let mut parts = self.parts.clone();
        parts.push(name.to_string());
        WinPath { parts }
    }

    pub fn parent(&self) -> Option<WinPath> {
        if self.parts.is_empty() {
            return None;
        }
        Some(WinPath {
            parts: self.parts[..self.parts.len() - 1].to_vec(),
        })
    }

    pub fn name(&self) -> String {
        self.parts.last().cloned().unwrap_or_default()
    }

    /// The Unix path under `drive_c`, each existing component found case-insensitively.
    pub fn unix(&self, drive_c: &Path) -> PathBuf {
        let mut p = drive_c.to_path_buf();
        let mut exists = true;
        for part in &self.parts {
            if exists {
                match find_ci(&p, part) {
                    Some(actual) => {
                        p.push(actual);
                        continue;
                    }
                    None => exists = false,
                }
            }
            p.push(part);
        }
        p
    }

    /// The path with each existing component spelled as it is on disk.
    pub fn canonical(&self, drive_c: &Path) -> WinPath {
        let mut p = drive_c.to_path_buf();
        let mut parts = Vec::new();
        let mut exists = true;
        for part in &self.parts {
            if exists {
                if let Some(actual) = find_ci(&p, part) {
                    p.push(&actual);
                    parts.push(actual);
                    continue;
                }
                exists = false;
            }
            parts.push(part.clone());
        }
        WinPath { parts }
    }
}

/// The entry of `dir` named `name` ignoring case (the exact spelling first).
pub fn find_ci(dir: &Path, name: &str) -> Option<String> {
    if dir.join(name).symlink_metadata().is_ok() {
        return Some(name.to_string());
    }
    let lower = name.to_lowercase();
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let n = e.file_name().to_string_lossy().into_owned();
        (n.to_lowercase() == lower).then_some(n)
    })
}

/// A path that is not one the engine can reach.
#[derive(Debug, Clone)]
pub struct PathError(pub String);

fn hive_of(name: &str) -> Option<Hive> {
    match name.to_ascii_uppercase().as_str() {
        "HKLM" | "HKEY_LOCAL_MACHINE" => Some(Hive::LocalMachine),
        "HKCU" | "HKEY_CURRENT_USER" => Some(Hive::CurrentUser),
        _ => None,
    }
}

fn clean_key(rest: &str) -> String {
    rest.split(['\\', '/'])
        .filter(|c| !c.is_empty())
        .collect::<Vec<_>>()
        .join("\\")
}

/// Resolves a PowerShell path against the current location `cwd` (a Windows path, `C:\…`,
/// or a registry location `HKLM:\…`).
pub fn resolve(cwd: &str, path: &str) -> Result<Target, PathError> {
    let p = path.trim();
    if p.is_empty() {
        return Err(PathError(
            "Cannot bind argument to parameter 'Path' because it is an empty string.".into(),
        ));
    }
    // Provider-qualified paths.
    let lower = p.to_ascii_lowercase();
    if let Some(rest) = lower
        .strip_prefix("microsoft.powershell.core\\registry::")
        .or_else(|| lower.strip_prefix("registry::"))
    {
        let offset = p.len() - rest.len();
        let rest = &p[offset..];
        let (hive, sub) = rest.split_once(['\\', '/']).unwrap_or((rest, ""));
        let hive = hive_of(hive).ok_or_else(|| {
            PathError(format!(
                "registry hive {hive} is not supported (HKLM and HKCU are)"
            ))
        })?;
        return Ok(Target::Registry(hive, clean_key(sub)));
    }
    if let Some((drive, rest)) = p.split_once(':') {
        if !drive.is_empty() && !drive.contains(['\\', '/']) {
            if let Some(h) = hive_of(drive) {
                return Ok(Target::Registry(h, clean_key(rest)));
            }
            if drive.eq_ignore_ascii_case("env") {
                let name = rest.trim_start_matches(['\\', '/']);
                return Ok(Target::Env(if name.is_empty() {
                    None
                } else {
                    Some(name.to_string())
                }));
            }
            if drive.eq_ignore_ascii_case("c") {
                return Ok(Target::File(normalize(WinPath::root(), rest)?));
            }
            if drive.len() == 1 {
                return Err(PathError(format!(
                    "Cannot find drive. A drive with the name '{drive}' does not exist (the Wine silo has only C:)."
                )));
            }
            return Err(PathError(format!(
                "Cannot find drive. A drive with the name '{drive}' does not exist."
            )));
        }
    }
    if p.starts_with("\\\\") || p.starts_with("//") {
        return Err(PathError(format!(
            "UNC path {p} is not reachable in the Wine silo"
        )));
    }
    // Relative to the current location (which may be a registry location).
    match resolve(cwd, &cwd_root(cwd))? {
        Target::File(_) => {
            let base = if p.starts_with(['\\', '/']) {
                WinPath::root()
            } else {
                file_cwd(cwd)?
            };
            Ok(Target::File(normalize(base, p)?))
        }
        Target::Registry(h, sub) => {
            let joined = if sub.is_empty() {
                p.to_string()
            } else {
                format!("{sub}\\{p}")
            };
            Ok(Target::Registry(h, clean_key(&normalize_key(&joined))))
        }
        Target::Env(_) => Ok(Target::Env(Some(p.to_string()))),
    }
}

fn cwd_root(cwd: &str) -> String {
    cwd.to_string()
}

fn normalize_key(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split(['\\', '/']) {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("\\")
}

fn file_cwd(cwd: &str) -> Result<WinPath, PathError> {
    match cwd.split_once(':') {
        Some((d, rest)) if d.eq_ignore_ascii_case("c") => normalize(WinPath::root(), rest),
        _ => Err(PathError(format!(
            "current location {cwd} is not on drive C:"
        ))),
    }
}

/// Applies `rest` (relative or rooted, `\` or `/`) to `base`, resolving `.` and `..`.
pub fn normalize(base: WinPath, rest: &str) -> Result<WinPath, PathError> {
    let mut parts = if rest.starts_with(['\\', '/']) {
        Vec::new()
    } else {
        base.parts
    };
    for c in rest.split(['\\', '/']) {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => {
                if c.contains(['<', '>', '"', '|', '\0']) || c.contains(':') {
                    return Err(PathError(format!("Illegal characters in path: {rest}")));
                }
                // Windows drops trailing dots and spaces from names.
                let trimmed = c.trim_end_matches(['.', ' ']);
                parts.push(if trimmed.is_empty() {
                    c.to_string()
                } else {
                    trimmed.to_string()
                });
            }
        }
    }
    Ok(WinPath { parts })
}

/// Converts a Unix path under `drive_c` back to its Windows form.
pub fn to_windows(drive_c: &Path, unix: &Path) -> Option<WinPath> {
    let rel = unix.strip_prefix(drive_c).ok()?;
    Some(WinPath {
        parts: rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect(),
    })
}

/// Expands a wildcard path: every existing file-system path matching it (components with
/// wildcards matched case-insensitively), sorted as Windows lists them (by name, ignoring case).
pub fn expand_wildcards(drive_c: &Path, pattern: &WinPath) -> Vec<WinPath> {
    let mut current = vec![WinPath::root()];
    for part in &pattern.parts {
        let mut next = Vec::new();
        for base in &current {
            let dir = base.unix(drive_c);
            if crate::ops::has_wildcards(part) {
                let mut names: Vec<String> = match std::fs::read_dir(&dir) {
                    Ok(rd) => rd
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect(),
                    Err(_) => Vec::new(),
                };
                names.sort_by_key(|n| n.to_lowercase());
                for n in names {
                    if crate::ops::wildcard_match(part, &n, false) {
                        next.push(base.join(&n));
                    }
                }
            } else if let Some(actual) = find_ci(&dir, part) {
                next.push(base.join(&actual));
            }
        }
        current = next;
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_drive_relative_and_provider_paths() {
        let t = resolve("C:\\app", "..\\Tools\\.\\x.exe").unwrap();
        assert_eq!(
            t,
            Target::File(WinPath {
                parts: vec!["Tools".into(), "x.exe".into()]
            })
        );
        let t = resolve("C:\\app", "c:/Program Files/Go").unwrap();
        assert!(matches!(t, Target::File(w) if w.display() == "C:\\Program Files\\Go"));
        assert_eq!(
            resolve("C:\\", "HKLM:\\SOFTWARE\\Foo").unwrap(),
            Target::Registry(Hive::LocalMachine, "SOFTWARE\\Foo".into())
        );
        assert_eq!(
            resolve("C:\\", "Registry::HKEY_CURRENT_USER\\Environment").unwrap(),
            Target::Registry(Hive::CurrentUser, "Environment".into())
        );
        assert_eq!(
            resolve("C:\\", "env:PATH").unwrap(),
            Target::Env(Some("PATH".into()))
        );
        assert!(resolve("C:\\", "D:\\x").is_err());
        assert!(resolve("C:\\", "\\\\server\\share").is_err());
    }

    #[test]
    fn matches_existing_components_case_insensitively() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("Program Files/Go")).unwrap();
        let w = WinPath {
            parts: vec!["program files".into(), "GO".into(), "bin".into()],
        };
        assert_eq!(w.unix(d.path()), d.path().join("Program Files/Go/bin"));
        assert_eq!(
            w.canonical(d.path()).display(),
            "C:\\Program Files\\Go\\bin"
        );
    }
}
