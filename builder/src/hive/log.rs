//! Transaction-log recovery: a hive Windows left *dirty* (primary ≠ secondary sequence number,
//! or a bad base-block checksum) has its unwritten changes in `<HIVE>.LOG1` / `<HIVE>.LOG2`
//! beside it. [`recover`] replays them the way the kernel does on load (research
//! `registry-hives.md` §2.9; the regf specification's "Format of transaction log files"):
//!
//! - **New format** (Windows 8.1+, log file type 6): `HvLE` entries from offset 512, each with a
//!   sequence number, the hive-bins size at the time, dirty page references and the pages, and
//!   two Marvin32 hashes. Entries whose sequence number is at least the primary's are applied,
//!   LOG1's before LOG2's, in sequence order; a log stops at its first entry with a wrong hash or
//!   an impossible size (only the entries before it count).
//! - **Old format** (log file type 1): a `DIRT` bitmap of 512-byte pages and the pages, applied
//!   when the log's base block is valid and its last-written time equals the primary's.
//!
//! A clean hive is returned as it is (logs with later entries are ignored, as Windows does).
//! A dirty hive without usable logs is returned as it is with [`Recovery::PrimaryAsIs`], for the
//! caller to warn about: the primary file is a consistent older state of the hive.

use std::borrow::Cow;

use super::format::{base_block_checksum, BASE_BLOCK_SIZE, HBIN_ALIGN};
use super::reader::{parse_base_block, read_hive_with, ParsedHive, ReadError, ReadOptions};

/// The Marvin32 seed of log-entry hashes (the specification's 14219357686671994754).
pub const LOG_HASH_SEED: u64 = 0x82EF_4D88_7A4E_55C5;
/// Log entries and dirty pages are aligned to this.
const SECTOR: usize = 512;
/// Fixed part of an `HvLE` entry header.
const ENTRY_HEADER: usize = 40;
/// Log file types in the base block.
const LOG_TYPE_OLD: u32 = 1;
const LOG_TYPE_NEW: u32 = 6;

/// What [`recover`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// The primary file was clean.
    Clean,
    /// Log entries were replayed.
    Replayed {
        /// Log entries (new format) or logs (old format) applied.
        entries: usize,
        /// Dirty pages written.
        pages: usize,
        /// The sequence number the hive has now.
        sequence: u32,
    },
    /// The hive is dirty and no log could be applied: the primary file is used as it is.
    PrimaryAsIs { reason: String },
}

impl Recovery {
    /// A warning to show, when the primary file had to be read as it is.
    pub fn warning(&self, what: &str) -> Option<String> {
        match self {
            Recovery::PrimaryAsIs { reason } => Some(format!(
                "{what} is dirty and {reason}: reading the primary file as it is (it may miss the \
                 last changes Windows made to it)"
            )),
            _ => None,
        }
    }
}

/// A hive's bytes after recovery.
#[derive(Debug)]
pub struct Recovered<'a> {
    pub bytes: Cow<'a, [u8]>,
    pub recovery: Recovery,
}

