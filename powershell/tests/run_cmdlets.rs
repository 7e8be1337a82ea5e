//! Cmdlets through `run_script`, one test per cmdlet group, each row naming the Microsoft
//! documentation page (learn.microsoft.com, Windows PowerShell 5.1) whose behaviour it checks:
//! console output, exit code and the exact bytes/registry values left behind.

mod run_support;

use powershell::host::{Hive, Registry, REG_SZ};
use run_support::*;

fn ok(script: &str) -> Run {
    let r = run(script);
    assert_eq!(r.code, 0, "{script}\nout={}\nerr={}", r.out(), r.err());
    r
}

/// Set-Content / Add-Content / Get-Content / Out-File / redirection (Microsoft.PowerShell.Management
/// and about_Redirection): 5.1 encodings and CRLF line ends.
#[test]
fn content_encodings() {
    let r = ok("Set-Content a.txt 'x','y'; Add-Content a.txt 'z'; Get-Content a.txt; (Get-Content a.txt -Raw).Length");
    assert_eq!(
        r.read("app/a.txt"),
        b"x\r\ny\r\nz\r\n",
        "Set-Content: ANSI, CRLF after each value"
    );
    assert_eq!(r.out(), "x\ny\nz\n9\n");
    let r = ok("Set-Content u.txt 'h' -Encoding UTF8; Set-Content n.txt 'h' -NoNewline; Set-Content w.txt 'h' -Encoding Unicode");
    assert_eq!(
        r.read("app/u.txt"),
        b"\xEF\xBB\xBFh\r\n",
        "UTF8 has a BOM in 5.1"
    );
    assert_eq!(r.read("app/n.txt"), b"h");
    assert_eq!(r.read("app/w.txt"), b"\xFF\xFEh\x00\r\x00\n\x00");
    let r = ok("'hi' > o.txt; 'more' >> o.txt; 'x' | Out-File -FilePath e.txt -Encoding ascii");
    assert_eq!(
        r.read("app/o.txt"),
        b"\xFF\xFEh\x00i\x00\r\x00\n\x00m\x00o\x00r\x00e\x00\r\x00\n\x00",
        "> writes UTF-16LE with a BOM"
    );
    assert_eq!(r.read("app/e.txt"), b"x\r\n");
    let r = ok("Set-Content l.txt (1..5); Get-Content l.txt -TotalCount 2; Get-Content l.txt -Tail 1; Get-Content l.txt -First 1");
    assert_eq!(r.out(), "1\n2\n5\n1\n");
    // Get-Content reads a UTF-8 BOM file as UTF-8, a BOM-less one in the ANSI code page.
    let r = run_with("Get-Content b.txt; Get-Content c.txt", |_, d| {
        std::fs::write(d.join("app/b.txt"), b"\xEF\xBB\xBF\xC3\xA9").unwrap();
        std::fs::write(d.join("app/c.txt"), b"\xE9").unwrap();
    });
    assert_eq!(r.out(), "\u{e9}\n\u{e9}\n");
    let r = run("Get-Content nope.txt; 'after'");
    assert_eq!(r.out(), "after\n");
    assert!(
        r.err()
            .starts_with("Cannot find path 'C:\\app\\nope.txt' because it does not exist."),
        "{}",
        r.err()
    );
    assert!(r
        .err()
        .contains("PathNotFound,Microsoft.PowerShell.Commands.GetContentCommand"));
}

