//! A compact, readable rendering of the AST for the parser's table tests: every row states
//! the tree it expects as one line (`1,2 + 3` → `(+ (array 1 2) 3)`).

#![allow(dead_code)]

use powershell::ast::*;

pub fn parse(src: &str) -> Script {
    match powershell::parser::parse(src) {
        Ok(s) => s,
        Err(e) => panic!("{src:?} should parse: {e}"),
    }
}

/// The script as one line.
pub fn show(src: &str) -> String {
    script(&parse(src))
}

/// The parse error message (with position) of a script that must not parse.
pub fn error(src: &str) -> String {
    match powershell::parser::parse(src) {
        Ok(s) => panic!("{src:?} should not parse, got {}", script(&s)),
        Err(e) => e.to_string(),
    }
}

pub fn script(s: &Script) -> String {
    let mut out = String::new();
    if let Some(p) = &s.param {
        out.push_str(&param_block(p));
        out.push(' ');
    }
    out.push_str(&body(&s.body));
    out
}

fn body(b: &Body) -> String {
    let mut parts = Vec::new();
    if let Some(x) = &b.begin {
        parts.push(format!("begin{}", block(x)));
    }
    if let Some(x) = &b.process {
        parts.push(format!("process{}", block(x)));
    }
    if b.begin.is_some() || b.process.is_some() {
        parts.push(format!("end{}", block(&b.end)));
        return parts.join(" ");
    }
    stmts(&b.end.statements)
}

fn stmts(s: &[Statement]) -> String {
    s.iter().map(statement).collect::<Vec<_>>().join("; ")
}

fn block(b: &Block) -> String {
    format!("{{{}}}", stmts(&b.statements))
}

fn param_block(p: &ParamBlock) -> String {
    let attrs: Vec<String> = p.attributes.iter().map(attribute).collect();
    let params: Vec<String> = p.parameters.iter().map(parameter).collect();
    format!("{}(param {})", attrs.join(""), params.join(" "))
}

fn parameter(p: &Parameter) -> String {
    let mut s = String::new();
    for a in &p.attributes {
        match a {
            AttributeOrType::Attribute(a) => s.push_str(&attribute(a)),
            AttributeOrType::Type(t) => s.push_str(&format!("[{}]", t.full_text())),
        }
    }
    s.push('$');
    s.push_str(&p.name);
    if let Some(d) = &p.default {
        s.push('=');
        s.push_str(&expr(d));
    }
    s
}

fn attribute(a: &Attribute) -> String {
    let mut args: Vec<String> = a.positional.iter().map(expr).collect();
    for (n, v) in &a.named {
        args.push(match v {
            Some(v) => format!("{n}={}", expr(v)),
            None => n.clone(),
        });
    }
    format!("[{}({})]", a.name.full_text(), args.join(" "))
}

