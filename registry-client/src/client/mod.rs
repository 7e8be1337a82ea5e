//! The HTTP side: one [`Client`] per command, with a connection pool, TLS settings, the ping that
//! finds each registry's scheme and challenge, authentication (Basic, Docker token GET, OAuth2
//! POST with `password` or `refresh_token`, cached per realm/service/scopes, re-auth once on 401 or
//! `insufficient_scope`), retries with backoff (connection errors, 408, 429 with `Retry-After`,
//! 5xx), and redirects followed by hand so `Authorization` never reaches another host.
//!
//! This module owns the client, its configuration, credential sources and the ping; the rest is
//! split by concern: `authorize` (the Authorization value: Basic, token GET, OAuth2 POST),
//! `send` (one request with auth, retries and safe redirects; response bodies and status
//! errors), `api` (the registry API calls: manifests, blob HEAD, tags, login check).

mod api;
mod authorize;
mod mirrors;
mod send;
#[cfg(test)]
mod tests;

pub(crate) use send::{backoff, read_limited, retryable_status, status_error};

use authorize::pick_challenge;
use send::is_tls_or_protocol;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use url::Url;

use crate::auth::{Challenge, Credential, TokenCache};
use crate::credentials::{self, CredentialEnv};
use crate::error::{display_url, Error, Result};
use crate::reference::Reference;
use crate::registries_conf::RegistriesConf;
use crate::transfer::Progress;

/// Tunables. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Verify TLS certificates (`--tls-verify=false` turns it off and allows plain HTTP).
    pub tls_verify: bool,
    /// Extra trusted CA certificates (PEM files; `--ca-cert`, or `*.crt` in `--cert-dir`).
    pub ca_certs: Vec<PathBuf>,
    /// Attempts per request (first try included).
    pub max_attempts: u32,
    /// First backoff; doubles per attempt (capped at 30 s).
    pub backoff: Duration,
    /// Longest `Retry-After` honoured.
    pub max_retry_after: Duration,
    /// A body that delivers nothing for this long is a stall: the transfer is resumed.
    pub stall_timeout: Duration,
    pub connect_timeout: Duration,
    /// Blobs transferred at once (global cap per command).
    pub concurrency: usize,
    /// Blobs at least this big are fetched as parallel ranges.
    pub range_threshold: u64,
    /// Size of one range part.
    pub range_part: u64,
    /// Connections per ranged blob.
    pub range_connections: usize,
    /// Use ranges for loopback registries too. Off by default: on one machine the client and the
    /// registry share the CPU and parallel ranges measured slower than one stream (docs/registry.md).
    pub ranges_on_loopback: bool,
    /// Allow foreign-layer URLs that resolve to private/loopback addresses.
    pub allow_private_urls: bool,
    /// Upload in chunks of this size from the start (for proxies that limit request bodies);
    /// `None`: one streaming PUT, chunks only when the registry refuses it (413).
    pub chunk_size: Option<u64>,
    /// registries.conf: mirrors to pull from, blocked and insecure registries (empty: none).
    pub registries: Arc<RegistriesConf>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            tls_verify: true,
            ca_certs: Vec::new(),
            max_attempts: 5,
            backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(60),
            stall_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(15),
            concurrency: 6,
            range_threshold: 128 << 20,
            range_part: 64 << 20,
            range_connections: 4,
            ranges_on_loopback: false,
            allow_private_urls: false,
            chunk_size: None,
            registries: Arc::default(),
        }
    }
}

/// Source of credentials for a (registry, repository).
pub trait CredentialSource: Send + Sync {
    fn credential(&self, registry: &str, repository: &str) -> Result<Option<Credential>>;
}

/// `--creds` when given (for every registry of the command), else the documented file lookup.
#[derive(Debug, Default)]
pub struct DefaultCredentials {
    pub explicit: HashMap<String, Credential>,
    pub env: CredentialEnv,
    cache: Mutex<HashMap<(String, String), Option<Credential>>>,
}

impl DefaultCredentials {
    pub fn new(env: CredentialEnv) -> Self {
        DefaultCredentials {
            explicit: HashMap::new(),
            env,
            cache: Mutex::default(),
        }
    }

