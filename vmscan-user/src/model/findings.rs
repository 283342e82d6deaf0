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

/// NUMA imbalance: a node reclaiming while another sits above its high watermark.
pub fn numa_imbalance(nodes: &[NodeSnap]) -> Vec<Finding> {
    let mut out = Vec::new();
    for a in nodes {
        let reclaiming = a.kswapd.is_awake() || a.rates.reclaimed > 0.0;
        if !reclaiming {
            continue;
        }
        for b in nodes {
            if b.node == a.node || b.high == 0 || b.free <= b.high {
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
                    "node {} is reclaiming ({how}, {:.0} pages/s reclaimed) while node {} has {} free pages, above its high watermark {}",
                    a.node, a.rates.reclaimed, b.node, b.free, b.high
                ),
            });
        }
    }
    out
}
