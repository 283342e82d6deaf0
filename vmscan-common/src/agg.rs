//! The per-CPU aggregates: each record declared once with [`aggregate!`],
//! which yields the `#[repr(C)]` struct and its field-wise arithmetic
//! ([`Agg`]); the slot count and index helper of every map sit beside it,
//! so the eBPF programs and userspace compute the same slots.

use crate::{
    MAX_NODES,
    ids::{hist, lru, reclaimer},
};

/// Slot used for node ids that do not fit ([`MAX_NODES`] - 1 is the last real one).
pub const NODE_SLOTS: u32 = MAX_NODES + 1;
pub const NODE_OVERFLOW: u32 = MAX_NODES;

/// One counter field of an aggregate: a u64 or an array of them.
pub trait Field: Copy {
    fn add(&mut self, o: &Self);
    /// `self - o`, clamped at 0 (counters only grow).
    fn since(&self, o: &Self) -> Self;
}

impl Field for u64 {
    #[inline(always)]
    fn add(&mut self, o: &Self) {
        *self += *o;
    }
    #[inline(always)]
    fn since(&self, o: &Self) -> Self {
        self.saturating_sub(*o)
    }
}

impl<const N: usize> Field for [u64; N] {
    fn add(&mut self, o: &Self) {
        for (x, y) in self.iter_mut().zip(o.iter()) {
            *x += *y;
        }
    }
    fn since(&self, o: &Self) -> Self {
        let mut d = [0u64; N];
        for (i, v) in d.iter_mut().enumerate() {
            *v = self[i].saturating_sub(o[i]);
        }
        d
    }
}

/// A record summed over CPUs and differenced between readings.
pub trait Agg: Field + Default + PartialEq {}
impl<T: Field + Default + PartialEq> Agg for T {}

/// Declares an aggregate record: a `#[repr(C)]` struct of u64 counters (or
/// u64 arrays) with [`Field`] implemented field by field. Adding a field is
/// one line here; its size assertion is beside the declaration.
#[macro_export]
macro_rules! aggregate {
    ($(#[$m:meta])* pub struct $name:ident { $( $(#[$fm:meta])* pub $f:ident : $t:ty, )* }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name { $( $(#[$fm])* pub $f: $t, )* }
        impl $crate::agg::Field for $name {
            #[inline(always)]
            fn add(&mut self, o: &Self) {
                $( $crate::agg::Field::add(&mut self.$f, &o.$f); )*
            }
            fn since(&self, o: &Self) -> Self {
                Self { $( $f: $crate::agg::Field::since(&self.$f, &o.$f), )* }
            }
        }
    };
}

aggregate! {
    /// Per-(reclaimer, lru) isolation totals from mm_vmscan_lru_isolate.
    /// Index: [`isolate_index`].
    pub struct IsolateAgg {
        pub events: u64,
        pub requested: u64,
        pub scanned: u64,
        pub skipped: u64,
        pub taken: u64,
    }
}
pub const ISOLATE_SLOTS: u32 = reclaimer::COUNT * lru::COUNT;
#[inline(always)]
pub const fn isolate_index(reclaimer: u32, lru: u32) -> u32 {
    reclaimer * lru::COUNT + lru
}

/// Scan priorities counted per pass: DEF_PRIORITY (12) down to 0; 13..15 unused.
pub const PRIORITY_SLOTS: usize = 16;

aggregate! {
    /// Per-(node, reclaimer, file) totals from mm_vmscan_lru_shrink_inactive.
    /// Index: [`shrink_index`].
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
        /// Passes per scan priority.
        pub priority: [u64; PRIORITY_SLOTS],
    }
}

aggregate! {
    /// Per-(node, reclaimer, file) totals from mm_vmscan_lru_shrink_active.
    pub struct ShrinkActiveAgg {
        pub passes: u64,
        pub taken: u64,
        pub active: u64,
        pub deactivated: u64,
        pub referenced: u64,
    }
}

pub const SHRINK_SLOTS: u32 = NODE_SLOTS * reclaimer::COUNT * 2;
/// Reclaimer-major, so that a new reclaimer adds slots at the end (the
/// recording format's version 1 was node-major with six reclaimers).
#[inline(always)]
pub const fn shrink_index(node: u32, reclaimer: u32, file: u32) -> u32 {
    (reclaimer * NODE_SLOTS + node) * 2 + file
}

