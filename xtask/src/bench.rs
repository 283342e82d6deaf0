//! `cargo xtask bench`: runs the benchmarks and writes their figures as a
//! Markdown table to bench/results.md (bench/results-quick.md for --quick).

use std::process::Command;

use anyhow::{Context as _, bail};

use crate::{
    build, lab, overhead,
    sh::{apt_install, cargo, clk_tck, is_root, machine_description, proc_cpu_ticks, proc_status_kib, root, say, status},
};

pub(crate) fn bench(which: &str, quick: bool, kernel: Option<&str>) -> anyhow::Result<()> {
    let known = ["all", "model", "tui", "overhead", "lab"];
    if !known.contains(&which) {
        bail!("unknown benchmark `{which}`: expected one of {known:?}");
    }
    let mut rows = Vec::new();
    if which == "all" || which == "model" {
        let mut c = cargo();
        c.args(["bench", "-p", "vmscan-user", "--bench", "model", "--"]);
        if quick {
            c.arg("--quick");
        }
        let out = c.output().context("running the model benchmark")?;
        if !out.status.success() {
            bail!("model benchmark failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        rows.extend(String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with('|')).map(str::to_owned));
    }
    if which == "all" || which == "tui" {
        rows.extend(bench_tui(quick)?);
    }
    let (mut overhead_rows, mut cost_rows) = (vec![], vec![]);
    if which == "all" || which == "overhead" {
        if !is_root() {
            say("skipping the overhead benchmark: it needs root");
        } else {
            apt_install(&["bpftrace", "bpftool", "linux-perf"])?;
            build()?;
            let env = overhead::Env::host(&root().join("target/release/vmscan"));
            let sizes = overhead::Sizes::new(quick);
            overhead_rows = overhead::run(&env, &sizes)?;
            cost_rows = overhead::program_costs(&env, &sizes, (overhead::Config::VmscanStat, overhead::Config::Bpftrace))?;
            rows.extend(overhead::ingest(&env.vmscan, quick)?);
        }
    }
    let mut lab_rows = vec![];
    if which == "lab" || (which == "all" && !quick) {
        if !is_root() {
            say("skipping the lab benchmark: it needs root");
        } else {
            lab_rows = lab::bench(quick, kernel)?;
        }
    }
    let mut table = format!(
        "# vmscan benchmarks\n\nMachine: {}\n\n| measure | result |\n|---|---|\n{}\n",
        machine_description(),
        rows.join("\n")
    );
    if !overhead_rows.is_empty() {
        table.push_str("\n## Overhead, side by side (interleaved rounds, medians)\n\n");
        table.push_str(&overhead_rows.join("\n"));
        table.push('\n');
    }
    if !cost_rows.is_empty() {
        table.push_str("\n## In-kernel cost per event, vmscan and bpftrace attached together (kernel.bpf_stats_enabled)\n\n");
        table.push_str(&cost_rows.join("\n"));
        table.push('\n');
    }
    for (kernel, rows) in &lab_rows {
        table.push_str(&format!(
            "\n## Inside the kernel lab: guest kernel {kernel} (QEMU TCG, 2 vCPUs, 1 GiB; function hooks by fentry, and by kprobes in the --no-fentry row)\n\n"
        ));
        table.push_str(&rows.join("\n"));
        table.push('\n');
    }
    let dir = root().join("bench");
    std::fs::create_dir_all(&dir)?;
    // A quick run does not replace the full run's figures (and lab sections).
    let path = dir.join(if quick { "results-quick.md" } else { "results.md" });
    // Only the lab's sections were run: keep the host's part of the file.
    if which == "lab" {
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let host = old.split("\n## Inside the kernel lab").next().unwrap_or("").trim_end().to_owned();
        let lab = table.split_once("\n## Inside the kernel lab").map(|(_, l)| format!("\n## Inside the kernel lab{l}")).unwrap_or_default();
        table = format!("{host}\n{lab}");
    }
    print!("{table}");
    std::fs::write(&path, &table)?;
    say(&format!("wrote {}", path.display()));
    Ok(())
}

/// CPU and memory of the terminal UI at the default interval on an idle
/// system: the real binary in a 120x40 tmux pane.
fn bench_tui(quick: bool) -> anyhow::Result<Vec<String>> {
    if !is_root() {
        say("skipping the TUI benchmark: it needs root");
        return Ok(vec![]);
    }
    apt_install(&["tmux"])?;
    build()?;
    let bin = root().join("target/release/vmscan");
    let session = format!("vmscan-bench-{}", std::process::id());
    status(Command::new("tmux").args(["new-session", "-d", "-s", &session, "-x", "120", "-y", "40"]).arg(format!("exec {}", bin.display())))?;
    let res = (|| -> anyhow::Result<Vec<String>> {
        std::thread::sleep(std::time::Duration::from_secs(3));
        let out = Command::new("tmux").args(["display", "-p", "-t", &session, "#{pane_pid}"]).output()?;
        let pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().context("pane pid")?;
        let secs = if quick { 10 } else { 30 };
        let t0 = proc_cpu_ticks(pid)?;
        let start = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_secs(secs));
        let t1 = proc_cpu_ticks(pid)?;
        let hz = clk_tck();
        let cpu = (t1 - t0) as f64 / hz / start.elapsed().as_secs_f64() * 100.0;
        Ok(vec![
            format!("| TUI CPU, idle system, default 1 s interval | {cpu:.2}% of one core over {secs} s (target <= 2%) |"),
            format!(
                "| TUI memory | RSS {} KiB, peak {} KiB (target <= 40 MiB) |",
                proc_status_kib(pid, "VmRSS:"),
                proc_status_kib(pid, "VmHWM:")
            ),
        ])
    })();
    let _ = Command::new("tmux").args(["kill-session", "-t", &session]).status();
    res
}
