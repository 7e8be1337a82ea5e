//! `silo copy` between every pair of transports — registry, `oci:DIR[:tag]`,
//! `docker-archive:FILE[:ref]` — against a real docker-registry, with digests compared and skopeo
//! (an independent reader) opening every local result.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use silo_tests::args;
use silo_tests::fileserver::FileServer;
use silo_tests::image::{sha256_digest, Image, Pusher};
use silo_tests::registry::Registry;
use silo_tests::silo_cli::{self, transport_flags, OciLayout};
use silo_tests::skopeo::{self, skopeo_ok};
use silo_tests::windows::WindowsFixture;

/// The manifest skopeo reads from a local transport, parsed.
fn skopeo_manifest(transport: &str) -> serde_json::Value {
    serde_json::from_slice(&skopeo_ok(&["inspect", "--raw", transport])).unwrap()
}

fn layer_digests(manifest: &serde_json::Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

fn inode(layout: &Path, digest: &str) -> u64 {
    std::fs::metadata(OciLayout::open(layout).blob_path(digest))
        .unwrap()
        .ino()
}

#[test]
fn every_transport_pair_keeps_the_image() {
    let source = Registry::no_auth();
    let image = Image::random_linux(71, &[200 * 1024, 3000]);
    Pusher::new(&source).push_image("matrix/app", &image, Some("v1"));
    let work = tempfile::tempdir().unwrap();
    let path = |name: &str| work.path().join(name).display().to_string();
    let flags = transport_flags(&source);
    let diff_ids: Vec<String> = image.layers.iter().map(|l| l.diff_id.clone()).collect();
    let blob_digests: Vec<String> = image.layers.iter().map(|l| l.blob.digest.clone()).collect();

    // registry → oci:
    let printed = silo_cli::ok(&args![
        "copy",
        source.reference("matrix/app:v1"),
        format!("oci:{}:v1", path("a")),
        flags.clone()
    ]);
    assert_eq!(printed.trim(), image.manifest.digest);

    // oci: → oci: — same digest, blobs hard-linked, skopeo reads the same manifest bytes.
    let printed = silo_cli::ok(&args![
        "copy",
        format!("oci:{}:v1", path("a")),
        format!("oci:{}:copied", path("b"))
    ]);
    assert_eq!(printed.trim(), image.manifest.digest);
    let b = OciLayout::open(&work.path().join("b"));
    let stored = b.verify_blobs();
    for d in blob_digests.iter().chain([&image.config.digest]) {
        assert!(stored.contains(d), "{d} missing from the copied layout");
    }
    assert_eq!(
        inode(&work.path().join("a"), &blob_digests[0]),
        inode(&work.path().join("b"), &blob_digests[0]),
        "layout→layout on one filesystem hard-links blobs"
    );
    let raw = skopeo_ok(&["inspect", "--raw", &format!("oci:{}:copied", path("b"))]);
    assert_eq!(sha256_digest(&raw), image.manifest.digest);
    skopeo_ok(&[
        "copy",
        "-q",
        &format!("oci:{}:copied", path("b")),
        &format!("oci:{}:x", path("skopeo-b")),
    ]);

    // oci: → docker-archive: — skopeo sees the same config and layers that decompress to diff_ids.
    let printed = silo_cli::ok(&args![
        "copy",
        format!("oci:{}:copied", path("b")),
        format!("docker-archive:{}:matrix/app:v1", path("c.tar"))
    ]);
    assert_eq!(printed.trim(), image.manifest.digest);
    let c = skopeo_manifest(&format!("docker-archive:{}:matrix/app:v1", path("c.tar")));
    assert_eq!(c["config"]["digest"], image.config.digest.as_str());
    assert_eq!(layer_digests(&c), diff_ids);

    // docker-archive: → oci: — an OCI manifest (the archive has none; layout readers take only
    // OCI ones) whose layers keep their compressed bytes, so their digests.
    let from_archive = silo_cli::ok(&args![
        "copy",
        format!("docker-archive:{}", path("c.tar")),
        format!("oci:{}:fromarchive", path("d"))
    ]);
    let d = skopeo_manifest(&format!("oci:{}:fromarchive", path("d")));
    assert_eq!(d["config"]["digest"], image.config.digest.as_str());
    assert_eq!(layer_digests(&d), blob_digests);
    let raw = skopeo_ok(&[
        "inspect",
        "--raw",
        &format!("oci:{}:fromarchive", path("d")),
    ]);
    assert_eq!(sha256_digest(&raw), from_archive.trim());

    // docker-archive: → docker-archive:
    silo_cli::ok(&args![
        "copy",
        format!("docker-archive:{}", path("c.tar")),
        format!("docker-archive:{}:again/app:v2", path("e.tar"))
    ]);
    let e = skopeo_manifest(&format!("docker-archive:{}:again/app:v2", path("e.tar")));
    assert_eq!(e["config"]["digest"], image.config.digest.as_str());
    assert_eq!(layer_digests(&e), diff_ids);

    // registry → docker-archive:
    silo_cli::ok(&args![
        "copy",
        source.reference("matrix/app:v1"),
        format!("docker-archive:{}", path("f.tar")),
        flags.clone()
    ]);
    let f = skopeo_manifest(&format!("docker-archive:{}", path("f.tar")));
    assert_eq!(f["config"]["digest"], image.config.digest.as_str());
    assert_eq!(layer_digests(&f), diff_ids);
    skopeo_ok(&[
        "copy",
        "-q",
        &format!("docker-archive:{}", path("f.tar")),
        &format!("oci:{}:x", path("skopeo-f")),
    ]);

    // oci: → registry and docker-archive: → registry (what skopeo then reads there).
    let dest = Registry::no_auth();
    let printed = silo_cli::ok(&args![
        "copy",
        format!("oci:{}:copied", path("b")),
        dest.reference("from/oci:v1"),
        transport_flags(&dest)
    ]);
    assert_eq!(printed.trim(), image.manifest.digest);
    let raw = skopeo::inspect(&dest, "from/oci:v1", true);
    assert_eq!(sha256_digest(&raw), image.manifest.digest);
    let printed = silo_cli::ok(&args![
        "copy",
        format!("docker-archive:{}", path("c.tar")),
        dest.reference("from/archive:v1"),
        transport_flags(&dest)
    ]);
    let raw = skopeo::inspect(&dest, "from/archive:v1", true);
    assert_eq!(sha256_digest(&raw), printed.trim());
    let pushed: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(pushed["config"]["digest"], image.config.digest.as_str());
    assert_eq!(layer_digests(&pushed), blob_digests);

    // registry → registry.
    let printed = silo_cli::ok(&args![
        "copy",
        source.reference("matrix/app:v1"),
        dest.reference("from/registry:v1"),
        flags
    ]);
    assert_eq!(printed.trim(), image.manifest.digest);
    let raw = skopeo::inspect(&dest, "from/registry:v1", true);
    assert_eq!(sha256_digest(&raw), image.manifest.digest);
}

#[test]
fn oci_to_oci_one_platform_keeps_the_entry_platform() {
    let files = FileServer::start();
    let fixture = WindowsFixture::build(&files);
    let source = Registry::no_auth();
    fixture.push(&source, "win/app", "ltsc");
    let work = tempfile::tempdir().unwrap();
    let all = work.path().join("all");
    silo_cli::ok(&args![
        "copy",
        source.reference("win/app:ltsc"),
        format!("oci:{}:all", all.display()),
        transport_flags(&source)
    ]);
    // The whole list, layout to layout: same root digest, the foreign layer carried along.
    let whole = work.path().join("whole");
    let printed = silo_cli::ok(&args![
        "copy",
        format!("oci:{}:all", all.display()),
        format!("oci:{}:all", whole.display())
    ]);
    assert_eq!(printed.trim(), fixture.list.digest);
    let blobs = OciLayout::open(&whole).verify_blobs();
    assert!(blobs.contains(&fixture.foreign.digest));
    for e in &fixture.entries {
        assert!(blobs.contains(&e.image.manifest.digest));
    }

    let one = work.path().join("one");
    let printed = silo_cli::ok(&args![
        "copy",
        "--platform",
        "windows/amd64:10.0.20348",
        format!("oci:{}:all", all.display()),
        format!("oci:{}:ltsc2022", one.display())
    ]);
    let want = &fixture.entries[WindowsFixture::LTSC2022_LATEST];
    assert_eq!(printed.trim(), want.image.manifest.digest);
    let index = OciLayout::open(&one).index();
    let entry = &index["manifests"][0];
    assert_eq!(entry["digest"], want.image.manifest.digest.as_str());
    assert_eq!(entry["platform"]["os.version"], want.os_version.as_str());
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        "ltsc2022"
    );
    // The entry keeps the registry's Docker v2s2 bytes (its digest is the registry's); skopeo
    // 1.9's oci: reader skips index.json entries that are not OCI media types, so the check here
    // is the bytes themselves.
    let bytes = OciLayout::open(&one)
        .blob(&want.image.manifest.digest)
        .unwrap();
    assert_eq!(sha256_digest(&bytes), want.image.manifest.digest);
    assert_eq!(
        OciLayout::open(&one).verify_blobs().len(),
        1 + 1 + want.image.layers.len(),
        "one manifest, its config and layers — no other platform"
    );
}

#[test]
fn corrupt_layout_blob_is_not_copied() {
    let work = tempfile::tempdir().unwrap();
    let image = Image::random_linux(72, &[64 * 1024]);
    let src = work.path().join("src");
    image.write_oci_layout(&src, "v1");
    let layer = &image.layers[0].blob.digest;
    let file = OciLayout::open(&src).blob_path(layer);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let dest = work.path().join("dest");
    let err = silo_cli::fails(&args![
        "copy",
        format!("oci:{}:v1", src.display()),
        format!("oci:{}:v1", dest.display())
    ]);
    // The store's verification message (one for every reader): what it hashed to, what was
    // expected.
    assert!(err.contains("content hashes to"), "{err}");
    assert!(err.contains(&format!("expected {layer}")), "{err}");
    let hex = layer.strip_prefix("sha256:").unwrap();
    assert!(
        !dest.join("blobs/sha256").join(hex).exists(),
        "the corrupt blob must not appear in the destination"
    );
}
