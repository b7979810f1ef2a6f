//! Fuzz target `since`: the property is `logmon_fuzz::fuzzing::since` (src/fuzzing.rs).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| logmon_fuzz::fuzzing::since(data));
