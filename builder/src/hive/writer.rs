//! The regf writer: turns a [`Key`] tree into a clean hive file laid out the way Windows and
//! offreg write them (research `registry-hives.md` §2.10): 4096-byte bins with one free cell at
//! each tail, lh lists with Windows hashes, ri above 511 entries, inline data up to 4 bytes, `db`
//! big data in 16352-byte segment cells, exact max-length fields, deduplicated sk cells with
//! reference counts and a flink/blink ring, COMP_NAME for Latin-1 names, seq1 == seq2 and a
//! correct checksum. Differencing hives get minor 6, base-block flag 0x2 and nk byte 13.

use std::collections::HashMap;
use std::sync::Arc;

use super::format::*;
use super::tree::{lh_hash, FileTime, Key, KeyFlags, LayerSemantics, Value};

/// What went wrong writing a hive.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("key {path:?}: {problem}")]
    Invalid { path: String, problem: String },
    #[error("the hive would exceed the 4 GiB a regf file can address")]
    TooLarge,
}

/// How to write a hive.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Write a differencing hive: minor 6, base-block flag 0x2, layered-key bits in nk byte 13.
    pub differencing: bool,
    /// regf minor version for ordinary hives (5 = Vista and later). Differencing hives use 6.
    pub minor: u32,
    /// Debug file name stored in the base block (its last 31 characters are kept).
    pub file_name: String,
    /// Security descriptor for keys that have none and no ancestor with one.
    pub default_security: Arc<[u8]>,
    /// Timestamp for the base block and first bin (offreg writes 0).
    pub timestamp: FileTime,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            differencing: false,
            minor: 5,
            file_name: String::new(),
            default_security: Arc::from(super::security::default_key_sd()),
            timestamp: 0,
        }
    }
}

impl WriteOptions {
    /// Options for a container differencing hive (`Hives/*_Delta`).
    pub fn differencing(file_name: impl Into<String>) -> WriteOptions {
        WriteOptions {
            differencing: true,
            minor: 6,
            file_name: file_name.into(),
            ..WriteOptions::default()
        }
    }
}

/// Writes `root` as a hive file.
pub fn write_hive(root: &Key, options: &WriteOptions) -> Result<Vec<u8>, WriteError> {
    if !(5..=6).contains(&options.minor) {
        // lh lists need minor ≥ 5 and db records minor ≥ 4; older layouts are not written.
        return Err(WriteError::Invalid {
            path: root.name.clone(),
            problem: format!(
                "regf minor version {} is not written (use 5 or 6)",
                options.minor
            ),
        });
    }
    if !options.differencing && root.uses_layers() {
        return Err(WriteError::Invalid {
            path: root.name.clone(),
            problem: "the tree has layered keys or tombstone values: write it as a differencing \
                      hive"
                .into(),
        });
    }
    let mut w = Writer {
        bins: Vec::with_capacity(64 * 1024),
        tail: 0,
        timestamp: options.timestamp,
        differencing: options.differencing,
        security: HashMap::new(),
        sk_cells: Vec::new(),
        last_security: None,
    };
    w.new_bin(HBIN_ALIGN);
    let mut path = String::new();
    let root_offset = w.key(root, NO_CELL, &options.default_security, true, &mut path)?;
    w.finish_bin();
    w.link_security();
    if w.bins.len() > u32::MAX as usize - BASE_BLOCK_SIZE {
        return Err(WriteError::TooLarge);
    }

    let mut file = vec![0u8; BASE_BLOCK_SIZE];
    let minor = if options.differencing {
        6
    } else {
        options.minor
    };
    put_bytes(&mut file, 0, b"regf");
    put_u32(&mut file, 4, 1);
    put_u32(&mut file, 8, 1);
    put_u64(&mut file, 12, options.timestamp);
    put_u32(&mut file, 20, 1);
    put_u32(&mut file, 24, minor);
    put_u32(&mut file, 28, 0);
    put_u32(&mut file, 32, 1);
    put_u32(&mut file, 36, root_offset);
    put_u32(&mut file, 40, w.bins.len() as u32);
    put_u32(&mut file, 44, 1);
    let name: Vec<u16> = options.file_name.encode_utf16().collect();
    let tail = &name[name.len().saturating_sub(31)..];
    for (i, unit) in tail.iter().enumerate() {
        put_u16(&mut file, 48 + i * 2, *unit);
    }
    if options.differencing {
        put_u32(&mut file, 144, BASE_FLAG_LAYERED);
    }
    let checksum = base_block_checksum(&file);
    put_u32(&mut file, 508, checksum);
    file.extend_from_slice(&w.bins);
    Ok(file)
}

