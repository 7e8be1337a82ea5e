//! Instance members of every value kind: properties and methods of strings, arrays, hashtables,
//! objects (WebClient, version, datetime, …), reads and writes.

use super::*;

pub(super) fn type_value(v: &Value) -> Value {
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

pub(super) fn string_method(
    s: &str,
    n: &str,
    args: &[Value],
) -> Option<Result<Value, ErrorRecord>> {
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

pub(super) fn object_method(
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

pub(super) fn webclient_headers(o: &Object) -> Vec<(String, String)> {
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
