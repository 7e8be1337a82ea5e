//! Named build contexts (`--build-context NAME=VALUE`, buildx's): a name in `FROM NAME`,
//! `COPY --from=NAME` or `RUN --mount=from=NAME` that stands for something other than what the
//! name alone would find. VALUE is
//! - `docker-image://LOCATION`: an image, at any location silo reads
//!   ([`crate::store::ImageLocation`]: a bare name — the store's, else the registry's —
//!   `docker://REF`, `oci:DIR[:tag]`, `docker-archive:FILE[:ref]`);
//! - `oci-layout://DIR[:TAG|@sha256:…]`: the image in an OCI layout directory;
//! - a local directory: files for `COPY --from=NAME` (not a base: a Windows image needs a base
//!   layer with hives).
//!
//! URLs (`https://`, git) are refused: silo fetches no remote contexts. A name is matched as
//! written in the Dockerfile (after ARG expansion); a context named as a stage replaces the
//! stage (the engine's `stage.rs` does that).

use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a named context is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContext {
    /// An image, as an image-location text ([`crate::store::ImageLocation::parse`] reads it).
    Image(String),
    /// A local directory.
    Dir(PathBuf),
}

/// The build's named contexts by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamedContexts(BTreeMap<String, NamedContext>);

/// The accepted VALUE forms, for error messages and `--help`.
pub const ACCEPTED: &str =
    "docker-image://IMAGE (a store name, docker://REF, oci:DIR[:tag], docker-archive:FILE), \
     oci-layout://DIR[:TAG|@sha256:DIGEST], or a local directory";

impl NamedContexts {
    /// Parses every `--build-context NAME=VALUE`.
    pub fn parse(flags: &[String]) -> Result<NamedContexts, String> {
        let mut out = BTreeMap::new();
        for flag in flags {
            let (name, context) = parse_one(flag)?;
            if out.insert(name.clone(), context).is_some() {
                return Err(format!("--build-context {name}: given twice"));
            }
        }
        Ok(NamedContexts(out))
    }

    pub fn get(&self, name: &str) -> Option<&NamedContext> {
        self.0.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

fn parse_one(flag: &str) -> Result<(String, NamedContext), String> {
    let (name, value) = flag
        .split_once('=')
        .filter(|(n, v)| !n.is_empty() && !v.is_empty())
        .ok_or_else(|| {
            format!("--build-context {flag}: expected NAME=VALUE; VALUE is {ACCEPTED}")
        })?;
    let bad = |why: &str| format!("--build-context {flag}: {why}; VALUE is {ACCEPTED}");
    let context = if let Some(image) = value.strip_prefix("docker-image://") {
        if image.is_empty() {
            return Err(bad("docker-image:// needs an image"));
        }
        NamedContext::Image(image.to_string())
    } else if let Some(layout) = value.strip_prefix("oci-layout://") {
        if layout.is_empty() {
            return Err(bad("oci-layout:// needs a directory"));
        }
        // silo's own spelling of the same thing.
        NamedContext::Image(format!("oci:{layout}"))
    } else if value.contains("://") || value.starts_with("git@") {
        return Err(bad(
            "URL contexts (https://, git) are not supported: silo fetches no remote build \
             context; clone or download it and pass the directory",
        ));
    } else if value.starts_with("target:") {
        return Err(bad("target: contexts are bake's, not a build's"));
    } else {
        let dir = PathBuf::from(value);
        if !dir.is_dir() {
            return Err(bad(&format!("{value} is not a directory")));
        }
        NamedContext::Dir(dir)
    };
    Ok((name.to_string(), context))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_buildxs() {
        let dir = tempfile::tempdir().unwrap();
        let dir_text = dir.path().display().to_string();
        let parsed = NamedContexts::parse(&[
            "base=docker-image://silo.local/base:1".into(),
            "app=oci-layout:///tmp/out:v1".into(),
            format!("files={dir_text}"),
        ])
        .unwrap();
        assert_eq!(
            parsed.get("base"),
            Some(&NamedContext::Image("silo.local/base:1".into()))
        );
        assert_eq!(
            parsed.get("app"),
            Some(&NamedContext::Image("oci:/tmp/out:v1".into()))
        );
        assert_eq!(
            parsed.get("files"),
            Some(&NamedContext::Dir(dir.path().to_path_buf()))
        );
        for (flag, says) in [
            ("x=https://example.com/ctx.tar", "URL contexts"),
            ("x=git@github.com:a/b.git", "URL contexts"),
            ("x=target:other", "bake"),
            ("x=/no/such/dir", "not a directory"),
            ("x", "expected NAME=VALUE"),
            ("=docker-image://a", "expected NAME=VALUE"),
        ] {
            let err = NamedContexts::parse(&[flag.into()]).unwrap_err();
            assert!(
                err.contains(says) && err.contains("docker-image://"),
                "{flag}: {err}"
            );
        }
        let twice =
            NamedContexts::parse(&["a=docker-image://x".into(), "a=docker-image://y".into()])
                .unwrap_err();
        assert!(twice.contains("given twice"), "{twice}");
    }
}
