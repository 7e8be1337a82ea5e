//! `silo build` end to end on local bases: the COPY-only samples in `dockerfiles/` on a base from
//! `silo base create`, read back with real skopeo (`inspect --raw`, `--config --raw`) and Python's
//! `tarfile`; the build cache across processes; multi-platform against a two-entry base index;
//! and the error texts users see.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use silo_tests::tools::{require_tool, run_ok};
use silo_tests::{project_root, silo};

/// A state directory plus helpers to run silo and skopeo against it.
struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        require_tool("skopeo");
        require_tool("python3");
        Lab {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn silo(&self, args: &[&str]) -> Output {
        silo()
            .env("SILO_ROOT", self.root())
            .env_remove("SOURCE_DATE_EPOCH")
            .args(args)
            .output()
            .unwrap()
    }

    fn silo_ok(&self, args: &[&str]) -> Output {
        silo_tests::succeeded(args, self.silo(args))
    }

    /// A build context `name` holding `files` (path, text); its path as an argument.
    fn context(&self, name: &str, files: &[(&str, &str)]) -> String {
        silo_tests::write_files(&self.path(name), files)
    }

    /// `silo base create` into the store.
    fn base(&self, tag: &str, os_version: &str) {
        self.silo_ok(&[
            "base",
            "create",
            "-t",
            tag,
            "--os-version",
            os_version,
            "--features",
            "win32k",
        ]);
    }

    /// Builds a sample from `dockerfiles/` into an OCI layout; returns the layout path.
    fn build_sample(&self, sample: &str, extra: &[&str]) -> (PathBuf, Output) {
        let out_dir = self.path(&format!("out-{sample}"));
        let dest = format!("type=oci,tar=false,dest={}", out_dir.display());
        let context = sample_dir(sample);
        let mut args = vec![
            "build",
            "--progress",
            "plain",
            "--runtime",
            "none",
            "-t",
            "example.com/sample:v1",
            "-o",
            &dest,
        ];
        args.extend_from_slice(extra);
        let context = context.display().to_string();
        args.push(&context);
        let out = self.silo_ok(&args);
        (out_dir, out)
    }
}

fn sample_dir(name: &str) -> PathBuf {
    project_root().join("dockerfiles").join(name)
}

