//! `silo store`: not implemented yet (issue 5).

use std::process::ExitCode;

use super::Globals;

#[derive(Debug, clap::Subcommand)]
pub enum Command {}

pub fn run(_globals: &Globals, command: Command) -> anyhow::Result<ExitCode> {
    match command {}
}
