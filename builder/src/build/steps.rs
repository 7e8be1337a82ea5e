//! From the parsed AST to the build's stage graph: stages split at `FROM`, meta ARGs, each
//! instruction with its validated flags and line numbers, stage dependencies (`FROM <stage>`,
//! `COPY --from`) and the set of stages a target needs (unused stages are not built).
//!
//! Variable expansion happens later, when a step runs against its stage's environment; here only
//! the shape of each instruction is checked (BuildKit's `instructions/parse.go` and `bflag.go`).

use std::collections::{BTreeMap, BTreeSet};

use crate::dockerfile::ast::Node;

/// A problem with the Dockerfile itself, reported with its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct DockerfileError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// One instruction of a stage.
#[derive(Debug, Clone)]
pub struct Instruction {
    /// Upper-case keyword (`COPY`).
    pub keyword: String,
    pub node: Node,
    pub flags: Flags,
    /// Argument words as parsed (not yet expanded).
    pub args: Vec<String>,
}

impl Instruction {
    pub fn line(&self) -> usize {
        self.node.start_line
    }

    /// The instruction as written (continuations joined), for messages.
    pub fn text(&self) -> String {
        self.node.original.trim().to_string()
    }
}

/// A `FROM` and what follows it.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Position in the file (what `COPY --from=0` means).
    pub index: usize,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// The base as written (expanded later with the global args).
    pub base: String,
    /// `FROM --platform=…` as written.
    pub platform: Option<String>,
    pub line: usize,
    pub from_text: String,
    pub instructions: Vec<Instruction>,
}

impl Stage {
    /// The name BuildKit shows in progress (`stage-N` when unnamed).
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("stage-{}", self.index))
    }
}

/// A parsed Dockerfile: meta ARGs (before the first FROM) and stages.
#[derive(Debug, Clone)]
pub struct Dockerfile {
    pub file: String,
    pub escape: char,
    pub meta_args: Vec<Instruction>,
    pub stages: Vec<Stage>,
}

/// Validated `--flag` values of one instruction.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    values: BTreeMap<String, Vec<String>>,
}

impl Flags {
    /// The last value of a string flag.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// Every value of a list flag (`--exclude`).
    pub fn all(&self, name: &str) -> &[String] {
        self.values.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// A boolean flag: present without value or `=true`.
    pub fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v != "false")
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FlagKind {
    Bool,
    Text,
    List,
}

fn allowed_flags(keyword: &str) -> &'static [(&'static str, FlagKind)] {
    use FlagKind::*;
    match keyword {
        "FROM" => &[("platform", Text)],
        "COPY" => &[
            ("from", Text),
            ("chown", Text),
            ("chmod", Text),
            ("link", Bool),
            ("exclude", List),
            ("parents", Bool),
        ],
        "ADD" => &[
            ("chown", Text),
            ("chmod", Text),
            ("link", Bool),
            ("keep-git-dir", Bool),
            ("checksum", Text),
            ("unpack", Bool),
            ("exclude", List),
        ],
        "RUN" => &[
            ("mount", List),
            ("network", Text),
            ("security", Text),
            ("device", List),
        ],
        "HEALTHCHECK" => &[
            ("interval", Text),
            ("timeout", Text),
            ("start-period", Text),
            ("start-interval", Text),
            ("retries", Text),
        ],
        _ => &[],
    }
}

/// BuildKit's `BFlags.Parse`: `--name=value` or `--name` for booleans; unknown, repeated and
/// malformed flags are errors.
fn parse_flags(keyword: &str, words: &[String]) -> Result<Flags, String> {
    let allowed = allowed_flags(keyword);
    let mut flags = Flags::default();
    for word in words {
        let Some(body) = word.strip_prefix("--") else {
            return Err(format!("arg should start with -- : {word}"));
        };
        let (name, value) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (body, None),
        };
        let Some((_, kind)) = allowed.iter().find(|(n, _)| *n == name) else {
            return Err(format!("unknown flag: --{name}"));
        };
        let value = match (kind, value) {
            (FlagKind::Bool, None) => "true".to_string(),
            (FlagKind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                "true" | "" => "true".into(),
                "false" => "false".into(),
                _ => return Err(format!("expecting boolean value for flag {name}, not: {v}")),
            },
            (_, None) => return Err(format!("missing a value on flag: --{name}")),
            (_, Some(v)) => v.to_string(),
        };
        let entry = flags.values.entry(name.to_string()).or_default();
        if !entry.is_empty() && *kind != FlagKind::List {
            return Err(format!("duplicate flag specified: --{name}"));
        }
        entry.push(value);
    }
    Ok(flags)
}

/// The argument words of an instruction node (its `next` chain).
pub fn node_args(node: &Node) -> Vec<String> {
    let mut out = Vec::new();
    let mut next = node.next.as_deref();
    while let Some(n) = next {
        out.push(n.value.clone());
        next = n.next.as_deref();
    }
    out
}

