//! The build plan: stages of unexpanded commands, the global args FROM lines see, and the
//! dependency graph between stages (`FROM <stage>`, `COPY --from`, `RUN --mount=from=`) with
//! BuildKit's errors.

use std::collections::{BTreeMap, BTreeSet};

use super::args::{automatic_arg_names, automatic_args, is_proxy_arg};
use super::lint::lint_ast;
use super::{BuildOptions, FrontendError, LintWarning, Platform};
use crate::dockerfile::ast::Node;
use crate::dockerfile::instructions::{
    parse_instruction, ArgDef, Command, FromInstruction, Instruction, Location, Parsed,
};
use crate::dockerfile::shell::{Env, Lexer};

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
                        crate::dockerfile::goquote::quote(t)
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
                        crate::dockerfile::goquote::quote(&from.platform)
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
