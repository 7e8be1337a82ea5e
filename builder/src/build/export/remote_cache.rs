//! The remote build cache: `--cache-to type=registry,ref=REF[,mode=min|max]` and
//! `--cache-from type=registry,ref=REF` (BuildKit's registry cache is the model).
//!
//! A cache export is one OCI image manifest in a registry. Its config (media type
//! [`CONFIG_MEDIA_TYPE`]) is a small, versioned JSON document listing cache records — a step's
//! cache key and the layer it produced — and its layers are exactly those layers' blobs. An import
//! reads only the manifest and the config; a layer's blob is fetched from the registry when the
//! hit is used by something that needs its bytes (a later RUN, `COPY --from`, an output or a
//! store tag). The registry client is async and the engine is sync: every call goes through
//! `block_on` on the command's [`RegistryAccess`] runtime, handed to [`RemoteCache::import`]
//! (the cache's clients come from its own factory: a spec may turn TLS verification off).
//!
//! The export also carries the runtime's host setup when it has one ([`SetupArtifact`]: the Wine
//! system layer), as one more layer blob listed under `setups` with its key; an import with a
//! fresh state dir installs the setup whose key is this host's before the first step, so the
//! runtime need not make it. A setup blob that cannot be fetched or is refused (digest
//! mismatch, unsafe entry, another key) is a warning and the runtime makes the setup itself.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Read;
use std::rc::Rc;
use std::sync::Arc;

use oci_spec::image::{Descriptor, Digest};
use registry_client::blobdir::BlobDir;
use registry_client::{BlobRef, Client, ImageToPush, PushOptions, RawManifest, Reference};
use serde::{Deserialize, Serialize};

use crate::build::engine::cache::{self, CachedLayer};
use crate::build::engine::BuildResult;
use crate::build::progress::Progress;
use crate::build::sources::base::BlobHome;
use crate::runtime::{RuntimeError, SetupArtifact};
use crate::store::registry_source::RegistryAccess;
use crate::store::{BlobSource, ImageSource, Store, StoreError};

/// The media type of a cache export's config: the list of cache records.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.silo.build.cache.config.v1+json";
/// What the config's `format` field says.
const FORMAT_NAME: &str = "silo-build-cache";
/// Bumped whenever the record list changes shape; an import ignores other versions (with a
/// warning) instead of misreading them.
const FORMAT_VERSION: u32 = 1;
/// Largest cache config read into memory (a hostile size field must not drive the allocation).
const CONFIG_LIMIT: u64 = 16 * 1024 * 1024;

/// Which records `--cache-to` exports (BuildKit's `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// Only the records whose layers are in the result image(s).
    #[default]
    Min,
    /// Every record the build used or created, of every stage.
    Max,
}

/// One `--cache-to` or `--cache-from` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryCacheSpec {
    pub reference: String,
    pub mode: CacheMode,
    /// `registry.insecure=true`: plain HTTP or unverified TLS.
    pub insecure: bool,
    /// `ignore-error=true` (export only): a failed export is a warning.
    pub ignore_error: bool,
}

/// Why the remote cache failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteCacheError {
    #[error("{flag} {text:?}: {message}")]
    Spec {
        flag: &'static str,
        text: String,
        message: String,
    },
    #[error("cache {reference}: {source}")]
    Registry {
        reference: String,
        #[source]
        source: registry_client::Error,
    },
    /// The cache is not one this silo reads (wrong media type, format, version, listing).
    #[error("cache {reference}: {message}")]
    Format { reference: String, message: String },
    /// The cache's manifest or config is not valid JSON of its kind.
    #[error("cache {reference}: {what}: {source}")]
    Json {
        reference: String,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("exporting the runtime's setup ({media_type}): {source:#}")]
    Setup {
        media_type: &'static str,
        #[source]
        source: RuntimeError,
    },
    /// The runtime refused or failed to install a setup from the cache.
    #[error("{source:#}")]
    SetupInstall {
        #[source]
        source: RuntimeError,
    },
}

/// Which flag a spec came from (they accept different options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Export,
    Import,
}

