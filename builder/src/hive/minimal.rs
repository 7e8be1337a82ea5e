//! Minimal hives for base images made on any host (`silo base create`): the five machine hives
//! a base layer carries in `Files/Windows/System32/config/`, each with a `ROOT` root (as Windows
//! 10 names them), the top-level keys Windows expects and default security descriptors.
//! hcsshim makes the equivalent with offreg `ORCreateHive` (research §3.4).

use std::sync::Arc;

use super::security::{default_key_sd, system_only_sd};
use super::tree::{FileTime, Key, Value};
use super::writer::{write_hive, WriteOptions};
use crate::layer::changeset::HiveName;

/// 2020-01-01T00:00:00Z: a fixed time so minimal hives are byte-for-byte reproducible.
pub const MINIMAL_TIMESTAMP: FileTime = 132_223_104_000_000_000;

fn root(sd: Vec<u8>, paths: &[&str]) -> Key {
    let mut root = Key::new_root("ROOT");
    for path in paths {
        root.create_path(path);
    }
    stamp(&mut root, &Arc::from(sd));
    root
}

/// Gives every key the fixed time and the hive's descriptor (spelled out on every key so the
/// tree equals what a reader returns).
fn stamp(key: &mut Key, sd: &Arc<[u8]>) {
    key.last_write = MINIMAL_TIMESTAMP;
    key.security = Some(sd.clone());
    key.subkeys_mut().for_each(|k| stamp(k, sd));
}

/// SYSTEM: `Select` pointing at `ControlSet001` and an empty control set.
pub fn system() -> Key {
    let mut root = root(
        default_key_sd(),
        &[
            r"ControlSet001\Control\ComputerName\ComputerName",
            r"ControlSet001\Control\Session Manager\Environment",
            r"ControlSet001\Enum",
            r"ControlSet001\Hardware Profiles",
            r"ControlSet001\Policies",
            r"ControlSet001\Services",
            "MountedDevices",
            "Select",
            "Setup",
        ],
    );
    let select = root.subkey_mut("Select").expect("created above");
    for (name, v) in [
        ("Current", 1),
        ("Default", 1),
        ("Failed", 0),
        ("LastKnownGood", 1),
    ] {
        select.set_value(Value::dword(name, v));
    }
    root
}

/// SOFTWARE: `Classes`, `Microsoft\Windows[ NT]\CurrentVersion`, `Policies`, `WOW6432Node`.
pub fn software() -> Key {
    root(
        default_key_sd(),
        &[
            "Classes",
            "Clients",
            r"Microsoft\Windows\CurrentVersion",
            r"Microsoft\Windows NT\CurrentVersion",
            r"Policies\Microsoft",
            "RegisteredApplications",
            r"WOW6432Node\Microsoft",
        ],
    )
}

/// SAM: the account and builtin domains; SYSTEM-only access as on Windows.
pub fn sam() -> Key {
    root(
        system_only_sd(),
        &[
            r"SAM\Domains\Account\Users\Names",
            r"SAM\Domains\Account\Groups\Names",
            r"SAM\Domains\Account\Aliases\Names",
            r"SAM\Domains\Builtin\Aliases\Names",
            r"SAM\RXACT",
        ],
    )
}

/// SECURITY: the LSA policy store; SYSTEM-only access.
pub fn security() -> Key {
    root(
        system_only_sd(),
        &[r"Policy\Accounts", r"Policy\Secrets", "RXACT", "Cache"],
    )
}

/// DEFAULT (HKU\.DEFAULT): the profile keys a new user profile starts from.
pub fn default() -> Key {
    root(
        default_key_sd(),
        &[
            r"Control Panel\Desktop",
            r"Control Panel\International",
            "Environment",
            r"Software\Microsoft\Windows\CurrentVersion",
            "Software\\Policies",
        ],
    )
}

/// The minimal tree for a hive.
pub fn tree(hive: HiveName) -> Key {
    match hive {
        HiveName::System => system(),
        HiveName::Software => software(),
        HiveName::Sam => sam(),
        HiveName::Security => security(),
        HiveName::DefaultUser => default(),
    }
}

/// The minimal hive file for `hive`, as it goes to `Files/Windows/System32/config/<NAME>`.
pub fn bytes(hive: HiveName) -> Vec<u8> {
    let options = WriteOptions {
        file_name: format!(r"\SystemRoot\System32\Config\{}", hive.base_file_name()),
        timestamp: MINIMAL_TIMESTAMP,
        ..WriteOptions::default()
    };
    write_hive(&tree(hive), &options).expect("the minimal trees are valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hive::read_hive;

    #[test]
    fn every_minimal_hive_reads_back() {
        for hive in HiveName::ALL {
            let bytes = bytes(hive);
            let parsed = read_hive(&bytes).unwrap();
            assert!(parsed.root == tree(hive), "{hive:?} reads back differently");
            assert!(!parsed.base.is_layered());
            assert_eq!(parsed.base.minor, 5);
        }
        let system = system();
        assert_eq!(
            system
                .find("Select")
                .unwrap()
                .value("Current")
                .unwrap()
                .data,
            [1, 0, 0, 0]
        );
        assert!(system.find(r"ControlSet001\Services").is_some());
    }
}
