//! silo against real peers on a real docker-registry in each auth mode: skopeo pushes → silo pulls
//! (digests equal); silo pushes → skopeo and oci-client read it; inspect shows the exact bytes;
//! cross-repository mount with one dual-scope token; bad credentials and an unreachable registry
//! give clear errors.

use silo_tests::args;
use silo_tests::image::{sha256_digest, Image};
use silo_tests::registry::Registry;
use silo_tests::silo_cli::{self, creds_flags, transport_flags, OciLayout};
use silo_tests::skopeo;

/// skopeo pushes a harness-built image; `silo pull --output oci:DIR` must store the same manifest
/// bytes (so the same digest), the config and every layer, each verified against its name.
fn skopeo_push_then_silo_pull(registry: &Registry) {
    let image = Image::random_linux(11, &[300 * 1024, 40 * 1024, 5]);
    let work = tempfile::tempdir().unwrap();
    image.write_oci_layout(&work.path().join("src"), "v1");
    skopeo::push_layout(
        &work.path().join("src"),
        "v1",
        registry,
        "interop/pulled:v1",
    );

    let out = work.path().join("out");
    silo_cli::ok(&args![
        "pull",
        registry.reference("interop/pulled:v1"),
        "--output",
        format!("oci:{}", out.display()),
        transport_flags(registry),
        creds_flags(registry),
    ]);
    let layout = OciLayout::open(&out);
    assert!(
        layout.index_digests().contains(&image.manifest.digest),
        "index.json does not name the pulled manifest {}: {}",
        image.manifest.digest,
        layout.index()
    );
    let present = layout.verify_blobs();
    assert_eq!(
        layout.blob(&image.manifest.digest).unwrap(),
        image.manifest.bytes
    );
    for blob in image.distributable_blobs() {
        assert!(present.contains(&blob.digest), "{} missing", blob.digest);
    }
}

#[test]
fn skopeo_push_silo_pull_no_auth() {
    skopeo_push_then_silo_pull(&Registry::no_auth());
}

#[test]
fn skopeo_push_silo_pull_htpasswd() {
    skopeo_push_then_silo_pull(&Registry::htpasswd());
}

#[test]
fn skopeo_push_silo_pull_token() {
    let registry = Registry::token();
    skopeo_push_then_silo_pull(&registry);
    let asked = registry.token_server().unwrap().requests();
    assert!(
        asked.iter().any(|t| t.user.as_deref() == Some("testuser")
            && t.scopes
                .iter()
                .any(|s| s == "repository:interop/pulled:pull")),
        "silo did not fetch an authenticated pull token: {asked:?}"
    );
}

#[test]
fn skopeo_push_silo_pull_tls() {
    skopeo_push_then_silo_pull(&Registry::tls());
}

/// silo pushes an OCI layout the harness wrote; skopeo must see the very same manifest digest
/// (silo must not re-serialize) and copy the image back out to an OCI layout.
fn silo_push_then_skopeo_reads(registry: &Registry) -> Image {
    let image = Image::random_linux(12, &[200 * 1024, 3000]);
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    image.write_oci_layout(&src, "v1");
    silo_cli::ok(&args![
        "push",
        format!("oci:{}:v1", src.display()),
        registry.reference("interop/pushed:v1"),
        transport_flags(registry),
        creds_flags(registry),
    ]);
    let raw = skopeo::inspect(registry, "interop/pushed:v1", true);
    assert_eq!(sha256_digest(&raw), image.manifest.digest);
    let back = work.path().join("back");
    skopeo::pull_to_layout(registry, "interop/pushed:v1", &back, "v1");
    for layer in &image.layers {
        assert_eq!(
            OciLayout::open(&back).blob(&layer.blob.digest).unwrap(),
            layer.blob.bytes
        );
        assert!(registry.has_blob(&layer.blob.digest));
    }
    image
}

#[test]
fn silo_push_skopeo_reads_no_auth() {
    silo_push_then_skopeo_reads(&Registry::no_auth());
}

#[test]
fn silo_push_skopeo_reads_htpasswd() {
    silo_push_then_skopeo_reads(&Registry::htpasswd());
}

#[test]
fn silo_push_skopeo_reads_token() {
    silo_push_then_skopeo_reads(&Registry::token());
}

#[test]
fn silo_push_skopeo_reads_tls() {
    silo_push_then_skopeo_reads(&Registry::tls());
}

