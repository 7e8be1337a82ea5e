//! The build engine: runs the stages a target needs, step by step, for each requested platform.
//!
//! The Dockerfile frontend (`crate::dockerfile::stages`) parses the stages, expands each
//! instruction, keeps the image config and says what each command needs done
//! ([`Step`]): nothing more for metadata, a RUN, a COPY/ADD or a WORKDIR directory. This engine
//! does those steps. A stage starts from its base — an image, read lazily (manifest and config
//! only), or an earlier stage. COPY/ADD/WORKDIR build a [`ChangeSet`] directly, RUN gets one from
//! the [`Runtime`]; the layer codec turns it into a blob in the store. Before a layer step runs,
//! its cache key (parent chain, expanded instruction, input digests) is looked up; a hit reuses
//! the recorded layer. Nothing is written to the store but complete, verified blobs and records;
//! refs are set only after the whole build succeeded (see `output`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use oci_spec::image::{Descriptor, MediaType};

use super::base::{resolve_base, BlobHome, ImageLayer, TargetPlatform};
use super::cache::{self, CachedLayer};
use super::config::ImageConfig;
use super::context::{BothFilters, NoFilter, PathFilter, SourceTree};
use super::copy::{plan_copy, CopyRequest};
use super::frontend_config::{from_frontend, to_frontend};
use super::layer_pick;
use super::owner::resolve_chown;
use super::progress::Progress;
use super::remote_cache::{RemoteCache, UsedRecord};
use super::run_mounts;
use super::url_source::{self, is_url, Checksum, Downloaded};
use crate::dockerfile::dockerignore::{self, PatternMatcher};
use crate::dockerfile::instructions::{self, Command, Instruction, Location, MountType, Parsed};
use crate::dockerfile::shell::HostMode;
use crate::dockerfile::stages::{
    parse_stages, resolve_source, Base, BaseConfig, BuildOptions, BuildPlan, CopySource, CopyStep,
    FrontendError, Platform, RunStep, Stage, StageDispatcher, Step,
};
use crate::dockerfile::winpath::PathMode;
use crate::image::{self, Flavor};
use crate::layer::changeset::Timestamp;
use crate::layer::sd::Sid;
use crate::layer::writer::{LayerCompression, WriteOptions};
use crate::layer::{ChangeSet, Entry, EntryKind, FileMeta, UnpackFilter, UnpackOptions};
use crate::runtime::{
    LayerRef, NetworkMode, OutputSink, ProcessSpec, Runtime, SandboxSpec, StepMount,
};
use crate::store::Store;

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The build context directory.
    pub context: PathBuf,
    /// The Dockerfile.
    pub dockerfile: PathBuf,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    /// One entry per platform; at least one.
    pub platforms: Vec<TargetPlatform>,
    pub no_cache: bool,
    /// `--label`: added to the final image's labels.
    pub labels: BTreeMap<String, String>,
    pub path_mode: PathMode,
    /// `--network` for RUN steps that do not set their own.
    pub network: NetworkMode,
    /// `--timeout` for each RUN step.
    pub run_timeout: Option<std::time::Duration>,
    /// `--secret`: what `RUN --mount=type=secret` steps may read, by id.
    pub secrets: run_mounts::Secrets,
}

/// One built image (one platform).
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub config: ImageConfig,
    pub config_descriptor: Descriptor,
    pub config_bytes: Vec<u8>,
    /// The manifest's descriptor (its platform is in `config`: os.version, os.features).
    pub manifest_descriptor: Descriptor,
    pub manifest_bytes: Vec<u8>,
    pub layers: Vec<ImageLayer>,
    pub flavor: Flavor,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildResult {
    pub images: Vec<BuiltImage>,
    /// The index over `images` when several platforms were built.
    pub index: Option<(Descriptor, Vec<u8>)>,
    /// Every cache record the build used or created, in step order (for `--cache-to`).
    pub cache_records: Vec<UsedRecord>,
}

impl BuildResult {
    /// The descriptor and bytes an output names: the index, or the only manifest.
    pub fn top(&self) -> (&Descriptor, &[u8]) {
        match &self.index {
            Some((d, b)) => (d, b),
            None => (
                &self.images[0].manifest_descriptor,
                &self.images[0].manifest_bytes,
            ),
        }
    }

    /// What `--iidfile` and `--quiet` report: the config digest (docker's image ID) of a
    /// single-platform build, the index digest of a multi-platform one.
    pub fn image_id(&self) -> String {
        match &self.index {
            Some((d, _)) => d.digest().to_string(),
            None => self.images[0].config_descriptor.digest().to_string(),
        }
    }
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile itself is wrong (parse, flags, stage graph).
    #[error("{file}:{line}: {message}")]
    Dockerfile {
        file: String,
        line: usize,
        message: String,
    },
    /// A step failed: where, what was written, why.
    #[error("{file}:{line}: {text}: {reason}")]
    Step {
        file: String,
        line: usize,
        text: String,
        reason: String,
    },
    /// A RUN step's process exited with a non-zero code: the full 32-bit Windows exit code,
    /// shown unsigned (`0xC0000005` as 3221225477, as Windows and BuildKit show it).
    #[error(
        "{file}:{line}: {text}: process \"{command}\" did not complete successfully: exit code: {}",
        *.code as u32
    )]
    RunFailed {
        file: String,
        line: usize,
        text: String,
        command: String,
        code: i32,
    },
    #[error("{0}")]
    Setup(String),
}

