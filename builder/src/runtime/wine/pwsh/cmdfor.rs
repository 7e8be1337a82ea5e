//! The part of cmd.exe's `for` that silo's engine runs: a loop whose body is one `mklink` (Wine
//! cannot make the links, so the loop cannot be left to Wine's cmd), as in
//! `FOR /f "tokens=*" %i IN ('C:\bin\busybox --list') DO mklink C:\bin\%i.exe C:\bin\busybox.exe`.
//!
//! Facts (`for /?`): `for %V in (set) do command` runs the command once per item of the set
//! (items separated by spaces, tabs, commas, semicolons, `=`; an item with `*` or `?` is a file
//! pattern); `for /f ["options"] %V in ('command') do …` runs the command and loops over the
//! lines of its output, skipping empty lines and lines starting with the `eol` character (`;`),
//! each split at the `delims` characters (space and tab) with `tokens` choosing what `%V` gets
//! (`1`: the first token, `*`: the rest of the line after leading delimiters). The body extends
//! to the end of the line (`&&` included), and is echoed before each run when echo is on.
//! Everything else (`/d`, `/r`, `/l`, file sets, `("string")`, `skip`, `usebackq`, `%~` modifiers,
//! a second variable) is refused naming the form.

/// What the loop runs over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `(a b c)`
    Items(Vec<String>),
    /// `('command')`, split per [`LineRule`].
    Command { command: String, rule: LineRule },
}

/// How `for /f` turns an output line into the variable's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRule {
    /// `tokens=*` (the rest of the line) rather than `tokens=1`.
    pub rest_of_line: bool,
    pub delims: Vec<char>,
    pub eol: Option<char>,
}

/// A parsed `for` loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForLoop {
    /// The variable's letter (`i` of `%i`; case matters).
    pub variable: char,
    pub source: Source,
    /// The command run per value, `%V` not yet replaced.
    pub body: String,
}

/// Whether a command is a `for` loop (whatever it runs).
pub fn is_for(text: &str) -> bool {
    let (word, _) = super::cmdline::program_word(text.trim_start().trim_start_matches('@'));
    word.eq_ignore_ascii_case("for")
}

/// Where the `do` keyword of a `for` command is: the first `do` word after a `)`.
fn do_at(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find("do") {
        let at = from + pos;
        let after = lower[at + 2..].chars().next();
        if lower[..at].trim_end().ends_with(')') && after.is_some_and(char::is_whitespace) {
            return Some(at);
        }
        from = at + 2;
    }
    None
}

/// The text after `do`, for a `for` command (`None` when there is no `do`).
pub fn body_of(text: &str) -> Option<&str> {
    do_at(text).map(|at| text[at + 2..].trim())
}

fn unsupported(what: &str) -> String {
    format!(
        "silo's engine runs `for` only as `for %V in (items) do mklink …` or `for /f \
         [\"tokens=*|1 delims=… eol=…\"] %V in ('command') do mklink …`: {what}"
    )
}

impl ForLoop {
    /// Parses a `for` command.
    pub fn parse(text: &str) -> Result<ForLoop, String> {
        let t = text.trim_start().trim_start_matches('@');
        if !is_for(t) {
            return Err(unsupported("not a for loop"));
        }
        let at = do_at(t).ok_or_else(|| unsupported("no `do`"))?;
        let body = t[at + 2..].trim();
        let mut rest = t[3..at].trim();
        let mut lines = None;
        if rest.len() >= 2 && rest[..2].eq_ignore_ascii_case("/f") {
            rest = rest[2..].trim_start();
            let mut rule = LineRule {
                rest_of_line: false,
                delims: vec![' ', '\t'],
                eol: Some(';'),
            };
            if let Some(quoted) = rest.strip_prefix('"') {
                let end = quoted
                    .find('"')
                    .ok_or_else(|| unsupported("unterminated options"))?;
                parse_options(&quoted[..end], &mut rule)?;
                rest = quoted[end + 1..].trim_start();
            }
            lines = Some(rule);
        } else if rest.starts_with('/') {
            return Err(unsupported(&format!(
                "the switch {}",
                rest.split_whitespace().next().unwrap_or("")
            )));
        }
        let variable = match rest.as_bytes() {
            [b'%', v, c, ..] if v.is_ascii_alphabetic() && c.is_ascii_whitespace() => *v as char,
            _ => return Err(unsupported("no %V variable")),
        };
        rest = rest[2..].trim_start();
        if !(rest.len() > 2 && rest[..2].eq_ignore_ascii_case("in")) {
            return Err(unsupported("no `in (…)`"));
        }
        // `rest` ends with the set's `)` (see `do_at`).
        let set = rest[2..]
            .trim_start()
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .ok_or_else(|| unsupported("no `in (…)`"))?
            .trim();
        if body.contains("%~") {
            return Err(unsupported("`%~` modifiers"));
        }
        let source = match lines {
            Some(rule) => {
                let command = set
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .ok_or_else(|| unsupported("a file or (\"string\") set of for /f"))?;
                Source::Command {
                    command: command.to_string(),
                    rule,
                }
            }
            None => {
                let items: Vec<String> = set
                    .split([' ', '\t', ',', ';', '='])
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                if items.iter().any(|i| i.contains(['*', '?'])) {
                    return Err(unsupported("a file pattern (`*`, `?`) in the set"));
                }
                Source::Items(items)
            }
        };
        Ok(ForLoop {
            variable,
            source,
            body: body.to_string(),
        })
    }

