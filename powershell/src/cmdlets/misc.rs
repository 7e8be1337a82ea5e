//! Utility cmdlets: New-Object, Invoke-Expression, Get-Date, the variable cmdlets,
//! ConvertTo-Json/ConvertFrom-Json (Windows PowerShell 5.1's layout: four-space indent, two
//! spaces after a colon, HTML characters escaped), Select-String.
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use super::{input_objects, path_args, Bound};
use crate::convert::to_string;
use crate::interp::{Interp, Out, Res};
use crate::value::{ObjKind, Object, Value};

/// New-Object.
pub fn new_object(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let t = b.str("TypeName").ok_or_else(|| {
        b.invalid(
            "Cannot process command because of one or more missing mandatory parameters: TypeName.",
        )
    })?;
    let args: Vec<Value> = match b.get("ArgumentList") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => v.clone().into_items(),
    };
    let v = crate::dotnet::new_object(interp, &t, args)?;
    if let Some(p) = b.get("Property") {
        let Value::Hashtable(h) = p else {
            return Err(b.invalid("-Property needs a hashtable").into());
        };
        for (k, val) in h.borrow().entries.iter() {
            crate::dotnet::set_member(&v, &to_string(k), val.clone()).map_err(|e| e.at(b.span))?;
        }
    }
    interp.emit(out, v);
    Ok(())
}

/// Invoke-Expression: the text is parsed, checked and run in the current scope.
pub fn invoke_expression(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let cmds: Vec<String> = match b.get("Command") {
        Some(v) => vec![to_string(v)],
        None => input_objects(b).iter().map(to_string).collect(),
    };
    for c in cmds {
        interp.run_text(&c, out)?;
    }
    Ok(())
}

/// Get-Date.
pub fn get_date(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let base = match b.get("Date") {
        Some(Value::Object(o)) if o.borrow().kind == ObjKind::DateTime => Value::Object(o.clone()),
        Some(v) => crate::dotnet::parse_datetime(&to_string(v)).map_err(|e| b.invalid(e))?,
        None => crate::dotnet::now(),
    };
    let Value::Object(o) = &base else {
        return Err(b.invalid("bad date").into());
    };
    let mut base = base.clone();
    let overrides = ["Year", "Month", "Day", "Hour", "Minute", "Second"];
    if overrides.iter().any(|n| b.has(n)) {
        let f = |n: &str| {
            b.get(n)
                .and_then(|v| crate::convert::to_i64(v).ok())
                .unwrap_or_else(|| {
                    o.borrow()
                        .get(n)
                        .and_then(|v| crate::convert::to_i64(v).ok())
                        .unwrap_or(0)
                })
        };
        let text = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            f("Year"),
            f("Month"),
            f("Day"),
            f("Hour"),
            f("Minute"),
            f("Second")
        );
        base = crate::dotnet::parse_datetime(&text).map_err(|e| b.invalid(e))?;
    }
    let Value::Object(o) = &base else {
        return Err(b.invalid("bad date").into());
    };
    let v = if let Some(f) = b.str("Format") {
        Value::string(crate::dotnet::format_datetime(&o.borrow(), &f))
    } else if let Some(f) = b.str("UFormat") {
        Value::string(
            crate::dotnet::uformat_datetime(&o.borrow(), &f).map_err(|e| b.unsupported(&e))?,
        )
    } else {
        base.clone()
    };
    interp.emit(out, v);
    Ok(())
}

