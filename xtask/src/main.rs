//! `cargo xtask`: set up the toolchain vmscan needs, build, run and test it.
//!
//! Every command first checks its prerequisites and installs what is
//! missing (Debian packages, nightly rust-src, bpf-linker built against
//! LLVM 22), saying what it installs, so the README's two commands work on a
//! fresh machine.

use std::{
    path::PathBuf,
    process::{Command, ExitCode},
};

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::sh::{apt_install, cargo, cargo_bin_dir, is_root, root, say, status, works};

mod bench;
mod dist;
mod lab;
mod overhead;
mod sh;
mod soak;

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
        /// Which benchmark: "all", "model", "tui", "memcgs" (cost at 100 to
        /// 10,000 memory cgroups), "overhead" (this host) or
        /// "lab" (overhead inside the kernel lab's guests, fentry and kprobes).
        #[arg(default_value = "all")]
        which: String,
        /// Shorter runs (under 5 minutes in all; the lab is left out), written
        /// to bench/results-quick.md.
        #[arg(long)]
        quick: bool,
        /// For "lab": only this guest kernel (5.10, 6.1, 6.12 or 7.2; 6.1 and
        /// 6.12 when none is named).
        #[arg(long)]
        kernel: Option<String>,
        /// For "lab": only the folio_mark_accessed trigger loop (the whole
        /// cost of the page-cache storm's one hooked call under each tool,
        /// and an empty program's floor), written to
        /// bench/results-lab-marks.md (results-quick.md with --quick).
        #[arg(long)]
        marks_only: bool,
    },
    /// Run vmscan's kernel tests on stock Debian kernels (5.10, 6.1, 6.12, 7.2) in QEMU:
    /// hooks by fentry and kprobes, counters against /proc/vmstat, two NUMA
    /// nodes, MGLRU, model agreement, exit-path marks.
    Lab {
        /// Only this kernel (5.10, 6.1, 6.12, 7.2: all its configurations) or one
        /// configuration (6.1+mglru, 6.1-cgv1, 6.12-classic, 7.2-classic); comma-separated.
        #[arg(long)]
        kernel: Option<String>,
        /// Only these scenarios (comma-separated: hooks,truth,numa,mglru,model,exit,swap,
        /// refault,ancestor,softlimit,hotplug,proactive,thp,collapse,pageout,lazyfree,
        /// deactivate,mlock,irqctx,compact,kretmiss,rss,memcgs,demote).
        #[arg(long)]
        scenario: Option<String>,
        /// Boot the kernel with vmscan inside and a shell on the console.
        #[arg(long)]
        shell: bool,
        /// Boot each configuration once per count with `possible_cpus=N`
        /// (comma-separated, e.g. 2,16,64,256): the rss scenario's memory
        /// and read cost per possible CPU. Kernels before 6.9 honour it.
        #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=8192))]
        possible_cpus: Vec<u32>,
    },
    /// (internal) Map a file, touch every page, exit: the exit-path workload.
    #[command(hide = true)]
    MapTouch { file: PathBuf },
    /// (internal) Write MIB of anonymous memory PASSES times: the swap workload.
    #[command(hide = true)]
    AnonTouch { mib: usize, passes: usize },
    /// (internal) Fault in MIB of anonymous memory PASSES times, print the
    /// CPU ns and pages: the benchmark's trigger loop.
    #[command(hide = true)]
    LruStorm { mib: usize, passes: usize },
    /// (internal) The overhead benchmark inside a kernel lab guest.
    #[command(hide = true)]
    GuestBench {
        #[arg(long)]
        quick: bool,
        #[arg(long)]
        marks_only: bool,
    },
    /// Build what people install (target/dist): a static vmscan with
    /// completions, man pages, the exporter's systemd unit, the dashboard,
    /// schemas and manifests, as a tarball and a .deb.
    Dist {
        /// Also build the container image (the binary alone; umoci, skopeo).
        #[arg(long)]
        image: bool,
        /// Install the .deb into a fresh Debian chroot and try it (debootstrap).
        #[arg(long)]
        verify: bool,
    },
    /// Run vmscan export, record and the terminal UI together for a while
    /// under memory-cgroup churn, reclaim bursts and scrapes; fail if
    /// memory, fds, CPU or table sizes grow beyond their bounds or trend
    /// upward (as root; cgroup v1 memory).
    Soak {
        /// How long, in minutes.
        #[arg(long, default_value = "120")]
        minutes: f64,
    },
    /// Run every test: clippy, unit tests, then the real-kernel tests (as root).
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
        Cmd::Run { args } => setup(false)
            .and_then(|()| build())
            .and_then(|()| run(&args)),
        Cmd::Soak { minutes } => setup(false).and_then(|()| soak::run(minutes)),
        Cmd::Test { args } => setup(true).and_then(|()| test(&args)),
        Cmd::Dist { image, verify } => {
            setup(false).and_then(|()| dist::run(&dist::DistOptions { image, verify }))
        }
        Cmd::Bench {
            which,
            quick,
            kernel,
            marks_only,
        } => setup(false).and_then(|()| bench::bench(&which, quick, kernel.as_deref(), marks_only)),
        Cmd::MapTouch { file } => overhead::map_touch(&file),
        Cmd::AnonTouch { mib, passes } => overhead::anon_touch(mib, passes),
        Cmd::LruStorm { mib, passes } => overhead::lru_storm(mib, passes),
        Cmd::GuestBench { quick, marks_only } => overhead::guest(quick, marks_only),
        Cmd::Lab {
            kernel,
            scenario,
            shell,
            possible_cpus,
        } => setup(false).and_then(|()| {
            lab::run(&lab::LabOptions {
                ci: false,
                kernel,
                scenario,
                shell,
                possible_cpus,
            })
        }),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn setup(tests: bool) -> anyhow::Result<()> {
    // 1. Nightly with rust-src builds the eBPF crate (-Z build-std=core).
    let have_src = Command::new("rustup")
        .args(["component", "list", "--toolchain", "nightly", "--installed"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with("rust-src"))
        });
    if !have_src {
        say("installing rust-src for the nightly toolchain (rustup component add)");
        status(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            "nightly",
        ]))
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

