//! Expressions: literals, variables, members and method calls, indexes, sub-expressions,
//! unary and binary operators (dispatching to `ops`), casts and `-is`/`-as` operands.

use super::*;

impl Interp<'_> {
    pub fn eval(&mut self, e: &Expr) -> Res<Value> {
        self.eval_inner(e).map_err(|f| add_span(f, e.span))
    }

    pub(super) fn eval_inner(&mut self, e: &Expr) -> Res<Value> {
        Ok(match &e.kind {
            ExprKind::Number(n) => match *n {
                ast::Number::Int(i) => Value::Int(i),
                ast::Number::Long(i) => Value::Long(i),
                ast::Number::Double(d) => Value::Double(d),
                ast::Number::Decimal { mantissa, scale } => {
                    Value::Decimal(mantissa as f64 / 10f64.powi(scale as i32))
                }
            },
            ExprKind::String { value, .. } => Value::str(value),
            ExprKind::ExpandableString { parts, .. } => {
                let mut s = String::new();
                for p in parts {
                    match p {
                        ast::StringPart::Literal(t) => s.push_str(t),
                        ast::StringPart::Variable { path, .. } => {
                            let v = self.var_path_get(path)?;
                            s.push_str(&self.to_string_ofs(&v));
                        }
                        ast::StringPart::SubExpression(b) => {
                            let mut o = Out::collect();
                            self.exec_block(b, &mut o)?;
                            let v = unwrap_output(o.items);
                            s.push_str(&self.to_string_ofs(&v));
                        }
                    }
                }
                Value::string(s)
            }
            ExprKind::Variable(p) => self.var_path_get(p)?,
            ExprKind::Array(items) => {
                let mut v = Vec::with_capacity(items.len());
                for it in items {
                    v.push(self.eval(it)?);
                }
                Value::array(v)
            }
            ExprKind::ArrayExpression(b) => {
                let mut o = Out::collect();
                self.exec_block(b, &mut o)?;
                Value::array(o.items)
            }
            ExprKind::SubExpression(b) => {
                let mut o = Out::collect();
                self.exec_block(b, &mut o)?;
                unwrap_output(o.items)
            }
            ExprKind::Paren(st) => {
                // `($x = 1)` yields the assigned value.
                if let StatementKind::Assignment { target, .. } = &st.kind {
                    self.exec_discard(st)?;
                    return self.eval(target);
                }
                self.eval_statement(st)?
            }
            ExprKind::Hashtable { entries, ordered } => {
                let mut h = Hashtable::new(*ordered);
                for (k, v) in entries {
                    let key = self.eval(k)?;
                    let val = self.eval_statement(v)?;
                    if h.contains(&key) {
                        return Err(ErrorRecord::runtime(format!(
                            "Duplicate keys '{}' are not allowed in hash literals.",
                            to_string(&key)
                        ))
                        .at(k.span)
                        .into());
                    }
                    h.set(key, val);
                }
                Value::hashtable(h)
            }
            ExprKind::ScriptBlock(sb) => Value::ScriptBlock(Rc::new((**sb).clone())),
            ExprKind::Unary { op, operand } => self.eval_unary(*op, operand)?,
            ExprKind::Binary { op, left, right } => self.eval_binary(*op, left, right)?,
            ExprKind::Convert { type_name, operand } => {
                let v = self.eval(operand)?;
                if type_name.name.eq_ignore_ascii_case("void") {
                    return Ok(Value::Null);
                }
                self.cast(type_name, &v, e.span)?
            }
            ExprKind::TypeLiteral(t) => {
                let name = t.full_text();
                let canon = convert::canonical_type(&name).ok_or_else(|| {
                    ErrorRecord::runtime(format!("Unable to find type [{name}]."))
                })?;
                Value::Type(Rc::from(canon.as_str()))
            }
            ExprKind::Member {
                target,
                member,
                is_static,
            } => {
                let name = to_string(&self.eval(member)?);
                if *is_static {
                    let tname = match &target.kind {
                        ExprKind::TypeLiteral(t) => t.full_text(),
                        _ => match self.eval(target)? {
                            Value::Type(t) => t.to_string(),
                            _ => {
                                return Err(ErrorRecord::runtime(
                                    "static member access needs a type",
                                )
                                .into())
                            }
                        },
                    };
                    crate::dotnet::get_static(self, &tname, &name)?
                } else {
                    let o = self.eval(target)?;
                    crate::dotnet::get_member(self, &o, &name)?
                }
            }
            ExprKind::InvokeMember {
                target,
                member,
                args,
                is_static,
            } => {
                let name = to_string(&self.eval(member)?);
                let mut av = Vec::with_capacity(args.len());
                for a in args {
                    av.push(self.eval(a)?);
                }
                if *is_static {
                    let tname = match &target.kind {
                        ExprKind::TypeLiteral(t) => t.full_text(),
                        _ => match self.eval(target)? {
                            Value::Type(t) => t.to_string(),
                            _ => {
                                return Err(
                                    ErrorRecord::runtime("static method call needs a type").into()
                                )
                            }
                        },
                    };
                    crate::dotnet::invoke_static(self, &tname, &name, av)?
                } else {
                    let o = self.eval(target)?;
                    crate::dotnet::invoke_method(self, &o, &name, av)?
                }
            }
            ExprKind::Index { target, index } => {
                let o = self.eval(target)?;
                let i = self.eval(index)?;
                index_value(&o, &i)?
            }
        })
    }

    /// `[string]$v` honouring `$OFS`.
    pub fn to_string_ofs(&self, v: &Value) -> String {
        match self.get_var("OFS") {
            Some(ofs) if !ofs.is_null() => convert::to_string_ofs(v, &to_string(&ofs)),
            _ => to_string(v),
        }
    }

    pub(super) fn eval_unary(&mut self, op: UnaryOp, operand: &Expr) -> Res<Value> {
        match op {
            UnaryOp::Not => Ok(Value::Bool(!to_bool(&self.eval(operand)?))),
            UnaryOp::BNot => ops::bnot(&self.eval(operand)?).map_err(|e| op_err(e).into()),
            UnaryOp::Negate => ops::negate(&self.eval(operand)?).map_err(|e| op_err(e).into()),
            UnaryOp::Plus => {
                let v = self.eval(operand)?;
                convert::to_number(&v).map_err(|e| conv_err(e).into())
            }
            UnaryOp::Split { .. } => Ok(ops::split_unary(&self.eval(operand)?)),
            UnaryOp::Join => Ok(ops::join(&self.eval(operand)?, "")),
            UnaryOp::PreIncrement
            | UnaryOp::PreDecrement
            | UnaryOp::PostIncrement
            | UnaryOp::PostDecrement => {
                let cur = self.eval(operand)?;
                let delta = if matches!(op, UnaryOp::PreIncrement | UnaryOp::PostIncrement) {
                    1
                } else {
                    -1
                };
                let new = ops::add(
                    &if cur.is_null() {
                        Value::Int(0)
                    } else {
                        cur.clone()
                    },
                    &Value::Int(delta),
                )
                .map_err(op_err)?;
                self.store(operand, new.clone())?;
                Ok(
                    if matches!(op, UnaryOp::PreIncrement | UnaryOp::PreDecrement) {
                        new
                    } else {
                        cur
                    },
                )
            }
        }
    }

    pub(super) fn eval_binary(&mut self, op: BinaryOp, left: &Expr, right: &Expr) -> Res<Value> {
        // Short-circuit logic first.
        match op {
            BinaryOp::And => {
                let l = to_bool(&self.eval(left)?);
                return Ok(Value::Bool(l && to_bool(&self.eval(right)?)));
            }
            BinaryOp::Or => {
                let l = to_bool(&self.eval(left)?);
                return Ok(Value::Bool(l || to_bool(&self.eval(right)?)));
            }
            _ => {}
        }
        let a = self.eval(left)?;
        let b = self.eval(right)?;
        let r = match op {
            BinaryOp::Add => ops::add(&a, &b),
            BinaryOp::Subtract => ops::sub(&a, &b),
            BinaryOp::Multiply => ops::mul(&a, &b),
            BinaryOp::Divide => ops::div(&a, &b),
            BinaryOp::Remainder => ops::rem(&a, &b),
            BinaryOp::Range => {
                let x = convert::to_i64(&a).map_err(conv_err)?;
                let y = convert::to_i64(&b).map_err(conv_err)?;
                if (x - y).abs() > 50_000_000 {
                    return Err(
                        ErrorRecord::runtime("The range is too large for this engine.").into(),
                    );
                }
                let v: Vec<Value> = if x <= y {
                    (x..=y).map(|n| Value::Int(n as i32)).collect()
                } else {
                    (y..=x).rev().map(|n| Value::Int(n as i32)).collect()
                };
                Ok(Value::array(v))
            }
            BinaryOp::Format => {
                let args = match &b {
                    Value::Array(x) => x.borrow().clone(),
                    other => vec![other.clone()],
                };
                ops::format(&to_string(&a), &args)
            }
            BinaryOp::Xor => Ok(Value::Bool(to_bool(&a) != to_bool(&b))),
            BinaryOp::BAnd => ops::bitwise("band", &a, &b),
            BinaryOp::BOr => ops::bitwise("bor", &a, &b),
            BinaryOp::BXor => ops::bitwise("bxor", &a, &b),
            BinaryOp::Shl => ops::bitwise("shl", &a, &b),
            BinaryOp::Shr => ops::bitwise("shr", &a, &b),
            BinaryOp::Is | BinaryOp::IsNot => {
                let t = type_of_operand(&b)?;
                let r = ops::is_type(&a, &t);
                Ok(Value::Bool(if op == BinaryOp::Is { r } else { !r }))
            }
            BinaryOp::As => {
                let t = type_of_operand(&b)?;
                Ok(convert::convert_to(&a, &t).unwrap_or(Value::Null))
            }
            BinaryOp::Join => Ok(ops::join(&a, &to_string(&b))),
            BinaryOp::And | BinaryOp::Or => unreachable!("short-circuited above"),
            BinaryOp::Compare { op, case } => {
                let cs = case.is_sensitive();
                match op {
                    CompareOp::Eq => ops::comparison(Cmp::Eq, &a, &b, cs),
                    CompareOp::Ne => ops::comparison(Cmp::Ne, &a, &b, cs),
                    CompareOp::Gt => ops::comparison(Cmp::Gt, &a, &b, cs),
                    CompareOp::Ge => ops::comparison(Cmp::Ge, &a, &b, cs),
                    CompareOp::Lt => ops::comparison(Cmp::Lt, &a, &b, cs),
                    CompareOp::Le => ops::comparison(Cmp::Le, &a, &b, cs),
                    CompareOp::Like => ops::comparison(Cmp::Like, &a, &b, cs),
                    CompareOp::NotLike => ops::comparison(Cmp::NotLike, &a, &b, cs),
                    CompareOp::Match | CompareOp::NotMatch => {
                        let neg = op == CompareOp::NotMatch;
                        let (r, m) = ops::match_op(&a, &b, cs, neg).map_err(op_err)?;
                        if let Some(m) = m {
                            self.set_var("Matches", Value::hashtable(m));
                        }
                        Ok(r)
                    }
                    CompareOp::Replace => {
                        let (pat, rep) = match &b {
                            Value::Array(x) => {
                                let x = x.borrow();
                                (
                                    x.first().cloned().unwrap_or(Value::Null),
                                    x.get(1).cloned().unwrap_or(Value::str("")),
                                )
                            }
                            other => (other.clone(), Value::str("")),
                        };
                        ops::replace(&a, &pat, &rep, cs)
                    }
                    CompareOp::Split => {
                        let (pat, max) = match &b {
                            Value::Array(x) => {
                                let x = x.borrow();
                                (
                                    x.first().cloned().unwrap_or(Value::Null),
                                    x.get(1).map(|m| convert::to_i64(m).unwrap_or(0)),
                                )
                            }
                            other => (other.clone(), None),
                        };
                        ops::split(&a, &pat, max, cs)
                    }
                    CompareOp::Contains => Ok(Value::Bool(ops::contains(&a, &b, cs))),
                    CompareOp::NotContains => Ok(Value::Bool(!ops::contains(&a, &b, cs))),
                    CompareOp::In => Ok(Value::Bool(ops::contains(&b, &a, cs))),
                    CompareOp::NotIn => Ok(Value::Bool(!ops::contains(&b, &a, cs))),
                }
            }
        };
        r.map_err(|e| op_err(e).into())
    }
}

