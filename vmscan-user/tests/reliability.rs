//! Reliability on the real kernel: loss accounting under a storm, no
//! program left behind after kill -9, two instances side by side, signals,
//! capabilities dropped, memory cgroups churning.

mod common;

use std::{collections::BTreeSet, process::Command, time::Duration};

use common::*;
use serde_json::Value;

fn our_program_ids() -> BTreeSet<u32> {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter(|p| {
            // The kernel keeps 15 characters of the ELF name: tp_btf and
            // raw_tp programs are btf_* / raw_*.
            let n = p.name_as_str().unwrap_or("");
            let n = n
                .strip_prefix("btf_")
                .or_else(|| n.strip_prefix("raw_"))
                .unwrap_or(n);
            n.starts_with("vmscan_") || n.starts_with("pagemap_lru")
        })
        .map(|p| p.id())
        .collect()
}

#[test]
fn kill_9_leaves_no_program_attached_and_signals_exit_cleanly() {
    if !require_root("kill_9_leaves_no_program_attached_and_signals_exit_cleanly") {
        return;
    }
    // An earlier test's instance may still be having its programs freed.
    let before = settled(&BTreeSet::new());
    let v = Vmscan::start(&["stat"]);
    let during = our_program_ids();
    let new = during.difference(&before).count();
    assert!(
        new >= 14,
        "vmscan's programs should be loaded: {new} new ones ({} before, {} during)",
        before.len(),
        during.len()
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", v.child.id())).unwrap();
    let cap = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .map(|l| l.split_whitespace().nth(1).unwrap().to_owned())
    };
    assert_eq!(
        cap("CapEff:").as_deref(),
        Some("0000000000000000"),
        "capabilities dropped after attach"
    );
    assert_eq!(cap("CapPrm:").as_deref(), Some("0000000000000000"));
    let mut child = v.child;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(
        settled(&before),
        before,
        "no vmscan program may outlive a kill -9 (nothing is pinned)"
    );

    // SIGTERM: a clean exit with the report printed.
    let v = Vmscan::start(&["stat", "--json"]);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(v.child.id() as i32, libc::SIGTERM) };
    let out = v.child.wait_with_output().unwrap();
    assert!(out.status.success());
    let j: Value = serde_json::from_slice(&out.stdout).expect("report after SIGTERM");
    assert!(j["vmstat"].is_object());
    assert_eq!(settled(&before), before);
}

