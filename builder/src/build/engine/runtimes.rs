//! `--runtime auto|wine|hcs|none`: which [`Runtime`] runs RUN steps on this host.
//!
//! `auto` picks `hcs` on Windows and `wine` on Linux when they are available, else `none`
//! (COPY/ADD/metadata builds still work; a RUN step then fails naming what would run it).

use std::path::Path;

use crate::runtime::none::NoneRuntime;
#[cfg(target_os = "linux")]
use crate::runtime::wine::WineRuntime;
use crate::runtime::Runtime;

/// `--runtime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuntimeChoice {
    #[default]
    Auto,
    Wine,
    Hcs,
    None,
}

impl std::str::FromStr for RuntimeChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(RuntimeChoice::Auto),
            "wine" => Ok(RuntimeChoice::Wine),
            "hcs" => Ok(RuntimeChoice::Hcs),
            "none" => Ok(RuntimeChoice::None),
            _ => Err(format!("--runtime {s}: expected auto, wine, hcs or none")),
        }
    }
}

/// How the HCS runtime isolates a step (the registry client's type: it also decides which
/// index entries a host can run).
pub use registry_client::platform::Isolation;

/// `--isolation default|process|hyperv` (docker build's values). `default` (`None`) leaves the
/// choice to the host: process on Windows Server, Hyper-V on client Windows, and Hyper-V when
/// the base image's build cannot run process-isolated on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IsolationFlag(pub Option<Isolation>);

impl std::str::FromStr for IsolationFlag {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "default" => Ok(IsolationFlag(None)),
            "process" => Ok(IsolationFlag(Some(Isolation::Process))),
            "hyperv" => Ok(IsolationFlag(Some(Isolation::HyperV))),
            _ => Err(format!(
                "--isolation {s}: expected default, process or hyperv"
            )),
        }
    }
}

/// Why a named runtime cannot be used here.
#[derive(Debug, thiserror::Error)]
#[error("--runtime {name}: {reason}")]
pub struct RuntimeUnavailable {
    pub name: &'static str,
    pub reason: String,
}

/// The HCS runtime on a Windows host (layer folders under `<state_dir>/hcs`).
#[cfg(any(windows, feature = "check-windows"))]
fn hcs_runtime(
    isolation: Option<Isolation>,
    state_dir: &Path,
) -> Result<Box<dyn Runtime>, RuntimeUnavailable> {
    crate::runtime::hcs::HcsRuntime::on_host(state_dir, isolation)
        .map(|r| Box::new(r) as Box<dyn Runtime>)
        .map_err(|e| RuntimeUnavailable {
            name: "hcs",
            reason: format!("{e:#}"),
        })
}

#[cfg(not(any(windows, feature = "check-windows")))]
fn hcs_runtime(_: Option<Isolation>, _: &Path) -> Result<Box<dyn Runtime>, RuntimeUnavailable> {
    Err(RuntimeUnavailable {
        name: "hcs",
        reason: "HCS exists only on Windows hosts (Windows Server or Windows 11); on Linux \
                 use --runtime wine"
            .into(),
    })
}

/// The runtime for `choice`; `state_dir` is the store root (the Wine runtime keeps its system
/// layer and sandboxes there). `isolation` is `--isolation` (`None`: the host decides).
pub fn select(
    choice: RuntimeChoice,
    isolation: Option<Isolation>,
    state_dir: &Path,
) -> Result<Box<dyn Runtime>, RuntimeUnavailable> {
    if isolation == Some(Isolation::HyperV)
        && matches!(choice, RuntimeChoice::Wine | RuntimeChoice::None)
    {
        return Err(RuntimeUnavailable {
            name: if choice == RuntimeChoice::Wine {
                "wine"
            } else {
                "none"
            },
            reason: "--isolation hyperv needs --runtime hcs".into(),
        });
    }
    match choice {
        RuntimeChoice::None => Ok(Box::new(NoneRuntime::new())),
        // Wine's own preconditions (wine64 installed, namespaces allowed) are checked when the
        // first RUN step prepares a sandbox, with messages that say what to install or allow.
        RuntimeChoice::Wine => wine_runtime(state_dir),
        RuntimeChoice::Hcs => hcs_runtime(isolation, state_dir),
        RuntimeChoice::Auto if cfg!(windows) => hcs_runtime(isolation, state_dir)
            .or_else(|e| Ok(Box::new(NoneRuntime::fallback(e.reason)))),
        RuntimeChoice::Auto if wine_available() => wine_runtime(state_dir),
        RuntimeChoice::Auto => {
            let reason = "the Wine silo is not usable on this host (wine64 missing, or no \
                          permission for namespaces; `--runtime wine` says which)";
            Ok(Box::new(NoneRuntime::fallback(reason)))
        }
    }
}

/// The Wine silo: Linux only (namespaces, overlayfs).
#[cfg(target_os = "linux")]
fn wine_runtime(state_dir: &Path) -> Result<Box<dyn Runtime>, RuntimeUnavailable> {
    Ok(Box::new(WineRuntime::new(state_dir)))
}
#[cfg(not(target_os = "linux"))]
fn wine_runtime(_state_dir: &Path) -> Result<Box<dyn Runtime>, RuntimeUnavailable> {
    Err(RuntimeUnavailable {
        name: "wine",
        reason: "the Wine silo runs on Linux hosts only; on Windows use --runtime hcs".into(),
    })
}

#[cfg(target_os = "linux")]
fn wine_available() -> bool {
    WineRuntime::available()
}
#[cfg(not(target_os = "linux"))]
fn wine_available() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_and_auto_always_give_a_runtime() {
        let dir = Path::new("/nonexistent");
        let none = select(RuntimeChoice::None, None, dir).unwrap();
        assert_eq!(none.name(), "none");
        assert!(select(RuntimeChoice::Auto, Some(Isolation::Process), dir).is_ok());
        let err = select(RuntimeChoice::None, Some(Isolation::HyperV), dir)
            .err()
            .unwrap();
        assert!(err.to_string().contains("hcs"), "{err}");
        assert!("bogus".parse::<RuntimeChoice>().is_err());
    }

    #[test]
    fn isolation_flag_takes_dockers_values() {
        let parse = |s: &str| s.parse::<IsolationFlag>().map(|f| f.0);
        assert_eq!(parse("default"), Ok(None));
        assert_eq!(parse("process"), Ok(Some(Isolation::Process)));
        assert_eq!(parse("hyperv"), Ok(Some(Isolation::HyperV)));
        assert!(parse("xenon")
            .unwrap_err()
            .contains("default, process or hyperv"));
    }
}
