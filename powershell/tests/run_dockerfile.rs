//! The patterns of real Windows Dockerfiles (the deadline set of the brief), end to end through
//! `run_script` on a test host: download, verify, extract, move, machine PATH, registry,
//! processes, native commands and exit codes.

mod run_support;

use powershell::host::{Hive, Registry, REG_DWORD, REG_SZ};
use run_support::*;
use sha2::Digest;
use std::io::Write;

fn zip_bytes() -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let o: zip::write::SimpleFileOptions = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        z.start_file("tool-1.0/bin/tool.exe", o).unwrap();
        z.write_all(b"MZ tool").unwrap();
        z.start_file("tool-1.0/README.txt", o).unwrap();
        z.write_all(b"hello\r\n").unwrap();
        z.finish().unwrap();
    }
    buf.into_inner()
}

fn sha256_upper(b: &[u8]) -> String {
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02X}"))
        .collect()
}

const URL: &str = "https://example.test/tool.zip";

/// The official-images style step: download, hash check, extract, move, machine PATH, cleanup.
#[test]
fn download_verify_extract_move_path() {
    let zip = zip_bytes();
    let hash = sha256_upper(&zip).to_lowercase();
    let script = format!(
        "{PREFIX}\
         [Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12; \
         Write-Host 'Downloading ...'; \
         Invoke-WebRequest -Uri '{URL}' -OutFile 'tool.zip' -UseBasicParsing; \
         Write-Host 'Verifying sha256 ({hash}) ...'; \
         if ((Get-FileHash tool.zip -Algorithm sha256).Hash -ne '{hash}') {{ Write-Host 'FAILED!'; exit 1 }}; \
         Expand-Archive tool.zip -DestinationPath C:\\; \
         Move-Item -Path C:\\tool-1.0 -Destination 'C:\\Program Files\\Tool'; \
         $env:PATH = 'C:\\Program Files\\Tool\\bin;' + $env:PATH; \
         [Environment]::SetEnvironmentVariable('PATH', $env:PATH, [EnvironmentVariableTarget]::Machine); \
         Remove-Item tool.zip -Force; \
         Write-Host 'Complete.'"
    );
    let r = run_with(&script, |h, _| {
        h.http.insert(URL.into(), zip.clone());
    });
    assert_eq!(r.code, 0, "out={} err={}", r.out(), r.err());
    assert_eq!(
        r.out(),
        format!("Downloading ...\nVerifying sha256 ({hash}) ...\nComplete.\n")
    );
    assert_eq!(r.read("Program Files/Tool/bin/tool.exe"), b"MZ tool");
    assert!(!r.path("app/tool.zip").exists(), "the zip is removed");
    assert!(!r.path("tool-1.0").exists(), "moved away");
    let v = r
        .host
        .registry
        .value(
            Hive::LocalMachine,
            "SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment",
            "PATH",
        )
        .expect("machine PATH");
    assert_eq!(
        v.kind, REG_SZ,
        ".NET's RegistryKey.SetValue(string) writes REG_SZ"
    );
    assert!(
        v.as_text()
            .starts_with("C:\\Program Files\\Tool\\bin;C:\\Windows\\system32"),
        "{}",
        v.as_text()
    );
    // The User-Agent of Windows PowerShell 5.1 went with the request.
    assert!(r.host.http_requests[0]
        .1
        .iter()
        .any(|(k, v)| k == "User-Agent" && v.contains("WindowsPowerShell/5.1")));
}

#[test]
fn wrong_hash_exits_1_and_stops() {
    let script = format!(
        "{PREFIX}Invoke-WebRequest '{URL}' -OutFile tool.zip; \
         if ((Get-FileHash tool.zip).Hash -ne 'deadbeef') {{ Write-Host 'FAILED!'; exit 1 }}; \
         Write-Host 'not reached'"
    );
    let r = run_with(&script, |h, _| {
        h.http.insert(URL.into(), b"x".to_vec());
    });
    assert_eq!(r.code, 1);
    assert_eq!(r.out(), "FAILED!\n");
}

