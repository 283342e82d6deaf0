//! Counters named as /proc/vmstat names them, derived from [`Totals`].
//!
//! Mirrors mm/vmscan.c (6.x): shrink_inactive_list() counts
//! PGSCAN_{KSWAPD,DIRECT,KHUGEPAGED} (only `if (!cgroup_reclaim(sc))`) and
//! PGSCAN_{ANON,FILE} (always) with the nr_scanned that isolate_lru_folios()
//! returns, which is what mm_vmscan_lru_isolate reports for the inactive
//! lists; PGSTEAL_* likewise with the nr_reclaimed of
//! mm_vmscan_lru_shrink_inactive; shrink_active_list() counts PGREFILL with
//! the nr_scanned of its isolation. PGACTIVATE is counted by folio_activate()
//! (mm_lru_activate, in pages) and by shrink_folio_list()'s nr_activate.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize, ser::SerializeMap as _};
use vmscan_common::{
    NODE_SLOTS, compact_not_lru_index, deactivate, deactivate_index, isolate_index, lazyfree_index,
    lru, lru_index, memcg_move, mlock_index, reclaimer, shrink_index,
};

use super::{
    named::{Derives, NotDerived, PerList},
    totals::Totals,
};

/// Pages, split by who reclaimed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ByReclaimer {
    pub kswapd: u64,
    pub direct: u64,
    pub memcg: u64,
    pub node: u64,
    pub khugepaged: u64,
    pub other: u64,
    pub proactive: u64,
}

impl ByReclaimer {
    fn add(&mut self, rec: u32, v: u64) {
        match rec {
            reclaimer::KSWAPD => self.kswapd += v,
            reclaimer::DIRECT => self.direct += v,
            reclaimer::MEMCG => self.memcg += v,
            reclaimer::NODE => self.node += v,
            reclaimer::KHUGEPAGED => self.khugepaged += v,
            reclaimer::PROACTIVE => self.proactive += v,
            _ => self.other += v,
        }
    }
    pub fn total(&self) -> u64 {
        self.kswapd
            + self.direct
            + self.memcg
            + self.node
            + self.khugepaged
            + self.other
            + self.proactive
    }
}

/// How the running kernel counts reclaim in /proc/vmstat, decided from its
/// BTF (which items enum vm_event_item has), not from its version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema, Deserialize)]
pub struct Counting {
    /// MGLRU is on: scans count isolated folios, no pgrefill.
    pub mglru: bool,
    /// PGSCAN_KHUGEPAGED exists (6.2+); before, khugepaged's reclaim is direct.
    pub khugepaged: bool,
    /// PGSCAN_PROACTIVE exists (6.16+); before, proactive reclaim is direct.
    pub proactive: bool,
    /// MGLRU's eviction (evict_folios/scan_folios) fires mm_vmscan_lru_isolate
    /// and mm_vmscan_lru_shrink_inactive (6.7+). Before, MGLRU's scans and
    /// steals reach /proc/vmstat through no tracepoint at all, so with MGLRU
    /// on vmscan cannot derive pgscan_* / pgsteal_*. Recordings made before
    /// vmscan asked read as true (the kernels it then ran on had them).
    #[serde(default = "yes")]
    pub mglru_tracepoints: bool,
    /// Where they are not (MGLRU before 6.7), evict_folios and
    /// shrink_folio_list are hooked, each with its return (fentry/fexit
    /// or kprobes): they stand in for those tracepoints. False in recordings
    /// made before.
    #[serde(default)]
    pub mglru_evict_hooks: bool,
    /// pgscan_* / pgsteal_* / pgrefill are per-node stats (enum
    /// node_stat_item, 7.x), counted through the lruvec for every reclaim:
    /// memory-cgroup limit reclaim is in the global pgscan_direct /
    /// pgsteal_direct / pgrefill too (before, `if (!cgroup_reclaim(sc))`
    /// kept it out).
    #[serde(default)]
    pub memcg_in_global: bool,
    /// workingset_refault is hooked (fentry/fexit or kprobes): the
    /// workingset_refault/activate/restore counters are derived. Not a
    /// property of the kernel's counting, but of what vmscan sees; false in
    /// recordings made before vmscan derived them.
    #[serde(default)]
    pub refaults: bool,
    /// mm_migrate_pages is hooked on a kernel with demotion (MR_DEMOTION):
    /// pgdemote_* are derived. False in recordings made before.
    #[serde(default)]
    pub demote: bool,
    /// pgdemote_* are per-node stats (enum node_stat_item, counted through
    /// the lruvec since 6.10): /proc/vmstat may lag by the per-CPU slack.
    /// Before, vm events (exact).
    #[serde(default)]
    pub demote_node_stat: bool,
    /// lru_lazyfree is hooked (fentry or kprobes): pglazyfree is derived.
    /// False in recordings made before.
    #[serde(default)]
    pub lazyfree: bool,
    /// lru_deactivate and lru_deactivate_file are both hooked (fentry or
    /// kprobes): pgdeactivate is derived where MGLRU is off. False in
    /// recordings made before.
    #[serde(default)]
    pub deactivate: bool,
    /// The lruvec scopes (shrink_lruvec; under MGLRU 6.4+ also
    /// try_to_shrink_lruvec) are attached with their returns where the
    /// passes are seen: reclaim's scans and steals are keyed by lruvec, so
    /// per-memcg pgscan / pgsteal are derived. False in recordings made
    /// before.
    #[serde(default)]
    pub memcg_reclaim: bool,
    /// folio_isolate_lru (isolate_lru_page before 6.1) is hooked with its
    /// return: the isolations outside reclaim by migration, MADV_PAGEOUT,
    /// khugepaged and the like are counted per node and list. False in
    /// recordings made before.
    #[serde(default)]
    pub isolate_lru: bool,
    /// The mlock batch (mlock_folio_batch; mlock_pagevec in 5.18-6.2) is
    /// hooked with its return: the moves mlock and munlock make between a
    /// node's lists, and the new folios of locked VMAs it adds to the
    /// unevictable list, are counted. False in recordings made before.
    #[serde(default)]
    pub mlock: bool,
    /// isolate_migratepages_block is hooked with its return (needs
    /// bpf_loop, 5.17+): compaction's isolations are counted per node and
    /// list. False in recordings made before.
    #[serde(default)]
    pub compact: bool,
}

fn yes() -> bool {
    true
}

impl Default for Counting {
    /// What vmscan assumed before it asked the kernel (recordings made then).
    fn default() -> Self {
        Self {
            mglru: false,
            khugepaged: true,
            proactive: false,
            mglru_tracepoints: true,
            memcg_in_global: false,
            refaults: false,
            demote: false,
            demote_node_stat: false,
            lazyfree: false,
            deactivate: false,
            mglru_evict_hooks: false,
            memcg_reclaim: false,
            isolate_lru: false,
            mlock: false,
            compact: false,
        }
    }
}

