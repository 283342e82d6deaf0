//! The lruvec reclaim is shrinking, per task: shrink_lruvec(lruvec, sc)
//! (the classic LRU's only caller of shrink_inactive_list, and MGLRU's
//! before 6.4) and try_to_shrink_lruvec(lruvec, sc) (MGLRU 6.4+, whose
//! global reclaim walks the memcg LRU instead), entry and return (fentry /
//! fexit, kprobe / kretprobe fallback). Every isolation and shrink pass
//! inside one is that lruvec's: the kernel counts its pgscan and pgsteal
//! against lruvec_memcg(lruvec) in memory.stat (mm/vmscan.c:
//! shrink_inactive_list, MGLRU's scan_folios and evict_folios), which the
//! pass hooks add to LRU_RECLAIM_MEMCG through [`reclaimed_in_scope`].
//! Reclaim does not nest (PF_MEMALLOC), so one open scope a task.

use aya_ebpf::{
    macros::{fentry, fexit, kprobe, kretprobe},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use vmscan_common::{HookId, MemcgMoveKey, hook};

use crate::{
    globals::{KPROBE_SHADOW, MEMCG_INSERTIONS, enabled},
    kernel::{current_pid, fentry_arg, lruvec_memcg_node},
    maps::{LRU_RECLAIM_MEMCG, LRUVEC_SCOPE, add_keyed, hit, lost, set_task_entry},
};

/// One task's lruvec being shrunk.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct LruvecScope {
    /// kernfs id of the lruvec's memory cgroup (0: none, or unreadable).
    cgroup_id: u64,
    node: u32,
    /// 1 between entry and return.
    open: u32,
}

#[inline(always)]
fn enter(h: HookId, lruvec: u64) {
    hit(h);
    if !enabled(&MEMCG_INSERTIONS) {
        return;
    }
    let (cgroup_id, node) = lruvec_memcg_node(lruvec);
    let s = LruvecScope {
        cgroup_id,
        node,
        open: 1,
    };
    if !set_task_entry(&LRUVEC_SCOPE, current_pid(), &s) {
        lost(h);
    }
}

#[inline(always)]
fn leave(h: HookId) {
    hit(h);
    if let Some(s) = LRUVEC_SCOPE.get_ptr_mut(&current_pid()) {
        // SAFETY: this task's own entry; only it writes it.
        unsafe { (*s).open = 0 };
    }
}

/// Adds `pages` of `kind` (vmscan_common::memcg_reclaim) to the lruvec the
/// current task is shrinking, where lruvecs are modelled and one is open.
/// Pages outside any scope are not keyed: userspace derives per-memcg
/// reclaim only where the scope hooks are attached with their returns.
#[inline(always)]
pub fn reclaimed_in_scope(kind: u32, pages: u64, h: HookId) {
    if pages == 0 || !enabled(&MEMCG_INSERTIONS) {
        return;
    }
    let Some(s) = LRUVEC_SCOPE.get_ptr(&current_pid()) else {
        return;
    };
    // SAFETY: this task's own entry; only it writes it.
    let s = unsafe { *s };
    if s.open == 0 {
        return;
    }
    let key = MemcgMoveKey {
        cgroup_id: s.cgroup_id,
        node: s.node,
        kind,
    };
    add_keyed(&LRU_RECLAIM_MEMCG, &key, &pages, h);
}

#[fentry(function = "shrink_lruvec")]
pub fn fentry_shrink_lruvec(ctx: FEntryContext) -> u32 {
    enter(hook::LRUVEC, fentry_arg(&ctx, 0));
    0
}

#[fexit(function = "shrink_lruvec")]
pub fn fexit_shrink_lruvec(_ctx: FExitContext) -> u32 {
    leave(hook::LRUVEC_RET);
    0
}

#[fentry(function = "try_to_shrink_lruvec")]
pub fn fentry_try_to_shrink_lruvec(ctx: FEntryContext) -> u32 {
    enter(hook::LRUVEC_GEN, fentry_arg(&ctx, 0));
    0
}

#[fexit(function = "try_to_shrink_lruvec")]
pub fn fexit_try_to_shrink_lruvec(_ctx: FExitContext) -> u32 {
    leave(hook::LRUVEC_GEN_RET);
    0
}

// The kprobe fallback. Beside fentry (comparing mechanisms) they only
// count their runs.

#[kprobe]
pub fn kprobe_shrink_lruvec(ctx: ProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        hit(hook::SHADOW_LRUVEC);
        return 0;
    }
    enter(hook::LRUVEC, ctx.arg::<u64>(0).unwrap_or(0));
    0
}

#[kretprobe]
pub fn kretprobe_shrink_lruvec(_ctx: RetProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        return 0;
    }
    leave(hook::LRUVEC_RET);
    0
}

#[kprobe]
pub fn kprobe_try_to_shrink_lruvec(ctx: ProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        hit(hook::SHADOW_LRUVEC_GEN);
        return 0;
    }
    enter(hook::LRUVEC_GEN, ctx.arg::<u64>(0).unwrap_or(0));
    0
}

#[kretprobe]
pub fn kretprobe_try_to_shrink_lruvec(_ctx: RetProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        return 0;
    }
    leave(hook::LRUVEC_GEN_RET);
    0
}
