//! The interpreter: runs a checked AST against a `Host` with Windows PowerShell 5.1 semantics —
//! scopes and variables (`$script:`, `$global:`, `$env:`, automatic and preference variables),
//! statements and loops, pipelines (each element runs to completion before the next one starts:
//! the order of side effects between pipeline stages can differ from PowerShell's streaming,
//! results do not), functions and script blocks with parameter binding, commands (functions,
//! cmdlets, native programs), error handling (non-terminating vs terminating errors,
//! `$ErrorActionPreference`, `-ErrorAction`, `$?`, `$Error`, try/catch/finally, `exit`).
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

    // ----- environment -------------------------------------------------------------------

    pub fn env_get(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    /// Sets (or with None removes) a process environment variable, keeping the first spelling.
    pub fn env_set(&mut self, name: &str, value: Option<String>) {
        match value {
            Some(v) if !v.is_empty() => match self
                .env
                .iter_mut()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
            {
                Some(e) => e.1 = v,
                None => self.env.push((name.to_string(), v)),
            },
            _ => self.env.retain(|(k, _)| !k.eq_ignore_ascii_case(name)),
        }
    }

    // ----- variables -----------------------------------------------------------------------

    fn set_var_in(&mut self, scope: usize, name: &str, value: Value) {
        self.scopes[scope].insert(lc(name), (name.to_string(), value));
    }

    /// Reads a variable (innermost scope first) or an automatic variable.
    pub fn get_var(&self, name: &str) -> Option<Value> {
        let l = lc(name);
        match l.as_str() {
            "true" => return Some(Value::Bool(true)),
            "false" => return Some(Value::Bool(false)),
            "null" => return Some(Value::Null),
            "?" => return Some(Value::Bool(self.dollar_q)),
            "error" => return Some(Value::Array(self.error_list.clone())),
            "pwd" => return Some(crate::cmdlets::location::path_info(&self.cwd)),
            "psitem" => return self.get_var("_"),
            "ofs" | "_" | "args" | "input" | "matches" | "myinvocation" => {}
            _ => {}
        }
        for s in self.scopes.iter().rev() {
            if let Some((_, v)) = s.get(&l) {
                return Some(v.clone());
            }
        }
        None
    }

    /// Assigns in the current scope (PowerShell's default for `$x = …`).
    pub fn set_var(&mut self, name: &str, value: Value) {
        let l = lc(name);
        if l == "psitem" {
            return self.set_var("_", value);
        }
        let top = self.scopes.len() - 1;
        self.set_var_in(top, name, value);
    }

    pub fn remove_var(&mut self, name: &str) {
        let l = lc(name);
        for s in self.scopes.iter_mut().rev() {
            if s.remove(&l).is_some() {
                return;
            }
        }
    }

    fn var_path_get(&self, path: &ast::VariablePath) -> Res<Value> {
        match path.qualifier.as_deref().map(|q| q.to_ascii_lowercase()) {
            Some(q) if q == "env" => Ok(self
                .env_get(&path.name)
                .map(Value::string)
                .unwrap_or(Value::Null)),
            Some(q) if q == "global" => Ok(self.scopes[0]
                .get(&lc(&path.name))
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null)),
            Some(q) if q == "script" => Ok(self.scopes[self.script_scope]
                .get(&lc(&path.name))
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null)),
            Some(q) if q == "local" || q == "private" => Ok(self
                .scopes
                .last()
                .and_then(|s| s.get(&lc(&path.name)))
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null)),
            Some(q) if q == "variable" => Ok(self.get_var(&path.name).unwrap_or(Value::Null)),
            Some(q) => Err(ErrorRecord::runtime(format!(
                "the variable drive or scope '{q}:' is not supported"
            ))
            .into()),
            None => Ok(self.get_var(&path.name).unwrap_or(Value::Null)),
        }
    }

    fn var_path_set(&mut self, path: &ast::VariablePath, value: Value) -> Res<()> {
        let name = path.name.as_str();
        match path.qualifier.as_deref().map(|q| q.to_ascii_lowercase()) {
            Some(q) if q == "env" => {
                let v = match &value {
                    Value::Null => None,
                    v => Some(to_string(v)),
                };
                self.env_set(name, v);
            }
            Some(q) if q == "global" => self.set_var_in(0, name, value),
            Some(q) if q == "script" => self.set_var_in(self.script_scope, name, value),
            Some(q) if q == "local" || q == "private" || q == "variable" => {
                self.set_var(name, value)
            }
            Some(q) => {
                return Err(ErrorRecord::runtime(format!(
                    "the variable drive or scope '{q}:' is not supported"
                ))
                .into())
            }
            None => {
                let l = lc(name);
                if matches!(
                    l.as_str(),
                    "true" | "false" | "null" | "?" | "error" | "pwd" | "home" | "pshome" | "pid"
                ) {
                    if l == "null" {
                        return Ok(()); // `$null = expr` discards.
                    }
                    return Err(ErrorRecord::new(
                        format!(
                            "Cannot overwrite variable {name} because it is read-only or constant."
                        ),
                        "System.Management.Automation.SessionStateUnauthorizedAccessException",
                        "WriteError",
                        "VariableNotWritable",
                    )
                    .into());
                }
                self.set_var(name, value)
            }
        }
        Ok(())
    }

    /// The action for a non-terminating error now: the running cmdlet's `-ErrorAction`, else
    /// `$ErrorActionPreference`.
    pub fn error_action(&self) -> Action {
        if let Some(a) = self.action_override.last() {
            return *a;
        }
        self.pref("ErrorActionPreference", Action::Continue)
    }

    /// A preference variable as an Action (`$WarningPreference`, `$VerbosePreference`, …).
    pub fn pref(&self, name: &str, default: Action) -> Action {
        match self.get_var(name) {
            Some(v) => Action::parse(&to_string(&v)).unwrap_or(default),
            None => default,
        }
    }

    // ----- errors ----------------------------------------------------------------------------

    /// Writes a non-terminating error: shown, recorded in `$Error`, `$?` false, or turned into a
    /// terminating one under `Stop`.
    pub fn write_error(&mut self, rec: ErrorRecord) -> Res<()> {
        self.last_ok = false;
        match self.error_action() {
            Action::Stop => {
                let mut rec = rec;
                rec.script_terminating = true;
                Err(rec.into())
            }
            Action::Ignore => Ok(()),
            Action::SilentlyContinue => {
                self.record_error(&rec);
                Ok(())
            }
            Action::Continue => {
                self.record_error(&rec);
                self.show_error(&rec);
                Ok(())
            }
        }
    }

    pub fn record_error(&mut self, rec: &ErrorRecord) {
        let mut l = self.error_list.borrow_mut();
        l.insert(0, rec.to_value());
        l.truncate(256);
    }

    /// Puts an error on the error stream as redirected (screen, discarded, merged into output).
    pub fn show_error(&mut self, rec: &ErrorRecord) {
        match self
            .err_redirect
            .last()
            .copied()
            .unwrap_or(ErrRedirect::Display)
        {
            ErrRedirect::Display => {
                let text = rec.render(&self.source);
                self.host.stderr(&text);
            }
            ErrRedirect::Discard => {}
            ErrRedirect::Merge => self.merged_errors.push(rec.to_value()),
        }
    }

    /// A statement-terminating error reached its statement's end outside any `try`: under
    /// `Stop` it ends the script, otherwise it is reported like a non-terminating one.
    fn statement_error(&mut self, rec: ErrorRecord) -> Res<()> {
        self.last_ok = false;
        if rec.script_terminating || self.try_depth > 0 {
            return Err(rec.into());
        }
        match self.pref("ErrorActionPreference", Action::Continue) {
            Action::Stop => {
                let mut rec = rec;
                rec.script_terminating = true;
                Err(rec.into())
            }
            Action::Ignore => Ok(()),
            Action::SilentlyContinue => {
                self.record_error(&rec);
                Ok(())
            }
            Action::Continue => {
                self.record_error(&rec);
                self.show_error(&rec);
                Ok(())
            }
        }
    }

    // ----- running a script ------------------------------------------------------------------

    /// Runs a whole script; returns the exit code as `powershell -Command` would.
    pub fn run(&mut self, script: &ast::Script) -> i32 {
        if let Some(p) = &script.param {
            // A script-level param() with no arguments: defaults only.
            if let Err(f) = self.bind_params(p, &[], &mut Vec::new()) {
                return self.finish(Err(f));
            }
        }
        let mut out = Out::host();
        let r = self.exec_body(&script.body, &mut out, &[], None);
        self.finish(r)
    }

    fn finish(&mut self, r: Res<()>) -> i32 {
        match r {
            Ok(()) => i32::from(!self.dollar_q),
            Err(Flow::Exit(n)) => n,
            Err(Flow::Error(rec)) => {
                self.record_error(&rec);
                let text = rec.render(&self.source);
                self.host.stderr(&text);
                1
            }
            // `break`/`continue` outside a loop end the script; `return` at top level too.
            Err(Flow::Break(_)) | Err(Flow::Continue(_)) | Err(Flow::Return) => {
                i32::from(!self.last_ok)
            }
        }
    }

    /// Runs begin/process/end; each input item is `$_` (and the `ValueFromPipeline`
    /// parameter `pipe_param`, when there is one) for the process block.
    fn exec_body(
        &mut self,
        body: &ast::Body,
        out: &mut Out,
        input: &[Value],
        pipe_param: Option<&str>,
    ) -> Res<()> {
        if let Some(b) = &body.begin {
            self.exec_block(b, out)?;
        }
        if let Some(p) = &body.process {
            if input.is_empty() {
                self.exec_block(p, out)?;
            } else {
                for item in input {
                    self.set_var("_", item.clone());
                    if let Some(name) = pipe_param {
                        self.set_var(name, item.clone());
                    }
                    self.exec_block(p, out)?;
                }
            }
        }
        self.exec_block(&body.end, out)
    }

    pub fn exec_block(&mut self, block: &ast::Block, out: &mut Out) -> Res<()> {
        // Functions are defined before the block runs (PowerShell hoists them within a script).
        for st in &block.statements {
            if let StatementKind::Function(f) = &st.kind {
                self.define_function(f);
            }
        }
        for st in &block.statements {
            self.exec_statement(st, out)?;
        }
        Ok(())
    }

    fn define_function(&mut self, f: &ast::FunctionDef) {
        self.functions.insert(
            lc(&f.name),
            Function {
                name: f.name.clone(),
                block: Rc::new(f.body.clone()),
                is_filter: f.is_filter,
            },
        );
    }

    /// Runs one statement; statement-terminating errors are handled here.
    pub fn exec_statement(&mut self, st: &Statement, out: &mut Out) -> Res<()> {
        let r = match self.exec_statement_inner(st, out) {
            Err(Flow::Error(rec)) => {
                let rec = rec.at(st.span);
                self.statement_error(rec)
            }
            other => other,
        };
        if matches!(
            st.kind,
            StatementKind::Pipeline(_) | StatementKind::Assignment { .. }
        ) {
            self.dollar_q = self.last_ok;
        }
        r
    }

    fn exec_statement_inner(&mut self, st: &Statement, out: &mut Out) -> Res<()> {
        match &st.kind {
            StatementKind::Pipeline(p) => {
                self.last_ok = true;
                self.run_pipeline(p, out)
            }
            StatementKind::Assignment { target, op, value } => {
                self.last_ok = true;
                self.assign(target, *op, value)
            }
            StatementKind::If {
                clauses,
                else_block,
            } => {
                for (cond, block) in clauses {
                    if self.condition(cond)? {
                        return self.exec_block(block, out);
                    }
                }
                if let Some(b) = else_block {
                    self.exec_block(b, out)?;
                }
                Ok(())
            }
            StatementKind::While {
                label,
                condition,
                body,
            } => {
                loop {
                    if !self.condition(condition)? {
                        break;
                    }
                    if self.loop_body(body, label, out)? {
                        break;
                    }
                }
                Ok(())
            }
            StatementKind::Do {
                label,
                body,
                condition,
                until,
            } => {
                loop {
                    if self.loop_body(body, label, out)? {
                        break;
                    }
                    let c = self.condition(condition)?;
                    if c == *until {
                        break;
                    }
                }
                Ok(())
            }
            StatementKind::For {
                label,
                init,
                condition,
                step,
                body,
            } => {
                if let Some(i) = init {
                    self.exec_discard(i)?;
                }
                loop {
                    if let Some(c) = condition {
                        if !self.condition(c)? {
                            break;
                        }
                    }
                    if self.loop_body(body, label, out)? {
                        break;
                    }
                    if let Some(s) = step {
                        self.exec_discard(s)?;
                    }
                }
                Ok(())
            }
            StatementKind::Foreach {
                label,
                variable,
                iterable,
                body,
            } => {
                let v = self.eval_statement(iterable)?;
                let items = match v {
                    Value::Null => Vec::new(),
                    v => v.into_items(),
                };
                for item in items {
                    self.var_path_set(variable, item)?;
                    if self.loop_body(body, label, out)? {
                        break;
                    }
                }
                Ok(())
            }
            StatementKind::Switch {
                label,
                flags,
                subject,
                clauses,
                default,
            } => self.exec_switch(label, flags, subject, clauses, default.as_ref(), out),
            StatementKind::Try {
                body,
                catches,
                finally,
            } => self.exec_try(body, catches, finally.as_ref(), out),
            StatementKind::Trap { .. } => {
                Err(ErrorRecord::runtime("trap is not supported by this engine").into())
            }
            StatementKind::Throw(v) => {
                let val = match v {
                    Some(s) => self.eval_statement(s)?,
                    None => Value::Null,
                };
                let mut rec = match ErrorRecord::from_value(&val) {
                    Some(r) => r,
                    None => {
                        let msg = if val.is_null() {
                            "ScriptHalted".to_string()
                        } else {
                            to_string(&val)
                        };
                        let mut r = ErrorRecord::new(
                            msg.clone(),
                            "System.Management.Automation.RuntimeException",
                            "OperationStopped",
                            &msg,
                        );
                        r.target = Some(msg);
                        r.thrown = Some(val);
                        r
                    }
                };
                rec.script_terminating = true;
                rec.span = Some(st.span);
                Err(rec.into())
            }
            StatementKind::Return(v) => {
                if let Some(s) = v {
                    self.exec_statement(s, out)?;
                }
                Err(Flow::Return)
            }
            StatementKind::Exit(v) => {
                let code = match v {
                    Some(s) => {
                        let v = self.eval_statement(s)?;
                        convert::to_i32(&v).unwrap_or(0)
                    }
                    None => 0,
                };
                Err(Flow::Exit(code))
            }
            StatementKind::Break(l) => Err(Flow::Break(self.label(l)?)),
            StatementKind::Continue(l) => Err(Flow::Continue(self.label(l)?)),
            StatementKind::Function(_) => Ok(()), // defined when its block started
        }
    }

    fn label(&mut self, l: &Option<Expr>) -> Res<Option<String>> {
        Ok(match l {
            None => None,
            Some(e) => Some(to_string(&self.eval(e)?)),
        })
    }

    fn exec_discard(&mut self, st: &Statement) -> Res<()> {
        let mut o = Out::collect();
        self.exec_statement(st, &mut o)
    }

    /// Runs a loop body; true when the loop must stop (`break` for this loop).
    fn loop_body(&mut self, body: &ast::Block, label: &Option<String>, out: &mut Out) -> Res<bool> {
        match self.exec_block(body, out) {
            Ok(()) => Ok(false),
            Err(Flow::Break(None)) => Ok(true),
            Err(Flow::Continue(None)) => Ok(false),
            Err(Flow::Break(Some(l)))
                if label.as_ref().is_some_and(|x| x.eq_ignore_ascii_case(&l)) =>
            {
                Ok(true)
            }
            Err(Flow::Continue(Some(l)))
                if label.as_ref().is_some_and(|x| x.eq_ignore_ascii_case(&l)) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn exec_switch(
        &mut self,
        label: &Option<String>,
        flags: &[String],
        subject: &Statement,
        clauses: &[ast::SwitchClause],
        default: Option<&ast::Block>,
        out: &mut Out,
    ) -> Res<()> {
        let has = |f: &str| flags.iter().any(|x| x.eq_ignore_ascii_case(f));
        if has("File") {
            return Err(
                ErrorRecord::runtime("switch -File is not supported by this engine").into(),
            );
        }
        let (regex, wildcard, cs) = (has("Regex"), has("Wildcard"), has("CaseSensitive"));
        let v = self.eval_statement(subject)?;
        let items = match v {
            Value::Null => vec![Value::Null],
            v => v.into_items(),
        };
        'items: for item in items {
            self.set_var("_", item.clone());
            let mut matched = false;
            for clause in clauses {
                let hit = match &clause.pattern.kind {
                    ExprKind::ScriptBlock(sb) => {
                        let r = self.invoke_block_here(sb, &item)?;
                        to_bool(&r)
                    }
                    _ => {
                        let p = self.eval(&clause.pattern)?;
                        if regex {
                            let (r, m) = ops::match_op(&item, &p, cs, false).map_err(op_err)?;
                            if let Some(m) = m {
                                self.set_var("Matches", Value::hashtable(m));
                            }
                            to_bool(&r)
                        } else if wildcard {
                            ops::wildcard_match(&to_string(&p), &to_string(&item), cs)
                        } else {
                            ops::equals(&item, &p, cs)
                        }
                    }
                };
                if hit {
                    matched = true;
                    match self.exec_block(&clause.body, out) {
                        Ok(()) => {}
                        Err(Flow::Break(None)) => break 'items,
                        Err(Flow::Continue(None)) => continue 'items,
                        Err(Flow::Break(Some(l)))
                            if label.as_ref().is_some_and(|x| x.eq_ignore_ascii_case(&l)) =>
                        {
                            break 'items
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            if !matched {
                if let Some(d) = default {
                    match self.exec_block(d, out) {
                        Ok(()) => {}
                        Err(Flow::Break(None)) => break 'items,
                        Err(Flow::Continue(None)) => continue 'items,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(())
    }

    fn exec_try(
        &mut self,
        body: &ast::Block,
        catches: &[ast::Catch],
        finally: Option<&ast::Block>,
        out: &mut Out,
    ) -> Res<()> {
        self.try_depth += 1;
        let r = self.exec_block(body, out);
        self.try_depth -= 1;
        let r = match r {
            Err(Flow::Error(rec)) => {
                let handler = catches.iter().find(|c| {
                    c.types.is_empty()
                        || c.types
                            .iter()
                            .any(|t| crate::errors::exception_is(&rec.exception, &t.name))
                });
                match handler {
                    Some(c) => {
                        self.record_error(&rec);
                        let saved = self.get_var("_");
                        self.set_var("_", rec.to_value());
                        let r = self.exec_block(&c.body, out);
                        self.set_var("_", saved.unwrap_or(Value::Null));
                        r
                    }
                    None => Err(Flow::Error(rec)),
                }
            }
            other => other,
        };
        if let Some(f) = finally {
            self.exec_block(f, out)?;
        }
        r
    }

    /// Output of a statement as one value (0 items → $null, 1 → the item, more → an array).
    ///
    /// A lone expression keeps its value as it is (`$a = @()` is an empty array, `$a = @(1)` an
    /// array of one); a statement-terminating error ends the enclosing statement too.
    /// An `if`/`while`/`do`/`for` condition: a pipeline like any other, so it sets `$?` (after
    /// `cmd /c exit 3; if ($LASTEXITCODE -ne 0) { … }` a script's `$?` is true again, and
    /// `powershell -Command` exits 0 if nothing later fails).
    fn condition(&mut self, st: &Statement) -> Res<bool> {
        self.last_ok = true;
        let value = self.eval_statement(st)?;
        self.dollar_q = self.last_ok;
        Ok(to_bool(&value))
    }

    pub fn eval_statement(&mut self, st: &Statement) -> Res<Value> {
        if let Some(e) = pure_expression(st) {
            return self.eval(e);
        }
        let mut o = Out::collect();
        self.exec_statement_inner(st, &mut o)
            .map_err(|f| add_span(f, st.span))?;
        Ok(unwrap_output(o.items))
    }

    // ----- assignment ------------------------------------------------------------------------

    fn assign(&mut self, target: &Expr, op: AssignOp, value: &Statement) -> Res<()> {
        let rhs = self.eval_statement(value)?;
        let new = if op == AssignOp::Assign {
            rhs
        } else {
            let cur = self.eval(target)?;
            let r = match op {
                AssignOp::Add => ops::add(&cur, &rhs),
                AssignOp::Subtract => ops::sub(&cur, &rhs),
                AssignOp::Multiply => ops::mul(&cur, &rhs),
                AssignOp::Divide => ops::div(&cur, &rhs),
                AssignOp::Remainder => ops::rem(&cur, &rhs),
                AssignOp::Assign => unreachable!("handled above"),
            };
            r.map_err(|e| op_err(e).with_span(target.span))?
        };
        self.store(target, new)
    }

    /// Stores a value into an assignable expression.
    pub fn store(&mut self, target: &Expr, value: Value) -> Res<()> {
        match &target.kind {
            ExprKind::Variable(p) => self.var_path_set(p, value),
            ExprKind::Convert { type_name, operand } => {
                let v = self.cast(type_name, &value, target.span)?;
                self.store(operand, v)
            }
            ExprKind::Array(targets) => {
                let items = value.into_items();
                let n = targets.len();
                for (i, t) in targets.iter().enumerate() {
                    let v = if i + 1 == n && items.len() > n {
                        Value::array(items[i..].to_vec())
                    } else {
                        items.get(i).cloned().unwrap_or(Value::Null)
                    };
                    self.store(t, v)?;
                }
                Ok(())
            }
            ExprKind::Member { target: obj, member, is_static } => {
                let name = to_string(&self.eval(member)?);
                if *is_static {
                    let ExprKind::TypeLiteral(t) = &obj.kind else {
                        return Err(ErrorRecord::runtime("static member assignment needs a type").at(target.span).into());
                    };
                    return crate::dotnet::set_static(self, &t.full_text(), &name, value).map_err(|e| e.at(target.span).into());
                }
                let o = self.eval(obj)?;
                crate::dotnet::set_member(&o, &name, value).map_err(|e| e.at(target.span).into())
            }
            ExprKind::Index { target: obj, index } => {
                let o = self.eval(obj)?;
                let i = self.eval(index)?;
                match &o {
                    Value::Hashtable(h) => {
                        h.borrow_mut().set(i, value);
                        Ok(())
                    }
                    Value::Array(a) => {
                        let mut a = a.borrow_mut();
                        let n = a.len() as i64;
                        let k = convert::to_i64(&i).map_err(|e| conv_err(e).at(target.span))?;
                        let k = if k < 0 { n + k } else { k };
                        if k < 0 || k >= n {
                            return Err(ErrorRecord::new(
                                "Index was outside the bounds of the array.",
                                "System.IndexOutOfRangeException",
                                "OperationStopped",
                                "System.IndexOutOfRangeException",
                            )
                            .at(target.span)
                            .into());
                        }
                        a[k as usize] = value;
                        Ok(())
                    }
                    _ => Err(ErrorRecord::runtime(format!("Unable to index into an object of type {}.", o.type_name())).at(target.span).into()),
                }
            }
            ExprKind::Paren(_) | ExprKind::SubExpression(_) => Err(ErrorRecord::runtime("The assignment expression is not valid.").at(target.span).into()),
            _ => Err(ErrorRecord::runtime("The assignment expression is not valid. The input to an assignment operator must be an object that is able to accept assignments, such as a variable or a property.").at(target.span).into()),
        }
    }

    // ----- pipelines -------------------------------------------------------------------------

    fn run_pipeline(&mut self, p: &ast::Pipeline, out: &mut Out) -> Res<()> {
        let n = p.elements.len();
        let mut input: Option<Vec<Value>> = None;
        for (i, el) in p.elements.iter().enumerate() {
            let last = i + 1 == n;
            let mut local = Out::collect();
            let sink: &mut Out = if last { &mut *out } else { &mut local };
            match el {
                ast::PipelineElement::Expression {
                    expr,
                    redirections,
                    span,
                } => {
                    let v = self.with_redirections(redirections, sink, |me, o| {
                        let v = me.eval(expr)?;
                        if is_increment(expr) {
                            return Ok(());
                        }
                        // An expression statement enumerates its value into the pipeline.
                        match v.enumerate() {
                            Some(items) => {
                                for it in items {
                                    me.emit(o, it);
                                }
                            }
                            None => {
                                if !(v.is_null()
                                    && (is_void_expr(expr) || is_assignment_like(expr)))
                                {
                                    me.emit(o, v);
                                }
                            }
                        }
                        Ok(())
                    });
                    v.map_err(|f| add_span(f, *span))?;
                }
                ast::PipelineElement::Command(c) => {
                    let inp = input.take();
                    self.with_redirections(&c.redirections, sink, |me, o| {
                        me.invoke_command(c, inp, o)
                    })
                    .map_err(|f| add_span(f, c.span))?;
                }
            }
            if !last {
                input = Some(local.items);
            }
        }
        Ok(())
    }

    /// Sends one value to an output sink (printed at once when the sink is the host).
    pub fn emit(&mut self, out: &mut Out, v: Value) {
        if out.to_host {
            let text = crate::format::format_values(&[v]);
            self.host.stdout(&text);
        } else {
            out.items.push(v);
        }
    }

    fn with_redirections(
        &mut self,
        redirs: &[ast::Redirection],
        out: &mut Out,
        f: impl FnOnce(&mut Self, &mut Out) -> Res<()>,
    ) -> Res<()> {
        if redirs.is_empty() {
            return f(self, out);
        }
        let mut err_mode = None;
        let mut out_target: Option<(Option<String>, bool)> = None; // (file or None for $null, append)
        let mut err_file: Option<(String, bool)> = None;
        for r in redirs {
            match r {
                ast::Redirection::Merge { from, .. } => match from {
                    ast::Stream::Error | ast::Stream::All => err_mode = Some(ErrRedirect::Merge),
                    _ => {} // other streams are not shown in a RUN log anyway
                },
                ast::Redirection::File {
                    from,
                    target,
                    append,
                    span,
                } => {
                    let dest = match &target.kind {
                        ExprKind::Variable(p) if p.is("null") => None,
                        _ => Some(to_string(&self.eval(target)?)),
                    };
                    match from {
                        ast::Stream::Output => out_target = Some((dest, *append)),
                        ast::Stream::Error => match dest {
                            None => err_mode = Some(ErrRedirect::Discard),
                            Some(d) => {
                                err_mode = Some(ErrRedirect::Merge);
                                err_file = Some((d, *append));
                            }
                        },
                        ast::Stream::All => {
                            out_target = Some((dest.clone(), *append));
                            err_mode = Some(if dest.is_none() {
                                ErrRedirect::Discard
                            } else {
                                ErrRedirect::Merge
                            });
                        }
                        _ => {
                            let _ = span;
                        }
                    }
                }
            }
        }
        let saved_merged = std::mem::take(&mut self.merged_errors);
        if let Some(m) = err_mode {
            self.err_redirect.push(m);
        }
        let mut inner = Out::collect();
        let capture = out_target.is_some() || err_mode == Some(ErrRedirect::Merge);
        let r = if capture {
            f(self, &mut inner)
        } else {
            f(self, out)
        };
        if err_mode.is_some() {
            self.err_redirect.pop();
        }
        let merged = std::mem::replace(&mut self.merged_errors, saved_merged);
        if let Some((file, append)) = err_file {
            let text = crate::format::format_values(&merged);
            crate::cmdlets::content::write_text_file(self, &file, &text, "unicode", append)?;
        } else if !merged.is_empty() && out_target.is_none() {
            for m in merged.iter().cloned() {
                self.emit(out, m);
            }
        }
        if capture {
            match out_target {
                Some((None, _)) => {}
                Some((Some(file), append)) => {
                    let mut items = inner.items;
                    if err_mode == Some(ErrRedirect::Merge) {
                        items.extend(merged);
                    }
                    let text = crate::format::format_values(&items);
                    crate::cmdlets::content::write_text_file(
                        self, &file, &text, "unicode", append,
                    )?;
                }
                None => {
                    for it in inner.items {
                        self.emit(out, it);
                    }
                }
            }
        }
        r
    }

    // ----- commands --------------------------------------------------------------------------

    fn invoke_command(
        &mut self,
        c: &ast::Command,
        input: Option<Vec<Value>>,
        out: &mut Out,
    ) -> Res<()> {
        match &c.name {
            ast::CommandName::Word { name, span } => {
                let lname = lc(name);
                if c.invocation != ast::Invocation::DotSource {
                    if let Some(f) = self.functions.get(&lname).cloned() {
                        let args = self.eval_args(&c.args)?;
                        return self.call_function(&f, args, input, out, true);
                    }
                }
                if let Some(info) = crate::catalog::find_cmdlet(name) {
                    let args = self.eval_args(&c.args)?;
                    return crate::cmdlets::invoke(self, info, name, args, input, out, c.span);
                }
                if let Some(f) = self.functions.get(&lname).cloned() {
                    let args = self.eval_args(&c.args)?;
                    return self.call_function(&f, args, input, out, false);
                }
                if lname.ends_with(".ps1") {
                    let args = self.eval_args(&c.args)?;
                    return self.run_ps1(name, *span, args, input, out, c.invocation);
                }
                let args = self.native_args(&c.args)?;
                self.run_native_word(name, *span, args, input, out, c.invocation)
            }
            ast::CommandName::Expr(e) => {
                let target = self.eval(e)?;
                match target {
                    Value::ScriptBlock(sb) => {
                        let args = self.eval_args(&c.args)?;
                        let f = Function {
                            name: "<ScriptBlock>".into(),
                            block: sb,
                            is_filter: false,
                        };
                        self.call_function(
                            &f,
                            args,
                            input,
                            out,
                            c.invocation != ast::Invocation::DotSource,
                        )
                    }
                    other => {
                        let name = to_string(&other);
                        if let Some(f) = self.functions.get(&lc(&name)).cloned() {
                            let args = self.eval_args(&c.args)?;
                            return self.call_function(&f, args, input, out, true);
                        }
                        if let Some(info) = crate::catalog::find_cmdlet(&name) {
                            let args = self.eval_args(&c.args)?;
                            return crate::cmdlets::invoke(
                                self, info, &name, args, input, out, c.span,
                            );
                        }
                        if lc(&name).ends_with(".ps1") {
                            let args = self.eval_args(&c.args)?;
                            return self.run_ps1(&name, e.span, args, input, out, c.invocation);
                        }
                        let args = self.native_args(&c.args)?;
                        self.run_native_word(&name, e.span, args, input, out, c.invocation)
                    }
                }
            }
        }
    }

    /// Evaluates command arguments for cmdlets and functions (splats expanded).
    fn eval_args(&mut self, args: &[CommandArg]) -> Res<Vec<Arg>> {
        let mut out = Vec::new();
        for a in args {
            match a {
                CommandArg::Parameter { name, value, span } => {
                    let v = match value {
                        Some(e) => Some(self.eval(e)?),
                        None => None,
                    };
                    out.push(Arg::Named {
                        name: name.clone(),
                        value: v,
                        colon: value.is_some(),
                        span: *span,
                    });
                }
                CommandArg::Value(e) => {
                    let v = self.eval(e)?;
                    out.push(Arg::Positional(v, e.span));
                }
                CommandArg::Splat { variable, span } => {
                    let v = self.var_path_get(variable)?;
                    match v {
                        Value::Hashtable(h) => {
                            for (k, v) in h.borrow().entries.iter() {
                                let colon = true;
                                let name = to_string(k);
                                let value = match v {
                                    Value::Bool(_) => Some(v.clone()),
                                    _ => Some(v.clone()),
                                };
                                out.push(Arg::Named {
                                    name,
                                    value,
                                    colon,
                                    span: *span,
                                });
                            }
                        }
                        Value::Array(a) => {
                            for v in a.borrow().iter() {
                                out.push(Arg::Positional(v.clone(), *span));
                            }
                        }
                        Value::Null => {}
                        other => out.push(Arg::Positional(other, *span)),
                    }
                }
                CommandArg::StopParsing { span, .. } => {
                    return Err(ErrorRecord::runtime(
                        "--% (stop-parsing) is not supported by this engine",
                    )
                    .at(*span)
                    .into());
                }
            }
        }
        Ok(out)
    }

    /// Evaluates arguments for a native program: each becomes one or more strings.
    /// Evaluates arguments for a native program into command-line pieces, quoted as 5.1 does:
    /// an array written with commas (`-S host,1433`) is one argument joined by commas, an array
    /// value (`$list`) one argument per element; `-name:value` keeps the value next to the name.
    fn native_args(&mut self, args: &[CommandArg]) -> Res<Vec<String>> {
        use crate::cmdlets::process::quote_arg;
        let mut out = Vec::new();
        for a in args {
            match a {
                CommandArg::Parameter { name, value, .. } => match value {
                    Some(e) => {
                        let v = self.eval(e)?;
                        out.push(format!("-{name}:{}", quote_arg(&native_text(&v))));
                    }
                    None => out.push(format!("-{name}")),
                },
                CommandArg::Value(e) => {
                    let v = self.eval(e)?;
                    match (&e.kind, &v) {
                        (ExprKind::Array(_), Value::Array(items)) => {
                            let parts: Vec<String> = items
                                .borrow()
                                .iter()
                                .map(|it| quote_arg(&native_text(it)))
                                .collect();
                            out.push(parts.join(","));
                        }
                        (_, Value::Array(items)) => {
                            for it in items.borrow().iter() {
                                out.push(quote_arg(&native_text(it)));
                            }
                        }
                        (_, other) => out.push(quote_arg(&native_text(other))),
                    }
                }
                CommandArg::Splat { variable, .. } => {
                    let v = self.var_path_get(variable)?;
                    match v {
                        Value::Hashtable(h) => {
                            for (k, v) in h.borrow().entries.iter() {
                                out.push(format!(
                                    "-{}:{}",
                                    to_string(k),
                                    quote_arg(&native_text(v))
                                ));
                            }
                        }
                        other => {
                            for it in other.into_items() {
                                out.push(quote_arg(&native_text(&it)));
                            }
                        }
                    }
                }
                CommandArg::StopParsing { span, .. } => {
                    return Err(ErrorRecord::runtime(
                        "--% (stop-parsing) is not supported by this engine",
                    )
                    .at(*span)
                    .into());
                }
            }
        }
        Ok(out)
    }

    fn run_native_word(
        &mut self,
        name: &str,
        span: ast::Span,
        args: Vec<String>,
        input: Option<Vec<Value>>,
        out: &mut Out,
        invocation: ast::Invocation,
    ) -> Res<()> {
        let resolved = crate::cmdlets::process::resolve_program(self, name);
        let Some(program) = resolved else {
            return Err(command_not_found(name, span).into());
        };
        if program.to_ascii_lowercase().ends_with(".ps1") {
            let args = args
                .into_iter()
                .map(|a| Arg::Positional(Value::string(a), span))
                .collect();
            return self.run_ps1(&program, span, args, input, out, invocation);
        }
        if input.as_ref().is_some_and(|i| !i.is_empty()) {
            return Err(ErrorRecord::runtime(format!(
                "piping objects into the native program {name} is not supported by this engine"
            ))
            .at(span)
            .into());
        }
        let capture = !out.to_host;
        let code = crate::cmdlets::process::run_native(self, &program, &args, capture, out)?;
        self.set_var_in(0, "LASTEXITCODE", Value::Int(code));
        self.last_ok = code == 0;
        Ok(())
    }

    /// Runs a `.ps1` file (about_Scripts): in a script scope of its own (`& .\x.ps1`,
    /// `.\x.ps1`) or the caller's (`. .\x.ps1`), its arguments bound to its `param()` block or
    /// left in `$args`, `$PSScriptRoot`/`$PSCommandPath`/`$MyInvocation` naming the file. `exit
    /// N` ends the file only: `$LASTEXITCODE` becomes N and `$?` whether N is 0.
    fn run_ps1(
        &mut self,
        win_path: &str,
        span: ast::Span,
        args: Vec<Arg>,
        input: Option<Vec<Value>>,
        out: &mut Out,
        invocation: ast::Invocation,
    ) -> Res<()> {
        let not_found = || command_not_found(win_path, span);
        let Ok(crate::winfs::Target::File(w)) = crate::winfs::resolve(&self.cwd, win_path) else {
            return Err(not_found().into());
        };
        let drive_c = self.host.drive_c().to_path_buf();
        let bytes = std::fs::read(w.unix(&drive_c)).map_err(|_| not_found())?;
        let text = crate::cmdlets::content::decode_text(&bytes);
        // The step's check read this file already; checking it again here covers a file the
        // script changed or a location it moved to before the call.
        let cwd = self.cwd.clone();
        let files = |p: &str| read_script_file(&drive_c, &cwd, p);
        let prepared = prepare_with_files(&text, &files).map_err(|d| {
            ErrorRecord::runtime(format!(
                "{}: {}",
                w.display(),
                d.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
            .at(span)
        })?;
        let block = Rc::new(ast::ScriptBlock {
            param: prepared.script.param.clone(),
            body: prepared.script.body.clone(),
            text: text.clone(),
            span: prepared.script.span,
        });
        let f = Function {
            name: w.name(),
            block,
            is_filter: false,
        };
        let path = w.display();
        let root = w.parent().map(|p| p.display()).unwrap_or_default();
        let my_command = Object::new(
            ObjKind::Custom,
            "System.Management.Automation.ExternalScriptInfo",
        )
        .with("Name", Value::string(w.name()))
        .with("Path", Value::string(path.clone()))
        .with("Definition", Value::string(path.clone()))
        .with("Source", Value::string(path.clone()))
        .with("CommandType", Value::str("ExternalScript"));
        let my_invocation = Object::new(
            ObjKind::Custom,
            "System.Management.Automation.InvocationInfo",
        )
        .with("MyCommand", Value::object(my_command))
        .with("InvocationName", Value::string(win_path.to_string()))
        .with("ScriptName", Value::str(""))
        .with("PSScriptRoot", Value::str(""))
        .with("PSCommandPath", Value::Null)
        .with("BoundParameters", Value::hashtable(Hashtable::new(false)))
        .with("UnboundArguments", Value::array(Vec::new()));
        let script_vars = [
            ("PSScriptRoot", Value::string(root)),
            ("PSCommandPath", Value::string(path)),
            ("MyInvocation", Value::object(my_invocation)),
        ];
        let dot_source = invocation == ast::Invocation::DotSource;
        // Dot-sourced, the file runs in the caller's scope; its automatic variables are the
        // caller's again afterwards.
        let saved_vars: Vec<(&str, Option<Value>)> = if dot_source {
            script_vars
                .iter()
                .map(|(k, _)| {
                    (
                        *k,
                        self.scopes
                            .last()
                            .and_then(|s| s.get(&lc(k)))
                            .map(|(_, v)| v.clone()),
                    )
                })
                .collect()
        } else {
            self.scopes.push(HashMap::new());
            Vec::new()
        };
        let saved_script_scope = self.script_scope;
        if !dot_source {
            self.script_scope = self.scopes.len() - 1;
        }
        for (k, v) in script_vars {
            self.set_var(k, v);
        }
        // Positions in the .ps1 refer to its own text.
        let saved_source = std::mem::replace(&mut self.source, Rc::from(text.as_str()));
        let r = self.call_function(&f, args, input, out, false);
        self.source = saved_source;
        self.script_scope = saved_script_scope;
        if dot_source {
            for (k, v) in saved_vars {
                match v {
                    Some(v) => self.set_var(k, v),
                    None => {
                        let top = self.scopes.len() - 1;
                        self.scopes[top].remove(&lc(k));
                    }
                }
            }
        } else {
            self.scopes.pop();
        }
        match r {
            Err(Flow::Exit(code)) => {
                self.set_var_in(0, "LASTEXITCODE", Value::Int(code));
                self.last_ok = code == 0;
                Ok(())
            }
            other => other,
        }
    }

    /// Calls a function or script block with bound arguments and pipeline input.
    pub fn call_function(
        &mut self,
        f: &Function,
        args: Vec<Arg>,
        input: Option<Vec<Value>>,
        out: &mut Out,
        new_scope: bool,
    ) -> Res<()> {
        if self.depth >= MAX_CALL_DEPTH {
            return Err(ErrorRecord::new(
                "The script failed due to call depth overflow.",
                "System.Management.Automation.ScriptCallDepthException",
                "InvalidOperation",
                "CallDepthOverflow",
            )
            .into());
        }
        self.depth += 1;
        if new_scope {
            self.scopes.push(HashMap::new());
        }
        let saved_underscore = if new_scope {
            None
        } else {
            Some(self.get_var("_"))
        };
        let r = self.call_function_inner(f, args, input, out);
        if new_scope {
            self.scopes.pop();
        } else if let Some(s) = saved_underscore {
            self.set_var("_", s.unwrap_or(Value::Null));
        }
        self.depth -= 1;
        match r {
            Err(Flow::Return) => Ok(()),
            other => other,
        }
    }

    fn call_function_inner(
        &mut self,
        f: &Function,
        args: Vec<Arg>,
        input: Option<Vec<Value>>,
        out: &mut Out,
    ) -> Res<()> {
        let block = f.block.clone();
        let mut rest = Vec::new();
        let mut common_action = None;
        match &block.param {
            Some(p) => {
                let ea = self.bind_params(p, &args, &mut rest)?;
                common_action = ea;
            }
            None => {
                for a in args {
                    match a {
                        Arg::Positional(v, _) => rest.push(v),
                        Arg::Named { name, value, .. } => {
                            rest.push(Value::string(format!("-{name}")));
                            if let Some(v) = value {
                                rest.push(v);
                            }
                        }
                    }
                }
            }
        }
        self.set_var("args", Value::array(rest));
        if let Some(a) = common_action {
            self.set_var("ErrorActionPreference", Value::string(format!("{a:?}")));
        }
        let input = input.unwrap_or_default();
        self.set_var("input", Value::array(input.clone()));
        let body = &block.body;
        if f.is_filter {
            for item in &input {
                self.set_var("_", item.clone());
                self.exec_block(&body.end, out)?;
            }
            return Ok(());
        }
        if body.process.is_some() {
            let pipe = block.param.as_ref().and_then(pipeline_parameter);
            return self.exec_body(body, out, &input, pipe.as_deref());
        }
        self.exec_body(body, out, &[], None)
    }

    /// Binds arguments to a `param()` block in the current scope; returns unbound positional
    /// values (into `rest`) and the `-ErrorAction` given to an advanced function.
    fn bind_params(
        &mut self,
        p: &ast::ParamBlock,
        args: &[Arg],
        rest: &mut Vec<Value>,
    ) -> Res<Option<Action>> {
        let mut bound: Vec<Option<Value>> = vec![None; p.parameters.len()];
        let is_switch = |prm: &ast::Parameter| {
            prm.attributes.iter().any(|a| matches!(a, ast::AttributeOrType::Type(t) if t.name.eq_ignore_ascii_case("switch") || t.name.eq_ignore_ascii_case("System.Management.Automation.SwitchParameter")))
        };
        let mut ea = None;
        let mut i = 0;
        let mut positional: Vec<Value> = Vec::new();
        while i < args.len() {
            match &args[i] {
                Arg::Named {
                    name, value, span, ..
                } => {
                    let l = lc(name);
                    let exact = p.parameters.iter().position(|x| lc(&x.name) == l);
                    let idx = exact.or_else(|| {
                        let c: Vec<usize> = p
                            .parameters
                            .iter()
                            .enumerate()
                            .filter(|(_, x)| lc(&x.name).starts_with(&l))
                            .map(|(i, _)| i)
                            .collect();
                        (c.len() == 1).then(|| c[0])
                    });
                    match idx {
                        Some(k) => {
                            let v = if is_switch(&p.parameters[k]) {
                                value
                                    .clone()
                                    .map(|v| Value::Bool(to_bool(&v)))
                                    .unwrap_or(Value::Bool(true))
                            } else if let Some(v) = value {
                                v.clone()
                            } else {
                                i += 1;
                                match args.get(i) {
                                    Some(Arg::Positional(v, _)) => v.clone(),
                                    _ => {
                                        return Err(ErrorRecord::new(
                                            format!("Missing an argument for parameter '{}'. Specify a parameter of type 'System.Object' and try again.", p.parameters[k].name),
                                            "System.Management.Automation.ParameterBindingException",
                                            "InvalidArgument",
                                            "MissingArgument",
                                        )
                                        .at(*span)
                                        .into())
                                    }
                                }
                            };
                            bound[k] = Some(v);
                        }
                        None if "erroraction".starts_with(&l) && l.len() >= 2 || l == "ea" => {
                            let v = match value {
                                Some(v) => v.clone(),
                                None => {
                                    i += 1;
                                    match args.get(i) {
                                        Some(Arg::Positional(v, _)) => v.clone(),
                                        _ => Value::Null,
                                    }
                                }
                            };
                            ea = Action::parse(&to_string(&v));
                        }
                        None if is_advanced(p) => {
                            if matches!(l.as_str(), "verbose" | "debug" | "whatif" | "confirm") {
                                // accepted common switches
                            } else {
                                return Err(ErrorRecord::new(
                                    format!("A parameter cannot be found that matches parameter name '{name}'."),
                                    "System.Management.Automation.ParameterBindingException",
                                    "InvalidArgument",
                                    "NamedParameterNotFound",
                                )
                                .at(*span)
                                .into());
                            }
                        }
                        None => {
                            rest.push(Value::string(format!("-{name}")));
                            if let Some(v) = value {
                                rest.push(v.clone());
                            }
                        }
                    }
                }
                Arg::Positional(v, _) => positional.push(v.clone()),
            }
            i += 1;
        }
        // Positional binding: explicit Position first, then declaration order (non-switch).
        let mut order: Vec<(i64, usize)> = p
            .parameters
            .iter()
            .enumerate()
            .filter(|(_, x)| !is_switch(x))
            .map(|(k, x)| (param_position(x).unwrap_or(1000 + k as i64), k))
            .collect();
        order.sort();
        let mut pos_iter = positional.into_iter();
        for (_, k) in order {
            if bound[k].is_some() {
                continue;
            }
            match pos_iter.next() {
                Some(v) => bound[k] = Some(v),
                None => break,
            }
        }
        rest.extend(pos_iter);
        for (k, prm) in p.parameters.iter().enumerate() {
            let v = match bound[k].take() {
                Some(v) => v,
                None => {
                    if is_mandatory(prm) {
                        return Err(ErrorRecord::new(
                            format!("Cannot process command because of one or more missing mandatory parameters: {}.", prm.name),
                            "System.Management.Automation.ParameterBindingException",
                            "InvalidArgument",
                            "MissingMandatoryParameter",
                        )
                        .at(prm.span)
                        .into());
                    }
                    match &prm.default {
                        Some(e) => self.eval(e)?,
                        None if is_switch(prm) => Value::Bool(false),
                        None => Value::Null,
                    }
                }
            };
            let v = match param_type(prm) {
                Some(t) if !is_switch(prm) && !v.is_null() => self.cast(t, &v, prm.span)?,
                _ => v,
            };
            self.set_var(&prm.name, v);
        }
        Ok(ea)
    }

    /// `[T]$v`.
    pub fn cast(&mut self, t: &ast::TypeName, v: &Value, span: ast::Span) -> Res<Value> {
        let name = t.full_text();
        let canon = convert::canonical_type(&name).ok_or_else(|| {
            ErrorRecord::runtime(format!("Unable to find type [{name}].")).at(span)
        })?;
        convert::convert_to(v, &canon).map_err(|e| {
            ErrorRecord::new(
                e.0,
                "System.Management.Automation.PSInvalidCastException",
                "InvalidArgument",
                "InvalidCastFromStringToInteger",
            )
            .at(span)
            .into()
        })
    }

    /// Runs a script block in the current scope with `$_` = `item` and returns its output as
    /// one value (Where-Object conditions, switch conditions, calculated properties).
    pub fn invoke_block_here(&mut self, sb: &ast::ScriptBlock, item: &Value) -> Res<Value> {
        let mut o = Out::collect();
        self.run_block_with_item(sb, item, &mut o)?;
        Ok(unwrap_output(o.items))
    }

    /// Runs a script block in the current scope with `$_` set (ForEach-Object).
    pub fn run_block_with_item(
        &mut self,
        sb: &ast::ScriptBlock,
        item: &Value,
        out: &mut Out,
    ) -> Res<()> {
        let saved = self.get_var("_");
        self.set_var("_", item.clone());
        let r = self.exec_block(&sb.body.end, out);
        self.set_var("_", saved.unwrap_or(Value::Null));
        match r {
            Err(Flow::Return) => Ok(()),
            other => other,
        }
    }

    /// `$sb.Invoke(args)` / `& $sb args` from .NET-ish call sites: child scope, output collected.
    pub fn invoke_scriptblock(
        &mut self,
        sb: Rc<ast::ScriptBlock>,
        args: Vec<Value>,
    ) -> Res<Vec<Value>> {
        let f = Function {
            name: "<ScriptBlock>".into(),
            block: sb,
            is_filter: false,
        };
        let mut o = Out::collect();
        let args = args
            .into_iter()
            .map(|v| Arg::Positional(v, ast::Span::default()))
            .collect();
        self.call_function(&f, args, None, &mut o, true)?;
        Ok(o.items)
    }

    /// Runs PowerShell text (Invoke-Expression) in the current scope.
    pub fn run_text(&mut self, text: &str, out: &mut Out) -> Res<()> {
        let prepared = crate::prepare(text).map_err(|d| {
            ErrorRecord::runtime(format!(
                "Invoke-Expression: {}",
                d.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })?;
        let saved = std::mem::replace(&mut self.source, Rc::from(text));
        let r = self.exec_body(&prepared.script.body, out, &[], None);
        self.source = saved;
        r
    }

    // ----- expressions -----------------------------------------------------------------------

    pub fn eval(&mut self, e: &Expr) -> Res<Value> {
        self.eval_inner(e).map_err(|f| add_span(f, e.span))
    }

    fn eval_inner(&mut self, e: &Expr) -> Res<Value> {
        Ok(match &e.kind {
            ExprKind::Number(n) => match *n {
                ast::Number::Int(i) => Value::Int(i),
                ast::Number::Long(i) => Value::Long(i),
                ast::Number::Double(d) => Value::Double(d),
                ast::Number::Decimal { mantissa, scale } => {
                    Value::Decimal(mantissa as f64 / 10f64.powi(scale as i32))
                }
            },
            ExprKind::String { value, .. } => Value::str(value),
            ExprKind::ExpandableString { parts, .. } => {
                let mut s = String::new();
                for p in parts {
                    match p {
                        ast::StringPart::Literal(t) => s.push_str(t),
                        ast::StringPart::Variable { path, .. } => {
                            let v = self.var_path_get(path)?;
                            s.push_str(&self.to_string_ofs(&v));
                        }
                        ast::StringPart::SubExpression(b) => {
                            let mut o = Out::collect();
                            self.exec_block(b, &mut o)?;
                            let v = unwrap_output(o.items);
                            s.push_str(&self.to_string_ofs(&v));
                        }
                    }
                }
                Value::string(s)
            }
            ExprKind::Variable(p) => self.var_path_get(p)?,
            ExprKind::Array(items) => {
                let mut v = Vec::with_capacity(items.len());
                for it in items {
                    v.push(self.eval(it)?);
                }
                Value::array(v)
            }
            ExprKind::ArrayExpression(b) => {
                let mut o = Out::collect();
                self.exec_block(b, &mut o)?;
                Value::array(o.items)
            }
            ExprKind::SubExpression(b) => {
                let mut o = Out::collect();
                self.exec_block(b, &mut o)?;
                unwrap_output(o.items)
            }
            ExprKind::Paren(st) => {
                // `($x = 1)` yields the assigned value.
                if let StatementKind::Assignment { target, .. } = &st.kind {
                    self.exec_discard(st)?;
                    return self.eval(target);
                }
                self.eval_statement(st)?
            }
            ExprKind::Hashtable { entries, ordered } => {
                let mut h = Hashtable::new(*ordered);
                for (k, v) in entries {
                    let key = self.eval(k)?;
                    let val = self.eval_statement(v)?;
                    if h.contains(&key) {
                        return Err(ErrorRecord::runtime(format!(
                            "Duplicate keys '{}' are not allowed in hash literals.",
                            to_string(&key)
                        ))
                        .at(k.span)
                        .into());
                    }
                    h.set(key, val);
                }
                Value::hashtable(h)
            }
            ExprKind::ScriptBlock(sb) => Value::ScriptBlock(Rc::new((**sb).clone())),
            ExprKind::Unary { op, operand } => self.eval_unary(*op, operand)?,
            ExprKind::Binary { op, left, right } => self.eval_binary(*op, left, right)?,
            ExprKind::Convert { type_name, operand } => {
                let v = self.eval(operand)?;
                if type_name.name.eq_ignore_ascii_case("void") {
                    return Ok(Value::Null);
                }
                self.cast(type_name, &v, e.span)?
            }
            ExprKind::TypeLiteral(t) => {
                let name = t.full_text();
                let canon = convert::canonical_type(&name).ok_or_else(|| {
                    ErrorRecord::runtime(format!("Unable to find type [{name}]."))
                })?;
                Value::Type(Rc::from(canon.as_str()))
            }
            ExprKind::Member {
                target,
                member,
                is_static,
            } => {
                let name = to_string(&self.eval(member)?);
                if *is_static {
                    let tname = match &target.kind {
                        ExprKind::TypeLiteral(t) => t.full_text(),
                        _ => match self.eval(target)? {
                            Value::Type(t) => t.to_string(),
                            _ => {
                                return Err(ErrorRecord::runtime(
                                    "static member access needs a type",
                                )
                                .into())
                            }
                        },
                    };
                    crate::dotnet::get_static(self, &tname, &name)?
                } else {
                    let o = self.eval(target)?;
                    crate::dotnet::get_member(self, &o, &name)?
                }
            }
            ExprKind::InvokeMember {
                target,
                member,
                args,
                is_static,
            } => {
                let name = to_string(&self.eval(member)?);
                let mut av = Vec::with_capacity(args.len());
                for a in args {
                    av.push(self.eval(a)?);
                }
                if *is_static {
                    let tname = match &target.kind {
                        ExprKind::TypeLiteral(t) => t.full_text(),
                        _ => match self.eval(target)? {
                            Value::Type(t) => t.to_string(),
                            _ => {
                                return Err(
                                    ErrorRecord::runtime("static method call needs a type").into()
                                )
                            }
                        },
                    };
                    crate::dotnet::invoke_static(self, &tname, &name, av)?
                } else {
                    let o = self.eval(target)?;
                    crate::dotnet::invoke_method(self, &o, &name, av)?
                }
            }
            ExprKind::Index { target, index } => {
                let o = self.eval(target)?;
                let i = self.eval(index)?;
                index_value(&o, &i)?
            }
        })
    }

    /// `[string]$v` honouring `$OFS`.
    pub fn to_string_ofs(&self, v: &Value) -> String {
        match self.get_var("OFS") {
            Some(ofs) if !ofs.is_null() => convert::to_string_ofs(v, &to_string(&ofs)),
            _ => to_string(v),
        }
    }

    fn eval_unary(&mut self, op: UnaryOp, operand: &Expr) -> Res<Value> {
        match op {
            UnaryOp::Not => Ok(Value::Bool(!to_bool(&self.eval(operand)?))),
            UnaryOp::BNot => ops::bnot(&self.eval(operand)?).map_err(|e| op_err(e).into()),
            UnaryOp::Negate => ops::negate(&self.eval(operand)?).map_err(|e| op_err(e).into()),
            UnaryOp::Plus => {
                let v = self.eval(operand)?;
                convert::to_number(&v).map_err(|e| conv_err(e).into())
            }
            UnaryOp::Split { .. } => Ok(ops::split_unary(&self.eval(operand)?)),
            UnaryOp::Join => Ok(ops::join(&self.eval(operand)?, "")),
            UnaryOp::PreIncrement
            | UnaryOp::PreDecrement
            | UnaryOp::PostIncrement
            | UnaryOp::PostDecrement => {
                let cur = self.eval(operand)?;
                let delta = if matches!(op, UnaryOp::PreIncrement | UnaryOp::PostIncrement) {
                    1
                } else {
                    -1
                };
                let new = ops::add(
                    &if cur.is_null() {
                        Value::Int(0)
                    } else {
                        cur.clone()
                    },
                    &Value::Int(delta),
                )
                .map_err(op_err)?;
                self.store(operand, new.clone())?;
                Ok(
                    if matches!(op, UnaryOp::PreIncrement | UnaryOp::PreDecrement) {
                        new
                    } else {
                        cur
                    },
                )
            }
        }
    }

    fn eval_binary(&mut self, op: BinaryOp, left: &Expr, right: &Expr) -> Res<Value> {
        // Short-circuit logic first.
        match op {
            BinaryOp::And => {
                let l = to_bool(&self.eval(left)?);
                return Ok(Value::Bool(l && to_bool(&self.eval(right)?)));
            }
            BinaryOp::Or => {
                let l = to_bool(&self.eval(left)?);
                return Ok(Value::Bool(l || to_bool(&self.eval(right)?)));
            }
            _ => {}
        }
        let a = self.eval(left)?;
        let b = self.eval(right)?;
        let r = match op {
            BinaryOp::Add => ops::add(&a, &b),
            BinaryOp::Subtract => ops::sub(&a, &b),
            BinaryOp::Multiply => ops::mul(&a, &b),
            BinaryOp::Divide => ops::div(&a, &b),
            BinaryOp::Remainder => ops::rem(&a, &b),
            BinaryOp::Range => {
                let x = convert::to_i64(&a).map_err(conv_err)?;
                let y = convert::to_i64(&b).map_err(conv_err)?;
                if (x - y).abs() > 50_000_000 {
                    return Err(
                        ErrorRecord::runtime("The range is too large for this engine.").into(),
                    );
                }
                let v: Vec<Value> = if x <= y {
                    (x..=y).map(|n| Value::Int(n as i32)).collect()
                } else {
                    (y..=x).rev().map(|n| Value::Int(n as i32)).collect()
                };
                Ok(Value::array(v))
            }
            BinaryOp::Format => {
                let args = match &b {
                    Value::Array(x) => x.borrow().clone(),
                    other => vec![other.clone()],
                };
                ops::format(&to_string(&a), &args)
            }
            BinaryOp::Xor => Ok(Value::Bool(to_bool(&a) != to_bool(&b))),
            BinaryOp::BAnd => ops::bitwise("band", &a, &b),
            BinaryOp::BOr => ops::bitwise("bor", &a, &b),
            BinaryOp::BXor => ops::bitwise("bxor", &a, &b),
            BinaryOp::Shl => ops::bitwise("shl", &a, &b),
            BinaryOp::Shr => ops::bitwise("shr", &a, &b),
            BinaryOp::Is | BinaryOp::IsNot => {
                let t = type_of_operand(&b)?;
                let r = ops::is_type(&a, &t);
                Ok(Value::Bool(if op == BinaryOp::Is { r } else { !r }))
            }
            BinaryOp::As => {
                let t = type_of_operand(&b)?;
                Ok(convert::convert_to(&a, &t).unwrap_or(Value::Null))
            }
            BinaryOp::Join => Ok(ops::join(&a, &to_string(&b))),
            BinaryOp::And | BinaryOp::Or => unreachable!("short-circuited above"),
            BinaryOp::Compare { op, case } => {
                let cs = case.is_sensitive();
                match op {
                    CompareOp::Eq => ops::comparison(Cmp::Eq, &a, &b, cs),
                    CompareOp::Ne => ops::comparison(Cmp::Ne, &a, &b, cs),
                    CompareOp::Gt => ops::comparison(Cmp::Gt, &a, &b, cs),
                    CompareOp::Ge => ops::comparison(Cmp::Ge, &a, &b, cs),
                    CompareOp::Lt => ops::comparison(Cmp::Lt, &a, &b, cs),
                    CompareOp::Le => ops::comparison(Cmp::Le, &a, &b, cs),
                    CompareOp::Like => ops::comparison(Cmp::Like, &a, &b, cs),
                    CompareOp::NotLike => ops::comparison(Cmp::NotLike, &a, &b, cs),
                    CompareOp::Match | CompareOp::NotMatch => {
                        let neg = op == CompareOp::NotMatch;
                        let (r, m) = ops::match_op(&a, &b, cs, neg).map_err(op_err)?;
                        if let Some(m) = m {
                            self.set_var("Matches", Value::hashtable(m));
                        }
                        Ok(r)
                    }
                    CompareOp::Replace => {
                        let (pat, rep) = match &b {
                            Value::Array(x) => {
                                let x = x.borrow();
                                (
                                    x.first().cloned().unwrap_or(Value::Null),
                                    x.get(1).cloned().unwrap_or(Value::str("")),
                                )
                            }
                            other => (other.clone(), Value::str("")),
                        };
                        ops::replace(&a, &pat, &rep, cs)
                    }
                    CompareOp::Split => {
                        let (pat, max) = match &b {
                            Value::Array(x) => {
                                let x = x.borrow();
                                (
                                    x.first().cloned().unwrap_or(Value::Null),
                                    x.get(1).map(|m| convert::to_i64(m).unwrap_or(0)),
                                )
                            }
                            other => (other.clone(), None),
                        };
                        ops::split(&a, &pat, max, cs)
                    }
                    CompareOp::Contains => Ok(Value::Bool(ops::contains(&a, &b, cs))),
                    CompareOp::NotContains => Ok(Value::Bool(!ops::contains(&a, &b, cs))),
                    CompareOp::In => Ok(Value::Bool(ops::contains(&b, &a, cs))),
                    CompareOp::NotIn => Ok(Value::Bool(!ops::contains(&b, &a, cs))),
                }
            }
        };
        r.map_err(|e| op_err(e).into())
    }
}

/// An evaluated command argument.
#[derive(Debug, Clone)]
pub enum Arg {
    Named {
        name: String,
        value: Option<Value>,
        colon: bool,
        span: ast::Span,
    },
    Positional(Value, ast::Span),
}

fn is_advanced(p: &ast::ParamBlock) -> bool {
    p.attributes.iter().any(|a| a.name.name.eq_ignore_ascii_case("CmdletBinding"))
        || p.parameters.iter().any(|x| x.attributes.iter().any(|a| matches!(a, ast::AttributeOrType::Attribute(at) if at.name.name.eq_ignore_ascii_case("Parameter"))))
}

fn parameter_attr(p: &ast::Parameter) -> Option<&ast::Attribute> {
    p.attributes.iter().find_map(|a| match a {
        ast::AttributeOrType::Attribute(at) if at.name.name.eq_ignore_ascii_case("Parameter") => {
            Some(at)
        }
        _ => None,
    })
}

fn is_mandatory(p: &ast::Parameter) -> bool {
    parameter_attr(p).is_some_and(|a| {
        a.named.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("Mandatory")
                && match v {
                    None => true,
                    Some(e) => !matches!(&e.kind, ExprKind::Variable(vp) if vp.is("false")),
                }
        })
    })
}

/// The parameter marked `[Parameter(ValueFromPipeline)]`, if any.
fn pipeline_parameter(p: &ast::ParamBlock) -> Option<String> {
    p.parameters
        .iter()
        .find(|x| {
            parameter_attr(x).is_some_and(|a| {
                a.named.iter().any(|(n, v)| {
                    n.eq_ignore_ascii_case("ValueFromPipeline")
                        && match v {
                            None => true,
                            Some(e) => !matches!(&e.kind, ExprKind::Variable(vp) if vp.is("false")),
                        }
                })
            })
        })
        .map(|x| x.name.clone())
}

fn param_position(p: &ast::Parameter) -> Option<i64> {
    parameter_attr(p).and_then(|a| {
        a.named
            .iter()
            .find_map(|(n, v)| match (n.eq_ignore_ascii_case("Position"), v) {
                (
                    true,
                    Some(Expr {
                        kind: ExprKind::Number(ast::Number::Int(i)),
                        ..
                    }),
                ) => Some(*i as i64),
                _ => None,
            })
    })
}

fn param_type(p: &ast::Parameter) -> Option<&ast::TypeName> {
    p.attributes.iter().find_map(|a| match a {
        ast::AttributeOrType::Type(t) => Some(t),
        _ => None,
    })
}

/// The right operand of `-is`/`-as`: a type literal or a type name string.
fn type_of_operand(b: &Value) -> Res<String> {
    match b {
        Value::Type(t) => Ok(t.to_string()),
        other => {
            let n = to_string(other);
            convert::canonical_type(&n)
                .ok_or_else(|| ErrorRecord::runtime(format!("Unable to find type [{n}].")).into())
        }
    }
}

/// The expression of a statement that is a single expression without redirections.
fn pure_expression(st: &Statement) -> Option<&Expr> {
    match &st.kind {
        StatementKind::Pipeline(p) if p.elements.len() == 1 => match &p.elements[0] {
            ast::PipelineElement::Expression {
                expr, redirections, ..
            } if redirections.is_empty() => Some(expr),
            _ => None,
        },
        _ => None,
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

/// An operator failure as a statement-terminating error.
pub fn op_err(e: ops::OpError) -> ErrorRecord {
    ErrorRecord::new(
        e.0,
        "System.Management.Automation.RuntimeException",
        "InvalidOperation",
        "RuntimeException",
    )
}

pub fn conv_err(e: convert::ConvertError) -> ErrorRecord {
    ErrorRecord::new(
        e.0,
        "System.Management.Automation.PSInvalidCastException",
        "InvalidArgument",
        "InvalidCastFromStringToInteger",
    )
}

trait WithSpan {
    fn with_span(self, span: ast::Span) -> ErrorRecord;
}

impl WithSpan for ErrorRecord {
    fn with_span(self, span: ast::Span) -> ErrorRecord {
        self.at(span)
    }
}

fn add_span(f: Flow, span: ast::Span) -> Flow {
    match f {
        Flow::Error(rec) => Flow::Error(Box::new(rec.at(span))),
        other => other,
    }
}

/// An expression whose null result is not output (`[void]…`, assignments in parens).
fn is_void_expr(e: &Expr) -> bool {
    matches!(&e.kind, ExprKind::Convert { type_name, .. } if type_name.name.eq_ignore_ascii_case("void"))
}

fn is_assignment_like(e: &Expr) -> bool {
    matches!(&e.kind, ExprKind::InvokeMember { .. })
}

/// `$i++` as a statement outputs nothing.
fn is_increment(e: &Expr) -> bool {
    matches!(
        &e.kind,
        ExprKind::Unary {
            op: UnaryOp::PostIncrement
                | UnaryOp::PostDecrement
                | UnaryOp::PreIncrement
                | UnaryOp::PreDecrement,
            ..
        }
    )
}

/// A native argument's text: strings as they are, other values converted like `[string]`.
fn native_text(v: &Value) -> String {
    to_string(v)
}

/// `$o[i]`: arrays (negative indices from the end, several indices → several elements),
/// hashtables by key, strings by character.
pub fn index_value(o: &Value, i: &Value) -> Res<Value> {
    if let Value::Array(idx) = i {
        if !matches!(o, Value::Hashtable(_)) {
            let idx = idx.borrow().clone();
            let mut out = Vec::new();
            for k in idx {
                let v = index_value(o, &k)?;
                if !v.is_null() {
                    out.push(v);
                }
            }
            return Ok(Value::array(out));
        }
    }
    Ok(match o {
        Value::Null => {
            return Err(ErrorRecord::new(
                "Cannot index into a null array.",
                "System.Management.Automation.RuntimeException",
                "InvalidOperation",
                "NullArray",
            )
            .into())
        }
        Value::Hashtable(h) => h.borrow().get(i).cloned().unwrap_or(Value::Null),
        Value::Str(s) => {
            let k = convert::to_i64(i).map_err(conv_err)?;
            let chars: Vec<char> = s.chars().collect();
            let n = chars.len() as i64;
            let k = if k < 0 { n + k } else { k };
            if k < 0 || k >= n {
                Value::Null
            } else {
                Value::Char(chars[k as usize])
            }
        }
        Value::Array(_) | Value::Object(_) if o.enumerate().is_some() => {
            let items = o.enumerate().unwrap_or_default();
            let k = convert::to_i64(i).map_err(conv_err)?;
            let n = items.len() as i64;
            let k = if k < 0 { n + k } else { k };
            if k < 0 || k >= n {
                Value::Null
            } else {
                items[k as usize].clone()
            }
        }
        Value::Object(obj) => {
            let name = to_string(i);
            let b = obj.borrow();
            match b.get(&name) {
                Some(v) => v.clone(),
                None if b.kind == ObjKind::RegistryProperties || b.kind == ObjKind::Custom => {
                    Value::Null
                }
                None => {
                    return Err(ErrorRecord::runtime(format!(
                        "Unable to index into an object of type {}.",
                        b.type_name
                    ))
                    .into())
                }
            }
        }
        other => {
            // A scalar indexed by 0 is itself (PowerShell 3+), by -1 too.
            let k = convert::to_i64(i).map_err(conv_err)?;
            if k == 0 || k == -1 {
                other.clone()
            } else {
                Value::Null
            }
        }
    })
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

/// PowerShell's error for a command name that is no cmdlet, function, script file or program.
fn command_not_found(name: &str, span: ast::Span) -> ErrorRecord {
    ErrorRecord::new(
        format!("The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."),
        "System.Management.Automation.CommandNotFoundException",
        "ObjectNotFound",
        "CommandNotFoundException",
    )
    .with_target(name)
    .at(span)
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
