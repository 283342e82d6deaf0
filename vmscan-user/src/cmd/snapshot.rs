//! `vmscan snapshot`: run for a short window and print the model's snapshot.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;

use crate::{
    cmd::{json::Envelope, stat::HookCount},
    live::Session,
    model::{kswapd::KswapdState, named::Derives as _, snapshot::Snapshot},
    probe::loader::LoadOptions,
};

/// `snapshot --json` and `replay --json`: the model's snapshot with each
/// hook's figures by name.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SnapshotJson {
    #[serde(flatten)]
    pub snapshot: Snapshot,
    /// Every hook: how it attached (or why not), program runs and lost
    /// records since start.
    pub hooks: Vec<HookCount>,
}

pub async fn run(duration: Duration, json: bool, load: LoadOptions) -> anyhow::Result<()> {
    let mut s = Session::start(load)?;
    s.drop_privileges();
    crate::note!("vmscan: counting for {:.1} s", duration.as_secs_f64());
    s.run_for(duration).await?;
    let snap = s.model.snapshot();
    if json {
        let hooks = super::stat::hook_rows(&s.loaded.hooks, &snap.hook_events, &snap.hook_lost);
        Envelope::new(
            "snapshot",
            SnapshotJson {
                snapshot: snap,
                hooks,
            },
        )
        .print_pretty()
    } else {
        crate::out::print(&render(&snap))
    }
}

