//! A real Debian `docker-registry` (distribution 2.8) on 127.0.0.1 with a port chosen at run time,
//! in the four configurations the end-to-end tests need (research note registry-client.md §3):
//!
//! | mode                      | what it is for                                                   |
//! |---------------------------|------------------------------------------------------------------|
//! | [`Registry::no_auth`]     | anonymous push/pull; accepts manifests whose layers carry `urls` |
//! | [`Registry::htpasswd`]    | Basic auth (bcrypt file made with `htpasswd -B`)                 |
//! | [`Registry::token`]       | Bearer auth through the [`TokenServer`] fixture (RS256 / ES256)  |
//! | [`Registry::tls`]         | HTTPS with a certificate from a throw-away CA                    |
//!
//! Each instance lives in its own temporary directory (config, data, log), is started directly
//! (so the PID we hold is the registry itself), waited for until it answers, and stopped by that
//! PID when dropped. Its log (including the access-log lines) stays readable through
//! [`Registry::access_log`], so tests can assert which blobs were fetched and how often.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::http;
use crate::pki::{self, SigningAlg, TlsFiles};
use crate::tokenserver::TokenServer;
use crate::tools::{free_port, require_tool, run_ok, ChildGuard};

/// The user every authenticated registry accepts.
pub const USER: &str = "testuser";
/// That user's password.
pub const PASSWORD: &str = "testpass";
/// The `service` the token registry names in its challenge.
pub const TOKEN_SERVICE: &str = "silo-test-registry";
/// The token issuer name (also the issuer certificate's CN).
pub const TOKEN_ISSUER: &str = "silo-test-issuer";

/// How clients authenticate to a [`Registry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anonymous push and pull.
    None,
    /// HTTP Basic against an htpasswd (bcrypt) file.
    Htpasswd,
    /// Bearer tokens from the token-server fixture, signed with this algorithm.
    Token(SigningAlg),
}

/// What to start.
#[derive(Debug, Clone, Copy)]
pub struct RegistryOptions {
    pub auth: Auth,
    /// Serve HTTPS with a certificate from a fresh CA (see [`Registry::ca_cert`]).
    pub tls: bool,
    /// Accept manifests whose layers carry `urls` (`validation.manifests.urls.allow`); without it
    /// distribution rejects them with MANIFEST_BLOB_UNKNOWN, like a strict air-gapped mirror.
    pub allow_foreign_urls: bool,
    /// Allow `DELETE` of manifests and blobs (`storage.delete.enabled`); distribution answers
    /// 405 UNSUPPORTED without it.
    pub deletes: bool,
}

/// One access-log line of the registry (`"GET /v2/… HTTP/1.1" 200 1234`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEntry {
    pub method: String,
    /// Request URI, query included.
    pub uri: String,
    pub status: u16,
    /// Response body bytes the registry wrote.
    pub bytes: u64,
}

/// A running docker-registry; stopped (by PID) and its directory removed when dropped.
#[derive(Debug)]
pub struct Registry {
    // Field order is drop order: stop the process before its token server and directory go.
    child: ChildGuard,
    token: Option<TokenServer>,
    tls: Option<TlsFiles>,
    options: RegistryOptions,
    addr: SocketAddr,
    log_path: PathBuf,
    data_dir: PathBuf,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Anonymous registry that accepts foreign-layer `urls`.
    pub fn no_auth() -> Registry {
        Registry::start(RegistryOptions {
            auth: Auth::None,
            tls: false,
            allow_foreign_urls: true,
            deletes: true,
        })
    }

    /// Anonymous registry that refuses deletes (distribution's default).
    pub fn without_deletes() -> Registry {
        Registry::start(RegistryOptions {
            auth: Auth::None,
            tls: false,
            allow_foreign_urls: true,
            deletes: false,
        })
    }

    /// Anonymous registry that rejects manifests with foreign-layer `urls` (an air-gapped mirror).
    pub fn strict_mirror() -> Registry {
        Registry::start(RegistryOptions {
            auth: Auth::None,
            tls: false,
            allow_foreign_urls: false,
            deletes: true,
        })
    }

    /// Basic auth with [`USER`]/[`PASSWORD`].
    pub fn htpasswd() -> Registry {
        Registry::start(RegistryOptions {
            auth: Auth::Htpasswd,
            tls: false,
            allow_foreign_urls: true,
            deletes: true,
        })
    }

    /// Token auth through a fresh token server signing RS256 (what the research verified).
    pub fn token() -> Registry {
        Registry::token_with(SigningAlg::Rs256)
    }

    /// Token auth signing with `alg`.
    pub fn token_with(alg: SigningAlg) -> Registry {
        Registry::start(RegistryOptions {
            auth: Auth::Token(alg),
            tls: false,
            allow_foreign_urls: true,
            deletes: true,
        })
    }

