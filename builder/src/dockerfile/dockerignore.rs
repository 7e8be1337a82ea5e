//! `.dockerignore` handling with moby/patternmatcher semantics: reading the file
//! (`ignorefile.ReadAll`), compiling patterns (exact / prefix `dir/**` / suffix `**/x` / regex),
//! matching with `!` exceptions where the last matching pattern wins and a path matches when one
//! of its parent directories does, choosing `<Dockerfile>.dockerignore` over the context's
//! `.dockerignore`, and walking a build context with the patterns applied.
//!
//! Paths and patterns use `/` (BuildKit on a Linux host, where `\` escapes in patterns).

use std::io;
use std::path::{Path, PathBuf};

use super::winpath::clean_slash;

/// A malformed `.dockerignore` or pattern.
#[derive(Debug, thiserror::Error)]
pub enum IgnoreError {
    #[error("illegal exclusion pattern: \"!\"")]
    BareExclusion,
    #[error("syntax error in pattern")]
    BadPattern,
    #[error("{path}: line {line} is longer than 65536 bytes")]
    LineTooLong { path: String, line: usize },
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// `ignorefile.ReadAll`: the patterns of a `.dockerignore`, one per non-empty, non-comment line.
/// A comment is `#` in column 0; lines are trimmed; `!` inverts; patterns are cleaned and lose
/// one leading `/`. `source` names the file in errors.
pub fn read_patterns(content: &[u8], source: &str) -> Result<Vec<String>, IgnoreError> {
    let content = content.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(content);
    let mut patterns = Vec::new();
    for (index, raw) in content.split(|b| *b == b'\n').enumerate() {
        // bufio.Scanner's default limit; beyond it ReadAll fails.
        if raw.len() > 64 * 1024 {
            return Err(IgnoreError::LineTooLong {
                path: source.to_string(),
                line: index + 1,
            });
        }
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = String::from_utf8_lossy(raw);
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = clean_slash(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        patterns.push(if invert {
            format!("!{cleaned}")
        } else {
            cleaned
        });
    }
    Ok(patterns)
}

/// The ignore file BuildKit uses for `dockerfile` in `context`: `<Dockerfile>.dockerignore`
/// beside the Dockerfile wins over `<context>/.dockerignore`. `None` when neither exists.
pub fn ignore_file_for(dockerfile: &Path, context: &Path) -> Option<PathBuf> {
    if let Some(name) = dockerfile.file_name() {
        let mut specific = name.to_os_string();
        specific.push(".dockerignore");
        let candidate = dockerfile.with_file_name(specific);
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    let default = context.join(".dockerignore");
    default.is_file().then_some(default)
}

/// Loads the patterns that apply to a build of `dockerfile` with `context` (empty when there is
/// no ignore file).
pub fn load_for_build(dockerfile: &Path, context: &Path) -> Result<PatternMatcher, IgnoreError> {
    let Some(path) = ignore_file_for(dockerfile, context) else {
        return PatternMatcher::new(&[] as &[&str]);
    };
    let shown = path.display().to_string();
    let bytes = std::fs::read(&path).map_err(|source| IgnoreError::Io {
        path: shown.clone(),
        source,
    })?;
    PatternMatcher::new(&read_patterns(&bytes, &shown)?)
}

#[derive(Debug, Clone)]
enum Kind {
    Exact,
    /// `dir/**`: the text before the `**`.
    Prefix(String),
    /// `**/x` or `**x`: the text after the `**`.
    Suffix(String),
    Regex(regex::Regex),
    /// A pattern whose regex failed to compile: every match attempt reports `BadPattern`.
    Broken,
}

/// One compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    cleaned: String,
    exclusion: bool,
    kind: Kind,
}

impl Pattern {
    pub fn as_str(&self) -> &str {
        &self.cleaned
    }

    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    fn matches(&self, path: &str) -> Result<bool, IgnoreError> {
        Ok(match &self.kind {
            Kind::Exact => path == self.cleaned,
            Kind::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Kind::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|s| s == path)
            }
            Kind::Regex(re) => re.is_match(path),
            Kind::Broken => return Err(IgnoreError::BadPattern),
        })
    }
}

