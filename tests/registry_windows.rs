//! Windows-specific registry behaviour on a harness-built manifest list (entries 17763 / 20348 x2 /
//! 26100, `win32k` on some, one foreign layer served by a local file server): platform selection
//! by os.version, the explanation `inspect` gives, fetching the foreign layer from its URL without
//! credentials, and the three push policies (skip, include, strip) including an air-gapped mirror.

use silo_tests::args;
use silo_tests::fileserver::FileServer;
use silo_tests::image::{sha256_digest, DOCKER_FOREIGN_LAYER};
use silo_tests::registry::Registry;
use silo_tests::silo_cli::{self, creds_flags, transport_flags, OciLayout};
use silo_tests::skopeo;
use silo_tests::windows::WindowsFixture;

struct Setup {
    files: FileServer,
    fixture: WindowsFixture,
    registry: Registry,
    work: tempfile::TempDir,
}

/// The fixture pushed as `win/app:ltsc` to `registry`.
fn setup(registry: Registry) -> Setup {
    let files = FileServer::start();
    let fixture = WindowsFixture::build(&files);
    fixture.push(&registry, "win/app", "ltsc");
    Setup {
        files,
        fixture,
        registry,
        work: tempfile::tempdir().unwrap(),
    }
}

impl Setup {
    fn reference(&self) -> String {
        self.registry.reference("win/app:ltsc")
    }

    /// `silo pull REF --platform P --output oci:DIR`; returns the layout.
    fn pull(&self, selector: &[String], name: &str) -> OciLayout {
        let out = self.work.path().join(name);
        silo_cli::ok(&args![
            "pull",
            self.reference(),
            selector.to_vec(),
            "--output",
            format!("oci:{}", out.display()),
            transport_flags(&self.registry),
            creds_flags(&self.registry),
        ]);
        OciLayout::open(&out)
    }
}

fn platform(version: &str) -> Vec<String> {
    args!["--platform", format!("windows/amd64:{version}")]
}

/// Asserts `layout` holds entry `expected` of the fixture (exact manifest bytes, every layer) and
/// no other entry's manifest.
fn assert_holds_entry(fixture: &WindowsFixture, layout: &OciLayout, expected: usize) {
    let present = layout.verify_blobs();
    for (i, entry) in fixture.entries.iter().enumerate() {
        let has = present.contains(&entry.image.manifest.digest);
        assert_eq!(
            has,
            i == expected,
            "entry {i} ({}) {} in the layout; expected only entry {expected}",
            entry.os_version,
            if has { "is" } else { "is not" }
        );
    }
    let chosen = &fixture.entries[expected].image;
    assert_eq!(
        layout.blob(&chosen.manifest.digest).unwrap(),
        chosen.manifest.bytes
    );
    for layer in &chosen.layers {
        assert!(
            present.contains(&layer.blob.digest),
            "layer {} missing",
            layer.blob.digest
        );
    }
    assert!(present.contains(&chosen.config.digest));
}

#[test]
fn platform_selection_follows_the_windows_build_rules() {
    let s = setup(Registry::no_auth());
    // A 20348 host: same build, highest UBR wins (2461 over 1850).
    assert_holds_entry(&s.fixture, &s.pull(&platform("10.0.20348"), "ws2022"), 2);
    // An exact os.version picks that very entry.
    assert_holds_entry(
        &s.fixture,
        &s.pull(&platform("10.0.20348.1850"), "ws2022-1850"),
        1,
    );
    // Before 20348 only the exact build runs in process isolation.
    assert_holds_entry(&s.fixture, &s.pull(&platform("10.0.17763"), "ws2019"), 0);
    // A 26100 host prefers its own build over the 20348 ones it could also run.
    assert_holds_entry(&s.fixture, &s.pull(&platform("10.0.26100"), "ws2025"), 3);
    // --os-version is the same selection spelled apart from --platform.
    let by_os_version = args!["--platform", "windows/amd64", "--os-version", "10.0.17763"];
    assert_holds_entry(&s.fixture, &s.pull(&by_os_version, "ws2019-os-version"), 0);
}

#[test]
fn no_matching_build_is_an_error_that_lists_the_candidates() {
    let s = setup(Registry::no_auth());
    let out = s.work.path().join("none");
    let stderr = silo_cli::fails(&args![
        "pull",
        s.reference(),
        platform("10.0.19041"),
        "--output",
        format!("oci:{}", out.display()),
        transport_flags(&s.registry),
    ]);
    for entry in &s.fixture.entries {
        assert!(
            stderr.contains(&entry.os_version),
            "the error does not say why {} was not chosen:\n{stderr}",
            entry.os_version
        );
    }
}