aggregate! {
    /// Folios (events) and pages entering an LRU list (mm_lru_insertion) or
    /// activated (mm_lru_activate). Index: [`lru_index`]; activation uses
    /// lru = the list it moves to (active_anon / active_file).
    pub struct FolioAgg {
        pub folios: u64,
        pub pages: u64,
    }
}
pub const LRU_SLOTS: u32 = NODE_SLOTS * lru::COUNT;
#[inline(always)]
pub const fn lru_index(node: u32, lru: u32) -> u32 {
    node * lru::COUNT + lru
}

/// Pages compaction's migrate scanner isolated (COMPACT_ISOLATED): by
/// [`lru_index`] the LRU pages by the list they left, then one slot a node
/// ([`compact_not_lru_index`]) for the pages on its list that were on no
/// LRU list (non-LRU movable pages, hugetlb folios).
pub const COMPACT_SLOTS: u32 = LRU_SLOTS + NODE_SLOTS;
#[inline(always)]
pub const fn compact_not_lru_index(node: u32) -> u32 {
    LRU_SLOTS + node
}

/// Pages the mlock batch moved (MLOCK_MOVED): the lists they entered
/// (`out` 0), then the lists they left (`out` 1), each by [`lru_index`].
pub const MLOCK_SLOTS: u32 = 2 * LRU_SLOTS;
#[inline(always)]
pub const fn mlock_index(node: u32, lru: u32, out: bool) -> u32 {
    (out as u32) * LRU_SLOTS + lru_index(node, lru)
}

/// Reclaim-driven writeback (mm_vmscan_write_folio): folios, by reclaimer and
/// anon(0)/file(1). The classic tracepoint carries only the pfn.
pub const WRITE_SLOTS: u32 = reclaimer::COUNT * 2;
#[inline(always)]
pub const fn write_index(reclaimer: u32, file: u32) -> u32 {
    reclaimer * 2 + file
}

aggregate! {
    /// mm_vmscan_throttled per (node, reason bit). Index: [`throttle_index`].
    pub struct ThrottleAgg {
        pub events: u64,
        pub usec_timeout: u64,
        pub usec_delayed: u64,
    }
}
pub const THROTTLE_REASONS: u32 = 8;
pub const THROTTLE_SLOTS: u32 = NODE_SLOTS * THROTTLE_REASONS;
#[inline(always)]
pub const fn throttle_index(node: u32, reason: u32) -> u32 {
    node * THROTTLE_REASONS + reason
}

aggregate! {
    /// reclaim_pages() per node (mm_vmscan_reclaim_pages): folios isolated
    /// outside a reclaim pass (MADV_PAGEOUT, MADV_COLD's pageout, DAMON's
    /// pageout) and put through shrink_folio_list(). The kernel counts its
    /// activations in pgactivate, but not its pages in pgscan/pgsteal.
    pub struct ReclaimPagesAgg {
        pub events: u64,
        pub scanned: u64,
        pub reclaimed: u64,
        pub activate_anon: u64,
        pub activate_file: u64,
    }
}
/// Index: the node.
pub const RECLAIM_PAGES_SLOTS: u32 = NODE_SLOTS;

/// Pages demoted to a slower memory tier (mm_migrate_pages, MR_DEMOTION),
/// by the reclaimer the kernel's reclaimer_offset() names: index
/// reclaimer::KSWAPD, KHUGEPAGED, PROACTIVE or DIRECT (everything else,
/// memory-cgroup reclaim included: pgdemote_* leave no reclaim out).
pub const DEMOTE_SLOTS: u32 = crate::ids::reclaimer::COUNT;

/// Pages MADV_FREE moved to the inactive file list (pglazyfree), by node
/// and the anonymous list they left: index [`lazyfree_index`].
pub const LAZYFREE_SLOTS: u32 = NODE_SLOTS * 2;
/// The LAZYFREE slot of pages on `node` that left the active anon list
/// (`active` 1) or the inactive one (0).
#[inline(always)]
pub const fn lazyfree_index(node: u32, active: u32) -> u32 {
    node * 2 + active
}

