//! The syntax tree of a PowerShell script (contract 1 of the design in `docs/powershell.md`).
//!
//! The parser ([`crate::parser`]) produces it, the checker ([`crate::check`]) and the interpreter
//! read it. It keeps what evaluation needs, nothing of the layout, with two exceptions: every node
//! that can fail at run time carries a [`Span`], and script blocks keep their source text (for
//! `.ToString()` and messages). Names keep the script's spelling; PowerShell compares them
//! case-insensitively, so consumers must too.
//!
//! Changes after the first commit are listed with a date in `powershell/AST-CHANGES.md`.

pub use crate::span::Span;

/// A whole script (the text after `-Command`, or a `.ps1` file).
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// `param(...)` at the top of the script, with the attributes before it (`[CmdletBinding()]`).
    pub param: Option<ParamBlock>,
    pub body: Body,
    pub span: Span,
}

/// The statements of a script or script block. PowerShell runs the unnamed statements as the
/// `end` block; `begin {}`/`process {}`/`end {}` blocks, when written, fill the fields directly.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Body {
    pub begin: Option<Block>,
    pub process: Option<Block>,
    pub end: Block,
}

/// A sequence of statements (`{ ... }`, a script's body, the inside of `$( )` and `@( )`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Block {
    pub statements: Vec<Statement>,
    pub span: Span,
}

/// `{ param(...) statements }` as a value.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptBlock {
    pub param: Option<ParamBlock>,
    pub body: Body,
    /// The text between the braces, exactly as written (what `.ToString()` returns).
    pub text: String,
    pub span: Span,
}

/// `[CmdletBinding()] param([Parameter(Mandatory)][string]$Name = 'x', [switch]$Force)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamBlock {
    /// Attributes written before `param` (`[CmdletBinding()]`, `[OutputType(...)]`).
    pub attributes: Vec<Attribute>,
    pub parameters: Vec<Parameter>,
    pub span: Span,
}

/// One parameter of a `param()` block or of `function f($a, $b)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// The variable name without `$` (`Name` for `$Name`).
    pub name: String,
    /// In written order: `[Parameter(Mandatory)]`, `[ValidateSet(...)]`, and type constraints
    /// (`[string]`, `[switch]`, `[string[]]`).
    pub attributes: Vec<AttributeOrType>,
    pub default: Option<Expr>,
    pub span: Span,
}

/// `[Name(positional, Named = value, Flag)]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: TypeName,
    pub positional: Vec<Expr>,
    /// Named arguments; `None` for a bare flag such as `Mandatory` (which means `$true`).
    pub named: Vec<(String, Option<Expr>)>,
    pub span: Span,
}

/// What a `[...]` before a parameter is: an attribute (has parentheses) or a type constraint.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeOrType {
    Attribute(Attribute),
    Type(TypeName),
}

/// A type as written in `[...]`: `int`, `System.Net.WebClient`,
/// `System.Collections.Generic.List[string]`, `string[]`, `Dictionary[string,int]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeName {
    /// The dotted name without generic arguments or array suffix (`System.Collections.Generic.List`).
    pub name: String,
    /// Generic arguments (`[string]` of `List[string]`), empty when none.
    pub generic_args: Vec<TypeName>,
    /// Ranks of the array suffixes, outermost last: `string[]` → `[1]`, `int[,]` → `[2]`.
    pub array_ranks: Vec<u32>,
    pub span: Span,
}

impl TypeName {
    /// The name as PowerShell shows it (`System.Collections.Generic.List[string]`, `string[]`).
    pub fn full_text(&self) -> String {
        let mut s = self.name.clone();
        if !self.generic_args.is_empty() {
            let args: Vec<String> = self.generic_args.iter().map(TypeName::full_text).collect();
            s.push('[');
            s.push_str(&args.join(","));
            s.push(']');
        }
        for rank in &self.array_ranks {
            s.push('[');
            s.push_str(&",".repeat(rank.saturating_sub(1) as usize));
            s.push(']');
        }
        s
    }
}

/// A statement with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub kind: StatementKind,
    pub span: Span,
}

