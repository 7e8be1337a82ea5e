//! `docker load` of what silo writes, against a real Docker daemon (Debian `docker.io`, started by
//! the harness): a `docker-archive:` written by `silo copy` loads with the same image ID (config
//! digest) and tag. A Linux daemon refuses every Windows image ("cannot load windows image on
//! linux") — it reads the archive's manifest and config to find that out, which the second test
//! checks for the archive `silo base create` (the build's writer) makes; loading it for real
//! needs a Windows host.

use silo_tests::args;
use silo_tests::dockerd::Dockerd;
use silo_tests::image::{Image, Pusher};
use silo_tests::registry::Registry;
use silo_tests::silo_cli::{self, transport_flags};

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn docker_loads_the_archives_silo_writes() {
    let registry = Registry::no_auth();
    let image = Image::random_linux(61, &[200 * 1024, 3000]);
    Pusher::new(&registry).push_image("load/app", &image, Some("v1"));
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("app.tar");
    silo_cli::ok(&args![
        "copy",
        format!("docker://{}", registry.reference("load/app:v1")),
        format!("docker-archive:{}:load/app:v1", archive.display()),
        transport_flags(&registry),
    ]);

    let daemon = Dockerd::start();
    let out = daemon.docker(&["load", "-i", &archive.display().to_string()]);
    assert!(out.status.success(), "docker load failed:\n{}", text(&out));
    assert!(
        text(&out).contains("Loaded image: load/app:v1"),
        "{}",
        text(&out)
    );
    let out = daemon.docker(&["image", "inspect", "--format", "{{.Id}}", "load/app:v1"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        image.config.digest,
        "docker's image ID is the config digest"
    );

    // A Windows image: the daemon parses the archive and refuses it only for its OS.
    let windows = work.path().join("base.tar");
    silo_cli::ok(&args![
        "--root",
        work.path().join("store").display().to_string(),
        "base",
        "create",
        "-t",
        "silo.local/base:1",
        "--os-version",
        "10.0.20348.1",
        "--output",
        format!("docker-archive:{}", windows.display()),
    ]);
    let out = daemon.docker(&["load", "-i", &windows.display().to_string()]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("cannot load windows image on linux"),
        "{}",
        text(&out)
    );
}
