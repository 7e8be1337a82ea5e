//! Manifest, index and config documents: parsing that tells manifests from indexes whichever
//! media-type family they use, and building a manifest as canonical bytes (sorted keys, so equal
//! images have equal digests). Types are oci-spec's.

use oci_spec::image::{
    Descriptor, ImageConfiguration, ImageIndex, ImageManifest, ImageManifestBuilder, MediaType,
};

use super::digest::{canonical_json, digest_of_bytes};
use super::media::Flavor;

/// A parsed manifest-or-index document.
#[derive(Debug, Clone)]
pub enum Manifest {
    Image(Box<ImageManifest>),
    Index(Box<ImageIndex>),
}

/// Errors of image metadata: a manifest, index or config that does not parse or is not valid.
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