#[test]
fn hash_mismatch_with_throw_prints_the_error_and_exits_1() {
    let script = format!(
        "{PREFIX}Invoke-WebRequest '{URL}' -OutFile tool.zip\n\
         $h = Get-FileHash tool.zip -Algorithm SHA256\n\
         if ($h.Hash -ne 'AB') {{ throw ('Hash mismatch: ' + $h.Hash) }}\n\
         Write-Host 'not reached'"
    );
    let r = run_with(&script, |h, _| {
        h.http.insert(URL.into(), b"x".to_vec());
    });
    assert_eq!(r.code, 1);
    assert_eq!(r.out(), "");
    let want = format!("Hash mismatch: {}", sha256_upper(b"x"));
    assert!(r.err().starts_with(&want), "{}", r.err());
    assert!(r.err().contains("At line:3 char:"), "{}", r.err());
    assert!(
        r.err()
            .contains("+ CategoryInfo          : OperationStopped:"),
        "{}",
        r.err()
    );
    assert!(
        r.err().contains("+ FullyQualifiedErrorId : Hash mismatch"),
        "{}",
        r.err()
    );
}

#[test]
fn download_failure_under_stop_fails_the_step() {
    let r = run(&format!(
        "{PREFIX}Invoke-WebRequest 'https://nowhere.test/x' -OutFile x.zip; Write-Host after"
    ));
    assert_eq!(r.code, 1);
    assert_eq!(r.out(), "");
    assert!(
        r.err().contains("Unable to connect to the remote server"),
        "{}",
        r.err()
    );
    assert!(!r.path("app/x.zip").exists());
}

#[test]
fn registry_keys_and_values_on_hklm() {
    let script = format!(
        "{PREFIX}New-Item -Path 'HKLM:\\SOFTWARE\\Contoso\\App' -Force | Out-Null; \
         Set-ItemProperty -Path 'HKLM:\\SOFTWARE\\Contoso\\App' -Name 'InstallDir' -Value 'C:\\app'; \
         New-ItemProperty -Path HKLM:\\SOFTWARE\\Contoso\\App -Name Level -PropertyType DWord -Value 3 | Out-Null; \
         Set-ItemProperty HKLM:\\SOFTWARE\\Contoso\\App -Name Count -Value 7; \
         (Get-ItemProperty HKLM:\\SOFTWARE\\Contoso\\App).InstallDir; \
         Get-ItemPropertyValue HKLM:\\SOFTWARE\\Contoso\\App -Name Level; \
         Test-Path HKLM:\\SOFTWARE\\Contoso\\App; Test-Path HKLM:\\SOFTWARE\\Nope"
    );
    let mut r = run(&script);
    assert_eq!(r.code, 0, "{}", r.err());
    assert_eq!(lines(&r), ["C:\\app", "3", "True", "False"]);
    let k = "SOFTWARE\\Contoso\\App";
    let v = r
        .host
        .registry
        .value(Hive::LocalMachine, k, "InstallDir")
        .unwrap();
    assert_eq!((v.kind, v.as_text()), (REG_SZ, "C:\\app".to_string()));
    let v = r
        .host
        .registry
        .value(Hive::LocalMachine, k, "Level")
        .unwrap();
    assert_eq!((v.kind, v.data.clone()), (REG_DWORD, vec![3, 0, 0, 0]));
    // An Int32 value of unknown kind: RegistryKey.SetValue infers REG_DWORD.
    let v = r
        .host
        .registry
        .value(Hive::LocalMachine, k, "Count")
        .unwrap();
    assert_eq!((v.kind, v.data.clone()), (REG_DWORD, vec![7, 0, 0, 0]));
    assert!(r
        .host
        .registry
        .key_exists(Hive::LocalMachine, "SOFTWARE\\Contoso")
        .unwrap());
}

#[test]
fn start_process_wait_passthru_exit_code() {
    let script = format!(
        "{PREFIX}$p = Start-Process -FilePath msiexec.exe -ArgumentList '/i', 'C:\\app\\x.msi', '/qn' -Wait -PassThru; \
         if ($p.ExitCode -ne 0) {{ Write-Host \"failed $($p.ExitCode)\"; exit $p.ExitCode }}; Write-Host ok"
    );
    let r = run_with(&script, |h, _| {
        h.native_results
            .insert("msiexec.exe".into(), native(1603, ""));
    });
    assert_eq!(r.code, 1603);
    assert_eq!(r.out(), "failed 1603\n");
    let req = &r.host.native_requests[0];
    assert_eq!(req.program, "C:\\Windows\\System32\\msiexec.exe");
    assert_eq!(
        req.command_line,
        "C:\\Windows\\System32\\msiexec.exe /i C:\\app\\x.msi /qn"
    );
    assert_eq!(req.cwd, "C:\\app");
}

