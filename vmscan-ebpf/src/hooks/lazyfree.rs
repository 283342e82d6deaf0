//! lru_lazyfree (fentry, kprobe fallback): MADV_FREE's per-CPU batch moves
//! a clean anonymous folio to the inactive file list, where reclaim frees
//! it without swapping. The kernel counts pglazyfree there and nowhere
//! else; no tracepoint fires.
//!
//! mm/swap.c: lru_lazyfree() (lru_lazyfree_fn() before 6.11) moves and
//! counts folio_nr_pages() pages when the folio is anonymous, swap-backed,
//! not in the swap cache and evictable; 5.10's lru_lazyfree_fn(page,
//! lruvec, arg) also requires PG_lru, which later kernels' callers clear
//! before the call (test-and-clear: the folio is theirs for it). The folio
//! is still on its list at entry, under the lruvec lock, and no other LRU
//! operation can take it meanwhile, so its flags are what the function
//! tests.

use aya_ebpf::{
    macros::{fentry, kprobe},
    programs::{FEntryContext, ProbeContext},
};
use vmscan_common::{hook, lazyfree_index, memcg_move};

use super::deactivate::memcg_moved;

use crate::{
    globals::{KPROBE_SHADOW, enabled},
    kernel::{bit, fentry_arg01, folio_flags, folio_node, folio_pages, kread, probe_arg01},
    maps::{LAZYFREE, bump, hit},
};

#[fentry(function = "lru_lazyfree")]
pub fn fentry_lru_lazyfree(ctx: FEntryContext) -> u32 {
    hit(hook::LAZYFREE);
    lazyfree(fentry_arg01(&ctx, off!(lazyfree_folio_arg)));
    0
}

#[kprobe]
pub fn kprobe_lru_lazyfree(ctx: ProbeContext) -> u32 {
    // Beside fentry (comparing mechanisms) it only counts its runs.
    if enabled(&KPROBE_SHADOW) {
        hit(hook::SHADOW_LAZYFREE);
        return 0;
    }
    hit(hook::LAZYFREE);
    if let Some(folio) = probe_arg01(&ctx, off!(lazyfree_folio_arg)) {
        lazyfree(folio);
    }
    0
}

/// PAGE_MAPPING_ANON: the low bit of folio->mapping.
const MAPPING_ANON: u64 = 1;

#[inline(always)]
fn lazyfree(folio: u64) {
    let flags = folio_flags(folio);
    if off!(move_fn_checks_lru) == 1 && !bit(flags, off!(pg_lru)) {
        return;
    }
    let anon = kread::<u64>(folio, off!(folio_mapping)).is_ok_and(|m| m & MAPPING_ANON != 0);
    // folio_test_swapcache(): PG_swapbacked and PG_swapcache.
    let swapbacked = bit(flags, off!(pg_swapbacked));
    if !anon || !swapbacked || bit(flags, off!(pg_swapcache)) || bit(flags, off!(pg_unevictable)) {
        return;
    }
    // Off its anon list (active or inactive), onto its node's inactive
    // file list.
    let from_active = u32::from(bit(flags, off!(pg_active)));
    let (node, pages) = (folio_node(folio), folio_pages(folio, flags));
    bump(&LAZYFREE, lazyfree_index(node, from_active), pages);
    memcg_moved(
        folio,
        node,
        memcg_move::lazyfree(from_active),
        pages,
        hook::LAZYFREE,
    );
}
