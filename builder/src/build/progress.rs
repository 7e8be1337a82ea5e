//! Build progress: one line per step with BuildKit's numbering (`#3 [build 2/4] COPY …`), step
//! output prefixed with its step number, `CACHED`/`DONE 0.4s` endings and a closing summary.
//! `plain` writes lines (CI logs); `auto` adds a spinner per step on a terminal; `quiet` writes
//! nothing but errors (the CLI prints the image digest).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// `--progress`, the same choices for every verb (build, pull, push, copy, …), as docker's:
/// `auto` (bars or spinners on a terminal, plain lines or nothing otherwise), `tty` (bars or
/// spinners even when standard error is no terminal), `plain` (lines, for CI logs) and `quiet`
/// (nothing but errors; `none` is the same, as skopeo and earlier silo spelled it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    #[default]
    Auto,
    Tty,
    Plain,
    Quiet,
}

impl std::str::FromStr for ProgressMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(ProgressMode::Auto),
            "tty" => Ok(ProgressMode::Tty),
            "plain" => Ok(ProgressMode::Plain),
            "quiet" | "none" => Ok(ProgressMode::Quiet),
            "rawjson" => Err(
                "--progress rawjson (BuildKit's JSON status stream) is not supported; use plain"
                    .into(),
            ),
            _ => Err(format!(
                "--progress {s}: expected auto, tty, plain or quiet (none)"
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
}

/// A running step.
pub struct Step {
    pub number: usize,
    label: String,
    started: Instant,
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
        }
    }

    pub fn mode(&self) -> ProgressMode {
        self.mode
    }

    fn line(&self, text: &str) {
        if self.mode != ProgressMode::Quiet {
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
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "WARNING: {text}");
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
        Step {
            number,
            label,
            started: Instant::now(),
            spinner,
        }
    }

    /// A line of a step's own output (RUN's stdout/stderr), prefixed with the step number.
    pub fn output(&self, step: usize, text: &str) {
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
