//! The Wine silo runtime with real Wine and real namespaces, driven through the `Runtime` trait
//! on a base layer holding `hive::minimal` hives: files, registry deltas (read back by our codec,
//! reglookup and python-registry), materialization of earlier layers' registry, noise, exit
//! codes, ENV/WORKDIR/exec form/network none/SHELL, timeout, and that nothing (mounts,
//! processes) is left after a step — also when the building process is interrupted.
//!
//! Needs root, overlayfs and wine64 (scripts/install-test-deps). The Wine system layer is made
//! once in the test target dir and reused by later runs.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use silo::hive::{self, read_hive, Key};
use silo::layer::{ChangeSet, EntryKind, FileSource, HiveName};
use silo::runtime::wine::WineRuntime;
use silo::runtime::{LayerRef, NetworkMode, OutputSink, ProcessSpec, Runtime, SandboxSpec};

fn state_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wine-state")
}

fn runtime() -> &'static WineRuntime {
    static RT: OnceLock<WineRuntime> = OnceLock::new();
    let rt = RT.get_or_init(|| WineRuntime::new(state_dir()));
    if let Err(e) = rt.ensure_ready() {
        panic!("the Wine silo cannot run here: {e:#}\n(install wine64 with scripts/install-test-deps and run the tests as root)");
    }
    rt
}

#[derive(Default)]
struct Captured {
    out: Vec<u8>,
    err: Vec<u8>,
}

impl OutputSink for Captured {
    fn stdout(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }
    fn stderr(&mut self, bytes: &[u8]) {
        self.err.extend_from_slice(bytes);
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out).into_owned()
    }
}

/// Writes a Windows layer tar for `cs` and returns it as a LayerRef (diff_id = its sha256).
fn write_layer(dir: &Path, name: &str, cs: &ChangeSet) -> LayerRef {
    let path = dir.join(format!("{name}.tar"));
    let file = std::fs::File::create(&path).unwrap();
    let mut tar = tar::Builder::new(file);
    let dir_header = |tar: &mut tar::Builder<std::fs::File>, p: &str| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        tar.append_data(&mut h, p, std::io::empty()).unwrap();
    };
    dir_header(&mut tar, "Files");
    dir_header(&mut tar, "Hives");
    let add_file = |tar: &mut tar::Builder<std::fs::File>, p: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        tar.append_data(&mut h, p, data).unwrap();
    };
    for e in &cs.entries {
        let p = format!("Files/{}", e.path);
        if let Some(sd) = &e.meta.security_descriptor {
            // The descriptor as a PAX record (`MSWINDOWS.rawsd`), as Windows layers carry it.
            use base64::Engine as _;
            let body = format!(
                "MSWINDOWS.rawsd={}\n",
                base64::engine::general_purpose::STANDARD.encode(sd)
            );
            let mut len = body.len() + 3;
            while format!("{len} {body}").len() != len {
                len += 1;
            }
            let record = format!("{len} {body}");
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::XHeader);
            h.set_size(record.len() as u64);
            tar.append_data(&mut h, "PaxHeaders/x", record.as_bytes())
                .unwrap();
        }
        match &e.kind {
            EntryKind::Directory => dir_header(&mut tar, &p),
            EntryKind::File { source, .. } => {
                let data = match source {
                    FileSource::Path(p) => std::fs::read(p).unwrap(),
                    FileSource::Bytes(b) => b.clone(),
                    other => panic!("the Wine silo never commits {other:?}"),
                };
                add_file(&mut tar, &p, &data);
            }
            other => panic!("unexpected entry in a test layer: {other:?}"),
        }
    }
    for d in &cs.deletions {
        let (parent, name) = d.rsplit_once('/').unwrap_or(("", d));
        let p = if parent.is_empty() {
            format!("Files/.wh.{name}")
        } else {
            format!("Files/{parent}/.wh.{name}")
        };
        add_file(&mut tar, &p, b"");
    }
    for (hive, bytes) in &cs.hive_deltas {
        add_file(
            &mut tar,
            &format!("Hives/{}", hive.delta_file_name()),
            bytes,
        );
    }
    tar.into_inner().unwrap().flush().unwrap();
    let digest = hex::encode(Sha256::digest(std::fs::read(&path).unwrap()));
    LayerRef {
        diff_id: format!("sha256:{digest}"),
        blob_path: path,
    }
}

/// A base layer with the five minimal hives in `Files/Windows/System32/config/`.
fn base_layer(dir: &Path) -> LayerRef {
    let mut cs = ChangeSet::default();
    for hive in HiveName::ALL {
        cs.entries.push(silo::layer::Entry {
            path: format!("Windows/System32/config/{}", hive.base_file_name()),
            kind: EntryKind::File {
                source: FileSource::Bytes(hive::minimal::bytes(hive)),
                size: 0,
            },
            meta: Default::default(),
            streams: vec![],
        });
    }
    write_layer(dir, "base", &cs)
}

fn shell(cmd: &str) -> ProcessSpec {
    ProcessSpec {
        args: vec!["cmd".into(), "/S".into(), "/C".into(), cmd.into()],
        command_line: Some(format!("cmd /S /C {cmd}")),
        working_dir: r"C:\".into(),
        user: "ContainerAdministrator".into(),
        timeout: Some(Duration::from_secs(120)),
        ..ProcessSpec::default()
    }
}

