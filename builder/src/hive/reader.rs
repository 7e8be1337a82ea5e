//! The regf reader: base block, hive bins, cells and every record kind (nk vk sk lf lh li ri db,
//! class and data cells) into a [`Key`] tree, layered-key bits and tombstone values included.
//!
//! Every size and offset comes from untrusted input, so every access is bounds-checked against
//! the hive-bins data and every allocation is bounded by the file size; errors name the file
//! offset and the record kind. Each nk is visited at most once, so a cyclic or shared subkey
//! list is an error rather than an endless walk.

use std::collections::HashMap;
use std::sync::Arc;

use super::format::*;
use super::tree::{FileTime, Key, KeyFlags, LayerSemantics, Value};

/// What went wrong reading a hive.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("not a registry hive: {0}")]
    NotAHive(String),
    #[error(
        "hive is dirty: primary sequence number {primary} differs from secondary {secondary}; \
         its .LOG1/.LOG2 files hold changes that were not written back (load it on Windows or \
         use --allow-dirty to read the primary file as it is)"
    )]
    Dirty { primary: u32, secondary: u32 },
    #[error(
        "hive base block checksum is 0x{stored:08x}, expected 0x{computed:08x}: the header is \
         damaged or the hive was not flushed (use --allow-dirty to read it anyway)"
    )]
    BadChecksum { stored: u32, computed: u32 },
    #[error("unsupported hive: {0}")]
    Unsupported(String),
    #[error("{record} at file offset 0x{file_offset:x}: {problem}")]
    Corrupt {
        record: &'static str,
        file_offset: u64,
        problem: String,
    },
}

/// Options for [`read_hive_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Read a hive whose sequence numbers differ or whose checksum is wrong, as it is on disk.
    pub allow_dirty: bool,
}

/// The base block's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseBlock {
    pub primary_seq: u32,
    pub secondary_seq: u32,
    pub last_written: FileTime,
    pub major: u32,
    pub minor: u32,
    pub file_type: u32,
    pub root_offset: u32,
    pub hbins_size: u32,
    pub flags: u32,
    /// The debug file name (last 31 characters of the path the hive was saved to).
    pub file_name: String,
    pub checksum: u32,
    pub computed_checksum: u32,
}

impl BaseBlock {
    /// Sequence numbers differ or the checksum is wrong: Windows would replay logs first.
    pub fn is_dirty(&self) -> bool {
        self.primary_seq != self.secondary_seq || self.checksum != self.computed_checksum
    }
    /// Base-block flag 0x2: layered keys are in effect (a differencing hive).
    pub fn is_layered(&self) -> bool {
        self.flags & BASE_FLAG_LAYERED != 0
    }
}

/// Counts of allocated cells by kind, from a scan of every hive bin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellCounts {
    pub nk: usize,
    pub vk: usize,
    pub sk: usize,
    pub lf: usize,
    pub lh: usize,
    pub li: usize,
    pub ri: usize,
    pub db: usize,
    /// Allocated cells without a record signature (data, class, value and segment lists).
    pub other: usize,
    pub free: usize,
    pub bins: usize,
}

/// A parsed hive: its header and key tree.
#[derive(Debug, Clone)]
pub struct ParsedHive {
    pub base: BaseBlock,
    pub root: Key,
}

/// Reads a hive, refusing dirty ones.
pub fn read_hive(bytes: &[u8]) -> Result<ParsedHive, ReadError> {
    read_hive_with(bytes, ReadOptions::default())
}

/// Reads a hive with options.
pub fn read_hive_with(bytes: &[u8], options: ReadOptions) -> Result<ParsedHive, ReadError> {
    let base = parse_base_block(bytes)?;
    if !options.allow_dirty {
        if base.primary_seq != base.secondary_seq {
            return Err(ReadError::Dirty {
                primary: base.primary_seq,
                secondary: base.secondary_seq,
            });
        }
        if base.checksum != base.computed_checksum {
            return Err(ReadError::BadChecksum {
                stored: base.checksum,
                computed: base.computed_checksum,
            });
        }
    }
    let bins = bins_of(bytes, &base)?;
    let mut walker = Walker {
        cells: Cells { bins },
        layered: base.is_layered(),
        minor: base.minor,
        visited: vec![0u64; bins.len() / 8 / 64 + 1],
        security: HashMap::new(),
        data_budget: bins.len(),
    };
    let root = walker.key(base.root_offset, 0)?;
    Ok(ParsedHive { base, root })
}

