//! `silo build`: not implemented yet (issue 6).

use std::process::ExitCode;

use super::Globals;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_globals: &Globals, _args: Args) -> anyhow::Result<ExitCode> {
    super::not_yet("build", 6)
}