struct Step {
    code: i32,
    output: Captured,
    changes: ChangeSet,
}

fn run_step(layers: &[LayerRef], network: NetworkMode, process: &ProcessSpec) -> Step {
    let rt = runtime();
    let spec = SandboxSpec {
        layers: layers.to_vec(),
        network,
        os_version: String::new(),
        mounts: Vec::new(),
    };
    let mut sandbox = rt.prepare(&spec).expect("prepare the silo");
    let mut output = Captured::default();
    let status = sandbox.run(process, &mut output).expect("run the step");
    let changes = sandbox.commit().expect("commit the step");
    Step {
        code: status.code,
        output,
        changes,
    }
}

/// All key paths (with values as `name=type:hex`) of a tree, for exact comparisons.
fn flatten(key: &Key) -> Vec<String> {
    fn walk(k: &Key, path: &str, out: &mut Vec<String>) {
        for v in k.values() {
            let t = if v.tombstone {
                "tombstone".to_string()
            } else {
                format!("{}:{}", v.kind, hex::encode(&v.data))
            };
            out.push(format!("{path}\\{}={t}", v.name));
        }
        for s in k.subkeys() {
            let p = if path.is_empty() {
                s.name.clone()
            } else {
                format!("{path}\\{}", s.name)
            };
            out.push(format!("{p} [{}]", s.layer.name()));
            walk(s, &p, out);
        }
    }
    let mut out = Vec::new();
    walk(key, "", &mut out);
    out
}

fn utf16z(s: &str) -> String {
    hex::encode(hive::tree::utf16z(s))
}

/// Serializes the Wine tests: each step starts its own wineserver, and running several at once
/// on a small CI machine made steps crawl past their timeout; the leftover-process checks
/// also need to be alone.
fn global_lock() -> std::sync::MutexGuard<'static, ()> {
    static L: Mutex<()> = Mutex::new(());
    L.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn echo_creates_a_file_and_nothing_else() {
    let _g = global_lock();
    let t = tempfile::tempdir().unwrap();
    let base = base_layer(t.path());
    let step = run_step(
        &[base],
        NetworkMode::Host,
        &shell(r"echo hello> C:\hello.txt"),
    );
    assert_eq!(
        step.code,
        0,
        "stderr: {}",
        String::from_utf8_lossy(&step.output.err)
    );
    let paths: Vec<_> = step
        .changes
        .entries
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(
        paths,
        ["hello.txt"],
        "only the new file: Wine's housekeeping must not leak"
    );
    match &step.changes.entries[0].kind {
        EntryKind::File {
            source: FileSource::Path(p),
            ..
        } => {
            assert_eq!(std::fs::read(p).unwrap(), b"hello\r\n");
        }
        other => panic!("{other:?}"),
    }
    assert!(step.changes.deletions.is_empty());
    assert!(
        step.changes.hive_deltas.is_empty(),
        "a step that touches no registry key commits no registry change: {:#?}",
        step.changes
            .hive_deltas
            .iter()
            .map(|(h, b)| (h, flatten(&read_hive(b).unwrap().root)))
            .collect::<Vec<_>>()
    );
}

