//! Item cmdlets that change the file system: Remove-Item, New-Item, Copy-Item, Move-Item,
//! Rename-Item and Unblock-File.

use super::*;

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
pub(super) fn copy_file(from: &Path, to: &Path) -> std::io::Result<()> {
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

pub(super) fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
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

pub(super) fn destination(interp: &Interp, b: &Bound) -> Result<WinPath, ErrorRecord> {
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
/// Unblock-File: removes the Zone.Identifier stream; files in the silo carry none, so it only
/// checks that the file exists.
pub fn unblock_file(interp: &mut Interp, b: &Bound) -> Res<()> {
    for (path, wild) in path_args(b) {
        let _ = resolve_existing(interp, b, &path, wild)?;
    }
    Ok(())
}
