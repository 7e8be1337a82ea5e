//! No silent success: the Windows programs that Dockerfiles use and that Wine 8.0 only stubs or
//! fakes, what each really does under Wine, and what silo does about it — and the check that
//! refuses a step up front when its command line runs one of the refused ones.
//!
//! Two nets catch a refused program:
//! 1. [`check_command_line`] reads the step's command line the way cmd.exe splits it
//!    (`&`, `&&`, `||`, `|`, parentheses, `if …`, `for … do`, `call`, `start`, nested
//!    `cmd /c`) before the step starts and fails the step naming the program, the reason and
//!    the Dockerfile line (the build adds it).
//! 2. Programs refused as a whole are replaced in the silo by silo-generated programs that print
//!    the same reason and exit with [`REFUSED_EXIT`] (see [`super::tools`]), for the calls the
//!    scan cannot see (batch files, installers, `%VAR%` command names).
//!
//! The table is kept in `docs/wine.md` too ("What Wine only pretends to do").

/// Exit code of the programs that stand in for refused Wine stubs.
pub const REFUSED_EXIT: u32 = 1;

/// What silo does about a program Wine only stubs or fakes.
#[derive(Debug, Clone, Copy)]
pub enum Verdict {
    /// silo replaces it with a working program of its own (see [`super::tools`]).
    MadeReal(&'static str),
    /// The program is refused as a whole.
    Refused(&'static str),
    /// silo's engine makes it real when it is a command of its own in the step's cmd line
    /// (`works`, see [`super::pwsh::route`]); met anywhere else by the scan (inside `if`,
    /// `for`, `call`, parentheses, a nested `cmd /c`), it is refused with `reason`.
    MadeRealAsCommand {
        works: &'static str,
        reason: &'static str,
    },
    /// Some uses work, under Wine or with silo's own program (`allows` says which, from the
    /// arguments); the others are refused with the reason.
    Partly {
        allows: fn(&[String]) -> bool,
        works: &'static str,
        reason: &'static str,
    },
    /// Wine's program already fails (not found: cmd exits 9009; or a non-zero exit with a
    /// message), so the step fails loudly without silo's help.
    FailsByItself,
    /// Runs under Wine and does what it says, with Wine's answers.
    Works,
}

/// One program of the table.
#[derive(Debug, Clone, Copy)]
pub struct Stub {
    /// File name without `.exe`, lowercase.
    pub program: &'static str,
    /// What Wine 8.0's program does (observed with `wine cmd /c …` and `WINEDEBUG=fixme+all`).
    pub wine: &'static str,
    pub verdict: Verdict,
}

fn first_arg_is(args: &[String], allowed: &[&str]) -> bool {
    args.first()
        .is_none_or(|a| allowed.iter().any(|x| a.eq_ignore_ascii_case(x)))
}

/// The table. Programs not listed run as Wine runs them.
pub const STUBS: &[Stub] = &[
    Stub {
        program: "setx",
        wine: "a stub: prints a fixme, writes nothing, exits 0",
        verdict: Verdict::Partly {
            allows: |args| {
                args.iter()
                    .any(|a| a.eq_ignore_ascii_case("/m") || a.eq_ignore_ascii_case("-m"))
            },
            works: "`setx /M NAME VALUE` (silo's setx.exe writes the machine Environment key: \
                    REG_SZ, or REG_EXPAND_SZ when the value holds `%`)",
            reason: "setx without /M writes the user's HKCU\\Environment, which Windows keeps \
                     in the user's profile hive (C:\\Users\\<user>\\NTUSER.DAT, a file of the \
                     layer; not a Hives/ delta: DefaultUser_Delta is HKU\\.DEFAULT); the Wine \
                     silo keeps HKCU in Wine's own user.reg and writes no profile hive into the \
                     layer, so the value would be lost after the step",
        },
    },
    Stub {
        program: "mklink",
        wine: "cmd's builtin: /H makes a hard link; file and /D symbolic links call Wine's \
               CreateSymbolicLinkW stub and /J fails with \"Failed to open\", all exiting 0 \
               with nothing made",
        verdict: Verdict::MadeRealAsCommand {
            works: "silo's engine makes file and /D symbolic links, /J junctions and /H hard \
                    links on the step's C: (the layer gets the entries Windows records) when \
                    mklink is a command of its own in the cmd line (`a && mklink … & b`) or \
                    the body of a `for` loop that ends it",
            reason: "silo makes links only for mklink as a command of its own in the step's \
                     cmd line (Wine's own mklink cannot make symbolic links or junctions, yet \
                     exits 0); inside `if`, `call`, parentheses or a nested `cmd /c` it cannot \
                     — write it as a command of its own, or as the body of a `for` loop that \
                     ends the line",
        },
    },
    Stub {
        program: "dism",
        wine: "a stub: prints a fixme, does nothing, exits 0",
        verdict: Verdict::Refused(
            "Windows features and packages cannot be installed under Wine (Wine's dism.exe is a \
             stub that does nothing and exits 0)",
        ),
    },
    Stub {
        program: "net",
        wine: "knows only START, STOP, USE and HELP; `net user`, `net localgroup`, … print its \
               usage and exit 0",
        verdict: Verdict::Partly {
            allows: |args| first_arg_is(args, &["start", "stop", "use", "help", "helpmsg"]),
            works: "net start/stop/use/help",
            reason: "Wine's net.exe has no accounts or groups (`net user`, `net localgroup`, … \
                     print its usage and exit 0 with nothing done)",
        },
    },
    Stub {
        program: "sc",
        wine: "works on Wine's service registry (create, config, delete, query, start, stop)",
        verdict: Verdict::Works,
    },
    Stub {
        program: "icacls",
        wine: "\"dummy icacls, not performing ACL manipulations\", exits 0",
        verdict: Verdict::Refused(
            "Wine keeps no Windows ACLs (its icacls.exe is a dummy that changes nothing and \
             exits 0); silo decides the layer's security descriptors itself",
        ),
    },
    Stub {
        program: "cacls",
        wine: "\"dummy cacls, not performing ACL manipulations\", exits 0",
        verdict: Verdict::Refused(
            "Wine keeps no Windows ACLs (its cacls.exe is a dummy that changes nothing and \
             exits 0)",
        ),
    },
    Stub {
        program: "takeown",
        wine: "absent: cmd says it cannot recognize it and exits 9009",
        verdict: Verdict::FailsByItself,
    },
    Stub {
        program: "wmic",
        wine: "WMI queries (`get`, `list`) answer with Wine's values; `call` and `set` fail \
               with exit 1",
        verdict: Verdict::Works,
    },
    Stub {
        program: "bcdedit",
        wine: "absent: exit 9009",
        verdict: Verdict::FailsByItself,
    },
    Stub {
        program: "schtasks",
        wine: "/create fails on /tr (exit 1), /query prints nothing and exits 0; no task store",
        verdict: Verdict::Refused(
            "Wine has no task store (C:\\Windows\\System32\\Tasks) and its schtasks.exe \
             registers nothing (/query prints nothing and exits 0)",
        ),
    },
    Stub {
        program: "powershell",
        wine: "a stub: prints a fixme, runs nothing, exits 0",
        verdict: Verdict::Refused(
            "PowerShell steps are handled by silo's PowerShell engine (issue #15, SHELL or exec \
             form); inline in a cmd step, Wine's powershell.exe is a stub that runs nothing and \
             exits 0",
        ),
    },
    Stub {
        program: "pwsh",
        wine: "absent: exit 9009",
        verdict: Verdict::Refused(
            "PowerShell steps are handled by silo's PowerShell engine (issue #15, SHELL or exec \
             form); inline in a cmd step it cannot run",
        ),
    },
    Stub {
        program: "servermanagercmd",
        wine: "absent: exit 9009 (Add-WindowsFeature / Install-WindowsFeature are PowerShell \
               cmdlets: the PowerShell engine's concern)",
        verdict: Verdict::FailsByItself,
    },
    Stub {
        program: "ocsetup",
        wine: "absent: exit 9009",
        verdict: Verdict::FailsByItself,
    },
    Stub {
        program: "pkgmgr",
        wine: "absent: exit 9009",
        verdict: Verdict::FailsByItself,
    },
    Stub {
        program: "netsh",
        wine: "a stub: prints a fixme, does nothing, exits 0",
        verdict: Verdict::Refused("Wine's netsh.exe is a stub that configures nothing and exits 0"),
    },
    Stub {
        program: "certutil",
        wine: "a stub: prints a fixme, does nothing (no -hashfile, no -addstore), exits 0",
        verdict: Verdict::Refused(
            "Wine's certutil.exe is a stub: it neither hashes files (-hashfile) nor adds \
             certificates (-addstore), and exits 0",
        ),
    },
    Stub {
        program: "where",
        wine: "a stub: prints a fixme and nothing else, exits 0",
        verdict: Verdict::Refused("Wine's where.exe is a stub that finds nothing and exits 0"),
    },
    Stub {
        program: "wevtutil",
        wine: "a stub: prints a fixme, exits 0",
        verdict: Verdict::Refused("Wine's wevtutil.exe is a stub that does nothing and exits 0"),
    },
    Stub {
        program: "secedit",
        wine: "does nothing and exits 0, silently",
        verdict: Verdict::Refused(
            "Wine has no security policy database (its secedit.exe does nothing and exits 0)",
        ),
    },
    Stub {
        program: "lodctr",
        wine: "LoadPerfCounterTextStrings is a stub: exits 0",
        verdict: Verdict::Refused(
            "Wine has no performance counters (its lodctr.exe does nothing and exits 0)",
        ),
    },
    Stub {
        program: "subst",
        wine: "a stub: prints a fixme, exits 0",
        verdict: Verdict::Refused("Wine's subst.exe is a stub that maps no drive and exits 0"),
    },
    Stub {
        program: "robocopy",
        wine: "a stub: prints a fixme, exits 16 (robocopy's \"fatal error\")",
        verdict: Verdict::FailsByItself,
    },
    Stub {
        program: "fsutil",
        wine: "only `fsutil hardlink create`; every other command prints the usage and exits 1",
        verdict: Verdict::FailsByItself,
    },
    Stub {
        program: "sfc",
        wine: "absent: exit 9009",
        verdict: Verdict::FailsByItself,
    },
    Stub {
        program: "ngen",
        wine: "absent from the system directory: exit 9009",
        verdict: Verdict::FailsByItself,
    },
];

/// The table entry for a program name or path (`C:\Windows\System32\DISM.exe` → `dism`). A
/// path into another directory than the system ones (`System32`, `SysWOW64`, `Windows`, also
/// as `%SystemRoot%\…`) is an image's own program and has none.
pub fn lookup(program: &str) -> Option<&'static Stub> {
    let program = program.trim_matches('"');
    if let Some((dir, _)) = program.rsplit_once(['\\', '/']) {
        let dir = dir.to_ascii_lowercase().replace('/', "\\");
        let last = dir.rsplit('\\').next().unwrap_or("");
        if !matches!(
            last,
            "system32" | "syswow64" | "windows" | "%systemroot%" | "%windir%"
        ) {
            return None;
        }
    }
    let base = program
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or(program)
        .to_ascii_lowercase();
    let stem = base
        .strip_suffix(".exe")
        .or_else(|| base.strip_suffix(".com"))
        .unwrap_or(&base);
    STUBS.iter().find(|s| s.program == stem)
}

/// Why a step is refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{command}` cannot run in the Wine silo: {reason}. Nothing of the step was run (silo refuses \
     what Wine would only pretend to do; see \"What Wine only pretends to do\" in docs/wine.md)"
)]
pub struct Refusal {
    /// The offending command as written (program and arguments).
    pub command: String,
    pub reason: String,
}

