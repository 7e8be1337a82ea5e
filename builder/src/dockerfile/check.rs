//! `silo dockerfile check`: everything the frontend can verify without running a build —
//! parse, resolve stages and args, dispatch every stage (expansion, Windows path rules, flag and
//! value checks), BuildKit's lint rules (honouring `# check=skip=…;error=true`), and the build
//! context (`.dockerignore` patterns, COPY/ADD sources that are missing or ignored).

use std::path::{Path, PathBuf};

use super::dockerignore::{load_for_build, PatternMatcher};
use super::stages::{
    is_remote_source, onbuild_commands, parse_stages, Base, BaseConfig, BuildOptions, CopySource,
    LintWarning, StageDispatcher, Step,
};
use super::{parse, ParseResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One finding, BuildKit-style: a lint rule name for warnings, the line when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub rule: Option<&'static str>,
    pub message: String,
    pub line: Option<usize>,
}

impl Diagnostic {
    fn error(message: impl Into<String>, line: Option<usize>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            rule: None,
            message: message.into(),
            line,
        }
    }
}

/// The result of checking one Dockerfile.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub diagnostics: Vec<Diagnostic>,
    pub stages: usize,
    pub instructions: usize,
    /// Every RUN step as it would run (for runtime checks such as `--runtime wine`).
    pub runs: Vec<RunInfo>,
}

/// A dispatched RUN step: where it is and the Windows command line it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub line: usize,
    pub command_line: String,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }
}

/// `# check=skip=A,B;error=true`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct CheckDirective {
    skip_all: bool,
    skip: Vec<String>,
    error: bool,
}

fn check_directive(parsed: &ParseResult) -> Result<CheckDirective, String> {
    let mut out = CheckDirective::default();
    let Some(d) = parsed.directives.iter().find(|d| d.name == "check") else {
        return Ok(out);
    };
    for part in d.value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("invalid check directive: {}", d.value))?;
        match key.trim().to_lowercase().as_str() {
            "skip" => {
                for rule in value.split(',').map(str::trim) {
                    if rule.eq_ignore_ascii_case("all") {
                        out.skip_all = true;
                    } else {
                        out.skip.push(rule.to_string());
                    }
                }
            }
            "error" => {
                out.error = match value.trim().to_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    other => return Err(format!("invalid check directive error value: {other}")),
                }
            }
            other => return Err(format!("invalid check directive key: {other}")),
        }
    }
    Ok(out)
}

/// Checks the Dockerfile at `path`. `context` is the build context (default: the Dockerfile's
/// directory); pass `None` to use the default.
pub fn check_file(path: &Path, context: Option<&Path>, opts: &BuildOptions) -> Report {
    match std::fs::read(path) {
        Ok(bytes) => {
            let context: PathBuf = context
                .map(Path::to_path_buf)
                .unwrap_or_else(|| path.parent().map(Path::to_path_buf).unwrap_or_default());
            check_bytes(&bytes, Some((path, &context)), opts)
        }
        Err(e) => Report {
            diagnostics: vec![Diagnostic::error(
                format!("cannot read {}: {e}", path.display()),
                None,
            )],
            ..Default::default()
        },
    }
}

