//! Refaults (workingset_refault): which cgroups, files and tasks read back
//! pages reclaim had evicted, what the kernel decided (activated, restored),
//! how far each refault was from surviving, and the what-if curve.
//!
//! The refault distance is mm/workingset.c's: the eviction lruvec's
//! nonresident_age at refault minus the one stored at eviction, in pages.
//! The kernel's own comment reads it as the number of pages the folio
//! needed on top of the inactive list to stay resident; so a refault at
//! distance d would have been a hit had the cgroup had d more pages. Summed
//! over a window, the distance histogram is a reuse-distance miss-ratio
//! curve: [`what_if`] turns it into "+N MiB avoids X% of the refaults".

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;
use vmscan_common::{
    PagesAgg, RefaultAgg, RefaultDistKey, RefaultFileKey, RefaultKey, RefaultTaskKey,
    distance_bounds,
};

/// One point of a what-if curve: with `extra_bytes` more memory, the
/// cgroup would have avoided `avoided_pages` of the refaults whose distance
/// was measured (`percent` of them).
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct WhatIfPoint {
    pub extra_bytes: u64,
    pub avoided_pages: u64,
    pub percent: f64,
}

/// A bucket of the distance histogram: refaulted pages with a distance in
/// `[lo_pages, hi_pages)` (hi_pages is null for the open last bucket).
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct DistanceBucket {
    pub lo_pages: u64,
    pub hi_pages: Option<u64>,
    pub pages: u64,
}

/// The what-if curve of one histogram: one point per bucket edge with
/// refaults below it, extra memory rounded up to the bucket's end (a
/// refault at distance d needs d more pages; every d in the bucket is
/// below its end). Empty when nothing was measured.
pub fn what_if(hist: &BTreeMap<u32, u64>, page_size: u64) -> Vec<WhatIfPoint> {
    let total: u64 = hist.values().sum();
    if total == 0 {
        return vec![];
    }
    let mut acc = 0u64;
    let mut out = Vec::new();
    for (&b, &pages) in hist {
        if pages == 0 {
            continue;
        }
        acc += pages;
        let (_, hi) = distance_bounds(b);
        if hi == u64::MAX {
            break;
        }
        out.push(WhatIfPoint {
            extra_bytes: hi.saturating_mul(page_size),
            avoided_pages: acc,
            percent: 100.0 * acc as f64 / total as f64,
        });
    }
    out
}

/// The least extra memory that avoids at least `percent` of the measured
/// refaults, from a curve (None if no point reaches it).
pub fn extra_for(curve: &[WhatIfPoint], percent: f64) -> Option<u64> {
    curve
        .iter()
        .find(|p| p.percent + 1e-9 >= percent)
        .map(|p| p.extra_bytes)
}

/// One memory cgroup's refaults over the window.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct MemcgRefaults {
    pub cgroup_id: u64,
    /// Path below the cgroup root ("/" is the root), when known.
    pub path: Option<String>,
    /// Refaulted pages as /proc/vmstat and memory.stat count them
    /// (workingset_refault_file / _anon).
    pub file_pages: u64,
    pub anon_pages: u64,
    pub pages_per_sec: f64,
    /// workingset_activate_*: refaulted pages the kernel activated (their
    /// distance was within the workingset). None under MGLRU, which counts
    /// activations by whether the task is in a fault, not by a flag.
    pub activated_pages: Option<u64>,
    /// workingset_restore_*: refaulted pages that were in the workingset
    /// (active) when evicted.
    pub restored_pages: u64,
    /// Refaulted pages whose distance was measured (the shadow named this
    /// cgroup and node); the curve's percentages are of these.
    pub measured_pages: u64,
    /// Refaulted pages per node.
    pub nodes: BTreeMap<u32, u64>,
    pub histogram: Vec<DistanceBucket>,
    pub what_if: Vec<WhatIfPoint>,
    /// The least extra memory that avoids half, 90% and 99% of the
    /// measured refaults.
    pub extra_for_50: Option<u64>,
    pub extra_for_90: Option<u64>,
    pub extra_for_99: Option<u64>,
}

