//! Reads every hive fixture in `../shared/fixtures/hives/` (real Windows, offreg, hivex and
//! container-delta hives), checks what is known about each, re-writes it with our writer and
//! checks the re-written file reads back to the same tree.

use std::path::PathBuf;

use silo::hive::reader::{scan_cells, CellCounts};
use silo::hive::{read_hive, read_hive_with, Key, LayerSemantics, ReadOptions, WriteOptions};

/// Whether the corpus is beside the project; when it is not, the test is skipped and counted
/// (and fails under `CI=true`), see `silo_tests::corpus`.
fn corpus_present() -> bool {
    silo_tests::corpus("fixtures/hives").is_some()
}

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
    if !corpus_present() {
        return;
    }
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
    if !corpus_present() {
        return;
    }
    let bytes = fixture("regipy__SYSTEM_WIN_10_1709.xz");
    let err = read_hive(&bytes).unwrap_err().to_string();
    assert!(
        err.contains("dirty") && err.contains("4317") && err.contains("4316"),
        "{err}"
    );
}

#[test]
fn system_delta_has_the_layer_bits_windows_wrote() {
    if !corpus_present() {
        return;
    }
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
    if !corpus_present() {
        return;
    }
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

/// Our Windows upcase rules reproduce every lh hash offreg and Windows 10 stored — and our
/// writer's hashes agree with them.
#[test]
fn lh_hashes_match_windows() {
    if !corpus_present() {
        return;
    }
    use silo::hive::reader::check_lh_hashes;
    for name in [
        "nt-hive__testhive",
        "regipy__SYSTEM_WIN_10_1709.xz",
        "yarp__System_Delta",
    ] {
        let bytes = fixture(name);
        let report = check_lh_hashes(&bytes).unwrap();
        assert!(
            report.checked > 500,
            "{name}: only {} lh entries",
            report.checked
        );
        assert!(
            report.mismatches.is_empty(),
            "{name}: {:?}",
            &report.mismatches[..report.mismatches.len().min(5)]
        );
        let parsed = read_hive_with(&bytes, ReadOptions { allow_dirty: true }).unwrap();
        let rewritten = silo::hive::write_hive(
            &parsed.root,
            &if parsed.base.is_layered() {
                WriteOptions::differencing("x")
            } else {
                WriteOptions::default()
            },
        )
        .unwrap();
        assert!(check_lh_hashes(&rewritten).unwrap().mismatches.is_empty());
    }
}

/// Per nk: (name bytes, flags, max subkey name, max subkey class, max value name, max value
/// data, subkey count, value count); per sk: (descriptor, reference count).
type NkFields = (Vec<u8>, u16, u32, u32, u32, u32, u32, u32);

fn record_fields(bytes: &[u8]) -> (Vec<NkFields>, Vec<(Vec<u8>, u32)>) {
    let (mut nks, mut sks) = (Vec::new(), Vec::new());
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    silo::hive::reader::for_each_cell(bytes, |_, cell| {
        match cell {
            Some(nk) if nk.starts_with(b"nk") => {
                let name_len = u16_at(nk, 72) as usize;
                nks.push((
                    nk[76..76 + name_len].to_vec(),
                    u16_at(nk, 2),
                    u32_at(nk, 52) & 0xFFFF,
                    u32_at(nk, 56),
                    u32_at(nk, 60),
                    u32_at(nk, 64),
                    u32_at(nk, 20),
                    u32_at(nk, 36),
                ));
            }
            Some(sk) if sk.starts_with(b"sk") => {
                let len = u32_at(sk, 16) as usize;
                sks.push((sk[20..20 + len].to_vec(), u32_at(sk, 12)));
            }
            _ => {}
        }
        Ok(())
    })
    .unwrap();
    nks.sort();
    sks.sort();
    (nks, sks)
}

/// Our writer reproduces what offreg (Windows) stored in every nk header — flags, name form,
/// the four max-length fields, counts — and the same sk cells with the same reference counts.
#[test]
fn rewrite_matches_offreg_record_fields() {
    if !corpus_present() {
        return;
    }
    assert_record_fields_match("nt-hive__testhive", WriteOptions::default(), true);
}

/// The same for the real container delta Windows wrote, except that Windows left stale (larger)
/// max-length fields there after values were deleted; ours are exact, so never larger.
#[test]
fn rewrite_matches_windows_delta_record_fields() {
    if !corpus_present() {
        return;
    }
    assert_record_fields_match("yarp__System_Delta", WriteOptions::differencing("x"), false);
}

fn assert_record_fields_match(name: &str, options: WriteOptions, exact_maxima: bool) {
    let original = fixture(name);
    let parsed = read_hive(&original).unwrap();
    let ours = silo::hive::write_hive(&parsed.root, &options).unwrap();
    let (offreg_nk, offreg_sk) = record_fields(&original);
    let (our_nk, our_sk) = record_fields(&ours);
    assert_eq!(offreg_nk.len(), our_nk.len());
    for (theirs, mine) in offreg_nk.iter().zip(&our_nk) {
        let what = format!("{name}: nk {:?}", String::from_utf8_lossy(&theirs.0));
        if exact_maxima {
            assert_eq!(theirs, mine, "{what}");
        } else {
            let (t, m) = (theirs, mine);
            assert_eq!((&t.0, t.1, t.6, t.7), (&m.0, m.1, m.6, m.7), "{what}");
            assert!(
                m.2 <= t.2 && m.3 <= t.3 && m.4 <= t.4 && m.5 <= t.5,
                "{what}: {t:?} vs {m:?}"
            );
        }
    }
    assert_eq!(offreg_sk, our_sk);
}

/// A deterministic mutation sweep over small real hives (the `hive_read` cargo-fuzz target does
/// the same, coverage-guided): byte flips, interesting u32 values written over fields, and
/// truncations must give errors, never panics, and whatever still reads must re-write
/// idempotently.
#[test]
fn mutated_hives_never_panic() {
    if !corpus_present() {
        return;
    }
    let seeds: Vec<Vec<u8>> = [
        "hivex__minimal",
        "hivex__special",
        "hivex__rlenvalue_test_hive",
    ]
    .iter()
    .map(|n| fixture(n))
    .collect();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    const INTERESTING: [u32; 8] = [
        0,
        1,
        4,
        0x20,
        0x7FFF_FFFF,
        0x8000_0000,
        0xFFFF_FFF8,
        0xFFFF_FFFF,
    ];
    let (mut accepted, mut rejected) = (0, 0);
    for round in 0..6000 {
        let mut bytes = seeds[round % seeds.len()].clone();
        for _ in 0..1 + next() % 4 {
            // Mostly mutate the hive bins, where the records are.
            let at = 4096 + (next() as usize % (bytes.len() - 4096 - 4));
            match next() % 3 {
                0 => bytes[at] ^= 1 << (next() % 8),
                1 => {
                    let v = INTERESTING[next() as usize % INTERESTING.len()];
                    bytes[at & !3..(at & !3) + 4].copy_from_slice(&v.to_le_bytes());
                }
                _ => bytes[at] = next() as u8,
            }
        }
        if next() % 10 == 0 {
            bytes.truncate(next() as usize % bytes.len());
        }
        match read_hive_with(&bytes, ReadOptions { allow_dirty: true }) {
            Err(_) => rejected += 1,
            Ok(parsed) => {
                accepted += 1;
                let options = if parsed.root.uses_layers() {
                    WriteOptions::differencing("x")
                } else {
                    WriteOptions::default()
                };
                if let Ok(first) = silo::hive::write_hive(&parsed.root, &options) {
                    let again = read_hive(&first).expect("our own output reads back");
                    let second = silo::hive::write_hive(&again.root, &options).unwrap();
                    assert!(first == second, "round {round}: writing is not idempotent");
                }
            }
        }
        let _ = scan_cells(&bytes);
        let _ = silo::hive::reader::check_lh_hashes(&bytes);
    }
    assert!(
        accepted > 100 && rejected > 100,
        "{accepted} accepted, {rejected} rejected"
    );
}
