//! Where credentials come from, in this order (first hit wins; documented in docs/registry.md):
//! 1. `--creds user:pass` (the caller passes it directly; not handled here);
//! 2. `--authfile FILE`: the search stops there; `REGISTRY_AUTH_FILE`: when that file exists the
//!    search stops there (containers/image), a missing one is passed over;
//! 3. `DOCKER_AUTH_CONFIG` (inline docker-config JSON, the CI convention);
//! 4. `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`;
//! 5. `$XDG_RUNTIME_DIR/containers/auth.json`;
//! 6. `$XDG_CONFIG_HOME/containers/auth.json` (default `~/.config/containers/auth.json`);
//! 7. `~/.dockercfg` (the legacy flat format);
//! 8. anonymous.
//!
//! Within one file: `credHelpers[host]`, then `credsStore`, then `auths` — where a key may be a host,
//! `host/namespace` or `host/namespace/repo` (the most specific wins) and Docker Hub's key is
//! `https://index.docker.io/v1/`. Helpers are `docker-credential-<name>` executables speaking the
//! get/store/erase protocol on stdin/stdout. `login`/`logout` write the same places back.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::{Map, Value};

use crate::auth::Credential;
use crate::error::{Error, Result};
use crate::reference::DOCKER_HUB;

/// Docker Hub's key in config files and the server URL helpers expect.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The environment the lookup reads, captured once so tests can point it at temp dirs.
/// `Debug` hides `DOCKER_AUTH_CONFIG` (it holds secrets).
#[derive(Clone, Default)]
pub struct CredentialEnv {
    /// `--authfile`: read only this file, and write logins to it.
    pub authfile_flag: Option<PathBuf>,
    pub registry_auth_file: Option<PathBuf>,
    pub docker_auth_config: Option<String>,
    pub docker_config_dir: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

impl std::fmt::Debug for CredentialEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialEnv")
            .field("authfile_flag", &self.authfile_flag)
            .field("registry_auth_file", &self.registry_auth_file)
            .field(
                "docker_auth_config",
                &self.docker_auth_config.as_ref().map(|_| "<redacted>"),
            )
            .field("docker_config_dir", &self.docker_config_dir)
            .field("xdg_runtime_dir", &self.xdg_runtime_dir)
            .field("xdg_config_home", &self.xdg_config_home)
            .field("home", &self.home)
            .finish()
    }
}

impl CredentialEnv {
    /// Read the real process environment.
    pub fn from_process() -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        CredentialEnv {
            authfile_flag: None,
            registry_auth_file: var("REGISTRY_AUTH_FILE").map(PathBuf::from),
            docker_auth_config: std::env::var("DOCKER_AUTH_CONFIG")
                .ok()
                .filter(|v| !v.is_empty()),
            docker_config_dir: var("DOCKER_CONFIG").map(PathBuf::from),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from),
            xdg_config_home: var("XDG_CONFIG_HOME").map(PathBuf::from),
            home: var("HOME")
                .or_else(|| var("USERPROFILE"))
                .map(PathBuf::from),
        }
    }

    /// The docker config file (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`).
    pub fn docker_config_path(&self) -> Option<PathBuf> {
        self.docker_config_dir
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".docker")))
            .map(|d| d.join("config.json"))
    }

    /// The file `login`/`logout` write: `--authfile` when given, else docker's config.json.
    pub fn write_target(&self) -> Option<PathBuf> {
        self.authfile_flag
            .clone()
            .or_else(|| self.docker_config_path())
    }
}

/// Where a credential was found (shown with `--debug`-level logs; never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub credential: Credential,
    pub source: String,
}

