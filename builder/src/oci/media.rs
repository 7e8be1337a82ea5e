//! Media types: the Docker v2s2 names beside oci-spec's OCI ones, the [`Flavor`] (which family an
//! image uses), layer [`Compression`] and what a media type says about a blob.

use oci_spec::image::MediaType;

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