fn skopeo_json(args: &[&str]) -> Value {
    let out = run_ok(std::process::Command::new("skopeo").args(args));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn raw_manifest(layout: &Path) -> Value {
    skopeo_json(&["inspect", "--raw", &format!("oci:{}:v1", layout.display())])
}

fn raw_config(layout: &Path) -> Value {
    skopeo_json(&[
        "inspect",
        "--raw",
        "--config",
        &format!("oci:{}:v1", layout.display()),
    ])
}

/// The blob file of a digest inside an OCI layout.
fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

/// Python's tarfile view of a layer: (name, size, content if small) per entry.
fn python_entries(layer: &Path) -> Vec<(String, u64, String)> {
    let script = r#"
import json, sys, tarfile
out = []
with tarfile.open(sys.argv[1], "r:*") as tar:
    for m in tar:
        data = ""
        if m.isfile() and m.size < 4096:
            data = tar.extractfile(m).read().decode("utf-8", "replace")
        out.append([m.name, m.size, data])
print(json.dumps(out))
"#;
    let out = run_ok(
        std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(layer),
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The entries of the layers the build added (after the base's `base_layers`).
fn added_layers(layout: &Path, base_layers: usize) -> Vec<Vec<(String, u64, String)>> {
    let manifest = raw_manifest(layout);
    manifest["layers"].as_array().unwrap()[base_layers..]
        .iter()
        .map(|l| python_entries(&blob(layout, l["digest"].as_str().unwrap())))
        .collect()
}

fn names(entries: &[(String, u64, String)]) -> Vec<&str> {
    entries.iter().map(|e| e.0.as_str()).collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn dotnet_app_sample_has_buildkit_config_and_owned_files() {
    let lab = Lab::new();
    lab.base("silo.local/base:ltsc2022", "10.0.20348.1");
    let (layout, _) = lab.build_sample("copy-dotnet-app", &[]);

    let config = raw_config(&layout);
    assert_eq!(config["os"], "windows");
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os.version"], "10.0.20348.1");
    assert_eq!(config["os.features"], serde_json::json!(["win32k"]));
    let c = &config["config"];
    // What BuildKit writes for windows/amd64 (dockerfile2llb): WorkingDir without drive, env in
    // order, exec-form ENTRYPOINT as given, and the base's Cmd cleared by ENTRYPOINT.
    assert_eq!(c["WorkingDir"], "\\app");
    assert_eq!(
        c["Env"],
        serde_json::json!([
            "ASPNETCORE_URLS=http://+:8080",
            "DOTNET_RUNNING_IN_CONTAINER=true"
        ])
    );
    assert_eq!(
        c["Entrypoint"],
        serde_json::json!(["dotnet", "Contoso.Web.dll"])
    );
    assert!(
        c.get("Cmd").is_none(),
        "ENTRYPOINT clears the base's Cmd: {c}"
    );
    assert_eq!(c["User"], "ContainerUser");
    assert_eq!(c["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));

    let history: Vec<&str> = config["history"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|h| h["created_by"].as_str().unwrap())
        .collect();
    assert_eq!(
        history,
        // The meta ARG before FROM leaves no history entry, as in BuildKit.
        [
            "ENV ASPNETCORE_URLS=http://+:8080 DOTNET_RUNNING_IN_CONTAINER=true",
            "WORKDIR /app",
            "COPY --chown=ContainerUser publish/ . # buildkit",
            "EXPOSE map[8080/tcp:{}]",
            "USER ContainerUser",
            "ENTRYPOINT [\"dotnet\" \"Contoso.Web.dll\"]",
        ]
    );
    let empty: Vec<bool> = config["history"].as_array().unwrap()[1..]
        .iter()
        .map(|h| h["empty_layer"].as_bool().unwrap_or(false))
        .collect();
    assert_eq!(empty, [true, false, false, true, true, true]);

    let layers = added_layers(&layout, 1);
    assert_eq!(layers.len(), 2, "WORKDIR and COPY each make a layer");
    assert_eq!(names(&layers[0]), ["Hives", "Files", "Files/app"]);
    let copied = names(&layers[1]);
    for want in [
        "Files/app/Contoso.Web.dll",
        "Files/app/appsettings.json",
        "Files/app/wwwroot/index.html",
    ] {
        assert!(copied.contains(&want), "{want} missing from {copied:?}");
    }
    assert!(
        !copied.iter().any(|n| n.contains("Development")),
        ".dockerignore'd file was copied: {copied:?}"
    );
    let settings = layers[1]
        .iter()
        .find(|e| e.0 == "Files/app/appsettings.json")
        .unwrap();
    assert_eq!(
        settings.2,
        fs::read_to_string(sample_dir("copy-dotnet-app/publish/appsettings.json")).unwrap()
    );

    // --chown=ContainerUser: the copied files are owned by S-1-5-93-2-2 (read with silo's codec).
    let manifest = raw_manifest(&layout);
    let copy_layer = manifest["layers"][2]["digest"].as_str().unwrap();
    let (entries, _) =
        silo::layer::reader::list_layer(fs::File::open(blob(&layout, copy_layer)).unwrap())
            .unwrap();
    let dll = entries
        .iter()
        .find(|e| e.path == "Files/app/Contoso.Web.dll")
        .unwrap();
    assert_eq!(dll.owner, Some(silo::layer::sd::Sid::container_user()));
}

#[test]
fn windows_config_sample_matches_buildkit_fields() {
    let lab = Lab::new();
    lab.base("silo.local/base:ltsc2022", "10.0.20348.1");
    let (layout, out) = lab.build_sample("copy-windows-config", &[]);
    assert!(
        stderr(&out).contains("STOPSIGNAL has no effect on Windows"),
        "{}",
        stderr(&out)
    );
    let config = raw_config(&layout);
    let c = &config["config"];
    assert_eq!(c["WorkingDir"], "\\Program Files\\Contoso\\bin");
    assert_eq!(
        c["Env"],
        serde_json::json!([
            "APP_DIR=C:\\Program Files\\Contoso",
            "PATH_EXTRA=C:\\tools\\bin"
        ])
    );
    // Shell-form ENTRYPOINT: cmd /S /C plus the line as one string.
    assert_eq!(
        c["Entrypoint"],
        serde_json::json!([
            "cmd",
            "/S",
            "/C",
            "C:\\Program Files\\Contoso\\bin\\run.cmd"
        ])
    );
    assert_eq!(c["User"], "ContainerAdministrator");
    assert_eq!(c["StopSignal"], "SIGTERM");
    assert_eq!(
        c["Healthcheck"],
        serde_json::json!({
            "Test": ["CMD", "C:\\Program Files\\Contoso\\bin\\check.cmd"],
            "Interval": 30_000_000_000u64,
            "Retries": 3
        })
    );
    assert_eq!(
        c["Labels"]["org.opencontainers.image.title"],
        "Contoso tools"
    );
    let layers = added_layers(&layout, 1);
    let copied = names(&layers[2]);
    assert!(
        copied.contains(&"Files/Program Files/Contoso/bin/run.cmd"),
        "{copied:?}"
    );
}

#[test]
fn cmd_sets_args_escaped_as_buildkit_does() {
    let lab = Lab::new();
    lab.base("silo.local/base:ltsc2022", "10.0.20348.1");
    let (layout, out) = lab.build_sample("copy-multistage", &[]);
    let text = stderr(&out);
    assert!(
        !text.contains("docs"),
        "the unused stage was built:\n{text}"
    );
    let config = raw_config(&layout);
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["C:\\app\\bin\\tool.cmd"])
    );
    assert_eq!(config["config"]["ArgsEscaped"], true);
    let layers = added_layers(&layout, 1);
    let all: Vec<(String, u64, String)> = layers.into_iter().flatten().collect();
    let version = all.iter().find(|e| e.0 == "Files/app/version.txt").unwrap();
    assert_eq!(version.2, "1.2.3\n", "heredoc content");
    let tool = all
        .iter()
        .find(|e| e.0 == "Files/app/bin/tool.cmd")
        .unwrap();
    assert_eq!(
        tool.2,
        fs::read_to_string(sample_dir("copy-multistage/src/tool.cmd")).unwrap()
    );
    assert!(
        !all.iter().any(|e| e.0.contains("readme")),
        "only the build stage's output is copied"
    );
}

#[test]
fn add_unpacks_a_local_archive_and_copy_does_not() {
    let lab = Lab::new();
    lab.base("silo.local/base:ltsc2022", "10.0.20348.1");
    let (layout, _) = lab.build_sample("copy-add-archive", &[]);
    let layers = added_layers(&layout, 1);
    let added = names(&layers[0]);
    assert!(added.contains(&"Files/tools/bin/hi.cmd"), "{added:?}");
    assert!(added.contains(&"Files/tools/VERSION"), "{added:?}");
    assert!(names(&layers[1]).contains(&"Files/archive/tools.tar.gz"));
}

#[test]
fn bases_from_oci_layouts_and_docker_archives_work_and_outputs_load_in_skopeo() {
    let lab = Lab::new();
    let base_layout = lab.path("base-layout");
    lab.silo_ok(&[
        "base",
        "create",
        "-t",
        "ltsc2019",
        "--os-version",
        "10.0.17763.1",
        "--output",
        &format!("oci:{}:ltsc2019", base_layout.display()),
    ]);
    let base_arg = format!("BASE=oci:{}:ltsc2019", base_layout.display());
    let archive = lab.path("image.tar");
    let dest = format!("type=docker,dest={}", archive.display());
    lab.silo_ok(&[
        "build",
        "--runtime",
        "none",
        "--build-arg",
        &base_arg,
        "-t",
        "example.com/app:v2",
        "-o",
        &dest,
        &sample_dir("copy-add-archive").display().to_string(),
    ]);
    let config = skopeo_json(&[
        "inspect",
        "--raw",
        "--config",
        &format!("docker-archive:{}", archive.display()),
    ]);
    assert_eq!(config["os.version"], "10.0.17763.1");
    assert!(config.get("os.features").is_none());
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 3);

    // The built image is in the store under its tag and can be a base itself.
    let ctx = lab.path("ctx2");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        "FROM example.com/app:v2\nCOPY x.txt /x.txt\n",
    )
    .unwrap();
    fs::write(ctx.join("x.txt"), "x").unwrap();
    lab.silo_ok(&[
        "build",
        "--runtime",
        "none",
        "-q",
        &ctx.display().to_string(),
    ]);
}

#[test]
fn second_build_is_all_cache_and_a_changed_file_rebuilds_only_later_steps() {
    let lab = Lab::new();
    lab.base("silo.local/base:ltsc2022", "10.0.20348.1");
    let ctx = lab.path("ctx");
    fs::create_dir_all(ctx.join("conf")).unwrap();
    fs::write(ctx.join("conf/app.ini"), "a=1\n").unwrap();
    fs::write(ctx.join("main.txt"), "main v1\n").unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        "FROM silo.local/base:ltsc2022\nWORKDIR /app\nCOPY conf/ conf/\nCOPY main.txt .\nENV X=1\n",
    )
    .unwrap();
    let build = |lab: &Lab| {
        let out = lab.silo_ok(&[
            "build",
            "--runtime",
            "none",
            "--progress",
            "plain",
            "--iidfile",
            &lab.path("iid").display().to_string(),
            &ctx.display().to_string(),
        ]);
        (stderr(&out), fs::read_to_string(lab.path("iid")).unwrap())
    };
    let (first, id1) = build(&lab);
    assert_eq!(first.matches("CACHED").count(), 0, "{first}");
    // The last line names the manifest digest and the image ID (what --iidfile holds) apart.
    let built = first.lines().rfind(|l| l.starts_with("built ")).unwrap();
    let manifest = built
        .strip_prefix("built manifest ")
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("{built}"));
    assert!(
        built.contains(&format!("(image ID {id1};")),
        "{built} / {id1}"
    );
    assert_ne!(
        manifest, id1,
        "the manifest digest is not the config digest"
    );
    // A new process, the same store, a later second (times are in seconds): every layer step
    // is a cache hit, nothing new is written, and the image (dated by its layers) is the same.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let blobs_before = fs::read_dir(lab.root().join("blobs/sha256"))
        .unwrap()
        .count();
    let started = std::time::Instant::now();
    let (second, id2) = build(&lab);
    let elapsed = started.elapsed();
    assert_eq!(second.matches("CACHED").count(), 3, "{second}");
    assert_eq!(id1, id2, "an unchanged rebuild gives the same image");
    let blobs_after = fs::read_dir(lab.root().join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs_after, blobs_before, "the rebuild wrote a blob");
    assert!(
        elapsed.as_secs_f64() < 5.0,
        "unchanged rebuild took {elapsed:?}"
    );

    fs::write(ctx.join("main.txt"), "main v2\n").unwrap();
    let (third, id3) = build(&lab);
    assert_ne!(id1, id3);
    assert!(third.contains("[2/4] WORKDIR /app\n#2 CACHED"), "{third}");
    assert!(
        third.contains("[3/4] COPY conf/ conf/\n#3 CACHED"),
        "{third}"
    );
    assert!(
        !third.contains("#4 CACHED"),
        "the changed COPY must rebuild:\n{third}"
    );

    // --no-cache rebuilds everything.
    let out = lab.silo_ok(&[
        "build",
        "--runtime",
        "none",
        "--progress",
        "plain",
        "--no-cache",
        &ctx.display().to_string(),
    ]);
    assert_eq!(stderr(&out).matches("CACHED").count(), 0);
}

#[test]
fn two_platform_build_gives_an_index_with_each_entrys_os_version() {
    let lab = Lab::new();
    // A base index with two entries, as Microsoft publishes them: made from two
    // `silo base create` images in one OCI layout plus an index written here.
    let layout = lab.path("multi-base");
    for (tag, version) in [("a", "10.0.17763.5820"), ("b", "10.0.20348.2461")] {
        lab.silo_ok(&[
            "base",
            "create",
            "-t",
            tag,
            "--os-version",
            version,
            "--features",
            "win32k",
            "--output",
            &format!("oci:{}:{tag}", layout.display()),
        ]);
    }
    let index_path = layout.join("index.json");
    let top: Value = serde_json::from_slice(&fs::read(&index_path).unwrap()).unwrap();
    let manifests: Vec<Value> = top["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let tag = m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap();
            let version = if tag == "a" {
                "10.0.17763.5820"
            } else {
                "10.0.20348.2461"
            };
            serde_json::json!({
                "mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
                "platform": {"architecture": "amd64", "os": "windows", "os.version": version,
                             "os.features": ["win32k"]}
            })
        })
        .collect();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    }))
    .unwrap();
    let digest = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&index))
    );
    fs::write(blob(&layout, &digest), &index).unwrap();
    let mut top = top;
    top["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest, "size": index.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi"}
        }));
    fs::write(&index_path, serde_json::to_vec(&top).unwrap()).unwrap();

    let ctx = lab.path("ctx");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM oci:{}:multi\nARG TARGETOSVERSION\nCOPY app.txt /app/\nENV BUILT_FOR=$TARGETOSVERSION\n",
            layout.display()
        ),
    )
    .unwrap();
    fs::write(ctx.join("app.txt"), "app").unwrap();
    let out_dir = lab.path("out");
    lab.silo_ok(&[
        "build",
        "--runtime",
        "none",
        "--platform",
        "windows/amd64:10.0.17763,windows/amd64:10.0.20348",
        "-t",
        "example.com/multi:v1",
        "-o",
        &format!("type=oci,tar=false,dest={}", out_dir.display()),
        &ctx.display().to_string(),
    ]);
    let index = raw_manifest(&out_dir);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let versions: Vec<&str> = entries
        .iter()
        .map(|e| e["platform"]["os.version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["10.0.17763.5820", "10.0.20348.2461"]);
    for entry in entries {
        assert_eq!(
            entry["platform"]["os.features"],
            serde_json::json!(["win32k"])
        );
        // Each entry's config carries the same os.version as the index entry.
        let manifest: Value = serde_json::from_slice(
            &fs::read(blob(&out_dir, entry["digest"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        let config: Value = serde_json::from_slice(
            &fs::read(blob(
                &out_dir,
                manifest["config"]["digest"].as_str().unwrap(),
            ))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(config["os.version"], entry["platform"]["os.version"]);
        let want = format!(
            "BUILT_FOR={}",
            &entry["platform"]["os.version"].as_str().unwrap()[..10]
        );
        assert!(
            config["config"]["Env"][0]
                .as_str()
                .unwrap()
                .starts_with(&want),
            "{}",
            config["config"]["Env"]
        );
    }
    // skopeo picks an entry by os.version from our index.
    let picked = skopeo_json(&[
        "--override-os",
        "windows",
        "inspect",
        "--raw",
        "--config",
        &format!("oci:{}:v1", out_dir.display()),
    ]);
    assert_eq!(picked["os"], "windows");
}

#[test]
fn error_texts_name_what_where_and_what_to_do() {
    let lab = Lab::new();
    lab.base("silo.local/base:ltsc2022", "10.0.20348.1");
    let ctx = lab.path("ctx");
    fs::create_dir_all(&ctx).unwrap();
    let try_build = |dockerfile: &str, extra: &[&str]| {
        fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
        let mut args = vec!["build", "--progress", "plain"];
        args.extend_from_slice(extra);
        let c = ctx.display().to_string();
        args.push(&c);
        let out = lab.silo(&args);
        assert!(!out.status.success(), "{dockerfile:?} should fail");
        stderr(&out)
    };

    let text = try_build(
        "FROM silo.local/base:ltsc2022\nCOPY x /x\n\nRUN echo hi> C:\\hi.txt\n",
        &["--runtime", "none"],
    );
    assert!(
        text.contains("Dockerfile:2: COPY x /x: \"x\" not found in the build context"),
        "{text}"
    );
    fs::write(ctx.join("x"), "x").unwrap();
    let text = try_build(
        "FROM silo.local/base:ltsc2022\nCOPY x /x\n\nRUN echo hi> C:\\hi.txt\n",
        &["--runtime", "none"],
    );
    assert!(
        text.contains("Dockerfile:4: RUN echo hi> C:\\hi.txt:"),
        "{text}"
    );
    assert!(
        text.contains("--runtime wine") && text.contains("--runtime hcs"),
        "{text}"
    );

    let text = try_build("FROM scratch\nCOPY x /x\n", &["--runtime", "none"]);
    assert!(
        text.contains("Dockerfile:1: FROM scratch") && text.contains("silo base create"),
        "{text}"
    );

    let text = try_build(
        "FROM example.invalid/nothing:here\n",
        &["--runtime", "none"],
    );
    assert!(
        text.contains("Dockerfile:1:") && text.contains("example.invalid/nothing:here"),
        "{text}"
    );

    let text = try_build("FROM silo.local/base:ltsc2022\nCOPY --bogus x /x\n", &[]);
    assert!(
        text.contains("Dockerfile:2: unknown flag: --bogus"),
        "{text}"
    );

    let text = try_build("FROM silo.local/base:ltsc2022\n", &["--target", "nope"]);
    assert!(
        text.contains("target stage \"nope\" could not be found"),
        "{text}"
    );

    let out = lab.silo(&["build", &lab.path("missing-dir").display().to_string()]);
    assert!(
        stderr(&out).contains("is not a directory"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_failed_build_leaves_no_ref_and_no_partial_blob() {
    let lab = Lab::new();
    lab.base("silo.local/base:ltsc2022", "10.0.20348.1");
    let ctx = lab.path("ctx");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(ctx.join("a.txt"), "a").unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        "FROM silo.local/base:ltsc2022\nCOPY a.txt /a.txt\nCOPY missing.txt /m.txt\n",
    )
    .unwrap();
    let out = lab.silo(&[
        "build",
        "--runtime",
        "none",
        "-t",
        "broken:1",
        &ctx.display().to_string(),
    ]);
    assert!(!out.status.success());
    let refs = fs::read_dir(lab.root().join("refs")).unwrap().count();
    assert_eq!(refs, 1, "only the base's ref exists");
    let tmp: Vec<_> = fs::read_dir(lab.root().join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(tmp.is_empty(), "left in tmp: {tmp:?}");
    let verify = lab.silo(&["store", "verify"]);
    assert!(verify.status.success(), "{}", stderr(&verify));
}

/// docker-library's `hello-world` nanoserver Dockerfile does `COPY hello.txt C:`: the classic
/// builder puts the file in `C:\`; BuildKit refuses the bare drive. silo does both, per mode,
/// and classic mode writes classic history and WorkingDir.
#[test]
fn classic_mode_copies_to_a_bare_drive_and_writes_classic_history() {
    let lab = Lab::new();
    lab.base("silo.local/base:ltsc2022", "10.0.20348.1");
    let ctx = lab.path("hello");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(ctx.join("hello.txt"), "Hello from silo\r\n").unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        "# escape=`\nFROM silo.local/base:ltsc2022\nCOPY hello.txt C:\nWORKDIR C:\\app\nCOPY hello.txt C:.\nCMD [\"cmd\", \"/C\", \"type C:\\\\hello.txt\"]\n",
    )
    .unwrap();
    let context = ctx.display().to_string();
    let buildkit = lab.silo(&["build", "--runtime", "none", &context]);
    assert!(!buildkit.status.success());
    let text = stderr(&buildkit);
    assert!(
        text.contains("No relative path specified in \"C:\"")
            && text.contains("--path-mode classic"),
        "{text}"
    );

    let out_dir = lab.path("out-hello");
    let dest = format!("type=oci,tar=false,dest={}", out_dir.display());
    lab.silo_ok(&[
        "build",
        "--runtime",
        "none",
        "--path-mode",
        "classic",
        "-t",
        "example.com/hello:v1",
        "-o",
        &dest,
        &context,
    ]);
    let layers = added_layers(&out_dir, 1);
    let all: Vec<&str> = layers.iter().flatten().map(|e| e.0.as_str()).collect();
    assert!(all.contains(&"Files/hello.txt"), "{all:?}");
    assert!(
        all.contains(&"Files/app/hello.txt"),
        "C:. is the working directory: {all:?}"
    );
    let config = raw_config(&out_dir);
    assert_eq!(config["config"]["WorkingDir"], "C:\\app");
    let history: Vec<&str> = config["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["created_by"].as_str())
        .collect();
    assert!(
        history.contains(&"cmd /S /C #(nop) WORKDIR C:\\app"),
        "{history:?}"
    );
    assert!(
        !history.iter().any(|h| h.contains("# buildkit")),
        "{history:?}"
    );
}

#[test]
fn building_again_into_an_oci_layout_replaces_the_image_and_digests_select() {
    let lab = Lab::new();
    lab.base("silo.local/base:ltsc2022", "10.0.20348.1");
    let ctx = lab.path("ctx");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        "FROM silo.local/base:ltsc2022\nCOPY a.txt .\n",
    )
    .unwrap();
    let out_dir = lab.path("out");
    let dest = format!("type=oci,tar=false,dest={}", out_dir.display());
    let entries = || -> Vec<Value> {
        let index: Value =
            serde_json::from_str(&fs::read_to_string(out_dir.join("index.json")).unwrap()).unwrap();
        index["manifests"].as_array().unwrap().clone()
    };
    let build = |content: &str, tag: Option<&str>| {
        fs::write(ctx.join("a.txt"), content).unwrap();
        let mut args = vec![
            "build",
            "--runtime",
            "none",
            "--progress",
            "plain",
            "-o",
            &dest,
        ];
        if let Some(t) = tag {
            args.extend(["-t", t]);
        }
        let c = ctx.display().to_string();
        args.push(&c);
        lab.silo_ok(&args);
    };
    // Unnamed twice: the second output replaces the first (no untagged twin).
    build("one\n", None);
    build("two\n", None);
    let e = entries();
    assert_eq!(e.len(), 1, "{e:?}");
    let unnamed = e[0]["digest"].as_str().unwrap().to_string();
    // Named twice with the same tag: replaced; another tag is added beside it.
    build("three\n", Some("example.com/app:v1"));
    build("four\n", Some("example.com/app:v1"));
    build("five\n", Some("example.com/app:v2"));
    let e = entries();
    let names: Vec<_> = e
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap_or("<untagged>")
        })
        .collect();
    assert_eq!(names, ["<untagged>", "v1", "v2"], "{e:?}");
    // skopeo (the peer) reads the layout by name; silo selects by digest too.
    let v1 = format!("oci:{}:v1", out_dir.display());
    skopeo_json(&["inspect", "--raw", &v1]);
    let by_digest = format!("oci:{}@{unnamed}", out_dir.display());
    let out = lab.silo_ok(&["layers", &by_digest]);
    assert!(!String::from_utf8_lossy(&out.stdout).is_empty());
    let ambiguous = lab.silo(&["layers", &format!("oci:{}", out_dir.display())]);
    assert!(
        !ambiguous.status.success(),
        "three images: a name or digest is needed"
    );
    let missing = lab.silo(&[
        "layers",
        &format!("oci:{}@sha256:{}", out_dir.display(), "0".repeat(64)),
    ]);
    assert!(!missing.status.success());
}

/// `-o type=oci,dest=FILE` writes an OCI layout *tarball* as buildx does (skopeo reads it as
/// `oci-archive:`), `dest=-` writes the same bytes to standard output, `tar=false` writes a
/// directory; a directory given where a tarball goes, `tar=false` for docker, and keys silo does
/// not honour are refused by name.
#[test]
fn oci_output_is_a_tarball_unless_tar_false() {
    let lab = Lab::new();
    lab.base("silo.local/base:ltsc2022", "10.0.20348.1");
    let ctx = lab.context(
        "ctx",
        &[
            (
                "a.txt", "a
",
            ),
            (
                "Dockerfile",
                "FROM silo.local/base:ltsc2022
COPY a.txt /a.txt
",
            ),
        ],
    );
    let build = |output: &str| {
        lab.silo(&[
            "build",
            "--runtime",
            "none",
            "-t",
            "app:v1",
            "-o",
            output,
            &ctx,
        ])
    };
    let tarball = lab.path("app.tar");
    let out = build(&format!("type=oci,dest={}", tarball.display()));
    assert!(out.status.success(), "{}", stderr(&out));
    let built = stderr(&out);
    let manifest = built
        .lines()
        .rfind(|l| l.starts_with("built manifest "))
        .and_then(|l| l.split(' ').nth(2))
        .unwrap_or_else(|| panic!("{built}"))
        .to_string();
    assert!(tarball.is_file(), "a tarball, not a directory");
    let raw = run_ok(
        silo_tests::skopeo::skopeo()
            .args(["inspect", "--raw"])
            .arg(format!("oci-archive:{}", tarball.display())),
    )
    .stdout;
    assert_eq!(
        silo_tests::image::sha256_digest(&raw),
        manifest,
        "skopeo reads it"
    );
    let names: Vec<String> = tar::Archive::new(fs::File::open(&tarball).unwrap())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(
        names.contains(&"oci-layout".to_string()) && names.contains(&"index.json".to_string()),
        "{names:?}"
    );

    let out = build("type=oci,dest=-");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        out.stdout,
        fs::read(&tarball).unwrap(),
        "the same tarball on stdout"
    );
    let quiet = lab.silo(&[
        "build",
        "--runtime",
        "none",
        "-q",
        "-t",
        "app:v1",
        "-o",
        "type=oci,dest=-",
        &ctx,
    ]);
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert_eq!(
        quiet.stdout, out.stdout,
        "-q does not add its line to the tarball"
    );
    assert!(
        stderr(&quiet).trim().starts_with("sha256:"),
        "{}",
        stderr(&quiet)
    );

    let dir = lab.path("layout");
    let out = build(&format!("type=oci,tar=false,dest={}", dir.display()));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.join("index.json").is_file());
    let out = build(&format!("type=oci,dest={}", dir.display()));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("add tar=false"), "{}", stderr(&out));
    for (bad, says) in [
        ("type=docker,tar=false,dest=x.tar", "always a tar file"),
        (
            "type=oci,compression=zstd,dest=x.tar",
            "compression=zstd is not supported",
        ),
        ("type=oci,tar=maybe,dest=x.tar", "expected true or false"),
    ] {
        let out = build(bad);
        assert!(!out.status.success(), "{bad}");
        assert!(stderr(&out).contains(says), "{bad}: {}", stderr(&out));
    }
}

/// `--metadata-file` writes buildx's keys (the manifest digest and descriptor, the config digest
/// that --iidfile holds, the names); `--load` is refused before anything is built.
#[test]
fn metadata_file_has_buildx_keys_and_load_is_refused() {
    let lab = Lab::new();
    lab.base("silo.local/base:ltsc2022", "10.0.20348.1");
    let ctx = lab.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM silo.local/base:ltsc2022
ENV A=1
",
        )],
    );
    let (meta, iid) = (lab.path("meta.json"), lab.path("iid"));
    let out = lab.silo_ok(&[
        "build",
        "--runtime",
        "none",
        "-t",
        "app:v1",
        "-t",
        "app:v2",
        "--metadata-file",
        &meta.display().to_string(),
        "--iidfile",
        &iid.display().to_string(),
        &ctx,
    ]);
    let built = stderr(&out);
    let manifest = built
        .lines()
        .rfind(|l| l.starts_with("built manifest "))
        .and_then(|l| l.split(' ').nth(2))
        .unwrap_or_else(|| panic!("{built}"));
    let meta: Value = serde_json::from_slice(&fs::read(&meta).unwrap()).unwrap();
    assert_eq!(meta["containerimage.digest"], manifest, "{meta}");
    assert_eq!(
        meta["containerimage.descriptor"]["digest"], manifest,
        "{meta}"
    );
    assert!(meta["containerimage.descriptor"]["size"].as_u64().unwrap() > 0);
    assert_eq!(
        meta["containerimage.config.digest"],
        fs::read_to_string(&iid).unwrap().trim(),
        "{meta}"
    );
    assert_eq!(meta["image.name"], "app:v1,app:v2");

    let out = lab.silo(&["build", "--runtime", "none", "-t", "app:v3", "--load", &ctx]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no Docker daemon"),
        "{}",
        stderr(&out)
    );
    let refs = String::from_utf8_lossy(&lab.silo_ok(&["store", "refs"]).stdout).into_owned();
    assert!(!refs.contains("app:v3"), "nothing was built: {refs}");
}

