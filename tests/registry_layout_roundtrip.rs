//! A whole Windows manifest list through a local OCI layout and back: `silo copy REG oci:DIR`
//! (no `--platform`) keeps every entry — the list bytes, each platform manifest, every blob
//! including the foreign layer fetched from its URL — and `silo push oci:DIR REG2` recreates the
//! list with the same digest.

use silo_tests::args;
use silo_tests::fileserver::FileServer;
use silo_tests::registry::Registry;
use silo_tests::silo_cli::{self, transport_flags, OciLayout};
use silo_tests::skopeo;
use silo_tests::windows::WindowsFixture;

#[test]
fn whole_index_to_layout_and_back() {
    let files = FileServer::start();
    let fixture = WindowsFixture::build(&files);
    let source = Registry::no_auth();
    fixture.push(&source, "win/app", "ltsc");
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("layout");
    let printed = silo_cli::ok(&args![
        "copy",
        source.reference("win/app:ltsc"),
        format!("oci:{}:all", dir.display()),
        transport_flags(&source),
    ]);
    assert_eq!(
        printed.trim(),
        fixture.list.digest,
        "the list itself is the copied root"
    );
    let layout = OciLayout::open(&dir);
    let blobs = layout.verify_blobs();
    assert!(blobs.contains(&fixture.list.digest));
    for e in &fixture.entries {
        assert!(
            blobs.contains(&e.image.manifest.digest),
            "{} manifest missing",
            e.os_version
        );
        for l in &e.image.layers {
            assert!(
                blobs.contains(&l.blob.digest),
                "{} layer missing",
                e.os_version
            );
        }
    }
    assert!(
        blobs.contains(&fixture.foreign.digest),
        "the foreign layer came from its url"
    );

    let dest = Registry::no_auth();
    silo_cli::ok(&args![
        "push",
        format!("oci:{}:all", dir.display()),
        dest.reference("mirror/app:ltsc"),
        transport_flags(&dest),
    ]);
    let raw = skopeo::inspect(&dest, "mirror/app:ltsc", true);
    assert_eq!(silo_tests::image::sha256_digest(&raw), fixture.list.digest);
    // Default push skips the foreign layer (the manifests keep its urls).
    assert!(!dest.has_blob(&fixture.foreign.digest));
}
