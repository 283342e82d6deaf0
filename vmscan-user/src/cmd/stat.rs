//! `vmscan stat`: counts reclaim over a window and prints counters named as
//! /proc/vmstat names them, per node and in total, with per-hook event and
//! loss counts.

use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Serialize;
use vmscan_common::{HookId, hook};

use crate::{
    cmd::json::Envelope,
    model::{
        counters::{self, Counters, Counting},
        episodes::Episodes,
        input::HookStatus,
        selfcheck::{self, Bracket, SelfCheck},
        totals::Totals,
    },
    probe::{
        loader::{self, LoadOptions},
        misses::{self, Misses},
        read::{Events, Reader},
        resolve,
    },
};

#[derive(Clone, Debug)]
pub struct StatOptions {
    /// Stop after this long; None runs until SIGINT / SIGTERM.
    pub duration: Option<Duration>,
    /// Print a line (or a JSON object) every interval as well.
    pub interval: Option<Duration>,
    pub json: bool,
    pub load: LoadOptions,
}

/// One hook's figures over the window.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct HookCount {
    pub name: String,
    pub mechanism: Option<String>,
    pub error: Option<String>,
    /// Times the program ran (tracepoint hits), counted in-kernel per CPU.
    pub events: u64,
    /// Ring-buffer records that could not be reserved.
    pub lost: u64,
    /// Runs the kernel skipped (its BPF recursion guard: the hook fired
    /// while the same program, or for kprobes and classic tracepoints any
    /// such program, was running on that CPU): events vmscan did not count.
    /// Absent where this kernel does not count skips for the hook's
    /// mechanism (kprobes and classic tracepoints before 6.7, anything
    /// before 5.12), and in replays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missed: Option<u64>,
    /// Where the hook has a return program (fexit, kretprobe): its runs.
    /// Below `events` by the calls still inside the function at either end
    /// of the window, and by returns the kernel missed (a kretprobe out of
    /// instances, counted in `missed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub returns: Option<u64>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct StatReport {
    /// With --compare-kprobes: runs of the kprobe programs beside fentry,
    /// by function, for every function hook attached by fentry with one
    /// (each hook's `events` are fentry's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kprobe_shadow: Option<std::collections::BTreeMap<&'static str, u64>>,
    /// With --compare-kprobes: the runs the kernel skipped of those kprobe
    /// programs (absent before 6.7, where it does not count them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kprobe_shadow_missed: Option<std::collections::BTreeMap<&'static str, u64>>,
    pub kernel: String,
    pub window_secs: f64,
    #[serde(flatten)]
    pub counters: Counters,
    pub hooks: Vec<HookCount>,
    pub lost_total: u64,
    pub episodes: Episodes,
    /// Each counter against /proc/vmstat over the same window.
    pub self_check: SelfCheck,
}

pub fn hook_counts(hooks: &[HookStatus], d: &Totals) -> Vec<HookCount> {
    hook_rows(hooks, &d.hits, &d.lost)
}

/// Each hook's figures from per-hook-slot program runs and lost records.
pub fn hook_rows(hooks: &[HookStatus], hits: &[u64], lost: &[u64]) -> Vec<HookCount> {
    let mut out = Vec::new();
    for h in hooks {
        let (events, lost) = crate::model::totals::hook_figures(hits, lost, h.id);
        let returns = crate::model::totals::hook_returns(hits, h.id, h.mechanism.is_some());
        out.push(HookCount {
            name: h.name.clone(),
            mechanism: h.mechanism.clone(),
            error: h.error.clone(),
            events,
            lost,
            missed: None,
            returns,
        });
    }
    out
}

/// Sets each hook's skipped runs over the window, and gives a short
/// counter that cause where a hook it is derived from skipped runs.
pub fn apply_misses(r: &mut StatReport, hooks: &[HookStatus], missed: &[(HookId, Option<u64>)]) {
    for (h, row) in hooks.iter().zip(r.hooks.iter_mut()) {
        row.missed = missed
            .iter()
            .find(|(id, _)| *id == h.id)
            .and_then(|(_, n)| *n);
    }
    let skipped = |id: HookId| missed.iter().any(|&(h, n)| h == id && n.unwrap_or(0) > 0);
    for c in r.self_check.counters.iter_mut() {
        if c.divergence_pages < 0 && selfcheck::fed_by(c.counter).into_iter().any(skipped) {
            c.likely_cause = Some(selfcheck::SKIPPED_RUNS);
        }
    }
}

