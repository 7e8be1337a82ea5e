//! Equality, ordering and comparison operators (`-eq -ne -gt -ge -lt -le`, case-insensitive
//! unless `-c…`, an array on the left filters) and containment (`-contains -in`).

use super::*;

pub(super) fn fold(s: &str, cs: bool) -> String {
    if cs {
        s.to_string()
    } else {
        s.to_lowercase()
    }
}

/// `a -eq b` for scalars: the left operand's type decides how the right one is converted.
pub fn equals(a: &Value, b: &Value, cs: bool) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Str(x), _) => fold(x, cs) == fold(&to_string(b), cs),
        (Value::Char(x), _) => fold(&x.to_string(), cs) == fold(&to_string(b), cs),
        (Value::Bool(x), _) => *x == to_bool(b),
        (x, _) if x.is_numeric() || matches!(x, Value::Enum(..)) => {
            if let (Value::Enum(t, n), Value::Str(s)) = (x, b) {
                if let Some(Ok(Value::Enum(_, m))) = crate::dotnet::convert_to_enum(b, t) {
                    return *n == m;
                }
                return fold(&crate::dotnet::enum_to_string(t, *n), cs) == fold(s, cs);
            }
            match to_number(b) {
                Ok(nb) => match (to_number(x), nb) {
                    (Ok(na), nb)
                        if kind(&na) == NumKind::Int
                            && kind(&nb) != NumKind::Double
                            && kind(&nb) != NumKind::Decimal =>
                    {
                        as_i64(&na) == as_i64(&nb)
                    }
                    (Ok(na), nb)
                        if kind(&na) == NumKind::Long
                            && matches!(nb, Value::Int(_) | Value::Long(_)) =>
                    {
                        as_i64(&na) == as_i64(&nb)
                    }
                    (Ok(na), nb) => as_f64(&na) == as_f64(&nb),
                    _ => false,
                },
                Err(_) => false,
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            if std::rc::Rc::ptr_eq(x, y) {
                return true;
            }
            let (xo, yo) = (x.borrow(), y.borrow());
            if xo.kind == ObjKind::Version && yo.kind == ObjKind::Version {
                return crate::dotnet::compare_versions(&xo, &yo) == Ordering::Equal;
            }
            false
        }
        (Value::Object(x), _) if x.borrow().kind == ObjKind::Version => {
            match crate::dotnet::parse_version(&to_string(b)) {
                Ok(Value::Object(y)) => {
                    crate::dotnet::compare_versions(&x.borrow(), &y.borrow()) == Ordering::Equal
                }
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => std::rc::Rc::ptr_eq(x, y),
        (Value::Hashtable(x), Value::Hashtable(y)) => std::rc::Rc::ptr_eq(x, y),
        (Value::ScriptBlock(x), Value::ScriptBlock(y)) => std::rc::Rc::ptr_eq(x, y),
        (Value::Type(x), Value::Type(y)) => x.eq_ignore_ascii_case(y),
        _ => false,
    }
}

/// `a -lt/-gt/… b` for scalars: an ordering, or PowerShell's "Could not compare" error.
pub fn compare(a: &Value, b: &Value, cs: bool) -> Result<Ordering, OpError> {
    let cannot = || {
        OpError(format!(
            "Could not compare \"{}\" to \"{}\". Error: \"Cannot convert value \"{}\" to type \"{}\".\"",
            to_string(a),
            to_string(b),
            to_string(b),
            a.type_name()
        ))
    };
    match a {
        Value::Null => Ok(if b.is_null() {
            Ordering::Equal
        } else {
            Ordering::Less
        }),
        Value::Str(x) => {
            let y = to_string(b);
            Ok(if cs {
                // .NET's culture comparison puts lower case before upper case at equal letters.
                x.to_lowercase()
                    .cmp(&y.to_lowercase())
                    .then_with(|| y.as_str().cmp(x))
            } else {
                x.to_lowercase().cmp(&y.to_lowercase())
            })
        }
        Value::Char(x) => Ok(fold(&x.to_string(), cs).cmp(&fold(&to_string(b), cs))),
        Value::Bool(x) => Ok(x.cmp(&to_bool(b))),
        x if x.is_numeric() || matches!(x, Value::Enum(..)) => {
            if b.is_null() {
                return Ok(Ordering::Greater);
            }
            let nb = to_number(b).map_err(|_| cannot())?;
            let na = to_number(x)?;
            if matches!(na, Value::Double(_) | Value::Decimal(_))
                || matches!(nb, Value::Double(_) | Value::Decimal(_))
            {
                as_f64(&na).partial_cmp(&as_f64(&nb)).ok_or_else(cannot)
            } else {
                Ok(as_i64(&na).cmp(&as_i64(&nb)))
            }
        }
        Value::Object(x) if x.borrow().kind == ObjKind::Version => {
            let other = match b {
                Value::Object(y) if y.borrow().kind == ObjKind::Version => b.clone(),
                _ => crate::dotnet::parse_version(&to_string(b)).map_err(|_| cannot())?,
            };
            match other {
                Value::Object(y) => Ok(crate::dotnet::compare_versions(&x.borrow(), &y.borrow())),
                _ => Err(cannot()),
            }
        }
        Value::Object(x) if x.borrow().kind == ObjKind::DateTime => match b {
            Value::Object(y) if y.borrow().kind == ObjKind::DateTime => {
                let t = |o: &crate::value::Object| match o.get("Ticks") {
                    Some(Value::Long(n)) => *n,
                    _ => 0,
                };
                Ok(t(&x.borrow()).cmp(&t(&y.borrow())))
            }
            _ => Err(cannot()),
        },
        _ => Err(OpError(format!(
            "Cannot compare \"{}\" because it is not IComparable.",
            to_string(a)
        ))),
    }
}

/// The comparison operators that filter arrays on the left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    NotLike,
}

pub(super) fn scalar_cmp(op: Cmp, a: &Value, b: &Value, cs: bool) -> Result<bool, OpError> {
    Ok(match op {
        Cmp::Eq => equals(a, b, cs),
        Cmp::Ne => !equals(a, b, cs),
        Cmp::Lt => compare(a, b, cs)? == Ordering::Less,
        Cmp::Le => compare(a, b, cs)? != Ordering::Greater,
        Cmp::Gt => compare(a, b, cs)? == Ordering::Greater,
        Cmp::Ge => compare(a, b, cs)? != Ordering::Less,
        Cmp::Like => wildcard_match(&to_string(b), &to_string(a), cs),
        Cmp::NotLike => !wildcard_match(&to_string(b), &to_string(a), cs),
    })
}

/// `a <op> b`: a bool for a scalar left operand, the matching elements for an array.
pub fn comparison(op: Cmp, a: &Value, b: &Value, cs: bool) -> R {
    match a {
        Value::Array(items) => {
            let items = items.borrow();
            let mut out = Vec::new();
            for x in items.iter() {
                if scalar_cmp(op, x, b, cs)? {
                    out.push(x.clone());
                }
            }
            Ok(Value::array(out))
        }
        _ => Ok(Value::Bool(scalar_cmp(op, a, b, cs)?)),
    }
}

/// `-contains` (`collection -contains item`).
pub fn contains(collection: &Value, item: &Value, cs: bool) -> bool {
    collection
        .clone()
        .into_items()
        .iter()
        .any(|x| equals(x, item, cs))
}
