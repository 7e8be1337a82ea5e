//! The registry of an image: each machine hive's base (`Files/Windows/System32/config/<HIVE>`,
//! normally in the base layer) merged with every layer's `Hives/<Hive>_Delta` in order, by the
//! hive codec's [`merge`]; or one layer's deltas as they are (tombstones, layer semantics).

use std::collections::BTreeMap;

use crate::build::sources::base::BaseImage;
use crate::hive::layers::merge;
use crate::hive::path::{self, HivePath};
use crate::hive::reader::read_paths;
use crate::hive::{read_hive, Key, ReadOptions};
use crate::layer::changeset::HiveName;
use crate::store::Store;

use super::{read_layer_content, InspectError, LayerReads};

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
    let mut merged = Registry::new();
    for (hive, bytes) in image_hives(store, image)? {
        if let Some(key) = bytes.project(hive, &[""])? {
            merged.insert(hive, key);
        }
    }
    Ok(merged)
}

/// One hive of an image as bytes: the base file (with its logs) of the topmost layer that has one
/// and the deltas of the layers above it, bottom to top.
#[derive(Default)]
pub struct HiveBytes {
    base: Option<HiveFile>,
    deltas: Vec<HiveFile>,
}

/// One hive file of a layer.
struct HiveFile {
    index: usize,
    /// The layer's diff_id: the same diff_id means the same bytes.
    diff_id: String,
    bytes: Vec<u8>,
    /// Transaction logs beside a base hive (LOG1 first).
    logs: Vec<Vec<u8>>,
}

impl HiveBytes {
    /// The layers the hive comes from, bottom to top: (diff_id, is base).
    pub fn sources(&self) -> Vec<(&str, bool)> {
        self.base
            .iter()
            .map(|f| (f.diff_id.as_str(), true))
            .chain(self.deltas.iter().map(|f| (f.diff_id.as_str(), false)))
            .collect()
    }

    /// The delta trees of the layers above the first `skip` sources, parsed whole (deltas are
    /// small: what a step changed).
    pub fn deltas_after(&self, skip: usize) -> Result<Vec<Key>, InspectError> {
        let skip_deltas = skip.saturating_sub(usize::from(self.base.is_some()));
        self.deltas
            .iter()
            .skip(skip_deltas)
            .map(|f| parse(f.index, "a hive delta".to_string(), &f.bytes))
            .collect()
    }

    /// The merged view of the hive restricted to `paths` (see [`read_paths`]; `""` is the
    /// whole hive). `None` when there is no source, or a delta tombstoned the root.
    pub fn project(&self, hive: HiveName, paths: &[&str]) -> Result<Option<Key>, InspectError> {
        if self.base.is_none() && self.deltas.is_empty() {
            return Ok(None);
        }
        let hive_err = |index: usize, what: String| {
            move |e: crate::hive::ReadError| InspectError::Hive {
                index,
                what,
                message: e.to_string(),
            }
        };
        let base = match &self.base {
            Some(f) => {
                let what = format!("Files/Windows/System32/config/{}", hive.base_file_name());
                let logs: Vec<&[u8]> = f.logs.iter().map(Vec::as_slice).collect();
                let recovered = crate::hive::log::recover(&f.bytes, &logs)
                    .map_err(hive_err(f.index, what.clone()))?;
                if let Some(w) = recovered
                    .recovery
                    .warning(&format!("layer {}: {what}", f.index))
                {
                    tracing::warn!("{w}");
                }
                let allow_dirty = matches!(
                    recovered.recovery,
                    crate::hive::Recovery::PrimaryAsIs { .. }
                );
                read_paths(&recovered.bytes, paths, ReadOptions { allow_dirty })
                    .map_err(hive_err(f.index, what))?
                    .root
            }
            None => Key::new_root(hive.base_file_name()),
        };
        let mut deltas = Vec::new();
        for f in &self.deltas {
            let what = format!("Hives/{}", hive.delta_file_name());
            deltas.push(
                read_paths(&f.bytes, paths, ReadOptions::default())
                    .map_err(hive_err(f.index, what))?
                    .root,
            );
        }
        let refs: Vec<&Key> = deltas.iter().collect();
        Ok(merge(&base, &refs))
    }
}

/// Every hive of the image as bytes, reading each layer once.
pub fn image_hives(
    store: &Store,
    image: &BaseImage,
) -> Result<BTreeMap<HiveName, HiveBytes>, InspectError> {
    image_hives_with(&mut LayerReads::new(store, true), image)
}

/// [`image_hives`] through `reads` (made `with_hives`; layers shared with other views are read
/// once).
pub fn image_hives_with(
    reads: &mut LayerReads,
    image: &BaseImage,
) -> Result<BTreeMap<HiveName, HiveBytes>, InspectError> {
    let mut out: BTreeMap<HiveName, HiveBytes> = BTreeMap::new();
    for index in 0..image.layers.len() {
        let content = reads.content(image, index)?;
        let diff_id = image.layers[index].diff_id.to_string();
        for (hive, bytes) in &content.base_hives {
            let entry = out.entry(*hive).or_default();
            entry.base = Some(HiveFile {
                index,
                diff_id: diff_id.clone(),
                bytes: bytes.clone(),
                logs: content
                    .hive_logs
                    .get(hive)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .cloned()
                    .collect(),
            });
            entry.deltas.clear();
        }
        for (hive, bytes) in &content.hive_deltas {
            out.entry(*hive).or_default().deltas.push(HiveFile {
                index,
                diff_id: diff_id.clone(),
                bytes: bytes.clone(),
                logs: Vec::new(),
            });
        }
    }
    Ok(out)
}

fn merged_path(
    hives: &BTreeMap<HiveName, HiveBytes>,
    hive: HiveName,
    path: &str,
) -> Result<Option<Key>, InspectError> {
    match hives.get(&hive) {
        Some(h) => h.project(hive, &[path]),
        None => Ok(None),
    }
}

/// Finds `name` (reg.exe form) in the image's merged registry reading only that key's path in
/// each hive file (fast on big real hives); the result is the same as [`find_key`] on
/// [`merged_registry`]. Returns the key and its printed path.
pub fn merged_key(
    store: &Store,
    image: &BaseImage,
    name: &str,
) -> Result<(Key, String), InspectError> {
    let mut target: HivePath = path::resolve(name).map_err(KeyError::from)?;
    let not_found = || KeyError::NotFound(name.to_string(), "image's registry");
    let hives = image_hives(store, image)?;
    if target.hive == HiveName::System {
        if let Some(select) = merged_path(&hives, HiveName::System, "Select")? {
            target.resolve_control_set(&select);
        }
    }
    let root = merged_path(&hives, target.hive, &target.path)?.ok_or_else(not_found)?;
    let key = if target.path.is_empty() {
        root
    } else {
        root.find(&target.path).cloned().ok_or_else(not_found)?
    };
    let printed = if target.path.is_empty() {
        hive_root_name(target.hive).to_string()
    } else {
        format!("{}\\{}", hive_root_name(target.hive), target.path)
    };
    Ok((key, printed))
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
