//! Checking the script's structure: bodies and named blocks, `param()` blocks and their
//! attributes, every statement kind, script blocks.

use super::*;

impl Checker<'_> {
    pub(super) fn body(&mut self, b: &Body) {
        for block in [&b.begin, &b.process].into_iter().flatten() {
            self.block(block);
        }
        self.block(&b.end);
    }

    pub(super) fn block(&mut self, b: &Block) {
        for s in &b.statements {
            self.statement(s);
        }
    }

    pub(super) fn param_block(&mut self, p: &ParamBlock) {
        for a in &p.attributes {
            self.attribute(a);
        }
        for param in &p.parameters {
            for a in &param.attributes {
                match a {
                    AttributeOrType::Attribute(a) => self.attribute(a),
                    AttributeOrType::Type(t) => self.type_name(t),
                }
            }
            if let Some(d) = &param.default {
                self.expr(d);
            }
        }
    }

    pub(super) fn attribute(&mut self, a: &Attribute) {
        if !self.catalog.has_attribute(&a.name.name) {
            self.refuse(format!("attribute [{}()]", a.name.full_text()), a.span);
        }
        for e in &a.positional {
            self.expr(e);
        }
        for e in a.named.iter().filter_map(|(_, v)| v.as_ref()) {
            self.expr(e);
        }
    }

    pub(super) fn statement(&mut self, s: &Statement) {
        match &s.kind {
            StatementKind::Pipeline(p) => self.pipeline(p),
            StatementKind::Assignment { target, value, .. } => {
                self.expr(target);
                self.statement(value);
            }
            StatementKind::If {
                clauses,
                else_block,
            } => {
                for (c, b) in clauses {
                    self.statement(c);
                    self.block(b);
                }
                if let Some(b) = else_block {
                    self.block(b);
                }
            }
            StatementKind::While {
                condition, body, ..
            }
            | StatementKind::Do {
                condition, body, ..
            } => {
                self.statement(condition);
                self.block(body);
            }
            StatementKind::For {
                init,
                condition,
                step,
                body,
                ..
            } => {
                for s in [init, condition, step].into_iter().flatten() {
                    self.statement(s);
                }
                self.block(body);
            }
            StatementKind::Foreach { iterable, body, .. } => {
                self.statement(iterable);
                self.block(body);
            }
            StatementKind::Switch {
                flags,
                subject,
                clauses,
                default,
                ..
            } => {
                if flags.iter().any(|f| f == "file") {
                    self.refuse("switch -File", s.span);
                }
                self.statement(subject);
                for c in clauses {
                    self.expr(&c.pattern);
                    self.block(&c.body);
                }
                if let Some(d) = default {
                    self.block(d);
                }
            }
            StatementKind::Try {
                body,
                catches,
                finally,
            } => {
                self.block(body);
                for c in catches {
                    for t in &c.types {
                        self.type_name(t);
                    }
                    self.block(&c.body);
                }
                if let Some(f) = finally {
                    self.block(f);
                }
            }
            StatementKind::Trap { .. } => self.refuse("statement trap", s.span),
            StatementKind::Throw(v) | StatementKind::Return(v) | StatementKind::Exit(v) => {
                if let Some(v) = v {
                    self.statement(v);
                }
            }
            StatementKind::Break(l) | StatementKind::Continue(l) => {
                if let Some(l) = l {
                    self.expr(l);
                }
            }
            StatementKind::Function(f) => self.script_block(&f.body),
        }
    }

    pub(super) fn script_block(&mut self, sb: &ScriptBlock) {
        if let Some(p) = &sb.param {
            self.param_block(p);
        }
        self.body(&sb.body);
    }
}
