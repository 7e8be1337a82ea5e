//! PowerShell's operators over values: arithmetic (the left operand's type drives, int overflow
//! widens to double, inexact integer division gives a double), comparisons (case-insensitive
//! unless `-c…`, an array on the left filters), wildcards (`-like`), regexes (`-match`,
//! `-replace` with .NET substitutions, `-split`), `-join`, `-f` (.NET composite format),
//! containment and bitwise operators.
//!
//! This module holds `OpError`, `-is` and the unit tests; the operator families are `arith`,
//! `compare`, `text` and `composite`.
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use std::cmp::Ordering;

use crate::convert::{self, fmt_double, to_bool, to_f64, to_number, to_string};
use crate::value::{Hashtable, ObjKind, Value};

mod arith;
mod compare;
mod composite;
mod text;

// Each family's public functions are this module's API; the `pub(super)` helpers are shared
// with the sibling families through their `use super::*`.
pub use arith::*;
pub use compare::*;
pub use composite::*;
pub use text::*;

/// A run-time operator failure with PowerShell's message.
#[derive(Debug, Clone)]
pub struct OpError(pub String);

impl From<convert::ConvertError> for OpError {
    fn from(e: convert::ConvertError) -> OpError {
        OpError(e.0)
    }
}

type R = Result<Value, OpError>;

/// `-is [T]` for a canonical type name.
pub fn is_type(v: &Value, t: &str) -> bool {
    let tl = t.to_ascii_lowercase();
    match tl.as_str() {
        "system.object" => !v.is_null(),
        "system.array" | "system.object[]" => matches!(v, Value::Array(_)),
        "system.valuetype" => v.is_numeric() || matches!(v, Value::Bool(_) | Value::Char(_)),
        "system.collections.idictionary" | "system.collections.hashtable" => {
            matches!(v, Value::Hashtable(_))
        }
        "system.management.automation.pscustomobject" | "system.management.automation.psobject" => {
            matches!(v, Value::Object(o) if o.borrow().kind == ObjKind::Custom)
        }
        "system.io.filesysteminfo" => {
            matches!(v, Value::Object(o) if matches!(o.borrow().kind, ObjKind::FileInfo | ObjKind::DirectoryInfo))
        }
        "system.exception" => {
            matches!(v, Value::Object(o) if o.borrow().kind == ObjKind::Exception)
        }
        _ => v.type_name().eq_ignore_ascii_case(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::str(x)
    }

    // Rows from about_Arithmetic_Operators and about_Comparison_Operators (learn.microsoft.com).
    #[test]
    fn arithmetic_follows_left_operand() {
        assert!(matches!(add(&Value::Int(1), &s("2")), Ok(Value::Int(3))));
        assert_eq!(to_string(&add(&s("1"), &Value::Int(2)).unwrap()), "12");
        assert!(matches!(
            div(&Value::Int(6), &Value::Int(3)),
            Ok(Value::Int(2))
        ));
        assert!(matches!(div(&Value::Int(7), &Value::Int(2)), Ok(Value::Double(d)) if d == 3.5));
        assert!(
            matches!(add(&Value::Int(i32::MAX), &Value::Int(1)), Ok(Value::Double(d)) if d == 2147483648.0)
        );
        assert_eq!(to_string(&mul(&s("ab"), &Value::Int(3)).unwrap()), "ababab");
        assert!(div(&Value::Int(1), &Value::Int(0)).is_err());
    }

    #[test]
    fn comparisons_are_case_insensitive_and_filter_arrays() {
        assert!(equals(&s("ABC"), &s("abc"), false));
        assert!(!equals(&s("ABC"), &s("abc"), true));
        assert!(equals(&Value::Int(1), &s("1"), false));
        let arr = Value::array(vec![
            Value::Int(1),
            Value::Int(2),
            Value::Int(3),
            Value::Int(2),
        ]);
        let r = comparison(Cmp::Eq, &arr, &Value::Int(2), false).unwrap();
        assert_eq!(r.enumerate().unwrap().len(), 2);
        assert!(wildcard_match("*.ZIP", "a.zip", false));
        assert!(wildcard_match("a?c", "abc", false));
        assert!(wildcard_match("[a-c]x", "bx", false));
        assert!(!wildcard_match("a*d", "abc", false));
    }

    #[test]
    fn regex_operators() {
        let (r, m) = match_op(&s("version 1.2"), &s("(\\d+)\\.(\\d+)"), false, false).unwrap();
        assert!(to_bool(&r));
        let m = m.unwrap();
        assert_eq!(to_string(m.get(&Value::Int(1)).unwrap()), "1");
        assert_eq!(
            to_string(&replace(&s("a-b"), &s("(\\w)-(\\w)"), &s("$2-$1"), false).unwrap()),
            "b-a"
        );
        let parts = split(&s("a,b,,c"), &s(","), None, false).unwrap();
        assert_eq!(parts.enumerate().unwrap().len(), 4);
    }

    #[test]
    fn composite_format() {
        let f = |fmt: &str, a: Vec<Value>| to_string(&format(fmt, &a).unwrap());
        assert_eq!(f("{0}-{1}", vec![s("a"), Value::Int(2)]), "a-2");
        assert_eq!(f("{0,5}|{0,-5}|", vec![Value::Int(42)]), "   42|42   |");
        assert_eq!(f("{0:N2}", vec![Value::Double(1234.567)]), "1,234.57");
        assert_eq!(f("{0:X}", vec![Value::Int(255)]), "FF");
        assert_eq!(f("{0:D4}", vec![Value::Int(7)]), "0007");
        assert_eq!(f("{{{0}}}", vec![Value::Int(1)]), "{1}");
        assert_eq!(f("{0:0.00}", vec![Value::Double(1.23456)]), "1.23");
        assert!(format("{1}", &[Value::Int(1)]).is_err());
    }
}
