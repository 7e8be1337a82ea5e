//! Benchmark of PowerShell RUN steps in the Wine silo, run by `scripts/bench-powershell` (ignored in
//! normal test runs): a step that writes a file and a registry value, in PowerShell (silo's
//! engine) against the same step in cmd (`echo` + `reg add` under Wine), each measured as
//! prepare + run + commit, median of 5 after a warm-up. Goal (issue #15): the PowerShell step is
//! no slower than the cmd step.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use silo::runtime::wine::WineRuntime;
use silo::runtime::{NetworkMode, OutputSink, ProcessSpec, Runtime, SandboxSpec};

struct Quiet;
impl OutputSink for Quiet {
    fn stdout(&mut self, _: &[u8]) {}
    fn stderr(&mut self, _: &[u8]) {}
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn step(shell: &[&str], script: &str) -> ProcessSpec {
    let mut args: Vec<String> = shell.iter().map(|s| s.to_string()).collect();
    args.push(script.to_string());
    ProcessSpec {
        command_line: Some(args.join(" ")),
        args,
        working_dir: r"C:\".into(),
        ..ProcessSpec::default()
    }
}

fn time_step(rt: &WineRuntime, spec: &SandboxSpec, process: &ProcessSpec) -> Duration {
    let mut times = Vec::new();
    for _ in 0..6 {
        let start = Instant::now();
        let mut sb = rt.prepare(spec).unwrap();
        let st = sb.run(process, &mut Quiet).unwrap();
        assert_eq!(st.code, 0, "{:?}", process.command_line);
        let cs = sb.commit().unwrap();
        assert_eq!(cs.entries.len(), 1, "one file: {cs:?}");
        assert!(!cs.hive_deltas.is_empty(), "one registry value: {cs:?}");
        times.push(start.elapsed());
    }
    times.remove(0);
    median(times)
}

#[test]
#[ignore = "benchmark: run with scripts/bench-powershell"]
fn bench_powershell_step_against_cmd_step() {
    let state = std::env::var_os("SILO_BENCH_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wine-state"));
    let rt = WineRuntime::new(&state);
    rt.ensure_ready().expect("the Wine silo can run here");
    let spec = SandboxSpec {
        layers: Vec::new(),
        network: NetworkMode::Host,
        os_version: String::new(),
        mounts: Vec::new(),
    };
    let cmd = step(
        &["cmd", "/S", "/C"],
        r"echo hi> C:\bench.txt && reg add HKLM\SOFTWARE\SiloBench /v Value /d 1 /f",
    );
    let ps = step(
        &[
            "powershell",
            "-Command",
            "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue';",
        ],
        r"Set-Content -Path C:\bench.txt -Value hi; New-Item -Path HKLM:\SOFTWARE\SiloBench -Force | Out-Null; Set-ItemProperty -Path HKLM:\SOFTWARE\SiloBench -Name Value -Value 1",
    );
    let c = time_step(&rt, &spec, &cmd);
    let p = time_step(&rt, &spec, &ps);
    println!(
        "file + registry value step: PowerShell (silo's engine) median {:.3} s, cmd (Wine) median {:.3} s, ratio {:.2} (goal ≤ 1.0)",
        p.as_secs_f64(),
        c.as_secs_f64(),
        p.as_secs_f64() / c.as_secs_f64()
    );
}
