//! The in-memory key tree every other part of the hive codec works on: [`Key`] with its
//! [`Value`]s, layered-key semantics for differencing hives, and Windows registry name rules
//! ([`upcase_unit`], [`NameKey`], [`compare_names`], [`lh_hash`]).
//!
//! Names compare the way the Windows kernel and offreg compare them: each UTF-16 code unit is
//! upper-cased with a simple 1:1 mapping (`ä`→`Ä`, but `ß` stays `ß`), surrogates are never
//! touched, and order is by UTF-16 code unit (so supplementary-plane names sort *before*
//! U+E000..U+FFFF). Rust's `str::to_uppercase` and `str` ordering both disagree with that.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// A FILETIME: 100-ns intervals since 1601-01-01 UTC.
pub type FileTime = u64;

/// Well-known value types. Types are opaque `u32`s: hives carry any value (0x100000, 0xFFFF0007…).
pub mod value_type {
    pub const REG_NONE: u32 = 0;
    pub const REG_SZ: u32 = 1;
    pub const REG_EXPAND_SZ: u32 = 2;
    pub const REG_BINARY: u32 = 3;
    pub const REG_DWORD: u32 = 4;
    pub const REG_DWORD_BIG_ENDIAN: u32 = 5;
    pub const REG_LINK: u32 = 6;
    pub const REG_MULTI_SZ: u32 = 7;
    pub const REG_RESOURCE_LIST: u32 = 8;
    pub const REG_FULL_RESOURCE_DESCRIPTOR: u32 = 9;
    pub const REG_RESOURCE_REQUIREMENTS_LIST: u32 = 10;
    pub const REG_QWORD: u32 = 11;
}

/// The name of the value a symbolic-link key (flag [`KeyFlags::SYM_LINK`]) points through.
pub const SYMLINK_VALUE_NAME: &str = "SymbolicLinkValue";

/// nk flags. `COMP_NAME` (Latin-1 name) is a storage detail: the reader drops it and the writer
/// derives it. `HIVE_ENTRY` is kept as found: Windows sets it on roots (flags 0x2C), offreg does
/// not (0x20); [`Key::new_root`] sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KeyFlags(pub u16);

impl KeyFlags {
    pub const VOLATILE: u16 = 0x0001;
    pub const HIVE_EXIT: u16 = 0x0002;
    pub const HIVE_ENTRY: u16 = 0x0004;
    pub const NO_DELETE: u16 = 0x0008;
    pub const SYM_LINK: u16 = 0x0010;
    pub const COMP_NAME: u16 = 0x0020;
    pub const PREDEF_HANDLE: u16 = 0x0040;
    pub const VIRTUAL_SOURCE: u16 = 0x0080;
    pub const VIRTUAL_TARGET: u16 = 0x0100;
    pub const VIRTUAL_STORE: u16 = 0x0200;
    /// Bits the model keeps; the others are derived at write time.
    pub const MODEL_MASK: u16 = !Self::COMP_NAME;

    pub fn is_symlink(self) -> bool {
        self.0 & Self::SYM_LINK != 0
    }
    pub fn is_volatile(self) -> bool {
        self.0 & Self::VOLATILE != 0
    }
    pub fn contains(self, bit: u16) -> bool {
        self.0 & bit == bit
    }
    pub fn set(&mut self, bit: u16, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }
}

/// LayerSemantics of a key node in a differencing hive (nk byte 13, bits 0–1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LayerSemantics {
    /// Merge with the same key in lower layers (also every key of an ordinary hive).
    #[default]
    Merge,
    /// The key and its lower-layer counterparts do not exist in the merged view.
    Tombstone,
    /// Only this node's values and class count; subkeys still merge per child.
    SupersedeLocal,
    /// Like `SupersedeLocal` for the whole subtree: the lower layers' subtree is hidden.
    SupersedeTree,
}

impl LayerSemantics {
    pub fn from_bits(bits: u8) -> LayerSemantics {
        match bits & 3 {
            0 => LayerSemantics::Merge,
            1 => LayerSemantics::Tombstone,
            2 => LayerSemantics::SupersedeLocal,
            _ => LayerSemantics::SupersedeTree,
        }
    }
    pub fn bits(self) -> u8 {
        match self {
            LayerSemantics::Merge => 0,
            LayerSemantics::Tombstone => 1,
            LayerSemantics::SupersedeLocal => 2,
            LayerSemantics::SupersedeTree => 3,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            LayerSemantics::Merge => "merge",
            LayerSemantics::Tombstone => "tombstone",
            LayerSemantics::SupersedeLocal => "supersede-local",
            LayerSemantics::SupersedeTree => "supersede-tree",
        }
    }
}

