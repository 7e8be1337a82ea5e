//! A directory of blobs laid out as `<root>/<algorithm>/<hex>` — exactly an OCI layout's `blobs/`
//! and silo's store. Partial downloads live beside as `<hex>.partial` (+ `<hex>.partial.state` for
//! the range map), or in a separate staging directory (the store keeps `blobs/` clean), and
//! become visible by rename after verification. Implements both [`BlobSink`] and [`BlobSource`].

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::StreamExt;
use oci_spec::image::Digest;
use tokio::io::AsyncSeekExt;

use crate::error::{Error, Result};
use crate::manifest::BlobRef;
use crate::reference::validate_digest;
use crate::transfer::{BlobSink, BlobSource, BlobStream, PartialBlob};

/// Blobs under one directory.
#[derive(Debug, Clone)]
pub struct BlobDir {
    root: PathBuf,
    /// Where partial downloads live; `None`: beside the blobs.
    staging: Option<PathBuf>,
}

impl BlobDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        BlobDir {
            root: root.into(),
            staging: None,
        }
    }

    /// Blobs under `root`, partial downloads under `staging` (same filesystem: commit renames).
    pub fn with_staging(root: impl Into<PathBuf>, staging: impl Into<PathBuf>) -> Self {
        BlobDir {
            root: root.into(),
            staging: Some(staging.into()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of a (verified) blob: `ALGORITHM/ENCODED`. Only the algorithms silo verifies
    /// (sha256, sha512) are accepted; a parsed digest's parts hold no path separators.
    pub fn path(&self, digest: &Digest) -> io::Result<PathBuf> {
        validate_digest(digest.as_ref())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(self
            .root
            .join(digest.algorithm().as_ref())
            .join(digest.digest()))
    }

    /// Read a small blob fully (manifests, configs), refusing anything over `limit` bytes.
    pub fn read_small(&self, digest: &Digest, limit: u64) -> io::Result<Vec<u8>> {
        let p = self.path(digest)?;
        let len = std::fs::metadata(&p)?.len();
        if len > limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is {len} bytes, over the {limit}-byte limit",
                    p.display()
                ),
            ));
        }
        std::fs::read(p)
    }
}

struct DirPartial {
    file: File,
    /// Bytes written since writeback was last started (see [`start_writeback`]).
    unflushed: std::sync::atomic::AtomicU64,
    partial: PathBuf,
    state: PathBuf,
    target: PathBuf,
}

impl BlobSink for BlobDir {
    fn contains(&self, digest: &Digest) -> io::Result<bool> {
        Ok(self.path(digest)?.is_file())
    }

    fn begin(&self, blob: &BlobRef) -> io::Result<Box<dyn PartialBlob>> {
        let target = self.path(&blob.digest)?;
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let name = target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("blob");
        let (partial, state) = match &self.staging {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                let alg = blob.digest.algorithm().as_ref();
                (
                    dir.join(format!("{alg}-{name}.partial")),
                    dir.join(format!("{alg}-{name}.partial.state")),
                )
            }
            None => (
                target.with_file_name(format!("{name}.partial")),
                target.with_file_name(format!("{name}.partial.state")),
            ),
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&partial)?;
        Ok(Box::new(DirPartial {
            file,
            unflushed: Default::default(),
            partial,
            state,
            target,
        }))
    }
}

impl PartialBlob for DirPartial {
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        use std::sync::atomic::Ordering;
        write_all_at(&self.file, offset, data)?;
        let pending = self
            .unflushed
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        if pending + data.len() as u64 >= WRITEBACK_EVERY {
            self.unflushed.store(0, Ordering::Relaxed);
            start_writeback(&self.file);
        }
        Ok(())
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        read_at(&self.file, offset, buf)
    }
    fn state(&self) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(&self.state) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn save_state(&self, state: Option<&[u8]>) -> io::Result<()> {
        match state {
            Some(s) => {
                let tmp = self.state.with_extension("state.tmp");
                std::fs::write(&tmp, s)?;
                std::fs::rename(tmp, &self.state)
            }
            None => match std::fs::remove_file(&self.state) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        }
    }
    fn commit(self: Box<Self>) -> io::Result<()> {
        self.file.sync_all()?;
        std::fs::rename(&self.partial, &self.target)?;
        let _ = std::fs::remove_file(&self.state);
        Ok(())
    }
    fn discard(self: Box<Self>) -> io::Result<()> {
        let _ = std::fs::remove_file(&self.state);
        std::fs::remove_file(&self.partial)
    }
}

/// How many written bytes make us start their writeback.
const WRITEBACK_EVERY: u64 = 8 << 20;

