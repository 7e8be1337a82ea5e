//! End-to-end tests of the layer codec, the content store and `silo base create` against real
//! parts: python3's `tarfile` reads our layers, hivex and libregf read the base image's hives,
//! skopeo copies our OCI layouts and docker-archives (and pushes to a real docker-registry), and
//! separate processes (killed with SIGKILL, or racing) use one store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use silo::layer::check::check_windows_layer;
use silo::layer::{
    self, AltStream, ChangeSet, Entry, EntryKind, FileMeta, FileSource, HiveName, LayerCompression,
    Timestamp, WriteOptions,
};
use silo::store::oci_layout::OciLayout;
use silo::store::{BlobSource, ImageLocation, ImageSource, LockMode, Store};
use silo_tests::tools::{require_tool, run_ok};

fn entry(path: &str, kind: EntryKind) -> Entry {
    Entry {
        path: path.into(),
        kind,
        meta: FileMeta::default(),
        streams: vec![],
    }
}

/// A layer with every entry kind; one file comes from disk.
fn sample_layer(dir: &Path) -> (Vec<u8>, layer::LayerDigests) {
    let host_file = dir.join("host.bin");
    // 200 KB of noise (stored blocks in the gzip) then 100 KB of a repeated byte (deflated).
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut bytes: Vec<u8> = (0..200_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    bytes.extend(std::iter::repeat_n(7u8, 100_000));
    std::fs::write(&host_file, &bytes).unwrap();
    let mut data = entry(
        "Program Files/App/app.exe",
        EntryKind::File {
            source: FileSource::Path(host_file),
            size: 300_000,
        },
    );
    data.meta.creation_time = Some(Timestamp {
        secs: 1_600_000_000,
        nanos: 5,
    });
    data.streams.push(AltStream {
        name: "Zone.Identifier".into(),
        source: FileSource::Bytes(b"[ZoneTransfer]\r\nZoneId=3\r\n".to_vec()),
    });
    let mut hive_deltas = BTreeMap::new();
    hive_deltas.insert(HiveName::System, b"delta bytes".to_vec());
    let changes = ChangeSet {
        entries: vec![
            data,
            entry(
                "Program Files/App/bin/app2.exe",
                EntryKind::HardLink {
                    target: "Program Files/App/app.exe".into(),
                },
            ),
            entry(
                "Program Files/App/current",
                EntryKind::Symlink {
                    target: "..\\App".into(),
                    directory: true,
                },
            ),
            entry(
                "Documents and Settings",
                EntryKind::Junction {
                    target: "C:\\Users".into(),
                },
            ),
            entry(&format!("Temp/{}", "n".repeat(150)), EntryKind::Directory),
        ],
        deletions: vec!["Windows/Temp/old.log".into()],
        hive_deltas,
    };
    let options = WriteOptions {
        compression: LayerCompression::Gzip(6),
        default_time: Timestamp {
            secs: 1_700_000_000,
            nanos: 250_000_000,
        },
        ..WriteOptions::default()
    };
    let (blob, digests) = layer::write_layer(&changes, &options, Vec::new()).unwrap();
    let (entries, _) = layer::list_layer(&blob[..]).unwrap();
    assert_eq!(
        check_windows_layer(&entries, false),
        vec![],
        "hcsshim rules"
    );
    (blob, digests)
}

fn python() -> PathBuf {
    for candidate in [
        std::env::var_os("SILO_VENV").map(|v| PathBuf::from(v).join("bin/python")),
        Some(silo_tests::project_root().join(".venv/bin/python")),
    ]
    .into_iter()
    .flatten()
    {
        if candidate.is_file() {
            return candidate;
        }
    }
    require_tool("python3")
}

const PY_TARFILE_DUMP: &str = r#"
import base64, json, sys, tarfile
out = []
with tarfile.open(sys.argv[1], "r:*") as tar:
    for m in tar:
        sd = m.pax_headers.get("MSWINDOWS.rawsd")
        out.append({"name": m.name, "type": m.type.decode(), "link": m.linkname,
                    "size": m.size, "mtime": m.mtime, "pax": m.pax_headers,
                    "sd": base64.b64decode(sd, validate=True).hex() if sd else None})
    # The content survives python's own zlib inflate (stored and deflated blocks).
    data = tar.extractfile("Files/Program Files/App/app.exe").read()
    assert len(data) == 300000 and data[200000:] == b"\x07" * 100000, "content"
print(json.dumps(out))
"#;

/// python3's tarfile (an independent reader) sees our entries in our order with our PAX records.
#[test]
fn python_tarfile_reads_pax_records_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let (blob, _) = sample_layer(dir.path());
    let path = dir.path().join("layer.tar.gz");
    std::fs::write(&path, &blob).unwrap();
    let out = run_ok(
        Command::new(python())
            .arg("-c")
            .arg(PY_TARFILE_DUMP)
            .arg(&path),
    );
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let (ours, _) = layer::list_layer(&blob[..]).unwrap();
    let names: Vec<&str> = listed.iter().map(|e| e["name"].as_str().unwrap()).collect();
    let our_names: Vec<&str> = ours.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(names, our_names);
    assert_eq!(&names[..2], ["Hives", "Files"]);
    let by_name = |n: &str| listed.iter().find(|e| e["name"] == n).unwrap();

    let exe = by_name("Files/Program Files/App/app.exe");
    assert_eq!(exe["type"], "0");
    assert_eq!(exe["size"], 300_000);
    assert_eq!(exe["pax"]["MSWINDOWS.fileattr"], "32");
    assert_eq!(
        exe["pax"]["LIBARCHIVE.creationtime"],
        "1600000000.000000005"
    );
    assert_eq!(exe["pax"]["mtime"], "1700000000.25");
    // Python's base64 decoding of the descriptor equals what our reader decoded.
    let our_exe = ours
        .iter()
        .find(|e| e.path == "Files/Program Files/App/app.exe")
        .unwrap();
    let our_sd = our_exe.security_descriptor.as_ref().unwrap();
    assert_eq!(exe["sd"].as_str().unwrap(), hex::encode(our_sd));
    assert_eq!(our_sd[0], 1, "SD revision");
    assert_eq!(
        u16::from_le_bytes([our_sd[2], our_sd[3]]) & 0x8004,
        0x8004,
        "self-relative, DACL"
    );
    // Keys are sorted (deterministic), like Go's archive/tar writes them.
    let keys: Vec<&String> = exe["pax"].as_object().unwrap().keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);

    let stream = by_name("Files/Program Files/App/app.exe:Zone.Identifier");
    let stream_index = names.iter().position(|n| *n == stream["name"]).unwrap();
    assert_eq!(names[stream_index - 1], "Files/Program Files/App/app.exe");
    let link = by_name("Files/Program Files/App/bin/app2.exe");
    assert_eq!(link["type"], "1");
    assert_eq!(link["link"], "Files/Program Files/App/app.exe");
    let junction = by_name("Files/Documents and Settings");
    assert_eq!(junction["type"], "2");
    assert_eq!(junction["link"], "C:\\Users");
    assert_eq!(junction["pax"]["MSWINDOWS.mountpoint"], "1");
    assert_eq!(junction["pax"]["MSWINDOWS.fileattr"], "1040");
    let long = format!("Files/Temp/{}", "n".repeat(150));
    assert_eq!(by_name(&long)["type"], "5");
    assert_eq!(by_name(&long)["pax"]["path"], long.as_str());
    assert_eq!(by_name("Files/Windows/Temp/.wh.old.log")["type"], "0");
    assert_eq!(by_name("Hives/System_Delta")["size"], 11);
    // Every ancestor directory before its children (python's view of the order).
    for (i, name) in names.iter().enumerate() {
        if let Some((parent, _)) = name.rsplit_once('/') {
            let parent = parent.split(':').next().unwrap();
            assert!(names[..i].contains(&parent), "{name} before its parent");
        }
    }
}

