//! The parser: script text → [`ast::Script`], following Windows PowerShell 5.1's grammar.
//!
//! PowerShell parses in two modes (about_Parsing): *expression mode* (operators, typed values,
//! a bareword is an error) and *argument mode* (command arguments: barewords are strings,
//! `-Name` is a parameter, `$x\y` an expandable word). A statement is tried as an expression
//! first; when its first token cannot start one (a letter, `&`, `.`, `7z`), it is a command.
//! Operator precedence, lowest first: `-and -or -xor`, `-band -bor -bxor`, comparisons
//! (including `-replace -split -join -is -as -shl -shr -contains -in`), `+ -`, `* / %`, `-f`,
//! `..`; operands are comma lists of unary expressions (so `1,2 + 3` is `(1,2) + 3`).
//!
//! The parser never panics and never guesses: anything it cannot read is a [`ParseError`]
//! with its position. Scripts are bounded to [`ast::MAX_SCRIPT_BYTES`] and nesting to
//! [`ast::MAX_NESTING`].

use crate::ast::*;
use crate::lexer::{
    backtick_escape, force_start_new_token, is_dash, is_double_quote, is_identifier_follow,
    is_identifier_start, is_newline, is_single_quote, is_variable_start, is_whitespace, Cursor,
    DashOperator,
};
use crate::span::ParseError;

type PResult<T> = Result<T, ParseError>;

/// Parses a whole script. Errors name the first problem with its position; never panics.
pub fn parse(source: &str) -> Result<Script, ParseError> {
    if source.len() > MAX_SCRIPT_BYTES {
        return Err(ParseError::new(
            format!(
                "the script is {} bytes; at most {} are accepted",
                source.len(),
                MAX_SCRIPT_BYTES
            ),
            Span::default(),
        ));
    }
    // The parser recurses once per nesting level; a thread of its own gives it a stack that
    // holds MAX_NESTING levels in any build profile, whatever stack the caller runs on.
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("powershell-parser".into())
            .stack_size(PARSER_STACK_BYTES)
            .spawn_scoped(scope, || {
                Parser {
                    c: Cursor::new(source),
                    depth: 0,
                }
                .script()
            });
        match worker {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(e) => Err(ParseError::new(
                format!("cannot start the parser thread: {e}"),
                Span::default(),
            )),
        }
    })
}

/// Stack of the parser thread: MAX_NESTING levels need a few MiB in an unoptimised build;
/// the memory is only reserved, and touched as deep as a script actually nests.
const PARSER_STACK_BYTES: usize = 64 << 20;

/// What ends a statement list.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Eof,
    Brace,
    Paren,
}

struct Parser<'a> {
    c: Cursor<'a>,
    depth: usize,
}

/// Words that start a statement (about_Reserved_Words), checked case-insensitively.
const STATEMENT_KEYWORDS: &[&str] = &[
    "if", "while", "do", "for", "foreach", "switch", "try", "trap", "throw", "return", "exit",
    "break", "continue", "function", "filter",
];
/// Reserved words this engine does not read; a clear error rather than a misparse.
const UNSUPPORTED_KEYWORDS: &[&str] = &[
    "class",
    "enum",
    "using",
    "data",
    "workflow",
    "dynamicparam",
    "configuration",
    "define",
    "from",
    "var",
];
/// Keywords that only continue a statement; alone they are an error.
const CONTINUATION_KEYWORDS: &[&str] =
    &["else", "elseif", "catch", "finally", "until", "in", "param"];

impl<'a> Parser<'a> {
    // ---- helpers -------------------------------------------------------------------------

