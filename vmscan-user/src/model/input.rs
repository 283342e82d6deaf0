//! What the model takes in, as plain data: samples of the kernel's own view
//! of the lruvecs (list sizes per node and memory cgroup, zones and their
//! watermarks, MGLRU generations), what the host is, and what happened to
//! each hook. `probe` reads the kernel into these; recordings store them, so
//! their serde shapes are part of the recording format.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

/// The five LRU lists in lru::NAMES order, in pages.
pub type Lists = [u64; 5];

/// One memory cgroup's sizes on one node, in pages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema, serde::Deserialize)]
pub struct MemcgNode {
    /// The five lists on this node when the kernel reports them per node
    /// (cgroup v2 memory.numa_stat; or v1 on a single-node machine).
    pub lists: Option<Lists>,
    pub anon: u64,
    pub file: u64,
    pub unevictable: u64,
}

/// One memory cgroup as sampled.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema, serde::Deserialize)]
pub struct MemcgSample {
    /// Path relative to the memory hierarchy root ("/" for the root).
    pub path: String,
    /// kernfs id (the directory's inode number): what the eBPF side reports.
    pub id: u64,
    pub nodes: BTreeMap<u32, MemcgNode>,
    /// Whole-cgroup five-list split (memory.stat), in pages.
    pub lists: Option<Lists>,
    pub swappiness: Option<u32>,
}

/// One MGLRU generation of a lruvec (/sys/kernel/debug/lru_gen).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema, serde::Deserialize)]
pub struct Generation {
    #[serde(rename = "gen")]
    pub generation: u64,
    pub age_ms: u64,
    pub anon: u64,
    pub file: u64,
}

/// The generations of one memcg x node (MGLRU).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema, serde::Deserialize)]
pub struct LruGen {
    pub memcg_id: u64,
    pub memcg: String,
    pub node: u32,
    pub generations: Vec<Generation>,
}

/// The kernel's reclaim counters (/proc/vmstat) read just before and just
/// after one reading of the aggregates: the self-check's bracket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema, serde::Deserialize)]
pub struct Bracket {
    pub before: BTreeMap<String, u64>,
    pub after: BTreeMap<String, u64>,
}

/// Whether vmscan checks a /proc/vmstat counter against its own (the ones
/// a [`Bracket`] keeps).
pub fn self_checked(name: &str) -> bool {
    name.starts_with("pgscan_")
        || name.starts_with("pgsteal_")
        || name == "pgrefill"
        || name == "pgactivate"
        || name.starts_with("pgdemote_")
        || name == "pglazyfree"
        || name == "pgdeactivate"
        || [
            "workingset_refault_",
            "workingset_activate_",
            "workingset_restore_",
        ]
        .iter()
        .any(|p| name.starts_with(p))
}

/// The per-memcg counters reclaim's share of which vmscan keys by the lruvec
/// it shrank (vmscan_common::memcg_reclaim): memory.stat's pgscan and
/// pgsteal (every reclaimer's), pgrefill, pgdeactivate (with the batches',
/// keyed by folio) and pgactivate (with lru_activate's, keyed by folio).
pub const BY_LRUVEC: [&str; 5] = [
    "pgscan",
    "pgsteal",
    "pgrefill",
    "pgdeactivate",
    "pgactivate",
];

/// Whether vmscan checks a memory cgroup's memory.stat counter against its
/// own per-memcg figure, where its memory.stat keeps it (its descendants
/// included: cgroup v2's lines, v1's `total_` ones, which have the
/// refaults but not pglazyfree): the refaults, keyed by the refaulting
/// folio's memcg, MADV_FREE's batch, by the folio's, and [`BY_LRUVEC`].
pub fn memcg_checked(name: &str) -> bool {
    name == "pglazyfree"
        || BY_LRUVEC.contains(&name)
        || [
            "workingset_refault_",
            "workingset_activate_",
            "workingset_restore_",
        ]
        .iter()
        .any(|p| {
            name.strip_prefix(p)
                .is_some_and(|t| t == "anon" || t == "file")
        })
}

/// One memory cgroup's memory.stat ([`memcg_checked`] counters) read just
/// before and just after one reading of the aggregates: the per-memcg
/// self-check's bracket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema, serde::Deserialize)]
pub struct MemcgBracket {
    pub id: u64,
    /// Its path under the cgroup root, as the lruvecs name it.
    pub path: String,
    pub stat: Bracket,
}

