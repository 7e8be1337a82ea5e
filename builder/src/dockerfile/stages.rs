//! Build stages and their dispatch, following BuildKit's `instructions.Parse` and
//! `dockerfile2llb` (`convert.go`, `platform.go`, `convert_expose.go`):
//!
//! - [`parse_stages`] splits the AST into meta ARGs and stages of typed, *unexpanded* commands,
//!   evaluates the global args (automatic platform args, meta ARGs, build-args), expands each
//!   `FROM` with them and resolves `FROM <stage>` and `COPY --from` (name, index or image) into
//!   a dependency graph with BuildKit's errors (cycles, bad indexes, unknown target).
//! - [`StageDispatcher`] walks one stage's commands the way BuildKit dispatches them: the
//!   environment seen by each instruction (ARG/ENV precedence, later wins), word expansion,
//!   image-config changes (Env, WorkingDir, Cmd/Entrypoint with the Windows shell and
//!   `ArgsEscaped`, Shell, User, Labels, ports, volumes, STOPSIGNAL, HEALTHCHECK, ONBUILD) and
//!   the filesystem steps the build engine must run (RUN, COPY/ADD with normalized destinations,
//!   WORKDIR creation), plus BuildKit's lint warnings.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::ast::Node;
use super::instructions::{
    check_signal, parse_instruction, ArgDef, CmdLine, Command, FromInstruction, Health,
    Instruction, InstructionError, Location, Mount, NetworkMode, Parsed, Security, SourceContent,
};
use super::shell::{Env, HostMode, Lexer};
use super::winpath::{self, PathMode};

/// A platform as `os/arch[/variant]`, with the Windows `os.version` when known.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: String,
    pub os_version: String,
}

const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "illumos",
    "ios",
    "js",
    "linux",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
];
const KNOWN_ARCH: &[&str] = &[
    "386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le", "mipsle", "ppc64",
    "ppc64le", "riscv64", "s390x", "wasm",
];

impl Platform {
    pub fn new(os: &str, arch: &str) -> Self {
        Platform {
            os: os.into(),
            arch: arch.into(),
            ..Default::default()
        }
    }

    /// The default target of silo: `windows/amd64`.
    pub fn windows_amd64() -> Self {
        Platform::new("windows", "amd64")
    }

    /// The platform silo runs on (BuildKit's `BUILDPLATFORM`).
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            other => other,
        };
        Platform::new(std::env::consts::OS, arch)
    }

    /// containerd's `platforms.Parse` for the forms Dockerfiles use: `os`, `os/arch`,
    /// `os/arch/variant`, `arch`, and `windows(10.0.20348.1)/amd64`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{}: unknown operating system or architecture: invalid argument",
                super::goquote::quote(spec)
            )
        };
        let lowered = spec.to_lowercase();
        let parts: Vec<&str> = lowered.split('/').collect();
        if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let (os_part, os_version) = match parts[0].split_once('(') {
            Some((os, rest)) => (os, rest.strip_suffix(')').ok_or_else(bad)?.to_string()),
            None => (parts[0], String::new()),
        };
        let normalize_arch = |a: &str| match a {
            "x86_64" | "x86-64" => "amd64".to_string(),
            "aarch64" => "arm64".to_string(),
            "i386" => "386".to_string(),
            other => other.to_string(),
        };
        let host = Platform::host();
        let mut p = if parts.len() == 1 && !KNOWN_OS.contains(&os_part) {
            let arch = normalize_arch(os_part);
            if !KNOWN_ARCH.contains(&arch.as_str()) {
                return Err(bad());
            }
            Platform::new(&host.os, &arch)
        } else {
            if !KNOWN_OS.contains(&os_part) {
                return Err(bad());
            }
            let arch = parts.get(1).map(|a| normalize_arch(a)).unwrap_or(host.arch);
            if !KNOWN_ARCH.contains(&arch.as_str()) {
                return Err(bad());
            }
            Platform::new(os_part, &arch)
        };
        p.variant = parts.get(2).map(|v| v.to_string()).unwrap_or_default();
        p.os_version = os_version;
        Ok(p)
    }

    pub fn is_windows(&self) -> bool {
        self.os == "windows"
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

/// How a build is configured (the frontend part of `docker build` options).
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// `--build-arg KEY=value`.
    pub build_args: BTreeMap<String, String>,
    /// The platform the image is for (default `windows/amd64`).
    pub target_platform: Platform,
    /// The platform the build runs on (default: this host).
    pub build_platform: Platform,
    /// Environment-key case rule of the emulated BuildKit host.
    pub host: HostMode,
    /// Windows path conventions (BuildKit or classic docker).
    pub path_mode: PathMode,
    /// `--target` stage name; `None` builds the last stage.
    pub target: Option<String>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            build_args: BTreeMap::new(),
            target_platform: Platform::windows_amd64(),
            build_platform: Platform::host(),
            host: HostMode::Linux,
            path_mode: PathMode::BuildKit,
            target: None,
        }
    }
}

/// A frontend failure with the Dockerfile line it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FrontendError {
    pub message: String,
    /// 1-based line range, when the error belongs to an instruction.
    pub location: Option<Location>,
}

impl FrontendError {
    fn at(message: impl Into<String>, location: Location) -> Self {
        FrontendError {
            message: message.into(),
            location: Some(location),
        }
    }

    fn global(message: impl Into<String>) -> Self {
        FrontendError {
            message: message.into(),
            location: None,
        }
    }
}

impl From<InstructionError> for FrontendError {
    fn from(e: InstructionError) -> Self {
        FrontendError::at(e.message, e.location)
    }
}

/// A BuildKit lint finding (`frontend/dockerfile/linter`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintWarning {
    /// Rule name, e.g. `FromAsCasing`.
    pub rule: &'static str,
    pub message: String,
    pub line: usize,
}

/// Parses Dockerfile text and resolves it into a build plan in one step.
pub fn load(
    bytes: &[u8],
    opts: &BuildOptions,
) -> Result<(super::ParseResult, BuildPlan), FrontendError> {
    let parsed = super::parse(bytes).map_err(|e| FrontendError {
        message: e.message.clone(),
        location: Some(Location {
            start_line: e.start_line,
            end_line: e.end_line,
        }),
    })?;
    let plan = parse_stages(&parsed.ast, parsed.escape_token, opts)?;
    Ok((parsed, plan))
}