    /// Use `cred` for `registry` regardless of files.
    pub fn with_explicit(mut self, registry: &str, cred: Credential) -> Self {
        self.explicit.insert(registry.to_string(), cred);
        self
    }
}

impl CredentialSource for DefaultCredentials {
    fn credential(&self, registry: &str, repository: &str) -> Result<Option<Credential>> {
        if let Some(c) = self.explicit.get(registry) {
            return Ok(Some(c.clone()));
        }
        let key = (registry.to_string(), repository.to_string());
        if let Some(c) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(c.clone());
        }
        let found = credentials::lookup(&self.env, registry, repository)?;
        if let Some(f) = &found {
            tracing::debug!(registry, repository, source = %f.source, "using stored credentials");
        }
        let c = found.map(|f| f.credential);
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, c.clone());
        Ok(c)
    }
}

/// What the ping learned about a registry host.
#[derive(Debug, Clone)]
struct HostState {
    base: Url,
    challenge: Option<Challenge>,
}

/// Body factory: a request body that can be made again for a retry.
pub(crate) type BodyFn =
    Arc<dyn Fn() -> futures::future::BoxFuture<'static, Result<reqwest::Body>> + Send + Sync>;

/// One request to a registry.
pub(crate) struct Req {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<BodyFn>,
    /// Retry on connection errors and retryable statuses.
    pub retry: bool,
}

impl Req {
    pub fn new(method: Method, url: Url) -> Self {
        Req {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            retry: true,
        }
    }
    pub fn header(mut self, name: reqwest::header::HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }
}

