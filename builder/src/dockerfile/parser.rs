//! The Dockerfile line parser, with BuildKit's `frontend/dockerfile/parser.Parse` semantics:
//! reading lines (BOM, CRLF, the 64 KiB line limit), parser directives, comments, line
//! continuation with the escape token, heredoc bodies, and the instruction dispatch table.
//! The result is the raw AST ([`Node`]); meaning (flags, expansion, stages) comes later.
//!
//! Input bytes that are not UTF-8 are decoded lossily line by line (U+FFFD), where BuildKit
//! keeps the raw bytes; everything else follows BuildKit byte for byte.

use super::ast::Node;
use super::directives::{escape_token, Directive, DirectiveParser};
use super::goquote::{is_space_byte, to_lower};
use super::heredoc::heredocs_from_line;
use super::line_parsers::{
    parse_health_config, parse_maybe_json, parse_maybe_json_to_list, parse_name_or_name_val,
    parse_name_val, parse_string, parse_strings_whitespace_delimited, split_token_whitespace_once,
    Parsed,
};

/// Go's `bufio.MaxScanTokenSize`: a line (with its newline) must fit in this many bytes.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// How deep `ONBUILD ONBUILD …` may nest before we refuse it. BuildKit's parser has no limit
/// (its instruction stage then rejects any nesting); a limit keeps recursion bounded.
pub const MAX_ONBUILD_DEPTH: usize = 64;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A parse failure with the 1-based line range it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error on line {start_line}: {message}")]
pub struct ParseError {
    /// BuildKit's message, e.g. `file with no instructions`.
    pub message: String,
    /// First line of the range (the line count read so far for end-of-file errors).
    pub start_line: usize,
    /// Last line of the range (equal to `start_line` for single-line errors).
    pub end_line: usize,
}

impl ParseError {
    /// BuildKit's `withLocation`: an end before the start means a single line.
    fn at(message: impl Into<String>, start_line: usize, end_line: usize) -> ParseError {
        ParseError {
            message: message.into(),
            start_line,
            end_line: end_line.max(start_line),
        }
    }
}

/// A non-fatal finding, as BuildKit's parser reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// One-line description, e.g. `Empty continuation line found in: RUN a b`.
    pub short: String,
    /// Longer explanation.
    pub detail: String,
    /// Documentation link of the matching lint rule.
    pub url: String,
    /// 1-based line the warning points at.
    pub line: usize,
}

/// A successful parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseResult {
    /// The root node; its `children` are the instructions.
    pub ast: Node,
    /// Warnings (empty continuation lines).
    pub warnings: Vec<Warning>,
    /// The escape token in force (`\` or `` ` ``).
    pub escape_token: char,
    /// The parser directives found at the top of the file.
    pub directives: Vec<Directive>,
}

impl ParseResult {
    /// The text BuildKit's `PrintWarnings` writes, one `[WARNING]: ` line per warning plus the
    /// deprecation notice; empty when there are no warnings.
    pub fn warnings_text(&self) -> String {
        if self.warnings.is_empty() {
            return String::new();
        }
        let mut out = String::new();
        for w in &self.warnings {
            out.push_str(&format!("[WARNING]: {}\n", w.short));
        }
        out.push_str(
            "[WARNING]: Empty continuation lines will become errors in a future release.\n",
        );
        out
    }
}

/// Go's `bufio.Scanner` with BuildKit's newline-keeping split function: yields lines with their
/// `\n`, and stops (recording the error) at a line of 64 KiB or more.
struct LineScanner<'a> {
    data: &'a [u8],
    pos: usize,
    too_long: bool,
}

impl<'a> LineScanner<'a> {
    fn next_line(&mut self) -> Option<&'a [u8]> {
        if self.too_long || self.pos >= self.data.len() {
            return None;
        }
        let rest = &self.data[self.pos..];
        let window = &rest[..rest.len().min(MAX_LINE_BYTES)];
        let len = match window.iter().position(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if rest.len() < MAX_LINE_BYTES => rest.len(),
            None => {
                self.too_long = true;
                return None;
            }
        };
        self.pos += len;
        Some(&rest[..len])
    }
}

/// The directive state: the scanner of `#` directives and the escape token they set.
struct Directives {
    parser: DirectiveParser,
    escape: char,
    found: Vec<Directive>,
}

