//! Model ingest throughput: synthetic events and aggregate deltas through
//! the lruvec model on one core. Run with `cargo xtask bench model`.

use std::time::Instant;

use vmscan::model::{input::Sample, lruvec::Model, totals::Totals};
use vmscan_common::{Event, event, reclaimer};

fn events(n: usize, episodes_only: bool) -> Vec<Event> {
    // A reclaim storm's mix: mostly shrink passes, then memcg / direct
    // episodes and kswapd wake-ups (as a recording of one would hold).
    (0..n)
        .map(|i| {
            let ts_ns = 1_000_000_000 + i as u64 * 1_000;
            let mut e = Event {
                ts_ns,
                nid: (i % 2) as i32,
                ..Event::default()
            };
            match if episodes_only { i % 2 } else { i % 20 } {
                0 => {
                    e.kind = event::RECLAIM_END;
                    e.reclaimer = reclaimer::MEMCG;
                    e.start_ns = ts_ns - 50_000;
                    e.cgroup_id = 100 + (i % 8) as u64;
                    e.reclaimed = 32;
                }
                1 => {
                    e.kind = event::RECLAIM_END;
                    e.reclaimer = reclaimer::DIRECT;
                    e.start_ns = ts_ns - 20_000;
                    e.reclaimed = 32;
                }
                2 => e.kind = event::WAKEUP_KSWAPD,
                3 => e.kind = event::KSWAPD_WAKE,
                4 => e.kind = event::KSWAPD_SLEEP,
                _ => {
                    e.kind = event::SHRINK_INACTIVE;
                    e.scanned = 32;
                    e.reclaimed = 31;
                }
            }
            e
        })
        .collect()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 2_000_000 } else { 10_000_000 };
    let mut model = Model::default();
    model.apply_sample(&Sample::default());
    let mut rates = Vec::new();
    for episodes_only in [false, true] {
        let evs = events(n, episodes_only);
        let mut best = f64::MAX;
        for _round in 0..5 {
            let t = Instant::now();
            for e in &evs {
                model.apply_event(e);
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        rates.push(n as f64 / best);
    }
    // Aggregate deltas: one per node per second in real use; time many.
    let d = Totals::default();
    let t = Instant::now();
    let ticks = if quick { 2_000 } else { 10_000 };
    for i in 0..ticks {
        model.apply_totals(&d, 2_000_000_000 + i as u64 * 1_000_000, 1.0);
    }
    let tick_us = t.elapsed().as_secs_f64() * 1e6 / ticks as f64;
    // Recording: the writer on an in-memory sink, events in batches of 256
    // as the ring buffer drains them, plus one tick per 100k events.
    let evs = events(n, true);
    let header = vmscan::export::record::Header::default();
    let t = Instant::now();
    let path = std::env::temp_dir().join(format!("vmscan-bench-{}.vmscan", std::process::id()));
    let file = std::fs::File::create(&path).expect("bench file");
    let mut w = vmscan::export::record::Writer::new(file, &header).expect("writer");
    for (i, chunk) in evs.chunks(256).enumerate() {
        w.events(chunk).expect("write");
        if i % 400 == 0 {
            w.tick(1.0, &d, &Sample::default()).expect("tick");
        }
    }
    let bytes_per_event = w.bytes as f64 / n as f64;
    w.finish().expect("finish").sync_all().expect("sync");
    let rec_rate = n as f64 / t.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    println!(
        "| recording writer (to a file, fsync at the end) | {:.1} M events/s on one core, {bytes_per_event:.1} bytes per event (incl. ticks and framing) |",
        rec_rate / 1e6
    );
    let snap_t = Instant::now();
    let snap = model.snapshot();
    let snap_us = snap_t.elapsed().as_secs_f64() * 1e6;
    println!(
        "| model ingest, reclaim-storm mix (85% shrink passes) | {:.2} M events/s on one core (best of 5 x {n}; target >= 5) |",
        rates[0] / 1e6
    );
    println!(
        "| model ingest, reclaim episodes only (worst case) | {:.2} M events/s on one core (best of 5 x {n}; target >= 5) |",
        rates[1] / 1e6
    );
    println!("| model apply_totals | {tick_us:.1} us per interval delta |");
    println!(
        "| model snapshot | {snap_us:.0} us ({} stalls kept, {} dropped) |",
        snap.stalls.len(),
        snap.stalls_dropped
    );
}
