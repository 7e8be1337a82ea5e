//! Parser smoke test over real Windows Dockerfiles: every PowerShell RUN step of the shared
//! corpus (`/work/shared/windows-dockerfiles-public`, read in place) goes through the
//! invocation (command line → script) and the parser, and the count that parses is reported.
//! Skipped with a message when the corpus is absent, unless CI=true.
//!
//! The Dockerfile reading here is deliberately simple (escape directive, line continuations,
//! SHELL, RUN in shell and exec form); silo's real Dockerfile frontend measures the reach.

mod parse_support;

use powershell::invocation;
use std::path::{Path, PathBuf};

const CORPUS: &str = "/work/shared/windows-dockerfiles-public";

/// One PowerShell RUN step: where it is and the Windows command line that starts PowerShell.
struct Step {
    origin: String,
    command_line: String,
}

#[test]
fn every_powershell_run_step_of_the_corpus_parses() {
    let dir = Path::new(CORPUS);
    if !dir.is_dir() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("the Dockerfile corpus {CORPUS} is missing (CI=true)");
        }
        eprintln!("SKIP: the Dockerfile corpus {CORPUS} is absent");
        return;
    }
    let mut files = Vec::new();
    collect_dockerfiles(dir, &mut files);
    files.sort();
    assert!(!files.is_empty(), "no Dockerfile in {CORPUS}");
    let mut steps = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        steps.extend(powershell_steps(&f.display().to_string(), &text));
    }
    let mut parsed = 0;
    let mut failures = Vec::new();
    let mut refused = Vec::new();
    let mut dump = String::new();
    for s in &steps {
        let inv = match invocation::parse_command_line(&s.command_line, &|p| {
            Err(format!("{p}: not read by this test"))
        }) {
            Ok(i) => i,
            // A clear refusal up front (e.g. `pwsh --version`) is not a parser failure.
            Err(e @ invocation::InvocationError::Unsupported { .. }) => {
                refused.push(format!("{}: {e}", s.origin));
                continue;
            }
            Err(e) => {
                failures.push(format!("{}: invocation: {e}", s.origin));
                continue;
            }
        };
        match powershell::parser::parse(&inv.script) {
            Ok(script) => {
                parsed += 1;
                // PS_CORPUS_DUMP=file writes every script and its tree, for reading by eye.
                dump.push_str(&format!(
                    "{}\n{}\n=> {}\n\n",
                    s.origin,
                    inv.script,
                    parse_support::script(&script)
                ));
            }
            Err(e) => failures.push(format!(
                "{}: {e}\n    script: {}",
                s.origin,
                one_line(&inv.script, e.span.start as usize)
            )),
        }
    }
    if let Ok(path) = std::env::var("PS_CORPUS_DUMP") {
        std::fs::write(&path, &dump).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    eprintln!(
        "PowerShell RUN steps in {} Dockerfiles: {} parse of {} ({:.1}%), {} refused by the invocation",
        files.len(),
        parsed,
        steps.len(),
        100.0 * parsed as f64 / steps.len().max(1) as f64,
        refused.len()
    );
    for r in &refused {
        eprintln!("  refused: {r}");
    }
    for f in &failures {
        eprintln!("  {f}");
    }
    assert!(
        steps.len() > 100,
        "expected the corpus to have well over 100 PowerShell RUN steps, found {}",
        steps.len()
    );
    assert!(
        failures.is_empty(),
        "{} PowerShell RUN steps do not parse",
        failures.len()
    );
}

/// The script around byte `at`, on one line, for failure messages.
fn one_line(script: &str, at: usize) -> String {
    let boundary = |mut i: usize| {
        while !script.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = boundary(at.saturating_sub(60));
    let end = boundary((at + 60).min(script.len()));
    script[start..end].replace('\n', "⏎")
}

fn collect_dockerfiles(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_dockerfiles(&p, out);
        } else if p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.to_ascii_lowercase().contains("dockerfile"))
        {
            out.push(p);
        }
    }
}