/// Compiles a cleaned pattern with path separator `sep` (`'/'`, or `'\\'` as a Windows-hosted
/// BuildKit does), returning the match kind and, for regexes, the regex source.
fn compile(pattern: &str, sep: char) -> (Kind, Option<String>) {
    #[derive(PartialEq)]
    enum Detected {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let esc_sep = if sep == '\\' {
        "\\\\".to_string()
    } else {
        sep.to_string()
    };
    let mut re = String::from("^");
    let mut detected = Detected::Exact;
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        if ch == '*' {
            if chars.get(i) == Some(&'*') {
                i += 1;
                if chars.get(i) == Some(&sep) {
                    i += 1;
                }
                if i == chars.len() {
                    if detected == Detected::Exact {
                        detected = Detected::Prefix;
                    } else {
                        re.push_str(".*");
                        detected = Detected::Regex;
                    }
                } else {
                    re.push_str(&format!("(.*{esc_sep})?"));
                    detected = Detected::Regex;
                }
                if first {
                    detected = Detected::Suffix;
                }
            } else {
                re.push_str(&format!("[^{esc_sep}]*"));
                detected = Detected::Regex;
            }
        } else if ch == '?' {
            re.push_str(&format!("[^{esc_sep}]"));
            detected = Detected::Regex;
        } else if ".+()|{}$".contains(ch) {
            re.push('\\');
            re.push(ch);
        } else if ch == '\\' {
            if sep == '\\' {
                // A Windows host has no escapes: `\` is the separator.
                re.push_str(&esc_sep);
            } else if i < chars.len() {
                re.push('\\');
                re.push(chars[i]);
                i += 1;
                detected = Detected::Regex;
            } else {
                re.push('\\');
            }
        } else if ch == '[' || ch == ']' {
            re.push(ch);
            detected = Detected::Regex;
        } else {
            re.push(ch);
        }
        first = false;
    }
    match detected {
        Detected::Exact => (Kind::Exact, None),
        Detected::Prefix => (Kind::Prefix(pattern[..pattern.len() - 2].to_string()), None),
        Detected::Suffix => (Kind::Suffix(pattern[2..].to_string()), None),
        Detected::Regex => {
            re.push('$');
            match regex::Regex::new(&re) {
                Ok(r) => (Kind::Regex(r), Some(re)),
                Err(_) => (Kind::Broken, Some(re)),
            }
        }
    }
}

