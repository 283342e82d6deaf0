//! Every map of the eBPF object. Slot counts and index helpers come from
//! vmscan-common so that userspace reads the same slots.

use aya_ebpf::{
    macros::map,
    maps::{Array, LruHashMap, PerCpuArray, PerCpuHashMap, RingBuf, StackTrace},
};
use vmscan_common::{
    ACCESS_ENTRIES, AccessAgg, AccessKey, COMPACT_SLOTS, EpisodeAgg, FolioAgg, HIST_SLOTS, HookId,
    ISOLATE_SLOTS, IsolateAgg, LRU_SLOTS, MEMCG_LRU_ENTRIES, MEMCG_MOVE_ENTRIES,
    MEMCG_RECLAIM_ENTRIES, MLOCK_SLOTS, MemcgLruKey, MemcgMoveKey, PagesAgg, RECLAIM_CTX_ENTRIES,
    RECLAIM_PAGES_SLOTS, REFAULT_DIST_ENTRIES, REFAULT_ENTRIES, REFAULT_FILE_ENTRIES,
    REFAULT_TASK_ENTRIES, RING_BYTES, ReclaimPagesAgg, RefaultAgg, RefaultDistKey, RefaultFileKey,
    RefaultKey, RefaultTaskKey, SHRINK_SLOTS, STACK_ENTRIES, ShrinkActiveAgg, ShrinkInactiveAgg,
    TASK_ENTRIES, THROTTLE_SLOTS, ThrottleAgg, WRITE_SLOTS, agg::Field, hook,
};

use crate::hooks::{reclaim::ReclaimCtx, refault::RefaultCtx, shrink_node::ShrinkNodeCtx};

/// Set by userspace once the hooks are attached (vmscan_common::RUNTIME_*):
/// a hook's lookups that only another hook's data can satisfy are skipped
/// where that hook is not attached.
#[map]
pub static RUNTIME: Array<u64> = Array::with_max_entries(vmscan_common::RUNTIME_SLOTS, 0);
#[map]
pub static HITS: PerCpuArray<u64> = PerCpuArray::with_max_entries(hook::SLOTS, 0);
#[map]
pub static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(hook::SLOTS, 0);
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(RING_BYTES, 0);
#[map]
pub static ISOLATE: PerCpuArray<IsolateAgg> = PerCpuArray::with_max_entries(ISOLATE_SLOTS, 0);
#[map]
pub static SHRINK_INACTIVE: PerCpuArray<ShrinkInactiveAgg> =
    PerCpuArray::with_max_entries(SHRINK_SLOTS, 0);
#[map]
pub static SHRINK_ACTIVE: PerCpuArray<ShrinkActiveAgg> =
    PerCpuArray::with_max_entries(SHRINK_SLOTS, 0);
#[map]
pub static LRU_INSERT: PerCpuArray<FolioAgg> = PerCpuArray::with_max_entries(LRU_SLOTS, 0);
#[map]
pub static LRU_ACTIVATE: PerCpuArray<FolioAgg> = PerCpuArray::with_max_entries(LRU_SLOTS, 0);
#[map]
pub static WRITE_FOLIO: PerCpuArray<u64> = PerCpuArray::with_max_entries(WRITE_SLOTS, 0);
#[map]
pub static THROTTLE: PerCpuArray<ThrottleAgg> = PerCpuArray::with_max_entries(THROTTLE_SLOTS, 0);
#[map]
pub static HIST: PerCpuArray<u64> = PerCpuArray::with_max_entries(HIST_SLOTS, 0);
#[map]
pub static RECLAIM_PAGES: PerCpuArray<ReclaimPagesAgg> =
    PerCpuArray::with_max_entries(RECLAIM_PAGES_SLOTS, 0);
/// Pages demoted per reclaimer (vmscan_common::DEMOTE_SLOTS).
#[map]
pub static DEMOTE: PerCpuArray<u64> = PerCpuArray::with_max_entries(vmscan_common::DEMOTE_SLOTS, 0);
/// Pages MADV_FREE moved to the inactive file list (pglazyfree).
#[map]
pub static LAZYFREE: PerCpuArray<u64> =
    PerCpuArray::with_max_entries(vmscan_common::LAZYFREE_SLOTS, 0);
