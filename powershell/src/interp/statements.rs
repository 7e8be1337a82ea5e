//! Running a script and its statements: the top-level run and exit code, statement blocks,
//! function definitions, `if`/loops/labels, `switch`, `try`/`catch`/`finally` and conditions.

use super::*;

impl Interp<'_> {
    /// Runs a whole script; returns the exit code as `powershell -Command` would.
    pub fn run(&mut self, script: &ast::Script) -> i32 {
        if let Some(p) = &script.param {
            // A script-level param() with no arguments: defaults only.
            if let Err(f) = self.bind_params(p, &[], &mut Vec::new()) {
                return self.finish(Err(f));
            }
        }
        let mut out = Out::host();
        let r = self.exec_body(&script.body, &mut out, &[], None);
        self.finish(r)
    }

    pub(super) fn finish(&mut self, r: Res<()>) -> i32 {
        match r {
            Ok(()) => i32::from(!self.dollar_q),
            Err(Flow::Exit(n)) => n,
            Err(Flow::Error(rec)) => {
                self.record_error(&rec);
                let text = rec.render(&self.source);
                self.host.stderr(&text);
                1
            }
            // `break`/`continue` outside a loop end the script; `return` at top level too.
            Err(Flow::Break(_)) | Err(Flow::Continue(_)) | Err(Flow::Return) => {
                i32::from(!self.last_ok)
            }
        }
    }

    /// Runs begin/process/end; each input item is `$_` (and the `ValueFromPipeline`
    /// parameter `pipe_param`, when there is one) for the process block.
    pub(super) fn exec_body(
        &mut self,
        body: &ast::Body,
        out: &mut Out,
        input: &[Value],
        pipe_param: Option<&str>,
    ) -> Res<()> {
        if let Some(b) = &body.begin {
            self.exec_block(b, out)?;
        }
        if let Some(p) = &body.process {
            if input.is_empty() {
                self.exec_block(p, out)?;
            } else {
                for item in input {
                    self.set_var("_", item.clone());
                    if let Some(name) = pipe_param {
                        self.set_var(name, item.clone());
                    }
                    self.exec_block(p, out)?;
                }
            }
        }
        self.exec_block(&body.end, out)
    }

    pub fn exec_block(&mut self, block: &ast::Block, out: &mut Out) -> Res<()> {
        // Functions are defined before the block runs (PowerShell hoists them within a script).
        for st in &block.statements {
            if let StatementKind::Function(f) = &st.kind {
                self.define_function(f);
            }
        }
        for st in &block.statements {
            self.exec_statement(st, out)?;
        }
        Ok(())
    }

    pub(super) fn define_function(&mut self, f: &ast::FunctionDef) {
        self.functions.insert(
            lc(&f.name),
            Function {
                name: f.name.clone(),
                block: Rc::new(f.body.clone()),
                is_filter: f.is_filter,
            },
        );
    }

    /// Runs one statement; statement-terminating errors are handled here.
    pub fn exec_statement(&mut self, st: &Statement, out: &mut Out) -> Res<()> {
        let r = match self.exec_statement_inner(st, out) {
            Err(Flow::Error(rec)) => {
                let rec = rec.at(st.span);
                self.statement_error(rec)
            }
            other => other,
        };
        if matches!(
            st.kind,
            StatementKind::Pipeline(_) | StatementKind::Assignment { .. }
        ) {
            self.dollar_q = self.last_ok;
        }
        r
    }

    pub(super) fn exec_statement_inner(&mut self, st: &Statement, out: &mut Out) -> Res<()> {
        match &st.kind {
            StatementKind::Pipeline(p) => {
                self.last_ok = true;
                self.run_pipeline(p, out)
            }
            StatementKind::Assignment { target, op, value } => {
                self.last_ok = true;
                self.assign(target, *op, value)
            }
            StatementKind::If {
                clauses,
                else_block,
            } => {
                for (cond, block) in clauses {
                    if self.condition(cond)? {
                        return self.exec_block(block, out);
                    }
                }
                if let Some(b) = else_block {
                    self.exec_block(b, out)?;
                }
                Ok(())
            }
            StatementKind::While {
                label,
                condition,
                body,
            } => {
                loop {
                    if !self.condition(condition)? {
                        break;
                    }
                    if self.loop_body(body, label, out)? {
                        break;
                    }
                }
                Ok(())
            }
            StatementKind::Do {
                label,
                body,
                condition,
                until,
            } => {
                loop {
                    if self.loop_body(body, label, out)? {
                        break;
                    }
                    let c = self.condition(condition)?;
                    if c == *until {
                        break;
                    }
                }
                Ok(())
            }
            StatementKind::For {
                label,
                init,
                condition,
                step,
                body,
            } => {
                if let Some(i) = init {
                    self.exec_discard(i)?;
                }
                loop {
                    if let Some(c) = condition {
                        if !self.condition(c)? {
                            break;
                        }
                    }
                    if self.loop_body(body, label, out)? {
                        break;
                    }
                    if let Some(s) = step {
                        self.exec_discard(s)?;
                    }
                }
                Ok(())
            }
            StatementKind::Foreach {
                label,
                variable,
                iterable,
                body,
            } => {
                let v = self.eval_statement(iterable)?;
                let items = match v {
                    Value::Null => Vec::new(),
                    v => v.into_items(),
                };
                for item in items {
                    self.var_path_set(variable, item)?;
                    if self.loop_body(body, label, out)? {
                        break;
                    }
                }
                Ok(())
            }
            StatementKind::Switch {
                label,
                flags,
                subject,
                clauses,
                default,
            } => self.exec_switch(label, flags, subject, clauses, default.as_ref(), out),
            StatementKind::Try {
                body,
                catches,
                finally,
            } => self.exec_try(body, catches, finally.as_ref(), out),
            StatementKind::Trap { .. } => {
                Err(ErrorRecord::runtime("trap is not supported by this engine").into())
            }
            StatementKind::Throw(v) => {
                let val = match v {
                    Some(s) => self.eval_statement(s)?,
                    None => Value::Null,
                };
                let mut rec = match ErrorRecord::from_value(&val) {
                    Some(r) => r,
                    None => {
                        let msg = if val.is_null() {
                            "ScriptHalted".to_string()
                        } else {
                            to_string(&val)
                        };
                        let mut r = ErrorRecord::new(
                            msg.clone(),
                            "System.Management.Automation.RuntimeException",
                            "OperationStopped",
                            &msg,
                        );
                        r.target = Some(msg);
                        r.thrown = Some(val);
                        r
                    }
                };
                rec.script_terminating = true;
                rec.span = Some(st.span);
                Err(rec.into())
            }
            StatementKind::Return(v) => {
                if let Some(s) = v {
                    self.exec_statement(s, out)?;
                }
                Err(Flow::Return)
            }
            StatementKind::Exit(v) => {
                let code = match v {
                    Some(s) => {
                        let v = self.eval_statement(s)?;
                        convert::to_i32(&v).unwrap_or(0)
                    }
                    None => 0,
                };
                Err(Flow::Exit(code))
            }
            StatementKind::Break(l) => Err(Flow::Break(self.label(l)?)),
            StatementKind::Continue(l) => Err(Flow::Continue(self.label(l)?)),
            StatementKind::Function(_) => Ok(()), // defined when its block started
        }
    }

    pub(super) fn label(&mut self, l: &Option<Expr>) -> Res<Option<String>> {
        Ok(match l {
            None => None,
            Some(e) => Some(to_string(&self.eval(e)?)),
        })
    }

    pub(super) fn exec_discard(&mut self, st: &Statement) -> Res<()> {
        let mut o = Out::collect();
        self.exec_statement(st, &mut o)
    }

    /// Runs a loop body; true when the loop must stop (`break` for this loop).
    pub(super) fn loop_body(
        &mut self,
        body: &ast::Block,
        label: &Option<String>,
        out: &mut Out,
    ) -> Res<bool> {
        match self.exec_block(body, out) {
            Ok(()) => Ok(false),
            Err(Flow::Break(None)) => Ok(true),
            Err(Flow::Continue(None)) => Ok(false),
            Err(Flow::Break(Some(l)))
                if label.as_ref().is_some_and(|x| x.eq_ignore_ascii_case(&l)) =>
            {
                Ok(true)
            }
            Err(Flow::Continue(Some(l)))
                if label.as_ref().is_some_and(|x| x.eq_ignore_ascii_case(&l)) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    pub(super) fn exec_switch(
        &mut self,
        label: &Option<String>,
        flags: &[String],
        subject: &Statement,
        clauses: &[ast::SwitchClause],
        default: Option<&ast::Block>,
        out: &mut Out,
    ) -> Res<()> {
        let has = |f: &str| flags.iter().any(|x| x.eq_ignore_ascii_case(f));
        if has("File") {
            return Err(
                ErrorRecord::runtime("switch -File is not supported by this engine").into(),
            );
        }
        let (regex, wildcard, cs) = (has("Regex"), has("Wildcard"), has("CaseSensitive"));
        let v = self.eval_statement(subject)?;
        let items = match v {
            Value::Null => vec![Value::Null],
            v => v.into_items(),
        };
        'items: for item in items {
            self.set_var("_", item.clone());
            let mut matched = false;
            for clause in clauses {
                let hit = match &clause.pattern.kind {
                    ExprKind::ScriptBlock(sb) => {
                        let r = self.invoke_block_here(sb, &item)?;
                        to_bool(&r)
                    }
                    _ => {
                        let p = self.eval(&clause.pattern)?;
                        if regex {
                            let (r, m) = ops::match_op(&item, &p, cs, false).map_err(op_err)?;
                            if let Some(m) = m {
                                self.set_var("Matches", Value::hashtable(m));
                            }
                            to_bool(&r)
                        } else if wildcard {
                            ops::wildcard_match(&to_string(&p), &to_string(&item), cs)
                        } else {
                            ops::equals(&item, &p, cs)
                        }
                    }
                };
                if hit {
                    matched = true;
                    match self.exec_block(&clause.body, out) {
                        Ok(()) => {}
                        Err(Flow::Break(None)) => break 'items,
                        Err(Flow::Continue(None)) => continue 'items,
                        Err(Flow::Break(Some(l)))
                            if label.as_ref().is_some_and(|x| x.eq_ignore_ascii_case(&l)) =>
                        {
                            break 'items
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            if !matched {
                if let Some(d) = default {
                    match self.exec_block(d, out) {
                        Ok(()) => {}
                        Err(Flow::Break(None)) => break 'items,
                        Err(Flow::Continue(None)) => continue 'items,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) fn exec_try(
        &mut self,
        body: &ast::Block,
        catches: &[ast::Catch],
        finally: Option<&ast::Block>,
        out: &mut Out,
    ) -> Res<()> {
        self.try_depth += 1;
        let r = self.exec_block(body, out);
        self.try_depth -= 1;
        let r = match r {
            Err(Flow::Error(rec)) => {
                let handler = catches.iter().find(|c| {
                    c.types.is_empty()
                        || c.types
                            .iter()
                            .any(|t| crate::errors::exception_is(&rec.exception, &t.name))
                });
                match handler {
                    Some(c) => {
                        self.record_error(&rec);
                        let saved = self.get_var("_");
                        self.set_var("_", rec.to_value());
                        let r = self.exec_block(&c.body, out);
                        self.set_var("_", saved.unwrap_or(Value::Null));
                        r
                    }
                    None => Err(Flow::Error(rec)),
                }
            }
            other => other,
        };
        if let Some(f) = finally {
            self.exec_block(f, out)?;
        }
        r
    }

    /// Output of a statement as one value (0 items → $null, 1 → the item, more → an array).
    ///
    /// A lone expression keeps its value as it is (`$a = @()` is an empty array, `$a = @(1)` an
    /// array of one); a statement-terminating error ends the enclosing statement too.
    /// An `if`/`while`/`do`/`for` condition: a pipeline like any other, so it sets `$?` (after
    /// `cmd /c exit 3; if ($LASTEXITCODE -ne 0) { … }` a script's `$?` is true again, and
    /// `powershell -Command` exits 0 if nothing later fails).
    pub(super) fn condition(&mut self, st: &Statement) -> Res<bool> {
        self.last_ok = true;
        let value = self.eval_statement(st)?;
        self.dollar_q = self.last_ok;
        Ok(to_bool(&value))
    }

    pub fn eval_statement(&mut self, st: &Statement) -> Res<Value> {
        if let Some(e) = pure_expression(st) {
            return self.eval(e);
        }
        let mut o = Out::collect();
        self.exec_statement_inner(st, &mut o)
            .map_err(|f| add_span(f, st.span))?;
        Ok(unwrap_output(o.items))
    }
}

/// The expression of a statement that is a single expression without redirections.
pub(super) fn pure_expression(st: &Statement) -> Option<&Expr> {
    match &st.kind {
        StatementKind::Pipeline(p) if p.elements.len() == 1 => match &p.elements[0] {
            ast::PipelineElement::Expression {
                expr, redirections, ..
            } if redirections.is_empty() => Some(expr),
            _ => None,
        },
        _ => None,
    }
}
