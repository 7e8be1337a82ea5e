//! What the silo's registry shows differently from the image's, and how it is taken back out
//! before a step's delta is made. A real base image's SYSTEM hive describes a Windows machine:
//! hundreds of auto-start services and drivers, the build machine's processor and time zone,
//! renames pending for the next boot. Shown to Wine as they are, Wine's `services.exe` tries to
//! start every one of those services (~190 failures, ~15 s per step on a Windows 10 hive),
//! `wineboot` performs the pending renames, and Wine overwrites the hardware and time-zone values
//! with the host's at every start — all of which would land in the step's layer.
//!
//! So the silo sees, per value, an *override* of the image's value:
//! - **Services** (`ControlSet00N\Services\*`): a service Wine has keeps Wine's values (Wine's
//!   `ImagePath`, `Start`, `Type`… — the silo's services are Wine's, as a container's are its
//!   host's); any other service or driver with `Start` 0, 1 or 2 (boot, system, auto) gets
//!   `Start` = 3 (demand), so it is registered and configurable but not started.
//! - **Host values** ([`HOST_VALUES`]): the values Wine itself writes at start-up are shown as
//!   Wine wrote them in the system layer (on this host), so the start-up write changes nothing.
//! - **Machine subtrees** ([`MACHINE_SUBTREES`]: device enumeration, driver store, upgrade
//!   history): Wine's own instead of the image's, and never committed.
//! - **Pending renames** (`Session Manager\PendingFileRenameOperations`, `…2`): hidden, so
//!   `wineboot` does not carry out a Windows machine's reboot-time renames in the step.
//! - **Hidden subtrees**: the image's kernel and file-system drivers (`Services\*` with a
//!   driver `Type`, unless Wine has the service) and the running machine's state
//!   ([`RUNTIME_STATE`]) are not shown at all. Wine can load no Windows driver, and no step
//!   reads or writes that state; shown, they are a third of the text wineserver loads and saves
//!   and `services.exe` reads at every step (issue #20's speed goal).
//!
//! After the step, [`Overrides::restore`] puts the image's value back wherever the value is still
//! the one the silo showed; a value the step changed (a service it reconfigured, a time zone it
//! set, a rename it scheduled) differs from the shown one and is committed as the step left it.
//! A hidden subtree comes back as the image had it, with whatever the step wrote there (e.g.
//! `reg add` under a hidden driver's `Parameters`) laid over it.
//! The one thing this cannot tell apart is a step writing exactly the shown value (e.g. `sc
//! config X start= demand` on a service the silo shows as demand-start); such a write is not
//! committed (docs/wine.md).

use crate::hive::tree::{Key, Value};
use crate::hive::wine_reg;

/// Values under the current control set that Wine rewrites with the host's at every start:
/// (key, value names). Shown as Wine has them in the system layer.
pub const HOST_VALUES: &[(&str, &[&str])] = &[
    (
        "Control\\Session Manager\\Environment",
        &[
            "NUMBER_OF_PROCESSORS",
            "PROCESSOR_ARCHITECTURE",
            "PROCESSOR_IDENTIFIER",
            "PROCESSOR_LEVEL",
            "PROCESSOR_REVISION",
        ],
    ),
    (
        "Control\\TimeZoneInformation",
        &[
            "Bias",
            "StandardName",
            "StandardBias",
            "StandardStart",
            "DaylightName",
            "DaylightBias",
            "DaylightStart",
            "TimeZoneKeyName",
            "DynamicDaylightTimeDisabled",
        ],
    ),
];

/// Values hidden from the silo (relative to the current control set).
pub const HIDDEN_VALUES: &[(&str, &[&str])] = &[(
    "Control\\Session Manager",
    &[
        "PendingFileRenameOperations",
        "PendingFileRenameOperations2",
    ],
)];

/// Subtrees of the current control set that hold the running machine's state, written by
/// Windows while it runs (not by installers or build steps) and used by nothing in Wine: hidden
/// from the silo, put back at commit. On the Windows 10 hive they are 2.2 MB of the 8.3 MB
/// registry text wineserver loads and saves at every step.
/// - `Control\Notifications`: WNF state names' persisted data (binary blobs);
/// - `Control\Session Manager\AppCompatCache`: the kernel's application compatibility (shim)
///   cache, saved at shutdown.
pub const RUNTIME_STATE: &[&str] = &[
    "Control\\Notifications",
    "Control\\Session Manager\\AppCompatCache",
];