/// oci-client (an independent Rust client) reads what silo pushed: manifest and every blob,
/// digests checked by oci-client and again here.
#[test]
fn oci_client_reads_what_silo_pushed() {
    use oci_client::client::{ClientConfig, ClientProtocol};
    use oci_client::secrets::RegistryAuth;

    let registry = Registry::htpasswd();
    let image = silo_push_then_skopeo_reads(&registry);
    let client = oci_client::Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    });
    let reference: oci_client::Reference = registry.reference("interop/pushed:v1").parse().unwrap();
    let auth = RegistryAuth::Basic("testuser".into(), "testpass".into());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (manifest, digest) = client
            .pull_image_manifest(&reference, &auth)
            .await
            .expect("oci-client reads the manifest silo pushed");
        assert_eq!(digest, image.manifest.digest);
        assert_eq!(manifest.layers.len(), image.layers.len());
        for (descriptor, layer) in manifest.layers.iter().zip(&image.layers) {
            let mut bytes = Vec::new();
            client
                .pull_blob(&reference, descriptor, &mut bytes)
                .await
                .expect("oci-client reads a blob silo pushed");
            assert_eq!(sha256_digest(&bytes), layer.blob.digest);
        }
        let mut config = Vec::new();
        client
            .pull_blob(&reference, &manifest.config, &mut config)
            .await
            .unwrap();
        assert_eq!(config, image.config.bytes);
    });
}

#[test]
fn inspect_shows_raw_manifest_config_and_json() {
    let registry = Registry::no_auth();
    let image = Image::random_linux(13, &[1000]);
    silo_tests::image::Pusher::new(&registry).push_image("interop/inspect", &image, Some("v1"));
    let reference = registry.reference("interop/inspect:v1");
    let flags = transport_flags(&registry);

    let raw = silo_cli::run(&args!["inspect", &reference, "--raw", flags.clone()]);
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    assert_eq!(
        raw.stdout, image.manifest.bytes,
        "--raw must print the registry's exact bytes"
    );

    let config = silo_cli::ok(&args!["inspect", &reference, "--config", flags.clone()]);
    let config: serde_json::Value = serde_json::from_str(&config).expect("--config prints JSON");
    let expected: serde_json::Value = serde_json::from_slice(&image.config.bytes).unwrap();
    assert_eq!(config, expected);

    let json = silo_cli::ok(&args!["inspect", &reference, "--format", "json", flags]);
    let json: serde_json::Value = serde_json::from_str(&json).expect("--format json prints JSON");
    assert!(
        json.to_string().contains(&image.manifest.digest),
        "inspect --format json does not name the manifest digest: {json}"
    );
}

/// `silo copy` inside one token registry mounts every blob with a single token that covers the
/// destination (pull,push — first) and the source (pull), as distribution requires.
#[test]
fn copy_within_token_registry_mounts_with_a_dual_scope_token() {
    let registry = Registry::token();
    let image = Image::random_linux(14, &[100 * 1024, 2000]);
    let work = tempfile::tempdir().unwrap();
    image.write_oci_layout(work.path(), "v1");
    skopeo::push_layout(work.path(), "v1", &registry, "mount/src:v1");
    let gets_before: usize = image
        .distributable_blobs()
        .map(|b| registry.blob_gets(&b.digest))
        .sum();

    silo_cli::ok(&args![
        "copy",
        registry.reference("mount/src:v1"),
        registry.reference("mount/dst:v1"),
        transport_flags(&registry),
        creds_flags(&registry),
    ]);

    let raw = skopeo::inspect(&registry, "mount/dst:v1", true);
    assert_eq!(sha256_digest(&raw), image.manifest.digest);
    let tokens = registry.token_server().unwrap().requests();
    assert!(
        tokens.iter().any(|t| t.status == 200
            && t.scopes.first().map(String::as_str) == Some("repository:mount/dst:pull,push")
            && t.scopes.iter().any(|s| s == "repository:mount/src:pull")),
        "no dual-scope token (dst pull,push first, src pull): {tokens:#?}"
    );
    let mounts: Vec<_> = registry
        .access_log()
        .into_iter()
        .filter(|e| {
            e.method == "POST" && e.uri.contains("mount=") && e.uri.contains("from=mount%2Fsrc")
        })
        .collect();
    for layer in &image.layers {
        let hex = &layer.blob.digest[7..];
        assert!(
            mounts
                .iter()
                .any(|e| e.uri.contains(hex) && e.status == 201),
            "layer {} was not mounted (201): {mounts:#?}",
            layer.blob.digest
        );
    }
    let gets_after: usize = image
        .distributable_blobs()
        .map(|b| registry.blob_gets(&b.digest))
        .sum();
    assert!(
        gets_after - gets_before <= 1,
        "copy within a registry downloaded blobs instead of mounting them ({} GETs)",
        gets_after - gets_before
    );
}

