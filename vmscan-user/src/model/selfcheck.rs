//! vmscan checking itself: each counter it derives compared with the
//! kernel's own (/proc/vmstat) over the same window.
//!
//! /proc/vmstat is read just before and just after each reading of the
//! aggregates (a [`Bracket`]), so on a busy machine the kernel's delta over
//! vmscan's window is known to lie between `kernel_min` (after the first
//! reading to before the last) and `kernel_max` (before the first to after
//! the last). A counter is exact when vmscan's figure lies in that range;
//! anything else is a divergence, shown in pages with its likely cause.
//!
//! Event counters (vm_event_item) are summed over every CPU when
//! /proc/vmstat is read, so they are exact to the page. Node counters
//! (node_stat_item: 7.x's pgscan/pgsteal/pgrefill) reach /proc/vmstat only
//! when a CPU's pending delta passes its threshold: a reading can lag by up
//! to CPUs x threshold per node (the counter's *slack*, from
//! /proc/zoneinfo). vmscan does not force the fold (writing
//! vm/stat_refresh runs work on every CPU, too dear every interval on a big
//! machine); it widens the kernel's range by the slack instead and says so.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use vmscan_common::{HookId, hook};

use super::counters::Vmstat;
pub use super::input::Bracket;

/// One counter against the kernel's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct CounterCheck {
    pub counter: &'static str,
    pub vmscan: u64,
    pub kernel_min: u64,
    pub kernel_max: u64,
    /// Pages /proc/vmstat may not show yet: a node counter's unfolded
    /// per-CPU deltas (CPUs x stat threshold, summed over nodes). 0 for
    /// event counters, which are summed over CPUs when read.
    pub slack_pages: u64,
    /// vmscan minus the nearest end of the kernel's range, widened by the
    /// slack at the top (a lagging read shows less than the kernel
    /// counted): 0 when exact.
    pub divergence_pages: i64,
    /// Exact only within the slack: outside the kernel's range as read.
    pub within_slack: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub likely_cause: Option<&'static str>,
}

impl CounterCheck {
    pub fn exact(&self) -> bool {
        self.divergence_pages == 0
    }
}

/// Every derived counter the kernel also keeps, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SelfCheck {
    pub checked: usize,
    pub exact: usize,
    /// Of the exact ones, those exact only within their slack.
    pub within_slack: usize,
    pub counters: Vec<CounterCheck>,
    /// The per-memcg counters (refaults, MADV_FREE) against memory.stat in
    /// a few active memory cgroups (not in `stat`, which keys nothing by
    /// memcg), each from the reading it joined the check at.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memcgs: Vec<MemcgSelfCheck>,
}

/// One memory cgroup's counters against its memory.stat (its descendants
/// included: v2's lines, v1's `total_` ones), within the memcg stat slack: up to 128
/// pages a CPU the kernel has not flushed into memory.stat yet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MemcgSelfCheck {
    pub memcg: String,
    pub checked: usize,
    pub exact: usize,
    pub counters: Vec<CounterCheck>,
}

/// The likely cause of a memory cgroup's divergence.
pub const MEMCG_CAUSE: &str = "events vmscan's programs missed or could not key by memcg (a full per-memcg map: the hooks' `lost`; a reclaim pass whose lruvec scope's entry or return the kernel skipped), refaults, MADV_FREE or reclaim in a cgroup created since the last walk of the hierarchy, activations by reclaim_pages() (MADV_PAGEOUT, DAMON) or CMA's clean-page reclaim, which vmscan does not key by memcg (pgactivate), or updates the kernel had not flushed into memory.stat beyond the slack";

/// The likely cause of a short counter in a window where the kernel
/// skipped runs of a program the counter is derived from (stat's per-hook
/// `missed`; [`fed_by`]).
pub const SKIPPED_RUNS: &str = "the kernel skipped runs of the programs this counter is derived from in this window (its BPF recursion guard, or kprobe misses; the hooks' `missed` runs), or a path vmscan does not see on this kernel";

/// Hooks that place a reclaim in its reclaimer (kswapd, direct,
/// khugepaged, proactive, memcg, node, soft limit): a skipped run there
/// moves pages between the per-reclaimer counters.
const CONTEXT: [HookId; 11] = [
    hook::DIRECT_BEGIN,
    hook::DIRECT_END,
    hook::MEMCG_BEGIN,
    hook::MEMCG_END,
    hook::NODE_BEGIN,
    hook::NODE_END,
    hook::SOFTLIMIT_BEGIN,
    hook::SOFTLIMIT_END,
    hook::MEMCG_TARGET,
    hook::SHRINK_NODE,
    hook::SHRINK_NODE_RET,
];