/// A registry value. The default value has the empty name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Value {
    pub name: String,
    /// The value type as stored: any `u32` (see [`value_type`]).
    pub kind: u32,
    pub data: Vec<u8>,
    /// A tombstone value (vk flag 0x2) deletes the value of the same name in lower layers.
    /// Tombstones have kind `REG_NONE` and no data.
    pub tombstone: bool,
}

impl Value {
    pub fn new(name: impl Into<String>, kind: u32, data: impl Into<Vec<u8>>) -> Value {
        Value {
            name: name.into(),
            kind,
            data: data.into(),
            tombstone: false,
        }
    }
    /// A tombstone for the value `name`.
    pub fn tombstone(name: impl Into<String>) -> Value {
        Value {
            name: name.into(),
            kind: value_type::REG_NONE,
            data: Vec::new(),
            tombstone: true,
        }
    }
    /// A REG_SZ value holding `text` plus the terminating NUL, as Windows stores strings.
    pub fn string(name: impl Into<String>, text: &str) -> Value {
        Value::new(name, value_type::REG_SZ, utf16z(text))
    }
    pub fn dword(name: impl Into<String>, v: u32) -> Value {
        Value::new(name, value_type::REG_DWORD, v.to_le_bytes().to_vec())
    }
}

/// `text` as UTF-16LE bytes followed by a NUL code unit.
pub fn utf16z(text: &str) -> Vec<u8> {
    let mut out: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    out.extend_from_slice(&[0, 0]);
    out
}

/// A registry key with its values and subkeys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Key {
    pub name: String,
    /// The class name as stored (normally UTF-16LE text). `None` = no class cell.
    pub class: Option<Vec<u8>>,
    pub last_write: FileTime,
    /// Key flags without the derived `COMP_NAME` bit.
    pub flags: KeyFlags,
    /// nk offset 52 bits 16–19 (VirtControlFlags: 0x2 DONT_VIRTUALIZE, 0x4 DONT_SILENT_FAIL, 0x8 RECURSE).
    pub virt_control_flags: u8,
    /// nk offset 52 bits 20–23 (Wow64 user flags).
    pub user_flags: u8,
    pub layer: LayerSemantics,
    /// Take the class from the next lower layer instead of this node (differencing hives).
    pub inherit_class: bool,
    /// Self-relative SECURITY_DESCRIPTOR bytes. `None` = use the parent's when writing.
    pub security: Option<Arc<[u8]>>,
    values: BTreeMap<NameKey, Value>,
    subkeys: BTreeMap<NameKey, Key>,
}

impl Key {
    pub fn new(name: impl Into<String>) -> Key {
        Key {
            name: name.into(),
            ..Key::default()
        }
    }

    /// A hive root as Windows makes them: flags HIVE_ENTRY | NO_DELETE.
    pub fn new_root(name: impl Into<String>) -> Key {
        let mut key = Key::new(name);
        key.flags = KeyFlags(KeyFlags::HIVE_ENTRY | KeyFlags::NO_DELETE);
        key
    }

