//! The Wine silo on a realistic Windows base (`silo_tests::realbase`): the real Windows 10 SYSTEM
//! hive — hundreds of services and drivers, real hardware and time-zone values — in a
//! servercore-shaped base layer, as shipped (dirty, with `.LOG1`/`.LOG2` beside it) and cleaned.
//! Real Wine, real namespaces: the dirty hive is recovered, `RUN echo` commits no registry
//! delta, `reg add` commits only its key, setting the time zone commits it, installing or
//! reconfiguring a service commits exactly that, and no Windows service of the image runs
//! during a step (the silo's processes are sampled while it runs).
//!
//! Needs root, overlayfs and wine64 (scripts/install-test-deps) and the shared hive corpus
//! (skips without it unless CI=true).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use silo::hive::log::{changed_pages, new_format_log};
use silo::hive::{self, read_hive, write_hive, Key, Value, WriteOptions};
use silo::layer::{ChangeSet, HiveName};
use silo::runtime::wine::WineRuntime;
use silo::runtime::{LayerRef, NetworkMode, OutputSink, ProcessSpec, Runtime, SandboxSpec};
use silo_tests::realbase::{self, clean_hive, real_system_hive};

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

/// One Wine step at a time (see tests/wine_runtime.rs).
fn global_lock() -> std::sync::MutexGuard<'static, ()> {
    static L: Mutex<()> = Mutex::new(());
    L.lock().unwrap_or_else(|e| e.into_inner())
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

fn shell(cmd: &str) -> ProcessSpec {
    ProcessSpec {
        args: vec!["cmd".into(), "/S".into(), "/C".into(), cmd.into()],
        command_line: Some(format!("cmd /S /C {cmd}")),
        working_dir: r"C:\".into(),
        user: "ContainerAdministrator".into(),
        timeout: Some(Duration::from_secs(180)),
        ..ProcessSpec::default()
    }
}

struct Step {
    code: i32,
    stdout: String,
    stderr: String,
    changes: ChangeSet,
    /// Wall time of prepare + run + commit.
    time: Duration,
    /// Every command line seen among the silo's processes while the step ran.
    processes: BTreeSet<String>,
}

/// Runs `cmd` in a silo over `layers`, sampling the silo's processes every 50 ms.
fn run_step(layers: &[LayerRef], cmd: &str) -> Step {
    let rt = runtime();
    let spec = SandboxSpec {
        layers: layers.to_vec(),
        network: NetworkMode::None,
        os_version: String::new(),
        mounts: Vec::new(),
    };
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (seen, done) = (seen.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                seen.lock().unwrap().extend(silo_processes());
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let started = Instant::now();
    let mut sandbox = rt.prepare(&spec).expect("prepare the silo");
    let mut output = Captured::default();
    let status = sandbox.run(&shell(cmd), &mut output).expect("run the step");
    let changes = sandbox.commit().expect("commit the step");
    let time = started.elapsed();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let processes = std::mem::take(&mut *seen.lock().unwrap());
    Step {
        code: status.code,
        stdout: String::from_utf8_lossy(&output.out).into_owned(),
        stderr: String::from_utf8_lossy(&output.err).into_owned(),
        changes,
        time,
        processes,
    }
}

/// Command lines (program name and arguments, without the pid) of processes whose environment
/// names this test's silo sandboxes.
fn silo_processes() -> Vec<String> {
    let marker = state_dir().join("wine").join("sandboxes");
    let marker = marker.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        if String::from_utf8_lossy(&env).contains(&marker) {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if !cmd.trim().is_empty() {
                found.push(cmd.trim().to_string());
            }
        }
    }
    found
}

/// The program of a command line, lowercased, without its directory (`svchost.exe`).
fn program(cmd: &str) -> String {
    let first = cmd.split(' ').next().unwrap_or("");
    first
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or(first)
        .to_ascii_lowercase()
}

/// Every key path and value (`name=type:hex`) of a delta, with layer semantics.
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

fn delta_lines(changes: &ChangeSet) -> Vec<String> {
    changes
        .hive_deltas
        .iter()
        .flat_map(|(hive, bytes)| {
            let root = read_hive(bytes).expect("our delta reads back").root;
            flatten(&root)
                .into_iter()
                .map(move |l| format!("{hive:?}: {l}"))
        })
        .collect()
}

/// Layers for tests: the minimal base and the realistic bases, written once per test process.
struct Bases {
    _dir: tempfile::TempDir,
    minimal: LayerRef,
    /// The real SYSTEM hive cleaned, no logs.
    clean: LayerRef,
    /// The real SYSTEM hive as shipped (dirty) with a LOG1 whose entry adds
    /// `ControlSet001\Control\FromLog` (`Marker`=`replayed`), and an empty LOG2 as Windows
    /// leaves it.
    dirty: LayerRef,
}

