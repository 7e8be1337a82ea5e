//! The `--flags` of one instruction, as BuildKit's `bflag.go` parses them, and the "did you
//! mean" suggestion BuildKit adds to unknown flags and instructions.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlagKind {
    Bool,
    String,
    /// May be repeated; every value is kept (`--mount`, `--exclude`).
    Strings,
}

#[derive(Debug, Clone)]
struct FlagDef {
    name: &'static str,
    kind: FlagKind,
    value: String,
    values: Vec<String>,
    used: bool,
}

/// The `--flags` of one instruction, checked against the flags it accepts.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    args: Vec<String>,
    defs: Vec<FlagDef>,
}

impl Flags {
    pub fn new(args: &[String]) -> Self {
        Flags {
            args: args.to_vec(),
            defs: Vec::new(),
        }
    }

    fn add(&mut self, name: &'static str, kind: FlagKind, default: &str) {
        self.defs.push(FlagDef {
            name,
            kind,
            value: default.to_string(),
            values: Vec::new(),
            used: false,
        });
    }

    pub fn add_bool(&mut self, name: &'static str, default: bool) {
        self.add(name, FlagKind::Bool, if default { "true" } else { "false" });
    }

    pub fn add_string(&mut self, name: &'static str, default: &str) {
        self.add(name, FlagKind::String, default);
    }

    pub fn add_strings(&mut self, name: &'static str) {
        self.add(name, FlagKind::Strings, "");
    }

    /// `BFlags.Parse`: `--name=value` or bare `--bool`; `--` ends the flags.
    pub fn parse(&mut self) -> Result<(), String> {
        for arg in self.args.clone() {
            if arg == "--" {
                return Ok(());
            }
            if !arg.starts_with("--") {
                return Err(format!("arg should start with -- : {arg}"));
            }
            let (flag_name, value) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (arg.as_str(), None),
            };
            let name = &flag_name[2..];
            let names: Vec<&str> = self.defs.iter().map(|d| d.name).collect();
            let Some(def) = self.defs.iter_mut().find(|d| d.name == name) else {
                let mut msg = format!("unknown flag: {flag_name}");
                if let Some(s) = suggest(name, &names, true) {
                    msg.push_str(&format!(" (did you mean {s}?)"));
                }
                return Err(msg);
            };
            if def.used && def.kind != FlagKind::Strings {
                return Err(format!("duplicate flag specified: {flag_name}"));
            }
            def.used = true;
            match def.kind {
                FlagKind::Bool => {
                    if value == Some("") {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    }
                    match value.unwrap_or("").to_lowercase().as_str() {
                        "true" | "" => def.value = "true".into(),
                        "false" => def.value = "false".into(),
                        _ => {
                            return Err(format!(
                                "expecting boolean value for flag {flag_name}, not: {}",
                                value.unwrap_or("")
                            ))
                        }
                    }
                }
                FlagKind::String => match value {
                    Some(v) => def.value = v.to_string(),
                    None => return Err(format!("missing a value on flag: {flag_name}")),
                },
                FlagKind::Strings => match value {
                    Some(v) => def.values.push(v.to_string()),
                    None => return Err(format!("missing a value on flag: {flag_name}")),
                },
            }
        }
        Ok(())
    }

    fn def(&self, name: &str) -> Option<&FlagDef> {
        self.defs.iter().find(|d| d.name == name)
    }

    pub fn string(&self, name: &str) -> String {
        self.def(name).map(|d| d.value.clone()).unwrap_or_default()
    }

    pub fn strings(&self, name: &str) -> Vec<String> {
        self.def(name).map(|d| d.values.clone()).unwrap_or_default()
    }

    pub fn is_true(&self, name: &str) -> bool {
        self.def(name).is_some_and(|d| d.value == "true")
    }

    pub fn is_used(&self, name: &str) -> bool {
        self.def(name).is_some_and(|d| d.used)
    }

    /// Names of the flags that were given, sorted.
    pub fn used(&self) -> Vec<String> {
        let mut used: Vec<String> = self
            .defs
            .iter()
            .filter(|d| d.used)
            .map(|d| d.name.to_string())
            .collect();
        used.sort();
        used
    }
}

/// BuildKit's `suggest.WrapError`: the first candidate closer than 3 edits (none when the
/// value is itself a candidate); case-insensitive matching returns it in the value's case.
pub(super) fn suggest(value: &str, candidates: &[&str], case_sensitive: bool) -> Option<String> {
    let fold = |s: &str| {
        if case_sensitive {
            s.to_string()
        } else {
            s.to_lowercase()
        }
    };
    let val = fold(value);
    let mut best: Option<String> = None;
    let mut min = 3;
    for c in candidates {
        let opt = fold(c);
        if opt == val {
            return None;
        }
        let d = levenshtein(&val, &opt);
        if d < min {
            min = d;
            best = Some(if case_sensitive {
                opt
            } else if value == value.to_lowercase() {
                opt.to_lowercase()
            } else if value == value.to_uppercase() {
                opt.to_uppercase()
            } else {
                opt
            });
        }
    }
    best
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
