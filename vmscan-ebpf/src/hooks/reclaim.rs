//! Reclaim episodes (direct, memcg, node: begin/end pairs) and who is
//! reclaiming right now, for the passes inside them.

use aya_ebpf::{
    helpers::bpf_get_current_comm,
    macros::{fentry, kprobe},
    programs::{FEntryContext, ProbeContext},
};
use vmscan_common::{
    HookId, PF_KSWAPD, RECLAIM_TARGET, RUNTIME_MEMCG_TARGET, UNRESOLVED, event, hook, log2_bucket,
    reclaimer,
};

use super::shrink_node::{ShrinkNodeCtx, UNSET, close_pass, open_pass};
use crate::{
    emit::{emit, now_ns},
    globals::{
        EMIT_EPISODES, KHUGEPAGED_THREAD_ADDR, KPROBE_SHADOW, SOFTLIMIT_AS_MEMCG, enabled,
        global_u64,
    },
    kernel::{
        Tp, current_memcg_id, current_pid, current_task, current_task_flags, fentry_arg, kread,
        memcg_cgroup_id,
    },
    maps::{
        EPISODES, MEMCG_TARGET, RECLAIM_CTX, SOFTLIMIT_CTX, SOFTLIMIT_SEEN, hit, lost, runtime,
        set_task_entry,
    },
};

/// An open begin/end episode of one task.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ReclaimCtx {
    kind: u32,
    order: i32,
    start_ns: u64,
    gfp: u64,
    nid: i32,
    /// Event flags: RECLAIM_TARGET when cgroup_id is the reclaimed memcg.
    flags: u32,
    cgroup_id: u64,
}

/// Who is running this reclaim pass ([`reclaimer_now`]), taken from the
/// task's open shrink_node call where there is one: worked out on the
/// call's first pass and kept in its entry for the rest.
#[inline(always)]
pub fn current_reclaimer() -> u32 {
    reclaimer_in(open_pass())
}

/// [`current_reclaimer`] for a caller that already looked up the open call.
#[inline(always)]
pub fn reclaimer_in(pass: Option<*mut ShrinkNodeCtx>) -> u32 {
    let Some(p) = pass else {
        return reclaimer_now();
    };
    // SAFETY: this task's own entry; only it writes it.
    unsafe {
        if (*p).reclaimer == UNSET {
            (*p).reclaimer = reclaimer_now();
        }
        (*p).reclaimer
    }
}

/// Who is running this reclaim pass, as mm/vmscan.c: reclaimer_offset()
/// and cgroup_reclaim() decide it: a cgroup v1 soft-limit pass (its own
/// scan_control targets a memcg: memcg reclaim where the kernel keeps that
/// out of kswapd/direct), else kswapd by PF_KSWAPD, else an open direct /
/// memcg begin..end episode of this task (on 7.x a memcg one by khugepaged
/// counts as khugepaged, a proactive one as proactive), else a proactive
/// scan_control, else the open node episode, else OTHER.
#[inline(always)]
pub fn reclaimer_now() -> u32 {
    // SAFETY: only the key's presence is read.
    if cgroup_reclaim_apart()
        && SOFTLIMIT_SEEN.get(0).is_some_and(|s| *s != 0)
        && unsafe { SOFTLIMIT_CTX.get(&current_pid()) }.is_some()
    {
        return reclaimer::MEMCG;
    }
    // kswapd opens no episode of its own (PF_MEMALLOC: it neither enters
    // direct reclaim nor reclaims for a memcg charge), so its passes need
    // no lookup.
    if current_task_flags() & PF_KSWAPD != 0 {
        return reclaimer::KSWAPD;
    }
    // SAFETY: the value is copied out at once. A zero start: the task's
    // kept entry, with no episode open.
    let open = unsafe { RECLAIM_CTX.get(&current_pid()) }
        .filter(|c| c.start_ns != 0)
        .map(|c| c.kind);
    if let Some(k) = open {
        // Where cgroup reclaim is counted by who runs it (7.x),
        // reclaimer_offset() names khugepaged for its charges' reclaim (a
        // THP collapse into a full cgroup) and proactive for a proactive
        // memcg pass (memory.reclaim) before falling back to direct.
        if k == reclaimer::MEMCG && !cgroup_reclaim_apart() {
            let by = reclaimer_offset();
            if by == reclaimer::KHUGEPAGED || by == reclaimer::PROACTIVE {
                return by;
            }
        }
        if k != reclaimer::NODE {
            return k;
        }
    }
    match current_pass_proactive() {
        Some(true) => reclaimer::PROACTIVE,
        Some(false) if !cgroup_reclaim_apart() => reclaimer::PROACTIVE,
        Some(false) => reclaimer::MEMCG,
        None => open.unwrap_or(reclaimer::OTHER),
    }
}

