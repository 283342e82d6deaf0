//! The `vmscan` command line.

use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use vmscan::{
    PrivilegeError,
    cmd::{self, stat::StatOptions},
    exit,
    probe::loader::LoadOptions,
};

/// eBPF observability for Linux page reclaim: what the kernel's lruvecs,
/// kswapd and reclaimers are doing, counted in pages like /proc/vmstat.
#[derive(Parser, Debug)]
#[command(name = "vmscan", version = VERSION, about, long_about = None)]
struct Cli {
    /// More diagnostics on stderr (-v: info, -vv: debug, including the eBPF
    /// side's aya-log messages). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Do not use fentry/fexit even where the kernel allows it (kprobes only).
    #[arg(long, global = true)]
    no_fentry: bool,
    /// Return instances of each kretprobe vmscan makes where fentry is
    /// unavailable: the most calls in flight whose returns it sees.
    /// Default: 1024, made through tracefs's kprobe_events (where the
    /// kernel's default, max(10, 2 x possible CPUs), is lower); 0: the
    /// kernel's default, through the perf kprobe PMU.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=4096))]
    kretprobe_instances: Option<u32>,
    /// How tracepoint hooks attach: auto (tp_btf, else raw_tp, else the
    /// classic perf-event tracepoint), or only the one named.
    #[arg(long, global = true, default_value = "auto", value_name = "MECHANISM",
          value_parser = ["auto", "tp_btf", "raw_tp", "tracepoint"])]
    tracepoints: String,
    /// Episode ring-buffer size in KiB (power of two, >= page size; default
    /// 4096). Smaller loses records sooner: for testing loss accounting.
    #[arg(long, global = true, hide = true, value_parser = parse_ring_kib)]
    ring_kib: Option<u32>,
    /// Wait this many milliseconds before each ring-buffer drain (a slow
    /// consumer): for testing loss accounting.
    #[arg(long, global = true, hide = true)]
    drain_delay_ms: Option<u64>,
    /// Attach a kprobe beside each fentry hook, counting only its runs, and
    /// report those by function (kernel lab).
    #[arg(long, global = true, hide = true)]
    compare_kprobes: bool,
    /// Where procfs is (the host's, when running in a container).
    #[arg(
        long,
        global = true,
        env = "VMSCAN_PROCFS",
        default_value = "/proc",
        value_name = "DIR"
    )]
    procfs: std::path::PathBuf,
    /// Where sysfs is (the host's, when running in a container).
    #[arg(
        long,
        global = true,
        env = "VMSCAN_SYSFS",
        default_value = "/sys",
        value_name = "DIR"
    )]
    sysfs: std::path::PathBuf,
    /// Where the cgroup filesystem is (the host's, when running in a container).
    #[arg(
        long,
        global = true,
        env = "VMSCAN_CGROUPFS",
        default_value = "/sys/fs/cgroup",
        value_name = "DIR"
    )]
    cgroupfs: std::path::PathBuf,
    /// Refresh interval of the terminal UI, in seconds.
    #[arg(long, default_value = "1", value_parser = parse_secs)]
    interval: Duration,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show which hooks attach on this kernel (and how, or why not) and the
    /// system facts that decide it.
    Probes {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Exit with code 4 when any hook is unavailable (for health checks).
        #[arg(long)]
        strict: bool,
    },
    /// Run for a short window and print the model: lruvecs (node x memory
    /// cgroup) with list sizes and drift, kswapd states, episodes, findings.
    Snapshot {
        /// Seconds to observe.
        #[arg(long, short, default_value = "2", value_parser = parse_secs)]
        duration: Duration,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Serve OpenMetrics for Prometheus at http://LISTEN/metrics.
    Export {
        /// Address to listen on (loopback unless --allow-remote).
        #[arg(long, env = "VMSCAN_LISTEN", default_value = cmd::export::DEFAULT_LISTEN)]
        listen: std::net::SocketAddr,
        /// Allow a non-loopback --listen address (prints a warning).
        #[arg(long, env = "VMSCAN_ALLOW_REMOTE")]
        allow_remote: bool,
        /// Seconds between model updates.
        #[arg(long, env = "VMSCAN_INTERVAL", default_value = "1", value_parser = parse_secs)]
        interval: Duration,
        /// Memory cgroups labelled by name at most; the rest are summed as "other".
        #[arg(long, env = "VMSCAN_MAX_MEMCGS", default_value = "100", value_parser = clap::value_parser!(u32).range(1..=10000))]
        max_memcgs: u32,
        /// Turn on BPF run-time statistics while exporting (BPF_ENABLE_STATS)
        /// to export vmscan's own per-program run time.
        #[arg(long, env = "VMSCAN_BPF_STATS")]
        bpf_stats: bool,
    },
    /// Record the event stream and kernel samples to a file, for replay and
    /// reports elsewhere.
    Record {
        /// The recording to write (created with mode 0600).
        #[arg(short, long)]
        output: std::path::PathBuf,
        /// Stop after this many seconds (default: until Ctrl-C / SIGTERM).
        #[arg(long, short, value_parser = parse_secs)]
        duration: Option<Duration>,
        /// Seconds between samples of the aggregates and the kernel's sizes.
        #[arg(long, default_value = "1", value_parser = parse_secs)]
        interval: Duration,
        /// Overwrite the output if it exists.
        #[arg(long)]
        force: bool,
        /// When started with sudo, write the file as the invoking user
        /// (SUDO_UID/SUDO_GID) once the programs are attached.
        #[arg(long)]
        user: bool,
    },
    /// Replay a recording: the terminal UI at --speed, or the final snapshot
    /// as JSON.
    Replay {
        /// The recording (made by `vmscan record`).
        file: std::path::PathBuf,
        /// Playback speed (2 = twice as fast).
        #[arg(long, default_value = "1", value_parser = parse_speed)]
        speed: f64,
        /// Print the final snapshot as JSON instead of opening the UI.
        #[arg(long)]
        json: bool,
    },
    /// Summarise a recording: counters, per-node kswapd and reclaim,
    /// histograms with percentiles, findings.
    Report {
        /// The recording (made by `vmscan record`).
        file: std::path::PathBuf,
        /// text (for people), json (the snapshot, see schema/) or csv (the
        /// tables, one row per figure: table,name,node,value).
        #[arg(long, default_value = "text", value_parser = ["text", "json", "csv"])]
        format: String,
        /// Also write the histograms and per-node reclaim plots as SVG here.
        #[arg(long)]
        svg: Option<std::path::PathBuf>,
    },
    /// (kernel lab) Write MIB of anonymous memory, then MADV_PAGEOUT it.
    #[command(hide = true)]
    LabPageout { mib: usize },
    /// (kernel lab) Write MIB of anonymous memory in small pages and MIB in
    /// transparent huge pages, then MADV_FREE both, pinned to CPU 0.
    #[command(hide = true)]
    LabLazyfree { mib: usize },
    /// (kernel lab) In DIR, pinned to CPU 0: a MIB file read until active,
    /// mapped and MADV_COLD'ed; a second one made active, half of it mapped
    /// and half held by pipes, then POSIX_FADV_DONTNEED'ed.
    #[command(hide = true)]
    LabDeactivate { mib: usize, dir: std::path::PathBuf },
    /// (kernel lab) Pinned to CPU 0: a MIB file in DIR and MIB/2 of
    /// anonymous memory, mlocked then munlocked; prints the pages and the
    /// kernel's unevictable_pgs_* counters around it.
    #[command(hide = true)]
    LabMlock { mib: usize, dir: std::path::PathBuf },
    /// (kernel lab) A MIB file in DIR read into the page cache with every
    /// other page dropped, then /proc/sys/vm/compact_memory; prints the
    /// kernel's migration counters around the compaction.
    #[command(hide = true)]
    LabCompact { mib: usize, dir: std::path::PathBuf },
    /// (kernel lab) Write MIB of anonymous memory in transparent huge pages,
    /// twice over.
    #[command(hide = true)]
    LabThp { mib: usize },
    /// (kernel lab) Fault MIB of anonymous memory in small pages, read
    /// FILE (filling the memory cgroup with page cache), then ask for huge
    /// pages and wait up to SECS for khugepaged to collapse them.
    #[command(hide = true)]
    LabCollapse {
        mib: usize,
        #[arg(long)]
        fill: std::path::PathBuf,
        #[arg(long, default_value = "60")]
        secs: u64,
    },
    /// (kernel lab) Read FILE with memory bound to NODE.
    #[command(hide = true)]
    LabRead {
        #[arg(long)]
        node: u32,
        file: std::path::PathBuf,
    },
    /// (kernel lab) Map FILE, touch every page, exit (or exec PROGRAM with
    /// ARGS: the old address space is then torn down by a live task).
    #[command(hide = true)]
    LabMap {
        #[arg(long)]
        advice: Option<String>,
        #[arg(long)]
        exec: Option<std::path::PathBuf>,
        file: std::path::PathBuf,
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// (bench) Records drained per second under a synthetic kernel-side
    /// storm, as one JSON line.
    #[command(hide = true)]
    BenchIngest {
        #[arg(long, default_value = "5", value_parser = parse_secs)]
        seconds: Duration,
        /// Records per second the generator aims at (default: as fast as it can).
        #[arg(long)]
        rate: Option<f64>,
    },
    /// (bench) The CPU time of one reading of the aggregate maps, in
    /// batches and element by element, as one JSON line.
    #[command(hide = true)]
    BenchRead {
        #[arg(long, default_value = "15", value_parser = clap::value_parser!(u32).range(1..))]
        rounds: u32,
        /// Readings per round and way.
        #[arg(long, default_value = "50", value_parser = clap::value_parser!(u32).range(1..))]
        reads: u32,
    },
    /// (lab) The extra memory a `vmscan refaults --json` file's what-if curve
    /// says avoids PERCENT of a cgroup's refaults, in bytes.
    #[command(hide = true)]
    LabExtra {
        #[arg(long)]
        memcg: String,
        #[arg(long, default_value = "90")]
        percent: f64,
        file: std::path::PathBuf,
    },
    /// (kernel lab) Check the kswapd wake-up hook's interrupt-context reader
    /// where the context is known (softirq entry by tp_btf and by
    /// tracepoint, the local timer's hardirq, this process's getppid calls)
    /// for SECONDS; prints one JSON line and fails when a probe reads the
    /// wrong context.
    #[command(hide = true)]
    LabIrqContext {
        #[arg(long, default_value = "2", value_parser = parse_secs)]
        seconds: Duration,
        /// By the kernel stack even where the preempt_count can be read.
        #[arg(long)]
        by_stack: bool,
    },
    /// (bench) The storm generator bench-ingest starts.
    #[command(hide = true)]
    StormGenerator {
        #[arg(long)]
        rate: Option<f64>,
    },
    /// Which kernel paths mark pages accessed (folio_mark_accessed): calls by
    /// kernel stack, split by exiting/live task, file/anon, outcome and node;
    /// needs fentry or kprobes.
    Access {
        /// Seconds to observe.
        #[arg(long, short, default_value = "5", value_parser = parse_secs)]
        duration: Duration,
        /// Only tasks with this command name (as in /proc/PID/comm, up to 15 bytes).
        #[arg(long)]
        comm: Option<String>,
        /// Only this process (thread group id).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        pid: Option<u32>,
        /// Only calls made by exiting tasks (PF_EXITING).
        #[arg(long)]
        exiting_only: bool,
        /// Only calls from inside exit_mmap: an address space's page-table
        /// teardown, whoever runs it (exit, execve's old mm, a last mmput).
        /// Needs exit_mmap hooked (fentry or kprobes).
        #[arg(long)]
        teardown_only: bool,
        /// Stacks to show.
        #[arg(long, default_value = "10")]
        top: usize,
        /// Folded stacks for flame graph tools.
        #[arg(long, conflicts_with = "json")]
        folded: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Thrashing: which memory cgroups, files and tasks refault (read back
    /// pages reclaim evicted), the kernel's verdicts, and per cgroup the
    /// what-if curve: how much more memory would have avoided how many of
    /// the refaults (from refault distances; classic LRU). Needs fentry or
    /// kprobes on workingset_refault.
    Refaults {
        /// Seconds to observe (Ctrl-C / SIGTERM ends the window early).
        #[arg(long, short, default_value = "10", value_parser = parse_secs)]
        duration: Duration,
        /// Only this memory cgroup (a path below the memory hierarchy's root,
        /// e.g. /system.slice/nginx.service).
        #[arg(long)]
        memcg: Option<String>,
        /// Rows to show per table.
        #[arg(long, default_value = "10")]
        top: usize,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Count reclaim over a window: counters named as /proc/vmstat names them,
    /// per node and in total, plus per-hook event and loss counts.
    Stat {
        /// Stop after this many seconds (default: run until Ctrl-C / SIGTERM).
        #[arg(long, short, value_parser = parse_secs)]
        duration: Option<Duration>,
        /// Also print rates every this many seconds.
        #[arg(long, short, value_parser = parse_secs)]
        interval: Option<Duration>,
        /// Machine-readable output: with --interval JSON Lines (one object
        /// per interval, then the total), else one document.
        #[arg(long)]
        json: bool,
    },
    /// Shell completions on stdout (bash, zsh, fish, elvish, powershell).
    #[command(hide = true)]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Man pages, one per command, written into DIR.
    #[command(hide = true)]
    Man {
        /// Where to write vmscan.1, vmscan-stat.1, ...
        dir: std::path::PathBuf,
    },
    /// The JSON Schema files of every JSON output, written into DIR.
    #[command(hide = true)]
    Schema {
        /// Where to write stat.schema.json, ...
        dir: std::path::PathBuf,
    },
}

/// `vmscan --version`: the package version and the git revision it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("VMSCAN_GIT_REVISION"),
    ")"
);

/// Seconds as a positive decimal number ("2", "0.5").
fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds (e.g. 5 or 0.5)"))?;
    if !v.is_finite() || v <= 0.0 || v > 31_536_000.0 {
        return Err(format!(
            "`{s}` is out of range: give seconds > 0 and at most one year"
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

fn parse_ring_kib(s: &str) -> Result<u32, String> {
    let v: u32 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a size in KiB"))?;
    if v < 4 || !v.is_power_of_two() || v > 1 << 20 {
        return Err(format!("`{s}`: give a power of two from 4 to 1048576 KiB"));
    }
    Ok(v)
}

/// A replay speed factor (> 0).
fn parse_speed(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a speed factor (e.g. 1, 2 or 0.5)"))?;
    if !v.is_finite() || v <= 0.0 || v > 1e6 {
        return Err(format!("`{s}` is out of range: give a factor > 0"));
    }
    Ok(v)
}

fn main() {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    vmscan::probe::paths::set(vmscan::probe::paths::Roots {
        procfs: cli.procfs.clone(),
        sysfs: cli.sysfs.clone(),
        cgroupfs: cli.cgroupfs.clone(),
    });
    let load = load_options(&cli);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            vmscan::note!("vmscan: starting the runtime: {e}");
            std::process::exit(exit::FAILURE);
        }
    };
    let result = rt.block_on(dispatch(cli.command, cli.interval, load));
    if let Err(e) = result {
        let code = exit_code(&e);
        if let Some(i) = e.downcast_ref::<vmscan::stop::Interrupted>() {
            // Ended as the signal would end it (what was attached is gone
            // by now), so a calling shell sees the signal and stops too.
            let _ = signal_hook::low_level::emulate_default_handler(i.signal);
        }
        std::process::exit(code);
    }
}

/// Says what went wrong (in one line) and picks the exit code.
fn exit_code(e: &anyhow::Error) -> i32 {
    if e.downcast_ref::<vmscan::out::OutputClosed>().is_some() {
        // The reader went away (`| head`): nothing to say, nothing failed.
        return exit::OK;
    }
    vmscan::note!("vmscan: {e:#}");
    if let Some(i) = e.downcast_ref::<vmscan::stop::Interrupted>() {
        return 128 + i.signal;
    }
    if e.downcast_ref::<PrivilegeError>().is_some() {
        exit::PRIVILEGE
    } else if e.downcast_ref::<cmd::probes::HooksUnavailable>().is_some() {
        exit::HOOKS_UNAVAILABLE
    } else {
        exit::FAILURE
    }
}

/// Logs warnings by default, more with each -v; RUST_LOG overrides.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn,vmscan_ebpf=off",
        1 => "info",
        _ => "debug",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default)).init();
}

/// How the eBPF object is loaded, from the global flags and the command.
fn load_options(cli: &Cli) -> LoadOptions {
    let (access_tgid, access_comm) = match &cli.command {
        Some(Command::Access { pid, comm, .. }) => (pid.unwrap_or(0), comm.clone()),
        _ => (0, None),
    };
    LoadOptions {
        access_tgid,
        access_comm,
        no_fentry: cli.no_fentry,
        kretprobe_instances: cli.kretprobe_instances,
        ring_bytes: cli.ring_kib.map(|k| k * 1024),
        drain_delay: cli.drain_delay_ms.map(Duration::from_millis),
        compare_kprobes: cli.compare_kprobes,
        storm_tgid: 0,
        context_check: false,
        irq_context_by_stack: false,
        tracepoints: cli.tracepoints.parse().unwrap_or_default(),
        // Only the commands that show kernel stacks pay for the walk.
        no_stacks: matches!(
            cli.command,
            Some(Command::Stat { .. } | Command::Export { .. } | Command::Refaults { .. })
        ),
        // Files and tasks that refault: shown by refaults, the TUI, report.
        no_refault_detail: matches!(
            cli.command,
            Some(Command::Stat { .. } | Command::Export { .. })
        ),
        // folio_mark_accessed's outcomes and teardown tag: stat shows neither.
        no_access_detail: matches!(cli.command, Some(Command::Stat { .. })),
        // MGLRU outcomes from what the call changed: `access` only.
        access_return: matches!(cli.command, Some(Command::Access { .. })),
        // Per-memcg insertions feed the lruvec model, which stat never shows.
        no_memcg_insertions: matches!(cli.command, Some(Command::Stat { .. })),
        // Shrink-pass records are kept only in recordings.
        no_shrink_passes: !matches!(cli.command, Some(Command::Record { .. })),
        // Refaults per memcg and their distances: stat shows neither.
        no_refault_by_memcg: matches!(cli.command, Some(Command::Stat { .. })),
        // Batch residency feeds the lruvec model, which stat never shows.
        no_batch_residency: matches!(cli.command, Some(Command::Stat { .. })),
        // stat's episodes come from the per-CPU aggregate.
        no_episode_records: matches!(cli.command, Some(Command::Stat { .. })),
    }
}

/// Runs the command; no command is the live terminal UI.
async fn dispatch(
    command: Option<Command>,
    tui_interval: Duration,
    load: LoadOptions,
) -> anyhow::Result<()> {
    match command {
        Some(Command::Probes { json, strict }) => cmd::probes::run(json, strict, load),
        Some(Command::Export {
            listen,
            allow_remote,
            interval,
            max_memcgs,
            bpf_stats,
        }) => {
            cmd::export::run(cmd::export::ExportOptions {
                listen,
                allow_remote,
                interval,
                max_memcgs: max_memcgs as usize,
                bpf_stats,
                load,
            })
            .await
        }
        Some(Command::Record {
            output,
            duration,
            interval,
            force,
            user,
        }) => {
            cmd::record::run(cmd::record::RecordOptions {
                output,
                duration,
                interval,
                force,
                mode: 0o600,
                as_sudo_user: user,
                load,
            })
            .await
        }
        Some(Command::Replay { file, speed, json }) => {
            if json {
                cmd::replay::replay_json(&file)
            } else {
                vmscan::tui::run_replay(&file, speed).await
            }
        }
        Some(Command::Report { file, format, svg }) => report(&file, &format, svg.as_deref()),
        Some(Command::Access {
            duration,
            exiting_only,
            teardown_only,
            top,
            folded,
            json,
            ..
        }) => {
            cmd::access::run(cmd::access::AccessOptions {
                duration,
                exiting_only,
                teardown_only,
                top,
                folded,
                json,
                load,
            })
            .await
        }
        Some(Command::Refaults {
            duration,
            memcg,
            top,
            json,
        }) => {
            cmd::refaults::run(cmd::refaults::RefaultsOptions {
                duration,
                memcg,
                top,
                json,
                load,
            })
            .await
        }
        Some(Command::LabExtra {
            memcg,
            percent,
            file,
        }) => cmd::lab::extra_for(&file, &memcg, percent),
        Some(Command::LabRead { node, file }) => cmd::lab::read_bound(node, &file),
        Some(Command::LabPageout { mib }) => cmd::lab::pageout_anon(mib),
        Some(Command::LabLazyfree { mib }) => cmd::lab::lazyfree_anon(mib),
        Some(Command::LabDeactivate { mib, dir }) => cmd::lab::deactivate(mib, &dir),
        Some(Command::LabMlock { mib, dir }) => cmd::lab::mlock(mib, &dir),
        Some(Command::LabCompact { mib, dir }) => cmd::lab::compact(mib, &dir),
        Some(Command::LabThp { mib }) => cmd::lab::touch_thp(mib),
        Some(Command::LabCollapse { mib, fill, secs }) => cmd::lab::collapse(mib, &fill, secs),
        Some(Command::LabMap {
            advice,
            exec,
            file,
            args,
        }) => cmd::lab::map_touch(
            &file,
            advice.as_deref(),
            exec.as_deref().map(|p| (p, args.as_slice())),
        ),
        Some(Command::BenchIngest { seconds, rate }) => {
            cmd::lab::bench_ingest(seconds.as_secs_f64(), rate, load).await
        }
        Some(Command::StormGenerator { rate }) => cmd::lab::storm_generate(rate),
        Some(Command::LabIrqContext { seconds, by_stack }) => {
            cmd::lab::irq_context(seconds.as_secs_f64(), by_stack, load)
        }
        Some(Command::BenchRead { rounds, reads }) => cmd::lab::bench_read(rounds, reads, load),
        Some(Command::Snapshot { duration, json }) => {
            cmd::snapshot::run(duration, json, load).await
        }
        Some(Command::Stat {
            duration,
            interval,
            json,
        }) => {
            cmd::stat::run(StatOptions {
                duration,
                interval,
                json,
                load,
            })
            .await
        }
        Some(Command::Completions { shell }) => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut visible_command(), "vmscan", &mut buf);
            vmscan::out::print(&String::from_utf8_lossy(&buf))
        }
        Some(Command::Man { dir }) => write_man_pages(&dir),
        Some(Command::Schema { dir }) => write_schemas(&dir),
        None => vmscan::tui::run_live(tui_interval, load).await,
    }
}

