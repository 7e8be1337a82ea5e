//! The Wine silo runtime for Linux hosts: each step runs in a *silo* — new mount, pid, ipc and
//! uts namespaces (and net with `--network none`) whose root filesystem for `C:` is an overlay
//! of the image's layers over the Wine system layer — and what it changed (files and registry)
//! is committed as a [`ChangeSet`].
//!
//! Modules:
//! - [`preflight`]: Wine binaries, root, overlayfs, kernel — checked up front.
//! - [`system_layer`]: the `wineboot -i` prefix made once per Wine version.
//! - [`system_artifact`]: the system layer as a blob a build cache carries between machines.
//! - [`layers`]: image layers unpacked once per diff_id as overlay lower dirs.
//! - [`registry`]: image hives ⊕ Wine's registry → the silo's `.reg` files, and back to deltas.
//! - [`overrides`]: what the silo's SYSTEM shows instead of the image's (services, host values).
//! - [`process`]: ProcessSpec → command line, environment, working directory.
//! - [`pwsh`]: PowerShell steps, run by silo's own engine inside the silo.
//! - [`launcher`]: `silo-launch.exe`, which starts a process with an exact command line.
//! - [`pe`]: the assembler and PE32+ writer for the Windows programs silo generates.
//! - [`stubs`]: what Wine only pretends to do, and the up-front refusal of such commands.
//! - [`tools`]: silo's own programs in the silo (`setx.exe`, stand-ins for refused stubs).
//! - [`silo`]: the namespaces, the init, output streaming, timeout.
//! - [`mounts`]: `RUN --mount` targets under `drive_c`, and the mount points they leave.
//! - [`links`]: `mklink` made real by silo's engine, and the link journal the commit reads.
//! - [`commit`]: the overlay's upper dir → ChangeSet.
//! - [`fixme`]: Wine's fixme lines in the step's output, and the program stubs they reveal.
//!
//! On disk (`<state>/wine/`): `system/<wine version>/prefix` (system layer), `tools/<hash>/`
//! (the tools layer), `layers/<hex>/` (unpacked layers), `sandboxes/<pid>-<runtime>-<n>/` (one per prepared sandbox: `upper/`,
//! `work/`, `prefix/` with the registry files and the `drive_c` mount point, `home/`, `l/<i>`
//! short links to the lower dirs, `silo-launch.exe`, `wineserver` wrapper, `exit-code` (the
//! step's full 32-bit exit code, written by the launcher)). A dropped sandbox's
//! dir is removed; a committed one moves to `committed/` (its ChangeSet streams files from
//! there) until its [`WineRuntime`] is dropped. Left-overs of dead processes go on the next
//! `prepare`.

pub mod commit;
pub mod fixme;
pub mod launcher;
pub mod layers;
pub mod links;
pub mod mounts;
pub mod overrides;
pub mod pe;
pub mod preflight;
pub mod process;
pub mod pwsh;
pub mod registry;
pub mod silo;
pub mod stubs;
pub mod system_artifact;
pub mod system_layer;
pub mod tools;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;

use crate::layer::ChangeSet;
use crate::runtime::{
    ChainedSandbox, ExitStatus, OutputSink, ProcessSpec, Runtime, RuntimeError, Sandbox,
    SandboxSpec,
};

use preflight::WineInstall;
use system_layer::SystemLayer;

/// The `wine` runtime. Cheap to create; Wine is located and the host checked on first use.
pub struct WineRuntime {
    state_dir: PathBuf,
    /// Distinguishes this runtime's sandboxes from other runtimes' in the same process.
    id: u64,
    setup: OnceLock<Result<(WineInstall, SystemLayer), String>>,
}