/// `Type` bits of a driver service (kernel, file system, recognizer): what Wine's
/// `services.exe` would hand to `winedevice.exe`, which cannot load a Windows driver.
const DRIVER_TYPES: u32 = 0x1 | 0x2 | 0x8;

/// Subtrees of SYSTEM that describe the build machine's devices and drivers (`{CCS}` = the
/// current control set): the silo shows Wine's (or nothing) instead of the image's, and they are
/// never committed (they are part of the runtime's noise paths). On the Windows 10 hive they are
/// ~32,000 of its 43,000 keys, which Wine would otherwise load, keep and save in every step.
pub const MACHINE_SUBTREES: &[&str] = &[
    "{CCS}\\Enum",
    "{CCS}\\Control\\Class",
    "{CCS}\\Control\\DeviceClasses",
    "{CCS}\\Control\\DeviceContainers",
    "DriverDatabase",
    "Setup\\Upgrade",
];

/// [`MACHINE_SUBTREES`] with the control set filled in.
pub fn machine_subtrees(ccs: &str) -> Vec<String> {
    MACHINE_SUBTREES
        .iter()
        .map(|p| p.replace("{CCS}", ccs))
        .collect()
}

/// `Start` values Wine's services.exe starts by itself: boot, system and auto start.
const AUTO_START_MAX: u32 = 2;
const DEMAND_START: u32 = 3;

/// One value the silo shows differently from the image.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Override {
    /// Key path in the SYSTEM hive (from its root).
    key: String,
    name: String,
    /// The image's value (`None`: the image has none).
    image: Option<Value>,
    /// What the silo shows (`None`: hidden).
    silo: Option<Value>,
}

/// The overrides of one silo's SYSTEM hive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    values: Vec<Override>,
    /// (path in the image, Wine's subtree or `None`) for [`MACHINE_SUBTREES`].
    subtrees: Vec<(String, Option<Key>)>,
    /// (path, the image's subtree) for subtrees the silo does not show: drivers and
    /// [`RUNTIME_STATE`].
    hidden: Vec<(String, Key)>,
}

impl Overrides {
    /// The overrides for `image` (the image's SYSTEM view, laid over Wine's) given `wine`
    /// (the Wine system layer's SYSTEM hive).
    pub fn plan(wine: &Key, image: &Key) -> Overrides {
        let ccs = format!("ControlSet{:03}", wine_reg::current_control_set(image));
        let wine_ccs = format!("ControlSet{:03}", wine_reg::current_control_set(wine));
        let mut out = Vec::new();
        let mut hidden = Vec::new();
        let mut add = |key: String, name: &str, image: Option<&Value>, silo: Option<Value>| {
            if !same(image, silo.as_ref()) {
                out.push(Override {
                    key,
                    name: name.to_string(),
                    image: image.cloned(),
                    silo,
                });
            }
        };
        let services = format!("{ccs}\\Services");
        let wine_services = wine.find(&format!("{wine_ccs}\\Services"));
        for service in image.find(&services).into_iter().flat_map(Key::subkeys) {
            let path = format!("{services}\\{}", service.name);
            match wine_services.and_then(|w| w.subkey(&service.name)) {
                Some(theirs) => {
                    for v in theirs.values() {
                        add(
                            path.clone(),
                            &v.name,
                            service.value(&v.name),
                            Some(v.clone()),
                        );
                    }
                }
                None if service
                    .value("Type")
                    .and_then(dword)
                    .is_some_and(|t| t & DRIVER_TYPES != 0) =>
                {
                    hidden.push((path, service.clone()));
                }
                None => {
                    let start = service.value("Start");
                    if start.and_then(dword).is_some_and(|s| s <= AUTO_START_MAX) {
                        add(
                            path,
                            "Start",
                            start,
                            Some(Value::dword("Start", DEMAND_START)),
                        );
                    }
                }
            }
        }
        for (key, names) in HOST_VALUES {
            let (ours, theirs) = (
                image.find(&format!("{ccs}\\{key}")),
                wine.find(&format!("{wine_ccs}\\{key}")),
            );
            for name in *names {
                let wine_value = theirs.and_then(|k| k.value(name)).cloned();
                // Only values Wine has: it writes nothing else, so nothing else needs hiding.
                if wine_value.is_some() {
                    add(
                        format!("{ccs}\\{key}"),
                        name,
                        ours.and_then(|k| k.value(name)),
                        wine_value,
                    );
                }
            }
        }
        for (key, names) in HIDDEN_VALUES {
            let ours = image.find(&format!("{ccs}\\{key}"));
            for name in *names {
                add(
                    format!("{ccs}\\{key}"),
                    name,
                    ours.and_then(|k| k.value(name)),
                    None,
                );
            }
        }
        for rel in RUNTIME_STATE {
            let path = format!("{ccs}\\{rel}");
            if let Some(state) = image.find(&path) {
                hidden.push((path, state.clone()));
            }
        }
        let subtrees = MACHINE_SUBTREES
            .iter()
            .map(|p| {
                let theirs = wine.find(&p.replace("{CCS}", &wine_ccs)).cloned();
                (p.replace("{CCS}", &ccs), theirs)
            })
            .collect();
        Overrides {
            values: out,
            subtrees,
            hidden,
        }
    }