fn put_bytes(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}
fn put_u16(buf: &mut [u8], at: usize, v: u16) {
    put_bytes(buf, at, &v.to_le_bytes());
}
fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    put_bytes(buf, at, &v.to_le_bytes());
}
fn put_u64(buf: &mut [u8], at: usize, v: u64) {
    put_bytes(buf, at, &v.to_le_bytes());
}

/// A name in its stored form and the flag saying which form it is.
fn encode_name(name: &str) -> (Vec<u8>, bool) {
    if is_latin1(name) {
        (name.chars().map(|c| c as u8).collect(), true)
    } else {
        (
            name.encode_utf16().flat_map(u16::to_le_bytes).collect(),
            false,
        )
    }
}

struct SecurityCell {
    offset: u32,
    refs: u32,
}

struct Writer {
    /// The hive-bins data; cell offsets index into it.
    bins: Vec<u8>,
    /// Start of the free tail of the current (last) bin: where the next cell goes.
    tail: usize,
    timestamp: FileTime,
    differencing: bool,
    /// Descriptor → index into `sk_cells`.
    security: HashMap<Arc<[u8]>, usize>,
    /// sk cells in the order written (the order of the flink/blink ring).
    sk_cells: Vec<SecurityCell>,
    last_security: Option<(Arc<[u8]>, usize)>,
}

impl Writer {
    fn new_bin(&mut self, size: usize) {
        let at = self.bins.len();
        self.bins.resize(at + size, 0);
        put_bytes(&mut self.bins, at, b"hbin");
        put_u32(&mut self.bins, at + 4, at as u32);
        put_u32(&mut self.bins, at + 8, size as u32);
        if at == 0 {
            put_u64(&mut self.bins, at + 20, self.timestamp);
        }
        self.set_free_tail(at + HBIN_HEADER_SIZE);
    }

    /// Marks everything from `from` to the end of the current bin as one free cell.
    fn set_free_tail(&mut self, from: usize) {
        let end = self.bins.len();
        if from < end {
            put_u32(&mut self.bins, from, (end - from) as u32);
        }
        self.tail = from;
    }

    fn finish_bin(&mut self) {
        let tail = self.tail;
        self.set_free_tail(tail);
    }

    /// Allocates a cell with `payload` bytes of room and returns its offset; the payload is zeroed.
    fn alloc(&mut self, payload: usize) -> u32 {
        let size = (payload + 4).div_ceil(8) * 8;
        if self.tail + size > self.bins.len() {
            self.finish_bin();
            let bin = (size + HBIN_HEADER_SIZE).div_ceil(HBIN_ALIGN) * HBIN_ALIGN;
            self.new_bin(bin);
        }
        let offset = self.tail;
        self.bins[offset..offset + size].fill(0);
        put_u32(&mut self.bins, offset, (size as i32).wrapping_neg() as u32);
        self.set_free_tail(offset + size);
        offset as u32
    }

    /// Allocates a cell holding exactly `bytes`.
    fn alloc_with(&mut self, bytes: &[u8]) -> u32 {
        let offset = self.alloc(bytes.len());
        put_bytes(&mut self.bins, offset as usize + 4, bytes);
        offset
    }

    fn payload_mut(&mut self, offset: u32) -> &mut [u8] {
        &mut self.bins[offset as usize + 4..]
    }

    /// The sk cell for `sd`, shared by every key with the same descriptor.
    fn security_cell(&mut self, sd: &Arc<[u8]>) -> u32 {
        // Siblings usually share one Arc: skip hashing the descriptor bytes then.
        let index = match &self.last_security {
            Some((last, index)) if Arc::ptr_eq(last, sd) => *index,
            _ => {
                let index = match self.security.get(sd) {
                    Some(&index) => index,
                    None => {
                        let offset = self.alloc(SK_FIXED + sd.len());
                        let p = self.payload_mut(offset);
                        put_bytes(p, 0, b"sk");
                        put_u32(p, 16, sd.len() as u32);
                        put_bytes(p, SK_FIXED, sd);
                        self.security.insert(sd.clone(), self.sk_cells.len());
                        self.sk_cells.push(SecurityCell { offset, refs: 0 });
                        self.sk_cells.len() - 1
                    }
                };
                self.last_security = Some((sd.clone(), index));
                index
            }
        };
        let cell = &mut self.sk_cells[index];
        cell.refs += 1;
        cell.offset
    }

