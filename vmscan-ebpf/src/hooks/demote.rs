//! migrate:mm_migrate_pages with reason MR_DEMOTION: the pages reclaim's
//! demote_folio_list() moved to a slower memory tier instead of freeing
//! them, by the reclaimer the kernel counts them under (pgdemote_*).

use vmscan_common::{UNRESOLVED, hook};

use super::reclaim::reclaimer_offset;
use crate::{
    kernel::Tp,
    maps::{DEMOTE, bump},
};

tracepoint!(
    migrate_mm_migrate_pages,
    hook::MIGRATE_PAGES,
    try_migrate_pages
);
#[inline(always)]
fn try_migrate_pages(ctx: &Tp) -> Result<(), i64> {
    let demotion = off!(mr_demotion);
    let reason: i32 = field!(ctx, mp_reason)?;
    if demotion == UNRESOLVED || reason as u32 != demotion {
        return Ok(());
    }
    let pages: u64 = field!(ctx, mp_succeeded)?;
    // Unlike pgscan/pgsteal before 7.x, pgdemote_* leave no memory-cgroup
    // reclaim out: the task's role alone decides (soft-limit reclaim inside
    // kswapd is kswapd's).
    bump(&DEMOTE, reclaimer_offset(), pages);
    Ok(())
}
