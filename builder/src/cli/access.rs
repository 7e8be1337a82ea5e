//! How the CLI reaches registries: the flags every command that talks to one takes (credentials,
//! TLS, concurrency, foreign-URL policy, platform choice), `copy`'s per-side credentials
//! (`--src-creds`/`--dest-creds`), registries.conf (mirrors, blocked and insecure registries),
//! the `registry_client::Client` they build, and the registry access (client + the one tokio
//! runtime) a command's transfers run on.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use registry_client::credentials::CredentialEnv;
use registry_client::registries_conf::RegistriesConf;
use registry_client::{
    Client, ClientConfig, Credential, CredentialSource, DefaultCredentials, Isolation, OsVersion,
    PlatformRequest, Progress, Reference,
};

use super::progress::{CliProgress, ProgressMode};
use crate::store::registry_source::RegistryAccess;

/// A secret from the command line; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// How to reach and authenticate to registries: the flags every command that talks to a
/// registry takes (the transfer verbs, and `build`/`layers`/`ls`/`registry`/`diff` for registry
/// bases and refs).
#[derive(Debug, Clone, clap::Args)]
pub struct AccessOpts {
    /// Credentials for the registry (overrides stored ones): USER:PASS, or USER alone to be
    /// asked for the password on the terminal.
    #[arg(
        long,
        value_name = "USER[:PASS]",
        env = "SILO_CREDS",
        hide_env_values = true
    )]
    pub creds: Option<Secret>,
    /// Auth file to read (and for login, write) instead of the default lookup.
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Verify TLS certificates; `false` also allows plain HTTP.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub tls_verify: bool,
    /// Directory of CA certificates to trust: `*.crt` in it or in its `HOST[:PORT]/` folders
    /// (containers' and docker's certs.d layout). /etc/docker/certs.d and
    /// /etc/containers/certs.d are read too, and SSL_CERT_FILE / SSL_CERT_DIR.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// A CA certificate (PEM) to trust; may be repeated.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,
}

impl AccessOpts {
    /// The credential environment, honouring `--authfile`.
    pub fn credential_env(&self) -> CredentialEnv {
        let mut env = CredentialEnv::from_process();
        env.authfile_flag = self.authfile.clone();
        env
    }

    /// `--creds` as a credential.
    pub fn explicit_credential(&self) -> Result<Option<Credential>> {
        self.creds
            .as_ref()
            .map(|c| parse_creds("--creds", c))
            .transpose()
    }

    /// A client configuration with these flags' TLS settings and the registries.conf of the
    /// environment (read here, so a broken file fails every registry command, naming it).
    fn client_config(&self) -> Result<ClientConfig> {
        Ok(ClientConfig {
            tls_verify: self.tls_verify,
            ca_certs: self.ca_certs()?,
            registries: Arc::new(RegistriesConf::load_default()?),
            ..ClientConfig::default()
        })
    }

    /// `--ca-cert` files plus the `*.crt` files of `--cert-dir`.
    pub fn ca_certs(&self) -> Result<Vec<PathBuf>> {
        let mut ca = self.ca_cert.clone();
        if let Some(dir) = &self.cert_dir {
            ca.extend(
                certs_d_cas(dir)
                    .with_context(|| format!("reading --cert-dir {}", dir.display()))?,
            );
        }
        // Docker's and containers' own certs.d, where a user has already put a registry's CA.
        for dir in ["/etc/docker/certs.d", "/etc/containers/certs.d"] {
            let dir = std::path::Path::new(dir);
            if dir.is_dir() {
                ca.extend(certs_d_cas(dir).with_context(|| format!("reading {}", dir.display()))?);
            }
        }
        // OpenSSL's variables, which curl, Python and Go programs honour too.
        if let Some(file) = std::env::var_os("SSL_CERT_FILE").filter(|f| !f.is_empty()) {
            ca.push(PathBuf::from(file));
        }
        if let Some(dirs) = std::env::var_os("SSL_CERT_DIR") {
            for dir in std::env::split_paths(&dirs).filter(|d| d.is_dir()) {
                for e in std::fs::read_dir(&dir)
                    .with_context(|| format!("reading SSL_CERT_DIR {}", dir.display()))?
                    .flatten()
                {
                    let p = e.path();
                    if p.is_file() && p.extension().is_some_and(|x| x == "crt" || x == "pem") {
                        ca.push(p);
                    }
                }
            }
        }
        Ok(ca)
    }

    /// Credentials: `--creds` for `registries`, else the documented file lookup.
    pub fn credentials(&self, registries: &[&str]) -> Result<DefaultCredentials> {
        let mut creds = DefaultCredentials::new(self.credential_env());
        if let Some(c) = self.explicit_credential()? {
            for r in registries {
                creds = creds.with_explicit(r, c.clone());
            }
        }
        Ok(creds)
    }