impl BuildError {
    /// The exit code of a failed RUN, to pass on as silo's own.
    pub fn run_exit_code(&self) -> Option<i32> {
        match self {
            BuildError::RunFailed { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Builds the request. `store` holds layers, cache records and the results.
pub fn build(
    store: &Store,
    runtime: &dyn Runtime,
    progress: &mut Progress,
    request: &BuildRequest,
) -> Result<BuildResult, BuildError> {
    build_with_cache(store, runtime, progress, request, None)
}

/// [`build`] that also looks steps up in the records imported from `--cache-from`.
pub fn build_with_cache(
    store: &Store,
    runtime: &dyn Runtime,
    progress: &mut Progress,
    request: &BuildRequest,
    remote: Option<&RemoteCache>,
) -> Result<BuildResult, BuildError> {
    let bytes = std::fs::read(&request.dockerfile).map_err(|e| {
        BuildError::Setup(format!(
            "reading Dockerfile {}: {e}",
            request.dockerfile.display()
        ))
    })?;
    let file = request
        .dockerfile
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Dockerfile".into());
    let parsed = crate::dockerfile::parse(&bytes)
        .map_err(|e| BuildError::Setup(format!("{}: {e}", request.dockerfile.display())))?;
    for warning in &parsed.warnings {
        progress.warn(&format!("{file}:{}: {}", warning.line, warning.short));
    }
    if !request.context.is_dir() {
        return Err(BuildError::Setup(format!(
            "build context {} is not a directory",
            request.context.display()
        )));
    }
    let ignore = dockerignore::load_for_build(&request.dockerfile, &request.context)
        .map_err(|e| BuildError::Setup(format!(".dockerignore: {e}")))?;
    let epoch = source_date_epoch(request)?;
    let scratch = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in(store.root().join("tmp"))
        .map_err(|e| BuildError::Setup(format!("creating a scratch directory: {e}")))?;

    let mut images = Vec::new();
    let mut cache_records = Vec::new();
    for (n, platform) in request.platforms.iter().enumerate() {
        let mut target_platform = Platform::windows_amd64();
        target_platform.os_version = platform.os_version.clone().unwrap_or_default();
        let options = BuildOptions {
            build_args: request.build_args.clone(),
            target_platform,
            build_platform: Platform::host(),
            host: HostMode::Linux,
            path_mode: request.path_mode,
            target: request.target.clone(),
        };
        let plan = parse_stages(&parsed.ast, parsed.escape_token, &options)
            .map_err(|e| frontend_error(&file, e))?;
        let first = n == 0;
        if first {
            for w in &plan.warnings {
                progress.warn(&format!("{file}:{}: {} ({})", w.line, w.message, w.rule));
            }
            let unused = plan.unused_build_args();
            if !unused.is_empty() {
                progress.warn(&format!(
                    "one or more build-args {unused:?} were not consumed"
                ));
            }
        }
        let mut engine = Engine {
            store,
            runtime,
            progress: &mut *progress,
            request,
            plan: &plan,
            file: file.clone(),
            ignore: &ignore,
            epoch,
            now: epoch.unwrap_or_else(now_secs),
            platform,
            scratch: scratch.path().to_path_buf(),
            multi_platform: request.platforms.len() > 1,
            show_warnings: first,
            remote,
            used: Vec::new(),
        };
        images.push(engine.build_plan()?);
        cache_records.append(&mut engine.used);
    }
    let index = if images.len() > 1 {
        Some(make_index(store, &images)?)
    } else {
        None
    };
    Ok(BuildResult {
        images,
        index,
        cache_records,
    })
}

fn frontend_error(file: &str, e: FrontendError) -> BuildError {
    match e.location {
        Some(location) => BuildError::Dockerfile {
            file: file.to_string(),
            line: location.start_line,
            message: e.message,
        },
        None => BuildError::Setup(e.message),
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `SOURCE_DATE_EPOCH` from `--build-arg` (BuildKit's way), else the environment (buildx
/// passes it on that way).
fn source_date_epoch(request: &BuildRequest) -> Result<Option<i64>, BuildError> {
    let value = request
        .build_args
        .get("SOURCE_DATE_EPOCH")
        .cloned()
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok())
        .filter(|v| !v.trim().is_empty());
    match value {
        None => Ok(None),
        Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
            BuildError::Setup(format!(
                "SOURCE_DATE_EPOCH={v:?}: expected a number of seconds since 1970"
            ))
        }),
    }
}

/// The filesystem side of a stage: what the frontend's config does not hold.
#[derive(Clone)]
struct StageState {
    /// The full image config (the base's, with every field kept), updated from the frontend's
    /// view after each command.
    config: ImageConfig,
    layers: Vec<ImageLayer>,
    flavor: Flavor,
    /// How many history entries came from the base image (their times are kept as they were).
    base_history: usize,
    /// The stage's files, unpacked when a later `COPY --from` needs them.
    files: Rc<RefCell<Option<Rc<tempfile::TempDir>>>>,
    /// Creation time of the layer the current step added (for its history entry).
    step_layer_time: Option<i64>,
    /// The newest creation time of the layers this build added: the image's `created`.
    newest_layer_time: Option<i64>,
}

/// What a RUN step's sandbox is made on.
struct SandboxTarget<'a> {
    layers: &'a [ImageLayer],
    network: NetworkMode,
    /// The stage's `os.version` (the base image's).
    os_version: String,
    mounts: Vec<StepMount>,
}

/// A finished stage: its filesystem state and what a stage built on it inherits.
struct BuiltStage {
    state: StageState,
    inherit: BaseConfig,
}

/// Where a bind mount (or a cache mount's `from=`) reads.
enum MountTree<'b> {
    Context,
    Stage(&'b StageState),
    Image(Box<StageState>),
}

/// A `RUN --mount` resolved when the step is planned; made real only when the step runs.
struct PlannedMount<'b> {
    mount: instructions::Mount,
    /// `C:\…`.
    target: String,
    tree: Option<(MountTree<'b>, String)>,
    /// A secret's value (`None`: an optional secret that was not given).
    secret: Option<Vec<u8>>,
}

/// What keeps a mount's host path alive (and a cache mount's lock held) while its step runs.
#[expect(dead_code, reason = "each variant is held for its Drop")]
enum MountBacking {
    Dir(tempfile::TempDir),
    Stage(Rc<tempfile::TempDir>),
    Cache(run_mounts::CacheLease),
}

/// How a layer step ended, for progress.
enum LayerOutcome {
    Cached(u64),
    Built(u64),
}

struct Engine<'a> {
    store: &'a Store,
    runtime: &'a dyn Runtime,
    progress: &'a mut Progress,
    request: &'a BuildRequest,
    plan: &'a BuildPlan,
    file: String,
    ignore: &'a PatternMatcher,
    epoch: Option<i64>,
    now: i64,
    platform: &'a TargetPlatform,
    scratch: PathBuf,
    multi_platform: bool,
    /// Lint warnings are shown for the first platform only (they are the same for all).
    show_warnings: bool,
    /// Records imported from `--cache-from`, looked up after the store's.
    remote: Option<&'a RemoteCache>,
    /// The cache records this platform's build used or created.
    used: Vec<UsedRecord>,
}

impl Engine<'_> {
    fn build_plan(&mut self) -> Result<BuiltImage, BuildError> {
        let mut built: BTreeMap<usize, BuiltStage> = BTreeMap::new();
        for index in self.plan.build_order() {
            let stage = &self.plan.stages[index];
            let done = self.build_stage(stage, &built)?;
            built.insert(index, done);
        }
        let target = built
            .remove(&self.plan.target)
            .expect("the target stage was built");
        self.finish_image(target.state)
    }

    /// Asks the runtime about every RUN step of the stage before its first step runs, so a step
    /// the runtime cannot run fails the build before anything of the stage happened. With a
    /// remote cache the step may come from it (built elsewhere, e.g. on Windows), so the refusal
    /// is a warning there and the step fails only if it must really run.
    fn check_runs_up_front(
        &self,
        stage: &Stage,
        triggers: &[Command],
        inherit: &BaseConfig,
    ) -> Result<(), BuildError> {
        let mut preview = StageDispatcher::new(self.plan, stage, inherit.clone());
        preview.config.on_build.clear();
        for cmd in triggers.iter().chain(stage.commands.iter()) {
            // Dispatch errors are reported by the real pass, at their step.
            let Ok(dispatched) = preview.dispatch(cmd) else {
                break;
            };
            let Step::Run(run) = &dispatched.step else {
                continue;
            };
            if let Err(reason) = self.runtime.check_step(&run.command_line) {
                if self.remote.is_some() {
                    self.progress.warn(&format!(
                        "{}:{}: the {} runtime cannot run this step ({reason}); the build fails \
                         there unless the cache has it",
                        self.file,
                        cmd.location.start_line,
                        self.runtime.name()
                    ));
                } else {
                    return Err(self.step_error(cmd.location, &cmd.original, reason));
                }
            }
        }
        Ok(())
    }

    fn step_error(&self, location: Location, text: &str, reason: String) -> BuildError {
        BuildError::Step {
            file: self.file.clone(),
            line: location.start_line,
            text: text.trim().to_string(),
            reason,
        }
    }

    /// Gives an error without a location the command's file:line and text.
    fn locate(&self, cmd: &Command, error: BuildError) -> BuildError {
        match error {
            BuildError::Setup(reason) => self.step_error(cmd.location, &cmd.original, reason),
            other => other,
        }
    }

    /// `[stage 2/5] TEXT` (BuildKit's progress prefix; the stage name only with several stages).
    fn step_label(&self, stage: &Stage, number: usize, total: usize, text: &str) -> String {
        let mut label = String::from("[");
        if self.multi_platform {
            if let Some(v) = &self.platform.os_version {
                label.push_str(&format!("windows/amd64:{v} "));
            }
        }
        if self.plan.stages.len() > 1 {
            if stage.name.is_empty() {
                label.push_str(&format!("stage-{}", stage.index));
            } else {
                label.push_str(&stage.name);
            }
            label.push(' ');
        }
        label.push_str(&format!("{number}/{total}] {}", text.trim()));
        label
    }

    /// ONBUILD triggers as commands located at the stage's FROM line.
    fn parse_triggers(
        &self,
        stage: &Stage,
        triggers: &[String],
    ) -> Result<Vec<Command>, BuildError> {
        let at = |m: String| self.step_error(stage.from.location, &stage.from.original, m);
        let mut out = Vec::new();
        for trigger in triggers {
            let parsed = crate::dockerfile::parse(trigger.as_bytes())
                .map_err(|e| at(format!("ONBUILD trigger {trigger:?}: {e}")))?;
            let [node] = parsed.ast.children.as_slice() else {
                return Err(at(format!(
                    "onbuild trigger {trigger:?} should be a single expression"
                )));
            };
            match instructions::parse_instruction(node, HostMode::Linux)
                .map_err(|e| at(format!("ONBUILD trigger {trigger:?}: {e}")))?
            {
                Parsed::Command(mut cmd) => {
                    cmd.location = stage.from.location;
                    out.push(cmd);
                }
                Parsed::From(_) => {
                    return Err(at("FROM isn't allowed as an ONBUILD trigger".into()));
                }
            }
        }
        Ok(out)
    }

    fn build_stage(
        &mut self,
        stage: &Stage,
        built: &BTreeMap<usize, BuiltStage>,
    ) -> Result<BuiltStage, BuildError> {
        let layer_steps = stage
            .commands
            .iter()
            .filter(|c| {
                matches!(
                    c.instruction,
                    Instruction::Copy(_)
                        | Instruction::Add(_)
                        | Instruction::Run(_)
                        | Instruction::Workdir(_)
                )
            })
            .count();
        let from_image = matches!(stage.base, Base::Image(_));
        let total = layer_steps + usize::from(from_image);
        let mut number = 0;
        let (mut state, inherit, triggers) = match &stage.base {
            Base::Stage(i) => {
                let base = &built[i];
                let mut state = base.state.clone();
                state.files = Rc::new(RefCell::new(None));
                // The base stage's own ONBUILD lines run here; its config's do not carry over.
                let triggers: Vec<String> = self.plan.stages[*i]
                    .commands
                    .iter()
                    .filter_map(|c| match &c.instruction {
                        Instruction::Onbuild(expr) => Some(expr.clone()),
                        _ => None,
                    })
                    .collect();
                (state, base.inherit.clone(), triggers)
            }
            Base::Image(name) => {
                number += 1;
                let step = self.progress.begin(self.step_label(
                    stage,
                    number,
                    total,
                    &format!("FROM {name}"),
                ));
                let base = match resolve_base(self.store, name, self.platform) {
                    Ok(base) => base,
                    Err(e) => {
                        self.progress.fail(step, &e.to_string());
                        return Err(self.step_error(
                            stage.from.location,
                            &stage.from.original,
                            e.to_string(),
                        ));
                    }
                };
                self.progress
                    .output(step.number, &format!("resolved {}", base.manifest_digest));
                self.progress.finish(step, false, None);
                let triggers = base.config.config.on_build.clone().unwrap_or_default();
                let inherit = BaseConfig::image(to_frontend(&base.config));
                let base_history = base.config.history.len();
                (
                    StageState {
                        config: base.config,
                        layers: base.layers,
                        flavor: base.flavor,
                        base_history,
                        files: Rc::new(RefCell::new(None)),
                        step_layer_time: None,
                        newest_layer_time: None,
                    },
                    inherit,
                    triggers,
                )
            }
        };
        let triggers = self.parse_triggers(stage, &triggers)?;
        self.check_runs_up_front(stage, &triggers, &inherit)?;
        let mut dispatcher = StageDispatcher::new(self.plan, stage, inherit);
        // ONBUILD triggers run once, in the first stage built on the image.
        dispatcher.config.on_build.clear();
        for cmd in triggers.iter().chain(stage.commands.iter()) {
            let dispatched = dispatcher
                .dispatch(cmd)
                .map_err(|e| self.step_error(cmd.location, &cmd.original, e.message))?;
            if !matches!(dispatched.step, Step::Config) {
                number += 1;
            }
            let label = self.step_label(
                stage,
                number,
                total.max(number),
                &dispatched.command.original,
            );
            if matches!(cmd.instruction, Instruction::StopSignal(_)) && self.show_warnings {
                self.progress.warn(&format!(
                    "{}:{}: STOPSIGNAL has no effect on Windows containers (they get \
                     CTRL_SHUTDOWN_EVENT); recorded in the config anyway",
                    self.file, cmd.location.start_line
                ));
            }
            match &dispatched.step {
                Step::Config => {}
                Step::MakeDir(workdir) => {
                    let step = self.progress.begin(label);
                    let outcome = self.make_dir(&mut state, workdir, &dispatcher.config.user);
                    self.end_step(step, cmd, outcome)?;
                }
                Step::Copy(copy) => {
                    let step = self.progress.begin(label);
                    let outcome = self.copy(&mut state, cmd, copy, built);
                    self.end_step(step, cmd, outcome)?;
                }
                Step::Run(run) => {
                    let step = self.progress.begin(label);
                    let number = step.number;
                    let outcome = self.run(&mut state, cmd, run, number, built);
                    self.end_step(step, cmd, outcome)?;
                }
            }
            from_frontend(&mut state.config, &dispatcher.config);
            let layer_time = state.step_layer_time.take();
            if !dispatched.created_by.is_empty() {
                let created = layer_time
                    .filter(|_| !dispatched.empty_layer)
                    .map(|t| image::rfc3339(self.clamped(t)));
                state.config.push_history(
                    dispatched.created_by.clone(),
                    !dispatched.empty_layer,
                    created,
                );
            }
        }
        if self.show_warnings {
            for w in &dispatcher.warnings {
                self.progress.warn(&format!(
                    "{}:{}: {} ({})",
                    self.file, w.line, w.message, w.rule
                ));
            }
        }
        Ok(BuiltStage {
            state,
            inherit: dispatcher.finish(),
        })
    }

    /// Closes a layer step's progress; errors get the command's location.
    fn end_step(
        &mut self,
        step: super::progress::Step,
        cmd: &Command,
        outcome: Result<LayerOutcome, BuildError>,
    ) -> Result<(), BuildError> {
        match outcome {
            Ok(LayerOutcome::Cached(size)) => {
                self.progress.finish(step, true, Some(size));
                Ok(())
            }
            Ok(LayerOutcome::Built(size)) => {
                self.progress.finish(step, false, Some(size));
                Ok(())
            }
            Err(e) => {
                let e = self.locate(cmd, e);
                self.progress.fail(step, &e.to_string());
                Err(e)
            }
        }
    }

    /// A time for the image's metadata, never later than `SOURCE_DATE_EPOCH` when it is set (a
    /// cached layer may have been made before the epoch was chosen).
    fn clamped(&self, secs: i64) -> i64 {
        self.epoch.map_or(secs, |epoch| secs.min(epoch))
    }

    /// The time new entries get: `SOURCE_DATE_EPOCH`, else now.
    fn layer_time(&self) -> Timestamp {
        Timestamp {
            secs: self.now,
            nanos: 0,
        }
    }

    /// WORKDIR: a layer with the directory entry (owned by USER when it names an account).
    fn make_dir(
        &mut self,
        state: &mut StageState,
        workdir: &str,
        user: &str,
    ) -> Result<LayerOutcome, BuildError> {
        let path = container_path(workdir);
        let time = self.layer_time();
        let mut changes = ChangeSet::default();
        changes.entries.push(Entry {
            path: path.clone(),
            kind: EntryKind::Directory,
            meta: FileMeta {
                creation_time: Some(time),
                modification_time: Some(time),
                access_time: Some(time),
                ..FileMeta::default()
            },
            streams: Vec::new(),
        });
        let owner = (!user.is_empty())
            .then(|| resolve_chown(user).ok())
            .flatten();
        let key = format!("WORKDIR /{path} owner={owner:?}");
        self.layer_step(state, &key, "", owner, |_| Ok(changes))
    }

    /// Looks the step up in the cache; on a miss makes its change set with `make` and writes
    /// the layer. Either way the stage gets the layer.
    fn layer_step(
        &mut self,
        state: &mut StageState,
        instruction: &str,
        inputs: &str,
        owner: Option<Sid>,
        make: impl FnOnce(&mut Self) -> Result<ChangeSet, BuildError>,
    ) -> Result<LayerOutcome, BuildError> {
        let diff_ids: Vec<_> = state.layers.iter().map(|l| l.diff_id.clone()).collect();
        let parent = cache::chain_id(&diff_ids);
        self.layer_step_on(state, &parent, instruction, inputs, owner, make)
    }

    /// [`Self::layer_step`] with the parent part of the cache key given: the parent's chain ID,
    /// or a fixed word for a `COPY --link` layer, which does not depend on what it sits on.
    fn layer_step_on(
        &mut self,
        state: &mut StageState,
        parent: &str,
        instruction: &str,
        inputs: &str,
        owner: Option<Sid>,
        make: impl FnOnce(&mut Self) -> Result<ChangeSet, BuildError>,
    ) -> Result<LayerOutcome, BuildError> {
        let key = cache::step_key(
            parent,
            &format!("{instruction}\nflavor={:?}", state.flavor),
            inputs,
        );
        let store_err = |e: crate::store::StoreError| BuildError::Setup(e.to_string());
        if !self.request.no_cache {
            let hit = match cache::lookup(self.store, &key).map_err(store_err)? {
                Some(hit) => Some((hit, BlobHome::Store)),
                None => self.remote.and_then(|r| r.lookup(&key)),
            };
            if let Some((hit, home)) = hit {
                let size = hit.descriptor.size();
                self.add_layer(state, &key, hit, home);
                return Ok(LayerOutcome::Cached(size));
            }
        }
        let changes = make(self)?;
        let options = WriteOptions {
            compression: LayerCompression::Gzip(6),
            threads: 0,
            default_time: self.layer_time(),
            clamp_time: self.epoch.map(|secs| Timestamp { secs, nanos: 0 }),
            owner,
            // Every layer a build makes sits on a base.
            base_layer: false,
        };
        let stored =
            crate::layer::write_layer_to_store(self.store, &changes, &options, state.flavor)
                .map_err(|e| BuildError::Setup(format!("writing the layer: {e}")))?;
        let layer = CachedLayer {
            descriptor: stored.descriptor,
            diff_id: stored.digests.diff_id,
            created: Some(self.now),
        };
        cache::remember(self.store, &key, &layer).map_err(store_err)?;
        let size = layer.descriptor.size();
        self.add_layer(state, &key, layer, BlobHome::Store);
        Ok(LayerOutcome::Built(size))
    }

    fn add_layer(&mut self, state: &mut StageState, key: &str, layer: CachedLayer, home: BlobHome) {
        state.config.push_layer(layer.diff_id.as_ref());
        let made = layer.created.unwrap_or(self.now);
        state.step_layer_time = Some(made);
        state.newest_layer_time = Some(state.newest_layer_time.map_or(made, |t| t.max(made)));
        self.used.push(UsedRecord {
            key: key.to_string(),
            layer: layer.clone(),
            home: home.clone(),
        });
        state.layers.push(ImageLayer {
            descriptor: layer.descriptor,
            diff_id: layer.diff_id,
            home,
        });
        state.files = Rc::new(RefCell::new(None));
    }

    /// COPY and ADD.
    fn copy(
        &mut self,
        state: &mut StageState,
        cmd: &Command,
        copy: &CopyStep,
        built: &BTreeMap<usize, BuiltStage>,
    ) -> Result<LayerOutcome, BuildError> {
        let setup = BuildError::Setup;
        if !copy.chmod.is_empty() && self.show_warnings {
            self.progress.warn(&format!(
                "{}:{}: --chmod is ignored for Windows images (Windows files have ACLs, not modes)",
                self.file, cmd.location.start_line
            ));
        }
        if copy.keep_git_dir {
            return Err(setup(
                "--keep-git-dir: git sources are not supported by silo".into(),
            ));
        }
        for source in &copy.sources {
            if source.starts_with("git@") || source.ends_with(".git") {
                return Err(setup(format!(
                    "{source}: git sources are not supported by silo"
                )));
            }
        }
        let (urls, paths): (Vec<String>, Vec<String>) =
            copy.sources.iter().cloned().partition(|s| is_url(s));
        let checksum = url_checksum(copy, &urls)?;
        // A step whose only source is one URL is cached on the URL and its content digest. That
        // digest is known before any transfer when `--checksum` gives it, or when the server
        // answers 304 to the ETag recorded with it: then a cached step downloads nothing
        // (BuildKit's behaviour). Otherwise the URL is downloaded now.
        let single_url = urls.len() == 1 && copy.sources.len() == 1 && copy.contents.is_empty();
        let mut downloads = Vec::new();
        let mut prefetched = None;
        let known = match checksum {
            Some(checksum) if single_url => Some(checksum),
            None if single_url => {
                let (digest, download) = self.fetch_with_etag(&urls[0])?;
                prefetched = download;
                Some(digest)
            }
            checksum => {
                downloads = self.download_urls(&urls, checksum.as_ref())?;
                None
            }
        };
        // Classic-mode destinations come as `\app\x\`; the copy planner takes `/app/x/`.
        let dest = format!("/{}", copy.dest.replace('\\', "/").trim_start_matches('/'));
        let owner = match copy.chown.as_str() {
            "" => None,
            chown => Some(resolve_chown(chown).map_err(|e| setup(e.to_string()))?),
        };
        let exclude =
            PatternMatcher::new(&copy.exclude).map_err(|e| setup(format!("--exclude: {e}")))?;
        let unpack = copy.is_add && copy.unpack != Some(false);
        let request = CopyRequest {
            sources: paths,
            downloads: downloads.iter().map(|(d, _)| d.clone()).collect(),
            heredocs: copy
                .contents
                .iter()
                .map(|c| (c.path.clone(), c.data.clone().into_bytes()))
                .collect(),
            dest: dest.clone(),
            parents: copy.parents,
            owner: owner.clone(),
            unpack_archives: unpack,
            epoch: self.epoch,
        };
        // Where the sources come from: the context, an earlier stage or an image. Stage and
        // image files stay unpacked (in the stage's state) for the rest of the build.
        // `_files` keeps an unpacked stage or image alive until the layer is written.
        let (root, display, from_key, use_ignore, _files) = match &copy.from {
            CopySource::Context => (
                self.request.context.clone(),
                format!("the build context {}", self.request.context.display()),
                "context".to_string(),
                true,
                None,
            ),
            CopySource::Stage(i) => {
                let source = built.get(i).ok_or_else(|| {
                    setup(format!(
                        "cannot copy from stage {i}, it needs to be defined before the current stage"
                    ))
                })?;
                let files = self.files_for_copy(&source.state, &request.sources)?;
                let name = &self.plan.stages[*i].name;
                let what = if name.is_empty() {
                    i.to_string()
                } else {
                    name.clone()
                };
                let root = files.path().to_path_buf();
                (
                    root,
                    format!("stage {what}"),
                    format!("stage {i}"),
                    false,
                    Some(files),
                )
            }
            CopySource::Image(reference) => {
                let (source, manifest_digest) = self.image_state(reference)?;
                let files = self.files_for_copy(&source, &request.sources)?;
                let root = files.path().to_path_buf();
                let key = format!("image {manifest_digest}");
                (root, format!("image {reference}"), key, false, Some(files))
            }
        };
        let no_filter = NoFilter;
        let context_filter: &dyn PathFilter = if use_ignore { self.ignore } else { &no_filter };
        let filter = BothFilters(context_filter, &exclude);
        let tree = SourceTree::new(root, display, &filter);
        let add_scratch = self.scratch.join("add");
        let key = format!(
            "{} {:?} urls={urls:?} heredocs={} -> {dest} parents={} unpack={unpack} \
             owner={owner:?} exclude={:?} link={} {from_key}",
            if copy.is_add { "ADD" } else { "COPY" },
            request.sources,
            request.heredocs.len(),
            request.parents,
            copy.exclude,
            copy.link,
        );
        // `--link` (BuildKit): the layer is reused whatever the earlier layers are. A silo
        // COPY layer never depends on its parent's content, so only the cache key changes.
        let parent = if copy.link {
            "link".to_string()
        } else {
            let diff_ids: Vec<_> = state.layers.iter().map(|l| l.diff_id.clone()).collect();
            cache::chain_id(&diff_ids)
        };
        if let Some(known) = known {
            let inputs = format!("url {urls:?} checksum {known}");
            return self.layer_step_on(state, &parent, &key, &inputs, owner, |engine| {
                let mut request = request;
                let fetched = match prefetched {
                    Some(download) => vec![download],
                    None => engine.download_urls(&urls, Some(&known))?,
                };
                for (downloaded, dir) in fetched {
                    request.downloads.push(downloaded);
                    // The file must outlive this closure (the layer is written from it); it
                    // goes with the build's scratch directory.
                    let _ = dir.keep();
                }
                let plan = plan_copy(&tree, &request, &add_scratch)
                    .map_err(|e| BuildError::Setup(e.to_string()))?;
                Ok(plan.changes)
            });
        }
        let plan = plan_copy(&tree, &request, &add_scratch).map_err(|e| setup(e.to_string()))?;
        let changes = plan.changes;
        let scratch_dirs = plan.scratch;
        let outcome =
            self.layer_step_on(state, &parent, &key, &plan.input_digest, owner, move |_| {
                Ok(changes)
            });
        drop(scratch_dirs);
        drop(downloads);
        outcome
    }

    /// The content digest behind `url`: downloaded now (and its ETag recorded in the store),
    /// or, when the server answers 304 to the recorded ETag, the digest recorded with it (and
    /// nothing downloaded).
    fn fetch_with_etag(&self, url: &str) -> Result<(Checksum, Option<UrlDownload>), BuildError> {
        let setup = BuildError::Setup;
        let store_err = |e: crate::store::StoreError| setup(e.to_string());
        let record_key = format!("add-url-etag {url}");
        let recorded = self
            .store
            .get_record(&record_key)
            .map_err(store_err)?
            .and_then(|r| {
                let etag = r.data.get("etag")?.as_str()?.to_string();
                let digest = Checksum::parse(r.data.get("digest")?.as_str()?).ok()?;
                Some((etag, digest))
            });
        let dir = self.url_scratch_dir()?;
        let fetched = url_source::fetch_if_changed(
            url,
            None,
            dir.path(),
            url_source::MAX_DOWNLOAD_BYTES,
            recorded.as_ref().map(|(etag, _)| etag.as_str()),
        )
        .map_err(|e| setup(e.to_string()))?;
        match (fetched, recorded) {
            (url_source::Fetched::NotModified, Some((_, digest))) => Ok((digest, None)),
            (url_source::Fetched::NotModified, None) => Err(setup(format!(
                "ADD {url}: the server answered 304 Not Modified to a plain GET"
            ))),
            (url_source::Fetched::Downloaded(downloaded), _) => {
                let digest =
                    Checksum::parse(&downloaded.digest).map_err(|e| setup(e.to_string()))?;
                if let Some(etag) = &downloaded.etag {
                    let data = serde_json::json!({"etag": etag, "digest": downloaded.digest});
                    self.store
                        .put_record(&record_key, &[], &data)
                        .map_err(store_err)?;
                }
                Ok((digest, Some((downloaded, dir))))
            }
        }
    }

    /// A fresh directory for one download, under the build's scratch directory.
    fn url_scratch_dir(&self) -> Result<tempfile::TempDir, BuildError> {
        let scratch = self.scratch.join("add");
        std::fs::create_dir_all(&scratch)
            .map_err(|e| BuildError::Setup(format!("creating {}: {e}", scratch.display())))?;
        tempfile::Builder::new()
            .prefix("url-")
            .tempdir_in(&scratch)
            .map_err(|e| BuildError::Setup(format!("creating a scratch directory: {e}")))
    }

    /// ADD's URL sources, each downloaded into its own scratch directory (kept alive with the
    /// returned file until the layer is written). (The frontend already refuses URLs in COPY.)
    fn download_urls(
        &self,
        urls: &[String],
        checksum: Option<&Checksum>,
    ) -> Result<Vec<UrlDownload>, BuildError> {
        let setup = BuildError::Setup;
        let mut out = Vec::with_capacity(urls.len());
        for url in urls {
            let dir = self.url_scratch_dir()?;
            let downloaded =
                url_source::download(url, checksum, dir.path(), url_source::MAX_DOWNLOAD_BYTES)
                    .map_err(|e| setup(e.to_string()))?;
            out.push((downloaded, dir));
        }
        Ok(out)
    }

    /// RUN.
    fn run(
        &mut self,
        state: &mut StageState,
        cmd: &Command,
        run: &RunStep,
        step_number: usize,
        built: &BTreeMap<usize, BuiltStage>,
    ) -> Result<LayerOutcome, BuildError> {
        let network = match run.network {
            instructions::NetworkMode::Default => self.request.network.clone(),
            instructions::NetworkMode::None => NetworkMode::None,
            instructions::NetworkMode::Host => NetworkMode::Host,
        };
        let mut env = BTreeMap::new();
        for entry in &run.env {
            let (k, v) = entry.split_once('=').unwrap_or((entry, ""));
            env.insert(k.to_string(), v.to_string());
        }
        let working_dir = windows_working_dir(&run.working_dir);
        let (mounts, mount_keys) = self.plan_mounts(&run.mounts, &working_dir, built)?;
        let key = format!(
            "RUN {:?}\nenv={env:?}\nworkdir={working_dir}\nuser={}\nnetwork={network:?}{}",
            run.args,
            run.user,
            mount_keys
                .iter()
                .map(|line| format!("\n{line}"))
                .collect::<String>()
        );
        let process = ProcessSpec {
            args: run.args.clone(),
            command_line: Some(run.command_line.clone()),
            env,
            working_dir,
            user: run.user.clone(),
            timeout: self.request.run_timeout,
        };
        let failure = RunFailure {
            file: self.file.clone(),
            line: cmd.location.start_line,
            text: cmd.original.trim().to_string(),
        };
        // Only the layers' descriptors are cloned here; their bytes are fetched on a cache miss.
        let layers = state.layers.clone();
        let os_version = state.config.os_version.clone().unwrap_or_default();
        self.layer_step(state, &key, "", None, move |engine| {
            // What backs the mounts lives until the step has run.
            let mut backing = Vec::new();
            let mut step_mounts = Vec::new();
            for mount in &mounts {
                if let Some(step_mount) = engine.materialize_mount(mount, &mut backing)? {
                    step_mounts.push(step_mount);
                }
            }
            let spec = SandboxTarget {
                layers: &layers,
                network,
                os_version,
                mounts: step_mounts,
            };
            engine.run_in_sandbox(spec, &process, step_number, failure)
        })
    }

    /// Resolves a RUN step's `--mount`s: what each needs, and its line of the cache key
    /// (a bind mount's content digest, a cache mount's id, a secret's id — never its value).
    fn plan_mounts<'b>(
        &self,
        mounts: &[instructions::Mount],
        working_dir: &str,
        built: &'b BTreeMap<usize, BuiltStage>,
    ) -> Result<(Vec<PlannedMount<'b>>, Vec<String>), BuildError> {
        let setup = BuildError::Setup;
        let names: BTreeMap<String, usize> = self
            .plan
            .stages
            .iter()
            .filter(|stage| !stage.name.is_empty())
            .map(|stage| (stage.name.to_lowercase(), stage.index))
            .collect();
        let (mut planned, mut keys) = (Vec::new(), Vec::new());
        for mount in mounts {
            let what = format!("RUN --mount=type={}", mount.kind.as_str());
            if mount.kind == MountType::Ssh {
                return Err(setup(format!(
                    "{what}: silo cannot forward an SSH agent into a Windows step; pass keys or \
                     tokens with --secret and RUN --mount=type=secret"
                )));
            }
            let target = run_mounts::mount_target(mount, working_dir).map_err(setup)?;
            let mut secret = None;
            let mut tree = None;
            let source_key = match mount.kind {
                MountType::Ssh | MountType::Tmpfs => String::new(),
                MountType::Secret => {
                    let id = run_mounts::secret_id(mount);
                    match self.request.secrets.get(&id) {
                        Some(source) => {
                            secret = Some(run_mounts::read_secret(&id, source).map_err(setup)?)
                        }
                        None if mount.required => {
                            return Err(setup(format!(
                                "{what}: secret {id:?} is required: pass --secret id={id},src=PATH \
                                 (or env=VAR)"
                            )))
                        }
                        None => {} // optional and not given: no mount (BuildKit's behaviour)
                    }
                    format!("secret {id} given={}", secret.is_some())
                }
                MountType::Cache | MountType::Bind => {
                    let id = match mount.cache_id.as_str() {
                        "" => target.clone(),
                        id => id.to_string(),
                    };
                    let seeded = mount.kind == MountType::Bind || !mount.from.is_empty();
                    let mut key = match mount.kind {
                        MountType::Cache => format!("cache {id} sharing={}", mount.sharing),
                        _ => String::new(),
                    };
                    if seeded {
                        let from = resolve_source(&mount.from, &names, self.plan.stages.len())
                            .map_err(|e| setup(format!("{what}: from={}: {e}", mount.from)))?;
                        let source = match from {
                            CopySource::Context => MountTree::Context,
                            CopySource::Stage(i) => MountTree::Stage(
                                &built
                                    .get(&i)
                                    .ok_or_else(|| {
                                        setup(format!(
                                            "{what}: from={}: the stage is not built yet",
                                            mount.from
                                        ))
                                    })?
                                    .state,
                            ),
                            CopySource::Image(reference) => {
                                MountTree::Image(Box::new(self.image_state(&reference)?.0))
                            }
                        };
                        let rel = container_path(&mount.source);
                        key.push_str(&self.mount_tree_key(&source, &rel)?);
                        tree = Some((source, rel));
                    }
                    key
                }
            };
            keys.push(run_mounts::key_line(mount, &target, &source_key));
            planned.push(PlannedMount {
                mount: mount.clone(),
                target,
                tree,
                secret,
            });
        }
        Ok((planned, keys))
    }