pub fn report(
    kernel: &str,
    secs: f64,
    hooks: &[HookStatus],
    d: &Totals,
    mut episodes: Episodes,
    counting: &Counting,
) -> StatReport {
    // The hooks with a comparison kprobe beside fentry (--compare-kprobes).
    let compared: Vec<(&str, HookId)> = SHADOWED
        .iter()
        .filter(|&&(_, id)| {
            hooks
                .iter()
                .any(|h| h.id == id && h.notes.iter().any(|n| n == misses::SHADOW_NOTE))
        })
        .filter_map(|&(name, id)| Some((name, hook::shadow_of(id)?)))
        .collect();
    let hooks = hook_counts(hooks, d);
    // stat takes no shrink-pass records from the ring (only `record` keeps
    // them): the passes come from the per-CPU aggregates, which count every
    // one whether or not the ring has room.
    episodes.shrink_passes = d.shrink_inactive.iter().map(|a| a.passes).sum();
    // Nor reclaim episode records: those come from the per-CPU aggregate,
    // which no full ring can leave incomplete.
    episodes.reclaim = crate::model::episodes::reclaim_from(&d.reclaim_episodes);
    let hits = |slot: HookId| d.hits.get(slot.slot() as usize).copied().unwrap_or(0);
    let shadow = (!compared.is_empty()).then(|| {
        compared
            .iter()
            .map(|&(name, slot)| (name, hits(slot)))
            .collect()
    });
    StatReport {
        kprobe_shadow: shadow,
        kprobe_shadow_missed: None,
        kernel: kernel.to_owned(),
        window_secs: secs,
        counters: counters::derive_with(d, counting),
        lost_total: d.lost.iter().sum(),
        hooks,
        episodes,
        self_check: SelfCheck::default(),
    }
}

