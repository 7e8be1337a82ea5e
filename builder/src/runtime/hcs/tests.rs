//! The runtime's step sequence against a recording fake of [`ComputeApi`]: call order, a
//! failure injected at each call, cleanup on every path. The layer tars, the import staging
//! and the export folder → ChangeSet conversion are the real code.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::api::*;
use super::backup::{self, BackupWriter};
use super::guid::Guid;
use super::hresult::HcsError;
use super::*;
use crate::layer::{attributes, EntryKind, FileSource, HiveName};
use crate::runtime::{LayerRef, OutputSink, ProcessSpec};

/// The security descriptor the fake's export gives `app/out.txt`.
pub(super) const FAKE_SD: &[u8] = b"\x01\x00\x04\x80fake-sd";

#[derive(Default)]
pub(super) struct Fake {
    pub(super) calls: Mutex<Vec<String>>,
    pub(super) fail_at: Option<&'static str>,
    /// Fails the call with this index (0-based, in call order) whatever it is.
    pub(super) fail_call: Option<usize>,
    pub(super) timeout: bool,
    /// The step's exit code (3 unless set: the tests check it is passed on).
    pub(super) exit_code: Option<i32>,
    pub(super) documents: Mutex<Vec<String>>,
    /// Compute systems created (their handles count up from 7) and those terminated.
    pub(super) systems: Mutex<(usize, Vec<SystemHandle>)>,
    /// Keeps the never-exiting process's stdout open until its system is terminated.
    pub(super) pipe_open: Mutex<Option<std::sync::mpsc::Sender<()>>>,
    /// The process exits at once but its stdout stays open (a background process holds it,
    /// or HCS does not close it) until the system is terminated.
    pub(super) lingering_pipe: bool,
}

/// A stdout that gives `first` (if any), then stays open (reads block) until the sender is
/// dropped.
struct OpenPipe(Option<&'static [u8]>, std::sync::mpsc::Receiver<()>);

impl std::io::Read for OpenPipe {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(first) = self.0.take() {
            buf[..first.len()].copy_from_slice(first);
            return Ok(first.len());
        }
        let _ = self.1.recv(); // only ever ends by disconnection
        Ok(0)
    }
}

/// A fake whose step process never exits (and keeps its stdout open until terminated).
pub(super) fn never_exiting() -> Arc<Fake> {
    Arc::new(Fake {
        timeout: true,
        ..Fake::default()
    })
}

/// Runs `f`, failing the test if it takes longer than `limit` (instead of hanging the suite).
pub(super) fn within<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()));
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("did not finish within {limit:?}"))
}

impl Fake {
    pub(super) fn failing(op: &'static str) -> Fake {
        Fake {
            fail_at: Some(op),
            ..Fake::default()
        }
    }

    fn call(&self, op: &'static str) -> ApiResult<()> {
        let mut calls = self.calls.lock().unwrap();
        calls.push(op.to_string());
        if self.fail_at == Some(op) || self.fail_call == Some(calls.len() - 1) {
            return Err(HcsError::new(op, 0x8000_4005));
        }
        Ok(())
    }

