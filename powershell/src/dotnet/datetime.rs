//! `[datetime]`: ticks and the civil calendar, `Get-Date` values, parsing, and .NET and `-UFormat`
//! format strings.

use super::*;

pub(super) const TICKS_PER_SEC: i64 = 10_000_000;
/// Ticks from 0001-01-01 to 1970-01-01.
pub(super) const UNIX_EPOCH_TICKS: i64 = 621_355_968_000_000_000;

pub(super) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

pub(super) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A `[datetime]` from .NET ticks.
pub fn datetime_from_ticks(ticks: i64) -> Value {
    let unix = (ticks - UNIX_EPOCH_TICKS).div_euclid(TICKS_PER_SEC);
    let frac = (ticks - UNIX_EPOCH_TICKS).rem_euclid(TICKS_PER_SEC);
    let days = unix.div_euclid(86400);
    let secs = unix.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    let dow = (days + 4).rem_euclid(7); // 1970-01-01 was a Thursday
    const DOW: [&str; 7] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];
    let doy = days - days_from_civil(y, 1, 1) + 1;
    Value::object(
        Object::new(ObjKind::DateTime, "System.DateTime")
            .with("Ticks", Value::Long(ticks))
            .with("Year", Value::Int(y as i32))
            .with("Month", Value::Int(m as i32))
            .with("Day", Value::Int(d as i32))
            .with("Hour", Value::Int((secs / 3600) as i32))
            .with("Minute", Value::Int((secs / 60 % 60) as i32))
            .with("Second", Value::Int((secs % 60) as i32))
            .with("Millisecond", Value::Int((frac / 10_000) as i32))
            .with("DayOfWeek", Value::str(DOW[dow as usize]))
            .with("DayOfYear", Value::Int(doy as i32)),
    )
}

/// Now, in the engine's time zone (UTC: the silo has no other).
pub fn now() -> Value {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    datetime_from_ticks(
        UNIX_EPOCH_TICKS + d.as_secs() as i64 * TICKS_PER_SEC + (d.subsec_nanos() / 100) as i64,
    )
}

/// `[datetime]"2020-01-02 03:04:05"` (ISO forms and `M/d/yyyy` as the invariant culture reads).
pub fn parse_datetime(s: &str) -> Result<Value, String> {
    let t = s.trim();
    let bad = || format!("String '{t}' was not recognized as a valid DateTime.");
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (d, tm.trim_end_matches('Z')),
        None => (t, "00:00:00"),
    };
    let (y, m, d) = if date.contains('-') {
        let p: Vec<&str> = date.split('-').collect();
        if p.len() != 3 {
            return Err(bad());
        }
        (
            p[0].parse::<i64>().map_err(|_| bad())?,
            p[1].parse::<i64>().map_err(|_| bad())?,
            p[2].parse::<i64>().map_err(|_| bad())?,
        )
    } else {
        let p: Vec<&str> = date.split('/').collect();
        if p.len() != 3 {
            return Err(bad());
        }
        (
            p[2].parse::<i64>().map_err(|_| bad())?,
            p[0].parse::<i64>().map_err(|_| bad())?,
            p[1].parse::<i64>().map_err(|_| bad())?,
        )
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let tp: Vec<&str> = time.split(':').collect();
    let h: i64 = tp.first().and_then(|x| x.parse().ok()).unwrap_or(0);
    let mi: i64 = tp.get(1).and_then(|x| x.parse().ok()).unwrap_or(0);
    let sec: f64 = tp.get(2).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    let days = days_from_civil(y, m, d);
    let ticks = UNIX_EPOCH_TICKS
        + (days * 86400 + h * 3600 + mi * 60) * TICKS_PER_SEC
        + (sec * TICKS_PER_SEC as f64) as i64;
    Ok(datetime_from_ticks(ticks))
}

pub(super) fn dt_field(o: &Object, n: &str) -> i64 {
    o.get(n).and_then(|v| convert::to_i64(v).ok()).unwrap_or(0)
}

/// `[string]$date` and `"$date"`.
pub fn datetime_default_string(o: &Object) -> String {
    // PowerShell converts with the invariant culture: "MM/dd/yyyy HH:mm:ss".
    format_datetime(o, "MM/dd/yyyy HH:mm:ss")
}

/// How the console shows a `[datetime]` (en-US long date and time).
pub fn datetime_display_string(o: &Object) -> String {
    format_datetime(o, "dddd, MMMM d, yyyy h:mm:ss tt")
}