/// Every statement the parser reads. Conditions and the right side of an assignment are
/// statements too (as in PowerShell: `if ($x = Get-Item a)`, `$x = if ($a) { 1 } else { 2 }`);
/// the parser only puts a [`StatementKind::Pipeline`] or [`StatementKind::Assignment`] in a
/// condition, any statement on the right of `=`.
#[derive(Debug, Clone, PartialEq)]
pub enum StatementKind {
    Pipeline(Pipeline),
    /// `target op value`; a type constraint `[string]$x = ...` is a [`ExprKind::Convert`] target,
    /// `$a, $b = ...` an [`ExprKind::Array`] target.
    Assignment {
        target: Expr,
        op: AssignOp,
        value: Box<Statement>,
    },
    /// `if (c) {} elseif (c) {} else {}`: the `(condition, block)` pairs in order.
    If {
        clauses: Vec<(Statement, Block)>,
        else_block: Option<Block>,
    },
    While {
        label: Option<String>,
        condition: Box<Statement>,
        body: Block,
    },
    /// `do {} while (c)` (`until == false`) and `do {} until (c)` (`until == true`).
    Do {
        label: Option<String>,
        body: Block,
        condition: Box<Statement>,
        until: bool,
    },
    For {
        label: Option<String>,
        init: Option<Box<Statement>>,
        condition: Option<Box<Statement>>,
        step: Option<Box<Statement>>,
        body: Block,
    },
    Foreach {
        label: Option<String>,
        variable: VariablePath,
        iterable: Box<Statement>,
        body: Block,
    },
    Switch {
        label: Option<String>,
        /// `-Regex`, `-Wildcard`, `-Exact`, `-CaseSensitive`, `-File` as written (without `-`).
        flags: Vec<String>,
        subject: Box<Statement>,
        clauses: Vec<SwitchClause>,
        default: Option<Block>,
    },
    Try {
        body: Block,
        catches: Vec<Catch>,
        finally: Option<Block>,
    },
    /// `trap [T] { }` (parsed so that check can name it; the engine does not run it).
    Trap {
        type_name: Option<TypeName>,
        body: Block,
    },
    Throw(Option<Box<Statement>>),
    Return(Option<Box<Statement>>),
    Exit(Option<Box<Statement>>),
    /// `break`/`continue` with an optional label (a bareword or an expression).
    Break(Option<Expr>),
    Continue(Option<Expr>),
    Function(FunctionDef),
}

/// `function Name { ... }`, `function Name($a) { ... }`, `filter Name { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDef {
    pub name: String,
    pub is_filter: bool,
    /// The body; the parameters of `function f($a, $b)` are put in `body.param`.
    pub body: ScriptBlock,
    pub span: Span,
}

/// One `pattern { block }` of a switch. The pattern is an expression (a bareword is a string
/// constant, `{ $_ -gt 1 }` a script block condition).
#[derive(Debug, Clone, PartialEq)]
pub struct SwitchClause {
    pub pattern: Expr,
    pub body: Block,
}

/// `catch [T1], [T2] { }`; `types` is empty for a catch-all.
#[derive(Debug, Clone, PartialEq)]
pub struct Catch {
    pub types: Vec<TypeName>,
    pub body: Block,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignOp {
    Assign,
    Add,
    Subtract,
    Multiply,
    Divide,
    Remainder,
}

/// `a | b | c`. The first element may be an expression; the others are commands (an
/// expression after `|` is a parse error, as in PowerShell).
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub elements: Vec<PipelineElement>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PipelineElement {
    /// An expression in expression mode (`$x`, `1 + 2`, `"a" -f $b`), with its redirections.
    Expression {
        expr: Expr,
        redirections: Vec<Redirection>,
        span: Span,
    },
    Command(Command),
}

/// A command in argument mode: `Name args...`, `& expr args...`, `. expr args...`.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub invocation: Invocation,
    pub name: CommandName,
    pub args: Vec<CommandArg>,
    pub redirections: Vec<Redirection>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invocation {
    /// No operator: `Get-Item x`, `git version`.
    Plain,
    /// `& cmd`: run in a child scope.
    Call,
    /// `. cmd`: run in the current scope (dot-sourcing).
    DotSource,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CommandName {
    /// A literal word: `Get-ChildItem`, `git`, `C:\tools\x.exe`, `.\setup.ps1`.
    Word { name: String, span: Span },
    /// Anything computed: `& $exe`, `& "C:\Program Files\x.exe"`, `& { ... }`, `& $env:X\a.exe`.
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub enum CommandArg {
    /// `-Name` or `-Name:value` (`value` is `Some` only for the colon form; `-Name value` is a
    /// parameter followed by a [`CommandArg::Value`], paired at binding time).
    Parameter {
        name: String,
        value: Option<Expr>,
        span: Span,
    },
    /// A positional value: an expression, or a bareword as an [`ExprKind::String`] /
    /// [`ExprKind::ExpandableString`] with [`QuoteKind::Bare`]; `a,b,c` is one array value.
    Value(Expr),
    /// `@name` (splatting a hashtable or array variable).
    Splat { variable: VariablePath, span: Span },
    /// `--%` and the raw text after it up to the end of the line (the check refuses it).
    StopParsing { text: String, span: Span },
}

/// One output stream of a redirection (about_Redirection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// `*`
    All,
    /// `1` (or no number)
    Output,
    /// `2`
    Error,
    /// `3`
    Warning,
    /// `4`
    Verbose,
    /// `5`
    Debug,
    /// `6`
    Information,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Redirection {
    /// `n> target`, `n>> target` (`2>$null` is a file redirection to `$null`).
    File {
        from: Stream,
        target: Expr,
        append: bool,
        span: Span,
    },
    /// `n>&1` (PowerShell only allows merging into the output stream).
    Merge { from: Stream, span: Span },
}

/// An expression with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Number(Number),
    /// A string with nothing to expand: `'...'`, `@'...'@`, `"..."` without `$`, or a bareword.
    String {
        value: String,
        quote: QuoteKind,
    },
    /// `"..."`, `@"..."@` or a bareword argument with `$` expansions, as parts.
    ExpandableString {
        parts: Vec<StringPart>,
        quote: QuoteKind,
    },
    Variable(VariablePath),
    /// `a, b, c` (and unary `,a`).
    Array(Vec<Expr>),
    /// `@( statements )`.
    ArrayExpression(Block),
    /// `$( statements )`.
    SubExpression(Block),
    /// `( pipeline )`; holds a [`StatementKind::Pipeline`] or [`StatementKind::Assignment`].
    Paren(Box<Statement>),
    /// `@{ key = value; ... }`; `ordered` for `[ordered]@{ }`. Keys are expressions (a bareword
    /// key is a string constant); values are statements (pipelines), as in PowerShell.
    Hashtable {
        entries: Vec<(Expr, Statement)>,
        ordered: bool,
    },
    ScriptBlock(Box<ScriptBlock>),
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `[type]expr`: a cast, or a type constraint when it is an assignment target.
    Convert {
        type_name: TypeName,
        operand: Box<Expr>,
    },
    /// `[type]` alone.
    TypeLiteral(TypeName),
    /// `target.member` (`is_static == false`) or `target::member` (`true`). The member is a string
    /// constant for `.Name`/`."Name"`, any expression for `.$name`/`.($x)`.
    Member {
        target: Box<Expr>,
        member: Box<Expr>,
        is_static: bool,
    },
    /// `target.Method(args)` / `[T]::Method(args)` (`::new(...)` included).
    InvokeMember {
        target: Box<Expr>,
        member: Box<Expr>,
        args: Vec<Expr>,
        is_static: bool,
    },
    /// `target[index]` (`$a[1,2]` has an [`ExprKind::Array`] index).
    Index {
        target: Box<Expr>,
        index: Box<Expr>,
    },
}

/// A numeric literal with the type PowerShell gives it (about_Numeric_Literals): the smallest of
/// int, long, decimal, double that holds it unless a suffix says otherwise; `kb`…`pb` multipliers
/// are already applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i32),
    Long(i64),
    Double(f64),
    /// `d` suffix or an integer too large for long: the decimal value `mantissa / 10^scale`.
    Decimal {
        mantissa: i128,
        scale: u32,
    },
}

/// How a string was written (matters for native command lines and for `.ToString()` of blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteKind {
    /// An unquoted word in argument mode, a hashtable key, a member name.
    Bare,
    Single,
    Double,
    HereSingle,
    HereDouble,
}

