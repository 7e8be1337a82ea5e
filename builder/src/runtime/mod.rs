//! The `Runtime` seam: a runtime prepares a sandbox (a *silo*) on an image's layers, runs one
//! step's process in it and commits what changed as a [`ChangeSet`]. Nothing outside this module
//! knows about namespaces, Wine or HCS.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::layer::ChangeSet;

pub mod hcs;
pub mod none;
pub mod winargv;
#[cfg(target_os = "linux")]
pub mod wine;

/// One image layer as a runtime needs it: its identity and where its bytes can be had.
#[derive(Debug, Clone)]
pub struct LayerRef {
    /// `sha256:…` of the uncompressed tar.
    pub diff_id: String,
    /// The layer tar (compressed or not) on local disk.
    pub blob_path: PathBuf,
}

/// What the step's process should be.
#[derive(Debug, Clone, Default)]
pub struct ProcessSpec {
    /// Exec form: argv. Shell form is turned into argv by the build engine (`cmd /S /C …`), but
    /// `command_line` keeps the single Windows command-line string that Windows would receive.
    pub args: Vec<String>,
    /// The Windows command line (shell form is passed as one string, never re-quoted).
    pub command_line: Option<String>,
    pub env: BTreeMap<String, String>,
    /// Windows working directory, e.g. `C:\app`.
    pub working_dir: String,
    /// `ContainerAdministrator`, `ContainerUser` or another account name.
    pub user: String,
    pub timeout: Option<Duration>,
}

/// Network for the step.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// The default network: the host's (Wine), HNS `nat` (HCS), as `docker build` gives.
    #[default]
    Host,
    None,
    /// A network by name (`--network NAME`): an HNS network on Windows, as `docker build
    /// --network` takes one; a runtime without named networks refuses it.
    Named(String),
}

/// What a sandbox is made from.
#[derive(Debug, Clone, Default)]
pub struct SandboxSpec {
    /// The image's layers, base first.
    pub layers: Vec<LayerRef>,
    pub network: NetworkMode,
    /// The base image's `os.version` (empty when it has none): the HCS runtime decides
    /// process or Hyper-V isolation from it.
    pub os_version: String,
    /// `RUN --mount`s, resolved by the build engine to host paths.
    pub mounts: Vec<StepMount>,
}

/// A host directory or file a RUN step sees at `target` (`RUN --mount`). What the step writes
/// there goes to `source` (or is refused when `read_only`), never into the step's layer; a
/// mount point the runtime had to create for it is not committed either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepMount {
    /// An existing host directory or regular file.
    pub source: PathBuf,
    /// Absolute Windows path on drive C: (`C:\src`, `C:\run\secrets\token`).
    pub target: String,
    pub read_only: bool,
}

/// How the step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    pub code: i32,
}

/// Why a runtime could not prepare a sandbox, run a step's process, commit what it changed or
/// handle its setup artifact. A runtime's own failure keeps its chain of causes as the source;
/// `{:#}` shows the whole chain, as the build's messages do.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A process was asked of `--runtime none` (or of `auto` that found no runtime).
    #[error(transparent)]
    NoRuntime(#[from] none::RunNotSupported),
    /// The step asks for something this runtime does not offer (e.g. a named network under
    /// Wine, a sandbox with no layers under HCS).
    #[error("{0}")]
    Unsupported(String),
    /// The runtime failed; its message and causes.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Where the step's output goes (stdout and stderr lines, already prefixed or not).
pub trait OutputSink: Send {
    fn stdout(&mut self, bytes: &[u8]);
    fn stderr(&mut self, bytes: &[u8]);
}

pub trait Sandbox {
    /// Runs one process to completion in the sandbox.
    fn run(
        &mut self,
        process: &ProcessSpec,
        output: &mut dyn OutputSink,
    ) -> Result<ExitStatus, RuntimeError>;
    /// Snapshots what the processes changed. Consumes the sandbox; its resources are released.
    /// Files the ChangeSet refers to (`FileSource::Path`) stay readable until the runtime that
    /// made the sandbox is dropped.
    fn commit(self: Box<Self>) -> Result<ChangeSet, RuntimeError>;
}

/// A sandbox whose runtime reports failures as `anyhow` chains (Wine, HCS: many system calls,
/// each with its own context). It is a [`Sandbox`] whose errors are those chains, kept whole as
/// [`RuntimeError::Failed`]'s source.
pub(crate) trait ChainedSandbox {
    /// [`Sandbox::run`].
    fn run_process(
        &mut self,
        process: &ProcessSpec,
        output: &mut dyn OutputSink,
    ) -> anyhow::Result<ExitStatus>;
    /// [`Sandbox::commit`].
    fn commit_changes(self: Box<Self>) -> anyhow::Result<ChangeSet>;
}

impl<T: ChainedSandbox> Sandbox for T {
    fn run(
        &mut self,
        process: &ProcessSpec,
        output: &mut dyn OutputSink,
    ) -> Result<ExitStatus, RuntimeError> {
        Ok(self.run_process(process, output)?)
    }

    fn commit(self: Box<Self>) -> Result<ChangeSet, RuntimeError> {
        Ok(self.commit_changes()?)
    }
}

/// The Windows host a runtime runs RUN steps on, for picking a base image from a
/// multi-platform index the way Docker on that host would (the registry client's os.version
/// compatibility rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTarget {
    pub os_version: registry_client::platform::OsVersion,
    /// Isolations in order of preference: `--isolation` alone when forced; otherwise the SKU
    /// default, then Hyper-V as the fallback for images process isolation cannot run.
    pub isolations: Vec<registry_client::platform::Isolation>,
}

pub trait Runtime {
    /// The runtime's name as `--runtime` spells it.
    fn name(&self) -> &'static str;
    /// The Windows host steps run on, when the runtime runs them on this host's kernel or
    /// hypervisor (HCS); `None` when the base image's build does not matter (Wine, none).
    fn host_target(&self) -> Option<HostTarget> {
        None
    }
    fn prepare(&self, spec: &SandboxSpec) -> Result<Box<dyn Sandbox>, RuntimeError>;
    /// Whether this runtime can run a RUN step's Windows command line, decided without running
    /// anything (the build asks before a stage's first step, so a step the runtime would refuse
    /// fails the build before any effect). `Err` is the reason.
    fn check_step(&self, _command_line: &str) -> Result<(), String> {
        Ok(())
    }
    /// The host setup this runtime makes once per state dir and a build cache can carry (the
    /// Wine system layer), when it has one.
    fn setup_artifact(&self) -> Option<&dyn SetupArtifact> {
        None
    }
}

/// Host setup a runtime makes once per state dir and that a build cache can carry between
/// machines as one content-addressed blob, so a fresh machine need not make it (the Wine system
/// layer: docs/wine.md, "The system layer from a build cache").
pub trait SetupArtifact {
    /// What the blob is (a registry cache lists it with this media type).
    fn media_type(&self) -> &'static str;
    /// Everything the setup depends on, as one key: equal keys mean interchangeable setups.
    /// `Err` when the runtime cannot run on this host.
    fn key(&self) -> Result<String, RuntimeError>;
    /// Whether the setup is made in this state dir.
    fn is_made(&self) -> Result<bool, RuntimeError>;
    /// Writes the setup made in this state dir to `out`.
    fn pack(&self, out: &mut dyn std::io::Write) -> Result<(), RuntimeError>;
    /// Makes the setup from `blob`, refusing it (and leaving nothing behind) unless its sha256 is
    /// `digest` and it unpacks safely.
    fn install(&self, blob: &std::path::Path, digest: &str) -> Result<(), RuntimeError>;
}