    pub(super) fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl ComputeApi for Fake {
    fn name_to_guid(&self, name: &str) -> ApiResult<Guid> {
        self.call("NameToGuid")?;
        Ok(Guid::derived_from_name("fake", name))
    }
    fn import_layer(&self, layer: &Path, source: &Path, parents: &[PathBuf]) -> ApiResult<()> {
        self.call("ImportLayer")?;
        // hcsshim gives ImportLayer no tombstones.txt: deletions are made after it.
        assert!(!source.join("tombstones.txt").exists());
        // Layer 2 staged in the legacy format: attributes, then a backup stream with the data.
        assert!(source.join("Files/app.$wcidirs$").is_file());
        let staged = std::fs::read(source.join("Files/app/old")).unwrap();
        assert_eq!(staged[..4], attributes::ARCHIVE.to_le_bytes());
        let mut streams = backup::BackupReader::new(Cursor::new(&staged[4..])).unwrap();
        let data = streams.next_stream().unwrap().unwrap();
        assert_eq!(data.id, backup::BACKUP_DATA);
        assert_eq!(streams.read_body(16).unwrap(), b"x");
        assert!(streams.next_stream().unwrap().is_none());
        assert_eq!(parents.len(), 1, "the base is the only parent of layer 2");
        std::fs::create_dir_all(layer).unwrap();
        Ok(())
    }
    fn process_base_layer(&self, layer: &Path) -> ApiResult<()> {
        assert!(layer.join("Files/Windows/System32/cmd.exe").exists());
        self.call("ProcessBaseImage")
    }
    fn process_utility_vm(&self, utility_vm: &Path) -> ApiResult<()> {
        self.call("ProcessUtilityImage")?;
        // What ProcessUtilityImage leaves for Hyper-V: the VM's template scratch.
        std::fs::write(utility_vm.join("SystemTemplate.vhdx"), b"vhdx").unwrap();
        Ok(())
    }
    fn create_scratch_layer(&self, _: &Path, parents: &[PathBuf]) -> ApiResult<()> {
        assert_eq!(parents.len(), 2);
        self.call("CreateSandboxLayer")
    }
    fn activate_layer(&self, _: &Path) -> ApiResult<()> {
        self.call("ActivateLayer")
    }
    fn prepare_layer(&self, _: &Path, _: &[PathBuf]) -> ApiResult<()> {
        self.call("PrepareLayer")
    }
    fn layer_mount_path(&self, _: &Path) -> ApiResult<String> {
        self.call("GetLayerMountPath")?;
        Ok(r"\\?\Volume{0d3f4a5e-1111-2222-3333-444455556666}".into())
    }
    fn unprepare_layer(&self, _: &Path) -> ApiResult<()> {
        self.call("UnprepareLayer")
    }
    fn deactivate_layer(&self, _: &Path) -> ApiResult<()> {
        self.call("DeactivateLayer")
    }
    fn export_layer(&self, _: &Path, folder: &Path, _: &[PathBuf]) -> ApiResult<()> {
        self.call("ExportLayer")?;
        // The legacy format: `Files\…` as attributes + backup stream, directories' metadata in
        // `<dir>.$wcidirs$`, hives and tombstones as plain files.
        std::fs::create_dir_all(folder.join("Files/app")).unwrap();
        std::fs::create_dir_all(folder.join("Hives")).unwrap();
        std::fs::write(
            folder.join("Files/app.$wcidirs$"),
            attributes::DIRECTORY.to_le_bytes(),
        )
        .unwrap();
        let mut out = BackupWriter::new(attributes::ARCHIVE.to_le_bytes().to_vec());
        out.stream(backup::BACKUP_SECURITY_DATA, FAKE_SD).unwrap();
        out.stream_from(backup::BACKUP_DATA, "", 5, &mut &b"built"[..])
            .unwrap();
        std::fs::write(folder.join("Files/app/out.txt"), out.into_inner()).unwrap();
        std::fs::write(folder.join("Hives/Software_Delta"), b"delta bytes").unwrap();
        std::fs::write(
            folder.join("tombstones.txt"),
            b"\xEF\xBB\xBFVersion 1.0\r\n\\app\\old\r\n",
        )
        .unwrap();
        Ok(())
    }
    fn destroy_layer(&self, _: &Path) -> ApiResult<()> {
        self.call("DestroyLayer")
    }
    fn create_compute_system(&self, _: &str, document: &str) -> ApiResult<SystemHandle> {
        self.call("HcsCreateComputeSystem")?;
        self.documents.lock().unwrap().push(document.into());
        let mut systems = self.systems.lock().unwrap();
        systems.0 += 1;
        Ok(SystemHandle(6 + systems.0))
    }
    fn start_compute_system(&self, _: SystemHandle) -> ApiResult<()> {
        self.call("HcsStartComputeSystem")
    }
    fn modify_compute_system(&self, _: SystemHandle, request: &str) -> ApiResult<()> {
        // Recorded before the call: tests pair every attempted attach with its detach.
        self.documents.lock().unwrap().push(request.into());
        self.call("HcsModifyComputeSystem")
    }
    fn grant_vm_access(&self, _: &str, file: &Path) -> ApiResult<()> {
        self.call("HcsGrantVmAccess")?;
        self.documents
            .lock()
            .unwrap()
            .push(format!("grant {}", file.display()));
        Ok(())
    }
    fn create_process(
        &self,
        _: SystemHandle,
        parameters: &str,
    ) -> ApiResult<(ProcessHandle, ProcessPipes)> {
        self.call("HcsCreateProcess")?;
        self.documents.lock().unwrap().push(parameters.into());
        let stdout: Box<dyn std::io::Read + Send> = if self.timeout || self.lingering_pipe {
            let (open, closed) = std::sync::mpsc::channel();
            *self.pipe_open.lock().unwrap() = Some(open);
            let first: Option<&'static [u8]> = self.lingering_pipe.then_some(b"hello out");
            Box::new(OpenPipe(first, closed))
        } else {
            Box::new(Cursor::new(b"hello out".to_vec()))
        };
        Ok((
            ProcessHandle(9),
            ProcessPipes {
                stdout: Some(stdout),
                stderr: Some(Box::new(Cursor::new(b"hello err".to_vec()))),
            },
        ))
    }
    fn wait_process(&self, _: ProcessHandle, wait: Option<Duration>) -> ApiResult<WaitOutcome> {
        self.call("HcsEventProcessExited")?;
        Ok(if self.timeout {
            // A process that never exits: the wait lasts as long as asked.
            std::thread::sleep(wait.expect("the runtime waits in slices"));
            WaitOutcome::TimedOut
        } else {
            WaitOutcome::Exited
        })
    }
    fn process_exit_code(&self, _: ProcessHandle) -> ApiResult<i32> {
        self.call("ProcessStatus")?;
        Ok(self.exit_code.unwrap_or(3))
    }
    fn terminate_compute_system(&self, system: SystemHandle) -> ApiResult<()> {
        self.call("HcsTerminateComputeSystem")?;
        self.pipe_open.lock().unwrap().take(); // the process is gone: its pipes close
                                               // As HCS does: a second terminate finds the system stopped.
        let mut systems = self.systems.lock().unwrap();
        if systems.1.contains(&system) {
            return Err(HcsError::new(
                "HcsTerminateComputeSystem",
                super::hresult::COMPUTE_SYSTEM_ALREADY_STOPPED,
            ));
        }
        systems.1.push(system);
        Ok(())
    }
    fn close_process(&self, _: ProcessHandle) {
        self.calls.lock().unwrap().push("HcsCloseProcess".into());
    }
    fn close_compute_system(&self, _: SystemHandle) {
        self.calls
            .lock()
            .unwrap()
            .push("HcsCloseComputeSystem".into());
    }
}

#[derive(Default)]
pub(super) struct Collect {
    out: Vec<u8>,
    err: Vec<u8>,
}

impl OutputSink for Collect {
    fn stdout(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }
    fn stderr(&mut self, bytes: &[u8]) {
        self.err.extend_from_slice(bytes);
    }
}

/// The layer written at `path` (an uncompressed tar: its diff_id is the file's sha256).
pub(super) fn layer_ref(path: PathBuf) -> LayerRef {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(std::fs::read(&path).unwrap());
    LayerRef {
        diff_id: format!("sha256:{}", hex::encode(digest)),
        blob_path: path,
    }
}

pub(super) fn write_tar(path: &Path, entries: &[(&str, Option<&[u8]>)]) {
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, data) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(if data.is_some() {
            tar::EntryType::Regular
        } else {
            tar::EntryType::Directory
        });
        header.set_size(data.map_or(0, |d| d.len() as u64));
        header.set_mode(0o644);
        builder
            .append_data(&mut header, name, data.unwrap_or(&[]))
            .unwrap();
    }
    builder.finish().unwrap();
}

