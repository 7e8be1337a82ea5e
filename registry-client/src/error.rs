//! The crate's error type: every variant names what failed, where (registry, repository, digest,
//! file) and, where the fix is not obvious, what to do. No variant ever carries a secret; URLs are
//! shown without their query string (signed CDN URLs and upload states live there).

use std::path::PathBuf;

use oci_spec::image::Digest;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid image reference {input:?}: {reason}")]
    Reference { input: String, reason: String },

    #[error("invalid platform {input:?}: {reason} (expected os/arch[/variant][:os.version], e.g. windows/amd64:10.0.20348)")]
    Platform { input: String, reason: String },

    #[error("{method} {url}: {source}")]
    Connect {
        method: String,
        url: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("{method} {url}: HTTP {status}{detail}")]
    Status {
        method: String,
        url: String,
        status: u16,
        /// `: CODE message` from the registry's error body, when it sent one.
        detail: String,
    },

    #[error("authentication with {registry} failed: {reason}")]
    Auth { registry: String, reason: String },

    #[error("manifest {reference}: {reason}")]
    Manifest { reference: String, reason: String },

    #[error("blob {digest}: content does not match its digest (got {actual}); nothing was stored — the registry or a proxy corrupted it, retry or report it")]
    DigestMismatch { digest: Digest, actual: String },

    #[error("blob {digest}: expected {expected} bytes, received {actual}")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        actual: u64,
    },

    #[error("blob {digest}: no data for {seconds}s from {url} (stalled); retries exhausted")]
    Stalled {
        digest: Digest,
        url: String,
        seconds: u64,
    },

    #[error("foreign layer {digest}: {reason}")]
    Foreign { digest: Digest, reason: String },

    #[error("no manifest in {reference} fits {wanted}:\n{reasons}")]
    NoMatchingPlatform {
        reference: String,
        wanted: String,
        reasons: String,
    },

    #[error("credentials in {}: {reason}", path.display())]
    CredentialFile { path: PathBuf, reason: String },

    #[error("credential helper docker-credential-{helper}: {reason}")]
    CredentialHelper { helper: String, reason: String },

    #[error("{}: {reason}", path.display())]
    Config { path: PathBuf, reason: String },

    #[error("{reference}: the registry is blocked (prefix {prefix:?}, blocked = true in {})", path.display())]
    Blocked {
        reference: String,
        prefix: String,
        path: PathBuf,
    },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Wrap an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// HTTP status of a `Status` error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A URL for messages: scheme, host, port and path, never the query (signatures, upload state).
pub fn display_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_url_drops_query_and_userinfo() {
        let u = url::Url::parse("https://user:pw@cdn.example/blob?sig=SECRET&x=1").unwrap();
        let s = display_url(&u);
        assert_eq!(s, "https://cdn.example/blob");
        assert!(!s.contains("SECRET") && !s.contains("pw"));
    }
}
