//! pagemap:mm_lru_insertion and mm_lru_activate: folios entering a list, per
//! node, list and memory cgroup; the per-CPU batch residency they end.

use aya_ebpf::programs::TracePointContext;
use vmscan_common::{FolioAgg, MemcgLruKey, hist, hist_index, hook, log2_bucket, lru, lru_index};

use crate::{
    emit::now_ns,
    kernel::{folio_flags, folio_memcg_id, folio_pages, is_file, pfn_node, tp},
    maps::{BATCH_START, HIST, LRU_ACTIVATE, LRU_INSERT, LRU_INSERT_MEMCG, add_at, add_keyed, bump},
};

tracepoint!(pagemap_lru_insertion, hook::LRU_INSERTION, try_lru_insertion);
fn try_lru_insertion(ctx: &TracePointContext) -> Result<(), i64> {
    let folio: u64 = tp(ctx, off!(ins_folio))?;
    let pfn: u64 = tp(ctx, off!(ins_pfn))?;
    let lru_id: u32 = tp(ctx, off!(ins_lru))?;
    if lru_id >= lru::COUNT {
        aya_log_ebpf::warn!(ctx, "mm_lru_insertion: lru {} is not a known list", lru_id);
        return Err(-1);
    }
    let node = pfn_node(pfn);
    let a = FolioAgg { folios: 1, pages: folio_pages(folio, folio_flags(folio)) };
    add_at(&LRU_INSERT, lru_index(node, lru_id), &a);
    let key = MemcgLruKey { cgroup_id: folio_memcg_id(folio), node, lru: lru_id };
    add_keyed(&LRU_INSERT_MEMCG, &key, &a, hook::LRU_INSERTION);
    batch_residency(folio, node);
    Ok(())
}

/// Per-CPU batch residency, when folio_add_lru is hooked (fentry/kprobe).
#[inline(always)]
fn batch_residency(folio: u64, node: u32) {
    // SAFETY: copied out at once.
    if let Some(start) = unsafe { BATCH_START.get(&folio) }.copied() {
        let _ = BATCH_START.remove(&folio);
        let us = now_ns().saturating_sub(start) / 1000;
        bump(&HIST, hist_index(hist::BATCH_RESIDENCY_US, node, log2_bucket(us)), 1);
    }
}

tracepoint!(pagemap_lru_activate, hook::LRU_ACTIVATE, try_lru_activate);
fn try_lru_activate(ctx: &TracePointContext) -> Result<(), i64> {
    let folio: u64 = tp(ctx, off!(act_folio))?;
    let pfn: u64 = tp(ctx, off!(act_pfn))?;
    let flags = folio_flags(folio);
    let list = if is_file(flags) { lru::ACTIVE_FILE } else { lru::ACTIVE_ANON };
    let a = FolioAgg { folios: 1, pages: folio_pages(folio, flags) };
    add_at(&LRU_ACTIVATE, lru_index(pfn_node(pfn), list), &a);
    Ok(())
}
