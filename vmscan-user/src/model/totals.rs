//! [`Totals`]: the kernel side's aggregates summed over CPUs, and deltas
//! between two readings.
//!
//! Every aggregate map is declared once, in [`aggregates!`]: its field of
//! [`Totals`], its type, its map name in the eBPF object and its slot count.
//! The reader (probe/read.rs) and the recording format (export/record.rs)
//! are generated from the same list, in the same order; a new aggregate is
//! one line at the end of it (older recordings then read it as empty).

use std::collections::BTreeMap;

use vmscan_common::{HookId, agg::Field, hook};

/// Calls `$m!` with the list of aggregate maps:
/// `field: Type = "MAP_NAME", slots, node of a slot;` (slots is 0 for
/// hashes; the node function is None for maps not kept per node).
macro_rules! aggregates {
    ($m:ident) => {
        $m! {
            /// Runs per hook (HITS).
            hits: Vec<u64> = "HITS", ::vmscan_common::hook::SLOTS, None;
            /// Ring-buffer reservations that failed, per hook (LOST).
            lost: Vec<u64> = "LOST", ::vmscan_common::hook::SLOTS, None;
            isolate: Vec<::vmscan_common::IsolateAgg> = "ISOLATE", ::vmscan_common::ISOLATE_SLOTS, None;
            shrink_inactive: Vec<::vmscan_common::ShrinkInactiveAgg> = "SHRINK_INACTIVE", ::vmscan_common::SHRINK_SLOTS, Some(::vmscan_common::slot_node::shrink);
            shrink_active: Vec<::vmscan_common::ShrinkActiveAgg> = "SHRINK_ACTIVE", ::vmscan_common::SHRINK_SLOTS, Some(::vmscan_common::slot_node::shrink);
            lru_insert: Vec<::vmscan_common::FolioAgg> = "LRU_INSERT", ::vmscan_common::LRU_SLOTS, Some(::vmscan_common::slot_node::lru);
            lru_activate: Vec<::vmscan_common::FolioAgg> = "LRU_ACTIVATE", ::vmscan_common::LRU_SLOTS, Some(::vmscan_common::slot_node::lru);
            write_folio: Vec<u64> = "WRITE_FOLIO", ::vmscan_common::WRITE_SLOTS, None;
            throttle: Vec<::vmscan_common::ThrottleAgg> = "THROTTLE", ::vmscan_common::THROTTLE_SLOTS, Some(::vmscan_common::slot_node::throttle);
            hist: Vec<u64> = "HIST", ::vmscan_common::HIST_SLOTS, Some(::vmscan_common::slot_node::hist);
            /// LRU insertions per (memory cgroup, node, list).
            memcg_insert: ::std::collections::BTreeMap<::vmscan_common::MemcgLruKey, ::vmscan_common::FolioAgg> = "LRU_INSERT_MEMCG", 0, None;
            /// folio_mark_accessed calls per (stack, node, outcome, file, exiting).
            access: ::std::collections::BTreeMap<::vmscan_common::AccessKey, ::vmscan_common::AccessAgg> = "ACCESS", 0, None;
            /// reclaim_pages() per node (MADV_PAGEOUT, DAMON).
            reclaim_pages: Vec<::vmscan_common::ReclaimPagesAgg> = "RECLAIM_PAGES", ::vmscan_common::RECLAIM_PAGES_SLOTS, Some(::vmscan_common::slot_node::node);
            /// workingset_refault per (cgroup, node, file/anon).
            refault: ::std::collections::BTreeMap<::vmscan_common::RefaultKey, ::vmscan_common::RefaultAgg> = "REFAULT", 0, None;
            /// Refault distance histogram per (cgroup, file/anon, bucket).
            refault_dist: ::std::collections::BTreeMap<::vmscan_common::RefaultDistKey, ::vmscan_common::PagesAgg> = "REFAULT_DIST", 0, None;
            /// Refaults per (inode, cgroup).
            refault_files: ::std::collections::BTreeMap<::vmscan_common::RefaultFileKey, ::vmscan_common::PagesAgg> = "REFAULT_FILES", 0, None;
            /// Refaults per (cgroup, task, file/anon).
            refault_tasks: ::std::collections::BTreeMap<::vmscan_common::RefaultTaskKey, ::vmscan_common::PagesAgg> = "REFAULT_TASKS", 0, None;
            /// Pages demoted to a slower memory tier, per reclaimer.
            demote: Vec<u64> = "DEMOTE", ::vmscan_common::DEMOTE_SLOTS, None;
            /// Pages MADV_FREE moved to the inactive file list (pglazyfree),
            /// per node and the anon list they left (lazyfree_index).
            lazyfree: Vec<u64> = "LAZYFREE", ::vmscan_common::LAZYFREE_SLOTS, Some(::vmscan_common::slot_node::lazyfree);
            /// Pages deactivated by the MADV_COLD and invalidation batches,
            /// per batch, node and type (deactivate_index).
            deactivate: Vec<u64> = "DEACTIVATE", ::vmscan_common::DEACTIVATE_SLOTS, Some(::vmscan_common::slot_node::deactivate);
            /// Ended reclaim episodes per reclaimer.
            reclaim_episodes: Vec<::vmscan_common::EpisodeAgg> = "EPISODES", ::vmscan_common::EPISODE_SLOTS, None;
            /// Pages the batches outside reclaim moved per (memory cgroup,
            /// node, move): the lruvecs' share of `deactivate` and `lazyfree`.
            memcg_moves: ::std::collections::BTreeMap<::vmscan_common::MemcgMoveKey, u64> = "LRU_MOVE_MEMCG", 0, None;
            /// Pages reclaim scanned and reclaimed per (memory cgroup, node,
            /// kind): the lruvecs' pgscan / pgsteal (memcg_reclaim).
            memcg_reclaim: ::std::collections::BTreeMap<::vmscan_common::MemcgMoveKey, u64> = "LRU_RECLAIM_MEMCG", 0, None;
            /// Pages folio_isolate_lru took off each list outside reclaim,
            /// per node and list (lru_index).
            isolated: Vec<u64> = "ISOLATED", ::vmscan_common::LRU_SLOTS, Some(::vmscan_common::slot_node::lru);
            /// Pages the mlock batch moved, per node and list: entered,
            /// then left (mlock_index).
            mlock_moved: Vec<u64> = "MLOCK_MOVED", ::vmscan_common::MLOCK_SLOTS, Some(::vmscan_common::slot_node::mlock);
            /// Pages compaction's migrate scanner took off each list, per
            /// node and list (lru_index); then per node those from no LRU
            /// list (compact_not_lru_index).
            compact_isolated: Vec<u64> = "COMPACT_ISOLATED", ::vmscan_common::COMPACT_SLOTS, Some(::vmscan_common::slot_node::compact);
        }
    };
}
pub(crate) use aggregates;

