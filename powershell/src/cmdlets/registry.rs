//! The Registry provider (HKLM:, HKCU:) over `Host::registry`: keys for New-Item, Remove-Item,
//! Get-Item, Get-ChildItem, Test-Path; values for Get-ItemProperty(Value), Set-ItemProperty,
//! New-ItemProperty, Remove-ItemProperty with the kinds and bytes .NET's RegistryKey.SetValue
//! writes; Set-/Get-ExecutionPolicy (which live in the registry and the process environment).
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use super::{path_args, Bound};
use crate::convert::{self, to_string};
use crate::errors::ErrorRecord;
use crate::host::{
    Hive, HostError, RegValue, REG_BINARY, REG_DWORD, REG_EXPAND_SZ, REG_MULTI_SZ, REG_QWORD,
    REG_SZ,
};
use crate::interp::{Interp, Out, Res};
use crate::value::{ObjKind, Object, Value};
use crate::winfs::{self, Target};

fn hive_name(h: Hive) -> &'static str {
    match h {
        Hive::LocalMachine => "HKEY_LOCAL_MACHINE",
        Hive::CurrentUser => "HKEY_CURRENT_USER",
    }
}

fn full_name(h: Hive, k: &str) -> String {
    if k.is_empty() {
        hive_name(h).to_string()
    } else {
        format!("{}\\{k}", hive_name(h))
    }
}

fn host_err(b: &Bound, e: HostError) -> ErrorRecord {
    b.error(
        e.0,
        "System.IO.IOException",
        "WriteError",
        "RegistryHostError",
    )
}

fn key_missing(h: Hive, k: &str, cmd: &str) -> ErrorRecord {
    let drive = if h == Hive::LocalMachine {
        "HKLM"
    } else {
        "HKCU"
    };
    ErrorRecord::not_found(&format!("{drive}:\\{k}"), cmd)
}

/// A key path with each existing component spelled as the registry has it (keys are
/// case-insensitive; PowerShell shows their stored names).
pub fn canonical_key(interp: &mut Interp, h: Hive, k: &str) -> String {
    let reg = interp.host.registry();
    let mut done: Vec<String> = Vec::new();
    let parts: Vec<&str> = k.split('\\').filter(|c| !c.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        let here = done.join("\\");
        match reg
            .subkeys(h, &here)
            .ok()
            .and_then(|subs| subs.into_iter().find(|s| s.eq_ignore_ascii_case(part)))
        {
            Some(actual) => done.push(actual),
            None => {
                done.extend(parts[i..].iter().map(|p| p.to_string()));
                break;
            }
        }
    }
    done.join("\\")
}

/// The RegistryKey object Get-Item / New-Item return.
pub fn key_value(interp: &mut Interp, h: Hive, k: &str) -> Result<Value, HostError> {
    let k = &canonical_key(interp, h, k);
    let reg = interp.host.registry();
    let values = reg.values(h, k).unwrap_or_default();
    let subkeys = reg.subkeys(h, k).unwrap_or_default();
    let full = full_name(h, k);
    let child = k.rsplit('\\').next().unwrap_or("").to_string();
    let parent = match full.rfind('\\') {
        Some(i) => full[..i].to_string(),
        None => String::new(),
    };
    Ok(Value::object(
        Object::new(ObjKind::RegistryKey, "Microsoft.Win32.RegistryKey")
            .with("Name", Value::string(full.clone()))
            .with(
                "Property",
                Value::array(
                    values
                        .iter()
                        .map(|v| {
                            Value::string(if v.name.is_empty() {
                                "(default)".into()
                            } else {
                                v.name.clone()
                            })
                        })
                        .collect(),
                ),
            )
            .with("SubKeyCount", Value::Int(subkeys.len() as i32))
            .with("ValueCount", Value::Int(values.len() as i32))
            .with(
                "PSPath",
                Value::string(format!("Microsoft.PowerShell.Core\\Registry::{full}")),
            )
            .with(
                "PSParentPath",
                Value::string(format!("Microsoft.PowerShell.Core\\Registry::{parent}")),
            )
            .with("PSChildName", Value::string(child))
            .with("PSIsContainer", Value::Bool(true))
            .with(
                "PSProvider",
                Value::str("Microsoft.PowerShell.Core\\Registry"),
            ),
    ))
}

