//! The image-location rule (docs/architecture.md, "Image locations") verb by verb, against a real
//! docker-registry, with skopeo reading back what silo pushed:
//! - a bare name the store holds is read from the store by push, copy, inspect, layers, ls, diff,
//!   registry and `FROM` — the name's registry is not running, so reaching it would fail;
//! - `docker://` forces the registry even when the store holds the name;
//! - an absent bare name is read from the registry, and when that fails the error says the store
//!   was looked in first;
//! - push, copy and inspect take store names, `oci:DIR` and `docker-archive:FILE` alike.

use std::path::Path;

use serde_json::Value;
use silo_tests::image::sha256_digest;
use silo_tests::registry::Registry;
use silo_tests::silo_cli;
use silo_tests::skopeo::skopeo;
use silo_tests::tools::{free_port, run_ok};
use silo_tests::{silo_in, silo_ok_in};

/// `silo ARGS` with its state in `root`, which must succeed; its stdout.
fn ok(root: &Path, args: &[String]) -> String {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    String::from_utf8_lossy(&silo_ok_in(root, &args).stdout).into_owned()
}

/// `silo ARGS` with its state in `root`, which must fail without panicking; its stderr.
fn fails(root: &Path, args: &[String]) -> String {
    let list: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = silo_in(root, &list);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "silo {args:?} succeeded");
    assert!(!stderr.contains("panicked"), "silo panicked:\n{stderr}");
    stderr
}

/// `silo base create -t name` in the store `root`; the digest the store names.
fn base(root: &Path, name: &str, os_version: &str) -> String {
    ok(
        root,
        &args(&["base", "create", "-t", name, "--os-version", os_version]),
    );
    stored_digest(&ok(root, &args(&["store", "refs"])), name)
}

/// A build context in `dir` whose Dockerfile starts `FROM base` and copies one file.
fn context(dir: &Path, base: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("app.txt"), b"hello\n").unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM {base}\nCOPY app.txt /app.txt\n"),
    )
    .unwrap();
    dir.display().to_string()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn with(mut list: Vec<String>, more: &[String]) -> Vec<String> {
    list.extend_from_slice(more);
    list
}

/// The digest `silo store refs` lists for `name`.
fn stored_digest(refs: &str, name: &str) -> String {
    refs.lines()
        .find_map(|l| {
            let mut cols = l.split('\t');
            (cols.next() == Some(name)).then(|| cols.next().unwrap().to_string())
        })
        .unwrap_or_else(|| panic!("{name} not in the store refs:\n{refs}"))
}