/// Why vmscan leaves out pgscan_* / pgsteal_* under MGLRU before 6.7.
pub const NO_MGLRU_TRACEPOINTS: &str = "MGLRU before 6.7 fires no isolate/shrink tracepoints, and its eviction's functions (evict_folios, shrink_folio_list) are not hooked here (they need fentry or kprobes; `vmscan probes` says why): its scans and steals are invisible to vmscan";
/// Why vmscan leaves out pgactivate under MGLRU before 6.7.
pub const NO_MGLRU_RECLAIM_ACTIVATE: &str = "MGLRU before 6.7 fires no mm_vmscan_lru_shrink_inactive, whose nr_activate carries the activations of its eviction (shrink_folio_list's PGACTIVATE), and shrink_folio_list is not hooked here: pgactivate would miss them whenever MGLRU evicts";
/// Why vmscan leaves out pgdeactivate where the deactivation batches are
/// not hooked.
pub const NO_DEACTIVATE_HOOK: &str = "lru_deactivate and lru_deactivate_file (the per-CPU batches of MADV_COLD and of invalidated page cache, no tracepoint) are not both hooked here (they need fentry or kprobes; `vmscan probes` says why); reclaim's own deactivations (shrink_active_list) are each node's `deactivated` flow";
/// Why vmscan leaves out pgdeactivate under MGLRU.
pub const NO_MGLRU_DEACTIVATE: &str = "under MGLRU, whether the kernel counts an invalidated page-cache folio it moves to the oldest generation depends on a 2025 change (mm/mglru: optimize deactivation; 6.14, backported to some stable series) that neither BTF nor the version shows";
/// Why vmscan leaves out pgdemote_* where mm_migrate_pages is not hooked.
pub const NO_DEMOTE: &str = "migrate:mm_migrate_pages is not hooked here, or this kernel has no demotion to a memory tier (MR_DEMOTION is 5.15+)";
/// Why vmscan leaves out pglazyfree where lru_lazyfree is not hooked.
pub const NO_LAZYFREE_HOOK: &str = "lru_lazyfree (MADV_FREE's per-CPU batch, no tracepoint) is not hooked here (needs fentry or kprobes)";
/// Why vmscan leaves out the workingset counters where workingset_refault
/// is not hooked.
pub const NO_REFAULT_HOOK: &str = "workingset_refault is not hooked here (needs fentry or kprobes)";
/// Why vmscan leaves out workingset_activate_* under MGLRU.
pub const NO_MGLRU_ACTIVATE: &str = "MGLRU counts refault activations by reference tier, which workingset_refault's return does not show";
/// Why vmscan leaves out pgrefill under MGLRU.
pub const NO_MGLRU_REFILL: &str =
    "MGLRU's refill count (folios sorted into younger generations) has no tracepoint";

/// Why a node's shrink_active_list figures are left out under MGLRU.
pub const NO_MGLRU_ACTIVE_LIST: &str = "MGLRU never runs shrink_active_list (mm_vmscan_lru_shrink_active): it ages folios into younger generations instead, which has no tracepoint";

/// [`NodeCounters`]' figures from reclaim's shrink passes
/// (mm_vmscan_lru_shrink_inactive), by JSON name.
pub const NODE_PASS_FIELDS: [&str; 15] = [
    "shrink_passes",
    "scanned",
    "reclaimed",
    "scanned_anon",
    "scanned_file",
    "reclaimed_anon",
    "reclaimed_file",
    "dirty",
    "writeback",
    "congested",
    "immediate",
    "unmap_fail",
    "activate_anon",
    "activate_file",
    "ref_keep",
];
/// [`NodeCounters`]' figures from mm_vmscan_lru_shrink_active.
pub const NODE_REFILL_FIELDS: [&str; 2] = ["refill_taken", "deactivated"];

/// The counters that derive from mm_vmscan_lru_isolate / lru_shrink_inactive:
/// pgscan_* and pgsteal_*, the first of [`Vmstat::NAMES`].
const SCAN_STEAL: &[&str] = Vmstat::NAMES.split_at(12).0;

impl Counting {
    /// Whether vmscan sees reclaim's shrink passes (their isolations,
    /// reclaims and activations): on the classic LRU, under MGLRU 6.7+ by
    /// the tracepoints, before by hooking the eviction's functions.
    pub fn passes_seen(&self) -> bool {
        !self.mglru || self.mglru_tracepoints || self.mglru_evict_hooks
    }

    /// The counters this kernel, so configured, leaves vmscan no way to
    /// derive, each with the reason.
    pub fn underivable(&self) -> BTreeMap<&'static str, &'static str> {
        let mut out = BTreeMap::new();
        if !self.deactivate {
            out.insert("pgdeactivate", NO_DEACTIVATE_HOOK);
        } else if self.mglru {
            out.insert("pgdeactivate", NO_MGLRU_DEACTIVATE);
        }
        if !self.demote {
            out.insert("pgdemote_*", NO_DEMOTE);
        }
        if !self.lazyfree {
            out.insert("pglazyfree", NO_LAZYFREE_HOOK);
        }
        if !self.refaults {
            out.extend([
                ("workingset_refault_*", NO_REFAULT_HOOK),
                ("workingset_activate_*", NO_REFAULT_HOOK),
                ("workingset_restore_*", NO_REFAULT_HOOK),
            ]);
        } else if self.mglru {
            out.insert("workingset_activate_*", NO_MGLRU_ACTIVATE);
        }
        if self.mglru {
            out.insert("pgrefill", NO_MGLRU_REFILL);
            if !self.passes_seen() {
                out.extend(SCAN_STEAL.iter().map(|k| (*k, NO_MGLRU_TRACEPOINTS)));
                out.insert("pgactivate", NO_MGLRU_RECLAIM_ACTIVATE);
            }
        }
        out
    }

    /// A node's figures this kernel leaves underivable, given their JSON
    /// names: those of reclaim's shrink passes (`passes`) under MGLRU before
    /// 6.7, which fires no mm_vmscan_lru_shrink_inactive; those of
    /// shrink_active_list (`refill`) under MGLRU, which never runs it.
    pub fn node_not_derived(
        &self,
        passes: &[&'static str],
        refill: &[&'static str],
    ) -> Vec<NotDerived> {
        let mut out = vec![];
        if !self.passes_seen() {
            out.push(NotDerived {
                fields: passes.to_vec(),
                reason: NO_MGLRU_TRACEPOINTS,
            });
        }
        if self.mglru {
            out.push(NotDerived {
                fields: refill.to_vec(),
                reason: NO_MGLRU_ACTIVE_LIST,
            });
        }
        out
    }
}

/// The /proc/vmstat counters vmscan derives, in pages, over a window.
/// Serialized as the map of [`Vmstat::fields`]: an underivable counter is
/// absent, never a zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Vmstat {
    pub pgscan_kswapd: u64,
    pub pgscan_direct: u64,
    /// None where the kernel has no such counter (before 6.2).
    pub pgscan_khugepaged: Option<u64>,
    /// None where the kernel has no such counter (before 6.16).
    pub pgscan_proactive: Option<u64>,
    pub pgscan_anon: u64,
    pub pgscan_file: u64,
    pub pgsteal_kswapd: u64,
    pub pgsteal_direct: u64,
    pub pgsteal_khugepaged: Option<u64>,
    pub pgsteal_proactive: Option<u64>,
    pub pgsteal_anon: u64,
    pub pgsteal_file: u64,
    /// From mm_migrate_pages (reason MR_DEMOTION), None where it is not
    /// hooked or the kernel lacks the counter: pages reclaim moved to a
    /// slower memory tier, by reclaimer (all reclaim, memory-cgroup limit
    /// reclaim included).
    pub pgdemote_kswapd: Option<u64>,
    pub pgdemote_direct: Option<u64>,
    pub pgdemote_khugepaged: Option<u64>,
    pub pgdemote_proactive: Option<u64>,
    /// None under MGLRU: its refill count ("sorted" folios) has no tracepoint.
    pub pgrefill: Option<u64>,
    /// None under MGLRU before 6.7: its eviction's activations have no
    /// tracepoint ([`NO_MGLRU_RECLAIM_ACTIVATE`]).
    pub pgactivate: Option<u64>,
    /// From lru_lazyfree (None where it is not hooked): anonymous pages
    /// MADV_FREE moved to the inactive file list.
    pub pglazyfree: Option<u64>,
    /// Reclaim's deactivations (mm_vmscan_lru_shrink_active) and those of
    /// the MADV_COLD and invalidation batches (lru_deactivate,
    /// lru_deactivate_file): None where those are not hooked, and under
    /// MGLRU.
    pub pgdeactivate: Option<u64>,
    /// From workingset_refault (None where it is not hooked): pages read
    /// back after reclaim evicted them, per LRU type.
    pub workingset_refault_anon: Option<u64>,
    pub workingset_refault_file: Option<u64>,
    /// ... of which the kernel activated (classic LRU: PG_active on return;
    /// None under MGLRU, which counts these by reference tiers).
    pub workingset_activate_anon: Option<u64>,
    pub workingset_activate_file: Option<u64>,
    /// ... of which were restored to the workingset (PG_workingset on return).
    pub workingset_restore_anon: Option<u64>,
    pub workingset_restore_file: Option<u64>,
    /// pgscan_* and pgsteal_* cannot be derived on this kernel
    /// ([`Counting::mglru_tracepoints`]): left out of [`Vmstat::fields`].
    pub scan_steal_underivable: bool,
}

impl Serialize for Vmstat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.fields();
        let mut m = s.serialize_map(Some(f.len()))?;
        for (k, v) in f {
            m.serialize_entry(k, &v)?;
        }
        m.end()
    }
}

