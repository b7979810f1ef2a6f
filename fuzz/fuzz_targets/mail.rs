//! Fuzz target `mail`: the property is `logmon_fuzz::fuzzing::mail` (src/fuzzing.rs).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| logmon_fuzz::fuzzing::mail(data));
