//! What the model shows: plain data, shared by the terminal UI, the
//! exporter, the recorder and --json. Nothing here computes; the model
//! fills these in.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::{
    counters::{BatchMoves, Counters},
    hist::{HistSummary, Log2Hist},
    input::{Generation, Lists},
    kswapd::Kswapd,
    kube::KubePod,
    named::{Derives, NotDerived},
};

/// Direct-reclaim stalls a snapshot shows (the model keeps more).
pub const SNAPSHOT_STALLS: usize = 32;
/// folio_mark_accessed stacks a snapshot shows, by calls.
pub const TOP_ACCESS_STACKS: usize = 64;
/// The kernel's starting scan priority (DEF_PRIORITY in mm/vmscan.c); a
/// pass at priority p scans 1/2^p of a list, 0 being the most desperate.
pub const DEF_PRIORITY: usize = vmscan_common::DEF_PRIORITY as usize;
/// Scan priorities 0..=DEF_PRIORITY.
pub const PRIORITY_LEVELS: usize = DEF_PRIORITY + 1;

/// One direct-reclaim stall (an allocating task reclaiming for itself).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Stall {
    pub end_ns: u64,
    pub pid: u32,
    pub comm: String,
    pub reclaimer: String,
    pub cgroup_id: u64,
    pub memcg: Option<String>,
    pub latency_us: u64,
    pub reclaimed: u64,
    pub order: i32,
    pub nid: i32,
}

/// [`Rates`]' figures from reclaim's shrink passes
/// (mm_vmscan_lru_shrink_inactive), by JSON name.
pub const RATE_PASS_FIELDS: [&str; 14] = [
    "activated_by_reclaim",
    "scanned",
    "scanned_anon",
    "scanned_file",
    "reclaimed",
    "reclaimed_kswapd",
    "reclaimed_direct",
    "reclaimed_memcg",
    "ref_keep",
    "dirty",
    "writeback",
    "congested",
    "immediate",
    "unmap_fail",
];
/// [`Rates`]' figures that need shrink_active_list, where the batches
/// outside reclaim are not derived either.
pub const RATE_REFILL_FIELDS: [&str; 1] = ["deactivated"];
/// [`NodeSnap`]'s figures from the shrink passes.
const NODE_SNAP_PASS_FIELDS: [&str; 3] = ["balance", "priority", "kswapd.reclaimed_in_episode"];

/// Per-second flows of one node over the last interval (pages/s). Those
/// the kernel gives no way to derive are in `not_derived` and left out of
/// the JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
#[schemars(transform = rates_schema)]
pub struct Rates {
    /// Pages entering each list per second.
    #[serde(serialize_with = "super::named::per_list")]
    #[schemars(with = "super::named::PerList<f64>")]
    pub inserted: [f64; 5],
    /// folio_activate (mm_lru_activate), i.e. mark_page_accessed promotions
    /// and other explicit activations.
    pub activated_by_access: f64,
    /// shrink_folio_list's nr_activate (folio_check_references said keep).
    pub activated_by_reclaim: f64,
    /// Active -> inactive: reclaim's shrink_active_list and the batches
    /// outside it (where hooked).
    pub deactivated: f64,
    /// Of `deactivated`, what the MADV_COLD and invalidation batches moved;
    /// absent where they are not hooked, and under MGLRU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deactivated_by_batches: Option<f64>,
    /// MADV_FREE: anon -> inactive file; absent where not hooked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lazyfree: Option<f64>,
    pub scanned: f64,
    pub scanned_anon: f64,
    pub scanned_file: f64,
    pub reclaimed: f64,
    pub reclaimed_kswapd: f64,
    pub reclaimed_direct: f64,
    pub reclaimed_memcg: f64,
    pub ref_keep: f64,
    pub dirty: f64,
    pub writeback: f64,
    pub congested: f64,
    pub immediate: f64,
    pub unmap_fail: f64,
    /// The figures above this kernel leaves underivable, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_derived: Vec<NotDerived>,
}

fn rates_schema(schema: &mut schemars::Schema) {
    super::named::optional(schema, &RATE_PASS_FIELDS);
    super::named::optional(schema, &RATE_REFILL_FIELDS);
}

impl Derives for Rates {
    fn not_derived(&self) -> &[NotDerived] {
        &self.not_derived
    }
}

