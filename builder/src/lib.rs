//! silo: a daemonless toolkit that builds, pulls, pushes and inspects Windows container images.
//!
//! The library holds everything; the `silo` binary only parses the command line and calls in.
//! Modules, bottom first; each imports only those before it. The picture, the data flow and the
//! rules are in the repository's `docs/architecture.md`; `module_order.rs` (a unit test) fails
//! when a module imports one above it.
//! - [`oci`]: digests, media types, compression/flavor, manifest parsing and building, canonical
//!   JSON, `SOURCE_DATE_EPOCH`.
//! - [`layer`]: the Windows layer codec (`ChangeSet` ⇄ tar), safe unpacking, `--chown` SIDs.
//! - [`hive`]: the regf registry hive codec with layered keys, diff/merge, Wine `.reg` bridge.
//! - [`store`]: content-addressed blobs, refs, locks, caches; OCI layout, docker-archive and
//!   image locations.
//! - [`image`]: making images: the Windows config, `os.version` rules, `silo base create`.
//! - [`runtime`]: the `Runtime` trait and its implementations (`wine`, `hcs`, `none`).
//! - [`build`]: the build engine (stage graph → steps → layers → image).
//! - [`inspect`]: what `silo layers`/`ls`/`registry`/`diff` show of an image.
//! - [`cli`]: one module per verb of the `silo` command.
//!
//! Leaves any module may use: [`dockerfile`] (BuildKit-compatible parser, shell lexer, typed
//! instructions, Windows path rules) and [`error_text`] (an error with its causes, for messages).
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
