//! Image inspection: what `silo layers`, `silo ls`, `silo registry` and `silo diff` show. Opens
//! an image the way a build opens its `FROM` base ([`crate::build::sources::base::resolve_base`]: store
//! refs, `oci:DIR[:tag]`, `docker-archive:FILE`), reads layers with the layer codec's reader and
//! the registry with the hive codec ([`crate::hive::layers::merge`] of base hives and deltas).
//! Only the layers a question needs are read, one at a time, streaming. [`tree`] writes the
//! merged view out as files (a directory or a tar: `silo build -o type=local|tar`).

pub mod diff;
pub mod files;
pub mod registry;
pub mod tree;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::rc::Rc;

use crate::build::sources::base::{resolve_base, BaseError, BaseImage, ImageLayer, TargetPlatform};
use crate::layer::changeset::HiveName;
use crate::layer::reader::{read_layer, LayerEntry, LayerEntryKind};
use crate::layer::{ntfs_eq, LayerError};
use crate::store::registry_source::RegistryRefs;
use crate::store::{Store, StoreError};

pub use diff::{diff_images, ImageDiff};
pub use files::{merged_files, FileInfo};
pub use registry::{hive_root_name, merged_registry, Registry};

/// Largest hive (base or delta) read into memory; real SOFTWARE hives are well under this.
pub const HIVE_SIZE_LIMIT: u64 = 1 << 30;

/// Errors of inspection.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Key(#[from] registry::KeyError),
    #[error(transparent)]
    Open(#[from] BaseError),
    #[error("layer {index} ({digest}): {source}")]
    Blob {
        index: usize,
        digest: String,
        #[source]
        source: StoreError,
    },
    #[error("layer {index} ({digest}): {source}")]
    Layer {
        index: usize,
        digest: String,
        #[source]
        source: LayerError,
    },
    #[error("layer {index}: {what} is {size} bytes, more than the {HIVE_SIZE_LIMIT}-byte limit for a hive")]
    HiveTooLarge {
        index: usize,
        what: String,
        size: u64,
    },
    #[error("layer {index}: {what}: {message}")]
    Hive {
        index: usize,
        what: String,
        message: String,
    },
    #[error("--layer {wanted}: the image has {count} layers (numbered from 0)")]
    NoSuchLayer { wanted: usize, count: usize },
}

/// Opens `reference` (newest windows/amd64 entry of an index); a registry image is read through
/// `registries`.
pub fn open_image(
    store: &Store,
    registries: &RegistryRefs,
    reference: &str,
) -> Result<BaseImage, InspectError> {
    Ok(resolve_base(
        store,
        registries,
        reference,
        &TargetPlatform::default(),
    )?)
}

/// The layer numbered `index` (0 = base).
pub fn layer_at(image: &BaseImage, index: usize) -> Result<&ImageLayer, InspectError> {
    image.layers.get(index).ok_or(InspectError::NoSuchLayer {
        wanted: index,
        count: image.layers.len(),
    })
}

/// What one pass over a layer collected.
#[derive(Debug, Default)]
pub struct LayerContent {
    /// Every entry's metadata, in tar order.
    pub entries: Vec<LayerEntry>,
    /// `Hives/*_Delta` bytes (only when asked for).
    pub hive_deltas: BTreeMap<HiveName, Vec<u8>>,
    /// `Files/Windows/System32/config/<HIVE>` bytes (only when asked for).
    pub base_hives: BTreeMap<HiveName, Vec<u8>>,
    /// `Files/Windows/System32/config/<HIVE>.LOG1`/`.LOG2` bytes, LOG1 first (only when asked
    /// for): the transaction logs a dirty base hive is recovered from.
    pub hive_logs: BTreeMap<HiveName, [Option<Vec<u8>>; 2]>,
}

/// Layer contents read once per command, by diff_id (the same diff_id is the same bytes): a
/// verb that looks at several views of images sharing layers — `diff` reads the files and the
/// registry of two images, usually one built on the other — decompresses each distinct layer
/// once instead of once per view and image.
pub struct LayerReads<'a> {
    store: &'a Store,
    with_hives: bool,
    read: HashMap<String, Rc<LayerContent>>,
}

