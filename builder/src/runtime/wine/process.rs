//! From a [`ProcessSpec`] to what the silo executes: the exact Windows command line (handed to
//! `silo-launch.exe`, see [`super::launcher`]), the environment, and the Unix working directory
//! for the Windows `WORKDIR`.
//!
//! - Shell form arrives with `command_line` set (e.g. `cmd /S /C echo hi`): Windows receives it
//!   verbatim, as Docker passes it. Exec form is joined with Windows quoting.
//! - `ENV` values (build args too) are set by the launcher over the environment Wine builds from
//!   the registry, as a container's `Env` is on Windows: they win over the machine and user
//!   Environment keys, and `PATH` replaces the machine PATH ([`step_environment`]).
//! - `USER`: Wine has one user and no access checks. Every step runs as the profile the Wine
//!   system layer was made for (`ContainerAdministrator`); another `USER` (e.g.
//!   `ContainerUser`) sets `%USERNAME%` and, through [`owner_sid`], the owner of what the step
//!   creates.
//! - A program the silo cannot run is refused up front: Wine ships `powershell.exe` and
//!   `pwsh.exe` only as stubs, so unless an image layer provides them they are reported missing.

use std::path::{Path, PathBuf};

use super::launcher::CMDLINE_VAR;
use crate::runtime::winargv::join_args;
use crate::runtime::ProcessSpec;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("the step has no command")]
    Empty,
    #[error("working directory `{0}` is not on drive C: (the silo has only C:)")]
    NotDriveC(String),
    #[error("{0}")]
    ShellUnavailable(String),
    #[error(
        "USER {0}: the Wine silo owns what a step creates by its USER's SID and knows \
         ContainerAdministrator, ContainerUser, Administrators, Users, SYSTEM and SIDs \
         (S-1-5-…); other accounts exist only in the image's SAM, which silo does not read"
    )]
    UnknownUser(String),
}

/// The SID owning what a step run as `user` creates (empty: ContainerAdministrator).
pub fn owner_sid(user: &str) -> Result<crate::layer::sd::Sid, ProcessError> {
    crate::layer::owner::resolve_chown(user.trim())
        .map_err(|_| ProcessError::UnknownUser(user.to_string()))
}

/// The Windows command line of the step.
pub fn command_line(spec: &ProcessSpec) -> Result<String, ProcessError> {
    match &spec.command_line {
        Some(cl) if !cl.trim().is_empty() => Ok(cl.clone()),
        _ if !spec.args.is_empty() => Ok(join_args(&spec.args)),
        _ => Err(ProcessError::Empty),
    }
}

/// The program name the command line starts (first argv element, unquoted).
pub fn program_name(spec: &ProcessSpec, command_line: &str) -> String {
    if let Some(first) = spec.args.first() {
        return first.clone();
    }
    let cl = command_line.trim_start();
    if let Some(rest) = cl.strip_prefix('"') {
        rest.split('"').next().unwrap_or("").to_string()
    } else {
        cl.split([' ', '\t']).next().unwrap_or("").to_string()
    }
}

/// Programs Wine provides only as non-functional stubs.
const WINE_STUBS: &[&str] = &["powershell", "pwsh"];

/// Refuses a program the silo cannot really run: a Wine stub the image does not provide.
/// `image_lowers` are the image layers' `Files/` directories (not the Wine system layer).
pub fn check_runnable(program: &str, image_lowers: &[PathBuf]) -> Result<(), ProcessError> {
    let base = program
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or(program)
        .to_ascii_lowercase();
    let stem = base.strip_suffix(".exe").unwrap_or(&base);
    if !WINE_STUBS.contains(&stem) {
        return Ok(());
    }
    let candidates = [
        "Windows/System32/WindowsPowerShell/v1.0/powershell.exe",
        "Program Files/PowerShell/7/pwsh.exe",
    ];
    let provided = image_lowers.iter().any(|l| {
        candidates
            .iter()
            .any(|c| resolve_case_insensitive(l, c).is_some_and(|p| p.is_file()))
    });
    if provided {
        return Ok(());
    }
    Err(ProcessError::ShellUnavailable(format!(
        "`{program}` is not available in this image: the Wine silo has no PowerShell (Wine's powershell.exe is a stub). \
         Use the default shell (SHELL [\"cmd\", \"/S\", \"/C\"]), or build on a base image whose layers provide PowerShell"
    )))
}

