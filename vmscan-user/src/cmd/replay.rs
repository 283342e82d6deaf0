//! `vmscan replay` and `vmscan report`: a recording fed through the same
//! model as live data.

use std::path::Path;

use schemars::JsonSchema;
use serde::Serialize;

use super::{json::Envelope, snapshot::SnapshotJson, stat::HookCount};
use crate::{
    export::record::Header,
    model::{hist::Log2Hist, kswapd::KswapdState, lruvec::Model, named::Derives as _},
    replay::{Replay, Step},
};

/// Per-node reclaim rate over time (for plots): (seconds since start, pages/s).
pub type Series = Vec<(f64, f64)>;

pub struct Replayed {
    pub header: Header,
    pub model: Model,
    pub records: u64,
    pub clean_end: bool,
    /// Why reading stopped before a clean end, with the offset.
    pub stopped: Option<String>,
    pub reclaim_series: std::collections::BTreeMap<u32, Series>,
}

/// Reads the whole file into a model (as fast as it can).
pub fn replay_file(path: &Path) -> anyhow::Result<Replayed> {
    let mut r = Replay::open(path)?;
    let mut model = r.model();
    let mut out = Replayed {
        header: r.header().clone(),
        model: Model::default(),
        records: 0,
        clean_end: false,
        stopped: None,
        reclaim_series: Default::default(),
    };
    let start = r.header().start_monotonic_ns;
    loop {
        match r.next_tick() {
            Step::Tick(t) => {
                t.apply(&mut model);
                let at = t.sample.ts_ns.saturating_sub(start) as f64 / 1e9;
                for n in model.snapshot().nodes {
                    if !n.rates.derives("reclaimed") {
                        continue;
                    }
                    out.reclaim_series
                        .entry(n.node)
                        .or_default()
                        .push((at, n.rates.reclaimed));
                }
            }
            Step::End { clean, records } => {
                model.apply_records(&records);
                out.clean_end = clean;
                break;
            }
            Step::Stopped { error, records } => {
                model.apply_records(&records);
                out.stopped = Some(format!("{}: {error}", path.display()));
                break;
            }
        }
    }
    out.records = r.records;
    if !out.clean_end && out.stopped.is_none() {
        out.stopped = Some(format!(
            "{}: no end record at offset {}: the recording was not closed cleanly (replayed up to there)",
            path.display(),
            r.offset()
        ));
    }
    out.model = model;
    Ok(out)
}

/// `replay --json` and `report --format json`: the recording's facts and
/// its final snapshot.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ReplayJson {
    pub recording: RecordingInfo,
    /// Records read whole (the end record included).
    pub records: u64,
    /// Why reading stopped before a clean end (null after a clean end).
    pub stopped: Option<String>,
    pub snapshot: SnapshotJson,
}

/// What the recording's header says about where and how it was made.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RecordingInfo {
    pub format_version: u16,
    pub vmscan_version: String,
    pub kernel: String,
    pub numa_nodes: Vec<u32>,
    pub page_size: u64,
    /// Wall-clock start, Unix seconds.
    pub start_unix_secs: f64,
}

impl ReplayJson {
    pub fn new(r: &Replayed) -> Self {
        let h = &r.header;
        let snapshot = r.model.snapshot();
        let hooks = h
            .hooks
            .iter()
            .map(|(id, name, how)| {
                let (events, lost) = crate::model::totals::hook_figures(
                    &snapshot.hook_events,
                    &snapshot.hook_lost,
                    *id,
                );
                let attached = !how.is_empty();
                HookCount {
                    name: name.clone(),
                    mechanism: attached.then(|| how.clone()),
                    error: (!attached).then(|| "unavailable when recorded".to_owned()),
                    events,
                    lost,
                    missed: None,
                    returns: crate::model::totals::hook_returns(
                        &snapshot.hook_events,
                        *id,
                        attached,
                    ),
                }
            })
            .collect();
        Self {
            recording: RecordingInfo {
                format_version: h.format_version,
                vmscan_version: h.vmscan_version.clone(),
                kernel: h.kernel.clone(),
                numa_nodes: h.numa_nodes.clone(),
                page_size: h.page_size,
                start_unix_secs: h.start_unix_secs,
            },
            records: r.records,
            stopped: r.stopped.clone(),
            snapshot: SnapshotJson { snapshot, hooks },
        }
    }

