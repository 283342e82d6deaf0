//! MGLRU's eviction before 6.7, which fires no mm_vmscan_lru_isolate or
//! lru_shrink_inactive (fentry/fexit, kprobe/kretprobe fallback; userspace
//! attaches these only where those tracepoints are missing). mm/vmscan.c
//! 6.1-6.6: evict_folios(lruvec, sc, ...) isolates one type's folios onto a
//! list (isolate_folios, under the lruvec lock with interrupts off; the
//! inlined scan_folios counts PGSCAN_* and PGSCAN_ANON/FILE with the pages
//! it put there: at most 64 folios, it stops once it holds 64 pages), then
//! runs shrink_folio_list(list, pgdat, sc, stat, false) once, and once more
//! on the folios worth retrying; each pass counts PGSTEAL_* and
//! PGSTEAL_ANON/FILE with its return, and PGACTIVATE with
//! stat->nr_activate.
//!
//! evict_folios brackets the eviction; the first shrink_folio_list inside
//! it finds the isolated folios still on its list (pages and type, read
//! with interrupts on, not inside the lock), and each pass's return gives
//! what it reclaimed. They fill the aggregates the tracepoints fill on
//! 6.7+: ISOLATE (the pages taken, by reclaimer and list; what the
//! isolation scanned or skipped is not seen) and SHRINK_INACTIVE (by node,
//! reclaimer and type; the first pass carries the isolation's pages, a
//! retry none). Each program runs once per batch of up to 64 folios.
//!
//! shrink_folio_list has a second use, wherever mm_vmscan_reclaim_pages
//! (7.x) is missing (RUNTIME_PAGEOUT; the same programs attach to
//! shrink_page_list before 6.0, whose parameters and counting are the
//! same): its calls outside reclaim (no
//! current->reclaim_state: reclaim_pages' MADV_PAGEOUT and DAMON, CMA's
//! clean-page reclaim) count PGACTIVATE and no pgscan/pgsteal; they fill
//! RECLAIM_PAGES as that tracepoint does (node, pages scanned and
//! reclaimed, activations).

use aya_ebpf::{
    macros::{fentry, fexit, kprobe, kretprobe},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use vmscan_common::{
    IsolateAgg, RUNTIME_PAGEOUT, ReclaimPagesAgg, ShrinkInactiveAgg, hook, isolate_index, lru,
    memcg_reclaim,
};

use super::{
    lruvec::reclaimed_in_scope,
    reclaim::current_reclaimer,
    shrink::{activated_in_scope, count_pass},
};
use crate::{
    globals::{KPROBE_SHADOW, enabled},
    kernel::{
        BLOCK_WORDS, block_word, current_pid, current_task, fentry_arg, folio_flags, folio_pages,
        is_file, kread, node_slot, trace_reclaim_flags,
    },
    maps::{EVICT_CTX, ISOLATE, RECLAIM_PAGES, add_at, hit, lost, runtime, set_task_entry},
};

/// One task's eviction in progress (evict_folios entry to return).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EvictCtx {
    /// The eviction's scan_control: a shrink_folio_list with another is
    /// not its pass.
    sc: u64,
    /// Passes seen in this eviction.
    passes: u64,
    /// The pass in progress: shrink_folio_list's pgdat and stat (0 when
    /// none is).
    pgdat: u64,
    stat: u64,
    /// Pages isolated and not yet carried by a pass.
    isolated: u64,
    /// 1 when the isolated type is file (folio_is_file_lru).
    file: u32,
    /// 1 for a shrink_folio_list call outside reclaim (no eviction around
    /// it), counted as reclaim_pages'.
    pageout: u32,
}

/// Folios an isolation list is walked for: scan_folios stops once it holds
/// 64 pages, so at most 64 folios (more means a list not understood).
const LIST_WALK: u32 = 80;

#[inline(always)]
fn evict_enter(sc: u64) {
    let e = EvictCtx {
        sc,
        passes: 0,
        pgdat: 0,
        stat: 0,
        isolated: 0,
        file: 0,
        pageout: 0,
    };
    if !set_task_entry(&EVICT_CTX, current_pid(), &e) {
        lost(hook::EVICT_FOLIOS);
    }
}

