//! `silo build --runtime wine` end to end: the README's main job (`dockerfiles/hello`: RUN steps
//! that write a file and change the registry) on a base from `silo base create`, written to an
//! OCI layout and read back with skopeo and Python's tarfile; an unchanged rebuild runs nothing;
//! a failing step passes its exit code on and commits nothing; the image pushes to a real
//! docker-registry and skopeo reads it from there.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use silo_tests::project_root;
use silo_tests::tools::{require_tool, run_ok};
use silo_tests::{silo_in as run, silo_ok_in as ok};

fn skopeo_json(args: &[&str]) -> Value {
    let out = run_ok(std::process::Command::new("skopeo").args(args));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// (name, content) of every entry of a layer blob, read by Python's tarfile.
fn python_entries(blob: &Path) -> Vec<(String, String)> {
    let script = r#"
import json, sys, tarfile
out = []
with tarfile.open(sys.argv[1], "r:*") as tar:
    for m in tar:
        data = tar.extractfile(m).read().decode("latin-1") if m.isfile() and m.size < 65536 else ""
        out.append([m.name, data])
print(json.dumps(out))
"#;
    let out = run_ok(
        std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(blob),
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

/// `silo.local/base:ltsc2022` (os.version 10.0.20348.1) from `silo base create` in `root`.
fn create_base(root: &Path) {
    ok(
        root,
        &[
            "base",
            "create",
            "-t",
            "silo.local/base:ltsc2022",
            "--os-version",
            "10.0.20348.1",
        ],
    );
}

#[test]
fn hello_builds_with_the_wine_silo_and_rebuilds_from_cache() {
    require_tool("wine");
    require_tool("skopeo");
    require_tool("python3");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    let root = root.as_path();
    create_base(root);
    let layout = dir.path().join("out");
    let dest = format!("type=oci,tar=false,dest={}", layout.display());
    let context = project_root()
        .join("dockerfiles/hello")
        .display()
        .to_string();
    let out = ok(
        root,
        &[
            "build",
            "--runtime",
            "wine",
            "--progress",
            "plain",
            "-t",
            "hello:v1",
            "-o",
            &dest,
            &context,
        ],
    );
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        log.contains("reg: The operation completed successfully"),
        "step output is shown with its step prefix:\n{log}"
    );

    let oci = format!("oci:{}:v1", layout.display());
    let manifest = skopeo_json(&["inspect", "--raw", &oci]);
    let config = skopeo_json(&["inspect", "--raw", "--config", &oci]);
    assert_eq!(config["os.version"], "10.0.20348.1");
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["cmd", "/c", "type", "C:\\hello.txt"])
    );
    let history: Vec<&str> = config["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["created_by"].as_str().unwrap())
        .collect();
    assert!(
        history.contains(&"RUN cmd /S /C echo hello> C:\\hello.txt # buildkit"),
        "{history:?}"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 5, "base, WORKDIR and three RUN layers");
    let entries: Vec<Vec<(String, String)>> = layers[2..]
        .iter()
        .map(|l| python_entries(&blob(&layout, l["digest"].as_str().unwrap())))
        .collect();
    let hello = entries[0]
        .iter()
        .find(|(name, _)| name == "Files/hello.txt")
        .unwrap_or_else(|| panic!("no Files/hello.txt in {:?}", entries[0]));
    assert_eq!(hello.1, "hello\r\n");
    for (i, layer) in entries[1..].iter().enumerate() {
        assert!(
            layer.iter().any(|(name, _)| name == "Hives/Software_Delta"),
            "reg step {} has no Software_Delta: {layer:?}",
            i + 1
        );
        assert!(
            !layer
                .iter()
                .any(|(name, _)| name.starts_with("Files/windows/")),
            "Wine's prefix housekeeping leaked into the layer: {layer:?}"
        );
    }

    // The image built on Linux pushes to a real registry, and skopeo reads it back from there:
    // the same manifest bytes, the Windows config and every layer blob.
    let registry = silo_tests::registry::Registry::no_auth();
    ok(
        root,
        &[
            "push",
            "--tls-verify=false",
            &oci,
            &registry.reference("wine/hello:1"),
        ],
    );
    let pushed = silo_tests::skopeo::inspect(&registry, "wine/hello:1", true);
    assert_eq!(
        pushed,
        fs::read(blob(
            &layout,
            skopeo_json(&["inspect", &oci])["Digest"].as_str().unwrap()
        ))
        .unwrap(),
        "the registry serves the manifest byte for byte"
    );
    let remote: Value = serde_json::from_slice(&silo_tests::skopeo::inspect(
        &registry,
        "wine/hello:1",
        false,
    ))
    .unwrap();
    assert_eq!(remote["Os"], "windows");
    assert_eq!(remote["Layers"].as_array().unwrap().len(), layers.len());
    for layer in layers {
        assert!(registry.has_blob(layer["digest"].as_str().unwrap()));
    }

    // Unchanged rebuild: every step is a cache hit, no silo is started.
    let started = std::time::Instant::now();
    let out = ok(
        root,
        &[
            "build",
            "--runtime",
            "wine",
            "--progress",
            "plain",
            &context,
        ],
    );
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(log.matches("CACHED").count(), 4, "{log}");
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());

    // A failing step: its exit code becomes silo's, its output is shown, nothing is committed.
    let ctx = dir.path().join("fail");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        "FROM silo.local/base:ltsc2022\nRUN echo about to fail && exit /b 3\n",
    )
    .unwrap();
    let records_before = fs::read_dir(root.join("records")).unwrap().count();
    let out = run(
        root,
        &[
            "build",
            "--runtime",
            "wine",
            "--progress",
            "plain",
            "-t",
            "fail:1",
            &ctx.display().to_string(),
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(log.contains("about to fail"), "{log}");
    assert!(
        log.contains("Dockerfile:2: RUN echo about to fail && exit /b 3: process \"cmd /S /C echo about to fail && exit /b 3\" did not complete successfully: exit code: 3"),
        "{log}"
    );
    assert_eq!(
        fs::read_dir(root.join("records")).unwrap().count(),
        records_before
    );
    let refs = run(root, &["store", "refs"]);
    assert!(!String::from_utf8_lossy(&refs.stdout).contains("fail:1"));
}

#[test]
fn run_mounts_reach_the_step_and_stay_out_of_its_layers() {
    require_tool("wine");
    require_tool("python3");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    let root = root.as_path();
    create_base(root);
    let ctx = dir.path().join("ctx");
    fs::create_dir_all(ctx.join("data")).unwrap();
    fs::write(ctx.join("data/in.txt"), "from-the-context\r\n").unwrap();
    fs::write(ctx.join("data/ignored.txt"), "must-not-show\r\n").unwrap();
    fs::write(ctx.join(".dockerignore"), "data/ignored.txt\n").unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        "FROM silo.local/base:ltsc2022\n\
         RUN --mount=type=bind,source=data,target=C:\\src dir /b C:\\src && type C:\\src\\in.txt\n\
         RUN --mount=type=cache,id=c1,target=C:\\cache echo cached-value> C:\\cache\\x.txt\n\
         RUN --mount=type=cache,id=c1,target=/cache type C:\\cache\\x.txt && echo made> C:\\made.txt\n\
         RUN --mount=type=secret,id=tok type C:\\run\\secrets\\tok\n\
         RUN --mount=type=tmpfs,target=C:\\scratch echo t> C:\\scratch\\t.txt && type C:\\scratch\\t.txt\n\
         RUN --mount=target=C:\\ro,source=data (echo x> C:\\ro\\w.txt) || echo write-refused\n\
         RUN --mount=target=C:\\rw,source=data,rw echo y> C:\\rw\\y.txt && type C:\\rw\\y.txt\n",
    )
    .unwrap();
    let secret = dir.path().join("token.txt");
    fs::write(&secret, "s3cret-value").unwrap();
    let layout = dir.path().join("out");
    let build = || {
        let dest = format!("type=oci,tar=false,dest={}", layout.display());
        let secret_flag = format!("id=tok,src={}", secret.display());
        let ctx = ctx.display().to_string();
        let mut args = vec![
            "build",
            "--runtime",
            "wine",
            "--progress",
            "plain",
            "--secret",
            &secret_flag,
            "-t",
            "mounts:v1",
            "-o",
            &dest,
        ];
        args.push(&ctx);
        String::from_utf8_lossy(&ok(root, &args).stderr).into_owned()
    };
    let log = build();
    for shown in ["from-the-context", "in.txt", "cached-value", "s3cret-value"] {
        assert!(log.contains(shown), "{shown} missing:\n{log}");
    }
    assert!(
        !log.contains("ignored.txt"),
        ".dockerignore applies to bind mounts:\n{log}"
    );
    // Read-only binds refuse writes; writable ones write to a throwaway copy.
    assert!(log.contains("write-refused"), "{log}");
    assert!(log.lines().any(|l| l.trim_end().ends_with(" y")), "{log}");
    let context_files: Vec<_> = fs::read_dir(ctx.join("data")).unwrap().flatten().collect();
    assert_eq!(
        context_files.len(),
        2,
        "the context is untouched: {context_files:?}"
    );
    // The cache mount outlives the build, in the store.
    let caches: Vec<_> = fs::read_dir(root.join("cache-mounts"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().join("x.txt").is_file())
        .collect();
    assert_eq!(caches.len(), 1);

    // No layer holds a mount's files or mount points; the real change is there.
    let oci = format!("oci:{}:v1", layout.display());
    let manifest = skopeo_json(&["inspect", "--raw", &oci]);
    let names: Vec<String> = manifest["layers"].as_array().unwrap()[1..]
        .iter()
        .flat_map(|l| python_entries(&blob(&layout, l["digest"].as_str().unwrap())))
        .map(|(name, _)| name.to_lowercase())
        .collect();
    assert!(names.contains(&"files/made.txt".to_string()), "{names:?}");
    for hidden in [
        "files/src",
        "files/cache",
        "files/run",
        "files/scratch",
        "files/ro",
        "files/rw",
    ] {
        assert!(
            !names.iter().any(|n| n.starts_with(hidden)),
            "{hidden} leaked into a layer: {names:?}"
        );
    }

    // Unchanged: every step is cached. A changed bind source reruns its step.
    let log = build();
    assert_eq!(log.matches("CACHED").count(), 7, "{log}");
    fs::write(ctx.join("data/in.txt"), "changed-context\r\n").unwrap();
    let log = build();
    assert!(log.contains("changed-context"), "{log}");
}

/// A build in `root` (with the base) of a one-file Dockerfile; returns the output.
fn build_dockerfile(root: &Path, ctx: &Path, dockerfile: &str, extra: &[&str]) -> Output {
    fs::create_dir_all(ctx).unwrap();
    fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    let ctx = ctx.display().to_string();
    let mut args = vec!["build", "--runtime", "wine", "--progress", "plain"];
    args.extend_from_slice(extra);
    args.push(&ctx);
    run(root, &args)
}

#[test]
fn a_full_exit_code_reaches_the_error_and_the_exit_status() {
    require_tool("wine");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    create_base(&root);
    let out = build_dockerfile(
        &root,
        &dir.path().join("ctx"),
        "FROM silo.local/base:ltsc2022\nRUN exit /b 9009\n",
        &[],
    );
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        log.contains("did not complete successfully: exit code: 9009"),
        "{log}"
    );
    // A Linux exit status has 8 bits: a code above 255 becomes 255 (never 9009 & 0xFF = 49).
    assert_eq!(out.status.code(), Some(255), "{log}");
}