/// MGLRU's eviction before 6.7 (no isolate/shrink tracepoint): the
/// function hooks that stand in for mm_vmscan_lru_isolate and
/// mm_vmscan_lru_shrink_inactive there.
const EVICTION: [HookId; 4] = [
    hook::EVICT_FOLIOS,
    hook::EVICT_FOLIOS_RET,
    hook::SHRINK_FOLIO_LIST,
    hook::SHRINK_FOLIO_LIST_RET,
];

/// The hooks whose program runs `counter` is derived from (counters.rs:
/// derive_with): a run the kernel skipped on one of them can leave the
/// counter short; on any other it cannot.
pub fn fed_by(counter: &str) -> Vec<HookId> {
    let split = |c: &str| {
        ["kswapd", "direct", "khugepaged", "proactive"]
            .iter()
            .any(|r| c.ends_with(r))
    };
    let mut out: Vec<HookId> = match counter {
        c if c.starts_with("pgscan_") => [&[hook::LRU_ISOLATE][..], &EVICTION].concat(),
        c if c.starts_with("pgsteal_") => [&[hook::SHRINK_INACTIVE][..], &EVICTION].concat(),
        c if c.starts_with("pgdemote_") => vec![hook::MIGRATE_PAGES],
        // Cgroup limit reclaim's refill is left out where the kernel keeps
        // it out: who reclaims decides, as for the per-reclaimer counters.
        "pgrefill" => [&[hook::LRU_ISOLATE][..], &CONTEXT].concat(),
        "pgactivate" => [
            &[
                hook::SHRINK_INACTIVE,
                hook::LRU_ACTIVATE,
                hook::RECLAIM_PAGES,
            ][..],
            &EVICTION,
        ]
        .concat(),
        "pglazyfree" => vec![hook::LAZYFREE],
        "pgdeactivate" => vec![
            hook::SHRINK_ACTIVE,
            hook::DEACTIVATE,
            hook::DEACTIVATE_FILE,
            hook::DEACTIVATE_FILE_RET,
        ],
        c if c.starts_with("workingset_") => vec![hook::REFAULT, hook::REFAULT_RET],
        _ => Vec::new(),
    };
    if split(counter) {
        out.extend(CONTEXT);
    }
    out
}

/// Why vmscan may see fewer or more pages than the kernel for `counter`.
fn likely_cause(counter: &str, short: bool) -> &'static str {
    match (counter, short) {
        ("pgactivate", true) => {
            "activations outside the hooked paths: reclaim_pages() (MADV_PAGEOUT, DAMON) or CMA's clean-page reclaim, where neither mm_vmscan_reclaim_pages (7.x) nor shrink_folio_list / shrink_page_list (fentry or kprobes) is hooked"
        }
        (c, true) if c.starts_with("workingset_") => {
            "refaults workingset_refault's return probe missed (kretprobe instances exhausted) or its programs did not run"
        }
        (_, true) => {
            "a reclaim path whose tracepoints do not fire on this kernel (or hooks not attached)"
        }
        (_, false) => {
            "pages counted under another reclaimer than the kernel's (a path counted differently on this kernel), or, where the kernel keeps the counter per node (7.x pgscan/pgsteal), per-CPU deltas /proc/vmstat had not folded in yet"
        }
    }
}

/// Compares `v` (vmscan's counters over the window from `start` to `end`)
/// with the kernel's. Counters the kernel does not keep are left out.
/// `slack` gives each counter's (0 for event counters).
pub fn check(v: &Vmstat, start: &Bracket, end: &Bracket, slack: &dyn Fn(&str) -> u64) -> SelfCheck {
    check_fields(&v.fields(), start, end, slack)
}

