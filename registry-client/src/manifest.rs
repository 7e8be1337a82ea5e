//! Manifests as the registry sent them. The raw bytes and their digest are the truth: we parse
//! them to find descriptors and platforms, but never re-serialize a pulled manifest (that would
//! change its digest). Handles Docker v2s2 manifests and manifest lists, OCI manifests and indexes,
//! checks `Content-Type` against the body's `mediaType`, and recognises foreign
//! (non-distributable) layers.

use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageManifest};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_FOREIGN_GZIP: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
pub const DOCKER_FOREIGN_TAR: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const OCI_NONDIST_PREFIX: &str = "application/vnd.oci.image.layer.nondistributable.";

/// The `Accept` header for manifest requests: every kind we understand.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Largest manifest body we accept (the spec asks registries to take at least 4 MB).
pub const MAX_MANIFEST_BYTES: usize = 8 * 1024 * 1024;

/// How deep indexes may nest (an index whose entry is an index, e.g. a vendor's layout or an
/// attestation index): pull, copy, push and platform selection recurse this many levels below the
/// root and refuse anything deeper with an error naming the digest.
pub const MAX_INDEX_DEPTH: usize = 4;

/// The error for an index nested deeper than [`MAX_INDEX_DEPTH`].
pub fn too_deep(reference: &str, digest: &str) -> crate::Error {
    crate::Error::Manifest {
        reference: reference.to_string(),
        reason: format!(
            "index {digest} is nested more than {MAX_INDEX_DEPTH} levels below the root; refusing (a malformed or hostile index — pull the inner index by digest)"
        ),
    }
}

/// Whether a media type names an index/list (as opposed to one image manifest).
pub fn is_index(media_type: &str) -> bool {
    media_type == DOCKER_LIST || media_type == OCI_INDEX
}

/// Whether a media type is one of the four manifest kinds.
pub fn is_manifest_type(media_type: &str) -> bool {
    matches!(
        media_type,
        DOCKER_MANIFEST | DOCKER_LIST | OCI_MANIFEST | OCI_INDEX
    )
}

/// Foreign (Docker) or non-distributable (OCI) layer media types.
pub fn is_foreign(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.docker.image.rootfs.foreign.")
        || media_type.starts_with(OCI_NONDIST_PREFIX)
}

/// The distributable media type a foreign layer becomes when `--strip-foreign-urls` uploads it.
pub fn distributable_type(media_type: &str) -> String {
    if media_type == DOCKER_FOREIGN_GZIP {
        DOCKER_LAYER_GZIP.to_string()
    } else if media_type == DOCKER_FOREIGN_TAR {
        "application/vnd.docker.image.rootfs.diff.tar".to_string()
    } else if let Some(rest) = media_type.strip_prefix(OCI_NONDIST_PREFIX) {
        format!("application/vnd.oci.image.layer.{rest}")
    } else {
        media_type.to_string()
    }
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A manifest as received: exact bytes, their digest and the media type.
#[derive(Clone)]
pub struct RawManifest {
    pub bytes: Vec<u8>,
    pub digest: String,
    pub media_type: String,
}

impl std::fmt::Debug for RawManifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RawManifest({} {} {} bytes)",
            self.media_type,
            self.digest,
            self.bytes.len()
        )
    }
}

/// The parsed view of a manifest.
#[derive(Debug, Clone)]
pub enum Parsed {
    Image(Box<ImageManifest>),
    Index(Box<ImageIndex>),
}

#[derive(serde::Deserialize)]
struct Probe {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<u64>,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    manifests: Option<serde_json::Value>,
    layers: Option<serde_json::Value>,
}

impl RawManifest {
    /// The manifest as a blob to store (its digest, size and media type).
    pub fn blob_ref(&self) -> Result<BlobRef> {
        let digest = self.digest.parse::<Digest>().map_err(|e| Error::Manifest {
            reference: self.digest.clone(),
            reason: format!("digest: {e}"),
        })?;
        Ok(BlobRef {
            digest,
            size: self.bytes.len() as u64,
            media_type: self.media_type.clone(),
            urls: vec![],
        })
    }