/// The refusal for one command (`argv[0]` and its arguments), if the table refuses it.
pub fn refusal(argv: &[String]) -> Option<Refusal> {
    let (program, args) = argv.split_first()?;
    let stub = lookup(program)?;
    let reason = match stub.verdict {
        Verdict::Refused(reason) => reason.to_string(),
        Verdict::Partly {
            allows,
            works,
            reason,
        } if !allows(args) => format!("{reason}; only {works} works"),
        Verdict::MadeRealAsCommand { reason, .. } => reason.to_string(),
        _ => return None,
    };
    Some(Refusal {
        command: argv.join(" "),
        reason,
    })
}

/// Refuses a step whose process (exec form) or cmd.exe command line runs a refused program.
/// `argv` is the process's argv when known (exec form), `command_line` the full Windows command
/// line.
pub fn check_command_line(argv: &[String], command_line: &str) -> Result<(), Refusal> {
    let words = if argv.is_empty() {
        split_words(command_line)
    } else {
        argv.to_vec()
    };
    for (n, command) in commands_of(&words, command_line).into_iter().enumerate() {
        // The step's own program, when it is PowerShell, is the PowerShell engine's concern.
        let engine = command
            .first()
            .is_some_and(|p| matches!(lookup_name(p).as_str(), "powershell" | "pwsh"));
        if n == 0 && engine {
            continue;
        }
        if let Some(r) = refusal(&command) {
            return Err(r);
        }
    }
    Ok(())
}