impl MemcgRefaults {
    pub fn pages(&self) -> u64 {
        self.file_pages + self.anon_pages
    }
}

/// One file's refaults (file LRU only), per refaulting cgroup.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct FileRefaults {
    /// Device as major:minor and inode number.
    pub dev: String,
    pub ino: u64,
    /// A path of the file, when a process has it open or mapped.
    pub path: Option<String>,
    pub cgroup: Option<String>,
    pub pages: u64,
    pub folios: u64,
}

/// One task's refaults.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct TaskRefaults {
    pub pid: u32,
    pub comm: String,
    pub cgroup: Option<String>,
    pub file_pages: u64,
    pub anon_pages: u64,
}

/// Everything `vmscan refaults` shows.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct RefaultReport {
    pub window_secs: f64,
    /// "classic" or "mglru".
    pub lru: &'static str,
    /// Whole-machine totals, in pages (= /proc/vmstat's workingset_*).
    pub file_pages: u64,
    pub anon_pages: u64,
    pub activated_pages: Option<u64>,
    pub restored_pages: u64,
    /// workingset_refault calls the kernel did not count (MGLRU: evicted
    /// from another lruvec; 6.1: generations ago); not in the totals.
    pub uncounted_calls: u64,
    /// Why refault distances and the what-if curve are missing, if they are.
    pub no_distance: Option<String>,
    pub memcgs: Vec<MemcgRefaults>,
    pub files: Vec<FileRefaults>,
    pub tasks: Vec<TaskRefaults>,
}

/// The refault aggregates of a window.
pub struct RefaultInput<'a> {
    pub refault: &'a BTreeMap<RefaultKey, RefaultAgg>,
    pub dist: &'a BTreeMap<RefaultDistKey, PagesAgg>,
    pub files: &'a BTreeMap<RefaultFileKey, PagesAgg>,
    pub tasks: &'a BTreeMap<RefaultTaskKey, PagesAgg>,
}

/// How the report names and filters things.
pub struct RefaultView<'a> {
    pub window_secs: f64,
    pub mglru: bool,
    pub page_size: u64,
    pub no_distance: Option<String>,
    pub memcg_path: &'a dyn Fn(u64) -> Option<String>,
    pub file_path: &'a dyn Fn(u32, u64) -> Option<String>,
    /// Only this cgroup (kernfs id).
    pub only: Option<u64>,
}

/// Kernel dev_t (MAJOR << 20 | MINOR) as "major:minor".
pub fn dev_name(dev: u32) -> String {
    format!("{}:{}", dev >> 20, dev & 0xfffff)
}

fn comm(c: &[u8; 16]) -> String {
    let end = c.iter().position(|&b| b == 0).unwrap_or(16);
    String::from_utf8_lossy(&c[..end]).into_owned()
}

