//! `--cache-to`/`--cache-from` values, parsed with buildx's rules: comma-separated `key=value`
//! pairs led by `type=`, or a bare `REF` meaning `type=registry,ref=REF`. This module owns which
//! cache types and keys silo accepts; every key buildx takes is either done or refused by name.
//!
//! - `type=registry,ref=REF[,mode=min|max][,registry.insecure=true][,ignore-error=true]`
//! - `type=local,dest=DIR[,tag=TAG][,mode=min|max][,ignore-error=true]` (export),
//!   `type=local,src=DIR[,digest=sha256:…|tag=TAG]` (import)
//! - `type=inline` (export only, min mode: the records ride in the image config)

use std::path::PathBuf;

use registry_client::Reference;

use super::remote_cache::RemoteCacheError;

/// Which records `--cache-to` exports (BuildKit's `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// Only the records whose layers are in the result image(s).
    #[default]
    Min,
    /// Every record the build used or created, of every stage.
    Max,
}

/// The tag a local cache is written under and read from when none is given (buildx's).
pub const DEFAULT_LOCAL_TAG: &str = "latest";

/// Where a cache lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheLocation {
    /// A cache manifest in a registry (or, on import, an image carrying an inline cache).
    Registry {
        reference: String,
        /// `registry.insecure=true`: plain HTTP or unverified TLS.
        insecure: bool,
    },
    /// An OCI image layout directory: the cache manifest is an index.json entry.
    Local {
        dir: PathBuf,
        /// The entry: `tag=` (the `org.opencontainers.image.ref.name` annotation) or, on
        /// import only, `digest=` (the manifest digest, as `@sha256:…`).
        entry: LocalEntry,
    },
    /// The result image's config (export only).
    Inline,
}

/// Which index.json entry of a local cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalEntry {
    Tag(String),
    Digest(String),
}

impl std::fmt::Display for CacheLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheLocation::Registry { reference, .. } => f.write_str(reference),
            CacheLocation::Local { dir, entry } => match entry {
                LocalEntry::Tag(tag) => write!(f, "{} (tag {tag})", dir.display()),
                LocalEntry::Digest(digest) => write!(f, "{}@{digest}", dir.display()),
            },
            CacheLocation::Inline => f.write_str("the image config (inline)"),
        }
    }
}

/// One `--cache-to` or `--cache-from` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSpec {
    pub location: CacheLocation,
    pub mode: CacheMode,
    /// `ignore-error=true` (export only): a failed export is a warning.
    pub ignore_error: bool,
}

/// Which flag a spec came from (they accept different options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Export,
    Import,
}

impl Direction {
    pub(super) fn flag(self) -> &'static str {
        match self {
            Direction::Export => "--cache-to",
            Direction::Import => "--cache-from",
        }
    }
}

/// The keys each type takes, for the error that names an unknown one.
fn accepted_keys(kind: &str, direction: Direction) -> &'static str {
    match (kind, direction) {
        ("registry", Direction::Export) => "type, ref, mode, registry.insecure and ignore-error",
        ("registry", Direction::Import) => "type, ref and registry.insecure",
        ("local", Direction::Export) => "type, dest, tag, mode and ignore-error",
        ("local", Direction::Import) => "type, src, digest and tag",
        _ => "type and ignore-error",
    }
}

