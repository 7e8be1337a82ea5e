//! The HCS schema v2 JSON documents silo sends: the compute system (process-isolated container,
//! utility VM for Hyper-V isolation, and the container hosted in it) and the process parameters.
//! Field names are HCS's own (hcsshim internal/hcs/schema2); absent options are left out rather
//! than sent as `null`, because HCS rejects fields it does not expect.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `SchemaVersion`; silo speaks 2.1 (Windows Server 2019 / build 17763 and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SchemaVersion {
    pub major: u32,
    pub minor: u32,
}

pub const SCHEMA_2_1: SchemaVersion = SchemaVersion { major: 2, minor: 1 };

/// The top-level document for `HcsCreateComputeSystem`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ComputeSystem {
    pub owner: String,
    pub schema_version: SchemaVersion,
    /// The utility VM's ID when this container runs inside one (Hyper-V isolation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosting_system_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosted_system: Option<HostedSystem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_machine: Option<VirtualMachine>,
    /// The system goes away if silo dies and its handle is closed: no orphaned silos.
    pub should_terminate_on_last_handle_closed: bool,
}

/// The container sent to a utility VM's guest.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostedSystem {
    pub schema_version: SchemaVersion,
    pub container: Container,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Container {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest_os: Option<GuestOs>,
    pub storage: Storage,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mapped_directories: Vec<MappedDirectory>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networking: Option<Networking>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GuestOs {
    pub host_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Storage {
    /// Read-only layers, nearest parent first, base last.
    pub layers: Vec<Layer>,
    /// The mounted scratch volume, `\\?\Volume{GUID}\` (trailing backslash required).
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Layer {
    /// `NameToGuid(folder name)` for host layers; the VSMB share name inside a utility VM.
    pub id: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_type: Option<PathType>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PathType {
    AbsolutePath,
    VirtualSmbShareName,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MappedDirectory {
    pub host_path: String,
    pub container_path: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Networking {
    pub allow_unqualified_dns_query: bool,
    /// The HNS namespace GUID; absent = no network (`--network none`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The utility VM of Hyper-V isolation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VirtualMachine {
    pub stop_on_reset: bool,
    pub chipset: Chipset,
    pub compute_topology: Topology,
    pub devices: Devices,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Chipset {
    pub uefi: Uefi,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Uefi {
    pub boot_this: UefiBootEntry,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UefiBootEntry {
    pub device_path: String,
    /// `VmbFs`: boot from the VSMB share named `os`.
    pub device_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Topology {
    pub memory: Memory,
    pub processor: Processor,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Memory {
    #[serde(rename = "SizeInMB")]
    pub size_in_mb: u64,
    pub allow_overcommit: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Processor {
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Devices {
    /// Controller number (as a string key) → its disks.
    pub scsi: BTreeMap<String, Scsi>,
    pub virtual_smb: VirtualSmb,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Scsi {
    /// LUN (as a string key) → disk.
    pub attachments: BTreeMap<String, Attachment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attachment {
    pub path: String,
    /// `VirtualDisk`.
    #[serde(rename = "Type")]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VirtualSmb {
    pub shares: Vec<VirtualSmbShare>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VirtualSmbShare {
    pub name: String,
    pub path: String,
    pub options: VirtualSmbShareOptions,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VirtualSmbShareOptions {
    pub read_only: bool,
    pub share_read: bool,
    pub cache_io: bool,
    pub pseudo_oplocks: bool,
    pub take_backup_privilege: bool,
}

/// `HcsCreateProcess`'s document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessParameters {
    pub command_line: String,
    pub working_directory: String,
    pub environment: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    pub emulate_console: bool,
    pub create_std_in_pipe: bool,
    pub create_std_out_pipe: bool,
    pub create_std_err_pipe: bool,
}

/// One read-only layer on the host: its folder and `NameToGuid(folder name)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLayer {
    pub id: String,
    pub path: String,
}

/// The guest path of a VSMB share inside a utility VM (the prefix Windows gives VSMB shares).
pub fn vsmb_guest_path(share: &str) -> String {
    format!(r"\\?\VMSMB\VSMB-{{dcc079ae-60ba-4d07-847c-3493609c0870}}\{share}")
}

/// What every container document needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInputs {
    pub owner: String,
    pub host_name: String,
    /// Nearest parent first, base last.
    pub layers: Vec<HostLayer>,
    /// The scratch volume (`\\?\Volume{…}\`); for Hyper-V, its path inside the guest.
    pub scratch_volume: String,
    /// The HNS namespace for networking; `None` for no network.
    pub network_namespace: Option<String>,
    /// Host directories the step sees (`RUN --mount`; process isolation only).
    pub mapped_directories: Vec<MappedDirectory>,
}

fn networking(inputs: &ContainerInputs) -> Option<Networking> {
    inputs.network_namespace.as_ref().map(|ns| Networking {
        allow_unqualified_dns_query: true,
        namespace: Some(ns.clone()),
    })
}

/// A process-isolated container (Argon) on the host's kernel.
pub fn process_isolated(inputs: &ContainerInputs) -> ComputeSystem {
    ComputeSystem {
        owner: inputs.owner.clone(),
        schema_version: SCHEMA_2_1,
        hosting_system_id: None,
        hosted_system: None,
        container: Some(Container {
            guest_os: Some(GuestOs {
                host_name: inputs.host_name.clone(),
            }),
            storage: Storage {
                layers: inputs
                    .layers
                    .iter()
                    .map(|l| Layer {
                        id: l.id.clone(),
                        path: l.path.clone(),
                        path_type: None,
                    })
                    .collect(),
                path: inputs.scratch_volume.clone(),
            },
            mapped_directories: inputs.mapped_directories.clone(),
            networking: networking(inputs),
        }),
        virtual_machine: None,
        should_terminate_on_last_handle_closed: true,
    }
}

/// The utility VM for Hyper-V isolation: boots UEFI from the base layer's `UtilityVM\Files`
/// over a VSMB share named `os`, with its own scratch (a copy of `UtilityVM\SystemTemplate.vhdx`)
/// on SCSI 0:0. Each step's layers and scratch are hot-added later ([`add_vsmb_share`],
/// [`attach_scratch`]), so one utility VM serves every step of a build.
pub fn utility_vm(
    owner: &str,
    uvm_files: &str,
    uvm_scratch_vhdx: &str,
    memory_mb: u64,
    processors: u32,
) -> ComputeSystem {
    let attachments = BTreeMap::from([(
        "0".to_string(),
        Attachment {
            path: uvm_scratch_vhdx.into(),
            kind: "VirtualDisk".into(),
        },
    )]);
    ComputeSystem {
        owner: owner.into(),
        schema_version: SCHEMA_2_1,
        hosting_system_id: None,
        hosted_system: None,
        container: None,
        virtual_machine: Some(VirtualMachine {
            stop_on_reset: true,
            chipset: Chipset {
                uefi: Uefi {
                    boot_this: UefiBootEntry {
                        device_path: r"\EFI\Microsoft\Boot\bootmgfw.efi".into(),
                        device_type: "VmbFs".into(),
                    },
                },
            },
            compute_topology: Topology {
                memory: Memory {
                    size_in_mb: memory_mb,
                    allow_overcommit: true,
                },
                processor: Processor { count: processors },
            },
            devices: Devices {
                scsi: BTreeMap::from([(SCSI_CONTROLLER.to_string(), Scsi { attachments })]),
                virtual_smb: VirtualSmb {
                    shares: vec![read_only_share("os", uvm_files)],
                },
            },
        }),
        should_terminate_on_last_handle_closed: true,
    }
}

/// A read-only VSMB share with the options hcsshim gives image layers (backup privilege so
/// the guest can read files whatever their ACLs).
pub fn read_only_share(name: &str, path: &str) -> VirtualSmbShare {
    VirtualSmbShare {
        name: name.into(),
        path: path.into(),
        options: VirtualSmbShareOptions {
            read_only: true,
            share_read: true,
            cache_io: true,
            pseudo_oplocks: true,
            take_backup_privilege: true,
        },
    }
}

/// The utility VM's one SCSI controller: its key in `Devices.Scsi` and in resource paths is a
/// GUID, hcsshim's first `ScsiControllerGuids` entry (internal/protocol/guestrequest/types.go:
/// a V5 GUID of namespace d422512d-2bf2-4752-809d-7b82b5fcb1b4 and the name "0"), as
/// internal/uvm/create_wcow.go and scsi/backend.go use it — not "0" (issue #19 item 8).
pub(crate) const SCSI_CONTROLLER: &str = "df6d0690-79e5-55b6-a5ec-c1e2f77f580a";

/// `HcsModifyComputeSystem`'s document: a change to the VM's devices (`ResourcePath`,
/// `RequestType`, `Settings`) and/or a request HCS forwards to the guest (`GuestRequest`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifySettingRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_type: Option<RequestType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest_request: Option<GuestRequest>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RequestType {
    Add,
    Remove,
}

/// A modification inside the utility VM's guest (`MappedVirtualDisk`, `CombinedLayers`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GuestRequest {
    pub resource_type: String,
    pub request_type: RequestType,
    pub settings: serde_json::Value,
}

fn to_value(value: impl Serialize) -> serde_json::Value {
    serde_json::to_value(value).expect("schema types always serialize")
}

/// Hot-adds a read-only layer folder to the utility VM as VSMB share `share.name`.
pub fn add_vsmb_share(share: &VirtualSmbShare) -> ModifySettingRequest {
    ModifySettingRequest {
        resource_path: Some("VirtualMachine/Devices/VirtualSmb/Shares".into()),
        request_type: Some(RequestType::Add),
        settings: Some(to_value(share)),
        guest_request: None,
    }
}

fn scsi_resource_path(lun: u32) -> String {
    format!("VirtualMachine/Devices/Scsi/{SCSI_CONTROLLER}/Attachments/{lun}")
}

/// The guest side of a SCSI disk: where the guest mounts LUN `lun`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MappedVirtualDisk<'a> {
    container_path: &'a str,
    lun: u32,
}

fn mapped_virtual_disk(request_type: RequestType, lun: u32, guest_path: &str) -> GuestRequest {
    GuestRequest {
        resource_type: "MappedVirtualDisk".into(),
        request_type,
        settings: to_value(MappedVirtualDisk {
            container_path: guest_path,
            lun,
        }),
    }
}

/// Attaches a step's scratch VHDX on SCSI LUN `lun` and has the guest mount it at `guest_path`.
pub fn attach_scratch(lun: u32, host_vhdx: &str, guest_path: &str) -> ModifySettingRequest {
    ModifySettingRequest {
        resource_path: Some(scsi_resource_path(lun)),
        request_type: Some(RequestType::Add),
        settings: Some(to_value(Attachment {
            path: host_vhdx.into(),
            kind: "VirtualDisk".into(),
        })),
        guest_request: Some(mapped_virtual_disk(RequestType::Add, lun, guest_path)),
    }
}

/// Unmounts and detaches what [`attach_scratch`] attached.
pub fn detach_scratch(lun: u32, guest_path: &str) -> ModifySettingRequest {
    ModifySettingRequest {
        resource_path: Some(scsi_resource_path(lun)),
        request_type: Some(RequestType::Remove),
        settings: None,
        guest_request: Some(mapped_virtual_disk(RequestType::Remove, lun, guest_path)),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CombinedLayers<'a> {
    container_root_path: &'a str,
    #[serde(skip_serializing_if = "<[Layer]>::is_empty")]
    layers: &'a [Layer],
}

fn combined_layers(
    request_type: RequestType,
    root: &str,
    layers: &[Layer],
) -> ModifySettingRequest {
    ModifySettingRequest {
        resource_path: None,
        request_type: None,
        settings: None,
        guest_request: Some(GuestRequest {
            resource_type: "CombinedLayers".into(),
            request_type,
            settings: to_value(CombinedLayers {
                container_root_path: root,
                layers,
            }),
        }),
    }
}

/// Has the guest put the layer filter on the mounted scratch at `root`: the container's root
/// becomes the scratch over `layers` (guest paths of the VSMB shares, nearest parent first).
pub fn combine_layers(root: &str, layers: &[Layer]) -> ModifySettingRequest {
    combined_layers(RequestType::Add, root, layers)
}

/// Removes the layer filter of [`combine_layers`].
pub fn uncombine_layers(root: &str) -> ModifySettingRequest {
    combined_layers(RequestType::Remove, root, &[])
}

/// The layers as the guest sees them: each one the VSMB share named by its layer ID.
pub fn guest_layers(layers: &[HostLayer]) -> Vec<Layer> {
    layers
        .iter()
        .map(|l| Layer {
            id: l.id.clone(),
            path: vsmb_guest_path(&l.id),
            path_type: None,
        })
        .collect()
}

/// The container that runs inside utility VM `uvm_id`: its layers are the VM's VSMB shares.
pub fn hosted_in_utility_vm(inputs: &ContainerInputs, uvm_id: &str) -> ComputeSystem {
    let mut container = process_isolated(inputs)
        .container
        .expect("process_isolated always sets Container");
    container.storage.layers = guest_layers(&inputs.layers);
    ComputeSystem {
        owner: inputs.owner.clone(),
        schema_version: SCHEMA_2_1,
        hosting_system_id: Some(uvm_id.into()),
        hosted_system: Some(HostedSystem {
            schema_version: SCHEMA_2_1,
            container,
        }),
        container: None,
        virtual_machine: None,
        should_terminate_on_last_handle_closed: true,
    }
}

/// The process document for one RUN step; stdout and stderr come back through pipes.
pub fn process_parameters(process: &crate::runtime::ProcessSpec) -> ProcessParameters {
    ProcessParameters {
        command_line: crate::runtime::winargv::command_line(process),
        working_directory: if process.working_dir.is_empty() {
            r"C:\".into()
        } else {
            process.working_dir.clone()
        },
        environment: process.env.clone(),
        user: process.user.clone(),
        emulate_console: false,
        create_std_in_pipe: false,
        create_std_out_pipe: true,
        create_std_err_pipe: true,
    }
}

/// A process's status as HCS reports it in the `HcsEventProcessExited` notification (hcsshim
/// internal/hcs/schema2/process_status.go). Every field is `omitempty` there: a process that
/// exited with 0 has no `ExitCode` at all.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ProcessStatus {
    pub process_id: u32,
    pub exited: bool,
    pub exit_code: u32,
    pub last_wait_result: i32,
}

/// The exit code in an exit notification's `ProcessStatus` document. As in hcsshim's
/// `waitBackground` (internal/hcs/v2/process.go), an absent `ExitCode` is 0 and a non-zero
/// `LastWaitResult` means HCS could not wait for the process, so there is no exit code; an
/// empty or unreadable document has none either. Codes are `DWORD`s (e.g. `0xC0000005`),
/// returned as the same 32 bits in an `i32`.
pub fn exit_code_from_status(document: &str) -> Result<i32, String> {
    if document.trim().is_empty() {
        return Err("HCS's exit notification carried no process status".into());
    }
    let status: ProcessStatus = serde_json::from_str(document)
        .map_err(|e| format!("unreadable process status {document:?}: {e}"))?;
    if status.last_wait_result != 0 {
        return Err(format!(
            "HCS could not wait for the process (LastWaitResult {:#010x}): {document}",
            status.last_wait_result
        ));
    }
    Ok(status.exit_code as i32)
}

#[cfg(test)]
mod tests;