/// mm/vmscan.c: reclaimer_offset(): kswapd, khugepaged, a proactive
/// scan_control, else direct; by the task alone. The kernels without the
/// khugepaged / proactive items count those as direct (userspace folds
/// them).
#[inline(always)]
pub fn reclaimer_offset() -> u32 {
    if current_task_flags() & PF_KSWAPD != 0 {
        reclaimer::KSWAPD
    } else if current_is_khugepaged() {
        reclaimer::KHUGEPAGED
    } else if current_pass_proactive().is_some() {
        reclaimer::PROACTIVE
    } else {
        reclaimer::DIRECT
    }
}

/// Whether the kernel keeps cgroup reclaim out of its reclaimer counters
/// (cgroup_reclaim(sc) before 7.x); set by the loader from BTF (see
/// SOFTLIMIT_AS_MEMCG).
#[inline(always)]
fn cgroup_reclaim_apart() -> bool {
    enabled(&SOFTLIMIT_AS_MEMCG)
}

/// Some(true) when the current task's pass runs under a proactive
/// scan_control outside any memory cgroup, Some(false) when proactive for a
/// memory cgroup (cgroup_reclaim(): counted as memcg reclaim), None when not
/// proactive or unknown. The scan_control is found through
/// current->reclaim_state, which every reclaim entry point sets to
/// &sc->reclaim_state (mm/vmscan.c: set_task_reclaim_state()).
#[inline(always)]
fn current_pass_proactive() -> Option<bool> {
    let embed = off!(sc_reclaim_state);
    let bit = off!(sc_proactive_bit);
    if embed == UNRESOLVED || bit >= 8 {
        return None;
    }
    let rs = kread::<u64>(current_task(), off!(task_reclaim_state)).ok()?;
    if rs == 0 {
        return None;
    }
    let sc = rs - embed as u64;
    let byte = kread::<u8>(sc, off!(sc_proactive_byte)).ok()?;
    if byte & (1u8 << bit) == 0 {
        return None;
    }
    Some(kread::<u64>(sc, off!(sc_target_mem_cgroup)).ok()? == 0)
}

/// current_is_khugepaged(): the current task is `khugepaged_thread`; by comm
/// where that symbol is not readable.
#[inline(always)]
fn current_is_khugepaged() -> bool {
    let addr = global_u64(&KHUGEPAGED_THREAD_ADDR);
    if addr != 0 {
        return kread::<u64>(addr, 0).is_ok_and(|t| t == current_task());
    }
    bpf_get_current_comm().is_ok_and(|c| c.starts_with(b"khugepaged\0"))
}