    /// What a mount's source tree contributes to the cache key: the content digest of the
    /// context's files (after `.dockerignore`), or the layers a stage or image is made of.
    fn mount_tree_key(&self, tree: &MountTree<'_>, rel: &str) -> Result<String, BuildError> {
        let layers = match tree {
            MountTree::Context => {
                let source =
                    SourceTree::new(&self.request.context, "the build context", self.ignore);
                let digest = run_mounts::copy_tree(&source, rel, None, run_mounts::CopyMode::Copy)
                    .map_err(|e| BuildError::Setup(format!("RUN --mount source: {e}")))?;
                return Ok(format!("context:{rel} {digest}"));
            }
            MountTree::Stage(state) => &state.layers,
            MountTree::Image(state) => &state.layers,
        };
        let diff_ids: Vec<_> = layers.iter().map(|l| l.diff_id.clone()).collect();
        Ok(format!("layers:{rel} {}", cache::chain_id(&diff_ids)))
    }

    /// Makes a planned mount real for one step: a private copy of a bind source, a cache
    /// directory (seeded from `from=` when new), an empty tmpfs directory or a secret's file.
    /// `None`: an optional secret that was not given.
    fn materialize_mount(
        &self,
        planned: &PlannedMount<'_>,
        backing: &mut Vec<MountBacking>,
    ) -> Result<Option<StepMount>, BuildError> {
        let setup =
            |e: String| BuildError::Setup(format!("RUN --mount target {}: {e}", planned.target));
        let scratch = self.scratch.join("mounts");
        std::fs::create_dir_all(&scratch).map_err(|e| setup(e.to_string()))?;
        let private_dir = || {
            tempfile::Builder::new()
                .prefix("mount-")
                .tempdir_in(&scratch)
                .map_err(|e| setup(e.to_string()))
        };
        let mount = &planned.mount;
        let source = match mount.kind {
            MountType::Secret => {
                let Some(value) = &planned.secret else {
                    return Ok(None);
                };
                let dir = private_dir()?;
                let file = dir.path().join("secret");
                std::fs::write(&file, value).map_err(|e| setup(e.to_string()))?;
                backing.push(MountBacking::Dir(dir));
                file
            }
            MountType::Tmpfs => {
                let dir = private_dir()?;
                let path = dir.path().to_path_buf();
                backing.push(MountBacking::Dir(dir));
                path
            }
            MountType::Cache => {
                let id = match mount.cache_id.as_str() {
                    "" => planned.target.as_str(),
                    id => id,
                };
                let caches = run_mounts::CacheMounts::new(self.store.root().join("cache-mounts"));
                let lease = caches
                    .acquire(id, &mount.sharing, &scratch)
                    .map_err(|e| setup(format!("cache {id:?}: {e}")))?;
                if let (true, Some((tree, rel))) = (lease.created, &planned.tree) {
                    self.copy_mount_tree(
                        tree,
                        rel,
                        &lease.path,
                        run_mounts::CopyMode::Copy,
                        backing,
                    )?;
                }
                let path = lease.path.clone();
                backing.push(MountBacking::Cache(lease));
                path
            }
            MountType::Bind => {
                let (tree, rel) = planned.tree.as_ref().expect("bind mounts have a tree");
                let dir = private_dir()?;
                let dest = dir.path().join("m");
                let mode = match mount.read_only {
                    true => run_mounts::CopyMode::LinkOrCopy,
                    false => run_mounts::CopyMode::Copy,
                };
                self.copy_mount_tree(tree, rel, &dest, mode, backing)?;
                backing.push(MountBacking::Dir(dir));
                dest
            }
            MountType::Ssh => unreachable!("refused when planned"),
        };
        Ok(Some(StepMount {
            source,
            target: planned.target.clone(),
            read_only: mount.read_only,
        }))
    }