#[test]
fn registry_steps_make_exact_deltas_and_later_steps_see_them() {
    let _g = global_lock();
    let t = tempfile::tempdir().unwrap();
    let base = base_layer(t.path());
    // Step 1: reg add → a Software delta with exactly the Contoso keys.
    let step1 = run_step(
        std::slice::from_ref(&base),
        NetworkMode::Host,
        &shell(r"reg add HKLM\SOFTWARE\Contoso\App /v Version /t REG_SZ /d 1.0 /f"),
    );
    assert_eq!(
        step1.code,
        0,
        "{}",
        String::from_utf8_lossy(&step1.output.err)
    );
    assert!(
        step1.changes.entries.is_empty(),
        "{:?}",
        step1.changes.entries
    );
    assert_eq!(
        step1
            .changes
            .hive_deltas
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [HiveName::Software],
        "only SOFTWARE changed"
    );
    let bytes = &step1.changes.hive_deltas[&HiveName::Software];
    let delta = read_hive(bytes).expect("our reader reads the delta").root;
    assert_eq!(
        flatten(&delta),
        [
            "Contoso [merge]".to_string(),
            "Contoso\\App [merge]".to_string(),
            format!("Contoso\\App\\Version=1:{}", utf16z("1.0")),
        ]
    );
    // Independent readers.
    let file = t.path().join("Software_Delta");
    std::fs::write(&file, bytes).unwrap();
    let rl = Command::new("reglookup")
        .arg(&file)
        .output()
        .expect("reglookup is missing: run scripts/install-test-deps");
    let rl_text = String::from_utf8_lossy(&rl.stdout);
    assert!(
        rl_text.contains("/Contoso/App/Version,SZ,1.0,"),
        "reglookup:\n{rl_text}"
    );
    let python = std::env::var_os("SILO_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| silo_tests::project_root().join(".venv"))
        .join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-test-deps",
        python.display()
    );
    let py = Command::new(&python)
        .arg("-c")
        .arg(
            "import sys\nfrom Registry import Registry\nr=Registry.Registry(sys.argv[1])\n\
             def walk(k, p):\n  for v in k.values(): print(p + '\\\\' + v.name() + '=' + str(v.value()))\n  \
             for s in k.subkeys(): print(p + '\\\\' + s.name()); walk(s, p + '\\\\' + s.name())\n\
             walk(r.root(), '')",
        )
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "python-registry: {}",
        String::from_utf8_lossy(&py.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&py.stdout),
        "\\Contoso\n\\Contoso\\App\n\\Contoso\\App\\Version=1.0\n"
    );

    // Step 2 on top of step 1's layer: the value is there (materialized from the layer).
    let layer1 = write_layer(t.path(), "layer1", &step1.changes);
    let layers = vec![base.clone(), layer1.clone()];
    let step2 = run_step(
        &layers,
        NetworkMode::Host,
        &shell(r"reg query HKLM\SOFTWARE\Contoso\App /v Version"),
    );
    assert_eq!(
        step2.code,
        0,
        "reg query failed: {}{}",
        step2.output.text(),
        String::from_utf8_lossy(&step2.output.err)
    );
    assert!(
        step2.output.text().contains("1.0"),
        "{}",
        step2.output.text()
    );
    assert!(
        step2.changes.hive_deltas.is_empty(),
        "a query changes nothing"
    );

    // Step 3: delete the value, add another key → tombstone value + new key.
    let step3 = run_step(
        &layers,
        NetworkMode::Host,
        &shell(
            r"reg delete HKLM\SOFTWARE\Contoso\App /v Version /f && reg add HKLM\SOFTWARE\Contoso\Other /f",
        ),
    );
    assert_eq!(
        step3.code,
        0,
        "{}",
        String::from_utf8_lossy(&step3.output.err)
    );
    let delta3 = read_hive(&step3.changes.hive_deltas[&HiveName::Software])
        .unwrap()
        .root;
    let flat = flatten(&delta3);
    // The value's deletion is a tombstone value, as Windows writes it.
    let app = delta3
        .find(r"Contoso\App")
        .expect("Contoso\\App in the delta");
    let deleted = app.value("Version").is_some_and(|v| v.tombstone);
    assert!(deleted, "the delta deletes Version: {flat:?}");
    assert!(
        flat.contains(&"Contoso\\Other [merge]".to_string()),
        "{flat:?}"
    );
    assert!(
        flat.iter().all(|p| p.starts_with("Contoso")),
        "only Contoso changed: {flat:?}"
    );
    // Merged over the image: the value is gone, the key is there.
    let mut base_sw = hive::minimal::tree(HiveName::Software);
    let d1 = read_hive(&step1.changes.hive_deltas[&HiveName::Software])
        .unwrap()
        .root;
    base_sw = hive::layers::merge(&base_sw, &[&d1, &delta3]).unwrap();
    assert!(base_sw
        .find(r"Contoso\App")
        .unwrap()
        .value("Version")
        .is_none());
    assert!(base_sw.find(r"Contoso\Other").is_some());
}

#[test]
fn exit_codes_env_workdir_exec_form_and_shell_checks() {
    let _g = global_lock();
    let t = tempfile::tempdir().unwrap();
    let base = base_layer(t.path());
    let layers = [base];
    let failed = run_step(
        &layers,
        NetworkMode::Host,
        &shell("echo failing & exit /b 3"),
    );
    assert_eq!(failed.code, 3);
    assert!(failed.output.text().contains("failing"));

    let mut env = shell(r#"echo [%GREETING%] "quoted  text" & cd"#);
    env.env = BTreeMap::from([("GREETING".to_string(), "hi there".to_string())]);
    env.working_dir = r"C:\app\src".into();
    let s = run_step(&layers, NetworkMode::Host, &env);
    assert_eq!(s.code, 0);
    let text = s.output.text();
    assert!(
        text.contains("[hi there] \"quoted  text\""),
        "exact command line: {text}"
    );
    assert!(
        text.to_ascii_lowercase().contains(r"c:\app\src"),
        "WORKDIR is the cwd: {text}"
    );
    let dirs: Vec<_> = s.changes.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        dirs,
        ["app", "app/src"],
        "WORKDIR is created like Docker does"
    );

    let exec = ProcessSpec {
        args: vec!["cmd".into(), "/C".into(), "echo".into(), "a b".into()],
        command_line: None,
        working_dir: r"C:\".into(),
        ..ProcessSpec::default()
    };
    let s = run_step(&layers, NetworkMode::Host, &exec);
    assert_eq!(s.code, 0);
    assert!(s.output.text().contains("\"a b\""), "{}", s.output.text());

    let ps = ProcessSpec {
        args: vec![
            "powershell".into(),
            "-Command".into(),
            "Write-Host hi".into(),
        ],
        command_line: Some("powershell -Command Write-Host hi".into()),
        working_dir: r"C:\".into(),
        ..ProcessSpec::default()
    };
    let rt = runtime();
    let mut sb = rt
        .prepare(&SandboxSpec {
            layers: layers.to_vec(),
            network: NetworkMode::Host,
            os_version: String::new(),
            mounts: Vec::new(),
        })
        .unwrap();
    // PowerShell runs in silo's engine (docs/powershell.md), not in Wine's stub; a construct the
    // engine does not support is refused before the silo starts.
    let mut out = Captured::default();
    let status = sb.run(&ps, &mut out).unwrap();
    assert_eq!(status.code, 0, "{}", String::from_utf8_lossy(&out.err));
    assert_eq!(String::from_utf8_lossy(&out.out).trim_end(), "hi");
    let unsupported = ProcessSpec {
        args: vec![
            "powershell".into(),
            "-Command".into(),
            "Get-WmiObject x".into(),
        ],
        command_line: Some("powershell -Command Get-WmiObject x".into()),
        ..ps
    };
    let err = sb.run(&unsupported, &mut Captured::default()).unwrap_err();
    assert!(err.to_string().contains("Get-WmiObject"), "{err}");
}

