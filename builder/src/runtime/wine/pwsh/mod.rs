//! PowerShell RUN steps in the Wine silo (issue #15). Wine's `powershell.exe` is a stub, so a
//! step whose program is PowerShell — `SHELL ["powershell", "-Command", …]`, `pwsh`, a full path
//! to either, or a cmd step that is a single `powershell …` command — runs silo's own engine
//! (crate `silo-powershell`) as the step's process inside the silo, instead of any
//! `powershell.exe` (Wine's stub, or a real one an image layer carries, which needs the .NET
//! Framework that Wine cannot host).
//!
//! - [`route`]: which steps go to the engine, and the PowerShell command line they give it;
//! - [`precheck`]: the whole script parsed and checked before the silo starts, so an unsupported
//!   construct fails the step before any effect;
//! - [`host`]: the engine process (`silo __wine-powershell`) and its [`host::SiloHost`];
//! - [`registry`], [`environment`]: the registry and environment block the script sees.

pub mod environment;
pub mod host;
pub mod registry;

use std::path::{Path, PathBuf};

/// The hidden subcommand the silo's init executes for a PowerShell step.
pub const ENGINE_SUBCOMMAND: &str = "__wine-powershell";

/// A step the engine runs: the command line PowerShell itself would receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// `powershell -Command …` (program first).
    pub command_line: String,
    /// The line came through `cmd /C`: cmd's `%VAR%` expansion applies before PowerShell sees it.
    pub via_cmd: bool,
}

fn program_word(command_line: &str) -> (String, &str) {
    let cl = command_line.trim_start();
    if let Some(rest) = cl.strip_prefix('"') {
        match rest.find('"') {
            Some(end) => (rest[..end].to_string(), &rest[end + 1..]),
            None => (rest.to_string(), ""),
        }
    } else {
        let end = cl.find([' ', '\t']).unwrap_or(cl.len());
        (cl[..end].to_string(), &cl[end..])
    }
}

fn is_cmd(program: &str) -> bool {
    let base = program.rsplit(['\\', '/']).next().unwrap_or(program);
    base.eq_ignore_ascii_case("cmd") || base.eq_ignore_ascii_case("cmd.exe")
}

/// What cmd.exe runs for `cmd [/S] /C <rest>` (its quote rule: with /S, or when the text does
/// not have exactly two quotes around an existing program, the first and last `"` are removed).
fn cmd_command(command_line: &str) -> Option<String> {
    let (program, mut rest) = program_word(command_line);
    if !is_cmd(&program) {
        return None;
    }
    let mut strip_quotes = false;
    loop {
        let t = rest.trim_start();
        let switch: String = t.chars().take(2).collect();
        if switch.eq_ignore_ascii_case("/s") {
            strip_quotes = true;
            rest = &t[2..];
        } else if switch.eq_ignore_ascii_case("/c") {
            rest = &t[2..];
            break;
        } else {
            return None;
        }
    }
    let text = rest.trim_start();
    if (strip_quotes || text.matches('"').count() != 2) && text.starts_with('"') {
        let inner = &text[1..];
        let inner = match inner.rfind('"') {
            Some(last) => format!("{}{}", &inner[..last], &inner[last + 1..]),
            None => inner.to_string(),
        };
        return Some(inner);
    }
    Some(text.to_string())
}

/// cmd metacharacters outside double quotes: the line is more than one command.
fn has_cmd_operators(text: &str) -> bool {
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '&' | '|' | '<' | '>' | '^' if !quoted => return true,
            _ => {}
        }
    }
    false
}

/// Whether a program name is PowerShell (`powershell`, `pwsh`, `.exe`, any path to them).
pub fn is_powershell(program: &str) -> bool {
    powershell::invocation::is_powershell_program(program)
}

/// Decides whether the step runs in silo's PowerShell engine. `Err` names a step that invokes
/// PowerShell in a way the engine cannot take over (inside a compound cmd line), which would
/// otherwise reach Wine's stub.
pub fn route(command_line: &str) -> Result<Option<Routed>, String> {
    let (program, _) = program_word(command_line);
    if is_powershell(&program) {
        return Ok(Some(Routed {
            command_line: command_line.trim_start().to_string(),
            via_cmd: false,
        }));
    }
    let Some(inner) = cmd_command(command_line) else {
        return Ok(None);
    };
    let (inner_program, _) = program_word(&inner);
    if is_powershell(&inner_program) {
        if has_cmd_operators(&inner) {
            return Err(format!(
                "this cmd step runs PowerShell as part of a compound command line (`{}`): the Wine \
                 silo runs PowerShell with silo's own engine only as the whole step — write the \
                 PowerShell part as its own RUN step (SHELL [\"powershell\", \"-Command\"] or \
                 `RUN powershell -Command …`), or build with --runtime hcs on Windows",
                inner.trim()
            ));
        }
        return Ok(Some(Routed {
            command_line: inner.trim().to_string(),
            via_cmd: true,
        }));
    }
    if mentions_powershell(&inner) {
        return Err(format!(
            "this cmd step starts PowerShell inside a compound command line (`{}`); Wine's \
             powershell.exe is a stub that would do nothing — run the PowerShell part as its own \
             RUN step, or build with --runtime hcs on Windows",
            inner.trim()
        ));
    }
    Ok(None)
}