/// Set-Variable / New-Variable / Get-Variable / Remove-Variable.
pub fn variable_cmd(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    if b.has("Option") {
        return Err(b.unsupported("-Option").into());
    }
    let names = b.strings("Name").ok_or_else(|| {
        b.invalid(
            "Cannot process command because of one or more missing mandatory parameters: Name.",
        )
    })?;
    let scope = b.str("Scope").map(|s| s.to_ascii_lowercase());
    let qualified = |n: &str| -> crate::ast::VariablePath {
        crate::ast::VariablePath {
            qualifier: match scope.as_deref() {
                Some("global") | Some("0") => Some("global".into()),
                Some("script") => Some("script".into()),
                Some("local") | None => None,
                Some(_) => Some("unsupported-scope".into()),
            },
            name: n.to_string(),
            braced: false,
        }
    };
    for n in names {
        match b.cmdlet {
            "Set-Variable" | "New-Variable" => {
                if b.cmdlet == "New-Variable" && interp.get_var(&n).is_some() && !b.switch("Force")
                {
                    interp.write_error(b.error(
                        format!("A variable with name '{n}' already exists."),
                        "System.Management.Automation.SessionStateUnauthorizedAccessException",
                        "ResourceExists",
                        "VariableAlreadyExists",
                    ))?;
                    continue;
                }
                let v = b.get("Value").cloned().unwrap_or(Value::Null);
                let path = qualified(&n);
                if path.qualifier.as_deref() == Some("unsupported-scope") {
                    return Err(b.unsupported("numeric or unknown -Scope").into());
                }
                let target = crate::ast::Expr {
                    kind: crate::ast::ExprKind::Variable(path),
                    span: b.span,
                };
                interp.store(&target, v.clone())?;
                if b.switch("PassThru") {
                    interp.emit(out, psvariable(&n, v));
                }
            }
            "Get-Variable" => match interp.get_var(&n) {
                Some(v) => {
                    if b.switch("ValueOnly") {
                        interp.emit(out, v);
                    } else {
                        interp.emit(out, psvariable(&n, v));
                    }
                }
                None => interp.write_error(
                    b.error(
                        format!("Cannot find a variable with the name '{n}'."),
                        "System.Management.Automation.ItemNotFoundException",
                        "ObjectNotFound",
                        "VariableNotFound",
                    )
                    .with_target(&n),
                )?,
            },
            _ => {
                if interp.get_var(&n).is_none() {
                    interp.write_error(
                        b.error(
                            format!("Cannot find a variable with the name '{n}'."),
                            "System.Management.Automation.ItemNotFoundException",
                            "ObjectNotFound",
                            "VariableNotFound",
                        )
                        .with_target(&n),
                    )?;
                    continue;
                }
                interp.remove_var(&n);
            }
        }
    }
    Ok(())
}

fn psvariable(name: &str, v: Value) -> Value {
    Value::object(
        Object::new(ObjKind::Custom, "System.Management.Automation.PSVariable")
            .with("Name", Value::str(name))
            .with("Value", v),
    )
}

// ----- JSON ------------------------------------------------------------------------------------

fn json_escape(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // JavaScriptSerializer (5.1) escapes HTML-sensitive characters.
            '<' | '>' | '&' | '\'' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn to_json(v: &Value, depth: i64, max: i64, indent: usize, compress: bool) -> String {
    let nl = if compress { "" } else { "\r\n" };
    let pad = |n: usize| {
        if compress {
            String::new()
        } else {
            " ".repeat(n * 4)
        }
    };
    let colon = if compress { ":" } else { ":  " };
    let obj = |pairs: Vec<(String, Value)>| -> String {
        if depth > max {
            return json_escape(&to_string(v));
        }
        if pairs.is_empty() {
            return "{\r\n\r\n}".replace("\r\n\r\n", if compress { "" } else { "\r\n\r\n" });
        }
        let inner: Vec<String> = pairs
            .iter()
            .map(|(k, x)| {
                format!(
                    "{}{}{colon}{}",
                    pad(indent + 1),
                    json_escape(k),
                    to_json(x, depth + 1, max, indent + 1, compress)
                )
            })
            .collect();
        format!(
            "{{{nl}{}{nl}{}}}",
            inner.join(&format!(",{nl}")),
            pad(indent)
        )
    };
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => if *b { "true" } else { "false" }.into(),
        Value::Int(_) | Value::Long(_) | Value::Byte(_) => to_string(v),
        Value::Double(d) | Value::Decimal(d) => {
            if d.is_finite() {
                crate::convert::fmt_double(*d)
            } else {
                "null".into()
            }
        }
        Value::Str(s) => json_escape(s),
        Value::Char(c) => json_escape(&c.to_string()),
        Value::Enum(_, n) => n.to_string(),
        Value::Array(a) => {
            if depth > max {
                return json_escape(&to_string(v));
            }
            let items = a.borrow();
            if items.is_empty() {
                return "[\r\n\r\n]".replace("\r\n\r\n", if compress { "" } else { "\r\n\r\n" });
            }
            let inner: Vec<String> = items
                .iter()
                .map(|x| {
                    format!(
                        "{}{}",
                        pad(indent + 1),
                        to_json(x, depth + 1, max, indent + 1, compress)
                    )
                })
                .collect();
            format!("[{nl}{}{nl}{}]", inner.join(&format!(",{nl}")), pad(indent))
        }
        Value::Hashtable(h) => obj(h
            .borrow()
            .entries
            .iter()
            .map(|(k, x)| (to_string(k), x.clone()))
            .collect()),
        Value::Object(o) => {
            let o = o.borrow();
            match o.kind {
                ObjKind::Version | ObjKind::Uri | ObjKind::DateTime | ObjKind::PathInfo => {
                    json_escape(&to_string(v))
                }
                _ => obj(o
                    .props
                    .iter()
                    .filter(|(k, _)| !k.starts_with("__"))
                    .cloned()
                    .collect()),
            }
        }
        Value::ScriptBlock(sb) => json_escape(&sb.text),
        Value::Type(t) => json_escape(t),
    }
}

