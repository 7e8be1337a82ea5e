//! Build progress: one line per step with BuildKit's numbering (`#3 [build 2/4] COPY …`), step
//! output prefixed with its step number, `CACHED`/`DONE 0.4s` endings and a closing summary.
//! `plain` writes lines (CI logs); `auto` adds a spinner per step on a terminal; `quiet` writes
//! nothing but errors (the CLI prints the image digest); `rawjson` (build only) writes BuildKit's
//! status stream: one JSON `SolveStatus` per line (`vertexes`, `logs`, `warnings`) on stderr.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use indicatif::{ProgressBar, ProgressStyle};

use crate::oci;

/// `--progress`, the same choices for every verb (build, pull, push, copy, …), as docker's:
/// `auto` (bars or spinners on a terminal, plain lines or nothing otherwise), `tty` (bars or
/// spinners even when standard error is no terminal), `plain` (lines, for CI logs) and `quiet`
/// (nothing but errors; `none` is the same, as skopeo and earlier silo spelled it). `rawjson`
/// is buildx's machine-readable stream, for `build` only ([`ProgressMode::for_transfers`]
/// refuses it elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    #[default]
    Auto,
    Tty,
    Plain,
    Quiet,
    RawJson,
}

impl ProgressMode {
    /// `--progress` of pull/push/copy/inspect: every mode but `rawjson` (BuildKit's stream
    /// describes build steps; docker, skopeo and crane have none for transfers).
    pub fn for_transfers(s: &str) -> Result<ProgressMode, String> {
        match s.parse()? {
            ProgressMode::RawJson => Err(
                "--progress rawjson is build's (BuildKit's status stream); transfers take auto, \
                 tty, plain or quiet (none)"
                    .into(),
            ),
            mode => Ok(mode),
        }
    }
}

impl std::str::FromStr for ProgressMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(ProgressMode::Auto),
            "tty" => Ok(ProgressMode::Tty),
            "plain" => Ok(ProgressMode::Plain),
            "quiet" | "none" => Ok(ProgressMode::Quiet),
            "rawjson" => Ok(ProgressMode::RawJson),
            _ => Err(format!(
                "--progress {s}: expected auto, tty, plain, quiet (none) or rawjson (build)"
            )),
        }
    }
}

/// How one step ended, for the summary.
#[derive(Debug, Clone)]
pub struct StepSummary {
    pub label: String,
    pub cached: bool,
    pub elapsed: Duration,
    /// Compressed size of the layer it made, if any.
    pub layer_size: Option<u64>,
}

/// The progress writer of one build.
pub struct Progress {
    mode: ProgressMode,
    tty: bool,
    next_step: usize,
    started: Instant,
    pub steps: Vec<StepSummary>,
    /// The rawjson vertex digest of each step begun, by step number - 1.
    vertexes: Vec<String>,
}

/// A running step.
pub struct Step {
    pub number: usize,
    /// The rawjson vertex digest.
    digest: String,
    label: String,
    started: Instant,
    started_at: SystemTime,
    spinner: Option<ProgressBar>,
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Self {
        Progress {
            mode,
            tty: std::io::stderr().is_terminal(),
            next_step: 1,
            started: Instant::now(),
            steps: Vec::new(),
            vertexes: Vec::new(),
        }
    }

    pub fn mode(&self) -> ProgressMode {
        self.mode
    }

    /// A human-readable line (nothing in quiet and rawjson modes).
    fn line(&self, text: &str) {
        if !matches!(self.mode, ProgressMode::Quiet | ProgressMode::RawJson) {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{text}");
        }
    }

    /// A note outside any step (warnings, resolved bases).
    pub fn note(&self, text: &str) {
        self.line(text);
    }

    /// A warning; shown even in quiet mode, as BuildKit does.
    pub fn warn(&self, text: &str) {
        if self.mode == ProgressMode::RawJson {
            let warning = serde_json::json!({ "level": 1, "short": BASE64.encode(text) });
            return raw_status(serde_json::json!({ "warnings": [warning] }));
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "WARNING: {text}");
    }

    /// One vertex update of the rawjson stream.
    fn raw_vertex(&self, step: &Step, end: Option<(bool, Option<&str>)>) {
        let mut vertex = serde_json::json!({
            "digest": step.digest,
            "name": step.label,
            "started": rfc3339_nanos(step.started_at),
        });
        if let Some((cached, error)) = end {
            vertex["completed"] = rfc3339_nanos(SystemTime::now()).into();
            if cached {
                vertex["cached"] = true.into();
            }
            if let Some(error) = error {
                vertex["error"] = error.into();
            }
        }
        raw_status(serde_json::json!({ "vertexes": [vertex] }));
    }

