//! PowerShell's operators over values: arithmetic (the left operand's type drives, int overflow
//! widens to double, inexact integer division gives a double), comparisons (case-insensitive
//! unless `-c…`, an array on the left filters), wildcards (`-like`), regexes (`-match`,
//! `-replace` with .NET substitutions, `-split`), `-join`, `-f` (.NET composite format),
//! containment and bitwise operators.
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use std::cmp::Ordering;

use crate::convert::{self, fmt_double, to_bool, to_f64, to_number, to_string};
use crate::value::{Hashtable, ObjKind, Value};

/// A run-time operator failure with PowerShell's message.
#[derive(Debug, Clone)]
pub struct OpError(pub String);

impl From<convert::ConvertError> for OpError {
    fn from(e: convert::ConvertError) -> OpError {
        OpError(e.0)
    }
}

type R = Result<Value, OpError>;

/// Numeric kinds ordered by width: the result of an arithmetic op is the wider operand's kind.
#[derive(PartialEq, PartialOrd, Clone, Copy)]
enum NumKind {
    Int,
    Long,
    Decimal,
    Double,
}

fn kind(v: &Value) -> NumKind {
    match v {
        Value::Long(_) => NumKind::Long,
        Value::Double(_) => NumKind::Double,
        Value::Decimal(_) => NumKind::Decimal,
        _ => NumKind::Int,
    }
}

fn as_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i as i64,
        Value::Long(i) => *i,
        Value::Double(d) | Value::Decimal(d) => *d as i64,
        _ => 0,
    }
}

fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Long(i) => *i as f64,
        Value::Double(d) | Value::Decimal(d) => *d,
        _ => 0.0,
    }
}

/// An integer result in the narrowest kind at least `k`, or a double when it overflows a long.
fn int_result(n: Option<i64>, k: NumKind, fallback: f64) -> Value {
    match n {
        Some(n) if k == NumKind::Int && n >= i32::MIN as i64 && n <= i32::MAX as i64 => {
            Value::Int(n as i32)
        }
        // int32 overflow widens to double in PowerShell (not to long).
        Some(_) if k == NumKind::Int => Value::Double(fallback),
        Some(n) => Value::Long(n),
        None => Value::Double(fallback),
    }
}

#[derive(Clone, Copy)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

fn numeric(op: Arith, a: &Value, b: &Value) -> R {
    let a = to_number(a)?;
    let b = to_number(b)?;
    let k = if kind(&a) > kind(&b) {
        kind(&a)
    } else {
        kind(&b)
    };
    let (fa, fb) = (as_f64(&a), as_f64(&b));
    if k == NumKind::Double || k == NumKind::Decimal {
        let wrap = |d: f64| {
            if k == NumKind::Decimal {
                Value::Decimal(d)
            } else {
                Value::Double(d)
            }
        };
        return Ok(match op {
            Arith::Add => wrap(fa + fb),
            Arith::Sub => wrap(fa - fb),
            Arith::Mul => wrap(fa * fb),
            Arith::Div => {
                if fb == 0.0 && k == NumKind::Decimal {
                    return Err(OpError("Attempted to divide by zero.".into()));
                }
                wrap(fa / fb)
            }
            Arith::Rem => wrap(fa % fb),
        });
    }
    let (ia, ib) = (as_i64(&a), as_i64(&b));
    Ok(match op {
        Arith::Add => int_result(ia.checked_add(ib), k, fa + fb),
        Arith::Sub => int_result(ia.checked_sub(ib), k, fa - fb),
        Arith::Mul => int_result(ia.checked_mul(ib), k, fa * fb),
        Arith::Div => {
            if ib == 0 {
                return Err(OpError("Attempted to divide by zero.".into()));
            }
            if ia % ib == 0 {
                int_result(ia.checked_div(ib), k, fa / fb)
            } else {
                Value::Double(fa / fb)
            }
        }
        Arith::Rem => {
            if ib == 0 {
                return Err(OpError("Attempted to divide by zero.".into()));
            }
            int_result(ia.checked_rem(ib), k, fa % fb)
        }
    })
}

