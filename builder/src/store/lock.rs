//! The cross-process store lock: `flock(2)` on `<root>/lock`. Every process using the store holds
//! it shared; `prune` (which deletes what no ref names) holds it exclusively, so it never sweeps
//! a blob that a running build has written but not yet named.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;

use super::StoreError;

/// How to take the store lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Many processes at once: builds, pulls, inspection, verify without removal.
    Shared,
    /// One process alone: prune, verify --remove.
    Exclusive,
}

/// A held lock; released when dropped (closing the descriptor releases the flock).
pub(super) struct StoreLock {
    _file: File,
}

impl StoreLock {
    pub(super) fn acquire(path: &Path, mode: LockMode) -> Result<StoreLock, StoreError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io(path.display().to_string(), e))?;
        let operation = match mode {
            LockMode::Shared => libc::LOCK_SH,
            LockMode::Exclusive => libc::LOCK_EX,
        };
        // Try without blocking first so a waiting user is told why nothing happens.
        if !try_flock(&file, operation | libc::LOCK_NB, path)? {
            tracing::warn!(
                "waiting for the store lock {} (another silo process is using the store)",
                path.display()
            );
            loop {
                if try_flock(&file, operation, path)? {
                    break;
                }
            }
        }
        Ok(StoreLock { _file: file })
    }
}

/// One flock call; `Ok(false)` when it would block or was interrupted.
fn try_flock(file: &File, operation: i32, path: &Path) -> Result<bool, StoreError> {
    // SAFETY: flock on a descriptor this function borrows; no memory is shared with the kernel.
    let rc = unsafe { libc::flock(file.as_raw_fd(), operation) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EWOULDBLOCK) | Some(libc::EINTR) => Ok(false),
        _ => Err(StoreError::io(format!("locking {}", path.display()), err)),
    }
}
