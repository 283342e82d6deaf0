//! Memory cgroups sampled at a cost that does not grow with every cgroup
//! every second.
//!
//! Reading one memcg's memory.stat / memory.numa_stat costs tens of
//! microseconds, so reading thousands of them every interval would cost a
//! large part of a core. The [`MemcgSampler`] keeps the last figures of
//! every memcg and, at each sample, reads again only:
//! - the memcgs active in the interval (LRU insertions or reclaim episodes
//!   seen by the eBPF side, by kernfs id), and the root;
//! - a rotating share of the quiet ones, so that each is read at least once
//!   every [`REFRESH_SAMPLES`] samples, but never more than
//!   [`QUIET_READS_MAX`] of them a sample: past 3,000 memcgs a quiet one
//!   waits longer (n / 50 samples: 200 at 10,000), so that reading them
//!   costs the same at 10,000 memcgs as at 3,000;
//! - new memcgs, found by walking the hierarchy. A walk costs in proportion
//!   to the number of cgroups, so it comes again on [`WALK_BUDGET`] (200
//!   times its own duration, at most every second on a host with few
//!   cgroups, at least every minute), sooner (at most every
//!   [`MIN_REWALK`]) when an active id is not known yet, and whenever a
//!   caller asks for a complete sample ([`MemcgSampler::walk_next`]).
//!
//! Quiet memcgs' figures are therefore up to
//! [`MemcgSampler::refresh_every`] samples old; active ones are current.
//!
//! Each read is as cheap as the files allow: cgroup v2's memory.numa_stat
//! has every node's five lists, whose sum is the memcg's split, so
//! memory.stat is read only where it lacks them (v1); v1's
//! memory.swappiness is read when a memcg is found or active, not when a
//! quiet one is read in its turn (a quiet memcg reclaims nothing, and its
//! swappiness shows only beside its reclaim). After the first (full) sample, a
//! [`MemcgUpdate`] carries only what was read again and what was removed:
//! the model keeps every memcg's last figures, and recordings stay small.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use super::sample::{CostBudget, parse_memory_stat_lists, parse_numa_stat};
use crate::model::input::{Lists, MemcgSample};

/// Every quiet memcg is read again at least once in this many samples (up to
/// REFRESH_SAMPLES x QUIET_READS_MAX memcgs).
pub const REFRESH_SAMPLES: u64 = 60;
/// Quiet memcgs read again per sample at most.
pub const QUIET_READS_MAX: usize = 50;
/// How often the hierarchy is walked for new and removed memcgs: at most
/// 0.5% of the time, at most every second on a host with few cgroups and
/// at least every minute.
pub const WALK_BUDGET: CostBudget = CostBudget {
    factor: 200,
    min: Duration::from_secs(1),
    max: Duration::from_secs(60),
};
/// The soonest a walk repeats when an unknown memcg shows activity.
pub const MIN_REWALK: Duration = Duration::from_secs(5);

struct Known {
    dir: PathBuf,
    is_root: bool,
    read_at: u64,
    /// v1's memory.swappiness as last read.
    swappiness: Option<u32>,
}

/// A memcg's path under `root` as samples name it: "/" for the root,
/// "/a/b" below it.
fn rel_path(root: &Path, dir: &Path) -> String {
    let rel = dir
        .strip_prefix(root)
        .map(|p| format!("/{}", p.display()))
        .unwrap_or_else(|_| "/".into());
    if rel == "/" {
        rel
    } else {
        rel.trim_end_matches('/').to_owned()
    }
}

/// Memory cgroups checked at most at once against their memory.stat.
pub const MEMCG_CHECKS: usize = 16;

/// The memory cgroups vmscan checks its per-memcg figures in:
/// a memcg joins when it shows activity (LRU insertions, refaults, batch
/// moves) and a slot is free, or by taking the slot of the one quiet the
/// longest; it stays while it exists. Each is checked from the reading it
/// joined at, so only what it does afterwards: its memory.stat is read
/// just before and just after every reading of the aggregates, at most
/// [`MEMCG_CHECKS`] files twice an interval. cgroup v2's memory.stat
/// counts a memcg's descendants in; v1's does so in its `total_` lines,
/// which are read instead (v1 keeps the workingset refaults there, not
/// pglazyfree).
#[derive(Default)]
pub struct MemcgChecks {
    /// (id, directory, path, the tick it was last active).
    members: Vec<(u64, PathBuf, String, u64)>,
    tick: u64,
    v1: bool,
}

