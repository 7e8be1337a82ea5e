//! The real [`ComputeApi`] on a Windows host: layer storage through vmcompute.dll (the calls
//! dockerd's windowsfilter driver makes), compute systems and processes through computecore.dll
//! (schema v2, operation-based), host facts from the registry. Kept thin: UTF-16 conversion,
//! handle ownership, HRESULT → [`HcsError`]; every decision lives above it.
//!
//! Compiled on Windows, and on Linux with the `check-windows` feature so CI type-checks it;
//! it has not yet been run on Windows by this project's CI.

#![allow(unsafe_code)]

use std::collections::HashMap;
use std::ffi::c_void;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use windows_sys::core::{GUID, HRESULT, PCWSTR, PWSTR};
use windows_sys::Wdk::System::SystemServices::RtlGetVersion;
use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, LocalFree, ERROR_BROKEN_PIPE, ERROR_HANDLE_EOF, ERROR_IO_PENDING,
    ERROR_SUCCESS, HANDLE, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Storage::FileSystem::ReadFile;
use windows_sys::Win32::System::HostComputeSystem as hcs;
use windows_sys::Win32::System::Registry::{
    RegGetValueW, HKEY_LOCAL_MACHINE, RRF_RT_REG_DWORD, RRF_RT_REG_SZ,
};
use windows_sys::Win32::System::SystemInformation::OSVERSIONINFOW;
use windows_sys::Win32::System::Threading::CreateEventW;
use windows_sys::Win32::System::IO::{GetOverlappedResult, OVERLAPPED};

use super::api::*;
use super::guid::Guid;
use super::host::HostFacts;
use super::hresult::HcsError;
use super::schema::exit_code_from_status;

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

/// vmcompute.dll's layer-storage functions (hcsshim: internal/wclayer/wclayer.go), resolved
/// on first use.
mod vmcompute {
    use super::{DriverInfo, LayerDescriptor, GUID, HRESULT, PCWSTR};
    use crate::runtime::hcs::dll::{lazy_functions, VMCOMPUTE};

    lazy_functions! { VMCOMPUTE;
        fn NameToGuid(name: PCWSTR, guid: *mut GUID) -> HRESULT;
        fn ImportLayer(info: *const DriverInfo, id: PCWSTR, path: PCWSTR, descriptors: *const LayerDescriptor, count: usize) -> HRESULT;
        fn ExportLayer(info: *const DriverInfo, id: PCWSTR, path: PCWSTR, descriptors: *const LayerDescriptor, count: usize) -> HRESULT;
        fn CreateSandboxLayer(info: *const DriverInfo, id: PCWSTR, parent: PCWSTR, descriptors: *const LayerDescriptor, count: usize) -> HRESULT;
        fn ActivateLayer(info: *const DriverInfo, id: PCWSTR) -> HRESULT;
        fn DeactivateLayer(info: *const DriverInfo, id: PCWSTR) -> HRESULT;
        fn PrepareLayer(info: *const DriverInfo, id: PCWSTR, descriptors: *const LayerDescriptor, count: usize) -> HRESULT;
        fn UnprepareLayer(info: *const DriverInfo, id: PCWSTR) -> HRESULT;
        fn GetLayerMountPath(info: *const DriverInfo, id: PCWSTR, length: *mut usize, buffer: *mut u16) -> HRESULT;
        fn DestroyLayer(info: *const DriverInfo, id: PCWSTR) -> HRESULT;
        fn ProcessBaseImage(path: PCWSTR) -> HRESULT;
        fn ProcessUtilityImage(path: PCWSTR) -> HRESULT;
    }
}

/// computecore.dll's v2 HCS functions (hcsshim: internal/computecore/computecore.go),
/// resolved on first use.
mod computecore {
    use super::{c_void, hcs, HANDLE, HRESULT, PCWSTR, PWSTR};
    use crate::runtime::hcs::dll::{lazy_functions, COMPUTECORE};

