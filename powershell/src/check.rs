//! The static check (contract 2): walks a parsed script and lists everything the engine cannot
//! run — unknown cmdlets, parameters, .NET types and members, unsupported statements — before
//! anything runs. The [`Catalog`] type is defined here; its data is in [`crate::catalog`].

use crate::ast::*;

/// What the engine supports. All data is static so that `catalog.rs` can be one `static`.
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

/// Parameters every cmdlet has (about_CommonParameters), with their aliases.
const COMMON_PARAMETERS: &[(&str, &[&str])] = &[
    ("Verbose", &["vb"]),
    ("Debug", &["db"]),
    ("ErrorAction", &["ea"]),
    ("WarningAction", &["wa"]),
    ("InformationAction", &["infa"]),
    ("ErrorVariable", &["ev"]),
    ("WarningVariable", &["wv"]),
    ("InformationVariable", &["iv"]),
    ("OutVariable", &["ov"]),
    ("OutBuffer", &["ob"]),
    ("PipelineVariable", &["pv"]),
    ("WhatIf", &["wi"]),
    ("Confirm", &["cf"]),
];

/// Windows PowerShell 5.1's built-in aliases and functions. A name here that the catalog does
/// not implement is a PowerShell command the engine lacks — not a native program to look up
/// on PATH (`sc` is Set-Content, `curl` is Invoke-WebRequest in 5.1).
const BUILTIN_ALIASES_AND_FUNCTIONS: &[&str] = &[
    "%",
    "?",
    "ac",
    "asnp",
    "cat",
    "cd",
    "cd..",
    "cd\\",
    "cfs",
    "chdir",
    "clc",
    "clear",
    "clear-host",
    "clhy",
    "cli",
    "clp",
    "cls",
    "clv",
    "cnsn",
    "compare",
    "copy",
    "cp",
    "cpi",
    "cpp",
    "curl",
    "cvpa",
    "dbp",
    "del",
    "diff",
    "dir",
    "dnsn",
    "ebp",
    "echo",
    "epal",
    "epcsv",
    "epsn",
    "erase",
    "etsn",
    "exsn",
    "fc",
    "fhx",
    "fl",
    "foreach",
    "ft",
    "fw",
    "gal",
    "gbp",
    "gc",
    "gcb",
    "gci",
    "gcm",
    "gcs",
    "gdr",
    "ghy",
    "gi",
    "gin",
    "gjb",
    "gl",
    "gm",
    "gmo",
    "gp",
    "gps",
    "gpv",
    "group",
    "gsn",
    "gsnp",
    "gsv",
    "gtz",
    "gu",
    "gv",
    "gwmi",
    "h",
    "help",
    "history",
    "icm",
    "iex",
    "ihy",
    "ii",
    "ipal",
    "ipcsv",
    "ipmo",
    "ipsn",
    "irm",
    "ise",
    "iwmi",
    "iwr",
    "kill",
    "lp",
    "ls",
    "man",
    "md",
    "measure",
    "mi",
    "mkdir",
    "more",
    "mount",
    "move",
    "mp",
    "mv",
    "nal",
    "ndr",
    "ni",
    "nmo",
    "npssc",
    "nsn",
    "nv",
    "ogv",
    "oh",
    "oss",
    "pause",
    "popd",
    "prompt",
    "ps",
    "pushd",
    "pwd",
    "r",
    "rbp",
    "rcjb",
    "rcsn",
    "rd",
    "rdr",
    "ren",
    "ri",
    "rjb",
    "rm",
    "rmdir",
    "rmo",
    "rni",
    "rnp",
    "rp",
    "rsn",
    "rsnp",
    "rujb",
    "rv",
    "rvpa",
    "rwmi",
    "sajb",
    "sal",
    "saps",
    "sasv",
    "sbp",
    "sc",
    "scb",
    "select",
    "set",
    "shcm",
    "si",
    "sl",
    "sleep",
    "sls",
    "sort",
    "sp",
    "spjb",
    "spps",
    "spsv",
    "start",
    "stz",
    "sujb",
    "sv",
    "swmi",
    "tabexpansion2",
    "tee",
    "trcm",
    "type",
    "wget",
    "where",
    "wjb",
    "write",
];

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

