//! The real binary's terminal UI in tmux, as root, on this kernel, during a
//! memcg reclaim workload.

mod common;

use std::{process::Command, time::Duration};

use common::*;

/// tmux on this test process's own server (common::tmux_on).
fn tmux_command() -> Command {
    tmux_on(&format!("vmscan-test-{}", std::process::id()))
}

fn tmux(args: &[&str]) -> String {
    let out = tmux_command()
        .args(args)
        .output()
        .expect("tmux (cargo xtask test installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_for(session: &str, needle: &str, secs: u64) -> String {
    let mut last = String::new();
    for _ in 0..(secs * 10) {
        last = tmux(&["capture-pane", "-p", "-t", session]);
        if last.contains(needle) {
            return last;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("`{needle}` did not appear within {secs} s; screen:\n{last}");
}

/// The figure before "/s" after `label` on a line of the screen.
fn figure_after(screen: &str, label: &str) -> Option<f64> {
    screen.lines().find_map(|l| {
        let rest = &l[l.find(label)? + label.len()..];
        let tok = rest
            .split_whitespace()
            .next()?
            .trim_end_matches(',')
            .trim_end_matches("/s");
        let (num, mult) = match tok.strip_suffix('K') {
            Some(n) => (n, 1e3),
            None => match tok.strip_suffix('M') {
                Some(n) => (n, 1e6),
                None => (tok, 1.0),
            },
        };
        num.parse::<f64>().ok().map(|v| v * mult)
    })
}

#[test]
fn live_tui_shows_reclaim_and_restores_the_terminal() {
    if !require_root("live_tui_shows_reclaim_and_restores_the_terminal") {
        return;
    }
    let session = format!("vmscan-test-{}", std::process::id());
    let status = std::env::temp_dir().join(format!("{session}.status"));
    let _ = std::fs::remove_file(&status);
    let file = uncached_file(512);
    let cg = Memcg::new("vmscan-test-tui", 64 << 20);
    let cmd = format!(
        "{} --interval 0.5; echo $? > {}; sleep 600",
        bin(),
        status.display()
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "120",
        "-y",
        "40",
        &cmd,
    ]);
    let _kill = scopeguard(&session);
    wait_for(&session, "1 Nodes", 30);

    // Keep memcg reclaim going across several refreshes.
    let read = read_in_cgroup(&cg, &file);
    let mut workload = Command::new(&read[0])
        .arg("-c")
        .arg(format!(
            "for i in $(seq 40); do {}; echo 3 > /proc/sys/vm/drop_caches; done",
            read[2].replace("exec ", "")
        ))
        .spawn()
        .expect("workload");
    std::thread::sleep(Duration::from_millis(1500));
    let nodes = wait_for(&session, "node 0", 10);
    for list in [
        "inactive_anon",
        "active_anon",
        "inactive_file",
        "active_file",
        "unevictable",
    ] {
        assert!(
            nodes.contains(list),
            "{list} missing from the Nodes view:\n{nodes}"
        );
    }
    let mut reclaimed = figure_after(&nodes, "reclaimed").unwrap_or(0.0);
    for _ in 0..20 {
        if reclaimed > 0.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
        reclaimed = figure_after(&tmux(&["capture-pane", "-p", "-t", &session]), "reclaimed")
            .unwrap_or(0.0);
    }
    assert!(
        reclaimed > 0.0,
        "no reclaim figure on the Nodes view:\n{nodes}"
    );

    tmux(&["send-keys", "-t", &session, "2"]);
    let mut scanned = 0.0;
    let mut screen = String::new();
    for _ in 0..20 {
        screen = wait_for(&session, "shrink_inactive outcomes", 5);
        scanned = figure_after(&screen, "scanned").unwrap_or(0.0);
        if scanned > 0.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        scanned > 0.0,
        "no scan figure on the Reclaim view:\n{screen}"
    );
    assert!(screen.contains("lru_isolate since start"), "{screen}");
    let _ = workload.kill();
    let _ = workload.wait();

    assert_eq!(
        tmux(&["display", "-p", "-t", &session, "#{alternate_on}"]).trim(),
        "1",
        "the UI runs on the alternate screen"
    );
    tmux(&["send-keys", "-t", &session, "q"]);
    for _ in 0..50 {
        if status.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let code = std::fs::read_to_string(&status).expect("vmscan exited and its status was written");
    assert_eq!(code.trim(), "0", "exit status");
    assert_eq!(
        tmux(&["display", "-p", "-t", &session, "#{alternate_on}"]).trim(),
        "0",
        "terminal left the alternate screen"
    );
}

struct Kill(String);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = tmux_command()
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}
fn scopeguard(s: &str) -> Kill {
    Kill(s.to_owned())
}