/// ConvertTo-Json.
pub fn convert_to_json(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let max = b.int("Depth")?.unwrap_or(2);
    let compress = b.switch("Compress");
    let items = input_objects(b);
    let v = if b.input.is_some() && items.len() != 1 {
        Value::array(items)
    } else {
        items.into_iter().next().unwrap_or(Value::Null)
    };
    let text = to_json(&v, 0, max, 0, compress);
    interp.emit(out, Value::string(text));
    Ok(())
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && (self.s[self.i] as char).is_whitespace() {
            self.i += 1;
        }
    }
    fn err(&self, what: &str) -> String {
        format!("Invalid JSON primitive at position {}: {what}", self.i)
    }
    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > 200 {
            return Err(self.err("nesting too deep"));
        }
        self.ws();
        let Some(&c) = self.s.get(self.i) else {
            return Err(self.err("unexpected end"));
        };
        match c {
            b'{' => {
                self.i += 1;
                let mut o = Object::new(
                    ObjKind::Custom,
                    "System.Management.Automation.PSCustomObject",
                );
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Value::object(o));
                }
                loop {
                    self.ws();
                    let k = match self.value(depth + 1)? {
                        Value::Str(k) => k.to_string(),
                        _ => return Err(self.err("object key must be a string")),
                    };
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return Err(self.err("expected ':'"));
                    }
                    self.i += 1;
                    let v = self.value(depth + 1)?;
                    o.set(&k, v);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Value::object(o));
                        }
                        _ => return Err(self.err("expected ',' or '}'")),
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Value::array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::array(items));
                        }
                        _ => return Err(self.err("expected ',' or ']'")),
                    }
                }
            }
            b'"' => {
                self.i += 1;
                let mut out: Vec<u16> = Vec::new();
                loop {
                    let Some(&c) = self.s.get(self.i) else {
                        return Err(self.err("unterminated string"));
                    };
                    self.i += 1;
                    match c {
                        b'"' => break,
                        b'\\' => {
                            let Some(&e) = self.s.get(self.i) else {
                                return Err(self.err("bad escape"));
                            };
                            self.i += 1;
                            match e {
                                b'n' => out.push(10),
                                b'r' => out.push(13),
                                b't' => out.push(9),
                                b'b' => out.push(8),
                                b'f' => out.push(12),
                                b'u' => {
                                    let hex = std::str::from_utf8(
                                        self.s
                                            .get(self.i..self.i + 4)
                                            .ok_or_else(|| self.err("bad \\u"))?,
                                    )
                                    .map_err(|_| self.err("bad \\u"))?;
                                    out.push(
                                        u16::from_str_radix(hex, 16)
                                            .map_err(|_| self.err("bad \\u"))?,
                                    );
                                    self.i += 4;
                                }
                                other => out.push(other as u16),
                            }
                        }
                        _ => {
                            // Copy one UTF-8 character.
                            let start = self.i - 1;
                            let len = match c {
                                0..=0x7F => 1,
                                0xC0..=0xDF => 2,
                                0xE0..=0xEF => 3,
                                _ => 4,
                            };
                            let end = (start + len).min(self.s.len());
                            let ch = String::from_utf8_lossy(&self.s[start..end]).into_owned();
                            out.extend(ch.encode_utf16());
                            self.i = end;
                        }
                    }
                }
                Ok(Value::string(String::from_utf16_lossy(&out)))
            }
            b't' if self.s[self.i..].starts_with(b"true") => {
                self.i += 4;
                Ok(Value::Bool(true))
            }
            b'f' if self.s[self.i..].starts_with(b"false") => {
                self.i += 5;
                Ok(Value::Bool(false))
            }
            b'n' if self.s[self.i..].starts_with(b"null") => {
                self.i += 4;
                Ok(Value::Null)
            }
            _ => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                if t.is_empty() {
                    return Err(self.err("unexpected character"));
                }
                crate::convert::parse_number(t).ok_or_else(|| self.err(t))
            }
        }
    }
}

