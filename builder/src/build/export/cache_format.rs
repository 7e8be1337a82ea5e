//! The build cache's record format, wherever the cache lives (a registry, a local OCI layout,
//! an image config): which records an export carries, the cache manifest and its config, and
//! reading them back with every check (format, version, each record's layer listed with the
//! same size and media type).
//!
//! A cache export is one OCI image manifest whose config (media type [`CONFIG_MEDIA_TYPE`]) is a
//! small, versioned JSON document listing cache records — a step's cache key and the layer it
//! produced — and runtime setups, and whose layers are exactly those blobs. An inline cache is
//! the same document (without setups) under [`INLINE_CONFIG_KEY`] in an image's config, whose
//! layers are the image's.

use std::collections::{BTreeSet, HashMap, HashSet};

use oci_spec::image::Digest;
use registry_client::{BlobRef, RawManifest};
use serde::{Deserialize, Serialize};

use super::cache_spec::CacheMode;
use super::remote_cache::{RemoteCacheError, UsedRecord};
use crate::build::engine::cache::CachedLayer;

/// The media type of a cache export's config: the list of cache records.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.silo.build.cache.config.v1+json";
/// What the config's `format` field says.
const FORMAT_NAME: &str = "silo-build-cache";
/// Bumped whenever the record list changes shape; an import ignores other versions (with a
/// warning) instead of misreading them.
const FORMAT_VERSION: u32 = 1;

/// The image-config key of silo's inline cache. Not BuildKit's `moby.buildkit.cache.v0`: that
/// key holds BuildKit's own record graph (base64 JSON), which silo's step keys are not, and a
/// BuildKit reading the image must not misread silo's records as its own.
pub const INLINE_CONFIG_KEY: &str = "silo.build.cache.v1";
/// BuildKit's inline-cache key, recognised only to say that silo cannot read it.
pub const BUILDKIT_INLINE_KEY: &str = "moby.buildkit.cache.v0";

/// The config of a cache export (and the value of an inline cache).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CacheConfig {
    format: String,
    version: u32,
    pub(super) records: Vec<CacheRecordEntry>,
    /// Runtime setups (the Wine system layer); absent in caches made before they were carried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) setups: Vec<SetupEntry>,
}

/// A runtime's host setup carried by the cache: its key and the blob holding it (also listed
/// among the manifest's layers).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetupEntry {
    pub key: String,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

/// One record: the step key and the layer it produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct CacheRecordEntry {
    pub(super) key: String,
    pub(super) layer: CachedLayer,
}

/// The records `mode` exports, each key once: `max` all of them, `min` those whose layer is one
/// of `image_layers` (the result's).
pub fn select_records<'a>(
    all: &[UsedRecord],
    image_layers: impl IntoIterator<Item = &'a Digest>,
    mode: CacheMode,
) -> Vec<UsedRecord> {
    let in_result: HashSet<&Digest> = image_layers.into_iter().collect();
    let mut seen = BTreeSet::new();
    all.iter()
        .filter(|r| mode == CacheMode::Max || in_result.contains(r.layer.descriptor.digest()))
        .filter(|r| seen.insert(r.key.clone()))
        .cloned()
        .collect()
}

fn config_of(records: &[UsedRecord], setups: &[SetupEntry]) -> CacheConfig {
    CacheConfig {
        format: FORMAT_NAME.to_string(),
        version: FORMAT_VERSION,
        setups: setups.to_vec(),
        records: records
            .iter()
            .map(|r| CacheRecordEntry {
                key: r.key.clone(),
                layer: r.layer.clone(),
            })
            .collect(),
    }
}

/// The inline cache of an image: `records` (all of whose layers are the image's) as the value
/// of [`INLINE_CONFIG_KEY`].
pub fn inline_value(records: &[UsedRecord]) -> serde_json::Value {
    serde_json::to_value(config_of(records, &[])).expect("cache records serialize")
}

