//! `silo build --cache-to/--cache-from type=registry` against a real docker-registry: a cache
//! exported by one state directory is used by a fresh one (every step a hit, the same image,
//! layer blobs fetched only when an output needs them), a changed context file rebuilds only the
//! steps after it, and a missing cache is a warning.

use std::fs;

use silo_tests::build_lab::{exported_records, layout_layers, Lab};
use silo_tests::registry::Registry;

#[test]
fn a_fresh_state_dir_builds_everything_from_the_registry_cache() {
    let lab = Lab::no_auth();
    let cache_to = format!(
        "type=registry,ref={},mode=max,registry.insecure=true",
        lab.cache_ref()
    );
    let cache_from = format!(
        "type=registry,ref={},registry.insecure=true",
        lab.cache_ref()
    );

    // State A builds and exports.
    let a = lab.state("a");
    let out_a = lab.path("out-a");
    let dest_a = format!("type=oci,tar=false,dest={}", out_a.display());
    let (text_a, id_a) = lab.build(&a, &["--cache-to", &cache_to, "-o", &dest_a]);
    assert_eq!(text_a.matches("CACHED").count(), 0, "{text_a}");
    assert!(text_a.contains("exported cache to"), "{text_a}");
    let (manifest_a, layers_a) = layout_layers(&out_a);
    // The base layer (from the oci: layout) plus WORKDIR, COPY, COPY.
    assert_eq!(layers_a.len(), 4, "{layers_a:?}");
    let built = &layers_a[1..];
    for layer in built {
        assert!(lab.registry().has_blob(layer), "{layer} not exported");
    }
    assert!(
        !lab.registry().has_blob(&layers_a[0]),
        "the base layer is not part of the cache"
    );
    // Exporting again uploads nothing new: every blob is already there.
    let (again, _) = lab.build(&a, &["--cache-to", &cache_to]);
    assert!(again.contains("blobs: 0 uploaded, 0 mounted"), "{again}");

    // State B starts empty: every step is a hit, and with no output nothing needs layer bytes,
    // so no layer blob is fetched.
    let b = lab.state("b");
    let (text_b, id_b) = lab.build(&b, &["--cache-from", &cache_from]);
    assert_eq!(text_b.matches("CACHED").count(), 3, "{text_b}");
    assert_eq!(id_a, id_b, "the same image from the cache");
    for layer in built {
        assert_eq!(
            lab.registry().blob_gets(layer),
            0,
            "{layer} fetched too early"
        );
    }

    // An OCI output needs the layers: each is fetched once, and the image is identical.
    let out_b = lab.path("out-b");
    let dest_b = format!("type=oci,tar=false,dest={}", out_b.display());
    let (text_b2, _) = lab.build(&b, &["--cache-from", &cache_from, "-o", &dest_b]);
    assert_eq!(text_b2.matches("CACHED").count(), 3, "{text_b2}");
    let (manifest_b, layers_b) = layout_layers(&out_b);
    assert_eq!(manifest_a, manifest_b, "identical image manifests");
    assert_eq!(layers_a, layers_b);
    for layer in built {
        assert_eq!(lab.registry().blob_gets(layer), 1, "{layer}");
    }

    // The fetched layers now have local records: another build with a tag fetches nothing more.
    let (text_b3, _) = lab.build(
        &b,
        &["--cache-from", &cache_from, "-t", "example.com/app:v1"],
    );
    assert_eq!(text_b3.matches("CACHED").count(), 3, "{text_b3}");
    for layer in built {
        assert_eq!(lab.registry().blob_gets(layer), 1, "{layer} fetched twice");
    }

    // One changed context file in a fresh state C: the steps before it hit, it and later rebuild.
    let c = lab.state("c");
    fs::write(lab.context().join("main.txt"), "main v2\n").unwrap();
    let (text_c, id_c) = lab.build(&c, &["--cache-from", &cache_from]);
    assert_ne!(id_a, id_c);
    assert!(text_c.contains("WORKDIR /app\n#2 CACHED"), "{text_c}");
    assert!(text_c.contains("COPY conf/ conf/\n#3 CACHED"), "{text_c}");
    assert!(!text_c.contains("#4 CACHED"), "{text_c}");
    assert_eq!(text_c.matches("CACHED").count(), 2, "{text_c}");
}

