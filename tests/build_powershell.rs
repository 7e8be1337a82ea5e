//! PowerShell RUN steps under real Wine, end to end (issue #15): a Dockerfile in the style of the
//! official language images — the `$ErrorActionPreference = 'Stop'` SHELL, a download from a local
//! HTTP server (a console program built here with mingw-w64, zipped), Get-FileHash, Expand-Archive,
//! Move-Item into `C:\Program Files\Tool`, the machine PATH set with
//! `[Environment]::SetEnvironmentVariable`, the zip removed — then the tool run from PATH by the
//! next steps in cmd and in PowerShell, and a registry step. The layers are asserted: files, no
//! trace of the zip, the `System_Delta` with the Environment value and the `Software_Delta` with the
//! key, read by python-registry as well as by silo. A wrong hash exits 1 and fails the build; an
//! unsupported cmdlet fails before anything runs. A script file COPY'd into the image is called with
//! arguments (`exit 3` reaches the caller as `$LASTEXITCODE`), and one with an unsupported cmdlet
//! fails the step before its first effect.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest as _;
use silo_tests::fileserver::FileServer;
use silo_tests::tools::{require_tool, run_ok, venv_python};
use silo_tests::{silo_in as run, silo_ok_in as ok};

/// `tool.exe`: prints its name and version, and its first argument when given.
const TOOL_C: &str = r#"
#include <stdio.h>
int main(int argc, char **argv) {
    printf("tool 1.0%s%s\n", argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
    return 0;
}
"#;

/// Builds tool.exe with mingw-w64 and zips it (Python's zipfile, deflated) as `tool/tool.exe`.
fn tool_zip(dir: &Path) -> Vec<u8> {
    require_tool("x86_64-w64-mingw32-gcc");
    let src = dir.join("tool.c");
    fs::write(&src, TOOL_C).unwrap();
    let exe = dir.join("tool.exe");
    run_ok(
        Command::new("x86_64-w64-mingw32-gcc")
            .arg("-O2")
            .arg("-o")
            .arg(&exe)
            .arg(&src),
    );
    let zip = dir.join("tool.zip");
    run_ok(
        Command::new("python3")
            .arg("-c")
            .arg(
                "import sys, zipfile\n\
                 with zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED) as z:\n\
                 \x20   z.write(sys.argv[1], 'tool.exe')\n",
            )
            .arg(&exe)
            .arg(&zip),
    );
    fs::read(&zip).unwrap()
}

const DOCKERFILE: &str = r#"# escape=`
FROM silo.local/base:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue';"]
ARG TOOL_URL
ARG TOOL_SHA256
RUN Write-Host ('Downloading {0} ...' -f $env:TOOL_URL); `
    Invoke-WebRequest -Uri $env:TOOL_URL -OutFile tool.zip -UseBasicParsing; `
    Write-Host ('Verifying sha256 ({0}) ...' -f $env:TOOL_SHA256); `
    if ((Get-FileHash tool.zip -Algorithm sha256).Hash -ne $env:TOOL_SHA256) { `
        Write-Host 'FAILED!'; `
        exit 1; `
    }; `
    Expand-Archive tool.zip -DestinationPath C:\tool-tmp; `
    Move-Item C:\tool-tmp 'C:\Program Files\Tool'; `
    $newPath = ('C:\Program Files\Tool;{0}' -f $env:PATH); `
    Write-Host ('Updating PATH: {0}' -f $newPath); `
    [Environment]::SetEnvironmentVariable('PATH', $newPath, [EnvironmentVariableTarget]::Machine); `
    Remove-Item tool.zip -Force
RUN tool.exe from-powershell; if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
SHELL ["cmd", "/S", "/C"]
RUN tool.exe from-cmd> C:\from-cmd.txt
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
RUN New-Item -Path HKLM:\SOFTWARE\SiloTest -Force | Out-Null; `
    Set-ItemProperty -Path HKLM:\SOFTWARE\SiloTest -Name Version -Value '1.0'; `
    New-ItemProperty -Path HKLM:\SOFTWARE\SiloTest -Name Count -Value 3 -PropertyType DWord | Out-Null; `
    $out = tool.exe captured; `
    Set-Content -Path C:\from-ps.txt -Value $out
"#;

fn create_base(root: &Path) {
    ok(
        root,
        &[
            "base",
            "create",
            "-t",
            "silo.local/base:ltsc2022",
            "--os-version",
            "10.0.20348.1",
        ],
    );
}

