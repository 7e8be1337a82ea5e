//! Processes: resolving native programs (PATH and PATHEXT over drive C:), building their
//! command lines with Windows PowerShell 5.1's argument quoting, running them through
//! `Host::run_native`; Start-Process, Start-Sleep, Get-Command.
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use super::Bound;
use crate::convert::to_string;
use crate::errors::ErrorRecord;
use crate::host::NativeRequest;
use crate::interp::{Interp, Out, Res};
use crate::value::{ObjKind, Object, Value};
use crate::winfs::{self, Target, WinPath};

const DEFAULT_PATHEXT: &str = ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC;.CPL";

fn exists_file(interp: &Interp, w: &WinPath) -> bool {
    w.unix(interp.host.drive_c()).is_file()
}

fn with_extensions(interp: &Interp, w: &WinPath) -> Option<WinPath> {
    let name = w.name();
    let pathext = interp
        .env_get("PATHEXT")
        .unwrap_or_else(|| DEFAULT_PATHEXT.to_string());
    let exts: Vec<String> = pathext
        .split(';')
        .filter(|e| !e.is_empty())
        .map(|e| e.to_ascii_lowercase())
        .collect();
    let lower = name.to_ascii_lowercase();
    let has_ext = exts.iter().any(|e| lower.ends_with(e.as_str())) || lower.ends_with(".ps1");
    if has_ext && exists_file(interp, w) {
        return Some(w.canonical(interp.host.drive_c()));
    }
    let parent = w.parent()?;
    for e in exts.iter().map(String::as_str).chain([".ps1"]) {
        let cand = parent.join(&format!("{name}{e}"));
        if exists_file(interp, &cand) {
            return Some(cand.canonical(interp.host.drive_c()));
        }
    }
    None
}

/// The Windows path of the program a command word names, or None.
pub fn resolve_program(interp: &Interp, name: &str) -> Option<String> {
    if name.contains(['\\', '/', ':']) {
        let base = if interp.cwd.to_ascii_uppercase().starts_with("C:") {
            interp.cwd.clone()
        } else {
            interp.process_cwd.clone()
        };
        return match winfs::resolve(&base, name) {
            Ok(Target::File(w)) => with_extensions(interp, &w).map(|w| w.display()),
            _ => None,
        };
    }
    let path = interp.env_get("PATH").unwrap_or_default();
    for dir in path.split(';').filter(|d| !d.trim().is_empty()) {
        let dir = crate::dotnet::expand_env(interp, dir.trim().trim_matches('"'));
        let Ok(Target::File(d)) = winfs::resolve("C:\\", &dir) else {
            continue;
        };
        if let Some(found) = with_extensions(interp, &d.join(name)) {
            return Some(found.display());
        }
    }
    None
}

/// Whether an argument needs quotes under 5.1's rule: whitespace outside double quotes.
fn needs_quotes(s: &str) -> bool {
    let mut in_quotes = false;
    for c in s.chars() {
        if c == '"' {
            in_quotes = !in_quotes;
        } else if c.is_whitespace() && !in_quotes {
            return true;
        }
    }
    false
}

/// One native argument as 5.1 puts it on the command line: an empty one is dropped (""),
/// one with whitespace outside double quotes is wrapped in quotes as it is (embedded quotes and
/// trailing backslashes are not escaped — 5.1 does not either).
pub fn quote_arg(a: &str) -> String {
    if needs_quotes(a) {
        format!("\"{a}\"")
    } else {
        a.to_string()
    }
}

/// The command line: the program (quoted when it has spaces) and the non-empty pieces (already
/// quoted by `quote_arg`), separated by spaces.
pub fn command_line(program: &str, pieces: &[String]) -> String {
    let mut s = if program.contains(' ') {
        format!("\"{program}\"")
    } else {
        program.to_string()
    };
    for p in pieces.iter().filter(|p| !p.is_empty()) {
        s.push(' ');
        s.push_str(p);
    }
    s
}

fn process_dir(interp: &Interp) -> String {
    if interp.cwd.to_ascii_uppercase().starts_with("C:") {
        interp.cwd.clone()
    } else {
        interp.process_cwd.clone()
    }
}

fn failed_to_run(program: &str, why: &str) -> ErrorRecord {
    ErrorRecord::new(
        format!(
            "Program '{}' failed to run: {why}",
            program.rsplit('\\').next().unwrap_or(program)
        ),
        "System.Management.Automation.ApplicationFailedException",
        "ResourceUnavailable",
        "NativeCommandFailed",
    )
}

