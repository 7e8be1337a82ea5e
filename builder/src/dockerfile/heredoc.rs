//! Heredocs (`<<EOF … EOF`) for `ADD`, `COPY` and `RUN`, as BuildKit's parser finds them.
//!
//! BuildKit splits the instruction line into words with its shell lexer (escape `\`, quotes and
//! escapes kept, unset variables kept as written) and treats every word matching
//! `^(\d*)<<(-?)([^<]*)$` as a heredoc: optional fd, `-` to strip leading tabs, then the name,
//! which is lexed again with and without quote removal: if that changes the quote count the name
//! was quoted and the body is not expanded. This module carries a private copy of exactly that
//! lexer subset (an empty environment, `SkipUnsetEnv`), so the parser does not depend on the full
//! shell lexer.

use super::ast::Heredoc;
use super::goquote::{is_digit, is_letter, is_space, quote};

/// A lexer error, worded as BuildKit's.
type LexResult<T> = Result<T, String>;

/// The word accumulator of BuildKit's lexer (`wordsStruct`).
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if is_space(c) && self.in_word {
            if !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else if !is_space(c) {
            self.add_raw_char(c);
        }
    }

    fn add_raw_char(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        for c in s.chars() {
            self.add_char(c);
        }
    }

    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(std::mem::take(&mut self.word));
        }
        self.words
    }
}

/// BuildKit's shell lexer restricted to what heredoc detection uses: escape token `\`, no
/// variables set, unset ones kept verbatim.
struct Lexer {
    chars: Vec<char>,
    pos: usize,
    raw_quotes: bool,
    raw_escapes: bool,
}

const ESCAPE: char = '\\';