#[test]
fn exit_codes_arrive_with_all_32_bits() {
    let _g = global_lock();
    let t = tempfile::tempdir().unwrap();
    let layers = [base_layer(t.path())];
    // Wine alone passes 8 bits: 9009 would read as 49, 300 as 44, 0xC0000005 as 5.
    for (command, code) in [
        ("exit /b 9009", 9009),
        ("exit /b 300", 300),
        ("exit /b -1073741819", 0xC000_0005u32 as i32),
        ("no-such-program-here", 9009),
        ("exit /b 256", 256),
    ] {
        let s = run_step(&layers, NetworkMode::Host, &shell(command));
        assert_eq!(s.code, code, "{command}");
        assert!(
            s.changes.entries.is_empty(),
            "the exit file stays out of the layer: {:?}",
            s.changes.entries
        );
    }
}

/// `python-registry`'s view of a hive file: `\\path\\name=TYPE:value` lines for every value.
fn python_registry_values(file: &Path) -> String {
    let python = std::env::var_os("SILO_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| silo_tests::project_root().join(".venv"))
        .join("bin/python");
    let py = Command::new(&python)
        .arg("-c")
        .arg(
            "import sys\nfrom Registry import Registry\nr=Registry.Registry(sys.argv[1])\n\
             def walk(k, p):\n  for v in k.values(): print(p + '\\\\' + v.name() + '=' + v.value_type_str() + ':' + str(v.value()))\n  \
             for s in k.subkeys(): walk(s, p + '\\\\' + s.name())\n\
             walk(r.root(), '')",
        )
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/install-test-deps)", python.display()));
    assert!(
        py.status.success(),
        "python-registry: {}",
        String::from_utf8_lossy(&py.stderr)
    );
    String::from_utf8_lossy(&py.stdout).into_owned()
}

/// The step's error (it must be refused before anything runs).
fn refused(layers: &[LayerRef], command: &str) -> String {
    let mut sb = runtime()
        .prepare(&SandboxSpec {
            layers: layers.to_vec(),
            network: NetworkMode::Host,
            os_version: String::new(),
            mounts: Vec::new(),
        })
        .unwrap();
    let mut out = Captured::default();
    let err = match sb.run(&shell(command), &mut out) {
        Ok(s) => panic!("`{command}` ran (exit {}): {}", s.code, out.text()),
        Err(e) => e.to_string(),
    };
    assert!(out.out.is_empty() && out.err.is_empty(), "nothing ran");
    err
}

#[test]
fn wine_stubs_are_refused_up_front_or_fail_loudly() {
    let _g = global_lock();
    let t = tempfile::tempdir().unwrap();
    let layers = [base_layer(t.path())];
    for (command, program, why) in [
        (
            "echo a && dism /Online /Enable-Feature /FeatureName:x",
            "dism",
            "stub",
        ),
        // silo makes links for mklink as a command of its own or a `for` loop's body
        // (tests/wine_links.rs), not inside `if`, `call` or parentheses.
        (
            r"if not exist C:\lnk mklink /d C:\lnk C:\Windows",
            "mklink /d",
            "a command of its own",
        ),
        (
            r"call mklink /j C:\lnk C:\Windows",
            "mklink /j",
            "a command of its own",
        ),
        (
            r"if not exist C:\x (icacls C:\x /grant Everyone:F)",
            "icacls",
            "ACLs",
        ),
        ("net user bob Passw0rd! /add", "net user", "accounts"),
        (
            "netsh advfirewall set allprofiles state off",
            "netsh",
            "stub",
        ),
        (r"certutil -hashfile C:\x SHA256", "certutil", "hash"),
        (
            "schtasks /create /tn x /tr x /sc once /st 00:00",
            "schtasks",
            "task",
        ),
        (
            "echo hi | powershell -Command Write-Host hi",
            "powershell",
            "PowerShell engine",
        ),
    ] {
        let err = refused(&layers, command);
        assert!(
            err.starts_with(&format!("`{program}")) && err.contains(why),
            "{command}: {err}"
        );
    }
    // What the up-front check cannot see (a batch file) meets silo's stand-in, which fails.
    let s = run_step(
        &layers,
        NetworkMode::Host,
        &shell(r"echo dism /online /get-features> C:\s.cmd && C:\s.cmd"),
    );
    assert_eq!(s.code, 1, "{}", s.output.text());
    let err = String::from_utf8_lossy(&s.output.err);
    assert!(
        err.contains("silo: dism.exe cannot run in the Wine silo: Windows features"),
        "{err}"
    );
    // Programs that work under Wine still run (net start), next to silo's mklink.
    let s = run_step(
        &layers,
        NetworkMode::Host,
        &shell(r"echo x> C:\a.txt && mklink /H C:\b.txt C:\a.txt && net start"),
    );
    assert_eq!(s.code, 0, "{}", s.output.text());
    let paths: Vec<&str> = s.changes.entries.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"b.txt"), "{paths:?}");
}

