//! The static check (contract 2): walks a parsed script and lists everything the engine cannot
//! run — unknown cmdlets, parameters, .NET types and members, unsupported statements — before
//! anything runs. The [`Catalog`] type is defined here; its data is in [`crate::catalog`].

use crate::ast::{Script, Span};

/// What the engine supports. All data is static so that `catalog.rs` can be one `static`.
#[derive(Debug)]
pub struct Catalog {
    pub cmdlets: &'static [CmdletInfo],
    pub types: &'static [TypeInfo],
    /// Instance member names (methods and properties) the engine supports on any of its object
    /// kinds (`DownloadFile`, `ExitCode`, `Length`, `Replace`, ...), compared case-insensitively.
    pub instance_members: &'static [&'static str],
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
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} is not supported", self.span, self.what)
    }
}

/// Checks `script` against `catalog`; every unsupported thing, in script order (being written;
/// until then it refuses everything).
pub fn check(script: &Script, catalog: &Catalog) -> Result<(), Vec<Unsupported>> {
    let _ = catalog;
    Err(vec![Unsupported {
        what: "the static check (not written yet)".into(),
        span: script.span,
    }])
}
