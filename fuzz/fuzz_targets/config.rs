//! Fuzz target `config`: the property is `logmon_fuzz::fuzzing::config` (src/fuzzing.rs).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| logmon_fuzz::fuzzing::config(data));
