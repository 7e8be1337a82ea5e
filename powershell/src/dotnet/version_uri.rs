//! `[version]` and `[uri]`: parsing, comparing and the members built for them.

use super::*;

/// `[version]"1.2.3"`.
pub fn parse_version(s: &str) -> Result<Value, String> {
    let parts: Vec<&str> = s.trim().split('.').collect();
    if parts.len() < 2 || parts.len() > 4 {
        return Err("Version string portion was too short or too long.".into());
    }
    let mut nums = Vec::new();
    for p in &parts {
        let n: i32 = p
            .trim()
            .parse()
            .map_err(|_| "Input string was not in a correct format.".to_string())?;
        if n < 0 {
            return Err("Version's parameters must be greater than or equal to zero.".into());
        }
        nums.push(n);
    }
    Ok(make_version(&nums))
}

pub(super) fn make_version(nums: &[i32]) -> Value {
    let g = |i: usize| Value::Int(nums.get(i).copied().unwrap_or(-1));
    Value::object(
        Object::new(ObjKind::Version, "System.Version")
            .with("Major", g(0))
            .with("Minor", g(1))
            .with("Build", g(2))
            .with("Revision", g(3)),
    )
}

pub fn compare_versions(a: &Object, b: &Object) -> Ordering {
    for n in ["Major", "Minor", "Build", "Revision"] {
        let x = a.get(n).and_then(|v| convert::to_i64(v).ok()).unwrap_or(-1);
        let y = b.get(n).and_then(|v| convert::to_i64(v).ok()).unwrap_or(-1);
        match x.cmp(&y) {
            Ordering::Equal => continue,
            o => return o,
        }
    }
    Ordering::Equal
}

/// `[uri]"https://host/path?q"`.
pub fn make_uri(s: &str) -> Result<Value, String> {
    let (scheme, rest) = s
        .split_once("://")
        .ok_or_else(|| "Invalid URI: The format of the URI could not be determined.".to_string())?;
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => {
            (h.to_string(), p.parse::<i32>().unwrap_or(-1))
        }
        _ => (
            authority.to_string(),
            match scheme.to_ascii_lowercase().as_str() {
                "http" => 80,
                "https" => 443,
                "ftp" => 21,
                _ => -1,
            },
        ),
    };
    let (path_only, query) = match path.split_once('?') {
        Some((p, q)) => (p.to_string(), format!("?{q}")),
        None => (path.to_string(), String::new()),
    };
    let path_only = if path_only.is_empty() {
        "/".to_string()
    } else {
        path_only
    };
    let abs = format!(
        "{}://{}{}{}",
        scheme.to_ascii_lowercase(),
        authority,
        path_only,
        query
    );
    let segments: Vec<Value> = {
        let mut v = vec![Value::str("/")];
        let parts: Vec<&str> = path_only.trim_start_matches('/').split('/').collect();
        let n = parts.len();
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() {
                continue;
            }
            v.push(Value::string(if i + 1 < n {
                format!("{p}/")
            } else {
                p.to_string()
            }));
        }
        v
    };
    Ok(Value::object(
        Object::new(ObjKind::Uri, "System.Uri")
            .with("AbsoluteUri", Value::string(abs.clone()))
            .with("OriginalString", Value::str(s))
            .with("Scheme", Value::string(scheme.to_ascii_lowercase()))
            .with("Host", Value::string(host))
            .with("Port", Value::Int(port))
            .with("AbsolutePath", Value::string(path_only.clone()))
            .with("PathAndQuery", Value::string(format!("{path_only}{query}")))
            .with("Query", Value::string(query))
            .with("Segments", Value::array(segments))
            .with("IsAbsoluteUri", Value::Bool(true)),
    ))
}