#[test]
fn wines_fixme_lines_are_marked_and_a_stubbed_program_fails_the_step() {
    let _g = global_lock();
    let t = tempfile::tempdir().unwrap();
    let layers = [base_layer(t.path())];
    // Not in silo's table: Wine's own fixme line gives the stub away.
    let mut sb = runtime()
        .prepare(&SandboxSpec {
            layers: layers.to_vec(),
            network: NetworkMode::Host,
            os_version: String::new(),
            mounts: Vec::new(),
        })
        .unwrap();
    let mut out = Captured::default();
    let err = sb
        .run(&shell("tasklist & echo after"), &mut out)
        .expect_err("a stub's exit 0 is not success")
        .to_string();
    assert!(
        err.contains("Wine only stubs") && err.contains("wine fixme: tasklist:wmain stub"),
        "{err}"
    );
    let stderr = String::from_utf8_lossy(&out.err);
    assert!(
        stderr.contains("wine fixme: tasklist:wmain stub"),
        "{stderr}"
    );
    assert!(out.text().contains("after"), "the step ran: {}", out.text());
    // Ordinary steps show no raw fixme lines (and Wine's device services' are dropped).
    let s = run_step(&layers, NetworkMode::Host, &shell("echo quiet"));
    assert_eq!(s.code, 0);
    let stderr = String::from_utf8_lossy(&s.output.err);
    assert!(!stderr.contains(":fixme:"), "{stderr}");
    assert!(!stderr.contains("fixme: hid:"), "{stderr}");
}

#[test]
fn setx_machine_reaches_the_registry_layer_and_later_steps() {
    let _g = global_lock();
    let t = tempfile::tempdir().unwrap();
    let base = base_layer(t.path());
    let step1 = run_step(
        std::slice::from_ref(&base),
        NetworkMode::Host,
        &shell(
            r#"setx /M SILO_GREETING "hello world" && setx SILO_TOOLS %NO_SUCH_VAR%\bin /M && setx /M PATH "%PATH%;C:\tools""#,
        ),
    );
    assert_eq!(
        step1.code,
        0,
        "{}{}",
        step1.output.text(),
        String::from_utf8_lossy(&step1.output.err)
    );
    assert_eq!(
        step1
            .output
            .text()
            .matches("SUCCESS: Specified value was saved.")
            .count(),
        3,
        "{}",
        step1.output.text()
    );
    assert!(
        step1.changes.entries.is_empty(),
        "{:?}",
        step1.changes.entries
    );
    let system = step1
        .changes
        .hive_deltas
        .get(&HiveName::System)
        .expect("setx /M writes a System delta");
    let file = t.path().join("System_Delta");
    std::fs::write(&file, system).unwrap();
    let values = python_registry_values(&file);
    let env = r"\ControlSet001\Control\Session Manager\Environment\";
    assert!(
        values.contains(&format!("{env}SILO_GREETING=RegSZ:hello world\n")),
        "{values}"
    );
    assert!(
        values.contains(&format!("{env}SILO_TOOLS=RegExpandSZ:%NO_SUCH_VAR%\\bin\n")),
        "{values}"
    );
    let path_line = values
        .lines()
        .find(|l| l.starts_with(&format!("{env}PATH=")))
        .unwrap_or_else(|| panic!("no PATH in {values}"));
    assert!(path_line.ends_with(r";C:\tools"), "{path_line}");
    // silo's own reader agrees.
    let delta = read_hive(system).unwrap().root;
    let key = delta
        .find(r"ControlSet001\Control\Session Manager\Environment")
        .expect("Environment key in the delta");
    assert!(key.value("SILO_GREETING").is_some());

    // The next step's environment has them, as Windows builds it from the machine key.
    let layer1 = write_layer(t.path(), "setx", &step1.changes);
    let step2 = run_step(
        &[base.clone(), layer1.clone()],
        NetworkMode::Host,
        &shell("echo [%SILO_GREETING%] [%SILO_TOOLS%] [%PATH%]"),
    );
    assert_eq!(step2.code, 0);
    let text = step2.output.text();
    assert!(text.contains("[hello world]"), "{text}");
    assert!(text.contains(r";C:\tools]"), "{text}");

    // The image config's Env is over the machine environment, as on Windows: an ENV of the
    // same name wins, and ENV PATH replaces the machine PATH.
    let mut with_env = shell("echo [%SILO_GREETING%] [%PATH%]");
    with_env.env = BTreeMap::from([
        ("SILO_GREETING".to_string(), "from ENV".to_string()),
        (
            "PATH".to_string(),
            r"C:\Windows\system32;C:\env".to_string(),
        ),
    ]);
    let step3 = run_step(&[base.clone(), layer1], NetworkMode::Host, &with_env);
    assert_eq!(step3.code, 0, "{}", step3.output.text());
    assert!(
        step3
            .output
            .text()
            .contains(r"[from ENV] [C:\Windows\system32;C:\env]"),
        "{}",
        step3.output.text()
    );

    // The user's environment cannot be carried into a layer: refused up front, and by silo's
    // setx where the scan cannot see it (a batch file).
    let err = refused(std::slice::from_ref(&base), "setx SILO_USER x");
    assert!(
        err.starts_with("`setx SILO_USER x`") && err.contains("NTUSER.DAT"),
        "{err}"
    );
    let s = run_step(
        &[base],
        NetworkMode::Host,
        &shell(r"echo setx SILO_USER x> C:\u.cmd && C:\u.cmd"),
    );
    assert_eq!(s.code, 1);
    assert!(
        String::from_utf8_lossy(&s.output.err).contains("setx /M NAME VALUE"),
        "{}",
        String::from_utf8_lossy(&s.output.err)
    );
}

