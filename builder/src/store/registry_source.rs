//! A registry image as a lazy [`ImageSource`]: opening it fetches only the manifest (and, for an
//! index, the chosen entry's manifest when it is read); a config or layer blob is fetched —
//! verified, into the content store — only when someone reads its bytes. Builds (`FROM`,
//! `COPY --from`) and the inspection verbs reach registries through this one module.
//!
//! The registry client is async; the engine and the inspection code are sync, so a command
//! shares one tokio runtime ([`RegistryAccess`]) and every call here blocks on it. The CLI
//! builds the access (credentials, TLS flags) once and hands it down as [`RegistryRefs`]; code
//! run without the CLI gets a default client (stored credentials, TLS verified, plain HTTP for
//! loopback only), made when the first registry ref is opened.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oci_spec::image::{Descriptor, DescriptorBuilder, Digest, MediaType};
use registry_client::blobdir::BlobDir;
use registry_client::credentials::CredentialEnv;
use registry_client::manifest::blobs_of;
use registry_client::{
    BlobRef, Client, ClientConfig, DefaultCredentials, NoProgress, RawManifest, Reference,
};

use super::{BlobSource, ImageSource, StoreError};

/// How silo reaches registries: one client and the one tokio runtime every registry future of
/// the process runs on. The CLI builds it once per command (its credential and TLS flags) and
/// hands it down — to the lazy registry refs here (as [`RegistryRefs`]), to the remote build
/// cache and to the registry verbs — so a command never starts a second runtime. Code that runs
/// without the CLI (tests, library callers) gets a default one ([`RegistryRefs::default`]).
pub struct RegistryAccess {
    pub client: Arc<Client>,
    runtime: tokio::runtime::Runtime,
}

impl RegistryAccess {
    /// `client` with a new runtime: one worker per core, at least 2 and at most 8. The transfers
    /// hash on these threads (up to `--jobs`, 6 by default, at once) but are mostly waiting on
    /// the network, so more than 8 would only idle.
    pub fn new(client: Arc<Client>) -> Result<RegistryAccess, StoreError> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("silo-registry")
            .enable_all()
            .build()
            .map_err(|e| StoreError::io("starting the async runtime for registry access", e))?;
        Ok(RegistryAccess { client, runtime })
    }

    /// A default client (stored credentials, TLS verified, plain HTTP for loopback only, no
    /// progress) on a new runtime: for builds and reads started without the CLI.
    pub fn with_default_client() -> Result<RegistryAccess, StoreError> {
        let client = Client::new(
            ClientConfig::default(),
            Arc::new(DefaultCredentials::new(CredentialEnv::from_process())),
            Arc::new(NoProgress),
        )
        .map_err(|e| StoreError::invalid("registry client", e.to_string()))?;
        RegistryAccess::new(Arc::new(client))
    }

    /// Runs `future` to completion on the runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

impl std::fmt::Debug for RegistryAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAccess").finish_non_exhaustive()
    }
}

/// The registry access a command's lazy registry refs use, handed down from where the command
/// starts: the CLI gives its own ([`RegistryRefs::given`]: its credential and TLS flags, its
/// runtime); code run without the CLI (tests, library callers) gets a default one, made on the
/// first registry ref so that reading only local images starts no runtime.
#[derive(Default)]
pub struct RegistryRefs(std::cell::OnceCell<Arc<RegistryAccess>>);

impl RegistryRefs {
    /// Registry refs read through `access`.
    pub fn given(access: Arc<RegistryAccess>) -> RegistryRefs {
        RegistryRefs(std::cell::OnceCell::from(access))
    }

    /// The access: the given one, or a default one made now (once).
    pub fn access(&self) -> Result<Arc<RegistryAccess>, StoreError> {
        if let Some(a) = self.0.get() {
            return Ok(a.clone());
        }
        let made = Arc::new(RegistryAccess::with_default_client()?);
        Ok(self.0.get_or_init(|| made).clone())
    }
}

impl std::fmt::Debug for RegistryRefs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryRefs")
            .field("made", &self.0.get().is_some())
            .finish()
    }
}

/// What the source knows about a digest from the manifests it has read.
enum Known {
    /// A manifest or index already fetched.
    Manifest(RawManifest),
    /// An image manifest listed by an index, not fetched yet.
    ChildManifest,
    /// A config or layer blob listed by a fetched manifest.
    Blob(BlobRef),
}

/// One image in a registry, read lazily; blobs it fetches land in the content store.
pub struct RegistryImage {
    access: Arc<RegistryAccess>,
    reference: Reference,
    root: Descriptor,
    /// The store's blob directory (verified, staged writes — the same files `silo pull` makes).
    store_blobs: BlobDir,
    known: RefCell<HashMap<Digest, Known>>,
}

fn registry_error(reference: &str, e: registry_client::Error) -> StoreError {
    let hint = match &e {
        registry_client::Error::Connect { .. } => {
            " (the registry did not answer: check the host and port, that it is running, and \
             --tls-verify=false for a plain-HTTP registry)"
        }
        _ => "",
    };
    StoreError::invalid(
        format!("reading {reference} from its registry"),
        format!("{e}{hint}"),
    )
}