/// New-Item on a registry path. -Force on an existing key replaces it (the provider deletes
/// and recreates it, values and subkeys included).
pub fn new_key(
    interp: &mut Interp,
    b: &Bound,
    h: Hive,
    k: &str,
    force: bool,
) -> Res<Option<Value>> {
    if k.is_empty() {
        return Err(b.unsupported("creating a hive").into());
    }
    let reg = interp.host.registry();
    let exists = reg.key_exists(h, k).map_err(|e| host_err(b, e))?;
    if exists && !force {
        interp.write_error(b.error(
            "A key at this path already exists.",
            "System.IO.IOException",
            "ResourceExists",
            "System.IO.IOException",
        ))?;
        return Ok(None);
    }
    let parent = k.rsplit_once('\\').map(|(p, _)| p).unwrap_or("");
    if !parent.is_empty() && !reg.key_exists(h, parent).map_err(|e| host_err(b, e))? && !force {
        interp.write_error(key_missing(h, parent, "NewItem").at(b.span))?;
        return Ok(None);
    }
    if exists {
        reg.delete_key(h, k, true).map_err(|e| host_err(b, e))?;
    }
    reg.create_key(h, k).map_err(|e| host_err(b, e))?;
    if let Some(v) = b.get("Value") {
        let val = RegValue::string("", REG_SZ, &to_string(v));
        reg.set_value(h, k, val).map_err(|e| host_err(b, e))?;
    }
    key_value(interp, h, k)
        .map(Some)
        .map_err(|e| host_err(b, e).into())
}

pub fn remove_key(interp: &mut Interp, b: &Bound, h: Hive, k: &str, recurse: bool) -> Res<()> {
    if k.is_empty() {
        return Err(b.unsupported("removing a hive").into());
    }
    let reg = interp.host.registry();
    if !reg.key_exists(h, k).map_err(|e| host_err(b, e))? {
        return interp.write_error(key_missing(h, k, "RemoveItem").at(b.span));
    }
    let has_children = !reg.subkeys(h, k).map_err(|e| host_err(b, e))?.is_empty();
    if has_children && !recurse {
        return interp.write_error(b.error(
            format!(
                "The item at {} has children and the Recurse parameter was not specified.",
                full_name(h, k)
            ),
            "System.Management.Automation.PSInvalidOperationException",
            "InvalidOperation",
            "RemoveItemChildren",
        ));
    }
    reg.delete_key(h, k, true).map_err(|e| host_err(b, e))?;
    Ok(())
}

pub fn get_key(interp: &mut Interp, b: &Bound, h: Hive, k: &str) -> Res<Option<Value>> {
    if !interp
        .host
        .registry()
        .key_exists(h, k)
        .map_err(|e| host_err(b, e))?
    {
        interp.write_error(key_missing(h, k, "GetItem").at(b.span))?;
        return Ok(None);
    }
    key_value(interp, h, k)
        .map(Some)
        .map_err(|e| host_err(b, e).into())
}

pub fn child_keys(interp: &mut Interp, b: &Bound, h: Hive, k: &str) -> Res<Vec<Value>> {
    if !interp
        .host
        .registry()
        .key_exists(h, k)
        .map_err(|e| host_err(b, e))?
    {
        interp.write_error(key_missing(h, k, "GetChildItem").at(b.span))?;
        return Ok(Vec::new());
    }
    let mut subs = interp
        .host
        .registry()
        .subkeys(h, k)
        .map_err(|e| host_err(b, e))?;
    subs.sort_by_key(|s| s.to_lowercase());
    let mut out = Vec::new();
    for s in subs {
        let path = if k.is_empty() { s } else { format!("{k}\\{s}") };
        out.push(key_value(interp, h, &path).map_err(|e| host_err(b, e))?);
    }
    Ok(out)
}

fn registry_target(interp: &Interp, path: &str) -> Option<(Hive, String)> {
    let p = path
        .strip_prefix("Microsoft.PowerShell.Core\\")
        .unwrap_or(path);
    match winfs::resolve(&interp.cwd, p) {
        Ok(Target::Registry(h, k)) => Some((h, k)),
        _ => None,
    }
}

