//! Tests of instruction parsing (argument rules, flags, mounts, HEALTHCHECK) and expansion,
//! with BuildKit's error texts.

use super::healthcheck::parse_opt_interval;
use super::parse::{at_least_one, blank_names, exactly_one, no_destination};
use super::*;
use crate::dockerfile::ast::Node;
use crate::dockerfile::parse;
use crate::dockerfile::shell::{Env, HostMode, Lexer};

fn first(src: &str) -> Result<Parsed, InstructionError> {
    let ast = parse(src.as_bytes()).expect("parses").ast;
    parse_instruction(&ast.children[0], HostMode::Linux)
}

fn command(src: &str) -> Instruction {
    match first(src).unwrap_or_else(|e| panic!("{src}: {e}")) {
        Parsed::Command(c) => c.instruction,
        Parsed::From(f) => panic!("{src}: FROM {f:?}"),
    }
}

fn error(src: &str) -> String {
    first(src).expect_err(src).message
}

/// BuildKit `TestCommandsExactlyOneArgument`.
#[test]
fn exactly_one_argument() {
    for cmd in ["MAINTAINER", "WORKDIR", "USER", "STOPSIGNAL"] {
        assert_eq!(error(cmd), exactly_one(cmd));
    }
}

/// BuildKit `TestCommandsAtLeastOneArgument`.
#[test]
fn at_least_one_argument() {
    for cmd in ["ENV", "LABEL", "ONBUILD", "HEALTHCHECK", "EXPOSE", "VOLUME"] {
        assert_eq!(error(cmd), at_least_one(cmd), "{cmd}");
    }
}

/// BuildKit `TestCommandsNoDestinationArgument`.
#[test]
fn no_destination_argument() {
    for cmd in ["ADD", "COPY"] {
        assert_eq!(error(&format!("{cmd} arg1")), no_destination(cmd));
    }
}

fn hand_node(keyword: &str, values: &[&str]) -> Node {
    let mut node = Node::leaf(keyword);
    let mut tail = &mut node.next;
    for v in values {
        *tail = Some(Box::new(Node::leaf(*v)));
        tail = &mut tail.as_mut().unwrap().next;
    }
    node
}

/// BuildKit `TestCommandsTooManyArguments` and `TestCommandsBlankNames` (hand-built nodes).
#[test]
fn kv_shape_errors() {
    for cmd in ["ENV", "LABEL"] {
        let node = hand_node(&cmd.to_lowercase(), &["arg1", "arg2", "arg3", ""]);
        let e = parse_instruction(&node, HostMode::Linux).unwrap_err();
        assert_eq!(e.message, format!("Bad input to {cmd}, too many arguments"));
        let node = hand_node(&cmd.to_lowercase(), &["", "arg2", "="]);
        let e = parse_instruction(&node, HostMode::Linux).unwrap_err();
        assert_eq!(e.message, blank_names(cmd));
    }
}

/// BuildKit `TestHealthCheckCmd`.
#[test]
fn healthcheck_cmd() {
    let node = hand_node("healthcheck", &["CMD", "hello", "world"]);
    let Parsed::Command(c) = parse_instruction(&node, HostMode::Linux).unwrap() else {
        panic!()
    };
    let Instruction::Healthcheck(h) = c.instruction else {
        panic!()
    };
    assert_eq!(h.test, ["CMD-SHELL", "hello world"]);
}

/// BuildKit `TestParseOptInterval`.
#[test]
fn opt_interval() {
    assert!(parse_opt_interval("interval", "50ns")
        .unwrap_err()
        .contains("cannot be less than 1ms"));
    assert_eq!(parse_opt_interval("interval", "0ms"), Ok(Duration::ZERO));
    assert_eq!(
        parse_opt_interval("interval", "1ms"),
        Ok(Duration::from_millis(1))
    );
    assert_eq!(
        parse_opt_interval("interval", "1m30s"),
        Ok(Duration::from_secs(90))
    );
    assert_eq!(
        parse_opt_interval("interval", "1.5h"),
        Ok(Duration::from_secs(5400))
    );
    assert!(parse_opt_interval("timeout", "-1s")
        .unwrap_err()
        .contains("cannot be less than 1ms"));
    assert_eq!(
        parse_opt_interval("x", "10"),
        Err("time: missing unit in duration \"10\"".into())
    );
    assert_eq!(
        parse_opt_interval("x", "3d"),
        Err("time: unknown unit \"d\" in duration \"3d\"".into())
    );
}

