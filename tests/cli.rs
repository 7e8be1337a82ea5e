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
        "tags",
        "catalog",
        "delete",
        "tag",
        "digest",
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

/// `-t` takes what `docker build -t` takes: a bad name is refused before anything runs (it used
/// to be stored as typed while the OCI output said `latest`), a digest is not a tag.
#[test]
fn a_tag_that_is_no_image_name_is_refused_up_front() {
    let t = tempfile::tempdir().unwrap();
    for (verb, bad, says) in [
        (&["build"][..], "Bad Tag!!", "invalid reference format"),
        (&["build"][..], "App:1", "must be lowercase"),
        (&["build"][..], "app@sha256:00", "cannot hold a digest"),
        (&["base", "create"][..], "x y", "invalid reference format"),
    ] {
        let mut args: Vec<&str> = verb.to_vec();
        args.extend(["-t", bad, "--os-version", "10.0.17763.1"]);
        if verb == ["build"] {
            args.truncate(3);
            args.push(t.path().to_str().unwrap());
        }
        let out = silo()
            .env("SILO_ROOT", t.path())
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "silo {args:?}: {stderr}");
        assert!(stderr.contains(says), "silo {args:?}: {stderr}");
    }
    assert!(
        std::fs::read_dir(t.path()).unwrap().next().is_none(),
        "nothing was made"
    );
}