/// Find credentials for `registry` (as written in references, e.g. `docker.io`, `host:5000`) and
/// `repository`. `Ok(None)` means anonymous.
pub fn lookup(env: &CredentialEnv, registry: &str, repository: &str) -> Result<Option<Found>> {
    if let Some(path) = &env.authfile_flag {
        return from_file(path, registry, repository);
    }
    if let Some(path) = env.registry_auth_file.as_ref().filter(|p| p.exists()) {
        // An existing auth file ends the search, like containers/image does.
        return from_file(path, registry, repository);
    }
    if let Some(inline) = &env.docker_auth_config {
        let doc: Value = serde_json::from_str(inline).map_err(|e| Error::CredentialFile {
            path: PathBuf::from("$DOCKER_AUTH_CONFIG"),
            reason: format!("not JSON: {e}"),
        })?;
        if let Some(found) =
            from_document(&doc, Path::new("$DOCKER_AUTH_CONFIG"), registry, repository)?
        {
            return Ok(Some(found));
        }
    }
    let mut files = Vec::new();
    files.extend(env.docker_config_path());
    if let Some(d) = &env.xdg_runtime_dir {
        files.push(d.join("containers/auth.json"));
    }
    match (&env.xdg_config_home, &env.home) {
        (Some(x), _) => files.push(x.join("containers/auth.json")),
        (None, Some(h)) => files.push(h.join(".config/containers/auth.json")),
        _ => {}
    }
    for f in files {
        if let Some(found) = from_file(&f, registry, repository)? {
            return Ok(Some(found));
        }
    }
    if let Some(h) = &env.home {
        let legacy = h.join(".dockercfg");
        if legacy.exists() {
            let doc = read_json(&legacy)?;
            // The legacy format is the `auths` map itself.
            let wrapped = serde_json::json!({ "auths": doc });
            return from_document(&wrapped, &legacy, registry, repository);
        }
    }
    Ok(None)
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_str(&text).map_err(|e| Error::CredentialFile {
        path: path.to_path_buf(),
        reason: format!("not valid JSON ({e}); fix or remove the file"),
    })
}

fn from_file(path: &Path, registry: &str, repository: &str) -> Result<Option<Found>> {
    if !path.exists() {
        return Ok(None);
    }
    let doc = read_json(path)?;
    from_document(&doc, path, registry, repository)
}

