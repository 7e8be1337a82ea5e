//! silo's own Windows programs in the silo: a working `setx.exe`, and stand-ins for the Wine
//! stubs that [`super::stubs`] refuses as a whole, which print the reason and fail — so a stub
//! reached where the up-front check cannot see (a batch file, an installer) still fails loudly.
//!
//! They live in a *tools layer*: `<state>/wine/tools/<sha256 of the contents>/Windows/System32/`,
//! an overlay lower dir between the image's layers and the Wine system layer (an image's own
//! program of the same name wins; nothing of the tools layer is ever exported). Wine runs the
//! programs of its system directory builtin-first, so the silo's `WINEDLLOVERRIDES` names each
//! of them `=n` (native) — see [`dll_overrides`].
//!
//! `setx.exe` supports `setx [/M] NAME VALUE` (the switch anywhere, `-M` too):
//! - `/M` writes `HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\Environment\NAME` as
//!   Windows' setx does: REG_EXPAND_SZ when the value holds a `%`, else REG_SZ, the value cut
//!   to 1024 characters with setx's warning; it prints setx's `SUCCESS: Specified value was
//!   saved.`. Later steps see it in their environment (Wine builds a process's environment from
//!   the machine and user Environment keys, as Windows does).
//! - without `/M` (the user's `HKCU\Environment`) it fails: a user profile hive is not part of a
//!   Wine silo's layer (see docs/wine.md), so the value would be lost after the step.
//! - other switches (`/S`, `/U`, `/K`, `/F`, …) fail naming the supported form.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};

use super::pe::{cc, Program};
use super::stubs::{Verdict, REFUSED_EXIT, STUBS};

const K32: &str = "KERNEL32.dll";
const ADVAPI: &str = "ADVAPI32.dll";
const SHELL32: &str = "SHELL32.dll";

/// The machine Environment key, below HKLM.
pub const MACHINE_ENVIRONMENT: &str =
    r"SYSTEM\CurrentControlSet\Control\Session Manager\Environment";

/// What silo's setx prints when asked for the user's environment.
pub const SETX_USER_SCOPE: &str = "ERROR: silo's setx writes the machine environment only \
(setx /M NAME VALUE): the user's HKCU\\Environment lives in the profile hive, which the Wine \
silo does not carry into the layer.\r\n";

/// What silo's setx prints for other forms.
pub const SETX_SYNTAX: &str = "ERROR: Invalid syntax. silo's setx supports `setx /M NAME VALUE` \
only (no /S, /U, /P, /K, /F, /A, /R, /D, /X).\r\n";

/// The programs of the tools layer: (file name in System32, bytes).
pub fn programs() -> Vec<(String, Vec<u8>)> {
    let mut out = vec![("setx.exe".to_string(), setx_exe())];
    for stub in STUBS {
        if let Verdict::Refused(reason) = stub.verdict {
            let text = format!(
                "silo: {}.exe cannot run in the Wine silo: {reason}. See \"What Wine only \
                 pretends to do\" in silo's docs/wine.md.\r\n",
                stub.program
            );
            out.push((format!("{}.exe", stub.program), refusing_exe(&text)));
        }
    }
    out
}

/// `WINEDLLOVERRIDES` entries that make Wine run the tools layer's programs instead of its
/// builtins (`setx.exe=n;dism.exe=n;…`).
pub fn dll_overrides() -> String {
    programs()
        .iter()
        .map(|(name, _)| format!("{name}=n"))
        .collect::<Vec<_>>()
        .join(";")
}