fn bases(test: &str) -> Option<&'static Bases> {
    static B: OnceLock<Option<Bases>> = OnceLock::new();
    let system = real_system_hive(test)?;
    B.get_or_init(|| Some(make_bases(system))).as_ref()
}

fn config_files(system: Vec<u8>, logs: Vec<(&str, Vec<u8>)>) -> realbase::ConfigFiles {
    let mut files: realbase::ConfigFiles = HiveName::ALL
        .into_iter()
        .filter(|h| *h != HiveName::System)
        .map(|h| (h.base_file_name().to_string(), hive::minimal::bytes(h)))
        .collect();
    files.push(("SYSTEM".into(), system));
    files.extend(logs.into_iter().map(|(n, b)| (n.to_string(), b)));
    files
}

fn layer(dir: &Path, name: &str, files: &realbase::ConfigFiles) -> LayerRef {
    let tar = realbase::servercore_layer_tar(files);
    let (blob_path, diff_id) = realbase::write_layer_file(dir, name, &tar);
    LayerRef { diff_id, blob_path }
}

fn make_bases(dirty: Vec<u8>) -> Bases {
    let dir = tempfile::tempdir().unwrap();
    let minimal_files = config_files(hive::minimal::bytes(HiveName::System), vec![]);
    let clean_files = config_files(clean_hive(&dirty), vec![]);
    let mut tree = read_hive(&clean_hive(&dirty)).unwrap().root;
    tree.create_path("ControlSet001\\Control\\FromLog")
        .set_value(Value::string("Marker", "replayed"));
    let after = write_hive(&tree, &WriteOptions::default()).unwrap();
    let seq = u32::from_le_bytes(dirty[4..8].try_into().unwrap());
    let hbins = u32::from_le_bytes(after[40..44].try_into().unwrap());
    let log1 = new_format_log(&dirty, &[(seq, hbins, changed_pages(&dirty, &after))]);
    let log2 = new_format_log(&dirty, &[]);
    let dirty_files = config_files(dirty, vec![("SYSTEM.LOG1", log1), ("SYSTEM.LOG2", log2)]);
    Bases {
        minimal: layer(dir.path(), "minimal", &minimal_files),
        clean: layer(dir.path(), "clean", &clean_files),
        dirty: layer(dir.path(), "dirty", &dirty_files),
        _dir: dir,
    }
}

/// Programs and svchost command lines seen during a step: what "a Windows service process"
/// would show up as.
fn service_view(step: &Step) -> (BTreeSet<String>, BTreeSet<String>) {
    let programs = step.processes.iter().map(|p| program(p)).collect();
    let svchost = step
        .processes
        .iter()
        .filter(|p| program(p) == "svchost.exe")
        .cloned()
        .collect();
    (programs, svchost)
}

#[test]
fn dirty_real_base_is_recovered_and_a_step_starts_no_service_and_commits_no_noise() {
    let _g = global_lock();
    let Some(b) = bases("dirty_real_base_is_recovered…") else {
        return;
    };
    let cmd = r"reg query HKLM\SYSTEM\CurrentControlSet\Control\FromLog /v Marker && echo hi> C:\x.txt && ping -n 3 127.0.0.1 >nul";
    let minimal = run_step(std::slice::from_ref(&b.minimal), cmd);
    let real = run_step(std::slice::from_ref(&b.dirty), cmd);
    eprintln!(
        "step time: minimal base {:?}, real dirty base {:?}",
        minimal.time, real.time
    );
    assert!(!minimal.stdout.contains("replayed"), "{}", minimal.stdout);
    assert_eq!(
        real.code, 0,
        "stdout {} stderr {}",
        real.stdout, real.stderr
    );
    assert!(
        real.stdout.contains("replayed"),
        "the LOG1 entry was replayed into the silo's registry: {}",
        real.stdout
    );
    let paths: Vec<_> = real
        .changes
        .entries
        .iter()
        .map(|e| e.path.clone())
        .collect();
    assert_eq!(paths, ["x.txt"]);
    assert_eq!(
        delta_lines(&real.changes),
        Vec::<String>::new(),
        "no hardware, time-zone, pending-rename or service noise"
    );
    let (min_programs, min_svchost) = service_view(&minimal);
    let (programs, svchost) = service_view(&real);
    assert!(
        min_programs.contains("services.exe"),
        "the sampler sees the silo's processes: {min_programs:?}"
    );
    // The step's own short-lived programs may slip between two samples of one run and not the
    // other; anything else seen only on the real base is a process the image's machine started.
    let step_programs = ["cmd.exe", "reg.exe", "ping.exe"];
    let beyond: Vec<_> = programs
        .difference(&min_programs)
        .filter(|p| !step_programs.contains(&p.as_str()))
        .collect();
    assert!(beyond.is_empty(), "processes beyond Wine's own: {beyond:?}");
    assert!(
        svchost.is_subset(&min_svchost),
        "service hosts beyond Wine's own: {:?}",
        svchost.difference(&min_svchost).collect::<Vec<_>>()
    );
}

