//! A real Docker daemon (Debian `docker.io`) for the tests that check `docker load`: started with
//! its own data root, exec root and socket in a temporary directory (the `vfs` storage driver, no
//! iptables, no bridge — nothing on the host changes), and stopped by PID when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::tools::require_tool;

/// A running `dockerd`.
pub struct Dockerd {
    child: Child,
    dir: tempfile::TempDir,
    docker: PathBuf,
}

impl Dockerd {
    /// Starts a daemon and waits (up to 60 s) until it answers.
    pub fn start() -> Dockerd {
        let dockerd = require_tool("dockerd");
        // The client of the same package (/usr/bin), not whichever `docker` comes first on PATH.
        let docker = PathBuf::from("/usr/bin/docker");
        assert!(
            docker.exists(),
            "{} is missing: run scripts/install-test-deps (Debian package docker.io)",
            docker.display()
        );
        // Short paths: the socket path must fit in sun_path.
        let dir = tempfile::Builder::new()
            .prefix("dk")
            .tempdir_in("/tmp")
            .unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(&dockerd)
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("pid"))
            .arg("--host")
            .arg(format!("unix://{}", dir.path().join("sock").display()))
            .args([
                "--storage-driver",
                "vfs",
                "--iptables=false",
                "--bridge=none",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting dockerd");
        let mut daemon = Dockerd { child, dir, docker };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if daemon.docker(&["version"]).status.success() {
                return daemon;
            }
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("dockerd exited ({status}):\n{}", daemon.log());
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer in 60 s:\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Runs the docker client against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new(&self.docker)
            .env("DOCKER_HOST", format!("unix://{}", self.socket().display()))
            .env("DOCKER_CONFIG", self.dir.path().join("client"))
            .args(args)
            .output()
            .expect("running docker")
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM lets dockerd unmount and remove its sockets; kill only if it hangs.
        let pid = self.child.id() as i32;
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
