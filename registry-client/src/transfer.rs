//! The seams between the protocol engines and storage: a [`BlobSink`] receives pulled blobs (with
//! positional writes so ranged parts and resumes land in place, and an opaque state for the engine's
//! range map), a [`BlobSource`] streams blobs to push, and [`Progress`] observes transfers. Blobs
//! are named by `oci_spec::image::Digest` throughout, the type the builder's descriptors carry.
//! [`crate::blobdir::BlobDir`] implements both over a directory: the builder pulls into the
//! store's and an OCI layout's `blobs/` through it. The builder's image formats (the store, an
//! OCI layout, a docker-archive) have a synchronous pair of their own — a docker-archive is one
//! sequential tar and cannot take the positional writes a ranged pull makes — and reach these
//! seams through one adapter, the builder's `store::blobio::PushBlobs`, whose module says more.

use std::io;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use oci_spec::image::Digest;

use crate::manifest::BlobRef;

/// Where pulled blobs go.
pub trait BlobSink: Send + Sync {
    /// Whether a verified blob with this digest is already present (then it is not fetched).
    fn contains(&self, digest: &Digest) -> io::Result<bool>;
    /// Open the partial (not yet visible) copy of a blob, creating or resuming it.
    fn begin(&self, blob: &BlobRef) -> io::Result<Box<dyn PartialBlob>>;
    /// Store small, already verified bytes (manifests) in one go.
    fn put_verified(&self, blob: &BlobRef, bytes: &[u8]) -> io::Result<()> {
        let part = self.begin(blob)?;
        part.truncate(0)?;
        part.write_at(0, bytes)?;
        part.commit()
    }
}

/// A blob being written. Nothing is visible under the digest until [`PartialBlob::commit`], which
/// the engines call only after verifying the digest.
pub trait PartialBlob: Send + Sync {
    /// Bytes currently in the partial file (its length; with a range map, may contain holes).
    fn len(&self) -> io::Result<u64>;
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    fn set_len(&self, len: u64) -> io::Result<()>;
    fn truncate(&self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()>;
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// The engine's saved state (ranged download map), if any.
    fn state(&self) -> io::Result<Option<Vec<u8>>>;
    fn save_state(&self, state: Option<&[u8]>) -> io::Result<()>;
    /// Make the verified blob visible (atomically) and drop the state.
    fn commit(self: Box<Self>) -> io::Result<()>;
    /// Delete the partial copy (its content was wrong).
    fn discard(self: Box<Self>) -> io::Result<()>;
}

/// A stream of blob bytes.
pub type BlobStream = BoxStream<'static, io::Result<Bytes>>;

/// Where pushed blobs come from.
pub trait BlobSource: Send + Sync {
    /// Stream the blob from byte `offset` to its end.
    fn open(&self, blob: &BlobRef, offset: u64) -> BoxFuture<'_, crate::Result<BlobStream>>;
}

/// What happened to a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOutcome {
    Downloaded,
    /// Already present at the destination.
    Present,
    /// Cross-repository mount on the destination registry.
    Mounted,
    Uploaded,
    /// Foreign layer left out (its manifest keeps the urls).
    SkippedForeign,
}

/// Observer of transfers (the CLI draws progress bars from it). All methods default to nothing.
pub trait Progress: Send + Sync {
    fn blob_started(&self, _digest: &Digest, _size: u64, _already: u64) {}
    fn blob_bytes(&self, _digest: &Digest, _bytes: u64) {}
    /// Bytes thrown away (a resume that had to restart); for honest rates and tests.
    fn blob_rewind(&self, _digest: &Digest, _to: u64) {}
    fn blob_finished(&self, _digest: &Digest, _outcome: BlobOutcome) {}
    /// A notable event: a retry, a resume, a skipped foreign layer.
    fn note(&self, _message: &str) {}
}

/// Progress that shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;
impl Progress for NoProgress {}
