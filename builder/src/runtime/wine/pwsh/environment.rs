//! The environment block a process in a Windows container starts with, computed from the
//! silo's registry the way Windows' `CreateEnvironmentBlock` does: the system's fixed variables,
//! then the machine `Session Manager\Environment` key, then the user's `Environment` key
//! (`REG_EXPAND_SZ` values expanded; a user `PATH` is appended to the machine's), then the image
//! config's / step's `Env` over all of it (how Docker hands a container its `Env`).
//!
//! This is why `setx /M` and `[Environment]::SetEnvironmentVariable(…, 'Machine')` in one step
//! reach the processes of the next one.

use powershell::host::{Hive, Registry, REG_EXPAND_SZ, REG_SZ};

pub const MACHINE_ENVIRONMENT: &str =
    r"SYSTEM\CurrentControlSet\Control\Session Manager\Environment";
pub const USER_ENVIRONMENT: &str = "Environment";

/// An ordered environment with Windows' case-insensitive names (the first spelling stays).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvBlock(pub Vec<(String, String)>);

impl EnvBlock {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .0
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_string(), value)),
        }
    }

    /// `%NAME%` references replaced by their values; unknown ones stay as written (Windows'
    /// `ExpandEnvironmentStrings`).
    pub fn expand(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find('%') {
            out.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            match after.find('%') {
                Some(end) => {
                    let name = &after[..end];
                    match self.get(name).filter(|_| !name.is_empty()) {
                        Some(v) => {
                            out.push_str(v);
                            rest = &after[end + 1..];
                        }
                        None => {
                            out.push('%');
                            rest = after;
                        }
                    }
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
}

/// Reads the string values of one Environment key (missing key: none).
fn environment_values(
    reg: &mut dyn Registry,
    hive: Hive,
    path: &str,
) -> Vec<(String, String, bool)> {
    if !reg.key_exists(hive, path).unwrap_or(false) {
        return Vec::new();
    }
    reg.values(hive, path)
        .unwrap_or_default()
        .into_iter()
        .filter(|v| v.kind == REG_SZ || v.kind == REG_EXPAND_SZ)
        .map(|v| {
            let text = v.as_text();
            (v.name, text, v.kind == REG_EXPAND_SZ)
        })
        .collect()
}

/// The environment of a container process run as `user` on `computer`.
pub fn container_environment(
    reg: &mut dyn Registry,
    user: &str,
    computer: &str,
    config_env: &[(String, String)],
) -> EnvBlock {
    let profile = format!(r"C:\Users\{user}");
    let mut env = EnvBlock::default();
    for (k, v) in [
        ("ALLUSERSPROFILE", r"C:\ProgramData".to_string()),
        ("APPDATA", format!(r"{profile}\AppData\Roaming")),
        (
            "CommonProgramFiles",
            r"C:\Program Files\Common Files".into(),
        ),
        (
            "CommonProgramFiles(x86)",
            r"C:\Program Files (x86)\Common Files".into(),
        ),
        (
            "CommonProgramW6432",
            r"C:\Program Files\Common Files".into(),
        ),
        ("COMPUTERNAME", computer.to_uppercase()),
        ("HOMEDRIVE", "C:".into()),
        ("HOMEPATH", format!(r"\Users\{user}")),
        ("LOCALAPPDATA", format!(r"{profile}\AppData\Local")),
        ("ProgramData", r"C:\ProgramData".into()),
        ("ProgramFiles", r"C:\Program Files".into()),
        ("ProgramFiles(x86)", r"C:\Program Files (x86)".into()),
        ("ProgramW6432", r"C:\Program Files".into()),
        ("PUBLIC", r"C:\Users\Public".into()),
        ("SystemDrive", "C:".into()),
        ("SystemRoot", r"C:\Windows".into()),
        ("USERDOMAIN", "User Manager".into()),
        ("USERNAME", user.to_string()),
        ("USERPROFILE", profile.clone()),
    ] {
        env.set(k, v);
    }
    for (name, value, expand) in environment_values(reg, Hive::LocalMachine, MACHINE_ENVIRONMENT) {
        let value = if expand { env.expand(&value) } else { value };
        env.set(&name, value);
    }
    for (name, value, expand) in environment_values(reg, Hive::CurrentUser, USER_ENVIRONMENT) {
        let value = if expand { env.expand(&value) } else { value };
        if name.eq_ignore_ascii_case("PATH") {
            let machine = env.get("PATH").unwrap_or("").to_string();
            let joined = if machine.is_empty() {
                value
            } else {
                format!("{machine};{value}")
            };
            env.set("Path", joined);
        } else {
            env.set(&name, value);
        }
    }
    for (k, v) in config_env {
        env.set(k, v.clone());
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use powershell::host::{MemRegistry, RegValue};

    #[test]
    fn machine_then_user_then_config_like_create_environment_block() {
        let mut reg = MemRegistry::default();
        reg.create_key(Hive::LocalMachine, MACHINE_ENVIRONMENT)
            .unwrap();
        reg.set_value(
            Hive::LocalMachine,
            MACHINE_ENVIRONMENT,
            RegValue::string("Path", REG_EXPAND_SZ, r"%SystemRoot%\system32;C:\Tool"),
        )
        .unwrap();
        reg.set_value(
            Hive::LocalMachine,
            MACHINE_ENVIRONMENT,
            RegValue::string("TOOL_HOME", REG_SZ, r"%ProgramFiles%\Tool"),
        )
        .unwrap();
        reg.create_key(Hive::CurrentUser, USER_ENVIRONMENT).unwrap();
        reg.set_value(
            Hive::CurrentUser,
            USER_ENVIRONMENT,
            RegValue::string("PATH", REG_EXPAND_SZ, r"%USERPROFILE%\bin"),
        )
        .unwrap();
        reg.set_value(
            Hive::CurrentUser,
            USER_ENVIRONMENT,
            RegValue::string("TEMP", REG_EXPAND_SZ, r"%USERPROFILE%\AppData\Local\Temp"),
        )
        .unwrap();
        let env = container_environment(
            &mut reg,
            "ContainerAdministrator",
            "silo-1",
            &[("GREETING".into(), "hi".into())],
        );
        assert_eq!(
            env.get("PATH"),
            Some(r"C:\Windows\system32;C:\Tool;C:\Users\ContainerAdministrator\bin")
        );
        // REG_SZ is not expanded (Windows expands only REG_EXPAND_SZ).
        assert_eq!(env.get("tool_home"), Some(r"%ProgramFiles%\Tool"));
        assert_eq!(
            env.get("TEMP"),
            Some(r"C:\Users\ContainerAdministrator\AppData\Local\Temp")
        );
        assert_eq!(env.get("GREETING"), Some("hi"));
        assert_eq!(env.get("COMPUTERNAME"), Some("SILO-1"));
    }

    #[test]
    fn expansion_keeps_unknown_and_unpaired_percents() {
        let mut env = EnvBlock::default();
        env.set("A", "x");
        assert_eq!(env.expand("%A%;%B%;100%"), "x;%B%;100%");
        assert_eq!(env.expand("%%A%"), "%x");
    }
}