    /// Copies `rel` of a mount's source tree to `dest`.
    fn copy_mount_tree(
        &self,
        tree: &MountTree<'_>,
        rel: &str,
        dest: &std::path::Path,
        mode: run_mounts::CopyMode,
        backing: &mut Vec<MountBacking>,
    ) -> Result<(), BuildError> {
        let no_filter = NoFilter;
        let (root, filter): (PathBuf, &dyn PathFilter) = match tree {
            MountTree::Context => (self.request.context.clone(), self.ignore),
            MountTree::Stage(state) => {
                let files = self.stage_files(state)?;
                let root = files.path().to_path_buf();
                backing.push(MountBacking::Stage(files));
                (root, &no_filter)
            }
            MountTree::Image(state) => {
                let files = self.stage_files(state)?;
                let root = files.path().to_path_buf();
                backing.push(MountBacking::Stage(files));
                (root, &no_filter)
            }
        };
        let source = SourceTree::new(root, "the mount's source", filter);
        run_mounts::copy_tree(&source, rel, Some(dest), mode)
            .map(drop)
            .map_err(|e| BuildError::Setup(format!("RUN --mount source {rel:?}: {e}")))
    }

    /// An image named by `COPY --from` or `RUN --mount=from=` as a stage state (its files are
    /// unpacked when first needed), with its manifest digest.
    fn image_state(&self, reference: &str) -> Result<(StageState, String), BuildError> {
        let base = resolve_base(self.store, reference, self.platform)
            .map_err(|e| BuildError::Setup(e.to_string()))?;
        let state = StageState {
            config: base.config,
            layers: base.layers,
            flavor: base.flavor,
            base_history: 0,
            files: Rc::new(RefCell::new(None)),
            step_layer_time: None,
            newest_layer_time: None,
        };
        Ok((state, base.manifest_digest.to_string()))
    }

