//! The engine's side of a PowerShell step: `silo __wine-powershell`, executed by the silo's init
//! as the step's process (inside the step's namespaces, with the overlay mounted on `drive_c`),
//! runs the script with silo's PowerShell engine over a [`SiloHost`]:
//! - files: the mounted `drive_c` (the engine maps Windows paths itself);
//! - registry: the prefix's Wine registry files ([`super::registry`]);
//! - native commands: started under Wine through `silo-launch.exe` with the exact command line,
//!   exactly as a cmd step's process is, then wineserver is waited for so the registry files are
//!   current again;
//! - HTTP: reqwest with rustls and the proxy variables the build was started with; refused with
//!   `--network none`.
//!
//! The configuration arrives in one environment variable ([`CONFIG_VAR`], JSON) that the engine
//! removes from what scripts and native commands see.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use powershell::host::{
    AclView, Host, HostError, HttpResponse, NativeRequest, NativeResult, Registry,
};
use serde::{Deserialize, Serialize};

use super::environment::container_environment;
use super::registry::WineFileRegistry;
use crate::error_text::with_causes;
use crate::layer::sd::{self, Sid};
use crate::runtime::wine::commit::descriptor_in_view;
use crate::runtime::wine::launcher::{
    env_block, read_exit_code, unix_path_for_windows, CMDLINE_VAR, ENVFILE_VAR, ENV_BLOCK_BYTES,
    EXITFILE_VAR,
};
use crate::runtime::wine::layers::{set_xattr, SD_XATTR};
use crate::runtime::wine::process::{existing_spelling, owner_sid, workdir_relative};

/// Environment variable carrying [`EngineConfig`] to the engine process.
pub const CONFIG_VAR: &str = "SILO_PWSH_CONFIG";

/// What the engine process needs to know about its silo.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineConfig {
    /// What the step runs: PowerShell command lines, maybe within a cmd line.
    pub routed: super::Routed,
    /// Where the script came from, for messages (`Dockerfile:12`).
    pub origin: String,
    /// The overlay's mount point: drive `C:\`.
    pub drive_c: PathBuf,
    /// The Wine prefix (registry files).
    pub prefix: PathBuf,
    /// `wine64` loader and `silo-launch.exe`.
    pub wine_loader: PathBuf,
    pub launcher: PathBuf,
    /// The Unix environment a Wine process of this silo gets (WINEPREFIX, WINESERVER, …).
    pub wine_env: Vec<(String, String)>,
    /// The step's `ENV` / build args (the image config's Env).
    pub step_env: Vec<(String, String)>,
    /// `C:\…` working directory.
    pub cwd: String,
    pub user: String,
    pub computer_name: String,
    /// False with `--network none`: downloads are refused up front.
    pub network: bool,
    /// HTTP(S)_PROXY / NO_PROXY of the build, for downloads.
    pub proxies: Vec<(String, String)>,
    /// Where the step's full 32-bit exit code goes (4 bytes, little-endian), as
    /// `silo-launch.exe` writes it for a cmd step: a Unix exit status has 8 bits.
    pub exit_file: PathBuf,
    /// The link journal the commit reads (see [`crate::runtime::wine::links`]).
    pub links_file: PathBuf,
}

/// The host of a PowerShell step inside the Wine silo.
pub struct SiloHost {
    config: EngineConfig,
    registry: WineFileRegistry,
    runtime: Option<tokio::runtime::Runtime>,
    client: Option<reqwest::Client>,
}

impl SiloHost {
    pub fn new(config: EngineConfig) -> SiloHost {
        let registry = WineFileRegistry::new(&config.prefix);
        SiloHost {
            config,
            registry,
            runtime: None,
            client: None,
        }
    }

    /// The environment the script starts with (a container process's, see
    /// [`super::environment`]).
    pub fn initial_environment(&mut self) -> Vec<(String, String)> {
        container_environment(
            &mut self.registry,
            &self.config.user,
            &self.config.computer_name,
            &self.config.step_env,
        )
        .0
    }

    /// Writes the engine's pending registry changes to the prefix.
    pub fn finish(&mut self) -> Result<(), HostError> {
        self.registry.flush()
    }