/// Builds the report (pure): cgroups by refaulted pages, files and tasks
/// likewise.
pub fn build(input: &RefaultInput, v: &RefaultView) -> RefaultReport {
    let keep = |id: u64| v.only.is_none_or(|o| o == id);
    let mut rep = RefaultReport {
        window_secs: v.window_secs,
        lru: if v.mglru { "mglru" } else { "classic" },
        no_distance: v.no_distance.clone(),
        activated_pages: (!v.mglru).then_some(0),
        ..Default::default()
    };
    let mut memcgs: BTreeMap<u64, MemcgRefaults> = BTreeMap::new();
    for (k, a) in input.refault {
        if !keep(k.cgroup_id) {
            continue;
        }
        rep.uncounted_calls += a.uncounted;
        let m = memcgs.entry(k.cgroup_id).or_insert_with(|| MemcgRefaults {
            cgroup_id: k.cgroup_id,
            path: (v.memcg_path)(k.cgroup_id),
            activated_pages: (!v.mglru).then_some(0),
            ..Default::default()
        });
        if k.file != 0 {
            m.file_pages += a.pages
        } else {
            m.anon_pages += a.pages
        }
        if let Some(x) = m.activated_pages.as_mut() {
            *x += a.activated;
        }
        m.restored_pages += a.restored;
        m.measured_pages += a.measured;
        if a.pages > 0 {
            *m.nodes.entry(k.node).or_default() += a.pages;
        }
    }
    let mut hists: BTreeMap<u64, BTreeMap<u32, u64>> = BTreeMap::new();
    for (k, a) in input.dist {
        if keep(k.cgroup_id) {
            *hists
                .entry(k.cgroup_id)
                .or_default()
                .entry(k.bucket)
                .or_default() += a.pages;
        }
    }
    for m in memcgs.values_mut() {
        m.pages_per_sec = if v.window_secs > 0.0 {
            m.pages() as f64 / v.window_secs
        } else {
            0.0
        };
        if let Some(h) = hists.get(&m.cgroup_id) {
            m.histogram = h
                .iter()
                .filter(|(_, p)| **p > 0)
                .map(|(&b, &pages)| {
                    let (lo, hi) = distance_bounds(b);
                    DistanceBucket {
                        lo_pages: lo,
                        hi_pages: (hi != u64::MAX).then_some(hi),
                        pages,
                    }
                })
                .collect();
            m.what_if = what_if(h, v.page_size);
            m.extra_for_50 = extra_for(&m.what_if, 50.0);
            m.extra_for_90 = extra_for(&m.what_if, 90.0);
            m.extra_for_99 = extra_for(&m.what_if, 99.0);
        }
        rep.file_pages += m.file_pages;
        rep.anon_pages += m.anon_pages;
        rep.restored_pages += m.restored_pages;
        if let (Some(t), Some(x)) = (rep.activated_pages.as_mut(), m.activated_pages) {
            *t += x;
        }
    }
    rep.memcgs = memcgs
        .into_values()
        .filter(|m| m.pages() > 0 || !m.histogram.is_empty())
        .collect();
    rep.memcgs.sort_by(|a, b| {
        b.pages()
            .cmp(&a.pages())
            .then(a.cgroup_id.cmp(&b.cgroup_id))
    });

    let mut files: Vec<FileRefaults> = input
        .files
        .iter()
        .filter(|(k, _)| keep(k.cgroup_id))
        .map(|(k, a)| FileRefaults {
            dev: dev_name(k.dev),
            ino: k.ino,
            path: (v.file_path)(k.dev, k.ino),
            cgroup: (v.memcg_path)(k.cgroup_id),
            pages: a.pages,
            folios: a.folios,
        })
        .collect();
    files.sort_by(|a, b| b.pages.cmp(&a.pages).then(a.ino.cmp(&b.ino)));
    rep.files = files;

    let mut tasks: BTreeMap<(u32, [u8; 16], u64), TaskRefaults> = BTreeMap::new();
    for (k, a) in input.tasks.iter().filter(|(k, _)| keep(k.cgroup_id)) {
        let t = tasks
            .entry((k.tgid, k.comm, k.cgroup_id))
            .or_insert_with(|| TaskRefaults {
                pid: k.tgid,
                comm: comm(&k.comm),
                cgroup: (v.memcg_path)(k.cgroup_id),
                ..Default::default()
            });
        if k.file != 0 {
            t.file_pages += a.pages
        } else {
            t.anon_pages += a.pages
        }
    }
    let mut tasks: Vec<TaskRefaults> = tasks.into_values().collect();
    tasks.sort_by(|a, b| {
        (b.file_pages + b.anon_pages)
            .cmp(&(a.file_pages + a.anon_pages))
            .then(a.pid.cmp(&b.pid))
    });
    rep.tasks = tasks;
    rep
}

/// Bytes as MiB with one decimal, or KiB below a MiB.
pub fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

