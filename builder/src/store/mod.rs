//! The content store: blobs by digest, refs, a cross-process lock, the unpacked-layer cache and
//! build-cache records; OCI image layout and docker-archive reading and writing.
//!
//! On disk (under the state directory, default `$XDG_DATA_HOME/silo`):
//! ```text
//! lock                    flock(2): shared while a process uses the store, exclusive for prune
//! blobs/sha256/<hex>      content, written temp → fsync → rename, verified on the way in
//! tmp/                    blobs being written (a killed writer leaves only files here)
//! refs/<escaped name>     one file per ref: the manifest or index digest
//! records/<sha256(key)>.json   build-cache records (key → blobs + free-form JSON)
//! layers/<diff_id hex>/   unpacked layers for the runtimes (complete when `.complete` exists)
//! ```

pub mod blobio;
pub mod dir_image;
pub mod docker_archive;
pub mod gc;
pub mod local_image;
pub mod location;
mod lock;
pub mod oci_layout;
pub mod registry_source;

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, Digest};
use serde::{Deserialize, Serialize};

use crate::layer::{write_layer, ChangeSet, LayerDigests, LayerError, WriteOptions};
use crate::oci::{canonical_json, digest_of_bytes, sha256_hex, BadDigest, Flavor};

pub use blobio::{BlobSink, BlobSource, ImageSink, ImageSource, METADATA_LIMIT};
pub use location::{ImageLocation, Located, OpenedImage, RegistryLocation};
pub use lock::LockMode;

/// Everything that can go wrong in the store and the on-disk layouts.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("bad digest {0}")]
    BadDigest(String),
    #[error("{what}: content hashes to {actual}, expected {expected} (corrupt or truncated data; fetch it again)")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what}: {actual} bytes, descriptor says {expected}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    #[error("blob {0} is not in the store (pull or build the image that uses it)")]
    BlobNotFound(String),
    #[error("no image named {0:?} (the store's names: `silo store refs`)")]
    RefNotFound(String),
    #[error("{what} is larger than {limit} bytes; refusing to read it into memory")]
    TooLarge { what: String, limit: u64 },
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
    /// A layer could not be written into the store ([`Store::write_layer`]).
    #[error(transparent)]
    Layer(#[from] Box<LayerError>),
}

impl From<BadDigest> for StoreError {
    fn from(e: BadDigest) -> Self {
        StoreError::BadDigest(e.0)
    }
}

impl StoreError {
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        StoreError::Io {
            what: what.into(),
            source,
        }
    }

    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An open content store. Holding one holds the store lock (shared or exclusive) until dropped.
pub struct Store {
    root: PathBuf,
    _lock: lock::StoreLock,
}

/// Whether two image names name the same image once normalised as registry references
/// (`app` = `app:latest` = `docker.io/library/app:latest`); names that are not references are
/// the same only when spelled the same. The store's refs and a docker-archive's RepoTags are
/// matched by this.
pub fn same_image_name(a: &str, b: &str) -> bool {
    use registry_client::Reference;
    a == b || matches!((Reference::parse(a), Reference::parse(b)), (Ok(x), Ok(y)) if x == y)
}

/// [`Store::pull_blobs`] of the store at `root`.
pub fn pull_blobs(root: &Path) -> registry_client::blobdir::BlobDir {
    registry_client::blobdir::BlobDir::with_staging(root.join("blobs"), root.join("tmp/pull"))
}

/// The default state directory: on Windows `%LOCALAPPDATA%\silo` (a per-user application data
/// folder, built from path components: no `/` in a Windows path); elsewhere
/// `$XDG_DATA_HOME/silo`, else `~/.local/share/silo`.
pub fn default_root() -> Result<PathBuf> {
    default_root_from(|name| std::env::var_os(name), cfg!(windows))
}

fn default_root_from(
    var: impl Fn(&str) -> Option<std::ffi::OsString>,
    windows: bool,
) -> Result<PathBuf> {
    let var = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if windows {
        return var("LOCALAPPDATA").map(|d| d.join("silo")).ok_or_else(|| {
            StoreError::invalid(
                "state directory",
                "LOCALAPPDATA is not set; pass --root or set SILO_ROOT",
            )
        });
    }
    if let Some(dir) = var("XDG_DATA_HOME") {
        return Ok(dir.join("silo"));
    }
    match var("HOME") {
        Some(home) => Ok(home.join(".local").join("share").join("silo")),
        None => Err(StoreError::invalid(
            "state directory",
            "neither XDG_DATA_HOME nor HOME is set; pass --root or set SILO_ROOT",
        )),
    }
}

