//! `vmscan access`: which kernel paths mark pages accessed
//! (folio_mark_accessed), for which tasks, with what effect on the LRU;
//! next to reclaim's own verdicts (folio_check_references: nr_activate,
//! nr_ref_keep) over the same window.

use std::{collections::BTreeMap, time::Duration};

use schemars::JsonSchema;
use serde::Serialize;
use vmscan_common::{hook, outcome};

use crate::{live::Session, probe::loader::LoadOptions};

pub struct AccessOptions {
    pub duration: Duration,
    pub exiting_only: bool,
    pub top: usize,
    pub folded: bool,
    pub json: bool,
    pub load: LoadOptions,
}

/// One kernel stack's calls, split every way the kernel side keys them.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct StackRow {
    pub stack_id: i32,
    /// Innermost first, as the kernel records them.
    pub frames: Vec<String>,
    pub calls: u64,
    pub pages: u64,
    pub percent: f64,
    pub exiting: u64,
    pub live: u64,
    pub file: u64,
    pub anon: u64,
    /// By outcome: referenced, activated, activate_off_lru, no_effect,
    /// unevictable (classic); referenced, workingset, tier_up (MGLRU).
    pub outcomes: BTreeMap<&'static str, u64>,
    pub nodes: BTreeMap<u32, u64>,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct AccessReport {
    /// "mglru" (outcomes are reference tiers: referenced, workingset,
    /// tier_up) or "classic" (referenced, activated, no_effect).
    pub lru: &'static str,
    pub window_secs: f64,
    pub total_calls: u64,
    pub stacks: Vec<StackRow>,
    /// Reclaim's verdicts over the same window (shrink_folio_list via
    /// mm_vmscan_lru_shrink_inactive): folios it activated and kept.
    pub reclaim_nr_activate: u64,
    pub reclaim_nr_ref_keep: u64,
}

/// Builds the report from the model's aggregates (pure).
pub fn build(
    access: &BTreeMap<vmscan_common::AccessKey, vmscan_common::AccessAgg>,
    frames: &dyn Fn(i32) -> Vec<String>,
    exiting_only: bool,
) -> Vec<StackRow> {
    let mut by: BTreeMap<i32, StackRow> = BTreeMap::new();
    for (k, v) in access {
        if exiting_only && k.exiting == 0 {
            continue;
        }
        let r = by.entry(k.stack_id).or_insert_with(|| StackRow { stack_id: k.stack_id, ..Default::default() });
        r.calls += v.calls;
        r.pages += v.pages;
        if k.exiting != 0 { r.exiting += v.calls } else { r.live += v.calls }
        if k.file != 0 { r.file += v.calls } else { r.anon += v.calls }
        *r.outcomes.entry(outcome::NAMES.get(k.outcome as usize).copied().unwrap_or("?")).or_default() += v.calls;
        *r.nodes.entry(k.node).or_default() += v.calls;
    }
    let total: u64 = by.values().map(|r| r.calls).sum();
    let mut rows: Vec<StackRow> = by
        .into_values()
        .map(|mut r| {
            r.frames = frames(r.stack_id);
            r.percent = if total == 0 { 0.0 } else { 100.0 * r.calls as f64 / total as f64 };
            r
        })
        .collect();
    rows.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.stack_id.cmp(&b.stack_id)));
    rows
}

/// Folded stacks (root first, ';'-separated, then the count) for flame
/// graph tools.
pub fn folded(rows: &[StackRow]) -> String {
    let mut out = String::new();
    for r in rows {
        let mut f: Vec<&str> = r.frames.iter().map(String::as_str).rev().collect();
        if f.is_empty() {
            f.push("[unknown stack]");
        }
        out.push_str(&f.join(";"));
        out.push_str(&format!(" {}\n", r.calls));
    }
    out
}

