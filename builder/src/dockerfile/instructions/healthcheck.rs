//! `HEALTHCHECK` and the Go duration syntax its options use (`time.ParseDuration`).

use std::time::Duration;

use super::parse::{at_least_one, Request};
use super::Health;

/// Go's `time.ParseDuration`.
pub fn parse_go_duration(s: &str) -> Result<(bool, Duration), String> {
    let invalid = || {
        format!(
            "time: invalid duration {}",
            crate::dockerfile::goquote::quote(s)
        )
    };
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok((false, Duration::ZERO));
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." {
            return Err(invalid());
        }
        let value: f64 = num.parse().map_err(|_| invalid())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        if unit.is_empty() {
            return Err(format!(
                "time: missing unit in duration {}",
                crate::dockerfile::goquote::quote(s)
            ));
        }
        let nanos = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    crate::dockerfile::goquote::quote(unit),
                    crate::dockerfile::goquote::quote(s)
                ))
            }
        };
        total += value * nanos;
        rest = &rest[unit_end..];
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    Ok((negative && total > 0.0, Duration::from_nanos(total as u64)))
}

/// `parseOptInterval`: empty is 0; otherwise 0 or at least 1ms.
pub(super) fn parse_opt_interval(name: &str, value: &str) -> Result<Duration, String> {
    if value.is_empty() {
        return Ok(Duration::ZERO);
    }
    let (negative, d) = parse_go_duration(value)?;
    if d.is_zero() {
        return Ok(d);
    }
    if negative || d < Duration::from_millis(1) {
        return Err(format!(
            "Interval {} cannot be less than 1ms",
            crate::dockerfile::goquote::quote(name)
        ));
    }
    Ok(d)
}

pub(super) fn parse_healthcheck(req: &mut Request) -> Result<Health, String> {
    if req.args.is_empty() {
        return Err(at_least_one("HEALTHCHECK"));
    }
    let typ = req.args[0].to_uppercase();
    let rest: Vec<String> = req.args[1..].to_vec();
    if typ == "NONE" {
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Health {
            test: vec![typ],
            ..Default::default()
        });
    }
    for name in [
        "interval",
        "timeout",
        "start-period",
        "start-interval",
        "retries",
    ] {
        req.flags.add_string(name, "");
    }
    req.flags.parse()?;
    if typ != "CMD" {
        return Err(format!(
            "Unknown type {} in HEALTHCHECK (try CMD)",
            crate::dockerfile::goquote::quote(&typ)
        ));
    }
    let cmd: Vec<String> = if rest.is_empty() {
        Vec::new()
    } else if req.json {
        rest
    } else {
        vec![rest.join(" ")]
    };
    if cmd.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let mut test = vec![if req.json {
        "CMD".to_string()
    } else {
        "CMD-SHELL".to_string()
    }];
    test.extend(cmd);
    let f = &req.flags;
    let retries = match f.string("retries").as_str() {
        "" => 0,
        v => {
            let n: i64 = v.parse().map_err(|_| {
                format!(
                    "strconv.ParseInt: parsing {}: invalid syntax",
                    crate::dockerfile::goquote::quote(v)
                )
            })?;
            if n < 0 {
                return Err(format!("--retries cannot be negative ({n})"));
            }
            i32::try_from(n).map_err(|_| {
                format!(
                    "strconv.ParseInt: parsing {}: value out of range",
                    crate::dockerfile::goquote::quote(v)
                )
            })?
        }
    };
    Ok(Health {
        test,
        interval: parse_opt_interval("interval", &f.string("interval"))?,
        timeout: parse_opt_interval("timeout", &f.string("timeout"))?,
        start_period: parse_opt_interval("start-period", &f.string("start-period"))?,
        start_interval: parse_opt_interval("start-interval", &f.string("start-interval"))?,
        retries,
    })
}
