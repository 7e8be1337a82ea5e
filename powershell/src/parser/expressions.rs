//! Expressions in expression mode: binary operators by precedence, comma lists, unary and
//! postfix operators, casts, member access and calls, primaries (literals, variables, `@()`, `$()`,
//! hashtables) and the expandable parts of double-quoted strings.

use super::*;

impl Parser<'_> {
    /// A full expression (binary operators, comma lists) in expression mode.
    pub(super) fn expression(&mut self) -> PResult<Expr> {
        self.binary(0, true)
    }

    pub(super) fn expression_required(&mut self, after: &str) -> PResult<Expr> {
        if self.at_statement_end() || self.c.peek() == Some(',') {
            return Err(self.c.error(format!("missing expression after '{after}'")));
        }
        self.expression()
    }

    /// Precedence climbing over the binary operators; `allow_comma` is false in method
    /// arguments, where a comma separates arguments.
    pub(super) fn binary(&mut self, min_prec: u8, allow_comma: bool) -> PResult<Expr> {
        let start = self.c.pos();
        let mut left = self.array_literal(allow_comma)?;
        loop {
            let save = self.c.pos();
            self.ws()?;
            let Some((op, prec, len)) = self.peek_binary_operator() else {
                self.c.reset(save);
                return Ok(left);
            };
            if prec < min_prec {
                self.c.reset(save);
                return Ok(left);
            }
            let op_pos = self.c.pos();
            self.c.reset(op_pos + len);
            self.ws_nl()?;
            if self.at_statement_end() || matches!(self.c.peek(), Some('|' | ',' | ']')) {
                let op_text = &self.c.source()[op_pos..op_pos + len];
                return Err(self.c.error(format!(
                    "you must provide a value expression after the '{op_text}' operator"
                )));
            }
            let right = self.nest(|p| p.binary(prec + 1, allow_comma))?;
            left = Expr {
                kind: ExprKind::Binary {
                    op,
                    left: Box::new(left),
                    right: Box::new(right),
                },
                span: self.c.span_from(start),
            };
        }
    }

    /// The binary operator at the cursor, its precedence and length (not consumed).
    pub(super) fn peek_binary_operator(&self) -> Option<(BinaryOp, u8, usize)> {
        let c0 = self.c.peek()?;
        let c1 = self.c.peek_nth(1).unwrap_or('\0');
        let simple = match c0 {
            '+' if c1 != '=' && c1 != '+' => Some((BinaryOp::Add, 9)),
            '*' if c1 != '=' && c1 != '>' => Some((BinaryOp::Multiply, 10)),
            '/' if c1 != '=' => Some((BinaryOp::Divide, 10)),
            '%' if c1 != '=' => Some((BinaryOp::Remainder, 10)),
            '.' if c1 == '.' => return Some((BinaryOp::Range, 13, 2)),
            _ => None,
        };
        if let Some((op, prec)) = simple {
            return Some((op, prec, 1));
        }
        if !is_dash(c0) {
            return None;
        }
        let mut probe = self.c.clone();
        let start = probe.pos();
        match probe.scan_dash_operator() {
            Some(DashOperator::Binary(op)) | Some(DashOperator::SplitJoin(op, _)) => {
                Some((op, precedence(op), probe.pos() - start))
            }
            Some(DashOperator::Unary(_)) => None,
            None => {
                // `-=`, `--`, or a dash-word that is no operator (`-foo`: an error later).
                if c1 == '=' || is_dash(c1) || c1.is_alphabetic() {
                    None
                } else {
                    Some((BinaryOp::Subtract, 9, c0.len_utf8()))
                }
            }
        }
    }

    /// `a, b, c` (comma binds tighter than every binary operator).
    pub(super) fn array_literal(&mut self, allow_comma: bool) -> PResult<Expr> {
        let start = self.c.pos();
        let first = self.unary(allow_comma)?;
        if !allow_comma {
            return Ok(first);
        }
        let save = self.c.pos();
        self.ws()?;
        if self.c.peek() != Some(',') {
            self.c.reset(save);
            return Ok(first);
        }
        let mut items = vec![first];
        loop {
            let save = self.c.pos();
            self.ws()?;
            if !self.c.eat(',') {
                self.c.reset(save);
                break;
            }
            self.ws_nl()?;
            if self.at_statement_end() || matches!(self.c.peek(), Some('|' | ',')) {
                return Err(self.c.error("missing expression after ','"));
            }
            items.push(self.unary(allow_comma)?);
        }
        Ok(Expr {
            kind: ExprKind::Array(items),
            span: self.c.span_from(start),
        })
    }

    pub(super) fn unary(&mut self, allow_comma: bool) -> PResult<Expr> {
        self.nest(|p| p.unary_inner(allow_comma))
    }

    pub(super) fn unary_inner(&mut self, allow_comma: bool) -> PResult<Expr> {
        let start = self.c.pos();
        let Some(c0) = self.c.peek() else {
            return Err(self.c.error("missing expression at the end of the input"));
        };
        let c1 = self.c.peek_nth(1).unwrap_or('\0');
        // Prefix operators.
        let prefix = if c0 == '!' {
            self.c.bump();
            Some(UnaryOp::Not)
        } else if c0 == '+' && c1 == '+' {
            self.c.reset(start + 2);
            Some(UnaryOp::PreIncrement)
        } else if is_dash(c0) && is_dash(c1) {
            self.c.bump();
            self.c.bump();
            Some(UnaryOp::PreDecrement)
        } else if c0 == ',' && allow_comma {
            self.c.bump();
            self.ws_nl()?;
            let operand = self.unary(allow_comma)?;
            return Ok(Expr {
                kind: ExprKind::Array(vec![operand]),
                span: self.c.span_from(start),
            });
        } else if is_dash(c0) || c0 == '+' {
            if c1.is_ascii_digit() || c1 == '.' {
                if let Some(n) = self.c.scan_number(true)? {
                    let e = Expr {
                        kind: ExprKind::Number(n),
                        span: self.c.span_from(start),
                    };
                    return self.postfix_incdec(e);
                }
            }
            let mut probe = self.c.clone();
            match probe.scan_dash_operator() {
                Some(DashOperator::Unary(op)) => {
                    self.c.reset(probe.pos());
                    Some(op)
                }
                Some(DashOperator::SplitJoin(_, op)) => {
                    self.c.reset(probe.pos());
                    Some(op)
                }
                Some(DashOperator::Binary(_)) => {
                    return Err(self.c.error(format!(
                        "missing expression before the operator {}",
                        self.c.describe_here()
                    )));
                }
                None => {
                    self.c.bump();
                    Some(if c0 == '+' {
                        UnaryOp::Plus
                    } else {
                        UnaryOp::Negate
                    })
                }
            }
        } else {
            None
        };
        if let Some(op) = prefix {
            self.ws_nl()?;
            if self.at_statement_end() || matches!(self.c.peek(), Some('|' | ',' | ']')) {
                let text = self.c.source()[start..].chars().take(6).collect::<String>();
                return Err(self.c.error(format!(
                    "missing expression after the unary operator '{}'",
                    text.trim()
                )));
            }
            let operand = self.unary(allow_comma)?;
            return Ok(Expr {
                kind: ExprKind::Unary {
                    op,
                    operand: Box::new(operand),
                },
                span: self.c.span_from(start),
            });
        }
        if c0 == '[' {
            return self.type_or_cast(allow_comma);
        }
        let e = self.postfix_primary()?;
        self.postfix_incdec(e)
    }

    /// `$x++` / `$x--`.
    pub(super) fn postfix_incdec(&mut self, e: Expr) -> PResult<Expr> {
        let save = self.c.pos();
        self.ws()?;
        let c0 = self.c.peek().unwrap_or('\0');
        let c1 = self.c.peek_nth(1).unwrap_or('\0');
        let op = if c0 == '+' && c1 == '+' {
            UnaryOp::PostIncrement
        } else if is_dash(c0) && is_dash(c1) {
            UnaryOp::PostDecrement
        } else {
            self.c.reset(save);
            return Ok(e);
        };
        self.c.bump();
        self.c.bump();
        let span = e.span.to(self.c.span_from(save));
        Ok(Expr {
            kind: ExprKind::Unary {
                op,
                operand: Box::new(e),
            },
            span,
        })
    }

    /// `[type]` as a literal (with `::Member`), a cast `[type]expr`, or `[ordered]@{}`.
    pub(super) fn type_or_cast(&mut self, allow_comma: bool) -> PResult<Expr> {
        let start = self.c.pos();
        let t = match self.attribute_or_type()? {
            AttributeOrType::Type(t) => t,
            AttributeOrType::Attribute(a) => {
                return Err(ParseError::new(
                    format!(
                        "the attribute [{}(...)] on an expression is not supported",
                        a.name.full_text()
                    ),
                    a.span,
                ))
            }
        };
        let next = self.c.peek().unwrap_or('\0');
        if next == '.' || (next == ':' && self.c.peek_nth(1) == Some(':')) {
            let lit = Expr {
                kind: ExprKind::TypeLiteral(t),
                span: self.c.span_from(start),
            };
            return self.postfix_ops(lit);
        }
        let save = self.c.pos();
        self.ws()?;
        let n = self.c.peek().unwrap_or('\0');
        let operand_follows = !(self.at_statement_end()
            || matches!(n, ',' | '|' | ']' | '=' | '>')
            || (n == '+' && self.c.peek_nth(1) == Some('='))
            || self
                .peek_binary_operator()
                .is_some_and(|(op, _, _)| op != BinaryOp::Subtract && op != BinaryOp::Add)
            || (is_dash(n) && self.c.peek_nth(1) == Some('='))
            || (n == '.' && self.c.peek_nth(1) == Some('.')));
        if !operand_follows {
            self.c.reset(save);
            return Ok(Expr {
                kind: ExprKind::TypeLiteral(t),
                span: self.c.span_from(start),
            });
        }
        let operand = self.unary(allow_comma)?;
        if t.name.eq_ignore_ascii_case("ordered")
            && t.generic_args.is_empty()
            && t.array_ranks.is_empty()
        {
            if let ExprKind::Hashtable { entries, .. } = operand.kind {
                return Ok(Expr {
                    kind: ExprKind::Hashtable {
                        entries,
                        ordered: true,
                    },
                    span: self.c.span_from(start),
                });
            }
            return Err(ParseError::new(
                "[ordered] can only be applied to a hashtable literal @{...}",
                self.c.span_from(start),
            ));
        }
        Ok(Expr {
            kind: ExprKind::Convert {
                type_name: t,
                operand: Box::new(operand),
            },
            span: self.c.span_from(start),
        })
    }

    /// A primary expression followed by `.member`, `::member`, `[index]`, `.Method(args)`.
    pub(super) fn postfix_primary(&mut self) -> PResult<Expr> {
        let e = self.primary()?;
        self.postfix_ops(e)
    }

    pub(super) fn postfix_ops(&mut self, mut e: Expr) -> PResult<Expr> {
        let start = e.span.start as usize;
        loop {
            let c0 = self.c.peek().unwrap_or('\0');
            let c1 = self.c.peek_nth(1).unwrap_or('\0');
            let is_static = c0 == ':' && c1 == ':';
            if (c0 == '.' && c1 != '.') || is_static {
                self.c.bump();
                if is_static {
                    self.c.bump();
                }
                let member = self.member_name()?;
                if self.c.peek() == Some('(') {
                    let args = self.method_arguments()?;
                    e = Expr {
                        kind: ExprKind::InvokeMember {
                            target: Box::new(e),
                            member: Box::new(member),
                            args,
                            is_static,
                        },
                        span: self.c.span_from(start),
                    };
                } else {
                    e = Expr {
                        kind: ExprKind::Member {
                            target: Box::new(e),
                            member: Box::new(member),
                            is_static,
                        },
                        span: self.c.span_from(start),
                    };
                }
            } else if c0 == '[' {
                let open = self.c.pos();
                self.c.bump();
                self.ws_nl()?;
                if self.c.peek() == Some(']') {
                    return Err(self.c.error("missing the index expression inside '[]'"));
                }
                let index = self.nest(|p| p.expression())?;
                self.ws_nl()?;
                if !self.c.eat(']') {
                    if self.c.at_end() {
                        return Err(self.c.error_at(open, "missing closing ']'"));
                    }
                    return Err(self.c.error(format!(
                        "missing closing ']' of the index; found {}",
                        self.c.describe_here()
                    )));
                }
                e = Expr {
                    kind: ExprKind::Index {
                        target: Box::new(e),
                        index: Box::new(index),
                    },
                    span: self.c.span_from(start),
                };
            } else {
                return Ok(e);
            }
        }
    }

    /// The member after `.`/`::`: a name, a quoted string, a variable or `(expr)`.
    pub(super) fn member_name(&mut self) -> PResult<Expr> {
        let start = self.c.pos();
        let ch = self.c.peek().unwrap_or('\0');
        if is_identifier_start(ch) || ch.is_ascii_digit() {
            while self.c.peek().is_some_and(is_identifier_follow) {
                self.c.bump();
            }
            let value = self.c.source()[start..self.c.pos()].to_string();
            return Ok(Expr {
                kind: ExprKind::String {
                    value,
                    quote: QuoteKind::Bare,
                },
                span: self.c.span_from(start),
            });
        }
        if is_single_quote(ch) || is_double_quote(ch) || ch == '$' || ch == '(' {
            return self.primary();
        }
        Err(self.c.error(format!(
            "missing property name after the member access operator; found {}",
            self.c.describe_here()
        )))
    }

    /// `( arg, arg )` of a method call, cursor at `(`.
    pub(super) fn method_arguments(&mut self) -> PResult<Vec<Expr>> {
        let open = self.c.pos();
        self.c.bump();
        let mut args = Vec::new();
        self.ws_nl()?;
        if self.c.eat(')') {
            return Ok(args);
        }
        loop {
            self.ws_nl()?;
            let arg = self.nest(|p| p.binary(0, false))?;
            args.push(arg);
            self.ws_nl()?;
            if self.c.eat(',') {
                continue;
            }
            if self.c.eat(')') {
                return Ok(args);
            }
            if self.c.at_end() {
                return Err(self
                    .c
                    .error_at(open, "missing closing ')' of the method call"));
            }
            return Err(self.c.error(format!(
                "missing ')' in the method call; found {}",
                self.c.describe_here()
            )));
        }
    }

    pub(super) fn primary(&mut self) -> PResult<Expr> {
        self.nest(|p| p.primary_inner())
    }

    pub(super) fn primary_inner(&mut self) -> PResult<Expr> {
        let start = self.c.pos();
        let Some(c0) = self.c.peek() else {
            return Err(self.c.error("missing expression at the end of the input"));
        };
        let c1 = self.c.peek_nth(1).unwrap_or('\0');
        let kind = match c0 {
            '$' if c1 == '(' => {
                self.c.bump();
                self.c.bump();
                let block = self.statement_list(End::Paren, start)?;
                self.expect(')', "closing ')' of the subexpression $( )")?;
                ExprKind::SubExpression(block)
            }
            '$' => {
                self.c.bump();
                match self.c.scan_variable_name(false)? {
                    Some(v) => ExprKind::Variable(v),
                    None => {
                        return Err(self
                            .c
                            .error_at(start, "'$' is not followed by a variable name"))
                    }
                }
            }
            '@' if c1 == '(' => {
                self.c.bump();
                self.c.bump();
                let block = self.statement_list(End::Paren, start)?;
                self.expect(')', "closing ')' of the array expression @( )")?;
                ExprKind::ArrayExpression(block)
            }
            '@' if c1 == '{' => {
                self.c.bump();
                self.c.bump();
                self.hashtable(start)?
            }
            '@' if is_single_quote(c1) => {
                self.c.bump();
                self.c.bump();
                let value = self.c.scan_here_single(start)?;
                ExprKind::String {
                    value,
                    quote: QuoteKind::HereSingle,
                }
            }
            '@' if is_double_quote(c1) => {
                self.c.bump();
                self.c.bump();
                self.c.expect_here_string_header(start)?;
                let parts = self.expandable_body(start, true)?;
                string_from_parts(parts, QuoteKind::HereDouble)
            }
            '(' => {
                self.c.bump();
                self.ws_nl()?;
                if self.c.peek() == Some(')') {
                    return Err(self.c.error("missing expression inside '( )'"));
                }
                let inner = self.pipeline_statement()?;
                self.ws_nl()?;
                if !self.c.eat(')') {
                    if self.c.at_end() {
                        return Err(self.c.error_at(start, "missing closing ')'"));
                    }
                    return Err(self.c.error(format!(
                        "missing closing ')' in expression; found {}",
                        self.c.describe_here()
                    )));
                }
                ExprKind::Paren(Box::new(inner))
            }
            '{' => ExprKind::ScriptBlock(Box::new(self.script_block()?)),
            c if is_single_quote(c) => {
                self.c.bump();
                let value = self.c.scan_single_quoted(start)?;
                ExprKind::String {
                    value,
                    quote: QuoteKind::Single,
                }
            }
            c if is_double_quote(c) => {
                self.c.bump();
                let parts = self.expandable_body(start, false)?;
                string_from_parts(parts, QuoteKind::Double)
            }
            c if c.is_ascii_digit() || c == '.' => match self.c.scan_number(true)? {
                Some(n) => ExprKind::Number(n),
                None => return Err(self.unexpected()),
            },
            _ => {
                if is_identifier_start(c0) {
                    return Err(self.c.error(format!(
                        "unexpected token {} in expression or statement (a bareword is a command only at the start of a statement; quote it to make a string)",
                        self.c.describe_here()
                    )));
                }
                return Err(self.unexpected());
            }
        };
        Ok(Expr {
            kind,
            span: self.c.span_from(start),
        })
    }

    /// `@{ key = value; ... }` after `@{`.
    pub(super) fn hashtable(&mut self, open: usize) -> PResult<ExprKind> {
        let mut entries = Vec::new();
        loop {
            self.ws_nl()?;
            while self.c.eat(';') {
                self.ws_nl()?;
            }
            if self.c.eat('}') {
                return Ok(ExprKind::Hashtable {
                    entries,
                    ordered: false,
                });
            }
            if self.c.at_end() {
                return Err(self
                    .c
                    .error_at(open, "missing closing '}' of the hash literal @{ }"));
            }
            let key = self.hash_key()?;
            self.ws()?;
            if !self.c.eat('=') {
                return Err(self.c.error(format!(
                    "missing '=' after the key in the hash literal; found {}",
                    self.c.describe_here()
                )));
            }
            self.ws_nl()?;
            if self.at_statement_end() {
                return Err(self
                    .c
                    .error("missing the value of a key in the hash literal"));
            }
            let value = self.statement()?;
            entries.push((key, value));
            self.ws()?;
            if !self.at_statement_end() {
                return Err(self.c.error(format!(
                    "missing statement separator in the hash literal; found {}",
                    self.c.describe_here()
                )));
            }
        }
    }

    /// A hashtable key: a bareword, or a unary expression (`'a b'`, `1`, `$k`, `(expr)`).
    pub(super) fn hash_key(&mut self) -> PResult<Expr> {
        let start = self.c.pos();
        let ch = self.c.peek().unwrap_or('\0');
        if is_identifier_start(ch)
            || (ch.is_ascii_digit() && self.c.clone().scan_number(true).ok().flatten().is_none())
        {
            while self
                .c
                .peek()
                .is_some_and(|c| !force_start_new_token(c) && c != '=')
            {
                self.c.bump();
            }
            let value = self.c.source()[start..self.c.pos()].to_string();
            return Ok(Expr {
                kind: ExprKind::String {
                    value,
                    quote: QuoteKind::Bare,
                },
                span: self.c.span_from(start),
            });
        }
        self.unary(false)
    }

    /// The body of `"..."` (after the quote) or `@"..."@` (after the header line), as parts.
    pub(super) fn expandable_body(&mut self, open: usize, here: bool) -> PResult<Vec<StringPart>> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let body_start = self.c.pos();
        let mut at_line_start = true;
        loop {
            if here
                && at_line_start
                && self.c.peek().is_some_and(is_double_quote)
                && self.c.peek_nth(1) == Some('@')
            {
                let end =
                    crate::lexer::trim_last_newline(self.c.source(), body_start, self.c.pos());
                // The newline before the terminator is not part of the value.
                let cut = self.c.pos() - end;
                remove_trailing(&mut lit, &mut parts, cut);
                self.c.bump();
                self.c.bump();
                break;
            }
            at_line_start = false;
            let at = self.c.pos();
            let Some(ch) = self.c.peek() else {
                let what = if here {
                    "the here-string is missing its terminator: a line starting with \"@"
                } else {
                    "the string is missing its terminator: \""
                };
                return Err(self.c.error_at(open, what));
            };
            if ch == '`' {
                self.c.bump();
                match self.c.bump() {
                    Some(e) => lit.push(backtick_escape(e)),
                    None => {
                        return Err(self
                            .c
                            .error_at(open, "the string is missing its terminator: \""))
                    }
                }
            } else if is_double_quote(ch) && !here {
                self.c.bump();
                if self.c.peek().is_some_and(is_double_quote) {
                    lit.push(self.c.bump().unwrap_or('"'));
                } else {
                    break;
                }
            } else if ch == '$' {
                match self.dollar_in_string(true)? {
                    Some(part) => {
                        if !lit.is_empty() {
                            parts.push(StringPart::Literal(std::mem::take(&mut lit)));
                        }
                        parts.push(part);
                    }
                    None => {
                        self.c.bump();
                        lit.push('$');
                    }
                }
            } else {
                self.c.bump();
                lit.push(ch);
                if is_newline(ch) {
                    if ch == '\r' && self.c.peek() == Some('\n') {
                        self.c.bump();
                        lit.push('\n');
                    }
                    at_line_start = true;
                }
            }
            let _ = at;
        }
        if !lit.is_empty() {
            parts.push(StringPart::Literal(lit));
        }
        Ok(parts)
    }

    /// At `$` inside a string or bareword: `$(...)`, `$name`, `${...}`; `None` (unmoved) when
    /// the `$` is literal.
    pub(super) fn dollar_in_string(&mut self, in_string: bool) -> PResult<Option<StringPart>> {
        let start = self.c.pos();
        let c1 = self.c.peek_nth(1).unwrap_or('\0');
        if c1 == '(' {
            self.c.bump();
            self.c.bump();
            let mut block = self.statement_list(End::Paren, start)?;
            self.expect(')', "closing ')' of the subexpression $( )")?;
            block.span = self.c.span_from(start);
            return Ok(Some(StringPart::SubExpression(block)));
        }
        if is_variable_start(c1) || c1 == '{' {
            self.c.bump();
            if let Some(path) = self.c.scan_variable_name(in_string)? {
                return Ok(Some(StringPart::Variable {
                    path,
                    span: self.c.span_from(start),
                }));
            }
            self.c.reset(start);
        }
        Ok(None)
    }
}