/// The commands a process runs: itself and, for `cmd /c|/k <text>`, every command of `<text>`.
fn commands_of(argv: &[String], command_line: &str) -> Vec<Vec<String>> {
    let mut out = vec![argv.to_vec()];
    if let Some(text) = cmd_script(argv, command_line) {
        out.extend(cmd_commands(&text));
    }
    out
}

/// For `cmd [/s] [/q] … /c <text>` the text after `/c` (or `/k`), taken from the raw command
/// line so cmd's own quoting rules apply: one pair of outer quotes goes when `/s` is given or
/// the text holds exactly two quotes (cmd.exe's rule, simplified).
fn cmd_script(argv: &[String], command_line: &str) -> Option<String> {
    let program = argv.first()?;
    if lookup_name(program) != "cmd" {
        return None;
    }
    let lower = command_line.to_ascii_lowercase();
    // The first `/c` or `/k` switch (a word of its own) after the program.
    let mut from = 0;
    while let Some(pos) = lower[from..].find('/') {
        let at = from + pos;
        let switch = lower.get(at + 1..at + 2);
        let ends = lower
            .get(at + 2..)
            .and_then(|r| r.chars().next())
            .is_none_or(|c| c.is_whitespace() || c == '"');
        if matches!(switch, Some("c") | Some("k")) && ends && at > 0 {
            let text = command_line.get(at + 2..).unwrap_or("").trim();
            let slash_s = lower[..at].split_whitespace().any(|w| w == "/s");
            let quoted = text.len() >= 2 && text.starts_with('"') && text.ends_with('"');
            if quoted && (slash_s || text.matches('"').count() == 2) {
                return Some(text[1..text.len() - 1].to_string());
            }
            return Some(text.to_string());
        }
        from = at + 1;
    }
    None
}