/// Go's `filepath.Match` syntax check (Unix): `\` must escape something, `[` classes must be
/// closed, non-empty, and ranges complete (`[-]`, `[x-]`, `[]a]`, `[a-b-c]` are malformed).
fn validate_glob(pattern: &str) -> Result<(), IgnoreError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    // One class element (`getEsc`): a char or an escaped char, which must not end the pattern.
    let element = |i: &mut usize| -> Result<(), IgnoreError> {
        match chars.get(*i) {
            None | Some('-') | Some(']') => return Err(IgnoreError::BadPattern),
            Some('\\') => {
                *i += 1;
                if *i >= chars.len() {
                    return Err(IgnoreError::BadPattern);
                }
            }
            _ => {}
        }
        *i += 1;
        if *i >= chars.len() {
            return Err(IgnoreError::BadPattern);
        }
        Ok(())
    };
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                i += 2;
                if i > chars.len() {
                    return Err(IgnoreError::BadPattern);
                }
            }
            '[' => {
                i += 1;
                if chars.get(i) == Some(&'^') {
                    i += 1;
                }
                let mut ranges = 0;
                loop {
                    if chars.get(i) == Some(&']') && ranges > 0 {
                        i += 1;
                        break;
                    }
                    element(&mut i)?;
                    if chars.get(i) == Some(&'-') {
                        i += 1;
                        element(&mut i)?;
                    }
                    ranges += 1;
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// The result of matching a directory, handed to its children (`MatchInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
}

/// An ordered list of ignore patterns (`patternmatcher.PatternMatcher`).
#[derive(Debug, Clone, Default)]
pub struct PatternMatcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl PatternMatcher {
    /// `patternmatcher.New`: trims, drops empty patterns, cleans, splits off `!`, checks syntax.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, IgnoreError> {
        let mut pm = PatternMatcher::default();
        for p in patterns {
            let p = p.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let mut p = clean_slash(p);
            let exclusion = p.starts_with('!');
            if exclusion {
                if p.len() == 1 {
                    return Err(IgnoreError::BareExclusion);
                }
                p.remove(0);
                pm.exclusions = true;
            }
            validate_glob(&p)?;
            let (kind, _) = compile(&p, '/');
            pm.patterns.push(Pattern {
                cleaned: p,
                exclusion,
                kind,
            });
        }
        Ok(pm)
    }

    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether any pattern is a `!` exception (a walker must then look inside ignored dirs).
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// `MatchesExact`: the path itself, no parent directories.
    pub fn matches_exact(&self, file: &str) -> Result<bool, IgnoreError> {
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            if p.matches(file)? {
                matched = !p.exclusion;
            }
        }
        Ok(matched)
    }

    /// `MatchesOrParentMatches`: the path or any of its parent directories.
    pub fn matches_or_parent_matches(&self, file: &str) -> Result<bool, IgnoreError> {
        self.matches_using_parent_results(file, &MatchInfo::default())
            .map(|(m, _)| m)
    }

    /// `MatchesUsingParentResults`: as `matches_or_parent_matches`, reusing the parent
    /// directory's result while walking a tree top-down.
    pub fn matches_using_parent_results(
        &self,
        file: &str,
        parent: &MatchInfo,
    ) -> Result<(bool, MatchInfo), IgnoreError> {
        let known = &parent.parent_matched;
        if !known.is_empty() && known.len() != self.patterns.len() {
            return Err(IgnoreError::BadPattern);
        }
        let mut matched = false;
        let mut info = MatchInfo {
            parent_matched: vec![false; self.patterns.len()],
        };
        for (i, p) in self.patterns.iter().enumerate() {
            let mut hit = known.get(i).copied().unwrap_or(false);
            if !hit {
                if p.exclusion != matched {
                    continue;
                }
                hit = p.matches(file)?;
                if !hit && known.is_empty() {
                    hit = parent_dirs(file)
                        .iter()
                        .any(|dir| p.matches(dir).unwrap_or(false));
                }
            }
            info.parent_matched[i] = hit;
            if hit {
                matched = !p.exclusion;
            }
        }
        Ok((matched, info))
    }
}

/// The parent directories of a `/` path, shortest first (`a/b/c` → `a`, `a/b`).
fn parent_dirs(file: &str) -> Vec<&str> {
    let parent = match file.rfind('/') {
        Some(0) | None => return Vec::new(),
        Some(i) => &file[..i],
    };
    let parent = parent.trim_end_matches('/');
    if parent.is_empty() || parent == "." {
        return Vec::new();
    }
    let mut out: Vec<&str> = parent
        .match_indices('/')
        .map(|(i, _)| &parent[..i])
        .collect();
    out.retain(|d| !d.is_empty());
    out.push(parent);
    out
}

/// Lists the context files and directories that survive `matcher`, as `/` paths relative to
/// `root`, sorted, walking top-down like BuildKit's fsutil (an ignored directory is skipped
/// entirely unless some `!` exception might re-include something below it).
pub fn walk_context(root: &Path, matcher: &PatternMatcher) -> Result<Vec<String>, IgnoreError> {
    let mut out = Vec::new();
    walk_dir(root, "", matcher, &MatchInfo::default(), &mut out)?;
    out.sort();
    Ok(out)
}