impl Directives {
    /// Feeds one line to the directive scanner; true when it was a directive.
    fn possible_directive(&mut self, line: &str) -> Result<bool, String> {
        let Some(directive) = self.parser.parse_line(line)? else {
            return Ok(false);
        };
        if directive.name == "escape" {
            self.escape = escape_token(&directive.value)?;
        }
        self.found.push(directive);
        Ok(true)
    }
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// BuildKit's `processLine`: drop the line ending (and leading white space on an instruction's
/// first line), look for a directive, and blank out comment lines.
fn process_line<'s>(
    d: &mut Directives,
    line: &'s str,
    strip_left: bool,
) -> Result<(&'s str, bool), String> {
    let mut token = trim_newline(line);
    if strip_left {
        token = token.trim_start();
    }
    let directive = d.possible_directive(token)?;
    Ok((if is_comment(token) { "" } else { token }, directive))
}

/// The continuation regex `([^E])E[ \t]*$|^E[ \t]*$`: if the line ends with the escape token
/// (optionally followed by spaces/tabs) that is not itself escaped, returns the line without it
/// and `false` (not the end of the logical line).
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    if let Some(before) = body.strip_suffix(escape) {
        if !before.ends_with(escape) {
            return (before, false);
        }
    }
    (line, true)
}

/// Splits a logical line into instruction word, flags and the rest (`splitCommand`).
fn split_command(line: &str) -> (String, Vec<String>, String) {
    let (cmd, rest) = split_token_whitespace_once(line.trim());
    let (args, flags) = match rest {
        Some(rest) => extract_builder_flags(rest),
        None => (String::new(), Vec::new()),
    };
    (cmd.to_string(), flags, args.trim().to_string())
}

