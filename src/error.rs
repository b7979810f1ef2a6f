//! The one error type of logmon, and the exit codes `main` maps it to.
//!
//! Errors are values with context: an I/O failure carries what was being
//! done and to which path, a config error carries every bad line.

use std::fmt;
use std::io;

#[derive(Debug)]
pub enum Error {
    /// Bad command line (exit 2).
    Usage(String),
    /// Config errors, already formatted as `FILE:LINE: message` (exit 2).
    Config(Vec<String>),
    /// An operating system call failed while doing `what` (exit 1).
    Io { what: String, source: io::Error },
    /// A runtime failure that is not an OS error (exit 1).
    Runtime(String),
}

impl Error {
    pub fn io(what: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Config(_) => 2,
            Error::Io { .. } | Error::Runtime(_) => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => write!(f, "{msg} (try --help)"),
            Error::Config(lines) => write!(f, "{}", lines.join("\n")),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
            Error::Runtime(msg) => f.write_str(msg),
        }
    }
}

/// Attach context to an `io::Result`.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T> Context<T> for io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|e| Error::io(what(), e))
    }
}
