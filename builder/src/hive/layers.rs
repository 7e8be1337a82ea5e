//! Differencing hives as trees: [`diff`] builds the delta a container layer carries
//! (research `registry-hives.md` §3.5), [`merge`] computes the view a stack of layers presents
//! (§3.2), and [`compose`] folds two deltas into one (squashing layers).
//!
//! Semantics followed, for a key path seen through a stack of nodes (highest priority first):
//! a `Tombstone` node hides itself and everything below it; `SupersedeLocal` hides lower values
//! and classes but lets subkeys merge; `SupersedeTree` hides the whole lower subtree. Values are
//! the union by name (higher wins, tombstone values delete); the class comes from the first node
//! with `inherit_class == false`; the last-write time is the maximum over the visible nodes; flags
//! and security descriptor come from the top node.

use std::collections::BTreeSet;

use super::tree::{Key, LayerSemantics, NameKey, Value};

/// Options for [`diff_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DiffOptions {
    /// Treat a key whose only change is a later last-write time as unchanged (Wine re-stamps
    /// keys on every start).
    pub ignore_time_only_changes: bool,
}

/// The delta that turns `base` into `target` (both ordinary trees with the same root).
/// `diff(x, x)` is a bare root. The root keeps the target's name, flags and security.
pub fn diff(base: &Key, target: &Key) -> Key {
    diff_with(base, target, DiffOptions::default())
}

pub fn diff_with(base: &Key, target: &Key, options: DiffOptions) -> Key {
    let mut root = diff_key(base, target, options, true).unwrap_or_else(|| pass_through(target));
    // A delta's root always states its own class (as Windows writes them).
    root.inherit_class = false;
    root.class = target.class.clone();
    root
}

/// Whether a delta changes nothing: a root with no values, subkeys or own layer semantics.
pub fn is_empty_delta(delta: &Key) -> bool {
    delta.value_count() == 0 && delta.subkey_count() == 0 && delta.layer == LayerSemantics::Merge
}

/// A delta node for a key present in both trees that carries only metadata.
fn pass_through(target: &Key) -> Key {
    let mut node = Key::new(target.name.clone());
    node.flags = target.flags;
    node.virt_control_flags = target.virt_control_flags;
    node.user_flags = target.user_flags;
    node.security = target.security.clone();
    node.last_write = target.last_write;
    node.inherit_class = true;
    node
}

/// The delta node for a key in both trees, or `None` when nothing changed in its subtree.
fn diff_key(base: &Key, target: &Key, options: DiffOptions, is_root: bool) -> Option<Key> {
    if !is_root && replaced(base, target) {
        let mut node = supersede_tree(target);
        node.layer = LayerSemantics::SupersedeTree;
        return Some(node);
    }
    let mut node = pass_through(target);
    // A case-only rename is a change too: names are case-preserving.
    let mut changed = target.name != base.name
        || target.flags != base.flags
        || target.virt_control_flags != base.virt_control_flags
        || target.user_flags != base.user_flags
        || target.security != base.security
        || (!options.ignore_time_only_changes && target.last_write != base.last_write);
    if target.class != base.class {
        node.inherit_class = false;
        node.class = target.class.clone();
        changed = true;
    }

    let mut new_or_changed = Vec::new();
    for value in target.values() {
        if base.value(&value.name) != Some(value) {
            new_or_changed.push(value.clone());
        }
    }
    // Removed values become tombstone values, as Windows writes them (research §3.5: a
    // SupersedeLocal restatement would merge the same but was never seen from Windows).
    let removed: Vec<&Value> = base
        .values()
        .filter(|v| target.value(&v.name).is_none())
        .collect();
    changed |= !new_or_changed.is_empty() || !removed.is_empty();
    for value in new_or_changed {
        node.set_value(value);
    }
    for value in removed {
        node.set_value(Value::tombstone(value.name.clone()));
    }

    for name in union_of_subkey_names(base, target) {
        let child = match (base.subkey(&name), target.subkey(&name)) {
            (Some(b), Some(t)) => diff_key(b, t, options, false),
            (None, Some(t)) => Some(new_subtree(t)),
            (Some(b), None) => Some(tombstone(b)),
            (None, None) => None,
        };
        if let Some(child) = child {
            node.insert_subkey(child);
        }
    }
    if changed || node.subkey_count() > 0 {
        if options.ignore_time_only_changes && !changed {
            node.last_write = base.last_write.max(target.last_write);
        }
        Some(node)
    } else {
        None
    }
}