    /// The files a `COPY --from` of `sources` needs: only the top layers down to the lowest
    /// one that settles every source ([`layer_pick`]), unpacked for this copy; or, when that is
    /// every layer, the whole stage or image, unpacked once per build and kept.
    fn files_for_copy(
        &self,
        source: &StageState,
        sources: &[String],
    ) -> Result<Rc<tempfile::TempDir>, BuildError> {
        if let Some(dir) = source.files.borrow().as_ref() {
            return Ok(dir.clone());
        }
        let lowest = layer_pick::lowest_needed_layer(sources, source.layers.len(), |i| {
            let layer = &source.layers[i];
            let blob = self.open_layer(layer)?;
            let (entries, _) = crate::layer::reader::list_layer(blob).map_err(|e| {
                BuildError::Setup(format!("reading layer {}: {e}", layer.descriptor.digest()))
            })?;
            Ok(entries)
        })?;
        if lowest == 0 {
            return self.stage_files(source);
        }
        Ok(Rc::new(self.flatten(&source.layers[lowest..])?))
    }

    /// The files of a stage (or image), unpacked once per build into a scratch directory by
    /// flattening its layers with whiteouts applied.
    fn stage_files(&self, source: &StageState) -> Result<Rc<tempfile::TempDir>, BuildError> {
        if let Some(dir) = source.files.borrow().as_ref() {
            return Ok(dir.clone());
        }
        let dir = Rc::new(self.flatten(&source.layers)?);
        *source.files.borrow_mut() = Some(dir.clone());
        Ok(dir)
    }

