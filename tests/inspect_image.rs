//! `silo layers`, `ls`, `registry` and `diff` end to end: a base from `silo base create`, a
//! COPY-only image built on it with `silo build --runtime none`, and an image whose layer (written
//! by silo's layer writer) carries the real `yarp__System_Delta` differencing hive.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use silo::layer::changeset::{ChangeSet, HiveName};
use silo::layer::{write_layer, WriteOptions};
use silo_tests::image::{Blob, Image, Layer};
use silo_tests::silo;

/// Runs silo with `root` as the state directory; returns stdout, failing with the output.
fn silo_ok(root: &Path, args: &[&str]) -> String {
    let out = silo()
        .env("SILO_ROOT", root)
        .env_remove("SOURCE_DATE_EPOCH")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "silo {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(root: &Path, args: &[&str]) -> Value {
    let text = silo_ok(root, args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("silo {args:?}: {e}\n{text}"))
}

/// A store with `base` (from `silo base create`) and `app` (COPY of two files on it).
fn base_and_app(dir: &Path) -> PathBuf {
    let root = dir.join("state");
    silo_ok(
        &root,
        &[
            "base",
            "create",
            "-t",
            "base",
            "--os-version",
            "10.0.20348.1",
        ],
    );
    let context = dir.join("context");
    fs::create_dir_all(context.join("site")).unwrap();
    fs::write(
        context.join("site/index.html"),
        "<h1>hello from silo</h1>\n",
    )
    .unwrap();
    fs::write(context.join("notes.txt"), "twelve bytes").unwrap();
    fs::write(
        context.join("Dockerfile"),
        "FROM base\nCOPY site/ /inetpub/site/\nCOPY notes.txt C:/app/notes.txt\n",
    )
    .unwrap();
    silo_ok(
        &root,
        &[
            "build",
            "--progress",
            "plain",
            "--runtime",
            "none",
            "-t",
            "app",
            context.to_str().unwrap(),
        ],
    );
    root
}

