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
    let replay: Value = serde_json::from_slice(&vmscan_ok(&["replay", "--json"], &rec)).unwrap();
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

/// Many quiet memcgs: a session reads them in turn (at most 50 a sample),
/// so a recording whose first tick were partial would replay without most
/// of them. The first recorded sample reads every one.
#[test]
fn a_recording_replays_every_memcg_from_its_first_tick() {
    if !require_root("a_recording_replays_every_memcg_from_its_first_tick") {
        return;
    }
    const N: usize = 300;
    let parent = Memcg::new("vmscan-test-record-many", 1 << 30);
    let v2 = parent.dir.join("cgroup.subtree_control").exists();
    if v2 {
        std::fs::write(parent.dir.join("cgroup.subtree_control"), "+memory")
            .expect("enable the memory controller below the parent");
    }
    struct Children(Vec<std::path::PathBuf>);
    impl Drop for Children {
        fn drop(&mut self) {
            for d in &self.0 {
                let _ = std::fs::remove_dir(d);
            }
        }
    }
    let children = Children(
        (0..N)
            .map(|i| {
                let d = parent.dir.join(format!("q{i:03}"));
                std::fs::create_dir_all(&d).expect("make a memcg");
                d
            })
            .collect(),
    );
    let dir = std::env::temp_dir().join(format!("vmscan-rec-many-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rec = dir.join("many.vmscan");
    vmscan_ok(&["record", "--force", "-d", "3", "-o"], &rec);
    let replay: Value = serde_json::from_slice(&vmscan_ok(&["replay", "--json"], &rec)).unwrap();
    let name = parent
        .dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let replayed: std::collections::BTreeSet<String> = replay["snapshot"]["lruvecs"]
        .as_array()
        .expect("lruvecs")
        .iter()
        .filter_map(|l| l["memcg"].as_str())
        .filter(|p| p.starts_with(&format!("/{name}/q")))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        replayed.len(),
        N,
        "every quiet memcg replays, not only those read in their turn"
    );
    drop(children);
    let _ = std::fs::remove_dir_all(&dir);
}