/// The base layer's files (what `ProcessBaseImage` needs in the fake).
pub(super) const BASE_FILES: [(&str, Option<&[u8]>); 4] = [
    ("Files", None),
    ("Files/Windows", None),
    ("Files/Windows/System32", None),
    ("Files/Windows/System32/cmd.exe", Some(b"MZ")),
];

/// A state dir and a two-layer image (base with `UtilityVM/Files`, then one change layer).
pub(super) fn image(dir: &Path) -> SandboxSpec {
    let base = dir.join("base.tar");
    let utility_vm = [("UtilityVM", None), ("UtilityVM/Files", None)];
    write_tar(&base, &[&BASE_FILES[..], &utility_vm].concat());
    let top = dir.join("top.tar");
    write_tar(
        &top,
        &[
            ("Hives", None),
            ("Files", None),
            ("Files/app", None),
            ("Files/app/old", Some(b"x")),
        ],
    );
    SandboxSpec {
        layers: vec![layer_ref(base), layer_ref(top)],
        network: crate::runtime::NetworkMode::None,
        os_version: "10.0.20348.2700".into(),
        mounts: Vec::new(),
    }
}

/// A Windows Server 2022 host: the test image runs process-isolated on it by default.
pub(super) fn server_2022() -> HostFacts {
    HostFacts {
        major: 10,
        minor: 0,
        build: 20348,
        ubr: 2700,
        server: true,
    }
}

