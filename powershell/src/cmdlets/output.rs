//! Output cmdlets: Write-Host, Write-Output, Write-Error, Write-Warning, the quiet streams
//! (Write-Verbose/Debug/Information, shown only when their preference says so), Out-String,
//! Out-Host, Format-Table/List (text, approximately PowerShell's layout).
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use super::{input_objects, Bound};
use crate::convert::to_string;
use crate::errors::ErrorRecord;
use crate::interp::{Action, Interp, Out, Res};
use crate::value::Value;

/// Write-Host: objects joined by -Separator (default space), arrays flattened; colors ignored
/// (they are UI, not output).
pub fn write_host(interp: &mut Interp, b: &Bound) -> Res<()> {
    let sep = b.str("Separator").unwrap_or_else(|| " ".into());
    let mut parts = Vec::new();
    let objs = match b.get("Object") {
        Some(v) => vec![v.clone()],
        None => input_objects(b),
    };
    for o in objs {
        match &o {
            Value::Array(a) => parts.extend(a.borrow().iter().map(|x| host_text(x, &sep))),
            other => parts.push(host_text(other, &sep)),
        }
    }
    let mut text = parts.join(&sep);
    if !b.switch("NoNewline") {
        text.push('\n');
    }
    interp.host.stdout(&text);
    Ok(())
}

fn host_text(v: &Value, sep: &str) -> String {
    match v {
        Value::Array(a) => a
            .borrow()
            .iter()
            .map(|x| host_text(x, sep))
            .collect::<Vec<_>>()
            .join(sep),
        other => to_string(other),
    }
}

/// Write-Output: each object to the pipeline (arrays enumerated unless -NoEnumerate).
pub fn write_output(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let items = match b.get("InputObject") {
        Some(v) if b.switch("NoEnumerate") => vec![v.clone()],
        Some(v) => v.clone().into_items(),
        None => b.input.clone().unwrap_or_default(),
    };
    for it in items {
        interp.emit(out, it);
    }
    Ok(())
}

/// Write-Error: a non-terminating error (WriteErrorException unless -Exception says otherwise).
pub fn write_error(interp: &mut Interp, b: &Bound) -> Res<()> {
    let mut rec = if let Some(r) = b.get("ErrorRecord").and_then(ErrorRecord::from_value) {
        r
    } else if let Some(e) = b.get("Exception") {
        match ErrorRecord::from_value(e) {
            Some(r) => r,
            None => ErrorRecord::new(
                to_string(e),
                "System.Exception",
                "NotSpecified",
                "System.Exception",
            ),
        }
    } else {
        let msg = match b.get("Message") {
            Some(v) => match ErrorRecord::from_value(v) {
                Some(r) => r.message,
                None => to_string(v),
            },
            None => String::new(),
        };
        ErrorRecord::new(
            msg,
            "Microsoft.PowerShell.Commands.WriteErrorException",
            "NotSpecified",
            "Microsoft.PowerShell.Commands.WriteErrorException",
        )
    };
    if let Some(c) = b.str("Category") {
        rec.category = c;
    }
    if let Some(id) = b.str("ErrorId") {
        rec.fqid = id;
    }
    if let Some(t) = b.str("TargetObject") {
        rec.target = Some(t);
    }
    rec.span = Some(b.span);
    interp.write_error(rec)?;
    // Write-Error leaves $? false for the caller (it wrote an error).
    interp.last_ok = false;
    Ok(())
}

/// Write-Warning: "WARNING: msg" on the host unless $WarningPreference / -WarningAction silence it.
pub fn write_warning(interp: &mut Interp, b: &Bound) -> Res<()> {
    let msg = b.str("Message").unwrap_or_default();
    let action = match interp.get_var("__warningaction") {
        Some(v) => Action::parse(&to_string(&v)).unwrap_or(Action::Continue),
        None => interp.pref("WarningPreference", Action::Continue),
    };
    match action {
        Action::Continue => {
            interp.host.stdout(&format!("WARNING: {msg}\n"));
            Ok(())
        }
        Action::Stop => Err(ErrorRecord::new(
            format!("The running command stopped because the preference variable \"WarningPreference\" or common parameter is set to Stop: {msg}"),
            "System.Management.Automation.ActionPreferenceStopException",
            "OperationStopped",
            "ActionPreferenceStop",
        )
        .at(b.span)
        .into()),
        _ => Ok(()),
    }
}

/// Write-Verbose/Debug/Information: shown with their prefix only when their preference is
/// Continue (silent by default, as in a RUN step).
pub fn write_quiet_stream(interp: &mut Interp, b: &Bound) -> Res<()> {
    let (pref, prefix, text) = match b.cmdlet {
        "Write-Verbose" => ("VerbosePreference", "VERBOSE: ", b.str("Message")),
        "Write-Debug" => ("DebugPreference", "DEBUG: ", b.str("Message")),
        _ => ("InformationPreference", "", b.str("MessageData")),
    };
    if interp.pref(pref, Action::SilentlyContinue) == Action::Continue {
        interp
            .host
            .stdout(&format!("{prefix}{}\n", text.unwrap_or_default()));
    }
    Ok(())
}

/// Out-String: the formatted text of all input as one string (-Stream: one per line).
pub fn out_string(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let items = input_objects(b);
    let text = crate::format::format_values(&items);
    if b.switch("Stream") {
        for l in text.lines() {
            interp.emit(out, Value::str(l));
        }
    } else {
        interp.emit(out, Value::string(text.replace('\n', "\r\n")));
    }
    Ok(())
}

/// Out-Host / Out-Default: formatted to the console.
pub fn out_host(interp: &mut Interp, b: &Bound) -> Res<()> {
    if b.switch("Paging") {
        return Err(b.unsupported("-Paging").into());
    }
    let text = crate::format::format_values(&input_objects(b));
    interp.host.stdout(&text);
    Ok(())
}

/// Format-Table / Format-List: the formatted text as strings (PowerShell emits format
/// objects; what reaches the console is the same text).
pub fn format_cmd(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let items = input_objects(b);
    let props = b.strings("Property");
    let text = if b.cmdlet == "Format-List" {
        crate::format::format_list(&items, props.as_deref())
    } else {
        crate::format::format_table(&items, props.as_deref())
    };
    for l in text.lines() {
        interp.emit(out, Value::str(l));
    }
    Ok(())
}
