//! Where a build's results go:
//! - [`output`]: store tags, an OCI layout (tarball or directory), a docker-archive.
//!
//! The filesystem outputs (`type=local`, `type=tar`) are the merged view of the image that
//! inspection owns ([`crate::inspect::tree`]); `silo build` writes them from there.
//! - [`registry_push`]: `--push` (base layers mounted or found present, never downloaded).
//! - [`remote_cache`]: the step cache imported and exported (`--cache-from`/`--cache-to`), in
//!   the record format of [`cache_format`], at a location: a registry (there), a local
//!   directory ([`cache_local`]) or the image config (inline); [`cache_spec`] parses the flags.

pub mod cache_format;
pub mod cache_local;
pub mod cache_spec;
pub mod output;
pub mod registry_push;
pub mod remote_cache;
