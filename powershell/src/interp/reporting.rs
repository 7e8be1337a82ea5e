//! Error reporting: non-terminating errors (shown, recorded in `$Error`, `$?` cleared),
//! statement-terminating errors with their position, and the conversions from operator and
//! conversion failures to `ErrorRecord`s.

use super::*;

impl Interp<'_> {
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
    pub(super) fn statement_error(&mut self, rec: ErrorRecord) -> Res<()> {
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

pub(super) trait WithSpan {
    fn with_span(self, span: ast::Span) -> ErrorRecord;
}

impl WithSpan for ErrorRecord {
    fn with_span(self, span: ast::Span) -> ErrorRecord {
        self.at(span)
    }
}

pub(super) fn add_span(f: Flow, span: ast::Span) -> Flow {
    match f {
        Flow::Error(rec) => Flow::Error(Box::new(rec.at(span))),
        other => other,
    }
}
