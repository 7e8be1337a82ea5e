//! The build engine: turns parsed Dockerfile stages into steps, runs them (COPY/ADD directly,
//! RUN through a [`crate::runtime::Runtime`]), snapshots each step into a layer and assembles the
//! image.
//!
//! - [`config`]: the image config (docker's superset of OCI's) and metadata instructions' effect.

pub mod base;
pub mod cache;
pub mod config;
pub mod context;
pub mod copy;
pub mod engine;
pub mod frontend_config;
pub mod output;
pub mod owner;
pub mod progress;
pub mod runtimes;