/// Same change set → same bytes, in separate runs.
#[test]
fn layers_are_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let (a, da) = sample_layer(dir.path());
    let (b, db) = sample_layer(dir.path());
    assert_eq!(da, db);
    assert_eq!(a, b);
}

fn base_create(root: &Path, extra: &[&str]) -> std::process::Output {
    silo_tests::silo()
        .arg("--root")
        .arg(root)
        .args(["base", "create", "--os-version", "10.0.20348.1"])
        .args(extra)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap()
}

/// `silo base create` → OCI layout: hives readable by hivex and libregf, layer passes the
/// base-layer rules, skopeo copies it between layouts and pushes it to a real registry.
#[test]
fn base_create_output_is_read_by_hivex_libregf_and_skopeo() {
    let hivexregedit = require_tool("hivexregedit");
    let regfinfo = require_tool("regfinfo");
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let out = base_create(
        &dir.path().join("root"),
        &[
            "-t",
            "silo/base:ltsc2022",
            "--features",
            "win32k",
            "--output",
            &format!("oci:{}", layout.display()),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let image = ImageLocation::parse(&format!("oci:{}:silo/base:ltsc2022", layout.display()))
        .unwrap()
        .open_image(None)
        .unwrap();
    let config: serde_json::Value = serde_json::from_slice(&image.config_bytes).unwrap();
    assert_eq!(config["os"], "windows");
    assert_eq!(config["os.version"], "10.0.20348.1");
    assert_eq!(config["os.features"], serde_json::json!(["win32k"]));
    assert_eq!(config["config"]["User"], "ContainerUser");
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["c:\\windows\\system32\\cmd.exe"])
    );
    assert_eq!(config["history"].as_array().unwrap().len(), 1);
    let layers = image.layers().unwrap();
    assert_eq!(layers.len(), 1);
    let blob = image.source.open_blob(layers[0].0.digest()).unwrap();
    let hives = dir.path().join("hives");
    std::fs::create_dir(&hives).unwrap();
    let mut entries = Vec::new();
    let summary = layer::read_layer(blob, |e, data| {
        entries.push(e.clone());
        if let Some(name) = e.path.strip_prefix("Files/Windows/System32/config/") {
            let mut f = std::fs::File::create(hives.join(name)).unwrap();
            std::io::copy(data, &mut f).unwrap();
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(
        &summary.diff_id, &layers[0].1,
        "config diff_id matches the layer"
    );
    assert_eq!(
        check_windows_layer(&entries, true),
        vec![],
        "base-layer rules"
    );
    for dir_name in [
        "Files/Windows/System32",
        "Files/Users/ContainerAdministrator",
        "Files/Users/ContainerUser",
        "Files/ProgramData",
        "Files/Program Files",
        "Files/Windows/Temp",
    ] {
        assert!(entries.iter().any(|e| e.path == dir_name), "{dir_name}");
    }
    for hive in ["SYSTEM", "SOFTWARE", "SAM", "SECURITY", "DEFAULT"] {
        let path = hives.join(hive);
        let export = run_ok(
            Command::new(&hivexregedit)
                .arg("--export")
                .arg(&path)
                .arg("\\"),
        );
        let text = String::from_utf8_lossy(&export.stdout);
        assert!(
            text.contains("[\\"),
            "{hive}: hivexregedit exported nothing:\n{text}"
        );
        let info = run_ok(Command::new(&regfinfo).arg(&path));
        let text = String::from_utf8_lossy(&info.stdout);
        assert!(
            text.contains("(key:) ROOT"),
            "{hive}: regfinfo shows no key tree:\n{text}"
        );
        assert!(!text.to_lowercase().contains("corrupt"), "{hive}: {text}");
    }

    // skopeo: layout → layout, and → a real registry and back.
    let copy = dir.path().join("copy");
    run_ok(
        silo_tests::skopeo::skopeo()
            .arg("copy")
            .arg(format!("oci:{}:silo/base:ltsc2022", layout.display()))
            .arg(format!("oci:{}:copied", copy.display())),
    );
    let copied = OciLayout::open(&copy).unwrap();
    let manifest = copied.resolve(Some("copied")).unwrap();
    assert_eq!(manifest.digest(), image.manifest_descriptor.digest());
    let registry = silo_tests::registry::Registry::no_auth();
    silo_tests::skopeo::push_layout(
        &layout,
        "silo/base:ltsc2022",
        &registry,
        "silo/base:ltsc2022",
    );
    assert!(registry.has_blob(layers[0].0.digest().as_ref()));
    let pulled = dir.path().join("pulled");
    silo_tests::skopeo::pull_to_layout(&registry, "silo/base:ltsc2022", &pulled, "back");
    let back = OciLayout::open(&pulled).unwrap();
    assert!(BlobSource::has_blob(&back, layers[0].0.digest()).unwrap());
}

/// docker-archive output: skopeo reads it (docker load's format), and silo reads it back.
#[test]
fn base_create_docker_archive_is_read_by_skopeo() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("base.tar");
    let out = base_create(
        &dir.path().join("root"),
        &[
            "-t",
            "ignored",
            "--output",
            &format!("docker-archive:{}:silo/base:1", archive.display()),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let layout = dir.path().join("from-archive");
    run_ok(
        silo_tests::skopeo::skopeo()
            .arg("copy")
            .arg(format!("docker-archive:{}", archive.display()))
            .arg(format!("oci:{}:x", layout.display())),
    );
    let ours = ImageLocation::parse(&format!("docker-archive:{}:silo/base:1", archive.display()))
        .unwrap()
        .open_image(None)
        .unwrap();
    let theirs = ImageLocation::parse(&format!("oci:{}:x", layout.display()))
        .unwrap()
        .open_image(None)
        .unwrap();
    assert_eq!(
        ours.config.rootfs().diff_ids(),
        theirs.config.rootfs().diff_ids()
    );
    assert_eq!(ours.config.os_version(), &Some("10.0.20348.1".to_string()));
}

// ---- store: crash safety and concurrency ------------------------------------------------------

/// Child half of the kill test: writes a big blob slowly into the store at $SILO_TEST_STORE.
#[test]
fn ingest_child() {
    let Some(root) = std::env::var_os("SILO_TEST_INGEST_CHILD") else {
        return; // only runs as the child of store_survives_kill_9_during_ingest
    };
    let store = Store::open(PathBuf::from(root), LockMode::Shared).unwrap();
    let mut writer = store.begin_blob().unwrap();
    let chunk = vec![0xabu8; 1 << 20];
    for _ in 0..10_000 {
        std::io::Write::write_all(&mut writer, &chunk).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    writer.commit(None).unwrap();
}

#[test]
fn store_survives_kill_9_during_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    // A complete image first, so verify has real content to check.
    assert!(base_create(&root, &["-t", "before"]).status.success());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "ingest_child", "--nocapture"])
        .env("SILO_TEST_INGEST_CHILD", &root)
        .spawn()
        .unwrap();
    // Wait until the child has written real data into a temp file, then SIGKILL it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let written: u64 = std::fs::read_dir(root.join("tmp"))
            .unwrap()
            .flatten()
            .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
            .sum();
        if written > 8 << 20 {
            break;
        }
        assert!(Instant::now() < deadline, "child never wrote");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let status = child.wait().unwrap();
    assert!(!status.success());

    let verify = silo_tests::silo()
        .arg("--root")
        .arg(&root)
        .args(["store", "verify"])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "verify after kill -9:\n{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(String::from_utf8_lossy(&verify.stdout).contains("0 problem(s)"));
    // The next run succeeds, and prune clears the dead writer's temp file.
    assert!(base_create(&root, &["-t", "after"]).status.success());
    let prune = silo_tests::silo()
        .arg("--root")
        .arg(&root)
        .arg("prune")
        .output()
        .unwrap();
    assert!(prune.status.success());
    assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    let store = Store::open(&root, LockMode::Shared).unwrap();
    assert_eq!(
        store.get_ref("before").unwrap().digest(),
        store.get_ref("after").unwrap().digest(),
        "same SOURCE_DATE_EPOCH, same image"
    );
}

/// Several processes ingesting the same blobs into one store at once all succeed, and the store
/// verifies clean afterwards.
#[test]
fn concurrent_processes_ingest_the_same_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let children: Vec<_> = (0..4)
        .map(|i| {
            silo_tests::silo()
                .arg("--root")
                .arg(&root)
                .args(["base", "create", "--os-version", "10.0.20348.1", "-t"])
                .arg(format!("img{i}"))
                .env("SOURCE_DATE_EPOCH", "1700000000")
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let store = Store::open(&root, LockMode::Shared).unwrap();
    let digests: Vec<_> = (0..4)
        .map(|i| store.get_ref(&format!("img{i}")).unwrap().digest().clone())
        .collect();
    assert!(digests.windows(2).all(|w| w[0] == w[1]));
    drop(store);
    let verify = silo_tests::silo()
        .arg("--root")
        .arg(&root)
        .args(["store", "verify"])
        .output()
        .unwrap();
    assert!(verify.status.success());
    // prune keeps everything the refs reach: removing one ref of four removes nothing.
    run_ok(
        silo_tests::silo()
            .arg("--root")
            .arg(&root)
            .args(["store", "rm", "img0"]),
    );
    let prune = run_ok(silo_tests::silo().arg("--root").arg(&root).arg("prune"));
    assert!(String::from_utf8_lossy(&prune.stdout).starts_with("removed 0 blobs"));
    for i in 1..4 {
        run_ok(
            silo_tests::silo()
                .arg("--root")
                .arg(&root)
                .args(["store", "rm"])
                .arg(format!("img{i}")),
        );
    }
    let prune = run_ok(silo_tests::silo().arg("--root").arg(&root).arg("prune"));
    assert!(
        String::from_utf8_lossy(&prune.stdout).starts_with("removed 3 blobs"),
        "{}",
        String::from_utf8_lossy(&prune.stdout)
    );
}

/// The unpacked-layer cache unpacks the base layer once and serves it to later callers.
#[test]
fn unpacked_layer_cache() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    assert!(base_create(&root, &["-t", "base"]).status.success());
    let image = ImageLocation::Store("base".into())
        .open_image(Some(&root))
        .unwrap();
    let (layer, diff_id) = image.layers().unwrap().remove(0);
    drop(image);
    let store = Store::open(&root, LockMode::Shared).unwrap();
    assert!(store.unpacked_layer(&diff_id).unwrap().is_none());
    let dir1 = store
        .ensure_unpacked(&diff_id, layer.digest(), layer::UnpackFilter::WindowsFiles)
        .unwrap();
    let hive = std::fs::read(dir1.join("Windows/System32/config/SYSTEM")).unwrap();
    assert_eq!(&hive[..4], b"regf");
    assert!(dir1.join("Users/ContainerUser").is_dir());
    let dir2 = store
        .ensure_unpacked(&diff_id, layer.digest(), layer::UnpackFilter::WindowsFiles)
        .unwrap();
    assert_eq!(dir1, dir2);
}

/// A Linux layer made by GNU tar (long names, symlinks, hard links, whiteouts) reads and unpacks.
#[test]
fn gnu_tar_linux_layers_read_and_unpack() {
    let tar = require_tool("tar");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let long = "l".repeat(180);
    std::fs::create_dir_all(src.join("usr/bin").join(&long)).unwrap();
    std::fs::write(src.join("usr/bin/tool"), b"#!/bin/sh\n").unwrap();
    std::fs::hard_link(src.join("usr/bin/tool"), src.join("usr/bin/tool2")).unwrap();
    std::os::unix::fs::symlink("/usr/bin/tool", src.join("usr/bin/abs")).unwrap();
    std::fs::write(src.join("usr/.wh.gone"), b"").unwrap();
    std::fs::write(src.join("usr/bin/.wh..wh..opq"), b"").unwrap();
    let layer = dir.path().join("layer.tar.gz");
    run_ok(
        Command::new(tar)
            .arg("-czf")
            .arg(&layer)
            .arg("-C")
            .arg(&src)
            .arg("."),
    );
    let (entries, _) = layer::list_layer(std::fs::File::open(&layer).unwrap()).unwrap();
    let kind = |p: &str| {
        entries
            .iter()
            .find(|e| e.path == p)
            .unwrap_or_else(|| panic!("{p} missing"))
            .kind
            .clone()
    };
    use silo::layer::LayerEntryKind as K;
    assert_eq!(kind(&format!("usr/bin/{long}")), K::Directory);
    assert_eq!(kind("usr/bin/abs"), K::Symlink);
    assert!(
        matches!(kind("usr/bin/tool2"), K::HardLink) || matches!(kind("usr/bin/tool"), K::HardLink)
    );
    assert_eq!(
        kind("usr/.wh.gone"),
        K::Whiteout {
            deleted: "usr/gone".into()
        }
    );
    assert_eq!(
        kind("usr/bin/.wh..wh..opq"),
        K::OpaqueWhiteout {
            directory: "usr/bin".into()
        }
    );
    let out = dir.path().join("out");
    let report = layer::unpack(
        std::fs::File::open(&layer).unwrap(),
        &out,
        layer::UnpackFilter::All,
    )
    .unwrap();
    assert_eq!(report.refusals, vec![]);
    assert_eq!(
        std::fs::read(out.join("usr/bin/tool2")).unwrap(),
        b"#!/bin/sh\n"
    );
    assert_eq!(
        std::fs::read_link(out.join("usr/bin/abs")).unwrap(),
        PathBuf::from("/usr/bin/tool")
    );
    assert!(out.join("usr/bin").join(&long).is_dir());
    assert_eq!(report.whiteouts.len(), 2);
}