    fn nest<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        if self.depth >= MAX_NESTING {
            return Err(self
                .c
                .error(format!("the script nests deeper than {MAX_NESTING} levels")));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn ws(&mut self) -> PResult<bool> {
        self.c.skip_trivia(false)
    }

    fn ws_nl(&mut self) -> PResult<bool> {
        self.c.skip_trivia(true)
    }

    fn expect(&mut self, ch: char, what: &str) -> PResult<()> {
        if self.c.eat(ch) {
            Ok(())
        } else {
            Err(self
                .c
                .error(format!("missing {what}; found {}", self.c.describe_here())))
        }
    }

    fn unexpected(&self) -> ParseError {
        self.c.error(format!(
            "unexpected token {} in expression or statement",
            self.c.describe_here()
        ))
    }

    /// The identifier at the cursor when it is a whole word in argument mode (followed by a
    /// character that ends a token), lower-cased; the cursor does not move.
    fn peek_word(&self) -> Option<(String, usize)> {
        let rest = self.c.rest();
        let mut chars = rest.char_indices();
        let (_, first) = chars.next()?;
        if !is_identifier_start(first) {
            return None;
        }
        let mut end = rest.len();
        for (i, ch) in chars {
            if !is_identifier_follow(ch) {
                end = i;
                break;
            }
        }
        let next = rest[end..].chars().next().unwrap_or('\0');
        if !force_start_new_token(next) {
            return None;
        }
        Some((rest[..end].to_ascii_lowercase(), end))
    }

    fn at_word(&self, word: &str) -> bool {
        self.peek_word().is_some_and(|(w, _)| w == word)
    }

    fn eat_word(&mut self, word: &str) -> bool {
        match self.peek_word() {
            Some((w, len)) if w == word => {
                self.c.reset(self.c.pos() + len);
                true
            }
            _ => false,
        }
    }

    /// At a character that ends a statement (`;`, newline, `)`, `}`, end of input)?
    fn at_statement_end(&self) -> bool {
        match self.c.peek() {
            None => true,
            Some(ch) => matches!(ch, ';' | ')' | '}') || is_newline(ch),
        }
    }

    // ---- script, blocks, statement lists --------------------------------------------------

    fn script(&mut self) -> PResult<Script> {
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
    fn param_block_opt(&mut self) -> PResult<Option<ParamBlock>> {
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
    fn parameter_list(&mut self) -> PResult<Vec<Parameter>> {
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
    fn body(&mut self, end: End, open: usize) -> PResult<Body> {
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

    fn at_named_block(&self, word: &str) -> bool {
        if !self.at_word(word) {
            return false;
        }
        let mut probe = self.c.clone();
        probe.reset(self.c.pos() + word.len());
        probe.skip_trivia(true).is_ok() && probe.peek() == Some('{')
    }

    fn at_end_of(&self, end: End) -> bool {
        match end {
            End::Eof => self.c.at_end(),
            End::Brace => self.c.peek() == Some('}'),
            End::Paren => self.c.peek() == Some(')'),
        }
    }

    /// Statements up to (not including) the end; `open` is where the bracket opened (for errors).
    fn statement_list(&mut self, end: End, open: usize) -> PResult<Block> {
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
    fn brace_block(&mut self) -> PResult<Block> {
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
    fn script_block(&mut self) -> PResult<ScriptBlock> {
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

    // ---- statements ----------------------------------------------------------------------

    fn statement(&mut self) -> PResult<Statement> {
        self.nest(|p| p.statement_inner())
    }

    fn statement_inner(&mut self) -> PResult<Statement> {
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

    fn keyword_statement(
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
    fn paren_condition(&mut self, keyword: &str) -> PResult<Statement> {
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

    fn if_statement(&mut self) -> PResult<StatementKind> {
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

    fn for_statement(&mut self, label: Option<String>) -> PResult<StatementKind> {
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

    fn foreach_statement(&mut self, label: Option<String>) -> PResult<StatementKind> {
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

    fn switch_statement(&mut self, label: Option<String>) -> PResult<StatementKind> {
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

    fn try_statement(&mut self) -> PResult<StatementKind> {
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

    fn function_statement(&mut self, is_filter: bool, kw_start: usize) -> PResult<StatementKind> {
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

    // ---- pipelines and commands ----------------------------------------------------------

    /// A pipeline, or an assignment when an expression is followed by `=`, `+=`, ….
    fn pipeline_statement(&mut self) -> PResult<Statement> {
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

    fn at_call_operator(&self) -> bool {
        matches!(self.c.peek(), Some('&' | '.'))
    }

    fn assignment_operator(&mut self) -> Option<AssignOp> {
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
    fn at_expression_start(&mut self) -> PResult<bool> {
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
    fn command(&mut self) -> PResult<Command> {
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

    fn command_name(&mut self, invocation: Invocation) -> PResult<CommandName> {
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
    fn parameter(&mut self) -> PResult<Option<CommandArg>> {
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
    fn command_argument(&mut self) -> PResult<Expr> {
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
    fn command_argument_single(&mut self) -> PResult<Expr> {
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
    fn command_element(&mut self) -> PResult<Expr> {
        self.nest(|p| p.command_element_inner())
    }

    fn command_element_inner(&mut self) -> PResult<Expr> {
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
    fn bareword(&mut self) -> PResult<Expr> {
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
    fn generic_token(&mut self) -> PResult<(Vec<StringPart>, String)> {
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
    fn redirection(&mut self) -> PResult<Option<Redirection>> {
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

    fn redirections(&mut self) -> PResult<Vec<Redirection>> {
        let mut out = Vec::new();
        loop {
            self.ws()?;
            match self.redirection()? {
                Some(r) => out.push(r),
                None => return Ok(out),
            }
        }
    }

    // ---- expressions ---------------------------------------------------------------------

    /// A full expression (binary operators, comma lists) in expression mode.
    fn expression(&mut self) -> PResult<Expr> {
        self.binary(0, true)
    }

    fn expression_required(&mut self, after: &str) -> PResult<Expr> {
        if self.at_statement_end() || self.c.peek() == Some(',') {
            return Err(self.c.error(format!("missing expression after '{after}'")));
        }
        self.expression()
    }

    /// Precedence climbing over the binary operators; `allow_comma` is false in method
    /// arguments, where a comma separates arguments.
    fn binary(&mut self, min_prec: u8, allow_comma: bool) -> PResult<Expr> {
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
    fn peek_binary_operator(&self) -> Option<(BinaryOp, u8, usize)> {
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
    fn array_literal(&mut self, allow_comma: bool) -> PResult<Expr> {
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

    fn unary(&mut self, allow_comma: bool) -> PResult<Expr> {
        self.nest(|p| p.unary_inner(allow_comma))
    }

    fn unary_inner(&mut self, allow_comma: bool) -> PResult<Expr> {
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
    fn postfix_incdec(&mut self, e: Expr) -> PResult<Expr> {
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
    fn type_or_cast(&mut self, allow_comma: bool) -> PResult<Expr> {
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
    fn postfix_primary(&mut self) -> PResult<Expr> {
        let e = self.primary()?;
        self.postfix_ops(e)
    }

    fn postfix_ops(&mut self, mut e: Expr) -> PResult<Expr> {
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
    fn member_name(&mut self) -> PResult<Expr> {
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
    fn method_arguments(&mut self) -> PResult<Vec<Expr>> {
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

    fn primary(&mut self) -> PResult<Expr> {
        self.nest(|p| p.primary_inner())
    }

    fn primary_inner(&mut self) -> PResult<Expr> {
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
    fn hashtable(&mut self, open: usize) -> PResult<ExprKind> {
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
    fn hash_key(&mut self) -> PResult<Expr> {
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
    fn expandable_body(&mut self, open: usize, here: bool) -> PResult<Vec<StringPart>> {
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
    fn dollar_in_string(&mut self, in_string: bool) -> PResult<Option<StringPart>> {
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

    // ---- types and attributes ------------------------------------------------------------

    /// `[Name]`, `[Name[]]`, `[Ns.List[string]]` or `[Name(args)]`, cursor at `[`.
    fn attribute_or_type(&mut self) -> PResult<AttributeOrType> {
        let open = self.c.pos();
        self.c.bump();
        self.skip_spaces();
        let name = self.type_name_inner()?;
        self.skip_spaces();
        if self.c.peek() == Some('(') {
            let (positional, named) = self.attribute_arguments()?;
            self.skip_spaces();
            if !self.c.eat(']') {
                return Err(self.c.error("missing closing ']' of the attribute"));
            }
            return Ok(AttributeOrType::Attribute(Attribute {
                name,
                positional,
                named,
                span: self.c.span_from(open),
            }));
        }
        if !self.c.eat(']') {
            if self.c.at_end() {
                return Err(self
                    .c
                    .error_at(open, "missing closing ']' of the type name"));
            }
            return Err(self.c.error(format!(
                "unexpected {} in the type name",
                self.c.describe_here()
            )));
        }
        let mut t = name;
        t.span = self.c.span_from(open);
        Ok(AttributeOrType::Type(t))
    }

    /// `[T]` where only a type is allowed (catch, trap).
    fn type_in_brackets(&mut self) -> PResult<TypeName> {
        match self.attribute_or_type()? {
            AttributeOrType::Type(t) => Ok(t),
            AttributeOrType::Attribute(a) => Err(ParseError::new(
                "expected a type name, found an attribute",
                a.span,
            )),
        }
    }

    fn skip_spaces(&mut self) {
        while self.c.peek().is_some_and(is_whitespace) {
            self.c.bump();
        }
    }

    /// A type name inside brackets: dotted name, generic arguments, array suffixes.
    fn type_name_inner(&mut self) -> PResult<TypeName> {
        self.nest(|p| {
            let start = p.c.pos();
            while p
                .c
                .peek()
                .is_some_and(|c| is_identifier_follow(c) || matches!(c, '.' | '`' | '+'))
            {
                p.c.bump();
            }
            let name = p.c.source()[start..p.c.pos()].to_string();
            if name.is_empty() || name.starts_with('.') || name.ends_with('.') {
                return Err(p
                    .c
                    .error(format!("missing type name; found {}", p.c.describe_here())));
            }
            let mut generic_args = Vec::new();
            let mut array_ranks = Vec::new();
            loop {
                if p.c.peek() != Some('[') {
                    break;
                }
                // `[]`/`[,]` array suffix, or generic arguments.
                let save = p.c.pos();
                p.c.bump();
                p.skip_spaces();
                let mut rank = 1;
                while p.c.eat(',') {
                    rank += 1;
                    p.skip_spaces();
                }
                if p.c.eat(']') {
                    array_ranks.push(rank);
                    continue;
                }
                p.c.reset(save);
                if !generic_args.is_empty() || !array_ranks.is_empty() {
                    return Err(p.c.error("unexpected '[' in the type name"));
                }
                p.c.bump();
                loop {
                    p.skip_spaces();
                    let arg = if p.c.peek() == Some('[') {
                        let open = p.c.pos();
                        p.c.bump();
                        p.skip_spaces();
                        let t = p.type_name_inner()?;
                        p.skip_spaces();
                        if !p.c.eat(']') {
                            return Err(p
                                .c
                                .error_at(open, "missing closing ']' of a generic type argument"));
                        }
                        t
                    } else {
                        p.type_name_inner()?
                    };
                    generic_args.push(arg);
                    p.skip_spaces();
                    if p.c.eat(',') {
                        continue;
                    }
                    if p.c.eat(']') {
                        break;
                    }
                    return Err(p.c.error(format!(
                        "missing ']' after the generic type arguments; found {}",
                        p.c.describe_here()
                    )));
                }
            }
            Ok(TypeName {
                name,
                generic_args,
                array_ranks,
                span: p.c.span_from(start),
            })
        })
    }

    /// `(positional, Name = value, Flag)` of an attribute, cursor at `(`.
    #[allow(clippy::type_complexity)]
    fn attribute_arguments(&mut self) -> PResult<(Vec<Expr>, Vec<(String, Option<Expr>)>)> {
        let open = self.c.pos();
        self.c.bump();
        let mut positional = Vec::new();
        let mut named = Vec::new();
        self.ws_nl()?;
        if self.c.eat(')') {
            return Ok((positional, named));
        }
        loop {
            self.ws_nl()?;
            if let Some((word, len)) = self.peek_word_simple() {
                let mut probe = self.c.clone();
                probe.reset(self.c.pos() + len);
                let _ = probe.skip_trivia(true);
                let next = probe.peek();
                if next == Some('=') || next == Some(',') || next == Some(')') {
                    self.c.reset(self.c.pos() + len);
                    self.ws_nl()?;
                    if self.c.eat('=') {
                        self.ws_nl()?;
                        let value = self.nest(|p| p.binary(0, false))?;
                        named.push((word, Some(value)));
                    } else {
                        named.push((word, None));
                    }
                } else {
                    positional.push(self.nest(|p| p.binary(0, false))?);
                }
            } else {
                positional.push(self.nest(|p| p.binary(0, false))?);
            }
            self.ws_nl()?;
            if self.c.eat(',') {
                continue;
            }
            if self.c.eat(')') {
                return Ok((positional, named));
            }
            if self.c.at_end() {
                return Err(self
                    .c
                    .error_at(open, "missing closing ')' of the attribute arguments"));
            }
            return Err(self.c.error(format!(
                "missing ')' in the attribute arguments; found {}",
                self.c.describe_here()
            )));
        }
    }

    /// An identifier at the cursor (any following character), as written.
    fn peek_word_simple(&self) -> Option<(String, usize)> {
        let rest = self.c.rest();
        let first = rest.chars().next()?;
        if !is_identifier_start(first) {
            return None;
        }
        let len = rest
            .char_indices()
            .find(|(_, c)| !is_identifier_follow(*c))
            .map_or(rest.len(), |(i, _)| i);
        Some((rest[..len].to_string(), len))
    }
}

/// Statements that end with a block of their own.
fn ends_with_block(kind: &StatementKind) -> bool {
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

/// The precedence of a binary operator (higher binds tighter).
fn precedence(op: BinaryOp) -> u8 {
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
fn string_from_parts(parts: Vec<StringPart>, quote: QuoteKind) -> ExprKind {
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
fn remove_trailing(lit: &mut String, parts: &mut [StringPart], n: usize) {
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

/// PowerShell only assigns to variables, members, indexes, typed variables and lists of them.
fn check_assignable(e: &Expr, op: AssignOp) -> PResult<()> {
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
