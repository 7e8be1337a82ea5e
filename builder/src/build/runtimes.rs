//! `--runtime auto|wine|hcs|none`: which [`Runtime`] runs RUN steps on this host.
//!
//! `auto` picks `hcs` on Windows and `wine` on Linux when they are available, else `none`
//! (COPY/ADD/metadata builds still work; a RUN step then fails naming what would run it).

use crate::runtime::none::NoneRuntime;
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

/// `--isolation` (HCS only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    #[default]
    Process,
    HyperV,
}

impl std::str::FromStr for Isolation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "process" => Ok(Isolation::Process),
            "hyperv" => Ok(Isolation::HyperV),
            _ => Err(format!("--isolation {s}: expected process or hyperv")),
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

fn wine_unavailable() -> String {
    "the Wine silo runtime is not part of this silo build yet (issue 7)".into()
}

fn hcs_unavailable() -> String {
    if cfg!(windows) {
        "the HCS runtime is not part of this silo build yet (issue 8)".into()
    } else {
        "HCS exists only on Windows hosts (Windows Server or Windows 11); on Linux use --runtime wine".into()
    }
}

/// The runtime for `choice`.
pub fn select(
    choice: RuntimeChoice,
    isolation: Isolation,
) -> Result<Box<dyn Runtime>, RuntimeUnavailable> {
    if isolation == Isolation::HyperV && matches!(choice, RuntimeChoice::Wine | RuntimeChoice::None)
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
        RuntimeChoice::Wine => Err(RuntimeUnavailable {
            name: "wine",
            reason: wine_unavailable(),
        }),
        RuntimeChoice::Hcs => Err(RuntimeUnavailable {
            name: "hcs",
            reason: hcs_unavailable(),
        }),
        RuntimeChoice::Auto => {
            let reason = if cfg!(windows) {
                hcs_unavailable()
            } else {
                wine_unavailable()
            };
            Ok(Box::new(NoneRuntime::fallback(reason)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_and_auto_always_give_a_runtime() {
        assert_eq!(
            select(RuntimeChoice::None, Isolation::Process)
                .unwrap()
                .name(),
            "none"
        );
        assert!(select(RuntimeChoice::Auto, Isolation::Process).is_ok());
        let err = select(RuntimeChoice::None, Isolation::HyperV)
            .err()
            .unwrap();
        assert!(err.to_string().contains("hcs"), "{err}");
        assert!("bogus".parse::<RuntimeChoice>().is_err());
    }
}
