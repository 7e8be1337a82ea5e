//! `silo-launch.exe`: a tiny Windows console program, generated here byte by byte, that starts
//! the step's process with an **exact** Windows command line.
//!
//! Why: Wine builds the command line of a process started from Unix by quoting its argv
//! (`"` becomes `\"`), so `wine cmd /S /C echo "a b"` hands cmd.exe `\"a b\"` — not what Windows
//! (or Docker, which passes the shell-form text verbatim) does. The launcher reads the command
//! line from the environment variable `SILO_CMDLINE`, removes that variable, calls
//! `CreateProcessW(NULL, cmdline, …, bInheritHandles = TRUE, …)` with the launcher's standard
//! handles, waits for the process and exits with its exit code. If the process cannot be
//! created it exits with 127 (the shell convention for "command not found") after writing a
//! message.
//!
//! Full exit codes: Wine hands a Windows exit code to Unix as the process's exit status, which
//! keeps only its low 8 bits (`exit /b 9009` reads as 49). So the launcher also writes the
//! child's complete 32-bit exit code (4 bytes, little-endian) to the file named by
//! `SILO_EXITFILE` (a `\\?\unix\…` path outside the silo's `C:`, removed from the child's
//! environment like `SILO_CMDLINE`); [`read_exit_code`] takes it when its low 8 bits agree with
//! the Unix status.
//!
//! The image is made with [`super::pe`]; the x86-64 code is assembled below.

use super::pe::{cc, Program};

/// Exit code when the command cannot be started.
pub const LAUNCH_FAILED_EXIT: u32 = 127;

/// Environment variable that carries the command line to the launcher.
pub const CMDLINE_VAR: &str = "SILO_CMDLINE";

/// Environment variable naming the file the launcher writes the full exit code to.
pub const EXITFILE_VAR: &str = "SILO_EXITFILE";

/// Characters of the exit file's path the launcher accepts.
const EXITFILE_CHARS: u32 = 2048;

/// Environment variable naming the file with the step's environment (see [`env_block`]).
pub const ENVFILE_VAR: &str = "SILO_ENVFILE";

/// Environment variable with the CPUs (hex mask, bit N for CPU N) the step's process gets: Wine's
/// start-up ran pinned to one CPU (`silo::StartupPin`), and the launcher, which runs once it is
/// over, hands the step the CPUs silo had. Removed from the child's environment.
pub const AFFINITY_VAR: &str = "SILO_AFFINITY";

/// Characters of the affinity mask the launcher reads (16 hex digits and the NUL).
const AFFINITY_CHARS: u32 = 24;

/// Bytes of environment the launcher reads (the step's `ENV` and build args).
pub const ENV_BLOCK_BYTES: u32 = 1 << 20;

/// The launcher's environment file for `vars`: `NAME\0VALUE\0…\0`, UTF-16LE. `None` when it
/// would not fit in what the launcher reads or a name is empty or holds `=`.
pub fn env_block(vars: &[(String, String)]) -> Option<Vec<u8>> {
    let mut units: Vec<u16> = Vec::new();
    for (name, value) in vars {
        if name.is_empty() || name.contains('=') {
            return None;
        }
        units.extend(name.encode_utf16());
        units.push(0);
        units.extend(value.encode_utf16());
        units.push(0);
    }
    units.push(0);
    let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
    (bytes.len() < ENV_BLOCK_BYTES as usize).then_some(bytes)
}

/// Characters of the command line the launcher accepts.
const CMDLINE_CHARS: u32 = 32768;

const STARTUPINFOW_SIZE: u32 = 104;
const STARTF_USESTDHANDLES: u32 = 0x100;

const K32: &str = "KERNEL32.dll";
const MSVCRT: &str = "msvcrt.dll";

