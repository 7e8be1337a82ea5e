//! The static check against a small catalog written here (the engine's real catalog is
//! `powershell::catalog`, tested with the runtime): which commands, parameters, .NET types and
//! members a script may use, per about_CommonParameters, about_Parameters (prefix matching),
//! about_Aliases, about_Type_Accelerators, about_Trap and about_Parsing (`--%`).

use powershell::check::{check, Catalog, CmdletInfo, ParamInfo, TypeInfo};

const fn p(name: &'static str, position: Option<u32>) -> ParamInfo {
    ParamInfo {
        name,
        aliases: &[],
        is_switch: false,
        position,
    }
}
const fn switch(name: &'static str) -> ParamInfo {
    ParamInfo {
        name,
        aliases: &[],
        is_switch: true,
        position: None,
    }
}

static CATALOG: Catalog = Catalog {
    cmdlets: &[
        CmdletInfo {
            name: "Invoke-WebRequest",
            aliases: &["iwr", "curl", "wget"],
            parameters: &[
                p("Uri", Some(0)),
                p("OutFile", None),
                switch("UseBasicParsing"),
                p("Headers", None),
            ],
        },
        CmdletInfo {
            name: "Remove-Item",
            aliases: &["rm", "del"],
            parameters: &[
                p("Path", Some(0)),
                switch("Recurse"),
                switch("Force"),
                ParamInfo {
                    name: "LiteralPath",
                    aliases: &["PSPath", "LP"],
                    is_switch: false,
                    position: None,
                },
            ],
        },
        CmdletInfo {
            name: "New-Object",
            aliases: &[],
            parameters: &[p("TypeName", Some(0)), p("ArgumentList", Some(1))],
        },
        CmdletInfo {
            name: "Write-Host",
            aliases: &[],
            parameters: &[p("Object", Some(0)), switch("NoNewline")],
        },
        CmdletInfo {
            name: "ForEach-Object",
            aliases: &["%", "foreach"],
            parameters: &[p("Process", Some(0))],
        },
    ],
    types: &[
        TypeInfo {
            name: "System.Net.WebClient",
            aliases: &[],
            static_members: &[],
            constructible: true,
        },
        TypeInfo {
            name: "System.Environment",
            aliases: &[],
            static_members: &["SetEnvironmentVariable", "GetEnvironmentVariable"],
            constructible: false,
        },
        TypeInfo {
            name: "System.Int32",
            aliases: &["int"],
            static_members: &["MaxValue"],
            constructible: false,
        },
        TypeInfo {
            name: "System.String",
            aliases: &["string"],
            static_members: &["IsNullOrEmpty"],
            constructible: false,
        },
        TypeInfo {
            name: "System.Collections.Generic.List",
            aliases: &[],
            static_members: &[],
            constructible: true,
        },
    ],
    instance_members: &["DownloadFile", "Replace", "Add"],
    attributes: &["Parameter", "CmdletBinding"],
};