/// Reads only what one key needs: the keys along `path` (`\`-separated, case-insensitive) from
/// the root, each with its own values, class, flags and layer bits but none of its other subkeys,
/// and the whole subtree of the key at the end. Where the path does not exist, the chain stops at
/// the last key that does. Merging such chains of a base hive and its deltas gives the same key
/// as merging the whole hives (the other subkeys cannot affect it), at a fraction of the cost on
/// a big hive (`silo registry IMAGE KEY`).
pub fn read_path(bytes: &[u8], path: &str, options: ReadOptions) -> Result<ParsedHive, ReadError> {
    read_paths(bytes, &[path], options)
}

/// [`read_path`] for several paths at once: the union of their chains and subtrees.
pub fn read_paths(
    bytes: &[u8],
    paths: &[&str],
    options: ReadOptions,
) -> Result<ParsedHive, ReadError> {
    let base = parse_base_block(bytes)?;
    if !options.allow_dirty && base.is_dirty() {
        return read_hive_with(bytes, options); // the same refusal, with its reason
    }
    let bins = bins_of(bytes, &base)?;
    let mut walker = Walker {
        cells: Cells { bins },
        layered: base.is_layered(),
        minor: base.minor,
        visited: vec![0u64; bins.len() / 8 / 64 + 1],
        security: HashMap::new(),
        data_budget: bins.len(),
    };
    let mut trie = PathTrie::default();
    for path in paths {
        trie.insert(path.split('\\').filter(|p| !p.is_empty()));
    }
    let root = walker.projection(base.root_offset, 0, &trie)?;
    Ok(ParsedHive { base, root })
}

/// Path components to read: `whole` marks the end of a path (its subtree is read entirely).
#[derive(Default)]
struct PathTrie {
    whole: bool,
    children: Vec<(String, PathTrie)>,
}

impl PathTrie {
    fn insert<'a>(&mut self, mut parts: impl Iterator<Item = &'a str>) {
        let Some(part) = parts.next() else {
            self.whole = true;
            return;
        };
        let i = match self
            .children
            .iter()
            .position(|(n, _)| super::tree::names_equal(n, part))
        {
            Some(i) => i,
            None => {
                self.children.push((part.to_string(), PathTrie::default()));
                self.children.len() - 1
            }
        };
        self.children[i].1.insert(parts);
    }
}

/// Parses and checks the base block only.
pub fn parse_base_block(bytes: &[u8]) -> Result<BaseBlock, ReadError> {
    if bytes.len() < BASE_BLOCK_SIZE {
        return Err(ReadError::NotAHive(format!(
            "{} bytes is shorter than the 4096-byte base block",
            bytes.len()
        )));
    }
    if &bytes[0..4] != b"regf" {
        return Err(ReadError::NotAHive(format!(
            "signature is {:?}, expected \"regf\"",
            String::from_utf8_lossy(&bytes[0..4])
        )));
    }
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let name_units: Vec<u16> = bytes[48..112]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    let base = BaseBlock {
        primary_seq: u32_at(4),
        secondary_seq: u32_at(8),
        last_written: u64::from_le_bytes(bytes[12..20].try_into().unwrap()),
        major: u32_at(20),
        minor: u32_at(24),
        file_type: u32_at(28),
        root_offset: u32_at(36),
        hbins_size: u32_at(40),
        flags: u32_at(144),
        file_name: String::from_utf16_lossy(&name_units),
        checksum: u32_at(508),
        computed_checksum: base_block_checksum(bytes),
    };
    if base.major != 1 {
        return Err(ReadError::Unsupported(format!(
            "regf version {}.{} (only 1.x exists)",
            base.major, base.minor
        )));
    }
    if base.file_type != 0 {
        return Err(ReadError::Unsupported(format!(
            "file type {} is a transaction log, not a primary hive file",
            base.file_type
        )));
    }
    Ok(base)
}

