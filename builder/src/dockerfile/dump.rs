//! `Node::dump`: BuildKit's `Node.Dump()` s-expression format, byte for byte. The parser's golden
//! files (`testfiles/*/result`) are this output plus a final newline.

use super::ast::Node;
use super::goquote::{push_quoted, quote_list, to_lower};

impl Node {
    /// BuildKit's `Node.Dump()`: the lowercased value, the flags as Go `%q` of a string list,
    /// each child as `(…)` plus a newline, then each argument as a Go-quoted string (or, for an
    /// argument holding an instruction, that instruction's dump), all trimmed of white space.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        self.dump_into(&mut out);
        out
    }

    /// Appends this node's dump to `out` (one buffer for the whole tree).
    fn dump_into(&self, out: &mut String) {
        let start = out.len();
        if self.value.is_ascii() {
            out.extend(
                self.value
                    .bytes()
                    .map(|b| char::from(b.to_ascii_lowercase())),
            );
        } else {
            out.push_str(&to_lower(&self.value));
        }
        if !self.flags.is_empty() {
            out.push(' ');
            out.push_str(&quote_list(&self.flags));
        }
        for child in &self.children {
            out.push('(');
            child.dump_into(out);
            out.push_str(")\n");
        }
        for arg in self.args() {
            out.push(' ');
            if arg.children.is_empty() {
                push_quoted(out, &arg.value);
            } else {
                arg.dump_into(out);
            }
        }
        // Go's strings.TrimSpace of this node's part.
        let segment = &out[start..];
        let end = start + segment.trim_end().len();
        out.truncate(end);
        let leading = out[start..].len() - out[start..].trim_start().len();
        if leading > 0 {
            out.replace_range(start..start + leading, "");
        }
    }
}
