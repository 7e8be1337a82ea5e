//! Shell-word expansion as BuildKit's `frontend/dockerfile/shell/lex.go` does it: quotes, the
//! escape token, `$v`/`${v}` and every modifier (`:- - :+ + ? :? # ## % %% / //`), word
//! splitting for `ProcessWords`, and the host-dependent case rule for environment keys.
//!
//! The behaviour (including the error texts) follows BuildKit; the code is our own. One known
//! upstream quirk is deliberately *not* reproduced: BuildKit shares one word buffer between the
//! outer word and a nested `${v:-…}` default, so `ProcessWords("a${x:-b}")` drops `a` there. We
//! keep the words separate (see docs/dockerfile.md).

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use super::goquote::{is_digit, is_letter, quote};

/// Which BuildKit build the lexer emulates. Only environment-key comparison depends on it:
/// BuildKit compiled for Windows compares keys case-insensitively (`equal_env_windows.go`), a
/// Linux-hosted BuildKit is case-sensitive even when it builds `windows/*` images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostMode {
    /// Case-sensitive keys (BuildKit on Linux) — the default.
    #[default]
    Linux,
    /// Case-insensitive keys (BuildKit compiled for Windows).
    Windows,
}

impl HostMode {
    /// The key under which `name` is stored and looked up in this mode.
    pub fn normalize_key(self, name: &str) -> String {
        match self {
            HostMode::Linux => name.to_string(),
            HostMode::Windows => name.to_uppercase(),
        }
    }

    /// Whether two environment keys name the same variable.
    pub fn same_key(self, a: &str, b: &str) -> bool {
        match self {
            HostMode::Linux => a == b,
            HostMode::Windows => a == b || a.to_uppercase() == b.to_uppercase(),
        }
    }
}

/// An ordered environment (`KEY=value` list) as a build stage sees it. Setting a key that is
/// already present replaces its value in place, so the order is the order of first definition,
/// as in an image config's `Env`.
#[derive(Debug, Clone, Default)]
pub struct Env {
    host: HostMode,
    vars: Vec<(String, String)>,
    /// Normalized key → position in `vars`, so lookups stay O(1) in long Dockerfiles.
    index: HashMap<String, usize>,
}

impl PartialEq for Env {
    fn eq(&self, other: &Self) -> bool {
        self.host == other.host && self.vars == other.vars
    }
}

impl Eq for Env {}

