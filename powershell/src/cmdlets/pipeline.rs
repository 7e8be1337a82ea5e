//! Pipeline cmdlets: Where-Object (script block and simplified `Where-Object Name -eq x`),
//! ForEach-Object (-Process/-Begin/-End, -MemberName), Select-Object, Sort-Object,
//! Measure-Object, Group-Object.
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use std::cmp::Ordering;

use super::{input_objects, Bound};
use crate::convert::{to_bool, to_string};
use crate::errors::ErrorRecord;
use crate::interp::{unwrap_output, Interp, Out, Res};
use crate::ops::{self, Cmp};
use crate::value::{Hashtable, ObjKind, Object, Value};

fn property(interp: &mut Interp, item: &Value, spec: &Value) -> Res<Value> {
    match spec {
        Value::ScriptBlock(sb) => interp.invoke_block_here(sb, item),
        Value::Hashtable(h) => {
            let e = h
                .borrow()
                .entries
                .iter()
                .find(|(k, _)| {
                    let k = to_string(k).to_ascii_lowercase();
                    k == "expression" || k == "e"
                })
                .map(|(_, v)| v.clone());
            match e {
                Some(e) => property(interp, item, &e),
                None => Ok(Value::Null),
            }
        }
        other => crate::dotnet::get_member(interp, item, &to_string(other)),
    }
}

const OPS: &[(&str, Cmp, bool)] = &[
    ("EQ", Cmp::Eq, false),
    ("NE", Cmp::Ne, false),
    ("GT", Cmp::Gt, false),
    ("GE", Cmp::Ge, false),
    ("LT", Cmp::Lt, false),
    ("LE", Cmp::Le, false),
    ("Like", Cmp::Like, false),
    ("NotLike", Cmp::NotLike, false),
    ("CEQ", Cmp::Eq, true),
    ("CNE", Cmp::Ne, true),
    ("CLike", Cmp::Like, true),
    ("CNotLike", Cmp::NotLike, true),
];

/// Where-Object.
pub fn where_object(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let items = input_objects(b);
    let filter = b.get("FilterScript").cloned();
    if let Some(Value::ScriptBlock(sb)) = &filter {
        for it in items {
            if to_bool(&interp.invoke_block_here(sb, &it)?) {
                interp.emit(out, it);
            }
        }
        return Ok(());
    }
    // Simplified syntax: the property is the first positional argument or -Property.
    let prop = b
        .get("Property")
        .cloned()
        .or(filter)
        .ok_or_else(|| b.invalid("Where-Object needs a script block or a property name"))?;
    let prop_name = to_string(&prop);
    let value = b.get("Value").cloned();
    let op = OPS.iter().find(|(n, _, _)| b.switch(n));
    let special = [
        "Match",
        "NotMatch",
        "CMatch",
        "CNotMatch",
        "Contains",
        "NotContains",
        "In",
        "NotIn",
        "Is",
        "IsNot",
    ]
    .iter()
    .find(|n| b.switch(n))
    .copied();
    for it in items {
        let pv = crate::dotnet::get_member(interp, &it, &prop_name)?;
        let keep = match (op, special, &value) {
            (Some((_, cmp, cs)), _, Some(v)) => {
                to_bool(&ops::comparison(*cmp, &pv, v, *cs).map_err(crate::interp::op_err)?)
            }
            (None, Some(s), Some(v)) => match s {
                "Match" | "NotMatch" | "CMatch" | "CNotMatch" => {
                    let cs = s.starts_with('C');
                    let neg = s.contains("Not");
                    to_bool(
                        &ops::match_op(&pv, v, cs, neg)
                            .map_err(crate::interp::op_err)?
                            .0,
                    )
                }
                "Contains" => ops::contains(&pv, v, false),
                "NotContains" => !ops::contains(&pv, v, false),
                "In" => ops::contains(v, &pv, false),
                "NotIn" => !ops::contains(v, &pv, false),
                "Is" | "IsNot" => {
                    let t = match v {
                        Value::Type(t) => t.to_string(),
                        other => {
                            crate::convert::canonical_type(&to_string(other)).unwrap_or_default()
                        }
                    };
                    ops::is_type(&pv, &t) == (s == "Is")
                }
                _ => false,
            },
            (None, None, None) => to_bool(&pv),
            _ => return Err(b.invalid("Where-Object: an operator needs -Value").into()),
        };
        if keep {
            interp.emit(out, it);
        }
    }
    Ok(())
}

