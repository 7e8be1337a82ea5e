//! From a Windows command line (what `CreateProcess` hands `powershell.exe`) to the script to
//! run: the Microsoft C runtime's argv splitting, then `powershell.exe`'s / `pwsh`'s own options
//! (about_PowerShell_exe, about_Pwsh).
//!
//! This is where Docker's Windows behaviour comes from: a shell-form `RUN` becomes the command
//! line `powershell -Command <prefix> <text>`, which is split into argv by the C runtime rules
//! (so unescaped `"` are eaten as quoting) and the words after `-Command` are joined again with
//! single spaces. `RUN Write-Host "a  b"` therefore runs `Write-Host a  b`: reproduced exactly.

use base64::Engine as _;

/// Which PowerShell the command line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edition {
    /// `powershell.exe`: Windows PowerShell 5.1 (an unrecognised first word starts `-Command`).
    Windows,
    /// `pwsh.exe`: PowerShell 7 (an unrecognised first word is the `-File`).
    Core,
}

/// Where the script came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `-Command` (or the words without an option).
    Command,
    /// `-EncodedCommand` (base64 of UTF-16LE).
    EncodedCommand,
    /// `-File path` (the path as written).
    File(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apartment {
    Sta,
    Mta,
}

/// The options that do not change what runs (recorded for messages and for the runtime).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub no_profile: bool,
    pub no_logo: bool,
    pub non_interactive: bool,
    pub execution_policy: Option<String>,
    pub input_format: Option<String>,
    pub output_format: Option<String>,
    pub window_style: Option<String>,
    pub apartment: Option<Apartment>,
}

/// A PowerShell command line, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The program as written (`powershell`, `C:\...\powershell.exe`, `pwsh`).
    pub program: String,
    pub edition: Edition,
    /// The script text to parse and run.
    pub script: String,
    pub origin: Origin,
    /// The arguments after `-File path` (the script's `$args`).
    pub args: Vec<String>,
    pub options: Options,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvocationError {
    #[error("{0:?} is not powershell.exe or pwsh.exe")]
    NotPowerShell(String),
    #[error("the command line is empty")]
    Empty,
    #[error("{program} option -{option} needs a value")]
    MissingValue { program: String, option: String },
    #[error("{program} option {option} is not supported here: {why}")]
    Unsupported {
        program: String,
        option: String,
        why: String,
    },
    #[error("{program} -EncodedCommand: the value is not base64 of UTF-16LE text")]
    BadEncodedCommand { program: String },
    #[error("{program} -File {path}: {why}")]
    FileUnreadable {
        program: String,
        path: String,
        why: String,
    },
    #[error("{program} has no -Command, -EncodedCommand or -File: it would start an interactive shell, which a build step cannot use")]
    Interactive { program: String },
}

/// Whether `name` is `powershell`, `powershell.exe`, `pwsh`, `pwsh.exe`, or a path ending in one
/// of them (`\` or `/` separated), compared case-insensitively as Windows does.
pub fn is_powershell_program(name: &str) -> bool {
    edition_of(name).is_some()
}

fn edition_of(name: &str) -> Option<Edition> {
    let base = name
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or(name)
        .to_ascii_lowercase();
    match base.as_str() {
        "powershell" | "powershell.exe" => Some(Edition::Windows),
        "pwsh" | "pwsh.exe" => Some(Edition::Core),
        _ => None,
    }
}