/// The launcher executable's bytes.
pub fn launcher_exe() -> Vec<u8> {
    let mut a = Program::new();
    let var = a.wide(CMDLINE_VAR);
    let exit_var = a.wide(EXITFILE_VAR);
    let mut si = vec![0u8; STARTUPINFOW_SIZE as usize];
    si[0..4].copy_from_slice(&STARTUPINFOW_SIZE.to_le_bytes());
    si[60..64].copy_from_slice(&STARTF_USESTDHANDLES.to_le_bytes());
    let si = a.data(&si);
    let pi = a.bss(24);
    let code = a.bss(8);
    let written = a.bss(8);
    let handle = a.bss(8);
    let cmdline = a.bss(CMDLINE_CHARS * 2);
    let exit_path = a.bss(EXITFILE_CHARS * 2);
    let env_var = a.wide(ENVFILE_VAR);
    let env_path = a.bss(EXITFILE_CHARS * 2);
    let env_block = a.bss(ENV_BLOCK_BYTES + 16);
    let env_read = a.bss(8);
    let affinity_var = a.wide(AFFINITY_VAR);
    let affinity = a.bss(AFFINITY_CHARS * 2);
    let fail = a.label();
    let skip = a.label();
    let keep_affinity = a.label();
    let (env_loop, env_done) = (a.label(), a.label());
    // sub rsp, 0x68  (entry rsp ≡ 8 mod 16 → aligned; 32 bytes shadow + 6 stack args)
    a.bytes(&[0x48, 0x83, 0xEC, 0x68]);
    // GetEnvironmentVariableW(name, buf, CMDLINE_CHARS)
    a.lea([0x48, 0x0D], var); // lea rcx,[name]
    a.lea([0x48, 0x15], cmdline); // lea rdx,[buf]
    a.bytes(&[0x41, 0xB8]); // mov r8d, imm32
    a.bytes(&CMDLINE_CHARS.to_le_bytes());
    a.call(K32, "GetEnvironmentVariableW");
    a.bytes(&[0x85, 0xC0]); // test eax,eax
    a.jcc(cc::Z, fail);
    // SetEnvironmentVariableW(name, NULL): the child must not see the launcher's variable.
    a.lea([0x48, 0x0D], var);
    a.bytes(&[0x31, 0xD2]); // xor edx,edx
    a.call(K32, "SetEnvironmentVariableW");
    // The exit file's path, likewise taken out of the child's environment. Without it the
    // buffer stays empty and CreateFileW below fails, so nothing is written.
    a.lea([0x48, 0x0D], exit_var);
    a.lea([0x48, 0x15], exit_path);
    a.bytes(&[0x41, 0xB8]); // mov r8d, imm32
    a.bytes(&EXITFILE_CHARS.to_le_bytes());
    a.call(K32, "GetEnvironmentVariableW");
    a.lea([0x48, 0x0D], exit_var);
    a.bytes(&[0x31, 0xD2]); // xor edx,edx
    a.call(K32, "SetEnvironmentVariableW");
    // The step's environment over what Wine built from the registry: the file named by
    // SILO_ENVFILE holds NAME\0VALUE\0…\0 (UTF-16); each pair is set with
    // SetEnvironmentVariableW and the child inherits it.
    a.lea([0x48, 0x0D], env_var);
    a.lea([0x48, 0x15], env_path);
    a.bytes(&[0x41, 0xB8]); // mov r8d, imm32
    a.bytes(&EXITFILE_CHARS.to_le_bytes());
    a.call(K32, "GetEnvironmentVariableW");
    a.lea([0x48, 0x0D], env_var);
    a.bytes(&[0x31, 0xD2]); // xor edx,edx
    a.call(K32, "SetEnvironmentVariableW");
    // h = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, NORMAL, NULL)
    a.lea([0x48, 0x0D], env_path);
    a.bytes(&[0xBA]); // mov edx, GENERIC_READ
    a.bytes(&0x8000_0000u32.to_le_bytes());
    a.bytes(&[0x41, 0xB8, 1, 0, 0, 0]); // mov r8d, FILE_SHARE_READ
    a.bytes(&[0x45, 0x31, 0xC9]); // xor r9d,r9d
    for (disp, imm) in [(0x20u8, 3i32), (0x28, 0x80), (0x30, 0)] {
        a.stack_arg(disp, imm);
    }
    a.call(K32, "CreateFileW");
    a.bytes(&[0x48, 0x83, 0xF8, 0xFF]); // cmp rax, INVALID_HANDLE_VALUE
    a.jcc(cc::Z, env_done);
    a.rip(&[0x48, 0x89, 0x05], handle, 0, &[]); // mov [h], rax
                                                // ReadFile(h, block, ENV_BLOCK_BYTES, &read, NULL); CloseHandle(h)
    a.bytes(&[0x48, 0x89, 0xC1]); // mov rcx, rax
    a.lea([0x48, 0x15], env_block);
    a.bytes(&[0x41, 0xB8]); // mov r8d, imm32
    a.bytes(&ENV_BLOCK_BYTES.to_le_bytes());
    a.lea([0x4C, 0x0D], env_read);
    a.stack_arg(0x20, 0);
    a.call(K32, "ReadFile");
    a.rip(&[0x48, 0x8B, 0x0D], handle, 0, &[]); // mov rcx,[h]
    a.call(K32, "CloseHandle");
    // rbx walks the pairs (callee-saved: it survives the calls).
    a.lea([0x48, 0x1D], env_block); // lea rbx,[block]
    a.bind(env_loop);
    a.bytes(&[0x66, 0x83, 0x3B, 0x00]); // cmp word [rbx], 0
    a.jcc(cc::Z, env_done);
    a.bytes(&[0x48, 0x89, 0xD9]); // mov rcx, rbx
    a.call(K32, "lstrlenW");
    a.bytes(&[0x48, 0x8D, 0x74, 0x43, 0x02]); // lea rsi,[rbx+rax*2+2]  (the value)
    a.bytes(&[0x48, 0x89, 0xD9]); // mov rcx, rbx
    a.bytes(&[0x48, 0x89, 0xF2]); // mov rdx, rsi
    a.call(K32, "SetEnvironmentVariableW");
    a.bytes(&[0x48, 0x89, 0xF1]); // mov rcx, rsi
    a.call(K32, "lstrlenW");
    a.bytes(&[0x48, 0x8D, 0x5C, 0x46, 0x02]); // lea rbx,[rsi+rax*2+2]  (the next name)
    a.jmp(env_loop);
    a.bind(env_done);
    // The step's CPUs: SetProcessAffinityMask(GetCurrentProcess(), _wcstoui64(mask, NULL, 16))
    // when SILO_AFFINITY holds a mask; the child inherits the process's affinity.
    a.lea([0x48, 0x0D], affinity_var);
    a.lea([0x48, 0x15], affinity);
    a.bytes(&[0x41, 0xB8]); // mov r8d, imm32
    a.bytes(&AFFINITY_CHARS.to_le_bytes());
    a.call(K32, "GetEnvironmentVariableW");
    a.bytes(&[0x89, 0xC3]); // mov ebx, eax  (callee-saved: survives the next call)
    a.lea([0x48, 0x0D], affinity_var);
    a.bytes(&[0x31, 0xD2]); // xor edx,edx
    a.call(K32, "SetEnvironmentVariableW");
    a.bytes(&[0x83, 0xFB, 0x00]); // cmp ebx, 0
    a.jcc(cc::Z, keep_affinity);
    a.bytes(&[0x83, 0xFB]); // cmp ebx, imm8: a value that did not fit is ignored
    a.bytes(&[AFFINITY_CHARS as u8]);
    a.jcc(cc::AE, keep_affinity);
    a.lea([0x48, 0x0D], affinity);
    a.bytes(&[0x31, 0xD2]); // xor edx,edx
    a.bytes(&[0x41, 0xB8, 16, 0, 0, 0]); // mov r8d, 16
    a.call(MSVCRT, "_wcstoui64");
    a.bytes(&[0x48, 0x85, 0xC0]); // test rax,rax
    a.jcc(cc::Z, keep_affinity);
    a.bytes(&[0x48, 0x89, 0xC2]); // mov rdx, rax
    a.bytes(&[0x48, 0xC7, 0xC1, 0xFF, 0xFF, 0xFF, 0xFF]); // mov rcx, -1  (GetCurrentProcess())
    a.call(K32, "SetProcessAffinityMask");
    a.bind(keep_affinity);
    // si.hStdInput/Output/Error = GetStdHandle(-10/-11/-12); offsets 80/88/96 in STARTUPINFOW
    for (n, off) in [(-10i32, 80u32), (-11, 88), (-12, 96)] {
        a.bytes(&[0xB9]); // mov ecx, imm32
        a.bytes(&n.to_le_bytes());
        a.call(K32, "GetStdHandle");
        a.rip(&[0x48, 0x89, 0x05], si, off, &[]); // mov [si + off], rax
    }
    // CreateProcessW(NULL, buf, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)
    a.bytes(&[0x31, 0xC9]); // xor ecx,ecx
    a.lea([0x48, 0x15], cmdline); // lea rdx,[buf]
    a.bytes(&[0x45, 0x31, 0xC0]); // xor r8d,r8d
    a.bytes(&[0x45, 0x31, 0xC9]); // xor r9d,r9d
    for (disp, imm) in [(0x20u8, 1i32), (0x28, 0), (0x30, 0), (0x38, 0)] {
        a.stack_arg(disp, imm);
    }
    a.lea([0x48, 0x05], si); // lea rax,[si]
    a.bytes(&[0x48, 0x89, 0x44, 0x24, 0x40]); // mov [rsp+0x40], rax
    a.lea([0x48, 0x05], pi); // lea rax,[pi]
    a.bytes(&[0x48, 0x89, 0x44, 0x24, 0x48]); // mov [rsp+0x48], rax
    a.call(K32, "CreateProcessW");
    a.bytes(&[0x85, 0xC0]);
    a.jcc(cc::Z, fail);
    // WaitForSingleObject(pi.hProcess, INFINITE)
    a.rip(&[0x48, 0x8B, 0x0D], pi, 0, &[]); // mov rcx,[pi]
    a.bytes(&[0xBA, 0xFF, 0xFF, 0xFF, 0xFF]); // mov edx, INFINITE
    a.call(K32, "WaitForSingleObject");
    // GetExitCodeProcess(pi.hProcess, &code)
    a.rip(&[0x48, 0x8B, 0x0D], pi, 0, &[]);
    a.lea([0x48, 0x15], code); // lea rdx,[code]
    a.call(K32, "GetExitCodeProcess");
    // h = CreateFileW(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL)
    a.lea([0x48, 0x0D], exit_path); // lea rcx,[path]
    a.bytes(&[0xBA]); // mov edx, GENERIC_WRITE
    a.bytes(&0x4000_0000u32.to_le_bytes());
    a.bytes(&[0x45, 0x31, 0xC0]); // xor r8d,r8d
    a.bytes(&[0x45, 0x31, 0xC9]); // xor r9d,r9d
    for (disp, imm) in [(0x20u8, 2i32), (0x28, 0x80), (0x30, 0)] {
        a.stack_arg(disp, imm);
    }
    a.call(K32, "CreateFileW");
    a.bytes(&[0x48, 0x83, 0xF8, 0xFF]); // cmp rax, INVALID_HANDLE_VALUE
    a.jcc(cc::Z, skip);
    a.rip(&[0x48, 0x89, 0x05], handle, 0, &[]); // mov [h], rax
                                                // WriteFile(h, &code, 4, &written, NULL); CloseHandle(h)
    a.bytes(&[0x48, 0x89, 0xC1]); // mov rcx, rax
    a.lea([0x48, 0x15], code); // lea rdx,[code]
    a.bytes(&[0x41, 0xB8, 4, 0, 0, 0]); // mov r8d, 4
    a.lea([0x4C, 0x0D], written); // lea r9,[written]
    a.stack_arg(0x20, 0);
    a.call(K32, "WriteFile");
    a.rip(&[0x48, 0x8B, 0x0D], handle, 0, &[]); // mov rcx,[h]
    a.call(K32, "CloseHandle");
    a.bind(skip);
    // ExitProcess(code)
    a.rip(&[0x8B, 0x0D], code, 0, &[]); // mov ecx,[code]
    a.call(K32, "ExitProcess");
    // fail: the message on stderr, ExitProcess(127)
    a.bind(fail);
    a.write_std(-12, LAUNCH_MESSAGE);
    a.exit(LAUNCH_FAILED_EXIT);
    a.image()
}

