//! Transfer faults between silo and a real docker-registry, injected by the harness proxy: each
//! test states what the user sees (success after a retry or resume, or the exact error) and how
//! many bytes crossed the wire, so "resume" means resume and "rejected" means nothing stored.

use std::time::{Duration, Instant};

use silo_tests::args;
use silo_tests::faultproxy::{Fault, FaultProxy};
use silo_tests::fileserver::FileServer;
use silo_tests::image::{Image, Pusher, OCI_INDEX};
use silo_tests::registry::Registry;
use silo_tests::silo_cli::{self, OciLayout};

/// A registry holding `faults/img:v1` (one 8 MiB layer plus a small one), a proxy in front of it,
/// and a scratch directory.
struct Setup {
    proxy: FaultProxy,
    image: Image,
    work: tempfile::TempDir,
    _registry: Registry,
}

const BIG: usize = 8 * 1024 * 1024;

fn setup() -> Setup {
    let registry = Registry::no_auth();
    let image = Image::random_linux(21, &[BIG, 4096]);
    Pusher::new(&registry).push_image("faults/img", &image, Some("v1"));
    Setup {
        proxy: FaultProxy::start(registry.addr()),
        image,
        work: tempfile::tempdir().unwrap(),
        _registry: registry,
    }
}

impl Setup {
    fn big(&self) -> &silo_tests::image::Blob {
        &self.image.layers[0].blob
    }

    fn pull_args(&self, name: &str) -> Vec<String> {
        args![
            "pull",
            self.proxy.reference("faults/img:v1"),
            "--output",
            format!("oci:{}", self.work.path().join(name).display()),
            silo_cli::plain_http_flags(),
        ]
    }

    /// Pulls through the proxy, expecting success; checks every blob and returns the layout.
    fn pull_ok(&self, name: &str) -> OciLayout {
        silo_cli::ok(&self.pull_args(name));
        let layout = OciLayout::open(&self.work.path().join(name));
        let present = layout.verify_blobs();
        for blob in self.image.distributable_blobs() {
            assert!(present.contains(&blob.digest), "{} missing", blob.digest);
        }
        layout
    }

    /// GETs of the big blob through the proxy, in order.
    fn big_gets(&self) -> Vec<silo_tests::faultproxy::Relayed> {
        self.proxy
            .requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.target.contains(&self.big().digest))
            .collect()
    }
}

#[test]
fn cut_mid_blob_resumes_from_where_it_stopped() {
    let s = setup();
    let cut_at = 3 * 1024 * 1024;
    s.proxy
        .inject("GET", &s.big().digest, Fault::CutAfter(cut_at), 1);
    s.pull_ok("cut");
    assert_eq!(s.proxy.pending_faults(), 0, "the cut never happened");
    let gets = s.big_gets();
    let total: u64 = gets.iter().map(|r| r.body_bytes).sum();
    let re_downloaded = total - cut_at;
    eprintln!(
        "cut at {cut_at} of {}: {} GETs, {total} body bytes",
        s.big().size(),
        gets.len()
    );
    assert!(
        gets.iter().skip(1).any(|r| r
            .range
            .as_deref()
            .is_some_and(|h| !h.starts_with("bytes=0-"))),
        "no ranged resume request after the cut: {gets:#?}"
    );
    // Resume fetches only what was missing (a little slack for a part boundary), not the blob.
    assert!(
        re_downloaded <= s.big().size() - cut_at + 64 * 1024,
        "re-downloaded {re_downloaded} bytes after a cut at {cut_at} of {}",
        s.big().size()
    );
}

#[test]
fn too_many_requests_waits_for_retry_after() {
    let s = setup();
    s.proxy.inject(
        "GET",
        &s.big().digest,
        Fault::Status {
            code: 429,
            retry_after: Some(2),
        },
        1,
    );
    let started = Instant::now();
    s.pull_ok("429");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After: 2 was not honoured ({:?})",
        started.elapsed()
    );
    let statuses: Vec<u16> = s.big_gets().iter().map(|r| r.status).collect();
    assert_eq!(statuses.first(), Some(&429), "{statuses:?}");
    assert!(
        statuses.contains(&200) || statuses.contains(&206),
        "{statuses:?}"
    );
}