/// Parses one `--cache-to`/`--cache-from` value.
pub fn parse_spec(text: &str, direction: Direction) -> Result<CacheSpec, RemoteCacheError> {
    let flag = direction.flag();
    let err = |message: String| RemoteCacheError::Spec {
        flag,
        text: text.to_string(),
        message,
    };
    if !text.contains('=') {
        if text.trim().is_empty() {
            return Err(err(
                "expected type=registry,ref=REF, type=local,… or type=inline".into(),
            ));
        }
        let reference = text.trim().to_string();
        Reference::parse(&reference).map_err(|e| err(e.to_string()))?;
        return Ok(CacheSpec {
            location: CacheLocation::Registry {
                reference,
                insecure: false,
            },
            mode: CacheMode::Min,
            ignore_error: false,
        });
    }
    let mut pairs = Vec::new();
    for part in text.split(',') {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| err(format!("{part:?} is not KEY=VALUE")))?;
        pairs.push((key.trim(), value));
    }
    // The type decides which options are valid, so it is checked first.
    let kind = match pairs.iter().find(|(k, _)| *k == "type").map(|(_, v)| *v) {
        Some(kind @ ("registry" | "local")) => kind,
        Some("inline") if direction == Direction::Export => "inline",
        Some("inline") => {
            return Err(err(
                "type=inline is an exporter only; import an image's inline cache with \
                 type=registry,ref=IMAGE"
                    .into(),
            ))
        }
        Some(other @ ("gha" | "s3" | "azblob")) => {
            return Err(err(format!(
                "cache type {other:?} is not supported by silo; use type=registry, type=local \
                 or type=inline"
            )))
        }
        Some(other) => {
            let what = match direction {
                Direction::Export => "exporter",
                Direction::Import => "importer",
            };
            return Err(err(format!("unknown cache {what}: {other:?}")));
        }
        None => {
            return Err(err(
                "type= is required (type=registry,ref=REF, type=local,… or type=inline)".into(),
            ))
        }
    };
    let boolean = |key: &str, value: &str| match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(err(format!("{key}={value}: expected true or false"))),
    };
    let mut mode = CacheMode::Min;
    let mut ignore_error = false;
    let mut insecure = false;
    let mut reference = None;
    let mut dir = None;
    let mut tag = None;
    let mut digest = None;
    for (key, value) in pairs {
        match (kind, key, direction) {
            (_, "type", _) => {}
            ("registry" | "local", "mode", Direction::Export) => {
                mode = match value {
                    "min" => CacheMode::Min,
                    "max" => CacheMode::Max,
                    _ => return Err(err(format!("invalid mode {value:?}: expected min or max"))),
                }
            }
            // buildx refuses max with inline: an image's config can name only its own layers.
            ("inline", "mode", Direction::Export) => {
                if value != "min" {
                    return Err(err(format!(
                        "mode={value} is not possible with type=inline (the image config holds \
                         only the records of the image's own layers: min); use type=registry \
                         or type=local for mode=max"
                    )));
                }
            }
            (_, "ignore-error", Direction::Export) => ignore_error = boolean(key, value)?,
            ("registry", "ref", _) => reference = Some(value.to_string()),
            ("registry", "registry.insecure", _) => insecure = boolean(key, value)?,
            ("local", "dest", Direction::Export) | ("local", "src", Direction::Import) => {
                dir = Some(PathBuf::from(value))
            }
            ("local", "tag", _) => tag = Some(value.to_string()),
            ("local", "digest", Direction::Import) => digest = Some(value.to_string()),
            (_, other, _) => {
                return Err(err(format!(
                    "unknown option {other:?} (silo's {kind} cache {} takes {})",
                    match direction {
                        Direction::Export => "exporter",
                        Direction::Import => "importer",
                    },
                    accepted_keys(kind, direction)
                )))
            }
        }
    }
    let location = match kind {
        "registry" => {
            let reference = reference
                .filter(|r| !r.is_empty())
                .ok_or_else(|| err("ref required for type=registry".into()))?;
            Reference::parse(&reference).map_err(|e| err(e.to_string()))?;
            CacheLocation::Registry {
                reference,
                insecure,
            }
        }
        "local" => {
            let dir_key = match direction {
                Direction::Export => "dest",
                Direction::Import => "src",
            };
            let dir = dir
                .filter(|d| !d.as_os_str().is_empty())
                .ok_or_else(|| err(format!("{dir_key}=DIR required for type=local")))?;
            let entry = match (tag, digest) {
                (Some(_), Some(_)) => {
                    return Err(err("give digest= or tag=, not both".into()));
                }
                (_, Some(digest)) => {
                    if oci_spec::image::Digest::try_from(digest.as_str()).is_err() {
                        return Err(err(format!(
                            "digest={digest}: expected sha256:<64 hex digits>"
                        )));
                    }
                    LocalEntry::Digest(digest)
                }
                (Some(tag), None) => {
                    if tag.is_empty() {
                        return Err(err("tag= is empty".into()));
                    }
                    LocalEntry::Tag(tag)
                }
                (None, None) => LocalEntry::Tag(DEFAULT_LOCAL_TAG.to_string()),
            };
            CacheLocation::Local { dir, entry }
        }
        _ => CacheLocation::Inline,
    };
    Ok(CacheSpec {
        location,
        mode,
        ignore_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str, direction: Direction) -> String {
        parse_spec(text, direction).unwrap_err().to_string()
    }

    #[test]
    fn registry_specs_parse_like_buildx() {
        let spec = parse_spec(
            "type=registry,ref=r.io/a/cache:x,mode=max",
            Direction::Export,
        )
        .unwrap();
        assert_eq!(
            spec.location,
            CacheLocation::Registry {
                reference: "r.io/a/cache:x".into(),
                insecure: false
            }
        );
        assert_eq!(spec.mode, CacheMode::Max);
        let bare = parse_spec("r.io/a/cache:x", Direction::Import).unwrap();
        assert_eq!(bare.location.to_string(), "r.io/a/cache:x");
        assert_eq!(bare.mode, CacheMode::Min);
        let insecure = parse_spec(
            "type=registry,ref=127.0.0.1:5000/c,registry.insecure=true",
            Direction::Import,
        )
        .unwrap();
        assert!(matches!(
            insecure.location,
            CacheLocation::Registry { insecure: true, .. }
        ));
        assert!(err("type=gha", Direction::Export).contains("not supported"));
        assert!(err("type=x,ref=a", Direction::Export).contains("unknown cache exporter"));
        assert!(err("ref=a", Direction::Import).contains("type= is required"));
        assert!(err("type=registry,ref=a,mode=max", Direction::Import).contains("\"mode\""));
        assert!(
            err("type=registry,ref=a,ignore-error=maybe", Direction::Export)
                .contains("true or false")
        );
        assert!(err("type=registry,ref=UPPER/x", Direction::Export).starts_with("--cache-to"));
        assert!(err("UPPER/x", Direction::Import).starts_with("--cache-from"));
    }

    #[test]
    fn local_specs_take_dest_src_tag_and_digest() {
        let to = parse_spec("type=local,dest=/c,mode=max", Direction::Export).unwrap();
        assert_eq!(
            to.location,
            CacheLocation::Local {
                dir: "/c".into(),
                entry: LocalEntry::Tag("latest".into())
            }
        );
        assert_eq!(to.mode, CacheMode::Max);
        let from = parse_spec("type=local,src=/c,tag=main", Direction::Import).unwrap();
        assert_eq!(from.location.to_string(), "/c (tag main)");
        let hex = "a".repeat(64);
        let pinned = parse_spec(
            &format!("type=local,src=/c,digest=sha256:{hex}"),
            Direction::Import,
        )
        .unwrap();
        assert_eq!(pinned.location.to_string(), format!("/c@sha256:{hex}"));
        assert!(err("type=local,src=/c", Direction::Export).contains("\"src\""));
        assert!(err("type=local,dest=/c", Direction::Import).contains("\"dest\""));
        assert!(err("type=local", Direction::Export).contains("dest=DIR required"));
        assert!(err("type=local,src=/c,digest=abc", Direction::Import).contains("sha256:"));
        assert!(err(
            &format!("type=local,src=/c,tag=x,digest=sha256:{hex}"),
            Direction::Import
        )
        .contains("not both"));
        assert!(
            err("type=local,dest=/c,compression=zstd", Direction::Export)
                .contains("dest, tag, mode and ignore-error")
        );
    }

    #[test]
    fn inline_is_export_only_and_min_only() {
        let spec = parse_spec("type=inline", Direction::Export).unwrap();
        assert_eq!(spec.location, CacheLocation::Inline);
        assert_eq!(
            parse_spec("type=inline,mode=min", Direction::Export)
                .unwrap()
                .mode,
            CacheMode::Min
        );
        assert!(err("type=inline,mode=max", Direction::Export).contains("not possible"));
        assert!(err("type=inline", Direction::Import).contains("exporter only"));
        assert!(err("type=inline,ref=a/b", Direction::Export).contains("unknown option"));
    }
}