pub(super) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// .NET custom date format (yyyy MM dd HH hh mm ss fff tt ddd dddd MMM MMMM, quoted literals)
/// and the standard forms `d D s u o t T g G`.
pub fn format_datetime(o: &Object, spec: &str) -> String {
    let pattern = match spec {
        "d" => "M/d/yyyy",
        "D" => "dddd, MMMM d, yyyy",
        "s" => "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
        "u" => "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
        "o" | "O" => "yyyy'-'MM'-'dd'T'HH':'mm':'ss.fffffff",
        "t" => "h:mm tt",
        "T" => "h:mm:ss tt",
        "g" => "M/d/yyyy h:mm tt",
        "G" => "M/d/yyyy h:mm:ss tt",
        other => other,
    };
    let (y, mo, d) = (
        dt_field(o, "Year"),
        dt_field(o, "Month"),
        dt_field(o, "Day"),
    );
    let (h, mi, s) = (
        dt_field(o, "Hour"),
        dt_field(o, "Minute"),
        dt_field(o, "Second"),
    );
    let ticks = dt_field(o, "Ticks");
    let dow = o.get("DayOfWeek").map(to_string).unwrap_or_default();
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        match c {
            'y' => out.push_str(&if n <= 2 {
                format!("{:0w$}", y % 100, w = n)
            } else {
                format!("{:0w$}", y, w = n)
            }),
            'M' => out.push_str(&match n {
                1 => mo.to_string(),
                2 => format!("{mo:02}"),
                3 => MONTHS[(mo - 1) as usize % 12][..3].to_string(),
                _ => MONTHS[(mo - 1) as usize % 12].to_string(),
            }),
            'd' => out.push_str(&match n {
                1 => d.to_string(),
                2 => format!("{d:02}"),
                3 => dow.chars().take(3).collect(),
                _ => dow.clone(),
            }),
            'H' => out.push_str(&if n == 1 {
                h.to_string()
            } else {
                format!("{h:02}")
            }),
            'h' => {
                let h12 = if h % 12 == 0 { 12 } else { h % 12 };
                out.push_str(&if n == 1 {
                    h12.to_string()
                } else {
                    format!("{h12:02}")
                })
            }
            'm' => out.push_str(&if n == 1 {
                mi.to_string()
            } else {
                format!("{mi:02}")
            }),
            's' => out.push_str(&if n == 1 {
                s.to_string()
            } else {
                format!("{s:02}")
            }),
            'f' | 'F' => {
                let frac = format!("{:07}", ticks.rem_euclid(TICKS_PER_SEC));
                out.push_str(&frac[..n.min(7)]);
            }
            't' => out.push_str(if h < 12 {
                if n == 1 {
                    "A"
                } else {
                    "AM"
                }
            } else if n == 1 {
                "P"
            } else {
                "PM"
            }),
            'K' | 'z' => {
                if c == 'z' {
                    out.push_str(if n >= 3 { "+00:00" } else { "+00" });
                }
            }
            '\'' | '"' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&x| x == c)
                    .map(|p| p + i + 1)
                    .unwrap_or(chars.len());
                out.extend(&chars[i + 1..end]);
                i = end + 1;
                continue;
            }
            '\\' if i + 1 < chars.len() => {
                out.push(chars[i + 1]);
                i += 2;
                continue;
            }
            other => {
                for _ in 0..n {
                    out.push(other);
                }
            }
        }
        i += n;
    }
    out
}

/// `Get-Date -UFormat` (the common `%Y %m %d %H %M %S %s` specifiers).
pub fn uformat_datetime(o: &Object, spec: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut it = spec.chars();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(k) = it.next() else { break };
        let f = |n: &str| dt_field(o, n);
        match k {
            'Y' => out.push_str(&f("Year").to_string()),
            'y' => out.push_str(&format!("{:02}", f("Year") % 100)),
            'm' => out.push_str(&format!("{:02}", f("Month"))),
            'd' => out.push_str(&format!("{:02}", f("Day"))),
            'H' => out.push_str(&format!("{:02}", f("Hour"))),
            'M' => out.push_str(&format!("{:02}", f("Minute"))),
            'S' => out.push_str(&format!("{:02}", f("Second"))),
            's' => out.push_str(&((f("Ticks") - UNIX_EPOCH_TICKS) / TICKS_PER_SEC).to_string()),
            'j' => out.push_str(&format!("{:03}", f("DayOfYear"))),
            '%' => out.push('%'),
            other => {
                return Err(format!(
                    "Get-Date -UFormat %{other} is not supported by this engine"
                ))
            }
        }
    }
    Ok(out)
}
