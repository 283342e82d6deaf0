//! The lruvec model: every node x memory cgroup with its five LRU lists,
//! the flows between them, kswapd per node, reclaim episodes and stalls,
//! histograms and findings. Pure and deterministic: aggregate deltas,
//! events and samples in; [`Snapshot`]s out.
//!
//! Flows follow mm/vmscan.c and mm/swap.c:
//! - mm_lru_insertion: a folio enters list `lru` (+pages there);
//! - mm_lru_activate (folio_activate): inactive -> active of its type;
//! - shrink_inactive_list: nr_reclaimed leave the inactive list, nr_activate
//!   move to the active list, the rest go back where they were;
//! - shrink_active_list: nr_deactivated move active -> inactive.
//!
//! Frees outside reclaim (munmap, truncation, exit) have no LRU tracepoint,
//! so the sizes the events predict drift from the kernel's; each sample
//! measures that drift and re-seeds the prediction.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use vmscan_common::{Event, HIST_BUCKETS, NODE_OVERFLOW, NODE_SLOTS, hist, lru, reclaimer, shrink_index};

use super::{
    counters::{self, Counters},
    event::{self, Decoded, Episode},
    hist::{HistSummary, Log2Hist, Windowed},
    totals::Totals,
};
use super::input::{Generation, Lists, Sample};

/// Bounds on what the model keeps, so memory stays bounded at any event rate.
pub const MAX_STALLS: usize = 256;
pub const MAX_MEMCGS: usize = 4096;
pub const BALANCE_HISTORY: usize = 120;
pub const DEFAULT_WINDOW_SECS: u64 = 10;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WakeReason {
    pub zid: i32,
    pub order: i32,
    pub gfp: u64,
    pub pid: u32,
    pub comm: String,
    pub cgroup_id: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KswapdState {
    /// Nothing seen yet.
    #[default]
    Unknown,
    Asleep,
    Awake,
}

/// kswapd of one node as a state machine over wake / sleep events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Kswapd {
    pub state: KswapdState,
    pub since_ns: u64,
    /// Why the running (or last) episode began: the last mm_vmscan_wakeup_kswapd
    /// for this node before the wake, with the allocating task.
    pub wake_reason: Option<WakeReason>,
    pub wake_order: i32,
    pub wake_zid: i32,
    pub episodes: u64,
    /// A sleep without a wake (vmscan attached mid-episode, or a lost record).
    pub sleeps_without_wake: u64,
    /// A wake while already awake (a lost sleep record).
    pub wakes_while_awake: u64,
    pub wakeups_requested: u64,
    /// Pages kswapd reclaimed on this node since the episode began.
    pub reclaimed_in_episode: u64,
    /// Direct-reclaim stalls that ended while this kswapd was awake.
    pub direct_stalls_in_episode: u64,
    pub last_episode_us: u64,
    #[serde(skip)]
    pub(crate) pending_wakeup: Option<WakeReason>,
}

/// One direct-reclaim stall (an allocating task reclaiming for itself).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
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

#[derive(Clone, Debug, PartialEq)]
struct NodeState {
    sampled: Option<Lists>,
    /// Sizes the events predict since the last sample (signed: frees are unseen).
    predicted: [i64; 5],
    /// Predicted minus sampled at the last sample.
    drift: Option<[i64; 5]>,
    kswapd: Kswapd,
    balance: VecDeque<(u64, u64, u64)>,
    direct_stalls: u64,
    last_rates: Rates,
}

impl Default for NodeState {
    fn default() -> Self {
        Self {
            sampled: None,
            predicted: [0; 5],
            drift: None,
            kswapd: Kswapd::default(),
            balance: VecDeque::new(),
            direct_stalls: 0,
            last_rates: Rates::default(),
        }
    }
}

/// Per-second flows of one node over the last interval (pages/s).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Rates {
    pub inserted: [f64; 5],
    /// folio_activate (mm_lru_activate), i.e. mark_page_accessed promotions
    /// and other explicit activations.
    pub activated_by_access: f64,
    /// shrink_folio_list's nr_activate (folio_check_references said keep).
    pub activated_by_reclaim: f64,
    pub deactivated: f64,
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
}

#[derive(Clone, Debug)]
struct MemcgState {
    path: Option<String>,
    episodes: u64,
    reclaimed: u64,
    latency: Windowed,
    swappiness: Option<u32>,
    inserted: BTreeMap<u32, [u64; 5]>,
}