    /// `C:\a\b` → the existing Unix spelling under `drive_c`.
    fn unix_dir(&self, windows: &str) -> Result<PathBuf, HostError> {
        let rel = workdir_relative(windows).map_err(|e| HostError(e.to_string()))?;
        let rel = existing_spelling(std::slice::from_ref(&self.config.drive_c), &rel);
        Ok(if rel.is_empty() {
            self.config.drive_c.clone()
        } else {
            self.config.drive_c.join(rel)
        })
    }

    /// `wine64 silo-launch.exe` for a native command: Wine's own variables in the Unix
    /// environment, the script's environment block in the launcher's environment file (the
    /// launcher sets each variable over what Wine derives, so `PATH` and everything the script
    /// changed reach the program exactly), its full exit code in the exit file.
    fn wine_command(
        &self,
        env: &[(String, String)],
        env_file: &Path,
        exit_file: &Path,
    ) -> Result<Command, HostError> {
        let block = env_block(env).ok_or_else(|| {
            HostError(format!(
                "the environment for the native command has an empty name, a name with `=`, or \
                 is over {ENV_BLOCK_BYTES} bytes"
            ))
        })?;
        std::fs::write(env_file, block)
            .map_err(|e| HostError(format!("writing {}: {e}", env_file.display())))?;
        let _ = std::fs::remove_file(exit_file);
        let mut cmd = Command::new(&self.config.wine_loader);
        cmd.env_clear()
            .envs(self.config.wine_env.iter().cloned())
            .env(ENVFILE_VAR, unix_path_for_windows(env_file))
            .env(EXITFILE_VAR, unix_path_for_windows(exit_file));
        Ok(cmd)
    }

    /// Waits for the silo's wineserver to exit (it saves the registry files when it does).
    fn wait_for_wineserver(&self) {
        if let Some((_, server)) = self.config.wine_env.iter().find(|(k, _)| k == "WINESERVER") {
            let mut cmd = Command::new(server);
            cmd.arg("-w")
                .env_clear()
                .envs(self.config.wine_env.iter().cloned());
            let _ = cmd.stdin(Stdio::null()).stdout(Stdio::null()).status();
        }
    }

    fn http(&mut self) -> Result<(&tokio::runtime::Runtime, reqwest::Client), HostError> {
        if self.runtime.is_none() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| HostError(format!("starting the HTTP client: {e}")))?;
            let mut builder = reqwest::Client::builder()
                .user_agent("Mozilla/5.0 (Windows NT; Windows NT 10.0) WindowsPowerShell/5.1")
                .no_proxy();
            for (k, v) in &self.config.proxies {
                let proxy = match k.to_ascii_lowercase().as_str() {
                    "http_proxy" => reqwest::Proxy::http(v),
                    "https_proxy" => reqwest::Proxy::https(v),
                    "all_proxy" => reqwest::Proxy::all(v),
                    _ => continue,
                }
                .map_err(|e| HostError(format!("{k}={v}: {e}")))?;
                let no_proxy = self
                    .config
                    .proxies
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("no_proxy"))
                    .and_then(|(_, list)| reqwest::NoProxy::from_string(list));
                builder = builder.proxy(proxy.no_proxy(no_proxy));
            }
            let client = builder
                .build()
                .map_err(|e| HostError(format!("starting the HTTP client: {e}")))?;
            self.runtime = Some(rt);
            self.client = Some(client);
        }
        Ok((
            self.runtime.as_ref().expect("set above"),
            self.client.clone().expect("set above"),
        ))
    }
}

