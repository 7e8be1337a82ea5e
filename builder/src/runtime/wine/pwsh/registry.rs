//! The PowerShell engine's registry inside a Wine silo: Wine's text registry files in the silo's
//! prefix (`system.reg` for HKLM, `user.reg` for HKCU), read and written with
//! [`crate::hive::wine_reg`] while no wineserver runs.
//!
//! Why files and not `reg.exe`: wineserver holds the registry only while a Win32 process runs;
//! between native commands the files are the registry. The engine's changes are kept in memory
//! and written back (byte for byte as wineserver writes them) before the next native command and
//! when the script ends; a native command's changes are seen by re-reading a file whose
//! modification time moved. The step's commit diffs these files as for any step, so what the
//! script changed lands in `Hives/*_Delta` like a `reg add` would.
//!
//! Paths: HKLM `SOFTWARE\…` is Wine's `Software\…`, `SYSTEM\…` is `System\…` with
//! `ControlSet00<Current>` read as Wine's `CurrentControlSet`. HKCU is readable, but changes to it
//! are refused: a Windows layer carries a user's registry as the profile's `NTUSER.DAT` file,
//! which the Wine silo does not produce, so the change would silently vanish from the image.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use powershell::host::{Hive, HostError, RegValue, Registry};

use crate::hive::tree::{Key, Value};
use crate::hive::wine_reg::{self, WineRegFile};

/// One registry file as last read or written.
struct Loaded {
    file: WineRegFile,
    /// Modification time of the file when read/written: a different one means a native command
    /// (through wineserver) changed it.
    mtime: Option<SystemTime>,
    dirty: bool,
}

/// HKLM and HKCU over the silo prefix's `system.reg` and `user.reg`.
pub struct WineFileRegistry {
    prefix: PathBuf,
    machine: Option<Loaded>,
    user: Option<Loaded>,
    /// FILETIME to stamp keys the engine changes with.
    now: u64,
}