/// The command line without its hidden subcommands (lab, bench and these
/// generators), which completions should not offer.
fn visible_command() -> clap::Command {
    let full = Cli::command();
    clap::Command::new("vmscan")
        .version(VERSION)
        .about(full.get_about().cloned().unwrap_or_default())
        .args(full.get_arguments().cloned())
        .subcommands(full.get_subcommands().filter(|c| !c.is_hide_set()).cloned())
}

/// `vmscan man DIR`: vmscan.1 and one page per visible subcommand.
fn write_man_pages(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let top = Cli::command().version(VERSION);
    let mut pages = vec![("vmscan".to_owned(), top.clone())];
    for sub in top.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = format!("vmscan-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name).version(VERSION)));
    }
    for (name, c) in pages {
        let mut buf = Vec::new();
        clap_mangen::Man::new(c).render(&mut buf)?;
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, buf)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

/// `vmscan schema DIR`: the JSON Schema files (as checked in under schema/).
fn write_schemas(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for f in cmd::json::schemas() {
        let path = dir.join(f.file);
        std::fs::write(&path, cmd::json::schema_text(&f.schema))
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

/// `vmscan report`: a recording's summary as text or JSON, plots as SVG.
fn report(
    file: &std::path::Path,
    format: &str,
    svg: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let r = cmd::replay::replay_file(file)?;
    match format {
        "json" => cmd::replay::ReplayJson::new(&r).print("report", &r.header.hostname)?,
        "csv" => vmscan::out::print(&cmd::replay::report_csv(&r))?,
        _ => vmscan::out::print(&cmd::replay::report_text(&r))?,
    }
    if let Some(dir) = svg {
        for p in cmd::replay::write_svgs(&r, dir)? {
            vmscan::note!("vmscan: wrote {}", p.display());
        }
    }
    match r.stopped {
        Some(s) => Err(anyhow::anyhow!(s)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod cli_tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_visible_flag_and_argument_says_what_it_does() {
        let top = Cli::command();
        let mut missing = Vec::new();
        let mut check = |cmd: &clap::Command, path: &str| {
            if cmd.get_about().is_none() && path != "vmscan" {
                missing.push(format!("{path} (the command)"));
            }
            for a in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
                let id = a.get_id().as_str();
                if a.get_help().is_none() && !matches!(id, "help" | "version") {
                    missing.push(format!("{path} {id}"));
                }
            }
        };
        check(&top, "vmscan");
        for sub in top.get_subcommands().filter(|c| !c.is_hide_set()) {
            check(sub, &format!("vmscan {}", sub.get_name()));
        }
        assert!(missing.is_empty(), "without help text: {missing:?}");
    }

    #[test]
    fn completions_offer_only_visible_subcommands() {
        let c = visible_command();
        let names: Vec<&str> = c.get_subcommands().map(|s| s.get_name()).collect();
        assert!(
            names.contains(&"stat") && names.contains(&"export"),
            "{names:?}"
        );
        assert!(
            !names.iter().any(|n| [
                "storm-generator",
                "bench-ingest",
                "lab-read",
                "completions",
                "man",
                "schema"
            ]
            .contains(n)),
            "{names:?}"
        );
    }

    #[test]
    fn the_exporter_takes_its_flags_from_the_environment() {
        let export = Cli::command();
        let export = export.find_subcommand("export").expect("export");
        for a in export
            .get_arguments()
            .filter(|a| !a.is_global_set() && !matches!(a.get_id().as_str(), "help"))
        {
            assert!(
                a.get_env().is_some(),
                "export --{} has no environment variable",
                a.get_id()
            );
        }
    }
}
