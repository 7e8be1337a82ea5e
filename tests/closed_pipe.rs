//! Every verb that prints ends quietly when the reader of its output goes away (`silo layers X |
//! head -1`): killed by SIGPIPE as docker, crane and Unix filters are, with no panic, backtrace or
//! error message (issue #17). Real silo binary, a base made by `silo base create`.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use silo_tests::{silo, silo_ok_in};

/// Runs `silo ARGS` with its standard output a pipe whose reader is already closed.
fn with_closed_stdout(root: &std::path::Path, args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = silo()
        .env("SILO_ROOT", root)
        .args(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn printing_verbs_end_quietly_on_a_closed_pipe() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    silo_tests::base_in(root, "pipe-base:1", "10.0.17763.1");
    silo_tests::base_in(root, "pipe-base:2", "10.0.20348.1");
    let verbs: &[&[&str]] = &[
        &["store", "refs"],
        &["layers", "pipe-base:1"],
        &["ls", "pipe-base:1"],
        &["registry", "pipe-base:1"],
        &["inspect", "pipe-base:1"],
        &["inspect", "--raw", "pipe-base:1"],
        &["diff", "pipe-base:1", "pipe-base:2"],
        &["layers", "--format", "json", "pipe-base:1"],
    ];
    for args in verbs {
        // The same verb with a reader prints something (else this test would prove nothing).
        let printed = silo_ok_in(root, args);
        assert!(!printed.stdout.is_empty(), "silo {args:?} prints nothing");
        let out = with_closed_stdout(root, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGPIPE),
            "silo {args:?} ends by SIGPIPE ({:?}); stderr: {stderr}",
            out.status
        );
        assert!(stderr.is_empty(), "silo {args:?} says nothing: {stderr}");
    }
}