fn lookup_name(program: &str) -> String {
    let base = program
        .trim_matches('"')
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or(program)
        .to_ascii_lowercase();
    base.strip_suffix(".exe").unwrap_or(&base).to_string()
}

/// Splits a cmd.exe command text into its commands, each as words (quotes removed), the way
/// cmd.exe separates them: unquoted `&`, `|`, `(`, `)` end a command (so `&&`, `||` too), `^`
/// escapes the next character, redirections (`>`, `<` with their target) are not words. The
/// command word of each command is found past `@`, `if <condition>`, `for … do`, `call`,
/// `start ["title"] [/options]` and `else`; a nested `cmd /c` is scanned too.
pub fn cmd_commands(text: &str) -> Vec<Vec<String>> {
    let mut t = Tokens::default();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if t.in_quote {
            t.raw.push(c);
            if c == '"' {
                t.in_quote = false;
            } else {
                t.word.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                t.in_quote = true;
                t.quoted = true;
                t.raw.push(c);
            }
            '^' => {
                if let Some(n) = chars.next() {
                    t.word.push(n);
                    t.raw.push(n);
                }
            }
            '&' | '|' | '(' | ')' => t.end_segment(),
            '>' | '<' => {
                // `2>nul`: a handle number before the redirection is not a word.
                if !t.quoted && t.word.chars().all(|d| d.is_ascii_digit()) {
                    t.word.clear();
                }
                t.end_word();
                if chars.peek() == Some(&'&') {
                    chars.next(); // `2>&1`
                    while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                        chars.next();
                    }
                } else {
                    t.redirect = true;
                }
                while chars.peek() == Some(&'>') {
                    chars.next();
                }
            }
            c if c.is_whitespace() => {
                t.end_word();
                t.raw.push(c);
            }
            c => {
                t.word.push(c);
                t.raw.push(c);
            }
        }
    }
    t.end_segment();

    let mut out = Vec::new();
    for (words, raw) in t.segments {
        let Some(start) = command_start(&words) else {
            continue;
        };
        let command: Vec<String> = words[start..].iter().map(|(w, _)| w.clone()).collect();
        // A nested `cmd /c …` inside this command: scan its text as well.
        if lookup_name(&command[0]) == "cmd" {
            if let Some(inner) = cmd_script(&command, &raw) {
                out.extend(cmd_commands(&inner));
            }
        }
        out.push(command);
    }
    out
}

