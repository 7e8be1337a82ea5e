//! Where a local build cache lives: `--cache-to type=local,dest=DIR` and
//! `--cache-from type=local,src=DIR`, the cache a CI job keeps in a folder between runs.
//!
//! DIR is an OCI image layout, as buildx's local cache exporter writes one: `oci-layout`,
//! `index.json` and `blobs/sha256/…`. The cache manifest (the record format of
//! [`super::cache_format`], the same as in a registry) is an index.json entry named by its
//! `org.opencontainers.image.ref.name` annotation (`tag=`, default `latest`); an export replaces
//! the entry of its tag and keeps the others. Blobs already in DIR are not written again, new
//! ones appear whole (written beside, then renamed or hard-linked from the store, verified), and
//! index.json is replaced by a rename last, so a crash leaves the previous cache readable;
//! concurrent exports to one DIR take turns (a lock on `index.json.lock`).
//! The layout code is the store's [`OciLayout`]; this module only decides what goes in and what
//! an import finds.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use oci_spec::image::Descriptor;
use registry_client::RawManifest;

use super::cache_spec::LocalEntry;
use super::remote_cache::RemoteCacheError;
use crate::build::sources::base::BlobHome;
use crate::store::oci_layout::OciLayout;
use crate::store::{BlobSink, BlobSource, ImageSink, ImageSource, Store, StoreError};

/// What `--cache-from type=local` found.
pub enum Found {
    /// No cache there (a missing or empty DIR, an absent tag): why, for the warning.
    Nothing(String),
    /// The layout and its cache manifest.
    Cache {
        layout: Rc<OciLayout>,
        manifest: RawManifest,
    },
}

fn local_err(dir: &Path, source: StoreError) -> RemoteCacheError {
    RemoteCacheError::Local {
        dir: dir.to_path_buf(),
        source,
    }
}

/// Reads a blob the cache's index or manifest names (verified, bounded); a missing one means an
/// incomplete folder, said so (not "not in the store").
fn read_listed(
    layout: &OciLayout,
    digest: &oci_spec::image::Digest,
) -> Result<Vec<u8>, RemoteCacheError> {
    let dir = layout.dir();
    layout.read_blob(digest).map_err(|e| match e {
        StoreError::BlobNotFound(_) => local_err(
            dir,
            StoreError::invalid(
                format!("blob {digest}"),
                format!(
                    "is listed but {} is missing (an incomplete cache folder: export it again)",
                    dir.join("blobs/sha256").join(digest.digest()).display()
                ),
            ),
        ),
        e => local_err(dir, e),
    })
}

/// Opens the cache at `dir`. A missing directory, one without index.json or without the entry
/// is [`Found::Nothing`] (buildx goes on without the cache); a layout that is there but cannot
/// be read (a corrupt index.json, a missing or corrupt manifest blob) is an error.
pub fn open(dir: &Path, entry: &LocalEntry) -> Result<Found, RemoteCacheError> {
    if !dir.is_dir() {
        return Ok(Found::Nothing(format!(
            "{} does not exist (the first build makes it)",
            dir.display()
        )));
    }
    if !dir.join("index.json").exists() && !dir.join("oci-layout").exists() {
        return Ok(Found::Nothing(format!(
            "{} holds no cache (no index.json)",
            dir.display()
        )));
    }
    let layout = OciLayout::open(dir).map_err(|e| local_err(dir, e))?;
    let name = match entry {
        LocalEntry::Tag(tag) => tag.clone(),
        LocalEntry::Digest(digest) => format!("@{digest}"),
    };
    let descriptor = match layout.resolve(Some(&name)) {
        Ok(d) => d,
        Err(StoreError::RefNotFound(_)) => {
            return Ok(Found::Nothing(format!(
                "{} has no entry {} (its index.json lists {})",
                dir.display(),
                match entry {
                    LocalEntry::Tag(tag) => format!("tagged {tag:?}"),
                    LocalEntry::Digest(digest) => digest.clone(),
                },
                describe_entries(layout.entries())
            )))
        }
        Err(e) => return Err(local_err(dir, e)),
    };
    let bytes = read_listed(&layout, descriptor.digest())?;
    let manifest = RawManifest::from_bytes(
        &dir.display().to_string(),
        bytes,
        Some(descriptor.media_type().as_ref()),
    )
    .map_err(|source| RemoteCacheError::Registry {
        reference: dir.display().to_string(),
        source,
    })?;
    Ok(Found::Cache {
        layout: Rc::new(layout),
        manifest,
    })
}

