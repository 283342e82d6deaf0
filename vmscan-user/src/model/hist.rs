//! Log2 histograms, cumulative and over a sliding window.

use std::collections::VecDeque;

use schemars::JsonSchema;
use serde::Serialize;
use vmscan_common::log2_bucket;

/// Log2 histogram: bucket i counts values v with 2^(i-1) <= v < 2^i
/// (bucket 0 counts v == 0), like vmscan_common::log2_bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Log2Hist {
    pub buckets: Vec<u64>,
    pub count: u64,
    pub sum: u64,
    pub max: u64,
}

impl Log2Hist {
    pub fn record(&mut self, v: u64) {
        self.bump(log2_bucket(v) as usize, 1);
        self.sum = self.sum.saturating_add(v);
        self.max = self.max.max(v);
    }

    fn bump(&mut self, b: usize, n: u64) {
        if self.buckets.len() <= b {
            self.buckets.resize(b + 1, 0);
        }
        self.buckets[b] += n;
        self.count += n;
    }

    /// Adds `n` values known only by bucket (from the kernel's histograms);
    /// max becomes the bucket's upper edge.
    pub fn add_bucket(&mut self, b: usize, n: u64) {
        if n == 0 {
            return;
        }
        self.bump(b, n);
        let upper = if b == 0 { 0 } else { (1u64 << b.min(63)) - 1 };
        if self.max < upper && self.sum == 0 {
            // Only bucketed values: max is the bucket's upper edge.
            self.max = upper;
        }
    }

    /// A histogram known by bucket counts and the values' sum (a kernel
    /// aggregate); max is the upper edge of the highest bucket.
    pub fn from_buckets(buckets: &[u64], sum: u64) -> Self {
        let mut h = Log2Hist::default();
        for (b, n) in buckets.iter().enumerate() {
            h.add_bucket(b, *n);
        }
        h.sum = sum;
        h
    }

    pub fn merge(&mut self, o: &Log2Hist) {
        for (i, n) in o.buckets.iter().enumerate() {
            if *n > 0 {
                if self.buckets.len() <= i {
                    self.buckets.resize(i + 1, 0);
                }
                self.buckets[i] += n;
            }
        }
        self.count += o.count;
        self.sum = self.sum.saturating_add(o.sum);
        self.max = self.max.max(o.max);
    }

    /// Upper edge (exclusive) of the bucket holding quantile q (0 when empty).
    pub fn quantile_upper(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let target = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= target {
                return if i == 0 { 1 } else { 1u64 << i.min(63) };
            }
        }
        self.max
    }

    pub fn summary(&self) -> HistSummary {
        HistSummary {
            count: self.count,
            p50: self.quantile_upper(0.5),
            p99: self.quantile_upper(0.99),
            max: self.max,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct HistSummary {
    pub count: u64,
    /// Upper edges of the log2 buckets holding the quantiles.
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

/// A cumulative histogram plus the last `window` seconds, kept as per-second
/// slices (bounded: at most `window` slices).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Windowed {
    pub cumulative: Log2Hist,
    slices: VecDeque<(u64, Log2Hist)>,
    window_secs: u64,
}

impl Windowed {
    pub fn new(window_secs: u64) -> Self {
        Self {
            cumulative: Log2Hist::default(),
            slices: VecDeque::new(),
            window_secs: window_secs.max(1),
        }
    }

    fn slice(&mut self, ts_ns: u64) -> &mut Log2Hist {
        let sec = ts_ns / 1_000_000_000;
        if self.slices.back().is_none_or(|(s, _)| *s != sec) {
            self.slices.push_back((sec, Log2Hist::default()));
        }
        while self.slices.len() as u64 > self.window_secs {
            self.slices.pop_front();
        }
        &mut self.slices.back_mut().expect("just pushed").1
    }

    pub fn record(&mut self, ts_ns: u64, v: u64) {
        self.cumulative.record(v);
        self.slice(ts_ns).record(v);
    }

    pub fn add_bucket(&mut self, ts_ns: u64, b: usize, n: u64) {
        self.cumulative.add_bucket(b, n);
        self.slice(ts_ns).add_bucket(b, n);
    }

    /// The window ending at `now_ns`.
    pub fn window(&self, now_ns: u64) -> Log2Hist {
        let now = now_ns / 1_000_000_000;
        let mut h = Log2Hist::default();
        for (s, slice) in &self.slices {
            if *s <= now && now - *s < self.window_secs {
                h.merge(slice);
            }
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_edges() {
        let mut h = Log2Hist::default();
        for v in [0, 1, 2, 3, 4, 7, 8, 1023, 1024] {
            h.record(v);
        }
        // 0 | 1 | 2..3 | 4..7 | 8..15 | ... | 512..1023 | 1024..2047
        assert_eq!(h.buckets, vec![1, 1, 2, 2, 1, 0, 0, 0, 0, 0, 1, 1]);
        assert_eq!(h.count, 9);
        assert_eq!(h.max, 1024);
        assert_eq!(h.quantile_upper(0.5), 8);
        assert_eq!(h.quantile_upper(1.0), 2048);
        assert_eq!(Log2Hist::default().summary(), HistSummary::default());
    }

    #[test]
    fn window_forgets_old_seconds() {
        let mut w = Windowed::new(10);
        w.record(1_000_000_000, 5);
        w.record(5_000_000_000, 6);
        w.record(20_000_000_000, 7);
        assert_eq!(w.cumulative.count, 3);
        assert_eq!(w.window(20_000_000_000).count, 1);
        assert_eq!(
            w.window(14_000_000_000).count,
            1,
            "5 s is within 10 s of 14 s; 1 s is not"
        );
        assert!(w.slices.len() <= 10);
    }
}
