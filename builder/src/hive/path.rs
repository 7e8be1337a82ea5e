//! reg.exe-style registry paths (`HKLM\SOFTWARE\…`, `HKEY_USERS\.DEFAULT\…`, kernel names such
//! as `\Registry\Machine\SYSTEM\…`) resolved to the machine hive that stores them and the path
//! inside that hive. Root names compare case-insensitively, as Windows does.

use super::tree::{names_equal, Key};
use crate::layer::changeset::HiveName;

/// Where a registry path lives: a hive and the key path inside it (no leading `\`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HivePath {
    pub hive: HiveName,
    pub path: String,
}

/// Why a path does not name a key in a container's machine hives.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error(
        "{0:?} does not start with a registry root (HKLM, HKU, HKCR, HKCC or their long names)"
    )]
    UnknownRoot(String),
    #[error(
        "{0:?} names a root, not a key in a hive: add a hive such as HKLM\\SOFTWARE or \
         HKLM\\SYSTEM"
    )]
    RootOnly(String),
    #[error("{path:?}: {reason}")]
    NotInAHive { path: String, reason: String },
}

/// Resolves a reg.exe-style path to its hive and the path inside it.
pub fn resolve(path: &str) -> Result<HivePath, PathError> {
    let parts: Vec<&str> = path.split('\\').filter(|c| !c.is_empty()).collect();
    let Some((&first, rest)) = parts.split_first() else {
        return Err(PathError::UnknownRoot(path.to_string()));
    };
    let root = first.trim_end_matches(':');
    let is = |names: &[&str]| names.iter().any(|n| names_equal(n, root));
    let not_in_hive = |reason: &str| PathError::NotInAHive {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    // Kernel form: \Registry\Machine\… and \Registry\User\…
    if is(&["Registry"]) {
        let Some((&second, rest)) = rest.split_first() else {
            return Err(PathError::RootOnly(path.to_string()));
        };
        return if names_equal(second, "Machine") {
            machine(path, rest)
        } else if names_equal(second, "User") {
            users(path, rest)
        } else {
            Err(PathError::UnknownRoot(path.to_string()))
        };
    }
    if is(&["HKLM", "HKEY_LOCAL_MACHINE"]) {
        machine(path, rest)
    } else if is(&["HKU", "HKEY_USERS"]) {
        users(path, rest)
    } else if is(&["HKCR", "HKEY_CLASSES_ROOT"]) {
        // The machine half of HKCR; per-user classes live in the profile's UsrClass.dat.
        Ok(HivePath {
            hive: HiveName::Software,
            path: join(std::iter::once("Classes").chain(rest.iter().copied())),
        })
    } else if is(&["HKCC", "HKEY_CURRENT_CONFIG"]) {
        Ok(HivePath {
            hive: HiveName::System,
            path: join(
                ["CurrentControlSet", "Hardware Profiles", "Current"]
                    .into_iter()
                    .chain(rest.iter().copied()),
            ),
        })
    } else if is(&["HKCU", "HKEY_CURRENT_USER"]) {
        Err(not_in_hive(
            "HKEY_CURRENT_USER is a user profile's NTUSER.DAT, not one of the image's machine \
             hives; use HKU\\.DEFAULT for the default profile",
        ))
    } else {
        Err(PathError::UnknownRoot(path.to_string()))
    }
}

fn join<'a>(parts: impl Iterator<Item = &'a str>) -> String {
    parts.collect::<Vec<_>>().join("\\")
}

fn machine(path: &str, rest: &[&str]) -> Result<HivePath, PathError> {
    let Some((&hive, inner)) = rest.split_first() else {
        return Err(PathError::RootOnly(path.to_string()));
    };
    let hive = [
        ("SYSTEM", HiveName::System),
        ("SOFTWARE", HiveName::Software),
        ("SAM", HiveName::Sam),
        ("SECURITY", HiveName::Security),
    ]
    .into_iter()
    .find(|(name, _)| names_equal(name, hive))
    .map(|(_, h)| h)
    .ok_or_else(|| PathError::NotInAHive {
        path: path.to_string(),
        reason: if names_equal(hive, "HARDWARE") {
            "HKLM\\HARDWARE is built at boot and stored in no hive".into()
        } else {
            format!("HKLM has no hive {hive:?} (SYSTEM, SOFTWARE, SAM or SECURITY)")
        },
    })?;
    Ok(HivePath {
        hive,
        path: join(inner.iter().copied()),
    })
}