    /// Values ordered by Windows name order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &Value> + DoubleEndedIterator {
        self.values.values()
    }
    pub fn value_count(&self) -> usize {
        self.values.len()
    }
    /// The value `name`, case-insensitively (`""` = the default value).
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.values.get(&NameKey::new(name))
    }
    pub fn value_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.values.get_mut(&NameKey::new(name))
    }
    /// Adds or replaces a value of the same name (case-insensitive); returns the old one.
    pub fn set_value(&mut self, value: Value) -> Option<Value> {
        self.values.insert(NameKey::new(&value.name), value)
    }
    pub fn remove_value(&mut self, name: &str) -> Option<Value> {
        self.values.remove(&NameKey::new(name))
    }
    pub fn clear_values(&mut self) {
        self.values.clear();
    }

    /// Subkeys in Windows order (upcased UTF-16 code units).
    pub fn subkeys(&self) -> impl ExactSizeIterator<Item = &Key> + DoubleEndedIterator {
        self.subkeys.values()
    }
    pub fn subkeys_mut(&mut self) -> impl ExactSizeIterator<Item = &mut Key> {
        self.subkeys.values_mut()
    }
    pub fn subkey_count(&self) -> usize {
        self.subkeys.len()
    }
    /// The direct subkey `name`, case-insensitively.
    pub fn subkey(&self, name: &str) -> Option<&Key> {
        self.subkeys.get(&NameKey::new(name))
    }
    pub fn subkey_mut(&mut self, name: &str) -> Option<&mut Key> {
        self.subkeys.get_mut(&NameKey::new(name))
    }
    /// Adds or replaces the subkey of the same name (case-insensitive); returns the old one.
    pub fn insert_subkey(&mut self, key: Key) -> Option<Key> {
        self.subkeys.insert(NameKey::new(&key.name), key)
    }
    pub fn remove_subkey(&mut self, name: &str) -> Option<Key> {
        self.subkeys.remove(&NameKey::new(name))
    }
    /// The subkey `name`, created (with `Key::new(name)`) if missing.
    pub fn subkey_or_insert(&mut self, name: &str) -> &mut Key {
        self.subkeys
            .entry(NameKey::new(name))
            .or_insert_with(|| Key::new(name))
    }
    pub fn clear_subkeys(&mut self) {
        self.subkeys.clear();
    }
    /// Takes the subkeys out, leaving none.
    pub fn take_subkeys(&mut self) -> Vec<Key> {
        std::mem::take(&mut self.subkeys).into_values().collect()
    }

    /// The key at `path` below this one: components separated by `\`, empty components ignored,
    /// case-insensitive.
    pub fn find(&self, path: &str) -> Option<&Key> {
        path.split('\\')
            .filter(|c| !c.is_empty())
            .try_fold(self, |key, component| key.subkey(component))
    }
    pub fn find_mut(&mut self, path: &str) -> Option<&mut Key> {
        path.split('\\')
            .filter(|c| !c.is_empty())
            .try_fold(self, |key, component| key.subkey_mut(component))
    }
    /// The key at `path` below this one, creating missing keys on the way.
    pub fn create_path(&mut self, path: &str) -> &mut Key {
        path.split('\\')
            .filter(|c| !c.is_empty())
            .fold(self, |key, component| key.subkey_or_insert(component))
    }

    /// Lays `top` over this key: values of `top` replace same-named ones, subkeys merge; the
    /// class, security and newer last-write time of `top` win where it has them, its flags
    /// always. (A full hive over Wine's defaults; a step's writes over a subtree it could not
    /// see.)
    pub fn lay_over(&mut self, top: &Key) {
        for v in top.values() {
            self.set_value(v.clone());
        }
        if top.class.is_some() {
            self.class = top.class.clone();
        }
        if top.last_write > self.last_write {
            self.last_write = top.last_write;
        }
        self.flags = top.flags;
        if top.security.is_some() {
            self.security = top.security.clone();
        }
        for sub in top.subkeys() {
            self.subkey_or_insert(&sub.name).lay_over(sub);
        }
    }

    /// The number of keys in this subtree, this one included.
    pub fn count_keys(&self) -> usize {
        1 + self.subkeys().map(Key::count_keys).sum::<usize>()
    }
    /// The number of values in this subtree.
    pub fn count_values(&self) -> usize {
        self.values.len() + self.subkeys().map(Key::count_values).sum::<usize>()
    }
    /// The class as text (UTF-16LE decoded, lossy), if any.
    pub fn class_text(&self) -> Option<String> {
        self.class.as_deref().map(utf16le_lossy)
    }
    /// Sets the class from text (stored as UTF-16LE without NUL, as Windows does).
    pub fn set_class_text(&mut self, class: &str) {
        self.class = Some(class.encode_utf16().flat_map(u16::to_le_bytes).collect());
    }
    /// Gives every key without a security descriptor its nearest ancestor's (or `default` at
    /// the top), as the writer stores them: the tree then equals what a reader returns.
    pub fn fill_security(&mut self, default: &Arc<[u8]>) {
        let sd = self.security.get_or_insert_with(|| default.clone()).clone();
        for child in self.subkeys_mut() {
            child.fill_security(&sd);
        }
    }

    /// Whether this key is a layered-key node with non-default layer bits, or holds a tombstone
    /// value, anywhere in its subtree: such a tree must be written as a differencing hive.
    pub fn uses_layers(&self) -> bool {
        self.layer != LayerSemantics::Merge
            || self.inherit_class
            || self.values().any(|v| v.tombstone)
            || self.subkeys().any(Key::uses_layers)
    }
}