impl Catalog {
    /// The cmdlet named `name` (or one of its aliases), case-insensitively.
    pub fn cmdlet(&self, name: &str) -> Option<&CmdletInfo> {
        self.cmdlets.iter().find(|c| {
            c.name.eq_ignore_ascii_case(name)
                || c.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
    }

    /// The type written as `name` (`Net.WebClient`, `System.Net.WebClient`, `int`), found as
    /// PowerShell does: exact full name, then with `System.` in front, then accelerators.
    pub fn type_info(&self, name: &str) -> Option<&TypeInfo> {
        let with_system = format!("System.{name}");
        self.types.iter().find(|t| {
            t.name.eq_ignore_ascii_case(name)
                || t.name.eq_ignore_ascii_case(&with_system)
                || t.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
    }

    fn has_instance_member(&self, name: &str) -> bool {
        self.instance_members
            .iter()
            .any(|m| m.eq_ignore_ascii_case(name))
    }

    fn has_attribute(&self, name: &str) -> bool {
        let short = strip_suffix_ignore_case(name, "Attribute");
        self.attributes
            .iter()
            .any(|a| a.eq_ignore_ascii_case(name) || a.eq_ignore_ascii_case(short))
    }
}

/// What a parameter name given to a cmdlet resolves to.
enum ParamMatch<'c> {
    Found(&'c ParamInfo),
    Common,
    Ambiguous(Vec<&'static str>),
    Unknown,
}

impl CmdletInfo {
    /// Resolves `-name` as PowerShell does: an exact name or alias wins, else a unique prefix.
    fn resolve(&self, name: &str) -> ParamMatch<'_> {
        let exact = |n: &str, aliases: &[&str]| {
            n.eq_ignore_ascii_case(name) || aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        };
        if let Some(p) = self.parameters.iter().find(|p| exact(p.name, p.aliases)) {
            return ParamMatch::Found(p);
        }
        if COMMON_PARAMETERS.iter().any(|(n, a)| exact(n, a)) {
            return ParamMatch::Common;
        }
        let lower = name.to_ascii_lowercase();
        let prefix = |n: &str| n.to_ascii_lowercase().starts_with(&lower);
        let own: Vec<&ParamInfo> = self.parameters.iter().filter(|p| prefix(p.name)).collect();
        let common: Vec<&'static str> = COMMON_PARAMETERS
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| prefix(n))
            .collect();
        match (own.len(), common.len()) {
            (1, 0) => ParamMatch::Found(own[0]),
            (0, 1) => ParamMatch::Common,
            (0, 0) => ParamMatch::Unknown,
            _ => ParamMatch::Ambiguous(own.iter().map(|p| p.name).chain(common).collect()),
        }
    }
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

    /// A script file called by a literal path: read through `files`, parsed and checked like
    /// the script itself (about_Scripts). Dot-sourcing (`. .\x.ps1`) makes its functions the
    /// caller's.
    fn script_file(&mut self, name: &str, c: &Command, span: Span) {
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

    fn body(&mut self, b: &Body) {
        for block in [&b.begin, &b.process].into_iter().flatten() {
            self.block(block);
        }
        self.block(&b.end);
    }

    fn block(&mut self, b: &Block) {
        for s in &b.statements {
            self.statement(s);
        }
    }

    fn param_block(&mut self, p: &ParamBlock) {
        for a in &p.attributes {
            self.attribute(a);
        }
        for param in &p.parameters {
            for a in &param.attributes {
                match a {
                    AttributeOrType::Attribute(a) => self.attribute(a),
                    AttributeOrType::Type(t) => self.type_name(t),
                }
            }
            if let Some(d) = &param.default {
                self.expr(d);
            }
        }
    }

    fn attribute(&mut self, a: &Attribute) {
        if !self.catalog.has_attribute(&a.name.name) {
            self.refuse(format!("attribute [{}()]", a.name.full_text()), a.span);
        }
        for e in &a.positional {
            self.expr(e);
        }
        for e in a.named.iter().filter_map(|(_, v)| v.as_ref()) {
            self.expr(e);
        }
    }

    fn statement(&mut self, s: &Statement) {
        match &s.kind {
            StatementKind::Pipeline(p) => self.pipeline(p),
            StatementKind::Assignment { target, value, .. } => {
                self.expr(target);
                self.statement(value);
            }
            StatementKind::If {
                clauses,
                else_block,
            } => {
                for (c, b) in clauses {
                    self.statement(c);
                    self.block(b);
                }
                if let Some(b) = else_block {
                    self.block(b);
                }
            }
            StatementKind::While {
                condition, body, ..
            }
            | StatementKind::Do {
                condition, body, ..
            } => {
                self.statement(condition);
                self.block(body);
            }
            StatementKind::For {
                init,
                condition,
                step,
                body,
                ..
            } => {
                for s in [init, condition, step].into_iter().flatten() {
                    self.statement(s);
                }
                self.block(body);
            }
            StatementKind::Foreach { iterable, body, .. } => {
                self.statement(iterable);
                self.block(body);
            }
            StatementKind::Switch {
                flags,
                subject,
                clauses,
                default,
                ..
            } => {
                if flags.iter().any(|f| f == "file") {
                    self.refuse("switch -File", s.span);
                }
                self.statement(subject);
                for c in clauses {
                    self.expr(&c.pattern);
                    self.block(&c.body);
                }
                if let Some(d) = default {
                    self.block(d);
                }
            }
            StatementKind::Try {
                body,
                catches,
                finally,
            } => {
                self.block(body);
                for c in catches {
                    for t in &c.types {
                        self.type_name(t);
                    }
                    self.block(&c.body);
                }
                if let Some(f) = finally {
                    self.block(f);
                }
            }
            StatementKind::Trap { .. } => self.refuse("statement trap", s.span),
            StatementKind::Throw(v) | StatementKind::Return(v) | StatementKind::Exit(v) => {
                if let Some(v) = v {
                    self.statement(v);
                }
            }
            StatementKind::Break(l) | StatementKind::Continue(l) => {
                if let Some(l) = l {
                    self.expr(l);
                }
            }
            StatementKind::Function(f) => self.script_block(&f.body),
        }
    }

    fn script_block(&mut self, sb: &ScriptBlock) {
        if let Some(p) = &sb.param {
            self.param_block(p);
        }
        self.body(&sb.body);
    }

    fn pipeline(&mut self, p: &Pipeline) {
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

    fn redirections(&mut self, rs: &[Redirection]) {
        for r in rs {
            if let Redirection::File { target, .. } = r {
                self.expr(target);
            }
        }
    }

    fn command(&mut self, c: &Command) {
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

    fn command_word(&mut self, name: &str, c: &Command, span: Span) {
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

    fn cmdlet_arguments(&mut self, cmdlet: &CmdletInfo, c: &Command) {
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

    /// `New-Object T`: T must be a constructible catalog type, written as a constant.
    fn new_object_type(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::String { value, .. } => match self.catalog.type_info(value) {
                Some(t) if t.constructible => {}
                Some(_) => self.refuse(format!(".NET constructor New-Object {value}"), e.span),
                None => self.refuse(format!(".NET type {value}"), e.span),
            },
            _ => self.refuse("New-Object with a type name computed at run time", e.span),
        }
    }

    fn type_name(&mut self, t: &TypeName) {
        if self.catalog.type_info(&t.name).is_none() {
            self.refuse(format!(".NET type [{}]", t.full_text()), t.span);
            return;
        }
        for g in &t.generic_args {
            self.type_name(g);
        }
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Number(_) | ExprKind::String { .. } | ExprKind::Variable(_) => {}
            ExprKind::ExpandableString { parts, .. } => {
                for p in parts {
                    if let StringPart::SubExpression(b) = p {
                        self.block(b);
                    }
                }
            }
            ExprKind::Array(items) => items.iter().for_each(|i| self.expr(i)),
            ExprKind::ArrayExpression(b) | ExprKind::SubExpression(b) => self.block(b),
            ExprKind::Paren(s) => self.statement(s),
            ExprKind::Hashtable { entries, .. } => {
                for (k, v) in entries {
                    self.expr(k);
                    self.statement(v);
                }
            }
            ExprKind::ScriptBlock(sb) => self.script_block(sb),
            ExprKind::Unary { operand, .. } => self.expr(operand),
            ExprKind::Binary { left, right, .. } => {
                self.expr(left);
                self.expr(right);
            }
            ExprKind::Convert { type_name, operand } => {
                self.type_name(type_name);
                self.expr(operand);
            }
            ExprKind::TypeLiteral(t) => self.type_name(t),
            ExprKind::Member {
                target,
                member,
                is_static,
            } => {
                if *is_static {
                    self.static_member(target, member, false);
                } else {
                    self.expr(target);
                    self.expr(member);
                }
            }
            ExprKind::InvokeMember {
                target,
                member,
                args,
                is_static,
            } => {
                if *is_static {
                    self.static_member(target, member, true);
                } else {
                    self.expr(target);
                    match constant_name(member) {
                        Some(name) if self.catalog.has_instance_member(name) => {}
                        Some(name) => self.refuse(format!(".NET method .{name}()"), member.span),
                        None => {
                            self.refuse("a method whose name is computed at run time", member.span)
                        }
                    }
                }
                args.iter().for_each(|a| self.expr(a));
            }
            ExprKind::Index { target, index } => {
                self.expr(target);
                self.expr(index);
            }
        }
    }

    /// `[T]::Member` / `[T]::Method()` / `[T]::new()`.
    fn static_member(&mut self, target: &Expr, member: &Expr, call: bool) {
        let ExprKind::TypeLiteral(t) = &target.kind else {
            self.expr(target);
            self.refuse(
                "a static member of a type computed at run time",
                target.span,
            );
            return;
        };
        let Some(name) = constant_name(member) else {
            self.refuse(
                format!(
                    "a member of [{}] whose name is computed at run time",
                    t.full_text()
                ),
                member.span,
            );
            return;
        };
        let Some(info) = self.catalog.type_info(&t.name) else {
            self.refuse(format!(".NET type [{}]", t.full_text()), t.span);
            return;
        };
        for g in &t.generic_args {
            self.type_name(g);
        }
        let ok = if call && name.eq_ignore_ascii_case("new") {
            info.constructible
        } else {
            info.static_members
                .iter()
                .any(|m| m.eq_ignore_ascii_case(name))
        };
        if !ok {
            self.refuse(
                format!(".NET member [{}]::{name}", t.full_text()),
                member.span,
            );
        }
    }
}

/// The member name when it is written as a constant (`.Name`, `."Name"`).
fn constant_name(member: &Expr) -> Option<&str> {
    match &member.kind {
        ExprKind::String { value, .. } => Some(value),
        _ => None,
    }
}

fn is_common_switch(name: &str) -> bool {
    [
        "verbose", "vb", "debug", "db", "whatif", "wi", "confirm", "cf",
    ]
    .contains(&name.to_ascii_lowercase().as_str())
}

/// `Verb-Noun`: letters, one dash, then letters or digits (`Get-Item`, `Expand-Archive`).
fn is_verb_noun(name: &str) -> bool {
    let Some((verb, noun)) = name.split_once('-') else {
        return false;
    };
    !verb.is_empty()
        && !noun.is_empty()
        && verb.chars().all(|c| c.is_ascii_alphabetic())
        && noun.chars().all(|c| c.is_ascii_alphanumeric())
}

/// An expandable command name whose literal text shows it is a path (`"$env:X\bin\git.exe"`).
fn expandable_is_path(parts: &[StringPart]) -> bool {
    parts
        .iter()
        .any(|p| matches!(p, StringPart::Literal(s) if s.contains(['\\', '/', '.'])))
}

/// A script file path the check can read before running: absolute on C: or relative to the
/// current location (`.\`, `..\`, either slash). A bare `x.ps1` is looked up on PATH.
fn is_literal_script_path(name: &str) -> bool {
    let n = name.replace('/', "\\");
    let b = n.as_bytes();
    (b.len() > 2 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'\\')
        || n.starts_with(".\\")
        || n.starts_with("..\\")
}

fn expandable_ends_with_ps1(parts: &[StringPart]) -> bool {
    matches!(parts.last(), Some(StringPart::Literal(s)) if s.to_ascii_lowercase().ends_with(".ps1"))
}

fn strip_suffix_ignore_case<'s>(s: &'s str, suffix: &str) -> &'s str {
    if s.len() > suffix.len() && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix) {
        &s[..s.len() - suffix.len()]
    } else {
        s
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