/// Makes (once; content-addressed) the tools layer under `state_dir` and returns the lower
/// dir to give overlayfs.
pub fn ensure(state_dir: &Path) -> anyhow::Result<PathBuf> {
    let programs = programs();
    let mut h = Sha256::new();
    for (name, bytes) in &programs {
        h.update(name.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    let hex = format!("{:x}", h.finalize());
    let root = state_dir.join("wine").join("tools");
    let dir = root.join(&hex[..16]);
    if dir.is_dir() {
        return Ok(dir);
    }
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let tmp = root.join(format!(".{}.{}.tmp", &hex[..16], std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let sys = tmp.join("Windows/System32");
    std::fs::create_dir_all(&sys).with_context(|| format!("creating {}", sys.display()))?;
    for (name, bytes) in &programs {
        std::fs::write(sys.join(name), bytes)
            .with_context(|| format!("writing {}", sys.join(name).display()))?;
    }
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => Ok(dir),
        // Another build made it at the same time.
        Err(_) if dir.is_dir() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(dir)
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", dir.display())),
    }
}

/// A program that writes `text` to stderr and exits with [`REFUSED_EXIT`].
pub fn refusing_exe(text: &str) -> Vec<u8> {
    let mut a = Program::new();
    a.bytes(&[0x48, 0x83, 0xEC, 0x68]); // sub rsp, 0x68
    a.write_std(-12, text);
    a.exit(REFUSED_EXIT);
    a.image()
}

/// silo's `setx.exe` (see the module documentation).
pub fn setx_exe() -> Vec<u8> {
    let mut a = Program::new();
    let argc = a.bss(8);
    let argv = a.bss(8);
    let i = a.bss(8);
    let cur = a.bss(8);
    let name = a.bss(8);
    let value = a.bss(8);
    let machine = a.bss(8);
    let kind = a.bss(8);
    let hkey = a.bss(8);
    let slash_m = a.wide("/M");
    let dash_m = a.wide("-M");
    let subkey = a.wide(MACHINE_ENVIRONMENT);
    let (next, top, done, is_m, set_value, scan, expand, scanned, short) = (
        a.label(),
        a.label(),
        a.label(),
        a.label(),
        a.label(),
        a.label(),
        a.label(),
        a.label(),
        a.label(),
    );
    let (syntax, user_scope, reg_failed) = (a.label(), a.label(), a.label());

    a.bytes(&[0x48, 0x83, 0xEC, 0x68]); // sub rsp, 0x68
                                        // argv = CommandLineToArgvW(GetCommandLineW(), &argc)
    a.call(K32, "GetCommandLineW");
    a.bytes(&[0x48, 0x89, 0xC1]); // mov rcx, rax
    a.lea([0x48, 0x15], argc);
    a.call(SHELL32, "CommandLineToArgvW");
    a.rip(&[0x48, 0x89, 0x05], argv, 0, &[]); // mov [argv], rax
    a.rip(&[0xC7, 0x05], i, 0, &1u32.to_le_bytes()); // mov dword [i], 1
                                                     // for (i = 1; i < argc; i++): /M or -M sets `machine`; another switch is refused; the
                                                     // first other word is the name, the second the value, a third is an error.
    a.bind(top);
    a.rip(&[0x8B, 0x05], i, 0, &[]); // mov eax,[i]
    a.rip(&[0x3B, 0x05], argc, 0, &[]); // cmp eax,[argc]
    a.jcc(cc::GE, done);
    a.rip(&[0x48, 0x8B, 0x0D], argv, 0, &[]); // mov rcx,[argv]
    a.bytes(&[0x48, 0x8B, 0x0C, 0xC1]); // mov rcx,[rcx+rax*8]
    a.rip(&[0x48, 0x89, 0x0D], cur, 0, &[]); // mov [cur], rcx
    a.lea([0x48, 0x15], slash_m);
    a.call(K32, "lstrcmpiW");
    a.bytes(&[0x85, 0xC0]); // test eax,eax
    a.jcc(cc::Z, is_m);
    a.rip(&[0x48, 0x8B, 0x0D], cur, 0, &[]); // mov rcx,[cur]
    a.lea([0x48, 0x15], dash_m);
    a.call(K32, "lstrcmpiW");
    a.bytes(&[0x85, 0xC0]);
    a.jcc(cc::Z, is_m);
    a.rip(&[0x48, 0x8B, 0x05], cur, 0, &[]); // mov rax,[cur]
    a.bytes(&[0x0F, 0xB7, 0x08]); // movzx ecx, word [rax]
    a.bytes(&[0x83, 0xF9, b'/']); // cmp ecx, '/'
    a.jcc(cc::Z, syntax);
    a.rip(&[0x48, 0x83, 0x3D], name, 0, &[0]); // cmp qword [name], 0
    a.jcc(cc::NZ, set_value);
    a.rip(&[0x48, 0x89, 0x05], name, 0, &[]); // mov [name], rax
    a.jmp(next);
    a.bind(set_value);
    a.rip(&[0x48, 0x83, 0x3D], value, 0, &[0]); // cmp qword [value], 0
    a.jcc(cc::NZ, syntax);
    a.rip(&[0x48, 0x89, 0x05], value, 0, &[]); // mov [value], rax
    a.jmp(next);
    a.bind(is_m);
    a.rip(&[0xC7, 0x05], machine, 0, &1u32.to_le_bytes()); // mov dword [machine], 1
    a.bind(next);
    a.rip(&[0xFF, 0x05], i, 0, &[]); // inc dword [i]
    a.jmp(top);

    a.bind(done);
    a.rip(&[0x48, 0x83, 0x3D], value, 0, &[0]); // cmp qword [value], 0
    a.jcc(cc::Z, syntax);
    a.rip(&[0x83, 0x3D], machine, 0, &[0]); // cmp dword [machine], 0
    a.jcc(cc::Z, user_scope);
    // Windows' setx keeps 1024 characters and warns.
    a.rip(&[0x48, 0x8B, 0x0D], value, 0, &[]); // mov rcx,[value]
    a.call(K32, "lstrlenW");
    a.bytes(&[0x3D, 0x00, 0x04, 0x00, 0x00]); // cmp eax, 1024
    a.jcc(cc::LE, short);
    a.rip(&[0x48, 0x8B, 0x05], value, 0, &[]); // mov rax,[value]
    a.bytes(&[0x66, 0xC7, 0x80, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00]); // mov word [rax+2048], 0
    a.write_std(
        -11,
        "\r\nWARNING: The data being saved is truncated to 1024 characters.\r\n",
    );
    a.bind(short);
    // type = REG_EXPAND_SZ if the value holds '%', else REG_SZ
    a.rip(&[0xC7, 0x05], kind, 0, &1u32.to_le_bytes()); // mov dword [kind], REG_SZ
    a.rip(&[0x48, 0x8B, 0x05], value, 0, &[]); // mov rax,[value]
    a.bind(scan);
    a.bytes(&[0x0F, 0xB7, 0x08]); // movzx ecx, word [rax]
    a.bytes(&[0x85, 0xC9]); // test ecx,ecx
    a.jcc(cc::Z, scanned);
    a.bytes(&[0x83, 0xF9, b'%']); // cmp ecx, '%'
    a.jcc(cc::Z, expand);
    a.bytes(&[0x48, 0x83, 0xC0, 0x02]); // add rax, 2
    a.jmp(scan);
    a.bind(expand);
    a.rip(&[0xC7, 0x05], kind, 0, &2u32.to_le_bytes()); // mov dword [kind], REG_EXPAND_SZ
    a.bind(scanned);
    // RegCreateKeyExW(HKLM, subkey, 0, NULL, 0, KEY_SET_VALUE, NULL, &hkey, NULL)
    a.bytes(&[0x48, 0xC7, 0xC1, 0x02, 0x00, 0x00, 0x80]); // mov rcx, HKEY_LOCAL_MACHINE
    a.lea([0x48, 0x15], subkey);
    a.bytes(&[0x45, 0x31, 0xC0]); // xor r8d,r8d
    a.bytes(&[0x45, 0x31, 0xC9]); // xor r9d,r9d
    a.stack_arg(0x20, 0);
    a.stack_arg(0x28, 2);
    a.stack_arg(0x30, 0);
    a.lea([0x48, 0x05], hkey); // lea rax,[hkey]
    a.bytes(&[0x48, 0x89, 0x44, 0x24, 0x38]); // mov [rsp+0x38], rax
    a.stack_arg(0x40, 0);
    a.call(ADVAPI, "RegCreateKeyExW");
    a.bytes(&[0x85, 0xC0]);
    a.jcc(cc::NZ, reg_failed);
    // RegSetValueExW(hkey, name, 0, type, value, (lstrlenW(value) + 1) * 2)
    a.rip(&[0x48, 0x8B, 0x0D], value, 0, &[]); // mov rcx,[value]
    a.call(K32, "lstrlenW");
    a.bytes(&[0xFF, 0xC0]); // inc eax
    a.bytes(&[0x01, 0xC0]); // add eax,eax
    a.bytes(&[0x48, 0x89, 0x44, 0x24, 0x28]); // mov [rsp+0x28], rax
    a.rip(&[0x48, 0x8B, 0x05], value, 0, &[]); // mov rax,[value]
    a.bytes(&[0x48, 0x89, 0x44, 0x24, 0x20]); // mov [rsp+0x20], rax
    a.rip(&[0x48, 0x8B, 0x0D], hkey, 0, &[]); // mov rcx,[hkey]
    a.rip(&[0x48, 0x8B, 0x15], name, 0, &[]); // mov rdx,[name]
    a.bytes(&[0x45, 0x31, 0xC0]); // xor r8d,r8d
    a.rip(&[0x44, 0x8B, 0x0D], kind, 0, &[]); // mov r9d,[kind]
    a.call(ADVAPI, "RegSetValueExW");
    a.bytes(&[0x85, 0xC0]);
    a.jcc(cc::NZ, reg_failed);
    a.rip(&[0x48, 0x8B, 0x0D], hkey, 0, &[]); // mov rcx,[hkey]
    a.call(ADVAPI, "RegCloseKey");
    a.write_std(-11, "\r\nSUCCESS: Specified value was saved.\r\n");
    a.exit(0);

    a.bind(syntax);
    a.write_std(-12, SETX_SYNTAX);
    a.exit(1);
    a.bind(user_scope);
    a.write_std(-12, SETX_USER_SCOPE);
    a.exit(1);
    a.bind(reg_failed);
    a.write_std(
        -12,
        "ERROR: silo's setx could not write the machine Environment key.\r\n",
    );
    a.exit(1);
    a.image()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tools_layer_is_content_addressed_and_made_once() {
        let t = tempfile::tempdir().unwrap();
        let a = ensure(t.path()).unwrap();
        let b = ensure(t.path()).unwrap();
        assert_eq!(a, b);
        let sys = a.join("Windows/System32");
        assert!(sys.join("setx.exe").is_file());
        assert!(sys.join("dism.exe").is_file());
        assert!(
            !sys.join("net.exe").exists(),
            "partly working programs stay Wine's"
        );
        assert!(dll_overrides().contains("setx.exe=n;"));
        let leftovers: Vec<_> = std::fs::read_dir(t.path().join("wine/tools"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty());
    }
}
