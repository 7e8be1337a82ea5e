//! Checking expressions: `New-Object` and type literals, and static members and methods of
//! .NET types.

use super::*;

impl Checker<'_> {
    /// `New-Object T`: T must be a constructible catalog type, written as a constant.
    pub(super) fn new_object_type(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::String { value, .. } => match self.catalog.type_info(value) {
                Some(t) if t.constructible => {}
                Some(_) => self.refuse(format!(".NET constructor New-Object {value}"), e.span),
                None => self.refuse(format!(".NET type {value}"), e.span),
            },
            _ => self.refuse("New-Object with a type name computed at run time", e.span),
        }
    }

    pub(super) fn type_name(&mut self, t: &TypeName) {
        if self.catalog.type_info(&t.name).is_none() {
            self.refuse(format!(".NET type [{}]", t.full_text()), t.span);
            return;
        }
        for g in &t.generic_args {
            self.type_name(g);
        }
    }

    pub(super) fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Number(_) | ExprKind::String { .. } | ExprKind::Variable(_) => {}
            ExprKind::ExpandableString { parts, .. } => {
                for p in parts {
                    if let StringPart::SubExpression(b) = p {
                        self.block(b);
                    }
                }
            }
            ExprKind::Array(items) => items.iter().for_each(|i| self.expr(i)),
            ExprKind::ArrayExpression(b) | ExprKind::SubExpression(b) => self.block(b),
            ExprKind::Paren(s) => self.statement(s),
            ExprKind::Hashtable { entries, .. } => {
                for (k, v) in entries {
                    self.expr(k);
                    self.statement(v);
                }
            }
            ExprKind::ScriptBlock(sb) => self.script_block(sb),
            ExprKind::Unary { operand, .. } => self.expr(operand),
            ExprKind::Binary { left, right, .. } => {
                self.expr(left);
                self.expr(right);
            }
            ExprKind::Convert { type_name, operand } => {
                self.type_name(type_name);
                self.expr(operand);
            }
            ExprKind::TypeLiteral(t) => self.type_name(t),
            ExprKind::Member {
                target,
                member,
                is_static,
            } => {
                if *is_static {
                    self.static_member(target, member, false);
                } else {
                    self.expr(target);
                    self.expr(member);
                }
            }
            ExprKind::InvokeMember {
                target,
                member,
                args,
                is_static,
            } => {
                if *is_static {
                    self.static_member(target, member, true);
                } else {
                    self.expr(target);
                    match constant_name(member) {
                        Some(name) if self.catalog.has_instance_member(name) => {}
                        Some(name) => self.refuse(format!(".NET method .{name}()"), member.span),
                        None => {
                            self.refuse("a method whose name is computed at run time", member.span)
                        }
                    }
                }
                args.iter().for_each(|a| self.expr(a));
            }
            ExprKind::Index { target, index } => {
                self.expr(target);
                self.expr(index);
            }
        }
    }

    /// `[T]::Member` / `[T]::Method()` / `[T]::new()`.
    pub(super) fn static_member(&mut self, target: &Expr, member: &Expr, call: bool) {
        let ExprKind::TypeLiteral(t) = &target.kind else {
            self.expr(target);
            self.refuse(
                "a static member of a type computed at run time",
                target.span,
            );
            return;
        };
        let Some(name) = constant_name(member) else {
            self.refuse(
                format!(
                    "a member of [{}] whose name is computed at run time",
                    t.full_text()
                ),
                member.span,
            );
            return;
        };
        let Some(info) = self.catalog.type_info(&t.name) else {
            self.refuse(format!(".NET type [{}]", t.full_text()), t.span);
            return;
        };
        for g in &t.generic_args {
            self.type_name(g);
        }
        let ok = if call && name.eq_ignore_ascii_case("new") {
            info.constructible
        } else {
            info.static_members
                .iter()
                .any(|m| m.eq_ignore_ascii_case(name))
        };
        if !ok {
            self.refuse(
                format!(".NET member [{}]::{name}", t.full_text()),
                member.span,
            );
        }
    }
}

/// The member name when it is written as a constant (`.Name`, `."Name"`).
pub(super) fn constant_name(member: &Expr) -> Option<&str> {
    match &member.kind {
        ExprKind::String { value, .. } => Some(value),
        _ => None,
    }
}
