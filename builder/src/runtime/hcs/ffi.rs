//! The real [`ComputeApi`] on a Windows host: layer storage through vmcompute.dll (the calls
//! dockerd's windowsfilter driver makes), compute systems and processes through computecore.dll
//! (schema v2, operation-based), host facts from the registry. Kept thin: UTF-16 conversion,
//! handle ownership, HRESULT → [`HcsError`]; every decision lives above it.
//!
//! Compiled on Windows, and on Linux with the `check-windows` feature so CI type-checks it;
//! it has not yet been run on Windows by this project's CI.

#![allow(unsafe_code)]

use std::ffi::c_void;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};
use std::time::Duration;

use windows_sys::core::{GUID, HRESULT, PCWSTR, PWSTR};
use windows_sys::Wdk::System::SystemServices::RtlGetVersion;
use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, LocalFree, ERROR_BROKEN_PIPE, ERROR_SUCCESS, HANDLE,
};
use windows_sys::Win32::Storage::FileSystem::ReadFile;
use windows_sys::Win32::System::HostComputeSystem as hcs;
use windows_sys::Win32::System::Registry::{
    RegGetValueW, HKEY_LOCAL_MACHINE, RRF_RT_REG_DWORD, RRF_RT_REG_SZ,
};
use windows_sys::Win32::System::SystemInformation::OSVERSIONINFOW;

use super::api::*;
use super::guid::Guid;
use super::host::HostFacts;
use super::hresult::{HcsError, ERROR_TIMEOUT, WAIT_TIMEOUT};

/// vmcompute's `DRIVER_INFO`: the filter-driver flavour and the folder holding the layer.
#[repr(C)]
struct DriverInfo {
    flavour: i32,
    home_dir: PCWSTR,
}

/// vmcompute's `WC_LAYER_DESCRIPTOR`: one parent layer.
#[repr(C)]
struct LayerDescriptor {
    layer_id: GUID,
    flags: u32,
    path: PCWSTR,
}

/// `DRIVER_INFO.Flavour` of the filter driver (windowsfilter).
const FILTER_DRIVER: i32 = 1;

#[link(name = "vmcompute")]
extern "system" {
    fn NameToGuid(name: PCWSTR, guid: *mut GUID) -> HRESULT;
    fn ImportLayer(
        info: *const DriverInfo,
        id: PCWSTR,
        path: PCWSTR,
        descriptors: *const LayerDescriptor,
        count: u32,
    ) -> HRESULT;
    fn ExportLayer(
        info: *const DriverInfo,
        id: PCWSTR,
        path: PCWSTR,
        descriptors: *const LayerDescriptor,
        count: u32,
    ) -> HRESULT;
    fn CreateSandboxLayer(
        info: *const DriverInfo,
        id: PCWSTR,
        parent: PCWSTR,
        descriptors: *const LayerDescriptor,
        count: u32,
    ) -> HRESULT;
    fn ActivateLayer(info: *const DriverInfo, id: PCWSTR) -> HRESULT;
    fn DeactivateLayer(info: *const DriverInfo, id: PCWSTR) -> HRESULT;
    fn PrepareLayer(
        info: *const DriverInfo,
        id: PCWSTR,
        descriptors: *const LayerDescriptor,
        count: u32,
    ) -> HRESULT;
    fn UnprepareLayer(info: *const DriverInfo, id: PCWSTR) -> HRESULT;
    fn GetLayerMountPath(
        info: *const DriverInfo,
        id: PCWSTR,
        length: *mut usize,
        buffer: *mut u16,
    ) -> HRESULT;
    fn DestroyLayer(info: *const DriverInfo, id: PCWSTR) -> HRESULT;
    fn ProcessBaseImage(path: PCWSTR) -> HRESULT;
    fn ProcessUtilityImage(path: PCWSTR) -> HRESULT;
}

pub(super) fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(std::iter::once(0)).collect()
}

fn wide_path(path: &Path) -> Vec<u16> {
    wide(&path.display().to_string())
}

