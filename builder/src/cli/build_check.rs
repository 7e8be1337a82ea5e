//! `silo build --check` / `--call=check`: the Dockerfile's build checks without building, printed
//! as buildx prints a `--check` run. The checks themselves are `silo dockerfile check`'s
//! ([`crate::dockerfile::check`]: parse, stage and argument resolution, BuildKit's lint rules
//! with the `# check=skip=…;error=true` directive, the build context's COPY sources); this
//! module owns only the `--call` flag and buildx's output shape.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;

use crate::dockerfile::check::{check_file, Diagnostic, Report, Severity};
use crate::dockerfile::stages::BuildOptions;

/// What `silo build` is asked to do (`--call`, buildx's name for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Build,
    Check,
}

/// The `--call` values silo does, for error messages and `--help`.
pub const CALL_VALUES: &str = "build, check";

impl Call {
    /// `--call VALUE` (with `--check` as buildx's shorthand for `--call=check`).
    pub fn parse(call: Option<&str>, check: bool) -> anyhow::Result<Call> {
        let asked = match call.map(str::trim) {
            None | Some("build") => Call::Build,
            Some("check") => Call::Check,
            // buildx's `check,error=true` style options and its other subrequests.
            Some(other) if other.starts_with("check,") => bail!(
                "--call {other}: options on check are not supported (use `# check=error=true` \
                 or `# check=skip=RULE` in the Dockerfile); accepted values: {CALL_VALUES}"
            ),
            Some(other) => bail!(
                "--call {other}: not supported (buildx's outline and targets are not done); \
                 accepted values: {CALL_VALUES}"
            ),
        };
        match (check, asked) {
            (true, Call::Build) if call.is_some() => {
                bail!("--check conflicts with --call=build (--check is --call=check)")
            }
            (true, _) => Ok(Call::Check),
            (false, asked) => Ok(asked),
        }
    }
}

/// Runs the checks on `dockerfile` with `context` and prints the result to standard output as
/// buildx does; exit status 1 when anything was found (buildx's `--check` exits non-zero on any
/// violation, warnings included), 0 when clean.
pub fn run(dockerfile: &Path, context: &Path, options: &BuildOptions) -> anyhow::Result<ExitCode> {
    let report = check_file(dockerfile, Some(context), options);
    let source = std::fs::read_to_string(dockerfile).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    print_report(
        &mut out,
        &report,
        &dockerfile.display().to_string(),
        &source,
    )?;
    Ok(if report.diagnostics.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// buildx's text: a count line, then per finding `WARNING: Rule - URL`, the message and the
/// Dockerfile lines around it. Errors (what would stop the build) are printed the same way with
/// `ERROR:`.
fn print_report(
    out: &mut dyn Write,
    report: &Report,
    file: &str,
    source: &str,
) -> std::io::Result<()> {
    let warnings = report.warnings();
    match warnings {
        0 if report.errors() == 0 => writeln!(out, "Check complete, no warnings found.")?,
        0 => {}
        1 => writeln!(out, "Check complete, 1 warning has been found!")?,
        n => writeln!(out, "Check complete, {n} warnings have been found!")?,
    }
    for d in &report.diagnostics {
        print_diagnostic(out, d, file, source)?;
    }
    Ok(())
}

fn print_diagnostic(
    out: &mut dyn Write,
    d: &Diagnostic,
    file: &str,
    source: &str,
) -> std::io::Result<()> {
    let level = match d.severity {
        Severity::Warning => "WARNING",
        Severity::Error => "ERROR",
    };
    match d.rule {
        Some(rule) => writeln!(out, "\n{level}: {rule} - {}", rule_url(rule))?,
        None => writeln!(out, "\n{level}:")?,
    }
    writeln!(out, "{}", d.message)?;
    if let Some(line) = d.line {
        print_source(out, file, source, line)?;
    }
    Ok(())
}

/// `FILE:LINE`, then the line and two on either side between rules, the line marked `>>>` (the
/// layout of BuildKit's source excerpts).
fn print_source(out: &mut dyn Write, file: &str, source: &str, line: usize) -> std::io::Result<()> {
    let lines: Vec<&str> = source.lines().collect();
    if line == 0 || line > lines.len() {
        return writeln!(out, "{file}:{line}");
    }
    writeln!(out, "{file}:{line}")?;
    writeln!(out, "--------------------")?;
    let first = line.saturating_sub(2).max(1);
    let last = (line + 2).min(lines.len());
    for n in first..=last {
        let mark = if n == line { ">>>" } else { "   " };
        writeln!(
            out,
            " {n:>3} | {mark} {}",
            lines[n - 1].trim_end_matches('\r')
        )?;
    }
    writeln!(out, "--------------------")
}

/// The documentation page BuildKit links for a rule: its name in kebab case under
/// `docs.docker.com/go/dockerfile/rule/` (`JSONArgsRecommended` → `json-args-recommended`).
pub fn rule_url(rule: &str) -> String {
    let chars: Vec<char> = rule.chars().collect();
    let mut kebab = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                kebab.push('-');
            }
        }
        kebab.push(c.to_ascii_lowercase());
    }
    format!("https://docs.docker.com/go/dockerfile/rule/{kebab}/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_urls_are_buildkits() {
        for (rule, page) in [
            ("JSONArgsRecommended", "json-args-recommended"),
            ("FromAsCasing", "from-as-casing"),
            ("NoEmptyContinuation", "no-empty-continuation"),
            ("UndefinedArgInFrom", "undefined-arg-in-from"),
            ("SecretsUsedInArgOrEnv", "secrets-used-in-arg-or-env"),
        ] {
            assert_eq!(
                rule_url(rule),
                format!("https://docs.docker.com/go/dockerfile/rule/{page}/")
            );
        }
    }

    #[test]
    fn call_values_are_buildxs() {
        assert_eq!(Call::parse(None, false).unwrap(), Call::Build);
        assert_eq!(Call::parse(None, true).unwrap(), Call::Check);
        assert_eq!(Call::parse(Some("check"), false).unwrap(), Call::Check);
        assert_eq!(Call::parse(Some("build"), false).unwrap(), Call::Build);
        let err = Call::parse(Some("outline"), false).unwrap_err().to_string();
        assert!(err.contains("accepted values: build, check"), "{err}");
        assert!(Call::parse(Some("build"), true).is_err());
    }

    #[test]
    fn a_warning_prints_with_rule_url_and_source() {
        let report = Report {
            diagnostics: vec![Diagnostic {
                severity: Severity::Warning,
                rule: Some("FromAsCasing"),
                message: "'as' and 'FROM' keywords' casing do not match".into(),
                line: Some(1),
            }],
            ..Default::default()
        };
        let mut out = Vec::new();
        print_report(&mut out, &report, "Dockerfile", "FROM a as b\nCMD x\n").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Check complete, 1 warning has been found!\n\nWARNING: FromAsCasing - \
             https://docs.docker.com/go/dockerfile/rule/from-as-casing/\n'as' and 'FROM' \
             keywords' casing do not match\nDockerfile:1\n--------------------\n   1 | >>> FROM a \
             as b\n   2 |     CMD x\n--------------------\n"
        );
    }
}