/// A key was replaced when the two versions share no value or subkey name and the old one had
/// content: the delta restates the new subtree with `SupersedeTree` instead of tombstones.
fn replaced(base: &Key, target: &Key) -> bool {
    let base_has_content = base.value_count() + base.subkey_count() > 0;
    let shares_value = target.values().any(|v| base.value(&v.name).is_some());
    let shares_subkey = target.subkeys().any(|k| base.subkey(&k.name).is_some());
    base_has_content
        && !shares_value
        && !shares_subkey
        && target.value_count() + target.subkey_count() > 0
}

/// Subkey names of both keys, once each (case-insensitively), in Windows order.
fn union_of_subkey_names(a: &Key, b: &Key) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut names = Vec::new();
    for key in a.subkeys().chain(b.subkeys()) {
        if seen.insert(NameKey::new(&key.name)) {
            names.push(key.name.clone());
        }
    }
    names
}

/// A key absent below: its whole subtree with plain merge semantics and its own classes.
fn new_subtree(target: &Key) -> Key {
    let mut node = target.clone();
    node.layer = LayerSemantics::Merge;
    node.inherit_class = false;
    node
}

/// `target`'s subtree with every node `SupersedeTree` and its own class (the node itself may
/// get other semantics from the caller).
fn supersede_tree(target: &Key) -> Key {
    let mut node = target.clone();
    node.layer = LayerSemantics::SupersedeTree;
    node.inherit_class = false;
    node.clear_subkeys();
    for child in target.subkeys() {
        node.insert_subkey(supersede_tree(child));
    }
    node
}

/// A tombstone for a deleted key: no values, subkeys or class, but its flags, time and SD.
fn tombstone(base: &Key) -> Key {
    let mut node = Key::new(base.name.clone());
    node.layer = LayerSemantics::Tombstone;
    node.flags = base.flags;
    node.last_write = base.last_write;
    node.security = base.security.clone();
    node
}

/// The view of `base` with `deltas` applied in order (the last delta is the top layer).
/// Returns `None` only if a delta's root is a tombstone.
pub fn merge(base: &Key, deltas: &[&Key]) -> Option<Key> {
    let mut stack: Vec<&Key> = deltas.iter().rev().copied().collect();
    stack.push(base);
    merge_stack(&stack)
}

/// Merges the nodes of one key path, highest priority first.
fn merge_stack(stack: &[&Key]) -> Option<Key> {
    let top = *stack.first()?;
    if top.layer == LayerSemantics::Tombstone {
        return None;
    }
    let mut value_nodes = Vec::new();
    let mut visible = Vec::new();
    let mut values_sealed = false;
    for &node in stack {
        match node.layer {
            LayerSemantics::Tombstone => break,
            LayerSemantics::Merge => {
                if !values_sealed {
                    value_nodes.push(node);
                }
                visible.push(node);
            }
            LayerSemantics::SupersedeLocal => {
                if !values_sealed {
                    value_nodes.push(node);
                    values_sealed = true;
                }
                visible.push(node);
            }
            LayerSemantics::SupersedeTree => {
                if !values_sealed {
                    value_nodes.push(node);
                }
                visible.push(node);
                break;
            }
        }
    }

    let mut key = Key::new(top.name.clone());
    key.flags = top.flags;
    key.virt_control_flags = top.virt_control_flags;
    key.user_flags = top.user_flags;
    key.security = top.security.clone();
    key.last_write = visible.iter().map(|n| n.last_write).max().unwrap_or(0);
    key.class = stack
        .iter()
        .take_while(|n| n.layer != LayerSemantics::Tombstone)
        .find(|n| !n.inherit_class)
        .and_then(|n| n.class.clone());
    for node in value_nodes.iter().rev() {
        for value in node.values() {
            if value.tombstone {
                key.remove_value(&value.name);
            } else {
                key.set_value(value.clone());
            }
        }
    }
    let names = visible
        .iter()
        .fold(Vec::<String>::new(), |mut names, node| {
            names.extend(node.subkeys().map(|k| k.name.clone()));
            names
        });
    let mut seen = BTreeSet::new();
    for name in names {
        if !seen.insert(NameKey::new(&name)) {
            continue;
        }
        let child_stack: Vec<&Key> = visible.iter().filter_map(|n| n.subkey(&name)).collect();
        if let Some(child) = merge_stack(&child_stack) {
            key.insert_subkey(child);
        }
    }
    Some(key)
}

/// One delta equivalent to applying `lower` and then `upper` (same root path).
pub fn compose(lower: &Key, upper: &Key) -> Key {
    compose_nodes(Some(lower), Some(upper)).expect("at least one node")
}