pub fn statement(s: &Statement) -> String {
    match &s.kind {
        StatementKind::Pipeline(p) => pipeline(p),
        StatementKind::Assignment { target, op, value } => {
            let op = match op {
                AssignOp::Assign => "=",
                AssignOp::Add => "+=",
                AssignOp::Subtract => "-=",
                AssignOp::Multiply => "*=",
                AssignOp::Divide => "/=",
                AssignOp::Remainder => "%=",
            };
            format!("({op} {} {})", expr(target), statement(value))
        }
        StatementKind::If {
            clauses,
            else_block,
        } => {
            let mut s = String::from("(if");
            for (c, b) in clauses {
                s.push_str(&format!(" {} {}", statement(c), block(b)));
            }
            if let Some(e) = else_block {
                s.push_str(&format!(" else {}", block(e)));
            }
            s.push(')');
            s
        }
        StatementKind::While {
            label,
            condition,
            body,
        } => {
            format!(
                "({}while {} {})",
                lbl(label),
                statement(condition),
                block(body)
            )
        }
        StatementKind::Do {
            label,
            body,
            condition,
            until,
        } => format!(
            "({}do {} {} {})",
            lbl(label),
            block(body),
            if *until { "until" } else { "while" },
            statement(condition)
        ),
        StatementKind::For {
            label,
            init,
            condition,
            step,
            body,
        } => {
            let o =
                |x: &Option<Box<Statement>>| x.as_ref().map_or("_".to_string(), |s| statement(s));
            format!(
                "({}for {} {} {} {})",
                lbl(label),
                o(init),
                o(condition),
                o(step),
                block(body)
            )
        }
        StatementKind::Foreach {
            label,
            variable,
            iterable,
            body,
        } => {
            format!(
                "({}foreach {} {} {})",
                lbl(label),
                var(variable),
                statement(iterable),
                block(body)
            )
        }
        StatementKind::Switch {
            label,
            flags,
            subject,
            clauses,
            default,
        } => {
            let mut s = format!("({}switch", lbl(label));
            for f in flags {
                s.push_str(&format!(" -{f}"));
            }
            s.push_str(&format!(" {}", statement(subject)));
            for c in clauses {
                s.push_str(&format!(" {} {}", expr(&c.pattern), block(&c.body)));
            }
            if let Some(d) = default {
                s.push_str(&format!(" default {}", block(d)));
            }
            s.push(')');
            s
        }
        StatementKind::Try {
            body,
            catches,
            finally,
        } => {
            let mut s = format!("(try {}", block(body));
            for c in catches {
                let types: Vec<String> = c
                    .types
                    .iter()
                    .map(|t| format!("[{}]", t.full_text()))
                    .collect();
                s.push_str(&format!(" catch{} {}", types.join(""), block(&c.body)));
            }
            if let Some(f) = finally {
                s.push_str(&format!(" finally {}", block(f)));
            }
            s.push(')');
            s
        }
        StatementKind::Trap { type_name, body } => format!(
            "(trap{} {})",
            type_name
                .as_ref()
                .map_or(String::new(), |t| format!(" [{}]", t.full_text())),
            block(body)
        ),
        StatementKind::Throw(v) => opt_stmt("throw", v),
        StatementKind::Return(v) => opt_stmt("return", v),
        StatementKind::Exit(v) => opt_stmt("exit", v),
        StatementKind::Break(l) => format!(
            "(break{})",
            l.as_ref()
                .map_or(String::new(), |e| format!(" {}", expr(e)))
        ),
        StatementKind::Continue(l) => {
            format!(
                "(continue{})",
                l.as_ref()
                    .map_or(String::new(), |e| format!(" {}", expr(e)))
            )
        }
        StatementKind::Function(f) => format!(
            "({} {} {})",
            if f.is_filter { "filter" } else { "function" },
            f.name,
            script_block(&f.body)
        ),
    }
}

fn lbl(l: &Option<String>) -> String {
    l.as_ref().map_or(String::new(), |l| format!(":{l} "))
}

fn opt_stmt(kw: &str, v: &Option<Box<Statement>>) -> String {
    match v {
        Some(v) => format!("({kw} {})", statement(v)),
        None => format!("({kw})"),
    }
}

fn pipeline(p: &Pipeline) -> String {
    let els: Vec<String> = p.elements.iter().map(element).collect();
    if els.len() == 1 {
        els.into_iter().next().unwrap_or_default()
    } else {
        format!("(pipe {})", els.join(" "))
    }
}

fn element(e: &PipelineElement) -> String {
    match e {
        PipelineElement::Expression {
            expr: x,
            redirections,
            ..
        } => {
            if redirections.is_empty() {
                expr(x)
            } else {
                let r: Vec<String> = redirections.iter().map(redirection).collect();
                format!("(redir {} {})", expr(x), r.join(" "))
            }
        }
        PipelineElement::Command(c) => command(c),
    }
}