impl Direction {
    fn flag(self) -> &'static str {
        match self {
            Direction::Export => "--cache-to",
            Direction::Import => "--cache-from",
        }
    }
}

/// Parses a `--cache-to`/`--cache-from` value with buildx's rules: comma-separated `key=value`
/// pairs with `type=registry,ref=REF`, or a bare `REF` meaning `type=registry,ref=REF`.
pub fn parse_spec(text: &str, direction: Direction) -> Result<RegistryCacheSpec, RemoteCacheError> {
    let flag = direction.flag();
    let err = |message: String| RemoteCacheError::Spec {
        flag,
        text: text.to_string(),
        message,
    };
    if !text.contains('=') {
        if text.trim().is_empty() {
            return Err(err("expected type=registry,ref=REF".into()));
        }
        return Ok(RegistryCacheSpec {
            reference: text.trim().to_string(),
            mode: CacheMode::Min,
            insecure: false,
            ignore_error: false,
        });
    }
    let mut pairs = Vec::new();
    for part in text.split(',') {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| err(format!("{part:?} is not KEY=VALUE")))?;
        pairs.push((key.trim(), value));
    }
    // The type decides which options are valid, so it is checked first.
    match pairs.iter().find(|(k, _)| *k == "type").map(|(_, v)| *v) {
        Some("registry") => {}
        Some(other @ ("local" | "inline" | "gha" | "s3" | "azblob")) => {
            return Err(err(format!(
                "cache type {other:?} is not supported by silo; use type=registry,ref=REF"
            )))
        }
        Some(other) => {
            let what = match direction {
                Direction::Export => "exporter",
                Direction::Import => "importer",
            };
            return Err(err(format!("unknown cache {what}: {other:?}")));
        }
        None => return Err(err("type= is required (e.g. type=registry,ref=REF)".into())),
    }
    let mut reference = None;
    let mut spec = RegistryCacheSpec {
        reference: String::new(),
        mode: CacheMode::Min,
        insecure: false,
        ignore_error: false,
    };
    let boolean = |key: &str, value: &str| match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(err(format!("{key}={value}: expected true or false"))),
    };
    for (key, value) in pairs {
        match (key, direction) {
            ("type", _) => {}
            ("ref", _) => reference = Some(value.to_string()),
            ("mode", Direction::Export) => {
                spec.mode = match value {
                    "min" => CacheMode::Min,
                    "max" => CacheMode::Max,
                    _ => return Err(err(format!("invalid mode {value:?}: expected min or max"))),
                }
            }
            ("registry.insecure", _) => spec.insecure = boolean(key, value)?,
            ("ignore-error", Direction::Export) => spec.ignore_error = boolean(key, value)?,
            (other, _) => {
                return Err(err(format!(
                    "unknown option {other:?} (silo's registry cache takes type, ref, \
                     registry.insecure{})",
                    if direction == Direction::Export {
                        ", mode and ignore-error"
                    } else {
                        ""
                    }
                )))
            }
        }
    }
    spec.reference = reference
        .filter(|r| !r.is_empty())
        .ok_or_else(|| err("ref required for type=registry".into()))?;
    Reference::parse(&spec.reference).map_err(|e| err(e.to_string()))?;
    Ok(spec)
}

/// The config of a cache export.
#[derive(Debug, Serialize, Deserialize)]
struct CacheConfig {
    format: String,
    version: u32,
    records: Vec<CacheRecordEntry>,
    /// Runtime setups (the Wine system layer); absent in caches made before they were carried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    setups: Vec<SetupEntry>,
}

/// A runtime's host setup carried by the cache: its key and the blob holding it (also listed
/// among the manifest's layers).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetupEntry {
    pub key: String,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

/// The store record remembering which blob holds the packed setup of a key.
fn setup_record_key(key: &str) -> String {
    format!("setup:{key}")
}

/// One record: the step key and the layer it produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CacheRecordEntry {
    key: String,
    layer: CachedLayer,
}