impl MemcgChecks {
    pub fn new(v1: bool) -> Self {
        Self {
            v1,
            ..Self::default()
        }
    }

    /// Each member's checked counters now (None: unreadable, e.g. removed).
    pub fn read(&self) -> Vec<Option<BTreeMap<String, u64>>> {
        self.members
            .iter()
            .map(|(_, dir, _, _)| {
                let text = std::fs::read_to_string(dir.join("memory.stat")).ok()?;
                Some(parse_checked_memory_stat(&text, self.v1))
            })
            .collect()
    }

    /// The brackets of the members read on both sides of one reading.
    pub fn brackets(
        &self,
        before: Vec<Option<BTreeMap<String, u64>>>,
        after: Vec<Option<BTreeMap<String, u64>>>,
    ) -> Vec<crate::model::input::MemcgBracket> {
        self.members
            .iter()
            .zip(before.into_iter().zip(after))
            .filter_map(|((id, _, path, _), (b, a))| {
                Some(crate::model::input::MemcgBracket {
                    id: *id,
                    path: path.clone(),
                    stat: crate::model::input::Bracket {
                        before: b?,
                        after: a?,
                    },
                })
            })
            .collect()
    }

    /// Admits the memcgs `active` in this interval that `sampler` knows,
    /// and drops those it no longer knows.
    pub fn update(&mut self, active: &BTreeSet<u64>, sampler: &MemcgSampler) {
        self.tick += 1;
        let tick = self.tick;
        self.members
            .retain(|(id, ..)| sampler.known.contains_key(id));
        for m in &mut self.members {
            if active.contains(&m.0) {
                m.3 = tick;
            }
        }
        for &id in active {
            if self.members.iter().any(|m| m.0 == id) {
                continue;
            }
            let Some((dir, path)) = sampler.dir_of(id) else {
                continue;
            };
            if self.members.len() < MEMCG_CHECKS {
                self.members.push((id, dir, path, tick));
                continue;
            }
            // Replace the one quiet the longest, if it was quiet before now.
            if let Some(oldest) = self
                .members
                .iter_mut()
                .filter(|m| m.3 < tick)
                .min_by_key(|m| m.3)
            {
                *oldest = (id, dir, path, tick);
            }
        }
    }
}

/// The [`crate::model::input::memcg_checked`] counters of a memory.stat,
/// hierarchical: v2's own lines, v1's `total_` ones.
fn parse_checked_memory_stat(text: &str, v1: bool) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            let k = if v1 { k.strip_prefix("total_")? } else { k };
            crate::model::input::memcg_checked(k)
                .then(|| Some((k.to_owned(), v.trim().parse().ok()?)))?
        })
        .collect()
}

/// What one sample of the memory cgroups found.
#[derive(Debug, Default)]
pub struct MemcgUpdate {
    /// The memcgs read this time.
    pub memcgs: Vec<MemcgSample>,
    /// false for the first sample (every memcg); true after it (the others
    /// keep their last figures).
    pub partial: bool,
    /// kernfs ids of memcgs removed since the last sample.
    pub gone: Vec<u64>,
}

/// See the module documentation.
pub struct MemcgSampler {
    root: PathBuf,
    v1: bool,
    page_size: u64,
    limit: usize,
    known: BTreeMap<u64, Known>,
    /// Ids in walk order (breadth first, sorted by name): the output order.
    order: Vec<u64>,
    samples: u64,
    last_walk: Option<Instant>,
    /// How long the last walk took.
    last_walk_cost: Duration,
    /// The next sample walks whatever the time (a final, complete sample).
    walk_next: bool,
    /// The next sample reads every memcg (a recording's first).
    full_next: bool,
    /// Memcgs read by the last [`MemcgSampler::sample`] (for tests and benchmarks).
    pub last_reads: usize,
}

