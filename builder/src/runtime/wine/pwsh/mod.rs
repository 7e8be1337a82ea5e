//! PowerShell RUN steps in the Wine silo (issue #15). Wine's `powershell.exe` is a stub, so a
//! step whose program is PowerShell — `SHELL ["powershell", "-Command", …]`, `pwsh`, a full path
//! to either, or a cmd step that is a single `powershell …` command — runs silo's own engine
//! (crate `silo-powershell`) as the step's process inside the silo, instead of any
//! `powershell.exe` (Wine's stub, or a real one an image layer carries, which needs the .NET
//! Framework that Wine cannot host).
//!
//! The same engine takes a cmd line's `mklink` commands, which Wine cannot do
//! ([`super::links`]).
//!
//! - [`route`]: which steps go to the engine, and the PowerShell command line they give it;
//! - [`precheck`]: the whole script parsed and checked before the silo starts, so an unsupported
//!   construct fails the step before any effect;
//! - [`host`]: the engine process (`silo __wine-powershell`) and its [`host::SiloHost`];
//! - [`registry`], [`environment`]: the registry and environment block the script sees.

pub mod cmdfor;
pub mod cmdline;
pub mod environment;
pub mod host;
pub mod registry;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use cmdline::{Join, Segment};

/// The hidden subcommand the silo's init executes for a PowerShell step.
pub const ENGINE_SUBCOMMAND: &str = "__wine-powershell";

/// A step the engine runs: one PowerShell command line, or a cmd line some of whose commands are
/// PowerShell (`setx /M PATH … && powershell -Command …`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routed {
    /// The commands in order; a PowerShell step is one segment.
    pub segments: Vec<Segment>,
    /// The text after `cmd /C` when the step came through cmd: cmd expands `%VAR%` in the whole
    /// line before running any of it, so the engine expands and re-splits it.
    pub cmd_text: Option<String>,
}

/// Whether a program name is PowerShell (`powershell`, `pwsh`, `.exe`, any path to them).
pub fn is_powershell(program: &str) -> bool {
    powershell::invocation::is_powershell_program(program)
}

/// Whether one command of a cmd line starts PowerShell.
pub fn is_powershell_segment(text: &str) -> bool {
    is_powershell(&cmdline::program_word(text).0)
}

/// Whether one command of a cmd line runs in silo's engine rather than under Wine: PowerShell,
/// or mklink (which Wine cannot do, see [`super::links`]).
pub fn is_engine_segment(text: &str) -> bool {
    is_powershell_segment(text) || super::links::is_mklink_segment(text) || is_mklink_loop(text)
}

/// Whether one command of a cmd line is a `for` loop whose body is mklink ([`cmdfor`]).
pub fn is_mklink_loop(text: &str) -> bool {
    cmdfor::is_for(text) && cmdfor::body_of(text).is_some_and(super::links::is_mklink_segment)
}

