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
//! - [`silo_cli`]: silo's registry flags in one place, error capture, OCI layout reading;
//! - [`build_lab`]: a base, a context and fresh state directories for `silo build` cache tests.

pub mod build_lab;
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
pub mod windows_exe;

use std::path::{Path, PathBuf};

/// Records that a test did not check what it is for (a missing part or corpus) and why; see
/// [`registry_client::corpus::skip`] (a failure under `CI=true`).
pub fn skip(what: &str, reason: &str) {
    registry_client::corpus::skip(what, reason);
}

/// The project root (the workspace directory).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` beside the project (read-only test corpora and fixtures), or `$SILO_SHARED`.
pub fn shared_dir() -> PathBuf {
    registry_client::corpus::shared_dir()
}

/// A corpus below [`shared_dir`], or `None` when it is absent — a test then says it is skipped
/// and why. Under `CI=true` a missing corpus is a failure: CI always has `../shared`.
pub fn corpus(rel: &str) -> Option<PathBuf> {
    registry_client::corpus::shared(rel)
}

/// The `silo` binary built by this workspace (`target/<profile>/silo`, next to the test's
/// `deps/` directory). Integration tests in the root package cannot use `CARGO_BIN_EXE_silo`
/// (that works only inside the `silo` package), so `cargo test --workspace` builds it for us;
/// a binary older than silo's sources (a `cargo test --test X` after an edit) is refused, so a
/// test never passes against yesterday's silo.
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
    assert_current(&bin, "cargo build -p silo");
    bin
}

/// Panics unless `binary` is newer than every source it was built from — the files cargo's
/// dep-info (`<binary without extension>.d`, written next to it) lists: silo's and the registry
/// client's sources, not their test-only modules — naming `build` as the fix.
pub fn assert_current(binary: &Path, build: &str) {
    let built = std::fs::metadata(binary)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    let dep_info = binary.with_extension("d");
    let listed = std::fs::read_to_string(&dep_info)
        .unwrap_or_else(|e| panic!("{} (cargo's dep-info): {e}", dep_info.display()));
    // `target: source source …` (a space inside a path is written `\ `).
    let sources = listed
        .split_once(": ")
        .map_or("", |(_, s)| s)
        .replace("\\ ", "\0");
    let newest = sources
        .split_whitespace()
        .map(|s| PathBuf::from(s.replace('\0', " ")))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max();
    if let Some((newest, path)) = newest {
        assert!(
            newest <= built,
            "{} is older than {}: run `{build}` (scripts/test does) so the tests run today's silo",
            binary.display(),
            path.display()
        );
    }
}

/// A `Command` for the `silo` binary.
pub fn silo() -> std::process::Command {
    std::process::Command::new(silo_bin())
}

/// `silo ARGS` with its state in `root` (`SILO_ROOT`), run to completion.
pub fn silo_in(root: &Path, args: &[&str]) -> std::process::Output {
    silo().env("SILO_ROOT", root).args(args).output().unwrap()
}

/// [`silo_in`], which must succeed (the failure shows silo's output).
pub fn silo_ok_in(root: &Path, args: &[&str]) -> std::process::Output {
    succeeded(args, silo_in(root, args))
}

/// `silo base create -t NAME --os-version VERSION` into the store in `root`, which must succeed.
pub fn base_in(root: &Path, name: &str, os_version: &str) {
    silo_ok_in(
        root,
        &["base", "create", "-t", name, "--os-version", os_version],
    );
}

/// `out` of `silo ARGS`, which must have succeeded (the failure shows silo's output).
/// Writes `files` (path relative to `dir`, text) under `dir`, making folders as needed: a build
/// context. Returns `dir` as a command-line argument.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) -> String {
    for (file, text) in files {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir.display().to_string()
}

pub fn succeeded(args: &[&str], out: std::process::Output) -> std::process::Output {
    assert!(
        out.status.success(),
        "silo {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