impl WineRuntime {
    /// A runtime keeping its system layer, unpacked layers and sandboxes under `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>) -> WineRuntime {
        WineRuntime {
            state_dir: state_dir.into(),
            id: RUNTIME_COUNTER.fetch_add(1, Ordering::Relaxed),
            setup: OnceLock::new(),
        }
    }

    /// Whether this host can run the Wine silo (for `--runtime auto`).
    pub fn available() -> bool {
        preflight::find_wine().is_ok() && preflight::check_host().is_ok()
    }

    /// Checks the preconditions and makes the Wine system layer if needed.
    pub fn ensure_ready(&self) -> anyhow::Result<(&WineInstall, &SystemLayer)> {
        let r = self.setup.get_or_init(|| {
            let wine = preflight::find_wine().map_err(|e| e.to_string())?;
            preflight::check_host().map_err(|e| e.to_string())?;
            let layer = system_layer::ensure(&self.state_dir, &wine).map_err(|e| e.to_string())?;
            Ok((wine, layer))
        });
        match r {
            Ok((w, l)) => Ok((w, l)),
            Err(e) => Err(anyhow::anyhow!("{e}")),
        }
    }
}

/// The Wine system layer as a build cache artifact (`system_artifact`).
impl crate::runtime::SetupArtifact for WineRuntime {
    fn media_type(&self) -> &'static str {
        system_artifact::MEDIA_TYPE
    }

    fn key(&self) -> Result<String, RuntimeError> {
        let wine = preflight::find_wine().map_err(anyhow::Error::new)?;
        Ok(system_artifact::key(&wine)
            .context("reading Wine's install for the system layer key")?)
    }

    fn is_made(&self) -> Result<bool, RuntimeError> {
        let wine = preflight::find_wine().map_err(anyhow::Error::new)?;
        Ok(system_layer::existing(&self.state_dir, &wine).is_some())
    }

    fn pack(&self, out: &mut dyn std::io::Write) -> Result<(), RuntimeError> {
        let wine = preflight::find_wine().map_err(anyhow::Error::new)?;
        let layer = system_layer::existing(&self.state_dir, &wine)
            .context("this state dir has no Wine system layer to export")?;
        Ok(system_artifact::pack(&layer, &wine, out).context("packing the Wine system layer")?)
    }

    fn install(&self, blob: &Path, digest: &str) -> Result<(), RuntimeError> {
        let wine = preflight::find_wine().map_err(anyhow::Error::new)?;
        system_artifact::install(&self.state_dir, &wine, blob, digest)
            .map_err(anyhow::Error::new)?;
        Ok(())
    }
}

static SANDBOX_COUNTER: AtomicU64 = AtomicU64::new(0);
static RUNTIME_COUNTER: AtomicU64 = AtomicU64::new(0);

impl WineRuntime {
    fn sandboxes_dir(&self) -> PathBuf {
        self.state_dir.join("wine").join("sandboxes")
    }
    fn committed_dir(&self) -> PathBuf {
        self.state_dir.join("wine").join("committed")
    }
}

impl Drop for WineRuntime {
    /// Releases the committed sandboxes whose files this runtime's ChangeSets referred to.
    fn drop(&mut self) {
        let mine = format!("{}-{}-", std::process::id(), self.id);
        if let Ok(rd) = std::fs::read_dir(self.committed_dir()) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(&mine) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
}

/// Removes sandboxes left by processes that no longer exist (killed builds).
fn remove_stale_sandboxes(root: &Path) {
    let Ok(rd) = std::fs::read_dir(root) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks for existence.
        #[allow(unsafe_code)] // a process's existence has no std API.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl Runtime for WineRuntime {
    fn name(&self) -> &'static str {
        "wine"
    }

    fn setup_artifact(&self) -> Option<&dyn crate::runtime::SetupArtifact> {
        Some(self)
    }