/// New-Item, Copy-Item, Move-Item, Rename-Item, Remove-Item, Test-Path, Get-ChildItem, Get-Item.
#[test]
fn items() {
    let r = ok("New-Item -ItemType Directory -Path C:\\d\\e | Out-Null; New-Item C:\\d\\f.txt -Value 'v' | Out-Null; mkdir C:\\m | Out-Null; \
               Test-Path C:\\D\\E; Test-Path C:\\d\\f.txt -PathType Leaf; Test-Path C:\\d -PathType Leaf; Test-Path C:\\nope");
    assert_eq!(r.out(), "True\nTrue\nFalse\nFalse\n");
    assert_eq!(r.read("d/f.txt"), b"v");
    assert!(r.path("m").is_dir());
    let r = run("New-Item -ItemType Directory C:\\app | Out-Null; 'next'");
    assert_eq!(r.out(), "next\n");
    assert!(
        r.err()
            .starts_with("An item with the specified name C:\\app already exists."),
        "{}",
        r.err()
    );
    let r =
        ok("New-Item -ItemType Directory C:\\app -Force | Select-Object -ExpandProperty FullName");
    assert_eq!(r.out(), "C:\\app\n");
    // Copy into an existing directory, recursive copy of a directory, wildcard copy.
    let r = run_with(
        "Copy-Item C:\\src\\a.txt C:\\dst; Copy-Item C:\\src C:\\tree -Recurse; Copy-Item C:\\src\\*.txt C:\\flat; \
         Get-ChildItem C:\\tree -Recurse -Name; (Get-ChildItem C:\\src -Filter *.txt).Name; (Get-ChildItem C:\\src -Directory).Name",
        |_, d| {
            std::fs::create_dir_all(d.join("src/sub")).unwrap();
            std::fs::create_dir_all(d.join("dst")).unwrap();
            std::fs::create_dir_all(d.join("flat")).unwrap();
            std::fs::write(d.join("src/a.txt"), b"A").unwrap();
            std::fs::write(d.join("src/b.log"), b"B").unwrap();
            std::fs::write(d.join("src/sub/c.txt"), b"C").unwrap();
        },
    );
    assert_eq!(r.code, 0, "{}", r.err());
    assert_eq!(r.read("dst/a.txt"), b"A");
    assert_eq!(r.read("tree/sub/c.txt"), b"C");
    assert_eq!(r.read("flat/a.txt"), b"A");
    assert!(!r.path("flat/b.log").exists());
    assert_eq!(
        r.out(),
        "sub\na.txt\nb.log\nsub\\c.txt\na.txt\nsub\n",
        "directories first, then files, then subdirectories"
    );
    // Move, rename, remove (recurse, wildcard, missing).
    let r = run_with(
        "Move-Item C:\\x\\one.txt C:\\y; Rename-Item C:\\y\\one.txt two.txt; Remove-Item C:\\x\\*.tmp; Remove-Item C:\\z -Recurse -Force; \
         Test-Path C:\\y\\two.txt; Test-Path C:\\x\\k.tmp; Test-Path C:\\z; Remove-Item C:\\missing; 'after'",
        |_, d| {
            std::fs::create_dir_all(d.join("x")).unwrap();
            std::fs::create_dir_all(d.join("y")).unwrap();
            std::fs::create_dir_all(d.join("z/deep")).unwrap();
            std::fs::write(d.join("x/one.txt"), b"1").unwrap();
            std::fs::write(d.join("x/k.tmp"), b"").unwrap();
            std::fs::write(d.join("z/deep/f"), b"").unwrap();
        },
    );
    assert_eq!(r.out(), "True\nFalse\nFalse\nafter\n");
    assert!(r
        .err()
        .contains("Cannot find path 'C:\\missing' because it does not exist."));
    assert_eq!(r.code, 0, "the last statement succeeded");
    // A non-empty directory without -Recurse is an error, not a prompt.
    let r = run_with("Remove-Item C:\\full; Test-Path C:\\full", |_, d| {
        std::fs::create_dir_all(d.join("full")).unwrap();
        std::fs::write(d.join("full/f"), b"").unwrap();
    });
    assert_eq!(r.out(), "True\n");
    assert!(r
        .err()
        .contains("has children and the Recurse parameter was not specified"));
    let r = ok("$f = Get-Item C:\\Windows\\System32\\cmd.exe; $f.Name; $f.Extension; $f.BaseName; $f.DirectoryName; $f.Length; $f.PSIsContainer");
    assert_eq!(
        r.out(),
        "cmd.exe\n.exe\ncmd\nC:\\Windows\\System32\n2\nFalse\n"
    );
}

/// Get-Location, Set-Location, Push-Location, Pop-Location, Split-Path, Join-Path, Resolve-Path.
#[test]
fn locations_and_paths() {
    let r = ok("cd C:\\Windows; $PWD.Path; Push-Location System32; (Get-Location).Path; Pop-Location; pwd | ForEach-Object Path; Set-Location ..; $PWD.Path");
    assert_eq!(
        r.out(),
        "C:\\Windows\nC:\\Windows\\System32\nC:\\Windows\nC:\\\n"
    );
    let r = ok("Split-Path C:\\a\\b\\c.txt; Split-Path C:\\a\\b\\c.txt -Leaf; Split-Path C:\\a -Parent; Split-Path C:\\a\\b -Qualifier; Split-Path C:\\a\\b -NoQualifier");
    assert_eq!(r.out(), "C:\\a\\b\nc.txt\nC:\\\nC:\n\\a\\b\n");
    let r = ok("Join-Path C:\\a b; Join-Path C:\\a\\ \\b; Join-Path $env:ProgramFiles 'Tool\\bin'; Join-Path C:\\ 'x'");
    assert_eq!(
        r.out(),
        "C:\\a\\b\nC:\\a\\b\nC:\\Program Files\\Tool\\bin\nC:\\x\n"
    );
    let r = ok("(Resolve-Path C:\\WINDOWS\\system32\\CMD.EXE).Path; Resolve-Path .\\ -Relative");
    assert_eq!(r.out(), "C:\\Windows\\System32\\cmd.exe\n.\\\n");
    let r = run("Set-Location C:\\nope; 'after'; $PWD.Path");
    assert_eq!(r.out(), "after\nC:\\app\n");
    let r = run("Join-Path D:\\x y");
    assert!(
        r.err()
            .contains("Cannot find drive. A drive with the name 'D' does not exist."),
        "{}",
        r.err()
    );
}

