//! `silo registry` and `silo diff` on images whose base layer carries the real Windows 10 SYSTEM
//! hive (15 MB, `silo_tests::realbase`): a dirty hive is recovered from its `.LOG1` (or read with
//! a warning when it has none); one key is read without parsing the whole hive and is the same
//! key the full merged registry has; `silo diff` of an image built on another reports exactly
//! what the added delta changed. Timings are printed (release figures: scripts/bench-hive).

use std::path::Path;
use std::time::Instant;

use silo::hive::log::{changed_pages, new_format_log};
use silo::hive::{self, layers, read_hive, write_hive, Value, WriteOptions};
use silo::layer::HiveName;
use silo_tests::realbase::{self, clean_hive, real_system_hive};
use silo_tests::silo;

fn run(root: &Path, args: &[&str]) -> (String, String, f64) {
    let started = Instant::now();
    let out = silo().env("SILO_ROOT", root).args(args).output().unwrap();
    let secs = started.elapsed().as_secs_f64();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "silo {args:?}: {stdout}{stderr}");
    (stdout, stderr, secs)
}

/// Median wall time of `n` more runs of `silo ARGS` (the machine is noisy: one run says little).
fn median_secs(root: &Path, args: &[&str], n: usize) -> f64 {
    let mut secs: Vec<f64> = (0..n).map(|_| run(root, args).2).collect();
    secs.sort_by(f64::total_cmp);
    secs[n / 2]
}

fn config_files(system: Vec<u8>, logs: Vec<(&str, Vec<u8>)>) -> realbase::ConfigFiles {
    let mut files: realbase::ConfigFiles = HiveName::ALL
        .into_iter()
        .filter(|h| *h != HiveName::System)
        .map(|h| (h.base_file_name().to_string(), hive::minimal::bytes(h)))
        .collect();
    files.push(("SYSTEM".into(), system));
    files.extend(logs.into_iter().map(|(n, b)| (n.to_string(), b)));
    files
}

#[test]
fn one_key_of_a_real_dirty_hive_is_recovered_and_read_lazily() {
    let Some(dirty) = real_system_hive("one_key_of_a_real_dirty_hive") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let mut tree = read_hive(&clean_hive(&dirty)).unwrap().root;
    tree.create_path(r"ControlSet001\Control\FromLog")
        .set_value(Value::string("Marker", "replayed"));
    let after = write_hive(&tree, &WriteOptions::default()).unwrap();
    let seq = u32::from_le_bytes(dirty[4..8].try_into().unwrap());
    let hbins = u32::from_le_bytes(after[40..44].try_into().unwrap());
    let log1 = new_format_log(&dirty, &[(seq, hbins, changed_pages(&dirty, &after))]);
    let with_logs = config_files(dirty.clone(), vec![("SYSTEM.LOG1", log1)]);
    let without = config_files(dirty, vec![]);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    realbase::write_oci_image(&a, "base", vec![realbase::servercore_layer_tar(&with_logs)]);
    realbase::write_oci_image(&b, "base", vec![realbase::servercore_layer_tar(&without)]);
    let root = t.path().join("state");
    let image_a = format!("oci:{}:base", a.display());
    let image_b = format!("oci:{}:base", b.display());

    let key = r"HKLM\SYSTEM\CurrentControlSet\Control\FromLog";
    let (out, err, _) = run(&root, &["registry", &image_a, key]);
    let secs = median_secs(&root, &["registry", &image_a, key], 5);
    eprintln!("silo registry (one key, 15 MB dirty hive + LOG1): median of 5 {secs:.3} s");
    assert!(out.contains("Marker") && out.contains("replayed"), "{out}");
    assert!(!err.contains("dirty"), "replayed, no warning: {err}");

    // Without logs: the primary as it is, with a warning; the log's key is not there.
    let out = silo()
        .env("SILO_ROOT", &root)
        .args(["registry", &image_b, key])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("is dirty and has no .LOG1/.LOG2"), "{err}");

    // The lazy lookup gives what the whole merged registry has, for keys all over the hive.
    let (full, _, full_secs) = run(
        &root,
        &["registry", &image_b, r"HKLM\SYSTEM", "--format", "json"],
    );
    eprintln!("silo registry (whole SYSTEM hive as JSON): {full_secs:.3} s");
    let full: serde_json::Value = serde_json::from_str(&full).unwrap();
    let find = |path: &str| -> serde_json::Value {
        let mut k = &full["keys"][0];
        for part in path.split('\\') {
            k = k["subkeys"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"].as_str().unwrap().eq_ignore_ascii_case(part))
                .unwrap_or_else(|| panic!("{part} of {path}"));
        }
        k.clone()
    };
    for path in [
        r"Select",
        r"ControlSet001\Services\Spooler",
        r"ControlSet001\Control\TimeZoneInformation",
        r"ControlSet001\Control\Session Manager\Environment",
        r"MountedDevices",
    ] {
        let (one, _, secs) = run(
            &root,
            &[
                "registry",
                &image_b,
                &format!(r"HKLM\SYSTEM\{path}"),
                "--format",
                "json",
            ],
        );
        let one: serde_json::Value = serde_json::from_str(&one).unwrap();
        let mut got = one["keys"][0].clone();
        got.as_object_mut().unwrap().remove("path");
        assert_eq!(got, find(path), "{path}");
        eprintln!("  one key {path}: {secs:.3} s");
    }
}

#[test]
fn diff_of_an_image_built_on_a_real_base_reads_only_what_changed() {
    let Some(dirty) = real_system_hive("diff_of_an_image_built_on_a_real_base") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let clean = clean_hive(&dirty);
    let base_tar = realbase::servercore_layer_tar(&config_files(clean.clone(), vec![]));
    let before = read_hive(&clean).unwrap().root;
    let mut after = before.clone();
    after
        .create_path(r"ControlSet001\Services\SiloSvc")
        .set_value(Value::dword("Start", 2));
    after
        .find_mut(r"ControlSet001\Services\Spooler")
        .unwrap()
        .set_value(Value::dword("Start", 4));
    let delta = layers::diff(&before, &after);
    let delta = write_hive(&delta, &WriteOptions::differencing("\\Hives\\System_Delta")).unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    realbase::write_oci_image(&a, "base", vec![base_tar.clone()]);
    realbase::write_oci_image(
        &b,
        "app",
        vec![base_tar, realbase::delta_layer_tar("System_Delta", &delta)],
    );
    let root = t.path().join("state");
    let (image_a, image_b) = (
        format!("oci:{}:base", a.display()),
        format!("oci:{}:app", b.display()),
    );
    let args = ["diff", image_a.as_str(), image_b.as_str()];
    let (out, _, _) = run(&root, &args);
    let secs = median_secs(&root, &args, 5);
    eprintln!("silo diff (15 MB base hive, one-service delta): median of 5 {secs:.3} s (goal < 0.1 s)\n{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            r"A key   HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\SiloSvc",
            r"C value HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\Spooler\Start: REG_DWORD 0x2 -> REG_DWORD 0x4",
        ],
        "{out}"
    );
}
