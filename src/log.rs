//! Logging: one line to stderr with a `<N>` priority prefix, which journald
//! (or a terminal) reads as it is. Write errors are ignored on purpose: a
//! daemon must not die because nobody reads its stderr.

pub const ERR: u8 = 3;
pub const WARNING: u8 = 4;
pub const NOTICE: u8 = 5;
pub const INFO: u8 = 6;

/// Every line of a multi-line message gets the prefix, so journald files
/// each one at the right priority.
macro_rules! log {
    ($prio:expr, $($arg:tt)*) => {{
        use std::io::Write as _;
        let text = format!("{}", format_args!($($arg)*));
        let mut out = String::with_capacity(text.len() + 8);
        for line in text.lines() {
            out.push_str(&format!("<{}>{}\n", $prio, line));
        }
        let _ = std::io::stderr().write_all(out.as_bytes());
    }};
}
pub(crate) use log;
