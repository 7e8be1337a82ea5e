//! Image metadata: manifests, configs and indexes (OCI and Docker v2s2), and the Windows platform
//! rules (`os.version` ordering, isolation compatibility).
//!
//! Types are oci-spec's; this module adds the Docker v2s2 media types, builders that produce
//! canonical bytes (sorted keys, so equal images have equal digests), and parsing that tells
//! manifests from indexes whichever media type family they use.

pub mod base;

use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, Digest, HistoryBuilder, ImageConfiguration,
    ImageConfigurationBuilder, ImageIndex, ImageManifest, ImageManifestBuilder, MediaType, Os,
    RootFsBuilder,
};

use crate::store::{canonical_json, digest_of_bytes};

/// Docker Image Manifest V2, Schema 2 media types.
pub mod docker {
    pub const MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
    pub const FOREIGN_LAYER_GZIP: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    pub const FOREIGN_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar";
}

/// Which media-type family an image's manifest and descriptors use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavor {
    #[default]
    Oci,
    Docker,
}

/// How a layer blob is compressed (decides its media type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Recognizes a blob's compression from its first bytes.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

impl Flavor {
    pub fn manifest_media_type(self) -> MediaType {
        match self {
            Flavor::Oci => MediaType::ImageManifest,
            Flavor::Docker => MediaType::Other(docker::MANIFEST.into()),
        }
    }

    pub fn config_media_type(self) -> MediaType {
        match self {
            Flavor::Oci => MediaType::ImageConfig,
            Flavor::Docker => MediaType::Other(docker::CONFIG.into()),
        }
    }

    pub fn layer_media_type(self, compression: Compression) -> MediaType {
        match (self, compression) {
            (Flavor::Oci, Compression::None) => MediaType::ImageLayer,
            (Flavor::Oci, Compression::Gzip) => MediaType::ImageLayerGzip,
            (_, Compression::Zstd) => MediaType::ImageLayerZstd,
            (Flavor::Docker, Compression::None) => MediaType::Other(docker::LAYER_TAR.into()),
            (Flavor::Docker, Compression::Gzip) => MediaType::Other(docker::LAYER_GZIP.into()),
        }
    }
}

/// What a layer media type says about the blob.
pub fn layer_compression(media_type: &MediaType) -> Option<Compression> {
    match media_type {
        MediaType::ImageLayer | MediaType::ImageLayerNonDistributable => Some(Compression::None),
        MediaType::ImageLayerGzip | MediaType::ImageLayerNonDistributableGzip => {
            Some(Compression::Gzip)
        }
        MediaType::ImageLayerZstd | MediaType::ImageLayerNonDistributableZstd => {
            Some(Compression::Zstd)
        }
        MediaType::Other(m) => match m.as_str() {
            docker::LAYER_GZIP | docker::FOREIGN_LAYER_GZIP => Some(Compression::Gzip),
            docker::LAYER_TAR | docker::FOREIGN_LAYER_TAR => Some(Compression::None),
            _ => None,
        },
        _ => None,
    }
}

/// Whether a media type names an index (OCI image index or Docker manifest list).
pub fn is_index_media_type(media_type: &MediaType) -> bool {
    matches!(media_type, MediaType::ImageIndex)
        || matches!(media_type, MediaType::Other(m) if m == docker::MANIFEST_LIST)
}

/// A parsed manifest-or-index document.
#[derive(Debug, Clone)]
pub enum Manifest {
    Image(Box<ImageManifest>),
    Index(Box<ImageIndex>),
}

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{what}: not valid JSON of the expected kind: {message}")]
    Parse { what: String, message: String },
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
}

/// Parses manifest or index bytes; `what` names the document in errors (e.g. its digest).
pub fn parse_manifest(bytes: &[u8], what: &str) -> Result<Manifest, ImageError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ImageError::Parse {
            what: what.into(),
            message: e.to_string(),
        })?;
    let parse_err = |e: serde_json::Error| ImageError::Parse {
        what: what.into(),
        message: e.to_string(),
    };
    if value.get("manifests").is_some() {
        Ok(Manifest::Index(Box::new(
            serde_json::from_value(value).map_err(parse_err)?,
        )))
    } else if value.get("layers").is_some() && value.get("config").is_some() {
        Ok(Manifest::Image(Box::new(
            serde_json::from_value(value).map_err(parse_err)?,
        )))
    } else {
        Err(ImageError::Invalid {
            what: what.into(),
            message: "neither an image manifest (config + layers) nor an index (manifests)".into(),
        })
    }
}

/// Parses an image config.
pub fn parse_config(bytes: &[u8], what: &str) -> Result<ImageConfiguration, ImageError> {
    serde_json::from_slice(bytes).map_err(|e| ImageError::Parse {
        what: what.into(),
        message: e.to_string(),
    })
}

/// A blob with its descriptor, ready to be stored.
#[derive(Debug, Clone)]
pub struct Blob {
    pub descriptor: Descriptor,
    pub bytes: Vec<u8>,
}

impl Blob {
    pub fn new(media_type: MediaType, bytes: Vec<u8>) -> Blob {
        let descriptor = Descriptor::new(media_type, bytes.len() as u64, digest_of_bytes(&bytes));
        Blob { descriptor, bytes }
    }
}

/// A layer as the manifest and the config see it.
#[derive(Debug, Clone)]
pub struct LayerInfo {
    pub descriptor: Descriptor,
    pub diff_id: Digest,
    /// The history entry's `created_by`.
    pub created_by: String,
    pub comment: Option<String>,
}

/// The Windows platform of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowsPlatform {
    /// `10.0.<build>.<UBR>`.
    pub os_version: String,
    pub os_features: Vec<String>,
    pub architecture: Arch,
}