/// ForEach-Object.
pub fn foreach_object(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let items = input_objects(b);
    if let Some(Value::ScriptBlock(sb)) = b.get("Begin") {
        interp.run_block_with_item(sb, &Value::Null, out)?;
    }
    let member = b
        .get("MemberName")
        .cloned()
        .or_else(|| match b.get("Process") {
            Some(Value::ScriptBlock(_)) | None => None,
            Some(v) => Some(v.clone()),
        });
    if let Some(m) = member {
        let name = to_string(&m);
        let args: Vec<Value> = b
            .get("ArgumentList")
            .map(|a| a.clone().into_items())
            .unwrap_or_default();
        for it in items {
            let v = if b.has("ArgumentList") {
                crate::dotnet::invoke_method(interp, &it, &name, args.clone())?
            } else {
                let v = crate::dotnet::get_member(interp, &it, &name)?;
                if v.is_null() {
                    // A method name without arguments is called (`% ToUpper`).
                    match crate::dotnet::invoke_method(interp, &it, &name, Vec::new()) {
                        Ok(r) => r,
                        Err(_) => Value::Null,
                    }
                } else {
                    v
                }
            };
            for x in v.into_items() {
                if !x.is_null() {
                    interp.emit(out, x);
                }
            }
        }
    } else {
        let blocks: Vec<Value> = match b.get("Process") {
            Some(Value::Array(a)) => a.borrow().clone(),
            Some(v) => vec![v.clone()],
            None => Vec::new(),
        };
        // `% {begin} {process} {end}`: three positional blocks.
        let (begin, process, end) = match blocks.len() {
            0 => (None, None, None),
            1 => (None, blocks.first().cloned(), None),
            2 => (blocks.first().cloned(), blocks.get(1).cloned(), None),
            3 => (
                blocks.first().cloned(),
                blocks.get(1).cloned(),
                blocks.get(2).cloned(),
            ),
            _ => {
                return Err(b
                    .unsupported("more than three positional script blocks")
                    .into())
            }
        };
        if let Some(Value::ScriptBlock(sb)) = &begin {
            interp.run_block_with_item(sb, &Value::Null, out)?;
        }
        if let Some(p) = process {
            let Value::ScriptBlock(sb) = p else {
                return Err(b
                    .invalid("ForEach-Object -Process needs a script block")
                    .into());
            };
            for it in items {
                match interp.run_block_with_item(&sb, &it, out) {
                    Ok(()) => {}
                    // `continue` in ForEach-Object skips to the next item only inside a loop;
                    // PowerShell then ends the enclosing loop's iteration. Propagate it.
                    Err(e) => return Err(e),
                }
            }
        }
        if let Some(Value::ScriptBlock(sb)) = &end {
            interp.run_block_with_item(sb, &Value::Null, out)?;
        }
    }
    if let Some(Value::ScriptBlock(sb)) = b.get("End") {
        interp.run_block_with_item(sb, &Value::Null, out)?;
    }
    Ok(())
}

fn calc_name(spec: &Value) -> String {
    match spec {
        Value::Hashtable(h) => h
            .borrow()
            .entries
            .iter()
            .find(|(k, _)| {
                matches!(
                    to_string(k).to_ascii_lowercase().as_str(),
                    "name" | "n" | "label" | "l"
                )
            })
            .map(|(_, v)| to_string(v))
            .unwrap_or_default(),
        Value::ScriptBlock(sb) => sb.text.trim().to_string(),
        other => to_string(other),
    }
}

