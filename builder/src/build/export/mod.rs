//! Where a build's results go:
//! - [`output`]: store tags, an OCI layout (tarball or directory), a docker-archive.
//! - [`filesystem`]: the image's `C:\` as a directory or a tar (`type=local`, `type=tar`).
//! - [`registry_push`]: `--push` (base layers mounted or found present, never downloaded).
//! - [`remote_cache`]: the step cache exported to and imported from a registry
//!   (`--cache-to`/`--cache-from`).

pub mod filesystem;
pub mod output;
pub mod registry_push;
pub mod remote_cache;