/// Checks Dockerfile text; `files` gives the Dockerfile path and context for the context checks.
pub fn check_bytes(bytes: &[u8], files: Option<(&Path, &Path)>, opts: &BuildOptions) -> Report {
    let mut report = Report::default();
    let mut lint: Vec<LintWarning> = Vec::new();
    let parsed = match parse(bytes) {
        Ok(p) => p,
        Err(e) => {
            report
                .diagnostics
                .push(Diagnostic::error(e.message.clone(), Some(e.start_line)));
            return report;
        }
    };
    for w in &parsed.warnings {
        lint.push(LintWarning {
            rule: "NoEmptyContinuation",
            message: w.short.clone(),
            line: w.line,
        });
    }
    let directive = match check_directive(&parsed) {
        Ok(d) => d,
        Err(e) => {
            report.diagnostics.push(Diagnostic::error(e, Some(1)));
            CheckDirective::default()
        }
    };
    report.instructions = parsed.ast.children.len();
    match parse_stages(&parsed.ast, parsed.escape_token, opts) {
        Err(e) => report.diagnostics.push(Diagnostic::error(
            e.message,
            e.location.map(|l| l.start_line),
        )),
        Ok(plan) => {
            report.stages = plan.stages.len();
            lint.extend(plan.warnings.iter().cloned());
            let unused = plan.unused_build_args();
            if !unused.is_empty() {
                report.diagnostics.push(Diagnostic {
                    severity: Severity::Warning,
                    rule: None,
                    message: format!(
                        "One or more build-args [{}] were not consumed",
                        unused.join(" ")
                    ),
                    line: None,
                });
            }
            let ignore = match files {
                Some((dockerfile, context)) => match load_for_build(dockerfile, context) {
                    Ok(m) => Some((context.to_path_buf(), m)),
                    Err(e) => {
                        report
                            .diagnostics
                            .push(Diagnostic::error(format!(".dockerignore: {e}"), None));
                        None
                    }
                },
                None => None,
            };
            // Dispatch every stage in file order, so a `FROM <stage>` sees its base's config.
            let mut finals: Vec<BaseConfig> = Vec::new();
            // Context sources matter only for the stages the target needs: the build never
            // builds the others (BuildKit's behaviour), so a missing file there is no error.
            let needed: std::collections::BTreeSet<usize> =
                plan.build_order().into_iter().collect();
            for (index, stage) in plan.stages.iter().enumerate() {
                let base = match &stage.base {
                    Base::Stage(i) => finals[*i].clone(),
                    Base::Image(_) => BaseConfig::default(),
                };
                let triggers =
                    match onbuild_commands(&base.config.on_build, stage.from.location, opts.host) {
                        Ok(t) => t,
                        Err(e) => {
                            report.diagnostics.push(Diagnostic::error(
                                e.message,
                                Some(stage.from.location.start_line),
                            ));
                            Vec::new()
                        }
                    };
                let mut d = StageDispatcher::new(&plan, stage, base);
                for cmd in triggers.iter().chain(stage.commands.iter()) {
                    match d.dispatch(cmd) {
                        Ok(done) => {
                            if let Step::Run(run) = &done.step {
                                report.runs.push(RunInfo {
                                    line: cmd.location.start_line,
                                    command_line: run.command_line.clone(),
                                });
                            }
                            if let (Step::Copy(c), Some((context, matcher))) = (&done.step, &ignore)
                            {
                                if c.from == CopySource::Context && needed.contains(&index) {
                                    check_sources(
                                        &c.sources,
                                        context,
                                        matcher,
                                        cmd.location.start_line,
                                        &mut report,
                                        &mut lint,
                                    );
                                }
                            }
                        }
                        Err(e) => {
                            report.diagnostics.push(Diagnostic::error(
                                e.message,
                                e.location.map(|l| l.start_line),
                            ));
                            break;
                        }
                    }
                }
                lint.extend(d.warnings.iter().cloned());
                finals.push(d.finish());
            }
        }
    }
    for w in lint {
        if directive.skip_all || directive.skip.iter().any(|s| s == w.rule) {
            continue;
        }
        report.diagnostics.push(Diagnostic {
            severity: if directive.error {
                Severity::Error
            } else {
                Severity::Warning
            },
            rule: Some(w.rule),
            message: w.message,
            line: Some(w.line),
        });
    }
    report
        .diagnostics
        .sort_by_key(|d| (d.line.unwrap_or(0), d.severity));
    report
}