/// The state of [`cmd_commands`]' split: words (with whether they were quoted) per command,
/// and each command's raw text.
#[derive(Default)]
struct Tokens {
    segments: Vec<(Vec<(String, bool)>, String)>,
    words: Vec<(String, bool)>,
    word: String,
    quoted: bool,
    raw: String,
    in_quote: bool,
    /// The next word is a redirection target.
    redirect: bool,
}

impl Tokens {
    fn end_word(&mut self) {
        if !self.word.is_empty() || self.quoted {
            let word = std::mem::take(&mut self.word);
            if self.redirect {
                self.redirect = false;
            } else {
                self.words.push((word, self.quoted));
            }
        }
        self.quoted = false;
    }

    fn end_segment(&mut self) {
        self.end_word();
        let words = std::mem::take(&mut self.words);
        let raw = std::mem::take(&mut self.raw);
        self.segments.push((words, raw));
    }
}

/// Index of the command word in a command's words (see [`cmd_commands`]).
fn command_start(words: &[(String, bool)]) -> Option<usize> {
    let mut i = 0;
    loop {
        let (w, _) = words.get(i)?;
        let lower = w.trim_start_matches('@').to_ascii_lowercase();
        match lower.as_str() {
            "" | "else" | "call" | "do" => i += 1,
            "if" => {
                i += 1;
                while words.get(i).is_some_and(|(w, _)| {
                    w.eq_ignore_ascii_case("/i") || w.eq_ignore_ascii_case("not")
                }) {
                    i += 1;
                }
                let cond = words.get(i)?.0.to_ascii_lowercase();
                i += match cond.as_str() {
                    "exist" | "defined" | "errorlevel" | "cmdextversion" => 2,
                    c if c.contains("==") => {
                        if c.ends_with("==") {
                            2
                        } else {
                            1
                        }
                    }
                    _ => {
                        let op = words.get(i + 1).map(|(o, _)| o.to_ascii_lowercase());
                        match op.as_deref() {
                            Some(o) if o.starts_with("==") => {
                                if o == "==" {
                                    3
                                } else {
                                    2
                                }
                            }
                            Some("equ" | "neq" | "lss" | "leq" | "gtr" | "geq") => 3,
                            _ => 1,
                        }
                    }
                };
            }
            "for" => {
                let d = words[i..]
                    .iter()
                    .position(|(w, _)| w.eq_ignore_ascii_case("do"))?;
                i += d + 1;
            }
            "start" => {
                i += 1;
                // A quoted first argument is the window title.
                if words.get(i).is_some_and(|(_, quoted)| *quoted) {
                    i += 1;
                }
                while words.get(i).is_some_and(|(w, _)| w.starts_with('/')) {
                    i += 1;
                }
            }
            _ if w.starts_with('@') && w.len() > 1 => {
                return Some(i);
            }
            _ => return Some(i),
        }
    }
}

