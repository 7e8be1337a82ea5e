//! The static check (contract 2): walks a parsed script and lists everything the engine cannot
//! run — unknown cmdlets, parameters, .NET types and members, unsupported statements — before
//! anything runs. The [`Catalog`] type is defined here; its data is in [`crate::catalog`].
//!
//! This module holds the entry points and the walker's state; what is checked is in `statements`,
//! `commands` and `expressions`, with `builtins` and `lookup` for the names they accept.

use crate::ast::*;

mod builtins;
mod commands;
mod expressions;
mod lookup;
mod statements;

// Shared by the sibling modules through their `use super::*`.
use builtins::{BUILTIN_ALIASES_AND_FUNCTIONS, COMMON_PARAMETERS};
use lookup::ParamMatch;

/// What the engine supports. All data is static so that `crate::catalog` can be one `static`.
#[derive(Debug)]
pub struct Catalog {
    pub cmdlets: &'static [CmdletInfo],
    pub types: &'static [TypeInfo],
    /// Instance method names the engine supports on any of its object kinds (`DownloadFile`,
    /// `Replace`, `ToString`, ...), compared case-insensitively. Property reads are not checked
    /// (a hashtable key reads like a property).
    pub instance_members: &'static [&'static str],
    /// Attributes accepted in `param()` blocks (`Parameter`, `CmdletBinding`, ...), without
    /// brackets, compared case-insensitively (`Attribute` suffix optional, as in PowerShell).
    pub attributes: &'static [&'static str],
}

/// A cmdlet the engine implements.
#[derive(Debug)]
pub struct CmdletInfo {
    /// Canonical Verb-Noun name (`Invoke-WebRequest`).
    pub name: &'static str,
    /// Aliases (`iwr`, `curl`, `wget` in Windows PowerShell 5.1).
    pub aliases: &'static [&'static str],
    pub parameters: &'static [ParamInfo],
}

/// One parameter of a cmdlet.
#[derive(Debug)]
pub struct ParamInfo {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub is_switch: bool,
    /// Position for positional binding (0-based), `None` when named only.
    pub position: Option<u32>,
}

/// A .NET type the engine implements (for `[T]::M`, `[T]` casts and literals, `New-Object T`,
/// `[T]::new()`).
#[derive(Debug)]
pub struct TypeInfo {
    /// Full name (`System.Net.WebClient`); `[Net.WebClient]` finds it as PowerShell does, by
    /// also trying the name with `System.` in front.
    pub name: &'static str,
    /// Type accelerators and other spellings (`int` for `System.Int32`, `hashtable`).
    pub aliases: &'static [&'static str],
    /// Static methods, properties and fields (`Combine`, `SecurityProtocol`, `Tls12`).
    pub static_members: &'static [&'static str],
    /// Whether `New-Object T` / `[T]::new(...)` is supported.
    pub constructible: bool,
}

/// One thing the engine cannot run, with where it is in the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// What it is: `cmdlet Get-WmiObject`, `parameter -Credential of Invoke-WebRequest`,
    /// `.NET member [IO.Compression.ZipFile]::ExtractToDirectory`, `statement trap`.
    pub what: String,
    pub span: Span,
    /// Set when the thing is a script file (`& C:\x.ps1`) the check could not read: the path
    /// as written. Such a script is not unsupported as such — it needs the image's files.
    pub missing_file: Option<String>,
}

/// Gives the text of a script file for its literal Windows path as written (`C:\x.ps1`,
/// `.\x.ps1`, relative paths against the location the script starts in), or None when there
/// is no such file.
pub type ScriptFiles<'f> = &'f dyn Fn(&str) -> Option<String>;

/// How deep script files may call script files before the check refuses (about_Scripts sets
/// no limit; real Dockerfiles call one or two levels).
pub const MAX_SCRIPT_FILE_DEPTH: usize = 8;

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} is not supported", self.span, self.what)
    }
}

