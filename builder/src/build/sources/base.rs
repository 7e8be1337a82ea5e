//! Base images of a build: where an image named in `FROM` or `COPY --from` comes from (by the
//! image-location rule of [`ImageLocation::locate`]: a bare name is the store's image when the
//! store holds it, else the registry's; `docker://REF`, `oci:DIR[:tag]`,
//! `docker-archive:FILE[:ref]`), which entry of an index matches the
//! requested platform (by `os.version`), and where each layer's bytes live. Only the manifest and
//! config are read up front; a layer blob is read when a step needs its bytes (RUN, COPY --from)
//! or an output needs to copy it.

use std::io::Read;
use std::path::PathBuf;
use std::rc::Rc;

use oci_spec::image::{Descriptor, Digest, ImageIndex};
use registry_client::platform::{OsVersion, PlatformRequest};

use crate::build::engine::config::ImageConfig;
use crate::build::engine::runtimes::Isolation;
use crate::oci::{self, Flavor};
use crate::runtime::HostTarget;
use crate::store::location::{read_image_manifest, select_index_entry};
use crate::store::registry_source::{RegistryImage, RegistryRefs};
use crate::store::{BlobSource, ImageLocation, ImageSource, Located, Store, StoreError};

/// Where a layer's (or any blob's) bytes can be read.
#[derive(Clone)]
pub enum BlobHome {
    /// The content store.
    Store,
    /// An image source outside the store (an OCI layout or a docker-archive).
    Source(Rc<dyn ImageSource>),
    /// A registry image: the blob is fetched into the store when its bytes are needed.
    Registry(Rc<RegistryImage>),
}

impl std::fmt::Debug for BlobHome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobHome::Store => f.write_str("Store"),
            BlobHome::Source(_) => f.write_str("Source"),
            BlobHome::Registry(image) => write!(f, "Registry({})", image.reference()),
        }
    }
}

impl BlobHome {
    /// Opens the blob for reading.
    pub fn open<'a>(
        &'a self,
        store: &'a Store,
        digest: &Digest,
    ) -> Result<Box<dyn Read + Send + 'a>, StoreError> {
        match self {
            BlobHome::Store => store.open_blob(digest),
            BlobHome::Source(source) => source.open_blob(digest),
            BlobHome::Registry(image) => image.open_blob(digest),
        }
    }

    /// Makes sure the blob is in the store (copying it, verified, when it lives elsewhere) and
    /// returns its path there. This is where a lazy base's layer is finally read.
    pub fn ensure_in_store(
        &self,
        store: &Store,
        descriptor: &Descriptor,
    ) -> Result<PathBuf, StoreError> {
        let digest = descriptor.digest();
        if let BlobHome::Registry(image) = self {
            return image.fetch_into_store(descriptor);
        }
        if !store.has_blob(digest)? {
            let mut reader = self.open(store, digest)?;
            // A lazy source (the remote build cache) fetches into the store when opened: then
            // the blob is already where it belongs and copying it would write it twice.
            if !store.has_blob(digest)? {
                let mut writer = store.begin_blob()?;
                std::io::copy(&mut reader, &mut writer)
                    .map_err(|e| StoreError::io(format!("copying blob {digest}"), e))?;
                writer.commit(Some((digest, descriptor.size())))?;
            }
        }
        store.blob_path(digest)
    }
}

/// One layer of an image being built.
#[derive(Debug, Clone)]
pub struct ImageLayer {
    pub descriptor: Descriptor,
    pub diff_id: Digest,
    pub home: BlobHome,
}

/// A resolved base image for one platform.
#[derive(Debug, Clone)]
pub struct BaseImage {
    /// How the user named it.
    pub name: String,
    /// The manifest's descriptor (digest of the exact image used).
    pub manifest_digest: Digest,
    pub flavor: Flavor,
    pub config: ImageConfig,
    pub layers: Vec<ImageLayer>,
}

/// Errors resolving a base.
#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    #[error(
        "FROM scratch: Windows has no empty base image (every Windows image starts from a base \
         layer with registry hives). Make one with `silo base create -t NAME --os-version \
         10.0.20348.1` and use `FROM NAME`"
    )]
    Scratch,
    #[error("base image {name}: {source}")]
    Store {
        name: String,
        #[source]
        source: StoreError,
    },
    #[error("base image {name}: {message}")]
    Registry { name: String, message: String },
    #[error("base image {name}: {message}")]
    Invalid { name: String, message: String },
    #[error(
        "base image {name} has no windows/amd64 entry for os.version {wanted} (it has: {have})"
    )]
    NoPlatform {
        name: String,
        wanted: String,
        have: String,
    },
}