/// The curve as a line: "+64.0 MiB: 41%, +128.0 MiB: 88%"; at most `n`
/// points, always keeping the ones where 50, 90 and 99% are reached.
pub fn curve_line(m: &MemcgRefaults, n: usize) -> String {
    if m.what_if.is_empty() {
        return String::new();
    }
    let marks: Vec<u64> = [m.extra_for_50, m.extra_for_90, m.extra_for_99]
        .into_iter()
        .flatten()
        .collect();
    let step = (m.what_if.len() / n.max(1)).max(1);
    let pts: Vec<&WhatIfPoint> = m
        .what_if
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            i % step == step - 1 || marks.contains(&p.extra_bytes) || *i == m.what_if.len() - 1
        })
        .map(|(_, p)| p)
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    pts.into_iter()
        .filter(|p| seen.insert(p.extra_bytes))
        .map(|p| format!("+{}: {:.0}%", size(p.extra_bytes), p.percent))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The report as text.
pub fn render(rep: &RefaultReport, top: usize) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let act = rep
        .activated_pages
        .map_or("not derivable under MGLRU".to_owned(), |a| a.to_string());
    let _ = writeln!(
        o,
        "refaults over {:.1} s ({} LRU): {} file + {} anon pages; activated {}, restored {}",
        rep.window_secs, rep.lru, rep.file_pages, rep.anon_pages, act, rep.restored_pages
    );
    if rep.uncounted_calls > 0 {
        let _ = writeln!(
            o,
            "  {} workingset_refault calls the kernel did not count (MGLRU: evicted from another lruvec or generation)",
            rep.uncounted_calls
        );
    }
    if let Some(why) = &rep.no_distance {
        let _ = writeln!(o, "  no refault distances or what-if curve: {why}");
    }
    let _ = writeln!(o, "\nmemory cgroups by refaulted pages:");
    if rep.memcgs.is_empty() {
        let _ = writeln!(o, "  (no refaults in the window)");
    }
    for m in rep.memcgs.iter().take(top) {
        let act = m.activated_pages.map_or("-".to_owned(), |a| a.to_string());
        let _ = writeln!(
            o,
            "  {:<40} {:>9} file {:>9} anon {:>9.1}/s  activated {:>8}  restored {:>8}",
            crate::text::fit(m.path.as_deref().unwrap_or("(unknown cgroup)"), 40),
            m.file_pages,
            m.anon_pages,
            m.pages_per_sec,
            act,
            m.restored_pages
        );
        if !m.what_if.is_empty() {
            let pct = if m.pages() > 0 {
                100.0 * m.measured_pages as f64 / m.pages() as f64
            } else {
                0.0
            };
            let _ = writeln!(
                o,
                "      what if it had more memory ({:.0}% of its refaults measured): {}",
                pct,
                curve_line(m, 6)
            );
        }
    }
    if !rep.files.is_empty() {
        let _ = writeln!(o, "\nfiles by refaulted pages:");
        for f in rep.files.iter().take(top) {
            let name = f
                .path
                .clone()
                .unwrap_or_else(|| format!("(inode {} on {})", f.ino, f.dev));
            let _ = writeln!(
                o,
                "  {:>9} pages  {}  [{}]",
                f.pages,
                crate::text::fit(&name, 70),
                f.cgroup.as_deref().unwrap_or("?")
            );
        }
    }
    if !rep.tasks.is_empty() {
        let _ = writeln!(o, "\ntasks by refaulted pages:");
        for t in rep.tasks.iter().take(top) {
            let _ = writeln!(
                o,
                "  {:>7} {:<16} {:>9} file {:>9} anon  [{}]",
                t.pid,
                t.comm,
                t.file_pages,
                t.anon_pages,
                t.cgroup.as_deref().unwrap_or("?")
            );
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use vmscan_common::distance_bucket;

    use super::*;

    #[test]
    fn the_curve_accumulates_to_the_bucket_ends() {
        // 100 pages refaulted at ~1000 pages, 300 at ~5000: +1024 pages
        // (4 MiB at 4 KiB pages) avoids 25%, the end of 5000's bucket 100%.
        let mut h = BTreeMap::new();
        h.insert(distance_bucket(1000), 100);
        h.insert(distance_bucket(5000), 300);
        let c = what_if(&h, 4096);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].extra_bytes, 1024 * 4096);
        assert!((c[0].percent - 25.0).abs() < 1e-9);
        assert_eq!(c[1].extra_bytes, 5120 * 4096, "5000 is in [4096, 5120)");
        assert_eq!(c[1].avoided_pages, 400);
        assert_eq!(extra_for(&c, 90.0), Some(5120 * 4096));
        assert_eq!(extra_for(&c, 20.0), Some(1024 * 4096));
        assert!(what_if(&BTreeMap::new(), 4096).is_empty());
    }

    #[test]
    fn the_report_splits_by_cgroup_file_and_task() {
        let mut refault = BTreeMap::new();
        refault.insert(
            RefaultKey {
                cgroup_id: 7,
                node: 0,
                file: 1,
            },
            RefaultAgg {
                pages: 90,
                folios: 90,
                activated: 30,
                restored: 10,
                measured: 80,
                uncounted: 0,
            },
        );
        refault.insert(
            RefaultKey {
                cgroup_id: 7,
                node: 1,
                file: 0,
            },
            RefaultAgg {
                pages: 10,
                folios: 10,
                activated: 0,
                restored: 0,
                measured: 10,
                uncounted: 2,
            },
        );
        refault.insert(
            RefaultKey {
                cgroup_id: 9,
                node: 0,
                file: 1,
            },
            RefaultAgg {
                pages: 5,
                folios: 5,
                ..Default::default()
            },
        );
        let mut dist = BTreeMap::new();
        dist.insert(
            RefaultDistKey {
                cgroup_id: 7,
                file: 1,
                bucket: distance_bucket(2000),
            },
            PagesAgg {
                pages: 90,
                folios: 90,
            },
        );
        let mut files = BTreeMap::new();
        files.insert(
            RefaultFileKey {
                ino: 12,
                cgroup_id: 7,
                dev: (8 << 20) | 1,
                _pad: 0,
            },
            PagesAgg {
                pages: 90,
                folios: 90,
            },
        );
        let mut tasks = BTreeMap::new();
        let mut c = [0u8; 16];
        c[..3].copy_from_slice(b"cat");
        tasks.insert(
            RefaultTaskKey {
                cgroup_id: 7,
                tgid: 42,
                file: 1,
                comm: c,
            },
            PagesAgg {
                pages: 90,
                folios: 90,
            },
        );
        let input = RefaultInput {
            refault: &refault,
            dist: &dist,
            files: &files,
            tasks: &tasks,
        };
        let names = |id: u64| (id == 7).then(|| "/t".to_owned());
        let path = |_: u32, ino: u64| (ino == 12).then(|| "/mnt/f".to_owned());
        let v = |mglru, only| RefaultView {
            window_secs: 10.0,
            mglru,
            page_size: 4096,
            no_distance: None,
            memcg_path: &names,
            file_path: &path,
            only,
        };
        let r = build(&input, &v(false, None));
        assert_eq!(
            (
                r.file_pages,
                r.anon_pages,
                r.activated_pages,
                r.restored_pages,
                r.uncounted_calls
            ),
            (95, 10, Some(30), 10, 2)
        );
        assert_eq!(r.memcgs[0].path.as_deref(), Some("/t"));
        assert_eq!(r.memcgs[0].nodes, BTreeMap::from([(0, 90), (1, 10)]));
        assert!((r.memcgs[0].pages_per_sec - 10.0).abs() < 1e-9);
        assert_eq!(r.memcgs[0].extra_for_90, Some(2048 * 4096));
        assert_eq!(r.files[0].dev, "8:1");
        assert_eq!(r.files[0].path.as_deref(), Some("/mnt/f"));
        assert_eq!(
            (
                r.tasks[0].pid,
                r.tasks[0].comm.as_str(),
                r.tasks[0].file_pages
            ),
            (42, "cat", 90)
        );
        let text = render(&r, 10);
        assert!(text.contains("+8.0 MiB: 100%"), "{text}");
        let only = build(&input, &v(false, Some(9)));
        assert_eq!(
            (only.memcgs.len(), only.file_pages, only.files.len()),
            (1, 5, 0)
        );
        let mglru = build(&input, &v(true, None));
        assert_eq!(mglru.activated_pages, None);
        assert!(render(&mglru, 10).contains("not derivable under MGLRU"));
    }
}
