//! The Windows layer codec: [`ChangeSet`] → Windows layer tar (`Files/…`, `Hives/*_Delta`, PAX
//! records) and layer tar → typed entries; safe unpacking to a directory for the runtimes.
//!
//! - [`writer`]: ChangeSet → tar → gzip/zstd with diff_id and digest in one pass.
//! - [`pgzip`]: block-parallel gzip (deterministic whatever the thread count).
//! - [`tarfmt`]: the header bytes; [`sd`]: security descriptors; [`owner`]: `--chown` → SID.
//! - [`reader`]: any layer (gzip/zstd/plain; Windows or Linux) → typed entries.
//! - [`unpack`]: safe extraction; [`check`]: hcsshim's import rules.

pub mod changeset;
pub mod check;
pub mod owner;
pub mod pgzip;
pub mod reader;
pub mod scan;
pub mod sd;
pub mod tarfmt;
pub mod unpack;
pub mod writer;

pub use changeset::{
    AltStream, ChangeSet, Entry, EntryKind, FileMeta, FileSource, HiveName, Timestamp,
};
pub use reader::{list_layer, read_layer, LayerEntry, LayerEntryKind, ReadSummary};
pub use unpack::{
    unpack, unpack_strict, unpack_with, Refusal, UnpackFilter, UnpackOptions, UnpackReport,
};
pub use writer::{write_layer, LayerCompression, LayerDigests, WriteOptions};

/// `FILE_ATTRIBUTE_*` bits the codec sets itself.
pub mod attributes {
    pub const READONLY: u32 = 0x1;
    pub const HIDDEN: u32 = 0x2;
    pub const SYSTEM: u32 = 0x4;
    pub const DIRECTORY: u32 = 0x10;
    pub const ARCHIVE: u32 = 0x20;
    pub const NORMAL: u32 = 0x80;
    pub const REPARSE_POINT: u32 = 0x400;
}

/// Errors of the layer codec.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("bad path {path:?} in the change set: {reason}")]
    InvalidPath { path: String, reason: String },
    #[error("{0:?} appears twice in the change set (Windows paths compare case-insensitively)")]
    DuplicatePath(String),
    #[error("{path}: the change set says {expected} bytes but the source has {actual} (did the file change while the layer was written?)")]
    SizeChanged {
        path: String,
        expected: u64,
        actual: u64,
    },
    #[error("malformed layer tar at uncompressed offset {offset}: {message}")]
    Malformed { offset: u64, message: String },
    #[error("unpack refused {} entries:\n  {}", .0.len(), .0.join("\n  "))]
    Refused(Vec<String>),
}

impl LayerError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        LayerError::Io {
            what: what.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests;

/// One character as NTFS compares names (its `$UpCase` table): simple upper-casing;
/// characters whose upper case is more than one character, like `ß`, stay as they are.
fn ntfs_upcase(ch: char) -> char {
    let mut up = ch.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => ch,
    }
}

/// A name or path as NTFS compares it. This is silo's one case fold for Windows names: every
/// case-insensitive lookup, key or comparison of file names and paths goes through it (or
/// [`ntfs_eq`]), so `σ`/`ς`, `ſ`/`s` and the like match exactly when NTFS says they do.
pub(crate) fn ntfs_fold(name: &str) -> String {
    name.chars().map(ntfs_upcase).collect()
}

/// Whether NTFS takes two names (or paths) for the same one.
pub(crate) fn ntfs_eq(a: &str, b: &str) -> bool {
    a.chars().map(ntfs_upcase).eq(b.chars().map(ntfs_upcase))
}
