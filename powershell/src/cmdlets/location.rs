//! Location and path-string cmdlets: Get-Location, Set-Location, Push-Location, Pop-Location,
//! Split-Path, Join-Path; and the PathInfo objects (`$PWD`, Resolve-Path).
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use super::Bound;
use crate::errors::ErrorRecord;
use crate::interp::{Interp, Out, Res};
use crate::value::{ObjKind, Object, Value};
use crate::winfs::{self, Target};

/// A PathInfo (`$PWD`, Get-Location, Resolve-Path): prints as its path.
pub fn path_info(path: &str) -> Value {
    let drive = path.split(':').next().unwrap_or("C").to_string();
    let provider = if drive.eq_ignore_ascii_case("C") {
        "Microsoft.PowerShell.Core\\FileSystem"
    } else {
        "Microsoft.PowerShell.Core\\Registry"
    };
    Value::object(
        Object::new(ObjKind::PathInfo, "System.Management.Automation.PathInfo")
            .with("Path", Value::str(path))
            .with("ProviderPath", Value::str(path))
            .with("Drive", Value::string(drive))
            .with("Provider", Value::str(provider)),
    )
}

pub fn get_location(interp: &mut Interp, _b: &Bound, out: &mut Out) -> Res<()> {
    let v = path_info(&interp.cwd);
    interp.emit(out, v);
    Ok(())
}

/// Set-Location / Push-Location / Pop-Location.
pub fn set_location(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    if b.cmdlet == "Pop-Location" {
        if let Some(p) = interp.location_stack.pop() {
            interp.cwd = p;
        }
        if b.switch("PassThru") {
            let v = path_info(&interp.cwd);
            interp.emit(out, v);
        }
        return Ok(());
    }
    let path = b.str("LiteralPath").or_else(|| b.str("Path"));
    let Some(path) = path else {
        if b.cmdlet == "Push-Location" {
            interp.location_stack.push(interp.cwd.clone());
        }
        return Ok(());
    };
    let new = match winfs::resolve(&interp.cwd, &path) {
        Ok(Target::File(w)) => {
            let drive = interp.host.drive_c().to_path_buf();
            let w = if crate::ops::has_wildcards(&path) && b.has("Path") {
                winfs::expand_wildcards(&drive, &w)
                    .into_iter()
                    .next()
                    .unwrap_or(w)
            } else {
                w
            };
            if !w.unix(&drive).is_dir() {
                return Err(ErrorRecord::not_found(&w.display(), "SetLocation")
                    .at(b.span)
                    .into());
            }
            w.canonical(&drive).display()
        }
        Ok(Target::Registry(h, k)) => {
            if !interp.host.registry().key_exists(h, &k).unwrap_or(false) {
                return Err(ErrorRecord::not_found(&path, "SetLocation")
                    .at(b.span)
                    .into());
            }
            let d = if h == crate::host::Hive::LocalMachine {
                "HKLM:"
            } else {
                "HKCU:"
            };
            format!("{d}\\{k}")
        }
        Ok(Target::Env(_)) => return Err(b.unsupported("Set-Location env:").into()),
        Err(e) => {
            return Err(b
                .error(
                    e.0,
                    "System.Management.Automation.DriveNotFoundException",
                    "ObjectNotFound",
                    "DriveNotFound",
                )
                .into())
        }
    };
    if b.cmdlet == "Push-Location" {
        interp.location_stack.push(interp.cwd.clone());
    }
    interp.cwd = new;
    if b.switch("PassThru") {
        let v = path_info(&interp.cwd);
        interp.emit(out, v);
    }
    Ok(())
}

fn qualifier(p: &str) -> Option<&str> {
    let (q, _) = p.split_once(':')?;
    (!q.is_empty() && !q.contains(['\\', '/'])).then_some(q)
}

fn check_drive(b: &Bound, p: &str) -> Result<(), ErrorRecord> {
    if let Some(q) = qualifier(p) {
        let known = [
            "c", "hklm", "hkcu", "env", "variable", "function", "alias", "cert",
        ];
        if !known.contains(&q.to_ascii_lowercase().as_str()) {
            return Err(b.error(
                format!("Cannot find drive. A drive with the name '{q}' does not exist."),
                "System.Management.Automation.DriveNotFoundException",
                "ObjectNotFound",
                "DriveNotFound",
            ));
        }
    }
    Ok(())
}

/// Split-Path (string operations, as the provider does them).
pub fn split_path(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let paths = b
        .strings("Path")
        .or_else(|| b.strings("LiteralPath"))
        .or_else(|| {
            b.input
                .as_ref()
                .map(|i| i.iter().map(crate::convert::to_string).collect())
        })
        .unwrap_or_default();
    if b.switch("Resolve") {
        return Err(b.unsupported("Split-Path -Resolve").into());
    }
    for p in paths {
        let trimmed = p.trim_end_matches(['\\', '/']);
        let trimmed = if trimmed.ends_with(':') {
            p.as_str()
        } else {
            trimmed
        };
        let v = if b.switch("Leaf") {
            Value::string(trimmed.rsplit(['\\', '/']).next().unwrap_or("").to_string())
        } else if b.switch("Qualifier") {
            match qualifier(&p) {
                Some(q) => Value::string(format!("{q}:")),
                None => {
                    interp.write_error(b.error(format!("Cannot parse path because path '{p}' does not have a qualifier specified."), "System.Management.Automation.PSArgumentException", "InvalidArgument", "ParsePathFormatError"))?;
                    continue;
                }
            }
        } else if b.switch("NoQualifier") {
            Value::string(match p.split_once(':') {
                Some((_, rest)) if qualifier(&p).is_some() => rest.to_string(),
                _ => p.clone(),
            })
        } else if b.switch("IsAbsolute") {
            Value::Bool(qualifier(&p).is_some() || p.starts_with("\\\\"))
        } else {
            // -Parent (the default).
            match trimmed.rfind(['\\', '/']) {
                Some(i) => {
                    let parent = &trimmed[..i];
                    if parent.ends_with(':') {
                        Value::string(format!("{parent}{}", &trimmed[i..i + 1]))
                    } else {
                        Value::string(parent.to_string())
                    }
                }
                None => Value::str(""),
            }
        };
        interp.emit(out, v);
    }
    Ok(())
}

/// Join-Path: Path (each) + ChildPath + AdditionalChildPath with one `\` between parts.
pub fn join_path(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let bases = b
        .strings("Path")
        .or_else(|| {
            b.input
                .as_ref()
                .map(|i| i.iter().map(crate::convert::to_string).collect())
        })
        .unwrap_or_default();
    let mut children: Vec<String> = b.strings("ChildPath").unwrap_or_default();
    children.extend(b.strings("AdditionalChildPath").unwrap_or_default());
    if b.switch("Resolve") {
        return Err(b.unsupported("Join-Path -Resolve").into());
    }
    for base in bases {
        check_drive(b, &base)?;
        let mut acc = base.clone();
        for c in &children {
            if c.is_empty() {
                continue;
            }
            if acc.is_empty() {
                acc = c.clone();
                continue;
            }
            acc = format!(
                "{}\\{}",
                acc.trim_end_matches(['\\', '/']),
                c.trim_start_matches(['\\', '/'])
            );
        }
        interp.emit(out, Value::string(acc));
    }
    Ok(())
}