    /// A layer's blob, fetched into the store first when it lives elsewhere.
    fn open_layer(&self, layer: &ImageLayer) -> Result<std::fs::File, BuildError> {
        let setup = |m: String| BuildError::Setup(m);
        let path = layer
            .home
            .ensure_in_store(self.store, &layer.descriptor)
            .map_err(|e| setup(format!("fetching layer {}: {e}", layer.descriptor.digest())))?;
        crate::layer::unpack::open_blob(&path)
            .map_err(|e| setup(format!("opening layer {}: {e}", layer.descriptor.digest())))
    }

    /// Unpacks `layers` (bottom first) into a fresh scratch directory, applying whiteouts.
    fn flatten(&self, layers: &[ImageLayer]) -> Result<tempfile::TempDir, BuildError> {
        let setup = |m: String| BuildError::Setup(m);
        let dir = tempfile::Builder::new()
            .prefix("stage-")
            .tempdir_in(&self.scratch)
            .map_err(|e| setup(format!("creating a scratch directory: {e}")))?;
        for layer in layers {
            let blob = self.open_layer(layer)?;
            crate::layer::unpack::unpack_with(
                blob,
                dir.path(),
                UnpackOptions {
                    filter: UnpackFilter::WindowsFiles,
                    apply_whiteouts: true,
                },
            )
            .map_err(|e| {
                setup(format!(
                    "unpacking layer {}: {e}",
                    layer.descriptor.digest()
                ))
            })?;
        }
        Ok(dir)
    }