#[test]
fn inspect_explains_the_choice() {
    let s = setup(Registry::no_auth());
    let stdout = silo_cli::ok(&args![
        "inspect",
        s.reference(),
        platform("10.0.20348"),
        transport_flags(&s.registry),
    ]);
    let chosen = &s.fixture.entries[WindowsFixture::LTSC2022_LATEST];
    assert!(stdout.contains(&chosen.image.manifest.digest), "{stdout}");
    for entry in &s.fixture.entries {
        assert!(
            stdout.contains(&entry.os_version),
            "inspect does not mention {}:\n{stdout}",
            entry.os_version
        );
    }
    let raw = silo_cli::run(&args![
        "inspect",
        s.reference(),
        "--raw",
        transport_flags(&s.registry)
    ]);
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    assert_eq!(raw.stdout, s.fixture.list.bytes);
}

#[test]
fn foreign_layer_comes_from_its_url_without_credentials() {
    let s = setup(Registry::htpasswd());
    let layout = s.pull(&platform("10.0.20348"), "foreign");
    assert_holds_entry(&s.fixture, &layout, 2);
    assert_eq!(
        layout.blob(&s.fixture.foreign.digest).unwrap(),
        s.fixture.foreign.bytes
    );
    let served = s.files.requests();
    let gets: Vec<_> = served
        .iter()
        .filter(|r| r.path == s.fixture.foreign_path && r.method == "GET")
        .collect();
    assert!(
        !gets.is_empty(),
        "the foreign URL was never fetched: {served:?}"
    );
    assert!(
        served.iter().all(|r| !r.had_authorization),
        "registry credentials were sent to the foreign URL"
    );
    assert_eq!(
        s.files.bytes_served(&s.fixture.foreign_path),
        s.fixture.foreign.size()
    );
    // The registry is asked first (it may hold the blob after all), and said 404.
    let asked_registry = s.registry.access_log().iter().any(|e| {
        e.method == "GET" && e.uri.ends_with(&s.fixture.foreign.digest) && e.status == 404
    });
    assert!(
        asked_registry,
        "the registry was not tried before the foreign URL"
    );
}

#[test]
fn foreign_urls_on_loopback_are_refused_unless_allowed() {
    let s = setup(Registry::no_auth());
    let home = tempfile::tempdir().unwrap();
    let out = s.work.path().join("refused");
    let output = silo_cli::command(
        &args![
            "pull",
            s.reference(),
            platform("10.0.20348"),
            "--output",
            format!("oci:{}", out.display()),
            transport_flags(&s.registry),
        ],
        home.path(),
    )
    .env_remove(silo_cli::ALLOW_PRIVATE_FOREIGN_URLS.0)
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "a loopback foreign URL was fetched without permission"
    );
    assert!(stderr.contains(&s.fixture.foreign.digest), "{stderr}");
    assert!(
        stderr.contains(&s.files.url(&s.fixture.foreign_path)),
        "{stderr}"
    );
    assert_eq!(s.files.bytes_served(&s.fixture.foreign_path), 0);
}

