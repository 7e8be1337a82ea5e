//! The .NET surface the engine implements: static members of the catalog's types
//! (`[Environment]::SetEnvironmentVariable`, `[IO.File]::…`, `[Net.ServicePointManager]::…`),
//! constructors (`New-Object`, `::new`), instance members of every value kind (string methods,
//! array/hashtable members, WebClient, version, datetime, …), enums, and the value types built
//! here (`[version]`, `[uri]`, `[datetime]`). Anything else fails naming the member.
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use std::cmp::Ordering;
use std::rc::Rc;

use crate::convert::{self, fmt_double, to_bool, to_string};
use crate::errors::ErrorRecord;
use crate::host::{Hive, RegValue, REG_EXPAND_SZ, REG_SZ};
use crate::interp::{Interp, Res};
use crate::value::{Hashtable, ObjKind, Object, Value};

fn err(msg: impl Into<String>) -> ErrorRecord {
    ErrorRecord::new(
        msg,
        "System.Management.Automation.MethodInvocationException",
        "NotSpecified",
        "MethodInvocationException",
    )
}

/// .NET's message for an exception inside a method call, as PowerShell wraps it.
fn method_exc(method: &str, argc: usize, exc: &str, msg: &str) -> ErrorRecord {
    let mut e = ErrorRecord::new(
        format!("Exception calling \"{method}\" with \"{argc}\" argument(s): \"{msg}\""),
        exc,
        "NotSpecified",
        exc.rsplit('.').next().unwrap_or(exc),
    );
    e.exception = exc.to_string();
    e
}

fn no_member(type_name: &str, name: &str) -> ErrorRecord {
    ErrorRecord::new(
        format!("Method invocation failed because [{type_name}] does not contain a method named '{name}'."),
        "System.Management.Automation.RuntimeException",
        "InvalidOperation",
        "MethodNotFound",
    )
}

fn arg(args: &[Value], i: usize) -> Value {
    args.get(i).cloned().unwrap_or(Value::Null)
}

fn sarg(args: &[Value], i: usize) -> String {
    to_string(&arg(args, i))
}

fn want(method: &str, args: &[Value], n: &[usize]) -> Result<(), ErrorRecord> {
    if n.contains(&args.len()) {
        Ok(())
    } else {
        Err(ErrorRecord::new(
            format!(
                "Cannot find an overload for \"{method}\" and the argument count: \"{}\".",
                args.len()
            ),
            "System.Management.Automation.MethodException",
            "NotSpecified",
            "MethodCountCouldNotFindBest",
        ))
    }
}

// ----- type names ----------------------------------------------------------------------------

/// The .NET types the engine knows beyond the accelerators of `convert::canonical_type`.
const TYPES: &[&str] = &[
    "System.Net.ServicePointManager",
    "System.Net.SecurityProtocolType",
    "System.Environment",
    "System.EnvironmentVariableTarget",
    "System.Environment+SpecialFolder",
    "System.Convert",
    "System.Text.Encoding",
    "System.IO.Path",
    "System.IO.File",
    "System.IO.Directory",
    "System.Math",
    "System.Net.WebClient",
    "System.Collections.ArrayList",
    "System.Collections.Generic.List",
    "System.Text.StringBuilder",
    "System.Guid",
    "System.IO.FileInfo",
    "System.IO.DirectoryInfo",
    "System.Management.Automation.ErrorRecord",
    "System.Exception",
    "System.Management.Automation.RuntimeException",
    "System.IO.IOException",
    "System.IO.FileNotFoundException",
    "System.Net.WebException",
    "System.Management.Automation.ItemNotFoundException",
    "System.Management.Automation.CommandNotFoundException",
    "System.UnauthorizedAccessException",
    "System.ArgumentException",
    "System.InvalidOperationException",
    "System.TimeSpan",
    "System.IO.Compression.ZipFile",
];

/// Canonical full name of a .NET type written with or without `System.` (`Net.WebClient`).
pub fn canonical_type_name(name: &str) -> Option<String> {
    let n = name.trim();
    // Generic lists: List[string] → System.Collections.Generic.List
    let base = n.split('[').next().unwrap_or(n);
    let lower = base.to_ascii_lowercase();
    for t in TYPES {
        let tl = t.to_ascii_lowercase();
        if tl == lower || tl.strip_prefix("system.") == Some(lower.as_str()) {
            return Some(t.to_string());
        }
    }
    match lower.as_str() {
        "environment.specialfolder" | "system.environment.specialfolder" => {
            Some("System.Environment+SpecialFolder".into())
        }
        "securityprotocoltype" => Some("System.Net.SecurityProtocolType".into()),
        "environmentvariabletarget" => Some("System.EnvironmentVariableTarget".into()),
        "math" => Some("System.Math".into()),
        "io.path" => Some("System.IO.Path".into()),
        _ => None,
    }
}

// ----- enums ---------------------------------------------------------------------------------

const SECURITY_PROTOCOL: &[(&str, i64)] = &[
    ("SystemDefault", 0),
    ("Ssl3", 48),
    ("Tls", 192),
    ("Tls11", 768),
    ("Tls12", 3072),
    ("Tls13", 12288),
];
const ENV_TARGET: &[(&str, i64)] = &[("Process", 0), ("User", 1), ("Machine", 2)];
const SPECIAL_FOLDER: &[(&str, i64)] = &[
    ("Desktop", 0),
    ("Programs", 2),
    ("MyDocuments", 5),
    ("Personal", 5),
    ("Startup", 7),
    ("ApplicationData", 26),
    ("LocalApplicationData", 28),
    ("CommonApplicationData", 35),
    ("Windows", 36),
    ("System", 37),
    ("ProgramFiles", 38),
    ("UserProfile", 40),
    ("SystemX86", 41),
    ("ProgramFilesX86", 42),
    ("CommonProgramFiles", 43),
    ("CommonProgramFilesX86", 44),
    ("CommonDesktopDirectory", 25),
];