    /// Runs one RUN step's process in a fresh sandbox on `target`'s layers and commits what it
    /// changed.
    fn run_in_sandbox(
        &mut self,
        target: SandboxTarget<'_>,
        process: &ProcessSpec,
        step: usize,
        failure: RunFailure,
    ) -> Result<ChangeSet, BuildError> {
        let setup = |m: String| BuildError::Setup(m);
        let mut layer_refs = Vec::with_capacity(target.layers.len());
        for layer in target.layers {
            let blob_path = layer
                .home
                .ensure_in_store(self.store, &layer.descriptor)
                .map_err(|e| setup(format!("fetching layer {}: {e}", layer.descriptor.digest())))?;
            layer_refs.push(LayerRef {
                diff_id: layer.diff_id.to_string(),
                blob_path,
            });
        }
        let spec = SandboxSpec {
            layers: layer_refs,
            network: target.network,
            os_version: target.os_version,
            mounts: target.mounts,
        };
        let mut sandbox = self
            .runtime
            .prepare(&spec)
            .map_err(|e| setup(format!("{e:#}")))?;
        let mut output = StepOutput {
            progress: self.progress,
            step,
            pending: Vec::new(),
        };
        // A step the runtime refuses or cannot run is reported at its Dockerfile line.
        let status = sandbox
            .run(process, &mut output)
            .map_err(|e| BuildError::Step {
                file: failure.file.clone(),
                line: failure.line,
                text: failure.text.clone(),
                reason: format!("{e:#}"),
            });
        output.flush();
        let status = status?;
        if status.code != 0 {
            // Dropping the sandbox releases it; nothing of the step is committed.
            drop(sandbox);
            return Err(BuildError::RunFailed {
                file: failure.file,
                line: failure.line,
                text: failure.text,
                command: process.command_line.clone().unwrap_or_default(),
                code: status.code,
            });
        }
        // The runtime keeps what the change set's files point into until it is dropped (after
        // the build), so the layer can be written from them.
        sandbox
            .commit()
            .map_err(|e| setup(format!("committing the step's changes: {e:#}")))
    }