impl Host for SiloHost {
    fn stdout(&mut self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    fn stderr(&mut self, text: &str) {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    }

    fn drive_c(&self) -> &Path {
        &self.config.drive_c
    }

    fn registry(&mut self) -> &mut dyn Registry {
        &mut self.registry
    }

    fn run_native(&mut self, req: &NativeRequest) -> Result<NativeResult, HostError> {
        // The native program sees the registry as the script left it, and the script sees what
        // the program changed.
        self.registry.flush()?;
        let cwd = self.unix_dir(&req.cwd)?;
        let exit_file = self.config.exit_file.with_extension("native");
        let env_file = self.config.exit_file.with_extension("env");
        let mut cmd = self.wine_command(&req.env, &env_file, &exit_file)?;
        cmd.arg(&self.config.launcher)
            .env(CMDLINE_VAR, &req.command_line)
            .current_dir(&cwd)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit());
        cmd.stdout(if req.capture_stdout {
            Stdio::piped()
        } else {
            Stdio::inherit()
        });
        let mut child = cmd.spawn().map_err(|e| {
            HostError(format!(
                "starting {} under Wine ({}): {e}",
                req.program,
                self.config.wine_loader.display()
            ))
        })?;
        let mut stdout = Vec::new();
        if let Some(mut pipe) = child.stdout.take() {
            pipe.read_to_end(&mut stdout)
                .map_err(|e| HostError(format!("reading the output of {}: {e}", req.program)))?;
        }
        let status = child
            .wait()
            .map_err(|e| HostError(format!("waiting for {}: {e}", req.program)))?;
        self.wait_for_wineserver();
        let unix_code = status.code().unwrap_or_else(|| {
            128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
        });
        // $LASTEXITCODE gets the full 32-bit code, as on Windows.
        let exit_code = read_exit_code(&exit_file, unix_code);
        Ok(NativeResult { exit_code, stdout })
    }

    fn http_get(
        &mut self,
        url: &str,
        headers: &[(String, String)],
        sink: &mut dyn std::io::Write,
    ) -> Result<HttpResponse, HostError> {
        if !self.config.network {
            return Err(HostError(format!(
                "cannot download {url}: the step runs with --network none"
            )));
        }
        let (rt, client) = self.http()?;
        // Invoke-WebRequest's own progress bar is UI (and usually silenced): the build log gets
        // one line per download instead.
        let started = std::time::Instant::now();
        let mut request = client.get(url);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let result = rt.block_on(async {
            let mut response = request
                .send()
                .await
                .map_err(|e| HostError(format!("{url}: {}", with_causes(&e))))?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let mut bytes = 0u64;
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| HostError(format!("{url}: {}", with_causes(&e))))?
            {
                sink.write_all(&chunk)
                    .map_err(|e| HostError(format!("writing the download of {url}: {e}")))?;
                bytes += chunk.len() as u64;
            }
            Ok::<_, HostError>((HttpResponse { status, headers }, bytes))
        });
        let (response, bytes) = result?;
        let line = format!(
            "silo: GET {url}: HTTP {}, {bytes} bytes in {:.1}s\n",
            response.status,
            started.elapsed().as_secs_f64()
        );
        self.stderr(&line);
        Ok(response)
    }

    fn get_acl(&mut self, path: &Path) -> Result<AclView, HostError> {
        let descriptor = self.descriptor(path)?;
        let parsed = sd::parse(&descriptor).ok_or_else(|| {
            HostError("its security descriptor holds ACEs silo cannot read (object ACEs)".into())
        })?;
        let name = |sid: Option<&Sid>| {
            sid.map(|s| {
                s.account_name()
                    .map_or_else(|| s.to_string(), str::to_string)
            })
            .unwrap_or_default()
        };
        Ok(AclView {
            owner: name(parsed.owner.as_ref()),
            group: name(parsed.group.as_ref()),
            canonical: parsed.dacl_canonical(),
            protected: parsed.dacl_protected(),
            descriptor,
        })
    }

    /// Re-applies an item's own canonical ACL, as a Get-Acl/Set-Acl round trip does on
    /// Windows: the descriptor stays the same and the item is written into the step's layer
    /// (the xattr write copies it up). Anything else would need silo to reproduce how Windows
    /// merges, re-inherits and reorders a changed ACL, so it is refused.
    fn set_acl(&mut self, path: &Path, descriptor: &[u8]) -> Result<(), HostError> {
        let own = self.descriptor(path)?;
        if descriptor != own.as_slice() {
            return Err(HostError(
                "Set-Acl with an ACL other than the item's own (from another item, or changed) \
                 is not supported in the Wine silo: only re-applying an item's own ACL is"
                    .into(),
            ));
        }
        if !sd::parse(&own).is_some_and(|p| p.dacl_canonical()) {
            return Err(HostError(
                "its ACL is not in canonical order, and how Windows would reorder it on Set-Acl \
                 is not reproduced in the Wine silo"
                    .into(),
            ));
        }
        if path.is_symlink() {
            // The commit writes symbolic links without a descriptor; nothing to keep.
            return Ok(());
        }
        set_xattr(path, SD_XATTR, &own)
            .map_err(|e| HostError(format!("recording the descriptor: {e}")))
    }
}

