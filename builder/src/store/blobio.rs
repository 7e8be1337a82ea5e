//! The two small traits every place that holds blobs implements — the content store, an OCI image
//! layout, a docker-archive — so the registry client, `copy` and the build engine can stream
//! content into and out of any of them without knowing which one it is; and the one adapter from
//! them to the registry client's transfer seams ([`PushBlobs`]).
//!
//! Why these are not the registry client's [`registry_client::transfer`] traits: those serve the
//! async protocol engines — a pull writes one blob as many concurrent ranges at their offsets
//! (`PartialBlob::write_at` from several tasks, a saved range map to resume), a push streams from
//! an offset, possibly straight from another registry. These serve the image formats, which are
//! sequential: a docker-archive is one tar written member after member (`&mut self`, a whole
//! blob per call) and read as a tar member, and the build engine and the inspection verbs are
//! synchronous code. A docker-archive cannot take positional writes, and a tar reader must not
//! block the engines' async workers; so the registry client keeps its pair (implemented for blob
//! directories by `registry_client::blobdir::BlobDir`, which the store and an OCI layout pull
//! through) and this pair reaches it through one adapter, [`PushBlobs`] (files streamed as the
//! client streams its own, anything else read on a blocking thread). Both name blobs by
//! `oci_spec::image::Digest`; there are no conversions between digest types.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oci_spec::image::{Descriptor, Digest};

use super::StoreError;

/// Largest manifest, index or config silo reads into memory (they are small JSON documents; the
/// limit keeps a hostile size field from driving the allocation).
pub const METADATA_LIMIT: u64 = 16 * 1024 * 1024;

/// Somewhere blobs can be read from by digest.
pub trait BlobSource {
    /// Opens a blob for streaming. Callers that need integrity wrap it in a
    /// [`crate::oci::digest::HashingReader`] or use [`BlobSource::read_blob`].
    fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, StoreError>;

    /// Whether the blob is present.
    fn has_blob(&self, digest: &Digest) -> Result<bool, StoreError>;

    /// The file holding the blob, for sources that keep blobs as files (the store, an OCI
    /// layout): a copy can then hard-link it. `None` otherwise, or when it is absent.
    fn blob_file(&self, _digest: &Digest) -> Result<Option<PathBuf>, StoreError> {
        Ok(None)
    }