/// A registry client. Cheap to share behind an `Arc`.
pub struct Client {
    pub(crate) http: reqwest::Client,
    /// For the hosts registries.conf marks `insecure`: certificates not verified (`None`
    /// when no host is, or when `--tls-verify=false` already made `http` so). See `http_for`.
    http_insecure: Option<reqwest::Client>,
    pub(crate) cfg: ClientConfig,
    creds: Arc<dyn CredentialSource>,
    tokens: TokenCache,
    hosts: tokio::sync::Mutex<HashMap<String, HostState>>,
    pub(crate) progress: Arc<dyn Progress>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Build a client; fails on unreadable CA files.
    pub fn new(
        cfg: ClientConfig,
        creds: Arc<dyn CredentialSource>,
        progress: Arc<dyn Progress>,
    ) -> Result<Self> {
        let builder = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(cfg.connect_timeout)
                .pool_max_idle_per_host(32)
                .tcp_nodelay(true)
                .user_agent(concat!("silo/", env!("CARGO_PKG_VERSION")))
        };
        let http_insecure = if cfg.tls_verify && cfg.registries.has_insecure() {
            Some(
                builder()
                    .danger_accept_invalid_certs(true)
                    .build()
                    .map_err(|e| Error::Other(format!("building the HTTP client: {e}")))?,
            )
        } else {
            None
        };
        let mut b = builder();
        if !cfg.tls_verify {
            b = b.danger_accept_invalid_certs(true);
        }
        for path in &cfg.ca_certs {
            let pem = std::fs::read(path)
                .map_err(|e| Error::io(format!("reading CA certificate {}", path.display()), e))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::Other(format!("CA certificate {} is not PEM: {e}", path.display()))
            })?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let http = b
            .build()
            .map_err(|e| Error::Other(format!("building the HTTP client: {e}")))?;
        Ok(Client {
            http,
            http_insecure,
            cfg,
            creds,
            tokens: TokenCache::default(),
            hosts: Default::default(),
            progress,
        })
    }

    /// The HTTP client for requests to `url`: the one that does not verify certificates for a
    /// host registries.conf marks `insecure` (as containers/image treats them), else the
    /// verifying one. Redirects to other hosts (blob storage) are verified as usual.
    pub(crate) fn http_for(&self, url: &Url) -> &reqwest::Client {
        match (&self.http_insecure, url.host_str()) {
            (Some(insecure), Some(host)) => {
                let host = match url.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_string(),
                };
                if self.cfg.registries.is_insecure_host(&host) {
                    insecure
                } else {
                    &self.http
                }
            }
            _ => &self.http,
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    pub fn progress(&self) -> &Arc<dyn Progress> {
        &self.progress
    }

    /// Base URL (`scheme://host/`) of a registry, pinging it the first time.
    pub(crate) async fn base(&self, r: &Reference) -> Result<Url> {
        Ok(self.host(r).await?.base)
    }

    /// `<base>/v2/<repo>/<suffix>`.
    pub(crate) async fn repo_url(&self, r: &Reference, suffix: &str) -> Result<Url> {
        let base = self.base(r).await?;
        base.join(&format!("v2/{}/{suffix}", r.repository()))
            .map_err(|e| Error::Other(format!("building a URL for {r}: {e}")))
    }

    /// The host's state; every request goes through here, so a blocked registry is refused here.
    async fn host(&self, r: &Reference) -> Result<HostState> {
        self.cfg.registries.check_not_blocked(r)?;
        let host = r.api_host().to_string();
        let mut hosts = self.hosts.lock().await;
        if let Some(h) = hosts.get(&host) {
            return Ok(h.clone());
        }
        let state = self.ping(&host).await?;
        hosts.insert(host, state.clone());
        Ok(state)
    }

    /// `GET /v2/` over HTTPS; plain HTTP is tried only with `--tls-verify=false`, for loopback
    /// or for a registry registries.conf marks `insecure`.
    async fn ping(&self, host: &str) -> Result<HostState> {
        let loopback =
            host.starts_with("localhost") || host.starts_with("127.") || host.starts_with("[::1]");
        let mut schemes = vec!["https"];
        if !self.cfg.tls_verify || loopback || self.cfg.registries.is_insecure_host(host) {
            schemes.push("http");
        }
        let mut last_err = None;
        for scheme in schemes {
            let base =
                Url::parse(&format!("{scheme}://{host}/")).map_err(|e| Error::Reference {
                    input: host.to_string(),
                    reason: format!("not a valid registry host: {e}"),
                })?;
            let url = base.join("v2/").expect("static path");
            let mut attempt = 0;
            let resp = loop {
                attempt += 1;
                match self.http_for(&url).get(url.clone()).send().await {
                    Ok(r) if retryable_status(r.status()) && attempt < self.cfg.max_attempts => {
                        self.wait(attempt, Some(&r), &url).await;
                    }
                    Ok(r) => break Ok(r),
                    Err(e) if is_tls_or_protocol(&e) => break Err(e),
                    Err(e)
                        if attempt < self.cfg.max_attempts
                            && e.is_connect()
                            && scheme == "http" =>
                    {
                        self.wait(attempt, None, &url).await;
                    }
                    Err(e) => break Err(e),
                }
            };
            match resp {
                // An HTTPS server answers plain HTTP with 400 ("Client sent an HTTP request to
                // an HTTPS server"): the fallback reached the same server, so what went wrong is
                // the HTTPS attempt's error (an untrusted certificate, usually) — report that.
                Ok(resp)
                    if scheme == "http"
                        && resp.status() == StatusCode::BAD_REQUEST
                        && last_err.is_some() =>
                {
                    break;
                }
                Ok(resp) => {
                    let status = resp.status();
                    let challenge = pick_challenge(resp.headers());
                    if status.is_success() || status == StatusCode::UNAUTHORIZED {
                        tracing::debug!(host, scheme, ?status, "registry ping");
                        return Ok(HostState { base, challenge });
                    }
                    return Err(status_error(Method::GET, &url, resp).await);
                }
                Err(e) => {
                    last_err = Some(Error::Connect {
                        method: "GET".into(),
                        url: display_url(&url),
                        source: e,
                    });
                }
            }
        }
        Err(last_err.unwrap_or_else(|| Error::Other(format!("cannot reach {host}"))))
    }
}
/// `localhost`, `127.x.x.x` or `[::1]`, with or without a port.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if host.starts_with('[') {
        host.split(']')
            .next()
            .unwrap_or(host)
            .trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or(host)
    };
    name == "localhost" || name == "::1" || name.starts_with("127.")
}