/// A sample of everything the model reconciles against.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema, serde::Deserialize)]
pub struct Sample {
    /// Monotonic time of the sample, nanoseconds (CLOCK_MONOTONIC, as bpf_ktime_get_ns).
    pub ts_ns: u64,
    pub nodes: BTreeMap<u32, Lists>,
    pub zones: Vec<Zone>,
    /// The memory cgroups read for this sample: all of them, or with
    /// `memcgs_partial` only those read again (the others keep the figures
    /// of their last sample).
    pub memcgs: Vec<MemcgSample>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub memcgs_partial: bool,
    /// kernfs ids of memory cgroups removed since the last sample (partial
    /// samples only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memcgs_gone: Vec<u64>,
    pub vm_swappiness: Option<u32>,
    pub mglru: Option<bool>,
    /// MGLRU generations per memcg x node, when MGLRU is on and debugfs is
    /// mounted.
    #[serde(default)]
    pub lru_gen: Vec<LruGen>,
    /// This sample did not read the generations (with many memcgs they are
    /// read only every so often): the last sample's stand.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lru_gen_unread: bool,
    /// Memory tier of each node (/sys/devices/virtual/memory_tiering: a
    /// larger id is slower memory, a demotion target); empty without tiers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub memory_tiers: BTreeMap<u32, u32>,
    /// /proc/vmstat around the aggregate reading this sample goes with
    /// (absent in recordings made before vmscan checked itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmstat: Option<Bracket>,
    /// memory.stat around the same reading, for the memory cgroups vmscan
    /// checks itself in (a few active ones).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memcg_vmstat: Vec<MemcgBracket>,
    /// Pages a memory cgroup's memory.stat counter may not show yet: the
    /// kernel flushes per-CPU memcg updates only past a threshold (up to 64
    /// updates a CPU pending, and as many again before a flush is due), so
    /// 128 x online CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memcg_stat_slack: Option<u64>,
}

/// Per-zone facts from /proc/zoneinfo.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema, serde::Deserialize)]
pub struct Zone {
    pub node: u32,
    pub zone: String,
    pub free: u64,
    pub min: u64,
    pub low: u64,
    pub high: u64,
    pub spanned: u64,
    pub present: u64,
    pub managed: u64,
    pub start_pfn: u64,
    /// The largest per-CPU "vm stats threshold" listed for the zone: a CPU
    /// folds its pending delta of a counter into the shared one only past
    /// it (0 in recordings made before vmscan read it).
    #[serde(default)]
    pub stat_threshold: u64,
    /// CPUs with a pageset listed for the zone (the online ones).
    #[serde(default)]
    pub cpus: u64,
}

/// The most a node's counters (node_stat_item: LRU sizes, and 7.x's
/// pgscan/pgsteal) can differ from what /proc and sysfs show, in pages: what
/// every CPU may hold back (CPUs x the node's per-CPU threshold, the largest
/// of its zones'). None where zoneinfo gave no thresholds.
pub fn node_stat_slack(zones: &[Zone], node: u32) -> Option<u64> {
    zones
        .iter()
        .filter(|z| z.node == node && z.stat_threshold > 0)
        .map(|z| z.cpus * z.stat_threshold)
        .max()
}

/// [`node_stat_slack`] summed over nodes: the slack of a node counter's
/// machine-wide figure in /proc/vmstat.
pub fn global_stat_slack(zones: &[Zone]) -> Option<u64> {
    let nodes: std::collections::BTreeSet<u32> = zones.iter().map(|z| z.node).collect();
    nodes.into_iter().map(|n| node_stat_slack(zones, n)).sum()
}

/// What happened to one hook.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct HookStatus {
    /// vmscan's number for the hook (its slot in the per-hook counters).
    #[schemars(with = "u32")]
    pub id: vmscan_common::HookId,
    pub name: String,
    /// "tp_btf", "raw_tp", "tracepoint", "fentry", "fentry+fexit", "kprobe",
    /// "kprobe+kretprobe".
    pub mechanism: Option<String>,
    /// Why it is not attached (None when attached).
    pub error: Option<String>,
    /// Notes on a hook that is attached but degraded.
    pub notes: Vec<String>,
}

impl HookStatus {
    pub fn attached(&self) -> bool {
        self.mechanism.is_some()
    }
}

/// Whether hook `id` is attached, by any mechanism, among `hooks`.
pub fn hook_attached(hooks: &[HookStatus], id: vmscan_common::HookId) -> bool {
    hooks.iter().any(|h| h.id == id && h.attached())
}

/// What the views show about the host a model's data came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Host {
    pub kernel: String,
    pub numa_nodes: Vec<u32>,
    pub btf: bool,
    pub kprobes: bool,
}

impl Sample {
    /// This sample without its memory cgroups (the model keeps those apart).
    pub fn without_memcgs(&self) -> Sample {
        Sample {
            ts_ns: self.ts_ns,
            nodes: self.nodes.clone(),
            zones: self.zones.clone(),
            memcgs: Vec::new(),
            memcgs_partial: self.memcgs_partial,
            memcgs_gone: Vec::new(),
            vm_swappiness: self.vm_swappiness,
            mglru: self.mglru,
            lru_gen: self.lru_gen.clone(),
            lru_gen_unread: self.lru_gen_unread,
            memory_tiers: self.memory_tiers.clone(),
            vmstat: self.vmstat.clone(),
            memcg_vmstat: self.memcg_vmstat.clone(),
            memcg_stat_slack: self.memcg_stat_slack,
        }
    }
}
