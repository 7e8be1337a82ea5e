//! One RUN step's silo on HCS: a scratch layer on the image's imported layers, mounted on the
//! host (process isolation) or in a utility VM (Hyper-V isolation), a compute system on it, the
//! step's process, then export → [`ChangeSet`]. Whatever was set up is torn down in reverse
//! order on every path — success, error, timeout or drop.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::api::{ApiResult, ComputeApi, ProcessHandle, SystemHandle, WaitOutcome};
use super::export::read_export_folder;
use super::guid::Guid;
use super::interrupt::Interrupt;
use super::network::NetworkAttachment;
use super::schema;
use super::uvm::{GuestScratch, UtilityVm};
use crate::layer::ChangeSet;
use crate::runtime::{ChainedSandbox, ExitStatus, OutputSink, ProcessSpec};

/// Where the step's container runs.
pub enum Isolated {
    /// On the host's kernel (Argon): the scratch is mounted on the host.
    Process,
    /// In this utility VM (Xenon): layers are VSMB shares, the scratch a SCSI disk in the guest.
    HyperV(Arc<UtilityVm>),
}

/// What the sandbox needs from the runtime.
pub struct SandboxParts {
    pub api: Arc<dyn ComputeApi>,
    /// Imported read-only layers, nearest parent first, base last.
    pub parents: Vec<PathBuf>,
    /// Where this step's scratch layer goes (must not exist yet).
    pub scratch: PathBuf,
    /// Where the commit exports to (kept until the runtime is dropped: the ChangeSet's files
    /// live there).
    pub export_dir: PathBuf,
    /// The compute system's ID.
    pub id: String,
    /// The step's HNS endpoint and namespace; detached after the compute system is gone.
    pub network: Option<NetworkAttachment>,
    pub isolation: Isolated,
    /// Ctrl-C: the step's compute system is terminated and nothing is committed.
    pub interrupt: Interrupt,
    /// `RUN --mount`s (process isolation).
    pub mapped_directories: Vec<schema::MappedDirectory>,
}

/// How long one wait for the step's process lasts before the interrupt flag is looked at.
const WAIT_SLICE: Duration = Duration::from_millis(200);

/// How waiting for the step's process ended.
enum Waited {
    Exited,
    TimedOut,
    Interrupted,
}

/// Waits for `process` until it exits, `timeout` passes or `interrupt` is requested, in
/// slices so a request is seen within [`WAIT_SLICE`].
fn wait_for_exit(
    api: &dyn ComputeApi,
    process: ProcessHandle,
    timeout: Option<Duration>,
    interrupt: &Interrupt,
) -> ApiResult<Waited> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let slice = match deadline {
            Some(deadline) => deadline
                .saturating_duration_since(Instant::now())
                .min(WAIT_SLICE),
            None => WAIT_SLICE,
        };
        if api.wait_process(process, Some(slice))? == WaitOutcome::Exited {
            return Ok(Waited::Exited);
        }
        if interrupt.requested() {
            return Ok(Waited::Interrupted);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Waited::TimedOut);
        }
    }
}

/// Which steps of the set-up have happened (so teardown undoes exactly those).
#[derive(Debug, Default)]
struct Progress {
    scratch_created: bool,
    activated: bool,
    prepared: bool,
    /// The scratch attached to the utility VM, and whether the layers are combined on it.
    in_guest: Option<GuestScratch>,
    combined: bool,
    system: Option<SystemHandle>,
    process: Option<ProcessHandle>,
}

pub struct HcsSandbox {
    parts: SandboxParts,
    document: String,
    progress: Progress,
}

