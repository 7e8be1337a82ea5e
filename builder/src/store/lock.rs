//! The cross-process store lock: an advisory file lock on `<root>/lock` (std's `File::lock`:
//! `flock(2)` on Unix, `LockFileEx` on Windows). Every process using the store holds it shared;
//! `prune` (which deletes what no ref names) holds it exclusively, so it never sweeps a blob that
//! a running build has written but not yet named.

use std::fs::{File, OpenOptions, TryLockError};
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

/// A held lock; released when dropped (closing the file releases it).
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
        let failed = |e| StoreError::io(format!("locking {}", path.display()), e);
        // Try without blocking first so a waiting user is told why nothing happens.
        let tried = match mode {
            LockMode::Shared => file.try_lock_shared(),
            LockMode::Exclusive => file.try_lock(),
        };
        match tried {
            Ok(()) => {}
            Err(TryLockError::Error(e)) => return Err(failed(e)),
            Err(TryLockError::WouldBlock) => {
                tracing::warn!(
                    "waiting for the store lock {} (another silo process is using the store)",
                    path.display()
                );
                match mode {
                    LockMode::Shared => file.lock_shared(),
                    LockMode::Exclusive => file.lock(),
                }
                .map_err(failed)?;
            }
        }
        Ok(StoreLock { _file: file })
    }
}