#[inline(always)]
fn evict_leave() {
    let _ = EVICT_CTX.remove(&current_pid());
}

/// The isolation's folios on `list` at its first pass: their pages (what
/// the kernel counted as scanned) and type, counted in ISOLATE.
#[inline(always)]
fn isolated(e: &mut EvictCtx, list: u64) {
    let mut pages = 0u64;
    let mut file = None;
    let mut cur = kread::<u64>(list, 0).unwrap_or(list);
    let mut walked = 0u32;
    while cur != list && cur != 0 && walked < LIST_WALK {
        let folio = cur.wrapping_sub(u64::from(off!(folio_lru)));
        let flags = folio_flags(folio);
        file.get_or_insert(is_file(flags));
        pages += folio_pages(folio, flags);
        cur = kread::<u64>(cur, 0).unwrap_or(0);
        walked += 1;
    }
    let Some(file) = file.filter(|_| cur == list) else {
        lost(hook::SHRINK_FOLIO_LIST);
        return;
    };
    e.isolated = pages;
    e.file = u32::from(file);
    let lru = if file {
        lru::INACTIVE_FILE
    } else {
        lru::INACTIVE_ANON
    };
    let a = IsolateAgg {
        events: 1,
        requested: 0,
        scanned: 0,
        skipped: 0,
        taken: pages,
    };
    add_at(&ISOLATE, isolate_index(current_reclaimer(), lru), &a);
    reclaimed_in_scope(
        memcg_reclaim::scanned(u32::from(file)),
        pages,
        hook::SHRINK_FOLIO_LIST,
    );
}

#[inline(always)]
fn pass_enter(list: u64, pgdat: u64, sc: u64, stat: u64) {
    let pid = current_pid();
    if let Some(e) = EVICT_CTX.get_ptr_mut(&pid) {
        // SAFETY: this task's own entry; only it writes it.
        let e = unsafe { &mut *e };
        // An eviction's entry; a pageout entry left by a missed return is
        // replaced below.
        if e.pageout == 0 {
            if e.sc == sc {
                if e.passes == 0 {
                    isolated(e, list);
                }
                e.passes += 1;
                e.pgdat = pgdat;
                e.stat = stat;
            }
            return;
        }
    }
    // Outside reclaim: every reclaim entry point sets reclaim_state
    // (set_task_reclaim_state()), reclaim_pages and CMA's do not.
    if runtime(RUNTIME_PAGEOUT)
        && kread::<u64>(current_task(), off!(task_reclaim_state)).is_ok_and(|rs| rs == 0)
    {
        let e = EvictCtx {
            sc,
            passes: 0,
            pgdat,
            stat,
            isolated: 0,
            file: 0,
            pageout: 1,
        };
        if !set_task_entry(&EVICT_CTX, pid, &e) {
            lost(hook::SHRINK_FOLIO_LIST);
        }
    }
}

