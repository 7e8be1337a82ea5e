//! The registry of an image: each machine hive's base (`Files/Windows/System32/config/<HIVE>`,
//! normally in the base layer) merged with every layer's `Hives/<Hive>_Delta` in order, by the
//! hive codec's [`merge`]; or one layer's deltas as they are (tombstones, layer semantics).

use std::collections::BTreeMap;

use crate::build::base::BaseImage;
use crate::hive::layers::merge;
use crate::hive::path::{self, HivePath};
use crate::hive::{read_hive, read_hive_recovering, Key};
use crate::layer::changeset::HiveName;
use crate::store::Store;

use super::{read_layer_content, InspectError};

/// Machine hives by name.
pub type Registry = BTreeMap<HiveName, Key>;

/// The reg.exe name of a hive's root key.
pub fn hive_root_name(hive: HiveName) -> &'static str {
    match hive {
        HiveName::System => "HKEY_LOCAL_MACHINE\\SYSTEM",
        HiveName::Software => "HKEY_LOCAL_MACHINE\\SOFTWARE",
        HiveName::Sam => "HKEY_LOCAL_MACHINE\\SAM",
        HiveName::Security => "HKEY_LOCAL_MACHINE\\SECURITY",
        HiveName::DefaultUser => "HKEY_USERS\\.DEFAULT",
    }
}

fn parse(index: usize, what: String, bytes: &[u8]) -> Result<Key, InspectError> {
    read_hive(bytes)
        .map(|parsed| parsed.root)
        .map_err(|e| InspectError::Hive {
            index,
            what,
            message: e.to_string(),
        })
}

/// Parses a base hive as Windows would load it: a dirty one is recovered from the `.LOG1`/`.LOG2`
/// files of the same layer, or read as it is with a warning when they cannot be applied.
fn parse_base(
    index: usize,
    hive: HiveName,
    bytes: &[u8],
    logs: Option<&[Option<Vec<u8>>; 2]>,
) -> Result<Key, InspectError> {
    let what = format!("Files/Windows/System32/config/{}", hive.base_file_name());
    let logs: Vec<&[u8]> = logs
        .into_iter()
        .flatten()
        .flatten()
        .map(Vec::as_slice)
        .collect();
    let (parsed, recovery) =
        read_hive_recovering(bytes, &logs).map_err(|e| InspectError::Hive {
            index,
            what: what.clone(),
            message: e.to_string(),
        })?;
    if let Some(warning) = recovery.warning(&format!("layer {index}: {what}")) {
        tracing::warn!("{warning}");
    }
    Ok(parsed.root)
}

/// One layer's hive deltas, parsed.
pub fn layer_deltas(
    store: &Store,
    image: &BaseImage,
    index: usize,
) -> Result<Registry, InspectError> {
    let content = read_layer_content(store, image, index, true)?;
    content
        .hive_deltas
        .iter()
        .map(|(hive, bytes)| {
            let what = format!("Hives/{}", hive.delta_file_name());
            Ok((*hive, parse(index, what, bytes)?))
        })
        .collect()
}

/// The merged registry of the image: base hives ⊕ every layer's deltas, bottom to top. A hive
/// with deltas but no base file starts from an empty root.
pub fn merged_registry(store: &Store, image: &BaseImage) -> Result<Registry, InspectError> {
    let mut bases: Registry = BTreeMap::new();
    let mut deltas: BTreeMap<HiveName, Vec<Key>> = BTreeMap::new();
    for index in 0..image.layers.len() {
        let content = read_layer_content(store, image, index, true)?;
        for (hive, bytes) in &content.base_hives {
            let logs = content.hive_logs.get(hive);
            bases.insert(*hive, parse_base(index, *hive, bytes, logs)?);
            // A layer that replaces the base file starts the hive afresh.
            deltas.remove(hive);
        }
        for (hive, bytes) in &content.hive_deltas {
            let what = format!("Hives/{}", hive.delta_file_name());
            deltas
                .entry(*hive)
                .or_default()
                .push(parse(index, what, bytes)?);
        }
    }
    let mut merged = Registry::new();
    for hive in HiveName::ALL {
        let base = bases.remove(&hive);
        let layers = deltas.remove(&hive).unwrap_or_default();
        if base.is_none() && layers.is_empty() {
            continue;
        }
        let base = base.unwrap_or_else(|| Key::new_root(hive.base_file_name()));
        let refs: Vec<&Key> = layers.iter().collect();
        if let Some(key) = merge(&base, &refs) {
            merged.insert(hive, key);
        }
    }
    Ok(merged)
}

/// Why a key lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Path(#[from] path::PathError),
    #[error("{0} is not in this {1}")]
    NotFound(String, &'static str),
}

/// Finds `name` (reg.exe form) in `registry`; returns the key and its printed path. In the
/// merged view `CurrentControlSet` follows `SYSTEM\Select\Current`.
pub fn find_key<'a>(
    registry: &'a Registry,
    name: &str,
    scope: &'static str,
) -> Result<(&'a Key, String), KeyError> {
    let mut target: HivePath = path::resolve(name)?;
    if let Some(system) = registry.get(&HiveName::System) {
        target.resolve_control_set(system);
    }
    let not_found = || KeyError::NotFound(name.to_string(), scope);
    let root = registry.get(&target.hive).ok_or_else(not_found)?;
    let key = if target.path.is_empty() {
        root
    } else {
        root.find(&target.path).ok_or_else(not_found)?
    };
    let printed = if target.path.is_empty() {
        hive_root_name(target.hive).to_string()
    } else {
        format!("{}\\{}", hive_root_name(target.hive), target.path)
    };
    Ok((key, printed))
}