/// Pages deactivated outside reclaim (pgdeactivate's other sources than
/// shrink_active_list), by batch ([`deactivate::COLD`] or
/// [`deactivate::FILE`]), node and type: index [`deactivate_index`].
pub const DEACTIVATE_SLOTS: u32 = 2 * NODE_SLOTS * 2;
/// The DEACTIVATE slot of `batch`'s pages on `node` of type `file` (1: the
/// file LRU): each moved from its type's active list to the inactive one.
#[inline(always)]
pub const fn deactivate_index(batch: u32, node: u32, file: u32) -> u32 {
    (batch * NODE_SLOTS + node) * 2 + file
}

/// The batches of the DEACTIVATE aggregate.
pub mod deactivate {
    /// lru_deactivate: MADV_COLD, DAMON's deprioritising.
    pub const COLD: u32 = 0;
    /// lru_deactivate_file: page cache that invalidation could not drop.
    pub const FILE: u32 = 1;
}

aggregate! {
    /// Reclaim episodes (begin..end pairs) that ended, per reclaimer: what
    /// `vmscan stat` shows of them, counted in the kernel so that stat takes
    /// no ring-buffer record per episode (the others still do: their views
    /// name each episode's memory cgroup and task).
    pub struct EpisodeAgg {
        pub episodes: u64,
        /// nr_reclaimed of the end tracepoints, summed.
        pub reclaimed: u64,
        /// Latency (end - begin) in microseconds, summed.
        pub latency_sum_us: u64,
        /// Latency in microseconds, by log2_bucket().
        pub latency_us: [u64; HIST_BUCKETS as usize],
    }
}
/// Index: the episode's reclaimer (vmscan_common::reclaimer).
pub const EPISODE_SLOTS: u32 = crate::ids::reclaimer::COUNT;

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

/// Key of the per-memory-cgroup aggregate of the LRU moves outside reclaim
/// that fire no tracepoint (the DEACTIVATE and LAZYFREE batches), a
/// per-CPU hash of pages: the folio's memory cgroup, node and move
/// ([`memcg_move`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemcgMoveKey {
    /// kernfs id of the folio's memory cgroup (0: not charged / unknown).
    pub cgroup_id: u64,
    pub node: u32,
    pub kind: u32,
}
/// Batch moves have six kinds to the insertions' five lists; only the two
/// activations are about as common as insertions (the deactivations and
/// lazyfree are rare): half the insertion map's keys.
pub const MEMCG_MOVE_ENTRIES: u32 = MEMCG_LRU_ENTRIES / 2;

/// Reclaim per lruvec keys [`MemcgMoveKey`] too (LRU_RECLAIM_MEMCG, kinds
/// [`memcg_reclaim`]): ten kinds a lruvec, a quarter of the insertion
/// map's keys (only lruvecs reclaim shrinks have any).
pub const MEMCG_RECLAIM_ENTRIES: u32 = MEMCG_LRU_ENTRIES / 4;