pub(super) fn step() -> ProcessSpec {
    ProcessSpec {
        command_line: Some("cmd /S /C echo hi".into()),
        working_dir: r"C:\".into(),
        timeout: Some(Duration::from_secs(60)),
        ..ProcessSpec::default()
    }
}

/// One step on `spec`, run and committed.
pub(super) fn run(runtime: &HcsRuntime, spec: &SandboxSpec) -> anyhow::Result<()> {
    let mut sandbox = runtime.prepare(spec)?;
    sandbox.run(&step(), &mut Collect::default())?;
    sandbox.commit()?;
    Ok(())
}

pub(super) const IMPORT: [&str; 3] = ["ProcessBaseImage", "ProcessUtilityImage", "ImportLayer"];
const PREPARE: [&str; 6] = [
    "CreateSandboxLayer",
    "NameToGuid",
    "NameToGuid",
    "ActivateLayer",
    "PrepareLayer",
    "GetLayerMountPath",
];
pub(super) const RUN: [&str; 6] = [
    "HcsCreateComputeSystem",
    "HcsStartComputeSystem",
    "HcsCreateProcess",
    "HcsEventProcessExited",
    "ProcessStatus",
    "HcsCloseProcess",
];
const COMMIT: [&str; 6] = [
    "HcsTerminateComputeSystem",
    "HcsCloseComputeSystem",
    "UnprepareLayer",
    "ExportLayer",
    "DeactivateLayer",
    "DestroyLayer",
];

/// Calls made after the export, during teardown only.
const TEARDOWN_ONLY: [&str; 2] = ["DeactivateLayer", "DestroyLayer"];

fn run_step(fake: Arc<Fake>, state: &Path, spec: &SandboxSpec) -> anyhow::Result<ChangeSetAndExit> {
    let runtime = HcsRuntime::new(fake, state, server_2022(), None)?;
    let mut sandbox = runtime.prepare(spec)?;
    let mut sink = Collect::default();
    let status = sandbox.run(&step(), &mut sink)?;
    let changes = sandbox.commit()?;
    Ok((changes, status.code, sink))
}

type ChangeSetAndExit = (crate::layer::ChangeSet, i32, Collect);

#[test]
fn a_step_runs_create_start_process_wait_export_close_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let spec = image(dir.path());
    let fake = Arc::new(Fake::default());
    let (changes, code, sink) = run_step(fake.clone(), &dir.path().join("state"), &spec).unwrap();
    let want: Vec<&str> = [&IMPORT[..], &PREPARE, &RUN, &COMMIT].concat();
    assert_eq!(fake.calls(), want);
    assert_eq!(code, 3);
    assert_eq!(sink.out, b"hello out");
    assert_eq!(sink.err, b"hello err");
    assert_eq!(changes.deletions, ["app/old"]);
    let out = changes
        .entries
        .iter()
        .find(|e| e.path == "app/out.txt")
        .expect("the exported file");
    assert_eq!(out.meta.security_descriptor.as_deref(), Some(FAKE_SD));
    assert_eq!(out.meta.attributes, Some(attributes::ARCHIVE));
    // The data stays in the export file (gone with the runtime): its range is after the
    // attributes, the SD stream and the data stream's header.
    let want_offset = 4 + backup::HEADER_LEN + FAKE_SD.len() as u64 + backup::HEADER_LEN;
    match &out.kind {
        EntryKind::File {
            source: FileSource::Range { offset, len: 5, .. },
            size: 5,
        } => assert_eq!(*offset, want_offset),
        other => panic!("app/out.txt exported as {other:?}"),
    }
    assert_eq!(changes.hive_deltas[&HiveName::Software], b"delta bytes");
    let docs = fake.documents.lock().unwrap().clone();
    let system: serde_json::Value = serde_json::from_str(&docs[0]).unwrap();
    let layers = system["Container"]["Storage"]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    assert!(layers[1]["Path"]
        .as_str()
        .unwrap()
        .ends_with(&hex::encode(sha2::Sha256::digest(format!(
            "{}\n",
            spec.layers[0].diff_id
        )))));
    assert!(system["Container"]["Storage"]["Path"]
        .as_str()
        .unwrap()
        .ends_with("}\\"));
    let process: serde_json::Value = serde_json::from_str(&docs[1]).unwrap();
    assert_eq!(process["CommandLine"], "cmd /S /C echo hi");

    // A second build on the same state reuses the imported layers.
    let again = Arc::new(Fake::default());
    run_step(again.clone(), &dir.path().join("state"), &spec).unwrap();
    assert_eq!(again.calls(), [&PREPARE[..], &RUN, &COMMIT].concat());
}

