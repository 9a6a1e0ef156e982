//! A thin wrapper: the body is `vouch::fuzzing::export`, which the tests also replay over the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vouch::fuzzing::export(data));