/// Our program ids once they are `want` or 5 s have passed: the kernel
/// frees a detached program after an RCU grace period (tp_btf and raw_tp
/// ones through deferred work), not at once.
fn settled(want: &BTreeSet<u32>) -> BTreeSet<u32> {
    for _ in 0..50 {
        let now = our_program_ids();
        if now == *want {
            return now;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    our_program_ids()
}

#[test]
fn two_instances_count_the_same_independently() {
    if !require_root("two_instances_count_the_same_independently") {
        return;
    }
    let file = uncached_file(512);
    let cg = Memcg::new("vmscan-test-two", 64 << 20);
    let a = Vmscan::start(&["stat", "--json"]);
    let b = Vmscan::start(&["stat", "--json"]);
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
    let (ja, jb): (Value, Value) = (
        serde_json::from_str(&a.stop()).unwrap(),
        serde_json::from_str(&b.stop()).unwrap(),
    );
    for key in ["pgscan_file", "pgsteal_file"] {
        let d = delta(&before, &after, key);
        assert_eq!(ja["vmstat"][key].as_u64(), Some(d), "first instance {key}");
        assert_eq!(jb["vmstat"][key].as_u64(), Some(d), "second instance {key}");
    }
}

#[test]
fn ring_buffer_storm_counts_losses_and_keeps_exact_counters() {
    if !require_root("ring_buffer_storm_counts_losses_and_keeps_exact_counters") {
        return;
    }
    let file = uncached_file(512);
    let cg = Memcg::new("vmscan-test-storm", 64 << 20);
    // A one-page ring holds ~40 records; with a consumer that waits 100 ms
    // before each drain (a loaded host), a memcg reclaim burst of hundreds
    // of episodes (one record each, for the model's views) overflows it.
    let tiny = ["--json", "--ring-kib", "4", "--drain-delay-ms", "100"];
    let model = Vmscan::start(&[&["snapshot", "-d", "600"][..], &tiny[..]].concat());
    // stat takes its episodes from the per-CPU aggregate: the same tiny
    // ring loses none of them.
    let stat = Vmscan::start(&[&["stat"][..], &tiny[..]].concat());
    let before = vmstat();
    let cmd = read_in_cgroup(&cg, &file);
    let hook = "vmscan:mm_vmscan_memcg_reclaim_end";
    let perf = perf_stat(&[hook.to_owned()], &cmd);
    let after = vmstat();
    let j: Value = serde_json::from_str(&model.stop()).unwrap();
    let js: Value = serde_json::from_str(&stat.stop()).unwrap();
    let ends = perf.get(hook).copied().unwrap_or(0);
    let lost = j["lost_total"].as_u64().unwrap();
    assert!(lost > 0, "a 4 KiB ring must overflow under this burst: {j}");
    let find = |j: &Value| {
        j["hooks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == hook)
            .cloned()
            .unwrap()
    };
    let h = find(&j);
    assert!(
        h["lost"].as_u64().unwrap() > 0,
        "losses are counted per hook"
    );
    assert_eq!(
        h["events"].as_u64(),
        Some(ends),
        "events stay exact under loss"
    );
    assert_eq!(
        j["totals"]["vmstat"]["pgsteal_file"].as_u64(),
        Some(delta(&before, &after, "pgsteal_file")),
        "counters do not depend on the ring"
    );
    let hs = find(&js);
    assert_eq!(
        (hs["events"].as_u64(), hs["lost"].as_u64()),
        (Some(ends), Some(0)),
        "stat sends no record per episode"
    );
    assert_eq!(
        js["episodes"]["reclaim"]["memcg"]["episodes"].as_u64(),
        Some(ends),
        "stat's episodes come from the aggregate, whatever the ring does: {}",
        js["episodes"]
    );
    assert_eq!(
        js["vmstat"]["pgsteal_file"].as_u64(),
        Some(delta(&before, &after, "pgsteal_file"))
    );
    let text = Command::new(bin())
        .args(["stat", "--duration", "0.2", "--ring-kib", "4"])
        .output()
        .unwrap();
    assert!(text.status.success());
}

/// None (after saying why) on a kernel without syscall tracepoints
/// (CONFIG_FTRACE_SYSCALLS), where the storm cannot be attached.
fn ingest(args: &[&str]) -> Option<Value> {
    let out = Command::new(bin()).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && err.contains("syscalls:sys_enter_getppid") {
        eprintln!(
            "skipping the synthetic storm: kernel {} has no syscall tracepoint to attach it to: {err}",
            kernel()
        );
        return None;
    }
    assert!(out.status.success(), "{args:?}: {err}");
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn synthetic_storm_every_record_is_drained_or_counted_lost() {
    if !require_root("synthetic_storm_every_record_is_drained_or_counted_lost") {
        return;
    }
    // 2 M records/s from the kernel for 2 s through the default ring: all
    // of them reach the model.
    let Some(j) = ingest(&["bench-ingest", "--seconds", "2", "--rate", "2000000"]) else {
        return;
    };
    let sent = j["sent"].as_u64().unwrap();
    assert!(sent > 2_000_000, "the storm ran: {j}");
    assert_eq!(j["lost"].as_u64(), Some(0), "{j}");
    assert_eq!(
        j["drained"].as_u64(),
        Some(sent),
        "every record sent is drained: {j}"
    );
    assert_eq!(
        j["misread"].as_u64(),
        Some(0),
        "every record reads back as the shrink pass it is: {j}"
    );
    // A 64 KiB ring and a consumer that sleeps 50 ms before each drain
    // overflow: the losses are counted and what was sent still arrives.
    let j = ingest(&[
        "--ring-kib",
        "64",
        "--drain-delay-ms",
        "50",
        "bench-ingest",
        "--seconds",
        "1",
        "--rate",
        "2000000",
    ])
    .expect("the storm attached a moment ago");
    assert!(
        j["lost"].as_u64().unwrap() > 0,
        "a 64 KiB ring must overflow: {j}"
    );
    assert_eq!(j["drained"], j["sent"], "{j}");
}

#[test]
fn cgroup_churn_during_a_snapshot() {
    if !require_root("cgroup_churn_during_a_snapshot") {
        return;
    }
    let v = Vmscan::start(&["snapshot", "--json", "--duration", "3"]);
    let root = std::path::Path::new("/sys/fs/cgroup/memory");
    let root = if root.exists() {
        root.to_path_buf()
    } else {
        std::path::PathBuf::from("/sys/fs/cgroup")
    };
    for round in 0..3 {
        let dirs: Vec<_> = (0..100)
            .map(|i| root.join(format!("vmscan-churn-{round}-{i}")))
            .collect();
        for d in &dirs {
            std::fs::create_dir(d).unwrap();
        }
        std::thread::sleep(Duration::from_millis(400));
        for d in &dirs {
            std::fs::remove_dir(d).unwrap();
        }
    }
    let keep = root.join("vmscan-churn-kept");
    let _ = std::fs::create_dir(&keep);
    let out = v.finish();
    let j: Value = serde_json::from_str(&out).unwrap();
    let names: BTreeSet<String> = j["lruvecs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["memcg"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.contains("vmscan-churn-0") || n.contains("vmscan-churn-1")),
        "deleted cgroups are forgotten: {names:?}"
    );
    assert!(
        names.contains("/vmscan-churn-kept"),
        "a cgroup that exists at the last sample is listed: {names:?}"
    );
    let _ = std::fs::remove_dir(&keep);
}

#[test]
fn record_as_the_sudo_user_writes_a_private_file_owned_by_them() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    if !require_root("record_as_the_sudo_user_writes_a_private_file_owned_by_them") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("vmscan-user-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = dir.join("as-nobody.vmscan");
    let st = Command::new(bin())
        .args(["record", "--user", "-d", "1", "-o"])
        .arg(&out)
        .env("SUDO_UID", "65534")
        .env("SUDO_GID", "65534")
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let m = std::fs::metadata(&out).unwrap();
    assert_eq!(
        (m.uid(), m.gid()),
        (65534, 65534),
        "owned by the invoking user"
    );
    assert_eq!(m.permissions().mode() & 0o777, 0o600);
    let r = Command::new(bin())
        .args(["replay", "--json"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        r.status.success(),
        "the file replays: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    // Without sudo's variables --user refuses instead of guessing.
    let bad = Command::new(bin())
        .args(["record", "--user", "-d", "1", "-o"])
        .arg(dir.join("x"))
        .env_remove("SUDO_UID")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("SUDO_UID"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A full disk under `record`: one line naming the file and the cause, exit
/// code 1, no panic; the recording replays up to its last complete record.
#[test]
fn record_on_a_full_disk_stops_with_one_line_and_stays_replayable() {
    if !require_root("record_on_a_full_disk_stops_with_one_line_and_stays_replayable") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("vmscan-full-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=128k", "tmpfs"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(mounted.success(), "mounting a small tmpfs");
    let file = dir.join("r.vmscan");
    let out = Command::new(bin())
        .args(["record", "--interval", "0.1", "--duration", "60", "-o"])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = Command::new(bin())
        .arg("report")
        .arg(&file)
        .output()
        .unwrap();
    let _ = Command::new("umount").arg(&dir).status();
    let _ = std::fs::remove_dir(&dir);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let last = err.lines().last().unwrap_or("");
    assert!(
        last.contains("No space left on device") && last.contains("r.vmscan"),
        "one line naming the file and the cause: {err}"
    );
    let text = String::from_utf8_lossy(&report.stdout).into_owned()
        + &String::from_utf8_lossy(&report.stderr);
    // report replays what is there and says where the file was cut short.
    assert!(
        text.contains("records") && text.contains("truncated record"),
        "the recording replays: {text}"
    );
    assert!(!text.contains("panicked"), "{text}");
}

/// The TUI's terminal goes away (tmux kills its session: SIGHUP): vmscan
/// exits by itself, without a panic.
#[test]
fn tui_exits_quietly_when_its_terminal_goes_away() {
    if !require_root("tui_exits_quietly_when_its_terminal_goes_away") {
        return;
    }
    let session = format!("vmscan-hup-{}", std::process::id());
    let log = std::env::temp_dir().join(format!("{session}.err"));
    // A tmux server of its own.
    let tmux = || tmux_on(&session);
    let started = tmux()
        .args(["new-session", "-d", "-s", &session, "-x", "100", "-y", "30"])
        .arg(format!("exec {} 2>{}", bin(), log.display()))
        .status()
        .expect("tmux (cargo xtask test installs it)");
    assert!(started.success());
    std::thread::sleep(Duration::from_secs(4));
    let out = tmux()
        .args(["display", "-p", "-t", &session, "#{pane_pid}"])
        .output()
        .unwrap();
    let pid: i32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("pane pid");
    assert!(
        tmux()
            .args(["kill-session", "-t", &session])
            .status()
            .unwrap()
            .success()
    );
    let gone = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        // SAFETY: signal 0 only checks that the pid exists.
        (unsafe { libc::kill(pid, 0) }) != 0
    });
    let err = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    if !gone {
        // SAFETY: killing the pid we started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert!(
        gone,
        "vmscan still runs 5 s after its terminal went away; stderr: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
