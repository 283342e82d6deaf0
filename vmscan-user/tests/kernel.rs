//! vmscan against the running kernel: its counters must equal /proc/vmstat's
//! deltas and its tracepoint event counts must equal perf stat's over the
//! same window. Run as root with --test-threads=1 (they share kernel state).

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

// The same truth under each way a tracepoint hook can attach: tp_btf and
// raw_tp read the tracepoint's arguments (and derive what TP_fast_assign
// derives), the classic tracepoint reads the record.
#[test]
fn stat_matches_proc_vmstat_and_perf_stat_under_memcg_reclaim() {
    stat_matches_proc_vmstat("auto");
}

#[test]
fn stat_matches_proc_vmstat_with_raw_tracepoints() {
    stat_matches_proc_vmstat("raw_tp");
}

/// Also the maps read element by element (as on kernels that refuse
/// BPF_MAP_LOOKUP_BATCH): the other two runs read them in batches.
#[test]
fn stat_matches_proc_vmstat_with_classic_tracepoints() {
    stat_matches_proc_vmstat("tracepoint");
}

fn stat_matches_proc_vmstat(mechanism: &str) {
    if !require_root(&format!("stat_matches_proc_vmstat ({mechanism})")) {
        return;
    }
    let file = uncached_file(512);
    let cg = Memcg::new("vmscan-test-stat", 64 << 20);
    let env: &[(&str, &str)] = if mechanism == "tracepoint" {
        &[("VMSCAN_TEST_NO_BATCH", "1")]
    } else {
        &[]
    };
    let vmscan = Vmscan::start_with(&["--tracepoints", mechanism, "stat", "--json"], env);

    // Ask vmscan which tracepoints it attached, so perf counts the same ones.
    let probes = Command::new(bin())
        .args(["--tracepoints", mechanism, "probes", "--json"])
        .output()
        .expect("vmscan probes");
    let probes: Value = serde_json::from_slice(&probes.stdout).expect("probes json");
    let tracepoint = |h: &&Value| {
        h["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("vmscan:") || n.starts_with("pagemap:"))
    };
    let hooks = probes["hooks"].as_array().expect("hooks");
    if mechanism != "auto" {
        for h in hooks.iter().filter(tracepoint) {
            assert_eq!(h["mechanism"], mechanism, "forced mechanism not used: {h}");
        }
    }
    let events: Vec<String> = hooks
        .iter()
        .filter(tracepoint)
        .filter(|h| !h["mechanism"].is_null())
        .map(|h| h["name"].as_str().expect("name").to_owned())
        .collect();
    assert!(
        events.len() >= 14,
        "expected every vmscan/pagemap tracepoint attached, got {events:?}"
    );

    let before = vmstat();
    let perf = perf_stat(&events, &read_in_cgroup(&cg, &file));
    let after = vmstat();
    let out = vmscan.stop();
    eprintln!("perf stat counts: {perf:?}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));

    let v = &report["vmstat"];
    let steal_file = delta(&before, &after, "pgsteal_file");
    assert!(
        steal_file > 50_000,
        "the workload should reclaim > 200 MiB of page cache, reclaimed {steal_file} pages"
    );
    assert_equal_to_vmstat(
        v,
        &before,
        &after,
        &[
            "pgscan_kswapd",
            "pgscan_direct",
            "pgscan_anon",
            "pgscan_file",
            "pgsteal_kswapd",
            "pgsteal_direct",
            "pgsteal_anon",
            "pgsteal_file",
            "pgrefill",
        ],
    );
    // pgactivate has sources outside reclaim that never stop (mm_lru_activate):
    // vmscan's window contains /proc/vmstat's, so it sees at least as many.
    let act = v["pgactivate"].as_u64().expect("pgactivate");
    assert!(
        act >= delta(&before, &after, "pgactivate"),
        "pgactivate {act} < /proc/vmstat delta"
    );
    assert_eq!(
        report["memcg_reclaimed"].as_u64(),
        Some(steal_file),
        "memcg limit reclaim is the only reclaimer in this workload"
    );

    let lost = report["lost_total"].as_u64().expect("lost_total");
    let hooks = report["hooks"].as_array().expect("hooks");
    let mut compared = 0;
    for e in &events {
        let ours = hooks
            .iter()
            .find(|h| h["name"] == e.as_str())
            .and_then(|h| h["events"].as_u64())
            .unwrap_or_else(|| panic!("{e} missing from vmscan's report"));
        let theirs = *perf
            .get(e)
            .unwrap_or_else(|| panic!("{e} missing from perf output {perf:?}"));
        // pagemap events and reclaim_pages() (DAMON's pageout runs in the
        // background) happen outside the workload too: vmscan's window
        // holds perf's, so it sees at least as many.
        if e.starts_with("pagemap:") || e.ends_with("mm_vmscan_reclaim_pages") {
            assert!(ours >= theirs, "{e}: vmscan {ours} < perf {theirs}");
        } else if lost == 0 {
            assert_eq!(ours, theirs, "{e}: vmscan vs perf stat");
            compared += 1;
        }
    }
    if lost == 0 {
        assert!(
            compared >= 12,
            "compared only {compared} vmscan tracepoints"
        );
    } else {
        eprintln!(
            "note: {lost} ring-buffer records lost; event counts compared only as lower bounds"
        );
    }
    // Every mm_lru_insertion run counts exactly one folio on one list,
    // whichever path the program took (tp_btf counts a small folio from its
    // flags alone): the folios over all lists are the hook's runs, up to
    // the insertions between the two maps' last reads (the machine keeps
    // inserting): within 1%, where a path that missed or double-counted
    // the workload's file folios would be off by 10,000 or more.
    let hook_runs = |name: &str| {
        hooks
            .iter()
            .find(|h| h["name"] == name)
            .and_then(|h| h["events"].as_u64())
            .unwrap_or(0)
    };
    let nodes = report["nodes"].as_array().expect("nodes");
    let sum = |f: &dyn Fn(&serde_json::Value) -> u64| nodes.iter().map(f).sum::<u64>();
    let folios = sum(&|n| n["inserted_folios"].as_u64().expect("inserted_folios"));
    let file_pages = sum(&|n| {
        n["inserted"]["inactive_file"].as_u64().unwrap_or(0)
            + n["inserted"]["active_file"].as_u64().unwrap_or(0)
    });
    let runs = hook_runs("pagemap:mm_lru_insertion");
    assert!(
        folios.abs_diff(runs) <= runs / 100,
        "inserted folios {folios} vs mm_lru_insertion's runs {runs}"
    );
    assert!(
        folios >= perf["pagemap:mm_lru_insertion"],
        "inserted folios {folios} < perf stat's insertions {perf:?}"
    );
    assert!(
        file_pages >= 10_000,
        "reading the file inserts file pages: saw {file_pages}"
    );
    let isolate = perf["vmscan:mm_vmscan_lru_isolate"];
    assert!(
        isolate > 50,
        "the workload should run many shrink passes, perf saw {isolate}"
    );
    // stat counts shrink passes from the aggregates, not ring records.
    let passes = report["episodes"]["shrink_passes"]
        .as_u64()
        .expect("episodes.shrink_passes");
    let perf_passes = perf["vmscan:mm_vmscan_lru_shrink_inactive"];
    assert!(
        passes >= perf_passes && perf_passes > 0,
        "shrink passes: vmscan {passes}, perf stat {perf_passes}"
    );
    // And the reclaim episodes from the kernel's per-reclaimer aggregate:
    // at least perf's ends (its window lies inside vmscan's), at most the
    // end hook's runs (an episode begun before vmscan attached has no start).
    let memcg = &report["episodes"]["reclaim"]["memcg"];
    let episodes = memcg["episodes"].as_u64().unwrap_or(0);
    let perf_ends = perf["vmscan:mm_vmscan_memcg_reclaim_end"];
    let end_runs = hook_runs("vmscan:mm_vmscan_memcg_reclaim_end");
    assert!(
        perf_ends > 0 && episodes >= perf_ends && episodes <= end_runs,
        "memcg episodes: vmscan {episodes}, perf stat {perf_ends} ends, end hook {end_runs} runs"
    );
    assert_eq!(
        memcg["latency_us"]["count"].as_u64(),
        Some(episodes),
        "{memcg}"
    );
    assert!(memcg["reclaimed"].as_u64().unwrap_or(0) > 0, "{memcg}");
}

#[test]
fn probes_reports_every_tracepoint_and_why_functions_are_missing() {
    if !require_root("probes_reports_every_tracepoint_and_why_functions_are_missing") {
        return;
    }
    let out = Command::new(bin())
        .args(["probes", "--json"])
        .output()
        .expect("vmscan probes");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(r["system"]["kernel"], kernel());
    // tp_btf needs kernel BTF (5.5+); without it the classic tracepoint.
    let expected = if std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        "tp_btf"
    } else {
        "tracepoint"
    };
    for h in r["hooks"].as_array().expect("hooks") {
        let name = h["name"].as_str().expect("name");
        if name.starts_with("vmscan:") || name.starts_with("pagemap:") {
            assert_eq!(h["mechanism"], expected, "{name}: {h}");
        } else if h["mechanism"].is_null() {
            let why = h["error"].as_str().unwrap_or("");
            // MGLRU's eviction functions stand in for tracepoints only
            // MGLRU before 6.7 lacks; this host (6.18) fires them, or has
            // no MGLRU. Only MGLRU's reclaim calls try_to_shrink_lruvec.
            let mglru = r["system"]["mglru"].is_boolean();
            if ["evict_folios", "shrink_folio_list"].contains(&name)
                || (name == "try_to_shrink_lruvec" && !mglru)
            {
                assert!(
                    why.starts_with("not needed on this kernel"),
                    "{name}: {why}"
                );
                continue;
            }
            // Unavailable: the reason must say what the kernel refused.
            assert!(
                why.contains("fentry") && (why.contains("kprobe") || why.contains("KPROBES")),
                "{name}: {why}"
            );
        }
    }
    let text = Command::new(bin())
        .arg("probes")
        .output()
        .expect("vmscan probes");
    let text = String::from_utf8(text.stdout).expect("utf8");
    assert!(
        text.contains("hooks:")
            && text.contains("vmscan:mm_vmscan_lru_shrink_inactive")
            && text.contains("evict_folios")
            && text.contains("not needed: "),
        "{text}"
    );
    // --strict fails on unavailable hooks only, not on those not needed.
    let strict = Command::new(bin())
        .args(["probes", "--strict"])
        .output()
        .expect("vmscan probes --strict");
    let err = String::from_utf8_lossy(&strict.stderr);
    assert!(!err.contains("evict_folios"), "{err}");
}

#[test]
fn without_privileges_one_line_and_exit_code_3() {
    if !require_root("without_privileges_one_line_and_exit_code_3 (drops to nobody with setpriv)") {
        return;
    }
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--",
        ])
        .args([bin(), "stat", "--duration", "1"])
        .output()
        .expect("setpriv");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("CAP_BPF") && err.contains("sudo"), "{err}");
}

