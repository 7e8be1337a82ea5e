//! The HCS runtime for Windows hosts (Host Compute Service): RUN steps run in real Windows
//! silos the way Docker on Windows runs them, and their changes come back from Windows' own
//! `ExportLayer` (with the `Hives/*_Delta` files Windows produces).
//!
//! - `api.rs` — the [`api::ComputeApi`] trait (every HCS call); `ffi.rs` implements it over
//!   vmcompute.dll / computecore.dll (Windows, or the `check-windows` feature for type-checking).
//! - `import.rs` — image layer tar → import folder; `export.rs` — export folder → ChangeSet;
//!   `backup.rs` — the Win32 backup stream format both folders store `Files\…` in.
//! - `schema.rs` — the v2 JSON documents; `crate::runtime::winargv` — Windows command lines; `guid.rs`;
//!   `hresult.rs` — readable errors; `host.rs` — host build and isolation choice.
//! - `sandbox.rs` — one step: scratch → compute system → process → export → teardown.
//! - `uvm.rs` — the utility VM of Hyper-V isolation, shared by a build's steps.
//! - `session.rs` — a build's locked session folder; a killed build's leftovers are reclaimed.
//! - `network.rs` — the step's HNS endpoint and namespace (`ffi_hcn.rs`: computenetwork.dll).

pub mod api;
pub mod backup;
pub mod base_files;
pub mod dll;
pub mod export;
#[cfg(any(windows, feature = "check-windows"))]
pub mod ffi;
#[cfg(any(windows, feature = "check-windows"))]
pub mod ffi_files;
#[cfg(any(windows, feature = "check-windows"))]
pub mod ffi_hcn;
pub mod guid;
pub mod host;
pub mod hresult;
pub mod import;
pub mod interrupt;
pub mod network;
pub mod sandbox;
pub mod schema;
pub mod session;
pub mod uvm;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use self::api::ComputeApi;
use self::guid::Guid;
use self::host::HostFacts;
use self::sandbox::{HcsSandbox, Isolated, SandboxParts};
use self::uvm::UtilityVm;
use super::{HostTarget, LayerRef, NetworkMode, Runtime, RuntimeError, Sandbox, SandboxSpec};
use registry_client::platform::Isolation;

/// `<state>/hcs`, absolute: vmcompute resolves a relative layer path against its own working
/// directory (a service's, not silo's), so a relative `--root` must not reach it as given.
fn hcs_root(state_dir: &Path) -> std::io::Result<PathBuf> {
    Ok(std::path::absolute(state_dir)?.join("hcs"))
}

/// Marker written into a layer folder once its import finished (a half-imported folder from
/// a crash is destroyed and imported again).
const IMPORTED_MARKER: &str = "silo-imported";

/// The HCS runtime: layer folders under `<state>/hcs/layers/<chain id>` (imported once and
/// reused by every build); this build's scratch layers (`scratch-<n>`), utility VMs' scratch
/// (`uvm-<n>`) and exports (`exports/`, which ChangeSets point into) in its session folder
/// under `<state>/hcs/sessions/`, removed when the runtime is dropped.
pub struct HcsRuntime {
    api: Arc<dyn ComputeApi>,
    root: PathBuf,
    host: HostFacts,
    /// `--isolation`; `None` lets [`host::decide_isolation`] choose per base image.
    forced: Option<Isolation>,
    next_step: AtomicU64,
    /// Serialises imports: two steps must not import the same layer at once.
    import_lock: Mutex<()>,
    /// Running utility VMs by base layer folder: booted by a build's first Hyper-V step,
    /// reused by the later ones, shut down when the runtime is dropped.
    utility_vms: Mutex<BTreeMap<PathBuf, Arc<UtilityVm>>>,
    /// Isolation notices already printed (each once per build).
    notices: Mutex<BTreeSet<String>>,
    /// HNS and the network RUN steps join (`None`: steps run without a network adapter).
    network: Option<(Arc<dyn network::NetworkApi>, String)>,
    /// Where base layers are written (`BackupWrite` on Windows).
    base_files: Arc<dyn base_files::BaseFiles>,
    /// Ctrl-C: stops the running step and the imports between layers.
    interrupt: interrupt::Interrupt,
    /// Declared last so it is dropped last: the VMs above use its folder.
    session: session::Session,
}