/// Select-Object.
pub fn select_object(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    if b.has("Index") || b.has("ExcludeProperty") {
        return Err(b.unsupported("-Index / -ExcludeProperty").into());
    }
    let mut items = input_objects(b);
    if b.switch("Unique") {
        let mut seen: Vec<Value> = Vec::new();
        items.retain(|x| {
            if seen.iter().any(|s| ops::equals(s, x, true)) {
                false
            } else {
                seen.push(x.clone());
                true
            }
        });
    }
    if let Some(n) = b.int("Skip")? {
        let n = n.max(0) as usize;
        items.drain(..n.min(items.len()));
    }
    let first = b.int("First")?.map(|n| n.max(0) as usize);
    let last = b.int("Last")?.map(|n| n.max(0) as usize);
    if first.is_some() || last.is_some() {
        let mut sel = Vec::new();
        if let Some(f) = first {
            sel.extend(items.iter().take(f).cloned());
        }
        if let Some(l) = last {
            let start = items.len().saturating_sub(l);
            sel.extend(items[start..].iter().cloned());
        }
        items = sel;
    }
    if let Some(ep) = b.get("ExpandProperty") {
        let name = to_string(ep);
        for it in items {
            let v = crate::dotnet::get_member(interp, &it, &name)?;
            if v.is_null() && !has_property(&it, &name) {
                interp.write_error(b.error(
                    format!("Property \"{name}\" cannot be found."),
                    "System.Management.Automation.PSArgumentException",
                    "InvalidArgument",
                    "ExpandPropertyNotFound",
                ))?;
                continue;
            }
            for x in match v {
                Value::Array(_) => v.into_items(),
                other => vec![other],
            } {
                interp.emit(out, x);
            }
        }
        return Ok(());
    }
    match b.get("Property") {
        None => {
            for it in items {
                interp.emit(out, it);
            }
        }
        Some(p) => {
            let specs = p.clone().into_items();
            for it in items {
                let mut o = Object::new(
                    ObjKind::Custom,
                    "System.Management.Automation.PSCustomObject",
                );
                for s in &specs {
                    let name = calc_name(s);
                    if name == "*" {
                        if let Value::Object(src) = &it {
                            for (k, v) in &src.borrow().props {
                                o.set(k, v.clone());
                            }
                        }
                        continue;
                    }
                    let v = property(interp, &it, s)?;
                    o.set(&name, v);
                }
                interp.emit(out, Value::object(o));
            }
        }
    }
    Ok(())
}

fn has_property(v: &Value, name: &str) -> bool {
    match v {
        Value::Object(o) => o.borrow().has(name),
        Value::Hashtable(h) => h.borrow().get_str(name).is_some(),
        _ => false,
    }
}

fn order(a: &Value, b: &Value, cs: bool) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => ops::compare(a, b, cs).unwrap_or_else(|_| {
            to_string(a)
                .to_lowercase()
                .cmp(&to_string(b).to_lowercase())
        }),
    }
}

/// Sort-Object (stable, by property or value; -Descending, -Unique).
pub fn sort_object(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let items = input_objects(b);
    let cs = b.switch("CaseSensitive");
    let specs: Vec<Value> = b
        .get("Property")
        .map(|p| p.clone().into_items())
        .unwrap_or_default();
    let mut keyed: Vec<(Vec<Value>, Value)> = Vec::new();
    for it in items {
        let keys = if specs.is_empty() {
            vec![it.clone()]
        } else {
            let mut k = Vec::new();
            for s in &specs {
                k.push(property(interp, &it, s)?);
            }
            k
        };
        keyed.push((keys, it));
    }
    let desc = b.switch("Descending");
    keyed.sort_by(|(ka, _), (kb, _)| {
        let o = ka
            .iter()
            .zip(kb)
            .map(|(x, y)| order(x, y, cs))
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal);
        if desc {
            o.reverse()
        } else {
            o
        }
    });
    if b.switch("Unique") {
        keyed.dedup_by(|(ka, _), (kb, _)| {
            ka.iter()
                .zip(kb.iter())
                .all(|(x, y)| order(x, y, cs) == Ordering::Equal)
        });
    }
    for (_, it) in keyed {
        interp.emit(out, it);
    }
    Ok(())
}