impl JsonSchema for Vmstat {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Vmstat".into()
    }

    /// A map of /proc/vmstat names to pages: which names are there depends
    /// on what this kernel lets vmscan derive.
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "additionalProperties": { "type": "integer", "minimum": 0 }
        })
    }
}

impl Vmstat {
    /// Every counter's name, in [`Vmstat::fields`]'s order.
    pub const NAMES: [&'static str; 26] = [
        "pgscan_kswapd",
        "pgscan_direct",
        "pgscan_khugepaged",
        "pgscan_proactive",
        "pgscan_anon",
        "pgscan_file",
        "pgsteal_kswapd",
        "pgsteal_direct",
        "pgsteal_khugepaged",
        "pgsteal_proactive",
        "pgsteal_anon",
        "pgsteal_file",
        "pgdemote_kswapd",
        "pgdemote_direct",
        "pgdemote_khugepaged",
        "pgdemote_proactive",
        "pgrefill",
        "pgactivate",
        "pglazyfree",
        "pgdeactivate",
        "workingset_refault_anon",
        "workingset_refault_file",
        "workingset_activate_anon",
        "workingset_activate_file",
        "workingset_restore_anon",
        "workingset_restore_file",
    ];

    /// (name, value) pairs in /proc/vmstat order (underivable ones left out).
    pub fn fields(&self) -> Vec<(&'static str, u64)> {
        let values: [Option<u64>; 26] = [
            Some(self.pgscan_kswapd),
            Some(self.pgscan_direct),
            self.pgscan_khugepaged,
            self.pgscan_proactive,
            Some(self.pgscan_anon),
            Some(self.pgscan_file),
            Some(self.pgsteal_kswapd),
            Some(self.pgsteal_direct),
            self.pgsteal_khugepaged,
            self.pgsteal_proactive,
            Some(self.pgsteal_anon),
            Some(self.pgsteal_file),
            self.pgdemote_kswapd,
            self.pgdemote_direct,
            self.pgdemote_khugepaged,
            self.pgdemote_proactive,
            self.pgrefill,
            self.pgactivate,
            self.pglazyfree,
            self.pgdeactivate,
            self.workingset_refault_anon,
            self.workingset_refault_file,
            self.workingset_activate_anon,
            self.workingset_activate_file,
            self.workingset_restore_anon,
            self.workingset_restore_file,
        ];
        Self::NAMES
            .into_iter()
            .zip(values)
            .filter(|(k, _)| !(self.scan_steal_underivable && SCAN_STEAL.contains(k)))
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect()
    }
}

/// Per-node figures (pages), from the tracepoints that carry a node id.
/// Those the kernel gives no way to derive are in `not_derived` and left
/// out of the JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(transform = node_counters_schema)]
pub struct NodeCounters {
    pub node: u32,
    /// From mm_vmscan_lru_shrink_inactive: passes that isolated something.
    pub shrink_passes: u64,
    pub scanned: ByReclaimer,
    pub reclaimed: ByReclaimer,
    pub scanned_anon: u64,
    pub scanned_file: u64,
    pub reclaimed_anon: u64,
    pub reclaimed_file: u64,
    pub dirty: u64,
    pub writeback: u64,
    pub congested: u64,
    pub immediate: u64,
    pub unmap_fail: u64,
    pub activate_anon: u64,
    pub activate_file: u64,
    pub ref_keep: u64,
    /// From mm_vmscan_lru_shrink_active.
    pub refill_taken: u64,
    pub deactivated: u64,
    /// Pages entering each LRU list (mm_lru_insertion), in lru::NAMES order
    /// (in JSON by list name).
    #[serde(serialize_with = "super::named::per_list")]
    #[schemars(with = "super::named::PerList<u64>")]
    pub inserted: [u64; 5],
    pub inserted_folios: u64,
    /// Pages activated by folio_activate (mm_lru_activate): anon, file.
    pub lru_activated_anon: u64,
    pub lru_activated_file: u64,
    /// What the batches outside reclaim moved on this node.
    #[serde(flatten)]
    pub moved: BatchMoves,
    /// Pages folio_isolate_lru took off each list outside reclaim, which
    /// fires no tracepoint (migration, MADV_PAGEOUT, khugepaged, memory
    /// offline); their way back is an insertion (`inserted`). Absent where
    /// it is not hooked with its return. Compaction's migrate scanner
    /// isolates inline: `isolated_by_compaction`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolated_outside_reclaim: Option<PerList<u64>>,
    /// Pages the mlock batch moved between this node's lists or added to
    /// one, which fires no tracepoint: mlock (to the unevictable list),
    /// munlock (back from it), and the new folios of a locked VMA (added
    /// to it with no mm_lru_insertion). Absent where the batch is not
    /// hooked with its return (before 5.18 there is none: mlock isolates
    /// with folio_isolate_lru and puts back through the LRU-add batch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mlock_moved: Option<MlockMoves>,
    /// Pages compaction's migrate scanner (isolate_migratepages_block:
    /// compaction, CMA and alloc_contig) took off each list, inline with no
    /// tracepoint; their way back is an insertion. Absent where it is not
    /// hooked with its return (it needs bpf_loop, 5.17+).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolated_by_compaction: Option<PerList<u64>>,
    /// Pages the same scanner isolated that were on no LRU list (non-LRU
    /// movable pages: zsmalloc, balloon; hugetlb folios in
    /// alloc_contig_range's scans): not in any list's figure. With
    /// `isolated_by_compaction` they make the kernel's own total
    /// (mm_compaction_isolate_migratepages' nr_taken).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolated_by_compaction_not_lru: Option<u64>,
    /// The figures above this kernel leaves underivable, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_derived: Vec<NotDerived>,
}

fn node_counters_schema(schema: &mut schemars::Schema) {
    super::named::optional(schema, &NODE_PASS_FIELDS);
    super::named::optional(schema, &NODE_REFILL_FIELDS);
}

/// Pages the mlock batch moved on a node: per list entered and per list
/// left. A new folio of a locked VMA enters without leaving, so `into`
/// can exceed `out_of`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MlockMoves {
    pub into: PerList<u64>,
    pub out_of: PerList<u64>,
}

impl MlockMoves {
    /// Pages each list gained (negative: lost) by the batch.
    pub fn net(&self) -> [i64; 5] {
        let (i, o) = (self.into.to_array(), self.out_of.to_array());
        std::array::from_fn(|l| i[l] as i64 - o[l] as i64)
    }
}

/// Pages the per-CPU batches outside reclaim (no tracepoint fires there)
/// moved between lists, on a node or a lruvec. Each figure is absent where
/// it is not derived: pgdeactivate's and pglazyfree's reasons (the batch
/// not hooked; the deactivations under MGLRU).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct BatchMoves {
    /// MADV_COLD and invalidation (lru_deactivate, lru_deactivate_file):
    /// active anon -> inactive anon.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_deactivated_anon: Option<u64>,
    /// The same on the file LRU: active file -> inactive file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_deactivated_file: Option<u64>,
    /// MADV_FREE (lru_lazyfree): inactive anon -> inactive file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lazyfree_from_inactive: Option<u64>,
    /// MADV_FREE: active anon -> inactive file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lazyfree_from_active: Option<u64>,
    /// folio_activate's batch (lru_activate, mm_lru_activate): inactive
    /// anon -> active anon. Per lruvec only (the folio's memcg): a node's
    /// are its `lru_activated_anon`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activated_anon: Option<u64>,
    /// The same on the file LRU: inactive file -> active file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activated_file: Option<u64>,
}

