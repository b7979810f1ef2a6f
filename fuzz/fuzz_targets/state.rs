//! Fuzz target `state`: the property is `logmon_fuzz::fuzzing::state` (src/fuzzing.rs).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| logmon_fuzz::fuzzing::state(data));
