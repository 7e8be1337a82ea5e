//! Catalog lookups, case-insensitive as PowerShell's: cmdlets by name or alias, types by full or
//! short name, instance members, attributes, and a cmdlet's parameter by name, alias or unique
//! prefix.

use super::*;

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

    pub(super) fn has_instance_member(&self, name: &str) -> bool {
        self.instance_members
            .iter()
            .any(|m| m.eq_ignore_ascii_case(name))
    }

    pub(super) fn has_attribute(&self, name: &str) -> bool {
        let short = strip_suffix_ignore_case(name, "Attribute");
        self.attributes
            .iter()
            .any(|a| a.eq_ignore_ascii_case(name) || a.eq_ignore_ascii_case(short))
    }
}

/// What a parameter name given to a cmdlet resolves to.
pub(super) enum ParamMatch<'c> {
    Found(&'c ParamInfo),
    Common,
    Ambiguous(Vec<&'static str>),
    Unknown,
}

impl CmdletInfo {
    /// Resolves `-name` as PowerShell does: an exact name or alias wins, else a unique prefix.
    pub(super) fn resolve(&self, name: &str) -> ParamMatch<'_> {
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
pub(super) fn strip_suffix_ignore_case<'s>(s: &'s str, suffix: &str) -> &'s str {
    if s.len() > suffix.len() && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix) {
        &s[..s.len() - suffix.len()]
    } else {
        s
    }
}