    fn finish_image(&mut self, mut state: StageState) -> Result<BuiltImage, BuildError> {
        let setup = |e: String| BuildError::Setup(e);
        for (k, v) in &self.request.labels {
            state.config.set_label(k, v);
        }
        state.config.config.on_build = state
            .config
            .config
            .on_build
            .take()
            .filter(|o| !o.is_empty());
        // Dated by its newest layer, so an unchanged (all cached) rebuild makes the same image;
        // a build that added no layer is dated now.
        let created = image::rfc3339(self.clamped(state.newest_layer_time.unwrap_or(self.now)));
        state.config.stamp_created(&created, state.base_history);
        let config_bytes = state.config.to_bytes();
        let config_digest = self
            .store
            .put_blob_bytes(&config_bytes)
            .map_err(|e| setup(e.to_string()))?;
        let config_descriptor = Descriptor::new(
            state.flavor.config_media_type(),
            config_bytes.len() as u64,
            config_digest,
        );
        let layer_descriptors: Vec<Descriptor> =
            state.layers.iter().map(|l| l.descriptor.clone()).collect();
        let manifest = image::build_manifest(&config_descriptor, &layer_descriptors, state.flavor)
            .map_err(|e| setup(e.to_string()))?;
        self.store
            .put_blob_bytes(&manifest.bytes)
            .map_err(|e| setup(e.to_string()))?;
        // The platform (os.version, os.features) goes into the index entry of multi-platform
        // builds (see `make_index`); OCI layouts and the store name the manifest itself.
        let manifest_descriptor = manifest.descriptor.clone();
        Ok(BuiltImage {
            config: state.config,
            config_descriptor,
            config_bytes,
            manifest_descriptor,
            manifest_bytes: manifest.bytes,
            layers: state.layers,
            flavor: state.flavor,
        })
    }
}

/// A file ADD downloaded, and the scratch directory that holds it.
type UrlDownload = (Downloaded, tempfile::TempDir);

/// `--checksum`, which needs exactly one source, an http(s) URL (as in BuildKit).
fn url_checksum(copy: &CopyStep, urls: &[String]) -> Result<Option<Checksum>, BuildError> {
    match copy.checksum.as_str() {
        "" => Ok(None),
        text if copy.sources.len() != 1 || urls.len() != 1 => Err(BuildError::Setup(format!(
            "--checksum={text} needs exactly one source, an http(s) URL"
        ))),
        text => Checksum::parse(text)
            .map(Some)
            .map_err(|e| BuildError::Setup(e.to_string())),
    }
}

/// Where a RUN step is, for its failure message.
struct RunFailure {
    file: String,
    line: usize,
    text: String,
}

/// An index (OCI) or manifest list (Docker) over the built images, stored in the store. Each
/// entry's platform carries the image's `os.version` and `os.features` (copied from its base).
/// Written as JSON by hand: oci-spec 0.8 would name those keys `os_version`/`os_features`.
fn make_index(store: &Store, images: &[BuiltImage]) -> Result<(Descriptor, Vec<u8>), BuildError> {
    let flavor = images[0].flavor;
    let media_type = match flavor {
        Flavor::Oci => MediaType::ImageIndex,
        Flavor::Docker => MediaType::Other(image::docker::MANIFEST_LIST.into()),
    };
    let manifests: Vec<serde_json::Value> = images
        .iter()
        .map(|image| {
            let mut platform = serde_json::json!({
                "architecture": if image.config.architecture.is_empty() { "amd64" } else { image.config.architecture.as_str() },
                "os": "windows",
            });
            if let Some(v) = &image.config.os_version {
                platform["os.version"] = serde_json::Value::from(v.clone());
            }
            if !image.config.os_features.is_empty() {
                platform["os.features"] = serde_json::Value::from(image.config.os_features.clone());
            }
            let d = &image.manifest_descriptor;
            serde_json::json!({
                "mediaType": d.media_type().to_string(),
                "digest": d.digest().to_string(),
                "size": d.size(),
                "platform": platform,
            })
        })
        .collect();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type.to_string(),
        "manifests": manifests,
    });
    let bytes = serde_json::to_vec(&index).expect("JSON values serialize");
    let digest = store
        .put_blob_bytes(&bytes)
        .map_err(|e| BuildError::Setup(e.to_string()))?;
    Ok((
        Descriptor::new(media_type, bytes.len() as u64, digest),
        bytes,
    ))
}

/// The path of a config WorkingDir relative to `C:\` with `/` separators (`\app` → `app`,
/// `C:\app` → `app`).
fn container_path(workdir: &str) -> String {
    let no_drive = match workdir.as_bytes() {
        [d, b':', ..] if d.is_ascii_alphabetic() => &workdir[2..],
        _ => workdir,
    };
    no_drive.replace('\\', "/").trim_matches('/').to_string()
}

/// The working directory a Windows process gets (`C:\app`).
fn windows_working_dir(workdir: &str) -> String {
    let path = container_path(workdir);
    if path.is_empty() {
        "C:\\".to_string()
    } else {
        format!("C:\\{}", path.replace('/', "\\"))
    }
}

/// Streams a step's output into progress, one prefixed line at a time.
struct StepOutput<'p> {
    progress: &'p Progress,
    step: usize,
    pending: Vec<u8>,
}

impl StepOutput<'_> {
    fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        while let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&line);
            self.progress
                .output(self.step, text.trim_end_matches(['\r', '\n']));
        }
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            self.progress.output(self.step, text.trim_end_matches('\r'));
            self.pending.clear();
        }
    }
}

impl OutputSink for StepOutput<'_> {
    fn stdout(&mut self, bytes: &[u8]) {
        self.push(bytes);
    }
    fn stderr(&mut self, bytes: &[u8]) {
        self.push(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_dirs_and_container_paths() {
        assert_eq!(container_path("\\app\\bin"), "app/bin");
        assert_eq!(container_path("C:\\app"), "app");
        assert_eq!(container_path("\\"), "");
        assert_eq!(windows_working_dir("\\app"), "C:\\app");
        assert_eq!(windows_working_dir(""), "C:\\");
    }
}
