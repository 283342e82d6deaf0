//! The per-CPU mlock batch (mm/mlock.c, 5.18+): mlock_folio_batch(fbatch)
//! (6.3+; mlock_pagevec(pvec) in 5.18-6.2) takes each tagged folio pointer
//! of the batch and, under the lruvec lock with no tracepoint:
//! - LRU_FOLIO (mlock_folio: mlock, a fault in a locked VMA): a folio on
//!   its LRU moves to the unevictable list (or back from it, where it
//!   became evictable meanwhile);
//! - NEW_FOLIO (mlock_new_folio: a new folio of a locked VMA, instead of
//!   folio_add_lru): it is added to the unevictable list (or, evictable
//!   after all, to its normal list), with no mm_lru_insertion;
//! - untagged (munlock_folio: munlock, munmap of a locked VMA): a folio on
//!   its LRU whose last lock went moves back to its evictable list.
//!
//! The entry keeps each folio with its flags; the return reads the flags
//! again. A folio that was on an LRU list at entry and is on another at
//! return moved (out of the first, into the second); a NEW_FOLIO folio off
//! the LRU at entry and on it at return was added. Folios that stayed put
//! (already unevictable: only mlock_count changes), were off the LRU (the
//! call skips them), or are off it at return (freed by the batch's final
//! put, or taken by another CPU after the lock was dropped) count nothing.
//!
//! The callers hold the per-CPU batch lock (preemption off) across the
//! call, so one slot a CPU keeps the entry's folios; the slot names its
//! task, and a return that finds another task's call (a dead CPU's batch
//! drained by hotplug, preempted) counts nothing and the call is lost.
//!
//! 5.10-5.17 have no such batch: mlock isolates with isolate_lru_page
//! (hooked) and puts back through the LRU-add batch (mm_lru_insertion).

use aya_ebpf::{
    macros::{fentry, fexit, kprobe, kretprobe},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use vmscan_common::{UNRESOLVED, hook, mlock_index};

use super::isolate::list_of;
use crate::{
    globals::{KPROBE_SHADOW, enabled},
    kernel::{bit, current_pid, fentry_arg, folio_flags, folio_node, folio_pages, kread},
    maps::{MLOCK_CALL, MLOCK_MAX, MLOCK_MOVED, bump, hit, lost},
};

/// mm/mlock.c: the tags in a batch entry's low bits.
const LRU_FOLIO: u64 = 1;
const NEW_FOLIO: u64 = 2;

#[fentry(function = "mlock_folio_batch")]
pub fn fentry_mlock_folio_batch(ctx: FEntryContext) -> u32 {
    hit(hook::MLOCK);
    enter(fentry_arg(&ctx, 0));
    0
}

#[fexit(function = "mlock_folio_batch")]
pub fn fexit_mlock_folio_batch(ctx: FExitContext) -> u32 {
    hit(hook::MLOCK_RET);
    leave(Some(fentry_arg(&ctx, 0)));
    0
}

#[kprobe]
pub fn kprobe_mlock_folio_batch(ctx: ProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        hit(hook::SHADOW_MLOCK);
        return 0;
    }
    hit(hook::MLOCK);
    enter(ctx.arg::<u64>(0).unwrap_or(0));
    0
}

#[kretprobe]
pub fn kretprobe_mlock_folio_batch(_ctx: RetProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        return 0;
    }
    hit(hook::MLOCK_RET);
    // No arguments at a return probe: the slot's task says whose call.
    leave(None);
    0
}

/// Keeps the batch's tagged folios and their flags in this CPU's slot.
#[inline(always)]
fn enter(batch: u64) {
    let Some(call) = MLOCK_CALL.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's slot, for this program's run.
    let call = unsafe { &mut *call };
    if call.owner != 0 {
        // A call whose return never came (attached in between) or that
        // this one interrupts: it counts nothing.
        lost(hook::MLOCK);
    }
    call.owner = 0;
    let items = off!(mlock_batch_items);
    if batch == 0 || items == UNRESOLVED {
        return;
    }
    let mut n = kread::<u8>(batch, off!(mlock_batch_nr)).unwrap_or(0) as u32;
    if n > off!(mlock_batch_len) {
        n = 0;
    }
    if n as usize > MLOCK_MAX {
        lost(hook::MLOCK);
        n = MLOCK_MAX as u32;
    }
    let mut i = 0usize;
    while i < MLOCK_MAX {
        if i as u32 >= n {
            break;
        }
        let tagged = kread::<u64>(batch, items + 8 * i as u32).unwrap_or(0);
        call.folio[i] = tagged;
        call.flags[i] = folio_flags(tagged & !(LRU_FOLIO | NEW_FOLIO));
        i += 1;
    }
    call.n = n;
    call.batch = batch;
    call.owner = current_pid() as u64 + 1;
}

/// Counts what the call kept in this CPU's slot moved or added. `batch`:
/// the call's argument where the return program has it (fexit).
#[inline(always)]
fn leave(batch: Option<u64>) {
    let Some(call) = MLOCK_CALL.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's slot, for this program's run.
    let call = unsafe { &mut *call };
    let owner = core::mem::replace(&mut call.owner, 0);
    if owner == 0 {
        return;
    }
    if owner != current_pid() as u64 + 1 || batch.is_some_and(|b| b != call.batch) {
        lost(hook::MLOCK);
        return;
    }
    let n = call.n;
    let mut i = 0usize;
    while i < MLOCK_MAX {
        if i as u32 >= n {
            break;
        }
        let tagged = call.folio[i];
        let before = call.flags[i];
        i += 1;
        let folio = tagged & !(LRU_FOLIO | NEW_FOLIO);
        if folio == 0 {
            continue;
        }
        let after = folio_flags(folio);
        if !bit(after, off!(pg_lru)) {
            continue;
        }
        let to = list_of(after);
        let node = folio_node(folio);
        let pages = folio_pages(folio, before);
        if bit(before, off!(pg_lru)) {
            let from = list_of(before);
            if from == to {
                continue;
            }
            bump(&MLOCK_MOVED, mlock_index(node, from, true), pages);
        } else if tagged & (LRU_FOLIO | NEW_FOLIO) != NEW_FOLIO {
            continue;
        }
        bump(&MLOCK_MOVED, mlock_index(node, to, false), pages);
    }
}
