//! registries.conf, as skopeo and podman read it (containers-registries.conf(5), the v2 TOML
//! format): `[[registry]]` tables matched by `prefix` that rewrite an image's `location`, list
//! `[[registry.mirror]]`s to pull from, or mark it `blocked` or `insecure`. This module owns the
//! file's lookup, parsing and the rules that turn a reference into the places to pull it from
//! ([`RegistriesConf::pull_sources`]) or push it to ([`RegistriesConf::push_target`]); trying
//! those places in order is the client's (`client::mirrors`).
//!
//! The file read is the first of `$CONTAINERS_REGISTRIES_CONF`,
//! `$HOME/.config/containers/registries.conf`, `/etc/containers/registries.conf` that exists.
//! Not read: `registries.conf.d/` drop-ins and the v1 format (refused when met). Keys of the
//! file silo has no use for (`unqualified-search-registries`, `short-name-mode`, `aliases`,
//! `credential-helpers`) are accepted and ignored: silo resolves short names to docker.io, as
//! docker does. Keys it does not know inside a `[[registry]]` table are refused, so a misspelt
//! `mirror` never silently does nothing.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::reference::Reference;

/// The parsed file (empty when there is none), and where it came from for messages.
#[derive(Debug, Clone, Default)]
pub struct RegistriesConf {
    pub path: Option<PathBuf>,
    registries: Vec<RegistryEntry>,
}

/// One `[[registry]]` table after checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEntry {
    /// What it matches: a reference prefix (`host[/path][:tag|@digest]`) or `*.domain`.
    pub prefix: String,
    /// Where images it matches really are (the prefix itself when the table has no location).
    pub location: String,
    pub insecure: bool,
    pub blocked: bool,
    pub mirrors: Vec<Mirror>,
}

/// One `[[registry.mirror]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    pub location: String,
    pub insecure: bool,
    pub pull_from: PullFrom,
}

/// Which pulls a mirror serves (`pull-from-mirror`; `mirror-by-digest-only = true` of the
/// registry means `DigestOnly` for all its mirrors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullFrom {
    All,
    DigestOnly,
    TagOnly,
}