fn command(c: &Command) -> String {
    let mut s = String::from("(cmd ");
    match c.invocation {
        Invocation::Plain => {}
        Invocation::Call => s.push_str("& "),
        Invocation::DotSource => s.push_str(". "),
    }
    match &c.name {
        CommandName::Word { name, .. } => s.push_str(name),
        CommandName::Expr(e) => s.push_str(&expr(e)),
    }
    for a in &c.args {
        s.push(' ');
        s.push_str(&match a {
            CommandArg::Parameter {
                name, value: None, ..
            } => format!("-{name}"),
            CommandArg::Parameter {
                name,
                value: Some(v),
                ..
            } => format!("-{name}:{}", expr(v)),
            CommandArg::Value(v) => expr(v),
            CommandArg::Splat { variable, .. } => format!("@{}", variable.name),
            CommandArg::StopParsing { text, .. } => format!("(--% {text:?})"),
        });
    }
    for r in &c.redirections {
        s.push(' ');
        s.push_str(&redirection(r));
    }
    s.push(')');
    s
}

fn stream(s: Stream) -> &'static str {
    match s {
        Stream::All => "*",
        Stream::Output => "1",
        Stream::Error => "2",
        Stream::Warning => "3",
        Stream::Verbose => "4",
        Stream::Debug => "5",
        Stream::Information => "6",
    }
}

fn redirection(r: &Redirection) -> String {
    match r {
        Redirection::File {
            from,
            target,
            append,
            ..
        } => {
            format!(
                "({}{} {})",
                stream(*from),
                if *append { ">>" } else { ">" },
                expr(target)
            )
        }
        Redirection::Merge { from, .. } => format!("({}>&1)", stream(*from)),
    }
}

fn var(v: &VariablePath) -> String {
    let inner = match &v.qualifier {
        Some(q) => format!("{q}:{}", v.name),
        None => v.name.clone(),
    };
    if v.braced {
        format!("${{{inner}}}")
    } else {
        format!("${inner}")
    }
}

fn number(n: &Number) -> String {
    match n {
        Number::Int(i) => format!("{i}"),
        Number::Long(l) => format!("long:{l}"),
        Number::Double(d) => format!("double:{d}"),
        Number::Decimal { mantissa, scale } => format!("decimal:{mantissa}e-{scale}"),
    }
}

fn script_block(sb: &ScriptBlock) -> String {
    let mut s = String::from("{");
    if let Some(p) = &sb.param {
        s.push_str(&param_block(p));
        s.push(' ');
    }
    s.push_str(&body(&sb.body));
    s.push('}');
    s
}

