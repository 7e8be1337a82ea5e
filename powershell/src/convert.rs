//! PowerShell's conversion rules (LanguagePrimitives): to bool, to string (invariant culture,
//! arrays joined by `$OFS`), to numbers (hex, exponents, surrounding blanks, multiplier
//! suffixes), and casts to the named types the engine knows (`[int]`, `[string]`, `[version]`…).
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use crate::value::{Hashtable, ObjKind, Object, Value};

/// A failed conversion: PowerShell's message ("Cannot convert value "x" to type "System.Int32".
/// Error: "Input string was not in a correct format."").
#[derive(Debug, Clone)]
pub struct ConvertError(pub String);

/// `[bool]$v` and every condition: $null, 0, "" and empty arrays are false; a one-element array
/// is its element's truth; any other array and any other object is true ("False" is true).
pub fn to_bool(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Long(i) => *i != 0,
        Value::Double(d) | Value::Decimal(d) => *d != 0.0,
        Value::Byte(b) => *b != 0,
        Value::Char(c) => *c != '\0',
        Value::Str(s) => !s.is_empty(),
        Value::Array(a) => {
            let a = a.borrow();
            match a.len() {
                0 => false,
                1 => to_bool(&a[0]),
                _ => true,
            }
        }
        Value::Enum(_, n) => *n != 0,
        _ => true,
    }
}

/// Formats a double as .NET Framework's `Double.ToString()` does in the invariant culture
/// (15 significant digits, "E+XX" exponent outside 1e-5..1e15).
pub fn fmt_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if d == 0.0 {
        return "0".into();
    }
    // 15 significant digits, then strip trailing zeros.
    let sci = format!("{:.14e}", d);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let sign = if neg { "-" } else { "" };
    if exp >= 15 || exp <= -5 {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}E{esign}{:02}", exp.abs());
    }
    if exp >= 0 {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            format!("{sign}{}{}", digits, "0".repeat(int_len - digits.len()))
        } else {
            format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
        }
    } else {
        format!("{sign}0.{}{}", "0".repeat((-exp - 1) as usize), digits)
    }
}

/// `[string]$v` with `$OFS` = `ofs` for arrays.
pub fn to_string_ofs(v: &Value, ofs: &str) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Int(i) => i.to_string(),
        Value::Long(i) => i.to_string(),
        Value::Double(d) => fmt_double(*d),
        Value::Decimal(d) => fmt_double(*d),
        Value::Byte(b) => b.to_string(),
        Value::Char(c) => c.to_string(),
        Value::Str(s) => s.to_string(),
        Value::Array(a) => a
            .borrow()
            .iter()
            .map(|x| to_string_ofs(x, ofs))
            .collect::<Vec<_>>()
            .join(ofs),
        Value::Hashtable(h) => {
            if h.borrow().ordered {
                "System.Collections.Specialized.OrderedDictionary".into()
            } else {
                "System.Collections.Hashtable".into()
            }
        }
        Value::ScriptBlock(sb) => sb.text.clone(),
        Value::Type(t) => t.to_string(),
        Value::Enum(t, n) => crate::dotnet::enum_to_string(t, *n),
        Value::Object(o) => object_to_string(&o.borrow(), ofs),
    }
}

/// `[string]$v` with the default `$OFS` (a space).
pub fn to_string(v: &Value) -> String {
    to_string_ofs(v, " ")
}

fn object_to_string(o: &Object, ofs: &str) -> String {
    let prop = |n: &str| o.get(n).map(|v| to_string_ofs(v, ofs)).unwrap_or_default();
    match o.kind {
        ObjKind::Custom => {
            let parts: Vec<String> = o
                .props
                .iter()
                .map(|(k, v)| format!("{k}={}", to_string_ofs(v, ofs)))
                .collect();
            format!("@{{{}}}", parts.join("; "))
        }
        ObjKind::FileInfo | ObjKind::DirectoryInfo => prop("Name"),
        ObjKind::RegistryKey => prop("Name"),
        ObjKind::Version => {
            let parts: Vec<String> = ["Major", "Minor", "Build", "Revision"]
                .iter()
                .filter_map(|n| match o.get(n) {
                    Some(Value::Int(i)) if *i >= 0 => Some(i.to_string()),
                    _ => None,
                })
                .collect();
            parts.join(".")
        }
        ObjKind::Uri => prop("AbsoluteUri"),
        ObjKind::DateTime => crate::dotnet::datetime_default_string(o),
        ObjKind::ErrorRecord | ObjKind::Exception => prop("Message"),
        ObjKind::WebResponse => prop("Content"),
        ObjKind::CommandInfo => prop("Name"),
        ObjKind::PathInfo => prop("Path"),
        ObjKind::MatchInfo => prop("Line"),
        ObjKind::StringBuilder => prop("__text"),
        ObjKind::List => match o.get("__items") {
            Some(v) => to_string_ofs(v, ofs),
            None => String::new(),
        },
        _ => o.type_name.clone(),
    }
}