fn describe_entries(entries: &[Descriptor]) -> String {
    if entries.is_empty() {
        return "no entries".into();
    }
    entries
        .iter()
        .map(|d| match crate::store::oci_layout::entry_ref_name(d) {
            Some(name) => format!("{name:?}"),
            None => d.digest().to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads a blob of an opened cache (verified, bounded): the cache config.
pub fn read_small(
    layout: &OciLayout,
    digest: &oci_spec::image::Digest,
) -> Result<Vec<u8>, RemoteCacheError> {
    read_listed(layout, digest)
}

/// Serialises the exports to one DIR: index.json is read, changed and replaced under an
/// exclusive advisory lock on `index.json.lock` (the file BuildKit's OCI index writer locks
/// too), so two builds exporting other tags at once keep both. Released when dropped.
fn lock_index(dir: &Path) -> Result<std::fs::File, RemoteCacheError> {
    let io = |what: &Path, e| local_err(dir, StoreError::io(what.display().to_string(), e));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let path = dir.join("index.json.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io(&path, e))?;
    file.lock().map_err(|e| io(&path, e))?;
    Ok(file)
}

/// One blob an export puts in DIR, and where its bytes are now.
pub struct ExportBlob<'a> {
    pub descriptor: Descriptor,
    pub home: &'a BlobHome,
}

/// What a local export did.
pub struct LocalExport {
    pub digest: String,
    /// Blobs written to DIR (the manifest and config included).
    pub written: usize,
    /// Blobs DIR had already.
    pub present: usize,
}

/// Writes the cache manifest `manifest_bytes` (with its `config_bytes` and `blobs`) into the
/// layout at `dir` under `tag`.
pub fn export(
    dir: &Path,
    tag: &str,
    blobs: &[ExportBlob<'_>],
    manifest_bytes: &[u8],
    config_bytes: &[u8],
    store: &Store,
) -> Result<LocalExport, RemoteCacheError> {
    // An index.json without oci-layout is not a layout silo wrote: rewriting it would drop
    // whatever it lists.
    if dir.join("index.json").exists() && !dir.join("oci-layout").exists() {
        return Err(local_err(
            dir,
            StoreError::invalid(
                dir.join("index.json").display().to_string(),
                "exists but the directory has no oci-layout file: not an OCI image layout \
                 (give a new or empty directory, or one silo wrote)",
            ),
        ));
    }
    let _lock = lock_index(dir)?;
    let mut layout = OciLayout::create(PathBuf::from(dir)).map_err(|e| local_err(dir, e))?;
    let mut report = LocalExport {
        digest: String::new(),
        written: 0,
        present: 0,
    };
    let err = |e| local_err(dir, e);
    for blob in blobs {
        let digest = blob.descriptor.digest();
        if BlobSink::has_blob(&layout, digest).map_err(err)? {
            report.present += 1;
            continue;
        }
        // A layer that lives elsewhere (a registry or another local cache) comes through the
        // store, verified, then is linked or copied from there.
        let path = blob
            .home
            .ensure_in_store(store, &blob.descriptor)
            .map_err(err)?;
        layout
            .put_blob_file(digest, blob.descriptor.size(), &path)
            .map_err(err)?;
        report.written += 1;
    }
    let config_digest = crate::oci::digest_of_bytes(config_bytes);
    let manifest_digest = crate::oci::digest_of_bytes(manifest_bytes);
    for digest in [&config_digest, &manifest_digest] {
        if BlobSink::has_blob(&layout, digest).map_err(err)? {
            report.present += 1;
        } else {
            report.written += 1;
        }
    }
    layout
        .put_blob(
            &config_digest,
            config_bytes.len() as u64,
            &mut &config_bytes[..],
        )
        .map_err(err)?;
    let descriptor = Descriptor::new(
        oci_spec::image::MediaType::ImageManifest,
        manifest_bytes.len() as u64,
        manifest_digest.clone(),
    );
    layout
        .put_manifest(&descriptor, manifest_bytes, Some(tag))
        .map_err(err)?;
    report.digest = manifest_digest.to_string();
    layout.finish().map_err(err)?;
    Ok(report)
}
