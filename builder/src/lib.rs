//! silo: a daemonless toolkit that builds, pulls, pushes and inspects Windows container images.
//!
//! The library holds everything; the `silo` binary only parses the command line and calls in.
//! Module map:
//! - [`dockerfile`]: BuildKit-compatible parser, shell lexer, typed instructions, Windows path rules.
//! - [`error_text`]: an error with its causes, for messages.
//! - [`image`]: manifests, configs, indexes and Windows platform (`os.version`) rules.
//! - [`store`]: content-addressed blobs, refs, locks, caches; OCI layout and docker-archive.
//! - [`layer`]: the Windows layer codec (`ChangeSet` ⇄ tar) and safe unpacking.
//! - [`hive`]: the regf registry hive codec with layered keys, diff/merge, Wine `.reg` bridge.
//! - [`inspect`]: what `silo layers`/`ls`/`registry`/`diff` show of an image.
//! - [`runtime`]: the `Runtime` trait and its implementations (`wine`, `hcs`, `none`).
//! - [`build`]: the build engine (stage graph → steps → layers → image).
//! - [`cli`]: one module per verb of the `silo` command.
// Unsafe code only where an FFI or system call needs it, each module allowing it says why.
#![deny(unsafe_code)]

pub mod build;
pub mod cli;
pub mod dockerfile;
pub mod error_text;
pub mod hive;
pub mod image;
pub mod inspect;
pub mod layer;
#[cfg(test)]
mod module_order;
pub mod oci;
pub mod runtime;
pub mod store;
