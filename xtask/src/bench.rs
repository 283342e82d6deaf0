//! `cargo xtask bench`: runs the benchmarks and writes their figures as a
//! Markdown table to bench/results.md (bench/results-quick.md for --quick).

use std::time::Duration;

use anyhow::{Context as _, bail};

mod memcgs;

use crate::{
    build, lab, overhead,
    sh::{
        apt_install, cargo, cpu_share, is_root, machine_description, proc_status_kib, root, say,
        status,
    },
};

/// Figures of this host's benchmarks.
#[derive(Default)]
struct HostFigures {
    /// Rows of the main `| measure | result |` table.
    rows: Vec<String>,
    /// The overhead comparison's own table.
    overhead: Vec<String>,
    /// The per-event cost table.
    costs: Vec<String>,
    /// The whole cost per event (trigger loop).
    trigger: Vec<String>,
}

pub(crate) fn bench(
    which: &str,
    quick: bool,
    kernel: Option<&str>,
    marks_only: bool,
) -> anyhow::Result<()> {
    let known = ["all", "model", "tui", "memcgs", "overhead", "lab"];
    if !known.contains(&which) {
        bail!("unknown benchmark `{which}`: expected one of {known:?}");
    }
    if marks_only {
        if which != "lab" {
            bail!(
                "--marks-only is a part of the lab benchmark: `cargo xtask bench lab --marks-only`"
            );
        }
        if !is_root() {
            bail!("the lab benchmark needs root");
        }
        let lab_rows = lab::bench(quick, kernel, true)?;
        return write_results(
            "lab-marks",
            quick,
            render(&HostFigures::default(), &lab_rows),
        );
    }
    let mut host = HostFigures::default();
    if which == "all" || which == "model" {
        host.rows.extend(bench_model(quick)?);
    }
    if which == "all" || which == "tui" {
        host.rows.extend(bench_tui(quick)?);
    }
    if which == "all" || which == "memcgs" {
        if is_root() {
            host.rows.extend(memcgs::rows(quick)?);
        } else {
            say("skipping the memcg scaling benchmark: it needs root");
        }
    }
    if which == "all" || which == "overhead" {
        bench_overhead(quick, &mut host)?;
    }
    let mut lab_rows = vec![];
    if which == "lab" || (which == "all" && !quick) {
        if !is_root() {
            say("skipping the lab benchmark: it needs root");
        } else {
            lab_rows = lab::bench(quick, kernel, false)?;
        }
    }
    let table = render(&host, &lab_rows);
    write_results(which, quick, table)
}