fn compose_nodes(lower: Option<&Key>, upper: Option<&Key>) -> Option<Key> {
    let (lower, upper) = match (lower, upper) {
        (None, None) => return None,
        (Some(l), None) => return Some(l.clone()),
        (None, Some(u)) => return Some(u.clone()),
        (Some(l), Some(u)) => (l, u),
    };
    match upper.layer {
        LayerSemantics::Tombstone => return Some(upper.clone()),
        LayerSemantics::SupersedeTree => {
            let mut node = upper.clone();
            resolve_inherited_class(&mut node, lower);
            return Some(node);
        }
        _ => {}
    }
    if lower.layer == LayerSemantics::Tombstone {
        // Nothing below the lower tombstone is visible: the upper subtree stands alone.
        let mut node = seal(upper);
        node.layer = LayerSemantics::SupersedeTree;
        return Some(node);
    }
    let mut node = upper.clone();
    node.layer = match (upper.layer, lower.layer) {
        (_, LayerSemantics::SupersedeTree) => LayerSemantics::SupersedeTree,
        (LayerSemantics::SupersedeLocal, _) => LayerSemantics::SupersedeLocal,
        (_, lower_layer) => lower_layer,
    };
    resolve_inherited_class(&mut node, lower);
    node.last_write = lower.last_write.max(upper.last_write);
    if upper.layer != LayerSemantics::SupersedeLocal {
        node.clear_values();
        for value in lower.values() {
            node.set_value(value.clone());
        }
        for value in upper.values() {
            node.set_value(value.clone());
        }
    }
    node.clear_subkeys();
    for name in union_of_subkey_names(lower, upper) {
        if let Some(child) = compose_nodes(lower.subkey(&name), upper.subkey(&name)) {
            let child = if node.layer == LayerSemantics::SupersedeTree {
                // Nothing lies below a SupersedeTree node, and Windows requires every node
                // under one to be SupersedeTree too.
                if child.layer == LayerSemantics::Tombstone {
                    continue;
                }
                let mut sealed = seal(&child);
                sealed.layer = LayerSemantics::SupersedeTree;
                sealed
            } else {
                child
            };
            node.insert_subkey(child);
        }
    }
    Some(node)
}

/// An upper node that inherits its class takes the lower node's, if that one has its own.
fn resolve_inherited_class(node: &mut Key, lower: &Key) {
    if node.inherit_class {
        if lower.layer == LayerSemantics::Tombstone {
            node.inherit_class = false;
            node.class = None;
        } else if !lower.inherit_class {
            node.inherit_class = false;
            node.class = lower.class.clone();
        }
    }
}

