//! Identifiers both sides agree on: reclaimers, LRU lists, hooks, event
//! kinds and folio_mark_accessed outcomes.
//!
//! Hook ids and event kinds are distinct types ([`HookId`], [`EventKind`]):
//! a hook id where an event kind is meant does not compile.

/// Index of a hook in the per-CPU `HITS` and `LOST` arrays.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "user",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct HookId(pub u32);

impl core::fmt::Display for HookId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl HookId {
    /// The hook's slot in `HITS` / `LOST`.
    #[inline(always)]
    pub const fn slot(self) -> u32 {
        self.0
    }
}

/// Kind of an [`crate::Event`] record in the ring buffer.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKind(pub u32);

impl core::fmt::Display for EventKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

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
    /// Direct reclaim entered by khugepaged (pgscan_khugepaged on 6.2+; the
    /// kernels before count it as direct).
    pub const KHUGEPAGED: u32 = 4;
    /// A pass seen outside any begin/end pair vmscan saw start (for example a
    /// reclaim that began before vmscan attached).
    pub const OTHER: u32 = 5;
    /// Proactive reclaim outside a memory cgroup (scan_control.proactive:
    /// /sys/devices/system/node/nodeN/reclaim, MGLRU's debugfs): the kernel
    /// counts it as pgscan_proactive on 6.16+, as direct before.
    pub const PROACTIVE: u32 = 6;
    pub const COUNT: u32 = 7;
    pub const NAMES: [&str; COUNT as usize] = [
        "kswapd",
        "direct",
        "memcg",
        "node",
        "khugepaged",
        "other",
        "proactive",
    ];
}

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