#[test]
fn a_refused_layer_unpack_names_the_entry_and_leaves_nothing() {
    let _g = global_lock();
    let t = tempfile::tempdir().unwrap();
    let base = base_layer(t.path());
    let layers_dir = state_dir().join("wine/layers");
    for name in [".wh..", ".wh."] {
        let path = t.path().join("bad.tar");
        let mut tar = tar::Builder::new(std::fs::File::create(&path).unwrap());
        for (entry, data) in [
            ("Files/ok.txt", &b"fine"[..]),
            (&format!("Files/{name}")[..], b""),
        ] {
            let mut h = tar::Header::new_ustar();
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            // The tar crate refuses odd names in `append_data`; set the name bytes directly.
            h.as_old_mut().name[..entry.len()].copy_from_slice(entry.as_bytes());
            h.set_cksum();
            tar.append(&h, data).unwrap();
        }
        tar.into_inner().unwrap().flush().unwrap();
        let hex = hex::encode(Sha256::digest(std::fs::read(&path).unwrap()));
        let bad = LayerRef {
            diff_id: format!("sha256:{hex}"),
            blob_path: path,
        };
        let err = runtime()
            .prepare(&SandboxSpec {
                layers: vec![base.clone(), bad],
                network: NetworkMode::Host,
                os_version: String::new(),
                mounts: Vec::new(),
            })
            .err()
            .expect("the layer is refused")
            .to_string();
        assert!(
            err.contains(&format!("Files/{name}")) && err.contains("whiteout must name"),
            "{name}: {err}"
        );
        let left: Vec<String> = std::fs::read_dir(&layers_dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(&hex))
            .collect();
        assert!(left.is_empty(), "{name}: left behind {left:?}");
    }
}

#[test]
fn a_copy_gets_a_new_creation_time_and_keeps_the_last_write_time() {
    let _g = global_lock();
    let t = tempfile::tempdir().unwrap();
    let base = base_layer(t.path());
    let step1 = run_step(
        std::slice::from_ref(&base),
        NetworkMode::Host,
        &shell(r"echo data> C:\a.txt"),
    );
    assert_eq!(step1.code, 0);
    let a = step1
        .changes
        .entries
        .iter()
        .find(|e| e.path == "a.txt")
        .unwrap();
    let a_written = a.meta.modification_time.unwrap();
    assert!(
        a.meta.creation_time.is_some(),
        "a new file has its creation time"
    );
    let layer1 = write_layer(t.path(), "a", &step1.changes);
    let layer1_hex = layer1.diff_id.strip_prefix("sha256:").unwrap().to_string();
    std::thread::sleep(Duration::from_millis(2100));
    let step2 = run_step(
        &[base, layer1],
        NetworkMode::Host,
        &shell(r"copy C:\a.txt C:\b.txt"),
    );
    assert_eq!(step2.code, 0, "{}", step2.output.text());
    let b = step2
        .changes
        .entries
        .iter()
        .find(|e| e.path == "b.txt")
        .unwrap();
    // `a.txt` as the silo saw it: the unpacked lower layer's file.
    let lower_a = state_dir()
        .join("wine/layers")
        .join(&layer1_hex)
        .join("Files/a.txt");
    let a_mtime = std::fs::metadata(&lower_a).unwrap().mtime();
    assert_eq!(
        b.meta.modification_time.unwrap().secs,
        a_mtime,
        "CopyFile keeps the last-write time"
    );
    let created = b.meta.creation_time.expect("the copy has a creation time");
    // Compared at full precision: a fast step can make the copy within the second its source
    // was unpacked.
    let below = std::fs::metadata(&lower_a).unwrap().modified().unwrap();
    let created_at = std::time::UNIX_EPOCH + Duration::new(created.secs as u64, created.nanos);
    assert!(
        created.secs >= a_written.secs + 2 && created_at > below,
        "the copy's creation time is when it was made: {created:?} vs a written {a_written:?}, \
         {below:?} below"
    );
}

/// The owner and the DACL entries `(flags, mask, SID)` of an entry's descriptor.
fn descriptor(cs: &ChangeSet, path: &str) -> (String, Vec<(u8, u32, String)>) {
    let e = cs
        .entries
        .iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("no {path} in {:?}", cs.entries));
    let sd = e.meta.security_descriptor.as_ref().expect("a descriptor");
    let parsed = silo::layer::sd::parse(sd).expect("a readable descriptor");
    (
        parsed.owner.unwrap().to_string(),
        parsed
            .dacl
            .unwrap()
            .iter()
            .map(|a| (a.flags, a.mask, a.sid.to_string()))
            .collect(),
    )
}

