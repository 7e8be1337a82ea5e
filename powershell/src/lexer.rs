//! The character level of PowerShell's syntax: a [`Cursor`] over the script and the token pieces
//! that do not depend on the grammar — character classes, whitespace/comments/line continuation,
//! numeric literals, variable names, verbatim strings, backtick escapes and operator words.
//!
//! PowerShell has no context-free token stream: whether `-eq` is an operator or a parameter, or
//! `7z` a number or a command, depends on the parsing mode (about_Parsing), so the parser
//! ([`crate::parser`]) drives the cursor and calls these scanners where its mode allows them.

use crate::ast::{BinaryOp, Case, CompareOp, Number, Span, UnaryOp, VariablePath};
use crate::span::ParseError;

/// `-` and the typographic dashes PowerShell accepts in its place.
pub fn is_dash(c: char) -> bool {
    matches!(c, '-' | '\u{2013}' | '\u{2014}' | '\u{2015}')
}

/// `'` and the typographic single quotes PowerShell accepts in its place.
pub fn is_single_quote(c: char) -> bool {
    matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}')
}

/// `"` and the typographic double quotes PowerShell accepts in its place.
pub fn is_double_quote(c: char) -> bool {
    matches!(c, '"' | '\u{201C}' | '\u{201D}' | '\u{201E}')
}

/// Whitespace that separates tokens (newlines are not whitespace: they end statements).
pub fn is_whitespace(c: char) -> bool {
    match c {
        ' ' | '\t' | '\u{000B}' | '\u{000C}' | '\u{00A0}' | '\u{0085}' => true,
        c if (c as u32) < 128 => false,
        c => c.is_whitespace() && c != '\u{2028}' && c != '\u{2029}',
    }
}

pub fn is_newline(c: char) -> bool {
    c == '\n' || c == '\r'
}

/// Characters that always end a bareword, in either mode: whitespace, newlines, NUL and
/// `& ( ) , ; { | }` (so `a#b` is one word but `a{` is two).
pub fn force_start_new_token(c: char) -> bool {
    matches!(c, '\0' | '&' | '(' | ')' | ',' | ';' | '{' | '|' | '}')
        || is_newline(c)
        || is_whitespace(c)
}

/// Characters that may end a number in expression mode (the first character of an operator).
fn force_start_new_token_after_number(c: char) -> bool {
    matches!(
        c,
        '!' | '#' | '%' | '*' | '+' | '-' | '.' | '/' | '<' | '=' | '>' | ']'
    ) || is_dash(c)
}

/// A character that may start an unbraced variable name (`$_`, `$1`, `$?`, `$^`, `$$`, `$env:x`).
pub fn is_variable_start(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '_' | '?' | '^' | '$' | ':')
        || (!c.is_ascii() && c.is_alphanumeric())
}

/// A character that continues an unbraced variable name.
fn is_variable_follow(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '?' || (!c.is_ascii() && c.is_alphanumeric())
}

pub fn is_identifier_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || (!c.is_ascii() && c.is_alphabetic())
}

pub fn is_identifier_follow(c: char) -> bool {
    is_identifier_start(c) || c.is_ascii_digit() || (!c.is_ascii() && c.is_alphanumeric())
}

/// The character a backtick escape stands for (about_Special_Characters, Windows PowerShell 5.1:
/// `` `0 `a `b `f `n `r `t `v ``; any other character stands for itself — `` `e `` and `` `u{} ``
/// are PowerShell 6+ only).
pub fn backtick_escape(c: char) -> char {
    match c {
        '0' => '\0',
        'a' => '\u{7}',
        'b' => '\u{8}',
        'f' => '\u{C}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\u{B}',
        other => other,
    }
}

/// A position in the script plus the table that turns byte offsets into line and column.
#[derive(Clone)]
pub struct Cursor<'a> {
    src: &'a str,
    pos: usize,
    lines: std::rc::Rc<LineIndex>,
}

