//! Choosing one manifest from an index, with Windows `os.version` rules. The builder reuses this.
//!
//! - `os.version` is compared numerically (`10.0.20348.999 < 10.0.20348.2700`), unlike
//!   containerd's string ordering.
//! - Process isolation on a host build `H` (windows-layers.md §4.2, containerd's rule): major and
//!   minor equal; if `H < 20348` the image build must equal `H`; otherwise
//!   `LTSC ≤ image build ≤ H`, where `LTSC` is the newest of {20348, 26100} strictly below `H`
//!   (else 20348). Hyper-V isolation runs any image build `≤ H`.
//! - An explicit version (`--platform windows/amd64:10.0.20348[.UBR]` or `--os-version`) matches
//!   entries whose version starts with it (component-wise).
//! - Among acceptable entries: the host's own build first, then the highest version; entries
//!   without `os.version` come last. Every entry gets a verdict with the reason it was or was
//!   not chosen, for `silo inspect`.

use std::cmp::Ordering;
use std::fmt;

use crate::error::{Error, Result};
use crate::manifest::{is_index, too_deep, RawManifest, MAX_INDEX_DEPTH};

/// A Windows (or other) OS version `major.minor.build[.revision]`, compared numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OsVersion {
    pub major: u32,
    pub minor: u32,
    pub build: u32,
    /// The UBR (update build revision); `None` when not given.
    pub revision: Option<u32>,
}

impl OsVersion {
    /// Parse `10.0.20348` or `10.0.20348.2700`.
    pub fn parse(s: &str) -> Option<OsVersion> {
        let parts: Vec<&str> = s.trim().split('.').collect();
        if !(3..=4).contains(&parts.len()) {
            return None;
        }
        let n = |p: &str| -> Option<u32> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                p.parse().ok()
            }
        };
        Some(OsVersion {
            major: n(parts[0])?,
            minor: n(parts[1])?,
            build: n(parts[2])?,
            revision: match parts.get(3) {
                Some(p) => Some(n(p)?),
                None => None,
            },
        })
    }

    fn key(&self) -> (u32, u32, u32, u32) {
        (
            self.major,
            self.minor,
            self.build,
            self.revision.unwrap_or(0),
        )
    }

    /// Whether `self` (a requested prefix) matches `other`: equal components where `self` has them.
    pub fn prefix_of(&self, other: &OsVersion) -> bool {
        self.major == other.major
            && self.minor == other.minor
            && self.build == other.build
            && self.revision.is_none_or(|r| other.revision == Some(r))
    }
}

impl PartialOrd for OsVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OsVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl fmt::Display for OsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)?;
        if let Some(r) = self.revision {
            write!(f, ".{r}")?;
        }
        Ok(())
    }
}

/// The well-known release name of a Windows build, for messages.
pub fn release_name(build: u32) -> Option<&'static str> {
    Some(match build {
        14393 => "ltsc2016",
        17763 => "ltsc2019",
        19041..=19045 => "Windows 10 20H1-22H2",
        20348 => "ltsc2022",
        22000 => "Windows 11 21H2",
        22621 | 22631 => "Windows 11 22H2/23H2",
        25398 => "23H2",
        26100 => "ltsc2025",
        _ => return None,
    })
}

/// How a Windows container will be isolated on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    #[default]
    Process,
    HyperV,
}

/// Whether an image build can run on a host build with this isolation; `Err` says why not.
pub fn windows_compatible(
    host: &OsVersion,
    image: &OsVersion,
    isolation: Isolation,
) -> std::result::Result<(), String> {
    if host.major != image.major || host.minor != image.minor {
        return Err(format!(
            "{image} is not the host's {}.{} family",
            host.major, host.minor
        ));
    }
    match isolation {
        Isolation::HyperV => {
            if image.build <= host.build {
                Ok(())
            } else {
                Err(format!(
                    "build {} is newer than the host build {}; Hyper-V isolation runs only builds ≤ the host",
                    image.build, host.build
                ))
            }
        }
        Isolation::Process if host.build < 20348 => {
            if image.build == host.build {
                Ok(())
            } else {
                Err(format!(
                    "process isolation on host build {} (before 20348) needs exactly that build, not {}; use Hyper-V isolation",
                    host.build, image.build
                ))
            }
        }
        Isolation::Process => {
            let ltsc = [26100u32, 20348]
                .into_iter()
                .find(|b| *b < host.build)
                .unwrap_or(20348);
            if (ltsc..=host.build).contains(&image.build) {
                Ok(())
            } else {
                Err(format!(
                    "process isolation on host build {} runs builds {ltsc}..={}, not {}",
                    host.build, host.build, image.build
                ))
            }
        }
    }
}

