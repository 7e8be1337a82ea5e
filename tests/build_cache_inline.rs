//! `silo build --cache-to type=inline` against a real docker-registry: the records ride in the
//! pushed image's config (read back by skopeo), and `--cache-from type=registry,ref=IMAGE` — the
//! image itself, not a cache manifest — makes a fresh store hit every step and build the same
//! image. An image without an inline cache is a warning; `mode=max` is refused, as in buildx.

use serde_json::Value;
use silo_tests::build_lab::{exported_records, Lab};
use silo_tests::tools::{require_tool, run_ok};

/// The config of `image` on the lab's registry, read by skopeo.
fn pushed_config(lab: &Lab, image: &str) -> Value {
    let mut cmd = std::process::Command::new(require_tool("skopeo"));
    cmd.args(["inspect", "--config", "--raw"])
        .args(lab.registry().skopeo_args(""))
        .arg(format!("docker://{image}"));
    serde_json::from_slice(&run_ok(&mut cmd).stdout).unwrap()
}

#[test]
fn an_inline_cache_in_a_pushed_image_makes_a_fresh_store_hit_every_step() {
    let lab = Lab::no_auth();
    let image = lab.registry().reference("app:v1");
    let from = format!("type=registry,ref={image},registry.insecure=true");

    // Build 1 pushes the image with its cache records in the config.
    let a = lab.state("a");
    let (text, id_a) = lab.build(
        &a,
        &[
            "--tls-verify=false",
            "--cache-to",
            "type=inline",
            "--push",
            "-t",
            &image,
        ],
    );
    assert_eq!(text.matches("CACHED").count(), 0, "{text}");
    assert_eq!(exported_records(&text), 3, "{text}");
    let config = pushed_config(&lab, &image);
    let inline = &config["silo.build.cache.v1"];
    assert_eq!(inline["format"], "silo-build-cache", "{config}");
    let records = inline["records"].as_array().unwrap();
    assert_eq!(records.len(), 3);
    // Each record names one of the image's own layers (min mode), by its diff_id too.
    let diff_ids: Vec<&Value> = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    for record in records {
        assert!(diff_ids.contains(&&record["layer"]["diff_id"]), "{record}");
    }
    assert!(
        config.get("moby.buildkit.cache.v0").is_none(),
        "BuildKit's key is BuildKit's format"
    );

    // Build 2 in a fresh store, from the image: every step hits, and exporting inline again
    // gives the very same image; no layer blob was fetched (nothing needed the bytes).
    let b = lab.state("b");
    let (text, id_b) = lab.build(&b, &["--cache-from", &from, "--cache-to", "type=inline"]);
    assert!(text.contains(&format!("{image}: 3 records")), "{text}");
    assert_eq!(text.matches("CACHED").count(), 3, "{text}");
    assert_eq!(id_a, id_b, "the same image");
    for record in records {
        let digest = record["layer"]["descriptor"]["digest"].as_str().unwrap();
        assert_eq!(lab.registry().blob_gets(digest), 0, "{digest}");
    }

    // Without --cache-to type=inline the config has no records: the same layers, another ID.
    let (text, id_plain) = lab.build(&b, &["--cache-from", &from]);
    assert_eq!(text.matches("CACHED").count(), 3, "{text}");
    assert_ne!(id_plain, id_a);
}

#[test]
fn an_image_without_inline_cache_warns_and_mode_max_is_refused() {
    let lab = Lab::no_auth();
    let image = lab.registry().reference("plain:v1");
    let a = lab.state("a");
    lab.build(&a, &["--tls-verify=false", "--push", "-t", &image]);
    let from = format!("type=registry,ref={image},registry.insecure=true");
    let (text, _) = lab.build(&lab.state("b"), &["--cache-from", &from]);
    assert!(text.contains("failed to import cache"), "{text}");
    assert!(text.contains("without silo's inline cache"), "{text}");
    assert_eq!(text.matches("CACHED").count(), 0, "{text}");

    let ctx = lab.context().display().to_string();
    let err = a.fails(&[
        "build",
        "--runtime",
        "none",
        "--cache-to",
        "type=inline,mode=max",
        &ctx,
    ]);
    assert!(
        err.contains("mode=max is not possible with type=inline"),
        "{err}"
    );
    let err = a.fails(&[
        "build",
        "--runtime",
        "none",
        "--cache-from",
        "type=inline",
        &ctx,
    ]);
    assert!(err.contains("exporter only"), "{err}");
}

#[test]
fn a_build_on_an_inline_cached_base_does_not_inherit_its_records() {
    let lab = Lab::no_auth();
    let base = lab.registry().reference("base-app:v1");
    let a = lab.state("a");
    lab.build(
        &a,
        &[
            "--tls-verify=false",
            "--cache-to",
            "type=inline",
            "--push",
            "-t",
            &base,
        ],
    );
    // FROM the pushed image, with one more step and no inline cache: no records in the config.
    let ctx = lab.context();
    std::fs::write(
        ctx.join("Dockerfile"),
        "ARG BASE\nFROM $BASE\nCOPY main.txt /again.txt\n",
    )
    .unwrap();
    let child = lab.registry().reference("child:v1");
    let base_arg = format!("BASE={base}");
    let ctx_text = ctx.display().to_string();
    a.ok(&[
        "build",
        "--runtime",
        "none",
        "--tls-verify=false",
        "--build-arg",
        &base_arg,
        "--push",
        "-t",
        &child,
        &ctx_text,
    ]);
    let config = pushed_config(&lab, &child);
    assert!(config.get("silo.build.cache.v1").is_none(), "{config}");
    // With inline cache it has exactly its own new record plus those of the base's layers
    // that this build used (none: the base came as an image, not as steps).
    a.ok(&[
        "build",
        "--runtime",
        "none",
        "--tls-verify=false",
        "--build-arg",
        &base_arg,
        "--cache-to",
        "type=inline",
        "--push",
        "-t",
        &child,
        &ctx_text,
    ]);
    let config = pushed_config(&lab, &child);
    let records = config["silo.build.cache.v1"]["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{config}");
}