/// A cache record the build used or created, for `--cache-to`.
#[derive(Debug, Clone)]
pub struct UsedRecord {
    pub key: String,
    pub layer: CachedLayer,
    /// Where the layer's bytes are (the store, or a registry when it was a remote hit).
    pub home: BlobHome,
}

/// An imported record.
struct RemoteRecord {
    layer: CachedLayer,
    source: Rc<RegistryLayers>,
}

/// State shared by the cache and the lazy layer homes it hands out.
struct Shared {
    /// The command's registry access: its runtime runs the cache's registry calls.
    access: Arc<RegistryAccess>,
    /// Layer digests served lazily from a registry (so they can be fetched before a store tag).
    served: RefCell<HashSet<Digest>>,
}

/// The remote cache of one build: imported records and what is needed to export.
pub struct RemoteCache {
    shared: Rc<Shared>,
    imported: HashMap<String, RemoteRecord>,
    /// Imported setups by key, with the cache they came from.
    setups: HashMap<String, (SetupEntry, Rc<RegistryLayers>)>,
    /// Where each import came from (mount sources for the export).
    sources: Vec<Reference>,
    clients: ClientFactory,
}

impl std::fmt::Debug for RemoteCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteCache")
            .field("imported", &self.imported.len())
            .field("sources", &self.sources)
            .finish()
    }
}

/// Makes the registry client for a spec: the command's credentials and TLS flags, with TLS
/// verification off when the spec says `registry.insecure=true`.
pub type ClientFactory = Box<dyn Fn(&RegistryCacheSpec) -> Result<Arc<Client>, String>>;

impl RemoteCache {
    /// Imports the records of every `--cache-from`. A cache that is missing or unreadable is a
    /// warning (as in buildx): the build goes on without it.
    pub fn import(
        specs: &[RegistryCacheSpec],
        store: &Store,
        progress: &Progress,
        clients: ClientFactory,
        access: Arc<RegistryAccess>,
    ) -> Result<RemoteCache, RemoteCacheError> {
        let mut cache = RemoteCache {
            shared: Rc::new(Shared {
                access,
                served: RefCell::new(HashSet::new()),
            }),
            imported: HashMap::new(),
            setups: HashMap::new(),
            sources: Vec::new(),
            clients,
        };
        for spec in specs {
            match cache.import_one(spec, store) {
                Ok(count) => progress.note(&format!(
                    "importing cache manifest from {}: {count} records",
                    spec.reference
                )),
                Err(e) => progress.warn(&format!("failed to import {e}")),
            }
        }
        Ok(cache)
    }

    fn import_one(
        &mut self,
        spec: &RegistryCacheSpec,
        store: &Store,
    ) -> Result<usize, RemoteCacheError> {
        let at = spec.reference.as_str();
        let format = |message: String| RemoteCacheError::Format {
            reference: at.to_string(),
            message,
        };
        let registry_err = |source| RemoteCacheError::Registry {
            reference: at.to_string(),
            source,
        };
        let reference = Reference::parse(at).map_err(registry_err)?;
        // The factory is the command's (its message is all it gives).
        let client = (self.clients)(spec).map_err(format)?;
        let access = &self.shared.access;
        let manifest = access
            .block_on(client.get_manifest(&reference))
            .map_err(registry_err)?;
        let (config, layers) = parse_manifest(at, &manifest)?;
        let bytes = access
            .block_on(client.fetch_small(&reference, &config, CONFIG_LIMIT))
            .map_err(registry_err)?;
        let (records, setups) = parse_config(at, &bytes, &layers)?;
        let source = Rc::new(RegistryLayers {
            shared: self.shared.clone(),
            client,
            reference: reference.clone(),
            blobs: store.pull_blobs(),
            layers,
        });
        let count = records.len();
        for setup in setups {
            self.setups
                .entry(setup.key.clone())
                .or_insert_with(|| (setup, source.clone()));
        }
        for record in records {
            self.imported
                .entry(record.key)
                .or_insert_with(|| RemoteRecord {
                    layer: record.layer,
                    source: source.clone(),
                });
        }
        self.sources.push(reference);
        Ok(count)
    }