    /// Anonymous HTTPS registry; clients must trust [`Registry::ca_cert`].
    pub fn tls() -> Registry {
        Registry::start(RegistryOptions {
            auth: Auth::None,
            tls: true,
            allow_foreign_urls: true,
            deletes: true,
        })
    }

    /// Starts a registry with `options`, retrying on another port if the chosen one was taken in
    /// the meantime. Panics with the registry's log when it does not come up.
    pub fn start(options: RegistryOptions) -> Registry {
        let binary = require_tool("docker-registry");
        let dir = tempfile::Builder::new()
            .prefix("silo-registry-")
            .tempdir()
            .expect("temporary directory for the registry");
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir).unwrap();
        let tls = options.tls.then(|| pki::make_tls(&dir.path().join("tls")));
        let (auth_yaml, token) = auth_section(options.auth, dir.path());

        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let config = config_yaml(addr, &data_dir, &auth_yaml, tls.as_ref(), options);
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).unwrap();
            let log_path = dir.path().join("registry.log");
            let log = std::fs::File::create(&log_path).unwrap();
            let child = Command::new(&binary)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut child = ChildGuard::new("docker-registry", child);
            if wait_ready(&mut child, addr, options.tls, &log_path) {
                return Registry {
                    child,
                    token,
                    tls,
                    options,
                    addr,
                    log_path,
                    data_dir,
                    dir,
                };
            }
            child.stop();
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if !last_log.contains("address already in use") {
                break;
            }
        }
        panic!("docker-registry did not come up ({options:?}); its log:\n{last_log}");
    }

    /// The registry's process id (it is stopped by this PID on drop).
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    pub fn options(&self) -> RegistryOptions {
        self.options
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT` (the registry part of an image reference).
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT` or `https://…`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// `127.0.0.1:PORT/<repo_and_tag>`.
    pub fn reference(&self, repo_and_tag: &str) -> String {
        format!("{}/{repo_and_tag}", self.addr)
    }

    /// `(user, password)` when the registry needs credentials to push.
    pub fn creds(&self) -> Option<(&'static str, &'static str)> {
        match self.options.auth {
            Auth::None => None,
            Auth::Htpasswd | Auth::Token(_) => Some((USER, PASSWORD)),
        }
    }

    /// `user:password` for `--creds`, if the registry has users.
    pub fn creds_arg(&self) -> Option<String> {
        self.creds().map(|(u, p)| format!("{u}:{p}"))
    }

    /// The CA certificate a client must trust (TLS registries only).
    pub fn ca_cert(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.ca_cert.as_path())
    }

    /// A directory holding only `ca.crt` (skopeo `--cert-dir`), TLS registries only.
    pub fn cert_dir(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.cert_dir.as_path())
    }

    /// The token server behind a token registry.
    pub fn token_server(&self) -> Option<&TokenServer> {
        self.token.as_ref()
    }

    /// The registry's storage root (`docker/registry/v2/…`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The working directory of this instance (config, log, data, keys).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where the registry writes its log (application lines and access-log lines).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The access-log lines so far, in order.
    pub fn access_log(&self) -> Vec<AccessEntry> {
        self.log().lines().filter_map(parse_access_line).collect()
    }

    /// How many `GET`s of blob `digest` the registry answered with 200 or 206.
    pub fn blob_gets(&self, digest: &str) -> usize {
        let suffix = format!("/blobs/{digest}");
        self.access_log()
            .iter()
            .filter(|e| {
                e.method == "GET"
                    && e.uri.split('?').next().unwrap_or("").ends_with(&suffix)
                    && matches!(e.status, 200 | 206)
            })
            .count()
    }

    /// Whether the registry stores blob `digest` (checked on disk, independent of HTTP).
    pub fn has_blob(&self, digest: &str) -> bool {
        let (alg, hex) = digest.split_once(':').expect("digest alg:hex");
        self.data_dir
            .join("docker/registry/v2/blobs")
            .join(alg)
            .join(&hex[..2])
            .join(hex)
            .join("data")
            .exists()
    }

    /// skopeo flags for this registry in a role: `"src"`, `"dest"` (copy) or `""` (inspect,
    /// list-tags): TLS verification or the CA directory, and credentials when it has users.
    pub fn skopeo_args(&self, role: &str) -> Vec<String> {
        let prefix = if role.is_empty() {
            String::new()
        } else {
            format!("{role}-")
        };
        let mut args = match self.cert_dir() {
            Some(dir) => vec![format!("--{prefix}cert-dir={}", dir.display())],
            None => vec![format!("--{prefix}tls-verify=false")],
        };
        if let Some(creds) = self.creds_arg() {
            args.push(format!("--{prefix}creds={creds}"));
        }
        args
    }

    /// A `docker config.json` directory (`DOCKER_CONFIG`) with this registry's credentials in
    /// `auths`, written under the registry's directory.
    pub fn docker_config_dir(&self) -> PathBuf {
        use base64::Engine as _;
        let dir = self.dir.path().join("docker-config");
        std::fs::create_dir_all(&dir).unwrap();
        let auths = match self.creds() {
            Some((u, p)) => serde_json::json!({
                self.host(): {"auth": base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))}
            }),
            None => serde_json::json!({}),
        };
        std::fs::write(
            dir.join("config.json"),
            serde_json::to_vec_pretty(&serde_json::json!({ "auths": auths })).unwrap(),
        )
        .unwrap();
        dir
    }
}

