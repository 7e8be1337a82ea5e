//! Shorthand constructors for the parameter and cmdlet entries of the tables (value, positional,
//! switch, aliased parameters), so that each table row reads like the cmdlet's syntax line.

use crate::check::{CmdletInfo, ParamInfo};

pub(super) const fn v(name: &'static str) -> ParamInfo {
    ParamInfo {
        name,
        aliases: &[],
        is_switch: false,
        position: None,
    }
}
pub(super) const fn va(name: &'static str, aliases: &'static [&'static str]) -> ParamInfo {
    ParamInfo {
        name,
        aliases,
        is_switch: false,
        position: None,
    }
}
pub(super) const fn p(name: &'static str, position: u32) -> ParamInfo {
    ParamInfo {
        name,
        aliases: &[],
        is_switch: false,
        position: Some(position),
    }
}
pub(super) const fn pa(
    name: &'static str,
    position: u32,
    aliases: &'static [&'static str],
) -> ParamInfo {
    ParamInfo {
        name,
        aliases,
        is_switch: false,
        position: Some(position),
    }
}
pub(super) const fn s(name: &'static str) -> ParamInfo {
    ParamInfo {
        name,
        aliases: &[],
        is_switch: true,
        position: None,
    }
}

pub(super) const fn c(
    name: &'static str,
    aliases: &'static [&'static str],
    parameters: &'static [ParamInfo],
) -> CmdletInfo {
    CmdletInfo {
        name,
        aliases,
        parameters,
    }
}

pub(super) const LITERAL: ParamInfo = va("LiteralPath", &["PSPath", "LP"]);