/// The platform a build targets: `windows/amd64` with an optional `os.version` (all four
/// numbers, or three to accept any revision of that build), and the Windows host that will run
/// its RUN steps when that matters (HCS): index entries the host cannot run are then skipped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetPlatform {
    pub os_version: Option<String>,
    pub host: Option<HostTarget>,
}

impl TargetPlatform {
    /// Parses `windows/amd64[:OSVERSION]` (also `windows/amd64/10.0.20348` and a bare
    /// `windows`).
    pub fn parse(text: &str) -> Result<TargetPlatform, String> {
        let (platform, version) = match text.split_once(':') {
            Some((p, v)) => (p, Some(v.to_string())),
            None => (text, None),
        };
        let mut parts = platform.split('/');
        let os = parts.next().unwrap_or_default();
        let arch = parts.next().unwrap_or("amd64");
        let rest = parts.next();
        if !os.eq_ignore_ascii_case("windows") || !arch.eq_ignore_ascii_case("amd64") {
            return Err(format!(
                "--platform {text}: silo builds windows/amd64 images only"
            ));
        }
        let version = version.or(rest.map(str::to_string));
        if let Some(v) = &version {
            let numbers: Vec<&str> = v.split('.').collect();
            if !(3..=4).contains(&numbers.len())
                || numbers
                    .iter()
                    .any(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(format!(
                    "--platform {text}: os.version must look like 10.0.20348 or 10.0.20348.1"
                ));
            }
        }
        Ok(TargetPlatform {
            os_version: version,
            host: None,
        })
    }

    fn matches(&self, os_version: Option<&str>) -> bool {
        match (&self.os_version, os_version) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(want), Some(have)) => {
                let want: Vec<&str> = want.split('.').collect();
                let have: Vec<&str> = have.split('.').collect();
                want.len() <= have.len() && want.iter().zip(&have).all(|(a, b)| a == b)
            }
        }
    }
}

/// Where a base's manifest, config and layers are read from.
enum Opened {
    /// The content store, by ref.
    Store(String),
    /// An OCI layout or docker-archive, and the name inside it.
    Source(Rc<dyn ImageSource>, Option<String>),
    /// A registry image (lazy).
    Registry(Rc<RegistryImage>),
}

/// How a bare image name is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lookup {
    /// The store's image when the store holds the name, else the registry's
    /// ([`ImageLocation::locate`]).
    #[default]
    StoreFirst,
    /// The registry's, always, with a fresh manifest (`build --pull`, as buildx's). Names that
    /// are not registry images (`oci:`, `docker-archive:`) are read as always.
    Pull,
}

/// The image source and the name inside it for a base reference, by `lookup`; a registry image
/// is read through `registries`.
fn open_location(
    store: &Store,
    registries: &RegistryRefs,
    reference: &str,
    lookup: Lookup,
) -> Result<Opened, BaseError> {
    let store_err = |source| BaseError::Store {
        name: reference.into(),
        source,
    };
    let mut location = ImageLocation::parse(reference).map_err(store_err)?;
    if let (Lookup::Pull, ImageLocation::Store(name)) = (lookup, &location) {
        location = ImageLocation::Registry(name.clone());
    }
    match location.locate(Some(store)).map_err(store_err)? {
        Located::Store(name) => Ok(Opened::Store(name)),
        Located::Local { source, name } => {
            let source: Rc<dyn ImageSource> = Rc::from(source as Box<dyn ImageSource>);
            Ok(Opened::Source(source, name))
        }
        Located::Registry(remote) => registries
            .access()
            .and_then(|access| {
                RegistryImage::open(access, store.root(), &remote.reference.to_string())
            })
            .map(|image| Opened::Registry(Rc::new(image)))
            .map_err(|e| BaseError::Registry {
                name: reference.into(),
                message: match lookup {
                    Lookup::StoreFirst => remote.failure(&e),
                    // Say why the store's copy, if any, was not used.
                    Lookup::Pull => format!(
                        "--pull reads it from its registry, not the store: {}",
                        remote.failure(&e)
                    ),
                },
            }),
    }
}

/// Resolves `reference` for `platform` (a bare name: the store's image first); a registry image
/// is read through `registries`.
pub fn resolve_base(
    store: &Store,
    registries: &RegistryRefs,
    reference: &str,
    platform: &TargetPlatform,
) -> Result<BaseImage, BaseError> {
    resolve_base_with(store, registries, reference, platform, Lookup::StoreFirst)
}

