//! Compaction's (and CMA's / alloc_contig's) migrate scanner:
//! isolate_migratepages_block(cc, low_pfn, end_pfn, mode) takes folios off
//! their LRU lists inline, with no tracepoint and without
//! folio_isolate_lru, and list_add()s each to the head of
//! cc->migratepages. The entry keeps the list's first entry; the return
//! walks the entries before it (the folios this call isolated) and counts
//! each in COMPACT_ISOLATED by node and the list its flags name
//! (isolation clears only PG_lru; under MGLRU the removal sets PG_active
//! for the young generations, as the kernel's list sizes count them).
//! Their way back (putback, or the migration's new folio) is an
//! mm_lru_insertion.
//!
//! The walk runs in bpf_loop (5.17+): as a bounded loop its body (the
//! folio's node and size, a map update) took the verifier past its
//! instruction limit at 64 folios. Folios the call isolates and puts back
//! itself before returning (a failed isolation in a block that must be
//! taken whole) are not seen; their putback is.
//!
//! Counted apart, per node: what the scanner puts on the same list from no
//! LRU list:
//! non-LRU movable pages (zsmalloc, balloon) and, in alloc_contig_range's
//! scans (CMA, gigantic pages), hugetlb folios, told apart by their page
//! type (6.10+); before page types, movable pages by PAGE_MAPPING_MOVABLE,
//! and alloc_contig_range's scans are not counted at all (their
//! isolations stay in the drift residual).
//!
//! fentry/fexit, kprobe/kretprobe fallback; the call can sleep, so the
//! entry is kept per task.

use core::ffi::c_void;

use aya_ebpf::{
    helpers::generated::bpf_loop,
    macros::{fentry, fexit, kprobe, kretprobe},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use vmscan_common::{compact_not_lru_index, hook, lru_index};

use super::isolate::list_of;
use crate::{
    globals::{KPROBE_SHADOW, enabled},
    kernel::{current_pid, fentry_arg, folio_flags, folio_node, folio_pages, kread},
    maps::{COMPACT_CALL, COMPACT_ISOLATED, bump, hit, lost, set_task_entry},
};

/// The most entries one return walks (6.x isolates about
/// COMPACT_CLUSTER_MAX, 32 pages, a call; a pageblock is 512).
const WALK_MAX: u32 = 1024;

#[fentry(function = "isolate_migratepages_block")]
pub fn fentry_isolate_migratepages_block(ctx: FEntryContext) -> u32 {
    hit(hook::COMPACT);
    enter(fentry_arg(&ctx, 0));
    0
}

#[fexit(function = "isolate_migratepages_block")]
pub fn fexit_isolate_migratepages_block(_ctx: FExitContext) -> u32 {
    hit(hook::COMPACT_RET);
    leave();
    0
}

#[kprobe]
pub fn kprobe_isolate_migratepages_block(ctx: ProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        hit(hook::SHADOW_COMPACT);
        return 0;
    }
    hit(hook::COMPACT);
    enter(ctx.arg::<u64>(0).unwrap_or(0));
    0
}

#[kretprobe]
pub fn kretprobe_isolate_migratepages_block(_ctx: RetProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        return 0;
    }
    hit(hook::COMPACT_RET);
    leave();
    0
}

/// Keeps cc's migratepages list head and its first entry for the return.
#[inline(always)]
fn enter(cc: u64) {
    // alloc_contig_range's scans also put hugetlb folios (on no LRU list)
    // on the list: without page types to tell them apart, not counted.
    if cc == 0
        || (off!(page_types) != 1 && kread::<u8>(cc, off!(cc_alloc_contig)).unwrap_or(1) != 0)
    {
        return;
    }
    let head = cc + u64::from(off!(cc_migratepages));
    let Ok(first) = kread::<u64>(head, 0) else {
        return;
    };
    if !set_task_entry(&COMPACT_CALL, current_pid(), &[head, first]) {
        lost(hook::COMPACT);
    }
}

/// The walk's state, on the return program's stack.
#[repr(C)]
struct Walk {
    cur: u64,
    head: u64,
    first: u64,
    done: u64,
}

/// Counts the folios list_add()ed before the entry's first one.
#[inline(always)]
fn leave() {
    let Some(p) = COMPACT_CALL.get_ptr_mut(&current_pid()) else {
        return;
    };
    // SAFETY: this task's own entry; only it writes it. Zeroed so that a
    // return without an entry counts nothing.
    let [head, first] = unsafe { core::mem::replace(&mut *p, [0, 0]) };
    if head == 0 {
        return;
    }
    let Ok(cur) = kread::<u64>(head, 0) else {
        return;
    };
    let mut w = Walk {
        cur,
        head,
        first,
        done: 0,
    };
    let step: extern "C" fn(u32, *mut c_void) -> i64 = walk_step;
    // SAFETY: bpf_loop calls `step` with `w`, a live stack object, until it
    // returns 1 or WALK_MAX times.
    unsafe { bpf_loop(WALK_MAX, step as *mut c_void, (&raw mut w).cast(), 0) };
    if w.done == 0 {
        lost(hook::COMPACT);
    }
}

/// One entry of the walk: stops at the entry's first folio or the list
/// head, else counts the folio and moves on.
#[inline(never)]
extern "C" fn walk_step(_index: u32, ctx: *mut c_void) -> i64 {
    // SAFETY: bpf_loop passes `leave`'s Walk back.
    let w = unsafe { &mut *ctx.cast::<Walk>() };
    let cur = w.cur;
    if cur == 0 || cur == w.head || cur == w.first {
        w.done = 1;
        return 1;
    }
    w.cur = kread::<u64>(cur, 0).unwrap_or(0);
    let folio = cur.wrapping_sub(u64::from(off!(folio_lru)));
    let flags = folio_flags(folio);
    // Not from an LRU list: a typed page (hugetlb, zsmalloc, balloon; LRU
    // folios never are), before page types a non-LRU movable page
    // (PAGE_MAPPING_MOVABLE).
    let not_lru = if off!(page_types) == 1 {
        let t = kread::<u32>(folio, off!(page_type)).unwrap_or(u32::MAX) >> 24;
        (0xf0..0xff).contains(&t)
    } else {
        kread::<u64>(folio, off!(folio_mapping)).unwrap_or(0) & 3 == 2
    };
    let node = folio_node(folio);
    let slot = if not_lru {
        compact_not_lru_index(node)
    } else {
        lru_index(node, list_of(flags))
    };
    bump(&COMPACT_ISOLATED, slot, folio_pages(folio, flags));
    0
}