/// What reclaim did to one lruvec (LRU_RECLAIM_MEMCG, keyed by
/// [`MemcgMoveKey`]), by type: the pages its isolations counted as scanned
/// from an inactive list (pgscan: the classic LRU's nr_scanned, MGLRU's
/// isolated folios' pages), those its shrink passes reclaimed (pgsteal),
/// and on the classic LRU those its active-list isolations scanned
/// (pgrefill) and its active-list shrinks deactivated (pgdeactivate's part
/// in reclaim), and the pages its shrink passes activated (pgactivate's
/// part in reclaim: shrink_folio_list's PGACTIVATE, the passes'
/// nr_activate). A memory cgroup's counters in memory.stat are its
/// lruvecs'.
pub mod memcg_reclaim {
    pub const SCANNED_ANON: u32 = 0;
    pub const SCANNED_FILE: u32 = 1;
    pub const RECLAIMED_ANON: u32 = 2;
    pub const RECLAIMED_FILE: u32 = 3;
    pub const REFILLED_ANON: u32 = 4;
    pub const REFILLED_FILE: u32 = 5;
    pub const DEACTIVATED_ANON: u32 = 6;
    pub const DEACTIVATED_FILE: u32 = 7;
    pub const ACTIVATED_ANON: u32 = 8;
    pub const ACTIVATED_FILE: u32 = 9;
    pub const COUNT: u32 = 10;
    /// Pages a shrink pass of the inactive list of type `file` activated.
    #[inline(always)]
    pub const fn activated(file: u32) -> u32 {
        ACTIVATED_ANON + file
    }
    /// Pages scanned from the active list of type `file` (1: file LRU).
    #[inline(always)]
    pub const fn refilled(file: u32) -> u32 {
        REFILLED_ANON + file
    }
    /// Pages the active list of type `file` lost to its inactive one.
    #[inline(always)]
    pub const fn deactivated(file: u32) -> u32 {
        DEACTIVATED_ANON + file
    }
    /// Pages scanned from the inactive list of type `file` (1: file LRU).
    #[inline(always)]
    pub const fn scanned(file: u32) -> u32 {
        SCANNED_ANON + file
    }
    /// Pages reclaimed from the inactive list of type `file`.
    #[inline(always)]
    pub const fn reclaimed(file: u32) -> u32 {
        RECLAIMED_ANON + file
    }
}

/// The moves of [`MemcgMoveKey`]: from one list to another.
pub mod memcg_move {
    /// lru_deactivate / lru_deactivate_file: active anon -> inactive anon.
    pub const DEACTIVATED_ANON: u32 = 0;
    /// lru_deactivate / lru_deactivate_file: active file -> inactive file.
    pub const DEACTIVATED_FILE: u32 = 1;
    /// lru_lazyfree: inactive anon -> inactive file.
    pub const LAZYFREE_FROM_INACTIVE: u32 = 2;
    /// lru_lazyfree: active anon -> inactive file.
    pub const LAZYFREE_FROM_ACTIVE: u32 = 3;
    /// lru_activate (folio_activate's batch, mm_lru_activate): inactive
    /// anon -> active anon.
    pub const ACTIVATED_ANON: u32 = 4;
    /// lru_activate: inactive file -> active file.
    pub const ACTIVATED_FILE: u32 = 5;
    pub const COUNT: u32 = 6;
    /// The list each move leaves and the one it joins (crate::ids::lru).
    pub const LISTS: [(u32, u32); COUNT as usize] = {
        use crate::ids::lru::*;
        [
            (ACTIVE_ANON, INACTIVE_ANON),
            (ACTIVE_FILE, INACTIVE_FILE),
            (INACTIVE_ANON, INACTIVE_FILE),
            (ACTIVE_ANON, INACTIVE_FILE),
            (INACTIVE_ANON, ACTIVE_ANON),
            (INACTIVE_FILE, ACTIVE_FILE),
        ]
    };
    /// Whether `kind` is a lazyfree move.
    #[inline(always)]
    pub const fn is_lazyfree(kind: u32) -> bool {
        kind == LAZYFREE_FROM_INACTIVE || kind == LAZYFREE_FROM_ACTIVE
    }
    /// The activation of a folio of type `file` (1: file LRU).
    #[inline(always)]
    pub const fn activated(file: u32) -> u32 {
        ACTIVATED_ANON + file
    }
    /// The deactivation of a folio of type `file` (1: file LRU).
    #[inline(always)]
    pub const fn deactivated(file: u32) -> u32 {
        DEACTIVATED_ANON + file
    }
    /// The lazyfree of a folio that was on the active anon list (`active`
    /// 1) or the inactive one (0).
    #[inline(always)]
    pub const fn lazyfree(active: u32) -> u32 {
        LAZYFREE_FROM_INACTIVE + active
    }
}

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
    /// Whether the caller was inside exit_mmap ([`crate::teardown`]; 0,
    /// unknown, in recordings made before the tag).
    pub teardown: u32,
}
/// Entries of the folio_mark_accessed aggregate.
pub const ACCESS_ENTRIES: u32 = 16384;
/// Kernel stacks kept for folio_mark_accessed (the STACKS map).
pub const STACK_ENTRIES: u32 = 16384;
/// A stack whose hash bucket in STACKS holds another stack (the kernel
/// refuses it, -EEXIST) goes to STACKS_SPILL, whose ids are reported
/// offset by [`STACK_ENTRIES`]: a collision no longer loses a stack.
pub const STACK_SPILL_ENTRIES: u32 = 1024;

