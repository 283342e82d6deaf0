//! Inside a reclaim pass: isolation (mm_vmscan_lru_isolate), the inactive and
//! active list shrinks, reclaim-driven writeback and throttling.

use vmscan_common::{
    IsolateAgg, PRIORITY_SLOTS, ReclaimPagesAgg, ShrinkActiveAgg, ShrinkInactiveAgg,
    THROTTLE_REASONS, ThrottleAgg, agg::Field as _, event, hook, isolate_index, log2_bucket, lru,
    memcg_reclaim, shrink_index, throttle_index, write_index,
};

use super::{
    file_of,
    lruvec::reclaimed_in_scope,
    reclaim::{current_reclaimer, reclaimer_in},
    shrink_node::open_pass,
};
use crate::{
    emit::emit,
    globals::{EMIT_SHRINK_PASSES, MGLRU, enabled},
    kernel::{Tp, current_pid, folio_flags, is_file, node_slot, trace_reclaim_flags},
    maps::{
        ISOLATE, MGLRU_ISOLATED, RECLAIM_PAGES, SHRINK_ACTIVE, SHRINK_INACTIVE, THROTTLE,
        WRITE_FOLIO, add_at, bump,
    },
};

tracepoint!(vmscan_lru_isolate, hook::LRU_ISOLATE, try_lru_isolate);
#[inline(always)]
fn try_lru_isolate(ctx: &Tp) -> Result<(), i64> {
    let lru_id: i32 = field!(ctx, iso_lru)?;
    if lru_id < 0 || lru_id as u32 >= lru::COUNT {
        aya_log_ebpf::warn!(
            ctx,
            "mm_vmscan_lru_isolate: lru {} is not a known list",
            lru_id
        );
        return Err(-1);
    }
    let a = IsolateAgg {
        events: 1,
        requested: field!(ctx, iso_requested)?,
        scanned: field!(ctx, iso_scanned)?,
        skipped: field!(ctx, iso_skipped)?,
        taken: field!(ctx, iso_taken)?,
    };
    let pass = open_pass();
    add_at(
        &ISOLATE,
        isolate_index(reclaimer_in(pass), lru_id as u32),
        &a,
    );
    // The lruvec's pgscan: an inactive list's scan (what the kernel counts,
    // as derive_scans reads ISOLATE); on the classic LRU its pgrefill: an
    // active list's.
    let l = lru_id as u32;
    let file = u32::from(l == lru::INACTIVE_FILE || l == lru::ACTIVE_FILE);
    if l == lru::INACTIVE_ANON || l == lru::INACTIVE_FILE {
        let pages = if enabled(&MGLRU) { a.taken } else { a.scanned };
        reclaimed_in_scope(memcg_reclaim::scanned(file), pages, hook::LRU_ISOLATE);
    } else if l != lru::UNEVICTABLE && !enabled(&MGLRU) {
        reclaimed_in_scope(memcg_reclaim::refilled(file), a.scanned, hook::LRU_ISOLATE);
    }
    if enabled(&MGLRU) {
        // MGLRU's eviction (evict_folios) reports the node only in the
        // shrink_inactive event that follows, and its nr_scanned counts
        // sorted folios too and repeats on each retry: the node's scanning
        // is what this isolation took (what pgscan counts), carried over,
        // in the open shrink_node call's entry (evict_folios isolates and
        // shrinks inside one call), else in MGLRU_ISOLATED. The task's
        // entry there stays (shrink_inactive zeroes it): an update in
        // place, not an insert, after its first pass.
        if let Some(p) = pass {
            // SAFETY: this task's own entry; only it writes it.
            unsafe { (*p).isolated += a.taken };
            return Ok(());
        }
        let pid = current_pid();
        match MGLRU_ISOLATED.get_ptr_mut(&pid) {
            // SAFETY: this task's own entry; only it writes it.
            Some(p) => unsafe { *p += a.taken },
            None => {
                let _ = MGLRU_ISOLATED.insert(&pid, &a.taken, 0);
            }
        }
    }
    Ok(())
}

