//! Driving `silo`'s registry verbs from tests: the flags a harness registry needs (plain HTTP or
//! its test CA, credentials), running with the error text captured, and reading the OCI image
//! layouts `silo pull --output oci:DIR` writes. The CLI's spelling of those flags lives here only,
//! so a change in the CLI is one edit, not one per test.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::image::sha256_digest;
use crate::registry::Registry;

/// Environment that lets silo fetch foreign layers from loopback URLs (refused by default).
pub const ALLOW_PRIVATE_FOREIGN_URLS: (&str, &str) = ("SILO_ALLOW_PRIVATE_URLS", "1");

/// Flags silo needs to reach `registry`: plain HTTP (TLS registries: trust the test CA).
/// Credentials are not included; see [`creds_flags`].
pub fn transport_flags(registry: &Registry) -> Vec<String> {
    match registry.ca_cert() {
        Some(ca) => vec![format!("--ca-cert={}", ca.display())],
        None => plain_http_flags(),
    }
}

/// Flags making a body that delivers nothing for `secs` seconds count as stalled.
pub fn stall_timeout_flags(secs: u64) -> Vec<String> {
    vec!["--stall-timeout".to_string(), secs.to_string()]
}

/// Flags that let silo speak plain HTTP to a 127.0.0.1 registry.
pub fn plain_http_flags() -> Vec<String> {
    vec!["--tls-verify=false".to_string()]
}

/// `--creds user:pass` when `registry` has users.
pub fn creds_flags(registry: &Registry) -> Vec<String> {
    registry
        .creds_arg()
        .map(|c| vec!["--creds".to_string(), c])
        .unwrap_or_default()
}

/// A `silo ARGS…` command with the loopback foreign-URL permission and private credential
/// locations (so the machine's own credentials never leak into a test). `home` must outlive the
/// command's run.
pub fn command(args: &[String], home: &Path) -> std::process::Command {
    let mut cmd = crate::silo();
    cmd.args(args)
        .env(ALLOW_PRIVATE_FOREIGN_URLS.0, ALLOW_PRIVATE_FOREIGN_URLS.1)
        .env("DOCKER_CONFIG", home.join("docker"))
        .env("HOME", home)
        // REGISTRY_AUTH_FILE would end the lookup before docker's config.json (containers
        // semantics); tests that want it set it themselves.
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("DOCKER_AUTH_CONFIG")
        .env_remove("SILO_CREDS")
        .env("XDG_RUNTIME_DIR", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("NO_COLOR", "1");
    cmd
}

/// Runs [`command`] to completion.
pub fn run(args: &[String]) -> Output {
    let home = tempfile::tempdir().unwrap();
    command(args, home.path()).output().expect("run silo")
}

/// Runs silo and panics (with its stderr) unless it succeeds; returns stdout.
pub fn ok(args: &[String]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "silo {} failed ({}):\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs silo and panics unless it fails; returns stderr (the error text the user sees).
pub fn fails(args: &[String]) -> String {
    let out = run(args);
    assert!(
        !out.status.success(),
        "silo {} succeeded but should have failed; stdout:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // Shown with --nocapture: the error text the user sees (docs/registry-testing.md quotes it).
    eprintln!("silo {} →\n{stderr}", args.join(" "));
    assert!(
        !stderr.contains("panicked at"),
        "silo panicked instead of reporting an error:\n{stderr}"
    );
    stderr
}

/// Builds an argument vector from anything string-like.
#[macro_export]
macro_rules! args {
    ($($arg:expr),* $(,)?) => {{
        let mut v: Vec<String> = Vec::new();
        $( $crate::silo_cli::IntoArgs::extend_into($arg, &mut v); )*
        v
    }};
}

/// Lets [`args!`] take single strings and vectors of strings alike.
pub trait IntoArgs {
    fn extend_into(self, out: &mut Vec<String>);
}
impl IntoArgs for &str {
    fn extend_into(self, out: &mut Vec<String>) {
        out.push(self.to_string());
    }
}
impl IntoArgs for String {
    fn extend_into(self, out: &mut Vec<String>) {
        out.push(self);
    }
}
impl IntoArgs for &String {
    fn extend_into(self, out: &mut Vec<String>) {
        out.push(self.clone());
    }
}
impl IntoArgs for Vec<String> {
    fn extend_into(self, out: &mut Vec<String>) {
        out.extend(self);
    }
}

/// An OCI image layout on disk (what `--output oci:DIR` writes), read independently of silo.
#[derive(Debug, Clone)]
pub struct OciLayout {
    pub dir: PathBuf,
}

impl OciLayout {
    /// Opens `dir`, checking the `oci-layout` marker and that `index.json` parses.
    pub fn open(dir: &Path) -> OciLayout {
        let marker = std::fs::read_to_string(dir.join("oci-layout"))
            .unwrap_or_else(|e| panic!("{}/oci-layout: {e}", dir.display()));
        let marker: serde_json::Value = serde_json::from_str(&marker).unwrap();
        assert_eq!(marker["imageLayoutVersion"], "1.0.0");
        let layout = OciLayout {
            dir: dir.to_path_buf(),
        };
        layout.index();
        layout
    }

    pub fn index(&self) -> serde_json::Value {
        let text = std::fs::read(self.dir.join("index.json")).unwrap();
        serde_json::from_slice(&text).expect("index.json is JSON")
    }

    /// Digests of the manifests `index.json` lists.
    pub fn index_digests(&self) -> Vec<String> {
        self.index()["manifests"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| m["digest"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let (alg, hex) = digest.split_once(':').expect("alg:hex digest");
        self.dir.join("blobs").join(alg).join(hex)
    }

    /// The blob's bytes, if present.
    pub fn blob(&self, digest: &str) -> Option<Vec<u8>> {
        std::fs::read(self.blob_path(digest)).ok()
    }

    /// Every file under `blobs/sha256` hashes to its name, and no partial/temporary file is left
    /// next to them. Returns the digests present.
    pub fn verify_blobs(&self) -> Vec<String> {
        let mut digests = Vec::new();
        let dir = self.dir.join("blobs/sha256");
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()),
                "unexpected file in blobs/sha256: {name}"
            );
            let digest = format!("sha256:{name}");
            assert_eq!(
                sha256_digest(&std::fs::read(entry.path()).unwrap()),
                digest,
                "blob file does not match its name"
            );
            digests.push(digest);
        }
        digests
    }
}