/// What the model shows: plain data, shared by TUI, exporter, recorder and --json.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Snapshot {
    pub ts_ns: u64,
    pub interval_secs: f64,
    pub mglru: Option<bool>,
    pub vm_swappiness: Option<u32>,
    pub nodes: Vec<NodeSnap>,
    pub lruvecs: Vec<LruvecSnap>,
    pub memcgs: Vec<MemcgSnap>,
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
    /// Calls per kernel stack id (top 64), with the stack's symbols when known.
    pub access_stacks: Vec<AccessStack>,
    /// Program runs and lost records per hook id since start.
    pub hook_events: Vec<u64>,
    pub hook_lost: Vec<u64>,
    pub notes: Vec<String>,
    /// Findings raised at any sample since start (newest last, bounded).
    pub recent_findings: Vec<TimedFinding>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TimedFinding {
    pub ts_ns: u64,
    pub kind: &'static str,
    pub text: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AccessRow {
    pub outcome: &'static str,
    pub exiting: bool,
    pub file: bool,
    pub calls: u64,
    pub pages: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AccessStack {
    pub stack_id: i32,
    pub calls: u64,
    pub exiting_calls: u64,
    pub activated: u64,
    pub frames: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ListSnap {
    pub name: &'static str,
    /// The kernel's size at the last sample (pages).
    pub pages: Option<u64>,
    /// Predicted minus sampled at the last sample (pages).
    pub drift: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ZoneSnap {
    pub zone: String,
    pub free: u64,
    pub min: u64,
    pub low: u64,
    pub high: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NodeSnap {
    pub node: u32,
    pub lists: Vec<ListSnap>,
    pub free: u64,
    pub min: u64,
    pub low: u64,
    pub high: u64,
    pub zones: Vec<ZoneSnap>,
    pub rates: Rates,
    pub kswapd: Kswapd,
    /// Seconds the current kswapd episode has run (0 when asleep).
    pub kswapd_awake_secs: f64,
    pub direct_stalls: u64,
    /// Pages scanned anon / file over the last intervals (oldest first).
    pub balance: Vec<(u64, u64)>,
    /// Shrink passes by scan priority (index = priority), since start.
    pub priority: Vec<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
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
    pub inserted: [u64; 5],
    /// MGLRU generations (oldest first) when MGLRU is on.
    pub generations: Option<Vec<Generation>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MemcgSnap {
    pub path: String,
    pub id: u64,
    pub swappiness: Option<u32>,
    pub reclaim_episodes: u64,
    pub reclaimed: u64,
    pub latency_us: HistSummary,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IsolationSnap {
    pub lru: &'static str,
    pub events: u64,
    pub requested: u64,
    pub scanned: u64,
    pub skipped: u64,
    pub taken: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HistSnap {
    pub unit: &'static str,
    pub cumulative: Log2Hist,
    pub window: Log2Hist,
    pub cumulative_summary: HistSummary,
    pub window_summary: HistSummary,
    /// False when the hook that feeds it is not attached.
    pub available: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: &'static str,
    pub text: String,
}

pub struct Model {
    nodes: BTreeMap<u32, NodeState>,
    memcgs: BTreeMap<u64, MemcgState>,
    memcg_paths: BTreeMap<u64, String>,
    memcgs_dropped: u64,
    stalls: VecDeque<Stall>,
    stalls_dropped: u64,
    hists: BTreeMap<&'static str, Windowed>,
    hist_available: BTreeMap<&'static str, bool>,
    totals: Totals,
    now_ns: u64,
    interval_secs: f64,
    last_sample: Option<Sample>,
    window_secs: u64,
    recent_findings: VecDeque<TimedFinding>,
    stack_frames: BTreeMap<i32, Vec<String>>,
}

/// Findings kept in the history.
pub const MAX_FINDINGS: usize = 64;

const HISTS: [(&str, &str); 5] = [
    ("direct_reclaim", "us"),
    ("memcg_reclaim", "us"),
    ("kswapd_episode", "us"),
    ("shrink_node", "us"),
    ("batch_residency", "us"),
];

impl Default for Model {
    fn default() -> Self {
        Self::new(DEFAULT_WINDOW_SECS)
    }
}

impl Model {
    pub fn new(window_secs: u64) -> Self {
        Self {
            nodes: BTreeMap::new(),
            memcgs: BTreeMap::new(),
            memcg_paths: BTreeMap::new(),
            memcgs_dropped: 0,
            stalls: VecDeque::new(),
            stalls_dropped: 0,
            hists: HISTS.iter().map(|(n, _)| (*n, Windowed::new(window_secs))).collect(),
            hist_available: HISTS.iter().map(|(n, _)| (*n, true)).collect(),
            totals: Totals::default(),
            now_ns: 0,
            interval_secs: 0.0,
            last_sample: None,
            window_secs,
            recent_findings: VecDeque::new(),
            stack_frames: BTreeMap::new(),
        }
    }

    /// Whether the last sample saw MGLRU on (its accounting differs).
    pub fn mglru(&self) -> bool {
        self.last_sample.as_ref().and_then(|s| s.mglru) == Some(true)
    }

    /// Cumulative aggregates since the model started.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Path of a memory cgroup by kernfs id, as last sampled.
    pub fn memcg_path(&self, id: u64) -> Option<&str> {
        self.memcg_paths.get(&id).map(String::as_str)
    }

    /// Marks histograms whose hooks are missing (shrink_node, batch residency).
    pub fn set_hist_available(&mut self, name: &'static str, available: bool) {
        self.hist_available.insert(name, available);
    }

    fn node(&mut self, n: u32) -> &mut NodeState {
        self.nodes.entry(n).or_default()
    }

    fn memcg(&mut self, id: u64) -> Option<&mut MemcgState> {
        if !self.memcgs.contains_key(&id) {
            if self.memcgs.len() >= MAX_MEMCGS {
                self.memcgs_dropped += 1;
                return None;
            }
            let path = self.memcg_paths.get(&id).cloned();
            self.memcgs.insert(
                id,
                MemcgState {
                    path,
                    episodes: 0,
                    reclaimed: 0,
                    latency: Windowed::new(self.window_secs),
                    swappiness: None,
                    inserted: BTreeMap::new(),
                },
            );
        }
        self.memcgs.get_mut(&id)
    }

    /// Applies the aggregate delta of one interval ending at `ts_ns`.
    pub fn apply_totals(&mut self, d: &Totals, ts_ns: u64, secs: f64) {
        self.now_ns = self.now_ns.max(ts_ns);
        self.interval_secs = secs;
        self.totals.accumulate(d);
        let per = |v: u64| v as f64 / secs.max(1e-9);
        let c = counters::derive_with(d, self.mglru());
        for nc in &c.nodes {
            let n = nc.node;
            let (mut act_anon, mut act_file, mut deact_anon, mut deact_file) = (0u64, 0u64, 0u64, 0u64);
            for rec in 0..reclaimer::COUNT {
                for file in 0..2u32 {
                    let s = &d.shrink_active[shrink_index(n, rec, file) as usize];
                    if file == 1 {
                        deact_file += s.deactivated;
                    } else {
                        deact_anon += s.deactivated;
                    }
                }
            }
            act_anon += nc.activate_anon + nc.lru_activated_anon;
            act_file += nc.activate_file + nc.lru_activated_file;
            let ins = nc.inserted;
            let st = self.node(n);
            let p = &mut st.predicted;
            let i = |v: u64| v as i64;
            p[lru::INACTIVE_ANON as usize] += i(ins[0]) - i(nc.reclaimed_anon) - i(act_anon) + i(deact_anon);
            p[lru::ACTIVE_ANON as usize] += i(ins[1]) + i(act_anon) - i(deact_anon);
            p[lru::INACTIVE_FILE as usize] += i(ins[2]) - i(nc.reclaimed_file) - i(act_file) + i(deact_file);
            p[lru::ACTIVE_FILE as usize] += i(ins[3]) + i(act_file) - i(deact_file);
            p[lru::UNEVICTABLE as usize] += i(ins[4]);
            st.balance.push_back((ts_ns, nc.scanned_anon, nc.scanned_file));
            while st.balance.len() > BALANCE_HISTORY {
                st.balance.pop_front();
            }
            st.kswapd.reclaimed_in_episode += nc.reclaimed.kswapd;
            st.last_rates = Rates {
                inserted: ins.map(per),
                activated_by_access: per(nc.lru_activated_anon + nc.lru_activated_file),
                activated_by_reclaim: per(nc.activate_anon + nc.activate_file),
                deactivated: per(deact_anon + deact_file),
                scanned: per(nc.scanned.total()),
                scanned_anon: per(nc.scanned_anon),
                scanned_file: per(nc.scanned_file),
                reclaimed: per(nc.reclaimed.total()),
                reclaimed_kswapd: per(nc.reclaimed.kswapd),
                reclaimed_direct: per(nc.reclaimed.direct + nc.reclaimed.node + nc.reclaimed.khugepaged),
                reclaimed_memcg: per(nc.reclaimed.memcg),
                ref_keep: per(nc.ref_keep),
                dirty: per(nc.dirty),
                writeback: per(nc.writeback),
                congested: per(nc.congested),
                immediate: per(nc.immediate),
                unmap_fail: per(nc.unmap_fail),
            };
        }
        // Kernel-side histograms (shrink_node passes, batch residency), per node.
        for (kind, name) in [(hist::SHRINK_NODE_US, "shrink_node"), (hist::BATCH_RESIDENCY_US, "batch_residency")] {
            for node in 0..NODE_SLOTS {
                for b in 0..HIST_BUCKETS {
                    let n = d.hist[((kind * NODE_SLOTS + node) * HIST_BUCKETS + b) as usize];
                    if n > 0 {
                        if let Some(h) = self.hists.get_mut(name) {
                            h.add_bucket(ts_ns, b as usize, n);
                        }
                    }
                }
            }
        }
        for (key, agg) in &d.memcg_insert {
            if let Some(m) = self.memcg(key.cgroup_id) {
                let e = m.inserted.entry(key.node).or_insert([0; 5]);
                if let Some(slot) = e.get_mut(key.lru as usize) {
                    *slot += agg.pages;
                }
            }
        }
    }

    /// Applies one raw ring-buffer record (decoding it).
    pub fn apply_event(&mut self, e: &Event) {
        self.apply_record(&Episode::try_from(e));
    }

    /// Applies decoded ring-buffer records in order.
    pub fn apply_records(&mut self, records: &[Decoded]) {
        for r in records {
            self.apply_record(r);
        }
    }

    /// Applies one decoded record; one of an unknown kind only moves the clock.
    pub fn apply_record(&mut self, r: &Decoded) {
        self.now_ns = self.now_ns.max(event::ts_ns(r));
        if let Ok(e) = r {
            self.apply_episode(e);
        }
    }

    fn apply_episode(&mut self, e: &Episode) {
        let node_of = |nid: i32| if nid < 0 { NODE_OVERFLOW } else { nid as u32 };
        match e {
            Episode::WakeupKswapd { nid, zid, order, gfp, pid, comm, cgroup_id, .. } => {
                let k = &mut self.node(node_of(*nid)).kswapd;
                k.wakeups_requested += 1;
                k.pending_wakeup =
                    Some(WakeReason { zid: *zid, order: *order, gfp: *gfp, pid: *pid, comm: comm.clone(), cgroup_id: *cgroup_id });
            }
            Episode::KswapdWake { ts_ns, nid, zid, order } => {
                let k = &mut self.node(node_of(*nid)).kswapd;
                if k.state == KswapdState::Awake {
                    k.wakes_while_awake += 1;
                }
                k.state = KswapdState::Awake;
                k.since_ns = *ts_ns;
                k.wake_order = *order;
                k.wake_zid = *zid;
                k.wake_reason = k.pending_wakeup.take();
                k.reclaimed_in_episode = 0;
                k.direct_stalls_in_episode = 0;
            }
            Episode::KswapdSleep { ts_ns, nid } => {
                let (awake, since) = {
                    let k = &self.node(node_of(*nid)).kswapd;
                    (k.state == KswapdState::Awake, k.since_ns)
                };
                let us = ts_ns.saturating_sub(since) / 1000;
                if awake {
                    if let Some(h) = self.hists.get_mut("kswapd_episode") {
                        h.record(*ts_ns, us);
                    }
                }
                let k = &mut self.node(node_of(*nid)).kswapd;
                if awake {
                    k.episodes += 1;
                    k.last_episode_us = us;
                } else {
                    k.sleeps_without_wake += 1;
                }
                k.state = KswapdState::Asleep;
                k.since_ns = *ts_ns;
            }
            &Episode::ReclaimEnd { ts_ns, start_ns, reclaimer: rec, nid, order, pid, ref comm, cgroup_id, reclaimed } => {
                let us = ts_ns.saturating_sub(start_ns) / 1000;
                let name = reclaimer::NAMES.get(rec as usize).copied().unwrap_or("other");
                if rec == reclaimer::MEMCG {
                    if let Some(h) = self.hists.get_mut("memcg_reclaim") {
                        h.record(ts_ns, us);
                    }
                    if let Some(m) = self.memcg(cgroup_id) {
                        m.episodes += 1;
                        m.reclaimed += reclaimed;
                        m.latency.record(ts_ns, us);
                    }
                } else {
                    if let Some(h) = self.hists.get_mut("direct_reclaim") {
                        h.record(ts_ns, us);
                    }
                    // Direct reclaim walks the zonelist; count the stall on
                    // every node whose kswapd is awake, and on the node for
                    // node reclaim.
                    let node = node_of(nid);
                    for (n, st) in self.nodes.iter_mut() {
                        if st.kswapd.state == KswapdState::Awake {
                            st.kswapd.direct_stalls_in_episode += 1;
                        }
                        if rec == reclaimer::NODE && *n == node {
                            st.direct_stalls += 1;
                        }
                    }
                    if rec != reclaimer::NODE {
                        for st in self.nodes.values_mut() {
                            st.direct_stalls += 1;
                        }
                    }
                }
                if self.stalls.len() >= MAX_STALLS {
                    self.stalls.pop_front();
                    self.stalls_dropped += 1;
                }
                let memcg = self.memcg_paths.get(&cgroup_id).cloned();
                self.stalls.push_back(Stall {
                    end_ns: ts_ns,
                    pid,
                    comm: comm.clone(),
                    reclaimer: name.to_owned(),
                    cgroup_id,
                    memcg,
                    latency_us: us,
                    reclaimed,
                    order,
                    nid,
                });
            }
            Episode::ShrinkInactive { .. } | Episode::ShrinkNode { .. } | Episode::Throttled { .. } => {}
        }
    }

    /// Applies a kernel sample: measures drift, re-seeds the prediction.
    pub fn apply_sample(&mut self, s: &Sample) {
        self.now_ns = self.now_ns.max(s.ts_ns);
        for (&n, lists) in &s.nodes {
            let st = self.node(n);
            if st.sampled.is_some() {
                let mut d = [0i64; 5];
                for i in 0..5 {
                    d[i] = st.predicted[i] - lists[i] as i64;
                }
                st.drift = Some(d);
            }
            st.sampled = Some(*lists);
            st.predicted = lists.map(|v| v as i64);
        }
        for m in &s.memcgs {
            self.memcg_paths.insert(m.id, m.path.clone());
            if let Some(state) = self.memcgs.get_mut(&m.id) {
                state.path = Some(m.path.clone());
                state.swappiness = m.swappiness;
            }
        }
        // Forget cgroups that are gone and never reclaimed (bounded state).
        let live: std::collections::BTreeSet<u64> = s.memcgs.iter().map(|m| m.id).collect();
        self.memcgs.retain(|id, m| live.contains(id) || m.episodes > 0 || *id == 0);
        self.memcg_paths.retain(|id, _| live.contains(id));
        self.last_sample = Some(s.clone());
        // Findings hold at a sample (after the interval's flows): keep them.
        for f in findings(&self.snapshot()) {
            if self.recent_findings.len() >= MAX_FINDINGS {
                self.recent_findings.pop_front();
            }
            self.recent_findings.push_back(TimedFinding { ts_ns: s.ts_ns, kind: f.kind, text: f.text });
        }
    }

    /// Symbolized frames of a kernel stack id (innermost first).
    pub fn set_stack_frames(&mut self, id: i32, frames: Vec<String>) {
        if self.stack_frames.len() < 16384 {
            self.stack_frames.insert(id, frames);
        }
    }

    /// Stack ids seen in folio_mark_accessed aggregates without frames yet.
    pub fn unsymbolized_stacks(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self
            .totals
            .access
            .keys()
            .map(|k| k.stack_id)
            .filter(|id| *id >= 0 && !self.stack_frames.contains_key(id))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    pub fn snapshot(&self) -> Snapshot {
        let now = self.now_ns;
        let mut snap = Snapshot {
            ts_ns: now,
            interval_secs: self.interval_secs,
            mglru: self.last_sample.as_ref().and_then(|s| s.mglru),
            vm_swappiness: self.last_sample.as_ref().and_then(|s| s.vm_swappiness),
            totals: counters::derive_with(&self.totals, self.mglru()),
            lost_total: self.totals.lost.iter().sum(),
            stalls: self.stalls.iter().rev().take(32).cloned().collect(),
            stalls_dropped: self.stalls_dropped,
            hook_events: self.totals.hits.clone(),
            hook_lost: self.totals.lost.clone(),
            ..Snapshot::default()
        };
        let zones = self.last_sample.as_ref().map(|s| s.zones.clone()).unwrap_or_default();
        for (&n, st) in &self.nodes {
            let mut ns = NodeSnap { node: n, ..NodeSnap::default() };
            for (i, name) in lru::NAMES.iter().enumerate() {
                ns.lists.push(ListSnap {
                    name,
                    pages: st.sampled.map(|l| l[i]),
                    drift: st.drift.map(|d| d[i]),
                });
            }
            for z in zones.iter().filter(|z| z.node == n && z.managed > 0) {
                ns.free += z.free;
                ns.min += z.min;
                ns.low += z.low;
                ns.high += z.high;
                ns.zones.push(ZoneSnap { zone: z.zone.clone(), free: z.free, min: z.min, low: z.low, high: z.high });
            }
            ns.rates = st.last_rates.clone();
            ns.kswapd = st.kswapd.clone();
            if st.kswapd.state == KswapdState::Awake {
                ns.kswapd_awake_secs = now.saturating_sub(st.kswapd.since_ns) as f64 / 1e9;
            }
            ns.direct_stalls = st.direct_stalls;
            ns.balance = st.balance.iter().map(|&(_, a, f)| (a, f)).collect();
            let mut prio = vec![0u64; 13];
            for rec in 0..reclaimer::COUNT {
                for file in 0..2 {
                    let a = &self.totals.shrink_inactive[shrink_index(n, rec, file) as usize];
                    for (p, v) in prio.iter_mut().zip(a.priority.iter()) {
                        *p += v;
                    }
                }
            }
            ns.priority = prio;
            snap.nodes.push(ns);
        }
        if let Some(s) = &self.last_sample {
            for m in &s.memcgs {
                let inserted = self.memcgs.get(&m.id).map(|st| st.inserted.clone()).unwrap_or_default();
                for (&node, mn) in &m.nodes {
                    snap.lruvecs.push(LruvecSnap {
                        node,
                        memcg: m.path.clone(),
                        memcg_id: m.id,
                        lists: mn.lists,
                        anon: mn.anon,
                        file: mn.file,
                        unevictable: mn.unevictable,
                        inserted: inserted.get(&node).copied().unwrap_or([0; 5]),
                        generations: s
                            .lru_gen
                            .iter()
                            .find(|g| g.node == node && g.memcg == m.path)
                            .map(|g| g.generations.clone()),
                    });
                }
            }
        }
        for (&id, m) in &self.memcgs {
            if m.episodes == 0 {
                continue;
            }
            snap.memcgs.push(MemcgSnap {
                path: m.path.clone().unwrap_or_else(|| format!("(cgroup id {id})")),
                id,
                swappiness: m.swappiness,
                reclaim_episodes: m.episodes,
                reclaimed: m.reclaimed,
                latency_us: m.latency.cumulative.summary(),
            });
        }
        for l in 0..lru::COUNT {
            let mut iso = IsolationSnap { lru: lru::NAMES[l as usize], ..IsolationSnap::default() };
            for rec in 0..reclaimer::COUNT {
                let a = &self.totals.isolate[(rec * lru::COUNT + l) as usize];
                iso.events += a.events;
                iso.requested += a.requested;
                iso.scanned += a.scanned;
                iso.skipped += a.skipped;
                iso.taken += a.taken;
            }
            snap.isolation.push(iso);
        }
        for (name, unit) in HISTS {
            let w = &self.hists[name];
            let window = w.window(now);
            snap.histograms.insert(
                name.to_owned(),
                HistSnap {
                    unit,
                    cumulative_summary: w.cumulative.summary(),
                    window_summary: window.summary(),
                    cumulative: w.cumulative.clone(),
                    window,
                    available: self.hist_available.get(name).copied().unwrap_or(true),
                },
            );
        }
        let mut rows: BTreeMap<(u32, u32, u32), (u64, u64)> = BTreeMap::new();
        let mut stacks: BTreeMap<i32, AccessStack> = BTreeMap::new();
        for (k, v) in &self.totals.access {
            let r = rows.entry((k.outcome, k.exiting, k.file)).or_default();
            r.0 += v.calls;
            r.1 += v.pages;
            let st = stacks.entry(k.stack_id).or_insert_with(|| AccessStack {
                stack_id: k.stack_id,
                frames: self.stack_frames.get(&k.stack_id).cloned().unwrap_or_default(),
                ..Default::default()
            });
            st.calls += v.calls;
            if k.exiting != 0 {
                st.exiting_calls += v.calls;
            }
            if k.outcome == vmscan_common::outcome::ACTIVATED {
                st.activated += v.calls;
            }
        }
        snap.access = rows
            .into_iter()
            .map(|((o, x, f), (calls, pages))| AccessRow {
                outcome: vmscan_common::outcome::NAMES.get(o as usize).copied().unwrap_or("?"),
                exiting: x != 0,
                file: f != 0,
                calls,
                pages,
            })
            .collect();
        let mut st: Vec<AccessStack> = stacks.into_values().collect();
        st.sort_by(|a, b| b.calls.cmp(&a.calls));
        st.truncate(64);
        snap.access_stacks = st;
        snap.findings = findings(&snap);
        snap.recent_findings = self.recent_findings.iter().cloned().collect();
        if snap.mglru == Some(true) {
            snap.notes.push(
                "MGLRU is enabled: the kernel's lists are generations; active/inactive sizes are its approximation"
                    .into(),
            );
        }
        if self.memcgs_dropped > 0 {
            snap.notes.push(format!("{} memory cgroups beyond {MAX_MEMCGS} not tracked", self.memcgs_dropped));
        }
        snap
    }
}

/// NUMA imbalance: a node reclaiming while another sits above its high watermark.
pub fn findings(s: &Snapshot) -> Vec<Finding> {
    let mut out = Vec::new();
    for a in &s.nodes {
        let reclaiming = a.kswapd.state == KswapdState::Awake || a.rates.reclaimed > 0.0;
        if !reclaiming {
            continue;
        }
        for b in &s.nodes {
            if b.node == a.node || b.high == 0 || b.free <= b.high {
                continue;
            }
            let how = if a.kswapd.state == KswapdState::Awake {
                format!("kswapd{} awake {:.1} s", a.node, a.kswapd_awake_secs)
            } else {
                "kswapd asleep".to_owned()
            };
            out.push(Finding {
                kind: "numa_imbalance",
                text: format!(
                    "node {} is reclaiming ({how}, {:.0} pages/s reclaimed) while node {} has {} free pages, above its high watermark {}",
                    a.node, a.rates.reclaimed, b.node, b.free, b.high
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmscan_common::event;
    use crate::model::input::{MemcgNode, MemcgSample, Zone};
    use vmscan_common::{FolioAgg, ShrinkActiveAgg, ShrinkInactiveAgg};

    fn ev(kind: u32, nid: i32, ts_s: f64) -> Event {
        Event { kind, nid, ts_ns: (ts_s * 1e9) as u64, ..Event::default() }
    }

    fn sample(ts_s: f64, lists: Lists) -> Sample {
        Sample { ts_ns: (ts_s * 1e9) as u64, nodes: BTreeMap::from([(0, lists)]), ..Sample::default() }
    }

    /// xorshift64*: deterministic pseudo-random input for property tests.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self, bound: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound.max(1)
        }
    }

    fn random_flows(r: &mut Rng, nodes: u32) -> Totals {
        let mut t = Totals::default();
        for n in 0..nodes {
            for l in 0..lru::COUNT {
                let pages = r.next(1000);
                t.lru_insert[(n * lru::COUNT + l) as usize] = FolioAgg { folios: pages / 4, pages };
            }
            t.lru_activate[(n * lru::COUNT + lru::ACTIVE_FILE) as usize].pages = r.next(300);
            t.lru_activate[(n * lru::COUNT + lru::ACTIVE_ANON) as usize].pages = r.next(300);
            for rec in 0..reclaimer::COUNT {
                for file in 0..2 {
                    let i = shrink_index(n, rec, file) as usize;
                    let scanned = r.next(500);
                    t.shrink_inactive[i] = ShrinkInactiveAgg {
                        passes: 1,
                        scanned,
                        reclaimed: r.next(scanned + 1),
                        activate_anon: r.next(50),
                        activate_file: r.next(50),
                        ..ShrinkInactiveAgg::default()
                    };
                    t.shrink_active[i] = ShrinkActiveAgg { passes: 1, deactivated: r.next(200), ..Default::default() };
                }
            }
        }
        t
    }

    #[test]
    fn conservation_moves_neither_create_nor_lose_pages() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..200 {
            let mut m = Model::default();
            let start = [r.next(1 << 20), r.next(1 << 20), r.next(1 << 20), r.next(1 << 20), r.next(1 << 10)];
            m.apply_sample(&sample(0.0, start));
            let d = random_flows(&mut r, 1);
            m.apply_totals(&d, 1_000_000_000, 1.0);
            let c = counters::derive(&d);
            let n = &c.nodes[0];
            let inserted: i64 = n.inserted.iter().sum::<u64>() as i64;
            let reclaimed = (n.reclaimed_anon + n.reclaimed_file) as i64;
            let predicted: i64 = m.nodes[&0].predicted.iter().sum();
            let before: i64 = start.iter().sum::<u64>() as i64;
            assert_eq!(predicted - before, inserted - reclaimed, "round {round}: only insertion and reclaim change the total");
            // Moves between anon lists stay in anon, file in file.
            let p = m.nodes[&0].predicted;
            let anon_change = p[0] + p[1] - (start[0] + start[1]) as i64;
            assert_eq!(anon_change, (n.inserted[0] + n.inserted[1]) as i64 - n.reclaimed_anon as i64, "round {round}");
        }
    }

    #[test]
    fn drift_is_predicted_minus_sampled() {
        let mut m = Model::default();
        m.apply_sample(&sample(0.0, [100, 100, 1000, 1000, 10]));
        let mut d = Totals::default();
        d.lru_insert[lru::INACTIVE_FILE as usize] = FolioAgg { folios: 10, pages: 40 };
        d.shrink_inactive[shrink_index(0, reclaimer::KSWAPD, 1) as usize] =
            ShrinkInactiveAgg { passes: 1, scanned: 32, reclaimed: 30, activate_file: 2, ..Default::default() };
        m.apply_totals(&d, 1_000_000_000, 1.0);
        // predicted inactive_file = 1000 + 40 - 30 - 2 = 1008, active_file = 1002
        m.apply_sample(&sample(1.0, [100, 100, 1000, 1002, 10]));
        let s = m.snapshot();
        let drift: Vec<Option<i64>> = s.nodes[0].lists.iter().map(|l| l.drift).collect();
        assert_eq!(drift, vec![Some(0), Some(0), Some(8), Some(0), Some(0)]);
        assert_eq!(s.nodes[0].lists[2].pages, Some(1000));
        assert_eq!(s.nodes[0].kswapd.reclaimed_in_episode, 30);
    }

    #[test]
    fn kswapd_state_machine_including_missed_records() {
        let mut m = Model::default();
        // Sleep first: vmscan attached mid-episode.
        m.apply_event(&ev(event::KSWAPD_SLEEP, 0, 1.0));
        let mut w = ev(event::WAKEUP_KSWAPD, 0, 1.5);
        w.order = 3;
        w.zid = 2;
        w.pid = 42;
        w.comm[..4].copy_from_slice(b"java");
        m.apply_event(&w);
        m.apply_event(&ev(event::KSWAPD_WAKE, 0, 2.0));
        m.apply_event(&ev(event::KSWAPD_SLEEP, 0, 2.5));
        // Wake, then wake again without a sleep (a lost sleep record).
        m.apply_event(&ev(event::KSWAPD_WAKE, 0, 3.0));
        m.apply_event(&ev(event::KSWAPD_WAKE, 0, 4.0));
        let s = m.snapshot();
        let k = &s.nodes[0].kswapd;
        assert_eq!(k.state, KswapdState::Awake);
        assert_eq!(k.episodes, 1);
        assert_eq!(k.sleeps_without_wake, 1);
        assert_eq!(k.wakes_while_awake, 1);
        assert_eq!(k.last_episode_us, 500_000);
        assert_eq!(k.wakeups_requested, 1);
        assert!(k.wake_reason.is_none(), "the pending wakeup was used by the first episode");
        assert_eq!(s.histograms["kswapd_episode"].cumulative.count, 1);
        assert_eq!(s.nodes[0].kswapd_awake_secs, 0.0, "now is the wake itself");
        m.apply_event(&ev(event::KSWAPD_SLEEP, 0, 5.0));
        assert_eq!(m.snapshot().nodes[0].kswapd.last_episode_us, 1_000_000);
    }

    #[test]
    fn memcg_episodes_and_bounded_stalls() {
        let mut m = Model::default();
        m.apply_sample(&Sample {
            memcgs: vec![MemcgSample {
                path: "/app".into(),
                id: 77,
                nodes: BTreeMap::from([(0, MemcgNode { file: 10, ..Default::default() })]),
                ..Default::default()
            }],
            ..Default::default()
        });
        for i in 0..(MAX_STALLS as u64 + 10) {
            let mut e = ev(event::RECLAIM_END, -1, 1.0 + i as f64 / 1000.0);
            e.start_ns = e.ts_ns - 2_000_000;
            e.reclaimer = reclaimer::MEMCG;
            e.cgroup_id = 77;
            e.reclaimed = 32;
            m.apply_event(&e);
        }
        let s = m.snapshot();
        assert_eq!(s.memcgs.len(), 1);
        assert_eq!(s.memcgs[0].path, "/app");
        assert_eq!(s.memcgs[0].reclaim_episodes, MAX_STALLS as u64 + 10);
        assert_eq!(s.memcgs[0].latency_us.p50, 2048);
        assert_eq!(s.stalls_dropped, 10);
        assert_eq!(s.stalls[0].memcg.as_deref(), Some("/app"));
        assert_eq!(s.lruvecs.len(), 1);
    }

    #[test]
    fn numa_imbalance_finding() {
        let mut m = Model::default();
        let mut s = Sample::default();
        s.nodes.insert(0, [0; 5]);
        s.nodes.insert(1, [0; 5]);
        s.zones = vec![
            Zone { node: 0, zone: "Normal".into(), free: 100, min: 50, low: 80, high: 120, managed: 1000, ..Default::default() },
            Zone { node: 1, zone: "Normal".into(), free: 9000, min: 50, low: 80, high: 120, managed: 10000, ..Default::default() },
        ];
        m.apply_sample(&s);
        assert!(m.snapshot().findings.is_empty(), "nobody is reclaiming");
        m.apply_event(&ev(event::KSWAPD_WAKE, 0, 1.0));
        let snap = m.snapshot();
        assert_eq!(snap.findings.len(), 1);
        assert!(snap.findings[0].text.contains("node 0 is reclaiming"), "{}", snap.findings[0].text);
        assert!(snap.findings[0].text.contains("node 1 has 9000 free pages"));
    }
}
