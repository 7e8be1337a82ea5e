//! Value rules checked when a command is dispatched: which COPY/ADD sources are remote,
//! `--chmod` modes, EXPOSE port specs.

/// Whether a COPY/ADD source is fetched from the network rather than the context.
pub fn is_remote_source(src: &str) -> bool {
    is_http(src) || is_git(src)
}

pub(super) fn is_http(src: &str) -> bool {
    src.starts_with("http://") || src.starts_with("https://")
}

/// Git sources as BuildKit's `ParseGitRef` recognises them (the common forms).
pub(super) fn is_git(src: &str) -> bool {
    src.starts_with("git@")
        || src.starts_with("git://")
        || src.starts_with("ssh://")
        || (is_http(src) && (src.contains(".git#") || src.ends_with(".git")))
}
/// `--chmod`: octal up to 07777, or a symbolic mode like `u=rwX,go=rX`.
pub(super) fn check_chmod(mode: &str) -> Result<(), String> {
    let invalid = || {
        format!(
            "invalid chmod parameter: '{mode}'. it should be octal string and between 0 and 07777"
        )
    };
    if let Ok(n) = u32::from_str_radix(mode, 8) {
        return if n > 0o7777 { Err(invalid()) } else { Ok(()) };
    }
    let clause_ok = |clause: &str| {
        let op = clause.find(['+', '-', '=']);
        match op {
            Some(i) => {
                clause[..i].chars().all(|c| "ugoa".contains(c))
                    && clause[i + 1..].chars().all(|c| "rwxXst+-=".contains(c))
            }
            None => false,
        }
    };
    if !mode.is_empty() && mode.split(',').all(clause_ok) {
        Ok(())
    } else {
        Err(invalid())
    }
}

/// `nat.ParsePortSpecs` for EXPOSE: `80`, `80/udp`, `8000-8002/tcp` → `80/tcp`, ….
pub(super) fn expand_port(spec: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    let invalid = || format!("invalid containerPort: {ports}");
    let parse = |p: &str| p.parse::<u16>().map_err(|_| invalid());
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let p = parse(ports)?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(format!("invalid range specified for container: {ports}"));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}
