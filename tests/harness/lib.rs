//! Test harness for silo's end-to-end tests: locating `../shared`, the built `silo` binary, and
//! starting real servers (docker-registry, …) on 127.0.0.1 with ports chosen at run time.
//!
//! Registry end-to-end tests use these pieces (see docs/registry-testing.md):
//! - [`registry::Registry`]: Debian `docker-registry` in four configs (no auth, htpasswd, token,
//!   TLS), stopped by PID on drop, with its access log readable;
//! - [`tokenserver::TokenServer`]: the Bearer/OAuth2 token fixture (RS256 or ES256 JWTs);
//! - [`fileserver::FileServer`]: serves foreign-layer URLs and counts bytes served;
//! - [`faultproxy::FaultProxy`]: cuts, stalls, 429/500, flipped bytes, wrong Content-Type and
//!   malformed JSON in front of a registry, with per-request byte counters;
//! - [`image`] and [`windows::WindowsFixture`]: images built and pushed without silo;
//! - [`skopeo`]: the peer client with the right flags per registry;
//! - [`realbase`]: a servercore-shaped base layer with the real Windows 10 SYSTEM hive;
//! - [`silo_cli`]: silo's registry flags in one place, error capture, OCI layout reading.

pub mod dockerd;
pub mod faultproxy;
pub mod fileserver;
pub mod http;
pub mod image;
pub mod pki;
pub mod realbase;
pub mod registry;
pub mod silo_cli;
pub mod skopeo;
pub mod tokenserver;
pub mod tools;
pub mod windows;

use std::path::PathBuf;

/// The project root (the workspace directory).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` beside the project (read-only test corpora and fixtures), or `$SILO_SHARED`.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("SILO_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("../shared"))
}

/// A corpus below [`shared_dir`], or `None` when it is absent — a test then says it is skipped
/// and why. Under `CI=true` a missing corpus is a failure: CI always has `../shared`.
pub fn corpus(rel: &str) -> Option<PathBuf> {
    let path = shared_dir().join(rel);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").map(|v| v != "true").unwrap_or(true),
        "corpus {} is missing (CI=true: ../shared must be beside the project)",
        path.display()
    );
    eprintln!("skipped: corpus absent: {}", path.display());
    None
}

/// The `silo` binary built by this workspace (`target/<profile>/silo`, next to the test's
/// `deps/` directory). Integration tests in the root package cannot use `CARGO_BIN_EXE_silo`
/// (that works only inside the `silo` package), so `cargo test --workspace` builds it for us.
pub fn silo_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let bin = profile_dir.join(format!("silo{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p silo` (scripts/test does) before the end-to-end tests",
        bin.display()
    );
    bin
}

/// A `Command` for the `silo` binary.
pub fn silo() -> std::process::Command {
    std::process::Command::new(silo_bin())
}