/// `$key.GetValue(name)` on a RegistryKey object.
pub fn key_get_value(interp: &mut Interp, pspath: &str, name: &str) -> Result<Value, ErrorRecord> {
    let (h, k) = registry_target(interp, pspath)
        .ok_or_else(|| ErrorRecord::runtime("not a registry key"))?;
    let values = interp
        .host
        .registry()
        .values(h, &k)
        .map_err(|e| ErrorRecord::runtime(e.0))?;
    let name = if name.eq_ignore_ascii_case("(default)") {
        ""
    } else {
        name
    };
    Ok(
        match values.iter().find(|v| v.name.eq_ignore_ascii_case(name)) {
            Some(v) if v.kind == REG_EXPAND_SZ => {
                Value::string(crate::dotnet::expand_env(interp, &v.as_text()))
            }
            Some(v) => crate::dotnet::reg_value_to_value(v),
            None => Value::Null,
        },
    )
}

pub fn key_value_names(interp: &mut Interp, pspath: &str) -> Result<Value, ErrorRecord> {
    let (h, k) = registry_target(interp, pspath)
        .ok_or_else(|| ErrorRecord::runtime("not a registry key"))?;
    let values = interp
        .host
        .registry()
        .values(h, &k)
        .map_err(|e| ErrorRecord::runtime(e.0))?;
    Ok(Value::array(
        values.iter().map(|v| Value::str(&v.name)).collect(),
    ))
}

fn reg_paths(interp: &mut Interp, b: &Bound) -> Res<Vec<(Hive, String, String)>> {
    let mut out = Vec::new();
    for (path, _) in path_args(b) {
        match winfs::resolve(&interp.cwd, &path) {
            Ok(Target::Registry(h, k)) => out.push((h, k, path)),
            Ok(_) => {
                return Err(b
                    .unsupported(&format!("{} on a non-registry path ({path})", b.cmdlet))
                    .into())
            }
            Err(e) => {
                interp.write_error(b.error(
                    e.0,
                    "System.Management.Automation.DriveNotFoundException",
                    "ObjectNotFound",
                    "DriveNotFound",
                ))?;
            }
        }
    }
    Ok(out)
}

fn value_name(n: &str) -> &str {
    if n.eq_ignore_ascii_case("(default)") {
        ""
    } else {
        n
    }
}

/// Get-ItemProperty / Get-ItemPropertyValue.
pub fn get_item_property(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let names = b.strings("Name");
    let only_value = b.cmdlet == "Get-ItemPropertyValue";
    for (h, k, path) in reg_paths(interp, b)? {
        let reg = interp.host.registry();
        if !reg.key_exists(h, &k).map_err(|e| host_err(b, e))? {
            interp.write_error(
                ErrorRecord::not_found(&path, b.cmdlet.replace('-', "").as_str()).at(b.span),
            )?;
            continue;
        }
        let values = reg.values(h, &k).map_err(|e| host_err(b, e))?;
        let full = full_name(h, &canonical_key(interp, h, &k));
        let mut o = Object::new(
            ObjKind::RegistryProperties,
            "System.Management.Automation.PSCustomObject",
        );
        let wanted: Vec<RegValue> = match &names {
            Some(ns) => {
                let mut sel = Vec::new();
                for n in ns {
                    let matches: Vec<&RegValue> = values
                        .iter()
                        .filter(|v| crate::ops::wildcard_match(value_name(n), &v.name, false))
                        .collect();
                    if matches.is_empty() {
                        interp.write_error(b.error(
                            format!("Property {n} does not exist at path {full}."),
                            "System.Management.Automation.PSArgumentException",
                            "InvalidArgument",
                            "System.Management.Automation.PSArgumentException",
                        ))?;
                    }
                    sel.extend(matches.into_iter().cloned());
                }
                sel
            }
            None => values.clone(),
        };
        if wanted.is_empty() && names.is_some() {
            continue;
        }
        for v in &wanted {
            let val = if v.kind == REG_EXPAND_SZ {
                Value::string(crate::dotnet::expand_env(interp, &v.as_text()))
            } else {
                crate::dotnet::reg_value_to_value(v)
            };
            if only_value {
                interp.emit(out, val);
            } else {
                o.set(
                    if v.name.is_empty() {
                        "(default)"
                    } else {
                        &v.name
                    },
                    val,
                );
            }
        }
        if !only_value {
            let child = k.rsplit('\\').next().unwrap_or("").to_string();
            o.set(
                "PSPath",
                Value::string(format!("Microsoft.PowerShell.Core\\Registry::{full}")),
            );
            o.set(
                "PSParentPath",
                Value::string(format!(
                    "Microsoft.PowerShell.Core\\Registry::{}",
                    full.rsplit_once('\\').map(|x| x.0).unwrap_or("")
                )),
            );
            o.set("PSChildName", Value::string(child));
            o.set(
                "PSDrive",
                Value::str(if h == Hive::LocalMachine {
                    "HKLM"
                } else {
                    "HKCU"
                }),
            );
            o.set(
                "PSProvider",
                Value::str("Microsoft.PowerShell.Core\\Registry"),
            );
            interp.emit(out, Value::object(o));
        }
    }
    Ok(())
}

