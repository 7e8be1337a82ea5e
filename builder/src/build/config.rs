//! The image config a build produces, as docker and BuildKit write it: a superset of the OCI
//! config (`ArgsEscaped`, `Healthcheck`, `OnBuild`, `Shell`… live in docker's image spec) that
//! keeps every field of the base it does not know, so a base's config survives a build intact.
//! Also the metadata instructions' effect on it and their history entries, worded like BuildKit's
//! `dockerfile2llb/convert.go` (`commitToHistory`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::dockerfile::goquote;

/// What BuildKit writes as every history entry's `comment`.
pub const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

/// An image config (`application/vnd.oci.image.config.v1+json` or docker's v1 config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default)]
    pub config: ContainerConfig,
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Fields this type does not model, kept verbatim.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `rootfs`: the layers' diff_ids, base first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        }
    }
}

/// One history entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub empty_layer: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The container defaults (`config` of the image config), with docker's field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    /// Fields this type does not model, kept verbatim.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// docker's `HealthConfig`; durations in nanoseconds, zero meaning "inherit the default".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Errors reading a config.
#[derive(Debug, thiserror::Error)]
#[error("image config {what}: {message}")]
pub struct ConfigError {
    pub what: String,
    pub message: String,
}

impl ImageConfig {
    /// Parses a config blob; `what` names it in errors (its digest).
    pub fn parse(bytes: &[u8], what: &str) -> Result<ImageConfig, ConfigError> {
        serde_json::from_slice(bytes).map_err(|e| ConfigError {
            what: what.into(),
            message: format!("not a valid image config: {e}"),
        })
    }

    /// The config's bytes as written to the blob store. Field order is fixed by the types and
    /// maps are sorted, so equal configs always have equal digests.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an image config always serializes")
    }

    /// The environment as `KEY=VALUE` strings.
    pub fn env(&self) -> &[String] {
        self.config.env.as_deref().unwrap_or(&[])
    }

    /// Sets one variable like BuildKit's `addEnv`: replaces the first entry with the same key in
    /// place, else appends. Keys compare case-sensitively (BuildKit on a Linux host).
    pub fn set_env(&mut self, key: &str, value: &str) {
        let env = self.config.env.get_or_insert_with(Vec::new);
        let entry = format!("{key}={value}");
        match env
            .iter_mut()
            .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
        {
            Some(existing) => *existing = entry,
            None => env.push(entry),
        }
    }

    pub fn set_label(&mut self, key: &str, value: &str) {
        self.config
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_string(), value.to_string());
    }

    pub fn expose(&mut self, port: &str) {
        self.config
            .exposed_ports
            .get_or_insert_with(BTreeMap::new)
            .insert(port.to_string(), Value::Object(Map::new()));
    }

    pub fn add_volume(&mut self, path: &str) {
        self.config
            .volumes
            .get_or_insert_with(BTreeMap::new)
            .insert(path.to_string(), Value::Object(Map::new()));
    }

    /// CMD: sets `Cmd` and, as BuildKit does on every OS, `ArgsEscaped: true`.
    pub fn set_cmd(&mut self, args: Vec<String>) {
        self.config.cmd = Some(args);
        self.config.args_escaped = Some(true);
    }

    /// ENTRYPOINT: sets `Entrypoint`; clears an inherited `Cmd` unless this stage set one.
    pub fn set_entrypoint(&mut self, args: Vec<String>, cmd_set_in_stage: bool) {
        self.config.entrypoint = Some(args);
        if !cmd_set_in_stage {
            self.config.cmd = None;
        }
    }

    /// The shell shell-form commands are wrapped in: `SHELL`, else Windows' `cmd /S /C`.
    pub fn shell(&self) -> Vec<String> {
        match &self.config.shell {
            Some(shell) if !shell.is_empty() => shell.clone(),
            _ => default_windows_shell(),
        }
    }

    /// BuildKit's `withShell`: the shell plus one string, the words joined with spaces.
    pub fn with_shell(&self, words: &[String]) -> Vec<String> {
        let mut args = self.shell();
        args.push(words.join(" "));
        args
    }

    /// Appends a layer's diff_id.
    pub fn push_layer(&mut self, diff_id: &str) {
        self.rootfs.diff_ids.push(diff_id.to_string());
    }

    /// Appends a history entry the way BuildKit's `commitToHistory` does; `buildkit_suffix` adds
    /// the ` # buildkit` BuildKit puts on entries made by an LLB operation (RUN, COPY, ADD).
    pub fn push_history(
        &mut self,
        created_by: String,
        with_layer: bool,
        buildkit_suffix: bool,
        created: Option<String>,
    ) {
        let created_by = if buildkit_suffix {
            format!("{created_by} # buildkit")
        } else {
            created_by
        };
        self.history.push(History {
            created,
            created_by: Some(created_by),
            author: None,
            comment: Some(HISTORY_COMMENT.into()),
            empty_layer: !with_layer,
        });
    }

    /// Fills `created` of the image and of this build's history entries (from index
    /// `first_new`) that have none, as BuildKit's exporter does with the build time or
    /// `SOURCE_DATE_EPOCH`; the base's entries are left as they were.
    pub fn stamp_created(&mut self, created: &str, first_new: usize) {
        self.created = Some(created.to_string());
        for entry in self.history.iter_mut().skip(first_new) {
            if entry.created.is_none() {
                entry.created = Some(created.to_string());
            }
        }
    }
}