/// Pages deactivated by the per-CPU batches outside reclaim
/// (vmscan_common::deactivate slots).
#[map]
pub static DEACTIVATE: PerCpuArray<u64> =
    PerCpuArray::with_max_entries(vmscan_common::DEACTIVATE_SLOTS, 0);
/// lru_deactivate_file's call in progress on this CPU, from entry to return:
/// [folio, its flags at entry]; folio 0 when none. The caller holds the
/// lruvec lock with interrupts off across the call, so one slot a CPU.
#[map]
pub static DEACTIVATE_FILE_CALL: PerCpuArray<[u64; 2]> = PerCpuArray::with_max_entries(1, 0);
/// Ended reclaim episodes per reclaimer (vmscan_common::EPISODE_SLOTS).
#[map]
pub static EPISODES: PerCpuArray<EpisodeAgg> =
    PerCpuArray::with_max_entries(vmscan_common::EPISODE_SLOTS, 0);
/// LRU insertions per (memory cgroup, node, list).
#[map]
pub static LRU_INSERT_MEMCG: PerCpuHashMap<MemcgLruKey, FolioAgg> =
    PerCpuHashMap::with_max_entries(MEMCG_LRU_ENTRIES, 0);
/// Pages the batches outside reclaim moved per (memory cgroup, node, move):
/// the lruvec's share of DEACTIVATE, LAZYFREE and LRU_ACTIVATE.
#[map]
pub static LRU_MOVE_MEMCG: PerCpuHashMap<MemcgMoveKey, u64> =
    PerCpuHashMap::with_max_entries(MEMCG_MOVE_ENTRIES, 0);
/// Pages reclaim scanned and reclaimed per (memory cgroup, node, kind):
/// the lruvec's pgscan / pgsteal (vmscan_common::memcg_reclaim).
#[map]
pub static LRU_RECLAIM_MEMCG: PerCpuHashMap<MemcgMoveKey, u64> =
    PerCpuHashMap::with_max_entries(MEMCG_RECLAIM_ENTRIES, 0);
#[map]
pub static ACCESS: PerCpuHashMap<AccessKey, AccessAgg> =
    PerCpuHashMap::with_max_entries(ACCESS_ENTRIES, 0);
#[map]
pub static STACKS: StackTrace = StackTrace::with_max_entries(STACK_ENTRIES, 0);
/// Stacks STACKS refused for a hash collision (vmscan_common::STACK_SPILL_ENTRIES).
#[map]
pub static STACKS_SPILL: StackTrace =
    StackTrace::with_max_entries(vmscan_common::STACK_SPILL_ENTRIES, 0);
/// Direct / memcg / node reclaim per task, keyed by pid: the open episode,
/// or none where start_ns is 0. A task's entry stays between episodes
/// (written in place, no insert and delete per episode). When the LRU must
/// make room it evicts entries not referenced lately first: those of tasks
/// that stopped reclaiming; an open episode's entry is referenced at its
/// begin and by each of its passes. The loader sizes this map and the
/// other per-task LRU hashes (vmscan_common::TASK_MAPS) for the machine's
/// CPUs: the kernel's LRU parks free entries on each CPU and evicts live
/// ones when its global free list runs short.
#[map]
pub static RECLAIM_CTX: LruHashMap<u32, ReclaimCtx> =
    LruHashMap::with_max_entries(RECLAIM_CTX_ENTRIES, 0);