    /// Writes it as `kind` ("replay" or "report") for the recorded host.
    pub fn print(self, kind: &str, host: &str) -> anyhow::Result<()> {
        Envelope::for_host(kind, host.to_owned(), self).print_pretty()
    }
}

/// `replay --json`: the final snapshot. Returns Err after printing it when
/// the file was cut short or corrupt (the data up to there is still shown).
pub fn replay_json(path: &Path) -> anyhow::Result<()> {
    let r = replay_file(path)?;
    ReplayJson::new(&r).print("replay", &r.header.hostname)?;
    match r.stopped {
        Some(s) => Err(anyhow::anyhow!(s)),
        None => Ok(()),
    }
}

fn hist_text(name: &str, h: &Log2Hist) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let s = h.summary();
    let _ = writeln!(
        o,
        "{name}: {} episodes, p50 < {} us, p99 < {} us, max {} us",
        s.count, s.p50, s.p99, s.max
    );
    let max = h.buckets.iter().copied().max().unwrap_or(0);
    for (i, n) in h.buckets.iter().enumerate() {
        if *n == 0 {
            continue;
        }
        let lo = if i == 0 { 0 } else { 1u64 << (i - 1) };
        let hi = (1u64 << i).saturating_sub(1);
        let w = if max == 0 {
            0
        } else {
            (*n as f64 / max as f64 * 40.0).round() as usize
        };
        let _ = writeln!(o, "  {lo:>10} - {hi:<10} us |{:<40}| {n}", "#".repeat(w));
    }
    o
}

/// `vmscan report` as text (pure over a replay).
pub fn report_text(r: &Replayed) -> String {
    use std::fmt::Write as _;
    let s = r.model.snapshot();
    let mut o = String::new();
    let h = &r.header;
    let _ = writeln!(
        o,
        "vmscan report: host {} kernel {} ({} records{})",
        h.hostname,
        h.kernel,
        r.records,
        if r.clean_end {
            ""
        } else {
            ", not closed cleanly"
        }
    );
    let _ = writeln!(o, "\ncounters (pages, named as /proc/vmstat names them):");
    for (k, v) in s.totals.vmstat.fields() {
        let _ = writeln!(o, "  {k:<20}{v:>12}");
    }
    let _ = writeln!(
        o,
        "  {:<20}{:>12}  (memcg limit reclaim)",
        "memcg reclaimed",
        s.totals
            .memcg_reclaimed
            .map_or("-".to_owned(), |v| v.to_string())
    );
    let _ = writeln!(o, "\nper node:");
    for n in &s.nodes {
        let nc = s.totals.nodes.iter().find(|c| c.node == n.node);
        let ks = match n.kswapd.state {
            KswapdState::Awake => "awake at the end",
            KswapdState::Asleep => "asleep at the end",
            KswapdState::Unknown => "no wake/sleep recorded",
        };
        let reclaimed = match nc {
            Some(c) if !c.derives("reclaimed") => format!(
                "reclaimed n/a ({})",
                c.why_not("reclaimed").unwrap_or_default()
            ),
            _ => format!(
                "reclaimed {} pages (kswapd {}, direct {}, memcg {})",
                nc.map_or(0, |c| c.reclaimed.total()),
                nc.map_or(0, |c| c.reclaimed.kswapd),
                nc.map_or(0, |c| c.reclaimed.direct + c.reclaimed.node),
                nc.map_or(0, |c| c.reclaimed.memcg),
            ),
        };
        let c = &n.kswapd.wakeup_contexts;
        let from_irq = if c.interrupts() > 0 {
            format!(
                " ({} in interrupts: softirq {}, hardirq {}, NMI {})",
                c.interrupts(),
                c.softirq,
                c.hardirq,
                c.nmi
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "  node {}: kswapd {} episodes ({ks}), {} wake-ups requested{from_irq}; {reclaimed}",
            n.node, n.kswapd.episodes, n.kswapd.wakeups_requested,
        );
    }
    let _ = writeln!(o, "\nlatency histograms:");
    for (name, hs) in &s.histograms {
        if hs.available && hs.cumulative.count > 0 {
            o.push_str(&hist_text(name, &hs.cumulative));
        }
    }
    if !s.memcgs.is_empty() {
        let _ = writeln!(o, "\nmemcg reclaim:");
        for m in &s.memcgs {
            let _ = writeln!(
                o,
                "  {:<40} {:>6} episodes {:>10} pages p99 < {} us",
                crate::text::fit(&m.path, 40),
                m.reclaim_episodes,
                m.reclaimed,
                m.latency_us.p99
            );
        }
    }
    if !s.access_stacks.is_empty() {
        let _ = writeln!(o, "\ntop folio_mark_accessed stacks:");
        for st in s.access_stacks.iter().take(10) {
            let teardown = st
                .teardown_calls
                .map(|t| format!("{t} in exit_mmap, "))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  {:>8} calls ({teardown}{} exiting) {}",
                st.calls,
                st.exiting_calls,
                if st.frames.is_empty() {
                    format!("stack #{}", st.stack_id)
                } else {
                    st.frames.join(" <- ")
                }
            );
        }
    }
    match (&s.refaults.report, &s.refaults.unavailable) {
        (Some(rep), _) if !rep.memcgs.is_empty() => {
            let _ = writeln!(
                o,
                "\n{}",
                crate::model::refaults::render(rep, 10).trim_end()
            );
        }
        (Some(_), _) => {
            let _ = writeln!(o, "\nrefaults: none recorded");
        }
        (None, Some(why)) => {
            let _ = writeln!(o, "\nrefaults: not seen ({why})");
        }
        (None, None) => {}
    }
    let _ = writeln!(o, "\nfindings:");
    if s.findings.is_empty() {
        let _ = writeln!(o, "  none");
    }
    for f in &s.findings {
        let _ = writeln!(o, "  {}: {}", f.kind, f.text);
    }
    if let Some(st) = &r.stopped {
        let _ = writeln!(o, "\nnote: {st}");
    }
    o
}

