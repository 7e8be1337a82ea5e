//! `silo build`'s buildx habits beyond image outputs: `-o type=local|tar` (the image's `C:\`,
//! compared with `silo ls` and read back with Python's `tarfile`), `--check` / `--call` (buildx's
//! report and exit status), and `--pull` against a real docker-registry whose tag moves between
//! builds (read back with real skopeo).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use silo_tests::registry::Registry;
use silo_tests::silo_cli;
use silo_tests::tools::{require_tool, run_ok};

const BASE: &str = "silo.local/base:ltsc2022";

/// A state directory (with a base image in it) and a private HOME.
struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        let lab = Lab {
            dir: tempfile::tempdir().unwrap(),
        };
        silo_tests::base_in(&lab.path("state"), BASE, "10.0.20348.1");
        lab
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn silo(&self, args: &[&str]) -> Output {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        silo_cli::command(&args, &self.path("home"))
            .env("SILO_ROOT", self.path("state"))
            .env_remove("SOURCE_DATE_EPOCH")
            .output()
            .unwrap()
    }

    fn silo_ok(&self, args: &[&str]) -> Output {
        silo_tests::succeeded(args, self.silo(args))
    }

    /// A build context `name` holding `files` (path, text); its path.
    fn context(&self, name: &str, files: &[(&str, &str)]) -> String {
        silo_tests::write_files(&self.path(name), files)
    }

    /// `silo ls REF --format json` as path (`/`-separated) → (kind, size).
    fn ls(&self, reference: &str) -> BTreeMap<String, (String, u64)> {
        let out = self.silo_ok(&["ls", reference, "--format", "json"]);
        let files: Value = serde_json::from_slice(&out.stdout).unwrap();
        files
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let path = f["path"].as_str().unwrap().replace('\\', "/");
                let kind = f["kind"].as_str().unwrap().to_string();
                let size = if kind == "file" {
                    f["size"].as_u64().unwrap()
                } else {
                    0
                };
                (path, (kind, size))
            })
            .collect()
    }
}

/// A directory tree as path → (kind, size), the way `silo ls` names kinds.
fn walk(root: &Path) -> BTreeMap<String, (String, u64)> {
    fn go(root: &Path, dir: &Path, out: &mut BTreeMap<String, (String, u64)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let meta = fs::symlink_metadata(entry.path()).unwrap();
            let rel = entry
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if meta.is_dir() {
                out.insert(rel, ("dir".into(), 0));
                go(root, &entry.path(), out);
            } else if meta.file_type().is_symlink() {
                out.insert(rel, ("symlink".into(), 0));
            } else {
                out.insert(rel, ("file".into(), meta.len()));
            }
        }
    }
    let mut out = BTreeMap::new();
    go(root, root, &mut out);
    out
}

const APP_DOCKERFILE: &str = "FROM silo.local/base:ltsc2022\n\
COPY app/ /app/\n\
COPY second.txt /app/a.txt\n\
WORKDIR /app/logs\n";

fn app_files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("Dockerfile", APP_DOCKERFILE),
        ("app/a.txt", "first version\n"),
        ("app/sub/b.txt", "bee\n"),
        ("second.txt", "second version, from the upper layer\n"),
    ]
}