impl MemcgSampler {
    /// A sampler of the hierarchy at `root` (v1: the memory controller's
    /// mount), walking at most `limit` cgroups.
    pub fn new(root: &Path, v1: bool, page_size: u64, limit: usize) -> Self {
        Self {
            root: root.to_path_buf(),
            v1,
            page_size,
            limit,
            known: BTreeMap::new(),
            order: Vec::new(),
            samples: 0,
            last_walk: None,
            last_walk_cost: Duration::ZERO,
            walk_next: false,
            full_next: false,
            last_reads: 0,
        }
    }

    /// Whether this is cgroup v1's memory controller.
    pub fn is_v1(&self) -> bool {
        self.v1
    }

    /// A known memcg's directory and path under the root (as samples name it).
    pub fn dir_of(&self, id: u64) -> Option<(PathBuf, String)> {
        let k = self.known.get(&id)?;
        Some((k.dir.clone(), rel_path(&self.root, &k.dir)))
    }

    /// Samples a quiet memcg waits at most to be read again:
    /// [`REFRESH_SAMPLES`], or more past REFRESH_SAMPLES x
    /// [`QUIET_READS_MAX`] memcgs.
    pub fn refresh_every(&self) -> u64 {
        refresh_every(self.known.len())
    }

    /// Makes the next sample walk the hierarchy (for a final sample that
    /// must list every memcg that exists).
    pub fn walk_next(&mut self) {
        self.walk_next = true;
    }

    /// Makes the next sample complete: walked, every memcg read, not
    /// partial (a recording's first sample, which replays without the
    /// figures the session started from).
    pub fn full_next(&mut self) {
        self.walk_next = true;
        self.full_next = true;
    }

    /// What changed, reading again only what the module documentation says;
    /// `active` holds the kernfs ids with activity since the last call.
    pub fn sample(&mut self, active: &BTreeSet<u64>) -> MemcgUpdate {
        let full = std::mem::take(&mut self.full_next);
        let partial = self.samples > 0 && !full;
        self.samples += 1;
        self.last_reads = 0;
        let unknown_active = active.iter().any(|id| !self.known.contains_key(id));
        let every = WALK_BUDGET.every(self.last_walk_cost);
        let due = std::mem::take(&mut self.walk_next)
            || match self.last_walk {
                None => true,
                Some(t) => t.elapsed() >= every || (unknown_active && t.elapsed() >= MIN_REWALK),
            };
        let mut read = BTreeMap::new();
        let gone = if due { self.walk(&mut read) } else { vec![] };
        self.refresh(active, full, &mut read);
        let memcgs = self
            .order
            .iter()
            .filter_map(|id| read.remove(id).flatten())
            .collect();
        MemcgUpdate {
            memcgs,
            partial,
            gone,
        }
    }

    /// Reads the active, the root and the quiet ones whose turn it is (all
    /// of them if `all`).
    fn refresh(
        &mut self,
        active: &BTreeSet<u64>,
        all: bool,
        read: &mut BTreeMap<u64, Option<MemcgSample>>,
    ) {
        let n = self.known.len() as u64;
        let quiet_budget = if all {
            self.known.len()
        } else {
            n.div_ceil(refresh_every(self.known.len())) as usize
        };
        let mut quiet: Vec<(u64, u64)> = Vec::new();
        let mut now_ids = Vec::new();
        for (&id, k) in &self.known {
            if k.read_at == self.samples {
                continue;
            }
            if active.contains(&id) || k.is_root {
                now_ids.push(id);
            } else {
                quiet.push((k.read_at, id));
            }
        }
        // The oldest first; only the budget's worth need be in order.
        if quiet.len() > quiet_budget && quiet_budget > 0 {
            quiet.select_nth_unstable(quiet_budget - 1);
        }
        quiet.truncate(quiet_budget);
        let now = now_ids.len();
        now_ids.extend(quiet.into_iter().map(|(_, id)| id));
        for (i, id) in now_ids.into_iter().enumerate() {
            let (dir, swappiness) = {
                let k = &self.known[&id];
                // Active ones and the root read it again; quiet ones keep
                // it, unless it could not be read before.
                let keep = i >= now && k.swappiness.is_some();
                (k.dir.clone(), keep.then_some(k.swappiness))
            };
            let m = self.read_one(&dir, id, swappiness);
            if let Some(k) = self.known.get_mut(&id) {
                k.read_at = self.samples;
                k.swappiness = m.as_ref().and_then(|m| m.swappiness);
            }
            read.insert(id, m);
        }
    }