/// Literal COPY/ADD sources must exist in the context and not be excluded by `.dockerignore`.
fn check_sources(
    sources: &[String],
    context: &Path,
    matcher: &PatternMatcher,
    line: usize,
    report: &mut Report,
    lint: &mut Vec<LintWarning>,
) {
    for src in sources {
        if is_remote_source(src) || src.contains(['*', '?', '[']) {
            continue;
        }
        let rel = super::winpath::clean_slash(&format!("/{}", src.replace('\\', "/")));
        let rel = rel.trim_start_matches('/');
        if rel.is_empty() {
            continue;
        }
        if matcher.matches_or_parent_matches(rel).unwrap_or(false) {
            lint.push(LintWarning {
                rule: "CopyIgnoredFile",
                message: format!(
                    "Attempting to Copy file {} that is excluded by .dockerignore",
                    super::goquote::quote(src)
                ),
                line,
            });
        }
        if !context.join(rel).exists() {
            report.diagnostics.push(Diagnostic::error(
                format!(
                    "{} not found in build context {}",
                    super::goquote::quote(src),
                    context.display()
                ),
                Some(line),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(src: &str) -> Report {
        check_bytes(src.as_bytes(), None, &BuildOptions::default())
    }

    #[test]
    fn clean_file_has_no_findings() {
        let r = check("# escape=`\nFROM mcr.microsoft.com/windows/nanoserver:ltsc2022\nWORKDIR C:\\app\nCMD [\"cmd\", \"/c\", \"dir\"]\n");
        assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
        assert_eq!((r.stages, r.instructions), (1, 3));
    }

    #[test]
    fn errors_carry_lines() {
        let r = check("FROM scratch\n\nWORKDIR E:\\data\n");
        assert_eq!(r.errors(), 1);
        assert_eq!(r.diagnostics[0].line, Some(3));
        let r = check("FROM scratch\nCOPY --chown a b\n");
        assert_eq!(r.diagnostics[0].message, "missing a value on flag: --chown");
        assert_eq!(r.diagnostics[0].line, Some(2));
        let r = check("");
        assert_eq!(r.diagnostics[0].message, "file with no instructions");
    }

    #[test]
    fn check_directive_skips_and_escalates() {
        let src = "FROM scratch as base\nMAINTAINER me\n";
        assert_eq!(check(src).warnings(), 2);
        let r = check(&format!("# check=skip=FromAsCasing\n{src}"));
        assert_eq!((r.warnings(), r.errors()), (1, 0));
        let r = check(&format!("# check=error=true\n{src}"));
        assert_eq!((r.warnings(), r.errors()), (0, 2));
        let r = check(&format!("# check=skip=all\n{src}"));
        assert!(r.diagnostics.is_empty());
    }

    #[test]
    fn onbuild_triggers_run_in_child_stage() {
        let r = check("FROM scratch AS base\nONBUILD WORKDIR D:\\x\nFROM base\n");
        assert_eq!(r.errors(), 1, "{:?}", r.diagnostics);
        assert_eq!(r.diagnostics[0].line, Some(3));
    }

    #[test]
    fn context_sources_and_dockerignore() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.txt"), "x").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "x").unwrap();
        std::fs::write(dir.path().join(".dockerignore"), "secret.txt\n").unwrap();
        let df = dir.path().join("Dockerfile");
        std::fs::write(
            &df,
            "FROM scratch\nCOPY app.txt secret.txt missing.txt C:/app/\n",
        )
        .unwrap();
        let r = check_file(&df, None, &BuildOptions::default());
        let rules: Vec<_> = r
            .diagnostics
            .iter()
            .map(|d| (d.severity, d.rule, d.line))
            .collect();
        assert!(
            rules.contains(&(Severity::Warning, Some("CopyIgnoredFile"), Some(2))),
            "{:?}",
            r.diagnostics
        );
        assert_eq!(r.errors(), 1, "{:?}", r.diagnostics);
        assert!(r.diagnostics.iter().any(|d| d
            .message
            .starts_with("\"missing.txt\" not found in build context")));
    }

    proptest::proptest! {
        /// Whatever the text, checking gives findings, never a panic.
        #[test]
        fn never_panics(lines in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::string::string_regex("(FROM|RUN|COPY|ADD|ENV|ARG|WORKDIR|USER|CMD|ENTRYPOINT|SHELL|ONBUILD|EXPOSE|VOLUME|LABEL|HEALTHCHECK|STOPSIGNAL) [ -~éü\\\\`$]{0,30}").unwrap(),
                proptest::string::string_regex("# (escape|check)=[ -~]{0,8}").unwrap(),
                proptest::string::string_regex("\\PC{0,20}").unwrap(),
            ],
            0..8,
        )) {
            let text = lines.join("\n");
            let _ = check_bytes(text.as_bytes(), None, &BuildOptions::default());
        }
    }
}
