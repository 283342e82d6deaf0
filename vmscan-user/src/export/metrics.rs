//! OpenMetrics exposition of the model's snapshot (prometheus-client): a
//! collector that encodes the latest snapshot at scrape time, so counters
//! are the model's own monotonic totals, never re-counted.

use std::sync::{Arc, RwLock};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric as _},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};
use vmscan_common::{NODE_OVERFLOW, hook, lru, reclaimer, shrink_index};

use crate::model::{hist::Log2Hist, input::HookStatus, snapshot::Snapshot, totals::Totals};

/// What the exporter serves; replaced whole at every tick.
#[derive(Clone, Debug, Default)]
pub struct ExportState {
    pub snap: Snapshot,
    /// Cumulative aggregates (for per-node splits the snapshot folds).
    pub totals: Totals,
    pub hooks: Vec<HookStatus>,
    /// Memory cgroups labelled by name at most; the rest fold into "other".
    pub max_memcgs: usize,
    /// (program, run time ns, run count) when BPF stats are enabled.
    pub bpf_stats: Vec<(String, u64, u64)>,
    pub bpf_stats_enabled: bool,
}

/// Escapes a label value for the text format (\\, \", \n); prometheus-client
/// writes label values as given.
pub fn label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn node_label(n: u32) -> String {
    if n == NODE_OVERFLOW { "overflow".into() } else { n.to_string() }
}

#[derive(Debug)]
pub struct SnapshotCollector(pub Arc<RwLock<ExportState>>);

type Labels = Vec<(&'static str, String)>;

fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, rows: Vec<(Labels, u64)>) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in rows {
        ConstCounter::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, rows: Vec<(Labels, i64)>) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in rows {
        ConstGauge::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Buckets of a microsecond log2 histogram as (le seconds, count); bucket i
/// holds integer microseconds up to 2^i - 1, so le = (2^i - 1) us exactly.
fn buckets(h: &Log2Hist) -> Vec<(f64, u64)> {
    let mut out: Vec<(f64, u64)> = (0..32usize)
        .map(|i| (((1u64 << i) - 1) as f64 * 1e-6, h.buckets.get(i).copied().unwrap_or(0)))
        .collect();
    out.push((f64::MAX, 0));
    out
}

fn histogram(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: Vec<(Labels, &Log2Hist)>,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (labels, h) in rows {
        // For histograms bucketed in the kernel the sum is unknown; the lower
        // bucket edges give a lower bound.
        let sum_us = if h.sum > 0 || h.count == 0 {
            h.sum
        } else {
            h.buckets.iter().enumerate().map(|(i, n)| if i == 0 { 0 } else { n << (i - 1) }).sum()
        };
        let fam = m.encode_family(&labels)?;
        fam_histogram(fam, sum_us as f64 * 1e-6, h.count, &buckets(h))?;
    }
    Ok(())
}

fn fam_histogram(
    mut fam: prometheus_client::encoding::MetricEncoder,
    sum: f64,
    count: u64,
    b: &[(f64, u64)],
) -> Result<(), std::fmt::Error> {
    fam.encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, count, b, None)
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let st = match self.0.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        encode_state(&st, &mut enc)
    }
}