#[test]
fn owners_are_the_steps_user_and_dacls_are_inherited() {
    let _g = global_lock();
    let t = tempfile::tempdir().unwrap();
    let base = base_layer(t.path());
    // Step 1, as ContainerAdministrator: a directory and a file in it.
    let step1 = run_step(
        std::slice::from_ref(&base),
        NetworkMode::Host,
        &shell(r"mkdir C:\d && echo x> C:\d\a.txt"),
    );
    assert_eq!(step1.code, 0);
    let (owner, d_aces) = descriptor(&step1.changes, "d");
    assert_eq!(owner, "S-1-5-93-2-1");
    assert!(
        d_aces.iter().all(|(flags, _, _)| flags & 0x10 != 0),
        "only inherited ACEs (from C:\\): {d_aces:?}"
    );
    assert!(
        d_aces.contains(&(0x10, 0x001F_01FF, "S-1-5-93-2-1".into())),
        "CREATOR OWNER became the owner: {d_aces:?}"
    );
    let (owner, a_aces) = descriptor(&step1.changes, "d/a.txt");
    assert_eq!(owner, "S-1-5-93-2-1");
    assert!(
        a_aces.iter().all(|(flags, _, _)| *flags == 0x10),
        "{a_aces:?}"
    );
    let layer1 = write_layer(t.path(), "owned", &step1.changes);

    // Step 2, as ContainerUser: a new file in the directory step 1 made. The directory is in
    // the layer again with step 1's descriptor; the file is ContainerUser's.
    let mut as_user = shell(r"echo y> C:\d\b.txt");
    as_user.user = "ContainerUser".into();
    let step2 = run_step(&[base, layer1], NetworkMode::Host, &as_user);
    assert_eq!(step2.code, 0);
    assert_eq!(
        descriptor(&step2.changes, "d"),
        ("S-1-5-93-2-1".to_string(), d_aces.clone()),
        "the re-emitted parent keeps its descriptor"
    );
    let (owner, b_aces) = descriptor(&step2.changes, "d/b.txt");
    assert_eq!(owner, "S-1-5-93-2-2");
    assert!(
        b_aces.iter().all(|(flags, _, _)| *flags == 0x10),
        "{b_aces:?}"
    );
    // d's CREATOR OWNER ACE (inherit-only there) gives the new file's owner full access.
    assert!(
        b_aces.contains(&(0x10, 0x001F_01FF, "S-1-5-93-2-2".into())),
        "{b_aces:?}"
    );
}

#[test]
fn network_none_has_only_loopback() {
    let _g = global_lock();
    let t = tempfile::tempdir().unwrap();
    let layers = [base_layer(t.path())];
    let none = run_step(&layers, NetworkMode::None, &shell("ipconfig"));
    let host = run_step(&layers, NetworkMode::Host, &shell("ipconfig"));
    let count = |s: &str| s.matches("adapter").count();
    let (n, h) = (none.output.text(), host.output.text());
    assert!(
        count(&h) > count(&n),
        "host network shows more adapters:\nnone:\n{n}\nhost:\n{h}"
    );
    let adapters: Vec<&str> = n.lines().filter(|l| l.contains("adapter")).collect();
    assert_eq!(adapters, ["Ethernet adapter lo"], "only loopback:\n{n}");
    assert!(n.contains("127.0.0.1"), "loopback is up:\n{n}");
}

