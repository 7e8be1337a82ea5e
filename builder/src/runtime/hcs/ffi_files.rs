//! Win32 file work of the HCS runtime: the privileges layer storage needs, and the base-layer
//! writer that restores each entry's backup stream with `BackupWrite` ([`Win32BaseFiles`]).
//!
//! - vmcompute's `ImportLayer`/`ExportLayer` and `BackupWrite` with owners and SACLs need
//!   SeBackupPrivilege and SeRestorePrivilege *enabled*; an elevated token holds them disabled,
//!   and the raw calls do not enable them (hcsshim's callers wrap them in
//!   `winio.RunWithPrivileges`). silo enables both for the whole process once, when the runtime
//!   starts.
//! - A base entry is opened as hcsshim's `baseLayerWriter` opens it: read/write plus
//!   `WRITE_DAC | WRITE_OWNER | ACCESS_SYSTEM_SECURITY`, backup semantics, the reparse point
//!   itself rather than its target, `CREATE_NEW` for files (a duplicate path is an error); its
//!   basic info is set before the streams are written, which stops NTFS from updating those
//!   times through this handle.
//!
//! Compiled on Windows, and on Linux with the `check-windows` feature; it has not yet been run
//! on Windows by this project's CI.

#![allow(unsafe_code)]

use std::ffi::c_void;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::ptr::{null, null_mut};

use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, ERROR_NOT_ALL_ASSIGNED, GENERIC_READ, GENERIC_WRITE, HANDLE,
    INVALID_HANDLE_VALUE, LUID,
};
use windows_sys::Win32::Security::{
    AdjustTokenPrivileges, LookupPrivilegeValueW, LUID_AND_ATTRIBUTES, SE_PRIVILEGE_ENABLED,
    TOKEN_ADJUST_PRIVILEGES, TOKEN_PRIVILEGES, TOKEN_QUERY,
};
use windows_sys::Win32::Storage::FileSystem::{
    BackupRead, BackupWrite, CreateFileW, FileBasicInfo, GetFileInformationByHandleEx,
    SetFileInformationByHandle, CREATE_NEW, FILE_BASIC_INFO, FILE_FLAG_BACKUP_SEMANTICS,
    FILE_FLAG_OPEN_REPARSE_POINT, FILE_SHARE_READ, OPEN_EXISTING, WRITE_DAC, WRITE_OWNER,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use super::backup::BackupWriter;
use super::base_files::{BaseFiles, BasicInfo, StreamSink};
use super::ffi::wide;

/// winnt.h `ACCESS_SYSTEM_SECURITY` (reading and writing a SACL).
const ACCESS_SYSTEM_SECURITY: u32 = 0x0100_0000;

/// Enables SeBackupPrivilege and SeRestorePrivilege for this process.
pub fn enable_layer_privileges() -> io::Result<()> {
    let mut token: HANDLE = null_mut();
    // SAFETY: the pseudo-handle of this process and an out-pointer to a local.
    let opened = unsafe {
        OpenProcessToken(
            GetCurrentProcess(),
            TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY,
            &mut token,
        )
    };
    if opened == 0 {
        return Err(io::Error::last_os_error());
    }
    let token = OwnedHandle(token);
    for name in ["SeBackupPrivilege", "SeRestorePrivilege"] {
        let mut luid = LUID {
            LowPart: 0,
            HighPart: 0,
        };
        let wide_name = wide(name);
        // SAFETY: a NUL-terminated name and an out-pointer to a local.
        if unsafe { LookupPrivilegeValueW(null(), wide_name.as_ptr(), &mut luid) } == 0 {
            return Err(io::Error::last_os_error());
        }
        let wanted = TOKEN_PRIVILEGES {
            PrivilegeCount: 1,
            Privileges: [LUID_AND_ATTRIBUTES {
                Luid: luid,
                Attributes: SE_PRIVILEGE_ENABLED,
            }],
        };
        // SAFETY: an open token handle and a TOKEN_PRIVILEGES with one entry.
        let adjusted =
            unsafe { AdjustTokenPrivileges(token.0, 0, &wanted, 0, null_mut(), null_mut()) };
        // It "succeeds" without the privilege too; only the last error tells.
        // SAFETY: reads this thread's last error.
        let last = unsafe { GetLastError() };
        if adjusted == 0 || last == ERROR_NOT_ALL_ASSIGNED {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "cannot enable {name}: the HCS runtime needs an elevated (Administrator) \
                     shell ({})",
                    io::Error::from_raw_os_error(last as i32)
                ),
            ));
        }
    }
    Ok(())
}