/// Runs a native program for a command (`git version`); its stdout becomes output lines when
/// captured. Returns the exit code.
pub fn run_native(
    interp: &mut Interp,
    program: &str,
    args: &[String],
    capture: bool,
    out: &mut Out,
) -> Res<i32> {
    let req = NativeRequest {
        program: program.to_string(),
        command_line: command_line(program, args),
        cwd: process_dir(interp),
        env: interp.env.clone(),
        capture_stdout: capture,
    };
    let res = interp
        .host
        .run_native(&req)
        .map_err(|e| failed_to_run(program, &e.0))?;
    if capture {
        let text = String::from_utf8_lossy(&res.stdout).into_owned();
        for l in super::content::split_lines(&text) {
            interp.emit(out, Value::string(l));
        }
    }
    Ok(res.exit_code)
}

/// Start-Process. It always waits for the process (the step's effects are complete when the
/// next statement runs); without -NoNewWindow the output goes to a new console, which in a
/// container is nowhere, so it is discarded.
pub fn start_process(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    if b.has("RedirectStandardError") {
        return Err(b.unsupported("-RedirectStandardError").into());
    }
    if b.switch("UseNewEnvironment") {
        return Err(b.unsupported("-UseNewEnvironment").into());
    }
    if let Some(v) = b.str("Verb") {
        if !v.eq_ignore_ascii_case("runas") && !v.eq_ignore_ascii_case("open") {
            return Err(b.unsupported(&format!("-Verb {v}")).into());
        }
    }
    let file = b.str("FilePath").ok_or_else(|| {
        b.invalid(
            "Cannot process command because of one or more missing mandatory parameters: FilePath.",
        )
    })?;
    let Some(program) = resolve_program(interp, &file) else {
        return Err(b
            .error(
                "This command cannot be run due to the error: The system cannot find the file specified.",
                "System.InvalidOperationException",
                "InvalidOperation",
                "InvalidOperationException",
            )
            .into());
    };
    if program.to_ascii_lowercase().ends_with(".ps1") {
        return Err(b.unsupported("starting a .ps1 script as a process").into());
    }
    // 5.1 joins -ArgumentList elements with spaces, without quoting them.
    let args: Vec<String> = match b.get("ArgumentList") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => v.clone().into_items().iter().map(to_string).collect(),
    };
    let mut line = if program.contains(' ') {
        format!("\"{program}\"")
    } else {
        program.clone()
    };
    let joined = args.join(" ");
    if !joined.is_empty() {
        line.push(' ');
        line.push_str(&joined);
    }
    let cwd = match b.str("WorkingDirectory") {
        Some(d) => match winfs::resolve(&interp.cwd, &d) {
            Ok(Target::File(w)) if w.unix(interp.host.drive_c()).is_dir() => {
                w.canonical(interp.host.drive_c()).display()
            }
            _ => {
                return Err(b
                    .error(
                        format!("The directory name is invalid: {d}"),
                        "System.InvalidOperationException",
                        "InvalidOperation",
                        "InvalidOperationException",
                    )
                    .into())
            }
        },
        None => process_dir(interp),
    };
    let redirect_out = b.str("RedirectStandardOutput");
    let capture = redirect_out.is_some() || !b.switch("NoNewWindow");
    let req = NativeRequest {
        program: program.clone(),
        command_line: line,
        cwd,
        env: interp.env.clone(),
        capture_stdout: capture,
    };
    let res = interp.host.run_native(&req).map_err(|e| {
        b.error(
            format!("This command cannot be run due to the error: {}", e.0),
            "System.InvalidOperationException",
            "InvalidOperation",
            "InvalidOperationException",
        )
    })?;
    if let Some(f) = redirect_out {
        let (unix, display) = super::content::file_for_write(interp, &f)?;
        std::fs::write(&unix, &res.stdout)
            .map_err(|e| ErrorRecord::runtime(format!("{display}: {e}")))?;
    }
    if b.switch("PassThru") {
        let name = program.rsplit('\\').next().unwrap_or(&program);
        let pname = name
            .rsplit_once('.')
            .map(|(n, _)| n)
            .unwrap_or(name)
            .to_string();
        let o = Object::new(ObjKind::Process, "System.Diagnostics.Process")
            .with("ExitCode", Value::Int(res.exit_code))
            .with("Id", Value::Int(0))
            .with("ProcessName", Value::string(pname))
            .with("Path", Value::string(program.clone()))
            .with("HasExited", Value::Bool(true));
        interp.emit(out, Value::object(o));
    }
    Ok(())
}

