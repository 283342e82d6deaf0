//! The lruvec model: every node x memory cgroup with its five LRU lists,
//! the flows between them (see [`super::flows`]), kswapd per node (see
//! [`super::kswapd`]), reclaim episodes and stalls, histograms and findings.
//! Pure and deterministic: aggregate deltas, episodes and samples in;
//! [`Snapshot`]s out.
//!
//! Frees outside reclaim (munmap, truncation, exit) have no LRU tracepoint,
//! so the sizes the events predict drift from the kernel's; each sample
//! measures that drift and re-seeds the prediction.

use std::collections::{BTreeMap, HashMap, VecDeque};

use vmscan_common::{
    Event, HIST_BUCKETS, NODE_OVERFLOW, NODE_SLOTS, hist, hist_index, isolate_index, lru,
    memcg_move, memcg_reclaim, reclaimer, shrink_index,
};

use super::{
    counters::{self, BatchMoves, Counting, NodeCounters},
    event::{self, Decoded, Episode},
    findings::{self, MAX_FINDINGS},
    flows::Flows,
    hist::Windowed,
    input::{Bracket, Lists, LruGen, MemcgSample, Sample, Zone},
    kswapd::{Kswapd, WakeContext, WakeReason},
    named::Derives as _,
    selfcheck::{self, MemcgSelfCheck, SelfCheck},
    snapshot::{
        AccessRow, AccessStack, HistSnap, IsolationSnap, ListSnap, LruvecReclaim, LruvecSnap,
        MemcgSnap, NodeSnap, PRIORITY_LEVELS, Rates, SNAPSHOT_STALLS, Snapshot, Stall,
        TOP_ACCESS_STACKS, TimedFinding, TypeDrift, ZoneSnap,
    },
    totals::Totals,
};

/// Bounds on what the model keeps, so memory stays bounded at any event rate.
pub const MAX_STALLS: usize = 256;
pub const MAX_MEMCGS: usize = 4096;
pub const BALANCE_HISTORY: usize = 120;
pub const DEFAULT_WINDOW_SECS: u64 = 10;
/// Kernel stacks the model keeps symbolized frames for.
pub const MAX_SYMBOLIZED_STACKS: usize = 16384;

/// Still named by this path in `export::metrics::encode_state`.

#[derive(Clone, Debug, Default, PartialEq)]
struct NodeState {
    sampled: Option<Lists>,
    /// Sizes the events predict since the last sample (signed: frees are unseen).
    predicted: [i64; 5],
    /// Predicted minus sampled at the last sample.
    drift: Option<[i64; 5]>,
    /// The last sample was taken under MGLRU: only the types' totals
    /// (inactive + active) of `drift` mean anything.
    drift_by_type: bool,
    kswapd: Kswapd,
    balance: VecDeque<(u64, u64, u64)>,
    direct_stalls: u64,
    last_rates: Rates,
}

#[derive(Clone, Debug)]
struct MemcgState {
    path: Option<String>,
    episodes: u64,
    /// Episodes named by the reclaiming task's cgroup (the reclaimed one
    /// could not be read).
    episodes_by_task: u64,
    reclaimed: u64,
    latency: Windowed,
    swappiness: Option<u32>,
    inserted: BTreeMap<u32, [u64; 5]>,
    /// Pages per node by each move of the batches outside reclaim
    /// (vmscan_common::memcg_move).
    moved: BTreeMap<u32, [u64; memcg_move::COUNT as usize]>,
    /// Pages per node reclaim scanned and reclaimed from this memcg's
    /// inactive lists (vmscan_common::memcg_reclaim).
    reclaim: BTreeMap<u32, [u64; memcg_reclaim::COUNT as usize]>,
}