    fn check_step(&self, command_line: &str) -> Result<(), String> {
        match pwsh::verdict(command_line) {
            pwsh::Verdict::Refused {
                powershell: true,
                reason,
            } => Err(reason),
            // A cmd step's refusal in full (the program, the reason, nothing was run).
            _ => route_step(&[], command_line)
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }

    fn prepare(&self, spec: &SandboxSpec) -> Result<Box<dyn Sandbox>, RuntimeError> {
        if let crate::runtime::NetworkMode::Named(name) = &spec.network {
            return Err(RuntimeError::Unsupported(format!(
                "--network {name:?}: the Wine runtime has the host's network (default, host) and \
                 none; named networks are HNS networks of the HCS runtime on Windows"
            )));
        }
        Ok(self.prepare_sandbox(spec)?)
    }
}

impl WineRuntime {
    /// [`Runtime::prepare`] once the request is one Wine can serve.
    fn prepare_sandbox(&self, spec: &SandboxSpec) -> anyhow::Result<Box<dyn Sandbox>> {
        let (wine, system) = self.ensure_ready()?;
        let root = self.sandboxes_dir();
        let committed = self.committed_dir();
        for dir in [&root, &committed] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            remove_stale_sandboxes(dir);
        }
        let mut image_lowers = Vec::new();
        let mut layer_dirs = Vec::new();
        for layer in &spec.layers {
            let dir = layers::unpacked_layer(&self.state_dir, layer)?;
            layer_dirs.push(dir.clone());
            image_lowers.push(dir.join("Files"));
        }
        image_lowers.reverse(); // highest priority first
                                // Identical layers (two steps that changed nothing have the same diff_id) share one
                                // unpacked dir, and overlayfs refuses a dir twice (ELOOP). The higher copy already
                                // decides every path the lower one could, so the lower one goes.
        let mut seen = std::collections::HashSet::new();
        image_lowers.retain(|dir| seen.insert(dir.clone()));
        let id = format!(
            "{}-{}-{}",
            std::process::id(),
            self.id,
            SANDBOX_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = root.join(&id);
        let tools = tools::ensure(&self.state_dir).context("making silo's tools layer")?;
        let mut sandbox = WineSandbox::create(
            dir,
            wine.clone(),
            system,
            tools,
            image_lowers,
            &layer_dirs,
            spec,
        )?;
        sandbox.committed_dir = committed.join(&id);
        Ok(Box::new(sandbox))
    }
}

/// One prepared silo: its scratch (upper dir), prefix and materialized registry.
pub struct WineSandbox {
    dir: PathBuf,
    wine: WineInstall,
    /// Lower dirs, highest priority first (image layers, silo's tools layer, the Wine system
    /// layer).
    lowers: Vec<PathBuf>,
    /// The image layers' `Files/` only.
    image_lowers: Vec<PathBuf>,
    network: crate::runtime::NetworkMode,
    /// `RUN --mount`s.
    mounts: Vec<crate::runtime::StepMount>,
    registry: Arc<registry::Materialized>,
    hostname: String,
    /// Where the sandbox moves on commit.
    committed_dir: PathBuf,
    /// The step's USER as a SID: the owner of what the step creates.
    owner: crate::layer::sd::Sid,
    /// The CPU Wine starts on, and the CPUs the step gets back (`silo::StartupPin`).
    startup_pin: Option<silo::StartupPin>,
}

impl WineSandbox {
    fn create(
        dir: PathBuf,
        wine: WineInstall,
        system: &SystemLayer,
        tools: PathBuf,
        image_lowers: Vec<PathBuf>,
        layer_dirs: &[PathBuf],
        spec: &SandboxSpec,
    ) -> anyhow::Result<WineSandbox> {
        let mk = |p: &Path| {
            std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))
        };
        if !preflight::is_overlay_upper_capable(dir.parent().unwrap_or(&dir)) {
            anyhow::bail!(
                "the silo state dir {} is on overlayfs, which cannot hold an overlay upper dir; \
                 put the state dir on a regular file system (e.g. a volume)",
                dir.display()
            );
        }
        for sub in [
            "upper",
            "work",
            "prefix/drive_c",
            "prefix/dosdevices",
            "home",
            "l",
        ] {
            mk(&dir.join(sub))?;
        }
        let mut lowers = image_lowers.clone();
        lowers.push(tools);
        lowers.push(system.drive_c());
        for (i, l) in lowers.iter().enumerate() {
            std::os::unix::fs::symlink(l, dir.join("l").join(i.to_string()))
                .context("linking a lower dir")?;
        }
        std::os::unix::fs::symlink("../drive_c", dir.join("prefix/dosdevices/c:"))
            .context("creating the C: drive link")?;
        // Never let Wine re-run wineboot on this prefix.
        std::fs::write(dir.join("prefix/.update-timestamp"), "disable\n")?;
        std::fs::write(dir.join("silo-launch.exe"), launcher::launcher_exe())?;
        let wrapper = dir.join("wineserver");
        // -p0: the server exits (saving the registry) as soon as the last process is gone.
        std::fs::write(
            &wrapper,
            format!("#!/bin/sh\nexec '{}' -p0 \"$@\"\n", wine.server.display()),
        )?;
        std::fs::set_permissions(
            &wrapper,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
        let registry = registry::materialize(system, layer_dirs, &dir.join("prefix"))
            .context("materializing the image's registry for the silo")?;
        let hostname = format!(
            "silo-{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64 & 0xffff_ffff)
                .unwrap_or(0)
        );
        Ok(WineSandbox {
            dir,
            wine,
            lowers,
            image_lowers,
            network: spec.network.clone(),
            mounts: spec.mounts.clone(),
            registry,
            hostname,
            committed_dir: PathBuf::new(),
            owner: crate::layer::sd::Sid::container_administrator(),
            startup_pin: silo::startup_pin(),
        })
    }