/// Resolves `reference` for `platform`, a bare name looked up by `lookup`.
pub fn resolve_base_with(
    store: &Store,
    registries: &RegistryRefs,
    reference: &str,
    platform: &TargetPlatform,
    lookup: Lookup,
) -> Result<BaseImage, BaseError> {
    if reference.eq_ignore_ascii_case("scratch") {
        return Err(BaseError::Scratch);
    }
    let located = open_location(store, registries, reference, lookup)?;
    let store_err = |source: StoreError| BaseError::Store {
        name: reference.into(),
        source,
    };
    let invalid = |message: String| BaseError::Invalid {
        name: reference.into(),
        message,
    };
    let (source, home, name): (&dyn ImageSource, BlobHome, Option<&str>) = match &located {
        Opened::Store(name) => (store, BlobHome::Store, Some(name)),
        Opened::Source(source, name) => (
            source.as_ref(),
            BlobHome::Source(source.clone()),
            name.as_deref(),
        ),
        Opened::Registry(image) => (image.as_ref(), BlobHome::Registry(image.clone()), None),
    };
    let top = source.resolve(name).map_err(store_err)?;
    let (descriptor, manifest, _) =
        read_image_manifest(source, top, store_err, |bytes, index, _| {
            pick_entry(reference, bytes, index, platform)
        })?;
    let flavor = match manifest.media_type() {
        Some(m) if m.to_string() == oci::docker::MANIFEST => Flavor::Docker,
        _ => Flavor::Oci,
    };
    let config_bytes = source
        .read_blob(manifest.config().digest())
        .map_err(store_err)?;
    let config = ImageConfig::parse(&config_bytes, manifest.config().digest().as_ref())
        .map_err(|e| invalid(e.to_string()))?;
    if !config.os.eq_ignore_ascii_case("windows") {
        return Err(invalid(format!(
            "it is a {} image; silo builds Windows images on Windows bases",
            if config.os.is_empty() {
                "non-Windows"
            } else {
                &config.os
            }
        )));
    }
    if !platform.matches(config.os_version.as_deref()) {
        return Err(BaseError::NoPlatform {
            name: reference.into(),
            wanted: platform.os_version.clone().unwrap_or_default(),
            have: config
                .os_version
                .clone()
                .unwrap_or_else(|| "no os.version".into()),
        });
    }
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers().len() {
        return Err(invalid(format!(
            "manifest has {} layers but the config lists {} diff_ids",
            manifest.layers().len(),
            diff_ids.len()
        )));
    }
    let layers = manifest
        .layers()
        .iter()
        .zip(diff_ids)
        .map(|(descriptor, diff_id)| {
            Ok(ImageLayer {
                descriptor: descriptor.clone(),
                diff_id: crate::oci::parse_sha256(diff_id).map_err(|e| store_err(e.into()))?,
                home: home.clone(),
            })
        })
        .collect::<Result<Vec<_>, BaseError>>()?;
    Ok(BaseImage {
        name: reference.into(),
        manifest_digest: descriptor.digest().clone(),
        flavor,
        config,
        layers,
    })
}