/// The registry kind a `-Type`/`-PropertyType` names.
fn kind_arg(b: &Bound, s: &str) -> Result<Option<u32>, ErrorRecord> {
    Ok(Some(match s.to_ascii_lowercase().as_str() {
        "string" => REG_SZ,
        "expandstring" => REG_EXPAND_SZ,
        "binary" => REG_BINARY,
        "dword" => REG_DWORD,
        "multistring" => REG_MULTI_SZ,
        "qword" => REG_QWORD,
        "unknown" => return Ok(None),
        "none" => return Err(b.unsupported("-PropertyType None")),
        other => {
            return Err(b.invalid(format!(
                "Cannot bind parameter 'PropertyType'. Cannot convert value \"{other}\" to type \"Microsoft.Win32.RegistryValueKind\". Specify one of the following enumerator names and try again: Unknown, String, ExpandString, Binary, DWord, MultiString, QWord, None"
            )))
        }
    }))
}

/// The kind .NET's RegistryKey.SetValue infers for a value of unknown kind: Int32 → DWORD,
/// string[] → MULTI_SZ, byte[] → BINARY, everything else → its string (REG_SZ).
fn inferred_kind(v: &Value) -> u32 {
    match v {
        Value::Int(_) => REG_DWORD,
        Value::Array(a) => {
            let a = a.borrow();
            if !a.is_empty() && a.iter().all(|x| matches!(x, Value::Byte(_))) {
                REG_BINARY
            } else if a.iter().all(|x| matches!(x, Value::Str(_))) {
                REG_MULTI_SZ
            } else {
                REG_SZ
            }
        }
        _ => REG_SZ,
    }
}