fn no_method(op: Arith, a: &Value) -> OpError {
    let method = match op {
        Arith::Add => "op_Addition",
        Arith::Sub => "op_Subtraction",
        Arith::Mul => "op_Multiply",
        Arith::Div => "op_Division",
        Arith::Rem => "op_Modulus",
    };
    OpError(format!(
        "Method invocation failed because [{}] does not contain a method named '{method}'.",
        a.type_name()
    ))
}

fn arith(op: Arith, a: &Value, b: &Value) -> R {
    match (op, a) {
        (Arith::Add, Value::Null) => Ok(b.clone()),
        (Arith::Add, Value::Str(s)) => Ok(Value::string(format!("{s}{}", to_string(b)))),
        (Arith::Add, Value::Char(c)) if matches!(b, Value::Str(_) | Value::Char(_)) => {
            Ok(Value::string(format!("{c}{}", to_string(b))))
        }
        (Arith::Add, Value::Array(x)) => {
            let mut v = x.borrow().clone();
            match b {
                Value::Array(y) => v.extend(y.borrow().iter().cloned()),
                other => v.push(other.clone()),
            }
            Ok(Value::array(v))
        }
        (Arith::Add, Value::Hashtable(x)) => match b {
            Value::Hashtable(y) => {
                let mut h = x.borrow().clone();
                for (k, v) in &y.borrow().entries {
                    if h.contains(k) {
                        return Err(OpError(format!(
                            "Item has already been added. Key in dictionary: '{}'  Key being added: '{}'",
                            to_string(k),
                            to_string(k)
                        )));
                    }
                    h.set(k.clone(), v.clone());
                }
                Ok(Value::hashtable(h))
            }
            _ => Err(OpError(
                "A hash table can only be added to another hash table.".into(),
            )),
        },
        (Arith::Mul, Value::Str(s)) => {
            let n = convert::to_i64(b)?;
            if n < 0 || (n as usize).saturating_mul(s.len()) > (256 << 20) {
                return Err(OpError(
                    "The string repetition count is out of range.".into(),
                ));
            }
            Ok(Value::string(s.repeat(n as usize)))
        }
        (Arith::Mul, Value::Array(x)) => {
            let n = convert::to_i64(b)?;
            if n < 0 || (n as usize).saturating_mul(x.borrow().len()) > (16 << 20) {
                return Err(OpError(
                    "The array repetition count is out of range.".into(),
                ));
            }
            let items = x.borrow();
            let mut v = Vec::new();
            for _ in 0..n {
                v.extend(items.iter().cloned());
            }
            Ok(Value::array(v))
        }
        (_, Value::Null) => numeric(op, &Value::Int(0), b),
        (
            _,
            Value::Int(_)
            | Value::Long(_)
            | Value::Double(_)
            | Value::Decimal(_)
            | Value::Byte(_)
            | Value::Bool(_)
            | Value::Enum(..)
            | Value::Char(_),
        ) => numeric(op, a, b),
        (_, Value::Str(s)) => numeric(op, &Value::string(s.to_string()), b),
        _ => Err(no_method(op, a)),
    }
}

pub fn add(a: &Value, b: &Value) -> R {
    arith(Arith::Add, a, b)
}
pub fn sub(a: &Value, b: &Value) -> R {
    arith(Arith::Sub, a, b)
}
pub fn mul(a: &Value, b: &Value) -> R {
    arith(Arith::Mul, a, b)
}
pub fn div(a: &Value, b: &Value) -> R {
    arith(Arith::Div, a, b)
}
pub fn rem(a: &Value, b: &Value) -> R {
    arith(Arith::Rem, a, b)
}

/// Unary minus.
pub fn negate(v: &Value) -> R {
    numeric(Arith::Sub, &Value::Int(0), v)
}