    /// Fills in reference counts and the circular flink/blink list of sk cells.
    fn link_security(&mut self) {
        let cells = std::mem::take(&mut self.sk_cells);
        let n = cells.len();
        for (i, cell) in cells.iter().enumerate() {
            let flink = cells[(i + 1) % n].offset;
            let blink = cells[(i + n - 1) % n].offset;
            let p = self.payload_mut(cell.offset);
            put_u32(p, 4, flink);
            put_u32(p, 8, blink);
            put_u32(p, 12, cell.refs);
        }
    }

    fn key(
        &mut self,
        key: &Key,
        parent: u32,
        inherited_sd: &Arc<[u8]>,
        is_root: bool,
        path: &mut String,
    ) -> Result<u32, WriteError> {
        let path_len = path.len();
        if !is_root {
            path.push('\\');
        }
        path.push_str(&key.name);
        let invalid = |problem: &str| WriteError::Invalid {
            path: path.clone(),
            problem: problem.into(),
        };
        let (name, compressed) = encode_name(&key.name);
        if name.len() > u16::MAX as usize {
            return Err(invalid("name is longer than 65535 bytes"));
        }
        if key.layer == LayerSemantics::Tombstone
            && (key.value_count() > 0 || key.subkey_count() > 0)
        {
            return Err(invalid("a tombstone key cannot have values or subkeys"));
        }
        let nk = self.alloc(NK_FIXED + name.len());
        let sd = key.security.as_ref().unwrap_or(inherited_sd).clone();
        let sk = self.security_cell(&sd);

        let class = match &key.class {
            Some(class) if class.len() > u16::MAX as usize => {
                return Err(invalid("class is longer than 65535 bytes"))
            }
            Some(class) => self.alloc_with(class),
            None => NO_CELL,
        };

        let mut max_value_name = 0usize;
        let mut max_value_data = 0usize;
        let mut value_offsets = Vec::with_capacity(key.value_count());
        for value in key.values() {
            if value.tombstone && !self.differencing {
                return Err(invalid("tombstone values need a differencing hive"));
            }
            max_value_name = max_value_name.max(utf16_len_bytes(&value.name));
            max_value_data = max_value_data.max(value.data.len());
            value_offsets.push(self.value(value).map_err(|p| invalid(&p))?);
        }
        let value_list = if value_offsets.is_empty() {
            NO_CELL
        } else {
            let bytes: Vec<u8> = value_offsets.iter().flat_map(|o| o.to_le_bytes()).collect();
            self.alloc_with(&bytes)
        };

        let mut max_subkey_name = 0usize;
        let mut max_subkey_class = 0usize;
        let mut children = Vec::with_capacity(key.subkey_count());
        for child in key.subkeys() {
            if child.flags.is_volatile() {
                continue; // volatile keys live in memory only; they are never saved
            }
            max_subkey_name = max_subkey_name.max(utf16_len_bytes(&child.name));
            max_subkey_class = max_subkey_class.max(child.class.as_ref().map_or(0, Vec::len));
            let offset = self.key(child, nk, &sd, false, path)?;
            children.push((offset, lh_hash(&child.name)));
        }
        let subkey_list = self.subkey_list(&children);

        let flags =
            (key.flags.0 & KeyFlags::MODEL_MASK) | if compressed { KeyFlags::COMP_NAME } else { 0 };
        let layer_byte = if self.differencing {
            key.layer.bits()
                | if key.inherit_class {
                    NK_INHERIT_CLASS
                } else {
                    0
                }
        } else {
            0
        };
        let max_name_word = (max_subkey_name.min(0xFFFF) as u32)
            | (key.virt_control_flags as u32 & 0xF) << 16
            | (key.user_flags as u32 & 0xF) << 20;
        let p = self.payload_mut(nk);
        put_bytes(p, 0, b"nk");
        put_u16(p, 2, flags);
        put_u64(p, 4, key.last_write);
        p[13] = layer_byte;
        put_u32(p, 16, parent);
        put_u32(p, 20, children.len() as u32);
        put_u32(p, 24, 0);
        put_u32(p, 28, subkey_list);
        put_u32(p, 32, NO_CELL);
        put_u32(p, 36, value_offsets.len() as u32);
        put_u32(p, 40, value_list);
        put_u32(p, 44, sk);
        put_u32(p, 48, class);
        put_u32(p, 52, max_name_word);
        put_u32(p, 56, max_subkey_class as u32);
        put_u32(p, 60, max_value_name as u32);
        put_u32(p, 64, max_value_data as u32);
        put_u16(p, 72, name.len() as u16);
        put_u16(p, 74, key.class.as_ref().map_or(0, Vec::len) as u16);
        put_bytes(p, NK_FIXED, &name);
        path.truncate(path_len);
        Ok(nk)
    }

