//! exit_mmap (fentry + fexit, kprobe + kretprobe fallback): marks the task
//! tearing an address space down, so folio_mark_accessed can tell marks made
//! by the page-table teardown walk (zap_pte_range <- unmap_vmas <- exit_mmap)
//! from other calls. PF_EXITING on the caller is not the same thing: execve
//! tears down the old mm in a live task, a last mmput by another task
//! (/proc readers, mmput_async's worker) tears down an mm that is not its
//! own, and an exiting task still marks pages on other paths.

use aya_ebpf::{
    macros::{fentry, fexit, kprobe, kretprobe},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use vmscan_common::hook;

use crate::{
    globals::{KPROBE_SHADOW, enabled},
    kernel::current_pid,
    maps::{TEARDOWN, hit},
};

#[fentry(function = "exit_mmap")]
pub fn fentry_exit_mmap(_ctx: FEntryContext) -> u32 {
    hit(hook::TEARDOWN);
    enter();
    0
}

#[fexit(function = "exit_mmap")]
pub fn fexit_exit_mmap(_ctx: FExitContext) -> u32 {
    hit(hook::TEARDOWN_RET);
    leave();
    0
}

#[kprobe]
pub fn kprobe_exit_mmap(_ctx: ProbeContext) -> u32 {
    // Beside fentry (comparing mechanisms) it only counts its runs.
    if enabled(&KPROBE_SHADOW) {
        hit(hook::SHADOW_TEARDOWN);
        return 0;
    }
    hit(hook::TEARDOWN);
    enter();
    0
}

#[kretprobe]
pub fn kretprobe_exit_mmap(_ctx: RetProbeContext) -> u32 {
    hit(hook::TEARDOWN_RET);
    leave();
    0
}

#[inline(always)]
fn enter() {
    let _ = TEARDOWN.insert(&current_pid(), &1u8, 0);
}

#[inline(always)]
fn leave() {
    let _ = TEARDOWN.remove(&current_pid());
}

/// The folio_mark_accessed key's `teardown`: unknown where exit_mmap is not
/// hooked, else whether the calling task is inside exit_mmap.
#[inline(always)]
pub fn teardown_state() -> u32 {
    use vmscan_common::{RUNTIME_TEARDOWN, teardown};
    if !crate::maps::runtime(RUNTIME_TEARDOWN) {
        return teardown::UNKNOWN;
    }
    // SAFETY: a presence check; the value is not read.
    if unsafe { TEARDOWN.get(&current_pid()) }.is_some() {
        teardown::INSIDE
    } else {
        teardown::OUTSIDE
    }
}