fn fold(s: &str, cs: bool) -> String {
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

fn scalar_cmp(op: Cmp, a: &Value, b: &Value, cs: bool) -> Result<bool, OpError> {
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

/// PowerShell wildcard matching: `*`, `?`, `[abc]`, `[a-z]`, backtick escapes.
pub fn wildcard_match(pattern: &str, text: &str, cs: bool) -> bool {
    let p: Vec<char> = fold(pattern, cs).chars().collect();
    let t: Vec<char> = fold(text, cs).chars().collect();
    wild(&p, &t)
}

fn wild(p: &[char], t: &[char]) -> bool {
    // Iterative matcher with backtracking on the last `*`.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' if ti < t.len() => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' if ti < t.len() => {
                    if let Some((matched, next)) = bracket(p, pi, t[ti]) {
                        if matched {
                            pi = next;
                            ti += 1;
                            continue;
                        }
                    } else if t[ti] == '[' {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
                '`' if pi + 1 < p.len() && ti < t.len() && p[pi + 1] == t[ti] => {
                    pi += 2;
                    ti += 1;
                    continue;
                }
                c if c != '?' && c != '[' && c != '`' && ti < t.len() && c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        } else if ti == t.len() {
            return true;
        }
        match star {
            Some((sp, st)) if st < t.len() => {
                star = Some((sp, st + 1));
                pi = sp + 1;
                ti = st + 1;
            }
            _ => return false,
        }
    }
}

/// A `[...]` set at `p[i]`: whether `c` is in it and the index after `]`; None when unclosed.
fn bracket(p: &[char], i: usize, c: char) -> Option<(bool, usize)> {
    let close = p[i + 1..].iter().position(|&x| x == ']')? + i + 1;
    let set = &p[i + 1..close];
    let mut k = 0;
    let mut hit = false;
    while k < set.len() {
        if k + 2 < set.len() && set[k + 1] == '-' {
            if set[k] <= c && c <= set[k + 2] {
                hit = true;
            }
            k += 3;
        } else {
            if set[k] == c {
                hit = true;
            }
            k += 1;
        }
    }
    Some((hit, close + 1))
}

/// Whether a string contains wildcard characters (paths: literal otherwise).
pub fn has_wildcards(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Builds a regex from a .NET pattern; constructs Rust's engine cannot run (lookaround,
/// backreferences) fail with a message naming them.
pub fn regex(pattern: &str, cs: bool) -> Result<regex::Regex, OpError> {
    let full = if cs {
        pattern.to_string()
    } else {
        format!("(?i){pattern}")
    };
    regex::Regex::new(&full).map_err(|e| {
        OpError(format!(
            "The regular expression pattern {pattern} is not valid for this engine (lookaround and backreferences are not supported): {e}"
        ))
    })
}

/// `-match`: for a scalar, the bool and the `$Matches` table; for an array, the matching elements.
pub fn match_op(
    a: &Value,
    pattern: &Value,
    cs: bool,
    negate: bool,
) -> Result<(Value, Option<Hashtable>), OpError> {
    let re = regex(&to_string(pattern), cs)?;
    match a {
        Value::Array(items) => {
            let out: Vec<Value> = items
                .borrow()
                .iter()
                .filter(|x| re.is_match(&to_string(x)) != negate)
                .cloned()
                .collect();
            Ok((Value::array(out), None))
        }
        _ => {
            let text = to_string(a);
            match re.captures(&text) {
                Some(caps) => {
                    let mut h = Hashtable::new(false);
                    // $Matches lists groups from the highest number down, as PowerShell shows it.
                    let names: Vec<Option<&str>> = re.capture_names().collect();
                    let groups: Vec<_> = caps.iter().enumerate().collect();
                    for (i, m) in groups.into_iter().rev() {
                        if let Some(m) = m {
                            let key = match names[i] {
                                Some(n) => Value::str(n),
                                None => Value::Int(i as i32),
                            };
                            h.set(key, Value::str(m.as_str()));
                        }
                    }
                    Ok((Value::Bool(!negate), if negate { None } else { Some(h) }))
                }
                None => Ok((Value::Bool(negate), None)),
            }
        }
    }
}

/// Translates a .NET substitution string (`$1`, `${name}`, `$&`, `$$`) into Rust regex syntax.
fn substitution(s: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' && i + 1 < chars.len() {
            let n = chars[i + 1];
            if n.is_ascii_digit() {
                let mut j = i + 1;
                while j < chars.len() && chars[j].is_ascii_digit() {
                    j += 1;
                }
                out.push_str(&format!(
                    "${{{}}}",
                    chars[i + 1..j].iter().collect::<String>()
                ));
                i = j;
                continue;
            }
            if n == '{' {
                if let Some(end) = chars[i..].iter().position(|&c| c == '}') {
                    out.extend(&chars[i..=i + end]);
                    i += end + 1;
                    continue;
                }
            }
            if n == '&' {
                out.push_str("${0}");
                i += 2;
                continue;
            }
            if n == '$' {
                out.push_str("$$");
                i += 2;
                continue;
            }
            out.push_str("$$");
            i += 1;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// `-replace pattern, replacement` (regex, all occurrences; arrays element-wise).
pub fn replace(a: &Value, pattern: &Value, replacement: &Value, cs: bool) -> R {
    let re = regex(&to_string(pattern), cs)?;
    let rep = substitution(&to_string(replacement));
    let one = |v: &Value| Value::string(re.replace_all(&to_string(v), rep.as_str()).into_owned());
    Ok(match a {
        Value::Array(items) => Value::array(items.borrow().iter().map(one).collect()),
        _ => one(a),
    })
}

/// `-split pattern[, max]` (regex, case-insensitive by default; captured groups are kept).
pub fn split(a: &Value, pattern: &Value, max: Option<i64>, cs: bool) -> R {
    let re = regex(&to_string(pattern), cs)?;
    let mut out = Vec::new();
    for item in a.clone().into_items() {
        let text = to_string(&item);
        let mut last = 0;
        let mut pieces = 0i64;
        for caps in re.captures_iter(&text) {
            if let Some(m) = max {
                if m > 0 && pieces + 1 >= m {
                    break;
                }
            }
            let Some(m0) = caps.get(0) else { continue };
            if m0.start() == m0.end() && (m0.start() == 0 || m0.start() == text.len()) {
                continue;
            }
            out.push(Value::str(&text[last..m0.start()]));
            for g in caps.iter().skip(1).flatten() {
                out.push(Value::str(g.as_str()));
            }
            last = m0.end();
            pieces += 1;
        }
        out.push(Value::str(&text[last..]));
    }
    Ok(Value::array(out))
}

/// Unary `-split`: on whitespace, empty pieces dropped.
pub fn split_unary(a: &Value) -> Value {
    let mut out = Vec::new();
    for item in a.clone().into_items() {
        out.extend(to_string(&item).split_whitespace().map(Value::str));
    }
    Value::array(out)
}

/// `-join sep` (unary: sep = "").
pub fn join(a: &Value, sep: &str) -> Value {
    let parts: Vec<String> = match a {
        Value::Null => Vec::new(),
        _ => a.clone().into_items().iter().map(to_string).collect(),
    };
    Value::string(parts.join(sep))
}

/// `-band -bor -bxor -shl -shr` (enum flags keep their enum type under -bor/-band).
pub fn bitwise(op: &str, a: &Value, b: &Value) -> R {
    let x = convert::to_i64(a)?;
    let y = convert::to_i64(b)?;
    let n = match op {
        "band" => x & y,
        "bor" => x | y,
        "bxor" => x ^ y,
        "shl" => x.wrapping_shl(y as u32),
        "shr" => x.wrapping_shr(y as u32),
        _ => return Err(OpError(format!("unknown bitwise operator -{op}"))),
    };
    if let Value::Enum(t, _) = a {
        return Ok(Value::Enum(t, n));
    }
    if matches!(a, Value::Long(_))
        || matches!(b, Value::Long(_))
        || n > i32::MAX as i64
        || n < i32::MIN as i64
    {
        Ok(Value::Long(n))
    } else {
        Ok(Value::Int(n as i32))
    }
}

/// `-bnot`.
pub fn bnot(a: &Value) -> R {
    Ok(match to_number(a)? {
        Value::Long(n) => Value::Long(!n),
        other => Value::Int(!(convert::to_i32(&other)?)),
    })
}

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

fn group_thousands(int_part: &str) -> String {
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

/// Formats a double for string interpolation (kept here for operator users).
pub fn num_text(d: f64) -> String {
    fmt_double(d)
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
