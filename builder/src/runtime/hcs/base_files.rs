//! How a base layer's entries reach its layer folder. hcsshim's `baseLayerWriter`
//! (internal/wclayer/baselayerwriter.go; research windows-layers.md §1.3) creates each entry in
//! place, sets its basic info (times and attributes), then restores its Win32 backup stream —
//! security descriptor, EAs, reparse data, data, alternate streams — with `BackupWrite`, so the
//! layer keeps everything the tar says. [`BaseFiles`] is that seam:
//!
//! - on Windows, `ffi_files::Win32BaseFiles` does it through `CreateFileW` + `BackupWrite`
//!   (with SeBackup/SeRestore enabled, so owners and SACLs are restored too);
//! - elsewhere [`PlainBaseFiles`] keeps only what a non-Windows file system can hold — the data
//!   stream, directories, times — which is all the Linux unit tests of the runtime need.
//!
//! Both take the same calls from `import.rs`, whose stream order the tests check on a recording
//! implementation.

use std::fs;
use std::io::{self, BufWriter, Read};
use std::path::Path;

use super::backup;
use crate::layer::Timestamp;

/// `FILE_BASIC_INFO` of an entry, as go-winio's `FileInfoFromHeader` derives it from the tar:
/// last write = change = mtime, last access = atime (else mtime), creation =
/// `LIBARCHIVE.creationtime` (else mtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasicInfo {
    pub creation: Timestamp,
    pub last_access: Timestamp,
    pub last_write: Timestamp,
    pub attributes: u32,
}

impl BasicInfo {
    /// `t` as a Windows `FILETIME` (100 ns ticks since 1601-01-01), clamped to its range.
    pub fn filetime(t: Timestamp) -> i64 {
        const SECS_1601_TO_1970: i64 = 11_644_473_600;
        t.secs
            .saturating_add(SECS_1601_TO_1970)
            .saturating_mul(10_000_000)
            .saturating_add(i64::from(t.nanos / 100))
            .max(0)
    }
}

/// Where one entry's backup streams go, in go-winio's order (security descriptor, EAs,
/// reparse data, data, alternate streams).
pub trait StreamSink {
    /// One stream of exactly `size` bytes from `data`; `name` is empty except for alternate
    /// data streams (`:name:$DATA`).
    fn stream(&mut self, id: u32, name: &str, size: u64, data: &mut dyn Read) -> io::Result<()>;
    /// Flushes and closes the entry.
    fn finish(self: Box<Self>) -> io::Result<()>;
}

/// Creates a base layer's entries.
pub trait BaseFiles: Send + Sync {
    /// Creates `path` — a new file, or a directory (which may exist already, made as the parent
    /// of an earlier entry) — with `info`, and returns the sink of its backup streams. Its parent
    /// exists.
    fn create(
        &self,
        path: &Path,
        directory: bool,
        info: &BasicInfo,
    ) -> io::Result<Box<dyn StreamSink>>;
    /// Sets a directory's times again once everything in it is written (adding children
    /// changed them), as hcsshim's `reapplyDirectoryTimes` does at `Close`.
    fn restore_directory_times(&self, path: &Path, info: &BasicInfo) -> io::Result<()>;
    /// Copies the entry `from` (a file, a directory without its children, or a reparse point
    /// itself) to the new path `to` with its basic info and every backup stream, as hcsshim's
    /// `copyFileWithMetadata` does when it clones a parent's utility VM. `to`'s parent exists.
    fn copy_entry(&self, from: &Path, to: &Path, directory: bool) -> io::Result<()>;
    /// Gives the directory `to` the basic info of `from` again (after its children were
    /// added), as `reapplyDirectoryTimes` does for a clone.
    fn copy_directory_times(&self, from: &Path, to: &Path) -> io::Result<()>;
}

/// The base-layer writer for hosts without NTFS: data streams, directories and times only.
pub struct PlainBaseFiles;

impl BaseFiles for PlainBaseFiles {
    fn create(
        &self,
        path: &Path,
        directory: bool,
        info: &BasicInfo,
    ) -> io::Result<Box<dyn StreamSink>> {
        if directory {
            fs::create_dir_all(path)?;
            return Ok(Box::new(PlainSink {
                file: None,
                info: *info,
            }));
        }
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)?;
        Ok(Box::new(PlainSink {
            file: Some(BufWriter::new(file)),
            info: *info,
        }))
    }

    fn restore_directory_times(&self, path: &Path, info: &BasicInfo) -> io::Result<()> {
        fs::File::open(path)?.set_times(file_times(info))
    }

    fn copy_entry(&self, from: &Path, to: &Path, directory: bool) -> io::Result<()> {
        let meta = fs::symlink_metadata(from)?;
        if meta.file_type().is_symlink() {
            // A reparse point stays one: the link, never its target.
            #[cfg(unix)]
            return std::os::unix::fs::symlink(fs::read_link(from)?, to);
            #[cfg(not(unix))]
            return Err(io::Error::other("copying a link needs NTFS"));
        }
        if directory {
            fs::create_dir(to)?;
        } else {
            fs::copy(from, to)?;
        }
        self.copy_directory_times(from, to)
    }

    fn copy_directory_times(&self, from: &Path, to: &Path) -> io::Result<()> {
        let meta = fs::metadata(from)?;
        let mut times = fs::FileTimes::new().set_modified(meta.modified()?);
        if let Ok(accessed) = meta.accessed() {
            times = times.set_accessed(accessed);
        }
        fs::File::open(to)?.set_times(times)
    }
}

/// Keeps the data stream of a file; the metadata streams have no place off NTFS.
struct PlainSink {
    file: Option<BufWriter<fs::File>>,
    info: BasicInfo,
}

impl StreamSink for PlainSink {
    fn stream(&mut self, id: u32, _: &str, size: u64, data: &mut dyn Read) -> io::Result<()> {
        let limited = &mut data.take(size);
        let copied = match (&mut self.file, id) {
            (Some(file), backup::BACKUP_DATA) => io::copy(limited, file)?,
            _ => io::copy(limited, &mut io::sink())?,
        };
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the source ended after {copied} of {size} bytes"),
            ));
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        match self.file {
            // Set last: writing the data moves the modification time.
            Some(file) => {
                let file = file.into_inner().map_err(|e| e.into_error())?;
                file.set_times(file_times(&self.info))
            }
            None => Ok(()),
        }
    }
}

/// `info`'s times for `File::set_times` (creation time only where the platform has it).
pub fn file_times(info: &BasicInfo) -> fs::FileTimes {
    let mut times = fs::FileTimes::new();
    if let Some(t) = system_time(info.last_write) {
        times = times.set_modified(t);
    }
    if let Some(t) = system_time(info.last_access) {
        times = times.set_accessed(t);
    }
    #[cfg(windows)]
    if let Some(t) = system_time(info.creation) {
        use std::os::windows::fs::FileTimesExt as _;
        times = times.set_created(t);
    }
    times
}

fn system_time(t: Timestamp) -> Option<std::time::SystemTime> {
    use std::time::{Duration, SystemTime};
    let whole = if t.secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(t.secs.unsigned_abs()))
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(t.secs.unsigned_abs()))
    }?;
    whole.checked_add(Duration::from_nanos(u64::from(t.nanos)))
}