/// Every hook vmscan knows.
pub mod hook {
    use super::HookId;
    pub const KSWAPD_WAKE: HookId = HookId(0);
    pub const KSWAPD_SLEEP: HookId = HookId(1);
    pub const WAKEUP_KSWAPD: HookId = HookId(2);
    pub const DIRECT_BEGIN: HookId = HookId(3);
    pub const DIRECT_END: HookId = HookId(4);
    pub const MEMCG_BEGIN: HookId = HookId(5);
    pub const MEMCG_END: HookId = HookId(6);
    pub const NODE_BEGIN: HookId = HookId(7);
    pub const NODE_END: HookId = HookId(8);
    pub const LRU_ISOLATE: HookId = HookId(9);
    pub const SHRINK_INACTIVE: HookId = HookId(10);
    pub const SHRINK_ACTIVE: HookId = HookId(11);
    pub const WRITE_FOLIO: HookId = HookId(12);
    pub const THROTTLED: HookId = HookId(13);
    pub const LRU_INSERTION: HookId = HookId(14);
    pub const LRU_ACTIVATE: HookId = HookId(15);
    pub const MARK_ACCESSED: HookId = HookId(16);
    pub const ADD_LRU: HookId = HookId(17);
    pub const SHRINK_NODE: HookId = HookId(18);
    pub const SHRINK_NODE_RET: HookId = HookId(19);
    /// Hit slots of the kprobe programs when they run beside fentry in
    /// comparison mode (KPROBE_SHADOW): folio_mark_accessed, folio_add_lru,
    /// shrink_node.
    pub const SHADOW_MARK_ACCESSED: HookId = HookId(20);
    pub const SHADOW_ADD_LRU: HookId = HookId(21);
    pub const SHADOW_SHRINK_NODE: HookId = HookId(22);
    /// mm_vmscan_reclaim_pages: reclaim_pages() (MADV_PAGEOUT, DAMON).
    pub const RECLAIM_PAGES: HookId = HookId(23);
    /// workingset_refault entry and return (fentry/fexit, kprobe/kretprobe).
    pub const REFAULT: HookId = HookId(24);
    pub const REFAULT_RET: HookId = HookId(25);
    /// Hit slot of the workingset_refault kprobe in comparison mode.
    pub const SHADOW_REFAULT: HookId = HookId(26);
    /// mm_vmscan_memcg_softlimit_reclaim_begin/end: cgroup v1 soft-limit
    /// reclaim (mem_cgroup_shrink_node) inside kswapd or direct reclaim.
    pub const SOFTLIMIT_BEGIN: HookId = HookId(27);
    pub const SOFTLIMIT_END: HookId = HookId(28);
    /// try_to_free_mem_cgroup_pages (fentry, kprobe fallback): the memory
    /// cgroup the kernel reclaims (mem_over_limit, possibly an ancestor of
    /// the charging task's; memory.reclaim's target, not the writer's).
    pub const MEMCG_TARGET: HookId = HookId(29);
    /// exit_mmap entry and return (fentry/fexit, kprobe/kretprobe): the
    /// page-table teardown context of folio_mark_accessed calls.
    pub const TEARDOWN: HookId = HookId(30);
    pub const TEARDOWN_RET: HookId = HookId(31);
    /// folio_mark_accessed's return (fexit, kretprobe): under MGLRU the
    /// outcome is what the call changed.
    pub const MARK_ACCESSED_RET: HookId = HookId(32);
    /// migrate:mm_migrate_pages: pages demoted to a slower memory tier
    /// (reason MR_DEMOTION, from reclaim's demote_folio_list()).
    pub const MIGRATE_PAGES: HookId = HookId(33);
    /// lru_lazyfree (lru_lazyfree_fn before 6.11; fentry, kprobe fallback):
    /// MADV_FREE's per-CPU batch moving anonymous folios to the inactive
    /// file list, counted as the kernel counts pglazyfree.
    pub const LAZYFREE: HookId = HookId(34);
    /// lru_deactivate (lru_deactivate_fn before 6.11; fentry, kprobe
    /// fallback): MADV_COLD's (and DAMON's) per-CPU batch moving folios to
    /// the inactive list, counted as the kernel counts pgdeactivate there.
    pub const DEACTIVATE: HookId = HookId(35);
    /// lru_deactivate_file (lru_deactivate_file_fn before 6.11) entry and
    /// return (fentry/fexit, kprobe/kretprobe): the batch of page-cache
    /// folios that invalidation (POSIX_FADV_DONTNEED, drop_caches) could not
    /// drop; pgdeactivate counts those the call took off the active list.
    pub const DEACTIVATE_FILE: HookId = HookId(36);
    pub const DEACTIVATE_FILE_RET: HookId = HookId(37);
    /// MGLRU's eviction before 6.7, which fires no isolate/shrink
    /// tracepoint (fentry/fexit, kprobe/kretprobe; attached only there):
    /// evict_folios brackets one eviction; its first shrink_folio_list
    /// finds the isolated folios on its list (what pgscan counts), and each
    /// pass's return and reclaim_stat give pgsteal and pgactivate.
    /// shrink_folio_list's calls outside reclaim also stand in for
    /// mm_vmscan_reclaim_pages where that is missing.
    pub const EVICT_FOLIOS: HookId = HookId(38);
    pub const EVICT_FOLIOS_RET: HookId = HookId(39);
    pub const SHRINK_FOLIO_LIST: HookId = HookId(40);
    pub const SHRINK_FOLIO_LIST_RET: HookId = HookId(41);
    /// Hit slots of the other function hooks' kprobes in comparison mode
    /// (see [`shadow_of`]).
    pub const SHADOW_MEMCG_TARGET: HookId = HookId(42);
    pub const SHADOW_TEARDOWN: HookId = HookId(43);
    pub const SHADOW_LAZYFREE: HookId = HookId(44);
    pub const SHADOW_DEACTIVATE: HookId = HookId(45);
    pub const SHADOW_DEACTIVATE_FILE: HookId = HookId(46);
    pub const SHADOW_EVICT_FOLIOS: HookId = HookId(47);
    pub const SHADOW_SHRINK_FOLIO_LIST: HookId = HookId(48);
    /// shrink_lruvec entry and return (fentry/fexit, kprobe/kretprobe): one
    /// lruvec's share of a reclaim pass, on the classic LRU and under
    /// MGLRU before 6.4. The isolations and shrink passes inside it are
    /// that lruvec's: its memory cgroup's pgscan / pgsteal in memory.stat.
    pub const LRUVEC: HookId = HookId(49);
    pub const LRUVEC_RET: HookId = HookId(50);
    /// try_to_shrink_lruvec entry and return: the same under MGLRU 6.4+,
    /// whose global reclaim walks the memcg LRU (shrink_many, shrink_one)
    /// and never calls shrink_lruvec.
    pub const LRUVEC_GEN: HookId = HookId(51);
    pub const LRUVEC_GEN_RET: HookId = HookId(52);
    pub const SHADOW_LRUVEC: HookId = HookId(53);
    pub const SHADOW_LRUVEC_GEN: HookId = HookId(54);
    /// folio_isolate_lru (isolate_lru_page before 6.1) entry and return:
    /// a folio taken off its LRU list outside reclaim (migration,
    /// MADV_PAGEOUT, khugepaged, memory offline), which fires no
    /// tracepoint; counted in ISOLATED by the list it left.
    pub const ISOLATE_LRU: HookId = HookId(55);
    pub const ISOLATE_LRU_RET: HookId = HookId(56);
    pub const SHADOW_ISOLATE_LRU: HookId = HookId(57);
    /// mlock_folio_batch (mlock_pagevec in 5.18-6.2) entry and return: the
    /// per-CPU mlock batch, which moves folios between a node's lists
    /// (mlock, munlock) and adds new folios of a locked VMA straight onto
    /// the unevictable list, firing no tracepoint; counted in MLOCK_MOVED
    /// by the lists each folio left and entered.
    pub const MLOCK: HookId = HookId(58);
    pub const MLOCK_RET: HookId = HookId(59);
    pub const SHADOW_MLOCK: HookId = HookId(60);
    /// isolate_migratepages_block entry and return: compaction's (and
    /// alloc_contig's) migrate scanner, which isolates folios inline with
    /// no tracepoint; counted in COMPACT_ISOLATED by the list each left.
    pub const COMPACT: HookId = HookId(61);
    pub const COMPACT_RET: HookId = HookId(62);
    pub const SHADOW_COMPACT: HookId = HookId(63);
    /// Size of the HITS and LOST arrays.
    pub const SLOTS: u32 = 64;