    /// Walks the hierarchy: new memcgs are read at once (into `read`),
    /// removed ones dropped and returned.
    fn walk(&mut self, read: &mut BTreeMap<u64, Option<MemcgSample>>) -> Vec<u64> {
        let started = Instant::now();
        self.last_walk = Some(started);
        let mut seen = BTreeSet::new();
        let mut order = Vec::new();
        let mut queue = VecDeque::from([self.root.clone()]);
        while let Some(dir) = queue.pop_front() {
            if order.len() >= self.limit {
                break;
            }
            let Ok(meta) = std::fs::metadata(&dir) else {
                continue;
            };
            let id = meta.ino();
            if !self.known.contains_key(&id) {
                let m = self.read_one(&dir, id, None);
                let is_root = dir == self.root;
                self.known.insert(
                    id,
                    Known {
                        dir: dir.clone(),
                        is_root,
                        read_at: self.samples,
                        swappiness: m.as_ref().and_then(|m| m.swappiness),
                    },
                );
                read.insert(id, m);
            }
            seen.insert(id);
            order.push(id);
            // A directory's link count is 2 plus its subdirectories (kernfs
            // keeps it so; 1 where a filesystem does not count): a leaf
            // cgroup, most of them, needs no listing of its ~30 files. At
            // 10,000 memcgs that is most of the walk's cost.
            if meta.nlink() == 2 {
                continue;
            }
            if let Ok(rd) = std::fs::read_dir(&dir) {
                let mut subdirs: Vec<PathBuf> = rd
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect();
                subdirs.sort();
                queue.extend(subdirs);
            }
        }
        self.last_walk_cost = started.elapsed();
        let gone: Vec<u64> = self
            .known
            .keys()
            .filter(|id| !seen.contains(id))
            .copied()
            .collect();
        self.known.retain(|id, _| seen.contains(id));
        self.order = order;
        gone
    }

    /// One memcg's figures, None when `dir` is not a memory cgroup. v1's
    /// swappiness is read unless `swappiness` gives it (Some: as last read).
    fn read_one(
        &mut self,
        dir: &Path,
        id: u64,
        swappiness: Option<Option<u32>>,
    ) -> Option<MemcgSample> {
        self.last_reads += 1;
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
        let numa = read("memory.numa_stat");
        if numa.is_none() && dir != self.root {
            return None;
        }
        let rel = rel_path(&self.root, dir);
        let nodes = numa
            .map(|t| parse_numa_stat(&t, self.page_size))
            .unwrap_or_default();
        // v2: every node's five lists are there; their sum is the split.
        let lists = match nodes_lists_sum(&nodes) {
            Some(l) => Some(l),
            None => read("memory.stat")
                .as_deref()
                .and_then(|s| parse_memory_stat_lists(s, self.page_size)),
        };
        let swappiness = match swappiness {
            _ if !self.v1 => None,
            Some(known) => known,
            None => read("memory.swappiness").and_then(|s| s.trim().parse().ok()),
        };
        let mut sample = MemcgSample {
            path: rel,
            id,
            lists,
            nodes,
            swappiness,
        };
        // v1 has no per-node list split; on a single node the cgroup's split is the node's.
        if sample.nodes.len() == 1
            && let Some(l) = sample.lists
            && let Some(n) = sample.nodes.values_mut().next()
        {
            n.lists.get_or_insert(l);
        }
        Some(sample)
    }
}

/// See [`MemcgSampler::refresh_every`].
fn refresh_every(memcgs: usize) -> u64 {
    REFRESH_SAMPLES.max((memcgs as u64).div_ceil(QUIET_READS_MAX as u64))
}

