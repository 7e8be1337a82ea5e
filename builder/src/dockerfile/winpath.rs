//! Windows path rules for `windows/*` targets: WORKDIR and COPY/ADD destination normalization.
//!
//! Two modes, selectable per build:
//! - [`PathMode::BuildKit`] (default) follows BuildKit's `util/system/path.go` and
//!   `dockerfile2llb/convert.go: pathRelativeToWorkingDir`: only drive `C:` (any case), drive
//!   letters are stripped, `\` and `/` are both separators, the config `WorkingDir` is `\app`
//!   (backslashes, no drive) and COPY destinations are `/app/x` with a trailing separator kept.
//! - [`PathMode::Classic`] follows the classic moby builder (`dispatchers_windows.go:
//!   normalizeWorkdirWindows`, `copy_windows.go: normalizeDest`): WorkingDir `C:\app` with an
//!   upper-case drive letter and destinations like `\app\x\`.
//!
//! BuildKit's functions use the *host's* `filepath`; we implement the semantics of BuildKit
//! running on Windows (backslash is a separator), which is what WCOW builds see.

/// Which builder's path conventions to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathMode {
    /// BuildKit: WorkingDir `\app`, destinations `/app/x`.
    #[default]
    BuildKit,
    /// Classic docker builder: WorkingDir `C:\app`, destinations `\app\x`.
    Classic,
}

/// A Windows path the builder refuses, with BuildKit's or moby's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WinPathError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, WinPathError> {
    Err(WinPathError(msg.into()))
}

