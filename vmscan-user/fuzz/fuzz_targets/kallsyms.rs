//! /proc/kallsyms on arbitrary text: the symbol table for stack frames
//! (parse, then name addresses) and the single-symbol lookup.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../exercise.rs"]
#[allow(dead_code)]
mod exercise;

fuzz_target!(|data: &[u8]| exercise::kallsyms(data));