fn host_err(e: impl std::fmt::Display) -> HostError {
    HostError(e.to_string())
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn filetime_now() -> u64 {
    const TICKS_1601_TO_1970: u64 = 116_444_736_000_000_000;
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    TICKS_1601_TO_1970 + since.as_secs() * 10_000_000 + u64::from(since.subsec_nanos() / 100)
}

impl WineFileRegistry {
    pub fn new(prefix: impl Into<PathBuf>) -> WineFileRegistry {
        WineFileRegistry {
            prefix: prefix.into(),
            machine: None,
            user: None,
            now: filetime_now(),
        }
    }

    fn file_name(hive: Hive) -> &'static str {
        match hive {
            Hive::LocalMachine => "system.reg",
            Hive::CurrentUser => "user.reg",
        }
    }

    /// The parsed file of `hive`, re-read when something else changed it on disk.
    fn loaded(&mut self, hive: Hive) -> Result<&mut Loaded, HostError> {
        let path = self.prefix.join(Self::file_name(hive));
        let on_disk = mtime(&path);
        let slot = match hive {
            Hive::LocalMachine => &mut self.machine,
            Hive::CurrentUser => &mut self.user,
        };
        let stale = match slot {
            Some(l) => !l.dirty && l.mtime != on_disk,
            None => true,
        };
        if stale {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| HostError(format!("reading the registry {}: {e}", path.display())))?;
            let file = wine_reg::parse(&text, &path.to_string_lossy()).map_err(host_err)?;
            *slot = Some(Loaded {
                file,
                mtime: on_disk,
                dirty: false,
            });
        }
        Ok(slot.as_mut().expect("loaded above"))
    }

    /// Writes changed files back; called before a native command runs and when the script ends.
    pub fn flush(&mut self) -> Result<(), HostError> {
        for hive in [Hive::LocalMachine, Hive::CurrentUser] {
            let path = self.prefix.join(Self::file_name(hive));
            let slot = match hive {
                Hive::LocalMachine => &mut self.machine,
                Hive::CurrentUser => &mut self.user,
            };
            if let Some(l) = slot.as_mut().filter(|l| l.dirty) {
                std::fs::write(&path, wine_reg::write(&l.file)).map_err(|e| {
                    HostError(format!("writing the registry {}: {e}", path.display()))
                })?;
                l.dirty = false;
                l.mtime = mtime(&path);
            }
        }
        Ok(())
    }

    /// Wine's spelling of a hive-relative path (`SYSTEM\ControlSet001\X` → `System\CurrentControlSet\X`).
    fn wine_path(&mut self, hive: Hive, path: &str) -> Result<String, HostError> {
        let parts: Vec<&str> = path.split('\\').filter(|c| !c.is_empty()).collect();
        if hive == Hive::CurrentUser || parts.is_empty() {
            return Ok(parts.join("\\"));
        }
        let mut out: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
        if out[0].eq_ignore_ascii_case("SYSTEM") && out.len() > 1 {
            let system = self.loaded(hive)?.file.root.find(wine_reg::MACHINE_SYSTEM);
            let current = system.map(wine_reg::current_control_set).unwrap_or(1);
            if out[1].eq_ignore_ascii_case(&format!("ControlSet{current:03}")) {
                out[1] = "CurrentControlSet".into();
            }
        }
        Ok(out.join("\\"))
    }

    /// Refuses changes that would not reach the image's layer.
    fn writable(hive: Hive, path: &str) -> Result<(), HostError> {
        if hive == Hive::CurrentUser {
            return Err(HostError(format!(
                "HKEY_CURRENT_USER\\{path}: the Wine silo does not carry changes to a user's registry \
                 into the image (on Windows they are the profile's NTUSER.DAT file); write under \
                 HKLM:\\ or build with --runtime hcs on Windows"
            )));
        }
        let top = path.split('\\').find(|c| !c.is_empty()).unwrap_or("");
        if !top.eq_ignore_ascii_case("SOFTWARE") && !top.eq_ignore_ascii_case("SYSTEM") {
            return Err(HostError(format!(
                "HKEY_LOCAL_MACHINE\\{path}: only the SOFTWARE and SYSTEM hives are carried into a \
                 Windows layer (Hives/*_Delta)"
            )));
        }
        Ok(())
    }

    fn key(&mut self, hive: Hive, path: &str) -> Result<Option<&Key>, HostError> {
        let wine = self.wine_path(hive, path)?;
        Ok(self.loaded(hive)?.file.root.find(&wine))
    }

    fn missing(hive: Hive, path: &str) -> HostError {
        let root = match hive {
            Hive::LocalMachine => "HKEY_LOCAL_MACHINE",
            Hive::CurrentUser => "HKEY_CURRENT_USER",
        };
        HostError(format!(
            "Cannot find path '{root}\\{path}' because it does not exist."
        ))
    }

    /// Runs `change` on the existing key at `path`, stamping it and marking the file dirty.
    fn change<T>(
        &mut self,
        hive: Hive,
        path: &str,
        change: impl FnOnce(&mut Key) -> T,
    ) -> Result<T, HostError> {
        Self::writable(hive, path)?;
        let wine = self.wine_path(hive, path)?;
        let now = self.now;
        let loaded = self.loaded(hive)?;
        let key = loaded
            .file
            .root
            .find_mut(&wine)
            .ok_or_else(|| Self::missing(hive, path))?;
        key.last_write = now;
        let out = change(key);
        loaded.dirty = true;
        Ok(out)
    }
}

impl Registry for WineFileRegistry {
    fn key_exists(&mut self, hive: Hive, path: &str) -> Result<bool, HostError> {
        Ok(self.key(hive, path)?.is_some())
    }

