//! Dispatch of one stage's commands, as BuildKit's `dispatchState` does it: the environment
//! each instruction sees, word expansion, image-config changes, the filesystem steps the build
//! engine must run and the lint warnings found on the way.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::history::{copy_history, healthcheck_history};
use super::plan::{resolve_source, BuildPlan, CopySource, Stage};
use super::values::{check_chmod, expand_port, is_git, is_http, is_remote_source};
use super::{FrontendError, LintWarning};
use crate::dockerfile::instructions::{
    check_signal, CmdLine, Command, Health, Instruction, Mount, NetworkMode, Security,
    SourceContent,
};
use crate::dockerfile::shell::{Env, Lexer};
use crate::dockerfile::winpath::{self, PathMode};

/// The image-config fields a Dockerfile changes (Docker/OCI image config names).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageConfig {
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub shell: Vec<String>,
    pub args_escaped: bool,
    pub labels: BTreeMap<String, String>,
    pub exposed_ports: BTreeSet<String>,
    pub volumes: BTreeSet<String>,
    pub stop_signal: String,
    pub healthcheck: Option<Health>,
    pub on_build: Vec<String>,
    pub author: String,
}

/// A RUN step, ready for a runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStep {
    /// argv; for shell form on Windows `[shell…, "<one command line>"]`.
    pub args: Vec<String>,
    /// On Windows the process command line is the args joined with single spaces, unquoted
    /// (BuildKit's WCOW executor).
    pub command_line: String,
    /// The full environment (image Env plus ARG values), `KEY=value`.
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub mounts: Vec<Mount>,
    pub network: NetworkMode,
    pub security: Security,
}

/// A COPY or ADD step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyStep {
    pub is_add: bool,
    pub from: CopySource,
    /// Sources as written (expanded).
    pub sources: Vec<String>,
    /// The same sources as `/` paths inside the context or source stage, drive letter removed
    /// (BuildKit's `NormalizePath("/", src)`); URLs and git refs unchanged.
    pub source_paths: Vec<String>,
    /// Heredoc sources (contents already expanded when the delimiter was unquoted).
    pub contents: Vec<SourceContent>,
    /// Destination inside the image: `/app/x/` in BuildKit mode, `\app\x\` in classic mode
    /// (Windows), or a Linux path.
    pub dest: String,
    pub chown: String,
    pub chmod: String,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    pub keep_git_dir: bool,
    pub checksum: String,
    pub unpack: Option<bool>,
}

/// What dispatching one command asks the build engine to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Only the image config changed.
    Config,
    Run(RunStep),
    Copy(CopyStep),
    /// WORKDIR: make sure the directory exists (path in the image, config form).
    MakeDir(String),
}

/// One dispatched command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatched {
    /// The command with BuildKit's words expanded.
    pub command: Command,
    pub step: Step,
    /// History `created_by` text, as BuildKit writes it (` # buildkit` on layer steps); empty
    /// for ONBUILD, which BuildKit records in the config only.
    pub created_by: String,
    /// Whether the history entry has no layer (config-only instructions).
    pub empty_layer: bool,
}

/// What a stage starts from. For an image: its config (empty for `scratch` or when unknown).
/// For a stage: what [`StageDispatcher::finish`] returned, which also carries the stage's
/// build environment (ARG values included), its declared ARGs and whether it set WORKDIR, as
/// BuildKit's `dispatchState.init` inherits them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BaseConfig {
    pub config: ImageConfig,
    /// The build environment (`None`: derive it from `config.env`).
    pub env: Option<Env>,
    /// ARGs declared so far with their values (`d.buildArgs`).
    pub build_args: Vec<(String, Option<String>)>,
    pub workdir_set: bool,
}

impl BaseConfig {
    /// A base image with this config.
    pub fn image(config: ImageConfig) -> Self {
        BaseConfig {
            config,
            ..Default::default()
        }
    }
}

