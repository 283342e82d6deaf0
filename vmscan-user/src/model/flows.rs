//! Flows between the five LRU lists of one node over an interval, following
//! mm/vmscan.c and mm/swap.c:
//! - mm_lru_insertion: a folio enters list `lru` (+pages there);
//! - mm_lru_activate (folio_activate): inactive -> active of its type;
//! - shrink_inactive_list: nr_reclaimed leave the inactive list, nr_activate
//!   move to the active list, the rest go back where they were;
//! - shrink_active_list: nr_deactivated move active -> inactive;
//! - the MADV_COLD and invalidation batches (lru_deactivate,
//!   lru_deactivate_file, where hooked): active -> inactive of the type;
//! - MADV_FREE's batch (lru_lazyfree, where hooked): anon (inactive or
//!   active) -> inactive file;
//! - isolation outside reclaim (folio_isolate_lru, and compaction's
//!   isolate_migratepages_block, where hooked): off its list; back through
//!   an insertion.
//! - the mlock batch (mlock_folio_batch, where hooked): mlock to the
//!   unevictable list, munlock back from it, and a locked VMA's new folios
//!   onto it (no insertion event).
//!
//! From them: the list sizes the events predict, and per-second rates.

use vmscan_common::{lru, reclaimer, shrink_index};

use super::{
    counters::{Counting, NodeCounters},
    snapshot::{RATE_PASS_FIELDS, RATE_REFILL_FIELDS, Rates},
    totals::Totals,
};

/// Pages one node moved between active and inactive over an interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flows {
    pub activated_anon: u64,
    pub activated_file: u64,
    pub deactivated_anon: u64,
    pub deactivated_file: u64,
    /// Of which the batches outside reclaim moved (the rest: reclaim's
    /// shrink_active_list).
    pub batch_deactivated: u64,
    /// MADV_FREE: inactive anon -> inactive file, active anon -> inactive file.
    pub lazyfree_from_inactive: u64,
    pub lazyfree_from_active: u64,
}

impl Flows {
    /// The moves of node `nc.node` in the interval delta `d`.
    pub fn of(d: &Totals, nc: &NodeCounters) -> Self {
        let (mut deactivated_anon, mut deactivated_file) = (0u64, 0u64);
        for rec in 0..reclaimer::COUNT {
            for file in 0..2u32 {
                let s = &d.shrink_active[shrink_index(nc.node, rec, file) as usize];
                if file == 1 {
                    deactivated_file += s.deactivated;
                } else {
                    deactivated_anon += s.deactivated;
                }
            }
        }
        let (batch_anon, batch_file) = (
            nc.moved.batch_deactivated_anon.unwrap_or(0),
            nc.moved.batch_deactivated_file.unwrap_or(0),
        );
        Self {
            activated_anon: nc.activate_anon + nc.lru_activated_anon,
            activated_file: nc.activate_file + nc.lru_activated_file,
            deactivated_anon: deactivated_anon + batch_anon,
            deactivated_file: deactivated_file + batch_file,
            batch_deactivated: batch_anon + batch_file,
            lazyfree_from_inactive: nc.moved.lazyfree_from_inactive.unwrap_or(0),
            lazyfree_from_active: nc.moved.lazyfree_from_active.unwrap_or(0),
        }
    }

    /// Moves the predicted list sizes `p` by these flows, the insertions and
    /// the reclaim of `nc`. Pages move within their type, except MADV_FREE's
    /// (anon -> file: the kernel clears PG_swapbacked).
    pub fn predict(&self, nc: &NodeCounters, p: &mut [i64; 5]) {
        let i = |v: u64| v as i64;
        let ins = nc.inserted;
        let (act_anon, act_file, deact_anon, deact_file) = (
            self.activated_anon,
            self.activated_file,
            self.deactivated_anon,
            self.deactivated_file,
        );
        let (lazy_inactive, lazy_active) = (self.lazyfree_from_inactive, self.lazyfree_from_active);
        p[lru::INACTIVE_ANON as usize] +=
            i(ins[0]) - i(nc.reclaimed_anon) - i(act_anon) + i(deact_anon) - i(lazy_inactive);
        p[lru::ACTIVE_ANON as usize] += i(ins[1]) + i(act_anon) - i(deact_anon) - i(lazy_active);
        p[lru::INACTIVE_FILE as usize] += i(ins[2]) - i(nc.reclaimed_file) - i(act_file)
            + i(deact_file)
            + i(lazy_inactive + lazy_active);
        p[lru::ACTIVE_FILE as usize] += i(ins[3]) + i(act_file) - i(deact_file);
        p[lru::UNEVICTABLE as usize] += i(ins[4]);
        // Isolated outside reclaim: off the list, back (if ever) as an
        // insertion.
        for by in [nc.isolated_outside_reclaim, nc.isolated_by_compaction]
            .into_iter()
            .flatten()
        {
            for (slot, pages) in p.iter_mut().zip(by.to_array()) {
                *slot -= i(pages);
            }
        }
        // The mlock batch's moves and additions (no tracepoint).
        if let Some(m) = nc.mlock_moved {
            for (slot, net) in p.iter_mut().zip(m.net()) {
                *slot += net;
            }
        }
    }

