//! Flows between the five LRU lists of one node over an interval, following
//! mm/vmscan.c and mm/swap.c:
//! - mm_lru_insertion: a folio enters list `lru` (+pages there);
//! - mm_lru_activate (folio_activate): inactive -> active of its type;
//! - shrink_inactive_list: nr_reclaimed leave the inactive list, nr_activate
//!   move to the active list, the rest go back where they were;
//! - shrink_active_list: nr_deactivated move active -> inactive.
//!
//! From them: the list sizes the events predict, and per-second rates.

use vmscan_common::{lru, reclaimer, shrink_index};

use super::{counters::NodeCounters, snapshot::Rates, totals::Totals};

/// Pages one node moved between active and inactive over an interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flows {
    pub activated_anon: u64,
    pub activated_file: u64,
    pub deactivated_anon: u64,
    pub deactivated_file: u64,
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
        Self {
            activated_anon: nc.activate_anon + nc.lru_activated_anon,
            activated_file: nc.activate_file + nc.lru_activated_file,
            deactivated_anon,
            deactivated_file,
        }
    }

    /// Moves the predicted list sizes `p` by these flows, the insertions and
    /// the reclaim of `nc`. Pages only move within their type.
    pub fn predict(&self, nc: &NodeCounters, p: &mut [i64; 5]) {
        let i = |v: u64| v as i64;
        let ins = nc.inserted;
        let (act_anon, act_file, deact_anon, deact_file) = (
            self.activated_anon,
            self.activated_file,
            self.deactivated_anon,
            self.deactivated_file,
        );
        p[lru::INACTIVE_ANON as usize] +=
            i(ins[0]) - i(nc.reclaimed_anon) - i(act_anon) + i(deact_anon);
        p[lru::ACTIVE_ANON as usize] += i(ins[1]) + i(act_anon) - i(deact_anon);
        p[lru::INACTIVE_FILE as usize] +=
            i(ins[2]) - i(nc.reclaimed_file) - i(act_file) + i(deact_file);
        p[lru::ACTIVE_FILE as usize] += i(ins[3]) + i(act_file) - i(deact_file);
        p[lru::UNEVICTABLE as usize] += i(ins[4]);
    }

    /// The interval's figures of `nc` per second.
    pub fn rates(&self, nc: &NodeCounters, secs: f64) -> Rates {
        let per = |v: u64| v as f64 / secs.max(1e-9);
        Rates {
            inserted: nc.inserted.map(per),
            activated_by_access: per(nc.lru_activated_anon + nc.lru_activated_file),
            activated_by_reclaim: per(nc.activate_anon + nc.activate_file),
            deactivated: per(self.deactivated_anon + self.deactivated_file),
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
        assert_eq!(f.rates(&nc, 2.0).deactivated, 2.0);
    }
}
