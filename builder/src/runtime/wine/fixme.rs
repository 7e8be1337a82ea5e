//! Wine's `fixme` channel in a step's output: the warnings Wine prints when a program calls
//! something Wine only stubs. The silo runs with `WINEDEBUG=-all,fixme+all`; this output filter
//! (between the silo and the build's [`OutputSink`]) turns each `fixme:` line of the step's
//! stderr into `wine fixme: <channel>:<function> <message>`, drops the channels that Wine's own
//! device services print at every start whatever the step does ([`NOISE_CHANNELS`]), and
//! records the lines that say a *program* is a stub (`fixme:<program>:wmain stub: …`, or
//! `main`), or that a call whose whole effect is missing was stubbed ([`FATAL_FUNCTIONS`]): a
//! step that ran one cannot have done what it said, so the runtime fails it even when it exited
//! 0 (see [`FixmeFilter::stubs`]). Every other fixme is shown, not fatal: Wine prints many for
//! calls whose stubbing does not change the result.

use crate::runtime::OutputSink;

/// Channels whose fixmes come from Wine's device services at start-up (`winedevice.exe`,
/// `plugplay`), not from what the step does.
pub const NOISE_CHANNELS: &[&str] = &["hid", "plugplay", "wineusb", "winebus"];

/// Stubbed functions that report success with nothing done, whatever called them: Wine 8.0's
/// `CreateSymbolicLinkW` makes no link (cmd's own `mklink` in a batch file, where silo's engine
/// cannot take it, an installer).
pub const FATAL_FUNCTIONS: &[&str] = &["CreateSymbolicLinkW", "CreateSymbolicLinkA"];

/// The prefix that marks Wine's fixme lines in the step's output.
pub const PREFIX: &str = "wine fixme: ";

/// An [`OutputSink`] that rewrites Wine's fixme lines on stderr (see the module documentation).
pub struct FixmeFilter<'a> {
    inner: &'a mut dyn OutputSink,
    /// Stderr bytes after the last newline.
    pending: Vec<u8>,
    stubs: Vec<String>,
}

impl<'a> FixmeFilter<'a> {
    pub fn new(inner: &'a mut dyn OutputSink) -> FixmeFilter<'a> {
        FixmeFilter {
            inner,
            pending: Vec::new(),
            stubs: Vec::new(),
        }
    }

    /// Passes on what is left of an unterminated last line.
    pub fn finish(&mut self) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.line(&line);
        }
    }

    /// The fixme lines (rewritten) that said a program the step ran is a stub.
    pub fn stubs(&self) -> &[String] {
        &self.stubs
    }

    fn line(&mut self, line: &[u8]) {
        let Some(fixme) = parse(line) else {
            self.inner.stderr(line);
            return;
        };
        if NOISE_CHANNELS.contains(&fixme.channel) {
            return;
        }
        let text = format!(
            "{PREFIX}{}:{} {}",
            fixme.channel,
            fixme.function,
            fixme.message.trim_end()
        );
        let program_stub =
            matches!(fixme.function, "wmain" | "main") && fixme.message.contains("stub");
        if program_stub || FATAL_FUNCTIONS.contains(&fixme.function) {
            self.stubs.push(text.clone());
        }
        self.inner.stderr(format!("{text}\n").as_bytes());
    }
}

impl OutputSink for FixmeFilter<'_> {
    fn stdout(&mut self, bytes: &[u8]) {
        self.inner.stdout(bytes);
    }

    fn stderr(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.line(&line);
        }
    }
}

/// A parsed `<tid>[:<tid>]:fixme:<channel>:<function> <message>` line.
struct Fixme<'l> {
    channel: &'l str,
    function: &'l str,
    message: &'l str,
}

fn parse(line: &[u8]) -> Option<Fixme<'_>> {
    let text = std::str::from_utf8(line).ok()?;
    let at = text.find(":fixme:")?;
    // Only Wine's debug prefix (hex thread and optionally process ids) may come before it.
    if at == 0
        || !text[..at]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':')
    {
        return None;
    }
    let rest = &text[at + ":fixme:".len()..];
    let (channel, rest) = rest.split_once(':')?;
    let (function, message) = rest.split_once(' ').unwrap_or((rest, ""));
    Some(Fixme {
        channel,
        function,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Sink(Vec<u8>);
    impl OutputSink for Sink {
        fn stdout(&mut self, _: &[u8]) {}
        fn stderr(&mut self, b: &[u8]) {
            self.0.extend_from_slice(b);
        }
    }

    #[test]
    fn fixme_lines_are_marked_noise_dropped_and_program_stubs_recorded() {
        let mut sink = Sink::default();
        let mut f = FixmeFilter::new(&mut sink);
        f.stderr(b"0094:fixme:hid:handle_IRP_MN_QUERY_ID Unhandled type 00000005\nreal ");
        f.stderr(b"error\n0388:fixme:shutdown:wmain stub: L\"shutdown\" L\"/r\"\n");
        f.stderr(b"010c:fixme:ole:CoInitializeSecurity stub\n");
        f.stderr(b"0024:fixme:file:CreateSymbolicLinkW (L\"l\" L\"t\" 1): stub\nno newline");
        f.finish();
        let stubs = f.stubs().to_vec();
        assert_eq!(
            String::from_utf8(sink.0).unwrap(),
            "real error\nwine fixme: shutdown:wmain stub: L\"shutdown\" L\"/r\"\n\
             wine fixme: ole:CoInitializeSecurity stub\n\
             wine fixme: file:CreateSymbolicLinkW (L\"l\" L\"t\" 1): stub\nno newline"
        );
        assert_eq!(
            stubs,
            [
                "wine fixme: shutdown:wmain stub: L\"shutdown\" L\"/r\"",
                "wine fixme: file:CreateSymbolicLinkW (L\"l\" L\"t\" 1): stub"
            ]
        );
    }

    #[test]
    fn a_step_line_mentioning_fixme_is_not_wines() {
        assert!(parse(b"note:fixme:later please\n").is_none());
        assert!(parse(b"0094:fixme:x:y z\n").is_some());
    }
}
