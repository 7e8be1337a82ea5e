//! Windows command lines, for every runtime that starts Windows processes (the Wine silo and
//! HCS). A Windows process gets one string; its C runtime splits it by the `CommandLineToArgvW`
//! rules. Exec-form `RUN ["a", "b c"]` therefore has to be escaped so that the split gives the
//! argv back; shell form is passed through as one string, never re-quoted (cmd.exe builtins
//! depend on the text exactly as written — research §3.3).

/// The command line for `process`: its explicit `command_line` (shell form) if set, else the
/// escaped exec-form `args`.
pub fn command_line(process: &crate::runtime::ProcessSpec) -> String {
    match &process.command_line {
        Some(line) => line.clone(),
        None => join_args(&process.args),
    }
}

/// Escapes each argument and joins them with single spaces.
pub fn join_args<S: AsRef<str>>(args: &[S]) -> String {
    let escaped: Vec<String> = args.iter().map(|a| escape_arg(a.as_ref())).collect();
    escaped.join(" ")
}

/// One argument, escaped so `CommandLineToArgvW` returns it unchanged:
/// - quoted when empty or containing a space or tab;
/// - a `"` becomes `\"`, and the backslashes right before it are doubled;
/// - backslashes before the closing quote are doubled; other backslashes stay as they are.
pub fn escape_arg(arg: &str) -> String {
    if arg.is_empty() {
        return "\"\"".into();
    }
    let needs_quotes = arg.contains([' ', '\t']);
    if !needs_quotes && !arg.contains('"') {
        return arg.into();
    }
    let mut out = String::with_capacity(arg.len() + 2);
    if needs_quotes {
        out.push('"');
    }
    let mut backslashes = 0usize;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.extend(std::iter::repeat_n('\\', backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            _ => {
                out.extend(std::iter::repeat_n('\\', backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    let closing = if needs_quotes { 2 } else { 1 };
    out.extend(std::iter::repeat_n('\\', backslashes * closing));
    if needs_quotes {
        out.push('"');
    }
    out
}

/// Splits a command line the way `CommandLineToArgvW` does for arguments after the program
/// name (the rules of the Microsoft C runtime, 2008+). Used by the tests to prove that
/// [`escape_arg`] round-trips.
#[cfg(test)]
fn split_like_windows(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    loop {
        while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
            i += 1;
        }
        if i >= chars.len() {
            return args;
        }
        let mut arg = String::new();
        let mut in_quotes = false;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' {
                let start = i;
                while i < chars.len() && chars[i] == '\\' {
                    i += 1;
                }
                let n = i - start;
                if i < chars.len() && chars[i] == '"' {
                    arg.extend(std::iter::repeat_n('\\', n / 2));
                    if n % 2 == 1 {
                        arg.push('"');
                        i += 1;
                    }
                } else {
                    arg.extend(std::iter::repeat_n('\\', n));
                }
                continue;
            }
            if c == '"' {
                if in_quotes && chars.get(i + 1) == Some(&'"') {
                    arg.push('"');
                    i += 2;
                    continue;
                }
                in_quotes = !in_quotes;
                i += 1;
                continue;
            }
            if !in_quotes && (c == ' ' || c == '\t') {
                break;
            }
            arg.push(c);
            i += 1;
        }
        args.push(arg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ProcessSpec;

    #[test]
    fn escaping_table() {
        let table: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("", "\"\""),
            ("two words", "\"two words\""),
            ("tab\there", "\"tab\there\""),
            ("say \"hi\"", "\"say \\\"hi\\\"\""),
            ("a\"b", "a\\\"b"),
            ("C:\\Program Files\\", "\"C:\\Program Files\\\\\""),
            ("C:\\dir\\", "C:\\dir\\"),
            ("back\\\\\"quote", "back\\\\\\\\\\\"quote"),
            ("x\\y z", "\"x\\y z\""),
            ("\\\\server\\share", "\\\\server\\share"),
        ];
        for (arg, want) in table {
            assert_eq!(escape_arg(arg), *want, "escaping {arg:?}");
            assert_eq!(split_like_windows(want), vec![arg.to_string()], "{want:?}");
        }
    }

    #[test]
    fn exec_form_round_trips_and_shell_form_is_one_unchanged_string() {
        let args = [
            "cmd",
            "/S",
            "/C",
            "echo \"a b\" > C:\\out dir\\",
            "",
            "end\\",
        ];
        let line = join_args(&args);
        assert_eq!(split_like_windows(&line), args);
        let shell = ProcessSpec {
            args: vec!["ignored".into()],
            command_line: Some("cmd /S /C mkdir \"c:/foo\"".into()),
            ..ProcessSpec::default()
        };
        assert_eq!(command_line(&shell), "cmd /S /C mkdir \"c:/foo\"");
        let exec = ProcessSpec {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..ProcessSpec::default()
        };
        assert_eq!(command_line(&exec), line);
    }
}