tracepoint!(
    vmscan_lru_shrink_inactive,
    hook::SHRINK_INACTIVE,
    try_shrink_inactive
);
#[inline(always)]
fn try_shrink_inactive(ctx: &Tp) -> Result<(), i64> {
    let nid: i32 = field!(ctx, si_nid)?;
    let flags: i32 = ctx.reclaim_flags(place!(ctx, si_flags))?;
    let priority: i32 = field!(ctx, si_priority)?;
    let pass = open_pass();
    let scanned: u64 = if enabled(&MGLRU) {
        // What this task's isolations took since its last pass (0 on a
        // retry of the same folios): in the open shrink_node call's entry,
        // else in MGLRU_ISOLATED (see try_lru_isolate).
        let carried = match pass {
            // SAFETY: a field of this task's own entry.
            Some(p) => Some(unsafe { core::ptr::addr_of_mut!((*p).isolated) }),
            None => MGLRU_ISOLATED.get_ptr_mut(&current_pid()),
        };
        match carried {
            // SAFETY: this task's own entry; only it writes it. Zeroed, not
            // removed, for the next pass's isolations.
            Some(p) => unsafe { core::mem::replace(&mut *p, 0) },
            None => 0,
        }
    } else {
        field!(ctx, si_scanned)?
    };
    let reclaimed: u64 = field!(ctx, si_reclaimed)?;
    let rec = reclaimer_in(pass);
    // tp_btf / raw_tp: the pass's reclaim_stat in one read, not one helper
    // call per counter.
    let stat = ctx.deref_block(place!(ctx, si_dirty));
    let count = |off: u32| ctx.count_in(&stat, off).unwrap_or(0);
    let f = ShrinkInactiveAgg {
        passes: 1,
        scanned,
        reclaimed,
        dirty: count(place!(ctx, si_dirty)),
        writeback: count(place!(ctx, si_writeback)),
        congested: count(place!(ctx, si_congested)),
        immediate: count(place!(ctx, si_immediate)),
        activate_anon: u64::from(ctx.u32_in(&stat, place!(ctx, si_activate0)).unwrap_or(0)),
        activate_file: u64::from(ctx.u32_in(&stat, place!(ctx, si_activate1)).unwrap_or(0)),
        ref_keep: count(place!(ctx, si_ref_keep)),
        unmap_fail: count(place!(ctx, si_unmap_fail)),
        ..ShrinkInactiveAgg::default()
    };
    count_pass(nid, rec, flags, priority, &f);
    reclaimed_in_scope(
        memcg_reclaim::reclaimed(file_of(flags)),
        reclaimed,
        hook::SHRINK_INACTIVE,
    );
    activated_in_scope(&f, hook::SHRINK_INACTIVE);
    Ok(())
}

/// The pass `f`'s activations (shrink_folio_list's PGACTIVATE, counted per
/// folio against its memcg: the lruvec's) to the lruvec being shrunk.
#[inline(always)]
pub fn activated_in_scope(f: &ShrinkInactiveAgg, h: vmscan_common::HookId) {
    reclaimed_in_scope(memcg_reclaim::activated(0), f.activate_anon, h);
    reclaimed_in_scope(memcg_reclaim::activated(1), f.activate_file, h);
}

/// Adds the pass `f` (one pass's figures, its priority histogram empty) on
/// node `nid` by reclaimer `rec` (`flags`: its reclaim_flags) to
/// SHRINK_INACTIVE, at `priority`, and sends its record where episodes are
/// wanted. A pass is mm_vmscan_lru_shrink_inactive's, or under MGLRU
/// before 6.7 a shrink_folio_list of an eviction (hooks::evict).
#[inline(always)]
pub fn count_pass(nid: i32, rec: u32, flags: i32, priority: i32, f: &ShrinkInactiveAgg) {
    let idx = shrink_index(node_slot(nid as i64), rec, file_of(flags));
    if let Some(a) = SHRINK_INACTIVE.get_ptr_mut(idx) {
        // SAFETY: per-CPU slot owned by this CPU for the program's duration.
        let a = unsafe { &mut *a };
        a.add(f);
        a.priority[(priority as usize) & (PRIORITY_SLOTS - 1)] += 1;
    }
    if !enabled(&EMIT_SHRINK_PASSES) {
        return;
    }
    emit(hook::SHRINK_INACTIVE, event::SHRINK_INACTIVE, |e| {
        e.reclaimer = rec;
        e.nid = nid;
        e.scanned = f.scanned;
        e.reclaimed = f.reclaimed;
        e.priority = priority;
        e.flags = flags as u32;
    });
}