/// The sum of every node's five lists, where every node has them (v2's
/// memory.numa_stat), else None.
fn nodes_lists_sum(nodes: &BTreeMap<u32, crate::model::input::MemcgNode>) -> Option<Lists> {
    if nodes.is_empty() {
        return None;
    }
    let mut sum: Lists = [0; 5];
    for n in nodes.values() {
        for (s, v) in sum.iter_mut().zip(n.lists?) {
            *s += v;
        }
    }
    Some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake v2 hierarchy of `n` memcgs under a temporary root.
    fn tree(n: usize) -> PathBuf {
        let root = std::env::temp_dir().join(format!("vmscan-memcgs-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for i in 0..n {
            let d = root.join(format!("cg{i:04}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                d.join("memory.numa_stat"),
                format!("anon N0={}\nfile N0=0\n", 4096 * (i + 1)),
            )
            .unwrap();
            std::fs::write(d.join("memory.stat"), "anon 4096\nfile 0\n").unwrap();
        }
        std::fs::write(root.join("memory.numa_stat"), "anon N0=0\n").unwrap();
        root
    }

    fn inode(p: &Path) -> u64 {
        std::fs::metadata(p).unwrap().ino()
    }

    #[test]
    fn checked_memcgs_join_when_active_and_stay_up_to_the_limit() {
        let root = tree(20);
        let mut s = MemcgSampler::new(&root, false, 4096, 10_000);
        s.sample(&BTreeSet::new());
        let id = |i: usize| inode(&root.join(format!("cg{i:04}")));
        std::fs::write(
            root.join("cg0003/memory.stat"),
            "anon 4096\nworkingset_refault_file 40\nworkingset_refault_anonx 1\npglazyfree 512\npgdeactivate 7\npgactivate 9\npgfault 11\n",
        )
        .unwrap();
        let mut c = MemcgChecks::default();
        // Unknown ids (not walked yet) cannot join.
        c.update(&BTreeSet::from([id(3), 999_999_999]), &s);
        let read = c.read();
        assert_eq!(read.len(), 1);
        let want: BTreeMap<String, u64> = [
            ("pgactivate".to_owned(), 9),
            ("pgdeactivate".to_owned(), 7),
            ("pglazyfree".to_owned(), 512),
            ("workingset_refault_file".to_owned(), 40),
        ]
        .into();
        assert_eq!(read[0].as_ref(), Some(&want), "only the checked counters");
        // v1: the hierarchical total_ lines, under their v2 names.
        let v1 = "workingset_refault_file 3\ntotal_workingset_refault_file 9\ntotal_pgpgin 4\n";
        assert_eq!(
            parse_checked_memory_stat(v1, true),
            BTreeMap::from([("workingset_refault_file".to_owned(), 9)])
        );
        let b = c.brackets(read.clone(), read);
        assert_eq!((b[0].id, b[0].path.as_str()), (id(3), "/cg0003"));
        // Up to MEMCG_CHECKS: then a newcomer takes the place of the one
        // quiet the longest, never of one active this interval.
        let busy: BTreeSet<u64> = (0..MEMCG_CHECKS).map(id).collect();
        c.update(&busy, &s);
        assert_eq!(c.members.len(), MEMCG_CHECKS);
        c.update(&BTreeSet::from([id(3)]), &s);
        c.update(&BTreeSet::from([id(19)]), &s);
        let ids: BTreeSet<u64> = c.members.iter().map(|m| m.0).collect();
        assert!(ids.contains(&id(19)) && ids.contains(&id(3)), "{ids:?}");
        assert_eq!(ids.len(), MEMCG_CHECKS);
        // A removed memcg leaves once the sampler forgets it.
        let gone = id(3);
        std::fs::remove_dir_all(root.join("cg0003")).unwrap();
        s.walk_next();
        s.sample(&BTreeSet::new());
        c.update(&BTreeSet::new(), &s);
        assert!(!c.members.iter().any(|m| m.0 == gone));
    }

    #[test]
    fn quiet_memcgs_are_read_in_turn_and_active_ones_every_time() {
        let root = tree(600);
        let mut s = MemcgSampler::new(&root, false, 4096, 10_000);
        let first = s.sample(&BTreeSet::new());
        assert_eq!(
            (first.memcgs.len(), first.partial),
            (601, false),
            "the first sample is every memcg"
        );
        assert_eq!(s.last_reads, 601);
        // Active: read every time; quiet: 601 / REFRESH_SAMPLES per sample.
        let busy = inode(&root.join("cg0007"));
        std::fs::write(root.join("cg0007/memory.numa_stat"), "anon N0=409600\n").unwrap();
        let second = s.sample(&BTreeSet::from([busy]));
        let budget = 601usize.div_ceil(REFRESH_SAMPLES as usize);
        assert!(second.partial);
        assert!(s.last_reads <= 2 + budget, "read {} memcgs", s.last_reads);
        assert_eq!(second.memcgs.len(), s.last_reads, "only what was read");
        let cg7 = second
            .memcgs
            .iter()
            .find(|m| m.id == busy)
            .expect("the active one is read");
        assert_eq!(cg7.nodes[&0].anon, 100, "and current");
        // Within REFRESH_SAMPLES samples every quiet one has been read again.
        std::fs::write(root.join("cg0500/memory.numa_stat"), "anon N0=8192\n").unwrap();
        let seen: Vec<MemcgSample> = (0..REFRESH_SAMPLES)
            .flat_map(|_| s.sample(&BTreeSet::new()).memcgs)
            .collect();
        assert_eq!(
            seen.iter()
                .find(|m| m.path == "/cg0500")
                .expect("read in its turn")
                .nodes[&0]
                .anon,
            2
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn removed_memcgs_go_and_new_active_ones_are_walked_for() {
        let root = tree(3);
        let mut s = MemcgSampler::new(&root, false, 4096, 10_000);
        assert_eq!(s.sample(&BTreeSet::new()).memcgs.len(), 4);
        let removed = inode(&root.join("cg0001"));
        // Created first, so that it cannot take the removed one's inode.
        std::fs::create_dir_all(root.join("new")).unwrap();
        std::fs::write(root.join("new/memory.numa_stat"), "anon N0=4096\n").unwrap();
        std::fs::remove_dir_all(root.join("cg0001")).unwrap();
        // Not walked again yet (a walk as costly as one on a big host).
        s.last_walk_cost = WALK_BUDGET.max;
        assert!(s.sample(&BTreeSet::new()).gone.is_empty());
        s.last_walk = Some(Instant::now() - MIN_REWALK);
        let new = inode(&root.join("new"));
        let u = s.sample(&BTreeSet::from([new]));
        assert_eq!(
            u.gone,
            [removed],
            "an unknown active id makes the walk come early"
        );
        assert!(u.memcgs.iter().any(|m| m.id == new && m.path == "/new"));
        // A final sample asks for a walk and gets one.
        std::fs::create_dir_all(root.join("last")).unwrap();
        std::fs::write(root.join("last/memory.numa_stat"), "anon N0=4096\n").unwrap();
        s.last_walk_cost = WALK_BUDGET.max;
        s.walk_next();
        assert!(
            s.sample(&BTreeSet::new())
                .memcgs
                .iter()
                .any(|m| m.path == "/last")
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn past_3000_memcgs_quiet_ones_wait_longer_and_reads_stay_bounded() {
        assert_eq!(refresh_every(600), REFRESH_SAMPLES);
        assert_eq!(refresh_every(3_000), REFRESH_SAMPLES);
        assert_eq!(refresh_every(10_000), 200);
        let root = tree(3_200);
        let mut s = MemcgSampler::new(&root, false, 4096, 10_000);
        assert_eq!(s.sample(&BTreeSet::new()).memcgs.len(), 3_201);
        assert_eq!(s.refresh_every(), 65);
        s.sample(&BTreeSet::new());
        assert_eq!(s.last_reads, 1 + QUIET_READS_MAX, "the root and the budget");
        // Every one is read again within refresh_every samples, none twice.
        let mut seen = BTreeMap::<u64, usize>::new();
        for _ in 1..s.refresh_every() {
            for m in s.sample(&BTreeSet::new()).memcgs {
                *seen.entry(m.id).or_default() += 1;
            }
        }
        let root_id = inode(&root);
        seen.remove(&root_id);
        assert!(seen.len() >= 3_200 - QUIET_READS_MAX, "{}", seen.len());
        assert!(seen.values().all(|&n| n == 1), "oldest first");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn reads_skip_what_they_do_not_need() {
        // v2: numa_stat's per-node lists are the split; memory.stat (here
        // deliberately different) is not read.
        let root = tree(1);
        let cg = root.join("cg0000");
        std::fs::write(
            cg.join("memory.numa_stat"),
            "anon N0=8192 N1=4096\nfile N0=4096 N1=0\n\
             inactive_anon N0=4096 N1=4096\nactive_anon N0=4096 N1=0\n\
             inactive_file N0=4096 N1=0\nactive_file N0=0 N1=0\nunevictable N0=0 N1=0\n",
        )
        .unwrap();
        let mut s = MemcgSampler::new(&root, false, 4096, 10);
        let first = s.sample(&BTreeSet::new());
        let m = first.memcgs.iter().find(|m| m.path == "/cg0000").unwrap();
        assert_eq!(m.lists, Some([2, 1, 1, 0, 0]));
        assert_eq!(m.nodes[&1].lists, Some([1, 0, 0, 0, 0]));
        // Without the lists (v1's numa_stat), memory.stat gives the split.
        std::fs::write(cg.join("memory.numa_stat"), "anon N0=4096\nfile N0=0\n").unwrap();
        std::fs::write(
            cg.join("memory.stat"),
            "inactive_anon 4096\nactive_anon 8192\ninactive_file 0\nactive_file 0\nunevictable 0\n",
        )
        .unwrap();
        let id = inode(&cg);
        let u = s.sample(&BTreeSet::from([id]));
        let m = u.memcgs.iter().find(|m| m.id == id).expect("active: read");
        assert_eq!(m.lists, Some([1, 2, 0, 0, 0]));
        let _ = std::fs::remove_dir_all(&root);

        // v1: swappiness is read when a memcg is found or active, kept when
        // a quiet one is read in its turn.
        let root = tree(1);
        let cg = root.join("cg0000");
        std::fs::write(cg.join("memory.swappiness"), "60\n").unwrap();
        let id = inode(&cg);
        let mut s = MemcgSampler::new(&root, true, 4096, 10);
        let swappiness =
            |u: MemcgUpdate| u.memcgs.iter().find(|m| m.id == id).map(|m| m.swappiness);
        assert_eq!(swappiness(s.sample(&BTreeSet::new())), Some(Some(60)));
        std::fs::write(cg.join("memory.swappiness"), "10\n").unwrap();
        let quiet = (0..REFRESH_SAMPLES)
            .find_map(|_| swappiness(s.sample(&BTreeSet::new())))
            .expect("read in its turn");
        assert_eq!(quiet, Some(60), "kept");
        assert_eq!(swappiness(s.sample(&BTreeSet::from([id]))), Some(Some(10)));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn the_walk_finds_nested_memcgs_and_a_full_sample_reads_all() {
        let root = tree(2);
        let nested = root.join("cg0001/a/b");
        std::fs::create_dir_all(&nested).unwrap();
        for d in [root.join("cg0001/a"), nested.clone()] {
            std::fs::write(d.join("memory.numa_stat"), "anon N0=4096\n").unwrap();
        }
        let mut s = MemcgSampler::new(&root, false, 4096, 10);
        let paths: Vec<String> = s
            .sample(&BTreeSet::new())
            .memcgs
            .into_iter()
            .map(|m| m.path)
            .collect();
        assert_eq!(
            paths,
            ["/", "/cg0000", "/cg0001", "/cg0001/a", "/cg0001/a/b"]
        );
        // Later samples are partial; one asked to be full reads every memcg.
        assert!(s.sample(&BTreeSet::new()).partial);
        s.full_next();
        let full = s.sample(&BTreeSet::new());
        assert!(!full.partial);
        assert_eq!((full.memcgs.len(), s.last_reads), (5, 5));
        assert!(s.sample(&BTreeSet::new()).partial, "once");
        let _ = std::fs::remove_dir_all(&root);
    }
}
