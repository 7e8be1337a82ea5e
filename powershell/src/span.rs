//! Positions in a script: [`Span`] (byte range plus the line and column people read) and
//! [`ParseError`], the one error type of the lexer and the parser.

use std::fmt;

/// Where a node sits in the script text. `start`/`end` are byte offsets (end exclusive);
/// `line` and `col` (both 1-based, `col` counted in characters) are those of `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
    pub line: u32,
    pub col: u32,
}

impl Span {
    /// The span from the start of `self` to the end of `other` (which must not start before `self`).
    pub fn to(self, other: Span) -> Span {
        Span {
            end: other.end.max(self.end),
            ..self
        }
    }

    /// The text this span covers in `source` (empty when out of range, never a panic).
    pub fn text(self, source: &str) -> &str {
        source
            .get(self.start as usize..self.end as usize)
            .unwrap_or("")
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A script the parser cannot read: what is wrong and where. Shown as `line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{span}: {message}")]
pub struct ParseError {
    pub message: String,
    pub span: Span,
}

impl ParseError {
    pub fn new(message: impl Into<String>, span: Span) -> ParseError {
        ParseError {
            message: message.into(),
            span,
        }
    }
}
