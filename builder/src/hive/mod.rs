//! The regf registry hive codec: reading and writing hives (including differencing hives with
//! layered keys), the key-tree model, diff and merge, and the bridge to Wine's text registry.
//!
//! - [`tree`]: the key tree ([`Key`], [`Value`], layer semantics) and Windows name rules.

pub mod tree;

pub use tree::{Key, KeyFlags, LayerSemantics, Value};