impl RegistryImage {
    /// Fetches the manifest `reference` names through `access`. `store_root` is the content
    /// store's directory.
    pub fn open(
        access: Arc<RegistryAccess>,
        store_root: &Path,
        reference: &str,
    ) -> Result<RegistryImage, StoreError> {
        let parsed = Reference::parse(reference).map_err(|e| registry_error(reference, e))?;
        // A registries.conf mirror that serves the image is read instead of the registry.
        let parsed = access
            .block_on(access.client.pull_source(&parsed))
            .map_err(|e| registry_error(reference, e))?;
        let root = access
            .block_on(access.client.get_manifest(&parsed))
            .map_err(|e| registry_error(reference, e))?;
        let descriptor = DescriptorBuilder::default()
            .media_type(MediaType::from(root.media_type.as_str()))
            .digest(
                root.blob_ref()
                    .map_err(|e| registry_error(reference, e))?
                    .digest,
            )
            .size(root.bytes.len() as u64)
            .build()
            .map_err(|e| StoreError::invalid(reference, e.to_string()))?;
        let image = RegistryImage {
            access,
            reference: parsed,
            root: descriptor,
            store_blobs: super::pull_blobs(store_root),
            known: RefCell::new(HashMap::new()),
        };
        image.learn(root)?;
        Ok(image)
    }

    /// The reference the image was opened by.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// The shared client and runtime.
    pub fn access(&self) -> &Arc<RegistryAccess> {
        &self.access
    }

    /// Records a fetched manifest and the digests it lists.
    fn learn(&self, manifest: RawManifest) -> Result<(), StoreError> {
        let mut known = self.known.borrow_mut();
        let bad = |e: registry_client::Error| registry_error(&self.reference.to_string(), e);
        if manifest.is_index() {
            for entry in manifest.index().map_err(bad)?.manifests() {
                known
                    .entry(entry.digest().clone())
                    .or_insert(Known::ChildManifest);
            }
        } else {
            let (config, layers) = blobs_of(&manifest.image().map_err(bad)?);
            for blob in layers.into_iter().chain(std::iter::once(config)) {
                known.insert(blob.digest.clone(), Known::Blob(blob));
            }
        }
        let digest = manifest.blob_ref().map_err(bad)?.digest;
        known.insert(digest, Known::Manifest(manifest));
        Ok(())
    }

    /// Makes sure a config or layer blob is in the store (fetching it, verified, when it is not)
    /// and returns its path there. This is the only place a registry base's layer is downloaded.
    pub fn fetch_into_store(&self, descriptor: &Descriptor) -> Result<PathBuf, StoreError> {
        let blob = match self.known.borrow().get(descriptor.digest()) {
            Some(Known::Blob(b)) => b.clone(),
            _ => BlobRef::from(descriptor),
        };
        self.fetch(&blob)
    }

    /// [`RegistryImage::fetch_into_store`] of a blob a manifest lists.
    fn fetch(&self, blob: &BlobRef) -> Result<PathBuf, StoreError> {
        let path = self
            .store_blobs
            .path(&blob.digest)
            .map_err(|e| StoreError::io(format!("blob {}", blob.digest), e))?;
        if path.is_file() {
            return Ok(path);
        }
        let sink = Arc::new(self.store_blobs.clone());
        self.access
            .block_on(self.access.client.fetch_blob(&self.reference, blob, sink))
            .map_err(|e| registry_error(&self.reference.to_string(), e))?;
        Ok(path)
    }
}

impl BlobSource for RegistryImage {
    fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, StoreError> {
        let blob = match self.known.borrow().get(digest) {
            Some(Known::Manifest(m)) => return Ok(Box::new(std::io::Cursor::new(m.bytes.clone()))),
            Some(Known::ChildManifest) => None,
            Some(Known::Blob(b)) => Some(b.clone()),
            None => return Err(StoreError::BlobNotFound(digest.to_string())),
        };
        match blob {
            None => {
                let manifest = self
                    .access
                    .block_on(
                        self.access
                            .client
                            .get_manifest_ref(&self.reference, digest.as_ref()),
                    )
                    .map_err(|e| registry_error(&self.reference.to_string(), e))?;
                let bytes = manifest.bytes.clone();
                self.learn(manifest)?;
                Ok(Box::new(std::io::Cursor::new(bytes)))
            }
            Some(blob) => {
                let path = self.fetch(&blob)?;
                let file = std::fs::File::open(&path)
                    .map_err(|e| StoreError::io(format!("opening {}", path.display()), e))?;
                Ok(Box::new(file))
            }
        }
    }

    fn has_blob(&self, digest: &Digest) -> Result<bool, StoreError> {
        Ok(self.known.borrow().contains_key(digest))
    }
}

impl ImageSource for RegistryImage {
    fn resolve(&self, _name: Option<&str>) -> Result<Descriptor, StoreError> {
        Ok(self.root.clone())
    }
}
