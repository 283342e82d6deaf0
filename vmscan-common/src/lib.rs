//! Plain records shared by the eBPF programs and the userspace daemon.
//!
//! Everything here is `#[repr(C)]`, `Copy`, padded explicitly and checked for
//! size, so both sides agree on the bytes without a serialisation step.
//! Kernel struct offsets are *not* here: they are resolved at start-up from
//! tracefs format files and BTF and passed in through [`Offsets`].
#![no_std]

/// Highest NUMA node id (exclusive) the per-node aggregate arrays cover.
/// A node id at or above it is counted in the `NODE_OVERFLOW` slot so that
/// nothing is silently dropped; userspace reports that slot when non-zero.
pub const MAX_NODES: u32 = 64;
/// Slot used for node ids that do not fit ([`MAX_NODES`] - 1 is the last real one).
pub const NODE_SLOTS: u32 = MAX_NODES + 1;
pub const NODE_OVERFLOW: u32 = MAX_NODES;

/// Records the synthetic storm program (`vmscan bench-ingest`) emits per
/// getppid() call of its generator.
pub const STORM_BATCH: u32 = 16;

/// Value of an [`Offsets`] field that could not be resolved on this kernel.
pub const UNRESOLVED: u32 = u32::MAX;

/// Who is reclaiming, mirroring mm/vmscan.c: reclaimer_offset() and
/// cgroup_reclaim(): /proc/vmstat's pgscan_direct excludes memcg limit reclaim
/// on kernels that count it with `if (!cgroup_reclaim(sc))`.
pub mod reclaimer {
    pub const KSWAPD: u32 = 0;
    /// try_to_free_pages (global direct reclaim, mm_vmscan_direct_reclaim_begin).
    pub const DIRECT: u32 = 1;
    /// try_to_free_mem_cgroup_pages (mm_vmscan_memcg_reclaim_begin).
    pub const MEMCG: u32 = 2;
    /// __node_reclaim (mm_vmscan_node_reclaim_begin); counted as direct by the kernel.
    pub const NODE: u32 = 3;
    /// Direct reclaim entered by khugepaged (pgscan_khugepaged).
    pub const KHUGEPAGED: u32 = 4;
    /// A pass seen outside any begin/end pair vmscan saw start (for example a
    /// reclaim that began before vmscan attached, or proactive reclaim).
    pub const OTHER: u32 = 5;
    pub const COUNT: u32 = 6;
    pub const NAMES: [&str; COUNT as usize] =
        ["kswapd", "direct", "memcg", "node", "khugepaged", "other"];
}

/// enum lru_list (include/linux/mmzone.h): the order is part of the kernel ABI
/// of the pagemap tracepoints and has not changed since 2.6.28.
pub mod lru {
    pub const INACTIVE_ANON: u32 = 0;
    pub const ACTIVE_ANON: u32 = 1;
    pub const INACTIVE_FILE: u32 = 2;
    pub const ACTIVE_FILE: u32 = 3;
    pub const UNEVICTABLE: u32 = 4;
    pub const COUNT: u32 = 5;
    pub const NAMES: [&str; COUNT as usize] = [
        "inactive_anon",
        "active_anon",
        "inactive_file",
        "active_file",
        "unevictable",
    ];
}

