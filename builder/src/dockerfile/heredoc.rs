//! Heredocs (`<<EOF … EOF`) for `ADD`, `COPY` and `RUN`, as BuildKit's parser finds them.
//!
//! BuildKit splits the instruction line into words with its shell lexer (escape `\`, quotes and
//! escapes kept, unset variables kept as written) and treats every word matching
//! `^(\d*)<<(-?)([^<]*)$` as a heredoc: optional fd, `-` to strip leading tabs, then the name,
//! which is lexed again with and without quote removal: if that changes the quote count the name
//! was quoted and the body is not expanded. The lexing is `shell`'s lexer with an empty
//! environment and `skip_unset_env`, exactly as BuildKit configures its own.

use super::ast::Heredoc;
use super::goquote::quote;
use super::shell::{Env, HostMode, Lexer};

/// The words of `text` as BuildKit's heredoc code lexes them: escape token `\` (whatever the
/// Dockerfile's escape directive says), no variables set and unset ones kept verbatim; the
/// error is worded as BuildKit's (`failed to process "…": …`).
fn lex_words(text: &str, raw_quotes: bool, raw_escapes: bool) -> Result<Vec<String>, String> {
    let lexer = Lexer {
        raw_quotes,
        raw_escapes,
        skip_unset_env: true,
        ..Lexer::new('\\')
    };
    // Go's text/scanner, under BuildKit's lexer, skips a byte-order mark at the very start.
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    lexer
        .process_words(body, &Env::new(HostMode::Linux))
        .map_err(|e| format!("failed to process {}: {}", quote(text), e.reason))
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
    let words = lex_words(rest, false, false)?;
    if words.len() != 1 {
        return Ok(None);
    }
    let raw_words = lex_words(rest, true, false)?;
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
    let mut docs = Vec::new();
    for word in lex_words(line, true, true).unwrap_or_default() {
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
        let words = |s: &str| lex_words(s, true, true);
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

    // The heredoc lexer is the shell lexer: what it refuses in `${…}` (here `:#`, which BuildKit
    // rejects even for unset variables) a heredoc name cannot hold, and a line it cannot split
    // opens no heredoc (BuildKit ignores that lexing error).
    #[test]
    fn heredoc_lexing_is_the_shell_lexers() {
        assert_eq!(
            parse_heredoc("<<${A:#x}").unwrap_err(),
            "failed to process \"${A:#x}\": unsupported modifier (:#) in substitution"
        );
        assert!(heredocs_from_line("RUN <<EOF ${A:#x}").unwrap().is_empty());
        assert_eq!(
            heredocs_from_line("RUN <<EOF ${A:-x}").unwrap()[0].name,
            "EOF"
        );
        // Go's text/scanner skips a byte-order mark at the start of the lexed text.
        assert_eq!(parse_heredoc("<<\u{feff}EOF").unwrap().unwrap().name, "EOF");
    }
}
