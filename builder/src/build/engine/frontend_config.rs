//! The bridge between the frontend's view of an image config (the fields a Dockerfile can
//! change, `dockerfile::stages::ImageConfig`) and the full config the engine writes (every field
//! of the base kept, docker's JSON names).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::build::engine::config::{Healthcheck, ImageConfig};
use crate::dockerfile::instructions::Health;
use crate::dockerfile::stages;

/// What the frontend needs to know of a base image's config.
pub fn to_frontend(config: &ImageConfig) -> stages::ImageConfig {
    let c = &config.config;
    stages::ImageConfig {
        env: c.env.clone().unwrap_or_default(),
        working_dir: c.working_dir.clone().unwrap_or_default(),
        user: c.user.clone().unwrap_or_default(),
        cmd: c.cmd.clone(),
        entrypoint: c.entrypoint.clone(),
        shell: c.shell.clone().unwrap_or_default(),
        args_escaped: c.args_escaped.unwrap_or(false),
        labels: c.labels.clone().unwrap_or_default(),
        exposed_ports: c
            .exposed_ports
            .as_ref()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default(),
        volumes: c
            .volumes
            .as_ref()
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default(),
        stop_signal: c.stop_signal.clone().unwrap_or_default(),
        healthcheck: c.healthcheck.as_ref().map(|h| Health {
            test: h.test.clone(),
            interval: nanos_to_duration(h.interval),
            timeout: nanos_to_duration(h.timeout),
            start_period: nanos_to_duration(h.start_period),
            start_interval: nanos_to_duration(h.start_interval),
            retries: h.retries.clamp(0, i64::from(i32::MAX)) as i32,
        }),
        on_build: c.on_build.clone().unwrap_or_default(),
        author: config.author.clone().unwrap_or_default(),
    }
}

/// Writes the frontend's view back into the full config. Empty values leave the field out, as
/// docker's `omitempty` does.
pub fn from_frontend(config: &mut ImageConfig, fe: &stages::ImageConfig) {
    fn non_empty<T: Clone>(v: &[T]) -> Option<Vec<T>> {
        (!v.is_empty()).then(|| v.to_vec())
    }
    fn text(s: &str) -> Option<String> {
        (!s.is_empty()).then(|| s.to_string())
    }
    fn set<'a>(items: impl Iterator<Item = &'a String>) -> Option<BTreeMap<String, Value>> {
        let map: BTreeMap<String, Value> = items
            .map(|k| (k.clone(), Value::Object(Map::new())))
            .collect();
        (!map.is_empty()).then_some(map)
    }
    let c = &mut config.config;
    c.env = non_empty(&fe.env);
    c.working_dir = text(&fe.working_dir);
    c.user = text(&fe.user);
    c.cmd = fe.cmd.clone();
    c.entrypoint = fe.entrypoint.clone();
    c.shell = non_empty(&fe.shell);
    c.args_escaped = fe.args_escaped.then_some(true);
    c.labels = (!fe.labels.is_empty()).then(|| fe.labels.clone());
    c.exposed_ports = set(fe.exposed_ports.iter());
    c.volumes = set(fe.volumes.iter());
    c.stop_signal = text(&fe.stop_signal);
    c.healthcheck = fe.healthcheck.as_ref().map(|h| Healthcheck {
        test: h.test.clone(),
        interval: duration_to_nanos(h.interval),
        timeout: duration_to_nanos(h.timeout),
        start_period: duration_to_nanos(h.start_period),
        start_interval: duration_to_nanos(h.start_interval),
        retries: i64::from(h.retries),
    });
    c.on_build = non_empty(&fe.on_build);
    config.author = text(&fe.author);
}

fn nanos_to_duration(nanos: i64) -> Duration {
    Duration::from_nanos(nanos.max(0) as u64)
}

fn duration_to_nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_config_survives_the_round_trip() {
        let mut config = ImageConfig::parse(
            br#"{"os":"windows","architecture":"amd64","config":{"Env":["A=1"],"WorkingDir":"\\app",
                "User":"ContainerUser","Cmd":["cmd"],"ArgsEscaped":true,"Labels":{"l":"v"},
                "ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Test":["NONE"],"Interval":5000000000},
                "Custom":"kept"},"rootfs":{"type":"layers","diff_ids":[]}}"#,
            "test",
        )
        .unwrap();
        let before = config.clone();
        let fe = to_frontend(&config);
        assert_eq!(fe.working_dir, "\\app");
        assert_eq!(
            fe.healthcheck.as_ref().unwrap().interval,
            Duration::from_secs(5)
        );
        from_frontend(&mut config, &fe);
        assert_eq!(config, before);
    }
}
