//! The script, its `param()` block and named blocks (`begin`/`process`/`end`), statement lists
//! and `{ }` script blocks: the structure that holds statements.

use super::*;

impl Parser<'_> {
    pub(super) fn script(&mut self) -> PResult<Script> {
        self.ws_nl()?;
        let param = self.param_block_opt()?;
        let body = self.body(End::Eof, 0)?;
        Ok(Script {
            param,
            body,
            span: self.c.span(0, self.c.source().len()),
        })
    }

    /// `[attrs] param(...)` when present at the cursor (after leading trivia).
    pub(super) fn param_block_opt(&mut self) -> PResult<Option<ParamBlock>> {
        let start = self.c.pos();
        let mut attributes = Vec::new();
        while self.c.peek() == Some('[') {
            match self.attribute_or_type()? {
                AttributeOrType::Attribute(a) => attributes.push(a),
                AttributeOrType::Type(_) => {
                    self.c.reset(start);
                    return Ok(None);
                }
            }
            self.ws_nl()?;
        }
        if !self.at_word("param") {
            self.c.reset(start);
            return Ok(None);
        }
        self.eat_word("param");
        self.ws_nl()?;
        let parameters = self.parameter_list()?;
        self.ws_nl()?;
        Ok(Some(ParamBlock {
            attributes,
            parameters,
            span: self.c.span_from(start),
        }))
    }

    /// `( [attr][type]$a = default, ... )`, cursor at `(`.
    pub(super) fn parameter_list(&mut self) -> PResult<Vec<Parameter>> {
        let open = self.c.pos();
        if !self.c.eat('(') {
            return Err(self.c.error(format!(
                "missing '(' of the parameter list; found {}",
                self.c.describe_here()
            )));
        }
        let mut params = Vec::new();
        loop {
            self.ws_nl()?;
            if self.c.eat(')') {
                return Ok(params);
            }
            if !params.is_empty() {
                if !self.c.eat(',') {
                    if self.c.at_end() {
                        return Err(self.c.error_at(open, "missing ')' of the parameter list"));
                    }
                    return Err(self.c.error(format!(
                        "missing ',' or ')' in the parameter list; found {}",
                        self.c.describe_here()
                    )));
                }
                self.ws_nl()?;
            }
            let start = self.c.pos();
            let mut attributes = Vec::new();
            while self.c.peek() == Some('[') {
                attributes.push(self.attribute_or_type()?);
                self.ws_nl()?;
            }
            if !self.c.eat('$') {
                return Err(self.c.error(format!(
                    "missing a parameter variable ($name); found {}",
                    self.c.describe_here()
                )));
            }
            let Some(var) = self.c.scan_variable_name(false)? else {
                return Err(self.c.error("missing the parameter name after '$'"));
            };
            if var.qualifier.is_some() {
                return Err(ParseError::new(
                    "a parameter name cannot have a scope or drive",
                    self.c.span_from(start),
                ));
            }
            self.ws_nl()?;
            let default = if self.c.eat('=') {
                self.ws_nl()?;
                if self.at_statement_end() || self.c.peek() == Some(',') {
                    return Err(self.c.error("missing expression after '='"));
                }
                // A comma ends the default: it separates parameters (`param($a = 1, $b)`).
                Some(self.binary(0, false)?)
            } else {
                None
            };
            params.push(Parameter {
                name: var.name,
                attributes,
                default,
                span: self.c.span_from(start),
            });
        }
    }

    /// The statements of a script or `{ }` body, with `begin`/`process`/`end` blocks if used.
    pub(super) fn body(&mut self, end: End, open: usize) -> PResult<Body> {
        self.ws_nl()?;
        let named = ["begin", "process", "end"];
        if named.iter().any(|w| self.at_named_block(w)) {
            let mut body = Body::default();
            loop {
                self.ws_nl()?;
                while self.c.eat(';') {
                    self.ws_nl()?;
                }
                if self.at_end_of(end) {
                    return Ok(body);
                }
                let Some((word, len)) = self
                    .peek_word()
                    .filter(|(w, _)| named.contains(&w.as_str()))
                else {
                    return Err(self.c.error(format!(
                        "expected a begin, process or end block; found {}",
                        self.c.describe_here()
                    )));
                };
                self.c.reset(self.c.pos() + len);
                self.ws_nl()?;
                let block = self.brace_block()?;
                let slot = match word.as_str() {
                    "begin" => &mut body.begin,
                    "process" => &mut body.process,
                    _ => {
                        body.end = block;
                        continue;
                    }
                };
                *slot = Some(block);
            }
        }
        let block = self.statement_list(end, open)?;
        Ok(Body {
            begin: None,
            process: None,
            end: block,
        })
    }

    pub(super) fn at_named_block(&self, word: &str) -> bool {
        if !self.at_word(word) {
            return false;
        }
        let mut probe = self.c.clone();
        probe.reset(self.c.pos() + word.len());
        probe.skip_trivia(true).is_ok() && probe.peek() == Some('{')
    }

    pub(super) fn at_end_of(&self, end: End) -> bool {
        match end {
            End::Eof => self.c.at_end(),
            End::Brace => self.c.peek() == Some('}'),
            End::Paren => self.c.peek() == Some(')'),
        }
    }

    /// Statements up to (not including) the end; `open` is where the bracket opened (for errors).
    pub(super) fn statement_list(&mut self, end: End, open: usize) -> PResult<Block> {
        self.nest(|p| {
            let start = p.c.pos();
            let mut statements = Vec::new();
            loop {
                p.ws_nl()?;
                while p.c.eat(';') {
                    p.ws_nl()?;
                }
                if p.at_end_of(end) {
                    break;
                }
                match p.c.peek() {
                    None => {
                        let what = if end == End::Brace { "'}'" } else { "')'" };
                        return Err(p.c.error_at(open, format!("missing closing {what}")));
                    }
                    Some('}' | ')') => return Err(p.unexpected()),
                    _ => {}
                }
                let statement = p.statement()?;
                // A statement that ends with its own `}` needs no separator before the next
                // one (`if ($a) { 1 } Write-Host b`).
                let compound = ends_with_block(&statement.kind);
                statements.push(statement);
                p.ws()?;
                if compound {
                    continue;
                }
                if p.c.peek() == Some('&') {
                    return Err(p.c.error(
                        "the ampersand (&) character is not allowed here (background jobs and && are PowerShell 6+); quote it to pass it as a string",
                    ));
                }
                if !p.at_statement_end() {
                    return Err(p.unexpected());
                }
            }
            Ok(Block { statements, span: p.c.span_from(start) })
        })
    }

    /// `{ statements }`, cursor at `{`.
    pub(super) fn brace_block(&mut self) -> PResult<Block> {
        let open = self.c.pos();
        if !self.c.eat('{') {
            return Err(self.c.error(format!(
                "missing '{{' of a statement block; found {}",
                self.c.describe_here()
            )));
        }
        let mut block = self.statement_list(End::Brace, open)?;
        self.expect('}', "closing '}'")?;
        block.span = self.c.span_from(open);
        Ok(block)
    }

    /// `{ param() body }` as a value, cursor at `{`.
    pub(super) fn script_block(&mut self) -> PResult<ScriptBlock> {
        let open = self.c.pos();
        self.c.eat('{');
        self.nest(|p| {
            p.ws_nl()?;
            let param = p.param_block_opt()?;
            let body = p.body(End::Brace, open)?;
            let close = p.c.pos();
            p.expect('}', "closing '}' of the script block")?;
            Ok(ScriptBlock {
                param,
                body,
                text: p.c.source()[open + 1..close].to_string(),
                span: p.c.span_from(open),
            })
        })
    }
}

/// Statements that end with a block of their own.
pub(super) fn ends_with_block(kind: &StatementKind) -> bool {
    matches!(
        kind,
        StatementKind::If { .. }
            | StatementKind::While { .. }
            | StatementKind::Do { .. }
            | StatementKind::For { .. }
            | StatementKind::Foreach { .. }
            | StatementKind::Switch { .. }
            | StatementKind::Try { .. }
            | StatementKind::Trap { .. }
            | StatementKind::Function(_)
    )
}