pub fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Number(n) => number(n),
        ExprKind::String { value, quote } => match quote {
            // A bareword that looks like a parameter is shown as what it is: a string.
            QuoteKind::Bare if value.starts_with('-') => format!("bare:{value}"),
            QuoteKind::Bare => value.clone(),
            QuoteKind::Single | QuoteKind::HereSingle => format!("'{value}'"),
            QuoteKind::Double | QuoteKind::HereDouble => format!("{value:?}"),
        },
        ExprKind::ExpandableString { parts, .. } => {
            let p: Vec<String> = parts
                .iter()
                .map(|p| match p {
                    StringPart::Literal(s) => format!("{s:?}"),
                    StringPart::Variable { path, .. } => var(path),
                    StringPart::SubExpression(b) => format!("$({})", stmts(&b.statements)),
                })
                .collect();
            format!("(str {})", p.join(" "))
        }
        ExprKind::Variable(v) => var(v),
        ExprKind::Array(items) => format!(
            "(array {})",
            items.iter().map(expr).collect::<Vec<_>>().join(" ")
        ),
        ExprKind::ArrayExpression(b) => format!("@({})", stmts(&b.statements)),
        ExprKind::SubExpression(b) => format!("$({})", stmts(&b.statements)),
        ExprKind::Paren(s) => format!("(paren {})", statement(s)),
        ExprKind::Hashtable { entries, ordered } => {
            let items: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}={}", expr(k), statement(v)))
                .collect();
            format!(
                "{}@{{{}}}",
                if *ordered { "[ordered]" } else { "" },
                items.join("; ")
            )
        }
        ExprKind::ScriptBlock(sb) => script_block(sb),
        ExprKind::Unary { op, operand } => {
            let o = match op {
                UnaryOp::Not => "-not".to_string(),
                UnaryOp::BNot => "-bnot".into(),
                UnaryOp::Negate => "neg".into(),
                UnaryOp::Plus => "plus".into(),
                UnaryOp::PreIncrement => "++pre".into(),
                UnaryOp::PreDecrement => "--pre".into(),
                UnaryOp::PostIncrement => "post++".into(),
                UnaryOp::PostDecrement => "post--".into(),
                UnaryOp::Split { case } => format!("-{}split", case_prefix(*case)),
                UnaryOp::Join => "-join".into(),
            };
            format!("({o} {})", expr(operand))
        }
        ExprKind::Binary { op, left, right } => {
            format!("({} {} {})", binop(*op), expr(left), expr(right))
        }
        ExprKind::Convert { type_name, operand } => {
            format!("([{}] {})", type_name.full_text(), expr(operand))
        }
        ExprKind::TypeLiteral(t) => format!("[{}]", t.full_text()),
        ExprKind::Member {
            target,
            member,
            is_static,
        } => {
            format!(
                "({} {} {})",
                if *is_static { "::" } else { "." },
                expr(target),
                expr(member)
            )
        }
        ExprKind::InvokeMember {
            target,
            member,
            args,
            is_static,
        } => {
            let a: Vec<String> = args.iter().map(expr).collect();
            format!(
                "({} {} {}({}))",
                if *is_static { "::" } else { "." },
                expr(target),
                expr(member),
                a.join(" ")
            )
        }
        ExprKind::Index { target, index } => format!("(idx {} {})", expr(target), expr(index)),
    }
}

fn case_prefix(c: Case) -> &'static str {
    match c {
        Case::Default => "",
        Case::Insensitive => "i",
        Case::Sensitive => "c",
    }
}

fn binop(op: BinaryOp) -> String {
    match op {
        BinaryOp::Add => "+".into(),
        BinaryOp::Subtract => "-".into(),
        BinaryOp::Multiply => "*".into(),
        BinaryOp::Divide => "/".into(),
        BinaryOp::Remainder => "%".into(),
        BinaryOp::Range => "..".into(),
        BinaryOp::Format => "-f".into(),
        BinaryOp::And => "-and".into(),
        BinaryOp::Or => "-or".into(),
        BinaryOp::Xor => "-xor".into(),
        BinaryOp::BAnd => "-band".into(),
        BinaryOp::BOr => "-bor".into(),
        BinaryOp::BXor => "-bxor".into(),
        BinaryOp::Shl => "-shl".into(),
        BinaryOp::Shr => "-shr".into(),
        BinaryOp::Is => "-is".into(),
        BinaryOp::IsNot => "-isnot".into(),
        BinaryOp::As => "-as".into(),
        BinaryOp::Join => "-join".into(),
        BinaryOp::Compare { op, case } => {
            let name = match op {
                CompareOp::Eq => "eq",
                CompareOp::Ne => "ne",
                CompareOp::Gt => "gt",
                CompareOp::Ge => "ge",
                CompareOp::Lt => "lt",
                CompareOp::Le => "le",
                CompareOp::Like => "like",
                CompareOp::NotLike => "notlike",
                CompareOp::Match => "match",
                CompareOp::NotMatch => "notmatch",
                CompareOp::Replace => "replace",
                CompareOp::Split => "split",
                CompareOp::Contains => "contains",
                CompareOp::NotContains => "notcontains",
                CompareOp::In => "in",
                CompareOp::NotIn => "notin",
            };
            format!("-{}{name}", case_prefix(case))
        }
    }
}
