//! Platforms as `os/arch[/variant]` with the Windows `os.version` (BuildKit's `platform.go`):
//! parsing, normalizing, the host's platform and the default target.

/// A platform as `os/arch[/variant]`, with the Windows `os.version` when known.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: String,
    pub os_version: String,
}

const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "illumos",
    "ios",
    "js",
    "linux",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
];
const KNOWN_ARCH: &[&str] = &[
    "386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le", "mipsle", "ppc64",
    "ppc64le", "riscv64", "s390x", "wasm",
];

impl Platform {
    pub fn new(os: &str, arch: &str) -> Self {
        Platform {
            os: os.into(),
            arch: arch.into(),
            ..Default::default()
        }
    }

    /// The default target of silo: `windows/amd64`.
    pub fn windows_amd64() -> Self {
        Platform::new("windows", "amd64")
    }

    /// The platform silo runs on (BuildKit's `BUILDPLATFORM`).
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            other => other,
        };
        Platform::new(std::env::consts::OS, arch)
    }

    /// containerd's `platforms.Parse` for the forms Dockerfiles use: `os`, `os/arch`,
    /// `os/arch/variant`, `arch`, and `windows(10.0.20348.1)/amd64`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{}: unknown operating system or architecture: invalid argument",
                crate::dockerfile::goquote::quote(spec)
            )
        };
        let lowered = spec.to_lowercase();
        let parts: Vec<&str> = lowered.split('/').collect();
        if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let (os_part, os_version) = match parts[0].split_once('(') {
            Some((os, rest)) => (os, rest.strip_suffix(')').ok_or_else(bad)?.to_string()),
            None => (parts[0], String::new()),
        };
        let normalize_arch = |a: &str| match a {
            "x86_64" | "x86-64" => "amd64".to_string(),
            "aarch64" => "arm64".to_string(),
            "i386" => "386".to_string(),
            other => other.to_string(),
        };
        let host = Platform::host();
        let mut p = if parts.len() == 1 && !KNOWN_OS.contains(&os_part) {
            let arch = normalize_arch(os_part);
            if !KNOWN_ARCH.contains(&arch.as_str()) {
                return Err(bad());
            }
            Platform::new(&host.os, &arch)
        } else {
            if !KNOWN_OS.contains(&os_part) {
                return Err(bad());
            }
            let arch = parts.get(1).map(|a| normalize_arch(a)).unwrap_or(host.arch);
            if !KNOWN_ARCH.contains(&arch.as_str()) {
                return Err(bad());
            }
            Platform::new(os_part, &arch)
        };
        p.variant = parts.get(2).map(|v| v.to_string()).unwrap_or_default();
        p.os_version = os_version;
        Ok(p)
    }

    pub fn is_windows(&self) -> bool {
        self.os == "windows"
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}