/// The PowerShell RUN steps of one Dockerfile.
fn powershell_steps(origin: &str, text: &str) -> Vec<Step> {
    let escape = escape_char(text);
    let mut steps = Vec::new();
    let mut shell: Vec<String> = vec!["cmd".into(), "/S".into(), "/C".into()];
    for (line_no, instruction) in logical_lines(text, escape) {
        let trimmed = instruction.trim_start();
        let (keyword, rest) = trimmed
            .split_once(char::is_whitespace)
            .unwrap_or((trimmed, ""));
        let rest = rest.trim();
        match keyword.to_ascii_uppercase().as_str() {
            "FROM" => shell = vec!["cmd".into(), "/S".into(), "/C".into()],
            "SHELL" => {
                if let Some(words) = json_array(rest) {
                    shell = words;
                }
            }
            "RUN" => {
                let body = strip_run_flags(rest);
                let origin = format!("{origin}:{line_no}");
                if let Some(words) = body.strip_prefix('[').and_then(|_| json_array(body)) {
                    if words
                        .first()
                        .is_some_and(|w| invocation::is_powershell_program(w))
                    {
                        let line = words.join(" ");
                        steps.push(Step {
                            origin,
                            command_line: line,
                        });
                    }
                } else if shell
                    .first()
                    .is_some_and(|w| invocation::is_powershell_program(w))
                {
                    // Docker on Windows: the SHELL words and the RUN text, joined with spaces.
                    steps.push(Step {
                        origin,
                        command_line: format!("{} {}", shell.join(" "), body),
                    });
                } else if let Some(line) = powershell_in_cmd(body) {
                    steps.push(Step {
                        origin,
                        command_line: line,
                    });
                }
            }
            _ => {}
        }
    }
    steps
}

/// `RUN --mount=... --network=... text` → `text`.
fn strip_run_flags(mut s: &str) -> &str {
    while s.starts_with("--") {
        s = s
            .split_once(char::is_whitespace)
            .map_or("", |(_, r)| r)
            .trim_start();
    }
    s
}

/// A cmd step that starts PowerShell (`powershell -Command ...`, `@powershell ...`): the
/// command line cmd gives it, up to the first `&`/`|` outside double quotes.
fn powershell_in_cmd(body: &str) -> Option<String> {
    let body = body.trim_start_matches('@');
    let first = body.split_whitespace().next()?;
    if !invocation::is_powershell_program(first.trim_matches('"')) {
        return None;
    }
    let mut in_quotes = false;
    for (i, c) in body.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '&' | '|' if !in_quotes => return Some(body[..i].trim_end().to_string()),
            _ => {}
        }
    }
    Some(body.to_string())
}

/// The `# escape=` parser directive (backslash by default).
fn escape_char(text: &str) -> char {
    for line in text.lines() {
        let l = line.trim();
        let Some(d) = l.strip_prefix('#') else { break };
        if let Some((k, v)) = d.split_once('=') {
            if k.trim().eq_ignore_ascii_case("escape") {
                return v.trim().chars().next().unwrap_or('\\');
            }
        } else {
            break;
        }
    }
    '\\'
}

/// Instructions with their continuation lines joined (comment lines inside dropped), with the
/// line number where each starts.
fn logical_lines(text: &str, escape: char) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if current.is_none() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if current.is_some() && trimmed.starts_with('#') {
            continue;
        }
        let (start, mut acc) = current.take().unwrap_or((i + 1, String::new()));
        let t = line.trim_end();
        if let Some(stripped) = t.strip_suffix(escape) {
            acc.push_str(stripped);
            current = Some((start, acc));
        } else {
            acc.push_str(line);
            out.push((start, acc));
        }
    }
    if let Some(c) = current {
        out.push(c);
    }
    out
}

/// A JSON array of strings (`["powershell", "-Command", "..."]`); `None` when it is not one.
fn json_array(s: &str) -> Option<Vec<String>> {
    let s = s.trim();
    let inner = s.strip_prefix('[')?.strip_suffix(']')?;
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        match chars.next() {
            None => return Some(out),
            Some('"') => {}
            Some(_) => return None,
        }
        let mut word = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    'n' => word.push('\n'),
                    't' => word.push('\t'),
                    'u' => {
                        let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                        word.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    c => word.push(c),
                },
                c => word.push(c),
            }
        }
        out.push(word);
    }
}
