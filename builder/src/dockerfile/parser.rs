//! The Dockerfile line parser, with BuildKit's `frontend/dockerfile/parser.Parse` semantics:
//! reading lines (BOM, CRLF, the 64 KiB line limit), parser directives, comments, line
//! continuation with the escape token, heredoc bodies, and the instruction dispatch table.
//! The result is the raw AST ([`Node`]); meaning (flags, expansion, stages) comes later.
//!
//! Input bytes that are not UTF-8 are decoded lossily line by line (U+FFFD), where BuildKit
//! keeps the raw bytes; everything else follows BuildKit byte for byte.

use std::borrow::Cow;

use super::ast::Node;
use super::directives::{escape_token, Directive, DirectiveParser};
use super::goquote::{is_space_byte, lower_is, to_lower};
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
fn split_command(line: &str) -> (&str, Vec<String>, Cow<'_, str>) {
    let (cmd, rest) = split_token_whitespace_once(line.trim());
    let (args, flags) = match rest {
        Some(rest) => extract_builder_flags(rest),
        None => (Cow::Borrowed(""), Vec::new()),
    };
    let args = match args {
        Cow::Borrowed(a) => Cow::Borrowed(a.trim()),
        Cow::Owned(a) => Cow::Owned(a.trim().to_string()),
    };
    (cmd, flags, args)
}

/// Pulls leading `--flag` words off the arguments (`extractBuilderFlags`). Like BuildKit it
/// walks bytes: quotes group, `\` escapes the next byte, a bare `--` ends the flags, and each
/// byte is appended as the code point of the same number (so non-ASCII flag text is read as
/// Latin-1, exactly as BuildKit does).
fn extract_builder_flags(line: &str) -> (Cow<'_, str>, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let bytes = line.as_bytes();
    // BuildKit may cut inside a UTF-8 sequence (bytes 0x85 and 0xA0 count as spaces).
    let rest_from = |pos: usize| String::from_utf8_lossy(&bytes[pos..]);
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
    (Cow::Borrowed(""), words)
}

/// Builds an instruction node from a logical line (`newNodeFromLine`).
fn node_from_line(line: String, escape: char, depth: usize) -> Result<Node, String> {
    let (cmd, flags, args) = split_command(&line);
    let lower = to_lower(cmd);
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
    drop(args);
    node.original = line;
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
    let child = node_from_line(rest.to_string(), escape, depth + 1)?;
    let mut holder = Node::default();
    holder.children.push(child);
    Ok((Some(Box::new(holder)), false))
}

