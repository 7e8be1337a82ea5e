//! Script files (`.ps1`) called from a script, through `run_script` on the test host: each
//! table row names the Microsoft page (Windows PowerShell 5.1) that gives its behaviour. The
//! called files are checked with the step's script before anything runs.

mod run_support;

use run_support::*;

/// Runs `src` with the script files `files` (`C:\` relative path, text) on drive C:.
fn run_files(src: &str, files: &[(&str, &str)]) -> Run {
    run_with(src, |_, dir| {
        for (rel, text) in files {
            let p = dir.join(rel.replace('\\', "/"));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    })
}

/// Script files on drive C:: (`C:\` relative path, text).
type Files<'a> = &'a [(&'a str, &'a str)];

/// Rows: (page, caller script, files, expected stdout); each must exit 0.
fn check(rows: &[(&str, &str, Files, &str)]) {
    let mut failures = Vec::new();
    for (page, script, files, want) in rows {
        let r = run_files(script, files);
        if r.out() != *want || r.code != 0 {
            failures.push(format!(
                "[{page}] {script}\n   want {want:?}\n    got {:?} (exit {}) {}",
                r.out(),
                r.code,
                r.err()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows differ:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

const ARGS: &str = r#""args: $($args -join ',') ($($args.Count))""#;
const PARAMS: &str = "param($Name, [int]$Count = 2)\n\"$Name x$Count\"\n";

#[test]
fn arguments_and_param_blocks() {
    check(&[
        (
            "about_Scripts",
            r"& C:\app\s.ps1 a b",
            &[(r"app\s.ps1", ARGS)],
            "args: a,b (2)\n",
        ),
        (
            "about_Scripts",
            r".\s.ps1",
            &[(r"app\s.ps1", ARGS)],
            "args:  (0)\n",
        ),
        (
            "about_Scripts",
            r"./s.ps1 1 'two words'",
            &[(r"app\s.ps1", ARGS)],
            "args: 1,two words (2)\n",
        ),
        (
            "about_Scripts",
            r"& 'C:\app\s.ps1' x",
            &[(r"app\s.ps1", ARGS)],
            "args: x (1)\n",
        ),
        (
            "about_Scripts",
            r"C:\app\s.ps1 World",
            &[(r"app\s.ps1", PARAMS)],
            "World x2\n",
        ),
        (
            "about_Scripts",
            r".\s.ps1 -Count 3 World",
            &[(r"app\s.ps1", PARAMS)],
            "World x3\n",
        ),
        (
            "about_Scripts",
            r".\s.ps1 -Name Hi -Count:4",
            &[(r"app\s.ps1", PARAMS)],
            "Hi x4\n",
        ),
        (
            "about_Scripts",
            r"& C:\app\tools\a.ps1 v",
            &[
                (r"app\tools\a.ps1", "\"a $args\"; & C:\\app\\tools\\b.ps1 w"),
                (r"app\tools\b.ps1", "\"b $args\""),
            ],
            "a v\nb w\n",
        ),
        (
            "about_Scripts",
            r"& C:\app\r.ps1 2",
            &[(
                r"app\r.ps1",
                "param([int]$n)\nif ($n -gt 0) { & C:\\app\\r.ps1 ($n - 1) }\n\"n=$n\"",
            )],
            "n=0\nn=1\nn=2\n",
        ),
    ]);
}

#[test]
fn exit_ends_the_file_and_sets_lastexitcode() {
    check(&[
        (
            "about_Language_Keywords (exit)",
            r#"& .\s.ps1; "code $LASTEXITCODE $?"; 'caller continues'"#,
            &[(r"app\s.ps1", "'in'; exit 7; 'after'")],
            "in\ncode 7 False\ncaller continues\n",
        ),
        (
            "about_Language_Keywords (exit)",
            r#".\s.ps1; "code $LASTEXITCODE $?""#,
            &[(r"app\s.ps1", "function f { exit 0 }; f; 'after'")],
            "code 0 True\n",
        ),
        (
            "about_Automatic_Variables ($LASTEXITCODE)",
            r#".\s.ps1; "[$LASTEXITCODE]""#,
            &[(r"app\s.ps1", "'no exit'")],
            "no exit\n[]\n",
        ),
    ]);
    // The step's own exit code is the caller's, not the file's.
    let r = run_files(r".\s.ps1; exit $LASTEXITCODE", &[(r"app\s.ps1", "exit 3")]);
    assert_eq!(r.code, 3, "{}", r.err());
}

#[test]
fn script_scope_and_dot_sourcing() {
    const SET: &str = "$x = 'inner'\nfunction f { 'f ran' }\n";
    check(&[
        (
            "about_Scopes",
            r"$x = 'outer'; & .\s.ps1; $x",
            &[(r"app\s.ps1", SET)],
            "outer\n",
        ),
        (
            "about_Scopes",
            r"$x = 'outer'; .\s.ps1; $x",
            &[(r"app\s.ps1", SET)],
            "outer\n",
        ),
        (
            "about_Scopes (dot-source notation)",
            r"$x = 'outer'; . .\s.ps1; $x; f",
            &[(r"app\s.ps1", SET)],
            "inner\nf ran\n",
        ),
        (
            "about_Scopes",
            r"$x = 'outer'; .\s.ps1",
            &[(r"app\s.ps1", "\"sees $x\"")],
            "sees outer\n",
        ),
        (
            "about_Scopes ($script:)",
            r#"& .\s.ps1; "[$y]""#,
            &[(
                r"app\s.ps1",
                "$script:y = 1\nfunction g { $script:y = 2 }\ng\n$y",
            )],
            "2\n[]\n",
        ),
        (
            "about_Scripts ($PSScriptRoot)",
            r#"& .\tools\s.ps1; "[$PSScriptRoot]""#,
            &[(
                r"app\tools\s.ps1",
                "$PSScriptRoot\n$PSCommandPath\n$MyInvocation.MyCommand.Path",
            )],
            "C:\\app\\tools\nC:\\app\\tools\\s.ps1\nC:\\app\\tools\\s.ps1\n[]\n",
        ),
        (
            "about_Scripts ($PSScriptRoot)",
            r#". .\tools\s.ps1; "[$PSScriptRoot]""#,
            &[(r"app\tools\s.ps1", "$PSScriptRoot")],
            "C:\\app\\tools\n[]\n",
        ),
        (
            "about_Try_Catch_Finally",
            r#"try { & .\s.ps1 } catch { "caught $_" }"#,
            &[(r"app\s.ps1", "throw 'boom'")],
            "caught boom\n",
        ),
    ]);
}

#[test]
fn an_unsupported_command_in_a_called_file_fails_before_the_callers_first_effect() {
    let r = run_files(
        "Set-Content C:\\app\\marker.txt x\n& C:\\app\\bad.ps1",
        &[(r"app\bad.ps1", "'ok'\nGet-WmiObject Win32_OperatingSystem")],
    );
    assert_eq!(r.code, 1);
    assert!(!r.path(r"app\marker.txt").exists(), "the caller ran");
    assert!(
        r.err()
            .contains(r"in C:\app\bad.ps1 at its line 2, column 1: cmdlet Get-WmiObject"),
        "{}",
        r.err()
    );
    assert!(r.err().contains("line 2, column 1"), "{}", r.err());
    // A file that does not parse is named with its position.
    let r = run_files(
        "Set-Content C:\\app\\marker.txt x; . .\\bad.ps1",
        &[(r"app\bad.ps1", "\n  if ($x {")],
    );
    assert_eq!(r.code, 1);
    assert!(!r.path(r"app\marker.txt").exists());
    assert!(
        r.err()
            .contains(r".\bad.ps1, which does not parse (its line 2"),
        "{}",
        r.err()
    );
}

#[test]
fn missing_files_and_computed_or_bare_names_are_refused_before_anything_runs() {
    for (script, want) in [
        (
            "Set-Content C:\\app\\marker.txt x; & C:\\nope.ps1",
            r"the PowerShell script file C:\nope.ps1 was not found in the image",
        ),
        (
            "Set-Content C:\\app\\marker.txt x; $p = 'C:\\app\\s.ps1'; & $p",
            "a command whose name is computed at run time",
        ),
        (
            "Set-Content C:\\app\\marker.txt x; & \"$env:TEMP\\s.ps1\"",
            "running a PowerShell script file (.ps1)",
        ),
        (
            // The check reads relative paths against the location the step starts in.
            "Set-Content C:\\app\\marker.txt x; cd C:\\; & .\\app\\s.ps1",
            r"the PowerShell script file .\app\s.ps1 was not found in the image",
        ),
        (
            "Set-Content C:\\app\\marker.txt x; s.ps1",
            "running the PowerShell script file s.ps1 by name",
        ),
    ] {
        let r = run_files(script, &[(r"app\s.ps1", "'s'")]);
        assert_eq!(r.code, 1, "{script}");
        assert!(
            !r.path(r"app\marker.txt").exists(),
            "{script}: the caller ran"
        );
        assert!(r.err().contains(want), "{script}: {}", r.err());
    }
    // `prepare` has no files: it says which file it needs, distinctly from unsupported.
    let d = powershell::prepare(r"& C:\setup.ps1 -x 1").unwrap_err();
    assert_eq!(d[0].missing_file.as_deref(), Some(r"C:\setup.ps1"));
    let d = powershell::prepare("Get-WmiObject x").unwrap_err();
    assert_eq!(d[0].missing_file, None);
    let files = |p: &str| (p == r"C:\setup.ps1").then(|| "Get-WmiObject x".to_string());
    let d = powershell::interp::prepare_with_files(r"& C:\setup.ps1", &files).unwrap_err();
    assert_eq!(d[0].missing_file, None);
    assert!(d[0].message.contains("Get-WmiObject"), "{}", d[0].message);
    // Nested deeper than the bound.
    let files = |p: &str| {
        let n: usize = p
            .trim_start_matches(r"C:\d")
            .trim_end_matches(".ps1")
            .parse()
            .ok()?;
        Some(format!(r"& C:\d{}.ps1", n + 1))
    };
    let d = powershell::interp::prepare_with_files(r"& C:\d0.ps1", &files).unwrap_err();
    assert!(
        d[0].message.contains("more than 8 deep"),
        "{}",
        d[0].message
    );
}