/// Splits a Windows command line into words the simple way (whitespace outside quotes, quotes
/// removed), for the program name and the `cmd` switches.
fn split_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => word.push(c),
        }
    }
    if any || !word.is_empty() {
        out.push(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        cmd_commands(text)
            .into_iter()
            .map(|c| c[0].clone())
            .collect()
    }

    #[test]
    fn cmd_text_splits_into_commands_like_cmd_does() {
        assert_eq!(
            names(r#"echo a && setx /M X "1 & 2" || (dism /online) & ver"#),
            ["echo", "setx", "dism", "ver"]
        );
        assert_eq!(names("echo setx ^& mklink"), ["echo"], "escaped & joins");
        assert_eq!(names("echo x > dism 2>&1 & ver"), ["echo", "ver"]);
        assert_eq!(
            names(r#"if not exist C:\x netsh a & if "%A%"=="1" where x & if 1 equ 1 subst"#),
            ["netsh", "where", "subst"]
        );
        // `for`'s set is a parenthesised group: its first word reads as a command (harmless).
        assert_eq!(
            names(r#"for %i in (a b) do certutil %i"#),
            ["a", "certutil"]
        );
        assert_eq!(
            names(r#"@call start "t" /b /wait C:\Windows\System32\icacls.exe C:\x"#),
            [r"C:\Windows\System32\icacls.exe"]
        );
        assert_eq!(names(r#"cmd /c "dism /online""#), ["dism", "cmd"]);
    }

    #[test]
    fn refused_programs_name_the_program_and_the_reason() {
        let argv = |l: &str| -> Vec<String> { l.split(' ').map(String::from).collect() };
        let cl = |t: &str| format!("cmd /S /C {t}");
        let check = |t: &str| check_command_line(&argv("cmd /S /C x"), &cl(t));
        let e = check("echo hi && DISM.exe /Online /Enable-Feature /FeatureName:x").unwrap_err();
        assert!(e.to_string().starts_with("`DISM.exe /Online"), "{e}");
        assert!(e.to_string().contains("Wine's dism.exe is a stub"), "{e}");
        // The scan sees mklink only where silo's engine does not take it.
        let e = check(r"if not exist C:\l mklink /d C:\l C:\t").unwrap_err();
        assert!(e.to_string().contains("a command of its own"), "{e}");
        let e = check("net user bob pw /add").unwrap_err();
        assert!(e.to_string().contains("accounts"), "{e}");
        check("net start & sc query x & wmic os get caption & setx /M A b").unwrap();
        check("setx A b -m").unwrap();
        let e = check("setx A b").unwrap_err();
        assert!(e.to_string().contains("NTUSER.DAT"), "{e}");
        let e = check("powershell -Command Write-Host hi").unwrap_err();
        assert!(e.to_string().contains("PowerShell engine"), "{e}");
        // Exec form: the program itself.
        let e =
            check_command_line(&argv("icacls C:\\x /grant"), "icacls C:\\x /grant").unwrap_err();
        assert!(e.to_string().contains("ACLs"), "{e}");
        // Quoted text is not a command; an image's own program of a stub's name is its own.
        check(r#"echo "dism & netsh""#).unwrap();
        check(r#""C:\Program Files\Git\usr\bin\where.exe" git"#).unwrap();
        check(r"%SystemRoot%\System32\where.exe git").unwrap_err();
    }

    #[test]
    fn every_stub_has_an_explanation() {
        for s in STUBS {
            assert!(!s.wine.is_empty() && s.program == s.program.to_ascii_lowercase());
            assert!(lookup(&format!(r"C:\Windows\System32\{}.EXE", s.program)).is_some());
        }
    }
}