/// Dispatches one stage's commands in order, tracking env and image config like BuildKit.
pub struct StageDispatcher<'a> {
    plan: &'a BuildPlan,
    stage: &'a Stage,
    lexer: Lexer,
    /// The image config so far.
    pub config: ImageConfig,
    /// ENV plus ARG values: what instructions expand with and RUN sees.
    pub env: Env,
    cmd_set: bool,
    /// Normalized key → position in `config.env`.
    config_env_index: HashMap<String, usize>,
    workdir_set: bool,
    /// ARGs declared in this stage and its base stages, in order (`d.buildArgs`).
    build_args: Vec<(String, Option<String>)>,
    names: BTreeMap<String, usize>,
    pub warnings: Vec<LintWarning>,
    seen_once: BTreeSet<&'static str>,
}

/// BuildKit's default shell for an OS.
pub fn default_shell(os: &str) -> Vec<String> {
    if os == "windows" {
        vec!["cmd".into(), "/S".into(), "/C".into()]
    } else {
        vec!["/bin/sh".into(), "-c".into()]
    }
}

const LINUX_DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl<'a> StageDispatcher<'a> {
    /// Starts dispatching `stage` of `plan` from `base` (the base image's or base stage's
    /// final config).
    pub fn new(plan: &'a BuildPlan, stage: &'a Stage, base: BaseConfig) -> Self {
        let host = plan.options.host;
        let mut config = base.config;
        // BuildKit adds PATH to Linux images without one; never to Windows (#5445).
        if !stage.platform.is_windows()
            && !config.env.iter().any(|e| {
                e.split('=')
                    .next()
                    .is_some_and(|k| host.same_key(k, "PATH"))
            })
        {
            config.env.push(format!("PATH={LINUX_DEFAULT_PATH}"));
        }
        let mut config_env_index = HashMap::new();
        for (i, e) in config.env.iter().enumerate() {
            let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
            config_env_index.entry(host.normalize_key(key)).or_insert(i);
        }
        let env = base.env.unwrap_or_else(|| {
            let mut env = Env::new(host);
            for e in &config.env {
                let (k, v) = e.split_once('=').unwrap_or((e, ""));
                env.set(k, v);
            }
            env
        });
        let names = plan
            .stages
            .iter()
            .filter(|s| !s.name.is_empty())
            .map(|s| (s.name.clone(), s.index))
            .collect();
        StageDispatcher {
            plan,
            stage,
            lexer: plan.lexer(),
            config,
            env,
            cmd_set: false,
            config_env_index,
            workdir_set: base.workdir_set,
            build_args: base.build_args,
            names,
            warnings: Vec::new(),
            seen_once: BTreeSet::new(),
        }
    }

    fn windows(&self) -> bool {
        self.stage.platform.is_windows()
    }

    /// BuildKit's `addEnv`: replace the entry with the same key (per host mode) or append.
    fn set_config_env(&mut self, key: &str, value: &str) {
        let entry = format!("{key}={value}");
        let normalized = self.plan.options.host.normalize_key(key);
        match self.config_env_index.get(&normalized) {
            Some(&i) => self.config.env[i] = entry,
            None => {
                self.config_env_index
                    .insert(normalized, self.config.env.len());
                self.config.env.push(entry);
            }
        }
    }

    /// What a stage based on this one inherits.
    pub fn finish(&self) -> BaseConfig {
        BaseConfig {
            config: self.config.clone(),
            env: Some(self.env.clone()),
            build_args: self.build_args.clone(),
            workdir_set: self.workdir_set,
        }
    }

    /// BuildKit's `runCommandString`: `|N K=V … args…` with the stage's ARGs.
    fn run_command_string(&self, args: &[String]) -> String {
        let mut parts: Vec<String> = Vec::new();
        if !self.build_args.is_empty() {
            parts.push(format!("|{}", self.build_args.len()));
            for (k, v) in &self.build_args {
                let value = self
                    .env
                    .get(k)
                    .map(str::to_string)
                    .or_else(|| v.clone())
                    .unwrap_or_default();
                parts.push(format!("{k}={value}"));
            }
        }
        parts.extend(args.iter().cloned());
        parts.join(" ")
    }

    /// Dispatches every command of the stage (ONBUILD triggers of the base first).
    pub fn dispatch_all(&mut self, triggers: &[Command]) -> Result<Vec<Dispatched>, FrontendError> {
        let mut out = Vec::new();
        for cmd in triggers.iter().chain(self.stage.commands.iter()) {
            out.push(self.dispatch(cmd)?);
        }
        Ok(out)
    }

    /// The classic builder's history text for a BuildKit one: a RUN is its command line as run
    /// (`cmd /S /C …`, with the `|N k=v` build-arg prefix, no ` # buildkit`); every other
    /// instruction is committed through the shell with `#(nop)`: `cmd /S /C #(nop) WORKDIR C:\app`
    /// for WORKDIR, COPY and ADD (moby's `withCmdCommentString`), and two spaces after `#(nop)`
    /// for the rest (`withCmdComment`: `#(nop) ` and the comment are two argv words). The words
    /// after `#(nop)` stay BuildKit's except WORKDIR's path (the config's `C:\app`); moby's
    /// `COPY file:<content hash> in <dest> ` form is not reproduced.
    fn classic_history(&self, created_by: String) -> String {
        if created_by.is_empty() {
            return created_by;
        }
        let created_by = created_by
            .strip_suffix(" # buildkit")
            .unwrap_or(&created_by)
            .to_string();
        if let Some(run) = created_by.strip_prefix("RUN ") {
            return run.to_string();
        }
        let shell = if self.config.shell.is_empty() {
            default_shell(&self.stage.platform.os)
        } else {
            self.config.shell.clone()
        }
        .join(" ");
        let word = created_by.split(' ').next().unwrap_or("");
        match word {
            "WORKDIR" => format!("{shell} #(nop) WORKDIR {}", self.config.working_dir),
            "COPY" | "ADD" => format!("{shell} #(nop) {created_by}"),
            _ => format!("{shell} #(nop)  {created_by}"),
        }
    }

    fn with_shell(&self, cmd: &CmdLine) -> Vec<String> {
        if !cmd.prepend_shell {
            return cmd.args.clone();
        }
        let mut shell = if self.config.shell.is_empty() {
            default_shell(&self.stage.platform.os)
        } else {
            self.config.shell.clone()
        };
        shell.push(cmd.args.join(" "));
        shell
    }

    fn once(&mut self, what: &'static str, cmd: &Command) {
        if !self.seen_once.insert(what) {
            self.warnings.push(LintWarning {
                rule: "MultipleInstructionsDisallowed",
                message: format!(
                    "Multiple {what} instructions should not be used in the same stage because only the last one will be used"
                ),
                line: cmd.location.start_line,
            });
        }
    }

    /// Dispatches one command: expands it, updates env and config, and says what to run.
    pub fn dispatch(&mut self, cmd: &Command) -> Result<Dispatched, FrontendError> {
        let at = |m: String| FrontendError::at(m, cmd.location);
        let expanded = cmd.expand(&self.lexer, &self.env)?;
        let mut created_by = String::new();
        let step = match &expanded.instruction {
            Instruction::Env(kvs) => {
                created_by = "ENV".into();
                for kv in kvs {
                    created_by.push_str(&format!(" {}={}", kv.key, kv.value));
                    self.env.set(&kv.key, &kv.value);
                    self.set_config_env(&kv.key, &kv.value);
                    self.lint_secret("ENV", &kv.key, cmd);
                }
                Step::Config
            }
            Instruction::Label(kvs) => {
                created_by = "LABEL".into();
                for kv in kvs {
                    created_by.push_str(&format!(" {}={}", kv.key, kv.value));
                    self.config.labels.insert(kv.key.clone(), kv.value.clone());
                }
                Step::Config
            }
            Instruction::Maintainer(m) => {
                self.config.author = m.clone();
                created_by = format!("MAINTAINER {m}");
                Step::Config
            }
            Instruction::Arg(args) => {
                let mut parts = Vec::new();
                for arg in args {
                    self.lint_secret("ARG", &arg.key, cmd);
                    let value = if let Some(v) = self.plan.options.build_args.get(&arg.key) {
                        Some(v.clone())
                    } else if let Some(default) = &arg.value {
                        Some(
                            self.lexer
                                .process_word(default, &self.env)
                                .map_err(|e| at(e.to_string()))?,
                        )
                    } else {
                        self.plan.global_args.get(&arg.key).map(str::to_string)
                    };
                    if let Some(v) = &value {
                        self.env.set(&arg.key, v);
                    }
                    parts.push(match &value {
                        Some(v) => format!("{}={v}", arg.key),
                        None => arg.key.clone(),
                    });
                    self.build_args.push((arg.key.clone(), value));
                }
                created_by = format!("ARG {}", parts.join(" "));
                Step::Config
            }
            Instruction::Workdir(path) => {
                // Only the first WORKDIR of a stage lineage is linted (BuildKit's workdirSet).
                if !self.workdir_set {
                    let absolute = if self.windows() {
                        winpath::is_abs(path)
                    } else {
                        path.starts_with('/')
                    };
                    if !absolute {
                        self.warnings.push(LintWarning {
                            rule: "WorkdirRelativePath",
                            message: format!(
                                "Relative workdir {} can have unexpected results if the base image changes",
                                crate::dockerfile::goquote::quote(path)
                            ),
                            line: cmd.location.start_line,
                        });
                    }
                }
                self.workdir_set = true;
                let wd = if self.windows() {
                    winpath::normalize_workdir(
                        self.plan.options.path_mode,
                        &self.config.working_dir,
                        path,
                    )
                    .map_err(|e| at(format!("normalizing workdir: {}", e.0)))?
                } else {
                    let joined = if path.starts_with('/') {
                        path.clone()
                    } else {
                        format!("/{}/{path}", self.config.working_dir)
                    };
                    winpath::clean_slash(&joined)
                };
                self.config.working_dir = wd.clone();
                // History and the build state use `/` even for Windows.
                let slashed = if self.windows() {
                    wd.replace('\\', "/")
                } else {
                    wd.clone()
                };
                created_by = format!("WORKDIR {slashed}");
                let root = slashed == "/" || slashed.eq_ignore_ascii_case("C:/");
                if root {
                    Step::Config
                } else {
                    Step::MakeDir(wd)
                }
            }
            Instruction::User(u) => {
                self.config.user = u.clone();
                created_by = format!("USER {u}");
                Step::Config
            }
            Instruction::Shell(s) => {
                self.config.shell = s.clone();
                created_by = format!("SHELL [{}]", s.join(" "));
                Step::Config
            }
            Instruction::Cmd(c) => {
                self.once("CMD", cmd);
                let args = self.with_shell(c);
                created_by = format!("CMD {}", crate::dockerfile::goquote::quote_list(&args));
                self.config.cmd = Some(args);
                self.config.args_escaped = true;
                self.cmd_set = true;
                Step::Config
            }
            Instruction::Entrypoint(c) => {
                self.once("ENTRYPOINT", cmd);
                let args = self.with_shell(c);
                created_by = format!(
                    "ENTRYPOINT {}",
                    crate::dockerfile::goquote::quote_list(&args)
                );
                self.config.entrypoint = if args.is_empty() { None } else { Some(args) };
                if !self.cmd_set {
                    self.config.cmd = None;
                }
                Step::Config
            }
            Instruction::Healthcheck(h) => {
                self.once("HEALTHCHECK", cmd);
                self.config.healthcheck = Some(h.clone());
                created_by = format!("HEALTHCHECK {}", healthcheck_history(h));
                Step::Config
            }
            Instruction::Expose(ports) => {
                let mut specs = BTreeSet::new();
                for p in ports {
                    specs.extend(expand_port(p).map_err(at)?);
                }
                // Go prints the port map sorted: `map[443/tcp:{} 80/tcp:{}]`.
                let listed: Vec<String> = specs.iter().map(|p| format!("{p}:{{}}")).collect();
                created_by = format!("EXPOSE map[{}]", listed.join(" "));
                self.config.exposed_ports.extend(specs);
                Step::Config
            }
            Instruction::Volume(vs) => {
                for v in vs {
                    self.config.volumes.insert(v.clone());
                }
                created_by = format!("VOLUME [{}]", vs.join(" "));
                Step::Config
            }
            Instruction::StopSignal(s) => {
                check_signal(s).map_err(at)?;
                self.config.stop_signal = s.clone();
                created_by = format!("STOPSIGNAL {s}");
                Step::Config
            }
            Instruction::Onbuild(expr) => {
                self.config.on_build.push(expr.clone());
                Step::Config
            }
            Instruction::Run(run) => {
                let mut args = run.cmd.args.clone();
                if let Some(first) = run.cmd.files.first() {
                    // A lone heredoc runs its body; otherwise the heredocs follow the line as a script.
                    let lone = args.len() == 1
                        && crate::dockerfile::heredoc::parse_heredoc(&args[0])
                            .ok()
                            .flatten()
                            .is_some();
                    args = if lone {
                        let data = if first.chomp {
                            crate::dockerfile::heredoc::chomp_heredoc_content(&first.data)
                        } else {
                            first.data.clone()
                        };
                        vec![data]
                    } else {
                        let mut script = args.join(" ");
                        for f in &run.cmd.files {
                            script.push('\n');
                            script.push_str(&f.data);
                            script.push_str(&f.name);
                        }
                        vec![script]
                    };
                }
                let args = self.with_shell(&CmdLine {
                    args,
                    prepend_shell: run.cmd.prepend_shell,
                    files: vec![],
                });
                let mounts = run.mounts(&self.lexer, &self.env).map_err(at)?;
                created_by = format!("RUN {} # buildkit", self.run_command_string(&args));
                Step::Run(RunStep {
                    command_line: args.join(" "),
                    args,
                    env: self.env.to_strings(),
                    working_dir: self.config.working_dir.clone(),
                    user: self.config.user.clone(),
                    mounts,
                    network: run.network,
                    security: run.security,
                })
            }
            Instruction::Copy(c) => {
                let from =
                    resolve_source(&c.from, &self.names, self.plan.stages.len()).map_err(at)?;
                for src in &c.paths.sources {
                    if is_http(src) {
                        return Err(at("source can't be a URL for COPY".into()));
                    }
                    if is_git(src) {
                        return Err(at("source can't be a git ref for COPY".into()));
                    }
                }
                created_by = copy_history("COPY", c.parents, &c.chown, &c.chmod, &c.paths);
                if self.windows()
                    && self.plan.options.path_mode == PathMode::Classic
                    && matches!(from, CopySource::Stage(_) | CopySource::Image(_))
                {
                    for s in &c.paths.sources {
                        winpath::classic_check_copy_from_source(s).map_err(|e| at(e.0))?;
                    }
                }
                Step::Copy(CopyStep {
                    is_add: false,
                    from,
                    sources: c.paths.sources.clone(),
                    source_paths: self.source_paths(&c.paths.sources).map_err(at)?,
                    contents: self.expand_contents(&c.paths.contents).map_err(at)?,
                    dest: self.dest(&c.paths.dest).map_err(at)?,
                    chown: c.chown.clone(),
                    chmod: c.chmod.clone(),
                    link: c.link,
                    parents: c.parents,
                    exclude: c.exclude.clone(),
                    keep_git_dir: false,
                    checksum: String::new(),
                    unpack: None,
                })
            }
            Instruction::Add(a) => {
                if !a.checksum.is_empty() {
                    if a.paths.sources.len() != 1 {
                        return Err(at("checksum can't be specified for multiple sources".into()));
                    }
                    if !is_http(&a.paths.sources[0]) && !is_git(&a.paths.sources[0]) {
                        return Err(at(
                            "checksum can't be specified for non-HTTP(S) sources".into()
                        ));
                    }
                }
                created_by = copy_history("ADD", false, &a.chown, &a.chmod, &a.paths);
                Step::Copy(CopyStep {
                    is_add: true,
                    from: CopySource::Context,
                    sources: a.paths.sources.clone(),
                    source_paths: self.source_paths(&a.paths.sources).map_err(at)?,
                    contents: self.expand_contents(&a.paths.contents).map_err(at)?,
                    dest: self.dest(&a.paths.dest).map_err(at)?,
                    chown: a.chown.clone(),
                    chmod: a.chmod.clone(),
                    link: a.link,
                    parents: false,
                    exclude: a.exclude.clone(),
                    keep_git_dir: a.keep_git_dir,
                    checksum: a.checksum.clone(),
                    unpack: a.unpack,
                })
            }
        };
        if let Step::Copy(c) = &step {
            if let Some(chmod) = (!c.chmod.is_empty()).then_some(&c.chmod) {
                check_chmod(chmod).map_err(at)?;
            }
        }
        let empty_layer = matches!(step, Step::Config);
        if self.windows() && self.plan.options.path_mode == PathMode::Classic {
            created_by = self.classic_history(created_by);
        }
        Ok(Dispatched {
            command: expanded,
            step,
            created_by,
            empty_layer,
        })
    }

    fn lint_secret(&mut self, kind: &str, key: &str, cmd: &Command) {
        let upper = key.to_uppercase();
        let secret = [
            "PASSWORD",
            "PASSWD",
            "SECRET",
            "TOKEN",
            "APIKEY",
            "API_KEY",
            "PRIVATE_KEY",
        ]
        .iter()
        .any(|w| upper.contains(w));
        if secret {
            self.warnings.push(LintWarning {
                rule: "SecretsUsedInArgOrEnv",
                message: format!(
                    "Do not use ARG or ENV instructions for sensitive data ({kind} \"{key}\")"
                ),
                line: cmd.location.start_line,
            });
        }
    }

    /// BuildKit's `NormalizePath("/", src, os, false)` for local sources.
    fn source_paths(&self, sources: &[String]) -> Result<Vec<String>, String> {
        sources
            .iter()
            .map(|src| {
                if is_remote_source(src) {
                    Ok(src.clone())
                } else if self.windows() {
                    winpath::normalize_path("/", src, false)
                        .map_err(|e| format!("removing drive letter: {}", e.0))
                } else {
                    Ok(winpath::clean_slash(&format!("/{src}")))
                }
            })
            .collect()
    }

    fn dest(&self, dest: &str) -> Result<String, String> {
        if self.windows() {
            return winpath::normalize_copy_dest(
                self.plan.options.path_mode,
                &self.config.working_dir,
                dest,
            )
            .map_err(|e| e.0);
        }
        if dest.starts_with('/') {
            return Ok(dest.to_string());
        }
        let dir = if self.config.working_dir.is_empty() {
            "/"
        } else {
            &self.config.working_dir
        };
        let mut joined = winpath::clean_slash(&format!("{dir}/{dest}"));
        if (dest.ends_with('/') || dest == "." || dest.is_empty()) && !joined.ends_with('/') {
            joined.push('/');
        }
        Ok(joined)
    }

    /// Heredoc sources with an unquoted delimiter are expanded with escape `\`, quotes kept.
    fn expand_contents(&self, contents: &[SourceContent]) -> Result<Vec<SourceContent>, String> {
        let mut lexer = Lexer::new('\\');
        lexer.skip_process_quotes = true;
        contents
            .iter()
            .map(|c| {
                let mut c = c.clone();
                if c.expand {
                    c.data = lexer
                        .process_word(&c.data, &self.env)
                        .map_err(|e| e.to_string())?;
                }
                Ok(c)
            })
            .collect()
    }
}