impl Store {
    /// Opens (creating if needed) the store at `root`, taking the lock in `mode`. A shared lock is
    /// what every build, pull and inspection takes; `prune` takes it exclusively and so waits for
    /// them (and they for it).
    pub fn open(root: impl Into<PathBuf>, mode: LockMode) -> Result<Store> {
        let root = root.into();
        for dir in ["blobs/sha256", "tmp", "refs", "records", "layers"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(|e| StoreError::io(path.display().to_string(), e))?;
        }
        let lock = lock::StoreLock::acquire(&root.join("lock"), mode)?;
        Ok(Store { root, _lock: lock })
    }

    /// Opens the store at `--root`/`SILO_ROOT` or the default location.
    pub fn open_default(root: Option<&Path>, mode: LockMode) -> Result<Store> {
        match root {
            Some(root) => Store::open(root, mode),
            None => Store::open(default_root()?, mode),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The blob directory as the registry client writes it: pulls land in `blobs/sha256/`,
    /// partial downloads are staged in `tmp/pull/` (resumable, verified before visible).
    pub fn pull_blobs(&self) -> registry_client::blobdir::BlobDir {
        pull_blobs(&self.root)
    }

    /// Where a blob lives (whether or not it is present).
    pub fn blob_path(&self, digest: &Digest) -> Result<PathBuf> {
        Ok(self.root.join("blobs/sha256").join(sha256_hex(digest)?))
    }

    /// Whether a blob is present.
    pub fn has_blob(&self, digest: &Digest) -> Result<bool> {
        Ok(self.blob_path(digest)?.exists())
    }

    /// Writes `changes` as a layer blob straight into the store (temp file → verify → rename);
    /// its descriptor's media type follows `flavor` and the compression in `options`.
    pub fn write_layer(
        &self,
        changes: &ChangeSet,
        options: &WriteOptions,
        flavor: Flavor,
    ) -> Result<StoredLayer> {
        let blob = self.begin_blob()?;
        let (blob, digests) = write_layer(changes, options, blob).map_err(Box::new)?;
        let (digest, size) = blob.commit(None)?;
        debug_assert_eq!(digest, digests.digest);
        Ok(StoredLayer {
            descriptor: Descriptor::new(
                flavor.layer_media_type(options.compression.kind()),
                size,
                digest,
            ),
            digests,
        })
    }

    /// Starts writing a blob; bytes go to a temp file and become visible only on
    /// [`BlobWriter::commit`].
    pub fn begin_blob(&self) -> Result<BlobWriter> {
        let tmp_dir = self.root.join("tmp");
        let file = tempfile::Builder::new()
            .prefix("ingest-")
            .tempfile_in(&tmp_dir)
            .map_err(|e| StoreError::io(tmp_dir.display().to_string(), e))?;
        Ok(BlobWriter {
            file: crate::oci::digest::HashingWriter::new(io::BufWriter::with_capacity(
                256 * 1024,
                file,
            )),
            blobs_dir: self.root.join("blobs/sha256"),
        })
    }

    /// Stores bytes held in memory and returns their digest.
    pub fn put_blob_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = digest_of_bytes(bytes);
        if !self.has_blob(&digest)? {
            let mut writer = self.begin_blob()?;
            writer
                .write_all(bytes)
                .map_err(|e| StoreError::io("writing blob", e))?;
            writer.commit(Some((&digest, bytes.len() as u64)))?;
        }
        Ok(digest)
    }

    // ---- refs -------------------------------------------------------------------------------

    fn ref_path(&self, name: &str) -> Result<PathBuf> {
        if name.is_empty() {
            return Err(StoreError::invalid("ref", "an image name cannot be empty"));
        }
        Ok(self.root.join("refs").join(escape_ref(name)))
    }

    /// Points `name` at a manifest or index already in the store (atomically replacing any old
    /// target). The descriptor is kept so the media type survives.
    pub fn set_ref(&self, name: &str, target: &Descriptor) -> Result<()> {
        if !self.has_blob(target.digest())? {
            return Err(StoreError::BlobNotFound(target.digest().to_string()));
        }
        let path = self.ref_path(name)?;
        let record = RefRecord {
            name: name.to_string(),
            target: target.clone(),
        };
        write_file_atomically(&path, &canonical_json(&record))
    }

    /// The descriptor `name` points to.
    pub fn get_ref(&self, name: &str) -> Result<Descriptor> {
        let path = self.ref_path(name)?;
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::RefNotFound(name.to_string()))
            }
            Err(e) => return Err(StoreError::io(path.display().to_string(), e)),
        };
        let record: RefRecord = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::invalid(path.display().to_string(), e.to_string()))?;
        Ok(record.target)
    }

    /// The ref that `name` means, as the store spells it, and its target: the ref spelled exactly
    /// `name`, else the one naming the same image once both are normalised as registry references
    /// (`app` = `app:latest` = `docker.io/library/app:latest`), so what `silo pull app` stored
    /// (the full reference) and what `silo build -t app` stored (the name as typed) are both
    /// found by either spelling. `None` when the store has no such image.
    pub fn find_ref(&self, name: &str) -> Result<Option<(String, Descriptor)>> {
        match self.get_ref(name) {
            Ok(target) => return Ok(Some((name.to_string(), target))),
            Err(StoreError::RefNotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let same: Vec<(String, Descriptor)> = self
            .list_refs()?
            .into_iter()
            .filter(|(stored, _)| same_image_name(stored, name))
            .collect();
        match same.len() {
            0 => Ok(None),
            1 => Ok(same.into_iter().next()),
            _ => Err(StoreError::invalid(
                format!("image name {name:?}"),
                format!(
                    "the store holds several refs naming this image: {}; give one exactly",
                    same.iter()
                        .map(|r| r.0.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    /// Removes a ref (the blobs stay until `prune`). Returns whether it existed.
    pub fn remove_ref(&self, name: &str) -> Result<bool> {
        let path = self.ref_path(name)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io(path.display().to_string(), e)),
        }
    }

    /// Every ref, sorted by name.
    pub fn list_refs(&self) -> Result<Vec<(String, Descriptor)>> {
        let dir = self.root.join("refs");
        let mut refs = Vec::new();
        for entry in read_dir_sorted(&dir)? {
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue; // a temp file of a concurrent set_ref
            }
            let bytes = fs::read(entry.path())
                .map_err(|e| StoreError::io(entry.path().display().to_string(), e))?;
            let record: RefRecord = serde_json::from_slice(&bytes).map_err(|e| {
                StoreError::invalid(entry.path().display().to_string(), e.to_string())
            })?;
            refs.push((record.name, record.target));
        }
        refs.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(refs)
    }

    // ---- build-cache records ----------------------------------------------------------------

    fn record_path(&self, key: &str) -> PathBuf {
        let name = sha256_hex(&digest_of_bytes(key.as_bytes()))
            .expect("own digest")
            .to_string();
        self.root.join("records").join(format!("{name}.json"))
    }

    /// Stores a build-cache record: `blobs` are kept alive by `prune` as long as the record
    /// exists; `data` is whatever the build engine wants to remember.
    pub fn put_record(&self, key: &str, blobs: &[Digest], data: &serde_json::Value) -> Result<()> {
        let record = CacheRecord {
            key: key.to_string(),
            blobs: blobs.to_vec(),
            data: data.clone(),
        };
        write_file_atomically(&self.record_path(key), &canonical_json(&record))
    }

    /// The record stored under `key`, if any.
    pub fn get_record(&self, key: &str) -> Result<Option<CacheRecord>> {
        let path = self.record_path(key);
        match fs::read(&path) {
            Ok(bytes) => {
                let record: CacheRecord = serde_json::from_slice(&bytes)
                    .map_err(|e| StoreError::invalid(path.display().to_string(), e.to_string()))?;
                Ok((record.key == key).then_some(record))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(path.display().to_string(), e)),
        }
    }

    /// Removes a record. Returns whether it existed.
    pub fn remove_record(&self, key: &str) -> Result<bool> {
        let path = self.record_path(key);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io(path.display().to_string(), e)),
        }
    }

    /// Every record (unordered keys are sorted for stable output).
    pub fn list_records(&self) -> Result<Vec<CacheRecord>> {
        let mut records = Vec::new();
        for entry in read_dir_sorted(&self.root.join("records"))? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".json") || name.starts_with('.') {
                continue;
            }
            let bytes = fs::read(entry.path())
                .map_err(|e| StoreError::io(entry.path().display().to_string(), e))?;
            let record: CacheRecord = serde_json::from_slice(&bytes).map_err(|e| {
                StoreError::invalid(entry.path().display().to_string(), e.to_string())
            })?;
            records.push(record);
        }
        records.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(records)
    }

    // ---- unpacked-layer cache ---------------------------------------------------------------

    /// The directory holding an unpacked layer's files, if the unpack is complete.
    pub fn unpacked_layer(&self, diff_id: &Digest) -> Result<Option<PathBuf>> {
        let dir = self.root.join("layers").join(sha256_hex(diff_id)?);
        Ok(dir.join(".complete").exists().then(|| dir.join("content")))
    }

    /// Unpacks the layer blob `layer` (whose uncompressed digest is `diff_id`) into the cache if
    /// it is not there yet, and returns its directory. The unpack goes to a temp directory that is
    /// renamed into place, so concurrent processes and killed ones never expose half a layer.
    pub fn ensure_unpacked(
        &self,
        diff_id: &Digest,
        layer: &Digest,
        filter: crate::layer::UnpackFilter,
    ) -> Result<PathBuf> {
        if let Some(dir) = self.unpacked_layer(diff_id)? {
            return Ok(dir);
        }
        let layers = self.root.join("layers");
        let final_dir = layers.join(sha256_hex(diff_id)?);
        let staging = tempfile::Builder::new()
            .prefix(".unpack-")
            .tempdir_in(&layers)
            .map_err(|e| StoreError::io(layers.display().to_string(), e))?;
        let content = staging.path().join("content");
        let path = self.blob_path(layer)?;
        let blob = File::open(&path).map_err(|_| StoreError::BlobNotFound(layer.to_string()))?;
        let report = crate::layer::unpack_strict(blob, &content, filter)
            .map_err(|e| StoreError::invalid(format!("unpacking layer {layer}"), e.to_string()))?;
        if report.diff_id != *diff_id {
            return Err(StoreError::DigestMismatch {
                what: format!("layer {layer} (uncompressed)"),
                expected: diff_id.to_string(),
                actual: report.diff_id.to_string(),
            });
        }
        File::create(staging.path().join(".complete"))
            .map_err(|e| StoreError::io("marking unpacked layer complete", e))?;
        let staged = staging.keep();
        match fs::rename(&staged, &final_dir) {
            Ok(()) => Ok(final_dir.join("content")),
            // Another process finished the same layer first: keep theirs.
            Err(_) if final_dir.join(".complete").exists() => {
                let _ = fs::remove_dir_all(&staged);
                Ok(final_dir.join("content"))
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&staged);
                Err(StoreError::io(final_dir.display().to_string(), e))
            }
        }
    }
}

