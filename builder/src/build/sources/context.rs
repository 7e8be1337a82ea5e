//! The build context: a directory on the host that COPY and ADD read from, filtered by
//! `.dockerignore`, and the resolution of COPY sources in it with BuildKit's wildcard rules
//! (Go `filepath.Match` per path, `*` never crossing `/`).
//!
//! Paths inside a context are `/`-separated and relative to its root (`app/bin/x.dll`). A source
//! can never leave the root: like BuildKit, `..` is clamped at the root (`path.Join("/", src)`),
//! and symlinks are copied as links, never followed out of the context.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// Decides which context paths are left out (`.dockerignore`, `COPY --exclude`).
pub trait PathFilter: Send + Sync {
    /// Whether `rel` (`/`-separated, relative to the root) is excluded. `parent_excluded` says
    /// whether its parent directory was, so matchers can apply moby's parent-result rule.
    fn excluded(&self, rel: &str, parent_excluded: bool) -> bool;
}

/// A filter that excludes nothing.
pub struct NoFilter;

impl PathFilter for NoFilter {
    fn excluded(&self, _rel: &str, parent_excluded: bool) -> bool {
        parent_excluded
    }
}

/// `.dockerignore` and `--exclude` patterns with moby/patternmatcher semantics: a path is
/// excluded when it or a parent directory matches (the last matching pattern wins).
impl PathFilter for crate::dockerfile::dockerignore::PatternMatcher {
    fn excluded(&self, rel: &str, _parent_excluded: bool) -> bool {
        // A pattern that cannot be evaluated was already rejected when the matcher was built.
        self.matches_or_parent_matches(rel).unwrap_or(false)
    }
}

/// Both filters apply: excluded by either one is excluded.
pub struct BothFilters<'a>(pub &'a dyn PathFilter, pub &'a dyn PathFilter);

impl PathFilter for BothFilters<'_> {
    fn excluded(&self, rel: &str, parent_excluded: bool) -> bool {
        self.0.excluded(rel, parent_excluded) || self.1.excluded(rel, parent_excluded)
    }
}

/// What a context path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    Directory,
    File { size: u64 },
    Symlink { target: String },
}

/// One path of a context (or of any directory tree used as a COPY source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `/`-separated path relative to the tree's root; empty for the root itself.
    pub rel: String,
    /// Where it is on the host.
    pub host_path: PathBuf,
    pub kind: NodeKind,
    /// Modification time (seconds, nanoseconds) of the host file.
    pub mtime: (i64, u32),
}

/// Errors resolving sources.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "\"{pattern}\" not found in {root}{ignored} (check the path, .dockerignore and \
         --exclude)"
    )]
    NotFound {
        pattern: String,
        root: String,
        /// " (it is excluded by .dockerignore or --exclude)" when it exists but is filtered.
        ignored: String,
    },
    #[error("no file in {root} matches \"{pattern}\"")]
    NoMatch { pattern: String, root: String },
    #[error("bad pattern \"{pattern}\": {message}")]
    BadPattern { pattern: String, message: String },
}

/// A directory tree COPY reads from: the build context, or an unpacked stage or image.
pub struct SourceTree<'a> {
    root: PathBuf,
    /// How the tree is named in errors ("the build context /src", "stage build").
    display: String,
    filter: &'a dyn PathFilter,
}