/// Closes a handle on drop.
struct OwnedHandle(HANDLE);

impl Drop for OwnedHandle {
    fn drop(&mut self) {
        // SAFETY: the handle is owned and closed once.
        unsafe { CloseHandle(self.0) };
    }
}

/// `path` as a verbatim (`\\?\`) path with backslashes, so long layer paths work and nothing
/// is reinterpreted.
fn verbatim(path: &Path) -> Vec<u16> {
    let text = path.display().to_string().replace('/', "\\");
    let text = if text.starts_with(r"\\?\") {
        text
    } else if let Some(unc) = text.strip_prefix(r"\\") {
        format!(r"\\?\UNC\{unc}")
    } else {
        format!(r"\\?\{text}")
    };
    wide(&text)
}

/// The base-layer writer on NTFS.
pub struct Win32BaseFiles;

impl Win32BaseFiles {
    fn open(path: &Path, directory: bool) -> io::Result<OwnedHandle> {
        if directory {
            std::fs::create_dir_all(path)?;
        }
        let name = verbatim(path);
        let access =
            GENERIC_READ | GENERIC_WRITE | WRITE_DAC | WRITE_OWNER | ACCESS_SYSTEM_SECURITY;
        let disposition = if directory { OPEN_EXISTING } else { CREATE_NEW };
        // SAFETY: a NUL-terminated path; no security attributes or template.
        let handle = unsafe {
            CreateFileW(
                name.as_ptr(),
                access,
                FILE_SHARE_READ,
                null(),
                disposition,
                FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT,
                null_mut(),
            )
        };
        if handle == INVALID_HANDLE_VALUE {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedHandle(handle))
    }

    fn set_basic_info(handle: &OwnedHandle, info: &BasicInfo) -> io::Result<()> {
        Win32BaseFiles::set_basic_info_raw(
            handle,
            &FILE_BASIC_INFO {
                CreationTime: BasicInfo::filetime(info.creation),
                LastAccessTime: BasicInfo::filetime(info.last_access),
                LastWriteTime: BasicInfo::filetime(info.last_write),
                ChangeTime: BasicInfo::filetime(info.last_write),
                FileAttributes: info.attributes,
            },
        )
    }

    /// An existing entry opened for `BackupRead` (the reparse point itself, not its target).
    fn open_source(path: &Path) -> io::Result<OwnedHandle> {
        let name = verbatim(path);
        // SAFETY: a NUL-terminated path; no security attributes or template.
        let handle = unsafe {
            CreateFileW(
                name.as_ptr(),
                GENERIC_READ | ACCESS_SYSTEM_SECURITY,
                FILE_SHARE_READ,
                null(),
                OPEN_EXISTING,
                FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT,
                null_mut(),
            )
        };
        if handle == INVALID_HANDLE_VALUE {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedHandle(handle))
    }

    fn basic_info_raw(handle: &OwnedHandle) -> io::Result<FILE_BASIC_INFO> {
        // SAFETY: a zeroed plain-data struct the call fills in.
        let mut basic: FILE_BASIC_INFO = unsafe { std::mem::zeroed() };
        // SAFETY: an open handle and a writable FILE_BASIC_INFO of the size given.
        let got = unsafe {
            GetFileInformationByHandleEx(
                handle.0,
                FileBasicInfo,
                (&mut basic as *mut FILE_BASIC_INFO).cast::<c_void>(),
                size_of::<FILE_BASIC_INFO>() as u32,
            )
        };
        if got == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(basic)
    }