/// The list of refusals for a script, as `what@line:col`.
fn refusals(src: &str) -> Vec<String> {
    let script = powershell::parser::parse(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
    match check(&script, &CATALOG) {
        Ok(()) => vec![],
        Err(list) => list
            .iter()
            .map(|u| format!("{}@{}", u.what, u.span))
            .collect(),
    }
}

#[test]
fn supported_scripts_pass() {
    let ok = [
        "Invoke-WebRequest -Uri https://x/y -OutFile y.zip -UseBasicParsing",
        "iwr https://x/y -OutF y.zip",
        "curl https://x/y -OutFile y",
        "Remove-Item -Recurse -Force C:\\x",
        "rm -LP C:\\x -ErrorAction SilentlyContinue -Verbose",
        "Remove-Item x -ea 0",
        "Remove-Item x -WhatIf:$false",
        "(New-Object System.Net.WebClient).DownloadFile($u, 'C:\\a')",
        "New-Object -TypeName Net.WebClient",
        "[Environment]::SetEnvironmentVariable('A', 'b', 'Machine')",
        "[int]$x = '5'; [string]::IsNullOrEmpty($x)",
        "$l = [System.Collections.Generic.List[string]]::new(); $l.Add('a')",
        "git version; msiexec /i x.msi /qn; 7z x a.zip; C:\\tools\\x.exe /S; & 'C:\\Program Files\\x\\y.exe' /q",
        "& \"$env:ProgramFiles\\Git\\bin\\git.exe\" version",
        "function Get-Thing { param([Parameter(Mandatory)][string]$Name) Write-Host $Name }; Get-Thing -Name a",
        "1..3 | ForEach-Object { Write-Host $_ }",
        "$a | % { $_ }",
        "& { Write-Host 1 }",
        "Write-Host a -- -b",
    ];
    for src in ok {
        assert_eq!(refusals(src), Vec::<String>::new(), "{src}");
    }
}

#[test]
fn unsupported_things_are_named_with_their_position() {
    let rows: &[(&str, &[&str])] = &[
        ("Get-WmiObject Win32_OS", &["cmdlet Get-WmiObject@1:1"]),
        ("Invoke-WebRequest https://x -Credential $c", &["parameter -Credential of Invoke-WebRequest@1:29"]),
        // A prefix must name one parameter, common parameters included (about_Parameters).
        ("Remove-Item x -W", &["parameter -W of Remove-Item (ambiguous: WarningAction, WarningVariable, WhatIf)@1:15"]),
        ("Remove-Item x -Re", &[]),
        // Aliases that are PowerShell commands, not programs on PATH.
        ("gci C:\\", &["command gci@1:1"]),
        ("sc x.txt 'a'", &["command sc@1:1"]),
        // .NET types, static members, constructors, instance methods.
        ("[IO.Compression.ZipFile]::ExtractToDirectory('a.zip', 'b')", &[".NET type [IO.Compression.ZipFile]@1:1"]),
        ("[Environment]::Exit(1)", &[".NET member [Environment]::Exit@1:16"]),
        ("[Environment]::new()", &[".NET member [Environment]::new@1:16"]),
        ("New-Object System.Xml.XmlDocument", &[".NET type System.Xml.XmlDocument@1:12"]),
        ("New-Object -ComObject Shell.Application", &["parameter -ComObject of New-Object@1:12"]),
        ("New-Object Environment", &[".NET constructor New-Object Environment@1:12"]),
        ("New-Object $t", &["New-Object with a type name computed at run time@1:12"]),
        ("$w.UploadFile('a', 'b')", &[".NET method .UploadFile()@1:4"]),
        ("$w.$m()", &["a method whose name is computed at run time@1:4"]),
        ("[datetime]'2020-01-01'", &[".NET type [datetime]@1:1"]),
        ("$x -as [xml]", &[".NET type [xml]@1:8"]),
        // Statements and syntax the engine does not run.
        ("trap { continue }", &["statement trap@1:1"]),
        ("cmd /c --% dir \"x\"", &["the stop-parsing token --%@1:8"]),
        ("& $exe /S", &["a command whose name is computed at run time@1:3"]),
        // `check` has no files to read a called script from (`check_with_files` has).
        (".\\install.ps1 -Force", &["the PowerShell script file .\\install.ps1 was not found in the image (script files are checked before the step runs, so they must exist when it starts)@1:1"]),
        ("install.ps1", &["running the PowerShell script file install.ps1 by name (looked up on PATH at run time; call it by its path, C:\\… or .\\…)@1:1"]),
        ("Write-Host @args", &["splatting into Write-Host (its parameters cannot be checked before running)@1:12"]),
        ("function f { [ValidateSet('a')] param($a) }", &["attribute [ValidateSet()]@1:14"]),
        ("function f { param([ValidateSet('a')]$a) }", &["attribute [ValidateSet()]@1:20"]),
        // Everything inside blocks, strings and script blocks is checked too.
        ("if ($a) { Get-Service }", &["cmdlet Get-Service@1:11"]),
        ("Write-Host \"$(Get-Date)\"", &["cmdlet Get-Date@1:15"]),
        ("$a | ForEach-Object { Stop-Service $_ }", &["cmdlet Stop-Service@1:23"]),
        ("Write-Host (Get-Random) (Get-Item a)", &["cmdlet Get-Random@1:13", "cmdlet Get-Item@1:26"]),
    ];
    let mut bad = Vec::new();
    for (src, want) in rows {
        let got = refusals(src);
        if got != *want {
            bad.push(format!("  {src:?}\n    want {want:?}\n    got  {got:?}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{} rows differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