/// Byte offset → line and column in O(log n + 64), even for a 1 MiB single-line script.
struct LineIndex {
    line_starts: Vec<usize>,
    /// Characters before each 64-byte block (UTF-8 lead bytes counted).
    chars_before_block: Vec<u32>,
}

const BLOCK: usize = 64;

impl LineIndex {
    fn new(src: &str) -> LineIndex {
        let mut line_starts = vec![0];
        let mut chars_before_block = Vec::with_capacity(src.len() / BLOCK + 1);
        let mut chars = 0u32;
        for (i, b) in src.bytes().enumerate() {
            if i % BLOCK == 0 {
                chars_before_block.push(chars);
            }
            if b == b'\n' {
                line_starts.push(i + 1);
            }
            if b & 0xC0 != 0x80 {
                chars += 1;
            }
        }
        chars_before_block.push(chars);
        LineIndex {
            line_starts,
            chars_before_block,
        }
    }

    /// Characters in `src[..offset]`.
    fn chars_before(&self, src: &str, offset: usize) -> u32 {
        let block = offset / BLOCK;
        let base = self.chars_before_block.get(block).copied().unwrap_or(0);
        let rest = &src.as_bytes()[block * BLOCK..offset];
        base + rest.iter().filter(|b| *b & 0xC0 != 0x80).count() as u32
    }
}

impl<'a> Cursor<'a> {
    pub fn new(src: &'a str) -> Cursor<'a> {
        Cursor {
            src,
            pos: 0,
            lines: std::rc::Rc::new(LineIndex::new(src)),
        }
    }

    pub fn source(&self) -> &'a str {
        self.src
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Moves back (or forward) to a position obtained from [`Cursor::pos`].
    pub fn reset(&mut self, pos: usize) {
        self.pos = pos;
    }

    pub fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    pub fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// The character `n` characters ahead (0 = [`Cursor::peek`]).
    pub fn peek_nth(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    /// The next character, or NUL at the end (PowerShell's own convention), for matching.
    pub fn peek_or_nul(&self) -> char {
        self.peek().unwrap_or('\0')
    }

    pub fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    pub fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// Consumes `word` when the text continues with it, ASCII case-insensitively.
    pub fn eat_ignore_case(&mut self, word: &str) -> bool {
        let rest = self.rest().as_bytes();
        if rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word.as_bytes()) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    /// Line and column (1-based, column in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.src.len());
        let starts = &self.lines.line_starts;
        let line = match starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let col = self.lines.chars_before(self.src, offset)
            - self.lines.chars_before(self.src, starts[line]);
        (line as u32 + 1, col + 1)
    }

    pub fn span(&self, start: usize, end: usize) -> Span {
        let (line, col) = self.line_col(start);
        Span {
            start: start as u32,
            end: end as u32,
            line,
            col,
        }
    }

    /// The span from `start` to the current position.
    pub fn span_from(&self, start: usize) -> Span {
        self.span(start, self.pos)
    }

    pub fn error_at(&self, start: usize, message: impl Into<String>) -> ParseError {
        let end = (start
            + self.src[start.min(self.src.len())..]
                .chars()
                .next()
                .map_or(0, char::len_utf8))
        .min(self.src.len());
        ParseError::new(message, self.span(start, end))
    }

    /// An error at the current position.
    pub fn error(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.pos, message)
    }

    /// A short quote of the text at the current position for messages (`'foo'`, or `end of input`).
    pub fn describe_here(&self) -> String {
        match self.peek() {
            None => "end of input".into(),
            Some(c) if is_newline(c) => "end of line".into(),
            Some(_) => {
                let word: String = self
                    .rest()
                    .chars()
                    .take_while(|c| !is_newline(*c))
                    .take(20)
                    .collect();
                let word = word.split(char::is_whitespace).next().unwrap_or("");
                format!("'{word}'")
            }
        }
    }

