//! Item cmdlets over the FileSystem provider (and their registry/env: forms): Remove-Item,
//! New-Item, Copy-Item, Move-Item, Rename-Item, Test-Path, Get-Item, Get-ChildItem,
//! Resolve-Path, Unblock-File; and the FileInfo/DirectoryInfo objects they return.
//!
//! This module holds the item objects, path resolution and I/O errors the cmdlets share; the
//! cmdlets are in `change` and `query`.
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use std::path::Path;

use super::{path_args, registry, Bound};
use crate::convert::to_string;
use crate::errors::ErrorRecord;
use crate::interp::{Interp, Out, Res};
use crate::ops::{has_wildcards, wildcard_match};
use crate::value::{ObjKind, Object, Value};
use crate::winfs::{self, Target, WinPath};

mod change;
mod query;

// The cmdlets' entry points are this module's API.
pub use change::*;
pub use query::*;

fn time_value(t: std::io::Result<std::time::SystemTime>) -> Value {
    let d = t
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    crate::dotnet::datetime_from_ticks(
        621_355_968_000_000_000 + d.as_secs() as i64 * 10_000_000 + (d.subsec_nanos() / 100) as i64,
    )
}

/// The FileInfo / DirectoryInfo object of an existing path.
pub fn item_value(interp: &Interp, w: &WinPath) -> Value {
    let drive = interp.host.drive_c();
    let w = w.canonical(drive);
    let unix = w.unix(drive);
    let meta = std::fs::metadata(&unix).ok();
    let is_dir = meta.as_ref().is_some_and(|m| m.is_dir());
    let name = if w.parts.is_empty() {
        "C:\\".to_string()
    } else {
        w.name()
    };
    let full = w.display();
    let parent = w.parent().map(|p| p.display()).unwrap_or_default();
    let (base, ext) = match name.rfind('.') {
        Some(i) if i > 0 || !is_dir => (name[..i].to_string(), name[i..].to_string()),
        _ => (name.clone(), String::new()),
    };
    let (base, ext) = if is_dir && !name.contains('.') {
        (name.clone(), String::new())
    } else {
        (base, ext)
    };
    let mut o = Object::new(
        if is_dir {
            ObjKind::DirectoryInfo
        } else {
            ObjKind::FileInfo
        },
        if is_dir {
            "System.IO.DirectoryInfo"
        } else {
            "System.IO.FileInfo"
        },
    )
    .with("Name", Value::string(name.clone()))
    .with("FullName", Value::string(full.clone()))
    .with("Extension", Value::string(ext))
    .with(
        "BaseName",
        Value::string(if is_dir { name.clone() } else { base }),
    )
    .with("Exists", Value::Bool(meta.is_some()))
    .with("PSIsContainer", Value::Bool(is_dir))
    .with("Mode", Value::str(if is_dir { "d-----" } else { "-a----" }))
    .with(
        "Attributes",
        Value::str(if is_dir { "Directory" } else { "Archive" }),
    )
    .with(
        "LastWriteTime",
        time_value(
            meta.as_ref()
                .map(|m| m.modified())
                .unwrap_or(Err(std::io::Error::other(""))),
        ),
    )
    .with(
        "CreationTime",
        time_value(
            meta.as_ref()
                .map(|m| m.created().or_else(|_| m.modified()))
                .unwrap_or(Err(std::io::Error::other(""))),
        ),
    )
    .with(
        "LastAccessTime",
        time_value(
            meta.as_ref()
                .map(|m| m.accessed())
                .unwrap_or(Err(std::io::Error::other(""))),
        ),
    )
    .with(
        "PSPath",
        Value::string(format!("Microsoft.PowerShell.Core\\FileSystem::{full}")),
    )
    .with(
        "PSParentPath",
        Value::string(format!("Microsoft.PowerShell.Core\\FileSystem::{parent}")),
    )
    .with("PSChildName", Value::string(name))
    .with(
        "PSProvider",
        Value::str("Microsoft.PowerShell.Core\\FileSystem"),
    );
    if is_dir {
        o.set(
            "Parent",
            Value::string(w.parent().map(|p| p.name()).unwrap_or_default()),
        );
        o.set("Root", Value::str("C:\\"));
    } else {
        o.set(
            "Length",
            Value::Long(meta.as_ref().map(|m| m.len() as i64).unwrap_or(0)),
        );
        o.set("DirectoryName", Value::string(parent.clone()));
        o.set("Directory", Value::string(parent));
        o.set(
            "IsReadOnly",
            Value::Bool(meta.as_ref().is_some_and(|m| m.permissions().readonly())),
        );
    }
    Value::object(o)
}

/// What a path argument names, for cmdlets that act on existing items.
pub enum Resolved {
    Files(Vec<WinPath>),
    Registry(crate::host::Hive, String),
    Env(Option<String>),
}

/// Resolves a path argument to existing items (wildcards expanded when `wild`); a missing
/// literal path is reported as ItemNotFound with `cmdlet`'s id and yields None.
pub fn resolve_existing(
    interp: &mut Interp,
    b: &Bound,
    path: &str,
    wild: bool,
) -> Res<Option<Resolved>> {
    let cmd_id = b.cmdlet.replace('-', "");
    match winfs::resolve(&interp.cwd, path) {
        Err(e) => {
            let rec = if e.0.contains("Cannot find drive") {
                b.error(
                    e.0,
                    "System.Management.Automation.DriveNotFoundException",
                    "ObjectNotFound",
                    "DriveNotFound",
                )
            } else {
                b.error(
                    e.0,
                    "System.ArgumentException",
                    "InvalidArgument",
                    "ArgumentError",
                )
            };
            interp.write_error(rec)?;
            Ok(None)
        }
        Ok(Target::File(w)) => {
            let drive = interp.host.drive_c().to_path_buf();
            if wild && has_wildcards(path) {
                return Ok(Some(Resolved::Files(winfs::expand_wildcards(&drive, &w))));
            }
            if w.unix(&drive).symlink_metadata().is_ok() {
                Ok(Some(Resolved::Files(vec![w.canonical(&drive)])))
            } else {
                interp.write_error(ErrorRecord::not_found(&w.display(), &cmd_id).at(b.span))?;
                Ok(None)
            }
        }
        Ok(Target::Registry(h, k)) => Ok(Some(Resolved::Registry(h, k))),
        Ok(Target::Env(n)) => Ok(Some(Resolved::Env(n))),
    }
}

fn name_filter(b: &Bound, name: &str) -> bool {
    if let Some(f) = b.str("Filter") {
        if !wildcard_match(&f, name, false) {
            return false;
        }
    }
    if let Some(inc) = b.strings("Include") {
        if !inc.iter().any(|p| wildcard_match(p, name, false)) {
            return false;
        }
    }
    if let Some(exc) = b.strings("Exclude") {
        if exc.iter().any(|p| wildcard_match(p, name, false)) {
            return false;
        }
    }
    true
}

fn io_error(b: &Bound, e: &std::io::Error, path: &str, id: &str) -> ErrorRecord {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => b.error(
            format!("Access to the path '{path}' is denied."),
            "System.UnauthorizedAccessException",
            "PermissionDenied",
            id,
        ),
        std::io::ErrorKind::NotFound => b.error(
            format!("Could not find a part of the path '{path}'."),
            "System.IO.DirectoryNotFoundException",
            "ObjectNotFound",
            id,
        ),
        _ => b.error(
            format!("{path}: {e}"),
            "System.IO.IOException",
            "WriteError",
            id,
        ),
    }
}