/// Whether heredocs are looked for on this instruction: non-JSON `ADD`, `COPY`, `RUN`, also as
/// an `ONBUILD` trigger.
fn can_contain_heredoc(node: &Node) -> bool {
    let mut node = node;
    if lower_is(&node.value, "onbuild") {
        if let Some(trigger) = node.next.as_deref().and_then(|n| n.children.first()) {
            node = trigger;
        }
    }
    ["add", "copy", "run"]
        .iter()
        .any(|name| lower_is(&node.value, name))
        && !node.json
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

        let mut child = node_from_line(line, d.escape, 0)
            .map_err(|e| ParseError::at(e, start_line, current_line))?;
        let line = &child.original;
        child.prev_comment = std::mem::take(&mut comments);

        if can_contain_heredoc(&child) && line.contains("<<") {
            let heredocs = heredocs_from_line(line)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::ast::Heredoc;

    fn dump(text: &str) -> String {
        parse(text.as_bytes()).expect("parses").ast.dump()
    }

    fn error(text: &[u8]) -> ParseError {
        parse(text).expect_err("must fail")
    }

    fn heredoc(name: &str, content: &str, expand: bool, chomp: bool, fd: u64) -> Heredoc {
        Heredoc {
            name: name.into(),
            content: content.into(),
            expand,
            chomp,
            file_descriptor: fd,
        }
    }

    // Port of BuildKit's TestParseExtractsHeredoc (same instructions, our own assertions).
    #[test]
    fn extracts_heredocs() {
        let text = "\nFROM alpine:3.6\n\nENV NAME=me\n\nRUN ls\n\nUSER <<INVALID\nINVALID\n\n\
            RUN <<EMPTY\nEMPTY\n\nRUN 3<<EMPTY2\nEMPTY2\n\nRUN \"<<NOHEREDOC\"\n\n\
            RUN <<INDENT\n\tfoo\n\tbar\nINDENT\n\nRUN <<-UNINDENT\n\tbaz\n\tquux\nUNINDENT\n\n\
            RUN <<-UNINDENT2\n\tbaz\n\tquux\n\tUNINDENT2\n\nRUN <<-EXPAND\n\texpand $NAME\nEXPAND\n\n\
            RUN <<-'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND\n\n\
            RUN <<COPY\necho hello world\necho foo bar\nCOPY\n\n\
            RUN <<COMMENT\n# internal comment\necho hello world\necho foo bar # trailing comment\nCOMMENT\n\n\
            RUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT\n\n\
            COPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2\n\n\
            COPY <<X <<Y /dest\nY\nX\nX\nY\n\t";
        let ast = parse(text.as_bytes()).unwrap().ast;
        let expected: Vec<Vec<Heredoc>> = vec![
            vec![],
            vec![],
            vec![],
            vec![],
            vec![heredoc("EMPTY", "", true, false, 0)],
            vec![heredoc("EMPTY2", "", true, false, 3)],
            vec![],
            vec![heredoc("INDENT", "\tfoo\n\tbar\n", true, false, 0)],
            vec![heredoc("UNINDENT", "\tbaz\n\tquux\n", true, true, 0)],
            vec![heredoc("UNINDENT2", "\tbaz\n\tquux\n", true, true, 0)],
            vec![heredoc("EXPAND", "\texpand $NAME\n", true, true, 0)],
            vec![heredoc(
                "NOEXPAND",
                "\tdon't expand $NAME\n",
                false,
                true,
                0,
            )],
            vec![heredoc(
                "COPY",
                "echo hello world\necho foo bar\n",
                true,
                false,
                0,
            )],
            vec![heredoc(
                "COMMENT",
                "# internal comment\necho hello world\necho foo bar # trailing comment\n",
                true,
                false,
                0,
            )],
            vec![heredoc("MOUNT", "echo hello\n", true, false, 0)],
            vec![
                heredoc("FILE1", "content 1\n", true, false, 0),
                heredoc("FILE2", "content 2\n", true, false, 0),
            ],
            vec![
                heredoc("X", "Y\n", true, false, 0),
                heredoc("Y", "X\n", true, false, 0),
            ],
        ];
        assert_eq!(ast.children.len(), expected.len() + 1);
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(&ast.children[i + 1].heredocs, want, "instruction {}", i + 2);
        }
    }

    // Port of BuildKit's TestParseJSONHeredoc: the JSON form never has heredocs.
    #[test]
    fn json_form_has_no_heredocs() {
        let ast = parse(b"FROM a\nRUN [\"whoami\"]\nRUN [\"<<EOF\"]\nRUN [\"<<'EOF'\"]\n")
            .unwrap()
            .ast;
        assert!(ast.children.iter().all(|c| c.heredocs.is_empty()));
        assert_eq!(ast.children.len(), 4);
    }

    // Cases checked against BuildKit's Go parser (v0.12.5, the PyPI `dockerfile` package).
    #[test]
    fn heredoc_edge_cases_match_go() {
        let docs = |text: &str| {
            parse(text.as_bytes()).map(|r| {
                r.ast
                    .children
                    .iter()
                    .map(|c| (c.start_line, c.end_line, c.heredocs.clone()))
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(
            docs("RUN <<E\"O\"F\nx\nEOF\n").unwrap(),
            [(1, 3, vec![heredoc("EOF", "x\n", false, false, 0)])]
        );
        assert_eq!(
            docs("RUN <<$V\nx\n$V\n").unwrap(),
            [(1, 3, vec![heredoc("$V", "x\n", true, false, 0)])]
        );
        assert_eq!(docs("RUN <<\"\"\nx\n").unwrap().len(), 2);
        assert_eq!(
            docs("RUN 99999999999999999999999<<EOF\nEOF\n").unwrap()[0].2,
            [heredoc("EOF", "", true, false, u64::MAX)]
        );
        assert_eq!(
            docs("COPY <<EOF <<\"EOF\" /x\na\nEOF\nb\nEOF\n").unwrap(),
            [(
                1,
                5,
                vec![
                    heredoc("EOF", "a\n", true, false, 0),
                    heredoc("EOF", "b\n", false, false, 0)
                ]
            )]
        );
        // An unterminated quote on the line: no heredoc at all, no error.
        assert_eq!(docs("RUN <<\"EOF\n").unwrap()[0].2, []);
        assert_eq!(docs("RUN <<${X:-\"}\nx\n").unwrap().len(), 2);
        // Bodies keep CRLF; the terminator is matched without it.
        assert_eq!(
            docs("RUN echo <<EOF\r\nhi\r\n EOF\r\nEOF\r\n").unwrap(),
            [(1, 4, vec![heredoc("EOF", "hi\r\n EOF\r\n", true, false, 0)])]
        );
        assert_eq!(
            docs("RUN <<-EOF\n\t\tx\n\t\tEOF\n").unwrap(),
            [(1, 3, vec![heredoc("EOF", "\t\tx\n", true, true, 0)])]
        );
        assert_eq!(
            docs("ONBUILD RUN <<EOF\nx\nEOF\n").unwrap(),
            [(1, 3, vec![heredoc("EOF", "x\n", true, false, 0)])]
        );
        let e = docs("RUN <<E\\\\OF\nx\nEOF\n").unwrap_err();
        assert_eq!(
            (e.message.as_str(), e.start_line, e.end_line),
            ("unterminated heredoc", 1, 3)
        );
    }

    // Port of BuildKit's TestParseWarnsOnEmptyContinutationLine.
    #[test]
    fn warns_on_empty_continuation_lines() {
        let text = "\nFROM alpine:3.6\n\nRUN something \\\n\n    following \\\n\n    more\n\n\
            RUN another \\\n\n    thing\nRUN non-indented \\\n# this is a comment\n   after-comment\n\n\
            RUN indented \\\n    # this is an indented comment\n    comment\n\t";
        let result = parse(text.as_bytes()).unwrap();
        let shorts: Vec<&str> = result.warnings.iter().map(|w| w.short.as_str()).collect();
        assert_eq!(
            shorts,
            [
                "Empty continuation line found in: RUN something     following     more",
                "Empty continuation line found in: RUN another     thing",
            ]
        );
        assert_eq!(result.warnings[0].line, 8);
        assert!(result.warnings_text().ends_with(
            "[WARNING]: Empty continuation lines will become errors in a future release.\n"
        ));
    }

    // Port of BuildKit's TestParseReturnsScannerErrors, plus the exact boundary.
    #[test]
    fn line_limit() {
        let long = "a".repeat(MAX_LINE_BYTES);
        let e = error(format!("\n\t\tFROM image\n\t\tLABEL test={long}\n").as_bytes());
        assert_eq!(
            e.message,
            "dockerfile line greater than max allowed size of 65535"
        );
        assert_eq!(e.start_line, 2);
        // 65535 bytes plus the newline fit; 65536 do not, with or without a newline.
        let fits = format!("RUN {}\n", "b".repeat(MAX_LINE_BYTES - 1 - 4));
        assert!(parse(fits.as_bytes()).is_ok());
        let fits_at_eof = format!("RUN {}", "b".repeat(MAX_LINE_BYTES - 1 - 4));
        assert!(parse(fits_at_eof.as_bytes()).is_ok());
        let too_long_at_eof = format!("RUN {}", "b".repeat(MAX_LINE_BYTES - 4));
        assert!(parse(too_long_at_eof.as_bytes()).is_err());
        let too_long = format!("FROM a\nRUN {}\n", "b".repeat(MAX_LINE_BYTES - 4));
        assert!(parse(too_long.as_bytes()).is_err());
        // Without any instruction before it, BuildKit reports the empty file instead.
        assert_eq!(
            error(too_long_at_eof.as_bytes()).message,
            "file with no instructions"
        );
    }

    #[test]
    fn directives() {
        let result =
            parse(b"# syntax=docker/dockerfile:1\n#ESCAPE = `\n# check=skip=all\nFROM a\n")
                .unwrap();
        assert_eq!(result.escape_token, '`');
        let names: Vec<(&str, &str, usize)> = result
            .directives
            .iter()
            .map(|d| (d.name.as_str(), d.value.as_str(), d.line))
            .collect();
        assert_eq!(
            names,
            [
                ("syntax", "docker/dockerfile:1", 1),
                ("escape", "`", 2),
                ("check", "skip=all", 3)
            ]
        );
        assert!(result.ast.children[0].prev_comment.is_empty());

        let e = error(b"# escape=`\n# escape=\\\nFROM a\n");
        assert_eq!(e.message, "only one escape parser directive can be used");
        assert_eq!(e.start_line, 2);
        assert_eq!(
            error(b"# escape=x\nFROM a\n").message,
            "invalid escape token 'x' does not match ` or \\"
        );
        // After an unknown directive, a comment, a blank line or an instruction: not a directive.
        for text in [
            "# foo=bar\n# escape=`\nFROM a \\\nb\n",
            "# hello\n# escape=`\nFROM a \\\nb\n",
            "\n# escape=`\nFROM a \\\nb\n",
            "FROM a \\\nb\n# escape=`\n",
        ] {
            let r = parse(text.as_bytes()).unwrap();
            assert_eq!(r.escape_token, '\\', "{text:?}");
            assert_eq!(r.ast.children[0].dump(), "from \"a\" \"b\"", "{text:?}");
        }
        // A BOM before the directive; leading white space before `#`.
        assert_eq!(
            parse(b"\xEF\xBB\xBF  # escape=`\nFROM a\n")
                .unwrap()
                .escape_token,
            '`'
        );
    }

    #[test]
    fn continuation_rules() {
        assert_eq!(
            dump("RUN a \\\\\nRUN b\n"),
            "(run \"a \\\\\\\\\")\n(run \"b\")"
        );
        assert_eq!(dump("RUN a \\ \t\n b\n"), "(run \"a  b\")");
        assert_eq!(dump("# escape=`\nRUN a `\n b \\\n"), "(run \"a  b \\\\\")");
        assert_eq!(dump("RUN a \\\n# c\n  # d\nb\n"), "(run \"a b\")");
        assert_eq!(dump("RUN a \\"), "(run \"a\")");
        assert_eq!(dump("\\\nRUN x\n"), "(run \"x\")");
        // A lone escape line starts an instruction on the next line, counted from its line.
        let r = parse(b"FROM a\n\\\nRUN x\n").unwrap();
        assert_eq!(r.ast.children[1].start_line, 2);
    }

    #[test]
    fn dispatch_table_shapes() {
        let cases = [
            ("FROM a  b", "(from \"a\" \"b\")"),
            ("EXPOSE 80 \"443\"", "(expose \"80\" \"\\\"443\\\"\")"),
            ("COPY a b", "(copy \"a\" \"b\")"),
            ("VOLUME [\"/a\", \"/b\"]", "(volume \"/a\" \"/b\")"),
            ("RUN [\"a\", \"b\"]", "(run \"a\" \"b\")"),
            ("RUN ['a']", "(run \"['a']\")"),
            (
                "SHELL [\"cmd\", \"/S\", \"/C\"]",
                "(shell \"cmd\" \"/S\" \"/C\")",
            ),
            ("ENV a b c", "(env \"a\" \"b c\" \"\")"),
            (
                "LABEL a=b \"c d\"=e",
                "(label \"a\" \"b\" \"=\" \"\\\"c d\\\"\" \"e\" \"=\")",
            ),
            ("ARG a=1 b", "(arg \"a=1\" \"b\")"),
            ("ARG", "(arg)"),
            ("ENV", "(env)"),
            ("USER me  you", "(user \"me  you\")"),
            ("WORKDIR", "(workdir)"),
            ("HEALTHCHECK NONE", "(healthcheck \"NONE\")"),
            ("ONBUILD RUN echo hi", "(onbuild (run \"echo hi\"))"),
            (
                "ONBUILD --x COPY --from=a b c",
                "(onbuild [\"--x\"] (copy [\"--from=a\"] \"b\" \"c\"))",
            ),
            ("ONBUILD", "(onbuild)"),
            ("FOO bar", "(foo \"\")"),
            ("FOO", "(foo \"\")"),
            ("RuN x", "(run \"x\")"),
            (
                "COPY --chown=\"a b\" --x='c' --e=\\\" -- --y a",
                "(copy [\"--chown=a b\" \"--x=c\" \"--e=\\\"\"] \"--y\" \"a\")",
            ),
            ("COPY --from=à x y", "(copy [\"--from=Ã\"] \"x\" \"y\")"),
            ("CMD []", "(cmd)"),
            (
                "RUN [\"a\\u0000\", \"\\ud83d\\ude00\", \"\\ud800x\"]",
                "(run \"a\\x00\" \"😀\" \"�x\")",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(dump(input), expected, "{input}");
        }
        assert_eq!(
            error(b"CMD [\"a\", 1]").message,
            "when using JSON array syntax, arrays must be comprised of strings only"
        );
        let e = error(b"FROM a\nENV a=b \\\n  c\n");
        assert_eq!(
            (e.message.as_str(), e.start_line, e.end_line),
            (
                "Syntax error - can't find = in \"c\". Must be of the form: name=value",
                2,
                3
            )
        );
        assert_eq!(e.to_string(), "dockerfile parse error on line 2: Syntax error - can't find = in \"c\". Must be of the form: name=value");
    }

    #[test]
    fn comments_and_lines() {
        let r = parse(b"# one\n# two\nFROM a\n#\n# three\n\nRUN b \\\n c\n").unwrap();
        assert_eq!(r.ast.children[0].prev_comment, ["one", "two"]);
        assert_eq!(r.ast.children[1].prev_comment, ["three"]);
        assert_eq!(r.ast.children[1].original, "RUN b  c");
        let run = &r.ast.children[1];
        assert_eq!((run.start_line, run.end_line), (7, 8));
        assert!(run.args().all(|a| (a.start_line, a.end_line) == (7, 8)));
        assert_eq!((r.ast.start_line, r.ast.end_line), (3, 8));
    }

    #[test]
    fn onbuild_nesting_is_bounded() {
        let deep = "ONBUILD ".repeat(MAX_ONBUILD_DEPTH + 1) + "RUN x";
        assert!(error(deep.as_bytes()).message.contains("nested"));
        let ok = "ONBUILD ".repeat(3) + "RUN x";
        assert_eq!(dump(&ok), "(onbuild (onbuild (onbuild (run \"x\"))))");
    }

    #[test]
    fn long_argument_lists_do_not_recurse() {
        let line = format!("FROM {}", "a ".repeat(30_000));
        let result = parse(line.as_bytes()).unwrap();
        let copy = result.ast.clone();
        assert_eq!(copy, result.ast);
        assert_eq!(copy.children[0].args().count(), 30_000);
        assert!(copy.dump().len() > 120_000);
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily() {
        assert_eq!(
            dump("RUN a\u{fffd}b"),
            parse(b"RUN a\xffb").unwrap().ast.dump()
        );
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// Lines in the input as BuildKit's scanner counts them.
        fn line_count(input: &[u8]) -> usize {
            let newlines = input.iter().filter(|&&b| b == b'\n').count();
            newlines + usize::from(!input.is_empty() && !input.ends_with(b"\n"))
        }

        /// Input made of the pieces the parser cares about, so that deep paths are reached.
        fn dockerfile_like() -> impl Strategy<Value = Vec<u8>> {
            let piece = prop::sample::select(vec![
                "FROM ",
                "RUN ",
                "COPY ",
                "ADD ",
                "ENV ",
                "LABEL ",
                "ARG ",
                "ONBUILD ",
                "CMD ",
                "HEALTHCHECK ",
                "SHELL ",
                "x",
                "a=b",
                "\"",
                "'",
                "\\",
                "`",
                "[",
                "]",
                "\"s\"",
                ",",
                "1",
                "--f=",
                "--",
                "<<",
                "<<-",
                "EOF",
                "3<<",
                "$",
                "${",
                "}",
                ":-",
                "#",
                "# escape=`",
                "# syntax=x",
                " ",
                "\t",
                "\n",
                "\r\n",
                "\u{a0}",
                "\u{feff}",
                "é",
            ]);
            prop::collection::vec(piece, 0..60).prop_map(|p| p.concat().into_bytes())
        }

        fn check(input: &[u8]) {
            let lines = line_count(input);
            match parse(input) {
                Ok(result) => {
                    assert!(!result.ast.children.is_empty());
                    let mut previous_end = 0;
                    for child in &result.ast.children {
                        assert!(child.start_line > previous_end, "instructions in order");
                        assert!(child.start_line <= child.end_line);
                        assert!(child.end_line <= lines);
                        previous_end = child.end_line;
                    }
                    let dump = result.ast.dump();
                    assert_eq!(dump, result.ast.clone().dump());
                }
                Err(e) => {
                    assert!(!e.message.is_empty());
                    assert!(e.start_line <= e.end_line);
                    assert!(e.end_line <= lines.max(1), "{e:?} beyond {lines} lines");
                    assert!(e.to_string().contains(&format!("line {}", e.start_line)));
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..400)) {
                check(&input);
            }

            #[test]
            fn dockerfile_like_input_never_panics(input in dockerfile_like()) {
                check(&input);
            }
        }
    }
}