impl SiloHost {
    /// The descriptor the step's layer will record for the item at `path`.
    fn descriptor(&self, path: &Path) -> Result<Vec<u8>, HostError> {
        if path.symlink_metadata().is_err() {
            return Err(HostError("the item does not exist".into()));
        }
        let owner = owner_sid(&self.config.user).map_err(|e| HostError(e.to_string()))?;
        Ok(descriptor_in_view(&self.config.drive_c, path, &owner))
    }
}

/// `silo __wine-powershell`: runs the step's script; returns its exit code (also written to the
/// configuration's exit file).
pub fn engine_main() -> i32 {
    let config = match std::env::var(CONFIG_VAR)
        .map_err(|e| e.to_string())
        .and_then(|s| serde_json::from_str::<EngineConfig>(&s).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("silo: the PowerShell engine was started without its configuration ({CONFIG_VAR}: {e}); it runs only inside a Wine silo");
            return 1;
        }
    };
    let origin = config.origin.clone();
    let drive_c = config.drive_c.clone();
    let routed = config.routed.clone();
    let mut cwd = config.cwd.clone();
    // `pushd`'s directory stack.
    let mut pushed = Vec::new();
    let mut host = SiloHost::new(config);
    let mut env = super::environment::EnvBlock(host.initial_environment());
    // cmd expands %VAR% in the whole line before running any of it.
    let segments = match &routed.cmd_text {
        Some(text) => super::cmdline::split(&env.expand(text)),
        None => routed.segments.clone(),
    };
    let mut last = 0;
    for segment in &segments {
        if !segment.join.runs_after(last) {
            continue;
        }
        last = if super::is_powershell_segment(&segment.text) {
            match super::script_of(&segment.text, &drive_c, &cwd) {
                Ok(invocation) => powershell::interp::run_script(
                    &invocation.script,
                    &origin,
                    &mut host,
                    env.0.clone(),
                    &cwd,
                ),
                Err(e) => {
                    eprintln!("{origin}: {e}");
                    1
                }
            }
        } else {
            run_cmd_segment(&mut host, &segment.text, &mut cwd, &mut pushed, &mut env)
        };
    }
    if let Err(e) = host.finish() {
        eprintln!("silo: saving the registry changes of the script: {e}");
        if last == 0 {
            last = 1;
        }
    }
    // The full code for the runtime (the process's own exit status keeps 8 bits).
    let _ = std::fs::write(&host.config.exit_file, (last as u32).to_le_bytes());
    last
}

