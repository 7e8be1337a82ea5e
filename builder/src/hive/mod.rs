//! The regf registry hive codec: reading and writing hives (including differencing hives with
//! layered keys), the key-tree model, diff and merge, and the bridge to Wine's text registry.
//!
//! - [`tree`]: the key tree ([`Key`], [`Value`], layer semantics) and Windows name rules.
//! - [`reader`] / [`writer`]: regf bytes ⇄ tree ([`read_hive`], [`write_hive`]).
//! - [`log`]: replay of `.LOG1`/`.LOG2` transaction logs into a dirty hive ([`log::recover`]).
//! - [`format`]: on-disk constants and the base-block checksum.
//! - [`layers`]: [`layers::diff`], [`layers::merge`] and [`layers::compose`] of differencing trees.
//! - [`minimal`]: minimal SYSTEM, SOFTWARE, SAM, SECURITY and DEFAULT hives for base images.
//! - [`path`]: reg.exe-style names (`HKLM\SOFTWARE\…`) → hive + path.
//! - [`render`]: `reg query /s`-like text and JSON of a tree.
//! - [`security`]: default security descriptors for keys created without one.

pub mod format;
pub mod layers;
pub mod log;
pub mod minimal;
pub mod path;
pub mod reader;
pub mod render;
pub mod security;
pub mod tree;
pub mod wine_reg;
pub mod writer;

pub use log::{read_hive_recovering, Recovery};
pub use reader::{read_hive, read_hive_with, ParsedHive, ReadError, ReadOptions};
pub use tree::{Key, KeyFlags, LayerSemantics, Value};
pub use writer::{write_hive, WriteError, WriteOptions};