/// What the model shows: plain data, shared by TUI, exporter, recorder and --json.
#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
pub struct Snapshot {
    pub ts_ns: u64,
    pub interval_secs: f64,
    pub mglru: Option<bool>,
    pub vm_swappiness: Option<u32>,
    /// How long before this snapshot MGLRU's generations (the lruvecs'
    /// `generations`) were read: their ages are as of then. With many
    /// memcgs debugfs's lru_gen is read only every so often. None without
    /// generations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lru_gen_read_secs_ago: Option<f64>,
    #[serde(serialize_with = "super::named::each_derived")]
    pub nodes: Vec<NodeSnap>,
    pub lruvecs: Vec<LruvecSnap>,
    pub memcgs: Vec<MemcgSnap>,
    /// The newest [`SNAPSHOT_STALLS`] direct-reclaim stalls, newest first.
    pub stalls: Vec<Stall>,
    pub stalls_dropped: u64,
    pub isolation: Vec<IsolationSnap>,
    pub histograms: BTreeMap<String, HistSnap>,
    pub findings: Vec<Finding>,
    /// Counters since the model started (pages).
    pub totals: Counters,
    pub lost_total: u64,
    /// folio_mark_accessed since start, by (outcome, exiting, file); the
    /// per-stack split is in `access_stacks`.
    pub access: Vec<AccessRow>,
    /// Calls per kernel stack id (the [`TOP_ACCESS_STACKS`] most called), with
    /// the stack's symbols when known.
    pub access_stacks: Vec<AccessStack>,
    /// Program runs and lost records per hook id since start (in JSON by
    /// hook name: the commands add them as `hooks`).
    #[serde(skip)]
    pub hook_events: Vec<u64>,
    #[serde(skip)]
    pub hook_lost: Vec<u64>,
    pub notes: Vec<String>,
    /// Findings raised at any sample since start (newest last, bounded).
    pub recent_findings: Vec<TimedFinding>,
    /// vmscan's counters against /proc/vmstat since start.
    pub self_check: super::selfcheck::SelfCheck,
    /// Refaults since start (workingset_refault).
    pub refaults: RefaultsSnap,
}

/// Rows of each refault table a snapshot keeps.
pub const SNAPSHOT_REFAULT_ROWS: usize = 20;

/// Refaults since start, or why they are not seen.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct RefaultsSnap {
    /// Why workingset_refault is not hooked here (no fentry, no kprobes).
    pub unavailable: Option<String>,
    pub report: Option<super::refaults::RefaultReport>,
}

