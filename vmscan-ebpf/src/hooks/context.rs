//! `vmscan lab-irq-context`: the interrupt-context reader of the kswapd
//! wake-up hook (kernel::irq_context) run where the answer is known, each
//! program counting what it read in CONTEXT_SEEN[probe][context]:
//! irq:softirq_entry always runs serving a softirq (by tp_btf, and by the
//! classic tracepoint, whose kernel stack the helper takes from the
//! record's registers), the local APIC timer's irq_vectors:local_timer_entry
//! always in a hardirq, and the getppid() calls of the command's own
//! process (raw_syscalls:sys_enter) in that task. Never attached outside
//! that command.

use aya_ebpf::helpers::bpf_probe_read_kernel;
use vmscan_common::{context_check, irq_context};

use crate::{
    PASS_ON,
    globals::{CONTEXT_SYSCALL, CONTEXT_TGID, global_u64},
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
#[unsafe(link_section = "tracepoint")]
pub fn ctx_softirq_entry_tp(ctx: *mut core::ffi::c_void) -> u32 {
    seen(ctx, context_check::SOFTIRQ_ENTRY_TP);
    PASS_ON
}

#[unsafe(no_mangle)]
#[unsafe(link_section = "tp_btf")]
pub fn ctx_local_timer_entry(ctx: *mut core::ffi::c_void) -> u32 {
    seen(ctx, context_check::LOCAL_TIMER_ENTRY);
    0
}

/// sys_enter(regs, id): only the command's own getppid() calls. (The
/// syscalls:sys_enter_* events would not do: before 6.x perf hands their
/// programs the user registers, from which no kernel stack is taken.)
#[unsafe(no_mangle)]
#[unsafe(link_section = "tp_btf")]
pub fn ctx_sys_enter(ctx: *mut core::ffi::c_void) -> u32 {
    let tgid = global_u64(&CONTEXT_TGID);
    // SAFETY: a tp_btf context is the tracepoint's arguments as u64s; the
    // helper copes with any address.
    let id = unsafe { bpf_probe_read_kernel((ctx as *const u64).wrapping_add(1)) }
        .unwrap_or(-1i64 as u64);
    if tgid != 0 && current_tgid() == tgid && id == global_u64(&CONTEXT_SYSCALL) {
        seen(ctx, context_check::SYS_ENTER);
    }
    0
}
