//! The parsed Dockerfile tree, shaped like BuildKit's `parser.Node` so that `Dump` output and
//! later stages can follow BuildKit's semantics exactly.

/// One heredoc attached to an instruction (`<<EOF … EOF`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Heredoc {
    /// The delimiter name as written (quotes removed).
    pub name: String,
    /// The body, including the trailing newline of each line.
    pub content: String,
    /// Whether variables in the body are expanded (unquoted delimiter).
    pub expand: bool,
    /// Whether `<<-` asked for leading tabs to be stripped.
    pub chomp: bool,
    /// The file descriptor prefix (`3<<EOF`), 0 when absent.
    pub file_descriptor: u32,
}

/// A node of the AST. The root's `children` are the instructions; an instruction's arguments are
/// its `next` chain; `ONBUILD` keeps its inner instruction in `children`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// The instruction name as written (instruction nodes) or one argument.
    pub value: String,
    /// The following argument, if any.
    pub next: Option<Box<Node>>,
    /// Nested instructions (the root's instructions, `ONBUILD`'s trigger).
    pub children: Vec<Node>,
    /// Heredocs of this instruction.
    pub heredocs: Vec<Heredoc>,
    /// Attributes BuildKit records, e.g. `json` for the JSON form.
    pub json: bool,
    /// The original line(s) of the instruction, continuations joined.
    pub original: String,
    /// `--flag` words pulled from the instruction.
    pub flags: Vec<String>,
    /// Comment lines immediately above the instruction.
    pub prev_comment: Vec<String>,
    /// 1-based first line of the instruction.
    pub start_line: usize,
    /// 1-based last line of the instruction.
    pub end_line: usize,
}