impl<'a> LayerReads<'a> {
    /// With `with_hives`, the contents keep hive bytes (see [`read_layer_content`]).
    pub fn new(store: &'a Store, with_hives: bool) -> LayerReads<'a> {
        LayerReads {
            store,
            with_hives,
            read: HashMap::new(),
        }
    }

    /// Layer `index` of `image`, read on first use.
    pub fn content(
        &mut self,
        image: &BaseImage,
        index: usize,
    ) -> Result<Rc<LayerContent>, InspectError> {
        let diff_id = layer_at(image, index)?.diff_id.to_string();
        if let Some(content) = self.read.get(&diff_id) {
            return Ok(Rc::clone(content));
        }
        let content = Rc::new(read_layer_content(
            self.store,
            image,
            index,
            self.with_hives,
        )?);
        self.read.insert(diff_id, Rc::clone(&content));
        Ok(content)
    }
}

/// Where a hive-related layer entry goes in [`LayerContent`].
enum HiveFile {
    Delta(HiveName),
    Base(HiveName),
    /// LOG1 (0) or LOG2 (1) of a base hive.
    Log(HiveName, usize),
}

/// Reads layer `index` of `image` once; with `with_hives`, keeps the bytes of its hive deltas
/// and of any base hive files it carries.
pub fn read_layer_content(
    store: &Store,
    image: &BaseImage,
    index: usize,
    with_hives: bool,
) -> Result<LayerContent, InspectError> {
    let layer = layer_at(image, index)?;
    let digest = layer.descriptor.digest().to_string();
    let blob = layer
        .home
        .open(store, layer.descriptor.digest())
        .map_err(|source| InspectError::Blob {
            index,
            digest: digest.clone(),
            source,
        })?;
    let mut content = LayerContent::default();
    let mut oversize: Option<(String, u64)> = None;
    read_layer(blob, |entry, data| {
        if with_hives {
            let target = match &entry.kind {
                LayerEntryKind::HiveDelta(hive) => Some(HiveFile::Delta(*hive)),
                LayerEntryKind::File => base_hive_of(&entry.path),
                _ => None,
            };
            if let Some(target) = target {
                if entry.size > HIVE_SIZE_LIMIT {
                    oversize = Some((entry.path.clone(), entry.size));
                } else {
                    let mut bytes = Vec::with_capacity(entry.size as usize);
                    data.take(HIVE_SIZE_LIMIT)
                        .read_to_end(&mut bytes)
                        .map_err(|e| LayerError::io(format!("reading {}", entry.path), e))?;
                    match target {
                        HiveFile::Delta(hive) => {
                            content.hive_deltas.insert(hive, bytes);
                        }
                        HiveFile::Base(hive) => {
                            content.base_hives.insert(hive, bytes);
                        }
                        HiveFile::Log(hive, n) => {
                            content.hive_logs.entry(hive).or_default()[n] = Some(bytes);
                        }
                    }
                }
            }
        }
        content.entries.push(entry.clone());
        Ok(())
    })
    .map_err(|source| InspectError::Layer {
        index,
        digest: digest.clone(),
        source,
    })?;
    if let Some((what, size)) = oversize {
        return Err(InspectError::HiveTooLarge { index, what, size });
    }
    Ok(content)
}

/// The machine hive a `Files/Windows/System32/config/<NAME>` path holds (case-insensitive).
fn base_hive_of(path: &str) -> Option<HiveFile> {
    let (dir, name) = path.rsplit_once('/')?;
    if !ntfs_eq(dir, "Files/Windows/System32/config") {
        return None;
    }
    let hive_named = |n: &str| {
        HiveName::ALL
            .into_iter()
            .find(|h| ntfs_eq(h.base_file_name(), n))
    };
    if let Some((stem, ext)) = name.rsplit_once('.') {
        let n = ["LOG1", "LOG2"].iter().position(|l| ntfs_eq(l, ext))?;
        return hive_named(stem).map(|h| HiveFile::Log(h, n));
    }
    hive_named(name).map(HiveFile::Base)
}

/// Per-layer facts `silo layers` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerSummary {
    pub index: usize,
    pub digest: String,
    pub diff_id: String,
    pub media_type: String,
    pub size: u64,
    pub urls: Vec<String>,
    pub files: u64,
    pub directories: u64,
    pub whiteouts: u64,
    pub other_entries: u64,
    pub hive_deltas: Vec<String>,
    pub created_by: Option<String>,
    /// Whether the entry counts and hive deltas were read (false for a registry layer that is
    /// not in the store, unless fetching was asked for).
    pub content_read: bool,
}

/// Summarises every layer (reads each layer once, metadata only). A registry image's layer that
/// is not in the store is read only with `fetch_remote`; otherwise its counts stay empty.
pub fn layer_summaries(
    store: &Store,
    image: &BaseImage,
    fetch_remote: bool,
) -> Result<Vec<LayerSummary>, InspectError> {
    // History entries that made a layer, in order, pair with the layers.
    let mut history = image
        .config
        .history
        .iter()
        .filter(|h| !h.empty_layer)
        .map(|h| h.created_by.clone());
    let mut out = Vec::with_capacity(image.layers.len());
    for (index, layer) in image.layers.iter().enumerate() {
        let remote_only = matches!(
            layer.home,
            crate::build::sources::base::BlobHome::Registry(_)
        ) && !store.has_blob(layer.descriptor.digest()).unwrap_or(false);
        let content_read = fetch_remote || !remote_only;
        let content = if content_read {
            read_layer_content(store, image, index, false)?
        } else {
            LayerContent::default()
        };
        let mut summary = LayerSummary {
            index,
            digest: layer.descriptor.digest().to_string(),
            diff_id: layer.diff_id.to_string(),
            media_type: layer.descriptor.media_type().to_string(),
            size: layer.descriptor.size(),
            urls: layer.descriptor.urls().clone().unwrap_or_default(),
            files: 0,
            directories: 0,
            whiteouts: 0,
            other_entries: 0,
            hive_deltas: Vec::new(),
            created_by: history.next().flatten(),
            content_read,
        };
        for entry in &content.entries {
            match &entry.kind {
                LayerEntryKind::File | LayerEntryKind::HardLink => summary.files += 1,
                LayerEntryKind::Directory => summary.directories += 1,
                LayerEntryKind::Whiteout { .. } | LayerEntryKind::OpaqueWhiteout { .. } => {
                    summary.whiteouts += 1
                }
                LayerEntryKind::HiveDelta(hive) => {
                    summary.hive_deltas.push(hive.delta_file_name().to_string())
                }
                _ => summary.other_entries += 1,
            }
        }
        out.push(summary);
    }
    Ok(out)
}

/// A tar timestamp as RFC 3339 UTC.
pub fn timestamp_text(t: crate::layer::changeset::Timestamp) -> String {
    let whole = crate::oci::rfc3339(t.secs);
    if t.nanos == 0 {
        whole
    } else {
        format!("{}.{:09}Z", whole.trim_end_matches('Z'), t.nanos)
    }
}