    /// How many values are overridden and subtrees hidden.
    pub fn len(&self) -> usize {
        self.values.len() + self.hidden.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sets the silo's values in `system` (the image's view).
    pub fn apply(&self, system: &mut Key) {
        for o in &self.values {
            set(system, &o.key, &o.name, o.silo.as_ref());
        }
        for (path, wine) in &self.subtrees {
            let (parent, name) = split_path(path);
            let Some(parent) = system.find_mut(parent) else {
                continue;
            };
            parent.remove_subkey(name);
            if let Some(w) = wine {
                let mut w = w.clone();
                w.name = name.to_string();
                parent.insert_subkey(w);
            }
        }
        for (path, _) in &self.hidden {
            let (parent, name) = split_path(path);
            if let Some(parent) = system.find_mut(parent) {
                parent.remove_subkey(name);
            }
        }
    }

    /// Puts the image's value back wherever `after` (the silo's SYSTEM after the step) still
    /// has the value the silo showed; values the step changed stay as it left them.
    pub fn restore(&self, after: &mut Key) {
        // (The machine subtrees are noise paths: the commit puts the image's back.)
        for o in &self.values {
            let Some(key) = after.find(&o.key) else {
                continue; // the step deleted the key: that is its change
            };
            if same(key.value(&o.name), o.silo.as_ref()) {
                set(after, &o.key, &o.name, o.image.as_ref());
            }
        }
        for (path, image) in &self.hidden {
            let (parent, name) = split_path(path);
            let Some(parent) = after.find_mut(parent) else {
                continue; // the step deleted the parent: that is its change
            };
            let mut restored = image.clone();
            if let Some(written) = parent.remove_subkey(name) {
                restored.lay_over(&written);
            }
            parent.insert_subkey(restored);
        }
    }
}

/// (parent path, last component) of a `\`-separated key path.
fn split_path(path: &str) -> (&str, &str) {
    path.rsplit_once('\\').unwrap_or(("", path))
}

fn set(root: &mut Key, key: &str, name: &str, value: Option<&Value>) {
    match value {
        Some(v) => {
            root.create_path(key).set_value(v.clone());
        }
        None => {
            if let Some(k) = root.find_mut(key) {
                k.remove_value(name);
            }
        }
    }
}

/// Same type and data (names match case-insensitively by construction).
fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.kind == b.kind && a.data == b.data && a.tombstone == b.tombstone,
        _ => false,
    }
}