#[test]
fn a_failure_at_each_call_names_it_and_cleanup_still_runs() {
    let all: Vec<&'static str> = [&IMPORT[..], &PREPARE, &RUN, &COMMIT]
        .concat()
        .into_iter()
        .filter(|op| !op.starts_with("HcsClose"))
        .collect();
    for op in all {
        let dir = tempfile::tempdir().unwrap();
        let spec = image(dir.path());
        let fake = Arc::new(Fake::failing(op));
        let result = run_step(fake.clone(), &dir.path().join("state"), &spec);
        let calls = fake.calls();
        if TEARDOWN_ONLY.contains(&op) {
            // The layer is already exported: a teardown failure is logged, not fatal, and
            // the remaining teardown still runs.
            assert!(result.is_ok(), "{op}");
            assert_eq!(
                calls.last().map(String::as_str),
                Some("DestroyLayer"),
                "{op}"
            );
            continue;
        }
        let err = match result {
            Ok(_) => panic!("a failing {op} must fail the step"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(op), "failure at {op} surfaced as: {err}");
        let count = |name: &str| calls.iter().filter(|c| *c == name).count();
        let created = |name: &str| calls.iter().any(|c| c == name);
        // Whatever was set up was undone.
        if created("HcsCreateComputeSystem") && op != "HcsCreateComputeSystem" {
            assert_eq!(count("HcsCloseComputeSystem"), 1, "{op}: {calls:?}");
        }
        if created("HcsCreateProcess") && op != "HcsCreateProcess" {
            assert_eq!(count("HcsCloseProcess"), 1, "{op}: {calls:?}");
        }
        if created("CreateSandboxLayer") {
            assert!(created("DestroyLayer"), "{op}: {calls:?}");
        }
        if created("ActivateLayer") && op != "ActivateLayer" {
            assert!(created("DeactivateLayer"), "{op}: {calls:?}");
        }
        if created("PrepareLayer") && op != "PrepareLayer" {
            assert!(created("UnprepareLayer"), "{op}: {calls:?}");
        }
    }
}

#[test]
fn a_timeout_terminates_the_compute_system_and_drop_tears_down() {
    // The process never exits and keeps its stdout open: only terminating it ends the relay.
    within(Duration::from_secs(30), || {
        let dir = tempfile::tempdir().unwrap();
        let spec = image(dir.path());
        let fake = never_exiting();
        let runtime =
            HcsRuntime::new(fake.clone(), &dir.path().join("state"), server_2022(), None).unwrap();
        let mut sandbox = runtime.prepare(&spec).unwrap();
        let short = ProcessSpec {
            timeout: Some(Duration::from_millis(500)),
            ..step()
        };
        let started = std::time::Instant::now();
        let err = sandbox
            .run(&short, &mut Collect::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("timeout") && err.contains("terminated"),
            "{err}"
        );
        // Waited in slices up to the timeout, not beyond it by more than a slice.
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(500) && took < Duration::from_secs(2),
            "{took:?}"
        );
        let calls = fake.calls();
        let waits = calls
            .iter()
            .filter(|c| *c == "HcsEventProcessExited")
            .count();
        assert!(
            (3..=4).contains(&waits),
            "{waits} waits of at most 200 ms for 500 ms"
        );
        let after_wait: Vec<&str> = calls
            .iter()
            .skip_while(|c| *c != "HcsEventProcessExited")
            .skip(waits)
            .map(String::as_str)
            .collect();
        // Terminated as soon as the wait gives up (the pipes close), then again by the teardown
        // (which finds it stopped: not an error).
        assert_eq!(
            after_wait,
            [
                "HcsTerminateComputeSystem",
                "HcsCloseProcess",
                "HcsTerminateComputeSystem",
                "HcsCloseComputeSystem"
            ]
        );
        drop(sandbox);
        let tail: Vec<String> = fake.calls().split_off(calls.len());
        assert_eq!(tail, ["UnprepareLayer", "DeactivateLayer", "DestroyLayer"]);
    });
}