fn check(operation: &'static str, hr: HRESULT, detail: impl FnOnce() -> String) -> ApiResult<()> {
    if hr < 0 {
        Err(HcsError::new(operation, hr as u32).with_detail(detail()))
    } else {
        Ok(())
    }
}

/// Copies a NUL-terminated UTF-16 string the OS returned (null → empty).
///
/// # Safety
/// `text` is null or points to a NUL-terminated UTF-16 string.
pub(super) unsafe fn utf16_until_nul(text: PWSTR) -> String {
    if text.is_null() {
        return String::new();
    }
    let mut len = 0usize;
    // SAFETY: the caller guarantees a NUL terminator within the allocation.
    unsafe {
        while *text.add(len) != 0 {
            len += 1;
        }
        String::from_utf16_lossy(std::slice::from_raw_parts(text, len))
    }
}

/// Takes ownership of a string HCS allocated (freed with `LocalFree`).
fn take_hcs_string(text: PWSTR) -> String {
    // SAFETY: HCS returns null or a NUL-terminated UTF-16 string allocated with LocalAlloc,
    // which we own from here on and free exactly once.
    unsafe {
        let out = utf16_until_nul(text);
        if !text.is_null() {
            LocalFree(text as *mut c_void);
        }
        out
    }
}

/// A layer folder as vmcompute addresses it: home directory + ID (the folder name).
struct LayerName {
    home: Vec<u16>,
    id: Vec<u16>,
}

impl LayerName {
    fn new(layer: &Path) -> LayerName {
        LayerName {
            home: wide_path(layer.parent().unwrap_or(Path::new(""))),
            id: wide(&layer.file_name().unwrap_or_default().to_string_lossy()),
        }
    }

    fn info(&self) -> DriverInfo {
        DriverInfo {
            flavour: FILTER_DRIVER,
            home_dir: self.home.as_ptr(),
        }
    }
}

/// Parent layer descriptors (nearest first), with the path buffers they point into.
struct Descriptors {
    _paths: Vec<Vec<u16>>,
    list: Vec<LayerDescriptor>,
}

impl Descriptors {
    fn new(api: &HostComputeApi, parents: &[PathBuf]) -> ApiResult<Descriptors> {
        let paths: Vec<Vec<u16>> = parents.iter().map(|p| wide_path(p)).collect();
        let mut list = Vec::with_capacity(parents.len());
        for (parent, path) in parents.iter().zip(&paths) {
            let name = parent.file_name().unwrap_or_default().to_string_lossy();
            let id = api.name_to_guid(&name)?;
            list.push(LayerDescriptor {
                layer_id: to_sys_guid(id),
                flags: 0,
                path: path.as_ptr(),
            });
        }
        Ok(Descriptors {
            _paths: paths,
            list,
        })
    }
}

pub(super) fn to_sys_guid(g: Guid) -> GUID {
    GUID {
        data1: g.data1,
        data2: g.data2,
        data3: g.data3,
        data4: g.data4,
    }
}

/// An HCS operation handle, closed on drop.
struct Operation(hcs::HCS_OPERATION);

impl Operation {
    fn new() -> Operation {
        // SAFETY: no context and no callback: the operation is waited on synchronously.
        Operation(unsafe { hcs::HcsCreateOperation(null(), None) })
    }

    /// Waits for the operation; a failure carries HCS's result document.
    fn wait(&self, operation: &'static str) -> ApiResult<String> {
        let mut result: PWSTR = null_mut();
        // SAFETY: valid operation handle; `result` receives an HCS-allocated string.
        let hr = unsafe { hcs::HcsWaitForOperationResult(self.0, u32::MAX, &mut result) };
        let document = take_hcs_string(result);
        check(operation, hr, || document.clone())?;
        Ok(document)
    }
}

impl Drop for Operation {
    fn drop(&mut self) {
        // SAFETY: the handle came from HcsCreateOperation and is closed once.
        unsafe { hcs::HcsCloseOperation(self.0) }
    }
}

/// A pipe handle from `HcsCreateProcess`, read until the process closes its end.
struct Pipe(HANDLE);

