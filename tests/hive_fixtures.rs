//! Reads every hive fixture in `../shared/fixtures/hives/` (real Windows, offreg, hivex and
//! container-delta hives), checks what is known about each, re-writes it with our writer and
//! checks the re-written file reads back to the same tree.

use std::path::PathBuf;

use silo::hive::reader::{scan_cells, CellCounts};
use silo::hive::{read_hive, read_hive_with, Key, LayerSemantics, ReadOptions, WriteOptions};

fn fixtures_dir() -> PathBuf {
    let dir = silo_tests::shared_dir().join("fixtures/hives");
    assert!(
        dir.join("SOURCE.txt").exists(),
        "hive fixtures missing at {} (set SILO_SHARED to the shared corpus)",
        dir.display()
    );
    dir
}

/// The fixture's bytes; `.xz` files are decompressed with `xz -dc`.
fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    if name.ends_with(".xz") {
        let out = std::process::Command::new("xz")
            .arg("-dc")
            .arg(&path)
            .output()
            .expect("run xz (install xz-utils via scripts/install-test-deps)");
        assert!(out.status.success(), "xz -dc {} failed", path.display());
        out.stdout
    } else {
        std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }
}

const FIXTURES: &[&str] = &[
    "hivex__minimal",
    "hivex__special",
    "hivex__rlenvalue_test_hive",
    "nt-hive__testhive",
    "yarp__System_Delta",
    "yarp__BigDataHive",
    "yarp__UnicodeHive",
    "yarp__ManySubkeysHive",
    "yarp__EmptyHive",
    "yarp__MultiSzHive",
    "regipy__SAM.xz",
    "regipy__SYSTEM_WIN_10_1709.xz",
];

/// Re-writes `root` and checks the result reads back to the same tree and is clean.
fn assert_rewrites_identically(name: &str, root: &Key, differencing: bool) {
    let options = if differencing {
        WriteOptions::differencing("Hives\\Test_Delta")
    } else {
        WriteOptions::default()
    };
    let bytes = silo::hive::write_hive(root, &options).unwrap_or_else(|e| panic!("{name}: {e}"));
    let back = read_hive(&bytes).unwrap_or_else(|e| panic!("{name}: re-written hive: {e}"));
    assert!(!back.base.is_dirty());
    if *root != back.root {
        panic!(
            "{name}: re-written tree differs: {}",
            first_difference(root, &back.root, "")
        );
    }
    scan_cells(&bytes).unwrap_or_else(|e| panic!("{name}: re-written cells: {e}"));
}

fn first_difference(a: &Key, b: &Key, path: &str) -> String {
    let path = format!("{path}\\{}", a.name);
    if a.name != b.name
        || a.class != b.class
        || a.last_write != b.last_write
        || a.flags != b.flags
        || a.layer != b.layer
        || a.inherit_class != b.inherit_class
        || a.security != b.security
    {
        return format!("key {path}: {a:?} vs {b:?}")
            .chars()
            .take(600)
            .collect();
    }
    if !a.values().eq(b.values()) {
        return format!("values of {path}");
    }
    for (x, y) in a.subkeys().zip(b.subkeys()) {
        if x != y {
            return first_difference(x, y, &path);
        }
    }
    format!(
        "subkey count of {path}: {} vs {}",
        a.subkey_count(),
        b.subkey_count()
    )
}

#[test]
fn every_fixture_reads_and_rewrites() {
    for name in FIXTURES {
        let bytes = fixture(name);
        let parsed = read_hive_with(&bytes, ReadOptions { allow_dirty: true })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        scan_cells(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_rewrites_identically(name, &parsed.root, parsed.base.is_layered());
    }
}

#[test]
fn dirty_hive_is_reported() {
    let bytes = fixture("regipy__SYSTEM_WIN_10_1709.xz");
    let err = read_hive(&bytes).unwrap_err().to_string();
    assert!(
        err.contains("dirty") && err.contains("4317") && err.contains("4316"),
        "{err}"
    );
}

#[test]
fn system_delta_has_the_layer_bits_windows_wrote() {
    let bytes = fixture("yarp__System_Delta");
    let parsed = read_hive(&bytes).unwrap();
    assert_eq!(parsed.base.minor, 6);
    assert!(parsed.base.is_layered());
    assert!(
        parsed.base.file_name.ends_with(r"Hives\system_Delta"),
        "{}",
        parsed.base.file_name
    );
    let counts = scan_cells(&bytes).unwrap();
    assert_eq!(
        (counts.nk, counts.vk, counts.sk, counts.lh),
        (586, 820, 42, 37),
        "{counts:?}"
    );
    let root = &parsed.root;
    assert_eq!(root.name, "ROOT");
    assert_eq!(root.count_keys(), 586);

    let mut by_semantics = std::collections::BTreeMap::new();
    let mut tombstone_values = 0;
    fn walk(k: &Key, f: &mut dyn FnMut(&Key)) {
        f(k);
        k.subkeys().for_each(|c| walk(c, f));
    }
    walk(root, &mut |k| {
        *by_semantics
            .entry((k.layer.bits(), k.inherit_class))
            .or_insert(0) += 1;
        tombstone_values += k.values().filter(|v| v.tombstone).count();
    });
    let expected: std::collections::BTreeMap<_, _> = [
        ((0, true), 514),
        ((3, false), 61),
        ((3, true), 1),
        ((0, false), 8),
        ((1, false), 2),
    ]
    .into_iter()
    .collect();
    assert_eq!(by_semantics, expected);
    assert_eq!(tombstone_values, 3);

    let services = root.find(r"ControlSet001\Services").unwrap();
    let xbox = services.subkey("xboxgipsvc").unwrap();
    assert_eq!(
        (xbox.layer, xbox.inherit_class),
        (LayerSemantics::SupersedeTree, true)
    );
    let sub = xbox.subkey("a_subkey").unwrap();
    assert_eq!(
        (sub.layer, sub.inherit_class),
        (LayerSemantics::SupersedeTree, false)
    );
    let gip = services.subkey("XBOXGIP").unwrap();
    assert_eq!(gip.layer, LayerSemantics::Tombstone);
    assert!(gip.security.is_some() && gip.class.is_none());
    let net = services.subkey("XboxNetApiSvc").unwrap();
    assert!(net.value("displayname").unwrap().tombstone);
    assert!(!net.value("start").unwrap().tombstone);
}

#[test]
fn offreg_testhive_content() {
    let parsed = read_hive(&fixture("nt-hive__testhive")).unwrap();
    let root = &parsed.root;
    let big = root.subkey("big-data-test").unwrap();
    assert_eq!(big.value("A").unwrap().data.len(), 16343);
    assert_eq!(big.value("B").unwrap().data.len(), 16344);
    assert_eq!(big.value("C").unwrap().data.len(), 16345);
    assert_eq!(root.subkey("subkey-test").unwrap().subkey_count(), 512);
    let enc = root.subkey("character-encoding-test").unwrap();
    assert!(enc.subkey("ÄÖÜ").is_some());
    assert!(enc.subkey("\u{FF21}").is_some() && enc.subkey("\u{FF41}").is_some());
    assert!(enc.subkey("\u{10410}").is_some() && enc.subkey("\u{10438}").is_some());
    let counts: CellCounts = scan_cells(&fixture("nt-hive__testhive")).unwrap();
    assert!(counts.ri >= 1 && counts.db >= 1, "{counts:?}");
}
