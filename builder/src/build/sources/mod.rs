//! Where a build's inputs come from:
//! - [`base`]: base images (store, registry, `oci:`, `docker-archive:`), the platform entry by
//!   `os.version`, where layer bytes live (read lazily).
//! - [`context`]: the build context (`.dockerignore`, COPY/ADD sources, file hashes).
//! - [`url_source`]: ADD of http(s) URLs (download, `--checksum`).
//! - [`layer_pick`]: which layers a `COPY --from` needs (top-down, stops when settled).
//! - [`named_context`]: `--build-context NAME=VALUE` (images and directories standing for a name).

pub mod base;
pub mod context;
pub mod layer_pick;
pub mod named_context;
pub mod url_source;
