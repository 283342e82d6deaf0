//! [`Totals`]: the kernel side's aggregates summed over CPUs, and deltas
//! between two readings.

use std::collections::BTreeMap;

use vmscan_common::{HookId, 
    AccessAgg, AccessKey, FolioAgg, MemcgLruKey, HIST_SLOTS, ISOLATE_SLOTS, IsolateAgg, LRU_SLOTS, SHRINK_SLOTS, ShrinkActiveAgg,
    ShrinkInactiveAgg, THROTTLE_SLOTS, ThrottleAgg, WRITE_SLOTS, hook,
};

/// Monotonic totals since the programs were loaded, one entry per map slot.
#[derive(Clone, Debug, PartialEq)]
pub struct Totals {
    pub hits: Vec<u64>,
    pub lost: Vec<u64>,
    pub isolate: Vec<IsolateAgg>,
    pub shrink_inactive: Vec<ShrinkInactiveAgg>,
    pub shrink_active: Vec<ShrinkActiveAgg>,
    pub lru_insert: Vec<FolioAgg>,
    pub lru_activate: Vec<FolioAgg>,
    pub write_folio: Vec<u64>,
    pub throttle: Vec<ThrottleAgg>,
    pub hist: Vec<u64>,
    /// LRU insertions per (memory cgroup, node, list).
    pub memcg_insert: BTreeMap<MemcgLruKey, FolioAgg>,
    /// folio_mark_accessed calls per (stack, node, outcome, file, exiting).
    pub access: BTreeMap<AccessKey, AccessAgg>,
}

impl Default for Totals {
    fn default() -> Self {
        Self {
            hits: vec![0; hook::SLOTS as usize],
            lost: vec![0; hook::SLOTS as usize],
            isolate: vec![IsolateAgg::default(); ISOLATE_SLOTS as usize],
            shrink_inactive: vec![ShrinkInactiveAgg::default(); SHRINK_SLOTS as usize],
            shrink_active: vec![ShrinkActiveAgg::default(); SHRINK_SLOTS as usize],
            lru_insert: vec![FolioAgg::default(); LRU_SLOTS as usize],
            lru_activate: vec![FolioAgg::default(); LRU_SLOTS as usize],
            write_folio: vec![0; WRITE_SLOTS as usize],
            throttle: vec![ThrottleAgg::default(); THROTTLE_SLOTS as usize],
            hist: vec![0; HIST_SLOTS as usize],
            memcg_insert: BTreeMap::new(),
            access: BTreeMap::new(),
        }
    }
}

/// Field-wise addition (`add`) and subtraction (`sub`) of the records.
pub mod add {
    use super::*;
    pub fn isolate(a: &mut IsolateAgg, b: &IsolateAgg) {
        a.events += b.events;
        a.requested += b.requested;
        a.scanned += b.scanned;
        a.skipped += b.skipped;
        a.taken += b.taken;
    }
    pub fn shrink_inactive(a: &mut ShrinkInactiveAgg, b: &ShrinkInactiveAgg) {
        a.passes += b.passes;
        a.scanned += b.scanned;
        a.reclaimed += b.reclaimed;
        a.dirty += b.dirty;
        a.writeback += b.writeback;
        a.congested += b.congested;
        a.immediate += b.immediate;
        a.activate_anon += b.activate_anon;
        a.activate_file += b.activate_file;
        a.ref_keep += b.ref_keep;
        a.unmap_fail += b.unmap_fail;
        for (x, y) in a.priority.iter_mut().zip(b.priority.iter()) {
            *x += y;
        }
    }
    pub fn shrink_active(a: &mut ShrinkActiveAgg, b: &ShrinkActiveAgg) {
        a.passes += b.passes;
        a.taken += b.taken;
        a.active += b.active;
        a.deactivated += b.deactivated;
        a.referenced += b.referenced;
    }
    pub fn folio(a: &mut FolioAgg, b: &FolioAgg) {
        a.folios += b.folios;
        a.pages += b.pages;
    }
    pub fn throttle(a: &mut ThrottleAgg, b: &ThrottleAgg) {
        a.events += b.events;
        a.usec_timeout += b.usec_timeout;
        a.usec_delayed += b.usec_delayed;
    }
}

/// A hook's (events, lost) as every output shows them. shrink_node is two
/// programs (entry and return): its events are passes, the larger of the two
/// run counts, and its losses those of both.
pub fn hook_figures(hits: &[u64], lost: &[u64], id: HookId) -> (u64, u64) {
    let at = |v: &[u64], i: HookId| v.get(i.slot() as usize).copied().unwrap_or(0);
    if id == hook::SHRINK_NODE {
        let ret = hook::SHRINK_NODE_RET;
        (at(hits, id).max(at(hits, ret)), at(lost, id) + at(lost, ret))
    } else {
        (at(hits, id), at(lost, id))
    }
}

fn sub_u64(a: &[u64], b: &[u64]) -> Vec<u64> {
    a.iter().zip(b).map(|(x, y)| x.saturating_sub(*y)).collect()
}