/// A base's ONBUILD triggers as commands, placed at the child's `FROM` (BuildKit's
/// `initOnBuildTriggers`: each trigger is parsed as a one-line Dockerfile). Pass them to
/// [`StageDispatcher::dispatch_all`].
pub fn onbuild_commands(
    triggers: &[String],
    at: Location,
    host: HostMode,
) -> Result<Vec<Command>, FrontendError> {
    let mut out = Vec::new();
    for trigger in triggers {
        let parsed =
            super::parse(trigger.as_bytes()).map_err(|e| FrontendError::at(e.message, at))?;
        if parsed.ast.children.len() != 1 {
            return Err(FrontendError::at(
                "onbuild trigger should be a single expression",
                at,
            ));
        }
        let mut node = parsed.ast.children[0].clone();
        node.start_line = at.start_line;
        node.end_line = at.end_line;
        match parse_instruction(&node, host).map_err(|e| FrontendError::at(e.message, at))? {
            Parsed::Command(c) => out.push(c),
            Parsed::From(_) => {
                return Err(FrontendError::at(
                    "FROM isn't allowed as an ONBUILD trigger",
                    at,
                ))
            }
        }
    }
    Ok(out)
}

/// Where a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// An image reference (expanded), or `scratch`.
    Image(String),
    /// An earlier stage, by index.
    Stage(usize),
}

/// Where `COPY --from` / `RUN --mount=from=` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopySource {
    /// The build context.
    Context,
    /// A stage of this Dockerfile.
    Stage(usize),
    /// An image reference.
    Image(String),
}

/// A build stage: `FROM` plus its commands, unexpanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub index: usize,
    /// Lower-case `AS` name, empty when unnamed.
    pub name: String,
    /// `FROM` as written.
    pub from: FromInstruction,
    /// The base after expansion with the global args.
    pub base: Base,
    /// The platform after expansion (`--platform`, else the target platform).
    pub platform: Platform,
    pub commands: Vec<Command>,
    /// Stages this one needs (base stage, `COPY --from`, `RUN --mount=from=`).
    pub deps: BTreeSet<usize>,
}

/// The parsed and resolved Dockerfile.
#[derive(Debug, Clone)]
pub struct BuildPlan {
    pub escape: char,
    /// ARGs before the first FROM.
    pub meta_args: Vec<(ArgDef, Location)>,
    /// Automatic args, meta ARGs and build-args as FROM lines see them.
    pub global_args: Env,
    pub stages: Vec<Stage>,
    /// The stage to build.
    pub target: usize,
    pub options: BuildOptions,
    pub warnings: Vec<LintWarning>,
}

impl BuildPlan {
    /// The lexer that expands this Dockerfile's words (its escape token).
    pub fn lexer(&self) -> Lexer {
        Lexer::new(self.escape)
    }

    /// Stages the target needs, in dependency order (each after what it uses).
    pub fn build_order(&self) -> Vec<usize> {
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        fn visit(plan: &BuildPlan, i: usize, seen: &mut BTreeSet<usize>, order: &mut Vec<usize>) {
            if !seen.insert(i) {
                return;
            }
            for &d in &plan.stages[i].deps {
                visit(plan, d, seen, order);
            }
            order.push(i);
        }
        visit(self, self.target, &mut seen, &mut order);
        order
    }

    /// Build-args no ARG declared (BuildKit warns that they "were not consumed").
    pub fn unused_build_args(&self) -> Vec<String> {
        let mut declared: BTreeSet<String> = automatic_arg_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        declared.extend(self.meta_args.iter().map(|(a, _)| a.key.clone()));
        for stage in &self.stages {
            for c in &stage.commands {
                if let Instruction::Arg(args) = &c.instruction {
                    declared.extend(args.iter().map(|a| a.key.clone()));
                }
            }
        }
        let mut unused: Vec<String> = self
            .options
            .build_args
            .keys()
            .filter(|k| {
                !declared.iter().any(|d| self.options.host.same_key(d, k)) && !is_proxy_arg(k)
            })
            .cloned()
            .collect();
        unused.sort();
        unused
    }
}

/// Proxy build-args are predefined (usable without ARG) and kept out of history.
pub fn is_proxy_arg(key: &str) -> bool {
    matches!(
        key.to_uppercase().as_str(),
        "HTTP_PROXY" | "HTTPS_PROXY" | "FTP_PROXY" | "NO_PROXY" | "ALL_PROXY"
    )
}

fn automatic_arg_names() -> &'static [&'static str] {
    &[
        "BUILDPLATFORM",
        "BUILDOS",
        "BUILDOSVERSION",
        "BUILDARCH",
        "BUILDVARIANT",
        "TARGETPLATFORM",
        "TARGETOS",
        "TARGETOSVERSION",
        "TARGETARCH",
        "TARGETVARIANT",
        "TARGETSTAGE",
    ]
}

/// BuildKit's `defaultArgs` (platform.go) plus `TARGETSTAGE`.
fn automatic_args(opts: &BuildOptions, target_stage: &str) -> Env {
    let (b, t) = (&opts.build_platform, &opts.target_platform);
    let mut env = Env::new(opts.host);
    for (k, v) in [
        ("BUILDPLATFORM", b.to_string()),
        ("BUILDOS", b.os.clone()),
        ("BUILDOSVERSION", b.os_version.clone()),
        ("BUILDARCH", b.arch.clone()),
        ("BUILDVARIANT", b.variant.clone()),
        ("TARGETPLATFORM", t.to_string()),
        ("TARGETOS", t.os.clone()),
        ("TARGETOSVERSION", t.os_version.clone()),
        ("TARGETARCH", t.arch.clone()),
        ("TARGETVARIANT", t.variant.clone()),
        ("TARGETSTAGE", target_stage.to_string()),
    ] {
        env.set(k, &v);
    }
    env
}

fn stage_label(stage: &Stage) -> String {
    if stage.name.is_empty() {
        stage.index.to_string()
    } else {
        stage.name.clone()
    }
}

