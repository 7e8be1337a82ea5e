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
//! The silo's SYSTEM differs from the image's view where Wine must not see the image's
//! machine (its services, pending renames) or rewrites it (hardware, time zone): see
//! [`super::overrides`]; those values go back to the image's before the delta is made.
//!
//! Noise (research `registry-hives.md` §7.4): wineserver re-stamps keys on every start, so
//! last-write times are never a change by themselves; and a few subtrees are Wine's own
//! bookkeeping (its configuration, device enumeration) and never part of a layer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::hive::layers::{self, DiffOptions};
use crate::hive::tree::{Key, KeyFlags};
use crate::hive::wine_reg::{self, MachineHives, WineRegFile};
use crate::hive::{read_hive, read_hive_recovering, write_hive, WriteOptions};
use crate::layer::HiveName;

use super::overrides::{machine_subtrees, Overrides};
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
    /// The image's view (the diff base).
    hives: MachineHives,
    /// How the silo's SYSTEM differs from the image's view (taken back out at commit).
    overrides: Overrides,
    userdef: WineRegFile,
    /// The exact texts written, to skip parsing files the step left alone.
    system_text: String,
    userdef_text: String,
    user_text: String,
    /// Fingerprints of the written texts' significant lines, made once per view: a commit
    /// then scans only the file the step left.
    system_print: Vec<u64>,
    userdef_print: Vec<u64>,
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
            let base = read_base_hive(&layer_dirs[i], &base_rel, &path, hive)?;
            view.lay_over(&base);
            i + 1
        }
        None => 0,
    };
    for dir in &layer_dirs[start..] {
        let rel = format!("Hives/{}", hive.delta_file_name());
        if let Some(path) = resolve_case_insensitive(dir, &rel).filter(|p| p.is_file()) {
            let delta = read_hive_file(&path)?;
            // A tombstoned root would delete the whole hive; keep an empty root instead.
            view = layers::merge(&view, &[&delta]).unwrap_or_else(|| Key::new(view.name.clone()));
        }
    }
    Ok(view)
}

/// Reads a layer's base hive as Windows loads it: a dirty hive is recovered from the
/// `.LOG1`/`.LOG2` beside it, or read as it is with a warning when they cannot be applied.
///
/// Layer dirs are unpacked once per diff_id and never change, so the parsed hive is kept for
/// the next steps of the process (a real base's SYSTEM hive takes a large part of a step to
/// read and recover); the last few are kept. The machine subtrees of a SYSTEM hive
/// ([`machine_subtrees`]) are dropped right away: the silo shows Wine's and never commits them,
/// and on a real hive they are most of its keys.
fn read_base_hive(
    layer_dir: &Path,
    rel: &str,
    path: &Path,
    hive: HiveName,
) -> Result<Arc<Key>, RegistryError> {
    type Cache = Mutex<Vec<(PathBuf, Arc<Key>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    const KEEP: usize = 4;
    let cache = CACHE.get_or_init(Default::default);
    if let Some((_, k)) = cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(p, _)| p == path)
    {
        return Ok(k.clone());
    }
    let mut key = read_base_hive_uncached(layer_dir, rel, path)?;
    if hive == HiveName::System {
        let ccs = format!("ControlSet{:03}", wine_reg::current_control_set(&key));
        for subtree in machine_subtrees(&ccs) {
            let (parent, name) = subtree.rsplit_once('\\').unwrap_or(("", &subtree));
            if let Some(parent) = key.find_mut(parent) {
                parent.remove_subkey(name);
            }
        }
    }
    let key = Arc::new(key);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= KEEP {
        cache.remove(0);
    }
    cache.push((path.to_path_buf(), key.clone()));
    Ok(key)
}