/// Parses JSON text into PowerShell values (objects → PSCustomObject).
pub fn parse_json(text: &str) -> Result<Value, String> {
    let mut p = JsonParser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(v)
}

/// ConvertFrom-Json (5.1: the input strings are joined; an array comes out as one object).
pub fn convert_from_json(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let items = input_objects(b);
    let text = items.iter().map(to_string).collect::<Vec<_>>().join("\n");
    let v = parse_json(&text).map_err(|e| {
        b.error(
            e,
            "System.ArgumentException",
            "NotSpecified",
            "System.ArgumentException",
        )
    })?;
    interp.emit(out, v);
    Ok(())
}

/// Select-String over input strings or files.
pub fn select_string(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let patterns = b.strings("Pattern").unwrap_or_default();
    let cs = b.switch("CaseSensitive");
    let simple = b.switch("SimpleMatch");
    let not = b.switch("NotMatch");
    let res: Vec<regex::Regex> = patterns
        .iter()
        .map(|p| {
            crate::ops::regex(&if simple { regex::escape(p) } else { p.clone() }, cs)
                .map_err(|e| b.invalid(e.0))
        })
        .collect::<Result<_, _>>()?;
    let mut sources: Vec<(String, Vec<String>)> = Vec::new();
    if b.has("Path") || b.has("LiteralPath") {
        let drive = interp.host.drive_c().to_path_buf();
        for (path, wild) in path_args(b) {
            let Some(super::items::Resolved::Files(files)) =
                super::items::resolve_existing(interp, b, &path, wild)?
            else {
                continue;
            };
            for w in files {
                let u = w.unix(&drive);
                if u.is_dir() {
                    continue;
                }
                let bytes = std::fs::read(&u).unwrap_or_default();
                sources.push((
                    w.display(),
                    super::content::split_lines(&super::content::decode_text(&bytes)),
                ));
            }
        }
    } else {
        let lines: Vec<String> = input_objects(b).iter().map(to_string).collect();
        sources.push(("InputStream".into(), lines));
    }
    let mut any = false;
    for (path, lines) in sources {
        for (i, line) in lines.iter().enumerate() {
            let hit = res.iter().find(|r| r.is_match(line));
            if hit.is_some() == not {
                continue;
            }
            any = true;
            if b.switch("Quiet") {
                break;
            }
            let filename = path.rsplit('\\').next().unwrap_or(&path).to_string();
            let o = Object::new(
                ObjKind::MatchInfo,
                "Microsoft.PowerShell.Commands.MatchInfo",
            )
            .with("Line", Value::string(line.clone()))
            .with("LineNumber", Value::Int(i as i32 + 1))
            .with("Path", Value::string(path.clone()))
            .with("Filename", Value::string(filename))
            .with(
                "Pattern",
                Value::string(
                    hit.map(|r| r.as_str().trim_start_matches("(?i)").to_string())
                        .unwrap_or_default(),
                ),
            );
            interp.emit(out, Value::object(o));
            if b.switch("List") {
                break;
            }
        }
    }
    if b.switch("Quiet") {
        interp.emit(out, Value::Bool(any));
    }
    Ok(())
}

/// Assemblies `Add-Type -AssemblyName` can load: those whose types the engine implements.
const ASSEMBLIES: &[&str] = &["System.IO.Compression.FileSystem", "System.IO.Compression"];

/// Add-Type -AssemblyName for the assemblies above (compiling C# is refused by the check).
pub fn add_type(interp: &mut Interp, b: &Bound) -> Res<()> {
    let names = b
        .strings("AssemblyName")
        .ok_or_else(|| b.unsupported("Add-Type without -AssemblyName"))?;
    for n in names {
        let short = n.split(',').next().unwrap_or(&n).trim().to_string();
        match ASSEMBLIES.iter().find(|a| a.eq_ignore_ascii_case(&short)) {
            Some(a) => interp.loaded_assemblies.push((*a).to_string()),
            None => {
                return Err(b
                    .unsupported(&format!("loading the assembly {short}"))
                    .into())
            }
        }
    }
    Ok(())
}
