//! LRU isolation outside reclaim, which fires no tracepoint:
//! folio_isolate_lru(folio) (isolate_lru_page(page) in 5.10; 6.1's
//! isolate_lru_page is a wrapper of it), used by migration (NUMA
//! balancing, move_pages, mbind, memory offline, long-term pins),
//! MADV_PAGEOUT and DAMON, and khugepaged's collapse. Counted at return
//! where it isolated (true since 6.4, 0 before) in ISOLATED, by node and
//! the list the folio's flags name (isolation clears only PG_lru), so the
//! model's predicted list sizes lose them; their way back
//! (folio_putback_lru, or a migration's new folio) is an mm_lru_insertion.
//!
//! Compaction's migrate scanner (isolate_migratepages_block) isolates
//! inline, without this function: see compact.rs.
//!
//! fexit, kprobe/kretprobe fallback (the kprobe entry keeps the folio per
//! task: the call can sleep).

use aya_ebpf::{
    macros::{fentry, fexit, kprobe, kretprobe},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use vmscan_common::{hook, lru, lru_index};

use crate::{
    globals::{KPROBE_SHADOW, enabled},
    kernel::{bit, current_pid, fentry_arg, folio_flags, folio_node, folio_pages, is_file},
    maps::{ISOLATE_LRU_CALL, ISOLATED, bump, hit, lost, set_task_entry},
};

/// The list a folio's `flags` name.
#[inline(always)]
pub(super) fn list_of(flags: u64) -> u32 {
    if bit(flags, off!(pg_unevictable)) {
        lru::UNEVICTABLE
    } else {
        let active = u32::from(bit(flags, off!(pg_active)));
        if is_file(flags) {
            lru::INACTIVE_FILE + active
        } else {
            lru::INACTIVE_ANON + active
        }
    }
}

/// Counts `folio`'s pages in ISOLATED, by its node and the list its flags
/// name.
#[inline(always)]
fn count(folio: u64) {
    let flags = folio_flags(folio);
    bump(
        &ISOLATED,
        lru_index(folio_node(folio), list_of(flags)),
        folio_pages(folio, flags),
    );
}

/// folio_isolate_lru returned `ret` for `folio`.
#[inline(always)]
fn isolate_lru_returned(folio: u64, ret: u64) {
    let isolated = if off!(isolate_lru_bool) == 1 {
        ret & 0xff != 0
    } else {
        ret as i32 == 0
    };
    if isolated && folio != 0 {
        count(folio);
    }
}

#[fentry(function = "folio_isolate_lru")]
pub fn fentry_folio_isolate_lru(_ctx: FEntryContext) -> u32 {
    hit(hook::ISOLATE_LRU);
    0
}

#[fexit(function = "folio_isolate_lru")]
pub fn fexit_folio_isolate_lru(ctx: FExitContext) -> u32 {
    hit(hook::ISOLATE_LRU_RET);
    // After the one argument, the return value.
    isolate_lru_returned(fentry_arg(&ctx, 0), fentry_arg(&ctx, 1));
    0
}

#[kprobe]
pub fn kprobe_folio_isolate_lru(ctx: ProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        hit(hook::SHADOW_ISOLATE_LRU);
        return 0;
    }
    hit(hook::ISOLATE_LRU);
    let folio = ctx.arg::<u64>(0).unwrap_or(0);
    if !set_task_entry(&ISOLATE_LRU_CALL, current_pid(), &folio) {
        lost(hook::ISOLATE_LRU);
    }
    0
}

#[kretprobe]
pub fn kretprobe_folio_isolate_lru(ctx: RetProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        return 0;
    }
    hit(hook::ISOLATE_LRU_RET);
    let Some(p) = ISOLATE_LRU_CALL.get_ptr_mut(&current_pid()) else {
        return 0;
    };
    // SAFETY: this task's own entry; only it writes it. Zeroed for the
    // next call (an entry without a return then counts nothing).
    let folio = unsafe { core::mem::replace(&mut *p, 0) };
    isolate_lru_returned(folio, ctx.ret::<u64>());
    0
}