/// Every hook vmscan knows. The index is the slot in the per-CPU `HITS` and
/// `LOST` arrays.
pub mod hook {
    pub const KSWAPD_WAKE: u32 = 0;
    pub const KSWAPD_SLEEP: u32 = 1;
    pub const WAKEUP_KSWAPD: u32 = 2;
    pub const DIRECT_BEGIN: u32 = 3;
    pub const DIRECT_END: u32 = 4;
    pub const MEMCG_BEGIN: u32 = 5;
    pub const MEMCG_END: u32 = 6;
    pub const NODE_BEGIN: u32 = 7;
    pub const NODE_END: u32 = 8;
    pub const LRU_ISOLATE: u32 = 9;
    pub const SHRINK_INACTIVE: u32 = 10;
    pub const SHRINK_ACTIVE: u32 = 11;
    pub const WRITE_FOLIO: u32 = 12;
    pub const THROTTLED: u32 = 13;
    pub const LRU_INSERTION: u32 = 14;
    pub const LRU_ACTIVATE: u32 = 15;
    pub const MARK_ACCESSED: u32 = 16;
    pub const ADD_LRU: u32 = 17;
    pub const SHRINK_NODE: u32 = 18;
    pub const SHRINK_NODE_RET: u32 = 19;
    pub const COUNT: u32 = 20;
    /// Hit slots of the kprobe programs when they run beside fentry in
    /// comparison mode (KPROBE_SHADOW): folio_mark_accessed, folio_add_lru,
    /// shrink_node.
    pub const SHADOW_MARK_ACCESSED: u32 = 20;
    pub const SHADOW_ADD_LRU: u32 = 21;
    pub const SHADOW_SHRINK_NODE: u32 = 22;
    /// Size of the HITS and LOST arrays.
    pub const SLOTS: u32 = 23;
}

pub mod outcome {
    //! Outcome of one folio_mark_accessed call, from the folio flags it saw.
    //! The classic LRU (mm/swap.c: folio_mark_accessed) moves a folio
    //! unreferenced -> referenced -> active. Under MGLRU the call only
    //! raises the folio's reference tier (folio_inc_refs): PG_referenced,
    //! then PG_workingset, then the LRU_REFS counter; generations change at
    //! aging and eviction, never here.

    /// !PG_referenced -> PG_referenced (both LRUs).
    pub const REFERENCED: u32 = 0;
    /// Classic: PG_referenced && !PG_active -> activated.
    pub const ACTIVATED: u32 = 1;
    /// Classic: already active: no list change.
    pub const NO_EFFECT: u32 = 2;
    /// PG_unevictable: never activated (both LRUs).
    pub const UNEVICTABLE: u32 = 3;
    /// MGLRU: PG_referenced -> PG_workingset (second tier).
    pub const WORKINGSET: u32 = 4;
    /// MGLRU: both set -> the LRU_REFS counter goes up (or is saturated).
    pub const TIER_UP: u32 = 5;
    pub const COUNT: u32 = 6;
    pub const NAMES: [&str; COUNT as usize] = ["referenced", "activated", "no_effect", "unevictable", "workingset", "tier_up"];
}