pub fn encode_state(st: &ExportState, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let s = &st.snap;
    let t = &st.totals;
    let ty = |file: u32| if file == 1 { "file" } else { "anon" }.to_owned();
    let nodes: Vec<u32> = s.nodes.iter().map(|n| n.node).collect();

    let (mut scanned, mut reclaimed, mut deact) = (vec![], vec![], vec![]);
    for &n in &nodes {
        for rec in 0..reclaimer::COUNT {
            for file in 0..2u32 {
                let a = &t.shrink_inactive[shrink_index(n, rec, file) as usize];
                let labels = vec![("node", node_label(n)), ("reclaimer", reclaimer::NAMES[rec as usize].to_owned()), ("type", ty(file))];
                scanned.push((labels.clone(), a.scanned));
                reclaimed.push((labels.clone(), a.reclaimed));
                let d = &t.shrink_active[shrink_index(n, rec, file) as usize];
                deact.push((labels, d.deactivated));
            }
        }
    }
    counter(enc, "vmscan_pages_scanned", "Pages scanned on the inactive lists by shrink passes that isolated pages (mm_vmscan_lru_shrink_inactive).", scanned)?;
    counter(enc, "vmscan_pages_reclaimed", "Pages reclaimed (mm_vmscan_lru_shrink_inactive nr_reclaimed).", reclaimed)?;
    counter(enc, "vmscan_pages_deactivated", "Pages moved from the active to the inactive list by reclaim (mm_vmscan_lru_shrink_active).", deact)?;

    let mut activated = vec![];
    for n in &s.nodes {
        let nl = node_label(n.node);
        let mut by_reclaim = [0u64; 2];
        for rec in 0..reclaimer::COUNT {
            for file in 0..2u32 {
                let a = &t.shrink_inactive[shrink_index(n.node, rec, file) as usize];
                by_reclaim[0] += a.activate_anon;
                by_reclaim[1] += a.activate_file;
            }
        }
        let base = (n.node * lru::COUNT) as usize;
        activated.push((vec![("node", nl.clone()), ("source", "access".into()), ("type", "anon".into())], t.lru_activate[base + lru::ACTIVE_ANON as usize].pages));
        activated.push((vec![("node", nl.clone()), ("source", "access".into()), ("type", "file".into())], t.lru_activate[base + lru::ACTIVE_FILE as usize].pages));
        activated.push((vec![("node", nl.clone()), ("source", "reclaim".into()), ("type", "anon".into())], by_reclaim[0]));
        activated.push((vec![("node", nl), ("source", "reclaim".into()), ("type", "file".into())], by_reclaim[1]));
    }
    counter(enc, "vmscan_pages_activated", "Pages activated: source=access by folio_activate (mm_lru_activate), source=reclaim by shrink_folio_list's nr_activate.", activated)?;

    let mut written = vec![];
    for rec in 0..reclaimer::COUNT {
        for file in 0..2u32 {
            written.push((vec![("reclaimer", reclaimer::NAMES[rec as usize].to_owned()), ("type", ty(file))], t.write_folio[(rec * 2 + file) as usize]));
        }
    }
    counter(enc, "vmscan_reclaim_writeback_folios", "Folios written back by reclaim (mm_vmscan_write_folio).", written)?;

    let mut inserted = vec![];
    for &n in &nodes {
        for l in 0..lru::COUNT {
            inserted.push((vec![("node", node_label(n)), ("lru", lru::NAMES[l as usize].to_owned())], t.lru_insert[(n * lru::COUNT + l) as usize].pages));
        }
    }
    counter(enc, "vmscan_pages_inserted", "Pages added to an LRU list (pagemap:mm_lru_insertion).", inserted)?;

    // LRU sizes: per node, and per lruvec with bounded memcg labels.
    let mut node_sizes = vec![];
    for n in &s.nodes {
        for l in &n.lists {
            if let Some(p) = l.pages {
                node_sizes.push((vec![("node", node_label(n.node)), ("lru", l.name.to_owned())], p as i64));
            }
        }
    }
    gauge(enc, "vmscan_node_lru_pages", "Pages on each LRU list of a node (node meminfo).", node_sizes)?;

    let mut by_size: Vec<(&str, u64)> = vec![];
    for lv in &s.lruvecs {
        match by_size.iter_mut().find(|(m, _)| *m == lv.memcg) {
            Some(e) => e.1 += lv.anon + lv.file + lv.unevictable,
            None => by_size.push((&lv.memcg, lv.anon + lv.file + lv.unevictable)),
        }
    }
    by_size.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let named: std::collections::BTreeSet<&str> = by_size.iter().take(st.max_memcgs).map(|(m, _)| *m).collect();
    let mut lruvec: std::collections::BTreeMap<(u32, String, &str), u64> = Default::default();
    for lv in &s.lruvecs {
        let memcg = if named.contains(lv.memcg.as_str()) { label(&lv.memcg) } else { "other".to_owned() };
        for (i, name) in lru::NAMES.iter().enumerate() {
            let v = match lv.lists {
                Some(l) => l[i],
                None => continue,
            };
            *lruvec.entry((lv.node, memcg.clone(), name)).or_default() += v;
        }
    }
    gauge(
        enc,
        "vmscan_lruvec_pages",
        "Pages on each LRU list of a lruvec (node x memory cgroup; memory.numa_stat / memory.stat). Cgroups beyond --max-memcgs are summed as memcg=\"other\".",
        lruvec.into_iter().map(|((n, m, l), v)| (vec![("node", node_label(n)), ("memcg", m), ("lru", l.to_owned())], v as i64)).collect(),
    )?;

    // kswapd.
    gauge(
        enc,
        "vmscan_kswapd_awake",
        "1 while the node's kswapd runs a reclaim episode.",
        s.nodes.iter().map(|n| (vec![("node", node_label(n.node))], (n.kswapd.state == crate::model::lruvec::KswapdState::Awake) as i64)).collect(),
    )?;
    counter(
        enc,
        "vmscan_kswapd_wakes",
        "kswapd wake-ups (mm_vmscan_kswapd_wake).",
        s.nodes.iter().map(|n| (vec![("node", node_label(n.node))], n.kswapd.episodes + (n.kswapd.state == crate::model::lruvec::KswapdState::Awake) as u64)).collect(),
    )?;

    // Memcg episodes.
    let mut memcg_eps: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    let mut by_reclaimed: Vec<_> = s.memcgs.iter().collect();
    by_reclaimed.sort_by(|a, b| b.reclaimed.cmp(&a.reclaimed).then(a.path.cmp(&b.path)));
    for (i, m) in by_reclaimed.into_iter().enumerate() {
        let name = if i < st.max_memcgs { label(&m.path) } else { "other".into() };
        let e = memcg_eps.entry(name).or_default();
        e.0 += m.reclaim_episodes;
        e.1 += m.reclaimed;
    }
    counter(enc, "vmscan_memcg_reclaim_episodes", "Memory-cgroup reclaim episodes (mm_vmscan_memcg_reclaim_begin/end) by the reclaiming task's cgroup.", memcg_eps.iter().map(|(m, v)| (vec![("memcg", m.clone())], v.0)).collect())?;
    counter(enc, "vmscan_memcg_reclaim_pages", "Pages reclaimed by memory-cgroup reclaim episodes.", memcg_eps.iter().map(|(m, v)| (vec![("memcg", m.clone())], v.1)).collect())?;

    // Histograms.
    for (key, name, help) in [
        ("direct_reclaim", "vmscan_direct_reclaim_duration_seconds", "Direct reclaim episode latency (mm_vmscan_direct_reclaim_begin to _end)."),
        ("memcg_reclaim", "vmscan_memcg_reclaim_duration_seconds", "Memory-cgroup reclaim episode latency."),
        ("kswapd_episode", "vmscan_kswapd_episode_duration_seconds", "kswapd episode length (wake to sleep)."),
        ("shrink_node", "vmscan_shrink_node_duration_seconds", "shrink_node pass length (fentry/fexit or kprobes)."),
        ("batch_residency", "vmscan_batch_residency_seconds", "Time from folio_add_lru to the folio's LRU insertion (per-CPU batch residency)."),
    ] {
        if let Some(h) = s.histograms.get(key) {
            if h.available {
                histogram(enc, name, help, vec![(vec![], &h.cumulative)])?;
            }
        }
    }

    // folio_mark_accessed.
    if st.hooks.iter().any(|h| h.id == hook::MARK_ACCESSED && h.attached()) {
        counter(
            enc,
            "vmscan_folio_mark_accessed",
            "folio_mark_accessed calls by outcome, calling task (exiting = PF_EXITING) and folio type.",
            s.access
                .iter()
                .map(|a| {
                    (
                        vec![
                            ("outcome", a.outcome.to_owned()),
                            ("task", if a.exiting { "exiting" } else { "live" }.to_owned()),
                            ("type", if a.file { "file" } else { "anon" }.to_owned()),
                        ],
                        a.calls,
                    )
                })
                .collect(),
        )?;
    }

    // Self-health.
    let figures: Vec<(Labels, (u64, u64))> = st
        .hooks
        .iter()
        .map(|h| (vec![("hook", label(&h.name))], crate::model::totals::hook_figures(&s.hook_events, &s.hook_lost, h.id)))
        .collect();
    counter(
        enc,
        "vmscan_events",
        "Times each hook ran (counted in the kernel per CPU; shrink_node: passes).",
        figures.iter().map(|(l, (e, _))| (l.clone(), *e)).collect(),
    )?;
    counter(
        enc,
        "vmscan_lost_events",
        "Ring-buffer records (or map entries) vmscan could not store, per hook.",
        figures.into_iter().map(|(l, (_, lost))| (l, lost)).collect(),
    )?;
    gauge(
        enc,
        "vmscan_hook_attached",
        "1 when the hook is attached.",
        st.hooks.iter().map(|h| (vec![("hook", label(&h.name)), ("mechanism", h.mechanism.clone().unwrap_or_else(|| "none".into()))], h.attached() as i64)).collect(),
    )?;
    if st.bpf_stats_enabled {
        let mut m = enc.encode_descriptor("vmscan_bpf_run_time_seconds", "Time spent in each vmscan BPF program (BPF_ENABLE_STATS).", None, MetricType::Counter)?;
        for (prog, ns, _) in &st.bpf_stats {
            let l = vec![("program", label(prog))];
            ConstCounter::new(*ns as f64 * 1e-9).encode(m.encode_family(&l)?)?;
        }
        counter(enc, "vmscan_bpf_runs", "Runs of each vmscan BPF program (BPF_ENABLE_STATS).", st.bpf_stats.iter().map(|(p, _, c)| (vec![("program", label(p))], *c)).collect())?;
    }
    Ok(())
}