    fn create_key(&mut self, hive: Hive, path: &str) -> Result<bool, HostError> {
        if self.key_exists(hive, path)? {
            return Ok(false);
        }
        Self::writable(hive, path)?;
        let wine = self.wine_path(hive, path)?;
        let now = self.now;
        let loaded = self.loaded(hive)?;
        let mut key = &mut loaded.file.root;
        for component in wine.split('\\').filter(|c| !c.is_empty()) {
            if key.subkey(component).is_none() {
                let mut new = Key::new(component);
                new.last_write = now;
                key.insert_subkey(new);
                key.last_write = now;
            }
            key = key.subkey_mut(component).expect("inserted above");
        }
        loaded.dirty = true;
        Ok(true)
    }

    fn delete_key(&mut self, hive: Hive, path: &str, recursive: bool) -> Result<(), HostError> {
        let wine = self.wine_path(hive, path)?;
        let (parent, name) = match wine.rsplit_once('\\') {
            Some((p, n)) => (p.to_string(), n.to_string()),
            None => (String::new(), wine.clone()),
        };
        let has_children = self
            .key(hive, path)?
            .ok_or_else(|| Self::missing(hive, path))?
            .subkey_count()
            > 0;
        if has_children && !recursive {
            return Err(HostError(format!(
                "the key {path} has subkeys and -Recurse was not given"
            )));
        }
        let parent_path = path.rsplit_once('\\').map(|(p, _)| p).unwrap_or("");
        self.change(hive, parent_path, |_| ())?;
        let loaded = self.loaded(hive)?;
        let parent_key = loaded
            .file
            .root
            .find_mut(&parent)
            .ok_or_else(|| Self::missing(hive, path))?;
        parent_key.remove_subkey(&name);
        Ok(())
    }

    fn subkeys(&mut self, hive: Hive, path: &str) -> Result<Vec<String>, HostError> {
        let key = self
            .key(hive, path)?
            .ok_or_else(|| Self::missing(hive, path))?;
        Ok(key.subkeys().map(|k| k.name.clone()).collect())
    }

    fn values(&mut self, hive: Hive, path: &str) -> Result<Vec<RegValue>, HostError> {
        let key = self
            .key(hive, path)?
            .ok_or_else(|| Self::missing(hive, path))?;
        Ok(key
            .values()
            .map(|v| RegValue {
                name: v.name.clone(),
                kind: v.kind,
                data: v.data.clone(),
            })
            .collect())
    }

    fn set_value(&mut self, hive: Hive, path: &str, value: RegValue) -> Result<(), HostError> {
        self.change(hive, path, |key| {
            key.set_value(Value::new(value.name, value.kind, value.data));
        })
    }