/// Replays `logs` (LOG1 first, then LOG2; missing ones left out) into `primary` when it is
/// dirty. Errors only when the primary's base block cannot be read at all.
pub fn recover<'a>(primary: &'a [u8], logs: &[&[u8]]) -> Result<Recovered<'a>, ReadError> {
    let base = parse_base_block(primary)?;
    let bad_checksum = base.checksum != base.computed_checksum;
    if base.primary_seq == base.secondary_seq && !bad_checksum {
        return Ok(Recovered {
            bytes: Cow::Borrowed(primary),
            recovery: Recovery::Clean,
        });
    }
    let as_is = |reason: String| Recovered {
        bytes: Cow::Borrowed(primary),
        recovery: Recovery::PrimaryAsIs { reason },
    };
    if logs.is_empty() {
        return Ok(as_is("has no .LOG1/.LOG2 beside it".into()));
    }
    let mut reasons = Vec::new();
    let mut new_entries = Vec::new();
    let mut old_logs = Vec::new();
    for (i, log) in logs.iter().enumerate() {
        let name = format!("LOG{}", i + 1);
        match LogHeader::parse(log) {
            Err(why) => reasons.push(format!("{name}: {why}")),
            Ok(h) if h.file_type == LOG_TYPE_NEW => {
                let (entries, stop) = new_format_entries(log);
                if let Some(stop) = stop {
                    reasons.push(format!("{name}: {stop}"));
                }
                new_entries.extend(entries.into_iter().map(|e| (i, h.clone(), e)));
            }
            Ok(h) if h.file_type == LOG_TYPE_OLD => old_logs.push((name, h, *log)),
            Ok(h) => reasons.push(format!("{name}: log file type {} is unknown", h.file_type)),
        }
    }
    let mut bytes = primary.to_vec();
    if bad_checksum {
        // The base block itself is recovered from a log's copy of its first sector.
        let Some(copy) = new_entries
            .iter()
            .map(|(_, h, _)| h)
            .chain(old_logs.iter().map(|(_, h, _)| h))
            .next()
        else {
            return Ok(as_is(format!(
                "its base block checksum is wrong and no log has a valid copy ({})",
                reasons.join("; ")
            )));
        };
        bytes[..SECTOR].copy_from_slice(&copy.first_sector);
        put_u32(&mut bytes, 28, 0);
    }
    let start_seq = u32_at(&bytes, 4);
    let result = if !new_entries.is_empty() {
        new_entries.retain(|(_, _, e)| e.sequence >= start_seq);
        // LOG1's entries before LOG2's for equal numbers; otherwise in sequence order.
        new_entries.sort_by_key(|(log, _, e)| (e.sequence, *log));
        new_entries.dedup_by_key(|(_, _, e)| e.sequence);
        if new_entries.is_empty() {
            reasons.push(format!(
                "no log entry has a sequence number ≥ the primary's {start_seq}"
            ));
            None
        } else {
            let mut pages = 0;
            let mut sequence = start_seq;
            for (_, _, e) in &new_entries {
                pages += apply_pages(&mut bytes, e.hbins_size, &e.pages);
                sequence = e.sequence;
            }
            Some((new_entries.len(), pages, sequence))
        }
    } else {
        let primary_time = &primary[12..20];
        match old_logs
            .iter()
            .find(|(_, h, _)| h.first_sector[12..20] == *primary_time)
        {
            None => {
                if !old_logs.is_empty() {
                    reasons
                        .push("no old-format log has the primary's last-written time".to_string());
                }
                None
            }
            Some((name, h, log)) => match old_format_pages(log, h.hbins_size) {
                Err(why) => {
                    reasons.push(format!("{name}: {why}"));
                    None
                }
                Ok(pages) => {
                    let n = apply_pages(&mut bytes, h.hbins_size, &pages);
                    Some((1, n, h.sequence))
                }
            },
        }
    };
    let Some((entries, pages, sequence)) = result else {
        return Ok(as_is(format!(
            "its logs cannot be applied ({})",
            reasons.join("; ")
        )));
    };
    put_u32(&mut bytes, 4, sequence);
    put_u32(&mut bytes, 8, sequence);
    let sum = base_block_checksum(&bytes);
    put_u32(&mut bytes, 508, sum);
    Ok(Recovered {
        bytes: Cow::Owned(bytes),
        recovery: Recovery::Replayed {
            entries,
            pages,
            sequence,
        },
    })
}

/// Recovers (see [`recover`]) and reads the hive: replayed when logs apply, the primary as it is
/// otherwise (the returned [`Recovery`] says which, for a warning).
pub fn read_hive_recovering(
    primary: &[u8],
    logs: &[&[u8]],
) -> Result<(ParsedHive, Recovery), ReadError> {
    let recovered = recover(primary, logs)?;
    let allow_dirty = matches!(recovered.recovery, Recovery::PrimaryAsIs { .. });
    let parsed = read_hive_with(&recovered.bytes, ReadOptions { allow_dirty })?;
    Ok((parsed, recovered.recovery))
}

/// The first sector of a log file: a copy of the primary's base block with its own file type.
#[derive(Debug, Clone)]
struct LogHeader {
    first_sector: Vec<u8>,
    file_type: u32,
    sequence: u32,
    hbins_size: u32,
}