impl Lexer {
    fn new(text: &str, raw_quotes: bool, raw_escapes: bool) -> Lexer {
        let chars: Vec<char> = text.chars().collect();
        // Go's text/scanner skips a byte-order mark at the very start.
        let pos = usize::from(chars.first() == Some(&'\u{feff}'));
        Lexer {
            chars,
            pos,
            raw_quotes,
            raw_escapes,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    /// `ProcessWords`: the words of the whole text, or BuildKit's error.
    fn process_words(mut self, source: &str) -> LexResult<Vec<String>> {
        let raw = self.raw_escapes;
        self.process_stop_on(None, raw)
            .map(|(_, words)| words)
            .map_err(|e| format!("failed to process {}: {e}", quote(source)))
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> LexResult<(String, Vec<String>)> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let result = self.process_stop_on_inner(stop);
        self.raw_escapes = saved;
        result
    }

    fn process_stop_on_inner(&mut self, stop: Option<char>) -> LexResult<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if stop == Some(c) {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            match c {
                '$' => {
                    let value = self.process_dollar()?;
                    result.push_str(&value);
                    words.add_string(&value);
                }
                '\'' | '"' => {
                    let value = if c == '\'' {
                        self.process_single_quote()?
                    } else {
                        self.process_double_quote()?
                    };
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                _ => {
                    let mut c = self.next().expect("peeked");
                    if c == ESCAPE {
                        if self.raw_escapes {
                            words.add_raw_char(c);
                            result.push(c);
                        }
                        match self.next() {
                            None => break,
                            Some(escaped) => c = escaped,
                        }
                        words.add_raw_char(c);
                    } else {
                        words.add_char(c);
                    }
                    result.push(c);
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

    fn process_single_quote(&mut self) -> LexResult<String> {
        let mut result = String::new();
        let open = self.next().expect("peeked quote");
        if self.raw_quotes {
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
                    if self.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> LexResult<String> {
        let mut result = String::new();
        let open = self.next().expect("peeked quote");
        if self.raw_quotes {
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
                    if self.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.process_dollar()?;
                    result.push_str(&value);
                }
                Some(_) => {
                    let mut c = self.next().expect("peeked");
                    if c == ESCAPE {
                        if self.raw_escapes {
                            result.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some('"' | '$' | ESCAPE) => c = self.next().expect("peeked"),
                            Some(_) => {}
                        }
                    }
                    result.push(c);
                }
            }
        }
    }

    fn process_dollar(&mut self) -> LexResult<String> {
        self.pos += 1; // `$`
        if self.peek() != Some('{') {
            let name = self.process_name();
            return Ok(format!("${name}"));
        }
        self.pos += 1; // `{`
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.process_name();
        // Go's scanner returns EOF (-1) here; `string(rune(-1))` is U+FFFD.
        let mut modifier = self.next();
        let mut modifier_text = String::from(modifier.unwrap_or('\u{fffd}'));
        match modifier {
            Some('}') => Ok(format!("${{{name}}}")),
            Some(':' | '+' | '-' | '?' | '#' | '%') => {
                if modifier == Some(':') {
                    modifier = self.next();
                    modifier_text.push(modifier.unwrap_or('\u{fffd}'));
                }
                let raw = matches!(modifier, Some('#' | '%'));
                let word = self.stop_on_or_missing('}', raw, "syntax error: missing '}'")?;
                Ok(format!("${{{name}{modifier_text}{word}}}"))
            }
            Some('/') => {
                if self.peek() == Some('/') {
                    self.pos += 1;
                }
                let pattern =
                    self.stop_on_or_missing('/', true, "syntax error: missing '/' in ${}")?;
                let replacement =
                    self.stop_on_or_missing('}', true, "syntax error: missing '}'")?;
                Ok(format!("${{{name}/{pattern}/{replacement}}}"))
            }
            _ => Err(format!(
                "unsupported modifier ({modifier_text}) in substitution"
            )),
        }
    }

    /// `processStopOn` inside `${…}`: an error at end of input becomes `missing`.
    fn stop_on_or_missing(&mut self, stop: char, raw: bool, missing: &str) -> LexResult<String> {
        match self.process_stop_on(Some(stop), raw) {
            Ok((word, _)) => Ok(word),
            Err(_) if self.peek().is_none() => Err(missing.to_string()),
            Err(e) => Err(e),
        }
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && is_digit(c) {
                while let Some(d) = self.peek().filter(|&d| is_digit(d)) {
                    self.pos += 1;
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return c.to_string();
            }
            if !is_letter(c) && !is_digit(c) && c != '_' {
                break;
            }
            self.pos += 1;
            name.push(c);
        }
        name
    }
}

/// Splits `^(\d*)<<(-?)([^<]*)$`: (fd digits, chomp, name part).
fn match_heredoc_word(word: &str) -> Option<(&str, bool, &str)> {
    let digits_end = word
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(word.len());
    let rest = word[digits_end..].strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.contains('<') {
        return None;
    }
    Some((&word[..digits_end], chomp, rest))
}

/// BuildKit's `ParseHeredoc`: `Ok(None)` when `word` is not a heredoc, an error when its name
/// cannot be lexed (e.g. an unterminated quote).
pub fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, String> {
    let Some((fd, chomp, rest)) = match_heredoc_word(word) else {
        return Ok(None);
    };
    // Go: strconv.ParseUint(fd, 10, 0), error ignored: empty is 0, too large saturates.
    let file_descriptor = if fd.is_empty() {
        0
    } else {
        fd.parse::<u64>().unwrap_or(u64::MAX)
    };
    if rest.is_empty() {
        return Ok(None);
    }
    let words = Lexer::new(rest, false, false).process_words(rest)?;
    if words.len() != 1 {
        return Ok(None);
    }
    let raw_words = Lexer::new(rest, true, false).process_words(rest)?;
    if raw_words.len() != words.len() {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    }
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    let expand = quotes(&words[0]) == quotes(&raw_words[0]);
    Ok(Some(Heredoc {
        name: words.into_iter().next().expect("one word"),
        content: String::new(),
        expand,
        chomp,
        file_descriptor,
    }))
}

/// The heredocs a (joined) instruction line opens, in order. A line the lexer cannot split
/// (e.g. an unterminated quote) opens none, as in BuildKit.
pub fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, String> {
    let words = Lexer::new(line, true, true)
        .process_words(line)
        .unwrap_or_default();
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = parse_heredoc(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// Strips leading tabs from every line of a heredoc body (what `<<-` asks for).
pub fn chomp_heredoc_content(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    for line in content.split_inclusive('\n') {
        out.push_str(line.trim_start_matches('\t'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Port of BuildKit's TestHeredocChomp.
    #[test]
    fn chomp() {
        assert_eq!(
            chomp_heredoc_content("\thello\n\tworld\n"),
            "hello\nworld\n"
        );
        assert_eq!(chomp_heredoc_content("\t\ta\n b\n\t"), "a\n b\n");
    }

    // Port of BuildKit's TestParseHeredocHelpers.
    #[test]
    fn parse_heredoc_words() {
        for src in [
            "<<EOF",
            "<<'EOF'",
            "<<\"EOF\"",
            "<<-EOF",
            "<<-'EOF'",
            "<<-\"EOF\"",
        ] {
            let doc = parse_heredoc(src).unwrap().expect(src);
            assert_eq!(doc.name, "EOF", "{src}");
            assert_eq!(doc.chomp, src.starts_with("<<-"), "{src}");
            assert_eq!(doc.expand, !src.contains(['\'', '"']), "{src}");
        }
        for src in ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""] {
            assert!(parse_heredoc(src).is_err(), "{src}");
        }
        for src in [
            "", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "a<<EOF", "<<a b", "<<''",
        ] {
            assert_eq!(parse_heredoc(src).unwrap(), None, "{src}");
        }
        assert_eq!(
            parse_heredoc("12<<EOF").unwrap().unwrap().file_descriptor,
            12
        );
        assert_eq!(
            parse_heredoc("<<'EOF").unwrap_err(),
            "failed to process \"'EOF\": unexpected end of statement while looking for matching single-quote"
        );
    }

    // Port of BuildKit's TestHeredocsFromLine.
    #[test]
    fn heredocs_on_a_line() {
        let cases: &[(&str, &[&str])] = &[
            ("RUN <<EOF", &["EOF"]),
            ("RUN <<-EOF", &["EOF"]),
            ("RUN <<'EOF'", &["EOF"]),
            ("RUN 4<<EOF", &["EOF"]),
            ("RUN <<EOF <<EOF2", &["EOF", "EOF2"]),
            ("RUN '<<EOF'", &[]),
            ("RUN \"<<EOF\"", &[]),
            ("RUN <<E\\ OF", &["E OF"]),
            ("RUN <<\"EOF", &[]),
        ];
        for (line, names) in cases {
            let docs = heredocs_from_line(line).unwrap();
            let got: Vec<&str> = docs.iter().map(|d| d.name.as_str()).collect();
            assert_eq!(got, *names, "{line}");
        }
    }

    #[test]
    fn lexer_keeps_unset_variables() {
        let words = |s: &str| Lexer::new(s, true, true).process_words(s);
        assert_eq!(
            words("a $B ${C} ${D:-x y} ${E/f/g} ${F//h/i}").unwrap(),
            ["a", "$B", "${C}", "${D:-x", "y}", "${E/f/g}", "${F/h/i}"]
        );
        assert_eq!(
            words("${A*}").unwrap_err(),
            "failed to process \"${A*}\": unsupported modifier (*) in substitution"
        );
        assert!(words("${")
            .unwrap_err()
            .ends_with("syntax error: missing '}'"));
        assert!(words("${}")
            .unwrap_err()
            .ends_with("syntax error: bad substitution"));
    }
}