fn users(path: &str, rest: &[&str]) -> Result<HivePath, PathError> {
    let Some((&profile, inner)) = rest.split_first() else {
        return Err(PathError::RootOnly(path.to_string()));
    };
    // .DEFAULT is LocalSystem's profile, also mounted as S-1-5-18.
    if names_equal(profile, ".DEFAULT") || names_equal(profile, "S-1-5-18") {
        Ok(HivePath {
            hive: HiveName::DefaultUser,
            path: join(inner.iter().copied()),
        })
    } else {
        Err(PathError::NotInAHive {
            path: path.to_string(),
            reason: format!(
                "HKU\\{profile} is a user profile hive (NTUSER.DAT), not one of the image's \
                 machine hives"
            ),
        })
    }
}

impl HivePath {
    /// Replaces a leading `CurrentControlSet` (a link Windows creates at boot) with the control
    /// set `Select\Current` names in `system` (default 1).
    pub fn resolve_control_set(&mut self, system: &Key) {
        if self.hive != HiveName::System {
            return;
        }
        let (first, rest) = self.path.split_once('\\').unwrap_or((&self.path, ""));
        if !names_equal(first, "CurrentControlSet") {
            return;
        }
        let current = system
            .find("Select")
            .and_then(|k| k.value("Current"))
            .and_then(|v| v.data.get(..4))
            .map(|d| u32::from_le_bytes([d[0], d[1], d[2], d[3]]))
            .unwrap_or(1);
        let set = format!("ControlSet{current:03}");
        self.path = if rest.is_empty() {
            set
        } else {
            format!("{set}\\{rest}")
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(hive: HiveName, path: &str) -> HivePath {
        HivePath {
            hive,
            path: path.into(),
        }
    }

    #[test]
    fn resolves_reg_exe_names() {
        assert_eq!(
            resolve(r"HKLM\SOFTWARE\Foo\Bar"),
            Ok(hp(HiveName::Software, r"Foo\Bar"))
        );
        assert_eq!(
            resolve(r"hkey_local_machine\system"),
            Ok(hp(HiveName::System, ""))
        );
        assert_eq!(
            resolve(r"HKU\.DEFAULT\Environment"),
            Ok(hp(HiveName::DefaultUser, "Environment"))
        );
        assert_eq!(
            resolve(r"\Registry\Machine\SAM\SAM"),
            Ok(hp(HiveName::Sam, "SAM"))
        );
        assert_eq!(
            resolve(r"HKCR\.txt"),
            Ok(hp(HiveName::Software, r"Classes\.txt"))
        );
        assert_eq!(
            resolve(r"HKLM:\Security\Policy"),
            Ok(hp(HiveName::Security, "Policy"))
        );
        assert!(matches!(resolve("HKLM"), Err(PathError::RootOnly(_))));
        assert!(matches!(
            resolve(r"HKCU\Software"),
            Err(PathError::NotInAHive { .. })
        ));
        assert!(matches!(
            resolve(r"HKLM\HARDWARE"),
            Err(PathError::NotInAHive { .. })
        ));
        assert!(matches!(
            resolve(r"C:\Windows"),
            Err(PathError::UnknownRoot(_))
        ));
    }

    #[test]
    fn current_control_set_follows_select() {
        let mut system = Key::new("ROOT");
        system
            .create_path("Select")
            .set_value(crate::hive::Value::dword("Current", 2));
        let mut p = resolve(r"HKLM\SYSTEM\CurrentControlSet\Services").unwrap();
        p.resolve_control_set(&system);
        assert_eq!(p.path, r"ControlSet002\Services");
    }
}
