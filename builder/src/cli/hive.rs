//! `silo hive`: dump a regf hive file as `reg query`-style text or JSON, build a differencing
//! hive (delta) from two hives, and merge deltas onto a base hive.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};

use super::Globals;
use crate::hive::{layers, read_hive_with, render, write_hive, Key, ReadOptions, WriteOptions};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print a hive's keys and values (layer bits and tombstones included).
    Dump(DumpArgs),
    /// Write the differencing hive (delta) that turns BASE into TARGET.
    Diff(DiffArgs),
    /// Apply differencing hives to a base hive and write the merged hive.
    Merge(MergeArgs),
    /// Parse a hive completely, check its structure and lh hashes, print counts and timings.
    Check(CheckArgs),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// `reg query /s`-style text.
    Reg,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct DumpArgs {
    /// The hive file.
    file: PathBuf,
    /// Only this key (a path inside the hive, `\`-separated, case-insensitive).
    key: Option<String>,
    #[arg(long, value_enum, default_value = "reg")]
    format: Format,
    /// Prefix printed before key paths, e.g. `HKLM\SOFTWARE` (default: the hive's root as `\`).
    #[arg(long)]
    prefix: Option<String>,
    /// Read a hive whose logs were not applied (sequence numbers differ) as it is on disk.
    #[arg(long)]
    allow_dirty: bool,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    base: PathBuf,
    target: PathBuf,
    /// Where to write the delta (a regf differencing hive: minor 6, flag 0x2).
    #[arg(short, long)]
    output: PathBuf,
    /// Do not record keys whose only change is a later last-write time.
    #[arg(long)]
    ignore_time_only_changes: bool,
    #[arg(long)]
    allow_dirty: bool,
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    base: PathBuf,
    /// Differencing hives, lowest layer first.
    #[arg(required = true)]
    deltas: Vec<PathBuf>,
    /// Where to write the merged hive.
    #[arg(short, long)]
    output: PathBuf,
    /// Fold the deltas into one differencing hive instead (BASE is then the lowest delta).
    #[arg(long)]
    fold: bool,
    #[arg(long)]
    allow_dirty: bool,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    file: PathBuf,
    /// Also write the parsed tree back out to this file (and time it).
    #[arg(long)]
    rewrite: Option<PathBuf>,
    /// Only parse and walk the tree (skip the cell scan and the lh-hash check).
    #[arg(long)]
    parse_only: bool,
    #[arg(long)]
    allow_dirty: bool,
}

pub fn run(_globals: &Globals, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Dump(args) => dump(args),
        Command::Diff(args) => diff(args),
        Command::Merge(args) => merge(args),
        Command::Check(args) => check(args),
    }
}

fn load(path: &Path, allow_dirty: bool) -> anyhow::Result<crate::hive::ParsedHive> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    // A dirty hive with its transaction logs beside it is recovered as Windows would load it.
    let logs: Vec<Vec<u8>> = ["LOG1", "LOG2"]
        .iter()
        .filter_map(|ext| std::fs::read(format!("{}.{ext}", path.display())).ok())
        .collect();
    let log_refs: Vec<&[u8]> = logs.iter().map(Vec::as_slice).collect();
    let recovered = crate::hive::log::recover(&bytes, &log_refs)
        .with_context(|| format!("reading hive {}", path.display()))?;
    if let crate::hive::Recovery::Replayed {
        entries, sequence, ..
    } = &recovered.recovery
    {
        eprintln!(
            "{} is dirty: replayed {entries} log entries from its .LOG1/.LOG2 (now sequence {sequence})",
            path.display()
        );
    }
    let parsed = read_hive_with(&recovered.bytes, ReadOptions { allow_dirty })
        .with_context(|| format!("reading hive {}", path.display()))?;
    if parsed.base.is_dirty() {
        eprintln!(
            "warning: {} is dirty (sequence {} ≠ {}); showing the primary file without its logs",
            path.display(),
            parsed.base.primary_seq,
            parsed.base.secondary_seq
        );
    }
    Ok(parsed)
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn dump(args: DumpArgs) -> anyhow::Result<ExitCode> {
    let parsed = load(&args.file, args.allow_dirty)?;
    let (key, path): (&Key, String) = match args.key.as_deref() {
        Some(p) if !p.trim_matches('\\').is_empty() => {
            let key = parsed.root.find(p).with_context(|| {
                format!(
                    "key {p:?} not found in {} (paths are relative to the hive root)",
                    args.file.display()
                )
            })?;
            (key, p.trim_matches('\\').to_string())
        }
        _ => (&parsed.root, String::new()),
    };
    let printed = match (&args.prefix, path.is_empty()) {
        (Some(prefix), true) => prefix.clone(),
        (Some(prefix), false) => format!("{}\\{path}", prefix.trim_end_matches('\\')),
        (None, _) => format!("\\{path}"),
    };
    match args.format {
        Format::Reg => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            render::write_reg_text(key, &printed, &mut out)?;
            std::io::Write::flush(&mut out)?;
        }
        Format::Json => {
            let mut json = render::to_json(key);
            json["path"] = serde_json::Value::String(printed);
            json["hive"] = serde_json::json!({
                "version": format!("{}.{}", parsed.base.major, parsed.base.minor),
                "differencing": parsed.base.is_layered(),
                "dirty": parsed.base.is_dirty(),
                "file_name": parsed.base.file_name,
            });
            println!("{}", serde_json::to_string_pretty(&json)?);
        }
    }
    // The process exits now: skip freeing a large tree key by key.
    std::mem::forget(parsed);
    Ok(ExitCode::SUCCESS)
}