/// Measure-Object (-Sum -Average -Maximum -Minimum over a property or the values; Count).
pub fn measure_object(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    if b.switch("Line") || b.switch("Word") || b.switch("Character") {
        return Err(b.unsupported("-Line / -Word / -Character").into());
    }
    let items = input_objects(b);
    let prop = b.str("Property");
    let mut nums = Vec::new();
    let mut count = 0;
    for it in &items {
        let v = match &prop {
            Some(p) => crate::dotnet::get_member(interp, it, p)?,
            None => it.clone(),
        };
        if prop.is_some() && v.is_null() {
            continue;
        }
        count += 1;
        if b.switch("Sum") || b.switch("Average") || b.switch("Maximum") || b.switch("Minimum") {
            nums.push(crate::convert::to_f64(&v).map_err(|e| {
                ErrorRecord::new(
                    format!("Input object \"{}\" is not numeric.", to_string(&v)),
                    "System.Management.Automation.PSInvalidOperationException",
                    "InvalidType",
                    &format!("NonNumericInputObject,Microsoft.PowerShell.Commands.MeasureObjectCommand ({})", e.0),
                )
            })?);
        }
    }
    let num = |on: bool, f: &dyn Fn() -> f64| if on { Value::Double(f()) } else { Value::Null };
    let o = Object::new(
        ObjKind::Measure,
        "Microsoft.PowerShell.Commands.GenericMeasureInfo",
    )
    .with("Count", Value::Int(count))
    .with(
        "Average",
        num(b.switch("Average") && !nums.is_empty(), &|| {
            nums.iter().sum::<f64>() / nums.len() as f64
        }),
    )
    .with("Sum", num(b.switch("Sum"), &|| nums.iter().sum()))
    .with(
        "Maximum",
        num(b.switch("Maximum") && !nums.is_empty(), &|| {
            nums.iter().cloned().fold(f64::MIN, f64::max)
        }),
    )
    .with(
        "Minimum",
        num(b.switch("Minimum") && !nums.is_empty(), &|| {
            nums.iter().cloned().fold(f64::MAX, f64::min)
        }),
    )
    .with("Property", prop.map(Value::string).unwrap_or(Value::Null));
    interp.emit(out, Value::object(o));
    Ok(())
}

/// Group-Object (by one property; -AsHashTable; -NoElement).
pub fn group_object(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let items = input_objects(b);
    let spec = b.get("Property").cloned();
    let cs = b.switch("CaseSensitive");
    let mut groups: Vec<(Value, Vec<Value>)> = Vec::new();
    for it in items {
        let key = match &spec {
            Some(s) => property(interp, &it, s)?,
            None => it.clone(),
        };
        match groups
            .iter_mut()
            .find(|(k, _)| ops::equals(k, &key, cs) && ops::equals(&key, k, cs))
        {
            Some(g) => g.1.push(it),
            None => groups.push((key, vec![it])),
        }
    }
    if b.switch("AsHashTable") {
        let mut h = Hashtable::new(false);
        for (k, v) in groups {
            let k = if b.switch("AsString") {
                Value::string(to_string(&k))
            } else {
                k
            };
            h.set(k, unwrap_output(v));
        }
        interp.emit(out, Value::hashtable(h));
        return Ok(());
    }
    for (k, v) in groups {
        let mut o = Object::new(ObjKind::Group, "Microsoft.PowerShell.Commands.GroupInfo")
            .with("Count", Value::Int(v.len() as i32))
            .with("Name", Value::string(to_string(&k)));
        if !b.switch("NoElement") {
            o.set("Group", Value::array(v));
        }
        o.set("Values", Value::array(vec![k]));
        interp.emit(out, Value::object(o));
    }
    Ok(())
}
