//! `RUN` and its flags: `--network`, `--security` and the `--mount` specs (BuildKit's
//! `commands_run*.go`), with the CSV reading and value rules of `parseMount`.

use super::parse::{shell_dependent, Request};
use super::{Mount, MountType, NetworkMode, RunCommand, Security};

pub(super) fn parse_run(req: &mut Request) -> Result<RunCommand, String> {
    req.flags.add_strings("mount");
    req.flags.add_string("network", "");
    req.flags.add_string("security", "");
    req.flags.parse()?;
    let network = match req.flags.string("network").as_str() {
        "" | "default" => NetworkMode::Default,
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        other => {
            return Err(format!(
                "unsupported network mode {}",
                crate::dockerfile::goquote::quote(other)
            ))
        }
    };
    let security = match req.flags.string("security").as_str() {
        "" | "sandbox" => Security::Sandbox,
        "insecure" => Security::Insecure,
        other => {
            return Err(format!(
                "security {} is not valid",
                crate::dockerfile::goquote::quote(other)
            ))
        }
    };
    let mount_specs = req.flags.strings("mount");
    // Parse once now (no expansion) to report malformed mounts early, as BuildKit does.
    for spec in &mount_specs {
        parse_mount(spec, None)?;
    }
    Ok(RunCommand {
        cmd: shell_dependent(req, false),
        mount_specs,
        network,
        security,
        flags_used: req.flags.used(),
    })
}

/// Splits one CSV record (Go `encoding/csv` rules for one line: `"` quoting, `""` escapes).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => {
                        return Err(
                            "failed to parse csv mounts: extraneous or missing \" in quoted-field"
                                .into(),
                        )
                    }
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(_) => {
                    return Err(
                        "failed to parse csv mounts: extraneous or missing \" in quoted-field"
                            .into(),
                    )
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => {
                        return Err("failed to parse csv mounts: bare \" in non-quoted-field".into())
                    }
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// docker/go-units `RAMInBytes`: `64m`, `1.5GiB`, `1024`.
fn ram_in_bytes(value: &str) -> Option<u64> {
    let v = value.trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let num: f64 = num.parse().ok()?;
    let mult: f64 = match unit
        .to_lowercase()
        .trim_end_matches("ib")
        .trim_end_matches('b')
    {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0f64.powi(3),
        "t" => 1024.0f64.powi(4),
        "p" => 1024.0f64.powi(5),
        _ => return None,
    };
    Some((num * mult) as u64)
}

/// Expands one word of an instruction (BuildKit's `SingleWordExpander`).
pub type WordExpander<'a> = &'a mut dyn FnMut(&str) -> Result<String, String>;

/// BuildKit's `parseMount`. Without an expander (`None`) only the structure and the `from`
/// field are checked, as at parse time; with one every value is expanded and validated.
pub fn parse_mount(spec: &str, mut expand: Option<WordExpander>) -> Result<Mount, String> {
    let fields = csv_fields(spec)?;
    let mut m = Mount {
        kind: MountType::Bind,
        from: String::new(),
        source: String::new(),
        target: String::new(),
        read_only: false,
        cache_id: String::new(),
        sharing: String::new(),
        required: false,
        mode: None,
        uid: None,
        gid: None,
        size_limit: None,
    };
    let mut ro_auto = true;
    let unexpected = |key: &str, m: &Mount| {
        format!(
            "unexpected key '{key}' for mount type '{}'",
            m.kind.as_str()
        )
    };
    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v)),
            None => (field.to_lowercase(), None),
        };
        let Some(value) = value else {
            if expand.is_none() {
                continue;
            }
            match key.as_str() {
                "readonly" | "ro" => {
                    m.read_only = true;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.read_only = false;
                    ro_auto = false;
                }
                "required" if matches!(m.kind, MountType::Secret | MountType::Ssh) => {
                    m.required = true
                }
                "required" => return Err(unexpected(&key, &m)),
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        let value = match expand.as_mut() {
            Some(f) => f(value)?,
            None if key == "from" => {
                if value.find('$').is_some_and(|i| i + 1 < value.len()) {
                    return Err(format!(
                        "'{key}' doesn't support variable expansion, define alias stage instead"
                    ));
                }
                continue;
            }
            None => continue,
        };
        let invalid = || format!("invalid value for {key}: {value}");
        match key.as_str() {
            "type" => {
                m.kind = match value.to_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => {
                        return Err(format!(
                            "unsupported mount type {}",
                            crate::dockerfile::goquote::quote(&value)
                        ))
                    }
                }
            }
            "from" => m.from = value,
            "source" | "src" => m.source = value,
            "target" | "dst" | "destination" => m.target = value,
            "readonly" | "ro" => {
                m.read_only = parse_bool(&value).ok_or_else(invalid)?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.read_only = !parse_bool(&value).ok_or_else(invalid)?;
                ro_auto = false;
            }
            "required" => {
                if !matches!(m.kind, MountType::Secret | MountType::Ssh) {
                    return Err(unexpected(&key, &m));
                }
                m.required = parse_bool(&value).ok_or_else(invalid)?;
            }
            "size" => {
                if m.kind != MountType::Tmpfs {
                    return Err(unexpected(&key, &m));
                }
                m.size_limit = Some(ram_in_bytes(&value).ok_or_else(invalid)?);
            }
            "id" => m.cache_id = value,
            "sharing" => {
                let v = value.to_lowercase();
                if !matches!(v.as_str(), "shared" | "private" | "locked") {
                    return Err(format!(
                        "unsupported sharing value {}",
                        crate::dockerfile::goquote::quote(&value)
                    ));
                }
                m.sharing = v;
            }
            "mode" => {
                m.mode = Some(
                    u32::from_str_radix(&value, 8)
                        .map_err(|_| format!("invalid value {value} for mode"))?,
                )
            }
            "uid" => {
                m.uid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid value {value} for uid"))?,
                )
            }
            "gid" => {
                m.gid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid value {value} for gid"))?,
                )
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    let file_info_allowed = matches!(
        m.kind,
        MountType::Secret | MountType::Ssh | MountType::Cache
    );
    if !file_info_allowed {
        for (set, what) in [
            (m.mode.is_some(), "mode"),
            (m.uid.is_some(), "uid"),
            (m.gid.is_some(), "gid"),
        ] {
            if set {
                return Err(format!(
                    "{what} not allowed for \"{}\" type mounts",
                    m.kind.as_str()
                ));
            }
        }
    }
    if ro_auto {
        m.read_only = !matches!(m.kind, MountType::Cache | MountType::Tmpfs);
    }
    if m.kind == MountType::Secret {
        if !m.from.is_empty() {
            return Err("secret mount should not have a from".into());
        }
        if !m.sharing.is_empty() {
            return Err("secret mount should not define sharing".into());
        }
        if m.source.is_empty() && m.target.is_empty() && m.cache_id.is_empty() {
            return Err("invalid secret mount. one of source, target required".into());
        }
        if !m.source.is_empty() && !m.cache_id.is_empty() {
            return Err("both source and id can't be set".into());
        }
    }
    if !m.sharing.is_empty() && m.kind != MountType::Cache {
        return Err(format!(
            "invalid cache sharing set for {} mount",
            m.kind.as_str()
        ));
    }
    Ok(m)
}
