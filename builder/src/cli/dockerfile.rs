//! `silo dockerfile`: not implemented yet (issue 2).

use std::process::ExitCode;

use super::Globals;

#[derive(Debug, clap::Subcommand)]
pub enum Command {}

pub fn run(_globals: &Globals, command: Command) -> anyhow::Result<ExitCode> {
    match command {}
}
