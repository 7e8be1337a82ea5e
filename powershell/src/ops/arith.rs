//! Arithmetic and bitwise operators: the left operand's numeric kind drives, int overflow widens
//! to double, inexact integer division gives a double; `-band -bor -bxor -shl -shr -bnot`.

use super::*;

/// Numeric kinds ordered by width: the result of an arithmetic op is the wider operand's kind.
#[derive(PartialEq, PartialOrd, Clone, Copy)]
pub(super) enum NumKind {
    Int,
    Long,
    Decimal,
    Double,
}

pub(super) fn kind(v: &Value) -> NumKind {
    match v {
        Value::Long(_) => NumKind::Long,
        Value::Double(_) => NumKind::Double,
        Value::Decimal(_) => NumKind::Decimal,
        _ => NumKind::Int,
    }
}

pub(super) fn as_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i as i64,
        Value::Long(i) => *i,
        Value::Double(d) | Value::Decimal(d) => *d as i64,
        _ => 0,
    }
}

pub(super) fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Long(i) => *i as f64,
        Value::Double(d) | Value::Decimal(d) => *d,
        _ => 0.0,
    }
}

/// An integer result in the narrowest kind at least `k`, or a double when it overflows a long.
pub(super) fn int_result(n: Option<i64>, k: NumKind, fallback: f64) -> Value {
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
pub(super) enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

pub(super) fn numeric(op: Arith, a: &Value, b: &Value) -> R {
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

pub(super) fn no_method(op: Arith, a: &Value) -> OpError {
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

pub(super) fn arith(op: Arith, a: &Value, b: &Value) -> R {
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
