//! The build cache outside the store: `--cache-from` imports records from a registry (a cache
//! manifest, or an image carrying an inline cache) or a local directory, and `--cache-to` exports
//! them to a registry, a local directory or the result image's config (`type=inline`).
//! BuildKit's remote caches are the model.
//!
//! The record format is [`super::cache_format`]'s and the same everywhere; this module owns what
//! an import serves and an export sends, and the registry as a location. The local directory is
//! [`super::cache_local`]; an inline cache is written by the engine when it makes the image
//! config (see `BuildRequest::inline_cache`) and read back here from the image's config.
//!
//! An import reads only the manifest and the config; a layer's blob is fetched from the registry
//! (or copied from the directory) when the hit is used by something that needs its bytes (a
//! later RUN, `COPY --from`, an output or a store tag). The registry client is async and the
//! engine is sync: every call goes through `block_on` on the command's [`RegistryAccess`]
//! runtime, handed to [`RemoteCache::import`] (the cache's clients come from its own factory: a
//! spec may turn TLS verification off).
//!
//! The export also carries the runtime's host setup when it has one ([`SetupArtifact`]: the Wine
//! system layer), as one more layer blob listed under `setups` with its key; an import with a
//! fresh state dir installs the setup whose key is this host's before the first step, so the
//! runtime need not make it. A setup blob that cannot be fetched or is refused (digest
//! mismatch, unsafe entry, another key) is a warning and the runtime makes the setup itself.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use oci_spec::image::{Descriptor, Digest, MediaType};
use registry_client::blobdir::BlobDir;
use registry_client::{BlobRef, Client, ImageToPush, PushOptions, RawManifest, Reference};

use super::cache_format::{
    self, cache_manifest, parse_manifest, select_records, CacheConfig, SetupEntry,
    INLINE_CONFIG_KEY,
};
use super::cache_local::{self, ExportBlob, Found};
use super::cache_spec::{CacheLocation, CacheSpec, Direction, LocalEntry};
use crate::build::engine::cache::{self, CachedLayer};
use crate::build::engine::BuildResult;
use crate::build::progress::Progress;
use crate::build::sources::base::BlobHome;
use crate::runtime::{RuntimeError, SetupArtifact};
use crate::store::registry_source::RegistryAccess;
use crate::store::{BlobSource, ImageSource, Store, StoreError};

