//! `silo login REGISTRY`: check credentials against the registry (ping, then the Basic or token
//! flow), then store them where the lookup finds them — the configured credential helper
//! (`credHelpers`/`credsStore`), else `auths` in `--authfile`/`REGISTRY_AUTH_FILE`, else docker's
//! `config.json` (`$DOCKER_CONFIG` or `~/.docker`). The password never appears in output.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use registry_client::Reference;

use super::access::{registry_access, RegistryOpts};
use super::Globals;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Registry host[:port] (`docker.io` for Docker Hub).
    pub registry: String,
    #[arg(long, short = 'u')]
    pub username: Option<String>,
    /// Password (prefer --password-stdin: arguments are visible to other users).
    #[arg(long, short = 'p', conflicts_with = "password_stdin")]
    pub password: Option<super::access::Secret>,
    /// Read the password from standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// Store without checking against the registry.
    #[arg(long)]
    pub no_verify: bool,
    #[command(flatten)]
    pub registry_opts: RegistryOpts,
}

/// The registry name as lookups key it, and a reference on it to ping.
pub fn registry_ref(registry: &str) -> Result<(String, Reference)> {
    let host = registry
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let host = host.split('/').next().unwrap_or(host);
    if host.is_empty() {
        bail!("empty registry name");
    }
    let name = registry_client::reference::normalize_registry(&host.to_ascii_lowercase());
    let r = Reference::parse(&format!("{name}/silo/login-check"))?;
    Ok((name, r))
}

pub fn run(_globals: &Globals, args: Args) -> Result<ExitCode> {
    let (name, r) = registry_ref(&args.registry)?;
    let username = match args.username {
        Some(u) => u,
        None => bail!("--username is required (interactive prompts are not supported)"),
    };
    let password = match (args.password, args.password_stdin) {
        (Some(p), _) => p.0,
        (None, true) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from stdin")?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
        (None, false) => bail!("give the password with --password-stdin (or -p)"),
    };
    if !args.no_verify {
        let mut opts = args.registry_opts.clone();
        opts.access.creds = Some(super::access::Secret(format!("{username}:{password}")));
        let progress = opts.progress();
        let client = opts.client(&[&name], progress)?;
        let access = registry_access(client)?;
        access.block_on(access.client.check_login(&r))?;
    }
    let env = args.registry_opts.access.credential_env();
    let place = registry_client::credentials::store(&env, &name, &username, &password)?;
    eprintln!("Login succeeded: {username} on {name} (stored in {place})");
    Ok(ExitCode::SUCCESS)
}
