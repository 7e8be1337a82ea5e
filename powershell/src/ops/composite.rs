//! `-f`: .NET composite formatting (`{index[,alignment][:format]}`) and the numeric, date and
//! custom format strings it applies to each value.

use super::*;

/// `fmt -f args`: .NET composite formatting ({index[,alignment][:format]}, `{{`/`}}`).
pub fn format(fmt: &str, args: &[Value]) -> R {
    let mut out = String::new();
    let chars: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    let bad = || {
        OpError(format!(
            "Error formatting a string: Input string was not in a correct format.: {fmt}"
        ))
    };
    while i < chars.len() {
        match chars[i] {
            '{' if chars.get(i + 1) == Some(&'{') => {
                out.push('{');
                i += 2;
            }
            '}' if chars.get(i + 1) == Some(&'}') => {
                out.push('}');
                i += 2;
            }
            '}' => return Err(bad()),
            '{' => {
                let end = chars[i..].iter().position(|&c| c == '}').ok_or_else(bad)? + i;
                let spec: String = chars[i + 1..end].iter().collect();
                let (head, fspec) = match spec.split_once(':') {
                    Some((h, f)) => (h.to_string(), Some(f.to_string())),
                    None => (spec.clone(), None),
                };
                let (idx, align) = match head.split_once(',') {
                    Some((a, b)) => (
                        a.trim().to_string(),
                        Some(b.trim().parse::<i64>().map_err(|_| bad())?),
                    ),
                    None => (head.trim().to_string(), None),
                };
                let idx: usize = idx.parse().map_err(|_| bad())?;
                let arg = args.get(idx).ok_or_else(|| {
                    OpError("Error formatting a string: Index (zero based) must be greater than or equal to zero and less than the size of the argument list.".into())
                })?;
                let text = format_value(arg, fspec.as_deref()).map_err(|_| bad())?;
                match align {
                    Some(w) if w > 0 => {
                        out.push_str(&format!("{:>width$}", text, width = w as usize))
                    }
                    Some(w) if w < 0 => {
                        out.push_str(&format!("{:<width$}", text, width = (-w) as usize))
                    }
                    _ => out.push_str(&text),
                }
                i = end + 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(Value::string(out))
}

pub(super) fn group_thousands(int_part: &str) -> String {
    let (sign, digits) = match int_part.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", int_part),
    };
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

/// One value under a .NET format string (standard N D X F G P E C, or a custom 0/#/. picture).
pub fn format_value(v: &Value, spec: Option<&str>) -> Result<String, OpError> {
    let Some(spec) = spec.filter(|s| !s.is_empty()) else {
        return Ok(to_string(v));
    };
    if let Value::Object(o) = v {
        if o.borrow().kind == ObjKind::DateTime {
            return Ok(crate::dotnet::format_datetime(&o.borrow(), spec));
        }
    }
    if !v.is_numeric() {
        return Ok(to_string(v));
    }
    let letter = spec.chars().next().unwrap_or('G');
    let prec: Option<usize> = spec[1..].parse().ok();
    let is_std = spec.len() == 1 || prec.is_some();
    let f = to_f64(v)?;
    let integral = matches!(v, Value::Int(_) | Value::Long(_) | Value::Byte(_));
    if is_std {
        match letter.to_ascii_uppercase() {
            'N' => {
                let p = prec.unwrap_or(2);
                let s = format!("{:.*}", p, f);
                let (ip, fp) = s
                    .split_once('.')
                    .map(|(a, b)| (a.to_string(), Some(b.to_string())))
                    .unwrap_or((s.clone(), None));
                return Ok(match fp {
                    Some(fp) => format!("{}.{fp}", group_thousands(&ip)),
                    None => group_thousands(&ip),
                });
            }
            'F' => return Ok(format!("{:.*}", prec.unwrap_or(2), f)),
            'D' if integral => {
                let n = convert::to_i64(v)?;
                let p = prec.unwrap_or(0);
                let s = format!("{:0>width$}", n.unsigned_abs(), width = p);
                return Ok(if n < 0 { format!("-{s}") } else { s });
            }
            'X' if integral => {
                let n = convert::to_i64(v)?;
                let n = if matches!(v, Value::Int(_)) {
                    n as i32 as u32 as u64
                } else {
                    n as u64
                };
                let s = if letter == 'X' {
                    format!("{n:X}")
                } else {
                    format!("{n:x}")
                };
                return Ok(format!("{:0>width$}", s, width = prec.unwrap_or(0)));
            }
            'P' => {
                let s = format!("{:.*}", prec.unwrap_or(2), f * 100.0);
                return Ok(format!("{s} %"));
            }
            'G' if prec.is_none() => return Ok(to_string(v)),
            'E' => {
                let p = prec.unwrap_or(6);
                let s = format!("{:.*e}", p, f);
                let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
                let e: i32 = e.parse().unwrap_or(0);
                let sign = if e < 0 { '-' } else { '+' };
                let m = m.to_string();
                return Ok(format!(
                    "{m}{}{sign}{:03}",
                    if letter == 'e' { 'e' } else { 'E' },
                    e.abs()
                ));
            }
            _ => {}
        }
    }
    // Custom numeric picture: zeros and #s, one optional '.', optional ',' grouping.
    if spec.chars().all(|c| matches!(c, '0' | '#' | '.' | ',')) {
        let (ipic, fpic) = spec.split_once('.').unwrap_or((spec, ""));
        let grouping = ipic.contains(',');
        let min_int = ipic.chars().filter(|&c| c == '0').count();
        let max_frac = fpic.len();
        let min_frac = fpic.chars().filter(|&c| c == '0').count();
        let s = format!("{:.*}", max_frac, f.abs());
        let (ip, fp) = s.split_once('.').unwrap_or((&s, ""));
        let mut fp = fp.to_string();
        while fp.len() > min_frac && fp.ends_with('0') {
            fp.pop();
        }
        let mut ip = ip.trim_start_matches('0').to_string();
        while ip.len() < min_int {
            ip.insert(0, '0');
        }
        if grouping {
            ip = group_thousands(&ip);
        }
        let sign = if f < 0.0
            && (ip.chars().any(|c| c != '0' && c != ',') || fp.chars().any(|c| c != '0'))
        {
            "-"
        } else {
            ""
        };
        return Ok(if fp.is_empty() {
            format!("{sign}{ip}")
        } else {
            format!("{sign}{ip}.{fp}")
        });
    }
    Err(OpError(format!(
        "format string '{spec}' is not supported by this engine"
    )))
}
/// Formats a double for string interpolation (kept here for operator users).
pub fn num_text(d: f64) -> String {
    fmt_double(d)
}