    /// Installs the runtime's setup from the imported caches when this state dir lacks it and a
    /// cache holds the one for this host's key. Never fails the build: a setup that cannot be
    /// fetched or is refused is a warning, and the runtime makes it itself as without a cache.
    pub fn install_setup(&self, setup: &dyn SetupArtifact, store: &Store, progress: &Progress) {
        if self.setups.is_empty() || !matches!(setup.is_made(), Ok(false)) {
            return;
        }
        // Without a key the runtime cannot run here; its first step says why.
        let Ok(key) = setup.key() else {
            return;
        };
        let Some((entry, source)) = self
            .setups
            .get(&key)
            .filter(|(e, _)| e.media_type == setup.media_type())
        else {
            progress.note(&format!(
                "the cache holds no {} for this host (key {key}); it is made here",
                setup.media_type()
            ));
            return;
        };
        let started = std::time::Instant::now();
        let installed = (|| {
            source.fetch(&entry.digest)?;
            let blob = store.blob_path(&entry.digest)?;
            setup
                .install(&blob, entry.digest.as_ref())
                .map_err(|source| RemoteCacheError::SetupInstall { source })
        })();
        match installed {
            Ok(()) => progress.note(&format!(
                "installed {} {} ({} bytes) from cache {} in {:.1} s",
                entry.media_type,
                entry.digest,
                entry.size,
                source.reference,
                started.elapsed().as_secs_f64()
            )),
            Err(e) => progress.warn(&format!(
                "not using {} {} from cache {}: {e}; it is made here instead",
                entry.media_type, entry.digest, source.reference
            )),
        }
    }

    /// The imported layer for a step key, with a home that fetches its blob when read.
    pub fn lookup(&self, key: &str) -> Option<(CachedLayer, BlobHome)> {
        let record = self.imported.get(key)?;
        self.shared
            .served
            .borrow_mut()
            .insert(record.layer.descriptor.digest().clone());
        let home: Rc<dyn ImageSource> = record.source.clone();
        Some((record.layer.clone(), BlobHome::Source(home)))
    }

    /// Makes sure every layer served from a registry that the result holds is in the store
    /// (before the result is tagged there), and keeps their records locally so the next build
    /// hits without the registry.
    pub fn materialize(&self, store: &Store, result: &BuildResult) -> Result<(), RemoteCacheError> {
        let served = self.shared.served.borrow().clone();
        for image in &result.images {
            for layer in &image.layers {
                if served.contains(layer.descriptor.digest()) {
                    layer.home.ensure_in_store(store, &layer.descriptor)?;
                }
            }
        }
        self.remember_fetched(store, &result.cache_records)
    }

    /// Writes local records for remote hits whose blobs are now in the store.
    pub fn remember_fetched(
        &self,
        store: &Store,
        records: &[UsedRecord],
    ) -> Result<(), RemoteCacheError> {
        for record in records {
            if matches!(record.home, BlobHome::Source(_))
                && store.has_blob(record.layer.descriptor.digest())?
                && cache::lookup(store, &record.key)?.is_none()
            {
                cache::remember(store, &record.key, &record.layer)?;
            }
        }
        Ok(())
    }

