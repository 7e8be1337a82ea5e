//! silo.exe — silo built for Windows (`x86_64-pc-windows-gnu`) — run under Wine and compared
//! with the Linux binary on the same inputs: it starts, parses Dockerfiles, reads hives, makes
//! base images and builds byte-identical to the Linux silo, pulls and pushes through a real
//! docker-registry, inspects images, and reports a missing HCS as "HCS not available" naming
//! the Windows feature — not as a loader error. Everything but HCS itself runs here.
//!
//! The parts (rustup target, mingw-w64, Wine) come from scripts/install-test-deps; without them
//! each test says SKIPPED, unless CI=true (tests/harness/windows_exe.rs).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use silo_tests::registry::Registry;
use silo_tests::windows_exe::WindowsSilo;
use silo_tests::{shared_dir, silo};

/// Fixed image timestamps, so two binaries in two state directories make identical images.
const EPOCH: &str = "1700000000";

/// A Linux silo and a Windows silo, each with its own state directory, run on the same inputs.
struct Pair {
    exe: &'static WindowsSilo,
    dir: tempfile::TempDir,
}

/// One argument for both binaries: a path is given to each as that binary spells it.
enum Arg<'a> {
    Text(&'a str),
    Path(&'a Path),
    /// `prefix` + the path (e.g. `oci:` + a layout directory, `type=oci,tar=false,dest=` + a folder).
    Prefixed(&'a str, &'a Path, &'a str),
}

impl Pair {
    fn new() -> Option<Pair> {
        Some(Pair {
            exe: WindowsSilo::get()?,
            dir: tempfile::tempdir().unwrap(),
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn args(args: &[Arg], windows: bool) -> Vec<String> {
        let spell = |p: &Path| {
            if windows {
                WindowsSilo::path(p)
            } else {
                p.display().to_string()
            }
        };
        args.iter()
            .map(|a| match a {
                Arg::Text(t) => t.to_string(),
                Arg::Path(p) => spell(p),
                Arg::Prefixed(before, p, after) => format!("{before}{}{after}", spell(p)),
            })
            .collect()
    }

    /// `silo ARGS` on Linux, with state directory `state-linux`.
    fn linux(&self, args: &[Arg]) -> Output {
        silo()
            .arg("--root")
            .arg(self.path("state-linux"))
            .args(Pair::args(args, false))
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .env("DOCKER_CONFIG", self.path("no-docker-config"))
            .env("REGISTRY_AUTH_FILE", self.path("no-auth.json"))
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    }

    /// `silo.exe ARGS` under Wine, with state directory `state-windows`.
    fn windows(&self, args: &[Arg]) -> Output {
        self.exe
            .command()
            .arg("--root")
            .arg(WindowsSilo::path(&self.path("state-windows")))
            .args(Pair::args(args, true))
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .env(
                "DOCKER_CONFIG",
                WindowsSilo::path(&self.path("no-docker-config")),
            )
            .env(
                "REGISTRY_AUTH_FILE",
                WindowsSilo::path(&self.path("no-auth.json")),
            )
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    }

    fn linux_ok(&self, args: &[Arg]) -> String {
        ok("silo", args, self.linux(args))
    }

    fn windows_ok(&self, args: &[Arg]) -> String {
        ok("silo.exe", args, self.windows(args))
    }

    /// Runs both; each must succeed. Returns (Linux stdout, Windows stdout).
    fn both_ok(&self, args: &[Arg]) -> (String, String) {
        (self.linux_ok(args), self.windows_ok(args))
    }
}

fn ok(which: &str, args: &[Arg], out: Output) -> String {
    let shown: Vec<String> = Pair::args(args, which == "silo.exe");
    assert!(
        out.status.success(),
        "{which} {} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        shown.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every file under `dir` by relative path (with `/`), with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(name, fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Two OCI layouts are byte-identical: the same files with the same bytes.
fn assert_same_layout(linux: &Path, windows: &Path) {
    let (a, b) = (tree(linux), tree(windows));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "the layouts hold different files"
    );
    for (name, bytes) in &a {
        assert!(
            bytes == &b[name],
            "{name} differs between silo and silo.exe:\nLinux:   {}\nWindows: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(400)]),
            String::from_utf8_lossy(&b[name][..b[name].len().min(400)])
        );
    }
    assert!(a.contains_key("index.json"), "{:?}", a.keys());
}

/// The manifest digest `index.json` of a layout names first.
fn manifest_digest(layout: &Path) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn version_is_the_linux_binarys() {
    let Some(pair) = Pair::new() else { return };
    let (linux, windows) = pair.both_ok(&[Arg::Text("--version")]);
    assert!(linux.starts_with("silo "), "{linux}");
    assert_eq!(windows.replace("\r\n", "\n"), linux);
}

#[test]
fn dockerfile_dump_equals_the_linux_binarys_on_the_buildkit_corpus() {
    let Some(pair) = Pair::new() else { return };
    let corpus = shared_dir().join("buildkit-testfiles/testfiles");
    if !corpus.is_dir() {
        let reason = format!("{} is missing", corpus.display());
        return silo_tests::skip("silo.exe dockerfile dump", &reason);
    }
    let mut cases: Vec<PathBuf> = fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path().join("Dockerfile"))
        .filter(|p| p.is_file())
        .collect();
    cases.sort();
    for dockerfile in &cases {
        let args = [
            Arg::Text("dockerfile"),
            Arg::Text("dump"),
            Arg::Path(dockerfile),
        ];
        let (linux, windows) = pair.both_ok(&args);
        assert!(!linux.is_empty(), "{}", dockerfile.display());
        assert!(
            windows == linux,
            "{}: silo.exe's dump differs:\n{windows}\n--- Linux:\n{linux}",
            dockerfile.display()
        );
    }
    assert_eq!(cases.len(), 26, "the BuildKit corpus has 26 cases");
}

#[test]
fn hive_dump_equals_the_linux_binarys() {
    if silo_tests::corpus("fixtures/hives").is_none() {
        return;
    }
    let Some(pair) = Pair::new() else { return };
    let hives = shared_dir().join("fixtures/hives");
    let mut checked = 0;
    for name in [
        "hivex__minimal",
        "hivex__special",
        "nt-hive__testhive",
        "yarp__BigDataHive",
    ] {
        let hive = hives.join(name);
        if !hive.is_file() {
            continue;
        }
        let args = [Arg::Text("hive"), Arg::Text("dump"), Arg::Path(&hive)];
        let (linux, windows) = pair.both_ok(&args);
        assert!(!linux.is_empty(), "{name}");
        assert!(
            windows == linux,
            "{name}: silo.exe's dump differs:\n{windows}"
        );
        checked += 1;
    }
    if checked == 0 {
        let reason = format!("no hive fixtures in {}", hives.display());
        silo_tests::skip("silo.exe hive dump", &reason);
    }
}

/// `base create` and a `--runtime none` build into OCI layouts, by both binaries.
struct Built {
    pair: Pair,
    base: (PathBuf, PathBuf),
    image: (PathBuf, PathBuf),
}

fn build_both() -> Option<Built> {
    let pair = Pair::new()?;
    let base = (pair.path("base-linux"), pair.path("base-windows"));
    fn create(layout: &Path) -> Vec<Arg<'_>> {
        vec![
            Arg::Text("base"),
            Arg::Text("create"),
            Arg::Text("-t"),
            Arg::Text("ltsc2022"),
            Arg::Text("--os-version"),
            Arg::Text("10.0.20348.1"),
            Arg::Text("--output"),
            Arg::Prefixed("oci:", layout, ":ltsc2022"),
        ]
    }
    pair.linux_ok(&create(&base.0));
    pair.windows_ok(&create(&base.1));

    let context = pair.path("ctx");
    fs::create_dir_all(context.join("conf/sub")).unwrap();
    fs::write(context.join("conf/app.ini"), "a=1\r\n").unwrap();
    fs::write(context.join("conf/sub/deep.txt"), "deep\n").unwrap();
    fs::write(context.join("main.txt"), "main v1\n").unwrap();
    fs::write(
        context.join("Dockerfile"),
        "ARG BASE\nFROM $BASE\nWORKDIR /app\nCOPY conf/ conf/\nCOPY main.txt .\n\
         ENV X=1\nLABEL org.example=silo\nCMD [\"cmd.exe\", \"/c\", \"type main.txt\"]\n",
    )
    .unwrap();
    let image = (pair.path("image-linux"), pair.path("image-windows"));
    fn build<'a>(base: &'a Path, out: &'a Path, context: &'a Path) -> Vec<Arg<'a>> {
        vec![
            Arg::Text("build"),
            Arg::Text("--runtime"),
            Arg::Text("none"),
            Arg::Text("--progress"),
            Arg::Text("plain"),
            Arg::Text("--build-arg"),
            Arg::Prefixed("BASE=oci:", base, ":ltsc2022"),
            Arg::Text("-t"),
            Arg::Text("example.com/app:1"),
            Arg::Text("-o"),
            Arg::Prefixed("type=oci,tar=false,dest=", out, ""),
            Arg::Path(context),
        ]
    }
    pair.linux_ok(&build(&base.0, &image.0, &context));
    pair.windows_ok(&build(&base.1, &image.1, &context));
    Some(Built { pair, base, image })
}

#[test]
fn base_create_and_build_are_byte_identical_to_the_linux_binarys() {
    let Some(built) = build_both() else { return };
    assert_same_layout(&built.base.0, &built.base.1);
    assert_same_layout(&built.image.0, &built.image.1);
    assert_eq!(
        manifest_digest(&built.image.0),
        manifest_digest(&built.image.1)
    );
}

#[test]
fn layers_ls_and_registry_of_a_built_image_equal_the_linux_binarys() {
    let Some(built) = build_both() else { return };
    let pair = &built.pair;
    // Both read the same layout (the Linux build's; silo.exe's is byte-identical).
    let layout = built.image.0.as_path();
    let image = || Arg::Prefixed("oci:", layout, "");
    for args in [
        vec![Arg::Text("layers"), image()],
        vec![Arg::Text("ls"), image()],
        vec![
            Arg::Text("ls"),
            Arg::Text("--layer"),
            Arg::Text("2"),
            image(),
        ],
        vec![
            Arg::Text("registry"),
            image(),
            Arg::Text(r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion"),
        ],
    ] {
        let (linux, windows) = pair.both_ok(&args);
        assert!(!linux.trim().is_empty(), "{:?}", Pair::args(&args, false));
        // Headers show the image as it was typed: each binary's own spelling of the path.
        let spelled = |windows: bool| Pair::args(&[image()], windows).remove(0);
        let linux = linux.replace(&spelled(false), "IMAGE");
        let windows = windows
            .replace("\r\n", "\n")
            .replace(&spelled(true), "IMAGE");
        assert!(
            windows == linux,
            "silo.exe {:?} differs:\n{windows}\n--- Linux:\n{linux}",
            Pair::args(&args, true)
        );
    }
}

#[test]
fn pull_and_push_through_a_registry_meet_the_linux_binary() {
    let Some(built) = build_both() else { return };
    let pair = &built.pair;
    let registry = Registry::no_auth();
    let flag = "--tls-verify=false";
    // silo.exe pushes its build; the Linux silo pulls it, and the other way round.
    let from_windows = registry.reference("win/app:exe");
    let from_linux = registry.reference("win/app:linux");
    pair.windows_ok(&[
        Arg::Text("push"),
        Arg::Text(flag),
        Arg::Prefixed("oci:", &built.image.1, ""),
        Arg::Text(&from_windows),
    ]);
    pair.linux_ok(&[
        Arg::Text("push"),
        Arg::Text(flag),
        Arg::Prefixed("oci:", &built.image.0, ""),
        Arg::Text(&from_linux),
    ]);
    let (pulled_linux, pulled_windows) = (pair.path("pulled-linux"), pair.path("pulled-exe"));
    pair.linux_ok(&[
        Arg::Text("pull"),
        Arg::Text(flag),
        Arg::Text(&from_windows),
        Arg::Text("--output"),
        Arg::Prefixed("oci:", &pulled_linux, ""),
    ]);
    pair.windows_ok(&[
        Arg::Text("pull"),
        Arg::Text(flag),
        Arg::Text(&from_linux),
        Arg::Text("--output"),
        Arg::Prefixed("oci:", &pulled_windows, ""),
    ]);
    // The same image both ways: its manifest digest, and every blob byte for byte (the
    // index.json files differ only in the tag each was pulled by).
    let built_digest = manifest_digest(&built.image.0);
    assert_eq!(manifest_digest(&pulled_linux), built_digest);
    assert_eq!(manifest_digest(&pulled_windows), built_digest);
    assert_eq!(
        tree(&pulled_linux.join("blobs")),
        tree(&built.image.0.join("blobs"))
    );
    assert_eq!(
        tree(&pulled_windows.join("blobs")),
        tree(&built.image.0.join("blobs"))
    );
}

#[test]
fn build_with_the_hcs_runtime_says_hcs_is_not_available() {
    let Some(pair) = Pair::new() else { return };
    let context = pair.path("ctx");
    fs::create_dir_all(&context).unwrap();
    fs::write(
        context.join("Dockerfile"),
        "FROM mcr.microsoft.com/windows/nanoserver:ltsc2022\nRUN echo hi\n",
    )
    .unwrap();
    let out = pair.windows(&[
        Arg::Text("build"),
        Arg::Text("--runtime"),
        Arg::Text("hcs"),
        Arg::Path(&context),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    // Wine has no vmcompute.dll: silo.exe started (no loader error) and says what is missing.
    for part in [
        "--runtime hcs: HCS not available",
        "vmcompute.dll cannot be loaded",
        "\"Containers\"",
        "build 17763",
    ] {
        assert!(stderr.contains(part), "{part:?} missing from:\n{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}
