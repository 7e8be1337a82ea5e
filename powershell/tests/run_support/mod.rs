//! Shared harness of the `run_*` tests: a script run through `run_script` on a `TestHost` over
//! a temporary drive C: (with the directories and the fake `cmd.exe`/`git.exe` of a Windows
//! Server Core image), a `MemRegistry`, recorded native requests and canned HTTP bodies.
#![allow(dead_code)]

use powershell::host::{Hive, NativeResult, Registry, TestHost};

pub struct Run {
    pub code: i32,
    pub host: TestHost,
    pub dir: tempfile::TempDir,
}

impl Run {
    pub fn out(&self) -> &str {
        &self.host.out
    }
    pub fn err(&self) -> &str {
        &self.host.err
    }
    /// A file under drive C: (Unix path from a `C:\` relative path like `app\x.txt`).
    pub fn path(&self, rel: &str) -> std::path::PathBuf {
        self.dir.path().join(rel.replace('\\', "/"))
    }
    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }
}

pub fn env() -> Vec<(String, String)> {
    [
        (
            "Path",
            "C:\\Windows\\system32;C:\\Windows;C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\",
        ),
        (
            "PATHEXT",
            ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC",
        ),
        ("USERPROFILE", "C:\\Users\\ContainerAdministrator"),
        (
            "TEMP",
            "C:\\Users\\ContainerAdministrator\\AppData\\Local\\Temp",
        ),
        ("ProgramFiles", "C:\\Program Files"),
        ("SystemRoot", "C:\\Windows"),
        ("COMPUTERNAME", "BUILD"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A drive C: with the usual directories and fake programs.
pub fn drive() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for dir in [
        "Windows/System32",
        "Users/ContainerAdministrator/AppData/Local/Temp",
        "Program Files",
        "app",
    ] {
        std::fs::create_dir_all(d.path().join(dir)).unwrap();
    }
    for exe in [
        "Windows/System32/cmd.exe",
        "Windows/System32/msiexec.exe",
        "Windows/System32/git.exe",
    ] {
        std::fs::write(d.path().join(exe), b"MZ").unwrap();
    }
    d
}

pub fn run_with(src: &str, setup: impl FnOnce(&mut TestHost, &std::path::Path)) -> Run {
    let dir = drive();
    let mut host = TestHost::new(dir.path());
    // The keys every Windows image has.
    for (hive, key) in [
        (
            Hive::LocalMachine,
            "SOFTWARE\\Microsoft\\Windows\\CurrentVersion",
        ),
        (
            Hive::LocalMachine,
            "SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment",
        ),
        (Hive::CurrentUser, "Environment"),
        (Hive::CurrentUser, "SOFTWARE"),
    ] {
        host.registry.create_key(hive, key).unwrap();
    }
    setup(&mut host, dir.path());
    let code = powershell::run_script(src, "test", &mut host, env(), "C:\\app");
    Run { code, host, dir }
}

pub fn run(src: &str) -> Run {
    run_with(src, |_, _| {})
}

/// The SHELL prefix of two thirds of the corpus.
pub const PREFIX: &str =
    "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'; ";

pub fn native(code: i32, stdout: &str) -> NativeResult {
    NativeResult {
        exit_code: code,
        stdout: stdout.as_bytes().to_vec(),
    }
}

/// Output lines of a run (stdout), for compact assertions.
pub fn lines(r: &Run) -> Vec<String> {
    r.out().lines().map(str::to_string).collect()
}