/// One place to pull an image from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSource {
    pub reference: Reference,
    /// A mirror's (`false` for the registry's own location).
    pub mirror: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct FileToml {
    #[serde(default)]
    registry: Vec<RegistryToml>,
    /// The v1 format's `[registries.search]`/`[registries.insecure]`/`[registries.block]`.
    registries: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RegistryToml {
    prefix: Option<String>,
    location: Option<String>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    #[serde(default)]
    mirror: Vec<MirrorToml>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct MirrorToml {
    location: String,
    #[serde(default)]
    insecure: bool,
    pull_from_mirror: Option<String>,
}

impl RegistriesConf {
    /// The file of the process's environment (see the module's doc), or none.
    pub fn load_default() -> Result<RegistriesConf> {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let home = var("HOME").map(PathBuf::from);
        match default_path(var("CONTAINERS_REGISTRIES_CONF").map(PathBuf::from), home) {
            Some(path) => RegistriesConf::load(&path),
            None => Ok(RegistriesConf::default()),
        }
    }

    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<RegistriesConf> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let mut conf = RegistriesConf::parse(&text).map_err(|reason| Error::Config {
            path: path.to_path_buf(),
            reason,
        })?;
        conf.path = Some(path.to_path_buf());
        Ok(conf)
    }

    /// Parses the text of a registries.conf; the error says what is wrong.
    pub fn parse(text: &str) -> std::result::Result<RegistriesConf, String> {
        let file: FileToml = toml::from_str(text).map_err(|e| e.to_string())?;
        if file.registries.is_some() {
            return Err(
                "the v1 format ([registries.search], [registries.insecure], \
                        [registries.block]) is not supported; write [[registry]] tables (v2)"
                    .into(),
            );
        }
        let registries = file
            .registry
            .into_iter()
            .map(RegistryEntry::check)
            .collect::<std::result::Result<_, _>>()?;
        Ok(RegistriesConf {
            path: None,
            registries,
        })
    }

    /// The entry whose prefix matches `r` best (the longest), as containers/image picks it.
    pub fn find(&self, r: &Reference) -> Option<&RegistryEntry> {
        let text = r.to_string();
        self.registries
            .iter()
            .filter(|e| e.matches(&text))
            .max_by_key(|e| e.prefix.len())
    }

    /// Where to pull `r` from, in order: the mirrors that serve this kind of reference (tag or
    /// digest), then the registry's own location. Fails when `r` is blocked.
    pub fn pull_sources(&self, r: &Reference) -> Result<Vec<PullSource>> {
        let Some(entry) = self.find(r) else {
            return Ok(vec![PullSource {
                reference: r.clone(),
                mirror: false,
            }]);
        };
        self.refuse_blocked(r, entry)?;
        let by_digest = r.digest().is_some();
        let mut sources = Vec::new();
        for m in &entry.mirrors {
            let serves = match m.pull_from {
                PullFrom::All => true,
                PullFrom::DigestOnly => by_digest,
                PullFrom::TagOnly => !by_digest,
            };
            if serves {
                sources.push(PullSource {
                    reference: self.rewrite(r, entry, &m.location)?,
                    mirror: true,
                });
            }
        }
        sources.push(PullSource {
            reference: self.rewrite(r, entry, &entry.location)?,
            mirror: false,
        });
        Ok(sources)
    }

    /// Where a push of `r` goes: the registry's location (never a mirror, as containers/image
    /// does). Fails when `r` is blocked.
    pub fn push_target(&self, r: &Reference) -> Result<Reference> {
        match self.find(r) {
            None => Ok(r.clone()),
            Some(entry) => {
                self.refuse_blocked(r, entry)?;
                self.rewrite(r, entry, &entry.location)
            }
        }
    }

    /// Refuses any access to a reference under a `blocked = true` table.
    pub fn check_not_blocked(&self, r: &Reference) -> Result<()> {
        match self.find(r) {
            Some(entry) => self.refuse_blocked(r, entry),
            None => Ok(()),
        }
    }

    /// Whether `host` (`host[:port]`) is the location of an `insecure = true` registry or
    /// mirror: then plain HTTP is allowed for it and its certificate is not verified.
    pub fn is_insecure_host(&self, host: &str) -> bool {
        let host_of = |location: &str| location.split('/').next().unwrap_or("").to_string();
        self.registries.iter().any(|e| {
            (e.insecure
                && match e.prefix.strip_prefix("*.") {
                    Some(domain) => host_matches_wildcard(host, domain),
                    None => host_of(&e.location) == host,
                })
                || e.mirrors
                    .iter()
                    .any(|m| m.insecure && host_of(&m.location) == host)
        })
    }

    /// Whether any registry or mirror is marked `insecure`.
    pub fn has_insecure(&self) -> bool {
        self.registries
            .iter()
            .any(|e| e.insecure || e.mirrors.iter().any(|m| m.insecure))
    }

    fn refuse_blocked(&self, r: &Reference, entry: &RegistryEntry) -> Result<()> {
        if entry.blocked {
            return Err(Error::Blocked {
                reference: r.to_string(),
                prefix: entry.prefix.clone(),
                path: self.path.clone().unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// `r` with the entry's prefix replaced by `location`.
    fn rewrite(&self, r: &Reference, entry: &RegistryEntry, location: &str) -> Result<Reference> {
        if entry.prefix.starts_with("*.") || location == entry.prefix {
            return Ok(r.clone());
        }
        let text = r.to_string();
        let rewritten = format!("{location}{}", &text[entry.prefix.len()..]);
        Reference::parse(&rewritten).map_err(|e| Error::Config {
            path: self.path.clone().unwrap_or_default(),
            reason: format!(
                "[[registry]] prefix {:?} rewrites {text} to {rewritten:?}, which is not a \
                 reference: {e}",
                entry.prefix
            ),
        })
    }
}

/// The first registries.conf that exists: `explicit` (`$CONTAINERS_REGISTRIES_CONF`), the
/// user's, the system's.
fn default_path(explicit: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        // Named explicitly: a missing file is an error when it is read, not passed over.
        return Some(p);
    }
    let user = home.map(|h| h.join(".config/containers/registries.conf"));
    user.into_iter()
        .chain(std::iter::once(PathBuf::from(
            "/etc/containers/registries.conf",
        )))
        .find(|p| p.is_file())
}

fn host_matches_wildcard(host: &str, domain: &str) -> bool {
    let name = host.split(':').next().unwrap_or(host);
    name.len() > domain.len()
        && name.ends_with(domain)
        && name.as_bytes()[name.len() - domain.len() - 1] == b'.'
}

impl RegistryEntry {
    fn check(t: RegistryToml) -> std::result::Result<RegistryEntry, String> {
        let location = t.location.filter(|l| !l.is_empty());
        let prefix = match (t.prefix.filter(|p| !p.is_empty()), &location) {
            (Some(p), _) => p,
            (None, Some(l)) => l.clone(),
            (None, None) => {
                return Err("a [[registry]] table needs a prefix or a location".into());
            }
        };
        let normal = |what: &str, text: &str| -> std::result::Result<String, String> {
            let t = text.trim_end_matches('/');
            if t.contains("://") {
                return Err(format!(
                    "{what} {text:?}: no scheme (write host[:port][/path])"
                ));
            }
            Ok(normalize_host_part(t))
        };
        let wildcard = prefix.starts_with("*.");
        if wildcard && location.is_some() {
            return Err(format!(
                "prefix {prefix:?} is a wildcard: the table must not have a location"
            ));
        }
        if wildcard && !t.mirror.is_empty() {
            return Err(format!(
                "prefix {prefix:?}: mirrors of a wildcard prefix are not supported by silo"
            ));
        }
        let prefix = if wildcard {
            prefix
        } else {
            normal("prefix", &prefix)?
        };
        let location = match location {
            Some(l) => normal("location", &l)?,
            None => prefix.clone(),
        };
        let mut mirrors = Vec::new();
        for m in t.mirror {
            let pull_from = match (m.pull_from_mirror.as_deref(), t.mirror_by_digest_only) {
                (None, false) | (Some("all"), false) => PullFrom::All,
                (None, true) | (Some("digest-only"), _) => PullFrom::DigestOnly,
                (Some("tag-only"), false) => PullFrom::TagOnly,
                (Some(other @ ("all" | "tag-only")), true) => {
                    return Err(format!(
                        "mirror {:?}: pull-from-mirror = {other:?} contradicts the registry's \
                         mirror-by-digest-only = true",
                        m.location
                    ))
                }
                (Some(other), _) => {
                    return Err(format!(
                        "mirror {:?}: pull-from-mirror = {other:?}: expected \"all\", \
                         \"digest-only\" or \"tag-only\"",
                        m.location
                    ))
                }
            };
            mirrors.push(Mirror {
                location: normal("mirror location", &m.location)?,
                insecure: m.insecure,
                pull_from,
            });
        }
        Ok(RegistryEntry {
            prefix,
            location,
            insecure: t.insecure,
            blocked: t.blocked,
            mirrors,
        })
    }

    /// Whether the reference `text` (as [`Reference`] prints it) falls under this entry: equal
    /// to the prefix, or continuing it at a `/`, `:` or `@`; `*.domain` matches hosts below it.
    fn matches(&self, text: &str) -> bool {
        if let Some(domain) = self.prefix.strip_prefix("*.") {
            let host = text.split('/').next().unwrap_or("");
            return host_matches_wildcard(host, domain);
        }
        match text.strip_prefix(self.prefix.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with(['/', ':', '@']),
            None => false,
        }
    }
}

/// A prefix or location as [`Reference`] prints names: the host lowercased, Docker Hub's
/// aliases as `docker.io`, and `docker.io/NAME` as `docker.io/library/NAME`.
fn normalize_host_part(text: &str) -> String {
    let (host, rest) = match text.split_once('/') {
        Some((h, r)) => (h, Some(r)),
        None => (text, None),
    };
    let host = crate::reference::normalize_registry(&host.to_ascii_lowercase());
    match rest {
        Some(r) if host == crate::reference::DOCKER_HUB && !r.contains('/') => {
            format!("{host}/library/{r}")
        }
        Some(r) => format!("{host}/{r}"),
        None => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    fn refs(sources: Vec<PullSource>) -> Vec<String> {
        sources
            .into_iter()
            .map(|s| s.reference.to_string())
            .collect()
    }

    const CONF: &str = r#"
unqualified-search-registries = ["docker.io"]

[[registry]]
prefix = "example.com/team"
location = "internal.example:5000/mirror/team"
mirror-by-digest-only = false
[[registry.mirror]]
location = "m1.example:5000/team"
[[registry.mirror]]
location = "m2.example/x"
pull-from-mirror = "digest-only"

[[registry]]
location = "docker.io"
[[registry.mirror]]
location = "hub-cache.example"
insecure = true

[[registry]]
prefix = "example.com/team/secret"
blocked = true

[[registry]]
prefix = "*.untrusted.example"
insecure = true
"#;

    #[test]
    fn mirrors_in_order_then_the_location_and_digest_only_mirrors_for_digests() {
        let conf = RegistriesConf::parse(CONF).unwrap();
        assert_eq!(
            refs(conf.pull_sources(&r("example.com/team/app:1")).unwrap()),
            [
                "m1.example:5000/team/app:1",
                "internal.example:5000/mirror/team/app:1"
            ]
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            refs(
                conf.pull_sources(&r(&format!("example.com/team/app@{digest}")))
                    .unwrap()
            ),
            [
                format!("m1.example:5000/team/app@{digest}"),
                format!("m2.example/x/app@{digest}"),
                format!("internal.example:5000/mirror/team/app@{digest}"),
            ]
        );
        // Docker Hub names as references print them.
        assert_eq!(
            refs(conf.pull_sources(&r("busybox")).unwrap()),
            [
                "hub-cache.example/library/busybox:latest",
                "docker.io/library/busybox:latest"
            ]
        );
        // A prefix matches at a boundary only; nothing else is rewritten.
        assert_eq!(
            refs(conf.pull_sources(&r("example.com/teamx/app:1")).unwrap()),
            ["example.com/teamx/app:1"]
        );
        // Pushes go to the location, never a mirror.
        assert_eq!(
            conf.push_target(&r("example.com/team/app:1"))
                .unwrap()
                .to_string(),
            "internal.example:5000/mirror/team/app:1"
        );
    }

    #[test]
    fn blocked_and_insecure() {
        let conf = RegistriesConf::parse(CONF).unwrap();
        // The longest prefix wins: the blocked table, not its parent's mirrors.
        let err = conf
            .pull_sources(&r("example.com/team/secret/app:1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("blocked"), "{err}");
        assert!(conf.push_target(&r("example.com/team/secret:1")).is_err());
        assert!(conf.is_insecure_host("hub-cache.example"));
        assert!(conf.is_insecure_host("a.untrusted.example:5000"));
        assert!(!conf.is_insecure_host("untrusted.example"));
        assert!(!conf.is_insecure_host("m1.example:5000"));
    }

    #[test]
    fn bad_files_are_refused_saying_why() {
        for (text, says) in [
            ("[registries.search]\nregistries = []", "v1 format"),
            (
                "[[registry]]\nprefix = \"a.example\"\nmirrors = []",
                "unknown field",
            ),
            ("[[registry]]\ninsecure = true", "prefix or a location"),
            (
                "[[registry]]\nprefix = \"*.a.example\"\nlocation = \"b.example\"",
                "wildcard",
            ),
            (
                "[[registry]]\nlocation = \"a.example\"\nmirror-by-digest-only = true\n\
                 [[registry.mirror]]\nlocation = \"m.example\"\npull-from-mirror = \"all\"",
                "contradicts",
            ),
            (
                "[[registry]]\nlocation = \"https://a.example\"",
                "no scheme",
            ),
            ("[[registry]\n", "TOML parse error"),
        ] {
            let err = RegistriesConf::parse(text).unwrap_err();
            eprintln!("{text:?} → {err}");
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn the_file_named_by_the_environment_wins_then_the_users() {
        let dir = tempfile::tempdir().unwrap();
        let named = dir.path().join("named.conf");
        assert_eq!(
            default_path(Some(named.clone()), Some(dir.path().into())),
            Some(named)
        );
        let user = dir.path().join(".config/containers/registries.conf");
        std::fs::create_dir_all(user.parent().unwrap()).unwrap();
        std::fs::write(&user, "").unwrap();
        assert_eq!(default_path(None, Some(dir.path().into())), Some(user));
    }
}