/// Parses `ast` (the parser's root) into a resolved build plan. `escape` is the parser's
/// escape token.
pub fn parse_stages(
    ast: &Node,
    escape: char,
    opts: &BuildOptions,
) -> Result<BuildPlan, FrontendError> {
    let lexer = Lexer::new(escape);
    let mut meta_args = Vec::new();
    let mut froms: Vec<(FromInstruction, Vec<Command>)> = Vec::new();
    let mut warnings = Vec::new();
    for node in &ast.children {
        match parse_instruction(node, opts.host)? {
            Parsed::From(from) => froms.push((from, Vec::new())),
            Parsed::Command(cmd) => match froms.last_mut() {
                Some((_, commands)) => commands.push(cmd),
                None => match cmd.instruction {
                    Instruction::Arg(args) => {
                        meta_args.extend(args.into_iter().map(|a| (a, cmd.location)))
                    }
                    _ => {
                        return Err(FrontendError::at(
                            "no build stage in current context",
                            cmd.location,
                        ));
                    }
                },
            },
        }
    }
    if froms.is_empty() {
        return Err(FrontendError::global(
            "the Dockerfile has no build stages (no FROM instruction)",
        ));
    }

    // The target stage decides TARGETSTAGE, so find it first.
    let target = match &opts.target {
        Some(t) => {
            let lower = t.to_lowercase();
            froms
                .iter()
                .position(|(f, _)| f.name == lower)
                .ok_or_else(|| {
                    FrontendError::global(format!(
                        "target stage {} could not be found",
                        super::goquote::quote(t)
                    ))
                })?
        }
        None => froms.len() - 1,
    };

    // Global args: automatic args (overridable by build-args), then meta ARGs in order.
    let mut global = automatic_args(opts, &froms[target].0.name);
    for name in automatic_arg_names() {
        if let Some(v) = opts.build_args.get(*name) {
            global.set(name, v);
        }
    }
    for (arg, location) in &meta_args {
        let value = match (opts.build_args.get(&arg.key), &arg.value) {
            (Some(v), _) => Some(v.clone()),
            (None, Some(default)) => Some(
                lexer
                    .process_word(default, &global)
                    .map_err(|e| FrontendError::at(e.to_string(), *location))?,
            ),
            (None, None) => None,
        };
        if let Some(v) = value {
            global.set(&arg.key, &v);
        }
    }
    let declared_meta: BTreeSet<&str> = meta_args.iter().map(|(a, _)| a.key.as_str()).collect();

    let mut stages: Vec<Stage> = Vec::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (index, (from, commands)) in froms.into_iter().enumerate() {
        let expansion = lexer
            .process(&from.base_name, &global)
            .map_err(|e| FrontendError::at(e.to_string(), from.location))?;
        let base_name = expansion.result;
        for var in &expansion.unmatched {
            if !declared_meta.contains(var.as_str()) {
                warnings.push(LintWarning {
                    rule: "UndefinedArgInFrom",
                    message: format!("FROM argument '{var}' is not declared"),
                    line: from.location.start_line,
                });
            }
        }
        if base_name.is_empty() {
            return Err(FrontendError::at(
                format!("base name ({}) should not be blank", from.base_name),
                from.location,
            ));
        }
        let platform = if from.platform.is_empty() {
            opts.target_platform.clone()
        } else {
            let raw = lexer
                .process_word(&from.platform, &global)
                .map_err(|e| FrontendError::at(e.to_string(), from.location))?;
            if !from.platform.contains('$') {
                warnings.push(LintWarning {
                    rule: "FromPlatformFlagConstDisallowed",
                    message: format!(
                        "FROM --platform flag should not use constant value {}",
                        super::goquote::quote(&from.platform)
                    ),
                    line: from.location.start_line,
                });
            } else if from.platform == "$TARGETPLATFORM" || from.platform == "${TARGETPLATFORM}" {
                warnings.push(LintWarning {
                    rule: "RedundantTargetPlatform",
                    message: "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior".into(),
                    line: from.location.start_line,
                });
            }
            let mut p = Platform::parse(&raw).map_err(|e| {
                FrontendError::at(
                    format!("failed to parse platform {raw}: {e}"),
                    from.location,
                )
            })?;
            if p.os_version.is_empty() && p.os == opts.target_platform.os {
                p.os_version = opts.target_platform.os_version.clone();
            }
            p
        };
        let lowered_base = base_name.to_lowercase();
        let base = match names.get(&lowered_base) {
            Some(&i) => Base::Stage(i),
            None => Base::Image(base_name),
        };
        if !from.name.is_empty() {
            if from.name == "scratch" || from.name == "context" {
                warnings.push(LintWarning {
                    rule: "ReservedStageName",
                    message: format!(
                        "'{}' is reserved and should not be used as a stage name",
                        from.name
                    ),
                    line: from.location.start_line,
                });
            }
            if names.contains_key(&from.name) {
                warnings.push(LintWarning {
                    rule: "DuplicateStageName",
                    message: format!(
                        "Duplicate stage name '{}', stage names should be unique",
                        from.name
                    ),
                    line: from.location.start_line,
                });
            } else {
                names.insert(from.name.clone(), index);
            }
        }
        let mut deps = BTreeSet::new();
        if let Base::Stage(i) = base {
            deps.insert(i);
        }
        stages.push(Stage {
            index,
            name: from.name.clone(),
            from,
            base,
            platform,
            commands,
            deps,
        });
    }

    // COPY --from and RUN --mount=from= may name any stage (also later ones).
    let all_names: BTreeMap<String, usize> = names;
    for i in 0..stages.len() {
        let mut extra = BTreeSet::new();
        for cmd in &stages[i].commands {
            for from in referenced_sources(cmd) {
                match resolve_source(&from, &all_names, stages.len()) {
                    Ok(CopySource::Stage(d)) => {
                        extra.insert(d);
                    }
                    Ok(_) => {}
                    Err(e) => return Err(FrontendError::at(e, cmd.location)),
                }
            }
        }
        stages[i].deps.extend(extra);
    }
    detect_cycles(&stages)?;

    let mut plan = BuildPlan {
        escape,
        meta_args,
        global_args: global,
        stages,
        target,
        options: opts.clone(),
        warnings,
    };
    plan.warnings.extend(lint_ast(ast));
    Ok(plan)
}

