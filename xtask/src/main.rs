//! `cargo xtask`: set up the toolchain vmscan needs, build, run and test it.
//!
//! Every command first checks its prerequisites and installs what is
//! missing (Debian packages, nightly rust-src, bpf-linker built against
//! LLVM 22), saying what it installs, so the README's two commands work on a
//! fresh machine.

use std::{
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

mod lab;
mod overhead;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "vmscan's development tasks")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what building vmscan needs (llvm-22-dev, rust-src, bpf-linker).
    Setup {
        /// Also install what the tests need (linux-perf).
        #[arg(long)]
        tests: bool,
    },
    /// Build vmscan (release) with its embedded eBPF object.
    Build,
    /// Build and run vmscan on this host (as root); arguments go to vmscan.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the benchmarks and print their figures as a Markdown table (also
    /// written to bench/results.md).
    Bench {
        /// Which benchmark: "all", "model", "tui", "overhead" (this host) or
        /// "lab" (overhead inside the kernel lab's guests, fentry and kprobes).
        #[arg(default_value = "all")]
        which: String,
        /// Shorter runs (under 5 minutes in all; the lab is left out), written
        /// to bench/results-quick.md.
        #[arg(long)]
        quick: bool,
        /// For "lab": only this guest kernel (6.1 or 6.12).
        #[arg(long)]
        kernel: Option<String>,
    },
    /// Run vmscan's kernel tests on stock Debian kernels (6.1, 6.12) in QEMU:
    /// hooks by fentry and kprobes, counters against /proc/vmstat, two NUMA
    /// nodes, MGLRU, model agreement, exit-path marks.
    Lab {
        /// Only this kernel (6.1 or 6.12).
        #[arg(long)]
        kernel: Option<String>,
        /// Only these scenarios (comma-separated: hooks,truth,numa,mglru,model,exit,swap).
        #[arg(long)]
        scenario: Option<String>,
        /// Boot the kernel with vmscan inside and a shell on the console.
        #[arg(long)]
        shell: bool,
    },
    /// (internal) Map a file, touch every page, exit: the exit-path workload.
    #[command(hide = true)]
    MapTouch { file: PathBuf },
    /// (internal) Write MIB of anonymous memory PASSES times: the swap workload.
    #[command(hide = true)]
    AnonTouch { mib: usize, passes: usize },
    /// (internal) The overhead benchmark inside a kernel lab guest.
    #[command(hide = true)]
    GuestBench {
        #[arg(long)]
        quick: bool,
    },
    /// Run every test: unit tests, then the real-kernel tests (as root).
    Test {
        /// Extra arguments for the test binaries (e.g. a test name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

const LLVM_BIN: &str = "/usr/lib/llvm-22/bin";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Cmd::Setup { tests } => setup(tests),
        Cmd::Build => setup(false).and_then(|()| build()),
        Cmd::Run { args } => setup(false).and_then(|()| build()).and_then(|()| run(&args)),
        Cmd::Test { args } => setup(true).and_then(|()| test(&args)),
        Cmd::Bench { which, quick, kernel } => setup(false).and_then(|()| bench(&which, quick, kernel.as_deref())),
        Cmd::MapTouch { file } => overhead::map_touch(&file),
        Cmd::AnonTouch { mib, passes } => overhead::anon_touch(mib, passes),
        Cmd::GuestBench { quick } => overhead::guest(quick),
        Cmd::Lab { kernel, scenario, shell } => setup(false).and_then(|()| lab::run(&lab::LabOptions { kernel, scenario, shell })),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_owned()
}

pub(crate) fn say(msg: &str) {
    eprintln!("xtask: {msg}");
}

pub(crate) fn status(cmd: &mut Command) -> anyhow::Result<()> {
    let shown = format!("{cmd:?}");
    let st = cmd.status().with_context(|| format!("running {shown}"))?;
    if !st.success() {
        bail!("{shown} failed: {st}");
    }
    Ok(())
}