#[test]
fn a_missing_cache_is_a_warning_and_bad_specs_are_errors() {
    let lab = Lab::no_auth();
    let state = lab.state("a");
    let missing = format!(
        "type=registry,ref={},registry.insecure=true",
        lab.registry().reference("nothing:here")
    );
    let (text, _) = lab.build(&state, &["--cache-from", &missing]);
    assert!(text.contains("failed to import cache"), "{text}");
    assert_eq!(text.matches("CACHED").count(), 0, "{text}");

    // A build with no layer step exports an empty cache, which imports as zero records.
    fs::write(
        lab.context().join("Dockerfile"),
        "ARG BASE\nFROM $BASE\nENV X=1\n",
    )
    .unwrap();
    let (text, _) = lab.build(&state, &["--cache-to", &lab.spec("empty:x", "")]);
    assert_eq!(exported_records(&text), 0, "{text}");
    let (text, _) = lab.build(&lab.state("b"), &["--cache-from", &lab.spec("empty:x", "")]);
    assert!(text.contains("empty:x: 0 records"), "{text}");

    let bad = |spec: &str, flag: &str, expect: &str| {
        let ctx = lab.context().display().to_string();
        let out = state.run(&["build", "--runtime", "none", flag, spec, &ctx]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{flag} {spec} should fail");
        assert!(err.contains(expect), "{flag} {spec}: {err}");
    };
    bad("type=gha", "--cache-to", "not supported by silo");
    bad(
        "type=nope,ref=x/y",
        "--cache-from",
        "unknown cache importer",
    );
    bad("type=registry", "--cache-to", "ref required");
    bad(
        "type=registry,ref=x/y,mode=all",
        "--cache-to",
        "invalid mode",
    );
    bad(
        "type=registry,ref=x/y,mode=max",
        "--cache-from",
        "unknown option \"mode\"",
    );
}

#[test]
fn mode_min_exports_the_final_stage_and_max_every_stage() {
    let lab = Lab::no_auth();
    let ctx = lab.context();
    fs::write(ctx.join("a.txt"), "from the builder\n").unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        "ARG BASE\nFROM $BASE AS builder\nCOPY a.txt /a.txt\nCOPY main.txt /m.txt\n\
         FROM $BASE\nCOPY --from=builder /a.txt /b.txt\n",
    )
    .unwrap();
    let a = lab.state("a");
    let (min, _) = lab.build(&a, &["--cache-to", &lab.spec("cache:min", ",mode=min")]);
    assert_eq!(exported_records(&min), 1, "{min}");
    let (max, _) = lab.build(&a, &["--cache-to", &lab.spec("cache:max", ",mode=max")]);
    assert_eq!(exported_records(&max), 3, "{max}");

    // From the min cache the builder stage rebuilds, and the final COPY (same inputs) hits.
    let b = lab.state("b");
    let (text, _) = lab.build(&b, &["--cache-from", &lab.spec("cache:min", "")]);
    assert_eq!(text.matches("CACHED").count(), 1, "{text}");
    assert!(
        text.contains("COPY --from=builder /a.txt /b.txt\n#"),
        "{text}"
    );
    // From the max cache everything hits.
    let c = lab.state("c");
    let (text, _) = lab.build(&c, &["--cache-from", &lab.spec("cache:max", "")]);
    assert_eq!(text.matches("CACHED").count(), 3, "{text}");
}

#[test]
fn re_exporting_an_imported_cache_mounts_its_layers_without_fetching_them() {
    let lab = Lab::no_auth();
    let a = lab.state("a");
    let out = lab.path("out-a");
    let dest = format!("type=oci,tar=false,dest={}", out.display());
    lab.build(
        &a,
        &[
            "--cache-to",
            &lab.spec("team/cache:x", ",mode=max"),
            "-o",
            &dest,
        ],
    );
    let (_, layers) = layout_layers(&out);
    let built = &layers[1..];

    // A fresh state imports from one repository and exports to another on the same registry:
    // the layers are mounted across repositories, never downloaded or uploaded again.
    let b = lab.state("b");
    let (text, _) = lab.build(
        &b,
        &[
            "--cache-from",
            &lab.spec("team/cache:x", ""),
            "--cache-to",
            &lab.spec("other/cache:y", ",mode=max"),
        ],
    );
    assert_eq!(text.matches("CACHED").count(), 3, "{text}");
    assert!(
        // Three layers and the config (the same records, so the same bytes).
        text.contains("blobs: 0 uploaded, 4 mounted"),
        "expected four mounts:\n{text}"
    );
    for layer in built {
        assert_eq!(lab.registry().blob_gets(layer), 0, "{layer} was downloaded");
        assert!(lab.registry().has_blob(layer));
    }
    // The new cache works on its own.
    let c = lab.state("c");
    let (text, _) = lab.build(&c, &["--cache-from", &lab.spec("other/cache:y", "")]);
    assert_eq!(text.matches("CACHED").count(), 3, "{text}");
}

