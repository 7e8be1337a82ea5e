//! `silo pull --output docker-archive:FILE:NAME` writes the `docker save` layout that a peer
//! (skopeo's docker-archive transport) reads: same config, layers that decompress to their diff_ids,
//! the name given, and
//! skopeo's own diff_id check passes when it copies the archive out.

use silo_tests::args;
use silo_tests::image::Image;
use silo_tests::registry::Registry;
use silo_tests::silo_cli::{self, transport_flags};
use silo_tests::skopeo;

#[test]
fn pulled_docker_archive_is_read_by_skopeo() {
    let registry = Registry::no_auth();
    let image = Image::random_linux(51, &[300 * 1024, 5000]);
    silo_tests::image::Pusher::new(&registry).push_image("arch/app", &image, Some("v1"));
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("app.tar");
    silo_cli::ok(&args![
        "--root",
        work.path().join("store").display().to_string(),
        "pull",
        registry.reference("arch/app:v1"),
        "--output",
        format!("docker-archive:{}:arch/app:v1", archive.display()),
        transport_flags(&registry),
    ]);
    let out = skopeo::skopeo()
        .args(["inspect", "--raw"])
        .arg(format!("docker-archive:{}", archive.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(manifest["config"]["digest"], image.config.digest.as_str());
    let layers: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    // skopeo names docker-archive layers by their uncompressed digest (the diff_id).
    let want: Vec<&str> = image.layers.iter().map(|l| l.diff_id.as_str()).collect();
    assert_eq!(layers, want, "each layer decompresses to its diff_id");
    // The archive carries the name given: skopeo finds the image by it.
    let named = skopeo::skopeo()
        .args(["inspect", "--raw"])
        .arg(format!("docker-archive:{}:arch/app:v1", archive.display()))
        .output()
        .unwrap();
    assert!(
        named.status.success(),
        "{}",
        String::from_utf8_lossy(&named.stderr)
    );
    let unnamed = skopeo::skopeo()
        .args(["inspect", "--raw"])
        .arg(format!(
            "docker-archive:{}:other/name:v9",
            archive.display()
        ))
        .output()
        .unwrap();
    assert!(!unnamed.status.success());
    // skopeo decompresses each layer and checks it against the config's diff_ids.
    let copy = skopeo::skopeo()
        .args(["copy", "-q"])
        .arg(format!("docker-archive:{}", archive.display()))
        .arg(format!("oci:{}:x", work.path().join("oci").display()))
        .output()
        .unwrap();
    assert!(
        copy.status.success(),
        "{}",
        String::from_utf8_lossy(&copy.stderr)
    );
}

/// A `docker save` archive written by a peer (skopeo, uncompressed layers) is pushed by silo; the
/// registry verifies every digest, and skopeo reads the result back.
#[test]
fn push_from_a_peer_docker_archive() {
    let registry = Registry::no_auth();
    let image = Image::random_linux(52, &[200 * 1024]);
    silo_tests::image::Pusher::new(&registry).push_image("arch/src", &image, Some("v1"));
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("peer.tar");
    let made = skopeo::skopeo()
        .args(["copy", "-q"])
        .args(registry.skopeo_args("src"))
        .arg(format!("docker://{}", registry.reference("arch/src:v1")))
        .arg(format!("docker-archive:{}:peer/img:v1", archive.display()))
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    silo_cli::ok(&args![
        "push",
        format!("docker-archive:{}:peer/img:v1", archive.display()),
        registry.reference("arch/pushed:v1"),
        transport_flags(&registry),
    ]);
    let raw: serde_json::Value =
        serde_json::from_slice(&skopeo::inspect(&registry, "arch/pushed:v1", true)).unwrap();
    assert_eq!(raw["config"]["digest"], image.config.digest.as_str());
    // The archive holds uncompressed layers: pushed as `…diff.tar` named by their diff_id.
    assert_eq!(raw["layers"][0]["digest"], image.layers[0].diff_id.as_str());
    let copy = skopeo::skopeo()
        .args(["copy", "-q"])
        .args(registry.skopeo_args("src"))
        .arg(format!("docker://{}", registry.reference("arch/pushed:v1")))
        .arg(format!("oci:{}:x", work.path().join("oci").display()))
        .output()
        .unwrap();
    assert!(
        copy.status.success(),
        "{}",
        String::from_utf8_lossy(&copy.stderr)
    );
}
