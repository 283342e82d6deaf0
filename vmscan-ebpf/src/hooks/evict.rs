//! MGLRU's eviction before 6.7, which fires no mm_vmscan_lru_isolate or
//! lru_shrink_inactive (fentry/fexit, kprobe/kretprobe fallback; userspace
//! attaches these only where those tracepoints are missing). mm/vmscan.c
//! 6.1-6.6:
//! - evict_folios(lruvec, sc, ...) brackets one eviction;
//! - isolate_folios(lruvec, sc, swappiness, &type, list) puts one type's
//!   folios on `list` (scan_folios, inlined, counts PGSCAN_* and
//!   PGSCAN_ANON/FILE with those pages: at most 64 folios, it stops once it
//!   holds 64 pages);
//! - shrink_folio_list(list, pgdat, sc, stat, false) runs once, and once
//!   more on the folios worth retrying; each pass counts PGSTEAL_* and
//!   PGSTEAL_ANON/FILE with its return, and PGACTIVATE with
//!   stat->nr_activate.
//!
//! They fill the aggregates the tracepoints fill on 6.7+: ISOLATE (the
//! pages taken, by reclaimer and list) and SHRINK_INACTIVE (by node,
//! reclaimer and type; the first pass carries the isolation's pages, a
//! retry none). shrink_folio_list calls outside an eviction (reclaim_pages,
//! CMA's clean-page reclaim) are not counted: their pages are in no
//! pgscan/pgsteal. Each program runs once per batch of up to 64 folios.

use aya_ebpf::{
    macros::{fentry, fexit, kprobe, kretprobe},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use vmscan_common::{IsolateAgg, hook, isolate_index, lru};

use super::{
    reclaim::current_reclaimer,
    shrink::{PassFigures, count_pass},
};
use crate::{
    globals::{KPROBE_SHADOW, enabled},
    kernel::{current_pid, fentry_arg, folio_flags, folio_pages, kread, trace_reclaim_flags},
    maps::{EVICT_CTX, ISOLATE, add_at, hit, lost, set_task_entry},
};

/// One task's eviction in progress (evict_folios entry to return).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EvictCtx {
    /// The eviction's scan_control: a shrink_folio_list with another is
    /// not its pass.
    sc: u64,
    /// isolate_folios' `type_scanned` and `list`, from its entry.
    type_ptr: u64,
    list: u64,
    /// The pass in progress: shrink_folio_list's pgdat and stat (0 when
    /// none is).
    pgdat: u64,
    stat: u64,
    /// Pages isolated and not yet carried by a pass.
    isolated: u64,
    /// 1 when the isolated type is file (LRU_GEN_FILE).
    file: u32,
    _pad: u32,
}

/// include/linux/mmzone.h: MAX_LRU_BATCH (MIN_LRU_BATCH * 64, MIN_LRU_BATCH
/// being BITS_PER_LONG), what the 6.7+ tracepoint reports as requested.
const MAX_LRU_BATCH: u64 = 64 * 64;
/// Folios an isolation list is walked for: scan_folios stops once it holds
/// 64 pages, so at most 64 folios (more means a list not understood).
const LIST_WALK: u32 = 80;

#[inline(always)]
fn evict_enter(sc: u64) {
    let e = EvictCtx {
        sc,
        type_ptr: 0,
        list: 0,
        pgdat: 0,
        stat: 0,
        isolated: 0,
        file: 0,
        _pad: 0,
    };
    if !set_task_entry(&EVICT_CTX, current_pid(), &e) {
        lost(hook::EVICT_FOLIOS);
    }
}

#[inline(always)]
fn evict_leave() {
    let _ = EVICT_CTX.remove(&current_pid());
}

#[inline(always)]
fn isolate_enter(type_ptr: u64, list: u64) {
    if let Some(e) = EVICT_CTX.get_ptr_mut(&current_pid()) {
        // SAFETY: this task's own entry; only it writes it.
        unsafe {
            (*e).type_ptr = type_ptr;
            (*e).list = list;
        }
    }
}

