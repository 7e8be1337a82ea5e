//! Text operators: wildcards (`-like`), regexes (`-match` with `$Matches`, `-replace` with .NET
//! substitutions, `-split`) and `-join`.

use super::*;

/// PowerShell wildcard matching: `*`, `?`, `[abc]`, `[a-z]`, backtick escapes.
pub fn wildcard_match(pattern: &str, text: &str, cs: bool) -> bool {
    let p: Vec<char> = fold(pattern, cs).chars().collect();
    let t: Vec<char> = fold(text, cs).chars().collect();
    wild(&p, &t)
}

pub(super) fn wild(p: &[char], t: &[char]) -> bool {
    // Iterative matcher with backtracking on the last `*`.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' if ti < t.len() => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' if ti < t.len() => {
                    if let Some((matched, next)) = bracket(p, pi, t[ti]) {
                        if matched {
                            pi = next;
                            ti += 1;
                            continue;
                        }
                    } else if t[ti] == '[' {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
                '`' if pi + 1 < p.len() && ti < t.len() && p[pi + 1] == t[ti] => {
                    pi += 2;
                    ti += 1;
                    continue;
                }
                c if c != '?' && c != '[' && c != '`' && ti < t.len() && c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        } else if ti == t.len() {
            return true;
        }
        match star {
            Some((sp, st)) if st < t.len() => {
                star = Some((sp, st + 1));
                pi = sp + 1;
                ti = st + 1;
            }
            _ => return false,
        }
    }
}

/// A `[...]` set at `p[i]`: whether `c` is in it and the index after `]`; None when unclosed.
pub(super) fn bracket(p: &[char], i: usize, c: char) -> Option<(bool, usize)> {
    let close = p[i + 1..].iter().position(|&x| x == ']')? + i + 1;
    let set = &p[i + 1..close];
    let mut k = 0;
    let mut hit = false;
    while k < set.len() {
        if k + 2 < set.len() && set[k + 1] == '-' {
            if set[k] <= c && c <= set[k + 2] {
                hit = true;
            }
            k += 3;
        } else {
            if set[k] == c {
                hit = true;
            }
            k += 1;
        }
    }
    Some((hit, close + 1))
}

/// Whether a string contains wildcard characters (paths: literal otherwise).
pub fn has_wildcards(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Builds a regex from a .NET pattern; constructs Rust's engine cannot run (lookaround,
/// backreferences) fail with a message naming them.
pub fn regex(pattern: &str, cs: bool) -> Result<regex::Regex, OpError> {
    let full = if cs {
        pattern.to_string()
    } else {
        format!("(?i){pattern}")
    };
    regex::Regex::new(&full).map_err(|e| {
        OpError(format!(
            "The regular expression pattern {pattern} is not valid for this engine (lookaround and backreferences are not supported): {e}"
        ))
    })
}

/// `-match`: for a scalar, the bool and the `$Matches` table; for an array, the matching elements.
pub fn match_op(
    a: &Value,
    pattern: &Value,
    cs: bool,
    negate: bool,
) -> Result<(Value, Option<Hashtable>), OpError> {
    let re = regex(&to_string(pattern), cs)?;
    match a {
        Value::Array(items) => {
            let out: Vec<Value> = items
                .borrow()
                .iter()
                .filter(|x| re.is_match(&to_string(x)) != negate)
                .cloned()
                .collect();
            Ok((Value::array(out), None))
        }
        _ => {
            let text = to_string(a);
            match re.captures(&text) {
                Some(caps) => {
                    let mut h = Hashtable::new(false);
                    // $Matches lists groups from the highest number down, as PowerShell shows it.
                    let names: Vec<Option<&str>> = re.capture_names().collect();
                    let groups: Vec<_> = caps.iter().enumerate().collect();
                    for (i, m) in groups.into_iter().rev() {
                        if let Some(m) = m {
                            let key = match names[i] {
                                Some(n) => Value::str(n),
                                None => Value::Int(i as i32),
                            };
                            h.set(key, Value::str(m.as_str()));
                        }
                    }
                    Ok((Value::Bool(!negate), if negate { None } else { Some(h) }))
                }
                None => Ok((Value::Bool(negate), None)),
            }
        }
    }
}

/// Translates a .NET substitution string (`$1`, `${name}`, `$&`, `$$`) into Rust regex syntax.
pub(super) fn substitution(s: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' && i + 1 < chars.len() {
            let n = chars[i + 1];
            if n.is_ascii_digit() {
                let mut j = i + 1;
                while j < chars.len() && chars[j].is_ascii_digit() {
                    j += 1;
                }
                out.push_str(&format!(
                    "${{{}}}",
                    chars[i + 1..j].iter().collect::<String>()
                ));
                i = j;
                continue;
            }
            if n == '{' {
                if let Some(end) = chars[i..].iter().position(|&c| c == '}') {
                    out.extend(&chars[i..=i + end]);
                    i += end + 1;
                    continue;
                }
            }
            if n == '&' {
                out.push_str("${0}");
                i += 2;
                continue;
            }
            if n == '$' {
                out.push_str("$$");
                i += 2;
                continue;
            }
            out.push_str("$$");
            i += 1;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// `-replace pattern, replacement` (regex, all occurrences; arrays element-wise).
pub fn replace(a: &Value, pattern: &Value, replacement: &Value, cs: bool) -> R {
    let re = regex(&to_string(pattern), cs)?;
    let rep = substitution(&to_string(replacement));
    let one = |v: &Value| Value::string(re.replace_all(&to_string(v), rep.as_str()).into_owned());
    Ok(match a {
        Value::Array(items) => Value::array(items.borrow().iter().map(one).collect()),
        _ => one(a),
    })
}

/// `-split pattern[, max]` (regex, case-insensitive by default; captured groups are kept).
pub fn split(a: &Value, pattern: &Value, max: Option<i64>, cs: bool) -> R {
    let re = regex(&to_string(pattern), cs)?;
    let mut out = Vec::new();
    for item in a.clone().into_items() {
        let text = to_string(&item);
        let mut last = 0;
        let mut pieces = 0i64;
        for caps in re.captures_iter(&text) {
            if let Some(m) = max {
                if m > 0 && pieces + 1 >= m {
                    break;
                }
            }
            let Some(m0) = caps.get(0) else { continue };
            if m0.start() == m0.end() && (m0.start() == 0 || m0.start() == text.len()) {
                continue;
            }
            out.push(Value::str(&text[last..m0.start()]));
            for g in caps.iter().skip(1).flatten() {
                out.push(Value::str(g.as_str()));
            }
            last = m0.end();
            pieces += 1;
        }
        out.push(Value::str(&text[last..]));
    }
    Ok(Value::array(out))
}

/// Unary `-split`: on whitespace, empty pieces dropped.
pub fn split_unary(a: &Value) -> Value {
    let mut out = Vec::new();
    for item in a.clone().into_items() {
        out.extend(to_string(&item).split_whitespace().map(Value::str));
    }
    Value::array(out)
}

/// `-join sep` (unary: sep = "").
pub fn join(a: &Value, sep: &str) -> Value {
    let parts: Vec<String> = match a {
        Value::Null => Vec::new(),
        _ => a.clone().into_items().iter().map(to_string).collect(),
    };
    Value::string(parts.join(sep))
}
