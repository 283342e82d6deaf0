//! `parse_zoneinfo` (/proc/zoneinfo) on arbitrary text, then the node
//! start pfns vmscan derives from it.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../exercise.rs"]
#[allow(dead_code)]
mod exercise;

fuzz_target!(|data: &[u8]| exercise::zoneinfo(data));
