//! Parser directives (`# syntax=`, `# escape=`, `# check=`) as BuildKit's `directives.go` reads
//! them, and `detect_syntax`, the looser lookup the gateway uses to pick a frontend image.
//!
//! Scanning rules: directives are only looked for at the top of the file; the first line that is
//! not a well-formed *known* directive (an instruction, a blank line, an ordinary comment, or
//! `# unknown=x`) ends the scan for good. Names are case-insensitive; a repeated one is an error.

use std::collections::HashSet;

/// The directives BuildKit knows.
pub const KNOWN_DIRECTIVES: [&str; 3] = ["syntax", "escape", "check"];

/// One parser directive found at the top of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// Lowercased name: `syntax`, `escape` or `check`.
    pub name: String,
    /// The value, surrounding white space removed.
    pub value: String,
    /// 1-based line number.
    pub line: usize,
}

/// Reads directives line by line until the first line that is not one.
#[derive(Debug, Clone)]
pub struct DirectiveParser {
    line: usize,
    comment_prefix: &'static str,
    seen: HashSet<String>,
    done: bool,
}

impl Default for DirectiveParser {
    fn default() -> Self {
        DirectiveParser::with_prefix("#")
    }
}

/// White space as Go's RE2 `\s` knows it (ASCII only, no `\v`).
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// Matches `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` (Go regexp semantics) and returns the
/// name and value.
fn match_directive(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    if !bytes.first()?.is_ascii_alphabetic() {
        return None;
    }
    let name_end = bytes
        .iter()
        .position(|b| !b.is_ascii_alphanumeric())
        .unwrap_or(bytes.len());
    let name = &text[..name_end];
    let after_name = text[name_end..].trim_start_matches(is_re_space);
    let rest = after_name.strip_prefix('=')?;
    if rest.contains('\n') {
        return None; // `.` does not match a newline
    }
    let value_start = rest.trim_start_matches(is_re_space);
    if !value_start.is_empty() {
        return Some((name, value_start.trim_end_matches(is_re_space)));
    }
    // All white space after `=`: the lazy `(.+?)` still needs one character, so the regex
    // backtracks and the value is the last white-space character.
    let last = rest.chars().next_back()?;
    Some((name, &rest[rest.len() - last.len_utf8()..]))
}

impl DirectiveParser {
    /// A parser for directives written after `prefix` (`#`, or `//` for `detect_syntax`).
    pub fn with_prefix(prefix: &'static str) -> Self {
        DirectiveParser {
            line: 0,
            comment_prefix: prefix,
            seen: HashSet::new(),
            done: false,
        }
    }

    /// Whether scanning has ended.
    pub fn done(&self) -> bool {
        self.done
    }

    /// Looks at the next line (line ending already removed). Returns the directive it holds,
    /// `None` if it holds none (which ends the scan), or the repeated-directive error.
    pub fn parse_line(&mut self, line: &str) -> Result<Option<Directive>, String> {
        self.line += 1;
        if self.done {
            return Ok(None);
        }
        let Some(rest) = line.strip_prefix(self.comment_prefix) else {
            self.done = true;
            return Ok(None);
        };
        let Some((name, value)) = match_directive(rest.trim_start()) else {
            self.done = true;
            return Ok(None);
        };
        let name = name.to_ascii_lowercase();
        if !KNOWN_DIRECTIVES.contains(&name.as_str()) {
            self.done = true;
            return Ok(None);
        }
        if !self.seen.insert(name.clone()) {
            return Err(format!("only one {name} parser directive can be used"));
        }
        Ok(Some(Directive {
            name,
            value: value.to_string(),
            line: self.line,
        }))
    }

    /// Reads directives from the top of `text` until the scan ends or a directive repeats.
    fn parse_all(mut self, text: &str) -> Vec<Directive> {
        let mut found = Vec::new();
        for line in text.split('\n') {
            if self.done {
                break;
            }
            // bufio.ScanLines drops one trailing `\r`.
            let line = line.strip_suffix('\r').unwrap_or(line);
            match self.parse_line(line) {
                Ok(Some(d)) => found.push(d),
                Ok(None) => {}
                Err(_) => break,
            }
        }
        found
    }
}

/// Checks an `escape` directive value: only `` ` `` and `\` are allowed.
pub fn escape_token(value: &str) -> Result<char, String> {
    match value {
        "`" => Ok('`'),
        "\\" => Ok('\\'),
        other => Err(format!(
            "invalid escape token '{other}' does not match ` or \\"
        )),
    }
}

/// The `syntax` directive, as BuildKit's `DetectSyntax` finds it: a leading BOM and `#!` line
/// are skipped; `# syntax=` is looked for first, then `// syntax=`, then a whole-file JSON
/// object `{"syntax": "..."}`. Returns (image reference = value up to the first space, full
/// value, 1-based line; 0 for JSON).
pub fn detect_syntax(data: &[u8]) -> Option<(String, String, usize)> {
    find_directive("syntax", data, true)
}