/// The right operand of `-is`/`-as`: a type literal or a type name string.
pub(super) fn type_of_operand(b: &Value) -> Res<String> {
    match b {
        Value::Type(t) => Ok(t.to_string()),
        other => {
            let n = to_string(other);
            convert::canonical_type(&n)
                .ok_or_else(|| ErrorRecord::runtime(format!("Unable to find type [{n}].")).into())
        }
    }
}
/// `$o[i]`: arrays (negative indices from the end, several indices → several elements),
/// hashtables by key, strings by character.
pub fn index_value(o: &Value, i: &Value) -> Res<Value> {
    if let Value::Array(idx) = i {
        if !matches!(o, Value::Hashtable(_)) {
            let idx = idx.borrow().clone();
            let mut out = Vec::new();
            for k in idx {
                let v = index_value(o, &k)?;
                if !v.is_null() {
                    out.push(v);
                }
            }
            return Ok(Value::array(out));
        }
    }
    Ok(match o {
        Value::Null => {
            return Err(ErrorRecord::new(
                "Cannot index into a null array.",
                "System.Management.Automation.RuntimeException",
                "InvalidOperation",
                "NullArray",
            )
            .into())
        }
        Value::Hashtable(h) => h.borrow().get(i).cloned().unwrap_or(Value::Null),
        Value::Str(s) => {
            let k = convert::to_i64(i).map_err(conv_err)?;
            let chars: Vec<char> = s.chars().collect();
            let n = chars.len() as i64;
            let k = if k < 0 { n + k } else { k };
            if k < 0 || k >= n {
                Value::Null
            } else {
                Value::Char(chars[k as usize])
            }
        }
        Value::Array(_) | Value::Object(_) if o.enumerate().is_some() => {
            let items = o.enumerate().unwrap_or_default();
            let k = convert::to_i64(i).map_err(conv_err)?;
            let n = items.len() as i64;
            let k = if k < 0 { n + k } else { k };
            if k < 0 || k >= n {
                Value::Null
            } else {
                items[k as usize].clone()
            }
        }
        Value::Object(obj) => {
            let name = to_string(i);
            let b = obj.borrow();
            match b.get(&name) {
                Some(v) => v.clone(),
                None if b.kind == ObjKind::RegistryProperties || b.kind == ObjKind::Custom => {
                    Value::Null
                }
                None => {
                    return Err(ErrorRecord::runtime(format!(
                        "Unable to index into an object of type {}.",
                        b.type_name
                    ))
                    .into())
                }
            }
        }
        other => {
            // A scalar indexed by 0 is itself (PowerShell 3+), by -1 too.
            let k = convert::to_i64(i).map_err(conv_err)?;
            if k == 0 || k == -1 {
                other.clone()
            } else {
                Value::Null
            }
        }
    })
}