fn bins_of<'a>(bytes: &'a [u8], base: &BaseBlock) -> Result<&'a [u8], ReadError> {
    let end = BASE_BLOCK_SIZE as u64 + base.hbins_size as u64;
    if end > bytes.len() as u64 {
        return Err(ReadError::Corrupt {
            record: "base block",
            file_offset: 40,
            problem: format!(
                "hive bins size {} runs past the end of the {}-byte file (truncated hive?)",
                base.hbins_size,
                bytes.len()
            ),
        });
    }
    Ok(&bytes[BASE_BLOCK_SIZE..end as usize])
}

/// Scans every hive bin and counts allocated cells by signature; checks the bin and cell chain.
pub fn scan_cells(bytes: &[u8]) -> Result<CellCounts, ReadError> {
    let mut counts = CellCounts::default();
    for_each_cell(bytes, |_, cell| {
        match cell {
            None => counts.free += 1,
            Some(payload) => match payload.get(0..2) {
                Some(b"nk") => counts.nk += 1,
                Some(b"vk") => counts.vk += 1,
                Some(b"sk") => counts.sk += 1,
                Some(b"lf") => counts.lf += 1,
                Some(b"lh") => counts.lh += 1,
                Some(b"li") => counts.li += 1,
                Some(b"ri") => counts.ri += 1,
                Some(b"db") => counts.db += 1,
                _ => counts.other += 1,
            },
        }
        Ok(())
    })
    .map(|bins| CellCounts { bins, ..counts })
}

/// How many `lh` entries carry the hash Windows' rules give their key's name ([`lh_hash`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LhHashReport {
    pub checked: usize,
    /// (file offset of the lh cell, key name, stored hash) of every entry that disagrees.
    pub mismatches: Vec<(u64, String, u32)>,
}

/// Checks every `lh` entry of a hive against [`lh_hash`] of the key it points to.
pub fn check_lh_hashes(bytes: &[u8]) -> Result<LhHashReport, ReadError> {
    let base = parse_base_block(bytes)?;
    let cells = Cells {
        bins: bins_of(bytes, &base)?,
    };
    let mut report = LhHashReport::default();
    for_each_cell(bytes, |offset, cell| {
        let Some(lh) = cell.filter(|c| c.len() >= 4 && &c[0..2] == b"lh") else {
            return Ok(());
        };
        let count = (u16_at(lh, 2) as usize).min((lh.len() - 4) / 8);
        for i in 0..count {
            let nk_offset = u32_at(lh, 4 + i * 8);
            let stored = u32_at(lh, 8 + i * 8);
            let nk = cells.record(nk_offset, "key node (nk)", b"nk", NK_FIXED)?;
            let name_len = u16_at(nk, 72) as usize;
            let raw = nk.get(NK_FIXED..NK_FIXED + name_len).unwrap_or_default();
            let name = decode_name(raw, u16_at(nk, 2) & KeyFlags::COMP_NAME != 0);
            report.checked += 1;
            if super::tree::lh_hash(&name) != stored {
                report
                    .mismatches
                    .push((BASE_BLOCK_SIZE as u64 + offset as u64, name, stored));
            }
        }
        Ok(())
    })?;
    Ok(report)
}

