//! Cmdlets: parameter binding against the catalog (named with unambiguous prefixes and aliases,
//! switches, `-Name:value`, positions, common parameters) and dispatch to the implementations,
//! one file per group.
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

pub mod archive;
pub mod content;
pub mod items;
pub mod location;
pub mod misc;
pub mod output;
pub mod pipeline;
pub mod process;
pub mod registry;
pub mod security;
pub mod services;
pub mod web;

use crate::ast::Span;
use crate::catalog::COMMON_PARAMETERS;
use crate::check::CmdletInfo;
use crate::convert::{to_bool, to_string};
use crate::errors::ErrorRecord;
use crate::interp::{Action, Arg, Interp, Out, Res};
use crate::value::{ObjKind, Value};

/// A cmdlet call after binding.
pub struct Bound {
    pub cmdlet: &'static str,
    /// The word the script used (`mkdir`, `curl`, `Remove-Item`).
    pub invoked_as: String,
    params: Vec<(&'static str, Value)>,
    /// Pipeline input (None when the cmdlet is first in its pipeline).
    pub input: Option<Vec<Value>>,
    pub span: Span,
}

impl Bound {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn switch(&self, name: &str) -> bool {
        self.get(name).is_some_and(to_bool)
    }

    pub fn str(&self, name: &str) -> Option<String> {
        self.get(name).map(to_string)
    }

    /// A parameter that takes `string[]`: each element as a string.
    pub fn strings(&self, name: &str) -> Option<Vec<String>> {
        self.get(name).map(|v| match v {
            Value::Null => Vec::new(),
            v => v.clone().into_items().iter().map(to_string).collect(),
        })
    }

    /// An integer parameter (`-First 2`, `-Depth '3'`); a value that does not convert is the
    /// binding error PowerShell gives.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ErrorRecord> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => crate::convert::to_i64(v).map(Some).map_err(|e| {
                self.invalid(format!(
                    "Cannot bind parameter '{name}'. Cannot convert value \"{}\" to type \"System.Int32\". Error: \"{}\"",
                    to_string(v),
                    e.0
                ))
            }),
        }
    }

    /// A parameter restricted to a set of names (ValidateSet), returned in its canonical case.
    pub fn choice(
        &self,
        name: &str,
        set: &[&'static str],
    ) -> Result<Option<&'static str>, ErrorRecord> {
        let Some(v) = self.str(name) else {
            return Ok(None);
        };
        match set.iter().find(|c| c.eq_ignore_ascii_case(&v)) {
            Some(c) => Ok(Some(c)),
            None => Err(self.invalid(format!(
                "Cannot bind parameter '{name}'. Cannot convert value \"{v}\": specify one of the following values and try again: {}.",
                set.join(", ")
            ))),
        }
    }

    pub fn set(&mut self, name: &'static str, v: Value) {
        self.params.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.params.push((name, v));
    }

    /// An error of this cmdlet with its FullyQualifiedErrorId suffix.
    pub fn error(
        &self,
        message: impl Into<String>,
        exception: &str,
        category: &str,
        id: &str,
    ) -> ErrorRecord {
        ErrorRecord::cmdlet(message, exception, category, id, self.cmdlet).at(self.span)
    }

    /// A parameter value that is not acceptable (statement-terminating, like a binding error).
    pub fn invalid(&self, message: impl Into<String>) -> ErrorRecord {
        let mut e = self.error(
            message,
            "System.Management.Automation.ParameterBindingException",
            "InvalidArgument",
            "ParameterArgumentValidationError",
        );
        e.script_terminating = false;
        e
    }

    /// Something this engine refuses to do (never silently skipped).
    pub fn unsupported(&self, what: &str) -> ErrorRecord {
        self.error(
            format!("{}: {what} is not supported by this engine (use --runtime hcs on Windows, or the cmd equivalent)", self.cmdlet),
            "System.NotSupportedException",
            "NotImplemented",
            "NotSupported",
        )
    }
}

fn binding_error(cmdlet: &str, msg: String, id: &str, span: Span) -> ErrorRecord {
    ErrorRecord::new(
        msg,
        "System.Management.Automation.ParameterBindingException",
        "InvalidArgument",
        &format!(
            "{id},Microsoft.PowerShell.Commands.{}Command",
            cmdlet.replace('-', "")
        ),
    )
    .at(span)
}