/// Splits a complete command line into argv the way the Microsoft C runtime does ("Parsing C++
/// command-line arguments"): the program name runs to the next space/tab, or is everything
/// inside its first pair of `"` (no escapes); then arguments are separated by spaces/tabs,
/// `"` toggles quoting, `2n` backslashes before `"` give `n` backslashes and a quote that
/// toggles, `2n+1` give `n` backslashes and a literal `"`; inside quotes `""` gives a literal
/// `"` and ends the quoted part; other backslashes are literal.
pub fn split_command_line(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut argv = Vec::new();
    let mut i = 0;
    // The program name.
    let mut program = String::new();
    if chars.first() == Some(&'"') {
        i = 1;
        while i < chars.len() && chars[i] != '"' {
            program.push(chars[i]);
            i += 1;
        }
        i += 1;
    } else {
        while i < chars.len() && chars[i] != ' ' && chars[i] != '\t' {
            program.push(chars[i]);
            i += 1;
        }
    }
    argv.push(program);
    loop {
        while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
            i += 1;
        }
        if i >= chars.len() {
            return argv;
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
                if chars.get(i) == Some(&'"') {
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
                    in_quotes = false;
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
        argv.push(arg);
    }
}

/// Understands a complete Windows command line. `read_file` reads the script of `-File`
/// (given the path as written; it returns the text or why it cannot).
pub fn parse_command_line(
    line: &str,
    read_file: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Invocation, InvocationError> {
    parse_argv(&split_command_line(line), read_file)
}

/// One option of powershell.exe / pwsh: full name, shortest accepted prefix, takes a value.
struct OptionSpec {
    name: &'static str,
    shortest: &'static str,
    value: bool,
}

const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "command",
        shortest: "c",
        value: true,
    },
    OptionSpec {
        name: "commandwithargs",
        shortest: "commandwithargs",
        value: true,
    },
    OptionSpec {
        name: "cwa",
        shortest: "cwa",
        value: true,
    },
    OptionSpec {
        name: "configurationname",
        shortest: "config",
        value: true,
    },
    OptionSpec {
        name: "encodedcommand",
        shortest: "e",
        value: true,
    },
    OptionSpec {
        name: "ec",
        shortest: "e",
        value: true,
    },
    OptionSpec {
        name: "encodedarguments",
        shortest: "encodeda",
        value: true,
    },
    OptionSpec {
        name: "executionpolicy",
        shortest: "ex",
        value: true,
    },
    OptionSpec {
        name: "ep",
        shortest: "ep",
        value: true,
    },
    OptionSpec {
        name: "file",
        shortest: "f",
        value: true,
    },
    OptionSpec {
        name: "help",
        shortest: "h",
        value: false,
    },
    OptionSpec {
        name: "?",
        shortest: "?",
        value: false,
    },
    OptionSpec {
        name: "inputformat",
        shortest: "inp",
        value: true,
    },
    OptionSpec {
        name: "if",
        shortest: "if",
        value: true,
    },
    OptionSpec {
        name: "interactive",
        shortest: "i",
        value: false,
    },
    OptionSpec {
        name: "login",
        shortest: "l",
        value: false,
    },
    OptionSpec {
        name: "mta",
        shortest: "mta",
        value: false,
    },
    OptionSpec {
        name: "noexit",
        shortest: "noe",
        value: false,
    },
    OptionSpec {
        name: "nologo",
        shortest: "nol",
        value: false,
    },
    OptionSpec {
        name: "noninteractive",
        shortest: "noni",
        value: false,
    },
    OptionSpec {
        name: "noprofile",
        shortest: "nop",
        value: false,
    },
    OptionSpec {
        name: "outputformat",
        shortest: "o",
        value: true,
    },
    OptionSpec {
        name: "of",
        shortest: "o",
        value: true,
    },
    OptionSpec {
        name: "psconsolefile",
        shortest: "psc",
        value: true,
    },
    OptionSpec {
        name: "settingsfile",
        shortest: "settings",
        value: true,
    },
    OptionSpec {
        name: "sta",
        shortest: "sta",
        value: false,
    },
    OptionSpec {
        name: "version",
        shortest: "v",
        value: true,
    },
    OptionSpec {
        name: "windowstyle",
        shortest: "w",
        value: true,
    },
    OptionSpec {
        name: "workingdirectory",
        shortest: "wo",
        value: true,
    },
    OptionSpec {
        name: "wd",
        shortest: "wd",
        value: true,
    },
];

/// The option a switch word (without its `-`/`/`) names: a case-insensitive prefix of the full
/// name at least as long as the shortest unambiguous form.
fn match_option(word: &str) -> Option<&'static OptionSpec> {
    let w = word.to_ascii_lowercase();
    OPTIONS
        .iter()
        .find(|o| w.len() >= o.shortest.len() && o.name.starts_with(w.as_str()))
}

