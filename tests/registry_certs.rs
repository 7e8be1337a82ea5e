//! Trusting a registry's certificate the ways docker, skopeo and OpenSSL users do — and the
//! error when nothing trusts it (issue #17): a real docker-registry serving HTTPS with a
//! certificate from a throw-away CA on 127.0.0.1.

use silo_tests::registry::Registry;
use silo_tests::{silo_in, silo_ok_in};

#[test]
fn an_untrusted_certificate_is_reported_and_certs_d_and_ssl_cert_file_trust_it() {
    let registry = Registry::tls();
    let ca = registry
        .ca_cert()
        .expect("a TLS registry has a CA")
        .to_path_buf();
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    silo_tests::base_in(root, "certs:1", "10.0.20348.1");
    let target = registry.reference("certs/app:1");

    // Nothing trusts the CA: the certificate error, not the plain-HTTP fallback's 400.
    let out = silo()
        .env("SILO_ROOT", root)
        .args(["push", "certs:1", &target, "--retries", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("certificate") || err.contains("UnknownIssuer"),
        "the certificate error is shown: {err}"
    );
    assert!(
        !err.contains("HTTP request to an HTTPS server") && !err.contains("400"),
        "{err}"
    );

    // containers' certs.d layout: DIR/HOST:PORT/ca.crt.
    let certs_d = t.path().join("certs.d");
    let host_dir = certs_d.join(registry.host());
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::copy(&ca, host_dir.join("ca.crt")).unwrap();
    let cert_dir = format!("--cert-dir={}", certs_d.display());
    silo_ok_in(root, &["push", "certs:1", &target, &cert_dir]);

    // OpenSSL's SSL_CERT_FILE.
    let out = silo()
        .env("SILO_ROOT", root)
        .env("SSL_CERT_FILE", &ca)
        .args(["digest", &format!("docker://{target}")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("sha256:"));

    // A client certificate (mutual TLS) in a host folder is refused by name.
    std::fs::write(host_dir.join("client.cert"), "x").unwrap();
    let out = silo_in(root, &["digest", &format!("docker://{target}"), &cert_dir]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("client certificates"), "{err}");
}

fn silo() -> std::process::Command {
    silo_tests::silo()
}