/// Validates `10.0.build.ubr` (four dot-separated decimal numbers).
pub fn check_os_version(text: &str) -> Result<(), ImageError> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() != 4
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 10 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ImageError::Invalid {
            what: format!("os.version {text:?}"),
            message: "expected four numbers like 10.0.20348.1 (major.minor.build.UBR)".into(),
        });
    }
    Ok(())
}

/// What goes into a new image's config besides the layers.
#[derive(Debug, Clone)]
pub struct ConfigSpec {
    pub platform: WindowsPlatform,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    /// RFC 3339 creation time of the image and its history entries.
    pub created: String,
}

/// Builds an image config (canonical bytes) for `layers` on top of nothing.
pub fn build_config(
    spec: &ConfigSpec,
    layers: &[LayerInfo],
    flavor: Flavor,
) -> Result<Blob, ImageError> {
    let err = |e: oci_spec::OciSpecError| ImageError::Invalid {
        what: "image config".into(),
        message: e.to_string(),
    };
    let mut config = ConfigBuilder::default();
    if let Some(cmd) = &spec.cmd {
        config = config.cmd(cmd.clone());
    }
    if let Some(entrypoint) = &spec.entrypoint {
        config = config.entrypoint(entrypoint.clone());
    }
    if !spec.env.is_empty() {
        config = config.env(spec.env.clone());
    }
    if let Some(user) = &spec.user {
        config = config.user(user.clone());
    }
    if let Some(dir) = &spec.working_dir {
        config = config.working_dir(dir.clone());
    }
    let history = layers
        .iter()
        .map(|layer| {
            let mut entry = HistoryBuilder::default()
                .created(spec.created.clone())
                .created_by(layer.created_by.clone());
            if let Some(comment) = &layer.comment {
                entry = entry.comment(comment.clone());
            }
            entry.build().map_err(err)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(
            layers
                .iter()
                .map(|l| l.diff_id.to_string())
                .collect::<Vec<_>>(),
        )
        .build()
        .map_err(err)?;
    let mut image = ImageConfigurationBuilder::default()
        .created(spec.created.clone())
        .architecture(spec.platform.architecture.clone())
        .os(Os::Windows)
        .os_version(spec.platform.os_version.clone())
        .config(config.build().map_err(err)?)
        .rootfs(rootfs)
        .history(history);
    if !spec.platform.os_features.is_empty() {
        image = image.os_features(spec.platform.os_features.clone());
    }
    let image = image.build().map_err(err)?;
    Ok(Blob::new(
        flavor.config_media_type(),
        canonical_json(&image),
    ))
}

/// Builds an image manifest (canonical bytes).
pub fn build_manifest(
    config: &Descriptor,
    layers: &[Descriptor],
    flavor: Flavor,
) -> Result<Blob, ImageError> {
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(flavor.manifest_media_type())
        .config(config.clone())
        .layers(layers.to_vec())
        .build()
        .map_err(|e| ImageError::Invalid {
            what: "image manifest".into(),
            message: e.to_string(),
        })?;
    Ok(Blob::new(
        flavor.manifest_media_type(),
        canonical_json(&manifest),
    ))
}

/// The RFC 3339 time for a new image: `SOURCE_DATE_EPOCH` when set (reproducible builds), else now.
pub fn creation_time() -> String {
    let secs = source_date_epoch().unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    });
    rfc3339(secs)
}

/// `SOURCE_DATE_EPOCH` if set to a valid number of seconds.
pub fn source_date_epoch() -> Option<i64> {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's civil-from-days algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn os_version_checks() {
        assert!(check_os_version("10.0.20348.1").is_ok());
        assert!(check_os_version("10.0.20348").is_err());
        assert!(check_os_version("10.0.x.1").is_err());
    }

    #[test]
    fn config_and_manifest_are_canonical() {
        let spec = ConfigSpec {
            platform: WindowsPlatform {
                os_version: "10.0.20348.1".into(),
                os_features: vec!["win32k".into()],
                architecture: Arch::Amd64,
            },
            cmd: Some(vec!["c:\\windows\\system32\\cmd.exe".into()]),
            entrypoint: None,
            env: vec![],
            user: Some("ContainerUser".into()),
            working_dir: None,
            created: rfc3339(0),
        };
        let layer = LayerInfo {
            descriptor: Descriptor::new(MediaType::ImageLayerGzip, 3, digest_of_bytes(b"abc")),
            diff_id: digest_of_bytes(b"tar"),
            created_by: "silo base create".into(),
            comment: None,
        };
        let a = build_config(&spec, std::slice::from_ref(&layer), Flavor::Oci).unwrap();
        let b = build_config(&spec, std::slice::from_ref(&layer), Flavor::Oci).unwrap();
        assert_eq!(a.bytes, b.bytes);
        let json: serde_json::Value = serde_json::from_slice(&a.bytes).unwrap();
        assert_eq!(json["os"], "windows");
        assert_eq!(json["os.version"], "10.0.20348.1");
        assert_eq!(json["os.features"][0], "win32k");
        assert_eq!(json["config"]["User"], "ContainerUser");
        let docker_config =
            build_config(&spec, std::slice::from_ref(&layer), Flavor::Docker).unwrap();
        let manifest = build_manifest(
            &docker_config.descriptor,
            &[layer.descriptor],
            Flavor::Docker,
        )
        .unwrap();
        let parsed = parse_manifest(&manifest.bytes, "test").unwrap();
        assert!(matches!(parsed, Manifest::Image(_)));
        let json: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
        assert_eq!(json["mediaType"], docker::MANIFEST);
        assert_eq!(json["config"]["mediaType"], docker::CONFIG);
    }
}
