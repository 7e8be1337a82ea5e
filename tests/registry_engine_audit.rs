//! Pull/push engine behaviour issue #3 names that no other test pinned down, each against a real
//! docker-registry (with the fault proxy where the registry cannot produce the condition):
//! largest blob first, HEAD → skip on a second push, 413 → chunked upload, resume from a
//! `.partial` left by an earlier run, and the `--progress` modes.

use silo_tests::args;
use silo_tests::faultproxy::{Fault, FaultProxy};
use silo_tests::image::{Image, Pusher};
use silo_tests::registry::Registry;
use silo_tests::silo_cli::{self, plain_http_flags, OciLayout};

/// silo's stderr for a run that must succeed.
fn stderr_of_ok(args: &[String]) -> String {
    let out = silo_cli::run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "silo {} failed:\n{stderr}",
        args.join(" ")
    );
    stderr
}

#[test]
fn blobs_are_fetched_largest_first() {
    let registry = Registry::no_auth();
    let image = Image::random_linux(91, &[20 * 1024, 400 * 1024, 90 * 1024]);
    Pusher::new(&registry).push_image("order/img", &image, Some("v1"));
    let proxy = FaultProxy::start(registry.addr());
    let work = tempfile::tempdir().unwrap();
    silo_cli::ok(&args![
        "pull",
        proxy.reference("order/img:v1"),
        "-j",
        "1",
        "--output",
        format!("oci:{}", work.path().join("p").display()),
        plain_http_flags()
    ]);
    let fetched: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.target.contains("/blobs/"))
        .map(|r| r.target.rsplit('/').next().unwrap().to_string())
        .collect();
    let mut want: Vec<&silo_tests::image::Blob> = image.distributable_blobs().collect();
    want.sort_by_key(|b| std::cmp::Reverse(b.size()));
    let want: Vec<String> = want.iter().map(|b| b.digest.clone()).collect();
    assert_eq!(fetched, want, "with -j 1 the order is largest first");
}

#[test]
fn a_second_push_finds_every_blob_present() {
    let registry = Registry::no_auth();
    let proxy = FaultProxy::start(registry.addr());
    let image = Image::random_linux(92, &[100 * 1024, 2000]);
    let work = tempfile::tempdir().unwrap();
    image.write_oci_layout(work.path(), "v1");
    let push = args![
        "push",
        "--progress",
        "plain",
        format!("oci:{}:v1", work.path().display()),
        proxy.reference("again/img:v1"),
        plain_http_flags()
    ];
    stderr_of_ok(&push);
    let before = proxy.requests().len();
    let stderr = stderr_of_ok(&push);
    let second = &proxy.requests()[before..];
    assert!(
        second.iter().all(|r| !r.target.contains("/blobs/uploads/")),
        "the second push uploaded something: {second:?}"
    );
    let heads = second
        .iter()
        .filter(|r| r.method == "HEAD" && r.target.contains("/blobs/"))
        .count();
    assert_eq!(heads, image.distributable_blobs().count());
    assert!(
        stderr.contains("0 uploaded, 0 mounted, 3 already present"),
        "{stderr}"
    );
}

#[test]
fn a_413_on_the_single_upload_switches_to_chunks() {
    let registry = Registry::no_auth();
    let proxy = FaultProxy::start(registry.addr());
    let image = Image::random_linux(93, &[300 * 1024]);
    let work = tempfile::tempdir().unwrap();
    image.write_oci_layout(work.path(), "v1");
    proxy.inject(
        "PUT",
        "/blobs/uploads/",
        Fault::Status {
            code: 413,
            retry_after: None,
        },
        1,
    );
    let stderr = stderr_of_ok(&args![
        "push",
        "--progress",
        "plain",
        format!("oci:{}:v1", work.path().display()),
        proxy.reference("chunks/img:v1"),
        plain_http_flags()
    ]);
    assert_eq!(proxy.pending_faults(), 0, "the 413 never fired");
    assert!(stderr.contains("switching to chunks"), "{stderr}");
    let patches = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.target.contains("/blobs/uploads/"))
        .count();
    assert!(patches >= 1, "no PATCH chunk was sent");
    for blob in image.distributable_blobs() {
        assert!(
            registry.has_blob(&blob.digest),
            "{} not stored",
            blob.digest
        );
    }
    let raw = silo_tests::skopeo::inspect(&registry, "chunks/img:v1", true);
    assert_eq!(
        silo_tests::image::sha256_digest(&raw),
        image.manifest.digest
    );
}