#[test]
fn type_local_is_the_merged_tree_silo_ls_shows() {
    let lab = Lab::new();
    let ctx = lab.context("ctx", &app_files());
    let dest = lab.path("rootfs");
    let out = lab.silo_ok(&[
        "build",
        "--runtime",
        "none",
        "--progress",
        "plain",
        "-t",
        "app:1",
        "-o",
        &format!("type=local,dest={}", dest.display()),
        &ctx,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The registry's fate is said, every time.
    assert!(stderr.contains("registry: no layer changed it"), "{stderr}");
    let tree = walk(&dest);
    assert_eq!(
        tree,
        lab.ls("app:1"),
        "type=local differs from `silo ls app:1`"
    );
    // Upper layers win, and the base's hives are where Windows keeps them; no Hives/ dir.
    assert_eq!(
        fs::read_to_string(dest.join("app/a.txt")).unwrap(),
        "second version, from the upper layer\n"
    );
    assert_eq!(
        fs::read_to_string(dest.join("app/sub/b.txt")).unwrap(),
        "bee\n"
    );
    assert!(dest.join("app/logs").is_dir());
    assert!(
        tree.keys()
            .any(|p| p.eq_ignore_ascii_case("Windows/System32/config/SYSTEM")),
        "no SYSTEM hive in {:?}",
        tree.keys().collect::<Vec<_>>()
    );
    assert!(!tree
        .keys()
        .any(|p| p.starts_with("Hives") || p.starts_with("Files")));

    // `-o DIR` is the same, and writes into an existing directory as buildx does: the image's
    // files replace those at the same path, others stay.
    let existing = lab.path("existing");
    fs::create_dir_all(existing.join("app")).unwrap();
    fs::write(existing.join("keep.txt"), "mine").unwrap();
    fs::write(existing.join("app/a.txt"), "stale").unwrap();
    lab.silo_ok(&[
        "build",
        "--runtime",
        "none",
        "-o",
        &existing.display().to_string(),
        &ctx,
    ]);
    let mut again = walk(&existing);
    assert_eq!(again.remove("keep.txt"), Some(("file".into(), 4)));
    assert_eq!(again, tree);

    // A file where the directory should be is refused, naming it.
    let file = lab.path("a-file");
    fs::write(&file, "x").unwrap();
    let out = lab.silo(&[
        "build",
        "--runtime",
        "none",
        "-o",
        &format!("type=local,dest={}", file.display()),
        &ctx,
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a directory"), "{stderr}");
}

/// Python's tarfile view of a tar: name → (type, size, text of small files).
fn python_tar(path: &str, stdin: Option<&[u8]>) -> BTreeMap<String, (String, u64, String)> {
    require_tool("python3");
    let script = r#"
import json, sys, tarfile
src = sys.argv[1]
tar = tarfile.open(fileobj=sys.stdin.buffer, mode="r|") if src == "-" else tarfile.open(src)
out = {}
for m in tar:
    data = ""
    if m.isfile() and m.size < 4096:
        data = tar.extractfile(m).read().decode("utf-8", "replace")
    kind = "dir" if m.isdir() else "symlink" if m.issym() else "file" if m.isfile() else "other"
    out[m.name.rstrip("/")] = [kind, m.size if m.isfile() else 0, data]
print(json.dumps(out))
"#;
    let mut cmd = std::process::Command::new("python3");
    cmd.args(["-c", script, path]);
    let out = match stdin {
        None => run_ok(&mut cmd),
        Some(bytes) => {
            use std::io::Write;
            let mut child = cmd
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(bytes).unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "python3 tarfile failed");
            out
        }
    };
    let map: BTreeMap<String, (String, u64, String)> = serde_json::from_slice(&out.stdout).unwrap();
    map
}

#[test]
fn type_tar_is_the_same_tree_in_one_tar_file_or_on_stdout() {
    let lab = Lab::new();
    let ctx = lab.context("ctx", &app_files());
    let tar = lab.path("rootfs.tar");
    lab.silo_ok(&[
        "build",
        "--runtime",
        "none",
        "-t",
        "app:1",
        "-o",
        &format!("type=tar,dest={}", tar.display()),
        &ctx,
    ]);
    let entries = python_tar(&tar.display().to_string(), None);
    let shown: BTreeMap<String, (String, u64)> = entries
        .iter()
        .map(|(k, (kind, size, _))| (k.clone(), (kind.clone(), *size)))
        .collect();
    assert_eq!(shown, lab.ls("app:1"));
    assert_eq!(
        entries["app/a.txt"].2,
        "second version, from the upper layer\n"
    );

    // `-o -`: the tar on standard output, nothing else there.
    let out = lab.silo_ok(&["build", "--runtime", "none", "-q", "-o", "-", &ctx]);
    let piped = python_tar("-", Some(&out.stdout));
    assert_eq!(piped, entries);
    // -q's image ID went to stderr, as with type=oci,dest=-.
    assert!(String::from_utf8_lossy(&out.stderr).contains("sha256:"));
}

#[test]
fn check_prints_buildx_report_and_exit_status_without_building() {
    let lab = Lab::new();
    let dirty = lab.context(
        "dirty",
        &[
            (
                "Dockerfile",
                "FROM silo.local/base:ltsc2022 as base\nCMD echo hi\n",
            ),
            ("unused.txt", "x"),
        ],
    );
    for flags in [
        &["--check"][..],
        &["--call=check"][..],
        &["--call", "check"][..],
    ] {
        let mut args = vec!["build", "--runtime", "none", "-t", "never:1"];
        args.extend_from_slice(flags);
        args.push(&dirty);
        let out = lab.silo(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{flags:?}: {stdout}");
        assert!(
            stdout.starts_with("Check complete, 2 warnings have been found!\n"),
            "{stdout}"
        );
        assert!(
            stdout.contains(
                "\nWARNING: FromAsCasing - https://docs.docker.com/go/dockerfile/rule/from-as-casing/\n"
            ),
            "{stdout}"
        );
        assert!(
            stdout.contains(
                "\nWARNING: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/\n"
            ),
            "{stdout}"
        );
        assert!(stdout.contains("   2 | >>> CMD echo hi\n"), "{stdout}");
    }
    // Nothing was built: the tag is not in the store.
    let out = lab.silo(&["inspect", "never:1"]);
    assert!(!out.status.success());

    // The directive silences rules, as BuildKit's.
    let skipped = lab.context(
        "skipped",
        &[(
            "Dockerfile",
            "# check=skip=FromAsCasing,JSONArgsRecommended\nFROM silo.local/base:ltsc2022 as base\nCMD echo hi\n",
        )],
    );
    let out = lab.silo(&["build", "--check", &skipped]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Check complete, no warnings found.\n"
    );

    // A context source that is missing is an error the build would hit.
    let missing = lab.context(
        "missing",
        &[(
            "Dockerfile",
            "FROM silo.local/base:ltsc2022\nCOPY absent.txt /\n",
        )],
    );
    let out = lab.silo(&["build", "--check", &missing]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ERROR:") && stdout.contains("absent.txt"),
        "{stdout}"
    );

    // Other --call values are refused with the list.
    let out = lab.silo(&["build", "--call", "outline", &skipped]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("accepted values: build, check"), "{stderr}");
}

/// Reads the os.version of the image in an OCI layout directory with skopeo.
fn layout_os_version(layout: &Path) -> String {
    let out = run_ok(
        silo_tests::skopeo::skopeo()
            .args(["inspect", "--raw", "--config"])
            .arg(format!("oci:{}", layout.display())),
    );
    let config: Value = serde_json::from_slice(&out.stdout).unwrap();
    config["os.version"].as_str().unwrap().to_string()
}

#[test]
fn pull_reads_a_moved_tag_from_the_registry_and_without_it_the_store_wins() {
    let registry = Registry::no_auth();
    let lab = Lab::new();
    let transport = silo_cli::transport_flags(&registry);
    let transport: Vec<&str> = transport.iter().map(String::as_str).collect();
    let tag = registry.reference("win/base:moving");
    // v1 and v2 differ in os.version, so the build's config says which one it was built on.
    let push_base = |local: &str, os_version: &str| {
        lab.silo_ok(&["base", "create", "-t", local, "--os-version", os_version]);
        let mut push = vec!["push", local, &tag];
        push.extend_from_slice(&transport);
        lab.silo_ok(&push);
    };
    push_base("silo.local/v1:1", "10.0.20348.1");
    let mut pull = vec!["pull", &tag];
    pull.extend_from_slice(&transport);
    lab.silo_ok(&pull);
    push_base("silo.local/v2:1", "10.0.20348.2");

    let ctx = lab.context(
        "pull",
        &[
            ("Dockerfile", &format!("FROM {tag}\nCOPY f.txt /\n")),
            ("f.txt", "x"),
        ],
    );
    let build = |name: &str, extra: &[&str]| {
        let dest = lab.path(name);
        let output = format!("type=oci,tar=false,dest={}", dest.display());
        let mut args = vec!["build", "--runtime", "none", "-o", &output];
        args.extend_from_slice(&transport);
        args.extend_from_slice(extra);
        args.push(&ctx);
        lab.silo_ok(&args);
        layout_os_version(&dest)
    };
    assert_eq!(
        build("stored", &[]),
        "10.0.20348.1",
        "without --pull the store's v1"
    );
    assert_eq!(
        build("pulled", &["--pull"]),
        "10.0.20348.2",
        "--pull reads v2"
    );

    // --pull of a name only the store has fails, saying why.
    let local = lab.context(
        "local",
        &[("Dockerfile", "FROM silo.local/base:ltsc2022\n")],
    );
    let out = lab.silo(&["build", "--runtime", "none", "--pull", &local]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--pull reads it from its registry"),
        "{stderr}"
    );
}

#[test]
fn build_contexts_stand_for_images_and_directories() {
    let lab = Lab::new();
    // An OCI layout written by an earlier build.
    let ctx = lab.context("ctx", &app_files());
    let layout = lab.path("layout");
    lab.silo_ok(&[
        "build",
        "--runtime",
        "none",
        "-t",
        "example.com/app:v1",
        "-o",
        &format!("type=oci,tar=false,dest={}", layout.display()),
        &ctx,
    ]);
    let extra = lab.context("extra", &[("from-dir.txt", "a named directory\n")]);
    let user = lab.context(
        "user",
        &[(
            "Dockerfile",
            "FROM app\nCOPY --from=files from-dir.txt /extra/\nCOPY --from=winbase /Windows/System32/config/SYSTEM /copied/\n",
        )],
    );
    lab.silo_ok(&[
        "build",
        "--runtime",
        "none",
        "-t",
        "user:1",
        "--build-context",
        &format!("app=oci-layout://{}:v1", layout.display()),
        "--build-context",
        &format!("files={extra}"),
        "--build-context",
        &format!("winbase=docker-image://{BASE}"),
        &user,
    ]);
    let files = lab.ls("user:1");
    // The layout's image is the base: its files are there, then the two copies.
    assert_eq!(files.get("app/a.txt").map(|f| f.1), Some(37), "{files:?}");
    assert_eq!(files.get("extra/from-dir.txt").map(|f| f.1), Some(18));
    assert!(files.contains_key("copied/SYSTEM"), "{files:?}");
    // Without the contexts, `app` is looked up as an image name and is nowhere.
    let out = lab.silo(&["build", "--runtime", "none", &user]);
    assert!(!out.status.success());

    let refused = |flags: &[&str], dockerfile: &str, says: &str| {
        let dir = lab.context("refused", &[("Dockerfile", dockerfile)]);
        let mut args = vec!["build", "--runtime", "none"];
        args.extend_from_slice(flags);
        args.push(&dir);
        let out = lab.silo(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flags:?} succeeded");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stderr.contains(says), "{flags:?}: {stderr}");
    };
    refused(
        &["--build-context", "x=https://example.com/ctx.tar"],
        "FROM x\n",
        "URL contexts (https://, git) are not supported",
    );
    refused(
        &["--build-context", &format!("x={extra}")],
        "FROM x\n",
        "not an image",
    );

    // A context named as a stage replaces the stage (buildx): its own steps never run (the
    // COPY of a missing file would fail), FROM and COPY --from of the stage get the image.
    let replaced = lab.context(
        "replaced",
        &[(
            "Dockerfile",
            &format!(
                "FROM {BASE} AS App\nCOPY never-there.txt /\nFROM app\nCOPY --from=app /app/sub/b.txt /copied-b.txt\n"
            ),
        )],
    );
    let out = lab.silo_ok(&[
        "build",
        "--runtime",
        "none",
        "--progress",
        "plain",
        "-t",
        "replaced:1",
        "--build-context",
        &format!("app=oci-layout://{}:v1", layout.display()),
        &replaced,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(--build-context)"), "{stderr}");
    let files = lab.ls("replaced:1");
    assert_eq!(files.get("app/a.txt").map(|f| f.1), Some(37), "{files:?}");
    assert_eq!(files.get("copied-b.txt").map(|f| f.1), Some(4), "{files:?}");
    assert!(!files.contains_key("never-there.txt"));
    // Without the context the stage runs, and its COPY fails.
    let out = lab.silo(&["build", "--runtime", "none", &replaced]);
    assert!(!out.status.success());
}

/// Adds a layer holding only `Hives/Software_Delta` (`delta`'s bytes) on top of the image
/// tagged `tag` in the OCI layout `layout`, retagged `new_tag`: what a RUN step that only
/// changed the registry leaves, made without running one.
fn add_hive_delta_layer(layout: &Path, tag: &str, new_tag: &str, delta: &Path) {
    let script = r#"
import gzip, hashlib, io, json, os, sys, tarfile
layout, tag, new_tag, delta = sys.argv[1:5]
def blob(digest):
    return os.path.join(layout, "blobs", "sha256", digest.split(":")[1])
def put(data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with open(blob(digest), "wb") as f:
        f.write(data)
    return digest
index = json.load(open(os.path.join(layout, "index.json")))
entry = next(m for m in index["manifests"]
             if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
manifest = json.load(open(blob(entry["digest"])))
config = json.load(open(blob(manifest["config"]["digest"])))
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
    for d in ("Files", "Hives"):
        info = tarfile.TarInfo(d)
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    data = open(delta, "rb").read()
    info = tarfile.TarInfo("Hives/Software_Delta")
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
tar_bytes = raw.getvalue()
gz = gzip.compress(tar_bytes, mtime=0)
manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                           "digest": put(gz), "size": len(gz)})
config["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(tar_bytes).hexdigest())
config.setdefault("history", []).append({"created_by": "test: a registry-only layer"})
config_bytes = json.dumps(config).encode()
manifest["config"]["digest"] = put(config_bytes)
manifest["config"]["size"] = len(config_bytes)
manifest_bytes = json.dumps(manifest).encode()
index["manifests"].append({"mediaType": entry["mediaType"], "digest": put(manifest_bytes),
                           "size": len(manifest_bytes),
                           "annotations": {"org.opencontainers.image.ref.name": new_tag}})
json.dump(index, open(os.path.join(layout, "index.json"), "w"))
"#;
    run_ok(std::process::Command::new("python3").args([
        "-c",
        script,
        &layout.display().to_string(),
        tag,
        new_tag,
        &delta.display().to_string(),
    ]));
}

#[test]
fn type_local_writes_hives_merged_with_the_layers_deltas_for_real_readers() {
    require_tool("hivexregedit");
    require_tool("hivexget");
    require_tool("python3");
    let lab = Lab::new();
    let ctx = lab.context("ctx", &app_files());
    let layout = lab.path("layout");
    let plain = lab.path("plain");
    lab.silo_ok(&[
        "build",
        "--runtime",
        "none",
        "-t",
        "example.com/app:v1",
        "-o",
        &format!("type=oci,tar=false,dest={}", layout.display()),
        "-o",
        &format!("type=local,dest={}", plain.display()),
        &ctx,
    ]);
    // A SOFTWARE with one key more, written by hivex (not silo), and silo's delta of it.
    let base_software = plain.join("Windows/System32/config/SOFTWARE");
    let target = lab.path("SOFTWARE.target");
    fs::copy(&base_software, &target).unwrap();
    let reg = lab.path("add.reg");
    fs::write(
        &reg,
        "Windows Registry Editor Version 5.00\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Contoso]\n\n\
         [HKEY_LOCAL_MACHINE\\SOFTWARE\\Contoso\\App]\n\"Version\"=\"1.0\"\n",
    )
    .unwrap();
    run_ok(std::process::Command::new("hivexregedit").args([
        "--merge",
        "--prefix",
        "HKEY_LOCAL_MACHINE\\SOFTWARE",
        &target.display().to_string(),
        &reg.display().to_string(),
    ]));
    let delta = lab.path("Software_Delta");
    lab.silo_ok(&[
        "hive",
        "diff",
        &base_software.display().to_string(),
        &target.display().to_string(),
        "-o",
        &delta.display().to_string(),
    ]);
    add_hive_delta_layer(&layout, "v1", "v2", &delta);

    let user = lab.context(
        "user",
        &[("Dockerfile", &format!("FROM oci:{}:v2\n", layout.display()))],
    );
    let merged = lab.path("merged");
    let out = lab.silo_ok(&[
        "build",
        "--runtime",
        "none",
        "-o",
        &format!("type=local,dest={}", merged.display()),
        &user,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("registry: SOFTWARE merged with every layer's delta"),
        "{stderr}"
    );
    let config = merged.join("Windows/System32/config");
    let get = |hive: &Path, key: &str, value: &str| {
        let out = run_ok(std::process::Command::new("hivexget").args([
            &hive.display().to_string(),
            key,
            value,
        ]));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // hivex reads the merged SOFTWARE: the layer's key is there, and so is the base's content.
    assert_eq!(
        get(&config.join("SOFTWARE"), "\\Contoso\\App", "Version"),
        "1.0"
    );
    // Every key of the base's SOFTWARE is still there (hivex's own export of both).
    let keys = |hive: &Path| -> Vec<String> {
        let out = run_ok(std::process::Command::new("hivexregedit").args([
            "--export",
            &hive.display().to_string(),
            "\\",
        ]));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with('['))
            .map(str::to_string)
            .collect()
    };
    let merged_keys = keys(&config.join("SOFTWARE"));
    let base_keys = keys(&base_software);
    assert!(!base_keys.is_empty());
    for key in &base_keys {
        assert!(merged_keys.contains(key), "{key} lost: {merged_keys:?}");
    }
    assert_eq!(merged_keys.len(), base_keys.len() + 2, "{merged_keys:?}");
    // Hives no layer changed are the base layer's bytes; no stale log beside the merged one.
    assert_eq!(
        fs::read(config.join("SYSTEM")).unwrap(),
        fs::read(plain.join("Windows/System32/config/SYSTEM")).unwrap()
    );
    assert!(!config.join("SOFTWARE.LOG1").exists());
    assert!(!merged.join("Hives").exists());
}
