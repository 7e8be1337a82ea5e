//! Tests of stage parsing, arg resolution, dispatch and lint warnings, against BuildKit's
//! behaviour and error texts.

use std::collections::BTreeSet;

use super::history::go_quote_rune;
use super::*;
use crate::dockerfile::parse;

fn plan_with(src: &str, opts: &BuildOptions) -> Result<BuildPlan, FrontendError> {
    let parsed = parse(src.as_bytes()).expect("parses");
    parse_stages(&parsed.ast, parsed.escape_token, opts)
}

fn plan(src: &str) -> BuildPlan {
    plan_with(src, &BuildOptions::default()).unwrap_or_else(|e| panic!("{e:?}"))
}

fn dispatch(plan: &BuildPlan, stage: usize) -> (ImageConfig, Vec<Dispatched>, Vec<LintWarning>) {
    let mut d = StageDispatcher::new(plan, &plan.stages[stage], BaseConfig::default());
    let out = d.dispatch_all(&[]).unwrap_or_else(|e| panic!("{e:?}"));
    (d.config.clone(), out, d.warnings.clone())
}

#[test]
fn automatic_platform_args_and_meta_args() {
    let mut opts = BuildOptions::default();
    opts.build_platform = Platform::new("linux", "amd64");
    opts.target_platform = Platform {
        os_version: "10.0.20348.2113".into(),
        ..Platform::windows_amd64()
    };
    opts.build_args.insert("TAG".into(), "ltsc2022".into());
    let p = plan_with(
            "ARG REPO=mcr.microsoft.com/windows\nARG TAG=ltsc2019\nARG IMAGE=$REPO/servercore:$TAG\nFROM $IMAGE AS base\nARG TARGETOS TARGETARCH TARGETPLATFORM BUILDPLATFORM TARGETOSVERSION\nRUN echo %TARGETOS%\n",
            &opts,
        )
        .unwrap();
    assert_eq!(
        p.stages[0].base,
        Base::Image("mcr.microsoft.com/windows/servercore:ltsc2022".into())
    );
    assert_eq!(p.global_args.get("TARGETPLATFORM"), Some("windows/amd64"));
    assert_eq!(p.global_args.get("TARGETSTAGE"), Some("base"));
    let (_, steps, _) = dispatch(&p, 0);
    let Step::Run(run) = &steps[1].step else {
        panic!()
    };
    for want in [
        "TARGETOS=windows",
        "TARGETARCH=amd64",
        "TARGETPLATFORM=windows/amd64",
        "BUILDPLATFORM=linux/amd64",
        "TARGETOSVERSION=10.0.20348.2113",
    ] {
        assert!(
            run.env.contains(&want.to_string()),
            "{want} in {:?}",
            run.env
        );
    }
    assert_eq!(run.args, ["cmd", "/S", "/C", "echo %TARGETOS%"]);
    assert_eq!(run.command_line, "cmd /S /C echo %TARGETOS%");
}

#[test]
fn arg_env_precedence_later_wins() {
    let mut opts = BuildOptions::default();
    opts.build_args.insert("V".into(), "from-build-arg".into());
    let p = plan_with(
            "FROM scratch\nENV V=from-env\nARG V\nRUN echo\nARG W=default\nENV W=env-w\nRUN echo\nARG X=$W-x\nENV Y=$X\n",
            &opts,
        )
        .unwrap();
    let (config, steps, _) = dispatch(&p, 0);
    let Step::Run(r1) = &steps[2].step else {
        panic!()
    };
    assert!(
        r1.env.contains(&"V=from-build-arg".to_string()),
        "{:?}",
        r1.env
    );
    let Step::Run(r2) = &steps[5].step else {
        panic!()
    };
    assert!(r2.env.contains(&"W=env-w".to_string()));
    // ARG values reach RUN but not the image config; ENV reaches both.
    assert!(config.env.contains(&"V=from-env".to_string()));
    assert!(config.env.contains(&"Y=env-w-x".to_string()));
    assert!(!config.env.iter().any(|e| e.starts_with("X=")));
}