    lazy_functions! { COMPUTECORE;
        fn HcsCreateOperation(context: *const c_void, callback: hcs::HCS_OPERATION_COMPLETION) -> hcs::HCS_OPERATION;
        fn HcsCloseOperation(operation: hcs::HCS_OPERATION) -> ();
        fn HcsWaitForOperationResult(operation: hcs::HCS_OPERATION, timeout_ms: u32, result: *mut PWSTR) -> HRESULT;
        fn HcsWaitForOperationResultAndProcessInfo(operation: hcs::HCS_OPERATION, timeout_ms: u32, info: *mut hcs::HCS_PROCESS_INFORMATION, result: *mut PWSTR) -> HRESULT;
        fn HcsCreateComputeSystem(id: PCWSTR, configuration: PCWSTR, operation: hcs::HCS_OPERATION, security: *const c_void, system: *mut hcs::HCS_SYSTEM) -> HRESULT;
        fn HcsStartComputeSystem(system: hcs::HCS_SYSTEM, operation: hcs::HCS_OPERATION, options: PCWSTR) -> HRESULT;
        fn HcsModifyComputeSystem(system: hcs::HCS_SYSTEM, operation: hcs::HCS_OPERATION, configuration: PCWSTR, identity: HANDLE) -> HRESULT;
        fn HcsTerminateComputeSystem(system: hcs::HCS_SYSTEM, operation: hcs::HCS_OPERATION, options: PCWSTR) -> HRESULT;
        fn HcsCloseComputeSystem(system: hcs::HCS_SYSTEM) -> ();
        fn HcsGrantVmAccess(vm_id: PCWSTR, file: PCWSTR) -> HRESULT;
        fn HcsCreateProcess(system: hcs::HCS_SYSTEM, parameters: PCWSTR, operation: hcs::HCS_OPERATION, security: *const c_void, process: *mut hcs::HCS_PROCESS) -> HRESULT;
        fn HcsSetProcessCallback(process: hcs::HCS_PROCESS, options: hcs::HCS_EVENT_OPTIONS, context: *const c_void, callback: hcs::HCS_EVENT_CALLBACK) -> HRESULT;
        fn HcsCloseProcess(process: hcs::HCS_PROCESS) -> ();
    }
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

/// The last Win32 error as an HRESULT (`HRESULT_FROM_WIN32`; `E_FAIL` when none was set).
fn last_error_hresult() -> u32 {
    // SAFETY: plain thread-local error query.
    match unsafe { GetLastError() } {
        0 => 0x8000_4005,
        error => 0x8007_0000 | (error & 0xFFFF),
    }
}

/// An HCS operation handle, closed on drop.
struct Operation(hcs::HCS_OPERATION);

impl Operation {
    /// A new operation; HCS returns a null handle when it cannot make one (hcsshim's
    /// `hcsCreateOperation` treats that as the error in `GetLastError`).
    fn new(operation: &'static str) -> ApiResult<Operation> {
        // SAFETY: no context and no callback: the operation is waited on synchronously.
        let handle = unsafe { computecore::HcsCreateOperation(null(), None) }?;
        if handle.is_null() {
            return Err(HcsError::new(operation, last_error_hresult())
                .with_detail("HcsCreateOperation returned no operation"));
        }
        Ok(Operation(handle))
    }

