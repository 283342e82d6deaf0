//! Record during a workload, replay, and compare with a live `vmscan stat`
//! over the same window; bad files give one clear error and a non-zero exit.

mod common;

use std::{os::unix::fs::PermissionsExt as _, process::Command};

use common::*;
use serde_json::Value;

#[test]
fn replay_gives_the_same_totals_as_live_stat() {
    if !require_root("replay_gives_the_same_totals_as_live_stat") {
        return;
    }
    let file = uncached_file(512);
    let cg = Memcg::new("vmscan-test-record", 64 << 20);
    let dir = std::env::temp_dir().join(format!("vmscan-rec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rec = dir.join("run.vmscan");
    let _ = std::fs::remove_file(&rec);

    let recorder = Vmscan::start(&["record", "-o", rec.to_str().unwrap()]);
    let stat = Vmscan::start(&["stat", "--json"]);
    let before = vmstat();
    let cmd = read_in_cgroup(&cg, &file);
    assert!(
        Command::new(&cmd[0])
            .args(&cmd[1..])
            .status()
            .unwrap()
            .success()
    );
    let after = vmstat();
    let live: Value = serde_json::from_str(&stat.stop()).expect("stat json");
    recorder.stop();

    let mode = std::fs::metadata(&rec).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "recordings are private by default");
    let out = Command::new(bin())
        .args(["replay", "--json"])
        .arg(&rec)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replay: Value = serde_json::from_slice(&out.stdout).unwrap();
    let replayed = &replay["snapshot"]["totals"]["vmstat"];
    for key in [
        "pgscan_kswapd",
        "pgscan_direct",
        "pgscan_anon",
        "pgscan_file",
        "pgsteal_kswapd",
        "pgsteal_direct",
        "pgsteal_anon",
        "pgsteal_file",
    ] {
        assert_eq!(
            replayed[key], live["vmstat"][key],
            "{key}: replay vs live stat"
        );
        assert_eq!(
            replayed[key].as_u64().unwrap(),
            delta(&before, &after, key),
            "{key}: replay vs /proc/vmstat"
        );
    }
    assert!(replayed["pgsteal_file"].as_u64().unwrap() > 50_000);
    assert_eq!(
        replay["snapshot"]["totals"]["memcg_reclaimed"],
        live["memcg_reclaimed"]
    );

    // The same file, damaged.
    let bytes = std::fs::read(&rec).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated",
            bytes[..bytes.len() * 2 / 3].to_vec(),
            "truncated record at offset",
        ),
        (
            "corrupt",
            {
                // A byte inside the first record's payload (after its 5-byte
                // kind + length), so the checksum, not the framing, catches it.
                let mut b = bytes.clone();
                let header_end = 16 + u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
                b[header_end + 9] ^= 0xff;
                b
            },
            "corrupt record at offset",
        ),
        (
            "newer",
            {
                let mut b = bytes.clone();
                b[10] = 200;
                b
            },
            "newer than this vmscan reads",
        ),
        (
            "foreign",
            b"#!/bin/sh\necho hello\n".to_vec(),
            "not a vmscan recording",
        ),
        ("empty", vec![], "empty file"),
    ];
    for (name, content, needle) in cases {
        let p = dir.join(format!("{name}.vmscan"));
        std::fs::write(&p, &content).unwrap();
        for sub in [&["replay", "--json"][..], &["report"][..]] {
            let out = Command::new(bin()).args(sub).arg(&p).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{name} {sub:?}: {err}");
            let line = err.lines().last().unwrap_or("");
            assert!(
                line.contains(needle) && line.contains(p.to_str().unwrap()),
                "{name} {sub:?}: {err}"
            );
            assert!(!err.contains("panicked"), "{name}: {err}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