/// The memory cgroup try_to_free_mem_cgroup_pages was called for, per task
/// (kernfs id), until the memcg reclaim episode that follows begins.
#[map]
pub static MEMCG_TARGET: LruHashMap<u32, u64> = LruHashMap::with_max_entries(TASK_ENTRIES, 0);
/// Tasks inside a cgroup v1 soft-limit pass (the key's presence), nested in
/// their kswapd or direct reclaim (which keep their RECLAIM_CTX slot).
#[map]
pub static SOFTLIMIT_CTX: LruHashMap<u32, u8> = LruHashMap::with_max_entries(TASK_ENTRIES, 0);
/// 1 once any soft-limit pass has begun (never reset): until then the
/// reclaim hooks skip looking up SOFTLIMIT_CTX. A plain store of 1, so
/// passes beginning on several CPUs at once need no atomic operation; the
/// task whose pass began sees it after any migration.
#[map]
pub static SOFTLIMIT_SEEN: Array<u64> = Array::with_max_entries(1, 0);
/// The kernel's vmemmap_base once read (0 until then): it is set at boot
/// and never changes, so the node of a folio costs no helper call for it
/// after the first. A plain store of the same value from any CPU.
#[map]
pub static VMEMMAP_BASE_SEEN: Array<u64> = Array::with_max_entries(1, 0);
/// Tasks inside exit_mmap (pid -> 1), for folio_mark_accessed's teardown tag.
#[map]
pub static TEARDOWN: LruHashMap<u32, u8> = LruHashMap::with_max_entries(TASK_ENTRIES, 0);
/// folio_mark_accessed entry -> return state per task (MGLRU).
#[map]
pub static ACCESS_CTX: LruHashMap<u32, crate::hooks::access::AccessCtx> =
    LruHashMap::with_max_entries(TASK_ENTRIES, 0);
/// MGLRU: pages a task's isolations took, until its next shrink_inactive
/// event names their node (and zeroes the entry, which stays: the LRU
/// evicts the entries of tasks that stopped reclaiming).
#[map]
pub static MGLRU_ISOLATED: LruHashMap<u32, u64> = LruHashMap::with_max_entries(TASK_ENTRIES, 0);
/// Pages folio_isolate_lru took off a list outside reclaim, per node and
/// list left (vmscan_common::lru_index).
#[map]
pub static ISOLATED: PerCpuArray<u64> = PerCpuArray::with_max_entries(LRU_SLOTS, 0);
/// A task's folio_isolate_lru call by kprobe: its folio, for the return.
#[map]
pub static ISOLATE_LRU_CALL: LruHashMap<u32, u64> = LruHashMap::with_max_entries(TASK_ENTRIES, 0);
/// Pages compaction's migrate scanner took off a list, per node and list
/// left (vmscan_common::lru_index), and per node those on its list from no
/// LRU list (compact_not_lru_index).
#[map]
pub static COMPACT_ISOLATED: PerCpuArray<u64> = PerCpuArray::with_max_entries(COMPACT_SLOTS, 0);
/// A task's isolate_migratepages_block call: [its list head, the list's
/// first entry at entry].
#[map]
pub static COMPACT_CALL: LruHashMap<u32, [u64; 2]> = LruHashMap::with_max_entries(TASK_ENTRIES, 0);
/// Pages the mlock batch moved or added, per node and list: the lists
/// entered, then the lists left (vmscan_common::mlock_index).
#[map]
pub static MLOCK_MOVED: PerCpuArray<u64> = PerCpuArray::with_max_entries(MLOCK_SLOTS, 0);
/// The most entries of an mlock batch (folio_batch: 31; pagevec: 15).
pub const MLOCK_MAX: usize = 32;
/// An mlock batch call in progress on this CPU: its tagged entries and
/// each folio's flags at entry.
#[repr(C)]
pub struct MlockCall {
    /// The calling task's pid + 1; 0 when no call is kept.
    pub owner: u64,
    pub batch: u64,
    pub n: u32,
    pub _pad: u32,
    pub folio: [u64; MLOCK_MAX],
    pub flags: [u64; MLOCK_MAX],
}
#[map]
pub static MLOCK_CALL: PerCpuArray<MlockCall> = PerCpuArray::with_max_entries(1, 0);
/// The lruvec a task's reclaim is shrinking (shrink_lruvec or
/// try_to_shrink_lruvec, entry to return). The entry stays between calls
/// (closed at return, written in place at the next entry).
#[map]
pub static LRUVEC_SCOPE: LruHashMap<u32, crate::hooks::lruvec::LruvecScope> =
    LruHashMap::with_max_entries(TASK_ENTRIES, 0);
/// Entries of [`BatchRing`]: more than a per-CPU LRU-add batch holds
/// (PAGEVEC_SIZE 15, FOLIO_BATCH_SIZE 15 or 31).
pub const BATCH_RING: u32 = 64;