    pub fn begin(&mut self, label: String) -> Step {
        let number = self.next_step;
        self.next_step += 1;
        self.line(&format!("#{number} {label}"));
        let spinner = (self.mode == ProgressMode::Tty
            || self.mode == ProgressMode::Auto && self.tty)
            .then(|| {
                let bar = ProgressBar::new_spinner();
                bar.set_style(
                    ProgressStyle::with_template("{spinner} #{prefix} {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(number.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            });
        // BuildKit names a vertex by its LLB digest; a step's is its number and label here.
        let digest = oci::digest_of_bytes(format!("silo step {number} {label}").as_bytes());
        self.vertexes.push(digest.to_string());
        let step = Step {
            number,
            digest: digest.to_string(),
            label,
            started: Instant::now(),
            started_at: SystemTime::now(),
            spinner,
        };
        if self.mode == ProgressMode::RawJson {
            self.raw_vertex(&step, None);
        }
        step
    }

    /// A line of a step's own output (RUN's stdout/stderr), prefixed with the step number.
    pub fn output(&self, step: usize, text: &str) {
        if self.mode == ProgressMode::RawJson {
            // Steps are numbered from 1 in begin order.
            let vertex = self.vertexes.get(step.wrapping_sub(1)).cloned();
            let log = serde_json::json!({
                "vertex": vertex,
                "stream": 1,
                "data": BASE64.encode(format!("{text}\n")),
                "timestamp": rfc3339_nanos(SystemTime::now()),
            });
            return raw_status(serde_json::json!({ "logs": [log] }));
        }
        if self.mode == ProgressMode::Quiet {
            return;
        }
        for line in text.lines() {
            self.line(&format!("#{step} {line}"));
        }
    }

    pub fn finish(&mut self, step: Step, cached: bool, layer_size: Option<u64>) {
        if let Some(spinner) = &step.spinner {
            spinner.finish_and_clear();
        }
        if self.mode == ProgressMode::RawJson {
            self.raw_vertex(&step, Some((cached, None)));
        }
        let elapsed = step.started.elapsed();
        if cached {
            self.line(&format!("#{} CACHED", step.number));
        } else {
            self.line(&format!(
                "#{} DONE {:.1}s",
                step.number,
                elapsed.as_secs_f64()
            ));
        }
        self.steps.push(StepSummary {
            label: step.label,
            cached,
            elapsed,
            layer_size,
        });
    }

    pub fn fail(&mut self, step: Step, reason: &str) {
        if let Some(spinner) = &step.spinner {
            spinner.finish_and_clear();
        }
        if self.mode == ProgressMode::RawJson {
            self.raw_vertex(&step, Some((false, Some(reason))));
        }
        self.line(&format!("#{} ERROR: {reason}", step.number));
    }

    /// The closing summary: time and layer size per step, then the total.
    pub fn summary(&self) {
        if self.mode == ProgressMode::Quiet || self.steps.is_empty() {
            return;
        }
        self.line("");
        self.line("step                                                       time     layer");
        for s in &self.steps {
            let mut label = s.label.clone();
            if label.chars().count() > 56 {
                label = label.chars().take(55).collect::<String>() + "…";
            }
            let time = if s.cached {
                "cached".to_string()
            } else {
                format!("{:.2}s", s.elapsed.as_secs_f64())
            };
            let size = s.layer_size.map(human_size).unwrap_or_default();
            self.line(&format!("{label:<56} {time:>8} {size:>9}"));
        }
        self.line(&format!(
            "total {:.2}s",
            self.started.elapsed().as_secs_f64()
        ));
    }
}

/// Writes one `SolveStatus` line of the rawjson stream to stderr.
fn raw_status(status: serde_json::Value) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{status}");
}

/// RFC 3339 with nanoseconds, as Go's `time.Time` marshals: `2026-12-08T06:10:00.123456789Z`.
fn rfc3339_nanos(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = oci::time::rfc3339(since.as_secs() as i64);
    format!(
        "{}.{:09}Z",
        seconds.trim_end_matches('Z'),
        since.subsec_nanos()
    )
}

/// `1.5 MiB`-style sizes.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rawjson_times_are_gos_rfc3339_with_nanoseconds() {
        let at = UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        assert_eq!(rfc3339_nanos(at), "2023-11-14T22:13:20.000000005Z");
    }

    #[test]
    fn rawjson_is_builds_only() {
        assert_eq!("rawjson".parse(), Ok(ProgressMode::RawJson));
        assert!(ProgressMode::for_transfers("rawjson").is_err());
        assert_eq!(ProgressMode::for_transfers("none"), Ok(ProgressMode::Quiet));
    }
}