/// The key a host is stored under in `auths`/`credHelpers`, and the server URL helpers get.
pub fn config_key(registry: &str) -> String {
    if registry == DOCKER_HUB {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

/// Normalize a config key to `host[/path]`: drop the scheme and a `/v1/`/`/v2/` suffix, and map
/// Docker Hub's aliases to `docker.io`.
fn normalize_key(key: &str) -> String {
    let k = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let k = k.trim_end_matches('/');
    let k = k
        .strip_suffix("/v1")
        .or_else(|| k.strip_suffix("/v2"))
        .unwrap_or(k);
    let (host, rest) = match k.split_once('/') {
        Some((h, r)) => (h, Some(r)),
        None => (k, None),
    };
    let host = crate::reference::normalize_registry(&host.to_ascii_lowercase());
    match rest {
        Some(r) => format!("{host}/{r}"),
        None => host,
    }
}

fn from_document(
    doc: &Value,
    path: &Path,
    registry: &str,
    repository: &str,
) -> Result<Option<Found>> {
    let source = path.display().to_string();
    // 1. A helper configured for this host.
    if let Some(helpers) = doc.get("credHelpers").and_then(Value::as_object) {
        for (key, helper) in helpers {
            if normalize_key(key) == registry {
                if let Some(name) = helper.as_str() {
                    if let Some(c) = helper_get(name, &config_key(registry))? {
                        return Ok(Some(Found {
                            credential: c,
                            source: format!("docker-credential-{name} (credHelpers in {source})"),
                        }));
                    }
                }
            }
        }
    }
    // 2. The default store.
    if let Some(store) = doc.get("credsStore").and_then(Value::as_str) {
        if !store.is_empty() {
            if let Some(c) = helper_get(store, &config_key(registry))? {
                return Ok(Some(Found {
                    credential: c,
                    source: format!("docker-credential-{store} (credsStore in {source})"),
                }));
            }
        }
    }
    // 3. Inline entries; the longest matching key (host/ns/repo beats host/ns beats host) wins.
    let Some(auths) = doc.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    let full = format!("{registry}/{repository}");
    let mut best: Option<(usize, &str, &Value)> = None;
    for (key, entry) in auths {
        let nk = normalize_key(key);
        let matches = nk == registry || full == nk || full.starts_with(&format!("{nk}/"));
        if matches && best.is_none_or(|(len, _, _)| nk.len() > len) {
            best = Some((nk.len(), key.as_str(), entry));
        }
    }
    let Some((_, key, entry)) = best else {
        return Ok(None);
    };
    let credential = parse_entry(entry).map_err(|reason| Error::CredentialFile {
        path: path.to_path_buf(),
        reason: format!("auths[{key:?}]: {reason}"),
    })?;
    Ok(credential.map(|credential| Found {
        credential,
        source: format!("auths[{key:?}] in {source}"),
    }))
}

fn parse_entry(entry: &Value) -> std::result::Result<Option<Credential>, String> {
    let s = |k: &str| {
        entry
            .get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let (mut username, mut password) = (
        s("username").map(String::from),
        s("password").map(String::from),
    );
    if let Some(auth) = s("auth") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| "\"auth\" is not base64".to_string())?;
        let text = String::from_utf8(raw).map_err(|_| "\"auth\" is not UTF-8".to_string())?;
        let (u, p) = text
            .split_once(':')
            .ok_or_else(|| "\"auth\" does not decode to user:password".to_string())?;
        username = Some(u.to_string());
        password = Some(p.to_string());
    }
    if let Some(token) = s("identitytoken") {
        return Ok(Some(Credential::IdentityToken {
            username: username.unwrap_or_default(),
            token: token.to_string(),
        }));
    }
    if let Some(token) = s("registrytoken") {
        return Ok(Some(Credential::Bearer(token.to_string())));
    }
    match (username, password) {
        (Some(username), Some(password)) => Ok(Some(Credential::Basic { username, password })),
        _ => Ok(None),
    }
}

/// Run `docker-credential-<name> <verb>` with `input` on stdin.
fn run_helper(name: &str, verb: &str, input: &str) -> Result<(bool, String, String)> {
    let herr = |reason: String| Error::CredentialHelper {
        helper: name.to_string(),
        reason,
    };
    if name.contains(['/', '\\']) {
        return Err(herr("helper names may not contain path separators".into()));
    }
    let mut child = Command::new(format!("docker-credential-{name}"))
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            herr(format!(
                "cannot run it ({e}); install it or remove it from the config"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| herr(format!("writing to it: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| herr(format!("waiting for it: {e}")))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// `get` from a helper; `Ok(None)` when it has nothing for this server.
pub fn helper_get(name: &str, server_url: &str) -> Result<Option<Credential>> {
    let (ok, stdout, stderr) = run_helper(name, "get", server_url)?;
    if !ok {
        let msg = format!("{} {}", stdout.trim(), stderr.trim());
        if msg.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        // The helper's own message can echo input but never the secret it failed to return.
        return Err(Error::CredentialHelper {
            helper: name.to_string(),
            reason: format!("`get {server_url}` failed: {}", msg.trim()),
        });
    }
    #[derive(serde::Deserialize)]
    struct Reply {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let reply: Reply = serde_json::from_str(&stdout).map_err(|e| Error::CredentialHelper {
        helper: name.to_string(),
        reason: format!("`get` did not print {{\"Username\",\"Secret\"}} JSON ({e})"),
    })?;
    if reply.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(if reply.username == "<token>" {
        Credential::IdentityToken {
            username: String::new(),
            token: reply.secret,
        }
    } else {
        Credential::Basic {
            username: reply.username,
            password: reply.secret,
        }
    }))
}

/// Which helper (if any) `login`/`logout` should use for `registry` in the config at `path`.
fn helper_for(doc: &Value, registry: &str) -> Option<String> {
    if let Some(h) = doc.get("credHelpers").and_then(Value::as_object) {
        for (k, v) in h {
            if normalize_key(k) == registry {
                return v.as_str().map(String::from);
            }
        }
    }
    doc.get("credsStore")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// Store credentials for `registry`: in the configured helper, else base64 in `auths`.
/// Returns a description of where they went.
pub fn store(env: &CredentialEnv, registry: &str, username: &str, secret: &str) -> Result<String> {
    let path = env.write_target().ok_or_else(|| {
        Error::Other("no HOME, DOCKER_CONFIG or REGISTRY_AUTH_FILE to store credentials in".into())
    })?;
    let mut doc = if path.exists() {
        read_json(&path)?
    } else {
        Value::Object(Map::new())
    };
    let key = config_key(registry);
    if let Some(helper) = helper_for(&doc, registry) {
        let input = serde_json::json!({"ServerURL": key, "Username": username, "Secret": secret});
        let (ok, stdout, stderr) = run_helper(&helper, "store", &input.to_string())?;
        if !ok {
            return Err(Error::CredentialHelper {
                helper,
                reason: format!("`store` failed: {} {}", stdout.trim(), stderr.trim()),
            });
        }
        return Ok(format!("docker-credential-{helper}"));
    }
    let obj = doc.as_object_mut().ok_or_else(|| Error::CredentialFile {
        path: path.clone(),
        reason: "top level is not a JSON object".into(),
    })?;
    let auths = obj
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| Error::CredentialFile {
            path: path.clone(),
            reason: "\"auths\" is not an object".into(),
        })?;
    // Replace any alias of this host so lookups do not find a stale entry first.
    auths.retain(|k, _| normalize_key(k) != registry);
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{secret}"));
    auths.insert(key, serde_json::json!({ "auth": encoded }));
    write_private_json(&path, &doc)?;
    Ok(path.display().to_string())
}

/// Remove credentials for `registry`. Returns whether anything was removed.
pub fn erase(env: &CredentialEnv, registry: &str) -> Result<bool> {
    let Some(path) = env.write_target() else {
        return Ok(false);
    };
    if !path.exists() {
        return Ok(false);
    }
    let mut doc = read_json(&path)?;
    if let Some(helper) = helper_for(&doc, registry) {
        let (ok, stdout, stderr) = run_helper(&helper, "erase", &config_key(registry))?;
        if !ok
            && !format!("{stdout}{stderr}")
                .to_lowercase()
                .contains("not found")
        {
            return Err(Error::CredentialHelper {
                helper,
                reason: format!("`erase` failed: {} {}", stdout.trim(), stderr.trim()),
            });
        }
        return Ok(ok);
    }
    let mut removed = false;
    if let Some(auths) = doc.get_mut("auths").and_then(Value::as_object_mut) {
        let before = auths.len();
        auths.retain(|k, _| normalize_key(k) != registry);
        removed = auths.len() != before;
    }
    if removed {
        write_private_json(&path, &doc)?;
    }
    Ok(removed)
}

/// Write JSON atomically (temp file + rename) with owner-only permissions: it holds secrets.
fn write_private_json(path: &Path, doc: &Value) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("config"),
        std::process::id()
    ));
    let text = serde_json::to_string_pretty(doc).unwrap_or_else(|_| "{}".into());
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&tmp)
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.write_all(b"\n"))
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(format!("replacing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, text: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn basic(u: &str, p: &str) -> Credential {
        Credential::Basic {
            username: u.into(),
            password: p.into(),
        }
    }

    #[test]
    fn lookup_order() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home");
        let entry = |u: &str| {
            format!(
                r#"{{"auths":{{"reg.example:5000":{{"auth":"{}"}}}}}}"#,
                b64(&format!("{u}:pw"))
            )
        };
        write(&home.join(".docker/config.json"), &entry("docker"));
        write(
            &t.path().join("run/containers/auth.json"),
            &entry("runtime"),
        );
        write(&t.path().join("cfg/containers/auth.json"), &entry("xdgcfg"));
        write(&t.path().join("explicit.json"), &entry("explicit"));
        let mut env = CredentialEnv {
            home: Some(home.clone()),
            xdg_runtime_dir: Some(t.path().join("run")),
            xdg_config_home: Some(t.path().join("cfg")),
            ..Default::default()
        };
        let who = |env: &CredentialEnv| {
            lookup(env, "reg.example:5000", "a/b")
                .unwrap()
                .map(|f| f.credential.username().unwrap().to_string())
        };
        assert_eq!(who(&env).as_deref(), Some("docker"));
        env.docker_auth_config = Some(entry("inline"));
        assert_eq!(who(&env).as_deref(), Some("inline"));
        env.registry_auth_file = Some(t.path().join("explicit.json"));
        assert_eq!(who(&env).as_deref(), Some("explicit"));
        // An auth file without the host stops the search: anonymous.
        write(&t.path().join("explicit.json"), "{}");
        assert_eq!(who(&env), None);
        // A missing REGISTRY_AUTH_FILE is passed over; a missing --authfile is not.
        env.registry_auth_file = Some(t.path().join("missing.json"));
        assert_eq!(who(&env).as_deref(), Some("inline"));
        env.authfile_flag = Some(t.path().join("missing.json"));
        assert_eq!(who(&env), None);
        env.authfile_flag = None;
        env.registry_auth_file = None;
        env.docker_auth_config = None;
        std::fs::remove_file(home.join(".docker/config.json")).unwrap();
        assert_eq!(who(&env).as_deref(), Some("runtime"));
        std::fs::remove_file(t.path().join("run/containers/auth.json")).unwrap();
        assert_eq!(who(&env).as_deref(), Some("xdgcfg"));
        std::fs::remove_file(t.path().join("cfg/containers/auth.json")).unwrap();
        write(
            &home.join(".dockercfg"),
            &format!(
                r#"{{"https://reg.example:5000":{{"auth":"{}"}}}}"#,
                b64("legacy:pw")
            ),
        );
        assert_eq!(who(&env).as_deref(), Some("legacy"));
        env.docker_config_dir = Some(t.path().join("dc"));
        write(&t.path().join("dc/config.json"), &entry("dockerconfigenv"));
        assert_eq!(who(&env).as_deref(), Some("dockerconfigenv"));
    }

    #[test]
    fn entry_kinds_and_most_specific_key() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("auth.json");
        write(
            &f,
            &format!(
                r#"{{"auths":{{
                "https://index.docker.io/v1/":{{"username":"hub","password":"p"}},
                "reg.example":{{"auth":"{}"}},
                "reg.example/team":{{"auth":"{}"}},
                "reg.example/team/app":{{"identitytoken":"rt","username":"tok"}},
                "tok.example":{{"registrytoken":"bearer-x"}}
            }}}}"#,
                b64("host:p"),
                b64("team:p")
            ),
        );
        let env = CredentialEnv {
            authfile_flag: Some(f),
            ..Default::default()
        };
        let get = |r: &str, repo: &str| lookup(&env, r, repo).unwrap().map(|f| f.credential);
        assert_eq!(get("docker.io", "library/x"), Some(basic("hub", "p")));
        assert_eq!(get("reg.example", "other/x"), Some(basic("host", "p")));
        assert_eq!(get("reg.example", "team/x"), Some(basic("team", "p")));
        assert_eq!(
            get("reg.example", "team/app"),
            Some(Credential::IdentityToken {
                username: "tok".into(),
                token: "rt".into()
            })
        );
        assert_eq!(
            get("tok.example", "a"),
            Some(Credential::Bearer("bearer-x".into()))
        );
        // "reg.example/te" must not match "reg.example/team/…" by string prefix.
        assert_eq!(get("reg.example", "teamx/y"), Some(basic("host", "p")));
        assert_eq!(get("nothere.example", "a"), None);
    }

    #[test]
    fn env_debug_hides_inline_config() {
        let env = CredentialEnv {
            docker_auth_config: Some(r#"{"auths":{"r":{"auth":"SECRET"}}}"#.into()),
            ..Default::default()
        };
        let shown = format!("{env:?}");
        assert!(
            !shown.contains("SECRET") && shown.contains("redacted"),
            "{shown}"
        );
    }

    #[test]
    fn bad_files_are_clear_errors_without_secrets() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("auth.json");
        write(
            &f,
            r#"{"auths":{"r.example":{"auth":"!!!notbase64-SECRET"}}}"#,
        );
        let env = CredentialEnv {
            authfile_flag: Some(f.clone()),
            ..Default::default()
        };
        let e = lookup(&env, "r.example", "a").unwrap_err().to_string();
        assert!(e.contains("auth.json") && e.contains("base64"), "{e}");
        assert!(!e.contains("SECRET"), "{e}");
        write(&f, "{not json");
        let e = lookup(&env, "r.example", "a").unwrap_err().to_string();
        assert!(e.contains("not valid JSON"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn helpers_get_store_erase() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let bin = t.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let state = t.path().join("helper-state");
        // A real executable speaking the helper protocol, storing one secret in a file.
        let script = format!(
            "#!/bin/sh\nS={s}\ncase \"$1\" in\n get) read url; if [ -f \"$S\" ]; then cat \"$S\"; else echo 'credentials not found in native keychain'; exit 1; fi;;\n store) cat > \"$S\";;\n erase) rm -f \"$S\";;\nesac\n",
            s = state.display()
        );
        let helper = bin.join("docker-credential-silotest");
        std::fs::write(&helper, script).unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::var("PATH").unwrap_or_default();
        // SAFETY of the test: only this test reads PATH for a helper named `silotest`.
        std::env::set_var("PATH", format!("{}:{path}", bin.display()));
        let cfg = t.path().join("dc/config.json");
        write(
            &cfg,
            r#"{"credHelpers":{"helped.example":"silotest"},"auths":{"helped.example":{"auth":"dTpw"}}}"#,
        );
        let env = CredentialEnv {
            docker_config_dir: Some(t.path().join("dc")),
            ..Default::default()
        };
        // Helper has nothing: fall through to auths.
        let f = lookup(&env, "helped.example", "a").unwrap().unwrap();
        assert_eq!(f.credential, basic("u", "p"));
        let dest = store(&env, "helped.example", "alice", "s3cret").unwrap();
        assert_eq!(dest, "docker-credential-silotest");
        let f = lookup(&env, "helped.example", "a").unwrap().unwrap();
        assert_eq!(f.credential, basic("alice", "s3cret"));
        assert!(f.source.contains("silotest"));
        assert!(!format!("{f:?}").contains("s3cret"));
        assert!(erase(&env, "helped.example").unwrap());
        assert!(!state.exists());
    }

    #[test]
    fn store_and_erase_in_file_keep_other_keys() {
        let t = tempfile::tempdir().unwrap();
        let cfg = t.path().join("dc/config.json");
        write(
            &cfg,
            r#"{"psFormat":"x","auths":{"http://other.example/v2/":{"auth":"YTpi"},"reg.example":{"auth":"b2xkOm9sZA=="}}}"#,
        );
        let env = CredentialEnv {
            docker_config_dir: Some(t.path().join("dc")),
            ..Default::default()
        };
        store(&env, "reg.example", "new", "pw").unwrap();
        assert_eq!(
            lookup(&env, "reg.example", "a")
                .unwrap()
                .unwrap()
                .credential,
            basic("new", "pw")
        );
        store(&env, "docker.io", "hub", "pw").unwrap();
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
        assert_eq!(doc["psFormat"], "x");
        assert!(doc["auths"][DOCKER_HUB_KEY]["auth"].is_string());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert!(erase(&env, "reg.example").unwrap());
        assert!(!erase(&env, "reg.example").unwrap());
        assert_eq!(lookup(&env, "reg.example", "a").unwrap(), None);
        assert_eq!(
            lookup(&env, "other.example", "a")
                .unwrap()
                .unwrap()
                .credential,
            basic("a", "b")
        );
    }
}