#[test]
fn exports_use_credentials_and_ignore_error_turns_a_failure_into_a_warning() {
    let lab = Lab::with_registry(Registry::htpasswd());
    let spec = lab.spec("cache:x", ",mode=max");
    let without = lab.state("a");
    let ctx = lab.context().display().to_string();
    let err = without.fails(&[
        "build",
        "--runtime",
        "none",
        "--build-arg",
        &lab.base_arg,
        "--cache-to",
        &spec,
        &ctx,
    ]);
    assert!(err.contains("exporting the build cache to"), "{err}");
    let (text, _) = lab.build(
        &without,
        &["--cache-to", &format!("{spec},ignore-error=true")],
    );
    assert!(text.contains("failed to export cache to"), "{text}");

    // `--creds` on the command line, then `SILO_CREDS` (its environment form).
    let creds = lab.registry().creds_arg().unwrap();
    let (text, _) = lab.build(&lab.state("b"), &["--creds", &creds, "--cache-to", &spec]);
    assert!(text.contains("exported cache to"), "{text}");
    let mut fresh = lab.state("c");
    fresh.creds = lab.registry().creds_arg();
    let (text, _) = lab.build(&fresh, &["--cache-from", &lab.spec("cache:x", "")]);
    assert_eq!(text.matches("CACHED").count(), 3, "{text}");
}

#[test]
fn a_cache_copied_to_another_registry_fetches_the_layers_it_must_upload() {
    let lab = Lab::no_auth();
    let a = lab.state("a");
    let out = lab.path("out-a");
    let dest = format!("type=oci,tar=false,dest={}", out.display());
    lab.build(
        &a,
        &["--cache-to", &lab.spec("cache:x", ",mode=max"), "-o", &dest],
    );
    let (_, layers) = layout_layers(&out);
    let built = &layers[1..];

    // B imports from the first registry and exports to a second one: the layers it never needed
    // locally are fetched once from the first and uploaded to the second.
    let second = Registry::no_auth();
    let to = format!(
        "type=registry,ref={},registry.insecure=true,mode=max",
        second.reference("mirror/cache:x")
    );
    let b = lab.state("b");
    let (text, _) = lab.build(
        &b,
        &["--cache-from", &lab.spec("cache:x", ""), "--cache-to", &to],
    );
    assert_eq!(text.matches("CACHED").count(), 3, "{text}");
    assert!(text.contains("blobs: 4 uploaded, 0 mounted"), "{text}");
    for layer in built {
        assert_eq!(lab.registry().blob_gets(layer), 1, "{layer}");
        assert!(second.has_blob(layer), "{layer} not on the second registry");
    }
    // A fresh state builds from the second registry alone.
    let from = format!(
        "type=registry,ref={},registry.insecure=true",
        second.reference("mirror/cache:x")
    );
    let (text, _) = lab.build(&lab.state("c"), &["--cache-from", &from]);
    assert_eq!(text.matches("CACHED").count(), 3, "{text}");
}

#[test]
fn the_commands_tls_flags_reach_the_cache_and_registry_insecure_skips_verification() {
    let lab = Lab::with_registry(Registry::tls());
    let ca = format!("--ca-cert={}", lab.registry().ca_cert().unwrap().display());
    let plain = format!("type=registry,ref={}", lab.registry().reference("cache:x"));
    let (text, _) = lab.build(
        &lab.state("a"),
        &[&ca, "--cache-to", &format!("{plain},mode=max")],
    );
    assert!(text.contains("exported cache to"), "{text}");
    // Without the CA the registry's certificate is refused: a warning, and no hit.
    let (text, _) = lab.build(&lab.state("b"), &["--cache-from", &plain]);
    assert!(text.contains("failed to import cache"), "{text}");
    assert_eq!(text.matches("CACHED").count(), 0, "{text}");
    // With it, or with registry.insecure=true, every step hits.
    let (text, _) = lab.build(&lab.state("c"), &[&ca, "--cache-from", &plain]);
    assert_eq!(text.matches("CACHED").count(), 3, "{text}");
    let insecure = format!("{plain},registry.insecure=true");
    let (text, _) = lab.build(&lab.state("d"), &["--cache-from", &insecure]);
    assert_eq!(text.matches("CACHED").count(), 3, "{text}");
}