// SAFETY: a pipe handle may be read from any thread; only one thread owns this one.
unsafe impl Send for Pipe {}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut read = 0u32;
        let want = buf.len().min(u32::MAX as usize) as u32;
        // SAFETY: `buf` is valid for `want` bytes; synchronous read (no OVERLAPPED).
        let ok = unsafe { ReadFile(self.0, buf.as_mut_ptr(), want, &mut read, null_mut()) };
        if ok == 0 {
            // SAFETY: plain thread-local error query.
            let error = unsafe { GetLastError() };
            if error == ERROR_BROKEN_PIPE {
                return Ok(0);
            }
            return Err(io::Error::from_raw_os_error(error as i32));
        }
        Ok(read as usize)
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        // SAFETY: we own the handle.
        unsafe { CloseHandle(self.0) };
    }
}

/// The Host Compute Service of this machine.
pub struct HostComputeApi;

impl HostComputeApi {
    fn layer_call(
        &self,
        operation: &'static str,
        layer: &Path,
        call: impl FnOnce(&DriverInfo, PCWSTR) -> HRESULT,
    ) -> ApiResult<()> {
        let name = LayerName::new(layer);
        let info = name.info();
        let hr = call(&info, name.id.as_ptr());
        check(operation, hr, || layer.display().to_string())
    }
}

impl ComputeApi for HostComputeApi {
    fn name_to_guid(&self, name: &str) -> ApiResult<Guid> {
        let text = wide(name);
        let mut out = GUID {
            data1: 0,
            data2: 0,
            data3: 0,
            data4: [0; 8],
        };
        // SAFETY: NUL-terminated input, `out` is a valid GUID to write.
        let hr = unsafe { NameToGuid(text.as_ptr(), &mut out) };
        check("NameToGuid", hr, || name.to_string())?;
        Ok(Guid {
            data1: out.data1,
            data2: out.data2,
            data3: out.data3,
            data4: out.data4,
        })
    }

    fn import_layer(&self, layer: &Path, source: &Path, parents: &[PathBuf]) -> ApiResult<()> {
        let d = Descriptors::new(self, parents)?;
        let source = wide_path(source);
        self.layer_call("ImportLayer", layer, |info, id| unsafe {
            // SAFETY: all pointers outlive the call.
            ImportLayer(
                info,
                id,
                source.as_ptr(),
                d.list.as_ptr(),
                d.list.len() as u32,
            )
        })
    }

    fn process_base_layer(&self, layer: &Path) -> ApiResult<()> {
        let path = wide_path(layer);
        // SAFETY: NUL-terminated path.
        let hr = unsafe { ProcessBaseImage(path.as_ptr()) };
        check("ProcessBaseImage", hr, || layer.display().to_string())
    }

    fn process_utility_vm(&self, utility_vm: &Path) -> ApiResult<()> {
        let path = wide_path(utility_vm);
        // SAFETY: NUL-terminated path.
        let hr = unsafe { ProcessUtilityImage(path.as_ptr()) };
        check("ProcessUtilityImage", hr, || {
            utility_vm.display().to_string()
        })
    }

    fn create_scratch_layer(&self, scratch: &Path, parents: &[PathBuf]) -> ApiResult<()> {
        let d = Descriptors::new(self, parents)?;
        self.layer_call("CreateSandboxLayer", scratch, |info, id| unsafe {
            // SAFETY: all pointers outlive the call; no explicit parent (descriptors say it).
            CreateSandboxLayer(info, id, null(), d.list.as_ptr(), d.list.len() as u32)
        })
    }

    fn activate_layer(&self, layer: &Path) -> ApiResult<()> {
        // SAFETY: pointers outlive the call.
        self.layer_call("ActivateLayer", layer, |info, id| unsafe {
            ActivateLayer(info, id)
        })
    }

    fn prepare_layer(&self, layer: &Path, parents: &[PathBuf]) -> ApiResult<()> {
        let d = Descriptors::new(self, parents)?;
        self.layer_call("PrepareLayer", layer, |info, id| unsafe {
            // SAFETY: pointers outlive the call.
            PrepareLayer(info, id, d.list.as_ptr(), d.list.len() as u32)
        })
    }

