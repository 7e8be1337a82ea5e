//! `silo base create`: a minimal Windows base image made on any host — one base layer with the
//! five machine hives (valid regf from [`crate::hive::minimal`]) under
//! `Files/Windows/System32/config/` and a small directory skeleton, plus a Windows config
//! (`os.version`, `os.features`, `Cmd` cmd.exe, `User` ContainerUser) and a history entry.
//! Like Microsoft's HostProcess base image, but with hives Windows Server 2025 accepts.

use std::io::{Seek, SeekFrom};

use oci_spec::image::{Arch, Descriptor};

use super::{build_config, ConfigSpec, LayerInfo, WindowsPlatform};
use crate::layer::{
    self, ChangeSet, Entry, EntryKind, FileMeta, FileSource, HiveName, LayerCompression,
    LayerDigests, Timestamp, WriteOptions,
};
use crate::oci::{self, build_manifest, Flavor, ImageError};
use crate::store::{ImageSink, StoreError};

/// The directories every base image has (besides `Windows\System32\config` for the hives).
pub const SKELETON: &[&str] = &[
    "Program Files",
    "ProgramData",
    "Users",
    "Users/ContainerAdministrator",
    "Users/ContainerUser",
    "Windows",
    "Windows/System32",
    "Windows/System32/config",
    "Windows/Temp",
];

/// What to make.
#[derive(Debug, Clone)]
pub struct BaseSpec {
    pub os_version: String,
    pub os_features: Vec<String>,
    pub architecture: Arch,
    pub compression: LayerCompression,
    pub flavor: Flavor,
}

/// What was made.
#[derive(Debug, Clone)]
pub struct BaseImage {
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layer: Descriptor,
    pub layer_digests: LayerDigests,
}

/// Errors of base image creation.
#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Layer(#[from] layer::LayerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("temporary layer file: {0}")]
    Temp(std::io::Error),
}

/// The base layer's content: the skeleton directories and the five minimal hives.
pub fn base_changes() -> ChangeSet {
    let mut entries: Vec<Entry> = SKELETON
        .iter()
        .map(|path| Entry {
            path: path.to_string(),
            kind: EntryKind::Directory,
            meta: FileMeta::default(),
            streams: vec![],
        })
        .collect();
    for hive in HiveName::ALL {
        let bytes = crate::hive::minimal::bytes(hive);
        entries.push(Entry {
            path: format!("Windows/System32/config/{}", hive.base_file_name()),
            kind: EntryKind::File {
                size: bytes.len() as u64,
                source: FileSource::Bytes(bytes),
            },
            meta: FileMeta::default(),
            streams: vec![],
        });
    }
    ChangeSet {
        entries,
        ..ChangeSet::default()
    }
}

/// Writes a base image into `sink` under `name`. The layer is written once to a temp file (its
/// digest must be known before a sink can take it) and streamed from there.
pub fn create_base_image(
    sink: &mut dyn ImageSink,
    name: Option<&str>,
    spec: &BaseSpec,
) -> Result<BaseImage, BaseError> {
    super::check_os_version(&spec.os_version)?;
    let created = oci::creation_time();
    let now = oci::source_date_epoch().unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    });
    let options = WriteOptions {
        compression: spec.compression,
        base_layer: true,
        ..WriteOptions::from_env(Timestamp {
            secs: now,
            nanos: 0,
        })
    };
    let temp = tempfile::tempfile().map_err(BaseError::Temp)?;
    let (mut temp, digests) = layer::write_layer(&base_changes(), &options, temp)?;
    temp.seek(SeekFrom::Start(0)).map_err(BaseError::Temp)?;
    sink.put_blob(&digests.digest, digests.size, &mut temp)?;
    let layer_descriptor = Descriptor::new(
        spec.flavor.layer_media_type(spec.compression.kind()),
        digests.size,
        digests.digest.clone(),
    );
    let features = if spec.os_features.is_empty() {
        String::new()
    } else {
        format!(" --features {}", spec.os_features.join(","))
    };
    let layer_info = LayerInfo {
        descriptor: layer_descriptor.clone(),
        diff_id: digests.diff_id.clone(),
        created_by: format!(
            "silo base create --os-version {}{features}",
            spec.os_version
        ),
        comment: Some("minimal Windows base layer: valid hives and a directory skeleton".into()),
    };
    let config = build_config(
        &ConfigSpec {
            platform: WindowsPlatform {
                os_version: spec.os_version.clone(),
                os_features: spec.os_features.clone(),
                architecture: spec.architecture.clone(),
            },
            cmd: Some(vec!["c:\\windows\\system32\\cmd.exe".into()]),
            entrypoint: None,
            env: vec![],
            user: Some("ContainerUser".into()),
            working_dir: None,
            created,
        },
        std::slice::from_ref(&layer_info),
        spec.flavor,
    )?;
    sink.put_blob(
        config.descriptor.digest(),
        config.descriptor.size(),
        &mut &config.bytes[..],
    )?;
    let manifest = build_manifest(
        &config.descriptor,
        std::slice::from_ref(&layer_descriptor),
        spec.flavor,
    )?;
    sink.put_manifest(&manifest.descriptor, &manifest.bytes, name)?;
    sink.finish()?;
    Ok(BaseImage {
        manifest: manifest.descriptor,
        config: config.descriptor,
        layer: layer_descriptor,
        layer_digests: digests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::check::check_windows_layer;
    use crate::store::{oci_layout::OciLayout, BlobSource};

    #[test]
    fn base_image_passes_the_base_layer_rules_and_is_reproducible() {
        let make = |dir: &std::path::Path| {
            let mut layout = OciLayout::create(dir).unwrap();
            let spec = BaseSpec {
                os_version: "10.0.20348.1".into(),
                os_features: vec!["win32k".into()],
                architecture: Arch::Amd64,
                compression: LayerCompression::Gzip(6),
                flavor: Flavor::Oci,
            };
            (
                create_base_image(&mut layout, Some("base"), &spec).unwrap(),
                layout,
            )
        };
        // Fixed time so the two runs agree (what SOURCE_DATE_EPOCH does for users).
        std::env::set_var("SOURCE_DATE_EPOCH", "1700000000");
        let a_dir = tempfile::tempdir().unwrap();
        let b_dir = tempfile::tempdir().unwrap();
        let (a, layout) = make(a_dir.path());
        let (b, _) = make(b_dir.path());
        assert_eq!(a.manifest.digest(), b.manifest.digest());

        let blob = layout.open_blob(a.layer.digest()).unwrap();
        let (entries, summary) = crate::layer::list_layer(blob).unwrap();
        assert_eq!(summary.diff_id, a.layer_digests.diff_id);
        assert_eq!(check_windows_layer(&entries, true), vec![]);
        assert!(entries.iter().all(|e| e.path != "Hives"));
        let config: serde_json::Value =
            serde_json::from_slice(&layout.read_blob(a.config.digest()).unwrap()).unwrap();
        assert_eq!(config["os.version"], "10.0.20348.1");
        assert_eq!(config["created"], "2023-11-14T22:13:20Z");
        assert_eq!(config["config"]["Cmd"][0], "c:\\windows\\system32\\cmd.exe");
    }
}