fn works(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn dpkg_installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Installs Debian packages that are missing, with one `apt-get update` first.
pub(crate) fn apt_install(pkgs: &[&str]) -> anyhow::Result<()> {
    let missing: Vec<&str> = pkgs.iter().copied().filter(|p| !dpkg_installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !works("apt-get", &["--version"]) {
        bail!("missing packages {missing:?} and no apt-get to install them; install them by hand");
    }
    let sudo: &[&str] = if is_root() { &[] } else { &["sudo"] };
    say(&format!("installing Debian packages: {} (apt-get)", missing.join(" ")));
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = sudo.to_vec();
        all.extend_from_slice(args);
        let mut c = Command::new(all[0]);
        c.args(&all[1..]).env("DEBIAN_FRONTEND", "noninteractive");
        status(&mut c)
    };
    run(&["apt-get", "update", "-qq"])?;
    let mut args = vec!["apt-get", "install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&missing);
    run(&args)
}

fn cargo_bin_dir() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/root/.cargo"))
        .join("bin")
}

fn setup(tests: bool) -> anyhow::Result<()> {
    // 1. Nightly with rust-src builds the eBPF crate (-Z build-std=core).
    let have_src = Command::new("rustup")
        .args(["component", "list", "--toolchain", "nightly", "--installed"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.starts_with("rust-src")));
    if !have_src {
        say("installing rust-src for the nightly toolchain (rustup component add)");
        status(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", "nightly"]))
            .context("the eBPF crate needs a nightly toolchain with rust-src")?;
    }
    // 2. bpf-linker, built against LLVM 22 (rustc's LLVM).
    let linker = cargo_bin_dir().join("bpf-linker");
    if !works(linker.to_str().unwrap_or("bpf-linker"), &["--version"]) {
        apt_install(&["llvm-22-dev"])?;
        say("installing bpf-linker 0.13 built against LLVM 22 (cargo install, about a minute)");
        let path = format!("{LLVM_BIN}:{}", std::env::var("PATH").unwrap_or_default());
        status(
            Command::new("cargo")
                .args(["+stable", "install", "bpf-linker", "--version", "0.13.0"])
                .args(["--no-default-features", "--features", "llvm-22"])
                .env("PATH", path),
        )?;
    }
    // 3. The tests compare vmscan with perf stat, drop privileges with
    //    setpriv and drive the terminal UI in tmux.
    if tests {
        apt_install(&["linux-perf", "util-linux", "tmux", "prometheus"])?;
    }
    Ok(())
}

pub(crate) fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    // bpf-linker lives in cargo's bin dir; make sure aya-build's nested cargo finds it.
    let path = format!("{}:{}", cargo_bin_dir().display(), std::env::var("PATH").unwrap_or_default());
    c.env("PATH", path);
    c
}

fn build() -> anyhow::Result<()> {
    status(cargo().args(["build", "--release", "-p", "vmscan-user"]))
}

fn run(args: &[String]) -> anyhow::Result<()> {
    let bin = root().join("target/release/vmscan");
    let mut c = if is_root() {
        Command::new(&bin)
    } else {
        say("vmscan needs root to load eBPF programs: running it with sudo");
        let mut c = Command::new("sudo");
        c.arg(&bin);
        c
    };
    c.args(args);
    status(&mut c)
}

fn test(args: &[String]) -> anyhow::Result<()> {
    if !is_root() {
        say("not root: the real-kernel tests will skip and say so; run as root for the full suite");
    }
    // Unit tests first (fast, no kernel state), then the kernel tests one at a
    // time: they share the page cache, cgroups and tracepoints.
    status(cargo().args(["test", "--lib", "--bins", "--", "--test-threads=2"]).args(args))?;
    status(cargo().args(["test", "--test", "*", "--", "--test-threads=1"]).args(args))?;
    // The hooks and questions this kernel cannot exercise run in the lab.
    if !args.is_empty() {
        say("a test filter was given: skipping the kernel lab");
        return Ok(());
    }
    if std::env::var_os("VMSCAN_SKIP_LAB").is_some() {
        say("VMSCAN_SKIP_LAB is set: skipping the kernel lab (CI runs it)");
        return Ok(());
    }
    if !is_root() {
        say("skipping the kernel lab: it needs root (apt, drop_caches in the guest image build)");
        return Ok(());
    }
    lab::run(&lab::LabOptions { kernel: None, scenario: None, shell: false })
}

fn machine_description() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, kernel {}", kernel.trim())
}

fn bench(which: &str, quick: bool, kernel: Option<&str>) -> anyhow::Result<()> {
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

fn proc_cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised comm: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    Ok(f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
}

fn proc_status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
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

/// sysconf(_SC_CLK_TCK) without a libc dependency: getconf prints it.
fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}
