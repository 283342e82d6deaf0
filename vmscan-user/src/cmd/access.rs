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
    pub teardown_only: bool,
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
    /// Calls by tasks with PF_EXITING.
    pub exiting: u64,
    /// Calls by tasks without PF_EXITING.
    pub live: u64,
    /// Calls from inside exit_mmap (the page-table teardown of an address
    /// space, whoever runs it: an exiting task, execve dropping the old mm,
    /// a last mmput elsewhere); null where exit_mmap is not hooked.
    pub teardown: Option<u64>,
    pub file: u64,
    pub anon: u64,
    /// By outcome: referenced, activated, activate_off_lru, no_effect,
    /// unevictable (classic); referenced, workingset, tier_up, no_effect
    /// (MGLRU; repeat where the call's return could not be hooked).
    pub outcomes: BTreeMap<&'static str, u64>,
    pub nodes: BTreeMap<u32, u64>,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct AccessReport {
    /// "mglru" (outcomes are reference tiers: referenced, workingset,
    /// tier_up) or "classic" (referenced, activated, no_effect).
    pub lru: &'static str,
    pub window_secs: f64,
    /// exit_mmap is hooked: calls carry the teardown tag.
    pub teardown_hooked: bool,
    pub total_calls: u64,
    pub stacks: Vec<StackRow>,
    /// Reclaim's verdicts over the same window (shrink_folio_list via
    /// mm_vmscan_lru_shrink_inactive): folios it activated and kept.
    pub reclaim_nr_activate: u64,
    pub reclaim_nr_ref_keep: u64,
}

/// Which calls a report keeps.
#[derive(Clone, Copy, Debug, Default)]
pub struct Only {
    /// Calls by tasks with PF_EXITING.
    pub exiting: bool,
    /// Calls from inside exit_mmap.
    pub teardown: bool,
}

