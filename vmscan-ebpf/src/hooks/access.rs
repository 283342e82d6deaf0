//! folio_mark_accessed (fentry, kprobe fallback): each call classified by the
//! folio flags it found, per kernel stack, node, file/anon and whether the
//! caller is exiting (mm/swap.c: folio_mark_accessed; under MGLRU
//! folio_inc_refs).

use core::ptr::{addr_of, read_volatile};

use aya_ebpf::{
    helpers::bpf_get_current_comm,
    macros::{fentry, kprobe},
    programs::{FEntryContext, ProbeContext, tracing::StackIdContext},
};
use vmscan_common::{AccessAgg, AccessKey, PF_EXITING, hook, outcome};

use crate::{
    globals::{CAPTURE_STACKS, FILTER_COMM, FILTER_TGID, KPROBE_SHADOW, MGLRU, enabled, global_u64},
    kernel::{bit, current_task_flags, current_tgid, fentry_arg, folio_flags, folio_node, folio_pages, is_file},
    maps::{ACCESS, STACKS, add_keyed, hit},
};

#[fentry(function = "folio_mark_accessed")]
pub fn fentry_folio_mark_accessed(ctx: FEntryContext) -> u32 {
    hit(hook::MARK_ACCESSED);
    mark_accessed(&ctx, fentry_arg(&ctx, 0));
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
        mark_accessed(&ctx, folio);
    }
    0
}

/// The calling kernel stack's id in STACKS, or -1 when stacks are not
/// captured (or the walk failed).
#[inline(always)]
fn stack_id<C: StackIdContext>(ctx: &C) -> i32 {
    if !enabled(&CAPTURE_STACKS) {
        return -1;
    }
    ctx.get_stackid(&STACKS, 0).map(|s| s as i32).unwrap_or(-1)
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

/// What the call does to a folio with these flags.
#[inline(always)]
fn classify(flags: u64) -> u32 {
    if enabled(&MGLRU) {
        if bit(flags, off!(pg_unevictable)) {
            outcome::UNEVICTABLE
        } else if !bit(flags, off!(pg_referenced)) {
            outcome::REFERENCED
        } else if !bit(flags, off!(pg_workingset)) {
            outcome::WORKINGSET
        } else {
            outcome::TIER_UP
        }
    } else if !bit(flags, off!(pg_referenced)) {
        outcome::REFERENCED
    } else if bit(flags, off!(pg_unevictable)) {
        outcome::UNEVICTABLE
    } else if !bit(flags, off!(pg_active)) {
        if bit(flags, off!(pg_lru)) { outcome::ACTIVATED } else { outcome::ACTIVATE_OFF_LRU }
    } else {
        outcome::NO_EFFECT
    }
}

#[inline(always)]
fn mark_accessed<C: StackIdContext>(ctx: &C, folio: u64) {
    if filtered_out() {
        return;
    }
    let flags = folio_flags(folio);
    let key = AccessKey {
        stack_id: stack_id(ctx),
        node: folio_node(folio),
        outcome: classify(flags),
        file: is_file(flags) as u32,
        exiting: (current_task_flags() & PF_EXITING != 0) as u32,
        teardown: super::teardown::teardown_state(),
    };
    let a = AccessAgg { calls: 1, pages: folio_pages(folio, flags) };
    add_keyed(&ACCESS, &key, &a, hook::MARK_ACCESSED);
}
