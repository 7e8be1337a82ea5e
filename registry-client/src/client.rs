//! The HTTP side: one [`Client`] per command, with a connection pool, TLS settings, the ping that
//! finds each registry's scheme and challenge, authentication (Basic, Docker token GET, OAuth2
//! POST with `password` or `refresh_token`, cached per realm/service/scopes, re-auth once on 401 or
//! `insufficient_scope`), retries with backoff (connection errors, 408, 429 with `Retry-After`,
//! 5xx), and redirects followed by hand so `Authorization` never reaches another host.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use url::Url;

use crate::auth::{
    parse_challenges, Challenge, Credential, Scopes, TokenCache, TokenKey, TokenResponse,
};
use crate::credentials::{self, CredentialEnv};
use crate::error::{display_url, Error, Result};
use crate::manifest::{self, RawManifest};
use crate::reference::Reference;
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
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(cfg.connect_timeout)
            .pool_max_idle_per_host(32)
            .tcp_nodelay(true)
            .user_agent(concat!("silo/", env!("CARGO_PKG_VERSION")));
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
            cfg,
            creds,
            tokens: TokenCache::default(),
            hosts: Default::default(),
            progress,
        })
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

    async fn host(&self, r: &Reference) -> Result<HostState> {
        let host = r.api_host().to_string();
        let mut hosts = self.hosts.lock().await;
        if let Some(h) = hosts.get(&host) {
            return Ok(h.clone());
        }
        let state = self.ping(&host).await?;
        hosts.insert(host, state.clone());
        Ok(state)
    }

    /// `GET /v2/` over HTTPS; plain HTTP is tried only with `--tls-verify=false` or for loopback.
    async fn ping(&self, host: &str) -> Result<HostState> {
        let loopback =
            host.starts_with("localhost") || host.starts_with("127.") || host.starts_with("[::1]");
        let mut schemes = vec!["https"];
        if !self.cfg.tls_verify || loopback {
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
                match self.http.get(url.clone()).send().await {
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

    async fn wait(&self, attempt: u32, resp: Option<&Response>, url: &Url) {
        let retry_after = resp
            .and_then(|r| r.headers().get("retry-after"))
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok());
        let delay = match retry_after {
            Some(s) => Duration::from_secs(s).min(self.cfg.max_retry_after),
            None => backoff(self.cfg.backoff, attempt),
        };
        let what = match resp {
            Some(r) => format!("HTTP {}", r.status().as_u16()),
            None => "connection error".into(),
        };
        self.progress.note(&format!(
            "{what} from {}; retrying in {:.1}s",
            display_url(url),
            delay.as_secs_f64()
        ));
        tokio::time::sleep(delay).await;
    }

    /// The Authorization value for a request to `r` needing `scopes`.
    async fn authorization(
        &self,
        r: &Reference,
        scopes: &Scopes,
        challenge: Option<&Challenge>,
        fresh: bool,
    ) -> Result<Option<String>> {
        let Some(ch) = challenge else { return Ok(None) };
        let cred = self.creds.credential(r.registry(), r.repository())?;
        if let Some(Credential::Bearer(t)) = &cred {
            return Ok(Some(format!("Bearer {t}")));
        }
        match ch.scheme.as_str() {
            "basic" => Ok(match cred {
                Some(Credential::Basic { username, password }) => {
                    Some(basic_header(&username, &password))
                }
                _ => None,
            }),
            "bearer" => {
                let realm = ch.param("realm").ok_or_else(|| Error::Auth {
                    registry: r.registry().into(),
                    reason: "Bearer challenge without a realm".into(),
                })?;
                let key = TokenKey {
                    realm: realm.to_string(),
                    service: ch.param("service").unwrap_or("").to_string(),
                    scopes: scopes.clone(),
                };
                if !fresh {
                    if let Some(t) = self.tokens.get(&key) {
                        return Ok(Some(format!("Bearer {}", t.value)));
                    }
                }
                let token = self.fetch_token(r, &key, cred.as_ref()).await?;
                let value = format!("Bearer {}", token.value);
                self.tokens.insert(key, token);
                Ok(Some(value))
            }
            other => Err(Error::Auth {
                registry: r.registry().into(),
                reason: format!("unsupported challenge scheme {other:?}"),
            }),
        }
    }

    /// Ask the token server. User/password: Docker GET with Basic (then OAuth2 `password` POST if
    /// the server wants POST); identity token: OAuth2 `refresh_token` POST; nothing: anonymous GET.
    async fn fetch_token(
        &self,
        r: &Reference,
        key: &TokenKey,
        cred: Option<&Credential>,
    ) -> Result<crate::auth::Token> {
        let registry = r.registry().to_string();
        let auth_err = |reason: String| Error::Auth {
            registry: registry.clone(),
            reason,
        };
        let realm = Url::parse(&key.realm)
            .map_err(|e| auth_err(format!("token realm {:?} is not a URL: {e}", key.realm)))?;
        if !matches!(realm.scheme(), "http" | "https") {
            return Err(auth_err(format!(
                "token realm scheme {} is not http(s)",
                realm.scheme()
            )));
        }
        let post = |form: Vec<(&'static str, String)>| {
            let mut pairs = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &form {
                pairs.append_pair(k, v);
            }
            self.http
                .post(realm.clone())
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(pairs.finish())
        };
        let scope_str = key.scopes.0.join(" ");
        let oauth_base = |grant: &'static str| {
            vec![
                ("grant_type", grant.to_string()),
                ("service", key.service.clone()),
                ("scope", scope_str.clone()),
                ("client_id", "silo".to_string()),
            ]
        };
        let request = match cred {
            Some(Credential::IdentityToken { token, .. }) => {
                let mut f = oauth_base("refresh_token");
                f.push(("refresh_token", token.clone()));
                post(f)
            }
            _ => {
                let mut u = realm.clone();
                {
                    let mut q = u.query_pairs_mut();
                    if !key.service.is_empty() {
                        q.append_pair("service", &key.service);
                    }
                    for s in &key.scopes.0 {
                        q.append_pair("scope", s);
                    }
                    if let Some(Credential::Basic { username, .. }) = cred {
                        q.append_pair("account", username);
                    }
                }
                let mut b = self.http.get(u);
                if let Some(Credential::Basic { username, password }) = cred {
                    b = b.header(AUTHORIZATION, basic_header(username, password));
                }
                b
            }
        };
        let shown = display_url(&realm);
        let mut resp = request.send().await.map_err(|e| Error::Connect {
            method: "token".into(),
            url: shown.clone(),
            source: e,
        })?;
        if matches!(resp.status().as_u16(), 404 | 405) {
            if let Some(Credential::Basic { username, password }) = cred {
                let mut f = oauth_base("password");
                f.push(("username", username.clone()));
                f.push(("password", password.clone()));
                resp = post(f).send().await.map_err(|e| Error::Connect {
                    method: "token POST".into(),
                    url: shown.clone(),
                    source: e,
                })?;
            }
        }
        let status = resp.status();
        if !status.is_success() {
            let detail = error_detail(resp).await;
            let hint = if status.as_u16() == 401 {
                " — check the credentials (silo login, --creds)"
            } else {
                ""
            };
            return Err(auth_err(format!(
                "token server {shown} answered HTTP {}{detail}{hint}",
                status.as_u16()
            )));
        }
        let body = read_limited(resp, 1 << 20)
            .await
            .map_err(|e| auth_err(format!("reading the token: {e}")))?;
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| auth_err(format!("token response is not JSON: {e}")))?;
        parsed
            .into_token()
            .ok_or_else(|| auth_err("token response has no token".into()))
    }

    /// Send a request to registry `r` with auth, retries and safe redirects. Returns the final
    /// response whatever its status (after retries); callers turn statuses into errors.
    pub(crate) async fn send(&self, r: &Reference, scopes: &Scopes, req: Req) -> Result<Response> {
        let host = self.host(r).await?;
        let mut challenge = host.challenge.clone();
        let mut scopes = scopes.clone();
        let mut attempt = 0;
        let mut fresh = false;
        let mut reauthed = false;
        loop {
            attempt += 1;
            let auth = self
                .authorization(r, &scopes, challenge.as_ref(), fresh)
                .await?;
            let body = match &req.body {
                Some(f) => Some(f().await?),
                None => None,
            };
            let result = self
                .send_following(
                    req.method.clone(),
                    req.url.clone(),
                    req.headers.clone(),
                    body,
                    auth,
                )
                .await;
            match result {
                Err(e) => {
                    if req.retry && attempt < self.cfg.max_attempts && retryable_error(&e) {
                        self.wait(attempt, None, &req.url).await;
                        continue;
                    }
                    return Err(Error::Connect {
                        method: req.method.to_string(),
                        url: display_url(&req.url),
                        source: e,
                    });
                }
                Ok(resp) => {
                    let status = resp.status();
                    let new_challenge = pick_challenge(resp.headers());
                    let scope_problem = new_challenge
                        .as_ref()
                        .is_some_and(|c| c.insufficient_scope());
                    if (status == StatusCode::UNAUTHORIZED
                        || (status == StatusCode::FORBIDDEN && scope_problem))
                        && !reauthed
                    {
                        reauthed = true;
                        fresh = true;
                        if let Some(c) = new_challenge {
                            if let Some(s) = c.param("scope") {
                                scopes = scopes.with(s);
                            }
                            challenge = Some(c);
                        }
                        if challenge.is_some() {
                            attempt -= 1;
                            continue;
                        }
                    }
                    if req.retry && retryable_status(status) && attempt < self.cfg.max_attempts {
                        self.wait(attempt, Some(&resp), &req.url).await;
                        continue;
                    }
                    return Ok(resp);
                }
            }
        }
    }

    /// One request, following redirects (GET/HEAD only) and dropping Authorization when the
    /// redirect leaves the original host.
    async fn send_following(
        &self,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Option<reqwest::Body>,
        auth: Option<String>,
    ) -> std::result::Result<Response, reqwest::Error> {
        let origin = (
            url.scheme().to_string(),
            url.host_str().map(String::from),
            url.port_or_known_default(),
        );
        let mut url = url;
        let mut body = body;
        for _ in 0..10 {
            let mut b = self
                .http
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            let same_host = (
                url.scheme().to_string(),
                url.host_str().map(String::from),
                url.port_or_known_default(),
            ) == origin;
            if let (Some(a), true) = (&auth, same_host) {
                b = b.header(AUTHORIZATION, a.as_str());
            }
            if let Some(bd) = body.take() {
                b = b.body(bd);
            }
            let resp = b.send().await?;
            if resp.status().is_redirection() && (method == Method::GET || method == Method::HEAD) {
                if let Some(next) = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| url.join(l).ok())
                {
                    if matches!(next.scheme(), "http" | "https") {
                        tracing::debug!(from = %display_url(&url), to = %display_url(&next), "redirect");
                        url = next;
                        continue;
                    }
                }
            }
            return Ok(resp);
        }
        // Too many redirects: send once more without following to surface the 3xx to the caller.
        self.http.request(method, url).headers(headers).send().await
    }

    /// Fetch a manifest by tag or digest, keeping its exact bytes.
    pub async fn get_manifest(&self, r: &Reference) -> Result<RawManifest> {
        self.get_manifest_ref(r, r.manifest_ref()).await
    }

    /// Fetch the manifest `reference` (tag or digest) of `r`'s repository.
    pub async fn get_manifest_ref(&self, r: &Reference, reference: &str) -> Result<RawManifest> {
        let url = self.repo_url(r, &format!("manifests/{reference}")).await?;
        let req =
            Req::new(Method::GET, url.clone()).header(reqwest::header::ACCEPT, manifest::ACCEPT);
        let resp = self.send(r, &Scopes::pull(r.repository()), req).await?;
        if !resp.status().is_success() {
            return Err(status_error(Method::GET, &url, resp).await);
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let shown = format!("{}@{reference}", r.name());
        let body = read_limited(resp, manifest::MAX_MANIFEST_BYTES as u64)
            .await
            .map_err(|e| Error::Manifest {
                reference: shown.clone(),
                reason: e,
            })?;
        let raw = RawManifest::from_bytes(&shown, body, content_type.as_deref())?;
        if reference.contains(':') {
            raw.verify(reference)?;
        } else if let Some(h) = header_digest.filter(|h| h.starts_with("sha256:")) {
            if h != raw.digest {
                return Err(Error::Manifest {
                    reference: shown,
                    reason: format!(
                        "Docker-Content-Digest says {h} but the body hashes to {}",
                        raw.digest
                    ),
                });
            }
        }
        Ok(raw)
    }

    /// Upload a manifest under a tag or digest. Returns the digest the registry reported.
    pub async fn put_manifest(
        &self,
        r: &Reference,
        reference: &str,
        raw: &RawManifest,
    ) -> Result<String> {
        let url = self.repo_url(r, &format!("manifests/{reference}")).await?;
        let bytes = bytes::Bytes::from(raw.bytes.clone());
        let mut req = Req::new(Method::PUT, url.clone())
            .header(reqwest::header::CONTENT_TYPE, &raw.media_type);
        req.body = Some(Arc::new(move || {
            let b = bytes.clone();
            Box::pin(async move { Ok(reqwest::Body::from(b)) })
        }));
        let resp = self
            .send(r, &Scopes::push(r.repository(), &[]), req)
            .await?;
        if !resp.status().is_success() {
            return Err(status_error(Method::PUT, &url, resp).await);
        }
        let digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(&raw.digest)
            .to_string();
        if digest != raw.digest {
            self.progress.note(&format!(
                "registry reports digest {digest} for manifest {}",
                raw.digest
            ));
        }
        Ok(digest)
    }

    /// HEAD a blob: its size when present.
    pub async fn blob_exists(
        &self,
        r: &Reference,
        scopes: &Scopes,
        digest: &str,
    ) -> Result<Option<u64>> {
        let url = self.repo_url(r, &format!("blobs/{digest}")).await?;
        let resp = self
            .send(r, scopes, Req::new(Method::HEAD, url.clone()))
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(Some(resp.content_length().unwrap_or(0))),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(status_error(Method::HEAD, &url, resp).await),
        }
    }

    /// List tags (following `Link` pagination).
    pub async fn list_tags(&self, r: &Reference) -> Result<Vec<String>> {
        let mut url = self.repo_url(r, "tags/list").await?;
        let mut tags = Vec::new();
        for _ in 0..1000 {
            let resp = self
                .send(
                    r,
                    &Scopes::pull(r.repository()),
                    Req::new(Method::GET, url.clone()),
                )
                .await?;
            if !resp.status().is_success() {
                return Err(status_error(Method::GET, &url, resp).await);
            }
            let next = resp
                .headers()
                .get("link")
                .and_then(|l| l.to_str().ok())
                .and_then(|l| {
                    let start = l.find('<')? + 1;
                    let end = l.find('>')?;
                    (l.contains("rel=\"next\"") && end > start).then(|| l[start..end].to_string())
                });
            let body = read_limited(resp, 16 << 20).await.map_err(Error::Other)?;
            #[derive(serde::Deserialize)]
            struct Tags {
                tags: Option<Vec<String>>,
            }
            let t: Tags = serde_json::from_slice(&body)
                .map_err(|e| Error::Other(format!("tag list of {r} is not JSON: {e}")))?;
            tags.extend(t.tags.unwrap_or_default());
            match next.and_then(|n| url.join(&n).ok()) {
                Some(n) => url = n,
                None => break,
            }
        }
        Ok(tags)
    }

    /// Check that credentials work for `registry` (for `silo login`): ping and authenticate.
    pub async fn check_login(&self, registry_ref: &Reference) -> Result<()> {
        let host = self.host(registry_ref).await?;
        let Some(ch) = host.challenge else {
            return Ok(());
        };
        let url = self.base(registry_ref).await?.join("v2/").expect("static");
        let auth = self
            .authorization(registry_ref, &Scopes::default(), Some(&ch), true)
            .await?;
        let mut b = self.http.get(url.clone());
        if let Some(a) = auth {
            b = b.header(AUTHORIZATION, a);
        }
        let resp = b.send().await.map_err(|e| Error::Connect {
            method: "GET".into(),
            url: display_url(&url),
            source: e,
        })?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(Error::Auth {
                registry: registry_ref.registry().into(),
                reason: format!(
                    "GET /v2/ answered HTTP {} with these credentials",
                    resp.status().as_u16()
                ),
            })
        }
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

