//! A runtime's session folder, `<state>/hcs/sessions/<pid>-<nanos>/`: where one build keeps its
//! scratch layers, utility-VM scratch and exports, held under an exclusive file lock for as
//! long as the runtime lives. A killed build leaves its folder behind with the lock released
//! (the OS drops locks with the process), so the next runtime can tell abandoned sessions from
//! live ones without guessing from process IDs, and reclaim them.

use std::fs::File;
use std::path::{Path, PathBuf};

const LOCK_FILE: &str = "lock";

/// A live session: the folder and the lock that marks it as in use.
pub struct Session {
    dir: PathBuf,
    lock: Option<File>,
}

impl Session {
    /// Creates and locks a new session folder under `sessions`.
    pub fn open(sessions: &Path) -> std::io::Result<Session> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir = sessions.join(format!("{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let lock = File::create(dir.join(LOCK_FILE))?;
        lock.lock()?;
        Ok(Session {
            dir,
            lock: Some(lock),
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Closed first: Windows cannot delete a file that is still open.
        drop(self.lock.take());
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!("removing {}: {e}", self.dir.display());
        }
    }
}

/// Session folders under `sessions` whose owner is gone: their lock can be taken (or they
/// never got one).
pub fn abandoned(sessions: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(sessions) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|dir| dir.is_dir())
        .filter(
            |dir| match File::options().write(true).open(dir.join(LOCK_FILE)) {
                // Taken and released again at once (dropping the file unlocks it).
                Ok(file) => file.try_lock().is_ok(),
                Err(_) => true,
            },
        )
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_session_is_not_abandoned_and_a_released_one_is() {
        let root = tempfile::tempdir().unwrap();
        let live = Session::open(root.path()).unwrap();
        assert!(abandoned(root.path()).is_empty());
        // A killed build: the folder stays, the lock is gone.
        let dead = root.path().join("4242-1");
        std::fs::create_dir_all(dead.join("scratch-0")).unwrap();
        File::create(dead.join(LOCK_FILE)).unwrap();
        let lockless = root.path().join("4243-1");
        std::fs::create_dir_all(&lockless).unwrap();
        assert_eq!(abandoned(root.path()), [dead, lockless]);
        // Dropping a session removes its folder.
        let dir = live.path().to_path_buf();
        drop(live);
        assert!(!dir.exists());
    }
}