/// A piece of an expandable string.
#[derive(Debug, Clone, PartialEq)]
pub enum StringPart {
    /// Text, escapes already resolved.
    Literal(String),
    /// `$name`, `${name}`, `$env:NAME` (member access in strings needs `$( )`).
    Variable { path: VariablePath, span: Span },
    /// `$( statements )`.
    SubExpression(Block),
}

/// A variable reference. `qualifier` is the part before `:`, as written — a scope (`global`,
/// `script`, `local`, `private`, `using`) or a drive (`env`, `variable`, `function`, …);
/// `name` is the rest (`$env:ProgramFiles` → `Some("env")`, `"ProgramFiles"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariablePath {
    pub qualifier: Option<String>,
    pub name: String,
    /// Written as `${...}`.
    pub braced: bool,
}

impl VariablePath {
    /// `$env:NAME`.
    pub fn is_env(&self) -> bool {
        self.qualifier
            .as_deref()
            .is_some_and(|q| q.eq_ignore_ascii_case("env"))
    }

    /// The unqualified name equals `name`, case-insensitively (`$_` and `$PSItem` are the same).
    pub fn is(&self, name: &str) -> bool {
        self.qualifier.is_none() && self.name.eq_ignore_ascii_case(name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-not`, `!`
    Not,
    /// `-bnot`
    BNot,
    /// `-x`
    Negate,
    /// `+x`
    Plus,
    PreIncrement,
    PreDecrement,
    PostIncrement,
    PostDecrement,
    /// Unary `-split x`
    Split {
        case: Case,
    },
    /// Unary `-join x`
    Join,
}

/// The `i`/`c` prefix of a comparison operator; `Default` (no prefix) is case-insensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Default,
    Insensitive,
    Sensitive,
}

impl Case {
    pub fn is_sensitive(self) -> bool {
        self == Case::Sensitive
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Subtract,
    Multiply,
    Divide,
    Remainder,
    /// `a..b`
    Range,
    /// `'{0}' -f x`
    Format,
    And,
    Or,
    Xor,
    BAnd,
    BOr,
    BXor,
    Shl,
    Shr,
    Is,
    IsNot,
    As,
    Join,
    Compare {
        op: CompareOp,
        case: Case,
    },
}

/// Operators that take an `i`/`c` prefix (about_Comparison_Operators, `-replace`, `-split`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Like,
    NotLike,
    Match,
    NotMatch,
    Replace,
    Split,
    Contains,
    NotContains,
    In,
    NotIn,
}

/// Upper bounds the parser enforces (a `ParseError`, never a stack overflow).
pub const MAX_SCRIPT_BYTES: usize = 1 << 20;
/// Deepest nesting of blocks, parentheses and expressions.
pub const MAX_NESTING: usize = 200;