    /// A client with default transfer settings, for commands whose registries are known only
    /// while they run (`build` bases and pushes, inspection refs): `--creds` applies to every
    /// registry the command reaches.
    pub fn client(&self, progress: Arc<dyn Progress>) -> Result<Arc<Client>> {
        let cfg = self.client_config()?;
        let creds = EveryRegistry {
            explicit: self.explicit_credential()?,
            stored: DefaultCredentials::new(self.credential_env()),
        };
        Ok(Arc::new(Client::new(cfg, Arc::new(creds), progress)?))
    }
}

impl AccessOpts {
    /// The command's registry access with these flags, for the lazy registry source (build
    /// bases, inspection refs), the build's push and its remote cache; `progress` shows their
    /// blob transfers.
    pub fn use_for_registry_refs(&self, progress: ProgressMode) -> Result<Arc<RegistryAccess>> {
        registry_access(self.client(Arc::new(CliProgress::new(progress)))?)
    }
}

/// `--creds` for whichever registry asks, else the stored credentials.
struct EveryRegistry {
    explicit: Option<Credential>,
    stored: DefaultCredentials,
}

impl CredentialSource for EveryRegistry {
    fn credential(
        &self,
        registry: &str,
        repository: &str,
    ) -> registry_client::Result<Option<Credential>> {
        match &self.explicit {
            Some(c) => Ok(Some(c.clone())),
            None => self.stored.credential(registry, repository),
        }
    }
}

/// `copy`'s credentials for one side, skopeo's spelling: they override `--creds` and the auth
/// files for that side's registry only.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SideCredsOpts {
    /// Credentials for the source registry: USER:PASS, or USER alone to be asked for the
    /// password on the terminal.
    #[arg(long, value_name = "USER[:PASS]", conflicts_with = "src_no_creds")]
    pub src_creds: Option<Secret>,
    /// Read the source anonymously: no --creds, no auth files.
    #[arg(long)]
    pub src_no_creds: bool,
    /// Credentials for the destination registry: USER:PASS, or USER alone to be asked for the
    /// password on the terminal.
    #[arg(long, value_name = "USER[:PASS]", conflicts_with = "dest_no_creds")]
    pub dest_creds: Option<Secret>,
    /// Write to the destination anonymously: no --creds, no auth files.
    #[arg(long)]
    pub dest_no_creds: bool,
}

impl SideCredsOpts {
    /// The source's credential: `Some(None)` anonymous, `None` not given (the defaults apply).
    pub fn source(&self) -> Result<Option<Option<Credential>>> {
        side("--src-creds", &self.src_creds, self.src_no_creds)
    }

    /// The destination's, as [`SideCredsOpts::source`].
    pub fn dest(&self) -> Result<Option<Option<Credential>>> {
        side("--dest-creds", &self.dest_creds, self.dest_no_creds)
    }
}

fn side(flag: &str, creds: &Option<Secret>, anonymous: bool) -> Result<Option<Option<Credential>>> {
    match creds {
        Some(c) => Ok(Some(Some(parse_creds(flag, c)?))),
        None if anonymous => Ok(Some(None)),
        None => Ok(None),
    }
}

/// `USER:PASS`, or `USER` alone: then the password is asked on the terminal, and without one
/// (CI, a pipe) the command fails naming `flag` instead of waiting or going on anonymously.
pub fn parse_creds(flag: &str, Secret(text): &Secret) -> Result<Credential> {
    let (username, password) = match text.split_once(':') {
        Some((u, p)) => (u.to_string(), p.to_string()),
        None => (text.clone(), ask_password(flag, text)?),
    };
    if username.is_empty() {
        anyhow::bail!("{flag}: the user name is empty (expected USER[:PASS])");
    }
    Ok(Credential::Basic { username, password })
}

/// Reads a password from the terminal without echoing it.
fn ask_password(flag: &str, user: &str) -> Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!(
            "{flag} {user}: no password given and standard input is not a terminal to ask for \
             one; give {flag} {user}:PASSWORD"
        );
    }
    eprint!("Password for {user} ({flag}): ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    let read = {
        let _echo_off = terminal_echo::off()?;
        stdin.lock().read_line(&mut line)
    };
    eprintln!();
    read.context("reading the password from the terminal")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Turning the terminal's echo off while a password is typed (restored on drop).
#[cfg(unix)]
#[allow(unsafe_code)] // termios calls on stdin: the only way to stop the terminal echoing
mod terminal_echo {
    pub struct Off(libc::termios);

    pub fn off() -> std::io::Result<Off> {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a termios the call fills in.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            t.c_lflag |= libc::ECHONL;
            if libc::tcsetattr(0, libc::TCSANOW, &t) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(Off(saved))
        }
    }

    impl Drop for Off {
        fn drop(&mut self) {
            // SAFETY: restores the attributes read by `off`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &self.0);
            }
        }
    }
}