impl LogHeader {
    fn parse(log: &[u8]) -> Result<LogHeader, String> {
        if log.len() < SECTOR {
            return Err(format!(
                "{} bytes is shorter than a log's base block",
                log.len()
            ));
        }
        if &log[..4] != b"regf" {
            return Err("no regf signature".into());
        }
        let (seq1, seq2) = (u32_at(log, 4), u32_at(log, 8));
        if seq1 != seq2 {
            return Err(format!("its own sequence numbers differ ({seq1} ≠ {seq2})"));
        }
        if u32_at(log, 508) != base_block_checksum(log) {
            return Err("its base block checksum is wrong".into());
        }
        Ok(LogHeader {
            first_sector: log[..SECTOR].to_vec(),
            file_type: u32_at(log, 28),
            sequence: seq1,
            hbins_size: u32_at(log, 40),
        })
    }
}

/// One valid `HvLE` entry.
#[derive(Debug)]
struct LogEntry<'a> {
    sequence: u32,
    hbins_size: u32,
    /// (offset in the hive-bins data, page bytes).
    pages: Vec<(u32, &'a [u8])>,
}

/// The valid entries of a new-format log, and why reading stopped early (if it did).
fn new_format_entries(log: &[u8]) -> (Vec<LogEntry<'_>>, Option<String>) {
    let mut out = Vec::new();
    let mut at = SECTOR;
    while at + ENTRY_HEADER <= log.len() && &log[at..at + 4] == b"HvLE" {
        match log_entry(log, at) {
            Ok((entry, size)) => {
                out.push(entry);
                at += size;
            }
            Err(why) => return (out, Some(format!("entry at 0x{at:x}: {why}"))),
        }
    }
    (out, None)
}

fn log_entry(log: &[u8], at: usize) -> Result<(LogEntry<'_>, usize), String> {
    let size = u32_at(log, at + 4) as usize;
    if size < ENTRY_HEADER || !size.is_multiple_of(SECTOR) || at + size > log.len() {
        return Err(format!("size {size} is impossible"));
    }
    let entry = &log[at..at + size];
    let hbins_size = u32_at(entry, 16);
    if hbins_size == 0 || !(hbins_size as usize).is_multiple_of(HBIN_ALIGN) {
        return Err(format!(
            "hive bins size {hbins_size} is not a multiple of 4096"
        ));
    }
    let hash1 = u64::from_le_bytes(entry[24..32].try_into().unwrap());
    let hash2 = u64::from_le_bytes(entry[32..40].try_into().unwrap());
    if marvin32(&entry[ENTRY_HEADER..], LOG_HASH_SEED) != hash1 {
        return Err("hash-1 does not match".into());
    }
    if marvin32(&entry[..32], LOG_HASH_SEED) != hash2 {
        return Err("hash-2 does not match".into());
    }
    let count = u32_at(entry, 20) as usize;
    let refs_end = count
        .checked_mul(8)
        .and_then(|n| n.checked_add(ENTRY_HEADER))
        .filter(|&n| n <= size)
        .ok_or_else(|| format!("{count} dirty page references do not fit"))?;
    let mut data = refs_end;
    let mut pages = Vec::with_capacity(count);
    for r in 0..count {
        let offset = u32_at(entry, ENTRY_HEADER + r * 8);
        let len = u32_at(entry, ENTRY_HEADER + r * 8 + 4) as usize;
        let fits = data.checked_add(len).filter(|&end| end <= size);
        let in_bins = (offset as u64 + len as u64) <= hbins_size as u64;
        let (Some(end), true) = (fits, in_bins) else {
            return Err(format!("dirty page {r} (0x{offset:x}+{len}) does not fit"));
        };
        pages.push((offset, &entry[data..end]));
        data = end;
    }
    let sequence = u32_at(entry, 12);
    Ok((
        LogEntry {
            sequence,
            hbins_size,
            pages,
        },
        size,
    ))
}