#[test]
fn ctrl_c_stops_the_running_step_and_everything_is_torn_down() {
    within(Duration::from_secs(30), || {
        let dir = tempfile::tempdir().unwrap();
        let spec = image(dir.path());
        let fake = never_exiting();
        let ctrl_c = interrupt::Interrupt::default();
        let runtime = HcsRuntime::new(fake.clone(), &dir.path().join("s"), server_2022(), None)
            .unwrap()
            .with_interrupt(ctrl_c.clone());
        let mut sandbox = runtime.prepare(&spec).unwrap();
        let asker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            ctrl_c.request();
        });
        let started = std::time::Instant::now();
        // The step's own timeout is a minute: the request ends it long before.
        let err = sandbox
            .run(&step(), &mut Collect::default())
            .unwrap_err()
            .to_string();
        asker.join().unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            err.contains("interrupted (Ctrl-C)") && err.contains("nothing was committed"),
            "{err}"
        );
        let calls = fake.calls();
        assert!(calls.contains(&"HcsTerminateComputeSystem".to_string()));
        drop(sandbox);
        let tail: Vec<String> = fake.calls().split_off(calls.len());
        assert_eq!(tail, ["UnprepareLayer", "DeactivateLayer", "DestroyLayer"]);

        // Asked before a build starts: no layer is imported.
        let fake = Arc::new(Fake::default());
        let ctrl_c = interrupt::Interrupt::default();
        ctrl_c.request();
        let runtime = HcsRuntime::new(fake.clone(), &dir.path().join("t"), server_2022(), None)
            .unwrap()
            .with_interrupt(ctrl_c);
        let err = runtime.prepare(&spec).err().unwrap().to_string();
        assert!(err.contains("while importing layer sha256:"), "{err}");
        assert!(!fake.calls().iter().any(|c| IMPORT.contains(&c.as_str())));
    });
}

/// hcsshim stops copying a process's output `CopyAfterExitTimeout` (1 s) after it exits
/// (internal/cmd/cmd.go; exec_hcs.go sets 1 s): HCS does not always close the pipes, and a
/// background process the step started holds them. Before, the step waited for EOF forever.
#[test]
fn output_relay_stops_a_second_after_the_process_exits_with_its_pipes_open() {
    within(Duration::from_secs(20), || {
        let dir = tempfile::tempdir().unwrap();
        let spec = image(dir.path());
        let fake = Arc::new(Fake {
            lingering_pipe: true,
            ..Fake::default()
        });
        let runtime =
            HcsRuntime::new(fake.clone(), &dir.path().join("state"), server_2022(), None).unwrap();
        let mut sandbox = runtime.prepare(&spec).unwrap();
        let mut sink = Collect::default();
        let started = std::time::Instant::now();
        let status = sandbox.run(&step(), &mut sink).unwrap();
        let took = started.elapsed();
        assert_eq!(status.code, 3, "the exit code is passed on");
        assert!(
            took >= sandbox::COPY_AFTER_EXIT && took < sandbox::COPY_AFTER_EXIT * 3,
            "relayed for {took:?} after the exit"
        );
        // What came before the exit was relayed.
        assert_eq!(sink.out, b"hello out");
        assert_eq!(sink.err, b"hello err");
        // The commit terminates the system, which closes the lingering pipe.
        sandbox.commit().unwrap();
        assert!(fake.pipe_open.lock().unwrap().is_none());
    });
}

/// issue #19 item 8: a relative `--root` reached vmcompute as given; HCS resolves layer paths
/// against its own working directory, so the runtime's root is made absolute first.
#[test]
fn a_relative_root_reaches_hcs_absolute() {
    let root = hcs_root(Path::new("relative/state")).unwrap();
    assert!(root.is_absolute(), "{}", root.display());
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(root, cwd.join("relative/state/hcs"));
}

