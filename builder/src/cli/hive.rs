//! `silo hive`: not implemented yet (issue 4).

use std::process::ExitCode;

use super::Globals;

#[derive(Debug, clap::Subcommand)]
pub enum Command {}

pub fn run(_globals: &Globals, command: Command) -> anyhow::Result<ExitCode> {
    match command {}
}