fn read_base_hive_uncached(layer_dir: &Path, rel: &str, path: &Path) -> Result<Key, RegistryError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| RegistryError::Io {
            path: p.to_path_buf(),
            source,
        })
    };
    let primary = read(path)?;
    let mut logs = Vec::new();
    for ext in ["LOG1", "LOG2"] {
        let log_rel = format!("{rel}.{ext}");
        if let Some(p) = resolve_case_insensitive(layer_dir, &log_rel).filter(|p| p.is_file()) {
            logs.push(read(&p)?);
        }
    }
    let log_refs: Vec<&[u8]> = logs.iter().map(Vec::as_slice).collect();
    let (parsed, recovery) =
        read_hive_recovering(&primary, &log_refs).map_err(|e| RegistryError::Hive {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if let Some(warning) = recovery.warning(&path.display().to_string()) {
        tracing::warn!("{warning}");
    }
    Ok(parsed.root)
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

/// Writes the silo's registry files into `prefix` and returns what was written.
///
/// The view depends only on the Wine system layer and the layers that carry a base hive or a
/// hive delta, and unpacked layer dirs never change; so the last few views are kept and a step
/// whose layers add no registry files to an earlier step's (a COPY, a RUN that changed files
/// only — most steps of a build) writes the same texts again instead of rebuilding them. On a
/// real Windows 10 SYSTEM hive that is most of a step's preparation (`scripts/bench-wine`).
pub fn materialize(
    system: &SystemLayer,
    layer_dirs: &[PathBuf],
    prefix: &Path,
) -> Result<Arc<Materialized>, RegistryError> {
    type Cache = Mutex<Vec<((PathBuf, Vec<PathBuf>), Arc<Materialized>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    const KEEP: usize = 2;
    let key = (system.prefix.clone(), registry_layers(layer_dirs));
    let cache = CACHE.get_or_init(Default::default);
    let cached = cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, m)| m.clone());
    let m = match cached {
        Some(m) => m,
        None => {
            let m = Arc::new(build_view(system, layer_dirs)?);
            let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= KEEP {
                cache.remove(0);
            }
            cache.push((key, m.clone()));
            m
        }
    };
    write_text(&prefix.join("system.reg"), &m.system_text)?;
    write_text(&prefix.join("userdef.reg"), &m.userdef_text)?;
    write_text(&prefix.join("user.reg"), &m.user_text)?;
    Ok(m)
}

/// The layer dirs (in order) that hold a base hive or a hive delta: the only ones the registry
/// view depends on.
fn registry_layers(layer_dirs: &[PathBuf]) -> Vec<PathBuf> {
    let files: Vec<String> = HiveName::ALL
        .into_iter()
        .flat_map(|h| {
            [
                format!("Files/Windows/System32/config/{}", h.base_file_name()),
                format!("Hives/{}", h.delta_file_name()),
            ]
        })
        .collect();
    layer_dirs
        .iter()
        .filter(|d| {
            files
                .iter()
                .any(|rel| resolve_case_insensitive(d, rel).is_some_and(|p| p.is_file()))
        })
        .cloned()
        .collect()
}

/// The image's registry laid over the system layer's, with the silo's overrides, as texts.
fn build_view(system: &SystemLayer, layer_dirs: &[PathBuf]) -> Result<Materialized, RegistryError> {
    let wine = wine_registry(system)?;
    let mut hives = wine_reg::machine_to_hives(wine.system.root.clone());
    let wine_system = hives.system.clone();
    hives.software = image_view(hives.software, layer_dirs, HiveName::Software)?;
    hives.system = image_view(hives.system, layer_dirs, HiveName::System)?;
    let mut userdef = wine.userdef.clone();
    userdef.root = image_view(userdef.root, layer_dirs, HiveName::DefaultUser)?;
    let overrides = Overrides::plan(&wine_system, &hives.system);
    let mut silo = hives.clone();
    overrides.apply(&mut silo.system);
    let machine = WineRegFile {
        root: wine_reg::hives_to_machine(silo),
        ..wine.system.clone()
    };
    let system_text = wine_reg::write(&machine);
    let userdef_text = wine_reg::write(&userdef);
    Ok(Materialized {
        system_print: fingerprint(&system_text, &is_machine_noise),
        userdef_print: fingerprint(&userdef_text, &|_| false),
        system_text,
        userdef_text,
        user_text: wine.user_text.clone(),
        hives,
        overrides,
        userdef,
    })
}

/// Subtrees (relative to each hive's root; `{CCS}` = the current control set) that are Wine's
/// bookkeeping: never exported, whatever happens to them.
fn noise_paths(hive: HiveName, ccs: &str) -> Vec<String> {
    match hive {
        HiveName::Software => vec![
            "Wine".into(),
            "Microsoft\\Windows NT\\CurrentVersion\\NetworkCards".into(),
            // Wine registers the host's fonts (by Unix path) whenever it starts.
            "Microsoft\\Windows NT\\CurrentVersion\\Fonts".into(),
            "Microsoft\\Windows\\CurrentVersion\\Fonts".into(),
        ],
        HiveName::System => {
            let mut paths = vec![
                "MountedDevices".into(),
                format!("{ccs}\\Control\\ComputerName"),
                format!("{ccs}\\Services\\Tcpip\\Parameters"),
                format!("{ccs}\\Control\\Video"),
                format!("{ccs}\\Control\\GraphicsDrivers"),
                format!("{ccs}\\Hardware Profiles"),
            ];
            // Device enumeration, driver store, upgrade history: the silo shows Wine's.
            paths.extend(machine_subtrees(ccs));
            paths
        }
        _ => vec![],
    }
}

/// Replaces the noise subtrees of `target` by `base`'s (timestamp-only changes are left to
/// the diff, which ignores them).
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
}