    /// The slot a function hook's entry kprobe counts its runs in when it
    /// runs beside fentry in comparison mode (KPROBE_SHADOW), where it does
    /// nothing else: every function hook has one.
    pub const fn shadow_of(id: HookId) -> Option<HookId> {
        match id {
            MARK_ACCESSED => Some(SHADOW_MARK_ACCESSED),
            ADD_LRU => Some(SHADOW_ADD_LRU),
            SHRINK_NODE => Some(SHADOW_SHRINK_NODE),
            REFAULT => Some(SHADOW_REFAULT),
            MEMCG_TARGET => Some(SHADOW_MEMCG_TARGET),
            TEARDOWN => Some(SHADOW_TEARDOWN),
            LAZYFREE => Some(SHADOW_LAZYFREE),
            DEACTIVATE => Some(SHADOW_DEACTIVATE),
            DEACTIVATE_FILE => Some(SHADOW_DEACTIVATE_FILE),
            EVICT_FOLIOS => Some(SHADOW_EVICT_FOLIOS),
            SHRINK_FOLIO_LIST => Some(SHADOW_SHRINK_FOLIO_LIST),
            LRUVEC => Some(SHADOW_LRUVEC),
            LRUVEC_GEN => Some(SHADOW_LRUVEC_GEN),
            ISOLATE_LRU => Some(SHADOW_ISOLATE_LRU),
            MLOCK => Some(SHADOW_MLOCK),
            COMPACT => Some(SHADOW_COMPACT),
            _ => None,
        }
    }