/// The cache export's manifest and config bytes for `records`.
pub fn cache_manifest(records: &[UsedRecord], setups: &[SetupEntry]) -> (Vec<u8>, Vec<u8>) {
    let config_bytes =
        serde_json::to_vec(&config_of(records, setups)).expect("cache records serialize");
    let mut layers: Vec<serde_json::Value> = Vec::new();
    let mut listed = HashSet::new();
    for record in records {
        let d = &record.layer.descriptor;
        if listed.insert(d.digest()) {
            layers.push(serde_json::json!({
                "mediaType": d.media_type().to_string(),
                "digest": d.digest().to_string(),
                "size": d.size(),
            }));
        }
    }
    for setup in setups {
        if listed.insert(&setup.digest) {
            layers.push(serde_json::json!({
                "mediaType": setup.media_type,
                "digest": setup.digest,
                "size": setup.size,
            }));
        }
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": registry_client::manifest::OCI_MANIFEST,
        "config": {
            "mediaType": CONFIG_MEDIA_TYPE,
            "digest": crate::oci::digest_of_bytes(&config_bytes).to_string(),
            "size": config_bytes.len(),
        },
        "layers": layers,
        "annotations": { "org.opencontainers.image.description": "silo build cache" },
    });
    let manifest_bytes = serde_json::to_vec(&manifest).expect("JSON values serialize");
    (manifest_bytes, config_bytes)
}

/// What a manifest read as a cache holds.
pub(super) struct ParsedManifest {
    pub(super) config: BlobRef,
    pub(super) layers: HashMap<Digest, BlobRef>,
    /// An image (whose config may carry an inline cache), not a cache manifest.
    pub(super) is_image: bool,
}

/// The config blob and layer digests of a cache manifest or of an image manifest (for its
/// inline cache); anything else is not a silo cache.
pub(super) fn parse_manifest(
    at: &str,
    manifest: &RawManifest,
) -> Result<ParsedManifest, RemoteCacheError> {
    let format = |message: String| RemoteCacheError::Format {
        reference: at.to_string(),
        message,
    };
    if manifest.is_index() {
        return Err(format(
            "is an index, not a silo build cache manifest or a single-platform image (for an \
             image's inline cache, name the platform's manifest by digest)"
                .into(),
        ));
    }
    let image = manifest
        .image()
        .map_err(|source| RemoteCacheError::Registry {
            reference: at.to_string(),
            source,
        })?;
    let config = image.config();
    let media_type = config.media_type().to_string();
    let is_image = media_type == crate::oci::docker::CONFIG
        || media_type == oci_spec::image::MediaType::ImageConfig.to_string();
    if media_type != CONFIG_MEDIA_TYPE && !is_image {
        return Err(format(format!(
            "is not a silo build cache (its config media type is {media_type}, expected \
             {CONFIG_MEDIA_TYPE} or an image config carrying an inline cache)"
        )));
    }
    let layers = image
        .layers()
        .iter()
        .map(|l| {
            let blob = BlobRef {
                digest: l.digest().clone(),
                size: l.size(),
                media_type: l.media_type().to_string(),
                urls: Vec::new(),
            };
            (blob.digest.clone(), blob)
        })
        .collect();
    Ok(ParsedManifest {
        config: BlobRef {
            digest: config.digest().clone(),
            size: config.size(),
            media_type,
            urls: Vec::new(),
        },
        layers,
        is_image,
    })
}

/// The cache config a manifest's config blob holds: the blob itself for a cache manifest, the
/// [`INLINE_CONFIG_KEY`] value of an image config.
pub(super) fn read_config(
    at: &str,
    manifest: &ParsedManifest,
    bytes: &[u8],
) -> Result<CacheConfig, RemoteCacheError> {
    let json = |what: &'static str| {
        move |source: serde_json::Error| RemoteCacheError::Json {
            reference: at.to_string(),
            what,
            source,
        }
    };
    let config: CacheConfig = if manifest.is_image {
        let mut image: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(bytes).map_err(json("image config"))?;
        let Some(value) = image.remove(INLINE_CONFIG_KEY) else {
            let buildkit = if image.contains_key(BUILDKIT_INLINE_KEY) {
                format!(
                    " (it holds BuildKit's inline cache, {BUILDKIT_INLINE_KEY}, which silo \
                     cannot use: BuildKit's cache keys are not silo's)"
                )
            } else {
                String::new()
            };
            return Err(RemoteCacheError::Format {
                reference: at.to_string(),
                message: format!(
                    "is an image without silo's inline cache (build it with --cache-to \
                     type=inline){buildkit}"
                ),
            });
        };
        serde_json::from_value(value).map_err(json("inline cache"))?
    } else {
        serde_json::from_slice(bytes).map_err(json("cache config"))?
    };
    check_config(at, &config, &manifest.layers)?;
    Ok(config)
}

