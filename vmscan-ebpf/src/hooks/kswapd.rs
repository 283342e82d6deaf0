//! kswapd episodes: mm_vmscan_kswapd_wake / _sleep and the allocation-side
//! mm_vmscan_wakeup_kswapd.

use aya_ebpf::programs::TracePointContext;
use vmscan_common::{event, hook, reclaimer};

use crate::{
    emit::emit,
    kernel::{current_memcg_id, tp},
};

tracepoint!(vmscan_kswapd_wake, hook::KSWAPD_WAKE, try_kswapd_wake);
fn try_kswapd_wake(ctx: &TracePointContext) -> Result<(), i64> {
    let nid: i32 = tp(ctx, off!(kswapd_wake_nid))?;
    let zid: i32 = tp(ctx, off!(kswapd_wake_zid))?;
    let order: i32 = tp(ctx, off!(kswapd_wake_order))?;
    emit(hook::KSWAPD_WAKE, event::KSWAPD_WAKE, |e| {
        e.reclaimer = reclaimer::KSWAPD;
        e.nid = nid;
        e.zid = zid;
        e.order = order;
    });
    Ok(())
}

tracepoint!(vmscan_kswapd_sleep, hook::KSWAPD_SLEEP, try_kswapd_sleep);
fn try_kswapd_sleep(ctx: &TracePointContext) -> Result<(), i64> {
    let nid: i32 = tp(ctx, off!(kswapd_sleep_nid))?;
    emit(hook::KSWAPD_SLEEP, event::KSWAPD_SLEEP, |e| {
        e.reclaimer = reclaimer::KSWAPD;
        e.nid = nid;
    });
    Ok(())
}

tracepoint!(vmscan_wakeup_kswapd, hook::WAKEUP_KSWAPD, try_wakeup_kswapd);
fn try_wakeup_kswapd(ctx: &TracePointContext) -> Result<(), i64> {
    let nid: i32 = tp(ctx, off!(wakeup_nid))?;
    let zid: i32 = tp(ctx, off!(wakeup_zid))?;
    let order: i32 = tp(ctx, off!(wakeup_order))?;
    // A 4-byte gfp_t on older kernels (5.10), 8 bytes since: every gfp flag
    // lies in the low 32 bits.
    let gfp = tp::<u32>(ctx, off!(wakeup_gfp))? as u64;
    let cgroup_id = current_memcg_id();
    emit(hook::WAKEUP_KSWAPD, event::WAKEUP_KSWAPD, |e| {
        e.cgroup_id = cgroup_id;
        e.nid = nid;
        e.zid = zid;
        e.order = order;
        e.gfp = gfp;
    });
    Ok(())
}