fn svg_bars(title: &str, labels: &[String], values: &[f64], unit: &str) -> String {
    let w = 60 + 40 * values.len().max(1);
    let h = 320;
    let max = values.iter().copied().fold(0.0, f64::max).max(1e-9);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"10\">\n<text x=\"10\" y=\"16\" font-size=\"13\">{}</text>\n",
        xml(title)
    );
    for (i, (l, v)) in labels.iter().zip(values).enumerate() {
        let bh = (v / max * 220.0).round();
        let x = 50 + i * 40;
        s += &format!(
            "<rect x=\"{x}\" y=\"{}\" width=\"30\" height=\"{bh}\" fill=\"#4477aa\"/>\n",
            260.0 - bh
        );
        s += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{v}</text>\n",
            x + 15,
            255.0 - bh
        );
        s += &format!(
            "<text x=\"{}\" y=\"275\" text-anchor=\"end\" transform=\"rotate(-45 {} 275)\">{}</text>\n",
            x + 15,
            x + 15,
            xml(l)
        );
    }
    s += &format!("<text x=\"10\" y=\"310\">{}</text>\n</svg>\n", xml(unit));
    s
}

fn svg_line(title: &str, series: &Series) -> String {
    let (w, h) = (640.0, 300.0);
    let tmax = series.iter().map(|p| p.0).fold(0.0, f64::max).max(1e-9);
    let vmax = series.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-9);
    let pts: Vec<String> = series
        .iter()
        .map(|(t, v)| {
            format!(
                "{:.1},{:.1}",
                50.0 + t / tmax * (w - 70.0),
                h - 30.0 - v / vmax * (h - 60.0)
            )
        })
        .collect();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"10\">\n<text x=\"10\" y=\"16\" font-size=\"13\">{}</text>\n<polyline fill=\"none\" stroke=\"#aa3377\" stroke-width=\"1.5\" points=\"{}\"/>\n<text x=\"50\" y=\"{}\">0 s</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{tmax:.0} s</text><text x=\"5\" y=\"35\">{vmax:.0} pages/s</text>\n</svg>\n",
        xml(title),
        pts.join(" "),
        h - 10.0,
        w - 20.0,
        h - 10.0
    )
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Writes the histograms and per-node reclaim plots as SVG files into `dir`.
pub fn write_svgs(r: &Replayed, dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    let s = r.model.snapshot();
    let mut written = vec![];
    for (name, hs) in &s.histograms {
        if !hs.available || hs.cumulative.count == 0 {
            continue;
        }
        let labels: Vec<String> = (0..hs.cumulative.buckets.len())
            .map(|i| format!("<{}us", 1u64 << i))
            .collect();
        let values: Vec<f64> = hs.cumulative.buckets.iter().map(|&n| n as f64).collect();
        let p = dir.join(format!("{name}.svg"));
        std::fs::write(
            &p,
            svg_bars(
                &format!("{name} latency (count per log2 bucket)"),
                &labels,
                &values,
                "microseconds",
            ),
        )?;
        written.push(p);
    }
    for (node, series) in &r.reclaim_series {
        let p = dir.join(format!("node{node}_reclaim.svg"));
        std::fs::write(
            &p,
            svg_line(&format!("node {node}: pages reclaimed per second"), series),
        )?;
        written.push(p);
    }
    Ok(written)
}

