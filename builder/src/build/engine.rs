//! The build engine: runs the stages a target needs, step by step, for each requested platform.
//!
//! A stage starts from its base (an image — read lazily, manifest and config only — or an earlier
//! stage) and applies its instructions in order. Metadata instructions change the config and add
//! an `empty_layer` history entry; COPY/ADD/WORKDIR build a [`ChangeSet`] directly, RUN gets one
//! from the [`Runtime`]; the layer codec turns it into a blob in the store. Before a layer step
//! runs, its cache key (parent chain, expanded instruction, input digests) is looked up; a hit
//! reuses the recorded layer. Nothing is written to the store but complete, verified blobs and
//! records; the image's refs are set only after the whole build succeeded (see `output`).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use oci_spec::image::{
    Arch, Descriptor, DescriptorBuilder, ImageIndexBuilder, MediaType, Os, PlatformBuilder,
};

use super::base::{resolve_base, BlobHome, ImageLayer, TargetPlatform};
use super::cache::{self, CachedLayer};
use super::config::{
    expose_history, go_plain_list, go_quoted_list, healthcheck_history, Healthcheck, ImageConfig,
};
use super::context::{BothFilters, NoFilter, PathFilter, SourceTree};
use super::copy::{plan_copy, CopyRequest};
use super::owner::resolve_chown;
use super::progress::Progress;
use super::steps::{self, Dockerfile, Instruction, Stage};
use crate::dockerfile::ast::Node;
use crate::dockerfile::dockerignore::{self, PatternMatcher};
use crate::dockerfile::shell::{Env, HostMode, Lexer};
use crate::dockerfile::winpath::{self, PathMode};
use crate::image::{self, Flavor};
use crate::layer::changeset::Timestamp;
use crate::layer::sd::Sid;
use crate::layer::writer::{LayerCompression, WriteOptions};
use crate::layer::{ChangeSet, Entry, EntryKind, FileMeta, UnpackFilter, UnpackOptions};
use crate::runtime::{LayerRef, NetworkMode, OutputSink, ProcessSpec, Runtime, SandboxSpec};
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
    pub network: NetworkMode,
    /// `--timeout` for each RUN step.
    pub run_timeout: Option<std::time::Duration>,
}

