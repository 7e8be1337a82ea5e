//! The regf registry hive codec: reading and writing hives (including differencing hives with
//! layered keys), the key-tree model, diff and merge, and the bridge to Wine's text registry.
pub mod wine_reg;