    /// Exports the build's cache records (per `spec.mode`) and their layers to `spec.reference`.
    /// Layers already in the destination repository are skipped; ones in an imported repository
    /// on the same registry are mounted.
    pub fn export(
        &self,
        spec: &RegistryCacheSpec,
        store: &Store,
        result: &BuildResult,
        setup: Option<&dyn SetupArtifact>,
    ) -> Result<ExportReport, RemoteCacheError> {
        let reference = Reference::parse(&spec.reference).map_err(|e| RemoteCacheError::Spec {
            flag: "--cache-to",
            text: spec.reference.clone(),
            message: e.to_string(),
        })?;
        let registry_err = |source| RemoteCacheError::Registry {
            reference: spec.reference.clone(),
            source,
        };
        let records = select_records(&result.cache_records, result, spec.mode);
        let client = (self.clients)(spec).map_err(|message| RemoteCacheError::Format {
            reference: spec.reference.clone(),
            message,
        })?;
        let mounts: Vec<String> = self
            .sources
            .iter()
            .filter(|s| s.registry() == reference.registry())
            .map(|s| s.repository().to_string())
            .collect();
        // A layer the push can neither skip (already in the destination) nor mount (push mounts
        // from the first candidate only) must come through the store to be uploaded.
        let access = &self.shared.access;
        for record in &records {
            let digest = record.layer.descriptor.digest();
            if store.has_blob(digest)? {
                continue;
            }
            let in_reach = access
                .block_on(async {
                    for repo in std::iter::once(reference.repository())
                        .chain(mounts.first().map(String::as_str))
                    {
                        let r = reference.with_repository(repo);
                        let scopes = registry_client::auth::Scopes::pull(repo);
                        if client
                            .blob_exists(&r, &scopes, digest.as_ref())
                            .await?
                            .is_some()
                        {
                            return Ok(true);
                        }
                    }
                    Ok(false)
                })
                .map_err(registry_err)?;
            if !in_reach {
                record
                    .home
                    .ensure_in_store(store, &record.layer.descriptor)?;
            }
        }
        let setups = match setup {
            Some(setup) if matches!(setup.is_made(), Ok(true)) => vec![packed_setup(store, setup)?],
            _ => Vec::new(),
        };
        let (manifest_bytes, config_bytes) = cache_manifest(&records, &setups);
        store.put_blob_bytes(&config_bytes)?;
        let manifest = RawManifest::from_bytes(
            &spec.reference,
            manifest_bytes,
            Some(registry_client::manifest::OCI_MANIFEST),
        )
        .map_err(registry_err)?;
        let image = ImageToPush {
            root: manifest,
            children: HashMap::new(),
        };
        let options = PushOptions {
            mount_from: mounts,
            ..PushOptions::default()
        };
        let report = access
            .block_on(client.push(&reference, &image, Arc::new(store.pull_blobs()), &options))
            .map_err(registry_err)?;
        Ok(ExportReport {
            records: records.len(),
            setups: setups.len(),
            digest: report.digest,
            uploaded: report.uploaded,
            mounted: report.mounted,
            present: report.present,
        })
    }
}

/// What an export did.
#[derive(Debug, Clone)]
pub struct ExportReport {
    pub records: usize,
    /// Runtime setups exported (0 or 1).
    pub setups: usize,
    pub digest: String,
    pub uploaded: usize,
    pub mounted: usize,
    pub present: usize,
}

/// The setup made in this state dir as a blob in the store: packed once per key and
/// remembered by a store record (which keeps the blob through `silo prune`).
fn packed_setup(store: &Store, setup: &dyn SetupArtifact) -> Result<SetupEntry, RemoteCacheError> {
    let media_type = setup.media_type();
    let err = |source: RuntimeError| RemoteCacheError::Setup { media_type, source };
    let key = setup.key().map_err(err)?;
    let record_key = setup_record_key(&key);
    if let Some(record) = store.get_record(&record_key)? {
        if let Ok(entry) = serde_json::from_value::<SetupEntry>(record.data) {
            if store.has_blob(&entry.digest)? {
                return Ok(entry);
            }
        }
    }
    let mut writer = store.begin_blob()?;
    setup.pack(&mut writer).map_err(err)?;
    let (digest, size) = writer.commit(None)?;
    let entry = SetupEntry {
        key,
        media_type: media_type.to_string(),
        digest,
        size,
    };
    let data = serde_json::to_value(&entry).expect("a setup entry serializes");
    store.put_record(&record_key, std::slice::from_ref(&entry.digest), &data)?;
    Ok(entry)
}

