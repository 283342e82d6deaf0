//! The tracefs format-file parser on arbitrary text, then a field lookup.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../exercise.rs"]
#[allow(dead_code)]
mod exercise;

fuzz_target!(|data: &[u8]| exercise::tracefs_format(data));
