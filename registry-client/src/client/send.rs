//! One request to a registry: authorization, retries with backoff (connection errors, 408, 429
//! with `Retry-After`, 5xx), redirects followed by hand so `Authorization` never reaches another
//! host; reading bodies with a limit and turning error statuses into errors.

use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{HeaderMap, AUTHORIZATION, LOCATION};
use reqwest::{Method, Response, StatusCode};
use url::Url;

use super::authorize::pick_challenge;
use super::{Client, Req};
use crate::auth::Scopes;
use crate::error::{display_url, Error, Result};
use crate::reference::Reference;

impl Client {
    pub(super) async fn wait(&self, attempt: u32, resp: Option<&Response>, url: &Url) {
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
                .http_for(&url)
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
        self.http_for(&url)
            .request(method, url)
            .headers(headers)
            .send()
            .await
    }
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
pub(super) fn is_tls_or_protocol(e: &reqwest::Error) -> bool {
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
