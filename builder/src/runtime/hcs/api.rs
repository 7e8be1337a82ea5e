//! `ComputeApi`: every Host Compute Service call the HCS runtime makes, as one trait. The real
//! implementation (`ffi.rs`) is a thin layer over vmcompute.dll (layer storage) and
//! computecore.dll (compute systems and processes); everything above it is plain Rust that the
//! unit tests drive with a recording fake.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::guid::Guid;
use super::hresult::HcsError;

/// An open compute system (opaque to callers; the FFI keeps the raw handle in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemHandle(pub usize);

/// An open process in a compute system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessHandle(pub usize);

/// The read ends of a process's output pipes.
#[derive(Default)]
pub struct ProcessPipes {
    pub stdout: Option<Box<dyn Read + Send>>,
    pub stderr: Option<Box<dyn Read + Send>>,
}

/// How waiting for a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    Exited,
    TimedOut,
}

pub type ApiResult<T> = Result<T, HcsError>;

/// The HCS calls. Layer arguments are layer folders; `parents` run nearest parent first, base
/// last (the order vmcompute's layer descriptors and `Storage.Layers` use).
pub trait ComputeApi: Send + Sync {
    /// vmcompute `NameToGuid`: the layer ID HCS expects for a layer folder's name.
    fn name_to_guid(&self, name: &str) -> ApiResult<Guid>;
    /// vmcompute `ImportLayer`: `source` is an unpacked layer (`Files/`, `Hives/`; deletions
    /// are made in the layer folder afterwards, as hcsshim does).
    fn import_layer(&self, layer: &Path, source: &Path, parents: &[PathBuf]) -> ApiResult<()>;
    /// vmcompute `ProcessBaseImage`: turns a folder of `Files/` into a base layer (hives set up).
    fn process_base_layer(&self, layer: &Path) -> ApiResult<()>;
    /// vmcompute `ProcessUtilityImage`: prepares `UtilityVM/` of a base layer for Hyper-V.
    fn process_utility_vm(&self, utility_vm: &Path) -> ApiResult<()>;
    /// vmcompute `CreateSandboxLayer`: a writable scratch layer on top of `parents`.
    fn create_scratch_layer(&self, scratch: &Path, parents: &[PathBuf]) -> ApiResult<()>;
    fn activate_layer(&self, layer: &Path) -> ApiResult<()>;
    fn prepare_layer(&self, layer: &Path, parents: &[PathBuf]) -> ApiResult<()>;
    /// vmcompute `GetLayerMountPath`: the scratch's volume, `\\?\Volume{GUID}\`.
    fn layer_mount_path(&self, layer: &Path) -> ApiResult<String>;
    fn unprepare_layer(&self, layer: &Path) -> ApiResult<()>;
    fn deactivate_layer(&self, layer: &Path) -> ApiResult<()>;
    /// vmcompute `ExportLayer`: writes the scratch's changes to `folder`.
    fn export_layer(&self, layer: &Path, folder: &Path, parents: &[PathBuf]) -> ApiResult<()>;
    fn destroy_layer(&self, layer: &Path) -> ApiResult<()>;

    fn create_compute_system(&self, id: &str, document: &str) -> ApiResult<SystemHandle>;
    fn start_compute_system(&self, system: SystemHandle) -> ApiResult<()>;
    /// `HcsModifyComputeSystem`: a `ModifySettingRequest` (JSON) for a running system — how
    /// devices are hot-added to a utility VM and how requests reach its guest.
    fn modify_compute_system(&self, system: SystemHandle, request: &str) -> ApiResult<()>;
    /// `HcsGrantVmAccess`: lets utility VM `vm_id`'s worker process open `file` (a VHDX).
    fn grant_vm_access(&self, vm_id: &str, file: &Path) -> ApiResult<()>;
    fn create_process(
        &self,
        system: SystemHandle,
        parameters: &str,
    ) -> ApiResult<(ProcessHandle, ProcessPipes)>;
    /// Waits for the process to exit; `None` waits forever.
    fn wait_process(
        &self,
        process: ProcessHandle,
        timeout: Option<Duration>,
    ) -> ApiResult<WaitOutcome>;
    fn process_exit_code(&self, process: ProcessHandle) -> ApiResult<i32>;
    fn terminate_compute_system(&self, system: SystemHandle) -> ApiResult<()>;
    fn close_process(&self, process: ProcessHandle);
    fn close_compute_system(&self, system: SystemHandle);
}
