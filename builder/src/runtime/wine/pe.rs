//! A tiny x86-64 assembler and PE32+ image writer for the Windows programs silo generates
//! itself (`silo-launch.exe`, silo's `setx.exe`, the programs that stand in for Wine's stubs):
//! no Windows toolchain is needed on the Linux host, and every byte is ours.
//!
//! A [`Program`] is code plus initialised data, zero-initialised buffers (`bss`) and imports
//! from any number of DLLs. Code reaches data, buffers and import slots RIP-relatively, and jumps
//! to labels with 32-bit displacements. The image has one RWX section, no relocations and a
//! fixed image base, and is a console program (`IMAGE_SUBSYSTEM_WINDOWS_CUI`).

const IMAGE_BASE: u64 = 0x1_4000_0000;
const SECTION_RVA: u32 = 0x1000;
const FILE_ALIGN: u32 = 0x200;

/// Something the code addresses RIP-relatively.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Target {
    /// The import address table slot of an import.
    Import(usize),
    /// An initialised data item.
    Data(usize),
    /// A zero-initialised buffer.
    Bss(usize),
}

/// A code label for jumps.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Label(usize);

/// Condition codes for [`Program::jcc`] (the low nibble of `0F 8x`).
pub mod cc {
    pub const AE: u8 = 0x3;
    pub const Z: u8 = 0x4;
    pub const NZ: u8 = 0x5;
    pub const GE: u8 = 0xD;
    pub const LE: u8 = 0xE;
}

/// Code, data and imports of one program being assembled.
#[derive(Default)]
pub struct Program {
    code: Vec<u8>,
    /// (DLL, function) in first-use order.
    imports: Vec<(&'static str, &'static str)>,
    data: Vec<Vec<u8>>,
    bss: Vec<u32>,
    /// (offset of a disp32 in `code`, target, byte offset into the target, bytes of the
    /// instruction after the displacement)
    fixups: Vec<(usize, Target, u32, usize)>,
    /// (offset of a rel32 in `code`, label)
    jumps: Vec<(usize, Label)>,
    labels: Vec<Option<usize>>,
}

impl Program {
    pub fn new() -> Program {
        Program::default()
    }