/// The index entry for `platform`, chosen by the one platform selector silo has
/// ([`registry_client::platform::select_entries`], which pulls, `copy --platform` and `inspect`
/// use too): windows/amd64 entries whose `os.version` starts with the requested one; among
/// several, the highest version. With a host, only entries it can run count (tried per
/// isolation in order of preference), and the host's own build ranks first — what Docker on
/// that host would pull.
fn pick_entry(
    name: &str,
    index_bytes: &[u8],
    index: &ImageIndex,
    platform: &TargetPlatform,
) -> Result<Descriptor, BaseError> {
    let invalid = |e: StoreError| BaseError::Invalid {
        name: name.into(),
        message: e.to_string(),
    };
    let mut want = PlatformRequest::windows_amd64();
    want.os_version = platform.os_version.as_deref().and_then(OsVersion::parse);
    let tries: Vec<Option<Isolation>> = match &platform.host {
        None => vec![None],
        Some(host) => host.isolations.iter().copied().map(Some).collect(),
    };
    let mut have = String::new();
    for isolation in tries {
        if let (Some(host), Some(isolation)) = (&platform.host, isolation) {
            want.host = Some(host.os_version);
            want.isolation = isolation;
        }
        let (chosen, selection) = select_index_entry(index_bytes, index, &want).map_err(invalid)?;
        if let Some(entry) = chosen {
            return Ok(entry);
        }
        have = selection
            .verdicts
            .iter()
            .filter_map(|v| v.platform.as_ref())
            .filter(|p| p.os == "windows")
            .map(|p| {
                p.os_version
                    .clone()
                    .unwrap_or_else(|| "no os.version".into())
            })
            .collect::<Vec<_>>()
            .join(", ");
    }
    Err(BaseError::NoPlatform {
        name: name.into(),
        wanted: match (&platform.os_version, &platform.host) {
            (Some(v), _) => v.clone(),
            (None, Some(host)) => format!(
                "one this host ({}) can run with {} isolation",
                host.os_version,
                host.isolations
                    .iter()
                    .map(|i| match i {
                        Isolation::Process => "process",
                        Isolation::HyperV => "Hyper-V",
                    })
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            (None, None) => "any".into(),
        },
        have,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index of windows/amd64 entries, the n-th (from 1) with digest `sha256:nnn…` and
    /// os.version `versions[n-1]`, its platform keys spelled as the spec writes them.
    fn index(versions: &[&str]) -> Vec<u8> {
        let manifests: Vec<serde_json::Value> = versions
            .iter()
            .enumerate()
            .map(|(i, version)| {
                serde_json::json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "size": 1,
                    "digest": format!("sha256:{}", (i + 1).to_string().repeat(64)),
                    "platform": {"os": "windows", "architecture": "amd64", "os.version": version},
                })
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": manifests}))
            .unwrap()
    }

    fn parsed(index: &[u8]) -> ImageIndex {
        serde_json::from_slice(index).unwrap()
    }

    #[test]
    fn index_entries_are_picked_by_os_version_keys_as_written() {
        let index = &index(&["10.0.17763.5820", "10.0.20348.1850", "10.0.20348.2461"]);
        let pick = |v: &str| {
            pick_entry(
                "x",
                index,
                &parsed(index),
                &TargetPlatform::parse(v).unwrap(),
            )
            .map(|d| d.digest().to_string().chars().last().unwrap())
        };
        assert_eq!(pick("windows/amd64:10.0.17763").unwrap(), '1');
        assert_eq!(pick("windows/amd64:10.0.20348").unwrap(), '3');
        assert_eq!(pick("windows/amd64:10.0.20348.1850").unwrap(), '2');
        assert_eq!(pick("windows/amd64").unwrap(), '3');
        let err = pick("windows/amd64:10.0.26100").unwrap_err().to_string();
        assert!(err.contains("10.0.17763.5820, 10.0.20348.1850"), "{err}");
    }

    #[test]
    fn a_windows_host_picks_the_entry_it_can_run() {
        let index = &index(&["10.0.17763.5820", "10.0.20348.2461", "10.0.26100.2033"]);
        let on = |host: &str, isolations: &[Isolation]| {
            let platform = TargetPlatform {
                os_version: None,
                host: Some(HostTarget {
                    os_version: OsVersion::parse(host).unwrap(),
                    isolations: isolations.to_vec(),
                }),
            };
            pick_entry("x", index, &parsed(index), &platform)
                .map(|d| d.digest().to_string().chars().last().unwrap())
                .map_err(|e| e.to_string())
        };
        use Isolation::{HyperV, Process};
        // Server 2022 runs its own build process-isolated, not the newer 2025 entry.
        assert_eq!(on("10.0.20348.2700", &[Process, HyperV]), Ok('2'));
        // Server 2019: its own build.
        assert_eq!(on("10.0.17763.6054", &[Process, HyperV]), Ok('1'));
        // Windows 11 24H2 (26100) on Hyper-V: its own build ranks first.
        assert_eq!(on("10.0.26100.1", &[HyperV]), Ok('3'));
        // Windows 11 23H2 (22631) runs the 2022 entry process-isolated (the LTSC window).
        assert_eq!(on("10.0.22631.1", &[Process, HyperV]), Ok('2'));
        // Windows 10 22H2 (19045): no process-compatible entry, Hyper-V runs ≤ host → 2019.
        assert_eq!(on("10.0.19045.1", &[Process, HyperV]), Ok('1'));
        // Forced process isolation there: nothing it can run, and the error says so.
        let err = on("10.0.19045.1", &[Process]).unwrap_err();
        assert!(
            err.contains("10.0.19045.1") && err.contains("process isolation"),
            "{err}"
        );
    }

    #[test]
    fn platforms_parse_and_match_by_os_version() {
        let p = TargetPlatform::parse("windows/amd64:10.0.20348").unwrap();
        assert!(p.matches(Some("10.0.20348.2700")));
        assert!(!p.matches(Some("10.0.17763.1")));
        assert!(!p.matches(None));
        assert!(TargetPlatform::parse("windows/amd64")
            .unwrap()
            .matches(None));
        assert_eq!(
            TargetPlatform::parse("windows/amd64/10.0.17763.1")
                .unwrap()
                .os_version
                .as_deref(),
            Some("10.0.17763.1")
        );
        assert!(TargetPlatform::parse("linux/amd64").is_err());
        assert!(TargetPlatform::parse("windows/amd64:10.x").is_err());
    }
}