/// What a ref file holds.
#[derive(Debug, Serialize, Deserialize)]
struct RefRecord {
    name: String,
    target: Descriptor,
}

/// A build-cache record: the key, the blobs it keeps alive and the build engine's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheRecord {
    pub key: String,
    pub blobs: Vec<Digest>,
    pub data: serde_json::Value,
}

/// A layer written into the store by [`Store::write_layer`].
#[derive(Debug, Clone)]
pub struct StoredLayer {
    /// The manifest descriptor (media type per flavor and compression).
    pub descriptor: Descriptor,
    pub digests: LayerDigests,
}

/// An in-progress blob: write the bytes, then [`BlobWriter::commit`]. Dropping it without a
/// commit deletes the temp file.
pub struct BlobWriter {
    file: crate::oci::digest::HashingWriter<io::BufWriter<tempfile::NamedTempFile>>,
    blobs_dir: PathBuf,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.file.written()
    }

    /// Verifies (against `expected` digest and size, when given), fsyncs and renames the blob into
    /// place; returns its digest and size.
    pub fn commit(self, expected: Option<(&Digest, u64)>) -> Result<(Digest, u64)> {
        let (buffered, digest, size) = self.file.finish();
        let temp = buffered
            .into_inner()
            .map_err(|e| StoreError::io("writing blob", e.into_error()))?;
        if let Some((want, want_size)) = expected {
            check_received("ingested blob", want, &digest, want_size, size)?;
        }
        let target = self.blobs_dir.join(sha256_hex(&digest)?);
        if target.exists() {
            return Ok((digest, size)); // content-addressed: same name, same bytes
        }
        temp.as_file()
            .sync_all()
            .map_err(|e| StoreError::io("fsync of blob", e))?;
        temp.persist(&target)
            .map_err(|e| StoreError::io(target.display().to_string(), e.error))?;
        sync_dir(&self.blobs_dir)?;
        Ok((digest, size))
    }
}