/// Entries the per-task LRU hashes (keyed by pid) are built with; the
/// loader adds [`task_map_reserve`] for the machine (see [`TASK_MAPS`]).
pub const TASK_ENTRIES: u32 = 4096;
/// RECLAIM_CTX's, whose entries stay between a task's episodes.
pub const RECLAIM_CTX_ENTRIES: u32 = 16384;
/// Free entries the kernel's common BPF LRU parks on each CPU at most
/// (kernel/bpf/bpf_lru_list.c: LOCAL_FREE_TARGET; from 6.16 a per-map
/// target_free clamped to 1..=128). A CPU that finds its own list empty
/// takes that many from the global free list, and evicts live entries to
/// make them up when the global list has fewer, however many sit free on
/// the other CPUs' lists.
pub const LRU_LOCAL_FREE: u32 = 128;

/// Entries a per-task LRU hash needs on a machine with `possible_cpus`
/// CPUs so that `base` live entries never make the kernel evict: every
/// CPU's parked free entries, and one more CPU's worth in the global list.
pub const fn task_map_entries(base: u32, possible_cpus: u32) -> u32 {
    base.saturating_add(task_map_reserve(possible_cpus))
}

/// What [`task_map_entries`] adds to a map's base.
pub const fn task_map_reserve(possible_cpus: u32) -> u32 {
    LRU_LOCAL_FREE.saturating_mul(possible_cpus.saturating_add(1))
}

/// The per-task LRU hashes and their base entries, by map name.
pub const TASK_MAPS: [(&str, u32); 12] = [
    ("RECLAIM_CTX", RECLAIM_CTX_ENTRIES),
    ("EVICT_CTX", TASK_ENTRIES),
    ("MEMCG_TARGET", TASK_ENTRIES),
    ("SOFTLIMIT_CTX", TASK_ENTRIES),
    ("TEARDOWN", TASK_ENTRIES),
    ("ACCESS_CTX", TASK_ENTRIES),
    ("MGLRU_ISOLATED", TASK_ENTRIES),
    ("SHRINK_NODE_CTX", TASK_ENTRIES),
    ("REFAULT_CTX", TASK_ENTRIES),
    ("LRUVEC_SCOPE", TASK_ENTRIES),
    ("ISOLATE_LRU_CALL", TASK_ENTRIES),
    ("COMPACT_CALL", TASK_ENTRIES),
];

aggregate! {
    pub struct AccessAgg {
        pub calls: u64,
        pub pages: u64,
    }
}

/// Key of the refault aggregate (workingset_refault, a per-CPU hash): the
/// refaulting folio's memory cgroup and node, as the kernel counts
/// workingset_refault_* in that folio's lruvec.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefaultKey {
    /// kernfs id of the folio's memory cgroup (0: not charged / unknown).
    pub cgroup_id: u64,
    pub node: u32,
    /// 1 for the file LRU (workingset_refault_file), 0 for anon.
    pub file: u32,
}
pub const REFAULT_ENTRIES: u32 = 16384;
/// Slots of REFAULT_NODE: (node, file/anon), the node overflow slot included.
pub const REFAULT_NODE_SLOTS: u32 = (NODE_OVERFLOW + 1) * 2;

/// The REFAULT_NODE slot of refaults on `node` (file: 1 for the file LRU).
#[inline(always)]
pub const fn refault_node_index(node: u32, file: u32) -> u32 {
    let node = if node > NODE_OVERFLOW {
        NODE_OVERFLOW
    } else {
        node
    };
    node * 2 + (file & 1)
}

