//! Making images: a Windows image config (canonical bytes) from layers and a [`ConfigSpec`], the
//! Windows platform rules (`os.version` checks), and `silo base create` ([`base`]).
//!
//! The formats themselves (media types, manifest parsing and building, digests) are [`crate::oci`]'s.

pub mod base;

use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, Digest, HistoryBuilder, ImageConfigurationBuilder, Os,
    RootFsBuilder,
};

use crate::oci::{canonical_json, Blob, Flavor, ImageError};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::{build_manifest, digest_of_bytes, docker, parse_manifest, rfc3339, Manifest};
    use oci_spec::image::MediaType;

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