/// Plain-text rendering (pure).
pub fn render(s: &Snapshot) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let scheme = match s.mglru {
        Some(true) => "MGLRU (generations)",
        _ => "classic active/inactive LRU",
    };
    let _ = writeln!(
        o,
        "lruvecs: {} node(s) x {} memory cgroup(s); {scheme}",
        s.nodes.len(),
        {
            let mut m: Vec<&str> = s.lruvecs.iter().map(|l| l.memcg.as_str()).collect();
            m.sort();
            m.dedup();
            m.len()
        }
    );
    for n in &s.nodes {
        let ks = match n.kswapd.state {
            KswapdState::Awake => format!("awake {:.1} s", n.kswapd_awake_secs),
            KswapdState::Asleep => "asleep".into(),
            KswapdState::Unknown => "no wake/sleep seen".into(),
        };
        let _ = writeln!(
            o,
            "\nnode {}: free {} pages (min {} low {} high {}), kswapd {ks}, {} episodes",
            n.node, n.free, n.min, n.low, n.high, n.kswapd.episodes
        );
        for l in &n.lists {
            let pages = l.pages.map(|p| p.to_string()).unwrap_or_else(|| "?".into());
            let _ = writeln!(
                o,
                "  {:<14}{:>12} pages   drift {:>8}",
                l.name,
                pages,
                l.drift_text()
            );
        }
        if !n.type_drift.is_empty() {
            let by: Vec<String> = n
                .type_drift
                .iter()
                .map(|t| format!("{} {}", t.name, t.drift_text()))
                .collect();
            let _ = writeln!(
                o,
                "  drift by type (MGLRU ages pages between the lists unseen): {}",
                by.join(", ")
            );
        }
        let r = &n.rates;
        if let Some(why) = r.why_not("scanned") {
            let _ = writeln!(
                o,
                "  last {:.1} s: activated {:.0}/s by access; scanned, reclaimed and activated by reclaim not derivable ({why})",
                s.interval_secs, r.activated_by_access
            );
            continue;
        }
        let _ = writeln!(
            o,
            "  last {:.1} s: scanned {:.0}/s reclaimed {:.0}/s (kswapd {:.0}, direct {:.0}, memcg {:.0}), activated {:.0}/s by access, {:.0}/s by reclaim",
            s.interval_secs,
            r.scanned,
            r.reclaimed,
            r.reclaimed_kswapd,
            r.reclaimed_direct,
            r.reclaimed_memcg,
            r.activated_by_access,
            r.activated_by_reclaim
        );
    }
    let gens: Vec<_> = s
        .lruvecs
        .iter()
        .filter_map(|l| l.generations.as_ref().map(|g| (l, g)))
        .collect();
    if !gens.is_empty() {
        let read = match s.lru_gen_read_secs_ago {
            Some(ago) if ago >= 0.5 => format!(", read {ago:.0} s before this snapshot"),
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "\nMGLRU generations (oldest first: gen age_ms anon file{read}):"
        );
        for (l, g) in gens {
            let list: Vec<String> = g
                .iter()
                .map(|x| format!("{} {}ms {} {}", x.generation, x.age_ms, x.anon, x.file))
                .collect();
            let _ = writeln!(
                o,
                "  node {} {:<30} {}",
                l.node,
                crate::text::fit(&l.memcg, 30),
                list.join(" | ")
            );
        }
    }
    let moved: Vec<_> = s.lruvecs.iter().filter(|l| !l.moved.is_empty()).collect();
    if !moved.is_empty() {
        let _ = writeln!(
            o,
            "\nmoved outside reclaim (pages since start; MADV_COLD and invalidation: deactivated anon, file; MADV_FREE: lazyfree from inactive, active anon; folio_activate: activated anon, file):"
        );
        let n = |p: Option<u64>| p.map_or_else(|| "n/a".to_owned(), |p| p.to_string());
        for l in moved {
            let [da, df, li, la, aa, af] = l.moved.by_kind().map(n);
            let _ = writeln!(
                o,
                "  node {} {:<30} deactivated {da} {df}  lazyfree {li} {la}  activated {aa} {af}",
                l.node,
                crate::text::fit(&l.memcg, 30),
            );
        }
    }
    let reclaimed: Vec<_> = s
        .lruvecs
        .iter()
        .filter_map(|l| {
            l.reclaim
                .filter(|r| r.scanned() + r.reclaimed() > 0)
                .map(|r| (l, r))
        })
        .collect();
    if !reclaimed.is_empty() {
        let _ = writeln!(
            o,
            "\nreclaim per lruvec (pages since start, as memory.stat's pgscan, pgsteal, pgrefill and reclaim's pgdeactivate and pgactivate count them; anon, file each):"
        );
        let n = |p: Option<u64>| p.map_or_else(|| "n/a".to_owned(), |p| p.to_string());
        for (l, r) in reclaimed {
            let _ = writeln!(
                o,
                "  node {} {:<30} scanned {} {}  reclaimed {} {}  refilled {} {}  deactivated {} {}  activated {} {}",
                l.node,
                crate::text::fit(&l.memcg, 30),
                r.scanned_anon,
                r.scanned_file,
                r.reclaimed_anon,
                r.reclaimed_file,
                n(r.refilled_anon),
                n(r.refilled_file),
                n(r.deactivated_anon),
                n(r.deactivated_file),
                n(r.activated_anon),
                n(r.activated_file),
            );
        }
    }
    if !s.memcgs.is_empty() {
        let _ = writeln!(o, "\nmemcg reclaim:");
        for m in &s.memcgs {
            let _ = writeln!(
                o,
                "  {:<40} {:>6} episodes {:>10} pages  p50 {} us  p99 {} us  max {} us",
                m.path,
                m.reclaim_episodes,
                m.reclaimed,
                m.latency_us.p50,
                m.latency_us.p99,
                m.latency_us.max
            );
        }
    }
    for f in &s.findings {
        let _ = writeln!(o, "\nFINDING {}: {}", f.kind, f.text);
    }
    let c = &s.self_check;
    if c.checked > 0 || !c.memcgs.is_empty() {
        o.push('\n');
    }
    if c.checked > 0 {
        o += &crate::model::selfcheck::render(c);
    }
    for m in &c.memcgs {
        let _ = writeln!(
            o,
            "self-check of memcg {}: {} of {} counters equal its memory.stat since it joined the check",
            m.memcg, m.exact, m.checked
        );
        for k in m.counters.iter().filter(|k| !k.exact()) {
            let _ = writeln!(
                o,
                "  {:<24} vmscan {} kernel {}..{} (slack {}; {:+} pages): {}",
                k.counter,
                k.vmscan,
                k.kernel_min,
                k.kernel_max,
                k.slack_pages,
                k.divergence_pages,
                k.likely_cause.unwrap_or("")
            );
        }
    }
    for n in &s.notes {
        let _ = writeln!(o, "note: {n}");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        counters::BatchMoves,
        selfcheck::{CounterCheck, MemcgSelfCheck, SelfCheck},
        snapshot::LruvecSnap,
    };

    #[test]
    fn text_shows_the_batch_moves_and_both_self_checks() {
        let check = |counter, divergence_pages| CounterCheck {
            counter,
            vmscan: 100,
            kernel_min: 140,
            kernel_max: 140,
            slack_pages: 8,
            divergence_pages,
            within_slack: false,
            likely_cause: (divergence_pages != 0).then_some("a cause"),
        };
        let s = Snapshot {
            lruvecs: vec![
                LruvecSnap {
                    memcg: "/mv".into(),
                    moved: BatchMoves {
                        lazyfree_from_inactive: Some(8192),
                        lazyfree_from_active: Some(0),
                        ..BatchMoves::default()
                    },
                    ..LruvecSnap::default()
                },
                // Nothing moved: no row.
                LruvecSnap {
                    memcg: "/quiet".into(),
                    moved: BatchMoves {
                        batch_deactivated_file: Some(0),
                        ..BatchMoves::default()
                    },
                    ..LruvecSnap::default()
                },
            ],
            self_check: SelfCheck {
                checked: 1,
                exact: 1,
                counters: vec![check("pgactivate", 0)],
                memcgs: vec![MemcgSelfCheck {
                    memcg: "/r".into(),
                    checked: 2,
                    exact: 1,
                    counters: vec![
                        check("pglazyfree", 0),
                        check("workingset_refault_file", -32),
                    ],
                }],
                ..SelfCheck::default()
            },
            ..Snapshot::default()
        };
        let text = render(&s);
        assert!(
            text.contains("  node 0 /mv") && text.contains("deactivated n/a n/a  lazyfree 8192 0"),
            "{text}"
        );
        assert!(!text.contains("/quiet"), "{text}");
        assert!(
            text.contains("self-check: 1 of 1 counters equal /proc/vmstat"),
            "{text}"
        );
        assert!(
            text.contains(
                "self-check of memcg /r: 1 of 2 counters equal its memory.stat since it joined the check"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "  workingset_refault_file  vmscan 100 kernel 140..140 (slack 8; -32 pages): a cause"
            ),
            "{text}"
        );
        assert!(
            !text.contains("  pglazyfree "),
            "exact ones are not listed: {text}"
        );
        // Nothing checked (a replay without brackets): no self-check lines.
        assert!(!render(&Snapshot::default()).contains("self-check"));
    }
}