/// Pulls leading `--flag` words off the arguments (`extractBuilderFlags`). Like BuildKit it
/// walks bytes: quotes group, `\` escapes the next byte, a bare `--` ends the flags, and each
/// byte is appended as the code point of the same number (so non-ASCII flag text is read as
/// Latin-1, exactly as BuildKit does).
fn extract_builder_flags(line: &str) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let bytes = line.as_bytes();
    let rest_from = |pos: usize| String::from_utf8_lossy(&bytes[pos..]).into_owned();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = 0u8;
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= bytes.len() {
        let at_end = pos == bytes.len();
        let mut ch = if at_end { 0 } else { bytes[pos] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if is_space_byte(ch) {
                pos += 1;
                continue;
            }
            if ch != b'-' || bytes.get(pos + 1) != Some(&b'-') {
                return (rest_from(pos), words);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if is_space_byte(ch) {
                phase = Phase::Spaces;
                if word == "--" {
                    return (rest_from(pos), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == b'\'' || ch == b'"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            if ch == b'\\' {
                if pos + 1 == bytes.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                ch = bytes[pos];
            }
            word.push(char::from(ch));
            pos += 1;
            continue;
        }
        // In quotes.
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        if ch == b'\\' {
            if pos + 1 == bytes.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            ch = bytes[pos];
        }
        word.push(char::from(ch));
        pos += 1;
    }
    (String::new(), words)
}

/// Builds an instruction node from a logical line (`newNodeFromLine`).
fn node_from_line(line: &str, escape: char, depth: usize) -> Result<Node, String> {
    let (cmd, flags, args) = split_command(line);
    let lower = to_lower(&cmd);
    let parsed: Parsed = match lower.as_str() {
        "add" | "copy" | "volume" => parse_maybe_json_to_list(&args),
        "arg" => parse_name_or_name_val(&args, escape),
        "cmd" | "entrypoint" | "run" | "shell" => parse_maybe_json(&args),
        "env" => parse_name_val(&args, "ENV", escape),
        "label" => parse_name_val(&args, "LABEL", escape),
        "expose" | "from" => parse_strings_whitespace_delimited(&args),
        "healthcheck" => parse_health_config(&args),
        "maintainer" | "stopsignal" | "user" | "workdir" => parse_string(&args),
        "onbuild" => parse_sub_command(&args, escape, depth),
        // Unknown instructions parse (with one empty argument) and fail later.
        _ => Ok((Some(Box::new(Node::default())), false)),
    };
    let (next, json) = parsed?;
    let mut node = Node::leaf(cmd);
    node.original = line.to_string();
    node.flags = flags;
    node.next = next;
    node.json = json;
    Ok(node)
}

/// `ONBUILD`: the rest is an instruction of its own, kept as the child of one argument node.
fn parse_sub_command(rest: &str, escape: char, depth: usize) -> Parsed {
    if rest.is_empty() {
        return Ok((None, false));
    }
    if depth >= MAX_ONBUILD_DEPTH {
        return Err(format!(
            "ONBUILD nested more than {MAX_ONBUILD_DEPTH} levels deep"
        ));
    }
    let child = node_from_line(rest, escape, depth + 1)?;
    let mut holder = Node::default();
    holder.children.push(child);
    Ok((Some(Box::new(holder)), false))
}

/// Whether heredocs are looked for on this instruction: non-JSON `ADD`, `COPY`, `RUN`, also as
/// an `ONBUILD` trigger.
fn can_contain_heredoc(node: &Node) -> bool {
    let mut node = node;
    if to_lower(&node.value) == "onbuild" {
        if let Some(trigger) = node.next.as_deref().and_then(|n| n.children.first()) {
            node = trigger;
        }
    }
    matches!(to_lower(&node.value).as_str(), "add" | "copy" | "run") && !node.json
}

/// Parses a Dockerfile.
pub fn parse(input: &[u8]) -> Result<ParseResult, ParseError> {
    let mut scanner = LineScanner {
        data: input,
        pos: 0,
        too_long: false,
    };
    let mut d = Directives {
        parser: DirectiveParser::default(),
        escape: '\\',
        found: Vec::new(),
    };
    let mut current_line = 0usize;
    let mut root = Node::default();
    let mut warnings = Vec::new();
    let mut comments: Vec<String> = Vec::new();

    while let Some(mut raw) = scanner.next_line() {
        if current_line == 0 {
            raw = raw.strip_prefix(UTF8_BOM).unwrap_or(raw);
        }
        let text = String::from_utf8_lossy(raw);
        if is_comment(&text) {
            // BuildKit drops the first byte, whatever leading white space there is.
            let comment = String::from_utf8_lossy(&raw[1..]).trim().to_string();
            if comment.is_empty() {
                comments.clear();
            } else {
                comments.push(comment);
            }
        }
        // BuildKit reports directive errors at the line count before this line; we report the
        // line itself.
        let (first, was_directive) = process_line(&mut d, &text, true)
            .map_err(|e| ParseError::at(e, current_line + 1, 0))?;
        if was_directive {
            comments.pop();
        }
        current_line += 1;
        let start_line = current_line;

        let (first, mut end_of_line) = trim_continuation(first, d.escape);
        if end_of_line && first.is_empty() {
            continue;
        }
        let mut line = first.to_string();
        let mut has_empty_continuation = false;
        while !end_of_line {
            let Some(raw) = scanner.next_line() else {
                break;
            };
            let text = String::from_utf8_lossy(raw);
            let (part, _) = process_line(&mut d, &text, false)
                .map_err(|e| ParseError::at(e, current_line + 1, 0))?;
            current_line += 1;
            if is_comment(&text) {
                continue;
            }
            if trim_newline(part).trim_start().is_empty() {
                has_empty_continuation = true;
                continue;
            }
            let (part, eol) = trim_continuation(part, d.escape);
            line.push_str(part);
            end_of_line = eol;
        }

        if has_empty_continuation {
            warnings.push(Warning {
                short: format!("Empty continuation line found in: {line}"),
                detail: "Empty continuation lines will become errors in a future release".into(),
                url: "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/".into(),
                line: current_line,
            });
        }

        let mut child = node_from_line(&line, d.escape, 0)
            .map_err(|e| ParseError::at(e, start_line, current_line))?;
        child.prev_comment = std::mem::take(&mut comments);

        if can_contain_heredoc(&child) && line.contains("<<") {
            let heredocs = heredocs_from_line(&line)
                .map_err(|e| ParseError::at(e, start_line, current_line))?;
            for mut heredoc in heredocs {
                let mut terminated = false;
                while let Some(raw) = scanner.next_line() {
                    current_line += 1;
                    let text = String::from_utf8_lossy(raw);
                    let mut candidate = trim_newline(&text);
                    if heredoc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == heredoc.name {
                        terminated = true;
                        break;
                    }
                    heredoc.content.push_str(&text);
                }
                if !terminated {
                    return Err(ParseError::at(
                        "unterminated heredoc",
                        start_line,
                        current_line,
                    ));
                }
                child.heredocs.push(heredoc);
            }
        }

        child.set_lines(start_line, current_line);
        if root.children.is_empty() {
            root.start_line = start_line;
        }
        root.end_line = current_line;
        root.children.push(child);
    }

    if root.children.is_empty() {
        return Err(ParseError::at("file with no instructions", current_line, 0));
    }
    if scanner.too_long {
        return Err(ParseError::at(
            format!(
                "dockerfile line greater than max allowed size of {}",
                MAX_LINE_BYTES - 1
            ),
            current_line,
            0,
        ));
    }
    Ok(ParseResult {
        ast: root,
        warnings,
        escape_token: d.escape,
        directives: d.found,
    })
}
