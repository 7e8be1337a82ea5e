//! `silo dockerfile`: look at Dockerfiles without building them.
//! - `dump FILE` prints BuildKit's AST dump (`Node.Dump()`), byte for byte.
//! - `check FILE…` parses, resolves stages and args, expands and validates every instruction
//!   (Windows path rules included), runs BuildKit's lint rules and checks the build context;
//!   prints `FILE:LINE: ERROR|WARNING: …` and exits 1 when any file has errors.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::Globals;
use crate::dockerfile::check::{check_file, Severity};
use crate::dockerfile::shell::HostMode;
use crate::dockerfile::stages::{BuildOptions, Platform};
use crate::dockerfile::winpath::PathMode;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the parsed AST in BuildKit's dump format.
    Dump {
        /// The Dockerfile.
        file: PathBuf,
    },
    /// Parse, expand and validate Dockerfiles; report errors and lint warnings with file:line.
    Check(CheckArgs),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum HostArg {
    /// Case-sensitive environment keys (BuildKit running on Linux).
    Linux,
    /// Case-insensitive environment keys (BuildKit compiled for Windows).
    Windows,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PathArg {
    /// BuildKit: WorkingDir `\app`, destinations without drive letter.
    Buildkit,
    /// Classic docker builder: WorkingDir `C:\app`.
    Classic,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Dockerfiles to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Build-time variable (`KEY=value`, or `KEY` to take the value from the environment).
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Target platform.
    #[arg(long, default_value = "windows/amd64")]
    pub platform: String,
    /// Stage to build (default: the last one).
    #[arg(long)]
    pub target: Option<String>,
    /// Build context directory (default: each Dockerfile's directory).
    #[arg(long)]
    pub context: Option<PathBuf>,
    /// Which BuildKit host to emulate for environment-key case.
    #[arg(long, value_enum, default_value = "linux")]
    pub host_mode: HostArg,
    /// Windows path conventions.
    #[arg(long, value_enum, default_value = "buildkit")]
    pub path_mode: PathArg,
    /// Also report, per RUN step and without running anything, whether this runtime can run it
    /// (`wine`: cmd steps under Wine, PowerShell steps in silo's engine) and if not, why.
    #[arg(long, value_enum)]
    pub runtime: Option<CheckRuntime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckRuntime {
    /// The Wine silo (Linux).
    Wine,
}

pub fn run(_globals: &Globals, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Dump { file } => dump(&file),
        Command::Check(args) => check(&args),
    }
}

fn dump(file: &PathBuf) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let parsed = match crate::dockerfile::parse(&bytes) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{}:{}: ERROR: {}", file.display(), e.start_line, e.message);
            return Ok(ExitCode::FAILURE);
        }
    };
    eprint!("{}", parsed.warnings_text());
    let mut out = std::io::stdout().lock();
    out.write_all(parsed.ast.dump().as_bytes())?;
    out.write_all(b"\n")?;
    Ok(ExitCode::SUCCESS)
}

fn build_options(args: &CheckArgs) -> anyhow::Result<BuildOptions> {
    let mut build_args = BTreeMap::new();
    for arg in &args.build_args {
        match arg.split_once('=') {
            Some((k, v)) => {
                build_args.insert(k.to_string(), v.to_string());
            }
            None => {
                if let Ok(v) = std::env::var(arg) {
                    build_args.insert(arg.clone(), v);
                }
            }
        }
    }
    let target_platform =
        Platform::parse(&args.platform).map_err(|e| anyhow::anyhow!("--platform: {e}"))?;
    Ok(BuildOptions {
        build_args,
        target_platform,
        host: match args.host_mode {
            HostArg::Linux => HostMode::Linux,
            HostArg::Windows => HostMode::Windows,
        },
        path_mode: match args.path_mode {
            PathArg::Buildkit => PathMode::BuildKit,
            PathArg::Classic => PathMode::Classic,
        },
        target: args.target.clone(),
        ..BuildOptions::default()
    })
}

fn check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let opts = build_options(args)?;
    let mut failed = false;
    let mut out = std::io::stdout().lock();
    for file in &args.files {
        let report = check_file(file, args.context.as_deref(), &opts);
        for d in &report.diagnostics {
            let place = match d.line {
                Some(line) => format!("{}:{line}", file.display()),
                None => file.display().to_string(),
            };
            let (level, rule) = match (d.severity, d.rule) {
                (Severity::Error, Some(rule)) => ("ERROR", format!("{rule} - ")),
                (Severity::Error, None) => ("ERROR", String::new()),
                (Severity::Warning, Some(rule)) => ("WARNING", format!("{rule} - ")),
                (Severity::Warning, None) => ("WARNING", String::new()),
            };
            writeln!(out, "{place}: {level}: {rule}{}", d.message)?;
        }
        let mut refused = 0;
        if args.runtime == Some(CheckRuntime::Wine) {
            refused = report_wine_runs(&mut out, file, &report.runs)?;
        }
        let errors = report.errors() + refused;
        if errors > 0 {
            failed = true;
            writeln!(
                out,
                "{}: FAILED ({errors} error(s), {} warning(s))",
                file.display(),
                report.warnings()
            )?;
        } else {
            writeln!(
                out,
                "{}: OK ({} stage(s), {} instruction(s), {} warning(s))",
                file.display(),
                report.stages,
                report.instructions,
                report.warnings()
            )?;
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints the Wine silo's verdict for every RUN step and a summary; returns how many it refuses.
#[cfg(target_os = "linux")]
fn report_wine_runs(
    out: &mut dyn Write,
    file: &std::path::Path,
    runs: &[crate::dockerfile::check::RunInfo],
) -> anyhow::Result<usize> {
    use crate::runtime::wine::pwsh::{verdict, Verdict};
    let (mut ps, mut ps_ok, mut cmd, mut cmd_ok) = (0, 0, 0, 0);
    for run in runs {
        let place = format!("{}:{}", file.display(), run.line);
        match verdict(&run.command_line) {
            Verdict::Wine => {
                cmd += 1;
                cmd_ok += 1;
                writeln!(out, "{place}: RUN (cmd): runs under Wine")?;
            }
            Verdict::PowerShell => {
                ps += 1;
                ps_ok += 1;
                writeln!(out, "{place}: RUN (PowerShell): supported by silo's engine")?;
            }
            Verdict::PowerShellFile => {
                ps += 1;
                ps_ok += 1;
                writeln!(
                    out,
                    "{place}: RUN (PowerShell script file): the script file comes from the image; checked when the step runs"
                )?;
            }
            Verdict::Refused { powershell, reason } => {
                if powershell {
                    ps += 1;
                } else {
                    cmd += 1;
                }
                let kind = if powershell { "PowerShell" } else { "cmd" };
                writeln!(
                    out,
                    "{place}: ERROR: RUN ({kind}) cannot run in the Wine silo: {reason}"
                )?;
            }
        }
    }
    writeln!(
        out,
        "{}: wine: {ps_ok}/{ps} PowerShell RUN step(s) and {cmd_ok}/{cmd} other RUN step(s) can run",
        file.display()
    )?;
    Ok(ps + cmd - ps_ok - cmd_ok)
}

#[cfg(not(target_os = "linux"))]
fn report_wine_runs(
    _out: &mut dyn Write,
    _file: &std::path::Path,
    _runs: &[crate::dockerfile::check::RunInfo],
) -> anyhow::Result<usize> {
    anyhow::bail!("--runtime wine: the Wine silo runs on Linux hosts only")
}