impl<'a> SourceTree<'a> {
    pub fn new(
        root: impl Into<PathBuf>,
        display: impl Into<String>,
        filter: &'a dyn PathFilter,
    ) -> Self {
        SourceTree {
            root: root.into(),
            display: display.into(),
            filter,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves one COPY source (`app/*.dll`, `/src/`, `.`) to the paths it names, sorted. A
    /// path without wildcards must exist; a pattern must match something.
    pub fn resolve(&self, source: &str) -> Result<Vec<Node>, ContextError> {
        let clean = clean_source(source);
        if !has_wildcard(&clean) {
            return match self.node(&clean)? {
                Some(node) if !self.is_excluded(&clean) => Ok(vec![node]),
                Some(_) => Err(ContextError::NotFound {
                    pattern: source.into(),
                    root: self.display.clone(),
                    ignored: " (it is excluded by .dockerignore or --exclude)".into(),
                }),
                None => Err(ContextError::NotFound {
                    pattern: source.into(),
                    root: self.display.clone(),
                    ignored: String::new(),
                }),
            };
        }
        check_pattern(&clean).map_err(|message| ContextError::BadPattern {
            pattern: source.into(),
            message,
        })?;
        // Only walk as deep as the pattern has components: `*` never crosses `/`.
        let depth = clean.split('/').count();
        let mut matches = Vec::new();
        self.walk_limited("", depth, false, &mut |node| {
            if node.rel.split('/').count() == depth && glob_match(&clean, &node.rel) {
                matches.push(node.clone());
            }
        })?;
        if matches.is_empty() {
            return Err(ContextError::NoMatch {
                pattern: source.into(),
                root: self.display.clone(),
            });
        }
        Ok(matches)
    }

    /// Every path below directory `rel` (not `rel` itself), parents before children, sorted
    /// by name, without excluded paths.
    pub fn walk(&self, rel: &str) -> Result<Vec<Node>, ContextError> {
        let mut out = Vec::new();
        let parent_excluded = !rel.is_empty() && self.is_excluded(rel);
        self.walk_limited(rel, usize::MAX, parent_excluded, &mut |node| {
            out.push(node.clone())
        })?;
        Ok(out)
    }

    /// Whether a path is excluded, checking every ancestor as moby's
    /// `MatchesUsingParentResults` does while walking.
    pub fn is_excluded(&self, rel: &str) -> bool {
        let mut parent_excluded = false;
        let mut prefix = String::new();
        for part in rel.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            parent_excluded = self.filter.excluded(&prefix, parent_excluded);
        }
        parent_excluded
    }

    fn walk_limited(
        &self,
        rel: &str,
        max_depth: usize,
        parent_excluded: bool,
        visit: &mut dyn FnMut(&Node),
    ) -> Result<(), ContextError> {
        let dir = self.host_path(rel);
        let read = fs::read_dir(&dir).map_err(|e| io_err(&dir, e))?;
        let mut names: Vec<String> = Vec::new();
        for entry in read {
            let entry = entry.map_err(|e| io_err(&dir, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        for name in names {
            let child = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let excluded = self.filter.excluded(&child, parent_excluded);
            let Some(node) = self.node(&child)? else {
                continue;
            };
            if !excluded {
                visit(&node);
            }
            // An excluded directory may still hold re-included paths (`!dir/keep`), so descend.
            if node.kind == NodeKind::Directory && child.split('/').count() < max_depth {
                self.walk_limited(&child, max_depth, excluded, visit)?;
            }
        }
        Ok(())
    }

    fn host_path(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    /// The node at `rel`, `None` if nothing is there. Never follows a symlink.
    fn node(&self, rel: &str) -> Result<Option<Node>, ContextError> {
        let path = self.host_path(rel);
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(None),
            Err(e) => return Err(io_err(&path, e)),
        };
        let kind = if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).map_err(|e| io_err(&path, e))?;
            NodeKind::Symlink {
                target: target.to_string_lossy().into_owned(),
            }
        } else if meta.is_dir() {
            NodeKind::Directory
        } else if meta.is_file() {
            NodeKind::File { size: meta.len() }
        } else {
            // Sockets, fifos and devices have no Windows counterpart; BuildKit skips them too.
            return Ok(None);
        };
        Ok(Some(Node {
            rel: rel.to_string(),
            host_path: path,
            kind,
            mtime: mtime_of(&meta),
        }))
    }
}

/// Modification time as (seconds, nanoseconds) since the Unix epoch; earlier times have negative
/// seconds and nanoseconds counted forward, like `st_mtime`/`st_mtime_nsec`.
fn mtime_of(meta: &fs::Metadata) -> (i64, u32) {
    let Ok(modified) = meta.modified() else {
        return (0, 0);
    };
    match modified.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(before) => {
            let d = before.duration();
            match d.subsec_nanos() {
                0 => (-(d.as_secs() as i64), 0),
                n => (-(d.as_secs() as i64) - 1, 1_000_000_000 - n),
            }
        }
    }
}

fn io_err(path: &Path, source: std::io::Error) -> ContextError {
    ContextError::Io {
        what: path.display().to_string(),
        source,
    }
}

/// A source as BuildKit sees it for a Windows target: the drive `C:` is dropped and `\` is a
/// separator like `/` (the Windows path rules of the frontend); `path.Join("/", src)` clamps
/// `..` at the root; the leading `/` goes. (So `\` cannot escape a wildcard in Windows builds,
/// as on a Windows-hosted BuildKit.)
pub fn clean_source(source: &str) -> String {
    let source = match source.as_bytes() {
        [d, b':', ..] if d.eq_ignore_ascii_case(&b'c') => &source[2..],
        _ => source,
    };
    let source = source.replace('\\', "/");
    let joined = crate::dockerfile::winpath::clean_slash(&format!("/{source}"));
    joined.trim_start_matches('/').to_string()
}

/// Whether a cleaned source contains `filepath.Match` metacharacters.
pub fn has_wildcard(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// Checks a pattern's syntax (unterminated `[`, trailing `\`), as `filepath.Match` reports
/// `ErrBadPattern`.
fn check_pattern(pattern: &str) -> Result<(), String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if i + 1 >= chars.len() {
                    return Err("trailing escape character".into());
                }
                i += 2;
            }
            '[' => match class_end(&chars, i) {
                Some(end) => i = end + 1,
                None => return Err("unterminated character class".into()),
            },
            _ => i += 1,
        }
    }
    Ok(())
}