/// Splits the AST into meta ARGs and stages, validating flags.
pub fn from_ast(file: &str, root: &Node, escape: char) -> Result<Dockerfile, DockerfileError> {
    let err = |line: usize, message: String| DockerfileError {
        file: file.to_string(),
        line,
        message,
    };
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &root.children {
        let keyword = node.value.to_ascii_uppercase();
        let flags = parse_flags(&keyword, &node.flags).map_err(|m| err(node.start_line, m))?;
        let args = node_args(node);
        let instruction = Instruction {
            keyword: keyword.clone(),
            node: node.clone(),
            flags,
            args,
        };
        if keyword == "FROM" {
            let (base, name) = match instruction.args.as_slice() {
                [base] => (base.clone(), None),
                [base, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
                    let name = name.to_lowercase();
                    if !valid_stage_name(&name) {
                        return Err(err(
                            node.start_line,
                            format!("invalid name for build stage: {name:?}, name can't start with a number or contain symbols"),
                        ));
                    }
                    if stages
                        .iter()
                        .any(|s| s.name.as_deref() == Some(name.as_str()))
                    {
                        return Err(err(
                            node.start_line,
                            format!("duplicate stage name {name:?}"),
                        ));
                    }
                    (base.clone(), Some(name))
                }
                _ => {
                    return Err(err(
                        node.start_line,
                        "FROM requires either one or three arguments".into(),
                    ))
                }
            };
            stages.push(Stage {
                index: stages.len(),
                name,
                base,
                platform: instruction.flags.get("platform").map(str::to_string),
                line: node.start_line,
                from_text: instruction.text(),
                instructions: Vec::new(),
            });
            continue;
        }
        match stages.last_mut() {
            Some(stage) => stage.instructions.push(instruction),
            None if keyword == "ARG" => meta_args.push(instruction),
            None => {
                return Err(err(
                    node.start_line,
                    format!("{keyword} is not allowed before the first FROM (only ARG is)"),
                ))
            }
        }
    }
    if stages.is_empty() {
        return Err(err(
            1,
            "the Dockerfile has no FROM: nothing to build".into(),
        ));
    }
    Ok(Dockerfile {
        file: file.to_string(),
        escape,
        meta_args,
        stages,
    })
}

fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

impl Dockerfile {
    /// The stage `--target` names (by name, case-insensitively), or the last one.
    pub fn target(&self, target: Option<&str>) -> Result<usize, String> {
        match target {
            None => Ok(self.stages.len() - 1),
            Some(name) => self.stage_by_name(name).ok_or_else(|| {
                let names: Vec<&str> = self
                    .stages
                    .iter()
                    .filter_map(|s| s.name.as_deref())
                    .collect();
                format!(
                    "target stage {name:?} could not be found (stages: {})",
                    if names.is_empty() {
                        "none named".to_string()
                    } else {
                        names.join(", ")
                    }
                )
            }),
        }
    }

    pub fn stage_by_name(&self, name: &str) -> Option<usize> {
        let lower = name.to_lowercase();
        self.stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
    }

    /// What `COPY --from=X` / `FROM X` in stage `current` refers to among earlier stages: a
    /// stage name or index. `None` means an image reference.
    pub fn stage_ref(&self, reference: &str, current: usize) -> Option<usize> {
        if let Some(i) = self.stage_by_name(reference) {
            return (i < current).then_some(i);
        }
        reference.parse::<usize>().ok().filter(|i| *i < current)
    }

    /// The stages `target` needs, in file order (each one's dependencies come before it).
    pub fn needed_stages(&self, target: usize) -> BTreeSet<usize> {
        let mut needed = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if !needed.insert(i) {
                continue;
            }
            let stage = &self.stages[i];
            if let Some(dep) = self.stage_ref(&stage.base, i) {
                todo.push(dep);
            }
            for ins in &stage.instructions {
                if ins.keyword == "COPY" {
                    if let Some(dep) = ins.flags.get("from").and_then(|f| self.stage_ref(f, i)) {
                        todo.push(dep);
                    }
                }
            }
        }
        needed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Dockerfile, DockerfileError> {
        let parsed = crate::dockerfile::parse(text.as_bytes()).unwrap();
        from_ast("Dockerfile", &parsed.ast, parsed.escape_token)
    }

    #[test]
    fn stages_meta_args_and_flags() {
        let df = parse(
            "ARG BASE=x\nFROM $BASE AS Build\nCOPY --chown=ContainerUser --exclude=a --exclude=b src dst\n\
             FROM base\nCOPY --from=build /out /app\nRUN echo hi\n",
        )
        .unwrap();
        assert_eq!(df.meta_args.len(), 1);
        assert_eq!(df.stages.len(), 2);
        assert_eq!(df.stages[0].name.as_deref(), Some("build"));
        let copy = &df.stages[0].instructions[0];
        assert_eq!(copy.flags.get("chown"), Some("ContainerUser"));
        assert_eq!(copy.flags.all("exclude"), ["a", "b"]);
        assert_eq!(copy.args, ["src", "dst"]);
        assert_eq!(copy.line(), 3);
        assert_eq!(df.target(None).unwrap(), 1);
        assert_eq!(df.needed_stages(1).into_iter().collect::<Vec<_>>(), [0, 1]);
    }

    #[test]
    fn unused_stages_are_not_needed() {
        let df = parse("FROM a AS one\nFROM b AS two\nFROM c\nCOPY --from=two x y\n").unwrap();
        assert_eq!(df.needed_stages(2).into_iter().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(df.target(Some("ONE")).unwrap(), 0);
        assert!(df
            .target(Some("nope"))
            .unwrap_err()
            .contains("could not be found"));
    }

    #[test]
    fn bad_flags_and_shapes_report_their_line() {
        let e = parse("FROM a\n\nCOPY --bogus x y\n").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (3, "unknown flag: --bogus"));
        let e = parse("FROM a\nCOPY --link=maybe x y\n").unwrap_err();
        assert!(e.message.contains("expecting boolean"), "{e}");
        let e = parse("FROM a\nCOPY --from=a --from=b x y\n").unwrap_err();
        assert!(e.message.contains("duplicate flag"), "{e}");
        let e = parse("ENV A=1\nFROM a\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse("FROM a AS 1abc\n").unwrap_err();
        assert!(e.message.contains("invalid name"), "{e}");
    }
}