#[test]
fn empty_images_and_incompatible_bases_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let runtime =
        HcsRuntime::new(Arc::new(Fake::default()), dir.path(), server_2022(), None).unwrap();
    let err = runtime
        .prepare(&SandboxSpec::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("base image"), "{err}");
    // A base newer than the host runs in no isolation; nothing is imported for it.
    let fake = Arc::new(Fake::default());
    let runtime = HcsRuntime::new(fake.clone(), dir.path(), server_2022(), None).unwrap();
    let newer = SandboxSpec {
        os_version: "10.0.26100.1".into(),
        ..image(dir.path())
    };
    let err = runtime.prepare(&newer).err().unwrap().to_string();
    assert!(err.contains("newer than the host"), "{err}");
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

#[test]
fn a_layer_whose_content_is_not_its_diff_id_is_refused_before_windows_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    for index in [0, 1] {
        let mut spec = image(dir.path());
        spec.layers[index].diff_id = format!("sha256:{}", "0".repeat(64));
        let fake = Arc::new(Fake::default());
        let state = dir.path().join(format!("state-{index}"));
        let runtime = HcsRuntime::new(fake.clone(), &state, server_2022(), None).unwrap();
        let err = runtime.prepare(&spec).err().unwrap().to_string();
        assert!(
            err.contains(&spec.layers[index].diff_id) && err.contains("pull or build it again"),
            "{err}"
        );
        let calls = fake.calls();
        // Refused before the layer reaches vmcompute: nothing past the good layers ran.
        let imported: Vec<&str> = calls
            .iter()
            .map(String::as_str)
            .filter(|c| IMPORT.contains(c))
            .collect();
        let want: &[&str] = if index == 0 {
            &[]
        } else {
            &["ProcessBaseImage", "ProcessUtilityImage"]
        };
        assert_eq!(imported, want);
        // A half-written base folder is not left behind; the good base stays imported.
        let folders = std::fs::read_dir(state.join("hcs/layers")).unwrap().count();
        assert_eq!(folders, index);
    }
}

#[test]
fn run_mounts_become_mapped_directories_of_a_process_isolated_step() {
    use crate::runtime::StepMount;
    let dir = tempfile::tempdir().unwrap();
    let (src, secrets) = (dir.path().join("src"), dir.path().join("secrets"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("token"), b"s3cret").unwrap();
    let mount = |source: &Path, target: &str, read_only| StepMount {
        source: source.to_path_buf(),
        target: target.into(),
        read_only,
    };
    let spec = SandboxSpec {
        mounts: vec![
            mount(&src, r"C:\src", true),
            mount(&secrets.join("token"), r"C:\run\secrets\token", true),
        ],
        ..image(dir.path())
    };
    let fake = Arc::new(Fake::default());
    let runtime =
        HcsRuntime::new(fake.clone(), &dir.path().join("s"), server_2022(), None).unwrap();
    run(&runtime, &spec).unwrap();
    let docs = fake.documents.lock().unwrap().clone();
    let system: serde_json::Value = serde_json::from_str(&docs[0]).unwrap();
    let mapped = &system["Container"]["MappedDirectories"];
    assert_eq!(
        mapped,
        &serde_json::json!([
            {"HostPath": src.display().to_string(), "ContainerPath": r"C:\src", "ReadOnly": true},
            // A file maps the directory holding it onto the target's parent.
            {"HostPath": secrets.display().to_string(), "ContainerPath": r"C:\run\secrets", "ReadOnly": true},
        ])
    );

    // Refused before anything is imported: two mounts onto one directory, C:\ itself, and
    // any mount in a Hyper-V step.
    for (mounts, isolation, needle) in [
        (
            vec![mount(&src, r"C:\a", false), mount(&src, r"c:\A\", false)],
            None,
            "already maps",
        ),
        (vec![mount(&src, r"C:\", false)], None, "cannot map over"),
        (
            vec![mount(&src, r"C:\a", false)],
            Some(Isolation::HyperV),
            "Hyper-V",
        ),
    ] {
        let fake = Arc::new(Fake::default());
        let runtime = HcsRuntime::new(
            fake.clone(),
            &dir.path().join("t"),
            server_2022(),
            isolation,
        )
        .unwrap();
        let spec = SandboxSpec {
            mounts,
            ..image(dir.path())
        };
        let err = runtime.prepare(&spec).err().unwrap().to_string();
        assert!(err.contains(needle), "{err}");
        assert!(
            !fake.calls().iter().any(|c| IMPORT.contains(&c.as_str())),
            "{err}"
        );
    }
}