pub fn render(rep: &AccessReport, top: usize) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(o, "folio_mark_accessed over {:.1} s: {} calls", rep.window_secs, rep.total_calls);
    if rep.lru == "mglru" {
        let _ = writeln!(
            o,
            "MGLRU is on: a mark raises the folio's reference tier (referenced, then workingset, then tier_up); it never activates"
        );
    }
    for r in rep.stacks.iter().take(top) {
        let oc: Vec<String> = r.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(
            o,
            "\n{:5.1}% {} calls ({} exiting, {} live; {} file, {} anon; {})",
            r.percent, r.calls, r.exiting, r.live, r.file, r.anon, oc.join(", ")
        );
        for f in &r.frames {
            let _ = writeln!(o, "        {}", crate::text::fit(f, 100));
        }
    }
    let _ = writeln!(
        o,
        "\nreclaim's verdicts in the same window (folio_check_references): {} folios activated, {} kept by reference",
        rep.reclaim_nr_activate, rep.reclaim_nr_ref_keep
    );
    o
}

pub async fn run(o: AccessOptions) -> anyhow::Result<()> {
    let mut s = Session::start(o.load)?;
    if let Some(h) = s.loaded.hooks.iter().find(|h| h.id == hook::MARK_ACCESSED && !h.attached()) {
        anyhow::bail!(
            "folio_mark_accessed is not attached on this kernel: {} (vmscan access needs fentry or kprobes)",
            h.error.as_deref().unwrap_or("unknown reason")
        );
    }
    s.drop_privileges();
    crate::note!("vmscan: counting for {:.1} s", o.duration.as_secs_f64());
    let start = std::time::Instant::now();
    s.run_for(o.duration).await?;
    let snap = s.model.snapshot();
    let names: BTreeMap<i32, Vec<String>> = snap.access_stacks.iter().map(|a| (a.stack_id, a.frames.clone())).collect();
    let stacks = build(&s.model.totals().access, &|id| names.get(&id).cloned().unwrap_or_default(), o.exiting_only);
    let rep = AccessReport {
        lru: if crate::probe::system::mglru_enabled() == Some(true) { "mglru" } else { "classic" },
        window_secs: start.elapsed().as_secs_f64(),
        total_calls: stacks.iter().map(|r| r.calls).sum(),
        reclaim_nr_activate: snap.totals.nodes.iter().map(|n| n.activate_anon + n.activate_file).sum(),
        reclaim_nr_ref_keep: snap.totals.nodes.iter().map(|n| n.ref_keep).sum(),
        stacks,
    };
    if o.json {
        super::json::Envelope::new("access", rep).print_pretty()
    } else if o.folded {
        crate::out::print(&folded(&rep.stacks))
    } else {
        crate::out::print(&render(&rep, o.top))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmscan_common::{AccessAgg, AccessKey};

    #[test]
    fn rows_split_and_fold() {
        let mut m = BTreeMap::new();
        let k = |stack_id, outcome, file, exiting| AccessKey { stack_id, node: 0, outcome, file, exiting, _pad: 0 };
        m.insert(k(1, outcome::ACTIVATED, 1, 1), AccessAgg { calls: 90, pages: 90 });
        m.insert(k(1, outcome::REFERENCED, 1, 1), AccessAgg { calls: 10, pages: 10 });
        m.insert(k(1, outcome::ACTIVATE_OFF_LRU, 1, 1), AccessAgg { calls: 5, pages: 5 });
        m.insert(k(2, outcome::REFERENCED, 0, 0), AccessAgg { calls: 300, pages: 300 });
        let frames = |id: i32| if id == 1 { vec!["folio_mark_accessed".into(), "unmap_page_range".into(), "exit_mmap".into()] } else { vec![] };
        let all = build(&m, &frames, false);
        assert_eq!(all[0].stack_id, 2);
        assert_eq!(all[1].calls, 105);
        assert_eq!(all[1].outcomes["activated"], 90);
        assert_eq!(all[1].outcomes["activate_off_lru"], 5, "kept apart from activations pgactivate will count");
        assert!((all[0].percent - 100.0 * 300.0 / 405.0).abs() < 1e-9);
        let exiting = build(&m, &frames, true);
        assert_eq!(exiting.len(), 1);
        assert_eq!(exiting[0].exiting, 105);
        assert_eq!(folded(&exiting), "exit_mmap;unmap_page_range;folio_mark_accessed 105\n");
        assert_eq!(folded(&all[..1]), "[unknown stack] 300\n");
    }
}
