//! Episode statistics from ring-buffer events: kswapd wakes and sleeps per
//! node, reclaim episodes per reclaimer with their latency.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;
use vmscan_common::{EpisodeAgg, Event, reclaimer};

use super::{event::Episode, hist::Log2Hist};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ReclaimEpisodes {
    pub episodes: u64,
    pub reclaimed: u64,
    pub latency_us: Log2Hist,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct KswapdNode {
    pub wakes: u64,
    pub sleeps: u64,
    pub wakeups_requested: u64,
}

/// Aggregated episodes over a window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Episodes {
    pub events: u64,
    pub kswapd: BTreeMap<i32, KswapdNode>,
    pub reclaim: BTreeMap<String, ReclaimEpisodes>,
    pub shrink_passes: u64,
    pub throttled: u64,
}

/// Reclaim episodes per reclaimer name from the kernel's per-CPU aggregate
/// (EPISODES, one slot per reclaimer), as [`Episodes::apply`] makes them
/// from records; max is the upper edge of the highest bucket.
pub fn reclaim_from(aggs: &[EpisodeAgg]) -> BTreeMap<String, ReclaimEpisodes> {
    aggs.iter()
        .enumerate()
        .filter(|(_, a)| a.episodes > 0)
        .map(|(i, a)| {
            let name = reclaimer::NAMES.get(i).copied().unwrap_or("other");
            let r = ReclaimEpisodes {
                episodes: a.episodes,
                reclaimed: a.reclaimed,
                latency_us: Log2Hist::from_buckets(&a.latency_us, a.latency_sum_us),
            };
            (name.to_owned(), r)
        })
        .collect()
}

impl Episodes {
    /// Counts one raw record (of any kind) and applies it when its kind is known.
    pub fn apply(&mut self, e: &Event) {
        self.events += 1;
        if let Ok(ep) = Episode::try_from(e) {
            self.apply_episode(&ep);
        }
    }

    fn apply_episode(&mut self, e: &Episode) {
        match *e {
            Episode::KswapdWake { nid, .. } => self.kswapd.entry(nid).or_default().wakes += 1,
            Episode::KswapdSleep { nid, .. } => self.kswapd.entry(nid).or_default().sleeps += 1,
            Episode::WakeupKswapd { nid, .. } => {
                self.kswapd.entry(nid).or_default().wakeups_requested += 1
            }
            Episode::ReclaimEnd {
                ts_ns,
                start_ns,
                reclaimer: rec,
                reclaimed,
                ..
            } => {
                let name = reclaimer::NAMES
                    .get(rec as usize)
                    .copied()
                    .unwrap_or("other");
                let r = self.reclaim.entry(name.to_owned()).or_default();
                r.episodes += 1;
                r.reclaimed += reclaimed;
                r.latency_us.record(ts_ns.saturating_sub(start_ns) / 1000);
            }
            Episode::ShrinkInactive { .. } => self.shrink_passes += 1,
            Episode::Throttled { .. } => self.throttled += 1,
            Episode::ShrinkNode { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmscan_common::event;

    #[test]
    fn reclaim_end_becomes_an_episode() {
        let mut e = Episodes::default();
        let ev = Event {
            kind: event::RECLAIM_END,
            reclaimer: reclaimer::MEMCG,
            start_ns: 1_000_000,
            ts_ns: 1_250_000,
            reclaimed: 32,
            ..Event::default()
        };
        e.apply(&ev);
        e.apply(&Event {
            kind: event::KSWAPD_WAKE,
            nid: 1,
            ..Event::default()
        });
        let r = &e.reclaim["memcg"];
        assert_eq!((r.episodes, r.reclaimed, r.latency_us.max), (1, 32, 250));
        assert_eq!(e.kswapd[&1].wakes, 1);
        assert_eq!(e.events, 2);
    }

    #[test]
    fn the_kernel_aggregate_gives_the_same_episodes_as_records() {
        // Three direct episodes of 250, 300 and 5,000 us, as records and as
        // the kernel counts them.
        let mut from_records = Episodes::default();
        let mut agg = vec![EpisodeAgg::default(); reclaimer::COUNT as usize];
        for (us, reclaimed) in [(250u64, 32u64), (300, 0), (5_000, 96)] {
            from_records.apply(&Event {
                kind: event::RECLAIM_END,
                reclaimer: reclaimer::DIRECT,
                start_ns: 1_000_000,
                ts_ns: 1_000_000 + us * 1000,
                reclaimed,
                ..Event::default()
            });
            let a = &mut agg[reclaimer::DIRECT as usize];
            a.episodes += 1;
            a.reclaimed += reclaimed;
            a.latency_sum_us += us;
            a.latency_us[vmscan_common::log2_bucket(us) as usize] += 1;
        }
        let from_kernel = reclaim_from(&agg);
        assert_eq!(from_kernel.keys().collect::<Vec<_>>(), ["direct"]);
        let (k, r) = (&from_kernel["direct"], &from_records.reclaim["direct"]);
        assert_eq!((k.episodes, k.reclaimed), (3, 128));
        assert_eq!((k.episodes, k.reclaimed), (r.episodes, r.reclaimed));
        assert_eq!(k.latency_us.buckets, r.latency_us.buckets);
        assert_eq!((k.latency_us.count, k.latency_us.sum), (3, 5_550));
        assert_eq!(
            k.latency_us.quantile_upper(0.99),
            r.latency_us.quantile_upper(0.99)
        );
        // Max known only by bucket: its upper edge (5,000 us lies in 4096..8191).
        assert_eq!((k.latency_us.max, r.latency_us.max), (8191, 5_000));
    }
}