    fn set_basic_info_raw(handle: &OwnedHandle, basic: &FILE_BASIC_INFO) -> io::Result<()> {
        // SAFETY: an open handle and a FILE_BASIC_INFO of the size given.
        let set = unsafe {
            SetFileInformationByHandle(
                handle.0,
                FileBasicInfo,
                (basic as *const FILE_BASIC_INFO).cast::<c_void>(),
                size_of::<FILE_BASIC_INFO>() as u32,
            )
        };
        if set == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl BaseFiles for Win32BaseFiles {
    fn create(
        &self,
        path: &Path,
        directory: bool,
        info: &BasicInfo,
    ) -> io::Result<Box<dyn StreamSink>> {
        let handle = Win32BaseFiles::open(path, directory)?;
        Win32BaseFiles::set_basic_info(&handle, info)?;
        let restore = BackupWriteHandle {
            handle,
            context: null_mut(),
        };
        Ok(Box::new(Win32Sink(BackupWriter::new(BufWriter::new(
            restore,
        )))))
    }

    fn restore_directory_times(&self, path: &Path, info: &BasicInfo) -> io::Result<()> {
        let handle = Win32BaseFiles::open(path, true)?;
        Win32BaseFiles::set_basic_info(&handle, info)
    }

    /// `BackupRead` of the source (security and SACL included) replayed into `BackupWrite` on
    /// the new entry, after its basic info is set from the source's.
    fn copy_entry(&self, from: &Path, to: &Path, directory: bool) -> io::Result<()> {
        let source = Win32BaseFiles::open_source(from)?;
        let info = Win32BaseFiles::basic_info_raw(&source)?;
        let handle = Win32BaseFiles::open(to, directory)?;
        Win32BaseFiles::set_basic_info_raw(&handle, &info)?;
        let mut restore = BackupWriteHandle {
            handle,
            context: null_mut(),
        };
        let mut backup = BackupReadHandle {
            handle: source,
            context: null_mut(),
        };
        io::copy(&mut backup, &mut restore)?;
        Ok(())
    }

    fn copy_directory_times(&self, from: &Path, to: &Path) -> io::Result<()> {
        let info = Win32BaseFiles::basic_info_raw(&Win32BaseFiles::open_source(from)?)?;
        Win32BaseFiles::set_basic_info_raw(&Win32BaseFiles::open(to, true)?, &info)
    }
}

/// Reads an entry's backup stream with `BackupRead`.
struct BackupReadHandle {
    handle: OwnedHandle,
    context: *mut c_void,
}

impl Read for BackupReadHandle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        let mut read = 0u32;
        // SAFETY: an open handle, `len` writable bytes, and the context of earlier calls on it.
        // Security is processed: the descriptor (with its SACL) is part of the stream.
        let ok = unsafe {
            BackupRead(
                self.handle.0,
                buf.as_mut_ptr(),
                len,
                &mut read,
                0,
                1,
                &mut self.context,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(read as usize)
    }
}

impl Drop for BackupReadHandle {
    fn drop(&mut self) {
        if self.context.is_null() {
            return;
        }
        let mut read = 0u32;
        // SAFETY: bAbort = TRUE frees the backup context (the documented way to end one).
        unsafe {
            BackupRead(
                self.handle.0,
                null_mut(),
                0,
                &mut read,
                1,
                1,
                &mut self.context,
            )
        };
    }
}

/// Encodes the streams and hands them to `BackupWrite`.
struct Win32Sink(BackupWriter<BufWriter<BackupWriteHandle>>);

impl StreamSink for Win32Sink {
    fn stream(&mut self, id: u32, name: &str, size: u64, data: &mut dyn Read) -> io::Result<()> {
        self.0.stream_from(id, name, size, data)
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        // Flushes the last bytes; dropping the handle ends the restore and closes the file.
        self.0
            .into_inner()
            .into_inner()
            .map_err(|e| e.into_error())?;
        Ok(())
    }
}

/// A file open for `BackupWrite`, with the restore context Windows keeps between calls.
struct BackupWriteHandle {
    handle: OwnedHandle,
    context: *mut c_void,
}

impl Write for BackupWriteHandle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        let mut written = 0u32;
        // SAFETY: an open handle, `len` readable bytes, and the context of earlier calls on it.
        // Security is processed: the stream's descriptor becomes the file's.
        let ok = unsafe {
            BackupWrite(
                self.handle.0,
                buf.as_ptr(),
                len,
                &mut written,
                0,
                1,
                &mut self.context,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(written as usize)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for BackupWriteHandle {
    fn drop(&mut self) {
        if self.context.is_null() {
            return;
        }
        let mut written = 0u32;
        // SAFETY: bAbort = TRUE frees the restore context (the documented way to end one).
        unsafe {
            BackupWrite(
                self.handle.0,
                null(),
                0,
                &mut written,
                1,
                1,
                &mut self.context,
            )
        };
    }
}
