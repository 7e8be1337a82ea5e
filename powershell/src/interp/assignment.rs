//! Assignment: `=` and the compound operators, and storing a value into a variable, a typed
//! variable, a member, an index or a list of targets.

use super::*;

impl Interp<'_> {
    pub(super) fn assign(&mut self, target: &Expr, op: AssignOp, value: &Statement) -> Res<()> {
        let rhs = self.eval_statement(value)?;
        let new = if op == AssignOp::Assign {
            rhs
        } else {
            let cur = self.eval(target)?;
            let r = match op {
                AssignOp::Add => ops::add(&cur, &rhs),
                AssignOp::Subtract => ops::sub(&cur, &rhs),
                AssignOp::Multiply => ops::mul(&cur, &rhs),
                AssignOp::Divide => ops::div(&cur, &rhs),
                AssignOp::Remainder => ops::rem(&cur, &rhs),
                AssignOp::Assign => unreachable!("handled above"),
            };
            r.map_err(|e| op_err(e).with_span(target.span))?
        };
        self.store(target, new)
    }

    /// Stores a value into an assignable expression.
    pub fn store(&mut self, target: &Expr, value: Value) -> Res<()> {
        match &target.kind {
            ExprKind::Variable(p) => self.var_path_set(p, value),
            ExprKind::Convert { type_name, operand } => {
                let v = self.cast(type_name, &value, target.span)?;
                self.store(operand, v)
            }
            ExprKind::Array(targets) => {
                let items = value.into_items();
                let n = targets.len();
                for (i, t) in targets.iter().enumerate() {
                    let v = if i + 1 == n && items.len() > n {
                        Value::array(items[i..].to_vec())
                    } else {
                        items.get(i).cloned().unwrap_or(Value::Null)
                    };
                    self.store(t, v)?;
                }
                Ok(())
            }
            ExprKind::Member { target: obj, member, is_static } => {
                let name = to_string(&self.eval(member)?);
                if *is_static {
                    let ExprKind::TypeLiteral(t) = &obj.kind else {
                        return Err(ErrorRecord::runtime("static member assignment needs a type").at(target.span).into());
                    };
                    return crate::dotnet::set_static(self, &t.full_text(), &name, value).map_err(|e| e.at(target.span).into());
                }
                let o = self.eval(obj)?;
                crate::dotnet::set_member(&o, &name, value).map_err(|e| e.at(target.span).into())
            }
            ExprKind::Index { target: obj, index } => {
                let o = self.eval(obj)?;
                let i = self.eval(index)?;
                match &o {
                    Value::Hashtable(h) => {
                        h.borrow_mut().set(i, value);
                        Ok(())
                    }
                    Value::Array(a) => {
                        let mut a = a.borrow_mut();
                        let n = a.len() as i64;
                        let k = convert::to_i64(&i).map_err(|e| conv_err(e).at(target.span))?;
                        let k = if k < 0 { n + k } else { k };
                        if k < 0 || k >= n {
                            return Err(ErrorRecord::new(
                                "Index was outside the bounds of the array.",
                                "System.IndexOutOfRangeException",
                                "OperationStopped",
                                "System.IndexOutOfRangeException",
                            )
                            .at(target.span)
                            .into());
                        }
                        a[k as usize] = value;
                        Ok(())
                    }
                    _ => Err(ErrorRecord::runtime(format!("Unable to index into an object of type {}.", o.type_name())).at(target.span).into()),
                }
            }
            ExprKind::Paren(_) | ExprKind::SubExpression(_) => Err(ErrorRecord::runtime("The assignment expression is not valid.").at(target.span).into()),
            _ => Err(ErrorRecord::runtime("The assignment expression is not valid. The input to an assignment operator must be an object that is able to accept assignments, such as a variable or a property.").at(target.span).into()),
        }
    }
}