/// The human-readable table (pure, for tests).
pub fn render(r: &StatReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let c = &r.counters;
    let _ = writeln!(
        out,
        "vmscan stat: {:.1} s on kernel {} (pages)",
        r.window_secs, r.kernel
    );
    let mut header = format!("{:<22}{:>12}", "counter", "total");
    for n in &c.nodes {
        let label = if n.node == vmscan_common::NODE_OVERFLOW {
            "node>=64".to_owned()
        } else {
            format!("node{}", n.node)
        };
        let _ = write!(header, "{label:>12}");
    }
    let _ = writeln!(out, "{header}");
    for (name, total) in c.vmstat.fields() {
        let _ = write!(out, "{name:<22}{total:>12}");
        for n in &c.nodes {
            let v = match name {
                "pgscan_kswapd" => Some(n.scanned.kswapd),
                "pgscan_direct" => Some(
                    n.scanned.direct
                        + n.scanned.node
                        + if c.memcg_in_direct {
                            n.scanned.memcg
                        } else {
                            0
                        },
                ),
                "pgscan_khugepaged" => Some(n.scanned.khugepaged),
                "pgscan_anon" => Some(n.scanned_anon),
                "pgscan_file" => Some(n.scanned_file),
                "pgsteal_kswapd" => Some(n.reclaimed.kswapd),
                "pgsteal_direct" => Some(
                    n.reclaimed.direct
                        + n.reclaimed.node
                        + if c.memcg_in_direct {
                            n.reclaimed.memcg
                        } else {
                            0
                        },
                ),
                "pgsteal_khugepaged" => Some(n.reclaimed.khugepaged),
                "pgsteal_anon" => Some(n.reclaimed_anon),
                "pgsteal_file" => Some(n.reclaimed_file),
                _ => None,
            };
            match v {
                Some(v) => {
                    let _ = write!(out, "{v:>12}");
                }
                None => {
                    let _ = write!(out, "{:>12}", "-");
                }
            }
        }
        let _ = writeln!(out);
    }
    for (reason, names) in underivable_by_reason(c) {
        let _ = writeln!(out, "not derived here: {}\n  ({reason})", names.join(", "));
    }
    let note = if c.memcg_in_direct {
        "memcg limit reclaim; in pgscan_direct on this kernel"
    } else {
        "memcg limit reclaim; not in pgscan_direct"
    };
    let shown = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
    let _ = writeln!(
        out,
        "{:<22}{:>12}   ({note})",
        "memcg scanned",
        shown(c.memcg_scanned)
    );
    let _ = writeln!(
        out,
        "{:<22}{:>12}",
        "memcg reclaimed",
        shown(c.memcg_reclaimed)
    );
    if c.other_scanned + c.other_reclaimed > 0 {
        let _ = writeln!(
            out,
            "{:<22}{:>12}   (passes begun before vmscan attached)",
            "unattributed scanned", c.other_scanned
        );
    }
    if c.reclaim_pages.calls > 0 {
        let rp = &c.reclaim_pages;
        let _ = writeln!(
            out,
            "{:<22}{:>12}   (reclaim_pages(): MADV_PAGEOUT, DAMON; {} reclaimed, {} activated, in pgactivate only)",
            "pageout scanned", rp.scanned, rp.reclaimed, rp.activated
        );
    }
    if c.scanned_without_node > 0 {
        let _ = writeln!(
            out,
            "{:<22}{:>12}   (isolated nothing: no node-carrying tracepoint)",
            "scanned, node unknown", c.scanned_without_node
        );
    }
    for (who, e) in &r.episodes.reclaim {
        let _ = writeln!(
            out,
            "{:<22}{:>12}   ({} pages reclaimed; latency p50 <{}, p99 <{})",
            format!("{who} episodes"),
            e.episodes,
            e.reclaimed,
            crate::text::micros(e.latency_us.quantile_upper(0.5)),
            crate::text::micros(e.latency_us.quantile_upper(0.99)),
        );
    }
    if r.self_check.checked > 0 {
        let _ = write!(out, "\n{}", selfcheck::render(&r.self_check));
    }
    let _ = writeln!(out);
    // The longest hook name (a 6.x softlimit tracepoint's is 48) and a gap.
    let w = r
        .hooks
        .iter()
        .map(|h| h.name.len())
        .max()
        .unwrap_or(0)
        .max(42)
        + 2;
    let _ = writeln!(
        out,
        "{:<w$}{:<18}{:>12}{:>8}{:>8}",
        "hook", "attached", "events", "lost", "missed"
    );
    for h in &r.hooks {
        let how = h.mechanism.clone().unwrap_or_else(|| "no".into());
        // "-": the kernel does not count skipped runs for this mechanism.
        let missed = h.missed.map_or_else(|| "-".into(), |n| n.to_string());
        let _ = writeln!(
            out,
            "{:<w$}{:<18}{:>12}{:>8}{:>8}",
            h.name, how, h.events, h.lost, missed
        );
    }
    let missed: u64 = r.hooks.iter().filter_map(|h| h.missed).sum();
    if missed > 0 {
        let _ = writeln!(
            out,
            "\n{missed} program runs skipped by the kernel (the hook fired while a BPF program was already running on that CPU): the counters those hooks feed may be short by as many events"
        );
    }
    if r.hooks
        .iter()
        .any(|h| h.mechanism.is_some() && h.missed.is_none())
    {
        let _ = writeln!(
            out,
            "missed \"-\": this kernel does not count skipped runs for that mechanism (kprobes and classic tracepoints: 6.7+; others: 5.12+)"
        );
    }
    if r.lost_total > 0 {
        let _ = writeln!(
            out,
            "\n{} ring-buffer records lost: kswapd wake and sleep figures are incomplete (counters and reclaim episodes above are not affected)",
            r.lost_total
        );
    }
    out
}