    /// Build from bytes received for `reference`. `content_type` is the response header, if any.
    /// The media type is taken from the body; a body without one falls back to the header, then
    /// to its shape. A manifest-type header that contradicts the body is an error.
    pub fn from_bytes(reference: &str, bytes: Vec<u8>, content_type: Option<&str>) -> Result<Self> {
        let bad = |reason: String| Error::Manifest {
            reference: reference.to_string(),
            reason,
        };
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(bad(format!(
                "{} bytes is over the {MAX_MANIFEST_BYTES}-byte limit for manifests",
                bytes.len()
            )));
        }
        let probe: Probe = serde_json::from_slice(&bytes).map_err(|e| {
            bad(format!(
                "not valid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ))
        })?;
        match probe.schema_version {
            Some(2) => {}
            Some(1) => return Err(bad("schema 1 manifests are deprecated and not supported; re-push the image with a current tool".into())),
            other => return Err(bad(format!("schemaVersion {other:?} is not 2"))),
        }
        let header = content_type
            .map(|c| {
                c.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .filter(|c| !c.is_empty());
        let media_type = match (&probe.media_type, &header) {
            (Some(body), Some(h)) if is_manifest_type(h) && h != body => {
                return Err(bad(format!(
                    "the registry sent Content-Type {h} but the manifest says mediaType {body}; refusing an ambiguous manifest"
                )))
            }
            (Some(body), _) => body.clone(),
            (None, Some(h)) if is_manifest_type(h) => h.clone(),
            (None, _) if probe.manifests.is_some() => OCI_INDEX.to_string(),
            (None, _) if probe.layers.is_some() => OCI_MANIFEST.to_string(),
            (None, _) => return Err(bad("has neither mediaType, manifests nor layers".into())),
        };
        if !is_manifest_type(&media_type) {
            return Err(bad(format!("unsupported mediaType {media_type}")));
        }
        let digest = sha256_digest(&bytes);
        let raw = RawManifest {
            bytes,
            digest,
            media_type,
        };
        raw.parse_as(reference)?;
        Ok(raw)
    }

    pub fn is_index(&self) -> bool {
        is_index(&self.media_type)
    }

    /// Parse into oci-spec types (Docker v2s2 has the same shape).
    pub fn parse(&self) -> Result<Parsed> {
        self.parse_as(&self.digest)
    }

    fn parse_as(&self, reference: &str) -> Result<Parsed> {
        let bad = |e: serde_json::Error| Error::Manifest {
            reference: reference.to_string(),
            reason: format!("malformed {}: {e}", self.media_type),
        };
        if self.is_index() {
            Ok(Parsed::Index(Box::new(
                serde_json::from_slice(&self.bytes).map_err(bad)?,
            )))
        } else {
            Ok(Parsed::Image(Box::new(
                serde_json::from_slice(&self.bytes).map_err(bad)?,
            )))
        }
    }

    /// The image manifest, or an error naming what this is instead.
    pub fn image(&self) -> Result<ImageManifest> {
        match self.parse()? {
            Parsed::Image(m) => Ok(*m),
            Parsed::Index(_) => Err(Error::Manifest {
                reference: self.digest.clone(),
                reason: "is an index, not an image manifest".into(),
            }),
        }
    }

    /// The index, or an error.
    pub fn index(&self) -> Result<ImageIndex> {
        match self.parse()? {
            Parsed::Index(i) => Ok(*i),
            Parsed::Image(_) => Err(Error::Manifest {
                reference: self.digest.clone(),
                reason: "is an image manifest, not an index".into(),
            }),
        }
    }

    /// Check the bytes against an expected digest (a digest reference or an index entry).
    pub fn verify(&self, expected: &str) -> Result<()> {
        if expected.starts_with("sha256:") && expected != self.digest {
            return Err(Error::Manifest {
                reference: expected.to_string(),
                reason: format!(
                    "content digest is {}; the registry served different bytes",
                    self.digest
                ),
            });
        }
        if let Some(hexpart) = expected.strip_prefix("sha512:") {
            use sha2::Sha512;
            let got = hex::encode(Sha512::digest(&self.bytes));
            if got != hexpart {
                return Err(Error::Manifest {
                    reference: expected.to_string(),
                    reason: format!("content digest is sha512:{got}"),
                });
            }
        }
        Ok(())
    }
}

/// Descriptor fields the engines need, independent of oci-spec's getters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub urls: Vec<String>,
}

impl From<&Descriptor> for BlobRef {
    fn from(d: &Descriptor) -> Self {
        BlobRef {
            digest: d.digest().clone(),
            size: d.size(),
            media_type: d.media_type().to_string(),
            urls: d.urls().clone().unwrap_or_default(),
        }
    }
}

impl BlobRef {
    pub fn is_foreign(&self) -> bool {
        is_foreign(&self.media_type)
    }
}

/// Config then layers of an image manifest.
pub fn blobs_of(m: &ImageManifest) -> (BlobRef, Vec<BlobRef>) {
    (
        BlobRef::from(m.config()),
        m.layers().iter().map(BlobRef::from).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn docker_manifest() -> Vec<u8> {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":10,"digest":"{D1}"}},"layers":[{{"mediaType":"{DOCKER_FOREIGN_GZIP}","size":101145811,"digest":"{D1}","urls":["https://mcr.microsoft.com/v2/windows/nanoserver/blobs/{D1}"]}}]}}"#
        )
        .into_bytes()
    }

    #[test]
    fn keeps_bytes_and_digest() {
        // Odd whitespace must survive: the digest is of the bytes as sent.
        let mut b = docker_manifest();
        b.extend_from_slice(b"  \n");
        let m = RawManifest::from_bytes("x", b.clone(), Some(DOCKER_MANIFEST)).unwrap();
        assert_eq!(m.bytes, b);
        assert_eq!(m.digest, sha256_digest(&b));
        let (_, layers) = blobs_of(&m.image().unwrap());
        assert!(layers[0].is_foreign());
        assert_eq!(layers[0].urls.len(), 1);
        m.verify(&m.digest).unwrap();
        assert!(m
            .verify(D1)
            .unwrap_err()
            .to_string()
            .contains("different bytes"));
    }

    #[test]
    fn content_type_must_match() {
        let e = RawManifest::from_bytes("r", docker_manifest(), Some(OCI_MANIFEST)).unwrap_err();
        assert!(e.to_string().contains("Content-Type"), "{e}");
        // A generic header defers to the body.
        RawManifest::from_bytes(
            "r",
            docker_manifest(),
            Some("application/json; charset=utf-8"),
        )
        .unwrap();
        // No mediaType in the body: the header decides, else the shape.
        let oci = br#"{"schemaVersion":2,"manifests":[]}"#.to_vec();
        assert_eq!(
            RawManifest::from_bytes("r", oci.clone(), None)
                .unwrap()
                .media_type,
            OCI_INDEX
        );
        assert_eq!(
            RawManifest::from_bytes("r", oci, Some(DOCKER_LIST))
                .unwrap()
                .media_type,
            DOCKER_LIST
        );
    }

    #[test]
    fn malformed_is_a_clear_error() {
        let e = RawManifest::from_bytes("reg/x:1", b"{\"schemaVersion\":2,".to_vec(), None)
            .unwrap_err();
        assert!(
            e.to_string().contains("reg/x:1") && e.to_string().contains("line 1"),
            "{e}"
        );
        let e = RawManifest::from_bytes("r", br#"{"schemaVersion":1}"#.to_vec(), None).unwrap_err();
        assert!(e.to_string().contains("schema 1"));
        let e = RawManifest::from_bytes(
            "r",
            format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":"x"}}"#)
                .into_bytes(),
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("malformed"), "{e}");
        let big = vec![b' '; MAX_MANIFEST_BYTES + 1];
        assert!(RawManifest::from_bytes("r", big, None)
            .unwrap_err()
            .to_string()
            .contains("limit"));
    }

    #[test]
    fn foreign_types() {
        assert!(is_foreign(DOCKER_FOREIGN_GZIP));
        assert!(is_foreign(
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        ));
        assert!(!is_foreign(DOCKER_LAYER_GZIP));
        assert_eq!(distributable_type(DOCKER_FOREIGN_GZIP), DOCKER_LAYER_GZIP);
        assert_eq!(
            distributable_type("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"),
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
    }
}
