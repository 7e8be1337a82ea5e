//! Image references (`[registry[:port]/]repository[:tag][@digest]`) with Docker's normalization:
//! a first component without `.`/`:` that is not `localhost` is part of the repository on
//! `docker.io`; single-component Docker Hub names get `library/`; `index.docker.io` is `docker.io`;
//! no tag and no digest means `latest`.

use std::fmt;

use crate::error::{Error, Result};

/// The canonical name of Docker Hub.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's API.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    /// Parse and normalize `input`.
    pub fn parse(input: &str) -> Result<Self> {
        let bad = |reason: &str| Error::Reference {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.len() > 4096 {
            return Err(bad("longer than 4096 characters"));
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => {
                validate_digest(d).map_err(|r| bad(&r))?;
                (n, Some(d.to_string()))
            }
            None => (s, None),
        };
        // The tag is after the last ':' that follows the last '/', so "host:5000/repo" has none.
        let last_slash = name_tag.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&name_tag[..at], Some(name_tag[at + 1..].to_string()))
            }
            None => (name_tag, None),
        };
        if let Some(t) = &tag {
            validate_tag(t).map_err(|r| bad(&r))?;
        }
        let (registry, mut repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        // Hostnames are case-insensitive; store them lowercase so cache keys agree.
        let registry = normalize_registry(&registry.to_ascii_lowercase());
        if registry == DOCKER_HUB && !repository.contains('/') {
            repository = format!("library/{repository}");
        }
        validate_repository(&repository).map_err(|r| bad(&r))?;
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_string())
        } else {
            tag
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The registry as written in references (`docker.io`, `127.0.0.1:5000`, …).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host[:port] to connect to (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// What to put after `/manifests/`: the digest when there is one, else the tag.
    pub fn manifest_ref(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The same repository at another tag or digest.
    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference {
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }

    /// The same image in another repository of the same registry (used for mounts).
    pub fn with_repository(&self, repository: &str) -> Reference {
        Reference {
            repository: repository.to_string(),
            ..self.clone()
        }
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Reference::parse(s)
    }
}

/// `index.docker.io` and `registry-1.docker.io` are Docker Hub's canonical `docker.io`.
pub fn normalize_registry(host: &str) -> String {
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_string()
        }
        other => other.to_string(),
    }
}

/// `algorithm:hex` with a known algorithm and the right hex length.
pub fn validate_digest(d: &str) -> std::result::Result<(), String> {
    let (alg, hex) = d
        .split_once(':')
        .ok_or_else(|| format!("digest {d:?} has no algorithm (expected sha256:<64 hex>)"))?;
    let want = match alg {
        "sha256" => 64,
        "sha512" => 128,
        _ => {
            return Err(format!(
                "digest algorithm {alg:?} is not supported (sha256, sha512)"
            ))
        }
    };
    if hex.len() != want
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!("digest {d:?} needs {want} lowercase hex digits"));
    }
    Ok(())
}

fn validate_tag(t: &str) -> std::result::Result<(), String> {
    let ok = !t.is_empty()
        && t.len() <= 128
        && t.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && (b == b'.' || b == b'-'))
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag {t:?} must match [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}"
        ))
    }
}

/// Path components `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` joined by `/`.
fn validate_repository(r: &str) -> std::result::Result<(), String> {
    if r.len() > 255 {
        return Err("repository name is longer than 255 characters".into());
    }
    for comp in r.split('/') {
        let b = comp.as_bytes();
        let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        let mut ok = !b.is_empty() && alnum(b[0]) && alnum(b[b.len() - 1]);
        let mut i = 0;
        while ok && i < b.len() {
            if !alnum(b[i]) {
                // A separator run: ".", "_", "__" or one or more "-".
                let start = i;
                while i < b.len() && !alnum(b[i]) {
                    i += 1;
                }
                let sep = &comp[start..i];
                ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
                continue;
            }
            i += 1;
        }
        if !ok {
            return Err(format!(
                "repository component {comp:?} must be lowercase letters/digits separated by '.', '_', '__' or '-'"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn docker_hub_normalization() {
        let r = p("busybox");
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(p("user/app:1").to_string(), "docker.io/user/app:1");
        assert_eq!(
            p("index.docker.io/library/alpine").to_string(),
            "docker.io/library/alpine:latest"
        );
        assert_eq!(p("docker.io/nginx").repository(), "library/nginx");
    }

    #[test]
    fn registries_ports_localhost() {
        let r = p("127.0.0.1:5000/test/img1:v1");
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "test/img1");
        assert_eq!(r.tag(), Some("v1"));
        let r = p("localhost/app");
        assert_eq!(r.registry(), "localhost");
        assert_eq!(r.tag(), Some("latest"));
        let r = p("localhost:5000/app");
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(
            p("mcr.microsoft.com/windows/nanoserver:ltsc2022").repository(),
            "windows/nanoserver"
        );
        // A port-looking suffix on a single component is a tag on Docker Hub.
        assert_eq!(p("app:5000").to_string(), "docker.io/library/app:5000");
    }

    #[test]
    fn digests() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = p(&format!("example.com/a/b@{d}"));
        assert_eq!(r.digest(), Some(d.as_str()));
        assert_eq!(r.tag(), None);
        assert_eq!(r.manifest_ref(), d);
        let r = p(&format!("example.com/a/b:t@{d}"));
        assert_eq!(r.tag(), Some("t"));
        assert_eq!(r.manifest_ref(), d);
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "UPPER/case",
            "a//b",
            "a/b:",
            "a/b:-tag",
            "a/b@sha256:abc",
            "a/b@md5:0123",
            "example.com/-a",
            "a/b__c__/d",
            &format!("a:{}", "x".repeat(200)),
        ] {
            let e = Reference::parse(bad);
            assert!(e.is_err(), "{bad:?} parsed as {:?}", e.unwrap());
            assert!(e
                .unwrap_err()
                .to_string()
                .contains("invalid image reference"));
        }
    }

    #[test]
    fn separators() {
        p("a.b_c__d-e---f/g");
        assert!(Reference::parse("a..b").is_err());
        assert!(Reference::parse("a___b").is_err());
    }
}
