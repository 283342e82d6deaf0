//! OpenMetrics exposition of the model's snapshot (prometheus-client): a
//! collector that encodes the latest snapshot at scrape time, so counters
//! are the model's own monotonic totals, never re-counted.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, RwLock},
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};
use vmscan_common::{
    NODE_OVERFLOW, deactivate, deactivate_index, hook, lazyfree_index, lru, lru_index, memcg_move,
    reclaimer, shrink_index, write_index,
};

use crate::model::{
    hist::Log2Hist,
    input::HookStatus,
    kswapd::KswapdState,
    named::Derives as _,
    snapshot::{LruvecSnap, NodeSnap, Snapshot},
    totals::{Totals, hook_figures},
};

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
    /// Each attached hook's program runs the kernel skipped since start
    /// (None: not counted on this kernel for its mechanism).
    pub hook_missed: Vec<(vmscan_common::HookId, Option<u64>)>,
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
    if n == NODE_OVERFLOW {
        "overflow".into()
    } else {
        n.to_string()
    }
}

#[derive(Debug)]
pub struct SnapshotCollector(pub Arc<RwLock<ExportState>>);

type Labels = Vec<(&'static str, String)>;

/// Writes one metric family: its descriptor, then a sample per row.
fn family<V, M: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    (name, help, ty): (&str, &str, MetricType),
    rows: Vec<(Labels, V)>,
    metric: impl Fn(V) -> M,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, ty)?;
    for (labels, v) in rows {
        metric(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: Vec<(Labels, u64)>,
) -> Result<(), std::fmt::Error> {
    family(
        enc,
        (name, help, MetricType::Counter),
        rows,
        ConstCounter::new,
    )
}

fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: Vec<(Labels, i64)>,
) -> Result<(), std::fmt::Error> {
    family(enc, (name, help, MetricType::Gauge), rows, ConstGauge::new)
}

