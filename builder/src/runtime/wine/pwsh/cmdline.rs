//! The few rules of cmd.exe that silo needs to take a cmd step's PowerShell away from Wine's
//! stub: `cmd [/S] /C` and its quote stripping, a line's `&&` / `||` / `&` commands, and `%VAR%`
//! expansion (cmd expands the whole line once, before running any of it).
//!
//! Facts (Microsoft's `cmd` reference and `cmd /?`): with `/S`, or unless exactly two quotes
//! surround the text, the first and the last `"` after `/C` are removed; `a && b` runs `b` only
//! when `a` exits 0, `a || b` only when it does not, `a & b` always; `^` escapes the next
//! character outside quotes; the line's exit code is the last command's.

use serde::{Deserialize, Serialize};

/// How a command joins the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Join {
    First,
    /// `&`
    Always,
    /// `&&`
    IfSucceeded,
    /// `||`
    IfFailed,
}

/// One command of a cmd line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub join: Join,
    pub text: String,
}

impl Join {
    /// Whether the command runs after one that exited with `last`.
    pub fn runs_after(self, last: i32) -> bool {
        match self {
            Join::First | Join::Always => true,
            Join::IfSucceeded => last == 0,
            Join::IfFailed => last != 0,
        }
    }
}

/// The program word of a command line (unquoted) and the rest.
pub fn program_word(command_line: &str) -> (String, &str) {
    let cl = command_line.trim_start();
    if let Some(rest) = cl.strip_prefix('"') {
        match rest.find('"') {
            Some(end) => (rest[..end].to_string(), &rest[end + 1..]),
            None => (rest.to_string(), ""),
        }
    } else {
        let end = cl.find([' ', '\t']).unwrap_or(cl.len());
        (cl[..end].to_string(), &cl[end..])
    }
}

pub fn is_cmd(program: &str) -> bool {
    let base = program.rsplit(['\\', '/']).next().unwrap_or(program);
    base.eq_ignore_ascii_case("cmd") || base.eq_ignore_ascii_case("cmd.exe")
}

/// What cmd.exe runs for `cmd [/S] /C <rest>`; `None` when the line is not such a cmd call.
pub fn cmd_command(command_line: &str) -> Option<String> {
    let (program, mut rest) = program_word(command_line);
    if !is_cmd(&program) {
        return None;
    }
    let mut strip_quotes = false;
    loop {
        let t = rest.trim_start();
        let switch: String = t.chars().take(2).collect();
        if switch.eq_ignore_ascii_case("/s") {
            strip_quotes = true;
            rest = &t[2..];
        } else if switch.eq_ignore_ascii_case("/c") {
            rest = &t[2..];
            break;
        } else {
            return None;
        }
    }
    let text = rest.trim_start();
    if (strip_quotes || text.matches('"').count() != 2) && text.starts_with('"') {
        let inner = &text[1..];
        return Some(match inner.rfind('"') {
            Some(last) => format!("{}{}", &inner[..last], &inner[last + 1..]),
            None => inner.to_string(),
        });
    }
    Some(text.to_string())
}

/// Splits a cmd line at its top-level `&&`, `||` and `&` (not inside quotes, not `^`-escaped).
/// A single `|` is a pipe and stays inside its command.
pub fn split(line: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut join = Join::First;
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            '^' if !quoted => {
                current.push(c);
                if let Some(n) = chars.next() {
                    current.push(n);
                }
            }
            '&' if !quoted => {
                let next = if chars.peek() == Some(&'&') {
                    chars.next();
                    Join::IfSucceeded
                } else {
                    Join::Always
                };
                out.push(Segment {
                    join,
                    text: current.trim().to_string(),
                });
                current.clear();
                join = next;
            }
            '|' if !quoted && chars.peek() == Some(&'|') => {
                chars.next();
                out.push(Segment {
                    join,
                    text: current.trim().to_string(),
                });
                current.clear();
                join = Join::IfFailed;
            }
            _ => current.push(c),
        }
    }
    out.push(Segment {
        join,
        text: current.trim().to_string(),
    });
    out
}

/// Pipes, redirections or escapes outside quotes: what a PowerShell command inside a cmd line
/// may not carry (cmd would apply them to powershell.exe's process). Parentheses in the middle of
/// a command are plain characters to cmd.
pub fn has_cmd_syntax(text: &str) -> bool {
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '|' | '<' | '>' | '^' if !quoted => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<(Join, String)> {
        split(line).into_iter().map(|s| (s.join, s.text)).collect()
    }

    #[test]
    fn a_line_splits_at_its_top_level_operators_only() {
        assert_eq!(
            texts(r#"setx /M PATH "%PATH%;C:\a" && powershell -c "1 && 2" || echo no & echo end"#),
            vec![
                (Join::First, r#"setx /M PATH "%PATH%;C:\a""#.to_string()),
                (Join::IfSucceeded, r#"powershell -c "1 && 2""#.to_string()),
                (Join::IfFailed, "echo no".to_string()),
                (Join::Always, "echo end".to_string()),
            ]
        );
        assert_eq!(
            texts("echo a ^& b | find /i a"),
            vec![(Join::First, "echo a ^& b | find /i a".to_string())]
        );
    }

    #[test]
    fn joins_follow_the_previous_exit_code() {
        assert!(Join::IfSucceeded.runs_after(0) && !Join::IfSucceeded.runs_after(1));
        assert!(Join::IfFailed.runs_after(9009) && !Join::IfFailed.runs_after(0));
        assert!(Join::Always.runs_after(1));
    }

    #[test]
    fn cmd_strips_the_outer_quotes_after_slash_c() {
        assert_eq!(
            cmd_command(r#"cmd /S /C "powershell -c "a b"""#).as_deref(),
            Some(r#"powershell -c "a b""#)
        );
        assert_eq!(cmd_command("cmd /c echo hi").as_deref(), Some("echo hi"));
        assert_eq!(cmd_command("powershell -c 1"), None);
        assert_eq!(cmd_command("cmd /k echo"), None);
    }

    #[test]
    fn cmd_syntax_outside_quotes_is_found() {
        assert!(has_cmd_syntax("powershell -c 1 > out.txt"));
        assert!(!has_cmd_syntax(r#"powershell -c "Get-Item x | Out-Null""#));
        assert!(!has_cmd_syntax("powershell -c (Get-Item x).Length"));
    }
}
