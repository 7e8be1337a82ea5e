//! The pull engine: resolve a reference (choosing a platform from an index), then fetch config and
//! layers into a [`BlobSink`] — largest first, `concurrency` at once; big blobs as parallel ranges
//! (falling back to one stream when the server ignores `Range`); a dropped or stalled stream resumes
//! with `Range: bytes=<n>-` and keeps its hash state; a `.partial` left by an earlier run is resumed.
//! The digest is verified before [`PartialBlob::commit`] makes a blob visible. Foreign layers are
//! fetched from the registry first, then from each of their `urls` (http/https, no credentials,
//! private addresses refused unless allowed).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use futures::{StreamExt, TryStreamExt};
use oci_spec::image::{Digest, DigestAlgorithm};
use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256, Sha512};
use url::Url;

use crate::auth::Scopes;
use crate::client::{backoff, status_error, Client, Req};
use crate::error::{display_url, Error, Result};
use crate::manifest::{blobs_of, BlobRef, RawManifest};
use crate::platform::{leaf_entries, select_entries, PlatformRequest, Selection};
use crate::reference::Reference;
use crate::transfer::{BlobOutcome, BlobSink, PartialBlob};
use crate::walk::{walk, Follow, RegistryManifests};

/// A resolved image: the manifest the reference names, and the platform manifest chosen from it.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub reference: Reference,
    /// What the tag/digest points at (an index or a manifest).
    pub root: RawManifest,
    /// The image manifest (the root itself when it is not an index).
    pub manifest: RawManifest,
    /// The platform choice, when the root is an index (over the entries of nested indexes
    /// flattened in order).
    pub selection: Option<Selection>,
    /// The chosen entry's `platform` object exactly as its index has it (keeps `os.version`).
    pub chosen_platform: Option<serde_json::Value>,
}

/// Hash state for either supported algorithm.
#[derive(Clone)]
enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    fn for_digest(digest: &Digest) -> Result<Self> {
        match digest.algorithm() {
            DigestAlgorithm::Sha256 => Ok(Hasher::Sha256(Sha256::new())),
            DigestAlgorithm::Sha512 => Ok(Hasher::Sha512(Sha512::new())),
            _ => Err(Error::Other(format!(
                "digest {digest}: unsupported algorithm"
            ))),
        }
    }
    fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(b),
            Hasher::Sha512(h) => h.update(b),
        }
    }
    fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => format!("sha256:{}", hex::encode(h.finalize())),
            Hasher::Sha512(h) => format!("sha512:{}", hex::encode(h.finalize())),
        }
    }
}

/// `actual` (what [`Hasher::finish`] gave) against the digest the blob was asked for.
fn check_digest(expected: &Digest, actual: String) -> Result<()> {
    if actual == expected.as_ref() {
        return Ok(());
    }
    Err(Error::DigestMismatch {
        digest: expected.clone(),
        actual,
    })
}

/// Where a blob's bytes come from.
#[derive(Debug, Clone)]
enum Origin {
    Registry(Reference),
    /// A foreign-layer URL, fetched without credentials.
    Url(Url),
}

/// How a range request went.
enum RangeOutcome {
    Done,
    /// The server answered 200 to a ranged request (single-stream resume must restart).
    RangeIgnored,
}

/// The saved state of a ranged download: part size and which parts are complete.
#[derive(serde::Serialize, serde::Deserialize)]
struct RangeMap {
    size: u64,
    part: u64,
    done: Vec<bool>,
}

