//! folio_add_lru (fentry, kprobe fallback): the start of a folio's wait in
//! the per-CPU batch, ended by its mm_lru_insertion.

use aya_ebpf::{
    macros::{fentry, kprobe},
    programs::{FEntryContext, ProbeContext},
};
use vmscan_common::hook;

use crate::{
    emit::now_ns,
    globals::{KPROBE_SHADOW, enabled},
    kernel::fentry_arg,
    maps::{batch_ring, hit},
};

#[fentry(function = "folio_add_lru")]
pub fn fentry_folio_add_lru(ctx: FEntryContext) -> u32 {
    hit(hook::ADD_LRU);
    add_lru(fentry_arg(&ctx, 0));
    0
}

#[kprobe]
pub fn kprobe_folio_add_lru(ctx: ProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        hit(hook::SHADOW_ADD_LRU);
        return 0;
    }
    hit(hook::ADD_LRU);
    if let Some(folio) = ctx.arg::<u64>(0) {
        add_lru(folio);
    }
    0
}

#[inline(always)]
fn add_lru(folio: u64) {
    if let Some(r) = batch_ring() {
        r.push(folio, now_ns());
    }
}
