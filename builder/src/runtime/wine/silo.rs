//! The silo: one step's process tree in new mount, pid, ipc and uts namespaces (and a new
//! network namespace with only loopback for `--network none`).
//!
//! The silo's init (pid 1 of the new pid namespace, cloned from the caller) makes every mount
//! private, mounts the overlay root filesystem on the prefix's `drive_c`, a fresh `/proc` and a
//! private wineserver socket directory, bind-mounts the step's `RUN --mount` sources at their
//! targets under `drive_c` (making the mount points it needs; read-only ones remounted
//! read-only), then forks the step's process under Wine. It reaps every
//! process that ends up as its child; when the step's process has exited and every other process
//! has gone (wineserver exits as soon as its last client has, after saving the registry) it
//! exits with the step's exit code. When init exits the kernel kills whatever is left in the pid
//! namespace and the mount namespace with its mounts disappears: nothing outlives a step, and the
//! host's `/proc/mounts` never sees the silo's mounts. If the calling process dies (Ctrl-C), the
//! kernel sends init SIGKILL (`PR_SET_PDEATHSIG`), which tears the silo down the same way.
//!
//! The child side of `clone` must not allocate (the caller may be multi-threaded): everything it
//! needs is prepared as C strings and pointer arrays before the clone, and it reports failures
//! through a pipe as fixed-size records.
// Namespaces, clone, mounts, pipes and signals are libc calls: this module is the silo's system-call layer.
#![allow(unsafe_code)]

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::runtime::{NetworkMode, OutputSink};

/// Everything a silo needs to run one process.
#[derive(Debug, Clone)]
pub struct SiloSpec {
    /// Directory the overlay's relative `lowerdir` entries are resolved from.
    pub base_dir: PathBuf,
    /// Lower directories, highest priority first, relative to `base_dir` (kept short: the
    /// whole option string must fit in one page).
    pub lowerdirs: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    /// Where the overlay is mounted (the Wine prefix's `drive_c`).
    pub mount_point: PathBuf,
    /// Wineserver's socket directory (`/tmp/.wine-<uid>`), made private to the silo.
    pub server_dir: PathBuf,
    /// The program to execute and its argv (argv[0] included).
    pub program: PathBuf,
    pub argv: Vec<String>,
    /// The complete environment of the process.
    pub env: Vec<(String, String)>,
    /// Unix working directory inside the mounted overlay; created when missing.
    pub cwd: PathBuf,
    pub network: NetworkMode,
    pub hostname: String,
    pub timeout: Option<Duration>,
    /// How long the rest of the tree may take to finish after the step's process exited
    /// before it is terminated.
    pub grace: Duration,
    /// `RUN --mount`s, mounted in this order.
    pub binds: Vec<Bind>,
    /// The one CPU the silo's tree starts on (see [`StartupPin`]); `None` leaves the affinity
    /// as it is.
    pub startup_cpu: Option<usize>,
}

/// Wine's start-up in a silo — `wineboot`, `services.exe` reading every service of the image's
/// SYSTEM hive, `plugplay`, `winedevice` — is tens of thousands of request/reply round trips
/// with wineserver, one after the other. When client and server sit on different CPUs every
/// round trip is a cross-CPU wake-up, which on a virtual machine costs an inter-processor
/// interrupt; started on one CPU the same start-up takes half the CPU time (measured on the
/// 2-core build VM: `RUN echo` on a real Windows 10 SYSTEM hive 1.8–2.0 s instead of 2.5–3.6 s,
/// on the minimal hive 1.45–1.5 s instead of 1.75–1.9 s). So the silo's tree starts pinned to
/// one CPU, and the launcher (`silo-launch.exe`, which runs once start-up is over) gives the
/// step's own process the CPUs silo had (`original`, passed in [`super::launcher::AFFINITY_VAR`]);
/// what it starts inherits them. Wine's own services stay on the one CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartupPin {
    pub cpu: usize,
    /// The CPUs silo may run on, bit N for CPU N.
    pub original: u64,
}

/// The pin for a silo started now: the CPU this thread runs on (else the first allowed one).
/// `None` when there is only one CPU to run on, or CPUs beyond 63 (a Windows affinity mask
/// cannot name them).
pub fn startup_pin() -> Option<StartupPin> {
    // SAFETY: sched_getaffinity fills a cpu_set_t we own; sched_getcpu has no preconditions.
    let (set, current) = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        (set, libc::sched_getcpu())
    };
    let allowed: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: the index is below CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    if allowed.len() < 2 || allowed.iter().any(|&cpu| cpu >= 64) {
        return None;
    }
    let cpu = usize::try_from(current)
        .ok()
        .filter(|c| allowed.contains(c))
        .unwrap_or(allowed[0]);
    let original = allowed.iter().fold(0u64, |mask, &cpu| mask | 1 << cpu);
    Some(StartupPin { cpu, original })
}