    /// Skips whitespace, comments and line continuations (backtick-newline); with `newlines`
    /// also newlines and `;`-free blank lines. Returns whether a newline was skipped.
    pub fn skip_trivia(&mut self, newlines: bool) -> Result<bool, ParseError> {
        let mut saw_newline = false;
        loop {
            let Some(c) = self.peek() else {
                return Ok(saw_newline);
            };
            if is_whitespace(c) {
                self.bump();
            } else if c == '`'
                && self
                    .peek_nth(1)
                    .is_some_and(|n| is_newline(n) || is_whitespace(n))
            {
                // Line continuation (and, as PowerShell does, a backtick before plain whitespace).
                self.bump();
                if self.eat('\r') {
                    self.eat('\n');
                } else if !self.eat('\n') {
                    self.bump();
                }
            } else if c == '#' {
                while self.peek().is_some_and(|c| !is_newline(c)) {
                    self.bump();
                }
            } else if c == '<' && self.peek_nth(1) == Some('#') {
                self.skip_block_comment()?;
            } else if newlines && is_newline(c) {
                self.bump();
                saw_newline = true;
            } else {
                return Ok(saw_newline);
            }
        }
    }

    fn skip_block_comment(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        self.pos += 2;
        match self.rest().find("#>") {
            Some(i) => {
                self.pos += i + 2;
                Ok(())
            }
            None => Err(self.error_at(start, "missing the end of the block comment: '#>'")),
        }
    }

    /// Skips a newline (`\n`, `\r\n` or `\r`) if one is next.
    pub fn eat_newline(&mut self) -> bool {
        if self.eat('\r') {
            self.eat('\n');
            true
        } else {
            self.eat('\n')
        }
    }

    /// Scans a numeric literal at the cursor (about_Numeric_Literals). `expression_mode` decides
    /// which characters may follow it. Returns `None`, with the cursor unmoved, when the text is
    /// not a number token (then, in argument mode, it is a bareword such as `7z` or `1.2.3`).
    /// A sign (`-`, `+`) is accepted in front. A well-formed number whose value cannot be
    /// represented is an error.
    pub fn scan_number(&mut self, expression_mode: bool) -> Result<Option<Number>, ParseError> {
        let start = self.pos;
        match self.scan_number_inner(expression_mode) {
            Ok(Some(n)) => Ok(Some(n)),
            Ok(None) => {
                self.pos = start;
                Ok(None)
            }
            Err(message) => {
                let end = self.pos;
                self.pos = start;
                if expression_mode {
                    Err(ParseError::new(message, self.span(start, end)))
                } else {
                    Ok(None)
                }
            }
        }
    }

