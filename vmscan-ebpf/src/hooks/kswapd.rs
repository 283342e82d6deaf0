//! kswapd episodes: mm_vmscan_kswapd_wake / _sleep and the allocation-side
//! mm_vmscan_wakeup_kswapd.

use vmscan_common::{event, hook, irq_context, reclaimer};

use crate::{
    emit::emit,
    kernel::{Tp, current_memcg_id, irq_context},
};

tracepoint!(vmscan_kswapd_wake, hook::KSWAPD_WAKE, try_kswapd_wake);
#[inline(always)]
fn try_kswapd_wake(ctx: &Tp) -> Result<(), i64> {
    let nid: i32 = field!(ctx, kswapd_wake_nid)?;
    let zid: i32 = field!(ctx, kswapd_wake_zid)?;
    let order: i32 = field!(ctx, kswapd_wake_order)?;
    emit(hook::KSWAPD_WAKE, event::KSWAPD_WAKE, |e| {
        e.reclaimer = reclaimer::KSWAPD;
        e.nid = nid;
        e.zid = zid;
        e.order = order;
    });
    Ok(())
}

tracepoint!(vmscan_kswapd_sleep, hook::KSWAPD_SLEEP, try_kswapd_sleep);
#[inline(always)]
fn try_kswapd_sleep(ctx: &Tp) -> Result<(), i64> {
    let nid: i32 = field!(ctx, kswapd_sleep_nid)?;
    emit(hook::KSWAPD_SLEEP, event::KSWAPD_SLEEP, |e| {
        e.reclaimer = reclaimer::KSWAPD;
        e.nid = nid;
    });
    Ok(())
}

tracepoint!(vmscan_wakeup_kswapd, hook::WAKEUP_KSWAPD, try_wakeup_kswapd);
#[inline(always)]
fn try_wakeup_kswapd(ctx: &Tp) -> Result<(), i64> {
    let nid: i32 = field!(ctx, wakeup_nid)?;
    let zid: i32 = field!(ctx, wakeup_zid)?;
    let order: i32 = field!(ctx, wakeup_order)?;
    // A 4-byte gfp_t on older kernels (5.10), 8 bytes since: every gfp flag
    // lies in the low 32 bits.
    let gfp = field!(ctx, wakeup_gfp: u32)? as u64;
    // wakeup_kswapd runs for atomic allocations in interrupts too; there
    // `current` is whatever task was interrupted, and its memcg is not the
    // asker's.
    let context = irq_context(ctx.ptr());
    let cgroup_id = if context == irq_context::TASK || context == irq_context::UNKNOWN {
        current_memcg_id()
    } else {
        0
    };
    emit(hook::WAKEUP_KSWAPD, event::WAKEUP_KSWAPD, |e| {
        e.flags = context;
        e.cgroup_id = cgroup_id;
        e.nid = nid;
        e.zid = zid;
        e.order = order;
        e.gfp = gfp;
    });
    Ok(())
}