    /// Raw instruction bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.code.extend_from_slice(b);
    }

    /// An initialised data item.
    pub fn data(&mut self, bytes: &[u8]) -> Target {
        self.data.push(bytes.to_vec());
        Target::Data(self.data.len() - 1)
    }

    /// A NUL-terminated UTF-16LE string as a data item.
    pub fn wide(&mut self, s: &str) -> Target {
        let bytes: Vec<u8> = s
            .encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes)
            .collect();
        self.data(&bytes)
    }

    /// A zero-initialised buffer of `len` bytes (not stored in the file).
    pub fn bss(&mut self, len: u32) -> Target {
        self.bss.push(len);
        Target::Bss(self.bss.len() - 1)
    }

    fn import(&mut self, dll: &'static str, name: &'static str) -> Target {
        let i = match self.imports.iter().position(|i| *i == (dll, name)) {
            Some(i) => i,
            None => {
                self.imports.push((dll, name));
                self.imports.len() - 1
            }
        };
        Target::Import(i)
    }

    /// `prefix`, a RIP-relative disp32 to `target` (+ `offset`), then `tail` (immediates).
    pub fn rip(&mut self, prefix: &[u8], target: Target, offset: u32, tail: &[u8]) {
        self.code.extend_from_slice(prefix);
        self.fixups
            .push((self.code.len(), target, offset, tail.len()));
        self.code.extend_from_slice(&[0; 4]);
        self.code.extend_from_slice(tail);
    }

    /// `call [rip + IAT slot]` of `dll!name`.
    pub fn call(&mut self, dll: &'static str, name: &'static str) {
        let t = self.import(dll, name);
        self.rip(&[0xFF, 0x15], t, 0, &[]);
    }

    /// `lea <reg>, [target]` where `rex_modrm` is the REX prefix and ModRM byte for the register
    /// (e.g. `[0x48, 0x0D]` for rcx, `[0x48, 0x15]` for rdx, `[0x4C, 0x0D]` for r9).
    pub fn lea(&mut self, rex_modrm: [u8; 2], target: Target) {
        self.rip(&[rex_modrm[0], 0x8D, rex_modrm[1]], target, 0, &[]);
    }

    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    pub fn bind(&mut self, label: Label) {
        self.labels[label.0] = Some(self.code.len());
    }

    /// A conditional jump (`0F 8<cc> rel32`), see [`cc`].
    pub fn jcc(&mut self, condition: u8, label: Label) {
        self.bytes(&[0x0F, 0x80 | condition]);
        self.jumps.push((self.code.len(), label));
        self.bytes(&[0; 4]);
    }

    /// `jmp rel32`
    pub fn jmp(&mut self, label: Label) {
        self.bytes(&[0xE9]);
        self.jumps.push((self.code.len(), label));
        self.bytes(&[0; 4]);
    }

    /// `mov qword [rsp + disp], imm32` (stack arguments past the fourth).
    pub fn stack_arg(&mut self, disp: u8, imm: i32) {
        self.bytes(&[0x48, 0xC7, 0x44, 0x24, disp]);
        self.bytes(&imm.to_le_bytes());
    }

    /// Writes `text` to the standard handle `std` (-11 stdout, -12 stderr) with `WriteFile`.
    /// Clobbers the volatile registers.
    pub fn write_std(&mut self, std: i32, text: &str) {
        let msg = self.data(text.as_bytes());
        let written = self.bss(8);
        self.bytes(&[0xB9]); // mov ecx, imm32
        self.bytes(&std.to_le_bytes());
        self.call("KERNEL32.dll", "GetStdHandle");
        self.bytes(&[0x48, 0x89, 0xC1]); // mov rcx, rax
        self.lea([0x48, 0x15], msg); // lea rdx,[msg]
        self.bytes(&[0x41, 0xB8]); // mov r8d, imm32
        self.bytes(&(text.len() as u32).to_le_bytes());
        self.lea([0x4C, 0x0D], written); // lea r9,[written]
        self.stack_arg(0x20, 0);
        self.call("KERNEL32.dll", "WriteFile");
    }

    /// `ExitProcess(code)`.
    pub fn exit(&mut self, code: u32) {
        self.bytes(&[0xB9]); // mov ecx, imm32
        self.bytes(&code.to_le_bytes());
        self.call("KERNEL32.dll", "ExitProcess");
        self.bytes(&[0xCC]);
    }

    /// The PE32+ image.
    pub fn image(self) -> Vec<u8> {
        build_image(self)
    }
}

fn align(v: u32, a: u32) -> u32 {
    v.div_ceil(a) * a
}

fn pad8(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(8) {
        v.push(0);
    }
}