/// Decodes UTF-16LE bytes (an odd trailing byte is ignored), replacing unpaired surrogates.
pub fn utf16le_lossy(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// Windows' upper-casing of one UTF-16 code unit: the simple (1:1) Unicode uppercase mapping of
/// a BMP character; surrogates and characters whose uppercase is not a single BMP character
/// (`ß`) stay unchanged.
pub fn upcase_unit(unit: u16) -> u16 {
    if unit < 0x80 {
        return (unit as u8).to_ascii_uppercase() as u16;
    }
    upcase_table()[unit as usize]
}

fn upcase_table() -> &'static [u16] {
    static TABLE: OnceLock<Box<[u16]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=u16::MAX)
            .map(|unit| {
                let Some(c) = char::from_u32(unit as u32) else {
                    return unit; // a surrogate
                };
                let mut upper = c.to_uppercase();
                match (upper.next(), upper.next()) {
                    (Some(u), None) if (u as u32) <= 0xFFFF => u as u16,
                    _ => unit,
                }
            })
            .collect()
    })
}

/// The upcased UTF-16 code units of `name`.
pub fn upcase_units(name: &str) -> impl Iterator<Item = u16> + '_ {
    name.encode_utf16().map(upcase_unit)
}

/// Compares two names the way Windows orders subkeys: upcased UTF-16 code units.
pub fn compare_names(a: &str, b: &str) -> std::cmp::Ordering {
    upcase_units(a).cmp(upcase_units(b))
}

/// Whether two names denote the same key or value.
pub fn names_equal(a: &str, b: &str) -> bool {
    compare_names(a, b).is_eq()
}

/// The hash stored in `lh` subkey lists: `h = 37*h + unit` over the upcased UTF-16 units.
pub fn lh_hash(name: &str) -> u32 {
    upcase_units(name).fold(0u32, |h, unit| h.wrapping_mul(37).wrapping_add(unit as u32))
}

/// A name in its comparison form (upcased UTF-16 units); `Ord` is Windows subkey order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NameKey(Box<[u16]>);

impl NameKey {
    pub fn new(name: &str) -> NameKey {
        NameKey(upcase_units(name).collect())
    }
    pub fn units(&self) -> &[u16] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upcase_follows_windows_rules() {
        assert_eq!(upcase_unit('a' as u16), 'A' as u16);
        assert_eq!(upcase_unit('ä' as u16), 'Ä' as u16);
        assert_eq!(upcase_unit('ß' as u16), 'ß' as u16);
        assert_eq!(upcase_unit(0xFF41), 0xFF21);
        assert_eq!(upcase_unit(0xD801), 0xD801);
        assert_eq!(upcase_unit(0xDC38), 0xDC38);
        // Deseret U+10438 is not case-folded: two distinct keys.
        assert!(!names_equal("\u{10410}", "\u{10438}"));
        assert!(names_equal("\u{FF21}", "\u{FF41}"));
        assert!(!names_equal("ß", "SS"));
    }

    #[test]
    fn order_is_by_utf16_code_unit() {
        let mut names = vec!["Ａ", "𐐸", "äöü", "𐐐"];
        names.sort_by(|a, b| compare_names(a, b));
        assert_eq!(names, vec!["äöü", "𐐐", "𐐸", "Ａ"]);
    }

    #[test]
    fn lh_hash_matches_offreg() {
        // Research §2.4: offreg stores 0x437ee for "äöü".
        assert_eq!(lh_hash("äöü"), 0x437ee);
        assert_eq!(lh_hash("abc"), lh_hash("ABC"));
    }

    #[test]
    fn subkeys_and_values_are_case_insensitive() {
        let mut key = Key::new("ROOT");
        key.create_path(r"Software\Foo")
            .set_value(Value::dword("X", 1));
        assert!(key.find(r"SOFTWARE\foo").is_some());
        assert_eq!(
            key.find(r"software\FOO").unwrap().value("x").unwrap().data,
            [1, 0, 0, 0]
        );
        key.subkey_or_insert("software");
        assert_eq!(key.subkey_count(), 1);
        assert_eq!(key.subkey("SOFTWARE").unwrap().name, "Software");
        assert_eq!(key.count_keys(), 3);
    }
}