/// Elsewhere (Windows) the password is not asked for: the flag must carry it.
#[cfg(not(unix))]
mod terminal_echo {
    pub struct Off;

    pub fn off() -> anyhow::Result<Off> {
        anyhow::bail!("asking for a password is not supported here; give USER:PASSWORD")
    }
}

/// Per-image credentials first (exact registry and repository), else `fallback`.
struct PerImage {
    images: Vec<(Reference, Option<Credential>)>,
    fallback: DefaultCredentials,
}

impl CredentialSource for PerImage {
    fn credential(
        &self,
        registry: &str,
        repository: &str,
    ) -> registry_client::Result<Option<Credential>> {
        match self
            .images
            .iter()
            .find(|(r, _)| r.registry() == registry && r.repository() == repository)
        {
            Some((_, c)) => Ok(c.clone()),
            None => self.fallback.credential(registry, repository),
        }
    }
}

/// Flags every registry verb takes.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryOpts {
    #[command(flatten)]
    pub access: AccessOpts,
    /// Blobs transferred at once.
    #[arg(long, short = 'j', default_value_t = 6, value_name = "N")]
    pub jobs: usize,
    /// Attempts per request before giving up.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub retries: u32,
    /// Seconds without data before a transfer counts as stalled and is resumed.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub stall_timeout: u64,
    /// Connections for one large blob (parallel ranges; default 4, and not for loopback
    /// registries unless given); 1 disables ranged downloads.
    #[arg(long, value_name = "N")]
    pub range_connections: Option<usize>,
    /// Blob size (MiB) from which ranged downloads are used.
    #[arg(long, default_value_t = 128, value_name = "MIB")]
    pub range_threshold_mib: u64,
    /// Allow foreign-layer URLs on private or loopback addresses.
    #[arg(long, env = "SILO_ALLOW_PRIVATE_URLS", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    pub allow_nondistributable_from_private: bool,
    /// Upload blobs in chunks of this many KiB (for proxies that limit request bodies); by
    /// default one streaming upload per blob, chunks only when the registry refuses it.
    #[arg(long, value_name = "KIB")]
    pub chunk_size_kib: Option<u64>,
    /// Progress display: auto, tty, plain or quiet (none).
    #[arg(long, default_value = "auto", value_parser = ProgressMode::for_transfers)]
    pub progress: ProgressMode,
}

impl RegistryOpts {
    /// A client for `registries` (the ones `--creds` applies to).
    pub fn client(&self, registries: &[&str], progress: Arc<CliProgress>) -> Result<Arc<Client>> {
        let cfg = self.client_config()?;
        let creds = self.access.credentials(registries)?;
        Ok(Arc::new(Client::new(cfg, Arc::new(creds), progress)?))
    }

    /// A client for a copy from `source` to `dest` (either may be local, `None`): each side's
    /// registry gets `sides`' credentials for it (`--src-creds`, `--src-no-creds`, …), the
    /// pull sources registries.conf gives the source (its mirrors) included; without them
    /// `--creds` and the auth files apply as for any command.
    pub fn client_for_copy(
        &self,
        source: Option<&Reference>,
        dest: Option<&Reference>,
        sides: &SideCredsOpts,
        progress: Arc<CliProgress>,
    ) -> Result<Arc<Client>> {
        let cfg = self.client_config()?;
        let mut images = Vec::new();
        if let (Some(r), Some(auth)) = (source, sides.source()?) {
            for s in cfg.registries.pull_sources(r)? {
                images.push((s.reference, auth.clone()));
            }
        }
        if let (Some(r), Some(auth)) = (dest, sides.dest()?) {
            images.push((cfg.registries.push_target(r)?, auth));
        }
        let registries: Vec<&str> = source
            .iter()
            .chain(dest.iter())
            .map(|r| r.registry())
            .collect();
        let creds = PerImage {
            images,
            fallback: self.access.credentials(&registries)?,
        };
        Ok(Arc::new(Client::new(cfg, Arc::new(creds), progress)?))
    }

    fn client_config(&self) -> Result<ClientConfig> {
        Ok(ClientConfig {
            max_attempts: self.retries.max(1),
            stall_timeout: Duration::from_secs(self.stall_timeout.max(1)),
            concurrency: self.jobs.max(1),
            range_connections: self.range_connections.unwrap_or(4).max(1),
            ranges_on_loopback: self.range_connections.is_some(),
            range_threshold: self.range_threshold_mib.max(1) << 20,
            allow_private_urls: self.allow_nondistributable_from_private,
            chunk_size: self.chunk_size_kib.map(|k| k.max(1) << 10),
            ..self.access.client_config()?
        })
    }

