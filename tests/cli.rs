//! The `silo` binary answers `--help` and `--version` and lists its verbs.

use silo_tests::silo;

#[test]
fn help_lists_every_verb() {
    let out = silo().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for verb in [
        "build",
        "pull",
        "push",
        "copy",
        "inspect",
        "login",
        "logout",
        "layers",
        "ls",
        "diff",
        "registry",
        "base",
        "hive",
        "dockerfile",
        "store",
        "prune",
    ] {
        assert!(
            text.contains(&format!("  {verb} ")),
            "--help lacks {verb}:\n{text}"
        );
    }
}

#[test]
fn version_names_the_package_version() {
    let out = silo().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!("silo {}", env!("CARGO_PKG_VERSION"))
    );
}