    /// Reads a small blob (manifest, config, index) into memory, bounded by [`METADATA_LIMIT`],
    /// and checks that its bytes match the digest.
    fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let mut reader = self.open_blob(digest)?;
        let bytes = super::read_bounded(&mut reader, METADATA_LIMIT, digest.as_ref())?;
        let actual = crate::oci::digest_of_bytes(&bytes);
        if &actual != digest {
            return Err(StoreError::DigestMismatch {
                what: "blob".into(),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }
}

/// Somewhere blobs can be written to. Every implementation verifies the digest (and size) of what
/// it is given and refuses to keep content that does not match.
pub trait BlobSink {
    /// Whether the blob is already present (lets callers skip the transfer).
    fn has_blob(&self, digest: &Digest) -> Result<bool, StoreError>;

    /// Streams one blob in. `size` is the descriptor's size; the data must hash to `digest`.
    fn put_blob(
        &mut self,
        digest: &Digest,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<(), StoreError>;

    /// [`BlobSink::put_blob`] from a file. Sinks that keep blobs as files hard-link it when they
    /// can ([`link_verified`]); the others read it.
    fn put_blob_file(&mut self, digest: &Digest, size: u64, path: &Path) -> Result<(), StoreError> {
        let mut file =
            std::fs::File::open(path).map_err(|e| StoreError::io(path.display().to_string(), e))?;
        self.put_blob(digest, size, &mut file)
    }
}

/// `path` when a file is there (what [`BlobSource::blob_file`] returns for blob directories).
pub fn existing_file(path: PathBuf) -> Option<PathBuf> {
    path.is_file().then_some(path)
}

/// Puts the file `from` at `to` as the blob `digest`: hashes it first (a corrupt source is never
/// linked), then hard-links it through a temporary name so `to` appears whole, or copies it when
/// linking is not possible (another filesystem).
pub fn link_verified(from: &Path, to: &Path, digest: &Digest, size: u64) -> Result<(), StoreError> {
    let file =
        std::fs::File::open(from).map_err(|e| StoreError::io(from.display().to_string(), e))?;
    let mut reader = crate::oci::digest::HashingReader::new(std::io::BufReader::new(file));
    std::io::copy(&mut reader, &mut std::io::sink())
        .map_err(|e| StoreError::io(from.display().to_string(), e))?;
    let (actual, read) = reader.finish();
    super::check_received(&from.display().to_string(), digest, &actual, size, read)?;
    let dir = to.parent().unwrap_or(Path::new("."));
    let temp = tempfile::Builder::new()
        .prefix(".link-")
        .tempfile_in(dir)
        .map_err(|e| StoreError::io(dir.display().to_string(), e))?
        .into_temp_path();
    let staged = temp.to_path_buf();
    std::fs::remove_file(&staged).map_err(|e| StoreError::io(staged.display().to_string(), e))?;
    if std::fs::hard_link(from, &staged).is_err() {
        std::fs::copy(from, &staged)
            .map_err(|e| StoreError::io(staged.display().to_string(), e))?;
    }
    std::fs::rename(&staged, to).map_err(|e| StoreError::io(to.display().to_string(), e))?;
    let _ = temp.keep(); // renamed away: nothing left to delete
    Ok(())
}

/// Somewhere whole images can be read from: blobs plus named manifests.
pub trait ImageSource: BlobSource {
    /// The descriptor of the manifest or index a name points to (`None` picks the only one, or
    /// fails when there are several).
    fn resolve(&self, name: Option<&str>) -> Result<Descriptor, StoreError>;
}

/// Somewhere whole images can be written to: blobs first, then manifests naming them.
pub trait ImageSink: BlobSink {
    /// Records a manifest or index (its bytes must hash to `descriptor`'s digest) under `name`.
    fn put_manifest(
        &mut self,
        descriptor: &Descriptor,
        bytes: &[u8],
        name: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Makes everything written visible (rewrites index.json, closes an archive). Nothing written
    /// before `finish` is guaranteed to be visible if the process stops.
    fn finish(&mut self) -> Result<(), StoreError>;
}

/// A local image's blobs as the registry client's push source. A blob kept as a file (the store,
/// an OCI layout) is streamed from the file the way the client streams its own; any other (a
/// docker-archive member) is read on a blocking thread and streamed in 256 KiB chunks (the
/// sources are synchronous, the client is not).
pub struct PushBlobs(pub Arc<dyn ImageSource + Send + Sync>);

impl registry_client::BlobSource for PushBlobs {
    fn open(
        &self,
        blob: &registry_client::BlobRef,
        offset: u64,
    ) -> futures::future::BoxFuture<
        '_,
        registry_client::Result<registry_client::transfer::BlobStream>,
    > {
        let source = self.0.clone();
        let parsed = blob.digest.clone();
        Box::pin(async move {
            let file = source
                .blob_file(&parsed)
                .map_err(|e| registry_client::Error::Other(e.to_string()))?;
            if let Some(path) = file {
                use tokio::io::AsyncSeekExt;
                let io = |e| registry_client::Error::io(format!("reading {}", path.display()), e);
                let mut f = tokio::fs::File::open(&path).await.map_err(io)?;
                f.seek(std::io::SeekFrom::Start(offset)).await.map_err(io)?;
                return Ok(registry_client::blobdir::file_stream(f));
            }
            let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(2);
            tokio::task::spawn_blocking(move || {
                let send = |item| tx.blocking_send(item).is_ok();
                let mut reader = match source.open_blob(&parsed) {
                    Ok(r) => r,
                    Err(e) => {
                        send(Err(std::io::Error::other(e.to_string())));
                        return;
                    }
                };
                if let Err(e) = std::io::copy(&mut (&mut reader).take(offset), &mut std::io::sink())
                {
                    send(Err(e));
                    return;
                }
                let mut buf = vec![0u8; 256 << 10];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => {
                            if !send(Ok(bytes::Bytes::copy_from_slice(&buf[..n]))) {
                                return; // the push stopped reading
                            }
                        }
                        Err(e) => {
                            send(Err(e));
                            return;
                        }
                    }
                }
            });
            let stream = futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            });
            Ok(Box::pin(stream) as registry_client::transfer::BlobStream)
        })
    }
}
