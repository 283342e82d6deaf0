//! Every input the fuzzers keep (seeds, and crashers once found and fixed)
//! replays without a panic: the recording reader's, and those of the
//! parsers of kernel-side input (BTF, tracefs format files, /proc, sysfs
//! and cgroup files, kallsyms), through the same code the fuzz targets run
//! (fuzz/exercise.rs).

use std::{
    path::Path,
    time::{Duration, Instant},
};

#[path = "../fuzz/exercise.rs"]
mod exercise;

use vmscan::export::record::Reader;

fn replay(bytes: &[u8]) -> usize {
    let Ok(mut r) = Reader::new(bytes) else {
        return 0;
    };
    let mut n = 0;
    while let Ok(Some(_)) = r.next_record() {
        n += 1;
        if n > 100_000 {
            break;
        }
    }
    n
}

#[test]
fn fuzz_corpus_and_regressions_replay_without_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = 0;
    for dir in ["corpus/recording_reader", "regressions/recording_reader"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in rd.flatten() {
            let bytes = std::fs::read(e.path()).unwrap();
            let _ = replay(&bytes);
            files += 1;
        }
    }
    assert!(
        files >= 4,
        "the seed corpus is committed ({files} files found)"
    );
    // The full seed is a real 2.6 s recording of memcg reclaim: it must
    // replay whole.
    let seed =
        std::fs::read(root.join("corpus/recording_reader/seed-memcg-reclaim.vmscan")).unwrap();
    assert!(
        replay(&seed) > 50,
        "the seed recording should hold many records"
    );
}

/// Each parser target: its seed corpus (committed, small) and its
/// regressions (inputs that once panicked or hung) replay, each file
/// quickly.
#[test]
fn kernel_input_corpora_and_regressions_replay_without_panic_or_hang() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (target, run) in exercise::TARGETS {
        let mut seeds = 0;
        for dir in ["corpus", "regressions"] {
            let Ok(rd) = std::fs::read_dir(root.join(dir).join(target)) else {
                continue;
            };
            for e in rd.flatten() {
                let bytes = std::fs::read(e.path()).unwrap();
                let t0 = Instant::now();
                run(&bytes);
                // Generous for a debug build; the hangs found took minutes.
                assert!(
                    t0.elapsed() < Duration::from_secs(2),
                    "{} took {:?}",
                    e.path().display(),
                    t0.elapsed()
                );
                seeds += usize::from(dir == "corpus");
            }
        }
        assert!(seeds >= 1, "{target}: the seed corpus is committed");
    }
    let regressions = ["btf", "tracefs_format"].map(|t| {
        std::fs::read_dir(root.join("regressions").join(t))
            .map(|d| d.count())
            .unwrap_or(0)
    });
    assert!(
        regressions.iter().all(|n| *n >= 1),
        "the crashers found are kept: {regressions:?}"
    );
}

/// The seeds are real: the hand-built BTF answers vmscan's queries, and the
/// host files parse to something.
#[test]
fn seeds_are_meaningful() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let btf =
        vmscan::probe::btf::Btf::parse(&std::fs::read(root.join("btf/seed-shapes.btf")).unwrap())
            .unwrap();
    assert_eq!(
        btf.member_offset("folio", "lru"),
        Some(8),
        "lru inside an anonymous union and struct"
    );
    assert_eq!(btf.member("folio", "memcg_data"), Some((40, 8)));
    assert_eq!(btf.member_bit_offset("scan_control", "proactive"), Some(7));
    assert_eq!(btf.enum_value("PG_active"), Some(6));
    assert_eq!(btf.enum_value("PGSCAN_PROACTIVE"), Some(40));
    assert!(btf.has_func("shrink_node"));
    let zones = std::fs::read_to_string(root.join("zoneinfo/seed-2node")).unwrap();
    assert!(!vmscan::probe::system::parse_zoneinfo(&zones).is_empty());
    let fmt = std::fs::read_to_string(
        root.join("tracefs_format/seed-6.12-mm_vmscan_lru_shrink_inactive"),
    )
    .unwrap();
    assert!(
        vmscan::probe::format::Format::parse(&fmt)
            .unwrap()
            .offset("nr_scanned", &[8])
            .is_ok()
    );
}
