//! The registry API calls built on `send`: manifests (get, put, delete), blob existence, tag
//! lists, the catalog and the login check.

use std::sync::Arc;

use reqwest::header::AUTHORIZATION;
use reqwest::{Method, StatusCode};

use super::{read_limited, status_error, Client, Req};
use crate::auth::Scopes;
use crate::error::{display_url, Error, Result};
use crate::manifest::{self, RawManifest};
use crate::reference::Reference;

impl Client {
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
        let url = self.repo_url(r, "tags/list").await?;
        self.paged_names(r, &Scopes::pull(r.repository()), url, "tags")
            .await
    }

    /// The repositories of `r`'s registry (`GET /v2/_catalog`, following `Link` pagination);
    /// only `r`'s registry is used. Registries that do not offer the catalog answer with their
    /// error (Docker Hub: 401/404).
    pub async fn catalog(&self, r: &Reference) -> Result<Vec<String>> {
        let url = self.base(r).await?.join("v2/_catalog").expect("static");
        let scopes = Scopes(vec!["registry:catalog:*".into()]);
        self.paged_names(r, &scopes, url, "repositories").await
    }

    /// The strings of `field` in a paged JSON list (`{"tags": […]}`, `{"repositories": […]}`),
    /// following `Link: <…>; rel="next"` up to 1,000 pages.
    async fn paged_names(
        &self,
        r: &Reference,
        scopes: &Scopes,
        mut url: reqwest::Url,
        field: &str,
    ) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for _ in 0..1000 {
            let resp = self
                .send(r, scopes, Req::new(Method::GET, url.clone()))
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
            let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
                Error::Other(format!(
                    "{field} list of {} is not JSON: {e}",
                    display_url(&url)
                ))
            })?;
            if let Some(list) = v.get(field).and_then(|l| l.as_array()) {
                names.extend(list.iter().filter_map(|n| n.as_str().map(String::from)));
            }
            match next.and_then(|n| url.join(&n).ok()) {
                Some(n) => url = n,
                None => break,
            }
        }
        Ok(names)
    }

    /// Deletes the manifest `digest` of `r`'s repository (`DELETE /v2/<name>/manifests/<digest>`:
    /// every tag pointing at it goes with it, as on any registry). A registry that does not allow
    /// deletes answers with its error (distribution: 405 UNSUPPORTED), which is returned as it is.
    pub async fn delete_manifest(&self, r: &Reference, digest: &str) -> Result<()> {
        let url = self.repo_url(r, &format!("manifests/{digest}")).await?;
        let scopes = Scopes(vec![format!("repository:{}:delete", r.repository())]);
        let resp = self
            .send(r, &scopes, Req::new(Method::DELETE, url.clone()))
            .await?;
        if !resp.status().is_success() {
            return Err(status_error(Method::DELETE, &url, resp).await);
        }
        Ok(())
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
        let mut b = self.http_for(&url).get(url.clone());
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