impl Env {
    pub fn new(host: HostMode) -> Self {
        Env {
            host,
            vars: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Builds an environment from `KEY=value` strings (a string without `=` is a key with an
    /// empty value); later entries win.
    pub fn from_pairs<'a>(host: HostMode, entries: impl IntoIterator<Item = &'a str>) -> Self {
        let mut env = Env::new(host);
        for entry in entries {
            let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
            env.set(key, value);
        }
        env
    }

    pub fn host(&self) -> HostMode {
        self.host
    }

    /// Sets `key` to `value`, replacing an existing entry with the same key (per host mode).
    pub fn set(&mut self, key: &str, value: &str) {
        let normalized = self.host.normalize_key(key);
        match self.index.get(&normalized) {
            Some(&i) => self.vars[i] = (key.to_string(), value.to_string()),
            None => {
                self.index.insert(normalized, self.vars.len());
                self.vars.push((key.to_string(), value.to_string()));
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        let i = match self.host {
            HostMode::Linux => self.index.get(key),
            HostMode::Windows => self.index.get(&key.to_uppercase()),
        }?;
        Some(self.vars[*i].1.as_str())
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn remove(&mut self, key: &str) {
        let host = self.host;
        self.vars.retain(|(k, _)| !host.same_key(k, key));
        self.index = self
            .vars
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (host.normalize_key(k), i))
            .collect();
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// The entries as `KEY=value` strings, in order.
    pub fn to_strings(&self) -> Vec<String> {
        self.vars.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }
}

/// Why a word could not be expanded. `Display` gives BuildKit's text, including the
/// `failed to process "<word>": ` prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {}: {reason}", quote(word))]
pub struct LexError {
    /// The word being expanded.
    pub word: String,
    /// BuildKit's message for the failure.
    pub reason: String,
}

/// What one expansion produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expansion {
    /// The word with quotes and escapes processed and variables substituted (`ProcessWord`).
    pub result: String,
    /// The same text split into words after substitution (`ProcessWords`).
    pub words: Vec<String>,
    /// Variables that were referenced and set.
    pub matched: BTreeSet<String>,
    /// Variables that were referenced but unset.
    pub unmatched: BTreeSet<String>,
}

/// The lexer: an escape token plus BuildKit's processing switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    pub escape: char,
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters.
    pub skip_process_quotes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset_env: bool,
}

impl Lexer {
    /// A lexer with escape token `escape` and every switch off (`shell.NewLex`).
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// `ProcessWord`: the expanded word (spaces between words kept).
    pub fn process_word(&self, word: &str, env: &Env) -> Result<String, LexError> {
        self.process(word, env).map(|e| e.result)
    }

    /// `ProcessWords`: the expanded text split into words; unquoted expansions are field-split.
    pub fn process_words(&self, word: &str, env: &Env) -> Result<Vec<String>, LexError> {
        self.process(word, env).map(|e| e.words)
    }

    /// Expands `word`, returning the word, its split, and which variables it used.
    pub fn process(&self, word: &str, env: &Env) -> Result<Expansion, LexError> {
        let mut state = State {
            lexer: *self,
            chars: word.chars().collect(),
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
        };
        let raw = self.raw_escapes;
        match state.process_until(None, raw) {
            Ok((result, words)) => Ok(Expansion {
                result,
                words,
                matched: state.matched,
                unmatched: state.unmatched,
            }),
            Err(reason) => Err(LexError {
                word: word.to_string(),
                reason,
            }),
        }
    }
}

/// Accumulates the words of `ProcessWords`: characters from expansions split on whitespace,
/// quoted and escaped characters never do.
#[derive(Default)]
struct WordSplitter {
    current: String,
    words: Vec<String>,
    in_word: bool,
}

impl WordSplitter {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.current.is_empty() {
                self.words.push(std::mem::take(&mut self.current));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.current.push(ch);
        self.in_word = true;
    }

    fn add_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_str(&mut self, s: &str) {
        self.current.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.current.is_empty() {
            self.words.push(self.current);
        }
        self.words
    }
}

/// Go's `text/scanner` returns EOF as -1; `string(rune(-1))` prints the replacement character,
/// which is what BuildKit's messages show for a missing character.
const EOF_CHAR: char = '\u{FFFD}';

struct State<'a> {
    lexer: Lexer,
    chars: Vec<char>,
    pos: usize,
    env: &'a Env,
    raw_escapes: bool,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

type Step<T> = Result<T, String>;

impl State<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn lookup(&mut self, name: &str) -> Option<String> {
        match self.env.get(name) {
            Some(v) => {
                self.matched.insert(name.to_string());
                Some(v.to_string())
            }
            None => {
                self.unmatched.insert(name.to_string());
                None
            }
        }
    }

    /// `processStopOn`: reads until `stop` (consumed) or the end; returns the text and words.
    fn process_until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Step<(String, Vec<String>)> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let out = self.process_until_inner(stop);
        self.raw_escapes = saved;
        out
    }

    fn process_until_inner(&mut self, stop: Option<char>) -> Step<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = WordSplitter::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            let quotes = !self.lexer.skip_process_quotes;
            if ch == '$' {
                let text = self.process_dollar()?;
                result.push_str(&text);
                words.add_str(&text);
            } else if quotes && ch == '\'' {
                let text = self.process_single_quote()?;
                result.push_str(&text);
                words.add_raw_str(&text);
            } else if quotes && ch == '"' {
                let text = self.process_double_quote()?;
                result.push_str(&text);
                words.add_raw_str(&text);
            } else {
                self.pos += 1;
                if ch == self.lexer.escape {
                    if self.raw_escapes {
                        words.add_raw_char(ch);
                        result.push(ch);
                    }
                    // The escape token escapes the next character; at the end it vanishes.
                    let Some(escaped) = self.next() else { break };
                    words.add_raw_char(escaped);
                    result.push(escaped);
                } else {
                    words.add_char(ch);
                    result.push(ch);
                }
            }
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn process_single_quote(&mut self) -> Step<String> {
        let mut result = String::new();
        let open = self.next().unwrap_or(EOF_CHAR);
        if self.lexer.raw_quotes {
            result.push(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => {
                    if self.lexer.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> Step<String> {
        let mut result = String::new();
        let open = self.next().unwrap_or(EOF_CHAR);
        if self.lexer.raw_quotes {
            result.push(open);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.pos += 1;
                    if self.lexer.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let text = self.process_dollar()?;
                    result.push_str(&text);
                }
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.lexer.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            // An escape token at the very end is dropped.
                            None => continue,
                            // Only these can be escaped inside double quotes; any other escape
                            // token stays (written a second time in raw-escape mode, as upstream).
                            Some(c) if c == '"' || c == '$' || c == self.lexer.escape => {
                                self.pos += 1;
                                ch = c;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn process_dollar(&mut self) -> Step<String> {
        self.pos += 1; // '$'
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.lexer.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1; // '{'
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.process_name();
        let mut modifier = self.next().unwrap_or(EOF_CHAR);
        let mut modifier_text = modifier.to_string();
        let mut null_is_unset = false;
        match modifier {
            '}' => Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.lexer.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                if modifier == ':' {
                    null_is_unset = true;
                    modifier = self.next().unwrap_or(EOF_CHAR);
                    modifier_text.push(modifier);
                }
                // Patterns keep their escapes so that `\*` stays a literal star.
                let raw = modifier == '#' || modifier == '%';
                if null_is_unset && raw {
                    return Err(format!(
                        "unsupported modifier ({modifier_text}) in substitution"
                    ));
                }
                let word = match self.process_until(Some('}'), raw) {
                    Ok((word, _)) => word,
                    Err(_) if self.peek().is_none() => {
                        return Err("syntax error: missing '}'".into())
                    }
                    Err(e) => return Err(e),
                };
                let value = self.lookup(&name);
                if self.lexer.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}{modifier_text}{word}}}"));
                }
                let unset_or_null =
                    value.is_none() || (null_is_unset && value.as_deref() == Some(""));
                match modifier {
                    '-' => Ok(if unset_or_null {
                        word
                    } else {
                        value.unwrap_or_default()
                    }),
                    '+' => Ok(if unset_or_null { String::new() } else { word }),
                    '?' => {
                        let default_message = match &value {
                            None => "is not allowed to be unset",
                            Some(v) if null_is_unset && v.is_empty() => {
                                "is not allowed to be empty"
                            }
                            Some(v) => return Ok(v.clone()),
                        };
                        let message = if word.is_empty() {
                            default_message
                        } else {
                            &word
                        };
                        Err(format!("{name}: {message}"))
                    }
                    '%' | '#' => {
                        // One modifier char is the shortest match, a doubled one the longest.
                        let (greedy, pattern) = match word.strip_prefix(modifier) {
                            Some(rest) => (true, rest.to_string()),
                            None => (false, word),
                        };
                        let value = value.unwrap_or_default();
                        if modifier == '%' {
                            trim_suffix(&pattern, &value, greedy)
                        } else {
                            trim_prefix(&pattern, &value, greedy)
                        }
                    }
                    _ => Err(format!(
                        "unsupported modifier ({modifier_text}) in substitution"
                    )),
                }
            }
            '/' => {
                let replace_all = self.peek() == Some('/');
                if replace_all {
                    self.pos += 1;
                }
                let pattern = match self.process_until(Some('/'), true) {
                    Ok((p, _)) => p,
                    Err(_) if self.peek().is_none() => {
                        return Err("syntax error: missing '/' in ${}".into())
                    }
                    Err(e) => return Err(e),
                };
                let replacement = match self.process_until(Some('}'), true) {
                    Ok((r, _)) => r,
                    Err(_) if self.peek().is_none() => {
                        return Err("syntax error: missing '}'".into())
                    }
                    Err(e) => return Err(e),
                };
                let value = self.lookup(&name);
                if self.lexer.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                }
                let re = shell_pattern_regex(&pattern, true, false)
                    .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
                Ok(replace(
                    &re,
                    &value.unwrap_or_default(),
                    &replacement,
                    replace_all,
                ))
            }
            _ => Err(format!(
                "unsupported modifier ({modifier_text}) in substitution"
            )),
        }
    }

    /// `processName`: a run of letters, digits and `_`; a leading digit run (positional
    /// parameter) or one special parameter character stands alone.
    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && is_digit(ch) {
                while let Some(d) = self.peek().filter(|c| is_digit(*c)) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return ch.to_string();
            }
            if !(is_letter(ch) || is_digit(ch) || ch == '_') {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }
}

/// Converts a `${v#pattern}` glob (`*` any run, `?` one char; `\` escapes `*`, `?`, `\`, and
/// is dropped before `}` and `/`) into a regex, as `convertShellPatternToRegex` does.
pub(crate) fn shell_pattern_regex(
    pattern: &str,
    greedy: bool,
    anchored: bool,
) -> Result<regex::Regex, String> {
    let mut out = String::with_capacity(pattern.len() + 4);
    if anchored {
        out.push('^');
    }
    let star = if greedy { ".*" } else { ".*?" };
    let mut chars = pattern.chars().peekable();
    while let Some(tok) = chars.next() {
        match tok {
            '*' => out.push_str(star),
            '?' => out.push('.'),
            '\\' => {
                if matches!(chars.peek(), Some('}' | '/')) {
                    continue;
                }
                let escaped = chars.next();
                match escaped {
                    Some(c @ ('*' | '?' | '\\')) => {
                        out.push('\\');
                        out.push(c);
                    }
                    other => {
                        return Err(format!("invalid escape '\\{}'", other.unwrap_or(EOF_CHAR)))
                    }
                }
            }
            c => {
                // The characters Go escapes; everything else is literal in both engines.
                if "[]{}.+()|^$".contains(c) {
                    out.push('\\');
                }
                out.push(c);
            }
        }
    }
    regex::Regex::new(&out).map_err(|e| e.to_string())
}

fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Step<String> {
    let re = shell_pattern_regex(pattern, greedy, true)
        .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
    Ok(match re.find(value) {
        Some(m) => value[m.end()..].to_string(),
        None => value.to_string(),
    })
}

/// Shortest/longest *suffix* match: reverse pattern and value, then match a prefix.
fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Step<String> {
    let reversed_value: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reverse_pattern(pattern), &reversed_value, greedy)?;
    Ok(trimmed.chars().rev().collect())
}