impl HcsRuntime {
    pub fn new(
        api: Arc<dyn ComputeApi>,
        state_dir: &Path,
        host: HostFacts,
        forced: Option<Isolation>,
    ) -> std::io::Result<HcsRuntime> {
        let root = hcs_root(state_dir)?;
        std::fs::create_dir_all(root.join("layers"))?;
        let sessions = root.join("sessions");
        reclaim_abandoned_sessions(api.as_ref(), &sessions);
        let session = session::Session::open(&sessions)?;
        std::fs::create_dir_all(session.path().join("exports"))?;
        Ok(HcsRuntime {
            api,
            session,
            root,
            host,
            forced,
            next_step: AtomicU64::new(0),
            import_lock: Mutex::new(()),
            utility_vms: Mutex::default(),
            notices: Mutex::default(),
            network: None,
            base_files: Arc::new(base_files::PlainBaseFiles),
            interrupt: interrupt::Interrupt::default(),
        })
    }

    /// Steps with the default network (`--network default|host`) join HNS network `name`
    /// through `api`; `--network none` steps still get no adapter.
    pub fn with_network(mut self, api: Arc<dyn network::NetworkApi>, name: &str) -> HcsRuntime {
        self.network = Some((api, name.to_string()));
        self
    }

    /// Base layers are written through `files` (default: [`base_files::PlainBaseFiles`]).
    pub fn with_base_files(mut self, files: Arc<dyn base_files::BaseFiles>) -> HcsRuntime {
        self.base_files = files;
        self
    }

    /// Steps stop when `interrupt` is requested (default: a flag nobody sets).
    pub fn with_interrupt(mut self, interrupt: interrupt::Interrupt) -> HcsRuntime {
        self.interrupt = interrupt;
        self
    }

    /// The real runtime on this Windows host (Ctrl-C stops the running step, see
    /// [`interrupt`]). Fails first, with "HCS not available" and what to install, when
    /// vmcompute.dll or computecore.dll cannot be loaded (silo.exe itself never links them).
    #[cfg(any(windows, feature = "check-windows"))]
    pub fn on_host(state_dir: &Path, forced: Option<Isolation>) -> anyhow::Result<HcsRuntime> {
        use anyhow::Context;
        ffi::probe().context("HCS not available")?;
        let host = ffi::host_facts().context("cannot read this host's Windows version")?;
        ffi_files::enable_layer_privileges()?;
        interrupt::install_console_handler()?;
        let api = Arc::new(ffi::HostComputeApi::default());
        Ok(HcsRuntime::new(api, state_dir, host, forced)
            .with_context(|| format!("cannot create {}", state_dir.join("hcs").display()))?
            .with_network(Arc::new(ffi_hcn::HostNetworkApi), network::DEFAULT_NETWORK)
            .with_base_files(Arc::new(ffi_files::Win32BaseFiles))
            .with_interrupt(interrupt::Interrupt::process()))
    }

    /// Prints `message` once per build.
    fn notice(&self, message: String) {
        let mut notices = self.notices.lock().unwrap_or_else(|p| p.into_inner());
        if notices.insert(message.clone()) {
            eprintln!("silo: {message}");
        }
    }

    /// The step's network: its own HNS endpoint in its own namespace on the configured
    /// network (or the one `--network NAME` names), for process-isolated steps that want one.
    fn attach_network(
        &self,
        mode: &NetworkMode,
        isolation: Isolation,
    ) -> anyhow::Result<Option<network::NetworkAttachment>> {
        let Some((api, default_name)) = &self.network else {
            return Ok(None);
        };
        let name = match mode {
            NetworkMode::None => return Ok(None),
            NetworkMode::Host => default_name,
            NetworkMode::Named(name) => name,
        };
        match isolation {
            Isolation::HyperV => {
                self.notice(
                    "Hyper-V isolated RUN steps run without a network adapter (silo does not \
                     hot-add HNS endpoints to the utility VM yet)"
                        .into(),
                );
                Ok(None)
            }
            Isolation::Process => Ok(Some(network::attach(api.clone(), name)?)),
        }
    }

    /// The isolation for a step on an image of `os_version`, printing why once when silo
    /// chose Hyper-V by itself.
    fn isolation_for(&self, os_version: &str) -> anyhow::Result<Isolation> {
        let decision = host::decide_isolation(&self.host, os_version, self.forced)
            .map_err(|reason| anyhow::anyhow!("{reason}"))?;
        if let Some(message) = decision.message {
            self.notice(message);
        }
        Ok(decision.isolation)
    }

    /// The utility VM booted from `base` (the base layer folder), booting it on first use.
    fn utility_vm(&self, base: &Path) -> anyhow::Result<Arc<UtilityVm>> {
        let mut vms = self.utility_vms.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(vm) = vms.get(base) {
            return Ok(vm.clone());
        }
        let folder = self.session.path().join(format!("uvm-{}", vms.len()));
        let id = Guid::derived_from_name("silo-hcs-uvm", &folder.display().to_string()).to_string();
        let vm = Arc::new(UtilityVm::boot(self.api.clone(), id, base, folder)?);
        vms.insert(base.to_path_buf(), vm.clone());
        Ok(vm)
    }