/// The model benchmark's rows (cargo bench).
fn bench_model(quick: bool) -> anyhow::Result<Vec<String>> {
    let mut c = cargo();
    c.args(["bench", "-p", "vmscan-user", "--bench", "model", "--"]);
    if quick {
        c.arg("--quick");
    }
    let out = c.output().context("running the model benchmark")?;
    if !out.status.success() {
        bail!(
            "model benchmark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(str::to_owned)
        .collect())
}

/// The overhead comparison, per-event costs and ingest on this host.
fn bench_overhead(quick: bool, host: &mut HostFigures) -> anyhow::Result<()> {
    if !is_root() {
        say("skipping the overhead benchmark: it needs root");
        return Ok(());
    }
    apt_install(&["bpftrace", "bpftool", "linux-perf"])?;
    build()?;
    let env = overhead::Env::host(&root().join("target/release/vmscan"));
    let sizes = overhead::Sizes::new(quick);
    host.overhead = overhead::run(&env, &sizes)?;
    for pair in &overhead::PAIRS[..2] {
        host.costs
            .extend(overhead::program_costs(&env, &sizes, *pair)?);
        host.costs.push(String::new());
    }
    host.trigger = overhead::trigger_costs(&env, &sizes)?;
    host.rows.extend(overhead::ingest(&env.vmscan, quick)?);
    host.rows.extend(overhead::read_cost(&env.vmscan, quick)?);
    Ok(())
}

/// The results file: the machine, the main table, then a section per
/// further table.
fn render(host: &HostFigures, lab_rows: &[(String, Vec<String>)]) -> String {
    let mut table = format!(
        "# vmscan benchmarks\n\nMachine: {}\n",
        machine_description()
    );
    // A lab-only part (--marks-only) has no host rows.
    if !host.rows.is_empty() {
        table.push_str(&format!(
            "\n| measure | result |\n|---|---|\n{}\n",
            host.rows.join("\n")
        ));
    }
    let mut section = |title: &str, rows: &[String]| {
        table.push_str(&format!("\n## {title}\n\n"));
        table.push_str(&rows.join("\n"));
        table.push('\n');
    };
    if !host.overhead.is_empty() {
        section(
            "Overhead, side by side (interleaved rounds, medians)",
            &host.overhead,
        );
    }
    if !host.costs.is_empty() {
        section(
            "In-kernel cost per event, vmscan and bpftrace attached together (kernel.bpf_stats_enabled)",
            &host.costs,
        );
    }
    if !host.trigger.is_empty() {
        section(
            "Whole cost per event: a trigger loop's CPU time with each tracer attached, less the untraced loop's",
            &host.trigger,
        );
    }
    for (kernel, rows) in lab_rows {
        section(
            &format!(
                "Inside the kernel lab: guest kernel {kernel} (QEMU TCG, 2 vCPUs, 1 GiB; function hooks by fentry, and by kprobes in the --no-fentry row)"
            ),
            rows,
        );
    }
    table
}

/// Prints the table and writes it to bench/results.md (results-quick.md for
/// a quick run, which does not replace the full run's figures; a single host
/// benchmark writes results-<name>.md and leaves the full run's file alone).
fn write_results(which: &str, quick: bool, mut table: String) -> anyhow::Result<()> {
    let dir = root().join("bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(results_file(which, quick));
    // Only the lab's sections were run: keep the host's part of the file.
    if which == "lab" {
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        table = keep_host_part(&old, &table);
    }
    print!("{table}");
    std::fs::write(&path, &table)?;
    say(&format!("wrote {}", path.display()));
    Ok(())
}

/// Which file a run writes (see [`write_results`]).
fn results_file(which: &str, quick: bool) -> String {
    match (which, quick) {
        (_, true) => "results-quick.md".into(),
        ("all" | "lab", false) => "results.md".into(),
        (one, false) => format!("results-{one}.md"),
    }
}

/// The host's part of an older results file with a new run's lab sections.
fn keep_host_part(old: &str, table: &str) -> String {
    let host = old
        .split("\n## Inside the kernel lab")
        .next()
        .unwrap_or("")
        .trim_end()
        .to_owned();
    let lab = table
        .split_once("\n## Inside the kernel lab")
        .map(|(_, l)| format!("\n## Inside the kernel lab{l}"))
        .unwrap_or_default();
    format!("{host}\n{lab}")
}

/// How long the TUI runs before it is measured (start-up, first frames).
const TUI_WARM_UP: Duration = Duration::from_secs(3);
/// How long the TUI's CPU time is measured over, in seconds, in full and
/// --quick runs.
const TUI_SECS: u64 = 30;
const QUICK_TUI_SECS: u64 = 10;

/// Runs the release vmscan's terminal UI in a 120x40 tmux pane, waits
/// `warm_up`, then calls `f` with its pid; the session is killed after.
fn with_tui<T>(warm_up: Duration, f: impl FnOnce(u32) -> anyhow::Result<T>) -> anyhow::Result<T> {
    with_tui_keys(warm_up, "", f)
}

/// [`with_tui`], typing `keys` into the UI once it is up (e.g. "4": the
/// Cgroups tab), then warming up again before `f`.
fn with_tui_keys<T>(
    warm_up: Duration,
    keys: &str,
    f: impl FnOnce(u32) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let bin = root().join("target/release/vmscan");
    // A tmux server of its own for each run (crate::sh::tmux; seen failing
    // between the memcgs benchmark's TUI runs on a shared one).
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let socket = format!(
        "vmscan-bench-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let tmux = || crate::sh::tmux(&socket);
    let session = "vmscan-bench";
    status(
        tmux()
            .args(["new-session", "-d", "-s", session, "-x", "120", "-y", "40"])
            .arg(format!("exec {}", bin.display())),
    )?;
    let res = (|| {
        std::thread::sleep(warm_up);
        if !keys.is_empty() {
            status(tmux().args(["send-keys", "-t", session, keys]))?;
            std::thread::sleep(warm_up);
        }
        let out = tmux()
            .args(["display", "-p", "-t", session, "#{pane_pid}"])
            .output()?;
        let pid: u32 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .context("pane pid")?;
        f(pid)
    })();
    let _ = tmux().arg("kill-server").status();
    res
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
    with_tui(TUI_WARM_UP, |pid| {
        let secs = if quick { QUICK_TUI_SECS } else { TUI_SECS };
        let cpu = cpu_share(pid, secs)?;
        Ok(vec![
            format!(
                "| TUI CPU, idle system, default 1 s interval | {cpu:.2}% of one core over {secs} s (target <= 2%) |"
            ),
            format!(
                "| TUI memory | RSS {} KiB, peak {} KiB (target <= 40 MiB) |",
                proc_status_kib(pid, "VmRSS:"),
                proc_status_kib(pid, "VmHWM:")
            ),
        ])
    })
}

#[cfg(test)]
mod tests {
    use super::{keep_host_part, results_file};

    #[test]
    fn a_single_host_benchmark_does_not_replace_the_full_results() {
        assert_eq!(results_file("all", false), "results.md");
        assert_eq!(results_file("lab", false), "results.md");
        assert_eq!(results_file("memcgs", false), "results-memcgs.md");
        assert_eq!(results_file("memcgs", true), "results-quick.md");
        assert_eq!(results_file("lab-marks", false), "results-lab-marks.md");
        assert_eq!(results_file("lab-marks", true), "results-quick.md");
    }

    #[test]
    fn a_lab_run_replaces_only_the_lab_sections() {
        let old = "# vmscan benchmarks\n\n| a | 1 |\n\n## Inside the kernel lab: guest kernel 6.1 (old)\n\n| x | old |\n";
        let new = "# vmscan benchmarks\n\n| measure | result |\n\n## Inside the kernel lab: guest kernel 6.12 (new)\n\n| y | new |\n";
        assert_eq!(
            keep_host_part(old, new),
            "# vmscan benchmarks\n\n| a | 1 |\n\n## Inside the kernel lab: guest kernel 6.12 (new)\n\n| y | new |\n"
        );
    }

    #[test]
    fn a_lab_run_without_an_older_file_keeps_its_sections() {
        let new = "# h\n\n## Inside the kernel lab: k\n\n| y |\n";
        assert_eq!(
            keep_host_part("", new),
            "\n\n## Inside the kernel lab: k\n\n| y |\n"
        );
    }
}