    fn delete_value(&mut self, hive: Hive, path: &str, name: &str) -> Result<(), HostError> {
        let removed = self.change(hive, path, |key| key.remove_value(name).is_some())?;
        if removed {
            Ok(())
        } else {
            Err(HostError(format!(
                "Property {name} does not exist at path {path}."
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSTEM_REG: &str = "WINE REGISTRY Version 2\n;; All keys relative to \\\\Machine\n\n#arch=win64\n\n\
[Software\\\\Classes] 1700000000\n#time=1d9000000000000\n\n\
[System\\\\CurrentControlSet\\\\Control\\\\Session Manager\\\\Environment] 1700000000\n#time=1d9000000000000\n\"PATH\"=str(2):\"C:\\\\windows\\\\system32\"\n\n\
[System\\\\Select] 1700000000\n#time=1d9000000000000\n\"Current\"=dword:00000001\n";

    fn prefix() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("system.reg"), SYSTEM_REG).unwrap();
        std::fs::write(
            t.path().join("user.reg"),
            "WINE REGISTRY Version 2\n;; All keys relative to \\\\User\\\\S-1-5-21-0-0-0-1000\n\n#arch=win64\n",
        )
        .unwrap();
        t
    }

    #[test]
    fn control_set_names_map_to_wines_current_control_set() {
        let t = prefix();
        let mut reg = WineFileRegistry::new(t.path());
        let env = r"SYSTEM\ControlSet001\Control\Session Manager\Environment";
        let values = reg.values(Hive::LocalMachine, env).unwrap();
        assert_eq!(values[0].name, "PATH");
        assert!(reg
            .key_exists(Hive::LocalMachine, r"system\currentcontrolset\control")
            .unwrap());
    }

    #[test]
    fn changes_reach_the_file_only_on_flush_and_read_back_like_wineserver_wrote_them() {
        let t = prefix();
        let mut reg = WineFileRegistry::new(t.path());
        assert!(reg
            .create_key(Hive::LocalMachine, r"SOFTWARE\Silo\Tool")
            .unwrap());
        assert!(!reg
            .create_key(Hive::LocalMachine, r"software\silo\tool")
            .unwrap());
        reg.set_value(
            Hive::LocalMachine,
            r"SOFTWARE\Silo\Tool",
            RegValue::string("Version", 1, "1.2"),
        )
        .unwrap();
        let before = std::fs::read_to_string(t.path().join("system.reg")).unwrap();
        assert!(!before.contains("Silo"));
        reg.flush().unwrap();
        let after = std::fs::read_to_string(t.path().join("system.reg")).unwrap();
        assert!(after.contains("[Software\\\\Silo\\\\Tool]"), "{after}");
        assert!(after.contains("\"Version\"=\"1.2\""), "{after}");
        let mut again = WineFileRegistry::new(t.path());
        let v = again
            .values(Hive::LocalMachine, r"SOFTWARE\Silo\Tool")
            .unwrap();
        assert_eq!(v[0].as_text(), "1.2");
    }

    #[test]
    fn a_change_on_disk_by_a_native_command_is_seen() {
        let t = prefix();
        let mut reg = WineFileRegistry::new(t.path());
        assert!(!reg.key_exists(Hive::LocalMachine, r"SOFTWARE\X").unwrap());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let text = format!("{SYSTEM_REG}\n[Software\\\\X] 1700000001\n#time=1d9000000000000\n");
        std::fs::write(t.path().join("system.reg"), text).unwrap();
        assert!(reg.key_exists(Hive::LocalMachine, r"SOFTWARE\X").unwrap());
    }

    #[test]
    fn writes_that_would_not_reach_the_layer_are_refused() {
        let t = prefix();
        let mut reg = WineFileRegistry::new(t.path());
        let e = reg
            .create_key(Hive::CurrentUser, r"Software\X")
            .unwrap_err();
        assert!(e.0.contains("NTUSER.DAT"), "{e}");
        let e = reg
            .create_key(Hive::LocalMachine, r"HARDWARE\X")
            .unwrap_err();
        assert!(e.0.contains("SOFTWARE and SYSTEM"), "{e}");
        let e = reg
            .set_value(
                Hive::LocalMachine,
                r"SOFTWARE\Missing",
                RegValue::string("a", 1, "b"),
            )
            .unwrap_err();
        assert!(e.0.contains("does not exist"), "{e}");
    }

    #[test]
    fn keys_with_subkeys_need_recurse() {
        let t = prefix();
        let mut reg = WineFileRegistry::new(t.path());
        reg.create_key(Hive::LocalMachine, r"SOFTWARE\A\B").unwrap();
        assert!(reg
            .delete_key(Hive::LocalMachine, r"SOFTWARE\A", false)
            .is_err());
        reg.delete_key(Hive::LocalMachine, r"SOFTWARE\A", true)
            .unwrap();
        assert!(!reg.key_exists(Hive::LocalMachine, r"SOFTWARE\A").unwrap());
        reg.set_value(
            Hive::LocalMachine,
            r"SOFTWARE",
            RegValue::string("v", 1, "x"),
        )
        .unwrap();
        reg.delete_value(Hive::LocalMachine, r"SOFTWARE", "v")
            .unwrap();
        assert!(reg
            .delete_value(Hive::LocalMachine, r"SOFTWARE", "v")
            .is_err());
    }
}