impl Totals {
    /// What happened between `earlier` and `self`. Counters only grow, so a
    /// negative difference (which would mean a bug or a reload) clamps to 0.
    pub fn since(&self, earlier: &Totals) -> Totals {
        macro_rules! each {
            ($a:expr, $b:expr, |$x:ident, $y:ident| $body:expr) => {
                $a.iter().zip($b.iter()).map(|($x, $y)| $body).collect()
            };
        }
        Totals {
            hits: sub_u64(&self.hits, &earlier.hits),
            lost: sub_u64(&self.lost, &earlier.lost),
            isolate: each!(self.isolate, earlier.isolate, |x, y| IsolateAgg {
                events: x.events.saturating_sub(y.events),
                requested: x.requested.saturating_sub(y.requested),
                scanned: x.scanned.saturating_sub(y.scanned),
                skipped: x.skipped.saturating_sub(y.skipped),
                taken: x.taken.saturating_sub(y.taken),
            }),
            shrink_inactive: each!(self.shrink_inactive, earlier.shrink_inactive, |x, y| {
                let mut p = [0u64; 16];
                for (i, v) in p.iter_mut().enumerate() {
                    *v = x.priority[i].saturating_sub(y.priority[i]);
                }
                ShrinkInactiveAgg {
                    passes: x.passes.saturating_sub(y.passes),
                    scanned: x.scanned.saturating_sub(y.scanned),
                    reclaimed: x.reclaimed.saturating_sub(y.reclaimed),
                    dirty: x.dirty.saturating_sub(y.dirty),
                    writeback: x.writeback.saturating_sub(y.writeback),
                    congested: x.congested.saturating_sub(y.congested),
                    immediate: x.immediate.saturating_sub(y.immediate),
                    activate_anon: x.activate_anon.saturating_sub(y.activate_anon),
                    activate_file: x.activate_file.saturating_sub(y.activate_file),
                    ref_keep: x.ref_keep.saturating_sub(y.ref_keep),
                    unmap_fail: x.unmap_fail.saturating_sub(y.unmap_fail),
                    priority: p,
                }
            }),
            shrink_active: each!(self.shrink_active, earlier.shrink_active, |x, y| ShrinkActiveAgg {
                passes: x.passes.saturating_sub(y.passes),
                taken: x.taken.saturating_sub(y.taken),
                active: x.active.saturating_sub(y.active),
                deactivated: x.deactivated.saturating_sub(y.deactivated),
                referenced: x.referenced.saturating_sub(y.referenced),
            }),
            lru_insert: each!(self.lru_insert, earlier.lru_insert, |x, y| FolioAgg {
                folios: x.folios.saturating_sub(y.folios),
                pages: x.pages.saturating_sub(y.pages),
            }),
            lru_activate: each!(self.lru_activate, earlier.lru_activate, |x, y| FolioAgg {
                folios: x.folios.saturating_sub(y.folios),
                pages: x.pages.saturating_sub(y.pages),
            }),
            write_folio: sub_u64(&self.write_folio, &earlier.write_folio),
            throttle: each!(self.throttle, earlier.throttle, |x, y| ThrottleAgg {
                events: x.events.saturating_sub(y.events),
                usec_timeout: x.usec_timeout.saturating_sub(y.usec_timeout),
                usec_delayed: x.usec_delayed.saturating_sub(y.usec_delayed),
            }),
            hist: sub_u64(&self.hist, &earlier.hist),
            memcg_insert: self
                .memcg_insert
                .iter()
                .filter_map(|(k, v)| {
                    let e = earlier.memcg_insert.get(k).copied().unwrap_or_default();
                    let d = FolioAgg { folios: v.folios.saturating_sub(e.folios), pages: v.pages.saturating_sub(e.pages) };
                    (d.folios > 0).then_some((*k, d))
                })
                .collect(),
            access: self
                .access
                .iter()
                .filter_map(|(k, v)| {
                    let e = earlier.access.get(k).copied().unwrap_or_default();
                    let d = AccessAgg { calls: v.calls.saturating_sub(e.calls), pages: v.pages.saturating_sub(e.pages) };
                    (d.calls > 0).then_some((*k, d))
                })
                .collect(),
        }
    }

    /// Adds a delta (the inverse of [`Totals::since`]).
    pub fn accumulate(&mut self, d: &Totals) {
        fn addv(a: &mut [u64], b: &[u64]) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        addv(&mut self.hits, &d.hits);
        addv(&mut self.lost, &d.lost);
        for (a, b) in self.isolate.iter_mut().zip(&d.isolate) {
            add::isolate(a, b);
        }
        for (a, b) in self.shrink_inactive.iter_mut().zip(&d.shrink_inactive) {
            add::shrink_inactive(a, b);
        }
        for (a, b) in self.shrink_active.iter_mut().zip(&d.shrink_active) {
            add::shrink_active(a, b);
        }
        for (a, b) in self.lru_insert.iter_mut().zip(&d.lru_insert) {
            add::folio(a, b);
        }
        for (a, b) in self.lru_activate.iter_mut().zip(&d.lru_activate) {
            add::folio(a, b);
        }
        addv(&mut self.write_folio, &d.write_folio);
        for (a, b) in self.throttle.iter_mut().zip(&d.throttle) {
            add::throttle(a, b);
        }
        addv(&mut self.hist, &d.hist);
        for (k, v) in &d.memcg_insert {
            add::folio(self.memcg_insert.entry(*k).or_default(), v);
        }
        for (k, v) in &d.access {
            let e = self.access.entry(*k).or_default();
            e.calls += v.calls;
            e.pages += v.pages;
        }
    }
}