    fn layer_mount_path(&self, layer: &Path) -> ApiResult<String> {
        let name = LayerName::new(layer);
        let info = name.info();
        let mut length = 0usize;
        // SAFETY: first call asks for the length (in UTF-16 units, including the NUL).
        let hr = unsafe { GetLayerMountPath(&info, name.id.as_ptr(), &mut length, null_mut()) };
        check("GetLayerMountPath", hr, || layer.display().to_string())?;
        let mut buffer = vec![0u16; length.clamp(1, 32 * 1024)];
        length = buffer.len();
        // SAFETY: `buffer` holds `length` units.
        let hr =
            unsafe { GetLayerMountPath(&info, name.id.as_ptr(), &mut length, buffer.as_mut_ptr()) };
        check("GetLayerMountPath", hr, || layer.display().to_string())?;
        let end = buffer.iter().position(|&c| c == 0).unwrap_or(buffer.len());
        Ok(String::from_utf16_lossy(&buffer[..end]))
    }

    fn unprepare_layer(&self, layer: &Path) -> ApiResult<()> {
        // SAFETY: pointers outlive the call.
        self.layer_call("UnprepareLayer", layer, |info, id| unsafe {
            UnprepareLayer(info, id)
        })
    }

    fn deactivate_layer(&self, layer: &Path) -> ApiResult<()> {
        // SAFETY: pointers outlive the call.
        self.layer_call("DeactivateLayer", layer, |info, id| unsafe {
            DeactivateLayer(info, id)
        })
    }

    fn export_layer(&self, layer: &Path, folder: &Path, parents: &[PathBuf]) -> ApiResult<()> {
        let d = Descriptors::new(self, parents)?;
        let folder = wide_path(folder);
        self.layer_call("ExportLayer", layer, |info, id| unsafe {
            // SAFETY: pointers outlive the call.
            ExportLayer(
                info,
                id,
                folder.as_ptr(),
                d.list.as_ptr(),
                d.list.len() as u32,
            )
        })
    }

    fn destroy_layer(&self, layer: &Path) -> ApiResult<()> {
        // SAFETY: pointers outlive the call.
        self.layer_call("DestroyLayer", layer, |info, id| unsafe {
            DestroyLayer(info, id)
        })
    }

    fn create_compute_system(&self, id: &str, document: &str) -> ApiResult<SystemHandle> {
        let (id_w, doc_w) = (wide(id), wide(document));
        let op = Operation::new();
        let mut system: hcs::HCS_SYSTEM = null_mut();
        // SAFETY: NUL-terminated strings, valid operation, default security descriptor.
        let hr = unsafe {
            hcs::HcsCreateComputeSystem(id_w.as_ptr(), doc_w.as_ptr(), op.0, null(), &mut system)
        };
        check("HcsCreateComputeSystem", hr, || id.to_string())?;
        if let Err(e) = op.wait("HcsCreateComputeSystem") {
            if !system.is_null() {
                // SAFETY: the handle was returned above and is closed once.
                unsafe { hcs::HcsCloseComputeSystem(system) };
            }
            return Err(e);
        }
        Ok(SystemHandle(system as usize))
    }

    fn start_compute_system(&self, system: SystemHandle) -> ApiResult<()> {
        let op = Operation::new();
        // SAFETY: valid handles; no options.
        let hr = unsafe { hcs::HcsStartComputeSystem(system.0 as hcs::HCS_SYSTEM, op.0, null()) };
        check("HcsStartComputeSystem", hr, String::new)?;
        op.wait("HcsStartComputeSystem").map(drop)
    }

    fn modify_compute_system(&self, system: SystemHandle, request: &str) -> ApiResult<()> {
        let request_w = wide(request);
        let op = Operation::new();
        // SAFETY: valid handles, NUL-terminated request; no identity token.
        let hr = unsafe {
            hcs::HcsModifyComputeSystem(
                system.0 as hcs::HCS_SYSTEM,
                op.0,
                request_w.as_ptr(),
                null_mut(),
            )
        };
        check("HcsModifyComputeSystem", hr, || request.to_string())?;
        op.wait("HcsModifyComputeSystem").map(drop)
    }

