//! The interpreter: runs a checked AST against a `Host` with Windows PowerShell 5.1 semantics —
//! scopes and variables (`$script:`, `$global:`, `$env:`, automatic and preference variables),
//! statements and loops, pipelines (each element runs to completion before the next one starts:
//! the order of side effects between pipeline stages can differ from PowerShell's streaming,
//! results do not), functions and script blocks with parameter binding, commands (functions,
//! cmdlets, native programs), error handling (non-terminating vs terminating errors,
//! `$ErrorActionPreference`, `-ErrorAction`, `$?`, `$Error`, try/catch/finally, `exit`).
//!
//! This module holds the `Interp` state, the entry points (`prepare`, `run_script`) and what
//! every part shares; the rest is in `variables`, `reporting`, `statements`, `assignment`,
//! `pipeline`, `commands`, `functions` and `expressions`.
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::rc::Rc;

use crate::ast::{
    self, AssignOp, BinaryOp, CommandArg, CompareOp, Expr, ExprKind, Statement, StatementKind,
    UnaryOp,
};
use crate::convert::{self, to_bool, to_string};
use crate::errors::{ErrorRecord, Flow};
use crate::host::Host;
use crate::ops::{self, Cmp};
use crate::value::{Hashtable, ObjKind, Object, Value};

pub type Res<T> = Result<T, Flow>;

mod assignment;
mod commands;
mod expressions;
mod functions;
mod pipeline;
mod reporting;
mod statements;
mod variables;

pub use commands::Arg;
pub use expressions::index_value;
pub use reporting::{conv_err, op_err};
// Shared by the sibling modules through their `use super::*`.
use reporting::{add_span, WithSpan};

/// What `$ErrorActionPreference` / `-ErrorAction` say to do with a non-terminating error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Continue,
    Stop,
    SilentlyContinue,
    Ignore,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        match s.to_ascii_lowercase().as_str() {
            "continue" | "2" => Some(Action::Continue),
            "stop" | "1" => Some(Action::Stop),
            "silentlycontinue" | "0" => Some(Action::SilentlyContinue),
            "ignore" | "4" => Some(Action::Ignore),
            _ => None,
        }
    }
}

/// Where the output of a statement goes: straight to the host (formatted, as the console does
/// for a script's top level) or into a list (assignment, pipeline, function result).
pub struct Out {
    pub items: Vec<Value>,
    pub to_host: bool,
}

impl Out {
    pub fn collect() -> Out {
        Out {
            items: Vec::new(),
            to_host: false,
        }
    }
    pub fn host() -> Out {
        Out {
            items: Vec::new(),
            to_host: true,
        }
    }
}

/// How the error stream of the running statement is redirected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrRedirect {
    Display,
    Discard,
    /// `2>&1`: error records become output.
    Merge,
}

/// A function defined by the script.
#[derive(Debug, Clone)]
pub struct Function {
    pub name: String,
    pub block: Rc<ast::ScriptBlock>,
    pub is_filter: bool,
}

/// The interpreter state of one `powershell -Command` run.
pub struct Interp<'h> {
    pub host: &'h mut dyn Host,
    pub source: Rc<str>,
    /// Scope stack: index 0 is the global (= script) scope; keys lower-case.
    scopes: Vec<HashMap<String, (String, Value)>>,
    pub functions: HashMap<String, Function>,
    /// The engine's process environment (what native commands get).
    pub env: Vec<(String, String)>,
    /// Current location, a Windows path (`C:\app`) or a registry location (`HKLM:\SOFTWARE`).
    pub cwd: String,
    /// The process's current directory (.NET relative paths; PowerShell's Set-Location does not
    /// move it): the initial location unless `[Environment]::CurrentDirectory` is set.
    pub process_cwd: String,
    pub location_stack: Vec<String>,
    /// Whether the running statement has succeeded so far (becomes `$?` when it ends).
    pub last_ok: bool,
    /// `$?`: the success of the last statement that ended.
    dollar_q: bool,
    /// The `$Error` list (most recent first), shared with the variable.
    pub error_list: Rc<std::cell::RefCell<Vec<Value>>>,
    /// `-ErrorAction` of the cmdlet now running, innermost last.
    pub action_override: Vec<Action>,
    pub err_redirect: Vec<ErrRedirect>,
    /// Error records merged into output by `2>&1` while the current command runs.
    pub merged_errors: Vec<Value>,
    /// Depth of enclosing `try` blocks (statement-terminating errors are caught there).
    pub try_depth: usize,
    /// `[Net.ServicePointManager]::SecurityProtocol`.
    pub security_protocol: i64,
    /// Assemblies loaded with `Add-Type -AssemblyName` (their types become usable).
    pub loaded_assemblies: Vec<String>,
    /// Nesting of function/script-block calls (bounded against runaway recursion).
    depth: usize,
    /// The scope `$script:` names: 0 for the step's script, a script file's own scope while
    /// it runs (about_Scopes).
    script_scope: usize,
}

