//! Host facts and the isolation decision: which Windows build the host runs, whether it is a
//! Server or client SKU, and whether an image can run process-isolated on it or needs Hyper-V
//! (research windows-layers.md §3.4, §4.2 — containerd's compatibility rule).

use registry_client::platform::Isolation;

/// What the HCS runtime needs to know about the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostFacts {
    pub major: u32,
    pub minor: u32,
    pub build: u32,
    /// Update build revision (the fourth number of `os.version`).
    pub ubr: u32,
    /// Windows Server (process isolation by default) vs client (Hyper-V by default).
    pub server: bool,
}

impl HostFacts {
    /// `10.0.<build>.<ubr>`, as images spell `os.version`.
    pub fn os_version(&self) -> String {
        format!("{}.{}.{}.{}", self.major, self.minor, self.build, self.ubr)
    }

    /// Docker's default: process isolation on Server, Hyper-V on client SKUs.
    pub fn default_isolation(&self) -> Isolation {
        if self.server {
            Isolation::Process
        } else {
            Isolation::HyperV
        }
    }
}

/// The isolation to use and, when silo chose Hyper-V by itself, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsolationDecision {
    pub isolation: Isolation,
    pub message: Option<String>,
}

/// Whether an image of `image_build` runs process-isolated on this host: major.minor equal;
/// before 20348 the build must match exactly; from 20348 on, any build from the newest LTSC
/// strictly below the host build (20348 or 26100) up to the host's own.
pub fn process_isolation_compatible(host: &HostFacts, image: (u32, u32, u32)) -> bool {
    let (major, minor, build) = image;
    if (major, minor) != (host.major, host.minor) {
        return false;
    }
    if host.build < 20348 {
        return build == host.build;
    }
    let oldest_supported = [26100, 20348]
        .into_iter()
        .find(|ltsc| *ltsc < host.build)
        .unwrap_or(20348);
    (oldest_supported..=host.build).contains(&build)
}

/// Parses `maj.min.build[.ubr]`.
pub fn parse_os_version(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

/// Picks the isolation for an image with `image_os_version` (empty = unknown: assumed to match).
/// `forced` is `--isolation`; without it the SKU default applies, and an image the host cannot
/// run process-isolated falls back to Hyper-V with a message.
pub fn decide_isolation(
    host: &HostFacts,
    image_os_version: &str,
    forced: Option<Isolation>,
) -> Result<IsolationDecision, String> {
    let image = if image_os_version.is_empty() {
        None
    } else {
        Some(parse_os_version(image_os_version).ok_or_else(|| {
            format!("the base image's os.version {image_os_version:?} is not maj.min.build[.ubr]")
        })?)
    };
    let process_ok = image.is_none_or(|i| process_isolation_compatible(host, i));
    let hyperv_ok = image.is_none_or(|(_, _, build)| build <= host.build);
    let host_version = host.os_version();
    match forced.unwrap_or(host.default_isolation()) {
        Isolation::Process if process_ok => Ok(IsolationDecision {
            isolation: Isolation::Process,
            message: None,
        }),
        Isolation::Process if forced.is_some() || !hyperv_ok => Err(format!(
            "the base image (os.version {image_os_version}) cannot run process-isolated on this \
             host ({host_version}){}",
            if hyperv_ok {
                "; use --isolation hyperv, or a base image built for this host's Windows build"
            } else {
                "; it is newer than the host, so use a base image for this host's build"
            }
        )),
        Isolation::Process => Ok(IsolationDecision {
            isolation: Isolation::HyperV,
            message: Some(format!(
                "the base image (os.version {image_os_version}) cannot run process-isolated on \
                 this host ({host_version}); running RUN steps with Hyper-V isolation"
            )),
        }),
        Isolation::HyperV if hyperv_ok => Ok(IsolationDecision {
            isolation: Isolation::HyperV,
            message: None,
        }),
        Isolation::HyperV => Err(format!(
            "the base image (os.version {image_os_version}) is newer than this host \
             ({host_version}); Hyper-V isolation runs only images of the host's build or older"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(build: u32, server: bool) -> HostFacts {
        HostFacts {
            major: 10,
            minor: 0,
            build,
            ubr: 1,
            server,
        }
    }

    #[test]
    fn compatibility_follows_the_ltsc_window() {
        let ws2019 = host(17763, true);
        assert!(process_isolation_compatible(&ws2019, (10, 0, 17763)));
        assert!(!process_isolation_compatible(&ws2019, (10, 0, 14393)));
        let ws2022 = host(20348, true);
        assert!(process_isolation_compatible(&ws2022, (10, 0, 20348)));
        assert!(!process_isolation_compatible(&ws2022, (10, 0, 17763)));
        let ws2025 = host(26100, true);
        assert!(process_isolation_compatible(&ws2025, (10, 0, 20348)));
        assert!(process_isolation_compatible(&ws2025, (10, 0, 26100)));
        let win11_25h2 = host(26200, false);
        assert!(!process_isolation_compatible(&win11_25h2, (10, 0, 20348)));
        assert!(process_isolation_compatible(&win11_25h2, (10, 0, 26100)));
        assert!(!process_isolation_compatible(&ws2025, (6, 3, 26100)));
    }

    #[test]
    fn decision_defaults_per_sku_falls_back_to_hyperv_and_honours_forcing() {
        let ws2022 = host(20348, true);
        let d = decide_isolation(&ws2022, "10.0.20348.2700", None).unwrap();
        assert_eq!((d.isolation, d.message), (Isolation::Process, None));
        let d = decide_isolation(&ws2022, "10.0.17763.1", None).unwrap();
        assert_eq!(d.isolation, Isolation::HyperV);
        assert!(d.message.unwrap().contains("Hyper-V"));
        let err = decide_isolation(&ws2022, "10.0.17763.1", Some(Isolation::Process)).unwrap_err();
        assert!(err.contains("--isolation hyperv"), "{err}");
        let err = decide_isolation(&ws2022, "10.0.26100.1", None).unwrap_err();
        assert!(err.contains("newer than the host"), "{err}");
        let client = host(22631, false);
        let d = decide_isolation(&client, "10.0.20348.1", None).unwrap();
        assert_eq!((d.isolation, d.message), (Isolation::HyperV, None));
        let err = decide_isolation(&client, "10.0.26100.1", Some(Isolation::HyperV)).unwrap_err();
        assert!(err.contains("newer than this host"), "{err}");
        assert!(decide_isolation(&client, "ten", None).is_err());
        let d = decide_isolation(&ws2022, "", None).unwrap();
        assert_eq!(d.isolation, Isolation::Process);
        assert_eq!(ws2022.os_version(), "10.0.20348.1");
    }
}