    /// The body for one value.
    pub fn body_for(&self, value: &str) -> String {
        self.body.replace(&format!("%{}", self.variable), value)
    }
}

fn parse_options(options: &str, rule: &mut LineRule) -> Result<(), String> {
    let mut rest = options.trim_start();
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once('=')
            .ok_or_else(|| unsupported(&format!("the option {rest:?}")))?;
        match key.trim().to_ascii_lowercase().as_str() {
            // `delims=` takes every character up to the next option (a space may be one).
            "delims" => {
                let end = ["tokens=", "eol=", "skip="]
                    .iter()
                    .filter_map(|o| after.to_ascii_lowercase().find(o))
                    .min()
                    .unwrap_or(after.len());
                let value = &after[..end];
                let value = if end < after.len() {
                    value.strip_suffix(' ').unwrap_or(value)
                } else {
                    value
                };
                rule.delims = value.chars().collect();
                rest = after[end..].trim_start();
            }
            k @ ("tokens" | "eol") => {
                let (value, next) = after.split_once(' ').unwrap_or((after, ""));
                if k == "tokens" {
                    rule.rest_of_line = match value {
                        "*" => true,
                        "1" => false,
                        other => return Err(unsupported(&format!("tokens={other}"))),
                    };
                } else {
                    let mut chars = value.chars();
                    rule.eol = chars.next();
                    if chars.next().is_some() {
                        return Err(unsupported(&format!("eol={value}")));
                    }
                }
                rest = next.trim_start();
            }
            other => return Err(unsupported(&format!("the option {other}="))),
        }
    }
    Ok(())
}

impl LineRule {
    /// The values of a command's output, line by line.
    pub fn values(&self, output: &str) -> Vec<String> {
        let mut out = Vec::new();
        for line in output.lines() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() || self.eol.is_some_and(|e| line.starts_with(e)) {
                continue;
            }
            let trimmed = line.trim_start_matches(|c| self.delims.contains(&c));
            if trimmed.is_empty() {
                continue;
            }
            let value = if self.rest_of_line {
                trimmed
            } else {
                trimmed
                    .split(|c| self.delims.contains(&c))
                    .next()
                    .unwrap_or(trimmed)
            };
            out.push(value.to_string());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busybox_style_loops_parse() {
        let l = ForLoop::parse(
            r#"FOR /f "tokens=*" %i IN ('C:\bin\busybox --list') DO mklink C:\bin\%i.exe C:\bin\busybox.exe"#,
        )
        .unwrap();
        assert_eq!(l.variable, 'i');
        assert_eq!(
            l.source,
            Source::Command {
                command: r"C:\bin\busybox --list".into(),
                rule: LineRule {
                    rest_of_line: true,
                    delims: vec![' ', '\t'],
                    eol: Some(';')
                }
            }
        );
        assert_eq!(l.body_for("ar"), r"mklink C:\bin\ar.exe C:\bin\busybox.exe");
        let l = ForLoop::parse(r"for %x in (a, b;c) do mklink /D C:\%x C:\t").unwrap();
        assert_eq!(
            l.source,
            Source::Items(vec!["a".into(), "b".into(), "c".into()])
        );
        assert!(is_for("@for %x in (a) do x"));
    }

    #[test]
    fn for_f_lines_become_values_like_cmd() {
        let rule = |opts: &str| {
            let mut r = LineRule {
                rest_of_line: false,
                delims: vec![' ', '\t'],
                eol: Some(';'),
            };
            parse_options(opts, &mut r).unwrap();
            r
        };
        let out = "  ar x\r\n\r\n;comment\r\nls\n";
        assert_eq!(rule("tokens=*").values(out), ["ar x", "ls"]);
        assert_eq!(rule("").values(out), ["ar", "ls"]);
        assert_eq!(rule("delims=").values(out), ["  ar x", "ls"]);
        assert_eq!(rule("delims=, tokens=*").delims, [',']);
    }

    #[test]
    fn other_forms_are_refused_naming_them() {
        for (text, what) in [
            (r"for /r C:\ %i in (*) do mklink a b", "/r"),
            (r"for %i in (*.exe) do mklink a%i b", "file pattern"),
            (r#"for /f "skip=1" %i in ('x') do mklink a b"#, "skip="),
            (r#"for /f %i in ("a b") do mklink a b"#, "string"),
            (r"for %i in (a) do mklink %~ni b", "%~"),
        ] {
            let e = ForLoop::parse(text).unwrap_err();
            assert!(e.contains(what), "{text}: {e}");
        }
    }
}