impl BlobSource for Store {
    fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>> {
        let path = self.blob_path(digest)?;
        match File::open(&path) {
            Ok(file) => Ok(Box::new(file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::BlobNotFound(digest.to_string()))
            }
            Err(e) => Err(StoreError::io(path.display().to_string(), e)),
        }
    }

    fn has_blob(&self, digest: &Digest) -> Result<bool> {
        Store::has_blob(self, digest)
    }

    fn blob_file(&self, digest: &Digest) -> Result<Option<PathBuf>> {
        Ok(blobio::existing_file(self.blob_path(digest)?))
    }
}

impl BlobSink for Store {
    fn has_blob(&self, digest: &Digest) -> Result<bool> {
        Store::has_blob(self, digest)
    }

    fn put_blob(&mut self, digest: &Digest, size: u64, data: &mut dyn Read) -> Result<()> {
        if Store::has_blob(self, digest)? {
            return Ok(());
        }
        let mut writer = self.begin_blob()?;
        io::copy(data, &mut writer).map_err(|e| StoreError::io(format!("blob {digest}"), e))?;
        writer.commit(Some((digest, size)))?;
        Ok(())
    }

    fn put_blob_file(&mut self, digest: &Digest, size: u64, path: &Path) -> Result<()> {
        if Store::has_blob(self, digest)? {
            return Ok(());
        }
        blobio::link_verified(path, &self.blob_path(digest)?, digest, size)
    }
}