/// One built image (one platform).
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub config: ImageConfig,
    pub config_descriptor: Descriptor,
    pub config_bytes: Vec<u8>,
    /// The manifest's descriptor, with its platform (os.version, os.features) filled in.
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
    #[error("{0}")]
    Dockerfile(#[from] steps::DockerfileError),
    /// A step failed: where, what was written, why.
    #[error("{file}:{line}: {text}: {reason}")]
    Step {
        file: String,
        line: usize,
        text: String,
        reason: String,
    },
    /// A RUN step's process exited with a non-zero code.
    #[error(
        "{file}:{line}: {text}: process \"{command}\" did not complete successfully: exit code: {code}"
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
    let dockerfile = steps::from_ast(&file, &parsed.ast, parsed.escape_token)?;
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
    for platform in &request.platforms {
        let mut engine = Engine {
            store,
            runtime,
            progress: &mut *progress,
            request,
            dockerfile: &dockerfile,
            ignore: &ignore,
            epoch,
            now: epoch.unwrap_or_else(now_secs),
            platform,
            scratch: scratch.path().to_path_buf(),
            consumed_args: BTreeSet::new(),
            multi_platform: request.platforms.len() > 1,
        };
        images.push(engine.build_platform()?);
    }
    let index = if images.len() > 1 {
        Some(make_index(store, &images)?)
    } else {
        None
    };
    Ok(BuildResult { images, index })
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

/// The state of a stage while its instructions run.
#[derive(Clone)]
struct StageState {
    config: ImageConfig,
    layers: Vec<ImageLayer>,
    flavor: Flavor,
    /// How many history entries came from the base image (their times are kept as they were).
    base_history: usize,
    /// ENV and ARG values in the order they were set: what `$VAR` expands to and RUN sees.
    env: Env,
    /// This stage's ARGs (name, value) in order, for RUN history.
    args: Vec<(String, String)>,
    /// Whether CMD was set in this stage (ENTRYPOINT keeps it then).
    cmd_set: bool,
    /// The stage's files, unpacked when a later `COPY --from` needs them.
    files: Rc<RefCell<Option<Rc<tempfile::TempDir>>>>,
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
    dockerfile: &'a Dockerfile,
    ignore: &'a PatternMatcher,
    epoch: Option<i64>,
    now: i64,
    platform: &'a TargetPlatform,
    scratch: PathBuf,
    consumed_args: BTreeSet<String>,
    multi_platform: bool,
}

impl Engine<'_> {
    fn build_platform(&mut self) -> Result<BuiltImage, BuildError> {
        let df = self.dockerfile;
        let target = df
            .target(self.request.target.as_deref())
            .map_err(BuildError::Setup)?;
        let needed = df.needed_stages(target);
        let global = self.global_args(&df.stages[target])?;
        let mut built: BTreeMap<usize, StageState> = BTreeMap::new();
        for &index in &needed {
            let state = self.build_stage(&df.stages[index], &global, &built)?;
            built.insert(index, state);
        }
        let unused: Vec<&String> = self
            .request
            .build_args
            .keys()
            .filter(|k| !self.consumed_args.contains(*k) && !is_predefined_arg(k))
            .collect();
        if !unused.is_empty() {
            self.progress.warn(&format!(
                "one or more build-args {unused:?} were not consumed"
            ));
        }
        let state = built.remove(&target).expect("the target stage was built");
        self.finish_image(state)
    }

    fn lexer(&self) -> Lexer {
        Lexer::new(self.dockerfile.escape)
    }

    /// The automatic platform args plus the meta ARGs before the first FROM.
    fn global_args(&mut self, target: &Stage) -> Result<Env, BuildError> {
        let mut env = Env::new(HostMode::Linux);
        let build_arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        let build_os = std::env::consts::OS;
        let target_version = self.platform.os_version.clone().unwrap_or_default();
        for (k, v) in [
            ("BUILDPLATFORM", format!("{build_os}/{build_arch}")),
            ("BUILDOS", build_os.to_string()),
            ("BUILDARCH", build_arch.to_string()),
            ("BUILDVARIANT", String::new()),
            ("TARGETPLATFORM", "windows/amd64".to_string()),
            ("TARGETOS", "windows".to_string()),
            ("TARGETOSVERSION", target_version),
            ("TARGETARCH", "amd64".to_string()),
            ("TARGETVARIANT", String::new()),
            ("TARGETSTAGE", target.display_name()),
        ] {
            let value = self.request.build_args.get(k).cloned().unwrap_or(v);
            env.set(k, &value);
        }
        for ins in &self.dockerfile.meta_args {
            for (key, value) in self.arg_values(ins, &env, &env)? {
                if let Some(value) = value {
                    env.set(&key, &value);
                }
            }
        }
        Ok(env)
    }

    /// The (name, value) pairs an ARG instruction defines: `--build-arg` wins, else the default
    /// expanded with `env`, else (no default) the global value.
    fn arg_values(
        &mut self,
        ins: &Instruction,
        env: &Env,
        global: &Env,
    ) -> Result<Vec<(String, Option<String>)>, BuildError> {
        if ins.args.is_empty() {
            return Err(self.step_error(ins, "ARG requires at least one argument".into()));
        }
        let mut out = Vec::new();
        for word in &ins.args {
            let (key, default) = match word.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (word.clone(), None),
            };
            let value = if let Some(v) = self.request.build_args.get(&key) {
                self.consumed_args.insert(key.clone());
                Some(v.clone())
            } else if let Some(default) = default {
                Some(
                    self.lexer()
                        .process_word(&default, env)
                        .map_err(|e| self.step_error(ins, e.to_string()))?,
                )
            } else {
                global.get(&key).map(str::to_string)
            };
            out.push((key, value));
        }
        Ok(out)
    }

    fn step_error(&self, ins: &Instruction, reason: String) -> BuildError {
        BuildError::Step {
            file: self.dockerfile.file.clone(),
            line: ins.line(),
            text: ins.text(),
            reason,
        }
    }

    fn stage_error(&self, stage: &Stage, reason: String) -> BuildError {
        BuildError::Step {
            file: self.dockerfile.file.clone(),
            line: stage.line,
            text: stage.from_text.clone(),
            reason,
        }
    }

    /// `[stage 2/5] ` (BuildKit's progress prefix; the stage name only with several stages).
    fn step_label(&self, stage: &Stage, number: usize, total: usize, text: &str) -> String {
        let mut label = String::from("[");
        if self.multi_platform {
            if let Some(v) = &self.platform.os_version {
                label.push_str(&format!("windows/amd64:{v} "));
            }
        }
        if self.dockerfile.stages.len() > 1 {
            label.push_str(&stage.display_name());
            label.push(' ');
        }
        label.push_str(&format!("{number}/{total}] {text}"));
        label
    }

    fn build_stage(
        &mut self,
        stage: &Stage,
        global: &Env,
        built: &BTreeMap<usize, StageState>,
    ) -> Result<StageState, BuildError> {
        let base_name = self
            .lexer()
            .process_word(&stage.base, global)
            .map_err(|e| self.stage_error(stage, e.to_string()))?;
        if base_name.is_empty() {
            return Err(self.stage_error(
                stage,
                format!("base name ({}) should not be blank", stage.base),
            ));
        }
        let layer_steps = stage
            .instructions
            .iter()
            .filter(|i| matches!(i.keyword.as_str(), "COPY" | "ADD" | "RUN" | "WORKDIR"))
            .count();
        let from_stage = self.dockerfile.stage_ref(&base_name, stage.index);
        let total = layer_steps + usize::from(from_stage.is_none());
        let mut number = 0;
        let (mut state, onbuild) = match from_stage {
            Some(i) => {
                let mut state = built
                    .get(&i)
                    .cloned()
                    .expect("stages are built before the stages that use them");
                state.cmd_set = false;
                state.args.clear();
                state.files = Rc::new(RefCell::new(None));
                // ONBUILD does not carry over from a stage base, but its ONBUILD lines run.
                let triggers: Vec<String> = self.dockerfile.stages[i]
                    .instructions
                    .iter()
                    .filter(|ins| ins.keyword == "ONBUILD")
                    .map(onbuild_expression)
                    .collect();
                state.config.config.on_build = None;
                (state, triggers)
            }
            None => {
                number += 1;
                let step = self.progress.begin(self.step_label(
                    stage,
                    number,
                    total,
                    &format!("FROM {base_name}"),
                ));
                let base = resolve_base(self.store, &base_name, self.platform)
                    .map_err(|e| self.stage_error(stage, e.to_string()))?;
                self.progress
                    .output(step.number, &format!("resolved {}", base.manifest_digest));
                self.progress.finish(step, false, None);
                let mut env = Env::new(HostMode::Linux);
                for entry in base.config.env() {
                    let (k, v) = entry.split_once('=').unwrap_or((entry, ""));
                    env.set(k, v);
                }
                let mut config = base.config;
                let triggers = config.config.on_build.take().unwrap_or_default();
                let base_history = config.history.len();
                (
                    StageState {
                        config,
                        layers: base.layers,
                        flavor: base.flavor,
                        base_history,
                        env,
                        args: Vec::new(),
                        cmd_set: false,
                        files: Rc::new(RefCell::new(None)),
                    },
                    triggers,
                )
            }
        };
        let mut instructions = Vec::new();
        for trigger in &onbuild {
            instructions.push(self.parse_trigger(stage, trigger)?);
        }
        instructions.extend(stage.instructions.iter().cloned());
        for ins in &instructions {
            let layered = matches!(ins.keyword.as_str(), "COPY" | "ADD" | "RUN" | "WORKDIR");
            if layered {
                number += 1;
            }
            let label = self.step_label(stage, number, total.max(number), &ins.text());
            self.dispatch(stage, &mut state, ins, global, built, label)?;
        }
        Ok(state)
    }

    /// An ONBUILD trigger of the base, parsed as an instruction at the stage's FROM line.
    fn parse_trigger(&self, stage: &Stage, trigger: &str) -> Result<Instruction, BuildError> {
        // Parsed behind a FROM so the trigger lands in a stage like any instruction.
        let text = format!("FROM scratch\n{trigger}\n");
        let parsed = crate::dockerfile::parse(text.as_bytes())
            .map_err(|e| self.stage_error(stage, format!("ONBUILD trigger {trigger:?}: {e}")))?;
        let mut df = steps::from_ast(&self.dockerfile.file, &parsed.ast, parsed.escape_token)?;
        if df.stages[0].instructions.len() != 1 {
            return Err(self.stage_error(
                stage,
                format!("onbuild trigger {trigger:?} should be a single expression"),
            ));
        }
        let mut ins = df.stages[0].instructions.pop().ok_or_else(|| {
            self.stage_error(
                stage,
                "onbuild trigger should be a single expression".into(),
            )
        })?;
        ins.node.start_line = stage.line;
        ins.node.end_line = stage.line;
        ins.node.original = format!("ONBUILD {trigger}");
        Ok(ins)
    }

    fn dispatch(
        &mut self,
        stage: &Stage,
        state: &mut StageState,
        ins: &Instruction,
        global: &Env,
        built: &BTreeMap<usize, StageState>,
        label: String,
    ) -> Result<(), BuildError> {
        let lexer = self.lexer();
        let expand = |word: &str, env: &Env| -> Result<String, BuildError> {
            lexer
                .process_word(word, env)
                .map_err(|e| self.step_error(ins, e.to_string()))
        };
        match ins.keyword.as_str() {
            "ARG" => {
                let values = self.arg_values(ins, &state.env, global)?;
                let mut texts = Vec::new();
                for (key, value) in values {
                    match &value {
                        Some(v) => {
                            state.env.set(&key, v);
                            texts.push(format!("{key}={v}"));
                        }
                        None => texts.push(key.clone()),
                    }
                    state.args.retain(|(k, _)| *k != key);
                    if let Some(v) = value {
                        state.args.push((key, v));
                    }
                }
                state
                    .config
                    .push_history(format!("ARG {}", texts.join(" ")), false, false, None);
            }
            "ENV" | "LABEL" => {
                let pairs = key_value_pairs(&ins.node);
                if pairs.is_empty() {
                    return Err(self.step_error(
                        ins,
                        format!("{} requires at least one argument", ins.keyword),
                    ));
                }
                // Every value sees the environment from before this instruction.
                let before = state.env.clone();
                let mut texts = Vec::new();
                for (k, v) in pairs {
                    let key = expand(&k, &before)?;
                    let value = expand(&v, &before)?;
                    texts.push(format!("{key}={value}"));
                    if ins.keyword == "ENV" {
                        state.env.set(&key, &value);
                        state.config.set_env(&key, &value);
                    } else {
                        state.config.set_label(&key, &value);
                    }
                }
                let text = format!("{} {}", ins.keyword, texts.join(" "));
                state.config.push_history(text, false, false, None);
            }
            "EXPOSE" => {
                let mut ports = Vec::new();
                for word in &ins.args {
                    for port in lexer
                        .process_words(word, &state.env)
                        .map_err(|e| self.step_error(ins, e.to_string()))?
                    {
                        let port = if port.contains('/') {
                            port.to_lowercase()
                        } else {
                            format!("{port}/tcp")
                        };
                        state.config.expose(&port);
                        ports.push(port);
                    }
                }
                state
                    .config
                    .push_history(expose_history(&ports), false, false, None);
            }
            "VOLUME" => {
                let mut volumes = Vec::new();
                for word in &ins.args {
                    let v = expand(word, &state.env)?;
                    if v.is_empty() {
                        return Err(self.step_error(
                            ins,
                            "VOLUME specified can not be an empty string".into(),
                        ));
                    }
                    state.config.add_volume(&v);
                    volumes.push(v);
                }
                state.config.push_history(
                    format!("VOLUME {}", go_plain_list(&volumes)),
                    false,
                    false,
                    None,
                );
            }
            "USER" => {
                let user = expand(&ins.args.join(" "), &state.env)?;
                state.config.config.user = Some(user.clone());
                state
                    .config
                    .push_history(format!("USER {user}"), false, false, None);
            }
            "MAINTAINER" => {
                let who = ins.args.join(" ");
                state.config.author = Some(who.clone());
                state
                    .config
                    .push_history(format!("MAINTAINER {who}"), false, false, None);
            }
            "STOPSIGNAL" => {
                let signal = expand(&ins.args.join(" "), &state.env)?;
                self.progress.warn(&format!(
                    "{}:{}: STOPSIGNAL has no effect on Windows containers (they get CTRL_SHUTDOWN_EVENT); \
                     recorded in the config anyway",
                    self.dockerfile.file,
                    ins.line()
                ));
                state.config.config.stop_signal = Some(signal.clone());
                state
                    .config
                    .push_history(format!("STOPSIGNAL {signal}"), false, false, None);
            }
            "SHELL" => {
                if !ins.node.json || ins.args.is_empty() {
                    return Err(self.step_error(
                        ins,
                        "SHELL requires the arguments to be in JSON form, e.g. SHELL [\"powershell\", \"-Command\"]".into(),
                    ));
                }
                state.config.config.shell = Some(ins.args.clone());
                state.config.push_history(
                    format!("SHELL {}", go_plain_list(&ins.args)),
                    false,
                    false,
                    None,
                );
            }
            "CMD" | "ENTRYPOINT" => {
                let args = if ins.node.json {
                    ins.args.clone()
                } else {
                    state.config.with_shell(&ins.args)
                };
                let text = format!("{} {}", ins.keyword, go_quoted_list(&args));
                if ins.keyword == "CMD" {
                    state.config.set_cmd(args);
                    state.cmd_set = true;
                } else {
                    state.config.set_entrypoint(args, state.cmd_set);
                }
                state.config.push_history(text, false, false, None);
            }
            "HEALTHCHECK" => {
                let health = self.healthcheck(ins, &state.config)?;
                let text = healthcheck_history(&health);
                state.config.config.healthcheck = Some(health);
                state.config.push_history(text, false, false, None);
            }
            "ONBUILD" => {
                let expression = onbuild_expression(ins);
                let keyword = expression
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                if matches!(keyword.as_str(), "ONBUILD" | "FROM" | "MAINTAINER" | "") {
                    return Err(self.step_error(
                        ins,
                        format!("{keyword} isn't allowed as an ONBUILD trigger"),
                    ));
                }
                state
                    .config
                    .config
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(expression);
            }
            "WORKDIR" => {
                let requested = expand(&ins.args.join(" "), &state.env)?;
                let current = state.config.config.working_dir.clone().unwrap_or_default();
                let workdir =
                    winpath::normalize_workdir(self.request.path_mode, &current, &requested)
                        .map_err(|e| self.step_error(ins, e.to_string()))?;
                state.config.config.working_dir = Some(workdir.clone());
                let path = container_path(&workdir);
                let slash = format!("/{path}");
                if path.is_empty() {
                    state
                        .config
                        .push_history(format!("WORKDIR {slash}"), false, false, None);
                    return Ok(());
                }
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
                let user = state.config.config.user.clone().unwrap_or_default();
                let owner = match user.as_str() {
                    "" => None,
                    u => resolve_chown(u).ok(),
                };
                let key_text = format!("WORKDIR {slash} owner={owner:?}");
                let step = self.progress.begin(label);
                let outcome = self.layer_step(state, &key_text, "", owner, |_| Ok(changes));
                self.end_step(step, ins, outcome, state, format!("WORKDIR {slash}"), false)?;
            }
            "COPY" | "ADD" => {
                let step = self.progress.begin(label);
                let result = self.copy(stage, state, ins, built);
                match result {
                    Ok((outcome, history)) => {
                        self.end_step(step, ins, Ok(outcome), state, history, true)?
                    }
                    Err(e) => {
                        self.progress.fail(step, &e.to_string());
                        return Err(e);
                    }
                }
            }
            "RUN" => {
                let step = self.progress.begin(label);
                let number = step.number;
                match self.run(state, ins, number) {
                    Ok((outcome, history)) => {
                        self.end_step(step, ins, Ok(outcome), state, history, true)?
                    }
                    Err(e) => {
                        self.progress.fail(step, &e.to_string());
                        return Err(e);
                    }
                }
            }
            other => {
                return Err(self.step_error(ins, format!("unknown instruction: {other}")));
            }
        }
        Ok(())
    }

    /// Closes a layer step: progress, history.
    fn end_step(
        &mut self,
        step: super::progress::Step,
        ins: &Instruction,
        outcome: Result<LayerOutcome, BuildError>,
        state: &mut StageState,
        history: String,
        buildkit_suffix: bool,
    ) -> Result<(), BuildError> {
        match outcome {
            Ok(LayerOutcome::Cached(size)) => self.progress.finish(step, true, Some(size)),
            Ok(LayerOutcome::Built(size)) => self.progress.finish(step, false, Some(size)),
            Err(e) => {
                self.progress.fail(step, &e.to_string());
                return Err(match e {
                    BuildError::Setup(reason) => self.step_error(ins, reason),
                    other => other,
                });
            }
        }
        state
            .config
            .push_history(history, true, buildkit_suffix, None);
        Ok(())
    }

    /// The time new entries get: `SOURCE_DATE_EPOCH`, else now.
    fn layer_time(&self) -> Timestamp {
        Timestamp {
            secs: self.now,
            nanos: 0,
        }
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
        let key = cache::step_key(
            &cache::chain_id(&diff_ids),
            &format!("{instruction}\nflavor={:?}", state.flavor),
            inputs,
        );
        let store_err = |e: crate::store::StoreError| BuildError::Setup(e.to_string());
        if !self.request.no_cache {
            if let Some(hit) = cache::lookup(self.store, &key).map_err(store_err)? {
                let size = hit.descriptor.size();
                self.add_layer(state, hit);
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
            base_layer: false,
        };
        let stored =
            crate::layer::write_layer_to_store(self.store, &changes, &options, state.flavor)
                .map_err(|e| BuildError::Setup(format!("writing the layer: {e}")))?;
        let layer = CachedLayer {
            descriptor: stored.descriptor,
            diff_id: stored.digests.diff_id,
        };
        cache::remember(self.store, &key, &layer).map_err(store_err)?;
        let size = layer.descriptor.size();
        self.add_layer(state, layer);
        Ok(LayerOutcome::Built(size))
    }

    fn add_layer(&self, state: &mut StageState, layer: CachedLayer) {
        state.config.push_layer(layer.diff_id.as_ref());
        state.layers.push(ImageLayer {
            descriptor: layer.descriptor,
            diff_id: layer.diff_id,
            home: BlobHome::Store,
        });
        state.files = Rc::new(RefCell::new(None));
    }

    fn healthcheck(
        &self,
        ins: &Instruction,
        config: &ImageConfig,
    ) -> Result<Healthcheck, BuildError> {
        let err = |m: String| self.step_error(ins, m);
        let kind = ins
            .args
            .first()
            .map(|s| s.to_ascii_uppercase())
            .unwrap_or_default();
        let mut health = Healthcheck::default();
        match kind.as_str() {
            "NONE" => {
                if ins.args.len() > 1 {
                    return Err(err("HEALTHCHECK NONE takes no arguments".into()));
                }
                health.test = vec!["NONE".into()];
                return Ok(health);
            }
            "CMD" => {
                let rest = &ins.args[1..];
                if rest.is_empty() {
                    return Err(err("Missing command after HEALTHCHECK CMD".into()));
                }
                health.test = if ins.node.json {
                    std::iter::once("CMD".to_string())
                        .chain(rest.iter().cloned())
                        .collect()
                } else {
                    let _ = config;
                    vec!["CMD-SHELL".to_string(), rest.join(" ")]
                };
            }
            other => {
                return Err(err(format!(
                    "Unknown type {other:?} in HEALTHCHECK (try CMD)"
                )));
            }
        }
        let duration = |name: &str| -> Result<i64, BuildError> {
            match ins.flags.get(name) {
                None => Ok(0),
                Some(v) => {
                    let d = parse_go_duration(v).ok_or_else(|| {
                        err(format!(
                            "--{name}: invalid duration {v:?} (use e.g. 30s, 1m30s, 500ms)"
                        ))
                    })?;
                    if d != 0 && d < 1_000_000 {
                        return Err(err(format!("Interval {name:?} cannot be less than 1ms")));
                    }
                    Ok(d)
                }
            }
        };
        health.interval = duration("interval")?;
        health.timeout = duration("timeout")?;
        health.start_period = duration("start-period")?;
        health.start_interval = duration("start-interval")?;
        if let Some(r) = ins.flags.get("retries") {
            let n: i64 = r
                .parse()
                .map_err(|_| err(format!("--retries: {r:?} is not a number")))?;
            if n < 0 {
                return Err(err("--retries cannot be negative".into()));
            }
            health.retries = n;
        }
        Ok(health)
    }

    /// COPY and ADD. Returns the outcome and the history text.
    fn copy(
        &mut self,
        stage: &Stage,
        state: &mut StageState,
        ins: &Instruction,
        built: &BTreeMap<usize, StageState>,
    ) -> Result<(LayerOutcome, String), BuildError> {
        let lexer = self.lexer();
        let err = |m: String| self.step_error(ins, m);
        if ins.args.len() < 2 && ins.node.heredocs.is_empty() {
            return Err(err(format!(
                "{} requires at least two arguments",
                ins.keyword
            )));
        }
        if ins.flags.get("chmod").is_some() {
            self.progress.warn(&format!(
                "{}:{}: --chmod is ignored for Windows images (Windows files have ACLs, not modes)",
                self.dockerfile.file,
                ins.line()
            ));
        }
        for unsupported in ["keep-git-dir"] {
            if ins.flags.is_set(unsupported) {
                return Err(err(format!(
                    "--{unsupported} is not supported by silo (no git sources)"
                )));
            }
        }
        let (raw_sources, raw_dest) = ins.args.split_at(ins.args.len() - 1);
        let dest_text = lexer
            .process_word(&raw_dest[0], &state.env)
            .map_err(|e| err(e.to_string()))?;
        let mut sources = Vec::new();
        let mut heredocs = Vec::new();
        let mut history_sources = Vec::new();
        let mut remaining_heredocs = ins.node.heredocs.iter();
        for raw in raw_sources {
            if raw.starts_with("<<") {
                let Some(doc) = remaining_heredocs.next() else {
                    return Err(err(format!("heredoc {raw} has no body")));
                };
                let content = if doc.expand {
                    let mut heredoc_lexer = Lexer::new('\\');
                    heredoc_lexer.skip_process_quotes = true;
                    heredoc_lexer
                        .process_word(&doc.content, &state.env)
                        .map_err(|e| err(e.to_string()))?
                } else {
                    doc.content.clone()
                };
                history_sources.push(format!("<<{}", doc.name));
                heredocs.push((doc.name.clone(), content.into_bytes()));
                continue;
            }
            let source = lexer
                .process_word(raw, &state.env)
                .map_err(|e| err(e.to_string()))?;
            if source.starts_with("http://") || source.starts_with("https://") {
                return Err(err(if ins.keyword == "ADD" {
                    format!("ADD {source}: downloading URLs is not supported by this silo build yet; download it into the build context and ADD/COPY the file")
                } else {
                    format!("COPY {source}: source can't be a URL for COPY")
                }));
            }
            if source.starts_with("git@") || source.ends_with(".git") {
                return Err(err(format!(
                    "{source}: git sources are not supported by silo"
                )));
            }
            history_sources.push(source.clone());
            sources.push(source);
        }
        let workdir = state.config.config.working_dir.clone().unwrap_or_default();
        let dest = match self.request.path_mode {
            PathMode::BuildKit => {
                winpath::normalize_copy_dest(PathMode::BuildKit, &workdir, &dest_text)
            }
            PathMode::Classic => {
                winpath::normalize_copy_dest(PathMode::Classic, &workdir, &dest_text)
                    .map(|d| format!("/{}", d.replace('\\', "/").trim_start_matches('/')))
            }
        }
        .map_err(|e| err(e.to_string()))?;
        let owner = match ins.flags.get("chown") {
            Some(chown) => {
                let chown = lexer
                    .process_word(chown, &state.env)
                    .map_err(|e| err(e.to_string()))?;
                Some(resolve_chown(&chown).map_err(|e| err(e.to_string()))?)
            }
            None => None,
        };
        let excludes: Vec<String> = ins
            .flags
            .all("exclude")
            .iter()
            .map(|p| {
                lexer
                    .process_word(p, &state.env)
                    .map_err(|e| err(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        let exclude_matcher =
            PatternMatcher::new(&excludes).map_err(|e| err(format!("--exclude: {e}")))?;
        let unpack = ins.keyword == "ADD" && ins.flags.get("unpack").is_none_or(|v| v != "false");
        if let Some(checksum) = ins.flags.get("checksum") {
            return Err(err(format!(
                "--checksum={checksum} applies to ADD of URLs, which this silo build cannot download yet"
            )));
        }
        let request = CopyRequest {
            sources,
            heredocs,
            dest: dest.clone(),
            parents: ins.flags.is_set("parents"),
            owner: owner.clone(),
            unpack_archives: unpack,
            epoch: self.epoch,
        };

        // Where the sources come from: the context, an earlier stage or an image.
        let from = ins.flags.get("from").map(str::to_string);
        let (tree_root, display, from_key, use_ignore) = match &from {
            None => (
                self.request.context.clone(),
                format!("the build context {}", self.request.context.display()),
                "context".to_string(),
                true,
            ),
            Some(reference) => {
                if reference.contains('$') {
                    return Err(err("variable expansion is not supported for --from".into()));
                }
                let (files, what) = match self.dockerfile.stage_ref(reference, stage.index) {
                    Some(i) => {
                        let source = built.get(&i).ok_or_else(|| {
                            err(format!("cannot copy from stage {reference:?}, it needs to be defined before the current stage"))
                        })?;
                        (self.stage_files(source)?, format!("stage {reference}"))
                    }
                    None => {
                        let base = resolve_base(self.store, reference, self.platform)
                            .map_err(|e| err(e.to_string()))?;
                        let source = StageState {
                            config: base.config,
                            layers: base.layers,
                            flavor: base.flavor,
                            base_history: 0,
                            env: Env::new(HostMode::Linux),
                            args: Vec::new(),
                            cmd_set: false,
                            files: Rc::new(RefCell::new(None)),
                        };
                        (self.stage_files(&source)?, format!("image {reference}"))
                    }
                };
                let root = files.path().to_path_buf();
                // Keep the unpacked tree alive for the step (it is owned by the state).
                (root, what, format!("from {reference}"), false)
            }
        };
        let no_filter = NoFilter;
        let context_filter: &dyn PathFilter = if use_ignore { self.ignore } else { &no_filter };
        let filter = BothFilters(context_filter, &exclude_matcher);
        let tree = SourceTree::new(tree_root, display, &filter);
        let plan = plan_copy(&tree, &request, &self.scratch.join("add"))
            .map_err(|e| err(e.to_string()))?;
        let history = format!(
            "{} {} {}",
            ins.keyword,
            history_sources.join(" "),
            dest_text
        );
        let key_text = format!(
            "{} {:?} -> {dest} parents={} unpack={} owner={owner:?} {from_key}",
            ins.keyword, request.sources, request.parents, unpack
        );
        let changes = plan.changes;
        let scratch_dirs = plan.scratch;
        let outcome = self.layer_step(state, &key_text, &plan.input_digest, owner, move |_| {
            Ok(changes)
        });
        drop(scratch_dirs);
        Ok((outcome?, history))
    }

    /// The files of a stage (or image), unpacked once per build into a scratch directory by
    /// flattening its layers with whiteouts applied.
    fn stage_files(&self, source: &StageState) -> Result<Rc<tempfile::TempDir>, BuildError> {
        if let Some(dir) = source.files.borrow().as_ref() {
            return Ok(dir.clone());
        }
        let setup = |m: String| BuildError::Setup(m);
        let dir = tempfile::Builder::new()
            .prefix("stage-")
            .tempdir_in(&self.scratch)
            .map_err(|e| setup(format!("creating a scratch directory: {e}")))?;
        for layer in &source.layers {
            let path = layer
                .home
                .ensure_in_store(self.store, &layer.descriptor)
                .map_err(|e| setup(format!("fetching layer {}: {e}", layer.descriptor.digest())))?;
            let blob = crate::layer::unpack::open_blob(&path)
                .map_err(|e| setup(format!("opening layer {}: {e}", layer.descriptor.digest())))?;
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
        let dir = Rc::new(dir);
        *source.files.borrow_mut() = Some(dir.clone());
        Ok(dir)
    }

    /// RUN. Returns the outcome and the history text.
    fn run(
        &mut self,
        state: &mut StageState,
        ins: &Instruction,
        step_number: usize,
    ) -> Result<(LayerOutcome, String), BuildError> {
        let err = |m: String| self.step_error(ins, m);
        if !ins.flags.all("mount").is_empty() {
            return Err(err("RUN --mount is not supported by silo yet".into()));
        }
        if ins.flags.get("security").is_some() || !ins.flags.all("device").is_empty() {
            return Err(err(
                "RUN --security and --device do not apply to Windows containers".into(),
            ));
        }
        let network = match ins.flags.get("network") {
            None | Some("default") => self.request.network,
            Some("none") => NetworkMode::None,
            Some("host") => NetworkMode::Host,
            Some(other) => {
                return Err(err(format!(
                    "--network={other}: expected default, none or host"
                )))
            }
        };
        if ins.args.is_empty() {
            return Err(err("RUN requires at least one argument".into()));
        }
        let words: Vec<String> = match ins.node.heredocs.as_slice() {
            [] => ins.args.clone(),
            // One heredoc: its body is the script, run by the shell (Windows has no #!).
            [doc] if ins.args.len() == 1 && ins.args[0].trim_start().starts_with("<<") => {
                vec![doc.content.clone()]
            }
            docs => {
                let mut text = ins.args.join(" ");
                for doc in docs {
                    text.push('\n');
                    text.push_str(&doc.content);
                    text.push_str(&doc.name);
                }
                vec![text]
            }
        };
        let args = if ins.node.json && ins.node.heredocs.is_empty() {
            words
        } else {
            state.config.with_shell(&words)
        };
        // The Windows command line: argv joined with spaces, never re-quoted (BuildKit's WCOW
        // executor does the same).
        let command_line = args.join(" ");
        let mut env = BTreeMap::new();
        for (k, v) in state.env.iter() {
            env.insert(k.to_string(), v.to_string());
        }
        let working_dir = windows_working_dir(
            state
                .config
                .config
                .working_dir
                .as_deref()
                .unwrap_or_default(),
        );
        let user = state.config.config.user.clone().unwrap_or_default();
        let history = format!("RUN {}", run_command_string(&args, &state.args));
        let key_text = format!(
            "RUN {args:?}\nenv={env:?}\nworkdir={working_dir}\nuser={user}\nnetwork={network:?}"
        );
        let process = ProcessSpec {
            args: args.clone(),
            command_line: Some(command_line.clone()),
            env,
            working_dir,
            user,
            timeout: self.request.run_timeout,
        };
        let failure = RunFailure {
            file: self.dockerfile.file.clone(),
            line: ins.line(),
            text: ins.text(),
        };
        // Only the layers' descriptors are cloned here; their bytes are fetched on a cache miss.
        let layers = state.layers.clone();
        let outcome = self.layer_step(state, &key_text, "", None, move |engine| {
            engine.run_in_sandbox(&layers, &process, network, step_number, failure)
        });
        Ok((outcome?, history))
    }

    /// Runs one RUN step's process in a fresh sandbox on `layers` and commits what it changed.
    fn run_in_sandbox(
        &mut self,
        layers: &[ImageLayer],
        process: &ProcessSpec,
        network: NetworkMode,
        step: usize,
        failure: RunFailure,
    ) -> Result<ChangeSet, BuildError> {
        let setup = |m: String| BuildError::Setup(m);
        let mut layer_refs = Vec::with_capacity(layers.len());
        for layer in layers {
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
            network,
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
        let status = sandbox
            .run(process, &mut output)
            .map_err(|e| setup(format!("{e:#}")));
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
        let created = image::rfc3339(self.now);
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
        let mut platform = PlatformBuilder::default()
            .os(Os::Windows)
            .architecture(Arch::Amd64);
        if let Some(v) = &state.config.os_version {
            platform = platform.os_version(v.clone());
        }
        if !state.config.os_features.is_empty() {
            platform = platform.os_features(state.config.os_features.clone());
        }
        let platform = platform.build().map_err(|e| setup(e.to_string()))?;
        let mut manifest_descriptor = manifest.descriptor.clone();
        manifest_descriptor.set_platform(Some(platform));
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

/// Where a RUN step is, for its failure message.
struct RunFailure {
    file: String,
    line: usize,
    text: String,
}

/// An index (OCI) or manifest list (Docker) over the built images, stored in the store.
fn make_index(store: &Store, images: &[BuiltImage]) -> Result<(Descriptor, Vec<u8>), BuildError> {
    let setup = |e: String| BuildError::Setup(e);
    let flavor = images[0].flavor;
    let media_type = match flavor {
        Flavor::Oci => MediaType::ImageIndex,
        Flavor::Docker => MediaType::Other(image::docker::MANIFEST_LIST.into()),
    };
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(media_type.clone())
        .manifests(
            images
                .iter()
                .map(|i| i.manifest_descriptor.clone())
                .collect::<Vec<_>>(),
        )
        .build()
        .map_err(|e| setup(e.to_string()))?;
    let bytes = crate::store::canonical_json(&index);
    let digest = store
        .put_blob_bytes(&bytes)
        .map_err(|e| setup(e.to_string()))?;
    let descriptor = DescriptorBuilder::default()
        .media_type(media_type)
        .size(bytes.len() as u64)
        .digest(digest)
        .build()
        .map_err(|e| setup(e.to_string()))?;
    Ok((descriptor, bytes))
}

/// The `(key, value)` pairs of an ENV/LABEL node (triplets key, value, separator).
fn key_value_pairs(node: &Node) -> Vec<(String, String)> {
    let words = steps::node_args(node);
    words
        .chunks(3)
        .filter(|c| c.len() >= 2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect()
}

/// ONBUILD's expression: the text after the keyword.
fn onbuild_expression(ins: &Instruction) -> String {
    let text = ins.text();
    let rest = text
        .split_once(char::is_whitespace)
        .map(|(_, r)| r)
        .unwrap_or_default();
    rest.trim().to_string()
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

/// BuildKit's `runCommandString`: the stage's build args as `|N K=V…` before the command.
fn run_command_string(args: &[String], build_args: &[(String, String)]) -> String {
    let mut parts = Vec::new();
    if !build_args.is_empty() {
        parts.push(format!("|{}", build_args.len()));
        parts.extend(build_args.iter().map(|(k, v)| format!("{k}={v}")));
    }
    parts.extend(args.iter().cloned());
    parts.join(" ")
}

/// Build args BuildKit predefines and never reports as unused.
fn is_predefined_arg(name: &str) -> bool {
    matches!(
        name.to_ascii_uppercase().as_str(),
        "HTTP_PROXY" | "HTTPS_PROXY" | "FTP_PROXY" | "NO_PROXY" | "ALL_PROXY" | "SOURCE_DATE_EPOCH"
    ) || name.starts_with("BUILDKIT_")
}

/// Parses Go durations: `1h2m3.5s`, `500ms`, `10us`, `0`.
fn parse_go_duration(text: &str) -> Option<i64> {
    if text == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    Some(total.round() as i64)
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

    #[test]
    fn run_history_lists_build_args_like_buildkit() {
        let args = vec!["cmd".into(), "/S".into(), "/C".into(), "echo hi".into()];
        assert_eq!(run_command_string(&args, &[]), "cmd /S /C echo hi");
        assert_eq!(
            run_command_string(&args, &[("V".into(), "1".into())]),
            "|1 V=1 cmd /S /C echo hi"
        );
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("30s"), Some(30_000_000_000));
        assert_eq!(parse_go_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_go_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_go_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("abc"), None);
    }
}
