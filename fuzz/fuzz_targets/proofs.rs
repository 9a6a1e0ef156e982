//! A thin wrapper: the body is `vouch::fuzzing::proofs`, which the tests also replay over the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vouch::fuzzing::proofs(data));