    /// Imports each layer once (base first) and returns the folders nearest-first.
    fn import_layers(&self, spec: &SandboxSpec) -> anyhow::Result<Vec<PathBuf>> {
        let _guard = self.import_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut chain = Sha256::new();
        let mut imported: Vec<PathBuf> = Vec::new(); // base first
        for (index, layer) in spec.layers.iter().enumerate() {
            self.interrupt
                .check(&format!("importing layer {}", layer.diff_id))?;
            chain.update(layer.diff_id.as_bytes());
            chain.update(b"\n");
            let folder = self
                .root
                .join("layers")
                .join(hex::encode(chain.clone().finalize()));
            if !folder.join(IMPORTED_MARKER).exists() {
                if folder.exists() {
                    self.api.destroy_layer(&folder)?;
                    let _ = std::fs::remove_dir_all(&folder);
                }
                let parents: Vec<PathBuf> = imported.iter().rev().cloned().collect();
                let base = index == 0;
                if base {
                    let staged = import::stage_layer(
                        &layer.blob_path,
                        &folder,
                        import::Layout::Base(self.base_files.as_ref()),
                    )?;
                    if let Err(e) = check_diff_id(layer, &staged) {
                        let _ = std::fs::remove_dir_all(&folder);
                        return Err(e);
                    }
                    self.api.process_base_layer(&folder)?;
                    if staged.has_utility_vm {
                        import::save_mutated_files(&folder, &staged.mutated_files)?;
                        self.api.process_utility_vm(&folder.join("UtilityVM"))?;
                    }
                } else {
                    let staging = tempfile::Builder::new()
                        .prefix("import-")
                        .tempdir_in(&self.root)?;
                    // A utility VM the layer changes is written into its folder over a clone
                    // of the nearest parent's, before ImportLayer (hcsshim's order).
                    let utility_vm = import::UtilityVmTarget {
                        layer: &folder,
                        parent: &parents[0],
                        files: self.base_files.as_ref(),
                    };
                    let staged = import::stage_layer(
                        &layer.blob_path,
                        staging.path(),
                        import::Layout::Legacy(Some(utility_vm)),
                    )?;
                    check_diff_id(layer, &staged)?;
                    self.api.import_layer(&folder, staging.path(), &parents)?;
                    // hcsshim's order: deletions, hard links, then the utility VM's processing.
                    import::remove_tombstoned(&folder, &staged.tombstones)
                        .and_then(|()| {
                            import::link_pending(&folder, &parents, &staged.pending_links)
                        })
                        .and_then(|()| {
                            if staged.has_utility_vm {
                                import::save_mutated_files(&folder, &staged.mutated_files)
                            } else {
                                Ok(())
                            }
                        })
                        .map_err(|e| anyhow::anyhow!("importing layer {}: {e}", layer.diff_id))?;
                    if staged.has_utility_vm {
                        self.api.process_utility_vm(&folder.join("UtilityVM"))?;
                    }
                }
                std::fs::write(folder.join(IMPORTED_MARKER), layer.diff_id.as_bytes())?;
            }
            imported.push(folder);
        }
        Ok(imported.into_iter().rev().collect())
    }
}

/// `RUN --mount`s as the container's `MappedDirectories`. Windows containers map directories
/// only (as `docker run -v` on Windows): a file mount (a secret) maps the private directory
/// holding it onto the target's parent, which hides that directory's image contents for the
/// step — fine for `C:\run\secrets`, the default. Two mounts onto one directory are refused.
/// Hyper-V steps would need each host directory as a VSMB share mapped in the guest: refused.
fn mapped_directories(
    mounts: &[crate::runtime::StepMount],
    isolation: Isolation,
) -> anyhow::Result<Vec<schema::MappedDirectory>> {
    if let (Some(mount), Isolation::HyperV) = (mounts.first(), isolation) {
        anyhow::bail!(
            "RUN --mount (target {}): mounts in Hyper-V isolated steps are not supported yet; \
             build with --isolation process on a host that can run this base process-isolated",
            mount.target
        );
    }
    let mut mapped: Vec<schema::MappedDirectory> = Vec::new();
    for mount in mounts {
        let (host_path, container_path) = if mount.source.is_file() {
            let (Some(dir), Some((parent, _))) =
                (mount.source.parent(), mount.target.rsplit_once('\\'))
            else {
                anyhow::bail!("RUN --mount target {}: not a file path", mount.target);
            };
            (dir.to_path_buf(), parent.to_string())
        } else {
            (mount.source.clone(), mount.target.clone())
        };
        let container_path = container_path.trim_end_matches('\\').to_string();
        if container_path.len() <= 2 {
            anyhow::bail!("RUN --mount target {}: cannot map over C:\\", mount.target);
        }
        if mapped
            .iter()
            .any(|m| crate::layer::ntfs_eq(&m.container_path, &container_path))
        {
            anyhow::bail!(
                "RUN --mount target {}: another mount already maps {container_path} (Windows \
                 containers map whole directories; give file mounts their own directory)",
                mount.target
            );
        }
        mapped.push(schema::MappedDirectory {
            host_path: host_path.display().to_string(),
            container_path,
            read_only: mount.read_only,
        });
    }
    Ok(mapped)
}