#[test]
fn env_sees_values_from_before_the_instruction() {
    let p = plan("FROM scratch\nENV abc=hi\nENV abc=bye def=$abc\n");
    let (config, _, _) = dispatch(&p, 0);
    assert_eq!(config.env, ["abc=bye", "def=hi"]);
}

#[test]
fn arg_without_default_imports_global_value() {
    let p = plan("ARG VERSION=1.2\nFROM scratch\nRUN echo\nARG VERSION\nRUN echo\n");
    let (_, steps, _) = dispatch(&p, 0);
    let Step::Run(before) = &steps[0].step else {
        panic!()
    };
    assert!(!before.env.iter().any(|e| e.starts_with("VERSION=")));
    let Step::Run(after) = &steps[2].step else {
        panic!()
    };
    assert!(after.env.contains(&"VERSION=1.2".to_string()));
}

#[test]
fn windows_shell_cmd_entrypoint_and_args_escaped() {
    let p = plan("FROM scratch\nCMD echo hi\nENTRYPOINT [\"app.exe\"]\n");
    let (config, _, _) = dispatch(&p, 0);
    assert_eq!(
        config.cmd,
        Some(vec![
            "cmd".into(),
            "/S".into(),
            "/C".into(),
            "echo hi".into()
        ])
    );
    assert!(config.args_escaped);
    let p = plan("FROM scratch\nSHELL [\"powershell\", \"-Command\"]\nENTRYPOINT Write-Host hi\n");
    let (config, _, _) = dispatch(&p, 0);
    assert_eq!(
        config.entrypoint,
        Some(vec![
            "powershell".into(),
            "-Command".into(),
            "Write-Host hi".into()
        ])
    );
    assert_eq!(config.cmd, None);
    assert!(!config.args_escaped);
    let mut opts = BuildOptions::default();
    opts.target_platform = Platform::new("linux", "amd64");
    let p = plan_with("FROM scratch\nRUN echo hi\n", &opts).unwrap();
    let (config, steps, _) = dispatch(&p, 0);
    let Step::Run(r) = &steps[0].step else {
        panic!()
    };
    assert_eq!(r.args, ["/bin/sh", "-c", "echo hi"]);
    assert!(config.env[0].starts_with("PATH=/usr/local/sbin"));
}

#[test]
fn classic_mode_writes_the_classic_builders_history() {
    let src = "# escape=`\nFROM scratch\nARG V=1\nENV A=b\nWORKDIR C:\\app\nCOPY a.txt C:\nRUN echo %V%\nSHELL [\"cmd\", \"/C\"]\nRUN [\"cmd\", \"/C\", \"ver\"]\nUSER ContainerUser\n";
    let mut opts = BuildOptions::default();
    opts.path_mode = PathMode::Classic;
    let p = plan_with(src, &opts).unwrap();
    let (config, steps, _) = dispatch(&p, 0);
    assert_eq!(config.working_dir, "C:\\app");
    let history: Vec<&str> = steps.iter().map(|s| s.created_by.as_str()).collect();
    assert_eq!(
        history,
        [
            "cmd /S /C #(nop)  ARG V=1",
            "cmd /S /C #(nop)  ENV A=b",
            "cmd /S /C #(nop) WORKDIR C:\\app",
            "cmd /S /C #(nop) COPY a.txt C:",
            "|1 V=1 cmd /S /C echo %V%",
            "cmd /C #(nop)  SHELL [cmd /C]",
            "|1 V=1 cmd /C ver",
            "cmd /C #(nop)  USER ContainerUser",
        ]
    );
}

