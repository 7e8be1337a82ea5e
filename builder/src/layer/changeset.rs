//! `ChangeSet`: what one build step did to the container's `C:\` and registry. COPY/ADD build one
//! from the build context; a runtime builds one from its sandbox; the layer codec is the only place
//! that turns one into bytes.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The registry hives a layer can carry a delta for, named as in `Hives/<Name>_Delta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HiveName {
    System,
    Software,
    Sam,
    Security,
    DefaultUser,
}

impl HiveName {
    pub const ALL: [HiveName; 5] = [
        HiveName::System,
        HiveName::Software,
        HiveName::Sam,
        HiveName::Security,
        HiveName::DefaultUser,
    ];

    /// The delta file name inside `Hives/`, e.g. `Software_Delta`.
    pub fn delta_file_name(self) -> &'static str {
        match self {
            HiveName::System => "System_Delta",
            HiveName::Software => "Software_Delta",
            HiveName::Sam => "Sam_Delta",
            HiveName::Security => "Security_Delta",
            HiveName::DefaultUser => "DefaultUser_Delta",
        }
    }

    /// The base hive file in `Files/Windows/System32/config/` the delta applies to.
    pub fn base_file_name(self) -> &'static str {
        match self {
            HiveName::System => "SYSTEM",
            HiveName::Software => "SOFTWARE",
            HiveName::Sam => "SAM",
            HiveName::Security => "SECURITY",
            HiveName::DefaultUser => "DEFAULT",
        }
    }

    /// Parses a delta file name case-insensitively (hcsshim matches them that way), as NTFS
    /// compares names.
    pub fn from_delta_file_name(name: &str) -> Option<HiveName> {
        HiveName::ALL
            .into_iter()
            .find(|h| super::ntfs_eq(h.delta_file_name(), name))
    }
}

/// A Windows FILETIME-like instant kept as Unix seconds + nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

/// Windows metadata of one entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileMeta {
    /// `FILE_ATTRIBUTE_*` bits; `None` lets the codec choose (DIRECTORY or ARCHIVE).
    pub attributes: Option<u32>,
    /// Self-relative binary security descriptor; `None` means the codec's default owner/ACL.
    pub security_descriptor: Option<Vec<u8>>,
    pub creation_time: Option<Timestamp>,
    pub modification_time: Option<Timestamp>,
    pub access_time: Option<Timestamp>,
    /// Extended attributes (`MSWINDOWS.xattr.<name>`).
    pub extended_attributes: BTreeMap<String, Vec<u8>>,
}

/// Where a file's bytes come from; the codec streams them, never loading a path into memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    /// A file on the host, read when the layer is written.
    Path(PathBuf),
    /// Bytes held in memory (small generated files, heredocs).
    Bytes(Vec<u8>),
    /// `len` bytes at `offset` inside a host file, read when the layer is written (a file's data
    /// inside a Win32 backup stream of an HCS export folder).
    Range {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

/// An alternate data stream, written as a `file:stream` entry right after its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AltStream {
    pub name: String,
    pub source: FileSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Directory,
    File {
        source: FileSource,
        /// Size in bytes, known up front so headers can be written while streaming.
        size: u64,
    },
    /// A hard link to another path of this container (relative to `C:\`, `/`-separated).
    HardLink {
        target: String,
    },
    /// A symbolic link with its Windows-style target (`C:\foo` or `..\bar`).
    Symlink {
        target: String,
        directory: bool,
    },
    /// A junction (mount point) with its Windows-style target.
    Junction {
        target: String,
    },
}

/// One added or changed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The path relative to `C:\`, `/`-separated, without leading or trailing separator,
    /// e.g. `Windows/System32/drivers/etc/hosts`.
    pub path: String,
    pub kind: EntryKind,
    pub meta: FileMeta,
    pub streams: Vec<AltStream>,
}

/// Everything one step changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeSet {
    /// Added or changed paths (any order: the codec sorts and adds missing ancestors).
    pub entries: Vec<Entry>,
    /// Deleted paths relative to `C:\` (become `.wh.` whiteouts).
    pub deletions: Vec<String>,
    /// Registry deltas as ready regf bytes (differencing hives), one per hive that changed.
    pub hive_deltas: BTreeMap<HiveName, Vec<u8>>,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.deletions.is_empty() && self.hive_deltas.is_empty()
    }
}
