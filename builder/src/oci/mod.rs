//! The bottom of silo's module order: what the OCI and Docker image formats define, with no
//! knowledge of where images live or how they are built. It imports nothing of silo's; every
//! other module may import it.
//!
//! - [`digest`]: sha256 digests, hashing readers/writers, validation, canonical JSON.
//! - [`media`]: media types, [`Flavor`] (OCI or Docker v2s2), layer [`Compression`].
//! - [`manifest`]: manifest/index/config parsing and manifest building.
//! - [`time`]: `SOURCE_DATE_EPOCH` and RFC 3339 creation times.

pub mod digest;
pub mod manifest;
pub mod media;
pub mod time;

pub use digest::{canonical_json, digest_of_bytes, parse_sha256, sha256_hex, BadDigest};
pub use manifest::{build_manifest, parse_config, parse_manifest, Blob, ImageError, Manifest};
pub use media::{docker, is_index_media_type, layer_compression, Compression, Flavor};
pub use time::{creation_time, rfc3339, source_date_epoch};
