//! Output formatting for the console (and Out-String / `>`): scalars one per line, arrays
//! flattened, hashtables as PowerShell's Name/Value table, objects as a table (up to four
//! properties) or a list. PowerShell's format data is far richer; what matters here is that the
//! RUN log is readable and strings/numbers are exact.
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use crate::convert::to_string;
use crate::value::{ObjKind, Value};

fn props_of(v: &Value) -> Vec<(String, Value)> {
    match v {
        Value::Object(o) => o
            .borrow()
            .props
            .iter()
            .filter(|(k, _)| {
                !k.starts_with("__") && !k.starts_with("PS")
                    || matches!(k.as_str(), "PSIsContainer")
            })
            .cloned()
            .collect(),
        Value::Hashtable(h) => h
            .borrow()
            .entries
            .iter()
            .map(|(k, v)| (to_string(k), v.clone()))
            .collect(),
        _ => Vec::new(),
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Array(a) => {
            let parts: Vec<String> = a.borrow().iter().map(to_string).collect();
            format!("{{{}}}", parts.join(", "))
        }
        other => to_string(other),
    }
}

/// Formats values the way the console shows them.
pub fn format_values(values: &[Value]) -> String {
    let mut out = String::new();
    let mut flat = Vec::new();
    for v in values {
        match v {
            Value::Array(a) => flat.extend(a.borrow().iter().cloned()),
            other => flat.push(other.clone()),
        }
    }
    let mut i = 0;
    while i < flat.len() {
        match &flat[i] {
            Value::Null => {}
            Value::Hashtable(_) => out.push_str(&format_table_rows(&[flat[i].clone()], None, true)),
            Value::Object(o) if o.borrow().kind == ObjKind::DateTime => {
                out.push('\n');
                out.push_str(&crate::dotnet::datetime_display_string(&o.borrow()));
                out.push_str("\n\n");
            }
            Value::Object(o)
                if !matches!(
                    o.borrow().kind,
                    ObjKind::StringBuilder | ObjKind::Version | ObjKind::DateTime | ObjKind::Uri
                ) =>
            {
                // Consecutive objects of one type share one table.
                let t = o.borrow().type_name.clone();
                let mut j = i;
                while j < flat.len()
                    && matches!(&flat[j], Value::Object(x) if x.borrow().type_name == t)
                {
                    j += 1;
                }
                let group = &flat[i..j];
                if props_of(&group[0]).len() <= 4 {
                    out.push_str(&format_table(group, None));
                } else {
                    out.push_str(&format_list(group, None));
                }
                i = j;
                continue;
            }
            other => {
                out.push_str(&to_string(other));
                out.push('\n');
            }
        }
        i += 1;
    }
    out
}

fn format_table_rows(items: &[Value], props: Option<&[String]>, name_value: bool) -> String {
    let rows: Vec<Vec<(String, String)>> = if name_value {
        items
            .iter()
            .flat_map(|h| {
                props_of(h)
                    .into_iter()
                    .map(|(k, v)| vec![("Name".to_string(), k), ("Value".to_string(), cell(&v))])
            })
            .collect()
    } else {
        items
            .iter()
            .map(|it| {
                let ps = props_of(it);
                match props {
                    Some(names) => names
                        .iter()
                        .map(|n| {
                            (
                                n.clone(),
                                ps.iter()
                                    .find(|(k, _)| k.eq_ignore_ascii_case(n))
                                    .map(|(_, v)| cell(v))
                                    .unwrap_or_default(),
                            )
                        })
                        .collect(),
                    None => ps.into_iter().map(|(k, v)| (k, cell(&v))).collect(),
                }
            })
            .collect()
    };
    let Some(first) = rows.first() else {
        return String::new();
    };
    let headers: Vec<String> = first.iter().map(|(k, _)| k.clone()).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, (_, v)) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i]
                    .max(v.chars().count())
                    .min(if name_value && i == 0 { 30 } else { 60 });
            }
        }
    }
    if name_value {
        widths[0] = widths[0].max(30);
    }
    let line = |cells: Vec<String>| -> String {
        let n = cells.len();
        let mut s = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            if i + 1 == n {
                s.push_str(&c);
            } else {
                s.push_str(&format!("{:<w$} ", c, w = widths[i]));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = String::from("\n");
    out.push_str(&line(headers.clone()));
    out.push('\n');
    out.push_str(&line(
        headers
            .iter()
            .map(|h| "-".repeat(h.chars().count()))
            .collect(),
    ));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.into_iter().map(|(_, v)| v).collect()));
        out.push('\n');
    }
    out.push('\n');
    out
}

/// Format-Table text.
pub fn format_table(items: &[Value], props: Option<&[String]>) -> String {
    if items
        .iter()
        .all(|v| !matches!(v, Value::Object(_) | Value::Hashtable(_)))
    {
        return format_values(items);
    }
    let hashtables = items.iter().all(|v| matches!(v, Value::Hashtable(_)));
    format_table_rows(items, props, hashtables && props.is_none())
}

/// Format-List text.
pub fn format_list(items: &[Value], props: Option<&[String]>) -> String {
    let mut out = String::from("\n");
    for it in items {
        let ps = props_of(it);
        if ps.is_empty() {
            out.push_str(&to_string(it));
            out.push('\n');
            continue;
        }
        let ps: Vec<(String, Value)> = match props {
            Some(names) => names
                .iter()
                .map(|n| {
                    (
                        n.clone(),
                        ps.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(n))
                            .map(|(_, v)| v.clone())
                            .unwrap_or(Value::Null),
                    )
                })
                .collect(),
            None => ps,
        };
        let w = ps.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
        for (k, v) in ps {
            out.push_str(&format!("{:<w$} : {}\n", k, cell(&v), w = w));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Hashtable;

    #[test]
    fn scalars_one_per_line_arrays_flattened() {
        let v = vec![
            Value::str("a"),
            Value::array(vec![Value::Int(1), Value::Double(2.5)]),
            Value::Null,
        ];
        assert_eq!(format_values(&v), "a\n1\n2.5\n");
    }

    #[test]
    fn hashtables_as_name_value_table() {
        let mut h = Hashtable::new(false);
        h.set(Value::str("Key"), Value::Int(1));
        let text = format_values(&[Value::hashtable(h)]);
        assert!(text.contains("Name"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("Key") && l.ends_with('1')),
            "{text}"
        );
    }
}