#[test]
fn registry_and_service_changes_of_a_step_are_committed_exactly() {
    let _g = global_lock();
    let Some(b) = bases("registry_and_service_changes…") else {
        return;
    };
    let system = read_hive(&clean_hive(&real_system_hive("").unwrap()))
        .unwrap()
        .root;
    let spooler = system.find(r"ControlSet001\Services\Spooler").unwrap();
    assert_eq!(
        spooler.value("Start"),
        Some(&Value::dword("Start", 2)),
        "Spooler is auto-start in the image"
    );
    // The time zone is set last: Wine 8 rewrites `StandardName` and `TimeZoneKeyName` with the
    // host's at every process start, so a later process of the same step would undo it.
    let cmd = concat!(
        r"reg add HKLM\SOFTWARE\Contoso /v A /d 1 /f",
        r" && sc create SiloSvc binPath= C:\silo.exe start= auto",
        // (Wine's sc.exe has no `config`; this is the registry write it would make.)
        r" && reg add HKLM\SYSTEM\CurrentControlSet\Services\Spooler /v Start /t REG_DWORD /d 4 /f",
        // Tcpip6 is a kernel driver: the silo does not show it; the write lands on the image's key.
        r" && reg add HKLM\SYSTEM\CurrentControlSet\Services\Tcpip6\Parameters /v DisabledComponents /t REG_DWORD /d 255 /f",
        r#" && reg add "HKLM\SYSTEM\CurrentControlSet\Control\TimeZoneInformation" /v TimeZoneKeyName /d "Tokyo Standard Time" /f"#,
    );
    let s = run_step(std::slice::from_ref(&b.clean), cmd);
    assert_eq!(s.code, 0, "stdout {} stderr {}", s.stdout, s.stderr);
    let lines = delta_lines(&s.changes);
    eprintln!("{}\n{}", s.stdout, lines.join("\n"));
    let tokyo = hex::encode(hive::tree::utf16z("Tokyo Standard Time"));
    for want in [
        "Software: Contoso\\A=1:31000000".to_string(),
        format!("System: ControlSet001\\Control\\TimeZoneInformation\\TimeZoneKeyName=1:{tokyo}"),
        "System: ControlSet001\\Services\\SiloSvc [merge]".to_string(),
        "System: ControlSet001\\Services\\SiloSvc\\Start=4:02000000".to_string(),
        "System: ControlSet001\\Services\\Spooler\\Start=4:04000000".to_string(),
        "System: ControlSet001\\Services\\Tcpip6\\Parameters\\DisabledComponents=4:ff000000"
            .to_string(),
    ] {
        assert!(lines.contains(&want), "missing {want}");
    }
    // Nothing else: the keys are exactly these, and every value is one of the above or one of
    // the new service's own (what Wine's sc.exe writes for it).
    let keys: Vec<_> = lines.iter().filter(|l| !l.contains('=')).cloned().collect();
    assert_eq!(
        keys,
        [
            "System: ControlSet001 [merge]",
            "System: ControlSet001\\Control [merge]",
            "System: ControlSet001\\Control\\TimeZoneInformation [merge]",
            "System: ControlSet001\\Services [merge]",
            "System: ControlSet001\\Services\\SiloSvc [merge]",
            "System: ControlSet001\\Services\\Spooler [merge]",
            "System: ControlSet001\\Services\\Tcpip6 [merge]",
            "System: ControlSet001\\Services\\Tcpip6\\Parameters [merge]",
            "Software: Contoso [merge]",
        ]
    );
    let values: Vec<_> = lines.iter().filter(|l| l.contains('=')).collect();
    assert!(
        values
            .iter()
            .filter(|l| !l.contains("Services\\SiloSvc\\"))
            .count()
            == 4,
        "only A, TimeZoneKeyName, Spooler's Start and Tcpip6's DisabledComponents besides \
         SiloSvc: {values:?}"
    );
}

/// Not a test: prints which of the silo's processes run when during a step on the real base
/// (what a slow step waits for). `cargo test --test wine_realbase timeline -- --ignored --nocapture`
#[test]
#[ignore = "diagnostic"]
fn timeline() {
    let _g = global_lock();
    let Some(b) = bases("timeline") else { return };
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut last = String::new();
            while !done.load(Ordering::Relaxed) {
                let mut now: Vec<String> = silo_processes();
                now.sort();
                let text = now.join(" | ");
                if text != last {
                    eprintln!("{:6.2}s {text}", started.elapsed().as_secs_f64());
                    last = text;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    for base in [&b.minimal, &b.clean] {
        let s = run_step(std::slice::from_ref(base), "echo hi");
        eprintln!(
            "{:6.2}s step done in {:?}",
            started.elapsed().as_secs_f64(),
            s.time
        );
    }
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
}