    pub fn progress(&self) -> Arc<CliProgress> {
        Arc::new(CliProgress::new(self.progress))
    }
}

/// Platform flags of pull/inspect/copy.
#[derive(Debug, Clone, clap::Args)]
pub struct PlatformOpts {
    /// Platform to select from an index: os/arch[/variant][:os.version] (default windows/amd64).
    /// Given explicitly, a single-platform image of another platform is refused, as docker does.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Require this os.version prefix (e.g. 10.0.20348 or 10.0.20348.2700).
    #[arg(long, value_name = "VERSION")]
    pub os_version: Option<String>,
    /// Select what runs on this Windows host build (default: this host, on Windows).
    #[arg(long, value_name = "VERSION")]
    pub host_os_version: Option<String>,
    /// Isolation the image will run with (decides build compatibility with the host).
    #[arg(long, value_enum, default_value_t = IsolationArg::Process)]
    pub isolation: IsolationArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IsolationArg {
    Process,
    Hyperv,
}

impl PlatformOpts {
    /// With an explicit `--platform`, a single-platform image must be of that platform (docker's
    /// "does not match the specified platform"); without one any single image is taken.
    pub fn check_single_image(&self, want: &PlatformRequest, config: &[u8]) -> Result<()> {
        match &self.platform {
            Some(_) => check_single_platform(want, config),
            None => Ok(()),
        }
    }

    pub fn request(&self) -> Result<PlatformRequest> {
        let mut req = PlatformRequest::parse(self.platform.as_deref().unwrap_or("windows/amd64"))?;
        if let Some(v) = &self.os_version {
            req.os_version = Some(OsVersion::parse(v).with_context(|| {
                format!("--os-version {v:?}: expected major.minor.build[.revision]")
            })?);
        }
        req.host = match &self.host_os_version {
            Some(v) => Some(OsVersion::parse(v).with_context(|| {
                format!("--host-os-version {v:?}: expected major.minor.build[.revision]")
            })?),
            None if req.os == "windows" && req.os_version.is_none() => {
                registry_client::platform::host_os_version()
            }
            None => None,
        };
        req.isolation = match self.isolation {
            IsolationArg::Process => Isolation::Process,
            IsolationArg::Hyperv => Isolation::HyperV,
        };
        Ok(req)
    }
}

/// A single-platform image (its `config` bytes) asked for with an explicit `--platform want`
/// must be of that platform (docker's "does not match the specified platform"); the one check of
/// pull, inspect and copy.
pub fn check_single_platform(want: &PlatformRequest, config: &[u8]) -> Result<()> {
    want.check_single_image(config)
        .map_err(|e| anyhow::anyhow!("--platform {want}: {e}"))
}

/// The command's registry access: `client` on the command's one tokio runtime. The verb hands it
/// down to everything that reaches a registry (for a build: the lazy registry bases, the remote
/// cache and the push), so a command never starts a second runtime.
pub fn registry_access(client: Arc<Client>) -> Result<Arc<RegistryAccess>> {
    Ok(Arc::new(RegistryAccess::new(client)?))
}

/// The CA certificates of a certs.d directory: its own `*.crt` (a flat folder, as `--cert-dir`
/// has always taken) and those of its `HOST[:PORT]/` folders, the layout docker and containers
/// use. Every one is trusted for every registry (rustls takes one set of roots per client).
/// A host folder with a client certificate (`*.cert`/`*.key`, mutual TLS) is refused: silo does
/// not present client certificates, and the registry would refuse it later less clearly.
fn certs_d_cas(dir: &std::path::Path) -> Result<Vec<PathBuf>> {
    let mut ca = Vec::new();
    for e in std::fs::read_dir(dir)?.flatten() {
        let p = e.path();
        if p.is_dir() {
            for f in std::fs::read_dir(&p)?.flatten() {
                let f = f.path();
                match f.extension().and_then(|x| x.to_str()) {
                    Some("crt") => ca.push(f),
                    Some("cert") | Some("key") => anyhow::bail!(
                        "{}: client certificates (mutual TLS) are not supported; remove it or \
                         use a registry that does not ask for one",
                        f.display()
                    ),
                    _ => {}
                }
            }
        } else if p.extension().is_some_and(|x| x == "crt") {
            ca.push(p);
        }
    }
    ca.sort();
    Ok(ca)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_flags_hides_creds() {
        use clap::Parser;
        #[derive(Debug, clap::Parser)]
        struct T {
            #[command(flatten)]
            o: RegistryOpts,
        }
        let t = T::parse_from(["t", "--creds", "user:hunter2"]);
        assert!(!format!("{t:?}").contains("hunter2"));
        assert_eq!(
            t.o.access.explicit_credential().unwrap(),
            Some(Credential::Basic {
                username: "user".into(),
                password: "hunter2".into()
            })
        );
    }
}