/// Expand-Archive (Microsoft.PowerShell.Archive): default destination, -Force, .zip only.
#[test]
fn expand_archive() {
    fn zip() -> Vec<u8> {
        use std::io::Write;
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut z = zip::ZipWriter::new(&mut buf);
        let o = zip::write::SimpleFileOptions::default();
        z.start_file("bin/t.exe", o).unwrap();
        z.write_all(b"T").unwrap();
        z.finish().unwrap();
        buf.into_inner()
    }
    let setup = |_: &mut powershell::host::TestHost, d: &std::path::Path| {
        std::fs::write(d.join("app/pkg.zip"), zip()).unwrap();
        std::fs::write(d.join("app/pkg.tar"), b"").unwrap();
    };
    let r = run_with(
        "Expand-Archive pkg.zip; Test-Path C:\\app\\pkg\\bin\\t.exe",
        setup,
    );
    assert_eq!(r.out(), "True\n", "{}", r.err());
    let r = run_with(
        "Expand-Archive pkg.zip -DestinationPath C:\\out; Expand-Archive pkg.zip C:\\out; 'after'",
        setup,
    );
    assert_eq!(r.out(), "after\n");
    assert!(
        r.err().contains("already exists. Use the -Force parameter"),
        "{}",
        r.err()
    );
    let r = run_with("Expand-Archive pkg.zip -DestinationPath C:\\out; Expand-Archive pkg.zip C:\\out -Force; 'after'", setup);
    assert_eq!((r.out(), r.err()), ("after\n", ""));
    let r = run_with("Expand-Archive pkg.tar C:\\o", setup);
    assert!(
        r.err()
            .contains(".zip is the only supported archive file format."),
        "{}",
        r.err()
    );
    let r = run_with("Add-Type -AssemblyName System.IO.Compression.FileSystem; [IO.Compression.ZipFile]::ExtractToDirectory('C:\\app\\pkg.zip', 'C:\\z'); Test-Path C:\\z\\bin\\t.exe", setup);
    assert_eq!(r.out(), "True\n", "{}", r.err());
}

/// Get-FileHash: algorithms and upper-case hex.
#[test]
fn get_file_hash() {
    let r = run_with(
        "Get-FileHash a.txt | ForEach-Object { $_.Algorithm; $_.Hash; $_.Path }; (Get-FileHash a.txt -Algorithm MD5).Hash; (Get-FileHash a.txt -Algorithm SHA1).Hash; (Get-FileHash a.txt -Algorithm SHA512).Hash.Length",
        |_, d| std::fs::write(d.join("app/a.txt"), b"abc").unwrap(),
    );
    assert_eq!(
        r.out(),
        "SHA256\nBA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\nC:\\app\\a.txt\n900150983CD24FB0D6963F7D28E17F72\nA9993E364706816ABA3E25717850C26C9CD0D89D\n128\n"
    );
}