/// Checks `script` against `catalog`; every unsupported thing, in script order. A script file
/// it calls is refused as missing (no files to read it from): see [`check_with_files`].
pub fn check(script: &Script, catalog: &Catalog) -> Result<(), Vec<Unsupported>> {
    check_with_files(script, catalog, &|_| None)
}

/// Checks `script` and, through `files`, every script file it calls by a literal path
/// (`& C:\x.ps1`, `.\x.ps1`, `. .\x.ps1`), recursively up to [`MAX_SCRIPT_FILE_DEPTH`].
/// A problem inside a called file is reported at the call, naming the file and the position
/// in it.
pub fn check_with_files(
    script: &Script,
    catalog: &Catalog,
    files: ScriptFiles<'_>,
) -> Result<(), Vec<Unsupported>> {
    let (found, _) = check_nested(script, catalog, files, Vec::new(), Vec::new());
    if found.is_empty() {
        Ok(())
    } else {
        Err(found)
    }
}

/// Checks one script (the step's, or a script file with `stack` the files calling it, lower
/// case) that sees the functions `inherited` from its callers; returns what it found and the
/// functions it defines.
fn check_nested(
    script: &Script,
    catalog: &Catalog,
    files: ScriptFiles<'_>,
    stack: Vec<String>,
    inherited: Vec<String>,
) -> (Vec<Unsupported>, Vec<String>) {
    let mut own = Vec::new();
    collect_functions_in_body(&script.body, &mut own);
    let mut functions = inherited;
    functions.extend(own.iter().cloned());
    let mut checker = Checker {
        catalog,
        functions,
        found: Vec::new(),
        files,
        stack,
    };
    if let Some(p) = &script.param {
        checker.param_block(p);
    }
    checker.body(&script.body);
    (checker.found, own)
}

struct Checker<'c> {
    catalog: &'c Catalog,
    /// Functions and filters the script defines (lower-case).
    functions: Vec<String>,
    found: Vec<Unsupported>,
    files: ScriptFiles<'c>,
    /// The script files being checked around this one (lower case), outermost first.
    stack: Vec<String>,
}

impl Checker<'_> {
    fn refuse(&mut self, what: impl Into<String>, span: Span) {
        self.found.push(Unsupported {
            what: what.into(),
            span,
            missing_file: None,
        });
    }
}

fn collect_functions_in_body(b: &Body, out: &mut Vec<String>) {
    for block in [&b.begin, &b.process].into_iter().flatten() {
        collect_functions(block, out);
    }
    collect_functions(&b.end, out);
}

/// Every function/filter defined anywhere in the script (nested ones included).
fn collect_functions(b: &Block, out: &mut Vec<String>) {
    for s in &b.statements {
        if let StatementKind::Function(f) = &s.kind {
            let name = f.name.to_ascii_lowercase();
            // `function global:Foo` defines Foo.
            let bare = name
                .rsplit_once(':')
                .map_or(name.clone(), |(_, n)| n.to_string());
            out.push(bare);
            collect_functions_in_body(&f.body.body, out);
        }
        visit_blocks(s, &mut |inner| collect_functions(inner, out));
    }
}

/// Calls `f` on the blocks directly inside a statement (not inside expressions).
fn visit_blocks(s: &Statement, f: &mut dyn FnMut(&Block)) {
    match &s.kind {
        StatementKind::If {
            clauses,
            else_block,
        } => {
            clauses.iter().for_each(|(_, b)| f(b));
            if let Some(b) = else_block {
                f(b);
            }
        }
        StatementKind::While { body, .. }
        | StatementKind::Do { body, .. }
        | StatementKind::For { body, .. }
        | StatementKind::Foreach { body, .. } => f(body),
        StatementKind::Switch {
            clauses, default, ..
        } => {
            clauses.iter().for_each(|c| f(&c.body));
            if let Some(d) = default {
                f(d);
            }
        }
        StatementKind::Try {
            body,
            catches,
            finally,
        } => {
            f(body);
            catches.iter().for_each(|c| f(&c.body));
            if let Some(b) = finally {
                f(b);
            }
        }
        _ => {}
    }
}