/// Wine's text registry has no security descriptors and keeps only the symlink flag: keys
/// that existed before the step keep what the base had.
fn carry_metadata(base: &Key, target: &mut Key) {
    target.security = base.security.clone();
    let symlink = target.flags.is_symlink();
    target.flags = base.flags;
    target.flags.set(KeyFlags::SYM_LINK, symlink);
    target.virt_control_flags = base.virt_control_flags;
    target.user_flags = base.user_flags;
    for sub in target.subkeys_mut() {
        if let Some(b) = base.subkey(&sub.name) {
            carry_metadata(b, sub);
        }
    }
}

/// The step's delta for one hive: noise dropped, timestamp-only changes ignored.
fn step_delta(hive: HiveName, base: &Key, mut target: Key) -> Key {
    target.name = base.name.clone();
    drop_noise(base, &mut target, hive);
    carry_metadata(base, &mut target);
    layers::diff_with(
        base,
        &target,
        DiffOptions {
            ignore_time_only_changes: true,
        },
    )
}

/// Whether a saved registry file differs from the one [`fingerprint`] describes at most in key
/// times (`#time=` lines and the seconds after a key line's `]`) and inside keys `is_noise` names
/// (by their path in the file, unescaped). wineserver re-stamps keys on every start and rewrites
/// noise such as the computer name (each silo has its own host name); parsing and diffing an
/// 8 MB `system.reg` is the expensive part of a commit, so a step that changed nothing else must
/// not pay for it.
fn same_but_times_and_noise(text: &str, print: &[u64], is_noise: &dyn Fn(&str) -> bool) -> bool {
    let mut lines = significant_lines(text, is_noise).map(line_hash);
    print.iter().all(|h| lines.next() == Some(*h)) && lines.next().is_none()
}

/// The hashes of a registry text's significant lines (see [`same_but_times_and_noise`]).
fn fingerprint(text: &str, is_noise: &dyn Fn(&str) -> bool) -> Vec<u64> {
    significant_lines(text, is_noise).map(line_hash).collect()
}

fn line_hash(line: &str) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut h = std::hash::DefaultHasher::new();
    line.hash(&mut h);
    h.finish()
}

fn significant_lines<'a>(
    text: &'a str,
    is_noise: &'a dyn Fn(&str) -> bool,
) -> impl Iterator<Item = &'a str> + 'a {
    let mut in_noise = false;
    text.lines()
        .filter(|l| !l.starts_with("#time="))
        .filter_map(move |line| {
            if let Some(end) = line.strip_prefix('[').and_then(|_| line.rfind("] ")) {
                in_noise = is_noise(&line[1..end].replace("\\\\", "\\"));
                return (!in_noise).then_some(&line[..end + 1]);
            }
            (!in_noise).then_some(line)
        })
}

/// Whether a key of `system.reg` (path as in the file: `Software\…`, `System\CurrentControlSet\…`)
/// lies in one of the [`noise_paths`]. Called for every key line of two 8 MB texts on a real
/// base, so the paths are made once.
fn is_machine_noise(path: &str) -> bool {
    static NOISE: OnceLock<[Vec<String>; 2]> = OnceLock::new();
    let [software, system] = NOISE.get_or_init(|| {
        [
            noise_paths(HiveName::Software, "{CCS}"),
            noise_paths(HiveName::System, "{CCS}"),
        ]
    });
    let (root, rest) = path.split_once('\\').unwrap_or((path, ""));
    let rest = rest.trim_end_matches('\\');
    if root.eq_ignore_ascii_case(wine_reg::MACHINE_SOFTWARE) {
        software.iter().any(|noise| is_under(rest, noise))
    } else if root.eq_ignore_ascii_case(wine_reg::MACHINE_SYSTEM) {
        // Wine keeps the control set as `CurrentControlSet`, the hive as `ControlSetNNN`.
        let (set, tail) = rest.split_once('\\').unwrap_or((rest, ""));
        let lower = set.to_ascii_lowercase();
        let in_control_set = lower == "currentcontrolset" || lower.starts_with("controlset");
        let below_set = format!("\\{tail}");
        system
            .iter()
            .any(|noise| match noise.strip_prefix("{CCS}") {
                Some(noise_tail) => in_control_set && is_under(&below_set, noise_tail),
                None => is_under(rest, noise),
            })
    } else {
        false
    }
}

/// Whether `path` is `prefix` or below it (registry paths: case-insensitive, `\`-separated).
fn is_under(path: &str, prefix: &str) -> bool {
    path.len() >= prefix.len()
        && path.is_char_boundary(prefix.len())
        && path[..prefix.len()].eq_ignore_ascii_case(prefix)
        && (path.len() == prefix.len() || path.as_bytes()[prefix.len()] == b'\\')
}