    fn scan_number_inner(&mut self, expression_mode: bool) -> Result<Option<Number>, String> {
        let start = self.pos;
        let mut negative = false;
        if let Some(c) = self.peek() {
            if is_dash(c) || c == '+' {
                negative = is_dash(c);
                self.bump();
            }
        }
        let digits_start = self.pos;
        let mut hex = false;
        let mut real = false;
        let mut digits = String::new();
        let mut not_number = false;
        if self.rest().starts_with("0x") || self.rest().starts_with("0X") {
            self.pos += 2;
            while let Some(c) = self.peek().filter(char::is_ascii_hexdigit) {
                digits.push(c);
                self.bump();
            }
            hex = true;
            if digits.is_empty() {
                not_number = true;
            }
        } else {
            while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                digits.push(c);
                self.bump();
            }
            if self.peek() == Some('.') && self.peek_nth(1) != Some('.') {
                let after_dot = self.peek_nth(1);
                if digits.is_empty() && !after_dot.is_some_and(|c| c.is_ascii_digit()) {
                    return Ok(None);
                }
                self.bump();
                digits.push('.');
                real = true;
                while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                    digits.push(c);
                    self.bump();
                }
            }
            if digits.is_empty() {
                return Ok(None);
            }
            if matches!(self.peek(), Some('e' | 'E')) {
                let save = self.pos;
                self.bump();
                let mut exp = String::from("e");
                if let Some(c) = self.peek().filter(|c| *c == '+' || is_dash(*c)) {
                    exp.push(if c == '+' { '+' } else { '-' });
                    self.bump();
                }
                let before = exp.len();
                while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                    exp.push(c);
                    self.bump();
                }
                if exp.len() == before {
                    self.pos = save;
                    not_number = true;
                } else {
                    digits.push_str(&exp);
                    real = true;
                }
            }
        }
        let _ = digits_start;
        // Type suffix: Windows PowerShell 5.1 knows `l` (long) and `d` (decimal).
        let mut long_suffix = false;
        let mut decimal_suffix = false;
        match self.peek() {
            Some('l' | 'L') => {
                long_suffix = true;
                self.bump();
            }
            Some('d' | 'D') if !hex => {
                decimal_suffix = true;
                self.bump();
            }
            _ => {}
        }
        let mut multiplier: i64 = 1;
        if let Some(c) = self.peek() {
            let m = match c.to_ascii_lowercase() {
                'k' => Some(1i64 << 10),
                'm' => Some(1 << 20),
                'g' => Some(1 << 30),
                't' => Some(1 << 40),
                'p' => Some(1 << 50),
                _ => None,
            };
            if let Some(m) = m {
                if matches!(self.peek_nth(1), Some('b' | 'B')) {
                    self.pos += 2;
                    multiplier = m;
                } else {
                    not_number = true;
                }
            }
        }
        let next = self.peek_or_nul();
        if !(force_start_new_token(next)
            || expression_mode && force_start_new_token_after_number(next))
        {
            not_number = true;
        }
        if not_number {
            return Ok(None);
        }
        let text = &self.src[start..self.pos];
        let bad = || format!("bad numeric constant: {text}");
        if hex {
            let value = u128::from_str_radix(&digits, 16).map_err(|_| bad())?;
            let (value, is_long) = if value <= u32::MAX as u128 && !long_suffix {
                (value as u32 as i32 as i64, false)
            } else if value <= u64::MAX as u128 {
                (value as u64 as i64, true)
            } else {
                return Err(bad());
            };
            let value = value.checked_mul(multiplier).ok_or_else(bad)?;
            let value = if negative {
                value.checked_neg().ok_or_else(bad)?
            } else {
                value
            };
            return Ok(Some(if is_long || i32::try_from(value).is_err() {
                Number::Long(value)
            } else {
                Number::Int(value as i32)
            }));
        }
        if decimal_suffix {
            return decimal_from_text(&digits, negative, multiplier)
                .map(Some)
                .ok_or_else(bad);
        }
        if real {
            let value: f64 = digits.parse().map_err(|_| bad())?;
            let value = value * multiplier as f64;
            let value = if negative { -value } else { value };
            if long_suffix {
                let rounded = value.round_ties_even();
                if !(rounded >= i64::MIN as f64 && rounded < i64::MAX as f64) {
                    return Err(bad());
                }
                return Ok(Some(Number::Long(rounded as i64)));
            }
            return Ok(Some(Number::Double(value)));
        }
        // An integer: the smallest of int, long, decimal, double that holds it.
        let magnitude: Option<i128> = digits
            .parse::<i128>()
            .ok()
            .and_then(|v| v.checked_mul(multiplier as i128));
        let value = magnitude.map(|m| if negative { -m } else { m });
        match value {
            Some(v) if long_suffix => i64::try_from(v)
                .map(|v| Some(Number::Long(v)))
                .map_err(|_| bad()),
            Some(v) if i32::try_from(v).is_ok() => Ok(Some(Number::Int(v as i32))),
            Some(v) if i64::try_from(v).is_ok() => Ok(Some(Number::Long(v as i64))),
            Some(v) if v.unsigned_abs() < 79_228_162_514_264_337_593_543_950_336u128 => {
                Ok(Some(Number::Decimal {
                    mantissa: v,
                    scale: 0,
                }))
            }
            _ if long_suffix => Err(bad()),
            _ => {
                let value: f64 = digits.parse().map_err(|_| bad())?;
                let value = value * multiplier as f64;
                Ok(Some(Number::Double(if negative { -value } else { value })))
            }
        }
    }

    /// Scans a variable name after `$` (or `@` for splatting), braced or not, per the rules
    /// of about_Variables: `$name`, `$scope:name`, `$env:NAME`, `${any text}`, `$$`, `$?`, `$^`.
    /// Returns `None`, cursor unmoved, when no name follows. `$a:` without a name is an error.
    pub fn scan_variable_name(
        &mut self,
        in_string: bool,
    ) -> Result<Option<VariablePath>, ParseError> {
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        if c == '{' {
            self.bump();
            let mut name = String::new();
            loop {
                match self.bump() {
                    None => {
                        return Err(
                            self.error_at(start, "missing '}' of the variable reference ${...}")
                        )
                    }
                    Some('}') => break,
                    Some('`') => match self.bump() {
                        None => {
                            return Err(self
                                .error_at(start, "missing '}' of the variable reference ${...}"))
                        }
                        Some(e) => name.push(backtick_escape(e)),
                    },
                    Some('{') => {
                        return Err(self.error_at(
                            self.pos - 1,
                            "'{' in a variable name ${...} must be escaped with a backtick",
                        ))
                    }
                    Some(q) if in_string && is_double_quote(q) => {
                        // `""` stands for one quote inside a "..." string.
                        if self.peek().is_some_and(is_double_quote) {
                            self.bump();
                        }
                        name.push(q);
                    }
                    Some(other) => name.push(other),
                }
            }
            if name.is_empty() {
                return Err(ParseError::new(
                    "empty variable reference ${}",
                    self.span_from(start),
                ));
            }
            let path = split_qualifier(&name, true);
            if path.name.is_empty() {
                return Err(ParseError::new(
                    format!("variable reference ${{{name}}} has no name after the ':'"),
                    self.span_from(start),
                ));
            }
            return Ok(Some(path));
        }
        if !is_variable_start(c) {
            return Ok(None);
        }
        if matches!(c, '$' | '?' | '^') {
            self.bump();
            return Ok(Some(VariablePath {
                qualifier: None,
                name: c.to_string(),
                braced: false,
            }));
        }
        let mut name = String::new();
        while let Some(c) = self.peek() {
            // `:` joins a scope or drive to the name (`$env:Path`), `::` does not (`$t::M`).
            if is_variable_follow(c) || (c == ':' && self.peek_nth(1) != Some(':')) {
                name.push(c);
                self.bump();
            } else {
                break;
            }
        }
        let path = split_qualifier(&name, false);
        if path.name.is_empty() {
            return Err(ParseError::new(
                format!(
                    "variable reference ${name} is not valid: ':' was not followed by a valid variable name character (use ${{...}} to delimit the name)"
                ),
                self.span_from(start.saturating_sub(1)),
            ));
        }
        Ok(Some(path))
    }

    /// Scans the body of a verbatim string after its opening quote: `''` stands for `'`
    /// (about_Quoting_Rules). The closing quote is consumed.
    pub fn scan_single_quoted(&mut self, open: usize) -> Result<String, ParseError> {
        let mut value = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error_at(open, "the string is missing its terminator: '")),
                Some(c) if is_single_quote(c) => {
                    if self.peek().is_some_and(is_single_quote) {
                        value.push(self.bump().unwrap_or('\''));
                    } else {
                        return Ok(value);
                    }
                }
                Some(c) => value.push(c),
            }
        }
    }

    /// Scans the body of a verbatim here-string after `@'` (which must end its line): the text up
    /// to a line that starts with `'@`, without the first and last newline.
    pub fn scan_here_single(&mut self, open: usize) -> Result<String, ParseError> {
        self.expect_here_string_header(open)?;
        let body_start = self.pos;
        loop {
            let line_start = self.pos;
            if self.peek().is_some_and(is_single_quote) && self.peek_nth(1) == Some('@') {
                let body_end = trim_last_newline(self.src, body_start, line_start);
                self.pos += self.peek().map_or(1, char::len_utf8) + 1;
                return Ok(self.src[body_start..body_end].to_string());
            }
            while self.peek().is_some_and(|c| !is_newline(c)) {
                self.bump();
            }
            if !self.eat_newline() {
                return Err(self.error_at(
                    open,
                    "the here-string is missing its terminator: a line starting with '@",
                ));
            }
        }
    }

    /// After `@'`/`@"`: only whitespace may follow on the line; consumes it and the newline.
    pub fn expect_here_string_header(&mut self, open: usize) -> Result<(), ParseError> {
        while self.peek().is_some_and(is_whitespace) {
            self.bump();
        }
        if !self.eat_newline() {
            return Err(self.error_at(
                open,
                "no characters are allowed after the here-string header on the same line",
            ));
        }
        Ok(())
    }

    /// A dash-operator (`-eq`, `-iLike`, `-not`, …) at the cursor in expression mode: consumes it
    /// and returns it, or returns `None` with the cursor unmoved.
    pub fn scan_dash_operator(&mut self) -> Option<DashOperator> {
        let start = self.pos;
        let c = self.peek()?;
        if !is_dash(c) {
            return None;
        }
        self.bump();
        let mut word = String::new();
        while let Some(c) = self.peek().filter(|c| c.is_ascii_alphabetic()) {
            word.push(c.to_ascii_lowercase());
            self.bump();
        }
        if word.is_empty() || self.peek().is_some_and(is_identifier_follow) {
            self.pos = start;
            return None;
        }
        match dash_operator(&word) {
            Some(op) => Some(op),
            None => {
                self.pos = start;
                None
            }
        }
    }
}