#[test]
fn bad_command_lines_name_the_value_and_exit_2() {
    for (args, needle) in [
        (&["stat", "--duration", "soon"][..], "soon"),
        (&["stat", "--interval", "-1"][..], "-1"),
        (&["stat", "--duration", "0"][..], "0"),
        (&["--frobnicate"][..], "--frobnicate"),
    ] {
        let out = Command::new(bin()).args(args).output().expect("run vmscan");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

fn node_meminfo_pages(node: u32) -> [u64; 5] {
    let text = std::fs::read_to_string(format!("/sys/devices/system/node/node{node}/meminfo"))
        .expect("node meminfo");
    let get = |k: &str| -> u64 {
        text.lines()
            .find_map(|l| {
                let mut it = l.split_whitespace().skip(2);
                (it.next()? == k)
                    .then(|| it.next()?.parse::<u64>().ok())
                    .flatten()
            })
            .unwrap_or_else(|| panic!("{k} missing from node meminfo"))
            / 4
    };
    [
        get("Inactive(anon):"),
        get("Active(anon):"),
        get("Inactive(file):"),
        get("Active(file):"),
        get("Unevictable:"),
    ]
}

#[test]
fn snapshot_agrees_with_node_meminfo_and_memcg_numa_stat() {
    if !require_root("snapshot_agrees_with_node_meminfo_and_memcg_numa_stat") {
        return;
    }
    let file = uncached_file(512);
    let cg = Memcg::new("vmscan-test-snap", 64 << 20);
    // Ended by SIGINT once the workload is done, not by a duration: its
    // last sample (taken on SIGINT) then falls between the two readings of
    // the kernel below, however long the read took on a busy machine.
    let vmscan = Vmscan::start(&["snapshot", "--json", "--duration", "300"]);
    let cmd = read_in_cgroup(&cg, &file);
    let st = Command::new(&cmd[0])
        .args(&cmd[1..])
        .status()
        .expect("workload");
    assert!(st.success());
    // The kernel's own view just before vmscan's last sample, read while
    // vmscan still runs so that its own memory is counted on both sides.
    let node0 = node_meminfo_pages(0);
    let numa = std::fs::read_to_string(cg.dir.join("memory.numa_stat")).expect("numa_stat");
    let out = vmscan.stop();
    let numa_after = std::fs::read_to_string(cg.dir.join("memory.numa_stat")).expect("numa_stat");
    let snap: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));

    let n0 = snap["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["node"] == 0)
        .expect("node 0 in snapshot");
    let total: u64 = node0.iter().sum();
    let tol = total / 50; // 2% of the node's LRU pages
    for (i, l) in n0["lists"].as_array().expect("lists").iter().enumerate() {
        let ours = l["pages"]
            .as_u64()
            .unwrap_or_else(|| panic!("{}: no size", l["name"]));
        let diff = ours.abs_diff(node0[i]);
        assert!(
            diff <= tol,
            "{}: vmscan {ours} vs node meminfo {} (tolerance {tol})",
            l["name"],
            node0[i]
        );
    }

    let name = format!("/{}", cg.dir.file_name().unwrap().to_string_lossy());
    let lv = snap["lruvecs"]
        .as_array()
        .expect("lruvecs")
        .iter()
        .find(|l| l["memcg"] == name.as_str() && l["node"] == 0)
        .unwrap_or_else(|| panic!("lruvec (node 0, {name}) missing"));
    // memory.numa_stat: v1 "file=N N0=..." in pages, v2 "file N0=bytes".
    let file_n0 = |numa: &str| -> u64 {
        numa.lines()
            .find(|l| l.starts_with("file=") || l.starts_with("file "))
            .and_then(|l| l.split_whitespace().find_map(|p| p.strip_prefix("N0=")))
            .and_then(|v| v.parse().ok())
            .map(|v: u64| if numa.contains("file=") { v } else { v / 4096 })
            .expect("file N0 in numa_stat")
    };
    // vmscan's last sample falls between these two readings of the cgroup.
    let (a, b) = (file_n0(&numa), file_n0(&numa_after));
    let (lo, hi) = (a.min(b), a.max(b));
    let ours = lv["file"].as_u64().expect("file");
    assert!(
        lo > 1000,
        "the cgroup should hold page cache after the read, has {lo}"
    );
    assert!(
        ours + lo / 50 >= lo && ours <= hi + hi / 50,
        "memcg file pages: vmscan {ours} vs numa_stat {a} before and {b} after its last sample (2% tolerance)"
    );
    let inserted_file = lv["inserted"]["inactive_file"].as_u64().expect("inserted")
        + lv["inserted"]["active_file"].as_u64().expect("inserted");
    assert!(
        inserted_file >= 100_000,
        "the 512 MiB read inserts >= 100000 file pages charged to {name}, saw {inserted_file}"
    );

    let m = snap["memcgs"]
        .as_array()
        .expect("memcgs")
        .iter()
        .find(|m| m["path"] == name.as_str())
        .unwrap_or_else(|| panic!("no memcg reclaim episodes for {name}: {}", snap["memcgs"]));
    assert!(m["reclaim_episodes"].as_u64().unwrap() >= 10, "{m}");
    assert!(m["reclaimed"].as_u64().unwrap() >= 50_000, "{m}");
    assert!(m["latency_us"]["max"].as_u64().unwrap() > 0, "{m}");
}

/// mm/vmscan.c: reclaimer_offset() counts a proactive scan_control as
/// pgscan_proactive (6.16+); vmscan must too, and leave pgscan_direct alone.
#[test]
fn proactive_node_reclaim_is_counted_as_the_kernel_counts_it() {
    if !require_root("proactive_node_reclaim_is_counted_as_the_kernel_counts_it") {
        return;
    }
    let knob = std::path::Path::new("/sys/devices/system/node/node0/reclaim");
    if !knob.exists() || !vmstat().contains_key("pgscan_proactive") {
        eprintln!(
            "skipping: kernel {} has no per-node proactive reclaim (node0/reclaim, pgscan_proactive: 6.17+)",
            kernel()
        );
        return;
    }
    let file = uncached_file(400);
    let st = Command::new("cat")
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("cat");
    assert!(st.success(), "caching {}", file.display());
    let vmscan = Vmscan::start(&["stat", "--json"]);
    let before = vmstat();
    // EAGAIN when less than asked could be reclaimed: what was is counted.
    let _ = std::fs::write(knob, "300M");
    let after = vmstat();
    let out = vmscan.stop();
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let v = &report["vmstat"];
    let proactive = delta(&before, &after, "pgsteal_proactive");
    assert!(
        proactive > 10_000,
        "node0/reclaim should reclaim > 40 MiB of page cache, reclaimed {proactive} pages"
    );
    assert_equal_to_vmstat(
        v,
        &before,
        &after,
        &[
            "pgscan_proactive",
            "pgsteal_proactive",
            "pgscan_direct",
            "pgsteal_direct",
            "pgscan_kswapd",
            "pgsteal_kswapd",
            "pgscan_file",
            "pgsteal_file",
        ],
    );
    // vmscan's own self-check, bracketed by its own reads of /proc/vmstat,
    // agrees: every pgscan/pgsteal counter exact.
    let checks = report["self_check"]["counters"]
        .as_array()
        .expect("self_check");
    for c in checks.iter().filter(|c| {
        c["counter"]
            .as_str()
            .is_some_and(|n| n.starts_with("pgscan") || n.starts_with("pgsteal"))
    }) {
        assert_eq!(c["divergence_pages"], 0, "self-check: {c}");
    }
    assert!(
        checks.iter().any(|c| c["counter"] == "pgscan_proactive"),
        "pgscan_proactive is checked: {checks:?}"
    );
}

/// MADV_PAGEOUT goes through reclaim_pages(), outside any reclaim pass: the
/// kernel counts its activations in pgactivate (shrink_folio_list) but its
/// pages in no pgscan/pgsteal; vmscan must count the same.
#[test]
fn madv_pageout_activations_are_counted_in_pgactivate() {
    if !require_root("madv_pageout_activations_are_counted_in_pgactivate") {
        return;
    }
    if !std::path::Path::new("/sys/kernel/tracing/events/vmscan/mm_vmscan_reclaim_pages").exists() {
        eprintln!(
            "skipping: kernel {} has no vmscan:mm_vmscan_reclaim_pages (it came after 6.12)",
            kernel()
        );
        return;
    }
    let file = uncached_file(64);
    let f = std::fs::File::open(&file).expect("open");
    let len = 64usize << 20;
    let vmscan = Vmscan::start(&["stat", "--json"]);
    let before = vmstat();
    // SAFETY: a private read-only mapping of a file we own, unmapped below;
    // the reads stay inside it.
    unsafe {
        use std::os::fd::AsRawFd as _;
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        );
        assert_ne!(p, libc::MAP_FAILED, "mmap");
        for _ in 0..2 {
            for off in (0..len).step_by(4096) {
                std::ptr::read_volatile((p as *const u8).add(off));
            }
        }
        assert_eq!(
            libc::madvise(p, len, libc::MADV_PAGEOUT),
            0,
            "madvise(MADV_PAGEOUT)"
        );
        libc::munmap(p, len);
    }
    let after = vmstat();
    let out = vmscan.stop();
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let rp = &report["reclaim_pages"];
    assert!(
        rp["scanned"].as_u64().unwrap_or(0) >= 10_000,
        "MADV_PAGEOUT of 64 MiB went through reclaim_pages: {rp}"
    );
    let v = &report["vmstat"];
    assert_equal_to_vmstat(
        v,
        &before,
        &after,
        &["pgactivate", "pgscan_file", "pgsteal_file", "pgscan_direct"],
    );
}