/// Go's `path.Clean` over separator `sep`: collapses repeated separators, `.` and `..`.
fn clean_with(path: &str, sep: char) -> String {
    let rooted = path.starts_with(sep);
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split(sep) {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let body = parts.join(&sep.to_string());
    match (rooted, body.is_empty()) {
        (true, _) => format!("{sep}{body}"),
        (false, true) => ".".to_string(),
        (false, false) => body,
    }
}

/// `path.Clean` with `/`.
pub fn clean_slash(path: &str) -> String {
    clean_with(path, '/')
}

fn to_slash(path: &str) -> String {
    path.replace('\\', "/")
}

/// BuildKit's `CheckSystemDriveAndRemoveDriveLetter` for a Windows target: refuses `C:` alone,
/// UNC paths and drives other than `C:`, strips the drive, converts `\` to `/` and cleans.
/// With `keep_slash` a trailing separator of the input survives the cleaning.
pub fn check_system_drive(path: &str, keep_slash: bool) -> Result<String, WinPathError> {
    let bytes = path.as_bytes();
    if bytes.len() == 2 && bytes[1] == b':' {
        return err(format!("No relative path specified in \"{path}\""));
    }
    if bytes.len() >= 2 && matches!(bytes[0], b'/' | b'\\') && matches!(bytes[1], b'/' | b'\\') {
        return err("UNC paths are not supported");
    }
    let rest = match path.split_once(':') {
        None => path,
        Some((drive, rest)) => {
            if !drive.eq_ignore_ascii_case("c") {
                return err("The specified path is not on the system drive (C:)");
            }
            rest
        }
    };
    let slashed = to_slash(rest);
    let mut cleaned = clean_slash(&slashed);
    if keep_slash && slashed.ends_with('/') && !cleaned.ends_with('/') {
        cleaned.push('/');
    }
    Ok(cleaned)
}

/// BuildKit's `IsAbs` for Windows: absolute once the drive is stripped (`C:\x`, `\x`, `/x`).
pub fn is_abs(path: &str) -> bool {
    check_system_drive(path, false).is_ok_and(|p| p.starts_with('/'))
}

fn wrap(context: &str, e: WinPathError) -> WinPathError {
    WinPathError(format!("{context}: {}", e.0))
}

/// BuildKit's `NormalizePath(parent, path, "windows", keepSlash)`: an absolute `/`-separated
/// path without drive letter.
pub fn normalize_path(parent: &str, path: &str, keep_slash: bool) -> Result<String, WinPathError> {
    let original = to_slash(path);
    let parent = if parent.is_empty() { "/" } else { parent };
    let mut parent =
        check_system_drive(parent, false).map_err(|e| wrap("removing drive letter", e))?;
    if !is_abs(&parent) {
        parent = clean_slash(&format!("/{parent}"));
    }
    let path = if path.is_empty() {
        parent.as_str()
    } else {
        path
    };
    let mut path = check_system_drive(path, false).map_err(|e| wrap("removing drive letter", e))?;
    if !is_abs(&path) {
        path = clean_slash(&format!("{parent}/{path}"));
    }
    if keep_slash {
        if original.ends_with('/') && !path.ends_with('/') {
            path.push('/');
        } else if original.ends_with("/.") {
            if path != "/" {
                path.push('/');
            }
            path.push('.');
        }
    }
    Ok(path)
}

/// The new working directory after `WORKDIR requested` when the current one is `current`
/// (empty when unset), in the form the image config stores.
pub fn normalize_workdir(
    mode: PathMode,
    current: &str,
    requested: &str,
) -> Result<String, WinPathError> {
    match mode {
        PathMode::BuildKit => {
            let path = normalize_path(current, requested, false)
                .map_err(|e| wrap("normalizing working directory", e))?;
            Ok(path.replace('/', "\\"))
        }
        PathMode::Classic => classic_workdir(current, requested),
    }
}

/// The destination of `COPY/ADD … dest` relative to the working directory `workdir` (config
/// form, empty when unset). BuildKit mode gives a `/`-separated absolute path, classic mode a
/// `\`-separated one (relative when there is no working directory, as moby does).
pub fn normalize_copy_dest(
    mode: PathMode,
    workdir: &str,
    dest: &str,
) -> Result<String, WinPathError> {
    match mode {
        PathMode::BuildKit => {
            let dir = normalize_path("/", workdir, false)?;
            let p = check_system_drive(dest, true).map_err(|e| {
                let e = wrap("removing drive letter", e);
                if dest.eq_ignore_ascii_case("c:") {
                    WinPathError(format!(
                        "{} (BuildKit refuses a bare drive; silo's --path-mode classic accepts it \
                         as the classic builder does: the working directory, or C:\\ without one)",
                        e.0
                    ))
                } else {
                    e
                }
            })?;
            if is_abs(&p) {
                return normalize_path("/", &p, true);
            }
            // An empty or "." destination means the working directory itself, as a directory.
            let p = if p == "." || p.is_empty() {
                "./".to_string()
            } else {
                p
            };
            normalize_path(&dir, &p, true)
        }
        PathMode::Classic => classic_dest(workdir, dest),
    }
}

/// Go's `filepath.Clean` on Windows for the path shapes Dockerfiles use: `/` becomes `\`, a
/// drive prefix `X:` is kept (`C:` alone cleans to `C:.`).
fn windows_clean(path: &str) -> String {
    let p = path.replace('/', "\\");
    let b = p.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        let (volume, rest) = p.split_at(2);
        if rest.is_empty() {
            return format!("{volume}.");
        }
        return format!("{volume}{}", clean_with(rest, '\\'));
    }
    clean_with(&p, '\\')
}

/// Go's Windows `filepath.IsAbs`: a drive and a rooted path (`C:\x`), or UNC.
fn windows_has_volume_and_root(path: &str) -> bool {
    let b = path.as_bytes();
    (b.len() >= 3 && b[1] == b':' && b[0].is_ascii_alphabetic() && (b[2] == b'\\' || b[2] == b'/'))
        || path.starts_with("\\\\")
}

/// moby's `isAbs` on Windows: `filepath.IsAbs` or a leading separator.
fn classic_is_abs(path: &str) -> bool {
    windows_has_volume_and_root(path) || path.starts_with('\\')
}

fn windows_join(parts: &[&str]) -> String {
    let joined: Vec<&str> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    windows_clean(&joined.join("\\"))
}