pub(crate) fn build() -> anyhow::Result<()> {
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

/// Two minutes of `cargo xtask soak` (export, record and the TUI under
/// cgroup churn, reclaim bursts and scrapes): the long-run checks (bounds,
/// no upward trend, every scrape answered, the recording replays) on every
/// CI run. VMSCAN_SKIP_SOAK=1 skips it.
fn short_soak() -> anyhow::Result<()> {
    if std::env::var_os("VMSCAN_SKIP_SOAK").is_some() {
        say("VMSCAN_SKIP_SOAK is set: skipping the short soak");
        return Ok(());
    }
    if !is_root() {
        say("skipping the short soak: it needs root");
        return Ok(());
    }
    if !std::path::Path::new("/sys/fs/cgroup/memory").is_dir() {
        say(
            "skipping the short soak: it drives cgroup v1 memory cgroups and /sys/fs/cgroup/memory is not mounted here",
        );
        return Ok(());
    }
    soak::run(2.0)
}

fn test(args: &[String]) -> anyhow::Result<()> {
    if !is_root() {
        say("not root: the real-kernel tests will skip and say so; run as root for the full suite");
    }
    // Lint first: it is the quickest to fail. The default members only: the
    // eBPF crate builds for the BPF target alone (vmscan-user embeds it).
    status(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;
    // Unit tests (fast, no kernel state), then the kernel tests one at a
    // time: they share the page cache, cgroups and tracepoints.
    status(
        cargo()
            .args(["test", "--lib", "--bins", "--", "--test-threads=2"])
            .args(args),
    )?;
    // The exporter flood test scrapes for 30 s by default; 10 s tells as much here.
    status(
        cargo()
            .args(["test", "--test", "*", "--", "--test-threads=1"])
            .args(args)
            .env("VMSCAN_FLOOD_SECS", "10"),
    )?;
    // The hooks and questions this kernel cannot exercise run in the lab.
    if !args.is_empty() {
        say("a test filter was given: skipping the kernel lab");
        return Ok(());
    }
    short_soak()?;
    if std::env::var_os("VMSCAN_SKIP_LAB").is_some() {
        say("VMSCAN_SKIP_LAB is set: skipping the kernel lab (CI runs it)");
        return Ok(());
    }
    if !is_root() {
        say("skipping the kernel lab: it needs root (apt, drop_caches in the guest image build)");
        return Ok(());
    }
    // CI's fixed subset of the matrix; `cargo xtask lab` runs all of it.
    lab::run(&lab::LabOptions {
        ci: true,
        kernel: None,
        scenario: None,
        shell: false,
        possible_cpus: vec![],
    })
}