aggregate! {
    /// Refaults of one [`RefaultKey`], in pages as /proc/vmstat counts them.
    pub struct RefaultAgg {
        /// Pages the kernel counts as refaulted (workingset_refault_*).
        pub pages: u64,
        /// Folios (workingset_refault calls counted).
        pub folios: u64,
        /// Pages the kernel activated (classic LRU: workingset_activate_*,
        /// read from PG_active on return).
        pub activated: u64,
        /// Pages restored to the workingset (workingset_restore_*:
        /// PG_workingset on return).
        pub restored: u64,
        /// Pages whose shadow names this cgroup and node, so the refault
        /// distance was measured.
        pub measured: u64,
        /// Calls the kernel does not count (MGLRU: evicted from another
        /// lruvec, or, on 6.1, generations ago).
        pub uncounted: u64,
    }
}

/// Key of the refault distance histogram: pages per (cgroup, file/anon,
/// distance bucket; see [`distance_bucket`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefaultDistKey {
    pub cgroup_id: u64,
    pub file: u32,
    pub bucket: u32,
}
pub const REFAULT_DIST_ENTRIES: u32 = 16384;

/// Key of the per-file refault aggregate (file LRU only): the inode and the
/// refaulting cgroup.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefaultFileKey {
    pub ino: u64,
    pub cgroup_id: u64,
    /// The superblock's dev_t as the kernel keeps it (MAJOR << 20 | MINOR).
    pub dev: u32,
    pub _pad: u32,
}
pub const REFAULT_FILE_ENTRIES: u32 = 16384;

/// Key of the per-task refault aggregate.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefaultTaskKey {
    pub cgroup_id: u64,
    pub tgid: u32,
    /// 1 for the file LRU.
    pub file: u32,
    pub comm: [u8; 16],
}
pub const REFAULT_TASK_ENTRIES: u32 = 8192;

aggregate! {
    /// Pages and folios: refaults per file, per task, per distance bucket.
    pub struct PagesAgg {
        pub pages: u64,
        pub folios: u64,
    }
}

/// Sub-buckets per power of two in the refault distance histogram.
pub const DIST_SUB: u32 = 4;
/// Distance buckets: one per value below 8, then four per power of two
/// up to 2^44 pages (the last bucket is open).
pub const DIST_BUCKETS: u32 = 8 + (44 - 3) * DIST_SUB;

/// Bucket of a refault distance in pages: exact below 8, then a quarter
/// octave each (values of k bits: 2^(k-1) * (1 + j/4) up to the next).
#[inline(always)]
pub const fn distance_bucket(v: u64) -> u32 {
    if v < 8 {
        return v as u32;
    }
    let bits = 64 - v.leading_zeros(); // 4..=64
    let sub = ((v >> (bits - 3)) & 3) as u32;
    let b = 8 + (bits - 4) * DIST_SUB + sub;
    if b >= DIST_BUCKETS {
        DIST_BUCKETS - 1
    } else {
        b
    }
}

/// Smallest and one past the largest distance in bucket `b` (the last
/// bucket is open: its end is u64::MAX).
pub const fn distance_bounds(b: u32) -> (u64, u64) {
    if b < 8 {
        return (b as u64, b as u64 + 1);
    }
    let b = if b >= DIST_BUCKETS {
        DIST_BUCKETS - 1
    } else {
        b
    };
    let k = (b - 8) / DIST_SUB + 3; // bits - 1
    let j = ((b - 8) % DIST_SUB) as u64;
    let base = 1u64 << k;
    let lo = base + base / 4 * j;
    if b == DIST_BUCKETS - 1 {
        (lo, u64::MAX)
    } else {
        (lo, lo + base / 4)
    }
}

/// Log2 histogram buckets: bucket i counts values v with 2^(i-1) <= v < 2^i
/// (bucket 0 counts v == 0).
pub const HIST_BUCKETS: u32 = 32;
pub const HIST_SLOTS: u32 = hist::COUNT * NODE_SLOTS * HIST_BUCKETS;
#[inline(always)]
pub const fn hist_index(kind: u32, node: u32, bucket: u32) -> u32 {
    (kind * NODE_SLOTS + node) * HIST_BUCKETS + bucket
}
/// The node of a slot of each per-node map (the inverse of its index
/// helper): userspace reads only the slots of nodes that exist.
pub mod slot_node {
    use super::{HIST_BUCKETS, LRU_SLOTS, NODE_SLOTS, THROTTLE_REASONS};
    use crate::ids::lru;