/// The precedence of a binary operator (higher binds tighter).
pub(super) fn precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => 1,
        BinaryOp::BAnd | BinaryOp::BOr | BinaryOp::BXor => 2,
        BinaryOp::Add | BinaryOp::Subtract => 9,
        BinaryOp::Multiply | BinaryOp::Divide | BinaryOp::Remainder => 10,
        BinaryOp::Format => 12,
        BinaryOp::Range => 13,
        BinaryOp::Is
        | BinaryOp::IsNot
        | BinaryOp::As
        | BinaryOp::Join
        | BinaryOp::Shl
        | BinaryOp::Shr => 5,
        BinaryOp::Compare { .. } => 5,
    }
}

/// A string with no expansions is a constant.
pub(super) fn string_from_parts(parts: Vec<StringPart>, quote: QuoteKind) -> ExprKind {
    if parts.iter().all(|p| matches!(p, StringPart::Literal(_))) {
        let value = parts
            .into_iter()
            .map(|p| match p {
                StringPart::Literal(s) => s,
                _ => String::new(),
            })
            .collect();
        ExprKind::String { value, quote }
    } else {
        ExprKind::ExpandableString { parts, quote }
    }
}

/// Drops the last `n` bytes of literal text (the newline before a here-string terminator).
pub(super) fn remove_trailing(lit: &mut String, parts: &mut [StringPart], n: usize) {
    if n == 0 {
        return;
    }
    if lit.len() >= n {
        lit.truncate(lit.len() - n);
    } else if let Some(StringPart::Literal(s)) = parts.last_mut() {
        let keep = s.len().saturating_sub(n);
        s.truncate(keep);
    }
}