    fn grant_vm_access(&self, vm_id: &str, file: &Path) -> ApiResult<()> {
        let (id_w, file_w) = (wide(vm_id), wide_path(file));
        // SAFETY: NUL-terminated strings that outlive the call.
        let hr = unsafe { hcs::HcsGrantVmAccess(id_w.as_ptr(), file_w.as_ptr()) };
        check("HcsGrantVmAccess", hr, || file.display().to_string())
    }

    fn create_process(
        &self,
        system: SystemHandle,
        parameters: &str,
    ) -> ApiResult<(ProcessHandle, ProcessPipes)> {
        let params = wide(parameters);
        let op = Operation::new();
        let mut process: hcs::HCS_PROCESS = null_mut();
        // SAFETY: valid handles and a NUL-terminated document.
        let hr = unsafe {
            hcs::HcsCreateProcess(
                system.0 as hcs::HCS_SYSTEM,
                params.as_ptr(),
                op.0,
                null(),
                &mut process,
            )
        };
        check("HcsCreateProcess", hr, String::new)?;
        let mut info = hcs::HCS_PROCESS_INFORMATION::default();
        let mut result: PWSTR = null_mut();
        // SAFETY: valid operation; `info` receives the pipe handles, which we then own.
        let hr = unsafe {
            hcs::HcsWaitForOperationResultAndProcessInfo(op.0, u32::MAX, &mut info, &mut result)
        };
        let document = take_hcs_string(result);
        if let Err(e) = check("HcsCreateProcess", hr, || document) {
            if !process.is_null() {
                // SAFETY: closed once.
                unsafe { hcs::HcsCloseProcess(process) };
            }
            return Err(e);
        }
        let pipe = |h: HANDLE| -> Option<Box<dyn Read + Send>> {
            (!h.is_null()).then(|| Box::new(Pipe(h)) as Box<dyn Read + Send>)
        };
        if !info.StdInput.is_null() {
            // SAFETY: silo asked for no stdin pipe; close one if HCS made it anyway.
            unsafe { CloseHandle(info.StdInput) };
        }
        Ok((
            ProcessHandle(process as usize),
            ProcessPipes {
                stdout: pipe(info.StdOutput),
                stderr: pipe(info.StdError),
            },
        ))
    }

    fn wait_process(
        &self,
        process: ProcessHandle,
        timeout: Option<Duration>,
    ) -> ApiResult<WaitOutcome> {
        let millis = timeout.map_or(u32::MAX, |t| t.as_millis().min(u32::MAX as u128 - 1) as u32);
        let mut result: PWSTR = null_mut();
        // SAFETY: valid process handle.
        let hr = unsafe {
            hcs::HcsWaitForProcessExit(process.0 as hcs::HCS_PROCESS, millis, &mut result)
        };
        let document = take_hcs_string(result);
        if matches!(hr as u32, WAIT_TIMEOUT | ERROR_TIMEOUT) {
            return Ok(WaitOutcome::TimedOut);
        }
        check("HcsWaitForProcessExit", hr, || document)?;
        Ok(WaitOutcome::Exited)
    }

    fn process_exit_code(&self, process: ProcessHandle) -> ApiResult<i32> {
        let op = Operation::new();
        // SAFETY: valid handles; a null query returns the process status.
        let hr =
            unsafe { hcs::HcsGetProcessProperties(process.0 as hcs::HCS_PROCESS, op.0, null()) };
        check("HcsGetProcessProperties", hr, String::new)?;
        let document = op.wait("HcsGetProcessProperties")?;
        let status: serde_json::Value = serde_json::from_str(&document).map_err(|e| {
            HcsError::new("HcsGetProcessProperties", 0x8007_000D)
                .with_detail(format!("unreadable process status {document:?}: {e}"))
        })?;
        status["ExitCode"]
            .as_i64()
            .map(|c| c as i32)
            .ok_or_else(|| {
                HcsError::new("HcsGetProcessProperties", 0x8007_000D)
                    .with_detail(format!("no ExitCode in {document}"))
            })
    }