#[test]
fn timeout_kills_the_step() {
    let _g = global_lock();
    let t = tempfile::tempdir().unwrap();
    let layers = [base_layer(t.path())];
    let mut p = shell("ping -n 60 127.0.0.1");
    p.timeout = Some(Duration::from_secs(3));
    let rt = runtime();
    let mut sb = rt
        .prepare(&SandboxSpec {
            layers: layers.to_vec(),
            network: NetworkMode::Host,
            os_version: String::new(),
            mounts: Vec::new(),
        })
        .unwrap();
    let started = std::time::Instant::now();
    let err = sb.run(&p, &mut Captured::default()).unwrap_err();
    assert!(err.to_string().contains("did not finish"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// Wine's start-up runs on one CPU (its request/reply round trips with wineserver are cheaper
/// there), and the step's own process gets every CPU silo had back from the launcher: sampled
/// from /proc while a step runs `ping`.
#[test]
fn wine_starts_on_one_cpu_and_the_step_gets_every_cpu() {
    let own = cpus_allowed("self");
    if own.split([',', '-']).count() < 2 {
        eprintln!("SKIP: this process may run on one CPU only ({own}); nothing to pin");
        return;
    }
    let _g = global_lock();
    let t = tempfile::tempdir().unwrap();
    let layers = [base_layer(t.path())];
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut seen = std::collections::BTreeMap::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                for line in silo_processes() {
                    let (pid, cmd) = line.split_once(": ").unwrap();
                    let program = cmd.split(' ').next().unwrap_or("").rsplit(['\\', '/']);
                    let program = program
                        .into_iter()
                        .next()
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    seen.insert(program, cpus_allowed(pid));
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            seen
        })
    };
    let step = run_step(
        &layers,
        NetworkMode::Host,
        &shell("ping -n 4 127.0.0.1 >nul"),
    );
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = sampler.join().unwrap();
    assert_eq!(step.code, 0, "{}", step.output.text());
    let server = seen
        .iter()
        .find(|(p, _)| p.starts_with("wineserver"))
        .map(|(_, c)| c.clone())
        .unwrap_or_else(|| panic!("no wineserver seen: {seen:?}"));
    assert!(
        !server.contains([',', '-']),
        "wineserver runs on one CPU, not {server}: {seen:?}"
    );
    let ping = seen
        .iter()
        .find(|(p, _)| p.starts_with("ping"))
        .map(|(_, c)| c.clone())
        .unwrap_or_else(|| panic!("the step's ping was not seen: {seen:?}"));
    assert_eq!(ping, own, "the step's process has every CPU back: {seen:?}");
}

/// `Cpus_allowed_list` of a /proc entry (`self` or a pid).
fn cpus_allowed(pid: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// Processes whose environment names the Wine state dir (every Wine process of a silo has
/// `WINEPREFIX=<state>/wine/sandboxes/…`).
fn silo_processes() -> Vec<String> {
    let marker = state_dir().join("wine").join("sandboxes");
    let marker = marker.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(env) = std::fs::read(e.path().join("environ")) {
            if String::from_utf8_lossy(&env).contains(&marker) {
                let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                found.push(format!(
                    "{name}: {}",
                    String::from_utf8_lossy(&cmd).replace('\0', " ")
                ));
            }
        }
    }
    found
}

fn silo_mounts() -> Vec<String> {
    let marker = state_dir().to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/mounts")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&marker))
        .map(str::to_string)
        .collect()
}

/// Not a test: the child process of `nothing_is_left_after_a_step_or_an_interrupt`, which starts
/// this binary with `--ignored --exact interrupt_child_mode`. It runs a long step and prints
/// READY once the step's output started.
#[test]
#[ignore = "helper process of nothing_is_left_after_a_step_or_an_interrupt"]
fn interrupt_child_mode() {
    let _g = global_lock();
    assert!(
        std::env::var_os("SILO_WINE_INTERRUPT_CHILD").is_some(),
        "only started by nothing_is_left_after_a_step_or_an_interrupt"
    );
    struct Ready;
    impl OutputSink for Ready {
        fn stdout(&mut self, bytes: &[u8]) {
            if String::from_utf8_lossy(bytes).contains("started") {
                println!("READY");
                std::io::stdout().flush().unwrap();
            }
        }
        fn stderr(&mut self, _: &[u8]) {}
    }
    let t = tempfile::tempdir().unwrap();
    let layers = vec![base_layer(t.path())];
    let rt = runtime();
    let mut sb = rt
        .prepare(&SandboxSpec {
            layers,
            network: NetworkMode::Host,
            os_version: String::new(),
            mounts: Vec::new(),
        })
        .unwrap();
    let _ = sb.run(
        &shell("echo started & ping -n 120 127.0.0.1 > NUL"),
        &mut Ready,
    );
}

#[test]
fn nothing_is_left_after_a_step_or_an_interrupt() {
    let _g = global_lock();
    // After a normal step.
    let t = tempfile::tempdir().unwrap();
    let layers = [base_layer(t.path())];
    let s = run_step(&layers, NetworkMode::Host, &shell("echo x"));
    assert_eq!(s.code, 0);
    drop(s);
    assert_eq!(
        silo_processes(),
        Vec::<String>::new(),
        "processes left after a step"
    );
    assert_eq!(
        silo_mounts(),
        Vec::<String>::new(),
        "mounts left after a step"
    );

    // Interrupted in the middle of a step (SIGINT to the building process).
    runtime(); // the system layer exists before the child starts
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "interrupt_child_mode",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SILO_WINE_INTERRUPT_CHILD", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        line.clear();
        use std::io::BufRead as _;
        if stdout.read_line(&mut line).unwrap() == 0 || line.contains("READY") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the child step never started"
        );
    }
    assert!(line.contains("READY"), "the child step did not start");
    assert!(
        !silo_processes().is_empty(),
        "the step's processes run before the interrupt"
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(!status.success());
    let mut left = silo_processes();
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        left = silo_processes();
    }
    assert_eq!(left, Vec::<String>::new(), "processes left after SIGINT");
    assert_eq!(
        silo_mounts(),
        Vec::<String>::new(),
        "mounts left after SIGINT"
    );
    // The killed build's scratch is removed by the next prepare.
    let sandboxes = state_dir().join("wine").join("sandboxes");
    let of_child = || {
        std::fs::read_dir(&sandboxes)
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{}-", child.id()))
            })
            .count()
    };
    assert_eq!(
        of_child(),
        1,
        "the interrupted step's sandbox is still there"
    );
    let spec = SandboxSpec {
        layers: layers.to_vec(),
        network: NetworkMode::Host,
        os_version: String::new(),
        mounts: Vec::new(),
    };
    drop(runtime().prepare(&spec).unwrap());
    assert_eq!(of_child(), 0, "prepare removes sandboxes of dead processes");
}
