//! `parse_node_meminfo` on arbitrary text (lossily decoded, as the reader would see a
//! damaged file), with a page size (KiB) of 4 and of 0.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../exercise.rs"]
#[allow(dead_code)]
mod exercise;

fuzz_target!(|data: &[u8]| exercise::meminfo(data));
