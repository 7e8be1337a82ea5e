//! `Node::dump`: BuildKit's `Node.Dump()` s-expression format, byte for byte. The parser's golden
//! files (`testfiles/*/result`) are this output plus a final newline.

use super::ast::Node;
use super::goquote::{quote, quote_list, to_lower};

impl Node {
    /// BuildKit's `Node.Dump()`: the lowercased value, the flags as Go `%q` of a string list,
    /// each child as `(…)` plus a newline, then each argument as a Go-quoted string (or, for an
    /// argument holding an instruction, that instruction's dump), all trimmed of white space.
    pub fn dump(&self) -> String {
        let mut out = to_lower(&self.value);
        if !self.flags.is_empty() {
            out.push(' ');
            out.push_str(&quote_list(&self.flags));
        }
        for child in &self.children {
            out.push('(');
            out.push_str(&child.dump());
            out.push_str(")\n");
        }
        for arg in self.args() {
            out.push(' ');
            if arg.children.is_empty() {
                out.push_str(&quote(&arg.value));
            } else {
                out.push_str(&arg.dump());
            }
        }
        let trimmed = out.trim();
        if trimmed.len() == out.len() {
            out
        } else {
            trimmed.to_string()
        }
    }
}
