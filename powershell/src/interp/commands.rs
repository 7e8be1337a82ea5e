//! Commands: resolving a name (function, cmdlet or alias, native program, `.ps1` file),
//! evaluating arguments in argument mode, native program arguments and exit codes, script files.

use super::*;

impl Interp<'_> {
    pub(super) fn invoke_command(
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
    pub(super) fn eval_args(&mut self, args: &[CommandArg]) -> Res<Vec<Arg>> {
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
    pub(super) fn native_args(&mut self, args: &[CommandArg]) -> Res<Vec<String>> {
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

    pub(super) fn run_native_word(
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
    pub(super) fn run_ps1(
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
/// A native argument's text: strings as they are, other values converted like `[string]`.
pub(super) fn native_text(v: &Value) -> String {
    to_string(v)
}
/// PowerShell's error for a command name that is no cmdlet, function, script file or program.
pub(super) fn command_not_found(name: &str, span: ast::Span) -> ErrorRecord {
    ErrorRecord::new(
        format!("The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."),
        "System.Management.Automation.CommandNotFoundException",
        "ObjectNotFound",
        "CommandNotFoundException",
    )
    .with_target(name)
    .at(span)
}
