//! vmscan checking itself: each counter it derives compared with the
//! kernel's own (/proc/vmstat) over the same window.
//!
//! /proc/vmstat is read just before and just after each reading of the
//! aggregates (a [`Bracket`]), so on a busy machine the kernel's delta over
//! vmscan's window is known to lie between `kernel_min` (after the first
//! reading to before the last) and `kernel_max` (before the first to after
//! the last). A counter is exact when vmscan's figure lies in that range;
//! anything else is a divergence, shown in pages with its likely cause.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

pub use super::input::Bracket;
use super::counters::Vmstat;

/// One counter against the kernel's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct CounterCheck {
    pub counter: &'static str,
    pub vmscan: u64,
    pub kernel_min: u64,
    pub kernel_max: u64,
    /// vmscan minus the nearest end of the kernel's range: 0 when exact.
    pub divergence_pages: i64,
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
    pub counters: Vec<CounterCheck>,
}

/// Why vmscan may see fewer or more pages than the kernel for `counter`.
fn likely_cause(counter: &str, short: bool) -> &'static str {
    match (counter, short) {
        ("pgactivate", true) => {
            "activations outside the hooked paths: reclaim_pages() (MADV_PAGEOUT, DAMON; mm_vmscan_reclaim_pages is not hooked) or CMA's clean-page reclaim (no tracepoint)"
        }
        (_, true) => "a reclaim path whose tracepoints do not fire on this kernel (or hooks not attached)",
        (_, false) => {
            "pages counted under another reclaimer than the kernel's (a path counted differently on this kernel), or, where the kernel keeps the counter per node (7.x pgscan/pgsteal), per-CPU deltas /proc/vmstat had not folded in yet"
        }
    }
}

/// Compares `v` (vmscan's counters over the window from `start` to `end`)
/// with the kernel's. Counters the kernel does not keep are left out.
pub fn check(v: &Vmstat, start: &Bracket, end: &Bracket) -> SelfCheck {
    let mut out = SelfCheck::default();
    for (name, ours) in v.fields() {
        let get = |m: &BTreeMap<String, u64>| m.get(name).copied();
        let (Some(s0), Some(s1), Some(e0), Some(e1)) = (get(&start.before), get(&start.after), get(&end.before), get(&end.after)) else {
            continue;
        };
        let (min, max) = (e0.saturating_sub(s1), e1.saturating_sub(s0));
        let divergence = if ours < min {
            ours as i64 - min as i64
        } else if ours > max {
            ours as i64 - max as i64
        } else {
            0
        };
        out.checked += 1;
        out.exact += usize::from(divergence == 0);
        out.counters.push(CounterCheck {
            counter: name,
            vmscan: ours,
            kernel_min: min,
            kernel_max: max,
            divergence_pages: divergence,
            likely_cause: (divergence != 0).then(|| likely_cause(name, divergence < 0)),
        });
    }
    out
}

/// One line per divergent counter (or that all are exact), for text output.
pub fn render(c: &SelfCheck) -> String {
    let mut s = format!("self-check: {} of {} counters equal /proc/vmstat over the window\n", c.exact, c.checked);
    for k in c.counters.iter().filter(|k| !k.exact()) {
        let range = if k.kernel_min == k.kernel_max { k.kernel_min.to_string() } else { format!("{}..{}", k.kernel_min, k.kernel_max) };
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

    fn vm(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn a_figure_inside_the_bracketed_range_is_exact_and_outside_diverges() {
        // pgsteal_file moved 100 -> 1100 while the first reading ran up to
        // 110, and 1100 -> 1120 during the last: the kernel's window delta
        // is 990..1020.
        let start = Bracket { before: vm(&[("pgsteal_file", 100), ("pgactivate", 0)]), after: vm(&[("pgsteal_file", 110), ("pgactivate", 0)]) };
        let end = Bracket { before: vm(&[("pgsteal_file", 1100), ("pgactivate", 500)]), after: vm(&[("pgsteal_file", 1120), ("pgactivate", 500)]) };
        let v = Vmstat { pgsteal_file: 1000, pgactivate: 480, ..Vmstat::default() };
        let c = check(&v, &start, &end);
        let get = |n: &str| c.counters.iter().find(|k| k.counter == n).unwrap().clone();
        assert!(get("pgsteal_file").exact());
        assert_eq!((get("pgsteal_file").kernel_min, get("pgsteal_file").kernel_max), (990, 1020));
        assert_eq!(get("pgactivate").divergence_pages, -20);
        assert!(get("pgactivate").likely_cause.unwrap().contains("reclaim_pages"));
        let over = check(&Vmstat { pgsteal_file: 1030, ..v }, &start, &end);
        assert_eq!(over.counters.iter().find(|k| k.counter == "pgsteal_file").unwrap().divergence_pages, 10);
        // Counters the kernel does not keep are not checked.
        assert_eq!(c.checked, 2);
        assert_eq!(c.exact, 1);
        assert!(render(&c).contains("1 of 2 counters"));
        assert!(render(&c).contains("pgactivate"));
    }
}
