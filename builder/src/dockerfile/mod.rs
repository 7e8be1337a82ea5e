//! The Dockerfile frontend, compatible with BuildKit's `frontend/dockerfile`: the line parser and
//! AST (`ast`), the shell-word lexer, typed instructions, stages and args, Windows path rules and
//! `.dockerignore` matching.

pub mod ast;
pub mod shell;
pub mod winpath;