/// A pass of the eviction returned `reclaimed` pages.
#[inline(always)]
fn pass_leave(reclaimed: u64) {
    let Some(e) = EVICT_CTX.get_ptr_mut(&current_pid()) else {
        return;
    };
    // SAFETY: this task's own entry; only it writes it.
    let e = unsafe { &mut *e };
    if e.stat == 0 {
        return;
    }
    let nid = kread::<i32>(e.pgdat, off!(pgdat_node_id)).unwrap_or(-1);
    if e.pageout == 1 {
        // As mm_vmscan_reclaim_pages reports it (7.x reclaim_folio_list):
        // the call's sc.nr_scanned, its return and its activations.
        let stat = kread::<[u32; 2]>(e.stat, off!(rs_activate)).unwrap_or([0; 2]);
        let a = ReclaimPagesAgg {
            events: 1,
            scanned: kread::<u64>(e.sc, off!(sc_nr_scanned)).unwrap_or(0),
            reclaimed,
            activate_anon: u64::from(stat[0]),
            activate_file: u64::from(stat[1]),
        };
        add_at(&RECLAIM_PAGES, node_slot(i64::from(nid)), &a);
        let _ = EVICT_CTX.remove(&current_pid());
        return;
    }
    let priority = i32::from(kread::<i8>(e.sc, off!(sc_priority)).unwrap_or(0));
    // reclaim_stat in one read (its counters are within the block: the
    // resolver checks).
    let w = kread::<[u32; BLOCK_WORDS]>(e.stat, 0).unwrap_or([0; BLOCK_WORDS]);
    let word = |off: u32| u64::from(block_word(&w, off).unwrap_or(0));
    let f = ShrinkInactiveAgg {
        passes: 1,
        scanned: core::mem::replace(&mut e.isolated, 0),
        reclaimed,
        dirty: word(off!(rs_dirty)),
        writeback: word(off!(rs_writeback)),
        congested: word(off!(rs_congested)),
        immediate: word(off!(rs_immediate)),
        activate_anon: word(off!(rs_activate)),
        activate_file: word(off!(rs_activate).wrapping_add(4)),
        ref_keep: word(off!(rs_ref_keep)),
        unmap_fail: word(off!(rs_unmap_fail)),
        ..ShrinkInactiveAgg::default()
    };
    e.stat = 0;
    let flags = trace_reclaim_flags(e.file == 1);
    count_pass(nid, current_reclaimer(), flags, priority, &f);
    reclaimed_in_scope(
        memcg_reclaim::reclaimed(e.file),
        reclaimed,
        hook::SHRINK_FOLIO_LIST_RET,
    );
    activated_in_scope(&f, hook::SHRINK_FOLIO_LIST_RET);
}

#[fentry(function = "evict_folios")]
pub fn fentry_evict_folios(ctx: FEntryContext) -> u32 {
    hit(hook::EVICT_FOLIOS);
    evict_enter(fentry_arg(&ctx, 1));
    0
}

#[fexit(function = "evict_folios")]
pub fn fexit_evict_folios(_ctx: FExitContext) -> u32 {
    hit(hook::EVICT_FOLIOS_RET);
    evict_leave();
    0
}

#[fentry(function = "shrink_folio_list")]
pub fn fentry_shrink_folio_list(ctx: FEntryContext) -> u32 {
    hit(hook::SHRINK_FOLIO_LIST);
    pass_enter(
        fentry_arg(&ctx, 0),
        fentry_arg(&ctx, 1),
        fentry_arg(&ctx, 2),
        fentry_arg(&ctx, 3),
    );
    0
}

#[fexit(function = "shrink_folio_list")]
pub fn fexit_shrink_folio_list(ctx: FExitContext) -> u32 {
    hit(hook::SHRINK_FOLIO_LIST_RET);
    // After the five arguments, the return value (unsigned int).
    pass_leave(u64::from(fentry_arg(&ctx, 5) as u32));
    0
}

// The kprobe fallback: the entries' arguments from registers, the returns'
// values from the return register. Beside fentry (comparing mechanisms)
// they stay out of the way.

#[kprobe]
pub fn kprobe_evict_folios(ctx: ProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        hit(hook::SHADOW_EVICT_FOLIOS);
        return 0;
    }
    hit(hook::EVICT_FOLIOS);
    evict_enter(ctx.arg::<u64>(1).unwrap_or(0));
    0
}

#[kretprobe]
pub fn kretprobe_evict_folios(_ctx: RetProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        return 0;
    }
    hit(hook::EVICT_FOLIOS_RET);
    evict_leave();
    0
}

#[kprobe]
pub fn kprobe_shrink_folio_list(ctx: ProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        hit(hook::SHADOW_SHRINK_FOLIO_LIST);
        return 0;
    }
    hit(hook::SHRINK_FOLIO_LIST);
    pass_enter(
        ctx.arg::<u64>(0).unwrap_or(0),
        ctx.arg::<u64>(1).unwrap_or(0),
        ctx.arg::<u64>(2).unwrap_or(0),
        ctx.arg::<u64>(3).unwrap_or(0),
    );
    0
}

#[kretprobe]
pub fn kretprobe_shrink_folio_list(ctx: RetProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        return 0;
    }
    hit(hook::SHRINK_FOLIO_LIST_RET);
    pass_leave(u64::from(ctx.ret::<u32>()));
    0
}
