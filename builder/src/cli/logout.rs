//! `silo logout REGISTRY`: remove stored credentials for a registry from the place `silo login`
//! writes (credential helper, `--authfile`/`REGISTRY_AUTH_FILE`, or docker's `config.json`).

use std::process::ExitCode;

use anyhow::Result;

use super::access::RegistryOpts;
use super::login::registry_ref;
use super::Globals;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Registry host[:port].
    pub registry: String,
    #[command(flatten)]
    pub registry_opts: RegistryOpts,
}

pub fn run(_globals: &Globals, args: Args) -> Result<ExitCode> {
    let (name, _) = registry_ref(&args.registry)?;
    let env = args.registry_opts.access.credential_env();
    if registry_client::credentials::erase(&env, &name)? {
        eprintln!("Removed login credentials for {name}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("Not logged in to {name}");
        Ok(ExitCode::FAILURE)
    }
}
