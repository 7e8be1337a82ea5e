//! The `silo` command line: one module per verb, each with its clap arguments and a `run`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod access;
mod base;
mod build;
mod build_check;
mod copy;
mod diff;
mod dockerfile;
mod hive;
mod inspect;
mod layers;
mod login;
mod logout;
mod ls;
mod pipe;
mod progress;
mod prune;
mod pull;
mod push;
mod registry;
mod remote;
mod store;

/// Build, pull, push and inspect Windows container images — no daemon, any host.
#[derive(Debug, Parser)]
#[command(name = "silo", version, about, propagate_version = true)]
pub struct Cli {
    /// State directory for the content store (default: $XDG_DATA_HOME/silo).
    #[arg(long, global = true, env = "SILO_ROOT")]
    pub root: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

// One value per process, parsed once: boxing the larger argument sets would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a Windows image from a Dockerfile.
    Build(build::Args),
    /// Pull an image from a registry.
    Pull(pull::Args),
    /// Push an image to a registry.
    Push(push::Args),
    /// Copy an image between the store, registries, OCI layouts and docker-archives.
    Copy(copy::Args),
    /// Show an image's manifest, config and platform choice.
    Inspect(inspect::Args),
    /// Store credentials for a registry.
    Login(login::Args),
    /// Remove stored credentials for a registry.
    Logout(logout::Args),
    /// List an image's layers.
    Layers(layers::Args),
    /// List files of an image or one layer.
    Ls(ls::Args),
    /// Compare two images: files and registry.
    Diff(diff::Args),
    /// Show the registry of an image or one layer's delta.
    Registry(registry::Args),
    /// List a repository's tags (as `crane ls`, `skopeo list-tags`).
    #[command(visible_alias = "ls-tags")]
    Tags(remote::TagsArgs),
    /// List a registry's repositories (as `crane catalog`).
    Catalog(remote::CatalogArgs),
    /// Delete an image's manifest from its registry (as `crane delete`, `skopeo delete`).
    Delete(remote::DeleteArgs),
    /// Tag an image in its registry without moving blobs (as `crane tag`).
    Tag(remote::TagArgs),
    /// Print an image's manifest digest (as `crane digest`).
    Digest(remote::DigestArgs),
    /// Make base images.
    #[command(subcommand)]
    Base(base::Command),
    /// Read, diff and merge registry hive files.
    #[command(subcommand)]
    Hive(hive::Command),
    /// Parse and check Dockerfiles.
    #[command(subcommand)]
    Dockerfile(dockerfile::Command),
    /// Maintain the content store.
    #[command(subcommand)]
    Store(store::Command),
    /// Remove store content no ref or cache record uses.
    Prune(prune::Args),
    /// Runs a PowerShell RUN step with silo's engine; the Wine silo starts it as the step's
    /// process (not for direct use).
    #[cfg(target_os = "linux")]
    #[command(name = "__wine-powershell", hide = true)]
    WinePowershell,
}

/// Context every verb gets.
#[derive(Debug, Clone)]
pub struct Globals {
    pub root: Option<std::path::PathBuf>,
}

/// Entry point of the binary: parse, dispatch, print errors with their causes.
pub fn main() -> ExitCode {
    pipe::install();
    let cli = Cli::parse();
    init_tracing();
    // A relative --root/SILO_ROOT names the same directory wherever a runtime later runs
    // (Wine refuses a relative WINEPREFIX; a silo changes its working directory).
    let root = cli.root.map(|r| std::path::absolute(&r).unwrap_or(r));
    let globals = Globals { root };
    let result = match cli.command {
        Command::Build(a) => build::run(&globals, a),
        Command::Pull(a) => pull::run(&globals, a),
        Command::Push(a) => push::run(&globals, a),
        Command::Copy(a) => copy::run(&globals, a),
        Command::Inspect(a) => inspect::run(&globals, a),
        Command::Login(a) => login::run(&globals, a),
        Command::Logout(a) => logout::run(&globals, a),
        Command::Layers(a) => layers::run(&globals, a),
        Command::Ls(a) => ls::run(&globals, a),
        Command::Diff(a) => diff::run(&globals, a),
        Command::Registry(a) => registry::run(&globals, a),
        Command::Tags(a) => remote::tags(&globals, a),
        Command::Catalog(a) => remote::catalog(&globals, a),
        Command::Delete(a) => remote::delete(&globals, a),
        Command::Tag(a) => remote::tag(&globals, a),
        Command::Digest(a) => remote::digest(&globals, a),
        Command::Base(c) => base::run(&globals, c),
        Command::Hive(c) => hive::run(&globals, c),
        Command::Dockerfile(c) => dockerfile::run(&globals, c),
        Command::Store(c) => store::run(&globals, c),
        Command::Prune(a) => prune::run(&globals, a),
        #[cfg(target_os = "linux")]
        Command::WinePowershell => {
            // The full code went to the step's exit file; the status only has to agree with it
            // on success or failure (a code like 256 must not read as 0).
            let code = crate::runtime::wine::pwsh::host::engine_main();
            return match code {
                0 => ExitCode::SUCCESS,
                c => ExitCode::from(u8::try_from(c & 0xff).ok().filter(|&b| b != 0).unwrap_or(1)),
            };
        }
    };
    match result {
        Ok(code) => code,
        Err(_) if pipe::stdout_reader_gone() => pipe::die_of_sigpipe(),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SILO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