/// What a dash-word in expression mode means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DashOperator {
    Binary(BinaryOp),
    /// `-not`, `-bnot` (prefix only).
    Unary(UnaryOp),
    /// `-split`/`-join`: binary after an operand, unary before one.
    SplitJoin(BinaryOp, UnaryOp),
}

/// The operator named by a dash-word (lower case, without the dash), with its `i`/`c` prefix
/// (about_Comparison_Operators, about_Logical_Operators, about_Arithmetic_Operators, about_Split,
/// about_Join, about_Type_Operators, about_Format-operator).
pub fn dash_operator(word: &str) -> Option<DashOperator> {
    use BinaryOp::*;
    let simple = match word {
        "and" => Some(And),
        "or" => Some(Or),
        "xor" => Some(Xor),
        "band" => Some(BAnd),
        "bor" => Some(BOr),
        "bxor" => Some(BXor),
        "shl" => Some(Shl),
        "shr" => Some(Shr),
        "is" => Some(Is),
        "isnot" => Some(IsNot),
        "as" => Some(As),
        "f" => Some(Format),
        _ => None,
    };
    if let Some(op) = simple {
        return Some(DashOperator::Binary(op));
    }
    match word {
        "not" => return Some(DashOperator::Unary(UnaryOp::Not)),
        "bnot" => return Some(DashOperator::Unary(UnaryOp::BNot)),
        "join" => return Some(DashOperator::SplitJoin(Join, UnaryOp::Join)),
        _ => {}
    }
    let (case, base) =
        if let Some(rest) = word.strip_prefix('i').filter(|r| compare_op(r).is_some()) {
            (Case::Insensitive, rest)
        } else if let Some(rest) = word.strip_prefix('c').filter(|r| compare_op(r).is_some()) {
            (Case::Sensitive, rest)
        } else {
            (Case::Default, word)
        };
    // `-is`/`-in`/`-isnot` start with `i` but are not prefixed forms; they were matched above
    // or are matched by `compare_op` itself ("in", "notin" take prefixes: `-iin`, `-cin`).
    let op = compare_op(base)?;
    if op == CompareOp::Split {
        return Some(DashOperator::SplitJoin(
            Compare { op, case },
            UnaryOp::Split { case },
        ));
    }
    Some(DashOperator::Binary(Compare { op, case }))
}

