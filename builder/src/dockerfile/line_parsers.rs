//! The per-instruction argument parsers of BuildKit's dispatch table (`line_parsers.go`): each
//! turns the text after the instruction word and its flags into the `next` chain of the node.
//! Quotes and escapes are kept verbatim here; the shell lexer removes them later.

use super::ast::{chain, Node};
use super::goquote::{is_space, is_space_byte};

/// What an argument parser produces: the `next` chain and whether it was the JSON form.
pub(crate) type Parsed = Result<(Option<Box<Node>>, bool), String>;

/// The error for a JSON array holding something other than strings.
pub const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// How BuildKit splits the words of `FROM`, `EXPOSE` and the list form of `ADD`/`COPY`/`VOLUME`:
/// the regex `[\t\v\f\r ]+`.
fn is_token_space(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Go `regexp.Split(s, -1)` with `[\t\v\f\r ]+`.
pub(crate) fn split_token_whitespace(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(is_token_space) {
        parts.push(&rest[..i]);
        rest = rest[i..].trim_start_matches(is_token_space);
    }
    parts.push(rest);
    parts
}

/// Go `regexp.Split(s, 2)` with `[\t\v\f\r ]+`: the first word and the rest, if any.
pub(crate) fn split_token_whitespace_once(s: &str) -> (&str, Option<&str>) {
    match s.find(is_token_space) {
        Some(i) => (&s[..i], Some(s[i..].trim_start_matches(is_token_space))),
        None => (s, None),
    }
}

/// BuildKit's `parseWords`: splits on white space; `'…'` and `"…"` group (quotes kept); the escape
/// token and the character after it are both kept (outside single quotes); a trailing escape
/// token is dropped.
pub fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut chars = rest.chars().peekable();
    loop {
        let Some(mut ch) = chars.next() else {
            if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            return words;
        };
        let at_end = chars.peek().is_none();
        if phase == Phase::Spaces {
            if is_space(ch) {
                continue;
            }
            phase = Phase::Word;
        }
        if phase == Phase::Word {
            if is_space(ch) {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if at_end {
                    continue;
                }
                word.push(ch);
                ch = chars.next().expect("not at end");
            }
            word.push(ch);
            continue;
        }
        // In quotes.
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if at_end {
                phase = Phase::Word;
                continue;
            }
            word.push(ch);
            ch = chars.next().expect("not at end");
        }
        word.push(ch);
    }
}

/// `ENV` and `LABEL`: `key value` (legacy, one pair, separator `""`) or `k=v …` (separator `=`),
/// as triplets key, value, separator.
pub fn parse_name_val(rest: &str, instruction: &str, escape: char) -> Parsed {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok((None, false));
    };
    if !first.contains('=') {
        return match split_token_whitespace_once(rest) {
            (key, Some(value)) => Ok((
                chain([key.to_string(), value.to_string(), String::new()]),
                false,
            )),
            (_, None) => Err(format!("{instruction} must have two arguments")),
        };
    }
    let mut values = Vec::with_capacity(words.len() * 3);
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                super::goquote::quote(&word)
            ));
        };
        values.extend([key.to_string(), value.to_string(), "=".to_string()]);
    }
    Ok((chain(values), false))
}

/// `ARG`: one node per word (quotes kept).
pub fn parse_name_or_name_val(rest: &str, escape: char) -> Parsed {
    Ok((chain(parse_words(rest, escape)), false))
}

/// `FROM`, `EXPOSE`: split on `[\t\v\f\r ]+`, quotes not interpreted.
pub fn parse_strings_whitespace_delimited(rest: &str) -> Parsed {
    if rest.is_empty() {
        return Ok((None, false));
    }
    Ok((
        chain(split_token_whitespace(rest).into_iter().map(String::from)),
        false,
    ))
}

/// `MAINTAINER`, `USER`, `WORKDIR`, `STOPSIGNAL`: the whole rest as one node.
pub fn parse_string(rest: &str) -> Parsed {
    if rest.is_empty() {
        return Ok((None, false));
    }
    Ok((Some(Box::new(Node::leaf(rest))), false))
}

/// Why a JSON form was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum JsonError {
    /// Not a JSON array (or not valid JSON): the caller falls back to the shell/list form.
    NotJson,
    /// A valid array with a non-string element: a hard error.
    NotStringArray,
}

/// Decodes a JSON array of strings the way Go's `json.Unmarshal` into `[]interface{}` does.
pub fn parse_json(rest: &str) -> Result<Vec<String>, JsonError> {
    let rest = rest.trim_start_matches(is_space);
    if !rest.starts_with('[') {
        return Err(JsonError::NotJson);
    }
    json::decode_string_array(rest)
}