/// An enum's full name, its (name, value) table and whether it is a [Flags] enum.
type EnumTable = (&'static str, &'static [(&'static str, i64)], bool);

fn enum_table(t: &str) -> Option<EnumTable> {
    match t {
        "System.Net.SecurityProtocolType" => {
            Some(("System.Net.SecurityProtocolType", SECURITY_PROTOCOL, true))
        }
        "System.EnvironmentVariableTarget" => {
            Some(("System.EnvironmentVariableTarget", ENV_TARGET, false))
        }
        "System.Environment+SpecialFolder" => {
            Some(("System.Environment+SpecialFolder", SPECIAL_FOLDER, false))
        }
        _ => None,
    }
}

/// An enum value as .NET prints it (flags joined by ", ").
pub fn enum_to_string(t: &str, n: i64) -> String {
    let Some((_, table, flags)) = enum_table(t) else {
        return n.to_string();
    };
    if let Some((name, _)) = table.iter().find(|(_, v)| *v == n) {
        return name.to_string();
    }
    if flags && n != 0 {
        let mut rest = n;
        let mut names = Vec::new();
        for (name, v) in table.iter().rev() {
            if *v != 0 && rest & v == *v {
                names.push(*name);
                rest &= !v;
            }
        }
        if rest == 0 {
            names.reverse();
            return names.join(", ");
        }
    }
    n.to_string()
}

/// `[EnumType]$v` (names, comma lists for flags, numbers); None when `t` is not an enum.
pub fn convert_to_enum(v: &Value, t: &str) -> Option<Result<Value, String>> {
    let (name, table, flags) = enum_table(t)?;
    Some(match v {
        Value::Enum(_, n) => Ok(Value::Enum(name, *n)),
        x if x.is_numeric() => convert::to_i64(x)
            .map(|n| Value::Enum(name, n))
            .map_err(|e| e.0),
        other => {
            let s = to_string(other);
            let mut total = 0;
            for part in s.split(',') {
                let p = part.trim();
                match table.iter().find(|(n, _)| n.eq_ignore_ascii_case(p)) {
                    Some((_, v)) => total |= v,
                    None => {
                        let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
                        return Some(Err(format!(
                            "Unable to match the identifier name {p} to a valid enumerator name. Specify one of the following enumerator names and try again: {}",
                            names.join(", ")
                        )));
                    }
                }
                if !flags {
                    break;
                }
            }
            Ok(Value::Enum(name, total))
        }
    })
}

// ----- version, uri, datetime ----------------------------------------------------------------

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

fn make_version(nums: &[i32]) -> Value {
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

const TICKS_PER_SEC: i64 = 10_000_000;
/// Ticks from 0001-01-01 to 1970-01-01.
const UNIX_EPOCH_TICKS: i64 = 621_355_968_000_000_000;

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
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

fn dt_field(o: &Object, n: &str) -> i64 {
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

const MONTHS: [&str; 12] = [
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

// ----- encodings -----------------------------------------------------------------------------

/// An encoding object (`[Text.Encoding]::UTF8`); `name` is one of utf8, unicode, bigendianunicode,
/// ascii, default, utf32, utf8nobom.
pub fn encoding(name: &str) -> Value {
    let tn = match name {
        "utf8" | "utf8nobom" => "System.Text.UTF8Encoding",
        "unicode" | "bigendianunicode" => "System.Text.UnicodeEncoding",
        "ascii" => "System.Text.ASCIIEncoding",
        "utf32" => "System.Text.UTF32Encoding",
        _ => "System.Text.SBCSCodePageEncoding",
    };
    let web = match name {
        "utf8" | "utf8nobom" => "utf-8",
        "unicode" => "utf-16",
        "bigendianunicode" => "utf-16BE",
        "ascii" => "us-ascii",
        "utf32" => "utf-32",
        _ => "Windows-1252",
    };
    Value::object(
        Object::new(ObjKind::Encoding, tn)
            .with("Name", Value::str(name))
            .with("WebName", Value::str(web))
            .with("EncodingName", Value::str(web)),
    )
}

/// The encoding name of an encoding value or of an `-Encoding` argument.
pub fn encoding_name(v: &Value) -> Option<String> {
    match v {
        Value::Object(o) if o.borrow().kind == ObjKind::Encoding => {
            o.borrow().get("Name").map(to_string)
        }
        _ => None,
    }
}

/// Text → bytes in an encoding (no BOM; the callers add one where .NET does).
pub fn encode(name: &str, text: &str) -> Vec<u8> {
    match name {
        "unicode" => text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect(),
        "bigendianunicode" => text.encode_utf16().flat_map(|u| u.to_be_bytes()).collect(),
        "utf32" => text
            .chars()
            .flat_map(|c| (c as u32).to_le_bytes())
            .collect(),
        "ascii" => text
            .chars()
            .map(|c| if (c as u32) < 128 { c as u8 } else { b'?' })
            .collect(),
        // Windows-1252 ("Default" on an en-US system) and OEM (437): ASCII is the same;
        // Latin-1 range kept as bytes, others become '?'.
        "default" | "oem" => text
            .chars()
            .map(|c| {
                if (c as u32) < 256 {
                    c as u32 as u8
                } else {
                    b'?'
                }
            })
            .collect(),
        _ => text.as_bytes().to_vec(),
    }
}

/// Bytes → text in an encoding.
pub fn decode(name: &str, bytes: &[u8]) -> String {
    match name {
        "unicode" => String::from_utf16_lossy(
            &bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect::<Vec<_>>(),
        ),
        "bigendianunicode" => String::from_utf16_lossy(
            &bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect::<Vec<_>>(),
        ),
        "utf32" => bytes
            .chunks_exact(4)
            .filter_map(|c| char::from_u32(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        "ascii" => bytes
            .iter()
            .map(|&b| if b < 128 { b as char } else { '?' })
            .collect(),
        "default" | "oem" => bytes.iter().map(|&b| b as char).collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn bytes_of(v: &Value) -> Result<Vec<u8>, ErrorRecord> {
    match v {
        Value::Null => Ok(Vec::new()),
        _ => v
            .clone()
            .into_items()
            .iter()
            .map(|b| convert::to_i64(b).map(|n| n as u8).map_err(|e| err(e.0)))
            .collect(),
    }
}

// ----- environment ---------------------------------------------------------------------------

const MACHINE_ENV: &str = "SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment";
const USER_ENV: &str = "Environment";

fn env_target(v: &Value) -> Result<i64, ErrorRecord> {
    match convert_to_enum(v, "System.EnvironmentVariableTarget") {
        Some(Ok(Value::Enum(_, n))) if (0..=2).contains(&n) => Ok(n),
        Some(Err(e)) => Err(err(e)),
        _ => Err(err(
            "Specified argument was out of the range of valid values.\r\nParameter name: target",
        )),
    }
}

fn env_key(target: i64) -> (Hive, &'static str) {
    if target == 2 {
        (Hive::LocalMachine, MACHINE_ENV)
    } else {
        (Hive::CurrentUser, USER_ENV)
    }
}

/// Expands `%NAME%` with the process environment (RegistryKey.GetValue does for REG_EXPAND_SZ).
pub fn expand_env(interp: &Interp, s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.find('%') {
            Some(j) => {
                let name = &after[..j];
                match interp.env_get(name) {
                    Some(v) if !name.is_empty() => out.push_str(&v),
                    _ => {
                        out.push('%');
                        out.push_str(name);
                        out.push('%');
                    }
                }
                rest = &after[j + 1..];
            }
            None => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn set_env(interp: &mut Interp, args: &[Value]) -> Result<Value, ErrorRecord> {
    want("SetEnvironmentVariable", args, &[2, 3])?;
    let name = sarg(args, 0);
    if name.is_empty() || name.contains('=') || name.starts_with('\0') {
        return Err(method_exc(
            "SetEnvironmentVariable",
            args.len(),
            "System.ArgumentException",
            "Environment variable name cannot contain equal character.",
        ));
    }
    let target = if args.len() == 3 {
        env_target(&args[2])?
    } else {
        0
    };
    let value = match &args[1] {
        Value::Null => None,
        v => {
            let s = to_string(v);
            // .NET Framework deletes the variable for an empty value.
            if s.is_empty() || s.starts_with('\0') {
                None
            } else {
                Some(s)
            }
        }
    };
    if target == 0 {
        interp.env_set(&name, value);
        return Ok(Value::Null);
    }
    let (hive, key) = env_key(target);
    let reg = interp.host.registry();
    let herr = |e: crate::host::HostError| {
        method_exc(
            "SetEnvironmentVariable",
            args.len(),
            "System.Security.SecurityException",
            &e.0,
        )
    };
    match value {
        None => {
            if reg.key_exists(hive, key).map_err(herr)? {
                let exists = reg
                    .values(hive, key)
                    .map_err(herr)?
                    .iter()
                    .any(|v| v.name.eq_ignore_ascii_case(&name));
                if exists {
                    reg.delete_value(hive, key, &name).map_err(herr)?;
                }
            }
        }
        Some(v) => {
            reg.create_key(hive, key).map_err(herr)?;
            // RegistryKey.SetValue(name, string) writes REG_SZ, whatever the old kind was.
            reg.set_value(hive, key, RegValue::string(&name, REG_SZ, &v))
                .map_err(herr)?;
        }
    }
    Ok(Value::Null)
}

fn get_env(interp: &mut Interp, args: &[Value]) -> Result<Value, ErrorRecord> {
    want("GetEnvironmentVariable", args, &[1, 2])?;
    let name = sarg(args, 0);
    let target = if args.len() == 2 {
        env_target(&args[1])?
    } else {
        0
    };
    if target == 0 {
        return Ok(interp
            .env_get(&name)
            .map(Value::string)
            .unwrap_or(Value::Null));
    }
    let (hive, key) = env_key(target);
    let reg = interp.host.registry();
    let herr = |e: crate::host::HostError| err(e.0);
    if !reg.key_exists(hive, key).map_err(herr)? {
        return Ok(Value::Null);
    }
    let vals = reg.values(hive, key).map_err(herr)?;
    Ok(
        match vals.iter().find(|v| v.name.eq_ignore_ascii_case(&name)) {
            Some(v) if v.kind == REG_EXPAND_SZ => Value::string(expand_env(interp, &v.as_text())),
            Some(v) => reg_value_to_value(v),
            None => Value::Null,
        },
    )
}

/// A registry value as the registry provider returns it (string, int, long, byte[], string[]).
pub fn reg_value_to_value(v: &RegValue) -> Value {
    match v.kind {
        1 | 2 => Value::string(v.as_text()),
        4 if v.data.len() >= 4 => Value::Int(i32::from_le_bytes([
            v.data[0], v.data[1], v.data[2], v.data[3],
        ])),
        11 if v.data.len() >= 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&v.data[..8]);
            Value::Long(i64::from_le_bytes(b))
        }
        7 => Value::array(v.as_multi().into_iter().map(Value::string).collect()),
        _ => Value::bytes(&v.data),
    }
}

fn special_folder(interp: &Interp, n: i64) -> String {
    let profile = interp
        .env_get("USERPROFILE")
        .unwrap_or_else(|| "C:\\Users\\ContainerAdministrator".into());
    match n {
        0 => format!("{profile}\\Desktop"),
        5 => format!("{profile}\\Documents"),
        26 => format!("{profile}\\AppData\\Roaming"),
        28 => format!("{profile}\\AppData\\Local"),
        35 => "C:\\ProgramData".into(),
        36 => "C:\\Windows".into(),
        37 => "C:\\Windows\\system32".into(),
        38 => "C:\\Program Files".into(),
        40 => profile,
        41 => "C:\\Windows\\SysWOW64".into(),
        42 => "C:\\Program Files (x86)".into(),
        43 => "C:\\Program Files\\Common Files".into(),
        44 => "C:\\Program Files (x86)\\Common Files".into(),
        25 => "C:\\Users\\Public\\Desktop".into(),
        _ => String::new(),
    }
}

// ----- static members ------------------------------------------------------------------------

fn canon(tname: &str) -> Result<String, ErrorRecord> {
    convert::canonical_type(tname)
        .ok_or_else(|| ErrorRecord::runtime(format!("Unable to find type [{tname}].")))
}

/// `[T]::Name`.
pub fn get_static(interp: &mut Interp, tname: &str, name: &str) -> Res<Value> {
    let t = canon(tname)?;
    if let Some((ename, table, _)) = enum_table(&t) {
        return match table.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((_, v)) => Ok(Value::Enum(ename, *v)),
            None => Err(ErrorRecord::runtime(format!("[{t}] has no member {name}")).into()),
        };
    }
    let n = name.to_ascii_lowercase();
    Ok(match (t.as_str(), n.as_str()) {
        ("System.Net.ServicePointManager", "securityprotocol") => {
            Value::Enum("System.Net.SecurityProtocolType", interp.security_protocol)
        }
        ("System.Environment", "newline") => Value::str("\r\n"),
        ("System.Environment", "is64bitoperatingsystem")
        | ("System.Environment", "is64bitprocess") => Value::Bool(true),
        ("System.Environment", "machinename") => Value::string(
            interp
                .env_get("COMPUTERNAME")
                .unwrap_or_else(|| "localhost".into()),
        ),
        ("System.Environment", "username") => Value::string(
            interp
                .env_get("USERNAME")
                .unwrap_or_else(|| "ContainerAdministrator".into()),
        ),
        ("System.Environment", "currentdirectory") => Value::string(interp.process_cwd.clone()),
        ("System.Environment", "processorcount") => Value::Int(
            interp
                .env_get("NUMBER_OF_PROCESSORS")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1),
        ),
        ("System.Environment", "systemdirectory") => Value::str("C:\\Windows\\system32"),
        ("System.Environment", "osversion") => Value::object(
            Object::new(ObjKind::Custom, "System.OperatingSystem")
                .with("Platform", Value::str("Win32NT"))
                .with(
                    "Version",
                    parse_version("10.0.17763.0").unwrap_or(Value::Null),
                )
                .with(
                    "VersionString",
                    Value::str("Microsoft Windows NT 10.0.17763.0"),
                ),
        ),
        ("System.Text.Encoding", "utf8") => encoding("utf8"),
        ("System.Text.Encoding", "unicode") => encoding("unicode"),
        ("System.Text.Encoding", "bigendianunicode") => encoding("bigendianunicode"),
        ("System.Text.Encoding", "ascii") => encoding("ascii"),
        ("System.Text.Encoding", "default") => encoding("default"),
        ("System.Text.Encoding", "utf32") => encoding("utf32"),
        ("System.IO.Path", "directoryseparatorchar") => Value::Char('\\'),
        ("System.IO.Path", "altdirectoryseparatorchar") => Value::Char('/'),
        ("System.IO.Path", "pathseparator") => Value::Char(';'),
        ("System.Math", "pi") => Value::Double(std::f64::consts::PI),
        ("System.Math", "e") => Value::Double(std::f64::consts::E),
        ("System.Int32", "maxvalue") => Value::Int(i32::MAX),
        ("System.Int32", "minvalue") => Value::Int(i32::MIN),
        ("System.Int64", "maxvalue") => Value::Long(i64::MAX),
        ("System.Int64", "minvalue") => Value::Long(i64::MIN),
        ("System.Double", "maxvalue") => Value::Double(f64::MAX),
        ("System.String", "empty") => Value::str(""),
        ("System.DateTime", "now") => now(),
        ("System.DateTime", "utcnow") => now(),
        ("System.DateTime", "today") => {
            let n = now();
            let Value::Object(o) = &n else { return Ok(n) };
            let t = dt_field(&o.borrow(), "Ticks");
            datetime_from_ticks(t - t.rem_euclid(86400 * TICKS_PER_SEC))
        }
        ("System.Guid", "empty") => Value::str("00000000-0000-0000-0000-000000000000"),
        _ => {
            return Err(ErrorRecord::runtime(format!(
                "The .NET member [{t}]::{name} is not supported by this engine"
            ))
            .into())
        }
    })
}

/// `[T]::Name = value`.
pub fn set_static(
    interp: &mut Interp,
    tname: &str,
    name: &str,
    value: Value,
) -> Result<(), ErrorRecord> {
    let t = canon(tname)?;
    match (t.as_str(), name.to_ascii_lowercase().as_str()) {
        ("System.Net.ServicePointManager", "securityprotocol") => {
            match convert_to_enum(&value, "System.Net.SecurityProtocolType") {
                Some(Ok(Value::Enum(_, n))) => interp.security_protocol = n,
                Some(Err(e)) => return Err(ErrorRecord::runtime(format!("Exception setting \"SecurityProtocol\": \"{e}\""))),
                _ => return Err(ErrorRecord::runtime("Exception setting \"SecurityProtocol\"")),
            }
            Ok(())
        }
        ("System.Net.ServicePointManager", "servercertificatevalidationcallback") => Err(ErrorRecord::runtime(
            "[Net.ServicePointManager]::ServerCertificateValidationCallback is not supported: the host's TLS stack decides (use --runtime hcs on Windows)",
        )),
        ("System.Environment", "currentdirectory") => {
            interp.process_cwd = to_string(&value);
            Ok(())
        }
        _ => Err(ErrorRecord::runtime(format!("The .NET member [{t}]::{name} cannot be set by this engine"))),
    }
}

fn file_target(interp: &Interp, p: &str) -> Result<crate::winfs::WinPath, ErrorRecord> {
    let full = if p.contains(':') || p.starts_with(['\\', '/']) {
        p.to_string()
    } else {
        // .NET resolves relative paths against the process directory, which PowerShell does not
        // move with Set-Location; the engine's process directory is the initial location.
        format!("{}\\{}", interp.process_cwd.trim_end_matches('\\'), p)
    };
    match crate::winfs::resolve(&interp.process_cwd, &full) {
        Ok(crate::winfs::Target::File(w)) => Ok(w),
        Ok(_) => Err(err(format!(
            "The given path's format is not supported: {p}"
        ))),
        Err(e) => Err(err(e.0)),
    }
}

fn io_exc(method: &str, argc: usize, e: &std::io::Error, path: &str) -> ErrorRecord {
    match e.kind() {
        std::io::ErrorKind::NotFound => method_exc(
            method,
            argc,
            "System.IO.FileNotFoundException",
            &format!("Could not find file '{path}'."),
        ),
        std::io::ErrorKind::PermissionDenied => method_exc(
            method,
            argc,
            "System.UnauthorizedAccessException",
            &format!("Access to the path '{path}' is denied."),
        ),
        _ => method_exc(
            method,
            argc,
            "System.IO.IOException",
            &format!("{e}: {path}"),
        ),
    }
}

/// `[T]::Method(args)`.
pub fn invoke_static(interp: &mut Interp, tname: &str, name: &str, args: Vec<Value>) -> Res<Value> {
    let t = canon(tname)?;
    let n = name.to_ascii_lowercase();
    let drive = interp.host.drive_c().to_path_buf();
    let argc = args.len();
    let r: Result<Value, ErrorRecord> = match (t.as_str(), n.as_str()) {
        ("System.Environment", "setenvironmentvariable") => set_env(interp, &args),
        ("System.Environment", "getenvironmentvariable") => get_env(interp, &args),
        ("System.Environment", "getenvironmentvariables") => {
            let mut h = Hashtable::new(false);
            for (k, v) in &interp.env {
                h.set(Value::str(k), Value::str(v));
            }
            Ok(Value::hashtable(h))
        }
        ("System.Environment", "expandenvironmentvariables") => Ok(Value::string(expand_env(interp, &sarg(&args, 0)))),
        ("System.Environment", "getfolderpath") => {
            let n = match convert_to_enum(&arg(&args, 0), "System.Environment+SpecialFolder") {
                Some(Ok(Value::Enum(_, n))) => n,
                _ => return Err(err("unknown special folder").into()),
            };
            Ok(Value::string(special_folder(interp, n)))
        }
        ("System.Convert", "frombase64string") => {
            use base64::Engine;
            let s: String = sarg(&args, 0).chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map(|b| Value::bytes(&b))
                .map_err(|_| method_exc("FromBase64String", argc, "System.FormatException", "The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters. "))
        }
        ("System.Convert", "tobase64string") => {
            use base64::Engine;
            bytes_of(&arg(&args, 0)).map(|b| Value::string(base64::engine::general_purpose::STANDARD.encode(b)))
        }
        ("System.Convert", "toint32") if args.len() == 2 => {
            let base = convert::to_i64(&args[1]).unwrap_or(10) as u32;
            i64::from_str_radix(sarg(&args, 0).trim().trim_start_matches("0x"), base)
                .map(|n| Value::Int(n as i32))
                .map_err(|_| method_exc("ToInt32", argc, "System.FormatException", "Could not find any recognizable digits."))
        }
        ("System.Convert", "toint32") => convert::convert_to(&arg(&args, 0), "System.Int32").map_err(|e| err(e.0)),
        ("System.Convert", "tostring") => Ok(Value::string(to_string(&arg(&args, 0)))),
        ("System.Convert", "toboolean") => Ok(Value::Bool(to_bool(&arg(&args, 0)))),
        ("System.IO.Path", "combine") => {
            let mut acc = String::new();
            for a in &args {
                for p in a.clone().into_items() {
                    let p = to_string(&p);
                    if p.is_empty() {
                        continue;
                    }
                    if p.starts_with(['\\', '/']) || p.contains(':') || acc.is_empty() {
                        acc = p;
                    } else if acc.ends_with(['\\', '/', ':']) {
                        acc.push_str(&p);
                    } else {
                        acc.push('\\');
                        acc.push_str(&p);
                    }
                }
            }
            Ok(Value::string(acc))
        }
        ("System.IO.Path", "getfilename") => {
            let p = sarg(&args, 0);
            Ok(Value::string(p.rsplit(['\\', '/']).next().unwrap_or("").to_string()))
        }
        ("System.IO.Path", "getfilenamewithoutextension") => {
            let p = sarg(&args, 0);
            let f = p.rsplit(['\\', '/']).next().unwrap_or("");
            Ok(Value::string(match f.rfind('.') {
                Some(i) => f[..i].to_string(),
                None => f.to_string(),
            }))
        }
        ("System.IO.Path", "getextension") => {
            let p = sarg(&args, 0);
            let f = p.rsplit(['\\', '/']).next().unwrap_or("");
            Ok(Value::string(match f.rfind('.') {
                Some(i) if i + 1 < f.len() => f[i..].to_string(),
                _ => String::new(),
            }))
        }
        ("System.IO.Path", "getdirectoryname") => {
            let p = sarg(&args, 0);
            match p.rfind(['\\', '/']) {
                Some(i) if p[..i].ends_with(':') || i == 2 && p.as_bytes().get(1) == Some(&b':') => {
                    if p.len() <= 3 { Ok(Value::Null) } else { Ok(Value::string(p[..=i].to_string())) }
                }
                Some(i) => Ok(Value::string(p[..i].replace('/', "\\"))),
                None => Ok(Value::str("")),
            }
        }
        ("System.IO.Path", "gettemppath") => {
            let tmp = interp.env_get("TEMP").unwrap_or_else(|| "C:\\Users\\ContainerAdministrator\\AppData\\Local\\Temp".into());
            Ok(Value::string(format!("{}\\", tmp.trim_end_matches('\\'))))
        }
        ("System.IO.Path", "gettempfilename") => Err(err("[IO.Path]::GetTempFileName is not supported by this engine (it creates a file with a random name)")),
        ("System.IO.Path", "getfullpath") => file_target(interp, &sarg(&args, 0)).map(|w| Value::string(w.display())),
        ("System.IO.Path", "ispathrooted") => {
            let p = sarg(&args, 0);
            Ok(Value::Bool(p.starts_with(['\\', '/']) || p.get(1..2) == Some(":")))
        }
        ("System.IO.File", "exists") => {
            let w = file_target(interp, &sarg(&args, 0));
            Ok(Value::Bool(w.map(|w| w.unix(&drive).is_file()).unwrap_or(false)))
        }
        ("System.IO.Directory", "exists") => {
            let w = file_target(interp, &sarg(&args, 0));
            Ok(Value::Bool(w.map(|w| w.unix(&drive).is_dir()).unwrap_or(false)))
        }
        ("System.IO.File", "readalltext") => {
            let p = sarg(&args, 0);
            let w = file_target(interp, &p)?;
            match std::fs::read(w.unix(&drive)) {
                Ok(b) => Ok(Value::string(match args.get(1).and_then(encoding_name) {
                    Some(e) => decode(&e, &b),
                    None => crate::cmdlets::content::decode_text(&b),
                })),
                Err(e) => Err(io_exc("ReadAllText", argc, &e, &w.display())),
            }
        }
        ("System.IO.File", "readalllines") => {
            let p = sarg(&args, 0);
            let w = file_target(interp, &p)?;
            match std::fs::read(w.unix(&drive)) {
                Ok(b) => {
                    let text = crate::cmdlets::content::decode_text(&b);
                    Ok(Value::array(crate::cmdlets::content::split_lines(&text).into_iter().map(Value::string).collect()))
                }
                Err(e) => Err(io_exc("ReadAllLines", argc, &e, &w.display())),
            }
        }
        ("System.IO.File", "readallbytes") => {
            let w = file_target(interp, &sarg(&args, 0))?;
            std::fs::read(w.unix(&drive)).map(|b| Value::bytes(&b)).map_err(|e| io_exc("ReadAllBytes", argc, &e, &w.display()))
        }
        ("System.IO.File", "writealltext") | ("System.IO.File", "appendalltext") | ("System.IO.File", "writealllines") => {
            want(name, &args, &[2, 3])?;
            let w = file_target(interp, &sarg(&args, 0))?;
            let text = if n == "writealllines" {
                let mut s = String::new();
                for l in args[1].clone().into_items() {
                    s.push_str(&to_string(&l));
                    s.push_str("\r\n");
                }
                s
            } else {
                to_string(&args[1])
            };
            // .NET's File.WriteAllText default: UTF-8 without BOM; an explicit UTF8 encoding
            // object writes the BOM (Encoding.UTF8's preamble).
            let (enc, bom) = match args.get(2).and_then(encoding_name) {
                Some(e) if e == "utf8" => ("utf8".to_string(), vec![0xEF, 0xBB, 0xBF]),
                Some(e) if e == "unicode" => (e, vec![0xFF, 0xFE]),
                Some(e) if e == "bigendianunicode" => (e, vec![0xFE, 0xFF]),
                Some(e) => (e, vec![]),
                None => ("utf8".to_string(), vec![]),
            };
            let path = w.unix(&drive);
            let mut data = Vec::new();
            let appending = n == "appendalltext" && path.exists();
            if !appending {
                data.extend(bom);
            }
            data.extend(encode(&enc, &text));
            let r = if appending {
                use std::io::Write;
                std::fs::OpenOptions::new().append(true).open(&path).and_then(|mut f| f.write_all(&data))
            } else {
                std::fs::write(&path, &data)
            };
            r.map(|_| Value::Null).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    method_exc(name, argc, "System.IO.DirectoryNotFoundException", &format!("Could not find a part of the path '{}'.", w.display()))
                } else {
                    io_exc(name, argc, &e, &w.display())
                }
            })
        }
        ("System.IO.File", "writeallbytes") => {
            let w = file_target(interp, &sarg(&args, 0))?;
            let b = bytes_of(&arg(&args, 1))?;
            std::fs::write(w.unix(&drive), b).map(|_| Value::Null).map_err(|e| io_exc("WriteAllBytes", argc, &e, &w.display()))
        }
        ("System.IO.File", "delete") => {
            let w = file_target(interp, &sarg(&args, 0))?;
            let p = w.unix(&drive);
            // File.Delete on a missing file is not an error.
            match std::fs::remove_file(&p) {
                Ok(()) => Ok(Value::Null),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Null),
                Err(e) => Err(io_exc("Delete", argc, &e, &w.display())),
            }
        }
        ("System.IO.File", "copy") => {
            let from = file_target(interp, &sarg(&args, 0))?;
            let to = file_target(interp, &sarg(&args, 1))?;
            let overwrite = args.get(2).map(to_bool).unwrap_or(false);
            let dest = to.unix(&drive);
            if dest.exists() && !overwrite {
                Err(method_exc("Copy", argc, "System.IO.IOException", &format!("The file '{}' already exists.", to.display())))
            } else {
                let _ = std::fs::remove_file(&dest);
                std::fs::copy(from.unix(&drive), &dest).map(|_| Value::Null).map_err(|e| io_exc("Copy", argc, &e, &from.display()))
            }
        }
        ("System.IO.File", "move") => {
            let from = file_target(interp, &sarg(&args, 0))?;
            let to = file_target(interp, &sarg(&args, 1))?;
            std::fs::rename(from.unix(&drive), to.unix(&drive)).map(|_| Value::Null).map_err(|e| io_exc("Move", argc, &e, &from.display()))
        }
        ("System.IO.Directory", "createdirectory") => {
            let w = file_target(interp, &sarg(&args, 0))?;
            std::fs::create_dir_all(w.unix(&drive))
                .map(|_| crate::cmdlets::items::item_value(interp, &w))
                .map_err(|e| io_exc("CreateDirectory", argc, &e, &w.display()))
        }
        ("System.IO.Directory", "move") => {
            want("Move", &args, &[2])?;
            let from = file_target(interp, &sarg(&args, 0))?;
            let to = file_target(interp, &sarg(&args, 1))?;
            let (fu, tu) = (from.unix(&drive), to.unix(&drive));
            if !fu.exists() {
                Err(method_exc("Move", argc, "System.IO.DirectoryNotFoundException", &format!("Could not find a part of the path '{}'.", from.display())))
            } else if tu.exists() {
                Err(method_exc("Move", argc, "System.IO.IOException", "Cannot create a file when that file already exists.\r\n"))
            } else {
                std::fs::rename(&fu, &tu).map(|_| Value::Null).map_err(|e| io_exc("Move", argc, &e, &from.display()))
            }
        }
        ("System.IO.Compression.ZipFile", "extracttodirectory") => {
            want("ExtractToDirectory", &args, &[2])?;
            if !interp.loaded_assemblies.iter().any(|a| a.eq_ignore_ascii_case("System.IO.Compression.FileSystem")) {
                return Err(ErrorRecord::new(
                    "Unable to find type [System.IO.Compression.ZipFile].",
                    "System.Management.Automation.RuntimeException",
                    "InvalidOperation",
                    "TypeNotFound",
                )
                .into());
            }
            let from = file_target(interp, &sarg(&args, 0))?;
            let to = file_target(interp, &sarg(&args, 1))?;
            crate::cmdlets::archive::unzip(&drive, &from, &to, crate::cmdlets::archive::Existing::Fail, &mut Vec::new()).map(|_| Value::Null).map_err(|e| {
                let msg = if e.exists { format!("The file '{}' already exists.", e.message) } else { e.message };
                method_exc("ExtractToDirectory", argc, "System.IO.IOException", &msg)
            })
        }
        ("System.IO.Directory", "delete") => {
            let w = file_target(interp, &sarg(&args, 0))?;
            let recursive = args.get(1).map(to_bool).unwrap_or(false);
            let p = w.unix(&drive);
            let r = if recursive { std::fs::remove_dir_all(&p) } else { std::fs::remove_dir(&p) };
            r.map(|_| Value::Null).map_err(|e| io_exc("Delete", argc, &e, &w.display()))
        }
        ("System.IO.Directory", "getfiles") | ("System.IO.Directory", "getdirectories") => {
            let w = file_target(interp, &sarg(&args, 0))?;
            let want_dirs = n == "getdirectories";
            let pattern = args.get(1).map(to_string).unwrap_or_else(|| "*".into());
            let mut names: Vec<String> = std::fs::read_dir(w.unix(&drive))
                .map_err(|e| io_exc(name, argc, &e, &w.display()))?
                .flatten()
                .filter(|e| e.path().is_dir() == want_dirs)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| crate::ops::wildcard_match(&pattern, n, false))
                .collect();
            names.sort_by_key(|n| n.to_lowercase());
            Ok(Value::array(names.into_iter().map(|n| Value::string(w.join(&n).display())).collect()))
        }
        ("System.String", "isnullorempty") => Ok(Value::Bool(to_string(&arg(&args, 0)).is_empty())),
        ("System.String", "isnullorwhitespace") => Ok(Value::Bool(to_string(&arg(&args, 0)).trim().is_empty())),
        ("System.String", "join") => {
            let sep = sarg(&args, 0);
            let items: Vec<Value> = if args.len() == 2 { args[1].clone().into_items() } else { args[1..].to_vec() };
            Ok(Value::string(items.iter().map(to_string).collect::<Vec<_>>().join(&sep)))
        }
        ("System.String", "format") => {
            let rest: Vec<Value> = if args.len() == 2 { args[1].clone().into_items() } else { args[1..].to_vec() };
            crate::ops::format(&sarg(&args, 0), &rest).map_err(|e| err(e.0))
        }
        ("System.String", "concat") => Ok(Value::string(args.iter().map(to_string).collect())),
        ("System.String", "equals") => Ok(Value::Bool(sarg(&args, 0) == sarg(&args, 1))),
        ("System.String", "compare") => {
            let ic = args.get(2).map(to_bool).unwrap_or(false);
            let (a, b) = if ic { (sarg(&args, 0).to_lowercase(), sarg(&args, 1).to_lowercase()) } else { (sarg(&args, 0), sarg(&args, 1)) };
            Ok(Value::Int(match a.cmp(&b) {
                Ordering::Less => -1,
                Ordering::Equal => 0,
                Ordering::Greater => 1,
            }))
        }
        ("System.Math", _) => math(&n, &args),
        ("System.Int32", "parse") => convert::convert_to(&arg(&args, 0), "System.Int32").map_err(|e| method_exc("Parse", argc, "System.FormatException", &e.0)),
        ("System.Int64", "parse") => convert::convert_to(&arg(&args, 0), "System.Int64").map_err(|e| method_exc("Parse", argc, "System.FormatException", &e.0)),
        ("System.Double", "parse") => convert::convert_to(&arg(&args, 0), "System.Double").map_err(|e| method_exc("Parse", argc, "System.FormatException", &e.0)),
        ("System.Version", "parse") => parse_version(&sarg(&args, 0)).map_err(|e| method_exc("Parse", argc, "System.ArgumentException", &e)),
        ("System.DateTime", "parse") => parse_datetime(&sarg(&args, 0)).map_err(|e| method_exc("Parse", argc, "System.FormatException", &e)),
        ("System.Int32", "tryparse") | ("System.Version", "tryparse") => Err(err(format!("[{t}]::TryParse needs a [ref] argument, which this engine does not support"))),
        ("System.Text.RegularExpressions.Regex", "escape") => Ok(Value::string(regex::escape(&sarg(&args, 0)))),
        ("System.Text.RegularExpressions.Regex", "ismatch") => {
            let re = crate::ops::regex(&sarg(&args, 1), true).map_err(|e| err(e.0))?;
            Ok(Value::Bool(re.is_match(&sarg(&args, 0))))
        }
        ("System.Text.RegularExpressions.Regex", "replace") => {
            crate::ops::replace(&arg(&args, 0), &arg(&args, 1), &arg(&args, 2), true).map_err(|e| err(e.0))
        }
        ("System.Text.RegularExpressions.Regex", "split") => crate::ops::split(&arg(&args, 0), &arg(&args, 1), None, true).map_err(|e| err(e.0)),
        ("System.Guid", "newguid") => Err(err("[Guid]::NewGuid is not supported: a random value would make the layer irreproducible")),
        ("System.Char", "isdigit") => Ok(Value::Bool(sarg(&args, 0).chars().next().is_some_and(|c| c.is_ascii_digit()))),
        ("System.Char", "isletter") => Ok(Value::Bool(sarg(&args, 0).chars().next().is_some_and(|c| c.is_alphabetic()))),
        (_, "new") => return new_object(interp, &t, args),
        _ => Err(ErrorRecord::runtime(format!("The .NET method [{t}]::{name}() is not supported by this engine"))),
    };
    r.map_err(Into::into)
}

fn math(n: &str, args: &[Value]) -> Result<Value, ErrorRecord> {
    let f = |i: usize| convert::to_f64(&arg(args, i)).map_err(|e| err(e.0));
    let all_int = args
        .iter()
        .all(|a| matches!(a, Value::Int(_) | Value::Long(_)));
    Ok(match n {
        "abs" if all_int => {
            let x = convert::to_i64(&arg(args, 0)).map_err(|e| err(e.0))?.abs();
            if matches!(arg(args, 0), Value::Int(_)) {
                Value::Int(x as i32)
            } else {
                Value::Long(x)
            }
        }
        "abs" => Value::Double(f(0)?.abs()),
        "max" | "min" if all_int => {
            let a = convert::to_i64(&arg(args, 0)).map_err(|e| err(e.0))?;
            let b = convert::to_i64(&arg(args, 1)).map_err(|e| err(e.0))?;
            let r = if n == "max" { a.max(b) } else { a.min(b) };
            if matches!((arg(args, 0), arg(args, 1)), (Value::Int(_), Value::Int(_))) {
                Value::Int(r as i32)
            } else {
                Value::Long(r)
            }
        }
        "max" => Value::Double(f(0)?.max(f(1)?)),
        "min" => Value::Double(f(0)?.min(f(1)?)),
        "floor" => Value::Double(f(0)?.floor()),
        "ceiling" => Value::Double(f(0)?.ceil()),
        "truncate" => Value::Double(f(0)?.trunc()),
        "round" => {
            let x = f(0)?;
            let digits = if args.len() > 1 {
                convert::to_i64(&args[1]).unwrap_or(0) as i32
            } else {
                0
            };
            let m = 10f64.powi(digits);
            let y = x * m;
            // Banker's rounding (MidpointRounding.ToEven, .NET's default).
            let r = if (y - y.trunc()).abs() == 0.5 {
                2.0 * (y / 2.0).round()
            } else {
                y.round()
            };
            Value::Double(r / m)
        }
        "sqrt" => Value::Double(f(0)?.sqrt()),
        "pow" => Value::Double(f(0)?.powf(f(1)?)),
        "log" => Value::Double(if args.len() > 1 {
            f(0)?.log(f(1)?)
        } else {
            f(0)?.ln()
        }),
        "log10" => Value::Double(f(0)?.log10()),
        "exp" => Value::Double(f(0)?.exp()),
        "sign" => Value::Int(f(0)?.signum() as i32 * i32::from(f(0)? != 0.0)),
        _ => {
            return Err(ErrorRecord::runtime(format!(
                "The .NET method [System.Math]::{n}() is not supported by this engine"
            )))
        }
    })
}

/// `New-Object T args` / `[T]::new(args)`.
pub fn new_object(interp: &mut Interp, tname: &str, args: Vec<Value>) -> Res<Value> {
    let _ = interp;
    let t = canon(tname)?;
    Ok(match t.as_str() {
        "System.Net.WebClient" => Value::object(
            Object::new(ObjKind::WebClient, "System.Net.WebClient")
                .with("Headers", Value::hashtable(Hashtable::new(false)))
                .with("UseDefaultCredentials", Value::Bool(false))
                .with("Encoding", encoding("default")),
        ),
        "System.Collections.ArrayList" | "System.Collections.Generic.List" => {
            let items = match args.first() {
                Some(v) if !v.is_numeric() => v.clone().into_items(),
                _ => Vec::new(),
            };
            Value::object(
                Object::new(
                    ObjKind::List,
                    if t.contains("Generic") {
                        "System.Collections.Generic.List`1"
                    } else {
                        "System.Collections.ArrayList"
                    },
                )
                .with("__items", Value::array(items)),
            )
        }
        "System.Text.StringBuilder" => Value::object(
            Object::new(ObjKind::StringBuilder, "System.Text.StringBuilder").with(
                "__text",
                Value::string(args.first().map(to_string).unwrap_or_default()),
            ),
        ),
        "System.Version" => {
            if args.len() == 1 {
                parse_version(&sarg(&args, 0)).map_err(err)?
            } else {
                let nums: Result<Vec<i32>, _> = args.iter().map(convert::to_i32).collect();
                make_version(&nums.map_err(|e| err(e.0))?)
            }
        }
        "System.Uri" => make_uri(&sarg(&args, 0)).map_err(err)?,
        "System.DateTime" => {
            let g = |i: usize| {
                args.get(i)
                    .and_then(|v| convert::to_i64(v).ok())
                    .unwrap_or(0)
            };
            if args.len() >= 3 {
                let days = days_from_civil(g(0), g(1), g(2));
                datetime_from_ticks(
                    UNIX_EPOCH_TICKS
                        + (days * 86400 + g(3) * 3600 + g(4) * 60 + g(5)) * TICKS_PER_SEC,
                )
            } else {
                return Err(err("new DateTime needs year, month, day").into());
            }
        }
        "System.Object" | "System.Management.Automation.PSCustomObject" => {
            Value::object(Object::new(
                ObjKind::Custom,
                "System.Management.Automation.PSCustomObject",
            ))
        }
        "System.Collections.Hashtable" => Value::hashtable(Hashtable::new(false)),
        "System.Collections.Specialized.OrderedDictionary" => {
            Value::hashtable(Hashtable::new(true))
        }
        "System.Exception"
        | "System.Management.Automation.RuntimeException"
        | "System.IO.IOException"
        | "System.IO.FileNotFoundException"
        | "System.ArgumentException"
        | "System.InvalidOperationException" => Value::object(
            Object::new(ObjKind::Exception, &t).with(
                "Message",
                Value::string(
                    args.first()
                        .map(to_string)
                        .unwrap_or_else(|| format!("Exception of type '{t}' was thrown.")),
                ),
            ),
        ),
        "System.String" => {
            if args.len() == 2 {
                let n = convert::to_i64(&args[1]).map_err(|e| err(e.0))?;
                Value::string(sarg(&args, 0).repeat(n.clamp(0, 1 << 24) as usize))
            } else {
                Value::string(sarg(&args, 0))
            }
        }
        _ => {
            return Err(ErrorRecord::runtime(format!(
                "New-Object {t} is not supported by this engine"
            ))
            .into())
        }
    })
}

// ----- instance members ----------------------------------------------------------------------

fn type_value(v: &Value) -> Value {
    let full = v.type_name();
    let short = full.rsplit('.').next().unwrap_or(&full).to_string();
    Value::object(
        Object::new(ObjKind::TypeInfo, "System.RuntimeType")
            .with("FullName", Value::string(full.clone()))
            .with("Name", Value::string(short)),
    )
}

/// `$v.Name` (properties; member enumeration over arrays).
pub fn get_member(interp: &mut Interp, v: &Value, name: &str) -> Res<Value> {
    let n = name.to_ascii_lowercase();
    let r = match v {
        Value::Null => Value::Null,
        Value::Str(s) => match n.as_str() {
            "length" => Value::Int(s.encode_utf16().count() as i32),
            _ => Value::Null,
        },
        Value::Array(a) => match n.as_str() {
            "count" | "length" => Value::Int(a.borrow().len() as i32),
            "rank" => Value::Int(1),
            "issynchronized" | "isfixedsize" => Value::Bool(n == "isfixedsize"),
            _ => {
                // Member enumeration: the property of each element (nulls dropped).
                let items = a.borrow().clone();
                let mut out = Vec::new();
                for it in items {
                    let x = get_member(interp, &it, name)?;
                    match x {
                        Value::Null => {}
                        Value::Array(inner) => out.extend(inner.borrow().iter().cloned()),
                        other => out.push(other),
                    }
                }
                crate::interp::unwrap_output(out)
            }
        },
        Value::Hashtable(h) => {
            let h = h.borrow();
            if let Some(val) = h.get_str(name) {
                val.clone()
            } else {
                match n.as_str() {
                    "count" => Value::Int(h.entries.len() as i32),
                    "keys" => Value::array(h.entries.iter().map(|(k, _)| k.clone()).collect()),
                    "values" => Value::array(h.entries.iter().map(|(_, v)| v.clone()).collect()),
                    _ => Value::Null,
                }
            }
        }
        Value::Object(o) => {
            let ob = o.borrow();
            match (&ob.kind, n.as_str()) {
                (ObjKind::List, "count") => {
                    Value::Int(v.enumerate().map(|x| x.len()).unwrap_or(0) as i32)
                }
                (ObjKind::StringBuilder, "length") => {
                    Value::Int(ob.get("__text").map(|t| to_string(t).len()).unwrap_or(0) as i32)
                }
                (ObjKind::Process, "hasexited") => Value::Bool(true),
                _ => match ob.get(name) {
                    Some(x) => x.clone(),
                    None => match n.as_str() {
                        "count" | "length" if ob.kind != ObjKind::FileInfo => Value::Int(1),
                        "psobject" | "pstypenames" => {
                            return Err(ErrorRecord::runtime(format!(
                                "the .NET member .{name} is not supported by this engine"
                            ))
                            .into())
                        }
                        _ => Value::Null,
                    },
                },
            }
        }
        Value::Type(t) => match n.as_str() {
            "fullname" => Value::str(t),
            "name" => Value::string(t.rsplit('.').next().unwrap_or(t).to_string()),
            _ => return get_static(interp, t, name),
        },
        Value::Enum(t, val) => match n.as_str() {
            "value__" => Value::Long(*val),
            _ => {
                let _ = t;
                Value::Null
            }
        },
        Value::ScriptBlock(sb) => match n.as_str() {
            "ast" | "file" | "module" => Value::Null,
            _ => {
                let _ = sb;
                Value::Null
            }
        },
        scalar => match n.as_str() {
            "count" | "length" => Value::Int(1),
            _ => {
                let _ = scalar;
                Value::Null
            }
        },
    };
    Ok(r)
}

/// `$v.Name = value`.
pub fn set_member(v: &Value, name: &str, value: Value) -> Result<(), ErrorRecord> {
    match v {
        Value::Hashtable(h) => {
            h.borrow_mut().set(Value::str(name), value);
            Ok(())
        }
        Value::Object(o) => {
            let mut o = o.borrow_mut();
            match o.kind {
                ObjKind::Custom | ObjKind::WebClient | ObjKind::RegistryProperties => {
                    if o.kind == ObjKind::WebClient && name.eq_ignore_ascii_case("Proxy") {
                        return Err(ErrorRecord::runtime("WebClient.Proxy is not supported: the host's proxy settings apply"));
                    }
                    if o.kind == ObjKind::WebClient && name.eq_ignore_ascii_case("Credentials") && !value.is_null() {
                        return Err(ErrorRecord::runtime("WebClient.Credentials is not supported by this engine"));
                    }
                    o.set(name, value);
                    Ok(())
                }
                _ if o.has(name) => {
                    Err(ErrorRecord::runtime(format!("'{name}' is a ReadOnly property.")))
                }
                _ => Err(ErrorRecord::new(
                    format!("The property '{name}' cannot be found on this object. Verify that the property exists and can be set."),
                    "System.Management.Automation.RuntimeException",
                    "InvalidOperation",
                    "PropertyNotFound",
                )),
            }
        }
        Value::Array(a) => {
            for it in a.borrow().iter() {
                set_member(it, name, value.clone())?;
            }
            Ok(())
        }
        Value::Null => Err(ErrorRecord::new(
            format!("The property '{name}' cannot be found on this object. Verify that the property exists and can be set."),
            "System.Management.Automation.RuntimeException",
            "InvalidOperation",
            "PropertyNotFound",
        )),
        other => Err(ErrorRecord::runtime(format!("The property '{name}' cannot be set on a {}.", other.type_name()))),
    }
}

fn string_method(s: &str, n: &str, args: &[Value]) -> Option<Result<Value, ErrorRecord>> {
    let a0 = || sarg(args, 0);
    let chars_of = |v: &Value| -> Vec<char> {
        match v {
            Value::Array(a) => a
                .borrow()
                .iter()
                .flat_map(|c| to_string(c).chars().collect::<Vec<_>>())
                .collect(),
            other => to_string(other).chars().collect(),
        }
    };
    let idx = |i: usize| args.get(i).map(|v| convert::to_i64(v).unwrap_or(0));
    let utf16: Vec<u16> = s.encode_utf16().collect();
    let sub = |from: i64, len: Option<i64>| -> Result<Value, ErrorRecord> {
        let total = utf16.len() as i64;
        let len = len.unwrap_or(total - from);
        if from < 0 || len < 0 || from + len > total {
            return Err(method_exc("Substring", args.len(), "System.ArgumentOutOfRangeException", "Index and length must refer to a location within the string.\r\nParameter name: length"));
        }
        Ok(Value::string(String::from_utf16_lossy(
            &utf16[from as usize..(from + len) as usize],
        )))
    };
    Some(Ok(match n {
        "trim" => {
            if args.is_empty() {
                Value::str(s.trim())
            } else {
                let c = chars_of(&args[0]);
                Value::str(s.trim_matches(|x| c.contains(&x)))
            }
        }
        "trimstart" => {
            if args.is_empty() {
                Value::str(s.trim_start())
            } else {
                let c = chars_of(&args[0]);
                Value::str(s.trim_start_matches(|x| c.contains(&x)))
            }
        }
        "trimend" => {
            if args.is_empty() {
                Value::str(s.trim_end())
            } else {
                let c = chars_of(&args[0]);
                Value::str(s.trim_end_matches(|x| c.contains(&x)))
            }
        }
        "toupper" | "toupperinvariant" => Value::string(s.to_uppercase()),
        "tolower" | "tolowerinvariant" => Value::string(s.to_lowercase()),
        "contains" => Value::Bool(s.contains(&a0())),
        "startswith" => {
            let ic = args.get(1).is_some_and(|v| {
                to_string(v).to_ascii_lowercase().contains("ignorecase")
                    || to_bool(v) && matches!(v, Value::Bool(_))
            });
            Value::Bool(if ic {
                s.to_lowercase().starts_with(&a0().to_lowercase())
            } else {
                s.starts_with(&a0())
            })
        }
        "endswith" => {
            let ic = args.get(1).is_some_and(|v| {
                to_string(v).to_ascii_lowercase().contains("ignorecase")
                    || to_bool(v) && matches!(v, Value::Bool(_))
            });
            Value::Bool(if ic {
                s.to_lowercase().ends_with(&a0().to_lowercase())
            } else {
                s.ends_with(&a0())
            })
        }
        "replace" => {
            if args.len() != 2 {
                return Some(Err(want("Replace", args, &[2]).err()?));
            }
            let from = a0();
            if from.is_empty() {
                return Some(Err(method_exc(
                    "Replace",
                    2,
                    "System.ArgumentException",
                    "String cannot be of zero length.\r\nParameter name: oldValue",
                )));
            }
            Value::string(s.replace(&from, &sarg(args, 1)))
        }
        "split" => {
            let seps = match args.first() {
                None => vec![' ', '\t', '\n', '\r'],
                Some(v) => chars_of(v),
            };
            let remove_empty = args
                .iter()
                .skip(1)
                .any(|v| to_string(v).eq_ignore_ascii_case("RemoveEmptyEntries"));
            let parts: Vec<Value> = s
                .split(|c| seps.contains(&c))
                .filter(|p| !remove_empty || !p.is_empty())
                .map(Value::str)
                .collect();
            Value::array(parts)
        }
        "substring" => return Some(sub(idx(0).unwrap_or(0), idx(1))),
        "indexof" | "lastindexof" => {
            let needle = a0();
            let pos = if n == "indexof" {
                s.find(&needle)
            } else {
                s.rfind(&needle)
            };
            Value::Int(
                pos.map(|p| s[..p].encode_utf16().count() as i32)
                    .unwrap_or(-1),
            )
        }
        "padleft" | "padright" => {
            let w = idx(0).unwrap_or(0).max(0) as usize;
            let c = args
                .get(1)
                .map(|v| to_string(v).chars().next().unwrap_or(' '))
                .unwrap_or(' ');
            let len = s.chars().count();
            let pad: String = std::iter::repeat_n(c, w.saturating_sub(len)).collect();
            Value::string(if n == "padleft" {
                format!("{pad}{s}")
            } else {
                format!("{s}{pad}")
            })
        }
        "insert" => {
            let i = idx(0).unwrap_or(0).clamp(0, s.len() as i64) as usize;
            Value::string(format!("{}{}{}", &s[..i], sarg(args, 1), &s[i..]))
        }
        "remove" => {
            let i = idx(0).unwrap_or(0).max(0) as usize;
            let chars: Vec<char> = s.chars().collect();
            let end = match idx(1) {
                Some(l) => (i + l.max(0) as usize).min(chars.len()),
                None => chars.len(),
            };
            let mut out: String = chars[..i.min(chars.len())].iter().collect();
            out.extend(&chars[end..]);
            Value::string(out)
        }
        "equals" => Value::Bool(s == a0()),
        "compareto" => Value::Int(match s.cmp(&a0()) {
            Ordering::Less => -1,
            Ordering::Equal => 0,
            Ordering::Greater => 1,
        }),
        "tochararray" => Value::array(s.chars().map(Value::Char).collect()),
        "normalize" => Value::str(s),
        "gethashcode" => return Some(Err(err("GetHashCode is not supported by this engine"))),
        _ => return None,
    }))
}

/// `$v.Method(args)`.
pub fn invoke_method(interp: &mut Interp, v: &Value, name: &str, args: Vec<Value>) -> Res<Value> {
    let n = name.to_ascii_lowercase();
    // Members every object has.
    match n.as_str() {
        "gettype" if args.is_empty() && !v.is_null() => return Ok(type_value(v)),
        "tostring" if !matches!(v, Value::Null) => {
            if let Some(fmt) = args.first() {
                return crate::ops::format_value(v, Some(&to_string(fmt)))
                    .map(Value::string)
                    .map_err(|e| err(e.0).into());
            }
            return Ok(Value::string(to_string(v)));
        }
        _ => {}
    }
    let r: Result<Value, ErrorRecord> = match v {
        Value::Null => Err(ErrorRecord::new(
            "You cannot call a method on a null-valued expression.",
            "System.Management.Automation.RuntimeException",
            "InvalidOperation",
            "InvokeMethodOnNull",
        )),
        Value::Str(s) => match string_method(s, &n, &args) {
            Some(r) => r,
            None => Err(no_member("System.String", name)),
        },
        Value::Array(a) => match n.as_str() {
            "contains" => Ok(Value::Bool(
                a.borrow()
                    .iter()
                    .any(|x| crate::ops::equals(x, &arg(&args, 0), true)),
            )),
            "indexof" => Ok(Value::Int(
                a.borrow()
                    .iter()
                    .position(|x| crate::ops::equals(x, &arg(&args, 0), true))
                    .map(|p| p as i32)
                    .unwrap_or(-1),
            )),
            "clone" => Ok(Value::array(a.borrow().clone())),
            "getvalue" => Ok(crate::interp::index_value(v, &arg(&args, 0))?),
            "add" | "remove" | "clear" | "insert" => Err(method_exc(
                name,
                args.len(),
                "System.NotSupportedException",
                "Collection was of a fixed size.",
            )),
            "foreach" | "where" => {
                let Some(Value::ScriptBlock(sb)) = args.first() else {
                    return Err(err(format!(".{name}() needs a script block")).into());
                };
                let items = a.borrow().clone();
                let mut out = Vec::new();
                for it in items {
                    let mut o = crate::interp::Out::collect();
                    interp.run_block_with_item(sb, &it, &mut o)?;
                    if n == "foreach" {
                        out.extend(o.items);
                    } else if to_bool(&crate::interp::unwrap_output(o.items)) {
                        out.push(it);
                    }
                }
                Ok(Value::array(out))
            }
            _ => {
                // Method enumeration: call on each element.
                let items = a.borrow().clone();
                let mut out = Vec::new();
                for it in items {
                    let x = invoke_method(interp, &it, name, args.clone())?;
                    if !x.is_null() {
                        out.push(x);
                    }
                }
                Ok(crate::interp::unwrap_output(out))
            }
        },
        Value::Hashtable(h) => match n.as_str() {
            "containskey" | "contains" => Ok(Value::Bool(h.borrow().contains(&arg(&args, 0)))),
            "containsvalue" => {
                Ok(Value::Bool(h.borrow().entries.iter().any(|(_, x)| {
                    crate::ops::equals(x, &arg(&args, 0), false)
                })))
            }
            "add" => {
                want("Add", &args, &[2])?;
                let mut hb = h.borrow_mut();
                if hb.contains(&args[0]) {
                    Err(method_exc("Add", 2, "System.ArgumentException", &format!("Item has already been added. Key in dictionary: '{}'  Key being added: '{}'", to_string(&args[0]), to_string(&args[0]))))
                } else {
                    hb.set(args[0].clone(), args[1].clone());
                    Ok(Value::Null)
                }
            }
            "remove" => {
                h.borrow_mut().remove(&arg(&args, 0));
                Ok(Value::Null)
            }
            "clear" => {
                h.borrow_mut().entries.clear();
                Ok(Value::Null)
            }
            "clone" => Ok(Value::hashtable(h.borrow().clone())),
            "getenumerator" => Ok(Value::array(
                h.borrow()
                    .entries
                    .iter()
                    .map(|(k, v)| {
                        Value::object(
                            Object::new(
                                ObjKind::DictionaryEntry,
                                "System.Collections.DictionaryEntry",
                            )
                            .with("Key", k.clone())
                            .with("Name", k.clone())
                            .with("Value", v.clone()),
                        )
                    })
                    .collect(),
            )),
            "set_item" => {
                h.borrow_mut().set(arg(&args, 0), arg(&args, 1));
                Ok(Value::Null)
            }
            _ => Err(no_member(&v.type_name(), name)),
        },
        Value::ScriptBlock(sb) => match n.as_str() {
            "invoke" | "invokereturnasis" => {
                let out = interp.invoke_scriptblock(sb.clone(), args)?;
                Ok(if n == "invoke" {
                    Value::array(out)
                } else {
                    crate::interp::unwrap_output(out)
                })
            }
            "getnewclosure" => Ok(v.clone()),
            _ => Err(no_member("System.Management.Automation.ScriptBlock", name)),
        },
        Value::Object(o) => object_method(interp, o, &n, name, args),
        Value::Type(t) => invoke_static(interp, t, name, args).map_err(|f| match f {
            crate::errors::Flow::Error(e) => *e,
            _ => err("unexpected control flow"),
        }),
        Value::Enum(t, val) => match n.as_str() {
            "hasflag" => {
                let f = match convert_to_enum(&arg(&args, 0), t) {
                    Some(Ok(Value::Enum(_, f))) => f,
                    _ => 0,
                };
                Ok(Value::Bool(val & f == f))
            }
            _ => Err(no_member(t, name)),
        },
        scalar => match n.as_str() {
            "equals" => Ok(Value::Bool(crate::ops::equals(
                scalar,
                &arg(&args, 0),
                true,
            ))),
            "compareto" => Ok(Value::Int(
                match crate::ops::compare(scalar, &arg(&args, 0), true).map_err(|e| err(e.0))? {
                    Ordering::Less => -1,
                    Ordering::Equal => 0,
                    Ordering::Greater => 1,
                },
            )),
            _ => Err(no_member(&scalar.type_name(), name)),
        },
    };
    r.map_err(Into::into)
}

fn object_method(
    interp: &mut Interp,
    o: &Rc<std::cell::RefCell<Object>>,
    n: &str,
    name: &str,
    args: Vec<Value>,
) -> Result<Value, ErrorRecord> {
    let kind = o.borrow().kind.clone();
    let argc = args.len();
    match (kind, n) {
        (ObjKind::WebClient, "downloadfile") => {
            want("DownloadFile", &args, &[2])?;
            let url = sarg(&args, 0);
            let headers = webclient_headers(&o.borrow());
            crate::cmdlets::web::download_to_file(interp, &url, &headers, &sarg(&args, 1))
                .map(|_| Value::Null)
                .map_err(|e| method_exc("DownloadFile", argc, "System.Net.WebException", &e))
        }
        (ObjKind::WebClient, "downloadstring") => {
            want("DownloadString", &args, &[1])?;
            let url = sarg(&args, 0);
            let headers = webclient_headers(&o.borrow());
            crate::cmdlets::web::download_bytes(interp, &url, &headers)
                .map(|(b, _)| Value::string(crate::cmdlets::content::decode_text(&b)))
                .map_err(|e| method_exc("DownloadString", argc, "System.Net.WebException", &e))
        }
        (ObjKind::WebClient, "downloaddata") => {
            let url = sarg(&args, 0);
            let headers = webclient_headers(&o.borrow());
            crate::cmdlets::web::download_bytes(interp, &url, &headers)
                .map(|(b, _)| Value::bytes(&b))
                .map_err(|e| method_exc("DownloadData", argc, "System.Net.WebException", &e))
        }
        (ObjKind::WebClient, "dispose") => Ok(Value::Null),
        (ObjKind::Encoding, "getstring") => {
            let enc = o.borrow().get("Name").map(to_string).unwrap_or_default();
            let b = bytes_of(&arg(&args, 0))?;
            let b = if args.len() == 3 {
                let i = convert::to_i64(&args[1]).unwrap_or(0).max(0) as usize;
                let c = convert::to_i64(&args[2]).unwrap_or(0).max(0) as usize;
                b.get(i..(i + c).min(b.len())).unwrap_or(&[]).to_vec()
            } else {
                b
            };
            Ok(Value::string(decode(&enc, &b)))
        }
        (ObjKind::Encoding, "getbytes") => {
            let enc = o.borrow().get("Name").map(to_string).unwrap_or_default();
            Ok(Value::bytes(&encode(&enc, &sarg(&args, 0))))
        }
        (ObjKind::Encoding, "getpreamble") => {
            let enc = o.borrow().get("Name").map(to_string).unwrap_or_default();
            Ok(Value::bytes(match enc.as_str() {
                "utf8" => &[0xEF, 0xBB, 0xBF],
                "unicode" => &[0xFF, 0xFE],
                "bigendianunicode" => &[0xFE, 0xFF],
                _ => &[],
            }))
        }
        (ObjKind::List, "add") => {
            let ob = o.borrow();
            let Some(Value::Array(items)) = ob.get("__items") else {
                return Err(err("broken list"));
            };
            let idx = items.borrow().len();
            items.borrow_mut().push(arg(&args, 0));
            // ArrayList.Add returns the index; List<T>.Add returns void.
            Ok(if ob.type_name == "System.Collections.ArrayList" {
                Value::Int(idx as i32)
            } else {
                Value::Null
            })
        }
        (ObjKind::List, "addrange") => {
            let ob = o.borrow();
            let Some(Value::Array(items)) = ob.get("__items") else {
                return Err(err("broken list"));
            };
            items.borrow_mut().extend(arg(&args, 0).into_items());
            Ok(Value::Null)
        }
        (ObjKind::List, "remove") => {
            let ob = o.borrow();
            let Some(Value::Array(items)) = ob.get("__items") else {
                return Err(err("broken list"));
            };
            let pos = items
                .borrow()
                .iter()
                .position(|x| crate::ops::equals(x, &arg(&args, 0), true));
            if let Some(p) = pos {
                items.borrow_mut().remove(p);
            }
            Ok(Value::Bool(pos.is_some()))
        }
        (ObjKind::List, "contains") => Ok(Value::Bool(
            Value::Object(o.clone())
                .enumerate()
                .unwrap_or_default()
                .iter()
                .any(|x| crate::ops::equals(x, &arg(&args, 0), true)),
        )),
        (ObjKind::List, "clear") => {
            let ob = o.borrow();
            if let Some(Value::Array(items)) = ob.get("__items") {
                items.borrow_mut().clear();
            }
            Ok(Value::Null)
        }
        (ObjKind::List, "toarray") => Ok(Value::array(
            Value::Object(o.clone()).enumerate().unwrap_or_default(),
        )),
        (ObjKind::StringBuilder, "append") | (ObjKind::StringBuilder, "appendline") => {
            let mut ob = o.borrow_mut();
            let mut t = ob.get("__text").map(to_string).unwrap_or_default();
            t.push_str(&sarg(&args, 0));
            if n == "appendline" {
                t.push_str("\r\n");
            }
            ob.set("__text", Value::string(t));
            drop(ob);
            Ok(Value::Object(o.clone()))
        }
        (ObjKind::Version, "compareto") => {
            let other = match arg(&args, 0) {
                Value::Object(x) => x.borrow().clone(),
                v => match parse_version(&to_string(&v)).map_err(err)? {
                    Value::Object(x) => x.borrow().clone(),
                    _ => return Err(err("bad version")),
                },
            };
            Ok(Value::Int(match compare_versions(&o.borrow(), &other) {
                Ordering::Less => -1,
                Ordering::Equal => 0,
                Ordering::Greater => 1,
            }))
        }
        (ObjKind::DateTime, m) if m.starts_with("add") => {
            let ticks = dt_field(&o.borrow(), "Ticks");
            let x = convert::to_f64(&arg(&args, 0)).map_err(|e| err(e.0))?;
            let per = match m {
                "addseconds" => TICKS_PER_SEC as f64,
                "addminutes" => 60.0 * TICKS_PER_SEC as f64,
                "addhours" => 3600.0 * TICKS_PER_SEC as f64,
                "adddays" => 86400.0 * TICKS_PER_SEC as f64,
                "addmilliseconds" => 10_000.0,
                "addticks" => 1.0,
                _ => return Err(no_member("System.DateTime", name)),
            };
            Ok(datetime_from_ticks(ticks + (x * per) as i64))
        }
        (ObjKind::DateTime, "touniversaltime") | (ObjKind::DateTime, "tolocaltime") => {
            Ok(Value::Object(o.clone()))
        }
        (ObjKind::Process, "waitforexit") => Ok(Value::Bool(true)),
        (ObjKind::Process, "kill")
        | (ObjKind::Process, "dispose")
        | (ObjKind::Process, "refresh") => Ok(Value::Null),
        (ObjKind::FileInfo, "delete") | (ObjKind::DirectoryInfo, "delete") => {
            let full = o
                .borrow()
                .get("FullName")
                .map(to_string)
                .unwrap_or_default();
            let w = file_target(interp, &full)?;
            let p = w.unix(interp.host.drive_c());
            let r = if p.is_dir() {
                if args.first().map(to_bool).unwrap_or(false) {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_dir(&p)
                }
            } else {
                std::fs::remove_file(&p)
            };
            r.map(|_| Value::Null)
                .map_err(|e| io_exc("Delete", argc, &e, &full))
        }
        (ObjKind::FileInfo, "getfiles") | (ObjKind::DirectoryInfo, "getfiles") => Err(err(
            "DirectoryInfo.GetFiles is not supported by this engine; use Get-ChildItem",
        )),
        (ObjKind::Exception, "getbaseexception") => Ok(Value::Object(o.clone())),
        (ObjKind::RegistryKey, "getvalue") => {
            let path = o.borrow().get("PSPath").map(to_string).unwrap_or_default();
            crate::cmdlets::registry::key_get_value(interp, &path, &sarg(&args, 0))
                .map_err(|e| err(e.message))
        }
        (ObjKind::RegistryKey, "getvaluenames") => {
            let path = o.borrow().get("PSPath").map(to_string).unwrap_or_default();
            crate::cmdlets::registry::key_value_names(interp, &path).map_err(|e| err(e.message))
        }
        (_, "equals") => Ok(Value::Bool(crate::ops::equals(
            &Value::Object(o.clone()),
            &arg(&args, 0),
            false,
        ))),
        _ => {
            // A script method on a custom object is a property holding a script block.
            let prop = o.borrow().get(name).cloned();
            match prop {
                Some(Value::ScriptBlock(sb)) if o.borrow().kind == ObjKind::Custom => {
                    let out = interp.invoke_scriptblock(sb, args).map_err(|f| match f {
                        crate::errors::Flow::Error(e) => *e,
                        _ => err("unexpected control flow"),
                    })?;
                    Ok(crate::interp::unwrap_output(out))
                }
                _ => Err(no_member(&o.borrow().type_name, name)),
            }
        }
    }
}

fn webclient_headers(o: &Object) -> Vec<(String, String)> {
    match o.get("Headers") {
        Some(Value::Hashtable(h)) => h
            .borrow()
            .entries
            .iter()
            .map(|(k, v)| (to_string(k), to_string(v)))
            .collect(),
        _ => Vec::new(),
    }
}

/// Formats a double like .NET (re-exported for cmdlets that print numbers).
pub fn double_text(d: f64) -> String {
    fmt_double(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_protocol_flags_print_like_dotnet() {
        assert_eq!(
            enum_to_string("System.Net.SecurityProtocolType", 3072),
            "Tls12"
        );
        assert_eq!(
            enum_to_string("System.Net.SecurityProtocolType", 3072 | 768 | 192),
            "Tls, Tls11, Tls12"
        );
        assert!(matches!(
            convert_to_enum(&Value::str("Tls12"), "System.Net.SecurityProtocolType"),
            Some(Ok(Value::Enum(_, 3072)))
        ));
        assert!(matches!(
            convert_to_enum(&Value::str("machine"), "System.EnvironmentVariableTarget"),
            Some(Ok(Value::Enum(_, 2)))
        ));
        assert!(matches!(
            convert_to_enum(&Value::str("Moon"), "System.EnvironmentVariableTarget"),
            Some(Err(_))
        ));
    }

    #[test]
    fn versions_compare_by_component() {
        let a = parse_version("1.10").unwrap();
        let b = parse_version("1.9.5").unwrap();
        let (Value::Object(a), Value::Object(b)) = (a, b) else {
            panic!()
        };
        assert_eq!(
            compare_versions(&a.borrow(), &b.borrow()),
            Ordering::Greater
        );
        assert!(parse_version("1").is_err());
    }

    #[test]
    fn dates_round_trip() {
        let v = parse_datetime("2021-03-04T05:06:07").unwrap();
        let Value::Object(o) = v else { panic!() };
        assert_eq!(
            format_datetime(&o.borrow(), "yyyy-MM-dd HH:mm:ss"),
            "2021-03-04 05:06:07"
        );
        assert_eq!(format_datetime(&o.borrow(), "yyyyMMdd"), "20210304");
        assert_eq!(
            o.borrow().get("DayOfWeek").map(to_string).unwrap(),
            "Thursday"
        );
    }
}
