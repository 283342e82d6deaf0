//! `vmscan bench-ingest`: the generator process (STORM_TGID; 0 = off) calls
//! getppid() in a loop and every call emits STORM_BATCH shrink-pass records
//! through the same ring buffer and wake-up policy as the real hooks.
//! Never attached outside that command.

use vmscan_common::{DEF_PRIORITY, STORM_BATCH, event, hook, reclaimer};

use crate::{
    PASS_ON,
    emit::emit,
    globals::{STORM_TGID, global_u64},
    kernel::current_tgid,
    maps::{STORM, bump},
};

#[unsafe(no_mangle)]
#[unsafe(link_section = "tracepoint")]
pub fn bench_storm(_ctx: *mut core::ffi::c_void) -> u32 {
    let tgid = global_u64(&STORM_TGID);
    if tgid == 0 || current_tgid() != tgid {
        return PASS_ON;
    }
    for i in 0..STORM_BATCH {
        let ok = emit(hook::SHRINK_INACTIVE, event::SHRINK_INACTIVE, |e| {
            e.reclaimer = reclaimer::OTHER;
            e.scanned = 32;
            e.reclaimed = (i & 31) as u64;
            e.priority = DEF_PRIORITY;
        });
        bump(&STORM, if ok { 0 } else { 1 }, 1);
    }
    PASS_ON
}