/// Start-Sleep.
pub fn start_sleep(_interp: &mut Interp, b: &Bound) -> Res<()> {
    let ms = match (b.get("Seconds"), b.get("Milliseconds")) {
        (Some(s), _) => crate::convert::to_f64(s).map_err(|e| b.invalid(e.0))? * 1000.0,
        (None, Some(m)) => crate::convert::to_f64(m).map_err(|e| b.invalid(e.0))?,
        _ => return Err(b.invalid("Cannot process command because of one or more missing mandatory parameters: Seconds.").into()),
    };
    if ms > 0.0 {
        std::thread::sleep(std::time::Duration::from_millis(ms.min(3_600_000.0) as u64));
    }
    Ok(())
}

fn is_verb_noun(name: &str) -> bool {
    let mut parts = name.splitn(2, '-');
    let (Some(v), Some(n)) = (parts.next(), parts.next()) else {
        return false;
    };
    !v.is_empty()
        && !n.is_empty()
        && v.chars().all(|c| c.is_ascii_alphabetic())
        && !n.contains(['.', '\\', '/'])
}

/// Get-Command: functions, catalog cmdlets and aliases, native programs via PATH. A Verb-Noun
/// name the engine does not implement is refused: Windows may have it, the engine cannot say.
pub fn get_command(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let names = b.strings("Name").unwrap_or_default();
    if names.is_empty() {
        return Err(b.unsupported("Get-Command without -Name").into());
    }
    for name in names {
        if crate::ops::has_wildcards(&name) {
            return Err(b.unsupported("Get-Command with wildcards").into());
        }
        if let Some(f) = interp.functions.get(&name.to_lowercase()) {
            let o = Object::new(
                ObjKind::CommandInfo,
                "System.Management.Automation.FunctionInfo",
            )
            .with("Name", Value::string(f.name.clone()))
            .with("CommandType", Value::str("Function"))
            .with("Source", Value::str(""))
            .with("Definition", Value::string(f.block.text.clone()));
            interp.emit(out, Value::object(o));
            continue;
        }
        if let Some(c) = crate::catalog::find_cmdlet(&name) {
            let alias = !c.name.eq_ignore_ascii_case(&name);
            let o = Object::new(
                ObjKind::CommandInfo,
                if alias {
                    "System.Management.Automation.AliasInfo"
                } else {
                    "System.Management.Automation.CmdletInfo"
                },
            )
            .with(
                "Name",
                Value::string(if alias {
                    name.clone()
                } else {
                    c.name.to_string()
                }),
            )
            .with(
                "CommandType",
                Value::str(if alias { "Alias" } else { "Cmdlet" }),
            )
            .with("Definition", Value::str(c.name))
            .with("Source", Value::str(""));
            interp.emit(out, Value::object(o));
            continue;
        }
        if is_verb_noun(&name) {
            return Err(b.unsupported(&format!("looking up the command {name} (Windows may provide it; the engine cannot tell)")).into());
        }
        match resolve_program(interp, &name) {
            Some(p) => {
                let file = p.rsplit('\\').next().unwrap_or(&p).to_string();
                let ext = file
                    .rfind('.')
                    .map(|i| file[i..].to_string())
                    .unwrap_or_default();
                let o = Object::new(
                    ObjKind::CommandInfo,
                    "System.Management.Automation.ApplicationInfo",
                )
                .with("Name", Value::string(file))
                .with(
                    "CommandType",
                    Value::str(if ext.eq_ignore_ascii_case(".ps1") {
                        "ExternalScript"
                    } else {
                        "Application"
                    }),
                )
                .with("Source", Value::string(p.clone()))
                .with("Path", Value::string(p.clone()))
                .with("Definition", Value::string(p.clone()))
                .with("Extension", Value::string(ext));
                interp.emit(out, Value::object(o));
            }
            None => {
                let e = ErrorRecord::new(
                    format!("The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."),
                    "System.Management.Automation.CommandNotFoundException",
                    "ObjectNotFound",
                    "CommandNotFoundException,Microsoft.PowerShell.Commands.GetCommandCommand",
                )
                .with_target(&name)
                .at(b.span);
                interp.write_error(e)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_quote_like_windows_powershell_5_1() {
        let command_line = |p: &str, args: &[String]| {
            command_line(p, &args.iter().map(|a| quote_arg(a)).collect::<Vec<_>>())
        };
        assert_eq!(
            command_line("C:\\x.exe", &["/i".into(), "a b.msi".into()]),
            "C:\\x.exe /i \"a b.msi\""
        );
        assert_eq!(
            command_line("C:\\Program Files\\x.exe", &[]),
            "\"C:\\Program Files\\x.exe\""
        );
        assert_eq!(
            command_line("C:\\x.exe", &["--p=\"a b\"".into()]),
            "C:\\x.exe --p=\"a b\""
        );
        assert_eq!(
            command_line("C:\\x.exe", &["".into(), "y".into()]),
            "C:\\x.exe y"
        );
    }
}