/// Environment variables through [Environment] (Process/User/Machine) and the env: drive.
#[test]
fn environment() {
    let mut r = ok(
        "[Environment]::SetEnvironmentVariable('A', '1', 'Machine'); [Environment]::SetEnvironmentVariable('B', '2', [EnvironmentVariableTarget]::User); \
         [Environment]::SetEnvironmentVariable('P', 'p'); $env:P; [Environment]::GetEnvironmentVariable('A', 'Machine'); \
         [Environment]::SetEnvironmentVariable('A', '', 'Machine'); [Environment]::GetEnvironmentVariable('A', 'Machine') -eq $null; \
         Test-Path env:P; Test-Path env:NOPE; (Get-ChildItem env:COMPUTERNAME).Value; Remove-Item env:P; $env:P -eq $null",
    );
    assert_eq!(r.out(), "p\n1\nTrue\nTrue\nFalse\nBUILD\nTrue\n");
    let env_key = "SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment";
    assert!(
        r.host
            .registry
            .value(Hive::LocalMachine, env_key, "A")
            .is_none(),
        "an empty value deletes it"
    );
    let b = r
        .host
        .registry
        .value(Hive::CurrentUser, "Environment", "B")
        .unwrap();
    assert_eq!((b.kind, b.as_text()), (REG_SZ, "2".to_string()));
    assert!(r
        .host
        .registry
        .key_exists(Hive::CurrentUser, "Environment")
        .unwrap());
    // REG_EXPAND_SZ values are expanded when read, as RegistryKey.GetValue does.
    let r = run_with(
        "[Environment]::GetEnvironmentVariable('X', 'Machine')",
        |h, _| {
            h.registry.create_key(Hive::LocalMachine, env_key).unwrap();
            h.registry
                .set_value(
                    Hive::LocalMachine,
                    env_key,
                    powershell::host::RegValue::string(
                        "X",
                        powershell::host::REG_EXPAND_SZ,
                        "%SystemRoot%\\x",
                    ),
                )
                .unwrap();
        },
    );
    assert_eq!(r.out(), "C:\\Windows\\x\n");
    // Native commands get the engine's environment.
    let r = ok("$env:MY_VAR = 'v'; cmd /c echo hi");
    assert!(r.host.native_requests[0]
        .env
        .iter()
        .any(|(k, v)| k == "MY_VAR" && v == "v"));
}

/// Set-ExecutionPolicy / Get-ExecutionPolicy (about_Execution_Policies).
#[test]
fn execution_policy() {
    let mut r = ok("Set-ExecutionPolicy Bypass -Force; Get-ExecutionPolicy; Set-ExecutionPolicy RemoteSigned -Scope Process; Get-ExecutionPolicy; $env:PSExecutionPolicyPreference");
    assert_eq!(r.out(), "Bypass\nRemoteSigned\nRemoteSigned\n");
    let v = r
        .host
        .registry
        .value(
            Hive::LocalMachine,
            "SOFTWARE\\Microsoft\\PowerShell\\1\\ShellIds\\Microsoft.PowerShell",
            "ExecutionPolicy",
        )
        .unwrap();
    assert_eq!((v.kind, v.as_text()), (REG_SZ, "Bypass".to_string()));
    assert!(r
        .host
        .registry
        .key_exists(Hive::LocalMachine, "SOFTWARE\\Microsoft\\PowerShell\\1")
        .unwrap());
}

/// Registry provider: keys, New-Item -Force replaces a key, value kinds, removal.
#[test]
fn registry_provider() {
    let mut r = ok(
        "New-Item HKLM:\\SOFTWARE\\T | Out-Null; New-ItemProperty HKLM:\\SOFTWARE\\T -Name Q -PropertyType QWord -Value 5 | Out-Null; \
         New-ItemProperty HKLM:\\SOFTWARE\\T -Name M -PropertyType MultiString -Value @('a','b') | Out-Null; \
         New-ItemProperty HKLM:\\SOFTWARE\\T -Name E -PropertyType ExpandString -Value '%SystemRoot%' | Out-Null; \
         New-ItemProperty HKLM:\\SOFTWARE\\T -Name B -PropertyType Binary -Value ([byte[]](1,2)) | Out-Null; \
         Set-ItemProperty HKLM:\\SOFTWARE\\T -Name Q -Value 6; \
         (Get-ItemProperty HKLM:\\SOFTWARE\\T).E; (Get-Item HKLM:\\SOFTWARE\\T).Property -join ','; \
         New-Item HKLM:\\SOFTWARE\\T\\Sub | Out-Null; (Get-ChildItem HKLM:\\SOFTWARE\\T).PSChildName; \
         Remove-ItemProperty HKLM:\\SOFTWARE\\T -Name B",
    );
    assert_eq!(r.out(), "C:\\Windows\nQ,M,E,B\nSub\n");
    let k = "SOFTWARE\\T";
    let reg = &r.host.registry;
    let q = reg.value(Hive::LocalMachine, k, "Q").unwrap();
    assert_eq!(
        (q.kind, q.data.clone()),
        (11, 6i64.to_le_bytes().to_vec()),
        "an existing value keeps its kind"
    );
    let m = reg.value(Hive::LocalMachine, k, "M").unwrap();
    assert_eq!(
        (m.kind, m.as_multi()),
        (7, vec!["a".to_string(), "b".to_string()])
    );
    assert_eq!(
        m.data.len(),
        (2 + 2 + 1) * 2,
        "each string NUL-terminated, then a final NUL"
    );
    assert_eq!(reg.value(Hive::LocalMachine, k, "E").unwrap().kind, 2);
    assert!(reg.value(Hive::LocalMachine, k, "B").is_none());
    let r2 = ok("New-Item HKLM:\\SOFTWARE\\T2 | Out-Null; Set-ItemProperty HKLM:\\SOFTWARE\\T2 -Name v -Value x; New-Item HKLM:\\SOFTWARE\\T2 -Force | Out-Null; (Get-Item HKLM:\\SOFTWARE\\T2).ValueCount");
    assert_eq!(
        r2.out(),
        "0\n",
        "-Force on an existing key recreates it empty"
    );
    let r4 = ok("(Get-Item hklm:\\software\\microsoft\\windows).Name; (Get-Item HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion).PSChildName");
    assert_eq!(
        r4.out(),
        "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\nCurrentVersion\n",
        "names as the registry spells them"
    );
    let r3 = run("New-Item HKLM:\\SOFTWARE\\T3 | Out-Null; New-Item HKLM:\\SOFTWARE\\T3 | Out-Null; New-ItemProperty HKLM:\\SOFTWARE\\Missing -Name a -Value 1");
    assert!(
        r3.err().contains("A key at this path already exists."),
        "{}",
        r3.err()
    );
    assert!(
        r3.err()
            .contains("Cannot find path 'HKLM:\\SOFTWARE\\Missing' because it does not exist."),
        "{}",
        r3.err()
    );
    assert_eq!(r3.code, 1);
    let _ = r.host.registry.key_exists(Hive::LocalMachine, k);
}

