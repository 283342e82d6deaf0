//! `vmscan lab-irq-context`: the interrupt-context reader of the kswapd
//! wake-up hook (kernel::irq_context) run where the answer is known, each
//! program counting what it read in CONTEXT_SEEN[probe][context]:
//! irq:softirq_entry always runs serving a softirq, the local APIC timer's
//! irq_vectors:local_timer_entry always in a hardirq, and the getppid()
//! calls of the command's own process in that task. Never attached outside
//! that command.

use vmscan_common::{context_check, irq_context};

use crate::{
    PASS_ON,
    globals::{CONTEXT_TGID, global_u64},
    kernel::{current_tgid, irq_context},
    maps::{CONTEXT_SEEN, bump},
};

#[inline(always)]
fn seen(ctx: *mut core::ffi::c_void, probe: u32) {
    bump(
        &CONTEXT_SEEN,
        probe * irq_context::COUNT + irq_context(ctx).min(irq_context::COUNT - 1),
        1,
    );
}

#[unsafe(no_mangle)]
#[unsafe(link_section = "tp_btf")]
pub fn ctx_softirq_entry(ctx: *mut core::ffi::c_void) -> u32 {
    seen(ctx, context_check::SOFTIRQ_ENTRY);
    0
}

#[unsafe(no_mangle)]
#[unsafe(link_section = "tp_btf")]
pub fn ctx_local_timer_entry(ctx: *mut core::ffi::c_void) -> u32 {
    seen(ctx, context_check::LOCAL_TIMER_ENTRY);
    0
}

/// Only the calls of the command's own process.
#[unsafe(no_mangle)]
#[unsafe(link_section = "tracepoint")]
pub fn ctx_getppid(ctx: *mut core::ffi::c_void) -> u32 {
    let tgid = global_u64(&CONTEXT_TGID);
    if tgid != 0 && current_tgid() == tgid {
        seen(ctx, context_check::GETPPID);
    }
    PASS_ON
}