/// Decides whether the step runs in silo's engine (PowerShell, mklink). `Err` names a step that starts
/// PowerShell in a way the engine cannot take over, which would otherwise reach Wine's stub.
pub fn route(command_line: &str) -> Result<Option<Routed>, String> {
    if is_powershell_segment(command_line) {
        return Ok(Some(Routed {
            segments: vec![Segment {
                join: Join::First,
                text: command_line.trim().to_string(),
            }],
            cmd_text: None,
        }));
    }
    let Some(inner) = cmdline::cmd_command(command_line) else {
        return Ok(None);
    };
    let segments = cmdline::split(&inner);
    if !segments.iter().any(|s| is_engine_segment(&s.text)) {
        // PowerShell or mklink started any other way (`for … do powershell …`, `call`, `if`)
        // is refused by the stub table's scan of the line (`stubs::check_command_line`).
        return Ok(None);
    }
    // The engine keeps `cd`, `pushd`/`popd` and `set NAME=value` between the commands it runs
    // one by one; `set /a` and `set /p` would run in a cmd.exe of their own and their variable
    // would not reach the next command.
    if let Some(s) = segments.iter().find(|s| {
        let (word, rest) = cmdline::program_word(&s.text);
        let rest = rest.trim_start().to_ascii_lowercase();
        word.eq_ignore_ascii_case("set") && (rest.starts_with("/a") || rest.starts_with("/p"))
    }) {
        return Err(format!(
            "`{}` in a cmd line that silo's engine runs (for its PowerShell or mklink commands): \
             the engine runs the line's other commands one by one and keeps only `cd`, \
             `pushd`/`popd` and `set NAME=value` between them — compute the value in a step of \
             its own, or build with --runtime hcs on Windows",
            s.text
        ));
    }
    for (n, s) in segments.iter().enumerate() {
        if !is_mklink_loop(&s.text) {
            continue;
        }
        // In cmd the loop's body runs to the end of the line, `&&` and all.
        if n + 1 < segments.len() {
            return Err(format!(
                "a `for` loop that runs mklink (`{}`) must end the cmd line: what follows it \
                 would be part of its body, which silo's engine runs as one mklink — put the \
                 rest in a step of its own",
                s.text
            ));
        }
        cmdfor::ForLoop::parse(&s.text)?;
    }
    for s in segments.iter().filter(|s| is_engine_segment(&s.text)) {
        if !cmdline::has_cmd_syntax(&s.text) {
            continue;
        }
        return Err(if is_powershell_segment(&s.text) {
            format!(
                "this cmd step pipes or redirects a PowerShell command (`{}`); silo runs \
                 PowerShell with its own engine only as a command of its own — move the \
                 redirection into the PowerShell script, or build with --runtime hcs on Windows",
                s.text
            )
        } else {
            format!(
                "this cmd step pipes, redirects or escapes in a mklink command (`{}`); silo \
                 makes links with its own engine only for mklink as a plain command of its own \
                 — drop the redirection, or build with --runtime hcs on Windows",
                s.text
            )
        });
    }
    Ok(Some(Routed {
        segments,
        cmd_text: Some(inner.trim().to_string()),
    }))
}

/// The script a PowerShell command line runs (`-Command` text, `-EncodedCommand`, or a `-File`
/// read with `read_file`).
pub fn script_of(
    command_line: &str,
    drive_c: &Path,
    cwd: &str,
) -> Result<powershell::invocation::Invocation, String> {
    let read = |path: &str| read_windows_file(drive_c, cwd, path);
    powershell::invocation::parse_command_line(command_line, &read).map_err(|e| e.to_string())
}

/// Reads a `-File` script from the step's drive C.
fn read_windows_file(drive_c: &Path, cwd: &str, path: &str) -> Result<String, String> {
    let full = if path.len() >= 2 && path.as_bytes()[1] == b':' {
        path.to_string()
    } else {
        format!("{}\\{}", cwd.trim_end_matches('\\'), path)
    };
    let rel = super::process::workdir_relative(&full).map_err(|e| e.to_string())?;
    let unix = super::process::resolve_case_insensitive(drive_c, &rel)
        .ok_or_else(|| format!("The argument '{path}' to the -File parameter does not exist."))?;
    let bytes = std::fs::read(&unix).map_err(|e| format!("{path}: {e}"))?;
    Ok(decode_script(&bytes))
}