/// Write-Host, Write-Output, Write-Warning, Write-Verbose, Write-Error and Out-String.
#[test]
fn output_streams() {
    let r = ok("Write-Host a b -Separator '-'; Write-Host 'x' -NoNewline; Write-Host 'y' -ForegroundColor Green; Write-Output 1,2; echo three; \
                Write-Warning 'careful'; Write-Verbose 'hidden'; $VerbosePreference = 'Continue'; Write-Verbose 'shown'; Write-Progress -Activity x; Write-Host @(1,2)");
    assert_eq!(
        r.out(),
        "a-b\nxy\n1\n2\nthree\nWARNING: careful\nVERBOSE: shown\n1 2\n"
    );
    let r = run("Write-Error 'bad thing'; 'after'");
    assert_eq!(r.out(), "after\n");
    assert!(
        r.err()
            .starts_with("Write-Error 'bad thing'; 'after' : bad thing\n")
            || r.err().starts_with("bad thing\n"),
        "{}",
        r.err()
    );
    assert!(
        r.err().contains(
            "+ FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException"
        ),
        "{}",
        r.err()
    );
    assert_eq!(r.code, 0);
    let r = run("Write-Error 'last'");
    assert_eq!(r.code, 1, "$? is false after the last statement");
}

/// about_CommonParameters / about_Preference_Variables: -ErrorAction and $ErrorActionPreference,
/// $?, $Error.
#[test]
fn error_actions() {
    let r = ok("Get-Item C:\\nope -ErrorAction SilentlyContinue; $?; $Error.Count; $Error[0].Exception.Message");
    assert_eq!(
        r.out(),
        "False\n1\nCannot find path 'C:\\nope' because it does not exist.\n"
    );
    assert_eq!(r.err(), "");
    let r = ok("Get-Item C:\\nope -ErrorAction Ignore; $Error.Count");
    assert_eq!(r.out(), "0\n");
    let r = run("$ErrorActionPreference = 'Stop'; Get-Item C:\\nope; 'not reached'");
    assert_eq!((r.code, r.out()), (1, ""));
    assert!(
        r.err().starts_with(
            "Cannot find path 'C:\\nope' because it does not exist.\nAt line:1 char:34\n"
        ),
        "{}",
        r.err()
    );
    let r = ok("$ErrorActionPreference = 'Stop'; Get-Item C:\\nope -ErrorAction SilentlyContinue; 'reached'");
    assert_eq!(r.out(), "reached\n");
    let r = ok("$ErrorActionPreference = 'SilentlyContinue'; Get-Item C:\\nope; 'quiet'");
    assert_eq!((r.out(), r.err()), ("quiet\n", ""));
    // A statement-terminating error ends its statement, not the script (Continue).
    let r = ok("$x = 1/0; 'next'; $x -eq $null");
    assert_eq!(r.out(), "next\nTrue\n");
    assert!(
        r.err().starts_with("Attempted to divide by zero.\n"),
        "{}",
        r.err()
    );
    // throw ends the script.
    let r = run("throw 'stop here'; 'never'");
    assert_eq!((r.code, r.out()), (1, ""));
    assert!(
        r.err().starts_with(
            "stop here\nAt line:1 char:1\n+ throw 'stop here'; 'never'\n+ ~~~~~~~~~~~~~~~~~\n"
        ),
        "{}",
        r.err()
    );
    let r = run("exit 7");
    assert_eq!(r.code, 7);
    let r = run("[int]'abc'");
    assert!(r.err().starts_with("Cannot convert value \"abc\" to type \"System.Int32\". Error: \"Input string was not in a correct format.\""), "{}", r.err());
    let r = run("$x = $null; $x.Trim()");
    assert!(
        r.err()
            .starts_with("You cannot call a method on a null-valued expression."),
        "{}",
        r.err()
    );
}