/// [`check`] for any (counter, vmscan's figure) pairs.
pub fn check_fields(
    fields: &[(&'static str, u64)],
    start: &Bracket,
    end: &Bracket,
    slack: &dyn Fn(&str) -> u64,
) -> SelfCheck {
    let mut out = SelfCheck::default();
    for &(name, ours) in fields {
        let get = |m: &BTreeMap<String, u64>| m.get(name).copied();
        let (Some(s0), Some(s1), Some(e0), Some(e1)) = (
            get(&start.before),
            get(&start.after),
            get(&end.before),
            get(&end.after),
        ) else {
            continue;
        };
        let (min, max) = (e0.saturating_sub(s1), e1.saturating_sub(s0));
        let slack = slack(name);
        // The counter only grows and a reading lags by at most `slack`: the
        // window's true delta lies within `slack` of the range either way
        // (the start read low by up to it, or the end read low).
        let (lo, hi) = (min.saturating_sub(slack), max + slack);
        let divergence = if ours < lo {
            ours as i64 - lo as i64
        } else if ours > hi {
            ours as i64 - hi as i64
        } else {
            0
        };
        let within_slack = divergence == 0 && !(min..=max).contains(&ours);
        out.checked += 1;
        out.exact += usize::from(divergence == 0);
        out.within_slack += usize::from(within_slack);
        out.counters.push(CounterCheck {
            counter: name,
            vmscan: ours,
            kernel_min: min,
            kernel_max: max,
            slack_pages: slack,
            divergence_pages: divergence,
            within_slack,
            likely_cause: (divergence != 0).then(|| likely_cause(name, divergence < 0)),
        });
    }
    out
}

/// The slack of each counter under `counting`: node counters get
/// `node_slack` (workingset_* on every kernel, and 7.x's pgscan_*,
/// pgsteal_*, pgrefill), event counters 0.
pub fn slack_for(
    counting: &super::counters::Counting,
    node_slack: Option<u64>,
) -> impl Fn(&str) -> u64 + use<> {
    let pages = node_slack.unwrap_or(0);
    let scans = counting.memcg_in_global;
    let demote = counting.demote_node_stat;
    move |name: &str| {
        let node_counter = name.starts_with("workingset_")
            || (scans
                && (name.starts_with("pgscan_")
                    || name.starts_with("pgsteal_")
                    || name == "pgrefill"))
            || (demote && name.starts_with("pgdemote_"));
        if node_counter { pages } else { 0 }
    }
}

/// One line per divergent counter (or that all are exact), for text output.
pub fn render(c: &SelfCheck) -> String {
    let mut s = format!(
        "self-check: {} of {} counters equal /proc/vmstat over the window",
        c.exact, c.checked
    );
    if c.within_slack > 0 {
        let most = c
            .counters
            .iter()
            .filter(|k| k.within_slack)
            .map(|k| k.slack_pages)
            .max()
            .unwrap_or(0);
        s.push_str(&format!(
            " ({} within the per-CPU slack of the kernel's node counters, up to {most} pages: deltas /proc/vmstat had not folded in)",
            c.within_slack
        ));
    }
    s.push('\n');
    for k in c.counters.iter().filter(|k| !k.exact()) {
        let range = if k.kernel_min == k.kernel_max {
            k.kernel_min.to_string()
        } else {
            format!("{}..{}", k.kernel_min, k.kernel_max)
        };
        s.push_str(&format!(
            "  {:<20} vmscan {} kernel {} ({:+} pages): {}\n",
            k.counter,
            k.vmscan,
            range,
            k.divergence_pages,
            k.likely_cause.unwrap_or("")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_names_the_hooks_it_is_derived_from() {
        for name in Vmstat::NAMES {
            let hooks = fed_by(name);
            assert!(!hooks.is_empty(), "{name}: no hook feeds it");
            let split = !name.ends_with("_anon") && !name.ends_with("_file");
            let per_reclaimer = name.starts_with("pgscan_")
                || name.starts_with("pgsteal_")
                || name.starts_with("pgdemote_");
            assert_eq!(
                hooks.contains(&hook::DIRECT_BEGIN),
                (per_reclaimer && split) || name == "pgrefill",
                "{name}: reclaimer context hooks"
            );
        }
        // Each counter is fed only by hooks that can move it.
        assert!(!fed_by("pgactivate").contains(&hook::LRU_INSERTION));
        assert!(fed_by("pgactivate").contains(&hook::LRU_ACTIVATE));
        assert!(!fed_by("pgscan_file").contains(&hook::SHRINK_INACTIVE));
        assert_eq!(fed_by("pglazyfree"), [hook::LAZYFREE]);
    }

    fn vm(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn a_figure_inside_the_bracketed_range_is_exact_and_outside_diverges() {
        // pgsteal_file moved 100 -> 1100 while the first reading ran up to
        // 110, and 1100 -> 1120 during the last: the kernel's window delta
        // is 990..1020.
        let start = Bracket {
            before: vm(&[("pgsteal_file", 100), ("pgactivate", 0)]),
            after: vm(&[("pgsteal_file", 110), ("pgactivate", 0)]),
        };
        let end = Bracket {
            before: vm(&[("pgsteal_file", 1100), ("pgactivate", 500)]),
            after: vm(&[("pgsteal_file", 1120), ("pgactivate", 500)]),
        };
        let v = Vmstat {
            pgsteal_file: 1000,
            pgactivate: Some(480),
            ..Vmstat::default()
        };
        let c = check(&v, &start, &end, &|_| 0);
        let get = |n: &str| c.counters.iter().find(|k| k.counter == n).unwrap().clone();
        assert!(get("pgsteal_file").exact());
        assert_eq!(
            (
                get("pgsteal_file").kernel_min,
                get("pgsteal_file").kernel_max
            ),
            (990, 1020)
        );
        assert_eq!(get("pgactivate").divergence_pages, -20);
        assert!(
            get("pgactivate")
                .likely_cause
                .unwrap()
                .contains("reclaim_pages")
        );
        let over = check(
            &Vmstat {
                pgsteal_file: 1030,
                ..v
            },
            &start,
            &end,
            &|_| 0,
        );
        assert_eq!(
            over.counters
                .iter()
                .find(|k| k.counter == "pgsteal_file")
                .unwrap()
                .divergence_pages,
            10
        );
        // Counters the kernel does not keep are not checked.
        assert_eq!(c.checked, 2);
        assert_eq!(c.exact, 1);
        assert!(render(&c).contains("1 of 2 counters"));
        assert!(render(&c).contains("pgactivate"));
    }

    #[test]
    fn node_counters_are_exact_within_their_per_cpu_slack_and_no_further() {
        use crate::model::counters::Counting;
        // 7.x: pgsteal_file is a node counter; a 2-CPU node with threshold
        // 24 can hold back 48 pages.
        let start = Bracket {
            before: vm(&[("pgsteal_file", 100), ("pgactivate", 0)]),
            after: vm(&[("pgsteal_file", 100), ("pgactivate", 0)]),
        };
        let end = Bracket {
            before: vm(&[("pgsteal_file", 1100), ("pgactivate", 7)]),
            after: vm(&[("pgsteal_file", 1100), ("pgactivate", 7)]),
        };
        let seven = Counting {
            memcg_in_global: true,
            ..Counting::default()
        };
        let slack = slack_for(&seven, Some(48));
        assert_eq!(
            (
                slack("pgsteal_file"),
                slack("pgscan_kswapd"),
                slack("pgrefill"),
                slack("pgactivate")
            ),
            (48, 48, 48, 0)
        );
        let at = |ours: u64, act: u64| {
            check(
                &Vmstat {
                    pgsteal_file: ours,
                    pgactivate: Some(act),
                    ..Vmstat::default()
                },
                &start,
                &end,
                &slack,
            )
        };
        let get =
            |c: &SelfCheck, n: &str| c.counters.iter().find(|k| k.counter == n).unwrap().clone();
        let ahead = at(1040, 7);
        assert!(get(&ahead, "pgsteal_file").exact() && get(&ahead, "pgsteal_file").within_slack);
        assert_eq!((ahead.exact, ahead.within_slack), (2, 1));
        assert!(
            render(&ahead).contains("1 within the per-CPU slack"),
            "{}",
            render(&ahead)
        );
        assert_eq!(
            get(&at(1049, 7), "pgsteal_file").divergence_pages,
            1,
            "one page past the slack diverges"
        );
        assert_eq!(get(&at(951, 7), "pgsteal_file").divergence_pages, -1);
        assert_eq!(
            get(&at(1000, 8), "pgactivate").divergence_pages,
            1,
            "event counters get no slack"
        );
        assert!(!get(&at(1000, 7), "pgsteal_file").within_slack);
        // Before 7.x the same counters are event counters: no slack. The
        // workingset ones are node counters everywhere.
        let six = slack_for(&Counting::default(), Some(48));
        assert_eq!(
            (six("pgsteal_file"), six("workingset_refault_file")),
            (0, 48)
        );
    }
}