/// Script files as Windows PowerShell reads them: a BOM decides (UTF-8, UTF-16LE/BE), else
/// the bytes are taken as UTF-8 (an ASCII script reads the same either way).
fn decode_script(bytes: &[u8]) -> String {
    let utf16 = |b: &[u8], le: bool| {
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16_lossy(&units)
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8_lossy(rest).into_owned(),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Why a routed step's PowerShell cannot be checked or run.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CheckFailure {
    /// A `-File` script that `read_file` could not give, or a script file the script calls
    /// (`& C:\x.ps1`) that `script_files` could not give: why, naming the path as written.
    FileUnavailable(String),
    Refused(String),
}

/// Parses and checks every PowerShell command of `routed`, reading `-File` scripts with
/// `read_file` and the script files they call (`& C:\x.ps1`, `. .\x.ps1`) with
/// `script_files`; nothing runs.
fn check_routed(
    routed: &Routed,
    read_file: &dyn Fn(&str) -> Result<String, String>,
    script_files: powershell::check::ScriptFiles<'_>,
) -> Result<(), CheckFailure> {
    for segment in routed
        .segments
        .iter()
        .filter(|s| is_powershell_segment(&s.text))
    {
        let unread = std::cell::RefCell::new(None);
        let read = |path: &str| {
            read_file(path).inspect_err(|why| *unread.borrow_mut() = Some(why.clone()))
        };
        let invocation = match powershell::invocation::parse_command_line(&segment.text, &read) {
            Ok(i) => i,
            Err(_) if unread.borrow().is_some() => {
                return Err(CheckFailure::FileUnavailable(
                    unread.take().unwrap_or_default(),
                ))
            }
            Err(e) => return Err(CheckFailure::Refused(e.to_string())),
        };
        if let Err(diags) = powershell::interp::prepare_with_files(&invocation.script, script_files)
        {
            if diags.iter().all(|d| d.missing_file.is_some()) {
                return Err(CheckFailure::FileUnavailable(diags[0].to_string()));
            }
            let mut msg =
                String::from("the Wine silo cannot run this PowerShell (nothing was run):");
            for d in diags.iter().take(5) {
                msg.push_str(&format!("\n  {d}"));
            }
            return Err(CheckFailure::Refused(msg));
        }
    }
    Ok(())
}

/// Parses and checks the step's PowerShell without running anything. `lowers` are the
/// directories a `-File` script is read from (the step's view of `C:`, top first).
pub fn precheck(routed: &Routed, lowers: &[PathBuf], cwd: &str) -> Result<(), String> {
    let read = |path: &str| {
        lowers
            .iter()
            .find_map(|dir| read_windows_file(dir, cwd, path).ok())
            .ok_or_else(|| format!("The argument '{path}' to the -File parameter does not exist."))
    };
    let script_files = |path: &str| {
        lowers
            .iter()
            .find_map(|dir| read_windows_file(dir, cwd, path).ok())
    };
    match check_routed(routed, &read, &script_files) {
        Ok(()) => Ok(()),
        Err(CheckFailure::FileUnavailable(why)) => Err(why),
        Err(CheckFailure::Refused(msg)) => Err(format!(
            "{msg}\n  silo's PowerShell engine supports the cmdlets, .NET members and language \
             that real Windows Dockerfiles use (docs/powershell.md); for the rest build with \
             --runtime hcs on Windows, or write the step in cmd"
        )),
    }
}

/// Whether the Wine silo can run a RUN step, decided without running anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A cmd (or other Windows program) step, run under Wine.
    Wine,
    /// A step whose PowerShell silo's engine supports.
    PowerShell,
    /// A PowerShell step that runs a script file from the image (`-File`, `& C:\x.ps1`, `.
    /// .\x.ps1`): checked when the step runs.
    PowerShellFile,
    /// Refused, with the first reason.
    Refused { powershell: bool, reason: String },
}

/// The static answer of `silo dockerfile check --runtime wine` for one RUN command line.
pub fn verdict(command_line: &str) -> Verdict {
    let refused = |reason: String| Verdict::Refused {
        powershell: true,
        reason,
    };
    let routed = match route(command_line) {
        Ok(Some(r)) if r.segments.iter().any(|s| is_powershell_segment(&s.text)) => r,
        // A cmd step (its engine commands, if any, are mklink): what the stub table refuses.
        Ok(routed) => {
            return match super::check_stubs(&[], command_line, routed.as_ref()) {
                Ok(()) => Verdict::Wine,
                Err(r) => Verdict::Refused {
                    powershell: false,
                    reason: format!("`{}`: {}", r.command, r.reason),
                },
            }
        }
        Err(reason) => {
            // A cmd line refused for its mklink (or `set /a`) alone is a cmd step.
            let powershell = is_powershell_segment(command_line)
                || cmdline::cmd_command(command_line).is_none_or(|inner| {
                    cmdline::split(&inner)
                        .iter()
                        .any(|s| is_powershell_segment(&s.text))
                });
            return Verdict::Refused { powershell, reason };
        }
    };
    // Script files live in the image, which a static check does not have.
    let no_files = |_: &str| -> Result<String, String> { Err("in the image".into()) };
    match check_routed(&routed, &no_files, &|_| None) {
        Ok(()) => Verdict::PowerShell,
        Err(CheckFailure::FileUnavailable(_)) => Verdict::PowerShellFile,
        Err(CheckFailure::Refused(msg)) => refused(
            msg.strip_prefix("the Wine silo cannot run this PowerShell (nothing was run):\n  ")
                .unwrap_or(&msg)
                .to_string(),
        ),
    }
}