/// Starts writing the file's dirty pages to disk without waiting for them. Commit must `fsync`
/// every blob before it becomes visible (as skopeo does); without this the kernel would hold a
/// whole layer dirty and that final `fsync` would write it all at once, serially, after the
/// download — about a third of a 1 GiB pull's time here. Started early, the disk works while the
/// network does. Best effort: failure only loses the overlap, `sync_all` still reports errors.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // sync_file_range has no safe wrapper in std.
fn start_writeback(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: plain syscall on a file descriptor we own; offset 0, length 0 = the whole file.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}
#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File) {}

#[cfg(unix)]
fn write_all_at(f: &File, offset: u64, data: &[u8]) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, data, offset)
}
#[cfg(unix)]
fn read_at(f: &File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(f, buf, offset)
}
#[cfg(windows)]
fn write_all_at(f: &File, mut offset: u64, mut data: &[u8]) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !data.is_empty() {
        let n = f.seek_write(data, offset)?;
        data = &data[n..];
        offset += n as u64;
    }
    Ok(())
}
#[cfg(windows)]
fn read_at(f: &File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(f, buf, offset)
}

impl BlobSource for BlobDir {
    fn open(&self, blob: &BlobRef, offset: u64) -> BoxFuture<'_, Result<BlobStream>> {
        let path = self.path(&blob.digest);
        let digest = blob.digest.clone();
        Box::pin(async move {
            let path = path.map_err(|e| Error::io(format!("blob {digest}"), e))?;
            let mut file = tokio::fs::File::open(&path).await.map_err(|e| {
                Error::io(format!("opening blob {digest} at {}", path.display()), e)
            })?;
            file.seek(io::SeekFrom::Start(offset))
                .await
                .map_err(|e| Error::io(format!("seeking in {}", path.display()), e))?;
            Ok(file_stream(file))
        })
    }
}

/// Stream a tokio file from its current position in 1 MiB chunks.
pub fn file_stream(file: tokio::fs::File) -> BlobStream {
    file_stream_limited(file, u64::MAX)
}

/// Stream at most `limit` bytes of a tokio file from its current position (a member of a tar).
pub fn file_stream_limited(file: tokio::fs::File, limit: u64) -> BlobStream {
    futures::stream::unfold((file, limit), |(mut f, left)| async move {
        use tokio::io::AsyncReadExt;
        if left == 0 {
            return None;
        }
        let mut buf = vec![0u8; (1usize << 20).min(usize::try_from(left).unwrap_or(usize::MAX))];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), (f, left - n as u64)))
            }
            Err(e) => Some((Err(e), (f, 0))),
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_then_commit_and_path_safety() {
        let t = tempfile::tempdir().unwrap();
        let dir = BlobDir::new(t.path());
        let d: Digest = crate::manifest::sha256_digest(b"hello").parse().unwrap();
        let blob = BlobRef {
            digest: d.clone(),
            size: 5,
            media_type: "x".into(),
            urls: vec![],
        };
        let p = dir.begin(&blob).unwrap();
        p.write_at(2, b"llo").unwrap();
        p.write_at(0, b"he").unwrap();
        p.save_state(Some(b"{}")).unwrap();
        assert!(!dir.contains(&d).unwrap());
        // Reopening resumes the same partial.
        drop(p);
        let p = dir.begin(&blob).unwrap();
        assert_eq!(p.len().unwrap(), 5);
        assert_eq!(p.state().unwrap().as_deref(), Some(&b"{}"[..]));
        p.commit().unwrap();
        assert!(dir.contains(&d).unwrap());
        assert_eq!(dir.read_small(&d, 10).unwrap(), b"hello");
        assert!(dir.read_small(&d, 4).is_err());
        // A path-like digest does not parse; one of an algorithm silo does not verify has no path.
        assert!("sha256:../../etc/passwd".parse::<Digest>().is_err());
        assert!(dir.path(&"md5:0123abcd".parse().unwrap()).is_err());
        // With staging, nothing but verified blobs appears under the root.
        let staged = BlobDir::with_staging(t.path().join("b"), t.path().join("tmp"));
        let p = staged.begin(&blob).unwrap();
        p.write_at(0, b"hello").unwrap();
        assert_eq!(
            std::fs::read_dir(t.path().join("b/sha256"))
                .unwrap()
                .count(),
            0
        );
        p.commit().unwrap();
        assert!(staged.contains(&d).unwrap());
        assert_eq!(std::fs::read_dir(t.path().join("tmp")).unwrap().count(), 0);
    }
}