/// A word `powershell`/`pwsh` (with or without `.exe`) anywhere in a cmd line.
fn mentions_powershell(text: &str) -> bool {
    text.split(|c: char| c.is_whitespace() || "&|()<>\"'=".contains(c))
        .any(is_powershell)
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

/// Parses and checks the step's PowerShell without running anything. `lowers` are the
/// directories a `-File` script may be read from (the step's view of `C:`, top first).
pub fn precheck(routed: &Routed, lowers: &[PathBuf], cwd: &str) -> Result<(), String> {
    let invocation = lowers
        .iter()
        .find_map(|dir| script_of(&routed.command_line, dir, cwd).ok())
        .map(Ok)
        .unwrap_or_else(|| {
            script_of(
                &routed.command_line,
                lowers
                    .first()
                    .map(PathBuf::as_path)
                    .unwrap_or(Path::new("/nonexistent")),
                cwd,
            )
        })?;
    powershell::interp::prepare(&invocation.script)
        .map(|_| ())
        .map_err(|diags| {
            let mut msg =
                String::from("the Wine silo cannot run this PowerShell (nothing was run):");
            for d in diags.iter().take(5) {
                msg.push_str(&format!("\n  {d}"));
            }
            msg.push_str(
            "\n  silo's PowerShell engine supports the cmdlets, .NET members and language that \
             real Windows Dockerfiles use (docs/powershell.md); for the rest build with \
             --runtime hcs on Windows, or write the step in cmd",
        );
            msg
        })
}

/// Whether the Wine silo can run a RUN step, decided without running anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A cmd (or other Windows program) step, run under Wine.
    Wine,
    /// A PowerShell step silo's engine supports.
    PowerShell,
    /// A PowerShell step that runs a `-File` script from the image: checked when the step runs.
    PowerShellFile,
    /// Refused, with the first reason.
    Refused { powershell: bool, reason: String },
}

/// The static answer of `silo dockerfile check --runtime wine` for one RUN command line.
pub fn verdict(command_line: &str) -> Verdict {
    let routed = match route(command_line) {
        Ok(Some(r)) => r,
        Ok(None) => return Verdict::Wine,
        Err(reason) => {
            return Verdict::Refused {
                powershell: true,
                reason,
            }
        }
    };
    // A `-File` script lives in the image, which a static check does not have.
    let wanted_file = std::cell::Cell::new(false);
    let no_files = |_: &str| -> Result<String, String> {
        wanted_file.set(true);
        Err("the script file is in the image".into())
    };
    let invocation =
        match powershell::invocation::parse_command_line(&routed.command_line, &no_files) {
            Ok(i) => i,
            Err(_) if wanted_file.get() => return Verdict::PowerShellFile,
            Err(e) => {
                return Verdict::Refused {
                    powershell: true,
                    reason: e.to_string(),
                }
            }
        };
    match powershell::interp::prepare(&invocation.script) {
        Ok(_) => Verdict::PowerShell,
        Err(diags) => Verdict::Refused {
            powershell: true,
            reason: diags
                .first()
                .map(|d| d.to_string())
                .unwrap_or_else(|| "not supported".into()),
        },
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

    #[test]
    fn shells_and_single_cmd_commands_are_routed() {
        let r = route("powershell -Command $ErrorActionPreference = 'Stop'; Write-Host hi")
            .unwrap()
            .unwrap();
        assert!(!r.via_cmd);
        let r = route(r#"cmd /S /C "powershell -NoProfile -Command Write-Host hi""#)
            .unwrap()
            .unwrap();
        assert_eq!(
            r.command_line,
            "powershell -NoProfile -Command Write-Host hi"
        );
        assert!(r.via_cmd);
        let r = route(r"cmd /S /C C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe -c 1")
            .unwrap()
            .unwrap();
        assert!(r.command_line.starts_with(r"C:\Windows"));
        assert_eq!(route("cmd /S /C echo hi").unwrap(), None);
        assert_eq!(route("cmd /S /C echo powershell-like").unwrap(), None);
    }

    #[test]
    fn powershell_inside_a_compound_cmd_line_is_refused() {
        let e = route("cmd /S /C powershell -Command Write-Host hi && echo done").unwrap_err();
        assert!(e.contains("compound"), "{e}");
        let e = route("cmd /S /C echo x && powershell.exe -c 1").unwrap_err();
        assert!(e.contains("stub"), "{e}");
    }

    #[test]
    fn script_files_are_decoded_by_their_bom() {
        assert_eq!(decode_script(b"\xEF\xBB\xBFa"), "a");
        assert_eq!(decode_script(&[0xFF, 0xFE, b'a', 0]), "a");
        assert_eq!(decode_script(b"plain"), "plain");
    }
}