/// Buckets of a microsecond log2 histogram as (le seconds, count); bucket i
/// holds integer microseconds up to 2^i - 1, so le = (2^i - 1) us exactly.
fn buckets(h: &Log2Hist) -> Vec<(f64, u64)> {
    let mut out: Vec<(f64, u64)> = (0..32usize)
        .map(|i| {
            (
                ((1u64 << i) - 1) as f64 * 1e-6,
                h.buckets.get(i).copied().unwrap_or(0),
            )
        })
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
            h.buckets
                .iter()
                .enumerate()
                .map(|(i, n)| if i == 0 { 0 } else { n << (i - 1) })
                .sum()
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

/// Every family, in the order scrapes have always listed them.
pub fn encode_state(st: &ExportState, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    encode_shrink(st, enc)?;
    encode_activated(st, enc)?;
    encode_moved_outside_reclaim(st, enc)?;
    encode_lruvec_moves(st, enc)?;
    encode_lruvec_reclaim(st, enc)?;
    encode_isolated_outside_reclaim(st, enc)?;
    encode_mlock_moved(st, enc)?;
    encode_isolated_by_compaction(st, enc)?;
    encode_writeback(&st.totals, enc)?;
    encode_inserted(st, enc)?;
    encode_lru_sizes(st, enc)?;
    encode_kswapd(&st.snap, enc)?;
    encode_memcg_episodes(st, enc)?;
    encode_histograms(&st.snap, enc)?;
    encode_access(st, enc)?;
    encode_refaults(st, enc)?;
    encode_hook_health(st, enc)?;
    encode_self_check(&st.snap, enc)?;
    if st.bpf_stats_enabled {
        encode_bpf_stats(&st.bpf_stats, enc)?;
    }
    Ok(())
}

fn folio_type(file: u32) -> String {
    if file == 1 { "file" } else { "anon" }.to_owned()
}

/// Every (node, reclaimer, file) of the snapshot's nodes with its labels,
/// on the nodes where the rate named `field` is derived (none under MGLRU
/// before 6.7 for the shrink passes' figures: no rows, not zeros).
fn shrink_slots(s: &Snapshot, field: &str) -> Vec<(usize, Labels)> {
    let mut out = vec![];
    for n in s
        .nodes
        .iter()
        .filter(|n| n.rates.derives(field))
        .map(|n| n.node)
    {
        for rec in 0..reclaimer::COUNT {
            for file in 0..2u32 {
                let labels = vec![
                    ("node", node_label(n)),
                    ("reclaimer", reclaimer::NAMES[rec as usize].to_owned()),
                    ("type", folio_type(file)),
                ];
                out.push((shrink_index(n, rec, file) as usize, labels));
            }
        }
    }
    out
}

/// Pages scanned, reclaimed and deactivated by shrink passes.
fn encode_shrink(st: &ExportState, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let t = &st.totals;
    let rows = |field: &str, v: &dyn Fn(usize) -> u64| {
        shrink_slots(&st.snap, field)
            .into_iter()
            .map(|(i, l)| (l, v(i)))
            .collect()
    };
    counter(
        enc,
        "vmscan_pages_scanned",
        "Pages scanned on the inactive lists by shrink passes that isolated pages (mm_vmscan_lru_shrink_inactive); no rows where this kernel fires no such tracepoint (vmscan_vmstat_not_derived).",
        rows("scanned", &|i| t.shrink_inactive[i].scanned),
    )?;
    counter(
        enc,
        "vmscan_pages_reclaimed",
        "Pages reclaimed (mm_vmscan_lru_shrink_inactive nr_reclaimed); no rows where this kernel fires no such tracepoint.",
        rows("reclaimed", &|i| t.shrink_inactive[i].reclaimed),
    )?;
    counter(
        enc,
        "vmscan_pages_deactivated",
        "Pages moved from the active to the inactive list by reclaim (mm_vmscan_lru_shrink_active); no rows under MGLRU, which has no active list to shrink.",
        rows("deactivated", &|i| t.shrink_active[i].deactivated),
    )
}

/// Pages activated per node, by access (mm_lru_activate) and by reclaim.
fn encode_activated(st: &ExportState, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let t = &st.totals;
    let mut activated = vec![];
    for n in &st.snap.nodes {
        let nl = node_label(n.node);
        let mut by_reclaim = [0u64; 2];
        for rec in 0..reclaimer::COUNT {
            for file in 0..2u32 {
                let a = &t.shrink_inactive[shrink_index(n.node, rec, file) as usize];
                by_reclaim[0] += a.activate_anon;
                by_reclaim[1] += a.activate_file;
            }
        }
        let access = |l: u32| t.lru_activate[lru_index(n.node, l) as usize].pages;
        let rows = [
            ("access", "anon", access(lru::ACTIVE_ANON)),
            ("access", "file", access(lru::ACTIVE_FILE)),
            ("reclaim", "anon", by_reclaim[0]),
            ("reclaim", "file", by_reclaim[1]),
        ];
        let derived = if n.rates.derives("activated_by_reclaim") {
            4
        } else {
            2
        };
        for (source, ty, pages) in rows.into_iter().take(derived) {
            activated.push((
                vec![
                    ("node", nl.clone()),
                    ("source", source.into()),
                    ("type", ty.into()),
                ],
                pages,
            ));
        }
    }
    counter(
        enc,
        "vmscan_pages_activated",
        "Pages activated: source=access by folio_activate (mm_lru_activate), source=reclaim by shrink_folio_list's nr_activate.",
        activated,
    )
}

/// Pages the per-CPU batches outside reclaim moved between lists, per node:
/// MADV_COLD / DAMON (lru_deactivate) and invalidation (lru_deactivate_file)
/// from a type's active list to its inactive one, MADV_FREE (lru_lazyfree)
/// from an anon list to the inactive file list. A node has rows only where
/// its figures are derived (hooked; the deactivations not under MGLRU).
fn encode_moved_outside_reclaim(
    st: &ExportState,
    enc: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let t = &st.totals;
    let mut rows = vec![];
    for n in &st.snap.nodes {
        let nl = node_label(n.node);
        let mut row = |by: &str, from: &str, to: &str, pages: u64| {
            rows.push((
                vec![
                    ("node", nl.clone()),
                    ("by", by.to_owned()),
                    ("from", from.to_owned()),
                    ("to", to.to_owned()),
                ],
                pages,
            ));
        };
        if n.rates.deactivated_by_batches.is_some() {
            for (batch, by) in [
                (deactivate::COLD, "lru_deactivate"),
                (deactivate::FILE, "lru_deactivate_file"),
            ] {
                for (file, from, to) in [
                    (0, "active_anon", "inactive_anon"),
                    (1, "active_file", "inactive_file"),
                ] {
                    row(
                        by,
                        from,
                        to,
                        t.deactivate[deactivate_index(batch, n.node, file) as usize],
                    );
                }
            }
        }
        if n.rates.lazyfree.is_some() {
            for (active, from) in [(0, "inactive_anon"), (1, "active_anon")] {
                row(
                    "lru_lazyfree",
                    from,
                    "inactive_file",
                    t.lazyfree[lazyfree_index(n.node, active) as usize],
                );
            }
        }
    }
    counter(
        enc,
        "vmscan_pages_moved_outside_reclaim",
        "Pages moved between LRU lists by the per-CPU batches outside reclaim that fire no tracepoint: lru_deactivate (MADV_COLD, DAMON), lru_deactivate_file (invalidation that could not drop the folio), lru_lazyfree (MADV_FREE). Rows only where derived: the hooks attached (fentry or kprobes), the deactivations not under MGLRU.",
        rows,
    )
}

/// The same moves per lruvec (node x the folio's memory cgroup), where
/// derived: the cgroups that moved the most pages labelled by name, at most
/// --max-memcgs of them, the rest summed as "other".
fn encode_lruvec_moves(
    st: &ExportState,
    enc: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let moves = |l: &LruvecSnap| l.moved.by_kind();
    // Only the cgroups that moved pages are named.
    let named = top_memcgs(&st.snap.lruvecs, st.max_memcgs, |l| {
        Some(moves(l).iter().flatten().sum::<u64>()).filter(|&p| p > 0)
    });
    let mut rows: BTreeMap<(u32, String, usize), u64> = BTreeMap::new();
    for l in &st.snap.lruvecs {
        let memcg = if named.contains(l.memcg.as_str()) {
            label(&l.memcg)
        } else {
            "other".to_owned()
        };
        for (kind, pages) in moves(l).into_iter().enumerate() {
            // Absent: not derived here; a zero row only for a named cgroup.
            if let Some(p) = pages.filter(|&p| p > 0 || named.contains(l.memcg.as_str())) {
                *rows.entry((l.node, memcg.clone(), kind)).or_default() += p;
            }
        }
    }
    counter(
        enc,
        "vmscan_lruvec_pages_moved_outside_reclaim",
        "vmscan_pages_moved_outside_reclaim per lruvec (node x the folio's memory cgroup; from, to: the lists), as memory.stat's pgdeactivate (the part outside reclaim) and pglazyfree count them, and folio_activate's batch (lru_activate, mm_lru_activate: inactive to active, memory.stat's pgactivate outside reclaim; a node's are vmscan_pages_activated{source=\"access\"}). Rows only where derived; the cgroups that moved the most pages are labelled, at most --max-memcgs, the rest summed as memcg=\"other\".",
        rows.into_iter()
            .map(|((node, memcg, kind), pages)| {
                let (from, to) = memcg_move::LISTS[kind];
                (
                    vec![
                        ("node", node_label(node)),
                        ("memcg", memcg),
                        ("from", lru::NAMES[from as usize].to_owned()),
                        ("to", lru::NAMES[to as usize].to_owned()),
                    ],
                    pages,
                )
            })
            .collect(),
    )
}

/// Rows of a per-CPU array kept by node and list, where `hook` is attached
/// with its return (else none): for each node with memory and each list,
/// labels (node, lru) then `extra`, and `table`'s slot `slot(node, list)`.
fn per_list_rows(
    st: &ExportState,
    hook: vmscan_common::HookId,
    table: &[u64],
    extra: &[(&'static str, &str)],
    slot: impl Fn(u32, u32) -> u32,
) -> Vec<(Labels, u64)> {
    if !crate::probe::loader::hook_returned(&st.hooks, hook) {
        return vec![];
    }
    let mut rows = vec![];
    for n in &st.snap.nodes {
        for l in 0..lru::COUNT {
            let mut labels: Labels = vec![
                ("node", node_label(n.node)),
                ("lru", lru::NAMES[l as usize].to_owned()),
            ];
            labels.extend(extra.iter().map(|&(k, v)| (k, v.to_owned())));
            let pages = table.get(slot(n.node, l) as usize).copied().unwrap_or(0);
            rows.push((labels, pages));
        }
    }
    rows
}

/// Pages folio_isolate_lru took off each list outside reclaim (no
/// tracepoint fires there), per node and list. Rows only where it is
/// hooked with its return.
fn encode_isolated_outside_reclaim(
    st: &ExportState,
    enc: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let rows = per_list_rows(
        st,
        vmscan_common::hook::ISOLATE_LRU,
        &st.totals.isolated,
        &[],
        lru_index,
    );
    counter(
        enc,
        "vmscan_pages_isolated_outside_reclaim",
        "Pages folio_isolate_lru took off an LRU list outside reclaim, which fires no tracepoint (migration, MADV_PAGEOUT, khugepaged, memory offline); they come back, if at all, as insertions. Compaction's migrate scanner isolates inline: see vmscan_pages_isolated_by_compaction_total. Rows only where folio_isolate_lru is hooked with its return.",
        rows,
    )
}

/// Pages compaction's migrate scanner took off each list, per node and
/// list, and per node those from no LRU list (lru="not_lru"). Rows only
/// where isolate_migratepages_block is hooked with its return.
fn encode_isolated_by_compaction(
    st: &ExportState,
    enc: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let table = &st.totals.compact_isolated;
    let mut rows = per_list_rows(st, vmscan_common::hook::COMPACT, table, &[], lru_index);
    if !rows.is_empty() {
        for n in &st.snap.nodes {
            let slot = vmscan_common::compact_not_lru_index(n.node) as usize;
            rows.push((
                vec![("node", node_label(n.node)), ("lru", "not_lru".to_owned())],
                table.get(slot).copied().unwrap_or(0),
            ));
        }
    }
    counter(
        enc,
        "vmscan_pages_isolated_by_compaction",
        "Pages compaction's migrate scanner (isolate_migratepages_block: compaction, CMA, alloc_contig) took off an LRU list, inline with no tracepoint; they come back, if at all, as insertions. lru=\"not_lru\": pages on its list from no LRU list (non-LRU movable pages, hugetlb). Rows only where isolate_migratepages_block is hooked with its return (bpf_loop, 5.17+).",
        rows,
    )
}

/// Pages the mlock batch moved, per node, list and direction (entered,
/// left). Rows only where the batch is hooked with its return.
fn encode_mlock_moved(
    st: &ExportState,
    enc: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let mut rows = vec![];
    for (out, direction) in [(false, "into"), (true, "out_of")] {
        rows.extend(per_list_rows(
            st,
            vmscan_common::hook::MLOCK,
            &st.totals.mlock_moved,
            &[("direction", direction)],
            |node, l| vmscan_common::mlock_index(node, l, out),
        ));
    }
    counter(
        enc,
        "vmscan_pages_mlock_moved",
        "Pages the mlock batch moved into or out of an LRU list, which fires no tracepoint: mlock (to unevictable), munlock (back), and a locked VMA's new folios (into unevictable, out of none). Rows only where mlock_folio_batch (mlock_pagevec in 5.18-6.2) is hooked with its return; before 5.18 mlock goes through folio_isolate_lru and insertions.",
        rows,
    )
}

/// Reclaim's scans and steals per lruvec, where derived: the cgroups
/// reclaim scanned the most labelled by name, at most --max-memcgs of
/// them, the rest summed as "other".
fn encode_lruvec_reclaim(
    st: &ExportState,
    enc: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let named = top_memcgs(&st.snap.lruvecs, st.max_memcgs, |l| {
        l.reclaim.map(|r| r.scanned()).filter(|&p| p > 0)
    });
    let mut rows: BTreeMap<(u32, String, &'static str, &'static str), u64> = BTreeMap::new();
    for l in &st.snap.lruvecs {
        let Some(r) = l.reclaim else { continue };
        let is_named = named.contains(l.memcg.as_str());
        if r.scanned() + r.reclaimed() == 0 && !is_named {
            continue;
        }
        let memcg = if is_named {
            label(&l.memcg)
        } else {
            "other".to_owned()
        };
        for (outcome, ty, p) in [
            ("scanned", "anon", Some(r.scanned_anon)),
            ("scanned", "file", Some(r.scanned_file)),
            ("reclaimed", "anon", Some(r.reclaimed_anon)),
            ("reclaimed", "file", Some(r.reclaimed_file)),
            ("refilled", "anon", r.refilled_anon),
            ("refilled", "file", r.refilled_file),
            ("deactivated", "anon", r.deactivated_anon),
            ("deactivated", "file", r.deactivated_file),
            ("activated", "anon", r.activated_anon),
            ("activated", "file", r.activated_file),
        ] {
            // Absent: not derived here (MGLRU's aging; its evictions before
            // 6.7 where unhooked).
            if let Some(p) = p {
                *rows
                    .entry((l.node, memcg.clone(), ty, outcome))
                    .or_default() += p;
            }
        }
    }
    counter(
        enc,
        "vmscan_lruvec_reclaim_pages",
        "Pages reclaim scanned, reclaimed and activated from each lruvec's inactive lists, and on the classic LRU scanned from its active lists and deactivated (node x memory cgroup; type; outcome), as memory.stat counts pgscan, pgsteal, reclaim's share of pgactivate, pgrefill and reclaim's share of pgdeactivate (scanned: the classic LRU's scanned pages, MGLRU's isolated ones). Rows only where derived (shrink_lruvec, and under MGLRU 6.4+ try_to_shrink_lruvec, hooked with their returns); the cgroups reclaim scanned the most are labelled, at most --max-memcgs, the rest summed as memcg=\"other\".",
        rows.into_iter()
            .map(|((node, memcg, ty, outcome), pages)| {
                (
                    vec![
                        ("node", node_label(node)),
                        ("memcg", memcg),
                        ("type", ty.to_owned()),
                        ("outcome", outcome.to_owned()),
                    ],
                    pages,
                )
            })
            .collect(),
    )
}

fn encode_writeback(t: &Totals, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let mut written = vec![];
    for rec in 0..reclaimer::COUNT {
        for file in 0..2u32 {
            written.push((
                vec![
                    ("reclaimer", reclaimer::NAMES[rec as usize].to_owned()),
                    ("type", folio_type(file)),
                ],
                t.write_folio[write_index(rec, file) as usize],
            ));
        }
    }
    counter(
        enc,
        "vmscan_reclaim_writeback_folios",
        "Folios written back by reclaim (mm_vmscan_write_folio).",
        written,
    )
}

fn encode_inserted(st: &ExportState, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let mut inserted = vec![];
    for n in st.snap.nodes.iter().map(|n| n.node) {
        for l in 0..lru::COUNT {
            inserted.push((
                vec![
                    ("node", node_label(n)),
                    ("lru", lru::NAMES[l as usize].to_owned()),
                ],
                st.totals.lru_insert[lru_index(n, l) as usize].pages,
            ));
        }
    }
    counter(
        enc,
        "vmscan_pages_inserted",
        "Pages added to an LRU list (pagemap:mm_lru_insertion).",
        inserted,
    )
}

/// LRU sizes: per node, and per lruvec with bounded memcg labels.
fn encode_lru_sizes(st: &ExportState, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let mut node_sizes = vec![];
    for n in &st.snap.nodes {
        for l in &n.lists {
            if let Some(p) = l.pages {
                node_sizes.push((
                    vec![("node", node_label(n.node)), ("lru", l.name.to_owned())],
                    p as i64,
                ));
            }
        }
    }
    gauge(
        enc,
        "vmscan_node_lru_pages",
        "Pages on each LRU list of a node (node meminfo).",
        node_sizes,
    )?;
    let named = largest_memcgs(&st.snap.lruvecs, st.max_memcgs);
    gauge(
        enc,
        "vmscan_lruvec_pages",
        "Pages on each LRU list of a lruvec (node x memory cgroup; memory.numa_stat / memory.stat). Cgroups beyond --max-memcgs are summed as memcg=\"other\".",
        lruvec_rows(&st.snap.lruvecs, &named),
    )?;
    encode_kube_info(st, &named, enc)
}

/// `vmscan_memcg_kubernetes_info{memcg, pod_uid, container_id, qos_class} 1`
/// for every labelled memory cgroup that is a Kubernetes pod or container
/// (parsed from its kubepods path): joined to the memcg series with
/// `* on (memcg) group_left(pod_uid, container_id, qos_class)`.
/// `named`: the memcgs labelled by name ([`largest_memcgs`]).
fn encode_kube_info(
    st: &ExportState,
    named: &HashSet<&str>,
    enc: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let mut by_reclaimed: Vec<_> = st.snap.memcgs.iter().collect();
    by_reclaimed.sort_by(|a, b| b.reclaimed.cmp(&a.reclaimed).then(a.path.cmp(&b.path)));
    let lruvecs = st
        .snap
        .lruvecs
        .iter()
        .filter(|l| named.contains(l.memcg.as_str()))
        .map(|l| (&l.memcg, &l.kube));
    let memcgs = by_reclaimed
        .into_iter()
        .take(st.max_memcgs)
        .map(|m| (&m.path, &m.kube));
    let mut rows: BTreeMap<String, Labels> = BTreeMap::new();
    for (path, kube) in lruvecs.chain(memcgs) {
        if let Some(k) = kube {
            rows.entry(label(path)).or_insert_with(|| {
                vec![
                    ("memcg", label(path)),
                    ("pod_uid", k.pod_uid.clone()),
                    ("container_id", k.container_id.clone().unwrap_or_default()),
                    ("qos_class", k.qos_class.to_owned()),
                ]
            });
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    gauge(
        enc,
        "vmscan_memcg_kubernetes_info",
        "Kubernetes pod UID, container id and QoS class of a memory cgroup, parsed from its kubepods path (1 per labelled cgroup).",
        rows.into_values().map(|l| (l, 1)).collect(),
    )
}

/// The `max` memory cgroups with the most pages over all nodes (ties by
/// path). Linear in the lruvecs but for the `max` kept: a scrape with
/// 10,000 memcgs does this once.
fn largest_memcgs(lruvecs: &[LruvecSnap], max: usize) -> HashSet<&str> {
    top_memcgs(lruvecs, max, |lv| Some(lv.anon + lv.file + lv.unevictable))
}

/// The `max` memory cgroups with the largest `weight` summed over their
/// lruvecs (ties by path); a lruvec weighing None is not counted, and a
/// cgroup none of whose lruvecs counts is never among them.
fn top_memcgs(
    lruvecs: &[LruvecSnap],
    max: usize,
    weight: impl Fn(&LruvecSnap) -> Option<u64>,
) -> HashSet<&str> {
    let mut sizes: HashMap<&str, u64> = HashMap::with_capacity(lruvecs.len());
    for lv in lruvecs {
        if let Some(w) = weight(lv) {
            *sizes.entry(&lv.memcg).or_default() += w;
        }
    }
    let mut by_size: Vec<(&str, u64)> = sizes.into_iter().collect();
    let order = |a: &(&str, u64), b: &(&str, u64)| b.1.cmp(&a.1).then(a.0.cmp(b.0));
    if max > 0 && by_size.len() > max {
        by_size.select_nth_unstable_by(max - 1, order);
    }
    by_size.truncate(max);
    by_size.into_iter().map(|(m, _)| m).collect()
}

/// Pages per (node, memcg, list), the cgroups not `named` summed as "other".
fn lruvec_rows(lruvecs: &[LruvecSnap], named: &HashSet<&str>) -> Vec<(Labels, i64)> {
    let mut lruvec: HashMap<(u32, &str, &str), u64> = Default::default();
    for lv in lruvecs {
        let Some(lists) = lv.lists else { continue };
        let memcg = if named.contains(lv.memcg.as_str()) {
            lv.memcg.as_str()
        } else {
            "other"
        };
        for (i, name) in lru::NAMES.iter().enumerate() {
            *lruvec.entry((lv.node, memcg, name)).or_default() += lists[i];
        }
    }
    let mut rows: Vec<((u32, String, &str), u64)> = lruvec
        .into_iter()
        .map(|((n, m, l), v)| ((n, label(m), l), v))
        .collect();
    rows.sort_unstable();
    rows.into_iter()
        .map(|((n, m, l), v)| {
            (
                vec![("node", node_label(n)), ("memcg", m), ("lru", l.to_owned())],
                v as i64,
            )
        })
        .collect()
}

fn encode_kswapd(s: &Snapshot, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let awake = |n: &NodeSnap| n.kswapd.state == KswapdState::Awake;
    gauge(
        enc,
        "vmscan_kswapd_awake",
        "1 while the node's kswapd runs a reclaim episode.",
        s.nodes
            .iter()
            .map(|n| (vec![("node", node_label(n.node))], awake(n) as i64))
            .collect(),
    )?;
    counter(
        enc,
        "vmscan_kswapd_wakes",
        "kswapd wake-ups (mm_vmscan_kswapd_wake).",
        s.nodes
            .iter()
            .map(|n| {
                (
                    vec![("node", node_label(n.node))],
                    n.kswapd.episodes + awake(n) as u64,
                )
            })
            .collect(),
    )?;
    counter(
        enc,
        "vmscan_kswapd_wakeup_requests",
        "Requests to wake kswapd (mm_vmscan_wakeup_kswapd) by the context they were made in: task, softirq, hardirq, nmi; unknown where vmscan cannot tell on this kernel (vmscan probes says why), for a kernel stack too deep or nested too far to tell, and in recordings made before vmscan told.",
        s.nodes
            .iter()
            .flat_map(|n| {
                n.kswapd
                    .wakeup_contexts
                    .by_name()
                    .into_iter()
                    .map(move |(ctx, v)| {
                        (
                            vec![("node", node_label(n.node)), ("context", ctx.to_owned())],
                            v,
                        )
                    })
            })
            .collect(),
    )
}

/// Memcg reclaim episodes and pages, the cgroups beyond the `max_memcgs`
/// that reclaimed most summed as "other".
fn encode_memcg_episodes(
    st: &ExportState,
    enc: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let mut memcg_eps: BTreeMap<String, (u64, u64)> = Default::default();
    let mut by_reclaimed: Vec<_> = st.snap.memcgs.iter().collect();
    by_reclaimed.sort_by(|a, b| b.reclaimed.cmp(&a.reclaimed).then(a.path.cmp(&b.path)));
    for (i, m) in by_reclaimed.into_iter().enumerate() {
        let name = if i < st.max_memcgs {
            label(&m.path)
        } else {
            "other".into()
        };
        let e = memcg_eps.entry(name).or_default();
        e.0 += m.reclaim_episodes;
        e.1 += m.reclaimed;
    }
    counter(
        enc,
        "vmscan_memcg_reclaim_episodes",
        "Memory-cgroup reclaim episodes (mm_vmscan_memcg_reclaim_begin/end) by the cgroup the kernel reclaimed (try_to_free_mem_cgroup_pages' argument; by the reclaiming task's cgroup where that function cannot be hooked, see vmscan_hook_up).",
        memcg_eps
            .iter()
            .map(|(m, v)| (vec![("memcg", m.clone())], v.0))
            .collect(),
    )?;
    counter(
        enc,
        "vmscan_memcg_reclaim_pages",
        "Pages reclaimed by memory-cgroup reclaim episodes.",
        memcg_eps
            .iter()
            .map(|(m, v)| (vec![("memcg", m.clone())], v.1))
            .collect(),
    )
}

/// Refaults (workingset_refault) per memory cgroup and type, the kernel's
/// verdicts, the refault distance histogram per cgroup and the what-if
/// points. Counters come from the cumulative aggregates; cgroups beyond
/// `max_memcgs` (by refaulted pages) are summed as "other". Nothing is
/// written when the hook is not attached (vmscan_hook_up says so).
fn encode_refaults(st: &ExportState, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let Some(rep) = st.snap.refaults.report.as_ref() else {
        return Ok(());
    };
    // Names: the largest cgroups by refaulted pages, the rest "other".
    let mut by_pages: BTreeMap<u64, u64> = BTreeMap::new();
    for (k, a) in &st.totals.refault {
        *by_pages.entry(k.cgroup_id).or_default() += a.pages;
    }
    let mut order: Vec<(u64, u64)> = by_pages.into_iter().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let paths: BTreeMap<u64, &str> = rep
        .memcgs
        .iter()
        .filter_map(|m| Some((m.cgroup_id, m.path.as_deref()?)))
        .collect();
    // The label of each named cgroup, looked up once per key below.
    let named: BTreeMap<u64, String> = order
        .iter()
        .take(st.max_memcgs)
        .map(|&(id, _)| {
            (
                id,
                paths
                    .get(&id)
                    .map_or_else(|| format!("id:{id}"), |p| label(p)),
            )
        })
        .collect();
    let name = |id: u64| -> String { named.get(&id).cloned().unwrap_or_else(|| "other".into()) };
    let mut pages: BTreeMap<(String, String), [u64; 3]> = BTreeMap::new();
    for (k, a) in &st.totals.refault {
        let e = pages
            .entry((name(k.cgroup_id), folio_type(k.file)))
            .or_default();
        e[0] += a.pages;
        e[1] += a.activated;
        e[2] += a.restored;
    }
    let rows = |i: usize| {
        pages
            .iter()
            .map(|((m, t), v)| (vec![("memcg", m.clone()), ("type", t.clone())], v[i]))
            .collect()
    };
    counter(
        enc,
        "vmscan_refault_pages",
        "Refaulted pages (workingset_refault, as /proc/vmstat workingset_refault_{anon,file} and memory.stat count them) by the refaulting cgroup.",
        rows(0),
    )?;
    if rep.activated_pages.is_some() {
        counter(
            enc,
            "vmscan_refault_activated_pages",
            "Refaulted pages the kernel activated (workingset_activate_*; classic LRU).",
            rows(1),
        )?;
    }
    counter(
        enc,
        "vmscan_refault_restored_pages",
        "Refaulted pages that were in the workingset when evicted (workingset_restore_*).",
        rows(2),
    )?;
    if rep.no_distance.is_some() {
        return Ok(());
    }
    // Distances in buckets of factor 4 (le = 4^k - 1 pages, up to 1 TiB of
    // 4 KiB pages, then +Inf), per named cgroup: 16 series per cgroup.
    const DIST_LE: usize = 15;
    let mut hists: BTreeMap<String, (u64, u64, [u64; DIST_LE + 1])> = BTreeMap::new();
    for (k, a) in &st.totals.refault_dist {
        let h = hists
            .entry(name(k.cgroup_id))
            .or_insert((0, 0, [0; DIST_LE + 1]));
        let (lo, _) = vmscan_common::distance_bounds(k.bucket);
        // The bucket's values are below 2^octave, so below 4^ceil(octave/2).
        let octave = (64 - lo.leading_zeros()) as usize;
        h.0 += a.pages;
        h.1 += lo.saturating_mul(a.pages);
        h.2[octave.div_ceil(2).min(DIST_LE)] += a.pages;
    }
    let mut m = enc.encode_descriptor(
        "vmscan_refault_distance_pages",
        "Refault distance (mm/workingset.c: the eviction lruvec's nonresident_age since eviction) in pages, per refaulted page; the sum uses each bucket's lower edge.",
        None,
        MetricType::Histogram,
    )?;
    for (memcg, (count, sum, b)) in &hists {
        let mut buckets: Vec<(f64, u64)> = b[..DIST_LE]
            .iter()
            .enumerate()
            .map(|(k, n)| (((1u64 << (2 * k)) - 1) as f64, *n))
            .collect();
        buckets.push((f64::MAX, b[DIST_LE]));
        let labels: Labels = vec![("memcg", memcg.clone())];
        let fam = m.encode_family(&labels)?;
        fam_histogram(fam, *sum as f64, *count, &buckets)?;
    }
    let mut points = vec![];
    for mc in rep.memcgs.iter().filter(|m| name(m.cgroup_id) != "other") {
        for (pct, v) in [
            ("50", mc.extra_for_50),
            ("90", mc.extra_for_90),
            ("99", mc.extra_for_99),
        ] {
            if let Some(bytes) = v {
                points.push((
                    vec![
                        ("memcg", name(mc.cgroup_id)),
                        ("avoided_percent", pct.to_owned()),
                    ],
                    bytes as i64,
                ));
            }
        }
    }
    gauge(
        enc,
        "vmscan_refault_whatif_extra_bytes",
        "The least extra memory that would have avoided avoided_percent of the cgroup's measured refaults since start (from the refault distances).",
        points,
    )
}

/// The latency histograms: (snapshot key, metric name, help).
const HISTOGRAMS: [(&str, &str, &str); 5] = [
    (
        "direct_reclaim",
        "vmscan_direct_reclaim_duration_seconds",
        "Direct reclaim episode latency (mm_vmscan_direct_reclaim_begin to _end).",
    ),
    (
        "memcg_reclaim",
        "vmscan_memcg_reclaim_duration_seconds",
        "Memory-cgroup reclaim episode latency.",
    ),
    (
        "kswapd_episode",
        "vmscan_kswapd_episode_duration_seconds",
        "kswapd episode length (wake to sleep).",
    ),
    (
        "shrink_node",
        "vmscan_shrink_node_duration_seconds",
        "shrink_node pass length (fentry/fexit or kprobes).",
    ),
    (
        "batch_residency",
        "vmscan_batch_residency_seconds",
        "Time from folio_add_lru to the folio's LRU insertion (per-CPU batch residency).",
    ),
];

/// The histograms whose hooks are attached.
fn encode_histograms(s: &Snapshot, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    for (key, name, help) in HISTOGRAMS {
        if let Some(h) = s.histograms.get(key)
            && h.available
        {
            histogram(enc, name, help, vec![(vec![], &h.cumulative)])?;
        }
    }
    Ok(())
}

/// folio_mark_accessed calls, when that hook is attached.
fn encode_access(st: &ExportState, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    if !crate::model::input::hook_attached(&st.hooks, hook::MARK_ACCESSED) {
        return Ok(());
    }
    counter(
        enc,
        "vmscan_folio_mark_accessed",
        "folio_mark_accessed calls by outcome, calling task (exiting = PF_EXITING), page-table teardown (inside exit_mmap: yes, no, unknown where exit_mmap is not hooked) and folio type.",
        st.snap
            .access
            .iter()
            .map(|a| {
                (
                    vec![
                        ("outcome", a.outcome.to_owned()),
                        (
                            "task",
                            if a.exiting { "exiting" } else { "live" }.to_owned(),
                        ),
                        (
                            "teardown",
                            match a.teardown {
                                Some(true) => "yes",
                                Some(false) => "no",
                                None => "unknown",
                            }
                            .to_owned(),
                        ),
                        ("type", if a.file { "file" } else { "anon" }.to_owned()),
                    ],
                    a.calls,
                )
            })
            .collect(),
    )
}

/// Self-health: per hook, its events, losses and whether it is attached.
/// vmscan's counters against /proc/vmstat since it started (only once a
/// check has run): the divergence per counter and how many are exact.
fn encode_self_check(s: &Snapshot, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    if !s.totals.underivable.is_empty() {
        gauge(
            enc,
            "vmscan_vmstat_not_derived",
            "1 for each /proc/vmstat counter this kernel gives vmscan no way to derive, with the reason: vmscan exports no figure for it rather than a zero.",
            s.totals
                .underivable
                .iter()
                .map(|(k, why)| {
                    (
                        vec![("counter", (*k).to_owned()), ("reason", (*why).to_owned())],
                        1,
                    )
                })
                .collect(),
        )?;
    }
    let c = &s.self_check;
    if !c.memcgs.is_empty() {
        gauge(
            enc,
            "vmscan_self_check_memcg_divergence_pages",
            "vmscan's per-memcg count (refaults, MADV_FREE; the cgroup's descendants included) minus its memory.stat's, since the cgroup joined the check (at most 16 active cgroups at once), per counter; 0 when exact within the memcg stat slack.",
            c.memcgs
                .iter()
                .flat_map(|m| {
                    m.counters.iter().map(|k| {
                        (
                            vec![
                                ("memcg", label(&m.memcg)),
                                ("counter", k.counter.to_owned()),
                            ],
                            k.divergence_pages,
                        )
                    })
                })
                .collect(),
        )?;
    }
    if c.checked == 0 {
        return Ok(());
    }
    gauge(
        enc,
        "vmscan_self_check_divergence_pages",
        "vmscan's count minus the kernel's (/proc/vmstat) since vmscan started, per counter; 0 when exact.",
        c.counters
            .iter()
            .map(|k| (vec![("counter", k.counter.to_owned())], k.divergence_pages))
            .collect(),
    )?;
    gauge(
        enc,
        "vmscan_self_check_exact",
        "Counters equal to the kernel's own since vmscan started.",
        vec![(vec![], c.exact as i64)],
    )?;
    gauge(
        enc,
        "vmscan_self_check_checked",
        "Counters vmscan checks against the kernel's own.",
        vec![(vec![], c.checked as i64)],
    )
}

fn encode_hook_health(
    st: &ExportState,
    enc: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let s = &st.snap;
    let figures: Vec<(Labels, (u64, u64))> = st
        .hooks
        .iter()
        .map(|h| {
            (
                vec![("hook", label(&h.name))],
                hook_figures(&s.hook_events, &s.hook_lost, h.id),
            )
        })
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
        figures
            .into_iter()
            .map(|(l, (_, lost))| (l, lost))
            .collect(),
    )?;
    counter(
        enc,
        "vmscan_missed_runs",
        "Runs of each hook's programs the kernel skipped (BPF recursion guard): events vmscan did not count. No series where this kernel does not count them for the hook's mechanism (kprobes and classic tracepoints before 6.7).",
        st.hooks
            .iter()
            .filter_map(|h| {
                let n = st.hook_missed.iter().find(|(id, _)| *id == h.id)?.1?;
                Some((vec![("hook", label(&h.name))], n))
            })
            .collect(),
    )?;
    gauge(
        enc,
        "vmscan_hook_attached",
        "1 when the hook is attached.",
        st.hooks
            .iter()
            .map(|h| {
                (
                    vec![
                        ("hook", label(&h.name)),
                        (
                            "mechanism",
                            h.mechanism.clone().unwrap_or_else(|| "none".into()),
                        ),
                    ],
                    h.attached() as i64,
                )
            })
            .collect(),
    )
}

/// Run time and runs per BPF program (BPF_ENABLE_STATS).
fn encode_bpf_stats(
    stats: &[(String, u64, u64)],
    enc: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    family(
        enc,
        (
            "vmscan_bpf_run_time_seconds",
            "Time spent in each vmscan BPF program (BPF_ENABLE_STATS).",
            MetricType::Counter,
        ),
        stats
            .iter()
            .map(|(prog, ns, _)| (vec![("program", label(prog))], *ns as f64 * 1e-9))
            .collect(),
        ConstCounter::new,
    )?;
    counter(
        enc,
        "vmscan_bpf_runs",
        "Runs of each vmscan BPF program (BPF_ENABLE_STATS).",
        stats
            .iter()
            .map(|(p, _, c)| (vec![("program", label(p))], *c))
            .collect(),
    )
}

/// A registry serving the state.
pub fn registry(state: Arc<RwLock<ExportState>>) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(SnapshotCollector(state)));
    r
}

/// The exporter's registry: the state, then vmscan's own build info and
/// process metrics.
pub fn exporter_registry(state: Arc<RwLock<ExportState>>) -> Registry {
    let mut r = registry(state);
    r.register_collector(Box::new(super::process::SelfCollector(
        super::process::BuildInfo::current(),
    )));
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
            let full = if ty == "counter" && !name.ends_with("_total") {
                format!("{name}_total")
            } else {
                name.to_owned()
            };
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
        assert_eq!(
            t,
            "# HELP a_total Pages.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n# HELP g G.\n# TYPE g gauge\ng 1\n"
        );
    }

    fn state() -> ExportState {
        let mut totals = Totals::default();
        totals.shrink_inactive[shrink_index(0, reclaimer::MEMCG, 1) as usize].reclaimed = 115_205;
        totals.shrink_inactive[shrink_index(0, reclaimer::MEMCG, 1) as usize].scanned = 115_213;
        let mut snap = Snapshot {
            nodes: vec![NodeSnap {
                node: 0,
                ..Default::default()
            }],
            ..Default::default()
        };
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
        ExportState {
            snap,
            totals,
            hooks: vec![],
            max_memcgs: 2,
            ..Default::default()
        }
    }

    #[test]
    fn counters_are_the_models_totals_and_labels_are_escaped() {
        let text = render(&registry(Arc::new(RwLock::new(state())))).unwrap();
        assert!(
            text.contains(
                "vmscan_pages_reclaimed_total{node=\"0\",reclaimer=\"memcg\",type=\"file\"} 115205"
            ),
            "{text}"
        );
        assert!(text.contains(
            "vmscan_pages_scanned_total{node=\"0\",reclaimer=\"memcg\",type=\"file\"} 115213"
        ));
        assert!(
            text.contains("memcg=\"/cg4\\\"x\\\\y\\n\""),
            "quotes, backslashes, newlines escaped: {text}"
        );
        assert!(text.trim_end().ends_with("# EOF"));
    }

    #[test]
    fn moves_without_a_tracepoint_are_rows_only_where_hooked() {
        let mut st = state();
        st.totals.isolated[lru_index(0, lru::INACTIVE_FILE) as usize] = 12;
        st.totals.compact_isolated[lru_index(0, lru::ACTIVE_ANON) as usize] = 7;
        st.totals.compact_isolated[vmscan_common::compact_not_lru_index(0) as usize] = 2;
        st.totals.mlock_moved[vmscan_common::mlock_index(0, lru::UNEVICTABLE, false) as usize] = 30;
        st.totals.mlock_moved[vmscan_common::mlock_index(0, lru::INACTIVE_FILE, true) as usize] =
            20;
        let families = [
            "vmscan_pages_isolated_outside_reclaim_total{",
            "vmscan_pages_isolated_by_compaction_total{",
            "vmscan_pages_mlock_moved_total{",
        ];
        let render_state =
            |st: &ExportState| render(&registry(Arc::new(RwLock::new(st.clone())))).unwrap();
        let text = render_state(&st);
        for f in families {
            assert!(
                !text.lines().any(|l| l.starts_with(f)),
                "not hooked: no {f} rows"
            );
        }
        st.hooks = [hook::ISOLATE_LRU, hook::COMPACT, hook::MLOCK]
            .into_iter()
            .map(|id| HookStatus {
                id,
                name: "f".into(),
                mechanism: Some("fentry+fexit".into()),
                error: None,
                notes: vec![],
            })
            .collect();
        let text = render_state(&st);
        for row in [
            "vmscan_pages_isolated_outside_reclaim_total{node=\"0\",lru=\"inactive_file\"} 12",
            "vmscan_pages_isolated_by_compaction_total{node=\"0\",lru=\"active_anon\"} 7",
            "vmscan_pages_isolated_by_compaction_total{node=\"0\",lru=\"not_lru\"} 2",
            "vmscan_pages_mlock_moved_total{node=\"0\",lru=\"unevictable\",direction=\"into\"} 30",
            "vmscan_pages_mlock_moved_total{node=\"0\",lru=\"inactive_file\",direction=\"out_of\"} 20",
            "vmscan_pages_mlock_moved_total{node=\"0\",lru=\"unevictable\",direction=\"out_of\"} 0",
        ] {
            assert!(text.contains(row), "{row} in {text}");
        }
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
        assert!(
            text.contains(
                "vmscan_lruvec_pages{node=\"0\",memcg=\"other\",lru=\"inactive_file\"} 30"
            ),
            "{text}"
        );
    }

    #[test]
    fn lruvec_moves_name_the_cgroups_that_moved_most() {
        let mut st = state();
        // /cg0 5 pages, /cg1 100, /cg2 50, /cg3 none derived, /cg4 zero.
        let lv = &mut st.snap.lruvecs;
        lv[0].moved.lazyfree_from_inactive = Some(5);
        lv[1].moved.batch_deactivated_file = Some(100);
        lv[2].moved.batch_deactivated_file = Some(40);
        lv[2].moved.lazyfree_from_active = Some(10);
        lv[4].moved.batch_deactivated_anon = Some(0);
        let text = render(&registry(Arc::new(RwLock::new(st)))).unwrap();
        let rows: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("vmscan_lruvec_pages_moved_outside_reclaim_total{"))
            .collect();
        let row = |memcg: &str, from: &str, to: &str, v: u64| {
            format!(
                "vmscan_lruvec_pages_moved_outside_reclaim_total{{node=\"0\",memcg=\"{memcg}\",from=\"{from}\",to=\"{to}\"}} {v}"
            )
        };
        let cg = |i: u32| format!("/cg{i}\\\"x\\\\y\\n");
        let mut want = vec![
            row(&cg(1), "active_file", "inactive_file", 100),
            row(&cg(2), "active_file", "inactive_file", 40),
            row(&cg(2), "active_anon", "inactive_file", 10),
            // The two that moved most are named; /cg0 goes to other, /cg4's
            // zero only there (nothing of it named), /cg3 nowhere.
            row("other", "inactive_anon", "inactive_file", 5),
        ];
        let mut got: Vec<String> = rows.iter().map(|r| (*r).to_owned()).collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{text}");
    }

    /// A state that fills every family encode_state writes: two nodes (one the
    /// overflow slot), named and folded memcgs, histograms measured and
    /// bucketed in the kernel, folio_mark_accessed rows and BPF stats.
    fn full_state() -> ExportState {
        use crate::model::snapshot::{AccessRow, HistSnap, ListSnap, MemcgSnap};
        let mut st = state();
        for (k, n) in [0u32, NODE_OVERFLOW].into_iter().enumerate() {
            let k = k as u64 + 1;
            for rec in 0..reclaimer::COUNT {
                for file in 0..2u32 {
                    let i = shrink_index(n, rec, file) as usize;
                    let v = k * 100 + u64::from(rec) * 10 + u64::from(file);
                    let a = &mut st.totals.shrink_inactive[i];
                    (a.scanned, a.reclaimed, a.activate_anon, a.activate_file) =
                        (v + 7, v, v % 7, v % 5);
                    st.totals.shrink_active[i].deactivated = v * 3;
                }
            }
            for l in 0..lru::COUNT {
                let i = lru_index(n, l) as usize;
                st.totals.lru_insert[i].pages = k * 1000 + u64::from(l);
                st.totals.lru_activate[i].pages = k * 50 + u64::from(l);
            }
            let mut node = NodeSnap {
                node: n,
                ..Default::default()
            };
            node.lists = lru::NAMES
                .iter()
                .enumerate()
                .map(|(i, name)| ListSnap {
                    name,
                    pages: (i != 2).then_some(k * 10 + i as u64),
                    ..Default::default()
                })
                .collect();
            node.kswapd.episodes = k * 4;
            if n == 0 {
                node.kswapd.state = KswapdState::Awake;
                // The batches outside reclaim: derived on node 0 only.
                node.rates.deactivated_by_batches = Some(0.0);
                node.rates.lazyfree = Some(0.0);
            }
            for (b, file) in [(deactivate::COLD, 0), (deactivate::FILE, 1)] {
                st.totals.deactivate[deactivate_index(b, n, file) as usize] = k * 70 + u64::from(b);
            }
            st.totals.lazyfree[lazyfree_index(n, 1) as usize] = k * 9;
            if k == 1 {
                st.snap.nodes[0] = node;
            } else {
                st.snap.nodes.push(node);
            }
        }
        for (i, w) in st.totals.write_folio.iter_mut().enumerate() {
            *w = i as u64 * 11;
        }
        st.snap.lruvecs.push(LruvecSnap {
            node: NODE_OVERFLOW,
            memcg: "/big".into(),
            lists: Some([900, 1, 2, 3, 4]),
            anon: 900,
            ..Default::default()
        });
        st.snap.lruvecs.push(LruvecSnap {
            node: 0,
            memcg: "/nolists".into(),
            lists: None,
            anon: 1,
            moved: crate::model::counters::BatchMoves {
                batch_deactivated_anon: Some(3),
                batch_deactivated_file: Some(0),
                lazyfree_from_inactive: Some(64),
                lazyfree_from_active: Some(512),
                activated_anon: Some(0),
                activated_file: Some(7),
            },
            ..Default::default()
        });
        for (path, eps, rec) in [
            ("/a", 3, 30),
            ("/b\\\"q", 5, 30),
            ("/c", 1, 10),
            ("/d", 2, 0),
        ] {
            st.snap.memcgs.push(MemcgSnap {
                path: path.into(),
                reclaim_episodes: eps,
                reclaimed: rec,
                ..Default::default()
            });
        }
        let mut measured = HistSnap {
            available: true,
            ..Default::default()
        };
        for v in [0, 1, 3, 900, 70_000] {
            measured.cumulative.record(v);
        }
        let mut bucketed = HistSnap {
            available: true,
            ..Default::default()
        };
        bucketed.cumulative.add_bucket(0, 2);
        bucketed.cumulative.add_bucket(4, 3);
        bucketed.cumulative.add_bucket(12, 1);
        let unavailable = HistSnap {
            available: false,
            cumulative: measured.cumulative.clone(),
            ..Default::default()
        };
        st.snap.histograms.insert("direct_reclaim".into(), measured);
        st.snap.histograms.insert("kswapd_episode".into(), bucketed);
        st.snap.histograms.insert(
            "memcg_reclaim".into(),
            HistSnap {
                available: true,
                ..Default::default()
            },
        );
        st.snap.histograms.insert("shrink_node".into(), unavailable);
        st.snap.access = vec![
            AccessRow {
                outcome: "activated",
                exiting: false,
                teardown: Some(false),
                file: true,
                calls: 12,
                pages: 12,
            },
            AccessRow {
                outcome: "referenced",
                exiting: true,
                teardown: Some(true),
                file: false,
                calls: 3,
                pages: 3,
            },
        ];
        st.snap.hook_events = (0..hook::SLOTS as u64).map(|i| i * 10).collect();
        st.snap.hook_lost = (0..hook::SLOTS as u64).map(|i| i % 3).collect();
        let status = |id, name: &str, mechanism: Option<&str>| HookStatus {
            id,
            name: name.into(),
            mechanism: mechanism.map(Into::into),
            error: None,
            notes: vec![],
        };
        st.hooks = vec![
            status(hook::KSWAPD_WAKE, "kswapd_wake", Some("tracepoint")),
            status(hook::MARK_ACCESSED, "folio_mark_accessed", Some("fentry")),
            status(hook::SHRINK_NODE, "shrink_node", Some("fentry+fexit")),
            status(hook::ADD_LRU, "folio_add_lru", None),
        ];
        // Skips counted for two hooks; kswapd_wake's unknown (no series).
        st.hook_missed = vec![
            (hook::KSWAPD_WAKE, None),
            (hook::MARK_ACCESSED, Some(4)),
            (hook::SHRINK_NODE, Some(0)),
        ];
        st.bpf_stats_enabled = true;
        st.bpf_stats = vec![
            ("kswapd_wake".into(), 1_500, 3),
            ("shrink_\"node".into(), 2_000_000_123, 7),
        ];
        refaults(&mut st);
        // One memcg checked against its memory.stat: one counter exact,
        // one short.
        let check = |counter, divergence_pages| crate::model::selfcheck::CounterCheck {
            counter,
            vmscan: 100,
            kernel_min: 100,
            kernel_max: 100,
            slack_pages: 256,
            divergence_pages,
            within_slack: false,
            likely_cause: None,
        };
        st.snap.self_check.memcgs = vec![crate::model::selfcheck::MemcgSelfCheck {
            memcg: "/mv".into(),
            checked: 2,
            exact: 1,
            counters: vec![
                check("pglazyfree", 0),
                check("workingset_refault_file", -40),
            ],
        }];
        st
    }

    /// Two refaulting cgroups and one beyond --max-memcgs (folded into
    /// "other"), with distances for the first.
    fn refaults(st: &mut ExportState) {
        use crate::model::refaults::{RefaultInput, RefaultView, build};
        use vmscan_common::{PagesAgg, RefaultAgg, RefaultDistKey, RefaultKey, distance_bucket};
        for (id, file, pages) in [(7u64, 1u32, 36864u64), (7, 0, 100), (8, 1, 50), (9, 1, 10)] {
            st.totals.refault.insert(
                RefaultKey {
                    cgroup_id: id,
                    node: 0,
                    file,
                },
                RefaultAgg {
                    pages,
                    folios: pages,
                    activated: pages / 2,
                    restored: pages / 4,
                    measured: pages,
                    uncounted: 0,
                },
            );
        }
        for (d, pages) in [(4100u64, 30000u64), (900, 6864)] {
            st.totals.refault_dist.insert(
                RefaultDistKey {
                    cgroup_id: 7,
                    file: 1,
                    bucket: distance_bucket(d),
                },
                PagesAgg {
                    pages,
                    folios: pages,
                },
            );
        }
        let t = &st.totals;
        let input = RefaultInput {
            refault: &t.refault,
            dist: &t.refault_dist,
            files: &t.refault_files,
            tasks: &t.refault_tasks,
        };
        let names = |id: u64| Some(format!("/cg{id}"));
        let none = |_: u32, _: u64| None;
        let view = RefaultView {
            window_secs: 10.0,
            mglru: false,
            page_size: 4096,
            no_distance: None,
            memcg_path: &names,
            file_path: &none,
            only: None,
        };
        st.snap.refaults = crate::model::snapshot::RefaultsSnap {
            unavailable: None,
            report: Some(build(&input, &view)),
        };
    }

    /// Pins the whole scrape text (OpenMetrics and the Prometheus 0.0.4
    /// conversion), so the encoder's output stays byte for byte the same.
    #[test]
    fn full_scrape_text_is_stable() {
        let om = render(&registry(Arc::new(RwLock::new(full_state())))).unwrap();
        insta::assert_snapshot!("full_scrape_openmetrics", om);
        insta::assert_snapshot!("full_scrape_prometheus", to_prometheus_text(&om));
        let mut quiet = full_state();
        quiet.hooks.retain(|h| h.id != hook::MARK_ACCESSED);
        quiet.bpf_stats_enabled = false;
        let om = render(&registry(Arc::new(RwLock::new(quiet)))).unwrap();
        insta::assert_snapshot!("full_scrape_without_access_and_bpf_stats", om);
    }

    #[test]
    fn mglru_before_6_7_exports_no_shrink_pass_rows_and_says_why() {
        use crate::model::{
            counters::{Counting, NO_MGLRU_TRACEPOINTS},
            snapshot::{RATE_PASS_FIELDS, RATE_REFILL_FIELDS},
        };
        let k = Counting {
            mglru: true,
            mglru_tracepoints: false,
            ..Counting::default()
        };
        let mut st = full_state();
        for n in &mut st.snap.nodes {
            n.rates.not_derived = k.node_not_derived(&RATE_PASS_FIELDS, &RATE_REFILL_FIELDS);
        }
        st.snap.totals.underivable = k.underivable();
        let om = render(&registry(Arc::new(RwLock::new(st)))).unwrap();
        let rows = |prefix: &str| om.lines().filter(|l| l.starts_with(prefix)).count();
        for gone in [
            "vmscan_pages_scanned_total{",
            "vmscan_pages_reclaimed_total{",
            "vmscan_pages_deactivated_total{",
        ] {
            assert_eq!(rows(gone), 0, "{gone}\n{om}");
        }
        let activated: Vec<&str> = om
            .lines()
            .filter(|l| l.starts_with("vmscan_pages_activated_total{"))
            .collect();
        assert!(
            !activated.is_empty() && activated.iter().all(|l| l.contains("source=\"access\"")),
            "{activated:?}"
        );
        let why = om
            .lines()
            .find(|l| l.starts_with("vmscan_vmstat_not_derived{counter=\"pgscan_file\""))
            .unwrap_or_default();
        assert!(
            why.contains(NO_MGLRU_TRACEPOINTS) && why.ends_with(" 1"),
            "{om}"
        );
        // The classic LRU: rows for every node, no underivable family.
        let classic = render(&registry(Arc::new(RwLock::new(full_state())))).unwrap();
        assert!(
            classic.contains("vmscan_pages_scanned_total{")
                && !classic.contains("# TYPE vmscan_vmstat_not_derived"),
            "{classic}"
        );
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