/// Field offsets resolved at start-up and written into the eBPF object as the
/// `OFFSETS` global. Tracepoint fields come from tracefs format files, struct
/// fields and flag bits from /sys/kernel/btf/vmlinux. [`UNRESOLVED`] marks a
/// field that does not exist on this kernel; its hook is not attached.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offsets {
    // vmscan:mm_vmscan_kswapd_wake
    pub kswapd_wake_nid: u32,
    pub kswapd_wake_zid: u32,
    pub kswapd_wake_order: u32,
    // vmscan:mm_vmscan_kswapd_sleep
    pub kswapd_sleep_nid: u32,
    // vmscan:mm_vmscan_wakeup_kswapd
    pub wakeup_nid: u32,
    pub wakeup_zid: u32,
    pub wakeup_order: u32,
    pub wakeup_gfp: u32,
    // vmscan:mm_vmscan_{direct,memcg}_reclaim_begin (same layout)
    pub direct_begin_order: u32,
    pub direct_begin_gfp: u32,
    pub memcg_begin_order: u32,
    pub memcg_begin_gfp: u32,
    // vmscan:mm_vmscan_node_reclaim_begin
    pub node_begin_nid: u32,
    pub node_begin_order: u32,
    pub node_begin_gfp: u32,
    // vmscan:mm_vmscan_*_reclaim_end
    pub direct_end_reclaimed: u32,
    pub memcg_end_reclaimed: u32,
    pub node_end_reclaimed: u32,
    // vmscan:mm_vmscan_lru_isolate
    pub iso_requested: u32,
    pub iso_scanned: u32,
    pub iso_skipped: u32,
    pub iso_taken: u32,
    pub iso_lru: u32,
    // vmscan:mm_vmscan_lru_shrink_inactive
    pub si_nid: u32,
    pub si_scanned: u32,
    pub si_reclaimed: u32,
    pub si_dirty: u32,
    pub si_writeback: u32,
    pub si_congested: u32,
    pub si_immediate: u32,
    pub si_activate0: u32,
    pub si_activate1: u32,
    pub si_ref_keep: u32,
    pub si_unmap_fail: u32,
    pub si_priority: u32,
    pub si_flags: u32,
    // vmscan:mm_vmscan_lru_shrink_active
    pub sa_nid: u32,
    pub sa_taken: u32,
    pub sa_active: u32,
    pub sa_deactivated: u32,
    pub sa_referenced: u32,
    pub sa_priority: u32,
    pub sa_flags: u32,
    // vmscan:mm_vmscan_write_folio
    pub wf_pfn: u32,
    pub wf_flags: u32,
    // vmscan:mm_vmscan_throttled
    pub thr_nid: u32,
    pub thr_timeout: u32,
    pub thr_delayed: u32,
    pub thr_reason: u32,
    // pagemap:mm_lru_insertion
    pub ins_folio: u32,
    pub ins_pfn: u32,
    pub ins_lru: u32,
    // pagemap:mm_lru_activate
    pub act_folio: u32,
    pub act_pfn: u32,
    // BTF: struct folio / struct task_struct / struct pglist_data / scan_control
    pub folio_flags: u32,
    /// folio->_nr_pages (6.x: in the second page's union); UNRESOLVED falls back
    /// to `folio_flags_1` (the order in its low byte).
    pub folio_nr_pages: u32,
    pub folio_flags_1: u32,
    pub folio_memcg_data: u32,
    pub task_flags: u32,
    pub pgdat_node_id: u32,
    pub sc_nr_reclaimed: u32,
    // BTF: enum pageflags bit numbers
    pub pg_referenced: u32,
    pub pg_active: u32,
    pub pg_lru: u32,
    pub pg_unevictable: u32,
    pub pg_head: u32,
    pub pg_swapbacked: u32,
    /// MGLRU's second reference tier (folio_inc_refs).
    pub pg_workingset: u32,
    // BTF: the memory cgroup of a task or folio, as its cgroup's kernfs id
    // (the cgroup directory's inode number):
    // task->cgroups->subsys[memory_cgrp_id]->cgroup->kn->id and
    // ((struct mem_cgroup *)(folio->memcg_data & ~mask))->css.cgroup->kn->id
    pub task_cgroups: u32,
    pub css_set_subsys: u32,
    pub memory_cgrp_id: u32,
    pub css_cgroup: u32,
    pub cgroup_kn: u32,
    pub kn_id: u32,
    pub memcg_css: u32,
    /// (1 << number of MEMCG_DATA_* flag bits) - 1, from enum page_memcg_data_flags.
    pub memcg_data_mask: u32,
    /// Number of entries used in `node_start_pfn` (1 on a single-node machine).
    pub nr_nodes: u32,
    pub _pad0: u32,
    /// First pfn of each node, ascending, from /proc/zoneinfo: a pfn belongs to
    /// the last node whose start is <= pfn (pagemap events carry only a pfn).
    pub node_start_pfn: [u64; 16],
    pub node_id: [u32; 16],
}

