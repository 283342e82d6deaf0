//! Samples of the kernel's own view of the lruvecs: per-node LRU sizes
//! (/sys/devices/system/node/node*/meminfo), per-zone free pages and
//! watermarks (/proc/zoneinfo), and per memory cgroup x node sizes
//! (memory.numa_stat, memory.stat; cgroup v1 and v2), swappiness.
//!
//! Parsers are pure functions over text; [`gather`] does the reading.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use super::system::{self, Cgroups};
use crate::model::input::{Generation, Lists, LruGen, MemcgNode, Sample};

/// The five lists from (key, value) pairs: `keys` names them in lru::NAMES
/// order; values are divided by `unit` (page size in the values' unit).
/// None unless all five are present.
fn five_lists<'a>(
    pairs: impl Iterator<Item = (&'a str, u64)>,
    keys: [&str; 5],
    unit: u64,
) -> Option<Lists> {
    let mut l: [Option<u64>; 5] = [None; 5];
    for (k, v) in pairs {
        if let Some(slot) = keys.iter().position(|x| *x == k) {
            l[slot] = Some(v / unit.max(1));
        }
    }
    Some([l[0]?, l[1]?, l[2]?, l[3]?, l[4]?])
}

/// Parses a node meminfo file ("Node 0 Active(anon):  1004 kB") into lists, in pages.
pub fn parse_node_meminfo(text: &str, page_kib: u64) -> Option<Lists> {
    let pairs = text.lines().filter_map(|line| {
        let mut it = line.split_whitespace().skip(2);
        Some((it.next()?, it.next()?.parse::<u64>().ok()?))
    });
    five_lists(
        pairs,
        [
            "Inactive(anon):",
            "Active(anon):",
            "Inactive(file):",
            "Active(file):",
            "Unevictable:",
        ],
        page_kib,
    )
}

/// Parses memory.numa_stat. v1 lines are `file=72 N0=72` (pages, this
/// cgroup only unless prefixed hierarchical_); v2 lines are
/// `active_file N0=4096` (bytes).
pub fn parse_numa_stat(text: &str, page_size: u64) -> BTreeMap<u32, MemcgNode> {
    let mut out: BTreeMap<u32, MemcgNode> = BTreeMap::new();
    let mut v2_lists: BTreeMap<u32, [Option<u64>; 5]> = BTreeMap::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let Some(head) = it.next() else { continue };
        let (key, v1) = match head.split_once('=') {
            Some((k, _total)) => (k, true),
            None => (head, false),
        };
        for part in it {
            let Some((n, v)) = part.split_once('=') else {
                continue;
            };
            let (Some(node), Ok(val)) = (
                n.strip_prefix('N').and_then(|n| n.parse::<u32>().ok()),
                v.parse::<u64>(),
            ) else {
                continue;
            };
            let pages = if v1 { val } else { val / page_size.max(1) };
            let e = out.entry(node).or_default();
            match key {
                "anon" => e.anon = pages,
                "file" => e.file = pages,
                "unevictable" => {
                    e.unevictable = pages;
                    v2_lists.entry(node).or_default()[4] = Some(pages);
                }
                "inactive_anon" => v2_lists.entry(node).or_default()[0] = Some(pages),
                "active_anon" => v2_lists.entry(node).or_default()[1] = Some(pages),
                "inactive_file" => v2_lists.entry(node).or_default()[2] = Some(pages),
                "active_file" => v2_lists.entry(node).or_default()[3] = Some(pages),
                _ => {}
            }
        }
    }
    for (node, l) in v2_lists {
        if let [Some(a), Some(b), Some(c), Some(d), Some(e)] = l {
            out.entry(node).or_default().lists = Some([a, b, c, d, e]);
        }
    }
    out
}

/// The five lists from memory.stat (this cgroup only, all nodes), in pages.
/// v1 and v2 both name them inactive_anon ... unevictable, in bytes.
pub fn parse_memory_stat_lists(text: &str, page_size: u64) -> Option<Lists> {
    let pairs = text.lines().filter_map(|line| {
        let mut it = line.split_whitespace();
        Some((it.next()?, it.next()?.parse::<u64>().ok()?))
    });
    five_lists(pairs, vmscan_common::lru::NAMES, page_size)
}

