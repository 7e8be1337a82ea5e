//! Errors at run time: PowerShell's ErrorRecord (message, exception type, category, fully
//! qualified id, position), its rendering on stderr in Windows PowerShell 5.1's format, and the
//! control-flow signals (`break`, `continue`, `return`, `exit`, terminating errors) the
//! interpreter unwinds with.
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use crate::ast::Span;
use crate::value::{ObjKind, Object, Value};

/// An error record (about_Automatic_Variables `$Error`, about_Try_Catch_Finally).
#[derive(Debug, Clone)]
pub struct ErrorRecord {
    pub message: String,
    /// .NET exception type full name (`System.Management.Automation.RuntimeException`,
    /// `System.Management.Automation.ItemNotFoundException`, …): what typed `catch` matches.
    pub exception: String,
    /// ErrorCategory name (`ObjectNotFound`, `OperationStopped`, `InvalidArgument`, …).
    pub category: String,
    pub fqid: String,
    /// The target object shown in CategoryInfo (`(C:\x:String)`).
    pub target: Option<String>,
    /// Where it happened (the statement or command).
    pub span: Option<Span>,
    /// What `throw <object>` threw, kept for `$_.TargetObject`.
    pub thrown: Option<Value>,
    /// `throw` and errors turned terminating by `Stop` end the script (unless caught); other
    /// terminating errors (a cmdlet's, a .NET method's, an operator's) end only their statement.
    pub script_terminating: bool,
}

impl ErrorRecord {
    pub fn new(
        message: impl Into<String>,
        exception: &str,
        category: &str,
        fqid: &str,
    ) -> ErrorRecord {
        ErrorRecord {
            message: message.into(),
            exception: exception.to_string(),
            category: category.to_string(),
            fqid: fqid.to_string(),
            target: None,
            span: None,
            thrown: None,
            script_terminating: false,
        }
    }

    /// A generic runtime error (`RuntimeException`, category `NotSpecified`).
    pub fn runtime(message: impl Into<String>) -> ErrorRecord {
        ErrorRecord::new(
            message,
            "System.Management.Automation.RuntimeException",
            "NotSpecified",
            "RuntimeException",
        )
    }

    /// A path that does not exist (`ItemNotFoundException`, `PathNotFound`).
    pub fn not_found(path: &str, cmdlet: &str) -> ErrorRecord {
        let mut e = ErrorRecord::new(
            format!("Cannot find path '{path}' because it does not exist."),
            "System.Management.Automation.ItemNotFoundException",
            "ObjectNotFound",
            &format!("PathNotFound,Microsoft.PowerShell.Commands.{cmdlet}Command"),
        );
        e.target = Some(path.to_string());
        e
    }

    /// A cmdlet failure with its id (`…,Microsoft.PowerShell.Commands.XCommand`).
    pub fn cmdlet(
        message: impl Into<String>,
        exception: &str,
        category: &str,
        id: &str,
        cmdlet: &str,
    ) -> ErrorRecord {
        ErrorRecord::new(
            message,
            exception,
            category,
            &format!(
                "{id},Microsoft.PowerShell.Commands.{}Command",
                cmdlet.replace('-', "")
            ),
        )
    }

    pub fn at(mut self, span: Span) -> ErrorRecord {
        if self.span.is_none() {
            self.span = Some(span);
        }
        self
    }

    pub fn with_target(mut self, t: &str) -> ErrorRecord {
        self.target = Some(t.to_string());
        self
    }

    /// The short exception name shown in CategoryInfo (`RuntimeException`).
    pub fn exception_short(&self) -> &str {
        self.exception.rsplit('.').next().unwrap_or(&self.exception)
    }

    /// Rendered as Windows PowerShell 5.1 prints an error on stderr:
    /// message, `At line:L char:C`, the line with `~` under the failing part, CategoryInfo
    /// and FullyQualifiedErrorId.
    pub fn render(&self, source: &str) -> String {
        let mut out = format!("{}\n", self.message);
        if let Some(span) = self.span {
            let line_text = source
                .lines()
                .nth(span.line.saturating_sub(1) as usize)
                .unwrap_or("");
            out.push_str(&format!("At line:{} char:{}\n", span.line, span.col));
            out.push_str(&format!("+ {line_text}\n"));
            let len_chars = span
                .text(source)
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .count()
                .max(1);
            let avail = line_text
                .chars()
                .count()
                .saturating_sub(span.col as usize - 1)
                .max(1);
            out.push_str(&format!(
                "+ {}{}\n",
                " ".repeat(span.col.saturating_sub(1) as usize),
                "~".repeat(len_chars.min(avail))
            ));
        }
        let target = self.target.as_deref().unwrap_or("");
        let target_part = if target.is_empty() {
            ":) ".to_string()
        } else {
            format!("{target}:String) ")
        };
        out.push_str(&format!(
            "    + CategoryInfo          : {}: ({}[], {}\n",
            self.category,
            target_part,
            self.exception_short()
        ));
        out.push_str(&format!("    + FullyQualifiedErrorId : {}\n", self.fqid));
        out.push('\n');
        out
    }

