//! The host contract: everything the engine needs from the outside world (console, the `C:`
//! directory, the registry, native processes, HTTP), plus in-memory/test implementations
//! (`MemRegistry`, `TestHost`) used by the crate's own tests.
//!
//! The silo implements `Host` over the Wine silo; the engine itself never touches the network
//! or starts processes directly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The two hives a script can reach through `HKLM:` and `HKCU:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hive {
    LocalMachine,
    CurrentUser,
}

/// A registry value as regf stores it: kind 1 REG_SZ, 2 EXPAND_SZ, 3 BINARY, 4 DWORD, 7 MULTI_SZ,
/// 11 QWORD; `data` raw little-endian bytes (strings UTF-16LE with terminating NUL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegValue {
    pub name: String,
    pub kind: u32,
    pub data: Vec<u8>,
}

/// Registry value kinds (winnt.h numbers).
pub const REG_SZ: u32 = 1;
pub const REG_EXPAND_SZ: u32 = 2;
pub const REG_BINARY: u32 = 3;
pub const REG_DWORD: u32 = 4;
pub const REG_MULTI_SZ: u32 = 7;
pub const REG_QWORD: u32 = 11;

impl RegValue {
    /// A string value (`REG_SZ` or `REG_EXPAND_SZ`) encoded as Windows stores it: UTF-16LE plus NUL.
    pub fn string(name: &str, kind: u32, text: &str) -> RegValue {
        let mut data = utf16le(text);
        data.extend_from_slice(&[0, 0]);
        RegValue {
            name: name.to_string(),
            kind,
            data,
        }
    }

    /// A `REG_MULTI_SZ`: each string NUL-terminated, then one more NUL.
    pub fn multi(name: &str, items: &[String]) -> RegValue {
        let mut data = Vec::new();
        for s in items {
            data.extend(utf16le(s));
            data.extend_from_slice(&[0, 0]);
        }
        data.extend_from_slice(&[0, 0]);
        RegValue {
            name: name.to_string(),
            kind: REG_MULTI_SZ,
            data,
        }
    }

    /// Decodes string data (REG_SZ/EXPAND_SZ): UTF-16LE up to the first NUL.
    pub fn as_text(&self) -> String {
        let units: Vec<u16> = self
            .data
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
        String::from_utf16_lossy(&units[..end])
    }

    /// Decodes REG_MULTI_SZ data into its strings.
    pub fn as_multi(&self) -> Vec<String> {
        let units: Vec<u16> = self
            .data
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let mut out = Vec::new();
        for part in units.split(|&u| u == 0) {
            if part.is_empty() {
                break;
            }
            out.push(String::from_utf16_lossy(part));
        }
        out
    }
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

/// A failure of the outside world (I/O, registry, process start, network), with the reason.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HostError(pub String);

/// Key paths are relative to the hive, `\`-separated, case-insensitive, e.g. `SOFTWARE\Foo`,
/// `SYSTEM\CurrentControlSet\Control\Session Manager\Environment`.
pub trait Registry {
    fn key_exists(&mut self, hive: Hive, path: &str) -> Result<bool, HostError>;
    /// Creates the key and its missing parents; Ok(false) when it existed.
    fn create_key(&mut self, hive: Hive, path: &str) -> Result<bool, HostError>;
    fn delete_key(&mut self, hive: Hive, path: &str, recursive: bool) -> Result<(), HostError>;
    fn subkeys(&mut self, hive: Hive, path: &str) -> Result<Vec<String>, HostError>;
    fn values(&mut self, hive: Hive, path: &str) -> Result<Vec<RegValue>, HostError>;
    fn set_value(&mut self, hive: Hive, path: &str, value: RegValue) -> Result<(), HostError>;
    fn delete_value(&mut self, hive: Hive, path: &str, name: &str) -> Result<(), HostError>;
}

/// A native program to start (through Wine in the silo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeRequest {
    /// Resolved Windows path of the program (`C:\Windows\System32\cmd.exe`).
    pub program: String,
    /// The complete Windows command line (program first), built with the quoting rules of
    /// PowerShell 5.1's native-argument passing.
    pub command_line: String,
    /// Windows working directory (`C:\app`).
    pub cwd: String,
    /// The complete environment block of the new process.
    pub env: Vec<(String, String)>,
    /// Capture stdout (assignment, pipeline into a cmdlet) instead of writing it to the host.
    pub capture_stdout: bool,
}

/// How a native program ended; `stdout` holds its output when it was captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeResult {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
}

/// Status and headers of an HTTP GET (the body went to the sink).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

/// An item's access control as Get-Acl shows it. The host reads it: only the host knows which
/// descriptor the item will have in the step's layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclView {
    /// The self-relative binary descriptor (handed back to `Host::set_acl` by Set-Acl).
    pub descriptor: Vec<u8>,
    /// Owner and group as account names (`BUILTIN\Administrators`), or SID strings.
    pub owner: String,
    pub group: String,
    /// .NET's `AreAccessRulesCanonical` / `AreAccessRulesProtected`.
    pub canonical: bool,
    pub protected: bool,
}