/// Encodes a value as registry data of `kind` (conversions as the provider does them).
fn encode_value(b: &Bound, name: &str, kind: u32, v: &Value) -> Result<RegValue, ErrorRecord> {
    let bad = |e: String| b.invalid(format!("Cannot convert value for '{name}': {e}"));
    Ok(match kind {
        REG_SZ | REG_EXPAND_SZ => {
            let s = match v {
                Value::Array(_) => v
                    .clone()
                    .into_items()
                    .iter()
                    .map(to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
                other => to_string(other),
            };
            RegValue::string(name, kind, &s)
        }
        REG_DWORD => {
            let n = convert::to_i64(v).map_err(|e| bad(e.0))?;
            if n < i32::MIN as i64 || n > u32::MAX as i64 {
                return Err(bad(
                    "Value was either too large or too small for an Int32.".into()
                ));
            }
            RegValue {
                name: name.to_string(),
                kind,
                data: (n as u32).to_le_bytes().to_vec(),
            }
        }
        REG_QWORD => {
            let n = convert::to_i64(v).map_err(|e| bad(e.0))?;
            RegValue {
                name: name.to_string(),
                kind,
                data: n.to_le_bytes().to_vec(),
            }
        }
        REG_BINARY => {
            let items = v.clone().into_items();
            let mut data = Vec::new();
            for x in items {
                let n = convert::to_i64(&x).map_err(|e| bad(e.0))?;
                if !(0..=255).contains(&n) {
                    return Err(bad(format!("{n} is not a byte")));
                }
                data.push(n as u8);
            }
            RegValue {
                name: name.to_string(),
                kind,
                data,
            }
        }
        REG_MULTI_SZ => {
            let items: Vec<String> = match v {
                Value::Null => Vec::new(),
                v => v.clone().into_items().iter().map(to_string).collect(),
            };
            RegValue::multi(name, &items)
        }
        _ => return Err(b.unsupported(&format!("registry value kind {kind}"))),
    })
}

/// Set-ItemProperty / New-ItemProperty on registry keys.
pub fn set_item_property(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let new = b.cmdlet == "New-ItemProperty";
    let name = b.str("Name").ok_or_else(|| {
        b.invalid(
            "Cannot process command because of one or more missing mandatory parameters: Name.",
        )
    })?;
    let name = value_name(&name).to_string();
    let value = b.get("Value").cloned().unwrap_or(Value::Null);
    let given_kind = match b.str(if new { "PropertyType" } else { "Type" }) {
        Some(t) => kind_arg(b, &t)?,
        None => None,
    };
    for (h, k, path) in reg_paths(interp, b)? {
        let reg = interp.host.registry();
        if !reg.key_exists(h, &k).map_err(|e| host_err(b, e))? {
            interp.write_error(
                ErrorRecord::not_found(&path, b.cmdlet.replace('-', "").as_str()).at(b.span),
            )?;
            continue;
        }
        let existing = reg
            .values(h, &k)
            .map_err(|e| host_err(b, e))?
            .into_iter()
            .find(|v| v.name.eq_ignore_ascii_case(&name));
        if new && existing.is_some() && !b.switch("Force") {
            interp.write_error(b.error(
                "The property already exists.",
                "System.IO.IOException",
                "ResourceExists",
                "System.IO.IOException",
            ))?;
            continue;
        }
        // Keep the spelling of an existing value's name.
        let stored_name = existing
            .as_ref()
            .map(|v| v.name.clone())
            .unwrap_or_else(|| name.clone());
        let kind = match (given_kind, &existing) {
            (Some(k), _) => k,
            (None, Some(e)) if !new => e.kind,
            _ => inferred_kind(&value),
        };
        let rv = match encode_value(b, &stored_name, kind, &value) {
            Ok(rv) => rv,
            Err(e) => {
                interp.write_error(e)?;
                continue;
            }
        };
        interp
            .host
            .registry()
            .set_value(h, &k, rv)
            .map_err(|e| host_err(b, e))?;
        if new || b.switch("PassThru") {
            let full = full_name(h, &canonical_key(interp, h, &k));
            let mut o = Object::new(
                ObjKind::RegistryProperties,
                "System.Management.Automation.PSCustomObject",
            );
            o.set(&stored_name, value.clone());
            o.set(
                "PSPath",
                Value::string(format!("Microsoft.PowerShell.Core\\Registry::{full}")),
            );
            interp.emit(out, Value::object(o));
        }
    }
    Ok(())
}

pub fn remove_item_property(interp: &mut Interp, b: &Bound) -> Res<()> {
    let names = b.strings("Name").ok_or_else(|| {
        b.invalid(
            "Cannot process command because of one or more missing mandatory parameters: Name.",
        )
    })?;
    for (h, k, path) in reg_paths(interp, b)? {
        let reg = interp.host.registry();
        if !reg.key_exists(h, &k).map_err(|e| host_err(b, e))? {
            interp.write_error(ErrorRecord::not_found(&path, "RemoveItemProperty").at(b.span))?;
            continue;
        }
        let values = reg.values(h, &k).map_err(|e| host_err(b, e))?;
        for n in &names {
            let n = value_name(n);
            let hits: Vec<String> = values
                .iter()
                .filter(|v| crate::ops::wildcard_match(n, &v.name, false))
                .map(|v| v.name.clone())
                .collect();
            if hits.is_empty() {
                interp.write_error(b.error(
                    format!("Property {n} does not exist at path {}.", full_name(h, &k)),
                    "System.Management.Automation.PSArgumentException",
                    "InvalidArgument",
                    "System.Management.Automation.PSArgumentException",
                ))?;
                continue;
            }
            for hname in hits {
                interp
                    .host
                    .registry()
                    .delete_value(h, &k, &hname)
                    .map_err(|e| host_err(b, e))?;
            }
        }
    }
    Ok(())
}

const SHELL_ID_KEY: &str = "SOFTWARE\\Microsoft\\PowerShell\\1\\ShellIds\\Microsoft.PowerShell";
const POLICIES: &[&str] = &[
    "Unrestricted",
    "RemoteSigned",
    "AllSigned",
    "Restricted",
    "Default",
    "Bypass",
    "Undefined",
];

/// Set-ExecutionPolicy: LocalMachine/CurrentUser scopes write the ShellIds registry value,
/// Process scope the PSExecutionPolicyPreference environment variable; policies from Group
/// Policy scopes cannot be set (as on Windows).
pub fn set_execution_policy(interp: &mut Interp, b: &Bound) -> Res<()> {
    let policy = b.str("ExecutionPolicy").ok_or_else(|| b.invalid("Cannot process command because of one or more missing mandatory parameters: ExecutionPolicy."))?;
    let Some(policy) = POLICIES.iter().find(|p| p.eq_ignore_ascii_case(&policy)) else {
        return Err(b.invalid(format!("Cannot bind parameter 'ExecutionPolicy'. Cannot convert value \"{policy}\" to type \"Microsoft.PowerShell.ExecutionPolicy\".")).into());
    };
    // "Default" is RemoteSigned on Windows Server.
    let stored = if *policy == "Default" {
        "RemoteSigned"
    } else {
        policy
    };
    let scope = b
        .str("Scope")
        .unwrap_or_else(|| "LocalMachine".into())
        .to_ascii_lowercase();
    let hive = match scope.as_str() {
        "process" => {
            interp.env_set("PSExecutionPolicyPreference", if *policy == "Undefined" { None } else { Some(stored.to_string()) });
            return Ok(());
        }
        "localmachine" => Hive::LocalMachine,
        "currentuser" => Hive::CurrentUser,
        "machinepolicy" | "userpolicy" => {
            return Err(b.error("Cannot set execution policy on the MachinePolicy or UserPolicy scopes: they are set by Group Policy.", "System.ArgumentException", "InvalidArgument", "CantSetGroupPolicy").into())
        }
        other => return Err(b.invalid(format!("Cannot bind parameter 'Scope' to \"{other}\"")).into()),
    };
    let reg = interp.host.registry();
    if *policy == "Undefined" {
        if reg
            .key_exists(hive, SHELL_ID_KEY)
            .map_err(|e| host_err(b, e))?
            && reg
                .values(hive, SHELL_ID_KEY)
                .map_err(|e| host_err(b, e))?
                .iter()
                .any(|v| v.name.eq_ignore_ascii_case("ExecutionPolicy"))
        {
            reg.delete_value(hive, SHELL_ID_KEY, "ExecutionPolicy")
                .map_err(|e| host_err(b, e))?;
        }
        return Ok(());
    }
    reg.create_key(hive, SHELL_ID_KEY)
        .map_err(|e| host_err(b, e))?;
    reg.set_value(
        hive,
        SHELL_ID_KEY,
        RegValue::string("ExecutionPolicy", REG_SZ, stored),
    )
    .map_err(|e| host_err(b, e))?;
    Ok(())
}

/// Get-ExecutionPolicy: the effective policy (Process, CurrentUser, LocalMachine, else
/// RemoteSigned, Windows Server's default) or the one of -Scope.
pub fn get_execution_policy(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    if b.switch("List") {
        return Err(b.unsupported("Get-ExecutionPolicy -List").into());
    }
    let read = |interp: &mut Interp, h: Hive| -> Option<String> {
        let reg = interp.host.registry();
        if !reg.key_exists(h, SHELL_ID_KEY).unwrap_or(false) {
            return None;
        }
        reg.values(h, SHELL_ID_KEY)
            .ok()?
            .into_iter()
            .find(|v| v.name.eq_ignore_ascii_case("ExecutionPolicy"))
            .map(|v| v.as_text())
    };
    let scope = b.str("Scope").map(|s| s.to_ascii_lowercase());
    let p = match scope.as_deref() {
        Some("process") => interp.env_get("PSExecutionPolicyPreference"),
        Some("currentuser") => read(interp, Hive::CurrentUser),
        Some("localmachine") => read(interp, Hive::LocalMachine),
        Some(_) => None,
        None => interp
            .env_get("PSExecutionPolicyPreference")
            .or_else(|| read(interp, Hive::CurrentUser))
            .or_else(|| read(interp, Hive::LocalMachine))
            .or_else(|| Some("RemoteSigned".into())),
    };
    interp.emit(out, Value::string(p.unwrap_or_else(|| "Undefined".into())));
    Ok(())
}