/// The aggregate maps are read in batches where the kernel has the batch
/// op for their type (the stat tests above then read them so, but for the
/// one that turns batches off); a kernel without it for some (per-CPU
/// arrays on 5.10: ENOTSUPP) must be named, and nothing else may refuse.
#[test]
fn the_aggregate_maps_are_read_in_batches() {
    if !require_root("the_aggregate_maps_are_read_in_batches") {
        return;
    }
    let said = |env: &[(&str, &str)]| {
        let out = Command::new(bin())
            .args(["-v", "stat", "--json", "-d", "1"])
            .envs(env.iter().copied())
            .output()
            .expect("vmscan stat");
        assert!(out.status.success(), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        err.lines()
            .find(|l| l.contains("aggregate maps"))
            .unwrap_or_else(|| panic!("no word on how the maps are read: {err}"))
            .to_owned()
    };
    let batched = said(&[]);
    let lacking = batched.contains("read element by element: ")
        && batched
            .split(": ")
            .skip(1)
            .collect::<Vec<_>>()
            .join(": ")
            .split(", ")
            .all(|m| m.contains("(ENOTSUPP"));
    assert!(
        batched.contains("maps are read in batches") || lacking,
        "{batched}"
    );
    let not = said(&[("VMSCAN_TEST_NO_BATCH", "1")]);
    assert!(
        not.contains("maps are read element by element (VMSCAN_TEST_NO_BATCH)"),
        "{not}"
    );
}

/// The kswapd wake-up hook's interrupt-context reader, where the context is
/// known: softirq entry read as a softirq, the local timer (x86) as a
/// hardirq, every getppid() call of the command as its task. By the kernel
/// stack here (this host's kallsyms lists no per-CPU data; where it does,
/// the preempt_count by default, and the stack with --by-stack, both checked
/// in the lab's irqctx scenario).
#[test]
fn the_interrupt_context_is_read_as_the_kernel_runs_it() {
    if !require_root("the_interrupt_context_is_read_as_the_kernel_runs_it") {
        return;
    }
    let out = Command::new(bin())
        .args(["lab-irq-context", "--seconds", "2", "--by-stack"])
        .output()
        .expect("vmscan lab-irq-context");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let j: Value = serde_json::from_str(text.trim()).expect("one JSON line");
    assert_eq!(j["readable"], true, "{j}");
    assert!(
        j["source"].as_str().unwrap().contains("kernel stack"),
        "{j}"
    );
    assert_eq!(j["wrong"], serde_json::json!([]), "{j}");
    let runs = |p: &str, c: &str| j["seen"][p][c].as_u64().unwrap_or(0);
    assert!(runs("softirq_entry", "softirq") > 0, "{j}");
    assert!(runs("softirq_entry_tracepoint", "softirq") > 0, "{j}");
    assert_eq!(
        runs("getppid", "task"),
        j["getppid_calls"].as_u64().unwrap(),
        "{j}"
    );
    assert!(runs("getppid", "task") > 0, "{j}");
    if std::path::Path::new("/sys/kernel/tracing/events/irq_vectors/local_timer_entry").exists() {
        assert!(runs("local_timer_entry", "hardirq") > 0, "{j}");
    }
}

/// A SIGINT while vmscan is still attaching (sent by vmscan itself once
/// mm_lru_insertion is attached: VMSCAN_TEST_SIGINT_AFTER) stops it there:
/// what it attached is let go, it says so, prints nothing and ends as
/// SIGINT ends a process.
/// Before, the signal's default action killed it, which leaves the kprobe
/// events of its kretprobes behind where it makes them (the lab's kretmiss
/// scenario checks those are removed).
#[test]
fn a_sigint_while_starting_stops_vmscan_cleanly() {
    if !require_root("a_sigint_while_starting_stops_vmscan_cleanly") {
        return;
    }
    let out = Command::new(bin())
        // Bounded, should the stop not come.
        .args(["stat", "--json", "--duration", "30"])
        .env("VMSCAN_TEST_SIGINT_AFTER", "pagemap:mm_lru_insertion")
        .output()
        .expect("run vmscan");
    let err = String::from_utf8_lossy(&out.stderr);
    // Ended as the signal ends a process (a shell's status 130).
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGINT),
        "{:?}; stderr: {err}",
        out.status
    );
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout);
    assert!(
        err.contains("stopped by SIGINT while starting"),
        "stderr: {err}"
    );
}
