//! Logging: one line to stderr with a `<N>` priority prefix, which journald
//! (or a terminal) reads as it is. Write errors are ignored on purpose: a
//! daemon must not die because nobody reads its stderr.

pub const ERR: u8 = 3;
pub const WARNING: u8 = 4;
pub const NOTICE: u8 = 5;
pub const INFO: u8 = 6;

macro_rules! log {
    ($prio:expr, $($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!("<{}>{}\n", $prio, format_args!($($arg)*));
        let _ = std::io::stderr().write_all(line.as_bytes());
    }};
}
pub(crate) use log;
