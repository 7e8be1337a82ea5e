//! The Dockerfile parser against BuildKit's own golden files (`../shared/buildkit-testfiles`,
//! copied byte for byte from moby/buildkit): every positive case must dump exactly to `result`,
//! every negative case must fail, and the line-number fixture must give BuildKit's ranges.

use std::fs;
use std::path::PathBuf;

use silo::dockerfile::parse;

/// Whether the corpus is beside the project; when it is not, the test is skipped and counted
/// (and fails under `CI=true`), see `silo_tests::corpus`.
fn corpus_present() -> bool {
    silo_tests::corpus("buildkit-testfiles").is_some()
}

fn testfiles() -> PathBuf {
    let dir = silo_tests::shared_dir().join("buildkit-testfiles");
    assert!(
        dir.is_dir(),
        "BuildKit parser fixtures missing at {} (the shared corpus beside the project)",
        dir.display()
    );
    dir
}

fn cases(kind: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(testfiles().join(kind))
        .expect("fixture directory readable")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_positive_case_dumps_like_buildkit() {
    if !corpus_present() {
        return;
    }
    let dirs = cases("testfiles");
    assert!(
        dirs.len() >= 26,
        "expected the 26 positive cases, found {}",
        dirs.len()
    );
    let mut failures = Vec::new();
    for dir in &dirs {
        let input = fs::read(dir.join("Dockerfile")).expect("Dockerfile readable");
        let expected = fs::read_to_string(dir.join("result")).expect("result readable");
        match parse(&input) {
            Ok(result) => {
                let actual = result.ast.dump() + "\n";
                if actual != expected {
                    failures.push(format!(
                        "{}:\n--- expected\n{expected}--- actual\n{actual}",
                        dir.display()
                    ));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", dir.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_negative_case_fails() {
    if !corpus_present() {
        return;
    }
    let dirs = cases("testfiles-negative");
    assert!(
        dirs.len() >= 4,
        "expected the 4 negative cases, found {}",
        dirs.len()
    );
    for dir in &dirs {
        let input = fs::read(dir.join("Dockerfile")).expect("Dockerfile readable");
        let outcome = parse(&input);
        assert!(
            outcome.is_err(),
            "{} parsed but must fail: {:?}",
            dir.display(),
            outcome.map(|r| r.ast.dump())
        );
    }
}

#[test]
fn negative_cases_fail_for_buildkits_reasons() {
    if !corpus_present() {
        return;
    }
    let dir = testfiles().join("testfiles-negative");
    let message = |case: &str| {
        parse(&fs::read(dir.join(case).join("Dockerfile")).unwrap())
            .unwrap_err()
            .message
    };
    assert_eq!(message("empty_dockerfile"), "file with no instructions");
    assert_eq!(message("only_comments"), "file with no instructions");
    assert_eq!(message("env_no_value"), "ENV must have two arguments");
    assert_eq!(
        message("shykes-nested-json"),
        "when using JSON array syntax, arrays must be comprised of strings only"
    );
}

#[test]
fn line_numbers_match_buildkit() {
    if !corpus_present() {
        return;
    }
    // BuildKit's TestParseIncludesLineNumbers: root 5..31, children [5,5] [11,12] [17,31].
    let input = fs::read(testfiles().join("testfile-line/Dockerfile")).unwrap();
    let ast = parse(&input).expect("line fixture parses").ast;
    assert_eq!((ast.start_line, ast.end_line), (5, 31));
    let ranges: Vec<(usize, usize)> = ast
        .children
        .iter()
        .map(|c| (c.start_line, c.end_line))
        .collect();
    assert_eq!(ranges, [(5, 5), (11, 12), (17, 31)]);
}

#[test]
fn crlf_files_dump_like_lf_files() {
    if !corpus_present() {
        return;
    }
    for dir in cases("testfiles") {
        let input = fs::read(dir.join("Dockerfile")).unwrap();
        let crlf: Vec<u8> = String::from_utf8(input.clone())
            .unwrap()
            .replace('\n', "\r\n")
            .into_bytes();
        let lf = parse(&input).unwrap().ast.dump();
        let with_cr = parse(&crlf).unwrap().ast.dump();
        assert_eq!(lf, with_cr, "{}", dir.display());
    }
}
