//! Statements: keyword dispatch (`if`, `for`, `foreach`, `switch`, `try`, `function`, flow
//! control, `throw`/`return`/`exit`) and their conditions and clauses.

use super::*;

impl Parser<'_> {
    pub(super) fn statement(&mut self) -> PResult<Statement> {
        self.nest(|p| p.statement_inner())
    }

    pub(super) fn statement_inner(&mut self) -> PResult<Statement> {
        let start = self.c.pos();
        // `:label` before a loop.
        let mut label = None;
        if self.c.peek() == Some(':') && self.c.peek_nth(1).is_some_and(is_identifier_start) {
            self.c.bump();
            let name_start = self.c.pos();
            while self.c.peek().is_some_and(is_identifier_follow) {
                self.c.bump();
            }
            label = Some(self.c.source()[name_start..self.c.pos()].to_string());
            self.ws_nl()?;
            if !["while", "do", "for", "foreach", "switch"]
                .iter()
                .any(|w| self.at_word(w))
            {
                return Err(self.c.error(
                    "a label must be followed by a loop (while, do, for, foreach) or switch",
                ));
            }
        }
        if let Some((word, len)) = self.peek_word() {
            if STATEMENT_KEYWORDS.contains(&word.as_str()) {
                let kw_start = self.c.pos();
                self.c.reset(kw_start + len);
                let kind = self.keyword_statement(&word, label, kw_start)?;
                // The statement ends with its last token, not with blanks skipped after it.
                let end = match &kind {
                    StatementKind::Throw(Some(v))
                    | StatementKind::Return(Some(v))
                    | StatementKind::Exit(Some(v)) => v.span.end as usize,
                    StatementKind::Break(Some(e)) | StatementKind::Continue(Some(e)) => {
                        e.span.end as usize
                    }
                    StatementKind::Throw(None)
                    | StatementKind::Return(None)
                    | StatementKind::Exit(None)
                    | StatementKind::Break(None)
                    | StatementKind::Continue(None) => kw_start + len,
                    _ => self.c.pos(),
                };
                return Ok(Statement {
                    kind,
                    span: self.c.span(start, end),
                });
            }
            if UNSUPPORTED_KEYWORDS.contains(&word.as_str()) {
                return Err(ParseError::new(
                    format!("the '{word}' statement is not supported"),
                    self.c.span(start, start + len),
                ));
            }
            if CONTINUATION_KEYWORDS.contains(&word.as_str()) {
                let why = if word == "param" {
                    "param() must be the first statement of a script, function or script block"
                        .to_string()
                } else {
                    format!("unexpected keyword '{word}'")
                };
                return Err(ParseError::new(why, self.c.span(start, start + len)));
            }
        }
        self.pipeline_statement()
    }

    pub(super) fn keyword_statement(
        &mut self,
        word: &str,
        label: Option<String>,
        kw_start: usize,
    ) -> PResult<StatementKind> {
        match word {
            "if" => self.if_statement(),
            "while" => {
                let condition = self.paren_condition("while")?;
                self.ws_nl()?;
                let body = self.brace_block()?;
                Ok(StatementKind::While {
                    label,
                    condition: Box::new(condition),
                    body,
                })
            }
            "do" => {
                self.ws_nl()?;
                let body = self.brace_block()?;
                self.ws_nl()?;
                let until = if self.eat_word("while") {
                    false
                } else if self.eat_word("until") {
                    true
                } else {
                    return Err(self
                        .c
                        .error("missing 'while' or 'until' after the do loop body"));
                };
                let condition = self.paren_condition(if until { "until" } else { "while" })?;
                Ok(StatementKind::Do {
                    label,
                    body,
                    condition: Box::new(condition),
                    until,
                })
            }
            "for" => self.for_statement(label),
            "foreach" => self.foreach_statement(label),
            "switch" => self.switch_statement(label),
            "try" => self.try_statement(),
            "trap" => {
                self.ws_nl()?;
                let type_name = if self.c.peek() == Some('[') {
                    let t = self.type_in_brackets()?;
                    self.ws_nl()?;
                    Some(t)
                } else {
                    None
                };
                let body = self.brace_block()?;
                Ok(StatementKind::Trap { type_name, body })
            }
            "throw" | "return" | "exit" => {
                self.ws()?;
                let value = if self.at_statement_end() || self.c.peek() == Some('|') {
                    None
                } else {
                    Some(Box::new(self.pipeline_statement()?))
                };
                Ok(match word {
                    "throw" => StatementKind::Throw(value),
                    "return" => StatementKind::Return(value),
                    _ => StatementKind::Exit(value),
                })
            }
            "break" | "continue" => {
                self.ws()?;
                let target = if self.at_statement_end() || self.c.peek() == Some('|') {
                    None
                } else if self.c.peek().is_some_and(is_identifier_start) {
                    let s = self.c.pos();
                    while self.c.peek().is_some_and(|c| !force_start_new_token(c)) {
                        self.c.bump();
                    }
                    let value = self.c.source()[s..self.c.pos()].to_string();
                    Some(Expr {
                        kind: ExprKind::String {
                            value,
                            quote: QuoteKind::Bare,
                        },
                        span: self.c.span_from(s),
                    })
                } else {
                    Some(self.expression_required(word)?)
                };
                Ok(if word == "break" {
                    StatementKind::Break(target)
                } else {
                    StatementKind::Continue(target)
                })
            }
            "function" | "filter" => self.function_statement(word == "filter", kw_start),
            _ => Err(self
                .c
                .error_at(kw_start, format!("unexpected keyword '{word}'"))),
        }
    }

    /// `( pipeline )` after if/while/until.
    pub(super) fn paren_condition(&mut self, keyword: &str) -> PResult<Statement> {
        self.ws_nl()?;
        let open = self.c.pos();
        if !self.c.eat('(') {
            return Err(self.c.error(format!("missing '(' after '{keyword}'")));
        }
        self.ws_nl()?;
        if self.c.peek() == Some(')') {
            return Err(self
                .c
                .error(format!("missing the condition of '{keyword}'")));
        }
        let cond = self.pipeline_statement()?;
        self.ws_nl()?;
        if !self.c.eat(')') {
            if self.c.at_end() {
                return Err(self.c.error_at(open, "missing closing ')'"));
            }
            return Err(self.c.error(format!(
                "missing closing ')' after the condition; found {}",
                self.c.describe_here()
            )));
        }
        Ok(cond)
    }

    pub(super) fn if_statement(&mut self) -> PResult<StatementKind> {
        let mut clauses = Vec::new();
        let cond = self.paren_condition("if")?;
        self.ws_nl()?;
        let block = self.brace_block()?;
        clauses.push((cond, block));
        let mut else_block = None;
        loop {
            let save = self.c.pos();
            self.ws_nl()?;
            if self.eat_word("elseif") {
                let cond = self.paren_condition("elseif")?;
                self.ws_nl()?;
                let block = self.brace_block()?;
                clauses.push((cond, block));
            } else if self.eat_word("else") {
                self.ws_nl()?;
                if self.at_word("if") {
                    return Err(self.c.error("'else if' is not PowerShell; write 'elseif'"));
                }
                else_block = Some(self.brace_block()?);
                break;
            } else {
                self.c.reset(save);
                break;
            }
        }
        Ok(StatementKind::If {
            clauses,
            else_block,
        })
    }

    pub(super) fn for_statement(&mut self, label: Option<String>) -> PResult<StatementKind> {
        self.ws_nl()?;
        let open = self.c.pos();
        if !self.c.eat('(') {
            return Err(self.c.error("missing '(' after 'for'"));
        }
        let mut parts: [Option<Box<Statement>>; 3] = [None, None, None];
        for (i, part) in parts.iter_mut().enumerate() {
            self.ws_nl()?;
            if !matches!(self.c.peek(), Some(';' | ')')) {
                *part = Some(Box::new(self.pipeline_statement()?));
                self.ws_nl()?;
            }
            if i < 2 && !self.c.eat(';') && self.c.peek() != Some(')') && self.c.at_end() {
                return Err(self.c.error_at(open, "missing closing ')' of the for loop"));
            }
        }
        self.ws_nl()?;
        if !self.c.eat(')') {
            return Err(self.c.error(format!(
                "missing closing ')' of the for loop; found {}",
                self.c.describe_here()
            )));
        }
        self.ws_nl()?;
        let body = self.brace_block()?;
        let [init, condition, step] = parts;
        Ok(StatementKind::For {
            label,
            init,
            condition,
            step,
            body,
        })
    }

    pub(super) fn foreach_statement(&mut self, label: Option<String>) -> PResult<StatementKind> {
        self.ws_nl()?;
        if self.c.peek().is_some_and(is_dash) {
            return Err(self
                .c
                .error("foreach -parallel is only valid in a workflow, which is not supported"));
        }
        let open = self.c.pos();
        if !self.c.eat('(') {
            return Err(self.c.error("missing '(' after 'foreach'"));
        }
        self.ws_nl()?;
        let var_start = self.c.pos();
        if !self.c.eat('$') {
            return Err(self
                .c
                .error("missing the variable of the foreach loop ($name)"));
        }
        let Some(variable) = self.c.scan_variable_name(false)? else {
            return Err(self.c.error_at(
                var_start,
                "missing the variable of the foreach loop ($name)",
            ));
        };
        self.ws_nl()?;
        if !self.eat_word("in") {
            return Err(self.c.error(format!(
                "missing 'in' in the foreach loop; found {}",
                self.c.describe_here()
            )));
        }
        self.ws_nl()?;
        let iterable = self.pipeline_statement()?;
        self.ws_nl()?;
        if !self.c.eat(')') {
            if self.c.at_end() {
                return Err(self
                    .c
                    .error_at(open, "missing closing ')' of the foreach loop"));
            }
            return Err(self.c.error(format!(
                "missing closing ')' of the foreach loop; found {}",
                self.c.describe_here()
            )));
        }
        self.ws_nl()?;
        let body = self.brace_block()?;
        Ok(StatementKind::Foreach {
            label,
            variable,
            iterable: Box::new(iterable),
            body,
        })
    }

    pub(super) fn switch_statement(&mut self, label: Option<String>) -> PResult<StatementKind> {
        let mut flags = Vec::new();
        let mut subject = None;
        loop {
            self.ws_nl()?;
            if !self.c.peek().is_some_and(is_dash) {
                break;
            }
            let s = self.c.pos();
            self.c.bump();
            let w = self.c.pos();
            while self.c.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                self.c.bump();
            }
            let word = self.c.source()[w..self.c.pos()].to_ascii_lowercase();
            let known = ["regex", "wildcard", "exact", "casesensitive", "file"];
            let Some(full) = known
                .iter()
                .find(|k| !word.is_empty() && k.starts_with(word.as_str()))
            else {
                return Err(ParseError::new(
                    format!("unknown switch option -{word}"),
                    self.c.span_from(s),
                ));
            };
            flags.push(full.to_string());
            if *full == "file" {
                self.ws_nl()?;
                let path = self.command_argument_single()?;
                let span = path.span;
                subject = Some(Statement {
                    kind: StatementKind::Pipeline(Pipeline {
                        elements: vec![PipelineElement::Expression {
                            expr: path,
                            redirections: vec![],
                            span,
                        }],
                        span,
                    }),
                    span,
                });
            }
        }
        let subject = match subject {
            Some(s) => s,
            None => self.paren_condition("switch")?,
        };
        self.ws_nl()?;
        let open = self.c.pos();
        if !self.c.eat('{') {
            return Err(self.c.error("missing '{' of the switch body"));
        }
        let mut clauses = Vec::new();
        let mut default = None;
        loop {
            self.ws_nl()?;
            while self.c.eat(';') {
                self.ws_nl()?;
            }
            if self.c.eat('}') {
                break;
            }
            if self.c.at_end() {
                return Err(self
                    .c
                    .error_at(open, "missing closing '}' of the switch body"));
            }
            if self.at_word("default") {
                let mut probe = self.c.clone();
                probe.reset(self.c.pos() + "default".len());
                if probe.skip_trivia(true).is_ok() && probe.peek() == Some('{') {
                    self.eat_word("default");
                    self.ws_nl()?;
                    if default.is_some() {
                        return Err(self.c.error("a switch can have only one default clause"));
                    }
                    default = Some(self.brace_block()?);
                    continue;
                }
            }
            let pattern = self.command_argument_single()?;
            self.ws_nl()?;
            let body = self.brace_block()?;
            clauses.push(SwitchClause { pattern, body });
        }
        Ok(StatementKind::Switch {
            label,
            flags,
            subject: Box::new(subject),
            clauses,
            default,
        })
    }

    pub(super) fn try_statement(&mut self) -> PResult<StatementKind> {
        self.ws_nl()?;
        let body = self.brace_block()?;
        let mut catches = Vec::new();
        let mut finally = None;
        loop {
            let save = self.c.pos();
            self.ws_nl()?;
            let start = self.c.pos();
            if self.eat_word("catch") {
                let mut types = Vec::new();
                loop {
                    self.ws_nl()?;
                    if self.c.peek() != Some('[') {
                        break;
                    }
                    types.push(self.type_in_brackets()?);
                    self.ws_nl()?;
                    if !self.c.eat(',') {
                        break;
                    }
                }
                let block = self.brace_block()?;
                catches.push(Catch {
                    types,
                    body: block,
                    span: self.c.span_from(start),
                });
            } else if self.eat_word("finally") {
                self.ws_nl()?;
                finally = Some(self.brace_block()?);
                break;
            } else {
                self.c.reset(save);
                break;
            }
        }
        if catches.is_empty() && finally.is_none() {
            return Err(self
                .c
                .error("the try statement is missing its catch or finally block"));
        }
        Ok(StatementKind::Try {
            body,
            catches,
            finally,
        })
    }

    pub(super) fn function_statement(
        &mut self,
        is_filter: bool,
        kw_start: usize,
    ) -> PResult<StatementKind> {
        self.ws_nl()?;
        let name_start = self.c.pos();
        while self.c.peek().is_some_and(|c| !force_start_new_token(c)) {
            self.c.bump();
        }
        let name = self.c.source()[name_start..self.c.pos()].to_string();
        if name.is_empty() {
            return Err(self.c.error("missing the function name"));
        }
        self.ws_nl()?;
        let outer_params = if self.c.peek() == Some('(') {
            let ps_start = self.c.pos();
            let params = self.parameter_list()?;
            self.ws_nl()?;
            Some(ParamBlock {
                attributes: vec![],
                parameters: params,
                span: self.c.span_from(ps_start),
            })
        } else {
            None
        };
        if self.c.peek() != Some('{') {
            return Err(self
                .c
                .error(format!("missing '{{' of the body of function {name}")));
        }
        let mut body = self.script_block()?;
        if let Some(params) = outer_params {
            if body.param.is_some() {
                return Err(ParseError::new(
                    format!(
                        "function {name} has parameters both after its name and in a param() block"
                    ),
                    body.span,
                ));
            }
            body.param = Some(params);
        }
        Ok(StatementKind::Function(FunctionDef {
            name,
            is_filter,
            body,
            span: self.c.span_from(kw_start),
        }))
    }
}