/// What the engine needs from its surroundings.
pub trait Host {
    fn stdout(&mut self, text: &str);
    fn stderr(&mut self, text: &str);
    /// Unix directory that is drive C:\ (the engine does file I/O itself, with Windows rules, via winfs).
    fn drive_c(&self) -> &Path;
    fn registry(&mut self) -> &mut dyn Registry;
    fn run_native(&mut self, req: &NativeRequest) -> Result<NativeResult, HostError>;
    /// GET `url` following redirects; the body goes to `sink`. Errors (network off, TLS, DNS) say why.
    fn http_get(
        &mut self,
        url: &str,
        headers: &[(String, String)],
        sink: &mut dyn std::io::Write,
    ) -> Result<HttpResponse, HostError>;
    /// The access control of the file or directory at `path` (under `drive_c`).
    fn get_acl(&mut self, path: &Path) -> Result<AclView, HostError>;
    /// Writes `descriptor` (from `get_acl`) to the item at `path`; refuses what the host
    /// cannot apply exactly, saying why.
    fn set_acl(&mut self, path: &Path, descriptor: &[u8]) -> Result<(), HostError>;
}

/// An in-memory registry with the same rules as the real one (case-insensitive key and value
/// names that keep their first spelling, parents created with a key, non-recursive delete of a
/// key with subkeys refused).
#[derive(Debug, Default, Clone)]
pub struct MemRegistry {
    /// (hive, lower-cased full path) → key.
    keys: BTreeMap<(Hive, String), MemKey>,
}

#[derive(Debug, Default, Clone)]
struct MemKey {
    /// The full path as first spelled (what `subkeys` reports).
    path: String,
    values: Vec<RegValue>,
}

fn norm_key(path: &str) -> String {
    path.trim_matches('\\')
        .split('\\')
        .filter(|c| !c.is_empty())
        .collect::<Vec<_>>()
        .join("\\")
        .to_lowercase()
}

impl MemRegistry {
    pub fn new() -> MemRegistry {
        MemRegistry::default()
    }

    /// The value `name` of key `path`, if both exist (for test assertions).
    pub fn value(&self, hive: Hive, path: &str, name: &str) -> Option<&RegValue> {
        self.keys
            .get(&(hive, norm_key(path)))?
            .values
            .iter()
            .find(|v| v.name.eq_ignore_ascii_case(name))
    }

    fn key(&mut self, hive: Hive, path: &str) -> Result<&mut MemKey, HostError> {
        self.keys
            .get_mut(&(hive, norm_key(path)))
            .ok_or_else(|| HostError(format!("registry key {path} does not exist")))
    }
}

impl Registry for MemRegistry {
    fn key_exists(&mut self, hive: Hive, path: &str) -> Result<bool, HostError> {
        let p = norm_key(path);
        Ok(p.is_empty() || self.keys.contains_key(&(hive, p)))
    }

    fn create_key(&mut self, hive: Hive, path: &str) -> Result<bool, HostError> {
        let p = norm_key(path);
        if p.is_empty() || self.keys.contains_key(&(hive, p.clone())) {
            return Ok(false);
        }
        let spelled: Vec<&str> = path.split('\\').filter(|c| !c.is_empty()).collect();
        for i in 1..=spelled.len() {
            let full = spelled[..i].join("\\");
            self.keys
                .entry((hive, full.to_lowercase()))
                .or_insert_with(|| MemKey {
                    path: full.clone(),
                    values: Vec::new(),
                });
        }
        Ok(true)
    }

    fn delete_key(&mut self, hive: Hive, path: &str, recursive: bool) -> Result<(), HostError> {
        let p = norm_key(path);
        if !self.keys.contains_key(&(hive, p.clone())) {
            return Err(HostError(format!("registry key {path} does not exist")));
        }
        let prefix = format!("{p}\\");
        let children: Vec<(Hive, String)> = self
            .keys
            .keys()
            .filter(|(h, k)| *h == hive && k.starts_with(&prefix))
            .cloned()
            .collect();
        if !children.is_empty() && !recursive {
            return Err(HostError(format!("registry key {path} has subkeys")));
        }
        for c in children {
            self.keys.remove(&c);
        }
        self.keys.remove(&(hive, p));
        Ok(())
    }

    fn subkeys(&mut self, hive: Hive, path: &str) -> Result<Vec<String>, HostError> {
        let p = norm_key(path);
        let prefix = if p.is_empty() {
            String::new()
        } else {
            format!("{p}\\")
        };
        Ok(self
            .keys
            .iter()
            .filter(|((h, k), _)| *h == hive && k.starts_with(&prefix) && k.len() > prefix.len())
            .filter(|((_, k), _)| !k[prefix.len()..].contains('\\'))
            .map(|(_, key)| key.path.rsplit('\\').next().unwrap_or("").to_string())
            .collect())
    }