/// `key`'s subtree as it looks with nothing below it: descendants become `SupersedeTree`,
/// descendant tombstones (of nothing) disappear, tombstone values are dropped and inherited
/// classes resolve to none. The node's own semantics and class are left to the caller.
fn seal(key: &Key) -> Key {
    let mut node = key.clone();
    if node.inherit_class {
        node.inherit_class = false;
        node.class = None;
    }
    let tombstones: Vec<String> = node
        .values()
        .filter(|v| v.tombstone)
        .map(|v| v.name.clone())
        .collect();
    for name in tombstones {
        node.remove_value(&name);
    }
    node.clear_subkeys();
    for child in key.subkeys() {
        if child.layer == LayerSemantics::Tombstone {
            continue;
        }
        let mut sealed = seal(child);
        sealed.layer = LayerSemantics::SupersedeTree;
        node.insert_subkey(sealed);
    }
    node
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::hive::tree::KeyFlags;

    /// Names chosen to collide case-insensitively and to exercise Windows upcasing.
    const NAMES: &[&str] = &[
        "a",
        "A",
        "b",
        "ß",
        "SS",
        "ä",
        "Ä",
        "\u{10438}",
        "\u{FF41}",
        "Key",
    ];

    fn value() -> impl Strategy<Value = Value> {
        (
            prop::sample::select(NAMES),
            prop::sample::select(vec![1u32, 3, 4, 0xFFFF_0007]),
            prop::collection::vec(any::<u8>(), 0..6),
        )
            .prop_map(|(name, kind, data)| Value::new(name, kind, data))
    }

    fn key_fields() -> impl Strategy<Value = Key> {
        (
            prop::sample::select(NAMES),
            prop::option::of(prop::sample::select(vec![vec![b'c', 0], vec![b'd', 0]])),
            0u64..4,
            any::<bool>(),
            prop::option::of(prop::sample::select(vec![1u8, 2])),
            prop::collection::vec(value(), 0..4),
        )
            .prop_map(|(name, class, time, link, sd, values)| {
                let mut key = Key::new(name);
                key.class = class;
                key.last_write = time;
                key.flags.set(KeyFlags::SYM_LINK, link);
                key.security = sd.map(|b| Arc::from(vec![b; 4]));
                for v in values {
                    key.set_value(v);
                }
                key
            })
    }

    /// An ordinary tree (every node `Merge`, own class).
    fn tree() -> impl Strategy<Value = Key> {
        key_fields().prop_recursive(3, 24, 4, |inner| {
            (key_fields(), prop::collection::vec(inner, 0..4)).prop_map(|(mut key, children)| {
                for child in children {
                    key.insert_subkey(child);
                }
                key
            })
        })
    }

    /// A delta with arbitrary layer semantics, inherit-class bits and tombstone values.
    fn delta() -> impl Strategy<Value = Key> {
        let node = (
            key_fields(),
            0u8..4,
            any::<bool>(),
            prop::collection::vec(prop::sample::select(NAMES), 0..2),
        )
            .prop_map(|(mut key, sem, ic, tombstones)| {
                key.layer = LayerSemantics::from_bits(sem);
                key.inherit_class = ic;
                if key.layer == LayerSemantics::Tombstone {
                    key.clear_values();
                    key.class = None;
                } else {
                    for name in tombstones {
                        key.set_value(Value::tombstone(name));
                    }
                }
                key
            });
        node.prop_recursive(3, 24, 4, |inner| {
            (inner.clone(), prop::collection::vec(inner, 0..4)).prop_map(|(mut key, children)| {
                if key.layer != LayerSemantics::Tombstone {
                    for child in children {
                        key.insert_subkey(child);
                    }
                }
                key
            })
        })
    }

    fn with_root(mut key: Key) -> Key {
        key.name = "ROOT".into();
        key
    }

    /// Times only move forward: a key present in `base` is at least as new in `target`.
    fn monotonic(base: &Key, target: &mut Key) {
        target.last_write = target.last_write.max(base.last_write);
        for child in target.subkeys_mut() {
            if let Some(b) = base.subkey(&child.name) {
                monotonic(b, child);
            }
        }
    }

    fn pair() -> impl Strategy<Value = (Key, Key)> {
        (tree(), tree()).prop_map(|(base, target)| {
            let base = with_root(base);
            let mut target = with_root(target);
            monotonic(&base, &mut target);
            (base, target)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn merge_of_diff_is_target((base, target) in pair()) {
            let delta = diff(&base, &target);
            prop_assert_eq!(merge(&base, &[&delta]), Some(target));
        }

        #[test]
        fn diff_of_same_tree_is_empty(x in tree()) {
            prop_assert!(is_empty_delta(&diff(&x, &x)));
        }

        #[test]
        fn chain_of_diffs_equals_folded_delta((base, t1) in pair(), t2 in tree()) {
            let mut t2 = with_root(t2);
            monotonic(&t1, &mut t2);
            let d1 = diff(&base, &t1);
            let d2 = diff(&t1, &t2);
            let folded = compose(&d1, &d2);
            prop_assert_eq!(merge(&base, &[&d1, &d2]), Some(t2.clone()));
            prop_assert_eq!(merge(&base, &[&folded]), Some(t2));
        }

        #[test]
        fn chain_of_any_deltas_equals_folded_delta(base in tree(), d1 in delta(), d2 in delta()) {
            let (base, d1, d2) = (with_root(base), with_root(d1), with_root(d2));
            let folded = compose(&d1, &d2);
            prop_assert_eq!(merge(&base, &[&d1, &d2]), merge(&base, &[&folded]));
        }
    }

    #[test]
    fn deleted_key_becomes_tombstone_and_removed_value_a_tombstone_value() {
        let mut base = Key::new("ROOT");
        base.create_path(r"A\Gone").set_value(Value::dword("x", 1));
        let a = base.subkey_mut("A").unwrap();
        a.set_value(Value::dword("keep", 1));
        a.set_value(Value::dword("drop", 2));
        let mut target = base.clone();
        let a = target.subkey_mut("A").unwrap();
        a.remove_subkey("Gone");
        a.remove_value("drop");
        let delta = diff(&base, &target);
        let a = delta.subkey("A").unwrap();
        assert_eq!(a.subkey("Gone").unwrap().layer, LayerSemantics::Tombstone);
        assert!(a.value("drop").unwrap().tombstone);
        assert!(a.value("keep").is_none());
        assert!(a.inherit_class);
        assert_eq!(merge(&base, &[&delta]), Some(target));
    }
}
