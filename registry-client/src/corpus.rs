//! The test corpora kept beside the project in `../shared` (or `$SILO_SHARED`), for the tests
//! of every crate of the workspace (unit tests here and in `silo`, and the integration tests'
//! harness): a corpus that is there is used; an absent one makes the test say it is skipped and
//! why — a user's fresh clone has no `../shared` — and `scripts/test` counts it through
//! `$SILO_TEST_SKIPS`. Under `CI=true` an absent corpus fails the test: CI always has it.
//! (Public because the `silo` crate's unit tests and the harness use it; not an API.)

use std::path::PathBuf;

/// `../shared` beside the workspace, or `$SILO_SHARED`.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("SILO_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")))
}

/// The corpus `rel` below [`shared_dir`], or `None` after [`skip`] when it is absent.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let path = shared_dir().join(rel);
    if path.exists() {
        return Some(path);
    }
    skip(
        &format!("corpus {rel}"),
        &format!(
            "corpus absent: {} (../shared beside the project)",
            path.display()
        ),
    );
    None
}

/// Records that a test did not check what it is for (a missing part or corpus) and why: on
/// stderr, and as a line in the file `$SILO_TEST_SKIPS` names, which scripts/test counts in its
/// closing line (a passing test's stderr is hidden by the test runner). With `CI=true` a skip
/// is a failure: CI has every part.
pub fn skip(what: &str, reason: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{what} cannot run (CI=true): {reason}");
    }
    eprintln!("SKIPPED {what}: {reason}");
    if let Some(file) = std::env::var_os("SILO_TEST_SKIPS") {
        use std::io::Write;
        let line = format!("{what}: {reason}\n");
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .and_then(|mut f| f.write_all(line.as_bytes()));
    }
}
