//! The frontend end to end: `silo dockerfile dump` against BuildKit's golden files (byte for
//! byte, through the real binary), `silo dockerfile check` over every sample Dockerfile in
//! `dockerfiles/` and over broken ones (exit status, `file:line` messages), and the Windows
//! semantics the samples rely on, checked through the library's stage dispatcher.

use std::path::{Path, PathBuf};

use silo::dockerfile::parse;
use silo::dockerfile::stages::{
    parse_stages, BaseConfig, BuildOptions, CopySource, Dispatched, ImageConfig, StageDispatcher,
    Step,
};
use silo::dockerfile::winpath::PathMode;
use silo_tests::{project_root, shared_dir, silo};

fn samples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(project_root().join("dockerfiles"))
        .expect("dockerfiles/ exists")
        .map(|e| e.unwrap().path().join("Dockerfile"))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn dump_matches_buildkit_golden_files() {
    if silo_tests::corpus("buildkit-testfiles").is_none() {
        return;
    }
    let dir = shared_dir().join("buildkit-testfiles/testfiles");
    let mut cases = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let case = entry.unwrap().path();
        let out = silo()
            .args(["dockerfile", "dump"])
            .arg(case.join("Dockerfile"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            case.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let want = std::fs::read(case.join("result")).unwrap();
        assert!(
            out.stdout == want,
            "{}: dump differs:\n{}",
            case.display(),
            String::from_utf8_lossy(&out.stdout)
        );
        cases += 1;
    }
    assert_eq!(cases, 26);
}

#[test]
fn dump_reports_parse_errors_with_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Dockerfile");
    std::fs::write(&file, "FROM a\nRUN [\"a\", 1]\n").unwrap();
    let out = silo()
        .args(["dockerfile", "dump"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("Dockerfile:2: ERROR: when using JSON array syntax, arrays must be comprised of strings only"), "{err}");
}

#[test]
fn check_passes_every_sample_dockerfile() {
    let files = samples();
    assert!(
        files.len() >= 8,
        "expected the sample Dockerfiles, found {files:?}"
    );
    let out = silo()
        .args(["dockerfile", "check"])
        .args(&files)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in &files {
        assert!(
            text.contains(&format!("{}: OK (", f.display())),
            "{f:?} not OK:\n{text}"
        );
    }
    assert!(
        !text.contains("WARNING"),
        "samples should be lint-clean:\n{text}"
    );
}

#[test]
fn check_fails_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("Dockerfile");
    std::fs::write(
        &bad,
        "FROM silo.local/base:ltsc2022 as Build\nWORKDIR D:\\data\nCOPY --from=7 a b\n",
    )
    .unwrap();
    let good = project_root().join("dockerfiles/hello/Dockerfile");
    let out = silo()
        .args(["dockerfile", "check"])
        .arg(&good)
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let b = bad.display();
    assert!(
        text.contains(&format!("{b}:3: ERROR: invalid stage index 7")),
        "{text}"
    );
    assert!(text.contains(&format!("{b}: FAILED (1 error(s)")), "{text}");
    assert!(
        text.contains(&format!("{}: OK (", good.display())),
        "{text}"
    );

    // Once the stage index is fixed, the Windows drive rule and the lint warnings show up.
    std::fs::write(
        &bad,
        "FROM silo.local/base:ltsc2022 as Build\nWORKDIR D:\\data\n",
    )
    .unwrap();
    let out = silo()
        .args(["dockerfile", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "{b}:1: WARNING: FromAsCasing - 'as' and 'FROM' keywords' casing do not match"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{b}:1: WARNING: StageNameCasing - Stage name 'Build' should be lowercase"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("{b}:2: ERROR: normalizing workdir: normalizing working directory: removing drive letter: The specified path is not on the system drive (C:)")),
        "{text}"
    );
}

#[test]
fn check_options_reach_the_frontend() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Dockerfile");
    std::fs::write(&file, "ARG BASE\nFROM $BASE AS one\nFROM $BASE AS two\n").unwrap();
    let run = |extra: &[&str]| {
        let out = silo()
            .args(["dockerfile", "check"])
            .args(extra)
            .arg(&file)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    let (code, text) = run(&[]);
    assert_eq!(code, Some(1));
    assert!(
        text.contains("base name ($BASE) should not be blank"),
        "{text}"
    );
    let (code, text) = run(&[
        "--build-arg",
        "BASE=silo.local/base:ltsc2022",
        "--build-arg",
        "EXTRA=1",
        "--target",
        "one",
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("WARNING: One or more build-args [EXTRA] were not consumed"),
        "{text}"
    );
    let (code, text) = run(&["--build-arg", "BASE=x", "--target", "three"]);
    assert_eq!(code, Some(1));
    assert!(
        text.contains("target stage \"three\" could not be found"),
        "{text}"
    );
}

/// Dispatches every stage of a sample in order and returns each stage's config and steps.
fn dispatch_sample(name: &str, opts: &BuildOptions) -> Vec<(ImageConfig, Vec<Dispatched>)> {
    let path: &Path = &project_root()
        .join("dockerfiles")
        .join(name)
        .join("Dockerfile");
    let parsed = parse(&std::fs::read(path).unwrap()).unwrap();
    let plan = parse_stages(&parsed.ast, parsed.escape_token, opts).unwrap();
    let mut finals: Vec<BaseConfig> = Vec::new();
    let mut out: Vec<(ImageConfig, Vec<Dispatched>)> = Vec::new();
    for stage in &plan.stages {
        let base = match stage.base {
            silo::dockerfile::stages::Base::Stage(i) => finals[i].clone(),
            _ => BaseConfig::default(),
        };
        let mut d = StageDispatcher::new(&plan, stage, base);
        let steps = d.dispatch_all(&[]).unwrap();
        finals.push(d.finish());
        out.push((d.config.clone(), steps));
    }
    out
}

fn env<'a>(config: &'a ImageConfig, key: &str) -> Option<&'a str> {
    config
        .env
        .iter()
        .find_map(|e| e.strip_prefix(&format!("{key}=")))
}