#[test]
fn wrong_password_is_a_clear_error_without_the_secret() {
    let registry = Registry::htpasswd();
    let image = Image::random_linux(15, &[1000]);
    silo_tests::image::Pusher::new(&registry).push_image("auth/img", &image, Some("v1"));
    let secret = "n0t-the-Passw0rd";
    let out = tempfile::tempdir().unwrap();
    let stderr = silo_cli::fails(&args![
        "pull",
        registry.reference("auth/img:v1"),
        "--output",
        format!("oci:{}", out.path().join("o").display()),
        transport_flags(&registry),
        "--creds",
        format!("testuser:{secret}"),
    ]);
    assert!(
        !stderr.contains(secret),
        "the password leaked into the error:\n{stderr}"
    );
    let lower = stderr.to_lowercase();
    assert!(
        lower.contains("401") || lower.contains("unauthorized") || lower.contains("authentication"),
        "the error does not say authentication failed:\n{stderr}"
    );
    assert!(
        stderr.contains(&registry.host()),
        "the error does not name the registry:\n{stderr}"
    );
}

#[test]
fn anonymous_push_to_token_registry_is_denied_clearly() {
    let registry = Registry::token();
    let image = Image::random_linux(16, &[1000]);
    let work = tempfile::tempdir().unwrap();
    image.write_oci_layout(work.path(), "v1");
    let stderr = silo_cli::fails(&args![
        "push",
        format!("oci:{}:v1", work.path().display()),
        registry.reference("auth/denied:v1"),
        transport_flags(&registry),
    ]);
    let lower = stderr.to_lowercase();
    assert!(
        lower.contains("denied") || lower.contains("401") || lower.contains("unauthorized"),
        "{stderr}"
    );
}

#[test]
fn unreachable_registry_is_a_clear_error() {
    let port = silo_tests::tools::free_port();
    let out = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let stderr = silo_cli::fails(&args![
        "pull",
        format!("127.0.0.1:{port}/nothing/here:v1"),
        "--output",
        format!("oci:{}", out.path().join("o").display()),
        silo_cli::plain_http_flags(),
    ]);
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.to_lowercase().contains("connect"), "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "giving up on a refused connection took {:?}",
        started.elapsed()
    );
}

/// Credentials come from `$DOCKER_CONFIG/config.json` when no `--creds` is given.
#[test]
fn credentials_come_from_docker_config() {
    let registry = Registry::htpasswd();
    let image = Image::random_linux(17, &[2000]);
    silo_tests::image::Pusher::new(&registry).push_image("auth/cfg", &image, Some("v1"));
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("o");
    let output = silo_cli::command(
        &args![
            "pull",
            registry.reference("auth/cfg:v1"),
            "--output",
            format!("oci:{}", out.display()),
            transport_flags(&registry),
        ],
        home.path(),
    )
    .env("DOCKER_CONFIG", registry.docker_config_dir())
    .output()
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(OciLayout::open(&out)
        .verify_blobs()
        .contains(&image.layers[0].blob.digest));
}

/// `silo login` stores credentials where docker and skopeo find them; `silo logout` removes them.
#[test]
fn login_then_pull_then_logout() {
    use std::io::Write;
    let registry = Registry::htpasswd();
    let image = Image::random_linux(18, &[2000]);
    silo_tests::image::Pusher::new(&registry).push_image("auth/login", &image, Some("v1"));
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("docker/config.json");

    let mut login = silo_cli::command(
        &args![
            "login",
            registry.host(),
            "--username",
            "testuser",
            "--password-stdin",
            transport_flags(&registry),
        ],
        home.path(),
    )
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    login
        .stdin
        .take()
        .unwrap()
        .write_all(b"testpass\n")
        .unwrap();
    let done = login.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).expect("login wrote config.json")).unwrap();
    assert!(saved["auths"].get(registry.host()).is_some(), "{saved}");

    // skopeo (a peer) accepts what silo login wrote.
    let peer = silo_tests::skopeo::skopeo()
        .args(["inspect", "--raw", "--tls-verify=false"])
        .env("DOCKER_CONFIG", home.path().join("docker"))
        .env("REGISTRY_AUTH_FILE", &config)
        .arg(format!("docker://{}", registry.reference("auth/login:v1")))
        .output()
        .unwrap();
    assert!(
        peer.status.success(),
        "{}",
        String::from_utf8_lossy(&peer.stderr)
    );

    let out = home.path().join("o");
    let pull = args![
        "pull",
        registry.reference("auth/login:v1"),
        "--output",
        format!("oci:{}", out.display()),
        transport_flags(&registry),
    ];
    let pulled = silo_cli::command(&pull, home.path()).output().unwrap();
    assert!(
        pulled.status.success(),
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );

    let logout = silo_cli::command(&args!["logout", registry.host()], home.path())
        .output()
        .unwrap();
    assert!(
        logout.status.success(),
        "{}",
        String::from_utf8_lossy(&logout.stderr)
    );
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert!(saved["auths"].get(registry.host()).is_none(), "{saved}");
    let again = silo_cli::command(&pull, home.path()).output().unwrap();
    assert!(
        !again.status.success(),
        "pulled after logout without credentials"
    );
}