/// A table of aggregates: a per-CPU array (one record per slot) or a
/// per-CPU hash (one record per key), summed over CPUs.
pub trait Table: Sized {
    /// The table of a map with `slots` slots, all zero (hashes: empty).
    fn empty(slots: u32) -> Self;
    /// What happened between `earlier` and `self`, clamped at zero per field;
    /// a hash keeps only keys that moved.
    fn since(&self, earlier: &Self) -> Self;
    /// Adds a delta (the inverse of `since`).
    fn accumulate(&mut self, d: &Self);
}

impl<T: Field + Default + PartialEq> Table for Vec<T> {
    fn empty(slots: u32) -> Self {
        vec![T::default(); slots as usize]
    }
    fn since(&self, earlier: &Self) -> Self {
        self.iter().zip(earlier).map(|(x, y)| x.since(y)).collect()
    }
    fn accumulate(&mut self, d: &Self) {
        for (a, b) in self.iter_mut().zip(d) {
            a.add(b);
        }
    }
}

impl<K: Copy + Ord, V: Field + Default + PartialEq> Table for BTreeMap<K, V> {
    fn empty(_slots: u32) -> Self {
        BTreeMap::new()
    }
    fn since(&self, earlier: &Self) -> Self {
        self.iter()
            .filter_map(|(k, v)| {
                let d = v.since(&earlier.get(k).copied().unwrap_or_default());
                (d != V::default()).then_some((*k, d))
            })
            .collect()
    }
    fn accumulate(&mut self, d: &Self) {
        for (k, v) in d {
            self.entry(*k).or_default().add(v);
        }
    }
}

