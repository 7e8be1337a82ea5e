//! Fuzzes the Dockerfile parser: any bytes must give an AST or an error with a line range, never
//! a panic, a hang or unbounded memory; the dump and the heredoc/directive helpers must cope
//! with whatever the parser accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silo::dockerfile::{directives, heredoc, line_parsers, parse};

fuzz_target!(|data: &[u8]| {
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    match parse(data) {
        Ok(result) => {
            assert!(!result.ast.children.is_empty());
            for child in &result.ast.children {
                assert!(child.start_line >= 1 && child.start_line <= child.end_line);
                assert!(child.end_line <= lines);
            }
            let dump = result.ast.dump();
            assert_eq!(dump, result.ast.clone().dump());
            let _ = result.warnings_text();
        }
        Err(e) => {
            assert!(!e.message.is_empty());
            assert!(e.start_line <= e.end_line && e.end_line <= lines);
        }
    }
    let text = String::from_utf8_lossy(data);
    let _ = directives::detect_syntax(data);
    let _ = heredoc::heredocs_from_line(&text);
    let _ = line_parsers::parse_words(&text, '`');
    let _ = line_parsers::parse_json(&text);
});
