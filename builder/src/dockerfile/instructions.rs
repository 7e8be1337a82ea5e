//! Typed Dockerfile instructions, as BuildKit's `frontend/dockerfile/instructions` builds them
//! from the AST: flag validation (`bflag.go`), per-instruction argument rules and error texts
//! (`parse.go`), `RUN --mount/--network/--security` (`commands_run*.go`), HEALTHCHECK durations.
//!
//! Parsing does **not** expand variables; like BuildKit, expansion happens when a stage is
//! dispatched, with the stage's environment at that point. [`Command::expand`] does it with a
//! given lexer and environment, for exactly the words BuildKit expands.

use std::time::Duration;

use super::ast::{Heredoc, Node};
use super::heredoc::{chomp_heredoc_content, parse_heredoc};
use super::shell::{Env, HostMode, LexError, Lexer};

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

// ---------------------------------------------------------------------------------------------
// Flags (BuildKit `bflag.go`)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlagKind {
    Bool,
    String,
    /// May be repeated; every value is kept (`--mount`, `--exclude`).
    Strings,
}

#[derive(Debug, Clone)]
struct FlagDef {
    name: &'static str,
    kind: FlagKind,
    value: String,
    values: Vec<String>,
    used: bool,
}

/// The `--flags` of one instruction, checked against the flags it accepts.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    args: Vec<String>,
    defs: Vec<FlagDef>,
}

impl Flags {
    pub fn new(args: &[String]) -> Self {
        Flags {
            args: args.to_vec(),
            defs: Vec::new(),
        }
    }

    fn add(&mut self, name: &'static str, kind: FlagKind, default: &str) {
        self.defs.push(FlagDef {
            name,
            kind,
            value: default.to_string(),
            values: Vec::new(),
            used: false,
        });
    }

    pub fn add_bool(&mut self, name: &'static str, default: bool) {
        self.add(name, FlagKind::Bool, if default { "true" } else { "false" });
    }

    pub fn add_string(&mut self, name: &'static str, default: &str) {
        self.add(name, FlagKind::String, default);
    }

    pub fn add_strings(&mut self, name: &'static str) {
        self.add(name, FlagKind::Strings, "");
    }

    /// `BFlags.Parse`: `--name=value` or bare `--bool`; `--` ends the flags.
    pub fn parse(&mut self) -> Result<(), String> {
        for arg in self.args.clone() {
            if arg == "--" {
                return Ok(());
            }
            if !arg.starts_with("--") {
                return Err(format!("arg should start with -- : {arg}"));
            }
            let (flag_name, value) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (arg.as_str(), None),
            };
            let name = &flag_name[2..];
            let names: Vec<&str> = self.defs.iter().map(|d| d.name).collect();
            let Some(def) = self.defs.iter_mut().find(|d| d.name == name) else {
                let mut msg = format!("unknown flag: {flag_name}");
                if let Some(s) = suggest(name, &names, true) {
                    msg.push_str(&format!(" (did you mean {s}?)"));
                }
                return Err(msg);
            };
            if def.used && def.kind != FlagKind::Strings {
                return Err(format!("duplicate flag specified: {flag_name}"));
            }
            def.used = true;
            match def.kind {
                FlagKind::Bool => {
                    if value == Some("") {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    }
                    match value.unwrap_or("").to_lowercase().as_str() {
                        "true" | "" => def.value = "true".into(),
                        "false" => def.value = "false".into(),
                        _ => {
                            return Err(format!(
                                "expecting boolean value for flag {flag_name}, not: {}",
                                value.unwrap_or("")
                            ))
                        }
                    }
                }
                FlagKind::String => match value {
                    Some(v) => def.value = v.to_string(),
                    None => return Err(format!("missing a value on flag: {flag_name}")),
                },
                FlagKind::Strings => match value {
                    Some(v) => def.values.push(v.to_string()),
                    None => return Err(format!("missing a value on flag: {flag_name}")),
                },
            }
        }
        Ok(())
    }

    fn def(&self, name: &str) -> Option<&FlagDef> {
        self.defs.iter().find(|d| d.name == name)
    }

    pub fn string(&self, name: &str) -> String {
        self.def(name).map(|d| d.value.clone()).unwrap_or_default()
    }

    pub fn strings(&self, name: &str) -> Vec<String> {
        self.def(name).map(|d| d.values.clone()).unwrap_or_default()
    }

    pub fn is_true(&self, name: &str) -> bool {
        self.def(name).is_some_and(|d| d.value == "true")
    }

    pub fn is_used(&self, name: &str) -> bool {
        self.def(name).is_some_and(|d| d.used)
    }

    /// Names of the flags that were given, sorted.
    pub fn used(&self) -> Vec<String> {
        let mut used: Vec<String> = self
            .defs
            .iter()
            .filter(|d| d.used)
            .map(|d| d.name.to_string())
            .collect();
        used.sort();
        used
    }
}

/// BuildKit's `suggest.WrapError`: the first candidate closer than 3 edits (none when the
/// value is itself a candidate); case-insensitive matching returns it in the value's case.
fn suggest(value: &str, candidates: &[&str], case_sensitive: bool) -> Option<String> {
    let fold = |s: &str| {
        if case_sensitive {
            s.to_string()
        } else {
            s.to_lowercase()
        }
    };
    let val = fold(value);
    let mut best: Option<String> = None;
    let mut min = 3;
    for c in candidates {
        let opt = fold(c);
        if opt == val {
            return None;
        }
        let d = levenshtein(&val, &opt);
        if d < min {
            min = d;
            best = Some(if case_sensitive {
                opt
            } else if value == value.to_lowercase() {
                opt.to_lowercase()
            } else if value == value.to_uppercase() {
                opt.to_uppercase()
            } else {
                opt
            });
        }
    }
    best
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

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

/// The parts of an AST node the instruction parsers read (BuildKit's `parseRequest`).
struct Request<'a> {
    args: Vec<String>,
    heredocs: &'a [Heredoc],
    json: bool,
    flags: Flags,
    original: &'a str,
    comments: &'a [String],
    host: HostMode,
}

/// `nodeArgs`: argument values; an ONBUILD argument contributes its trigger's words.
fn node_args(node: &Node) -> Vec<String> {
    let mut out = Vec::new();
    for arg in node.args() {
        match arg.children.len() {
            0 => out.push(arg.value.clone()),
            1 => {
                out.push(arg.children[0].value.clone());
                out.extend(node_args(&arg.children[0]));
            }
            _ => {}
        }
    }
    out
}

fn at_least_one(cmd: &str) -> String {
    format!("{cmd} requires at least one argument")
}

fn exactly_one(cmd: &str) -> String {
    format!("{cmd} requires exactly one argument")
}

fn no_destination(cmd: &str) -> String {
    format!(
        "{cmd} requires at least two arguments, but only one was provided. Destination could not be determined"
    )
}

fn blank_names(cmd: &str) -> String {
    format!("{cmd} names can not be blank")
}