pub async fn run(opts: StatOptions) -> anyhow::Result<()> {
    loader::check_privileges()?;
    loader::raise_memlock();
    let mut loaded = loader::load(opts.load.clone())?;
    crate::probe::logger::start_ebpf_logger(&mut loaded.ebpf);
    let reader = Reader::new(&mut loaded.ebpf)?;
    let mut events = Events::new(&mut loaded.ebpf, opts.load.drain_delay)?;
    // Before dropping privileges: finding the kprobes' links needs them.
    let misses = Misses::new(&loaded.ebpf, &loaded.hooks, loaded.misses);
    if let Err(e) = crate::probe::privs::drop_all() {
        log::warn!("could not drop capabilities: {e}");
    }
    let w = Window {
        reader: &reader,
        kernel: &loaded.system.kernel,
        hooks: &loaded.hooks,
        counting: loaded.counting,
        misses,
    };
    let start_missed = w.misses.read();
    let start_shadow_missed = w.misses.read_shadow();
    let (start_totals, start_bracket) = w.reader.read_bracketed()?;
    let start = Instant::now();
    let mut episodes = Episodes::default();
    announce(&loaded.hooks, opts.duration);
    count_until_stopped(
        &opts,
        &w,
        &mut events,
        &mut episodes,
        (&start_totals, &start_bracket, &start_missed),
    )
    .await?;

    let (end_totals, end_bracket) = w.reader.read_bracketed()?;
    let end_missed = w.misses.read();
    let end_shadow_missed = w.misses.read_shadow();
    let mut buf = Vec::new();
    events.drain_now(&mut buf);
    apply_all(&mut episodes, &mut buf);
    let mut r = w.report(
        start.elapsed().as_secs_f64(),
        &end_totals.since(&start_totals),
        episodes,
    );
    r.self_check = selfcheck::check(
        &r.counters.vmstat,
        &start_bracket,
        &end_bracket,
        &slack(&w.counting),
    );
    apply_misses(&mut r, w.hooks, &misses::since(&end_missed, &start_missed));
    if r.kprobe_shadow.is_some() {
        r.kprobe_shadow_missed =
            shadow_named(&misses::since(&end_shadow_missed, &start_shadow_missed));
    }
    match (opts.json, opts.interval) {
        (true, Some(_)) => Envelope::new("total", &r).print_line()?,
        (true, None) => Envelope::new("total", &r).print_pretty()?,
        (false, _) => crate::out::print(&render(&r))?,
    }
    // The kprobes' links (in `w.misses`) before the programs: vmscan's
    // tracefs kretprobes can be removed only once their links are gone.
    drop(w);
    drop(loaded);
    Ok(())
}

/// The hooks --compare-kprobes shadows (every function hook: its entry
/// kprobe beside fentry counts its runs in hook::shadow_of's slot), by the
/// name `kprobe_shadow` gives each: the function's, whatever it is called
/// on the running kernel (mark_page_accessed, lru_lazyfree_fn, ...).
const SHADOWED: [(&str, HookId); 16] = [
    ("folio_mark_accessed", hook::MARK_ACCESSED),
    ("folio_add_lru", hook::ADD_LRU),
    ("shrink_node", hook::SHRINK_NODE),
    ("workingset_refault", hook::REFAULT),
    ("try_to_free_mem_cgroup_pages", hook::MEMCG_TARGET),
    ("exit_mmap", hook::TEARDOWN),
    ("lru_lazyfree", hook::LAZYFREE),
    ("lru_deactivate", hook::DEACTIVATE),
    ("lru_deactivate_file", hook::DEACTIVATE_FILE),
    ("evict_folios", hook::EVICT_FOLIOS),
    ("shrink_folio_list", hook::SHRINK_FOLIO_LIST),
    ("shrink_lruvec", hook::LRUVEC),
    ("try_to_shrink_lruvec", hook::LRUVEC_GEN),
    ("folio_isolate_lru", hook::ISOLATE_LRU),
    ("mlock_folio_batch", hook::MLOCK),
    ("isolate_migratepages_block", hook::COMPACT),
];

/// The comparison kprobes' skipped runs by the names `kprobe_shadow` uses,
/// for the hooks that have one; None unless all of those are counted.
fn shadow_named(
    missed: &[(HookId, Option<u64>)],
) -> Option<std::collections::BTreeMap<&'static str, u64>> {
    let named: Option<std::collections::BTreeMap<_, _>> = SHADOWED
        .into_iter()
        .filter_map(|(name, id)| {
            let (_, n) = missed.iter().find(|(i, _)| *i == id)?;
            Some(n.map(|n| (name, n)))
        })
        .collect();
    named.filter(|m| !m.is_empty())
}

/// What a report over a window of the running session needs.
struct Window<'a> {
    reader: &'a Reader,
    kernel: &'a str,
    hooks: &'a [HookStatus],
    counting: Counting,
    misses: Misses,
}

impl Window<'_> {
    fn report(&self, secs: f64, d: &Totals, episodes: Episodes) -> StatReport {
        report(self.kernel, secs, self.hooks, d, episodes, &self.counting)
    }
}