fn basic_header(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

/// Prefer a Bearer challenge, else Basic.
fn pick_challenge(headers: &HeaderMap) -> Option<Challenge> {
    let all: Vec<Challenge> = headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_challenges)
        .collect();
    all.iter()
        .find(|c| c.scheme == "bearer")
        .or_else(|| all.iter().find(|c| c.scheme == "basic"))
        .cloned()
}

pub(crate) fn backoff(base: Duration, attempt: u32) -> Duration {
    (base * 2u32.saturating_pow(attempt.saturating_sub(1).min(10))).min(Duration::from_secs(30))
}

pub(crate) fn retryable_status(s: StatusCode) -> bool {
    matches!(s.as_u16(), 408 | 429 | 499 | 500 | 502 | 503 | 504 | 522)
}

pub(crate) fn retryable_error(e: &reqwest::Error) -> bool {
    !is_tls_or_protocol(e) && (e.is_connect() || e.is_timeout() || e.is_request() || e.is_body())
}

/// TLS failures (bad certificate, HTTP spoken to an HTTPS port) never get better by retrying.
fn is_tls_or_protocol(e: &reqwest::Error) -> bool {
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        let text = s.to_string().to_ascii_lowercase();
        if text.contains("certificate")
            || text.contains("tls")
            || text.contains("invalidcontenttype")
            || text.contains("corrupt message")
        {
            return true;
        }
        src = s.source();
    }
    false
}