/// The `--from` values of a command (COPY `--from`, RUN `--mount` `from=`).
fn referenced_sources(cmd: &Command) -> Vec<String> {
    match &cmd.instruction {
        Instruction::Copy(c) if !c.from.is_empty() => vec![c.from.clone()],
        Instruction::Run(r) => r
            .mount_specs
            .iter()
            .filter_map(|spec| {
                spec.split(',').find_map(|f| {
                    f.strip_prefix("from=")
                        .map(|v| v.trim_matches('"').to_string())
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// BuildKit's `toCommand`: a number is a stage index, a known name a stage, anything else an
/// image reference.
pub fn resolve_source(
    from: &str,
    names: &BTreeMap<String, usize>,
    stage_count: usize,
) -> Result<CopySource, String> {
    if from.is_empty() {
        return Ok(CopySource::Context);
    }
    if let Ok(index) = from.parse::<i64>() {
        if index < 0 || index as usize >= stage_count {
            return Err(format!("invalid stage index {index}"));
        }
        return Ok(CopySource::Stage(index as usize));
    }
    match names.get(&from.to_lowercase()) {
        Some(&i) => Ok(CopySource::Stage(i)),
        None => Ok(CopySource::Image(from.to_string())),
    }
}

fn detect_cycles(stages: &[Stage]) -> Result<(), FrontendError> {
    // 0 = unvisited, 1 = on the stack, 2 = done
    fn visit(stages: &[Stage], i: usize, state: &mut Vec<u8>) -> Result<(), FrontendError> {
        match state[i] {
            1 => {
                return Err(FrontendError::at(
                    format!(
                        "circular dependency detected on stage: {}",
                        stage_label(&stages[i])
                    ),
                    stages[i].from.location,
                ))
            }
            2 => return Ok(()),
            _ => {}
        }
        state[i] = 1;
        for &d in &stages[i].deps {
            visit(stages, d, state)?;
        }
        state[i] = 2;
        Ok(())
    }
    let mut state = vec![0u8; stages.len()];
    for i in 0..stages.len() {
        visit(stages, i, &mut state)?;
    }
    Ok(())
}

/// Lint rules that look at instruction spelling only.
fn lint_ast(ast: &Node) -> Vec<LintWarning> {
    let mut out = Vec::new();
    let (mut upper, mut lower) = (0, 0);
    for n in &ast.children {
        if n.value == n.value.to_uppercase() {
            upper += 1;
        } else if n.value == n.value.to_lowercase() {
            lower += 1;
        }
    }
    let majority_upper = upper >= lower;
    for n in &ast.children {
        let name = &n.value;
        let ok = if majority_upper {
            *name == name.to_uppercase()
        } else {
            *name == name.to_lowercase()
        };
        if !ok {
            out.push(LintWarning {
                rule: "ConsistentInstructionCasing",
                message: format!(
                    "Command '{name}' should match the case of the command majority ({})",
                    if majority_upper {
                        "uppercase"
                    } else {
                        "lowercase"
                    }
                ),
                line: n.start_line,
            });
        }
        let lower_name = name.to_lowercase();
        let args: Vec<&str> = n.args().map(|a| a.value.as_str()).collect();
        match lower_name.as_str() {
            "from" if args.len() == 3 => {
                let from_upper = *name == name.to_uppercase();
                let from_lower = *name == name.to_lowercase();
                let as_kw = args[1];
                if (from_upper && as_kw != as_kw.to_uppercase()) || (from_lower && as_kw != as_kw.to_lowercase()) {
                    out.push(LintWarning {
                        rule: "FromAsCasing",
                        message: "'as' and 'FROM' keywords' casing do not match".into(),
                        line: n.start_line,
                    });
                }
                if args[2] != args[2].to_lowercase() {
                    out.push(LintWarning {
                        rule: "StageNameCasing",
                        message: format!("Stage name '{}' should be lowercase", args[2]),
                        line: n.start_line,
                    });
                }
            }
            "maintainer" => out.push(LintWarning {
                rule: "MaintainerDeprecated",
                message: "Maintainer instruction is deprecated in favor of using label".into(),
                line: n.start_line,
            }),
            // Triplets key, value, separator; an empty separator is the legacy form.
            "env" | "label" if args.len() >= 3 && args[2].is_empty() => {
                out.push(LintWarning {
                    rule: "LegacyKeyValueFormat",
                    message: format!(
                        "\"{0} key=value\" should be used instead of legacy \"{0} key value\" format",
                        name.to_uppercase()
                    ),
                    line: n.start_line,
                });
            }
            "cmd" | "entrypoint" if !n.json && !args.is_empty() => out.push(LintWarning {
                rule: "JSONArgsRecommended",
                message: format!(
                    "JSON arguments recommended for {} to prevent unintended behavior related to OS signals",
                    name.to_uppercase()
                ),
                line: n.start_line,
            }),
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------------

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
                                super::goquote::quote(path)
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
                created_by = format!("CMD {}", super::goquote::quote_list(&args));
                self.config.cmd = Some(args);
                self.config.args_escaped = true;
                self.cmd_set = true;
                Step::Config
            }
            Instruction::Entrypoint(c) => {
                self.once("ENTRYPOINT", cmd);
                let args = self.with_shell(c);
                created_by = format!("ENTRYPOINT {}", super::goquote::quote_list(&args));
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
                        && super::heredoc::parse_heredoc(&args[0])
                            .ok()
                            .flatten()
                            .is_some();
                    args = if lone {
                        let data = if first.chomp {
                            super::heredoc::chomp_heredoc_content(&first.data)
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

/// Whether a COPY/ADD source is fetched from the network rather than the context.
pub fn is_remote_source(src: &str) -> bool {
    is_http(src) || is_git(src)
}

fn is_http(src: &str) -> bool {
    src.starts_with("http://") || src.starts_with("https://")
}

/// Git sources as BuildKit's `ParseGitRef` recognises them (the common forms).
fn is_git(src: &str) -> bool {
    src.starts_with("git@")
        || src.starts_with("git://")
        || src.starts_with("ssh://")
        || (is_http(src) && (src.contains(".git#") || src.ends_with(".git")))
}

/// BuildKit's COPY/ADD history: flags, sources, `<<heredoc` names, destination.
fn copy_history(
    kind: &str,
    parents: bool,
    chown: &str,
    chmod: &str,
    paths: &super::instructions::SourcesAndDest,
) -> String {
    let mut msg = kind.to_string();
    if parents {
        msg.push_str(" --parents");
    }
    if !chown.is_empty() {
        msg.push_str(&format!(" --chown={chown}"));
    }
    if !chmod.is_empty() {
        msg.push_str(&format!(" --chmod={chmod}"));
    }
    for s in &paths.sources {
        msg.push(' ');
        msg.push_str(s);
    }
    for c in &paths.contents {
        msg.push_str(&format!(" <<{}", c.path));
    }
    msg.push(' ');
    msg.push_str(&paths.dest);
    msg.push_str(" # buildkit");
    msg
}

/// Go's `time.Duration.String()`.
pub fn go_duration(d: std::time::Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    // `value / unit` with the remainder as a decimal fraction without trailing zeros.
    let with_fraction = |value: u128, unit: u128, suffix: &str| {
        let (whole, rest) = (value / unit, value % unit);
        if rest == 0 {
            format!("{whole}{suffix}")
        } else {
            let digits = unit.to_string().len() - 1;
            let fraction = format!("{rest:0digits$}");
            format!("{whole}.{}{suffix}", fraction.trim_end_matches('0'))
        }
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return with_fraction(nanos, 1_000, "µs");
    }
    if nanos < 1_000_000_000 {
        return with_fraction(nanos, 1_000_000, "ms");
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = (nanos / 60_000_000_000) % 60;
    let seconds = with_fraction(nanos % 60_000_000_000, 1_000_000_000, "s");
    match (hours, minutes) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

/// Go's `%q` of a rune (`strconv.QuoteRune`).
fn go_quote_rune(c: char) -> String {
    match c {
        '\'' => "'\\''".into(),
        '"' => "'\"'".into(),
        c => {
            let q = super::goquote::quote(&c.to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

/// BuildKit's `fmt.Sprintf("%q", healthcheck)` of the config struct pointer:
/// `&{["CMD-SHELL" "x"] "5s" "3s" "0s" "0s" '\x03'}` (Go quotes the int retries as a rune).
fn healthcheck_history(h: &Health) -> String {
    let retries = u32::try_from(h.retries)
        .ok()
        .and_then(char::from_u32)
        .map(go_quote_rune)
        .unwrap_or_else(|| h.retries.to_string());
    format!(
        "&{{{} {} {} {} {} {}}}",
        super::goquote::quote_list(&h.test),
        super::goquote::quote(&go_duration(h.interval)),
        super::goquote::quote(&go_duration(h.timeout)),
        super::goquote::quote(&go_duration(h.start_period)),
        super::goquote::quote(&go_duration(h.start_interval)),
        retries
    )
}

/// `--chmod`: octal up to 07777, or a symbolic mode like `u=rwX,go=rX`.
fn check_chmod(mode: &str) -> Result<(), String> {
    let invalid = || {
        format!(
            "invalid chmod parameter: '{mode}'. it should be octal string and between 0 and 07777"
        )
    };
    if let Ok(n) = u32::from_str_radix(mode, 8) {
        return if n > 0o7777 { Err(invalid()) } else { Ok(()) };
    }
    let clause_ok = |clause: &str| {
        let op = clause.find(['+', '-', '=']);
        match op {
            Some(i) => {
                clause[..i].chars().all(|c| "ugoa".contains(c))
                    && clause[i + 1..].chars().all(|c| "rwxXst+-=".contains(c))
            }
            None => false,
        }
    };
    if !mode.is_empty() && mode.split(',').all(clause_ok) {
        Ok(())
    } else {
        Err(invalid())
    }
}

/// `nat.ParsePortSpecs` for EXPOSE: `80`, `80/udp`, `8000-8002/tcp` → `80/tcp`, ….
fn expand_port(spec: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    let invalid = || format!("invalid containerPort: {ports}");
    let parse = |p: &str| p.parse::<u16>().map_err(|_| invalid());
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let p = parse(ports)?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(format!("invalid range specified for container: {ports}"));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
// Options are built up field by field so each test shows only what it changes.
#[allow(clippy::field_reassign_with_default)]
mod tests {
    use super::*;
    use crate::dockerfile::parse;

    fn plan_with(src: &str, opts: &BuildOptions) -> Result<BuildPlan, FrontendError> {
        let parsed = parse(src.as_bytes()).expect("parses");
        parse_stages(&parsed.ast, parsed.escape_token, opts)
    }

    fn plan(src: &str) -> BuildPlan {
        plan_with(src, &BuildOptions::default()).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn dispatch(
        plan: &BuildPlan,
        stage: usize,
    ) -> (ImageConfig, Vec<Dispatched>, Vec<LintWarning>) {
        let mut d = StageDispatcher::new(plan, &plan.stages[stage], BaseConfig::default());
        let out = d.dispatch_all(&[]).unwrap_or_else(|e| panic!("{e:?}"));
        (d.config.clone(), out, d.warnings.clone())
    }

    #[test]
    fn automatic_platform_args_and_meta_args() {
        let mut opts = BuildOptions::default();
        opts.build_platform = Platform::new("linux", "amd64");
        opts.target_platform = Platform {
            os_version: "10.0.20348.2113".into(),
            ..Platform::windows_amd64()
        };
        opts.build_args.insert("TAG".into(), "ltsc2022".into());
        let p = plan_with(
            "ARG REPO=mcr.microsoft.com/windows\nARG TAG=ltsc2019\nARG IMAGE=$REPO/servercore:$TAG\nFROM $IMAGE AS base\nARG TARGETOS TARGETARCH TARGETPLATFORM BUILDPLATFORM TARGETOSVERSION\nRUN echo %TARGETOS%\n",
            &opts,
        )
        .unwrap();
        assert_eq!(
            p.stages[0].base,
            Base::Image("mcr.microsoft.com/windows/servercore:ltsc2022".into())
        );
        assert_eq!(p.global_args.get("TARGETPLATFORM"), Some("windows/amd64"));
        assert_eq!(p.global_args.get("TARGETSTAGE"), Some("base"));
        let (_, steps, _) = dispatch(&p, 0);
        let Step::Run(run) = &steps[1].step else {
            panic!()
        };
        for want in [
            "TARGETOS=windows",
            "TARGETARCH=amd64",
            "TARGETPLATFORM=windows/amd64",
            "BUILDPLATFORM=linux/amd64",
            "TARGETOSVERSION=10.0.20348.2113",
        ] {
            assert!(
                run.env.contains(&want.to_string()),
                "{want} in {:?}",
                run.env
            );
        }
        assert_eq!(run.args, ["cmd", "/S", "/C", "echo %TARGETOS%"]);
        assert_eq!(run.command_line, "cmd /S /C echo %TARGETOS%");
    }

    #[test]
    fn arg_env_precedence_later_wins() {
        let mut opts = BuildOptions::default();
        opts.build_args.insert("V".into(), "from-build-arg".into());
        let p = plan_with(
            "FROM scratch\nENV V=from-env\nARG V\nRUN echo\nARG W=default\nENV W=env-w\nRUN echo\nARG X=$W-x\nENV Y=$X\n",
            &opts,
        )
        .unwrap();
        let (config, steps, _) = dispatch(&p, 0);
        let Step::Run(r1) = &steps[2].step else {
            panic!()
        };
        assert!(
            r1.env.contains(&"V=from-build-arg".to_string()),
            "{:?}",
            r1.env
        );
        let Step::Run(r2) = &steps[5].step else {
            panic!()
        };
        assert!(r2.env.contains(&"W=env-w".to_string()));
        // ARG values reach RUN but not the image config; ENV reaches both.
        assert!(config.env.contains(&"V=from-env".to_string()));
        assert!(config.env.contains(&"Y=env-w-x".to_string()));
        assert!(!config.env.iter().any(|e| e.starts_with("X=")));
    }

    #[test]
    fn env_sees_values_from_before_the_instruction() {
        let p = plan("FROM scratch\nENV abc=hi\nENV abc=bye def=$abc\n");
        let (config, _, _) = dispatch(&p, 0);
        assert_eq!(config.env, ["abc=bye", "def=hi"]);
    }

    #[test]
    fn arg_without_default_imports_global_value() {
        let p = plan("ARG VERSION=1.2\nFROM scratch\nRUN echo\nARG VERSION\nRUN echo\n");
        let (_, steps, _) = dispatch(&p, 0);
        let Step::Run(before) = &steps[0].step else {
            panic!()
        };
        assert!(!before.env.iter().any(|e| e.starts_with("VERSION=")));
        let Step::Run(after) = &steps[2].step else {
            panic!()
        };
        assert!(after.env.contains(&"VERSION=1.2".to_string()));
    }

    #[test]
    fn windows_shell_cmd_entrypoint_and_args_escaped() {
        let p = plan("FROM scratch\nCMD echo hi\nENTRYPOINT [\"app.exe\"]\n");
        let (config, _, _) = dispatch(&p, 0);
        assert_eq!(
            config.cmd,
            Some(vec![
                "cmd".into(),
                "/S".into(),
                "/C".into(),
                "echo hi".into()
            ])
        );
        assert!(config.args_escaped);
        let p =
            plan("FROM scratch\nSHELL [\"powershell\", \"-Command\"]\nENTRYPOINT Write-Host hi\n");
        let (config, _, _) = dispatch(&p, 0);
        assert_eq!(
            config.entrypoint,
            Some(vec![
                "powershell".into(),
                "-Command".into(),
                "Write-Host hi".into()
            ])
        );
        assert_eq!(config.cmd, None);
        assert!(!config.args_escaped);
        let mut opts = BuildOptions::default();
        opts.target_platform = Platform::new("linux", "amd64");
        let p = plan_with("FROM scratch\nRUN echo hi\n", &opts).unwrap();
        let (config, steps, _) = dispatch(&p, 0);
        let Step::Run(r) = &steps[0].step else {
            panic!()
        };
        assert_eq!(r.args, ["/bin/sh", "-c", "echo hi"]);
        assert!(config.env[0].starts_with("PATH=/usr/local/sbin"));
    }

    #[test]
    fn classic_mode_writes_the_classic_builders_history() {
        let src = "# escape=`\nFROM scratch\nARG V=1\nENV A=b\nWORKDIR C:\\app\nCOPY a.txt C:\nRUN echo %V%\nSHELL [\"cmd\", \"/C\"]\nRUN [\"cmd\", \"/C\", \"ver\"]\nUSER ContainerUser\n";
        let mut opts = BuildOptions::default();
        opts.path_mode = PathMode::Classic;
        let p = plan_with(src, &opts).unwrap();
        let (config, steps, _) = dispatch(&p, 0);
        assert_eq!(config.working_dir, "C:\\app");
        let history: Vec<&str> = steps.iter().map(|s| s.created_by.as_str()).collect();
        assert_eq!(
            history,
            [
                "cmd /S /C #(nop)  ARG V=1",
                "cmd /S /C #(nop)  ENV A=b",
                "cmd /S /C #(nop) WORKDIR C:\\app",
                "cmd /S /C #(nop) COPY a.txt C:",
                "|1 V=1 cmd /S /C echo %V%",
                "cmd /C #(nop)  SHELL [cmd /C]",
                "|1 V=1 cmd /C ver",
                "cmd /C #(nop)  USER ContainerUser",
            ]
        );
    }

    #[test]
    fn windows_paths_in_both_modes() {
        let src = "# escape=`\nFROM scratch\nWORKDIR C:\\app\nWORKDIR src\nCOPY a.txt .\\sub\\\nCOPY b.txt C:\\out\\b.txt\n";
        let p = plan(src);
        let (config, steps, _) = dispatch(&p, 0);
        assert_eq!(config.working_dir, "\\app\\src");
        assert_eq!(steps[1].step, Step::MakeDir("\\app\\src".into()));
        let Step::Copy(c) = &steps[2].step else {
            panic!()
        };
        assert_eq!(c.dest, "/app/src/sub/");
        let Step::Copy(c) = &steps[3].step else {
            panic!()
        };
        assert_eq!(c.dest, "/out/b.txt");

        let mut opts = BuildOptions::default();
        opts.path_mode = PathMode::Classic;
        let p = plan_with(src, &opts).unwrap();
        let (config, steps, _) = dispatch(&p, 0);
        assert_eq!(config.working_dir, "C:\\app\\src");
        let Step::Copy(c) = &steps[2].step else {
            panic!()
        };
        assert_eq!(c.dest, "\\app\\src\\sub\\");

        let p = plan("FROM scratch\nWORKDIR D:/data\n");
        let mut d = StageDispatcher::new(&p, &p.stages[0], BaseConfig::default());
        let e = d.dispatch(&p.stages[0].commands[0]).unwrap_err();
        assert!(
            e.message
                .contains("The specified path is not on the system drive (C:)"),
            "{e:?}"
        );
        assert_eq!(e.location.unwrap().start_line, 2);
    }

    #[test]
    fn copy_from_stage_index_image_and_errors() {
        let p = plan("FROM scratch AS build\nFROM scratch\nCOPY --from=build a b\nCOPY --from=0 a b\nCOPY --from=mcr.microsoft.com/windows/nanoserver:ltsc2022 a b\n");
        assert_eq!(p.stages[1].deps, BTreeSet::from([0]));
        let (_, steps, _) = dispatch(&p, 1);
        let froms: Vec<CopySource> = steps
            .iter()
            .map(|s| match &s.step {
                Step::Copy(c) => c.from.clone(),
                _ => panic!(),
            })
            .collect();
        assert_eq!(
            froms,
            [
                CopySource::Stage(0),
                CopySource::Stage(0),
                CopySource::Image("mcr.microsoft.com/windows/nanoserver:ltsc2022".into())
            ]
        );
        assert_eq!(p.build_order(), [0, 1]);

        let e = plan_with(
            "FROM scratch\nCOPY --from=5 a b\n",
            &BuildOptions::default(),
        )
        .unwrap_err();
        assert_eq!(
            (e.message.as_str(), e.location.unwrap().start_line),
            ("invalid stage index 5", 2)
        );
        let e = plan_with(
            "FROM scratch AS a\nCOPY --from=b x y\nFROM scratch AS b\nCOPY --from=a x y\n",
            &BuildOptions::default(),
        )
        .unwrap_err();
        assert!(
            e.message
                .starts_with("circular dependency detected on stage"),
            "{e:?}"
        );
        let e = plan_with(
            "FROM scratch AS a\nCOPY --from=a x y\n",
            &BuildOptions::default(),
        )
        .unwrap_err();
        assert!(
            e.message
                .starts_with("circular dependency detected on stage: a"),
            "{e:?}"
        );
        // A later stage may be referenced when there is no cycle; stages the target does not
        // need are not built.
        let src = "FROM scratch AS a\nCOPY --from=b x y\nFROM scratch AS b\n";
        assert_eq!(plan(src).build_order(), [1]);
        let opts = BuildOptions {
            target: Some("a".into()),
            ..Default::default()
        };
        assert_eq!(plan_with(src, &opts).unwrap().build_order(), [1, 0]);
    }

    #[test]
    fn from_stage_target_and_errors() {
        let p = plan("FROM mcr.microsoft.com/windows/servercore:ltsc2022 AS base\nFROM BASE AS app\nFROM scratch\n");
        assert_eq!(p.stages[1].base, Base::Stage(0));
        let mut opts = BuildOptions::default();
        opts.target = Some("App".into());
        let p = plan_with("FROM a AS base\nFROM base AS app\nFROM scratch\n", &opts).unwrap();
        assert_eq!(p.target, 1);
        assert_eq!(p.build_order(), [0, 1]);
        opts.target = Some("nope".into());
        assert_eq!(
            plan_with("FROM a\n", &opts).unwrap_err().message,
            "target stage \"nope\" could not be found"
        );
        let e = plan_with("ARG X\nFROM $X\n", &BuildOptions::default()).unwrap_err();
        assert_eq!(e.message, "base name ($X) should not be blank");
        let e = plan_with("RUN x\nFROM a\n", &BuildOptions::default()).unwrap_err();
        assert_eq!(e.message, "no build stage in current context");
        let e = plan_with(
            "FROM --platform=windows/sparc a\n",
            &BuildOptions::default(),
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("unknown operating system or architecture"),
            "{e:?}"
        );
    }

    #[test]
    fn onbuild_and_config_fields() {
        let p = plan("FROM scratch\nONBUILD COPY . C:/app\nLABEL a=b \"c d\"=e\nEXPOSE 80 8000-8001/udp\nVOLUME C:/data\nSTOPSIGNAL SIGTERM\nUSER ContainerAdministrator\nHEALTHCHECK CMD ping localhost\n");
        let (config, _, _) = dispatch(&p, 0);
        assert_eq!(config.on_build, ["COPY . C:/app"]);
        assert_eq!(config.labels.get("c d").map(String::as_str), Some("e"));
        assert_eq!(
            config.exposed_ports,
            BTreeSet::from(["80/tcp".to_string(), "8000/udp".into(), "8001/udp".into()])
        );
        assert!(config.volumes.contains("C:/data"));
        assert_eq!(config.stop_signal, "SIGTERM");
        assert_eq!(config.user, "ContainerAdministrator");
        assert_eq!(
            config.healthcheck.unwrap().test,
            ["CMD-SHELL", "ping localhost"]
        );
        let p = plan("FROM scratch\nSTOPSIGNAL SIGBOGUS\n");
        let mut d = StageDispatcher::new(&p, &p.stages[0], BaseConfig::default());
        assert_eq!(
            d.dispatch(&p.stages[0].commands[0]).unwrap_err().message,
            "Invalid signal: SIGBOGUS"
        );
        let p = plan("FROM scratch\nCOPY --chmod=8888 a b\n");
        let mut d = StageDispatcher::new(&p, &p.stages[0], BaseConfig::default());
        assert_eq!(
            d.dispatch(&p.stages[0].commands[0]).unwrap_err().message,
            "invalid chmod parameter: '8888'. it should be octal string and between 0 and 07777"
        );
    }

    #[test]
    fn heredoc_copy_is_expanded_and_run_heredoc_runs_body() {
        let p = plan("FROM scratch\nENV NAME=silo\nCOPY <<EOF C:/hello.txt\nhi $NAME\nEOF\nRUN <<EOF\necho one\nEOF\n");
        let (_, steps, _) = dispatch(&p, 0);
        let Step::Copy(c) = &steps[1].step else {
            panic!()
        };
        assert_eq!(c.contents[0].data, "hi silo\n");
        let Step::Run(r) = &steps[2].step else {
            panic!()
        };
        assert_eq!(r.args, ["cmd", "/S", "/C", "echo one\n"]);
    }

    #[test]
    fn lint_warnings() {
        let p = plan("FROM scratch as Build\nmaintainer me\nENV A b\nCMD a\nCMD b\nFROM --platform=linux/amd64 scratch\n");
        let rules: Vec<&str> = p.warnings.iter().map(|w| w.rule).collect();
        for want in [
            "FromAsCasing",
            "StageNameCasing",
            "MaintainerDeprecated",
            "LegacyKeyValueFormat",
            "JSONArgsRecommended",
            "ConsistentInstructionCasing",
            "FromPlatformFlagConstDisallowed",
        ] {
            assert!(rules.contains(&want), "{want} in {rules:?}");
        }
        let (_, _, w) = dispatch(&p, 0);
        assert!(w.iter().any(|w| w.rule == "MultipleInstructionsDisallowed"));
        let p = plan("FROM $NOPE_X:1\n");
        assert_eq!(p.warnings[0].rule, "UndefinedArgInFrom");
    }

    #[test]
    fn unused_build_args() {
        let mut opts = BuildOptions::default();
        for k in ["USED", "UNUSED", "HTTP_PROXY", "TARGETOS"] {
            opts.build_args.insert(k.into(), "x".into());
        }
        let p = plan_with("FROM scratch\nARG USED\n", &opts).unwrap();
        assert_eq!(p.unused_build_args(), ["UNUSED"]);
    }

    #[test]
    fn history_matches_buildkit() {
        let mut opts = BuildOptions::default();
        opts.build_args.insert("V".into(), "9".into());
        let src = "# escape=`\nFROM scratch AS base\nARG V\nENV A=1 B=x\nLABEL l=v\nWORKDIR C:\\app\nRUN echo %A%\nCOPY --chown=ContainerUser --chmod=644 a b C:\\out\\\nCMD echo hi\nEXPOSE 443 80\nVOLUME C:\\data D:\\logs\nSHELL [\"powershell\", \"-Command\"]\nHEALTHCHECK --interval=90s --retries=3 CMD ping\nONBUILD RUN x\nUSER ContainerUser\nFROM base\nRUN dir\n";
        let p = plan_with(src, &opts).unwrap();
        let mut d = StageDispatcher::new(&p, &p.stages[0], BaseConfig::default());
        let steps = d.dispatch_all(&[]).unwrap();
        let history: Vec<&str> = steps.iter().map(|s| s.created_by.as_str()).collect();
        assert_eq!(
            history,
            [
                "ARG V=9",
                "ENV A=1 B=x",
                "LABEL l=v",
                "WORKDIR /app",
                "RUN |1 V=9 cmd /S /C echo %A% # buildkit",
                "COPY --chown=ContainerUser --chmod=644 a b C:\\out\\ # buildkit",
                "CMD [\"cmd\" \"/S\" \"/C\" \"echo hi\"]",
                "EXPOSE map[443/tcp:{} 80/tcp:{}]",
                "VOLUME [C:\\data D:\\logs]",
                "SHELL [powershell -Command]",
                "HEALTHCHECK &{[\"CMD-SHELL\" \"ping\"] \"1m30s\" \"0s\" \"0s\" \"0s\" '\\x03'}",
                "",
                "USER ContainerUser",
            ]
        );
        let empty: Vec<bool> = steps.iter().map(|s| s.empty_layer).collect();
        assert_eq!(
            empty,
            [true, true, true, false, false, false, true, true, true, true, true, true, true]
        );
        // The child stage inherits the base stage's ARGs and build environment.
        let mut child = StageDispatcher::new(&p, &p.stages[1], d.finish());
        let steps = child.dispatch_all(&[]).unwrap();
        assert_eq!(
            steps[0].created_by,
            "RUN |1 V=9 powershell -Command dir # buildkit"
        );
        let Step::Run(run) = &steps[0].step else {
            panic!()
        };
        assert!(run.env.contains(&"V=9".to_string()));
        assert_eq!(run.working_dir, "\\app");
    }

    #[test]
    fn go_duration_format() {
        use std::time::Duration;
        for (d, want) in [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(50), "50ns"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_millis(1), "1ms"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_secs(5), "5s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_secs(3725), "1h2m5s"),
        ] {
            assert_eq!(go_duration(d), want);
        }
        assert_eq!(go_quote_rune('\u{0}'), "'\\x00'");
        assert_eq!(go_quote_rune('A'), "'A'");
        assert_eq!(go_quote_rune('\n'), "'\\n'");
    }

    #[test]
    fn copy_sources_and_checksum_rules() {
        let err = |src: &str| {
            let p = plan(src);
            let mut d = StageDispatcher::new(&p, &p.stages[0], BaseConfig::default());
            d.dispatch(&p.stages[0].commands[0]).unwrap_err().message
        };
        assert_eq!(
            err("FROM scratch\nCOPY https://example.com/a.zip C:/\n"),
            "source can't be a URL for COPY"
        );
        assert_eq!(
            err("FROM scratch\nCOPY git@github.com:a/b.git C:/\n"),
            "source can't be a git ref for COPY"
        );
        assert_eq!(
            err("FROM scratch\nADD --checksum=sha256:0 a b C:/\n"),
            "checksum can't be specified for multiple sources"
        );
        assert_eq!(
            err("FROM scratch\nADD --checksum=sha256:0 a C:/\n"),
            "checksum can't be specified for non-HTTP(S) sources"
        );
        assert_eq!(err("FROM scratch\nWORKDIR D:\\x\n"), "normalizing workdir: normalizing working directory: removing drive letter: The specified path is not on the system drive (C:)");
    }

    #[test]
    fn load_and_image_onbuild_triggers() {
        let (parsed, p) = load(
            b"# escape=`\nFROM mcr.microsoft.com/dotnet/sdk:8.0 AS build\n",
            &BuildOptions::default(),
        )
        .unwrap();
        assert_eq!(parsed.escape_token, '`');
        assert_eq!(p.stages[0].name, "build");
        let e = load(b"FROM a\nRUN [\"x\", 1]\n", &BuildOptions::default()).unwrap_err();
        assert_eq!(e.location.unwrap().start_line, 2);
        // Triggers stored in a base image's config run first, located at the child's FROM.
        let at = p.stages[0].from.location;
        let triggers = onbuild_commands(
            &["COPY . C:/src".into(), "RUN dotnet restore".into()],
            at,
            HostMode::Linux,
        )
        .unwrap();
        let mut d = StageDispatcher::new(&p, &p.stages[0], BaseConfig::default());
        let steps = d.dispatch_all(&triggers).unwrap();
        assert!(matches!(&steps[0].step, Step::Copy(c) if c.dest == "/src"));
        assert!(
            matches!(&steps[1].step, Step::Run(r) if r.command_line == "cmd /S /C dotnet restore")
        );
        assert_eq!(steps[1].command.location, at);
        let e = onbuild_commands(&["FROM x".into()], at, HostMode::Linux).unwrap_err();
        assert_eq!(e.message, "FROM isn't allowed as an ONBUILD trigger");
    }

    #[test]
    fn copy_source_paths_lose_the_drive() {
        let p = plan("# escape=`\nFROM scratch AS b\nFROM scratch\nCOPY --from=b C:\\app\\bin\\ sub/../x.txt C:\\out\\\n");
        let mut d = StageDispatcher::new(&p, &p.stages[1], BaseConfig::default());
        let Step::Copy(c) = d.dispatch(&p.stages[1].commands[0]).unwrap().step else {
            panic!()
        };
        assert_eq!(c.source_paths, ["/app/bin", "/x.txt"]);
        let p = plan("FROM scratch AS b\nFROM scratch\nCOPY --from=b D:/x y\n");
        let mut d = StageDispatcher::new(&p, &p.stages[1], BaseConfig::default());
        let e = d.dispatch(&p.stages[1].commands[0]).unwrap_err();
        assert_eq!(
            e.message,
            // BuildKit wraps twice: in NormalizePath and in dispatchCopy.
            "removing drive letter: removing drive letter: The specified path is not on the system drive (C:)"
        );
    }

    #[test]
    fn platform_parse() {
        assert_eq!(
            Platform::parse("windows/amd64").unwrap(),
            Platform::windows_amd64()
        );
        assert_eq!(Platform::parse("Windows/x86_64").unwrap().arch, "amd64");
        assert_eq!(
            Platform::parse("linux/arm64/v8").unwrap().to_string(),
            "linux/arm64/v8"
        );
        assert_eq!(
            Platform::parse("windows(10.0.17763)/amd64")
                .unwrap()
                .os_version,
            "10.0.17763"
        );
        assert!(Platform::parse("plan10/amd64").is_err());
        assert!(Platform::parse("").is_err());
    }
}
