//! Findings: conditions across nodes worth a sentence of their own. They
//! read only the per-node part of a snapshot, so the model can raise them
//! at every sample without building the rest.

use super::snapshot::{Finding, NodeSnap};

/// Findings the model keeps in its history.
pub const MAX_FINDINGS: usize = 64;

/// Every finding that holds for these nodes.
pub fn findings(nodes: &[NodeSnap]) -> Vec<Finding> {
    numa_imbalance(nodes)
}

/// NUMA imbalance: a node under global reclaim (kswapd or direct; memory
/// cgroup limits and proactive reclaim do not count) while another sits
/// above its high watermark. A node in a slower memory tier than the
/// reclaiming one is its demotion target, expected to hold free memory.
pub fn numa_imbalance(nodes: &[NodeSnap]) -> Vec<Finding> {
    let mut out = Vec::new();
    for a in nodes {
        let global = a.rates.reclaimed_kswapd + a.rates.reclaimed_direct;
        if !a.kswapd.is_awake() && global <= 0.0 {
            continue;
        }
        for b in nodes {
            if b.node == a.node || b.high == 0 || b.free <= b.high {
                continue;
            }
            if let (Some(ta), Some(tb)) = (a.memory_tier, b.memory_tier)
                && tb > ta
            {
                continue;
            }
            let how = if a.kswapd.is_awake() {
                format!("kswapd{} awake {:.1} s", a.node, a.kswapd_awake_secs)
            } else {
                "kswapd asleep".to_owned()
            };
            out.push(Finding {
                kind: "numa_imbalance",
                text: format!(
                    "node {} is reclaiming ({how}, {:.0} pages/s reclaimed by kswapd and direct reclaim) while node {} has {} free pages, above its high watermark {}",
                    a.node, global, b.node, b.free, b.high
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::snapshot::Rates;

    fn node(n: u32, free: u64, high: u64, rates: Rates, tier: Option<u32>) -> NodeSnap {
        NodeSnap {
            node: n,
            free,
            high,
            rates,
            memory_tier: tier,
            ..NodeSnap::default()
        }
    }

    #[test]
    fn only_global_reclaim_outside_demotion_targets_is_an_imbalance() {
        let busy = Rates {
            reclaimed: 500.0,
            reclaimed_kswapd: 300.0,
            reclaimed_direct: 200.0,
            ..Rates::default()
        };
        let memcg_only = Rates {
            reclaimed: 500.0,
            reclaimed_memcg: 500.0,
            ..Rates::default()
        };
        let idle = Rates::default();
        let f = numa_imbalance(&[
            node(0, 10, 100, busy.clone(), None),
            node(1, 5000, 100, idle.clone(), None),
        ]);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].text
                .contains("500 pages/s reclaimed by kswapd and direct reclaim"),
            "{}",
            f[0].text
        );
        assert!(
            numa_imbalance(&[
                node(0, 10, 100, memcg_only, None),
                node(1, 5000, 100, idle.clone(), None)
            ])
            .is_empty(),
            "a memcg at its limit is not a NUMA imbalance"
        );
        // Node 1 is node 0's demotion target (slower tier): expected to be free.
        assert!(
            numa_imbalance(&[
                node(0, 10, 100, busy.clone(), Some(1)),
                node(1, 5000, 100, idle.clone(), Some(4))
            ])
            .is_empty()
        );
        assert_eq!(
            numa_imbalance(&[
                node(0, 10, 100, busy, Some(4)),
                node(1, 5000, 100, idle, Some(1))
            ])
            .len(),
            1,
            "a faster tier sitting free is still one"
        );
    }
}
