//! Fuzzes the frontend behind the parser: stage resolution, dispatch of every stage (word
//! expansion, Windows path rules, flag and value checks) in both host and path modes, the shell
//! lexer on every line with both escape tokens, and `.dockerignore` reading and matching. Any
//! input must give a result or an error (with a line inside the file), never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silo::dockerfile::dockerignore::{read_patterns, PatternMatcher};
use silo::dockerfile::shell::{Env, HostMode, Lexer};
use silo::dockerfile::stages::{parse_stages, Base, BaseConfig, BuildOptions, StageDispatcher};
use silo::dockerfile::winpath::{self, PathMode};
use silo::dockerfile::parse;

fuzz_target!(|data: &[u8]| {
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    if let Ok(parsed) = parse(data) {
        for (host, path_mode) in [(HostMode::Linux, PathMode::BuildKit), (HostMode::Windows, PathMode::Classic)] {
            let opts = BuildOptions { host, path_mode, ..BuildOptions::default() };
            match parse_stages(&parsed.ast, parsed.escape_token, &opts) {
                Err(e) => {
                    if let Some(l) = e.location {
                        assert!(l.start_line >= 1 && l.start_line <= lines, "{e:?}");
                    }
                }
                Ok(plan) => {
                    let _ = plan.build_order();
                    let _ = plan.unused_build_args();
                    let mut finals: Vec<BaseConfig> = Vec::new();
                    for stage in &plan.stages {
                        let base = match stage.base {
                            Base::Stage(i) => finals[i].clone(),
                            Base::Image(_) => BaseConfig::default(),
                        };
                        let mut d = StageDispatcher::new(&plan, stage, base);
                        for cmd in &stage.commands {
                            if let Err(e) = d.dispatch(cmd) {
                                let l = e.location.expect("dispatch errors have a line");
                                assert!(l.start_line >= 1 && l.start_line <= lines, "{e:?}");
                                break;
                            }
                        }
                        finals.push(d.finish());
                    }
                }
            }
        }
    }
    let text = String::from_utf8_lossy(data);
    let env = Env::from_pairs(HostMode::Linux, ["A=a b", "P=C:\\x", "E="]);
    for line in text.lines().take(64) {
        for escape in ['\\', '`'] {
            let mut lexer = Lexer::new(escape);
            let _ = lexer.process(line, &env);
            lexer.raw_quotes = true;
            lexer.skip_unset_env = true;
            let _ = lexer.process(line, &env);
        }
        for mode in [PathMode::BuildKit, PathMode::Classic] {
            let _ = winpath::normalize_workdir(mode, "C:\\app", line);
            let _ = winpath::normalize_copy_dest(mode, "\\app", line);
        }
    }
    if let Ok(patterns) = read_patterns(data, "fuzz") {
        if let Ok(matcher) = PatternMatcher::new(&patterns) {
            for path in ["a", "a/b", "bin/Debug/x.dll", ".git/config"] {
                let _ = matcher.matches_or_parent_matches(path);
            }
        }
    }
});