#[test]
fn samples_have_windows_semantics() {
    let opts = BuildOptions::default();

    let stages = dispatch_sample("args-env", &opts);
    let (config, steps) = &stages[0];
    assert_eq!(
        env(config, "CONTOSO_HOME"),
        Some("C:\\Program Files\\Contoso\\1.0")
    );
    assert_eq!(
        env(config, "CONTOSO_BIN"),
        Some("C:\\Program Files\\Contoso\\1.0\\bin")
    );
    assert_eq!(env(config, "CONTOSO_PLATFORM"), Some("windows-amd64"));
    assert_eq!(config.working_dir, "\\Program Files\\Contoso\\1.0");
    assert!(
        !config.env.iter().any(|e| e.starts_with("PATH=")),
        "no Linux PATH in a Windows image"
    );
    let copy = steps
        .iter()
        .find_map(|s| match &s.step {
            Step::Copy(c) => Some(c),
            _ => None,
        })
        .unwrap();
    assert_eq!(copy.dest, "/Program Files/Contoso/1.0/bin/settings.json");

    let classic = BuildOptions {
        path_mode: PathMode::Classic,
        ..BuildOptions::default()
    };
    let (config, _) = &dispatch_sample("args-env", &classic)[0];
    assert_eq!(config.working_dir, "C:\\Program Files\\Contoso\\1.0");

    let (config, steps) = &dispatch_sample("powershell-shell", &opts)[0];
    let Step::Run(run) = &steps[2].step else {
        panic!("{:?}", steps[2])
    };
    assert_eq!(
        &run.args[..4],
        [
            "powershell",
            "-NoProfile",
            "-Command",
            "$ErrorActionPreference = 'Stop';"
        ]
    );
    assert_eq!(
        run.args.len(),
        5,
        "shell form is one command-line string: {:?}",
        run.args
    );
    assert!(run.args[4].starts_with("New-Item -ItemType Directory -Force -Path C:\\work\\out"));
    assert_eq!(
        config.entrypoint.as_ref().unwrap().last().unwrap(),
        "Get-Content C:\\work\\out\\hello.txt"
    );
    assert_eq!(config.healthcheck.as_ref().unwrap().test[0], "CMD-SHELL");

    let stages = dispatch_sample("multistage", &opts);
    let copies: Vec<_> = stages[1]
        .1
        .iter()
        .filter_map(|s| match &s.step {
            Step::Copy(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(copies[0].from, CopySource::Stage(0));
    assert_eq!(copies[0].sources, ["C:\\build\\src\\"]);
    assert_eq!(copies[0].dest, "/app/");
    assert_eq!(copies[1].from, CopySource::Stage(0));
    assert_eq!(stages[1].0.user, "ContainerAdministrator");

    let (config, _) = &dispatch_sample("windows-config", &opts)[0];
    assert_eq!(config.working_dir, "\\service");
    assert_eq!(config.user, "ContainerUser");
    assert!(config.exposed_ports.contains("8080/tcp"));
    assert!(config.volumes.contains("C:\\service\\logs"));
    assert_eq!(
        config.cmd.as_deref(),
        Some(&["echo".to_string(), "listening on %SERVICE_PORT%".into()][..])
    );
    assert!(config.args_escaped);

    let (_, steps) = &dispatch_sample("add-archive", &opts)[0];
    let Step::Copy(add) = &steps[0].step else {
        panic!()
    };
    assert!(add.is_add && add.unpack.is_none());
    assert_eq!(add.dest, "/tools/");
    let Step::Copy(add) = &steps[1].step else {
        panic!()
    };
    assert_eq!(add.unpack, Some(false));
}

/// Context files are checked only for the stages the target needs, as the build needs them.
#[test]
fn check_looks_for_context_files_of_the_target_stages_only() {
    let file = project_root().join("dockerfiles/copy-multistage/Dockerfile");
    let all = silo()
        .args(["dockerfile", "check"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        all.status.success(),
        "{}",
        String::from_utf8_lossy(&all.stdout)
    );
    let docs = silo()
        .args(["dockerfile", "check", "--target", "docs"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(docs.status.code(), Some(1));
    let text = String::from_utf8(docs.stdout).unwrap();
    assert!(
        text.contains(":13: ERROR: \"does-not-exist.md\" not found in build context"),
        "{text}"
    );
}
