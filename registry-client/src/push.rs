//! The push engine: for each blob, HEAD (skip when present), else try a cross-repository mount
//! (201 = done; 202 = the upload session has started and is used), else POST an upload session
//! and stream the blob in one PUT (never the whole blob in memory). Chunked PATCH uploads are used
//! only when the registry demands them (413 on the PUT); each chunk is retried from the offset the
//! registry reports. Layers go in parallel, then configs, then manifests by digest, then the root
//! under its tag. Foreign layers are skipped by default, uploaded with `Include`, or uploaded and
//! rewritten to distributable layers with `Strip` (that changes manifest digests).
//! [`Client::copy`] streams registry → registry without touching disk.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use oci_spec::image::DigestAlgorithm;
use reqwest::{Method, StatusCode};
use url::Url;

use crate::auth::Scopes;
use crate::client::{backoff, status_error, Client, Req};
use crate::error::{Error, Result};
use crate::manifest::{
    blobs_of, distributable_type, sha256_digest, too_deep, BlobRef, RawManifest, MAX_INDEX_DEPTH,
};
use crate::platform::PlatformRequest;
use crate::reference::Reference;
use crate::transfer::{BlobOutcome, BlobSource, BlobStream};

/// What to do with foreign (non-distributable) layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForeignPolicy {
    /// Do not upload them; manifests keep their `urls` (the registry must allow them).
    #[default]
    Skip,
    /// Upload them as they are (manifests unchanged).
    Include,
    /// Upload them and rewrite the manifests to distributable media types without `urls`.
    Strip,
}

/// An image to push: the root manifest and every manifest it references (for an index).
#[derive(Debug, Clone)]
pub struct ImageToPush {
    pub root: RawManifest,
    pub children: HashMap<String, RawManifest>,
}

/// Push options.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    pub foreign: ForeignPolicy,
    /// Repositories on the destination registry that may already hold the blobs (mount sources).
    pub mount_from: Vec<String>,
}

/// What a push did.
#[derive(Debug, Clone, Default)]
pub struct PushReport {
    /// Digest of the root manifest as pushed (differs from the source with `Strip`).
    pub digest: String,
    /// (old, new) digests of manifests rewritten by `Strip`.
    pub rewritten: Vec<(String, String)>,
    pub uploaded: usize,
    pub mounted: usize,
    pub present: usize,
    pub skipped_foreign: usize,
}

enum Start {
    Mounted,
    Session {
        location: Url,
        chunk_min: Option<u64>,
    },
}

impl Client {
    /// Push `image` to `dest` reading blobs from `source`.
    pub async fn push(
        &self,
        dest: &Reference,
        image: &ImageToPush,
        source: Arc<dyn BlobSource>,
        opts: &PushOptions,
    ) -> Result<PushReport> {
        let mut report = PushReport::default();
        let (pushed, rewritten) = match opts.foreign {
            ForeignPolicy::Strip => strip_foreign(image)?,
            _ => (image.clone(), Vec::new()),
        };
        report.rewritten = rewritten;
        // Blobs come from the source's manifests (they keep the foreign urls a copy may need);
        // the manifests uploaded are the (possibly rewritten) ones.
        let manifests = manifests_of(image)?;
        let pushed_manifests = manifests_of(&pushed)?;
        let image = &pushed;
        // Every blob once; foreign ones only when asked for.
        let mut blobs: Vec<BlobRef> = Vec::new();
        for m in &manifests {
            if m.is_index() {
                // A nested index has no blobs of its own; its entries are in `manifests` too.
                continue;
            }
            let (config, layers) = blobs_of(&m.image()?);
            for b in layers.into_iter().chain(std::iter::once(config)) {
                if blobs.iter().any(|x| x.digest == b.digest) {
                    continue;
                }
                if b.is_foreign() && opts.foreign == ForeignPolicy::Skip {
                    report.skipped_foreign += 1;
                    self.progress.note(&format!("{}: foreign layer not uploaded (the manifest keeps its urls; --include-nondistributable uploads it)", b.digest));
                    self.progress
                        .blob_finished(&b.digest, BlobOutcome::SkippedForeign);
                    continue;
                }
                blobs.push(b);
            }
        }
        blobs.sort_by_key(|b| std::cmp::Reverse(b.size));
        let mounts: Vec<&str> = opts
            .mount_from
            .iter()
            .map(String::as_str)
            .filter(|m| *m != dest.repository())
            .collect();
        let scopes = Scopes::push(dest.repository(), &mounts);
        let outcomes: Vec<BlobOutcome> = futures::stream::iter(
            blobs
                .iter()
                .map(|b| self.push_blob(dest, &scopes, b, source.clone(), &mounts)),
        )
        .buffer_unordered(self.cfg.concurrency.max(1))
        .try_collect()
        .await?;
        for o in outcomes {
            match o {
                BlobOutcome::Uploaded => report.uploaded += 1,
                BlobOutcome::Mounted => report.mounted += 1,
                BlobOutcome::Present => report.present += 1,
                _ => {}
            }
        }
        if image.root.is_index() {
            for m in &pushed_manifests {
                self.put_manifest(dest, &m.digest, m)
                    .await
                    .map_err(|e| foreign_hint(e, report.skipped_foreign))?;
            }
        }
        let tag = dest
            .tag()
            .map(String::from)
            .unwrap_or_else(|| image.root.digest.clone());
        if let Some(d) = dest.digest() {
            if d != image.root.digest {
                return Err(Error::Manifest {
                    reference: dest.to_string(),
                    reason: format!(
                        "destination digest {d} differs from the image's {}",
                        image.root.digest
                    ),
                });
            }
        }
        self.put_manifest(dest, &tag, &image.root)
            .await
            .map_err(|e| foreign_hint(e, report.skipped_foreign))?;
        report.digest = image.root.digest.clone();
        Ok(report)
    }