/// A host directory or file bind-mounted into the silo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub source: PathBuf,
    /// Below `mount_point`; it and its missing parents are created in the overlay.
    pub target: PathBuf,
    pub read_only: bool,
    /// The source is a regular file (the mount point is an empty file).
    pub file: bool,
}

/// Why a silo could not run its process.
#[derive(Debug, thiserror::Error)]
pub enum SiloError {
    #[error("{0}")]
    Setup(String),
    #[error("the step did not finish within {0:?} and was killed with its whole process tree")]
    Timeout(Duration),
    #[error("I/O error while running the silo: {0}")]
    Io(#[from] io::Error),
}

/// Steps of the init, reported with errno when they fail.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    ParentDeathSignal = 1,
    PrivateMounts,
    ChangeDir,
    MountOverlay,
    MountProc,
    MountServerDir,
    Loopback,
    Hostname,
    MakeWorkdir,
    Fork,
    EnterWorkdir,
    Exec,
    Redirect,
    MountPoint,
    BindMount,
}

impl Stage {
    fn from_u32(v: u32) -> Option<Stage> {
        use Stage::*;
        [
            ParentDeathSignal,
            PrivateMounts,
            ChangeDir,
            MountOverlay,
            MountProc,
            MountServerDir,
            Loopback,
            Hostname,
            MakeWorkdir,
            Fork,
            EnterWorkdir,
            Exec,
            Redirect,
            MountPoint,
            BindMount,
        ]
        .into_iter()
        .find(|s| *s as u32 == v)
    }

    fn describe(self, spec: &SiloSpec, errno: i32) -> String {
        let err = io::Error::from_raw_os_error(errno);
        let perm = errno == libc::EPERM || errno == libc::EACCES;
        let need_root = if perm {
            " — the Wine silo needs root (or CAP_SYS_ADMIN) to mount inside its namespace"
        } else {
            ""
        };
        match self {
            Stage::ParentDeathSignal => format!("silo init: prctl(PR_SET_PDEATHSIG) failed: {err}"),
            Stage::PrivateMounts => {
                format!("silo init: making mounts private failed: {err}{need_root}")
            }
            Stage::ChangeDir => {
                format!("silo init: cannot enter {}: {err}", spec.base_dir.display())
            }
            Stage::MountOverlay => format!(
                "silo init: mounting the overlay root filesystem on {} failed: {err}{}",
                spec.mount_point.display(),
                if errno == libc::ENODEV {
                    " — the kernel lacks overlayfs (modprobe overlay, or use a kernel with CONFIG_OVERLAY_FS)".to_string()
                } else if errno == libc::EINVAL {
                    format!(
                        " — the state directory's file system cannot hold an overlay upper dir ({}); put the silo state dir on ext4/xfs/btrfs",
                        spec.upper.display()
                    )
                } else {
                    need_root.to_string()
                }
            ),
            Stage::MountProc => format!("silo init: mounting /proc failed: {err}{need_root}"),
            Stage::MountServerDir => format!(
                "silo init: mounting a private tmpfs on {} failed: {err}{need_root}",
                spec.server_dir.display()
            ),
            Stage::Loopback => format!("silo init: bringing up loopback failed: {err}"),
            Stage::Hostname => format!("silo init: sethostname failed: {err}"),
            Stage::MakeWorkdir => format!(
                "silo init: cannot create the working directory {}: {err}",
                spec.cwd.display()
            ),
            Stage::Fork => format!("silo init: fork failed: {err}"),
            Stage::EnterWorkdir => format!(
                "cannot enter the working directory {}: {err}",
                spec.cwd.display()
            ),
            Stage::Exec => format!("cannot execute {}: {err}", spec.program.display()),
            Stage::Redirect => format!("silo: redirecting output failed: {err}"),
            Stage::MountPoint | Stage::BindMount => {
                let binds: Vec<String> = spec
                    .binds
                    .iter()
                    .map(|b| format!("{} at {}", b.source.display(), b.target.display()))
                    .collect();
                let doing = match self {
                    Stage::MountPoint => "creating the mount points of",
                    _ => "bind-mounting",
                };
                format!(
                    "silo init: {doing} the RUN --mount sources ({}) failed: {err}{need_root}",
                    binds.join(", ")
                )
            }
        }
    }
}