#[inline(always)]
fn begin(h: HookId, kind: u32, order: i32, gfp: u64, nid: i32) {
    close_pass();
    let mut kind = kind;
    if kind == reclaimer::DIRECT && current_is_khugepaged() {
        kind = reclaimer::KHUGEPAGED;
    }
    let pid = current_pid();
    // Without the record (stat) nothing reads the episode's memcg.
    let records = enabled(&EMIT_EPISODES);
    let (mut cgroup_id, mut flags) = (if records { current_memcg_id() } else { 0 }, 0);
    // MEMCG_TARGET is attached only where episode records are sent.
    if kind == reclaimer::MEMCG && runtime(RUNTIME_MEMCG_TARGET) {
        // SAFETY: copied out at once.
        if let Some(t) = unsafe { MEMCG_TARGET.get(&pid) }.copied() {
            let _ = MEMCG_TARGET.remove(&pid);
            if t != 0 {
                (cgroup_id, flags) = (t, RECLAIM_TARGET);
            }
        }
    }
    let ctx = ReclaimCtx {
        kind,
        order,
        start_ns: now_ns(),
        gfp,
        nid,
        flags,
        cgroup_id,
    };
    // The task's entry stays between episodes (its start_ns zeroed at the
    // end): written in place, not inserted, after its first episode.
    if !set_task_entry(&RECLAIM_CTX, pid, &ctx) {
        lost(h);
    }
}

#[inline(always)]
fn end(h: HookId, reclaimed: u64) {
    let Some(p) = RECLAIM_CTX.get_ptr_mut(&current_pid()) else {
        // The episode began before vmscan attached: no start time to report.
        return;
    };
    // SAFETY: this task's own entry; only it writes it.
    let c = unsafe { *p };
    if c.start_ns == 0 {
        // No episode open: as above, or its begin was missed.
        return;
    }
    // SAFETY: as above.
    unsafe { (*p).start_ns = 0 };
    let end_ns = now_ns();
    if let Some(a) = EPISODES.get_ptr_mut(c.kind) {
        let us = end_ns.saturating_sub(c.start_ns) / 1000;
        // SAFETY: per-CPU slot owned by this CPU for the program's duration;
        // the bucket index is below HIST_BUCKETS by log2_bucket().
        unsafe {
            (*a).episodes += 1;
            (*a).reclaimed += reclaimed;
            (*a).latency_sum_us += us;
            if let Some(b) = (*a).latency_us.get_mut(log2_bucket(us) as usize) {
                *b += 1;
            }
        }
    }
    if !enabled(&EMIT_EPISODES) {
        return;
    }
    emit(h, event::RECLAIM_END, |e| {
        e.reclaimer = c.kind;
        e.start_ns = c.start_ns;
        e.order = c.order;
        e.gfp = c.gfp;
        e.nid = c.nid;
        e.reclaimed = reclaimed;
        e.cgroup_id = c.cgroup_id;
        e.flags = c.flags;
    });
}

// try_to_free_mem_cgroup_pages(memcg, ...): the cgroup the kernel reclaims,
// for the memcg reclaim episode it begins next (its begin tracepoint has no
// memcg argument).
#[fentry(function = "try_to_free_mem_cgroup_pages")]
pub fn fentry_try_to_free_mem_cgroup_pages(ctx: FEntryContext) -> u32 {
    hit(hook::MEMCG_TARGET);
    memcg_target(fentry_arg(&ctx, 0));
    0
}

#[kprobe]
pub fn kprobe_try_to_free_mem_cgroup_pages(ctx: ProbeContext) -> u32 {
    // Beside fentry (comparing mechanisms) it only counts its runs.
    if enabled(&KPROBE_SHADOW) {
        hit(hook::SHADOW_MEMCG_TARGET);
        return 0;
    }
    hit(hook::MEMCG_TARGET);
    if let Some(memcg) = ctx.arg::<u64>(0) {
        memcg_target(memcg);
    }
    0
}

#[inline(always)]
fn memcg_target(memcg: u64) {
    let _ = MEMCG_TARGET.insert(&current_pid(), &memcg_cgroup_id(memcg), 0);
}