/// Calls `f(cell offset, Some(payload) | None for a free cell)` for every cell of every bin,
/// checking the bin headers and the cell chain; returns the number of bins.
pub fn for_each_cell(
    bytes: &[u8],
    mut f: impl FnMut(u32, Option<&[u8]>) -> Result<(), ReadError>,
) -> Result<usize, ReadError> {
    let base = parse_base_block(bytes)?;
    let bins = bins_of(bytes, &base)?;
    let mut count = 0;
    let mut bin_start = 0usize;
    while bin_start < bins.len() {
        let corrupt = |problem: String| ReadError::Corrupt {
            record: "hbin",
            file_offset: (BASE_BLOCK_SIZE + bin_start) as u64,
            problem,
        };
        let header = bins
            .get(bin_start..bin_start + HBIN_HEADER_SIZE)
            .ok_or_else(|| corrupt("truncated bin header".into()))?;
        if &header[0..4] != b"hbin" {
            return Err(corrupt("missing \"hbin\" signature".into()));
        }
        let size = u32::from_le_bytes(header[8..12].try_into().unwrap()) as usize;
        if size < HBIN_ALIGN || !size.is_multiple_of(HBIN_ALIGN) || bin_start + size > bins.len() {
            return Err(corrupt(format!("bad bin size {size}")));
        }
        count += 1;
        let mut cell = bin_start + HBIN_HEADER_SIZE;
        while cell < bin_start + size {
            let corrupt_cell = |problem: String| ReadError::Corrupt {
                record: "cell",
                file_offset: (BASE_BLOCK_SIZE + cell) as u64,
                problem,
            };
            let raw = bins
                .get(cell..cell + 4)
                .ok_or_else(|| corrupt_cell("truncated cell size".into()))?;
            let raw = i32::from_le_bytes(raw.try_into().unwrap());
            let len = raw.unsigned_abs() as usize;
            if len < 8 || !len.is_multiple_of(8) || cell + len > bin_start + size {
                return Err(corrupt_cell(format!("bad cell size {raw}")));
            }
            f(cell as u32, (raw < 0).then(|| &bins[cell + 4..cell + len]))?;
            cell += len;
        }
        bin_start += size;
    }
    Ok(count)
}

/// Bounds-checked access to cells by offset.
struct Cells<'a> {
    bins: &'a [u8],
}

impl<'a> Cells<'a> {
    /// The payload of the allocated cell at `offset` (after its size field).
    fn get(&self, offset: u32, record: &'static str) -> Result<&'a [u8], ReadError> {
        let corrupt = |problem: String| ReadError::Corrupt {
            record,
            file_offset: BASE_BLOCK_SIZE as u64 + offset as u64,
            problem,
        };
        let start = offset as usize;
        if offset == NO_CELL || !start.is_multiple_of(8) || start < HBIN_HEADER_SIZE {
            return Err(corrupt(format!("invalid cell offset 0x{offset:x}")));
        }
        let size = self
            .bins
            .get(start..start + 4)
            .ok_or_else(|| corrupt("cell offset is past the end of the hive bins".into()))?;
        let size = i32::from_le_bytes(size.try_into().unwrap());
        if size >= 0 {
            return Err(corrupt(format!(
                "cell is not allocated (size {size}); the hive is damaged"
            )));
        }
        let len = size.unsigned_abs() as usize;
        if len < 8 {
            return Err(corrupt(format!("cell size {len} is too small")));
        }
        self.bins
            .get(start + 4..start + len)
            .ok_or_else(|| corrupt(format!("cell of {len} bytes runs past the hive bins")))
    }

    /// The cell at `offset`, checked to hold at least `min` bytes starting with `sig`.
    fn record(
        &self,
        offset: u32,
        record: &'static str,
        sig: &[u8; 2],
        min: usize,
    ) -> Result<&'a [u8], ReadError> {
        let cell = self.get(offset, record)?;
        if cell.len() < min || &cell[0..2] != sig {
            return Err(corrupt_at(
                offset,
                record,
                format!(
                    "expected a \"{}\" record of at least {min} bytes, found {:?} in {} bytes",
                    String::from_utf8_lossy(sig),
                    String::from_utf8_lossy(&cell[..2.min(cell.len())]),
                    cell.len()
                ),
            ));
        }
        Ok(cell)
    }
}

fn corrupt_at(offset: u32, record: &'static str, problem: String) -> ReadError {
    ReadError::Corrupt {
        record,
        file_offset: BASE_BLOCK_SIZE as u64 + offset as u64,
        problem,
    }
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// Decodes a stored name: Latin-1 if compressed, else UTF-16LE (unpaired surrogates replaced).
fn decode_name(raw: &[u8], compressed: bool) -> String {
    if compressed {
        match std::str::from_utf8(raw) {
            Ok(ascii) if raw.is_ascii() => ascii.to_owned(),
            _ => raw.iter().map(|&b| b as char).collect(),
        }
    } else {
        super::tree::utf16le_lossy(raw)
    }
}

struct Walker<'a> {
    cells: Cells<'a>,
    layered: bool,
    minor: u32,
    /// One bit per 8-byte slot of the bins: nk cells already turned into keys.
    visited: Vec<u64>,
    security: HashMap<u32, Arc<[u8]>>,
    /// Bytes of value data and classes still allowed: each is stored once in a sound hive, so
    /// their total cannot exceed the hive bins. Keys sharing cells cannot amplify memory.
    data_budget: usize,
}