    pub const fn shrink(i: u32) -> u32 {
        (i / 2) % NODE_SLOTS
    }
    pub const fn lru(i: u32) -> u32 {
        i / lru::COUNT
    }
    pub const fn throttle(i: u32) -> u32 {
        i / THROTTLE_REASONS
    }
    pub const fn hist(i: u32) -> u32 {
        (i / HIST_BUCKETS) % NODE_SLOTS
    }
    pub const fn node(i: u32) -> u32 {
        i
    }
    /// COMPACT_ISOLATED: lru_index, then one slot a node.
    pub const fn compact(i: u32) -> u32 {
        if i < LRU_SLOTS {
            i / lru::COUNT
        } else {
            i - LRU_SLOTS
        }
    }
    /// MLOCK_MOVED: entered, then left, each by lru_index.
    pub const fn mlock(i: u32) -> u32 {
        (i / lru::COUNT) % NODE_SLOTS
    }
    /// LAZYFREE: two slots a node.
    pub const fn lazyfree(i: u32) -> u32 {
        i / 2
    }
    /// DEACTIVATE: batch-major, two slots a node.
    pub const fn deactivate(i: u32) -> u32 {
        (i / 2) % NODE_SLOTS
    }
}

#[inline(always)]
pub const fn log2_bucket(v: u64) -> u32 {
    let b = 64 - v.leading_zeros();
    if b >= HIST_BUCKETS {
        HIST_BUCKETS - 1
    } else {
        b
    }
}