/// `errNotJSON`; a Windows-hosted BuildKit adds a hint about unescaped `c:\` paths.
fn not_json(cmd: &str, original: &str, host: HostMode) -> String {
    let mut extra = String::new();
    if host == HostMode::Windows {
        let lowered = original
            .to_lowercase()
            .replace(&format!("{} ", cmd.to_lowercase()), "");
        let looks_like_path = regex::Regex::new(r#""[a-z]:\\.*"#)
            .map(|re| re.is_match(&lowered))
            .unwrap_or(false);
        if looks_like_path
            && !lowered.contains("\\\\")
            && lowered.contains('[')
            && lowered.contains(']')
        {
            extra = format!(
                ". It looks like '{lowered}' includes a file path without an escaped back-slash. JSON requires back-slashes to be escaped such as [\"c:\\\\path\\\\to\\\\file.exe\", \"/parameter\"]"
            );
        }
    }
    format!("{cmd} requires the arguments to be in JSON form{extra}")
}

fn comment_for(comments: &[String], name: &str) -> String {
    if name.is_empty() {
        return String::new();
    }
    let prefix = format!("{name} ");
    comments
        .iter()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or("")
        .to_string()
}

/// BuildKit's `ParseInstruction` for one AST instruction node. `host` only changes the wording
/// of one error hint.
pub fn parse_instruction(node: &Node, host: HostMode) -> Result<Parsed, InstructionError> {
    let location = Location {
        start_line: node.start_line,
        end_line: node.end_line,
    };
    let mut req = Request {
        args: node_args(node),
        heredocs: &node.heredocs,
        json: node.json,
        flags: Flags::new(&node.flags),
        original: &node.original,
        comments: &node.prev_comment,
        host,
    };
    let err = |m: String| InstructionError::new(m, location);
    let lower = node.value.to_lowercase();
    let instruction = match lower.as_str() {
        "from" => {
            return parse_from(&mut req, location)
                .map(Parsed::From)
                .map_err(err)
        }
        "env" => Instruction::Env(parse_kv_command(&mut req, "ENV").map_err(err)?),
        "label" => Instruction::Label(parse_kv_command(&mut req, "LABEL").map_err(err)?),
        "maintainer" => {
            if req.args.len() != 1 {
                return Err(err(exactly_one("MAINTAINER")));
            }
            req.flags.parse().map_err(err)?;
            Instruction::Maintainer(req.args[0].clone())
        }
        "add" => Instruction::Add(parse_add(&mut req).map_err(err)?),
        "copy" => Instruction::Copy(parse_copy(&mut req).map_err(err)?),
        "onbuild" => Instruction::Onbuild(parse_onbuild(&mut req).map_err(err)?),
        "workdir" => Instruction::Workdir(single_argument(&mut req, "WORKDIR").map_err(err)?),
        "run" => Instruction::Run(parse_run(&mut req).map_err(err)?),
        "cmd" => {
            req.flags.parse().map_err(err)?;
            Instruction::Cmd(shell_dependent(&req, false))
        }
        "entrypoint" => {
            req.flags.parse().map_err(err)?;
            Instruction::Entrypoint(shell_dependent(&req, true))
        }
        "healthcheck" => Instruction::Healthcheck(parse_healthcheck(&mut req).map_err(err)?),
        "expose" => {
            if req.args.is_empty() {
                return Err(err(at_least_one("EXPOSE")));
            }
            req.flags.parse().map_err(err)?;
            let mut ports = req.args.clone();
            ports.sort();
            Instruction::Expose(ports)
        }
        "user" => Instruction::User(single_argument(&mut req, "USER").map_err(err)?),
        "volume" => {
            if req.args.is_empty() {
                return Err(err(at_least_one("VOLUME")));
            }
            req.flags.parse().map_err(err)?;
            let mut volumes = Vec::new();
            for v in &req.args {
                let v = v.trim();
                if v.is_empty() {
                    return Err(err("VOLUME specified can not be an empty string".into()));
                }
                volumes.push(v.to_string());
            }
            Instruction::Volume(volumes)
        }
        "stopsignal" => {
            if req.args.len() != 1 {
                return Err(err(exactly_one("STOPSIGNAL")));
            }
            Instruction::StopSignal(req.args[0].clone())
        }
        "arg" => Instruction::Arg(parse_arg(&mut req).map_err(err)?),
        "shell" => {
            req.flags.parse().map_err(err)?;
            let shell = json_args(&req);
            if shell.is_empty() {
                return Err(err(at_least_one("SHELL")));
            }
            if !req.json {
                return Err(err(not_json("SHELL", req.original, req.host)));
            }
            Instruction::Shell(shell)
        }
        _ => {
            let mut msg = format!("unknown instruction: {}", node.value);
            if let Some(s) = suggest(&node.value, INSTRUCTIONS, false) {
                msg.push_str(&format!(" (did you mean {s}?)"));
            }
            return Err(err(msg));
        }
    };
    Ok(Parsed::Command(Command {
        keyword: node.value.clone(),
        original: node.original.clone(),
        location,
        instruction,
    }))
}

fn single_argument(req: &mut Request, cmd: &str) -> Result<String, String> {
    if req.args.len() != 1 {
        return Err(exactly_one(cmd));
    }
    req.flags.parse()?;
    Ok(req.args[0].clone())
}

fn parse_kv_command(req: &mut Request, cmd: &str) -> Result<Vec<KeyValue>, String> {
    req.flags.parse()?;
    let args = &req.args;
    if args.is_empty() {
        return Err(at_least_one(cmd));
    }
    if !args.len().is_multiple_of(3) {
        return Err(format!("Bad input to {cmd}, too many arguments"));
    }
    let mut out = Vec::new();
    for triple in args.chunks(3) {
        if triple[0].is_empty() {
            return Err(blank_names(cmd));
        }
        out.push(KeyValue {
            key: triple[0].clone(),
            value: triple[1].clone(),
            no_delim: triple[2].is_empty(),
        });
    }
    Ok(out)
}

fn parse_from(req: &mut Request, location: Location) -> Result<FromInstruction, String> {
    let args = &req.args;
    let name = if args.len() == 3 && args[1].eq_ignore_ascii_case("as") {
        let name = args[2].to_lowercase();
        if !is_valid_stage_name(&name) {
            return Err(format!(
                "invalid name for build stage: {}, name can't start with a number or contain symbols",
                super::goquote::quote(&args[2])
            ));
        }
        name
    } else if args.len() != 1 {
        return Err("FROM requires either one or three arguments".into());
    } else {
        String::new()
    };
    req.flags.add_string("platform", "");
    req.flags.parse()?;
    Ok(FromInstruction {
        base_name: req.args[0].clone(),
        comment: comment_for(req.comments, &name),
        name,
        platform: req.flags.string("platform"),
        location,
        original: req.original.trim().to_string(),
    })
}

/// `^[a-z][a-z0-9-_.]*$`.
pub fn is_valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn sources_and_dest(req: &Request, cmd: &str) -> Result<SourcesAndDest, String> {
    let (dest, sources) = req
        .args
        .split_last()
        .expect("checked: at least two arguments");
    if parse_heredoc(dest).ok().flatten().is_some() {
        return Err(format!("{cmd} cannot accept a heredoc as a destination"));
    }
    let mut out = SourcesAndDest {
        dest: dest.clone(),
        ..Default::default()
    };
    for src in sources {
        match parse_heredoc(src).ok().flatten() {
            Some(marker) => {
                let body = req
                    .heredocs
                    .iter()
                    .rev()
                    .find(|h| h.name == marker.name)
                    .map(|h| h.content.clone())
                    .unwrap_or_default();
                let data = if marker.chomp {
                    chomp_heredoc_content(&body)
                } else {
                    body
                };
                out.contents.push(SourceContent {
                    path: marker.name,
                    data,
                    expand: marker.expand,
                });
            }
            None => out.sources.push(src.clone()),
        }
    }
    Ok(out)
}

fn parse_add(req: &mut Request) -> Result<AddCommand, String> {
    if req.args.len() < 2 {
        return Err(no_destination("ADD"));
    }
    req.flags.add_strings("exclude");
    req.flags.add_string("chown", "");
    req.flags.add_string("chmod", "");
    req.flags.add_bool("link", false);
    req.flags.add_bool("keep-git-dir", false);
    req.flags.add_string("checksum", "");
    req.flags.add_bool("unpack", false);
    req.flags.parse()?;
    let paths = sources_and_dest(req, "ADD")?;
    let f = &req.flags;
    Ok(AddCommand {
        paths,
        chown: f.string("chown"),
        chmod: f.string("chmod"),
        link: f.is_true("link"),
        keep_git_dir: f.is_true("keep-git-dir"),
        checksum: f.string("checksum"),
        unpack: f.is_used("unpack").then(|| f.is_true("unpack")),
        exclude: f.strings("exclude"),
    })
}

fn parse_copy(req: &mut Request) -> Result<CopyCommand, String> {
    if req.args.len() < 2 {
        return Err(no_destination("COPY"));
    }
    req.flags.add_strings("exclude");
    req.flags.add_bool("parents", false);
    req.flags.add_string("chown", "");
    req.flags.add_string("from", "");
    req.flags.add_string("chmod", "");
    req.flags.add_bool("link", false);
    req.flags.parse()?;
    let paths = sources_and_dest(req, "COPY")?;
    let f = &req.flags;
    Ok(CopyCommand {
        paths,
        from: f.string("from"),
        chown: f.string("chown"),
        chmod: f.string("chmod"),
        link: f.is_true("link"),
        parents: f.is_true("parents"),
        exclude: f.strings("exclude"),
    })
}

fn parse_onbuild(req: &mut Request) -> Result<String, String> {
    if req.args.is_empty() {
        return Err(at_least_one("ONBUILD"));
    }
    req.flags.parse()?;
    let trigger = req.args[0].trim().to_uppercase();
    match trigger.as_str() {
        "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
        "MAINTAINER" | "FROM" => {
            return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"))
        }
        _ => {}
    }
    // `(?i)^\s*ONBUILD\s*` removed from the original line.
    let trimmed = req.original.trim_start();
    let mut expression = match trimmed.get(..7) {
        Some(kw) if kw.eq_ignore_ascii_case("onbuild") => trimmed[7..].trim_start().to_string(),
        _ => req.original.to_string(),
    };
    for h in req.heredocs {
        expression.push('\n');
        expression.push_str(&h.content);
        expression.push_str(&h.name);
    }
    Ok(expression)
}

/// `handleJSONArgs`: JSON form keeps the words; shell form is one string of all words.
fn json_args(req: &Request) -> Vec<String> {
    if req.args.is_empty() {
        return Vec::new();
    }
    if req.json {
        return req.args.clone();
    }
    vec![req.args.join(" ")]
}

fn shell_dependent(req: &Request, empty_as_nil: bool) -> CmdLine {
    let _ = empty_as_nil; // an empty Vec stands for both nil and [] here
    CmdLine {
        args: json_args(req),
        prepend_shell: !req.json,
        files: req
            .heredocs
            .iter()
            .map(|h| InlineFile {
                name: h.name.clone(),
                data: h.content.clone(),
                chomp: h.chomp,
            })
            .collect(),
    }
}

fn parse_run(req: &mut Request) -> Result<RunCommand, String> {
    req.flags.add_strings("mount");
    req.flags.add_string("network", "");
    req.flags.add_string("security", "");
    req.flags.parse()?;
    let network = match req.flags.string("network").as_str() {
        "" | "default" => NetworkMode::Default,
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        other => {
            return Err(format!(
                "unsupported network mode {}",
                super::goquote::quote(other)
            ))
        }
    };
    let security = match req.flags.string("security").as_str() {
        "" | "sandbox" => Security::Sandbox,
        "insecure" => Security::Insecure,
        other => {
            return Err(format!(
                "security {} is not valid",
                super::goquote::quote(other)
            ))
        }
    };
    let mount_specs = req.flags.strings("mount");
    // Parse once now (no expansion) to report malformed mounts early, as BuildKit does.
    for spec in &mount_specs {
        parse_mount(spec, None)?;
    }
    Ok(RunCommand {
        cmd: shell_dependent(req, false),
        mount_specs,
        network,
        security,
        flags_used: req.flags.used(),
    })
}

/// Splits one CSV record (Go `encoding/csv` rules for one line: `"` quoting, `""` escapes).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => {
                        return Err(
                            "failed to parse csv mounts: extraneous or missing \" in quoted-field"
                                .into(),
                        )
                    }
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(_) => {
                    return Err(
                        "failed to parse csv mounts: extraneous or missing \" in quoted-field"
                            .into(),
                    )
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => {
                        return Err("failed to parse csv mounts: bare \" in non-quoted-field".into())
                    }
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// docker/go-units `RAMInBytes`: `64m`, `1.5GiB`, `1024`.
fn ram_in_bytes(value: &str) -> Option<u64> {
    let v = value.trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let num: f64 = num.parse().ok()?;
    let mult: f64 = match unit
        .to_lowercase()
        .trim_end_matches("ib")
        .trim_end_matches('b')
    {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0f64.powi(3),
        "t" => 1024.0f64.powi(4),
        "p" => 1024.0f64.powi(5),
        _ => return None,
    };
    Some((num * mult) as u64)
}

/// Expands one word of an instruction (BuildKit's `SingleWordExpander`).
pub type WordExpander<'a> = &'a mut dyn FnMut(&str) -> Result<String, String>;

/// BuildKit's `parseMount`. Without an expander (`None`) only the structure and the `from`
/// field are checked, as at parse time; with one every value is expanded and validated.
pub fn parse_mount(spec: &str, mut expand: Option<WordExpander>) -> Result<Mount, String> {
    let fields = csv_fields(spec)?;
    let mut m = Mount {
        kind: MountType::Bind,
        from: String::new(),
        source: String::new(),
        target: String::new(),
        read_only: false,
        cache_id: String::new(),
        sharing: String::new(),
        required: false,
        mode: None,
        uid: None,
        gid: None,
        size_limit: None,
    };
    let mut ro_auto = true;
    let unexpected = |key: &str, m: &Mount| {
        format!(
            "unexpected key '{key}' for mount type '{}'",
            m.kind.as_str()
        )
    };
    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v)),
            None => (field.to_lowercase(), None),
        };
        let Some(value) = value else {
            if expand.is_none() {
                continue;
            }
            match key.as_str() {
                "readonly" | "ro" => {
                    m.read_only = true;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.read_only = false;
                    ro_auto = false;
                }
                "required" if matches!(m.kind, MountType::Secret | MountType::Ssh) => {
                    m.required = true
                }
                "required" => return Err(unexpected(&key, &m)),
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        let value = match expand.as_mut() {
            Some(f) => f(value)?,
            None if key == "from" => {
                if value.find('$').is_some_and(|i| i + 1 < value.len()) {
                    return Err(format!(
                        "'{key}' doesn't support variable expansion, define alias stage instead"
                    ));
                }
                continue;
            }
            None => continue,
        };
        let invalid = || format!("invalid value for {key}: {value}");
        match key.as_str() {
            "type" => {
                m.kind = match value.to_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => {
                        return Err(format!(
                            "unsupported mount type {}",
                            super::goquote::quote(&value)
                        ))
                    }
                }
            }
            "from" => m.from = value,
            "source" | "src" => m.source = value,
            "target" | "dst" | "destination" => m.target = value,
            "readonly" | "ro" => {
                m.read_only = parse_bool(&value).ok_or_else(invalid)?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.read_only = !parse_bool(&value).ok_or_else(invalid)?;
                ro_auto = false;
            }
            "required" => {
                if !matches!(m.kind, MountType::Secret | MountType::Ssh) {
                    return Err(unexpected(&key, &m));
                }
                m.required = parse_bool(&value).ok_or_else(invalid)?;
            }
            "size" => {
                if m.kind != MountType::Tmpfs {
                    return Err(unexpected(&key, &m));
                }
                m.size_limit = Some(ram_in_bytes(&value).ok_or_else(invalid)?);
            }
            "id" => m.cache_id = value,
            "sharing" => {
                let v = value.to_lowercase();
                if !matches!(v.as_str(), "shared" | "private" | "locked") {
                    return Err(format!(
                        "unsupported sharing value {}",
                        super::goquote::quote(&value)
                    ));
                }
                m.sharing = v;
            }
            "mode" => {
                m.mode = Some(
                    u32::from_str_radix(&value, 8)
                        .map_err(|_| format!("invalid value {value} for mode"))?,
                )
            }
            "uid" => {
                m.uid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid value {value} for uid"))?,
                )
            }
            "gid" => {
                m.gid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid value {value} for gid"))?,
                )
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    let file_info_allowed = matches!(
        m.kind,
        MountType::Secret | MountType::Ssh | MountType::Cache
    );
    if !file_info_allowed {
        for (set, what) in [
            (m.mode.is_some(), "mode"),
            (m.uid.is_some(), "uid"),
            (m.gid.is_some(), "gid"),
        ] {
            if set {
                return Err(format!(
                    "{what} not allowed for \"{}\" type mounts",
                    m.kind.as_str()
                ));
            }
        }
    }
    if ro_auto {
        m.read_only = !matches!(m.kind, MountType::Cache | MountType::Tmpfs);
    }
    if m.kind == MountType::Secret {
        if !m.from.is_empty() {
            return Err("secret mount should not have a from".into());
        }
        if !m.sharing.is_empty() {
            return Err("secret mount should not define sharing".into());
        }
        if m.source.is_empty() && m.target.is_empty() && m.cache_id.is_empty() {
            return Err("invalid secret mount. one of source, target required".into());
        }
        if !m.source.is_empty() && !m.cache_id.is_empty() {
            return Err("both source and id can't be set".into());
        }
    }
    if !m.sharing.is_empty() && m.kind != MountType::Cache {
        return Err(format!(
            "invalid cache sharing set for {} mount",
            m.kind.as_str()
        ));
    }
    Ok(m)
}

