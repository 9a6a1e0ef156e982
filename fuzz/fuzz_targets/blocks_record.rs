//! A thin wrapper: the body is `vouch::fuzzing::blocks_record`, which the tests also replay over the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vouch::fuzzing::blocks_record(data));
