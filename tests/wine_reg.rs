//! The Wine text-registry bridge against a real Wine prefix (`wineboot -i`, Debian wine64):
//! every file wineserver writes parses and is written back byte for byte, and `reg add` /
//! `reg delete` made by real Wine show up in the parsed tree.

use std::path::Path;
use std::process::Command;

use silo::hive::wine_reg;

fn require_wine() {
    let ok = Command::new("wineboot")
        .arg("--help")
        .output()
        .map(|o| o.status.success() || !o.stdout.is_empty() || !o.stderr.is_empty())
        .unwrap_or(false);
    assert!(
        ok,
        "wineboot is missing: install the Debian package wine64 (scripts/install-test-deps)"
    );
}

fn wine(prefix: &Path, args: &[&str]) {
    let out = Command::new("wine")
        .args(args)
        .env("WINEPREFIX", prefix)
        .env("WINEDEBUG", "-all")
        .env("DISPLAY", "")
        .output()
        .expect("run wine");
    assert!(out.status.success(), "wine {args:?} failed: {out:?}");
}

fn flush(prefix: &Path) {
    let st = Command::new("wineserver")
        .arg("-w")
        .env("WINEPREFIX", prefix)
        .status()
        .unwrap();
    assert!(st.success());
}

fn make_prefix(dir: &Path) {
    require_wine();
    let out = Command::new("wineboot")
        .arg("-i")
        .env("WINEPREFIX", dir)
        .env("WINEDEBUG", "-all")
        .env("DISPLAY", "")
        .output()
        .expect("run wineboot");
    assert!(out.status.success(), "wineboot -i failed: {out:?}");
    flush(dir);
}

#[test]
fn real_prefix_round_trips_and_sees_reg_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("prefix");
    make_prefix(&prefix);
    for name in ["system.reg", "userdef.reg", "user.reg"] {
        let text = std::fs::read_to_string(prefix.join(name)).unwrap();
        let parsed = wine_reg::parse(&text, name).unwrap();
        assert!(
            parsed.root.count_keys() > 5,
            "{name} parsed to almost nothing"
        );
        let written = wine_reg::write(&parsed);
        if written != text {
            let (a, b): (Vec<_>, Vec<_>) = (text.lines().collect(), written.lines().collect());
            let first = a
                .iter()
                .zip(&b)
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            panic!(
                "{name} does not round-trip; first difference at line {}:\n wine: {:?}\n ours: {:?}",
                first + 1,
                a.get(first),
                b.get(first)
            );
        }
    }
    let system = wine_reg::parse(
        &std::fs::read_to_string(prefix.join("system.reg")).unwrap(),
        "system.reg",
    )
    .unwrap();
    assert_eq!(system.relative_to, "REGISTRY\\Machine");
    let hive = wine_reg::wine_system_to_hive(system.root.subkey("System").unwrap().clone());
    assert!(
        hive.subkey("ControlSet001").is_some(),
        "CurrentControlSet maps to ControlSet001"
    );

    // Real Wine changes: a new key with values of several types, then a deleted value.
    wine(
        &prefix,
        &[
            "reg",
            "add",
            r"HKLM\Software\Contoso\App",
            "/v",
            "Version",
            "/t",
            "REG_SZ",
            "/d",
            "1.0",
            "/f",
        ],
    );
    wine(
        &prefix,
        &[
            "reg",
            "add",
            r"HKLM\Software\Contoso\App",
            "/v",
            "Q",
            "/t",
            "REG_QWORD",
            "/d",
            "0x1122334455667788",
            "/f",
        ],
    );
    wine(
        &prefix,
        &[
            "reg",
            "add",
            r"HKLM\Software\Contoso\App",
            "/v",
            "M",
            "/t",
            "REG_MULTI_SZ",
            "/d",
            r"a\0b",
            "/f",
        ],
    );
    wine(
        &prefix,
        &[
            "reg",
            "delete",
            r"HKLM\Software\Contoso\App",
            "/v",
            "Q",
            "/f",
        ],
    );
    flush(&prefix);
    let text = std::fs::read_to_string(prefix.join("system.reg")).unwrap();
    let after = wine_reg::parse(&text, "system.reg").unwrap();
    assert_eq!(wine_reg::write(&after), text);
    let app = after
        .root
        .find(r"Software\Contoso\App")
        .expect("Contoso\\App exists");
    let version = app.value("version").expect("Version value");
    assert_eq!(version.kind, silo::hive::tree::value_type::REG_SZ);
    assert_eq!(version.data, b"1\0.\x000\0\0\0".to_vec());
    assert_eq!(app.value("M").unwrap().data, b"a\0\0\0b\0\0\0\0\0".to_vec());
    assert!(app.value("Q").is_none());
}
