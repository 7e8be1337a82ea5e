//! The one-way module order (docs/architecture.md), enforced: every file under
//! `builder/src/<module>/` may name only modules to its left in [`ORDER`], plus the leaves.
//!
//! It reads the sources as text and finds every way a file can reach another top-level module:
//! `crate::name`, each name in a `crate::{a, b::c}` group (over several lines too), and a
//! `super::…` chain that climbs to the crate root. Comment lines are skipped (a doc link is not an
//! import). Exempt: files that are wholly tests, declared `#[cfg(test)] mod name;` (today
//! `runtime/hcs/build_tests.rs`, which runs whole builds on HCS and so needs `build`); inline
//! `#[cfg(test)] mod tests { … }` blocks are checked like any other code.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Bottom to top: a module may import only those before it.
const ORDER: &[&str] = &[
    "oci", "layer", "hive", "store", "image", "runtime", "build", "inspect", "cli",
];

/// Modules any module may import; they import none of ours but each other.
const LEAVES: &[&str] = &["dockerfile", "error_text"];

/// One import of a module the file's module may not use.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    file: String,
    line: usize,
    from: String,
    to: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: `{}` imports `{}`, which is not below it",
            self.file, self.line, self.from, self.to
        )
    }
}

/// Which top-level modules `from` may name.
fn allowed(from: &str, to: &str) -> bool {
    if from == to || LEAVES.contains(&to) {
        return true;
    }
    if LEAVES.contains(&from) {
        return false;
    }
    match (
        ORDER.iter().position(|m| *m == from),
        ORDER.iter().position(|m| *m == to),
    ) {
        (Some(a), Some(b)) => b < a,
        _ => false,
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The identifier starting at `at`.
fn ident_at(text: &str, at: usize) -> &str {
    let end = text[at..]
        .bytes()
        .position(|b| !is_ident(b))
        .map_or(text.len(), |n| at + n);
    &text[at..end]
}

/// The module names a path names at `at` (just after `crate::` or the last `super::`, which
/// starts at `start`): each head of a `{…}` group, or the one identifier.
fn names_at(text: &str, start: usize, at: usize) -> Vec<(usize, String)> {
    if text.as_bytes().get(at) == Some(&b'{') {
        group_heads(text, at)
            .into_iter()
            .map(|(i, h)| (i, h.into()))
            .collect()
    } else {
        vec![(start, ident_at(text, at).to_string())]
    }
}

/// The first name of each top-level element of the `{…}` group opening at `open`.
fn group_heads(text: &str, open: usize) -> Vec<(usize, &str)> {
    let bytes = text.as_bytes();
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect_head = true;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                depth += 1;
                if depth == 1 {
                    expect_head = true;
                }
            }
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            b',' if depth == 1 => expect_head = true,
            b if depth == 1 && expect_head && is_ident(b) => {
                heads.push((i, ident_at(text, i)));
                expect_head = false;
            }
            _ => {}
        }
        i += 1;
    }
    heads
}

/// How deep the file's module is: `m/mod.rs` is 1, `m/x.rs` and `m/x/mod.rs` are 2, …
fn module_depth(relative: &Path) -> usize {
    let parts = relative.components().count();
    if relative.file_name().is_some_and(|n| n == "mod.rs") || parts == 1 {
        parts.max(2) - 1
    } else {
        parts
    }
}

/// Every top-level module `text` names, with its byte offset.
fn named_modules(text: &str, depth: usize) -> Vec<(usize, String)> {
    // Comment lines become blanks of the same length, so offsets still give line numbers.
    let text: String = text
        .split_inclusive('\n')
        .map(|line| {
            if line.trim_start().starts_with("//") {
                " ".repeat(line.len() - 1) + if line.ends_with('\n') { "\n" } else { " " }
            } else {
                line.to_string()
            }
        })
        .collect();
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(n) = text[at..].find("crate::") {
        let start = at + n;
        at = start + "crate::".len();
        if start > 0 && is_ident(bytes[start - 1]) {
            continue;
        }
        found.extend(names_at(&text, start, at));
    }
    at = 0;
    while let Some(n) = text[at..].find("super::") {
        let start = at + n;
        if start > 0 && (is_ident(bytes[start - 1]) || text[..start].ends_with("super::")) {
            at = start + 1;
            continue;
        }
        let mut climbs = 0;
        at = start;
        while text[at..].starts_with("super::") {
            climbs += 1;
            at += "super::".len();
        }
        if climbs >= depth {
            found.extend(names_at(&text, start, at));
        }
    }
    found
}