impl Client {
    /// Fetch the root manifest and, for an index, the manifest chosen for `want`. Entries that are
    /// indexes themselves are opened (down to [`crate::manifest::MAX_INDEX_DEPTH`] levels) and their entries take
    /// part in the selection in their place.
    pub async fn resolve(&self, r: &Reference, want: &PlatformRequest) -> Result<Resolved> {
        let root = self.get_manifest(r).await?;
        if !root.is_index() {
            return Ok(Resolved {
                reference: r.clone(),
                manifest: root.clone(),
                root,
                selection: None,
                chosen_platform: None,
            });
        }
        // The nested indexes only: selection sees every leaf entry; just the chosen manifest is read.
        let nested = walk(&self.manifests(r), &root, Follow::Indexes).await?;
        let leaves = leaf_entries(&root, &r.to_string(), &|d| nested.get(d))?;
        let flat: Vec<_> = leaves
            .iter()
            .map(|l| (l.digest.clone(), l.platform.clone()))
            .collect();
        let selection = select_entries(&flat, want);
        let Some(chosen) = selection.chosen else {
            return Err(Error::NoMatchingPlatform {
                reference: r.to_string(),
                wanted: want.to_string(),
                reasons: selection.explain(),
            });
        };
        let leaf = &leaves[chosen];
        let manifest = self.get_manifest_ref(r, &leaf.digest).await?;
        if manifest.is_index() {
            // Its descriptor did not say so (no mediaType); selection cannot look inside it now.
            return Err(Error::Manifest {
                reference: format!("{}@{}", r.name(), leaf.digest),
                reason: "the chosen entry is an index although its descriptor has no index mediaType; pull it by digest".into(),
            });
        }
        Ok(Resolved {
            reference: r.clone(),
            root,
            manifest,
            chosen_platform: leaf.platform_json.clone(),
            selection: Some(selection),
        })
    }

    /// Every manifest below `root` — children, and the children of nested indexes down to
    /// [`crate::manifest::MAX_INDEX_DEPTH`] levels — keyed by digest.
    pub async fn manifest_tree(
        &self,
        r: &Reference,
        root: &RawManifest,
    ) -> Result<HashMap<String, RawManifest>> {
        walk(&self.manifests(r), root, Follow::All).await
    }

    /// The manifests of `r`'s repository, for [`walk`].
    pub fn manifests<'a>(&'a self, r: &'a Reference) -> RegistryManifests<'a> {
        RegistryManifests {
            client: self,
            reference: r,
        }
    }

    /// Fetch a small blob (a config) fully into memory, verified.
    pub async fn fetch_small(&self, r: &Reference, blob: &BlobRef, limit: u64) -> Result<Vec<u8>> {
        if blob.size > limit {
            return Err(Error::Other(format!(
                "blob {} is {} bytes, over the {limit}-byte limit for configs",
                blob.digest, blob.size
            )));
        }
        let url = self.repo_url(r, &format!("blobs/{}", blob.digest)).await?;
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
        let body = crate::client::read_limited(resp, limit)
            .await
            .map_err(|e| Error::Other(format!("blob {}: {e}", blob.digest)))?;
        let mut h = Hasher::for_digest(&blob.digest)?;
        h.update(&body);
        let actual = h.finish();
        check_digest(&blob.digest, actual)?;
        Ok(body)
    }

    /// Pull the image: manifest, config and layers into `sink`. Foreign layers are fetched too
    /// (so local copies are complete). Returns what was resolved.
    pub async fn pull(
        &self,
        r: &Reference,
        want: &PlatformRequest,
        sink: Arc<dyn BlobSink>,
    ) -> Result<Resolved> {
        let resolved = self.resolve(r, want).await?;
        self.pull_resolved(&resolved, sink).await?;
        Ok(resolved)
    }

    /// Fetch the blobs of an already resolved image and store its manifest(s).
    pub async fn pull_resolved(&self, resolved: &Resolved, sink: Arc<dyn BlobSink>) -> Result<()> {
        let image = resolved.manifest.image()?;
        let (config, mut layers) = blobs_of(&image);
        layers.push(config);
        // Largest first: the long poles start early; duplicates are fetched once.
        layers.sort_by_key(|b| std::cmp::Reverse(b.size));
        layers.dedup_by(|a, b| a.digest == b.digest);
        let r = &resolved.reference;
        futures::stream::iter(layers.iter().map(|b| self.fetch_blob(r, b, sink.clone())))
            .buffer_unordered(self.cfg.concurrency.max(1))
            .try_collect::<Vec<_>>()
            .await?;
        let m = &resolved.manifest;
        sink.put_verified(&m.blob_ref()?, &m.bytes)
            .map_err(|e| Error::io(format!("storing manifest {}", m.digest), e))?;
        Ok(())
    }

