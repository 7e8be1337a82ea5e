//! The parser: script text → [`ast::Script`] (being written; until then every parse fails loudly).

use crate::ast::{self, Span};
use crate::span::ParseError;

/// Parses a whole script. Errors name the first problem with its position; never panics.
pub fn parse(source: &str) -> Result<ast::Script, ParseError> {
    let _ = source;
    Err(ParseError::new(
        "the PowerShell parser is not written yet",
        Span::default(),
    ))
}