fn cstring(s: impl AsRef<OsStr>) -> Result<CString, SiloError> {
    CString::new(s.as_ref().as_bytes()).map_err(|_| {
        SiloError::Setup(format!(
            "`{}` contains a NUL byte",
            s.as_ref().to_string_lossy()
        ))
    })
}

/// A [`Bind`] as the init needs it: C strings, the mount point's missing-parent candidates
/// (ancestor first) included.
struct PlannedBind {
    source: CString,
    target: CString,
    parents: Vec<CString>,
    read_only: bool,
    file: bool,
}

/// Everything the cloned init touches, prepared before the clone.
struct InitPlan {
    base_dir: CString,
    overlay_data: CString,
    mount_point: CString,
    server_dir: CString,
    mkdirs: Vec<CString>,
    binds: Vec<PlannedBind>,
    cwd: CString,
    program: CString,
    argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    env: Vec<CString>,
    env_ptrs: Vec<*const libc::c_char>,
    hostname: CString,
    network_none: bool,
    stdin_fd: RawFd,
    stdout_fd: RawFd,
    stderr_fd: RawFd,
    status_fd: RawFd,
    grace_ms: u64,
    pin: Option<libc::cpu_set_t>,
}

impl InitPlan {
    fn new(spec: &SiloSpec, fds: [RawFd; 4]) -> Result<InitPlan, SiloError> {
        let mut lowers = Vec::new();
        for l in &spec.lowerdirs {
            let s = l.to_string_lossy();
            if s.contains([':', ',', '\\']) {
                return Err(SiloError::Setup(format!(
                    "overlay lower directory {} contains `:`, `,` or `\\`, which overlayfs options cannot carry",
                    l.display()
                )));
            }
            lowers.push(s.into_owned());
        }
        for p in [&spec.upper, &spec.work] {
            if p.to_string_lossy().contains([':', ',']) {
                return Err(SiloError::Setup(format!(
                    "overlay directory {} contains `:` or `,`: move the silo state dir",
                    p.display()
                )));
            }
        }
        let data = format!(
            "lowerdir={},upperdir={},workdir={}",
            lowers.join(":"),
            spec.upper.display(),
            spec.work.display()
        );
        if data.len() >= 4000 {
            return Err(SiloError::Setup(format!(
                "{} image layers make the overlay mount options longer than a page; squash the image",
                spec.lowerdirs.len()
            )));
        }
        // mkdir -p of the working directory, ancestor first (only below the mount point).
        let mut mkdirs = Vec::new();
        if let Ok(rel) = spec.cwd.strip_prefix(&spec.mount_point) {
            let mut p = spec.mount_point.clone();
            for c in rel.components() {
                p.push(c);
                mkdirs.push(cstring(&p)?);
            }
        }
        let mut binds = Vec::new();
        for bind in &spec.binds {
            let Ok(rel) = bind.target.strip_prefix(&spec.mount_point) else {
                return Err(SiloError::Setup(format!(
                    "mount target {} is outside {}",
                    bind.target.display(),
                    spec.mount_point.display()
                )));
            };
            let mut parents = Vec::new();
            let mut p = spec.mount_point.clone();
            let components: Vec<_> = rel.components().collect();
            for c in components.iter().take(components.len().saturating_sub(1)) {
                p.push(c);
                parents.push(cstring(&p)?);
            }
            binds.push(PlannedBind {
                source: cstring(&bind.source)?,
                target: cstring(&bind.target)?,
                parents,
                read_only: bind.read_only,
                file: bind.file,
            });
        }
        let argv: Vec<CString> = spec.argv.iter().map(cstring).collect::<Result<_, _>>()?;
        let env: Vec<CString> = spec
            .env
            .iter()
            .map(|(k, v)| cstring(format!("{k}={v}")))
            .collect::<Result<_, _>>()?;
        let mut plan = InitPlan {
            base_dir: cstring(&spec.base_dir)?,
            overlay_data: cstring(data)?,
            mount_point: cstring(&spec.mount_point)?,
            server_dir: cstring(&spec.server_dir)?,
            mkdirs,
            binds,
            cwd: cstring(&spec.cwd)?,
            program: cstring(&spec.program)?,
            argv,
            argv_ptrs: Vec::new(),
            env,
            env_ptrs: Vec::new(),
            hostname: cstring(&spec.hostname)?,
            network_none: spec.network == NetworkMode::None,
            stdin_fd: fds[0],
            stdout_fd: fds[1],
            stderr_fd: fds[2],
            status_fd: fds[3],
            grace_ms: spec.grace.as_millis() as u64,
            pin: spec
                .startup_cpu
                .filter(|&cpu| cpu < libc::CPU_SETSIZE as usize)
                .map(|cpu| {
                    // SAFETY: an all-zero cpu_set_t is the empty set; the index is in range.
                    unsafe {
                        let mut set: libc::cpu_set_t = std::mem::zeroed();
                        libc::CPU_SET(cpu, &mut set);
                        set
                    }
                }),
        };
        plan.argv_ptrs = plan.argv.iter().map(|c| c.as_ptr()).collect();
        plan.argv_ptrs.push(std::ptr::null());
        plan.env_ptrs = plan.env.iter().map(|c| c.as_ptr()).collect();
        plan.env_ptrs.push(std::ptr::null());
        Ok(plan)
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two new descriptors we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Runs the silo to completion, streaming the process's output, and returns its exit code.
pub fn run(spec: &SiloSpec, output: &mut dyn OutputSink) -> Result<i32, SiloError> {
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (status_r, status_w) = pipe()?;
    let devnull = std::fs::File::open("/dev/null")?;
    let plan = InitPlan::new(
        spec,
        [
            devnull.as_raw_fd(),
            out_w.as_raw_fd(),
            err_w.as_raw_fd(),
            status_w.as_raw_fd(),
        ],
    )?;
    let mut flags =
        libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
    if spec.network == NetworkMode::None {
        flags |= libc::CLONE_NEWNET;
    }
    let mut stack = vec![0u8; 256 * 1024];
    // SAFETY: the stack is valid for the child's lifetime (the child has its own copy of the
    // address space: no CLONE_VM); `plan` outlives the clone call in the parent and is copied
    // with the address space into the child, which only reads it.
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(stack.len());
        let top = top.sub(top as usize % 16);
        libc::clone(
            init_main,
            top as *mut libc::c_void,
            flags | libc::SIGCHLD,
            &plan as *const InitPlan as *mut libc::c_void,
        )
    };
    if pid < 0 {
        let err = io::Error::last_os_error();
        let hint = match err.raw_os_error() {
            Some(libc::EPERM) => " — creating mount/pid/ipc/uts namespaces needs root (or CAP_SYS_ADMIN); run silo as root or use --runtime none",
            Some(libc::EINVAL) => " — the kernel does not support these namespaces (needs Linux ≥ 3.8 with CONFIG_PID_NS, CONFIG_IPC_NS, CONFIG_UTS_NS, CONFIG_NET_NS)",
            Some(libc::ENOSPC) | Some(libc::EUSERS) => " — the namespace limit is reached (see /proc/sys/user/max_*_namespaces)",
            _ => "",
        };
        return Err(SiloError::Setup(format!(
            "cannot create the silo's namespaces: {err}{hint}"
        )));
    }
    drop((out_w, err_w, status_w, devnull));
    let result = pump_output(pid, spec, &out_r, &err_r, output);
    let code = wait_for(pid);
    let failure = read_failure(&status_r, spec);
    match (result, failure) {
        (Err(e), _) => Err(e),
        (Ok(()), Some(message)) => Err(SiloError::Setup(message)),
        (Ok(()), None) => Ok(code),
    }
}

/// Streams both pipes into the sink until they close; kills the silo at the timeout.
fn pump_output(
    pid: libc::pid_t,
    spec: &SiloSpec,
    out: &OwnedFd,
    err: &OwnedFd,
    sink: &mut dyn OutputSink,
) -> Result<(), SiloError> {
    let deadline = spec.timeout.map(|t| Instant::now() + t);
    let mut open = [true, true];
    let mut buf = vec![0u8; 64 * 1024];
    while open[0] || open[1] {
        let mut fds = [
            libc::pollfd {
                fd: if open[0] { out.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if open[1] { err.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let wait_ms = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    // SAFETY: pid is our child; SIGKILL on the init ends the whole silo.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    wait_for(pid);
                    return Err(SiloError::Timeout(spec.timeout.unwrap_or_default()));
                }
                left.as_millis().min(1000) as i32
            }
            None => 1000,
        };
        // SAFETY: fds is a valid array of two pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, wait_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.into());
        }
        for (i, pfd) in fds.iter().enumerate() {
            if !open[i] || pfd.revents == 0 {
                continue;
            }
            // SAFETY: reading into our buffer from a descriptor we own.
            let r = unsafe { libc::read(pfd.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if r > 0 {
                let bytes = &buf[..r as usize];
                if i == 0 {
                    sink.stdout(bytes);
                } else {
                    sink.stderr(bytes);
                }
            } else if r == 0 {
                open[i] = false;
            } else {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e.into());
                }
            }
        }
    }
    Ok(())
}

/// Waits for the init and turns its status into an exit code (signals → 128 + n).
fn wait_for(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        if r < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return 255;
        }
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

fn read_failure(status: &OwnedFd, spec: &SiloSpec) -> Option<String> {
    let mut rec = [0u8; 8];
    // SAFETY: reading 8 bytes into an 8-byte buffer from a descriptor we own.
    let n = unsafe { libc::read(status.as_raw_fd(), rec.as_mut_ptr().cast(), 8) };
    if n != 8 {
        return None;
    }
    let stage = u32::from_ne_bytes([rec[0], rec[1], rec[2], rec[3]]);
    let errno = i32::from_ne_bytes([rec[4], rec[5], rec[6], rec[7]]);
    Some(match Stage::from_u32(stage) {
        Some(s) => s.describe(spec, errno),
        None => format!("silo init failed at an unknown stage {stage} (errno {errno})"),
    })
}

// ---------------------------------------------------------------------------------------------
// The child side. Only async-signal-safe system calls from here on: no allocation, no locks.

fn report(plan: &InitPlan, stage: Stage) -> ! {
    // SAFETY: errno location is thread-local and valid; write/_exit are async-signal-safe.
    unsafe {
        let errno = *libc::__errno_location();
        let mut rec = [0u8; 8];
        let s = (stage as u32).to_ne_bytes();
        let e = errno.to_ne_bytes();
        rec[..4].copy_from_slice(&s);
        rec[4..].copy_from_slice(&e);
        libc::write(plan.status_fd, rec.as_ptr().cast(), 8);
        libc::_exit(125)
    }
}

extern "C" fn init_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: arg points at the parent's InitPlan, copied into this process's address space.
    let plan = unsafe { &*(arg as *const InitPlan) };
    // SAFETY: plain system calls on prepared, NUL-terminated data.
    unsafe {
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        ) != 0
        {
            report(plan, Stage::ParentDeathSignal);
        }
        let none = std::ptr::null::<libc::c_char>();
        if libc::mount(
            none,
            c"/".as_ptr(),
            none,
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            report(plan, Stage::PrivateMounts);
        }
        if libc::chdir(plan.base_dir.as_ptr()) != 0 {
            report(plan, Stage::ChangeDir);
        }
        if libc::mount(
            c"overlay".as_ptr(),
            plan.mount_point.as_ptr(),
            c"overlay".as_ptr(),
            0,
            plan.overlay_data.as_ptr().cast(),
        ) != 0
        {
            report(plan, Stage::MountOverlay);
        }
        if libc::mount(
            c"proc".as_ptr(),
            c"/proc".as_ptr(),
            c"proc".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        ) != 0
        {
            report(plan, Stage::MountProc);
        }
        if libc::mount(
            c"tmpfs".as_ptr(),
            plan.server_dir.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            c"mode=0700".as_ptr().cast(),
        ) != 0
        {
            report(plan, Stage::MountServerDir);
        }
        if plan.network_none && !loopback_up() {
            report(plan, Stage::Loopback);
        }
        let host = plan.hostname.as_bytes();
        if libc::sethostname(host.as_ptr().cast(), host.len()) != 0 {
            report(plan, Stage::Hostname);
        }
        for dir in &plan.mkdirs {
            if libc::mkdir(dir.as_ptr(), 0o755) != 0 && *libc::__errno_location() != libc::EEXIST {
                report(plan, Stage::MakeWorkdir);
            }
        }
        for bind in &plan.binds {
            mount_bind(plan, bind);
        }
        // Start-up on one CPU (see `StartupPin`). Only speed depends on it, so a refusal
        // (a cpuset without that CPU) leaves the affinity as it was.
        if let Some(set) = &plan.pin {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set);
        }
        let worker = libc::fork();
        if worker < 0 {
            report(plan, Stage::Fork);
        }
        if worker == 0 {
            if libc::dup2(plan.stdin_fd, 0) < 0
                || libc::dup2(plan.stdout_fd, 1) < 0
                || libc::dup2(plan.stderr_fd, 2) < 0
            {
                report(plan, Stage::Redirect);
            }
            if libc::chdir(plan.cwd.as_ptr()) != 0 {
                report(plan, Stage::EnterWorkdir);
            }
            libc::execve(
                plan.program.as_ptr(),
                plan.argv_ptrs.as_ptr(),
                plan.env_ptrs.as_ptr(),
            );
            report(plan, Stage::Exec);
        }
        // The init keeps no output descriptors open, so the caller sees EOF once the tree is gone.
        libc::close(plan.stdout_fd);
        libc::close(plan.stderr_fd);
        libc::close(plan.stdin_fd);
        libc::_exit(reap(plan, worker))
    }
}

