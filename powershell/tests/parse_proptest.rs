//! Arbitrary input never panics the parser, the check or the invocation; errors carry a span
//! inside the input.

use powershell::check::{check, Catalog};
use proptest::prelude::*;

static EMPTY: Catalog = Catalog {
    cmdlets: &[],
    types: &[],
    instance_members: &[],
    attributes: &[],
};

/// Pieces of PowerShell syntax, so that random scripts get deep into the grammar.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "$", "$x", "${a b}", "$env:P", "@(", "@{", "$(", "(", ")", "{", "}", "[", "]", "[int]",
            "::", ".", "..", ",", ";", "\n", "|", "&", "'", "\"", "@'\n", "\n'@", "@\"\n", "\n\"@",
            "`", "``", "`\n", "#", "<#", "#>", "-eq", "-not", "-f", "-split", "-", "--", "--%",
            "+", "++", "=", "+=", ">", "2>&1", "*>", "<", "!", "1", "0x1F", "1.5e3", "1kb", "7z",
            "if", "else", "elseif", "foreach", "in", "while", "do", "until", "for", "switch",
            "default", "try", "catch", "finally", "trap", "throw", "return", "exit", "break",
            "function", "param", "begin", "process", "end", "Get-Item", "-Path", "-Force:",
            "@args", " ", "\t", "\u{2013}", "\u{201C}", "\u{2018}", "é", "\0",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z0-9 $@(){}\\[\\]'\"`;|&.,:=+\\-*/%!<>#\n]{0,6}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
        exercise(&src);
    }

    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(token(), 0..60)) {
        exercise(&tokens.concat());
    }

    #[test]
    fn command_lines_never_panic(line in "\\PC{0,120}") {
        let _ = powershell::invocation::split_command_line(&line);
        let _ = powershell::invocation::parse_command_line(&line, &|_| Err("no".into()));
        let _ = powershell::invocation::parse_command_line(&format!("powershell {line}"), &|_| Ok(String::new()));
    }
}

fn exercise(src: &str) {
    match powershell::parser::parse(src) {
        Ok(script) => {
            let _ = check(&script, &EMPTY);
        }
        Err(e) => {
            assert!(
                e.span.start as usize <= src.len() && e.span.end as usize <= src.len(),
                "{e:?} outside {src:?}"
            );
            assert!(e.span.line >= 1 && e.span.col >= 1);
        }
    }
}
