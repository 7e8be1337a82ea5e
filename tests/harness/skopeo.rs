//! Running the real `skopeo` (the peer client) against harness registries, with the TLS and
//! credential flags each registry needs.

use std::path::Path;
use std::process::{Command, Output};

use crate::registry::Registry;
use crate::tools::{require_tool, run_ok};

/// A `skopeo` command (panics with the install hint when it is missing).
pub fn skopeo() -> Command {
    Command::new(require_tool("skopeo"))
}

/// `skopeo ARGS…`, which must succeed; its stdout.
pub fn skopeo_ok(args: &[&str]) -> Vec<u8> {
    let out = skopeo().args(args).output().expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `skopeo copy [--all] docker://SRC docker://DST` between two harness registries.
pub fn copy_between(
    src: &Registry,
    src_ref: &str,
    dst: &Registry,
    dst_ref: &str,
    all: bool,
) -> Output {
    let mut cmd = skopeo();
    cmd.arg("copy");
    if all {
        cmd.arg("--all");
    }
    cmd.args(src.skopeo_args("src"))
        .args(dst.skopeo_args("dest"))
        .arg(format!("docker://{}", src.reference(src_ref)))
        .arg(format!("docker://{}", dst.reference(dst_ref)));
    run_ok(&mut cmd)
}

/// `skopeo copy oci:LAYOUT:TAG docker://REGISTRY/REF` (push a layout the harness wrote).
pub fn push_layout(layout: &Path, tag: &str, dst: &Registry, dst_ref: &str) -> Output {
    run_ok(
        skopeo()
            .arg("copy")
            .args(dst.skopeo_args("dest"))
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}", dst.reference(dst_ref))),
    )
}

/// `skopeo copy docker://REGISTRY/REF oci:LAYOUT:TAG` (pull into a layout).
pub fn pull_to_layout(src: &Registry, src_ref: &str, layout: &Path, tag: &str) -> Output {
    run_ok(
        skopeo()
            .arg("copy")
            .args(src.skopeo_args("src"))
            .arg(format!("docker://{}", src.reference(src_ref)))
            .arg(format!("oci:{}:{tag}", layout.display())),
    )
}

/// `skopeo inspect [--raw]` output of `REGISTRY/REF`.
pub fn inspect(src: &Registry, src_ref: &str, raw: bool) -> Vec<u8> {
    let mut cmd = skopeo();
    cmd.arg("inspect").args(src.skopeo_args(""));
    if raw {
        cmd.arg("--raw");
    }
    cmd.arg(format!("docker://{}", src.reference(src_ref)));
    run_ok(&mut cmd).stdout
}
