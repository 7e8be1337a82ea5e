//! Pipelines: each element runs to completion before the next, output to the caller or to
//! redirections (`>`, `>>`, `2>&1`, `*>$null`), and which statements output nothing.

use super::*;

impl Interp<'_> {
    pub(super) fn run_pipeline(&mut self, p: &ast::Pipeline, out: &mut Out) -> Res<()> {
        let n = p.elements.len();
        let mut input: Option<Vec<Value>> = None;
        for (i, el) in p.elements.iter().enumerate() {
            let last = i + 1 == n;
            let mut local = Out::collect();
            let sink: &mut Out = if last { &mut *out } else { &mut local };
            match el {
                ast::PipelineElement::Expression {
                    expr,
                    redirections,
                    span,
                } => {
                    let v = self.with_redirections(redirections, sink, |me, o| {
                        let v = me.eval(expr)?;
                        if is_increment(expr) {
                            return Ok(());
                        }
                        // An expression statement enumerates its value into the pipeline.
                        match v.enumerate() {
                            Some(items) => {
                                for it in items {
                                    me.emit(o, it);
                                }
                            }
                            None => {
                                if !(v.is_null()
                                    && (is_void_expr(expr) || is_assignment_like(expr)))
                                {
                                    me.emit(o, v);
                                }
                            }
                        }
                        Ok(())
                    });
                    v.map_err(|f| add_span(f, *span))?;
                }
                ast::PipelineElement::Command(c) => {
                    let inp = input.take();
                    self.with_redirections(&c.redirections, sink, |me, o| {
                        me.invoke_command(c, inp, o)
                    })
                    .map_err(|f| add_span(f, c.span))?;
                }
            }
            if !last {
                input = Some(local.items);
            }
        }
        Ok(())
    }

    /// Sends one value to an output sink (printed at once when the sink is the host).
    pub fn emit(&mut self, out: &mut Out, v: Value) {
        if out.to_host {
            let text = crate::format::format_values(&[v]);
            self.host.stdout(&text);
        } else {
            out.items.push(v);
        }
    }

    pub(super) fn with_redirections(
        &mut self,
        redirs: &[ast::Redirection],
        out: &mut Out,
        f: impl FnOnce(&mut Self, &mut Out) -> Res<()>,
    ) -> Res<()> {
        if redirs.is_empty() {
            return f(self, out);
        }
        let mut err_mode = None;
        let mut out_target: Option<(Option<String>, bool)> = None; // (file or None for $null, append)
        let mut err_file: Option<(String, bool)> = None;
        for r in redirs {
            match r {
                ast::Redirection::Merge { from, .. } => match from {
                    ast::Stream::Error | ast::Stream::All => err_mode = Some(ErrRedirect::Merge),
                    _ => {} // other streams are not shown in a RUN log anyway
                },
                ast::Redirection::File {
                    from,
                    target,
                    append,
                    span,
                } => {
                    let dest = match &target.kind {
                        ExprKind::Variable(p) if p.is("null") => None,
                        _ => Some(to_string(&self.eval(target)?)),
                    };
                    match from {
                        ast::Stream::Output => out_target = Some((dest, *append)),
                        ast::Stream::Error => match dest {
                            None => err_mode = Some(ErrRedirect::Discard),
                            Some(d) => {
                                err_mode = Some(ErrRedirect::Merge);
                                err_file = Some((d, *append));
                            }
                        },
                        ast::Stream::All => {
                            out_target = Some((dest.clone(), *append));
                            err_mode = Some(if dest.is_none() {
                                ErrRedirect::Discard
                            } else {
                                ErrRedirect::Merge
                            });
                        }
                        _ => {
                            let _ = span;
                        }
                    }
                }
            }
        }
        let saved_merged = std::mem::take(&mut self.merged_errors);
        if let Some(m) = err_mode {
            self.err_redirect.push(m);
        }
        let mut inner = Out::collect();
        let capture = out_target.is_some() || err_mode == Some(ErrRedirect::Merge);
        let r = if capture {
            f(self, &mut inner)
        } else {
            f(self, out)
        };
        if err_mode.is_some() {
            self.err_redirect.pop();
        }
        let merged = std::mem::replace(&mut self.merged_errors, saved_merged);
        if let Some((file, append)) = err_file {
            let text = crate::format::format_values(&merged);
            crate::cmdlets::content::write_text_file(self, &file, &text, "unicode", append)?;
        } else if !merged.is_empty() && out_target.is_none() {
            for m in merged.iter().cloned() {
                self.emit(out, m);
            }
        }
        if capture {
            match out_target {
                Some((None, _)) => {}
                Some((Some(file), append)) => {
                    let mut items = inner.items;
                    if err_mode == Some(ErrRedirect::Merge) {
                        items.extend(merged);
                    }
                    let text = crate::format::format_values(&items);
                    crate::cmdlets::content::write_text_file(
                        self, &file, &text, "unicode", append,
                    )?;
                }
                None => {
                    for it in inner.items {
                        self.emit(out, it);
                    }
                }
            }
        }
        r
    }
}

/// An expression whose null result is not output (`[void]…`, assignments in parens).
pub(super) fn is_void_expr(e: &Expr) -> bool {
    matches!(&e.kind, ExprKind::Convert { type_name, .. } if type_name.name.eq_ignore_ascii_case("void"))
}

pub(super) fn is_assignment_like(e: &Expr) -> bool {
    matches!(&e.kind, ExprKind::InvokeMember { .. })
}

/// `$i++` as a statement outputs nothing.
pub(super) fn is_increment(e: &Expr) -> bool {
    matches!(
        &e.kind,
        ExprKind::Unary {
            op: UnaryOp::PostIncrement
                | UnaryOp::PostDecrement
                | UnaryOp::PreIncrement
                | UnaryOp::PreDecrement,
            ..
        }
    )
}