/// Start-Process (argument list joined with spaces as 5.1 does; -NoNewWindow shows output;
/// -RedirectStandardOutput; -WorkingDirectory), Get-Command, Start-Sleep.
#[test]
fn processes() {
    let r = run_with(
        "Start-Process cmd.exe -ArgumentList '/c', 'echo \"a b\"' -NoNewWindow -Wait; Start-Process cmd -ArgumentList '/c dir' -RedirectStandardOutput o.txt -WorkingDirectory C:\\Windows -Wait; Get-Content o.txt",
        |h, _| {
            h.native_results.insert("cmd.exe".into(), native(0, "out\r\n"));
        },
    );
    assert_eq!(r.code, 0, "{}", r.err());
    assert_eq!(
        r.host.native_requests[0].command_line,
        "C:\\Windows\\System32\\cmd.exe /c echo \"a b\""
    );
    assert!(!r.host.native_requests[0].capture_stdout);
    assert_eq!(r.host.native_requests[1].cwd, "C:\\Windows");
    assert_eq!(r.out(), "out\r\nout\n");
    let r = run("Start-Process nope.exe -Wait");
    assert!(r.err().starts_with("This command cannot be run due to the error: The system cannot find the file specified."), "{}", r.err());
    let r = ok("(Get-Command cmd).Source; (Get-Command git.exe).Name; if (Get-Command choco -ErrorAction SilentlyContinue) { 'has' } else { 'no choco' }; (Get-Command Get-Item).CommandType; Start-Sleep -Milliseconds 1");
    assert_eq!(
        r.out(),
        "C:\\Windows\\System32\\cmd.exe\ngit.exe\nno choco\nCmdlet\n"
    );
    let r = run("Get-Command Get-WindowsFeature");
    assert!(r.err().contains("cannot tell"), "{}", r.err());
}

