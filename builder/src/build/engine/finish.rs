//! The end of a build: a stage's state turned into an image (config, history, manifest) in
//! the store, and the index over the images of every platform.

use oci_spec::image::{Descriptor, MediaType};

use super::{BuildError, BuiltImage, Engine, StageState};
use crate::build::export::cache_format::{inline_value, select_records, INLINE_CONFIG_KEY};
use crate::build::export::cache_spec::CacheMode;
use crate::oci::{self, Flavor};
use crate::store::Store;

impl Engine<'_> {
    pub(super) fn finish_image(&mut self, mut state: StageState) -> Result<BuiltImage, BuildError> {
        for (k, v) in &self.request.labels {
            state.config.set_label(k, v);
        }
        // A base's inline cache describes the base's build, not this one.
        state.config.other.remove(INLINE_CONFIG_KEY);
        if self.request.inline_cache {
            let layers = state.layers.iter().map(|l| l.descriptor.digest());
            let records = select_records(&self.used, layers, CacheMode::Min);
            state
                .config
                .other
                .insert(INLINE_CONFIG_KEY.to_string(), inline_value(&records));
        }
        state.config.config.on_build = state
            .config
            .config
            .on_build
            .take()
            .filter(|o| !o.is_empty());
        // Dated by its newest layer, so an unchanged (all cached) rebuild makes the same image;
        // a build that added no layer is dated now.
        let created = oci::rfc3339(self.clamped(state.newest_layer_time.unwrap_or(self.now)));
        state.config.stamp_created(&created, state.base_history);
        let config_bytes = state.config.to_bytes();
        let config_digest = self.store.put_blob_bytes(&config_bytes)?;
        let config_descriptor = Descriptor::new(
            state.flavor.config_media_type(),
            config_bytes.len() as u64,
            config_digest,
        );
        let layer_descriptors: Vec<Descriptor> =
            state.layers.iter().map(|l| l.descriptor.clone()).collect();
        let manifest = oci::build_manifest(&config_descriptor, &layer_descriptors, state.flavor)?;
        self.store.put_blob_bytes(&manifest.bytes)?;
        // The platform (os.version, os.features) goes into the index entry of multi-platform
        // builds (see `make_index`); OCI layouts and the store name the manifest itself.
        let manifest_descriptor = manifest.descriptor.clone();
        Ok(BuiltImage {
            config: state.config,
            config_descriptor,
            config_bytes,
            manifest_descriptor,
            manifest_bytes: manifest.bytes,
            layers: state.layers,
            flavor: state.flavor,
        })
    }
}
/// An index (OCI) or manifest list (Docker) over the built images, stored in the store. Each
/// entry's platform carries the image's `os.version` and `os.features` (copied from its base).
/// Written as JSON by hand: oci-spec 0.8 would name those keys `os_version`/`os_features`.
pub(super) fn make_index(
    store: &Store,
    images: &[BuiltImage],
) -> Result<(Descriptor, Vec<u8>), BuildError> {
    let flavor = images[0].flavor;
    let media_type = match flavor {
        Flavor::Oci => MediaType::ImageIndex,
        Flavor::Docker => MediaType::Other(oci::docker::MANIFEST_LIST.into()),
    };
    let manifests: Vec<serde_json::Value> = images
        .iter()
        .map(|image| {
            let mut platform = serde_json::json!({
                "architecture": if image.config.architecture.is_empty() { "amd64" } else { image.config.architecture.as_str() },
                "os": "windows",
            });
            if let Some(v) = &image.config.os_version {
                platform["os.version"] = serde_json::Value::from(v.clone());
            }
            if !image.config.os_features.is_empty() {
                platform["os.features"] = serde_json::Value::from(image.config.os_features.clone());
            }
            let d = &image.manifest_descriptor;
            serde_json::json!({
                "mediaType": d.media_type().to_string(),
                "digest": d.digest().to_string(),
                "size": d.size(),
                "platform": platform,
            })
        })
        .collect();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type.to_string(),
        "manifests": manifests,
    });
    let bytes = serde_json::to_vec(&index).expect("JSON values serialize");
    let digest = store.put_blob_bytes(&bytes)?;
    Ok((
        Descriptor::new(media_type, bytes.len() as u64, digest),
        bytes,
    ))
}