/// One non-PowerShell command of a cmd line the engine runs. `cd`/`chdir`, `pushd`/`popd` and
/// `set NAME=value` change the line's state, as they would in the one cmd.exe process; `mklink`
/// is made by silo ([`crate::runtime::wine::links`]); anything else runs in its own
/// `cmd /S /C` under Wine.
fn run_cmd_segment(
    host: &mut SiloHost,
    text: &str,
    cwd: &mut String,
    pushed: &mut Vec<String>,
    env: &mut super::environment::EnvBlock,
) -> i32 {
    let (word, rest) = super::cmdline::program_word(text);
    let rest = rest.trim();
    if word.eq_ignore_ascii_case("cd") || word.eq_ignore_ascii_case("chdir") {
        let target = rest
            .strip_prefix("/d")
            .or_else(|| rest.strip_prefix("/D"))
            .unwrap_or(rest);
        return change_dir(host, target, cwd);
    }
    if word.eq_ignore_ascii_case("pushd") && !rest.is_empty() {
        let before = cwd.clone();
        let code = change_dir(host, rest, cwd);
        if code == 0 {
            pushed.push(before);
        }
        return code;
    }
    if word.eq_ignore_ascii_case("popd") && rest.is_empty() {
        if let Some(dir) = pushed.pop() {
            *cwd = dir;
        }
        return 0;
    }
    if word.eq_ignore_ascii_case("set") && !rest.starts_with('/') {
        if let Some((name, value)) = rest.split_once('=') {
            env.set(name.trim_start_matches('"'), value.trim_end_matches('"'));
            return 0;
        }
    }
    if crate::runtime::wine::links::is_mklink_segment(text) {
        return mklink(host, text, cwd);
    }
    if super::is_mklink_loop(text) {
        return mklink_loop(host, text, cwd, env);
    }
    let request = NativeRequest {
        program: r"C:\Windows\System32\cmd.exe".into(),
        command_line: format!("cmd /S /C \"{text}\""),
        cwd: cwd.clone(),
        env: env.0.clone(),
        capture_stdout: false,
    };
    match host.run_native(&request) {
        Ok(result) => result.exit_code,
        Err(e) => {
            host.stderr(&format!("{e}\r\n"));
            1
        }
    }
}

/// `cd` to `target` (relative to `cwd`, rooted, or `C:\…`), with cmd's error when it is no
/// directory.
fn change_dir(host: &mut SiloHost, target: &str, cwd: &mut String) -> i32 {
    let target = target.trim().trim_matches('"');
    let joined = if target.len() >= 2 && target.as_bytes()[1] == b':' {
        target.to_string()
    } else if let Some(abs) = target.strip_prefix('\\') {
        format!("C:\\{abs}")
    } else {
        format!("{}\\{target}", cwd.trim_end_matches('\\'))
    };
    match host.unix_dir(&joined) {
        Ok(dir) if dir.is_dir() => {
            *cwd = joined;
            0
        }
        _ => {
            host.stderr("The system cannot find the path specified.\r\n");
            1
        }
    }
}

/// A `for` loop whose body is mklink ([`super::cmdfor`]): the values (the set's items, or the
/// lines of a command run under Wine), then the body per value, echoed first as cmd does.
fn mklink_loop(
    host: &mut SiloHost,
    text: &str,
    cwd: &str,
    env: &super::environment::EnvBlock,
) -> i32 {
    use super::cmdfor::{ForLoop, Source};
    let looped = match ForLoop::parse(text) {
        Ok(l) => l,
        Err(e) => {
            host.stderr(&format!("silo: {e}\r\n"));
            return 1;
        }
    };
    let values = match &looped.source {
        Source::Items(items) => items.clone(),
        Source::Command { command, rule } => {
            let request = NativeRequest {
                program: r"C:\Windows\System32\cmd.exe".into(),
                command_line: format!("cmd /S /C \"{command}\""),
                cwd: cwd.to_string(),
                env: env.0.clone(),
                capture_stdout: true,
            };
            match host.run_native(&request) {
                Ok(result) => rule.values(&String::from_utf8_lossy(&result.stdout)),
                Err(e) => {
                    host.stderr(&format!("{e}\r\n"));
                    return 1;
                }
            }
        }
    };
    let mut last = 0;
    for value in values {
        let body = looped.body_for(&value);
        host.stdout(&format!("\r\n{cwd}>{body}\r\n"));
        last = mklink(host, &body, cwd);
    }
    last
}

/// A mklink command: the link made on the step's `C:`, with Windows' output.
fn mklink(host: &mut SiloHost, text: &str, cwd: &str) -> i32 {
    use crate::runtime::wine::links::{Mklink, Place, SYNTAX_ERROR};
    let Some(command) = Mklink::parse(text) else {
        host.stderr(SYNTAX_ERROR);
        return 1;
    };
    let outcome = command.run(&Place {
        drive_c: &host.config.drive_c,
        cwd,
        user: &host.config.user,
        journal: &host.config.links_file,
    });
    host.stdout(&outcome.stdout);
    host.stderr(&outcome.stderr);
    outcome.code
}