impl BatchMoves {
    /// From pages in vmscan_common::memcg_move order, the deactivations
    /// and the lazyfree moves each where `k` derives them, and the
    /// activations (mm_lru_activate, a tracepoint: always).
    pub fn of_kinds(pages: [u64; memcg_move::COUNT as usize], k: &Counting) -> Self {
        let deactivate = k.deactivate && !k.mglru;
        let at = |kind: u32, derived: bool| derived.then_some(pages[kind as usize]);
        Self {
            batch_deactivated_anon: at(memcg_move::DEACTIVATED_ANON, deactivate),
            batch_deactivated_file: at(memcg_move::DEACTIVATED_FILE, deactivate),
            lazyfree_from_inactive: at(memcg_move::LAZYFREE_FROM_INACTIVE, k.lazyfree),
            lazyfree_from_active: at(memcg_move::LAZYFREE_FROM_ACTIVE, k.lazyfree),
            activated_anon: at(memcg_move::ACTIVATED_ANON, true),
            activated_file: at(memcg_move::ACTIVATED_FILE, true),
        }
    }

    /// The figures in vmscan_common::memcg_move order.
    pub fn by_kind(&self) -> [Option<u64>; memcg_move::COUNT as usize] {
        [
            self.batch_deactivated_anon,
            self.batch_deactivated_file,
            self.lazyfree_from_inactive,
            self.lazyfree_from_active,
            self.activated_anon,
            self.activated_file,
        ]
    }

    /// No page moved (or nothing derived).
    pub fn is_empty(&self) -> bool {
        self.by_kind().iter().all(|v| v.unwrap_or(0) == 0)
    }
}

impl Derives for NodeCounters {
    fn not_derived(&self) -> &[NotDerived] {
        &self.not_derived
    }
}

impl NodeCounters {
    fn is_empty(&self) -> bool {
        self.shrink_passes == 0
            && self.refill_taken == 0
            && self.inserted_folios == 0
            && self.lru_activated_anon + self.lru_activated_file == 0
            && self.moved.is_empty()
            && self
                .isolated_outside_reclaim
                .is_none_or(|l| l.to_array() == [0; 5])
            && self.mlock_moved.is_none_or(|m| m == MlockMoves::default())
            && self
                .isolated_by_compaction
                .is_none_or(|l| l.to_array() == [0; 5])
            && self.isolated_by_compaction_not_lru.unwrap_or(0) == 0
    }
}

/// Everything `vmscan stat` derives over one window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Counters {
    pub vmstat: Vmstat,
    /// Counters this kernel leaves vmscan no way to derive, with the reason
    /// (absent from `vmstat`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub underivable: BTreeMap<&'static str, &'static str>,
    /// Memory-cgroup limit reclaim, which the global pgscan_direct /
    /// pgsteal_direct leave out (cgroup_reclaim()) unless `memcg_in_direct`;
    /// pgscan_anon/file include it. None where the kernel's reclaim passes
    /// cannot be seen (MGLRU before 6.7, like pgscan_*): never a zero.
    pub memcg_scanned: Option<u64>,
    /// This kernel counts memory-cgroup limit reclaim in pgscan_direct /
    /// pgsteal_direct ([`Counting::memcg_in_global`]).
    pub memcg_in_direct: bool,
    /// As memcg_scanned, for the pages reclaimed.
    pub memcg_reclaimed: Option<u64>,
    /// Passes that vmscan could not attribute to a reclaimer (started before
    /// it attached, or proactive reclaim): in pgscan_anon/file only.
    pub other_scanned: u64,
    pub other_reclaimed: u64,
    /// Inactive-list scans that isolated nothing: the kernel counts them in
    /// pgscan_* but fires no node-carrying tracepoint for them.
    pub scanned_without_node: u64,
    /// reclaim_pages() outside reclaim passes (MADV_PAGEOUT, DAMON): its
    /// activations are in pgactivate, its pages in no pgscan/pgsteal.
    pub reclaim_pages: ReclaimPages,
    #[serde(serialize_with = "super::named::each_derived")]
    pub nodes: Vec<NodeCounters>,
    /// Nodes at or above vmscan's per-node limit, folded together.
    pub node_overflow: bool,
}

/// reclaim_pages() over a window (mm_vmscan_reclaim_pages), in pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ReclaimPages {
    pub calls: u64,
    pub scanned: u64,
    pub reclaimed: u64,
    pub activated: u64,
}

fn is_inactive(l: u32) -> bool {
    l == lru::INACTIVE_ANON || l == lru::INACTIVE_FILE
}

/// Derives the counters of a window (`t` is a delta from [`Totals::since`])
/// for the classic LRU, counted as vmscan assumed before it asked the kernel.
pub fn derive(t: &Totals) -> Counters {
    derive_with(t, &Counting::default())
}

/// The per-reclaimer split of a window as `k` counts it: mm/vmscan.c:
/// reclaimer_offset() has kswapd, direct, khugepaged (6.2+) and proactive
/// (6.16+); a reclaimer the kernel does not split counts as direct, and so
/// does __node_reclaim, and cgroup limit reclaim where the kernel counts it
/// globally ([`Counting::memcg_in_global`]). Returns (kswapd, direct,
/// khugepaged, proactive).
fn split(b: &ByReclaimer, k: &Counting) -> (u64, u64, Option<u64>, Option<u64>) {
    let mut direct = b.direct + b.node;
    if k.memcg_in_global {
        direct += b.memcg;
    }
    let khugepaged = k.khugepaged.then_some(b.khugepaged);
    let proactive = k.proactive.then_some(b.proactive);
    if !k.khugepaged {
        direct += b.khugepaged;
    }
    if !k.proactive {
        direct += b.proactive;
    }
    (b.kswapd, direct, khugepaged, proactive)
}