impl ImageSource for Store {
    fn resolve(&self, name: Option<&str>) -> Result<Descriptor> {
        match name {
            Some(name) => self.get_ref(name),
            None => Err(StoreError::invalid(
                "store",
                "name the image to read from the store",
            )),
        }
    }
}

impl ImageSink for Store {
    fn put_manifest(
        &mut self,
        descriptor: &Descriptor,
        bytes: &[u8],
        name: Option<&str>,
    ) -> Result<()> {
        self.put_blob(descriptor.digest(), descriptor.size(), &mut &bytes[..])?;
        if let Some(name) = name {
            self.set_ref(name, descriptor)?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Ref names contain `/`, `:` and `@`; file names keep `[A-Za-z0-9._-]` and escape the rest as
/// `%XX`, so every name maps to exactly one file and back.
fn escape_ref(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'_' | b'-')
            || (byte == b'.' && !out.is_empty())
        {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Reads `reader` to the end into memory, refusing more than `limit` bytes (manifests, configs and
/// index files come from untrusted places; their size must not drive an unbounded allocation).
pub fn read_bounded(reader: &mut dyn Read, limit: u64, what: &str) -> Result<Vec<u8>, StoreError> {
    let mut bytes = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| StoreError::io(what, e))?;
    if bytes.len() as u64 > limit {
        return Err(StoreError::TooLarge {
            what: what.to_string(),
            limit,
        });
    }
    Ok(bytes)
}

/// Writes a small file by temp → fsync → rename in the same directory.
pub(crate) fn write_file_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().expect("a file inside a directory");
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| StoreError::io(dir.display().to_string(), e))?;
    temp.write_all(bytes)
        .and_then(|_| temp.as_file().sync_all())
        .map_err(|e| StoreError::io(path.display().to_string(), e))?;
    temp.persist(path)
        .map_err(|e| StoreError::io(path.display().to_string(), e.error))?;
    sync_dir(dir)
}

/// Makes a rename into `dir` durable. On Windows there is nothing to do (and nothing that
/// can be done this way): a directory cannot be opened as a file there (`Access denied`, found
/// running silo.exe under Wine), and NTFS journals the rename itself.
fn sync_dir(dir: &Path) -> Result<()> {
    if cfg!(windows) {
        return Ok(());
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(format!("fsync of {}", dir.display()), e))
}

pub(crate) fn read_dir_sorted(dir: &Path) -> Result<Vec<fs::DirEntry>> {
    let mut entries = fs::read_dir(dir)
        .and_then(|it| it.collect::<io::Result<Vec<_>>>())
        .map_err(|e| StoreError::io(dir.display().to_string(), e))?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

/// Checks that the bytes received are the ones announced: digest first (the stronger claim),
/// then size. `what` says where the bytes were going, for the error.
pub(crate) fn check_received(
    what: &str,
    expected: &Digest,
    actual: &Digest,
    expected_size: u64,
    actual_size: u64,
) -> Result<()> {
    if expected != actual {
        return Err(StoreError::DigestMismatch {
            what: what.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }
    if expected_size != actual_size {
        return Err(StoreError::SizeMismatch {
            what: format!("blob {actual}"),
            expected: expected_size,
            actual: actual_size,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::MediaType;

    /// issue #19: on Windows the default root came from `HOME` joined with `/`. It is
    /// `%LOCALAPPDATA%\silo` there, and the XDG rules elsewhere.
    #[test]
    fn default_root_is_localappdata_on_windows_and_xdg_elsewhere() {
        fn env<'a>(
            vars: &'a [(&'a str, &'a str)],
        ) -> impl Fn(&str) -> Option<std::ffi::OsString> + 'a {
            move |name| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        }
        let windows = [
            ("HOME", "/home/u"),
            ("LOCALAPPDATA", "C:/Users/u/AppData/Local"),
        ];
        let root = default_root_from(env(&windows), true).unwrap();
        assert_eq!(root, Path::new("C:/Users/u/AppData/Local").join("silo"));
        assert!(default_root_from(env(&[("HOME", "/home/u")]), true).is_err());
        let linux = default_root_from(env(&[("HOME", "/home/u")]), false).unwrap();
        assert_eq!(linux, Path::new("/home/u/.local/share/silo"));
        let xdg = [("HOME", "/home/u"), ("XDG_DATA_HOME", "/data")];
        assert_eq!(
            default_root_from(env(&xdg), false).unwrap(),
            Path::new("/data/silo")
        );
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), LockMode::Shared).unwrap();
        (dir, store)
    }

    #[test]
    fn blob_roundtrip_and_verification() {
        let (_dir, mut store) = store();
        let digest = store.put_blob_bytes(b"hello").unwrap();
        assert_eq!(store.read_blob(&digest).unwrap(), b"hello");
        let wrong = digest_of_bytes(b"other");
        let err = store.put_blob(&wrong, 5, &mut &b"hello"[..]).unwrap_err();
        assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
        assert!(!BlobSource::has_blob(&store, &wrong).unwrap());
        let err = store.put_blob(&digest_of_bytes(b"hey"), 5, &mut &b"hey"[..]);
        assert!(matches!(err, Err(StoreError::SizeMismatch { .. })));
        // Nothing left behind in tmp/ by the refused ingests.
        assert_eq!(fs::read_dir(store.root().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn refs_roundtrip_with_odd_names() {
        let (_dir, store) = store();
        let digest = store.put_blob_bytes(b"{}").unwrap();
        let desc = Descriptor::new(MediaType::ImageManifest, 2, digest);
        for name in ["example.com:5000/a/b:tag", "a@sha256:00", "..", "x%y"] {
            store.set_ref(name, &desc).unwrap();
            assert_eq!(store.get_ref(name).unwrap(), desc);
        }
        let names: Vec<_> = store
            .list_refs()
            .unwrap()
            .into_iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(
            names,
            ["..", "a@sha256:00", "example.com:5000/a/b:tag", "x%y"]
        );
        assert!(store.remove_ref("..").unwrap());
        assert!(matches!(
            store.get_ref(".."),
            Err(StoreError::RefNotFound(_))
        ));
    }

    #[test]
    fn records_roundtrip() {
        let (_dir, store) = store();
        let blob = store.put_blob_bytes(b"layer").unwrap();
        let data = serde_json::json!({"diff_id": "x"});
        store
            .put_record("step 1", std::slice::from_ref(&blob), &data)
            .unwrap();
        let record = store.get_record("step 1").unwrap().unwrap();
        assert_eq!(record.blobs, vec![blob]);
        assert_eq!(record.data, data);
        assert!(store.get_record("step 2").unwrap().is_none());
        assert_eq!(store.list_records().unwrap().len(), 1);
    }
}
