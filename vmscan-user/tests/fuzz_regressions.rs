//! Every input the fuzzer keeps (seeds, and crashers if one is ever found)
//! replays through the recording reader without a panic.

use std::path::Path;

use vmscan::export::record::Reader;

fn replay(bytes: &[u8]) -> usize {
    let Ok(mut r) = Reader::new(bytes) else { return 0 };
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
    for dir in ["corpus/recording_reader", "regressions"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir)) else { continue };
        for e in rd.flatten() {
            let bytes = std::fs::read(e.path()).unwrap();
            let _ = replay(&bytes);
            files += 1;
        }
    }
    assert!(files >= 4, "the seed corpus is committed ({files} files found)");
    // The full seed is a real 2.6 s recording of memcg reclaim: it must
    // replay whole.
    let seed = std::fs::read(root.join("corpus/recording_reader/seed-memcg-reclaim.vmscan")).unwrap();
    assert!(replay(&seed) > 50, "the seed recording should hold many records");
}