/// One CPU's folios waiting in its LRU-add batch, oldest first, with when
/// each entered. folio_add_lru appends; mm_lru_insertion, which drains that
/// CPU's batch in the order it was filled and on the same CPU (the batch
/// is per CPU, drained locally or by per-CPU work), finds the folio from
/// the oldest end, usually at once. A per-CPU array slot costs no hashing
/// or locking, where a hash keyed by folio cost an insert, a lookup and a
/// delete per folio. A folio moved to another CPU's batch (the task
/// migrated between the hook and the batch's lock) or drained remotely (a
/// CPU going offline) gets no sample; the older entries it passes over are
/// dropped when a later one matches.
#[repr(C)]
pub struct BatchRing {
    pub folio: [u64; BATCH_RING as usize],
    pub start: [u64; BATCH_RING as usize],
    /// Appends so far (the next entry is `head % BATCH_RING`).
    pub head: u32,
    /// The oldest entry still waiting.
    pub tail: u32,
}

impl BatchRing {
    /// Appends `folio`, entered at `now`; when full, over the oldest.
    #[inline(always)]
    pub fn push(&mut self, folio: u64, now: u64) {
        let i = (self.head & (BATCH_RING - 1)) as usize;
        self.folio[i] = folio;
        self.start[i] = now;
        self.head = self.head.wrapping_add(1);
        if self.head.wrapping_sub(self.tail) > BATCH_RING {
            self.tail = self.head.wrapping_sub(BATCH_RING);
        }
    }

    /// When `folio` entered, searched from the oldest entry; it and every
    /// older one leave the ring. None when it is not there.
    #[inline(always)]
    pub fn take(&mut self, folio: u64) -> Option<u64> {
        let waiting = self.head.wrapping_sub(self.tail);
        let mut k = 0;
        while k < BATCH_RING && k < waiting {
            let pos = self.tail.wrapping_add(k);
            let i = (pos & (BATCH_RING - 1)) as usize;
            if self.folio[i] == folio {
                self.tail = pos.wrapping_add(1);
                return Some(self.start[i]);
            }
            k += 1;
        }
        None
    }
}

/// This CPU's [`BatchRing`].
#[inline(always)]
pub fn batch_ring() -> Option<&'static mut BatchRing> {
    // SAFETY: this CPU's slot, for the program's duration.
    BATCH.get_ptr_mut(0).map(|r| unsafe { &mut *r })
}

#[map]
pub static BATCH: PerCpuArray<BatchRing> = PerCpuArray::with_max_entries(1, 0);
/// MGLRU's eviction before 6.7 in progress per task (evict_folios entry
/// to return).
#[map]
pub static EVICT_CTX: LruHashMap<u32, crate::hooks::evict::EvictCtx> =
    LruHashMap::with_max_entries(TASK_ENTRIES, 0);
/// shrink_node entry state per task (fentry/kprobe -> fexit/kretprobe).
#[map]
pub static SHRINK_NODE_CTX: LruHashMap<u32, ShrinkNodeCtx> =
    LruHashMap::with_max_entries(TASK_ENTRIES, 0);
/// workingset_refault: refaults per (cgroup, node, file/anon), distance
/// histogram per cgroup, per file, per task; entry -> return state per task.
#[map]
pub static REFAULT: PerCpuHashMap<RefaultKey, RefaultAgg> =
    PerCpuHashMap::with_max_entries(REFAULT_ENTRIES, 0);
/// Refaults per (node, file/anon) where nothing names cgroups (stat): the
/// REFAULT hash's entries with cgroup id 0, without hashing; userspace
/// folds them into those (probe/read.rs).
#[map]
pub static REFAULT_NODE: PerCpuArray<RefaultAgg> =
    PerCpuArray::with_max_entries(vmscan_common::REFAULT_NODE_SLOTS, 0);
#[map]
pub static REFAULT_DIST: PerCpuHashMap<RefaultDistKey, PagesAgg> =
    PerCpuHashMap::with_max_entries(REFAULT_DIST_ENTRIES, 0);