    /// The return program's hook of a function hook with one (shrink_node,
    /// workingset_refault, exit_mmap, folio_mark_accessed,
    /// lru_deactivate_file, MGLRU's eviction before 6.7, the lruvec scopes,
    /// folio_isolate_lru, the mlock batch, compaction's migrate scanner).
    pub const fn return_of(id: HookId) -> Option<HookId> {
        match id {
            SHRINK_NODE => Some(SHRINK_NODE_RET),
            REFAULT => Some(REFAULT_RET),
            TEARDOWN => Some(TEARDOWN_RET),
            MARK_ACCESSED => Some(MARK_ACCESSED_RET),
            DEACTIVATE_FILE => Some(DEACTIVATE_FILE_RET),
            EVICT_FOLIOS => Some(EVICT_FOLIOS_RET),
            SHRINK_FOLIO_LIST => Some(SHRINK_FOLIO_LIST_RET),
            LRUVEC => Some(LRUVEC_RET),
            LRUVEC_GEN => Some(LRUVEC_GEN_RET),
            ISOLATE_LRU => Some(ISOLATE_LRU_RET),
            MLOCK => Some(MLOCK_RET),
            COMPACT => Some(COMPACT_RET),
            _ => None,
        }
    }
}

/// Kinds of [`crate::Event`] records sent through the ring buffer.
pub mod event {
    use super::EventKind;
    pub const KSWAPD_WAKE: EventKind = EventKind(1);
    pub const KSWAPD_SLEEP: EventKind = EventKind(2);
    pub const WAKEUP_KSWAPD: EventKind = EventKind(3);
    /// A direct / memcg / node reclaim episode ended: `start_ns`..`end_ns`.
    pub const RECLAIM_END: EventKind = EventKind(4);
    pub const SHRINK_INACTIVE: EventKind = EventKind(5);
    pub const SHRINK_NODE: EventKind = EventKind(6);
    /// mm_vmscan_throttled: see [`crate::Event`] for where delay and timeout go.
    pub const THROTTLED: EventKind = EventKind(7);
}

pub mod outcome {
    //! Outcome of one folio_mark_accessed call. The classic LRU
    //! (mm/swap.c: folio_mark_accessed) moves a folio unreferenced ->
    //! referenced -> active, decided from the flags the call finds. Under
    //! MGLRU the call only raises the folio's reference tier, and how has
    //! changed: folio_inc_refs (6.1-6.13) sets PG_referenced, then
    //! PG_workingset, then counts up LRU_REFS; lru_gen_inc_refs (6.14+)
    //! sets PG_referenced, counts up LRU_REFS, then sets PG_workingset once
    //! it saturates, and returns early for some folios. So under MGLRU the
    //! outcome is what the call changed: the flags before (entry) against
    //! the flags after (return). Generations change at aging and eviction,
    //! never here.

    /// !PG_referenced -> PG_referenced (both LRUs).
    pub const REFERENCED: u32 = 0;
    /// Classic: PG_referenced && !PG_active on an LRU (PG_lru) -> queued for
    /// activation (folio_activate; pgactivate when the batch drains).
    pub const ACTIVATED: u32 = 1;
    /// Classic: already active: no list change. MGLRU: the call changed no
    /// reference bit (the tier saturated, or the kernel returned early).
    pub const NO_EFFECT: u32 = 2;
    /// PG_unevictable: never activated (both LRUs).
    pub const UNEVICTABLE: u32 = 3;
    /// MGLRU: the call set PG_workingset.
    pub const WORKINGSET: u32 = 4;
    /// MGLRU: the call raised the LRU_REFS counter (flag bits above the
    /// page flags changed, PG_referenced and PG_workingset did not).
    pub const TIER_UP: u32 = 5;
    /// Classic: PG_referenced && !PG_active but not on an LRU (!PG_lru: in a
    /// per-CPU batch, or isolated): PG_referenced is cleared, and the folio
    /// is activated only if it sits in the calling CPU's lru_add batch
    /// (__lru_cache_activate_folio), where it later shows as an insertion
    /// into an active list, never as pgactivate.
    pub const ACTIVATE_OFF_LRU: u32 = 6;
    /// MGLRU without the call's return hooked (the TUI, the exporter; the
    /// return is kept to `vmscan access`): the call found PG_referenced
    /// set, so it set PG_workingset, raised LRU_REFS, or changed nothing
    /// (saturated, or returned early). Which one the entry flags cannot
    /// say: the order is the kernel version's (6.1-6.13 against 6.14+,
    /// backported to some stable series), which BTF does not show.
    pub const REPEAT: u32 = 7;
    pub const COUNT: u32 = 8;
    pub const NAMES: [&str; COUNT as usize] = [
        "referenced",
        "activated",
        "no_effect",
        "unevictable",
        "workingset",
        "tier_up",
        "activate_off_lru",
        "repeat",
    ];
}

