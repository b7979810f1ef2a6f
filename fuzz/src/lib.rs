//! logmon's pure modules, compiled for the fuzz targets straight from the
//! daemon's `src/` with `#[path]`: the daemon stays a binary with no
//! library target, and these files keep their `crate::...` paths because
//! this crate re-creates the part of the module tree they use. A module that
//! starts using another one needs a line here too.
//!
//! The properties themselves are in `src/fuzzing.rs`, shared with the
//! daemon's `cargo test`, which replays `fuzz/regressions/` without a fuzzer.

// Only part of each module is reached from the targets.
#![allow(dead_code)]
#![deny(unsafe_code)]

#[path = "../../src/batch.rs"]
pub mod batch;
#[path = "../../src/cli.rs"]
pub mod cli;
#[path = "../../src/config/mod.rs"]
pub mod config;
#[path = "../../src/error.rs"]
pub mod error;
#[path = "../../src/expect.rs"]
pub mod expect;
#[path = "../../src/files.rs"]
pub mod files;
#[path = "../../src/fuzzing.rs"]
pub mod fuzzing;
#[path = "../../src/log.rs"]
pub mod log;
#[path = "../../src/mail.rs"]
pub mod mail;
#[path = "../../src/position.rs"]
pub mod position;
#[path = "../../src/prescreen.rs"]
pub mod prescreen;
#[path = "../../src/rules.rs"]
pub mod rules;
#[path = "../../src/state.rs"]
pub mod state;
#[cfg(test)]
#[path = "../../src/testing.rs"]
mod testing;
// The libc edge config and state call (geteuid, flock, ...), as in main.rs.
#[allow(unsafe_code)]
#[path = "../../src/sys.rs"]
pub mod sys;
