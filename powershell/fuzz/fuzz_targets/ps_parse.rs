//! Fuzzes the PowerShell front end: any text must give a script or a ParseError whose span is
//! inside the input — never a panic, a stack overflow or a hang — and whatever parses must go
//! through the static check; the same bytes as a command line must go through the invocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use powershell::check::{check, Catalog, CmdletInfo, ParamInfo, TypeInfo};

/// A small catalog so that the check's lookups (cmdlets, parameters, types, members) run.
static CATALOG: Catalog = Catalog {
    cmdlets: &[CmdletInfo {
        name: "Get-Item",
        aliases: &["gi"],
        parameters: &[
            ParamInfo { name: "Path", aliases: &[], is_switch: false, position: Some(0) },
            ParamInfo { name: "Force", aliases: &[], is_switch: true, position: None },
        ],
    }],
    types: &[TypeInfo { name: "System.Int32", aliases: &["int"], static_members: &["MaxValue"], constructible: false }],
    instance_members: &["ToString"],
    attributes: &["Parameter", "CmdletBinding"],
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match powershell::parser::parse(text) {
        Ok(script) => {
            let _ = check(&script, &CATALOG);
        }
        Err(e) => {
            assert!(!e.message.is_empty());
            assert!(e.span.start <= e.span.end || e.span.end == 0);
            assert!(e.span.end as usize <= text.len() && e.span.line >= 1 && e.span.col >= 1);
        }
    }
    let _ = powershell::invocation::parse_command_line(text, &|_| Ok("1".into()));
});