impl Offsets {
    pub const fn unresolved() -> Self {
        Self {
            kswapd_wake_nid: UNRESOLVED,
            kswapd_wake_zid: UNRESOLVED,
            kswapd_wake_order: UNRESOLVED,
            kswapd_sleep_nid: UNRESOLVED,
            wakeup_nid: UNRESOLVED,
            wakeup_zid: UNRESOLVED,
            wakeup_order: UNRESOLVED,
            wakeup_gfp: UNRESOLVED,
            direct_begin_order: UNRESOLVED,
            direct_begin_gfp: UNRESOLVED,
            memcg_begin_order: UNRESOLVED,
            memcg_begin_gfp: UNRESOLVED,
            node_begin_nid: UNRESOLVED,
            node_begin_order: UNRESOLVED,
            node_begin_gfp: UNRESOLVED,
            direct_end_reclaimed: UNRESOLVED,
            memcg_end_reclaimed: UNRESOLVED,
            node_end_reclaimed: UNRESOLVED,
            iso_requested: UNRESOLVED,
            iso_scanned: UNRESOLVED,
            iso_skipped: UNRESOLVED,
            iso_taken: UNRESOLVED,
            iso_lru: UNRESOLVED,
            si_nid: UNRESOLVED,
            si_scanned: UNRESOLVED,
            si_reclaimed: UNRESOLVED,
            si_dirty: UNRESOLVED,
            si_writeback: UNRESOLVED,
            si_congested: UNRESOLVED,
            si_immediate: UNRESOLVED,
            si_activate0: UNRESOLVED,
            si_activate1: UNRESOLVED,
            si_ref_keep: UNRESOLVED,
            si_unmap_fail: UNRESOLVED,
            si_priority: UNRESOLVED,
            si_flags: UNRESOLVED,
            sa_nid: UNRESOLVED,
            sa_taken: UNRESOLVED,
            sa_active: UNRESOLVED,
            sa_deactivated: UNRESOLVED,
            sa_referenced: UNRESOLVED,
            sa_priority: UNRESOLVED,
            sa_flags: UNRESOLVED,
            wf_pfn: UNRESOLVED,
            wf_flags: UNRESOLVED,
            thr_nid: UNRESOLVED,
            thr_timeout: UNRESOLVED,
            thr_delayed: UNRESOLVED,
            thr_reason: UNRESOLVED,
            ins_folio: UNRESOLVED,
            ins_pfn: UNRESOLVED,
            ins_lru: UNRESOLVED,
            act_folio: UNRESOLVED,
            act_pfn: UNRESOLVED,
            folio_flags: UNRESOLVED,
            folio_nr_pages: UNRESOLVED,
            folio_flags_1: UNRESOLVED,
            folio_memcg_data: UNRESOLVED,
            task_flags: UNRESOLVED,
            pgdat_node_id: UNRESOLVED,
            sc_nr_reclaimed: UNRESOLVED,
            pg_referenced: UNRESOLVED,
            pg_active: UNRESOLVED,
            pg_lru: UNRESOLVED,
            pg_unevictable: UNRESOLVED,
            pg_head: UNRESOLVED,
            pg_swapbacked: UNRESOLVED,
            pg_workingset: UNRESOLVED,
            task_cgroups: UNRESOLVED,
            css_set_subsys: UNRESOLVED,
            memory_cgrp_id: UNRESOLVED,
            css_cgroup: UNRESOLVED,
            cgroup_kn: UNRESOLVED,
            kn_id: UNRESOLVED,
            memcg_css: UNRESOLVED,
            memcg_data_mask: UNRESOLVED,
            nr_nodes: 1,
            _pad0: 0,
            node_start_pfn: [0; 16],
            node_id: [0; 16],
        }
    }
}

/// PF_* task flags (include/linux/sched.h). These are constants of the kernel
/// ABI rather than struct layout, unchanged for these values since 2.6.
pub const PF_EXITING: u32 = 0x0000_0004;
pub const PF_KSWAPD: u32 = 0x0002_0000;

/// Per-(reclaimer, lru) isolation totals from mm_vmscan_lru_isolate.
/// Index: `reclaimer * lru::COUNT + lru`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IsolateAgg {
    pub events: u64,
    pub requested: u64,
    pub scanned: u64,
    pub skipped: u64,
    pub taken: u64,
}
pub const ISOLATE_SLOTS: u32 = reclaimer::COUNT * lru::COUNT;