/// Reverses a glob but keeps each `\x` escape pair in order (`a\*c` → `c\*a`).
pub(crate) fn reverse_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = vec![' '; chars.len()];
    let last = chars.len().saturating_sub(1);
    let mut i = 0;
    while i < chars.len() {
        let target = last - i;
        if chars[i] == '\\' && i != last {
            out[target - 1] = '\\';
            out[target] = chars[i + 1];
            i += 2;
        } else {
            out[target] = chars[i];
            i += 1;
        }
    }
    out.into_iter().collect()
}

/// Go's `Regexp.ReplaceAllString` / first-match replacement, including Go's rules for empty
/// matches and `$` expansion in the replacement.
fn replace(re: &regex::Regex, value: &str, replacement: &str, all: bool) -> String {
    if !all {
        return match re.find(value) {
            Some(m) => format!(
                "{}{}{}",
                &value[..m.start()],
                expand_template(replacement, m.as_str()),
                &value[m.end()..]
            ),
            None => value.to_string(),
        };
    }
    let mut out = String::new();
    let mut last_end = 0;
    let mut search = 0;
    while search <= value.len() {
        let Some(m) = re.find_at(value, search) else {
            break;
        };
        out.push_str(&value[last_end..m.start()]);
        // An empty match right after a previous match is not replaced (Go's rule).
        if m.end() > last_end || m.start() == 0 {
            out.push_str(&expand_template(replacement, m.as_str()));
        }
        last_end = m.end();
        let width = value[search..].chars().next().map_or(1, char::len_utf8);
        search = if search + width > m.end() {
            search + width
        } else if search + 1 > m.end() {
            search + 1
        } else {
            m.end()
        };
    }
    out.push_str(&value[last_end.min(value.len())..]);
    out
}