/// moby's `normalizeWorkdirWindows` (and its Unix twin for `linux` rows of its table).
fn classic_workdir(current: &str, requested: &str) -> Result<String, WinPathError> {
    if requested.is_empty() {
        return err("cannot normalize nothing");
    }
    let current = if current.is_empty() {
        String::new()
    } else {
        windows_clean(current)
    };
    let requested = windows_clean(requested);
    for p in [&current, &requested] {
        let b = p.as_bytes();
        if b.len() == 3 && b[0].is_ascii_alphabetic() && &p[1..] == ":." {
            return err(format!(
                "{p} is not a directory. If you are specifying a drive letter, please add a trailing '\\'"
            ));
        }
    }
    let rb = requested.as_bytes();
    let joined = if current.is_empty() || classic_is_abs(&requested) {
        if rb[0] == b'\\' || (rb.len() > 1 && rb[1] != b':') || rb.len() == 1 {
            windows_join(&["C:\\", &requested])
        } else {
            requested
        }
    } else {
        windows_join(&[&current, &requested])
    };
    let mut chars = joined.chars();
    Ok(match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => joined,
    })
}

/// The Unix rows of moby's WORKDIR table (a Windows daemon building a Linux image).
pub fn classic_workdir_unix(current: &str, requested: &str) -> Result<String, WinPathError> {
    if requested.is_empty() {
        return err("cannot normalize nothing");
    }
    let current = to_slash(current);
    let requested = to_slash(requested);
    if requested.starts_with('/') {
        return Ok(requested);
    }
    Ok(clean_slash(&format!("/{current}/{requested}")))
}

/// moby's `normalizeDest` for Windows. A bare drive (`C:`, `C:.`: the current directory of
/// drive C:) is the working directory, or `C:\` without one, as a directory — docker-library's
/// `hello-world` nanoserver image does `COPY hello.txt C:`.
fn classic_dest(workdir: &str, requested: &str) -> Result<String, WinPathError> {
    let bare = requested.trim_end_matches('.');
    if bare.len() == 2 && bare.as_bytes()[1] == b':' && requested.len() <= 3 {
        if !bare[..1].eq_ignore_ascii_case("c") {
            return err("Windows does not support destinations not on the system drive (C:)");
        }
        return classic_dest(workdir, ".\\").map(|d| if d == ".\\" { "\\".into() } else { d });
    }
    let mut dest = requested.replace('/', "\\");
    let ends_in_slash = dest.ends_with('\\');
    if windows_has_volume_and_root(&dest) {
        if !dest[..1].eq_ignore_ascii_case("c") {
            return err("Windows does not support destinations not on the system drive (C:)");
        }
        dest = dest[2..].to_string();
    }
    if !workdir.is_empty() {
        let consistent =
            workdir.len() > 1 && workdir.is_char_boundary(2) && classic_is_abs(&workdir[2..]);
        if !consistent {
            return err(format!(
                "Current WorkingDir {workdir} is not platform consistent"
            ));
        }
        if !classic_is_abs(&dest) {
            if !workdir.starts_with('C') {
                return err(
                    "Windows does not support relative paths when WORKDIR is not the system drive",
                );
            }
            dest = windows_join(&["\\", &workdir[2..], &dest]);
            if ends_in_slash {
                dest.push('\\');
            }
        }
    }
    Ok(dest)
}