impl HcsSandbox {
    /// Creates the scratch layer, mounts it where the container will run, and builds the
    /// compute-system document. On failure, what was set up is torn down by `Drop`.
    pub fn prepare(parts: SandboxParts) -> anyhow::Result<HcsSandbox> {
        let mut sandbox = HcsSandbox {
            parts,
            document: String::new(),
            progress: Progress::default(),
        };
        let api = sandbox.parts.api.clone();
        let (scratch, parents) = (sandbox.parts.scratch.clone(), sandbox.parts.parents.clone());
        // Marked before the call: a half-created scratch folder is destroyed too.
        sandbox.progress.scratch_created = true;
        api.create_scratch_layer(&scratch, &parents)?;
        let mut layers = Vec::new();
        for parent in &parents {
            layers.push(schema::HostLayer {
                id: api.name_to_guid(&folder_name(parent))?.to_string(),
                path: parent.display().to_string(),
            });
        }
        let mut inputs = schema::ContainerInputs {
            owner: "silo".into(),
            host_name: "silo".into(),
            layers,
            scratch_volume: String::new(),
            network_namespace: sandbox
                .parts
                .network
                .as_ref()
                .map(|n| n.namespace_id.to_string()),
            mapped_directories: sandbox.parts.mapped_directories.clone(),
        };
        let document = match &sandbox.parts.isolation {
            Isolated::Process => {
                api.activate_layer(&scratch)?;
                sandbox.progress.activated = true;
                api.prepare_layer(&scratch, &parents)?;
                sandbox.progress.prepared = true;
                let mut volume = api.layer_mount_path(&scratch)?;
                // Storage.Path must end in a backslash; GetLayerMountPath's answer does not
                // always.
                if !volume.ends_with('\\') {
                    volume.push('\\');
                }
                inputs.scratch_volume = volume;
                schema::process_isolated(&inputs)
            }
            Isolated::HyperV(uvm) => {
                let uvm = uvm.clone();
                uvm.share_layers(&inputs.layers)?;
                let in_guest = uvm.attach_scratch(&scratch.join("sandbox.vhdx"))?;
                sandbox.progress.in_guest = Some(in_guest.clone());
                uvm.combine_layers(&in_guest, &inputs.layers)?;
                sandbox.progress.combined = true;
                inputs.scratch_volume = in_guest.path;
                schema::hosted_in_utility_vm(&inputs, uvm.id())
            }
        };
        sandbox.document = serde_json::to_string(&document)?;
        Ok(sandbox)
    }

    /// Creates and starts the compute system on first use.
    fn system(&mut self) -> anyhow::Result<SystemHandle> {
        if let Some(system) = self.progress.system {
            return Ok(system);
        }
        let api = self.parts.api.clone();
        let system = api.create_compute_system(&self.parts.id, &self.document)?;
        self.progress.system = Some(system);
        api.start_compute_system(system)?;
        Ok(system)
    }

