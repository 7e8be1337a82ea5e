//! Build stages and their dispatch, following BuildKit's `instructions.Parse` and
//! `dockerfile2llb` (`convert.go`, `platform.go`, `convert_expose.go`). This module owns the
//! build options, the frontend error and [`load`]; the work is split by concern:
//!
//! - `platform`: `os/arch[/variant]` platforms and their defaults;
//! - `plan`: [`parse_stages`] splits the AST into meta ARGs and stages of typed, *unexpanded*
//!   commands, evaluates the global args, expands each `FROM` with them and resolves
//!   `FROM <stage>` and `COPY --from` (name, index or image) into a dependency graph with
//!   BuildKit's errors (cycles, bad indexes, unknown target);
//! - `args`: the automatic platform args and the predefined proxy args;
//! - `lint`: BuildKit's lint rules that look at the AST only;
//! - `dispatch`: [`StageDispatcher`] walks one stage's commands the way BuildKit dispatches
//!   them: the environment seen by each instruction (ARG/ENV precedence, later wins), word
//!   expansion, image-config changes (Env, WorkingDir, Cmd/Entrypoint with the Windows shell
//!   and `ArgsEscaped`, Shell, User, Labels, ports, volumes, STOPSIGNAL, HEALTHCHECK, ONBUILD)
//!   and the filesystem steps the build engine must run (RUN, COPY/ADD with normalized
//!   destinations, WORKDIR creation), plus BuildKit's lint warnings;
//! - `history`: the history `created_by` texts BuildKit writes;
//! - `values`: value rules checked at dispatch (remote sources, `--chmod`, EXPOSE ports).

mod args;
mod dispatch;
mod history;
mod lint;
mod plan;
mod platform;
#[cfg(test)]
// Options are built up field by field so each test shows only what it changes.
#[allow(clippy::field_reassign_with_default)]
mod tests;
mod values;

use std::collections::BTreeMap;

use super::instructions::{parse_instruction, Command, InstructionError, Location, Parsed};
use super::shell::HostMode;
use super::winpath::PathMode;

pub use args::is_proxy_arg;
pub use dispatch::{
    default_shell, BaseConfig, CopyStep, Dispatched, ImageConfig, RunStep, StageDispatcher, Step,
};
pub use history::go_duration;
pub use plan::{parse_stages, resolve_source, Base, BuildPlan, CopySource, Stage};
pub use platform::Platform;
pub use values::is_remote_source;

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
) -> Result<(crate::dockerfile::ParseResult, BuildPlan), FrontendError> {
    let parsed = crate::dockerfile::parse(bytes).map_err(|e| FrontendError {
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
        let parsed = crate::dockerfile::parse(trigger.as_bytes())
            .map_err(|e| FrontendError::at(e.message, at))?;
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
