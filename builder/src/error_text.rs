//! How an error reads in a message: its own text followed by each of its causes. Errors of
//! reqwest and hyper say little at the top ("error sending request"); the chain names the cause
//! (refused connection, DNS, TLS).

/// `e` and its `source()` chain, joined with `: `.
pub fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