/// A parsed number: the narrowest of int, long, double that holds it, like PowerShell's parser.
pub fn parse_number(text: &str) -> Option<Value> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let (neg, body) = match t.as_bytes()[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = body.to_ascii_lowercase();
    let (lower, mult): (&str, i64) = if let Some(p) = ["kb", "mb", "gb", "tb", "pb"]
        .iter()
        .position(|s| lower.ends_with(s))
    {
        (&lower[..lower.len() - 2], 1i64 << (10 * (p as i64 + 1)))
    } else {
        (&lower, 1)
    };
    if let Some(hex) = lower.strip_prefix("0x") {
        if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let n = u64::from_str_radix(hex, 16).ok()?;
        // Hex literals of 8 digits or fewer are int32 bit patterns (0xFFFFFFFF = -1).
        let v = if hex.len() <= 8 {
            n as u32 as i32 as i64
        } else {
            n as i64
        };
        let v = if neg { -v } else { v } * mult;
        return Some(narrow(v));
    }
    let lower = lower.strip_suffix('d').unwrap_or(lower);
    let (lower, long_suffix) = match lower.strip_suffix('l') {
        Some(l) => (l, true),
        None => (lower, false),
    };
    if lower.is_empty()
        || !lower
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == 'e' || c == '+' || c == '-')
        || !lower.starts_with(|c: char| c.is_ascii_digit() || c == '.')
    {
        return None;
    }
    if lower.chars().all(|c| c.is_ascii_digit()) {
        if let Ok(n) = lower.parse::<i64>() {
            let n = if neg { -n } else { n };
            if let Some(v) = n.checked_mul(mult) {
                return Some(if long_suffix {
                    Value::Long(v)
                } else {
                    narrow(v)
                });
            }
        }
    }
    let d: f64 = lower.parse().ok()?;
    let d = if neg { -d } else { d } * mult as f64;
    Some(Value::Double(d))
}

fn narrow(v: i64) -> Value {
    if v >= i32::MIN as i64 && v <= i32::MAX as i64 {
        Value::Int(v as i32)
    } else {
        Value::Long(v)
    }
}

/// The value as a number for arithmetic (`$null` → 0, bools → 0/1, strings parsed).
pub fn to_number(v: &Value) -> Result<Value, ConvertError> {
    match v {
        Value::Null => Ok(Value::Int(0)),
        Value::Bool(b) => Ok(Value::Int(*b as i32)),
        Value::Int(_) | Value::Long(_) | Value::Double(_) | Value::Decimal(_) => Ok(v.clone()),
        Value::Byte(b) => Ok(Value::Int(*b as i32)),
        Value::Char(c) => Ok(Value::Int(*c as i32)),
        Value::Enum(_, n) => Ok(narrow(*n)),
        Value::Str(s) => {
            if s.trim().is_empty() {
                return Ok(Value::Int(0));
            }
            parse_number(s).ok_or_else(|| {
                ConvertError(format!(
                    "Cannot convert value \"{s}\" to type \"System.Int32\". Error: \"Input string was not in a correct format.\""
                ))
            })
        }
        Value::Array(a) if a.borrow().len() == 1 => to_number(&a.borrow()[0]),
        other => Err(ConvertError(format!(
            "Cannot convert the \"{}\" value of type \"{}\" to type \"System.Int32\".",
            to_string(other),
            other.type_name()
        ))),
    }
}

pub fn to_f64(v: &Value) -> Result<f64, ConvertError> {
    Ok(match to_number(v)? {
        Value::Int(i) => i as f64,
        Value::Long(i) => i as f64,
        Value::Double(d) | Value::Decimal(d) => d,
        _ => 0.0,
    })
}

/// Banker's rounding, as .NET's conversion of a double to an integer does.
fn round_even(d: f64) -> f64 {
    let r = d.round();
    if (d - d.trunc()).abs() == 0.5 {
        2.0 * (d / 2.0).round()
    } else {
        r
    }
}

pub fn to_i64(v: &Value) -> Result<i64, ConvertError> {
    Ok(match to_number(v)? {
        Value::Int(i) => i as i64,
        Value::Long(i) => i,
        Value::Double(d) | Value::Decimal(d) => {
            let r = round_even(d);
            if !(i64::MIN as f64..=i64::MAX as f64).contains(&r) {
                return Err(ConvertError(format!(
                    "Cannot convert value \"{}\" to type \"System.Int64\". Error: \"Value was either too large or too small for an Int64.\"",
                    fmt_double(d)
                )));
            }
            r as i64
        }
        _ => 0,
    })
}

