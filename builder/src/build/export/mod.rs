//! Where a build's results go:
//! - [`output`]: store tags, an OCI layout (tarball or directory), a docker-archive.
//!
//! The filesystem outputs (`type=local`, `type=tar`) are the merged view of the image that
//! inspection owns ([`crate::inspect::tree`]); `silo build` writes them from there.
//! - [`registry_push`]: `--push` (base layers mounted or found present, never downloaded).
//! - [`remote_cache`]: the step cache exported to and imported from a registry
//!   (`--cache-to`/`--cache-from`).

pub mod output;
pub mod registry_push;
pub mod remote_cache;
