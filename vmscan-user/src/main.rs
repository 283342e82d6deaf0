//! The `vmscan` command line.

use std::time::Duration;

use clap::{Parser, Subcommand};
use vmscan::{
    PrivilegeError,
    cmd::{self, stat::StatOptions},
    exit,
    probe::loader::LoadOptions,
};

/// eBPF observability for Linux page reclaim: what the kernel's lruvecs,
/// kswapd and reclaimers are doing, counted in pages like /proc/vmstat.
#[derive(Parser, Debug)]
#[command(name = "vmscan", version, about, long_about = None)]
struct Cli {
    /// More diagnostics on stderr (-v: info, -vv: debug, including the eBPF
    /// side's aya-log messages). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Do not use fentry/fexit even where the kernel allows it (kprobes only).
    #[arg(long, global = true)]
    no_fentry: bool,
    /// Episode ring-buffer size in KiB (power of two, >= page size; default
    /// 4096). Smaller loses records sooner: for testing loss accounting.
    #[arg(long, global = true, hide = true, value_parser = parse_ring_kib)]
    ring_kib: Option<u32>,
    /// Wait this many milliseconds before each ring-buffer drain (a slow
    /// consumer): for testing loss accounting.
    #[arg(long, global = true, hide = true)]
    drain_delay_ms: Option<u64>,
    /// Attach kprobes beside fentry and report their hit counts (kernel lab).
    #[arg(long, global = true, hide = true)]
    compare_kprobes: bool,
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
        #[arg(long, default_value = cmd::export::DEFAULT_LISTEN)]
        listen: std::net::SocketAddr,
        /// Allow a non-loopback --listen address (prints a warning).
        #[arg(long)]
        allow_remote: bool,
        /// Seconds between model updates.
        #[arg(long, default_value = "1", value_parser = parse_secs)]
        interval: Duration,
        /// Memory cgroups labelled by name at most; the rest are summed as "other".
        #[arg(long, default_value = "100", value_parser = clap::value_parser!(u32).range(1..=10000))]
        max_memcgs: u32,
        /// Turn on BPF run-time statistics while exporting (BPF_ENABLE_STATS)
        /// to export vmscan's own per-program run time.
        #[arg(long)]
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
        file: std::path::PathBuf,
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
        /// Also write the histograms and per-node reclaim plots as SVG here.
        #[arg(long)]
        svg: Option<std::path::PathBuf>,
    },
    /// (kernel lab) Read FILE with memory bound to NODE.
    #[command(hide = true)]
    LabRead {
        #[arg(long)]
        node: u32,
        file: std::path::PathBuf,
    },
    /// (kernel lab) Map FILE, touch every page, exit.
    #[command(hide = true)]
    LabMap {
        #[arg(long)]
        advice: Option<String>,
        file: std::path::PathBuf,
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
        /// Stacks to show.
        #[arg(long, default_value = "10")]
        top: usize,
        /// Folded stacks for flame graph tools.
        #[arg(long, conflicts_with = "json")]
        folded: bool,
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
        /// Machine-readable output (one object per interval, then the total).
        #[arg(long)]
        json: bool,
    },
}

/// Seconds as a positive decimal number ("2", "0.5").
fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("`{s}` is not a number of seconds (e.g. 5 or 0.5)"))?;
    if !v.is_finite() || v <= 0.0 || v > 31_536_000.0 {
        return Err(format!("`{s}` is out of range: give seconds > 0 and at most one year"));
    }
    Ok(Duration::from_secs_f64(v))
}

fn parse_ring_kib(s: &str) -> Result<u32, String> {
    let v: u32 = s.parse().map_err(|_| format!("`{s}` is not a size in KiB"))?;
    if v < 4 || !v.is_power_of_two() || v > 1 << 20 {
        return Err(format!("`{s}`: give a power of two from 4 to 1048576 KiB"));
    }
    Ok(v)
}

/// A replay speed factor (> 0).
fn parse_speed(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("`{s}` is not a speed factor (e.g. 1, 2 or 0.5)"))?;
    if !v.is_finite() || v <= 0.0 || v > 1e6 {
        return Err(format!("`{s}` is out of range: give a factor > 0"));
    }
    Ok(v)
}

fn main() {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let load = load_options(&cli);
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vmscan: starting the runtime: {e}");
            std::process::exit(exit::FAILURE);
        }
    };
    let result = rt.block_on(dispatch(cli.command, cli.interval, load));
    if let Err(e) = result {
        if let Some(p) = e.downcast_ref::<PrivilegeError>() {
            eprintln!("vmscan: {p}");
            std::process::exit(exit::PRIVILEGE);
        }
        eprintln!("vmscan: {e:#}");
        std::process::exit(exit::FAILURE);
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
        access_comm, no_fentry: cli.no_fentry, ring_bytes: cli.ring_kib.map(|k| k * 1024),
        drain_delay: cli.drain_delay_ms.map(Duration::from_millis),
        compare_kprobes: cli.compare_kprobes,
        storm_tgid: 0,
        // Only the commands that show kernel stacks pay for the walk.
        no_stacks: matches!(cli.command, Some(Command::Stat { .. } | Command::Export { .. })),
    }
}

/// Runs the command; no command is the live terminal UI.
async fn dispatch(command: Option<Command>, tui_interval: Duration, load: LoadOptions) -> anyhow::Result<()> {
    match command {
        Some(Command::Probes { json }) => cmd::probes::run(json, load),
        Some(Command::Export { listen, allow_remote, interval, max_memcgs, bpf_stats }) => {
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
        Some(Command::Record { output, duration, interval, force, user }) => {
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
        Some(Command::Access { duration, exiting_only, top, folded, json, .. }) => {
            cmd::access::run(cmd::access::AccessOptions { duration, exiting_only, top, folded, json, load }).await
        }
        Some(Command::LabRead { node, file }) => cmd::lab::read_bound(node, &file),
        Some(Command::LabMap { advice, file }) => cmd::lab::map_touch(&file, advice.as_deref()),
        Some(Command::BenchIngest { seconds, rate }) => cmd::lab::bench_ingest(seconds.as_secs_f64(), rate, load).await,
        Some(Command::StormGenerator { rate }) => cmd::lab::storm_generate(rate),
        Some(Command::Snapshot { duration, json }) => cmd::snapshot::run(duration, json, load).await,
        Some(Command::Stat { duration, interval, json }) => {
            cmd::stat::run(StatOptions { duration, interval, json, load }).await
        }
        None => vmscan::tui::run_live(tui_interval, load).await,
    }
}

/// `vmscan report`: a recording's summary as text or JSON, plots as SVG.
fn report(file: &std::path::Path, format: &str, svg: Option<&std::path::Path>) -> anyhow::Result<()> {
    let r = cmd::replay::replay_file(file)?;
    if format == "json" {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({
            "header": r.header, "records": r.records, "stopped": r.stopped, "snapshot": r.model.snapshot()
        }))?);
    } else {
        print!("{}", cmd::replay::report_text(&r));
    }
    if let Some(dir) = svg {
        for p in cmd::replay::write_svgs(&r, dir)? {
            eprintln!("vmscan: wrote {}", p.display());
        }
    }
    match r.stopped {
        Some(s) => Err(anyhow::anyhow!(s)),
        None => Ok(()),
    }
}