tracepoint!(
    vmscan_direct_reclaim_begin,
    hook::DIRECT_BEGIN,
    try_direct_begin
);
#[inline(always)]
fn try_direct_begin(ctx: &Tp) -> Result<(), i64> {
    let order = field!(ctx, direct_begin_order: i32).unwrap_or(-1);
    let gfp = field!(ctx, direct_begin_gfp: u32).unwrap_or(0) as u64;
    begin(hook::DIRECT_BEGIN, reclaimer::DIRECT, order, gfp, -1);
    Ok(())
}

tracepoint!(vmscan_direct_reclaim_end, hook::DIRECT_END, try_direct_end);
#[inline(always)]
fn try_direct_end(ctx: &Tp) -> Result<(), i64> {
    end(
        hook::DIRECT_END,
        field!(ctx, direct_end_reclaimed: u64).unwrap_or(0),
    );
    Ok(())
}

tracepoint!(
    vmscan_memcg_reclaim_begin,
    hook::MEMCG_BEGIN,
    try_memcg_begin
);
#[inline(always)]
fn try_memcg_begin(ctx: &Tp) -> Result<(), i64> {
    let order = field!(ctx, memcg_begin_order: i32).unwrap_or(-1);
    let gfp = field!(ctx, memcg_begin_gfp: u32).unwrap_or(0) as u64;
    begin(hook::MEMCG_BEGIN, reclaimer::MEMCG, order, gfp, -1);
    Ok(())
}

tracepoint!(vmscan_memcg_reclaim_end, hook::MEMCG_END, try_memcg_end);
#[inline(always)]
fn try_memcg_end(ctx: &Tp) -> Result<(), i64> {
    end(
        hook::MEMCG_END,
        field!(ctx, memcg_end_reclaimed: u64).unwrap_or(0),
    );
    Ok(())
}

tracepoint!(vmscan_node_reclaim_begin, hook::NODE_BEGIN, try_node_begin);
#[inline(always)]
fn try_node_begin(ctx: &Tp) -> Result<(), i64> {
    let nid = field!(ctx, node_begin_nid: i32).unwrap_or(-1);
    let order = field!(ctx, node_begin_order: i32).unwrap_or(-1);
    let gfp = field!(ctx, node_begin_gfp: u32).unwrap_or(0) as u64;
    begin(hook::NODE_BEGIN, reclaimer::NODE, order, gfp, nid);
    Ok(())
}

tracepoint!(vmscan_node_reclaim_end, hook::NODE_END, try_node_end);
#[inline(always)]
fn try_node_end(ctx: &Tp) -> Result<(), i64> {
    end(
        hook::NODE_END,
        field!(ctx, node_end_reclaimed: u64).unwrap_or(0),
    );
    Ok(())
}

// Soft-limit reclaim (cgroup v1, mem_cgroup_shrink_node): a pass nested in
// kswapd's or a direct reclaimer's own, with a scan_control of its own that
// targets the memcg; current->reclaim_state still points at the outer one.
tracepoint!(
    vmscan_memcg_softlimit_reclaim_begin,
    hook::SOFTLIMIT_BEGIN,
    try_softlimit_begin
);
#[inline(always)]
fn try_softlimit_begin(_ctx: &Tp) -> Result<(), i64> {
    close_pass();
    let _ = SOFTLIMIT_CTX.insert(&current_pid(), &1, 0);
    if let Some(seen) = SOFTLIMIT_SEEN.get_ptr_mut(0) {
        // SAFETY: a slot of an array map; every writer stores the same 1.
        unsafe { core::ptr::write_volatile(seen, 1) };
    }
    Ok(())
}

tracepoint!(
    vmscan_memcg_softlimit_reclaim_end,
    hook::SOFTLIMIT_END,
    try_softlimit_end
);
#[inline(always)]
fn try_softlimit_end(_ctx: &Tp) -> Result<(), i64> {
    let _ = SOFTLIMIT_CTX.remove(&current_pid());
    Ok(())
}
