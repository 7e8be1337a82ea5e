//! Environment variables by target (process, machine and user, the latter two in the
//! registry), `%VAR%` expansion, registry values as PowerShell values, and special folders.

use super::*;

pub(super) const MACHINE_ENV: &str =
    "SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment";
pub(super) const USER_ENV: &str = "Environment";

pub(super) fn env_target(v: &Value) -> Result<i64, ErrorRecord> {
    match convert_to_enum(v, "System.EnvironmentVariableTarget") {
        Some(Ok(Value::Enum(_, n))) if (0..=2).contains(&n) => Ok(n),
        Some(Err(e)) => Err(err(e)),
        _ => Err(err(
            "Specified argument was out of the range of valid values.\r\nParameter name: target",
        )),
    }
}

pub(super) fn env_key(target: i64) -> (Hive, &'static str) {
    if target == 2 {
        (Hive::LocalMachine, MACHINE_ENV)
    } else {
        (Hive::CurrentUser, USER_ENV)
    }
}

/// Expands `%NAME%` with the process environment (RegistryKey.GetValue does for REG_EXPAND_SZ).
pub fn expand_env(interp: &Interp, s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.find('%') {
            Some(j) => {
                let name = &after[..j];
                match interp.env_get(name) {
                    Some(v) if !name.is_empty() => out.push_str(&v),
                    _ => {
                        out.push('%');
                        out.push_str(name);
                        out.push('%');
                    }
                }
                rest = &after[j + 1..];
            }
            None => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

pub(super) fn set_env(interp: &mut Interp, args: &[Value]) -> Result<Value, ErrorRecord> {
    want("SetEnvironmentVariable", args, &[2, 3])?;
    let name = sarg(args, 0);
    if name.is_empty() || name.contains('=') || name.starts_with('\0') {
        return Err(method_exc(
            "SetEnvironmentVariable",
            args.len(),
            "System.ArgumentException",
            "Environment variable name cannot contain equal character.",
        ));
    }
    let target = if args.len() == 3 {
        env_target(&args[2])?
    } else {
        0
    };
    let value = match &args[1] {
        Value::Null => None,
        v => {
            let s = to_string(v);
            // .NET Framework deletes the variable for an empty value.
            if s.is_empty() || s.starts_with('\0') {
                None
            } else {
                Some(s)
            }
        }
    };
    if target == 0 {
        interp.env_set(&name, value);
        return Ok(Value::Null);
    }
    let (hive, key) = env_key(target);
    let reg = interp.host.registry();
    let herr = |e: crate::host::HostError| {
        method_exc(
            "SetEnvironmentVariable",
            args.len(),
            "System.Security.SecurityException",
            &e.0,
        )
    };
    match value {
        None => {
            if reg.key_exists(hive, key).map_err(herr)? {
                let exists = reg
                    .values(hive, key)
                    .map_err(herr)?
                    .iter()
                    .any(|v| v.name.eq_ignore_ascii_case(&name));
                if exists {
                    reg.delete_value(hive, key, &name).map_err(herr)?;
                }
            }
        }
        Some(v) => {
            reg.create_key(hive, key).map_err(herr)?;
            // RegistryKey.SetValue(name, string) writes REG_SZ, whatever the old kind was.
            reg.set_value(hive, key, RegValue::string(&name, REG_SZ, &v))
                .map_err(herr)?;
        }
    }
    Ok(Value::Null)
}

pub(super) fn get_env(interp: &mut Interp, args: &[Value]) -> Result<Value, ErrorRecord> {
    want("GetEnvironmentVariable", args, &[1, 2])?;
    let name = sarg(args, 0);
    let target = if args.len() == 2 {
        env_target(&args[1])?
    } else {
        0
    };
    if target == 0 {
        return Ok(interp
            .env_get(&name)
            .map(Value::string)
            .unwrap_or(Value::Null));
    }
    let (hive, key) = env_key(target);
    let reg = interp.host.registry();
    let herr = |e: crate::host::HostError| err(e.0);
    if !reg.key_exists(hive, key).map_err(herr)? {
        return Ok(Value::Null);
    }
    let vals = reg.values(hive, key).map_err(herr)?;
    Ok(
        match vals.iter().find(|v| v.name.eq_ignore_ascii_case(&name)) {
            Some(v) if v.kind == REG_EXPAND_SZ => Value::string(expand_env(interp, &v.as_text())),
            Some(v) => reg_value_to_value(v),
            None => Value::Null,
        },
    )
}

/// A registry value as the registry provider returns it (string, int, long, byte[], string[]).
pub fn reg_value_to_value(v: &RegValue) -> Value {
    match v.kind {
        1 | 2 => Value::string(v.as_text()),
        4 if v.data.len() >= 4 => Value::Int(i32::from_le_bytes([
            v.data[0], v.data[1], v.data[2], v.data[3],
        ])),
        11 if v.data.len() >= 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&v.data[..8]);
            Value::Long(i64::from_le_bytes(b))
        }
        7 => Value::array(v.as_multi().into_iter().map(Value::string).collect()),
        _ => Value::bytes(&v.data),
    }
}

pub(super) fn special_folder(interp: &Interp, n: i64) -> String {
    let profile = interp
        .env_get("USERPROFILE")
        .unwrap_or_else(|| "C:\\Users\\ContainerAdministrator".into());
    match n {
        0 => format!("{profile}\\Desktop"),
        5 => format!("{profile}\\Documents"),
        26 => format!("{profile}\\AppData\\Roaming"),
        28 => format!("{profile}\\AppData\\Local"),
        35 => "C:\\ProgramData".into(),
        36 => "C:\\Windows".into(),
        37 => "C:\\Windows\\system32".into(),
        38 => "C:\\Program Files".into(),
        40 => profile,
        41 => "C:\\Windows\\SysWOW64".into(),
        42 => "C:\\Program Files (x86)".into(),
        43 => "C:\\Program Files\\Common Files".into(),
        44 => "C:\\Program Files (x86)\\Common Files".into(),
        25 => "C:\\Users\\Public\\Desktop".into(),
        _ => String::new(),
    }
}