/// `RUN`, `CMD`, `ENTRYPOINT`, `SHELL`: a JSON array of strings, else the whole rest as one node.
pub fn parse_maybe_json(rest: &str) -> Parsed {
    if rest.is_empty() {
        return Ok((None, false));
    }
    match parse_json(rest) {
        Ok(values) => Ok((chain(values), true)),
        Err(JsonError::NotStringArray) => Err(NOT_STRING_ARRAY.to_string()),
        Err(JsonError::NotJson) => Ok((Some(Box::new(Node::leaf(rest))), false)),
    }
}

/// `ADD`, `COPY`, `VOLUME`: a JSON array of strings, else white-space separated words.
pub fn parse_maybe_json_to_list(rest: &str) -> Parsed {
    match parse_json(rest) {
        Ok(values) => Ok((chain(values), true)),
        Err(JsonError::NotStringArray) => Err(NOT_STRING_ARRAY.to_string()),
        Err(JsonError::NotJson) => parse_strings_whitespace_delimited(rest),
    }
}

/// `HEALTHCHECK`: the type word (`CMD`, `NONE`, …), then the rest as for `CMD`.
/// Like BuildKit, white space is found byte by byte.
pub fn parse_health_config(rest: &str) -> Parsed {
    let bytes = rest.as_bytes();
    let sep = bytes
        .iter()
        .position(|&b| is_space_byte(b))
        .unwrap_or(bytes.len());
    if sep == 0 {
        return Ok((None, false));
    }
    let next = bytes[sep..]
        .iter()
        .position(|&b| !is_space_byte(b))
        .map_or(bytes.len(), |i| sep + i);
    let kind = String::from_utf8_lossy(&bytes[..sep]).into_owned();
    let (cmd, json) = parse_maybe_json(&String::from_utf8_lossy(&bytes[next..]))?;
    let mut node = Node::leaf(kind);
    node.next = cmd;
    Ok((Some(Box::new(node)), json))
}

/// A JSON reader with Go `encoding/json` semantics for the one shape Dockerfiles use: validate
/// the whole text first (any syntax error means "not JSON"), then look at the top-level array.
mod json {
    use super::JsonError;

    /// Go's `maxNestingDepth` (counting the top-level array): deeper is a syntax error.
    const MAX_DEPTH: usize = 10_000;