    /// Pull every platform of `r` (the whole index, nested indexes included down to
    /// [`crate::manifest::MAX_INDEX_DEPTH`]) into `sink`, then store the index manifests, the root last. Returns the
    /// root.
    pub async fn pull_all(&self, r: &Reference, sink: Arc<dyn BlobSink>) -> Result<RawManifest> {
        let root = self.get_manifest(r).await?;
        let tree = self.manifest_tree(r, &root).await?;
        let mut indexes = Vec::new();
        for manifest in tree.values().chain(std::iter::once(&root)) {
            if manifest.is_index() {
                indexes.push(manifest);
                continue;
            }
            let resolved = Resolved {
                reference: r.clone(),
                root: root.clone(),
                manifest: manifest.clone(),
                selection: None,
                chosen_platform: None,
            };
            self.pull_resolved(&resolved, sink.clone()).await?;
        }
        // Inner indexes before the root, so a visible root never names a missing manifest.
        indexes.sort_by_key(|m| m.digest == root.digest);
        for m in indexes {
            sink.put_verified(&m.blob_ref()?, &m.bytes)
                .map_err(|e| Error::io(format!("storing manifest {}", m.digest), e))?;
        }
        Ok(root)
    }

    /// Fetch one blob into `sink`, verified. Already present blobs are skipped.
    pub async fn fetch_blob(
        &self,
        r: &Reference,
        blob: &BlobRef,
        sink: Arc<dyn BlobSink>,
    ) -> Result<()> {
        let ctx = |what: &str| format!("{what} blob {}", blob.digest);
        if sink
            .contains(&blob.digest)
            .map_err(|e| Error::io(ctx("checking"), e))?
        {
            self.progress
                .blob_finished(&blob.digest, BlobOutcome::Present);
            return Ok(());
        }
        let part: Arc<Box<dyn PartialBlob>> =
            Arc::new(sink.begin(blob).map_err(|e| Error::io(ctx("opening"), e))?);
        let mut result = self
            .download(&Origin::Registry(r.clone()), blob, &part)
            .await;
        if blob.is_foreign() || !blob.urls.is_empty() {
            if let Err(e) = &result {
                if !matches!(e, Error::DigestMismatch { .. }) && !blob.urls.is_empty() {
                    self.progress.note(&format!(
                        "{}: not served by the registry ({e}); trying its urls",
                        blob.digest
                    ));
                    result = self.download_foreign(blob, &part).await;
                }
            }
        }
        let part = Arc::try_unwrap(part)
            .map_err(|_| Error::Other(ctx("internal: partial still shared for")))?;
        match result {
            Ok(()) => {
                part.commit().map_err(|e| Error::io(ctx("committing"), e))?;
                self.progress
                    .blob_finished(&blob.digest, BlobOutcome::Downloaded);
                Ok(())
            }
            Err(e @ (Error::DigestMismatch { .. } | Error::SizeMismatch { .. })) => {
                let _ = part.discard();
                Err(e)
            }
            Err(e) => Err(e), // the partial stays for a resume
        }
    }