#[test]
fn a_partial_left_by_an_earlier_run_is_resumed() {
    let registry = Registry::no_auth();
    let image = Image::random_raw(94, 4 << 20);
    Pusher::new(&registry).push_image("resume/img", &image, Some("v1"));
    let proxy = FaultProxy::start(registry.addr());
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("p");
    let big = &image.layers[0].blob;
    let have = 1_500_000usize;
    // What an interrupted run leaves: the first bytes under `<hex>.partial`.
    let hex = big.digest.strip_prefix("sha256:").unwrap();
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(
        dir.join("blobs/sha256").join(format!("{hex}.partial")),
        &big.bytes[..have],
    )
    .unwrap();
    let stderr = stderr_of_ok(&args![
        "pull",
        "--progress",
        "plain",
        proxy.reference("resume/img:v1"),
        "--output",
        format!("oci:{}", dir.display()),
        plain_http_flags()
    ]);
    assert!(
        stderr.contains(&format!("resuming at byte {have}")),
        "{stderr}"
    );
    let gets: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.target.contains(&big.digest))
        .collect();
    assert_eq!(gets.len(), 1, "{gets:?}");
    assert_eq!(gets[0].range.as_deref(), Some(&*format!("bytes={have}-")));
    assert_eq!(gets[0].body_bytes, big.size() - have as u64);
    let layout = OciLayout::open(&dir);
    assert!(layout.verify_blobs().contains(&big.digest));
    assert!(!layout.partial_path(&big.digest).exists());
}

#[test]
fn progress_plain_prints_each_blob_and_auto_is_quiet_off_a_terminal() {
    let registry = Registry::no_auth();
    let image = Image::random_linux(95, &[50 * 1024]);
    Pusher::new(&registry).push_image("progress/img", &image, Some("v1"));
    let work = tempfile::tempdir().unwrap();
    let pull = |name: &str, extra: Vec<String>| {
        stderr_of_ok(&args![
            "pull",
            registry.reference("progress/img:v1"),
            "--output",
            format!("oci:{}", work.path().join(name).display()),
            plain_http_flags(),
            extra
        ])
    };
    let plain = pull("plain", args!["--progress", "plain"]);
    for blob in image.distributable_blobs() {
        let short = &blob.digest[..19];
        assert!(
            plain.contains(&format!("{short} start")),
            "no start line for {short}:\n{plain}"
        );
        assert!(
            plain.contains(&format!("{short} downloaded")),
            "no finish line for {short}:\n{plain}"
        );
    }
    // The tests' stderr is a pipe: `auto` draws no bars and prints no per-blob lines.
    let auto = pull("auto", Vec::new());
    assert!(!auto.contains("downloaded"), "{auto}");
    assert!(!auto.contains('\r'), "{auto}");
}

#[test]
fn blobs_download_in_parallel_up_to_the_jobs_cap() {
    let registry = Registry::no_auth();
    // Eight small layers behind a slow registry: each blob GET is held 400 ms, so transfers that
    // run at once overlap for certain and the count in flight is the engine's concurrency.
    let image = Image::random_linux(93, &[3000; 8]);
    Pusher::new(&registry).push_image("cap/img", &image, Some("v1"));
    let proxy = FaultProxy::start(registry.addr());
    let blobs = image.distributable_blobs().count();
    proxy.inject(
        "GET",
        "/blobs/sha256:",
        Fault::Delay(std::time::Duration::from_millis(400)),
        blobs,
    );
    let work = tempfile::tempdir().unwrap();
    silo_cli::ok(&args![
        "pull",
        proxy.reference("cap/img:v1"),
        "-j",
        "3",
        "--output",
        format!("oci:{}", work.path().join("p").display()),
        plain_http_flags()
    ]);
    assert_eq!(
        proxy.max_started_within("/blobs/sha256:", std::time::Duration::from_millis(200)),
        3,
        "-j 3 runs exactly three blob downloads at once: {:#?}",
        proxy.requests()
    );
}
