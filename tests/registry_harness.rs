//! The registry test harness itself, checked with real parts only (docker-registry, skopeo,
//! openssl, htpasswd): every registry mode accepts a skopeo push and serves it back unchanged, auth
//! is really enforced, the Windows fixture is what it claims, and each proxy fault does exactly
//! what the silo tests rely on. If these fail, no registry end-to-end test can be trusted.

use silo_tests::faultproxy::{Fault, FaultProxy};
use silo_tests::fileserver::FileServer;
use silo_tests::http;
use silo_tests::image::{sha256_digest, Image, Pusher};
use silo_tests::pki::SigningAlg;
use silo_tests::registry::Registry;
use silo_tests::skopeo::{self, skopeo};
use silo_tests::windows::WindowsFixture;
use std::time::{Duration, Instant};

/// skopeo pushes a layout the harness wrote, reads the manifest back byte-for-byte, and pulls it
/// into another layout with the same layer blobs.
fn roundtrip_through(registry: &Registry) {
    let image = Image::random_linux(1, &[64 * 1024, 16 * 1024]);
    let work = tempfile::tempdir().unwrap();
    image.write_oci_layout(&work.path().join("src"), "v1");
    skopeo::push_layout(&work.path().join("src"), "v1", registry, "harness/img:v1");
    let raw = skopeo::inspect(registry, "harness/img:v1", true);
    assert_eq!(
        sha256_digest(&raw),
        image.manifest.digest,
        "manifest changed on the way"
    );
    skopeo::pull_to_layout(registry, "harness/img:v1", &work.path().join("dst"), "v1");
    for layer in &image.layers {
        let hex = layer.blob.digest.strip_prefix("sha256:").unwrap();
        let pulled = std::fs::read(work.path().join("dst/blobs/sha256").join(hex)).unwrap();
        assert_eq!(pulled, layer.blob.bytes);
        assert!(registry.has_blob(&layer.blob.digest));
        assert!(
            registry.blob_gets(&layer.blob.digest) >= 1,
            "access log lacks the blob GET"
        );
    }
}

#[test]
fn no_auth_registry_roundtrips_a_skopeo_push() {
    roundtrip_through(&Registry::no_auth());
}

#[test]
fn htpasswd_registry_roundtrips_and_rejects_anonymous_and_wrong_passwords() {
    let registry = Registry::htpasswd();
    roundtrip_through(&registry);
    let anon = http::call(registry.addr(), "GET", "/v2/", &[], &[]).unwrap();
    assert_eq!(anon.status(), 401);
    assert!(anon
        .header("www-authenticate")
        .unwrap()
        .starts_with("Basic "));
    let out = skopeo()
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds=testuser:wrong",
        ])
        .arg(format!("docker://{}", registry.reference("harness/img:v1")))
        .output()
        .unwrap();
    assert!(!out.status.success(), "a wrong password was accepted");
}

#[test]
fn token_registry_rs256_roundtrips_and_records_token_requests() {
    let registry = Registry::token_with(SigningAlg::Rs256);
    roundtrip_through(&registry);
    let challenge = http::call(registry.addr(), "GET", "/v2/", &[], &[]).unwrap();
    let header = challenge.header("www-authenticate").unwrap().to_string();
    assert!(header.starts_with("Bearer realm=\""), "{header}");
    let tokens = registry.token_server().unwrap().requests();
    assert!(
        tokens.iter().any(|t| t.user.as_deref() == Some("testuser")
            && t.scopes
                .iter()
                .any(|s| s.ends_with("harness/img:pull,push"))),
        "no authenticated push-scope token request: {tokens:?}"
    );
}