/// What the caller wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformRequest {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    /// An explicit version prefix (`:10.0.20348` or `--os-version`).
    pub os_version: Option<OsVersion>,
    /// The host to be compatible with (Windows hosts, or `--host-os-version`).
    pub host: Option<OsVersion>,
    pub isolation: Isolation,
}

impl PlatformRequest {
    /// `windows/amd64` with no version constraint.
    pub fn windows_amd64() -> Self {
        PlatformRequest {
            os: "windows".into(),
            architecture: "amd64".into(),
            variant: None,
            os_version: None,
            host: None,
            isolation: Isolation::Process,
        }
    }

    /// Whether a single (non-index) image whose config is `config` is what was asked for: its
    /// `os`, `architecture` and (when asked) `variant`. Docker refuses a single-platform image
    /// that does not match an explicit `--platform` ("does not match the specified platform")
    /// rather than use it silently; the error says what was wanted and what the image is.
    pub fn check_single_image(&self, config: &[u8]) -> std::result::Result<(), String> {
        let cfg: serde_json::Value = serde_json::from_slice(config)
            .map_err(|e| format!("the image config is not JSON: {e}"))?;
        let field = |k: &str| {
            cfg.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let (os, arch, variant) = (field("os"), field("architecture"), field("variant"));
        let variant_ok = match &self.variant {
            Some(v) => *v == variant,
            None => true,
        };
        if os == self.os && arch == self.architecture && variant_ok {
            return Ok(());
        }
        let is = [os, arch, variant]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("/");
        Err(format!(
            "the image is a single-platform image for {} and does not match the requested \
             platform {} (it has no index to choose from)",
            if is.is_empty() { "no platform" } else { &is },
            self
        ))
    }

    /// Parse `os/arch[/variant][:os.version]`.
    pub fn parse(input: &str) -> Result<Self> {
        let bad = |reason: &str| Error::Platform {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let (plat, version) = match input.split_once(':') {
            Some((p, v)) => (p, Some(v)),
            None => (input, None),
        };
        let parts: Vec<&str> = plat.split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(bad("needs os/arch"));
        }
        let os_version = match version {
            Some(v) => Some(
                OsVersion::parse(v)
                    .ok_or_else(|| bad("os.version must be major.minor.build[.revision] digits"))?,
            ),
            None => None,
        };
        Ok(PlatformRequest {
            os: parts[0].to_ascii_lowercase(),
            architecture: normalize_arch(parts[1]),
            variant: parts.get(2).map(|v| v.to_string()),
            os_version,
            host: None,
            isolation: Isolation::Process,
        })
    }
}

impl fmt::Display for PlatformRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        if let Some(v) = &self.os_version {
            write!(f, ":{v}")?;
        }
        if let Some(h) = &self.host {
            let iso = match self.isolation {
                Isolation::Process => "process",
                Isolation::HyperV => "hyperv",
            };
            write!(f, " (host {h}, {iso} isolation)")?;
        }
        Ok(())
    }
}

fn normalize_arch(a: &str) -> String {
    match a.to_ascii_lowercase().as_str() {
        "x86_64" | "x86-64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        other => other.into(),
    }
}

/// The platform of one index entry, flattened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EntryPlatform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    pub os_version: Option<String>,
    pub os_features: Vec<String>,
}

impl fmt::Display for EntryPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        if let Some(v) = &self.os_version {
            write!(f, " {v}")?;
            if let Some(name) = OsVersion::parse(v).and_then(|v| release_name(v.build)) {
                write!(f, " ({name})")?;
            }
        }
        if !self.os_features.is_empty() {
            write!(f, " [{}]", self.os_features.join(","))?;
        }
        Ok(())
    }
}

/// The verdict on one index entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    pub index: usize,
    pub digest: String,
    pub platform: Option<EntryPlatform>,
    pub chosen: bool,
    pub reason: String,
}

/// The result of selection: the chosen entry (if any) and a verdict for every entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Selection {
    pub chosen: Option<usize>,
    pub verdicts: Vec<Verdict>,
}