/// A registry serving the state.
pub fn registry(state: Arc<RwLock<ExportState>>) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(SnapshotCollector(state)));
    r
}

/// The OpenMetrics text of the registry.
pub fn render(r: &Registry) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, r)?;
    Ok(out)
}

/// Converts OpenMetrics text to the Prometheus text format 0.0.4 (what
/// promtool and every Prometheus version read): counter families are named
/// with their `_total` suffix in HELP/TYPE, and the `# UNIT` and `# EOF`
/// lines go.
pub fn to_prometheus_text(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    let mut help: Option<&str> = None;
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = Some(rest);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let full = if ty == "counter" && !name.ends_with("_total") { format!("{name}_total") } else { name.to_owned() };
            if let Some(h) = help.take() {
                let text = h.split_once(' ').map(|(_, t)| t).unwrap_or("");
                out.push_str(&format!("# HELP {full} {text}\n"));
            }
            out.push_str(&format!("# TYPE {full} {ty}\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::snapshot::{LruvecSnap, NodeSnap};

    #[test]
    fn prometheus_text_names_counters_with_total() {
        let om = "# HELP a Pages.\n# TYPE a counter\na_total{x=\"1\"} 3\n# HELP g G.\n# TYPE g gauge\ng 1\n# EOF\n";
        let t = to_prometheus_text(om);
        assert_eq!(t, "# HELP a_total Pages.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n# HELP g G.\n# TYPE g gauge\ng 1\n");
    }

    fn state() -> ExportState {
        let mut totals = Totals::default();
        totals.shrink_inactive[shrink_index(0, reclaimer::MEMCG, 1) as usize].reclaimed = 115_205;
        totals.shrink_inactive[shrink_index(0, reclaimer::MEMCG, 1) as usize].scanned = 115_213;
        let mut snap = Snapshot { nodes: vec![NodeSnap { node: 0, ..Default::default() }], ..Default::default() };
        for i in 0..5u64 {
            snap.lruvecs.push(LruvecSnap {
                node: 0,
                memcg: format!("/cg{i}\"x\\y\n"),
                memcg_id: i,
                lists: Some([i, 0, 10 * i, 0, 0]),
                anon: i,
                file: 10 * i,
                ..Default::default()
            });
        }
        ExportState { snap, totals, hooks: vec![], max_memcgs: 2, ..Default::default() }
    }

    #[test]
    fn counters_are_the_models_totals_and_labels_are_escaped() {
        let text = render(&registry(Arc::new(RwLock::new(state())))).unwrap();
        assert!(text.contains("vmscan_pages_reclaimed_total{node=\"0\",reclaimer=\"memcg\",type=\"file\"} 115205"), "{text}");
        assert!(text.contains("vmscan_pages_scanned_total{node=\"0\",reclaimer=\"memcg\",type=\"file\"} 115213"));
        assert!(text.contains("memcg=\"/cg4\\\"x\\\\y\\n\""), "quotes, backslashes, newlines escaped: {text}");
        assert!(text.trim_end().ends_with("# EOF"));
    }

    #[test]
    fn memcg_labels_are_bounded() {
        let text = render(&registry(Arc::new(RwLock::new(state())))).unwrap();
        let memcgs: std::collections::BTreeSet<&str> = text
            .lines()
            .filter(|l| l.starts_with("vmscan_lruvec_pages{"))
            .filter_map(|l| l.split("memcg=\"").nth(1)?.split("\",lru").next())
            .collect();
        assert_eq!(memcgs.len(), 3, "2 named + other: {memcgs:?}");
        assert!(memcgs.contains("other"));
        // other = cg0 + cg1 + cg2 inactive_file = 0 + 10 + 20
        assert!(text.contains("vmscan_lruvec_pages{node=\"0\",memcg=\"other\",lru=\"inactive_file\"} 30"), "{text}");
    }

    #[test]
    fn histogram_buckets_are_exact_log2_edges() {
        let mut h = Log2Hist::default();
        for v in [0, 1, 3, 4, 1000] {
            h.record(v);
        }
        let b = buckets(&h);
        assert_eq!(b[0], (0.0, 1));
        assert_eq!(b[1], (1e-6, 1));
        assert_eq!(b[2].1, 1, "3 us falls in le=3us");
        assert_eq!(b[3].1, 1, "4 us falls in le=7us");
        assert_eq!(b[10].1, 1, "1000 us falls in le=1023us");
        assert_eq!(b.last().unwrap().0, f64::MAX);
    }
}
