//! Keys and certificates the fixtures need, made with the `openssl` command at run time (nothing
//! secret is committed): a throw-away CA with a server certificate for 127.0.0.1/localhost (the TLS
//! registry), and the token issuer's signing key plus self-signed certificate (token auth).

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;

use crate::tools::{require_tool, run_ok};

/// A CA and a server certificate signed by it, as PEM files in one directory.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA certificate (what clients must trust). Also copied to `cert_dir/ca.crt`.
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// A directory holding only `ca.crt`: the form skopeo's `--cert-dir` and containers' `certs.d`
    /// expect.
    pub cert_dir: PathBuf,
}

/// Makes a CA (basicConstraints CA:TRUE) and a leaf for `IP:127.0.0.1, DNS:localhost` (CA:FALSE,
/// serverAuth) under `dir`. A self-signed leaf used as its own trust anchor is not enough: webpki
/// (rustls) rejects a CA certificate presented as an end entity.
pub fn make_tls(dir: &Path) -> TlsFiles {
    let openssl = require_tool("openssl");
    std::fs::create_dir_all(dir).unwrap();
    let ca_key = dir.join("ca.key");
    let ca_cert = dir.join("ca.crt");
    let server_key = dir.join("server.key");
    let csr = dir.join("server.csr");
    let server_cert = dir.join("server.crt");
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    run_ok(
        Command::new(&openssl)
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args([
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "3650",
                "-subj",
                "/CN=silo test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout",
            ])
            .arg(&ca_key)
            .arg("-out")
            .arg(&ca_cert),
    );
    run_ok(
        Command::new(&openssl)
            .args([
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-subj", "/CN=127.0.0.1", "-keyout"])
            .arg(&server_key)
            .arg("-out")
            .arg(&csr),
    );
    run_ok(
        Command::new(&openssl)
            .args(["x509", "-req", "-days", "3650", "-set_serial", "2", "-in"])
            .arg(&csr)
            .arg("-CA")
            .arg(&ca_cert)
            .arg("-CAkey")
            .arg(&ca_key)
            .arg("-extfile")
            .arg(&ext)
            .arg("-out")
            .arg(&server_cert),
    );
    let cert_dir = dir.join("certs.d");
    std::fs::create_dir_all(&cert_dir).unwrap();
    std::fs::copy(&ca_cert, cert_dir.join("ca.crt")).unwrap();
    TlsFiles {
        ca_cert,
        server_cert,
        server_key,
        cert_dir,
    }
}

/// The JWS algorithm the token issuer signs with. distribution 2.8 (libtrust) verifies both when
/// the token's `x5c` certificate chains to its `rootcertbundle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 over a 2048-bit RSA key.
    Rs256,
    /// ECDSA P-256 with SHA-256 (fixed-width `r||s` signature, as JWS wants).
    Es256,
}

impl SigningAlg {
    pub fn jws_name(self) -> &'static str {
        match self {
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Es256 => "ES256",
        }
    }
}

/// The token issuer's key (PKCS#8 DER) and its self-signed certificate.
#[derive(Debug, Clone)]
pub struct IssuerKey {
    pub alg: SigningAlg,
    pub pkcs8_der: Vec<u8>,
    /// The certificate as DER (goes into the JWT `x5c` header).
    pub cert_der: Vec<u8>,
    /// The certificate as PEM (the registry's `rootcertbundle`).
    pub cert_pem: PathBuf,
}

/// Generates the issuer key and certificate under `dir` with subject `CN=<issuer>`.
pub fn make_issuer_key(dir: &Path, alg: SigningAlg, issuer: &str) -> IssuerKey {
    let openssl = require_tool("openssl");
    std::fs::create_dir_all(dir).unwrap();
    let key = dir.join("issuer.key");
    let cert_pem = dir.join("issuer.crt");
    let keyopt = match alg {
        SigningAlg::Rs256 => ["RSA", "rsa_keygen_bits:2048"],
        SigningAlg::Es256 => ["EC", "ec_paramgen_curve:P-256"],
    };
    // genpkey writes PKCS#8 ("BEGIN PRIVATE KEY"), which ring reads directly.
    run_ok(
        Command::new(&openssl)
            .args([
                "genpkey",
                "-algorithm",
                keyopt[0],
                "-pkeyopt",
                keyopt[1],
                "-out",
            ])
            .arg(&key),
    );
    run_ok(
        Command::new(&openssl)
            .args(["req", "-x509", "-days", "3650", "-subj"])
            .arg(format!("/CN={issuer}"))
            .arg("-key")
            .arg(&key)
            .arg("-out")
            .arg(&cert_pem),
    );
    IssuerKey {
        alg,
        pkcs8_der: pem_to_der(&key),
        cert_der: pem_to_der(&cert_pem),
        cert_pem,
    }
}

/// The DER bytes of the first PEM block in `path`.
pub fn pem_to_der(path: &Path) -> Vec<u8> {
    let text = crate::tools::read_text(path);
    let b64: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .unwrap_or_else(|e| panic!("{} is not PEM: {e}", path.display()))
}