/// Parses /sys/kernel/debug/lru_gen (Documentation/admin-guide/mm/multigen_lru.rst):
///
/// ```text
/// memcg  memcg_id  memcg_path
///    node  node_id
///        min_gen_nr  age_in_ms  nr_anon_pages  nr_file_pages
///        ...
/// ```
/// Lines it does not understand are skipped; counts are pages.
pub fn parse_lru_gen(text: &str) -> Vec<LruGen> {
    let mut out: Vec<LruGen> = Vec::new();
    let mut memcg: Option<(u64, String)> = None;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["memcg", id, rest @ ..] => {
                memcg = id.parse().ok().map(|id| (id, rest.join(" ")));
            }
            ["node", id] => {
                if let (Some((mid, path)), Ok(node)) = (&memcg, id.parse()) {
                    out.push(LruGen {
                        memcg_id: *mid,
                        memcg: path.clone(),
                        node,
                        generations: vec![],
                    });
                }
            }
            [generation, age, anon, file, ..] => {
                let num = |s: &str| s.trim_end_matches(',').parse::<u64>().ok();
                if let (Some(l), Some(generation), Some(age_ms), Some(anon), Some(file)) = (
                    out.last_mut(),
                    num(generation),
                    num(age),
                    num(anon),
                    num(file),
                ) {
                    l.generations.push(Generation {
                        generation,
                        age_ms,
                        anon,
                        file,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into a valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

/// The memory-cgroup hierarchy root, if any.
pub fn memcg_root(cg: &Cgroups) -> Option<(PathBuf, bool)> {
    match cg {
        Cgroups::V1 { memory } | Cgroups::Hybrid { memory, .. } => {
            Some((crate::probe::paths::host(memory), true))
        }
        Cgroups::V2 { root } => Some((crate::probe::paths::host(root), false)),
        Cgroups::None => None,
    }
}

/// When /sys/kernel/debug/lru_gen is read. It lists every memcg x node's
/// generations, and the kernel walks every memcg to print it: with
/// thousands of memcgs, reading it every interval would be a per-memcg cost
/// every second. So it is read on [`LRU_GEN_BUDGET`] (again after 200
/// times its own last read's duration: at most 0.5% of the time; at most
/// every second, at least every 5 minutes), and whenever a complete sample
/// is asked for. Only the generations shown by
/// `vmscan snapshot` (which asks for a complete last sample), the JSON
/// snapshot and recordings read them, and a snapshot says how old they are
/// (`lru_gen_read_secs_ago`). At 10,000 memcgs in the lab's emulated 6.12,
/// one read took about 3 s of CPU.
#[derive(Debug, Default)]
pub struct LruGenSchedule {
    last: Option<std::time::Instant>,
    cost: std::time::Duration,
    force: bool,
}

/// A read whose cost grows with the host (every memcg, say) repeats only
/// after `factor` times its own last duration, so it takes at most
/// 1/factor of the time; never sooner than `min` (cheap reads on a small
/// host) and never later than `max` (figures go stale). The memcg walk and
/// the lru_gen read share this rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CostBudget {
    pub factor: u32,
    pub min: std::time::Duration,
    pub max: std::time::Duration,
}

impl CostBudget {
    /// How long after a read that took `cost` the next one is due.
    pub fn every(&self, cost: std::time::Duration) -> std::time::Duration {
        cost.saturating_mul(self.factor).clamp(self.min, self.max)
    }
}

/// /sys/kernel/debug/lru_gen: 0.5% of the time, every 1 s to 5 min.
pub const LRU_GEN_BUDGET: CostBudget = CostBudget {
    factor: 200,
    min: std::time::Duration::from_secs(1),
    max: std::time::Duration::from_secs(300),
};

impl LruGenSchedule {
    /// The next sample reads it, whatever the time (a final sample).
    pub fn force_next(&mut self) {
        self.force = true;
    }

    fn due(&self) -> bool {
        self.due_at(std::time::Instant::now())
    }

    fn due_at(&self, now: std::time::Instant) -> bool {
        let every = LRU_GEN_BUDGET.every(self.cost);
        // A tenth of slack: ticks a second apart read it every tick, not
        // every other one when a tick comes a little early.
        self.force
            || self
                .last
                .is_none_or(|t| now.saturating_duration_since(t) >= every.mul_f64(0.9))
    }

    /// The generations when due (empty without MGLRU), else None: the last
    /// read stands.
    fn read(&mut self, mglru: Option<bool>) -> Option<Vec<LruGen>> {
        if mglru != Some(true) {
            self.last = None;
            return Some(vec![]);
        }
        if !self.due() {
            return None;
        }
        let started = std::time::Instant::now();
        let out = read(&crate::probe::paths::host("/sys/kernel/debug/lru_gen"))
            .map(|t| parse_lru_gen(&t))
            .unwrap_or_default();
        self.cost = started.elapsed();
        self.last = Some(started);
        self.force = false;
        Some(out)
    }
}

/// Reads a full sample around `memcgs` (from a [`super::memcgs::MemcgSampler`]),
/// with MGLRU's generations when `lru_gen` says they are due.
pub fn gather(
    memcgs: super::memcgs::MemcgUpdate,
    page_size: u64,
    lru_gen: &mut LruGenSchedule,
) -> Sample {
    let page_kib = (page_size / 1024).max(1);
    let mut nodes = BTreeMap::new();
    for n in system::online_nodes() {
        let p = crate::probe::paths::host(&format!("/sys/devices/system/node/node{n}/meminfo"));
        if let Some(l) = read(&p).and_then(|t| parse_node_meminfo(&t, page_kib)) {
            nodes.insert(n, l);
        }
    }
    let mglru = system::mglru_enabled();
    let generations = lru_gen.read(mglru);
    Sample {
        lru_gen_unread: generations.is_none(),
        lru_gen: generations.unwrap_or_default(),
        ts_ns: monotonic_ns(),
        nodes,
        zones: system::parse_zoneinfo(
            &read(&crate::probe::paths::host("/proc/zoneinfo")).unwrap_or_default(),
        ),
        memcgs: memcgs.memcgs,
        memcgs_partial: memcgs.partial,
        memcgs_gone: memcgs.gone,
        vm_swappiness: read(&crate::probe::paths::host("/proc/sys/vm/swappiness"))
            .and_then(|s| s.trim().parse().ok()),
        mglru,
        memory_tiers: system::memory_tiers(&crate::probe::paths::host(
            "/sys/devices/virtual/memory_tiering",
        )),
        vmstat: None,
        memcg_vmstat: Vec::new(),
        memcg_stat_slack: None,
    }
}

/// The most a memory cgroup's memory.stat counter may lag the kernel's
/// count: 128 updates per online CPU (see [`Sample::memcg_stat_slack`]).
pub fn memcg_stat_slack() -> u64 {
    let online =
        std::fs::read_to_string(crate::probe::paths::host("/sys/devices/system/cpu/online"))
            .map(|s| system::parse_range_list(&s).len() as u64)
            .unwrap_or(0);
    128 * online.max(1)
}

/// The counters vmscan checks itself against, from /proc/vmstat.
pub fn checked_vmstat() -> BTreeMap<String, u64> {
    let mut m = system::read_vmstat();
    m.retain(|k, _| crate::model::input::self_checked(k));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cost_budget_scales_with_the_cost_between_its_bounds() {
        use std::time::Duration;
        let b = CostBudget {
            factor: 200,
            min: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        assert_eq!(b.every(Duration::ZERO), b.min);
        assert_eq!(b.every(Duration::from_millis(50)), Duration::from_secs(10));
        assert_eq!(b.every(Duration::from_secs(1)), b.max);
        assert_eq!(b.every(Duration::MAX), b.max, "no overflow");
    }

    #[test]
    fn lru_gen_is_read_again_after_200_times_its_cost() {
        use std::time::{Duration, Instant};
        let mut g = LruGenSchedule::default();
        assert!(g.due(), "the first sample reads it");
        assert_eq!(g.read(Some(false)), Some(vec![]), "without MGLRU: none");
        assert_eq!(g.read(None), Some(vec![]));
        // Read just now, taking 50 ms: due again 10 s on (a tenth early).
        let t0 = Instant::now();
        g.last = Some(t0);
        g.cost = Duration::from_millis(50);
        assert!(!g.due(), "read 10 s after a 50 ms read");
        assert_eq!(g.read(Some(true)), None, "not due: the last read stands");
        assert!(!g.due_at(t0 + Duration::from_secs(8)));
        assert!(g.due_at(t0 + Duration::from_secs(9)));
        g.cost = Duration::from_secs(1);
        assert!(!g.due_at(t0 + Duration::from_secs(170)));
        assert!(g.due_at(t0 + Duration::from_secs(180)));
        g.cost = Duration::from_secs(10);
        assert!(!g.due_at(t0 + Duration::from_secs(260)));
        assert!(
            g.due_at(t0 + LRU_GEN_BUDGET.max),
            "at least every 5 minutes"
        );
        g.cost = Duration::ZERO;
        assert!(
            !g.due_at(t0 + Duration::from_millis(800)),
            "at most every second"
        );
        assert!(
            g.due_at(t0 + Duration::from_millis(950)),
            "a tick a little early still reads it"
        );
        g.force_next();
        assert!(g.due(), "a final sample reads it");
    }

    #[test]
    fn node_meminfo_in_pages() {
        let text = "Node 0 MemTotal:  6777036 kB\nNode 0 Active(anon):  1004 kB\nNode 0 Inactive(anon): 2772 kB\n\
                    Node 0 Active(file): 36784 kB\nNode 0 Inactive(file): 105928 kB\nNode 0 Unevictable: 10440 kB\n";
        assert_eq!(
            parse_node_meminfo(text, 4),
            Some([693, 251, 26482, 9196, 2610])
        );
        assert_eq!(parse_node_meminfo("Node 0 MemTotal: 1 kB\n", 4), None);
    }

    #[test]
    fn numa_stat_v1_pages() {
        let text = "total=3056 N0=3000 N1=56\nfile=72 N0=70 N1=2\nanon=374 N0=374 N1=0\nunevictable=2610 N0=2556 N1=54\n\
                    hierarchical_total=39138 N0=39138 N1=0\nhierarchical_file=35605 N0=35605 N1=0\n";
        let m = parse_numa_stat(text, 4096);
        assert_eq!(m[&0].file, 70);
        assert_eq!(
            m[&1].file, 2,
            "hierarchical_ lines must not overwrite the local ones"
        );
        assert_eq!(m[&0].anon, 374);
        assert_eq!(m[&1].unevictable, 54);
        assert_eq!(m[&0].lists, None, "v1 has no per-node list split");
    }

    #[test]
    fn numa_stat_v2_bytes() {
        let text = "anon N0=8192 N1=4096\nfile N0=409600 N1=0\nkernel_stack N0=16384 N1=0\n\
                    active_anon N0=4096 N1=0\ninactive_anon N0=4096 N1=4096\nactive_file N0=8192 N1=0\n\
                    inactive_file N0=401408 N1=0\nunevictable N0=0 N1=0\n";
        let m = parse_numa_stat(text, 4096);
        assert_eq!(m[&0].lists, Some([1, 1, 98, 2, 0]));
        assert_eq!(m[&1].lists, Some([1, 0, 0, 0, 0]));
        assert_eq!(m[&0].file, 100);
    }

    #[test]
    fn lru_gen_debugfs() {
        let text = "memcg     1 /\n  node     0\n           3      5123      1024       2048\n           4       812         8        512\n\
                    memcg    37 /system.slice/app.service\n  node     0\n           1     90000         0         77\n  node     1\n\
                    garbage line\n";
        let g = parse_lru_gen(text);
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].memcg, "/");
        assert_eq!(
            g[0].generations,
            vec![
                Generation {
                    generation: 3,
                    age_ms: 5123,
                    anon: 1024,
                    file: 2048
                },
                Generation {
                    generation: 4,
                    age_ms: 812,
                    anon: 8,
                    file: 512
                },
            ]
        );
        assert_eq!(
            (g[1].memcg_id, g[1].memcg.as_str(), g[1].node),
            (37, "/system.slice/app.service", 0)
        );
        assert_eq!(g[2].node, 1);
        assert!(g[2].generations.is_empty());
    }

    #[test]
    fn memory_stat_lists() {
        let text = "cache 9318400\ninactive_anon 442368\nactive_anon 1089536\ninactive_file 24576\n\
                    active_file 208896\nunevictable 10694656\ntotal_inactive_anon 2686976\n";
        assert_eq!(
            parse_memory_stat_lists(text, 4096),
            Some([108, 266, 6, 51, 2611])
        );
        assert_eq!(parse_memory_stat_lists("cache 1\n", 4096), None);
    }
}
