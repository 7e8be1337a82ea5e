//! The Windows layer codec: [`ChangeSet`] → Windows layer tar (`Files/…`, `Hives/*_Delta`, PAX
//! records) and layer tar → typed entries; safe unpacking to a directory for the runtimes.

pub mod changeset;

pub use changeset::{AltStream, ChangeSet, Entry, EntryKind, FileMeta, FileSource, HiveName};