/// Per-(node, reclaimer, file) totals from mm_vmscan_lru_shrink_inactive.
/// Index: [`shrink_index`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShrinkInactiveAgg {
    pub passes: u64,
    pub scanned: u64,
    pub reclaimed: u64,
    pub dirty: u64,
    pub writeback: u64,
    pub congested: u64,
    pub immediate: u64,
    pub activate_anon: u64,
    pub activate_file: u64,
    pub ref_keep: u64,
    pub unmap_fail: u64,
    /// Passes per scan priority (DEF_PRIORITY is 12; 13..15 unused).
    pub priority: [u64; 16],
}

/// Per-(node, reclaimer, file) totals from mm_vmscan_lru_shrink_active.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShrinkActiveAgg {
    pub passes: u64,
    pub taken: u64,
    pub active: u64,
    pub deactivated: u64,
    pub referenced: u64,
}

pub const SHRINK_SLOTS: u32 = NODE_SLOTS * reclaimer::COUNT * 2;
#[inline(always)]
pub const fn shrink_index(node: u32, reclaimer: u32, file: u32) -> u32 {
    (node * reclaimer::COUNT + reclaimer) * 2 + file
}

/// Folios (events) and pages entering an LRU list (mm_lru_insertion) or
/// activated (mm_lru_activate). Index: `node * LRU_SLOTS_PER_NODE + lru`;
/// activation uses lru = the list it moves to (active_anon / active_file).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FolioAgg {
    pub folios: u64,
    pub pages: u64,
}
pub const LRU_SLOTS: u32 = NODE_SLOTS * lru::COUNT;

/// Reclaim-driven writeback (mm_vmscan_write_folio): folios, by reclaimer and
/// anon(0)/file(1). The classic tracepoint carries only the pfn.
pub const WRITE_SLOTS: u32 = reclaimer::COUNT * 2;

/// Key of the per-memory-cgroup LRU insertion aggregate (a per-CPU hash).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemcgLruKey {
    /// kernfs id of the folio's memory cgroup (0: not charged / unknown).
    pub cgroup_id: u64,
    pub node: u32,
    pub lru: u32,
}
pub const MEMCG_LRU_ENTRIES: u32 = 16384;

/// mm_vmscan_throttled per (node, reason bit).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThrottleAgg {
    pub events: u64,
    pub usec_timeout: u64,
    pub usec_delayed: u64,
}
pub const THROTTLE_REASONS: u32 = 8;
pub const THROTTLE_SLOTS: u32 = NODE_SLOTS * THROTTLE_REASONS;

/// Key of the folio_mark_accessed aggregate (a per-CPU hash).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccessKey {
    pub stack_id: i32,
    pub node: u32,
    pub outcome: u32,
    /// 1 when the folio is on a file LRU (!PG_swapbacked).
    pub file: u32,
    /// 1 when the calling task had PF_EXITING.
    pub exiting: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccessAgg {
    pub calls: u64,
    pub pages: u64,
}

/// Log2 histogram buckets: bucket i counts values v with 2^(i-1) <= v < 2^i
/// (bucket 0 counts v == 0).
pub const HIST_BUCKETS: u32 = 32;
pub mod hist {
    /// shrink_node pass length in microseconds, per node.
    pub const SHRINK_NODE_US: u32 = 0;
    /// folio_add_lru -> LRU insertion residency in microseconds, per node.
    pub const BATCH_RESIDENCY_US: u32 = 1;
    pub const COUNT: u32 = 2;
}
pub const HIST_SLOTS: u32 = hist::COUNT * NODE_SLOTS * HIST_BUCKETS;
#[inline(always)]
pub const fn log2_bucket(v: u64) -> u32 {
    let b = 64 - v.leading_zeros();
    if b >= HIST_BUCKETS { HIST_BUCKETS - 1 } else { b }
}