/// The records `mode` exports, each key once: `max` all of them, `min` those whose layer is in
/// a result image (the final stage's chain).
fn select_records(all: &[UsedRecord], result: &BuildResult, mode: CacheMode) -> Vec<UsedRecord> {
    let in_result: HashSet<&Digest> = result
        .images
        .iter()
        .flat_map(|i| i.layers.iter().map(|l| l.descriptor.digest()))
        .collect();
    let mut seen = BTreeSet::new();
    all.iter()
        .filter(|r| mode == CacheMode::Max || in_result.contains(r.layer.descriptor.digest()))
        .filter(|r| seen.insert(r.key.clone()))
        .cloned()
        .collect()
}

/// The cache export's manifest and config bytes for `records`.
fn cache_manifest(records: &[UsedRecord], setups: &[SetupEntry]) -> (Vec<u8>, Vec<u8>) {
    let config = CacheConfig {
        format: FORMAT_NAME.to_string(),
        version: FORMAT_VERSION,
        setups: setups.to_vec(),
        records: records
            .iter()
            .map(|r| CacheRecordEntry {
                key: r.key.clone(),
                layer: r.layer.clone(),
            })
            .collect(),
    };
    let config_bytes = serde_json::to_vec(&config).expect("cache records serialize");
    let mut layers: Vec<serde_json::Value> = Vec::new();
    let mut listed = HashSet::new();
    for record in records {
        let d = &record.layer.descriptor;
        if listed.insert(d.digest()) {
            layers.push(serde_json::json!({
                "mediaType": d.media_type().to_string(),
                "digest": d.digest().to_string(),
                "size": d.size(),
            }));
        }
    }
    for setup in setups {
        if listed.insert(&setup.digest) {
            layers.push(serde_json::json!({
                "mediaType": setup.media_type,
                "digest": setup.digest,
                "size": setup.size,
            }));
        }
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": registry_client::manifest::OCI_MANIFEST,
        "config": {
            "mediaType": CONFIG_MEDIA_TYPE,
            "digest": crate::oci::digest_of_bytes(&config_bytes).to_string(),
            "size": config_bytes.len(),
        },
        "layers": layers,
        "annotations": { "org.opencontainers.image.description": "silo build cache" },
    });
    let manifest_bytes = serde_json::to_vec(&manifest).expect("JSON values serialize");
    (manifest_bytes, config_bytes)
}

/// The config blob and layer digests of a cache manifest; anything else is not a silo cache.
fn parse_manifest(
    reference: &str,
    manifest: &RawManifest,
) -> Result<(BlobRef, HashMap<Digest, BlobRef>), RemoteCacheError> {
    let format = |message: String| RemoteCacheError::Format {
        reference: reference.to_string(),
        message,
    };
    if manifest.is_index() {
        return Err(format(
            "is an index, not a silo build cache manifest".into(),
        ));
    }
    let image = manifest
        .image()
        .map_err(|source| RemoteCacheError::Registry {
            reference: reference.to_string(),
            source,
        })?;
    let config = image.config();
    if config.media_type().to_string() != CONFIG_MEDIA_TYPE {
        return Err(format(format!(
            "is not a silo build cache (its config media type is {}, expected {CONFIG_MEDIA_TYPE})",
            config.media_type()
        )));
    }
    let layers = image
        .layers()
        .iter()
        .map(|l| {
            let blob = BlobRef {
                digest: l.digest().clone(),
                size: l.size(),
                media_type: l.media_type().to_string(),
                urls: Vec::new(),
            };
            (blob.digest.clone(), blob)
        })
        .collect();
    Ok((
        BlobRef {
            digest: config.digest().clone(),
            size: config.size(),
            media_type: CONFIG_MEDIA_TYPE.to_string(),
            urls: Vec::new(),
        },
        layers,
    ))
}

