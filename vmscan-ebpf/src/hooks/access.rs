//! folio_mark_accessed (fentry + fexit, kprobe + kretprobe fallback): each
//! call classified per kernel stack, node, file/anon, whether the caller is
//! exiting and whether it is inside exit_mmap (mm/swap.c:
//! folio_mark_accessed). The classic LRU's outcome follows from the flags
//! the call finds; MGLRU's is what the call changed (see
//! [`vmscan_common::outcome`]): the entry keeps the flags, the return
//! compares.

use core::ptr::{addr_of, read_volatile};

use aya_ebpf::{
    helpers::bpf_get_current_comm,
    macros::{fentry, fexit, kprobe, kretprobe},
    programs::{
        FEntryContext, FExitContext, ProbeContext, RetProbeContext, tracing::StackIdContext,
    },
};
use vmscan_common::{AccessAgg, AccessKey, PF_EXITING, RUNTIME_ACCESS_RETURN, hook, outcome};

use crate::{
    globals::{
        ACCESS_OUTCOMES, CAPTURE_STACKS, FILTER_COMM, FILTER_TGID, KPROBE_SHADOW, MGLRU, enabled,
        global_u64,
    },
    kernel::{
        bit, current_pid, current_task_flags, current_tgid, fentry_arg, folio_flags, folio_node,
        folio_pages, is_file,
    },
    maps::{ACCESS, ACCESS_CTX, STACKS, STACKS_SPILL, add_keyed, hit, runtime},
};

/// One MGLRU call between entry and return: its key (outcome still to
/// decide), the folio, its flags at entry and its pages.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct AccessCtx {
    key: AccessKey,
    folio: u64,
    flags: u64,
    pages: u64,
}

#[fentry(function = "folio_mark_accessed")]
pub fn fentry_folio_mark_accessed(ctx: FEntryContext) -> u32 {
    hit(hook::MARK_ACCESSED);
    // The folio is read only where outcomes are kept: stat counts calls.
    mark_accessed(&ctx, || fentry_arg(&ctx, 0));
    0
}

#[fexit(function = "folio_mark_accessed")]
pub fn fexit_folio_mark_accessed(_ctx: FExitContext) -> u32 {
    mark_accessed_return();
    0
}

#[kprobe]
pub fn kprobe_folio_mark_accessed(ctx: ProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        hit(hook::SHADOW_MARK_ACCESSED);
        return 0;
    }
    hit(hook::MARK_ACCESSED);
    if let Some(folio) = ctx.arg::<u64>(0) {
        mark_accessed(&ctx, || folio);
    }
    0
}

#[kretprobe]
pub fn kretprobe_folio_mark_accessed(_ctx: RetProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        return 0;
    }
    mark_accessed_return();
    0
}

/// The calling kernel stack's id in STACKS, else (its hash bucket there
/// holds another stack) in STACKS_SPILL offset by STACK_ENTRIES, or -1
/// when stacks are not captured (or the walk failed).
#[inline(always)]
fn stack_id<C: StackIdContext>(ctx: &C) -> i32 {
    if !enabled(&CAPTURE_STACKS) {
        return -1;
    }
    match ctx.get_stackid(&STACKS, 0) {
        Ok(s) => s as i32,
        Err(_) => ctx
            .get_stackid(&STACKS_SPILL, 0)
            .map(|s| s as i32 + vmscan_common::STACK_ENTRIES as i32)
            .unwrap_or(-1),
    }
}

#[inline(always)]
fn filtered_out() -> bool {
    let tgid = global_u64(&FILTER_TGID);
    if tgid != 0 && current_tgid() != tgid {
        return true;
    }
    // SAFETY: reading a plain static byte array.
    let want: [u8; 16] = unsafe { read_volatile(addr_of!(FILTER_COMM)) };
    want[0] != 0 && bpf_get_current_comm().unwrap_or([0; 16]) != want
}

/// MGLRU: what the call changed, from the folio's flags before and after.
#[inline(always)]
fn classify_change(before: u64, after: u64) -> u32 {
    let set = |b: u32| !bit(before, b) && bit(after, b);
    let high = off!(nr_pageflags);
    if bit(before, off!(pg_unevictable)) {
        outcome::UNEVICTABLE
    } else if set(off!(pg_referenced)) {
        outcome::REFERENCED
    } else if set(off!(pg_workingset)) {
        outcome::WORKINGSET
    } else if high < 64 && (before ^ after) >> high != 0 {
        outcome::TIER_UP
    } else {
        outcome::NO_EFFECT
    }
}

/// What the call does to a folio with these flags (classic LRU; MGLRU
/// without its return hooked: what every kernel's order agrees on, and
/// `repeat` for the rest).
#[inline(always)]
fn classify(flags: u64) -> u32 {
    if enabled(&MGLRU) {
        if bit(flags, off!(pg_unevictable)) {
            outcome::UNEVICTABLE
        } else if !bit(flags, off!(pg_referenced)) {
            outcome::REFERENCED
        } else {
            outcome::REPEAT
        }
    } else if !bit(flags, off!(pg_referenced)) {
        outcome::REFERENCED
    } else if bit(flags, off!(pg_unevictable)) {
        outcome::UNEVICTABLE
    } else if !bit(flags, off!(pg_active)) {
        if bit(flags, off!(pg_lru)) {
            outcome::ACTIVATED
        } else {
            outcome::ACTIVATE_OFF_LRU
        }
    } else {
        outcome::NO_EFFECT
    }
}

#[inline(always)]
fn mark_accessed<C: StackIdContext>(ctx: &C, folio: impl FnOnce() -> u64) {
    if !enabled(&ACCESS_OUTCOMES) || filtered_out() {
        return;
    }
    let folio = folio();
    let flags = folio_flags(folio);
    let mut key = AccessKey {
        stack_id: stack_id(ctx),
        node: folio_node(folio),
        outcome: classify(flags),
        file: is_file(flags) as u32,
        exiting: (current_task_flags() & PF_EXITING != 0) as u32,
        teardown: super::teardown::teardown_state(),
    };
    let pages = folio_pages(folio, flags);
    if runtime(RUNTIME_ACCESS_RETURN) {
        // Decided at return, from what the call changed.
        key.outcome = outcome::NO_EFFECT;
        let c = AccessCtx {
            key,
            folio,
            flags,
            pages,
        };
        let _ = ACCESS_CTX.insert(&current_pid(), &c, 0);
        return;
    }
    add_keyed(
        &ACCESS,
        &key,
        &AccessAgg { calls: 1, pages },
        hook::MARK_ACCESSED,
    );
}

#[inline(always)]
fn mark_accessed_return() {
    if !runtime(RUNTIME_ACCESS_RETURN) {
        return;
    }
    hit(hook::MARK_ACCESSED_RET);
    let pid = current_pid();
    // SAFETY: copied out before removal.
    let Some(mut c) = (unsafe { ACCESS_CTX.get(&pid) }).copied() else {
        return;
    };
    let _ = ACCESS_CTX.remove(&pid);
    c.key.outcome = classify_change(c.flags, folio_flags(c.folio));
    add_keyed(
        &ACCESS,
        &c.key,
        &AccessAgg {
            calls: 1,
            pages: c.pages,
        },
        hook::MARK_ACCESSED,
    );
}