/// Makes `bind`'s mount point (and its missing parents) in the overlay and mounts it there.
///
/// # Safety
/// Called in the init only (async-signal-safe calls on prepared strings).
unsafe fn mount_bind(plan: &InitPlan, bind: &PlannedBind) {
    let exists = || *libc::__errno_location() == libc::EEXIST;
    for dir in &bind.parents {
        if libc::mkdir(dir.as_ptr(), 0o755) != 0 && !exists() {
            report(plan, Stage::MountPoint);
        }
    }
    if bind.file {
        let fd = libc::open(
            bind.target.as_ptr(),
            libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
            0o644,
        );
        if fd < 0 {
            report(plan, Stage::MountPoint);
        }
        libc::close(fd);
    } else if libc::mkdir(bind.target.as_ptr(), 0o755) != 0 && !exists() {
        report(plan, Stage::MountPoint);
    }
    let none = std::ptr::null::<libc::c_char>();
    if libc::mount(
        bind.source.as_ptr(),
        bind.target.as_ptr(),
        none,
        libc::MS_BIND | libc::MS_REC,
        std::ptr::null(),
    ) != 0
    {
        report(plan, Stage::BindMount);
    }
    // A bind mount takes MS_RDONLY only on a remount.
    if bind.read_only
        && libc::mount(
            none,
            bind.target.as_ptr(),
            none,
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
            std::ptr::null(),
        ) != 0
    {
        report(plan, Stage::BindMount);
    }
}