    /// An lh leaf, or an ri over lh leaves of at most 511 entries. Children are already in
    /// Windows order because the tree keeps them so.
    fn subkey_list(&mut self, children: &[(u32, u32)]) -> u32 {
        if children.is_empty() {
            return NO_CELL;
        }
        if children.len() <= MAX_LEAF_ENTRIES {
            return self.lh_leaf(children);
        }
        let leaves: Vec<u32> = children
            .chunks(MAX_LEAF_ENTRIES)
            .map(|chunk| self.lh_leaf(chunk))
            .collect();
        let mut bytes = Vec::with_capacity(4 + leaves.len() * 4);
        bytes.extend_from_slice(b"ri");
        bytes.extend_from_slice(&(leaves.len() as u16).to_le_bytes());
        bytes.extend(leaves.iter().flat_map(|o| o.to_le_bytes()));
        self.alloc_with(&bytes)
    }

    fn lh_leaf(&mut self, entries: &[(u32, u32)]) -> u32 {
        let mut bytes = Vec::with_capacity(4 + entries.len() * 8);
        bytes.extend_from_slice(b"lh");
        bytes.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        for (offset, hash) in entries {
            bytes.extend_from_slice(&offset.to_le_bytes());
            bytes.extend_from_slice(&hash.to_le_bytes());
        }
        self.alloc_with(&bytes)
    }

    fn value(&mut self, value: &Value) -> Result<u32, String> {
        let (name, compressed) = encode_name(&value.name);
        if name.len() > u16::MAX as usize {
            return Err(format!(
                "value name {:?} is longer than 65535 bytes",
                value.name
            ));
        }
        if value.data.len() > u16::MAX as usize * MAX_DIRECT_DATA {
            return Err(format!(
                "value {:?} is larger than the {} bytes a db record can hold",
                value.name,
                u16::MAX as usize * MAX_DIRECT_DATA
            ));
        }
        let vk = self.alloc(VK_FIXED + name.len());
        let mut flags = if compressed { VK_COMP_NAME } else { 0 };
        let (size_field, data_field, kind) = if value.tombstone {
            flags |= VK_TOMBSTONE;
            (0, NO_CELL, 0)
        } else {
            let len = value.data.len();
            if len <= 4 {
                let mut inline = [0u8; 4];
                inline[..len].copy_from_slice(&value.data);
                (
                    len as u32 | VK_DATA_INLINE,
                    u32::from_le_bytes(inline),
                    value.kind,
                )
            } else if len <= MAX_DIRECT_DATA {
                (len as u32, self.alloc_with(&value.data), value.kind)
            } else {
                (len as u32, self.big_data(&value.data), value.kind)
            }
        };
        let p = self.payload_mut(vk);
        put_bytes(p, 0, b"vk");
        put_u16(p, 2, name.len() as u16);
        put_u32(p, 4, size_field);
        put_u32(p, 8, data_field);
        put_u32(p, 12, kind);
        put_u16(p, 16, flags);
        put_bytes(p, VK_FIXED, &name);
        Ok(vk)
    }

    /// A `db` record: the db cell, then every segment in a 16352-byte cell, then the list.
    fn big_data(&mut self, data: &[u8]) -> u32 {
        let db = self.alloc(8);
        let segments: Vec<u32> = data
            .chunks(MAX_DIRECT_DATA)
            .map(|chunk| {
                let seg = self.alloc(DB_SEGMENT_CELL - 4);
                put_bytes(self.payload_mut(seg), 0, chunk);
                seg
            })
            .collect();
        let list: Vec<u8> = segments.iter().flat_map(|o| o.to_le_bytes()).collect();
        let list = self.alloc_with(&list);
        let p = self.payload_mut(db);
        put_bytes(p, 0, b"db");
        put_u16(p, 2, segments.len() as u16);
        put_u32(p, 4, list);
        db
    }
}