/// BuildKit `TestCommentsDetection` (instruction level).
#[test]
fn comments_detection() {
    let src = "# foo sets foo\nARG foo=bar\n\n# base defines first stage\nFROM busybox AS base\n# this is irrelevant\nARG foo\n# bar defines bar\n# baz is something else\nARG bar baz=123\n";
    let ast = parse(src.as_bytes()).unwrap().ast;
    let parsed: Vec<Parsed> = ast
        .children
        .iter()
        .map(|n| parse_instruction(n, HostMode::Linux).unwrap())
        .collect();
    let args = |p: &Parsed| match p {
        Parsed::Command(Command {
            instruction: Instruction::Arg(a),
            ..
        }) => a.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(args(&parsed[0])[0].comment, "sets foo");
    let Parsed::From(from) = &parsed[1] else {
        panic!()
    };
    assert_eq!(from.comment, "defines first stage");
    assert_eq!(args(&parsed[2])[0].comment, "");
    assert_eq!(args(&parsed[3])[0].key, "bar");
    assert_eq!(args(&parsed[3])[0].comment, "defines bar");
    assert_eq!(args(&parsed[3])[1].key, "baz");
    assert_eq!(args(&parsed[3])[1].comment, "is something else");
}

/// BuildKit `TestErrorCases`.
#[test]
fn error_cases() {
    for (src, want) in [
        (
            "COPY\t\n\t\tquux \\\n      bar",
            "COPY requires at least two arguments",
        ),
        (
            "ONBUILD FROM scratch",
            "FROM isn't allowed as an ONBUILD trigger",
        ),
        ("MAINTAINER --boo joe@example.com", "unknown flag: --boo"),
        (
            "ONBUILD ONBUILD RUN touch foobar",
            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
        ),
        ("FOO bar", "unknown instruction: FOO"),
        ("foo bar", "unknown instruction: foo"),
    ] {
        let e = error(src);
        assert!(e.contains(want), "{src:?}: {e}");
    }
}

/// BuildKit `TestRunCmdFlagsUsed`.
#[test]
fn run_flags_used() {
    let Instruction::Run(run) = command("RUN --mount=type=tmpfs,target=/foo/ echo hello") else {
        panic!()
    };
    assert_eq!(run.flags_used, ["mount"]);
}

/// `TestNilLinter`: every instruction with assorted arguments parses or errors, never panics.
#[test]
fn every_instruction_with_odd_arguments() {
    for cmd in INSTRUCTIONS {
        for args in [" foo=bar", " a", " a b", " a b c", " 0 0"] {
            if let Ok(r) = parse(format!("FROM busybox\n{cmd}{args}").as_bytes()) {
                for n in &r.ast.children {
                    let _ = parse_instruction(n, HostMode::Linux);
                }
            }
        }
    }
}

/// BuildKit `TestBuilderFlags`.
#[test]
fn builder_flags() {
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(Flags::new(&[]).parse().is_ok());
    assert!(Flags::new(&args(&["--"])).parse().is_ok());

    let mut f = Flags::new(&[]);
    f.add_string("str1", "");
    f.add_bool("bool1", false);
    f.parse().unwrap();
    assert!(!f.is_used("str1") && !f.is_used("bool1"));

    let mut f = Flags::new(&[]);
    f.add_string("str1", "HI");
    f.add_bool("bool1", false);
    f.parse().unwrap();
    assert_eq!(f.string("str1"), "HI");
    assert!(!f.is_true("bool1"));

    let mut f = Flags::new(&args(&["--str1"]));
    f.add_string("str1", "HI");
    assert_eq!(f.parse(), Err("missing a value on flag: --str1".into()));

    let mut f = Flags::new(&args(&["--str1="]));
    f.add_string("str1", "HI");
    f.parse().unwrap();
    assert_eq!(f.string("str1"), "");

    let mut f = Flags::new(&args(&["--str1=BYE"]));
    f.add_string("str1", "HI");
    f.parse().unwrap();
    assert_eq!(f.string("str1"), "BYE");

    for (arg, want) in [
        ("--bool1", true),
        ("--bool1=true", true),
        ("--bool1=false", false),
        ("--bool1=TRUE", true),
    ] {
        let mut f = Flags::new(&args(&[arg]));
        f.add_bool("bool1", false);
        f.parse().unwrap();
        assert_eq!(f.is_true("bool1"), want, "{arg}");
    }

    let mut f = Flags::new(&args(&["--bool1=false1"]));
    f.add_bool("bool1", false);
    assert_eq!(
        f.parse(),
        Err("expecting boolean value for flag --bool1, not: false1".into())
    );

    let mut f = Flags::new(&args(&["--bool1="]));
    f.add_bool("bool1", false);
    assert_eq!(f.parse(), Err("missing a value on flag: --bool1".into()));

    let mut f = Flags::new(&args(&["--bool2"]));
    f.add_bool("bool1", false);
    assert_eq!(
        f.parse(),
        Err("unknown flag: --bool2 (did you mean bool1?)".into())
    );

    let mut f = Flags::new(&args(&["--bool1", "--str1=BYE"]));
    f.add_string("str1", "HI");
    f.add_bool("bool1", false);
    f.parse().unwrap();
    assert_eq!(f.string("str1"), "BYE");
    assert!(f.is_true("bool1"));

    let mut f = Flags::new(&args(&[
        "--bool2=false",
        "--bool3",
        "--bool4=true",
        "--bool5",
        "--str2= ",
        "--str3=def3",
        "--str4=my-val",
    ]));
    for (name, def) in [
        ("bool1", false),
        ("bool2", false),
        ("bool3", false),
        ("bool4", true),
        ("bool5", true),
    ] {
        f.add_bool(name, def);
    }
    for (name, def) in [
        ("str1", ""),
        ("str2", ""),
        ("str3", "def3"),
        ("str4", "def4"),
    ] {
        f.add_string(name, def);
    }
    f.parse().unwrap();
    assert_eq!(
        f.used().join(", "),
        "bool2, bool3, bool4, bool5, str2, str3, str4"
    );

    let mut f = Flags::new(&args(&["--str1=a", "--str1=b"]));
    f.add_string("str1", "");
    assert_eq!(f.parse(), Err("duplicate flag specified: --str1".into()));
    let mut f = Flags::new(&args(&["--exclude=a", "--exclude=b"]));
    f.add_strings("exclude");
    f.parse().unwrap();
    assert_eq!(f.strings("exclude"), ["a", "b"]);
    let mut f = Flags::new(&args(&["-x"]));
    assert_eq!(f.parse(), Err("arg should start with -- : -x".into()));
}

#[test]
fn copy_and_add_flags() {
    let Instruction::Copy(c) = command("COPY --from=build --chown=ContainerUser --chmod=755 --link --parents --exclude=*.pdb --exclude=obj a b C:/app/") else { panic!() };
    assert_eq!(
        (c.from.as_str(), c.chown.as_str(), c.chmod.as_str()),
        ("build", "ContainerUser", "755")
    );
    assert!(c.link && c.parents);
    assert_eq!(c.exclude, ["*.pdb", "obj"]);
    assert_eq!(c.paths.sources, ["a", "b"]);
    assert_eq!(c.paths.dest, "C:/app/");
    let Instruction::Add(a) =
        command("ADD --keep-git-dir --checksum=sha256:abc --unpack=false x.tar /d")
    else {
        panic!()
    };
    assert!(a.keep_git_dir);
    assert_eq!(a.checksum, "sha256:abc");
    assert_eq!(a.unpack, Some(false));
    let Instruction::Add(a) = command("ADD x.tar /d") else {
        panic!()
    };
    assert_eq!(a.unpack, None);
    assert_eq!(
        error("COPY --keep-git-dir a b"),
        "unknown flag: --keep-git-dir"
    );
    assert_eq!(error("ADD --from=x a b"), "unknown flag: --from");
    assert_eq!(
        error("COPY --link=maybe a b"),
        "expecting boolean value for flag --link, not: maybe"
    );
    assert_eq!(
        error("COPY --chown a b"),
        "missing a value on flag: --chown"
    );
    assert_eq!(
        error("COPY <<EOF <<EOF2\nx\nEOF\ny\nEOF2\n"),
        "COPY cannot accept a heredoc as a destination"
    );
}

#[test]
fn copy_heredoc_source() {
    let Instruction::Copy(c) = command("COPY <<-EOT C:/app/hello.txt\n\thi $X\nEOT\n") else {
        panic!()
    };
    assert!(c.paths.sources.is_empty());
    assert_eq!(
        c.paths.contents,
        [SourceContent {
            path: "EOT".into(),
            data: "hi $X\n".into(),
            expand: true
        }]
    );
}

#[test]
fn run_flags_and_mounts() {
    let Instruction::Run(r) = command("RUN --network=none --security=insecure --mount=type=cache,target=/c,id=x,sharing=locked echo") else { panic!() };
    assert_eq!(
        (r.network, r.security),
        (NetworkMode::None, Security::Insecure)
    );
    let env = Env::from_pairs(HostMode::Linux, ["T=/cache"]);
    let lexer = Lexer::new('\\');
    assert_eq!(r.mounts(&lexer, &env).unwrap()[0].sharing, "locked");
    assert_eq!(
        error("RUN --network=bridge x"),
        "unsupported network mode \"bridge\""
    );
    assert_eq!(
        error("RUN --security=root x"),
        "security \"root\" is not valid"
    );
    assert_eq!(
        error("RUN --mount=from=$X,target=/x x"),
        "'from' doesn't support variable expansion, define alias stage instead"
    );
    assert_eq!(
        parse_mount("type=bind,\"a", None).unwrap_err(),
        "failed to parse csv mounts: extraneous or missing \" in quoted-field"
    );
    let Instruction::Run(r) = command("RUN --mount=type=$T,target=$D,uid=1 x") else {
        panic!()
    };
    let env = Env::from_pairs(HostMode::Linux, ["T=tmpfs", "D=/d"]);
    assert_eq!(
        r.mounts(&lexer, &env).unwrap_err(),
        "uid not allowed for \"tmpfs\" type mounts"
    );
    let env = Env::from_pairs(HostMode::Linux, ["T=cache", "D=/d"]);
    let m = &r.mounts(&lexer, &env).unwrap()[0];
    assert_eq!(
        (m.kind, m.target.as_str(), m.uid, m.read_only),
        (MountType::Cache, "/d", Some(1), false)
    );
    let env = Env::from_pairs(HostMode::Linux, ["T=volume"]);
    assert_eq!(
        r.mounts(&lexer, &env).unwrap_err(),
        "unsupported mount type \"volume\""
    );
    let m = parse_mount(
        "type=secret,id=tok,required",
        Some(&mut |v: &str| Ok(v.to_string())),
    )
    .unwrap();
    assert!(m.required && m.read_only);
    assert_eq!(
        parse_mount("type=secret", Some(&mut |v: &str| Ok(v.to_string()))).unwrap_err(),
        "invalid secret mount. one of source, target required"
    );
    assert_eq!(
        parse_mount("type=bind,size=1m", Some(&mut |v: &str| Ok(v.to_string()))).unwrap_err(),
        "unexpected key 'size' for mount type 'bind'"
    );
    assert_eq!(
        parse_mount("type=bind,foo=1", Some(&mut |v: &str| Ok(v.to_string()))).unwrap_err(),
        "unexpected key 'foo' in 'foo=1'"
    );
    assert_eq!(
        parse_mount(
            "type=tmpfs,size=64m",
            Some(&mut |v: &str| Ok(v.to_string()))
        )
        .unwrap()
        .size_limit,
        Some(64 << 20)
    );
}

#[test]
fn healthcheck_forms_and_errors() {
    let Instruction::Healthcheck(h) = command("HEALTHCHECK --interval=5s --timeout=3s --start-period=1m --start-interval=2s --retries=3 CMD [\"ping\", \"-n\", \"1\", \"localhost\"]") else { panic!() };
    assert_eq!(h.test, ["CMD", "ping", "-n", "1", "localhost"]);
    assert_eq!(
        (
            h.interval,
            h.timeout,
            h.start_period,
            h.start_interval,
            h.retries
        ),
        (
            Duration::from_secs(5),
            Duration::from_secs(3),
            Duration::from_secs(60),
            Duration::from_secs(2),
            3
        )
    );
    let Instruction::Healthcheck(h) = command("HEALTHCHECK none") else {
        panic!()
    };
    assert_eq!(h.test, ["NONE"]);
    assert_eq!(
        error("HEALTHCHECK NONE x"),
        "HEALTHCHECK NONE takes no arguments"
    );
    assert_eq!(
        error("HEALTHCHECK CMD"),
        "Missing command after HEALTHCHECK CMD"
    );
    assert_eq!(
        error("HEALTHCHECK RUN x"),
        "Unknown type \"RUN\" in HEALTHCHECK (try CMD)"
    );
    assert_eq!(
        error("HEALTHCHECK --retries=-1 CMD x"),
        "--retries cannot be negative (-1)"
    );
    assert_eq!(
        error("HEALTHCHECK --retries=x CMD x"),
        "strconv.ParseInt: parsing \"x\": invalid syntax"
    );
    assert_eq!(
        error("HEALTHCHECK --interval=1us CMD x"),
        "Interval \"interval\" cannot be less than 1ms"
    );
    assert_eq!(error("HEALTHCHECK --foo=1s CMD x"), "unknown flag: --foo");
}

#[test]
fn shell_requires_json() {
    assert_eq!(
        command("SHELL [\"powershell\", \"-Command\"]"),
        Instruction::Shell(vec!["powershell".into(), "-Command".into()])
    );
    assert_eq!(
        error("SHELL powershell -Command"),
        "SHELL requires the arguments to be in JSON form"
    );
    assert_eq!(error("SHELL []"), "SHELL requires at least one argument");
    let ast = parse(b"SHELL [\"c:\\windows\\system32\\cmd.exe\", \"/c\"]")
        .unwrap()
        .ast;
    let e = parse_instruction(&ast.children[0], HostMode::Windows).unwrap_err();
    assert!(
        e.message
            .contains("includes a file path without an escaped back-slash"),
        "{e}"
    );
}

#[test]
fn from_and_stage_names() {
    let Parsed::From(f) = first(
        "FROM --platform=$BUILDPLATFORM mcr.microsoft.com/windows/servercore:ltsc2022 AS Build",
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(
        (f.name.as_str(), f.platform.as_str()),
        ("build", "$BUILDPLATFORM")
    );
    assert_eq!(
        error("FROM a AS 1x"),
        "invalid name for build stage: \"1x\", name can't start with a number or contain symbols"
    );
    assert_eq!(
        error("FROM a b"),
        "FROM requires either one or three arguments"
    );
    assert_eq!(
        error("FROM --platfrom=x a"),
        "unknown flag: --platfrom (did you mean platform?)"
    );
    assert_eq!(error("FROM --plat=x a"), "unknown flag: --plat");
    assert_eq!(
        error("FRM a"),
        "unknown instruction: FRM (did you mean FROM?)"
    );
    assert_eq!(
        error("cpy a b"),
        "unknown instruction: cpy (did you mean copy?)"
    );
    assert!(is_valid_stage_name("a-b_c.1"));
    assert!(!is_valid_stage_name("a$"));
}

#[test]
fn shell_form_and_json_form() {
    assert_eq!(
        command("CMD echo  hi"),
        Instruction::Cmd(CmdLine {
            args: vec!["echo  hi".into()],
            prepend_shell: true,
            files: vec![]
        })
    );
    assert_eq!(
        command("ENTRYPOINT [\"a.exe\", \"b c\"]"),
        Instruction::Entrypoint(CmdLine {
            args: vec!["a.exe".into(), "b c".into()],
            prepend_shell: false,
            files: vec![]
        })
    );
    assert_eq!(
        command("EXPOSE 8080 80/tcp"),
        Instruction::Expose(vec!["80/tcp".into(), "8080".into()])
    );
    assert_eq!(
        command("ONBUILD  copy a b"),
        Instruction::Onbuild("copy a b".into())
    );
    assert_eq!(
        error("VOLUME [\"\"]"),
        "VOLUME specified can not be an empty string"
    );
}

#[test]
fn expansion_follows_buildkit() {
    let lexer = Lexer::new('`');
    let env = Env::from_pairs(
        HostMode::Linux,
        ["APP=C:\\app", "U=ContainerUser", "P=80 443"],
    );
    let expand = |src: &str| {
        let ast = parse(format!("# escape=`\n{src}").as_bytes()).unwrap().ast;
        let Parsed::Command(c) = parse_instruction(&ast.children[0], HostMode::Linux).unwrap()
        else {
            panic!()
        };
        c.expand(&lexer, &env).map(|c| c.instruction)
    };
    assert_eq!(
        expand("WORKDIR $APP\\src").unwrap(),
        Instruction::Workdir("C:\\app\\src".into())
    );
    assert_eq!(
        expand("USER ${U}").unwrap(),
        Instruction::User("ContainerUser".into())
    );
    assert_eq!(
        expand("EXPOSE $P").unwrap(),
        Instruction::Expose(vec!["80".into(), "443".into()])
    );
    assert_eq!(
        expand("RUN echo $APP").unwrap(),
        Instruction::Run(RunCommand {
            cmd: CmdLine {
                args: vec!["echo $APP".into()],
                prepend_shell: true,
                files: vec![]
            },
            mount_specs: vec![],
            network: NetworkMode::Default,
            security: Security::Sandbox,
            flags_used: vec![]
        })
    );
    let Instruction::Copy(c) = expand("COPY --chown=$U src/ $APP\\").unwrap() else {
        panic!()
    };
    assert_eq!(
        (c.chown.as_str(), c.paths.dest.as_str()),
        ("ContainerUser", "C:\\app\\")
    );
    let Instruction::Env(kv) = expand("ENV A=$APP B=${U:-x}").unwrap() else {
        panic!()
    };
    assert_eq!(
        (kv[0].value.as_str(), kv[1].value.as_str()),
        ("C:\\app", "ContainerUser")
    );
    assert!(expand("COPY --from=$STAGE a b")
        .unwrap_err()
        .message
        .starts_with("variable expansion is not supported for --from"));
    assert!(expand("USER ${U:?}x${NOPE?missing}")
        .unwrap_err()
        .message
        .contains("NOPE: missing"));
}

#[test]
fn signals() {
    for ok in ["SIGTERM", "term", "9", "SIGRTMIN+3", "RTMAX-15", "sigusr1"] {
        assert!(check_signal(ok).is_ok(), "{ok}");
    }
    for bad in ["0", "SIGFOO", "RTMIN+16", ""] {
        assert_eq!(
            check_signal(bad),
            Err(format!("Invalid signal: {bad}")),
            "{bad}"
        );
    }
}
