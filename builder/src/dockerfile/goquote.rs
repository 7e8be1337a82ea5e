//! Go's text rules that BuildKit's parser output depends on, rebuilt in Rust: `strconv.Quote`
//! (with `unicode.IsPrint`), `strings.ToLower`, `unicode.IsSpace`, `unicode.IsLetter` and
//! `unicode.IsDigit`.
//!
//! Rust's `{:?}` escapes differently from Go's `%q` (e.g. `\u{a0}` vs `\u00a0`, `\0` vs `\x00`),
//! and `Node::dump` must match BuildKit byte for byte, so the quoting is done here by hand. The
//! Unicode category tables come from `regex-syntax` (the same tables `regex` uses), built once.

use std::sync::OnceLock;

/// Sorted, non-overlapping inclusive code point ranges.
type Ranges = Vec<(u32, u32)>;

/// The ranges of a regex character class such as `[\p{L}]`.
fn class_ranges(pattern: &str) -> Ranges {
    use regex_syntax::hir::{Class, HirKind};
    let hir = regex_syntax::parse(pattern).expect("built-in character class pattern is valid");
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => class
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
        _ => unreachable!("pattern {pattern} is a Unicode class"),
    }
}

fn in_ranges(ranges: &Ranges, c: char) -> bool {
    let c = c as u32;
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Go `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space.
pub fn is_print(c: char) -> bool {
    static PRINT: OnceLock<Ranges> = OnceLock::new();
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    in_ranges(
        PRINT.get_or_init(|| class_ranges(r"[\p{L}\p{M}\p{N}\p{P}\p{S}]")),
        c,
    )
}

/// Go `unicode.IsLetter` (general category L).
pub fn is_letter(c: char) -> bool {
    static LETTER: OnceLock<Ranges> = OnceLock::new();
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    in_ranges(LETTER.get_or_init(|| class_ranges(r"[\p{L}]")), c)
}

/// Go `unicode.IsDigit` (general category Nd).
pub fn is_digit(c: char) -> bool {
    static DIGIT: OnceLock<Ranges> = OnceLock::new();
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    in_ranges(DIGIT.get_or_init(|| class_ranges(r"[\p{Nd}]")), c)
}

/// Go `unicode.IsSpace`; the same set as Rust's `char::is_whitespace` (Unicode White_Space).
pub fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// Go `unicode.IsSpace(rune(b))` applied to a single byte, as BuildKit does when it walks a
/// string byte by byte: besides ASCII whitespace this is true for 0x85 and 0xA0, which are
/// continuation bytes of some UTF-8 sequences.
pub fn is_space_byte(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0)
}

/// Go `strings.ToLower`: per-rune simple lowercase mapping. Rust's full mapping turns `İ`
/// (U+0130) into two chars; Go maps it to a plain `i`.
pub fn to_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '\u{130}' {
            out.push('i');
            continue;
        }
        let mut lower = c.to_lowercase();
        match (lower.next(), lower.next()) {
            (Some(l), None) => out.push(l),
            _ => out.push(c),
        }
    }
    out
}

/// Whether Go's `strings.ToLower(s)` equals `lower` (an ASCII lowercase word), without
/// allocating for ASCII input.
pub fn lower_is(s: &str, lower: &str) -> bool {
    if s.is_ascii() {
        s.eq_ignore_ascii_case(lower)
    } else {
        to_lower(s) == lower
    }
}

/// Go `strconv.Quote` of a string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_quoted(&mut out, s);
    out
}

/// Appends Go `strconv.Quote` of a string to `out`.
pub fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        push_escaped(out, c);
    }
    out.push('"');
}

/// Go `strconv.Quote` of arbitrary bytes: invalid UTF-8 bytes become `\xNN`.
pub fn quote_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_escaped(&mut out, c);
        }
        for b in chunk.invalid() {
            push_hex(&mut out, "\\x", u32::from(*b), 2);
        }
    }
    out.push('"');
    out
}

/// Go `fmt.Sprintf("%q", list)` of a `[]string`: `["a" "b"]`.
pub fn quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

fn push_hex(out: &mut String, prefix: &str, value: u32, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str(prefix);
    for i in (0..digits).rev() {
        out.push(HEX[((value >> (i * 4)) & 0xf) as usize] as char);
    }
}

fn push_escaped(out: &mut String, c: char) {
    if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
        out.push(c);
        return;
    }
    if c == '"' || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c == '\u{7f}' => push_hex(out, "\\x", c as u32, 2),
        c if (c as u32) < 0x10000 => push_hex(out, "\\u", c as u32, 4),
        c => push_hex(out, "\\U", c as u32, 8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_matches_go() {
        // Expected strings are what Go's strconv.Quote prints for the same input.
        let cases: &[(&[u8], &str)] = &[
            (b"", r#""""#),
            (b"abc", r#""abc""#),
            (b"a\"b\\c", r#""a\"b\\c""#),
            (b"\x07\x08\x0c\n\r\t\x0b", r#""\a\b\f\n\r\t\v""#),
            (b"\x00\x01\x1f\x7f", r#""\x00\x01\x1f\x7f""#),
            ("♥☃".as_bytes(), "\"♥☃\""),
            ("\u{a0}".as_bytes(), r#""\u00a0""#),
            ("\u{ad}".as_bytes(), r#""\u00ad""#),
            ("\u{85}".as_bytes(), r#""\u0085""#),
            ("\u{2028}".as_bytes(), r#""\u2028""#),
            ("\u{feff}".as_bytes(), r#""\ufeff""#),
            ("\u{e000}".as_bytes(), r#""\ue000""#),
            ("\u{1f600}".as_bytes(), "\"\u{1f600}\""),
            ("\u{e0001}".as_bytes(), r#""\U000e0001""#),
            ("\u{10ffff}".as_bytes(), r#""\U0010ffff""#),
            ("\u{fffd}".as_bytes(), "\"\u{fffd}\""),
            ("é".as_bytes(), "\"é\""),
            (b"\xff", r#""\xff""#),
            (b"a\xc3(b", r#""a\xc3(b""#),
            (b"\xe2\x82", r#""\xe2\x82""#),
        ];
        for (input, expected) in cases {
            assert_eq!(quote_bytes(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn quote_list_matches_go_fmt_q() {
        let flags = vec!["--a=b".to_string(), "--c".to_string()];
        assert_eq!(quote_list(&flags), r#"["--a=b" "--c"]"#);
    }

    #[test]
    fn to_lower_uses_simple_mapping() {
        assert_eq!(to_lower("ONBUİLD"), "onbuild");
        assert_eq!(to_lower("HEALTHCHEC\u{212a}"), "healthcheck");
        assert_eq!(to_lower("RuN"), "run");
    }

    #[test]
    fn categories() {
        assert!(is_letter('é') && is_letter('字') && !is_letter('1') && !is_letter('_'));
        assert!(is_digit('٣') && !is_digit('Ⅰ'));
        assert!(is_space('\u{85}') && is_space('\u{3000}') && !is_space('\u{feff}'));
        assert!(is_space_byte(0xa0) && !is_space_byte(0xc2));
    }
}