/// Read a body up to `limit` bytes (never trust Content-Length for allocation).
pub(crate) async fn read_limited(
    resp: Response,
    limit: u64,
) -> std::result::Result<Vec<u8>, String> {
    if resp.content_length().is_some_and(|l| l > limit) {
        return Err(format!(
            "body of {} bytes is over the {limit}-byte limit",
            resp.content_length().unwrap_or(0)
        ));
    }
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("reading the body: {e}"))?;
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(format!("body is over the {limit}-byte limit"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// `: CODE message` from a registry error body, or the first line of a text body.
pub(crate) async fn error_detail(resp: Response) -> String {
    let body = read_limited(resp, 64 << 10).await.unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<E>,
    }
    #[derive(serde::Deserialize)]
    struct E {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
        #[serde(default)]
        detail: serde_json::Value,
    }
    if let Ok(e) = serde_json::from_slice::<Errors>(&body) {
        let parts: Vec<String> = e
            .errors
            .iter()
            .map(|e| {
                let mut s = format!("{} {}", e.code, e.message).trim().to_string();
                if !e.detail.is_null() {
                    let d = e.detail.to_string();
                    s.push_str(&format!(" (detail: {})", &d[..d.len().min(300)]));
                }
                s
            })
            .collect();
        if !parts.is_empty() {
            return format!(": {}", parts.join("; "));
        }
    }
    let text = String::from_utf8_lossy(&body);
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        String::new()
    } else {
        format!(": {}", &line[..line.len().min(200)])
    }
}

