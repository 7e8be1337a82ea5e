//! The build engine: runs the stages the Dockerfile frontend plans, does their filesystem steps
//! (COPY/ADD/WORKDIR directly, RUN through a [`crate::runtime::Runtime`]), snapshots each step
//! into a layer and assembles the image and its outputs.
//!
//! Split by role:
//! - [`engine`] (solving): stages → steps → layers → image; errors with file:line; the step
//!   cache, the image config, BuildKit's copy rules, `RUN --mount`, `--runtime` selection.
//! - [`sources`] (inputs): base images, the build context, ADD URLs, the layers `COPY --from`
//!   needs.
//! - [`export`] (results): store tags, OCI layout/tarball, docker-archive, `--push`, and the
//!   registry build cache (`--cache-to`/`--cache-from`).
//! - [`progress`]: the progress display.

pub mod engine;
pub mod export;
pub mod progress;
pub mod sources;