/// The default shell of Windows images.
pub fn default_windows_shell() -> Vec<String> {
    vec!["cmd".into(), "/S".into(), "/C".into()]
}

/// Go's `fmt.Sprintf("%q", []string{…})`: `["a" "b"]`, used by BuildKit for CMD/ENTRYPOINT history.
pub fn go_quoted_list(items: &[String]) -> String {
    goquote::quote_list(items)
}

/// Go's `fmt.Sprintf("%v", []string{…})`: `[a b]`, used for SHELL and VOLUME history.
pub fn go_plain_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Go's `time.Duration.String()` for a nanosecond count (`1m30s`, `500ms`, `0s`).
pub fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let negative = nanos < 0;
    let n = nanos.unsigned_abs();
    let sign = if negative { "-" } else { "" };
    if n < 1_000_000_000 {
        // Sub-second: the largest unit that keeps an integer part, with a trimmed fraction.
        let (unit, scale) = if n < 1_000 {
            ("ns", 1)
        } else if n < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", trimmed_fraction(n, scale));
    }
    let hours = n / 3_600_000_000_000;
    let minutes = (n / 60_000_000_000) % 60;
    let secs = trimmed_fraction(n % 60_000_000_000, 1_000_000_000);
    let mut out = String::from(sign);
    if hours > 0 {
        out.push_str(&format!("{hours}h{minutes}m"));
    } else if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{secs}s"));
    out
}

fn trimmed_fraction(value: u64, scale: u64) -> String {
    let whole = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = scale.trailing_zeros_decimal();
    let text = format!("{frac:0digits$}");
    format!("{whole}.{}", text.trim_end_matches('0'))
}

trait DecimalDigits {
    fn trailing_zeros_decimal(self) -> usize;
}

impl DecimalDigits for u64 {
    fn trailing_zeros_decimal(self) -> usize {
        let mut n = self;
        let mut digits = 0;
        while n > 1 {
            n /= 10;
            digits += 1;
        }
        digits
    }
}

/// The HEALTHCHECK history text: Go's `%+v` of docker's `HealthConfig`.
pub fn healthcheck_history(h: &Healthcheck) -> String {
    format!(
        "HEALTHCHECK {{Test:{} Interval:{} Timeout:{} StartPeriod:{} StartInterval:{} Retries:{}}}",
        go_plain_list(&h.test),
        go_duration(h.interval),
        go_duration(h.timeout),
        go_duration(h.start_period),
        go_duration(h.start_interval),
        h.retries
    )
}

