//! Functions and script blocks: calls with their scope and depth limit, parameter binding
//! (named, positional, pipeline, mandatory, typed, `[CmdletBinding()]`), and running blocks for
//! cmdlets that take one (`ForEach-Object`, `Where-Object`).

use super::*;

impl Interp<'_> {
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

    pub(super) fn call_function_inner(
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
    pub(super) fn bind_params(
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
}

pub(super) fn is_advanced(p: &ast::ParamBlock) -> bool {
    p.attributes.iter().any(|a| a.name.name.eq_ignore_ascii_case("CmdletBinding"))
        || p.parameters.iter().any(|x| x.attributes.iter().any(|a| matches!(a, ast::AttributeOrType::Attribute(at) if at.name.name.eq_ignore_ascii_case("Parameter"))))
}

pub(super) fn parameter_attr(p: &ast::Parameter) -> Option<&ast::Attribute> {
    p.attributes.iter().find_map(|a| match a {
        ast::AttributeOrType::Attribute(at) if at.name.name.eq_ignore_ascii_case("Parameter") => {
            Some(at)
        }
        _ => None,
    })
}

pub(super) fn is_mandatory(p: &ast::Parameter) -> bool {
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
pub(super) fn pipeline_parameter(p: &ast::ParamBlock) -> Option<String> {
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

pub(super) fn param_position(p: &ast::Parameter) -> Option<i64> {
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

pub(super) fn param_type(p: &ast::Parameter) -> Option<&ast::TypeName> {
    p.attributes.iter().find_map(|a| match a {
        ast::AttributeOrType::Type(t) => Some(t),
        _ => None,
    })
}