/// The debug name a delta carries in its base block, as Windows writes `…\Hives\X_Delta`.
fn delta_file_name(output: &Path) -> String {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("Hives\\{name}")
}

fn diff(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let base = load(&args.base, args.allow_dirty)?;
    let target = load(&args.target, args.allow_dirty)?;
    if base.base.is_layered() || target.base.is_layered() {
        bail!("diff needs two ordinary hives; merge differencing hives onto their base first");
    }
    let delta = layers::diff_with(
        &base.root,
        &target.root,
        layers::DiffOptions {
            ignore_time_only_changes: args.ignore_time_only_changes,
        },
    );
    let bytes = write_hive(
        &delta,
        &WriteOptions::differencing(delta_file_name(&args.output)),
    )
    .context("writing the delta")?;
    write_file(&args.output, &bytes)?;
    eprintln!(
        "{}: {} keys in the delta{}",
        args.output.display(),
        delta.count_keys(),
        if layers::is_empty_delta(&delta) {
            " (no changes)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn merge(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let base = load(&args.base, args.allow_dirty)?;
    let deltas = args
        .deltas
        .iter()
        .map(|p| load(p, args.allow_dirty))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (delta, path) in deltas.iter().zip(&args.deltas) {
        if !delta.base.is_layered() {
            eprintln!(
                "warning: {} lacks base-block flag 0x2; reading it as a delta with no layer bits",
                path.display()
            );
        }
    }
    let (tree, options) = if args.fold {
        let folded = deltas
            .iter()
            .fold(base.root.clone(), |acc, d| layers::compose(&acc, &d.root));
        (
            folded,
            WriteOptions::differencing(delta_file_name(&args.output)),
        )
    } else {
        if base.base.is_layered() {
            bail!(
                "{} is a differencing hive; pass the full base hive first (or use --fold)",
                args.base.display()
            );
        }
        let stack: Vec<&Key> = deltas.iter().map(|d| &d.root).collect();
        let merged = layers::merge(&base.root, &stack)
            .context("a delta's root key is a tombstone: the merged hive would have no root")?;
        (merged, WriteOptions::default())
    };
    let bytes = write_hive(&tree, &options).context("writing the merged hive")?;
    write_file(&args.output, &bytes)?;
    Ok(ExitCode::SUCCESS)
}

/// CPU time this thread has used, in milliseconds: unlike wall time it does not grow when a busy
/// machine makes the process wait, so timings stay comparable.
#[cfg(unix)]
fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass, which outlives the call.
    #[allow(unsafe_code)] // the thread's CPU clock has no std API.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6
}
/// Not measured off Unix (shown as NaN, as when the clock fails).
#[cfg(not(unix))]
fn thread_cpu_ms() -> f64 {
    f64::NAN
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    use crate::hive::reader::{check_lh_hashes, scan_cells};
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let (started, cpu_started) = (std::time::Instant::now(), thread_cpu_ms());
    let parsed = read_hive_with(
        &bytes,
        ReadOptions {
            allow_dirty: args.allow_dirty,
        },
    )
    .with_context(|| format!("reading hive {}", args.file.display()))?;
    let (read_time, read_cpu) = (started.elapsed(), thread_cpu_ms() - cpu_started);
    let base = &parsed.base;
    println!(
        "{}: regf {}.{}, {} bytes of hive bins, flags 0x{:x}{}{}",
        args.file.display(),
        base.major,
        base.minor,
        base.hbins_size,
        base.flags,
        if base.is_layered() {
            ", differencing"
        } else {
            ""
        },
        if base.is_dirty() {
            format!(
                ", DIRTY (sequence {} ≠ {})",
                base.primary_seq, base.secondary_seq
            )
        } else {
            String::new()
        }
    );
    let c = scan_cells(&bytes)?;
    println!(
        "cells: {} nk, {} vk, {} sk, {} lf, {} lh, {} li, {} ri, {} db, {} other, {} free in {} bins",
        c.nk, c.vk, c.sk, c.lf, c.lh, c.li, c.ri, c.db, c.other, c.free, c.bins
    );
    println!(
        "tree: {} keys, {} values",
        parsed.root.count_keys(),
        parsed.root.count_values()
    );
    let lh = check_lh_hashes(&bytes)?;
    println!(
        "lh hashes: {} checked, {} wrong",
        lh.checked,
        lh.mismatches.len()
    );
    for (offset, name, stored) in lh.mismatches.iter().take(5) {
        println!("  lh at file offset 0x{offset:x}: {name:?} has hash 0x{stored:08x}");
    }
    print!(
        "read_ms={:.1} read_cpu_ms={read_cpu:.1}",
        read_time.as_secs_f64() * 1000.0
    );
    if let Some(out) = &args.rewrite {
        let options = if base.is_layered() {
            WriteOptions::differencing(delta_file_name(out))
        } else {
            WriteOptions::default()
        };
        let (started, cpu_started) = (std::time::Instant::now(), thread_cpu_ms());
        let written = write_hive(&parsed.root, &options).context("writing the tree back")?;
        let (write_time, write_cpu) = (started.elapsed(), thread_cpu_ms() - cpu_started);
        write_file(out, &written)?;
        print!(
            " write_ms={:.1} write_cpu_ms={write_cpu:.1} written_bytes={}",
            write_time.as_secs_f64() * 1000.0,
            written.len()
        );
    }
    println!();
    // Freeing a large hive's tree key by key costs a fifth of the run; the process exits now.
    std::mem::forget(parsed);
    Ok(ExitCode::SUCCESS)
}