/// What the launcher prints when `CreateProcessW` fails (or no command line was given).
pub const LAUNCH_MESSAGE: &str =
    "silo-launch: the command could not be started (program not found in the silo?)\r\n";

/// The Windows path (Wine's `\\?\unix\` namespace) under which a Windows program reaches the
/// host file `path`, for [`EXITFILE_VAR`].
pub fn unix_path_for_windows(path: &std::path::Path) -> String {
    format!(r"\\?\unix{}", path.to_string_lossy().replace('/', "\\"))
}

/// The step's full exit code: the launcher's exit file when it agrees with the Unix status
/// `unix_code` on success or failure (the file is missing when the launcher could not start the
/// command or was killed), else `unix_code`. Only zero versus non-zero is compared: Wine reports
/// a code whose low 8 bits are zero (256) as 1, not 0. The file is removed.
pub fn read_exit_code(exit_file: &std::path::Path, unix_code: i32) -> i32 {
    let full = std::fs::read(exit_file).ok().and_then(|b| {
        let bytes: [u8; 4] = b.as_slice().try_into().ok()?;
        Some(u32::from_le_bytes(bytes))
    });
    let _ = std::fs::remove_file(exit_file);
    match full {
        Some(code) if (code == 0) == (unix_code == 0) => code as i32,
        _ => unix_code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_is_a_pe32_plus_console_program() {
        let img = launcher_exe();
        assert_eq!(&img[0..2], b"MZ");
        assert_eq!(&img[0x40..0x44], b"PE\0\0");
        assert_eq!(u16::from_le_bytes([img[0x58], img[0x59]]), 0x20B);
    }

    #[test]
    fn the_environment_file_holds_name_value_pairs_in_utf16() {
        let block = env_block(&[("A".into(), "é".into()), ("PATH".into(), "".into())]).unwrap();
        let units: Vec<u16> = block
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(
            units,
            [65, 0, 0xE9, 0, 80, 65, 84, 72, 0, 0, 0],
            "A\\0é\\0PATH\\0\\0 and the final \\0"
        );
        assert!(env_block(&[("A=B".into(), "x".into())]).is_none());
        assert!(env_block(&[("".into(), "x".into())]).is_none());
        assert_eq!(env_block(&[]).unwrap(), [0, 0]);
    }

    #[test]
    fn the_exit_file_gives_the_full_code_when_it_agrees_with_unix() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("exit-code");
        let write = |code: u32| std::fs::write(&f, code.to_le_bytes()).unwrap();
        write(9009);
        assert_eq!(read_exit_code(&f, 49), 9009);
        assert!(!f.exists(), "read once");
        write(256);
        assert_eq!(read_exit_code(&f, 1), 256);
        write(0xC000_0005);
        assert_eq!(read_exit_code(&f, 5), 0xC000_0005u32 as i32);
        write(0);
        assert_eq!(
            read_exit_code(&f, 137),
            137,
            "a killed launcher's status stands"
        );
        assert_eq!(read_exit_code(&f, 127), 127, "no file: the Unix status");
        std::fs::write(&f, [1, 2]).unwrap();
        assert_eq!(read_exit_code(&f, 3), 3, "a short file is ignored");
        assert_eq!(
            unix_path_for_windows(std::path::Path::new("/var/lib/silo/x/exit-code")),
            r"\\?\unix\var\lib\silo\x\exit-code"
        );
    }
}
