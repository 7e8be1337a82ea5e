//! The silo's registry: before a step, the image's registry (base hives ⊕ every layer's delta)
//! is laid over the Wine system layer's registry and written as the silo's `system.reg` /
//! `userdef.reg` / `user.reg`; after the step the files wineserver saved are parsed, Wine's
//! noise is dropped, and each hive's difference becomes a `Hives/*_Delta` differencing hive.
//!
//! Hive mapping (`hive::wine_reg`): `system.reg` `Software` → SOFTWARE, `System` → SYSTEM
//! (`CurrentControlSet` ⇄ `ControlSet00N`), `userdef.reg` → DEFAULT. `user.reg` (HKCU of Wine's
//! single user) has no `Hives/` delta in a Windows layer (profile hives are files under
//! `Users/`), so it is taken from the Wine system layer and its changes are not exported.
//!
//! Noise (research `registry-hives.md` §7.4): wineserver re-stamps keys on every start, so
//! last-write times are never a change by themselves; and a few subtrees are Wine's own
//! bookkeeping (its configuration, device enumeration) and never part of a layer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::hive::tree::{Key, LayerSemantics, Value};
use crate::hive::wine_reg::{self, MachineHives, WineRegFile};
use crate::hive::{read_hive, write_hive, WriteOptions};
use crate::layer::HiveName;

use super::process::resolve_case_insensitive;
use super::system_layer::SystemLayer;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    WineReg(#[from] wine_reg::WineRegError),
    #[error("{path}: not a readable registry hive: {message}")]
    Hive { path: PathBuf, message: String },
    #[error("writing the {hive:?} delta hive: {message}")]
    Write { hive: HiveName, message: String },
}

