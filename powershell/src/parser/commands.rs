//! Pipelines, assignments and commands in argument mode: command names, `-Parameter`s,
//! bareword and expandable arguments, generic tokens and redirections.

use super::*;

impl Parser<'_> {
    /// A pipeline, or an assignment when an expression is followed by `=`, `+=`, ….
    pub(super) fn pipeline_statement(&mut self) -> PResult<Statement> {
        let start = self.c.pos();
        let mut elements = Vec::new();
        if self.at_expression_start()? {
            let expr = self.expression()?;
            self.ws()?;
            if let Some(op) = self.assignment_operator() {
                check_assignable(&expr, op)?;
                self.ws_nl()?;
                if self.at_statement_end() {
                    return Err(self
                        .c
                        .error("missing the value to assign after the assignment operator"));
                }
                let value = self.statement()?;
                let span = self.c.span(start, value.span.end as usize);
                return Ok(Statement {
                    kind: StatementKind::Assignment {
                        target: expr,
                        op,
                        value: Box::new(value),
                    },
                    span,
                });
            }
            let redirections = self.redirections()?;
            let end = redirections.last().map_or(expr.span.end, |r| match r {
                Redirection::File { span, .. } | Redirection::Merge { span, .. } => span.end,
            });
            let span = self.c.span(start, end as usize);
            elements.push(PipelineElement::Expression {
                expr,
                redirections,
                span,
            });
        } else {
            elements.push(PipelineElement::Command(self.command()?));
        }
        loop {
            self.ws()?;
            if self.c.peek() != Some('|') {
                break;
            }
            if self.c.peek_nth(1) == Some('|') {
                return Err(self
                    .c
                    .error("'||' is PowerShell 7 syntax, not Windows PowerShell 5.1"));
            }
            self.c.bump();
            self.ws_nl()?;
            if self.at_statement_end() || self.c.peek() == Some('|') {
                return Err(self.c.error("an empty pipe element is not allowed"));
            }
            if self.at_expression_start()? && !self.at_call_operator() {
                return Err(self
                    .c
                    .error("expressions are only allowed as the first element of a pipeline"));
            }
            elements.push(PipelineElement::Command(self.command()?));
        }
        // The statement ends with its last element, not with the blanks after it.
        let end = match elements.last() {
            Some(PipelineElement::Expression { span, .. }) => span.end,
            Some(PipelineElement::Command(c)) => c.span.end,
            None => start as u32,
        };
        let span = self.c.span(start, end as usize);
        Ok(Statement {
            kind: StatementKind::Pipeline(Pipeline { elements, span }),
            span,
        })
    }

    pub(super) fn at_call_operator(&self) -> bool {
        matches!(self.c.peek(), Some('&' | '.'))
    }

    pub(super) fn assignment_operator(&mut self) -> Option<AssignOp> {
        let c0 = self.c.peek()?;
        let c1 = self.c.peek_nth(1);
        let (op, len) = match (c0, c1) {
            ('=', _) => (AssignOp::Assign, 1),
            ('+', Some('=')) => (AssignOp::Add, 2),
            (d, Some('=')) if is_dash(d) => (AssignOp::Subtract, 2),
            ('*', Some('=')) => (AssignOp::Multiply, 2),
            ('/', Some('=')) => (AssignOp::Divide, 2),
            ('%', Some('=')) => (AssignOp::Remainder, 2),
            _ => return None,
        };
        for _ in 0..len {
            self.c.bump();
        }
        Some(op)
    }

    /// Whether the text at the cursor starts an expression (expression mode) rather than a
    /// command (about_Parsing).
    pub(super) fn at_expression_start(&mut self) -> PResult<bool> {
        let Some(c0) = self.c.peek() else {
            return Ok(false);
        };
        let c1 = self.c.peek_nth(1).unwrap_or('\0');
        Ok(match c0 {
            '$' => c1 == '(' || c1 == '{' || is_variable_start(c1),
            '@' => {
                if matches!(c1, '(' | '{') || is_single_quote(c1) || is_double_quote(c1) {
                    true
                } else if is_variable_start(c1) {
                    return Err(self
                        .c
                        .error("splatting (@name) is only allowed as a command argument"));
                } else {
                    false
                }
            }
            '(' | '[' | '{' | ',' => true,
            c if is_single_quote(c) || is_double_quote(c) => true,
            '!' => !is_identifier_start(c1),
            '+' => true,
            c if is_dash(c) => {
                if is_dash(c1)
                    || c1.is_ascii_digit()
                    || c1 == '.'
                    || force_start_new_token(c1)
                    || c1 == '$'
                {
                    true
                } else {
                    let mut probe = self.c.clone();
                    matches!(
                        probe.scan_dash_operator(),
                        Some(DashOperator::Unary(_) | DashOperator::SplitJoin(..))
                    )
                }
            }
            c if c.is_ascii_digit() || (c == '.' && c1.is_ascii_digit()) => {
                let mut probe = self.c.clone();
                probe.scan_number(true).ok().flatten().is_some()
            }
            _ => false,
        })
    }

    /// A command in argument mode, cursor at its first token (`&`, `.`, or the name).
    pub(super) fn command(&mut self) -> PResult<Command> {
        let start = self.c.pos();
        let mut invocation = Invocation::Plain;
        match self.c.peek() {
            Some('&') => {
                if self.c.peek_nth(1) == Some('&') {
                    return Err(self
                        .c
                        .error("'&&' is PowerShell 7 syntax, not Windows PowerShell 5.1"));
                }
                self.c.bump();
                invocation = Invocation::Call;
            }
            Some('.') => {
                let n = self.c.peek_nth(1).unwrap_or('\0');
                if force_start_new_token(n) || n == '$' || is_single_quote(n) || is_double_quote(n)
                {
                    self.c.bump();
                    invocation = Invocation::DotSource;
                }
            }
            _ => {}
        }
        if invocation != Invocation::Plain {
            self.ws()?;
            if self.at_statement_end() || self.c.peek() == Some('|') {
                return Err(self.c.error("missing the command after the call operator"));
            }
        }
        let name = self.command_name(invocation)?;
        let mut end;
        let mut args = Vec::new();
        let mut redirections = Vec::new();
        let mut saw_dash_dash = false;
        loop {
            // The command ends with what was parsed last, not with the blanks after it.
            end = self.c.pos();
            self.ws()?;
            let Some(ch) = self.c.peek() else { break };
            if matches!(ch, ';' | '|' | ')' | '}') || is_newline(ch) {
                break;
            }
            if ch == '&' {
                return Err(self.c.error(
                    "the ampersand (&) character is not allowed here (background jobs and && are PowerShell 6+); quote it to pass it as a string",
                ));
            }
            if ch == ',' {
                return Err(self.c.error("missing argument before ','"));
            }
            if let Some(r) = self.redirection()? {
                redirections.push(r);
                continue;
            }
            let arg_start = self.c.pos();
            // `--%`: the rest of the line is passed as is.
            if self.c.rest().starts_with("--%")
                && force_start_new_token(self.c.peek_nth(3).unwrap_or('\0'))
            {
                self.c.reset(arg_start + 3);
                let text_start = self.c.pos();
                while self.c.peek().is_some_and(|c| !is_newline(c) && c != '|') {
                    self.c.bump();
                }
                let text = self.c.source()[text_start..self.c.pos()]
                    .trim_start()
                    .to_string();
                args.push(CommandArg::StopParsing {
                    text,
                    span: self.c.span_from(arg_start),
                });
                continue;
            }
            if is_dash(ch) && !saw_dash_dash {
                let c1 = self.c.peek_nth(1).unwrap_or('\0');
                if is_dash(c1) && force_start_new_token(self.c.peek_nth(2).unwrap_or('\0')) {
                    self.c.bump();
                    self.c.bump();
                    saw_dash_dash = true;
                    args.push(CommandArg::Parameter {
                        name: "-".into(),
                        value: None,
                        span: self.c.span_from(arg_start),
                    });
                    continue;
                }
                if c1.is_alphabetic() || c1 == '_' || c1 == '?' {
                    if let Some(arg) = self.parameter()? {
                        args.push(arg);
                        continue;
                    }
                }
            }
            if ch == '@'
                && self
                    .c
                    .peek_nth(1)
                    .is_some_and(|c| is_variable_start(c) && c != ':')
            {
                self.c.bump();
                let Some(variable) = self.c.scan_variable_name(false)? else {
                    return Err(self.c.error("missing the variable name after '@'"));
                };
                args.push(CommandArg::Splat {
                    variable,
                    span: self.c.span_from(arg_start),
                });
                continue;
            }
            args.push(CommandArg::Value(self.command_argument()?));
        }
        Ok(Command {
            invocation,
            name,
            args,
            redirections,
            span: self.c.span(start, end),
        })
    }

    pub(super) fn command_name(&mut self, invocation: Invocation) -> PResult<CommandName> {
        let start = self.c.pos();
        let ch = self.c.peek().unwrap_or('\0');
        let is_primary =
            matches!(ch, '(' | '{' | '$' | '@') || is_single_quote(ch) || is_double_quote(ch);
        if is_primary {
            let expr = self.command_element()?;
            // A plain word that merely contains `$` is a name; only expressions need `&`.
            if let ExprKind::ExpandableString {
                quote: QuoteKind::Bare,
                ..
            } = &expr.kind
            {
                if invocation == Invocation::Plain {
                    return Ok(CommandName::Word {
                        name: self.c.source()[start..self.c.pos()].to_string(),
                        span: expr.span,
                    });
                }
            }
            return Ok(CommandName::Expr(expr));
        }
        let (parts, constant) = self.generic_token()?;
        let span = self.c.span_from(start);
        if invocation != Invocation::Plain
            && parts.iter().any(|p| !matches!(p, StringPart::Literal(_)))
        {
            return Ok(CommandName::Expr(Expr {
                kind: ExprKind::ExpandableString {
                    parts,
                    quote: QuoteKind::Bare,
                },
                span,
            }));
        }
        if constant.is_empty() {
            return Err(self.c.error_at(
                start,
                format!(
                    "unexpected token {} at the start of a command",
                    self.c.describe_here()
                ),
            ));
        }
        Ok(CommandName::Word {
            name: constant,
            span,
        })
    }

    /// `-Name` or `-Name:value`, cursor at the dash. `None` (cursor unmoved) when the token is
    /// really a bareword (it contains a quote).
    pub(super) fn parameter(&mut self) -> PResult<Option<CommandArg>> {
        let start = self.c.pos();
        self.c.bump();
        let name_start = self.c.pos();
        let mut colon = false;
        while let Some(ch) = self.c.peek() {
            if is_whitespace(ch)
                || matches!(
                    ch,
                    '{' | '}' | '(' | ')' | ';' | ',' | '|' | '&' | '.' | '[' | '\0'
                )
                || is_newline(ch)
            {
                break;
            }
            if ch == ':' {
                colon = true;
                break;
            }
            if is_single_quote(ch) || is_double_quote(ch) {
                self.c.reset(start);
                return Ok(None);
            }
            self.c.bump();
        }
        let name = self.c.source()[name_start..self.c.pos()].to_string();
        let name_span = self.c.span_from(start);
        let value = if colon {
            self.c.bump();
            self.ws()?;
            let next = self.c.peek().unwrap_or('\0');
            if next == ',' || self.at_statement_end() || next == '|' {
                None
            } else {
                Some(self.command_argument()?)
            }
        } else {
            None
        };
        let _ = name_span;
        Ok(Some(CommandArg::Parameter {
            name,
            value,
            span: self.c.span_from(start),
        }))
    }

    /// One argument value, with `a, b, c` forming an array.
    pub(super) fn command_argument(&mut self) -> PResult<Expr> {
        let start = self.c.pos();
        let first = self.command_element()?;
        let after = self.c.pos();
        self.ws()?;
        if self.c.peek() != Some(',') {
            self.c.reset(after);
            return Ok(first);
        }
        let mut items = vec![first];
        while self.c.eat(',') {
            self.ws_nl()?;
            if self.at_statement_end() || matches!(self.c.peek(), Some('|' | ',')) {
                return Err(self.c.error("missing expression after ','"));
            }
            items.push(self.command_element()?);
            let after = self.c.pos();
            self.ws()?;
            if self.c.peek() != Some(',') {
                self.c.reset(after);
            }
        }
        Ok(Expr {
            kind: ExprKind::Array(items),
            span: self.c.span_from(start),
        })
    }

    /// A single argument (no comma list): switch patterns, `switch -file` paths.
    pub(super) fn command_argument_single(&mut self) -> PResult<Expr> {
        if self.c.peek() == Some('{') {
            let start = self.c.pos();
            let sb = self.script_block()?;
            return Ok(Expr {
                kind: ExprKind::ScriptBlock(Box::new(sb)),
                span: self.c.span_from(start),
            });
        }
        self.command_element()
    }

    /// One element of a command argument in argument mode.
    pub(super) fn command_element(&mut self) -> PResult<Expr> {
        self.nest(|p| p.command_element_inner())
    }

    pub(super) fn command_element_inner(&mut self) -> PResult<Expr> {
        let start = self.c.pos();
        let ch = self.c.peek().unwrap_or('\0');
        let c1 = self.c.peek_nth(1).unwrap_or('\0');
        match ch {
            '$' if c1 == '(' => return self.postfix_primary(),
            '$' if c1 == '{' || is_variable_start(c1) => {
                // A variable stays a variable only when a token boundary, `.`, `[` or `::`
                // follows; otherwise the whole word is an expandable bareword (`$env:TEMP\x`).
                self.c.bump();
                let braced = c1 == '{';
                self.c.scan_variable_name(false)?;
                let n = self.c.peek_or_nul();
                let n1 = self.c.peek_nth(1).unwrap_or('\0');
                let ok = force_start_new_token(n)
                    || n == '.'
                    || n == '['
                    || (n == ':' && n1 == ':')
                    || (!braced && n == '=');
                self.c.reset(start);
                if ok {
                    return self.postfix_primary();
                }
                return self.bareword();
            }
            '(' | '{' => return self.postfix_primary(),
            '@' if matches!(c1, '(' | '{') || is_single_quote(c1) || is_double_quote(c1) => {
                return self.postfix_primary()
            }
            '@' => return Err(self.c.error("unrecognized token '@'")),
            c if is_single_quote(c) || is_double_quote(c) => return self.postfix_primary(),
            _ => {}
        }
        if ch.is_ascii_digit() || ch == '.' || ch == '+' || is_dash(ch) {
            if let Some(n) = self.c.scan_number(false)? {
                return Ok(Expr {
                    kind: ExprKind::Number(n),
                    span: self.c.span_from(start),
                });
            }
        }
        self.bareword()
    }

    /// A generic token as a value: a string constant, or an expandable string when it has `$`.
    pub(super) fn bareword(&mut self) -> PResult<Expr> {
        let start = self.c.pos();
        let (parts, constant) = self.generic_token()?;
        let span = self.c.span_from(start);
        if self.c.pos() == start {
            return Err(self.unexpected());
        }
        if parts.iter().all(|p| matches!(p, StringPart::Literal(_))) {
            return Ok(Expr {
                kind: ExprKind::String {
                    value: constant,
                    quote: QuoteKind::Bare,
                },
                span,
            });
        }
        Ok(Expr {
            kind: ExprKind::ExpandableString {
                parts,
                quote: QuoteKind::Bare,
            },
            span,
        })
    }

    /// Scans a generic token (a bareword in argument mode) up to a token boundary: escapes are
    /// resolved, embedded `'...'` and `"..."` sections join the word, `$` expansions become parts.
    /// Returns the parts and the constant text (expansions kept as written, as PowerShell does
    /// for a command name).
    pub(super) fn generic_token(&mut self) -> PResult<(Vec<StringPart>, String)> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut constant = String::new();
        while let Some(ch) = self.c.peek() {
            if force_start_new_token(ch) {
                break;
            }
            let at = self.c.pos();
            if ch == '`' {
                self.c.bump();
                match self.c.bump() {
                    Some(e) => {
                        let e = backtick_escape(e);
                        lit.push(e);
                        constant.push(e);
                    }
                    None => {
                        lit.push('`');
                        constant.push('`');
                    }
                }
            } else if is_single_quote(ch) {
                self.c.bump();
                let s = self.c.scan_single_quoted(at)?;
                lit.push_str(&s);
                constant.push_str(&s);
            } else if is_double_quote(ch) {
                self.c.bump();
                let inner = self.expandable_body(at, false)?;
                for part in inner {
                    match part {
                        StringPart::Literal(s) => {
                            lit.push_str(&s);
                            constant.push_str(&s);
                        }
                        other => {
                            if !lit.is_empty() {
                                parts.push(StringPart::Literal(std::mem::take(&mut lit)));
                            }
                            parts.push(other);
                        }
                    }
                }
            } else if ch == '$' {
                match self.dollar_in_string(false)? {
                    Some(part) => {
                        if !lit.is_empty() {
                            parts.push(StringPart::Literal(std::mem::take(&mut lit)));
                        }
                        parts.push(part);
                        constant.push_str(&self.c.source()[at..self.c.pos()]);
                    }
                    None => {
                        self.c.bump();
                        lit.push('$');
                        constant.push('$');
                    }
                }
            } else {
                self.c.bump();
                lit.push(ch);
                constant.push(ch);
            }
        }
        if !lit.is_empty() || parts.is_empty() {
            parts.push(StringPart::Literal(lit));
        }
        Ok((parts, constant))
    }

    /// `>`, `>>`, `2>`, `2>&1`, `*>`, … at the cursor (about_Redirection).
    pub(super) fn redirection(&mut self) -> PResult<Option<Redirection>> {
        let start = self.c.pos();
        let c0 = self.c.peek().unwrap_or('\0');
        let c1 = self.c.peek_nth(1).unwrap_or('\0');
        let from = match (c0, c1) {
            ('>', _) => Stream::Output,
            ('*', '>') => Stream::All,
            ('1', '>') => Stream::Output,
            ('2', '>') => Stream::Error,
            ('3', '>') => Stream::Warning,
            ('4', '>') => Stream::Verbose,
            ('5', '>') => Stream::Debug,
            ('6', '>') => Stream::Information,
            ('<', _) => return Err(self.c.error(
                "the '<' operator is reserved for future use (input redirection is not PowerShell)",
            )),
            _ => return Ok(None),
        };
        if c0 != '>' {
            self.c.bump();
        }
        self.c.bump(); // '>'
        if self.c.eat('&') {
            if self.c.eat('1') {
                return Ok(Some(Redirection::Merge {
                    from,
                    span: self.c.span_from(start),
                }));
            }
            return Err(self.c.error("only merging into the success stream (n>&1) is supported by Windows PowerShell 5.1"));
        }
        let append = self.c.eat('>');
        self.ws()?;
        if self.at_statement_end() || matches!(self.c.peek(), Some('|' | '&')) {
            return Err(self
                .c
                .error("missing the file specification after the redirection operator"));
        }
        let target = self.command_element()?;
        Ok(Some(Redirection::File {
            from,
            target,
            append,
            span: self.c.span_from(start),
        }))
    }

    pub(super) fn redirections(&mut self) -> PResult<Vec<Redirection>> {
        let mut out = Vec::new();
        loop {
            self.ws()?;
            match self.redirection()? {
                Some(r) => out.push(r),
                None => return Ok(out),
            }
        }
    }
}

/// PowerShell only assigns to variables, members, indexes, typed variables and lists of them.
pub(super) fn check_assignable(e: &Expr, op: AssignOp) -> PResult<()> {
    let ok = match &e.kind {
        ExprKind::Variable(_) | ExprKind::Member { .. } | ExprKind::Index { .. } => true,
        ExprKind::Convert { operand, .. } => return check_assignable(operand, op),
        ExprKind::Array(items) if op == AssignOp::Assign => {
            return items.iter().try_for_each(|i| check_assignable(i, op));
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ParseError::new(
            "the assignment expression is not valid: the left side must be a variable, a property or an index",
            e.span,
        ))
    }
}