/// Reaps every child. After the step's process exits, the others get `grace_ms` to finish
/// (wineserver saves the registry and exits), then SIGTERM (wineserver flushes on it), then
/// SIGKILL. Returns the step's exit code.
unsafe fn reap(plan: &InitPlan, worker: libc::pid_t) -> libc::c_int {
    let mut code: libc::c_int = 255;
    let mut worker_done = false;
    let mut waited_ms: u64 = 0;
    let mut terminated = false;
    loop {
        let mut status = 0;
        let flags = if worker_done { libc::WNOHANG } else { 0 };
        let r = libc::waitpid(-1, &mut status, flags);
        if r == worker {
            worker_done = true;
            code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else if libc::WIFSIGNALED(status) {
                128 + libc::WTERMSIG(status)
            } else {
                255
            };
            continue;
        }
        if r > 0 {
            continue;
        }
        if r < 0 {
            let e = *libc::__errno_location();
            if e == libc::EINTR {
                continue;
            }
            // ECHILD: every process of the silo is gone.
            return code;
        }
        // r == 0: others still running after the step's process ended.
        let tick = libc::timespec {
            tv_sec: 0,
            tv_nsec: 10_000_000,
        };
        libc::nanosleep(&tick, std::ptr::null_mut());
        waited_ms += 10;
        if waited_ms >= plan.grace_ms && !terminated {
            libc::kill(-1, libc::SIGTERM);
            terminated = true;
        } else if waited_ms >= plan.grace_ms + 2000 {
            libc::kill(-1, libc::SIGKILL);
        }
    }
}

/// `ip link set lo up` with two ioctls.
unsafe fn loopback_up() -> bool {
    let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
    if fd < 0 {
        return false;
    }
    let mut req: libc::ifreq = std::mem::zeroed();
    for (i, b) in b"lo\0".iter().enumerate() {
        req.ifr_name[i] = *b as libc::c_char;
    }
    let ok = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) == 0 && {
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        libc::ioctl(fd, libc::SIOCSIFFLAGS, &mut req) == 0
    };
    libc::close(fd);
    ok
}

/// Makes `path` (and its parents) exist with mode 0700, for the wineserver socket directory.
pub fn ensure_private_dir(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}
