//! The build engine: runs the stages the Dockerfile frontend plans, does their filesystem steps
//! (COPY/ADD/WORKDIR directly, RUN through a [`crate::runtime::Runtime`]), snapshots each step
//! into a layer and assembles the image and its outputs.
//!
//! - [`engine`]: stages → steps → layers → image; errors with file:line.
//! - [`base`]: base images (store, registry, `oci:`, `docker-archive:`), platform entry by `os.version`,
//!   where layer bytes live (read lazily).
//! - [`config`]: the full image config (docker's superset of OCI's), kept from the base;
//!   [`frontend_config`] bridges it to the frontend's view.
//! - [`context`], [`copy`]: COPY/ADD sources, BuildKit's copy rules (`--chown` SIDs: [`crate::layer::owner`]).
//! - [`layer_pick`]: which layers a `COPY --from` needs (top-down, stops when settled).
//! - [`url_source`]: ADD of http(s) URLs (download, `--checksum`).
//! - [`cache`]: per-step cache keys and records in the store; [`remote_cache`]: the same
//!   records exported to and imported from a registry (`--cache-to`/`--cache-from`).
//! - [`output`]: store tags, OCI layout, docker-archive; [`registry_push`]: `--push` (base layers
//!   mounted or found present, never downloaded).
//! - [`progress`], [`runtimes`]: progress display; `--runtime` selection.

pub mod base;
pub mod cache;
pub mod config;
pub mod context;
pub mod copy;
pub mod engine;
pub mod frontend_config;
pub mod layer_pick;
pub mod output;
pub mod progress;
pub mod registry_push;
pub mod remote_cache;
pub mod run_mounts;
pub mod runtimes;
pub mod url_source;
