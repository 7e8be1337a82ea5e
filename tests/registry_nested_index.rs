//! Nested indexes (an index whose entry is an index — a vendor's layout, an attestation index):
//! built here, pushed into a real docker-registry with plain distribution API calls, then pulled,
//! copied and platform-selected through silo; nesting deeper than 4 levels is refused with a
//! message naming the limit.

use serde_json::json;
use silo_tests::args;
use silo_tests::image::{sha256_digest, Blob, Image, Pusher, OCI_INDEX};
use silo_tests::registry::Registry;
use silo_tests::silo_cli::{self, transport_flags, OciLayout};
use silo_tests::skopeo;

/// An OCI index of `entries` (descriptors).
fn index(entries: Vec<serde_json::Value>) -> Blob {
    let doc = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries});
    Blob::new(OCI_INDEX, serde_json::to_vec_pretty(&doc).unwrap())
}

fn windows_entry(image: &Image, os_version: &str) -> serde_json::Value {
    let mut d = image.manifest.descriptor();
    d["platform"] = json!({"os": "windows", "architecture": "amd64", "os.version": os_version});
    d
}

/// outer index → [inner index (no platform) → [17763 image, 20348 image], an attestation-like
/// manifest with platform unknown/unknown].
struct Nested {
    outer: Blob,
    inner: Blob,
    ltsc2019: Image,
    ltsc2022: Image,
    attestation: Image,
}

fn push_nested(registry: &Registry, repo: &str) -> Nested {
    let pusher = Pusher::new(registry);
    let ltsc2019 = Image::random_linux(81, &[40 * 1024]);
    let ltsc2022 = Image::random_linux(82, &[50 * 1024]);
    let attestation = Image::random_linux(83, &[1000]);
    for image in [&ltsc2019, &ltsc2022, &attestation] {
        pusher.push_image(repo, image, None);
    }
    let inner = index(vec![
        windows_entry(&ltsc2019, "10.0.17763.5820"),
        windows_entry(&ltsc2022, "10.0.20348.2700"),
    ]);
    pusher.push_manifest(repo, &inner.digest, &inner);
    let mut att = attestation.manifest.descriptor();
    att["platform"] = json!({"os": "unknown", "architecture": "unknown"});
    let outer = index(vec![inner.descriptor(), att]);
    pusher.push_manifest(repo, "v1", &outer);
    Nested {
        outer,
        inner,
        ltsc2019,
        ltsc2022,
        attestation,
    }
}

