//! Ctrl-C as a request to stop, not a kill. Killing silo mid-step leaves the step's scratch
//! layer prepared and activated until the next build reclaims it; asked instead, the running
//! RUN step's compute system is terminated and the build tears down everything it set up, in
//! order, before it exits. A second Ctrl-C quits at once (the reclaim still covers that).
//!
//! [`Interrupt`] is the flag the runtime and its sandboxes poll; on Windows
//! [`install_console_handler`] makes Ctrl-C and Ctrl-Break set the process-wide one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// A stop request, shared by whoever may ask and whoever must stop.
#[derive(Clone, Default, Debug)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// The one the console handler sets.
    pub fn process() -> Interrupt {
        static PROCESS: OnceLock<Interrupt> = OnceLock::new();
        PROCESS.get_or_init(Interrupt::default).clone()
    }

    /// Asks; returns whether it had been asked before.
    pub fn request(&self) -> bool {
        self.0.swap(true, Ordering::SeqCst)
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// An error if a stop was asked for, naming what is being stopped.
    pub fn check(&self, doing: &str) -> anyhow::Result<()> {
        match self.requested() {
            true => Err(Interrupt::stopped(doing)),
            false => Ok(()),
        }
    }

    /// The error of a build stopped while `doing`.
    pub fn stopped(doing: &str) -> anyhow::Error {
        anyhow::anyhow!("interrupted (Ctrl-C) while {doing}; nothing was committed")
    }
}

/// Routes Ctrl-C and Ctrl-Break to [`Interrupt::process`]: the first one asks the build to
/// stop (with a line saying so), the next one falls through to the default handler, which
/// ends the process.
#[cfg(any(windows, feature = "check-windows"))]
#[allow(unsafe_code)]
pub fn install_console_handler() -> std::io::Result<()> {
    use windows_sys::core::BOOL;
    use windows_sys::Win32::System::Console::{
        SetConsoleCtrlHandler, CTRL_BREAK_EVENT, CTRL_C_EVENT,
    };

    unsafe extern "system" fn on_console_event(event: u32) -> BOOL {
        if event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT {
            return 0;
        }
        if Interrupt::process().request() {
            return 0; // the second time: let Windows end the process
        }
        eprintln!(
            "silo: interrupted — stopping the RUN step and cleaning up (Ctrl-C again to quit now)"
        );
        1
    }

    // SAFETY: registers a handler function that lives as long as the program.
    if unsafe { SetConsoleCtrlHandler(Some(on_console_event), 1) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_seen_by_every_clone_and_reports_repeats() {
        let interrupt = Interrupt::default();
        let seen = interrupt.clone();
        assert!(interrupt.check("importing").is_ok());
        assert!(!interrupt.request());
        assert!(interrupt.request(), "the second request knows it is one");
        let err = seen.check("importing layer 2").unwrap_err().to_string();
        assert!(
            err.contains("Ctrl-C") && err.contains("importing layer 2"),
            "{err}"
        );
        assert!(
            !Interrupt::default().requested(),
            "fresh flags are independent"
        );
    }
}