/// The `auth:` YAML section and, for token auth, the started token server.
fn auth_section(auth: Auth, dir: &Path) -> (String, Option<TokenServer>) {
    match auth {
        Auth::None => (String::new(), None),
        Auth::Htpasswd => {
            let htpasswd = require_tool("htpasswd");
            // distribution only understands bcrypt entries (-B).
            let out = run_ok(Command::new(htpasswd).args(["-Bbn", USER, PASSWORD]));
            let file = dir.join("htpasswd");
            std::fs::write(&file, &out.stdout).unwrap();
            let yaml = format!(
                "auth:\n  htpasswd:\n    realm: silo-basic-realm\n    path: {}\n",
                file.display()
            );
            (yaml, None)
        }
        Auth::Token(alg) => {
            let key = pki::make_issuer_key(&dir.join("issuer"), alg, TOKEN_ISSUER);
            let bundle = key.cert_pem.clone();
            let server = TokenServer::start(key, TOKEN_ISSUER, &[(USER, PASSWORD)]);
            let yaml = format!(
                "auth:\n  token:\n    realm: {}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                server.realm(),
                bundle.display()
            );
            (yaml, Some(server))
        }
    }
}

fn config_yaml(
    addr: SocketAddr,
    data_dir: &Path,
    auth_yaml: &str,
    tls: Option<&TlsFiles>,
    options: RegistryOptions,
) -> String {
    let tls_yaml = tls
        .map(|t| {
            format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                t.server_cert.display(),
                t.server_key.display()
            )
        })
        .unwrap_or_default();
    let validation = if options.allow_foreign_urls {
        "validation:\n  manifests:\n    urls:\n      allow:\n        - ^https?://\n"
    } else {
        ""
    };
    format!(
        "version: 0.1\n\
         log:\n  level: info\n  accesslog:\n    disabled: false\n\
         storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: {deletes}\n  \
         maintenance:\n    uploadpurging:\n      enabled: false\n\
         http:\n  addr: {addr}\n  secret: silo-test-only-secret\n{tls_yaml}\
         {auth_yaml}{validation}",
        data = data_dir.display(),
        deletes = options.deletes
    )
}

/// Waits until the registry answers `/v2/` (plain HTTP) or logs that it listens (TLS).
fn wait_ready(child: &mut ChildGuard, addr: SocketAddr, tls: bool, log: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if child.exited().is_some() {
            return false;
        }
        let ready = if tls {
            std::fs::read_to_string(log)
                .map(|l| l.contains("listening on"))
                .unwrap_or(false)
                && std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        } else {
            matches!(
                http::call(addr, "GET", "/v2/", &[], &[]).map(|r| r.status()),
                Ok(200 | 401)
            )
        };
        if ready {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Parses `127.0.0.1 - - [date] "GET /v2/x HTTP/1.1" 200 157 "" "ua"`.
fn parse_access_line(line: &str) -> Option<AccessEntry> {
    let (_, rest) = line.split_once("] \"")?;
    let (request, rest) = rest.split_once('"')?;
    let mut parts = request.split(' ');
    let method = parts.next()?.to_string();
    let uri = parts.next()?.to_string();
    parts.next()?.strip_prefix("HTTP/")?;
    let mut fields = rest.split_whitespace();
    let status = fields.next()?.parse().ok()?;
    let bytes = fields.next()?.parse().unwrap_or(0);
    Some(AccessEntry {
        method,
        uri,
        status,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_access_lines_and_ignores_application_lines() {
        let line = r#"127.0.0.1 - - [27/Nov/2026:23:27:50 +0000] "GET /v2/a/b/blobs/sha256:00 HTTP/1.1" 404 157 "" "curl/7.88.1""#;
        assert_eq!(
            parse_access_line(line),
            Some(AccessEntry {
                method: "GET".into(),
                uri: "/v2/a/b/blobs/sha256:00".into(),
                status: 404,
                bytes: 157
            })
        );
        assert_eq!(
            parse_access_line(r#"time="x" level=info msg="listening on 127.0.0.1:5099""#),
            None
        );
    }
}