    struct Reader<'a> {
        s: &'a [u8],
        pos: usize,
        /// A number out of `float64` range: Go reports it as an unmarshal error.
        number_overflow: bool,
    }

    enum Element {
        Str(String),
        Other,
    }

    impl Reader<'_> {
        fn skip_ws(&mut self) {
            while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.pos) {
                self.pos += 1;
            }
        }

        fn peek(&self) -> Option<u8> {
            self.s.get(self.pos).copied()
        }

        fn eat(&mut self, b: u8) -> bool {
            if self.peek() == Some(b) {
                self.pos += 1;
                true
            } else {
                false
            }
        }

        fn hex4(&self, at: usize) -> Option<u32> {
            let digits = self.s.get(at..at + 4)?;
            let text = std::str::from_utf8(digits).ok()?;
            if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u32::from_str_radix(text, 16).ok()
        }

        fn string(&mut self) -> Option<String> {
            if !self.eat(b'"') {
                return None;
            }
            let mut out = String::new();
            loop {
                let start = self.pos;
                while let Some(b) = self.peek() {
                    if b == b'"' || b == b'\\' || b < 0x20 {
                        break;
                    }
                    self.pos += 1;
                }
                out.push_str(std::str::from_utf8(&self.s[start..self.pos]).ok()?);
                match self.peek()? {
                    b'"' => {
                        self.pos += 1;
                        return Some(out);
                    }
                    b'\\' => {
                        self.pos += 1;
                        let esc = self.peek()?;
                        self.pos += 1;
                        match esc {
                            b'"' => out.push('"'),
                            b'\\' => out.push('\\'),
                            b'/' => out.push('/'),
                            b'b' => out.push('\u{8}'),
                            b'f' => out.push('\u{c}'),
                            b'n' => out.push('\n'),
                            b'r' => out.push('\r'),
                            b't' => out.push('\t'),
                            b'u' => {
                                let first = self.hex4(self.pos)?;
                                self.pos += 4;
                                out.push(self.surrogate_aware(first));
                            }
                            _ => return None,
                        }
                    }
                    _ => return None, // control character
                }
            }
        }

        /// Go's rule: a surrogate followed by `\uXXXX` that completes a pair decodes as the
        /// pair; any other surrogate becomes U+FFFD (and the next escape is read on its own).
        fn surrogate_aware(&mut self, first: u32) -> char {
            if (0xD800..0xE000).contains(&first) {
                if (0xD800..0xDC00).contains(&first)
                    && self.s.get(self.pos..self.pos + 2) == Some(b"\\u")
                {
                    if let Some(second) = self.hex4(self.pos + 2) {
                        if (0xDC00..0xE000).contains(&second) {
                            self.pos += 6;
                            let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                            return char::from_u32(c).unwrap_or('\u{fffd}');
                        }
                    }
                }
                return '\u{fffd}';
            }
            char::from_u32(first).unwrap_or('\u{fffd}')
        }

        fn digits(&mut self) -> usize {
            let start = self.pos;
            while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                self.pos += 1;
            }
            self.pos - start
        }

        fn number(&mut self) -> Option<()> {
            let start = self.pos;
            self.eat(b'-');
            match self.peek()? {
                b'0' => self.pos += 1,
                b'1'..=b'9' => {
                    self.digits();
                }
                _ => return None,
            }
            if self.eat(b'.') && self.digits() == 0 {
                return None;
            }
            if self.eat(b'e') || self.eat(b'E') {
                if !self.eat(b'+') {
                    self.eat(b'-');
                }
                if self.digits() == 0 {
                    return None;
                }
            }
            let text = std::str::from_utf8(&self.s[start..self.pos]).ok()?;
            if text.parse::<f64>().map_or(true, f64::is_infinite) {
                self.number_overflow = true;
            }
            Some(())
        }

        fn literal(&mut self, word: &[u8]) -> Option<()> {
            if self.s[self.pos..].starts_with(word) {
                self.pos += word.len();
                Some(())
            } else {
                None
            }
        }

        /// Skips one value of any type without recursion (objects and arrays nest).
        fn skip_value(&mut self) -> Option<()> {
            // Each entry: whether the open container is an object.
            let mut stack: Vec<bool> = Vec::new();
            loop {
                // Read one scalar or open a container.
                self.skip_ws();
                match self.peek()? {
                    b'{' | b'[' => {
                        let object = self.peek() == Some(b'{');
                        self.pos += 1;
                        stack.push(object);
                        if stack.len() >= MAX_DEPTH {
                            return None;
                        }
                        self.skip_ws();
                        let close = if object { b'}' } else { b']' };
                        if self.eat(close) {
                            stack.pop();
                        } else {
                            if object {
                                self.string()?;
                                self.skip_ws();
                                if !self.eat(b':') {
                                    return None;
                                }
                            }
                            continue;
                        }
                    }
                    b'"' => {
                        self.string()?;
                    }
                    b't' => self.literal(b"true")?,
                    b'f' => self.literal(b"false")?,
                    b'n' => self.literal(b"null")?,
                    _ => self.number()?,
                }
                // After a value: close containers or move to the next element.
                loop {
                    let Some(&object) = stack.last() else {
                        return Some(());
                    };
                    self.skip_ws();
                    if self.eat(b',') {
                        if object {
                            self.skip_ws();
                            self.string()?;
                            self.skip_ws();
                            if !self.eat(b':') {
                                return None;
                            }
                        }
                        break;
                    }
                    if self.eat(if object { b'}' } else { b']' }) {
                        stack.pop();
                        continue;
                    }
                    return None;
                }
            }
        }

        fn element(&mut self) -> Option<Element> {
            self.skip_ws();
            if self.peek()? == b'"' {
                return self.string().map(Element::Str);
            }
            self.skip_value()?;
            Some(Element::Other)
        }

        fn top_array(&mut self) -> Option<Vec<Element>> {
            self.skip_ws();
            if !self.eat(b'[') {
                return None;
            }
            let mut items = Vec::new();
            self.skip_ws();
            if !self.eat(b']') {
                loop {
                    items.push(self.element()?);
                    self.skip_ws();
                    if self.eat(b']') {
                        break;
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            self.skip_ws();
            (self.pos == self.s.len()).then_some(items)
        }
    }

    pub(super) fn decode_string_array(text: &str) -> Result<Vec<String>, JsonError> {
        let mut reader = Reader {
            s: text.as_bytes(),
            pos: 0,
            number_overflow: false,
        };
        let items = reader.top_array().ok_or(JsonError::NotJson)?;
        if reader.number_overflow {
            return Err(JsonError::NotJson);
        }
        items
            .into_iter()
            .map(|item| match item {
                Element::Str(s) => Ok(s),
                Element::Other => Err(JsonError::NotStringArray),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(parsed: Parsed) -> Vec<String> {
        let (node, _) = parsed.expect("parses");
        let mut out = Vec::new();
        let mut n = node.as_deref();
        while let Some(x) = n {
            out.push(x.value.clone());
            n = x.next.as_deref();
        }
        out
    }

    // Port of BuildKit's TestParseWords (inputs and expectations in our words).
    #[test]
    fn parse_words_table() {
        let cases: &[(&str, &[&str])] = &[
            ("foo", &["foo"]),
            ("foo bar", &["foo", "bar"]),
            ("foo\\ bar", &["foo\\ bar"]),
            ("foo=bar", &["foo=bar"]),
            ("foo bar 'abc xyz'", &["foo", "bar", "'abc xyz'"]),
            ("foo bar \"abc xyz\"", &["foo", "bar", "\"abc xyz\""]),
            ("àöû", &["àöû"]),
            ("föo bàr \"âbc xÿz\"", &["föo", "bàr", "\"âbc xÿz\""]),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_words(input, '\\'), *expected, "input {input:?}");
        }
    }

    #[test]
    fn parse_words_escapes_and_quotes() {
        assert_eq!(parse_words("a\\", '\\'), ["a"]);
        assert_eq!(parse_words("'a\\' b", '\\'), ["'a\\'", "b"]);
        assert_eq!(parse_words("\"a\\\" b\"", '\\'), ["\"a\\\" b\""]);
        assert_eq!(parse_words("a`  b", '`'), ["a` ", "b"]);
        assert_eq!(parse_words("\"\"", '\\'), ["\"\""]);
        assert_eq!(parse_words("x \"a\\", '\\'), ["x", "\"a"]);
    }

    // Ports of BuildKit's TestParseNameValOldFormat / NewFormat / WithoutVal.
    #[test]
    fn name_val_old_format() {
        assert_eq!(
            values(parse_name_val("foo bar", "LABEL", '\\')),
            ["foo", "bar", ""]
        );
    }

    #[test]
    fn name_val_new_format() {
        assert_eq!(
            values(parse_name_val("foo=bar thing=star", "LABEL", '\\')),
            ["foo", "bar", "=", "thing", "star", "="]
        );
    }

    #[test]
    fn name_val_without_value() {
        assert_eq!(
            parse_name_val("foo", "ENV", '\\').unwrap_err(),
            "ENV must have two arguments"
        );
        assert_eq!(
            parse_name_val("a=b c", "ENV", '\\').unwrap_err(),
            "Syntax error - can't find = in \"c\". Must be of the form: name=value"
        );
    }

    // Port of BuildKit's TestJSONArraysOfStrings.
    #[test]
    fn json_arrays_of_strings() {
        let valid: &[(&str, &[&str])] = &[
            ("[]", &[]),
            ("[\"\"]", &[""]),
            ("[\"a\"]", &["a"]),
            ("[\"a\",\"b\"]", &["a", "b"]),
            ("[ \"a\", \"b\" ]", &["a", "b"]),
            ("[\t\"a\",\t\"b\"\t]", &["a", "b"]),
            ("\t[\t\"a\",\t\"b\"\t]\t", &["a", "b"]),
            (
                r#"["abc 123", "♥", "☃", "\" \\ \/ \b \f \n \r \t \u0000"]"#,
                &["abc 123", "♥", "☃", "\" \\ / \u{8} \u{c} \n \r \t \0"],
            ),
        ];
        for (input, expected) in valid {
            assert_eq!(parse_json(input).expect(input), *expected, "{input}");
        }
        for input in [
            r#"["a",42,"b"]"#,
            r#"["a",123.456,"b"]"#,
            r#"["a",{},"b"]"#,
            r#"["a",{"c": "d"},"b"]"#,
            r#"["a",["c"],"b"]"#,
            r#"["a",true,"b"]"#,
            r#"["a",false,"b"]"#,
            r#"["a",null,"b"]"#,
        ] {
            assert_eq!(parse_json(input), Err(JsonError::NotStringArray), "{input}");
        }
    }

    #[test]
    fn maybe_json_falls_back() {
        for input in [
            "['a']",
            "[\"a\"",
            "[\"a\"] junk",
            "[\"a\", 1e999]",
            "[\"a\", 1]x",
        ] {
            assert_eq!(values(parse_maybe_json(input)), [input], "{input}");
        }
        assert_eq!(
            parse_maybe_json("[\"a\", [1]]").unwrap_err(),
            NOT_STRING_ARRAY
        );
        assert_eq!(values(parse_maybe_json_to_list("[\"a b\"]")), ["a b"]);
        assert_eq!(values(parse_maybe_json_to_list("a  b\tc")), ["a", "b", "c"]);
    }

    #[test]
    fn health_config() {
        assert_eq!(values(parse_health_config("CMD")), ["CMD"]);
        assert_eq!(values(parse_health_config("CMD  a b")), ["CMD", "a b"]);
        assert_eq!(values(parse_health_config("CMD [\"x\"]")), ["CMD", "x"]);
        assert_eq!(values(parse_health_config("")), Vec::<String>::new());
    }
}
