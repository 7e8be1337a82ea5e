//! The command line → script step: argv splitting by the Microsoft C runtime rules ("Parsing
//! C++ command-line arguments", learn.microsoft.com/cpp/cpp/main-function-command-line-args)
//! and the options of powershell.exe / pwsh (about_PowerShell_exe, about_Pwsh).

use base64::Engine as _;
use powershell::invocation::{
    is_powershell_program, parse_command_line, split_command_line, Apartment, Edition,
    InvocationError, Origin,
};

fn no_files(path: &str) -> Result<String, String> {
    Err(format!("{path}: no file in this test"))
}

fn script_of(line: &str) -> String {
    match parse_command_line(line, &no_files) {
        Ok(i) => i.script,
        Err(e) => panic!("{line:?}: {e}"),
    }
}

#[test]
fn microsoft_c_runtime_argv_rules() {
    // Rows from the table of "Parsing C++ command-line arguments" (program name `p` first).
    let rows: &[(&str, &[&str])] = &[
        (r#"p "abc" d e"#, &["abc", "d", "e"]),
        (r#"p a\\b d"e f"g h"#, &[r"a\\b", "de fg", "h"]),
        (r#"p a\\\"b c d"#, &[r#"a\"b"#, "c", "d"]),
        (r#"p a\\\\"b c" d e"#, &[r"a\\b c", "d", "e"]),
        (r#"p a"b"" c d"#, &[r#"ab""#, "c", "d"]),
        // Tabs separate too; runs of blanks are one separator.
        ("p a\t b   c", &["a", "b", "c"]),
        // An empty quoted argument is an argument.
        (r#"p "" x"#, &["", "x"]),
    ];
    for (line, want) in rows {
        let argv = split_command_line(line);
        assert_eq!(argv[0], "p", "{line}");
        assert_eq!(&argv[1..], *want, "{line}");
    }
    // The program name: up to the first blank, or inside its quotes without escapes.
    assert_eq!(
        split_command_line(r#""C:\Program Files\x\pwsh.exe" -c 1"#)[0],
        r"C:\Program Files\x\pwsh.exe"
    );
    assert_eq!(
        split_command_line(r"C:\a\b\powershell.exe -c 1")[0],
        r"C:\a\b\powershell.exe"
    );
}

#[test]
fn program_names() {
    for name in [
        "powershell",
        "PowerShell.exe",
        "pwsh",
        "PWSH.EXE",
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        r"C:\Program Files\PowerShell\7\pwsh.exe",
        "c:/tools/pwsh",
    ] {
        assert!(is_powershell_program(name), "{name}");
    }
    for name in [
        "cmd",
        "powershell_ise.exe",
        "mypwsh",
        "powershell.cmd",
        "pwsh.exe.bak",
        "",
    ] {
        assert!(!is_powershell_program(name), "{name}");
    }
}

#[test]
fn command_words_are_joined_with_single_spaces() {
    // about_PowerShell_exe: the rest of the command line after -Command is the command.
    // This is why double quotes of a Docker RUN line vanish on Windows.
    let docker = r#"powershell -Command $ErrorActionPreference = 'Stop'; Write-Host "a  b" "c""#;
    assert_eq!(
        script_of(docker),
        "$ErrorActionPreference = 'Stop'; Write-Host a  b c"
    );
    assert_eq!(
        script_of(r#"powershell -Command "Write-Host 'x'""#),
        "Write-Host 'x'"
    );
    assert_eq!(script_of(r#"powershell -c "echo \"q\"""#), r#"echo "q""#);
    // Without an option, Windows PowerShell treats the words as -Command.
    assert_eq!(
        script_of("powershell Get-Date -Format o"),
        "Get-Date -Format o"
    );
    // Options before -Command, any case and by prefix.
    let inv = parse_command_line(
        "PowerShell.exe -NoLogo -nop -NonI -ExecutionPolicy Bypass -WindowStyle Hidden -Sta -InputFormat Text -OutputFormat text -COMMAND Get-Item x",
        &no_files,
    )
    .unwrap();
    assert_eq!(inv.script, "Get-Item x");
    assert_eq!(inv.origin, Origin::Command);
    assert_eq!(inv.edition, Edition::Windows);
    assert!(inv.options.no_logo && inv.options.no_profile && inv.options.non_interactive);
    assert_eq!(inv.options.execution_policy.as_deref(), Some("Bypass"));
    assert_eq!(inv.options.window_style.as_deref(), Some("Hidden"));
    assert_eq!(inv.options.apartment, Some(Apartment::Sta));
    // `--command` and `/command` are the same switch; `-ep` is -ExecutionPolicy.
    assert_eq!(script_of("pwsh --command 1"), "1");
    assert_eq!(script_of("pwsh /c 1"), "1");
    assert_eq!(
        parse_command_line("pwsh -ep Bypass -c 1", &no_files)
            .unwrap()
            .options
            .execution_policy
            .as_deref(),
        Some("Bypass")
    );
    assert_eq!(
        parse_command_line("pwsh -Mta -c 1", &no_files)
            .unwrap()
            .options
            .apartment,
        Some(Apartment::Mta)
    );
}

#[test]
fn encoded_command_is_base64_of_utf16le() {
    let script = "Write-Host 'é ok'";
    let utf16: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(utf16);
    let inv = parse_command_line(
        &format!("powershell -NoProfile -EncodedCommand {b64}"),
        &no_files,
    )
    .unwrap();
    assert_eq!(inv.script, script);
    assert_eq!(inv.origin, Origin::EncodedCommand);
    assert_eq!(
        parse_command_line(&format!("pwsh -ec {b64}"), &no_files)
            .unwrap()
            .script,
        script
    );
    assert!(matches!(
        parse_command_line("powershell -e not*base64", &no_files),
        Err(InvocationError::BadEncodedCommand { .. })
    ));
}

#[test]
fn file_is_read_and_the_rest_are_its_arguments() {
    let read = |path: &str| -> Result<String, String> {
        if path == r"C:\s\build.ps1" {
            Ok("\u{feff}param($a) Write-Host $a".into())
        } else {
            Err(format!("{path}: not found"))
        }
    };
    let inv = parse_command_line(
        r#"powershell -NoProfile -File C:\s\build.ps1 -a "x y" z"#,
        &read,
    )
    .unwrap();
    assert_eq!(
        inv.script, "param($a) Write-Host $a",
        "the BOM is not part of the script"
    );
    assert_eq!(inv.origin, Origin::File(r"C:\s\build.ps1".into()));
    assert_eq!(inv.args, vec!["-a", "x y", "z"]);
    // pwsh: a first word that is not an option is the file.
    let inv = parse_command_line(r"pwsh C:\s\build.ps1 1", &read).unwrap();
    assert_eq!(inv.edition, Edition::Core);
    assert_eq!(inv.args, vec!["1"]);
    let e = parse_command_line(r"powershell -File C:\missing.ps1", &read).unwrap_err();
    assert_eq!(
        e.to_string(),
        r"powershell -File C:\missing.ps1: C:\missing.ps1: not found"
    );
}

#[test]
fn refusals_name_the_option() {
    let rows: &[(&str, &str)] = &[
        ("powershell -Version 2 -c 1", "-Version is not supported"),
        ("pwsh --version", "-Version is not supported"),
        ("pwsh -CommandWithArgs '$args' a", "-CommandWithArgs"),
        ("pwsh -cwa x", "-CommandWithArgs"),
        ("powershell -NoExit -c 1", "-NoExit"),
        ("powershell -c -", "standard input"),
        ("powershell -File -", "standard input"),
        ("powershell -OutputFormat XML -c 1", "only Text output"),
        ("powershell -InputFormat xml -c 1", "only Text input"),
        ("powershell -PSConsoleFile x.psc1 -c 1", "-psconsolefile"),
        (
            "powershell -Bogus -c 1",
            "-Bogus is not supported here: not a known option",
        ),
        (
            "powershell -ExecutionPolicy",
            "-executionpolicy needs a value",
        ),
        ("powershell -NoProfile", "would start an interactive shell"),
        ("cmd /c echo", "is not powershell.exe or pwsh.exe"),
    ];
    for (line, want) in rows {
        match parse_command_line(line, &no_files) {
            Ok(i) => panic!("{line}: accepted as {:?}", i.script),
            Err(e) => assert!(
                e.to_string().contains(want),
                "{line}: {e} (wanted {want:?})"
            ),
        }
    }
}
