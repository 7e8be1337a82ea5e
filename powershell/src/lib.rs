//! A strict Windows PowerShell 5.1 engine for the RUN steps of Windows Dockerfiles (issue #15).
//!
//! The whole script is parsed ([`parser`]) and checked against what the engine supports
//! ([`check`], [`catalog`]) before anything runs; then the interpreter ([`interp`]) runs it
//! against a [`host::Host`] (files under drive C:, the registry, native commands, HTTP).
//! The design is described in `docs/powershell.md`.
// Unsafe code only where an FFI or system call needs it, each module allowing it says why.
#![deny(unsafe_code)]

// Front end: text → checked AST.
pub mod ast;
pub mod check;
pub mod invocation;
pub mod lexer;
pub mod parser;
pub mod span;

// Runtime: AST → effects on the host.
pub mod catalog;
pub mod cmdlets;
pub mod convert;
pub mod dotnet;
pub mod errors;
pub mod format;
pub mod host;
pub mod interp;
pub mod ops;
pub mod value;
pub mod winfs;

pub use interp::{prepare, run_script, Diagnostic, Prepared};