/// Finds `rel` (`/`-separated) below `root`, matching each component case-insensitively.
pub fn resolve_case_insensitive(root: &Path, rel: &str) -> Option<PathBuf> {
    let mut cur = root.to_path_buf();
    for comp in rel.split('/').filter(|c| !c.is_empty()) {
        let exact = cur.join(comp);
        if exact.symlink_metadata().is_ok() {
            cur = exact;
            continue;
        }
        let found = std::fs::read_dir(&cur).ok()?.flatten().find(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(comp))
        })?;
        cur = found.path();
    }
    Some(cur)
}

/// `C:\app\src` → `app/src` (relative to the drive root). Empty means `C:\`.
pub fn workdir_relative(working_dir: &str) -> Result<String, ProcessError> {
    let w = working_dir.trim().replace('/', "\\");
    let rest = if w.len() >= 2 && w.as_bytes()[1] == b':' {
        if !w[..1].eq_ignore_ascii_case("c") {
            return Err(ProcessError::NotDriveC(working_dir.to_string()));
        }
        &w[2..]
    } else {
        &w[..]
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in rest.split('\\') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

/// Maps a relative Windows path to the spelling that already exists in one of `dirs` (the
/// upper dir and the lowers), so `C:\windows\temp` lands in `Windows/Temp`; unknown tails keep
/// their spelling.
pub fn existing_spelling(dirs: &[PathBuf], rel: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for comp in rel.split('/').filter(|c| !c.is_empty()) {
        let prefix = out.join("/");
        let found = dirs.iter().find_map(|d| {
            let parent = if prefix.is_empty() {
                d.clone()
            } else {
                d.join(&prefix)
            };
            if parent.join(comp).symlink_metadata().is_ok() {
                return Some(comp.to_string());
            }
            std::fs::read_dir(&parent).ok()?.flatten().find_map(|e| {
                let n = e.file_name().to_str()?.to_string();
                n.eq_ignore_ascii_case(comp).then_some(n)
            })
        });
        out.push(found.unwrap_or_else(|| comp.to_string()));
    }
    out.join("/")
}

/// The variables the step's process gets over the environment Wine builds from the registry
/// (machine, then user Environment keys): `ENV`/build args — `PATH` included, which replaces
/// the machine PATH as a container's `Env` does on Windows — and `USERNAME` for a `USER` other
/// than the profile's. The launcher sets them (see [`super::launcher::env_block`]): Wine would
/// otherwise let a registry value win over a Unix environment variable of the same name.
pub fn step_environment(spec: &ProcessSpec) -> Vec<(String, String)> {
    let mut env = Vec::new();
    let user = spec.user.trim();
    if !user.is_empty() && !user.eq_ignore_ascii_case(super::system_layer::PROFILE_USER) {
        env.push(("USERNAME".to_string(), user.to_string()));
    }
    for (k, v) in &spec.env {
        env.push((k.clone(), v.clone()));
    }
    env
}

/// The Unix environment of the step's Wine process: Wine's own variables, the step's (also
/// set by the launcher, see [`step_environment`]; `PATH` only there, Wine ignores the Unix
/// one) and the launcher's command line.
pub fn environment(
    spec: &ProcessSpec,
    command_line: &str,
    fixed: &[(String, String)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = fixed.to_vec();
    for (k, v) in step_environment(spec) {
        if !k.eq_ignore_ascii_case("PATH") && !fixed.iter().any(|(f, _)| *f == k) {
            env.push((k, v));
        }
    }
    env.push((CMDLINE_VAR.into(), command_line.to_string()));
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workdir_maps_to_drive_relative_paths() {
        assert_eq!(workdir_relative(r"C:\app\src").unwrap(), "app/src");
        assert_eq!(workdir_relative("c:/app/../x/.").unwrap(), "x");
        assert_eq!(workdir_relative(r"\app").unwrap(), "app");
        assert_eq!(workdir_relative("").unwrap(), "");
        assert!(workdir_relative(r"D:\x").is_err());
    }

    #[test]
    fn powershell_is_refused_unless_the_image_has_it() {
        let t = tempfile::tempdir().unwrap();
        let e = check_runnable("powershell", &[t.path().to_path_buf()]).unwrap_err();
        assert!(e.to_string().contains("PowerShell"), "{e}");
        let ps = t.path().join("Windows/System32/WindowsPowerShell/v1.0");
        std::fs::create_dir_all(&ps).unwrap();
        std::fs::write(ps.join("powershell.exe"), "MZ").unwrap();
        check_runnable(
            r"C:\Windows\System32\WindowsPowerShell\v1.0\PowerShell.exe",
            &[t.path().to_path_buf()],
        )
        .unwrap();
        check_runnable("cmd", &[]).unwrap();
    }
}