/// As [`derive`], counted as `k` says the kernel counts. Under MGLRU,
/// mm/vmscan.c: scan_folios() counts PGSCAN_* with the folios it *isolated*
/// (the tracepoint's nr_taken), not those it scanned, and its PGREFILL
/// ("sorted") has no tracepoint.
pub fn derive_with(t: &Totals, k: &Counting) -> Counters {
    let mut c = Counters::default();
    let scanned = derive_scans(t, k, &mut c.vmstat);
    (
        c.vmstat.pgscan_kswapd,
        c.vmstat.pgscan_direct,
        c.vmstat.pgscan_khugepaged,
        c.vmstat.pgscan_proactive,
    ) = split(&scanned, k);
    let passes_seen = k.passes_seen();
    c.memcg_scanned = passes_seen.then_some(scanned.memcg);
    c.other_scanned = scanned.other;

    let mut reclaimed = ByReclaimer::default();
    let mut node_scanned_total = 0;
    let mut activated = 0;
    for node in 0..NODE_SLOTS {
        let n = node_counters(t, k, node, &mut reclaimed);
        node_scanned_total += n.scanned.total();
        let v = &mut c.vmstat;
        v.pgsteal_anon += n.reclaimed_anon;
        v.pgsteal_file += n.reclaimed_file;
        activated +=
            n.activate_anon + n.activate_file + n.lru_activated_anon + n.lru_activated_file;
        if !n.is_empty() || node == 0 {
            c.node_overflow |= node == vmscan_common::NODE_OVERFLOW;
            c.nodes.push(n);
        }
    }
    for a in &t.reclaim_pages {
        let rp = &mut c.reclaim_pages;
        rp.calls += a.events;
        rp.scanned += a.scanned;
        rp.reclaimed += a.reclaimed;
        rp.activated += a.activate_anon + a.activate_file;
    }
    if k.refaults {
        let v = &mut c.vmstat;
        let (mut refault, mut activate, mut restore) = ([0u64; 2], [0u64; 2], [0u64; 2]);
        for (key, a) in &t.refault {
            let i = usize::from(key.file != 0);
            refault[i] += a.pages;
            activate[i] += a.activated;
            restore[i] += a.restored;
        }
        (v.workingset_refault_anon, v.workingset_refault_file) =
            (Some(refault[0]), Some(refault[1]));
        (v.workingset_restore_anon, v.workingset_restore_file) =
            (Some(restore[0]), Some(restore[1]));
        if !k.mglru {
            (v.workingset_activate_anon, v.workingset_activate_file) =
                (Some(activate[0]), Some(activate[1]));
        }
    }
    let v = &mut c.vmstat;
    // shrink_folio_list() counts PGACTIVATE for reclaim_pages() too.
    v.pgactivate = k
        .passes_seen()
        .then_some(activated + c.reclaim_pages.activated);
    (
        v.pgsteal_kswapd,
        v.pgsteal_direct,
        v.pgsteal_khugepaged,
        v.pgsteal_proactive,
    ) = split(&reclaimed, k);
    if k.demote {
        // Only the kswapd, direct, khugepaged and proactive slots count:
        // reclaimer_offset() names no other.
        let mut demoted = ByReclaimer::default();
        for (rec, &pages) in t.demote.iter().enumerate() {
            demoted.add(rec as u32, pages);
        }
        let (kswapd, direct, khugepaged, proactive) = split(&demoted, k);
        (
            v.pgdemote_kswapd,
            v.pgdemote_direct,
            v.pgdemote_khugepaged,
            v.pgdemote_proactive,
        ) = (Some(kswapd), Some(direct), khugepaged, proactive);
    }
    v.pglazyfree = k.lazyfree.then(|| t.lazyfree.iter().sum());
    v.pgdeactivate = (k.deactivate && !k.mglru).then(|| {
        t.shrink_active.iter().map(|s| s.deactivated).sum::<u64>()
            + t.deactivate.iter().sum::<u64>()
    });
    c.memcg_reclaimed = passes_seen.then_some(reclaimed.memcg);
    c.other_reclaimed = reclaimed.other;
    c.scanned_without_node = (v.pgscan_anon + v.pgscan_file).saturating_sub(node_scanned_total);
    v.scan_steal_underivable = !k.passes_seen();
    c.underivable = k.underivable();
    c.memcg_in_direct = k.memcg_in_global;
    c
}

/// pgscan_anon/file and pgrefill from the isolations; returns the inactive
/// scans by reclaimer.
fn derive_scans(t: &Totals, k: &Counting, v: &mut Vmstat) -> ByReclaimer {
    let mut scanned = ByReclaimer::default();
    let mut refill = 0;
    for rec in 0..reclaimer::COUNT {
        for l in 0..lru::COUNT {
            let a = &t.isolate[isolate_index(rec, l) as usize];
            if is_inactive(l) {
                let n = if k.mglru { a.taken } else { a.scanned };
                scanned.add(rec, n);
                if l == lru::INACTIVE_ANON {
                    v.pgscan_anon += n;
                } else {
                    v.pgscan_file += n;
                }
            } else if l != lru::UNEVICTABLE && (rec != reclaimer::MEMCG || k.memcg_in_global) {
                refill += a.scanned;
            }
        }
    }
    v.pgrefill = (!k.mglru).then_some(refill);
    scanned
}