/// Go's `time.ParseDuration`.
pub fn parse_go_duration(s: &str) -> Result<(bool, Duration), String> {
    let invalid = || format!("time: invalid duration {}", super::goquote::quote(s));
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok((false, Duration::ZERO));
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." {
            return Err(invalid());
        }
        let value: f64 = num.parse().map_err(|_| invalid())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        if unit.is_empty() {
            return Err(format!(
                "time: missing unit in duration {}",
                super::goquote::quote(s)
            ));
        }
        let nanos = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    super::goquote::quote(unit),
                    super::goquote::quote(s)
                ))
            }
        };
        total += value * nanos;
        rest = &rest[unit_end..];
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    Ok((negative && total > 0.0, Duration::from_nanos(total as u64)))
}

/// `parseOptInterval`: empty is 0; otherwise 0 or at least 1ms.
fn parse_opt_interval(name: &str, value: &str) -> Result<Duration, String> {
    if value.is_empty() {
        return Ok(Duration::ZERO);
    }
    let (negative, d) = parse_go_duration(value)?;
    if d.is_zero() {
        return Ok(d);
    }
    if negative || d < Duration::from_millis(1) {
        return Err(format!(
            "Interval {} cannot be less than 1ms",
            super::goquote::quote(name)
        ));
    }
    Ok(d)
}