/// The silo executable to run the engine: this program when it is `silo`, else the `silo`
/// next to it or one directory up (test binaries live in `target/<profile>/deps/`);
/// `SILO_EXE` overrides.
pub fn engine_executable() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("SILO_EXE") {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe().map_err(|e| format!("locating the silo executable: {e}"))?;
    if me.file_stem().is_some_and(|s| s == "silo") {
        return Ok(me);
    }
    let dir = me.parent().unwrap_or(Path::new("."));
    for candidate in [dir.join("silo"), dir.join("../silo")] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(format!(
        "PowerShell steps run silo's engine as `silo {ENGINE_SUBCOMMAND}`, but no silo executable \
         was found next to {} (set SILO_EXE)",
        me.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(r: Option<Routed>) -> String {
        let r = r.expect("routed");
        assert_eq!(r.segments.len(), 1);
        r.segments[0].text.clone()
    }

    #[test]
    fn shells_and_cmd_lines_with_powershell_commands_are_routed() {
        let r =
            route("powershell -Command $ErrorActionPreference = 'Stop'; Write-Host hi").unwrap();
        assert!(r.as_ref().unwrap().cmd_text.is_none());
        single(r);
        let r = route(r#"cmd /S /C "powershell -NoProfile -Command Write-Host hi""#).unwrap();
        assert_eq!(
            r.as_ref().unwrap().cmd_text.as_deref(),
            Some("powershell -NoProfile -Command Write-Host hi")
        );
        let r = route(r"cmd /S /C C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe -c 1")
            .unwrap();
        assert!(single(r).starts_with(r"C:\Windows"));
        assert_eq!(route("cmd /S /C echo hi").unwrap(), None);
        assert_eq!(route("cmd /S /C echo powershell-like").unwrap(), None);
        let r = route(r#"cmd /S /C setx /M PATH "%PATH%;C:\x" && powershell -c 1 || echo failed"#)
            .unwrap()
            .unwrap();
        let kinds: Vec<bool> = r
            .segments
            .iter()
            .map(|s| is_powershell_segment(&s.text))
            .collect();
        assert_eq!(kinds, [false, true, false]);
    }

    #[test]
    fn mklink_commands_of_their_own_go_to_the_engine() {
        let r = route(r"cmd /S /C mkdir C:\t && mklink /J C:\j C:\t & dir C:\j")
            .unwrap()
            .unwrap();
        let engine: Vec<bool> = r
            .segments
            .iter()
            .map(|s| is_engine_segment(&s.text))
            .collect();
        assert_eq!(engine, [false, true, false]);
        // A cmd step still, for `dockerfile check`.
        assert_eq!(verdict(r"cmd /S /C mklink /D C:\l C:\t"), Verdict::Wine);
        let e = route(r"cmd /S /C set /a N=1+1 && mklink /D C:\l%N% C:\t").unwrap_err();
        assert!(e.contains("set /a"), "{e}");
        let e = route(r"cmd /S /C mklink /D C:\l C:\t > nul").unwrap_err();
        assert!(e.contains("mklink") && e.contains("redirects"), "{e}");
        assert!(matches!(
            verdict(r"cmd /S /C mklink /D C:\l C:\t > nul"),
            Verdict::Refused {
                powershell: false,
                ..
            }
        ));
        // A loop whose body is mklink, at the end of the line.
        let r = route(r#"cmd /S /C mkdir C:\b && FOR /f "tokens=*" %i IN ('type C:\l.txt') DO mklink C:\b\%i.exe C:\bb.exe"#)
            .unwrap()
            .unwrap();
        assert!(is_mklink_loop(&r.segments[1].text));
        let e = route(r"cmd /S /C for %i in (a) do mklink C:\%i C:\t && echo x").unwrap_err();
        assert!(e.contains("must end the cmd line"), "{e}");
        let e = route(r"cmd /S /C for /r C:\ %i in (*) do mklink C:\%i C:\t").unwrap_err();
        assert!(e.contains("/r"), "{e}");
        // Nested: not the engine's; the stub table's scan refuses it.
        let nested = r"cmd /S /C if not exist C:\l mklink /D C:\l C:\t";
        assert_eq!(route(nested).unwrap(), None);
        assert!(crate::runtime::wine::stubs::check_command_line(&[], nested).is_err());
    }

    #[test]
    fn powershell_the_engine_cannot_take_over_is_refused() {
        let e = route("cmd /S /C powershell -Command Write-Host hi > out.txt").unwrap_err();
        assert!(e.contains("redirects"), "{e}");
        // Left to the stub table's scan, which knows cmd's `for … do`.
        assert_eq!(
            route("cmd /S /C for %i in (1) do powershell.exe -c 1").unwrap(),
            None
        );
        assert!(crate::runtime::wine::stubs::check_command_line(
            &[],
            "cmd /S /C for %i in (1) do powershell.exe -c 1"
        )
        .is_err());
        // A directory named PowerShell in a value is no PowerShell command.
        assert_eq!(
            route(r#"cmd /S /C setx /M PATH "%PATH%;%ProgramFiles%\PowerShell""#).unwrap(),
            None
        );
    }

    #[test]
    fn verdicts_name_what_is_refused_and_defer_image_scripts() {
        assert_eq!(verdict("cmd /S /C echo hi"), Verdict::Wine);
        match verdict("cmd /S /C echo hi && setx FOO bar") {
            Verdict::Refused {
                powershell: false,
                reason,
            } => assert!(
                reason.starts_with("`setx FOO bar`: ") && reason.contains("NTUSER"),
                "{reason}"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            verdict("powershell -Command Write-Host hi"),
            Verdict::PowerShell
        );
        assert_eq!(
            verdict(r"powershell -File C:\setup.ps1"),
            Verdict::PowerShellFile
        );
        for called in [
            r"& C:\setup.ps1 -Version 1",
            r".\configure_iis.ps1",
            r". ./x.ps1",
        ] {
            assert_eq!(
                verdict(&format!("powershell -Command {called}")),
                Verdict::PowerShellFile,
                "{called}"
            );
        }
        // A file call does not hide what the step's own script cannot run.
        assert!(matches!(
            verdict(r"powershell -Command & C:\setup.ps1; Get-WmiObject x"),
            Verdict::Refused { .. }
        ));
        // A computed path stays refused.
        assert!(matches!(
            verdict(r"powershell -Command & $env:TEMP\setup.ps1"),
            Verdict::Refused { .. }
        ));
        match verdict("powershell -Command Get-WmiObject Win32_OperatingSystem") {
            Verdict::Refused { reason, .. } => {
                assert!(reason.contains("Get-WmiObject"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn precheck_reads_called_script_files_from_the_steps_drive_c() {
        // Two layers of C:, top first: the top one carries the script, the lower one the
        // script it calls.
        let top = tempfile::tempdir().unwrap();
        let lower = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(top.path().join("App")).unwrap();
        std::fs::create_dir_all(lower.path().join("tools")).unwrap();
        std::fs::write(
            top.path().join("App/setup.ps1"),
            "param($Version)\n& C:\\tools\\inner.ps1 $Version",
        )
        .unwrap();
        let lowers = [top.path().to_path_buf(), lower.path().to_path_buf()];
        let routed = |line: &str| route(line).unwrap().unwrap();
        let step = routed(r"powershell -Command .\setup.ps1 -Version 1");
        std::fs::write(lower.path().join("tools/inner.ps1"), "Write-Host $args").unwrap();
        assert_eq!(precheck(&step, &lowers, r"C:\app"), Ok(()));
        std::fs::write(lower.path().join("tools/inner.ps1"), "Get-WmiObject x").unwrap();
        let e = precheck(&step, &lowers, r"C:\app").unwrap_err();
        assert!(
            e.contains(r"in C:\tools\inner.ps1 at its line 1, column 1: cmdlet Get-WmiObject"),
            "{e}"
        );
        assert!(e.contains(r"in .\setup.ps1 at its line 2"), "{e}");
        let e = precheck(&step, &lowers, r"C:\").unwrap_err();
        assert!(
            e.contains(r"script file .\setup.ps1 was not found in the image"),
            "{e}"
        );
    }

    #[test]
    fn script_files_are_decoded_by_their_bom() {
        assert_eq!(decode_script(b"\xEF\xBB\xBFa"), "a");
        assert_eq!(decode_script(&[0xFF, 0xFE, b'a', 0]), "a");
        assert_eq!(decode_script(b"plain"), "plain");
    }
}