/// Says on stderr which hooks attached, which did not and why, and for how long it counts.
fn announce(hooks: &[HookStatus], duration: Option<Duration>) {
    let attached = hooks.iter().filter(|h| h.attached()).count();
    crate::note!("vmscan: attached {attached} of {} hooks", hooks.len());
    for h in hooks.iter().filter(|h| !h.attached()) {
        let why = h.error.as_deref().unwrap_or("?");
        if let Some(rest) = why.strip_prefix(loader::NOT_ATTACHED_BY_COMMAND) {
            crate::note!(
                "vmscan: skipped: {} ({}, which stat does not show)",
                h.name,
                rest.trim_start_matches(": ")
            );
        } else if let Some(rest) = loader::not_needed_here_reason(h) {
            crate::note!("vmscan: not needed: {} ({rest})", h.name);
        } else {
            crate::note!("vmscan: unavailable: {} ({why})", h.name);
        }
    }
    crate::note!(
        "vmscan: counting{}",
        match duration {
            Some(d) => format!(" for {:.1} s", d.as_secs_f64()),
            None => " until Ctrl-C".into(),
        }
    );
}

/// Feeds drained records to the episodes.
fn apply_all(episodes: &mut Episodes, buf: &mut Vec<vmscan_common::Event>) {
    for e in buf.drain(..) {
        episodes.apply(&e);
    }
}

/// Follows episodes until SIGINT, SIGTERM or the end of the duration,
/// printing the counters of each interval when asked to.
async fn count_until_stopped(
    opts: &StatOptions,
    w: &Window<'_>,
    events: &mut Events,
    episodes: &mut Episodes,
    (start_totals, start_bracket, start_missed): (&Totals, &Bracket, &[(HookId, Option<u64>)]),
) -> anyhow::Result<()> {
    let mut stop = crate::stop::Signals::new()?;
    let deadline = opts.duration.map(|d| tokio::time::Instant::now() + d);
    let period = opts.interval.unwrap_or(Duration::from_secs(3600));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let mut last_totals = start_totals.clone();
    let mut last_bracket = start_bracket.clone();
    let mut last_instant = Instant::now();
    let mut last_missed = start_missed.to_vec();
    let mut buf = Vec::new();
    loop {
        tokio::select! {
            _ = stop.recv() => break,
            _ = async { tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)).await }, if deadline.is_some() => break,
            _ = tick.tick(), if opts.interval.is_some() => {
                events.drain_now(&mut buf);
                apply_all(episodes, &mut buf);
                let (now_totals, now_bracket) = w.reader.read_bracketed()?;
                let now_missed = w.misses.read();
                let secs = last_instant.elapsed().as_secs_f64();
                let mut r = w.report(secs, &now_totals.since(&last_totals), Episodes::default());
                r.self_check = selfcheck::check(&r.counters.vmstat, &last_bracket, &now_bracket, &slack(&w.counting));
                apply_misses(&mut r, w.hooks, &misses::since(&now_missed, &last_missed));
                last_missed = now_missed;
                if opts.json {
                    Envelope::new("interval", &r).print_line()?;
                } else {
                    print_interval(&r)?;
                }
                last_totals = now_totals;
                last_bracket = now_bracket;
                last_instant = Instant::now();
            }
            res = events.drain_ready(&mut buf) => {
                res?;
                apply_all(episodes, &mut buf);
            }
        }
    }
    Ok(())
}

/// The counters vmscan cannot derive here, grouped by the reason.
fn underivable_by_reason(c: &Counters) -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = vec![];
    for (name, why) in &c.underivable {
        match out.iter_mut().find(|(w, _)| w == why) {
            Some((_, names)) => names.push(name),
            None => out.push((why, vec![name])),
        }
    }
    out
}

fn print_interval(r: &StatReport) -> anyhow::Result<()> {
    let v = &r.counters.vmstat;
    if v.scan_steal_underivable {
        return crate::out::line(&format!(
            "scanned/reclaimed not derivable: {}  lost {}",
            counters::NO_MGLRU_TRACEPOINTS,
            r.lost_total
        ));
    }
    let per = |x: u64| x as f64 / r.window_secs.max(1e-9);
    crate::out::line(&format!(
        "{:>8.1}/s scanned (kswapd {:.0}, direct {:.0}, memcg {:.0})  {:>8.1}/s reclaimed (anon {:.0}, file {:.0})  lost {}",
        per(v.pgscan_anon + v.pgscan_file),
        per(v.pgscan_kswapd),
        per(v.pgscan_direct),
        per(r.counters.memcg_scanned.unwrap_or(0)),
        per(v.pgsteal_anon + v.pgsteal_file),
        per(v.pgsteal_anon),
        per(v.pgsteal_file),
        r.lost_total
    ))
}

