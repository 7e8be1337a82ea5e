//! silo.exe under Wine: the Windows build of silo (`x86_64-pc-windows-gnu`, cross-built with
//! mingw-w64) run on this Linux host, so every Windows code path except HCS itself runs in the
//! test suite (tests/windows_exe.rs).
//!
//! - [`WindowsSilo::get`] finds the parts — the rustup target, mingw-w64's gcc, Wine's 64-bit
//!   loader — and `target/x86_64-pc-windows-gnu/debug/silo.exe`, refusing one older than silo's
//!   sources. Without the parts a test skips ([`crate::skip`]), unless `CI=true`, where it fails.
//! - One Wine prefix per test run (`target/silo-exe-wineprefix`), made on first use; when that
//!   Wine has no `bcryptprimitives.dll` (Wine < 9; Rust's std imports `ProcessPrng` from it on
//!   Windows) the real function over `RtlGenRandom` is built from `wine/bcryptprimitives.c` and
//!   installed into that prefix only.
//! - Paths given to silo.exe are Windows paths on Wine's `Z:` drive ([`WindowsSilo::path`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::project_root;
use crate::tools::{find_on_path, run_ok};

/// The Rust target silo.exe is built for.
pub const TARGET: &str = "x86_64-pc-windows-gnu";
/// The command that builds it (scripts/test runs it before the tests).
pub const BUILD: &str = "cargo build --target x86_64-pc-windows-gnu -p silo";

/// silo.exe and the Wine that runs it.
pub struct WindowsSilo {
    pub exe: PathBuf,
    wine: PathBuf,
    prefix: PathBuf,
}

impl WindowsSilo {
    /// The Windows silo, ready to run; `None` (after saying why) when a part is missing and
    /// `CI` is not `true`.
    pub fn get() -> Option<&'static WindowsSilo> {
        static SILO: OnceLock<Result<WindowsSilo, String>> = OnceLock::new();
        match SILO.get_or_init(WindowsSilo::prepare) {
            Ok(silo) => Some(silo),
            Err(missing) => {
                crate::skip("silo.exe under Wine", missing);
                None
            }
        }
    }

    fn prepare() -> Result<WindowsSilo, String> {
        let installed = Command::new("rustup")
            .args(["target", "list", "--installed"])
            .output()
            .map_err(|e| format!("rustup: {e}"))?;
        if !String::from_utf8_lossy(&installed.stdout)
            .lines()
            .any(|l| l.trim() == TARGET)
        {
            return Err(format!(
                "the rustup target {TARGET} is not installed (scripts/install-test-deps adds it)"
            ));
        }
        find_on_path("x86_64-w64-mingw32-gcc").ok_or(
            "mingw-w64 is not installed (Debian package gcc-mingw-w64-x86-64; \
             scripts/install-test-deps installs it)",
        )?;
        let wine = ["/usr/lib/wine/wine64", "/usr/lib64/wine/wine64"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .or_else(|| find_on_path("wine64"))
            .ok_or("Wine's 64-bit loader is not installed (Debian package wine64)")?;
        let exe = project_root().join(format!("target/{TARGET}/debug/silo.exe"));
        if !exe.is_file() {
            // The parts are here, so a missing exe is a failure, not a skip.
            panic!(
                "{} is missing: run `{BUILD}` (scripts/test does)",
                exe.display()
            );
        }
        crate::assert_current(&exe, BUILD);
        let prefix = project_root().join("target/silo-exe-wineprefix");
        let silo = WindowsSilo { exe, wine, prefix };
        silo.prepare_prefix();
        Ok(silo)
    }

    /// Makes the Wine prefix once (`wineboot --init`) and adds `bcryptprimitives.dll` when
    /// this Wine lacks it.
    fn prepare_prefix(&self) {
        let system32 = self.prefix.join("drive_c/windows/system32");
        if !system32.join("kernel32.dll").is_file() {
            run_ok(self.wine_command().args(["wineboot", "--init"]));
        }
        let dll = system32.join("bcryptprimitives.dll");
        if !dll.is_file() {
            let source = project_root().join("tests/harness/wine");
            run_ok(
                Command::new("x86_64-w64-mingw32-gcc")
                    .args(["-O2", "-shared", "-o"])
                    .arg(&dll)
                    .arg(source.join("bcryptprimitives.c"))
                    .arg(source.join("bcryptprimitives.def"))
                    .arg("-ladvapi32"),
            );
        }
    }

    fn wine_command(&self) -> Command {
        let mut cmd = Command::new(&self.wine);
        cmd.env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            // No window system: Wine must not try to open a display.
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        cmd
    }

    /// A `silo.exe ARGS…` command under Wine.
    pub fn command(&self) -> Command {
        let mut cmd = self.wine_command();
        cmd.arg(&self.exe);
        cmd
    }

    /// Runs silo.exe with `args`; the output, whatever the status.
    pub fn run(&self, args: &[String]) -> Output {
        self.command()
            .args(args)
            .output()
            .expect("start silo.exe under Wine")
    }

    /// `path` as silo.exe sees it: a Windows path on Wine's `Z:` drive (the Linux root).
    pub fn path(path: &Path) -> String {
        let absolute = std::path::absolute(path).expect("absolute path");
        format!("Z:{}", absolute.display()).replace('/', "\\")
    }
}