const MAX_CALL_DEPTH: usize = 100;

fn lc(s: &str) -> String {
    s.to_lowercase()
}

impl<'h> Interp<'h> {
    pub fn new(
        host: &'h mut dyn Host,
        source: &str,
        env: Vec<(String, String)>,
        cwd: &str,
    ) -> Interp<'h> {
        let error_list = Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut me = Interp {
            host,
            source: Rc::from(source),
            scopes: vec![HashMap::new()],
            script_scope: 0,
            functions: HashMap::new(),
            env,
            cwd: cwd.to_string(),
            process_cwd: cwd.to_string(),
            location_stack: Vec::new(),
            last_ok: true,
            dollar_q: true,
            error_list,
            action_override: Vec::new(),
            err_redirect: Vec::new(),
            merged_errors: Vec::new(),
            try_depth: 0,
            security_protocol: 0,
            loaded_assemblies: Vec::new(),
            depth: 0,
        };
        for (k, v) in [
            ("ErrorActionPreference", "Continue"),
            ("ProgressPreference", "Continue"),
            ("VerbosePreference", "SilentlyContinue"),
            ("DebugPreference", "SilentlyContinue"),
            ("WarningPreference", "Continue"),
            ("InformationPreference", "SilentlyContinue"),
            ("ConfirmPreference", "High"),
        ] {
            me.set_var_in(0, k, Value::str(v));
        }
        me.set_var_in(
            0,
            "PSHOME",
            Value::str("C:\\Windows\\System32\\WindowsPowerShell\\v1.0"),
        );
        let home = me
            .env_get("USERPROFILE")
            .unwrap_or_else(|| "C:\\Users\\ContainerAdministrator".into());
        me.set_var_in(0, "HOME", Value::string(home));
        me.set_var_in(0, "PID", Value::Int(1));
        me.set_var_in(0, "PSScriptRoot", Value::str(""));
        me.set_var_in(0, "PSCommandPath", Value::str(""));
        me.set_var_in(0, "LASTEXITCODE", Value::Null);
        // `$MyInvocation` of a `-Command` script: no file, the script text as the command line.
        let my_command = Object::new(ObjKind::Custom, "System.Management.Automation.ScriptInfo")
            .with("Name", Value::str(""))
            .with("Path", Value::Null)
            .with("Definition", Value::str(source))
            .with("CommandType", Value::str("Script"));
        me.set_var_in(
            0,
            "MyInvocation",
            Value::object(
                Object::new(
                    ObjKind::Custom,
                    "System.Management.Automation.InvocationInfo",
                )
                .with("MyCommand", Value::object(my_command))
                .with("ScriptName", Value::str(""))
                .with("PSScriptRoot", Value::str(""))
                .with("PSCommandPath", Value::Null)
                .with("Line", Value::str(source))
                .with("InvocationName", Value::str(""))
                .with("BoundParameters", Value::hashtable(Hashtable::new(false)))
                .with("UnboundArguments", Value::array(Vec::new())),
            ),
        );
        let mut t = Hashtable::new(false);
        // $PSVersionTable of Windows PowerShell 5.1 on Server 2019 (17763).
        let version = |v: &str| crate::dotnet::parse_version(v).unwrap_or(Value::Null);
        t.set(Value::str("PSVersion"), version("5.1.17763.1"));
        t.set(Value::str("PSEdition"), Value::str("Desktop"));
        for (name, v) in [
            ("CLRVersion", "4.0.30319.42000"),
            ("BuildVersion", "10.0.17763.1"),
            ("WSManStackVersion", "3.0"),
            ("PSRemotingProtocolVersion", "2.3"),
            ("SerializationVersion", "1.1.0.1"),
        ] {
            t.set(Value::str(name), version(v));
        }
        t.set(
            Value::str("PSCompatibleVersions"),
            Value::array(
                ["1.0", "2.0", "3.0", "4.0", "5.0", "5.1.17763.1"]
                    .iter()
                    .filter_map(|v| crate::dotnet::parse_version(v).ok())
                    .collect(),
            ),
        );
        me.set_var_in(0, "PSVersionTable", Value::hashtable(t));
        me
    }
}

