//! migrate:mm_migrate_pages with reason MR_DEMOTION: the pages reclaim's
//! demote_folio_list() moved to a slower memory tier instead of freeing
//! them, by the reclaimer the kernel counts them under (pgdemote_*).

use vmscan_common::{PF_KSWAPD, UNRESOLVED, hook, reclaimer};

use crate::{
    kernel::{Tp, current_task_flags},
    maps::{DEMOTE, bump},
};

tracepoint!(migrate_mm_migrate_pages, hook::MIGRATE_PAGES, try_migrate_pages);
#[inline(always)]
fn try_migrate_pages(ctx: &Tp) -> Result<(), i64> {
    let demotion = off!(mr_demotion);
    let reason: i32 = field!(ctx, mp_reason)?;
    if demotion == UNRESOLVED || reason as u32 != demotion {
        return Ok(());
    }
    let pages: u64 = field!(ctx, mp_succeeded)?;
    bump(&DEMOTE, demote_reclaimer(), pages);
    Ok(())
}

/// mm/vmscan.c: reclaimer_offset(): kswapd, khugepaged, a proactive
/// scan_control, else direct. Unlike pgscan/pgsteal before 7.x, pgdemote_*
/// leave no memory-cgroup reclaim out, so the task's role decides alone
/// (soft-limit reclaim inside kswapd is kswapd's). Kernels without the
/// khugepaged / proactive items count those as direct: userspace folds them.
#[inline(always)]
fn demote_reclaimer() -> u32 {
    if current_task_flags() & PF_KSWAPD != 0 {
        reclaimer::KSWAPD
    } else if super::reclaim::current_is_khugepaged() {
        reclaimer::KHUGEPAGED
    } else if super::reclaim::current_pass_proactive().is_some() {
        reclaimer::PROACTIVE
    } else {
        reclaimer::DIRECT
    }
}