#[map]
pub static REFAULT_FILES: PerCpuHashMap<RefaultFileKey, PagesAgg> =
    PerCpuHashMap::with_max_entries(REFAULT_FILE_ENTRIES, 0);
#[map]
pub static REFAULT_TASKS: PerCpuHashMap<RefaultTaskKey, PagesAgg> =
    PerCpuHashMap::with_max_entries(REFAULT_TASK_ENTRIES, 0);
#[map]
pub static REFAULT_CTX: LruHashMap<u32, RefaultCtx> = LruHashMap::with_max_entries(TASK_ENTRIES, 0);
/// Synthetic storm: [records submitted, reserves that failed (lost)].
#[map]
pub static STORM: PerCpuArray<u64> = PerCpuArray::with_max_entries(2, 0);

/// Interrupt nesting levels kernel::irq_context keeps a stack buffer for:
/// a task, a softirq, a hardirq and an NMI on one CPU.
pub const IRQ_STACK_LEVELS: u32 = 4;
/// kernel::irq_context's kernel stacks, one per CPU and nesting level.
#[map]
pub static IRQ_STACK: PerCpuArray<[u64; vmscan_common::IRQ_STACK_DEPTH]> =
    PerCpuArray::with_max_entries(IRQ_STACK_LEVELS, 0);
/// The nesting level of kernel::irq_context running on this CPU.
#[map]
pub static IRQ_STACK_NEST: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);
/// `vmscan lab-irq-context`: what kernel::irq_context read in each of
/// hooks::context's programs, [probe * irq_context::COUNT + context].
#[map]
pub static CONTEXT_SEEN: PerCpuArray<u64> = PerCpuArray::with_max_entries(
    vmscan_common::context_check::COUNT * vmscan_common::irq_context::COUNT,
    0,
);

/// Adds `by` to slot `idx` of a per-CPU u64 array.
#[inline(always)]
pub fn bump(map: &PerCpuArray<u64>, idx: u32, by: u64) {
    if let Some(p) = map.get_ptr_mut(idx) {
        // SAFETY: per-CPU slot owned by this CPU for the program's duration.
        unsafe { *p += by };
    }
}

/// Adds `v` to slot `idx` of a per-CPU aggregate array.
#[inline(always)]
pub fn add_at<T: Field>(map: &PerCpuArray<T>, idx: u32, v: &T) {
    if let Some(p) = map.get_ptr_mut(idx) {
        // SAFETY: per-CPU slot owned by this CPU for the program's duration.
        unsafe { (*p).add(v) };
    }
}

/// Adds `v` to `key` of a per-CPU hash, inserting it when new; a full map
/// counts as a loss of hook `h`.
#[inline(always)]
pub fn add_keyed<K, T: Field>(map: &PerCpuHashMap<K, T>, key: &K, v: &T, h: HookId) {
    match map.get_ptr_mut(key) {
        // SAFETY: per-CPU value of this CPU.
        Some(p) => unsafe { (*p).add(v) },
        None => {
            if map.insert(key, v, 0).is_err() {
                lost(h);
            }
        }
    }
}

#[inline(always)]
pub fn hit(h: HookId) {
    bump(&HITS, h.slot(), 1);
}

#[inline(always)]
pub fn lost(h: HookId) {
    bump(&LOST, h.slot(), 1);
}

/// Sets a task's entry of a per-task LRU hash (keyed by pid) that keeps its
/// entries between uses: written in place where it exists, inserted the
/// first time. Only the task itself writes its entry. False when the
/// insert failed.
#[inline(always)]
pub fn set_task_entry<V: Copy>(map: &LruHashMap<u32, V>, pid: u32, v: &V) -> bool {
    match map.get_ptr_mut(&pid) {
        // SAFETY: this task's own entry; only it writes it.
        Some(p) => {
            unsafe { *p = *v };
            true
        }
        None => map.insert(&pid, v, 0).is_ok(),
    }
}

/// A RUNTIME flag userspace set after attaching.
#[inline(always)]
pub fn runtime(slot: u32) -> bool {
    RUNTIME.get(slot).is_some_and(|v| *v != 0)
}