/// Builds the report from the model's aggregates (pure).
pub fn build(
    access: &BTreeMap<vmscan_common::AccessKey, vmscan_common::AccessAgg>,
    frames: &dyn Fn(i32) -> Vec<String>,
    only: Only,
) -> Vec<StackRow> {
    use crate::model::lruvec::teardown;
    let mut by: BTreeMap<i32, StackRow> = BTreeMap::new();
    for (k, v) in access {
        if (only.exiting && k.exiting == 0) || (only.teardown && teardown(k.teardown) != Some(true))
        {
            continue;
        }
        let r = by.entry(k.stack_id).or_insert_with(|| StackRow {
            stack_id: k.stack_id,
            ..Default::default()
        });
        r.calls += v.calls;
        r.pages += v.pages;
        if k.exiting != 0 {
            r.exiting += v.calls
        } else {
            r.live += v.calls
        }
        if let Some(inside) = teardown(k.teardown) {
            *r.teardown.get_or_insert(0) += if inside { v.calls } else { 0 };
        }
        if k.file != 0 {
            r.file += v.calls
        } else {
            r.anon += v.calls
        }
        *r.outcomes
            .entry(
                outcome::NAMES
                    .get(k.outcome as usize)
                    .copied()
                    .unwrap_or("?"),
            )
            .or_default() += v.calls;
        *r.nodes.entry(k.node).or_default() += v.calls;
    }
    let total: u64 = by.values().map(|r| r.calls).sum();
    let mut rows: Vec<StackRow> = by
        .into_values()
        .map(|mut r| {
            r.frames = frames(r.stack_id);
            r.percent = if total == 0 {
                0.0
            } else {
                100.0 * r.calls as f64 / total as f64
            };
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
    let _ = writeln!(
        o,
        "folio_mark_accessed over {:.1} s: {} calls",
        rep.window_secs, rep.total_calls
    );
    if rep.lru == "mglru" {
        let _ = writeln!(
            o,
            "MGLRU is on: a mark raises the folio's reference tier (referenced, workingset, tier_up: what the call changed; no_effect once saturated; repeat where the call's return is not hooked and only the entry flags are known); it never activates"
        );
    }
    if !rep.teardown_hooked {
        let _ = writeln!(
            o,
            "exit_mmap is not hooked: calls are split by the calling task's PF_EXITING only, not by page-table teardown"
        );
    }
    for r in rep.stacks.iter().take(top) {
        let oc: Vec<String> = r.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let teardown = r
            .teardown
            .map(|t| format!("{t} in exit_mmap teardown; "))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "\n{:5.1}% {} calls ({teardown}{} exiting, {} live; {} file, {} anon; {})",
            r.percent,
            r.calls,
            r.exiting,
            r.live,
            r.file,
            r.anon,
            oc.join(", ")
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
    if let Some(h) = s
        .loaded
        .hooks
        .iter()
        .find(|h| h.id == hook::MARK_ACCESSED && !h.attached())
    {
        anyhow::bail!(
            "folio_mark_accessed is not attached on this kernel: {} (vmscan access needs fentry or kprobes)",
            h.error.as_deref().unwrap_or("unknown reason")
        );
    }
    let teardown_hooked = crate::model::input::hook_attached(&s.loaded.hooks, hook::TEARDOWN);
    if o.teardown_only && !teardown_hooked {
        let why = s
            .loaded
            .hooks
            .iter()
            .find(|h| h.id == hook::TEARDOWN)
            .and_then(|h| h.error.clone());
        anyhow::bail!(
            "--teardown-only needs exit_mmap hooked (fentry or kprobes): {}",
            why.as_deref().unwrap_or("not attached")
        );
    }
    s.drop_privileges();
    crate::note!("vmscan: counting for {:.1} s", o.duration.as_secs_f64());
    let start = std::time::Instant::now();
    s.run_for(o.duration).await?;
    let snap = s.model.snapshot();
    let names: BTreeMap<i32, Vec<String>> = snap
        .access_stacks
        .iter()
        .map(|a| (a.stack_id, a.frames.clone()))
        .collect();
    let only = Only {
        exiting: o.exiting_only,
        teardown: o.teardown_only,
    };
    let stacks = build(
        &s.model.totals().access,
        &|id| names.get(&id).cloned().unwrap_or_default(),
        only,
    );
    let rep = AccessReport {
        lru: if crate::probe::system::mglru_enabled() == Some(true) {
            "mglru"
        } else {
            "classic"
        },
        window_secs: start.elapsed().as_secs_f64(),
        teardown_hooked,
        total_calls: stacks.iter().map(|r| r.calls).sum(),
        reclaim_nr_activate: snap
            .totals
            .nodes
            .iter()
            .map(|n| n.activate_anon + n.activate_file)
            .sum(),
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
        use vmscan_common::teardown::{INSIDE, OUTSIDE, UNKNOWN};
        let mut m = BTreeMap::new();
        let k = |stack_id, outcome, file, exiting, teardown| AccessKey {
            stack_id,
            node: 0,
            outcome,
            file,
            exiting,
            teardown,
        };
        m.insert(
            k(1, outcome::ACTIVATED, 1, 1, INSIDE),
            AccessAgg {
                calls: 90,
                pages: 90,
            },
        );
        m.insert(
            k(1, outcome::REFERENCED, 1, 1, INSIDE),
            AccessAgg {
                calls: 10,
                pages: 10,
            },
        );
        m.insert(
            k(1, outcome::ACTIVATE_OFF_LRU, 1, 1, INSIDE),
            AccessAgg { calls: 5, pages: 5 },
        );
        m.insert(
            k(2, outcome::REFERENCED, 0, 0, OUTSIDE),
            AccessAgg {
                calls: 300,
                pages: 300,
            },
        );
        // execve dropping the old mm: teardown by a live task.
        m.insert(
            k(3, outcome::REFERENCED, 1, 0, INSIDE),
            AccessAgg {
                calls: 40,
                pages: 40,
            },
        );
        // An exiting task marking a page outside teardown.
        m.insert(
            k(4, outcome::REFERENCED, 1, 1, OUTSIDE),
            AccessAgg { calls: 7, pages: 7 },
        );
        let frames = |id: i32| {
            if id == 1 {
                vec![
                    "folio_mark_accessed".into(),
                    "unmap_page_range".into(),
                    "exit_mmap".into(),
                ]
            } else {
                vec![]
            }
        };
        let all = build(&m, &frames, Only::default());
        assert_eq!(
            all.iter().map(|r| r.stack_id).collect::<Vec<_>>(),
            [2, 1, 3, 4]
        );
        assert_eq!(all[1].calls, 105);
        assert_eq!(all[1].outcomes["activated"], 90);
        assert_eq!(
            all[1].outcomes["activate_off_lru"], 5,
            "kept apart from activations pgactivate will count"
        );
        assert_eq!(
            (all[1].teardown, all[0].teardown, all[2].teardown),
            (Some(105), Some(0), Some(40))
        );
        assert!((all[0].percent - 100.0 * 300.0 / 452.0).abs() < 1e-9);
        let exiting = build(
            &m,
            &frames,
            Only {
                exiting: true,
                teardown: false,
            },
        );
        assert_eq!(
            exiting
                .iter()
                .map(|r| (r.stack_id, r.exiting))
                .collect::<Vec<_>>(),
            [(1, 105), (4, 7)]
        );
        let teardown = build(
            &m,
            &frames,
            Only {
                exiting: false,
                teardown: true,
            },
        );
        assert_eq!(
            teardown
                .iter()
                .map(|r| (r.stack_id, r.calls, r.live))
                .collect::<Vec<_>>(),
            [(1, 105, 0), (3, 40, 40)]
        );
        assert_eq!(
            folded(&teardown[..1]),
            "exit_mmap;unmap_page_range;folio_mark_accessed 105\n"
        );
        assert_eq!(folded(&all[..1]), "[unknown stack] 300\n");
        // A recording without the tag (or exit_mmap not hooked): unknown, not 0.
        let old = BTreeMap::from([(
            k(1, outcome::REFERENCED, 1, 1, UNKNOWN),
            AccessAgg { calls: 3, pages: 3 },
        )]);
        assert_eq!(build(&old, &frames, Only::default())[0].teardown, None);
        assert!(
            build(
                &old,
                &frames,
                Only {
                    exiting: false,
                    teardown: true
                }
            )
            .is_empty()
        );
    }
}
