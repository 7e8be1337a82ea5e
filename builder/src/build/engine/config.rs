//! The image config a build produces, as docker and BuildKit write it: a superset of the OCI
//! config (`ArgsEscaped`, `Healthcheck`, `OnBuild`, `Shell`… live in docker's image spec) that
//! keeps every field of the base it does not know, so a base's config survives a build intact.
//! The Dockerfile frontend decides what each instruction does to the config; this type carries
//! the result together with everything else the base had.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
    pub fn set_label(&mut self, key: &str, value: &str) {
        self.config
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_string(), value.to_string());
    }

    /// Appends a layer's diff_id.
    pub fn push_layer(&mut self, diff_id: &str) {
        self.rootfs.diff_ids.push(diff_id.to_string());
    }

    /// Appends a history entry the way BuildKit's `commitToHistory` does (the text comes from
    /// the frontend, ` # buildkit` included where BuildKit writes it).
    pub fn push_history(&mut self, created_by: String, with_layer: bool, created: Option<String>) {
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
    fn history_entries_and_times() {
        let mut config = base();
        config.push_history("COPY a b # buildkit".into(), true, None);
        config.push_history("ENV A=1".into(), false, None);
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
}