    /// Stops the compute system (terminate: a build step's container has nothing to save).
    fn stop_system(&mut self) -> anyhow::Result<()> {
        let api = self.parts.api.clone();
        if let Some(process) = self.progress.process.take() {
            api.close_process(process);
        }
        if let Some(system) = self.progress.system.take() {
            let terminated = api.terminate_compute_system(system);
            api.close_compute_system(system);
            match terminated {
                Err(e)
                    if e.code != super::hresult::COMPUTE_SYSTEM_DOES_NOT_EXIST
                        && e.code != super::hresult::COMPUTE_SYSTEM_ALREADY_STOPPED =>
                {
                    return Err(e.into())
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Removes the step's endpoint and namespace (once the compute system no longer uses them).
    fn detach_network(&mut self) -> anyhow::Result<()> {
        match self.parts.network.take() {
            Some(network) => Ok(network.detach()?),
            None => Ok(()),
        }
    }

    /// Takes the scratch back from wherever the container used it, so the host can export it:
    /// filter off the host mount, or layers uncombined and the disk detached from the VM.
    fn release_scratch(&mut self) -> anyhow::Result<()> {
        let api = self.parts.api.clone();
        if self.progress.prepared {
            self.progress.prepared = false;
            api.unprepare_layer(&self.parts.scratch)?;
        }
        if let Isolated::HyperV(uvm) = &self.parts.isolation {
            if let Some(in_guest) = self.progress.in_guest.clone() {
                if self.progress.combined {
                    self.progress.combined = false;
                    uvm.uncombine_layers(&in_guest)?;
                }
                self.progress.in_guest = None;
                uvm.detach_scratch(&in_guest)?;
            }
        }
        Ok(())
    }

    /// Undoes whatever set-up is left; errors are logged (teardown must go on).
    fn teardown(&mut self) {
        for result in [
            self.stop_system(),
            self.detach_network(),
            self.release_scratch(),
        ] {
            if let Err(e) = result {
                tracing::warn!("HCS teardown: {e}");
            }
        }
        let api = self.parts.api.clone();
        let scratch = self.parts.scratch.clone();
        let steps: [(bool, &dyn Fn() -> super::api::ApiResult<()>); 2] = [
            (self.progress.activated, &|| api.deactivate_layer(&scratch)),
            (self.progress.scratch_created, &|| {
                api.destroy_layer(&scratch)
            }),
        ];
        for (done, undo) in steps {
            if done {
                if let Err(e) = undo() {
                    tracing::warn!("HCS teardown: {e}");
                }
            }
        }
        self.progress = Progress::default();
    }
}

fn folder_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The compute-system ID for one step: derived from the scratch folder, so a crashed build's
/// system can be found again.
pub fn system_id(scratch: &Path) -> String {
    Guid::derived_from_name("silo-hcs-step", &scratch.display().to_string()).to_string()
}

enum Relay {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// The wait ended (the process exited, or it was terminated): the pipes get
    /// [`COPY_AFTER_EXIT`] more.
    WaitEnded,
}

/// How long output is still relayed after the step's process has exited. HCS does not always
/// close a process's pipes when it exits (and a background process the step started can hold
/// them), so hcsshim stops copying one second after the exit (`CopyAfterExitTimeout` in
/// internal/cmd/cmd.go and cmd/containerd-shim-runhcs-v1/exec_hcs.go); so does silo.
pub(super) const COPY_AFTER_EXIT: Duration = Duration::from_secs(1);

/// Relays chunks from the pipe readers to `output` until every reader is done or
/// [`COPY_AFTER_EXIT`] after the wait ended; says so when output was cut off.
fn relay(rx: mpsc::Receiver<Relay>, output: &mut dyn OutputSink) {
    let mut cutoff: Option<Instant> = None;
    loop {
        let message = match cutoff {
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
        };
        match message {
            Ok(Relay::Stdout(b)) => output.stdout(&b),
            Ok(Relay::Stderr(b)) => output.stderr(&b),
            Ok(Relay::WaitEnded) => cutoff = Some(Instant::now() + COPY_AFTER_EXIT),
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                eprintln!(
                    "silo: the RUN step's output pipes were still open {COPY_AFTER_EXIT:?} after \
                     its process ended (HCS did not close them, or a background process holds \
                     them); later output is not shown"
                );
                return;
            }
        }
    }
}

impl ChainedSandbox for HcsSandbox {
    fn run_process(
        &mut self,
        process: &ProcessSpec,
        output: &mut dyn OutputSink,
    ) -> anyhow::Result<ExitStatus> {
        let system = self.system()?;
        let api = self.parts.api.clone();
        let parameters = serde_json::to_string(&schema::process_parameters(process))?;
        let (handle, pipes) = api.create_process(system, &parameters)?;
        self.progress.process = Some(handle);
        // Both pipes are drained while the process runs (a full pipe would block it); chunks
        // reach the sink on this thread, in arrival order. The readers are not scoped: a pipe
        // HCS never closes must not hold the step (see `COPY_AFTER_EXIT`); such a reader ends
        // when the compute system is torn down.
        let (tx, rx) = mpsc::channel::<Relay>();
        for (pipe, is_stdout) in [(pipes.stdout, true), (pipes.stderr, false)] {
            let Some(mut pipe) = pipe else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let chunk = buf[..n].to_vec();
                    let msg = if is_stdout {
                        Relay::Stdout(chunk)
                    } else {
                        Relay::Stderr(chunk)
                    };
                    if tx.send(msg).is_err() {
                        break;
                    }
                }
            });
        }
        let outcome = std::thread::scope(|scope| {
            let (api, interrupt) = (&api, &self.parts.interrupt);
            let waiter = scope.spawn(move || {
                let waited = wait_for_exit(api.as_ref(), handle, process.timeout, interrupt);
                if !matches!(waited, Ok(Waited::Exited)) {
                    // The process still holds its pipes open: end it now (stop_system then
                    // finds it stopped).
                    let _ = api.terminate_compute_system(system);
                }
                let _ = tx.send(Relay::WaitEnded);
                waited
            });
            relay(rx, output);
            waiter.join().expect("the wait thread does not panic")
        });
        match outcome? {
            Waited::Exited => {
                let code = api.process_exit_code(handle)?;
                if let Some(p) = self.progress.process.take() {
                    api.close_process(p);
                }
                Ok(ExitStatus { code })
            }
            Waited::TimedOut => {
                self.stop_system()?;
                anyhow::bail!(
                    "the RUN step did not finish within its timeout ({:?}); its compute system \
                     was terminated",
                    process.timeout.unwrap_or_default()
                )
            }
            Waited::Interrupted => {
                self.stop_system()?;
                Err(Interrupt::stopped(
                    "the RUN step ran: its compute system was terminated",
                ))
            }
        }
    }

    /// [`Sandbox::commit`].
    fn commit_changes(mut self: Box<Self>) -> anyhow::Result<ChangeSet> {
        self.stop_system()?;
        self.detach_network()?;
        self.release_scratch()?;
        let api = self.parts.api.clone();
        let scratch = self.parts.scratch.clone();
        // Export reads an activated (attached) scratch; a Hyper-V step's scratch was only ever
        // attached to the utility VM.
        if !self.progress.activated {
            api.activate_layer(&scratch)?;
            self.progress.activated = true;
        }
        api.export_layer(&scratch, &self.parts.export_dir, &self.parts.parents)?;
        let changes = read_export_folder(&self.parts.export_dir)?;
        self.teardown();
        Ok(changes)
    }
}

impl Drop for HcsSandbox {
    fn drop(&mut self) {
        self.teardown();
    }
}
