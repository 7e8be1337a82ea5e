//! Get-Acl and Set-Acl on the FileSystem provider. The descriptor comes from the host, which
//! knows what the step's layer will record for each item; the engine shows the parts of it
//! that .NET's `FileSecurity`/`DirectorySecurity` expose and hands it back unchanged to
//! Set-Acl. Changing an ACL (`AddAccessRule`, `SetOwner`, new `FileSystemAccessRule`s) is not
//! in the catalog, so such scripts are refused before they run.
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use super::items::{resolve_existing, Resolved};
use super::{path_args, Bound};
use crate::interp::{Interp, Out, Res};
use crate::value::{ObjKind, Object, Value};
use crate::winfs::WinPath;

/// The items a path argument names; registry and env: paths are refused (their ACLs are not
/// part of a layer's files).
fn items(interp: &mut Interp, b: &Bound, paths: Vec<(String, bool)>) -> Res<Vec<WinPath>> {
    let mut found = Vec::new();
    for (path, wild) in paths {
        match resolve_existing(interp, b, &path, wild)? {
            None => {}
            Some(Resolved::Files(files)) => found.extend(files),
            Some(_) => {
                return Err(b
                    .unsupported("an ACL outside the FileSystem provider")
                    .into())
            }
        }
    }
    Ok(found)
}

fn host_error(b: &Bound, w: &WinPath, e: crate::host::HostError) -> crate::errors::ErrorRecord {
    b.error(
        format!("{}: {}", w.display(), e.0),
        "System.NotSupportedException",
        "InvalidOperation",
        &format!("{}Failed", b.cmdlet.replace('-', "")),
    )
}

/// Get-Acl: one `FileSecurity` or `DirectorySecurity` per item.
pub fn get_acl(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let drive = interp.host.drive_c().to_path_buf();
    let mut paths = path_args(b);
    if paths.is_empty() {
        paths.push((interp.cwd.clone(), false));
    }
    for w in items(interp, b, paths)? {
        let unix = w.unix(&drive);
        let view = match interp.host.get_acl(&unix) {
            Ok(view) => view,
            Err(e) => {
                interp.write_error(host_error(b, &w, e))?;
                continue;
            }
        };
        let type_name = if unix.is_dir() {
            "System.Security.AccessControl.DirectorySecurity"
        } else {
            "System.Security.AccessControl.FileSecurity"
        };
        let ps_path = format!("Microsoft.PowerShell.Core\\FileSystem::{}", w.display());
        let parent = w.parent().map(|p| p.display()).unwrap_or_default();
        let o = Object::new(
            ObjKind::Security {
                descriptor: view.descriptor,
            },
            type_name,
        )
        .with("Path", Value::string(ps_path.clone()))
        .with("PSPath", Value::string(ps_path))
        .with(
            "PSParentPath",
            Value::string(format!("Microsoft.PowerShell.Core\\FileSystem::{parent}")),
        )
        .with("PSChildName", Value::string(w.name()))
        .with("Owner", Value::string(view.owner))
        .with("Group", Value::string(view.group))
        .with("AreAccessRulesCanonical", Value::Bool(view.canonical))
        .with("AreAccessRulesProtected", Value::Bool(view.protected));
        interp.emit(out, Value::object(o));
    }
    Ok(())
}

/// Set-Acl: writes the descriptor of a Get-Acl result to each item (`-AclObject`, or the
/// pipeline as in `Get-Acl a | Set-Acl b`).
pub fn set_acl(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let acl = match b.get("AclObject") {
        Some(v) => v.clone(),
        None => match b.input.as_deref() {
            Some([one]) => one.clone(),
            _ => {
                return Err(b
                    .invalid("Cannot bind argument to parameter 'AclObject' because it is null.")
                    .into())
            }
        },
    };
    let descriptor = match &acl {
        Value::Object(o) => match &o.borrow().kind {
            ObjKind::Security { descriptor } => descriptor.clone(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    if descriptor.is_empty() {
        return Err(b
            .unsupported("an -AclObject that is not a Get-Acl result")
            .into());
    }
    let drive = interp.host.drive_c().to_path_buf();
    // Only -Path/-LiteralPath name targets: pipeline input is the ACL.
    let paths = match (b.strings("LiteralPath"), b.strings("Path")) {
        (Some(literal), _) => literal.into_iter().map(|p| (p, false)).collect(),
        (None, Some(wild)) => wild.into_iter().map(|p| (p, true)).collect(),
        (None, None) => {
            return Err(b
                .invalid("Cannot bind argument to parameter 'Path' because it is null.")
                .into())
        }
    };
    for w in items(interp, b, paths)? {
        if let Err(e) = interp.host.set_acl(&w.unix(&drive), &descriptor) {
            interp.write_error(host_error(b, &w, e))?;
            continue;
        }
        if b.switch("Passthru") {
            interp.emit(out, acl.clone());
        }
    }
    Ok(())
}
