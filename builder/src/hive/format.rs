//! regf on-disk constants and the base-block checksum, shared by the reader and the writer
//! (research `registry-hives.md` §2).

/// Size of the base block (file header); hive-bin offsets are relative to its end.
pub const BASE_BLOCK_SIZE: usize = 4096;
/// Size of an hbin header.
pub const HBIN_HEADER_SIZE: usize = 32;
/// Hive bins are multiples of this.
pub const HBIN_ALIGN: usize = 4096;
/// "No cell" in any offset field.
pub const NO_CELL: u32 = 0xFFFF_FFFF;
/// Fixed part of an nk record (without the 4-byte cell size).
pub const NK_FIXED: usize = 76;
/// Fixed part of a vk record.
pub const VK_FIXED: usize = 20;
/// Fixed part of an sk record.
pub const SK_FIXED: usize = 20;
/// Largest value data stored in one cell; larger data uses a `db` record (minor ≥ 4).
pub const MAX_DIRECT_DATA: usize = 16344;
/// The cell size Windows gives every big-data segment, the last one included.
pub const DB_SEGMENT_CELL: usize = 16352;
/// Most entries the writer puts in one lh leaf before splitting into an ri.
pub const MAX_LEAF_ENTRIES: usize = 511;
/// vk size field bit: data stored inline in the offset field.
pub const VK_DATA_INLINE: u32 = 0x8000_0000;
/// vk flags.
pub const VK_COMP_NAME: u16 = 0x0001;
pub const VK_TOMBSTONE: u16 = 0x0002;
/// Base-block flag: the hive supports layered keys (differencing hive).
pub const BASE_FLAG_LAYERED: u32 = 0x2;
/// nk byte 13 bit 7.
pub const NK_INHERIT_CLASS: u8 = 0x80;
/// Deepest key nesting the reader accepts (Windows limits paths to 512 levels).
pub const MAX_DEPTH: usize = 512;

/// The base-block checksum: XOR of the first 127 little-endian u32 words, with 0 and
/// 0xFFFFFFFF remapped as Windows does.
pub fn base_block_checksum(block: &[u8]) -> u32 {
    let sum = block[..508].chunks_exact(4).fold(0u32, |acc, w| {
        acc ^ u32::from_le_bytes([w[0], w[1], w[2], w[3]])
    });
    match sum {
        0xFFFF_FFFF => 0xFFFF_FFFE,
        0 => 1,
        other => other,
    }
}

/// Whether `name` can be stored in the compressed (Latin-1, one byte per char) form.
pub fn is_latin1(name: &str) -> bool {
    name.chars().all(|c| (c as u32) <= 0xFF)
}

/// The stored length of `name` in UTF-16 bytes (what the nk max-length fields count).
pub fn utf16_len_bytes(name: &str) -> usize {
    name.encode_utf16().count() * 2
}