fn parse_healthcheck(req: &mut Request) -> Result<Health, String> {
    if req.args.is_empty() {
        return Err(at_least_one("HEALTHCHECK"));
    }
    let typ = req.args[0].to_uppercase();
    let rest: Vec<String> = req.args[1..].to_vec();
    if typ == "NONE" {
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Health {
            test: vec![typ],
            ..Default::default()
        });
    }
    for name in [
        "interval",
        "timeout",
        "start-period",
        "start-interval",
        "retries",
    ] {
        req.flags.add_string(name, "");
    }
    req.flags.parse()?;
    if typ != "CMD" {
        return Err(format!(
            "Unknown type {} in HEALTHCHECK (try CMD)",
            super::goquote::quote(&typ)
        ));
    }
    let cmd: Vec<String> = if rest.is_empty() {
        Vec::new()
    } else if req.json {
        rest
    } else {
        vec![rest.join(" ")]
    };
    if cmd.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let mut test = vec![if req.json {
        "CMD".to_string()
    } else {
        "CMD-SHELL".to_string()
    }];
    test.extend(cmd);
    let f = &req.flags;
    let retries = match f.string("retries").as_str() {
        "" => 0,
        v => {
            let n: i64 = v.parse().map_err(|_| {
                format!(
                    "strconv.ParseInt: parsing {}: invalid syntax",
                    super::goquote::quote(v)
                )
            })?;
            if n < 0 {
                return Err(format!("--retries cannot be negative ({n})"));
            }
            i32::try_from(n).map_err(|_| {
                format!(
                    "strconv.ParseInt: parsing {}: value out of range",
                    super::goquote::quote(v)
                )
            })?
        }
    };
    Ok(Health {
        test,
        interval: parse_opt_interval("interval", &f.string("interval"))?,
        timeout: parse_opt_interval("timeout", &f.string("timeout"))?,
        start_period: parse_opt_interval("start-period", &f.string("start-period"))?,
        start_interval: parse_opt_interval("start-interval", &f.string("start-interval"))?,
        retries,
    })
}