#[test]
fn nested_index_pull_copy_and_selection() {
    let source = Registry::no_auth();
    let n = push_nested(&source, "nest/app");
    let flags = transport_flags(&source);
    let work = tempfile::tempdir().unwrap();

    // Selection looks through the inner index.
    let pulled = work.path().join("pulled");
    let printed = silo_cli::ok(&args![
        "pull",
        source.reference("nest/app:v1"),
        "--platform",
        "windows/amd64:10.0.20348",
        "--output",
        format!("oci:{}:v1", pulled.display()),
        flags.clone()
    ]);
    assert_eq!(printed.trim(), n.ltsc2022.manifest.digest);
    let entry = &OciLayout::open(&pulled).index()["manifests"][0];
    assert_eq!(
        entry["platform"]["os.version"], "10.0.20348.2700",
        "the inner index entry's platform is kept"
    );
    let printed = silo_cli::ok(&args![
        "pull",
        source.reference("nest/app:v1"),
        "--platform",
        "windows/amd64:10.0.17763",
        "--output",
        format!("oci:{}:old", pulled.display()),
        flags.clone()
    ]);
    assert_eq!(printed.trim(), n.ltsc2019.manifest.digest);
    let inspect = silo_cli::ok(&args![
        "inspect",
        source.reference("nest/app:v1"),
        "--platform",
        "windows/amd64:10.0.20348",
        flags.clone()
    ]);
    assert!(
        inspect.contains(&n.ltsc2022.manifest.digest[..19]),
        "{inspect}"
    );

    // The whole tree into a layout, then back out to another registry: same digests.
    let all = work.path().join("all");
    let printed = silo_cli::ok(&args![
        "copy",
        source.reference("nest/app:v1"),
        format!("oci:{}:all", all.display()),
        flags.clone()
    ]);
    assert_eq!(printed.trim(), n.outer.digest);
    let blobs = OciLayout::open(&all).verify_blobs();
    for d in [
        &n.inner.digest,
        &n.ltsc2019.manifest.digest,
        &n.ltsc2022.manifest.digest,
        &n.attestation.manifest.digest,
        &n.ltsc2022.layers[0].blob.digest,
        &n.ltsc2019.config.digest,
    ] {
        assert!(blobs.contains(d), "{d} missing from the layout");
    }
    let dest = Registry::no_auth();
    silo_cli::ok(&args![
        "copy",
        format!("oci:{}:all", all.display()),
        dest.reference("mirror/app:v1"),
        transport_flags(&dest)
    ]);
    let raw = skopeo::inspect(&dest, "mirror/app:v1", true);
    assert_eq!(sha256_digest(&raw), n.outer.digest);
    let raw = skopeo::inspect(&dest, &format!("mirror/app@{}", n.inner.digest), true);
    assert_eq!(sha256_digest(&raw), n.inner.digest);
    assert!(dest.has_blob(&n.ltsc2019.layers[0].blob.digest));

    // Registry → registry keeps the tree too.
    silo_cli::ok(&args![
        "copy",
        source.reference("nest/app:v1"),
        dest.reference("direct/app:v1"),
        flags.clone(),
    ]);
    let raw = skopeo::inspect(&dest, "direct/app:v1", true);
    assert_eq!(sha256_digest(&raw), n.outer.digest);
    let raw = skopeo::inspect(&dest, &format!("direct/app@{}", n.inner.digest), true);
    assert_eq!(sha256_digest(&raw), n.inner.digest);

    // Layout → layout with a platform: chosen through the nested index.
    let one = work.path().join("one");
    let printed = silo_cli::ok(&args![
        "copy",
        "--platform",
        "windows/amd64:10.0.17763",
        format!("oci:{}:all", all.display()),
        format!("oci:{}:v1", one.display())
    ]);
    assert_eq!(printed.trim(), n.ltsc2019.manifest.digest);
    let entry = &OciLayout::open(&one).index()["manifests"][0];
    assert_eq!(entry["platform"]["os.version"], "10.0.17763.5820");
}

#[test]
fn nesting_deeper_than_four_levels_is_refused() {
    let registry = Registry::no_auth();
    let pusher = Pusher::new(&registry);
    let image = Image::random_linux(84, &[1000]);
    pusher.push_image("deep/app", &image, None);
    // Levels below the root: 5 nested indexes, then the image.
    let mut top = windows_entry(&image, "10.0.20348.1");
    let mut chain = Vec::new();
    for _ in 0..6 {
        let idx = index(vec![top]);
        pusher.push_manifest("deep/app", &idx.digest, &idx);
        top = idx.descriptor();
        chain.push(idx);
    }
    let root = chain.last().unwrap();
    pusher.push_manifest("deep/app", "v1", root);
    let work = tempfile::tempdir().unwrap();
    let flags = transport_flags(&registry);
    let err = silo_cli::fails(&args![
        "pull",
        registry.reference("deep/app:v1"),
        "--platform",
        "windows/amd64",
        "--output",
        format!("oci:{}", work.path().join("p").display()),
        flags.clone()
    ]);
    assert!(err.contains("nested more than 4 levels"), "{err}");
    let err = silo_cli::fails(&args![
        "copy",
        registry.reference("deep/app:v1"),
        format!("oci:{}:all", work.path().join("c").display()),
        flags.clone()
    ]);
    assert!(err.contains("nested more than 4 levels"), "{err}");

    // Four levels below the root is within the bound: pulling the second index by digest works.
    let within = &chain[chain.len() - 2];
    let printed = silo_cli::ok(&args![
        "pull",
        registry.reference(&format!("deep/app@{}", within.digest)),
        "--platform",
        "windows/amd64",
        "--output",
        format!("oci:{}:ok", work.path().join("ok").display()),
        flags
    ]);
    assert_eq!(printed.trim(), image.manifest.digest);
}