impl PartialEq for RefaultsSnap {
    /// Compared by their JSON (the report holds floats and names).
    fn eq(&self, o: &Self) -> bool {
        serde_json::to_value(self).ok() == serde_json::to_value(o).ok()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TimedFinding {
    pub ts_ns: u64,
    pub kind: &'static str,
    pub text: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct AccessRow {
    pub outcome: &'static str,
    /// The calling task had PF_EXITING.
    pub exiting: bool,
    /// The call came from inside exit_mmap (the address space's page-table
    /// teardown); null where exit_mmap is not hooked.
    pub teardown: Option<bool>,
    pub file: bool,
    pub calls: u64,
    pub pages: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct AccessStack {
    pub stack_id: i32,
    pub calls: u64,
    pub exiting_calls: u64,
    /// Calls from inside exit_mmap; null where exit_mmap is not hooked.
    pub teardown_calls: Option<u64>,
    pub activated: u64,
    pub frames: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
pub struct ListSnap {
    pub name: &'static str,
    /// The kernel's size at the last sample (pages).
    pub pages: Option<u64>,
    /// Predicted minus sampled at the last sample (pages): what the
    /// hooks did not see (frees outside reclaim, untraced moves), plus the
    /// kernel's own counter noise.
    pub drift: Option<i64>,
    /// The kernel's counter noise on `drift`: each node meminfo read can be
    /// off by what CPUs hold back (CPUs x stat threshold), twice over a
    /// drift. Drift within it is no evidence of anything unseen. None where
    /// zoneinfo gave no thresholds.
    pub drift_noise: Option<u64>,
}

impl ListSnap {
    /// The drift as a residual against its noise: "~0 (±N)" inside it,
    /// "+D (±N)" outside, "-" before a second sample (and under MGLRU for
    /// the active/inactive lists: see [`NodeSnap::type_drift`]).
    pub fn drift_text(&self) -> String {
        drift_text(self.drift, self.drift_noise)
    }
}

fn drift_text(drift: Option<i64>, noise: Option<u64>) -> String {
    match (drift, noise) {
        (None, _) => "-".into(),
        (Some(d), Some(n)) if d.unsigned_abs() <= n => format!("~0 (±{n})"),
        (Some(d), Some(n)) => format!("{d:+} (±{n})"),
        (Some(d), None) => format!("{d:+}"),
    }
}

/// Drift of one LRU type's lists together (anon: inactive + active).
#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
pub struct TypeDrift {
    /// "anon" or "file".
    pub name: &'static str,
    /// Predicted minus sampled, both lists together (pages).
    pub drift: Option<i64>,
    /// The kernel's counter noise on it: two lists' worth.
    pub drift_noise: Option<u64>,
}

impl TypeDrift {
    pub fn drift_text(&self) -> String {
        drift_text(self.drift, self.drift_noise)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
pub struct ZoneSnap {
    pub zone: String,
    pub free: u64,
    pub min: u64,
    pub low: u64,
    pub high: u64,
}

/// One NUMA node. `balance` and `priority` come from the shrink passes and
/// are left out where `rates.not_derived` says those are not seen.
#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
#[schemars(transform = node_snap_schema)]
pub struct NodeSnap {
    pub node: u32,
    pub lists: Vec<ListSnap>,
    pub free: u64,
    pub min: u64,
    pub low: u64,
    pub high: u64,
    pub zones: Vec<ZoneSnap>,
    #[serde(serialize_with = "super::named::derived")]
    pub rates: Rates,
    pub kswapd: Kswapd,
    /// Seconds the current kswapd episode has run (0 when asleep).
    pub kswapd_awake_secs: f64,
    pub direct_stalls: u64,
    /// Pages scanned anon / file over the last intervals (oldest first).
    #[serde(serialize_with = "super::named::anon_file")]
    #[schemars(with = "Vec<super::named::AnonFile>")]
    pub balance: Vec<(u64, u64)>,
    /// Shrink passes by scan priority (index = priority, [`PRIORITY_LEVELS`]
    /// of them), since start.
    pub priority: Vec<u64>,
    /// The node's memory tier (a larger id is slower memory), when tiered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_tier: Option<u32>,
    /// Under MGLRU, drift per LRU type (anon, file) instead of per list:
    /// aging moves pages between the kernel's active/inactive approximation
    /// of its generations with no event, so only a type's total can be
    /// predicted. Empty on the classic LRU, where each list has its drift.
    pub type_drift: Vec<TypeDrift>,
}

fn node_snap_schema(schema: &mut schemars::Schema) {
    super::named::optional(schema, &NODE_SNAP_PASS_FIELDS);
}

impl Derives for NodeSnap {
    /// Its rates' (the node's own `balance` and `priority` go with their
    /// shrink-pass figures).
    fn not_derived(&self) -> &[NotDerived] {
        &self.rates.not_derived
    }

    fn not_derived_fields(&self) -> Vec<&'static str> {
        if self.rates.derives("scanned") {
            vec![]
        } else {
            NODE_SNAP_PASS_FIELDS.to_vec()
        }
    }
}

/// One lruvec (a memory cgroup's lists on one node): its sizes as the
/// kernel reports them, and the flows vmscan keys by the folio's memcg
/// (since start).
#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
pub struct LruvecSnap {
    pub node: u32,
    pub memcg: String,
    pub memcg_id: u64,
    /// Five lists when the kernel reports them for this node and cgroup.
    pub lists: Option<Lists>,
    pub anon: u64,
    pub file: u64,
    pub unevictable: u64,
    /// Pages inserted into each list since start (mm_lru_insertion, by folio memcg).
    #[serde(serialize_with = "super::named::per_list")]
    #[schemars(with = "super::named::PerList<u64>")]
    pub inserted: [u64; 5],
    /// What the batches outside reclaim moved in this lruvec since start,
    /// by folio memcg; each figure absent where the node's is (not hooked;
    /// the deactivations under MGLRU), and in `stat`.
    #[serde(flatten)]
    pub moved: BatchMoves,
    /// What reclaim scanned and reclaimed from this lruvec's inactive
    /// lists since start, as memory.stat's pgscan / pgsteal count them;
    /// null where this kernel's reclaim passes cannot be tied to their
    /// lruvec (shrink_lruvec, or MGLRU 6.4+'s try_to_shrink_lruvec, not
    /// hooked with its return), and in `stat`.
    pub reclaim: Option<LruvecReclaim>,
    /// MGLRU generations (oldest first) when MGLRU is on.
    pub generations: Option<Vec<Generation>>,
    /// The Kubernetes pod and container, when the memory cgroup is one.
    pub kube: Option<KubePod>,
}

/// Reclaim's work on one lruvec (vmscan_common::memcg_reclaim), in pages:
/// scanned is pgscan's count (the classic LRU's scanned folios' pages,
/// MGLRU's isolated ones), reclaimed pgsteal's; on the classic LRU
/// refilled is pgrefill's (the active lists' scans) and deactivated the
/// active lists' pages reclaim moved to the inactive ones (pgdeactivate's
/// part in reclaim). Those two are null under MGLRU, whose aging fires no
/// tracepoint. activated is pgactivate's part in reclaim (the pages its
/// shrink passes activated); null where the passes are not seen (MGLRU
/// before 6.7 without its eviction hooks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct LruvecReclaim {
    pub scanned_anon: u64,
    pub scanned_file: u64,
    pub reclaimed_anon: u64,
    pub reclaimed_file: u64,
    pub refilled_anon: Option<u64>,
    pub refilled_file: Option<u64>,
    pub deactivated_anon: Option<u64>,
    pub deactivated_file: Option<u64>,
    #[serde(default)]
    pub activated_anon: Option<u64>,
    #[serde(default)]
    pub activated_file: Option<u64>,
}

impl LruvecReclaim {
    /// From pages in vmscan_common::memcg_reclaim order; the activations
    /// where `passes` (the shrink passes are seen).
    pub fn of_kinds(
        p: [u64; vmscan_common::memcg_reclaim::COUNT as usize],
        mglru: bool,
        passes: bool,
    ) -> Self {
        let [
            scanned_anon,
            scanned_file,
            reclaimed_anon,
            reclaimed_file,
            refilled_anon,
            refilled_file,
            deactivated_anon,
            deactivated_file,
            activated_anon,
            activated_file,
        ] = p;
        let classic = |v: u64| (!mglru).then_some(v);
        Self {
            scanned_anon,
            scanned_file,
            reclaimed_anon,
            reclaimed_file,
            refilled_anon: classic(refilled_anon),
            refilled_file: classic(refilled_file),
            deactivated_anon: classic(deactivated_anon),
            deactivated_file: classic(deactivated_file),
            activated_anon: passes.then_some(activated_anon),
            activated_file: passes.then_some(activated_file),
        }
    }
    pub fn scanned(&self) -> u64 {
        self.scanned_anon + self.scanned_file
    }
    pub fn reclaimed(&self) -> u64 {
        self.reclaimed_anon + self.reclaimed_file
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
pub struct MemcgSnap {
    pub path: String,
    pub id: u64,
    pub swappiness: Option<u32>,
    pub reclaim_episodes: u64,
    /// Of those, episodes named by the reclaiming task's cgroup, because the
    /// cgroup the kernel reclaimed (try_to_free_mem_cgroup_pages' argument,
    /// possibly an ancestor, or memory.reclaim's target) could not be read
    /// on this kernel (no fentry or kprobes).
    pub episodes_named_by_task: u64,
    pub reclaimed: u64,
    pub latency_us: HistSummary,
    /// The Kubernetes pod and container, when the memory cgroup is one.
    pub kube: Option<KubePod>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
pub struct IsolationSnap {
    pub lru: &'static str,
    pub events: u64,
    /// These three are None where MGLRU's isolation is seen only by the
    /// folios it took (before 6.7, through evict_folios and
    /// shrink_folio_list: the inlined scan_folios keeps them to itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scanned: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<u64>,
    pub taken: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
pub struct HistSnap {
    pub unit: &'static str,
    pub cumulative: Log2Hist,
    pub window: Log2Hist,
    pub cumulative_summary: HistSummary,
    pub window_summary: HistSummary,
    /// False when the hook that feeds it is not attached.
    pub available: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Finding {
    pub kind: &'static str,
    pub text: String,
}