/// The pages of an old-format (`DIRT`) log for a hive with `hbins_size` bytes of bins.
fn old_format_pages(log: &[u8], hbins_size: u32) -> Result<Vec<(u32, &[u8])>, String> {
    if log.len() < SECTOR + 4 || &log[SECTOR..SECTOR + 4] != b"DIRT" {
        return Err("no DIRT signature after the base block".into());
    }
    let bits = hbins_size as usize / SECTOR;
    let bitmap_len = bits.div_ceil(8);
    let bitmap = log
        .get(SECTOR + 4..SECTOR + 4 + bitmap_len)
        .ok_or("the dirty vector is truncated")?;
    let mut at = SECTOR + (4 + bitmap_len).div_ceil(SECTOR) * SECTOR;
    let mut pages = Vec::new();
    for bit in (0..bits).filter(|b| bitmap[b / 8] >> (b % 8) & 1 == 1) {
        let page = log
            .get(at..at + SECTOR)
            .ok_or_else(|| format!("dirty page {bit} is missing (log truncated)"))?;
        pages.push(((bit * SECTOR) as u32, page));
        at += SECTOR;
    }
    Ok(pages)
}

/// Writes `pages` into the hive bins of `bytes`, sized to `hbins_size`; returns the page count.
fn apply_pages(bytes: &mut Vec<u8>, hbins_size: u32, pages: &[(u32, &[u8])]) -> usize {
    bytes.resize(BASE_BLOCK_SIZE + hbins_size as usize, 0);
    put_u32(bytes, 40, hbins_size);
    for (offset, page) in pages {
        let at = BASE_BLOCK_SIZE + *offset as usize;
        bytes[at..at + page.len()].copy_from_slice(page);
    }
    pages.len()
}

/// Marvin32 (the keyed checksum Windows uses for log entries): 64-bit result, `seed` as the key.
pub fn marvin32(data: &[u8], seed: u64) -> u64 {
    fn mix(p0: &mut u32, p1: &mut u32) {
        *p1 ^= *p0;
        *p0 = p0.rotate_left(20).wrapping_add(*p1);
        *p1 = p1.rotate_left(9) ^ *p0;
        *p0 = p0.rotate_left(27).wrapping_add(*p1);
        *p1 = p1.rotate_left(19);
    }
    let (mut p0, mut p1) = (seed as u32, (seed >> 32) as u32);
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        p0 = p0.wrapping_add(u32::from_le_bytes(w.try_into().unwrap()));
        mix(&mut p0, &mut p1);
    }
    // The tail (0–3 bytes) is padded with a single 0x80 byte.
    let mut last = [0u8; 4];
    let tail = words.remainder();
    last[..tail.len()].copy_from_slice(tail);
    last[tail.len()] = 0x80;
    p0 = p0.wrapping_add(u32::from_le_bytes(last));
    mix(&mut p0, &mut p1);
    mix(&mut p0, &mut p1);
    (u64::from(p1) << 32) | u64::from(p0)
}

/// Dirty pages: (offset in the hive-bins data, page bytes).
pub type Pages = Vec<(u32, Vec<u8>)>;

/// A new-format log file for `primary` (its base block, type 6) holding one `HvLE` entry per
/// `(sequence, hbins_size, pages)`. What Windows writes, for tests and fixtures that need a
/// dirty hive with its logs.
pub fn new_format_log(primary: &[u8], entries: &[(u32, u32, Pages)]) -> Vec<u8> {
    let mut log = primary[..SECTOR].to_vec();
    put_u32(&mut log, 28, LOG_TYPE_NEW);
    let seq = entries.first().map_or(u32_at(&log, 4), |e| e.0);
    put_u32(&mut log, 4, seq);
    put_u32(&mut log, 8, seq);
    let sum = base_block_checksum(&log);
    put_u32(&mut log, 508, sum);
    for (sequence, hbins_size, pages) in entries {
        let data: usize = pages.iter().map(|(_, p)| p.len()).sum();
        let size = (ENTRY_HEADER + pages.len() * 8 + data).div_ceil(SECTOR) * SECTOR;
        let mut e = vec![0u8; size];
        e[..4].copy_from_slice(b"HvLE");
        put_u32(&mut e, 4, size as u32);
        put_u32(&mut e, 12, *sequence);
        put_u32(&mut e, 16, *hbins_size);
        put_u32(&mut e, 20, pages.len() as u32);
        let mut at = ENTRY_HEADER + pages.len() * 8;
        for (i, (offset, page)) in pages.iter().enumerate() {
            put_u32(&mut e, ENTRY_HEADER + i * 8, *offset);
            put_u32(&mut e, ENTRY_HEADER + i * 8 + 4, page.len() as u32);
            e[at..at + page.len()].copy_from_slice(page);
            at += page.len();
        }
        let h1 = marvin32(&e[ENTRY_HEADER..], LOG_HASH_SEED);
        e[24..32].copy_from_slice(&h1.to_le_bytes());
        let h2 = marvin32(&e[..32], LOG_HASH_SEED);
        e[32..40].copy_from_slice(&h2.to_le_bytes());
        log.extend_from_slice(&e);
    }
    log
}

