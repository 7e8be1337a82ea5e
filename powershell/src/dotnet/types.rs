//! Type names and enums: the .NET types the engine knows (accelerators such as `[int]` and
//! full names resolved to one canonical spelling), and the enums it converts to and from text
//! (`SecurityProtocolType` flags, `EnvironmentVariableTarget`, `SpecialFolder`).

use super::*;

/// The .NET types the engine knows beyond the accelerators of `convert::canonical_type`.
pub(super) const TYPES: &[&str] = &[
    "System.Net.ServicePointManager",
    "System.Net.SecurityProtocolType",
    "System.Environment",
    "System.EnvironmentVariableTarget",
    "System.Environment+SpecialFolder",
    "System.Convert",
    "System.Text.Encoding",
    "System.IO.Path",
    "System.IO.File",
    "System.IO.Directory",
    "System.Math",
    "System.Net.WebClient",
    "System.Collections.ArrayList",
    "System.Collections.Generic.List",
    "System.Text.StringBuilder",
    "System.Guid",
    "System.IO.FileInfo",
    "System.IO.DirectoryInfo",
    "System.Management.Automation.ErrorRecord",
    "System.Exception",
    "System.Management.Automation.RuntimeException",
    "System.IO.IOException",
    "System.IO.FileNotFoundException",
    "System.Net.WebException",
    "System.Management.Automation.ItemNotFoundException",
    "System.Management.Automation.CommandNotFoundException",
    "System.UnauthorizedAccessException",
    "System.ArgumentException",
    "System.InvalidOperationException",
    "System.TimeSpan",
    "System.IO.Compression.ZipFile",
];

/// Canonical full name of a .NET type written with or without `System.` (`Net.WebClient`).
pub fn canonical_type_name(name: &str) -> Option<String> {
    let n = name.trim();
    // Generic lists: List[string] → System.Collections.Generic.List
    let base = n.split('[').next().unwrap_or(n);
    let lower = base.to_ascii_lowercase();
    for t in TYPES {
        let tl = t.to_ascii_lowercase();
        if tl == lower || tl.strip_prefix("system.") == Some(lower.as_str()) {
            return Some(t.to_string());
        }
    }
    match lower.as_str() {
        "environment.specialfolder" | "system.environment.specialfolder" => {
            Some("System.Environment+SpecialFolder".into())
        }
        "securityprotocoltype" => Some("System.Net.SecurityProtocolType".into()),
        "environmentvariabletarget" => Some("System.EnvironmentVariableTarget".into()),
        "math" => Some("System.Math".into()),
        "io.path" => Some("System.IO.Path".into()),
        _ => None,
    }
}

// ----- enums ---------------------------------------------------------------------------------

pub(super) const SECURITY_PROTOCOL: &[(&str, i64)] = &[
    ("SystemDefault", 0),
    ("Ssl3", 48),
    ("Tls", 192),
    ("Tls11", 768),
    ("Tls12", 3072),
    ("Tls13", 12288),
];
pub(super) const ENV_TARGET: &[(&str, i64)] = &[("Process", 0), ("User", 1), ("Machine", 2)];
pub(super) const SPECIAL_FOLDER: &[(&str, i64)] = &[
    ("Desktop", 0),
    ("Programs", 2),
    ("MyDocuments", 5),
    ("Personal", 5),
    ("Startup", 7),
    ("ApplicationData", 26),
    ("LocalApplicationData", 28),
    ("CommonApplicationData", 35),
    ("Windows", 36),
    ("System", 37),
    ("ProgramFiles", 38),
    ("UserProfile", 40),
    ("SystemX86", 41),
    ("ProgramFilesX86", 42),
    ("CommonProgramFiles", 43),
    ("CommonProgramFilesX86", 44),
    ("CommonDesktopDirectory", 25),
];

/// An enum's full name, its (name, value) table and whether it is a [Flags] enum.
pub(super) type EnumTable = (&'static str, &'static [(&'static str, i64)], bool);

pub(super) fn enum_table(t: &str) -> Option<EnumTable> {
    match t {
        "System.Net.SecurityProtocolType" => {
            Some(("System.Net.SecurityProtocolType", SECURITY_PROTOCOL, true))
        }
        "System.EnvironmentVariableTarget" => {
            Some(("System.EnvironmentVariableTarget", ENV_TARGET, false))
        }
        "System.Environment+SpecialFolder" => {
            Some(("System.Environment+SpecialFolder", SPECIAL_FOLDER, false))
        }
        _ => None,
    }
}

/// An enum value as .NET prints it (flags joined by ", ").
pub fn enum_to_string(t: &str, n: i64) -> String {
    let Some((_, table, flags)) = enum_table(t) else {
        return n.to_string();
    };
    if let Some((name, _)) = table.iter().find(|(_, v)| *v == n) {
        return name.to_string();
    }
    if flags && n != 0 {
        let mut rest = n;
        let mut names = Vec::new();
        for (name, v) in table.iter().rev() {
            if *v != 0 && rest & v == *v {
                names.push(*name);
                rest &= !v;
            }
        }
        if rest == 0 {
            names.reverse();
            return names.join(", ");
        }
    }
    n.to_string()
}

/// `[EnumType]$v` (names, comma lists for flags, numbers); None when `t` is not an enum.
pub fn convert_to_enum(v: &Value, t: &str) -> Option<Result<Value, String>> {
    let (name, table, flags) = enum_table(t)?;
    Some(match v {
        Value::Enum(_, n) => Ok(Value::Enum(name, *n)),
        x if x.is_numeric() => convert::to_i64(x)
            .map(|n| Value::Enum(name, n))
            .map_err(|e| e.0),
        other => {
            let s = to_string(other);
            let mut total = 0;
            for part in s.split(',') {
                let p = part.trim();
                match table.iter().find(|(n, _)| n.eq_ignore_ascii_case(p)) {
                    Some((_, v)) => total |= v,
                    None => {
                        let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
                        return Some(Err(format!(
                            "Unable to match the identifier name {p} to a valid enumerator name. Specify one of the following enumerator names and try again: {}",
                            names.join(", ")
                        )));
                    }
                }
                if !flags {
                    break;
                }
            }
            Ok(Value::Enum(name, total))
        }
    })
}
