//! `silo build` on registry bases and `--push`, against a real docker-registry: the access log
//! proves a COPY-only build + push never downloads a base layer (they are mounted), that
//! `COPY --from=<registry image>` fetches exactly the layers it reads, and that `silo layers` /
//! `silo ls --layer N` on a registry ref fetch none / one layer. The result is read back with real
//! skopeo. Error texts for bad credentials, an unreachable registry and a missing tag.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use silo_tests::registry::Registry;
use silo_tests::silo_cli;
use silo_tests::skopeo::skopeo;
use silo_tests::tools::run_ok;

/// A state directory, a private HOME, and the registry the lab talks to.
struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        Lab {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs silo with the state directory `state` (each name is a separate store).
    fn silo(&self, state: &str, args: &[String]) -> Output {
        silo_cli::command(args, &self.path("home"))
            .env("SILO_ROOT", self.path(state))
            .env_remove("SOURCE_DATE_EPOCH")
            .output()
            .unwrap()
    }

    fn silo_ok(&self, state: &str, args: &[String]) -> String {
        let out = self.silo(state, args);
        assert!(
            out.status.success(),
            "silo {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    fn silo_fails(&self, state: &str, args: &[String]) -> String {
        let out = self.silo(state, args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "silo {args:?} succeeded");
        assert!(!stderr.contains("panicked"), "silo panicked:\n{stderr}");
        eprintln!("silo {args:?} →\n{stderr}");
        stderr
    }

    /// `silo base create` in the store `seed`, pushed to `registry` as `repo_tag`; returns the
    /// base's layer digests as the registry has them.
    fn remote_base(&self, registry: &Registry, repo_tag: &str, os_version: &str) -> Vec<String> {
        let local = format!("silo.local/seed-{}:1", repo_tag.replace(['/', ':'], "-"));
        self.silo_ok(
            "seed",
            &strings(&["base", "create", "-t", &local, "--os-version", os_version]),
        );
        let mut push = strings(&["push", &local, &registry.reference(repo_tag)]);
        push.extend(silo_cli::transport_flags(registry));
        self.silo_ok("seed", &push);
        layer_digests(&raw_manifest(registry, repo_tag))
    }

    /// A build context with `Dockerfile` and a small app file.
    fn context(&self, dockerfile: &str) -> PathBuf {
        let dir = self.path("ctx");
        std::fs::create_dir_all(dir.join("app")).unwrap();
        std::fs::write(dir.join("app/app.txt"), b"hello from the app\n").unwrap();
        std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
        dir
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn skopeo_json(registry: &Registry, repo_tag: &str, config: bool) -> Value {
    let mut cmd = skopeo();
    cmd.arg("inspect")
        .arg("--raw")
        .args(registry.skopeo_args(""));
    if config {
        cmd.arg("--config");
    }
    cmd.arg(format!("docker://{}", registry.reference(repo_tag)));
    serde_json::from_slice(&run_ok(&mut cmd).stdout).unwrap()
}

fn raw_manifest(registry: &Registry, repo_tag: &str) -> Value {
    skopeo_json(registry, repo_tag, false)
}

fn layer_digests(manifest: &Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .expect("manifest layers")
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

fn build_args(registry: &Registry, context: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = strings(&["build", "--progress", "plain", "--runtime", "none"]);
    args.extend(silo_cli::transport_flags(registry));
    args.extend(strings(extra));
    args.push(context.display().to_string());
    args
}

#[test]
fn copy_build_pushed_onto_a_registry_base_downloads_no_base_layer() {
    let registry = Registry::no_auth();
    let lab = Lab::new();
    let base_layers = lab.remote_base(&registry, "win/base:1", "10.0.20348.1");
    let base = registry.reference("win/base:1");
    let context = lab.context(&format!(
        "FROM {base}\nWORKDIR /app\nCOPY app/ .\nENV APP_MODE=prod\nCMD [\"app.exe\"]\n"
    ));
    let app = registry.reference("app/web:1");
    // A fresh store: the base exists only in the registry.
    let out = lab.silo_ok(
        "build",
        &build_args(&registry, &context, &["--push", "-t", &app]),
    );
    for digest in &base_layers {
        assert_eq!(
            registry.blob_gets(digest),
            0,
            "base layer {digest} was downloaded:\n{}",
            registry.log()
        );
        assert!(registry.has_blob(digest));
    }
    assert!(
        out.contains(&format!("pushed {app}@sha256:")) && out.contains("1 mounted"),
        "{out}"
    );
    // `--progress plain` shows each blob of the push, as `silo push` does.
    let short = |d: &str| d.trim_start_matches("sha256:")[..12].to_string();
    assert!(
        out.lines()
            .any(|l| l.contains(&short(&base_layers[0])) && l.contains("mounted")),
        "no progress line for the mounted base layer:\n{out}"
    );
    assert!(
        out.lines().any(|l| l.contains(" uploaded ")),
        "no progress line for an uploaded layer:\n{out}"
    );
    let manifest = raw_manifest(&registry, "app/web:1");
    let layers = layer_digests(&manifest);
    assert_eq!(
        &layers[..base_layers.len()],
        &base_layers[..],
        "base layers first"
    );
    assert!(layers.len() > base_layers.len(), "new layers: {manifest}");
    let config = skopeo_json(&registry, "app/web:1", true);
    assert_eq!(config["os"], "windows");
    assert_eq!(config["os.version"], "10.0.20348.1");
    // BuildKit's form for a windows target (see docs/build.md, --path-mode).
    assert_eq!(config["config"]["WorkingDir"], "\\app");
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["app.exe"]));
    assert!(config["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "APP_MODE=prod"));
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().unwrap().len(),
        layers.len()
    );

    // The pushed digest is what the registry serves for the tag.
    let digest = out
        .lines()
        .find_map(|l| l.strip_prefix(&format!("pushed {app}@")))
        .and_then(|rest| rest.split(": ").next())
        .unwrap()
        .to_string();
    let served = run_ok(
        skopeo()
            .args(["inspect", "--format", "{{.Digest}}"])
            .args(registry.skopeo_args(""))
            .arg(format!("docker://{app}")),
    );
    assert_eq!(String::from_utf8_lossy(&served.stdout).trim(), digest);

    // A rebuild in the same store is all cache hits and pushes nothing new.
    let gets_before = registry
        .access_log()
        .iter()
        .filter(|e| e.method == "GET" && e.uri.contains("/blobs/"))
        .count();
    let again = lab.silo_ok(
        "build",
        &build_args(&registry, &context, &["--push", "-t", &app]),
    );
    // Only the config may be new (its `created` time); every layer is already there.
    assert!(
        again.contains("0 uploaded") || again.contains("1 uploaded"),
        "{again}"
    );
    assert_eq!(layer_digests(&raw_manifest(&registry, "app/web:1")), layers);
    let gets_after = registry
        .access_log()
        .iter()
        .filter(|e| e.method == "GET" && e.uri.contains("/blobs/"))
        .count();
    assert_eq!(
        gets_before, gets_after,
        "an unchanged rebuild fetched blobs"
    );
}

#[test]
fn copy_from_a_registry_image_fetches_only_the_layers_it_reads() {
    let registry = Registry::no_auth();
    let lab = Lab::new();
    let base_layers = lab.remote_base(&registry, "win/base:1", "10.0.20348.1");
    // A "tools" image = the base + one layer, built and pushed from the seed store.
    let seed_context = lab.context("FROM silo.local/seed-win-base-1:1\nCOPY app/ /tools/\n");
    lab.silo_ok(
        "seed",
        &build_args(&registry, &seed_context, &["-t", "silo.local/tools:1"]),
    );
    let mut push = strings(&[
        "push",
        "silo.local/tools:1",
        &registry.reference("win/tools:1"),
    ]);
    push.extend(silo_cli::transport_flags(&registry));
    lab.silo_ok("seed", &push);
    let tool_layers = layer_digests(&raw_manifest(&registry, "win/tools:1"));
    let tool_only: Vec<&String> = tool_layers
        .iter()
        .filter(|l| !base_layers.contains(l))
        .collect();
    assert_eq!(tool_only.len(), 1, "{tool_layers:?}");

    let context = lab.context(&format!(
        "FROM {}\nCOPY --from={} /tools/app.txt /copied/app.txt\n",
        registry.reference("win/base:1"),
        registry.reference("win/tools:1"),
    ));
    let app = registry.reference("app/copied:1");
    lab.silo_ok(
        "build",
        &build_args(&registry, &context, &["--push", "-t", &app]),
    );
    // The file is in the tools image's top layer: only that layer is fetched, once; the layer
    // it shares with the FROM base is not (the push mounts it).
    assert_eq!(
        registry.blob_gets(tool_only[0]),
        1,
        "the layer COPY --from reads"
    );
    for digest in &base_layers {
        assert_eq!(registry.blob_gets(digest), 0, "base layer {digest}");
    }
    let pushed = layer_digests(&raw_manifest(&registry, "app/copied:1"));
    assert_eq!(pushed.len(), base_layers.len() + 1);
    assert_eq!(registry.blob_gets(&pushed[base_layers.len()]), 0);
}

#[test]
fn inspection_of_a_registry_ref_fetches_only_the_layers_it_shows() {
    let registry = Registry::no_auth();
    let lab = Lab::new();
    let base_layers = lab.remote_base(&registry, "win/base:1", "10.0.20348.1");
    let reference = registry.reference("win/base:1");
    let mut layers = strings(&["layers", &format!("docker://{reference}")]);
    layers.extend(silo_cli::transport_flags(&registry));
    let out = lab.silo_ok("inspect", &layers);
    assert!(
        out.contains(&base_layers[0]) && out.contains("not read"),
        "{out}"
    );
    assert_eq!(registry.blob_gets(&base_layers[0]), 0);

    let mut ls = strings(&["ls", "--layer", "0", &reference]);
    ls.extend(silo_cli::transport_flags(&registry));
    let out = lab.silo_ok("inspect", &ls);
    assert!(out.contains("Windows\\System32\\config\\SOFTWARE"), "{out}");
    assert_eq!(registry.blob_gets(&base_layers[0]), 1);

    // A second look reads the fetched layer from the store; diff of the image with itself.
    let mut diff = strings(&["diff", &reference, &format!("docker://{reference}")]);
    diff.extend(silo_cli::transport_flags(&registry));
    lab.silo_ok("inspect", &diff);
    assert_eq!(registry.blob_gets(&base_layers[0]), 1);
}

#[test]
fn registry_base_errors_say_what_went_wrong() {
    let lab = Lab::new();
    let dockerfile = |base: &str| format!("FROM {base}\nCOPY app/ /app/\n");

    // Bad credentials.
    let secured = Registry::htpasswd();
    let base = secured.reference("win/base:1");
    let context = lab.context(&dockerfile(&base));
    let mut args = build_args(&secured, &context, &["--creds", "nobody:wrong"]);
    let err = lab.silo_fails("s", &args);
    assert!(err.contains(&format!("base image {base}")), "{err}");
    assert!(
        err.contains("HTTP 401") && err.contains("check credentials"),
        "{err}"
    );

    // Unreachable registry: a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("127.0.0.1:{port}/win/base:1");
    let context = lab.context(&dockerfile(&base));
    args = build_args(&secured, &context, &[]);
    let err = lab.silo_fails("s", &args);
    assert!(err.contains(&format!("base image {base}")), "{err}");
    assert!(
        err.contains(&format!("http://127.0.0.1:{port}/v2/")) && err.contains("did not answer"),
        "{err}"
    );

    // Missing repository / tag.
    let open = Registry::no_auth();
    let base = open.reference("win/nothing:1");
    let context = lab.context(&dockerfile(&base));
    let err = lab.silo_fails("s", &build_args(&open, &context, &[]));
    assert!(err.contains(&format!("base image {base}")), "{err}");
    assert!(
        err.contains("HTTP 404") && err.contains("manifest unknown"),
        "{err}"
    );
}

#[test]
fn push_on_a_windows_index_base_keeps_foreign_urls_and_mounts_the_rest() {
    use silo_tests::fileserver::FileServer;
    use silo_tests::image::DOCKER_FOREIGN_LAYER;
    use silo_tests::windows::WindowsFixture;

    let files = FileServer::start();
    let fixture = WindowsFixture::build(&files);
    let registry = Registry::no_auth();
    fixture.push(&registry, "win/multi", "ltsc");
    let lab = Lab::new();
    let context = lab.context(&format!(
        "FROM {}\nCOPY app/ /app/\n",
        registry.reference("win/multi:ltsc")
    ));
    let app = registry.reference("app/multi:1");
    let out = lab.silo_ok(
        "build",
        &build_args(
            &registry,
            &context,
            &[
                "--platform",
                "windows/amd64:10.0.20348",
                "--push",
                "-t",
                &app,
            ],
        ),
    );
    let chosen = &fixture.entries[WindowsFixture::LTSC2022_LATEST].image;
    let base_layers = layer_digests(&serde_json::from_slice(&chosen.manifest.bytes).unwrap());
    // Neither the foreign layer (from its url) nor the distributable one was downloaded.
    assert_eq!(files.bytes_served(&fixture.foreign_path), 0);
    for digest in &base_layers {
        assert_eq!(registry.blob_gets(digest), 0, "{digest} downloaded");
    }
    assert!(
        out.contains("1 mounted") && out.contains("1 foreign skipped"),
        "{out}"
    );
    let manifest = raw_manifest(&registry, "app/multi:1");
    assert_eq!(&layer_digests(&manifest)[..2], &base_layers[..]);
    let foreign = &manifest["layers"][0];
    assert_eq!(foreign["mediaType"], DOCKER_FOREIGN_LAYER);
    assert_eq!(foreign["urls"], serde_json::json!(fixture.foreign.urls));
    let config = skopeo_json(&registry, "app/multi:1", true);
    assert_eq!(config["os.version"], "10.0.20348.2461");

    // Two platforms: one index pushed, entries carrying each os.version; still no base GETs.
    let multi = registry.reference("app/multi:2");
    lab.silo_ok(
        "build",
        &build_args(
            &registry,
            &context,
            &[
                "--platform",
                "windows/amd64:10.0.17763,windows/amd64:10.0.20348",
                "--push",
                "-t",
                &multi,
            ],
        ),
    );
    let index = raw_manifest(&registry, "app/multi:2");
    let versions: Vec<&str> = index["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .map(|m| m["platform"]["os.version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["10.0.17763.5820", "10.0.20348.2461"]);
    for entry in &fixture.entries {
        for digest in layer_digests(&serde_json::from_slice(&entry.image.manifest.bytes).unwrap()) {
            assert_eq!(registry.blob_gets(&digest), 0, "{digest} downloaded");
        }
    }
    assert_eq!(files.bytes_served(&fixture.foreign_path), 0);
}
