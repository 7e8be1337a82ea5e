//! What the CLI does when the reader of its standard output goes away (`silo layers X | head -1`):
//! it ends the way docker, crane and every Unix filter end — killed by SIGPIPE, quietly (the shell
//! reports 141) — instead of Rust's panic with a backtrace.
//!
//! Rust starts programs with SIGPIPE ignored, so a write to a pipe without a reader fails with
//! `EPIPE`: `println!` panics, a `write!` returns an error. SIGPIPE is *not* simply restored to its
//! default for the whole process: a credential helper that exits without reading its standard
//! input would then kill silo instead of giving an error. Like Go's runtime (which docker and crane
//! are built on), only a failure on standard output ends the process: the panic hook and the
//! error path ask whether standard output's reader is gone, and if it is, silo dies of SIGPIPE.

// poll, signal and raise have no std API.
#![allow(unsafe_code)]

/// Installs the panic hook (`println!` on a closed pipe panics).
pub fn install() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if stdout_reader_gone() {
            die_of_sigpipe();
        }
        default(info)
    }));
}

/// Whether standard output is a pipe or socket whose reader has gone: `poll` reports `POLLERR`
/// on such a write end.
pub fn stdout_reader_gone() -> bool {
    #[cfg(unix)]
    {
        let mut fd = libc::pollfd {
            fd: 1,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no timeout.
        let ready = unsafe { libc::poll(&mut fd, 1, 0) };
        ready == 1 && fd.revents & libc::POLLERR != 0
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Ends the process with SIGPIPE's default action (or exit code 141 where there is none).
pub fn die_of_sigpipe() -> ! {
    #[cfg(unix)]
    // SAFETY: plain signal calls; the default action of SIGPIPE terminates the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    std::process::exit(141)
}