/// Go's `Regexp.Expand` for a regex without groups: `$$` is `$`, `$0`/`${0}` the match, any
/// other well-formed `$name` is empty, a malformed `$` stays literal.
fn expand_template(template: &str, whole: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let is_name_char = |c: char| is_letter(c) || is_digit(c) || c == '_';
        let (name, after) = if let Some(braced) = rest.strip_prefix('{') {
            match braced.find('}') {
                Some(end) if end > 0 && braced[..end].chars().all(is_name_char) => {
                    (&braced[..end], &braced[end + 1..])
                }
                _ => ("", rest),
            }
        } else {
            let end = rest
                .char_indices()
                .find(|(_, c)| !is_name_char(*c))
                .map_or(rest.len(), |(i, _)| i);
            (&rest[..end], &rest[end..])
        };
        if name.is_empty() {
            out.push('$');
            continue;
        }
        if name == "0" {
            out.push_str(whole);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

impl fmt::Display for HostMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostMode::Linux => "linux",
            HostMode::Windows => "windows",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of BuildKit's shell-lexer tables, or `None` (the test is skipped) when the shared
    /// corpus is absent.
    fn shared(name: &str) -> Option<String> {
        let path = registry_client::corpus::shared(&format!("buildkit-shell-tests/{name}"))?;
        Some(std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
    }

    fn base_env(host: HostMode) -> Env {
        Env::from_pairs(host, ["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="])
    }

    /// `envVarTest` exactly as `lex_test.go` reads it, run in one host mode: `A` rows always,
    /// `U` rows only on the Linux host, `W` rows only on the Windows host.
    /// `None` when the corpus is absent (the test was skipped).
    fn run_env_var_table(host: HostMode) -> Option<usize> {
        let text = shared("envVarTest")?;
        let lexer = Lexer::new('\\');
        let env = base_env(host);
        let (mut ran, mut rows) = (0, 0);
        for (n, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.trim().split('|').collect();
            assert_eq!(fields.len(), 3, "line {}: {line:?}", n + 1);
            let (tag, input, expected) = (fields[0].trim(), fields[1].trim(), fields[2].trim());
            rows += 1;
            let applies = match tag {
                "A" => true,
                "U" => host == HostMode::Linux,
                "W" => host == HostMode::Windows,
                other => panic!("line {}: bad tag {other}", n + 1),
            };
            if !applies {
                continue;
            }
            ran += 1;
            let got = lexer.process_word(input, &env);
            if expected == "error" {
                assert!(
                    got.is_err(),
                    "line {} ({host}): {input:?} gave {got:?}, want error",
                    n + 1
                );
            } else {
                assert_eq!(
                    got.as_deref(),
                    Ok(expected),
                    "line {} ({host}): {input:?}",
                    n + 1
                );
            }
        }
        assert_eq!(rows, 230, "envVarTest should hold 230 rows");
        Some(ran)
    }

    #[test]
    fn env_var_table_linux_host() {
        if let Some(ran) = run_env_var_table(HostMode::Linux) {
            assert_eq!(ran, 228);
        }
    }

    #[test]
    fn env_var_table_windows_host() {
        if let Some(ran) = run_env_var_table(HostMode::Windows) {
            assert_eq!(ran, 228);
        }
    }

    /// Expected words in the `RawQuotes + SkipUnsetEnv` mode where they differ from the file
    /// (which states the normal mode). Derived by hand from lex.go: quotes stay in the word,
    /// an unset `${hi}` stays as written; escapes are still processed.
    const RAW_QUOTES_SKIP_UNSET: &[(&str, &[&str])] = &[
        ("hello${hi}bye#unset", &["hello${hi}bye"]),
        ("hello\"${space}\"bye", &["hello\"abc  def\"bye"]),
        ("hello \"${space}\"bye", &["hello", "\"abc  def\"bye"]),
        ("hello\"${leading}\" def", &["hello\"  ab c\"", "def"]),
        ("hello\"${leading}\"", &["hello\"  ab c\""]),
        ("hello\"${trailing}\"d", &["hello\"ab c   \"d"]),
        ("hel\"lo${trailing}\"", &["hel\"loab c   \""]),
        ("hello\" there  \"", &["hello\" there  \""]),
        ("hello\"\\\\there\"", &["hello\"\\there\""]),
        ("hello\"\\there\"", &["hello\"\\there\""]),
        ("hello'\\\\there'", &["hello'\\\\there'"]),
        ("hello'\\there'", &["hello'\\there'"]),
        ("hello'$there'", &["hello'$there'"]),
    ];

    /// `wordsTest` as `lex_test.go` reads it, in both of its modes (upstream's second mode runs
    /// no rows because it re-reads a consumed file; here it runs every row).
    /// `None` when the corpus is absent (the test was skipped).
    fn run_words_table(host: HostMode, raw_skip: bool) -> Option<usize> {
        let text = shared("wordsTest")?;
        let mut lexer = Lexer::new('\\');
        lexer.raw_quotes = raw_skip;
        lexer.skip_unset_env = raw_skip;
        let mut env = Env::new(host);
        let mut ran = 0;
        let mut overrides_used = 0;
        for (n, line) in text.lines().enumerate() {
            if line.starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix("ENV ") {
                let entry = rest.trim_start_matches(' ');
                let (k, v) = entry.split_once('=').unwrap_or((entry, ""));
                env.set(k, v);
                continue;
            }
            let parts: Vec<&str> = line.split('|').collect();
            assert_eq!(parts.len(), 2, "line {}: {line:?}", n + 1);
            let input = parts[0].trim();
            let from_file: Vec<String> = parts[1]
                .trim_start_matches(' ')
                .split(',')
                .map(String::from)
                .collect();
            let mut expected = from_file.clone();
            if raw_skip {
                // The first `hello${hi}bye` row comes before `ENV hi=hi`.
                let key = if input == "hello${hi}bye" && !env.contains("hi") {
                    "hello${hi}bye#unset".to_string()
                } else {
                    input.to_string()
                };
                if let Some((_, words)) = RAW_QUOTES_SKIP_UNSET.iter().find(|(k, _)| *k == key) {
                    expected = words.iter().map(|w| w.to_string()).collect();
                    overrides_used += 1;
                }
            }
            let got = match lexer.process_words(input, &env) {
                Ok(words) => words,
                Err(_) => vec!["error".to_string()],
            };
            assert_eq!(
                got,
                expected,
                "line {} ({host}, raw_skip={raw_skip}): {input:?}",
                n + 1
            );
            ran += 1;
        }
        if raw_skip {
            assert_eq!(overrides_used, RAW_QUOTES_SKIP_UNSET.len());
        }
        Some(ran)
    }

    #[test]
    fn words_table_every_mode() {
        for host in [HostMode::Linux, HostMode::Windows] {
            for raw_skip in [false, true] {
                let Some(ran) = run_words_table(host, raw_skip) else {
                    return;
                };
                assert_eq!(ran, 24);
            }
        }
    }

    #[test]
    fn mandatory_env_vars() {
        let lexer = Lexer::new('\\');
        let set = Env::from_pairs(HostMode::Linux, ["VAR=plain", "ARG=x"]);
        let empty = Env::from_pairs(HostMode::Linux, ["VAR=", "ARG=x"]);
        let unset = Env::from_pairs(HostMode::Linux, ["ARG=x"]);
        let no_empty = "${VAR:?message here$ARG}";
        let no_unset = "${VAR?message here$ARG}";
        assert_eq!(lexer.process_word(no_empty, &set).unwrap(), "plain");
        for env in [&empty, &unset] {
            let err = lexer.process_word(no_empty, env).unwrap_err();
            assert!(err.to_string().contains("message herex"), "{err}");
        }
        assert_eq!(lexer.process_word(no_unset, &set).unwrap(), "plain");
        assert_eq!(lexer.process_word(no_unset, &empty).unwrap(), "");
        let err = lexer.process_word(no_unset, &unset).unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to process \"${VAR?message here$ARG}\": VAR: message herex"
        );
        let err = lexer.process_word("${VAR:?}", &empty).unwrap_err();
        assert!(
            err.to_string().ends_with("VAR: is not allowed to be empty"),
            "{err}"
        );
        let err = lexer.process_word("${VAR?}", &unset).unwrap_err();
        assert!(
            err.to_string().ends_with("VAR: is not allowed to be unset"),
            "{err}"
        );
    }

    #[test]
    fn later_entries_win_and_missing_equals_is_empty() {
        let env = Env::from_pairs(HostMode::Linux, ["foo=bar", "car=hat", "car=bike", "bare"]);
        assert_eq!(env.get("car"), Some("bike"));
        assert_eq!(env.get("bare"), Some(""));
        assert_eq!(env.get("foo"), Some("bar"));
        assert_eq!(env.get("nope"), None);
        let win = Env::from_pairs(HostMode::Windows, ["Path=a", "PATH=b"]);
        assert_eq!(win.to_strings(), vec!["PATH=b".to_string()]);
        assert_eq!(win.get("path"), Some("b"));
    }

    type Case = (
        &'static str,
        &'static [(&'static str, &'static str)],
        Option<&'static str>,
        &'static [&'static str],
        &'static [&'static str],
    );

    /// `TestProcessWithMatches`: (input, env, expected or None for error, matched, unmatched).
    const WITH_MATCHES: &[Case] = &[
        ("x", &[("DUMMY", "dummy")], Some("x"), &[], &[]),
        (
            "x ${UNUSED}",
            &[("DUMMY", "dummy")],
            Some("x "),
            &[],
            &["UNUSED"],
        ),
        ("x ${FOO}", &[("FOO", "y")], Some("x y"), &["FOO"], &[]),
        (
            "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}",
            &[("FOO", "xxx"), ("BAR", "")],
            Some("xxx  ccc"),
            &["FOO", "BAR"],
            &["BAZ"],
        ),
        (
            "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
            &[("FOO", "xxx"), ("BAR", "")],
            Some("xxx bbb ccc"),
            &["FOO", "BAR"],
            &["BAZ"],
        ),
        (
            "${FOO:-}",
            &[("FOO", "xxx"), ("BAR", "")],
            Some("xxx"),
            &["FOO"],
            &[],
        ),
        ("${FOO:-}", &[], Some(""), &[], &["FOO"]),
        (
            "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}",
            &[("FOO", "xxx"), ("BAR", "")],
            Some("aaa bbb "),
            &["FOO", "BAR"],
            &["BAZ"],
        ),
        (
            "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}",
            &[("FOO", "xxx"), ("BAR", "")],
            Some("aaa  "),
            &["FOO", "BAR"],
            &["BAZ"],
        ),
        (
            "${FOO?aaa}",
            &[("FOO", "xxx"), ("BAR", "")],
            Some("xxx"),
            &["FOO"],
            &[],
        ),
        (
            "${BAR?bbb}",
            &[("FOO", "xxx"), ("BAR", "")],
            Some(""),
            &["BAR"],
            &[],
        ),
        ("${BAZ?ccc}", &[("FOO", "xxx"), ("BAR", "")], None, &[], &[]),
        (
            "${FOO:?aaa}",
            &[("FOO", "xxx"), ("BAR", "")],
            Some("xxx"),
            &["FOO"],
            &[],
        ),
        (
            "${BAR:?bbb}",
            &[("FOO", "xxx"), ("BAR", "")],
            None,
            &[],
            &[],
        ),
        (
            "${BAZ:?ccc}",
            &[("FOO", "xxx"), ("BAR", "")],
            None,
            &[],
            &[],
        ),
        ("${BAZ:?}", &[("FOO", "xxx"), ("BAR", "")], None, &[], &[]),
        ("${FOO=aaa}", &[("FOO", "xxx"), ("BAR", "")], None, &[], &[]),
        (
            "${FOO=:aaa}",
            &[("FOO", "xxx"), ("BAR", "")],
            None,
            &[],
            &[],
        ),
        ("${FOO=}", &[], None, &[], &[]),
        (
            "${FOO#()[]{\\}^$.\\*\\?|\\\\}",
            &[("FOO", "()[]{}^$.*?|\\x")],
            Some("x"),
            &["FOO"],
            &[],
        ),
        (
            "${FOO%%\\**}",
            &[("FOO", "xx**")],
            Some("xx"),
            &["FOO"],
            &[],
        ),
        ("${FOO#*x*y}", &[("FOO", "xxyy")], Some("y"), &["FOO"], &[]),
        ("${FOO#*}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
        (
            "${FOO#$BAR}",
            &[("FOO", "xxyy"), ("BAR", "x")],
            Some("xyy"),
            &["FOO", "BAR"],
            &[],
        ),
        (
            "${FOO#$BAR}",
            &[("FOO", "xxyy"), ("BAR", "")],
            Some("xxyy"),
            &["FOO", "BAR"],
            &[],
        ),
        ("${FOO#}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
        ("${FOO##*x}", &[("FOO", "xxyy")], Some("yy"), &["FOO"], &[]),
        ("${FOO##}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
        ("${FOO#?\\?}", &[("FOO", "???y")], Some("?y"), &["FOO"], &[]),
        (
            "${ABC:-.}${FOO%x}${ABC:-.}",
            &[("FOO", "xxyy")],
            Some(".xxyy."),
            &["FOO"],
            &["ABC"],
        ),
        (
            "${FOO%%\\**\\*}",
            &[("FOO", "a***yy*")],
            Some("a"),
            &["FOO"],
            &[],
        ),
        ("${FOO%}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
        (
            "${FOO%%$BAR}",
            &[("FOO", "xxyy"), ("BAR", "")],
            Some("xxyy"),
            &["FOO", "BAR"],
            &[],
        ),
        (
            "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
            &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", "\\*/")],
            Some("/foo.*/*.txt - /foo..*.txt"),
            &["FOO", "NEEDLE"],
            &[],
        ),
        (
            "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
            &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
            Some("/tmp/bar.txt - /bar.txt"),
            &["FOO", "NEEDLE"],
            &[],
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
            &[
                ("FOO", "/a/foo/b/c.txt"),
                ("NEEDLE", "/?/"),
                ("REPLACEMENT", "/"),
            ],
            Some("/foo/b/c.txt - /foo/c.txt"),
            &["FOO", "NEEDLE", "REPLACEMENT"],
            &[],
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT}",
            &[
                ("FOO", "http://google.de"),
                ("NEEDLE", "http://"),
                ("REPLACEMENT", "https://"),
            ],
            Some("https://google.de"),
            &["FOO", "NEEDLE", "REPLACEMENT"],
            &[],
        ),
        (
            "${FOO//\\//\\/}",
            &[("FOO", "/tmp/foo.txt")],
            Some("\\/tmp\\/foo.txt"),
            &["FOO"],
            &[],
        ),
        (
            "${FOO/$BAR/ww}",
            &[("FOO", "xxyy"), ("BAR", "")],
            Some("wwxxyy"),
            &["FOO", "BAR"],
            &[],
        ),
        ("${FOO//ww}", &[("FOO", "xxyy")], None, &[], &[]),
        ("${FOO//}", &[("FOO", "xxyy")], None, &[], &[]),
        ("${FOO///}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
        ("${FOO///}", &[], Some(""), &[], &["FOO"]),
    ];

    #[test]
    fn process_with_matches() {
        let lexer = Lexer::new('\\');
        for (input, vars, expected, matched, unmatched) in WITH_MATCHES {
            let mut env = Env::new(HostMode::Linux);
            vars.iter().for_each(|(k, v)| env.set(k, v));
            let got = lexer.process(input, &env);
            let Some(expected) = expected else {
                assert!(got.is_err(), "{input:?} should fail, got {got:?}");
                continue;
            };
            let got = got.unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(&got.result, expected, "{input:?}");
            let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
            assert_eq!(got.matched, set(matched), "{input:?} matched");
            assert_eq!(got.unmatched, set(unmatched), "{input:?} unmatched");
        }
    }

    #[test]
    fn platform_release_name() {
        let lexer = Lexer::new('\\');
        let word = "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
        let env = Env::from_pairs(
            HostMode::Linux,
            [
                "VERSION=v1.2.3",
                "TARGETOS=linux",
                "TARGETARCH=arm",
                "TARGETVARIANT=v7",
            ],
        );
        assert_eq!(
            lexer.process_word(word, &env).unwrap(),
            "something-v1.2.3.linux-arm-v7.tar.gz"
        );
        let env = Env::from_pairs(
            HostMode::Linux,
            ["VERSION=v1.2.3", "TARGETOS=windows", "TARGETARCH=amd64"],
        );
        assert_eq!(
            lexer.process_word(word, &env).unwrap(),
            "something-v1.2.3.windows-amd64.tar.gz"
        );
    }

    #[test]
    fn shell_pattern_to_regex() {
        for (pattern, expected) in [
            ("*", "^.*"),
            ("?", "^."),
            ("\\*", "^\\*"),
            (
                "(()[]{\\}^$.\\*\\?|\\\\",
                "^\\(\\(\\)\\[\\]\\{\\}\\^\\$\\.\\*\\?\\|\\\\",
            ),
        ] {
            assert_eq!(
                shell_pattern_regex(pattern, true, true).unwrap().as_str(),
                expected
            );
        }
        for pattern in ["\\", "\\x", "\\\\\\"] {
            assert!(
                shell_pattern_regex(pattern, true, true).is_err(),
                "{pattern:?}"
            );
        }
    }

    #[test]
    fn reverse_keeps_escape_pairs() {
        for (pattern, expected) in [
            ("a\\*c", "c\\*a"),
            ("\\\\\\ab", "b\\a\\\\"),
            ("ab\\", "\\ba"),
            ("👽\\🚀🖖", "🖖\\🚀👽"),
            ("\\\\b", "b\\\\"),
        ] {
            assert_eq!(reverse_pattern(pattern), expected, "{pattern:?}");
        }
    }

    #[test]
    fn backtick_escape_keeps_windows_paths() {
        let lexer = Lexer::new('`');
        let env = Env::from_pairs(HostMode::Linux, ["APP=C:\\app"]);
        assert_eq!(
            lexer.process_word("C:\\foo\\bar", &env).unwrap(),
            "C:\\foo\\bar"
        );
        assert_eq!(
            lexer.process_word("$APP\\bin", &env).unwrap(),
            "C:\\app\\bin"
        );
        assert_eq!(lexer.process_word("a` b", &env).unwrap(), "a b");
        assert_eq!(lexer.process_word("\"x`\"y\"", &env).unwrap(), "x\"y");
        // With the default escape the backslashes are eaten, as BuildKit does.
        assert_eq!(
            Lexer::new('\\').process_word("C:\\foo\\bar", &env).unwrap(),
            "C:foobar"
        );
    }

    #[test]
    fn error_texts_follow_buildkit() {
        let lexer = Lexer::new('\\');
        let env = Env::new(HostMode::Linux);
        let reason = |w: &str| lexer.process_word(w, &env).unwrap_err().reason;
        assert_eq!(
            reason("${a"),
            "unsupported modifier (\u{FFFD}) in substitution"
        );
        assert_eq!(reason("${"), "syntax error: missing '}'");
        assert_eq!(reason("${}"), "syntax error: bad substitution");
        assert_eq!(reason("${a:-b"), "syntax error: missing '}'");
        assert_eq!(
            reason("${a:=b}"),
            "unsupported modifier (:=) in substitution"
        );
        assert_eq!(
            reason("${a:#b}"),
            "unsupported modifier (:#) in substitution"
        );
        assert_eq!(reason("${a/b"), "syntax error: missing '/' in ${}");
        assert_eq!(
            reason("'a"),
            "unexpected end of statement while looking for matching single-quote"
        );
        assert_eq!(
            reason("\"a"),
            "unexpected end of statement while looking for matching double-quote"
        );
        assert_eq!(
            reason("${a#\\x}"),
            "invalid pattern (\\x) in substitution: invalid escape '\\x'"
        );
        assert_eq!(
            lexer.process_word("a\tb${", &env).unwrap_err().to_string(),
            "failed to process \"a\\tb${\": syntax error: missing '}'"
        );
    }

    #[test]
    fn replace_all_follows_go_empty_match_rules() {
        let lexer = Lexer::new('\\');
        let env = Env::from_pairs(HostMode::Linux, ["V=abc"]);
        // `.*` first eats everything; the empty match at the end abuts it and is skipped.
        assert_eq!(lexer.process_word("${V//*/-}", &env).unwrap(), "-");
        assert_eq!(lexer.process_word("${V//?/-}", &env).unwrap(), "---");
        assert_eq!(lexer.process_word("${V//x*/-}", &env).unwrap(), "abc");
        // The replacement keeps its escapes (raw mode) and Go expands `$0` to the match.
        assert_eq!(
            lexer.process_word("${V/b/[\\$0]}", &env).unwrap(),
            "a[\\b]c"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(word in "\\PC{0,40}", value in "[a-z*?/ ]{0,8}") {
            let env = Env::from_pairs(HostMode::Linux, [format!("V={value}").as_str()]);
            for lexer in [Lexer::new('\\'), Lexer::new('`'), Lexer { raw_quotes: true, skip_unset_env: true, ..Lexer::new('\\') }] {
                let _ = lexer.process(&word, &env);
            }
        }
    }
}