/// Refuses a layer whose content is not what the image config says (`diff_id`), before
/// Windows turns it into a layer every later build would reuse.
fn check_diff_id(layer: &LayerRef, staged: &import::Staged) -> anyhow::Result<()> {
    if staged.diff_id == layer.diff_id {
        return Ok(());
    }
    anyhow::bail!(
        "layer {}: its uncompressed content is {}, not the diff_id the image config names \
         ({}); the stored image is damaged or mislabelled — pull or build it again",
        layer.blob_path.display(),
        staged.diff_id,
        layer.diff_id
    )
}

/// Undoes what killed builds left: their scratch layers may still be prepared and activated
/// (their compute systems and utility VMs went away with their handles). Best effort: a
/// failure is logged and the next build tries again.
fn reclaim_abandoned_sessions(api: &dyn ComputeApi, sessions: &Path) {
    for dir in session::abandoned(sessions) {
        let scratches = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("scratch-"))
            });
        for scratch in scratches {
            // Each may fail because the step never got that far; only DestroyLayer matters.
            let _ = api.unprepare_layer(&scratch);
            let _ = api.deactivate_layer(&scratch);
            if let Err(e) = api.destroy_layer(&scratch) {
                tracing::warn!("reclaiming {}: {e}", scratch.display());
            }
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => tracing::info!("reclaimed {} (left by a killed build)", dir.display()),
            Err(e) => tracing::warn!("reclaiming {}: {e}", dir.display()),
        }
    }
}

impl Runtime for HcsRuntime {
    fn name(&self) -> &'static str {
        "hcs"
    }

    fn host_target(&self) -> Option<HostTarget> {
        let isolations = match self.forced {
            Some(forced) => vec![forced],
            None => match self.host.default_isolation() {
                Isolation::Process => vec![Isolation::Process, Isolation::HyperV],
                Isolation::HyperV => vec![Isolation::HyperV],
            },
        };
        Some(HostTarget {
            os_version: registry_client::platform::OsVersion {
                major: self.host.major,
                minor: self.host.minor,
                build: self.host.build,
                revision: Some(self.host.ubr),
            },
            isolations,
        })
    }

    fn prepare(&self, spec: &SandboxSpec) -> Result<Box<dyn Sandbox>, RuntimeError> {
        if spec.layers.is_empty() {
            return Err(RuntimeError::Unsupported(
                "RUN needs a base image: the HCS runtime cannot start on no layers".into(),
            ));
        }
        Ok(self.prepare_sandbox(spec)?)
    }
}

impl HcsRuntime {
    /// [`Runtime::prepare`] on at least one layer.
    fn prepare_sandbox(&self, spec: &SandboxSpec) -> anyhow::Result<Box<dyn Sandbox>> {
        let isolation = self.isolation_for(&spec.os_version)?;
        let mapped_directories = mapped_directories(&spec.mounts, isolation)?;
        let parents = self.import_layers(spec)?;
        let network = self.attach_network(&spec.network, isolation)?;
        let isolation = match isolation {
            Isolation::Process => Isolated::Process,
            Isolation::HyperV => {
                // The uppermost layer with a utility VM boots (hcsshim's
                // `uvmfolder.LocateUVMFolder`); a layer that changes it holds a whole one.
                let with_vm = parents
                    .iter()
                    .find(|folder| folder.join("UtilityVM").is_dir())
                    .unwrap_or_else(|| parents.last().expect("at least one layer was imported"));
                Isolated::HyperV(self.utility_vm(with_vm)?)
            }
        };
        let step = self.next_step.fetch_add(1, Ordering::Relaxed);
        let scratch = self.session.path().join(format!("scratch-{step}"));
        let export_dir = self
            .session
            .path()
            .join("exports")
            .join(format!("step-{step}"));
        let id = sandbox::system_id(&scratch);
        let sandbox = HcsSandbox::prepare(SandboxParts {
            api: self.api.clone(),
            parents,
            scratch,
            export_dir,
            id,
            network,
            isolation,
            interrupt: self.interrupt.clone(),
            mapped_directories,
        })?;
        Ok(Box::new(sandbox))
    }
}

#[cfg(test)]
mod build_tests;
#[cfg(test)]
mod hyperv_tests;
#[cfg(test)]
mod tests;