    /// Upload one blob (or find it present, or mount it).
    async fn push_blob(
        &self,
        dest: &Reference,
        scopes: &Scopes,
        blob: &BlobRef,
        source: Arc<dyn BlobSource>,
        mounts: &[&str],
    ) -> Result<BlobOutcome> {
        if self
            .blob_exists(dest, scopes, blob.digest.as_ref())
            .await?
            .is_some()
        {
            self.progress
                .blob_finished(&blob.digest, BlobOutcome::Present);
            return Ok(BlobOutcome::Present);
        }
        let mut failures = 0;
        let mut force_chunked = self.cfg.chunk_size.is_some();
        loop {
            // Mount from the first candidate: a 202 answer already opened an upload session, so
            // trying further candidates would leak sessions.
            let mut start = None;
            if let Some(from) = mounts.first() {
                match self
                    .start_upload(dest, scopes, Some((blob.digest.as_ref(), from)))
                    .await?
                {
                    Start::Mounted => {
                        self.progress
                            .blob_finished(&blob.digest, BlobOutcome::Mounted);
                        return Ok(BlobOutcome::Mounted);
                    }
                    s => start = Some(s),
                }
            }
            let start = match start {
                Some(s) => s,
                None => self.start_upload(dest, scopes, None).await?,
            };
            let Start::Session {
                location,
                chunk_min,
            } = start
            else {
                unreachable!("mount handled above")
            };
            self.progress.blob_started(&blob.digest, blob.size, 0);
            let result = if force_chunked {
                self.upload_chunked(dest, scopes, blob, &source, location, chunk_min)
                    .await
            } else {
                self.upload_monolithic(dest, scopes, blob, &source, location)
                    .await
            };
            match result {
                Ok(()) => {
                    self.progress
                        .blob_finished(&blob.digest, BlobOutcome::Uploaded);
                    return Ok(BlobOutcome::Uploaded);
                }
                Err(e) if e.status() == Some(413) && !force_chunked => {
                    self.progress.note(&format!(
                        "{}: registry refused a single upload (413); switching to chunks",
                        blob.digest
                    ));
                    self.progress.blob_rewind(&blob.digest, 0);
                    force_chunked = true;
                }
                Err(e) if is_retryable_upload(&e) && failures + 1 < self.cfg.max_attempts => {
                    failures += 1;
                    self.progress
                        .note(&format!("{}: {e}; restarting the upload", blob.digest));
                    self.progress.blob_rewind(&blob.digest, 0);
                    tokio::time::sleep(backoff(self.cfg.backoff, failures)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// POST an upload session (optionally as a mount).
    async fn start_upload(
        &self,
        dest: &Reference,
        scopes: &Scopes,
        mount: Option<(&str, &str)>,
    ) -> Result<Start> {
        let mut url = self.repo_url(dest, "blobs/uploads/").await?;
        if let Some((digest, from)) = mount {
            url.query_pairs_mut()
                .append_pair("mount", digest)
                .append_pair("from", from);
        }
        let req = Req::new(Method::POST, url.clone()).header(reqwest::header::CONTENT_LENGTH, "0");
        let resp = self.send(dest, scopes, req).await?;
        match resp.status() {
            StatusCode::CREATED if mount.is_some() => Ok(Start::Mounted),
            StatusCode::ACCEPTED => {
                let location = location(&url, &resp)?;
                let chunk_min = resp
                    .headers()
                    .get("oci-chunk-min-length")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok());
                Ok(Start::Session {
                    location,
                    chunk_min,
                })
            }
            _ => Err(status_error(Method::POST, &url, resp).await),
        }
    }

    /// One streaming PUT of the whole blob.
    async fn upload_monolithic(
        &self,
        dest: &Reference,
        scopes: &Scopes,
        blob: &BlobRef,
        source: &Arc<dyn BlobSource>,
        location: Url,
    ) -> Result<()> {
        let mut url = location;
        url.query_pairs_mut()
            .append_pair("digest", blob.digest.as_ref());
        let mut req = Req::new(Method::PUT, url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, &blob.size.to_string());
        let activity = Arc::new(Activity::default());
        req.body = Some(self.body_fn(blob, source, (0, blob.size), &activity));
        req.retry = false; // a failed upload session is restarted as a whole by the caller
        let resp = self
            .send_watched(dest, scopes, req, blob, &activity)
            .await?;
        if resp.status() == StatusCode::CREATED || resp.status().is_success() {
            return Ok(());
        }
        Err(status_error(Method::PUT, &url, resp).await)
    }

    /// PATCH chunks in order, resuming each from the registry's reported offset on failure.
    async fn upload_chunked(
        &self,
        dest: &Reference,
        scopes: &Scopes,
        blob: &BlobRef,
        source: &Arc<dyn BlobSource>,
        location: Url,
        chunk_min: Option<u64>,
    ) -> Result<()> {
        let mut chunk = self
            .cfg
            .chunk_size
            .unwrap_or(16 << 20)
            .max(chunk_min.unwrap_or(0))
            .max(1);
        let mut location = location;
        let mut pos = 0u64;
        let mut failures = 0;
        while pos < blob.size {
            let end = (pos + chunk).min(blob.size);
            let mut req = Req::new(Method::PATCH, location.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .header(reqwest::header::CONTENT_LENGTH, &(end - pos).to_string())
                .header(
                    reqwest::header::CONTENT_RANGE,
                    &format!("{pos}-{}", end - 1),
                );
            let activity = Arc::new(Activity::default());
            req.body = Some(self.body_fn(blob, source, (pos, end), &activity));
            req.retry = false;
            let resp = self.send_watched(dest, scopes, req, blob, &activity).await;
            match resp {
                Ok(r) if r.status() == StatusCode::ACCEPTED => {
                    location = location_or(&location, &r);
                    pos = end;
                    continue;
                }
                Ok(r)
                    if r.status() == StatusCode::PAYLOAD_TOO_LARGE
                        && chunk / 2 >= chunk_min.unwrap_or(1 << 20) =>
                {
                    chunk /= 2;
                }
                Ok(r)
                    if failures + 1 >= self.cfg.max_attempts
                        || !(r.status() == StatusCode::RANGE_NOT_SATISFIABLE
                            || crate::client::retryable_status(r.status())) =>
                {
                    return Err(status_error(Method::PATCH, &location, r).await);
                }
                Err(e) if failures + 1 >= self.cfg.max_attempts => return Err(e),
                _ => {}
            }
            failures += 1;
            tokio::time::sleep(backoff(self.cfg.backoff, failures)).await;
            // Ask the registry how much it has, and continue from there.
            let status = self
                .send(dest, scopes, Req::new(Method::GET, location.clone()))
                .await?;
            if status.status() == StatusCode::NO_CONTENT || status.status().is_success() {
                let have = status
                    .headers()
                    .get(reqwest::header::RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|r| r.rsplit('-').next())
                    .and_then(|e| e.parse::<u64>().ok())
                    .map(|e| e + 1)
                    .unwrap_or(0);
                location = location_or(&location, &status);
                self.progress.note(&format!(
                    "{}: chunk failed; registry has {have} bytes, continuing",
                    blob.digest
                ));
                self.progress.blob_rewind(&blob.digest, have);
                pos = have;
            } else {
                return Err(status_error(Method::GET, &location, status).await);
            }
        }
        let mut url = location;
        url.query_pairs_mut()
            .append_pair("digest", blob.digest.as_ref());
        let req = Req::new(Method::PUT, url.clone()).header(reqwest::header::CONTENT_LENGTH, "0");
        let resp = self.send(dest, scopes, req).await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(status_error(Method::PUT, &url, resp).await)
        }
    }

    /// A body that streams bytes `[start, end)` of a blob from the source, reporting progress
    /// and touching `activity` on every chunk.
    fn body_fn(
        &self,
        blob: &BlobRef,
        source: &Arc<dyn BlobSource>,
        (start, end): (u64, u64),
        activity: &Arc<Activity>,
    ) -> crate::client::BodyFn {
        let blob = blob.clone();
        let source = source.clone();
        let progress = self.progress.clone();
        let activity = activity.clone();
        Arc::new(move || {
            let blob = blob.clone();
            let source = source.clone();
            let progress = progress.clone();
            let activity = activity.clone();
            Box::pin(async move {
                let stream = source.open(&blob, start).await?;
                let digest = blob.digest.clone();
                activity.touch(false);
                let mut left = end - start;
                let limited = take_bytes(stream, left).inspect_ok(move |c| {
                    left -= c.len() as u64;
                    activity.touch(left == 0);
                    progress.blob_bytes(&digest, c.len() as u64)
                });
                Ok(reqwest::Body::wrap_stream(limited))
            })
        })
    }

    /// Send an upload request, failing it when its body makes no progress for the stall timeout
    /// (a registry that stopped reading). Waiting for the answer after the last byte is not a stall
    /// (the registry hashes the blob then).
    async fn send_watched(
        &self,
        dest: &Reference,
        scopes: &Scopes,
        req: Req,
        blob: &BlobRef,
        activity: &Arc<Activity>,
    ) -> Result<reqwest::Response> {
        let url = crate::error::display_url(&req.url);
        let stall = self.cfg.stall_timeout;
        let watchdog = async {
            loop {
                tokio::time::sleep(stall / 4).await;
                if activity.stalled(stall) {
                    return;
                }
            }
        };
        tokio::select! {
            r = self.send(dest, scopes, req) => r,
            () = watchdog => Err(Error::Stalled { digest: blob.digest.clone(), url, seconds: stall.as_secs() }),
        }
    }

    /// Copy `src` to `dest`, registry to registry, streaming blobs (no disk). With `platform`, only
    /// that platform's manifest is copied; otherwise an index is copied whole. Blobs are mounted when
    /// both are on one registry.
    pub async fn copy(
        self: &Arc<Self>,
        src: &Reference,
        dest: &Reference,
        platform: Option<&PlatformRequest>,
        opts: &PushOptions,
    ) -> Result<PushReport> {
        let image = match platform {
            Some(p) => {
                let r = self.resolve(src, p).await?;
                ImageToPush {
                    root: r.manifest,
                    children: HashMap::new(),
                }
            }
            None => {
                let root = self.get_manifest(src).await?;
                let children = self.manifest_tree(src, &root).await?;
                ImageToPush { root, children }
            }
        };
        let mut opts = opts.clone();
        if src.registry() == dest.registry()
            && !opts.mount_from.iter().any(|m| m == src.repository())
        {
            opts.mount_from.push(src.repository().to_string());
        }
        let source: Arc<dyn BlobSource> = Arc::new(RegistrySource {
            client: self.clone(),
            reference: src.clone(),
        });
        self.push(dest, &image, source, &opts).await
    }

    /// Stream a blob (from `offset`) out of a registry: a [`BlobSource`] for copies.
    pub async fn open_blob(
        &self,
        r: &Reference,
        blob: &BlobRef,
        offset: u64,
    ) -> Result<BlobStream> {
        let url = self.repo_url(r, &format!("blobs/{}", blob.digest)).await?;
        let mut req = Req::new(Method::GET, url.clone());
        if offset > 0 {
            req = req.header(reqwest::header::RANGE, &format!("bytes={offset}-"));
        }
        let mut resp = self.send(r, &Scopes::pull(r.repository()), req).await?;
        if !resp.status().is_success() && !blob.urls.is_empty() {
            // A foreign layer the source registry does not hold: fetch it from its urls.
            self.progress.note(&format!(
                "{}: not in {}; fetching it from its urls",
                blob.digest,
                r.name()
            ));
            resp = self.open_foreign(blob, offset).await?;
        }
        let status = resp.status();
        if offset > 0 && status == StatusCode::OK {
            return Err(Error::Other(format!(
                "blob {}: source registry ignored Range; cannot resume this chunk",
                blob.digest
            )));
        }
        if !status.is_success() {
            return Err(status_error(Method::GET, &url, resp).await);
        }
        // Verify while streaming (from offset 0): a mismatch fails the stream at its end, so the
        // destination never commits corrupted bytes (it checks the digest itself too).
        let hasher = (offset == 0 && *blob.digest.algorithm() == DigestAlgorithm::Sha256)
            .then(sha2::Sha256::default);
        let expected = blob.digest.clone();
        let stream = futures::stream::unfold(
            (resp.bytes_stream().boxed(), hasher, false),
            move |(mut s, mut h, done)| {
                let expected = expected.clone();
                async move {
                    if done {
                        return None;
                    }
                    match s.next().await {
                        Some(Ok(c)) => {
                            if let Some(h) = h.as_mut() {
                                sha2::Digest::update(h, &c);
                            }
                            Some((Ok(c), (s, h, false)))
                        }
                        Some(Err(e)) => Some((Err(std::io::Error::other(e)), (s, h, true))),
                        None => {
                            let actual = h.take().map(|h| {
                                format!("sha256:{}", hex::encode(sha2::Digest::finalize(h)))
                            });
                            match actual {
                                Some(a) if a != expected.as_ref() => Some((
                                    Err(std::io::Error::new(
                                        std::io::ErrorKind::InvalidData,
                                        format!(
                                            "blob {expected}: source sent bytes hashing to {a}"
                                        ),
                                    )),
                                    (s, None, true),
                                )),
                                _ => None,
                            }
                        }
                    }
                }
            },
        );
        Ok(stream.boxed())
    }
}

/// The image manifests of an image: the children of an index in index order, or the root.
/// A registry that refuses a manifest naming blobs it lacks, after foreign layers were skipped,
/// is an air-gapped mirror (no `validation.manifests.urls.allow`): say what to do.
fn foreign_hint(e: Error, skipped_foreign: usize) -> Error {
    match e {
        Error::Status {
            method,
            url,
            status,
            mut detail,
        } if skipped_foreign > 0 && detail.contains("MANIFEST_BLOB_UNKNOWN") => {
            detail.push_str(&format!(
                " — {skipped_foreign} foreign layer(s) were not uploaded and this registry does not accept manifests with foreign urls; use --include-nondistributable, or --strip-foreign-urls for an air-gapped mirror (the manifest digest changes)"
            ));
            Error::Status {
                method,
                url,
                status,
                detail,
            }
        }
        other => other,
    }
}

/// The manifests of `image` in upload order: for an index, every manifest below it (nested
/// indexes after their own entries, so a registry that checks references finds them), down to
/// [`MAX_INDEX_DEPTH`] levels; for one image manifest, itself.
fn manifests_of(image: &ImageToPush) -> Result<Vec<RawManifest>> {
    if !image.root.is_index() {
        return Ok(vec![image.root.clone()]);
    }
    fn below(
        image: &ImageToPush,
        index: &RawManifest,
        depth: usize,
        out: &mut Vec<RawManifest>,
    ) -> Result<()> {
        if depth > MAX_INDEX_DEPTH {
            return Err(too_deep(&image.root.digest, &index.digest));
        }
        for d in index.index()?.manifests() {
            let digest = d.digest().to_string();
            let child = image
                .children
                .get(&digest)
                .ok_or_else(|| Error::Manifest {
                    reference: index.digest.clone(),
                    reason: format!(
                        "references {digest} which the source does not have (copy it with all platforms)"
                    ),
                })?;
            if out.iter().any(|m| m.digest == digest) {
                continue;
            }
            if child.is_index() {
                below(image, child, depth + 1, out)?;
            }
            out.push(child.clone());
        }
        Ok(())
    }
    let mut out = Vec::new();
    below(image, &image.root, 0, &mut out)?;
    Ok(out)
}

/// When an upload body last moved, and whether it has been sent completely.
#[derive(Debug)]
struct Activity {
    start: std::time::Instant,
    /// Milliseconds since `start` of the last chunk.
    last_ms: std::sync::atomic::AtomicU64,
    done: std::sync::atomic::AtomicBool,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            start: std::time::Instant::now(),
            last_ms: Default::default(),
            done: Default::default(),
        }
    }
}

impl Activity {
    fn touch(&self, done: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        self.last_ms
            .store(self.start.elapsed().as_millis() as u64, Relaxed);
        self.done.store(done, Relaxed);
    }

    fn stalled(&self, limit: std::time::Duration) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let idle = self.start.elapsed().as_millis() as u64 - self.last_ms.load(Relaxed);
        !self.done.load(Relaxed) && idle > limit.as_millis() as u64
    }
}

/// A registry as a blob source.
struct RegistrySource {
    client: Arc<Client>,
    reference: Reference,
}

impl BlobSource for RegistrySource {
    fn open(&self, blob: &BlobRef, offset: u64) -> BoxFuture<'_, Result<BlobStream>> {
        let blob = blob.clone();
        Box::pin(async move { self.client.open_blob(&self.reference, &blob, offset).await })
    }
}