/// Kinds of [`Event`] records sent through the ring buffer.
pub mod event {
    pub const KSWAPD_WAKE: u32 = 1;
    pub const KSWAPD_SLEEP: u32 = 2;
    pub const WAKEUP_KSWAPD: u32 = 3;
    /// A direct / memcg / node reclaim episode ended: `start_ns`..`end_ns`.
    pub const RECLAIM_END: u32 = 4;
    pub const SHRINK_INACTIVE: u32 = 5;
    pub const SHRINK_NODE: u32 = 6;
    pub const THROTTLED: u32 = 7;
}

/// One episode record (ring buffer). Fields not used by a kind are zero.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event {
    pub kind: u32,
    /// Reclaimer kind (reclaimer::*), for reclaim and shrink records.
    pub reclaimer: u32,
    pub ts_ns: u64,
    pub start_ns: u64,
    pub pid: u32,
    pub nid: i32,
    pub zid: i32,
    pub order: i32,
    pub gfp: u64,
    /// Pages reclaimed (episode end / shrink pass).
    pub reclaimed: u64,
    pub scanned: u64,
    pub priority: i32,
    pub flags: u32,
    pub comm: [u8; 16],
    /// Memory cgroup (kernfs id = cgroup directory inode) of the task, for
    /// reclaim episodes and kswapd wake-ups; 0 when unknown.
    pub cgroup_id: u64,
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    // SAFETY: every type below is #[repr(C)], made only of integers and
    // integer arrays, with explicit padding, so any byte pattern is valid.
    unsafe impl aya::Pod for Offsets {}
    // SAFETY: as above.
    unsafe impl aya::Pod for IsolateAgg {}
    // SAFETY: as above.
    unsafe impl aya::Pod for ShrinkInactiveAgg {}
    // SAFETY: as above.
    unsafe impl aya::Pod for ShrinkActiveAgg {}
    // SAFETY: as above.
    unsafe impl aya::Pod for FolioAgg {}
    // SAFETY: as above.
    unsafe impl aya::Pod for ThrottleAgg {}
    // SAFETY: as above.
    unsafe impl aya::Pod for AccessKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for AccessAgg {}
    // SAFETY: as above.
    unsafe impl aya::Pod for Event {}
    // SAFETY: as above.
    unsafe impl aya::Pod for MemcgLruKey {}
}

const _: () = assert!(core::mem::size_of::<Offsets>() == 78 * 4 + 16 * 8 + 16 * 4);
const _: () = assert!(core::mem::size_of::<IsolateAgg>() == 40);
const _: () = assert!(core::mem::size_of::<ShrinkInactiveAgg>() == 11 * 8 + 16 * 8);
const _: () = assert!(core::mem::size_of::<ShrinkActiveAgg>() == 40);
const _: () = assert!(core::mem::size_of::<FolioAgg>() == 16);
const _: () = assert!(core::mem::size_of::<ThrottleAgg>() == 24);
const _: () = assert!(core::mem::size_of::<AccessKey>() == 24);
const _: () = assert!(core::mem::size_of::<AccessAgg>() == 16);
const _: () = assert!(core::mem::size_of::<MemcgLruKey>() == 16);
const _: () = assert!(core::mem::size_of::<Event>() == 96);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_buckets_have_the_documented_edges() {
        assert_eq!(log2_bucket(0), 0);
        assert_eq!(log2_bucket(1), 1);
        assert_eq!(log2_bucket(2), 2);
        assert_eq!(log2_bucket(3), 2);
        assert_eq!(log2_bucket(4), 3);
        assert_eq!(log2_bucket(u64::MAX), HIST_BUCKETS - 1);
    }

    #[test]
    fn shrink_index_is_dense_and_in_bounds() {
        assert_eq!(shrink_index(0, 0, 0), 0);
        assert_eq!(shrink_index(0, 0, 1), 1);
        assert_eq!(shrink_index(0, 1, 0), 2);
        assert_eq!(shrink_index(NODE_OVERFLOW, reclaimer::COUNT - 1, 1), SHRINK_SLOTS - 1);
    }
}
