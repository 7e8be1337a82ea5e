//! Parser throughput: BuildKit-style parsing must be linear. Times `silo::dockerfile::parse`
//! (and, separately, `dump`) on a 100,000-line Dockerfile and on single lines of 64 KiB of each shape that
//! has its own code path, and prints the medians of several runs; parsing must stay under
//! 100 ms per input (the process exits with 1 otherwise).
//! Run with `cargo bench -p silo --bench dockerfile_parser` (or `scripts/bench-parser`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use silo::dockerfile::parse;

const RUNS: usize = 11;
const BUDGET: Duration = Duration::from_millis(100);
/// The longest line BuildKit accepts (65535 bytes plus the newline).
const MAX_LINE: usize = 65_535;

/// A realistic mix: comments, continuations, JSON and shell forms, ENV pairs, heredocs.
fn many_lines(target: usize) -> String {
    let block = [
        "# build stage",
        "FROM --platform=$BUILDPLATFORM mcr.microsoft.com/windows/servercore:ltsc2022 AS build",
        "ARG VERSION=1.2.3 CONFIG=\"Release\"",
        "ENV PATH=\"C:\\\\tools;${PATH}\" GOPATH=C:\\\\go \\",
        "    LANG=C.UTF-8",
        "LABEL org.opencontainers.image.title=\"silo\" maintainer=me@example.com",
        "COPY --from=deps --chown=app:app [\"src/a b\", \"C:\\\\app\\\\\"]",
        "RUN [\"powershell\", \"-Command\", \"Write-Host hi\"]",
        "RUN set -eux; \\",
        "    apt-get update && \\",
        "    # a comment inside the continuation",
        "    apt-get install -y curl",
        "RUN <<EOF",
        "echo heredoc body",
        "EOF",
        "HEALTHCHECK --interval=5s CMD curl -f http://localhost/ || exit 1",
        "ONBUILD RUN echo triggered",
        "EXPOSE 80/tcp 443",
        "",
    ];
    let mut out = String::new();
    let mut lines = 0;
    while lines + block.len() <= target {
        for line in block {
            out.push_str(line);
            out.push('\n');
        }
        lines += block.len();
    }
    while lines < target {
        out.push_str("USER app\n");
        lines += 1;
    }
    out
}

/// `prefix` followed by `unit` repeated up to exactly `MAX_LINE` bytes.
fn long_line(prefix: &str, unit: &str) -> String {
    let mut line = String::from(prefix);
    while line.len() + unit.len() <= MAX_LINE {
        line.push_str(unit);
    }
    while line.len() < MAX_LINE {
        line.push(' ');
    }
    line
}

/// A 64 KiB `COPY <<A <<A … /dst` line followed by the empty bodies of all its heredocs.
fn heredoc_line() -> String {
    let line = long_line("COPY ", "<<A ");
    let count = line.matches("<<A").count();
    line + "\n" + &"A\n".repeat(count)
}

/// CPU time used by this thread: on a shared machine wall-clock time mostly measures the
/// other processes.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Medians of (parse wall time, parse CPU time, dump CPU time).
fn median_times(input: &[u8]) -> (Duration, Duration, Duration) {
    let mut wall = Vec::with_capacity(RUNS);
    let mut cpu = Vec::with_capacity(RUNS);
    let mut dump_cpu = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let (start, start_cpu) = (Instant::now(), thread_cpu_time());
        let result = parse(black_box(input)).expect("benchmark input parses");
        cpu.push(thread_cpu_time() - start_cpu);
        wall.push(start.elapsed());
        let start_cpu = thread_cpu_time();
        black_box(result.ast.dump());
        dump_cpu.push(thread_cpu_time() - start_cpu);
    }
    for times in [&mut wall, &mut cpu, &mut dump_cpu] {
        times.sort();
    }
    (wall[RUNS / 2], cpu[RUNS / 2], dump_cpu[RUNS / 2])
}

fn main() {
    let json_items = long_line("RUN [\"x\"", ", \"arg\"");
    let json = format!("{}]", &json_items[..json_items.len() - 1]);
    let cases: Vec<(&str, String)> = vec![
        ("100,000-line Dockerfile", many_lines(100_000)),
        (
            "64 KiB RUN line (shell form)",
            long_line("RUN ", "echo a && "),
        ),
        ("64 KiB RUN line (JSON form)", json),
        (
            "64 KiB ENV line (k=v pairs)",
            long_line("ENV ", "k=\"v w\" "),
        ),
        ("64 KiB FROM line (words)", long_line("FROM ", "a ")),
        ("64 KiB COPY line (heredocs)", heredoc_line()),
    ];
    let mut all_within = true;
    println!(
        "{:<30} {:>8} {:>11} {:>11} {:>11}",
        "input (medians of 11 runs)", "bytes", "parse wall", "parse CPU", "dump CPU"
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (name, input) in &cases {
        let (wall, cpu, dump_cpu) = median_times(input.as_bytes());
        let within = cpu < BUDGET;
        all_within &= within;
        println!(
            "{name:<30} {:>8} {:>8.2} ms {:>8.2} ms {:>8.2} ms  {}",
            input.len(),
            ms(wall),
            ms(cpu),
            ms(dump_cpu),
            if within {
                "ok (< 100 ms)"
            } else {
                "OVER BUDGET"
            }
        );
    }
    if !all_within {
        std::process::exit(1);
    }
}