fn compare_op(word: &str) -> Option<CompareOp> {
    Some(match word {
        "eq" => CompareOp::Eq,
        "ne" => CompareOp::Ne,
        "gt" => CompareOp::Gt,
        "ge" => CompareOp::Ge,
        "lt" => CompareOp::Lt,
        "le" => CompareOp::Le,
        "like" => CompareOp::Like,
        "notlike" => CompareOp::NotLike,
        "match" => CompareOp::Match,
        "notmatch" => CompareOp::NotMatch,
        "replace" => CompareOp::Replace,
        "split" => CompareOp::Split,
        "contains" => CompareOp::Contains,
        "notcontains" => CompareOp::NotContains,
        "in" => CompareOp::In,
        "notin" => CompareOp::NotIn,
        _ => return None,
    })
}

/// Splits `scope:name` / `drive:name`; a name without `:` has no qualifier.
fn split_qualifier(name: &str, braced: bool) -> VariablePath {
    match name.split_once(':') {
        Some((q, rest)) if !q.is_empty() => VariablePath {
            qualifier: Some(q.to_string()),
            name: rest.to_string(),
            braced,
        },
        _ => VariablePath {
            qualifier: None,
            name: name.to_string(),
            braced,
        },
    }
}

/// The end of a here-string body: `line_start` minus the newline before it (if the body is
/// not empty).
pub fn trim_last_newline(src: &str, body_start: usize, line_start: usize) -> usize {
    let mut end = line_start;
    if end > body_start && src.as_bytes()[end - 1] == b'\n' {
        end -= 1;
        if end > body_start && src.as_bytes()[end - 1] == b'\r' {
            end -= 1;
        }
    } else if end > body_start && src.as_bytes()[end - 1] == b'\r' {
        end -= 1;
    }
    end
}