fn layout_blob(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

/// `silo build --runtime wine [EXTRA…] CONTEXT`, which must fail; its log.
fn failing_build(root: &Path, context: &Path, extra: &[&str]) -> String {
    let mut args = vec!["build", "--runtime", "wine", "--progress", "plain"];
    args.extend_from_slice(extra);
    args.push(context.to_str().unwrap());
    let out = run(root, &args);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "the build must fail:\n{log}");
    log
}

/// The layer blobs of the only image in an OCI layout, base first.
fn layout_layers(layout: &Path) -> Vec<PathBuf> {
    let read = |path: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
    };
    let index = read(layout.join("index.json"));
    let manifest = read(layout_blob(
        layout,
        index["manifests"][0]["digest"].as_str().unwrap(),
    ));
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| layout_blob(layout, l["digest"].as_str().unwrap()))
        .collect()
}

/// Names of a layer blob's entries, and the bytes of the ones asked for (Python's tarfile).
fn layer_entries(blob: &Path) -> Vec<String> {
    let out = run_ok(Command::new("python3").arg("-c").arg(
        "import sys, tarfile\nwith tarfile.open(sys.argv[1], 'r:*') as t:\n    print('\\n'.join(m.name for m in t))",
    ).arg(blob));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A value of a key in a layer's delta hive, read by python-registry.
fn python_registry_value(blob: &Path, hive: &str, key: &str, value: &str) -> String {
    let script = r#"
import io, sys, tarfile, tempfile
from Registry import Registry
with tarfile.open(sys.argv[1], "r:*") as t:
    data = t.extractfile(sys.argv[2]).read()
with tempfile.NamedTemporaryFile() as f:
    f.write(data); f.flush()
    reg = Registry.Registry(f.name)
    key = reg.open(sys.argv[3])
    print(key.value(sys.argv[4]).value())
"#;
    let out = run_ok(
        Command::new(venv_python())
            .arg("-c")
            .arg(script)
            .arg(blob)
            .arg(format!("Hives/{hive}"))
            .arg(key)
            .arg(value),
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn an_official_style_powershell_dockerfile_builds_under_wine() {
    require_tool("wine");
    require_tool("python3");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    create_base(&root);
    let zip = tool_zip(dir.path());
    let sha = hex::encode_upper(sha2::Sha256::digest(&zip));
    let server = FileServer::start();
    let url = server.publish("/dl/tool.zip", zip);
    let context = dir.path().join("ctx");
    fs::create_dir_all(&context).unwrap();
    fs::write(context.join("Dockerfile"), DOCKERFILE).unwrap();
    let layout = dir.path().join("out");
    let dest = format!("type=oci,tar=false,dest={}", layout.display());
    let url_arg = format!("TOOL_URL={url}");
    let sha_arg = format!("TOOL_SHA256={sha}");
    let out = ok(
        &root,
        &[
            "build",
            "--runtime",
            "wine",
            "--progress",
            "plain",
            "--build-arg",
            &url_arg,
            "--build-arg",
            &sha_arg,
            "-t",
            "tool:ps",
            "-o",
            &dest,
            context.to_str().unwrap(),
        ],
    );
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(log.contains("Downloading http://"), "{log}");
    assert!(
        log.contains("tool 1.0 from-powershell"),
        "the next PowerShell step ran the tool from PATH:\n{log}"
    );
    assert!(
        server.bytes_served("/dl/tool.zip") > 0,
        "the zip was downloaded"
    );

    let oci = format!("oci:{}:ps", layout.display());
    let layers = layout_layers(&layout);
    assert_eq!(layers.len(), 5, "base + four RUN layers");

    // Step 1: the tool, no zip, no temp dir; the machine PATH in System_Delta.
    let first = layer_entries(&layers[1]);
    assert!(
        first
            .iter()
            .any(|n| n == "Files/Program Files/Tool/tool.exe"),
        "{first:?}"
    );
    assert!(
        !first
            .iter()
            .any(|n| n.to_ascii_lowercase().contains("tool.zip")),
        "{first:?}"
    );
    assert!(
        !first.iter().any(|n| n.starts_with("Files/tool-tmp")),
        "{first:?}"
    );
    assert!(first.iter().any(|n| n == "Hives/System_Delta"), "{first:?}");
    let path = python_registry_value(
        &layers[1],
        "System_Delta",
        r"ControlSet001\Control\Session Manager\Environment",
        "PATH",
    );
    assert!(
        path.starts_with(r"C:\Program Files\Tool;"),
        "python-registry reads PATH = {path}"
    );
    let silo_view = ok(
        &root,
        &[
            "registry",
            &oci,
            r"HKLM\SYSTEM\ControlSet001\Control\Session Manager\Environment",
        ],
    );
    assert!(
        String::from_utf8_lossy(&silo_view.stdout).contains(r"C:\Program Files\Tool;"),
        "{}",
        String::from_utf8_lossy(&silo_view.stdout)
    );

    // Step 3 (cmd) found the tool on the machine PATH too.
    let cmd_layer = layer_entries(&layers[3]);
    assert!(
        cmd_layer.iter().any(|n| n == "Files/from-cmd.txt"),
        "{cmd_layer:?}"
    );
    let ls = ok(&root, &["ls", &oci, r"C:\from-cmd.txt"]);
    assert!(!ls.stdout.is_empty());

    // Step 4: the registry key and values, and the captured output of a native command.
    let last = layer_entries(&layers[4]);
    assert!(last.iter().any(|n| n == "Hives/Software_Delta"), "{last:?}");
    assert_eq!(
        python_registry_value(&layers[4], "Software_Delta", "SiloTest", "Version"),
        "1.0"
    );
    assert_eq!(
        python_registry_value(&layers[4], "Software_Delta", "SiloTest", "Count"),
        "3"
    );
    let reg = ok(&root, &["registry", &oci, r"HKLM\SOFTWARE\SiloTest"]);
    let reg = String::from_utf8_lossy(&reg.stdout);
    assert!(
        reg.contains("Version") && reg.contains("REG_SZ") && reg.contains("REG_DWORD"),
        "{reg}"
    );
    assert!(last.iter().any(|n| n == "Files/from-ps.txt"), "{last:?}");
}

#[test]
fn a_wrong_hash_fails_the_build_with_exit_1_and_an_unsupported_cmdlet_fails_before_running() {
    require_tool("wine");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    create_base(&root);
    let zip = tool_zip(dir.path());
    let server = FileServer::start();
    let url = server.publish("/dl/tool.zip", zip);
    let context = dir.path().join("ctx");
    fs::create_dir_all(&context).unwrap();
    fs::write(context.join("Dockerfile"), DOCKERFILE).unwrap();
    let url_arg = format!("TOOL_URL={url}");
    let log = failing_build(
        &root,
        &context,
        &["--build-arg", &url_arg, "--build-arg", "TOOL_SHA256=0000"],
    );
    assert!(log.contains("FAILED!"), "{log}");
    assert!(
        log.contains("exit code: 1") || log.contains("code 1"),
        "{log}"
    );

    // An unsupported cmdlet: refused with its line and name, and nothing ran (the marker file of
    // the statement before it is not written, since the whole script is checked first).
    fs::write(
        context.join("Dockerfile"),
        "FROM silo.local/base:ltsc2022\nSHELL [\"powershell\", \"-Command\", \"$ErrorActionPreference = 'Stop';\"]\n\
         RUN Set-Content C:\\marker.txt ran; Get-WmiObject Win32_OperatingSystem\n",
    )
    .unwrap();
    let log = failing_build(&root, &context, &[]);
    assert!(log.contains("Get-WmiObject"), "{log}");
    assert!(
        log.contains("Dockerfile:3"),
        "the Dockerfile position is named:\n{log}"
    );
    assert!(
        log.contains("--runtime hcs"),
        "the way out is named:\n{log}"
    );
    assert!(!log.contains("ran\n"), "{log}");

    // Exit codes keep their 32 bits: a native command's in $LASTEXITCODE, the script's in the
    // build's error (Wine and a Unix exit status carry 8).
    fs::write(
        context.join("Dockerfile"),
        "FROM silo.local/base:ltsc2022\nSHELL [\"powershell\", \"-Command\"]\n\
         RUN cmd /c exit 300; Write-Host ('native ' + $LASTEXITCODE); exit 9009\n",
    )
    .unwrap();
    let log = failing_build(&root, &context, &[]);
    assert!(log.contains("native 300"), "{log}");
    assert!(log.contains("exit code: 9009"), "{log}");
}

#[test]
fn a_cmd_line_that_starts_powershell_among_other_commands_runs_each_in_turn() {
    require_tool("wine");
    require_tool("python3");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    create_base(&root);
    let context = dir.path().join("ctx");
    fs::create_dir_all(&context).unwrap();
    // The default shell is cmd: `cd` carries over to the PowerShell command, `%GREETING%` is
    // expanded by cmd before anything runs, `||` runs its right side after a failure, and the
    // double quotes vanish on the way to PowerShell as they do on Windows.
    fs::write(
        context.join("Dockerfile"),
        "FROM silo.local/base:ltsc2022\n\
         ENV GREETING=hello\n\
         RUN mkdir C:\\work && cd C:\\work && powershell -Command \"Set-Content -Path out.txt -Value ('%GREETING% ' + $env:GREETING)\" && echo done> C:\\work\\done.txt\n\
         RUN powershell -Command exit 3 || echo recovered> C:\\recovered.txt\n",
    )
    .unwrap();
    let layout = dir.path().join("out");
    let dest = format!("type=oci,tar=false,dest={}", layout.display());
    ok(
        &root,
        &[
            "build",
            "--runtime",
            "wine",
            "--progress",
            "plain",
            "-t",
            "mixed:1",
            "-o",
            &dest,
            context.to_str().unwrap(),
        ],
    );
    let layers = layout_layers(&layout);
    let script = r#"
import sys, tarfile
with tarfile.open(sys.argv[1], "r:*") as t:
    for name in sys.argv[2:]:
        print(repr(t.extractfile(name).read()))
"#;
    let out = run_ok(
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&layers[1])
            .arg("Files/work/out.txt")
            .arg("Files/work/done.txt"),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["b'hello hello\\r\\n'", "b'done\\r\\n'"],
        "{text}"
    );
    let second = layer_entries(&layers[2]);
    assert!(
        second.iter().any(|n| n == "Files/recovered.txt"),
        "{second:?}"
    );
}

#[test]
fn a_script_file_copied_into_the_image_is_checked_with_the_step_and_then_run() {
    require_tool("wine");
    require_tool("python3");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    create_base(&root);
    let context = dir.path().join("ctx");
    fs::create_dir_all(&context).unwrap();
    // A script file with a param() block that ends with `exit 3` (about_Scripts): the caller
    // goes on with $LASTEXITCODE 3.
    fs::write(
        context.join("setup.ps1"),
        "param($Name)\r\nSet-Content -Path C:\\from-script.txt -Value \"hi $Name from $PSScriptRoot\"\r\nexit 3\r\n",
    )
    .unwrap();
    fs::write(
        context.join("bad.ps1"),
        "Write-Host 'in bad'\r\nGet-WmiObject Win32_OperatingSystem\r\n",
    )
    .unwrap();
    fs::write(
        context.join("Dockerfile"),
        "FROM silo.local/base:ltsc2022\nSHELL [\"powershell\", \"-Command\", \"$ErrorActionPreference = 'Stop';\"]\n\
         COPY setup.ps1 bad.ps1 C:/tools/\nWORKDIR C:/tools\n\
         RUN .\\setup.ps1 -Name silo; Write-Host \"caller goes on after exit $LASTEXITCODE\"\n",
    )
    .unwrap();
    let layout = dir.path().join("out");
    let dest = format!("type=oci,tar=false,dest={}", layout.display());
    let context_arg = context.to_str().unwrap();
    let out = ok(
        &root,
        &[
            "build",
            "--runtime",
            "wine",
            "--progress",
            "plain",
            "-o",
            &dest,
            context_arg,
        ],
    );
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(log.contains("caller goes on after exit 3"), "{log}");
    let layers = layout_layers(&layout);
    let last = layer_entries(layers.last().unwrap());
    assert!(
        last.iter().any(|n| n == "Files/from-script.txt"),
        "{last:?}"
    );
    let text = run_ok(
        Command::new("python3")
            .arg("-c")
            .arg("import sys, tarfile\nwith tarfile.open(sys.argv[1], 'r:*') as t:\n    sys.stdout.write(t.extractfile('Files/from-script.txt').read().decode())")
            .arg(layers.last().unwrap()),
    );
    assert_eq!(
        String::from_utf8_lossy(&text.stdout),
        "hi silo from C:\\tools\r\n"
    );

    // An unsupported cmdlet inside the called file: the step fails before its first effect,
    // naming the file and the line in it.
    fs::write(
        context.join("Dockerfile"),
        "FROM silo.local/base:ltsc2022\nSHELL [\"powershell\", \"-Command\", \"$ErrorActionPreference = 'Stop';\"]\n\
         COPY setup.ps1 bad.ps1 C:/tools/\n\
         RUN Set-Content C:\\marker.txt ran; & C:\\tools\\bad.ps1\n",
    )
    .unwrap();
    let log = failing_build(&root, &context, &[]);
    assert!(
        log.contains("in C:\\tools\\bad.ps1 at its line 2, column 1: cmdlet Get-WmiObject"),
        "{log}"
    );
    assert!(!log.contains("in bad"), "{log}");
}

/// The MSWINDOWS.rawsd descriptor (base64, as the PAX record holds it) of each entry of a
/// layer blob whose name starts with `prefix` (Python's tarfile).
fn layer_descriptors(blob: &Path, prefix: &str) -> Vec<(String, String)> {
    let out = run_ok(Command::new("python3").arg("-c").arg(
        "import sys, tarfile\nwith tarfile.open(sys.argv[1], 'r:*') as t:\n    for m in t:\n        if m.name.startswith(sys.argv[2]): print(m.name, m.pax_headers.get('MSWINDOWS.rawsd', '-'))",
    ).arg(blob).arg(prefix));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, d)| (n.to_string(), d.to_string()))
        .collect()
}