/// Understands argv (program name first).
pub fn parse_argv(
    argv: &[String],
    read_file: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Invocation, InvocationError> {
    let Some(program) = argv.first() else {
        return Err(InvocationError::Empty);
    };
    let Some(edition) = edition_of(program) else {
        return Err(InvocationError::NotPowerShell(program.clone()));
    };
    let program = program.clone();
    let mut options = Options::default();
    let unsupported = |option: &str, why: &str| InvocationError::Unsupported {
        program: program.clone(),
        option: option.to_string(),
        why: why.to_string(),
    };
    let mut i = 1;
    while i < argv.len() {
        let arg = argv[i].trim();
        if arg.is_empty() {
            i += 1;
            continue;
        }
        let first = arg.chars().next().unwrap_or(' ');
        let is_switch = crate::lexer::is_dash(first) || first == '/';
        if !is_switch {
            // The first word that is not an option: the command (5.1) or the file (7).
            return match edition {
                Edition::Windows => Ok(command_invocation(
                    program.clone(),
                    edition,
                    &argv[i..],
                    options,
                )),
                Edition::Core => {
                    file_invocation(program.clone(), edition, &argv[i..], options, read_file)
                }
            };
        }
        let mut word = &arg[first.len_utf8()..];
        if let Some(rest) = word.strip_prefix(first).filter(|_| first != '/') {
            word = rest; // `--command` is `-command`
        }
        let Some(spec) = match_option(word) else {
            return Err(unsupported(
                arg,
                "not a known option (see about_PowerShell_exe)",
            ));
        };
        if spec.name == "version" {
            return Err(unsupported(
                "-Version",
                "running another PowerShell version is not supported; the engine is Windows PowerShell 5.1",
            ));
        }
        let value = if spec.value {
            match argv.get(i + 1) {
                Some(v) => Some(v.clone()),
                None => {
                    return Err(InvocationError::MissingValue {
                        program: program.clone(),
                        option: spec.name.into(),
                    })
                }
            }
        } else {
            None
        };
        match spec.name {
            "command" => {
                if argv[i + 1] == "-" {
                    return Err(unsupported(
                        "-Command -",
                        "reading commands from standard input is not supported",
                    ));
                }
                return Ok(command_invocation(
                    program.clone(),
                    edition,
                    &argv[i + 1..],
                    options,
                ));
            }
            "encodedcommand" | "ec" => {
                let script =
                    decode_encoded_command(value.as_deref().unwrap_or("")).ok_or_else(|| {
                        InvocationError::BadEncodedCommand {
                            program: program.clone(),
                        }
                    })?;
                if argv.len() > i + 2 {
                    return Err(unsupported(
                        &argv[i + 2],
                        "nothing may follow -EncodedCommand's value (use -Command to pass more words)",
                    ));
                }
                return Ok(Invocation {
                    program: program.clone(),
                    edition,
                    script,
                    origin: Origin::EncodedCommand,
                    args: vec![],
                    options,
                });
            }
            "file" => {
                if argv[i + 1] == "-" {
                    return Err(unsupported(
                        "-File -",
                        "reading the script from standard input is not supported",
                    ));
                }
                return file_invocation(
                    program.clone(),
                    edition,
                    &argv[i + 1..],
                    options,
                    read_file,
                );
            }
            "noprofile" => options.no_profile = true,
            "nologo" => options.no_logo = true,
            "noninteractive" => options.non_interactive = true,
            "sta" => options.apartment = Some(Apartment::Sta),
            "mta" => options.apartment = Some(Apartment::Mta),
            "executionpolicy" | "ep" => options.execution_policy = value,
            "inputformat" | "if" => {
                let v = value.unwrap_or_default();
                if !"text".starts_with(&v.to_ascii_lowercase()) || v.is_empty() {
                    return Err(unsupported(
                        &format!("-InputFormat {v}"),
                        "only Text input is supported",
                    ));
                }
                options.input_format = Some(v);
            }
            "outputformat" | "of" => {
                let v = value.unwrap_or_default();
                if !"text".starts_with(&v.to_ascii_lowercase()) || v.is_empty() {
                    return Err(unsupported(
                        &format!("-OutputFormat {v}"),
                        "only Text output is supported",
                    ));
                }
                options.output_format = Some(v);
            }
            "windowstyle" => options.window_style = value,
            "commandwithargs" | "cwa" => {
                return Err(unsupported(
                    "-CommandWithArgs",
                    "pwsh 7.4's -CommandWithArgs is not supported",
                ))
            }
            "noexit" => {
                return Err(unsupported(
                    "-NoExit",
                    "a build step cannot keep an interactive shell open",
                ))
            }
            "interactive" | "login" | "help" | "?" => {
                return Err(unsupported(arg, "not usable in a build step"));
            }
            other => {
                return Err(unsupported(
                    &format!("-{other}"),
                    "not supported by this engine",
                ))
            }
        }
        i += if spec.value { 2 } else { 1 };
    }
    Err(InvocationError::Interactive { program })
}

/// `-Command word word …`: the words joined with single spaces are the script.
fn command_invocation(
    program: String,
    edition: Edition,
    words: &[String],
    options: Options,
) -> Invocation {
    Invocation {
        program,
        edition,
        script: words.join(" "),
        origin: Origin::Command,
        args: vec![],
        options,
    }
}

/// `-File path args…`.
fn file_invocation(
    program: String,
    edition: Edition,
    rest: &[String],
    options: Options,
    read_file: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Invocation, InvocationError> {
    let path = rest[0].clone();
    let text = read_file(&path).map_err(|why| InvocationError::FileUnreadable {
        program: program.clone(),
        path: path.clone(),
        why,
    })?;
    let script = text.strip_prefix('\u{FEFF}').unwrap_or(&text).to_string();
    Ok(Invocation {
        program,
        edition,
        script,
        origin: Origin::File(path),
        args: rest[1..].to_vec(),
        options,
    })
}

/// `-EncodedCommand`: base64 of the script in UTF-16LE.
fn decode_encoded_command(value: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    if bytes.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).ok()
}