/// The EXPOSE history text: Go's `%v` of the port set (`map[80/tcp:{} 443/tcp:{}]`).
pub fn expose_history(ports: &[String]) -> String {
    let mut sorted: Vec<&String> = ports.iter().collect();
    sorted.sort();
    sorted.dedup();
    let items: Vec<String> = sorted.iter().map(|p| format!("{p}:{{}}")).collect();
    format!("EXPOSE map[{}]", items.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ImageConfig {
        ImageConfig::parse(
            br#"{"architecture":"amd64","os":"windows","os.version":"10.0.20348.1",
                "os.features":["win32k"],"config":{"Cmd":["c:\\windows\\system32\\cmd.exe"],
                "User":"ContainerUser","Foo":1},"rootfs":{"type":"layers","diff_ids":["sha256:aa"]},
                "history":[{"created_by":"base"}],"extra":{"kept":true}}"#,
            "test",
        )
        .unwrap()
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let config = base();
        let again = ImageConfig::parse(&config.to_bytes(), "again").unwrap();
        assert_eq!(config, again);
        let value: Value = serde_json::from_slice(&config.to_bytes()).unwrap();
        assert_eq!(value["extra"]["kept"], Value::Bool(true));
        assert_eq!(value["config"]["Foo"], Value::from(1));
        assert_eq!(value["os.version"], Value::from("10.0.20348.1"));
        assert_eq!(value["os.features"][0], Value::from("win32k"));
    }

    #[test]
    fn env_replaces_in_place_and_appends_new_keys() {
        let mut config = base();
        config.set_env("A", "1");
        config.set_env("B", "2");
        config.set_env("A", "3");
        config.set_env("a", "4");
        assert_eq!(config.env(), ["A=3", "B=2", "a=4"]);
    }

    #[test]
    fn cmd_sets_args_escaped_and_entrypoint_clears_inherited_cmd() {
        let mut config = base();
        config.set_entrypoint(vec!["app.exe".into()], false);
        assert_eq!(config.config.cmd, None);
        assert_eq!(config.config.args_escaped, None);
        config.set_cmd(vec!["--help".into()]);
        assert_eq!(config.config.args_escaped, Some(true));
        config.set_entrypoint(vec!["other.exe".into()], true);
        assert_eq!(config.config.cmd, Some(vec!["--help".to_string()]));
    }

    #[test]
    fn shell_form_wraps_in_cmd_or_the_shell_instruction() {
        let mut config = base();
        assert_eq!(
            config.with_shell(&["echo".into(), "hi".into()]),
            ["cmd", "/S", "/C", "echo hi"]
        );
        config.config.shell = Some(vec!["powershell".into(), "-Command".into()]);
        assert_eq!(
            config.with_shell(&["Get-Date".into()]),
            ["powershell", "-Command", "Get-Date"]
        );
    }

    #[test]
    fn history_texts_match_buildkit() {
        assert_eq!(
            go_quoted_list(&["cmd".into(), "/c".into(), "type C:\\x".into()]),
            r#"["cmd" "/c" "type C:\\x"]"#
        );
        assert_eq!(go_plain_list(&["a".into(), "b".into()]), "[a b]");
        assert_eq!(
            expose_history(&["443/tcp".into(), "80/tcp".into()]),
            "EXPOSE map[443/tcp:{} 80/tcp:{}]"
        );
        let h = Healthcheck {
            test: vec!["CMD-SHELL".into(), "curl -f http://localhost/".into()],
            interval: 30_000_000_000,
            retries: 3,
            ..Default::default()
        };
        assert_eq!(
            healthcheck_history(&h),
            "HEALTHCHECK {Test:[CMD-SHELL curl -f http://localhost/] Interval:30s Timeout:0s \
             StartPeriod:0s StartInterval:0s Retries:3}"
        );
        let mut config = base();
        config.push_history("COPY a b".into(), true, true, None);
        config.push_history("ENV A=1".into(), false, false, None);
        config.stamp_created("2024-01-01T00:00:00Z", 1);
        let last = &config.history[1..];
        assert_eq!(last[0].created_by.as_deref(), Some("COPY a b # buildkit"));
        assert!(!last[0].empty_layer);
        assert!(last[1].empty_layer);
        assert_eq!(last[1].comment.as_deref(), Some(HISTORY_COMMENT));
        assert_eq!(last[1].created.as_deref(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(
            config.history[0].created, None,
            "the base's entries stay as they were"
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(60_000_000_000), "1m0s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(500_000_000), "500ms");
        assert_eq!(go_duration(1_000_000), "1ms");
    }
}