/// One set of `--progress` choices for build and the transfer verbs (auto, tty, plain, quiet or
/// none), BUILDKIT_PROGRESS as docker buildx reads it, and build's rawjson: BuildKit's
/// SolveStatus stream, one JSON object per stderr line (refused by the transfer verbs).
#[test]
fn progress_choices_are_one_set_and_buildkit_progress_is_read() {
    let lab = Lab::new();
    lab.base("silo.local/base:ltsc2022", "10.0.20348.1");
    let ctx = lab.context(
        "ctx",
        &[("Dockerfile", "FROM silo.local/base:ltsc2022\nENV A=1\n")],
    );
    let quiet = silo()
        .env("SILO_ROOT", lab.root())
        .env("BUILDKIT_PROGRESS", "quiet")
        .args(["build", "--runtime", "none", &ctx])
        .output()
        .unwrap();
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    let stdout = String::from_utf8_lossy(&quiet.stdout);
    assert!(
        stdout.starts_with("sha256:") && stdout.lines().count() == 1,
        "{stdout}"
    );
    assert!(
        !stderr(&quiet).contains("#1 "),
        "quiet shows no steps: {}",
        stderr(&quiet)
    );
    for mode in ["tty", "plain", "none", "auto"] {
        lab.silo_ok(&["build", "--runtime", "none", "--progress", mode, &ctx]);
    }
    let out = lab.silo_ok(&["build", "--runtime", "none", "--progress", "rawjson", &ctx]);
    assert!(out.stdout.is_empty(), "rawjson keeps stdout empty");
    let statuses: Vec<serde_json::Value> = stderr(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect();
    let vertexes: Vec<&serde_json::Value> = statuses
        .iter()
        .flat_map(|s| s["vertexes"].as_array().into_iter().flatten())
        .collect();
    let from: Vec<_> = vertexes
        .iter()
        .filter(|v| v["name"].as_str() == Some("[1/1] FROM silo.local/base:ltsc2022"))
        .collect();
    assert_eq!(from.len(), 2, "started, then completed: {vertexes:?}");
    assert!(from[0]["completed"].is_null() && from[1]["completed"].is_string());
    assert!(from[0]["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(from[0]["digest"], from[1]["digest"]);
    assert!(from[0]["started"].as_str().unwrap().ends_with('Z'));
    let out = lab.silo(&["pull", "--progress", "rawjson", "docker://127.0.0.1:1/x:y"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("rawjson is build's"),
        "{}",
        stderr(&out)
    );
    // pull takes the same words: a dead registry fails the pull (1), not the flag (2).
    let free = format!("docker://127.0.0.1:{}/x:y", silo_tests::tools::free_port());
    for mode in ["quiet", "tty"] {
        let out = lab.silo(&["pull", "--progress", mode, "--retries", "1", &free]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "pull --progress {mode}: {}",
            stderr(&out)
        );
    }
}