fn read_text(path: &Path) -> Result<String, RegistryError> {
    std::fs::read_to_string(path).map_err(|source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write_text(path: &Path, text: &str) -> Result<(), RegistryError> {
    std::fs::write(path, text).map_err(|source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The registry a silo started from, kept to diff against after the step.
#[derive(Debug, Clone)]
pub struct Materialized {
    machine: WineRegFile,
    hives: MachineHives,
    userdef: WineRegFile,
    /// The exact texts written, to skip parsing files the step left alone.
    system_text: String,
    userdef_text: String,
}

/// Wine's registry files of a system layer, parsed once per process.
struct WineRegistry {
    system: WineRegFile,
    userdef: WineRegFile,
    user_text: String,
}

fn wine_registry(system: &SystemLayer) -> Result<Arc<WineRegistry>, RegistryError> {
    static CACHE: OnceLock<Mutex<BTreeMap<PathBuf, Arc<WineRegistry>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(r) = cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&system.prefix)
    {
        return Ok(r.clone());
    }
    let sys_path = system.reg_file("system.reg");
    let def_path = system.reg_file("userdef.reg");
    let parsed = Arc::new(WineRegistry {
        system: wine_reg::parse(&read_text(&sys_path)?, &sys_path.to_string_lossy())?,
        userdef: wine_reg::parse(&read_text(&def_path)?, &def_path.to_string_lossy())?,
        user_text: read_text(&system.reg_file("user.reg"))?,
    });
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(system.prefix.clone(), parsed.clone());
    Ok(parsed)
}

/// The image's view of one hive: its base hive (from the topmost layer that has one) with the
/// deltas of the layers above it, laid over `wine` (image values win).
fn image_view(wine: Key, layer_dirs: &[PathBuf], hive: HiveName) -> Result<Key, RegistryError> {
    let base_rel = format!("Files/Windows/System32/config/{}", hive.base_file_name());
    let base_index = layer_dirs
        .iter()
        .rposition(|d| resolve_case_insensitive(d, &base_rel).is_some_and(|p| p.is_file()));
    let mut view = wine;
    let start = match base_index {
        Some(i) => {
            let path = resolve_case_insensitive(&layer_dirs[i], &base_rel).unwrap_or_default();
            let base = read_hive_file(&path)?;
            overlay(&mut view, &base);
            i + 1
        }
        None => 0,
    };
    for dir in &layer_dirs[start..] {
        let rel = format!("Hives/{}", hive.delta_file_name());
        if let Some(path) = resolve_case_insensitive(dir, &rel).filter(|p| p.is_file()) {
            let delta = read_hive_file(&path)?;
            view = apply_delta(view, &delta);
        }
    }
    Ok(view)
}

fn read_hive_file(path: &Path) -> Result<Key, RegistryError> {
    let bytes = std::fs::read(path).map_err(|source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_hive(&bytes)
        .map(|h| h.root)
        .map_err(|e| RegistryError::Hive {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// Lays `top` over `bottom`: values of `top` replace same-named ones, subkeys merge; classes
/// and flags of `top` win where it has them. (A full hive over Wine's defaults.)
fn overlay(bottom: &mut Key, top: &Key) {
    for v in top.values() {
        bottom.set_value(v.clone());
    }
    if top.class.is_some() {
        bottom.class = top.class.clone();
    }
    if top.last_write > bottom.last_write {
        bottom.last_write = top.last_write;
    }
    bottom.flags = top.flags;
    if top.security.is_some() {
        bottom.security = top.security.clone();
    }
    for sub in top.subkeys() {
        overlay(bottom.subkey_or_insert(&sub.name), sub);
    }
}

/// Writes the silo's registry files into `prefix` and returns what was written.
pub fn materialize(
    system: &SystemLayer,
    layer_dirs: &[PathBuf],
    prefix: &Path,
) -> Result<Materialized, RegistryError> {
    let wine = wine_registry(system)?;
    let mut hives = wine_reg::machine_to_hives(wine.system.root.clone());
    hives.software = image_view(hives.software, layer_dirs, HiveName::Software)?;
    hives.system = image_view(hives.system, layer_dirs, HiveName::System)?;
    let mut userdef = wine.userdef.clone();
    userdef.root = image_view(userdef.root, layer_dirs, HiveName::DefaultUser)?;
    let machine = WineRegFile {
        root: wine_reg::hives_to_machine(hives.clone()),
        ..wine.system.clone()
    };
    let system_text = wine_reg::write(&machine);
    let userdef_text = wine_reg::write(&userdef);
    write_text(&prefix.join("system.reg"), &system_text)?;
    write_text(&prefix.join("userdef.reg"), &userdef_text)?;
    write_text(&prefix.join("user.reg"), &wine.user_text)?;
    Ok(Materialized {
        machine,
        hives,
        userdef,
        system_text,
        userdef_text,
    })
}

/// Subtrees (relative to each hive's root; `{CCS}` = the current control set) that are Wine's
/// bookkeeping: never exported, whatever happens to them.
fn noise_paths(hive: HiveName, ccs: &str) -> Vec<String> {
    match hive {
        HiveName::Software => vec!["Wine".into()],
        HiveName::System => vec![
            format!("{ccs}\\Enum"),
            format!("{ccs}\\Control\\DeviceClasses"),
            format!("{ccs}\\Control\\Class"),
            format!("{ccs}\\Control\\Video"),
            format!("{ccs}\\Control\\GraphicsDrivers"),
            format!("{ccs}\\Hardware Profiles"),
        ],
        _ => vec![],
    }
}

/// Replaces the noise subtrees of `target` by `base`'s, and copies `base`'s last-write time
/// onto every key of `target` whose content is unchanged.
fn drop_noise(base: &Key, target: &mut Key, hive: HiveName) {
    let ccs = format!("ControlSet{:03}", wine_reg::current_control_set(base));
    for path in noise_paths(hive, &ccs) {
        let (parent_path, name) = match path.rsplit_once('\\') {
            Some((p, n)) => (p.to_string(), n.to_string()),
            None => (String::new(), path.clone()),
        };
        let base_sub = base.find(&path).cloned();
        if let Some(parent) = target.find_mut(&parent_path) {
            parent.remove_subkey(&name);
            if let Some(sub) = base_sub {
                parent.insert_subkey(sub);
            }
        }
    }
    restore_times(base, target);
}

/// Whether the key's own content (not its subkeys) is the same.
fn same_content(a: &Key, b: &Key) -> bool {
    a.class == b.class
        && a.flags == b.flags
        && a.value_count() == b.value_count()
        && a.values().all(|v| b.value(&v.name) == Some(v))
}

fn restore_times(base: &Key, target: &mut Key) {
    if same_content(base, target) {
        target.last_write = base.last_write;
    }
    for sub in target.subkeys_mut() {
        if let Some(b) = base.subkey(&sub.name) {
            restore_times(b, sub);
        }
    }
}

/// The registry deltas of the step: one differencing hive per hive that changed.
pub fn deltas(
    m: &Materialized,
    prefix: &Path,
) -> Result<BTreeMap<HiveName, Vec<u8>>, RegistryError> {
    let mut out = BTreeMap::new();
    let sys_path = prefix.join("system.reg");
    let sys_text = read_text(&sys_path)?;
    if sys_text != m.system_text {
        let after = wine_reg::parse(&sys_text, &sys_path.to_string_lossy())?;
        let after = wine_reg::machine_to_hives(after.root);
        for (hive, base, target) in [
            (HiveName::Software, &m.hives.software, after.software),
            (HiveName::System, &m.hives.system, after.system),
        ] {
            if let Some(bytes) = hive_delta(hive, base, target)? {
                out.insert(hive, bytes);
            }
        }
    }
    let def_path = prefix.join("userdef.reg");
    let def_text = read_text(&def_path)?;
    if def_text != m.userdef_text {
        let after = wine_reg::parse(&def_text, &def_path.to_string_lossy())?;
        if let Some(bytes) = hive_delta(HiveName::DefaultUser, &m.userdef.root, after.root)? {
            out.insert(HiveName::DefaultUser, bytes);
        }
    }
    let _ = &m.machine;
    Ok(out)
}

fn hive_delta(
    hive: HiveName,
    base: &Key,
    mut target: Key,
) -> Result<Option<Vec<u8>>, RegistryError> {
    target.name = base.name.clone();
    drop_noise(base, &mut target, hive);
    let delta = diff(base, &target);
    if delta.subkey_count() == 0 && delta.value_count() == 0 {
        return Ok(None);
    }
    let options = WriteOptions::differencing(format!("\\Hives\\{}", hive.delta_file_name()));
    write_hive(&delta, &options)
        .map(Some)
        .map_err(|e| RegistryError::Write {
            hive,
            message: e.to_string(),
        })
}

// ---------------------------------------------------------------------------------------------
// Differencing over the key tree (research §3.2 merge, §3.5 delta). Interim: to be replaced
// by the hive codec's `diff`/`merge` when they land; keep the behaviour identical.

/// Applies one differencing hive to a view.
fn apply_delta(mut view: Key, delta: &Key) -> Key {
    apply_delta_in(&mut view, delta);
    view
}

fn apply_delta_in(view: &mut Key, delta: &Key) {
    if matches!(
        delta.layer,
        LayerSemantics::SupersedeLocal | LayerSemantics::SupersedeTree
    ) {
        view.clear_values();
        view.class = None;
    }
    if delta.layer == LayerSemantics::SupersedeTree {
        view.clear_subkeys();
    }
    for v in delta.values() {
        if v.tombstone {
            view.remove_value(&v.name);
        } else {
            view.set_value(v.clone());
        }
    }
    if !delta.inherit_class && delta.class.is_some() {
        view.class = delta.class.clone();
    }
    if delta.last_write > view.last_write {
        view.last_write = delta.last_write;
    }
    for d in delta.subkeys() {
        if d.layer == LayerSemantics::Tombstone {
            view.remove_subkey(&d.name);
            continue;
        }
        let child = view.subkey_or_insert(&d.name);
        apply_delta_in(child, d);
        child.layer = LayerSemantics::Merge;
        child.inherit_class = false;
    }
}

/// The delta that turns `base` into `target` (an empty root when nothing changed).
fn diff(base: &Key, target: &Key) -> Key {
    let mut root = Key::new("ROOT");
    root.last_write = target.last_write;
    diff_into(base, target, &mut root);
    root
}

/// Fills `out` (the node for this key) and returns whether anything changed at or below it.
fn diff_into(base: &Key, target: &Key, out: &mut Key) -> bool {
    let mut changed = false;
    for v in target.values() {
        if base.value(&v.name) != Some(v) {
            out.set_value(v.clone());
            changed = true;
        }
    }
    for v in base.values() {
        if target.value(&v.name).is_none() {
            out.set_value(Value::tombstone(v.name.clone()));
            changed = true;
        }
    }
    if base.class != target.class {
        out.class = target.class.clone();
        out.inherit_class = false;
        changed = true;
    } else {
        out.inherit_class = true;
    }
    for t in target.subkeys() {
        match base.subkey(&t.name) {
            None => {
                let mut new = t.clone();
                clear_layer_bits(&mut new);
                out.insert_subkey(new);
                changed = true;
            }
            Some(b) => {
                let mut node = Key::new(t.name.clone());
                node.last_write = t.last_write;
                node.flags = t.flags;
                node.security = b.security.clone();
                if diff_into(b, t, &mut node) {
                    out.insert_subkey(node);
                    changed = true;
                }
            }
        }
    }
    for b in base.subkeys() {
        if target.subkey(&b.name).is_none() {
            let mut tomb = Key::new(b.name.clone());
            tomb.layer = LayerSemantics::Tombstone;
            tomb.last_write = target.last_write;
            tomb.security = b.security.clone();
            out.insert_subkey(tomb);
            changed = true;
        }
    }
    changed
}

fn clear_layer_bits(key: &mut Key) {
    key.layer = LayerSemantics::Merge;
    key.inherit_class = false;
    for sub in key.subkeys_mut() {
        clear_layer_bits(sub);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Key {
        let mut root = Key::new("ROOT");
        root.create_path("A\\B").set_value(Value::string("v", "1"));
        root.create_path("A\\C").set_value(Value::dword("d", 7));
        root.create_path("Gone\\Deep");
        root
    }

    #[test]
    fn diff_then_apply_gives_the_target() {
        let base = tree();
        let mut target = tree();
        target.find_mut("A\\B").unwrap().remove_value("v");
        target
            .create_path("A\\New")
            .set_value(Value::string("x", "y"));
        target.remove_subkey("Gone");
        let delta = diff(&base, &target);
        assert!(delta.find("A\\B").unwrap().value("v").unwrap().tombstone);
        assert_eq!(
            delta.subkey("Gone").unwrap().layer,
            LayerSemantics::Tombstone
        );
        assert!(
            delta.find("A\\C").is_none(),
            "unchanged keys are not in the delta"
        );
        let merged = apply_delta(base.clone(), &delta);
        assert_eq!(
            merged.find("A\\New").unwrap().value("x"),
            target.find("A\\New").unwrap().value("x")
        );
        assert!(merged.find("A\\B").unwrap().value("v").is_none());
        assert!(merged.subkey("Gone").is_none());
        assert_eq!(diff(&base, &base).subkey_count(), 0);
    }

    #[test]
    fn timestamps_and_wine_bookkeeping_are_noise() {
        let mut base = tree();
        base.create_path("Wine\\Fonts")
            .set_value(Value::string("a", "b"));
        let mut target = base.clone();
        target.find_mut("A\\B").unwrap().last_write = 99;
        target
            .find_mut("Wine\\Fonts")
            .unwrap()
            .set_value(Value::string("a", "changed"));
        drop_noise(&base, &mut target, HiveName::Software);
        assert_eq!(diff(&base, &target).subkey_count(), 0);
    }
}
