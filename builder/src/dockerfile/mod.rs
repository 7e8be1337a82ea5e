//! The Dockerfile frontend, compatible with BuildKit's `frontend/dockerfile`: the line parser and
//! AST (`ast`), the shell-word lexer, typed instructions, stages and args, Windows path rules and
//! `.dockerignore` matching.

pub mod ast;
pub mod directives;
pub mod dockerignore;
pub mod dump;
pub mod goquote;
pub mod heredoc;
pub mod line_parsers;
pub mod parser;
pub mod shell;
pub mod winpath;

pub use parser::{parse, ParseError, ParseResult, Warning};