/// Files declared `#[cfg(test)] mod name;` (wholly tests), by path.
fn test_only_files(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut exempt = BTreeSet::new();
    for file in files {
        let text = fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            let Some(name) = pair[1]
                .strip_prefix("mod ")
                .and_then(|rest| rest.strip_suffix(';'))
            else {
                continue;
            };
            if pair[0] != "#[cfg(test)]" {
                continue;
            }
            let dir = match file.file_name().and_then(|n| n.to_str()) {
                Some("mod.rs") | Some("lib.rs") => file.parent().unwrap().to_path_buf(),
                _ => file.with_extension(""),
            };
            exempt.insert(dir.join(format!("{name}.rs")));
            exempt.insert(dir.join(name).join("mod.rs"));
        }
    }
    exempt
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every import in `src` of a module its importer may not use.
fn violations(src: &Path) -> Vec<Violation> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let exempt = test_only_files(&files);
    let tops: BTreeSet<&str> = ORDER.iter().chain(LEAVES).copied().collect();
    let mut out = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let from = first.to_str().unwrap().trim_end_matches(".rs");
        if !tops.contains(from) || exempt.contains(file) {
            continue; // lib.rs, main.rs, this file, test-only files
        }
        let text = fs::read_to_string(file).unwrap();
        for (offset, to) in named_modules(&text, module_depth(relative)) {
            if tops.contains(to.as_str()) && !allowed(from, &to) {
                out.push(Violation {
                    file: format!("builder/src/{}", relative.display()),
                    line: line_of(&text, offset),
                    from: from.into(),
                    to,
                });
            }
        }
    }
    out.sort();
    out
}

#[test]
fn modules_import_only_modules_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    let list: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert!(
        found.is_empty(),
        "{} import(s) against the module order {} (leaves: {}):\n  {}",
        found.len(),
        ORDER.join(" → "),
        LEAVES.join(", "),
        list.join("\n  ")
    );
}

#[test]
fn every_top_level_module_is_placed_in_the_order() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = fs::read_to_string(src.join("lib.rs")).unwrap();
    for line in lib.lines() {
        if let Some(name) = line
            .strip_prefix("pub mod ")
            .and_then(|r| r.strip_suffix(';'))
        {
            assert!(
                ORDER.contains(&name) || LEAVES.contains(&name),
                "lib.rs declares `{name}`, which has no place in the module order; add it to \
                 ORDER or LEAVES in module_order.rs and to docs/architecture.md"
            );
        }
    }
}

#[test]
fn the_scanner_sees_every_form_of_import() {
    let text = "use crate::build::x;\n// crate::cli in a comment\nuse crate::{\n    oci::Digest,\n    inspect::{a, b},\n};\nlet v = super::super::cli::run();\n";
    let names: Vec<(usize, String)> = named_modules(text, 2);
    let lines: Vec<(usize, &str)> = names
        .iter()
        .map(|(o, n)| (line_of(text, *o), n.as_str()))
        .collect();
    assert_eq!(
        lines,
        vec![(1, "build"), (4, "oci"), (5, "inspect"), (7, "cli")]
    );
    assert!(allowed("store", "layer") && allowed("cli", "oci") && allowed("hive", "dockerfile"));
    assert!(
        !allowed("layer", "store") && !allowed("oci", "layer") && !allowed("dockerfile", "oci")
    );
    assert_eq!(module_depth(Path::new("store/mod.rs")), 1);
    assert_eq!(module_depth(Path::new("store/gc.rs")), 2);
    assert_eq!(module_depth(Path::new("runtime/wine/mod.rs")), 2);
    assert_eq!(module_depth(Path::new("runtime/wine/process.rs")), 3);
}