macro_rules! declare_totals {
    ($( $(#[$doc:meta])* $f:ident : $ty:ty = $map:literal, $slots:expr, $node:expr; )*) => {
        /// Monotonic totals since the programs were loaded, one entry per
        /// map slot (or key).
        #[derive(Clone, Debug, PartialEq)]
        pub struct Totals {
            $( $(#[$doc])* pub $f: $ty, )*
        }

        impl Default for Totals {
            fn default() -> Self {
                Self { $( $f: Table::empty($slots), )* }
            }
        }

        impl Totals {
            /// What happened between `earlier` and `self`. Counters only
            /// grow, so a negative difference (which would mean a bug or a
            /// reload) clamps to 0.
            pub fn since(&self, earlier: &Totals) -> Totals {
                Totals { $( $f: Table::since(&self.$f, &earlier.$f), )* }
            }

            /// Adds a delta (the inverse of [`Totals::since`]).
            pub fn accumulate(&mut self, d: &Totals) {
                $( Table::accumulate(&mut self.$f, &d.$f); )*
            }
        }

        /// Map names of the aggregates, in the list's order.
        pub const MAP_NAMES: &[&str] = &[$( $map, )*];
    };
}
aggregates!(declare_totals);

/// A hook's (events, lost) as every output shows them. A function hook with
/// a return program (shrink_node, workingset_refault, exit_mmap) is two
/// programs: its events are calls, the larger of the two run counts, and its
/// losses those of both.
pub fn hook_figures(hits: &[u64], lost: &[u64], id: HookId) -> (u64, u64) {
    match hook::return_of(id) {
        Some(ret) => (
            at(hits, id).max(at(hits, ret)),
            at(lost, id) + at(lost, ret),
        ),
        None => (at(hits, id), at(lost, id)),
    }
}

/// Runs of hook `id`'s return program (fexit, kretprobe), where it has one
/// and is attached.
pub fn hook_returns(hits: &[u64], id: HookId, attached: bool) -> Option<u64> {
    hook::return_of(id)
        .filter(|_| attached)
        .map(|r| at(hits, r))
}

/// Hook `id`'s figure in a per-hook array (HITS, LOST), 0 past its end.
fn at(v: &[u64], id: HookId) -> u64 {
    v.get(id.slot() as usize).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use vmscan_common::{
        AccessAgg, AccessKey, FolioAgg, IsolateAgg, MemcgLruKey, ShrinkInactiveAgg,
    };

    use super::*;

    #[test]
    fn since_subtracts_clamps_and_drops_quiet_keys() {
        let mut a = Totals::default();
        let mut b = Totals::default();
        a.isolate[3] = IsolateAgg {
            events: 5,
            requested: 1,
            scanned: 50,
            skipped: 0,
            taken: 40,
        };
        b.isolate[3] = IsolateAgg {
            events: 2,
            requested: 1,
            scanned: 20,
            skipped: 0,
            taken: 10,
        };
        a.shrink_inactive[0] = ShrinkInactiveAgg {
            passes: 1,
            ..Default::default()
        };
        b.shrink_inactive[0] = ShrinkInactiveAgg {
            passes: 3,
            ..Default::default()
        };
        let k1 = MemcgLruKey {
            cgroup_id: 1,
            node: 0,
            lru: 2,
        };
        let k2 = MemcgLruKey {
            cgroup_id: 2,
            node: 0,
            lru: 2,
        };
        a.memcg_insert.insert(
            k1,
            FolioAgg {
                folios: 3,
                pages: 9,
            },
        );
        a.memcg_insert.insert(
            k2,
            FolioAgg {
                folios: 1,
                pages: 1,
            },
        );
        b.memcg_insert.insert(
            k2,
            FolioAgg {
                folios: 1,
                pages: 1,
            },
        );
        let d = a.since(&b);
        assert_eq!(d.isolate[3].scanned, 30);
        assert_eq!(d.isolate[3].events, 3);
        assert_eq!(d.shrink_inactive[0].passes, 0);
        assert_eq!(
            d.memcg_insert.len(),
            1,
            "a key that did not move is left out"
        );
        assert_eq!(
            d.memcg_insert[&k1],
            FolioAgg {
                folios: 3,
                pages: 9
            }
        );
    }

    #[test]
    fn accumulate_is_the_inverse_of_since() {
        let mut a = Totals::default();
        a.hits[4] = 10;
        a.hist[100] = 3;
        a.access.insert(
            AccessKey {
                stack_id: 7,
                ..Default::default()
            },
            AccessAgg { calls: 2, pages: 8 },
        );
        let mut b = a.clone();
        b.hits[4] = 25;
        b.access.insert(
            AccessKey {
                stack_id: 9,
                ..Default::default()
            },
            AccessAgg { calls: 1, pages: 1 },
        );
        let mut sum = a.clone();
        sum.accumulate(&b.since(&a));
        assert_eq!(sum, b);
    }

    #[test]
    fn every_map_has_a_name_and_its_slots() {
        let t = Totals::default();
        assert_eq!(MAP_NAMES.len(), 26);
        assert_eq!(MAP_NAMES.last(), Some(&"COMPACT_ISOLATED"));
        assert_eq!(
            t.reclaim_episodes.len(),
            vmscan_common::EPISODE_SLOTS as usize
        );
        assert_eq!(t.hits.len(), hook::SLOTS as usize);
        assert_eq!(t.hist.len(), vmscan_common::HIST_SLOTS as usize);
        assert!(t.access.is_empty());
        assert!(t.memcg_moves.is_empty());
        assert!(t.memcg_reclaim.is_empty());
    }
}
