//! Checking pipelines and commands: redirections, command names (cmdlets, aliases, functions,
//! native programs, script files read through `files`) and each cmdlet's parameters.

use super::*;

impl Checker<'_> {
    /// A script file called by a literal path: read through `files`, parsed and checked like
    /// the script itself (about_Scripts). Dot-sourcing (`. .\x.ps1`) makes its functions the
    /// caller's.
    pub(super) fn script_file(&mut self, name: &str, c: &Command, span: Span) {
        if !is_literal_script_path(name) {
            self.refuse(
                format!(
                    "running the PowerShell script file {name} by name (looked up on PATH at run \
                     time; call it by its path, C:\\… or .\\…)"
                ),
                span,
            );
            return;
        }
        let key = name.to_ascii_lowercase().replace('/', "\\");
        if self.stack.contains(&key) {
            // Being checked further out: a recursive call checks the same text.
            return;
        }
        if self.stack.len() >= MAX_SCRIPT_FILE_DEPTH {
            self.refuse(
                format!(
                    "the PowerShell script file {name}: script files calling script files more \
                     than {MAX_SCRIPT_FILE_DEPTH} deep"
                ),
                span,
            );
            return;
        }
        let Some(text) = (self.files)(name) else {
            self.found.push(Unsupported {
                what: format!(
                    "the PowerShell script file {name} was not found in the image (script files \
                     are checked before the step runs, so they must exist when it starts)"
                ),
                span,
                missing_file: Some(name.to_string()),
            });
            return;
        };
        let script = match crate::parser::parse(&text) {
            Ok(s) => s,
            Err(e) => {
                self.refuse(
                    format!(
                        "the PowerShell script file {name}, which does not parse (its line {}, \
                         column {}: {})",
                        e.span.line, e.span.col, e.message
                    ),
                    span,
                );
                return;
            }
        };
        let mut stack = self.stack.clone();
        stack.push(key);
        let (found, defined) = check_nested(
            &script,
            self.catalog,
            self.files,
            stack,
            self.functions.clone(),
        );
        for u in found {
            self.found.push(Unsupported {
                what: format!(
                    "in {name} at its line {}, column {}: {}",
                    u.span.line, u.span.col, u.what
                ),
                span,
                missing_file: u.missing_file,
            });
        }
        if c.invocation == Invocation::DotSource {
            self.functions.extend(defined);
        }
    }
    pub(super) fn pipeline(&mut self, p: &Pipeline) {
        for e in &p.elements {
            match e {
                PipelineElement::Expression {
                    expr, redirections, ..
                } => {
                    self.expr(expr);
                    self.redirections(redirections);
                }
                PipelineElement::Command(c) => self.command(c),
            }
        }
    }

    pub(super) fn redirections(&mut self, rs: &[Redirection]) {
        for r in rs {
            if let Redirection::File { target, .. } = r {
                self.expr(target);
            }
        }
    }

    pub(super) fn command(&mut self, c: &Command) {
        for a in &c.args {
            match a {
                CommandArg::Parameter { value: Some(v), .. } | CommandArg::Value(v) => self.expr(v),
                CommandArg::StopParsing { span, .. } => {
                    self.refuse("the stop-parsing token --%", *span)
                }
                _ => {}
            }
        }
        self.redirections(&c.redirections);
        match &c.name {
            CommandName::Word { name, span } => self.command_word(name, c, *span),
            CommandName::Expr(e) => match &e.kind {
                ExprKind::String { value, .. } => self.command_word(value, c, e.span),
                ExprKind::ScriptBlock(sb) => self.script_block(sb),
                ExprKind::ExpandableString { parts, .. }
                    if parts.iter().all(|p| matches!(p, StringPart::Literal(_))) =>
                {
                    let text: String = parts
                        .iter()
                        .filter_map(|p| match p {
                            StringPart::Literal(s) => Some(s.as_str()),
                            _ => None,
                        })
                        .collect();
                    self.command_word(&text, c, e.span)
                }
                ExprKind::ExpandableString { parts, .. } if expandable_is_path(parts) => {
                    self.expr(e);
                    if expandable_ends_with_ps1(parts) {
                        self.refuse("running a PowerShell script file (.ps1)", e.span);
                    }
                }
                _ => {
                    self.expr(e);
                    self.refuse("a command whose name is computed at run time", e.span);
                }
            },
        }
    }

    pub(super) fn command_word(&mut self, name: &str, c: &Command, span: Span) {
        let lower = name.to_ascii_lowercase();
        if self.functions.contains(&lower) {
            return;
        }
        if let Some(cmdlet) = self.catalog.cmdlet(name) {
            self.cmdlet_arguments(cmdlet, c);
            return;
        }
        if lower.ends_with(".ps1") {
            self.script_file(name, c, span);
            return;
        }
        if BUILTIN_ALIASES_AND_FUNCTIONS.contains(&lower.as_str()) {
            self.refuse(format!("command {name}"), span);
            return;
        }
        if is_verb_noun(name) {
            self.refuse(format!("cmdlet {name}"), span);
        }
        // Otherwise a native program, resolved on PATH at run time.
    }

    pub(super) fn cmdlet_arguments(&mut self, cmdlet: &CmdletInfo, c: &Command) {
        let mut positional = Vec::new();
        let mut args = c.args.iter().peekable();
        while let Some(a) = args.next() {
            match a {
                CommandArg::Parameter { name, value, span } => {
                    if name == "-" {
                        continue;
                    }
                    match cmdlet.resolve(name) {
                        ParamMatch::Found(p) => {
                            if p.is_switch || value.is_some() {
                                continue;
                            }
                            // `-Name value`: the next value belongs to the parameter.
                            if let Some(CommandArg::Value(v)) = args.peek() {
                                if cmdlet.name.eq_ignore_ascii_case("New-Object")
                                    && p.name.eq_ignore_ascii_case("TypeName")
                                {
                                    self.new_object_type(v);
                                }
                                args.next();
                            }
                        }
                        ParamMatch::Common => {
                            if value.is_none() && !is_common_switch(name) {
                                if let Some(CommandArg::Value(_)) = args.peek() {
                                    args.next();
                                }
                            }
                        }
                        ParamMatch::Ambiguous(names) => self.refuse(
                            format!(
                                "parameter -{name} of {} (ambiguous: {})",
                                cmdlet.name,
                                names.join(", ")
                            ),
                            *span,
                        ),
                        ParamMatch::Unknown => {
                            self.refuse(format!("parameter -{name} of {}", cmdlet.name), *span);
                            // Its value, if any, is not a positional argument to check further.
                            if value.is_none() {
                                if let Some(CommandArg::Value(_)) = args.peek() {
                                    args.next();
                                }
                            }
                        }
                    }
                }
                CommandArg::Value(v) => positional.push(v),
                CommandArg::Splat { span, .. } => self.refuse(
                    format!(
                        "splatting into {} (its parameters cannot be checked before running)",
                        cmdlet.name
                    ),
                    *span,
                ),
                CommandArg::StopParsing { .. } => {}
            }
        }
        if cmdlet.name.eq_ignore_ascii_case("New-Object") {
            if let Some(first) = positional.first() {
                self.new_object_type(first);
            }
        }
    }
}

