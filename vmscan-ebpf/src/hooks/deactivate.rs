//! lru_deactivate and lru_deactivate_file (fentry, kprobe fallback; the
//! file batch also by fexit / kretprobe): the per-CPU batches that move
//! folios towards reclaim from outside it. The kernel counts pgdeactivate
//! there and in shrink_active_list (whose count is
//! mm_vmscan_lru_shrink_active's nr_deactivated); these two fire no
//! tracepoint.
//!
//! mm/swap.c (names without _fn from 6.11; 5.10's take (page, lruvec, arg)
//! and test PG_lru themselves, later callers test-and-clear it):
//! - lru_deactivate (MADV_COLD, DAMON) moves and counts folio_nr_pages()
//!   pages when the folio is evictable and active, or MGLRU is on (6.1+).
//!   Entry's flags decide.
//! - lru_deactivate_file (invalidation that could not drop the folio)
//!   returns early for an unevictable or mapped folio; else it moves it and
//!   counts it when it was active. Whether it is mapped is not in its flags
//!   (and how a large folio's mapcount is kept differs by version), so the
//!   return decides: the call clears PG_active only when it moved the folio.
//!   Under MGLRU a folio on the LRU has PG_active clear, and kernels with
//!   2025's "mm/mglru: optimize deactivation" (6.14, backported to some
//!   stable series) count every moved folio: userspace leaves pgdeactivate
//!   underivable under MGLRU.
//!
//! The caller holds the lruvec lock with interrupts off across each call,
//! so no other LRU operation changes the folio meanwhile and no second call
//! runs on this CPU. (On PREEMPT_RT that lock leaves interrupts on; calls
//! are still kept apart by the per-CPU batch lock, except a dead CPU's
//! batch drained during hotplug, where a count can be lost, not added.)

use aya_ebpf::{
    macros::{fentry, fexit, kprobe, kretprobe},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use vmscan_common::{HookId, MemcgMoveKey, deactivate, deactivate_index, hook, memcg_move};

use crate::{
    globals::{KPROBE_SHADOW, MEMCG_INSERTIONS, MGLRU, enabled},
    kernel::{
        bit, fentry_arg01, folio_flags, folio_memcg_id, folio_node, folio_pages, is_file,
        probe_arg01,
    },
    maps::{DEACTIVATE, DEACTIVATE_FILE_CALL, LRU_MOVE_MEMCG, add_keyed, bump, hit},
};

#[fentry(function = "lru_deactivate")]
pub fn fentry_lru_deactivate(ctx: FEntryContext) -> u32 {
    hit(hook::DEACTIVATE);
    cold(fentry_arg01(&ctx, off!(deactivate_folio_arg)));
    0
}

#[kprobe]
pub fn kprobe_lru_deactivate(ctx: ProbeContext) -> u32 {
    // Beside fentry (comparing mechanisms) it only counts its runs.
    if enabled(&KPROBE_SHADOW) {
        hit(hook::SHADOW_DEACTIVATE);
        return 0;
    }
    hit(hook::DEACTIVATE);
    if let Some(folio) = probe_arg01(&ctx, off!(deactivate_folio_arg)) {
        cold(folio);
    }
    0
}

#[fentry(function = "lru_deactivate_file")]
pub fn fentry_lru_deactivate_file(ctx: FEntryContext) -> u32 {
    hit(hook::DEACTIVATE_FILE);
    file_enter(fentry_arg01(&ctx, off!(deactivate_file_folio_arg)));
    0
}

#[fexit(function = "lru_deactivate_file")]
pub fn fexit_lru_deactivate_file(ctx: FExitContext) -> u32 {
    hit(hook::DEACTIVATE_FILE_RET);
    file_leave(Some(fentry_arg01(&ctx, off!(deactivate_file_folio_arg))));
    0
}

#[kprobe]
pub fn kprobe_lru_deactivate_file(ctx: ProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        hit(hook::SHADOW_DEACTIVATE_FILE);
        return 0;
    }
    hit(hook::DEACTIVATE_FILE);
    if let Some(folio) = probe_arg01(&ctx, off!(deactivate_file_folio_arg)) {
        file_enter(folio);
    }
    0
}

#[kretprobe]
pub fn kretprobe_lru_deactivate_file(_ctx: RetProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        return 0;
    }
    hit(hook::DEACTIVATE_FILE_RET);
    // No arguments at a return probe: the entry's folio is this call's.
    file_leave(None);
    0
}

/// lru_deactivate's own test, on the folio's flags at entry.
#[inline(always)]
fn cold(folio: u64) {
    let flags = folio_flags(folio);
    if off!(move_fn_checks_lru) == 1 && !bit(flags, off!(pg_lru)) {
        return;
    }
    if bit(flags, off!(pg_unevictable)) {
        return;
    }
    if !bit(flags, off!(pg_active)) && !enabled(&MGLRU) {
        return;
    }
    moved(deactivate::COLD, folio, flags);
}

/// Counts `folio`'s pages (its `flags` as the batch found them) as `batch`
/// moved them, on its node and type: from the active list to the inactive
/// one (under MGLRU, towards the oldest generation).
#[inline(always)]
fn moved(batch: u32, folio: u64, flags: u64) {
    let (node, file, pages) = (
        folio_node(folio),
        u32::from(is_file(flags)),
        folio_pages(folio, flags),
    );
    bump(&DEACTIVATE, deactivate_index(batch, node, file), pages);
    memcg_moved(
        folio,
        node,
        memcg_move::deactivated(file),
        pages,
        hook::DEACTIVATE,
    );
}

/// Adds `pages` of `folio` on `node` to its memory cgroup's `kind` of move
/// (vmscan_common::memcg_move), where lruvecs are modelled (the flag that
/// keys insertions by memcg: stat clears it). A full map counts as lost
/// on `h`, the caller's hook (the batches share the map).
#[inline(always)]
pub(super) fn memcg_moved(folio: u64, node: u32, kind: u32, pages: u64, h: HookId) {
    if !enabled(&MEMCG_INSERTIONS) {
        return;
    }
    let key = MemcgMoveKey {
        cgroup_id: folio_memcg_id(folio),
        node,
        kind,
    };
    add_keyed(&LRU_MOVE_MEMCG, &key, &pages, h);
}

/// Keeps an active, evictable folio for the return: only those can count.
#[inline(always)]
fn file_enter(folio: u64) {
    let Some(call) = DEACTIVATE_FILE_CALL.get_ptr_mut(0) else {
        return;
    };
    let flags = folio_flags(folio);
    let keep = folio != 0 && bit(flags, off!(pg_active)) && !bit(flags, off!(pg_unevictable));
    // SAFETY: this CPU's slot; the lruvec lock (interrupts off) keeps any
    // other call off this CPU until the return.
    unsafe { *call = if keep { [folio, flags] } else { [0, 0] } };
}

/// Counts the folio kept at entry when the call cleared its PG_active:
/// the call moved it off the active list (it clears the bit only then).
/// `folio`: the call's argument where the return program has it (fexit),
/// which must be the entry's (a return whose entry vmscan did not see,
/// while attaching, counts nothing).
#[inline(always)]
fn file_leave(folio: Option<u64>) {
    let Some(call) = DEACTIVATE_FILE_CALL.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's slot (see file_enter).
    let [kept, entry_flags] = unsafe { core::mem::replace(&mut *call, [0, 0]) };
    if kept == 0 || folio.is_some_and(|f| f != kept) {
        return;
    }
    let flags = folio_flags(kept);
    if bit(flags, off!(pg_active)) {
        return;
    }
    moved(deactivate::FILE, kept, entry_flags);
}