/// A decimal literal (`d` suffix): digits with an optional fraction and exponent.
fn decimal_from_text(text: &str, negative: bool, multiplier: i64) -> Option<Number> {
    let (mantissa_text, exp) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa_text.split_once('.').unwrap_or((mantissa_text, ""));
    let digits = format!("{int_part}{frac_part}");
    let mut mantissa: i128 = digits.parse().ok()?;
    let mut scale = frac_part.len() as i32 - exp;
    while scale < 0 {
        mantissa = mantissa.checked_mul(10)?;
        scale += 1;
    }
    mantissa = mantissa.checked_mul(multiplier as i128)?;
    while scale > 28 && mantissa % 10 == 0 {
        mantissa /= 10;
        scale -= 1;
    }
    if scale > 28 || mantissa.unsigned_abs() >= 79_228_162_514_264_337_593_543_950_336u128 {
        return None;
    }
    Some(Number::Decimal {
        mantissa: if negative { -mantissa } else { mantissa },
        scale: scale as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(text: &str, expr: bool) -> Option<Number> {
        Cursor::new(text).scan_number(expr).unwrap()
    }

    // about_Numeric_Literals
    #[test]
    fn numeric_literal_types() {
        assert_eq!(num("42", true), Some(Number::Int(42)));
        assert_eq!(num("2147483648", true), Some(Number::Long(2147483648)));
        assert_eq!(num("0xFF", true), Some(Number::Int(255)));
        assert_eq!(num("0xFFFFFFFF", true), Some(Number::Int(-1)));
        assert_eq!(num("1kb", true), Some(Number::Int(1024)));
        assert_eq!(num("2gb", true), Some(Number::Long(2 << 30)));
        assert_eq!(num("1.5", true), Some(Number::Double(1.5)));
        assert_eq!(num("1e3", true), Some(Number::Double(1000.0)));
        assert_eq!(num("10l", true), Some(Number::Long(10)));
        assert_eq!(
            num("1.5d", true),
            Some(Number::Decimal {
                mantissa: 15,
                scale: 1
            })
        );
        assert_eq!(num("7z", false), None);
        assert_eq!(num("1.2.3", false), None);
        assert_eq!(num("-5", false), Some(Number::Int(-5)));
    }
}