/// moby's `validateCopySourcePath`: `COPY --from` may not read `c:\` or `c:\windows`.
pub fn classic_check_copy_from_source(source: &str) -> Result<(), WinPathError> {
    let mut p = windows_clean(source).to_lowercase();
    if !windows_has_volume_and_root(&p) {
        let b = p.as_bytes();
        if b.len() >= 2 && b[1] == b':' {
            if p.ends_with(":.") {
                p.pop();
            }
            p.push('\\');
        } else {
            p = windows_join(&["c:\\", &p]);
        }
    }
    if p == "c:\\" || p == "c:\\windows" {
        return err("copy from c:\\ or c:\\windows is not allowed on windows");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// moby `dispatchers_windows_test.go: TestNormalizeWorkdir` — 21 cases
    /// (platform, current, requested, expected, error).
    const CLASSIC_WORKDIR: &[(&str, &str, &str, &str, &str)] = &[
        ("windows", "", "", "", "cannot normalize nothing"),
        ("windows", "", "C:", "", "C:. is not a directory. If you are specifying a drive letter, please add a trailing '\\'"),
        ("windows", "", "C:.", "", "C:. is not a directory. If you are specifying a drive letter, please add a trailing '\\'"),
        ("windows", "c:", "\\a", "", "c:. is not a directory. If you are specifying a drive letter, please add a trailing '\\'"),
        ("windows", "c:.", "\\a", "", "c:. is not a directory. If you are specifying a drive letter, please add a trailing '\\'"),
        ("windows", "", "a", "C:\\a", ""),
        ("windows", "", "c:\\foo", "C:\\foo", ""),
        ("windows", "", "c:\\\\foo", "C:\\foo", ""),
        ("windows", "", "\\foo", "C:\\foo", ""),
        ("windows", "", "\\\\foo", "C:\\foo", ""),
        ("windows", "", "/foo", "C:\\foo", ""),
        ("windows", "", "C:/foo", "C:\\foo", ""),
        ("windows", "C:\\foo", "bar", "C:\\foo\\bar", ""),
        ("windows", "C:\\foo", "/bar", "C:\\bar", ""),
        ("windows", "C:\\foo", "\\bar", "C:\\bar", ""),
        ("linux", "", "", "", "cannot normalize nothing"),
        ("linux", "", "foo", "/foo", ""),
        ("linux", "", "/foo", "/foo", ""),
        ("linux", "/foo", "bar", "/foo/bar", ""),
        ("linux", "/foo", "/bar", "/bar", ""),
        ("linux", "\\a", "b\\c", "/a/b/c", ""),
    ];

    #[test]
    fn moby_workdir_table() {
        assert_eq!(CLASSIC_WORKDIR.len(), 21);
        for &(platform, current, requested, expected, error) in CLASSIC_WORKDIR {
            let got = if platform == "windows" {
                normalize_workdir(PathMode::Classic, current, requested)
            } else {
                classic_workdir_unix(current, requested)
            };
            if error.is_empty() {
                assert_eq!(
                    got.as_deref(),
                    Ok(expected),
                    "{platform} {current:?} {requested:?}"
                );
            } else {
                assert_eq!(
                    got,
                    Err(WinPathError(error.into())),
                    "{platform} {current:?} {requested:?}"
                );
            }
        }
    }

    /// moby `internals_windows_test.go: TestNormalizeDest` — 25 cases
    /// (workdir, requested, expected, error substring).
    const CLASSIC_DEST: &[(&str, &str, &str, &str)] = &[
        (
            "",
            "D:\\",
            "",
            "Windows does not support destinations not on the system drive (C:)",
        ),
        (
            "",
            "e:/",
            "",
            "Windows does not support destinations not on the system drive (C:)",
        ),
        (
            "invalid",
            "./c1",
            "",
            "Current WorkingDir invalid is not platform consistent",
        ),
        (
            "C:",
            "",
            "",
            "Current WorkingDir C: is not platform consistent",
        ),
        (
            "C",
            "",
            "",
            "Current WorkingDir C is not platform consistent",
        ),
        (
            "D:\\",
            ".",
            "",
            "Windows does not support relative paths when WORKDIR is not the system drive",
        ),
        ("", "D", "D", ""),
        ("", "./a1", ".\\a1", ""),
        ("", ".\\b1", ".\\b1", ""),
        ("", "/", "\\", ""),
        ("", "\\", "\\", ""),
        ("", "c:/", "\\", ""),
        ("", "c:\\", "\\", ""),
        ("", ".", ".", ""),
        ("C:\\wdd", "./a1", "\\wdd\\a1", ""),
        ("C:\\wde", ".\\b1", "\\wde\\b1", ""),
        ("C:\\wdf", "/", "\\", ""),
        ("C:\\wdg", "\\", "\\", ""),
        ("C:\\wdh", "c:/", "\\", ""),
        ("C:\\wdi", "c:\\", "\\", ""),
        ("C:\\wdj", ".", "\\wdj", ""),
        ("C:\\wdk", "foo/bar", "\\wdk\\foo\\bar", ""),
        ("C:\\wdl", "foo\\bar", "\\wdl\\foo\\bar", ""),
        ("C:\\wdm", "foo/bar/", "\\wdm\\foo\\bar\\", ""),
        ("C:\\wdn", "foo\\bar/", "\\wdn\\foo\\bar\\", ""),
    ];

    #[test]
    fn moby_copy_dest_table() {
        assert_eq!(CLASSIC_DEST.len(), 25);
        for &(workdir, requested, expected, error) in CLASSIC_DEST {
            let got = normalize_copy_dest(PathMode::Classic, workdir, requested);
            if error.is_empty() {
                assert_eq!(got.as_deref(), Ok(expected), "{workdir:?} {requested:?}");
            } else {
                let e = got.expect_err(requested);
                assert!(e.0.contains(error), "{workdir:?} {requested:?}: {e}");
            }
        }
    }

    #[test]
    fn buildkit_check_system_drive() {
        let bad_drive = "The specified path is not on the system drive (C:)";
        assert_eq!(
            check_system_drive("d:\\", false),
            Err(WinPathError(bad_drive.into()))
        );
        assert_eq!(check_system_drive("z", false).as_deref(), Ok("z"));
        assert_eq!(check_system_drive("AB", false).as_deref(), Ok("AB"));
        assert_eq!(check_system_drive("\\l", false).as_deref(), Ok("/l"));
        assert_eq!(check_system_drive("/l", false).as_deref(), Ok("/l"));
        assert_eq!(check_system_drive("c:\\", false).as_deref(), Ok("/"));
        assert_eq!(check_system_drive("c:/", false).as_deref(), Ok("/"));
        assert_eq!(
            check_system_drive("c:", false),
            Err(WinPathError("No relative path specified in \"c:\"".into()))
        );
        assert_eq!(
            check_system_drive("d:", false),
            Err(WinPathError("No relative path specified in \"d:\"".into()))
        );
        assert_eq!(
            check_system_drive("\\\\.\\C$\\test", false),
            Err(WinPathError("UNC paths are not supported".into()))
        );
        assert_eq!(
            check_system_drive("C:\\app\\", true).as_deref(),
            Ok("/app/")
        );
    }

    /// BuildKit `util/system/path_test.go: TestNormalizeWorkdirWindows`.
    #[test]
    fn buildkit_workdir_table() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("", "test", "\\test", ""),
            ("", "\\strippedWd", "\\strippedWd", ""),
            ("", "C:\\withDriveLetter", "\\withDriveLetter", ""),
            (
                "",
                "C:/withDriveLetterAndForwardSlash",
                "\\withDriveLetterAndForwardSlash",
                "",
            ),
            ("", "C:/first\\second/third", "\\first\\second\\third", ""),
            ("testing", "", "\\testing", ""),
            ("testing", "newTesting", "\\testing\\newTesting", ""),
            (
                "testing/with\\mixed/slashes",
                "newTesting",
                "\\testing\\with\\mixed\\slashes\\newTesting",
                "",
            ),
            (
                "C:\\testing/with\\mixed/slashes",
                "newTesting",
                "\\testing\\with\\mixed\\slashes\\newTesting",
                "",
            ),
            (
                "C:\\testing/with\\mixed/slashes",
                "",
                "\\testing\\with\\mixed\\slashes",
                "",
            ),
            (
                "D:\\IWillErrorOut",
                "doesNotMatter",
                "",
                "The specified path is not on the system drive (C:)",
            ),
            (
                "C:\\testing",
                "D:\\testing",
                "",
                "The specified path is not on the system drive (C:)",
            ),
            ("C:", "testing", "", "No relative path specified in \"C:\""),
            ("/test", "C:", "", "No relative path specified in \"C:\""),
            ("/test", "C:testing", "\\test\\testing", ""),
            ("C:\\..\\test\\..\\", "", "\\", ""),
            ("/test", "relative/path", "\\test\\relative\\path", ""),
        ];
        for &(current, requested, expected, error) in cases {
            let got = normalize_workdir(PathMode::BuildKit, current, requested);
            if error.is_empty() {
                assert_eq!(got.as_deref(), Ok(expected), "{current:?} {requested:?}");
            } else {
                let e = got.expect_err(requested);
                // BuildKit wraps the cause: "normalizing working directory: removing drive letter: …".
                assert!(e.0.ends_with(error), "{current:?} {requested:?}: {e}");
                assert!(
                    e.0.starts_with("normalizing working directory: removing drive letter: "),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn buildkit_is_abs() {
        for (p, abs) in [
            ("C:\\test", true),
            ("C:test", false),
            ("C:/test", true),
            ("\\test", true),
            ("/test", true),
            ("test", false),
            ("test/nested", false),
            ("../test", false),
        ] {
            assert_eq!(is_abs(p), abs, "{p}");
        }
    }

    #[test]
    fn buildkit_copy_dest_keeps_trailing_separator() {
        let d = |wd: &str, dest: &str| normalize_copy_dest(PathMode::BuildKit, wd, dest);
        assert_eq!(d("\\app", "C:\\out\\").as_deref(), Ok("/out/"));
        assert_eq!(d("\\app", "C:\\out").as_deref(), Ok("/out"));
        assert_eq!(d("\\app", "sub\\").as_deref(), Ok("/app/sub/"));
        assert_eq!(d("\\app", ".").as_deref(), Ok("/app/"));
        assert_eq!(d("", ".").as_deref(), Ok("/"));
        assert_eq!(d("", "C:rel").as_deref(), Ok("/rel"));
        assert!(d("\\app", "D:\\x")
            .unwrap_err()
            .0
            .contains("not on the system drive"));
        assert!(d("\\app", "C:")
            .unwrap_err()
            .0
            .contains("No relative path specified in \"C:\""));
        assert!(d("\\app", "\\\\server\\share")
            .unwrap_err()
            .0
            .contains("UNC paths are not supported"));
    }

    #[test]
    fn non_ascii_paths_do_not_panic() {
        assert_eq!(check_system_drive("é\\x", false).as_deref(), Ok("é/x"));
        assert!(normalize_workdir(PathMode::Classic, "é", "ü").is_ok());
        assert!(normalize_copy_dest(PathMode::Classic, "C:\\é", "ü/").is_ok());
        assert!(classic_check_copy_from_source("é").is_ok());
    }

    #[test]
    fn classic_copy_from_deny_list() {
        for src in [
            "c:\\",
            "C:\\",
            "C:",
            "c:\\windows",
            "C:\\Windows\\",
            "/windows",
            "\\",
        ] {
            assert!(classic_check_copy_from_source(src).is_err(), "{src}");
        }
        for src in ["c:\\app", "app", "C:\\windows\\system32"] {
            assert!(classic_check_copy_from_source(src).is_ok(), "{src}");
        }
    }

    #[test]
    fn a_bare_system_drive_is_the_working_directory_in_classic_mode() {
        let c = |wd: &str, dest: &str| normalize_copy_dest(PathMode::Classic, wd, dest);
        assert_eq!(c("", "C:").as_deref(), Ok("\\"));
        assert_eq!(c("", "c:.").as_deref(), Ok("\\"));
        assert_eq!(c("C:\\app", "C:").as_deref(), Ok("\\app\\"));
        assert_eq!(c("C:\\app", "C:.").as_deref(), Ok("\\app\\"));
        assert!(c("", "D:").is_err());
        let e = normalize_copy_dest(PathMode::BuildKit, "", "C:").unwrap_err();
        assert!(
            e.0.contains("No relative path specified in \"C:\"")
                && e.0.contains("--path-mode classic"),
            "{e}"
        );
    }
}
