//! External tools the end-to-end tests drive (docker-registry, skopeo, openssl, htpasswd, …):
//! finding them with a clear failure when missing, running them with their output in the error,
//! and the small process/port helpers every fixture server shares.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// The absolute path of `tool` on `$PATH`. Panics with a message naming
/// `scripts/install-test-deps` (and the Debian package) when it is missing: a test that needs a
/// real part must fail loudly, never pass silently without it.
pub fn require_tool(tool: &str) -> PathBuf {
    if let Some(path) = find_on_path(tool) {
        return path;
    }
    let package = match tool {
        "docker-registry" => "docker-registry",
        "htpasswd" => "apache2-utils",
        "skopeo" => "skopeo",
        "openssl" => "openssl",
        "curl" => "curl",
        other => other,
    };
    panic!(
        "`{tool}` is not installed: run scripts/install-test-deps \
         (Debian package `{package}`, listed in scripts/apt-packages.txt)"
    );
}

pub fn find_on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

/// Runs `cmd` to completion and returns its output; panics with the command line, status, stdout
/// and stderr when it fails (so a failing fixture step explains itself).
pub fn run_ok(cmd: &mut Command) -> Output {
    let described = format!("{cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {described}: {e}"));
    assert!(
        out.status.success(),
        "{described} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A port on 127.0.0.1 that was free a moment ago. Servers we do not control (docker-registry)
/// must be told a port, so there is a small race; [`crate::registry`] retries on "address in use".
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port on 127.0.0.1")
}

/// Waits until something accepts TCP connections on `addr`, or `timeout` passes.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// A child process stopped by its PID when dropped: SIGTERM, a short grace period, then SIGKILL,
/// and always reaped (`wait`) so no zombie outlives the test.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    name: String,
}

impl ChildGuard {
    pub fn new(name: &str, child: Child) -> ChildGuard {
        ChildGuard {
            child: Some(child),
            name: name.to_string(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// `Some(status)` if the process has already exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Stops the process now (idempotent).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if child.try_wait().ok().flatten().is_none() {
            // SAFETY: plain kill(2) on the PID of a child we spawned and have not reaped yet, so
            // the PID cannot have been reused by another process.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline && child.try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(20));
            }
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
            }
        }
        if let Err(e) = child.wait() {
            eprintln!("harness: reaping {} failed: {e}", self.name);
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads a file the harness wrote (panics with the path on error).
pub fn read_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The Python of the test venv (`.venv`, or `$SILO_VENV`) that scripts/install-test-deps fills
/// from scripts/requirements-test.txt (python-registry, regipy, …).
pub fn venv_python() -> PathBuf {
    let python = std::env::var_os("SILO_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::project_root().join(".venv"))
        .join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-test-deps",
        python.display()
    );
    python
}