#[test]
fn server_errors_are_retried() {
    let s = setup();
    s.proxy.inject(
        "GET",
        "/manifests/",
        Fault::Status {
            code: 500,
            retry_after: None,
        },
        2,
    );
    s.proxy.inject(
        "GET",
        &s.big().digest,
        Fault::Status {
            code: 503,
            retry_after: None,
        },
        1,
    );
    s.pull_ok("5xx");
    assert_eq!(s.proxy.pending_faults(), 0);
}

#[test]
fn persistent_server_errors_name_the_request_and_status() {
    let s = setup();
    s.proxy.inject(
        "GET",
        "/manifests/",
        Fault::Status {
            code: 500,
            retry_after: None,
        },
        100,
    );
    let stderr = silo_cli::fails(&s.pull_args("500"));
    assert!(stderr.contains("500"), "{stderr}");
    assert!(stderr.contains("faults/img"), "{stderr}");
}

#[test]
fn a_stalled_body_is_detected_and_resumed() {
    let s = setup();
    let after = 1024 * 1024;
    s.proxy.inject(
        "GET",
        &s.big().digest,
        Fault::Stall {
            after,
            pause: Duration::from_secs(120),
        },
        1,
    );
    let started = Instant::now();
    let out = silo_cli::run(&args![
        s.pull_args("stall"),
        silo_cli::stall_timeout_flags(2)
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the stall was not detected in time ({:?})",
        started.elapsed()
    );
    let gets = s.big_gets();
    let total: u64 = gets.iter().map(|r| r.body_bytes).sum();
    assert!(
        total <= s.big().size() + 64 * 1024,
        "restarted from zero: {gets:#?}"
    );
    OciLayout::open(&s.work.path().join("stall")).verify_blobs();
}

#[test]
fn a_flipped_byte_is_rejected_and_nothing_is_stored() {
    let s = setup();
    // Every attempt is corrupted, so no retry can hide the check.
    s.proxy.inject(
        "GET",
        &s.big().digest,
        Fault::FlipByte { offset: 4242 },
        100,
    );
    let stderr = silo_cli::fails(&s.pull_args("flip"));
    assert!(
        stderr.contains(&s.big().digest),
        "the error does not name the blob:\n{stderr}"
    );
    assert!(stderr.to_lowercase().contains("digest"), "{stderr}");
    let out = s.work.path().join("flip");
    if out.exists() {
        let layout = OciLayout { dir: out };
        assert!(
            layout.blob(&s.big().digest).is_none(),
            "a corrupt blob was stored"
        );
        if layout.dir.join("blobs/sha256").exists() {
            layout.verify_blobs();
        }
    }
}

#[test]
fn a_content_type_that_contradicts_the_manifest_is_an_error() {
    let s = setup();
    s.proxy.inject(
        "GET",
        "/manifests/",
        Fault::ContentType(OCI_INDEX.into()),
        100,
    );
    let stderr = silo_cli::fails(&s.pull_args("ctype"));
    assert!(
        stderr.contains(OCI_INDEX),
        "the error does not show the Content-Type:\n{stderr}"
    );
    assert!(stderr.to_lowercase().contains("content-type"), "{stderr}");
}

#[test]
fn malformed_manifest_json_is_an_error_naming_the_manifest() {
    let s = setup();
    s.proxy
        .inject("GET", "/manifests/", Fault::MalformedJson, 100);
    let stderr = silo_cli::fails(&s.pull_args("malformed"));
    assert!(stderr.contains("faults/img"), "{stderr}");
    let lower = stderr.to_lowercase();
    assert!(lower.contains("manifest"), "{stderr}");
    assert!(
        lower.contains("json") || lower.contains("eof") || lower.contains("parse"),
        "{stderr}"
    );
}

#[test]
fn a_large_blob_is_fetched_in_parallel_ranges_and_survives_a_cut_part() {
    let registry = Registry::no_auth();
    let image = Image::random_raw(22, 200 * 1024 * 1024);
    Pusher::new(&registry).push_image("faults/big", &image, Some("v1"));
    let proxy = FaultProxy::start(registry.addr());
    let blob = &image.layers[0].blob;
    // One part (whichever comes first) is cut after 1 MiB.
    proxy.inject("GET", &blob.digest, Fault::CutAfter(1024 * 1024), 1);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("big");
    silo_cli::ok(&args![
        "pull",
        proxy.reference("faults/big:v1"),
        "--output",
        format!("oci:{}", out.display()),
        // Ranges are off by default for loopback registries (slower on one machine).
        "--range-connections",
        "4",
        silo_cli::plain_http_flags(),
    ]);
    assert!(OciLayout::open(&out).verify_blobs().contains(&blob.digest));
    let gets: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.target.contains(&blob.digest))
        .collect();
    let mut starts: Vec<&str> = gets
        .iter()
        .filter_map(|r| r.range.as_deref())
        .filter_map(|h| h.strip_prefix("bytes=")?.split('-').next())
        .collect();
    starts.sort();
    starts.dedup();
    assert!(
        starts.len() >= 2,
        "a {} MiB blob was not fetched as parallel ranges: {gets:#?}",
        blob.size() >> 20
    );
    let total: u64 = gets.iter().map(|r| r.body_bytes).sum();
    assert!(
        total <= blob.size() + 2 * 1024 * 1024,
        "{total} bytes moved for a {}-byte blob (a cut part must resume, not restart everything)",
        blob.size()
    );
}