    fn terminate_compute_system(&self, system: SystemHandle) -> ApiResult<()> {
        let op = Operation::new();
        // SAFETY: valid handles; no options.
        let hr =
            unsafe { hcs::HcsTerminateComputeSystem(system.0 as hcs::HCS_SYSTEM, op.0, null()) };
        check("HcsTerminateComputeSystem", hr, String::new)?;
        op.wait("HcsTerminateComputeSystem").map(drop)
    }

    fn close_process(&self, process: ProcessHandle) {
        // SAFETY: the sandbox closes each process handle exactly once.
        unsafe { hcs::HcsCloseProcess(process.0 as hcs::HCS_PROCESS) }
    }

    fn close_compute_system(&self, system: SystemHandle) {
        // SAFETY: the sandbox closes each system handle exactly once.
        unsafe { hcs::HcsCloseComputeSystem(system.0 as hcs::HCS_SYSTEM) }
    }
}

const CURRENT_VERSION: &str = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion";

fn registry_string(value: &str) -> io::Result<String> {
    let (key, name) = (wide(CURRENT_VERSION), wide(value));
    let mut buffer = vec![0u16; 256];
    let mut bytes = (buffer.len() * 2) as u32;
    // SAFETY: `buffer` holds `bytes` bytes.
    let status = unsafe {
        RegGetValueW(
            HKEY_LOCAL_MACHINE,
            key.as_ptr(),
            name.as_ptr(),
            RRF_RT_REG_SZ,
            null_mut(),
            buffer.as_mut_ptr() as *mut c_void,
            &mut bytes,
        )
    };
    if status != ERROR_SUCCESS {
        return Err(io::Error::from_raw_os_error(status as i32));
    }
    let end = buffer.iter().position(|&c| c == 0).unwrap_or(buffer.len());
    Ok(String::from_utf16_lossy(&buffer[..end]))
}

fn registry_dword(value: &str) -> io::Result<u32> {
    let (key, name) = (wide(CURRENT_VERSION), wide(value));
    let mut out = 0u32;
    let mut bytes = 4u32;
    // SAFETY: `out` holds 4 bytes.
    let status = unsafe {
        RegGetValueW(
            HKEY_LOCAL_MACHINE,
            key.as_ptr(),
            name.as_ptr(),
            RRF_RT_REG_DWORD,
            null_mut(),
            &mut out as *mut u32 as *mut c_void,
            &mut bytes,
        )
    };
    if status != ERROR_SUCCESS {
        return Err(io::Error::from_raw_os_error(status as i32));
    }
    Ok(out)
}

/// This host's Windows version: major, minor and build from `RtlGetVersion` (unaffected by
/// the compatibility shims that make `GetVersionEx` lie), the UBR from the registry's
/// `CurrentVersion\UBR`, and the SKU from `InstallationType` (`Server`, `Server Core` or
/// `Nano Server` on Windows Server, `Client` elsewhere).
pub fn host_facts() -> io::Result<HostFacts> {
    // SAFETY: OSVERSIONINFOW is plain integers and a u16 array: all-zero is a valid value.
    let mut info: OSVERSIONINFOW = unsafe { std::mem::zeroed() };
    info.dwOSVersionInfoSize = std::mem::size_of::<OSVERSIONINFOW>() as u32;
    // SAFETY: `info` is a properly sized OSVERSIONINFOW with its size field set.
    let status = unsafe { RtlGetVersion(&mut info) };
    if status != 0 {
        return Err(io::Error::other(format!(
            "RtlGetVersion failed with NTSTATUS {status:#010x}"
        )));
    }
    let installation = registry_string("InstallationType")?;
    Ok(HostFacts {
        major: info.dwMajorVersion,
        minor: info.dwMinorVersion,
        build: info.dwBuildNumber,
        ubr: registry_dword("UBR").unwrap_or(0),
        server: installation.starts_with("Server") || installation.starts_with("Nano"),
    })
}
