//! The history `created_by` texts BuildKit writes for COPY/ADD and HEALTHCHECK, with Go's
//! formatting of durations and runes.

use crate::dockerfile::instructions::Health;

/// BuildKit's COPY/ADD history: flags, sources, `<<heredoc` names, destination.
pub(super) fn copy_history(
    kind: &str,
    parents: bool,
    chown: &str,
    chmod: &str,
    paths: &crate::dockerfile::instructions::SourcesAndDest,
) -> String {
    let mut msg = kind.to_string();
    if parents {
        msg.push_str(" --parents");
    }
    if !chown.is_empty() {
        msg.push_str(&format!(" --chown={chown}"));
    }
    if !chmod.is_empty() {
        msg.push_str(&format!(" --chmod={chmod}"));
    }
    for s in &paths.sources {
        msg.push(' ');
        msg.push_str(s);
    }
    for c in &paths.contents {
        msg.push_str(&format!(" <<{}", c.path));
    }
    msg.push(' ');
    msg.push_str(&paths.dest);
    msg.push_str(" # buildkit");
    msg
}

/// Go's `time.Duration.String()`.
pub fn go_duration(d: std::time::Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    // `value / unit` with the remainder as a decimal fraction without trailing zeros.
    let with_fraction = |value: u128, unit: u128, suffix: &str| {
        let (whole, rest) = (value / unit, value % unit);
        if rest == 0 {
            format!("{whole}{suffix}")
        } else {
            let digits = unit.to_string().len() - 1;
            let fraction = format!("{rest:0digits$}");
            format!("{whole}.{}{suffix}", fraction.trim_end_matches('0'))
        }
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return with_fraction(nanos, 1_000, "µs");
    }
    if nanos < 1_000_000_000 {
        return with_fraction(nanos, 1_000_000, "ms");
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = (nanos / 60_000_000_000) % 60;
    let seconds = with_fraction(nanos % 60_000_000_000, 1_000_000_000, "s");
    match (hours, minutes) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

/// Go's `%q` of a rune (`strconv.QuoteRune`).
pub(super) fn go_quote_rune(c: char) -> String {
    match c {
        '\'' => "'\\''".into(),
        '"' => "'\"'".into(),
        c => {
            let q = crate::dockerfile::goquote::quote(&c.to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

/// BuildKit's `fmt.Sprintf("%q", healthcheck)` of the config struct pointer:
/// `&{["CMD-SHELL" "x"] "5s" "3s" "0s" "0s" '\x03'}` (Go quotes the int retries as a rune).
pub(super) fn healthcheck_history(h: &Health) -> String {
    let retries = u32::try_from(h.retries)
        .ok()
        .and_then(char::from_u32)
        .map(go_quote_rune)
        .unwrap_or_else(|| h.retries.to_string());
    format!(
        "&{{{} {} {} {} {} {}}}",
        crate::dockerfile::goquote::quote_list(&h.test),
        crate::dockerfile::goquote::quote(&go_duration(h.interval)),
        crate::dockerfile::goquote::quote(&go_duration(h.timeout)),
        crate::dockerfile::goquote::quote(&go_duration(h.start_period)),
        crate::dockerfile::goquote::quote(&go_duration(h.start_interval)),
        retries
    )
}