    /// `$_` / `$Error[0]`: an ErrorRecord object with Exception, CategoryInfo, …
    pub fn to_value(&self) -> Value {
        let exc = Object::new(ObjKind::Exception, &self.exception)
            .with("Message", Value::str(&self.message))
            .with("InnerException", Value::Null);
        let cat = Object::new(
            ObjKind::Custom,
            "System.Management.Automation.ErrorCategoryInfo",
        )
        .with("Category", Value::str(&self.category))
        .with("Reason", Value::str(self.exception_short()))
        .with(
            "TargetName",
            Value::str(self.target.as_deref().unwrap_or("")),
        );
        let inv = Object::new(
            ObjKind::Custom,
            "System.Management.Automation.InvocationInfo",
        )
        .with(
            "ScriptLineNumber",
            Value::Int(self.span.map(|s| s.line as i32).unwrap_or(0)),
        )
        .with(
            "OffsetInLine",
            Value::Int(self.span.map(|s| s.col as i32).unwrap_or(0)),
        )
        .with(
            "PositionMessage",
            Value::string(
                self.span
                    .map(|s| format!("At line:{} char:{}", s.line, s.col))
                    .unwrap_or_default(),
            ),
        );
        let rec = Object::new(
            ObjKind::ErrorRecord,
            "System.Management.Automation.ErrorRecord",
        )
        .with("Exception", Value::object(exc))
        .with("Message", Value::str(&self.message))
        .with("CategoryInfo", Value::object(cat))
        .with("FullyQualifiedErrorId", Value::str(&self.fqid))
        .with(
            "TargetObject",
            self.thrown.clone().unwrap_or_else(|| match &self.target {
                Some(t) => Value::str(t),
                None => Value::Null,
            }),
        )
        .with("InvocationInfo", Value::object(inv))
        .with(
            "ScriptStackTrace",
            Value::string(
                self.span
                    .map(|s| format!("at <ScriptBlock>, <No file>: line {}", s.line))
                    .unwrap_or_default(),
            ),
        );
        Value::object(rec)
    }

    /// Rebuilds a record from a value (`throw $_` rethrows the same record; `Write-Error $_`).
    pub fn from_value(v: &Value) -> Option<ErrorRecord> {
        let Value::Object(o) = v else { return None };
        let o = o.borrow();
        let s = |x: Option<&Value>| x.map(crate::convert::to_string).unwrap_or_default();
        match o.kind {
            ObjKind::ErrorRecord => {
                let exc_type = match o.get("Exception") {
                    Some(Value::Object(e)) => e.borrow().type_name.clone(),
                    _ => "System.Management.Automation.RuntimeException".into(),
                };
                let cat = match o.get("CategoryInfo") {
                    Some(Value::Object(c)) => s(c.borrow().get("Category")),
                    _ => "NotSpecified".into(),
                };
                Some(ErrorRecord::new(
                    s(o.get("Message")),
                    &exc_type,
                    &cat,
                    &s(o.get("FullyQualifiedErrorId")),
                ))
            }
            ObjKind::Exception => Some(ErrorRecord::new(
                s(o.get("Message")),
                &o.type_name,
                "OperationStopped",
                &s(o.get("Message")),
            )),
            _ => None,
        }
    }
}

/// How evaluation leaves a statement other than by finishing it.
#[derive(Debug, Clone)]
pub enum Flow {
    Break(Option<String>),
    Continue(Option<String>),
    Return,
    Exit(i32),
    /// A terminating error (thrown, or a non-terminating one under `-ErrorAction Stop`).
    Error(Box<ErrorRecord>),
}

impl From<ErrorRecord> for Flow {
    fn from(e: ErrorRecord) -> Flow {
        Flow::Error(Box::new(e))
    }
}

/// The base classes a typed `catch [T]` matches besides `T` itself.
pub fn exception_is(actual: &str, wanted: &str) -> bool {
    let w = wanted.to_ascii_lowercase();
    let w = w.strip_prefix("system.").unwrap_or(&w).to_string();
    let a = actual.to_ascii_lowercase();
    let a = a.strip_prefix("system.").unwrap_or(&a).to_string();
    if a == w || w == "exception" {
        return true;
    }
    // Short names match too (`catch [RuntimeException]` is resolved by PowerShell's type lookup,
    // `[Net.WebException]`).
    let short = |s: &str| s.rsplit('.').next().unwrap_or(s).to_string();
    if short(&a) == short(&w)
        && (w.contains('.') || !w.is_empty())
        && (a.ends_with(&w) || w.ends_with(&short(&a)))
    {
        return true;
    }
    let parents: &[(&str, &[&str])] = &[
        (
            "management.automation.itemnotfoundexception",
            &[
                "management.automation.sessionstateexception",
                "management.automation.runtimeexception",
            ],
        ),
        (
            "management.automation.commandnotfoundexception",
            &["management.automation.runtimeexception"],
        ),
        (
            "management.automation.parameterbindingexception",
            &["management.automation.runtimeexception"],
        ),
        (
            "management.automation.actionpreferencestopexception",
            &["management.automation.runtimeexception"],
        ),
        (
            "io.filenotfoundexception",
            &["io.ioexception", "systemexception"],
        ),
        (
            "io.directorynotfoundexception",
            &["io.ioexception", "systemexception"],
        ),
        ("io.ioexception", &["systemexception"]),
        ("unauthorizedaccessexception", &["systemexception"]),
        (
            "net.webexception",
            &["invalidoperationexception", "systemexception"],
        ),
        ("argumentexception", &["systemexception"]),
        (
            "argumentnullexception",
            &["argumentexception", "systemexception"],
        ),
        (
            "management.automation.methodinvocationexception",
            &["management.automation.runtimeexception"],
        ),
        ("formatexception", &["systemexception"]),
        ("invalidoperationexception", &["systemexception"]),
    ];
    parents
        .iter()
        .find(|(t, _)| *t == a)
        .is_some_and(|(_, ps)| ps.iter().any(|p| *p == w || short(p) == w))
}
