//! The .NET surface the engine implements: static members of the catalog's types
//! (`[Environment]::SetEnvironmentVariable`, `[IO.File]::…`, `[Net.ServicePointManager]::…`),
//! constructors (`New-Object`, `::new`), instance members of every value kind (string methods,
//! array/hashtable members, WebClient, version, datetime, …), enums, and the value types built
//! here (`[version]`, `[uri]`, `[datetime]`). Anything else fails naming the member.
//!
//! This module holds the error helpers every family shares and the unit tests; the families are
//! `types`, `version_uri`, `datetime`, `encoding`, `environment`, `statics` and `members`.
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use std::cmp::Ordering;
use std::rc::Rc;

use crate::convert::{self, fmt_double, to_bool, to_string};
use crate::errors::ErrorRecord;
use crate::host::{Hive, RegValue, REG_EXPAND_SZ, REG_SZ};
use crate::interp::{Interp, Res};
use crate::value::{Hashtable, ObjKind, Object, Value};

mod datetime;
mod encoding;
mod environment;
mod members;
mod statics;
mod types;
mod version_uri;

// Each family's public functions are this module's API; the `pub(super)` helpers are shared
// with the sibling families through their `use super::*`.
pub use datetime::*;
pub use encoding::*;
pub use environment::*;
pub use members::*;
pub use statics::*;
pub use types::*;
pub use version_uri::*;

fn err(msg: impl Into<String>) -> ErrorRecord {
    ErrorRecord::new(
        msg,
        "System.Management.Automation.MethodInvocationException",
        "NotSpecified",
        "MethodInvocationException",
    )
}

/// .NET's message for an exception inside a method call, as PowerShell wraps it.
fn method_exc(method: &str, argc: usize, exc: &str, msg: &str) -> ErrorRecord {
    let mut e = ErrorRecord::new(
        format!("Exception calling \"{method}\" with \"{argc}\" argument(s): \"{msg}\""),
        exc,
        "NotSpecified",
        exc.rsplit('.').next().unwrap_or(exc),
    );
    e.exception = exc.to_string();
    e
}

fn no_member(type_name: &str, name: &str) -> ErrorRecord {
    ErrorRecord::new(
        format!("Method invocation failed because [{type_name}] does not contain a method named '{name}'."),
        "System.Management.Automation.RuntimeException",
        "InvalidOperation",
        "MethodNotFound",
    )
}

fn arg(args: &[Value], i: usize) -> Value {
    args.get(i).cloned().unwrap_or(Value::Null)
}

fn sarg(args: &[Value], i: usize) -> String {
    to_string(&arg(args, i))
}

fn want(method: &str, args: &[Value], n: &[usize]) -> Result<(), ErrorRecord> {
    if n.contains(&args.len()) {
        Ok(())
    } else {
        Err(ErrorRecord::new(
            format!(
                "Cannot find an overload for \"{method}\" and the argument count: \"{}\".",
                args.len()
            ),
            "System.Management.Automation.MethodException",
            "NotSpecified",
            "MethodCountCouldNotFindBest",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_protocol_flags_print_like_dotnet() {
        assert_eq!(
            enum_to_string("System.Net.SecurityProtocolType", 3072),
            "Tls12"
        );
        assert_eq!(
            enum_to_string("System.Net.SecurityProtocolType", 3072 | 768 | 192),
            "Tls, Tls11, Tls12"
        );
        assert!(matches!(
            convert_to_enum(&Value::str("Tls12"), "System.Net.SecurityProtocolType"),
            Some(Ok(Value::Enum(_, 3072)))
        ));
        assert!(matches!(
            convert_to_enum(&Value::str("machine"), "System.EnvironmentVariableTarget"),
            Some(Ok(Value::Enum(_, 2)))
        ));
        assert!(matches!(
            convert_to_enum(&Value::str("Moon"), "System.EnvironmentVariableTarget"),
            Some(Err(_))
        ));
    }

    #[test]
    fn versions_compare_by_component() {
        let a = parse_version("1.10").unwrap();
        let b = parse_version("1.9.5").unwrap();
        let (Value::Object(a), Value::Object(b)) = (a, b) else {
            panic!()
        };
        assert_eq!(
            compare_versions(&a.borrow(), &b.borrow()),
            Ordering::Greater
        );
        assert!(parse_version("1").is_err());
    }

    #[test]
    fn dates_round_trip() {
        let v = parse_datetime("2021-03-04T05:06:07").unwrap();
        let Value::Object(o) = v else { panic!() };
        assert_eq!(
            format_datetime(&o.borrow(), "yyyy-MM-dd HH:mm:ss"),
            "2021-03-04 05:06:07"
        );
        assert_eq!(format_datetime(&o.borrow(), "yyyyMMdd"), "20210304");
        assert_eq!(
            o.borrow().get("DayOfWeek").map(to_string).unwrap(),
            "Thursday"
        );
    }
}