    /// Waits for the operation; a failure carries HCS's result document.
    fn wait(&self, operation: &'static str) -> ApiResult<String> {
        let mut result: PWSTR = null_mut();
        // SAFETY: valid operation handle; `result` receives an HCS-allocated string.
        let hr = unsafe { computecore::HcsWaitForOperationResult(self.0, u32::MAX, &mut result) }?;
        let document = take_hcs_string(result);
        check(operation, hr, || document.clone())?;
        Ok(document)
    }
}

impl Drop for Operation {
    fn drop(&mut self) {
        // SAFETY: the handle came from HcsCreateOperation and is closed once (the function
        // was resolved when the handle was made, so this cannot fail to load).
        let _ = unsafe { computecore::HcsCloseOperation(self.0) };
    }
}

/// A pipe handle from `HcsCreateProcess`, read until the process closes its end.
///
/// HCS's pipes are read as overlapped handles, as hcsshim does (`winio.NewOpenFile` in
/// internal/hcs/v2/utils.go `makeOpenFiles`): each read passes an `OVERLAPPED` with its own
/// event and waits for it, which is also correct for a handle opened for synchronous I/O.
struct Pipe {
    handle: HANDLE,
    /// Manual-reset event the reads complete on.
    event: HANDLE,
}

// SAFETY: a pipe handle may be read from any thread; only one thread owns this one.
unsafe impl Send for Pipe {}

impl Pipe {
    fn new(handle: HANDLE) -> io::Result<Pipe> {
        // SAFETY: an unnamed manual-reset event, not signalled, default security.
        let event = unsafe { CreateEventW(null(), 1, 0, null()) };
        if event.is_null() {
            let error = io::Error::last_os_error();
            // SAFETY: we own the pipe handle and close it once.
            unsafe { CloseHandle(handle) };
            return Err(error);
        }
        Ok(Pipe { handle, event })
    }
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min(u32::MAX as usize) as u32;
        // SAFETY: OVERLAPPED is plain data: all-zero is its initial state.
        let mut overlapped: OVERLAPPED = unsafe { std::mem::zeroed() };
        overlapped.hEvent = self.event;
        // SAFETY: `buf` is valid for `want` bytes and `overlapped` outlives the I/O (it is
        // waited for below before either goes away).
        let ok = unsafe {
            ReadFile(
                self.handle,
                buf.as_mut_ptr(),
                want,
                null_mut(),
                &mut overlapped,
            )
        };
        if ok == 0 {
            // SAFETY: plain thread-local error query.
            match unsafe { GetLastError() } {
                ERROR_IO_PENDING => {}
                ERROR_BROKEN_PIPE | ERROR_HANDLE_EOF => return Ok(0),
                error => return Err(io::Error::from_raw_os_error(error as i32)),
            }
        }
        let mut read = 0u32;
        // SAFETY: the read above was started with `overlapped`; wait for it to finish.
        let ok = unsafe { GetOverlappedResult(self.handle, &overlapped, &mut read, 1) };
        if ok == 0 {
            // SAFETY: plain thread-local error query.
            return match unsafe { GetLastError() } {
                ERROR_BROKEN_PIPE | ERROR_HANDLE_EOF => Ok(0),
                error => Err(io::Error::from_raw_os_error(error as i32)),
            };
        }
        Ok(read as usize)
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        // SAFETY: we own both handles.
        unsafe {
            CloseHandle(self.handle);
            CloseHandle(self.event);
        }
    }
}

/// How a process ended, as HCS's notification said.
enum ProcessEnd {
    /// `HcsEventProcessExited`, with its `ProcessStatus` document.
    Exited(String),
    /// `HcsEventServiceDisconnect`: the HCS service went away; no exit code will come.
    ServiceDisconnected,
}

/// The rendezvous between HCS's process callback and [`ComputeApi::wait_process`] (hcsshim's
/// `notificationState`, internal/hcs/v2/notification.go): the first terminal event wins.
#[derive(Default)]
struct ExitNotice {
    end: Mutex<Option<ProcessEnd>>,
    ended: Condvar,
}

impl ExitNotice {
    fn signal(&self, end: ProcessEnd) {
        let mut slot = self.end.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(end);
            self.ended.notify_all();
        }
    }
}

/// `HCS_EVENT_CALLBACK` registered on every process silo starts; `context` is the process's
/// [`ExitNotice`] (an `Arc` given to HCS until `HcsCloseProcess`, which unregisters the
/// callback and waits for running invocations before it returns).
unsafe extern "system" fn on_process_event(event: *const hcs::HCS_EVENT, context: *const c_void) {
    if event.is_null() || context.is_null() {
        return;
    }
    // SAFETY: HCS passes a valid event for the duration of the call, and `context` is the
    // `Arc<ExitNotice>` pointer registered with the callback, alive until it is unregistered.
    let (event, notice) = unsafe { (&*event, &*(context as *const ExitNotice)) };
    match event.Type {
        hcs::HcsEventProcessExited => {
            // SAFETY: the event data is null or a NUL-terminated string HCS owns.
            let data = unsafe { utf16_until_nul(event.EventData as PWSTR) };
            notice.signal(ProcessEnd::Exited(data));
        }
        hcs::HcsEventServiceDisconnect => notice.signal(ProcessEnd::ServiceDisconnected),
        _ => {}
    }
}