/// TeamCity's ACL canonicalization (Get-Acl/Set-Acl of each item's own ACL) re-emits the
/// items into the step's layer with the descriptors the COPY layer gave them, as the copy-up
/// of a security change does on Windows; applying another item's different ACL fails the
/// step. Set-Service -StartupType lands in `System_Delta` as the service's `Start` value.
#[test]
fn acl_round_trips_re_emit_items_unchanged_and_set_service_writes_the_start_value() {
    require_tool("wine");
    require_tool("python3");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    create_base(&root);
    let context = dir.path().join("ctx");
    fs::create_dir_all(context.join("agent/conf")).unwrap();
    fs::write(context.join("agent/conf/agent.properties"), "a=1\n").unwrap();
    fs::write(
        context.join("Dockerfile"),
        r#"FROM silo.local/base:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue';"]
COPY agent/ C:/BuildAgent/
RUN $acl = Get-Acl 'C:\BuildAgent'; Set-Acl 'C:\BuildAgent' $acl; \
    Get-ChildItem 'C:\BuildAgent' -Recurse -Force | ForEach-Object { $a = Get-Acl $_.FullName; Set-Acl $_.FullName $a }; \
    $acl = Get-Acl 'C:\BuildAgent'; if (-not $acl.AreAccessRulesCanonical) { throw 'ACLs are not canonical' }; \
    Write-Host "owner: $($acl.Owner)"
RUN Set-Service -Name spooler -StartupType Disabled; Stop-Service Spooler
"#,
    )
    .unwrap();
    let layout = dir.path().join("out");
    let dest = format!("type=oci,tar=false,dest={}", layout.display());
    let out = ok(
        &root,
        &[
            "build",
            "--runtime",
            "wine",
            "--progress",
            "plain",
            "-o",
            &dest,
            context.to_str().unwrap(),
        ],
    );
    let log = String::from_utf8_lossy(&out.stderr);
    // The owner COPY gave the directory (no --chown), read back from its descriptor.
    assert!(log.contains("owner: BUILTIN\\Administrators"), "{log}");
    let layers = layout_layers(&layout);
    assert_eq!(layers.len(), 4, "base, COPY, two RUN layers");
    let copied = layer_descriptors(&layers[1], "Files/BuildAgent");
    let reapplied = layer_descriptors(&layers[2], "Files/BuildAgent");
    assert_eq!(
        reapplied
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        [
            "Files/BuildAgent",
            "Files/BuildAgent/conf",
            "Files/BuildAgent/conf/agent.properties"
        ],
        "every item whose ACL was re-applied is in the step's layer"
    );
    assert!(reapplied.iter().all(|(_, d)| d != "-"), "{reapplied:?}");
    assert_eq!(reapplied, copied, "with the descriptors it had");

    assert_eq!(
        python_registry_value(
            &layers[3],
            "System_Delta",
            r"ControlSet001\Services\Spooler",
            "Start"
        ),
        "4"
    );

    fs::write(
        context.join("Dockerfile"),
        r#"FROM silo.local/base:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
COPY agent/ C:/BuildAgent/
RUN Set-Acl C:\BuildAgent\conf\agent.properties (Get-Acl C:\Windows)
"#,
    )
    .unwrap();
    let log = failing_build(&root, &context, &[]);
    assert!(
        log.contains("Set-Acl with an ACL other than the item's own"),
        "{log}"
    );
}
