//! What skopeo users expect of silo's transport flags and locations, against real
//! docker-registries and the real skopeo: `copy --src-creds/--dest-creds/--src-no-creds`
//! (overriding `--creds` and auth files for one side), registries.conf mirrors (a second
//! registry serving while the named one is down, digest-only mirrors skipped for tags, blocked
//! registries refused, pushes to the registry itself, an `insecure` HTTPS registry reached
//! without its CA), the `dir:` transport both ways with
//! skopeo, and `copy --platform` refusing a single-platform image of another platform.

use std::path::Path;
use std::process::Output;

use silo_tests::args;
use silo_tests::image::{Image, Pusher};
use silo_tests::registry::Registry;
use silo_tests::silo_cli::{self, transport_flags, OciLayout};
use silo_tests::skopeo::{self, skopeo_ok};
use silo_tests::tools::free_port;

/// `silo ARGS` with `CONTAINERS_REGISTRIES_CONF=conf` (when given) and `DOCKER_CONFIG=docker`
/// (when given), in a private home; run to completion.
fn silo_with(args: &[String], conf: Option<&Path>, docker: Option<&Path>) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = silo_cli::command(args, home.path());
    cmd.env_remove("CONTAINERS_REGISTRIES_CONF")
        .stdin(std::process::Stdio::null());
    if let Some(conf) = conf {
        cmd.env("CONTAINERS_REGISTRIES_CONF", conf);
    }
    if let Some(docker) = docker {
        cmd.env("DOCKER_CONFIG", docker);
    }
    cmd.output().expect("run silo")
}

