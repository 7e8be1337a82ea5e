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
//!
//! This module holds the entry point, the `Parser` state and its cursor helpers; the grammar is
//! in `blocks`, `statements`, `commands`, `expressions` and `types`.

use crate::ast::*;
use crate::lexer::{
    backtick_escape, force_start_new_token, is_dash, is_double_quote, is_identifier_follow,
    is_identifier_start, is_newline, is_single_quote, is_variable_start, is_whitespace, Cursor,
    DashOperator,
};
use crate::span::ParseError;

type PResult<T> = Result<T, ParseError>;

mod blocks;
mod commands;
mod expressions;
mod statements;
mod types;

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
}
