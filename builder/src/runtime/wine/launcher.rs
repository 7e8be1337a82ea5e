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
//! The image is a minimal PE32+ (one RWX section, imports from KERNEL32 only, no relocations,
//! fixed image base). The x86-64 code is assembled below with a handful of encodings.

/// Exit code when the command cannot be started.
pub const LAUNCH_FAILED_EXIT: u32 = 127;

/// Environment variable that carries the command line to the launcher.
pub const CMDLINE_VAR: &str = "SILO_CMDLINE";

/// Environment variable naming the file the launcher writes the full exit code to.
pub const EXITFILE_VAR: &str = "SILO_EXITFILE";

/// Characters of the exit file's path the launcher accepts.
const EXITFILE_CHARS: u32 = 2048;

const IMAGE_BASE: u64 = 0x1_4000_0000;
const SECTION_RVA: u32 = 0x1000;
const FILE_ALIGN: u32 = 0x200;
const CMDLINE_CHARS: u32 = 32768;

const IMPORTS: [&str; 10] = [
    "GetEnvironmentVariableW",
    "SetEnvironmentVariableW",
    "GetStdHandle",
    "CreateProcessW",
    "WaitForSingleObject",
    "GetExitCodeProcess",
    "ExitProcess",
    "WriteFile",
    "CreateFileW",
    "CloseHandle",
];

