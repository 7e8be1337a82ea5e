//! The Wine system layer carried by the registry build cache (docs/wine.md, "The system layer
//! from a build cache"), with real Wine, a real docker-registry and skopeo: a build with
//! `--cache-to` exports it; a fresh state dir with `--cache-from` installs it instead of running
//! `wineboot` and still runs its RUN steps; a corrupted artifact is refused with a digest
//! mismatch, and the build goes on with a system layer made here.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Instant;

use serde_json::Value;
use silo_tests::registry::Registry;
use silo_tests::silo;
use silo_tests::tools::{require_tool, run_ok};

const MEDIA_TYPE: &str = "application/vnd.silo.wine.system.v1.tar+zstd";

fn run(root: &Path, args: &[&str]) -> Output {
    silo()
        .env("SILO_ROOT", root)
        // No machine credentials leak in (the registry has no auth).
        .env("DOCKER_CONFIG", root.join("no-docker-config"))
        .env("REGISTRY_AUTH_FILE", root.join("no-auth.json"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(root: &Path, args: &[&str]) -> String {
    let out = run(root, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "silo {args:?} failed:\n{text}");
    text
}

/// A fresh state dir with `silo.local/base:ltsc2022` in it.
fn fresh_state(dir: &Path, name: &str) -> PathBuf {
    let root = dir.join(name);
    ok(
        &root,
        &[
            "base",
            "create",
            "-t",
            "silo.local/base:ltsc2022",
            "--os-version",
            "10.0.20348.1",
        ],
    );
    root
}

/// What the state dir's Wine system layer says about how it was made (`.origin`).
fn origin(root: &Path) -> String {
    let system = root.join("wine/system");
    let dirs: Vec<_> = fs::read_dir(&system)
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(dirs.len(), 1, "one system layer in {}", system.display());
    fs::read_to_string(dirs[0].path().join(".origin")).unwrap()
}

/// Builds `dockerfile` (context: `ctx`) with the Wine runtime, writing an OCI layout to `out`.
/// Returns the log and the wall time.
fn build(root: &Path, ctx: &Path, dockerfile: &str, out: &Path, extra: &[&str]) -> (String, f64) {
    fs::create_dir_all(ctx).unwrap();
    fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    let dest = format!("type=oci,tar=false,dest={}", out.display());
    let ctx = ctx.display().to_string();
    let mut args = vec![
        "build",
        "--runtime",
        "wine",
        "--progress",
        "plain",
        "-o",
        &dest,
    ];
    args.extend_from_slice(extra);
    args.push(&ctx);
    let start = Instant::now();
    let log = ok(root, &args);
    (log, start.elapsed().as_secs_f64())
}

/// The content of `Files/<name>` in the last layer of the single image in an OCI layout.
fn last_layer_file(layout: &Path, name: &str) -> Option<String> {
    let oci = format!("oci:{}", layout.display());
    let manifest: Value = serde_json::from_slice(
        &run_ok(std::process::Command::new("skopeo").args(["inspect", "--raw", &oci])).stdout,
    )
    .unwrap();
    let digest = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(fs::File::open(blob).unwrap()));
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap() == Path::new("Files").join(name) {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
            return Some(text);
        }
    }
    None
}

#[test]
fn the_wine_system_layer_travels_with_the_registry_cache_and_a_corrupt_one_is_refused() {
    require_tool("wine");
    require_tool("skopeo");
    let registry = Registry::no_auth();
    let dir = tempfile::tempdir().unwrap();
    let cache = registry.reference("cache:wine");
    let cache_to = format!("type=registry,ref={cache},mode=max,registry.insecure=true");
    let cache_from = format!("type=registry,ref={cache},registry.insecure=true");

    // A: a fresh state makes the system layer with wineboot and exports it with the cache.
    let a = fresh_state(dir.path(), "state-a");
    let (log_a, time_a) = build(
        &a,
        &dir.path().join("ctx-a"),
        "FROM silo.local/base:ltsc2022\nRUN echo one> C:\\one.txt\n",
        &dir.path().join("out-a"),
        &["--cache-to", &cache_to],
    );
    assert!(log_a.contains("1 runtime setup"), "{log_a}");
    assert_eq!(origin(&a), "wineboot");
    let manifest: Value = serde_json::from_slice(
        &run_ok(std::process::Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{cache}"),
        ]))
        .stdout,
    )
    .unwrap();
    let setup = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["mediaType"] == MEDIA_TYPE)
        .unwrap_or_else(|| panic!("no {MEDIA_TYPE} in the cache manifest: {manifest}"));
    let digest = setup["digest"].as_str().unwrap().to_string();
    let size = setup["size"].as_u64().unwrap();
    assert!(registry.has_blob(&digest));
    // The Wine files travel by name: the artifact is a few MB, not the prefix's ~700.
    assert!(size < 64 << 20, "artifact of {size} bytes");

    // B: a fresh state with --cache-from installs it (no wineboot) and runs a new RUN step
    // (a step the cache does not hold, so it really runs).
    let b = fresh_state(dir.path(), "state-b");
    let out_b = dir.path().join("out-b");
    let (log_b, time_b) = build(
        &b,
        &dir.path().join("ctx-b"),
        "FROM silo.local/base:ltsc2022\nRUN echo two>C:\\two.txt&& type C:\\two.txt && reg add HKLM\\SOFTWARE\\SiloTest /v X /d 1 /f\n",
        &out_b,
        &["--cache-from", &cache_from],
    );
    assert!(
        log_b.contains(&format!("installed {MEDIA_TYPE} {digest}")),
        "{log_b}"
    );
    assert_eq!(origin(&b), format!("cache {digest}"), "no wineboot ran");
    assert!(
        log_b.contains("The operation completed successfully"),
        "{log_b}"
    );
    assert_eq!(
        last_layer_file(&out_b, "two.txt").as_deref(),
        Some("two\r\n")
    );
    println!("first build (wineboot): {time_a:.1} s; fresh state with --cache-from: {time_b:.1} s");
    assert!(
        time_b < time_a,
        "the import ({time_b:.1} s) is faster than wineboot ({time_a:.1} s)"
    );

    // C: the registry's copy is corrupted (same size): the fetch is refused with a digest
    // mismatch, the build warns and makes the layer here, and its steps still run.
    let hex = digest.trim_start_matches("sha256:");
    let data = registry
        .data_dir()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut bytes = fs::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&data, &bytes).unwrap();
    let c = fresh_state(dir.path(), "state-c");
    let out_c = dir.path().join("out-c");
    let (log_c, _) = build(
        &c,
        &dir.path().join("ctx-c"),
        "FROM silo.local/base:ltsc2022\nRUN echo three> C:\\three.txt\n",
        &out_c,
        &["--cache-from", &cache_from],
    );
    assert!(
        log_c.contains(&format!("not using {MEDIA_TYPE} {digest}"))
            && log_c.contains("does not match its digest")
            && log_c.contains("it is made here instead"),
        "{log_c}"
    );
    assert_eq!(origin(&c), "wineboot");
    assert_eq!(
        last_layer_file(&out_c, "three.txt").as_deref(),
        Some("three\r\n")
    );
}