/// One node's figures; adds its reclaimed pages by reclaimer to `reclaimed`.
fn node_counters(t: &Totals, k: &Counting, node: u32, reclaimed: &mut ByReclaimer) -> NodeCounters {
    let mut n = NodeCounters {
        node,
        not_derived: k.node_not_derived(&NODE_PASS_FIELDS, &NODE_REFILL_FIELDS),
        ..NodeCounters::default()
    };
    for rec in 0..reclaimer::COUNT {
        for file in 0..2u32 {
            let a = &t.shrink_inactive[shrink_index(node, rec, file) as usize];
            n.shrink_passes += a.passes;
            n.scanned.add(rec, a.scanned);
            n.reclaimed.add(rec, a.reclaimed);
            reclaimed.add(rec, a.reclaimed);
            if file == 1 {
                n.scanned_file += a.scanned;
                n.reclaimed_file += a.reclaimed;
            } else {
                n.scanned_anon += a.scanned;
                n.reclaimed_anon += a.reclaimed;
            }
            n.dirty += a.dirty;
            n.writeback += a.writeback;
            n.congested += a.congested;
            n.immediate += a.immediate;
            n.unmap_fail += a.unmap_fail;
            n.activate_anon += a.activate_anon;
            n.activate_file += a.activate_file;
            n.ref_keep += a.ref_keep;
            let s = &t.shrink_active[shrink_index(node, rec, file) as usize];
            n.refill_taken += s.taken;
            n.deactivated += s.deactivated;
        }
    }
    for l in 0..lru::COUNT {
        let ins = &t.lru_insert[lru_index(node, l) as usize];
        n.inserted[l as usize] = ins.pages;
        n.inserted_folios += ins.folios;
    }
    n.lru_activated_anon = t.lru_activate[lru_index(node, lru::ACTIVE_ANON) as usize].pages;
    n.lru_activated_file = t.lru_activate[lru_index(node, lru::ACTIVE_FILE) as usize].pages;
    let batches = |file| {
        [deactivate::COLD, deactivate::FILE]
            .map(|b| t.deactivate[deactivate_index(b, node, file) as usize])
            .iter()
            .sum()
    };
    let lazyfree = |active| t.lazyfree[lazyfree_index(node, active) as usize];
    // A node's activations are its lru_activated_*, not repeated here.
    n.moved = BatchMoves {
        activated_anon: None,
        activated_file: None,
        ..BatchMoves::of_kinds([batches(0), batches(1), lazyfree(0), lazyfree(1), 0, 0], k)
    };
    // One figure a list from a per-CPU array kept by node and list.
    let per_list = |table: &[u64], slot: &dyn Fn(u32) -> u32| {
        PerList::from_array(&std::array::from_fn(|l| {
            table.get(slot(l as u32) as usize).copied().unwrap_or(0)
        }))
    };
    let by_list = |l| lru_index(node, l);
    n.isolated_outside_reclaim = k.isolate_lru.then(|| per_list(&t.isolated, &by_list));
    let mlock = |out| per_list(&t.mlock_moved, &|l| mlock_index(node, l, out));
    n.isolated_by_compaction = k.compact.then(|| per_list(&t.compact_isolated, &by_list));
    n.isolated_by_compaction_not_lru = k.compact.then(|| {
        t.compact_isolated
            .get(compact_not_lru_index(node) as usize)
            .copied()
            .unwrap_or(0)
    });
    n.mlock_moved = k.mlock.then(|| MlockMoves {
        into: mlock(false),
        out_of: mlock(true),
    });
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_steal_is_every_pgscan_and_pgsteal_counter() {
        let want: Vec<&str> = Vmstat::NAMES
            .into_iter()
            .filter(|n| n.starts_with("pgscan_") || n.starts_with("pgsteal_"))
            .collect();
        assert_eq!(SCAN_STEAL, want);
    }

    fn iso(t: &mut Totals, rec: u32, l: u32, scanned: u64, taken: u64) {
        let a = &mut t.isolate[isolate_index(rec, l) as usize];
        a.events += 1;
        a.scanned += scanned;
        a.taken += taken;
    }

    fn shrink(t: &mut Totals, node: u32, rec: u32, file: u32, scanned: u64, reclaimed: u64) {
        let a = &mut t.shrink_inactive[shrink_index(node, rec, file) as usize];
        a.passes += 1;
        a.scanned += scanned;
        a.reclaimed += reclaimed;
        a.activate_file += 1;
    }

    #[test]
    fn reclaim_pages_activations_are_in_pgactivate_and_its_pages_in_no_pgscan() {
        let mut t = Totals::default();
        t.reclaim_pages[0] = vmscan_common::ReclaimPagesAgg {
            events: 2,
            scanned: 512,
            reclaimed: 500,
            activate_anon: 3,
            activate_file: 9,
        };
        let c = derive(&t);
        assert_eq!(c.vmstat.pgactivate, Some(12));
        assert_eq!(
            (
                c.vmstat.pgscan_file,
                c.vmstat.pgsteal_file,
                c.vmstat.pgscan_direct
            ),
            (0, 0, 0)
        );
        assert_eq!(
            c.reclaim_pages,
            ReclaimPages {
                calls: 2,
                scanned: 512,
                reclaimed: 500,
                activated: 12
            }
        );
    }

    #[test]
    fn lazyfree_pages_are_counted_only_where_lru_lazyfree_is_hooked() {
        let mut t = Totals::default();
        t.lazyfree[lazyfree_index(0, 0) as usize] = 500;
        t.lazyfree[lazyfree_index(1, 1) as usize] = 13;
        let off = derive_with(&t, &Counting::default());
        assert_eq!(off.vmstat.pglazyfree, None);
        assert!(
            off.nodes
                .iter()
                .all(|n| n.moved.lazyfree_from_inactive.is_none()
                    && n.moved.lazyfree_from_active.is_none())
        );
        assert!(off.underivable.contains_key("pglazyfree"));
        assert!(
            !off.vmstat.fields().iter().any(|(k, _)| *k == "pglazyfree"),
            "never a zero that looks like truth"
        );
        let on = derive_with(
            &t,
            &Counting {
                lazyfree: true,
                ..Counting::default()
            },
        );
        assert_eq!(on.vmstat.pglazyfree, Some(513));
        assert!(!on.underivable.contains_key("pglazyfree"));
        assert!(on.vmstat.fields().contains(&("pglazyfree", 513)));
        // Per node, by the anon list the pages left.
        let by_node: Vec<_> = on
            .nodes
            .iter()
            .map(|n| {
                (
                    n.node,
                    n.moved.lazyfree_from_inactive,
                    n.moved.lazyfree_from_active,
                )
            })
            .collect();
        assert_eq!(
            by_node,
            vec![(0, Some(500), Some(0)), (1, Some(0), Some(13))]
        );
    }

    #[test]
    fn deactivations_add_reclaim_and_the_batches_where_both_are_hooked() {
        let mut t = Totals::default();
        t.deactivate[deactivate_index(deactivate::COLD, 0, 1) as usize] = 500;
        t.deactivate[deactivate_index(deactivate::COLD, 1, 0) as usize] = 12;
        t.deactivate[deactivate_index(deactivate::FILE, 1, 1) as usize] = 7;
        t.shrink_active[shrink_index(0, reclaimer::KSWAPD, 1) as usize].deactivated = 30;
        t.shrink_active[shrink_index(1, reclaimer::MEMCG, 0) as usize].deactivated = 4;
        let off = derive_with(&t, &Counting::default());
        assert_eq!(off.vmstat.pgdeactivate, None);
        assert_eq!(off.underivable["pgdeactivate"], NO_DEACTIVATE_HOOK);
        assert!(
            !off.vmstat
                .fields()
                .iter()
                .any(|(k, _)| *k == "pgdeactivate"),
            "never a zero that looks like truth"
        );
        let hooked = Counting {
            deactivate: true,
            ..Counting::default()
        };
        let on = derive_with(&t, &hooked);
        assert_eq!(on.vmstat.pgdeactivate, Some(512 + 7 + 30 + 4));
        assert!(!on.underivable.contains_key("pgdeactivate"));
        assert!(on.vmstat.fields().contains(&("pgdeactivate", 553)));
        // The batches' moves per node and type (reclaim's own are each
        // node's `deactivated`).
        let by_node: Vec<_> = on
            .nodes
            .iter()
            .map(|n| {
                (
                    n.node,
                    n.moved.batch_deactivated_anon,
                    n.moved.batch_deactivated_file,
                    n.deactivated,
                )
            })
            .collect();
        assert_eq!(
            by_node,
            vec![(0, Some(0), Some(500), 30), (1, Some(12), Some(7), 4)]
        );
        // MGLRU: which invalidated folios count depends on a kernel change
        // neither BTF nor the version shows.
        let mglru = derive_with(
            &t,
            &Counting {
                mglru: true,
                ..hooked
            },
        );
        assert_eq!(mglru.vmstat.pgdeactivate, None);
        assert_eq!(mglru.underivable["pgdeactivate"], NO_MGLRU_DEACTIVATE);
        assert!(
            mglru
                .nodes
                .iter()
                .all(|n| n.moved.batch_deactivated_file.is_none())
        );
    }

    #[test]
    fn demoted_pages_are_counted_by_reclaimer_only_where_demotion_is_hooked() {
        let mut t = Totals::default();
        for (rec, n) in [
            (reclaimer::KSWAPD, 5),
            (reclaimer::DIRECT, 7),
            (reclaimer::KHUGEPAGED, 2),
            (reclaimer::PROACTIVE, 3),
        ] {
            t.demote[rec as usize] = n;
        }
        let off = derive_with(&t, &Counting::default());
        assert_eq!(off.vmstat.pgdemote_direct, None);
        assert!(off.underivable.contains_key("pgdemote_*"));
        assert!(
            !off.vmstat
                .fields()
                .iter()
                .any(|(k, _)| k.starts_with("pgdemote")),
            "never a zero that looks like truth"
        );
        // 6.1: kswapd or direct.
        let v = derive_with(
            &t,
            &Counting {
                demote: true,
                khugepaged: false,
                ..Counting::default()
            },
        )
        .vmstat;
        assert_eq!(
            (
                v.pgdemote_kswapd,
                v.pgdemote_direct,
                v.pgdemote_khugepaged,
                v.pgdemote_proactive
            ),
            (Some(5), Some(12), None, None)
        );
        // 6.16+: all four.
        let c = derive_with(
            &t,
            &Counting {
                demote: true,
                proactive: true,
                ..Counting::default()
            },
        );
        let v = c.vmstat;
        assert_eq!(
            (
                v.pgdemote_kswapd,
                v.pgdemote_direct,
                v.pgdemote_khugepaged,
                v.pgdemote_proactive
            ),
            (Some(5), Some(7), Some(2), Some(3))
        );
        assert!(!c.underivable.contains_key("pgdemote_*"));
    }

    #[test]
    fn khugepaged_and_proactive_are_split_only_where_the_kernel_splits_them() {
        let mut t = Totals::default();
        for (rec, n) in [
            (reclaimer::DIRECT, 10),
            (reclaimer::KHUGEPAGED, 3),
            (reclaimer::PROACTIVE, 500),
            (reclaimer::NODE, 2),
        ] {
            iso(&mut t, rec, lru::INACTIVE_FILE, n, n);
            shrink(&mut t, 0, rec, 1, n, n - 1);
        }
        // 6.18: both items exist.
        let v = derive_with(
            &t,
            &Counting {
                mglru: false,
                khugepaged: true,
                proactive: true,
                mglru_tracepoints: true,
                memcg_in_global: false,
                refaults: false,
                demote: false,
                demote_node_stat: false,
                lazyfree: false,
                deactivate: false,
                mglru_evict_hooks: false,
                memcg_reclaim: false,
                isolate_lru: false,
                mlock: false,
                compact: false,
            },
        )
        .vmstat;
        assert_eq!(
            (v.pgscan_direct, v.pgscan_khugepaged, v.pgscan_proactive),
            (12, Some(3), Some(500))
        );
        assert_eq!(
            (v.pgsteal_direct, v.pgsteal_khugepaged, v.pgsteal_proactive),
            (10, Some(2), Some(499))
        );
        // 6.2..6.15: no PGSCAN_PROACTIVE, proactive reclaim counts as direct.
        let v = derive_with(
            &t,
            &Counting {
                mglru: false,
                khugepaged: true,
                proactive: false,
                mglru_tracepoints: true,
                memcg_in_global: false,
                refaults: false,
                demote: false,
                demote_node_stat: false,
                lazyfree: false,
                deactivate: false,
                mglru_evict_hooks: false,
                memcg_reclaim: false,
                isolate_lru: false,
                mlock: false,
                compact: false,
            },
        )
        .vmstat;
        assert_eq!(
            (v.pgscan_direct, v.pgscan_khugepaged, v.pgscan_proactive),
            (512, Some(3), None)
        );
        // 6.1: neither.
        let v = derive_with(
            &t,
            &Counting {
                mglru: false,
                khugepaged: false,
                proactive: false,
                mglru_tracepoints: true,
                memcg_in_global: false,
                refaults: false,
                demote: false,
                demote_node_stat: false,
                lazyfree: false,
                deactivate: false,
                mglru_evict_hooks: false,
                memcg_reclaim: false,
                isolate_lru: false,
                mlock: false,
                compact: false,
            },
        )
        .vmstat;
        assert_eq!((v.pgscan_direct, v.pgscan_khugepaged), (515, None));
        assert_eq!(v.pgsteal_direct, 9 + 2 + 499 + 1);
        assert!(
            !v.fields()
                .iter()
                .any(|(k, _)| k.contains("khugepaged") || k.contains("proactive"))
        );
        assert_eq!(v.pgscan_file, 515, "every reclaimer is in pgscan_file");
    }

    #[test]
    fn vmstat_names_follow_the_kernels_accounting() {
        let mut t = Totals::default();
        iso(&mut t, reclaimer::KSWAPD, lru::INACTIVE_FILE, 100, 90);
        shrink(&mut t, 0, reclaimer::KSWAPD, 1, 100, 80);
        iso(&mut t, reclaimer::DIRECT, lru::INACTIVE_ANON, 32, 32);
        shrink(&mut t, 1, reclaimer::DIRECT, 0, 32, 30);
        iso(&mut t, reclaimer::NODE, lru::INACTIVE_FILE, 8, 8);
        shrink(&mut t, 1, reclaimer::NODE, 1, 8, 8);
        iso(&mut t, reclaimer::MEMCG, lru::INACTIVE_FILE, 64, 64);
        shrink(&mut t, 0, reclaimer::MEMCG, 1, 64, 60);
        // Scanned, nothing taken: no shrink_inactive tracepoint fires.
        iso(&mut t, reclaimer::MEMCG, lru::INACTIVE_FILE, 5, 0);
        iso(&mut t, reclaimer::KSWAPD, lru::ACTIVE_FILE, 40, 40);
        iso(&mut t, reclaimer::MEMCG, lru::ACTIVE_FILE, 7, 7);
        t.lru_activate[lru_index(0, lru::ACTIVE_FILE) as usize].pages = 12;

        let c = derive(&t);
        let v = c.vmstat;
        assert_eq!(v.pgscan_kswapd, 100);
        assert_eq!(v.pgscan_direct, 40, "direct + node reclaim");
        assert_eq!(
            v.pgscan_file,
            100 + 8 + 64 + 5,
            "memcg included in pgscan_file"
        );
        assert_eq!(v.pgscan_anon, 32);
        assert_eq!(v.pgsteal_kswapd, 80);
        assert_eq!(v.pgsteal_direct, 38);
        assert_eq!(v.pgsteal_file, 80 + 8 + 60);
        assert_eq!(v.pgsteal_anon, 30);
        assert_eq!(
            v.pgrefill,
            Some(40),
            "memcg refill left out like the kernel does"
        );
        assert_eq!(v.pgactivate, Some(12 + 4));
        assert_eq!(c.memcg_scanned, Some(69));
        assert_eq!(c.memcg_reclaimed, Some(60));
        assert_eq!(c.scanned_without_node, 5);
        assert_eq!(c.nodes.len(), 2);
        assert_eq!(c.nodes[1].reclaimed.direct, 30);
        assert_eq!(c.nodes[1].reclaimed.node, 8);
        assert_eq!(c.nodes[0].scanned_file, 164);
    }

    #[test]
    fn per_node_counters_take_memcg_reclaim_into_direct() {
        let mut t = Totals::default();
        iso(&mut t, reclaimer::MEMCG, lru::INACTIVE_FILE, 64, 64);
        shrink(&mut t, 0, reclaimer::MEMCG, 1, 64, 60);
        iso(&mut t, reclaimer::MEMCG, lru::ACTIVE_FILE, 7, 7);
        iso(&mut t, reclaimer::DIRECT, lru::INACTIVE_FILE, 10, 10);
        shrink(&mut t, 0, reclaimer::DIRECT, 1, 10, 9);
        // 6.x: cgroup reclaim stays out of the global direct counters.
        let c = derive(&t);
        assert_eq!(
            (
                c.vmstat.pgscan_direct,
                c.vmstat.pgsteal_direct,
                c.vmstat.pgrefill
            ),
            (10, 9, Some(0))
        );
        assert!(!c.memcg_in_direct);
        // 7.x (node_stat_item): it is direct reclaim like any other.
        let c = derive_with(
            &t,
            &Counting {
                memcg_in_global: true,
                ..Counting::default()
            },
        );
        assert_eq!(
            (
                c.vmstat.pgscan_direct,
                c.vmstat.pgsteal_direct,
                c.vmstat.pgrefill
            ),
            (74, 69, Some(7))
        );
        assert_eq!(c.vmstat.pgscan_file, 74, "pgscan_file had it all along");
        assert!(c.memcg_in_direct);
    }

    #[test]
    fn mlock_moves_per_node_only_where_the_batch_is_hooked() {
        let mut t = Totals::default();
        let mut set =
            |node, l, out, pages| t.mlock_moved[mlock_index(node, l, out) as usize] = pages;
        // Node 1: 300 file pages mlocked (200 from inactive, 100 from
        // active), 50 new anon folios onto unevictable, 120 munlocked.
        set(1, lru::INACTIVE_FILE, true, 200);
        set(1, lru::ACTIVE_FILE, true, 100);
        set(1, lru::UNEVICTABLE, false, 350);
        set(1, lru::UNEVICTABLE, true, 120);
        set(1, lru::INACTIVE_FILE, false, 120);
        set(0, lru::UNEVICTABLE, false, 7);
        let k = Counting {
            mlock: true,
            ..Counting::default()
        };
        let n = node_counters(&t, &k, 1, &mut ByReclaimer::default());
        let m = n.mlock_moved.expect("hooked");
        assert_eq!(m.into.to_array(), [0, 0, 120, 0, 350]);
        assert_eq!(m.out_of.to_array(), [0, 0, 200, 100, 120]);
        assert_eq!(m.net(), [0, 0, -80, -100, 230]);
        assert!(!n.is_empty());
        let not_hooked = node_counters(&t, &Counting::default(), 1, &mut ByReclaimer::default());
        assert_eq!(not_hooked.mlock_moved, None, "absent, not zero");
        assert_eq!(not_hooked.isolated_by_compaction, None, "absent, not zero");
        t.compact_isolated[lru_index(1, lru::ACTIVE_ANON) as usize] = 9;
        t.compact_isolated[compact_not_lru_index(1) as usize] = 2;
        let k = Counting {
            compact: true,
            ..Counting::default()
        };
        let n = node_counters(&t, &k, 1, &mut ByReclaimer::default());
        assert_eq!(
            n.isolated_by_compaction.map(|l| l.to_array()),
            Some([0, 9, 0, 0, 0])
        );
        assert_eq!(
            n.isolated_by_compaction_not_lru,
            Some(2),
            "apart from the lists"
        );
        assert_eq!(n.mlock_moved, None, "the batch not hooked");
        let json = serde_json::to_value(&not_hooked).unwrap();
        assert!(json.get("mlock_moved").is_none());
    }

    #[test]
    fn mglru_counts_isolated_folios_and_has_no_refill() {
        let mut t = Totals::default();
        iso(&mut t, reclaimer::KSWAPD, lru::INACTIVE_FILE, 100, 64);
        let classic = derive(&t).vmstat;
        let mglru = derive_with(
            &t,
            &Counting {
                mglru: true,
                ..Counting::default()
            },
        )
        .vmstat;
        assert_eq!((classic.pgscan_file, classic.pgscan_kswapd), (100, 100));
        assert_eq!((mglru.pgscan_file, mglru.pgscan_kswapd), (64, 64));
        assert_eq!(mglru.pgrefill, None);
        assert!(!mglru.fields().iter().any(|(k, _)| *k == "pgrefill"));
    }

    #[test]
    fn mglru_before_its_tracepoints_leaves_scans_and_steals_out_with_the_reason() {
        let mut t = Totals::default();
        // What 6.1 with MGLRU on shows: the classic path's few events (none
        // here) and nothing from MGLRU's eviction, while /proc/vmstat moves.
        iso(&mut t, reclaimer::KSWAPD, lru::INACTIVE_FILE, 0, 0);
        let k = Counting {
            mglru: true,
            mglru_tracepoints: false,
            khugepaged: false,
            proactive: false,
            memcg_in_global: false,
            refaults: false,
            demote: false,
            demote_node_stat: false,
            lazyfree: false,
            deactivate: false,
            mglru_evict_hooks: false,
            memcg_reclaim: false,
            isolate_lru: false,
            mlock: false,
            compact: false,
        };
        let c = derive_with(&t, &k);
        let names: Vec<&str> = c.vmstat.fields().iter().map(|(n, _)| *n).collect();
        assert!(
            names.is_empty(),
            "no pgscan/pgsteal zeros that look like truth, nor a pgactivate short of eviction's activations: {names:?}"
        );
        assert_eq!(
            c.underivable.get("pgactivate"),
            Some(&NO_MGLRU_RECLAIM_ACTIVATE)
        );
        assert_eq!(
            c.underivable.get("pgscan_file"),
            Some(&NO_MGLRU_TRACEPOINTS)
        );
        assert_eq!(
            c.underivable.get("pgsteal_kswapd"),
            Some(&NO_MGLRU_TRACEPOINTS)
        );
        assert_eq!(c.underivable.get("pgrefill"), Some(&NO_MGLRU_REFILL));
        let j = serde_json::to_value(&c).unwrap();
        assert!(j["vmstat"].get("pgscan_file").is_none(), "{j}");
        assert_eq!(j["underivable"]["pgsteal_file"], NO_MGLRU_TRACEPOINTS);
        // Nor memcg reclaim zeros: no figure.
        assert_eq!((c.memcg_scanned, c.memcg_reclaimed), (None, None));
        assert!(j["memcg_scanned"].is_null(), "{j}");
        // The same kernel with MGLRU off, or 6.7+ with it on: all derived.
        for k in [
            Counting { mglru: false, ..k },
            Counting {
                mglru_tracepoints: true,
                ..k
            },
            // Before 6.7 with evict_folios & co. hooked.
            Counting {
                mglru_evict_hooks: true,
                ..k
            },
        ] {
            let c = derive_with(&t, &k);
            assert!(
                c.vmstat.fields().iter().any(|(n, _)| *n == "pgscan_file"),
                "{k:?}"
            );
            assert!(!c.underivable.contains_key("pgscan_file"));
            assert!(!c.underivable.contains_key("pgactivate"));
            assert!(serde_json::to_value(&c).unwrap()["vmstat"]["pgsteal_file"].is_u64());
            assert!(serde_json::to_value(&c).unwrap()["vmstat"]["pgactivate"].is_u64());
            assert_eq!(c.memcg_scanned, Some(0), "{k:?}");
        }
    }

    #[test]
    fn refault_counters_only_where_hooked_and_no_activations_under_mglru() {
        use vmscan_common::{RefaultAgg, RefaultKey};
        let mut t = Totals::default();
        let key = |cgroup_id, file| RefaultKey {
            cgroup_id,
            node: 0,
            file,
        };
        t.refault.insert(
            key(5, 1),
            RefaultAgg {
                pages: 300,
                folios: 200,
                activated: 40,
                restored: 7,
                ..Default::default()
            },
        );
        t.refault.insert(
            key(9, 1),
            RefaultAgg {
                pages: 20,
                folios: 20,
                activated: 2,
                restored: 1,
                ..Default::default()
            },
        );
        t.refault.insert(
            key(5, 0),
            RefaultAgg {
                pages: 11,
                folios: 11,
                activated: 3,
                restored: 0,
                uncounted: 4,
                ..Default::default()
            },
        );
        let not_hooked = derive_with(&t, &Counting::default()).vmstat;
        assert!(
            not_hooked
                .fields()
                .iter()
                .all(|(k, _)| !k.starts_with("workingset_")),
            "no zeros where the hook is missing"
        );
        let classic = derive_with(
            &t,
            &Counting {
                refaults: true,
                ..Counting::default()
            },
        )
        .vmstat
        .fields();
        let get = |f: &[(&str, u64)], k: &str| f.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        assert_eq!(get(&classic, "workingset_refault_file"), Some(320));
        assert_eq!(get(&classic, "workingset_refault_anon"), Some(11));
        assert_eq!(get(&classic, "workingset_activate_file"), Some(42));
        assert_eq!(get(&classic, "workingset_restore_file"), Some(8));
        assert_eq!(get(&classic, "workingset_restore_anon"), Some(0));
        let mglru = derive_with(
            &t,
            &Counting {
                refaults: true,
                mglru: true,
                ..Counting::default()
            },
        )
        .vmstat
        .fields();
        assert_eq!(
            (
                get(&mglru, "workingset_activate_file"),
                get(&mglru, "workingset_refault_file")
            ),
            (None, Some(320))
        );
    }

    #[test]
    fn empty_window_still_shows_node_zero() {
        let c = derive(&Totals::default());
        let zero = Vmstat {
            pgrefill: Some(0),
            pgactivate: Some(0),
            pgscan_khugepaged: Some(0),
            pgsteal_khugepaged: Some(0),
            ..Vmstat::default()
        };
        assert_eq!(c.vmstat, zero);
        assert_eq!(c.nodes.len(), 1);
        assert_eq!(c.nodes[0].node, 0);
        assert!(!c.node_overflow);
    }

    #[test]
    fn shrink_node_figures_are_passes_and_both_programs_losses() {
        use crate::model::totals::hook_figures;
        use vmscan_common::hook;
        let mut hits = vec![0u64; hook::SLOTS as usize];
        let mut lost = vec![0u64; hook::SLOTS as usize];
        hits[hook::SHRINK_NODE.slot() as usize] = 10;
        hits[hook::SHRINK_NODE_RET.slot() as usize] = 9;
        lost[hook::SHRINK_NODE.slot() as usize] = 1;
        lost[hook::SHRINK_NODE_RET.slot() as usize] = 2;
        hits[hook::LRU_ISOLATE.slot() as usize] = 7;
        assert_eq!(hook_figures(&hits, &lost, hook::SHRINK_NODE), (10, 3));
        assert_eq!(hook_figures(&hits, &lost, hook::LRU_ISOLATE), (7, 0));
        assert_eq!(hook_figures(&[], &[], hook::LRU_ISOLATE), (0, 0));
    }
}