impl Walker<'_> {
    /// Charges `len` bytes against the data budget.
    fn spend(&mut self, len: usize, offset: u32, record: &'static str) -> Result<(), ReadError> {
        self.data_budget = self.data_budget.checked_sub(len).ok_or_else(|| {
            corrupt_at(
                offset,
                record,
                "values and classes add up to more bytes than the hive holds (shared cells)".into(),
            )
        })?;
        Ok(())
    }

    fn key(&mut self, offset: u32, depth: usize) -> Result<Key, ReadError> {
        self.key_with(offset, depth, true)
    }

    /// The nk at `offset` as a key; with `with_subkeys`, its whole subtree.
    fn key_with(
        &mut self,
        offset: u32,
        depth: usize,
        with_subkeys: bool,
    ) -> Result<Key, ReadError> {
        const REC: &str = "key node (nk)";
        if depth > MAX_DEPTH {
            return Err(corrupt_at(
                offset,
                REC,
                format!("keys nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        let nk = self.cells.record(offset, REC, b"nk", NK_FIXED)?;
        let slot = offset as usize / 8;
        if self.visited[slot / 64] & (1 << (slot % 64)) != 0 {
            return Err(corrupt_at(
                offset,
                REC,
                "key node is reached twice (a cycle or shared subkey list)".into(),
            ));
        }
        self.visited[slot / 64] |= 1 << (slot % 64);

        let raw_flags = u16_at(nk, 2);
        let name_len = u16_at(nk, 72) as usize;
        let raw_name = nk.get(NK_FIXED..NK_FIXED + name_len).ok_or_else(|| {
            corrupt_at(
                offset,
                REC,
                format!("name of {name_len} bytes runs past the cell"),
            )
        })?;
        let mut key = Key::new(decode_name(raw_name, raw_flags & KeyFlags::COMP_NAME != 0));
        key.flags = KeyFlags(raw_flags & KeyFlags::MODEL_MASK);
        key.last_write = u64::from_le_bytes(nk[4..12].try_into().unwrap());
        if self.layered {
            key.layer = LayerSemantics::from_bits(nk[13]);
            key.inherit_class = nk[13] & NK_INHERIT_CLASS != 0;
        }
        let max_name_word = u32_at(nk, 52);
        key.virt_control_flags = ((max_name_word >> 16) & 0xF) as u8;
        key.user_flags = ((max_name_word >> 20) & 0xF) as u8;

        let class_offset = u32_at(nk, 48);
        let class_len = u16_at(nk, 74) as usize;
        if class_offset != NO_CELL {
            let cell = self.cells.get(class_offset, "class name")?;
            let class = cell.get(..class_len).ok_or_else(|| {
                corrupt_at(
                    class_offset,
                    "class name",
                    format!("class of {class_len} bytes is longer than its cell"),
                )
            })?;
            self.spend(class.len(), class_offset, "class name")?;
            key.class = Some(class.to_vec());
        }

        let sk_offset = u32_at(nk, 44);
        if sk_offset != NO_CELL {
            key.security = Some(self.security(sk_offset)?);
        }

        let value_count = u32_at(nk, 36) as usize;
        if value_count > 0 {
            let list_offset = u32_at(nk, 40);
            let list = self.cells.get(list_offset, "value list")?;
            if value_count > list.len() / 4 {
                return Err(corrupt_at(
                    list_offset,
                    "value list",
                    format!("{value_count} values do not fit a {}-byte list", list.len()),
                ));
            }
            for i in 0..value_count {
                let value = self.value(u32_at(list, i * 4))?;
                let vk_offset = u32_at(list, i * 4);
                if key.set_value(value).is_some() {
                    return Err(corrupt_at(
                        vk_offset,
                        "value (vk)",
                        format!("duplicate value name in key {:?}", key.name),
                    ));
                }
            }
        }

        let subkey_count = u32_at(nk, 20) as usize;
        if subkey_count > 0 && with_subkeys {
            // Every subkey needs its own nk cell of at least 80 bytes: this bounds the list
            // walk even when an ri points at the same leaf over and over.
            if subkey_count > self.cells.bins.len() / 80 {
                return Err(corrupt_at(
                    offset,
                    REC,
                    format!("{subkey_count} subkeys cannot fit in the hive"),
                ));
            }
            let mut children = Vec::new();
            self.subkey_offsets(u32_at(nk, 28), 0, subkey_count, &mut children)?;
            if children.len() != subkey_count {
                return Err(corrupt_at(
                    offset,
                    REC,
                    format!(
                        "key {:?} says it has {subkey_count} subkeys, its list holds {}",
                        key.name,
                        children.len()
                    ),
                ));
            }
            for child_offset in children {
                let child = self.key(child_offset, depth + 1)?;
                if let Some(dup) = key.insert_subkey(child) {
                    return Err(corrupt_at(
                        child_offset,
                        REC,
                        format!(
                            "subkey {:?} of {:?} appears twice (names compare case-insensitively)",
                            dup.name, key.name
                        ),
                    ));
                }
            }
        }
        Ok(key)
    }

    /// The key at `offset` restricted to `trie`: whole where the trie ends, else the key alone
    /// with the subkeys the trie names (those that exist).
    fn projection(&mut self, offset: u32, depth: usize, trie: &PathTrie) -> Result<Key, ReadError> {
        if trie.whole {
            return self.key_with(offset, depth, true);
        }
        let mut key = self.key_with(offset, depth, false)?;
        if trie.children.is_empty() {
            return Ok(key);
        }
        for child in self.children(offset)? {
            let name = self.name_of(child)?;
            if let Some((_, sub)) = trie
                .children
                .iter()
                .find(|(n, _)| super::tree::names_equal(n, &name))
            {
                let sub_key = self.projection(child, depth + 1, sub)?;
                key.insert_subkey(sub_key);
            }
        }
        Ok(key)
    }

    /// The nk offsets of the subkeys of the nk at `offset` (bounded as in [`Self::key`]).
    fn children(&self, offset: u32) -> Result<Vec<u32>, ReadError> {
        let nk = self
            .cells
            .record(offset, "key node (nk)", b"nk", NK_FIXED)?;
        let count = u32_at(nk, 20) as usize;
        let mut out = Vec::new();
        if count > 0 && count <= self.cells.bins.len() / 80 {
            self.subkey_offsets(u32_at(nk, 28), 0, count, &mut out)?;
        }
        Ok(out)
    }

    /// The name of the nk at `offset`, without reading anything else of it.
    fn name_of(&self, offset: u32) -> Result<String, ReadError> {
        let nk = self
            .cells
            .record(offset, "key node (nk)", b"nk", NK_FIXED)?;
        let len = u16_at(nk, 72) as usize;
        let raw = nk.get(NK_FIXED..NK_FIXED + len).ok_or_else(|| {
            corrupt_at(
                offset,
                "key node (nk)",
                format!("name of {len} bytes runs past the cell"),
            )
        })?;
        Ok(decode_name(raw, u16_at(nk, 2) & KeyFlags::COMP_NAME != 0))
    }

    /// Collects nk offsets from an lf/lh/li leaf or an ri of leaves.
    fn subkey_offsets(
        &self,
        offset: u32,
        depth: usize,
        limit: usize,
        out: &mut Vec<u32>,
    ) -> Result<(), ReadError> {
        const REC: &str = "subkey list";
        let cell = self.cells.get(offset, REC)?;
        if cell.len() < 4 {
            return Err(corrupt_at(
                offset,
                REC,
                "list shorter than its header".into(),
            ));
        }
        let count = u16_at(cell, 2) as usize;
        let (stride, is_index_root) = match &cell[0..2] {
            b"lf" | b"lh" => (8, false),
            b"li" => (4, false),
            b"ri" => (4, true),
            other => {
                return Err(corrupt_at(
                    offset,
                    REC,
                    format!(
                        "unknown list signature {:?} (expected lf, lh, li or ri)",
                        String::from_utf8_lossy(other)
                    ),
                ))
            }
        };
        if 4 + count * stride > cell.len() {
            return Err(corrupt_at(
                offset,
                REC,
                format!("{count} entries do not fit a {}-byte list", cell.len()),
            ));
        }
        if is_index_root && depth > 0 {
            return Err(corrupt_at(
                offset,
                REC,
                "an ri list points to another ri".into(),
            ));
        }
        for i in 0..count {
            let entry = u32_at(cell, 4 + i * stride);
            if is_index_root {
                self.subkey_offsets(entry, depth + 1, limit, out)?;
            } else {
                out.push(entry);
            }
            if out.len() > limit {
                return Err(corrupt_at(
                    offset,
                    REC,
                    format!("the list holds more than the key's {limit} subkeys"),
                ));
            }
        }
        Ok(())
    }

    fn security(&mut self, offset: u32) -> Result<Arc<[u8]>, ReadError> {
        if let Some(sd) = self.security.get(&offset) {
            return Ok(sd.clone());
        }
        const REC: &str = "security (sk)";
        let sk = self.cells.record(offset, REC, b"sk", SK_FIXED)?;
        let sd_len = u32_at(sk, 16) as usize;
        let sd = sk
            .get(SK_FIXED..SK_FIXED.saturating_add(sd_len))
            .ok_or_else(|| {
                corrupt_at(
                    offset,
                    REC,
                    format!("descriptor of {sd_len} bytes runs past the cell"),
                )
            })?;
        let sd: Arc<[u8]> = Arc::from(sd);
        self.security.insert(offset, sd.clone());
        Ok(sd)
    }

    fn value(&mut self, offset: u32) -> Result<Value, ReadError> {
        const REC: &str = "value (vk)";
        let vk = self.cells.record(offset, REC, b"vk", VK_FIXED)?;
        let name_len = u16_at(vk, 2) as usize;
        let flags = u16_at(vk, 16);
        let raw_name = vk.get(VK_FIXED..VK_FIXED + name_len).ok_or_else(|| {
            corrupt_at(
                offset,
                REC,
                format!("name of {name_len} bytes runs past the cell"),
            )
        })?;
        let name = decode_name(raw_name, flags & VK_COMP_NAME != 0);
        let kind = u32_at(vk, 12);
        if flags & VK_TOMBSTONE != 0 {
            // Tombstones carry no data: offset 0xFFFFFFFF must never be dereferenced.
            return Ok(Value {
                name,
                kind,
                data: Vec::new(),
                tombstone: true,
            });
        }
        let size_field = u32_at(vk, 4);
        let data_field = &vk[8..12];
        let data = if size_field & VK_DATA_INLINE != 0 {
            let len = (size_field & !VK_DATA_INLINE) as usize;
            if len > 4 {
                return Err(corrupt_at(
                    offset,
                    REC,
                    format!("value {name:?}: inline data of {len} bytes (at most 4 fit)"),
                ));
            }
            data_field[..len].to_vec()
        } else if size_field == 0 {
            Vec::new()
        } else {
            self.spend(size_field as usize, offset, REC)?;
            self.data(u32_at(vk, 8), size_field as usize, &name)?
        };
        Ok(Value {
            name,
            kind,
            data,
            tombstone: false,
        })
    }

    /// Value data of `size` bytes in one cell or, above 16344 bytes, a `db` big-data record.
    fn data(&self, offset: u32, size: usize, name: &str) -> Result<Vec<u8>, ReadError> {
        const REC: &str = "value data";
        let cell = self.cells.get(offset, REC)?;
        if cell.len() >= size {
            return Ok(cell[..size].to_vec());
        }
        if !(self.minor >= 4 && size > MAX_DIRECT_DATA && cell.len() >= 8 && &cell[0..2] == b"db") {
            return Err(corrupt_at(
                offset,
                REC,
                format!(
                    "value {name:?} has {size} bytes of data but its cell holds {}",
                    cell.len()
                ),
            ));
        }
        const DB: &str = "big data (db)";
        let segments = u16_at(cell, 2) as usize;
        let list_offset = u32_at(cell, 4);
        if size > segments * MAX_DIRECT_DATA {
            return Err(corrupt_at(
                offset,
                DB,
                format!("value {name:?}: {size} bytes do not fit {segments} segments"),
            ));
        }
        let list = self.cells.get(list_offset, "big data segment list")?;
        if list.len() < segments * 4 {
            return Err(corrupt_at(
                list_offset,
                "big data segment list",
                format!("{segments} segments do not fit a {}-byte list", list.len()),
            ));
        }
        // `size` is bounded by segments × 16344 and every segment is a real cell, so this
        // allocation cannot exceed what the file holds.
        let mut data = Vec::with_capacity(size.min(self.cells.bins.len()));
        for i in 0..segments {
            if data.len() == size {
                break;
            }
            let seg_offset = u32_at(list, i * 4);
            let seg = self.cells.get(seg_offset, "big data segment")?;
            let take = (size - data.len()).min(MAX_DIRECT_DATA).min(seg.len());
            data.extend_from_slice(&seg[..take]);
        }
        if data.len() != size {
            return Err(corrupt_at(
                offset,
                DB,
                format!(
                    "value {name:?}: segments hold {} of {size} bytes",
                    data.len()
                ),
            ));
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hive::writer::{write_hive, WriteOptions};

    fn sample() -> Vec<u8> {
        let mut root = Key::new_root("ROOT");
        root.create_path(r"A\B").set_value(Value::dword("x", 1));
        write_hive(&root, &WriteOptions::default()).unwrap()
    }

    fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
        bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// File offset of an nk payload's field.
    fn nk_field(cell: u32, field: usize) -> usize {
        BASE_BLOCK_SIZE + cell as usize + 4 + field
    }

    #[test]
    fn damaged_headers_are_reported() {
        let good = sample();
        assert!(read_hive(&good).is_ok());
        assert!(matches!(
            read_hive(&good[..100]),
            Err(ReadError::NotAHive(_))
        ));
        let err = read_hive(&good[..5000]).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        let mut bad = good.clone();
        bad[100] ^= 1;
        assert!(matches!(
            read_hive(&bad),
            Err(ReadError::BadChecksum { .. })
        ));
        assert!(read_hive_with(&bad, ReadOptions { allow_dirty: true }).is_ok());
        let mut dirty = good.clone();
        put_u32(&mut dirty, 4, 2);
        let sum = base_block_checksum(&dirty);
        put_u32(&mut dirty, 508, sum);
        assert!(matches!(
            read_hive(&dirty),
            Err(ReadError::Dirty {
                primary: 2,
                secondary: 1
            })
        ));
    }

    #[test]
    fn cycles_and_impossible_counts_are_errors_not_hangs() {
        let good = sample();
        let root = u32_at(&good, 36);
        let root_list = u32_at(&good, nk_field(root, 28));
        let child = u32_at(&good, BASE_BLOCK_SIZE + root_list as usize + 4 + 4);
        // The child's subkey list becomes its parent's list, which holds the child itself.
        let mut cyclic = good.clone();
        put_u32(&mut cyclic, nk_field(child, 28), root_list);
        let err = read_hive(&cyclic).unwrap_err().to_string();
        assert!(err.contains("reached twice"), "{err}");
        assert!(err.contains("file offset 0x"), "{err}");

        let mut huge = good.clone();
        put_u32(&mut huge, nk_field(root, 20), u32::MAX);
        let err = read_hive(&huge).unwrap_err().to_string();
        assert!(err.contains("cannot fit"), "{err}");

        let mut bad_list = good;
        put_u32(&mut bad_list, nk_field(root, 28), 0x7FFF_FFF8);
        let err = read_hive(&bad_list).unwrap_err().to_string();
        assert!(
            err.contains("subkey list") && err.contains("past the end"),
            "{err}"
        );
    }
}