/// The 4 KiB pages of `new`'s hive bins that differ from `old`'s (offset in the bins data,
/// bytes): the dirty pages a log entry turning `old` into `new` carries.
pub fn changed_pages(old: &[u8], new: &[u8]) -> Pages {
    let bins = |b: &[u8]| b.get(BASE_BLOCK_SIZE..).unwrap_or_default().to_vec();
    let (old, new) = (bins(old), bins(new));
    new.chunks(HBIN_ALIGN)
        .enumerate()
        .filter(|(i, page)| old.get(i * HBIN_ALIGN..i * HBIN_ALIGN + page.len()) != Some(*page))
        .map(|(i, page)| ((i * HBIN_ALIGN) as u32, page.to_vec()))
        .collect()
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}

fn put_u32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hive::tree::{Key, Value};
    use crate::hive::{read_hive, write_hive, WriteOptions};

    #[test]
    fn marvin32_matches_the_published_vectors() {
        // The .NET runtime's Marvin test vectors (seed 0x004FB61A001BDBCC).
        let seed = 0x004F_B61A_001B_DBCC;
        let cases: [(&[u8], u64); 8] = [
            (b"", 0x30ED_35C1_00CD_3C7D),
            (&[0xaf], 0x48E7_3FC7_7D75_DDC1),
            (&[0xe7, 0x0f], 0xB5F6_E1FC_485D_BFF8),
            (&[0x37, 0xf4, 0x95], 0xF0B0_7C78_9B8C_F7E8),
            (&[0x86, 0x42, 0xdc, 0x59], 0x7008_F2E8_7E9C_F556),
            (&[0x15, 0x3f, 0xb7, 0x98, 0x26], 0xE6C0_8C6D_A2AF_A997),
            (&[0x09, 0x32, 0xe6, 0x24, 0x6c, 0x47], 0x6F04_BF1A_5EA2_4060),
            (
                &[0xab, 0x42, 0x7e, 0xa8, 0xd1, 0x0f, 0xc7],
                0xE118_47E4_F067_8C41,
            ),
        ];
        for (data, want) in cases {
            assert_eq!(marvin32(data, seed), want, "{data:02x?}");
        }
    }

    fn hive(value: &str) -> Vec<u8> {
        let mut root = Key::new("ROOT");
        root.create_path("A\\B")
            .set_value(Value::string("v", value));
        write_hive(&root, &WriteOptions::default()).unwrap()
    }

    /// A dirty primary (old bytes, seq1 = seq2 + 1) and the pages that turn it into `new`.
    fn dirty_pair(old: &[u8], new: &[u8]) -> (Vec<u8>, Vec<(u32, Vec<u8>)>) {
        let mut primary = old.to_vec();
        put_u32(&mut primary, 4, 8);
        put_u32(&mut primary, 8, 7);
        let sum = base_block_checksum(&primary);
        put_u32(&mut primary, 508, sum);
        (primary, changed_pages(old, new))
    }

    #[test]
    fn new_format_entries_are_replayed() {
        let (old, new) = (hive("old"), hive("new value, longer"));
        let (primary, pages) = dirty_pair(&old, &new);
        assert!(matches!(read_hive(&primary), Err(ReadError::Dirty { .. })));
        let hbins = u32_at(&new, 40);
        let log = new_format_log(&primary, &[(8, hbins, pages)]);
        let (parsed, recovery) = read_hive_recovering(&primary, &[&log]).unwrap();
        assert_eq!(
            recovery,
            Recovery::Replayed {
                entries: 1,
                pages: 1,
                sequence: 8
            }
        );
        let v = parsed
            .root
            .find("A\\B")
            .unwrap()
            .value("v")
            .unwrap()
            .clone();
        assert_eq!(v, Value::string("v", "new value, longer"));
        assert_eq!((parsed.base.primary_seq, parsed.base.secondary_seq), (8, 8));
    }

    #[test]
    fn stale_broken_or_missing_logs_leave_the_primary_with_a_reason() {
        let (old, new) = (hive("old"), hive("new"));
        let (primary, pages) = dirty_pair(&old, &new);
        let hbins = u32_at(&new, 40);
        // Already applied (sequence below the primary's): ignored.
        let stale = new_format_log(&primary, &[(7, hbins, pages.clone())]);
        // A flipped byte in the page: hash-1 fails, recovery stops before it.
        let mut broken = new_format_log(&primary, &[(8, hbins, pages)]);
        let last = broken.len() - 1;
        broken[last - 100] ^= 1;
        for logs in [vec![], vec![&stale[..]], vec![&broken[..]]] {
            let (parsed, recovery) = read_hive_recovering(&primary, &logs).unwrap();
            let warning = recovery.warning("SYSTEM").expect("a warning");
            assert!(warning.starts_with("SYSTEM is dirty"), "{warning}");
            let v = parsed
                .root
                .find("A\\B")
                .unwrap()
                .value("v")
                .unwrap()
                .clone();
            assert_eq!(v, Value::string("v", "old"), "{warning}");
        }
        let (_, r) = read_hive_recovering(&primary, &[&broken]).unwrap();
        assert!(format!("{r:?}").contains("hash-1 does not match"), "{r:?}");
    }

    #[test]
    fn a_clean_hive_ignores_its_logs() {
        let (old, new) = (hive("old"), hive("new"));
        let (primary, pages) = dirty_pair(&old, &new);
        let log = new_format_log(&primary, &[(8, u32_at(&new, 40), pages)]);
        let (parsed, recovery) = read_hive_recovering(&old, &[&log]).unwrap();
        assert_eq!(recovery, Recovery::Clean);
        let v = parsed
            .root
            .find("A\\B")
            .unwrap()
            .value("v")
            .unwrap()
            .clone();
        assert_eq!(v, Value::string("v", "old"));
    }

    #[test]
    fn old_format_dirt_logs_are_replayed() {
        let (old, new) = (hive("old"), hive("new"));
        let (primary, pages) = dirty_pair(&old, &new);
        let hbins = u32_at(&new, 40) as usize;
        let mut log = primary[..SECTOR].to_vec();
        put_u32(&mut log, 28, LOG_TYPE_OLD);
        put_u32(&mut log, 4, 8);
        put_u32(&mut log, 8, 8);
        let sum = base_block_checksum(&log);
        put_u32(&mut log, 508, sum);
        let mut bitmap = vec![0u8; (hbins / SECTOR).div_ceil(8)];
        let mut data = Vec::new();
        for (offset, page) in &pages {
            for s in 0..HBIN_ALIGN / SECTOR {
                let bit = *offset as usize / SECTOR + s;
                bitmap[bit / 8] |= 1 << (bit % 8);
                data.extend_from_slice(&page[s * SECTOR..(s + 1) * SECTOR]);
            }
        }
        log.extend_from_slice(b"DIRT");
        log.extend_from_slice(&bitmap);
        log.resize(log.len().div_ceil(SECTOR) * SECTOR, 0);
        log.extend_from_slice(&data);
        let (parsed, recovery) = read_hive_recovering(&primary, &[&log]).unwrap();
        assert!(matches!(recovery, Recovery::Replayed { sequence: 8, .. }));
        let v = parsed
            .root
            .find("A\\B")
            .unwrap()
            .value("v")
            .unwrap()
            .clone();
        assert_eq!(v, Value::string("v", "new"));
    }
}