/// Log2 histograms kept per node.
pub mod hist {
    /// shrink_node pass length in microseconds, per node.
    pub const SHRINK_NODE_US: u32 = 0;
    /// folio_add_lru -> LRU insertion residency in microseconds, per node.
    pub const BATCH_RESIDENCY_US: u32 = 1;
    pub const COUNT: u32 = 2;
}

/// How a kernel counts workingset_refault (mm/workingset.c), chosen by the
/// loader from BTF and MGLRU's state.
pub mod refault_rule {
    /// Classic LRU: every call is counted in the folio's lruvec; the
    /// distance is measured against the eviction lruvec's nonresident_age.
    pub const CLASSIC: u64 = 0;
    /// MGLRU, 6.2 and later (lru_gen_test_recent): counted when the shadow's
    /// lruvec is the folio's.
    pub const MGLRU_LRUVEC: u64 = 1;
    /// MGLRU on 6.1: counted when memcg id and node match and the token's
    /// generation is min_seq.
    pub const MGLRU_MIN_SEQ: u64 = 2;
}

/// Slots of the RUNTIME array map (flags userspace sets after attaching).
pub const RUNTIME_SLOTS: u32 = 6;
/// RUNTIME slot: folio_add_lru is hooked (batch residency is measured).
pub const RUNTIME_BATCH: u32 = 0;
/// RUNTIME slot: try_to_free_mem_cgroup_pages is hooked (memcg reclaim
/// episodes look up the memcg it named).
pub const RUNTIME_MEMCG_TARGET: u32 = 1;
/// RUNTIME slot: exit_mmap is hooked (folio_mark_accessed tags teardown).
pub const RUNTIME_TEARDOWN: u32 = 2;
/// RUNTIME slot: MGLRU is on and folio_mark_accessed's return is hooked:
/// outcomes come from the flags before and after the call.
pub const RUNTIME_ACCESS_RETURN: u32 = 3;
/// RUNTIME slot: shrink_node is hooked by fentry and fexit (both attached
/// when this is set; no kretprobe that can run out of instances): the
/// passes inside one call (isolation, list shrinks, writes) take who
/// reclaims from the task's open shrink_node entry instead of working it
/// out on every event. Entries opened before it was set are not used, and
/// episode beginnings close a task's entry, so a skipped fexit cannot leave
/// a stale one in use.
pub const RUNTIME_PASS_CACHE: u32 = 4;
/// RUNTIME slot: shrink_folio_list is hooked with its return and
/// vmscan:mm_vmscan_reclaim_pages is not: its calls outside reclaim
/// (reclaim_pages' MADV_PAGEOUT / DAMON, CMA's clean-page reclaim: no
/// current->reclaim_state) fill RECLAIM_PAGES as the tracepoint would.
pub const RUNTIME_PAGEOUT: u32 = 5;

/// folio_mark_accessed's teardown tag ([`crate::AccessKey::teardown`]).
pub mod teardown {
    /// exit_mmap is not hooked (or a recording made before the tag).
    pub const UNKNOWN: u32 = 0;
    /// The caller was not inside exit_mmap.
    pub const OUTSIDE: u32 = 1;
    /// The caller was inside exit_mmap: the mm's page-table teardown.
    pub const INSIDE: u32 = 2;
}