pub fn to_i32(v: &Value) -> Result<i32, ConvertError> {
    let n = to_i64(v)?;
    i32::try_from(n).map_err(|_| {
        ConvertError(format!(
            "Cannot convert value \"{}\" to type \"System.Int32\". Error: \"Value was either too large or too small for an Int32.\"",
            to_string(v)
        ))
    })
}

/// Canonical full name of a type written in a script (`[int]`, `[IO.File]`, `[string[]]`), or
/// None when the engine does not know it.
pub fn canonical_type(name: &str) -> Option<String> {
    let t = name.trim();
    let n = match t.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']').unwrap_or(inner),
        None => t,
    };
    if let Some(elem) = n.strip_suffix("[]") {
        return canonical_type(elem).map(|e| format!("{e}[]"));
    }
    let lower = n.to_ascii_lowercase();
    let short = lower.strip_prefix("system.").unwrap_or(&lower);
    let full = match short {
        "int" | "int32" => "System.Int32",
        "long" | "int64" => "System.Int64",
        "uint32" => "System.UInt32",
        "uint64" => "System.UInt64",
        "int16" | "short" => "System.Int16",
        "byte" => "System.Byte",
        "double" => "System.Double",
        "float" | "single" => "System.Single",
        "decimal" => "System.Decimal",
        "bool" | "boolean" => "System.Boolean",
        "string" => "System.String",
        "char" => "System.Char",
        "object" | "psobject" | "management.automation.psobject" => "System.Object",
        "array" => "System.Array",
        "hashtable" | "collections.hashtable" => "System.Collections.Hashtable",
        "ordered" => "System.Collections.Specialized.OrderedDictionary",
        "pscustomobject" | "management.automation.pscustomobject" => {
            "System.Management.Automation.PSCustomObject"
        }
        "scriptblock" | "management.automation.scriptblock" => {
            "System.Management.Automation.ScriptBlock"
        }
        "void" => "System.Void",
        "version" => "System.Version",
        "datetime" => "System.DateTime",
        "uri" => "System.Uri",
        "regex" | "text.regularexpressions.regex" => "System.Text.RegularExpressions.Regex",
        "switch" | "management.automation.switchparameter" => {
            "System.Management.Automation.SwitchParameter"
        }
        _ => return crate::dotnet::canonical_type_name(n),
    };
    Some(full.to_string())
}

/// `[T]$v` for the types the engine converts to (`t` canonical, from `canonical_type`).
pub fn convert_to(v: &Value, t: &str) -> Result<Value, ConvertError> {
    if let Some(elem) = t.strip_suffix("[]") {
        let items = match v {
            Value::Null => Vec::new(),
            _ => v.clone().into_items(),
        };
        let conv: Result<Vec<Value>, _> = items.iter().map(|x| convert_to(x, elem)).collect();
        return Ok(Value::array(conv?));
    }
    let fail = |why: &str| {
        ConvertError(format!(
            "Cannot convert value \"{}\" to type \"{t}\". Error: \"{why}\"",
            to_string(v)
        ))
    };
    Ok(match t {
        "System.Int32" | "System.Int16" | "System.UInt32" => {
            if let Value::Str(s) = v {
                if parse_number(s).is_none() && !s.trim().is_empty() {
                    return Err(fail("Input string was not in a correct format."));
                }
            }
            Value::Int(to_i32(v)?)
        }
        "System.Int64" | "System.UInt64" => Value::Long(to_i64(v)?),
        "System.Byte" => {
            let n = to_i64(v)?;
            Value::Byte(u8::try_from(n).map_err(|_| {
                fail("Value was either too large or too small for an unsigned byte.")
            })?)
        }
        "System.Double" | "System.Single" => Value::Double(to_f64(v)?),
        "System.Decimal" => Value::Decimal(to_f64(v)?),
        "System.Boolean" => {
            if v.is_numeric() || matches!(v, Value::Null | Value::Bool(_)) {
                Value::Bool(to_bool(v))
            } else if let Value::Str(_) = v {
                Value::Bool(to_bool(v))
            } else {
                Value::Bool(to_bool(v))
            }
        }
        "System.String" => match v {
            Value::Null => Value::str(""),
            _ => Value::string(to_string(v)),
        },
        "System.Char" => match v {
            Value::Str(s) if s.chars().count() == 1 => {
                Value::Char(s.chars().next().unwrap_or('\0'))
            }
            Value::Char(_) => v.clone(),
            _ if v.is_numeric() => Value::Char(
                char::from_u32(to_i64(v)? as u32).ok_or_else(|| fail("Invalid character"))?,
            ),
            _ => return Err(fail("String must be exactly one character long.")),
        },
        "System.Object" | "System.Array" => match (t, v) {
            ("System.Array", Value::Array(_)) => v.clone(),
            ("System.Array", _) => Value::array(v.clone().into_items()),
            _ => v.clone(),
        },
        "System.Collections.Hashtable" => match v {
            Value::Hashtable(h) => {
                let mut c = h.borrow().clone();
                c.ordered = false;
                Value::hashtable(c)
            }
            _ => return Err(fail("only hashtables convert to [hashtable]")),
        },
        "System.Collections.Specialized.OrderedDictionary" => match v {
            Value::Hashtable(_) => v.clone(),
            _ => return Err(fail("only hashtables convert to [ordered]")),
        },
        "System.Management.Automation.PSCustomObject" => match v {
            Value::Hashtable(h) => {
                let mut o = Object::new(
                    ObjKind::Custom,
                    "System.Management.Automation.PSCustomObject",
                );
                for (k, val) in &h.borrow().entries {
                    o.set(&to_string(k), val.clone());
                }
                Value::object(o)
            }
            _ => v.clone(),
        },
        "System.Management.Automation.SwitchParameter" => Value::Bool(to_bool(v)),
        "System.Management.Automation.ScriptBlock" => match v {
            Value::ScriptBlock(_) => v.clone(),
            _ => {
                return Err(fail(
                    "use [scriptblock]::Create, which the engine does not support",
                ))
            }
        },
        "System.Void" => Value::Null,
        "System.Version" => match v {
            Value::Object(o) if o.borrow().kind == ObjKind::Version => v.clone(),
            _ => crate::dotnet::parse_version(&to_string(v)).map_err(|e| fail(&e))?,
        },
        "System.Uri" => match v {
            Value::Object(o) if o.borrow().kind == ObjKind::Uri => v.clone(),
            _ => crate::dotnet::make_uri(&to_string(v)).map_err(|e| fail(&e))?,
        },
        "System.DateTime" => match v {
            Value::Object(o) if o.borrow().kind == ObjKind::DateTime => v.clone(),
            _ => crate::dotnet::parse_datetime(&to_string(v)).map_err(|e| fail(&e))?,
        },
        "System.Text.RegularExpressions.Regex" => Value::string(to_string(v)),
        other => {
            if let Some(e) = crate::dotnet::convert_to_enum(v, other) {
                return e.map_err(|why| fail(&why));
            }
            if v.type_name().eq_ignore_ascii_case(other) {
                return Ok(v.clone());
            }
            return Err(ConvertError(format!(
                "Cannot convert the \"{}\" value of type \"{}\" to type \"{other}\".",
                to_string(v),
                v.type_name()
            )));
        }
    })
}