/// Turn a non-success response into an error with the registry's message.
pub(crate) async fn status_error(method: Method, url: &Url, resp: Response) -> Error {
    let status = resp.status().as_u16();
    let mut detail = error_detail(resp).await;
    if status == 401 || status == 403 {
        detail.push_str(" — check credentials (silo login, --creds) and that the account may access this repository");
    }
    Error::Status {
        method: method.to_string(),
        url: display_url(url),
        status,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let b = Duration::from_millis(500);
        assert_eq!(backoff(b, 1), Duration::from_millis(500));
        assert_eq!(backoff(b, 3), Duration::from_secs(2));
        assert_eq!(backoff(b, 50), Duration::from_secs(30));
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(retryable_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [400, 401, 403, 404, 416] {
            assert!(!retryable_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.9.9.9",
            "[::1]:5000",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "registry.example:5000",
            "10.0.0.1",
            "localhost.example.com",
            "[fd00::1]:5000",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn prefers_bearer() {
        let mut h = HeaderMap::new();
        h.append(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=x"));
        h.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"https://t\""),
        );
        assert_eq!(pick_challenge(&h).unwrap().scheme, "bearer");
    }

    /// (path, Authorization header) of each request a test server received.
    type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

    /// A tiny HTTP/1.1 server: answers each request with `respond(path, head)` — `head` is the
    /// request line, the headers and then the body — and records (path, Authorization header) of
    /// every request.
    fn serve(respond: impl Fn(&str, &str) -> String + Send + 'static) -> (u16, Seen) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut auth = None;
                let mut head = line.clone();
                let mut body_len = 0usize;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    let lower = h.to_ascii_lowercase();
                    if lower.starts_with("authorization:") {
                        auth = Some(h["authorization:".len()..].trim().to_string());
                    }
                    if let Some(n) = lower.strip_prefix("content-length:") {
                        body_len = n.trim().parse().unwrap_or(0);
                    }
                    head.push_str(&h);
                }
                let mut body = vec![0u8; body_len.min(1 << 16)];
                if std::io::Read::read_exact(&mut reader, &mut body).is_ok() {
                    head.push_str(&String::from_utf8_lossy(&body));
                }
                log.lock().unwrap().push((path.clone(), auth));
                let mut s = stream;
                let _ = s.write_all(respond(&path, &head).as_bytes());
            }
        });
        (port, seen)
    }

    #[tokio::test]
    async fn redirects_never_carry_authorization_to_another_host() {
        let (cdn, cdn_seen) = serve(|_, _| {
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".to_string()
        });
        let (reg, reg_seen) = serve(move |path, head| {
            let authed = head.to_ascii_lowercase().contains("authorization: basic");
            if !authed {
                return "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"r\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string();
            }
            if path == "/v2/" {
                return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string();
            }
            format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: http://localhost:{cdn}/blob?sig=x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        });
        let registry = format!("127.0.0.1:{reg}");
        let creds = DefaultCredentials::new(CredentialEnv::default()).with_explicit(
            &registry,
            Credential::Basic {
                username: "u".into(),
                password: "SECRET".into(),
            },
        );
        let client = Client::new(
            ClientConfig::default(),
            Arc::new(creds),
            Arc::new(crate::transfer::NoProgress),
        )
        .unwrap();
        let r = Reference::parse(&format!("{registry}/a/b:t")).unwrap();
        let blob = crate::manifest::BlobRef {
            digest: crate::manifest::sha256_digest(b"hello"),
            size: 5,
            media_type: "x".into(),
            urls: vec![],
        };
        let body = client.fetch_small(&r, &blob, 100).await.unwrap();
        assert_eq!(body, b"hello");
        let reg_seen = reg_seen.lock().unwrap().clone();
        assert!(
            reg_seen
                .iter()
                .any(|(p, a)| p.contains("/blobs/") && a.is_some()),
            "{reg_seen:?}"
        );
        let cdn_seen = cdn_seen.lock().unwrap().clone();
        assert_eq!(cdn_seen.len(), 1);
        assert_eq!(
            cdn_seen[0].1, None,
            "Authorization leaked to the redirect target"
        );
    }

    fn reply(status: &str, extra: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    /// A token server that offers only OAuth2 POST (GET answers 405, as some do): the client
    /// falls back to `grant_type=password`; a later 401 `insufficient_scope` on a request that
    /// carried the token makes it authenticate again once and retry.
    #[tokio::test]
    async fn oauth2_password_post_and_reauth_on_insufficient_scope() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let issued = Arc::new(AtomicUsize::new(0));
        let count = issued.clone();
        let (tokens, token_seen) = serve(move |_, head| {
            if head.starts_with("GET ") {
                return reply("405 Method Not Allowed", "", "");
            }
            let ok = head.contains("grant_type=password")
                && head.contains("username=u")
                && head.contains("password=SECRET");
            if !ok {
                return reply("401 Unauthorized", "", "{}");
            }
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            reply(
                "200 OK",
                "Content-Type: application/json\r\n",
                &format!("{{\"access_token\":\"tok{n}\",\"expires_in\":300}}"),
            )
        });
        let challenge = format!(
            "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{tokens}/token\",service=\"reg\""
        );
        let refused_once = Arc::new(AtomicUsize::new(0));
        let (reg, reg_seen) = serve(move |path, head| {
            let bearer = head
                .to_ascii_lowercase()
                .contains("authorization: bearer tok");
            if !bearer {
                return reply("401 Unauthorized", &format!("{challenge}\r\n"), "");
            }
            if path.contains("/blobs/") && refused_once.fetch_add(1, Ordering::SeqCst) == 0 {
                return reply(
                    "401 Unauthorized",
                    &format!("{challenge},scope=\"repository:a/b:pull\",error=\"insufficient_scope\"\r\n"),
                    "",
                );
            }
            if path == "/v2/" {
                return reply("200 OK", "", "");
            }
            reply("200 OK", "", "hello")
        });
        let registry = format!("127.0.0.1:{reg}");
        let creds = DefaultCredentials::new(CredentialEnv::default()).with_explicit(
            &registry,
            Credential::Basic {
                username: "u".into(),
                password: "SECRET".into(),
            },
        );
        let client = Client::new(
            ClientConfig::default(),
            Arc::new(creds),
            Arc::new(crate::transfer::NoProgress),
        )
        .unwrap();
        let r = Reference::parse(&format!("{registry}/a/b:t")).unwrap();
        let blob = crate::manifest::BlobRef {
            digest: crate::manifest::sha256_digest(b"hello"),
            size: 5,
            media_type: "x".into(),
            urls: vec![],
        };
        let body = client.fetch_small(&r, &blob, 100).await.unwrap();
        assert_eq!(body, b"hello");
        let seen = token_seen.lock().unwrap().clone();
        assert!(
            seen.iter().all(|(p, _)| p.starts_with("/token")),
            "{seen:?}"
        );
        // The blob GET: refused with the first token, retried once with a newly issued one.
        let blob_auths: Vec<String> = reg_seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p.contains("/blobs/"))
            .filter_map(|(_, a)| a.clone())
            .collect();
        assert_eq!(blob_auths.len(), 2, "{blob_auths:?}");
        assert_ne!(
            blob_auths[0], blob_auths[1],
            "the retry reused the refused token"
        );
        assert!(issued.load(Ordering::SeqCst) >= 2);
    }

    /// A server that ignores `Range` (answers 200 with the whole body): a blob big enough for
    /// parallel ranges is fetched as one stream instead, and verified.
    #[tokio::test]
    async fn ranges_fall_back_to_one_stream_when_range_is_ignored() {
        use crate::transfer::BlobSink as _;
        let body = "silo".repeat(75 * 1024); // 300 KiB
        let digest = crate::manifest::sha256_digest(body.as_bytes());
        let served = body.clone();
        let ranged = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let asked = ranged.clone();
        let (reg, seen) = serve(move |path, head| {
            if path == "/v2/" {
                return reply("200 OK", "", "");
            }
            if head.to_ascii_lowercase().contains("\nrange: bytes=") {
                asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            reply("200 OK", "", &served)
        });
        let cfg = ClientConfig {
            range_threshold: 1024,
            range_part: 64 * 1024,
            range_connections: 4,
            ranges_on_loopback: true,
            ..ClientConfig::default()
        };
        let client = Client::new(
            cfg,
            Arc::new(DefaultCredentials::new(CredentialEnv::default())),
            Arc::new(crate::transfer::NoProgress),
        )
        .unwrap();
        let r = Reference::parse(&format!("127.0.0.1:{reg}/a/b:t")).unwrap();
        let blob = crate::manifest::BlobRef {
            digest: digest.clone(),
            size: body.len() as u64,
            media_type: "x".into(),
            urls: vec![],
        };
        let dir = tempfile::tempdir().unwrap();
        let sink = Arc::new(crate::blobdir::BlobDir::new(dir.path()));
        client.fetch_blob(&r, &blob, sink.clone()).await.unwrap();
        assert!(sink.contains(&digest).unwrap());
        let gets = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p.contains("/blobs/"))
            .count();
        assert!(
            gets <= 2,
            "expected a probe and one stream, saw {gets} blob requests"
        );
        assert_eq!(
            ranged.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "one range probe, then no ranged parts"
        );
    }
}