fn build_image(p: Program) -> Vec<u8> {
    let rva = |off: u32| SECTION_RVA + off;
    // Section layout (offsets from the section start): code | import directory | ILTs | IAT |
    // hint/name entries | DLL names | data | bss (virtual only).
    let mut sec: Vec<u8> = p.code.clone();
    pad8(&mut sec);
    let mut dlls: Vec<&str> = Vec::new();
    for (dll, _) in &p.imports {
        if !dlls.contains(dll) {
            dlls.push(dll);
        }
    }
    let idt_off = sec.len() as u32;
    sec.extend(std::iter::repeat_n(0u8, (dlls.len() + 1) * 20));
    pad8(&mut sec);
    // Per DLL, its imports in order, each table ending with a null entry.
    let per_dll: Vec<Vec<usize>> = dlls
        .iter()
        .map(|d| {
            (0..p.imports.len())
                .filter(|i| p.imports[*i].0 == *d)
                .collect()
        })
        .collect();
    let table_len: usize = per_dll.iter().map(|v| (v.len() + 1) * 8).sum();
    let ilt_off = sec.len() as u32;
    sec.extend(std::iter::repeat_n(0u8, table_len));
    let iat_off = sec.len() as u32;
    sec.extend(std::iter::repeat_n(0u8, table_len));
    let mut hint_offs = vec![0u32; p.imports.len()];
    for (i, (_, name)) in p.imports.iter().enumerate() {
        pad8(&mut sec);
        hint_offs[i] = sec.len() as u32;
        sec.extend_from_slice(&[0, 0]);
        sec.extend_from_slice(name.as_bytes());
        sec.push(0);
    }
    let mut dll_name_offs = Vec::new();
    for dll in &dlls {
        dll_name_offs.push(sec.len() as u32);
        sec.extend_from_slice(dll.as_bytes());
        sec.push(0);
    }
    pad8(&mut sec);
    // Fill the tables; remember each import's IAT slot.
    let mut iat_slot = vec![0u32; p.imports.len()];
    let mut slot = 0u32;
    for (d, imports) in per_dll.iter().enumerate() {
        let idt = idt_off as usize + d * 20;
        let first = slot;
        for &i in imports {
            let entry = (rva(hint_offs[i]) as u64).to_le_bytes();
            let il = (ilt_off + slot * 8) as usize;
            let ia = (iat_off + slot * 8) as usize;
            sec[il..il + 8].copy_from_slice(&entry);
            sec[ia..ia + 8].copy_from_slice(&entry);
            iat_slot[i] = iat_off + slot * 8;
            slot += 1;
        }
        slot += 1; // the null entry
        sec[idt..idt + 4].copy_from_slice(&rva(ilt_off + first * 8).to_le_bytes());
        sec[idt + 12..idt + 16].copy_from_slice(&rva(dll_name_offs[d]).to_le_bytes());
        sec[idt + 16..idt + 20].copy_from_slice(&rva(iat_off + first * 8).to_le_bytes());
    }
    let mut data_offs = Vec::new();
    for d in &p.data {
        pad8(&mut sec);
        data_offs.push(sec.len() as u32);
        sec.extend_from_slice(d);
    }
    pad8(&mut sec);
    let raw_len = sec.len() as u32;
    let mut bss_offs = Vec::new();
    let mut end = raw_len;
    for len in &p.bss {
        bss_offs.push(end);
        end = align(end + len, 16);
    }
    let virtual_len = end.max(raw_len) + 16;

    for (pos, target, offset, tail) in &p.fixups {
        let at = match target {
            Target::Import(k) => iat_slot[*k],
            Target::Data(k) => data_offs[*k],
            Target::Bss(k) => bss_offs[*k],
        };
        let next = *pos as u32 + 4 + *tail as u32;
        let disp = (at + offset) as i64 - next as i64;
        sec[*pos..*pos + 4].copy_from_slice(&(disp as i32).to_le_bytes());
    }
    for (pos, label) in &p.jumps {
        let target = p.labels[label.0].expect("every jump's label is bound") as i64;
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
    w32(&mut img, dirs + 12, ((dlls.len() + 1) * 20) as u32);
    w32(&mut img, dirs + 12 * 8, rva(iat_off)); // IAT
    w32(&mut img, dirs + 12 * 8 + 4, table_len as u32);
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
    fn imports_from_two_dlls_get_one_descriptor_each() {
        let mut p = Program::new();
        p.call("KERNEL32.dll", "GetStdHandle");
        p.call("ADVAPI32.dll", "RegCloseKey");
        p.call("KERNEL32.dll", "GetStdHandle");
        p.exit(0);
        let img = p.image();
        assert_eq!(&img[0..2], b"MZ");
        assert_eq!(&img[0x40..0x44], b"PE\0\0");
        assert_eq!(img.len() % FILE_ALIGN as usize, 0);
        let text = String::from_utf8_lossy(&img);
        assert_eq!(text.matches("KERNEL32.dll").count(), 1);
        assert_eq!(text.matches("ADVAPI32.dll").count(), 1);
        assert_eq!(text.matches("GetStdHandle").count(), 1);
        // Import directory size: two descriptors plus the null one.
        let dirs = 0x40 + 4 + 20 + 112;
        assert_eq!(
            u32::from_le_bytes(img[dirs + 12..dirs + 16].try_into().unwrap()),
            60
        );
    }
}
