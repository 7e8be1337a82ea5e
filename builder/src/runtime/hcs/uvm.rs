//! One utility VM for Hyper-V isolation, shared by the steps of a build: booted from the base
//! layer's `UtilityVM\Files` with its own scratch (a copy of `UtilityVM\SystemTemplate.vhdx`),
//! then, per step, the image's layers hot-added as read-only VSMB shares and the step's scratch
//! attached on a SCSI LUN and mounted in the guest (research windows-layers.md §3.4; hcsshim
//! internal/uvm create_wcow.go, internal/layers wcow_mount.go).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::api::{ApiResult, ComputeApi, SystemHandle};
use super::schema::{self, HostLayer, ModifySettingRequest};

/// Memory and processors of the utility VM (hcsshim's WCOW defaults).
const MEMORY_MB: u64 = 1024;
const PROCESSORS: u32 = 2;
/// SCSI LUN 0 holds the VM's own scratch; steps take the LUNs after it.
const FIRST_STEP_LUN: u32 = 1;
/// Hyper-V's SCSI controller has 64 LUNs.
const LUNS: u32 = 64;

/// A step's scratch disk as the guest sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestScratch {
    pub lun: u32,
    /// Where the guest mounted it; the container's root once the layers are combined on it.
    pub path: String,
}

#[derive(Default)]
struct Devices {
    /// VSMB shares added so far (by name = layer ID): layers are shared once per VM.
    shares: BTreeSet<String>,
    luns_in_use: BTreeSet<u32>,
}

/// A running utility VM; terminated, closed and its folder removed when dropped.
pub struct UtilityVm {
    api: Arc<dyn ComputeApi>,
    id: String,
    system: SystemHandle,
    folder: PathBuf,
    devices: Mutex<Devices>,
}

impl UtilityVm {
    /// Boots a utility VM from `base_layer` (an imported base layer folder that has
    /// `UtilityVM\`), keeping its scratch in `folder` (created here).
    pub fn boot(
        api: Arc<dyn ComputeApi>,
        id: String,
        base_layer: &Path,
        folder: PathBuf,
    ) -> anyhow::Result<UtilityVm> {
        let utility_vm = base_layer.join("UtilityVM");
        let template = utility_vm.join("SystemTemplate.vhdx");
        if !template.is_file() {
            anyhow::bail!(
                "Hyper-V isolation needs the base image's utility VM, but {} does not exist: \
                 the base image ships no UtilityVM (use a Windows base such as servercore or \
                 nanoserver, or --isolation process on a host of the image's build)",
                template.display()
            );
        }
        std::fs::create_dir_all(&folder)
            .map_err(|e| anyhow::anyhow!("creating {}: {e}", folder.display()))?;
        let scratch = folder.join("sandbox.vhdx");
        let booted = (|| -> anyhow::Result<SystemHandle> {
            std::fs::copy(&template, &scratch).map_err(|e| {
                anyhow::anyhow!(
                    "copying {} to {}: {e}",
                    template.display(),
                    scratch.display()
                )
            })?;
            api.grant_vm_access(&id, &scratch)?;
            let document = schema::utility_vm(
                "silo",
                &utility_vm.join("Files").display().to_string(),
                &scratch.display().to_string(),
                MEMORY_MB,
                PROCESSORS,
            );
            let system = api.create_compute_system(&id, &serde_json::to_string(&document)?)?;
            if let Err(e) = api.start_compute_system(system) {
                api.close_compute_system(system);
                return Err(e.into());
            }
            Ok(system)
        })();
        match booted {
            Ok(system) => Ok(UtilityVm {
                api,
                id,
                system,
                folder,
                devices: Mutex::default(),
            }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&folder);
                Err(e)
            }
        }
    }

    /// The VM's compute-system ID (a hosted container's `HostingSystemId`).
    pub fn id(&self) -> &str {
        &self.id
    }

    fn modify(&self, request: &ModifySettingRequest) -> ApiResult<()> {
        let json = serde_json::to_string(request).expect("schema types always serialize");
        self.api.modify_compute_system(self.system, &json)
    }

    /// Makes every layer reachable in the guest as the VSMB share named by its ID.
    pub fn share_layers(&self, layers: &[HostLayer]) -> ApiResult<()> {
        let mut devices = self.devices.lock().unwrap_or_else(|p| p.into_inner());
        for layer in layers {
            if devices.shares.contains(&layer.id) {
                continue;
            }
            self.modify(&schema::add_vsmb_share(&schema::read_only_share(
                &layer.id,
                &layer.path,
            )))?;
            devices.shares.insert(layer.id.clone());
        }
        Ok(())
    }

    /// Attaches a step's scratch VHDX on a free LUN and mounts it in the guest.
    pub fn attach_scratch(&self, vhdx: &Path) -> anyhow::Result<GuestScratch> {
        let lun = {
            let mut devices = self.devices.lock().unwrap_or_else(|p| p.into_inner());
            let lun = (FIRST_STEP_LUN..LUNS)
                .find(|lun| !devices.luns_in_use.contains(lun))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "utility VM {}: all {LUNS} SCSI LUNs are in use by running steps",
                        self.id
                    )
                })?;
            devices.luns_in_use.insert(lun);
            lun
        };
        let scratch = GuestScratch {
            lun,
            path: format!(r"C:\mounts\scsi\m{lun}"),
        };
        let attached = self.api.grant_vm_access(&self.id, vhdx).and_then(|()| {
            self.modify(&schema::attach_scratch(
                lun,
                &vhdx.display().to_string(),
                &scratch.path,
            ))
        });
        if let Err(e) = attached {
            self.release_lun(lun);
            return Err(e.into());
        }
        Ok(scratch)
    }

    /// Unmounts and detaches a step's scratch so the host can export it.
    pub fn detach_scratch(&self, scratch: &GuestScratch) -> ApiResult<()> {
        let detached = self.modify(&schema::detach_scratch(scratch.lun, &scratch.path));
        // The LUN is free again even if the detach failed: the VM is torn down with the build,
        // and a step must not wait on a LUN that may never come back.
        self.release_lun(scratch.lun);
        detached
    }

    fn release_lun(&self, lun: u32) {
        let mut devices = self.devices.lock().unwrap_or_else(|p| p.into_inner());
        devices.luns_in_use.remove(&lun);
    }

    /// Puts the layer filter on the mounted scratch: the container's root filesystem.
    pub fn combine_layers(&self, scratch: &GuestScratch, layers: &[HostLayer]) -> ApiResult<()> {
        self.modify(&schema::combine_layers(
            &scratch.path,
            &schema::guest_layers(layers),
        ))
    }

    pub fn uncombine_layers(&self, scratch: &GuestScratch) -> ApiResult<()> {
        self.modify(&schema::uncombine_layers(&scratch.path))
    }
}

impl Drop for UtilityVm {
    fn drop(&mut self) {
        if let Err(e) = self.api.terminate_compute_system(self.system) {
            tracing::warn!("HCS teardown of utility VM {}: {e}", self.id);
        }
        self.api.close_compute_system(self.system);
        if let Err(e) = std::fs::remove_dir_all(&self.folder) {
            tracing::warn!("removing {}: {e}", self.folder.display());
        }
    }
}