/// Limit a stream to `n` bytes (chunk uploads).
fn take_bytes(stream: BlobStream, n: u64) -> BlobStream {
    futures::stream::unfold((stream, n), |(mut s, left)| async move {
        if left == 0 {
            return None;
        }
        match s.next().await {
            None => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("blob source ended {left} bytes early"),
                )),
                (s, 0),
            )),
            Some(Err(e)) => Some((Err(e), (s, 0))),
            Some(Ok(mut c)) => {
                if c.len() as u64 > left {
                    c.truncate(left as usize);
                }
                let l = left - c.len() as u64;
                Some((Ok(c), (s, l)))
            }
        }
    })
    .boxed()
}

fn location(base: &Url, resp: &reqwest::Response) -> Result<Url> {
    let loc = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            Error::Other(format!(
                "upload POST to {} returned no Location",
                crate::error::display_url(base)
            ))
        })?;
    base.join(loc)
        .map_err(|e| Error::Other(format!("upload Location is not a URL: {e}")))
}

fn location_or(prev: &Url, resp: &reqwest::Response) -> Url {
    location(prev, resp).unwrap_or_else(|_| prev.clone())
}

fn is_retryable_upload(e: &Error) -> bool {
    match e {
        Error::Connect { .. } | Error::Io { .. } | Error::Stalled { .. } => true,
        Error::Status { status, .. } => {
            crate::client::retryable_status(StatusCode::from_u16(*status).unwrap_or(StatusCode::OK))
                || *status == 404
        }
        _ => false,
    }
}