/// Pulls entry 2 into a layout, then pushes it three ways.
#[test]
fn push_skips_includes_or_strips_foreign_layers() {
    let s = setup(Registry::no_auth());
    let layout = s.pull(&platform("10.0.20348"), "src");
    let entry = &s.fixture.entries[WindowsFixture::LTSC2022_LATEST].image;
    let src = format!("oci:{}", layout.dir.display());
    let foreign = &s.fixture.foreign;

    // Default: the foreign blob stays out, the manifest (with its urls) is pushed unchanged.
    let skip = Registry::no_auth();
    silo_cli::ok(&args![
        "push",
        src.clone(),
        skip.reference("win/skip:v1"),
        transport_flags(&skip),
    ]);
    assert_eq!(
        sha256_digest(&skopeo::inspect(&skip, "win/skip:v1", true)),
        entry.manifest.digest
    );
    assert!(
        !skip.has_blob(&foreign.digest),
        "the foreign layer was uploaded by default"
    );
    assert!(skip.has_blob(&entry.layers[1].blob.digest));

    // --include-nondistributable: uploaded, manifest still unchanged.
    let include = Registry::no_auth();
    silo_cli::ok(&args![
        "push",
        src.clone(),
        include.reference("win/include:v1"),
        "--include-nondistributable",
        transport_flags(&include),
    ]);
    assert_eq!(
        sha256_digest(&skopeo::inspect(&include, "win/include:v1", true)),
        entry.manifest.digest
    );
    assert!(include.has_blob(&foreign.digest));

    // A strict mirror refuses the manifest while it has urls …
    let strict = Registry::strict_mirror();
    let stderr = silo_cli::fails(&args![
        "push",
        src.clone(),
        strict.reference("win/strict:v1"),
        transport_flags(&strict),
    ]);
    assert!(stderr.to_lowercase().contains("manifest"), "{stderr}");
    assert!(
        stderr.contains("use --include-nondistributable, or --strip-foreign-urls"),
        "no hint at the foreign-layer flags: {stderr}"
    );
    // … and takes it with --strip-foreign-urls: blob uploaded, distributable media type, no urls,
    // a new manifest digest (the layer digests and diff_ids stay).
    let out = silo_cli::run(&args![
        "push",
        src,
        strict.reference("win/strict:v1"),
        "--strip-foreign-urls",
        transport_flags(&strict),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.to_lowercase().contains("digest"),
        "push does not say the digest changes:\n{said}"
    );
    assert_stripped(&strict, "win/strict:v1", entry, &s.fixture);
}

/// The manifest at `reference` is `original` with its foreign layer made distributable.
fn assert_stripped(
    registry: &Registry,
    reference: &str,
    original: &silo_tests::image::Image,
    fixture: &WindowsFixture,
) {
    let raw = skopeo::inspect(registry, reference, true);
    assert_ne!(sha256_digest(&raw), original.manifest.digest);
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let base = &manifest["layers"][0];
    assert_eq!(base["digest"], fixture.foreign.digest.as_str());
    assert_ne!(base["mediaType"], DOCKER_FOREIGN_LAYER);
    assert!(
        base["mediaType"].as_str().unwrap().ends_with("tar.gzip")
            || base["mediaType"].as_str().unwrap().ends_with("tar+gzip"),
        "{base}"
    );
    assert!(base.get("urls").is_none(), "urls survived: {base}");
    assert!(registry.has_blob(&fixture.foreign.digest));
    assert_eq!(
        manifest["config"]["digest"],
        original.config.digest.as_str()
    );
}

/// An air-gapped mirror: `silo copy --strip-foreign-urls` of the whole list into a registry that
/// refuses urls; afterwards the image pulls from the mirror with the foreign URL gone.
#[test]
fn air_gap_copy_makes_a_mirror_that_needs_no_foreign_url() {
    let s = setup(Registry::no_auth());
    let mirror = Registry::strict_mirror();
    silo_cli::ok(&args![
        "copy",
        s.reference(),
        mirror.reference("mirror/app:ltsc"),
        "--strip-foreign-urls",
        transport_flags(&s.registry),
    ]);
    let list: serde_json::Value =
        serde_json::from_slice(&skopeo::inspect(&mirror, "mirror/app:ltsc", true)).unwrap();
    let entries = list["manifests"]
        .as_array()
        .expect("the mirror holds a list");
    assert_eq!(
        entries.len(),
        s.fixture.entries.len(),
        "every platform is mirrored"
    );
    let chosen = &s.fixture.entries[WindowsFixture::LTSC2022_LATEST];
    let mirrored = entries
        .iter()
        .find(|e| e["platform"]["os.version"] == chosen.os_version.as_str())
        .unwrap();
    let digest = mirrored["digest"].as_str().unwrap();
    assert_stripped(
        &mirror,
        &format!("mirror/app@{digest}"),
        &chosen.image,
        &s.fixture,
    );
    // Entries without foreign layers keep their digests.
    let untouched = &s.fixture.entries[0];
    assert!(entries
        .iter()
        .any(|e| e["digest"] == untouched.image.manifest.digest.as_str()));

    s.files.unpublish(&s.fixture.foreign_path);
    let out = s.work.path().join("from-mirror");
    silo_cli::ok(&args![
        "pull",
        mirror.reference("mirror/app:ltsc"),
        platform("10.0.20348"),
        "--output",
        format!("oci:{}", out.display()),
        transport_flags(&mirror),
    ]);
    let layout = OciLayout::open(&out);
    layout.verify_blobs();
    assert_eq!(
        layout.blob(&s.fixture.foreign.digest).unwrap(),
        s.fixture.foreign.bytes
    );
}

/// `silo copy` of the whole list between registries keeps every digest (list included) and, by
/// default, leaves the foreign layer out, like a push.
#[test]
fn copy_of_the_list_between_registries_keeps_digests() {
    let s = setup(Registry::no_auth());
    let token = Registry::token();
    silo_cli::ok(&args![
        "copy",
        s.reference(),
        token.reference("copied/app:ltsc"),
        transport_flags(&s.registry),
        creds_flags(&token),
    ]);
    assert_eq!(
        skopeo::inspect(&token, "copied/app:ltsc", true),
        s.fixture.list.bytes
    );
    for entry in &s.fixture.entries {
        for blob in entry.image.distributable_blobs() {
            assert!(token.has_blob(&blob.digest), "{} missing", blob.digest);
        }
    }
    assert!(!token.has_blob(&s.fixture.foreign.digest));
}