fn succeeded(args: &[String], out: Output) -> String {
    assert!(
        out.status.success(),
        "silo {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn failed(args: &[String], out: Output) -> String {
    assert!(
        !out.status.success(),
        "silo {} should have failed; stdout:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("silo {} →\n{stderr}", args.join(" "));
    assert!(!stderr.contains("panicked at"), "{stderr}");
    stderr
}

/// Manifest GETs/HEADs `registry` answered for `repo`.
fn manifest_requests(registry: &Registry, repo: &str) -> usize {
    let prefix = format!("/v2/{repo}/manifests/");
    registry
        .access_log()
        .iter()
        .filter(|e| e.uri.starts_with(&prefix))
        .count()
}

#[test]
fn copy_takes_credentials_per_side_overriding_creds_and_auth_files() {
    let private = Registry::htpasswd();
    let open = Registry::no_auth();
    let image = Image::random_linux(71, &[3000]);
    Pusher::new(&private).push_image("team/app", &image, Some("1"));
    let (user, password) = private.creds().unwrap();
    let src = format!("docker://{}", private.reference("team/app:1"));
    let dst = format!("docker://{}", open.reference("copied/app:1"));
    let plain = transport_flags(&private);

    // Anonymous: the private registry refuses.
    let a = args!["copy", &src, &dst, plain.clone()];
    let err = failed(&a, silo_with(&a, None, None));
    assert!(err.contains("401") || err.contains("auth"), "{err}");

    // --src-creds beats a wrong --creds for the source; the open destination takes no creds.
    let a = args![
        "copy",
        &src,
        &dst,
        "--creds",
        "nobody:wrong",
        "--src-creds",
        format!("{user}:{password}"),
        "--dest-no-creds",
        plain.clone()
    ];
    let digest = succeeded(&a, silo_with(&a, None, None));
    assert_eq!(digest, image.manifest.digest);

    // --src-no-creds ignores the auth file that would have let it in.
    let docker = private.docker_config_dir();
    let a = args!["copy", &src, &dst, plain.clone()];
    succeeded(&a, silo_with(&a, None, Some(&docker)));
    let a = args!["copy", &src, &dst, "--src-no-creds", plain.clone()];
    let err = failed(&a, silo_with(&a, None, Some(&docker)));
    assert!(err.contains("401") || err.contains("auth"), "{err}");

    // --dest-creds for a push into the private registry, the source anonymous.
    let back = format!("docker://{}", private.reference("back/app:2"));
    let a = args![
        "copy",
        &dst,
        &back,
        "--dest-creds",
        format!("{user}:{password}"),
        plain.clone()
    ];
    assert_eq!(
        succeeded(&a, silo_with(&a, None, None)),
        image.manifest.digest
    );

    // USER without :PASS and no terminal to ask on (stdin is /dev/null): a clear error.
    let a = args!["copy", &src, &dst, "--src-creds", user, plain.clone()];
    let err = failed(&a, silo_with(&a, None, None));
    assert!(
        err.contains("--src-creds") && err.contains("not a terminal"),
        "{err}"
    );
    // A side that is not a registry takes no credentials: refused, not ignored.
    let layout = tempfile::tempdir().unwrap();
    let a = args![
        "copy",
        &src,
        format!("oci:{}", layout.path().display()),
        "--dest-creds",
        "a:b",
        plain.clone()
    ];
    let err = failed(&a, silo_with(&a, None, None));
    assert!(
        err.contains("--dest-creds") && err.contains("not a registry"),
        "{err}"
    );
    // The flags conflict as skopeo's do.
    let a = args!["copy", &src, &dst, "--src-creds", "a:b", "--src-no-creds"];
    failed(&a, silo_with(&a, None, None));
}

/// A registries.conf in `dir` with `body`.
fn registries_conf(dir: &Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("registries.conf");
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn a_mirror_serves_while_the_named_registry_is_down_and_pushes_go_to_the_registry() {
    let mirror = Registry::no_auth();
    let image = Image::random_linux(72, &[2000]);
    Pusher::new(&mirror).push_image("cache/team/app", &image, Some("1"));
    let down = format!("127.0.0.1:{}", free_port()); // nothing listens there
    let tmp = tempfile::tempdir().unwrap();
    let conf = registries_conf(
        tmp.path(),
        &format!(
            "unqualified-search-registries = [\"docker.io\"]\n\
             [[registry]]\nprefix = \"{down}/team\"\n\
             [[registry.mirror]]\nlocation = \"{}/cache/team\"\n",
            mirror.host()
        ),
    );
    let plain = transport_flags(&mirror);

    // pull, copy and inspect all read the mirror; the store keeps the name asked for.
    let layout = tmp.path().join("pulled");
    let a = args![
        "pull",
        format!("{down}/team/app:1"),
        "-o",
        format!("oci:{}:v1", layout.display()),
        "--retries",
        "1",
        plain.clone()
    ];
    assert_eq!(
        succeeded(&a, silo_with(&a, Some(&conf), None)),
        image.manifest.digest
    );
    assert!(OciLayout::open(&layout)
        .verify_blobs()
        .contains(&image.layers[0].blob.digest));
    let copied = tmp.path().join("copied");
    let a = args![
        "copy",
        format!("docker://{down}/team/app:1"),
        format!("oci:{}:v1", copied.display()),
        plain.clone()
    ];
    assert_eq!(
        succeeded(&a, silo_with(&a, Some(&conf), None)),
        image.manifest.digest
    );
    let a = args![
        "inspect",
        "--raw",
        format!("{down}/team/app:1"),
        plain.clone()
    ];
    assert_eq!(
        succeeded(&a, silo_with(&a, Some(&conf), None)),
        String::from_utf8_lossy(&image.manifest.bytes).trim()
    );
    assert!(manifest_requests(&mirror, "cache/team/app") >= 3);

    // Without the file the named registry is asked, and it is down.
    let a = args![
        "pull",
        format!("{down}/team/app:1"),
        "-o",
        format!("oci:{}", tmp.path().join("x").display()),
        "--retries",
        "1",
        plain.clone()
    ];
    let err = failed(&a, silo_with(&a, None, None));
    assert!(err.contains(&down), "{err}");

    // A push of a name with a mirror goes to the registry itself, never the mirror.
    let primary = Registry::no_auth();
    let conf2 = registries_conf(
        &tmp.path().join("push-conf").tap_mkdir(),
        &format!(
            "[[registry]]\nprefix = \"{}/team\"\n\
             [[registry.mirror]]\nlocation = \"{}/cache/team\"\n",
            primary.host(),
            mirror.host()
        ),
    );
    let puts_before = mirror
        .access_log()
        .iter()
        .filter(|e| e.method == "PUT")
        .count();
    let a = args![
        "copy",
        format!("oci:{}:v1", copied.display()),
        format!("docker://{}", primary.reference("team/pushed:1")),
        plain.clone()
    ];
    succeeded(&a, silo_with(&a, Some(&conf2), None));
    assert!(primary.has_blob(&image.layers[0].blob.digest));
    assert_eq!(
        mirror
            .access_log()
            .iter()
            .filter(|e| e.method == "PUT")
            .count(),
        puts_before,
        "the push reached the mirror"
    );
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}

impl TapMkdir for std::path::PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}

#[test]
fn digest_only_mirrors_are_skipped_for_tags_and_blocked_registries_are_refused() {
    let mirror = Registry::no_auth();
    let image = Image::random_linux(73, &[1500]);
    Pusher::new(&mirror).push_image("team/app", &image, Some("1"));
    let down = format!("127.0.0.1:{}", free_port());
    let blocked = Registry::no_auth();
    let tmp = tempfile::tempdir().unwrap();
    let conf = registries_conf(
        tmp.path(),
        &format!(
            "[[registry]]\nlocation = \"{down}\"\nmirror-by-digest-only = true\n\
             [[registry.mirror]]\nlocation = \"{}\"\n\
             [[registry]]\nprefix = \"{}/secret\"\nblocked = true\n",
            mirror.host(),
            blocked.host()
        ),
    );
    let plain = transport_flags(&mirror);

    // By digest: the mirror serves it.
    let by_digest = format!("{down}/team/app@{}", image.manifest.digest);
    let a = args![
        "pull",
        &by_digest,
        "-o",
        format!("oci:{}", tmp.path().join("d").display()),
        "--retries",
        "1",
        plain.clone()
    ];
    assert_eq!(
        succeeded(&a, silo_with(&a, Some(&conf), None)),
        image.manifest.digest
    );
    let asked = manifest_requests(&mirror, "team/app");
    assert!(asked >= 1);

    // By tag: the mirror is not asked; the named registry is, and it is down.
    let a = args![
        "pull",
        format!("{down}/team/app:1"),
        "-o",
        format!("oci:{}", tmp.path().join("t").display()),
        "--retries",
        "1",
        plain.clone()
    ];
    let err = failed(&a, silo_with(&a, Some(&conf), None));
    assert!(err.contains(&down), "{err}");
    assert_eq!(
        manifest_requests(&mirror, "team/app"),
        asked,
        "a tag pull asked the digest-only mirror"
    );

    // Blocked: refused before any request, for pulls and pushes alike.
    let secret = blocked.reference("secret/app:1");
    for a in [
        args![
            "pull",
            &secret,
            "-o",
            format!("oci:{}", tmp.path().join("b").display()),
            plain.clone()
        ],
        args![
            "copy",
            format!("oci:{}", tmp.path().join("d").display()),
            format!("docker://{secret}"),
            plain.clone()
        ],
        args!["inspect", format!("docker://{secret}"), plain.clone()],
    ] {
        let err = failed(&a, silo_with(&a, Some(&conf), None));
        assert!(
            err.contains("blocked") && err.contains(&conf.display().to_string()),
            "{err}"
        );
    }
    assert!(blocked
        .access_log()
        .iter()
        .all(|e| !e.uri.contains("/secret/")));

    // A broken file fails every registry command, naming it.
    let bad = registries_conf(
        &tmp.path().join("bad").tap_mkdir(),
        "[[registry]]\nprefix = \"x.example\"\nmirrors = []\n",
    );
    let a = args![
        "inspect",
        format!("docker://{}", mirror.reference("team/app:1")),
        plain.clone()
    ];
    let err = failed(&a, silo_with(&a, Some(&bad), None));
    assert!(
        err.contains(&bad.display().to_string()) && err.contains("mirrors"),
        "{err}"
    );
}

#[test]
fn dir_images_are_written_for_skopeo_and_skopeos_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("silo-root");
    // A real Windows base (layer with Files/ and Hives/) written straight to dir:.
    let dir = tmp.path().join("base-dir");
    let a = args![
        "--root",
        root.display().to_string(),
        "base",
        "create",
        "-t",
        "base:1",
        "--os-version",
        "10.0.20348.1",
        "--output",
        format!("dir:{}", dir.display())
    ];
    succeeded(&a, silo_with(&a, None, None));
    assert_eq!(
        std::fs::read_to_string(dir.join("version")).unwrap(),
        "Directory Transport Version: 1.1\n"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    for blob in std::iter::once(&manifest["config"]).chain(manifest["layers"].as_array().unwrap()) {
        let hex = blob["digest"]
            .as_str()
            .unwrap()
            .strip_prefix("sha256:")
            .unwrap();
        assert!(
            dir.join(hex).is_file(),
            "blob {hex} is not a file named by its hex digest"
        );
    }
    // silo reads it back: inspect, layers, ls.
    let a = args![
        "inspect",
        "--format",
        "json",
        format!("dir:{}", dir.display())
    ];
    let shown: serde_json::Value =
        serde_json::from_str(&succeeded(&a, silo_with(&a, None, None))).unwrap();
    assert_eq!(shown["platform"]["os"], "windows");
    let a = args![
        "--root",
        root.display().to_string(),
        "layers",
        format!("dir:{}", dir.display())
    ];
    succeeded(&a, silo_with(&a, None, None));
    let a = args![
        "--root",
        root.display().to_string(),
        "ls",
        format!("dir:{}", dir.display())
    ];
    let listing = succeeded(&a, silo_with(&a, None, None));
    assert!(listing.contains("Windows"), "{listing}");

    // skopeo reads silo's dir: into an OCI layout, manifest unchanged.
    let from_dir = tmp.path().join("skopeo-layout");
    skopeo_ok(&[
        "copy",
        &format!("dir:{}", dir.display()),
        &format!("oci:{}:t", from_dir.display()),
    ]);
    let silo_digest =
        silo_tests::image::sha256_digest(&std::fs::read(dir.join("manifest.json")).unwrap());
    assert_eq!(OciLayout::open(&from_dir).index_digests(), [silo_digest]);

    // skopeo's own dir: output is read by silo: copy to an OCI layout, same digest.
    let image = Image::random_linux(74, &[4000, 100]);
    let layout = tmp.path().join("fixture");
    image.write_oci_layout(&layout, "v1");
    let skopeo_dir = tmp.path().join("skopeo-dir");
    skopeo_ok(&[
        "copy",
        &format!("oci:{}:v1", layout.display()),
        &format!("dir:{}", skopeo_dir.display()),
    ]);
    let back = tmp.path().join("back");
    let a = args![
        "copy",
        format!("dir:{}", skopeo_dir.display()),
        format!("oci:{}:v1", back.display())
    ];
    assert_eq!(
        succeeded(&a, silo_with(&a, None, None)),
        image.manifest.digest
    );
    assert_eq!(OciLayout::open(&back).verify_blobs().len(), 4); // manifest, config, 2 layers
                                                                // and to a registry, and from it to dir: again (registry → dir:).
    let registry = Registry::no_auth();
    let plain = transport_flags(&registry);
    let a = args![
        "copy",
        format!("dir:{}", skopeo_dir.display()),
        format!("docker://{}", registry.reference("from-dir:1")),
        plain.clone()
    ];
    assert_eq!(
        succeeded(&a, silo_with(&a, None, None)),
        image.manifest.digest
    );
    let again = tmp.path().join("again");
    let a = args![
        "copy",
        format!("docker://{}", registry.reference("from-dir:1")),
        format!("dir:{}", again.display()),
        plain.clone()
    ];
    assert_eq!(
        succeeded(&a, silo_with(&a, None, None)),
        image.manifest.digest
    );
    assert_eq!(
        std::fs::read(again.join("manifest.json")).unwrap(),
        image.manifest.bytes
    );
    assert_eq!(
        skopeo_ok(&["inspect", "--raw", &format!("dir:{}", again.display())]),
        image.manifest.bytes
    );

    // Where dir: cannot be used, or would overwrite something else, it is refused.
    let a = args![
        "pull",
        registry.reference("from-dir:1"),
        "-o",
        format!("dir:{}", tmp.path().join("p").display()),
        plain.clone()
    ];
    let err = failed(&a, silo_with(&a, None, None));
    assert!(err.contains("silo copy"), "{err}");
    let precious = tmp.path().join("precious");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("notes.txt"), "mine").unwrap();
    let a = args![
        "copy",
        format!("oci:{}:v1", layout.display()),
        format!("dir:{}", precious.display())
    ];
    let err = failed(&a, silo_with(&a, None, None));
    assert!(err.contains("refusing to overwrite"), "{err}");
    assert!(precious.join("notes.txt").exists());
}

#[test]
fn copy_platform_refuses_a_single_image_of_another_platform() {
    let tmp = tempfile::tempdir().unwrap();
    let image = Image::random_linux(75, &[500]);
    let layout = tmp.path().join("linux");
    image.write_oci_layout(&layout, "v1");
    let registry = Registry::no_auth();
    Pusher::new(&registry).push_image("linux/app", &image, Some("1"));
    let plain = transport_flags(&registry);
    for (src, dest) in [
        (
            format!("oci:{}:v1", layout.display()),
            format!("oci:{}", tmp.path().join("o").display()),
        ),
        (
            format!("oci:{}:v1", layout.display()),
            format!("dir:{}", tmp.path().join("d").display()),
        ),
        (
            format!("oci:{}:v1", layout.display()),
            format!("docker-archive:{}", tmp.path().join("a.tar").display()),
        ),
        (
            format!("docker://{}", registry.reference("linux/app:1")),
            format!("oci:{}", tmp.path().join("r").display()),
        ),
        (
            format!("docker://{}", registry.reference("linux/app:1")),
            format!("docker://{}", registry.reference("linux/copy:1")),
        ),
    ] {
        let a = args![
            "copy",
            "--platform",
            "windows/amd64",
            &src,
            &dest,
            plain.clone()
        ];
        let err = failed(&a, silo_with(&a, None, None));
        assert!(err.contains("--platform windows/amd64"), "{err}");
    }
    // The matching platform is copied.
    let a = args![
        "copy",
        "--platform",
        "linux/amd64",
        format!("oci:{}:v1", layout.display()),
        format!("oci:{}", tmp.path().join("ok").display())
    ];
    assert_eq!(
        succeeded(&a, silo_with(&a, None, None)),
        image.manifest.digest
    );
}

#[test]
fn an_insecure_registry_of_registries_conf_is_reached_without_its_ca() {
    let tls = Registry::tls();
    let open = Registry::no_auth();
    let image = Image::random_linux(76, &[800]);
    Pusher::new(&open).push_image("app", &image, Some("1"));
    skopeo::copy_between(&open, "app:1", &tls, "app:1", false);
    let tmp = tempfile::tempdir().unwrap();
    let reference = format!("docker://{}", tls.reference("app:1"));
    // Neither its CA nor the file: the certificate is refused.
    let a = args!["inspect", "--raw", &reference];
    let err = failed(&a, silo_with(&a, None, None));
    assert!(err.contains("certificate"), "{err}");
    // `insecure = true` for its host: reached without the CA, as skopeo would.
    let conf = registries_conf(
        tmp.path(),
        &format!(
            "[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
            tls.host()
        ),
    );
    assert_eq!(
        succeeded(&a, silo_with(&a, Some(&conf), None)),
        String::from_utf8_lossy(&image.manifest.bytes).trim()
    );
}