#[test]
fn native_commands_set_lastexitcode_without_stopping() {
    let script = format!("{PREFIX}git version; Write-Host \"code=$LASTEXITCODE ok=$?\"; cmd /c exit 3; if ($LASTEXITCODE -ne 0) {{ exit $LASTEXITCODE }}");
    let r = run_with(&script, |h, _| {
        h.native_results
            .insert("git.exe".into(), native(0, "git version 2.40.0\r\n"));
        h.native_results.insert("cmd.exe".into(), native(3, ""));
    });
    assert_eq!(r.code, 3);
    assert_eq!(r.out(), "git version 2.40.0\r\ncode=0 ok=True\n");
    assert_eq!(
        r.host.native_requests[1].command_line,
        "C:\\Windows\\System32\\cmd.exe /c exit 3"
    );
}

/// about_Automatic_Variables ($?) and about_PowerShell_exe (-Command's exit code is 1 only when
/// the last pipeline failed): a native failure the script handles with `if` does not fail the
/// step — the condition is a pipeline and sets `$?` again (an MSI's 3010 "reboot required").
#[test]
fn a_handled_native_failure_does_not_fail_the_step() {
    let script = format!(
        "{PREFIX}cmd /c exit 3010; if ($LASTEXITCODE -ne 0 -and $LASTEXITCODE -ne 3010) {{ exit $LASTEXITCODE }}"
    );
    let r = run_with(&script, |h, _| {
        h.native_results.insert("cmd.exe".into(), native(3010, ""));
    });
    assert_eq!(r.code, 0, "{}", r.err());
    let r = run_with(&format!("{PREFIX}cmd /c exit 3010"), |h, _| {
        h.native_results.insert("cmd.exe".into(), native(3010, ""));
    });
    assert_eq!(r.code, 1, "a failing last native command still exits 1");
}

/// about_Parsing: a comma list in argument mode is one native argument joined by commas; an
/// array variable gives one argument per element; a quoted argument with spaces is quoted.
#[test]
fn native_argument_passing() {
    let r = run("$list = 'a', 'b c'; git -S localhost,1433 -i 'x y.sql' $list -p:'v w' ''");
    assert_eq!(r.code, 0, "{}", r.err());
    assert_eq!(
        r.host.native_requests[0].command_line,
        "C:\\Windows\\System32\\git.exe -S localhost,1433 -i \"x y.sql\" a \"b c\" -p:\"v w\""
    );
}

#[test]
fn last_native_failure_is_exit_code_1() {
    let r = run_with("cmd /c exit 5", |h, _| {
        h.native_results.insert("cmd.exe".into(), native(5, ""));
    });
    assert_eq!(
        r.code, 1,
        "powershell -Command reports $? as 0/1, not the native code"
    );
}

#[test]
fn native_output_captured_in_assignment() {
    let r = run_with("$v = git version; Write-Host \"[$v]\"", |h, _| {
        h.native_results
            .insert("git.exe".into(), native(0, "git version 2.40.0\r\n"));
    });
    assert_eq!(r.out(), "[git version 2.40.0]\n");
    assert!(r.host.native_requests[0].capture_stdout);
}

#[test]
fn unknown_program_is_command_not_found() {
    let r = run(&format!("{PREFIX}nosuchtool --version; Write-Host after"));
    assert_eq!(r.code, 1);
    assert!(r.err().starts_with("The term 'nosuchtool' is not recognized as the name of a cmdlet, function, script file, or operable program."), "{}", r.err());
    assert!(r.err().contains("CommandNotFoundException"));
    assert_eq!(r.out(), "");
}

#[test]
fn webclient_download_file() {
    let script = format!("{PREFIX}(New-Object System.Net.WebClient).DownloadFile('{URL}', 'C:\\app\\t.zip'); $wc = New-Object Net.WebClient; $wc.Headers.Add('X-Token', 'abc'); $s = $wc.DownloadString('{URL}'); $s.Length");
    let r = run_with(&script, |h, _| {
        h.http.insert(URL.into(), b"hello".to_vec());
    });
    assert_eq!(r.code, 0, "{}", r.err());
    assert_eq!(r.read("app/t.zip"), b"hello");
    assert_eq!(r.out(), "5\n");
    assert!(r.host.http_requests[1]
        .1
        .iter()
        .any(|(k, v)| k == "X-Token" && v == "abc"));
}

#[test]
fn unsupported_cmdlet_fails_before_any_effect() {
    let r = run(&format!("{PREFIX}New-Item -ItemType Directory C:\\made | Out-Null; Install-WindowsFeature Web-Server"));
    assert_eq!(r.code, 1);
    assert!(!r.path("made").exists(), "nothing ran");
    assert!(r.err().contains("Install-WindowsFeature"), "{}", r.err());
    assert!(r.err().contains("--runtime hcs"), "{}", r.err());
}