#[test]
fn token_registry_accepts_es256_tokens_and_oauth2_post_flows() {
    let registry = Registry::token_with(SigningAlg::Es256);
    roundtrip_through(&registry);
    // OAuth2 password grant with a refresh token, then the refresh grant; both tokens must be
    // accepted by the registry itself.
    let realm_addr = registry.token_server().unwrap().addr();
    let scope = "repository:harness/img:pull";
    let form = |extra: &str| {
        format!(
            "service={}&scope={}&client_id=silo-tests{extra}",
            silo_tests::registry::TOKEN_SERVICE,
            http::percent_encode(scope)
        )
    };
    let post = |body: String| {
        let r = http::call(
            realm_addr,
            "POST",
            "/token",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
        .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text());
        serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()
    };
    let first = post(form(
        "&grant_type=password&username=testuser&password=testpass&access_type=offline",
    ));
    let refresh = first["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string();
    let second = post(form(&format!(
        "&grant_type=refresh_token&refresh_token={refresh}"
    )));
    for token in [&first["access_token"], &second["access_token"]] {
        let auth = format!("Bearer {}", token.as_str().unwrap());
        let r = http::call(
            registry.addr(),
            "GET",
            "/v2/harness/img/manifests/v1",
            &[
                ("Authorization", auth.as_str()),
                ("Accept", silo_tests::image::OCI_MANIFEST),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(
            r.status(),
            200,
            "registry rejected an OAuth2 token: {}",
            r.text()
        );
    }
    let bad = http::call(
        realm_addr,
        "POST",
        "/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form("&grant_type=password&username=testuser&password=nope").as_bytes(),
    )
    .unwrap();
    assert_eq!(bad.status(), 401);
}

#[test]
fn tls_registry_needs_its_ca() {
    let registry = Registry::tls();
    assert!(registry.url().starts_with("https://127.0.0.1:"));
    roundtrip_through(&registry);
    let out = skopeo()
        .args(["inspect", "--raw"])
        .arg(format!("docker://{}", registry.reference("harness/img:v1")))
        .output()
        .unwrap();
    assert!(!out.status.success(), "TLS verified without the test CA");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("certificate"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn windows_fixture_is_a_manifest_list_with_a_foreign_layer_only_on_the_file_server() {
    let files = FileServer::start();
    let fixture = WindowsFixture::build(&files);
    let registry = Registry::no_auth();
    fixture.push(&registry, "win/app", "ltsc");

    let raw = skopeo::inspect(&registry, "win/app:ltsc", true);
    assert_eq!(raw, fixture.list.bytes);
    let list: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let versions: Vec<&str> = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["os.version"].as_str().unwrap())
        .collect();
    assert_eq!(
        versions,
        [
            "10.0.17763.5820",
            "10.0.20348.1850",
            "10.0.20348.2461",
            "10.0.26100.1742"
        ]
    );
    let chosen = &fixture.entries[WindowsFixture::LTSC2022_LATEST];
    let foreign = &chosen.image.layers[0].blob;
    assert_eq!(foreign.media_type, silo_tests::image::DOCKER_FOREIGN_LAYER);
    assert!(
        !registry.has_blob(&foreign.digest),
        "the foreign blob must not be in the registry"
    );
    assert!(registry.has_blob(&chosen.image.layers[1].blob.digest));
    let got = http::call(files.addr(), "GET", &fixture.foreign_path, &[], &[]).unwrap();
    assert_eq!(sha256_digest(&got.body), foreign.digest);
    assert_eq!(files.bytes_served(&fixture.foreign_path), foreign.size());

    // skopeo carries the list (with its foreign urls) to a token registry unchanged.
    let token = Registry::token();
    skopeo::copy_between(&registry, "win/app:ltsc", &token, "mirror/app:ltsc", true);
    assert_eq!(
        skopeo::inspect(&token, "mirror/app:ltsc", true),
        fixture.list.bytes
    );

    // A registry without `validation.manifests.urls.allow` refuses manifests with urls.
    let strict = Registry::strict_mirror();
    let pusher = Pusher::new(&strict);
    for blob in chosen.image.distributable_blobs() {
        pusher.push_blob("win/app", blob);
    }
    let refused = pusher.try_push_manifest("win/app", "x", &chosen.image.manifest);
    assert_ne!(refused.status(), 201, "{}", refused.text());
    assert!(
        refused.text().contains("MANIFEST_BLOB_UNKNOWN"),
        "{}",
        refused.text()
    );
}

#[test]
fn file_server_honours_ranges_and_counts_bytes() {
    let files = FileServer::start();
    files.publish("/f", (0u8..100).collect());
    let part = http::call(files.addr(), "GET", "/f", &[("Range", "bytes=90-")], &[]).unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.body, (90u8..100).collect::<Vec<_>>());
    assert_eq!(part.header("content-range"), Some("bytes 90-99/100"));
    assert_eq!(
        http::call(files.addr(), "GET", "/nope", &[], &[])
            .unwrap()
            .status(),
        404
    );
    assert_eq!(files.bytes_served("/f"), 10);
}

/// A registry with one image, behind a proxy; returns (registry, proxy, image).
fn proxied_image() -> (Registry, FaultProxy, Image) {
    let registry = Registry::no_auth();
    let image = Image::random_linux(2, &[256 * 1024]);
    Pusher::new(&registry).push_image("faults/img", &image, Some("v1"));
    let proxy = FaultProxy::start(registry.addr());
    (registry, proxy, image)
}

#[test]
fn proxy_relays_untouched_and_counts_body_bytes() {
    let (_registry, proxy, image) = proxied_image();
    let blob = &image.layers[0].blob;
    let path = format!("/v2/faults/img/blobs/{}", blob.digest);
    let got = http::call(proxy.addr(), "GET", &path, &[], &[]).unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.body, blob.bytes);
    let ranged = http::call(proxy.addr(), "GET", &path, &[("Range", "bytes=1000-")], &[]).unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.body, blob.bytes[1000..]);
    assert_eq!(proxy.body_bytes_for(&blob.digest), 2 * blob.size() - 1000);
    let records = proxy.requests();
    assert_eq!(records[1].range.as_deref(), Some("bytes=1000-"));
    // A push through the proxy works too (Locations point back at the proxy).
    let upload = http::call(
        proxy.addr(),
        "POST",
        "/v2/faults/img/blobs/uploads/",
        &[],
        &[],
    )
    .unwrap();
    assert!(upload.header("location").unwrap().contains(&proxy.host()));
}

#[test]
fn proxy_faults_fire_once_each_as_specified() {
    let (_registry, proxy, image) = proxied_image();
    let blob = &image.layers[0].blob;
    let path = format!("/v2/faults/img/blobs/{}", blob.digest);
    let get = || http::call(proxy.addr(), "GET", &path, &[], &[]);

    proxy.inject("GET", &blob.digest, Fault::CutAfter(10_000), 1);
    let cut = get();
    assert!(cut.is_err(), "a cut body must not look complete");
    assert_eq!(get().unwrap().body, blob.bytes, "the cut fires once");

    proxy.inject("GET", &blob.digest, Fault::FlipByte { offset: 5 }, 1);
    let flipped = get().unwrap().body;
    assert_eq!(flipped.len(), blob.bytes.len());
    assert_ne!(sha256_digest(&flipped), blob.digest);
    assert_eq!(flipped[5] ^ blob.bytes[5], 1);

    proxy.inject(
        "",
        &blob.digest,
        Fault::Status {
            code: 429,
            retry_after: Some(2),
        },
        1,
    );
    let limited = get().unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.header("retry-after"), Some("2"));
    assert!(limited.text().contains("TOOMANYREQUESTS"));

    proxy.inject(
        "",
        &blob.digest,
        Fault::Status {
            code: 500,
            retry_after: None,
        },
        2,
    );
    assert_eq!(get().unwrap().status(), 500);
    assert_eq!(get().unwrap().status(), 500);
    assert_eq!(get().unwrap().status(), 200);

    proxy.inject(
        "GET",
        "/manifests/",
        Fault::ContentType("text/html".into()),
        1,
    );
    let accept = [("Accept", silo_tests::image::OCI_MANIFEST)];
    let wrong = http::call(
        proxy.addr(),
        "GET",
        "/v2/faults/img/manifests/v1",
        &accept,
        &[],
    )
    .unwrap();
    assert_eq!(wrong.header("content-type"), Some("text/html"));
    assert_eq!(wrong.body, image.manifest.bytes);

    proxy.inject("GET", "/manifests/", Fault::MalformedJson, 1);
    let bad = http::call(
        proxy.addr(),
        "GET",
        "/v2/faults/img/manifests/v1",
        &accept,
        &[],
    )
    .unwrap();
    assert_eq!(bad.status(), 200);
    assert!(serde_json::from_slice::<serde_json::Value>(&bad.body).is_err());

    proxy.inject(
        "GET",
        &blob.digest,
        Fault::Stall {
            after: 1000,
            pause: Duration::from_secs(2),
        },
        1,
    );
    let started = Instant::now();
    assert!(
        get().is_err(),
        "a stalled then closed body must not look complete"
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(proxy.pending_faults(), 0);
    let stalled = proxy
        .requests()
        .into_iter()
        .find(|r| matches!(r.fault, Some(Fault::Stall { .. })))
        .unwrap();
    assert_eq!(stalled.body_bytes, 1000);
}

#[test]
fn registry_is_stopped_by_pid_on_drop() {
    let registry = Registry::no_auth();
    let pid = registry.pid() as libc::pid_t;
    let addr = registry.addr();
    drop(registry);
    // SAFETY: signal 0 only probes whether the PID exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    assert!(!alive, "registry process {pid} survived drop");
    assert!(std::net::TcpStream::connect(addr).is_err());
}
