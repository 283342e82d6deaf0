//! The recording reader on arbitrary bytes: every input must end in records
//! and an error or a clean end, never a panic, and allocations stay bounded
//! by the format's length checks (MAX_RECORD).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmscan::export::record::Reader;

fuzz_target!(|data: &[u8]| {
    let Ok(mut r) = Reader::new(data) else { return };
    for _ in 0..10_000 {
        match r.next_record() {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
});