    /// The interval's figures of `nc` per second, those `k`'s kernel leaves
    /// underivable named in `not_derived`.
    pub fn rates(&self, nc: &NodeCounters, secs: f64, k: &Counting) -> Rates {
        let per = |v: u64| v as f64 / secs.max(1e-9);
        Rates {
            inserted: nc.inserted.map(per),
            activated_by_access: per(nc.lru_activated_anon + nc.lru_activated_file),
            activated_by_reclaim: per(nc.activate_anon + nc.activate_file),
            deactivated: per(self.deactivated_anon + self.deactivated_file),
            deactivated_by_batches: nc
                .moved
                .batch_deactivated_file
                .is_some()
                .then(|| per(self.batch_deactivated)),
            lazyfree: nc
                .moved
                .lazyfree_from_inactive
                .is_some()
                .then(|| per(self.lazyfree_from_inactive + self.lazyfree_from_active)),
            scanned: per(nc.scanned.total()),
            scanned_anon: per(nc.scanned_anon),
            scanned_file: per(nc.scanned_file),
            reclaimed: per(nc.reclaimed.total()),
            reclaimed_kswapd: per(nc.reclaimed.kswapd),
            reclaimed_direct: per(nc.reclaimed.direct
                + nc.reclaimed.node
                + nc.reclaimed.khugepaged),
            reclaimed_memcg: per(nc.reclaimed.memcg),
            ref_keep: per(nc.ref_keep),
            dirty: per(nc.dirty),
            writeback: per(nc.writeback),
            congested: per(nc.congested),
            immediate: per(nc.immediate),
            unmap_fail: per(nc.unmap_fail),
            not_derived: k.node_not_derived(&RATE_PASS_FIELDS, &RATE_REFILL_FIELDS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_and_deactivation_move_pages_within_a_type() {
        let nc = NodeCounters {
            activate_file: 5,
            lru_activated_file: 3,
            reclaimed_file: 10,
            ..NodeCounters::default()
        };
        let mut d = Totals::default();
        d.shrink_active[shrink_index(0, reclaimer::KSWAPD, 1) as usize].deactivated = 4;
        let f = Flows::of(&d, &nc);
        assert_eq!(
            (f.activated_file, f.deactivated_file, f.deactivated_anon),
            (8, 4, 0)
        );
        let mut p = [100; 5];
        f.predict(&nc, &mut p);
        assert_eq!(p, [100, 100, 100 - 10 - 8 + 4, 100 + 8 - 4, 100]);
        assert_eq!(f.rates(&nc, 2.0, &Counting::default()).deactivated, 2.0);
    }

    #[test]
    fn isolation_and_the_mlock_batch_move_the_predicted_lists() {
        use super::super::counters::MlockMoves;
        use crate::model::named::PerList;
        // 40 file pages mlocked off the inactive list, 10 new anon folios
        // straight onto unevictable (no insertion event), 5 munlocked back
        // to inactive anon; 8 inactive file pages isolated for migration.
        let nc = NodeCounters {
            mlock_moved: Some(MlockMoves {
                into: PerList::from_array(&[5, 0, 0, 0, 50]),
                out_of: PerList::from_array(&[0, 0, 40, 0, 5]),
            }),
            isolated_outside_reclaim: Some(PerList::from_array(&[0, 0, 8, 0, 0])),
            isolated_by_compaction: Some(PerList::from_array(&[3, 0, 0, 2, 0])),
            ..NodeCounters::default()
        };
        let f = Flows::of(&Totals::default(), &nc);
        let mut p = [100; 5];
        f.predict(&nc, &mut p);
        assert_eq!(p, [105 - 3, 100, 100 - 40 - 8, 100 - 2, 145]);
    }

    #[test]
    fn the_batches_outside_reclaim_move_pages_too() {
        // MADV_COLD / invalidation: active -> inactive of the type; MADV_FREE:
        // anon (from either list) -> inactive file.
        let nc = NodeCounters {
            moved: super::super::counters::BatchMoves {
                batch_deactivated_anon: Some(6),
                batch_deactivated_file: Some(50),
                lazyfree_from_inactive: Some(20),
                lazyfree_from_active: Some(3),
                ..Default::default()
            },
            ..NodeCounters::default()
        };
        let mut d = Totals::default();
        d.shrink_active[shrink_index(0, reclaimer::DIRECT, 1) as usize].deactivated = 4;
        let f = Flows::of(&d, &nc);
        assert_eq!(
            (f.deactivated_anon, f.deactivated_file, f.batch_deactivated),
            (6, 54, 56)
        );
        let mut p = [100; 5];
        f.predict(&nc, &mut p);
        assert_eq!(p, [100 + 6 - 20, 100 - 6 - 3, 100 + 54 + 23, 100 - 54, 100]);
        assert_eq!(
            p.iter().sum::<i64>(),
            500,
            "moves neither add nor remove pages"
        );
        let r = f.rates(&nc, 2.0, &Counting::default());
        assert_eq!(
            (r.deactivated, r.deactivated_by_batches, r.lazyfree),
            (30.0, Some(28.0), Some(11.5))
        );
        // Not hooked (None): no move is assumed.
        let none = Flows::of(&Totals::default(), &NodeCounters::default());
        assert_eq!(none, Flows::default());
        let r = none.rates(&NodeCounters::default(), 1.0, &Counting::default());
        assert_eq!(
            (r.deactivated_by_batches, r.lazyfree),
            (None, None),
            "not hooked: no rate"
        );
    }
}
