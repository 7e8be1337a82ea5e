//! One AST instruction node to one typed command (BuildKit's `ParseInstruction` in
//! `parse.go`): the per-instruction argument rules and BuildKit's error texts.

use crate::dockerfile::ast::{Heredoc, Node};
use crate::dockerfile::heredoc::{chomp_heredoc_content, parse_heredoc};
use crate::dockerfile::shell::HostMode;

use super::flags::suggest;
use super::healthcheck::parse_healthcheck;
use super::run::parse_run;
use super::{
    AddCommand, ArgDef, CmdLine, Command, CopyCommand, Flags, FromInstruction, InlineFile,
    Instruction, InstructionError, KeyValue, Location, Parsed, SourceContent, SourcesAndDest,
    INSTRUCTIONS,
};

/// The parts of an AST node the instruction parsers read (BuildKit's `parseRequest`).
pub(super) struct Request<'a> {
    pub(super) args: Vec<String>,
    heredocs: &'a [Heredoc],
    pub(super) json: bool,
    pub(super) flags: Flags,
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

pub(super) fn at_least_one(cmd: &str) -> String {
    format!("{cmd} requires at least one argument")
}

pub(super) fn exactly_one(cmd: &str) -> String {
    format!("{cmd} requires exactly one argument")
}

pub(super) fn no_destination(cmd: &str) -> String {
    format!(
        "{cmd} requires at least two arguments, but only one was provided. Destination could not be determined"
    )
}

pub(super) fn blank_names(cmd: &str) -> String {
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
                crate::dockerfile::goquote::quote(&args[2])
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

pub(super) fn shell_dependent(req: &Request, empty_as_nil: bool) -> CmdLine {
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
