//! What the engine supports, as data for the static check and the parameter binder: every
//! implemented cmdlet with its Windows PowerShell 5.1 aliases and parameters (name, aliases,
//! switch or not, position), the .NET types with their static members and constructors, and
//! the instance member names the engine implements on its values.
//!
//! Cmdlets that need Windows itself (Install-WindowsFeature, Add-Type, Import-Module, …) are
//! deliberately absent: the check refuses them before anything runs.
//!
//! This module joins the tables (`cmdlets`, `types`, `members`, built with `params`) into the
//! `Catalog` and answers the binder's lookups.

use crate::check::{Catalog, CmdletInfo};

mod cmdlets;
mod members;
mod params;
mod types;

pub use cmdlets::CMDLETS;
pub use members::{ATTRIBUTES, INSTANCE_MEMBERS};
pub use types::TYPES;

static CATALOG: Catalog = Catalog {
    cmdlets: CMDLETS,
    types: TYPES,
    instance_members: INSTANCE_MEMBERS,
    attributes: ATTRIBUTES,
};

/// The engine's catalog (for `check::check`).
pub fn catalog() -> &'static Catalog {
    &CATALOG
}

/// The cmdlet a command word names (canonical name or alias, case-insensitive).
pub fn find_cmdlet(name: &str) -> Option<&'static CmdletInfo> {
    CMDLETS.iter().find(|c| {
        c.name.eq_ignore_ascii_case(name) || c.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

/// The common parameters every cmdlet accepts (about_CommonParameters).
pub const COMMON_PARAMETERS: &[(&str, &[&str], bool)] = &[
    ("ErrorAction", &["ea"], false),
    ("ErrorVariable", &["ev"], false),
    ("WarningAction", &["wa"], false),
    ("WarningVariable", &["wv"], false),
    ("InformationAction", &["infa"], false),
    ("InformationVariable", &["iv"], false),
    ("OutVariable", &["ov"], false),
    ("OutBuffer", &["ob"], false),
    ("PipelineVariable", &["pv"], false),
    ("Verbose", &["vb"], true),
    ("Debug", &["db"], true),
    ("WhatIf", &["wi"], true),
    ("Confirm", &["cf"], true),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_of_windows_powershell_5_1() {
        // Rows from about_Aliases / Get-Alias on Windows PowerShell 5.1.
        for (alias, cmd) in [
            ("curl", "Invoke-WebRequest"),
            ("wget", "Invoke-WebRequest"),
            ("iwr", "Invoke-WebRequest"),
            ("%", "ForEach-Object"),
            ("?", "Where-Object"),
            ("gci", "Get-ChildItem"),
            ("ls", "Get-ChildItem"),
            ("del", "Remove-Item"),
            ("echo", "Write-Output"),
            ("iex", "Invoke-Expression"),
            ("md", "New-Item"),
            ("cd", "Set-Location"),
            ("type", "Get-Content"),
            ("start", "Start-Process"),
        ] {
            assert_eq!(find_cmdlet(alias).map(|c| c.name), Some(cmd), "{alias}");
        }
        assert!(find_cmdlet("Install-WindowsFeature").is_none());
    }

    #[test]
    fn no_duplicate_names_or_positions() {
        let mut seen = std::collections::HashSet::new();
        for c in CMDLETS {
            assert!(seen.insert(c.name.to_lowercase()), "{}", c.name);
            for a in c.aliases {
                assert!(seen.insert(a.to_lowercase()), "{a}");
            }
            let mut pnames = std::collections::HashSet::new();
            for p in c.parameters {
                assert!(
                    pnames.insert(p.name.to_lowercase()),
                    "{} -{}",
                    c.name,
                    p.name
                );
            }
        }
    }
}