/// The records and setups of a cache config, checked: the right format and version, and every
/// record's layer and setup's blob among the manifest's layers.
fn parse_config(
    reference: &str,
    bytes: &[u8],
    layers: &HashMap<Digest, BlobRef>,
) -> Result<(Vec<CacheRecordEntry>, Vec<SetupEntry>), RemoteCacheError> {
    let format = |message: String| RemoteCacheError::Format {
        reference: reference.to_string(),
        message,
    };
    let config: CacheConfig =
        serde_json::from_slice(bytes).map_err(|source| RemoteCacheError::Json {
            reference: reference.to_string(),
            what: "cache config",
            source,
        })?;
    if config.format != FORMAT_NAME {
        return Err(format(format!(
            "cache config format {:?}, expected {FORMAT_NAME:?}",
            config.format
        )));
    }
    if config.version != FORMAT_VERSION {
        return Err(format(format!(
            "cache format version {} (this silo reads version {FORMAT_VERSION}); export it again \
             with this silo",
            config.version
        )));
    }
    for record in &config.records {
        let d = &record.layer.descriptor;
        let digest = d.digest();
        let Some(listed) = layers.get(digest) else {
            return Err(format(format!(
                "record {} names layer {digest}, which the cache manifest does not hold",
                record.key
            )));
        };
        // The record's descriptor goes into built manifests: it must agree with the listing.
        if listed.size != d.size() || listed.media_type != d.media_type().to_string() {
            return Err(format(format!(
                "record {} describes layer {digest} as {} bytes of {}, the manifest as {} bytes \
                 of {}",
                record.key,
                d.size(),
                d.media_type(),
                listed.size,
                listed.media_type
            )));
        }
    }
    for setup in &config.setups {
        let agrees = layers
            .get(&setup.digest)
            .is_some_and(|l| l.size == setup.size && l.media_type == setup.media_type);
        if !agrees {
            return Err(format(format!(
                "setup {} ({}, {} bytes of {}) is not among the cache manifest's layers",
                setup.key, setup.digest, setup.size, setup.media_type
            )));
        }
    }
    Ok((config.records, config.setups))
}

/// Layers of one imported cache: reading one fetches it (verified) from the registry into the
/// store, once.
struct RegistryLayers {
    shared: Rc<Shared>,
    client: Arc<Client>,
    reference: Reference,
    blobs: BlobDir,
    /// The manifest's layers by digest (sizes and media types for the fetch).
    layers: HashMap<Digest, BlobRef>,
}

impl RegistryLayers {
    fn fetch(&self, digest: &Digest) -> Result<(), StoreError> {
        let blob = self.layers.get(digest).ok_or_else(|| {
            StoreError::invalid(
                format!("cache {}", self.reference),
                format!("layer {digest} is not in the cache manifest"),
            )
        })?;
        self.shared
            .access
            .block_on(
                self.client
                    .fetch_blob(&self.reference, blob, Arc::new(self.blobs.clone())),
            )
            .map_err(|e| {
                StoreError::invalid(
                    format!("cache layer {digest} from {}", self.reference),
                    e.to_string(),
                )
            })
    }
}

impl BlobSource for RegistryLayers {
    fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, StoreError> {
        let path = self
            .blobs
            .path(digest)
            .map_err(|e| StoreError::io(format!("blob {digest}"), e))?;
        if !path.is_file() {
            self.fetch(digest)?;
        }
        let file = std::fs::File::open(&path)
            .map_err(|e| StoreError::io(path.display().to_string(), e))?;
        Ok(Box::new(file))
    }

    /// Whether the cache holds the blob (it is fetched when opened).
    fn has_blob(&self, digest: &Digest) -> Result<bool, StoreError> {
        Ok(self.layers.contains_key(digest))
    }
}