/// A new empty hashtable value.
pub fn new_hashtable(ordered: bool) -> Value {
    Value::hashtable(Hashtable::new(ordered))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_format_like_dotnet_framework() {
        assert_eq!(fmt_double(0.1 + 0.2), "0.3");
        assert_eq!(fmt_double(1.5), "1.5");
        assert_eq!(fmt_double(1e15), "1E+15");
        assert_eq!(fmt_double(123456789012345.0), "123456789012345");
        assert_eq!(fmt_double(0.00001), "1E-05");
        assert_eq!(fmt_double(0.0001), "0.0001");
        assert_eq!(fmt_double(-2.5), "-2.5");
        assert_eq!(fmt_double(2147483648.0), "2147483648");
    }

    #[test]
    fn numbers_parse_like_powershell() {
        assert!(matches!(parse_number("0x10"), Some(Value::Int(16))));
        assert!(matches!(parse_number(" 12 "), Some(Value::Int(12))));
        assert!(matches!(parse_number("1e3"), Some(Value::Double(d)) if d == 1000.0));
        assert!(matches!(parse_number("1kb"), Some(Value::Int(1024))));
        assert!(matches!(parse_number("0xFFFFFFFF"), Some(Value::Int(-1))));
        assert!(matches!(
            parse_number("3000000000"),
            Some(Value::Long(3000000000))
        ));
        assert!(parse_number("abc").is_none());
        assert!(parse_number("1.2.3").is_none());
    }

    #[test]
    fn bools_follow_language_primitives() {
        assert!(!to_bool(&Value::str("")));
        assert!(to_bool(&Value::str("False")));
        assert!(!to_bool(&Value::array(vec![])));
        assert!(!to_bool(&Value::array(vec![Value::Int(0)])));
        assert!(to_bool(&Value::array(vec![Value::Int(0), Value::Int(0)])));
    }

    #[test]
    fn casts_to_int_round_to_even() {
        assert!(matches!(
            convert_to(&Value::Double(2.5), "System.Int32"),
            Ok(Value::Int(2))
        ));
        assert!(matches!(
            convert_to(&Value::Double(3.5), "System.Int32"),
            Ok(Value::Int(4))
        ));
        assert!(matches!(
            convert_to(&Value::str("1e3"), "System.Int32"),
            Ok(Value::Int(1000))
        ));
        assert!(convert_to(&Value::str("abc"), "System.Int32").is_err());
    }
}