/// isolate_folios returned `scanned` (sorted, isolated and skipped pages):
/// the pages on its list are what the kernel counted as scanned.
#[inline(always)]
fn isolate_leave(scanned: i64) {
    let Some(e) = EVICT_CTX.get_ptr_mut(&current_pid()) else {
        return;
    };
    // SAFETY: this task's own entry; only it writes it.
    let e = unsafe { &mut *e };
    let head = e.list;
    let Ok(file) = kread::<i32>(e.type_ptr, 0) else {
        lost(hook::ISOLATE_FOLIOS);
        return;
    };
    let mut pages = 0u64;
    let mut cur = kread::<u64>(head, 0).unwrap_or(head);
    let mut walked = 0u32;
    while cur != head && cur != 0 && walked < LIST_WALK {
        let folio = cur.wrapping_sub(u64::from(off!(folio_lru)));
        pages += folio_pages(folio, folio_flags(folio));
        cur = kread::<u64>(cur, 0).unwrap_or(0);
        walked += 1;
    }
    if cur != head {
        lost(hook::ISOLATE_FOLIOS);
        return;
    }
    e.isolated += pages;
    e.file = u32::from(file == 1);
    let list = if file == 1 {
        lru::INACTIVE_FILE
    } else {
        lru::INACTIVE_ANON
    };
    let a = IsolateAgg {
        events: 1,
        requested: MAX_LRU_BATCH,
        scanned: scanned.max(0) as u64,
        skipped: 0,
        taken: pages,
    };
    add_at(&ISOLATE, isolate_index(current_reclaimer(), list), &a);
}

#[inline(always)]
fn pass_enter(pgdat: u64, sc: u64, stat: u64) {
    if let Some(e) = EVICT_CTX.get_ptr_mut(&current_pid()) {
        // SAFETY: this task's own entry; only it writes it.
        unsafe {
            if (*e).sc == sc {
                (*e).pgdat = pgdat;
                (*e).stat = stat;
            }
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
    let priority = i32::from(kread::<i8>(e.sc, off!(sc_priority)).unwrap_or(0));
    let w = kread::<[u32; 16]>(e.stat, 0).unwrap_or([0; 16]);
    let word = |off: u32| -> u64 {
        let i = (off / 4) as usize;
        if off == vmscan_common::UNRESOLVED || i >= 16 {
            0
        } else {
            u64::from(w[i & 15])
        }
    };
    let f = PassFigures {
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
    };
    e.stat = 0;
    let flags = trace_reclaim_flags(e.file == 1);
    count_pass(nid, current_reclaimer(), flags, priority, &f);
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

#[fentry(function = "isolate_folios")]
pub fn fentry_isolate_folios(ctx: FEntryContext) -> u32 {
    hit(hook::ISOLATE_FOLIOS);
    isolate_enter(fentry_arg(&ctx, 3), fentry_arg(&ctx, 4));
    0
}

#[fexit(function = "isolate_folios")]
pub fn fexit_isolate_folios(ctx: FExitContext) -> u32 {
    hit(hook::ISOLATE_FOLIOS_RET);
    // After the five arguments, the return value (int).
    isolate_leave(i64::from(fentry_arg(&ctx, 5) as i32));
    0
}

#[fentry(function = "shrink_folio_list")]
pub fn fentry_shrink_folio_list(ctx: FEntryContext) -> u32 {
    hit(hook::SHRINK_FOLIO_LIST);
    pass_enter(
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
pub fn kprobe_isolate_folios(ctx: ProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        return 0;
    }
    hit(hook::ISOLATE_FOLIOS);
    isolate_enter(
        ctx.arg::<u64>(3).unwrap_or(0),
        ctx.arg::<u64>(4).unwrap_or(0),
    );
    0
}

#[kretprobe]
pub fn kretprobe_isolate_folios(ctx: RetProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        return 0;
    }
    hit(hook::ISOLATE_FOLIOS_RET);
    isolate_leave(i64::from(ctx.ret::<i32>()));
    0
}

#[kprobe]
pub fn kprobe_shrink_folio_list(ctx: ProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        return 0;
    }
    hit(hook::SHRINK_FOLIO_LIST);
    pass_enter(
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
