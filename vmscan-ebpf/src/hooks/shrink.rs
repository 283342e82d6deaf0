//! Inside a reclaim pass: isolation (mm_vmscan_lru_isolate), the inactive and
//! active list shrinks, reclaim-driven writeback and throttling.

use aya_ebpf::programs::TracePointContext;
use vmscan_common::{
    IsolateAgg, PRIORITY_SLOTS, ReclaimPagesAgg, THROTTLE_REASONS, ThrottleAgg, event, hook, isolate_index, log2_bucket, lru,
    shrink_index, throttle_index, write_index, ShrinkActiveAgg,
};

use super::{file_of, reclaim::current_reclaimer};
use crate::{
    emit::emit,
    kernel::{node_slot, tp},
    maps::{ISOLATE, RECLAIM_PAGES, SHRINK_ACTIVE, SHRINK_INACTIVE, THROTTLE, WRITE_FOLIO, add_at, bump},
};

tracepoint!(vmscan_lru_isolate, hook::LRU_ISOLATE, try_lru_isolate);
fn try_lru_isolate(ctx: &TracePointContext) -> Result<(), i64> {
    let lru_id: i32 = tp(ctx, off!(iso_lru))?;
    if lru_id < 0 || lru_id as u32 >= lru::COUNT {
        aya_log_ebpf::warn!(ctx, "mm_vmscan_lru_isolate: lru {} is not a known list", lru_id);
        return Err(-1);
    }
    let a = IsolateAgg {
        events: 1,
        requested: tp(ctx, off!(iso_requested))?,
        scanned: tp(ctx, off!(iso_scanned))?,
        skipped: tp(ctx, off!(iso_skipped))?,
        taken: tp(ctx, off!(iso_taken))?,
    };
    add_at(&ISOLATE, isolate_index(current_reclaimer(), lru_id as u32), &a);
    Ok(())
}

tracepoint!(vmscan_lru_shrink_inactive, hook::SHRINK_INACTIVE, try_shrink_inactive);
fn try_shrink_inactive(ctx: &TracePointContext) -> Result<(), i64> {
    let nid: i32 = tp(ctx, off!(si_nid))?;
    let flags: i32 = tp(ctx, off!(si_flags))?;
    let priority: i32 = tp(ctx, off!(si_priority))?;
    let scanned: u64 = tp(ctx, off!(si_scanned))?;
    let reclaimed: u64 = tp(ctx, off!(si_reclaimed))?;
    let rec = current_reclaimer();
    let idx = shrink_index(node_slot(nid as i64), rec, file_of(flags));
    if let Some(a) = SHRINK_INACTIVE.get_ptr_mut(idx) {
        // SAFETY: per-CPU slot owned by this CPU for the program's duration.
        // Updated in place: the priority histogram takes one slot a pass.
        let a = unsafe { &mut *a };
        a.passes += 1;
        a.scanned += scanned;
        a.reclaimed += reclaimed;
        a.dirty += tp::<u64>(ctx, off!(si_dirty)).unwrap_or(0);
        a.writeback += tp::<u64>(ctx, off!(si_writeback)).unwrap_or(0);
        a.congested += tp::<u64>(ctx, off!(si_congested)).unwrap_or(0);
        a.immediate += tp::<u64>(ctx, off!(si_immediate)).unwrap_or(0);
        a.activate_anon += tp::<u32>(ctx, off!(si_activate0)).unwrap_or(0) as u64;
        a.activate_file += tp::<u32>(ctx, off!(si_activate1)).unwrap_or(0) as u64;
        a.ref_keep += tp::<u64>(ctx, off!(si_ref_keep)).unwrap_or(0);
        a.unmap_fail += tp::<u64>(ctx, off!(si_unmap_fail)).unwrap_or(0);
        a.priority[(priority as usize) & (PRIORITY_SLOTS - 1)] += 1;
    }
    emit(hook::SHRINK_INACTIVE, event::SHRINK_INACTIVE, |e| {
        e.reclaimer = rec;
        e.nid = nid;
        e.scanned = scanned;
        e.reclaimed = reclaimed;
        e.priority = priority;
        e.flags = flags as u32;
    });
    Ok(())
}

tracepoint!(vmscan_lru_shrink_active, hook::SHRINK_ACTIVE, try_shrink_active);
fn try_shrink_active(ctx: &TracePointContext) -> Result<(), i64> {
    let nid: i32 = tp(ctx, off!(sa_nid))?;
    let flags: i32 = tp(ctx, off!(sa_flags))?;
    let a = ShrinkActiveAgg {
        passes: 1,
        taken: tp::<u64>(ctx, off!(sa_taken)).unwrap_or(0),
        active: tp::<u64>(ctx, off!(sa_active)).unwrap_or(0),
        deactivated: tp::<u64>(ctx, off!(sa_deactivated)).unwrap_or(0),
        referenced: tp::<u64>(ctx, off!(sa_referenced)).unwrap_or(0),
    };
    add_at(&SHRINK_ACTIVE, shrink_index(node_slot(nid as i64), current_reclaimer(), file_of(flags)), &a);
    Ok(())
}

tracepoint!(vmscan_reclaim_pages, hook::RECLAIM_PAGES, try_reclaim_pages);
fn try_reclaim_pages(ctx: &TracePointContext) -> Result<(), i64> {
    let nid: i32 = tp(ctx, off!(rp_nid))?;
    let a = ReclaimPagesAgg {
        events: 1,
        scanned: tp(ctx, off!(rp_scanned))?,
        reclaimed: tp(ctx, off!(rp_reclaimed))?,
        activate_anon: tp::<u32>(ctx, off!(rp_activate0))? as u64,
        activate_file: tp::<u32>(ctx, off!(rp_activate1))? as u64,
    };
    add_at(&RECLAIM_PAGES, node_slot(nid as i64), &a);
    Ok(())
}

tracepoint!(vmscan_write_folio, hook::WRITE_FOLIO, try_write_folio);
fn try_write_folio(ctx: &TracePointContext) -> Result<(), i64> {
    let flags: i32 = tp(ctx, off!(wf_flags))?;
    bump(&WRITE_FOLIO, write_index(current_reclaimer(), file_of(flags)), 1);
    Ok(())
}

tracepoint!(vmscan_throttled, hook::THROTTLED, try_throttled);
fn try_throttled(ctx: &TracePointContext) -> Result<(), i64> {
    let nid: i32 = tp(ctx, off!(thr_nid))?;
    let reason: i32 = tp(ctx, off!(thr_reason))?;
    let timeout = tp::<i32>(ctx, off!(thr_timeout))?.max(0) as u64;
    let delayed = tp::<i32>(ctx, off!(thr_delayed))?.max(0) as u64;
    // reason is 1 << enum vmscan_throttle_state.
    let r = log2_bucket(reason as u32 as u64).saturating_sub(1);
    let r = if r >= THROTTLE_REASONS { THROTTLE_REASONS - 1 } else { r };
    let a = ThrottleAgg { events: 1, usec_timeout: timeout, usec_delayed: delayed };
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