#[test]
fn layers_ls_registry_and_diff_show_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let root = base_and_app(dir.path());

    // layers: the base layer has the config hives as files and no deltas; the COPY layers have
    // their files and the Dockerfile step as history.
    let layers = json(&root, &["layers", "app", "--format", "json"]);
    let layers = layers["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "{layers:#?}");
    assert!(layers[0]["created_by"]
        .as_str()
        .unwrap()
        .contains("silo base create --os-version 10.0.20348.1"));
    assert!(
        layers[0]["files"].as_u64().unwrap() >= 5,
        "{:#?}",
        layers[0]
    );
    assert!(layers[1]["created_by"]
        .as_str()
        .unwrap()
        .contains("COPY site/ /inetpub/site/"));
    assert_eq!(layers[2]["files"], 1, "{:#?}", layers[2]);
    for layer in layers {
        assert!(layer["digest"].as_str().unwrap().starts_with("sha256:"));
        assert!(layer["diff_id"].as_str().unwrap().starts_with("sha256:"));
        assert!(layer["media_type"].as_str().unwrap().contains("layer"));
    }
    let text = silo_ok(&root, &["layers", "app"]);
    assert!(
        text.contains("LAYER 2") && text.contains("COPY notes.txt"),
        "{text}"
    );

    // ls: the merged view has the base skeleton and both copies, with sizes and owners.
    let files = json(&root, &["ls", "app", "--format", "json"]);
    let files = files.as_array().unwrap();
    let find = |path: &str| {
        files
            .iter()
            .find(|f| f["path"].as_str().unwrap().eq_ignore_ascii_case(path))
            .unwrap_or_else(|| panic!("{path} not in {files:#?}"))
    };
    assert_eq!(find("app\\notes.txt")["size"], 12);
    assert_eq!(find("app\\notes.txt")["layer"], 2);
    assert_eq!(find("inetpub\\site\\index.html")["size"], 25);
    assert!(
        find("Windows\\System32\\config\\SOFTWARE")["size"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(find("app\\notes.txt")["owner"]
        .as_str()
        .unwrap()
        .starts_with("S-1-5-"));
    let text = silo_ok(&root, &["ls", "app", "C:\\App"]);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains("app\\notes.txt") || text.contains("App\\notes.txt"),
        "{text}"
    );
    let one = json(&root, &["ls", "app", "--layer", "1", "--format", "json"]);
    assert!(one.as_array().unwrap().iter().all(|f| f["path"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .starts_with("inetpub")));

    // registry: the base hives, addressed with reg.exe names.
    let text = silo_ok(&root, &["registry", "app", r"hklm\system\select"]);
    assert!(
        text.starts_with(r"HKEY_LOCAL_MACHINE\SYSTEM\select"),
        "{text}"
    );
    assert!(text.contains("Current    REG_DWORD    0x1"), "{text}");
    let text = silo_ok(
        &root,
        &[
            "registry",
            "app",
            r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services",
        ],
    );
    assert!(text.contains(r"SYSTEM\ControlSet001\Services"), "{text}");
    let reg = json(
        &root,
        &[
            "registry",
            "app",
            r"HKU\.DEFAULT\Environment",
            "--format",
            "json",
        ],
    );
    assert_eq!(reg["keys"][0]["name"], "Environment");
    let all = silo_ok(&root, &["registry", "app"]);
    for hive in ["SYSTEM", "SOFTWARE", "SAM", "SECURITY"] {
        assert!(
            all.contains(&format!("HKEY_LOCAL_MACHINE\\{hive}\n")),
            "{hive}"
        );
    }
    assert!(all.contains(r"HKEY_USERS\.DEFAULT\Control Panel\Desktop"));
    let missing = silo()
        .env("SILO_ROOT", &root)
        .args(["registry", "app", r"HKLM\SOFTWARE\NoSuchVendor"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("NoSuchVendor"));

    // diff: the copies are added; the registry is unchanged.
    let diff = json(&root, &["diff", "base", "app", "--format", "json"]);
    let added: Vec<String> = diff["files_added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_lowercase())
        .collect();
    assert!(added.contains(&"app\\notes.txt".to_string()), "{added:?}");
    assert!(
        added.contains(&"inetpub\\site\\index.html".to_string()),
        "{added:?}"
    );
    assert_eq!(diff["files_removed"], serde_json::json!([]));
    assert_eq!(diff["keys_added"], serde_json::json!([]));
    assert_eq!(diff["values_changed"], serde_json::json!([]));
    let same = silo_ok(&root, &["diff", "app", "app"]);
    assert_eq!(same, "no differences\n");
}

/// An OCI layout with one Windows layer, written by silo's layer writer, whose only content is
/// the real `System_Delta` fixture.
fn fixture_delta_image(dir: &Path) -> PathBuf {
    let delta = fs::read(silo_tests::shared_dir().join("fixtures/hives/yarp__System_Delta"))
        .expect("shared fixture yarp__System_Delta");
    let mut changes = ChangeSet::default();
    changes.hive_deltas.insert(HiveName::System, delta);
    let (blob, digests) = write_layer(&changes, &WriteOptions::default(), Vec::new()).unwrap();
    let layer = Layer {
        blob: Blob::new("application/vnd.oci.image.layer.v1.tar+gzip", blob),
        diff_id: digests.diff_id.to_string(),
    };
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "windows",
        "os.version": "10.0.20348.1",
        "config": {},
        "history": [{"created_by": "fixture: yarp System_Delta"}],
    });
    let layout = dir.join("fixture-layout");
    Image::assemble(config, vec![layer], false).write_oci_layout(&layout, "fx");
    layout
}

#[test]
fn registry_of_a_layer_shows_the_fixture_deltas_tombstones() {
    if silo_tests::corpus("fixtures/hives").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    let layout = fixture_delta_image(dir.path());
    let reference = format!("oci:{}:fx", layout.display());

    let layers = json(&root, &["layers", &reference, "--format", "json"]);
    assert_eq!(
        layers["layers"][0]["hive_deltas"],
        serde_json::json!(["System_Delta"])
    );
    assert_eq!(
        layers["layers"][0]["created_by"],
        "fixture: yarp System_Delta"
    );

    let text = silo_ok(
        &root,
        &[
            "registry",
            &reference,
            "--layer",
            "0",
            r"HKLM\SYSTEM\ControlSet001\Services\XBOXGIP",
        ],
    );
    assert_eq!(
        text,
        "HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\XBOXGIP    [tombstone]\n\n"
    );
    let whole = json(
        &root,
        &["registry", &reference, "--layer", "0", "--format", "json"],
    );
    let dump = whole.to_string();
    assert!(
        dump.contains("\"layer\":\"tombstone\""),
        "no tombstone in {dump:.2000}"
    );
    assert_eq!(whole["keys"][0]["path"], r"HKEY_LOCAL_MACHINE\SYSTEM");

    let out = silo()
        .env("SILO_ROOT", &root)
        .args(["registry", &reference, "--layer", "3"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--layer 3: the image has 1 layers"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
