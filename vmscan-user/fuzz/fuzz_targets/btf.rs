//! The BTF parser on arbitrary bytes, then every query vmscan makes of it:
//! parsing ends in a Btf or an error, queries in a value or None, never a
//! panic, a hang or unbounded recursion.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../exercise.rs"]
#[allow(dead_code)]
mod exercise;

fuzz_target!(|data: &[u8]| exercise::btf(data));