    fn launcher_path(&self) -> String {
        self.dir
            .join("silo-launch.exe")
            .to_string_lossy()
            .into_owned()
    }

    /// The step's process for a PowerShell step: silo's engine (`silo __wine-powershell`), with
    /// what it needs to start native commands the way a cmd step's process is started.
    fn engine_process(
        &self,
        routed: &pwsh::Routed,
        process: &ProcessSpec,
        drive_c: &Path,
        exit_file: &Path,
    ) -> anyhow::Result<StepProcess> {
        let exe = pwsh::engine_executable().map_err(anyhow::Error::msg)?;
        let user = if process.user.trim().is_empty() {
            system_layer::PROFILE_USER.to_string()
        } else {
            process.user.clone()
        };
        let proxies = std::env::vars()
            .filter(|(k, _)| {
                ["http_proxy", "https_proxy", "all_proxy", "no_proxy"]
                    .contains(&k.to_ascii_lowercase().as_str())
            })
            .collect();
        let config = pwsh::host::EngineConfig {
            routed: routed.clone(),
            origin: "RUN".into(),
            drive_c: drive_c.to_path_buf(),
            prefix: self.dir.join("prefix"),
            wine_loader: self.wine.loader.clone(),
            launcher: PathBuf::from(self.launcher_path()),
            wine_env: self.fixed_env(),
            step_env: process
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            cwd: if process.working_dir.trim().is_empty() {
                "C:\\".into()
            } else {
                process.working_dir.clone()
            },
            user,
            computer_name: self.hostname.clone(),
            network: self.network != crate::runtime::NetworkMode::None,
            proxies,
            exit_file: exit_file.to_path_buf(),
            links_file: self.dir.join(LINKS_FILE),
        };
        let mut env = self.fixed_env();
        env.push((
            pwsh::host::CONFIG_VAR.into(),
            serde_json::to_string(&config)?,
        ));
        Ok(StepProcess {
            program: exe,
            argv: vec!["silo".into(), pwsh::ENGINE_SUBCOMMAND.into()],
            env,
        })
    }

    fn fixed_env(&self) -> Vec<(String, String)> {
        let d = |s: &str| self.dir.join(s).to_string_lossy().into_owned();
        vec![
            ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
            ("WINEPREFIX".into(), d("prefix")),
            ("WINEDEBUG".into(), "-all,fixme+all".into()),
            (
                "WINELOADER".into(),
                self.wine.loader.to_string_lossy().into_owned(),
            ),
            ("WINESERVER".into(), d("wineserver")),
            (
                "WINEDLLOVERRIDES".into(),
                format!("winemenubuilder.exe=d;{}", tools::dll_overrides()),
            ),
            ("HOME".into(), d("home")),
            ("USER".into(), system_layer::PROFILE_USER.into()),
            ("LOGNAME".into(), system_layer::PROFILE_USER.into()),
            ("LANG".into(), "C.UTF-8".into()),
        ]
        .into_iter()
        .chain(self.startup_pin.map(|pin| {
            (
                launcher::AFFINITY_VAR.to_string(),
                format!("{:x}", pin.original),
            )
        }))
        .collect()
    }
}

/// The link journal in a sandbox's dir (outside `drive_c`): what [`links`] made.
const LINKS_FILE: &str = "links";

