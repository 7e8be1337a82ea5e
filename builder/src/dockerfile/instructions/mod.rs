//! Typed Dockerfile instructions, as BuildKit's `frontend/dockerfile/instructions` builds them
//! from the AST. This module owns the command types; the work is split by concern:
//!
//! - `flags`: the `--flag` parser and its "did you mean" hints (`bflag.go`);
//! - `parse`: one AST node to one typed command, with BuildKit's argument rules and error
//!   texts (`parse.go`);
//! - `run`: `RUN --mount/--network/--security` (`commands_run*.go`);
//! - `healthcheck`: HEALTHCHECK and Go's duration syntax;
//! - `expand`: word expansion of a parsed command.
//!
//! Parsing does **not** expand variables; like BuildKit, expansion happens when a stage is
//! dispatched, with the stage's environment at that point. [`Command::expand`] does it with a
//! given lexer and environment, for exactly the words BuildKit expands.

mod expand;
mod flags;
mod healthcheck;
mod parse;
mod run;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use flags::Flags;
pub use healthcheck::parse_go_duration;
pub use parse::{check_signal, is_valid_stage_name, parse_instruction};
pub use run::{parse_mount, WordExpander};

/// 1-based line range of an instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    pub start_line: usize,
    pub end_line: usize,
}

/// A Dockerfile instruction that could not be turned into a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InstructionError {
    /// BuildKit's message (e.g. `COPY requires at least two arguments, but only one was provided.
    /// Destination could not be determined`).
    pub message: String,
    pub location: Location,
}

impl InstructionError {
    pub fn new(message: impl Into<String>, location: Location) -> Self {
        InstructionError {
            message: message.into(),
            location,
        }
    }
}

/// `KEY=value` of ENV/LABEL; `no_delim` for the legacy `ENV KEY value` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
    pub no_delim: bool,
}

/// One `ARG name[=default]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDef {
    pub key: String,
    pub value: Option<String>,
    /// Documentation comment (`# name does …` above the ARG).
    pub comment: String,
}

/// An inline file from a heredoc source (`COPY <<EOF /dest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceContent {
    pub path: String,
    pub data: String,
    /// Variables in `data` are expanded (unquoted delimiter).
    pub expand: bool,
}

/// Sources and destination of ADD/COPY.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourcesAndDest {
    pub dest: String,
    pub sources: Vec<String>,
    pub contents: Vec<SourceContent>,
}

/// A heredoc file given to RUN (`RUN <<EOF`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineFile {
    pub name: String,
    pub data: String,
    pub chomp: bool,
}

/// The command line of RUN/CMD/ENTRYPOINT: JSON (exec) form, or shell form (one string, to be
/// prefixed with the shell when dispatched).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CmdLine {
    pub args: Vec<String>,
    pub prepend_shell: bool,
    pub files: Vec<InlineFile>,
}

/// `RUN --mount` type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

impl MountType {
    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

/// One `RUN --mount=…` (after expansion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub kind: MountType,
    pub from: String,
    pub source: String,
    pub target: String,
    pub read_only: bool,
    pub cache_id: String,
    pub sharing: String,
    pub required: bool,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size_limit: Option<u64>,
}

/// `RUN --network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    #[default]
    Default,
    None,
    Host,
}

/// `RUN --security`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Security {
    #[default]
    Sandbox,
    Insecure,
}

/// A HEALTHCHECK configuration (`Test` as the image config stores it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Health {
    pub test: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCommand {
    pub paths: SourcesAndDest,
    pub chown: String,
    pub chmod: String,
    pub link: bool,
    pub keep_git_dir: bool,
    pub checksum: String,
    pub unpack: Option<bool>,
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyCommand {
    pub paths: SourcesAndDest,
    pub from: String,
    pub chown: String,
    pub chmod: String,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCommand {
    pub cmd: CmdLine,
    /// Raw `--mount` values; [`RunCommand::mounts`] parses them once expanded.
    pub mount_specs: Vec<String>,
    pub network: NetworkMode,
    pub security: Security,
    /// Names of the flags used (`FlagsUsed`).
    pub flags_used: Vec<String>,
}

/// An instruction with typed arguments (not yet expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Env(Vec<KeyValue>),
    Label(Vec<KeyValue>),
    Maintainer(String),
    Add(AddCommand),
    Copy(CopyCommand),
    /// The trigger text after `ONBUILD` (heredoc bodies appended).
    Onbuild(String),
    Workdir(String),
    Run(RunCommand),
    Cmd(CmdLine),
    Entrypoint(CmdLine),
    Healthcheck(Health),
    Expose(Vec<String>),
    User(String),
    Volume(Vec<String>),
    StopSignal(String),
    Arg(Vec<ArgDef>),
    Shell(Vec<String>),
}

/// A typed instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The instruction keyword as written (`copy`, `COPY`).
    pub keyword: String,
    /// The instruction's logical line (BuildKit's `Original`).
    pub original: String,
    pub location: Location,
    pub instruction: Instruction,
}

/// `FROM [--platform=…] base [AS name]`, before any expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromInstruction {
    pub base_name: String,
    /// Lower-cased stage name, empty without `AS`.
    pub name: String,
    pub platform: String,
    pub location: Location,
    pub original: String,
    /// Documentation comment for the stage (`# name does …`).
    pub comment: String,
}

/// What one AST instruction node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    From(FromInstruction),
    Command(Command),
}

/// The instruction keywords BuildKit knows (for "did you mean" hints).
pub const INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];