pub(super) fn is_common_switch(name: &str) -> bool {
    [
        "verbose", "vb", "debug", "db", "whatif", "wi", "confirm", "cf",
    ]
    .contains(&name.to_ascii_lowercase().as_str())
}

/// `Verb-Noun`: letters, one dash, then letters or digits (`Get-Item`, `Expand-Archive`).
pub(super) fn is_verb_noun(name: &str) -> bool {
    let Some((verb, noun)) = name.split_once('-') else {
        return false;
    };
    !verb.is_empty()
        && !noun.is_empty()
        && verb.chars().all(|c| c.is_ascii_alphabetic())
        && noun.chars().all(|c| c.is_ascii_alphanumeric())
}

/// An expandable command name whose literal text shows it is a path (`"$env:X\bin\git.exe"`).
pub(super) fn expandable_is_path(parts: &[StringPart]) -> bool {
    parts
        .iter()
        .any(|p| matches!(p, StringPart::Literal(s) if s.contains(['\\', '/', '.'])))
}

/// A script file path the check can read before running: absolute on C: or relative to the
/// current location (`.\`, `..\`, either slash). A bare `x.ps1` is looked up on PATH.
pub(super) fn is_literal_script_path(name: &str) -> bool {
    let n = name.replace('/', "\\");
    let b = n.as_bytes();
    (b.len() > 2 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'\\')
        || n.starts_with(".\\")
        || n.starts_with("..\\")
}

pub(super) fn expandable_ends_with_ps1(parts: &[StringPart]) -> bool {
    matches!(parts.last(), Some(StringPart::Literal(s)) if s.to_ascii_lowercase().ends_with(".ps1"))
}