/// Rewrite foreign layers to distributable ones in every image manifest (and the index that
/// references them). Returns the new image and the (old, new) manifest digests.
pub fn strip_foreign(image: &ImageToPush) -> Result<(ImageToPush, Vec<(String, String)>)> {
    let mut rewritten = Vec::new();
    let rewrite_image =
        |m: &RawManifest, rewritten: &mut Vec<(String, String)>| -> Result<RawManifest> {
            let mut doc: serde_json::Value =
                serde_json::from_slice(&m.bytes).map_err(|e| Error::Manifest {
                    reference: m.digest.clone(),
                    reason: e.to_string(),
                })?;
            let mut changed = false;
            if let Some(layers) = doc.get_mut("layers").and_then(|l| l.as_array_mut()) {
                for l in layers {
                    let mt = l
                        .get("mediaType")
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_string();
                    if crate::manifest::is_foreign(&mt) {
                        l["mediaType"] = serde_json::Value::String(distributable_type(&mt));
                        if let Some(o) = l.as_object_mut() {
                            o.remove("urls");
                        }
                        changed = true;
                    }
                }
            }
            if !changed {
                return Ok(m.clone());
            }
            let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| Error::Other(e.to_string()))?;
            let new = RawManifest {
                digest: sha256_digest(&bytes),
                bytes,
                media_type: m.media_type.clone(),
            };
            rewritten.push((m.digest.clone(), new.digest.clone()));
            Ok(new)
        };
    if !image.root.is_index() {
        let root = rewrite_image(&image.root, &mut rewritten)?;
        return Ok((
            ImageToPush {
                root,
                children: HashMap::new(),
            },
            rewritten,
        ));
    }
    let mut doc: serde_json::Value =
        serde_json::from_slice(&image.root.bytes).map_err(|e| Error::Manifest {
            reference: image.root.digest.clone(),
            reason: e.to_string(),
        })?;
    let mut children = HashMap::new();
    if let Some(entries) = doc.get_mut("manifests").and_then(|m| m.as_array_mut()) {
        for e in entries {
            let d = e
                .get("digest")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
            let child = image.children.get(&d).ok_or_else(|| Error::Manifest {
                reference: image.root.digest.clone(),
                reason: format!("child {d} missing"),
            })?;
            if child.is_index() {
                return Err(Error::Manifest {
                    reference: image.root.digest.clone(),
                    reason: format!("--strip-foreign-urls does not rewrite nested indexes ({d} is one); copy the inner index by digest"),
                });
            }
            let new = rewrite_image(child, &mut rewritten)?;
            e["digest"] = serde_json::Value::String(new.digest.clone());
            e["size"] = serde_json::Value::from(new.bytes.len() as u64);
            children.insert(new.digest.clone(), new);
        }
    }
    let root = if rewritten.is_empty() {
        image.root.clone()
    } else {
        let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| Error::Other(e.to_string()))?;
        let new = RawManifest {
            digest: sha256_digest(&bytes),
            bytes,
            media_type: image.root.media_type.clone(),
        };
        rewritten.push((image.root.digest.clone(), new.digest.clone()));
        new
    };
    Ok((ImageToPush { root, children }, rewritten))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{DOCKER_FOREIGN_GZIP, DOCKER_LAYER_GZIP, DOCKER_LIST, DOCKER_MANIFEST};
    use bytes::Bytes;

    #[test]
    fn strip_rewrites_layers_and_index() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":1,"digest":"{}"}},"layers":[{{"mediaType":"{DOCKER_FOREIGN_GZIP}","size":5,"digest":"{}","urls":["http://x/y"]}},{{"mediaType":"{DOCKER_LAYER_GZIP}","size":5,"digest":"{}"}}]}}"#,
            d('a'),
            d('b'),
            d('c')
        );
        let child = RawManifest::from_bytes("t", m.into_bytes(), None).unwrap();
        let idx = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[{{"mediaType":"{DOCKER_MANIFEST}","size":{},"digest":"{}","platform":{{"os":"windows","architecture":"amd64"}}}}]}}"#,
            child.bytes.len(),
            child.digest
        );
        let root = RawManifest::from_bytes("t", idx.into_bytes(), None).unwrap();
        let image = ImageToPush {
            root: root.clone(),
            children: HashMap::from([(child.digest.clone(), child.clone())]),
        };
        let (new, rewritten) = strip_foreign(&image).unwrap();
        assert_eq!(rewritten.len(), 2);
        assert_ne!(new.root.digest, root.digest);
        let index = new.root.index().unwrap();
        let entry = &index.manifests()[0];
        let new_child = &new.children[&entry.digest().to_string()];
        assert_eq!(entry.size(), new_child.bytes.len() as u64);
        let (_, layers) = blobs_of(&new_child.image().unwrap());
        assert_eq!(layers[0].media_type, DOCKER_LAYER_GZIP);
        assert!(layers[0].urls.is_empty());
        assert_eq!(
            layers[0].digest.as_ref(),
            d('b'),
            "the layer digest does not change"
        );
    }

    #[test]
    fn upload_stall_is_only_before_the_last_byte() {
        let a = Activity::default();
        std::thread::sleep(std::time::Duration::from_millis(30));
        assert!(a.stalled(std::time::Duration::from_millis(10)));
        a.touch(false);
        assert!(!a.stalled(std::time::Duration::from_millis(10)));
        a.touch(true);
        std::thread::sleep(std::time::Duration::from_millis(30));
        assert!(
            !a.stalled(std::time::Duration::from_millis(10)),
            "waiting for the answer is no stall"
        );
    }

    #[tokio::test]
    async fn take_bytes_limits_and_detects_short() {
        let s: BlobStream = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"hello")),
            Ok(Bytes::from_static(b"world")),
        ])
        .boxed();
        let out: Vec<Bytes> = take_bytes(s, 7).try_collect().await.unwrap();
        assert_eq!(out.concat(), b"hellowo");
        let s: BlobStream = futures::stream::iter(vec![Ok(Bytes::from_static(b"hi"))]).boxed();
        assert!(take_bytes(s, 7).try_collect::<Vec<_>>().await.is_err());
    }
}