#[test]
fn push_retries_a_failed_upload() {
    let registry = Registry::no_auth();
    let proxy = FaultProxy::start(registry.addr());
    let image = Image::random_linux(23, &[512 * 1024]);
    let work = tempfile::tempdir().unwrap();
    image.write_oci_layout(work.path(), "v1");
    proxy.inject(
        "PUT",
        "/blobs/uploads/",
        Fault::Status {
            code: 500,
            retry_after: None,
        },
        1,
    );
    proxy.inject(
        "PUT",
        "/manifests/",
        Fault::Status {
            code: 503,
            retry_after: None,
        },
        1,
    );
    silo_cli::ok(&args![
        "push",
        format!("oci:{}:v1", work.path().display()),
        proxy.reference("faults/pushed:v1"),
        silo_cli::plain_http_flags(),
    ]);
    assert_eq!(proxy.pending_faults(), 0, "the faults never fired");
    for blob in image.distributable_blobs() {
        assert!(
            registry.has_blob(&blob.digest),
            "{} not stored",
            blob.digest
        );
    }
    let raw = silo_tests::skopeo::inspect(&registry, "faults/pushed:v1", true);
    assert_eq!(
        silo_tests::image::sha256_digest(&raw),
        image.manifest.digest
    );
}

/// A registry that redirects blob downloads to another host (as Docker Hub, MCR and GHCR do to
/// their CDNs): silo follows, and never sends the registry credentials to the other host.
#[test]
fn redirected_blob_downloads_get_no_credentials() {
    let registry = Registry::htpasswd();
    let image = Image::random_linux(24, &[300 * 1024]);
    Pusher::new(&registry).push_image("faults/cdn", &image, Some("v1"));
    let proxy = FaultProxy::start(registry.addr());
    let cdn = FileServer::start();
    let blob = &image.layers[0].blob;
    let path = format!("/cdn/{}", blob.digest);
    cdn.publish(&path, blob.bytes.clone());
    // `localhost`, not 127.0.0.1: another host name, so another origin.
    let location = format!("http://localhost:{}{path}?sig=abc", cdn.addr().port());
    proxy.inject("GET", &blob.digest, Fault::Redirect(location), 100);

    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("cdn");
    silo_cli::ok(&args![
        "pull",
        proxy.reference("faults/cdn:v1"),
        "--output",
        format!("oci:{}", out.display()),
        silo_cli::plain_http_flags(),
        "--creds",
        "testuser:testpass",
    ]);
    assert!(OciLayout::open(&out).verify_blobs().contains(&blob.digest));
    let served = cdn.requests();
    assert!(
        served
            .iter()
            .any(|r| r.path == path && (r.status == 200 || r.status == 206)),
        "the redirect was not followed: {served:?}"
    );
    assert!(
        served.iter().all(|r| !r.had_authorization),
        "registry credentials were sent to the CDN host: {served:?}"
    );
}