/// The index of the `]` closing the class that opens at `start`.
fn class_end(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if chars.get(i) == Some(&'^') {
        i += 1;
    }
    let first = i;
    while i < chars.len() {
        match chars[i] {
            ']' if i > first => return Some(i),
            '\\' => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// Go's `filepath.Match` on `/`-separated paths: `*` and `?` never match `/`, `[…]` classes with
/// ranges and `^` negation, `\` escapes the next character.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    let (mut pi, mut ni) = (0, 0);
    // Backtracking point for the last `*`: (pattern index after it, name index it covers to).
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi + 1, ni));
                    pi += 1;
                    continue;
                }
                '?' if n[ni] != '/' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, next)) = match_class(p, pi, n[ni]) {
                        if matched && n[ni] != '/' {
                            pi = next;
                            ni += 1;
                            continue;
                        }
                    }
                }
                '\\' if pi + 1 < p.len() && p[pi + 1] == n[ni] => {
                    pi += 2;
                    ni += 1;
                    continue;
                }
                c if c != '\\' && c != '?' && c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        // Mismatch: let the last `*` swallow one more character, never a `/`.
        match star {
            Some((after, covered)) if n[covered] != '/' => {
                star = Some((after, covered + 1));
                pi = after;
                ni = covered + 1;
            }
            _ => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class at `p[start]` (`[`); returns (matched, index after `]`).
fn match_class(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let end = class_end(p, start)?;
    let mut i = start + 1;
    let negated = p.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    while i < end {
        let mut lo = p[i];
        if lo == '\\' {
            i += 1;
            lo = p[i];
        }
        i += 1;
        let mut hi = lo;
        if i + 1 < end && p[i] == '-' {
            hi = p[i + 1];
            if hi == '\\' && i + 2 < end {
                hi = p[i + 2];
                i += 1;
            }
            i += 2;
        }
        if lo <= c && c <= hi {
            matched = true;
        }
    }
    Some((matched != negated, end + 1))
}

/// Streams a file through sha256 (for cache keys).
pub fn hash_file(path: &Path) -> Result<String, ContextError> {
    let mut file = fs::File::open(path).map_err(|e| io_err(path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| io_err(path, e))?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_go_filepath_match() {
        for (pattern, name, want) in [
            ("*.txt", "a.txt", true),
            ("*.txt", "dir/a.txt", false),
            ("dir/*", "dir/a.txt", true),
            ("dir/*", "dir/sub/a.txt", false),
            ("a?c", "abc", true),
            ("a?c", "a/c", false),
            ("[a-c]x", "bx", true),
            ("[^a-c]x", "bx", false),
            ("[^a-c]x", "dx", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "axb", false),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("*/*.dll", "bin/x.dll", true),
        ] {
            assert_eq!(glob_match(pattern, name), want, "{pattern} vs {name}");
        }
        assert!(check_pattern("[abc").is_err());
        assert!(check_pattern("abc\\").is_err());
        assert!(check_pattern("[]a]").is_ok());
    }

    #[test]
    fn sources_are_clamped_to_the_root_and_lose_the_drive() {
        assert_eq!(clean_source("../../etc/passwd"), "etc/passwd");
        assert_eq!(clean_source("/app/"), "app");
        assert_eq!(clean_source("."), "");
        assert_eq!(clean_source("C:/app/x"), "app/x");
        assert_eq!(clean_source("./a/./b"), "a/b");
        assert_eq!(clean_source("C:\\build\\out\\"), "build/out");
        assert_eq!(clean_source("bin\\"), "bin");
    }

    struct Ignore(Vec<&'static str>);
    impl PathFilter for Ignore {
        fn excluded(&self, rel: &str, parent_excluded: bool) -> bool {
            parent_excluded || self.0.iter().any(|p| glob_match(p, rel))
        }
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("app/bin")).unwrap();
        fs::write(root.join("app/a.txt"), "a").unwrap();
        fs::write(root.join("app/b.txt"), "bb").unwrap();
        fs::write(root.join("app/bin/x.dll"), "x").unwrap();
        fs::write(root.join("secret.key"), "k").unwrap();
        dir
    }

    #[test]
    fn resolve_and_walk_respect_the_filter() {
        let dir = tree();
        let filter = Ignore(vec!["secret.key", "app/b.txt"]);
        let ctx = SourceTree::new(dir.path(), "the build context", &filter);
        let found: Vec<String> = ctx
            .resolve("app/*.txt")
            .unwrap()
            .into_iter()
            .map(|n| n.rel)
            .collect();
        assert_eq!(found, ["app/a.txt"]);
        let walked: Vec<String> = ctx.walk("").unwrap().into_iter().map(|n| n.rel).collect();
        assert_eq!(walked, ["app", "app/a.txt", "app/bin", "app/bin/x.dll"]);
        let err = ctx.resolve("secret.key").unwrap_err().to_string();
        assert!(err.contains("excluded"), "{err}");
        let err = ctx.resolve("missing.txt").unwrap_err().to_string();
        assert!(
            err.contains("\"missing.txt\" not found in the build context"),
            "{err}"
        );
        let err = ctx.resolve("*.nothing").unwrap_err().to_string();
        assert!(err.contains("matches"), "{err}");
        assert_eq!(
            ctx.resolve("app/bin/x.dll").unwrap()[0].kind,
            NodeKind::File { size: 1 }
        );
    }
}