fn walk_dir(
    dir: &Path,
    prefix: &str,
    matcher: &PatternMatcher,
    parent: &MatchInfo,
    out: &mut Vec<String>,
) -> Result<(), IgnoreError> {
    let io_err = |source| IgnoreError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .collect::<Result<_, _>>()
        .map_err(io_err)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let (ignored, info) = matcher.matches_using_parent_results(&rel, parent)?;
        let is_dir = entry.file_type().map_err(io_err)?.is_dir();
        if !ignored {
            out.push(rel.clone());
        }
        if is_dir && (!ignored || matcher.has_exclusions()) {
            walk_dir(&entry.path(), &rel, matcher, &info, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, PartialEq, Debug)]
    enum Want {
        Fail,
        Exact,
        Inexact,
    }
    use Want::*;

    /// patternmatcher `TestMatches`: every single-pattern case, with the Unix-host expectations.
    const MATCHES: &[(&str, &str, Want)] = &[
        ("**", "file", Exact),
        ("**", "file/", Exact),
        ("**/", "file", Exact),
        ("**/", "file/", Exact),
        ("**", "/", Exact),
        ("**/", "/", Exact),
        ("**", "dir/file", Exact),
        ("**/", "dir/file", Exact),
        ("**", "dir/file/", Exact),
        ("**/", "dir/file/", Exact),
        ("**/**", "dir/file", Exact),
        ("**/**", "dir/file/", Exact),
        ("dir/**", "dir/file", Exact),
        ("dir/**", "dir/file/", Exact),
        ("dir/**", "dir/dir2/file", Exact),
        ("dir/**", "dir/dir2/file/", Exact),
        ("**/dir", "dir", Exact),
        ("**/dir", "dir/file", Inexact),
        ("**/dir2/*", "dir/dir2/file", Exact),
        ("**/dir2/*", "dir/dir2/file/", Inexact),
        ("**/dir2/**", "dir/dir2/dir3/file", Exact),
        ("**/dir2/**", "dir/dir2/dir3/file/", Exact),
        ("**file", "file", Exact),
        ("**file", "dir/file", Exact),
        ("**/file", "dir/file", Exact),
        ("**file", "dir/dir/file", Exact),
        ("**/file", "dir/dir/file", Exact),
        ("**/file*", "dir/dir/file", Exact),
        ("**/file*", "dir/dir/file.txt", Exact),
        ("**/file*txt", "dir/dir/file.txt", Exact),
        ("**/file*.txt", "dir/dir/file.txt", Exact),
        ("**/file*.txt*", "dir/dir/file.txt", Exact),
        ("**/**/*.txt", "dir/dir/file.txt", Exact),
        ("**/**/*.txt2", "dir/dir/file.txt", Fail),
        ("**/*.txt", "file.txt", Exact),
        ("**/**/*.txt", "file.txt", Exact),
        ("a**/*.txt", "a/file.txt", Exact),
        ("a**/*.txt", "a/dir/file.txt", Exact),
        ("a**/*.txt", "a/dir/dir/file.txt", Exact),
        ("a/*.txt", "a/dir/file.txt", Fail),
        ("a/*.txt", "a/file.txt", Exact),
        ("a/*.txt**", "a/file.txt", Exact),
        ("a[b-d]e", "ae", Fail),
        ("a[b-d]e", "ace", Exact),
        ("a[b-d]e", "aae", Fail),
        ("a[^b-d]e", "aze", Exact),
        (".*", ".foo", Exact),
        (".*", "foo", Fail),
        ("abc.def", "abcdef", Fail),
        ("abc.def", "abc.def", Exact),
        ("abc.def", "abcZdef", Fail),
        ("abc?def", "abcZdef", Exact),
        ("abc?def", "abcdef", Fail),
        ("**/foo/bar", "foo/bar", Exact),
        ("**/foo/bar", "dir/foo/bar", Exact),
        ("**/foo/bar", "dir/dir2/foo/bar", Exact),
        ("abc/**", "abc", Fail),
        ("abc/**", "abc/def", Exact),
        ("abc/**", "abc/def/ghi", Exact),
        ("**/.foo", ".foo", Exact),
        ("**/.foo", "bar.foo", Fail),
        ("a(b)c/def", "a(b)c/def", Exact),
        ("a(b)c/def", "a(b)c/xyz", Fail),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", Exact),
        (
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            Exact,
        ),
        (
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            Exact,
        ),
        // Unix-host only rows.
        ("a\\\\", "a\\", Exact),
        ("a\\*b", "a*b", Exact),
    ];

    const MULTI: &[(&[&str], &str, Want)] = &[
        (&["**", "!util/docker/web"], "util/docker/web/foo", Fail),
        (
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo",
            Exact,
        ),
        (
            &[
                "**",
                "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            ],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            Fail,
        ),
        (
            &["**", "!dist/*.whl"],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            Fail,
        ),
    ];

    /// The walk a context traversal does: each parent dir first, then the file.
    fn via_parent_results(pm: &PatternMatcher, text: &str) -> bool {
        let mut info = MatchInfo::default();
        for dir in parent_dirs(text) {
            info = pm.matches_using_parent_results(dir, &info).unwrap().1;
        }
        pm.matches_using_parent_results(text, &info).unwrap().0
    }

    #[test]
    fn patternmatcher_matches_table() {
        // 66 shared rows, `a\\\\` (whose expectation is host-specific) and the Unix-only `a\\*b`.
        assert_eq!(MATCHES.len(), 68);
        for &(pattern, text, want) in MATCHES {
            let pm = PatternMatcher::new(&[pattern]).unwrap();
            let d = format!("pattern={pattern:?} text={text:?}");
            assert_eq!(pm.matches_exact(text).unwrap(), want == Exact, "exact {d}");
            assert_eq!(
                pm.matches_or_parent_matches(text).unwrap(),
                want != Fail,
                "parents {d}"
            );
            assert_eq!(via_parent_results(&pm, text), want != Fail, "walk {d}");
        }
        for &(patterns, text, want) in MULTI {
            let pm = PatternMatcher::new(patterns).unwrap();
            let d = format!("patterns={patterns:?} text={text:?}");
            assert_eq!(
                pm.matches_or_parent_matches(text).unwrap(),
                want != Fail,
                "parents {d}"
            );
            assert_eq!(via_parent_results(&pm, text), want != Fail, "walk {d}");
        }
    }

    #[test]
    fn simple_rules() {
        let m = |file: &str, patterns: &[&str]| -> Result<bool, IgnoreError> {
            let pm = PatternMatcher::new(patterns)?;
            let file = clean_slash(file);
            if file == "." {
                return Ok(false);
            }
            pm.matches_or_parent_matches(&file)
        };
        assert!(m("fileutils.go", &["*"]).unwrap());
        assert!(m("fileutils.go", &["*.go"]).unwrap());
        assert!(m("fileutils.go", &["!fileutils.go", "*.go"]).unwrap());
        assert!(!m("docs/README.md", &["docs", "!docs/README.md"]).unwrap());
        assert!(!m("docs/README.md", &["docs/", "!docs/README.md"]).unwrap());
        assert!(!m("docs/README.md", &["docs/*", "!docs/README.md"]).unwrap());
        assert!(!m("fileutils.go", &["*.go", "!fileutils.go"]).unwrap());
        assert!(!m(".", &["*.go"]).unwrap());
        assert!(matches!(
            m("fileutils.go", &["!"]),
            Err(IgnoreError::BareExclusion)
        ));
        assert!(!m("/any/path/there", &[]).unwrap());
        assert!(m("/any/path/there", &["["]).is_err());
        let pm = PatternMatcher::new(&["docs", "config", ""]).unwrap();
        assert_eq!(pm.patterns().len(), 2);
        for patterns in [
            ["docs", "!docs/README.md"],
            ["docs", "  !docs/README.md"],
            ["docs", "!docs/README.md  "],
        ] {
            assert!(PatternMatcher::new(&patterns).unwrap().has_exclusions());
        }
    }

    /// patternmatcher `TestMatch` (Go's filepath.Match table), Unix host.
    #[test]
    fn filepath_match_table() {
        let cases: &[(&str, &str, bool, bool)] = &[
            ("abc", "abc", true, false),
            ("*", "abc", true, false),
            ("*c", "abc", true, false),
            ("a*", "a", true, false),
            ("a*", "abc", true, false),
            ("a*", "ab/c", true, false),
            ("a*/b", "abc/b", true, false),
            ("a*/b", "a/c/b", false, false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true, false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true, false),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false, false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false, false),
            ("a*b?c*x", "abxbbxdbxebxczzx", true, false),
            ("a*b?c*x", "abxbbxdbxebxczzy", false, false),
            ("ab[c]", "abc", true, false),
            ("ab[b-d]", "abc", true, false),
            ("ab[e-g]", "abc", false, false),
            ("ab[^c]", "abc", false, false),
            ("ab[^b-d]", "abc", false, false),
            ("ab[^e-g]", "abc", true, false),
            ("a\\*b", "a*b", true, false),
            ("a\\*b", "ab", false, false),
            ("a?b", "a☺b", true, false),
            ("a[^a]b", "a☺b", true, false),
            ("a???b", "a☺b", false, false),
            ("a[^a][^a][^a]b", "a☺b", false, false),
            ("[a-ζ]*", "α", true, false),
            ("*[a-ζ]", "A", false, false),
            ("a?b", "a/b", false, false),
            ("a*b", "a/b", false, false),
            ("[\\]a]", "]", true, false),
            ("[\\-]", "-", true, false),
            ("[x\\-]", "x", true, false),
            ("[x\\-]", "-", true, false),
            ("[x\\-]", "z", false, false),
            ("[\\-x]", "x", true, false),
            ("[\\-x]", "-", true, false),
            ("[\\-x]", "a", false, false),
            ("[]a]", "]", false, true),
            ("[-]", "-", false, true),
            ("[x-]", "x", false, true),
            ("[x-]", "-", false, true),
            ("[x-]", "z", false, true),
            ("[-x]", "x", false, true),
            ("[-x]", "-", false, true),
            ("[-x]", "a", false, true),
            ("\\", "a", false, true),
            ("[a-b-c]", "a", false, true),
            ("[", "a", false, true),
            ("[^", "a", false, true),
            ("[^bc", "a", false, true),
            ("a[", "a", false, true),
            ("a[", "ab", false, true),
            ("*x", "xxx", true, false),
        ];
        for &(pattern, s, want, bad) in cases {
            let got =
                PatternMatcher::new(&[pattern]).and_then(|pm| pm.matches_or_parent_matches(s));
            match got {
                Ok(m) => {
                    assert!(!bad, "{pattern:?} should be malformed");
                    assert_eq!(m, want, "{pattern:?} vs {s:?}");
                }
                Err(IgnoreError::BadPattern) => assert!(bad, "{pattern:?} reported malformed"),
                Err(e) => panic!("{pattern:?}: {e}"),
            }
        }
    }

    /// patternmatcher `TestCompile`, for both separators.
    #[test]
    fn compile_table() {
        #[derive(PartialEq, Debug)]
        enum K {
            Exact,
            Prefix,
            Suffix,
            Regex,
        }
        let cases: &[(&str, K, &str, &str)] = &[
            ("*", K::Regex, "^[^/]*$", "^[^\\\\]*$"),
            ("file*", K::Regex, "^file[^/]*$", "^file[^\\\\]*$"),
            ("*file", K::Regex, "^[^/]*file$", "^[^\\\\]*file$"),
            ("a*/b", K::Regex, "^a[^/]*/b$", "^a[^\\\\]*\\\\b$"),
            ("**", K::Suffix, "", ""),
            ("**/**", K::Regex, "^(.*/)?.*$", "^(.*\\\\)?.*$"),
            ("dir/**", K::Prefix, "", ""),
            ("**/dir", K::Suffix, "", ""),
            (
                "**/dir2/*",
                K::Regex,
                "^(.*/)?dir2/[^/]*$",
                "^(.*\\\\)?dir2\\\\[^\\\\]*$",
            ),
            (
                "**/dir2/**",
                K::Regex,
                "^(.*/)?dir2/.*$",
                "^(.*\\\\)?dir2\\\\.*$",
            ),
            ("**file", K::Suffix, "", ""),
            (
                "**/file*txt",
                K::Regex,
                "^(.*/)?file[^/]*txt$",
                "^(.*\\\\)?file[^\\\\]*txt$",
            ),
            (
                "**/**/*.txt",
                K::Regex,
                "^(.*/)?(.*/)?[^/]*\\.txt$",
                "^(.*\\\\)?(.*\\\\)?[^\\\\]*\\.txt$",
            ),
            ("a[b-d]e", K::Regex, "^a[b-d]e$", "^a[b-d]e$"),
            (".*", K::Regex, "^\\.[^/]*$", "^\\.[^\\\\]*$"),
            ("abc.def", K::Exact, "", ""),
            ("abc?def", K::Regex, "^abc[^/]def$", "^abc[^\\\\]def$"),
            ("**/foo/bar", K::Suffix, "", ""),
            ("a(b)c/def", K::Exact, "", ""),
            ("a.|)$(}+{bc", K::Exact, "", ""),
            (
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                K::Exact,
                "",
                "",
            ),
        ];
        for (pattern, kind, unix_re, windows_re) in cases {
            for (sep, want_re) in [('/', unix_re), ('\\', windows_re)] {
                let cleaned = clean_slash(pattern).replace('/', &sep.to_string());
                let (got, re) = compile(&cleaned, sep);
                let got_kind = match got {
                    Kind::Exact => K::Exact,
                    Kind::Prefix(_) => K::Prefix,
                    Kind::Suffix(_) => K::Suffix,
                    Kind::Regex(_) => K::Regex,
                    Kind::Broken => panic!("{pattern:?} failed to compile"),
                };
                assert_eq!(&got_kind, kind, "{pattern:?} sep {sep:?}");
                if *kind == K::Regex {
                    assert_eq!(re.as_deref(), Some(*want_re), "{pattern:?} sep {sep:?}");
                }
            }
        }
    }

    #[test]
    fn malformed_pattern_keeps_failing() {
        let pm = PatternMatcher::new(&["[Local-Only]/"]).unwrap();
        for _ in 0..2 {
            assert!(matches!(
                pm.matches_or_parent_matches("x"),
                Err(IgnoreError::BadPattern)
            ));
        }
    }

    /// ignorefile `TestReadAll`.
    #[test]
    fn read_all() {
        assert!(read_patterns(b"", "x").unwrap().is_empty());
        let content = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
        assert_eq!(
            read_patterns(content.as_bytes(), "x").unwrap(),
            [
                "test1",
                "test2",
                "a/file/here",
                "lastfile",
                "!inverted/abs/path",
                "!",
                "!"
            ]
        );
        // BOM on line 1, CRLF endings, `#` only in column 0 is a comment.
        assert_eq!(
            read_patterns(
                b"\xEF\xBB\xBFbin\r\n # not a comment\r\nobj/../obj/\r\n",
                "x"
            )
            .unwrap(),
            ["bin", "# not a comment", "obj"]
        );
        let long = vec![b'a'; 70_000];
        assert!(matches!(
            read_patterns(&long, "x"),
            Err(IgnoreError::LineTooLong { line: 1, .. })
        ));
    }

    #[test]
    fn dockerfile_specific_ignore_file_wins() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path();
        std::fs::write(ctx.join("Dockerfile"), "FROM x\n").unwrap();
        assert_eq!(ignore_file_for(&ctx.join("Dockerfile"), ctx), None);
        std::fs::write(ctx.join(".dockerignore"), "a\n").unwrap();
        assert_eq!(
            ignore_file_for(&ctx.join("Dockerfile"), ctx),
            Some(ctx.join(".dockerignore"))
        );
        std::fs::write(ctx.join("Dockerfile.dockerignore"), "b\n").unwrap();
        assert_eq!(
            ignore_file_for(&ctx.join("Dockerfile"), ctx),
            Some(ctx.join("Dockerfile.dockerignore"))
        );
        let pm = load_for_build(&ctx.join("Dockerfile"), ctx).unwrap();
        assert_eq!(pm.patterns()[0].as_str(), "b");
    }

    #[test]
    fn walk_applies_patterns_and_exceptions() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path();
        for f in [
            "app/Program.cs",
            "app/bin/Debug/app.dll",
            "app/obj/x.json",
            "README.md",
            "docs/a.md",
            "docs/keep.md",
        ] {
            let p = ctx.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        let pm =
            PatternMatcher::new(&["**/bin", "**/obj", "docs", "!docs/keep.md", "*.md"]).unwrap();
        let files = walk_context(ctx, &pm).unwrap();
        assert_eq!(files, ["app", "app/Program.cs", "docs/keep.md"]);
    }
}