impl Selection {
    /// Human-readable verdict lines.
    pub fn explain(&self) -> String {
        self.verdicts
            .iter()
            .map(|v| {
                let p = v
                    .platform
                    .as_ref()
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "(no platform)".into());
                let mark = if v.chosen { "chosen  " } else { "rejected" };
                format!(
                    "  {mark} #{} {p} {}: {}",
                    v.index,
                    short_digest(&v.digest),
                    v.reason
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A digest shortened for messages and progress lines: the algorithm and 12 hex digits
/// (`sha256:0123456789ab`).
pub fn short_digest(digest: &str) -> &str {
    let end = digest
        .find(':')
        .map_or(12, |colon| colon + 1 + 12)
        .min(digest.len());
    &digest[..end]
}

/// Index entries as JSON. Parsed here rather than through oci-spec 0.8, whose `Platform` maps
/// `os_version` to `osVersion` instead of the spec's `os.version` (it would silently lose it).
#[derive(serde::Deserialize)]
struct RawIndex {
    #[serde(default)]
    manifests: Vec<RawEntry>,
}

#[derive(serde::Deserialize)]
struct RawEntry {
    digest: String,
    platform: Option<RawPlatform>,
}

#[derive(serde::Deserialize)]
struct RawPlatform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    variant: Option<String>,
    #[serde(rename = "os.version")]
    os_version: Option<String>,
    #[serde(rename = "os.features")]
    os_features: Option<Vec<String>>,
}

/// Flatten the entries of an index (its raw JSON).
pub fn entries(index_json: &[u8]) -> Result<Vec<(String, Option<EntryPlatform>)>> {
    let idx: RawIndex = serde_json::from_slice(index_json).map_err(|e| Error::Manifest {
        reference: "index".into(),
        reason: format!("malformed index: {e}"),
    })?;
    Ok(idx
        .manifests
        .into_iter()
        .map(|e| {
            let p = e.platform.map(|p| EntryPlatform {
                os: p.os,
                architecture: p.architecture,
                variant: p.variant,
                os_version: p.os_version,
                os_features: p.os_features.unwrap_or_default(),
            });
            (e.digest, p)
        })
        .collect())
}

/// An image-manifest entry reached through an index or an index nested in it.
#[derive(Debug, Clone)]
pub struct LeafEntry {
    pub digest: String,
    pub platform: Option<EntryPlatform>,
    /// The entry's `platform` object exactly as its index has it (keeps `os.version`).
    pub platform_json: Option<serde_json::Value>,
}

/// Index entries with what [`entries`] leaves out: the media type and the raw platform.
#[derive(serde::Deserialize)]
struct DescriptorFacts {
    #[serde(default)]
    manifests: Vec<DescriptorFact>,
}

#[derive(serde::Deserialize)]
struct DescriptorFact {
    digest: String,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    platform: Option<serde_json::Value>,
}

/// Digests of the entries of `index` whose descriptor says they are indexes.
pub fn nested_index_digests(index: &RawManifest) -> Result<Vec<String>> {
    let doc: DescriptorFacts =
        serde_json::from_slice(&index.bytes).map_err(|e| Error::Manifest {
            reference: index.digest.clone(),
            reason: format!("malformed index: {e}"),
        })?;
    Ok(doc
        .manifests
        .into_iter()
        .filter(|d| d.media_type.as_deref().is_some_and(is_index))
        .map(|d| d.digest)
        .collect())
}

/// The entries of `index` in order, each entry that is an index replaced by its own entries,
/// down to [`MAX_INDEX_DEPTH`] levels. `nested(digest)` gives the manifest of an entry when it is
/// an index (`None` for image manifests); an entry whose descriptor says index but which
/// `nested` does not know is an error. The same flattening serves registries (nested indexes
/// fetched first) and local layouts.
pub fn leaf_entries<'m>(
    index: &'m RawManifest,
    source: &str,
    nested: &dyn Fn(&str) -> Option<&'m RawManifest>,
) -> Result<Vec<LeafEntry>> {
    fn walk<'m>(
        index: &'m RawManifest,
        source: &str,
        nested: &dyn Fn(&str) -> Option<&'m RawManifest>,
        depth: usize,
        out: &mut Vec<LeafEntry>,
    ) -> Result<()> {
        if depth > MAX_INDEX_DEPTH {
            return Err(too_deep(source, &index.digest));
        }
        let facts: DescriptorFacts =
            serde_json::from_slice(&index.bytes).map_err(|e| Error::Manifest {
                reference: format!("{source}@{}", index.digest),
                reason: format!("malformed index: {e}"),
            })?;
        for (fact, (digest, platform)) in facts.manifests.into_iter().zip(entries(&index.bytes)?) {
            match nested(&digest) {
                Some(inner) => walk(inner, source, nested, depth + 1, out)?,
                None if fact.media_type.as_deref().is_some_and(is_index) => {
                    return Err(Error::Manifest {
                        reference: format!("{source}@{}", index.digest),
                        reason: format!("nested index {digest} is missing"),
                    })
                }
                None => out.push(LeafEntry {
                    digest,
                    platform,
                    platform_json: fact.platform,
                }),
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(index, source, nested, 0, &mut out)?;
    Ok(out)
}

/// Choose an entry of an index (its raw JSON) for `want`.
pub fn select(index_json: &[u8], want: &PlatformRequest) -> Result<Selection> {
    Ok(select_entries(&entries(index_json)?, want))
}

/// Choose among flattened entries (the testable core of [`select`]).
pub fn select_entries(
    entries: &[(String, Option<EntryPlatform>)],
    want: &PlatformRequest,
) -> Selection {
    let mut verdicts = Vec::new();
    // (entry index, parsed version) of entries that pass every rule.
    let mut ok: Vec<(usize, Option<OsVersion>)> = Vec::new();
    for (i, (digest, plat)) in entries.iter().enumerate() {
        let verdict = |reason: String| Verdict {
            index: i,
            digest: digest.clone(),
            platform: plat.clone(),
            chosen: false,
            reason,
        };
        let Some(p) = plat else {
            verdicts.push(verdict("entry has no platform".into()));
            continue;
        };
        if p.os != want.os {
            verdicts.push(verdict(format!("os {} is not {}", p.os, want.os)));
            continue;
        }
        if normalize_arch(&p.architecture) != want.architecture {
            verdicts.push(verdict(format!(
                "architecture {} is not {}",
                p.architecture, want.architecture
            )));
            continue;
        }
        if let (Some(wv), Some(pv)) = (&want.variant, &p.variant) {
            if wv != pv {
                verdicts.push(verdict(format!("variant {pv} is not {wv}")));
                continue;
            }
        }
        let version = match p.os_version.as_deref() {
            Some(s) => match OsVersion::parse(s) {
                Some(v) => Some(v),
                None => {
                    verdicts.push(verdict(format!("os.version {s:?} is not a version number")));
                    continue;
                }
            },
            None => None,
        };
        if let (Some(req), Some(v)) = (&want.os_version, &version) {
            if !req.prefix_of(v) {
                verdicts.push(verdict(format!(
                    "os.version {v} does not match the requested {req}"
                )));
                continue;
            }
        }
        if let (Some(host), Some(v), "windows") = (&want.host, &version, want.os.as_str()) {
            if let Err(why) = windows_compatible(host, v, want.isolation) {
                verdicts.push(verdict(format!("incompatible: {why}")));
                continue;
            }
        }
        ok.push((i, version));
        verdicts.push(verdict(String::new()));
    }
    // Rank: host's exact build first, then highest version; unknown versions last.
    let host_build = want.host.map(|h| h.build);
    ok.sort_by(|(ia, a), (ib, b)| {
        let rank = |v: &Option<OsVersion>| match v {
            Some(v) => (1u8, u8::from(Some(v.build) == host_build), Some(*v)),
            None => (0, 0, None),
        };
        rank(b).cmp(&rank(a)).then(ia.cmp(ib))
    });
    let chosen = ok.first().map(|(i, _)| *i);
    let chosen_version = ok.first().and_then(|(_, v)| *v);
    for (i, v) in &ok {
        let verdict = &mut verdicts[*i];
        if Some(*i) == chosen {
            verdict.chosen = true;
            verdict.reason = match (v, &want.host, &want.os_version) {
                (Some(v), Some(h), _) if v.build == h.build => {
                    format!("matches the host build {}", h.build)
                }
                (Some(_), Some(h), _) => format!("newest compatible with host {h}"),
                (Some(_), None, Some(r)) => format!("newest matching the requested {r}"),
                (Some(_), None, None) => "newest os.version (no host or version constraint)".into(),
                (None, _, _) => "only match (no os.version to compare)".into(),
            };
        } else {
            verdict.reason = match (v, chosen_version) {
                (Some(v), Some(c)) => format!("compatible, but {v} ranks below the chosen {c}"),
                (None, _) => {
                    "compatible, but has no os.version; entries with one rank first".into()
                }
                (Some(v), None) => format!("compatible ({v}), but ranked lower"),
            };
        }
    }
    Selection { chosen, verdicts }
}

/// The host's Windows version, when running on Windows (`cmd /c ver` prints it with the UBR).
pub fn host_os_version() -> Option<OsVersion> {
    if !cfg!(windows) {
        return None;
    }
    let out = std::process::Command::new("cmd")
        .args(["/c", "ver"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text.find("Version ")? + "Version ".len();
    let rest = &text[start..];
    let end = rest.find(']').unwrap_or(rest.len());
    OsVersion::parse(rest[..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> OsVersion {
        OsVersion::parse(s).unwrap()
    }

    fn win(ver: Option<&str>, feats: &[&str]) -> Option<EntryPlatform> {
        Some(EntryPlatform {
            os: "windows".into(),
            architecture: "amd64".into(),
            variant: None,
            os_version: ver.map(String::from),
            os_features: feats.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn list() -> Vec<(String, Option<EntryPlatform>)> {
        vec![
            (
                "sha256:a".into(),
                Some(EntryPlatform {
                    os: "linux".into(),
                    architecture: "amd64".into(),
                    variant: None,
                    os_version: None,
                    os_features: vec![],
                }),
            ),
            ("sha256:b".into(), win(Some("10.0.17763.3770"), &["win32k"])),
            ("sha256:c".into(), win(Some("10.0.20348.999"), &[])),
            ("sha256:d".into(), win(Some("10.0.20348.2700"), &["win32k"])),
            ("sha256:e".into(), win(Some("10.0.26100.33438"), &[])),
            ("sha256:f".into(), None),
        ]
    }

    fn req(host: Option<&str>, iso: Isolation, ver: Option<&str>) -> PlatformRequest {
        PlatformRequest {
            host: host.map(v),
            isolation: iso,
            os_version: ver.map(v),
            ..PlatformRequest::windows_amd64()
        }
    }

    #[test]
    fn numeric_ordering() {
        assert!(v("10.0.20348.999") < v("10.0.20348.2700"));
        assert!(v("10.0.17763.9999") < v("10.0.20348.1"));
        assert!(v("10.0.20348") < v("10.0.20348.1"));
        for bad in ["", "10", "10.0", "10.0.x", "10.0.1.2.3", "10.0.-1", "10..0"] {
            assert!(OsVersion::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn process_isolation_table() {
        use Isolation::*;
        // (host, image, isolation, compatible)
        let table = [
            ("10.0.17763.1", "10.0.17763.5", Process, true),
            ("10.0.17763.1", "10.0.14393.5", Process, false),
            ("10.0.19045.1", "10.0.17763.5", Process, false),
            ("10.0.20348.1", "10.0.20348.9", Process, true),
            ("10.0.20348.1", "10.0.17763.9", Process, false),
            ("10.0.22621.1", "10.0.20348.9", Process, true),
            ("10.0.26100.1", "10.0.20348.9", Process, true),
            ("10.0.26100.1", "10.0.26100.9", Process, true),
            ("10.0.26200.1", "10.0.20348.9", Process, false),
            ("10.0.26200.1", "10.0.26100.9", Process, true),
            ("10.0.20348.1", "10.0.26100.9", Process, false),
            ("10.0.20348.1", "10.0.17763.9", HyperV, true),
            ("10.0.17763.1", "10.0.20348.9", HyperV, false),
            ("10.0.26100.1", "10.0.14393.9", HyperV, true),
            ("6.3.9600", "10.0.17763", HyperV, false),
        ];
        for (h, i, iso, want) in table {
            assert_eq!(
                windows_compatible(&v(h), &v(i), iso).is_ok(),
                want,
                "host {h} image {i} {iso:?}"
            );
        }
    }

    #[test]
    fn selection_on_hosts() {
        let l = list();
        // No constraint: newest wins.
        let s = select_entries(&l, &PlatformRequest::windows_amd64());
        assert_eq!(s.chosen, Some(4));
        assert!(s.verdicts[0].reason.contains("os linux"));
        assert!(s.verdicts[5].reason.contains("no platform"));
        // A 20348 host with process isolation: highest UBR of 20348, numerically (2700 > 999).
        let s = select_entries(&l, &req(Some("10.0.20348.100"), Isolation::Process, None));
        assert_eq!(s.chosen, Some(3), "{}", s.explain());
        assert!(s.verdicts[2].reason.contains("ranks below"));
        assert!(s.verdicts[1].reason.contains("incompatible"));
        assert!(s.verdicts[4].reason.contains("incompatible"));
        // 26100 host: its own build first even though 20348 is also compatible.
        let s = select_entries(&l, &req(Some("10.0.26100.1"), Isolation::Process, None));
        assert_eq!(s.chosen, Some(4));
        assert!(
            s.verdicts[3].reason.contains("ranks below"),
            "{}",
            s.explain()
        );
        // 17763 host, Hyper-V: only 17763 is ≤ host.
        let s = select_entries(&l, &req(Some("10.0.17763.1"), Isolation::HyperV, None));
        assert_eq!(s.chosen, Some(1));
        // 19045 host, process: nothing (exact build before 20348).
        let s = select_entries(&l, &req(Some("10.0.19045.1"), Isolation::Process, None));
        assert_eq!(s.chosen, None);
        // Explicit version prefix and exact UBR.
        let s = select_entries(&l, &req(None, Isolation::Process, Some("10.0.20348")));
        assert_eq!(s.chosen, Some(3));
        let s = select_entries(&l, &req(None, Isolation::Process, Some("10.0.20348.999")));
        assert_eq!(s.chosen, Some(2));
        assert!(s.verdicts[3].reason.contains("does not match"));
        let s = select_entries(&l, &req(None, Isolation::Process, Some("10.0.14393")));
        assert_eq!(s.chosen, None);
    }

    #[test]
    fn platform_flag_parsing() {
        let p = PlatformRequest::parse("windows/amd64:10.0.20348.2700").unwrap();
        assert_eq!(p.os_version, Some(v("10.0.20348.2700")));
        let p = PlatformRequest::parse("linux/arm64/v8").unwrap();
        assert_eq!(p.variant.as_deref(), Some("v8"));
        assert_eq!(
            PlatformRequest::parse("windows/x86_64")
                .unwrap()
                .architecture,
            "amd64"
        );
        for bad in [
            "windows",
            "windows/",
            "windows/amd64:10.0",
            "a/b/c/d",
            "windows/amd64:ltsc2022",
        ] {
            let e = PlatformRequest::parse(bad).unwrap_err().to_string();
            assert!(e.contains("invalid platform"), "{bad}: {e}");
        }
    }

    /// The real manifest lists recorded in ../shared/fixtures/windows-manifests (markdown pages
    /// with "windows version X; amd64" lines and embedded JSON).
    #[test]
    fn shared_fixture_manifest_lists() {
        let Some(dir) = crate::corpus::shared("fixtures/windows-manifests") else {
            return;
        };
        let page = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        let versions = |text: &str| -> Vec<(String, Option<EntryPlatform>)> {
            text.lines()
                .filter_map(|l| {
                    l.trim()
                        .strip_prefix("-\twindows version ")
                        .or_else(|| l.trim().strip_prefix("- windows version "))
                })
                .map(|rest| {
                    let ver = rest.split(';').next().unwrap().trim().to_string();
                    (format!("sha256:{ver}"), win(Some(&ver), &[]))
                })
                .collect()
        };
        // The os.version of the entry selection picks for `request` among `entries`.
        let chosen_version = |entries: &[(String, Option<EntryPlatform>)], request| {
            let s = select_entries(entries, &request);
            entries[s.chosen.unwrap()]
                .1
                .as_ref()
                .unwrap()
                .os_version
                .clone()
        };
        let modern = versions(&page("repo-info__hello-world__nanoserver__11dd8d4.md"));
        assert_eq!(modern.len(), 2, "{modern:?}");
        assert_eq!(
            chosen_version(&modern, req(Some("10.0.20348.1"), Isolation::Process, None)).as_deref(),
            Some("10.0.20348.5622")
        );
        assert_eq!(
            chosen_version(&modern, req(Some("10.0.26100.1"), Isolation::Process, None)).as_deref(),
            Some("10.0.26100.33438")
        );
        let s = select_entries(
            &modern,
            &req(Some("10.0.17763.1"), Isolation::Process, None),
        );
        assert_eq!(s.chosen, None, "{}", s.explain());
        let old = versions(&page(
            "repo-info-fork-hiramtibbit__hello-world__nanoserver__a3f172e.md",
        ));
        assert_eq!(old.len(), 2, "{old:?}");
        // 2018 list (14393, 16299): a 16299 host with process isolation takes 16299 exactly,
        // Hyper-V on a 17763 host takes the newest (16299).
        assert_eq!(
            chosen_version(&old, req(Some("10.0.16299.1"), Isolation::Process, None)).as_deref(),
            Some("10.0.16299.309")
        );
        assert_eq!(
            chosen_version(&old, req(Some("10.0.14393.1"), Isolation::Process, None)).as_deref(),
            Some("10.0.14393.2125")
        );
        assert_eq!(
            chosen_version(&old, req(Some("10.0.17763.1"), Isolation::HyperV, None)).as_deref(),
            Some("10.0.16299.309")
        );
        // ggcr's README embeds the real 1-entry list JSON; parse it with oci-spec like a pull does.
        let ggcr = page("go-containerregistry__pkg__v1__tarball__README.md");
        let cmd = ggcr
            .find("crane manifest hello-world:nanoserver | jq .")
            .expect("manifest list listing");
        let open = cmd + ggcr[cmd..].find('{').unwrap();
        let mut depth = 0;
        let mut end = open;
        for (i, c) in ggcr[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        let raw = crate::manifest::RawManifest::from_bytes(
            "ggcr",
            ggcr.as_bytes()[open..end].to_vec(),
            None,
        )
        .unwrap();
        let s = select(
            &raw.bytes,
            &req(Some("10.0.17763.1"), Isolation::Process, None),
        )
        .unwrap();
        assert_eq!(s.chosen, Some(0), "{}", s.explain());
        let s = select(
            &raw.bytes,
            &req(Some("10.0.20348.1"), Isolation::Process, None),
        )
        .unwrap();
        assert_eq!(s.chosen, None);
        assert!(s.explain().contains("10.0.17763.1040"));
    }

    fn index_of(entries: Vec<serde_json::Value>) -> RawManifest {
        let bytes = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": crate::manifest::OCI_INDEX,
            "manifests": entries,
        }))
        .unwrap();
        RawManifest::from_bytes("test", bytes, None).unwrap()
    }

    fn nested_entry(m: &RawManifest) -> serde_json::Value {
        serde_json::json!({"mediaType": crate::manifest::OCI_INDEX, "digest": m.digest, "size": m.bytes.len()})
    }

    #[test]
    fn nested_indexes_flatten_in_order_and_are_bounded() {
        let image = |n: u8, v: &str| {
            serde_json::json!({
                "mediaType": crate::manifest::OCI_MANIFEST,
                "digest": format!("sha256:{}", format!("{n:02x}").repeat(32)),
                "size": 1,
                "platform": {"os": "windows", "architecture": "amd64", "os.version": v},
            })
        };
        let inner = index_of(vec![image(1, "10.0.17763.1"), image(2, "10.0.20348.9")]);
        let root = index_of(vec![image(3, "10.0.26100.1"), nested_entry(&inner)]);
        let map: std::collections::HashMap<String, RawManifest> =
            [(inner.digest.clone(), inner.clone())].into();
        let leaves = leaf_entries(&root, "t", &|d| map.get(d)).unwrap();
        let versions: Vec<_> = leaves
            .iter()
            .map(|l| {
                l.platform_json.as_ref().unwrap()["os.version"]
                    .as_str()
                    .unwrap()
            })
            .collect();
        assert_eq!(versions, ["10.0.26100.1", "10.0.17763.1", "10.0.20348.9"]);
        // A nested index nobody can supply is an error, not a silently skipped entry.
        let err = leaf_entries(&root, "t", &|_| None).unwrap_err().to_string();
        assert!(err.contains("is missing"), "{err}");
        // Five levels below the root: refused; four: fine.
        let mut chain = vec![inner];
        for _ in 0..5 {
            let outer = index_of(vec![nested_entry(chain.last().unwrap())]);
            chain.push(outer);
        }
        let map: std::collections::HashMap<String, RawManifest> = chain
            .iter()
            .map(|m| (m.digest.clone(), m.clone()))
            .collect();
        let err = leaf_entries(&chain[5], "t", &|d| map.get(d))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nested more than 4 levels"), "{err}");
        assert_eq!(
            leaf_entries(&chain[4], "t", &|d| map.get(d)).unwrap().len(),
            2
        );
    }
}