fn parse_arg(req: &mut Request) -> Result<Vec<ArgDef>, String> {
    if req.args.is_empty() {
        return Err(at_least_one("ARG"));
    }
    req.flags.parse()?;
    let mut out = Vec::new();
    for arg in &req.args {
        let (key, value) = match arg.split_once('=') {
            Some((k, v)) => {
                if k.is_empty() {
                    return Err(blank_names("ARG"));
                }
                (k.to_string(), Some(v.to_string()))
            }
            None => (arg.clone(), None),
        };
        out.push(ArgDef {
            comment: comment_for(req.comments, &key),
            key,
            value,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Expansion (BuildKit `SupportsSingleWordExpansion` and friends)
// ---------------------------------------------------------------------------------------------

/// The signals `moby/sys/signal.ParseSignal` knows on Linux (without the `SIG` prefix).
const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
];

/// `signal.ParseSignal`: a positive number or a signal name (with or without `SIG`).
pub fn check_signal(raw: &str) -> Result<(), String> {
    let invalid = || format!("Invalid signal: {raw}");
    if let Ok(n) = raw.parse::<i64>() {
        return if n == 0 { Err(invalid()) } else { Ok(()) };
    }
    let upper = raw.to_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let realtime = |prefix: &str, sign: char| {
        name.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix(sign))
            .and_then(|n| n.parse::<u8>().ok())
            .is_some_and(|n| (1..=15).contains(&n))
    };
    if SIGNALS.contains(&name) || realtime("RTMIN", '+') || realtime("RTMAX", '-') {
        Ok(())
    } else {
        Err(invalid())
    }
}

impl Command {
    /// Expands the words BuildKit expands for this instruction with `lexer` and `env` (the
    /// stage environment *before* the instruction). Instructions BuildKit does not expand (RUN
    /// command text, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD, MAINTAINER, ARG — whose
    /// default is expanded when the ARG is dispatched) are returned unchanged.
    pub fn expand(&self, lexer: &Lexer, env: &Env) -> Result<Command, InstructionError> {
        let err = |e: String| InstructionError::new(e, self.location);
        let word = |w: &str| {
            lexer
                .process_word(w, env)
                .map_err(|e: LexError| e.to_string())
        };
        let mut out = self.clone();
        match &mut out.instruction {
            Instruction::Env(kvs) | Instruction::Label(kvs) => {
                for kv in kvs.iter_mut() {
                    kv.key = word(&kv.key).map_err(err)?;
                    kv.value = word(&kv.value).map_err(err)?;
                }
            }
            Instruction::Add(add) => {
                expand_paths(&mut add.paths, &word).map_err(err)?;
                add.chown = word(&add.chown).map_err(err)?;
                add.chmod = word(&add.chmod).map_err(err)?;
                add.checksum = word(&add.checksum).map_err(err)?;
                for e in add.exclude.iter_mut() {
                    *e = word(e).map_err(err)?;
                }
            }
            Instruction::Copy(copy) => {
                if copy.from.find('$').is_some_and(|i| i + 1 < copy.from.len()) {
                    return Err(err("variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround".into()));
                }
                expand_paths(&mut copy.paths, &word).map_err(err)?;
                copy.chown = word(&copy.chown).map_err(err)?;
                copy.chmod = word(&copy.chmod).map_err(err)?;
                for e in copy.exclude.iter_mut() {
                    *e = word(e).map_err(err)?;
                }
            }
            Instruction::Workdir(p) | Instruction::User(p) | Instruction::StopSignal(p) => {
                *p = word(p).map_err(err)?;
            }
            Instruction::Volume(vs) => {
                for v in vs.iter_mut() {
                    *v = word(v).map_err(err)?;
                }
            }
            Instruction::Expose(ports) => {
                let mut expanded = Vec::new();
                for p in ports.iter() {
                    expanded.extend(
                        lexer
                            .process_words(p, env)
                            .map_err(|e| err(e.to_string()))?,
                    );
                }
                *ports = expanded;
            }
            Instruction::Run(run) => {
                let mut specs = Vec::new();
                for spec in &run.mount_specs {
                    // Validate with expansion; keep the spec text expanded field by field.
                    let mut f = |v: &str| word(v);
                    parse_mount(spec, Some(&mut f)).map_err(err)?;
                    specs.push(spec.clone());
                }
                run.mount_specs = specs;
            }
            _ => {}
        }
        Ok(out)
    }
}

impl RunCommand {
    /// The `--mount`s with every value expanded in `env`.
    pub fn mounts(&self, lexer: &Lexer, env: &Env) -> Result<Vec<Mount>, String> {
        self.mount_specs
            .iter()
            .map(|spec| {
                let mut f = |v: &str| lexer.process_word(v, env).map_err(|e| e.to_string());
                parse_mount(spec, Some(&mut f))
            })
            .collect()
    }
}

fn expand_paths(
    paths: &mut SourcesAndDest,
    word: &dyn Fn(&str) -> Result<String, String>,
) -> Result<(), String> {
    for s in paths.sources.iter_mut() {
        *s = word(s)?;
    }
    paths.dest = word(&paths.dest)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::parse;

    fn first(src: &str) -> Result<Parsed, InstructionError> {
        let ast = parse(src.as_bytes()).expect("parses").ast;
        parse_instruction(&ast.children[0], HostMode::Linux)
    }

    fn command(src: &str) -> Instruction {
        match first(src).unwrap_or_else(|e| panic!("{src}: {e}")) {
            Parsed::Command(c) => c.instruction,
            Parsed::From(f) => panic!("{src}: FROM {f:?}"),
        }
    }

    fn error(src: &str) -> String {
        first(src).expect_err(src).message
    }

    /// BuildKit `TestCommandsExactlyOneArgument`.
    #[test]
    fn exactly_one_argument() {
        for cmd in ["MAINTAINER", "WORKDIR", "USER", "STOPSIGNAL"] {
            assert_eq!(error(cmd), exactly_one(cmd));
        }
    }

    /// BuildKit `TestCommandsAtLeastOneArgument`.
    #[test]
    fn at_least_one_argument() {
        for cmd in ["ENV", "LABEL", "ONBUILD", "HEALTHCHECK", "EXPOSE", "VOLUME"] {
            assert_eq!(error(cmd), at_least_one(cmd), "{cmd}");
        }
    }

    /// BuildKit `TestCommandsNoDestinationArgument`.
    #[test]
    fn no_destination_argument() {
        for cmd in ["ADD", "COPY"] {
            assert_eq!(error(&format!("{cmd} arg1")), no_destination(cmd));
        }
    }

    fn hand_node(keyword: &str, values: &[&str]) -> Node {
        let mut node = Node::leaf(keyword);
        let mut tail = &mut node.next;
        for v in values {
            *tail = Some(Box::new(Node::leaf(*v)));
            tail = &mut tail.as_mut().unwrap().next;
        }
        node
    }

    /// BuildKit `TestCommandsTooManyArguments` and `TestCommandsBlankNames` (hand-built nodes).
    #[test]
    fn kv_shape_errors() {
        for cmd in ["ENV", "LABEL"] {
            let node = hand_node(&cmd.to_lowercase(), &["arg1", "arg2", "arg3", ""]);
            let e = parse_instruction(&node, HostMode::Linux).unwrap_err();
            assert_eq!(e.message, format!("Bad input to {cmd}, too many arguments"));
            let node = hand_node(&cmd.to_lowercase(), &["", "arg2", "="]);
            let e = parse_instruction(&node, HostMode::Linux).unwrap_err();
            assert_eq!(e.message, blank_names(cmd));
        }
    }

    /// BuildKit `TestHealthCheckCmd`.
    #[test]
    fn healthcheck_cmd() {
        let node = hand_node("healthcheck", &["CMD", "hello", "world"]);
        let Parsed::Command(c) = parse_instruction(&node, HostMode::Linux).unwrap() else {
            panic!()
        };
        let Instruction::Healthcheck(h) = c.instruction else {
            panic!()
        };
        assert_eq!(h.test, ["CMD-SHELL", "hello world"]);
    }

    /// BuildKit `TestParseOptInterval`.
    #[test]
    fn opt_interval() {
        assert!(parse_opt_interval("interval", "50ns")
            .unwrap_err()
            .contains("cannot be less than 1ms"));
        assert_eq!(parse_opt_interval("interval", "0ms"), Ok(Duration::ZERO));
        assert_eq!(
            parse_opt_interval("interval", "1ms"),
            Ok(Duration::from_millis(1))
        );
        assert_eq!(
            parse_opt_interval("interval", "1m30s"),
            Ok(Duration::from_secs(90))
        );
        assert_eq!(
            parse_opt_interval("interval", "1.5h"),
            Ok(Duration::from_secs(5400))
        );
        assert!(parse_opt_interval("timeout", "-1s")
            .unwrap_err()
            .contains("cannot be less than 1ms"));
        assert_eq!(
            parse_opt_interval("x", "10"),
            Err("time: missing unit in duration \"10\"".into())
        );
        assert_eq!(
            parse_opt_interval("x", "3d"),
            Err("time: unknown unit \"d\" in duration \"3d\"".into())
        );
    }

    /// BuildKit `TestCommentsDetection` (instruction level).
    #[test]
    fn comments_detection() {
        let src = "# foo sets foo\nARG foo=bar\n\n# base defines first stage\nFROM busybox AS base\n# this is irrelevant\nARG foo\n# bar defines bar\n# baz is something else\nARG bar baz=123\n";
        let ast = parse(src.as_bytes()).unwrap().ast;
        let parsed: Vec<Parsed> = ast
            .children
            .iter()
            .map(|n| parse_instruction(n, HostMode::Linux).unwrap())
            .collect();
        let args = |p: &Parsed| match p {
            Parsed::Command(Command {
                instruction: Instruction::Arg(a),
                ..
            }) => a.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(args(&parsed[0])[0].comment, "sets foo");
        let Parsed::From(from) = &parsed[1] else {
            panic!()
        };
        assert_eq!(from.comment, "defines first stage");
        assert_eq!(args(&parsed[2])[0].comment, "");
        assert_eq!(args(&parsed[3])[0].key, "bar");
        assert_eq!(args(&parsed[3])[0].comment, "defines bar");
        assert_eq!(args(&parsed[3])[1].key, "baz");
        assert_eq!(args(&parsed[3])[1].comment, "is something else");
    }

    /// BuildKit `TestErrorCases`.
    #[test]
    fn error_cases() {
        for (src, want) in [
            (
                "COPY\t\n\t\tquux \\\n      bar",
                "COPY requires at least two arguments",
            ),
            (
                "ONBUILD FROM scratch",
                "FROM isn't allowed as an ONBUILD trigger",
            ),
            ("MAINTAINER --boo joe@example.com", "unknown flag: --boo"),
            (
                "ONBUILD ONBUILD RUN touch foobar",
                "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
            ),
            ("FOO bar", "unknown instruction: FOO"),
            ("foo bar", "unknown instruction: foo"),
        ] {
            let e = error(src);
            assert!(e.contains(want), "{src:?}: {e}");
        }
    }

    /// BuildKit `TestRunCmdFlagsUsed`.
    #[test]
    fn run_flags_used() {
        let Instruction::Run(run) = command("RUN --mount=type=tmpfs,target=/foo/ echo hello")
        else {
            panic!()
        };
        assert_eq!(run.flags_used, ["mount"]);
    }

    /// `TestNilLinter`: every instruction with assorted arguments parses or errors, never panics.
    #[test]
    fn every_instruction_with_odd_arguments() {
        for cmd in INSTRUCTIONS {
            for args in [" foo=bar", " a", " a b", " a b c", " 0 0"] {
                if let Ok(r) = parse(format!("FROM busybox\n{cmd}{args}").as_bytes()) {
                    for n in &r.ast.children {
                        let _ = parse_instruction(n, HostMode::Linux);
                    }
                }
            }
        }
    }

    /// BuildKit `TestBuilderFlags`.
    #[test]
    fn builder_flags() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(Flags::new(&[]).parse().is_ok());
        assert!(Flags::new(&args(&["--"])).parse().is_ok());

        let mut f = Flags::new(&[]);
        f.add_string("str1", "");
        f.add_bool("bool1", false);
        f.parse().unwrap();
        assert!(!f.is_used("str1") && !f.is_used("bool1"));

        let mut f = Flags::new(&[]);
        f.add_string("str1", "HI");
        f.add_bool("bool1", false);
        f.parse().unwrap();
        assert_eq!(f.string("str1"), "HI");
        assert!(!f.is_true("bool1"));

        let mut f = Flags::new(&args(&["--str1"]));
        f.add_string("str1", "HI");
        assert_eq!(f.parse(), Err("missing a value on flag: --str1".into()));

        let mut f = Flags::new(&args(&["--str1="]));
        f.add_string("str1", "HI");
        f.parse().unwrap();
        assert_eq!(f.string("str1"), "");

        let mut f = Flags::new(&args(&["--str1=BYE"]));
        f.add_string("str1", "HI");
        f.parse().unwrap();
        assert_eq!(f.string("str1"), "BYE");

        for (arg, want) in [
            ("--bool1", true),
            ("--bool1=true", true),
            ("--bool1=false", false),
            ("--bool1=TRUE", true),
        ] {
            let mut f = Flags::new(&args(&[arg]));
            f.add_bool("bool1", false);
            f.parse().unwrap();
            assert_eq!(f.is_true("bool1"), want, "{arg}");
        }

        let mut f = Flags::new(&args(&["--bool1=false1"]));
        f.add_bool("bool1", false);
        assert_eq!(
            f.parse(),
            Err("expecting boolean value for flag --bool1, not: false1".into())
        );

        let mut f = Flags::new(&args(&["--bool1="]));
        f.add_bool("bool1", false);
        assert_eq!(f.parse(), Err("missing a value on flag: --bool1".into()));

        let mut f = Flags::new(&args(&["--bool2"]));
        f.add_bool("bool1", false);
        assert_eq!(
            f.parse(),
            Err("unknown flag: --bool2 (did you mean bool1?)".into())
        );

        let mut f = Flags::new(&args(&["--bool1", "--str1=BYE"]));
        f.add_string("str1", "HI");
        f.add_bool("bool1", false);
        f.parse().unwrap();
        assert_eq!(f.string("str1"), "BYE");
        assert!(f.is_true("bool1"));

        let mut f = Flags::new(&args(&[
            "--bool2=false",
            "--bool3",
            "--bool4=true",
            "--bool5",
            "--str2= ",
            "--str3=def3",
            "--str4=my-val",
        ]));
        for (name, def) in [
            ("bool1", false),
            ("bool2", false),
            ("bool3", false),
            ("bool4", true),
            ("bool5", true),
        ] {
            f.add_bool(name, def);
        }
        for (name, def) in [
            ("str1", ""),
            ("str2", ""),
            ("str3", "def3"),
            ("str4", "def4"),
        ] {
            f.add_string(name, def);
        }
        f.parse().unwrap();
        assert_eq!(
            f.used().join(", "),
            "bool2, bool3, bool4, bool5, str2, str3, str4"
        );

        let mut f = Flags::new(&args(&["--str1=a", "--str1=b"]));
        f.add_string("str1", "");
        assert_eq!(f.parse(), Err("duplicate flag specified: --str1".into()));
        let mut f = Flags::new(&args(&["--exclude=a", "--exclude=b"]));
        f.add_strings("exclude");
        f.parse().unwrap();
        assert_eq!(f.strings("exclude"), ["a", "b"]);
        let mut f = Flags::new(&args(&["-x"]));
        assert_eq!(f.parse(), Err("arg should start with -- : -x".into()));
    }

    #[test]
    fn copy_and_add_flags() {
        let Instruction::Copy(c) = command("COPY --from=build --chown=ContainerUser --chmod=755 --link --parents --exclude=*.pdb --exclude=obj a b C:/app/") else { panic!() };
        assert_eq!(
            (c.from.as_str(), c.chown.as_str(), c.chmod.as_str()),
            ("build", "ContainerUser", "755")
        );
        assert!(c.link && c.parents);
        assert_eq!(c.exclude, ["*.pdb", "obj"]);
        assert_eq!(c.paths.sources, ["a", "b"]);
        assert_eq!(c.paths.dest, "C:/app/");
        let Instruction::Add(a) =
            command("ADD --keep-git-dir --checksum=sha256:abc --unpack=false x.tar /d")
        else {
            panic!()
        };
        assert!(a.keep_git_dir);
        assert_eq!(a.checksum, "sha256:abc");
        assert_eq!(a.unpack, Some(false));
        let Instruction::Add(a) = command("ADD x.tar /d") else {
            panic!()
        };
        assert_eq!(a.unpack, None);
        assert_eq!(
            error("COPY --keep-git-dir a b"),
            "unknown flag: --keep-git-dir"
        );
        assert_eq!(error("ADD --from=x a b"), "unknown flag: --from");
        assert_eq!(
            error("COPY --link=maybe a b"),
            "expecting boolean value for flag --link, not: maybe"
        );
        assert_eq!(
            error("COPY --chown a b"),
            "missing a value on flag: --chown"
        );
        assert_eq!(
            error("COPY <<EOF <<EOF2\nx\nEOF\ny\nEOF2\n"),
            "COPY cannot accept a heredoc as a destination"
        );
    }

    #[test]
    fn copy_heredoc_source() {
        let Instruction::Copy(c) = command("COPY <<-EOT C:/app/hello.txt\n\thi $X\nEOT\n") else {
            panic!()
        };
        assert!(c.paths.sources.is_empty());
        assert_eq!(
            c.paths.contents,
            [SourceContent {
                path: "EOT".into(),
                data: "hi $X\n".into(),
                expand: true
            }]
        );
    }

    #[test]
    fn run_flags_and_mounts() {
        let Instruction::Run(r) = command("RUN --network=none --security=insecure --mount=type=cache,target=/c,id=x,sharing=locked echo") else { panic!() };
        assert_eq!(
            (r.network, r.security),
            (NetworkMode::None, Security::Insecure)
        );
        let env = Env::from_pairs(HostMode::Linux, ["T=/cache"]);
        let lexer = Lexer::new('\\');
        assert_eq!(r.mounts(&lexer, &env).unwrap()[0].sharing, "locked");
        assert_eq!(
            error("RUN --network=bridge x"),
            "unsupported network mode \"bridge\""
        );
        assert_eq!(
            error("RUN --security=root x"),
            "security \"root\" is not valid"
        );
        assert_eq!(
            error("RUN --mount=from=$X,target=/x x"),
            "'from' doesn't support variable expansion, define alias stage instead"
        );
        assert_eq!(
            parse_mount("type=bind,\"a", None).unwrap_err(),
            "failed to parse csv mounts: extraneous or missing \" in quoted-field"
        );
        let Instruction::Run(r) = command("RUN --mount=type=$T,target=$D,uid=1 x") else {
            panic!()
        };
        let env = Env::from_pairs(HostMode::Linux, ["T=tmpfs", "D=/d"]);
        assert_eq!(
            r.mounts(&lexer, &env).unwrap_err(),
            "uid not allowed for \"tmpfs\" type mounts"
        );
        let env = Env::from_pairs(HostMode::Linux, ["T=cache", "D=/d"]);
        let m = &r.mounts(&lexer, &env).unwrap()[0];
        assert_eq!(
            (m.kind, m.target.as_str(), m.uid, m.read_only),
            (MountType::Cache, "/d", Some(1), false)
        );
        let env = Env::from_pairs(HostMode::Linux, ["T=volume"]);
        assert_eq!(
            r.mounts(&lexer, &env).unwrap_err(),
            "unsupported mount type \"volume\""
        );
        let m = parse_mount(
            "type=secret,id=tok,required",
            Some(&mut |v: &str| Ok(v.to_string())),
        )
        .unwrap();
        assert!(m.required && m.read_only);
        assert_eq!(
            parse_mount("type=secret", Some(&mut |v: &str| Ok(v.to_string()))).unwrap_err(),
            "invalid secret mount. one of source, target required"
        );
        assert_eq!(
            parse_mount("type=bind,size=1m", Some(&mut |v: &str| Ok(v.to_string()))).unwrap_err(),
            "unexpected key 'size' for mount type 'bind'"
        );
        assert_eq!(
            parse_mount("type=bind,foo=1", Some(&mut |v: &str| Ok(v.to_string()))).unwrap_err(),
            "unexpected key 'foo' in 'foo=1'"
        );
        assert_eq!(
            parse_mount(
                "type=tmpfs,size=64m",
                Some(&mut |v: &str| Ok(v.to_string()))
            )
            .unwrap()
            .size_limit,
            Some(64 << 20)
        );
    }

    #[test]
    fn healthcheck_forms_and_errors() {
        let Instruction::Healthcheck(h) = command("HEALTHCHECK --interval=5s --timeout=3s --start-period=1m --start-interval=2s --retries=3 CMD [\"ping\", \"-n\", \"1\", \"localhost\"]") else { panic!() };
        assert_eq!(h.test, ["CMD", "ping", "-n", "1", "localhost"]);
        assert_eq!(
            (
                h.interval,
                h.timeout,
                h.start_period,
                h.start_interval,
                h.retries
            ),
            (
                Duration::from_secs(5),
                Duration::from_secs(3),
                Duration::from_secs(60),
                Duration::from_secs(2),
                3
            )
        );
        let Instruction::Healthcheck(h) = command("HEALTHCHECK none") else {
            panic!()
        };
        assert_eq!(h.test, ["NONE"]);
        assert_eq!(
            error("HEALTHCHECK NONE x"),
            "HEALTHCHECK NONE takes no arguments"
        );
        assert_eq!(
            error("HEALTHCHECK CMD"),
            "Missing command after HEALTHCHECK CMD"
        );
        assert_eq!(
            error("HEALTHCHECK RUN x"),
            "Unknown type \"RUN\" in HEALTHCHECK (try CMD)"
        );
        assert_eq!(
            error("HEALTHCHECK --retries=-1 CMD x"),
            "--retries cannot be negative (-1)"
        );
        assert_eq!(
            error("HEALTHCHECK --retries=x CMD x"),
            "strconv.ParseInt: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            error("HEALTHCHECK --interval=1us CMD x"),
            "Interval \"interval\" cannot be less than 1ms"
        );
        assert_eq!(error("HEALTHCHECK --foo=1s CMD x"), "unknown flag: --foo");
    }

    #[test]
    fn shell_requires_json() {
        assert_eq!(
            command("SHELL [\"powershell\", \"-Command\"]"),
            Instruction::Shell(vec!["powershell".into(), "-Command".into()])
        );
        assert_eq!(
            error("SHELL powershell -Command"),
            "SHELL requires the arguments to be in JSON form"
        );
        assert_eq!(error("SHELL []"), "SHELL requires at least one argument");
        let ast = parse(b"SHELL [\"c:\\windows\\system32\\cmd.exe\", \"/c\"]")
            .unwrap()
            .ast;
        let e = parse_instruction(&ast.children[0], HostMode::Windows).unwrap_err();
        assert!(
            e.message
                .contains("includes a file path without an escaped back-slash"),
            "{e}"
        );
    }

    #[test]
    fn from_and_stage_names() {
        let Parsed::From(f) = first(
            "FROM --platform=$BUILDPLATFORM mcr.microsoft.com/windows/servercore:ltsc2022 AS Build",
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            (f.name.as_str(), f.platform.as_str()),
            ("build", "$BUILDPLATFORM")
        );
        assert_eq!(error("FROM a AS 1x"), "invalid name for build stage: \"1x\", name can't start with a number or contain symbols");
        assert_eq!(
            error("FROM a b"),
            "FROM requires either one or three arguments"
        );
        assert_eq!(
            error("FROM --platfrom=x a"),
            "unknown flag: --platfrom (did you mean platform?)"
        );
        assert_eq!(error("FROM --plat=x a"), "unknown flag: --plat");
        assert_eq!(
            error("FRM a"),
            "unknown instruction: FRM (did you mean FROM?)"
        );
        assert_eq!(
            error("cpy a b"),
            "unknown instruction: cpy (did you mean copy?)"
        );
        assert!(is_valid_stage_name("a-b_c.1"));
        assert!(!is_valid_stage_name("a$"));
    }

    #[test]
    fn shell_form_and_json_form() {
        assert_eq!(
            command("CMD echo  hi"),
            Instruction::Cmd(CmdLine {
                args: vec!["echo  hi".into()],
                prepend_shell: true,
                files: vec![]
            })
        );
        assert_eq!(
            command("ENTRYPOINT [\"a.exe\", \"b c\"]"),
            Instruction::Entrypoint(CmdLine {
                args: vec!["a.exe".into(), "b c".into()],
                prepend_shell: false,
                files: vec![]
            })
        );
        assert_eq!(
            command("EXPOSE 8080 80/tcp"),
            Instruction::Expose(vec!["80/tcp".into(), "8080".into()])
        );
        assert_eq!(
            command("ONBUILD  copy a b"),
            Instruction::Onbuild("copy a b".into())
        );
        assert_eq!(
            error("VOLUME [\"\"]"),
            "VOLUME specified can not be an empty string"
        );
    }

    #[test]
    fn expansion_follows_buildkit() {
        let lexer = Lexer::new('`');
        let env = Env::from_pairs(
            HostMode::Linux,
            ["APP=C:\\app", "U=ContainerUser", "P=80 443"],
        );
        let expand = |src: &str| {
            let ast = parse(format!("# escape=`\n{src}").as_bytes()).unwrap().ast;
            let Parsed::Command(c) = parse_instruction(&ast.children[0], HostMode::Linux).unwrap()
            else {
                panic!()
            };
            c.expand(&lexer, &env).map(|c| c.instruction)
        };
        assert_eq!(
            expand("WORKDIR $APP\\src").unwrap(),
            Instruction::Workdir("C:\\app\\src".into())
        );
        assert_eq!(
            expand("USER ${U}").unwrap(),
            Instruction::User("ContainerUser".into())
        );
        assert_eq!(
            expand("EXPOSE $P").unwrap(),
            Instruction::Expose(vec!["80".into(), "443".into()])
        );
        assert_eq!(
            expand("RUN echo $APP").unwrap(),
            Instruction::Run(RunCommand {
                cmd: CmdLine {
                    args: vec!["echo $APP".into()],
                    prepend_shell: true,
                    files: vec![]
                },
                mount_specs: vec![],
                network: NetworkMode::Default,
                security: Security::Sandbox,
                flags_used: vec![]
            })
        );
        let Instruction::Copy(c) = expand("COPY --chown=$U src/ $APP\\").unwrap() else {
            panic!()
        };
        assert_eq!(
            (c.chown.as_str(), c.paths.dest.as_str()),
            ("ContainerUser", "C:\\app\\")
        );
        let Instruction::Env(kv) = expand("ENV A=$APP B=${U:-x}").unwrap() else {
            panic!()
        };
        assert_eq!(
            (kv[0].value.as_str(), kv[1].value.as_str()),
            ("C:\\app", "ContainerUser")
        );
        assert!(expand("COPY --from=$STAGE a b")
            .unwrap_err()
            .message
            .starts_with("variable expansion is not supported for --from"));
        assert!(expand("USER ${U:?}x${NOPE?missing}")
            .unwrap_err()
            .message
            .contains("NOPE: missing"));
    }

    #[test]
    fn signals() {
        for ok in ["SIGTERM", "term", "9", "SIGRTMIN+3", "RTMAX-15", "sigusr1"] {
            assert!(check_signal(ok).is_ok(), "{ok}");
        }
        for bad in ["0", "SIGFOO", "RTMIN+16", ""] {
            assert_eq!(
                check_signal(bad),
                Err(format!("Invalid signal: {bad}")),
                "{bad}"
            );
        }
    }
}
