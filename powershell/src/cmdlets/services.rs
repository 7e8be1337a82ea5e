//! Stop-Service and Set-Service over the service configuration in the registry
//! (`HKLM\SYSTEM\CurrentControlSet\Services\<name>`, what the Service Control Manager reads at
//! boot and what a layer's `System_Delta` carries).
//!
//! No service runs while a script does: in the Wine silo every native command's Wine session
//! (services included) ends before the engine goes on, and services are not started at a step's
//! start. Stopping an existing service therefore finds it stopped, which Windows accepts
//! silently; starting one (`Set-Service -Status Running`) is refused. Start-Service is not in
//! the catalog.
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use super::Bound;
use crate::errors::ErrorRecord;
use crate::host::{Hive, RegValue, REG_DWORD, REG_SZ};
use crate::interp::{Interp, Res};
use crate::ops::{has_wildcards, wildcard_match};

const SERVICES: &str = "SYSTEM\\CurrentControlSet\\Services";

/// SERVICE_WIN32_OWN_PROCESS | SERVICE_WIN32_SHARE_PROCESS: the `Type` bits of a Win32 service
/// (drivers and other keys under Services are not what the service cmdlets manage).
const SERVICE_WIN32: u32 = 0x30;

/// The key names of the Win32 services matching `pattern` (a name or wildcard pattern).
fn find_services(interp: &mut Interp, b: &Bound, pattern: &str) -> Res<Vec<String>> {
    let reg = interp.host.registry();
    let keys = reg.subkeys(Hive::LocalMachine, SERVICES).map_err(|e| {
        b.error(
            e.0,
            "System.InvalidOperationException",
            "OpenError",
            "CouldNotAccessServices",
        )
    })?;
    let wild = has_wildcards(pattern);
    let mut found = Vec::new();
    for key in keys {
        let matches = if wild {
            wildcard_match(pattern, &key, false)
        } else {
            key.eq_ignore_ascii_case(pattern)
        };
        if !matches {
            continue;
        }
        let values = reg
            .values(Hive::LocalMachine, &format!("{SERVICES}\\{key}"))
            .unwrap_or_default();
        let is_service = values.iter().any(|v| {
            v.name.eq_ignore_ascii_case("Type")
                && v.kind == REG_DWORD
                && v.data.len() == 4
                && u32::from_le_bytes([v.data[0], v.data[1], v.data[2], v.data[3]]) & SERVICE_WIN32
                    != 0
        });
        if is_service {
            found.push(key);
        }
    }
    if found.is_empty() && !wild {
        let id = format!(
            "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.{}Command",
            b.cmdlet.replace('-', "")
        );
        let mut e = ErrorRecord::new(
            format!("Cannot find any service with service name '{pattern}'."),
            "Microsoft.PowerShell.Commands.ServiceCommandException",
            "ObjectNotFound",
            &id,
        )
        .at(b.span);
        e.target = Some(pattern.to_string());
        interp.write_error(e)?;
    }
    Ok(found)
}

/// Stop-Service: every named service must exist; none is running (see the module docs).
pub fn stop_service(interp: &mut Interp, b: &Bound) -> Res<()> {
    for name in b.strings("Name").unwrap_or_default() {
        find_services(interp, b, &name)?;
    }
    Ok(())
}

/// Set-Service: -StartupType (the `Start` value), -DisplayName, -Description, and
/// -Status Stopped (a no-op, see the module docs).
pub fn set_service(interp: &mut Interp, b: &Bound) -> Res<()> {
    let start = match b.choice("StartupType", &["Automatic", "Manual", "Disabled"])? {
        Some("Automatic") => Some(2u32),
        Some("Manual") => Some(3),
        Some(_) => Some(4),
        None => None,
    };
    match b.choice("Status", &["Running", "Stopped", "Paused"])? {
        Some("Running") | Some("Paused") => {
            return Err(b
                .unsupported("starting or pausing a service (no service runs in the Wine silo)")
                .into())
        }
        _ => {}
    }
    let name = b.str("Name").unwrap_or_default();
    for key in find_services(interp, b, &name)? {
        let path = format!("{SERVICES}\\{key}");
        let mut values = Vec::new();
        if let Some(start) = start {
            values.push(RegValue {
                name: "Start".into(),
                kind: REG_DWORD,
                data: start.to_le_bytes().to_vec(),
            });
        }
        if let Some(text) = b.str("DisplayName") {
            values.push(RegValue::string("DisplayName", REG_SZ, &text));
        }
        if let Some(text) = b.str("Description") {
            values.push(RegValue::string("Description", REG_SZ, &text));
        }
        for value in values {
            interp
                .host
                .registry()
                .set_value(Hive::LocalMachine, &path, value)
                .map_err(|e| {
                    b.error(
                        e.0,
                        "System.InvalidOperationException",
                        "WriteError",
                        "CouldNotSetService",
                    )
                })?;
        }
    }
    Ok(())
}