/// Names of hooks for the tracepoint-event comparison in tests.
pub fn tracepoint_name(id: vmscan_common::HookId) -> String {
    resolve::hook_name(id)
}

/// Each counter's slack for the self-check: /proc/zoneinfo's per-CPU
/// thresholds, read only where a checked counter is a node counter (7.x's
/// pgscan/pgsteal, the workingset ones).
fn slack(counting: &crate::model::counters::Counting) -> impl Fn(&str) -> u64 + use<> {
    let node_slack = (counting.memcg_in_global || counting.refaults).then(|| {
        let text = std::fs::read_to_string(crate::probe::paths::host("/proc/zoneinfo"))
            .unwrap_or_default();
        crate::model::input::global_stat_slack(&crate::probe::system::parse_zoneinfo(&text))
    });
    selfcheck::slack_for(counting, node_slack.flatten())
}

#[cfg(test)]
mod tests {
    use vmscan_common::{EpisodeAgg, log2_bucket, reclaimer};

    use super::*;

    #[test]
    fn skipped_runs_show_per_hook_and_name_the_cause_of_a_short_counter() {
        let st = |id: HookId, name: &str, m: Option<&str>| HookStatus {
            id,
            name: name.into(),
            mechanism: m.map(Into::into),
            error: m.is_none().then(|| "unavailable".into()),
            notes: vec![],
        };
        let hooks = [
            st(
                hook::LRU_INSERTION,
                "pagemap:mm_lru_insertion",
                Some("tp_btf"),
            ),
            st(hook::MARK_ACCESSED, "folio_mark_accessed", Some("kprobe")),
            st(hook::ADD_LRU, "folio_add_lru", None),
        ];
        let mut r = report(
            "6.1.0",
            1.0,
            &hooks,
            &Totals::default(),
            Episodes::default(),
            &Counting::default(),
        );
        let check = |divergence_pages| selfcheck::CounterCheck {
            counter: "pgactivate",
            vmscan: 10,
            kernel_min: 12,
            kernel_max: 12,
            slack_pages: 0,
            divergence_pages,
            within_slack: false,
            likely_cause: Some("before"),
        };
        r.self_check.counters = vec![check(-2)];
        // None of the counted hooks skipped a run: causes stay as they were.
        let quiet = [(hook::LRU_INSERTION, Some(0)), (hook::MARK_ACCESSED, None)];
        apply_misses(&mut r, &hooks, &quiet);
        assert_eq!(r.self_check.counters[0].likely_cause, Some("before"));
        assert_eq!(
            r.hooks.iter().map(|h| h.missed).collect::<Vec<_>>(),
            [Some(0), None, None]
        );
        let text = render(&r);
        assert!(!text.contains("program runs skipped"), "{text}");
        assert!(text.contains("missed \"-\""), "{text}");

        // Skips on a hook pgactivate is not derived from: not its cause.
        let busy = [(hook::LRU_INSERTION, Some(3)), (hook::MARK_ACCESSED, None)];
        apply_misses(&mut r, &hooks, &busy);
        assert_eq!(r.self_check.counters[0].likely_cause, Some("before"));
        // Skips on one it is derived from are.
        let feeding = [
            (hook::LRU_INSERTION, Some(3)),
            (hook::MARK_ACCESSED, None),
            (hook::SHRINK_INACTIVE, Some(1)),
        ];
        apply_misses(&mut r, &hooks, &feeding);
        assert_eq!(
            r.self_check.counters[0].likely_cause,
            Some(selfcheck::SKIPPED_RUNS)
        );
        let text = render(&r);
        assert!(
            text.contains("3 program runs skipped by the kernel"),
            "{text}"
        );
        let row = text
            .lines()
            .find(|l| l.starts_with("pagemap:mm_lru_insertion"))
            .unwrap();
        assert!(row.trim_end().ends_with(" 3"), "{row}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["hooks"][0]["missed"], 3);
        assert!(
            json["hooks"][1].get("missed").is_none(),
            "unknown, not zero"
        );
    }

    #[test]
    fn kprobe_shadow_covers_every_hook_with_a_comparison_kprobe_and_only_those() {
        let st = |id: HookId, name: &str, shadowed: bool| HookStatus {
            id,
            name: name.into(),
            mechanism: Some("fentry".into()),
            error: None,
            notes: if shadowed {
                vec![misses::SHADOW_NOTE.into()]
            } else {
                vec![]
            },
        };
        // 5.10's names; exit_mmap's comparison kprobe failed to attach.
        let hooks = [
            st(hook::MARK_ACCESSED, "mark_page_accessed", true),
            st(hook::LAZYFREE, "lru_lazyfree_fn", true),
            st(hook::TEARDOWN, "exit_mmap", false),
            st(hook::MEMCG_TARGET, "try_to_free_mem_cgroup_pages", true),
        ];
        let mut d = Totals::default();
        d.hits[hook::SHADOW_MARK_ACCESSED.slot() as usize] = 70;
        d.hits[hook::SHADOW_LAZYFREE.slot() as usize] = 16;
        d.hits[hook::SHADOW_TEARDOWN.slot() as usize] = 99;
        let r = report(
            "5.10.0",
            1.0,
            &hooks,
            &d,
            Episodes::default(),
            &Counting::default(),
        );
        let shadow: Vec<(&str, u64)> = r.kprobe_shadow.unwrap().into_iter().collect();
        assert_eq!(
            shadow,
            [
                ("folio_mark_accessed", 70),
                ("lru_lazyfree", 16),
                ("try_to_free_mem_cgroup_pages", 0),
            ],
            "stable names; exit_mmap has no comparison kprobe, so no figure"
        );
        // Without comparison kprobes there is no shadow at all.
        let plain = [st(hook::MARK_ACCESSED, "folio_mark_accessed", false)];
        let r = report(
            "6.1.0",
            1.0,
            &plain,
            &d,
            Episodes::default(),
            &Counting::default(),
        );
        assert!(r.kprobe_shadow.is_none());
        // Every hook with a shadow slot is named, once.
        let every: Vec<HookId> = (0..hook::SLOTS)
            .map(HookId)
            .filter(|&id| hook::shadow_of(id).is_some())
            .collect();
        let mut named: Vec<HookId> = SHADOWED.iter().map(|&(_, id)| id).collect();
        named.sort_by_key(|id| id.0);
        assert_eq!(named, every);
        // Skipped runs: for the compared hooks; unknown if one is not counted.
        let missed = [
            (hook::MARK_ACCESSED, Some(2)),
            (hook::MEMCG_TARGET, Some(0)),
        ];
        let named = shadow_named(&missed).unwrap();
        assert_eq!(named.len(), 2);
        assert_eq!(named["folio_mark_accessed"], 2);
        assert!(shadow_named(&[(hook::LAZYFREE, None), (hook::ADD_LRU, Some(1))]).is_none());
        assert!(shadow_named(&[]).is_none());
    }

    #[test]
    fn reclaim_episodes_come_from_the_kernel_aggregate() {
        let mut d = Totals::default();
        let a = &mut d.reclaim_episodes[reclaimer::MEMCG as usize];
        *a = EpisodeAgg {
            episodes: 4,
            reclaimed: 128,
            latency_sum_us: 4 * 700,
            ..EpisodeAgg::default()
        };
        a.latency_us[log2_bucket(700) as usize] = 4;
        // A record of another reclaimer: not how stat counts episodes.
        let mut ring = Episodes::default();
        ring.apply(&vmscan_common::Event {
            kind: vmscan_common::event::RECLAIM_END,
            reclaimer: reclaimer::DIRECT,
            ..Default::default()
        });
        let r = report("6.18.0", 1.0, &[], &d, ring, &Counting::default());
        assert_eq!(r.episodes.reclaim.keys().collect::<Vec<_>>(), ["memcg"]);
        let text = render(&r);
        let line = text
            .lines()
            .find(|l| l.starts_with("memcg episodes"))
            .unwrap_or_default();
        assert!(
            line.contains(" 4 ")
                && line.contains("128 pages reclaimed")
                && line.contains("p99 <1.0ms"),
            "{text}"
        );
    }
}