/// BuildKit's `ParseDirective`: like [`detect_syntax`] for any directive `key`, but only the
/// `#` form counts.
pub fn parse_directive(key: &str, data: &[u8]) -> Option<(String, String, usize)> {
    find_directive(key, data, false)
}

fn find_directive(key: &str, data: &[u8], any_format: bool) -> Option<(String, String, usize)> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let text = String::from_utf8_lossy(data);
    let (text, first_line) = match text.split_once('\n') {
        Some((first, rest)) if first.starts_with("#!") => (rest, 1),
        None if text.starts_with("#!") => ("", 1),
        _ => (&*text, 0),
    };
    let prefixes: &[&'static str] = if any_format { &["#", "//"] } else { &["#"] };
    for prefix in prefixes {
        let mut parser = DirectiveParser::with_prefix(prefix);
        parser.line = first_line;
        if let Some(d) = parser.parse_all(text).into_iter().find(|d| d.name == key) {
            let first_word = d.value.split(' ').next().unwrap_or_default().to_string();
            return Some((first_word, d.value, d.line));
        }
    }
    if !any_format {
        return None;
    }
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    let value = json.as_object()?.get(key)?.as_str()?.to_string();
    Some((value.clone(), value, first_line))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<Directive> {
        DirectiveParser::default().parse_all(text)
    }

    // Port of BuildKit's TestDirectives.
    #[test]
    fn directives_are_case_insensitive_and_stop_at_unknown() {
        for text in [
            "#escape=\\\n# key = FOO bar\n\n# smth\n",
            "# EScape=\\\n# KEY = FOO bar\n\n# smth\n",
        ] {
            let found = all(text);
            assert_eq!(found.len(), 1, "{text:?}");
            assert_eq!(
                (found[0].name.as_str(), found[0].value.as_str()),
                ("escape", "\\")
            );
        }
    }

    #[test]
    fn directive_regex_edges() {
        assert_eq!(match_directive("escape = ` "), Some(("escape", "`")));
        assert_eq!(match_directive("escape= "), Some(("escape", " ")));
        assert_eq!(match_directive("escape="), None);
        assert_eq!(match_directive("1x=y"), None);
        assert_eq!(match_directive("syntax\t=\ta b\t"), Some(("syntax", "a b")));
        assert_eq!(match_directive("sy ntax=x"), None);
    }

    // Ports of BuildKit's TestDetectSyntax and TestDetectSyntaxBOM.
    #[test]
    fn detect_syntax_formats() {
        let detect = |s: &[u8]| detect_syntax(s);
        assert_eq!(
            detect(b"# syntax = dockerfile:experimental // opts\nFROM busybox\n"),
            Some((
                "dockerfile:experimental".into(),
                "dockerfile:experimental // opts".into(),
                1
            ))
        );
        assert_eq!(
            detect(b"#!/bin/sh\n# syntax = dockerfile:experimental\nFROM busybox\n")
                .map(|d| (d.0, d.2)),
            Some(("dockerfile:experimental".into(), 2))
        );
        assert_eq!(
            detect(b"#!/bin/sh\n\n# syntax = dockerfile:experimental\n"),
            None
        );
        assert_eq!(detect(b"FROM busybox\nRUN ls\n"), None);
        assert_eq!(
            detect(b"//syntax=foo\n//key=value").map(|d| d.0),
            Some("foo".into())
        );
        assert_eq!(
            detect(b"#!/bin/sh\n//syntax=x").map(|d| d.0),
            Some("x".into())
        );
        assert_eq!(
            detect(b"{\"syntax\": \"foo\"}").map(|d| d.0),
            Some("foo".into())
        );
        assert_eq!(detect(b"{\"syntax\": \"foo\""), None);
        assert_eq!(detect(b"{\"syntax\": \"foo\"}\n# syntax=bar"), None);
        assert_eq!(
            detect(b"\xEF\xBB\xBF# syntax = myfrontend\nFROM busybox\n"),
            Some(("myfrontend".into(), "myfrontend".into(), 1))
        );
    }

    // Port of the `#` cases of BuildKit's TestParseDirective.
    #[test]
    fn parse_directive_check() {
        assert_eq!(
            parse_directive("check", b"#check = skip=all // opts\nFROM busybox\n"),
            Some(("skip=all".into(), "skip=all // opts".into(), 1))
        );
        assert_eq!(
            parse_directive("check", b"#!/bin/sh\n# check = skip=all\nFROM busybox\n"),
            Some(("skip=all".into(), "skip=all".into(), 2))
        );
        assert_eq!(
            parse_directive("check", b"#!/bin/sh\n\n# check = skip=all\n"),
            None
        );
        assert_eq!(parse_directive("check", b"FROM busybox\nRUN ls\n"), None);
        assert_eq!(
            parse_directive("check", b"{\"check\": \"foo\"}\n# syntax=bar"),
            None
        );
    }

    #[test]
    fn escape_values() {
        assert_eq!(escape_token("`"), Ok('`'));
        assert_eq!(escape_token("\\"), Ok('\\'));
        assert_eq!(
            escape_token("x"),
            Err("invalid escape token 'x' does not match ` or \\".into())
        );
    }
}
