//! `silo tags`, `catalog`, `digest`, `tag` and `delete` — the registry's own API, as crane, skopeo
//! and regctl offer it — against a real docker-registry, read back with skopeo (issue #17).

use std::path::Path;

use silo_tests::image::sha256_digest;
use silo_tests::registry::Registry;
use silo_tests::silo_cli;
use silo_tests::skopeo::skopeo;
use silo_tests::tools::run_ok;
use silo_tests::{silo_in, silo_ok_in};

fn ok(root: &Path, args: &[&str], flags: &[String]) -> String {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(flags.iter().map(String::as_str));
    String::from_utf8_lossy(&silo_ok_in(root, &all).stdout).into_owned()
}

fn fails(root: &Path, args: &[&str], flags: &[String]) -> String {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(flags.iter().map(String::as_str));
    let out = silo_in(root, &all);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "silo {all:?} succeeded");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// A base made by `silo base create` in a fresh store (`root`), pushed to each of `targets`.
fn pushed_base(root: &Path, flags: &[String], targets: &[&str]) {
    silo_tests::base_in(root, "verbs:1", "10.0.20348.1");
    for target in targets {
        ok(root, &["push", "verbs:1", target], flags);
    }
}

fn skopeo_raw(registry: &Registry, reference: &str) -> Option<Vec<u8>> {
    let out = skopeo()
        .args(["inspect", "--raw"])
        .args(registry.skopeo_args(""))
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    out.status.success().then_some(out.stdout)
}

#[test]
fn tags_catalog_digest_tag_and_delete_work_as_crane_does() {
    let registry = Registry::no_auth();
    let flags = silo_cli::transport_flags(&registry);
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let app = registry.reference("team/app");
    let other = registry.reference("team/other:1");
    pushed_base(root, &flags, &[&format!("{app}:1"), &other]);

    let digest = ok(root, &["digest", &format!("{app}:1")], &flags);
    let digest = digest.trim();
    let raw = skopeo_raw(&registry, &format!("{app}:1")).unwrap();
    assert_eq!(digest, sha256_digest(&raw), "digest is the manifest's");
    assert_eq!(
        ok(root, &["digest", "verbs:1"], &[]).trim(),
        digest,
        "a store name gives the store's digest"
    );

    ok(root, &["tag", &format!("{app}:1"), "2"], &flags);
    ok(
        root,
        &["tag", &format!("{app}:1"), &format!("{app}:3")],
        &flags,
    );
    assert_eq!(skopeo_raw(&registry, &format!("{app}:2")).unwrap(), raw);
    assert_eq!(skopeo_raw(&registry, &format!("{app}:3")).unwrap(), raw);
    let err = fails(root, &["tag", &format!("{app}:1"), &other], &flags);
    assert!(err.contains("silo copy"), "{err}");

    let mut tags: Vec<String> = ok(root, &["tags", &app], &flags)
        .lines()
        .map(String::from)
        .collect();
    tags.sort();
    assert_eq!(tags, ["1", "2", "3"]);
    let listed = run_ok(
        skopeo()
            .args(["list-tags"])
            .args(registry.skopeo_args(""))
            .arg(format!("docker://{app}")),
    );
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["Tags"].as_array().unwrap().len(), 3, "skopeo agrees");
    assert_eq!(
        ok(root, &["ls-tags", &app], &flags).lines().count(),
        3,
        "ls-tags is tags"
    );

    let host = registry.reference("x");
    let host = host.split('/').next().unwrap();
    let catalog = ok(root, &["catalog", host], &flags);
    assert_eq!(
        catalog.lines().collect::<Vec<_>>(),
        ["team/app", "team/other"]
    );

    ok(root, &["delete", &format!("{app}:3")], &flags);
    for tag in ["1", "2", "3"] {
        assert!(
            skopeo_raw(&registry, &format!("{app}:{tag}")).is_none(),
            "the manifest and every tag on it are gone ({tag})"
        );
    }
    assert!(
        skopeo_raw(&registry, &other).is_some(),
        "another repository stays"
    );
    let err = fails(root, &["delete", &format!("{app}:1")], &flags);
    assert!(
        err.contains("404") || err.contains("MANIFEST_UNKNOWN"),
        "{err}"
    );
}

#[test]
fn delete_on_a_registry_that_refuses_deletes_shows_the_registrys_error() {
    let registry = Registry::without_deletes();
    let flags = silo_cli::transport_flags(&registry);
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let app = registry.reference("team/app:1");
    pushed_base(root, &flags, &[&app]);
    let err = fails(root, &["delete", &app], &flags);
    assert!(
        err.contains("405") && err.contains("UNSUPPORTED"),
        "the registry's own error: {err}"
    );
    assert!(skopeo_raw(&registry, &app).is_some(), "nothing was deleted");
}