fn dword(v: &Value) -> Option<u32> {
    (v.kind == crate::hive::tree::value_type::REG_DWORD && v.data.len() == 4)
        .then(|| u32::from_le_bytes(v.data[..4].try_into().unwrap()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system(services: &[(&str, u32)], env: &str, pending: bool) -> Key {
        let mut root = Key::new("ROOT");
        root.create_path("Select")
            .set_value(Value::dword("Current", 1));
        for (name, start) in services {
            let s = root.create_path(&format!("ControlSet001\\Services\\{name}"));
            s.set_value(Value::dword("Start", *start));
            s.set_value(Value::string("ImagePath", &format!("{name}.exe")));
        }
        root.create_path("ControlSet001\\Control\\Session Manager\\Environment")
            .set_value(Value::string("NUMBER_OF_PROCESSORS", env));
        if pending {
            root.create_path("ControlSet001\\Control\\Session Manager")
                .set_value(Value::new(
                    "PendingFileRenameOperations",
                    7,
                    b"x\0\0\0".to_vec(),
                ));
        }
        root
    }

    fn start(k: &Key, service: &str) -> Option<u32> {
        k.find(&format!("ControlSet001\\Services\\{service}"))
            .and_then(|s| s.value("Start"))
            .and_then(dword)
    }

    #[test]
    fn silo_sees_wines_services_and_host_values_and_they_go_back() {
        let wine = system(&[("PlugPlay", 2), ("WineOnly", 2)], "2", false);
        let image = system(
            &[("PlugPlay", 3), ("Spooler", 2), ("Disk", 0), ("Manual", 3)],
            "8",
            true,
        );
        let overrides = Overrides::plan(&wine, &image);
        let mut silo = image.clone();
        overrides.apply(&mut silo);
        assert_eq!(
            start(&silo, "PlugPlay"),
            Some(2),
            "Wine's own service as Wine has it"
        );
        assert_eq!(
            silo.find("ControlSet001\\Services\\PlugPlay")
                .unwrap()
                .value("ImagePath"),
            Some(&Value::string("ImagePath", "PlugPlay.exe"))
        );
        assert_eq!(start(&silo, "Spooler"), Some(3));
        assert_eq!(start(&silo, "Disk"), Some(3));
        assert_eq!(start(&silo, "Manual"), Some(3));
        let env = "ControlSet001\\Control\\Session Manager\\Environment";
        assert_eq!(
            silo.find(env).unwrap().value("NUMBER_OF_PROCESSORS"),
            Some(&Value::string("NUMBER_OF_PROCESSORS", "2"))
        );
        assert!(silo
            .find("ControlSet001\\Control\\Session Manager")
            .unwrap()
            .value("PendingFileRenameOperations")
            .is_none());

        // A step that changed nothing gets the image back exactly.
        let mut after = silo.clone();
        overrides.restore(&mut after);
        assert_eq!(after, image);

        // A step that disabled Spooler and set the processor count keeps its values.
        let mut after = silo.clone();
        after
            .find_mut("ControlSet001\\Services\\Spooler")
            .unwrap()
            .set_value(Value::dword("Start", 4));
        after
            .find_mut(env)
            .unwrap()
            .set_value(Value::string("NUMBER_OF_PROCESSORS", "64"));
        overrides.restore(&mut after);
        assert_eq!(start(&after, "Spooler"), Some(4));
        assert_eq!(start(&after, "Disk"), Some(0));
        assert_eq!(
            after.find(env).unwrap().value("NUMBER_OF_PROCESSORS"),
            Some(&Value::string("NUMBER_OF_PROCESSORS", "64"))
        );
        assert!(after
            .find("ControlSet001\\Control\\Session Manager")
            .unwrap()
            .value("PendingFileRenameOperations")
            .is_some());
    }

    #[test]
    fn drivers_and_runtime_state_are_hidden_and_come_back_with_the_steps_writes() {
        let wine = system(&[("PlugPlay", 2)], "2", false);
        let mut image = system(&[("Spooler", 2), ("Disk", 0)], "8", false);
        let disk = image.find_mut("ControlSet001\\Services\\Disk").unwrap();
        disk.set_value(Value::dword("Type", 1));
        disk.create_path("Parameters")
            .set_value(Value::dword("TimeOutValue", 60));
        image
            .create_path("ControlSet001\\Control\\Session Manager\\AppCompatCache")
            .set_value(Value::new("AppCompatCache", 3, vec![1, 2, 3]));
        image
            .create_path("ControlSet001\\Control\\Notifications")
            .set_value(Value::new("41950C3EA3BC0875", 3, vec![4; 16]));
        let overrides = Overrides::plan(&wine, &image);
        let mut silo = image.clone();
        overrides.apply(&mut silo);
        assert!(silo.find("ControlSet001\\Services\\Disk").is_none());
        assert!(silo.find("ControlSet001\\Control\\Notifications").is_none());
        assert!(silo
            .find("ControlSet001\\Control\\Session Manager\\AppCompatCache")
            .is_none());
        assert_eq!(start(&silo, "Spooler"), Some(3), "a Win32 service stays");

        let mut after = silo.clone();
        overrides.restore(&mut after);
        assert_eq!(
            after, image,
            "a step that wrote nothing gets the image back"
        );

        // `reg add` under the hidden driver's key: the image's key with the step's value.
        let mut after = silo.clone();
        after
            .create_path("ControlSet001\\Services\\Disk\\Parameters")
            .set_value(Value::dword("Extra", 1));
        overrides.restore(&mut after);
        let params = after
            .find("ControlSet001\\Services\\Disk\\Parameters")
            .unwrap();
        assert_eq!(
            params.value("TimeOutValue"),
            Some(&Value::dword("TimeOutValue", 60))
        );
        assert_eq!(params.value("Extra"), Some(&Value::dword("Extra", 1)));
        assert_eq!(start(&after, "Disk"), Some(0));
    }
}
