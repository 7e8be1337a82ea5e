//! The `registry-client` crate's API against a real docker-registry (the CLI tests cover the same
//! paths through `silo`): typed results a library caller relies on — the selection verdicts for a
//! Windows list, `DigestMismatch` with nothing stored for a corrupted blob, and the foreign-URL
//! policy as `Error::Foreign`.

use std::sync::Arc;

use registry_client::blobdir::BlobDir;
use registry_client::credentials::CredentialEnv;
use registry_client::{
    BlobSink, Client, ClientConfig, DefaultCredentials, Error, NoProgress, PlatformRequest,
    Reference,
};
use silo_tests::faultproxy::{Fault, FaultProxy};
use silo_tests::fileserver::FileServer;
use silo_tests::image::{Image, Pusher};
use silo_tests::registry::Registry;
use silo_tests::windows::WindowsFixture;

/// A client with no stored credentials (an empty credential environment) and plain HTTP allowed.
fn client(allow_private_urls: bool) -> Client {
    let cfg = ClientConfig {
        tls_verify: false,
        max_attempts: 2,
        allow_private_urls,
        ..ClientConfig::default()
    };
    let creds = DefaultCredentials::new(CredentialEnv::default());
    Client::new(cfg, Arc::new(creds), Arc::new(NoProgress)).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

#[test]
fn resolve_reports_a_verdict_for_every_windows_entry() {
    let files = FileServer::start();
    let fixture = WindowsFixture::build(&files);
    let registry = Registry::no_auth();
    fixture.push(&registry, "win/app", "ltsc");
    let reference = Reference::parse(&registry.reference("win/app:ltsc")).unwrap();
    let want = PlatformRequest::parse("windows/amd64:10.0.20348").unwrap();
    let resolved = runtime()
        .block_on(client(false).resolve(&reference, &want))
        .unwrap();

    let chosen = &fixture.entries[WindowsFixture::LTSC2022_LATEST]
        .image
        .manifest;
    assert_eq!(resolved.manifest.digest, chosen.digest);
    assert_eq!(
        resolved.manifest.bytes, chosen.bytes,
        "raw bytes are the truth"
    );
    assert_eq!(resolved.root.bytes, fixture.list.bytes);
    let selection = resolved.selection.expect("a list yields a selection");
    assert_eq!(selection.verdicts.len(), fixture.entries.len());
    for (verdict, entry) in selection.verdicts.iter().zip(&fixture.entries) {
        assert_eq!(verdict.digest, entry.image.manifest.digest);
        assert_eq!(verdict.chosen, verdict.digest == chosen.digest);
        assert!(
            !verdict.reason.is_empty(),
            "entry {} has no reason",
            entry.os_version
        );
    }
}

#[test]
fn a_corrupted_blob_is_a_digest_mismatch_and_is_not_stored() {
    let registry = Registry::no_auth();
    let image = Image::random_linux(31, &[700 * 1024]);
    Pusher::new(&registry).push_image("api/img", &image, Some("v1"));
    let proxy = FaultProxy::start(registry.addr());
    let blob = &image.layers[0].blob;
    proxy.inject("GET", &blob.digest, Fault::FlipByte { offset: 123 }, 100);

    let reference = Reference::parse(&proxy.reference("api/img:v1")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(BlobDir::new(dir.path()));
    let rt = runtime();
    let c = client(false);
    let resolved = rt
        .block_on(c.resolve(&reference, &PlatformRequest::windows_amd64()))
        .unwrap();
    let err = rt
        .block_on(c.pull_resolved(&resolved, sink.clone()))
        .expect_err("a corrupted blob was accepted");
    match &err {
        Error::DigestMismatch { digest, actual } => {
            assert_eq!(digest.as_ref(), blob.digest);
            assert_ne!(actual, &blob.digest);
        }
        other => panic!("expected DigestMismatch, got {other:?}"),
    }
    assert!(
        !sink.contains(&blob.digest.parse().unwrap()).unwrap(),
        "the corrupt blob became visible"
    );
}

#[test]
fn foreign_urls_on_loopback_need_explicit_permission() {
    let files = FileServer::start();
    let fixture = WindowsFixture::build(&files);
    let registry = Registry::no_auth();
    fixture.push(&registry, "win/app", "ltsc");
    let reference = Reference::parse(&registry.reference("win/app:ltsc")).unwrap();
    let want = PlatformRequest::parse("windows/amd64:10.0.20348").unwrap();
    let rt = runtime();

    let dir = tempfile::tempdir().unwrap();
    let refused =
        rt.block_on(client(false).pull(&reference, &want, Arc::new(BlobDir::new(dir.path()))));
    match refused {
        Err(Error::Foreign { digest, .. }) => assert_eq!(digest.as_ref(), fixture.foreign.digest),
        other => panic!("expected a Foreign error, got {other:?}"),
    }
    assert_eq!(files.bytes_served(&fixture.foreign_path), 0);

    let sink = Arc::new(BlobDir::new(dir.path()));
    rt.block_on(client(true).pull(&reference, &want, sink.clone()))
        .unwrap();
    let stored =
        std::fs::read(sink.path(&fixture.foreign.digest.parse().unwrap()).unwrap()).unwrap();
    assert_eq!(stored, fixture.foreign.bytes);
}
