//! The parsed Dockerfile tree, shaped like BuildKit's `parser.Node` so that `Dump` output and
//! later stages can follow BuildKit's semantics exactly. Built by [`super::parser::parse`];
//! printed by [`Node::dump`] (in `dump.rs`).

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
    /// The file descriptor prefix (`3<<EOF`), 0 when absent. Like BuildKit (Go `uint`), a
    /// number too large for 64 bits saturates to `u64::MAX`.
    pub file_descriptor: u64,
}

/// A node of the AST. The root's `children` are the instructions; an instruction's arguments are
/// its `next` chain; `ONBUILD`'s argument node keeps the trigger instruction in `children`.
///
/// `Clone`, `PartialEq` and `Drop` walk the `next` chain iteratively: one line can hold tens of
/// thousands of arguments, and recursion that deep would overflow the stack.
#[derive(Debug, Default)]
pub struct Node {
    /// The instruction name as written (instruction nodes) or one argument.
    pub value: String,
    /// The following argument, if any.
    pub next: Option<Box<Node>>,
    /// Nested instructions (the root's instructions, `ONBUILD`'s trigger).
    pub children: Vec<Node>,
    /// Heredocs of this instruction.
    pub heredocs: Vec<Heredoc>,
    /// BuildKit's `json` attribute: the arguments were written as a JSON array.
    pub json: bool,
    /// The instruction's logical line: continuations joined, comments dropped (BuildKit's
    /// `Original`).
    pub original: String,
    /// `--flag` words pulled from the instruction.
    pub flags: Vec<String>,
    /// Comment lines immediately above the instruction (text after `#`, trimmed; a bare `#`
    /// line clears the list; parser directives are not included).
    pub prev_comment: Vec<String>,
    /// 1-based first line of the instruction (also set on its argument nodes and on an
    /// `ONBUILD` trigger; the root spans its first to last instruction).
    pub start_line: usize,
    /// 1-based last line of the instruction, including continuation and heredoc lines.
    pub end_line: usize,
}

impl Node {
    /// A leaf node holding one value.
    pub fn leaf(value: impl Into<String>) -> Node {
        let mut node = Node::default();
        node.value = value.into();
        node
    }

    /// The arguments: this node's `next` chain, in order.
    pub fn args(&self) -> impl Iterator<Item = &Node> {
        std::iter::successors(self.next.as_deref(), |n| n.next.as_deref())
    }

    /// Sets the line range on this node, its argument chain and nested instructions.
    pub(crate) fn set_lines(&mut self, start: usize, end: usize) {
        self.start_line = start;
        self.end_line = end;
        for child in &mut self.children {
            child.set_lines(start, end);
        }
        let mut next = self.next.as_deref_mut();
        while let Some(n) = next {
            n.start_line = start;
            n.end_line = end;
            for child in &mut n.children {
                child.set_lines(start, end);
            }
            next = n.next.as_deref_mut();
        }
    }
}

/// Builds a `next` chain from values, first value first.
pub(crate) fn chain(values: impl IntoIterator<Item = String>) -> Option<Box<Node>> {
    let values: Vec<String> = values.into_iter().collect();
    let mut head: Option<Box<Node>> = None;
    for value in values.into_iter().rev() {
        let mut node = Node::leaf(value);
        node.next = head;
        head = Some(Box::new(node));
    }
    head
}

impl Node {
    /// This node's own fields, without `next`.
    fn shallow_clone(&self) -> Node {
        Node {
            value: self.value.clone(),
            next: None,
            children: self.children.clone(),
            heredocs: self.heredocs.clone(),
            json: self.json,
            original: self.original.clone(),
            flags: self.flags.clone(),
            prev_comment: self.prev_comment.clone(),
            start_line: self.start_line,
            end_line: self.end_line,
        }
    }

    fn shallow_eq(&self, other: &Node) -> bool {
        self.value == other.value
            && self.children == other.children
            && self.heredocs == other.heredocs
            && self.json == other.json
            && self.original == other.original
            && self.flags == other.flags
            && self.prev_comment == other.prev_comment
            && self.start_line == other.start_line
            && self.end_line == other.end_line
    }
}

impl Clone for Node {
    fn clone(&self) -> Node {
        let mut head = self.shallow_clone();
        let mut tail = &mut head;
        let mut source = self.next.as_deref();
        while let Some(n) = source {
            tail = tail.next.insert(Box::new(n.shallow_clone()));
            source = n.next.as_deref();
        }
        head
    }
}

impl PartialEq for Node {
    fn eq(&self, other: &Node) -> bool {
        let (mut a, mut b) = (Some(self), Some(other));
        loop {
            match (a, b) {
                (None, None) => return true,
                (Some(x), Some(y)) if x.shallow_eq(y) => {
                    a = x.next.as_deref();
                    b = y.next.as_deref();
                }
                _ => return false,
            }
        }
    }
}

impl Eq for Node {}

impl Drop for Node {
    fn drop(&mut self) {
        let mut next = self.next.take();
        while let Some(mut n) = next {
            next = n.next.take();
        }
    }
}