/// One memory cgroup's self-check: its memory.stat bracket when it joined
/// and its latest, and vmscan's figures for its subtree when it joined.
#[derive(Clone, Debug)]
struct MemcgCheckState {
    path: String,
    start: Bracket,
    base: BTreeMap<&'static str, u64>,
    last: Bracket,
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
    /// The last sample, less its memory cgroups (kept in `memcg_samples`).
    last_sample: Option<Sample>,
    /// When the generations in `last_sample` were read (a sample's ts_ns).
    lru_gen_ts_ns: u64,
    /// Every memory cgroup's last figures, by kernfs id.
    memcg_samples: BTreeMap<u64, MemcgSample>,
    window_secs: u64,
    recent_findings: VecDeque<TimedFinding>,
    stack_frames: BTreeMap<i32, Vec<String>>,
    counting: Counting,
    /// The self-check's start: the first /proc/vmstat bracket and the totals
    /// then (zero live; after the first tick in a replay).
    check_start: Option<(Bracket, Totals)>,
    /// The memory cgroups checked against their memory.stat, by id.
    memcg_checks: BTreeMap<u64, MemcgCheckState>,
    /// The first sample's time (the window of since-start figures).
    first_ns: Option<u64>,
    /// workingset_refault: None while attached, else why not; and why
    /// distances are not measured, if they are not.
    refault_unavailable: Option<String>,
    refault_no_distance: Option<String>,
    page_size: u64,
}

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
            hists: HISTS
                .iter()
                .map(|(n, _)| (*n, Windowed::new(window_secs)))
                .collect(),
            hist_available: HISTS.iter().map(|(n, _)| (*n, true)).collect(),
            totals: Totals::default(),
            now_ns: 0,
            interval_secs: 0.0,
            last_sample: None,
            lru_gen_ts_ns: 0,
            memcg_samples: BTreeMap::new(),
            window_secs,
            recent_findings: VecDeque::new(),
            first_ns: None,
            refault_unavailable: None,
            refault_no_distance: None,
            page_size: 4096,
            stack_frames: BTreeMap::new(),
            counting: Counting::default(),
            check_start: None,
            memcg_checks: BTreeMap::new(),
        }
    }

    /// Whether the last sample saw MGLRU on (its accounting differs).
    /// Tells the model how the kernel its data comes from counts reclaim.
    pub fn set_counting(&mut self, c: Counting) {
        self.counting = c;
    }

    /// How the kernel counts, MGLRU as the last sample saw it.
    pub fn counting(&self) -> Counting {
        Counting {
            mglru: self.mglru(),
            ..self.counting
        }
    }

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

    /// Whether refaults are seen (None: workingset_refault attached; else
    /// why not) and why distances are not measured, if they are not.
    pub fn set_refaults(
        &mut self,
        unavailable: Option<String>,
        no_distance: Option<String>,
        page_size: u64,
    ) {
        self.refault_unavailable = unavailable;
        self.refault_no_distance = no_distance;
        self.page_size = page_size.max(1);
    }

    /// Refaults since the model started: cgroups by refaulted pages with
    /// their curves, tasks (files stay unnamed here: naming them needs
    /// /proc, which `vmscan refaults` reads).
    fn refault_snap(&self) -> super::snapshot::RefaultsSnap {
        use super::refaults::{RefaultInput, RefaultView, build};
        if let Some(why) = &self.refault_unavailable {
            return super::snapshot::RefaultsSnap {
                unavailable: Some(why.clone()),
                report: None,
            };
        }
        let t = &self.totals;
        let input = RefaultInput {
            refault: &t.refault,
            dist: &t.refault_dist,
            files: &t.refault_files,
            tasks: &t.refault_tasks,
        };
        let path = |id: u64| self.memcg_paths.get(&id).cloned();
        let no_file = |_: u32, _: u64| None;
        let secs = self
            .first_ns
            .map_or(0.0, |f| self.now_ns.saturating_sub(f) as f64 / 1e9);
        let view = RefaultView {
            window_secs: secs,
            mglru: self.mglru(),
            page_size: self.page_size,
            no_distance: self.refault_no_distance.clone(),
            memcg_path: &path,
            file_path: &no_file,
            only: None,
        };
        let mut r = build(&input, &view);
        r.memcgs.truncate(super::snapshot::SNAPSHOT_REFAULT_ROWS);
        r.files.truncate(super::snapshot::SNAPSHOT_REFAULT_ROWS);
        r.tasks.truncate(super::snapshot::SNAPSHOT_REFAULT_ROWS);
        super::snapshot::RefaultsSnap {
            unavailable: None,
            report: Some(r),
        }
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
                    episodes_by_task: 0,
                    reclaimed: 0,
                    latency: Windowed::new(self.window_secs),
                    swappiness: None,
                    inserted: BTreeMap::new(),
                    moved: BTreeMap::new(),
                    reclaim: BTreeMap::new(),
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
        let c = counters::derive_with(d, &self.counting());
        for nc in &c.nodes {
            self.apply_node_flows(d, nc, ts_ns, secs);
        }
        self.apply_kernel_hists(d, ts_ns);
        self.apply_memcg_insertions(d);
    }

    /// Applies one recorded or live tick: the records drained before it, its
    /// aggregate delta, then its kernel sample (the order a live session
    /// reads them in).
    pub fn apply_tick(&mut self, records: &[Decoded], delta: &Totals, secs: f64, sample: &Sample) {
        self.apply_records(records);
        self.apply_totals(delta, sample.ts_ns, secs);
        self.apply_sample(sample);
    }

    /// One node's list flows, scan balance, kswapd progress and rates.
    fn apply_node_flows(&mut self, d: &Totals, nc: &NodeCounters, ts_ns: u64, secs: f64) {
        let flows = Flows::of(d, nc);
        let counting = self.counting();
        let st = self.node(nc.node);
        flows.predict(nc, &mut st.predicted);
        st.balance
            .push_back((ts_ns, nc.scanned_anon, nc.scanned_file));
        while st.balance.len() > BALANCE_HISTORY {
            st.balance.pop_front();
        }
        st.kswapd.reclaimed_in_episode += nc.reclaimed.kswapd;
        st.last_rates = flows.rates(nc, secs, &counting);
    }

    /// Kernel-side histograms (shrink_node passes, batch residency), per node.
    fn apply_kernel_hists(&mut self, d: &Totals, ts_ns: u64) {
        for (kind, name) in [
            (hist::SHRINK_NODE_US, "shrink_node"),
            (hist::BATCH_RESIDENCY_US, "batch_residency"),
        ] {
            for node in 0..NODE_SLOTS {
                for b in 0..HIST_BUCKETS {
                    let n = d.hist[hist_index(kind, node, b) as usize];
                    if n > 0
                        && let Some(h) = self.hists.get_mut(name)
                    {
                        h.add_bucket(ts_ns, b as usize, n);
                    }
                }
            }
        }
    }

    /// Pages inserted per memory cgroup, node and list, moved by the
    /// batches outside reclaim, and scanned and reclaimed by reclaim.
    fn apply_memcg_insertions(&mut self, d: &Totals) {
        for (key, agg) in &d.memcg_insert {
            if let Some(m) = self.memcg(key.cgroup_id) {
                let e = m.inserted.entry(key.node).or_insert([0; 5]);
                if let Some(slot) = e.get_mut(key.lru as usize) {
                    *slot += agg.pages;
                }
            }
        }
        for (key, &pages) in &d.memcg_moves {
            if let Some(m) = self.memcg(key.cgroup_id) {
                let e = m.moved.entry(key.node).or_default();
                if let Some(slot) = e.get_mut(key.kind as usize) {
                    *slot += pages;
                }
            }
        }
        for (key, &pages) in &d.memcg_reclaim {
            if let Some(m) = self.memcg(key.cgroup_id) {
                let e = m.reclaim.entry(key.node).or_default();
                if let Some(slot) = e.get_mut(key.kind as usize) {
                    *slot += pages;
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
        match e {
            Episode::WakeupKswapd {
                nid,
                zid,
                order,
                gfp,
                pid,
                comm,
                cgroup_id,
                context,
                ..
            } => {
                let reason = WakeReason {
                    zid: *zid,
                    order: *order,
                    gfp: *gfp,
                    pid: *pid,
                    comm: comm.clone(),
                    cgroup_id: *cgroup_id,
                    context: WakeContext::of(*context),
                };
                self.node(node_of(*nid)).kswapd.wakeup_requested(reason);
            }
            Episode::KswapdWake {
                ts_ns,
                nid,
                zid,
                order,
            } => self.node(node_of(*nid)).kswapd.wake(*ts_ns, *order, *zid),
            Episode::KswapdSleep { ts_ns, nid } => {
                if let Some(us) = self.node(node_of(*nid)).kswapd.sleep(*ts_ns) {
                    self.record_hist("kswapd_episode", *ts_ns, us);
                }
            }
            Episode::ReclaimEnd { .. } => self.apply_reclaim_end(e),
            Episode::ShrinkInactive { .. }
            | Episode::ShrinkNode { .. }
            | Episode::Throttled { .. } => {}
        }
    }

    fn record_hist(&mut self, name: &str, ts_ns: u64, us: u64) {
        if let Some(h) = self.hists.get_mut(name) {
            h.record(ts_ns, us);
        }
    }

    /// A direct, memcg or node reclaim episode ended: a stall.
    fn apply_reclaim_end(&mut self, e: &Episode) {
        let &Episode::ReclaimEnd {
            ts_ns,
            start_ns,
            reclaimer: rec,
            nid,
            order,
            pid,
            ref comm,
            cgroup_id,
            target,
            reclaimed,
        } = e
        else {
            return;
        };
        let us = ts_ns.saturating_sub(start_ns) / 1000;
        if rec == reclaimer::MEMCG {
            self.record_hist("memcg_reclaim", ts_ns, us);
            if let Some(m) = self.memcg(cgroup_id) {
                m.episodes += 1;
                m.episodes_by_task += u64::from(!target);
                m.reclaimed += reclaimed;
                m.latency.record(ts_ns, us);
            }
        } else {
            self.record_hist("direct_reclaim", ts_ns, us);
            self.count_direct_stall(rec, node_of(nid));
        }
        if self.stalls.len() >= MAX_STALLS {
            self.stalls.pop_front();
            self.stalls_dropped += 1;
        }
        let name = reclaimer::NAMES
            .get(rec as usize)
            .copied()
            .unwrap_or("other");
        self.stalls.push_back(Stall {
            end_ns: ts_ns,
            pid,
            comm: comm.clone(),
            reclaimer: name.to_owned(),
            cgroup_id,
            memcg: self.memcg_paths.get(&cgroup_id).cloned(),
            latency_us: us,
            reclaimed,
            order,
            nid,
        });
    }

    /// Direct reclaim walks the zonelist: count the stall on every node whose
    /// kswapd is awake, and on the node for node reclaim (on every node for
    /// the others).
    fn count_direct_stall(&mut self, rec: u32, nid: u32) {
        for (n, st) in self.nodes.iter_mut() {
            if st.kswapd.is_awake() {
                st.kswapd.direct_stalls_in_episode += 1;
            }
            if rec == reclaimer::NODE && *n == nid {
                st.direct_stalls += 1;
            }
        }
        if rec != reclaimer::NODE {
            for st in self.nodes.values_mut() {
                st.direct_stalls += 1;
            }
        }
    }

    /// Applies a kernel sample: measures drift, re-seeds the prediction.
    pub fn apply_sample(&mut self, s: &Sample) {
        self.now_ns = self.now_ns.max(s.ts_ns);
        self.first_ns.get_or_insert(s.ts_ns);
        for (&n, lists) in &s.nodes {
            let st = self.node(n);
            if st.sampled.is_some() {
                let mut d = [0i64; 5];
                for i in 0..5 {
                    d[i] = st.predicted[i] - lists[i] as i64;
                }
                st.drift = Some(d);
                st.drift_by_type = s.mglru == Some(true);
            }
            st.sampled = Some(*lists);
            st.predicted = lists.map(|v| v as i64);
        }
        self.apply_memcg_samples(s);
        if self.check_start.is_none()
            && let Some(b) = &s.vmstat
        {
            self.check_start = Some((b.clone(), self.totals.clone()));
        }
        self.apply_memcg_brackets(s);
        let mut kept = s.without_memcgs();
        if !s.lru_gen_unread {
            self.lru_gen_ts_ns = s.ts_ns;
        } else if let Some(last) = self.last_sample.as_mut() {
            kept.lru_gen = std::mem::take(&mut last.lru_gen);
        }
        self.last_sample = Some(kept);
        // Findings hold at a sample (after the interval's flows): keep them.
        // They read only the nodes, so only the nodes are built.
        for f in findings::findings(&self.node_snaps()) {
            if self.recent_findings.len() >= MAX_FINDINGS {
                self.recent_findings.pop_front();
            }
            self.recent_findings.push_back(TimedFinding {
                ts_ns: s.ts_ns,
                kind: f.kind,
                text: f.text,
            });
        }
    }

    /// The memory cgroups of a sample: all of them, or (partial) those read
    /// again and those removed.
    fn apply_memcg_samples(&mut self, s: &Sample) {
        if !s.memcgs_partial {
            self.memcg_samples.clear();
        }
        for id in &s.memcgs_gone {
            self.memcg_samples.remove(id);
        }
        for m in &s.memcgs {
            if self.memcg_paths.get(&m.id) != Some(&m.path) {
                self.memcg_paths.insert(m.id, m.path.clone());
            }
            if let Some(state) = self.memcgs.get_mut(&m.id) {
                state.path = Some(m.path.clone());
                state.swappiness = m.swappiness;
            }
            self.memcg_samples.insert(m.id, m.clone());
        }
        // Forget cgroups that are gone and never reclaimed (bounded state).
        if !s.memcgs_partial || !s.memcgs_gone.is_empty() {
            let live = &self.memcg_samples;
            self.memcgs
                .retain(|id, m| live.contains_key(id) || m.episodes > 0 || *id == 0);
            self.memcg_paths.retain(|id, _| live.contains_key(id));
        }
    }

    /// Symbolized frames of a kernel stack id (innermost first).
    pub fn set_stack_frames(&mut self, id: i32, frames: Vec<String>) {
        if self.stack_frames.len() < MAX_SYMBOLIZED_STACKS {
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
        self.snapshot_with(true)
    }

    /// A snapshot, with the per-lruvec table only if `lruvecs` (else empty):
    /// with thousands of memory cgroups the table is most of a snapshot's
    /// cost, and a view that does not show it need not build it.
    pub fn snapshot_with(&self, lruvecs: bool) -> Snapshot {
        let nodes = self.node_snaps();
        let (access, access_stacks) = self.access_snaps();
        Snapshot {
            ts_ns: self.now_ns,
            interval_secs: self.interval_secs,
            mglru: self.last_sample.as_ref().and_then(|s| s.mglru),
            vm_swappiness: self.last_sample.as_ref().and_then(|s| s.vm_swappiness),
            lru_gen_read_secs_ago: self
                .last_sample
                .as_ref()
                .filter(|s| !s.lru_gen.is_empty())
                .map(|_| self.now_ns.saturating_sub(self.lru_gen_ts_ns) as f64 / 1e9),
            findings: findings::findings(&nodes),
            nodes,
            lruvecs: if lruvecs { self.lruvecs() } else { vec![] },
            memcgs: self.memcg_snaps(),
            stalls: self
                .stalls
                .iter()
                .rev()
                .take(SNAPSHOT_STALLS)
                .cloned()
                .collect(),
            stalls_dropped: self.stalls_dropped,
            isolation: self.isolation_snaps(),
            histograms: self.hist_snaps(),
            totals: counters::derive_with(&self.totals, &self.counting()),
            lost_total: self.totals.lost.iter().sum(),
            access,
            access_stacks,
            hook_events: self.totals.hits.clone(),
            hook_lost: self.totals.lost.clone(),
            notes: self.notes(),
            recent_findings: self.recent_findings.iter().cloned().collect(),
            self_check: self.self_check(),
            refaults: self.refault_snap(),
        }
    }

    /// Starts or extends each checked memcg's window with the sample's
    /// memory.stat brackets; a memcg without one this time leaves the check
    /// (and starts again if it comes back).
    fn apply_memcg_brackets(&mut self, s: &Sample) {
        self.memcg_checks
            .retain(|id, _| s.memcg_vmstat.iter().any(|b| b.id == *id));
        for b in &s.memcg_vmstat {
            let bracket = b.stat.clone();
            if let Some(st) = self.memcg_checks.get_mut(&b.id) {
                st.last = bracket;
                continue;
            }
            let base = self.memcg_values(&b.path).into_iter().collect();
            self.memcg_checks.insert(
                b.id,
                MemcgCheckState {
                    path: b.path.clone(),
                    start: bracket.clone(),
                    base,
                    last: bracket,
                },
            );
        }
    }

    /// vmscan's per-memcg counters (input::memcg_checked) summed over the
    /// memcg at `path` and its descendants, as cgroup v2's memory.stat
    /// counts them, since the model started: those this kernel lets vmscan
    /// derive (as for /proc/vmstat). Ids not named yet (a cgroup newer than
    /// the last walk) count only under the root.
    fn memcg_values(&self, path: &str) -> Vec<(&'static str, u64)> {
        let below = format!("{path}/");
        let inside = |id: u64| {
            path == "/"
                || self
                    .memcg_paths
                    .get(&id)
                    .is_some_and(|p| p == path || p.starts_with(&below))
        };
        let mut t = Totals {
            refault: self
                .totals
                .refault
                .iter()
                .filter(|(k, _)| inside(k.cgroup_id))
                .map(|(k, v)| (*k, *v))
                .collect(),
            ..Totals::default()
        };
        for (k, &pages) in &self.totals.memcg_moves {
            if inside(k.cgroup_id) && memcg_move::is_lazyfree(k.kind) {
                let active = k.kind - memcg_move::LAZYFREE_FROM_INACTIVE;
                if let Some(slot) = t
                    .lazyfree
                    .get_mut(
                        vmscan_common::lazyfree_index(k.node.min(NODE_OVERFLOW), active) as usize,
                    )
                {
                    *slot += pages;
                }
            }
        }
        let counting = self.counting();
        let by_lruvec = super::input::BY_LRUVEC;
        let mut out: Vec<(&'static str, u64)> = counters::derive_with(&t, &counting)
            .vmstat
            .fields()
            .into_iter()
            .filter(|(name, _)| super::input::memcg_checked(name) && !by_lruvec.contains(name))
            .collect();
        if counting.memcg_reclaim {
            // Every reclaimer's, both types: memory.stat's pgscan, pgsteal,
            // pgrefill, reclaim's pgdeactivate and reclaim's pgactivate, in
            // memcg_reclaim's order by pairs.
            let mut sums = [0u64; 5];
            for (k, &pages) in &self.totals.memcg_reclaim {
                if inside(k.cgroup_id)
                    && let Some(s) = sums.get_mut(k.kind as usize / 2)
                {
                    *s += pages;
                }
            }
            let [scanned, reclaimed, refilled, deactivated, activated] = sums;
            // The batches' pages of the memcg and its descendants, of
            // either type's move `anon` (its file twin is the next kind).
            let batch = |anon: u32| -> u64 {
                self.totals
                    .memcg_moves
                    .iter()
                    .filter(|(k, _)| inside(k.cgroup_id) && (k.kind == anon || k.kind == anon + 1))
                    .map(|(_, &p)| p)
                    .sum()
            };
            out.extend([("pgscan", scanned), ("pgsteal", reclaimed)]);
            if counting.passes_seen() {
                // shrink_folio_list's PGACTIVATE (by the lruvec shrunk) and
                // lru_activate's (by the folio's memcg); reclaim_pages()'s
                // are keyed by neither (MEMCG_CAUSE).
                out.push(("pgactivate", activated + batch(memcg_move::ACTIVATED_ANON)));
            }
            // MGLRU's PGREFILL has no tracepoint and it deactivates by
            // aging (counters.rs).
            if !counting.mglru {
                out.push(("pgrefill", refilled));
                if counting.deactivate {
                    out.push((
                        "pgdeactivate",
                        deactivated + batch(memcg_move::DEACTIVATED_ANON),
                    ));
                }
            }
        }
        out
    }

    /// Each checked memcg's counters against its memory.stat over its
    /// window (from the reading it joined at to the last), within the
    /// memcg stat slack.
    fn memcg_self_checks(&self) -> Vec<MemcgSelfCheck> {
        let slack = self
            .last_sample
            .as_ref()
            .and_then(|s| s.memcg_stat_slack)
            .unwrap_or(0);
        self.memcg_checks
            .values()
            .filter(|st| st.last != st.start)
            .filter_map(|st| {
                let fields: Vec<(&'static str, u64)> = self
                    .memcg_values(&st.path)
                    .into_iter()
                    .map(|(n, v)| (n, v.saturating_sub(st.base.get(n).copied().unwrap_or(0))))
                    .collect();
                let c = selfcheck::check_fields(&fields, &st.start, &st.last, &|_| slack);
                (c.checked > 0).then(|| MemcgSelfCheck {
                    memcg: st.path.clone(),
                    checked: c.checked,
                    exact: c.exact,
                    counters: c
                        .counters
                        .into_iter()
                        .map(|mut k| {
                            k.likely_cause = k.likely_cause.map(|_| selfcheck::MEMCG_CAUSE);
                            k
                        })
                        .collect(),
                })
            })
            .collect()
    }

    /// Every derived counter against /proc/vmstat from the first bracketed
    /// sample to the last (empty when the samples carry no brackets).
    pub fn self_check(&self) -> SelfCheck {
        let last = self.last_sample.as_ref().and_then(|s| s.vmstat.as_ref());
        let mut c = match (&self.check_start, last) {
            (Some((start, base)), Some(last)) => {
                let counting = self.counting();
                let v = counters::derive_with(&self.totals.since(base), &counting).vmstat;
                let zones = self
                    .last_sample
                    .as_ref()
                    .map(|s| s.zones.as_slice())
                    .unwrap_or_default();
                selfcheck::check(
                    &v,
                    start,
                    last,
                    &selfcheck::slack_for(&counting, super::input::global_stat_slack(zones)),
                )
            }
            _ => SelfCheck::default(),
        };
        c.memcgs = self.memcg_self_checks();
        c
    }

    fn node_snaps(&self) -> Vec<NodeSnap> {
        let zones = self
            .last_sample
            .as_ref()
            .map(|s| s.zones.as_slice())
            .unwrap_or_default();
        self.nodes
            .iter()
            .map(|(&n, st)| self.node_snap(n, st, zones))
            .collect()
    }

    fn node_snap(&self, n: u32, st: &NodeState, zones: &[Zone]) -> NodeSnap {
        let mut ns = NodeSnap {
            node: n,
            ..NodeSnap::default()
        };
        let noise = super::input::node_stat_slack(zones, n).map(|s| 2 * s);
        for (i, name) in lru::NAMES.iter().enumerate() {
            let per_type = st.drift_by_type && i as u32 != lru::UNEVICTABLE;
            ns.lists.push(ListSnap {
                name,
                pages: st.sampled.map(|l| l[i]),
                drift: st.drift.filter(|_| !per_type).map(|d| d[i]),
                drift_noise: noise,
            });
        }
        if st.drift_by_type {
            for (name, inactive, active) in [
                ("anon", lru::INACTIVE_ANON, lru::ACTIVE_ANON),
                ("file", lru::INACTIVE_FILE, lru::ACTIVE_FILE),
            ] {
                // Unseen evictions (MGLRU before 6.7) would show as drift.
                let drift = st
                    .drift
                    .filter(|_| st.last_rates.derives("reclaimed"))
                    .map(|d| d[inactive as usize] + d[active as usize]);
                ns.type_drift.push(TypeDrift {
                    name,
                    drift,
                    drift_noise: noise.map(|n| 2 * n),
                });
            }
        }
        for z in zones.iter().filter(|z| z.node == n && z.managed > 0) {
            ns.free += z.free;
            ns.min += z.min;
            ns.low += z.low;
            ns.high += z.high;
            ns.zones.push(ZoneSnap {
                zone: z.zone.clone(),
                free: z.free,
                min: z.min,
                low: z.low,
                high: z.high,
            });
        }
        ns.rates = st.last_rates.clone();
        ns.kswapd = st.kswapd.clone();
        ns.kswapd_awake_secs = st.kswapd.awake_secs(self.now_ns);
        ns.direct_stalls = st.direct_stalls;
        ns.balance = st.balance.iter().map(|&(_, a, f)| (a, f)).collect();
        ns.priority = self.priority_passes(n);
        ns.memory_tier = self
            .last_sample
            .as_ref()
            .and_then(|s| s.memory_tiers.get(&n).copied());
        ns
    }

    /// Shrink passes of node `n` by scan priority, since start.
    fn priority_passes(&self, n: u32) -> Vec<u64> {
        let mut prio = vec![0u64; PRIORITY_LEVELS];
        for rec in 0..reclaimer::COUNT {
            for file in 0..2 {
                let a = &self.totals.shrink_inactive[shrink_index(n, rec, file) as usize];
                for (p, v) in prio.iter_mut().zip(a.priority.iter()) {
                    *p += v;
                }
            }
        }
        prio
    }

    /// Every lruvec (memory cgroup x node) as last sampled, by memcg path:
    /// the snapshot's `lruvecs`. O(n log n) in the memcgs.
    pub fn lruvecs(&self) -> Vec<LruvecSnap> {
        let mut out = Vec::new();
        let Some(s) = &self.last_sample else {
            return out;
        };
        let generations: HashMap<(u32, &str), &LruGen> = s
            .lru_gen
            .iter()
            .map(|g| ((g.node, g.memcg.as_str()), g))
            .collect();
        let mut by_path: Vec<&MemcgSample> = self.memcg_samples.values().collect();
        by_path.sort_unstable_by(|a, b| a.path.cmp(&b.path).then(a.id.cmp(&b.id)));
        out.reserve(by_path.len());
        let counting = self.counting();
        for m in by_path {
            let st = self.memcgs.get(&m.id);
            let inserted = st.map(|st| &st.inserted);
            let kube = super::kube::parse(&m.path);
            for (&node, mn) in &m.nodes {
                let moved = st
                    .and_then(|st| st.moved.get(&node))
                    .copied()
                    .unwrap_or_default();
                let reclaim = counting.memcg_reclaim.then(|| {
                    LruvecReclaim::of_kinds(
                        st.and_then(|st| st.reclaim.get(&node))
                            .copied()
                            .unwrap_or_default(),
                        counting.mglru,
                        counting.passes_seen(),
                    )
                });
                out.push(LruvecSnap {
                    reclaim,
                    // Where the node's figures are derived (counters.rs).
                    moved: BatchMoves::of_kinds(moved, &counting),
                    node,
                    memcg: m.path.clone(),
                    memcg_id: m.id,
                    lists: mn.lists,
                    anon: mn.anon,
                    file: mn.file,
                    unevictable: mn.unevictable,
                    inserted: inserted
                        .and_then(|i| i.get(&node))
                        .copied()
                        .unwrap_or([0; 5]),
                    generations: generations
                        .get(&(node, m.path.as_str()))
                        .map(|g| g.generations.clone()),
                    kube: kube.clone(),
                });
            }
        }
        out
    }

    fn memcg_snaps(&self) -> Vec<MemcgSnap> {
        self.memcgs
            .iter()
            .filter(|(_, m)| m.episodes > 0)
            .map(|(&id, m)| MemcgSnap {
                path: m
                    .path
                    .clone()
                    .unwrap_or_else(|| format!("(cgroup id {id})")),
                id,
                swappiness: m.swappiness,
                reclaim_episodes: m.episodes,
                episodes_named_by_task: m.episodes_by_task,
                reclaimed: m.reclaimed,
                latency_us: m.latency.cumulative.summary(),
                kube: m.path.as_deref().and_then(super::kube::parse),
            })
            .collect()
    }

    fn isolation_snaps(&self) -> Vec<IsolationSnap> {
        let k = self.counting();
        // MGLRU before 6.7: only the folios taken are seen.
        let seen = (!k.mglru || k.mglru_tracepoints).then_some(0);
        (0..lru::COUNT)
            .map(|l| {
                let mut iso = IsolationSnap {
                    lru: lru::NAMES[l as usize],
                    requested: seen,
                    scanned: seen,
                    skipped: seen,
                    ..IsolationSnap::default()
                };
                for rec in 0..reclaimer::COUNT {
                    let a = &self.totals.isolate[isolate_index(rec, l) as usize];
                    iso.events += a.events;
                    iso.taken += a.taken;
                    for (sum, v) in [
                        (&mut iso.requested, a.requested),
                        (&mut iso.scanned, a.scanned),
                        (&mut iso.skipped, a.skipped),
                    ] {
                        if let Some(s) = sum.as_mut() {
                            *s += v;
                        }
                    }
                }
                iso
            })
            .collect()
    }

    fn hist_snaps(&self) -> BTreeMap<String, HistSnap> {
        let mut out = BTreeMap::new();
        for (name, unit) in HISTS {
            let w = &self.hists[name];
            let window = w.window(self.now_ns);
            out.insert(
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
        out
    }

    /// folio_mark_accessed by (outcome, exiting, teardown, file), and the
    /// most called stacks.
    fn access_snaps(&self) -> (Vec<AccessRow>, Vec<AccessStack>) {
        let mut rows: BTreeMap<(u32, u32, u32, u32), (u64, u64)> = BTreeMap::new();
        let mut stacks: BTreeMap<i32, AccessStack> = BTreeMap::new();
        for (k, v) in &self.totals.access {
            let r = rows
                .entry((k.outcome, k.exiting, k.teardown, k.file))
                .or_default();
            r.0 += v.calls;
            r.1 += v.pages;
            let st = stacks.entry(k.stack_id).or_insert_with(|| AccessStack {
                stack_id: k.stack_id,
                frames: self
                    .stack_frames
                    .get(&k.stack_id)
                    .cloned()
                    .unwrap_or_default(),
                ..Default::default()
            });
            st.calls += v.calls;
            if k.exiting != 0 {
                st.exiting_calls += v.calls;
            }
            if let Some(inside) = teardown(k.teardown) {
                *st.teardown_calls.get_or_insert(0) += if inside { v.calls } else { 0 };
            }
            if k.outcome == vmscan_common::outcome::ACTIVATED {
                st.activated += v.calls;
            }
        }
        let rows = rows
            .into_iter()
            .map(|((o, x, t, f), (calls, pages))| AccessRow {
                outcome: vmscan_common::outcome::NAMES
                    .get(o as usize)
                    .copied()
                    .unwrap_or("?"),
                exiting: x != 0,
                teardown: teardown(t),
                file: f != 0,
                calls,
                pages,
            })
            .collect();
        let mut st: Vec<AccessStack> = stacks.into_values().collect();
        st.sort_by_key(|s| std::cmp::Reverse(s.calls));
        st.truncate(TOP_ACCESS_STACKS);
        (rows, st)
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.mglru() {
            notes.push(
                "MGLRU is enabled: the kernel's lists are generations; active/inactive sizes are its approximation, which aging changes with no event, so drift is shown per type (anon, file), not per list; generations are read from the kernel, not predicted: folios move between them with no event, in functions the kernel inlines or clones without BTF (sort_folio's promotions, eviction's putback)"
                    .into(),
            );
        }
        if self.memcgs_dropped > 0 {
            notes.push(format!(
                "{} memory cgroups beyond {MAX_MEMCGS} not tracked",
                self.memcgs_dropped
            ));
        }
        notes
    }
}

/// The node slot of a record's node id (negative: unknown).
fn node_of(nid: i32) -> u32 {
    if nid < 0 { NODE_OVERFLOW } else { nid as u32 }
}

/// A folio_mark_accessed key's teardown tag: whether the call came from
/// inside exit_mmap, or None where that was not observed.
pub fn teardown(tag: u32) -> Option<bool> {
    match tag {
        vmscan_common::teardown::INSIDE => Some(true),
        vmscan_common::teardown::OUTSIDE => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::input::{MemcgNode, MemcgSample, Zone};
    use crate::model::kswapd::KswapdState;
    use vmscan_common::event;
    use vmscan_common::{FolioAgg, ShrinkActiveAgg, ShrinkInactiveAgg};

    fn ev(kind: vmscan_common::EventKind, nid: i32, ts_s: f64) -> Event {
        Event {
            kind,
            nid,
            ts_ns: (ts_s * 1e9) as u64,
            ..Event::default()
        }
    }

    fn sample(ts_s: f64, lists: Lists) -> Sample {
        Sample {
            ts_ns: (ts_s * 1e9) as u64,
            nodes: BTreeMap::from([(0, lists)]),
            ..Sample::default()
        }
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
                t.lru_insert[vmscan_common::lru_index(n, l) as usize] = FolioAgg {
                    folios: pages / 4,
                    pages,
                };
            }
            t.lru_activate[vmscan_common::lru_index(n, lru::ACTIVE_FILE) as usize].pages =
                r.next(300);
            t.lru_activate[vmscan_common::lru_index(n, lru::ACTIVE_ANON) as usize].pages =
                r.next(300);
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
                    t.shrink_active[i] = ShrinkActiveAgg {
                        passes: 1,
                        deactivated: r.next(200),
                        ..Default::default()
                    };
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
            let start = [
                r.next(1 << 20),
                r.next(1 << 20),
                r.next(1 << 20),
                r.next(1 << 20),
                r.next(1 << 10),
            ];
            m.apply_sample(&sample(0.0, start));
            let d = random_flows(&mut r, 1);
            m.apply_totals(&d, 1_000_000_000, 1.0);
            let c = counters::derive(&d);
            let n = &c.nodes[0];
            let inserted: i64 = n.inserted.iter().sum::<u64>() as i64;
            let reclaimed = (n.reclaimed_anon + n.reclaimed_file) as i64;
            let predicted: i64 = m.nodes[&0].predicted.iter().sum();
            let before: i64 = start.iter().sum::<u64>() as i64;
            assert_eq!(
                predicted - before,
                inserted - reclaimed,
                "round {round}: only insertion and reclaim change the total"
            );
            // Moves between anon lists stay in anon, file in file.
            let p = m.nodes[&0].predicted;
            let anon_change = p[0] + p[1] - (start[0] + start[1]) as i64;
            assert_eq!(
                anon_change,
                (n.inserted[0] + n.inserted[1]) as i64 - n.reclaimed_anon as i64,
                "round {round}"
            );
        }
    }

    #[test]
    fn drift_is_predicted_minus_sampled() {
        let mut m = Model::default();
        m.apply_sample(&sample(0.0, [100, 100, 1000, 1000, 10]));
        let mut d = Totals::default();
        d.lru_insert[lru::INACTIVE_FILE as usize] = FolioAgg {
            folios: 10,
            pages: 40,
        };
        d.shrink_inactive[shrink_index(0, reclaimer::KSWAPD, 1) as usize] = ShrinkInactiveAgg {
            passes: 1,
            scanned: 32,
            reclaimed: 30,
            activate_file: 2,
            ..Default::default()
        };
        m.apply_totals(&d, 1_000_000_000, 1.0);
        // predicted inactive_file = 1000 + 40 - 30 - 2 = 1008, active_file = 1002
        m.apply_sample(&sample(1.0, [100, 100, 1000, 1002, 10]));
        let s = m.snapshot();
        let drift: Vec<Option<i64>> = s.nodes[0].lists.iter().map(|l| l.drift).collect();
        assert_eq!(drift, vec![Some(0), Some(0), Some(8), Some(0), Some(0)]);
        assert_eq!(s.nodes[0].lists[2].pages, Some(1000));
        // No thresholds sampled: the drift is shown bare.
        assert_eq!(
            (
                s.nodes[0].lists[2].drift_noise,
                s.nodes[0].lists[2].drift_text()
            ),
            (None, "+8".to_owned())
        );
        // 2 CPUs x threshold 2 per read, twice over a drift: 8 pages is noise;
        // 9 is not.
        let zone = Zone {
            node: 0,
            zone: "Normal".into(),
            managed: 1000,
            stat_threshold: 2,
            cpus: 2,
            ..Default::default()
        };
        let mut z = sample(2.0, [100, 100, 1000, 1002, 10]);
        z.zones = vec![zone.clone()];
        m.apply_totals(&d, 2_000_000_000, 1.0);
        m.apply_sample(&z);
        let l = &m.snapshot().nodes[0].lists[2];
        assert_eq!(
            (l.drift, l.drift_noise, l.drift_text()),
            (Some(8), Some(8), "~0 (±8)".to_owned())
        );
        m.apply_totals(
            &Totals {
                lru_insert: {
                    let mut v = d.lru_insert.clone();
                    v[lru::INACTIVE_FILE as usize].pages = 41;
                    v
                },
                ..d.clone()
            },
            3_000_000_000,
            1.0,
        );
        let mut z = sample(3.0, [100, 100, 1000, 1004, 10]);
        z.zones = vec![zone];
        m.apply_sample(&z);
        let l = &m.snapshot().nodes[0].lists[2];
        assert_eq!((l.drift, l.drift_text()), (Some(9), "+9 (±8)".to_owned()));
        assert_eq!(s.nodes[0].kswapd.reclaimed_in_episode, 30);
    }

    /// One MGLRU interval counted as `k` says: lists [100, 100, 1000, 1000,
    /// 10], 40 pages inserted into the inactive file list, then `after`.
    fn mglru_interval(k: Counting, after: [u64; 5]) -> Snapshot {
        let mut m = Model::default();
        m.set_counting(k);
        let mglru = |t: f64, l: [u64; 5]| Sample {
            mglru: Some(true),
            ..sample(t, l)
        };
        m.apply_sample(&mglru(0.0, [100, 100, 1000, 1000, 10]));
        let mut d = Totals::default();
        d.lru_insert[lru::INACTIVE_FILE as usize] = FolioAgg {
            folios: 10,
            pages: 40,
        };
        m.apply_totals(&d, 1_000_000_000, 1.0);
        m.apply_sample(&mglru(1.0, after));
        m.snapshot()
    }

    #[test]
    fn under_mglru_drift_is_per_type_not_per_list() {
        // Aging moved 300 file pages from the active to the inactive
        // approximation unseen, and 5 file pages were freed unseen.
        let mglru = Counting {
            mglru: true,
            ..Counting::default()
        };
        let s = mglru_interval(mglru, [100, 100, 1335, 700, 10]);
        let n = &s.nodes[0];
        assert!(
            n.lists[..4].iter().all(|l| l.drift.is_none()),
            "no per-list drift under MGLRU: {:?}",
            n.lists
        );
        assert_eq!(n.lists[4].drift, Some(0), "unevictable is no generation");
        let by: Vec<(&str, Option<i64>)> = n.type_drift.iter().map(|t| (t.name, t.drift)).collect();
        assert_eq!(by, vec![("anon", Some(0)), ("file", Some(5))]);
        assert!(s.notes.iter().any(|t| t.contains("per type")));
        // The classic LRU keeps per-list drift and no type drift.
        let mut c = Model::default();
        c.apply_sample(&sample(0.0, [100, 100, 1000, 1000, 10]));
        c.apply_sample(&sample(1.0, [100, 100, 1000, 1000, 10]));
        assert!(c.snapshot().nodes[0].type_drift.is_empty());
    }

    #[test]
    fn mglru_before_6_7_shows_no_shrink_pass_figures_rather_than_zeros() {
        // MGLRU before 6.7 evicts with no shrink-pass tracepoint: the node's
        // scan/reclaim rates, outcomes, balance and priorities, and the type
        // drift (unseen evictions would look like drift) are left out.
        let before_6_7 = Counting {
            mglru: true,
            mglru_tracepoints: false,
            ..Counting::default()
        };
        let s = mglru_interval(before_6_7, [100, 100, 800, 1000, 10]);
        let n = &s.nodes[0];
        assert!(
            n.type_drift.iter().all(|t| t.drift.is_none()),
            "{:?}",
            n.type_drift
        );
        assert_eq!(
            n.rates.why_not("scanned"),
            Some(counters::NO_MGLRU_TRACEPOINTS)
        );
        assert_eq!(
            n.rates.why_not("deactivated"),
            Some(counters::NO_MGLRU_ACTIVE_LIST)
        );
        assert!(n.rates.derives("activated_by_access"));
        let j = serde_json::to_value(&s).unwrap();
        let node = &j["nodes"][0];
        for gone in ["balance", "priority"] {
            assert!(node.get(gone).is_none(), "{gone}: {node}");
        }
        assert!(
            node["kswapd"].get("reclaimed_in_episode").is_none(),
            "{node}"
        );
        assert!(node["kswapd"].get("episodes").is_some(), "{node}");
        for gone in [
            "scanned",
            "reclaimed",
            "activated_by_reclaim",
            "dirty",
            "deactivated",
        ] {
            assert!(
                node["rates"].get(gone).is_none(),
                "{gone}: {}",
                node["rates"]
            );
        }
        assert_eq!(node["rates"]["inserted"]["inactive_file"], 40.0);
        assert_eq!(
            node["rates"]["not_derived"][0]["reason"],
            counters::NO_MGLRU_TRACEPOINTS
        );
        let totals = &j["totals"]["nodes"][0];
        for gone in [
            "scanned",
            "reclaimed",
            "shrink_passes",
            "activate_file",
            "refill_taken",
        ] {
            assert!(totals.get(gone).is_none(), "{gone}: {totals}");
        }
        assert_eq!(totals["inserted_folios"], 10);
        // With MGLRU's tracepoints (6.7+) the passes are seen; only
        // shrink_active_list's figures stay out.
        let k = Counting {
            mglru: true,
            ..Counting::default()
        };
        let j = serde_json::to_value(mglru_interval(k, [100, 100, 1000, 1000, 10])).unwrap();
        let rates = &j["nodes"][0]["rates"];
        assert_eq!(rates["scanned"], 0.0, "{rates}");
        assert!(rates.get("deactivated").is_none(), "{rates}");
        assert!(j["nodes"][0].get("priority").is_some());
        // The classic LRU derives them all and says nothing.
        let mut c = Model::default();
        c.apply_sample(&sample(0.0, [100, 100, 1000, 1000, 10]));
        c.apply_totals(&Totals::default(), 1_000_000_000, 1.0);
        let j = serde_json::to_value(c.snapshot()).unwrap();
        assert!(j["nodes"][0]["rates"].get("not_derived").is_none());
        assert_eq!(j["nodes"][0]["rates"]["deactivated"], 0.0);
        assert_eq!(j["totals"]["nodes"][0]["refill_taken"], 0);
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
        // Wake, then wake again without a sleep: a second balance_pgdat()
        // pass of the same episode.
        m.apply_event(&ev(event::KSWAPD_WAKE, 0, 3.0));
        m.apply_event(&ev(event::KSWAPD_WAKE, 0, 4.0));
        let s = m.snapshot();
        let k = &s.nodes[0].kswapd;
        assert_eq!(k.state, KswapdState::Awake);
        assert_eq!(k.episodes, 1);
        assert_eq!(k.sleeps_without_wake, 1);
        assert_eq!(k.passes_in_episode, 2);
        assert_eq!(k.last_episode_us, 500_000);
        assert_eq!(k.wakeups_requested, 1);
        assert!(
            k.wake_reason.is_none(),
            "the pending wakeup was used by the first episode"
        );
        assert_eq!(s.histograms["kswapd_episode"].cumulative.count, 1);
        assert_eq!(
            s.nodes[0].kswapd_awake_secs, 1.0,
            "awake since the first wake at 3.0"
        );
        m.apply_event(&ev(event::KSWAPD_SLEEP, 0, 5.0));
        assert_eq!(
            m.snapshot().nodes[0].kswapd.last_episode_us,
            2_000_000,
            "one episode, 3.0 to 5.0"
        );
    }

    #[test]
    fn memcg_episodes_and_bounded_stalls() {
        let mut m = Model::default();
        m.apply_sample(&Sample {
            memcgs: vec![MemcgSample {
                path: "/app".into(),
                id: 77,
                nodes: BTreeMap::from([(
                    0,
                    MemcgNode {
                        file: 10,
                        ..Default::default()
                    },
                )]),
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
            // The first ten named by the reclaimed cgroup itself.
            e.flags = if i < 10 {
                vmscan_common::RECLAIM_TARGET
            } else {
                0
            };
            m.apply_event(&e);
        }
        let s = m.snapshot();
        assert_eq!(s.memcgs.len(), 1);
        assert_eq!(s.memcgs[0].path, "/app");
        assert_eq!(s.memcgs[0].reclaim_episodes, MAX_STALLS as u64 + 10);
        assert_eq!(
            s.memcgs[0].episodes_named_by_task, MAX_STALLS as u64,
            "the rest fell back to the task's cgroup"
        );
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
            Zone {
                node: 0,
                zone: "Normal".into(),
                free: 100,
                min: 50,
                low: 80,
                high: 120,
                managed: 1000,
                ..Default::default()
            },
            Zone {
                node: 1,
                zone: "Normal".into(),
                free: 9000,
                min: 50,
                low: 80,
                high: 120,
                managed: 10000,
                ..Default::default()
            },
        ];
        m.apply_sample(&s);
        assert!(m.snapshot().findings.is_empty(), "nobody is reclaiming");
        m.apply_event(&ev(event::KSWAPD_WAKE, 0, 1.0));
        let snap = m.snapshot();
        assert_eq!(snap.findings.len(), 1);
        assert!(
            snap.findings[0].text.contains("node 0 is reclaiming"),
            "{}",
            snap.findings[0].text
        );
        assert!(snap.findings[0].text.contains("node 1 has 9000 free pages"));
    }

    #[test]
    fn self_check_runs_from_the_first_bracketed_sample() {
        use crate::model::input::Bracket;
        let vm = |steal: u64| {
            BTreeMap::from([
                ("pgsteal_file".to_owned(), steal),
                ("pgscan_file".to_owned(), steal),
            ])
        };
        let bracket = |a: u64, b: u64| {
            Some(Bracket {
                before: vm(a),
                after: vm(b),
            })
        };
        let mut m = Model::default();
        assert_eq!(m.self_check().checked, 0, "no bracket yet: nothing checked");
        // Live: the first sample brackets the first reading (totals zero).
        m.apply_sample(&Sample {
            vmstat: bracket(1000, 1000),
            ..sample(0.0, [0; 5])
        });
        let mut d = Totals::default();
        d.shrink_inactive[shrink_index(0, reclaimer::KSWAPD, 1) as usize].reclaimed = 250;
        d.isolate[isolate_index(reclaimer::KSWAPD, lru::INACTIVE_FILE) as usize].scanned = 250;
        m.apply_tick(
            &[],
            &d,
            1.0,
            &Sample {
                vmstat: bracket(1250, 1260),
                ..sample(1.0, [0; 5])
            },
        );
        let c = m.self_check();
        assert_eq!((c.checked, c.exact), (2, 2), "{c:?}");
        // The kernel reaches 1280 and vmscan sees nothing more: 30 pages
        // (1280 - 1000 - 250) it did not see.
        m.apply_tick(
            &[],
            &Totals::default(),
            1.0,
            &Sample {
                vmstat: bracket(1280, 1280),
                ..sample(2.0, [0; 5])
            },
        );
        let c = m.self_check();
        assert_eq!(c.exact, 0);
        assert!(
            c.counters.iter().all(|k| k.divergence_pages == -30),
            "{c:?}"
        );
        assert_eq!(m.snapshot().self_check, c);
    }

    #[test]
    fn lruvecs_carry_the_batches_moves_only_where_derived() {
        use vmscan_common::MemcgMoveKey;
        let memcg = |id: u64, path: &str| MemcgSample {
            path: path.into(),
            id,
            nodes: BTreeMap::from([(0, MemcgNode::default()), (1, MemcgNode::default())]),
            ..MemcgSample::default()
        };
        let mut d = Totals::default();
        let key = |cgroup_id, node, kind| MemcgMoveKey {
            cgroup_id,
            node,
            kind,
        };
        d.memcg_moves
            .insert(key(7, 1, memcg_move::DEACTIVATED_FILE), 300);
        d.memcg_moves
            .insert(key(7, 1, memcg_move::LAZYFREE_FROM_ACTIVE), 512);
        d.memcg_moves
            .insert(key(7, 0, memcg_move::LAZYFREE_FROM_INACTIVE), 9);
        // A cgroup with no sample of its own shows in no lruvec.
        d.memcg_moves
            .insert(key(8, 0, memcg_move::DEACTIVATED_ANON), 4);
        // `mglru`: the kernel's sample says so (the model's counting
        // follows it).
        let run = |c: Counting, mglru: bool| {
            let mut m = Model::default();
            m.set_counting(c);
            m.apply_sample(&Sample {
                memcgs: vec![memcg(7, "/t")],
                mglru: Some(mglru),
                ..sample(0.0, [0; 5])
            });
            // Twice: the moves add up over intervals.
            m.apply_totals(&d, 1_000_000_000, 1.0);
            m.apply_totals(&d, 2_000_000_000, 1.0);
            m.lruvecs()
                .iter()
                .map(|l| {
                    let [a, b, c, d, ..] = l.moved.by_kind();
                    (l.node, a, b, c, d)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            run(Counting::default(), false),
            [(0, None, None, None, None), (1, None, None, None, None)],
            "neither batch hooked: nothing derived, not zeros"
        );
        let both = Counting {
            deactivate: true,
            lazyfree: true,
            ..Counting::default()
        };
        assert_eq!(
            run(both, false),
            [
                (0, Some(0), Some(0), Some(18), Some(0)),
                (1, Some(0), Some(600), Some(0), Some(1024)),
            ]
        );
        // Under MGLRU the deactivations are not derived (counters.rs).
        assert_eq!(run(both, true)[1], (1, None, None, Some(0), Some(1024)));
    }

    #[test]
    fn memcgs_are_checked_against_memory_stat_from_the_reading_they_joined_at() {
        use super::super::input::MemcgBracket;
        use vmscan_common::{MemcgMoveKey, RefaultAgg, RefaultKey};
        let memcg = |id: u64, path: &str| MemcgSample {
            path: path.into(),
            id,
            nodes: BTreeMap::from([(0, MemcgNode::default())]),
            ..MemcgSample::default()
        };
        let stat = |refault: u64, lazy: u64| -> BTreeMap<String, u64> {
            [
                ("workingset_refault_file".to_owned(), refault),
                ("workingset_refault_anon".to_owned(), 0),
                ("pglazyfree".to_owned(), lazy),
            ]
            .into()
        };
        // /t's memory.stat read around each reading: (before, after).
        let bracket = |b: (u64, u64), a: (u64, u64)| MemcgBracket {
            id: 7,
            path: "/t".into(),
            stat: Bracket {
                before: stat(b.0, b.1),
                after: stat(a.0, a.1),
            },
        };
        let refaults = |t: &mut Totals, id: u64, pages: u64| {
            t.refault.insert(
                RefaultKey {
                    cgroup_id: id,
                    node: 0,
                    file: 1,
                },
                RefaultAgg {
                    pages,
                    ..RefaultAgg::default()
                },
            );
        };
        let run = |child_pages: u64, reads: [((u64, u64), (u64, u64)); 2]| {
            let mut m = Model::default();
            m.set_counting(Counting {
                refaults: true,
                lazyfree: true,
                ..Counting::default()
            });
            m.apply_sample(&Sample {
                memcgs: vec![memcg(7, "/t"), memcg(8, "/t/c"), memcg(9, "/u")],
                ..sample(0.0, [0; 5])
            });
            // Before /t joins: 500 refaults of its own, not checked.
            let mut d = Totals::default();
            refaults(&mut d, 7, 500);
            m.apply_totals(&d, 1_000_000_000, 1.0);
            m.apply_sample(&Sample {
                memcg_vmstat: vec![bracket(reads[0].0, reads[0].1)],
                memcg_stat_slack: Some(8),
                memcgs_partial: true,
                ..sample(1.0, [0; 5])
            });
            // Then 100 more in /t, `child_pages` in /t/c, 70 in /u (not
            // /t's), and 512 pages of MADV_FREE in /t/c.
            let mut d = Totals::default();
            refaults(&mut d, 7, 100);
            refaults(&mut d, 8, child_pages);
            refaults(&mut d, 9, 70);
            d.memcg_moves.insert(
                MemcgMoveKey {
                    cgroup_id: 8,
                    node: 0,
                    kind: memcg_move::LAZYFREE_FROM_ACTIVE,
                },
                512,
            );
            m.apply_totals(&d, 2_000_000_000, 1.0);
            m.apply_sample(&Sample {
                memcg_vmstat: vec![bracket(reads[1].0, reads[1].1)],
                memcg_stat_slack: Some(8),
                memcgs_partial: true,
                ..sample(2.0, [0; 5])
            });
            m.self_check().memcgs
        };
        // The kernel: 1000 -> 1150 refaults (its child's included), 0 -> 512.
        let c = run(50, [((1000, 0), (1000, 0)), ((1150, 512), (1150, 512))]);
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].memcg.as_str(), c[0].checked, c[0].exact),
            ("/t", 3, 3),
            "{c:?}"
        );
        // Within the slack (8 pages the kernel had not flushed): exact.
        let c = run(50, [((1000, 0), (1000, 0)), ((1144, 512), (1144, 512))]);
        assert_eq!(c[0].exact, 3, "{c:?}");
        assert!(c[0].counters.iter().any(|k| k.within_slack));
        // 40 refaults of /t/c missed: a divergence, with its likely cause.
        let c = run(10, [((1000, 0), (1000, 0)), ((1150, 512), (1150, 512))]);
        let k = c[0]
            .counters
            .iter()
            .find(|k| k.counter == "workingset_refault_file")
            .unwrap();
        assert_eq!((k.vmscan, k.divergence_pages), (110, -32));
        assert_eq!(k.likely_cause, Some(selfcheck::MEMCG_CAUSE));
        // One reading only: no window yet, nothing checked.
        let mut m = Model::default();
        m.apply_sample(&Sample {
            memcg_vmstat: vec![bracket((0, 0), (0, 0))],
            ..sample(0.0, [0; 5])
        });
        assert!(m.self_check().memcgs.is_empty());
    }

    #[test]
    fn reclaim_is_kept_per_lruvec_and_checked_against_memory_stat() {
        use super::super::input::MemcgBracket;
        use vmscan_common::MemcgMoveKey;
        let memcg = |id: u64, path: &str| MemcgSample {
            path: path.into(),
            id,
            nodes: BTreeMap::from([(0, MemcgNode::default()), (1, MemcgNode::default())]),
            ..MemcgSample::default()
        };
        let bracket = |scan: u64, steal: u64, activate: u64| {
            // pgrefill 40 and pgdeactivate 6 + 3 (a batch's) over the window.
            let grown = u64::from(scan > 1000);
            let stat: BTreeMap<String, u64> = [
                ("pgscan".to_owned(), scan),
                ("pgsteal".to_owned(), steal),
                ("pgrefill".to_owned(), 500 + 40 * grown),
                ("pgdeactivate".to_owned(), 50 + 9 * grown),
                ("pgactivate".to_owned(), activate),
            ]
            .into();
            MemcgBracket {
                id: 7,
                path: "/t".into(),
                stat: Bracket {
                    before: stat.clone(),
                    after: stat,
                },
            }
        };
        let run = |counting: Counting, kernel_end: (u64, u64, u64)| {
            let mut m = Model::default();
            m.set_counting(counting);
            m.apply_sample(&Sample {
                memcgs: vec![memcg(7, "/t"), memcg(8, "/t/c"), memcg(9, "/u")],
                memcg_vmstat: vec![bracket(1000, 900, 70)],
                mglru: Some(counting.mglru),
                ..sample(0.0, [0; 5])
            });
            let mut d = Totals::default();
            for (id, node, kind, pages) in [
                (7, 0, memcg_reclaim::SCANNED_FILE, 300),
                (7, 0, memcg_reclaim::RECLAIMED_FILE, 250),
                // /t's child counts in /t's memory.stat.
                (8, 1, memcg_reclaim::SCANNED_ANON, 20),
                (8, 1, memcg_reclaim::RECLAIMED_ANON, 10),
                // /u's does not.
                (9, 0, memcg_reclaim::SCANNED_FILE, 70),
                // The active list's scan and deactivations (classic).
                (7, 0, memcg_reclaim::REFILLED_FILE, 40),
                (8, 1, memcg_reclaim::DEACTIVATED_ANON, 6),
                // The shrink passes' activations (pgactivate), /t's 14.
                (7, 0, memcg_reclaim::ACTIVATED_FILE, 12),
                (8, 1, memcg_reclaim::ACTIVATED_ANON, 2),
                (9, 0, memcg_reclaim::ACTIVATED_FILE, 100),
            ] {
                d.memcg_reclaim.insert(
                    MemcgMoveKey {
                        cgroup_id: id,
                        node,
                        kind,
                    },
                    pages,
                );
            }
            d.memcg_moves.insert(
                MemcgMoveKey {
                    cgroup_id: 8,
                    node: 0,
                    kind: memcg_move::DEACTIVATED_FILE,
                },
                3,
            );
            // lru_activate's, by the folio's memcg: /t's 5.
            for (id, kind, pages) in [
                (8, memcg_move::ACTIVATED_FILE, 5),
                (9, memcg_move::ACTIVATED_ANON, 50),
            ] {
                d.memcg_moves.insert(
                    MemcgMoveKey {
                        cgroup_id: id,
                        node: 0,
                        kind,
                    },
                    pages,
                );
            }
            m.apply_totals(&d, 1_000_000_000, 1.0);
            m.apply_sample(&Sample {
                memcg_vmstat: vec![bracket(kernel_end.0, kernel_end.1, kernel_end.2)],
                memcgs_partial: true,
                mglru: Some(counting.mglru),
                ..sample(1.0, [0; 5])
            });
            let lruvecs: Vec<(String, u32, Option<LruvecReclaim>)> = m
                .lruvecs()
                .into_iter()
                .map(|l| (l.memcg, l.node, l.reclaim))
                .collect();
            (lruvecs, m.self_check().memcgs)
        };
        let on = Counting {
            memcg_reclaim: true,
            deactivate: true,
            ..Counting::default()
        };
        let (lruvecs, checks) = run(on, (1320, 1160, 70 + 19));
        let of = |path: &str, node: u32| {
            lruvecs
                .iter()
                .find(|(p, n, _)| p == path && *n == node)
                .and_then(|(_, _, r)| *r)
        };
        let classic_zero = LruvecReclaim::of_kinds([0; 10], false, true);
        assert_eq!(
            of("/t", 0),
            Some(LruvecReclaim {
                scanned_file: 300,
                reclaimed_file: 250,
                refilled_file: Some(40),
                activated_file: Some(12),
                ..classic_zero
            })
        );
        assert_eq!(of("/t", 1), Some(classic_zero));
        assert_eq!(of("/t/c", 1).map(|r| r.scanned_anon), Some(20));
        assert_eq!(of("/t/c", 1).and_then(|r| r.deactivated_anon), Some(6));
        assert_eq!(
            (checks.len(), checks[0].checked, checks[0].exact),
            (1, 5, 5),
            "{checks:?}"
        );
        let pgactivate = |checks: &[MemcgSelfCheck]| {
            checks[0]
                .counters
                .iter()
                .find(|k| k.counter == "pgactivate")
                .map(|k| (k.vmscan, k.divergence_pages, k.likely_cause))
        };
        assert_eq!(pgactivate(&checks), Some((19, 0, None)));
        // Under MGLRU, no pgrefill or reclaim deactivation to show or check.
        let (lruvecs, checks) = run(Counting { mglru: true, ..on }, (1320, 1160, 70 + 19));
        assert!(
            lruvecs
                .iter()
                .all(|(_, _, r)| r.is_some_and(|r| r.refilled_file.is_none()))
        );
        // 6.7+ (the tracepoints): pgscan, pgsteal and pgactivate checked.
        assert_eq!((checks[0].checked, checks[0].exact), (3, 3), "{checks:?}");
        // MGLRU before 6.7 without its eviction hooks: the passes'
        // activations are not seen, so pgactivate is neither shown nor
        // checked.
        let unseen = Counting {
            mglru: true,
            mglru_tracepoints: false,
            ..on
        };
        let (lruvecs, checks) = run(unseen, (1320, 1160, 70 + 19));
        assert!(
            lruvecs
                .iter()
                .all(|(_, _, r)| r.is_some_and(|r| r.activated_file.is_none()))
        );
        assert_eq!((checks[0].checked, checks[0].exact), (2, 2), "{checks:?}");
        // The kernel activated 30 pages vmscan did not key by memcg
        // (reclaim_pages, MADV_PAGEOUT): a divergence, with the cause named.
        let (_, checks) = run(on, (1320, 1160, 70 + 19 + 30));
        assert_eq!(
            pgactivate(&checks),
            Some((19, -30, Some(selfcheck::MEMCG_CAUSE)))
        );
        // The kernel scanned 80 pages more than vmscan saw: named.
        let (_, checks) = run(on, (1400, 1160, 70 + 19));
        let k = checks[0]
            .counters
            .iter()
            .find(|k| k.counter == "pgscan")
            .unwrap();
        assert_eq!((k.vmscan, k.divergence_pages), (320, -80));
        // Not derivable (no scope hooks): no figure, nothing compared.
        let (lruvecs, checks) = run(Counting::default(), (1320, 1160, 70 + 19));
        assert!(lruvecs.iter().all(|(_, _, r)| r.is_none()));
        assert!(checks.is_empty(), "{checks:?}");
    }

    #[test]
    fn partial_samples_keep_the_memcgs_not_read_again() {
        let memcg = |id: u64, path: &str, anon: u64| MemcgSample {
            path: path.into(),
            id,
            nodes: BTreeMap::from([(
                0,
                MemcgNode {
                    lists: Some([anon, 0, 0, 0, 0]),
                    anon,
                    file: 0,
                    unevictable: 0,
                },
            )]),
            ..MemcgSample::default()
        };
        let mut m = Model::default();
        m.apply_sample(&Sample {
            memcgs: vec![memcg(1, "/", 10), memcg(2, "/a", 20), memcg(3, "/b", 30)],
            ..sample(0.0, [0; 5])
        });
        // Only /b read again; /a removed.
        m.apply_sample(&Sample {
            memcgs: vec![memcg(3, "/b", 31)],
            memcgs_partial: true,
            memcgs_gone: vec![2],
            ..sample(1.0, [0; 5])
        });
        let lv: Vec<(String, u64)> = m
            .snapshot()
            .lruvecs
            .iter()
            .map(|l| (l.memcg.clone(), l.anon))
            .collect();
        assert_eq!(lv, [("/".to_owned(), 10), ("/b".to_owned(), 31)]);
        assert_eq!(m.memcg_path(2), None, "a removed memcg is forgotten");
        // A full sample (every recording made before partial samples) replaces all.
        m.apply_sample(&Sample {
            memcgs: vec![memcg(1, "/", 12)],
            ..sample(2.0, [0; 5])
        });
        assert_eq!(m.snapshot().lruvecs.len(), 1);
    }

    #[test]
    fn lruvecs_carry_their_own_generations_and_are_built_on_request() {
        use super::super::input::{Generation, LruGen, MemcgNode};
        let node = |anon| MemcgNode {
            lists: Some([anon, 0, 0, 0, 0]),
            anon,
            file: 0,
            unevictable: 0,
        };
        let memcg = |id: u64, path: &str| MemcgSample {
            path: path.into(),
            id,
            nodes: BTreeMap::from([(0, node(id)), (1, node(10 * id))]),
            ..MemcgSample::default()
        };
        let generation = |g: u64| Generation {
            generation: g,
            age_ms: 0,
            anon: 0,
            file: 0,
        };
        let gens = |path: &str, node: u32, g: u64| LruGen {
            memcg_id: 0,
            memcg: path.into(),
            node,
            generations: vec![generation(g)],
        };
        let mut m = Model::default();
        m.apply_sample(&Sample {
            memcgs: vec![memcg(3, "/b"), memcg(2, "/a")],
            lru_gen: vec![gens("/b", 1, 7), gens("/a", 0, 4), gens("/b", 0, 5)],
            mglru: Some(true),
            ..sample(0.0, [0; 5])
        });
        let all = m.lruvecs();
        let got: Vec<_> = all
            .iter()
            .map(|l| {
                (
                    l.memcg.as_str(),
                    l.node,
                    l.anon,
                    l.generations.as_ref().map(|g| g[0].generation),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("/a", 0, 2, Some(4)),
                ("/a", 1, 20, None),
                ("/b", 0, 3, Some(5)),
                ("/b", 1, 30, Some(7)),
            ]
        );
        assert_eq!(m.snapshot().lruvecs, all);
        // A sample that did not read the generations keeps the last ones;
        // the next one read replaces them.
        m.apply_sample(&Sample {
            memcgs: vec![],
            memcgs_partial: true,
            lru_gen_unread: true,
            mglru: Some(true),
            ..sample(1.0, [0; 5])
        });
        assert_eq!(m.lruvecs(), all);
        assert_eq!(m.snapshot().lru_gen_read_secs_ago, Some(1.0));
        m.apply_sample(&Sample {
            memcgs: vec![],
            memcgs_partial: true,
            lru_gen: vec![gens("/a", 1, 9)],
            mglru: Some(true),
            ..sample(2.0, [0; 5])
        });
        let read: Vec<_> = m
            .lruvecs()
            .iter()
            .map(|l| l.generations.as_ref().map(|g| g[0].generation))
            .collect();
        assert_eq!(read, [None, Some(9), None, None]);
        let lite = m.snapshot_with(false);
        assert!(lite.lruvecs.is_empty());
        assert_eq!(
            Snapshot {
                lruvecs: m.lruvecs(),
                ..lite
            },
            m.snapshot(),
            "only the table is left out"
        );
    }
}
