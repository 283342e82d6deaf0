//! shrink_node (fentry + fexit, kprobe + kretprobe fallback): per-node pass
//! length and pages reclaimed in the pass (scan_control.nr_reclaimed before
//! and after).

use aya_ebpf::{
    macros::{fentry, fexit, kprobe, kretprobe},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use vmscan_common::{RUNTIME_PASS_CACHE, event, hist, hist_index, hook, log2_bucket};

use super::reclaim::reclaimer_now;
use crate::{
    emit::{emit, now_ns},
    globals::{EMIT_SHRINK_PASSES, KPROBE_SHADOW, enabled},
    kernel::{current_pid, fentry_arg, kread, node_slot},
    maps::{HIST, SHRINK_NODE_CTX, bump, hit, runtime, set_task_entry},
};

/// State of one task's shrink_node call between entry and return.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ShrinkNodeCtx {
    start_ns: u64,
    sc: u64,
    reclaimed_before: u64,
    /// MGLRU: pages this call's isolations took, until the shrink_inactive
    /// event that names their node (see MGLRU_ISOLATED, which holds them
    /// for passes outside shrink_node).
    pub isolated: u64,
    nid: u32,
    /// Who reclaims in this call, [`UNSET`] until a pass inside it asks.
    pub reclaimer: u32,
    /// 1 where the call began with RUNTIME_PASS_CACHE set, so with its
    /// fexit attached: an entry opened before (vmscan starting up) may never
    /// see its return, and is never read as an open call.
    cached: u32,
}

/// [`ShrinkNodeCtx::reclaimer`] not worked out yet.
pub const UNSET: u32 = u32::MAX;

/// The current task's shrink_node call, where one is open, began after
/// RUNTIME_PASS_CACHE was set (shrink_node hooked by fentry and fexit, both
/// attached) and no episode boundary has closed it since (see
/// [`close_pass`]). Nothing inside one shrink_node call changes who
/// reclaims: the reclaim episode around it, PF_KSWAPD, khugepaged and the
/// scan_control are fixed for the call, reclaim does not nest
/// (PF_MEMALLOC), and soft-limit passes (mem_cgroup_shrink_node) run beside
/// shrink_node, not inside it.
#[inline(always)]
pub fn open_pass() -> Option<*mut ShrinkNodeCtx> {
    if !runtime(RUNTIME_PASS_CACHE) {
        return None;
    }
    let p = SHRINK_NODE_CTX.get_ptr_mut(&current_pid())?;
    // SAFETY: this task's own entry; only it writes it.
    (unsafe { (*p).start_ns != 0 && (*p).cached != 0 }).then_some(p)
}

/// Closes the task's shrink_node entry at a point no shrink_node call can
/// be open at (a reclaim episode or soft-limit pass beginning: reclaim does
/// not nest, and soft-limit passes run beside shrink_node). An fexit the
/// trampoline skipped (its program busy on this CPU) would otherwise leave
/// the entry open, and this task's passes outside shrink_node would take
/// its reclaimer.
#[inline(always)]
pub fn close_pass() {
    if !runtime(RUNTIME_PASS_CACHE) {
        return;
    }
    if let Some(p) = SHRINK_NODE_CTX.get_ptr_mut(&current_pid()) {
        // SAFETY: this task's own entry; only it writes it.
        unsafe { (*p).start_ns = 0 };
    }
}

#[fentry(function = "shrink_node")]
pub fn fentry_shrink_node(ctx: FEntryContext) -> u32 {
    hit(hook::SHRINK_NODE);
    shrink_node_enter(fentry_arg(&ctx, 0), || fentry_arg(&ctx, 1));
    0
}

#[fexit(function = "shrink_node")]
pub fn fexit_shrink_node(_ctx: FExitContext) -> u32 {
    hit(hook::SHRINK_NODE_RET);
    shrink_node_exit();
    0
}

#[kprobe]
pub fn kprobe_shrink_node(ctx: ProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        hit(hook::SHADOW_SHRINK_NODE);
        return 0;
    }
    hit(hook::SHRINK_NODE);
    if let (Some(pgdat), Some(sc)) = (ctx.arg::<u64>(0), ctx.arg::<u64>(1)) {
        shrink_node_enter(pgdat, || sc);
    }
    0
}

#[kretprobe]
pub fn kretprobe_shrink_node(_ctx: RetProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        return 0;
    }
    hit(hook::SHRINK_NODE_RET);
    shrink_node_exit();
    0
}

/// `sc` is read only where the pass's record is sent.
#[inline(always)]
fn shrink_node_enter(pgdat: u64, sc: impl FnOnce() -> u64) {
    let nid = kread::<i32>(pgdat, off!(pgdat_node_id)).unwrap_or(-1);
    // Only the pass's record (`record`) carries who reclaimed and how much:
    // the other commands keep just the node's pass-length histogram.
    let records = enabled(&EMIT_SHRINK_PASSES);
    let sc = if records { sc() } else { 0 };
    let c = ShrinkNodeCtx {
        start_ns: now_ns(),
        sc,
        reclaimed_before: if records {
            kread::<u64>(sc, off!(sc_nr_reclaimed)).unwrap_or(0)
        } else {
            0
        },
        isolated: 0,
        nid: node_slot(nid as i64),
        reclaimer: if records { reclaimer_now() } else { UNSET },
        cached: u32::from(runtime(RUNTIME_PASS_CACHE)),
    };
    // The task's entry stays between passes (its start_ns zeroed at
    // return): written in place, not inserted, after its first pass. The
    // LRU evicts the entries of tasks that stopped reclaiming.
    let _ = set_task_entry(&SHRINK_NODE_CTX, current_pid(), &c);
}

#[inline(always)]
fn shrink_node_exit() {
    let Some(p) = SHRINK_NODE_CTX.get_ptr_mut(&current_pid()) else {
        return;
    };
    // SAFETY: this task's own entry; only it writes it.
    let c = unsafe { *p };
    // A zero start: no pass open (it began before vmscan attached).
    if c.start_ns == 0 {
        return;
    }
    // SAFETY: as above.
    unsafe { (*p).start_ns = 0 };
    let us = now_ns().saturating_sub(c.start_ns) / 1000;
    bump(
        &HIST,
        hist_index(hist::SHRINK_NODE_US, c.nid, log2_bucket(us)),
        1,
    );
    if !enabled(&EMIT_SHRINK_PASSES) {
        return;
    }
    let after = kread::<u64>(c.sc, off!(sc_nr_reclaimed)).unwrap_or(c.reclaimed_before);
    emit(hook::SHRINK_NODE_RET, event::SHRINK_NODE, |e| {
        e.reclaimer = c.reclaimer;
        e.start_ns = c.start_ns;
        e.nid = c.nid as i32;
        e.reclaimed = after.saturating_sub(c.reclaimed_before);
    });
}