#[test]
fn windows_paths_in_both_modes() {
    let src = "# escape=`\nFROM scratch\nWORKDIR C:\\app\nWORKDIR src\nCOPY a.txt .\\sub\\\nCOPY b.txt C:\\out\\b.txt\n";
    let p = plan(src);
    let (config, steps, _) = dispatch(&p, 0);
    assert_eq!(config.working_dir, "\\app\\src");
    assert_eq!(steps[1].step, Step::MakeDir("\\app\\src".into()));
    let Step::Copy(c) = &steps[2].step else {
        panic!()
    };
    assert_eq!(c.dest, "/app/src/sub/");
    let Step::Copy(c) = &steps[3].step else {
        panic!()
    };
    assert_eq!(c.dest, "/out/b.txt");

    let mut opts = BuildOptions::default();
    opts.path_mode = PathMode::Classic;
    let p = plan_with(src, &opts).unwrap();
    let (config, steps, _) = dispatch(&p, 0);
    assert_eq!(config.working_dir, "C:\\app\\src");
    let Step::Copy(c) = &steps[2].step else {
        panic!()
    };
    assert_eq!(c.dest, "\\app\\src\\sub\\");

    let p = plan("FROM scratch\nWORKDIR D:/data\n");
    let mut d = StageDispatcher::new(&p, &p.stages[0], BaseConfig::default());
    let e = d.dispatch(&p.stages[0].commands[0]).unwrap_err();
    assert!(
        e.message
            .contains("The specified path is not on the system drive (C:)"),
        "{e:?}"
    );
    assert_eq!(e.location.unwrap().start_line, 2);
}

