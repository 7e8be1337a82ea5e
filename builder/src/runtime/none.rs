//! The `none` runtime: builds that need no process (COPY/ADD/metadata) work on any host; a RUN
//! step fails with a message naming the runtimes that could run it and how to get them.

use super::{Runtime, RuntimeError, Sandbox, SandboxSpec};

/// Why `--runtime none` (or `auto` on a host with no runtime) cannot run a step.
#[derive(Debug, thiserror::Error)]
#[error(
    "RUN needs a runtime that can run Windows processes, and this build uses `--runtime none`{why}. \
     Runtimes that can run it: `--runtime wine` (Linux; needs wine64 — `apt-get install wine64` — \
     and permission to create user/mount namespaces) or `--runtime hcs` (Windows Server or \
     Windows 11 hosts). COPY, ADD and metadata instructions build without a runtime."
)]
pub struct RunNotSupported {
    /// Extra words after "--runtime none", e.g. " (auto found no runtime: …)".
    why: String,
}

/// The runtime that runs nothing.
#[derive(Debug, Default, Clone)]
pub struct NoneRuntime {
    /// When `auto` fell back to `none`: why the other runtimes were not usable.
    fallback_reason: Option<String>,
}

impl NoneRuntime {
    pub fn new() -> Self {
        NoneRuntime::default()
    }

    /// The runtime `--runtime auto` falls back to; `reason` says why no real runtime was usable
    /// and becomes part of the RUN error.
    pub fn fallback(reason: impl Into<String>) -> Self {
        NoneRuntime {
            fallback_reason: Some(reason.into()),
        }
    }

    /// The error a RUN step gets.
    pub fn error(&self) -> RunNotSupported {
        RunNotSupported {
            why: match &self.fallback_reason {
                Some(reason) => format!(" (chosen by `--runtime auto`: {reason})"),
                None => String::new(),
            },
        }
    }
}

impl Runtime for NoneRuntime {
    fn name(&self) -> &'static str {
        "none"
    }

    fn prepare(&self, _spec: &SandboxSpec) -> Result<Box<dyn Sandbox>, RuntimeError> {
        Err(self.error().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_fails_naming_the_runtimes_that_could_run_the_step() {
        let err = NoneRuntime::new()
            .prepare(&SandboxSpec::default())
            .err()
            .expect("none never prepares a sandbox");
        let text = err.to_string();
        assert!(text.contains("--runtime wine"), "{text}");
        assert!(text.contains("--runtime hcs"), "{text}");
        assert!(text.contains("--runtime none"), "{text}");
        assert!(!text.contains("auto"), "{text}");
    }

    #[test]
    fn fallback_says_why_auto_chose_none() {
        let text = NoneRuntime::fallback("wine64 is not installed")
            .error()
            .to_string();
        assert!(text.contains("wine64 is not installed"), "{text}");
    }
}