impl ImageSource for RegistryLayers {
    fn resolve(&self, _name: Option<&str>) -> Result<Descriptor, StoreError> {
        Err(StoreError::invalid(
            self.reference.to_string(),
            "a build cache holds layers, not an image",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(n: u8) -> CachedLayer {
        let hex = format!("{n:02x}").repeat(32);
        CachedLayer {
            descriptor: Descriptor::new(
                oci_spec::image::MediaType::ImageLayerGzip,
                100 + u64::from(n),
                Digest::try_from(format!("sha256:{hex}")).unwrap(),
            ),
            diff_id: Digest::try_from(format!("sha256:{}", "e".repeat(64))).unwrap(),
            created: Some(1_700_000_000),
        }
    }

    #[test]
    fn specs_parse_like_buildx() {
        let spec = parse_spec(
            "type=registry,ref=r.io/a/cache:x,mode=max",
            Direction::Export,
        )
        .unwrap();
        assert_eq!(spec.reference, "r.io/a/cache:x");
        assert_eq!(spec.mode, CacheMode::Max);
        let bare = parse_spec("r.io/a/cache:x", Direction::Import).unwrap();
        assert_eq!(bare.reference, "r.io/a/cache:x");
        assert_eq!(bare.mode, CacheMode::Min);
        let insecure = parse_spec(
            "type=registry,ref=127.0.0.1:5000/c,registry.insecure=true",
            Direction::Import,
        )
        .unwrap();
        assert!(insecure.insecure);
        let err = |t: &str, d| parse_spec(t, d).unwrap_err().to_string();
        assert!(err("type=gha", Direction::Export).contains("not supported"));
        assert!(err("type=x,ref=a", Direction::Export).contains("unknown cache exporter"));
        assert!(err("ref=a", Direction::Import).contains("type= is required"));
        assert!(err("type=registry,ref=a,mode=max", Direction::Import).contains("\"mode\""));
        assert!(
            err("type=registry,ref=a,ignore-error=maybe", Direction::Export)
                .contains("true or false")
        );
        assert!(err("type=registry,ref=UPPER/x", Direction::Export).starts_with("--cache-to"));
    }

    #[test]
    fn exported_config_reads_back_and_foreign_or_broken_ones_are_refused() {
        let records: Vec<UsedRecord> = [(1, "k1"), (2, "k2"), (1, "k3")]
            .iter()
            .map(|(n, k)| UsedRecord {
                key: k.to_string(),
                layer: layer(*n),
                home: BlobHome::Store,
            })
            .collect();
        let setup = SetupEntry {
            key: "wine-system:sha256:k".into(),
            media_type: "application/vnd.silo.wine.system.v1.tar+zstd".into(),
            digest: format!("sha256:{}", "5".repeat(64)).parse().unwrap(),
            size: 4096,
        };
        let (manifest_bytes, config_bytes) = cache_manifest(&records, std::slice::from_ref(&setup));
        let manifest = RawManifest::from_bytes(
            "t",
            manifest_bytes,
            Some(registry_client::manifest::OCI_MANIFEST),
        )
        .unwrap();
        let (config, layers) = parse_manifest("t", &manifest).unwrap();
        assert_eq!(layers.len(), 3, "each layer blob once, and the setup's");
        assert_eq!(config.size, config_bytes.len() as u64);
        let (back, setups) = parse_config("t", &config_bytes, &layers).unwrap();
        assert_eq!(setups.len(), 1);
        assert_eq!(setups[0].digest, setup.digest);
        // A setup whose blob the manifest lacks is refused.
        let mut no_setup = layers.clone();
        no_setup.remove(&setup.digest);
        assert!(parse_config("t", &config_bytes, &no_setup)
            .unwrap_err()
            .to_string()
            .contains("setup"));
        assert_eq!(
            back.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
            ["k1", "k2", "k3"]
        );
        // A record naming a layer the manifest lacks is refused.
        let mut fewer = layers.clone();
        fewer.remove(layer(2).descriptor.digest());
        assert!(parse_config("t", &config_bytes, &fewer)
            .unwrap_err()
            .to_string()
            .contains("does not hold"));
        // A record disagreeing with the manifest about a layer's size is refused.
        let mut resized = layers.clone();
        resized.get_mut(layer(1).descriptor.digest()).unwrap().size += 1;
        assert!(parse_config("t", &config_bytes, &resized)
            .unwrap_err()
            .to_string()
            .contains("bytes"));
        // Another version is refused with a hint, not misread.
        let mut doc: serde_json::Value = serde_json::from_slice(&config_bytes).unwrap();
        doc["version"] = 2.into();
        let newer = serde_json::to_vec(&doc).unwrap();
        assert!(parse_config("t", &newer, &layers)
            .unwrap_err()
            .to_string()
            .contains("version 2"));
    }
}
