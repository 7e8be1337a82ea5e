//! `scripts/fetch-corpora`: every corpus file listed in scripts/corpora.tsv is fetched, checked
//! against its sha256 and put in place; a wrong file is named and never kept. The downloads come
//! from a local mirror laid out as raw.githubusercontent.com is (`file://`, built from the
//! shared corpora), since this machine has no internet; the real sources are the same URLs.

use std::path::Path;
use std::process::Command;

use silo_tests::{corpus, project_root};

const RAW: &str = "https://raw.githubusercontent.com/";

fn fetch(dest: &Path, mirror: &Path) -> std::process::Output {
    Command::new(project_root().join("scripts/fetch-corpora"))
        .arg(dest)
        .env("SILO_CORPORA_BASE", format!("file://{}", mirror.display()))
        .output()
        .unwrap()
}

#[test]
fn corpora_are_fetched_checked_and_a_wrong_file_is_refused() {
    let Some(shared) =
        corpus("windows-dockerfiles-public").and_then(|p| p.parent().map(Path::to_path_buf))
    else {
        return;
    };
    let list = std::fs::read_to_string(project_root().join("scripts/corpora.tsv")).unwrap();
    let rows: Vec<(&str, &str)> = list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let mut f = l.split('\t');
            (f.next().unwrap(), f.next().unwrap())
        })
        .collect();
    assert!(rows.len() > 200, "{} rows", rows.len());
    let t = tempfile::tempdir().unwrap();
    let mirror = t.path().join("mirror");
    for (path, url) in &rows {
        let rel = url.strip_prefix(RAW).unwrap_or_else(|| panic!("{url}"));
        let to = mirror.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(shared.join(path), &to).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    let dest = t.path().join("dest");
    let out = fetch(&dest, &mirror);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains(&format!(
            "{} fetched, 0 already there, 0 failed",
            rows.len()
        )),
        "{said}"
    );
    for (path, _) in &rows {
        assert_eq!(
            std::fs::read(dest.join(path)).unwrap(),
            std::fs::read(shared.join(path)).unwrap(),
            "{path}"
        );
    }
    let again = fetch(&dest, &mirror);
    assert!(String::from_utf8_lossy(&again.stdout)
        .contains(&format!("0 fetched, {} already there", rows.len())));

    // A mirror serving other bytes: named, exit 1, nothing kept, no partial file left.
    let (path, url) = rows[0];
    std::fs::write(
        mirror.join(url.strip_prefix(RAW).unwrap()),
        b"not the corpus",
    )
    .unwrap();
    std::fs::remove_file(dest.join(path)).unwrap();
    let out = fetch(&dest, &mirror);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(path) && err.contains("expected"), "{err}");
    assert!(!dest.join(path).exists(), "a wrong file is not kept");
    let partial = std::fs::read_dir(dest.join(path).parent().unwrap())
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains(".partial."));
    assert!(!partial, "no partial file is left");
}