/// The registry deltas of the step: one differencing hive per hive that changed.
pub fn deltas(
    m: &Materialized,
    prefix: &Path,
) -> Result<BTreeMap<HiveName, Vec<u8>>, RegistryError> {
    let mut out = BTreeMap::new();
    let sys_path = prefix.join("system.reg");
    let sys_text = read_text(&sys_path)?;
    if !same_but_times_and_noise(&sys_text, &m.system_print, &is_machine_noise) {
        let after = wine_reg::parse(&sys_text, &sys_path.to_string_lossy())?;
        let mut after = wine_reg::machine_to_hives(after.root);
        m.overrides.restore(&mut after.system);
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
    if !same_but_times_and_noise(&def_text, &m.userdef_print, &|_| false) {
        let after = wine_reg::parse(&def_text, &def_path.to_string_lossy())?;
        if let Some(bytes) = hive_delta(HiveName::DefaultUser, &m.userdef.root, after.root)? {
            out.insert(HiveName::DefaultUser, bytes);
        }
    }
    Ok(out)
}

fn hive_delta(hive: HiveName, base: &Key, target: Key) -> Result<Option<Vec<u8>>, RegistryError> {
    let delta = step_delta(hive, base, target);
    if layers::is_empty_delta(&delta) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hive::tree::Value;

    fn tree() -> Key {
        let mut root = Key::new("ROOT");
        root.create_path("A\\B").set_value(Value::string("v", "1"));
        root.create_path("Wine\\Fonts")
            .set_value(Value::string("a", "b"));
        root
    }

    #[test]
    fn time_only_file_changes_are_recognised() {
        let a = "WINE REGISTRY Version 2\n\n[A\\\\B] 100\n#time=1\n\"v\"=\"x\"\n";
        let b = "WINE REGISTRY Version 2\n\n[A\\\\B] 200\n#time=2\n\"v\"=\"x\"\n";
        let c = "WINE REGISTRY Version 2\n\n[A\\\\B] 200\n#time=2\n\"v\"=\"y\"\n";
        let none = |_: &str| false;
        let print = fingerprint(a, &none);
        assert!(same_but_times_and_noise(b, &print, &none));
        assert!(!same_but_times_and_noise(c, &print, &none));
        assert!(
            !same_but_times_and_noise(&format!("{b}\"w\"=\"1\"\n"), &print, &none),
            "a line added at the end"
        );
        assert!(!same_but_times_and_noise(
            "WINE REGISTRY Version 2\n",
            &print,
            &none
        ));
    }

    #[test]
    fn changes_inside_noise_keys_are_recognised_without_parsing() {
        let file = |name: &str, font: &str, app: &str| {
            format!(
                "WINE REGISTRY Version 2\n\n\
                 [System\\\\CurrentControlSet\\\\Control\\\\ComputerName\\\\ComputerName] 1\n\
                 \"ComputerName\"=\"{name}\"\n\
                 [Software\\\\Microsoft\\\\Windows NT\\\\CurrentVersion\\\\Fonts] 1\n\
                 \"Arial\"=\"{font}\"\n\
                 [Software\\\\App] 1\n\"v\"=\"{app}\"\n"
            )
        };
        let base = fingerprint(&file("VM", "a.ttf", "1"), &is_machine_noise);
        assert!(same_but_times_and_noise(
            &file("SILO-1234", "b.ttf", "1"),
            &base,
            &is_machine_noise
        ));
        assert!(!same_but_times_and_noise(
            &file("VM", "a.ttf", "2"),
            &base,
            &is_machine_noise
        ));
        assert!(is_machine_noise("System\\ControlSet002\\Enum\\PCI"));
        assert!(!is_machine_noise(
            "System\\CurrentControlSet\\Services\\Tcpip6"
        ));
        assert!(!is_machine_noise("Software\\Winery"));
    }

    #[test]
    fn timestamps_and_wine_bookkeeping_are_noise() {
        let base = tree();
        let mut target = base.clone();
        target.find_mut("A\\B").unwrap().last_write = 99;
        target
            .find_mut("Wine\\Fonts")
            .unwrap()
            .set_value(Value::string("a", "changed"));
        assert!(layers::is_empty_delta(&step_delta(
            HiveName::Software,
            &base,
            target.clone()
        )));
        target
            .create_path("Contoso")
            .set_value(Value::string("x", "y"));
        let delta = step_delta(HiveName::Software, &base, target);
        let names: Vec<_> = delta.subkeys().map(|k| k.name.clone()).collect();
        assert_eq!(names, ["Contoso"]);
    }
}