/// Tiny assembler: code bytes plus RIP-relative fixups to named data labels.
struct Asm {
    code: Vec<u8>,
    /// (offset of the 4-byte displacement in `code`, target label, byte offset into the
    /// target, bytes after the displacement until the end of the instruction)
    fixups: Vec<(usize, Label, u32, usize)>,
    /// (offset of rel32, target code offset label index)
    jumps: Vec<(usize, usize)>,
    code_labels: Vec<Option<usize>>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Label {
    Import(usize),
    Data(DataLabel),
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum DataLabel {
    VarName,
    ExitVarName,
    ExitPath,
    Handle,
    StartupInfo,
    ProcessInfo,
    ExitCode,
    Written,
    Message,
    CmdLine,
}

impl Asm {
    fn bytes(&mut self, b: &[u8]) {
        self.code.extend_from_slice(b);
    }
    /// `prefix` then a RIP-relative disp32 to `label`, then `tail` bytes (immediates).
    fn rip(&mut self, prefix: &[u8], label: Label, tail: &[u8]) {
        self.rip_field(prefix, label, 0, tail);
    }
    /// Like [`Asm::rip`], addressing `offset` bytes into the label (a struct field).
    fn rip_field(&mut self, prefix: &[u8], label: Label, offset: u32, tail: &[u8]) {
        self.code.extend_from_slice(prefix);
        self.fixups
            .push((self.code.len(), label, offset, tail.len()));
        self.code.extend_from_slice(&[0; 4]);
        self.code.extend_from_slice(tail);
    }
    fn call_import(&mut self, name: &str) {
        let i = IMPORTS
            .iter()
            .position(|n| *n == name)
            .expect("known import");
        self.rip(&[0xFF, 0x15], Label::Import(i), &[]);
    }
    fn new_label(&mut self) -> usize {
        self.code_labels.push(None);
        self.code_labels.len() - 1
    }
    fn bind(&mut self, label: usize) {
        self.code_labels[label] = Some(self.code.len());
    }
    /// `jz rel32`
    fn jz(&mut self, label: usize) {
        self.bytes(&[0x0F, 0x84]);
        self.jumps.push((self.code.len(), label));
        self.bytes(&[0; 4]);
    }
}

const STARTUPINFOW_SIZE: u32 = 104;
const STARTF_USESTDHANDLES: u32 = 0x100;

/// The launcher executable's bytes.
pub fn launcher_exe() -> Vec<u8> {
    let mut a = Asm {
        code: Vec::new(),
        fixups: Vec::new(),
        jumps: Vec::new(),
        code_labels: Vec::new(),
    };
    let fail = a.new_label();
    // sub rsp, 0x68  (entry rsp ≡ 8 mod 16 → aligned; 32 bytes shadow + 6 stack args)
    a.bytes(&[0x48, 0x83, 0xEC, 0x68]);
    // GetEnvironmentVariableW(name, buf, CMDLINE_CHARS)
    a.rip(&[0x48, 0x8D, 0x0D], Label::Data(DataLabel::VarName), &[]); // lea rcx,[name]
    a.rip(&[0x48, 0x8D, 0x15], Label::Data(DataLabel::CmdLine), &[]); // lea rdx,[buf]
    a.bytes(&[0x41, 0xB8]); // mov r8d, imm32
    a.bytes(&CMDLINE_CHARS.to_le_bytes());
    a.call_import("GetEnvironmentVariableW");
    a.bytes(&[0x85, 0xC0]); // test eax,eax
    a.jz(fail);
    // SetEnvironmentVariableW(name, NULL): the child must not see the launcher's variable.
    a.rip(&[0x48, 0x8D, 0x0D], Label::Data(DataLabel::VarName), &[]);
    a.bytes(&[0x31, 0xD2]); // xor edx,edx
    a.call_import("SetEnvironmentVariableW");
    // The exit file's path, likewise taken out of the child's environment. Without it the
    // buffer stays empty and CreateFileW below fails, so nothing is written.
    a.rip(
        &[0x48, 0x8D, 0x0D],
        Label::Data(DataLabel::ExitVarName),
        &[],
    ); // lea rcx,[name]
    a.rip(&[0x48, 0x8D, 0x15], Label::Data(DataLabel::ExitPath), &[]); // lea rdx,[path]
    a.bytes(&[0x41, 0xB8]); // mov r8d, imm32
    a.bytes(&EXITFILE_CHARS.to_le_bytes());
    a.call_import("GetEnvironmentVariableW");
    a.rip(
        &[0x48, 0x8D, 0x0D],
        Label::Data(DataLabel::ExitVarName),
        &[],
    );
    a.bytes(&[0x31, 0xD2]); // xor edx,edx
    a.call_import("SetEnvironmentVariableW");
    // si.hStdInput/Output/Error = GetStdHandle(-10/-11/-12); offsets 80/88/96 in STARTUPINFOW
    for (n, off) in [(-10i32, 80u32), (-11, 88), (-12, 96)] {
        a.bytes(&[0xB9]); // mov ecx, imm32
        a.bytes(&n.to_le_bytes());
        a.call_import("GetStdHandle");
        // mov [si + off], rax
        a.rip_field(
            &[0x48, 0x89, 0x05],
            Label::Data(DataLabel::StartupInfo),
            off,
            &[],
        );
    }
    // CreateProcessW(NULL, buf, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)
    a.bytes(&[0x31, 0xC9]); // xor ecx,ecx
    a.rip(&[0x48, 0x8D, 0x15], Label::Data(DataLabel::CmdLine), &[]); // lea rdx,[buf]
    a.bytes(&[0x45, 0x31, 0xC0]); // xor r8d,r8d
    a.bytes(&[0x45, 0x31, 0xC9]); // xor r9d,r9d
    for (disp, imm) in [(0x20u8, 1i32), (0x28, 0), (0x30, 0), (0x38, 0)] {
        a.bytes(&[0x48, 0xC7, 0x44, 0x24, disp]); // mov qword [rsp+disp], imm32
        a.bytes(&imm.to_le_bytes());
    }
    a.rip(
        &[0x48, 0x8D, 0x05],
        Label::Data(DataLabel::StartupInfo),
        &[],
    ); // lea rax,[si]
    a.bytes(&[0x48, 0x89, 0x44, 0x24, 0x40]); // mov [rsp+0x40], rax
    a.rip(
        &[0x48, 0x8D, 0x05],
        Label::Data(DataLabel::ProcessInfo),
        &[],
    ); // lea rax,[pi]
    a.bytes(&[0x48, 0x89, 0x44, 0x24, 0x48]); // mov [rsp+0x48], rax
    a.call_import("CreateProcessW");
    a.bytes(&[0x85, 0xC0]);
    a.jz(fail);
    // WaitForSingleObject(pi.hProcess, INFINITE)
    a.rip(
        &[0x48, 0x8B, 0x0D],
        Label::Data(DataLabel::ProcessInfo),
        &[],
    ); // mov rcx,[pi]
    a.bytes(&[0xBA, 0xFF, 0xFF, 0xFF, 0xFF]); // mov edx, INFINITE
    a.call_import("WaitForSingleObject");
    // GetExitCodeProcess(pi.hProcess, &code)
    a.rip(
        &[0x48, 0x8B, 0x0D],
        Label::Data(DataLabel::ProcessInfo),
        &[],
    );
    a.rip(&[0x48, 0x8D, 0x15], Label::Data(DataLabel::ExitCode), &[]); // lea rdx,[code]
    a.call_import("GetExitCodeProcess");
    // h = CreateFileW(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL)
    let skip = a.new_label();
    a.rip(&[0x48, 0x8D, 0x0D], Label::Data(DataLabel::ExitPath), &[]); // lea rcx,[path]
    a.bytes(&[0xBA]); // mov edx, GENERIC_WRITE
    a.bytes(&0x4000_0000u32.to_le_bytes());
    a.bytes(&[0x45, 0x31, 0xC0]); // xor r8d,r8d
    a.bytes(&[0x45, 0x31, 0xC9]); // xor r9d,r9d
    for (disp, imm) in [(0x20u8, 2i32), (0x28, 0x80), (0x30, 0)] {
        a.bytes(&[0x48, 0xC7, 0x44, 0x24, disp]); // mov qword [rsp+disp], imm32
        a.bytes(&imm.to_le_bytes());
    }
    a.call_import("CreateFileW");
    a.bytes(&[0x48, 0x83, 0xF8, 0xFF]); // cmp rax, INVALID_HANDLE_VALUE
    a.jz(skip);
    a.rip(&[0x48, 0x89, 0x05], Label::Data(DataLabel::Handle), &[]); // mov [h], rax
                                                                     // WriteFile(h, &code, 4, &written, NULL); CloseHandle(h)
    a.bytes(&[0x48, 0x89, 0xC1]); // mov rcx, rax
    a.rip(&[0x48, 0x8D, 0x15], Label::Data(DataLabel::ExitCode), &[]); // lea rdx,[code]
    a.bytes(&[0x41, 0xB8, 4, 0, 0, 0]); // mov r8d, 4
    a.rip(&[0x4C, 0x8D, 0x0D], Label::Data(DataLabel::Written), &[]); // lea r9,[written]
    a.bytes(&[0x48, 0xC7, 0x44, 0x24, 0x20, 0, 0, 0, 0]); // mov qword [rsp+0x20], 0
    a.call_import("WriteFile");
    a.rip(&[0x48, 0x8B, 0x0D], Label::Data(DataLabel::Handle), &[]); // mov rcx,[h]
    a.call_import("CloseHandle");
    a.bind(skip);
    // ExitProcess(code)
    a.rip(&[0x8B, 0x0D], Label::Data(DataLabel::ExitCode), &[]); // mov ecx,[code]
    a.call_import("ExitProcess");
    // fail: WriteFile(GetStdHandle(STD_ERROR), msg, len, &written, NULL); ExitProcess(127)
    a.bind(fail);
    a.bytes(&[0xB9]);
    a.bytes(&(-12i32).to_le_bytes());
    a.call_import("GetStdHandle");
    a.bytes(&[0x48, 0x89, 0xC1]); // mov rcx, rax
    a.rip(&[0x48, 0x8D, 0x15], Label::Data(DataLabel::Message), &[]); // lea rdx,[msg]
    a.bytes(&[0x41, 0xB8]);
    a.bytes(&(LAUNCH_MESSAGE.len() as u32).to_le_bytes());
    a.rip(&[0x4C, 0x8D, 0x0D], Label::Data(DataLabel::Written), &[]); // lea r9,[written]
    a.bytes(&[0x48, 0xC7, 0x44, 0x24, 0x20, 0, 0, 0, 0]); // mov qword [rsp+0x20], 0
    a.call_import("WriteFile");
    a.bytes(&[0xB9]);
    a.bytes(&LAUNCH_FAILED_EXIT.to_le_bytes());
    a.call_import("ExitProcess");
    a.bytes(&[0xCC]);

    build_image(a)
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

fn align(v: u32, a: u32) -> u32 {
    v.div_ceil(a) * a
}

fn build_image(a: Asm) -> Vec<u8> {
    // Section layout (RVA-relative to the section start): code | imports | data | bss (cmdline).
    let mut sec: Vec<u8> = a.code.clone();
    let pad8 = |v: &mut Vec<u8>| {
        while !v.len().is_multiple_of(8) {
            v.push(0);
        }
    };
    pad8(&mut sec);
    // Import directory: one descriptor + a null one (20 bytes each).
    let idt_off = sec.len() as u32;
    sec.extend_from_slice(&[0; 40]);
    let ilt_off = sec.len() as u32;
    sec.extend(std::iter::repeat_n(0u8, (IMPORTS.len() + 1) * 8));
    let iat_off = sec.len() as u32;
    sec.extend(std::iter::repeat_n(0u8, (IMPORTS.len() + 1) * 8));
    let mut hint_offs = Vec::new();
    for name in IMPORTS {
        pad8(&mut sec);
        hint_offs.push(sec.len() as u32);
        sec.extend_from_slice(&[0, 0]);
        sec.extend_from_slice(name.as_bytes());
        sec.push(0);
    }
    let dll_off = sec.len() as u32;
    sec.extend_from_slice(b"KERNEL32.dll\0");
    pad8(&mut sec);
    let rva = |off: u32| SECTION_RVA + off;
    for (i, h) in hint_offs.iter().enumerate() {
        let entry = (rva(*h) as u64).to_le_bytes();
        let il = ilt_off as usize + i * 8;
        let ia = iat_off as usize + i * 8;
        sec[il..il + 8].copy_from_slice(&entry);
        sec[ia..ia + 8].copy_from_slice(&entry);
    }
    let idt = idt_off as usize;
    sec[idt..idt + 4].copy_from_slice(&rva(ilt_off).to_le_bytes());
    sec[idt + 12..idt + 16].copy_from_slice(&rva(dll_off).to_le_bytes());
    sec[idt + 16..idt + 20].copy_from_slice(&rva(iat_off).to_le_bytes());

    // Data.
    let mut data_offs = std::collections::HashMap::new();
    let mut put = |sec: &mut Vec<u8>, label: DataLabel, bytes: &[u8]| {
        pad8(sec);
        data_offs.insert(label, sec.len() as u32);
        sec.extend_from_slice(bytes);
    };
    let var: Vec<u8> = CMDLINE_VAR
        .encode_utf16()
        .chain([0])
        .flat_map(u16::to_le_bytes)
        .collect();
    put(&mut sec, DataLabel::VarName, &var);
    let exit_var: Vec<u8> = EXITFILE_VAR
        .encode_utf16()
        .chain([0])
        .flat_map(u16::to_le_bytes)
        .collect();
    put(&mut sec, DataLabel::ExitVarName, &exit_var);
    put(&mut sec, DataLabel::Handle, &[0; 8]);
    let mut si = vec![0u8; STARTUPINFOW_SIZE as usize];
    si[0..4].copy_from_slice(&STARTUPINFOW_SIZE.to_le_bytes());
    si[60..64].copy_from_slice(&STARTF_USESTDHANDLES.to_le_bytes());
    put(&mut sec, DataLabel::StartupInfo, &si);
    put(&mut sec, DataLabel::ProcessInfo, &[0; 24]);
    put(&mut sec, DataLabel::ExitCode, &[0; 8]);
    put(&mut sec, DataLabel::Written, &[0; 8]);
    put(&mut sec, DataLabel::Message, LAUNCH_MESSAGE.as_bytes());
    pad8(&mut sec);
    let raw_len = sec.len() as u32;
    // The command-line and exit-path buffers are zero-initialised memory past the raw data.
    data_offs.insert(DataLabel::CmdLine, raw_len);
    data_offs.insert(DataLabel::ExitPath, raw_len + CMDLINE_CHARS * 2 + 16);
    let virtual_len = raw_len + CMDLINE_CHARS * 2 + 16 + EXITFILE_CHARS * 2 + 16;

    // Resolve fixups.
    for (pos, label, offset, tail) in &a.fixups {
        let target = match label {
            Label::Import(k) => iat_off + (*k as u32) * 8,
            Label::Data(d) => data_offs[d],
        };
        let next = *pos as u32 + 4 + *tail as u32;
        let disp = (target + offset) as i64 - next as i64;
        sec[*pos..*pos + 4].copy_from_slice(&(disp as i32).to_le_bytes());
    }
    for (pos, label) in &a.jumps {
        let target = a.code_labels[*label].expect("bound label") as i64;
        let disp = target - (*pos as i64 + 4);
        sec[*pos..*pos + 4].copy_from_slice(&(disp as i32).to_le_bytes());
    }

    // Headers.
    let raw_size = align(raw_len, FILE_ALIGN);
    let image_size = align(SECTION_RVA + virtual_len, 0x1000);
    let mut img = vec![0u8; FILE_ALIGN as usize];
    img[0..2].copy_from_slice(b"MZ");
    img[0x3C..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    let pe = 0x40;
    img[pe..pe + 4].copy_from_slice(b"PE\0\0");
    let coff = pe + 4;
    let w16 =
        |img: &mut Vec<u8>, at: usize, v: u16| img[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let w32 =
        |img: &mut Vec<u8>, at: usize, v: u32| img[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let w64 =
        |img: &mut Vec<u8>, at: usize, v: u64| img[at..at + 8].copy_from_slice(&v.to_le_bytes());
    w16(&mut img, coff, 0x8664);
    w16(&mut img, coff + 2, 1);
    w16(&mut img, coff + 16, 0xF0);
    // EXECUTABLE_IMAGE | RELOCS_STRIPPED | LARGE_ADDRESS_AWARE
    w16(&mut img, coff + 18, 0x0023);
    let opt = coff + 20;
    w16(&mut img, opt, 0x20B);
    w32(&mut img, opt + 4, raw_size); // SizeOfCode
    w32(&mut img, opt + 16, SECTION_RVA); // AddressOfEntryPoint
    w32(&mut img, opt + 20, SECTION_RVA); // BaseOfCode
    w64(&mut img, opt + 24, IMAGE_BASE);
    w32(&mut img, opt + 32, 0x1000); // SectionAlignment
    w32(&mut img, opt + 36, FILE_ALIGN);
    w16(&mut img, opt + 40, 6); // OS version
    w16(&mut img, opt + 48, 6); // subsystem version
    w32(&mut img, opt + 56, image_size);
    w32(&mut img, opt + 60, FILE_ALIGN); // SizeOfHeaders
    w16(&mut img, opt + 68, 3); // IMAGE_SUBSYSTEM_WINDOWS_CUI
    w64(&mut img, opt + 72, 0x10_0000); // stack reserve
    w64(&mut img, opt + 80, 0x1000);
    w64(&mut img, opt + 88, 0x10_0000); // heap reserve
    w64(&mut img, opt + 96, 0x1000);
    w32(&mut img, opt + 108, 16); // NumberOfRvaAndSizes
    let dirs = opt + 112;
    w32(&mut img, dirs + 8, rva(idt_off)); // import table
    w32(&mut img, dirs + 12, 40);
    w32(&mut img, dirs + 12 * 8, rva(iat_off)); // IAT
    w32(
        &mut img,
        dirs + 12 * 8 + 4,
        ((IMPORTS.len() + 1) * 8) as u32,
    );
    let sh = opt + 0xF0;
    img[sh..sh + 8].copy_from_slice(b".text\0\0\0");
    w32(&mut img, sh + 8, virtual_len);
    w32(&mut img, sh + 12, SECTION_RVA);
    w32(&mut img, sh + 16, raw_size);
    w32(&mut img, sh + 20, FILE_ALIGN);
    // CODE | INITIALIZED_DATA | EXECUTE | READ | WRITE
    w32(&mut img, sh + 36, 0xE000_0060);
    sec.resize(raw_size as usize, 0);
    img.extend_from_slice(&sec);
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_is_a_pe32_plus_console_program() {
        let img = launcher_exe();
        assert_eq!(&img[0..2], b"MZ");
        assert_eq!(&img[0x40..0x44], b"PE\0\0");
        assert_eq!(img.len() % FILE_ALIGN as usize, 0);
        assert_eq!(u16::from_le_bytes([img[0x58], img[0x59]]), 0x20B);
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
