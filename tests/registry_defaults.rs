//! The registry defaults docs/registry.md documents, checked against a real docker-registry
//! behind the harness's fault proxy (which records every request):
//! - `--retries N` (5): a request is attempted five times, no more, no less;
//! - ranged downloads are off for loopback registries unless `--range-connections` is given.

use silo_tests::args;
use silo_tests::faultproxy::{Fault, FaultProxy, Relayed};
use silo_tests::image::{Blob, Image, Pusher};
use silo_tests::registry::Registry;
use silo_tests::silo_cli::{self, OciLayout};

/// A registry with `defaults/img:v1` (one `size`-byte layer), a proxy in front of it.
struct Setup {
    proxy: FaultProxy,
    image: Image,
    work: tempfile::TempDir,
    _registry: Registry,
}

fn setup(size: usize) -> Setup {
    let registry = Registry::no_auth();
    let image = Image::random_raw(31, size);
    Pusher::new(&registry).push_image("defaults/img", &image, Some("v1"));
    Setup {
        proxy: FaultProxy::start(registry.addr()),
        image,
        work: tempfile::tempdir().unwrap(),
        _registry: registry,
    }
}

impl Setup {
    fn layer(&self) -> &Blob {
        &self.image.layers[0].blob
    }

    fn pull_args(&self, name: &str, extra: &[&str]) -> Vec<String> {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        args![
            "pull",
            self.proxy.reference("defaults/img:v1"),
            "--output",
            format!("oci:{}", self.work.path().join(name).display()),
            silo_cli::plain_http_flags(),
            extra,
        ]
    }

    /// The GETs of the layer blob that went through the proxy.
    fn layer_gets(&self) -> Vec<Relayed> {
        self.proxy
            .requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.target.contains(&self.layer().digest))
            .collect()
    }
}

fn server_error() -> Fault {
    Fault::Status {
        code: 500,
        retry_after: None,
    }
}

#[test]
fn a_request_is_attempted_five_times_by_default() {
    let s = setup(64 * 1024);
    // Four failures: the fifth attempt succeeds.
    s.proxy.inject("GET", &s.layer().digest, server_error(), 4);
    silo_cli::ok(&s.pull_args("four", &[]));
    assert_eq!(s.layer_gets().len(), 5, "{:#?}", s.layer_gets());
    assert!(OciLayout::open(&s.work.path().join("four"))
        .verify_blobs()
        .contains(&s.layer().digest));

    // Failing every time: five attempts, then the error names the status.
    s.proxy.clear();
    let before = s.layer_gets().len();
    s.proxy
        .inject("GET", &s.layer().digest, server_error(), 100);
    let stderr = silo_cli::fails(&s.pull_args("always", &[]));
    assert!(stderr.contains("500"), "{stderr}");
    assert_eq!(s.layer_gets().len() - before, 5, "{:#?}", s.layer_gets());
}

#[test]
fn loopback_registries_get_no_ranged_downloads_unless_asked() {
    // 96 MiB (two 64 MiB parts), over a 64 MiB threshold: only the loopback rule keeps the
    // download in one stream.
    let s = setup(96 * 1024 * 1024);
    silo_cli::ok(&s.pull_args("plain", &["--range-threshold-mib", "64"]));
    let ranged: Vec<Relayed> = s
        .layer_gets()
        .into_iter()
        .filter(|r| r.range.is_some())
        .collect();
    assert!(
        ranged.is_empty(),
        "ranges on loopback by default: {ranged:#?}"
    );
    assert_eq!(s.layer_gets().len(), 1);

    // Asked for: the same pull uses ranges (so the check above can fail).
    s.proxy.clear();
    let before = s.layer_gets().len();
    silo_cli::ok(&s.pull_args(
        "ranged",
        &["--range-threshold-mib", "64", "--range-connections", "2"],
    ));
    let ranged = s.layer_gets()[before..]
        .iter()
        .filter(|r| r.range.is_some())
        .count();
    assert!(ranged >= 1, "{:#?}", s.layer_gets());
}