/// The last line of a verb's stdout (push and copy print the digest written).
fn printed_digest(stdout: &str) -> String {
    stdout.lines().last().unwrap_or_default().trim().to_string()
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The manifest bytes the registry serves for `reference`, read by skopeo.
fn skopeo_raw(registry: &Registry, reference: &str) -> Vec<u8> {
    run_ok(
        skopeo()
            .args(["inspect", "--raw"])
            .args(registry.skopeo_args(""))
            .arg(format!("docker://{reference}")),
    )
    .stdout
}

/// A name held by the store whose registry (a free port: nothing answers) cannot be reached:
/// every verb must read it from the store.
#[test]
fn a_stored_name_is_read_from_the_store_by_every_verb() {
    let registry = Registry::no_auth();
    let flags = silo_cli::transport_flags(&registry);
    let work = tempfile::tempdir().unwrap();
    let store = |name: &str| work.path().join(name);
    let dead = format!("127.0.0.1:{}", free_port());
    let name = format!("{dead}/rule/app:v1");
    let digest = base(&store("s"), &name, "10.0.20348.1");

    let pushed = registry.reference("rule/pushed:v1");
    let out = ok(&store("s"), &with(args(&["push", &name, &pushed]), &flags));
    assert_eq!(printed_digest(&out), digest, "push read the store's image");
    assert_eq!(sha256_digest(&skopeo_raw(&registry, &pushed)), digest);

    let layout = format!("oci:{}:v1", store("layout").display());
    let out = ok(&store("s"), &args(&["copy", &name, &layout]));
    assert_eq!(printed_digest(&out), digest, "copy read the store's image");

    let shown = json(&ok(
        &store("s"),
        &args(&["inspect", &name, "--format", "json"]),
    ));
    assert_eq!(shown["digest"], digest.as_str(), "{shown}");
    assert_eq!(shown["platform"]["os.version"], "10.0.20348.1");

    let layers = json(&ok(
        &store("s"),
        &args(&["layers", &name, "--format", "json"]),
    ));
    assert_eq!(layers["manifest_digest"], digest.as_str());
    let files = json(&ok(&store("s"), &args(&["ls", &name, "--format", "json"])));
    assert!(!files.as_array().unwrap().is_empty(), "{files}");
    ok(&store("s"), &args(&["registry", &name, "--format", "json"]));
    let diff = ok(&store("s"), &args(&["diff", &name, &name]));
    assert!(diff.contains("no differences"), "{diff}");
    let dockerfile = context(&store("ctx"), &name);
    ok(
        &store("s"),
        &args(&["build", "--runtime", "none", "-t", "built:1", &dockerfile]),
    );

    // `docker://` forces the registry, which is not running.
    let forced = format!("docker://{name}");
    for verb in [
        args(&["inspect", &forced]),
        args(&["layers", &forced]),
        args(&["copy", &forced, &layout]),
    ] {
        let err = fails(&store("s"), &with(verb.clone(), &flags));
        assert!(err.contains(&dead), "{verb:?}: {err}");
        assert!(!err.contains("is not in the store"), "{verb:?}: {err}");
    }
}

/// A name the store does not hold is read from its registry; when the registry cannot serve it,
/// the error names the rule.
#[test]
fn an_absent_name_is_read_from_the_registry_and_errors_say_so() {
    let registry = Registry::no_auth();
    let flags = silo_cli::transport_flags(&registry);
    let work = tempfile::tempdir().unwrap();
    let store = |name: &str| work.path().join(name);
    // Made in one store and pushed; the store "fresh" never holds it.
    base(&store("seed"), "seed:1", "10.0.20348.1");
    let remote = registry.reference("only/remote:v1");
    let digest = printed_digest(&ok(
        &store("seed"),
        &with(args(&["push", "seed:1", &remote]), &flags),
    ));

    let shown = json(&ok(
        &store("fresh"),
        &with(args(&["inspect", &remote, "--format", "json"]), &flags),
    ));
    assert_eq!(shown["digest"], digest.as_str());
    let layers = json(&ok(
        &store("fresh"),
        &with(args(&["layers", &remote, "--format", "json"]), &flags),
    ));
    assert_eq!(layers["manifest_digest"], digest.as_str());
    ok(&store("fresh"), &with(args(&["ls", &remote]), &flags));
    let layout = format!("oci:{}:v1", store("layout").display());
    let out = ok(
        &store("fresh"),
        &with(args(&["copy", &remote, &layout]), &flags),
    );
    assert_eq!(printed_digest(&out), digest);
    let again = registry.reference("only/again:v1");
    let out = ok(
        &store("fresh"),
        &with(args(&["push", &remote, &again]), &flags),
    );
    assert_eq!(printed_digest(&out), digest, "registry to registry");
    assert_eq!(sha256_digest(&skopeo_raw(&registry, &again)), digest);
    let dockerfile = context(&store("ctx"), &remote);
    ok(
        &store("fresh"),
        &with(
            args(&["build", "--runtime", "none", "-t", "built:1", &dockerfile]),
            &flags,
        ),
    );
    // Nothing of it was named in the store by reading it.
    let refs = ok(&store("fresh"), &args(&["store", "refs"]));
    assert!(!refs.contains("only/remote"), "{refs}");

    let absent = format!("127.0.0.1:{}/absent/app:v1", free_port());
    let rule = format!("\"{absent}\" is not in the store; looked up {absent} on the registry");
    let dockerfile = context(&store("ctx"), &absent);
    // (`--retries 1` where a verb has it: a refused connection is retried with back-off.)
    for verb in [
        args(&["inspect", &absent, "--retries", "1"]),
        args(&["push", &absent, &again, "--retries", "1"]),
        args(&["copy", &absent, &layout, "--retries", "1"]),
        args(&["layers", &absent]),
        args(&["ls", &absent]),
        args(&["registry", &absent]),
        args(&["diff", &absent, &remote]),
        args(&["build", "--runtime", "none", &dockerfile]),
    ] {
        let err = fails(&store("fresh"), &with(verb.clone(), &flags));
        assert!(err.contains(&rule), "{verb:?}: {err}");
    }
}

/// `silo push|copy|inspect` of a store name (short: `app:1`, which `silo store refs` lists as
/// typed), of `oci:DIR` and of `docker-archive:FILE`.
#[test]
fn push_copy_and_inspect_take_store_oci_and_archive_sources() {
    let registry = Registry::no_auth();
    let flags = silo_cli::transport_flags(&registry);
    let work = tempfile::tempdir().unwrap();
    let store = |name: &str| work.path().join(name);
    let digest = base(&store("s"), "app:1", "10.0.20348.1");
    let stored = json(&ok(&store("s"), &args(&["inspect", "app:1", "--config"])));
    let layout = format!("oci:{}:v1", store("layout").display());
    let archive = format!("docker-archive:{}", store("app.tar").display());
    ok(&store("s"), &args(&["copy", "app:1", &layout]));
    ok(
        &store("s"),
        &args(&["copy", "app:1", &format!("{archive}:app:1")]),
    );

    for (source, repo) in [
        ("app:1", "store"),
        (&layout[..], "oci"),
        (&archive[..], "archive"),
    ] {
        let pushed = registry.reference(&format!("push/{repo}:v1"));
        let out = ok(&store("s"), &with(args(&["push", source, &pushed]), &flags));
        let pushed_digest = printed_digest(&out);
        let raw = skopeo_raw(&registry, &pushed);
        assert_eq!(sha256_digest(&raw), pushed_digest, "{source}");
        let copied = registry.reference(&format!("copy/{repo}:v1"));
        let out = ok(&store("s"), &with(args(&["copy", source, &copied]), &flags));
        assert_eq!(printed_digest(&out), pushed_digest, "{source}: copy = push");

        let shown = json(&ok(
            &store("s"),
            &args(&["inspect", source, "--format", "json"]),
        ));
        assert_eq!(shown["digest"], pushed_digest.as_str(), "{source}");
        assert_eq!(shown["platform"]["os.version"], "10.0.20348.1", "{source}");
        let config = json(&ok(&store("s"), &args(&["inspect", source, "--config"])));
        assert_eq!(config, stored, "{source}: the same config");
        let manifest: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(
            manifest["config"]["digest"], shown["config"]["digest"],
            "{source}"
        );
        if source != archive {
            // A store image and its layout copy are the same manifest; an archive has none
            // (silo makes one), so only its config and layers are the same.
            assert_eq!(pushed_digest, digest, "{source}");
        }
    }
    let raw = ok(&store("s"), &args(&["inspect", &layout, "--raw"]));
    assert_eq!(sha256_digest(raw.as_bytes()), digest);
}

/// An explicit `--platform` that a single-platform image does not match is refused by pull and
/// inspect (registry and store), as docker does, instead of being ignored; the image's own
/// platform (or no `--platform`) is taken.
#[test]
fn an_explicit_platform_a_single_image_does_not_match_is_refused() {
    let registry = Registry::no_auth();
    let flags = silo_cli::transport_flags(&registry);
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("s");
    base(&root, "single:1", "10.0.20348.1");
    let remote = registry.reference("single/app:1");
    ok(&root, &with(args(&["push", "single:1", &remote]), &flags));
    for source in ["single:1", remote.as_str()] {
        let err = fails(
            &root,
            &with(
                args(&["inspect", "--platform", "linux/arm64", source]),
                &flags,
            ),
        );
        assert!(
            err.contains("single-platform image for windows/amd64") && err.contains("linux/arm64"),
            "inspect {source}: {err}"
        );
        ok(
            &root,
            &with(
                args(&["inspect", "--platform", "windows/amd64", source]),
                &flags,
            ),
        );
        ok(&root, &with(args(&["inspect", source]), &flags));
    }
    let dest = format!("oci:{}", work.path().join("pulled").display());
    let err = fails(
        &root,
        &with(
            args(&[
                "pull",
                "--platform",
                "linux/arm64",
                &remote,
                "--output",
                &dest,
            ]),
            &flags,
        ),
    );
    assert!(err.contains("does not match"), "pull: {err}");
    assert!(!work.path().join("pulled").exists(), "nothing was pulled");
    ok(
        &root,
        &with(
            args(&[
                "pull",
                "--platform",
                "windows/amd64",
                &remote,
                "--output",
                &dest,
            ]),
            &flags,
        ),
    );
}