/// A process's exit notice and the context pointer HCS holds for it.
struct Watched {
    notice: Arc<ExitNotice>,
    context: *const ExitNotice,
}

// SAFETY: `context` is an `Arc` pointer only turned back into an `Arc` once, after
// `HcsCloseProcess`; the notice itself is Sync.
unsafe impl Send for Watched {}

/// The Host Compute Service of this machine.
#[derive(Default)]
pub struct HostComputeApi {
    /// Exit notices of the open processes, by process handle.
    processes: Mutex<HashMap<usize, Watched>>,
}

impl HostComputeApi {
    fn layer_call(
        &self,
        operation: &'static str,
        layer: &Path,
        call: impl FnOnce(&DriverInfo, PCWSTR) -> ApiResult<HRESULT>,
    ) -> ApiResult<()> {
        let name = LayerName::new(layer);
        let info = name.info();
        let hr = call(&info, name.id.as_ptr())?;
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
        let hr = unsafe { vmcompute::NameToGuid(text.as_ptr(), &mut out) }?;
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
            vmcompute::ImportLayer(info, id, source.as_ptr(), d.list.as_ptr(), d.list.len())
        })
    }

    fn process_base_layer(&self, layer: &Path) -> ApiResult<()> {
        let path = wide_path(layer);
        // SAFETY: NUL-terminated path.
        let hr = unsafe { vmcompute::ProcessBaseImage(path.as_ptr()) }?;
        check("ProcessBaseImage", hr, || layer.display().to_string())
    }

    fn process_utility_vm(&self, utility_vm: &Path) -> ApiResult<()> {
        let path = wide_path(utility_vm);
        // SAFETY: NUL-terminated path.
        let hr = unsafe { vmcompute::ProcessUtilityImage(path.as_ptr()) }?;
        check("ProcessUtilityImage", hr, || {
            utility_vm.display().to_string()
        })
    }

    fn create_scratch_layer(&self, scratch: &Path, parents: &[PathBuf]) -> ApiResult<()> {
        let d = Descriptors::new(self, parents)?;
        self.layer_call("CreateSandboxLayer", scratch, |info, id| unsafe {
            // SAFETY: all pointers outlive the call; no explicit parent (descriptors say it).
            vmcompute::CreateSandboxLayer(info, id, null(), d.list.as_ptr(), d.list.len())
        })
    }

    fn activate_layer(&self, layer: &Path) -> ApiResult<()> {
        // SAFETY: pointers outlive the call.
        self.layer_call("ActivateLayer", layer, |info, id| unsafe {
            vmcompute::ActivateLayer(info, id)
        })
    }

    fn prepare_layer(&self, layer: &Path, parents: &[PathBuf]) -> ApiResult<()> {
        let d = Descriptors::new(self, parents)?;
        self.layer_call("PrepareLayer", layer, |info, id| unsafe {
            // SAFETY: pointers outlive the call.
            vmcompute::PrepareLayer(info, id, d.list.as_ptr(), d.list.len())
        })
    }

    fn layer_mount_path(&self, layer: &Path) -> ApiResult<String> {
        let name = LayerName::new(layer);
        let info = name.info();
        let mut length = 0usize;
        // SAFETY: first call asks for the length (in UTF-16 units, including the NUL).
        let hr = unsafe {
            vmcompute::GetLayerMountPath(&info, name.id.as_ptr(), &mut length, null_mut())
        }?;
        check("GetLayerMountPath", hr, || layer.display().to_string())?;
        let mut buffer = vec![0u16; length.clamp(1, 32 * 1024)];
        length = buffer.len();
        // SAFETY: `buffer` holds `length` units.
        let hr = unsafe {
            vmcompute::GetLayerMountPath(&info, name.id.as_ptr(), &mut length, buffer.as_mut_ptr())
        }?;
        check("GetLayerMountPath", hr, || layer.display().to_string())?;
        let end = buffer.iter().position(|&c| c == 0).unwrap_or(buffer.len());
        Ok(String::from_utf16_lossy(&buffer[..end]))
    }

    fn unprepare_layer(&self, layer: &Path) -> ApiResult<()> {
        // SAFETY: pointers outlive the call.
        self.layer_call("UnprepareLayer", layer, |info, id| unsafe {
            vmcompute::UnprepareLayer(info, id)
        })
    }

    fn deactivate_layer(&self, layer: &Path) -> ApiResult<()> {
        // SAFETY: pointers outlive the call.
        self.layer_call("DeactivateLayer", layer, |info, id| unsafe {
            vmcompute::DeactivateLayer(info, id)
        })
    }

    fn export_layer(&self, layer: &Path, folder: &Path, parents: &[PathBuf]) -> ApiResult<()> {
        let d = Descriptors::new(self, parents)?;
        let folder = wide_path(folder);
        self.layer_call("ExportLayer", layer, |info, id| unsafe {
            // SAFETY: pointers outlive the call.
            vmcompute::ExportLayer(info, id, folder.as_ptr(), d.list.as_ptr(), d.list.len())
        })
    }

    fn destroy_layer(&self, layer: &Path) -> ApiResult<()> {
        // SAFETY: pointers outlive the call.
        self.layer_call("DestroyLayer", layer, |info, id| unsafe {
            vmcompute::DestroyLayer(info, id)
        })
    }

    fn create_compute_system(&self, id: &str, document: &str) -> ApiResult<SystemHandle> {
        let (id_w, doc_w) = (wide(id), wide(document));
        let op = Operation::new("HcsCreateComputeSystem")?;
        let mut system: hcs::HCS_SYSTEM = null_mut();
        // SAFETY: NUL-terminated strings, valid operation, default security descriptor.
        let hr = unsafe {
            computecore::HcsCreateComputeSystem(
                id_w.as_ptr(),
                doc_w.as_ptr(),
                op.0,
                null(),
                &mut system,
            )
        }?;
        check("HcsCreateComputeSystem", hr, || id.to_string())?;
        if let Err(e) = op.wait("HcsCreateComputeSystem") {
            if !system.is_null() {
                // SAFETY: the handle was returned above and is closed once.
                let _ = unsafe { computecore::HcsCloseComputeSystem(system) };
            }
            return Err(e);
        }
        Ok(SystemHandle(system as usize))
    }

    fn start_compute_system(&self, system: SystemHandle) -> ApiResult<()> {
        let op = Operation::new("HcsStartComputeSystem")?;
        // SAFETY: valid handles; no options.
        let hr = unsafe {
            computecore::HcsStartComputeSystem(system.0 as hcs::HCS_SYSTEM, op.0, null())
        }?;
        check("HcsStartComputeSystem", hr, String::new)?;
        op.wait("HcsStartComputeSystem").map(drop)
    }

    fn modify_compute_system(&self, system: SystemHandle, request: &str) -> ApiResult<()> {
        let request_w = wide(request);
        let op = Operation::new("HcsModifyComputeSystem")?;
        // SAFETY: valid handles, NUL-terminated request; no identity token.
        let hr = unsafe {
            computecore::HcsModifyComputeSystem(
                system.0 as hcs::HCS_SYSTEM,
                op.0,
                request_w.as_ptr(),
                null_mut(),
            )
        }?;
        check("HcsModifyComputeSystem", hr, || request.to_string())?;
        op.wait("HcsModifyComputeSystem").map(drop)
    }

    fn grant_vm_access(&self, vm_id: &str, file: &Path) -> ApiResult<()> {
        let (id_w, file_w) = (wide(vm_id), wide_path(file));
        // SAFETY: NUL-terminated strings that outlive the call.
        let hr = unsafe { computecore::HcsGrantVmAccess(id_w.as_ptr(), file_w.as_ptr()) }?;
        check("HcsGrantVmAccess", hr, || file.display().to_string())
    }

    fn create_process(
        &self,
        system: SystemHandle,
        parameters: &str,
    ) -> ApiResult<(ProcessHandle, ProcessPipes)> {
        let params = wide(parameters);
        let op = Operation::new("HcsCreateProcess")?;
        let mut process: hcs::HCS_PROCESS = null_mut();
        // SAFETY: valid handles and a NUL-terminated document.
        let hr = unsafe {
            computecore::HcsCreateProcess(
                system.0 as hcs::HCS_SYSTEM,
                params.as_ptr(),
                op.0,
                null(),
                &mut process,
            )
        }?;
        check("HcsCreateProcess", hr, String::new)?;
        let mut info = hcs::HCS_PROCESS_INFORMATION::default();
        let mut result: PWSTR = null_mut();
        // SAFETY: valid operation; `info` receives the pipe handles, which we then own.
        let hr = unsafe {
            computecore::HcsWaitForOperationResultAndProcessInfo(
                op.0,
                u32::MAX,
                &mut info,
                &mut result,
            )
        };
        let document = take_hcs_string(result);
        let close_process = || {
            if !process.is_null() {
                // SAFETY: closed once, on this failure path only.
                let _ = unsafe { computecore::HcsCloseProcess(process) };
            }
        };
        if let Err(e) = hr.and_then(|hr| check("HcsCreateProcess", hr, || document)) {
            close_process();
            return Err(e);
        }
        // Every handle HCS handed over is owned from here on, so each failure below closes them.
        let pipes = [info.StdInput, info.StdOutput, info.StdError]
            .map(|h| (!h.is_null() && h != INVALID_HANDLE_VALUE).then(|| Pipe::new(h)));
        let [stdin, stdout, stderr] = pipes;
        // silo asked for no stdin pipe; dropping one HCS made anyway closes it.
        drop(stdin);
        let pipe = |p: Option<io::Result<Pipe>>| -> ApiResult<Option<Box<dyn Read + Send>>> {
            p.transpose()
                .map(|p| p.map(|p| Box::new(p) as Box<dyn Read + Send>))
                .map_err(|e| {
                    HcsError::new("HcsCreateProcess", 0x8000_4005)
                        .with_detail(format!("cannot read the process's output: {e}"))
                })
        };
        let (stdout, stderr) = match (pipe(stdout), pipe(stderr)) {
            (Ok(out), Ok(err)) => (out, err),
            (Err(e), _) | (_, Err(e)) => {
                close_process();
                return Err(e);
            }
        };
        // The exit comes as a notification (hcsshim's `registerNotification`): registered
        // before anything waits, and the only source of the exit code.
        let notice = Arc::new(ExitNotice::default());
        let context = Arc::into_raw(notice.clone());
        // SAFETY: valid process handle; `context` stays valid until `close_process` takes
        // it back after `HcsCloseProcess` has unregistered the callback.
        let registered = unsafe {
            computecore::HcsSetProcessCallback(
                process,
                hcs::HcsEventOptionNone,
                context as *const c_void,
                Some(on_process_event),
            )
        };
        if let Err(e) = registered.and_then(|hr| check("HcsSetProcessCallback", hr, String::new)) {
            close_process();
            // SAFETY: HCS holds no callback with this context (registration failed, and the
            // process is closed); the pointer came from `Arc::into_raw` above.
            drop(unsafe { Arc::from_raw(context) });
            return Err(e);
        }
        self.processes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(process as usize, Watched { notice, context });
        Ok((
            ProcessHandle(process as usize),
            ProcessPipes { stdout, stderr },
        ))
    }

    /// Waits for the process's exit notification. hcsshim never calls `HcsWaitForProcessExit`
    /// (it exists only from Windows Server 2022 / build 20348 on); the notification works on
    /// every build with computecore.dll.
    fn wait_process(
        &self,
        process: ProcessHandle,
        timeout: Option<Duration>,
    ) -> ApiResult<WaitOutcome> {
        let notice = self.notice(process, "HcsSetProcessCallback")?;
        let end = notice.end.lock().unwrap_or_else(|p| p.into_inner());
        let end = match timeout {
            Some(timeout) => {
                notice
                    .ended
                    .wait_timeout_while(end, timeout, |end| end.is_none())
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
            None => notice
                .ended
                .wait_while(end, |end| end.is_none())
                .unwrap_or_else(|p| p.into_inner()),
        };
        Ok(if end.is_some() {
            WaitOutcome::Exited
        } else {
            WaitOutcome::TimedOut
        })
    }

    /// The exit code from the exit notification's `ProcessStatus` (hcsshim's
    /// `waitBackground`), not from a separate properties query.
    fn process_exit_code(&self, process: ProcessHandle) -> ApiResult<i32> {
        const OPERATION: &str = "HcsEventProcessExited";
        let notice = self.notice(process, OPERATION)?;
        let end = notice.end.lock().unwrap_or_else(|p| p.into_inner());
        match &*end {
            Some(ProcessEnd::Exited(status)) => exit_code_from_status(status)
                .map_err(|e| HcsError::new(OPERATION, 0x8007_000D).with_detail(e)),
            Some(ProcessEnd::ServiceDisconnected) => Err(HcsError::new(OPERATION, 0x8007_06BA)
                .with_detail("the HCS service disconnected before the process exited")),
            None => {
                Err(HcsError::new(OPERATION, 0xC037_0105)
                    .with_detail("the process has not exited yet"))
            }
        }
    }

    fn terminate_compute_system(&self, system: SystemHandle) -> ApiResult<()> {
        let op = Operation::new("HcsTerminateComputeSystem")?;
        // SAFETY: valid handles; no options.
        let hr = unsafe {
            computecore::HcsTerminateComputeSystem(system.0 as hcs::HCS_SYSTEM, op.0, null())
        }?;
        check("HcsTerminateComputeSystem", hr, String::new)?;
        op.wait("HcsTerminateComputeSystem").map(drop)
    }

    fn close_process(&self, process: ProcessHandle) {
        // SAFETY: the sandbox closes each process handle exactly once; HcsCloseProcess
        // unregisters the exit callback and waits for running invocations before it returns.
        let _ = unsafe { computecore::HcsCloseProcess(process.0 as hcs::HCS_PROCESS) };
        let watched = self
            .processes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&process.0);
        if let Some(watched) = watched {
            // SAFETY: the callback is unregistered, so HCS no longer holds `context`, which
            // came from `Arc::into_raw` and is taken back exactly once.
            drop(unsafe { Arc::from_raw(watched.context) });
        }
    }

    fn close_compute_system(&self, system: SystemHandle) {
        // SAFETY: the sandbox closes each system handle exactly once.
        let _ = unsafe { computecore::HcsCloseComputeSystem(system.0 as hcs::HCS_SYSTEM) };
    }
}

impl HostComputeApi {
    /// The exit notice of an open process.
    fn notice(
        &self,
        process: ProcessHandle,
        operation: &'static str,
    ) -> ApiResult<Arc<ExitNotice>> {
        self.processes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&process.0)
            .map(|w| w.notice.clone())
            .ok_or_else(|| {
                HcsError::new(operation, 0x8007_0006).with_detail("not a process silo started")
            })
    }
}

/// Loads the DLLs every HCS step needs (computenetwork.dll is loaded when a step first joins
/// a network), so a host without them is told before any work starts.
pub fn probe() -> ApiResult<()> {
    use super::dll::{COMPUTECORE, VMCOMPUTE};
    VMCOMPUTE.module("LoadLibraryExW")?;
    COMPUTECORE.module("LoadLibraryExW")?;
    Ok(())
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
