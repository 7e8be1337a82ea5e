//! Credential flows of `silo push` against the token registry that need stored credentials of a
//! particular kind: an `identitytoken` (OAuth2 refresh token, exchanged by POST
//! `grant_type=refresh_token`) in docker config, and `DOCKER_AUTH_CONFIG` inline JSON.

use base64::Engine as _;
use silo_tests::args;
use silo_tests::registry::Registry;
use silo_tests::silo_cli::{self, transport_flags};

/// A one-layer OCI layout from the harness, written to a temp dir.
fn layout() -> (tempfile::TempDir, silo_tests::image::Image) {
    let image = silo_tests::image::Image::random_linux(41, &[4000]);
    let work = tempfile::tempdir().unwrap();
    image.write_oci_layout(work.path(), "v1");
    (work, image)
}

fn push(
    registry: &Registry,
    src: &std::path::Path,
    home: &std::path::Path,
    dest: &str,
) -> std::process::Output {
    silo_cli::command(
        &args![
            "push",
            format!("oci:{}:v1", src.display()),
            registry.reference(dest),
            transport_flags(registry),
        ],
        home,
    )
    .output()
    .unwrap()
}

#[test]
fn identity_token_in_docker_config_is_exchanged_by_oauth2_post() {
    let registry = Registry::token();
    let (work, image) = layout();
    let home = tempfile::tempdir().unwrap();
    let config_dir = home.path().join("docker");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.json"),
        serde_json::json!({"auths": {registry.host(): {"identitytoken": "refresh-testuser"}}})
            .to_string(),
    )
    .unwrap();
    let out = push(&registry, work.path(), home.path(), "idtok/app:v1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("refresh-testuser"),
        "the refresh token leaked: {stderr}"
    );
    let tokens = registry.token_server().unwrap().requests();
    assert!(
        tokens.iter().any(|t| t.method == "POST"
            && t.grant_type == "refresh_token"
            && t.status == 200
            && t.scopes.first().map(String::as_str) == Some("repository:idtok/app:pull,push")),
        "no refresh_token POST with the push scope first: {tokens:#?}"
    );
    assert!(registry.has_blob(&image.layers[0].blob.digest));
}

#[test]
fn docker_auth_config_env_supplies_credentials() {
    let registry = Registry::htpasswd();
    let (work, image) = layout();
    let home = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("testuser:testpass");
    let inline = serde_json::json!({"auths": {registry.host(): {"auth": auth}}}).to_string();
    let out = silo_cli::command(
        &args![
            "push",
            format!("oci:{}:v1", work.path().display()),
            registry.reference("inline/app:v1"),
            transport_flags(&registry),
        ],
        home.path(),
    )
    .env("DOCKER_AUTH_CONFIG", inline)
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(registry.has_blob(&image.layers[0].blob.digest));
    // Without it the same push is refused, with a message that names the fix.
    let denied = push(&registry, work.path(), home.path(), "inline/other:v1");
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(!denied.status.success());
    assert!(
        stderr.contains("401") && stderr.contains("silo login"),
        "{stderr}"
    );
}