    async fn download_foreign(
        &self,
        blob: &BlobRef,
        part: &Arc<Box<dyn PartialBlob>>,
    ) -> Result<()> {
        let mut last = Error::Foreign {
            digest: blob.digest.clone(),
            reason: "no usable url".into(),
        };
        for u in &blob.urls {
            match self.check_foreign_url(&blob.digest, u).await {
                Ok(url) => match self.download(&Origin::Url(url), blob, part).await {
                    Ok(()) => return Ok(()),
                    Err(e @ Error::DigestMismatch { .. }) => return Err(e),
                    Err(e) => {
                        self.progress.note(&format!("{}: {e}", blob.digest));
                        last = e;
                    }
                },
                Err(e) => {
                    self.progress.note(&e.to_string());
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// Open a foreign layer from the first of its `urls` that answers (for copies): checked like
    /// a pull (http/https, no credentials, private addresses refused unless allowed).
    pub(crate) async fn open_foreign(
        &self,
        blob: &BlobRef,
        offset: u64,
    ) -> Result<reqwest::Response> {
        let mut last = Error::Foreign {
            digest: blob.digest.clone(),
            reason: "has no urls".into(),
        };
        for u in &blob.urls {
            let url = match self.check_foreign_url(&blob.digest, u).await {
                Ok(url) => url,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            match self
                .get_range(&Origin::Url(url.clone()), blob, offset, None)
                .await
            {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    last = Error::Foreign {
                        digest: blob.digest.clone(),
                        reason: status_error(Method::GET, &url, resp).await.to_string(),
                    };
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// A foreign URL must be http(s) and (unless allowed) not resolve to a private address.
    async fn check_foreign_url(&self, digest: &Digest, u: &str) -> Result<Url> {
        let bad = |reason: String| Error::Foreign {
            digest: digest.clone(),
            reason,
        };
        let url = Url::parse(u).map_err(|e| bad(format!("url {u:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(format!("url scheme {} is not http(s)", url.scheme())));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("urls with credentials are refused".into()));
        }
        if !self.cfg.allow_private_urls {
            let host = url
                .host_str()
                .ok_or_else(|| bad(format!("url {} has no host", display_url(&url))))?;
            let port = url.port_or_known_default().unwrap_or(443);
            let addrs: Vec<IpAddr> = match host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                Ok(ip) => vec![ip],
                Err(_) => tokio::net::lookup_host((host, port))
                    .await
                    .map_err(|e| bad(format!("resolving {host}: {e}")))?
                    .map(|a| a.ip())
                    .collect(),
            };
            if let Some(ip) = addrs.iter().find(|ip| is_private(ip)) {
                return Err(bad(format!(
                    "url {} resolves to the private/loopback address {ip}; refused (allow with --allow-nondistributable-from-private or SILO_ALLOW_PRIVATE_URLS=1)",
                    display_url(&url)
                )));
            }
        }
        Ok(url)
    }

    /// GET a range from an origin. Registry requests carry auth; URLs never do.
    async fn get_range(
        &self,
        origin: &Origin,
        blob: &BlobRef,
        start: u64,
        end: Option<u64>,
    ) -> Result<reqwest::Response> {
        let range = match (start, end) {
            (0, None) => None,
            (s, None) => Some(format!("bytes={s}-")),
            (s, Some(e)) => Some(format!("bytes={s}-{}", e - 1)),
        };
        match origin {
            Origin::Registry(r) => {
                let url = self.repo_url(r, &format!("blobs/{}", blob.digest)).await?;
                let mut req = Req::new(Method::GET, url);
                if let Some(rg) = &range {
                    req = req.header(reqwest::header::RANGE, rg);
                }
                self.send(r, &Scopes::pull(r.repository()), req).await
            }
            Origin::Url(url) => {
                // Foreign URLs: no credentials, redirects followed only to http(s) public hosts.
                let mut url = url.clone();
                for _ in 0..10 {
                    let mut b = self.http.get(url.clone());
                    if let Some(rg) = &range {
                        b = b.header(reqwest::header::RANGE, rg);
                    }
                    let resp = b.send().await.map_err(|e| Error::Connect {
                        method: "GET".into(),
                        url: display_url(&url),
                        source: e,
                    })?;
                    if resp.status().is_redirection() {
                        if let Some(next) = resp
                            .headers()
                            .get(reqwest::header::LOCATION)
                            .and_then(|l| l.to_str().ok())
                            .and_then(|l| url.join(l).ok())
                        {
                            url = self.check_foreign_url(&blob.digest, next.as_str()).await?;
                            continue;
                        }
                    }
                    return Ok(resp);
                }
                Err(Error::Foreign {
                    digest: blob.digest.clone(),
                    reason: "too many redirects".into(),
                })
            }
        }
    }

    /// Download a whole blob from `origin` into `part` and verify it.
    async fn download(
        &self,
        origin: &Origin,
        blob: &BlobRef,
        part: &Arc<Box<dyn PartialBlob>>,
    ) -> Result<()> {
        let io =
            |what: &str, e: std::io::Error| Error::io(format!("{what} blob {}", blob.digest), e);
        let loopback = match origin {
            Origin::Registry(r) => crate::client::is_loopback_host(r.api_host()),
            Origin::Url(u) => u.host_str().is_some_and(crate::client::is_loopback_host),
        };
        let use_ranges = blob.size >= self.cfg.range_threshold
            && self.cfg.range_connections > 1
            && blob.size > self.cfg.range_part
            && (self.cfg.ranges_on_loopback || !loopback);
        if use_ranges && self.ranged(origin, blob, part).await? {
            return self.verify_file(blob, part).await;
        }
        // Single stream. A leftover range map means the partial has holes: start over.
        if part
            .state()
            .map_err(|e| io("reading state of", e))?
            .is_some()
        {
            part.truncate(0).map_err(|e| io("truncating", e))?;
            part.save_state(None)
                .map_err(|e| io("clearing state of", e))?;
        }
        let mut have = part.len().map_err(|e| io("reading", e))?;
        if have > blob.size {
            part.truncate(0).map_err(|e| io("truncating", e))?;
            have = 0;
        }
        let mut hasher = Hasher::for_digest(&blob.digest)?;
        // Re-hash what an earlier run left (fast: ~1.7 GB/s with SHA-NI).
        let mut buf = vec![0u8; 1 << 20];
        let mut pos = 0;
        while pos < have {
            let n = part
                .read_at(pos, &mut buf[..((have - pos) as usize).min(1 << 20)])
                .map_err(|e| io("re-reading", e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            pos += n as u64;
        }
        have = pos;
        self.progress.blob_started(&blob.digest, blob.size, have);
        if have > 0 {
            self.progress.note(&format!(
                "{}: resuming at byte {have} of {}",
                blob.digest, blob.size
            ));
        }
        loop {
            match self
                .copy_range(origin, blob, part, have, blob.size, Some(&mut hasher))
                .await?
            {
                RangeOutcome::Done => break,
                RangeOutcome::RangeIgnored => {
                    // The server sent the whole blob: start again from zero.
                    part.truncate(0).map_err(|e| io("truncating", e))?;
                    hasher = Hasher::for_digest(&blob.digest)?;
                    self.progress.blob_rewind(&blob.digest, 0);
                    have = 0;
                }
            }
        }
        let actual = hasher.finish();
        check_digest(&blob.digest, actual)?;
        Ok(())
    }

    /// Copy bytes `[start, end)` of a blob into `part`, resuming after drops and stalls. With a
    /// hasher, bytes are hashed in order (single stream).
    async fn copy_range(
        &self,
        origin: &Origin,
        blob: &BlobRef,
        part: &Arc<Box<dyn PartialBlob>>,
        start: u64,
        end: u64,
        mut hasher: Option<&mut Hasher>,
    ) -> Result<RangeOutcome> {
        let mut pos = start;
        let mut failures = 0u32;
        // One stream to the end asks `bytes=<pos>-` (nothing at 0); a part asks its exact range.
        let req_end = if hasher.is_some() && end == blob.size {
            None
        } else {
            Some(end)
        };
        loop {
            if pos >= end {
                return Ok(RangeOutcome::Done);
            }
            let ranged = pos > 0 || req_end.is_some();
            let resp = match self.get_range(origin, blob, pos, req_end).await {
                Ok(r) => r,
                Err(e @ Error::Connect { .. }) if failures + 1 < self.cfg.max_attempts => {
                    failures += 1;
                    self.progress
                        .note(&format!("{}: {e}; retrying", blob.digest));
                    tokio::time::sleep(backoff(self.cfg.backoff, failures)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let status = resp.status();
            let url = resp.url().clone();
            if status == StatusCode::PARTIAL_CONTENT {
                let cr = resp
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let got_start = cr
                    .strip_prefix("bytes ")
                    .and_then(|s| s.split('-').next())
                    .and_then(|s| s.parse::<u64>().ok());
                if got_start != Some(pos) {
                    return Err(Error::Other(format!(
                        "blob {}: asked for bytes from {pos}, got Content-Range {cr:?}",
                        blob.digest
                    )));
                }
            } else if status == StatusCode::OK {
                if ranged {
                    self.progress
                        .note(&format!("{}: server ignored Range", blob.digest));
                    return Ok(RangeOutcome::RangeIgnored);
                }
            } else {
                return Err(origin_error(
                    origin,
                    blob,
                    status_error(Method::GET, &url, resp).await,
                ));
            }
            let mut stream = resp.bytes_stream();
            let stall = self.cfg.stall_timeout;
            let mut broke: Option<String> = None;
            loop {
                match tokio::time::timeout(stall, stream.next()).await {
                    Err(_) => {
                        broke = Some(format!("stalled for {}s", stall.as_secs()));
                        break;
                    }
                    Ok(None) => break,
                    Ok(Some(Err(e))) => {
                        broke = Some(format!("connection dropped ({e})"));
                        break;
                    }
                    Ok(Some(Ok(chunk))) => {
                        let n = chunk.len() as u64;
                        if pos + n > end {
                            if end == blob.size {
                                return Err(Error::SizeMismatch {
                                    digest: blob.digest.clone(),
                                    expected: blob.size,
                                    actual: pos + n,
                                });
                            }
                            return Err(Error::Other(format!(
                                "blob {}: server sent more than the requested range",
                                blob.digest
                            )));
                        }
                        part.write_at(pos, &chunk)
                            .map_err(|e| Error::io(format!("writing blob {}", blob.digest), e))?;
                        if let Some(h) = hasher.as_deref_mut() {
                            h.update(&chunk);
                        }
                        pos += n;
                        self.progress.blob_bytes(&blob.digest, n);
                    }
                }
            }
            if pos >= end {
                return Ok(RangeOutcome::Done);
            }
            let why = broke.unwrap_or_else(|| format!("body ended at byte {pos} of {end}"));
            failures += 1;
            if failures >= self.cfg.max_attempts {
                if why.starts_with("stalled") {
                    return Err(Error::Stalled {
                        digest: blob.digest.clone(),
                        url: display_url(&url),
                        seconds: stall.as_secs(),
                    });
                }
                return Err(Error::Other(format!("blob {}: {why}; gave up after {failures} attempts (run the command again to resume)", blob.digest)));
            }
            self.progress
                .note(&format!("{}: {why}; resuming at byte {pos}", blob.digest));
            tokio::time::sleep(backoff(self.cfg.backoff, failures)).await;
        }
    }

    /// Parallel ranged download. Returns false (nothing written) when the server does not honour
    /// ranges, so the caller falls back to one stream.
    async fn ranged(
        &self,
        origin: &Origin,
        blob: &BlobRef,
        part: &Arc<Box<dyn PartialBlob>>,
    ) -> Result<bool> {
        let io =
            |what: &str, e: std::io::Error| Error::io(format!("{what} blob {}", blob.digest), e);
        let part_size = self.cfg.range_part.max(1 << 20);
        let count = blob.size.div_ceil(part_size) as usize;
        let saved: Option<RangeMap> = part
            .state()
            .map_err(|e| io("reading state of", e))?
            .and_then(|s| serde_json::from_slice(&s).ok());
        let map = match saved {
            Some(m) if m.size == blob.size && m.part == part_size && m.done.len() == count => m,
            _ => {
                // Probe: a 1-byte range must come back as 206 with the full size.
                let resp = self.get_range(origin, blob, 0, Some(1)).await?;
                if !resp.status().is_success() {
                    let url = resp.url().clone();
                    return Err(origin_error(
                        origin,
                        blob,
                        status_error(Method::GET, &url, resp).await,
                    ));
                }
                let total = resp
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|s| s.rsplit('/').next())
                    .and_then(|s| s.parse::<u64>().ok());
                if resp.status() != StatusCode::PARTIAL_CONTENT || total != Some(blob.size) {
                    self.progress.note(&format!(
                        "{}: server does not honour Range (HTTP {}); using one stream",
                        blob.digest,
                        resp.status().as_u16()
                    ));
                    return Ok(false);
                }
                drop(resp);
                part.set_len(blob.size).map_err(|e| io("sizing", e))?;
                RangeMap {
                    size: blob.size,
                    part: part_size,
                    done: vec![false; count],
                }
            }
        };
        let already: u64 = map
            .done
            .iter()
            .enumerate()
            .filter(|(_, d)| **d)
            .map(|(i, _)| (blob.size - i as u64 * part_size).min(part_size))
            .sum();
        self.progress.blob_started(&blob.digest, blob.size, already);
        let todo: Vec<usize> = (0..count).filter(|i| !map.done[*i]).collect();
        let map = Arc::new(Mutex::new(map));
        let results = futures::stream::iter(todo.into_iter().map(|i| {
            let map = map.clone();
            async move {
                let start = i as u64 * part_size;
                let end = (start + part_size).min(blob.size);
                match self
                    .copy_range(origin, blob, part, start, end, None)
                    .await?
                {
                    RangeOutcome::Done => {}
                    RangeOutcome::RangeIgnored => {
                        return Err(Error::Other(format!(
                            "blob {}: server stopped honouring Range mid-download",
                            blob.digest
                        )))
                    }
                }
                let state = {
                    let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
                    m.done[i] = true;
                    serde_json::to_vec(&*m).unwrap_or_default()
                };
                part.save_state(Some(&state))
                    .map_err(|e| Error::io(format!("saving state of blob {}", blob.digest), e))
            }
        }))
        .buffer_unordered(self.cfg.range_connections.max(1))
        .collect::<Vec<Result<()>>>()
        .await;
        results.into_iter().collect::<Result<Vec<()>>>()?;
        Ok(true)
    }

    /// Hash the finished file (after a ranged download) and compare.
    async fn verify_file(&self, blob: &BlobRef, part: &Arc<Box<dyn PartialBlob>>) -> Result<()> {
        let part = part.clone();
        let blob2 = blob.clone();
        let actual = tokio::task::spawn_blocking(move || -> Result<String> {
            let mut h = Hasher::for_digest(&blob2.digest)?;
            let mut buf = vec![0u8; 4 << 20];
            let mut pos = 0;
            while pos < blob2.size {
                let want = ((blob2.size - pos) as usize).min(buf.len());
                let n = part
                    .read_at(pos, &mut buf[..want])
                    .map_err(|e| Error::io(format!("re-reading blob {}", blob2.digest), e))?;
                if n == 0 {
                    return Err(Error::SizeMismatch {
                        digest: blob2.digest.clone(),
                        expected: blob2.size,
                        actual: pos,
                    });
                }
                h.update(&buf[..n]);
                pos += n as u64;
            }
            Ok(h.finish())
        })
        .await
        .map_err(|e| Error::Other(format!("hashing task failed: {e}")))??;
        check_digest(&blob.digest, actual)?;
        Ok(())
    }
}

/// An HTTP error from a foreign URL is a foreign-layer error (it names the layer); from the
/// registry it stays as it is.
fn origin_error(origin: &Origin, blob: &BlobRef, e: Error) -> Error {
    match origin {
        Origin::Url(_) => Error::Foreign {
            digest: blob.digest.clone(),
            reason: e.to_string(),
        },
        Origin::Registry(_) => e,
    }
}

/// Loopback, private (RFC 1918, ULA), link-local, CGNAT, unspecified and multicast addresses.
pub fn is_private(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(&IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses() {
        for p in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(&p.parse().unwrap()), "{p}");
        }
        for p in [
            "8.8.8.8",
            "13.107.246.1",
            "2001:4860::8888",
            "172.32.0.1",
            "100.128.0.1",
        ] {
            assert!(!is_private(&p.parse().unwrap()), "{p}");
        }
    }

    #[tokio::test]
    async fn foreign_urls_must_be_plain_http_or_https_without_userinfo() {
        let client = Client::new(
            crate::ClientConfig {
                allow_private_urls: true,
                ..crate::ClientConfig::default()
            },
            Arc::new(crate::DefaultCredentials::new(
                crate::credentials::CredentialEnv::default(),
            )),
            Arc::new(crate::transfer::NoProgress),
        )
        .unwrap();
        let d = &crate::manifest::sha256_digest(b"layer").parse().unwrap();
        for (u, why) in [
            ("file:///etc/passwd", "url scheme file is not http(s)"),
            ("ftp://127.0.0.1/layer", "url scheme ftp is not http(s)"),
            ("not a url", "is not a URL"),
        ] {
            let e = client
                .check_foreign_url(d, u)
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{u}: {e}");
        }
        assert!(client
            .check_foreign_url(d, "http://user:pw@127.0.0.1/layer")
            .await
            .is_err());
        assert!(client
            .check_foreign_url(d, "http://127.0.0.1:9/layer")
            .await
            .is_ok());
    }
}
