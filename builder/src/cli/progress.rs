//! Transfer progress on the terminal: indicatif bars, plain lines for CI logs, or nothing, driven
//! by the registry client's [`Progress`] events.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use oci_spec::image::Digest;
use registry_client::platform::short_digest;
use registry_client::{BlobOutcome, Progress};

use crate::build::progress::human_size;
pub use crate::build::progress::ProgressMode;

/// indicatif bars (or plain lines) driven by the engines.
pub struct CliProgress {
    mode: ProgressMode,
    multi: MultiProgress,
    bars: Mutex<HashMap<Digest, (ProgressBar, Instant, u64)>>,
}

impl CliProgress {
    pub fn new(mode: ProgressMode) -> Self {
        let tty = std::io::stderr().is_terminal();
        let mode = match mode {
            ProgressMode::Auto if tty => ProgressMode::Tty,
            ProgressMode::Auto => ProgressMode::Quiet,
            // (Transfers refuse rawjson; a build's transfers are quiet in that mode.)
            ProgressMode::RawJson => ProgressMode::Quiet,
            m => m,
        };
        let multi = MultiProgress::with_draw_target(if mode == ProgressMode::Tty {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        CliProgress {
            mode,
            multi,
            bars: Mutex::default(),
        }
    }

    /// Print a line to stderr without tearing the bars.
    pub fn println(&self, line: &str) {
        match self.mode {
            ProgressMode::Tty => {
                let _ = self.multi.println(line);
            }
            _ => eprintln!("{line}"),
        }
    }
}

impl Progress for CliProgress {
    fn blob_started(&self, digest: &Digest, size: u64, already: u64) {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        if bars.contains_key(digest) {
            return;
        }
        let bar = self.multi.add(ProgressBar::new(size));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(short_digest(digest.as_ref()).to_string());
        bar.set_position(already);
        if self.mode == ProgressMode::Plain {
            let resumed = if already > 0 {
                format!(" (resuming at {})", human_size(already))
            } else {
                String::new()
            };
            eprintln!(
                "{} start {}{resumed}",
                short_digest(digest.as_ref()),
                human_size(size)
            );
        }
        bars.insert(digest.clone(), (bar, Instant::now(), already));
    }

    fn blob_bytes(&self, digest: &Digest, bytes: u64) {
        if let Some((bar, _, _)) = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
        {
            bar.inc(bytes);
        }
    }

    fn blob_rewind(&self, digest: &Digest, to: u64) {
        if let Some((bar, _, _)) = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
        {
            bar.set_position(to);
        }
    }

    fn blob_finished(&self, digest: &Digest, outcome: BlobOutcome) {
        let entry = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(digest);
        let what = match outcome {
            BlobOutcome::Downloaded => "downloaded",
            BlobOutcome::Present => "already present",
            BlobOutcome::Mounted => "mounted",
            BlobOutcome::Uploaded => "uploaded",
            BlobOutcome::SkippedForeign => "skipped (foreign)",
        };
        let line = match &entry {
            Some((bar, t0, already)) => {
                let secs = t0.elapsed().as_secs_f64().max(1e-3);
                let moved = bar.position().saturating_sub(*already);
                bar.finish_and_clear();
                self.multi.remove(bar);
                format!(
                    "{} {what} {} in {secs:.1}s ({}/s)",
                    short_digest(digest.as_ref()),
                    human_size(bar.length().unwrap_or(0)),
                    human_size((moved as f64 / secs) as u64)
                )
            }
            None => format!("{} {what}", short_digest(digest.as_ref())),
        };
        match self.mode {
            ProgressMode::Plain => eprintln!("{line}"),
            ProgressMode::Tty => {
                let _ = self.multi.println(line);
            }
            _ => {}
        }
    }

    fn note(&self, message: &str) {
        match self.mode {
            ProgressMode::Quiet => tracing::info!("{message}"),
            _ => self.println(&format!("note: {message}")),
        }
    }
}
