//! Args a Dockerfile gets without declaring them: the automatic platform args (BuildKit's
//! `defaultArgs`) and the predefined proxy args.

use super::BuildOptions;
use crate::dockerfile::shell::Env;

/// Proxy build-args are predefined (usable without ARG) and kept out of history.
pub fn is_proxy_arg(key: &str) -> bool {
    matches!(
        key.to_uppercase().as_str(),
        "HTTP_PROXY" | "HTTPS_PROXY" | "FTP_PROXY" | "NO_PROXY" | "ALL_PROXY"
    )
}

pub(super) fn automatic_arg_names() -> &'static [&'static str] {
    &[
        "BUILDPLATFORM",
        "BUILDOS",
        "BUILDOSVERSION",
        "BUILDARCH",
        "BUILDVARIANT",
        "TARGETPLATFORM",
        "TARGETOS",
        "TARGETOSVERSION",
        "TARGETARCH",
        "TARGETVARIANT",
        "TARGETSTAGE",
    ]
}

/// BuildKit's `defaultArgs` (platform.go) plus `TARGETSTAGE`.
pub(super) fn automatic_args(opts: &BuildOptions, target_stage: &str) -> Env {
    let (b, t) = (&opts.build_platform, &opts.target_platform);
    let mut env = Env::new(opts.host);
    for (k, v) in [
        ("BUILDPLATFORM", b.to_string()),
        ("BUILDOS", b.os.clone()),
        ("BUILDOSVERSION", b.os_version.clone()),
        ("BUILDARCH", b.arch.clone()),
        ("BUILDVARIANT", b.variant.clone()),
        ("TARGETPLATFORM", t.to_string()),
        ("TARGETOS", t.os.clone()),
        ("TARGETOSVERSION", t.os_version.clone()),
        ("TARGETARCH", t.arch.clone()),
        ("TARGETVARIANT", t.variant.clone()),
        ("TARGETSTAGE", target_stage.to_string()),
    ] {
        env.set(k, &v);
    }
    env
}