/// 0 outputs → $null, 1 → the item, more → an array.
pub fn unwrap_output(mut items: Vec<Value>) -> Value {
    match items.len() {
        0 => Value::Null,
        1 => items.pop().unwrap_or(Value::Null),
        _ => Value::array(items),
    }
}

/// Builds a PSCustomObject from name/value pairs (cmdlet results).
pub fn custom(type_name: &str, props: Vec<(&str, Value)>) -> Value {
    let mut o = Object::new(ObjKind::Custom, type_name);
    for (k, v) in props {
        o.set(k, v);
    }
    Value::object(o)
}

/// A script that parsed and passed the check: ready to run.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub script: ast::Script,
}

/// Why a script cannot run: a parse error or something the engine does not support, with its
/// position in the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    pub span: ast::Span,
    /// Set when the script calls a script file (`& C:\x.ps1`) that could not be read for the
    /// check: the path as written. The script needs the image's files, it is not unsupported.
    pub missing_file: Option<String>,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.span.line, self.span.col, self.message
        )
    }
}

/// The way out named in every refusal.
pub const WAY_OUT: &str = "use --runtime hcs on Windows, or the cmd equivalent";

/// Parses and checks a script without running anything. A script file it calls is refused as
/// not found: callers with the image's files use [`prepare_with_files`].
pub fn prepare(source: &str) -> Result<Prepared, Vec<Diagnostic>> {
    prepare_with_files(source, &|_| None)
}

/// Parses and checks a script and every script file it calls by a literal path, read through
/// `files` (see [`crate::check::check_with_files`]); nothing runs.
pub fn prepare_with_files(
    source: &str,
    files: crate::check::ScriptFiles<'_>,
) -> Result<Prepared, Vec<Diagnostic>> {
    let script = crate::parser::parse(source).map_err(|e| {
        vec![Diagnostic {
            message: e.message.clone(),
            span: e.span,
            missing_file: None,
        }]
    })?;
    crate::check::check_with_files(&script, crate::catalog::catalog(), files).map_err(|list| {
        list.into_iter()
            .map(|u| Diagnostic {
                message: match &u.missing_file {
                    Some(_) => format!("{} ({WAY_OUT})", u.what),
                    None => format!(
                        "{} is not supported by the PowerShell engine of the Wine silo ({WAY_OUT})",
                        u.what
                    ),
                },
                span: u.span,
                missing_file: u.missing_file,
            })
            .collect::<Vec<_>>()
    })?;
    Ok(Prepared { script })
}

/// A script file's text for the check, read from `drive_c` with the engine's Windows path
/// rules (relative paths against `cwd`).
fn read_script_file(drive_c: &std::path::Path, cwd: &str, win_path: &str) -> Option<String> {
    match crate::winfs::resolve(cwd, win_path).ok()? {
        crate::winfs::Target::File(w) => {
            let bytes = std::fs::read(w.unix(drive_c)).ok()?;
            Some(crate::cmdlets::content::decode_text(&bytes))
        }
        _ => None,
    }
}

/// Runs a script as `powershell -Command` would and returns its exit code: `exit N` → N; an
/// uncaught terminating error → 1 (printed on stderr in PowerShell's format); otherwise 0 when
/// `$?` is true after the last statement, 1 when not. A script that does not parse or check
/// fails with 1 before any effect, its diagnostics on stderr prefixed by `origin`.
pub fn run_script(
    source: &str,
    origin: &str,
    host: &mut dyn Host,
    env: Vec<(String, String)>,
    cwd: &str,
) -> i32 {
    let drive_c = host.drive_c().to_path_buf();
    let files = |path: &str| read_script_file(&drive_c, cwd, path);
    let prepared = match prepare_with_files(source, &files) {
        Ok(p) => p,
        Err(diags) => {
            for d in diags {
                host.stderr(&format!("{origin}: {d}\n"));
            }
            return 1;
        }
    };
    let mut interp = Interp::new(host, source, env, cwd);
    interp.run(&prepared.script)
}
