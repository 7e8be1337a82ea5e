//! Item cmdlets over the FileSystem provider (and their registry/env: forms): Remove-Item,
//! New-Item, Copy-Item, Move-Item, Rename-Item, Test-Path, Get-Item, Get-ChildItem,
//! Resolve-Path, Unblock-File; and the FileInfo/DirectoryInfo objects they return.
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

/// Remove-Item.
pub fn remove_item(interp: &mut Interp, b: &Bound) -> Res<()> {
    let drive = interp.host.drive_c().to_path_buf();
    let recurse = b.switch("Recurse");
    for (path, wild) in path_args(b) {
        match resolve_existing(interp, b, &path, wild)? {
            None => {}
            Some(Resolved::Registry(h, k)) => registry::remove_key(interp, b, h, &k, recurse)?,
            Some(Resolved::Env(Some(n))) => {
                if interp.env_get(&n).is_none() {
                    interp.write_error(
                        ErrorRecord::not_found(&format!("Env:\\{n}"), "RemoveItem").at(b.span),
                    )?;
                }
                interp.env_set(&n, None);
            }
            Some(Resolved::Env(None)) => {
                return Err(b.unsupported("removing the env: drive").into())
            }
            Some(Resolved::Files(items)) => {
                for w in items {
                    if !name_filter(b, &w.name()) {
                        continue;
                    }
                    if w.parts.is_empty() {
                        return Err(b.unsupported("removing C:\\ itself").into());
                    }
                    let unix = w.unix(&drive);
                    let meta = match unix.symlink_metadata() {
                        Ok(m) => m,
                        Err(_) => continue,
                    };
                    let r = if meta.is_dir() {
                        let has_children = std::fs::read_dir(&unix)
                            .map(|mut d| d.next().is_some())
                            .unwrap_or(false);
                        if has_children && !recurse {
                            interp.write_error(b.error(
                                format!("The item at {} has children and the Recurse parameter was not specified. If you continue, all children will be removed with the item. Are you sure you want to continue?", w.display()),
                                "System.Management.Automation.PSInvalidOperationException",
                                "InvalidOperation",
                                "RemoveItemChildren",
                            ))?;
                            continue;
                        }
                        std::fs::remove_dir_all(&unix)
                    } else {
                        std::fs::remove_file(&unix)
                    };
                    if let Err(e) = r {
                        interp.write_error(io_error(
                            b,
                            &e,
                            &w.display(),
                            "RemoveFileSystemItemIOError",
                        ))?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// New-Item (files, directories; registry keys on HKLM:/HKCU:).
pub fn new_item(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let via_mkdir = matches!(b.invoked_as.to_ascii_lowercase().as_str(), "mkdir" | "md");
    let item_type = match b.str("ItemType") {
        Some(t) => t.to_ascii_lowercase(),
        None if via_mkdir => "directory".into(),
        None => String::new(),
    };
    let force = b.switch("Force");
    let mut paths: Vec<String> = b.strings("Path").unwrap_or_else(|| vec![".".into()]);
    if let Some(name) = b.str("Name") {
        paths = paths
            .into_iter()
            .map(|p| format!("{}\\{name}", p.trim_end_matches(['\\', '/'])))
            .collect();
    } else if !b.has("Path") {
        return Err(b
            .invalid(
                "Cannot process command because of one or more missing mandatory parameters: Path.",
            )
            .into());
    }
    for path in paths {
        let target = match winfs::resolve(&interp.cwd, &path) {
            Ok(t) => t,
            Err(e) => {
                interp.write_error(b.error(
                    e.0,
                    "System.Management.Automation.DriveNotFoundException",
                    "ObjectNotFound",
                    "DriveNotFound",
                ))?;
                continue;
            }
        };
        match target {
            Target::Registry(h, k) => {
                if let Some(v) = registry::new_key(interp, b, h, &k, force)? {
                    interp.emit(out, v);
                }
            }
            Target::Env(Some(n)) => {
                interp.env_set(&n, Some(b.str("Value").unwrap_or_default()));
            }
            Target::Env(None) => return Err(b.unsupported("New-Item on env:").into()),
            Target::File(w) => {
                let drive = interp.host.drive_c().to_path_buf();
                let unix = w.unix(&drive);
                let display = w.canonical(&drive).display();
                match item_type.as_str() {
                    "directory" | "d" | "dir" => {
                        if unix.exists() {
                            if force && unix.is_dir() {
                                interp.emit(out, item_value(interp, &w));
                            } else {
                                interp.write_error(b.error(
                                    format!(
                                        "An item with the specified name {display} already exists."
                                    ),
                                    "System.IO.IOException",
                                    "ResourceExists",
                                    "DirectoryExist",
                                ))?;
                            }
                            continue;
                        }
                        match std::fs::create_dir_all(&unix) {
                            Ok(()) => interp.emit(out, item_value(interp, &w)),
                            Err(e) => interp.write_error(io_error(
                                b,
                                &e,
                                &display,
                                "CreateDirectoryIOError",
                            ))?,
                        }
                    }
                    "" | "file" | "f" => {
                        if unix.is_dir() {
                            interp.write_error(b.error(
                                format!("Access to the path '{display}' is denied."),
                                "System.UnauthorizedAccessException",
                                "PermissionDenied",
                                "NewItemUnauthorizedAccessError",
                            ))?;
                            continue;
                        }
                        if unix.exists() && !force {
                            interp.write_error(b.error(
                                format!("The file '{display}' already exists."),
                                "System.IO.IOException",
                                "WriteError",
                                "NewItemIOError",
                            ))?;
                            continue;
                        }
                        if force {
                            if let Some(parent) = unix.parent() {
                                let _ = std::fs::create_dir_all(parent);
                            }
                        }
                        // The provider writes -Value with a StreamWriter: UTF-8 without BOM, no newline.
                        let data = b.get("Value").map(to_string).unwrap_or_default();
                        match std::fs::write(&unix, data.as_bytes()) {
                            Ok(()) => interp.emit(out, item_value(interp, &w)),
                            Err(e) => {
                                interp.write_error(io_error(b, &e, &display, "NewItemIOError"))?
                            }
                        }
                    }
                    "symboliclink" | "junction" | "hardlink" => {
                        return Err(b.unsupported(&format!("-ItemType {item_type}")).into())
                    }
                    other => {
                        return Err(b.invalid(format!("The type is not a known type for the file system. Only \"file\" and \"directory\" can be created. ({other})")).into());
                    }
                }
            }
        }
    }
    Ok(())
}

/// Copies a file keeping its last-write time (CopyFile does) — the copy's creation time is new.
fn copy_file(from: &Path, to: &Path) -> std::io::Result<()> {
    if to.is_file() {
        std::fs::remove_file(to)?;
    }
    std::fs::copy(from, to)?;
    if let Ok(m) = std::fs::metadata(from).and_then(|m| m.modified()) {
        let f = std::fs::File::options().write(true).open(to)?;
        f.set_modified(m)?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    let mut entries: Vec<_> = std::fs::read_dir(from)?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let src = e.path();
        let dst = to.join(e.file_name());
        if src.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            copy_file(&src, &dst)?;
        }
    }
    Ok(())
}

fn destination(interp: &Interp, b: &Bound) -> Result<WinPath, ErrorRecord> {
    let dest = b.str("Destination").unwrap_or_else(|| ".".into());
    match winfs::resolve(&interp.cwd, &dest) {
        Ok(Target::File(w)) => Ok(w.canonical(interp.host.drive_c())),
        Ok(_) => Err(b.unsupported(&format!("a destination outside the file system ({dest})"))),
        Err(e) => Err(b.error(
            e.0,
            "System.Management.Automation.DriveNotFoundException",
            "ObjectNotFound",
            "DriveNotFound",
        )),
    }
}

/// Copy-Item.
pub fn copy_item(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let drive = interp.host.drive_c().to_path_buf();
    let dest = destination(interp, b)?;
    let recurse = b.switch("Recurse");
    let sources = path_args(b);
    for (path, wild) in sources {
        let Some(res) = resolve_existing(interp, b, &path, wild)? else {
            continue;
        };
        let Resolved::Files(items) = res else {
            return Err(b.unsupported("copying registry or env: items").into());
        };
        let several = has_wildcards(&path) && wild;
        for w in items {
            if !name_filter(b, &w.name()) {
                continue;
            }
            let src = w.unix(&drive);
            let dest_unix = dest.unix(&drive);
            // Into an existing directory (or any destination when several sources match).
            let target = if dest_unix.is_dir() || several {
                dest.join(&w.name())
            } else {
                dest.clone()
            };
            let tu = target.unix(&drive);
            if tu.parent().is_some_and(|p| !p.exists()) {
                interp.write_error(b.error(
                    format!("Could not find a part of the path '{}'.", target.display()),
                    "System.IO.DirectoryNotFoundException",
                    "WriteError",
                    "CopyDirectoryInfoItemIOError",
                ))?;
                continue;
            }
            if src == tu {
                interp.write_error(b.error(
                    format!("Cannot overwrite the item {} with itself.", w.display()),
                    "System.IO.IOException",
                    "WriteError",
                    "CopyError",
                ))?;
                continue;
            }
            let r = if src.is_dir() {
                if recurse {
                    copy_tree(&src, &tu)
                } else {
                    std::fs::create_dir_all(&tu)
                }
            } else {
                copy_file(&src, &tu)
            };
            match r {
                Ok(()) => {
                    if b.switch("PassThru") {
                        interp.emit(out, item_value(interp, &target));
                    }
                }
                Err(e) => interp.write_error(io_error(
                    b,
                    &e,
                    &target.display(),
                    "CopyFileInfoItemIOError",
                ))?,
            }
        }
    }
    Ok(())
}

/// Move-Item.
pub fn move_item(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let drive = interp.host.drive_c().to_path_buf();
    let dest = destination(interp, b)?;
    for (path, wild) in path_args(b) {
        let Some(res) = resolve_existing(interp, b, &path, wild)? else {
            continue;
        };
        let Resolved::Files(items) = res else {
            return Err(b.unsupported("moving registry or env: items").into());
        };
        for w in items {
            if !name_filter(b, &w.name()) {
                continue;
            }
            let src = w.unix(&drive);
            let dest_unix = dest.unix(&drive);
            let target = if dest_unix.is_dir() {
                dest.join(&w.name())
            } else {
                dest.clone()
            };
            let tu = target.unix(&drive);
            if tu.exists() && tu != src {
                if b.switch("Force") && tu.is_file() && src.is_file() {
                    let _ = std::fs::remove_file(&tu);
                } else {
                    interp.write_error(
                        b.error(
                            "Cannot create a file when that file already exists.",
                            "System.IO.IOException",
                            "WriteError",
                            "MoveFileInfoItemIOError",
                        )
                        .with_target(&w.display()),
                    )?;
                    continue;
                }
            }
            if tu.parent().is_some_and(|p| !p.exists()) {
                interp.write_error(b.error(
                    format!("Could not find a part of the path '{}'.", target.display()),
                    "System.IO.DirectoryNotFoundException",
                    "WriteError",
                    "MoveDirectoryItemIOError",
                ))?;
                continue;
            }
            match std::fs::rename(&src, &tu) {
                Ok(()) => {
                    if b.switch("PassThru") {
                        interp.emit(out, item_value(interp, &target));
                    }
                }
                Err(e) => {
                    interp.write_error(io_error(b, &e, &w.display(), "MoveFileInfoItemIOError"))?
                }
            }
        }
    }
    Ok(())
}

/// Rename-Item.
pub fn rename_item(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let drive = interp.host.drive_c().to_path_buf();
    let new_name = b.str("NewName").ok_or_else(|| {
        b.invalid(
            "Cannot process command because of one or more missing mandatory parameters: NewName.",
        )
    })?;
    for (path, _) in path_args(b) {
        let Some(res) = resolve_existing(interp, b, &path, false)? else {
            continue;
        };
        let Resolved::Files(items) = res else {
            return Err(b.unsupported("renaming registry or env: items").into());
        };
        for w in items {
            let Some(parent) = w.parent() else { continue };
            let leaf = new_name
                .rsplit(['\\', '/'])
                .next()
                .unwrap_or(&new_name)
                .to_string();
            if leaf != new_name {
                let given = winfs::resolve(&interp.cwd, &new_name).ok();
                let same_dir = matches!(&given, Some(Target::File(g)) if g.parent().map(|p| p.canonical(&drive)) == Some(parent.canonical(&drive)));
                if !same_dir {
                    interp.write_error(b.error("Cannot rename the specified target, because it represents a path or device name.", "System.ArgumentException", "InvalidArgument", "Argument"))?;
                    continue;
                }
            }
            let target = parent.join(&leaf);
            let tu = target.unix(&drive);
            let src = w.unix(&drive);
            if tu.exists()
                && !tu
                    .to_string_lossy()
                    .eq_ignore_ascii_case(&src.to_string_lossy())
            {
                interp.write_error(b.error(
                    "Cannot create a file when that file already exists.",
                    "System.IO.IOException",
                    "WriteError",
                    "RenameItemIOError",
                ))?;
                continue;
            }
            match std::fs::rename(&src, &tu) {
                Ok(()) => {
                    if b.switch("PassThru") {
                        interp.emit(out, item_value(interp, &target));
                    }
                }
                Err(e) => interp.write_error(io_error(b, &e, &w.display(), "RenameItemIOError"))?,
            }
        }
    }
    Ok(())
}

/// Test-Path: one bool per path.
pub fn test_path(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let drive = interp.host.drive_c().to_path_buf();
    let kind = b
        .choice("PathType", &["Any", "Container", "Leaf"])?
        .map(|s| s.to_ascii_lowercase());
    let paths = path_args(b);
    if paths.is_empty() || paths.iter().any(|(p, _)| p.is_empty()) {
        return Err(b
            .error(
                "Cannot bind argument to parameter 'Path' because it is an empty string.",
                "System.Management.Automation.ParameterBindingException",
                "InvalidData",
                "ParameterArgumentValidationErrorEmptyStringNotAllowed",
            )
            .into());
    }
    for (path, wild) in paths {
        let r = match winfs::resolve(&interp.cwd, &path) {
            Err(_) => false,
            Ok(Target::File(w)) => {
                if b.switch("IsValid") {
                    true
                } else {
                    let found: Vec<WinPath> = if wild && has_wildcards(&path) {
                        winfs::expand_wildcards(&drive, &w)
                    } else {
                        vec![w]
                    };
                    found.iter().any(|w| {
                        let u = w.unix(&drive);
                        let ok_name = name_filter(b, &w.name());
                        ok_name
                            && match kind.as_deref() {
                                Some("leaf") => u.is_file(),
                                Some("container") => u.is_dir(),
                                _ => u.exists(),
                            }
                    })
                }
            }
            Ok(Target::Registry(h, k)) => {
                let exists = interp.host.registry().key_exists(h, &k).unwrap_or(false);
                match kind.as_deref() {
                    Some("leaf") => false,
                    _ => exists,
                }
            }
            Ok(Target::Env(None)) => true,
            Ok(Target::Env(Some(n))) => {
                interp.env_get(&n).is_some() && kind.as_deref() != Some("container")
            }
        };
        interp.emit(out, Value::Bool(r));
    }
    Ok(())
}

fn env_entry(name: &str, value: &str) -> Value {
    Value::object(
        Object::new(
            ObjKind::DictionaryEntry,
            "System.Collections.DictionaryEntry",
        )
        .with("Name", Value::str(name))
        .with("Key", Value::str(name))
        .with("Value", Value::str(value)),
    )
}

/// Get-Item.
pub fn get_item(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    for (path, wild) in path_args(b) {
        match resolve_existing(interp, b, &path, wild)? {
            None => {}
            Some(Resolved::Files(items)) => {
                if items.is_empty() && !has_wildcards(&path) {
                    interp.write_error(ErrorRecord::not_found(&path, "GetItem").at(b.span))?;
                }
                for w in items {
                    if name_filter(b, &w.name()) {
                        let v = item_value(interp, &w);
                        interp.emit(out, v);
                    }
                }
            }
            Some(Resolved::Registry(h, k)) => {
                if let Some(v) = registry::get_key(interp, b, h, &k)? {
                    interp.emit(out, v);
                }
            }
            Some(Resolved::Env(Some(n))) => match interp
                .env
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&n))
                .cloned()
            {
                Some((k, v)) => interp.emit(out, env_entry(&k, &v)),
                None => interp.write_error(
                    ErrorRecord::not_found(&format!("Env:\\{n}"), "GetItem").at(b.span),
                )?,
            },
            Some(Resolved::Env(None)) => return Err(b.unsupported("Get-Item env:").into()),
        }
    }
    Ok(())
}

fn list_dir(interp: &Interp, dir: &WinPath) -> (Vec<WinPath>, Vec<WinPath>) {
    let drive = interp.host.drive_c();
    let mut names: Vec<(String, bool)> = match std::fs::read_dir(dir.unix(drive)) {
        Ok(rd) => rd
            .flatten()
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.path().is_dir(),
                )
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort_by_key(|(n, _)| n.to_lowercase());
    let dirs = names
        .iter()
        .filter(|(_, d)| *d)
        .map(|(n, _)| dir.join(n))
        .collect();
    let files = names
        .iter()
        .filter(|(_, d)| !*d)
        .map(|(n, _)| dir.join(n))
        .collect();
    (dirs, files)
}

fn walk(
    interp: &mut Interp,
    b: &Bound,
    root: &WinPath,
    dir: &WinPath,
    depth: Option<i64>,
    level: i64,
    out: &mut Out,
) {
    let (dirs, files) = list_dir(interp, dir);
    let want_files = !b.switch("Directory");
    let want_dirs = !b.switch("File");
    let recurse = b.switch("Recurse") || depth.is_some();
    for (w, is_dir) in dirs
        .iter()
        .map(|d| (d, true))
        .chain(files.iter().map(|f| (f, false)))
    {
        if (is_dir && !want_dirs) || (!is_dir && !want_files) || !name_filter(b, &w.name()) {
            continue;
        }
        if b.switch("Name") {
            let rel = w.parts[root.parts.len()..].join("\\");
            interp.emit(out, Value::string(rel));
        } else {
            let v = item_value(interp, w);
            interp.emit(out, v);
        }
    }
    if recurse && depth.is_none_or(|d| level < d) {
        for d in dirs {
            walk(interp, b, root, &d, depth, level + 1, out);
        }
    }
}

/// Get-ChildItem.
pub fn get_child_item(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let mut paths = path_args(b);
    if paths.is_empty() {
        paths.push((".".into(), true));
    }
    let depth = b.int("Depth")?;
    for (path, wild) in paths {
        match resolve_existing(interp, b, &path, wild)? {
            None => {}
            Some(Resolved::Files(items)) => {
                let drive = interp.host.drive_c().to_path_buf();
                for w in items {
                    if w.unix(&drive).is_dir() {
                        walk(interp, b, &w, &w, depth, 0, out);
                    } else if name_filter(b, &w.name()) && !b.switch("Directory") {
                        let v = if b.switch("Name") {
                            Value::string(w.name())
                        } else {
                            item_value(interp, &w)
                        };
                        interp.emit(out, v);
                    }
                }
            }
            Some(Resolved::Registry(h, k)) => {
                for v in registry::child_keys(interp, b, h, &k)? {
                    interp.emit(out, v);
                }
            }
            Some(Resolved::Env(name)) => {
                let mut env = interp.env.clone();
                env.sort_by_key(|(k, _)| k.to_lowercase());
                for (k, v) in env {
                    if name.as_ref().is_none_or(|n| wildcard_match(n, &k, false)) {
                        interp.emit(out, env_entry(&k, &v));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Resolve-Path: PathInfo objects (or relative strings with -Relative).
pub fn resolve_path(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    for (path, wild) in path_args(b) {
        match resolve_existing(interp, b, &path, wild)? {
            None => {}
            Some(Resolved::Files(items)) => {
                if items.is_empty() {
                    interp.write_error(ErrorRecord::not_found(&path, "ResolvePath").at(b.span))?;
                }
                for w in items {
                    if b.switch("Relative") {
                        let base = match winfs::resolve(&interp.cwd, ".") {
                            Ok(Target::File(c)) => c,
                            _ => WinPath::root(),
                        };
                        let common = base
                            .parts
                            .iter()
                            .zip(&w.parts)
                            .take_while(|(a, c)| a.eq_ignore_ascii_case(c))
                            .count();
                        let mut rel = vec!["..".to_string(); base.parts.len() - common];
                        rel.extend(w.parts[common..].iter().cloned());
                        let s = if rel.first().map(|x| x.as_str()) == Some("..") {
                            rel.join("\\")
                        } else {
                            format!(".\\{}", rel.join("\\"))
                        };
                        interp.emit(out, Value::string(s));
                    } else {
                        interp.emit(out, super::location::path_info(&w.display()));
                    }
                }
            }
            Some(Resolved::Registry(h, k)) => {
                if !interp.host.registry().key_exists(h, &k).unwrap_or(false) {
                    interp.write_error(ErrorRecord::not_found(&path, "ResolvePath").at(b.span))?;
                    continue;
                }
                let drive = if h == crate::host::Hive::LocalMachine {
                    "HKLM:"
                } else {
                    "HKCU:"
                };
                interp.emit(out, super::location::path_info(&format!("{drive}\\{k}")));
            }
            Some(Resolved::Env(_)) => return Err(b.unsupported("Resolve-Path on env:").into()),
        }
    }
    Ok(())
}

/// Unblock-File: removes the Zone.Identifier stream; files in the silo carry none, so it only
/// checks that the file exists.
pub fn unblock_file(interp: &mut Interp, b: &Bound) -> Res<()> {
    for (path, wild) in path_args(b) {
        let _ = resolve_existing(interp, b, &path, wild)?;
    }
    Ok(())
}