/// How a step's command line runs: `Some` when silo's engine takes it (see [`pwsh::route`]).
/// Either way a command that Wine only pretends to run is refused here ([`stubs`]); the
/// engine's own commands (PowerShell, mklink) are its concern.
fn route_step(args: &[String], command_line: &str) -> anyhow::Result<Option<pwsh::Routed>> {
    let routed = pwsh::route(command_line).map_err(anyhow::Error::msg)?;
    check_stubs(args, command_line, routed.as_ref())?;
    Ok(routed)
}

/// The stub table's check of a step: its whole command line, or, when silo's engine runs it
/// (`routed`), the commands the engine leaves to Wine — a mklink loop's `('command')` among them
/// (a refused program there would give the loop no values and the step a silent success).
fn check_stubs(
    args: &[String],
    command_line: &str,
    routed: Option<&pwsh::Routed>,
) -> Result<(), stubs::Refusal> {
    let Some(routed) = routed else {
        return stubs::check_command_line(args, command_line);
    };
    routed.segments.iter().try_for_each(|s| {
        if pwsh::is_mklink_loop(&s.text) {
            return match pwsh::cmdfor::ForLoop::parse(&s.text).map(|l| l.source) {
                Ok(pwsh::cmdfor::Source::Command { command, .. }) => {
                    stubs::check_command_line(&[], &command)
                }
                _ => Ok(()),
            };
        }
        if pwsh::is_engine_segment(&s.text) {
            return Ok(());
        }
        stubs::check_command_line(&[], &s.text)
    })
}

/// What the silo's init executes as the step's process.
struct StepProcess {
    program: PathBuf,
    argv: Vec<String>,
    env: Vec<(String, String)>,
}

impl ChainedSandbox for WineSandbox {
    fn run_process(
        &mut self,
        process: &ProcessSpec,
        output: &mut dyn OutputSink,
    ) -> anyhow::Result<ExitStatus> {
        let cl = process::command_line(process)?;
        let program = process::program_name(process, &cl);
        let powershell = route_step(&process.args, &cl)?;
        if powershell.is_none() {
            process::check_runnable(&program, &self.image_lowers)?;
        }
        self.owner = process::owner_sid(&process.user)?;
        let rel = process::workdir_relative(&process.working_dir)?;
        let mut dirs = vec![self.dir.join("upper")];
        dirs.extend(self.lowers.iter().cloned());
        if let Some(routed) = &powershell {
            // The whole script is parsed and checked before the silo exists: an unsupported
            // construct fails the step with nothing run.
            pwsh::precheck(routed, &dirs, &process.working_dir).map_err(anyhow::Error::msg)?;
        }
        let rel = process::existing_spelling(&dirs, &rel);
        let drive_c = self.dir.join("prefix/drive_c");
        let placed = mounts::place(&self.mounts, &dirs, &drive_c)?;
        let cwd = if rel.is_empty() {
            drive_c.clone()
        } else {
            drive_c.join(&rel)
        };
        // SAFETY: getuid has no preconditions.
        #[allow(unsafe_code)] // the real uid has no std API.
        let uid = unsafe { libc::getuid() };
        let server_dir = PathBuf::from(format!("/tmp/.wine-{uid}"));
        // Outside `drive_c`, so it never reaches the layer; the launcher (or the PowerShell
        // engine) writes the step's full 32-bit exit code there.
        let exit_file = self.dir.join("exit-code");
        let _ = std::fs::remove_file(&exit_file);
        let StepProcess { program, argv, env } = match &powershell {
            None => {
                // The launcher sets the step's ENV itself, over what Wine derives.
                let env_file = self.dir.join("environment");
                let block =
                    launcher::env_block(&process::step_environment(process)).ok_or_else(|| {
                        anyhow::anyhow!(
                            "the step's environment (ENV and build args) has an empty name, a \
                             name with `=`, or is over {} bytes",
                            launcher::ENV_BLOCK_BYTES
                        )
                    })?;
                std::fs::write(&env_file, block)
                    .with_context(|| format!("writing {}", env_file.display()))?;
                let mut env = process::environment(process, &cl, &self.fixed_env());
                env.push((
                    launcher::EXITFILE_VAR.into(),
                    launcher::unix_path_for_windows(&exit_file),
                ));
                env.push((
                    launcher::ENVFILE_VAR.into(),
                    launcher::unix_path_for_windows(&env_file),
                ));
                StepProcess {
                    program: self.wine.loader.clone(),
                    argv: vec!["wine64".into(), self.launcher_path()],
                    env,
                }
            }
            Some(routed) => self.engine_process(routed, process, &drive_c, &exit_file)?,
        };
        silo::ensure_private_dir(&server_dir)
            .with_context(|| format!("creating {}", server_dir.display()))?;
        let spec = silo::SiloSpec {
            base_dir: self.dir.clone(),
            lowerdirs: (0..self.lowers.len())
                .map(|i| PathBuf::from(format!("l/{i}")))
                .collect(),
            upper: self.dir.join("upper"),
            work: self.dir.join("work"),
            mount_point: drive_c,
            server_dir,
            program,
            argv,
            env,
            cwd,
            network: self.network.clone(),
            hostname: self.hostname.clone(),
            timeout: process.timeout,
            grace: Duration::from_secs(10),
            binds: placed.iter().map(|p| p.bind.clone()).collect(),
            startup_cpu: self.startup_pin.map(|pin| pin.cpu),
        };
        let upper = self.dir.join("upper");
        let mount_stubs = mounts::Stubs::before(&upper, &placed);
        let mut filter = fixme::FixmeFilter::new(output);
        let ran = silo::run(&spec, &mut filter);
        filter.finish();
        // The mount points go whatever happened: a failed step's sandbox may still be read.
        mount_stubs.remove(&upper);
        let code = launcher::read_exit_code(&exit_file, ran?);
        if code == 0 && !filter.stubs().is_empty() {
            anyhow::bail!(
                "the step ran a program that Wine only stubs, so its success is not real \
                 (no silent success): {}",
                filter.stubs().join("; ")
            );
        }
        Ok(ExitStatus { code })
    }