#[test]
fn copy_from_stage_index_image_and_errors() {
    let p = plan("FROM scratch AS build\nFROM scratch\nCOPY --from=build a b\nCOPY --from=0 a b\nCOPY --from=mcr.microsoft.com/windows/nanoserver:ltsc2022 a b\n");
    assert_eq!(p.stages[1].deps, BTreeSet::from([0]));
    let (_, steps, _) = dispatch(&p, 1);
    let froms: Vec<CopySource> = steps
        .iter()
        .map(|s| match &s.step {
            Step::Copy(c) => c.from.clone(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(
        froms,
        [
            CopySource::Stage(0),
            CopySource::Stage(0),
            CopySource::Image("mcr.microsoft.com/windows/nanoserver:ltsc2022".into())
        ]
    );
    assert_eq!(p.build_order(), [0, 1]);

    let e = plan_with(
        "FROM scratch\nCOPY --from=5 a b\n",
        &BuildOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        (e.message.as_str(), e.location.unwrap().start_line),
        ("invalid stage index 5", 2)
    );
    let e = plan_with(
        "FROM scratch AS a\nCOPY --from=b x y\nFROM scratch AS b\nCOPY --from=a x y\n",
        &BuildOptions::default(),
    )
    .unwrap_err();
    assert!(
        e.message
            .starts_with("circular dependency detected on stage"),
        "{e:?}"
    );
    let e = plan_with(
        "FROM scratch AS a\nCOPY --from=a x y\n",
        &BuildOptions::default(),
    )
    .unwrap_err();
    assert!(
        e.message
            .starts_with("circular dependency detected on stage: a"),
        "{e:?}"
    );
    // A later stage may be referenced when there is no cycle; stages the target does not
    // need are not built.
    let src = "FROM scratch AS a\nCOPY --from=b x y\nFROM scratch AS b\n";
    assert_eq!(plan(src).build_order(), [1]);
    let opts = BuildOptions {
        target: Some("a".into()),
        ..Default::default()
    };
    assert_eq!(plan_with(src, &opts).unwrap().build_order(), [1, 0]);
}

#[test]
fn from_stage_target_and_errors() {
    let p = plan("FROM mcr.microsoft.com/windows/servercore:ltsc2022 AS base\nFROM BASE AS app\nFROM scratch\n");
    assert_eq!(p.stages[1].base, Base::Stage(0));
    let mut opts = BuildOptions::default();
    opts.target = Some("App".into());
    let p = plan_with("FROM a AS base\nFROM base AS app\nFROM scratch\n", &opts).unwrap();
    assert_eq!(p.target, 1);
    assert_eq!(p.build_order(), [0, 1]);
    opts.target = Some("nope".into());
    assert_eq!(
        plan_with("FROM a\n", &opts).unwrap_err().message,
        "target stage \"nope\" could not be found"
    );
    let e = plan_with("ARG X\nFROM $X\n", &BuildOptions::default()).unwrap_err();
    assert_eq!(e.message, "base name ($X) should not be blank");
    let e = plan_with("RUN x\nFROM a\n", &BuildOptions::default()).unwrap_err();
    assert_eq!(e.message, "no build stage in current context");
    let e = plan_with(
        "FROM --platform=windows/sparc a\n",
        &BuildOptions::default(),
    )
    .unwrap_err();
    assert!(
        e.message
            .contains("unknown operating system or architecture"),
        "{e:?}"
    );
}

#[test]
fn onbuild_and_config_fields() {
    let p = plan("FROM scratch\nONBUILD COPY . C:/app\nLABEL a=b \"c d\"=e\nEXPOSE 80 8000-8001/udp\nVOLUME C:/data\nSTOPSIGNAL SIGTERM\nUSER ContainerAdministrator\nHEALTHCHECK CMD ping localhost\n");
    let (config, _, _) = dispatch(&p, 0);
    assert_eq!(config.on_build, ["COPY . C:/app"]);
    assert_eq!(config.labels.get("c d").map(String::as_str), Some("e"));
    assert_eq!(
        config.exposed_ports,
        BTreeSet::from(["80/tcp".to_string(), "8000/udp".into(), "8001/udp".into()])
    );
    assert!(config.volumes.contains("C:/data"));
    assert_eq!(config.stop_signal, "SIGTERM");
    assert_eq!(config.user, "ContainerAdministrator");
    assert_eq!(
        config.healthcheck.unwrap().test,
        ["CMD-SHELL", "ping localhost"]
    );
    let p = plan("FROM scratch\nSTOPSIGNAL SIGBOGUS\n");
    let mut d = StageDispatcher::new(&p, &p.stages[0], BaseConfig::default());
    assert_eq!(
        d.dispatch(&p.stages[0].commands[0]).unwrap_err().message,
        "Invalid signal: SIGBOGUS"
    );
    let p = plan("FROM scratch\nCOPY --chmod=8888 a b\n");
    let mut d = StageDispatcher::new(&p, &p.stages[0], BaseConfig::default());
    assert_eq!(
        d.dispatch(&p.stages[0].commands[0]).unwrap_err().message,
        "invalid chmod parameter: '8888'. it should be octal string and between 0 and 07777"
    );
}

#[test]
fn heredoc_copy_is_expanded_and_run_heredoc_runs_body() {
    let p = plan("FROM scratch\nENV NAME=silo\nCOPY <<EOF C:/hello.txt\nhi $NAME\nEOF\nRUN <<EOF\necho one\nEOF\n");
    let (_, steps, _) = dispatch(&p, 0);
    let Step::Copy(c) = &steps[1].step else {
        panic!()
    };
    assert_eq!(c.contents[0].data, "hi silo\n");
    let Step::Run(r) = &steps[2].step else {
        panic!()
    };
    assert_eq!(r.args, ["cmd", "/S", "/C", "echo one\n"]);
}

#[test]
fn lint_warnings() {
    let p = plan("FROM scratch as Build\nmaintainer me\nENV A b\nCMD a\nCMD b\nFROM --platform=linux/amd64 scratch\n");
    let rules: Vec<&str> = p.warnings.iter().map(|w| w.rule).collect();
    for want in [
        "FromAsCasing",
        "StageNameCasing",
        "MaintainerDeprecated",
        "LegacyKeyValueFormat",
        "JSONArgsRecommended",
        "ConsistentInstructionCasing",
        "FromPlatformFlagConstDisallowed",
    ] {
        assert!(rules.contains(&want), "{want} in {rules:?}");
    }
    let (_, _, w) = dispatch(&p, 0);
    assert!(w.iter().any(|w| w.rule == "MultipleInstructionsDisallowed"));
    let p = plan("FROM $NOPE_X:1\n");
    assert_eq!(p.warnings[0].rule, "UndefinedArgInFrom");
}

#[test]
fn unused_build_args() {
    let mut opts = BuildOptions::default();
    for k in ["USED", "UNUSED", "HTTP_PROXY", "TARGETOS"] {
        opts.build_args.insert(k.into(), "x".into());
    }
    let p = plan_with("FROM scratch\nARG USED\n", &opts).unwrap();
    assert_eq!(p.unused_build_args(), ["UNUSED"]);
}

#[test]
fn history_matches_buildkit() {
    let mut opts = BuildOptions::default();
    opts.build_args.insert("V".into(), "9".into());
    let src = "# escape=`\nFROM scratch AS base\nARG V\nENV A=1 B=x\nLABEL l=v\nWORKDIR C:\\app\nRUN echo %A%\nCOPY --chown=ContainerUser --chmod=644 a b C:\\out\\\nCMD echo hi\nEXPOSE 443 80\nVOLUME C:\\data D:\\logs\nSHELL [\"powershell\", \"-Command\"]\nHEALTHCHECK --interval=90s --retries=3 CMD ping\nONBUILD RUN x\nUSER ContainerUser\nFROM base\nRUN dir\n";
    let p = plan_with(src, &opts).unwrap();
    let mut d = StageDispatcher::new(&p, &p.stages[0], BaseConfig::default());
    let steps = d.dispatch_all(&[]).unwrap();
    let history: Vec<&str> = steps.iter().map(|s| s.created_by.as_str()).collect();
    assert_eq!(
        history,
        [
            "ARG V=9",
            "ENV A=1 B=x",
            "LABEL l=v",
            "WORKDIR /app",
            "RUN |1 V=9 cmd /S /C echo %A% # buildkit",
            "COPY --chown=ContainerUser --chmod=644 a b C:\\out\\ # buildkit",
            "CMD [\"cmd\" \"/S\" \"/C\" \"echo hi\"]",
            "EXPOSE map[443/tcp:{} 80/tcp:{}]",
            "VOLUME [C:\\data D:\\logs]",
            "SHELL [powershell -Command]",
            "HEALTHCHECK &{[\"CMD-SHELL\" \"ping\"] \"1m30s\" \"0s\" \"0s\" \"0s\" '\\x03'}",
            "",
            "USER ContainerUser",
        ]
    );
    let empty: Vec<bool> = steps.iter().map(|s| s.empty_layer).collect();
    assert_eq!(
        empty,
        [true, true, true, false, false, false, true, true, true, true, true, true, true]
    );
    // The child stage inherits the base stage's ARGs and build environment.
    let mut child = StageDispatcher::new(&p, &p.stages[1], d.finish());
    let steps = child.dispatch_all(&[]).unwrap();
    assert_eq!(
        steps[0].created_by,
        "RUN |1 V=9 powershell -Command dir # buildkit"
    );
    let Step::Run(run) = &steps[0].step else {
        panic!()
    };
    assert!(run.env.contains(&"V=9".to_string()));
    assert_eq!(run.working_dir, "\\app");
}

#[test]
fn go_duration_format() {
    use std::time::Duration;
    for (d, want) in [
        (Duration::ZERO, "0s"),
        (Duration::from_nanos(50), "50ns"),
        (Duration::from_micros(1500), "1.5ms"),
        (Duration::from_millis(1), "1ms"),
        (Duration::from_millis(1500), "1.5s"),
        (Duration::from_secs(5), "5s"),
        (Duration::from_secs(90), "1m30s"),
        (Duration::from_secs(3600), "1h0m0s"),
        (Duration::from_secs(3725), "1h2m5s"),
    ] {
        assert_eq!(go_duration(d), want);
    }
    assert_eq!(go_quote_rune('\u{0}'), "'\\x00'");
    assert_eq!(go_quote_rune('A'), "'A'");
    assert_eq!(go_quote_rune('\n'), "'\\n'");
}

#[test]
fn copy_sources_and_checksum_rules() {
    let err = |src: &str| {
        let p = plan(src);
        let mut d = StageDispatcher::new(&p, &p.stages[0], BaseConfig::default());
        d.dispatch(&p.stages[0].commands[0]).unwrap_err().message
    };
    assert_eq!(
        err("FROM scratch\nCOPY https://example.com/a.zip C:/\n"),
        "source can't be a URL for COPY"
    );
    assert_eq!(
        err("FROM scratch\nCOPY git@github.com:a/b.git C:/\n"),
        "source can't be a git ref for COPY"
    );
    assert_eq!(
        err("FROM scratch\nADD --checksum=sha256:0 a b C:/\n"),
        "checksum can't be specified for multiple sources"
    );
    assert_eq!(
        err("FROM scratch\nADD --checksum=sha256:0 a C:/\n"),
        "checksum can't be specified for non-HTTP(S) sources"
    );
    assert_eq!(err("FROM scratch\nWORKDIR D:\\x\n"), "normalizing workdir: normalizing working directory: removing drive letter: The specified path is not on the system drive (C:)");
}

#[test]
fn load_and_image_onbuild_triggers() {
    let (parsed, p) = load(
        b"# escape=`\nFROM mcr.microsoft.com/dotnet/sdk:8.0 AS build\n",
        &BuildOptions::default(),
    )
    .unwrap();
    assert_eq!(parsed.escape_token, '`');
    assert_eq!(p.stages[0].name, "build");
    let e = load(b"FROM a\nRUN [\"x\", 1]\n", &BuildOptions::default()).unwrap_err();
    assert_eq!(e.location.unwrap().start_line, 2);
    // Triggers stored in a base image's config run first, located at the child's FROM.
    let at = p.stages[0].from.location;
    let triggers = onbuild_commands(
        &["COPY . C:/src".into(), "RUN dotnet restore".into()],
        at,
        HostMode::Linux,
    )
    .unwrap();
    let mut d = StageDispatcher::new(&p, &p.stages[0], BaseConfig::default());
    let steps = d.dispatch_all(&triggers).unwrap();
    assert!(matches!(&steps[0].step, Step::Copy(c) if c.dest == "/src"));
    assert!(matches!(&steps[1].step, Step::Run(r) if r.command_line == "cmd /S /C dotnet restore"));
    assert_eq!(steps[1].command.location, at);
    let e = onbuild_commands(&["FROM x".into()], at, HostMode::Linux).unwrap_err();
    assert_eq!(e.message, "FROM isn't allowed as an ONBUILD trigger");
}

#[test]
fn copy_source_paths_lose_the_drive() {
    let p = plan("# escape=`\nFROM scratch AS b\nFROM scratch\nCOPY --from=b C:\\app\\bin\\ sub/../x.txt C:\\out\\\n");
    let mut d = StageDispatcher::new(&p, &p.stages[1], BaseConfig::default());
    let Step::Copy(c) = d.dispatch(&p.stages[1].commands[0]).unwrap().step else {
        panic!()
    };
    assert_eq!(c.source_paths, ["/app/bin", "/x.txt"]);
    let p = plan("FROM scratch AS b\nFROM scratch\nCOPY --from=b D:/x y\n");
    let mut d = StageDispatcher::new(&p, &p.stages[1], BaseConfig::default());
    let e = d.dispatch(&p.stages[1].commands[0]).unwrap_err();
    assert_eq!(
            e.message,
            // BuildKit wraps twice: in NormalizePath and in dispatchCopy.
            "removing drive letter: removing drive letter: The specified path is not on the system drive (C:)"
        );
}

#[test]
fn platform_parse() {
    assert_eq!(
        Platform::parse("windows/amd64").unwrap(),
        Platform::windows_amd64()
    );
    assert_eq!(Platform::parse("Windows/x86_64").unwrap().arch, "amd64");
    assert_eq!(
        Platform::parse("linux/arm64/v8").unwrap().to_string(),
        "linux/arm64/v8"
    );
    assert_eq!(
        Platform::parse("windows(10.0.17763)/amd64")
            .unwrap()
            .os_version,
        "10.0.17763"
    );
    assert!(Platform::parse("plan10/amd64").is_err());
    assert!(Platform::parse("").is_err());
}