/// Invoke-WebRequest without -OutFile, Invoke-RestMethod JSON, ConvertTo/From-Json, Select-String,
/// Get-Date, Invoke-Expression, New-Object PSObject.
#[test]
fn utilities() {
    let r = run_with(
        "$r = Invoke-WebRequest https://h.test/t -UseBasicParsing; $r.StatusCode; [Text.Encoding]::ASCII.GetString($r.Content); (Invoke-RestMethod https://h.test/j).name; \
         Invoke-WebRequest https://h.test/t -Method Post",
        |h, _| {
            h.http.insert("https://h.test/t".into(), b"text".to_vec());
            h.http.insert("https://h.test/j".into(), br#"{"name": "n", "v": [1, 2]}"#.to_vec());
        },
    );
    assert_eq!(r.out(), "200\ntext\nn\n");
    assert!(
        r.err().contains("-Method Post (only GET) is not supported"),
        "{}",
        r.err()
    );
    let r = ok("@{ a = 1; b = 'x<' } | ConvertTo-Json; ConvertTo-Json @(1, 'a') -Compress; ('{\"k\": [1, 2.5, true, null]}' | ConvertFrom-Json).k.Count");
    assert_eq!(
        r.out(),
        "{\r\n    \"a\":  1,\r\n    \"b\":  \"x\\u003c\"\r\n}\n[1,\"a\"]\n4\n"
    );
    let r = ok("'alpha','beta','gamma' | Select-String 'a$' | ForEach-Object Line; (Select-String -Path C:\\app\\*.txt -Pattern nothing -Quiet)");
    assert_eq!(r.out(), "alpha\nbeta\ngamma\nFalse\n");
    let r = ok("Get-Date -Date '2020-05-06T07:08:09' -Format 'yyyyMMdd-HHmmss'; Get-Date -Date '2020-05-06' -UFormat '%Y/%m/%d'; Invoke-Expression '1 + 1'; iex \"Write-Host 'from iex'\"");
    assert_eq!(r.out(), "20200506-070809\n2020/05/06\n2\nfrom iex\n");
    let r = ok("$o = New-Object PSObject -Property @{ A = 1 }; $o.A; (New-Object System.Version 1, 2).Minor; (New-Object -TypeName System.Uri -ArgumentList 'http://x/y').AbsolutePath");
    assert_eq!(r.out(), "1\n2\n/y\n");
    let r = run("iex 'Get-WmiObject Win32_OperatingSystem'");
    assert!(r.err().contains("Get-WmiObject"), "{}", r.err());
}

/// What the engine refuses at run time (the check cannot see a value): each refusal names the
/// cmdlet and the way out, and nothing of the refused command happens.
#[test]
fn runtime_refusals() {
    for (script, what) in [
        ("Remove-Item C:\\app -Recurse -WhatIf", "-WhatIf"),
        (
            "Start-Process cmd -RedirectStandardError e.txt -Wait",
            "-RedirectStandardError",
        ),
        (
            "New-Item -ItemType SymbolicLink -Path C:\\l -Value C:\\app",
            "-ItemType symboliclink",
        ),
        (
            "Add-Type -AssemblyName System.Windows.Forms",
            "loading the assembly System.Windows.Forms",
        ),
        ("Get-Command *-Item", "Get-Command with wildcards"),
        (
            "Get-Content C:\\Windows\\System32\\cmd.exe -Delimiter ','",
            "-Delimiter",
        ),
        (
            "Get-Item C:\\app -ErrorVariable ev",
            "the common parameter -ErrorVariable",
        ),
        (
            "Invoke-WebRequest https://h.test/ -Method Put",
            "-Method Put",
        ),
        (
            "$wc = New-Object Net.WebClient; $wc.Proxy = $null",
            "WebClient.Proxy",
        ),
        (
            "Set-Content C:\\app\\x.txt -Value 1 -Encoding UTF7",
            "-Encoding UTF7",
        ),
        (
            "1..3 | Select-Object -First many",
            "Cannot bind parameter 'First'",
        ),
        (
            "Test-Path C:\\app -PathType Folder",
            "Cannot bind parameter 'PathType'",
        ),
    ] {
        let r = run(&format!("{PREFIX}{script}; Write-Host after"));
        assert_eq!(r.code, 1, "{script}: {}", r.err());
        assert_eq!(r.out(), "", "{script}");
        assert!(r.err().contains(what), "{script}: {}", r.err());
    }
    let r = run("Remove-Item C:\\app -Recurse -WhatIf");
    assert!(r.path("app").exists(), "-WhatIf removed nothing");
    assert!(r.err().contains("--runtime hcs"), "{}", r.err());
}

/// Get-Acl / Set-Acl (Microsoft.PowerShell.Security, "Get-Acl", "Set-Acl"): the security
/// object's properties, the TeamCity idiom that re-applies each item's own ACL (also through
/// the pipeline), a missing path, and the refusal of ACL-changing methods before anything runs.
#[test]
fn acls() {
    let r = ok("New-Item -ItemType Directory C:\\BuildAgent\\conf | Out-Null; \
                $acl = Get-Acl 'C:\\BuildAgent'; Set-Acl 'C:\\BuildAgent' $acl; \
                Get-ChildItem 'C:\\BuildAgent' -Recurse -Force | ForEach-Object { $a = Get-Acl $_.FullName; Set-Acl $_.FullName $a }; \
                Get-Acl C:\\app | Set-Acl C:\\app; \
                $acl = Get-Acl 'C:\\BuildAgent'; $acl.AreAccessRulesCanonical; $acl.AreAccessRulesProtected; $acl.Owner; \
                $acl.Path; $acl.GetType().FullName; (Get-Acl C:\\Windows\\System32\\cmd.exe).GetType().Name");
    assert_eq!(
        lines(&r),
        [
            "True",
            "False",
            "BUILTIN\\Administrators",
            "Microsoft.PowerShell.Core\\FileSystem::C:\\BuildAgent",
            "System.Security.AccessControl.DirectorySecurity",
            "FileSecurity"
        ]
    );
    let written: Vec<String> = r
        .host
        .acl_writes
        .iter()
        .map(|(p, d)| {
            assert_eq!(
                d, b"test descriptor",
                "Set-Acl hands back Get-Acl's descriptor"
            );
            p.strip_prefix(r.dir.path()).unwrap().display().to_string()
        })
        .collect();
    assert_eq!(written, ["BuildAgent", "BuildAgent/conf", "app"]);

    let r = run("Get-Acl C:\\nothing; 'after'");
    assert!(
        r.err()
            .contains("Cannot find path 'C:\\nothing' because it does not exist."),
        "{}",
        r.err()
    );
    assert_eq!(
        r.out(),
        "after\n",
        "a missing path is a non-terminating error"
    );

    let r = run("Set-Acl C:\\app 'text'");
    assert_ne!(r.code, 0);
    assert!(r.err().contains("not a Get-Acl result"), "{}", r.err());

    for script in [
        "$a = Get-Acl C:\\app; $a.SetAccessRule($rule); Set-Acl C:\\app $a",
        "$r = New-Object System.Security.AccessControl.FileSystemAccessRule('Users','Read','Allow')",
        "Get-Acl HKLM:\\SOFTWARE -Audit",
    ] {
        let r = run(script);
        assert_ne!(r.code, 0, "{script}");
        assert!(r.host.acl_writes.is_empty());
        assert!(r.err().contains("not supported"), "{script}: {}", r.err());
    }
}

/// Stop-Service / Set-Service (Microsoft.PowerShell.Management, "Stop-Service", "Set-Service"):
/// services are found by key name (case-insensitive, wildcards), -StartupType writes `Start`
/// as the Service Control Manager does (Automatic 2, Manual 3, Disabled 4), an unknown name
/// is ObjectNotFound, and starting a service is refused.
#[test]
fn services() {
    let setup = |host: &mut powershell::host::TestHost, _: &std::path::Path| {
        for (name, kind) in [
            ("Spooler", 0x110u32),
            ("MSSQL$SQLEXPRESS", 0x10),
            ("tcpip", 1),
        ] {
            let key = format!("SYSTEM\\CurrentControlSet\\Services\\{name}");
            host.registry.create_key(Hive::LocalMachine, &key).unwrap();
            host.registry
                .set_value(
                    Hive::LocalMachine,
                    &key,
                    powershell::host::RegValue {
                        name: "Type".into(),
                        kind: 4,
                        data: kind.to_le_bytes().to_vec(),
                    },
                )
                .unwrap();
        }
    };
    let r = run_with(
        &format!("{PREFIX}Set-Service -Name spooler -StartupType Automatic; Set-Service MSSQL`$SQLEXPRESS -StartMode Disabled -DisplayName 'SQL'; Stop-Service MSSQL`$SQLEXPRESS; Stop-Service 'Spo*' -Force; Stop-Service 'none*'; 'done'"),
        setup,
    );
    assert_eq!((r.code, r.out()), (0, "done\n"), "{}", r.err());
    let start = |name: &str| {
        r.host
            .registry
            .value(
                Hive::LocalMachine,
                &format!("SYSTEM\\CurrentControlSet\\Services\\{name}"),
                "Start",
            )
            .map(|v| (v.kind, v.data.clone()))
    };
    assert_eq!(start("Spooler"), Some((4, 2u32.to_le_bytes().to_vec())));
    assert_eq!(
        start("MSSQL$SQLEXPRESS"),
        Some((4, 4u32.to_le_bytes().to_vec()))
    );
    assert_eq!(
        r.host
            .registry
            .value(
                Hive::LocalMachine,
                "SYSTEM\\CurrentControlSet\\Services\\MSSQL$SQLEXPRESS",
                "DisplayName"
            )
            .map(|v| v.as_text()),
        Some("SQL".to_string())
    );

    for (script, message) in [
        (
            "Stop-Service nosuch",
            "Cannot find any service with service name 'nosuch'.",
        ),
        (
            "Set-Service tcpip -StartupType Manual",
            "Cannot find any service with service name 'tcpip'.",
        ),
        ("Set-Service Spooler -Status Running", "not supported"),
        (
            "Set-Service Spooler -StartupType Boot",
            "specify one of the following values",
        ),
        ("Start-Service Spooler", "Start-Service"),
    ] {
        let r = run_with(&format!("{PREFIX}{script}"), setup);
        assert_eq!(r.code, 1, "{script}");
        assert!(r.err().contains(message), "{script}: {}", r.err());
    }
}