tracepoint!(
    vmscan_lru_shrink_active,
    hook::SHRINK_ACTIVE,
    try_shrink_active
);
#[inline(always)]
fn try_shrink_active(ctx: &Tp) -> Result<(), i64> {
    let nid: i32 = field!(ctx, sa_nid)?;
    let flags: i32 = ctx.reclaim_flags(place!(ctx, sa_flags))?;
    let a = ShrinkActiveAgg {
        passes: 1,
        taken: field!(ctx, sa_taken: u64).unwrap_or(0),
        active: field!(ctx, sa_active: u64).unwrap_or(0),
        deactivated: field!(ctx, sa_deactivated: u64).unwrap_or(0),
        referenced: field!(ctx, sa_referenced: u64).unwrap_or(0),
    };
    add_at(
        &SHRINK_ACTIVE,
        shrink_index(node_slot(nid as i64), current_reclaimer(), file_of(flags)),
        &a,
    );
    reclaimed_in_scope(
        memcg_reclaim::deactivated(file_of(flags)),
        a.deactivated,
        hook::SHRINK_ACTIVE,
    );
    Ok(())
}

tracepoint!(vmscan_reclaim_pages, hook::RECLAIM_PAGES, try_reclaim_pages);
#[inline(always)]
fn try_reclaim_pages(ctx: &Tp) -> Result<(), i64> {
    let nid: i32 = field!(ctx, rp_nid)?;
    let a = ReclaimPagesAgg {
        events: 1,
        scanned: field!(ctx, rp_scanned)?,
        reclaimed: field!(ctx, rp_reclaimed)?,
        activate_anon: field!(ctx, rp_activate0: u32)? as u64,
        activate_file: field!(ctx, rp_activate1: u32)? as u64,
    };
    add_at(&RECLAIM_PAGES, node_slot(nid as i64), &a);
    Ok(())
}

tracepoint!(vmscan_write_folio, hook::WRITE_FOLIO, try_write_folio);
#[inline(always)]
fn try_write_folio(ctx: &Tp) -> Result<(), i64> {
    // As an argument, write_folio has only the folio: reclaim_flags is
    // trace_reclaim_flags(folio_is_file_lru(folio)).
    let flags: i32 = if derived!(ctx, wf_flags) {
        let folio: u64 = field!(ctx, wf_folio)?;
        trace_reclaim_flags(is_file(folio_flags(folio)))
    } else {
        ctx.reclaim_flags(place!(ctx, wf_flags))?
    };
    bump(
        &WRITE_FOLIO,
        write_index(current_reclaimer(), file_of(flags)),
        1,
    );
    Ok(())
}

tracepoint!(vmscan_throttled, hook::THROTTLED, try_throttled);
#[inline(always)]
fn try_throttled(ctx: &Tp) -> Result<(), i64> {
    let nid: i32 = field!(ctx, thr_nid)?;
    let reason: i32 = field!(ctx, thr_reason)?;
    let timeout = field!(ctx, thr_timeout: i32)?.max(0) as u64;
    let delayed = field!(ctx, thr_delayed: i32)?.max(0) as u64;
    // reason is 1 << enum vmscan_throttle_state.
    let r = log2_bucket(reason as u32 as u64).saturating_sub(1);
    let r = if r >= THROTTLE_REASONS {
        THROTTLE_REASONS - 1
    } else {
        r
    };
    let a = ThrottleAgg {
        events: 1,
        usec_timeout: timeout,
        usec_delayed: delayed,
    };
    add_at(&THROTTLE, throttle_index(node_slot(nid as i64), r), &a);
    // See vmscan_common::Event: delay in `scanned`, timeout in `reclaimed`.
    emit(hook::THROTTLED, event::THROTTLED, |e| {
        e.nid = nid;
        e.flags = reason as u32;
        e.scanned = delayed;
        e.reclaimed = timeout;
    });
    Ok(())
}