/// `report --format csv`: the report's tables as one CSV, one row per figure
/// (`table,name,node,value`; node empty where a figure is not per node):
/// counters, per-node kswapd and reclaim, histogram summaries, memcg reclaim.
pub fn report_csv(r: &Replayed) -> String {
    let s = r.model.snapshot();
    let mut o = String::from("table,name,node,value\n");
    let mut row = |table: &str, name: &str, node: Option<u32>, value: String| {
        let node = node.map(|n| n.to_string()).unwrap_or_default();
        o.push_str(&format!(
            "{},{},{node},{value}\n",
            csv_field(table),
            csv_field(name)
        ));
    };
    for (k, v) in s.totals.vmstat.fields() {
        row("counters", k, None, v.to_string());
    }
    row(
        "counters",
        "memcg_scanned",
        None,
        s.totals
            .memcg_scanned
            .map_or(String::new(), |v| v.to_string()),
    );
    row(
        "counters",
        "memcg_reclaimed",
        None,
        s.totals
            .memcg_reclaimed
            .map_or(String::new(), |v| v.to_string()),
    );
    for n in &s.nodes {
        row(
            "kswapd",
            "episodes",
            Some(n.node),
            n.kswapd.episodes.to_string(),
        );
        row(
            "kswapd",
            "wakeups_requested",
            Some(n.node),
            n.kswapd.wakeups_requested.to_string(),
        );
        for (name, v) in n.kswapd.wakeup_contexts.by_name() {
            row(
                "kswapd",
                &format!("wakeups_requested_{name}"),
                Some(n.node),
                v.to_string(),
            );
        }
    }
    for c in s.totals.nodes.iter().filter(|c| c.derives("reclaimed")) {
        let b = &c.reclaimed;
        let by = [
            ("kswapd", b.kswapd),
            ("direct", b.direct + b.node),
            ("memcg", b.memcg),
            ("khugepaged", b.khugepaged),
            ("proactive", b.proactive),
            ("other", b.other),
        ];
        for (who, v) in by {
            row("reclaimed", who, Some(c.node), v.to_string());
        }
    }
    for (name, h) in s.histograms.iter().filter(|(_, h)| h.available) {
        let m = &h.cumulative_summary;
        for (q, v) in [
            ("count", m.count),
            ("p50", m.p50),
            ("p99", m.p99),
            ("max", m.max),
        ] {
            row(
                "histogram",
                &format!("{name}.{q}_{}", if q == "count" { "n" } else { h.unit }),
                None,
                v.to_string(),
            );
        }
    }
    for m in &s.memcgs {
        row(
            "memcg_reclaimed_pages",
            &m.path,
            None,
            m.reclaimed.to_string(),
        );
        row(
            "memcg_reclaim_episodes",
            &m.path,
            None,
            m.reclaim_episodes.to_string(),
        );
    }
    o
}

/// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_escapes_text() {
        let s = svg_bars("a<b", &["x&y".into()], &[3.0], "us");
        assert!(s.contains("a&lt;b") && s.contains("x&amp;y"));
        let l = svg_line("n", &vec![(0.0, 1.0), (1.0, 2.0)]);
        assert!(l.contains("<polyline"));
    }
}