    /// [`Sandbox::commit`].
    fn commit_changes(mut self: Box<Self>) -> anyhow::Result<ChangeSet> {
        // The ChangeSet streams files from the upper dir: keep it (in `committed/`) until the
        // runtime is dropped; the rest of the sandbox goes now.
        std::fs::rename(&self.dir, &self.committed_dir).with_context(|| {
            format!(
                "moving {} to {}",
                self.dir.display(),
                self.committed_dir.display()
            )
        })?;
        self.dir = self.committed_dir.clone();
        let upper = self.dir.join("upper");
        let links = links::read_journal(&self.dir.join(LINKS_FILE))
            .context("reading the links the step made")?;
        let mut cs = commit::changes_from_upper(&upper, &self.lowers, &self.owner, &links)
            .with_context(|| format!("reading the silo's changes in {}", upper.display()))?;
        cs.hive_deltas = registry::deltas(&self.registry, &self.dir.join("prefix"))
            .context("computing the step's registry changes")?;
        for scratch in [
            "work",
            "prefix",
            "home",
            "l",
            "silo-launch.exe",
            "wineserver",
            "environment",
            LINKS_FILE,
        ] {
            let p = self.dir.join(scratch);
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
        // Dropping `self` must not remove the kept upper dir.
        self.dir = PathBuf::new();
        Ok(cs)
    }
}

impl Drop for WineSandbox {
    fn drop(&mut self) {
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mklink_loops_command_is_checked_against_the_stub_table() {
        let e = route_step(
            &[],
            r"cmd /S /C for /f %i in ('where busybox') do mklink C:\%i.exe C:\b.exe",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("`where busybox`"), "{e}");
        route_step(
            &[],
            r"cmd /S /C for /f %i in ('type C:\l.txt') do mklink C:\%i.exe C:\b.exe",
        )
        .unwrap();
    }

    #[test]
    fn a_named_network_is_refused_before_anything_is_set_up() {
        let state = tempfile::tempdir().unwrap();
        let runtime = WineRuntime::new(state.path().join("state"));
        let spec = SandboxSpec {
            network: crate::runtime::NetworkMode::Named("transparent".into()),
            ..SandboxSpec::default()
        };
        let err = runtime.prepare(&spec).err().unwrap().to_string();
        assert!(
            err.contains("\"transparent\"") && err.contains("HCS runtime"),
            "{err}"
        );
        assert!(!state.path().join("state").exists(), "nothing was set up");
    }
}