/// Largest cache config read into memory (a hostile size field must not drive the allocation).
const CONFIG_LIMIT: u64 = 16 * 1024 * 1024;

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
    /// A local cache directory that is there but cannot be read or written.
    #[error("local cache {}: {source}", dir.display())]
    Local {
        dir: PathBuf,
        #[source]
        source: StoreError,
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

/// The store record remembering which blob holds the packed setup of a key.
fn setup_record_key(key: &str) -> String {
    format!("setup:{key}")
}

/// A cache record the build used or created, for `--cache-to`.
#[derive(Debug, Clone)]
pub struct UsedRecord {
    pub key: String,
    pub layer: CachedLayer,
    /// Where the layer's bytes are (the store, or a cache it was imported from).
    pub home: BlobHome,
}

/// An imported record: its layer and where the layer's bytes are.
struct ImportedRecord {
    layer: CachedLayer,
    home: BlobHome,
}

/// An imported runtime setup, where its blob is and which cache it came from.
struct ImportedSetup {
    entry: SetupEntry,
    home: BlobHome,
    from: String,
}

/// State shared by the cache and the lazy layer homes it hands out.
struct Shared {
    /// The command's registry access: its runtime runs the cache's registry calls.
    access: Arc<RegistryAccess>,
    /// Layer digests served lazily from a cache (so they can be fetched before a store tag).
    served: RefCell<HashSet<Digest>>,
}

/// The remote cache of one build: imported records and what is needed to export.
pub struct RemoteCache {
    shared: Rc<Shared>,
    imported: HashMap<String, ImportedRecord>,
    /// Imported setups by key.
    setups: HashMap<String, ImportedSetup>,
    /// Registries an import came from (mount sources for a registry export).
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

/// Makes the registry client for a registry cache: the command's credentials and TLS flags,
/// with TLS verification off when the spec says `registry.insecure=true` (the argument).
pub type ClientFactory = Box<dyn Fn(bool) -> Result<Arc<Client>, String>>;

impl RemoteCache {
    /// Imports the records of every `--cache-from`. A registry cache that is missing or
    /// unreadable is a warning, and so is a missing or empty local directory (as in buildx):
    /// the build goes on without it. A local cache that is there but corrupt is an error.
    pub fn import(
        specs: &[CacheSpec],
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
            let at = spec.location.to_string();
            match &spec.location {
                CacheLocation::Registry {
                    reference,
                    insecure,
                } => match cache.import_registry(reference, *insecure, store) {
                    Ok(count) => progress.note(&format!(
                        "importing cache manifest from {at}: {count} records"
                    )),
                    Err(e) => progress.warn(&format!("failed to import {e}")),
                },
                CacheLocation::Local { dir, entry } => match cache_local::open(dir, entry)? {
                    Found::Nothing(why) => progress.warn(&format!(
                        "no local cache to import: {why}; building without it"
                    )),
                    Found::Cache { layout, manifest } => {
                        let parsed = parse_manifest(&at, &manifest)?;
                        let bytes = cache_local::read_small(&layout, &parsed.config.digest)?;
                        let config = cache_format::read_config(&at, &parsed, &bytes)?;
                        let home = BlobHome::Source(layout);
                        let count = cache.add(config, &home, &at);
                        progress.note(&format!("importing cache from {at}: {count} records"));
                    }
                },
                CacheLocation::Inline => {
                    return Err(RemoteCacheError::Spec {
                        flag: Direction::Import.flag(),
                        text: "type=inline".into(),
                        message: "inline is an exporter only".into(),
                    })
                }
            }
        }
        Ok(cache)
    }

    /// Reads a registry cache: a cache manifest, or an image whose config carries an inline
    /// cache.
    fn import_registry(
        &mut self,
        at: &str,
        insecure: bool,
        store: &Store,
    ) -> Result<usize, RemoteCacheError> {
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
        let client = (self.clients)(insecure).map_err(format)?;
        let access = &self.shared.access;
        let manifest = access
            .block_on(client.get_manifest(&reference))
            .map_err(registry_err)?;
        let parsed = parse_manifest(at, &manifest)?;
        let bytes = access
            .block_on(client.fetch_small(&reference, &parsed.config, CONFIG_LIMIT))
            .map_err(registry_err)?;
        let config = cache_format::read_config(at, &parsed, &bytes)?;
        let source = Rc::new(RegistryLayers {
            shared: self.shared.clone(),
            client,
            reference: reference.clone(),
            blobs: store.pull_blobs(),
            layers: parsed.layers,
        });
        let count = self.add(config, &BlobHome::Source(source), at);
        self.sources.push(reference);
        Ok(count)
    }

    /// Takes the records and setups of a read cache (the first import of a key wins); returns
    /// how many records it had.
    fn add(&mut self, config: CacheConfig, home: &BlobHome, from: &str) -> usize {
        let count = config.records.len();
        for setup in config.setups {
            self.setups
                .entry(setup.key.clone())
                .or_insert_with(|| ImportedSetup {
                    entry: setup,
                    home: home.clone(),
                    from: from.to_string(),
                });
        }
        for record in config.records {
            self.imported
                .entry(record.key)
                .or_insert_with(|| ImportedRecord {
                    layer: record.layer,
                    home: home.clone(),
                });
        }
        count
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
        let Some(imported) = self
            .setups
            .get(&key)
            .filter(|s| s.entry.media_type == setup.media_type())
        else {
            progress.note(&format!(
                "the cache holds no {} for this host (key {key}); it is made here",
                setup.media_type()
            ));
            return;
        };
        let entry = &imported.entry;
        let started = std::time::Instant::now();
        let installed = (|| {
            let descriptor = Descriptor::new(
                MediaType::Other(entry.media_type.clone()),
                entry.size,
                entry.digest.clone(),
            );
            let blob = imported.home.ensure_in_store(store, &descriptor)?;
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
                imported.from,
                started.elapsed().as_secs_f64()
            )),
            Err(e) => progress.warn(&format!(
                "not using {} {} from cache {}: {e}; it is made here instead",
                entry.media_type, entry.digest, imported.from
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
        Some((record.layer.clone(), record.home.clone()))
    }

    /// Makes sure every layer served from a cache that the result holds is in the store
    /// (before the result is tagged there), and keeps their records locally so the next build
    /// hits without the cache.
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

    /// Writes local records for imported hits whose blobs are now in the store.
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

    /// Exports the build's cache records (per `spec.mode`) to the spec's location. An inline
    /// cache is already in the image config (the engine wrote it): this counts its records.
    pub fn export(
        &self,
        spec: &CacheSpec,
        store: &Store,
        result: &BuildResult,
        setup: Option<&dyn SetupArtifact>,
    ) -> Result<ExportReport, RemoteCacheError> {
        if spec.location == CacheLocation::Inline {
            let records = result
                .images
                .iter()
                .filter_map(|i| i.config.other.get(INLINE_CONFIG_KEY))
                .filter_map(|v| v["records"].as_array().map(Vec::len))
                .sum();
            return Ok(ExportReport {
                records,
                setups: 0,
                digest: result.top().0.digest().to_string(),
                blobs: Transfer::Inline,
            });
        }
        let layers = result
            .images
            .iter()
            .flat_map(|i| i.layers.iter().map(|l| l.descriptor.digest()));
        let records = select_records(&result.cache_records, layers, spec.mode);
        let setups = match setup {
            Some(setup) if matches!(setup.is_made(), Ok(true)) => vec![packed_setup(store, setup)?],
            _ => Vec::new(),
        };
        let (manifest_bytes, config_bytes) = cache_manifest(&records, &setups);
        let (digest, blobs) = match &spec.location {
            CacheLocation::Registry {
                reference,
                insecure,
            } => self.push(
                reference,
                *insecure,
                store,
                &records,
                manifest_bytes,
                &config_bytes,
            )?,
            CacheLocation::Local { dir, entry } => {
                let LocalEntry::Tag(tag) = entry else {
                    unreachable!("the parser takes digest= on import only")
                };
                let mut seen = HashSet::new();
                let store_home = BlobHome::Store;
                let mut blobs: Vec<ExportBlob<'_>> = records
                    .iter()
                    .filter(|r| seen.insert(r.layer.descriptor.digest().clone()))
                    .map(|r| ExportBlob {
                        descriptor: r.layer.descriptor.clone(),
                        home: &r.home,
                    })
                    .collect();
                for s in setups.iter().filter(|s| seen.insert(s.digest.clone())) {
                    blobs.push(ExportBlob {
                        descriptor: Descriptor::new(
                            MediaType::Other(s.media_type.clone()),
                            s.size,
                            s.digest.clone(),
                        ),
                        home: &store_home,
                    });
                }
                let report =
                    cache_local::export(dir, tag, &blobs, &manifest_bytes, &config_bytes, store)?;
                (
                    report.digest,
                    Transfer::Local {
                        written: report.written,
                        present: report.present,
                    },
                )
            }
            CacheLocation::Inline => unreachable!("handled above"),
        };
        Ok(ExportReport {
            records: records.len(),
            setups: setups.len(),
            digest,
            blobs,
        })
    }

    /// Pushes a cache manifest to a registry. Layers already in the destination repository are
    /// skipped; ones in an imported repository on the same registry are mounted.
    fn push(
        &self,
        at: &str,
        insecure: bool,
        store: &Store,
        records: &[UsedRecord],
        manifest_bytes: Vec<u8>,
        config_bytes: &[u8],
    ) -> Result<(String, Transfer), RemoteCacheError> {
        let reference = Reference::parse(at).map_err(|e| RemoteCacheError::Spec {
            flag: "--cache-to",
            text: at.to_string(),
            message: e.to_string(),
        })?;
        let registry_err = |source| RemoteCacheError::Registry {
            reference: at.to_string(),
            source,
        };
        let client = (self.clients)(insecure).map_err(|message| RemoteCacheError::Format {
            reference: at.to_string(),
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
        for record in records {
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
        store.put_blob_bytes(config_bytes)?;
        let manifest = RawManifest::from_bytes(
            at,
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
        Ok((
            report.digest,
            Transfer::Registry {
                uploaded: report.uploaded,
                mounted: report.mounted,
                present: report.present,
            },
        ))
    }
}

/// What an export did.
#[derive(Debug, Clone)]
pub struct ExportReport {
    pub records: usize,
    /// Runtime setups exported (0 or 1).
    pub setups: usize,
    /// The cache manifest's digest (for an inline cache: the image's).
    pub digest: String,
    pub blobs: Transfer,
}

/// How an export's blobs got there.
#[derive(Debug, Clone)]
pub enum Transfer {
    Registry {
        uploaded: usize,
        mounted: usize,
        present: usize,
    },
    Local {
        written: usize,
        present: usize,
    },
    /// In the image config: the image's outputs carry it.
    Inline,
}

impl std::fmt::Display for ExportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} records", self.records)?;
        match &self.blobs {
            Transfer::Registry {
                uploaded,
                mounted,
                present,
            } => write!(
                f,
                ", {} runtime setup; blobs: {uploaded} uploaded, {mounted} mounted, {present} \
                 already there ({})",
                self.setups, self.digest
            ),
            Transfer::Local { written, present } => write!(
                f,
                ", {} runtime setup; blobs: {written} written, {present} already there ({})",
                self.setups, self.digest
            ),
            Transfer::Inline => write!(f, " in the config of {}", self.digest),
        }
    }
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