/// Cmdlets whose first positional parameter takes all remaining positional values.
const REMAINING: &[(&str, &str)] = &[
    ("Write-Host", "Object"),
    ("Write-Output", "InputObject"),
    ("Join-Path", "AdditionalChildPath"),
    ("ForEach-Object", "Process"),
];

/// Common parameters given to a cmdlet (`-ErrorAction Stop`), by canonical name.
type CommonArgs = Vec<(&'static str, Value)>;

/// Binds evaluated arguments to `info`'s parameters.
fn bind(
    info: &'static CmdletInfo,
    invoked_as: &str,
    args: Vec<Arg>,
    span: Span,
) -> Result<(Bound, CommonArgs), ErrorRecord> {
    let mut bound = Bound {
        cmdlet: info.name,
        invoked_as: invoked_as.to_string(),
        params: Vec::new(),
        input: None,
        span,
    };
    let mut common: Vec<(&'static str, Value)> = Vec::new();
    let mut positional: Vec<Value> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match &args[i] {
            Arg::Positional(v, _) => positional.push(v.clone()),
            Arg::Named {
                name,
                value,
                span: pspan,
                ..
            } => {
                let l = name.to_ascii_lowercase();
                let exact = info.parameters.iter().find(|p| {
                    p.name.eq_ignore_ascii_case(&l)
                        || p.aliases.iter().any(|a| a.eq_ignore_ascii_case(&l))
                });
                let found = exact.map(|p| (p.name, p.is_switch)).or_else(|| {
                    let cands: Vec<_> = info
                        .parameters
                        .iter()
                        .filter(|p| p.name.to_ascii_lowercase().starts_with(&l))
                        .collect();
                    let common_c: Vec<_> = COMMON_PARAMETERS
                        .iter()
                        .filter(|(n, a, _)| {
                            n.to_ascii_lowercase().starts_with(&l) || a.iter().any(|x| *x == l)
                        })
                        .collect();
                    if cands.len() == 1 && common_c.is_empty() {
                        Some((cands[0].name, cands[0].is_switch))
                    } else {
                        None
                    }
                });
                let (pname, is_switch, is_common) = match found {
                    Some((n, s)) => (n, s, false),
                    None => {
                        let cands: Vec<_> = COMMON_PARAMETERS
                            .iter()
                            .filter(|(n, a, _)| {
                                n.eq_ignore_ascii_case(&l) || a.iter().any(|x| *x == l)
                            })
                            .chain(
                                COMMON_PARAMETERS
                                    .iter()
                                    .filter(|(n, _, _)| n.to_ascii_lowercase().starts_with(&l)),
                            )
                            .collect();
                        match cands.first() {
                            Some((n, _, s)) => (*n, *s, true),
                            None => {
                                return Err(binding_error(
                                    info.name,
                                    format!("A parameter cannot be found that matches parameter name '{name}'."),
                                    "NamedParameterNotFound",
                                    *pspan,
                                ))
                            }
                        }
                    }
                };
                let val = if is_switch {
                    match value {
                        Some(v) => Value::Bool(to_bool(v)),
                        None => Value::Bool(true),
                    }
                } else if let Some(v) = value {
                    v.clone()
                } else {
                    i += 1;
                    match args.get(i) {
                        Some(Arg::Positional(v, _)) => v.clone(),
                        _ => {
                            return Err(binding_error(
                                info.name,
                                format!("Missing an argument for parameter '{pname}'. Specify a parameter of type 'System.Object' and try again."),
                                "MissingArgument",
                                *pspan,
                            ))
                        }
                    }
                };
                if is_common {
                    common.push((pname, val));
                } else {
                    if bound.has(pname) {
                        return Err(binding_error(
                            info.name,
                            format!("Cannot bind parameter because parameter '{pname}' is specified more than once. To provide multiple values to parameters that can accept multiple values, use the array syntax. For example, \"-parameter value1,value2,value3\"."),
                            "ParameterAlreadyBound",
                            *pspan,
                        ));
                    }
                    bound.params.push((pname, val));
                }
            }
        }
        i += 1;
    }
    // Positional binding in position order, skipping parameters bound by name.
    let mut slots: Vec<_> = info
        .parameters
        .iter()
        .filter(|p| p.position.is_some())
        .collect();
    slots.sort_by_key(|p| p.position);
    let remaining = REMAINING
        .iter()
        .find(|(c, _)| *c == info.name)
        .map(|(_, p)| *p);
    let mut pos = positional.into_iter().peekable();
    for slot in slots {
        if pos.peek().is_none() {
            break;
        }
        if bound.has(slot.name) {
            continue;
        }
        if Some(slot.name) == remaining {
            let rest: Vec<Value> = pos.by_ref().collect();
            let v = if rest.len() == 1 {
                rest.into_iter().next().unwrap_or(Value::Null)
            } else {
                Value::array(rest)
            };
            bound.params.push((slot.name, v));
            break;
        }
        if let Some(v) = pos.next() {
            bound.params.push((slot.name, v));
        }
    }
    let extra: Vec<Value> = pos.collect();
    if let Some(first) = extra.first() {
        return Err(binding_error(
            info.name,
            format!(
                "A positional parameter cannot be found that accepts argument '{}'.",
                to_string(first)
            ),
            "PositionalParameterNotFound",
            span,
        ));
    }
    Ok((bound, common))
}

/// Runs a cmdlet: binds, applies common parameters, dispatches.
pub fn invoke(
    interp: &mut Interp,
    info: &'static CmdletInfo,
    invoked_as: &str,
    args: Vec<Arg>,
    input: Option<Vec<Value>>,
    out: &mut Out,
    span: Span,
) -> Res<()> {
    let (mut b, common) = bind(info, invoked_as, args, span)?;
    b.input = input;
    let mut action = None;
    let mut pushed_warning = false;
    for (name, v) in &common {
        match *name {
            "ErrorAction" => match Action::parse(&to_string(v)) {
                Some(a) => action = Some(a),
                None => return Err(b.invalid(format!("Cannot bind parameter 'ErrorAction' to the value \"{}\": only Continue, Stop, SilentlyContinue and Ignore are supported.", to_string(v))).into()),
            },
            "WarningAction" => {
                interp.set_var("__warningaction", v.clone());
                pushed_warning = true;
            }
            "WhatIf" if to_bool(v) => return Err(b.unsupported("-WhatIf").into()),
            "Verbose" | "Debug" | "Confirm" | "WhatIf" | "OutBuffer" | "InformationAction" => {}
            other => return Err(b.unsupported(&format!("the common parameter -{other}")).into()),
        }
    }
    if let Some(a) = action {
        interp.action_override.push(a);
    }
    interp.last_ok = true;
    let r = dispatch(interp, &b, out);
    if action.is_some() {
        interp.action_override.pop();
    }
    if pushed_warning {
        interp.remove_var("__warningaction");
    }
    r
}

fn dispatch(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    match b.cmdlet {
        "Write-Host" => output::write_host(interp, b),
        "Write-Output" => output::write_output(interp, b, out),
        "Write-Error" => output::write_error(interp, b),
        "Write-Warning" => output::write_warning(interp, b),
        "Write-Verbose" | "Write-Debug" | "Write-Information" => {
            output::write_quiet_stream(interp, b)
        }
        "Write-Progress" => Ok(()),
        "Out-Null" => Ok(()),
        "Out-String" => output::out_string(interp, b, out),
        "Out-Host" | "Out-Default" => output::out_host(interp, b),
        "Format-Table" | "Format-List" => output::format_cmd(interp, b, out),
        "Out-File" => content::out_file(interp, b),
        "Get-Content" => content::get_content(interp, b, out),
        "Set-Content" | "Add-Content" => content::set_content(interp, b, out),
        "Clear-Content" => content::clear_content(interp, b),
        "Remove-Item" => items::remove_item(interp, b),
        "New-Item" => items::new_item(interp, b, out),
        "Copy-Item" => items::copy_item(interp, b, out),
        "Move-Item" => items::move_item(interp, b, out),
        "Rename-Item" => items::rename_item(interp, b, out),
        "Test-Path" => items::test_path(interp, b, out),
        "Get-Item" => items::get_item(interp, b, out),
        "Get-ChildItem" => items::get_child_item(interp, b, out),
        "Resolve-Path" => items::resolve_path(interp, b, out),
        "Unblock-File" => items::unblock_file(interp, b),
        "Add-Type" => misc::add_type(interp, b),
        "Split-Path" => location::split_path(interp, b, out),
        "Join-Path" => location::join_path(interp, b, out),
        "Get-Location" => location::get_location(interp, b, out),
        "Set-Location" | "Push-Location" | "Pop-Location" => location::set_location(interp, b, out),
        "Get-ItemProperty" | "Get-ItemPropertyValue" => registry::get_item_property(interp, b, out),
        "Set-ItemProperty" | "New-ItemProperty" => registry::set_item_property(interp, b, out),
        "Remove-ItemProperty" => registry::remove_item_property(interp, b),
        "Set-ExecutionPolicy" => registry::set_execution_policy(interp, b),
        "Get-ExecutionPolicy" => registry::get_execution_policy(interp, b, out),
        "Invoke-WebRequest" | "Invoke-RestMethod" => web::invoke_web_request(interp, b, out),
        "Expand-Archive" => archive::expand_archive(interp, b, out),
        "Get-FileHash" => archive::get_file_hash(interp, b, out),
        "Get-Acl" => security::get_acl(interp, b, out),
        "Set-Acl" => security::set_acl(interp, b, out),
        "Stop-Service" => services::stop_service(interp, b),
        "Set-Service" => services::set_service(interp, b),
        "Start-Process" => process::start_process(interp, b, out),
        "Start-Sleep" => process::start_sleep(interp, b),
        "Get-Command" => process::get_command(interp, b, out),
        "Where-Object" => pipeline::where_object(interp, b, out),
        "ForEach-Object" => pipeline::foreach_object(interp, b, out),
        "Select-Object" => pipeline::select_object(interp, b, out),
        "Sort-Object" => pipeline::sort_object(interp, b, out),
        "Measure-Object" => pipeline::measure_object(interp, b, out),
        "Group-Object" => pipeline::group_object(interp, b, out),
        "New-Object" => misc::new_object(interp, b, out),
        "Invoke-Expression" => misc::invoke_expression(interp, b, out),
        "Get-Date" => misc::get_date(interp, b, out),
        "Set-Variable" | "New-Variable" | "Get-Variable" | "Remove-Variable" => {
            misc::variable_cmd(interp, b, out)
        }
        "ConvertTo-Json" => misc::convert_to_json(interp, b, out),
        "ConvertFrom-Json" => misc::convert_from_json(interp, b, out),
        "Select-String" => misc::select_string(interp, b, out),
        other => Err(ErrorRecord::runtime(format!(
            "cmdlet {other} is in the catalog but has no implementation"
        ))
        .into()),
    }
}

/// Input objects: `-InputObject` or the pipeline.
pub fn input_objects(b: &Bound) -> Vec<Value> {
    if let Some(input) = &b.input {
        return input.clone();
    }
    match b.get("InputObject") {
        Some(v) => vec![v.clone()],
        None => Vec::new(),
    }
}

/// The paths a path-taking cmdlet works on: `-Path`/`-LiteralPath` (with whether wildcards
/// apply) or pipeline input (strings, or objects with PSPath/FullName, literal).
pub fn path_args(b: &Bound) -> Vec<(String, bool)> {
    if let Some(p) = b.strings("LiteralPath") {
        return p.into_iter().map(|x| (x, false)).collect();
    }
    if let Some(p) = b.strings("Path") {
        return p.into_iter().map(|x| (x, true)).collect();
    }
    if let Some(input) = &b.input {
        return input
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| match v {
                Value::Object(o) => {
                    let o = o.borrow();
                    let p = o
                        .get("FullName")
                        .or_else(|| o.get("PSPath"))
                        .or_else(|| o.get("Path"))
                        .map(to_string)
                        .unwrap_or_default();
                    (p, matches!(o.kind, ObjKind::Custom))
                }
                other => (to_string(other), true),
            })
            .collect();
    }
    Vec::new()
}