    fn values(&mut self, hive: Hive, path: &str) -> Result<Vec<RegValue>, HostError> {
        Ok(self.key(hive, path)?.values.clone())
    }

    fn set_value(&mut self, hive: Hive, path: &str, value: RegValue) -> Result<(), HostError> {
        let key = self.key(hive, path)?;
        match key
            .values
            .iter_mut()
            .find(|v| v.name.eq_ignore_ascii_case(&value.name))
        {
            Some(v) => {
                v.kind = value.kind;
                v.data = value.data;
            }
            None => key.values.push(value),
        }
        Ok(())
    }

    fn delete_value(&mut self, hive: Hive, path: &str, name: &str) -> Result<(), HostError> {
        let key = self.key(hive, path)?;
        let before = key.values.len();
        key.values.retain(|v| !v.name.eq_ignore_ascii_case(name));
        if key.values.len() == before {
            return Err(HostError(format!("value {name} does not exist")));
        }
        Ok(())
    }
}

/// A host for tests: `C:` is a directory of the caller's choosing, the registry is a
/// `MemRegistry`, native commands are recorded and answered from a script of results, HTTP is
/// answered from a map of URL → body. Console output is collected.
pub struct TestHost {
    pub drive: PathBuf,
    pub registry: MemRegistry,
    pub out: String,
    pub err: String,
    /// Every native request, in order.
    pub native_requests: Vec<NativeRequest>,
    /// Exit code and stdout per program file name (lower-case, e.g. `git.exe`); default 0 / empty.
    pub native_results: BTreeMap<String, NativeResult>,
    /// URL → body; other URLs fail like an unreachable host.
    pub http: BTreeMap<String, Vec<u8>>,
    /// Every URL requested, with its headers.
    pub http_requests: Vec<(String, Vec<(String, String)>)>,
    /// What `get_acl` answers for every path.
    pub acl: AclView,
    /// Every `set_acl` call: path and descriptor.
    pub acl_writes: Vec<(PathBuf, Vec<u8>)>,
}

impl TestHost {
    pub fn new(drive: &Path) -> TestHost {
        TestHost {
            drive: drive.to_path_buf(),
            registry: MemRegistry::new(),
            out: String::new(),
            err: String::new(),
            native_requests: Vec::new(),
            native_results: BTreeMap::new(),
            http: BTreeMap::new(),
            http_requests: Vec::new(),
            acl: AclView {
                descriptor: b"test descriptor".to_vec(),
                owner: "BUILTIN\\Administrators".into(),
                group: "NT AUTHORITY\\SYSTEM".into(),
                canonical: true,
                protected: false,
            },
            acl_writes: Vec::new(),
        }
    }
}

impl Host for TestHost {
    fn stdout(&mut self, text: &str) {
        self.out.push_str(text);
    }
    fn stderr(&mut self, text: &str) {
        self.err.push_str(text);
    }
    fn drive_c(&self) -> &Path {
        &self.drive
    }
    fn registry(&mut self) -> &mut dyn Registry {
        &mut self.registry
    }
    fn run_native(&mut self, req: &NativeRequest) -> Result<NativeResult, HostError> {
        self.native_requests.push(req.clone());
        let file = req.program.rsplit('\\').next().unwrap_or("").to_lowercase();
        let result = self
            .native_results
            .get(&file)
            .cloned()
            .unwrap_or(NativeResult {
                exit_code: 0,
                stdout: Vec::new(),
            });
        if !req.capture_stdout {
            let text = String::from_utf8_lossy(&result.stdout).into_owned();
            self.out.push_str(&text);
            return Ok(NativeResult {
                exit_code: result.exit_code,
                stdout: Vec::new(),
            });
        }
        Ok(result)
    }
    fn http_get(
        &mut self,
        url: &str,
        headers: &[(String, String)],
        sink: &mut dyn std::io::Write,
    ) -> Result<HttpResponse, HostError> {
        self.http_requests.push((url.to_string(), headers.to_vec()));
        match self.http.get(url) {
            Some(body) => {
                sink.write_all(body).map_err(|e| HostError(e.to_string()))?;
                Ok(HttpResponse {
                    status: 200,
                    headers: vec![("Content-Type".into(), "application/octet-stream".into())],
                })
            }
            None => Err(HostError(format!(
                "Unable to connect to the remote server ({url})"
            ))),
        }
    }
    fn get_acl(&mut self, path: &Path) -> Result<AclView, HostError> {
        if path.exists() {
            Ok(self.acl.clone())
        } else {
            Err(HostError(format!("{} does not exist", path.display())))
        }
    }
    fn set_acl(&mut self, path: &Path, descriptor: &[u8]) -> Result<(), HostError> {
        self.acl_writes
            .push((path.to_path_buf(), descriptor.to_vec()));
        Ok(())
    }
}
