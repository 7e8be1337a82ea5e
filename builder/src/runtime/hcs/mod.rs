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

pub mod api;
pub mod backup;
pub mod export;
#[cfg(any(windows, feature = "check-windows"))]
pub mod ffi;
pub mod guid;
pub mod host;
pub mod hresult;
pub mod import;
pub mod sandbox;
pub mod schema;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use self::api::ComputeApi;
use self::sandbox::{HcsSandbox, SandboxParts};
use super::{NetworkMode, Runtime, Sandbox, SandboxSpec};
use crate::build::runtimes::Isolation;

/// Marker written into a layer folder once its import finished (a half-imported folder from
/// a crash is destroyed and imported again).
const IMPORTED_MARKER: &str = "silo-imported";

/// The HCS runtime: layer folders under `<state>/hcs/layers/<chain id>` (imported once and
/// reused by every build), scratch layers under `<state>/hcs/scratch/`, exports in a temp dir
/// that lives as long as the runtime (ChangeSets point into it).
pub struct HcsRuntime {
    api: Arc<dyn ComputeApi>,
    root: PathBuf,
    isolation: Isolation,
    exports: tempfile::TempDir,
    next_step: AtomicU64,
    /// Serialises imports: two steps must not import the same layer at once.
    import_lock: Mutex<()>,
}

impl HcsRuntime {
    pub fn new(
        api: Arc<dyn ComputeApi>,
        state_dir: &Path,
        isolation: Isolation,
    ) -> std::io::Result<HcsRuntime> {
        let root = state_dir.join("hcs");
        std::fs::create_dir_all(root.join("layers"))?;
        std::fs::create_dir_all(root.join("scratch"))?;
        Ok(HcsRuntime {
            api,
            exports: tempfile::Builder::new()
                .prefix("exports-")
                .tempdir_in(&root)?,
            root,
            isolation,
            next_step: AtomicU64::new(0),
            import_lock: Mutex::new(()),
        })
    }

    /// The real runtime on this Windows host.
    #[cfg(any(windows, feature = "check-windows"))]
    pub fn on_host(state_dir: &Path, isolation: Isolation) -> std::io::Result<HcsRuntime> {
        HcsRuntime::new(Arc::new(ffi::HostComputeApi), state_dir, isolation)
    }

    /// Imports each layer once (base first) and returns the folders nearest-first.
    fn import_layers(&self, spec: &SandboxSpec) -> anyhow::Result<Vec<PathBuf>> {
        let _guard = self.import_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut chain = Sha256::new();
        let mut imported: Vec<PathBuf> = Vec::new(); // base first
        for (index, layer) in spec.layers.iter().enumerate() {
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
                    let staged = import::stage_layer(&layer.blob_path, &folder, true)?;
                    self.api.process_base_layer(&folder)?;
                    if staged.has_utility_vm {
                        self.api.process_utility_vm(&folder.join("UtilityVM"))?;
                    }
                } else {
                    let staging = tempfile::Builder::new()
                        .prefix("import-")
                        .tempdir_in(&self.root)?;
                    import::stage_layer(&layer.blob_path, staging.path(), false)?;
                    self.api.import_layer(&folder, staging.path(), &parents)?;
                }
                std::fs::write(folder.join(IMPORTED_MARKER), layer.diff_id.as_bytes())?;
            }
            imported.push(folder);
        }
        Ok(imported.into_iter().rev().collect())
    }
}

impl Runtime for HcsRuntime {
    fn name(&self) -> &'static str {
        "hcs"
    }

    fn prepare(&self, spec: &SandboxSpec) -> anyhow::Result<Box<dyn Sandbox>> {
        if self.isolation == Isolation::HyperV {
            anyhow::bail!(
                "--isolation hyperv: silo builds the utility-VM documents but does not run the \
                 Hyper-V sequence yet; use --isolation process on a host whose build matches \
                 the base image"
            );
        }
        if spec.layers.is_empty() {
            anyhow::bail!("RUN needs a base image: the HCS runtime cannot start on no layers");
        }
        let parents = self.import_layers(spec)?;
        let step = self.next_step.fetch_add(1, Ordering::Relaxed);
        let scratch = self
            .root
            .join("scratch")
            .join(format!("{}-{step}", std::process::id()));
        let export_dir = self.exports.path().join(format!("step-{step}"));
        let id = sandbox::system_id(&scratch);
        let sandbox = HcsSandbox::prepare(SandboxParts {
            api: self.api.clone(),
            parents,
            scratch,
            export_dir,
            id,
            // `--network none` gets no namespace; host networking needs an HNS endpoint,
            // which silo does not create yet, so both run without a network adapter.
            network_namespace: match spec.network {
                NetworkMode::Host | NetworkMode::None => None,
            },
        })?;
        Ok(Box::new(sandbox))
    }
}

#[cfg(test)]
mod tests;