/// Checks a cache config: the right format and version, and every record's layer and setup's
/// blob among the manifest's layers.
fn check_config(
    at: &str,
    config: &CacheConfig,
    layers: &HashMap<Digest, BlobRef>,
) -> Result<(), RemoteCacheError> {
    let format = |message: String| RemoteCacheError::Format {
        reference: at.to_string(),
        message,
    };
    if config.format != FORMAT_NAME {
        return Err(format(format!(
            "cache config format {:?}, expected {FORMAT_NAME:?}",
            config.format
        )));
    }
    if config.version != FORMAT_VERSION {
        return Err(format(format!(
            "cache format version {} (this silo reads version {FORMAT_VERSION}); export it again \
             with this silo",
            config.version
        )));
    }
    for record in &config.records {
        let d = &record.layer.descriptor;
        let digest = d.digest();
        let Some(listed) = layers.get(digest) else {
            return Err(format(format!(
                "record {} names layer {digest}, which the cache manifest does not hold",
                record.key
            )));
        };
        // The record's descriptor goes into built manifests: it must agree with the listing.
        if listed.size != d.size() || listed.media_type != d.media_type().to_string() {
            return Err(format(format!(
                "record {} describes layer {digest} as {} bytes of {}, the manifest as {} bytes \
                 of {}",
                record.key,
                d.size(),
                d.media_type(),
                listed.size,
                listed.media_type
            )));
        }
    }
    for setup in &config.setups {
        let agrees = layers
            .get(&setup.digest)
            .is_some_and(|l| l.size == setup.size && l.media_type == setup.media_type);
        if !agrees {
            return Err(format(format!(
                "setup {} ({}, {} bytes of {}) is not among the cache manifest's layers",
                setup.key, setup.digest, setup.size, setup.media_type
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use oci_spec::image::Descriptor;

    use super::*;
    use crate::build::sources::base::BlobHome;

    fn layer(n: u8) -> CachedLayer {
        let hex = format!("{n:02x}").repeat(32);
        CachedLayer {
            descriptor: Descriptor::new(
                oci_spec::image::MediaType::ImageLayerGzip,
                100 + u64::from(n),
                Digest::try_from(format!("sha256:{hex}")).unwrap(),
            ),
            diff_id: Digest::try_from(format!("sha256:{}", "e".repeat(64))).unwrap(),
            created: Some(1_700_000_000),
        }
    }

    fn records(list: &[(u8, &str)]) -> Vec<UsedRecord> {
        list.iter()
            .map(|(n, k)| UsedRecord {
                key: k.to_string(),
                layer: layer(*n),
                home: BlobHome::Store,
            })
            .collect()
    }

    fn parsed(manifest_bytes: Vec<u8>) -> ParsedManifest {
        let manifest = RawManifest::from_bytes(
            "t",
            manifest_bytes,
            Some(registry_client::manifest::OCI_MANIFEST),
        )
        .unwrap();
        parse_manifest("t", &manifest).unwrap()
    }

    #[test]
    fn exported_config_reads_back_and_foreign_or_broken_ones_are_refused() {
        let records = records(&[(1, "k1"), (2, "k2"), (1, "k3")]);
        let setup = SetupEntry {
            key: "wine-system:sha256:k".into(),
            media_type: "application/vnd.silo.wine.system.v1.tar+zstd".into(),
            digest: format!("sha256:{}", "5".repeat(64)).parse().unwrap(),
            size: 4096,
        };
        let (manifest_bytes, config_bytes) = cache_manifest(&records, std::slice::from_ref(&setup));
        let mut manifest = parsed(manifest_bytes);
        assert!(!manifest.is_image);
        assert_eq!(
            manifest.layers.len(),
            3,
            "each layer blob once, and the setup's"
        );
        assert_eq!(manifest.config.size, config_bytes.len() as u64);
        let back = read_config("t", &manifest, &config_bytes).unwrap();
        assert_eq!(back.setups.len(), 1);
        assert_eq!(back.setups[0].digest, setup.digest);
        assert_eq!(
            back.records
                .iter()
                .map(|r| r.key.as_str())
                .collect::<Vec<_>>(),
            ["k1", "k2", "k3"]
        );
        let refused = |m: &ParsedManifest, bytes: &[u8]| {
            read_config("t", m, bytes).err().unwrap().to_string()
        };
        // A setup whose blob the manifest lacks is refused.
        let all = manifest.layers.clone();
        manifest.layers.remove(&setup.digest);
        assert!(refused(&manifest, &config_bytes).contains("setup"));
        // A record naming a layer the manifest lacks is refused.
        manifest.layers = all.clone();
        manifest.layers.remove(layer(2).descriptor.digest());
        assert!(refused(&manifest, &config_bytes).contains("does not hold"));
        // A record disagreeing with the manifest about a layer's size is refused.
        manifest.layers = all.clone();
        manifest
            .layers
            .get_mut(layer(1).descriptor.digest())
            .unwrap()
            .size += 1;
        assert!(refused(&manifest, &config_bytes).contains("bytes"));
        // Another version is refused with a hint, not misread.
        manifest.layers = all;
        let mut doc: serde_json::Value = serde_json::from_slice(&config_bytes).unwrap();
        doc["version"] = 2.into();
        let newer = serde_json::to_vec(&doc).unwrap();
        assert!(refused(&manifest, &newer).contains("version 2"));
    }

    #[test]
    fn an_image_config_yields_its_inline_cache_or_says_why_not() {
        let records = records(&[(1, "k1"), (2, "k2")]);
        let layers: Vec<serde_json::Value> = [1u8, 2]
            .iter()
            .map(|n| serde_json::to_value(layer(*n).descriptor).unwrap())
            .collect();
        let image_manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": registry_client::manifest::OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": format!("sha256:{}", "c".repeat(64)),
                "size": 10,
            },
            "layers": layers,
        });
        let manifest = parsed(serde_json::to_vec(&image_manifest).unwrap());
        assert!(manifest.is_image);
        let mut config = serde_json::json!({"architecture": "amd64", "os": "windows"});
        config[INLINE_CONFIG_KEY] = inline_value(&records);
        let back = read_config("t", &manifest, &serde_json::to_vec(&config).unwrap()).unwrap();
        assert_eq!(back.records.len(), 2);
        assert!(back.setups.is_empty());
        // Without silo's key: a clear refusal, naming BuildKit's when that is what it has.
        let plain = serde_json::json!({"os": "windows", BUILDKIT_INLINE_KEY: "e30="});
        let err = read_config("t", &manifest, &serde_json::to_vec(&plain).unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("without silo's inline cache"), "{err}");
        assert!(err.contains(BUILDKIT_INLINE_KEY), "{err}");
    }

    #[test]
    fn min_keeps_the_records_of_the_image_layers_once() {
        let all = records(&[(1, "k1"), (2, "k2"), (1, "k1"), (3, "k3")]);
        let image = [
            layer(1).descriptor.digest().clone(),
            layer(3).descriptor.digest().clone(),
        ];
        let keys = |v: Vec<UsedRecord>| v.into_iter().map(|r| r.key).collect::<Vec<_>>();
        assert_eq!(
            keys(select_records(&all, &image, CacheMode::Min)),
            ["k1", "k3"]
        );
        assert_eq!(
            keys(select_records(&all, &image, CacheMode::Max)),
            ["k1", "k2", "k3"]
        );
    }
}
