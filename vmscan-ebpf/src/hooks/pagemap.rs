//! pagemap:mm_lru_insertion and mm_lru_activate: folios entering a list, per
//! node, list and memory cgroup; the per-CPU batch residency they end.

use core::ffi::c_void;

use aya_ebpf::maps::PerCpuArray;
use vmscan_common::{
    DERIVED, FolioAgg, MemcgLruKey, RUNTIME_BATCH, hist, hist_index, hook, log2_bucket, lru,
    lru_index, memcg_move,
};

use super::deactivate::memcg_moved;

use crate::{
    emit::now_ns,
    globals::{MEMCG_INSERTIONS, enabled},
    kernel::{
        Tp, bit, btf_arg0_folio_flags, btf_arg0_scalar, folio_flags, folio_memcg_id, folio_node,
        folio_pages, is_file, pfn_node,
    },
    maps::{
        HIST, LRU_ACTIVATE, LRU_INSERT, LRU_INSERT_MEMCG, add_at, add_keyed, batch_ring, bump,
        runtime,
    },
};

tracepoint!(
    pagemap_lru_insertion,
    hook::LRU_INSERTION,
    try_lru_insertion,
    fast = btf_lru_insertion
);

/// tp_btf: a small folio counted from its flags alone where nothing else is
/// wanted (stat: no per-memcg insertions, no batch residency): no helper
/// call on a one-node machine, one (the folio's address) on others.
#[inline(always)]
fn btf_lru_insertion(ctx: *mut c_void) -> bool {
    if arg_place!(ins_lru) != DERIVED || enabled(&MEMCG_INSERTIONS) || runtime(RUNTIME_BATCH) {
        return false;
    }
    btf_small_folio(
        &LRU_INSERT,
        ctx,
        arg_place!(ins_folio),
        arg_place!(ins_pfn),
        folio_lru_list,
    )
}

/// tp_btf: counts one small folio, the tracepoint's argument 0 (its place
/// `folio_place`), on the list `list_of` its flags, on its node; false
/// where the tracepoint carries the pfn (not derived from the folio), for a
/// large folio (its size is behind the pointer: the general path reads it)
/// or an unknown list.
#[inline(always)]
fn btf_small_folio(
    map: &PerCpuArray<FolioAgg>,
    ctx: *mut c_void,
    folio_place: u32,
    pfn_place: u32,
    list_of: fn(u64) -> u32,
) -> bool {
    if pfn_place != DERIVED {
        return false;
    }
    let Some(flags) = btf_arg0_folio_flags(ctx, folio_place) else {
        return false;
    };
    let list = list_of(flags);
    if bit(flags, off!(pg_head)) || list >= lru::COUNT {
        return false;
    }
    let node = if off!(nr_nodes) <= 1 {
        pfn_node(0)
    } else {
        folio_node(btf_arg0_scalar(ctx))
    };
    let a = FolioAgg {
        folios: 1,
        pages: 1,
    };
    add_at(map, lru_index(node, list), &a);
    true
}

#[inline(always)]
fn try_lru_insertion(ctx: &Tp) -> Result<(), i64> {
    let folio: u64 = field!(ctx, ins_folio)?;
    let flags = folio_flags(folio);
    let lru_id: u32 = if derived!(ctx, ins_lru) {
        folio_lru_list(flags)
    } else {
        field!(ctx, ins_lru)?
    };
    if lru_id >= lru::COUNT {
        aya_log_ebpf::warn!(ctx, "mm_lru_insertion: lru {} is not a known list", lru_id);
        return Err(-1);
    }
    let node = if derived!(ctx, ins_pfn) {
        folio_node(folio)
    } else {
        pfn_node(field!(ctx, ins_pfn)?)
    };
    let a = FolioAgg {
        folios: 1,
        pages: folio_pages(folio, flags),
    };
    add_at(&LRU_INSERT, lru_index(node, lru_id), &a);
    if enabled(&MEMCG_INSERTIONS) {
        let key = MemcgLruKey {
            cgroup_id: folio_memcg_id(folio),
            node,
            lru: lru_id,
        };
        add_keyed(&LRU_INSERT_MEMCG, &key, &a, hook::LRU_INSERTION);
    }
    if runtime(RUNTIME_BATCH) {
        batch_residency(folio, node);
    }
    Ok(())
}

/// folio_lru_list(): the list a folio goes on, from its flags, as
/// mm_lru_insertion's TP_fast_assign works it out for the record.
#[inline(always)]
fn folio_lru_list(flags: u64) -> u32 {
    if bit(flags, off!(pg_unevictable)) {
        return lru::UNEVICTABLE;
    }
    let base = if is_file(flags) {
        lru::INACTIVE_FILE
    } else {
        lru::INACTIVE_ANON
    };
    if bit(flags, off!(pg_active)) {
        base + lru::ACTIVE_ANON - lru::INACTIVE_ANON
    } else {
        base
    }
}

/// Per-CPU batch residency, when folio_add_lru is hooked (fentry/kprobe):
/// the folio's entry in this CPU's [`crate::maps::BatchRing`], searched from
/// the oldest.
#[inline(always)]
fn batch_residency(folio: u64, node: u32) {
    if let Some(start) = batch_ring().and_then(|r| r.take(folio)) {
        let us = now_ns().saturating_sub(start) / 1000;
        bump(
            &HIST,
            hist_index(hist::BATCH_RESIDENCY_US, node, log2_bucket(us)),
            1,
        );
    }
}

tracepoint!(
    pagemap_lru_activate,
    hook::LRU_ACTIVATE,
    try_lru_activate,
    fast = btf_lru_activate
);

/// tp_btf: as [`btf_lru_insertion`] (where activations are not keyed by
/// memcg).
#[inline(always)]
fn btf_lru_activate(ctx: *mut c_void) -> bool {
    if enabled(&MEMCG_INSERTIONS) {
        return false;
    }
    btf_small_folio(
        &LRU_ACTIVATE,
        ctx,
        arg_place!(act_folio),
        arg_place!(act_pfn),
        active_list,
    )
}

/// The active list of a folio's type.
#[inline(always)]
fn active_list(flags: u64) -> u32 {
    if is_file(flags) {
        lru::ACTIVE_FILE
    } else {
        lru::ACTIVE_ANON
    }
}
#[inline(always)]
fn try_lru_activate(ctx: &Tp) -> Result<(), i64> {
    let folio: u64 = field!(ctx, act_folio)?;
    let flags = folio_flags(folio);
    let node = if derived!(ctx, act_pfn) {
        folio_node(folio)
    } else {
        pfn_node(field!(ctx, act_pfn)?)
    };
    let list = active_list(flags);
    let a = FolioAgg {
        folios: 1,
        pages: folio_pages(folio, flags),
    };
    add_at(&LRU_ACTIVATE, lru_index(node, list), &a);
    // The folio's memcg's pgactivate (lru_activate counts it against the
    // lruvec's memcg, the folio's).
    memcg_moved(
        folio,
        node,
        memcg_move::activated(u32::from(is_file(flags))),
        a.pages,
        hook::LRU_ACTIVATE,
    );
    Ok(())
}
