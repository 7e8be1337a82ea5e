//! `silo hive dump/diff/merge/check` end to end: a target hive made by hivex from a real
//! fixture, its delta built by silo, merged back by silo, and the result compared by hivex.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    let path = silo_tests::shared_dir().join("fixtures/hives").join(name);
    assert!(
        path.exists(),
        "{} missing (set SILO_SHARED)",
        path.display()
    );
    path
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn silo(args: &[&str]) -> String {
    ok(
        silo_tests::silo().args(args).output().unwrap(),
        &format!("silo {args:?}"),
    )
}

fn hivex_export(file: &Path) -> String {
    ok(
        Command::new("hivexregedit")
            .env("PERL_UNICODE", "SO")
            .arg("--export")
            .arg(file)
            .arg("\\")
            .output()
            .expect("hivexregedit (run scripts/install-test-deps)"),
        "hivexregedit --export",
    )
}

fn scratch() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hive_cli");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn diff_then_merge_reproduces_the_target() {
    if silo_tests::corpus("fixtures/hives").is_none() {
        return;
    }
    let dir = scratch();
    let base = dir.join("base");
    let target = dir.join("target");
    std::fs::copy(fixture("nt-hive__testhive"), &base).unwrap();
    std::fs::copy(fixture("nt-hive__testhive"), &target).unwrap();
    for f in [&base, &target] {
        std::fs::set_permissions(f, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    }
    // The target: a subtree deleted, one value deleted, one changed, a new key with a value.
    let reg = dir.join("change.reg");
    std::fs::write(
        &reg,
        "Windows Registry Editor Version 5.00\n\n\
         [-HKEY_LOCAL_MACHINE\\SOFTWARE\\subpath-test\\with-two-levels-of-subkeys]\n\n\
         [HKEY_LOCAL_MACHINE\\SOFTWARE\\data-test]\n\"reg-sz\"=-\n\"dword\"=dword:00000010\n\n\
         [HKEY_LOCAL_MACHINE\\SOFTWARE\\Added]\n\"New\"=hex(1):68,00,69,00,00,00\n\n",
    )
    .unwrap();
    ok(
        Command::new("hivexregedit")
            .args(["--merge", "--prefix", "HKEY_LOCAL_MACHINE\\SOFTWARE"])
            .arg(&target)
            .arg(&reg)
            .output()
            .unwrap(),
        "hivexregedit --merge",
    );

    let delta = dir.join("Software_Delta");
    let merged = dir.join("merged");
    let (b, t, d, m) = (
        base.to_str().unwrap(),
        target.to_str().unwrap(),
        delta.to_str().unwrap(),
        merged.to_str().unwrap(),
    );
    silo(&["hive", "diff", b, t, "-o", d]);

    let dump = silo(&["hive", "dump", d]);
    for expected in [
        "\\subpath-test\\with-two-levels-of-subkeys    [tombstone]\n\n",
        "\\data-test    [inherit-class]\n",
        "    dword    REG_DWORD    0x10\n",
        "    reg-sz    [tombstone]\n",
        "\\Added\n    New    REG_SZ    hi\n",
    ] {
        assert!(dump.contains(expected), "{expected:?} missing in:\n{dump}");
    }
    assert!(
        !dump.contains("big-data-test"),
        "unchanged keys stay out of the delta:\n{dump}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&silo(&["hive", "dump", d, "--format", "json"])).unwrap();
    assert_eq!(json["hive"]["differencing"], true);
    assert_eq!(json["hive"]["version"], "1.6");

    silo(&["hive", "merge", b, d, "-o", m]);
    assert_eq!(hivex_export(&merged), hivex_export(&target));
    assert_eq!(
        silo(&["hive", "dump", m, "--format", "json"]).replace(m, "X"),
        silo(&["hive", "dump", t, "--format", "json"]).replace(t, "X")
    );

    let check = silo(&["hive", "check", d]);
    assert!(
        check.contains("differencing") && check.contains("0 wrong"),
        "{check}"
    );
}

#[test]
fn dump_of_a_key_and_clear_errors() {
    if silo_tests::corpus("fixtures/hives").is_none() {
        return;
    }
    let delta = fixture("yarp__System_Delta");
    let d = delta.to_str().unwrap();
    let text = silo(&[
        "hive",
        "dump",
        d,
        r"controlset001\services\XBOXGIP",
        "--prefix",
        r"HKLM\SYSTEM",
    ]);
    assert_eq!(
        text,
        "HKLM\\SYSTEM\\controlset001\\services\\XBOXGIP    [tombstone]\n\n"
    );

    let out = silo_tests::silo()
        .args(["hive", "dump", d, "No\\Such"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));

    let dirty = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dirty-system");
    let unpacked = Command::new("xz")
        .arg("-dc")
        .arg(fixture("regipy__SYSTEM_WIN_10_1709.xz"))
        .output()
        .unwrap();
    std::fs::write(&dirty, unpacked.stdout).unwrap();
    let out = silo_tests::silo()
        .args(["hive", "dump", dirty.to_str().unwrap(), "Select"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("dirty") && err.contains("--allow-dirty"),
        "{err}"
    );
    let select = silo(&[
        "hive",
        "dump",
        dirty.to_str().unwrap(),
        "Select",
        "--allow-dirty",
    ]);
    assert!(select.contains("Current    REG_DWORD    0x1"), "{select}");

    let garbage = Path::new(env!("CARGO_TARGET_TMPDIR")).join("garbage-hive");
    std::fs::write(&garbage, b"not a hive").unwrap();
    let out = silo_tests::silo()
        .args(["hive", "dump", garbage.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a registry hive"));
}
