//! `parse_lru_gen` (debugfs lru_gen) on arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../exercise.rs"]
#[allow(dead_code)]
mod exercise;

fuzz_target!(|data: &[u8]| exercise::lru_gen(data));