const _: () = assert!(core::mem::size_of::<IsolateAgg>() == 40);
const _: () = assert!(core::mem::size_of::<MemcgMoveKey>() == 16);
const _: () = assert!(core::mem::size_of::<ReclaimPagesAgg>() == 40);
const _: () = assert!(core::mem::size_of::<EpisodeAgg>() == (3 + HIST_BUCKETS as usize) * 8);
const _: () = assert!(core::mem::size_of::<ShrinkInactiveAgg>() == 11 * 8 + PRIORITY_SLOTS * 8);
const _: () = assert!(core::mem::size_of::<ShrinkActiveAgg>() == 40);
const _: () = assert!(core::mem::size_of::<FolioAgg>() == 16);
const _: () = assert!(core::mem::size_of::<ThrottleAgg>() == 24);
const _: () = assert!(core::mem::size_of::<AccessKey>() == 24);
const _: () = assert!(core::mem::size_of::<AccessAgg>() == 16);
const _: () = assert!(core::mem::size_of::<MemcgLruKey>() == 16);
const _: () = assert!(core::mem::size_of::<RefaultKey>() == 16);
const _: () = assert!(core::mem::size_of::<RefaultAgg>() == 48);
const _: () = assert!(core::mem::size_of::<RefaultDistKey>() == 16);
const _: () = assert!(core::mem::size_of::<RefaultFileKey>() == 24);
const _: () = assert!(core::mem::size_of::<RefaultTaskKey>() == 32);
const _: () = assert!(core::mem::size_of::<PagesAgg>() == 16);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_maps_keep_their_base_free_of_every_cpus_parked_entries() {
        // 2 CPUs: 3 x 128 more than the base.
        assert_eq!(task_map_entries(TASK_ENTRIES, 2), 4096 + 384);
        // 256 CPUs: the parked entries alone would have filled the old
        // fixed sizes twice over.
        for (_, base) in TASK_MAPS {
            let n = task_map_entries(base, 256);
            assert!(n - LRU_LOCAL_FREE * 256 >= base + LRU_LOCAL_FREE, "{n}");
        }
        assert_eq!(task_map_entries(u32::MAX - 1, 4096), u32::MAX);
        // Every name once.
        for (i, (a, _)) in TASK_MAPS.iter().enumerate() {
            assert!(TASK_MAPS[i + 1..].iter().all(|(b, _)| a != b), "{a} twice");
        }
    }

    #[test]
    fn distance_buckets_cover_every_value_once() {
        // Every value falls in the bucket whose bounds hold it.
        for v in (0u64..5000).chain([1 << 20, (1 << 20) + 1, 3 << 30, u64::MAX / 2]) {
            let b = distance_bucket(v);
            let (lo, hi) = distance_bounds(b);
            assert!(
                lo <= v && (v < hi || hi == u64::MAX),
                "{v} in bucket {b} = [{lo}, {hi})"
            );
        }
        // Quarter octaves: 1024..1279 | 1280..1535 | 1536..1791 | 1792..2047.
        assert_eq!(distance_bounds(distance_bucket(1024)), (1024, 1280));
        assert_eq!(distance_bounds(distance_bucket(1791)), (1536, 1792));
        assert_eq!(distance_bucket(2048), distance_bucket(2047) + 1);
        assert_eq!(distance_bucket(u64::MAX), DIST_BUCKETS - 1);
        // Bucket order follows value order.
        let mut last = 0;
        for v in 0u64..100_000 {
            let b = distance_bucket(v);
            assert!(b >= last);
            last = b;
        }
    }

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
    fn indexes_are_dense_and_in_bounds() {
        assert_eq!(shrink_index(0, 0, 0), 0);
        assert_eq!(shrink_index(0, 0, 1), 1);
        assert_eq!(shrink_index(1, 0, 0), 2);
        assert_eq!(shrink_index(0, 1, 0), NODE_SLOTS * 2);
        assert_eq!(
            shrink_index(NODE_OVERFLOW, reclaimer::COUNT - 1, 1),
            SHRINK_SLOTS - 1
        );
        assert_eq!(
            isolate_index(reclaimer::COUNT - 1, lru::COUNT - 1),
            ISOLATE_SLOTS - 1
        );
        assert_eq!(lru_index(NODE_OVERFLOW, lru::COUNT - 1), LRU_SLOTS - 1);
        assert_eq!(
            mlock_index(NODE_OVERFLOW, lru::COUNT - 1, true),
            MLOCK_SLOTS - 1
        );
        assert_eq!(
            mlock_index(3, lru::UNEVICTABLE, false),
            lru_index(3, lru::UNEVICTABLE)
        );
        assert_eq!(compact_not_lru_index(NODE_OVERFLOW), COMPACT_SLOTS - 1);
        assert_eq!(slot_node::compact(compact_not_lru_index(5)), 5);
        assert_eq!(slot_node::compact(lru_index(5, lru::ACTIVE_ANON)), 5);
        for out in [false, true] {
            assert_eq!(slot_node::mlock(mlock_index(7, lru::ACTIVE_FILE, out)), 7);
        }
        assert_eq!(write_index(reclaimer::COUNT - 1, 1), WRITE_SLOTS - 1);
        assert_eq!(
            throttle_index(NODE_OVERFLOW, THROTTLE_REASONS - 1),
            THROTTLE_SLOTS - 1
        );
        assert_eq!(
            hist_index(hist::COUNT - 1, NODE_OVERFLOW, HIST_BUCKETS - 1),
            HIST_SLOTS - 1
        );
        assert_eq!(hist_index(1, 0, 0), NODE_SLOTS * HIST_BUCKETS);
    }

    #[test]
    fn every_slot_maps_back_to_its_node() {
        for node in [0, 1, 7, NODE_OVERFLOW] {
            for rec in 0..reclaimer::COUNT {
                assert_eq!(slot_node::shrink(shrink_index(node, rec, 1)), node);
            }
            assert_eq!(slot_node::lru(lru_index(node, lru::ACTIVE_FILE)), node);
            assert_eq!(
                slot_node::throttle(throttle_index(node, THROTTLE_REASONS - 1)),
                node
            );
            for kind in 0..hist::COUNT {
                assert_eq!(
                    slot_node::hist(hist_index(kind, node, HIST_BUCKETS - 1)),
                    node
                );
            }
        }
    }

    #[test]
    fn declared_aggregates_add_and_subtract_every_field() {
        let mut a = ShrinkInactiveAgg {
            passes: 2,
            scanned: 64,
            ..Default::default()
        };
        a.priority[12] = 2;
        let mut b = a;
        b.add(&a);
        assert_eq!((b.passes, b.scanned, b.priority[12]), (4, 128, 4));
        let d = b.since(&a);
        assert_eq!(d, a);
        assert_eq!(a.since(&b), ShrinkInactiveAgg::default(), "clamped at zero");
    }
}
