//! The episode ring buffer: one [`Event`] per record, losses counted per hook.

use aya_ebpf::helpers::{bpf_get_current_comm, bpf_ktime_get_ns};
use vmscan_common::{Event, EventKind, HookId};

use crate::{
    globals::{RING_WAKEUP_BYTES, global_u64},
    kernel::current_pid,
    maps::{EVENTS, lost},
};

/// bpf_ringbuf_submit flags and bpf_ringbuf_query's BPF_RB_AVAIL_DATA.
const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const BPF_RB_AVAIL_DATA: u64 = 0;

/// Sends a `kind` record stamped with time, pid and comm, after `fill` sets
/// its own fields; a full ring counts as a loss of hook `h`. Returns whether
/// the record was sent.
#[inline(always)]
pub fn emit(h: HookId, kind: EventKind, fill: impl FnOnce(&mut Event)) -> bool {
    let Some(mut entry) = EVENTS.reserve::<Event>(0) else {
        lost(h);
        return false;
    };
    let mut ev = Event::new(kind);
    // SAFETY: the helper takes no arguments.
    ev.ts_ns = unsafe { bpf_ktime_get_ns() };
    ev.pid = current_pid();
    ev.comm = bpf_get_current_comm().unwrap_or([0; 16]);
    fill(&mut ev);
    entry.write(ev);
    let flags = if EVENTS.query(BPF_RB_AVAIL_DATA) >= global_u64(&RING_WAKEUP_BYTES) {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    };
    entry.submit(flags);
    true
}

/// Nanoseconds since boot (CLOCK_MONOTONIC), as every timestamp vmscan keeps.
#[inline(always)]
pub fn now_ns() -> u64 {
    // SAFETY: the helper takes no arguments.
    unsafe { bpf_ktime_get_ns() }
}
