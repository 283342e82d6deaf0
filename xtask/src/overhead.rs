//! Overhead benchmark: workloads run with no tracing, with vmscan (stat and
//! record), with bpftrace counting the same hooks (bench/*.bt) and with
//! `perf record` of the same tracepoints, interleaved in rounds (A B C D E,
//! A B C D E, ...) so that drift of a shared machine hits every
//! configuration alike. Reports medians, spreads and ratios.
//!
//! The same code runs on this host and, as `xtask guest-bench`, inside the
//! kernel lab's guest, where the kernel accepts fentry and kprobes: [`Env`]
//! says which tracers and workloads a place has.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{BufRead as _, BufReader, Read as _, Write as _},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

/// One tracing configuration of the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Config {
    None,
    /// vmscan stat as it attaches by default (tracepoints by tp_btf where
    /// BTF names their arguments).
    VmscanStat,
    /// vmscan stat with its tracepoints forced to classic perf-event
    /// tracepoints (--tracepoints tracepoint).
    VmscanClassic,
    /// vmscan stat with its function hooks on kprobes (lab guests only).
    VmscanKprobes,
    VmscanRecord,
    /// vmscan access: folio_mark_accessed by kernel stack (lab guests only).
    VmscanAccess,
    Bpftrace,
    /// bpftrace counting folio_mark_accessed by kernel stack (bench/access.bt).
    BpftraceStacks,
    /// An empty program by fentry on folio_mark_accessed (bench/fentry-floor.bt,
    /// lab guests only): the floor under every tool hooking each call.
    FentryFloor,
    Perf,
}

impl Config {
    pub fn name(self) -> &'static str {
        match self {
            Config::None => "none",
            Config::VmscanStat => "vmscan stat",
            Config::VmscanClassic => "vmscan stat --tracepoints tracepoint",
            Config::VmscanKprobes => "vmscan --no-fentry stat",
            Config::VmscanRecord => "vmscan record",
            Config::VmscanAccess => "vmscan access",
            Config::Bpftrace => "bpftrace",
            Config::BpftraceStacks => "bpftrace by stack",
            Config::FentryFloor => "empty fentry program",
            Config::Perf => "perf record",
        }
    }
}

/// The configurations compared with each other: vmscan and the bpftrace
/// script doing the same counting.
pub const PAIRS: [(Config, Config); 3] = [
    (Config::VmscanStat, Config::Bpftrace),
    (Config::VmscanClassic, Config::Bpftrace),
    (Config::VmscanAccess, Config::BpftraceStacks),
];

/// Where the benchmark runs: its tracers, scripts and workloads.
pub struct Env {
    pub vmscan: PathBuf,
    /// Command prefixes (a guest runs the host's binaries through their
    /// own dynamic loader).
    pub bpftrace: Vec<String>,
    pub perf: Vec<String>,
    pub bpftool: Vec<String>,
    /// The bpftrace script doing vmscan stat's counting on the same hooks.
    pub bt_script: PathBuf,
    /// The bpftrace script counting folio_mark_accessed by stack, as
    /// `vmscan access` does.
    pub bt_stacks: PathBuf,
    /// The bpftrace script attaching an empty program to folio_mark_accessed.
    pub bt_floor: PathBuf,
    /// Where workload files are written (a real file system, not tmpfs).
    pub dir: PathBuf,
    pub configs: Vec<Config>,
    /// Run the anonymous-pressure workload (needs swap).
    pub swap: bool,
}

impl Env {
    /// This host: the hooks it allows are tracepoints.
    pub fn host(vmscan: &Path) -> Self {
        Self {
            vmscan: vmscan.to_owned(),
            bpftrace: vec!["bpftrace".into()],
            perf: vec!["perf".into()],
            bpftool: vec!["bpftool".into()],
            bt_script: crate::sh::root().join("bench/vmscan.bt"),
            bt_stacks: crate::sh::root().join("bench/access.bt"),
            bt_floor: crate::sh::root().join("bench/fentry-floor.bt"),
            dir: std::env::temp_dir().join("vmscan-bench"),
            configs: vec![
                Config::None,
                Config::VmscanStat,
                Config::VmscanClassic,
                Config::VmscanRecord,
                Config::Bpftrace,
                Config::Perf,
            ],
            swap: swap_on(),
        }
    }
}

pub fn swap_on() -> bool {
    std::fs::read_to_string("/proc/swaps")
        .map(|s| s.lines().count() > 1)
        .unwrap_or(false)
}

#[derive(Clone, Copy)]
pub struct Sizes {
    pub rounds: usize,
    pub storm_passes: usize,
    pub storm_mib: usize,
    pub stream_mib: usize,
    pub memcg_reads: usize,
    pub anon_mib: usize,
    pub anon_passes: usize,
    pub exit_procs: usize,
    /// The trigger loop: rounds, and MiB of anonymous memory faulted in
    /// `trigger_passes` times a round.
    pub trigger_rounds: usize,
    pub trigger_mib: usize,
    pub trigger_passes: usize,
    /// The folio_mark_accessed trigger loop ([`mark_costs`]): rounds, and
    /// one-byte reads of the cached file a run.
    pub mark_rounds: usize,
    pub mark_calls: usize,
}

impl Sizes {
    pub fn new(quick: bool) -> Self {
        if quick {
            Self {
                rounds: 5,
                storm_passes: 32,
                storm_mib: 256,
                stream_mib: 512,
                memcg_reads: 1,
                anon_mib: 192,
                anon_passes: 2,
                exit_procs: 100,
                trigger_rounds: 9,
                trigger_mib: 128,
                trigger_passes: 4,
                mark_rounds: 8,
                mark_calls: 100000,
            }
        } else {
            Self {
                rounds: 7,
                storm_passes: 100,
                storm_mib: 512,
                stream_mib: 512,
                memcg_reads: 3,
                anon_mib: 192,
                anon_passes: 4,
                exit_procs: 400,
                trigger_rounds: 15,
                trigger_mib: 256,
                trigger_passes: 4,
                mark_rounds: 16,
                mark_calls: 300000,
            }
        }
    }

    /// Inside an emulated (TCG) guest everything runs 10-50 times slower.
    pub fn guest(quick: bool) -> Self {
        if quick {
            Self {
                rounds: 7,
                storm_passes: 16,
                storm_mib: 64,
                stream_mib: 128,
                memcg_reads: 4,
                anon_mib: 96,
                anon_passes: 1,
                exit_procs: 10,
                trigger_rounds: 5,
                trigger_mib: 32,
                trigger_passes: 2,
                mark_rounds: 8,
                mark_calls: 100000,
            }
        } else {
            Self {
                rounds: 9,
                storm_passes: 32,
                storm_mib: 64,
                stream_mib: 128,
                memcg_reads: 4,
                anon_mib: 96,
                anon_passes: 2,
                exit_procs: 20,
                trigger_rounds: 7,
                trigger_mib: 32,
                trigger_passes: 4,
                mark_rounds: 16,
                mark_calls: 300000,
            }
        }
    }
}

/// The memory limit of the reclaim workloads' cgroup.
const MEMCG_LIMIT_MIB: u64 = 64;

/// A memory cgroup of [`MEMCG_LIMIT_MIB`] for the reclaim workloads, cgroup
/// v2 or v1.
struct Memcg {
    dir: PathBuf,
}

impl Memcg {
    fn create() -> anyhow::Result<Self> {
        let v2 = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").is_ok();
        let (dir, limit) = if v2 {
            let _ = std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
            (PathBuf::from("/sys/fs/cgroup/vmscan-bench"), "memory.max")
        } else {
            (
                PathBuf::from("/sys/fs/cgroup/memory/vmscan-bench"),
                "memory.limit_in_bytes",
            )
        };
        let _ = std::fs::create_dir(&dir);
        std::fs::write(dir.join(limit), (MEMCG_LIMIT_MIB << 20).to_string()).with_context(
            || {
                format!(
                    "the reclaim workloads need a memory cgroup: writing {}",
                    dir.join(limit).display()
                )
            },
        )?;
        Ok(Self { dir })
    }

    /// Pages reclaim has scanned in the cgroup: memory.stat's pgscan, which
    /// only cgroup v2 keeps.
    fn scanned(&self) -> Option<u64> {
        let stat = std::fs::read_to_string(self.dir.join("memory.stat")).ok()?;
        stat.lines()
            .find_map(|l| l.strip_prefix("pgscan "))
            .and_then(|n| n.trim().parse().ok())
    }

    /// A shell command line that moves itself into the cgroup and execs `cmd`.
    fn exec(&self, cmd: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(format!(
            "echo $$ > {}/cgroup.procs && exec {cmd}",
            self.dir.display()
        ));
        c
    }
}

impl Drop for Memcg {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn drop_caches() {
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "3");
}

fn make_file(path: &Path, mib: usize) -> anyhow::Result<()> {
    if std::fs::metadata(path)
        .map(|m| m.len() == (mib as u64) << 20)
        .unwrap_or(false)
    {
        return Ok(());
    }
    let mut f = std::fs::File::create(path).with_context(|| path.display().to_string())?;
    let chunk = vec![0x5au8; 1 << 20];
    for _ in 0..mib {
        f.write_all(&chunk)?;
    }
    f.sync_all()?;
    Ok(())
}

/// A file of `mib` MiB that is one hole: reading it fills the page cache
/// with zeroed folios and no disk read, so the memcg stream costs what its
/// faults, LRU insertions and reclaim cost, without the disk's timing.
/// (It did not end the stream's bimodality in the lab; see [`settle`].)
fn make_sparse(path: &Path, mib: usize) -> anyhow::Result<()> {
    let f = std::fs::File::create(path).with_context(|| path.display().to_string())?;
    f.set_len((mib as u64) << 20)
        .with_context(|| format!("sizing {}", path.display()))?;
    Ok(())
}

/// What one workload run did: units of work (MB or processes), and the
/// wall-clock seconds and CPU time ([`CpuMeter`], ns) it took.
#[derive(Clone, Copy, Debug)]
struct Work {
    units: f64,
    secs: f64,
    cpu_ns: f64,
    /// Pages reclaim scanned in the workload's memory cgroup (memory.stat's
    /// pgscan, cgroup v2), where it is read.
    scanned: Option<u64>,
}

impl Work {
    /// The run's figures: throughput (units/s) and CPU us per unit.
    fn sample(self) -> Sample {
        Sample {
            rate: self.units / self.secs,
            cpu: self.cpu_ns / 1e3 / self.units,
            scanned: self.scanned.map(|n| n as f64 / self.units),
            tracer: 0.0,
        }
    }
}

/// One workload run's figures.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    /// Throughput: units of work a second (wall clock).
    rate: f64,
    /// CPU time per unit of work, in us, over every task [`CpuMeter`] counts.
    cpu: f64,
    /// Pages scanned per unit of work, where [`Work::scanned`] is known.
    scanned: Option<f64>,
    /// Of `cpu`, the tracer's own process's (its user-space side), in us
    /// per unit of work; 0 untraced.
    tracer: f64,
}

/// The CPU time a workload makes the machine spend, in ns: this thread
/// (the page-cache storm runs in it), the children it reaped (the other
/// workloads' processes, with their exits), kswapd (reclaim on their
/// behalf) and the tracer's process (its user-space side: its BPF programs
/// run inside the tasks above, so they count there). Every figure is the
/// scheduler's own runtime, not tick samples, where the kernel keeps it
/// (/proc/PID/task/TID/schedstat; else /proc/PID/stat's ticks). Unlike
/// wall-clock throughput it leaves out waits for the disk and for other
/// tasks of a shared machine, the noise that hid every tool's overhead.
struct CpuMeter {
    kswapd: Vec<u32>,
    tracer: u32,
}

impl CpuMeter {
    fn new(tracer: u32) -> Self {
        let kswapd = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.starts_with("kswapd"))
            })
            .collect();
        Self { kswapd, tracer }
    }

    fn now(&self) -> f64 {
        let mut ns = thread_cpu_ns() + rusage_ns(libc::RUSAGE_CHILDREN);
        for pid in &self.kswapd {
            ns += process_cpu_ns(*pid);
        }
        ns as f64 + self.tracer_now()
    }

    /// Of [`Self::now`], the tracer's process's part (0 untraced).
    fn tracer_now(&self) -> f64 {
        if self.tracer == 0 {
            0.0
        } else {
            process_cpu_ns(self.tracer) as f64
        }
    }
}

/// This thread's CPU time in ns (CLOCK_THREAD_CPUTIME_ID: the scheduler's
/// runtime brought up to date at the call; getrusage(RUSAGE_THREAD) lags
/// by up to a tick for a running thread, and 2,000 one-byte reads read as
/// no time at all there).
fn thread_cpu_ns() -> u64 {
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: clock_gettime fills the struct it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// getrusage's user + system time of `who` (RUSAGE_CHILDREN: the children
/// reaped, each added with its exact runtime at its reaping), in ns.
fn rusage_ns(who: libc::c_int) -> u64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given.
    unsafe { libc::getrusage(who, &mut ru) };
    let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    ns(ru.ru_utime) + ns(ru.ru_stime)
}

/// A live process's CPU time (ns), all its threads: the sum of their
/// schedstat runtimes, or where the kernel keeps none ("0 0 0"), utime +
/// stime from /proc/PID/stat in clock ticks. 0 for a process gone.
fn process_cpu_ns(pid: u32) -> u64 {
    let exact: u64 = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    if exact > 0 {
        return exact;
    }
    // Not crate::sh::clk_tck(): its getconf would be a child, counted.
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    crate::sh::proc_cpu_ticks(pid).unwrap_or(0) * 1_000_000_000 / hz
}

/// (a) page-cache storm: read a cached file again and again. MB.
fn storm(m: &CpuMeter, file: &Path, passes: usize) -> anyhow::Result<Work> {
    let mut buf = vec![0u8; 1 << 20];
    let c = m.now();
    let t = Instant::now();
    let mut total = 0u64;
    for _ in 0..passes {
        let mut f = std::fs::File::open(file)?;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
    }
    Ok(Work {
        units: total as f64 / 1e6,
        secs: t.elapsed().as_secs_f64(),
        cpu_ns: m.now() - c,
        scanned: None,
    })
}

/// (b) memcg reclaim: a 64 MiB cgroup streams a sparse file, uncached
/// ([`make_sparse`]). MB; the time and CPU count the reads, not the cache
/// drops between them.
fn memcg_stream(
    m: &CpuMeter,
    cg: &Memcg,
    file: &Path,
    reads: usize,
    mib: usize,
) -> anyhow::Result<Work> {
    let (mut secs, mut cpu_ns) = (0.0, 0.0);
    let mut scanned = Some(0);
    for _ in 0..reads {
        drop_caches();
        let before = cg.scanned();
        let c = m.now();
        let t = Instant::now();
        let st = cg
            .exec(&format!("cat {} > /dev/null", file.display()))
            .status()?;
        if !st.success() {
            bail!("memcg workload failed: {st}");
        }
        secs += t.elapsed().as_secs_f64();
        cpu_ns += m.now() - c;
        scanned = match (scanned, before, cg.scanned()) {
            (Some(n), Some(b), Some(a)) => Some(n + a.saturating_sub(b)),
            _ => None,
        };
    }
    Ok(Work {
        units: (reads * mib) as f64 * 1.048576,
        secs,
        cpu_ns,
        scanned,
    })
}

/// (b') thrashing, for the per-event costs only: the cgroup reads the same
/// uncached sparse file twice without dropping caches between, so the second read
/// refaults what the first one's reclaim evicted (workingset_refault).
fn thrash(cg: &Memcg, file: &Path) -> anyhow::Result<()> {
    drop_caches();
    for _ in 0..2 {
        let st = cg
            .exec(&format!("cat {} > /dev/null", file.display()))
            .status()?;
        if !st.success() {
            bail!("thrash workload failed: {st}");
        }
    }
    Ok(())
}

/// (c) anonymous pressure: a 64 MiB cgroup writes `mib` of anonymous memory
/// `passes` times, so reclaim swaps it out and faults bring it back. MB.
fn anon_pressure(m: &CpuMeter, cg: &Memcg, mib: usize, passes: usize) -> anyhow::Result<Work> {
    let me = std::env::current_exe()?;
    let c = m.now();
    let t = Instant::now();
    let st = cg
        .exec(&format!("{} anon-touch {mib} {passes}", me.display()))
        .status()?;
    if !st.success() {
        bail!("anon-touch failed: {st}");
    }
    Ok(Work {
        units: (mib * passes) as f64 * 1.048576,
        secs: t.elapsed().as_secs_f64(),
        cpu_ns: m.now() - c,
        scanned: None,
    })
}

/// A fresh private anonymous read-write mapping of `len` bytes.
fn map_anon(len: usize) -> anyhow::Result<*mut libc::c_void> {
    // SAFETY: a new mapping, overlapping nothing of ours.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        bail!("mmap: {}", std::io::Error::last_os_error());
    }
    Ok(p)
}

/// The `anon-touch` helper: map `mib` of anonymous memory and write every
/// page `passes` times (a distinct word per page, so zram cannot fold pages).
pub fn anon_touch(mib: usize, passes: usize) -> anyhow::Result<()> {
    let len = mib << 20;
    let p = map_anon(len)?;
    for pass in 0..passes {
        for (i, off) in (0..len).step_by(4096).enumerate() {
            // SAFETY: off + 8 <= len, inside the mapping; aligned.
            unsafe { *((p as *mut u8).add(off) as *mut u64) = (i ^ (pass << 40)) as u64 };
        }
    }
    Ok(())
}

/// The `lru-storm` helper, the trigger loop: fault in `mib` of anonymous
/// memory (no huge pages: one folio, one LRU insertion, per page) and unmap
/// it, `passes` times. Prints the CPU time the loop took (this thread's,
/// user and system: the hooks run in its faults) and the pages faulted.
pub fn lru_storm(mib: usize, passes: usize) -> anyhow::Result<()> {
    let len = mib << 20;
    let cpu = thread_cpu_ns;
    let t0 = cpu();
    for _ in 0..passes {
        let p = map_anon(len)?;
        // SAFETY: the mapping just made.
        unsafe { libc::madvise(p, len, libc::MADV_NOHUGEPAGE) };
        for off in (0..len).step_by(4096) {
            // SAFETY: off < len, inside the mapping.
            unsafe { *(p as *mut u8).add(off) = 1 };
        }
        // SAFETY: unmapping what was mapped above.
        unsafe { libc::munmap(p, len) };
    }
    println!("{} {}", cpu() - t0, passes * len / 4096);
    Ok(())
}

/// One trigger-loop run: (CPU ns, pages) as `lru-storm` printed them.
fn trigger_once(sizes: &Sizes) -> anyhow::Result<(f64, f64)> {
    let out = Command::new(std::env::current_exe()?)
        .args([
            "lru-storm",
            &sizes.trigger_mib.to_string(),
            &sizes.trigger_passes.to_string(),
        ])
        .output()
        .context("lru-storm")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|w| w.parse::<f64>().ok());
    match (
        out.status.success(),
        it.next().flatten(),
        it.next().flatten(),
    ) {
        (true, Some(ns), Some(pages)) if pages > 0.0 => Ok((ns, pages)),
        _ => bail!(
            "lru-storm failed ({}): {}{}",
            out.status,
            text,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// A trigger loop under each configuration in turn, `rounds` times over in
/// the order [`order`] gives, the tracer started before each run and
/// stopped after it: `run`'s figure by configuration, then round.
fn interleaved(
    env: &Env,
    configs: &[Config],
    rounds: usize,
    what: &str,
    mut run: impl FnMut() -> anyhow::Result<f64>,
) -> anyhow::Result<Vec<Vec<f64>>> {
    let mut got = vec![vec![]; configs.len()];
    let t0 = Instant::now();
    for round in 0..rounds {
        for ci in order(configs.len(), round) {
            eprint!(
                "\rxtask: {what} round {}/{rounds} {:<36} ({:.0} s)",
                round + 1,
                configs[ci].name(),
                t0.elapsed().as_secs_f64()
            );
            let t = start(configs[ci], env)?;
            let r = run();
            stop(t);
            got[ci].push(r?);
        }
    }
    eprintln!();
    Ok(got)
}

/// The whole cost per event, attach mechanism included (what BPF run-time
/// statistics leave out): the trigger loop's CPU time per LRU insertion
/// with each tracer attached, minus the untraced loop's, interleaved in
/// rounds like [`run`]. Every tracer hooks mm_lru_insertion (and, where
/// the kernel allows function hooks, folio_add_lru): each pays for all it
/// attaches to on that path.
pub fn trigger_costs(env: &Env, sizes: &Sizes) -> anyhow::Result<Vec<String>> {
    let configs: Vec<Config> = [
        Config::None,
        Config::VmscanStat,
        Config::VmscanClassic,
        Config::Bpftrace,
        Config::Perf,
    ]
    .into_iter()
    .filter(|c| env.configs.contains(c))
    .collect();
    // Not settled first (see settle): dropping the cache before each loop
    // made the loop's own CPU per page spread 110-356% in the lab, where it
    // spread 4-29% without.
    let per_page = interleaved(env, &configs, sizes.trigger_rounds, "trigger loop", || {
        trigger_once(sizes).map(|(ns, pages)| ns / pages)
    })?;
    let base = median(&mut per_page[0].clone());
    let mut rows = vec![
        format!(
            "| configuration (trigger loop: {} MiB of anonymous memory faulted in and unmapped {} times, one LRU insertion a page; {} rounds) | CPU ns per page (median) | spread | added per event |",
            sizes.trigger_mib, sizes.trigger_passes, sizes.trigger_rounds
        ),
        "|---|---|---|---|".to_owned(),
    ];
    let mut added = vec![0.0; configs.len()];
    for (ci, c) in configs.iter().enumerate() {
        let m = median(&mut per_page[ci].clone());
        added[ci] = m - base;
        let add = if ci == 0 {
            "-".to_owned()
        } else {
            format!("{:+.0} ns", added[ci])
        };
        rows.push(format!(
            "| {} | {m:.0} | {:.1}% | {add} |",
            c.name(),
            spread(&per_page[ci])
        ));
    }
    let noise = spread(&per_page[0]) / 100.0 * base / 2.0;
    let idx = |c: Config| configs.iter().position(|x| *x == c);
    for (v, b) in [
        (Config::VmscanStat, Config::Bpftrace),
        (Config::VmscanClassic, Config::Bpftrace),
        (Config::VmscanStat, Config::VmscanClassic),
    ] {
        let (Some(vi), Some(bi)) = (idx(v), idx(b)) else {
            continue;
        };
        let (a, c) = (added[vi], added[bi]);
        let verdict = if c <= noise {
            format!(
                "not resolvable: {}'s added cost ({c:+.0} ns) is within the untraced loop's noise (±{noise:.0} ns)",
                b.name()
            )
        } else {
            format!(
                "{:.2} ({a:+.0} ns / {c:+.0} ns; noise ±{noise:.0} ns)",
                a / c
            )
        };
        let target = if b == Config::Bpftrace {
            " (target <= 0.5)"
        } else {
            ""
        };
        rows.push(format!(
            "| whole cost per event: {} / {} | {verdict}{target} | | |",
            v.name(),
            b.name()
        ));
    }
    Ok(rows)
}

/// The folio_mark_accessed trigger loop: `calls` one-byte reads of the
/// cached `file`, alternating between its first page and its middle one.
/// A read of a page other than the one the file's last read ended in
/// marks that page's folio accessed (filemap_read: "only mark it as
/// accessed the first time"), so each read calls folio_mark_accessed once
/// ([`mark_costs`] counts the calls to check it) and nothing else vmscan
/// hooks. Returns this thread's CPU ns over the loop.
fn mark_loop(file: &Path, calls: usize) -> anyhow::Result<f64> {
    use std::os::unix::fs::FileExt as _;
    let f = std::fs::File::open(file).with_context(|| file.display().to_string())?;
    let len = f.metadata()?.len();
    // Far enough apart that no large folio holds both pages.
    let far = (len / 2) & !((4 << 20) - 1);
    if far == 0 {
        bail!(
            "{} is under 8 MiB: too small for the mark loop",
            file.display()
        );
    }
    let mut b = [0u8; 1];
    let t0 = thread_cpu_ns();
    for i in 0..calls {
        let off = if i % 2 == 0 { 0 } else { far };
        if f.read_at(&mut b, off)? != 1 {
            bail!("short read of {} at {off}", file.display());
        }
    }
    Ok((thread_cpu_ns() - t0) as f64)
}

/// The tools the folio_mark_accessed trigger loop compares: untraced,
/// vmscan stat, bpftrace's vmscan script and the empty fentry program (the
/// floor), where this place has them (the empty program only where the
/// kernel takes fentry: the lab).
fn mark_configs(env: &Env) -> Vec<Config> {
    [
        Config::None,
        Config::VmscanStat,
        Config::Bpftrace,
        Config::FentryFloor,
    ]
    .into_iter()
    .filter(|c| env.configs.contains(c))
    .collect()
}

/// The loop's name in the tables; the floor's rows follow its comparison
/// ([`compare_cpu`]).
const MARK_LOOP: &str = "folio_mark_accessed trigger loop";

/// The whole cost of one folio_mark_accessed call under each tool, the
/// storm's one hooked call timed alone: the page-cache storm copies 4 KiB a
/// call, which buries a program's 100-200 ns in the copy's noise; here a
/// call costs a one-byte read. First one pass with every tool attached at
/// once and the kernel's BPF statistics on: each tool's program run time
/// on the call (the same calls for all) and the calls a read made. Then
/// interleaved rounds of the loop under each tool alone, each paired with
/// the same round's untraced loop, and the empty program's overhead set
/// against bpftrace's: a floor above half of bpftrace's leaves no program
/// on that call able to cost half of it. Only where the kernel takes
/// fentry (the empty program is the floor).
pub fn mark_costs(env: &Env, sizes: &Sizes) -> anyhow::Result<Vec<String>> {
    let configs = mark_configs(env);
    if !configs.contains(&Config::FentryFloor) {
        return Ok(vec![]);
    }
    let f = files(env, sizes)?;
    let untraced = CpuMeter::new(0);
    storm(&untraced, &f.cached, 1)?;
    let mut rows = mark_programs(env, sizes, &f.cached, &configs[1..])?;
    rows.push(String::new());
    let t0 = Instant::now();
    // One untraced loop first, not counted (see rounds).
    mark_loop(&f.cached, sizes.mark_calls)?;
    let per_call = interleaved(env, &configs, sizes.mark_rounds, "mark loop", || {
        Ok(mark_loop(&f.cached, sizes.mark_calls)? / sizes.mark_calls as f64)
    })?;
    rows.push(format!(
        "{MARK_LOOP}: {} one-byte reads of a cached file a run, alternating between two pages (one folio_mark_accessed call each), {} rounds; CPU ns per read, each run against the untraced run of the same round",
        sizes.mark_calls, sizes.mark_rounds
    ));
    rows.push(String::new());
    rows.extend(CPU_HEAD.map(str::to_owned));
    let mut summary = compare_cpu(MARK_LOOP, "ns", "call", &configs, &per_call, &mut rows);
    rows.push(String::new());
    rows.extend(mark_round_rows(&configs, &per_call));
    summary.push(added_ns_row(&configs, &per_call));
    rows.push(String::new());
    rows.push("| measure | result |".to_owned());
    rows.push("|---|---|".to_owned());
    rows.extend(summary);
    rows.push(format!(
        "| time for the {MARK_LOOP} | {:.0} s |",
        t0.elapsed().as_secs_f64()
    ));
    Ok(rows)
}

/// The mark loop's CPU ns per read in each round (a `*` marks the
/// configuration that ran first in its round).
fn mark_round_rows(configs: &[Config], per_call: &[Vec<f64>]) -> Vec<String> {
    let rounds = per_call.first().map_or(0, Vec::len);
    let mut rows = vec![
        format!(
            "| {MARK_LOOP}, ns per read in each round |{}",
            (1..=rounds).map(|r| format!(" {r} |")).collect::<String>()
        ),
        format!("|---|{}", "---|".repeat(rounds)),
    ];
    for (ci, c) in configs.iter().enumerate() {
        let cells: String = per_call[ci]
            .iter()
            .enumerate()
            .map(|(r, ns)| {
                let first = order(configs.len(), r).first() == Some(&ci);
                format!(" {ns:.0}{} |", if first { "*" } else { "" })
            })
            .collect();
        rows.push(format!("| {} |{cells}", c.name()));
    }
    rows
}

/// The head of the CPU tables ([`compare_cpu`]'s rows).
const CPU_HEAD: [&str; 2] = [
    "| workload | configuration | CPU per unit (median) | spread | overhead, paired by round | interval |",
    "|---|---|---|---|---|---|",
];

/// Each tool's whole cost per call in ns: the paired differences from the
/// same round's untraced run, median and interval.
fn added_ns_row(configs: &[Config], per_call: &[Vec<f64>]) -> String {
    let base = &per_call[0];
    let cells: Vec<String> = configs
        .iter()
        .zip(per_call)
        .skip(1)
        .map(|(c, v)| {
            let d: Vec<f64> = base.iter().zip(v).map(|(b, x)| x - b).collect();
            let (m, lo, hi, cover) = median_interval(&d);
            format!(
                "{} {m:+.0} ns ({lo:+.0} to {hi:+.0}, {:.0}%)",
                c.name(),
                cover * 100.0
            )
        })
        .collect();
    format!(
        "| {MARK_LOOP}: CPU added per folio_mark_accessed call, paired by round | {} |",
        cells.join("; ")
    )
}

/// The BPF statistics pass of [`mark_costs`]: `tools` attached together,
/// one run of the loop, each tool's programs on folio_mark_accessed (run
/// time per run, runs per read).
fn mark_programs(
    env: &Env,
    sizes: &Sizes,
    file: &Path,
    tools: &[Config],
) -> anyhow::Result<Vec<String>> {
    let stats = BpfStats::on()?;
    let ids = |ps: &[Prog]| ps.iter().map(|p| p.id).collect::<BTreeSet<_>>();
    let mut owner: BTreeMap<u64, usize> = BTreeMap::new();
    let mut running = vec![];
    let res = (|| -> anyhow::Result<(Vec<Prog>, Vec<Prog>)> {
        for (ti, t) in tools.iter().enumerate() {
            let before = ids(&programs(env)?);
            running.push(start(*t, env)?);
            for id in ids(&programs(env)?).difference(&before) {
                owner.insert(*id, ti);
            }
        }
        let at_start = programs(env)?;
        mark_loop(file, sizes.mark_calls)?;
        Ok((at_start, programs(env)?))
    })();
    for t in running.into_iter().rev() {
        stop(t);
    }
    drop(stats);
    let (at_start, at_end) = res?;
    // tool -> (ns, runs) on folio_mark_accessed
    let mut by = vec![(0.0, 0.0); tools.len()];
    let hook = hook_key("folio_mark_accessed");
    for p in since(&at_start, &at_end) {
        if let Some(ti) = owner.get(&p.id).filter(|_| hook_key(&p.name) == hook) {
            by[*ti].0 += p.run_time_ns;
            by[*ti].1 += p.run_cnt;
        }
    }
    let mut rows = vec![
        format!(
            "| {MARK_LOOP}, BPF run time ({} reads, every tool attached at once, kernel.bpf_stats_enabled) | ns per program run | program runs per read |",
            sizes.mark_calls
        ),
        "|---|---|---|".to_owned(),
    ];
    for (t, (ns, runs)) in tools.iter().zip(&by) {
        let per = if *runs > 0.0 {
            format!("{:.0}", ns / runs)
        } else {
            "not attached".to_owned()
        };
        rows.push(format!(
            "| {} | {per} | {:.3} |",
            t.name(),
            runs / sizes.mark_calls as f64
        ));
    }
    Ok(rows)
}

/// (d) short-lived processes mapping a file, touching it and exiting.
/// Processes.
fn exits(m: &CpuMeter, file: &Path, procs: usize) -> anyhow::Result<Work> {
    let me = std::env::current_exe()?;
    let c = m.now();
    let t = Instant::now();
    for _ in 0..procs {
        let st = Command::new(&me).arg("map-touch").arg(file).status()?;
        if !st.success() {
            bail!("map-touch failed: {st}");
        }
    }
    Ok(Work {
        units: procs as f64,
        secs: t.elapsed().as_secs_f64(),
        cpu_ns: m.now() - c,
        scanned: None,
    })
}

/// The `map-touch` helper: mmap the file, read one byte per page, exit.
pub fn map_touch(file: &Path) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd as _;
    let f = std::fs::File::open(file)?;
    let len = f.metadata()?.len() as usize;
    // SAFETY: a private read-only mapping of a file we hold open.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            f.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        bail!("mmap: {}", std::io::Error::last_os_error());
    }
    let mut sum = 0u64;
    for off in (0..len).step_by(4096) {
        // SAFETY: off < len, inside the mapping.
        sum = sum.wrapping_add(unsafe { *(p as *const u8).add(off) } as u64);
    }
    std::hint::black_box(sum);
    Ok(())
}

struct Tracer {
    child: Option<Child>,
    pid: u32,
    record: Option<PathBuf>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

fn prefixed(prefix: &[String]) -> Command {
    let mut c = Command::new(&prefix[0]);
    c.args(&prefix[1..]);
    c
}

/// How long a tracer may take to attach: bpftrace compiles its script with
/// LLVM first, minutes in an emulated guest.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(300);
/// perf prints nothing when it is ready: it is given this long.
const PERF_SETTLE: Duration = Duration::from_millis(1500);

/// Starts a configuration's tracer and waits until it is attached.
fn start(config: Config, env: &Env) -> anyhow::Result<Tracer> {
    let rec = env.dir.join("bench.vmscan");
    let Some((mut cmd, ready)) = tracer_command(config, env, &rec) else {
        return Ok(Tracer {
            child: None,
            pid: 0,
            record: None,
            stderr: None,
        });
    };
    // bpftrace says "Attaching N probes..." on stdout; vmscan on stderr.
    let on_stdout = matches!(
        config,
        Config::Bpftrace | Config::BpftraceStacks | Config::FentryFloor
    );
    cmd.stdout(if on_stdout {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stderr(Stdio::piped());
    let mut child = cmd
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| config.name().to_owned())?;
    let pid = child.id();
    // bpftrace's errors (its stderr) are kept to say why it did not attach.
    let bt_err = on_stdout.then(|| read_all(child.stderr.take().expect("stderr")));
    let said: Box<dyn std::io::Read + Send> = if on_stdout {
        Box::new(child.stdout.take().expect("stdout"))
    } else {
        Box::new(child.stderr.take().expect("stderr"))
    };
    let (rx, handle) = forward_lines(said);
    if ready.is_empty() {
        std::thread::sleep(PERF_SETTLE);
    } else if let Err(e) = wait_for_line(&rx, ready) {
        // Never leave a tracer behind to distort later runs.
        let _ = child.kill();
        let st = child.wait();
        let mut said = handle.join().unwrap_or_default();
        if let Some(h) = bt_err {
            said.push_str(&h.join().unwrap_or_default());
        }
        let how = match e {
            std::sync::mpsc::RecvTimeoutError::Timeout => {
                format!("did not attach within {} s", ATTACH_TIMEOUT.as_secs())
            }
            std::sync::mpsc::RecvTimeoutError::Disconnected => {
                format!("exited before attaching ({:?})", st.ok())
            }
        };
        bail!("{} {how}: {}", config.name(), said.trim());
    }
    // bpftrace prints "Attaching" before it finishes attaching.
    if on_stdout {
        wait_attached(pid);
    }
    Ok(Tracer {
        child: Some(child),
        pid,
        record: (config == Config::VmscanRecord).then_some(rec),
        stderr: Some(handle),
    })
}

/// A configuration's tracer command and the line it prints once attached
/// (empty: it prints none); `None` for no tracer.
fn tracer_command(config: Config, env: &Env, rec: &Path) -> Option<(Command, &'static str)> {
    Some(match config {
        Config::None => return None,
        Config::VmscanStat | Config::VmscanKprobes | Config::VmscanClassic => {
            let mut c = Command::new(&env.vmscan);
            if config == Config::VmscanKprobes {
                c.arg("--no-fentry");
            }
            if config == Config::VmscanClassic {
                c.args(["--tracepoints", "tracepoint"]);
            }
            c.arg("stat");
            (c, "vmscan: counting")
        }
        Config::VmscanAccess => {
            let mut c = Command::new(&env.vmscan);
            c.args(["access", "--duration", "86400"]);
            (c, "vmscan: counting")
        }
        Config::VmscanRecord => {
            let _ = std::fs::remove_file(rec);
            let mut c = Command::new(&env.vmscan);
            c.args(["record", "-o"]).arg(rec);
            (c, "vmscan: counting")
        }
        Config::Bpftrace | Config::BpftraceStacks | Config::FentryFloor => {
            let mut c = prefixed(&env.bpftrace);
            c.arg(match config {
                Config::Bpftrace => &env.bt_script,
                Config::BpftraceStacks => &env.bt_stacks,
                _ => &env.bt_floor,
            });
            (c, "Attaching")
        }
        Config::Perf => {
            let mut c = prefixed(&env.perf);
            c.args([
                "record",
                "-q",
                "-a",
                "-e",
                "vmscan:*",
                "-e",
                "pagemap:*",
                "-o",
            ])
            .arg(env.dir.join("perf.data"));
            (c, "")
        }
    })
}

/// Reads a stream to its end on a thread of its own.
fn read_all(mut r: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

/// Sends a stream's lines as they come and keeps them all (the thread's
/// result).
fn forward_lines(
    r: Box<dyn std::io::Read + Send>,
) -> (
    std::sync::mpsc::Receiver<String>,
    std::thread::JoinHandle<String>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    (rx, handle)
}

/// Waits up to [`ATTACH_TIMEOUT`] for a line that contains `ready`.
fn wait_for_line(
    rx: &std::sync::mpsc::Receiver<String>,
    ready: &str,
) -> Result<(), std::sync::mpsc::RecvTimeoutError> {
    let deadline = Instant::now() + ATTACH_TIMEOUT;
    loop {
        if rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))?
            .contains(ready)
        {
            return Ok(());
        }
    }
}

/// Waits until a process stops opening BPF programs, maps, links and perf
/// events (anonymous inodes) for a second (bpftrace prints
/// "Attaching" before it attaches).
fn wait_attached(pid: u32) {
    let links = || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| {
                        std::fs::read_link(e.path())
                            .map(|l| l.to_string_lossy().contains("anon_inode"))
                            .unwrap_or(false)
                    })
                    .count()
            })
            .unwrap_or(0)
    };
    let mut last = usize::MAX;
    let mut stable = 0;
    while stable < 5 {
        std::thread::sleep(Duration::from_millis(200));
        let n = links();
        stable = if n == last { stable + 1 } else { 0 };
        last = n;
    }
}

/// Stops a tracer with SIGINT; returns its stderr.
/// A tracer that has not exited this long after SIGINT is killed: bpftrace
/// prints its maps first (by kernel stack: a while in an emulated guest),
/// but a benchmark must not wait for ever on one that hangs.
const STOP_TIMEOUT: Duration = Duration::from_secs(180);

fn stop(mut t: Tracer) -> String {
    if let Some(mut c) = t.child.take() {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match c.try_wait() {
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok(None) => {
                    eprintln!(
                        "\nxtask: pid {} had not exited {} s after SIGINT: killed",
                        t.pid,
                        STOP_TIMEOUT.as_secs()
                    );
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                _ => break,
            }
        }
    }
    t.stderr
        .take()
        .and_then(|h| h.join().ok())
        .unwrap_or_default()
}

/// Before every run, whatever its configuration: the last tracer's leavings
/// cleared, so that a run pays less for its predecessor. In the lab (6.1, 9
/// rounds) the memcg stream's untraced run came right after another
/// tracer's (perf record's in rounds 2-8) and cost 2,379-4,247 us/MB there
/// and 6,714 in round 9, against 2,463 in round 1 after the warm-up and
/// 2,600-2,900 for the light tracers; vmscan stat's one run after perf
/// record cost 3,854. The untraced baseline was inflated and every
/// tracer's overhead came out negative. perf record leaves a perf.data of
/// tens of MB dirty in the page cache; it is deleted (nothing reads it),
/// and everything is written back and dropped from the cache before each
/// run. Settled, the untraced stream cost 2,290-2,604 in rounds 1-8 and
/// 3,138 in round 9 (after bpftrace by stack): most of the effect, not all.
fn settle(env: &Env) {
    let _ = std::fs::remove_file(env.dir.join("perf.data"));
    drop_caches();
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn spread(v: &[f64]) -> f64 {
    let (lo, hi) = v
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
    let m = {
        let mut c = v.to_vec();
        median(&mut c)
    };
    if m == 0.0 { 0.0 } else { (hi - lo) / m * 100.0 }
}

/// The workload files, made once.
struct Files {
    cached: PathBuf,
    big: PathBuf,
    small: PathBuf,
}

fn files(env: &Env, sizes: &Sizes) -> anyhow::Result<Files> {
    std::fs::create_dir_all(&env.dir)?;
    let f = Files {
        cached: env.dir.join(format!("cached-{}M", sizes.storm_mib)),
        big: env.dir.join(format!("sparse-{}M", sizes.stream_mib)),
        small: env.dir.join("mapped-4M"),
    };
    make_file(&f.cached, sizes.storm_mib)?;
    make_sparse(&f.big, sizes.stream_mib)?;
    make_file(&f.small, 4)?;
    Ok(f)
}

/// One pass of every workload this place runs, in the order of
/// [`run`]'s table, with `tracer` (its pid; 0 for none) attached.
fn run_workloads(
    env: &Env,
    f: &Files,
    cg: &Memcg,
    sizes: &Sizes,
    tracer: u32,
) -> anyhow::Result<Vec<Sample>> {
    let m = CpuMeter::new(tracer);
    // The tracer's own process's CPU over each run, apart: its user-space
    // side's share of the run's CPU.
    let with_own = |run: &dyn Fn() -> anyhow::Result<Work>| -> anyhow::Result<Sample> {
        let before = m.tracer_now();
        let w = run()?;
        let mut s = w.sample();
        s.tracer = (m.tracer_now() - before) / 1e3 / w.units;
        Ok(s)
    };
    let mut got = vec![
        with_own(&|| storm(&m, &f.cached, sizes.storm_passes))?,
        with_own(&|| memcg_stream(&m, cg, &f.big, sizes.memcg_reads, sizes.stream_mib))?,
    ];
    if env.swap {
        got.push(with_own(&|| {
            anon_pressure(&m, cg, sizes.anon_mib, sizes.anon_passes)
        })?);
    }
    got.push(with_own(&|| exits(&m, &f.small, sizes.exit_procs))?);
    Ok(got)
}

/// The workloads of [`run_workloads`], in its order: (name, unit of work).
fn workload_names(env: &Env) -> Vec<(&'static str, &'static str)> {
    let mut workloads = vec![(FLOOR_WORKLOAD, "MB"), ("memcg reclaim stream", "MB")];
    if env.swap {
        workloads.push(("anonymous pressure, swapping", "MB"));
    }
    workloads.push(("short-lived mapping processes", "proc"));
    workloads
}

/// What the interleaved rounds measured.
struct Measured {
    /// Samples by workload, then configuration, one per round.
    results: Vec<Vec<Vec<Sample>>>,
    /// vmscan stat's peak RSS (KiB).
    rss: u64,
    /// Recording bytes per event, one per vmscan record run.
    rec_bpe: Vec<f64>,
}

/// Runs the interleaved rounds; returns Markdown rows.
pub fn run(env: &Env, sizes: &Sizes) -> anyhow::Result<Vec<String>> {
    let f = files(env, sizes)?;
    let cg = Memcg::create()?;
    let workloads = workload_names(env);
    let t0 = Instant::now();
    let mut m = rounds(env, sizes, &f, &cg, workloads.len())?;
    let mut rows = vec![
        format!(
            "CPU time per unit of work ({} rounds; the workload's tasks, kswapd and the tracer's process, by the scheduler's runtime): each run against the untraced run of the same round, median and a distribution-free interval for it",
            sizes.rounds
        ),
        String::new(),
        CPU_HEAD[0].to_owned(),
        CPU_HEAD[1].to_owned(),
    ];
    let mut summary = Vec::new();
    for (wi, (w, unit)) in workloads.iter().enumerate() {
        let cpu: Vec<Vec<f64>> = m.results[wi]
            .iter()
            .map(|r| r.iter().map(|s| s.cpu).collect())
            .collect();
        summary.extend(compare_cpu(w, "us", unit, &env.configs, &cpu, &mut rows));
    }
    rows.push(String::new());
    rows.push("Throughput (wall clock; waits for the disk and for a shared machine's other tasks included):".to_owned());
    rows.push(String::new());
    rows.push("| workload | configuration | median | spread | vs none | overhead |".to_owned());
    rows.push("|---|---|---|---|---|---|".to_owned());
    for (wi, (w, unit)) in workloads.iter().enumerate() {
        let rate: Vec<Vec<f64>> = m.results[wi]
            .iter()
            .map(|r| r.iter().map(|s| s.rate).collect())
            .collect();
        compare_rate(&format!("{w} ({unit}/s)"), &env.configs, &rate, &mut rows);
    }
    rows.push(String::new());
    rows.extend(per_round_rows(&workloads, &env.configs, &m.results));
    rows.push(String::new());
    rows.push("| measure | result |".to_owned());
    rows.push("|---|---|".to_owned());
    rows.extend(summary);
    rows.push(format!(
        "| vmscan stat peak RSS during the runs | {} KiB (target <= 40 MiB) |",
        m.rss
    ));
    if !m.rec_bpe.is_empty() {
        rows.push(format!("| recording size on the real workloads | {:.0} bytes per episode event (ticks included) |", median(&mut m.rec_bpe)));
    }
    rows.push(format!(
        "| time for {} rounds | {:.0} s |",
        sizes.rounds,
        t0.elapsed().as_secs_f64()
    ));
    Ok(rows)
}

/// Every run's CPU per unit of work, round by round, so that what the
/// medians hide (a bimodal workload, a configuration that drags the next
/// one) can be seen; a `*` marks the configuration that ran first in its
/// round ([`order`]).
fn per_round_rows(
    workloads: &[(&str, &str)],
    configs: &[Config],
    results: &[Vec<Vec<Sample>>],
) -> Vec<String> {
    let rounds = results.first().and_then(|w| w.first()).map_or(0, Vec::len);
    let mut rows = vec![
        "CPU per unit of work in each round (rounds in order; * ran first in its round):"
            .to_owned(),
        String::new(),
        format!(
            "| workload | configuration |{}",
            (1..=rounds).map(|r| format!(" {r} |")).collect::<String>()
        ),
        format!("|---|---|{}", "---|".repeat(rounds)),
    ];
    // One row per workload and configuration; a row goes out only where
    // every round has a cell.
    let mut block = |what: &str, cell: &dyn Fn(usize, usize, &Sample) -> Option<String>| {
        for (wi, (w, unit)) in workloads.iter().enumerate() {
            for (ci, c) in configs.iter().enumerate() {
                let cells = results[wi][ci]
                    .iter()
                    .enumerate()
                    .map(|(r, s)| cell(ci, r, s).map(|x| format!(" {x} |")))
                    .collect::<Option<String>>();
                if let Some(cells) = cells.filter(|c| !c.is_empty()) {
                    rows.push(format!("| {w} ({what}/{unit}) | {} |{cells}", c.name()));
                }
            }
        }
    };
    block("us", &|ci, r, s| {
        let first = order(configs.len(), r).first() == Some(&ci);
        Some(format!("{:.0}{}", s.cpu, if first { "*" } else { "" }))
    });
    // Of each run's CPU, the tracer process's own (its user-space side).
    block("tracer's process, us", &|ci, _, s| {
        (configs[ci] != Config::None).then(|| format!("{:.0}", s.tracer))
    });
    // The kernel's own work beside the CPU: pages scanned per unit, where
    // the workload's memory cgroup counts them.
    block("pages scanned", &|_, _, s| {
        s.scanned.map(|n| format!("{n:.0}"))
    });
    rows
}

/// Every configuration in turn, each running every workload, `sizes.rounds`
/// times over.
fn rounds(
    env: &Env,
    sizes: &Sizes,
    f: &Files,
    cg: &Memcg,
    workloads: usize,
) -> anyhow::Result<Measured> {
    let configs = &env.configs;
    let mut m = Measured {
        results: vec![vec![vec![]; configs.len()]; workloads],
        rss: 0,
        rec_bpe: Vec::new(),
    };
    let untraced = CpuMeter::new(0);
    let t0 = Instant::now();
    // One untraced pass first, not counted: the first run of a benchmark
    // meets cold caches and code paths the later ones do not (in a quick
    // 6.1 lab run, round 1's first run was the dearest untraced run of the
    // page-cache storm and the memcg stream), and the changing order only spreads
    // that cost, it does not take it out.
    eprint!("\rxtask: overhead warm-up (not counted)");
    run_workloads(env, f, cg, sizes, 0)?;
    for round in 0..sizes.rounds {
        for ci in order(configs.len(), round) {
            let config = &configs[ci];
            eprint!(
                "\rxtask: overhead round {}/{} {:<24} ({:.0} s)",
                round + 1,
                sizes.rounds,
                config.name(),
                t0.elapsed().as_secs_f64()
            );
            settle(env);
            // Warm the cached file outside the traced window.
            storm(&untraced, &f.cached, 1)?;
            let t = start(*config, env)?;
            let got = run_workloads(env, f, cg, sizes, t.pid)?;
            if *config == Config::VmscanStat {
                m.rss = m.rss.max(crate::sh::proc_status_kib(t.pid, "VmHWM:"));
            }
            let rec = t.record.clone();
            let err = stop(t);
            if let Some(bpe) = rec.and_then(|r| bytes_per_event(&err, &r)) {
                m.rec_bpe.push(bpe);
            }
            for (wi, v) in got.into_iter().enumerate() {
                m.results[wi][ci].push(v);
            }
        }
    }
    eprintln!();
    Ok(m)
}

/// A recording's size per event, from vmscan record's closing line
/// ("vmscan: wrote FILE (N records, E events, B bytes, ...)") and the file.
fn bytes_per_event(said: &str, file: &Path) -> Option<f64> {
    let ev = said
        .split(" events")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|s| s.parse::<f64>().ok())?;
    let by = std::fs::metadata(file).map(|m| m.len() as f64).ok()?;
    (ev > 0.0).then(|| by / ev)
}

/// The order of `n` configurations in round `round`, from a Williams
/// design: the sequence 0, 1, n-1, 2, n-2, ... shifted by `round / 2`
/// (mod n), reversed in odd rounds. Over 2n rounds every configuration runs
/// twice at each position, and twice right after each other
/// configuration. A plain rotation, used before, kept every configuration
/// after the same one in every round but the first (the untraced run after
/// perf record's), so whatever one run left behind fell on the same
/// neighbour every time; here the neighbours change from round to round.
fn order(n: usize, round: usize) -> Vec<usize> {
    if n == 0 {
        return vec![];
    }
    let shift = round / 2;
    let mut seq: Vec<usize> = (0..n)
        .map(|i| {
            let base = if i % 2 == 1 { i.div_ceil(2) } else { n - i / 2 };
            (base + shift) % n
        })
        .collect();
    if round % 2 == 1 {
        seq.reverse();
    }
    seq
}

/// One workload's throughput rows (pushed to `rows`, one per
/// configuration, against the first, untraced one's median).
fn compare_rate(w: &str, configs: &[Config], results: &[Vec<f64>], rows: &mut Vec<String>) {
    let base = median(&mut results[0].clone());
    for (ci, config) in configs.iter().enumerate() {
        let v = &results[ci];
        let m = median(&mut v.clone());
        let ratio = if base > 0.0 { m / base } else { 0.0 };
        rows.push(format!(
            "| {w} | {} | {m:.1} | {:.1}% | {ratio:.3} | {:+.2}% |",
            config.name(),
            spread(v),
            (1.0 - ratio) * 100.0
        ));
    }
}

/// Each round's overhead (percent) of `v` over the same round's untraced
/// run `base`: CPU per unit, traced against untraced. Pairing by round
/// cancels what drifts between rounds (the page cache, a shared host's
/// load), which unpaired medians carry.
fn paired(base: &[f64], v: &[f64]) -> Vec<f64> {
    base.iter()
        .zip(v)
        .filter(|(b, _)| **b > 0.0)
        .map(|(b, x)| (x / b - 1.0) * 100.0)
        .collect()
}

/// The median of `v` and a distribution-free confidence interval for it:
/// the k-th smallest and k-th largest values, with the largest k whose
/// coverage, 1 - 2 P(Binomial(n, 1/2) < k), is at least 90% (k = 1, the
/// extremes, where even they cover less). Returns (median, low, high,
/// coverage).
fn median_interval(v: &[f64]) -> (f64, f64, f64, f64) {
    let mut s = v.to_vec();
    let med = median(&mut s);
    let n = s.len();
    if n == 0 {
        return (0.0, 0.0, 0.0, 0.0);
    }
    // P(X < k) for X ~ Binomial(n, 1/2), built up term by term.
    let total = 2f64.powi(n as i32);
    let mut term = 1.0; // C(n, k - 1)
    let mut below = term / total;
    let mut k = 1;
    while k < n / 2 {
        term = term * (n - (k - 1)) as f64 / k as f64;
        if 1.0 - 2.0 * (below + term / total) < 0.9 {
            break;
        }
        below += term / total;
        k += 1;
    }
    (med, s[k - 1], s[n - k], 1.0 - 2.0 * below)
}

/// One workload's CPU rows (pushed to `rows`) and its vmscan-versus-
/// bpftrace summary rows (returned). `cpu`: CPU us per unit by
/// configuration (the first untraced), then round.
fn compare_cpu(
    w: &str,
    time: &str,
    unit: &str,
    configs: &[Config],
    cpu: &[Vec<f64>],
    rows: &mut Vec<String>,
) -> Vec<String> {
    let idx = |c: Config| configs.iter().position(|x| *x == c);
    let over: Vec<(f64, f64, f64, f64)> = cpu
        .iter()
        .map(|v| median_interval(&paired(&cpu[0], v)))
        .collect();
    for (ci, config) in configs.iter().enumerate() {
        let m = median(&mut cpu[ci].clone());
        let (o, lo, hi, cover) = over[ci];
        let (o, iv) = if ci == 0 {
            ("-".to_owned(), "-".to_owned())
        } else {
            (
                format!("{o:+.2}%"),
                format!("{lo:+.1}% to {hi:+.1}% ({:.0}%)", cover * 100.0),
            )
        };
        rows.push(format!(
            "| {w} | {} | {m:.1} {time}/{unit} | {:.1}% | {o} | {iv} |",
            config.name(),
            spread(&cpu[ci]),
        ));
    }
    let mut summary = vec![];
    for (v, b) in PAIRS {
        let (Some(vi), Some(bi)) = (idx(v), idx(b)) else {
            continue;
        };
        summary.push(format!(
            "| {w}, CPU per {unit}: {} overhead / {} overhead | {} (target <= 0.5) |",
            v.name(),
            b.name(),
            verdict(("vmscan", over[vi]), (b.name(), over[bi]))
        ));
    }
    if [FLOOR_WORKLOAD, MARK_LOOP].contains(&w) {
        summary.extend(floor_rows(w, unit, configs, cpu, &over));
    }
    summary
}

/// The workload whose one hooked call is folio_mark_accessed (the file is
/// cached and warmed outside the traced window): there an empty fentry
/// program on that call measures the floor under every tool.
const FLOOR_WORKLOAD: &str = "page-cache storm";

/// The floor's rows: the empty program's overhead against bpftrace's (the
/// least any tool running a program on every call can reach), then vmscan's
/// and bpftrace's overheads over the empty program's run of the same round
/// (what their programs add to the trampoline). `over`: each
/// configuration's overhead over the untraced run, as [`compare_cpu`] has
/// it.
fn floor_rows(
    w: &str,
    unit: &str,
    configs: &[Config],
    cpu: &[Vec<f64>],
    over: &[(f64, f64, f64, f64)],
) -> Vec<String> {
    let idx = |c: Config| configs.iter().position(|x| *x == c);
    let (Some(fi), Some(bi)) = (idx(Config::FentryFloor), idx(Config::Bpftrace)) else {
        return vec![];
    };
    let over_floor = |c: usize| median_interval(&paired(&cpu[fi], &cpu[c]));
    let floor = Config::FentryFloor.name();
    let mut rows = vec![format!(
        "| {w}, CPU per {unit}: {floor} overhead / bpftrace overhead (the least a tool running a program on each folio_mark_accessed call can reach) | {} |",
        verdict((floor, over[fi]), ("bpftrace", over[bi]))
    )];
    // The vmscan configurations weighed against bpftrace in PAIRS.
    let vmscan: Vec<usize> = PAIRS
        .iter()
        .filter(|(_, b)| *b == Config::Bpftrace)
        .filter_map(|(v, _)| idx(*v))
        .collect();
    for &vi in &vmscan {
        rows.push(format!(
            "| {w}, CPU per {unit} over the {floor}'s: {} / bpftrace (what the programs add) | {} |",
            configs[vi].name(),
            verdict(("vmscan", over_floor(vi)), ("bpftrace", over_floor(bi)))
        ));
    }
    // The same ratios taken round by round: an interval for the ratio
    // itself, not only for each overhead.
    for ci in std::iter::once(fi).chain(vmscan) {
        rows.push(format!(
            "| {w}, CPU per {unit}: {} overhead / bpftrace overhead, round by round | {} |",
            configs[ci].name(),
            round_ratios(&cpu[0], &cpu[ci], &cpu[bi])
        ));
    }
    rows
}

/// Each round's overhead of `v` over the untraced `base` divided by the
/// peer's `b` over the same base: their median and its interval
/// ([`median_interval`]). Only where the peer's run cost more than the
/// untraced one in every round: a ratio over a denominator near or below
/// zero says nothing.
fn round_ratios(base: &[f64], v: &[f64], b: &[f64]) -> String {
    let n = base.len().min(v.len()).min(b.len());
    let low = (0..n).filter(|&i| b[i] <= base[i]).count();
    if n == 0 || low > 0 {
        return format!(
            "not computed: bpftrace's run cost no more than the untraced one in {low} of {n} rounds"
        );
    }
    let r: Vec<f64> = (0..n)
        .map(|i| (v[i] - base[i]) / (b[i] - base[i]))
        .collect();
    let (m, lo, hi, cover) = median_interval(&r);
    format!(
        "{m:.2} ({lo:.2} to {hi:.2}, {:.0}% interval, {n} rounds)",
        cover * 100.0
    )
}

/// One overhead against its peer's, each named, each (median, low, high,
/// coverage) of the paired overheads: a ratio only where the peer's
/// interval lies above zero, so that its overhead is told from the noise.
fn verdict(
    (me, v): (&str, (f64, f64, f64, f64)),
    (peer, b): (&str, (f64, f64, f64, f64)),
) -> String {
    let (vo, vlo, vhi, _) = v;
    let (bo, blo, bhi, cover) = b;
    let c = cover * 100.0;
    if blo <= 0.0 || bo <= 0.0 {
        format!(
            "not resolvable: {peer}'s overhead ({bo:+.1}%, {c:.0}% interval {blo:+.1}% to {bhi:+.1}%) is not told from zero; {me}'s is {vo:+.1}% ({vlo:+.1}% to {vhi:+.1}%)"
        )
    } else {
        // A median below zero is no overhead told: "below 0", not a
        // negative ratio (or "-0.00").
        let ratio = if vo < 0.0 {
            "below 0".to_owned()
        } else {
            format!("{:.2}", vo / bo)
        };
        format!(
            "{ratio} ({me} {vo:+.1}%, {vlo:+.1}% to {vhi:+.1}%; {peer} {bo:+.1}%, {blo:+.1}% to {bhi:+.1}%; {c:.0}% intervals)"
        )
    }
}

/// A loaded BPF program's kernel statistics.
#[derive(Clone, Debug)]
struct Prog {
    id: u64,
    name: String,
    run_time_ns: f64,
    run_cnt: f64,
}

/// kernel.bpf_stats_enabled on while this lives (programs' run time and
/// runs are counted only then); its old value back when dropped.
struct BpfStats {
    old: String,
}

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl BpfStats {
    fn on() -> anyhow::Result<Self> {
        let old = std::fs::read_to_string(BPF_STATS).unwrap_or_else(|_| "0".into());
        std::fs::write(BPF_STATS, "1").context("enabling kernel.bpf_stats_enabled")?;
        Ok(Self { old })
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = std::fs::write(BPF_STATS, self.old.trim());
    }
}

/// Each program's run time and runs between two listings, for the
/// programs in both.
fn since(at_start: &[Prog], at_end: &[Prog]) -> Vec<Prog> {
    let base: BTreeMap<u64, &Prog> = at_start.iter().map(|p| (p.id, p)).collect();
    at_end
        .iter()
        .filter_map(|p| {
            let b = base.get(&p.id)?;
            Some(Prog {
                run_time_ns: p.run_time_ns - b.run_time_ns,
                run_cnt: p.run_cnt - b.run_cnt,
                ..p.clone()
            })
        })
        .collect()
}

fn programs(env: &Env) -> anyhow::Result<Vec<Prog>> {
    let out = prefixed(&env.bpftool)
        .args(["prog", "show", "--json"])
        .output()
        .context("bpftool (apt install bpftool)")?;
    if !out.status.success() {
        bail!(
            "bpftool prog show: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("bpftool's JSON")?;
    Ok(v.as_array()
        .map(|a| {
            a.iter()
                .map(|p| Prog {
                    id: p["id"].as_u64().unwrap_or(0),
                    name: p["name"].as_str().unwrap_or("").to_owned(),
                    run_time_ns: p["run_time_ns"].as_f64().unwrap_or(0.0),
                    run_cnt: p["run_cnt"].as_f64().unwrap_or(0.0),
                })
                .collect()
        })
        .unwrap_or_default())
}

/// The hook a program serves, named as the kernel names the event or
/// function, cut to the 15 characters bpftrace's program names keep. Entry
/// and return programs of one function share a key.
fn hook_key(name: &str) -> String {
    let n = ["fentry_", "fexit_", "kprobe_", "kretprobe_"]
        .iter()
        .fold(name, |n, p| n.strip_prefix(p).unwrap_or(n));
    let n = if let Some(r) = n.strip_prefix("vmscan_") {
        format!("mm_vmscan_{r}")
    } else if let Some(r) = n.strip_prefix("pagemap_lru_") {
        format!("mm_lru_{r}")
    } else {
        n.to_owned()
    };
    n.chars().take(15).collect()
}

/// Per-program run time per event from the kernel (kernel.bpf_stats_enabled)
/// for vmscan stat and bpftrace attached to the same hooks at the same time,
/// over one pass of each workload: both see the same events, so the ratio of
/// their BPF time needs no noise allowance.
pub fn program_costs(
    env: &Env,
    sizes: &Sizes,
    (vcfg, bcfg): (Config, Config),
) -> anyhow::Result<Vec<String>> {
    let f = files(env, sizes)?;
    let cg = Memcg::create()?;
    let stats = BpfStats::on()?;
    let ids = |ps: &[Prog]| ps.iter().map(|p| p.id).collect::<BTreeSet<_>>();
    let before = ids(&programs(env)?);
    let v = start(vcfg, env)?;
    let with_v = ids(&programs(env)?);
    let res = start(bcfg, env).and_then(|b| {
        let r = (|| -> anyhow::Result<(Vec<Prog>, Vec<Prog>)> {
            // Counted from here: both attached, the same events for both.
            let at_start = programs(env)?;
            run_workloads(
                env,
                &f,
                &cg,
                &Sizes {
                    storm_passes: sizes.storm_passes.min(4),
                    memcg_reads: 1,
                    anon_passes: 1,
                    ..*sizes
                },
                0,
            )?;
            thrash(&cg, &f.big)?;
            Ok((at_start, programs(env)?))
        })();
        stop(b);
        r
    });
    stop(v);
    drop(stats);
    let (at_start, at_end) = res?;
    let progs = since(&at_start, &at_end);
    // key -> (vmscan ns, vmscan runs, bpftrace ns, bpftrace runs)
    let mut by: BTreeMap<String, [f64; 4]> = BTreeMap::new();
    for p in progs
        .iter()
        .filter(|p| !before.contains(&p.id) && p.run_cnt > 0.0)
    {
        let e = by.entry(hook_key(&p.name)).or_default();
        let side = if with_v.contains(&p.id) { 0 } else { 2 };
        e[side] += p.run_time_ns;
        e[side + 1] += p.run_cnt;
    }
    let mut rows = vec![
        format!(
            "| hook ({} and {}; all programs on one hook together) | vmscan ns per program run | bpftrace ns per program run | program runs (vmscan / bpftrace) | vmscan / bpftrace (BPF time) |",
            vcfg.name(),
            bcfg.name()
        ),
        "|---|---|---|---|---|".to_owned(),
    ];
    let (mut vt, mut bt) = (0.0, 0.0);
    let per = |ns: f64, n: f64| {
        if n > 0.0 {
            format!("{:.0}", ns / n)
        } else {
            "-".into()
        }
    };
    for (k, [vn, vc, bn, bc]) in &by {
        let ratio = if *vc > 0.0 && *bc > 0.0 {
            vt += vn;
            bt += bn;
            format!("{:.2}", vn / bn)
        } else {
            "not on both".into()
        };
        rows.push(format!(
            "| {k} | {} | {} | {vc:.0} / {bc:.0} | {ratio} |",
            per(*vn, *vc),
            per(*bn, *bc)
        ));
    }
    if bt > 0.0 {
        rows.push(format!(
            "| all hooks on both | {:.1} ms | {:.1} ms | | {:.2} (target <= 0.5) |",
            vt / 1e6,
            bt / 1e6,
            vt / bt
        ));
    }
    Ok(rows)
}

/// `xtask guest-bench`: inside a kernel lab guest. The host's bpftrace, perf
/// and bpftool run in a chroot on the tools disk at /tools. `marks_only`:
/// only the folio_mark_accessed trigger loop ([`mark_costs`]).
pub fn guest(quick: bool, marks_only: bool) -> anyhow::Result<()> {
    let chroot = |bin: &str| vec!["chroot".to_owned(), "/tools".to_owned(), bin.to_owned()];
    let env = Env {
        vmscan: PathBuf::from("/bin/vmscan"),
        bpftrace: chroot("/usr/bin/bpftrace"),
        perf: chroot("/usr/bin/perf"),
        bpftool: chroot("/usr/sbin/bpftool"),
        bt_script: PathBuf::from("/bench/vmscan-lab.bt"),
        bt_stacks: PathBuf::from("/bench/access.bt"),
        bt_floor: PathBuf::from("/bench/fentry-floor.bt"),
        dir: PathBuf::from("/mnt/bench"),
        configs: vec![
            Config::None,
            Config::VmscanStat,
            Config::VmscanClassic,
            Config::VmscanKprobes,
            Config::Bpftrace,
            Config::FentryFloor,
            Config::VmscanAccess,
            Config::BpftraceStacks,
            Config::Perf,
        ],
        swap: swap_on(),
    };
    let sizes = Sizes::guest(quick);
    if marks_only {
        eprintln!("xtask: whole cost per folio_mark_accessed call (mark loop) only");
        println!("{}", mark_costs(&env, &sizes)?.join("\n"));
        return Ok(());
    }
    let mut rows = vec![];
    for pair in PAIRS {
        eprintln!(
            "xtask: per-event costs, {} and {} together",
            pair.0.name(),
            pair.1.name()
        );
        rows.extend(program_costs(&env, &sizes, pair)?);
        rows.push(String::new());
    }
    eprintln!("xtask: whole cost per event (trigger loop)");
    rows.extend(trigger_costs(&env, &sizes)?);
    rows.push(String::new());
    eprintln!("xtask: whole cost per folio_mark_accessed call (mark loop)");
    rows.extend(mark_costs(&env, &sizes)?);
    rows.push(String::new());
    rows.extend(run(&env, &sizes)?);
    println!("{}", rows.join("\n"));
    Ok(())
}

/// Ingest under a synthetic kernel-side storm (`vmscan bench-ingest`): the
/// rate vmscan drains at when the generator runs flat out, then a run paced
/// at the 5 M records/s target, where nothing may be lost.
pub fn ingest(vmscan: &Path, quick: bool) -> anyhow::Result<Vec<String>> {
    let secs = if quick { "3" } else { "10" };
    let run = |rate: Option<f64>| -> anyhow::Result<serde_json::Value> {
        let mut c = Command::new(vmscan);
        c.args(["bench-ingest", "--seconds", secs]);
        if let Some(r) = rate {
            c.arg("--rate").arg(r.to_string());
        }
        let out = c
            .stderr(Stdio::inherit())
            .output()
            .context("vmscan bench-ingest")?;
        if !out.status.success() {
            bail!("vmscan bench-ingest failed ({})", out.status);
        }
        serde_json::from_slice(&out.stdout).context("bench-ingest's JSON")
    };
    let row = |what: &str, v: &serde_json::Value| {
        let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
        format!(
            "| ring-buffer ingest, {what} | {:.2} M records/s drained into the model using {:.0}% of a core (about {:.0} M/s per core); {:.0} sent, {:.0} drained, {:.0} lost |",
            f("drained_per_sec") / 1e6,
            f("cpu") * 100.0,
            if f("cpu") > 0.0 {
                f("drained_per_sec") / f("cpu") / 1e6
            } else {
                0.0
            },
            f("sent"),
            f("drained"),
            f("lost"),
        )
    };
    eprintln!("xtask: ingest storm (flat out, then paced at 5 M/s)");
    let flat = run(None)?;
    let paced = run(Some(5e6))?;
    // The best rate reached with nothing lost and everything drained.
    let best = [&flat, &paced]
        .iter()
        .filter(|v| v["lost"].as_u64() == Some(0) && v["drained"] == v["sent"])
        .filter_map(|v| v["drained_per_sec"].as_f64())
        .fold(0.0f64, f64::max);
    let verdict = if best >= 5e6 { "met" } else { "missed" };
    Ok(vec![
        row("generator flat out", &flat),
        row("generator paced at 5 M/s", &paced),
        format!(
            "| ring-buffer ingest target (>= 5 M records/s, 0 lost) | {verdict}: {:.2} M/s with 0 lost |",
            best / 1e6
        ),
    ])
}

/// One reading of every aggregate map (`vmscan bench-read`), in batches and
/// element by element, interleaved on one load: the part of each interval
/// that grows with possible CPUs.
pub fn read_cost(vmscan: &Path, quick: bool) -> anyhow::Result<Vec<String>> {
    let rounds = if quick { "7" } else { "21" };
    eprintln!("xtask: one reading of the aggregate maps (batched vs element by element)");
    let out = Command::new(vmscan)
        .args(["bench-read", "--rounds", rounds, "--reads", "50"])
        .stderr(Stdio::inherit())
        .output()
        .context("vmscan bench-read")?;
    if !out.status.success() {
        bail!("vmscan bench-read failed ({})", out.status);
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("bench-read's JSON")?;
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    Ok(vec![format!(
        "| one reading of the aggregate maps ({} possible CPUs; thread CPU time, median of {} interleaved rounds of 50) | {:.0} us in batches (BPF_MAP_LOOKUP_BATCH), {:.0} us element by element: {:.2}x{} |",
        f("possible_cpus"),
        f("rounds"),
        f("batched_us"),
        f("element_us"),
        f("ratio"),
        if v["maps_batched"] == true {
            ""
        } else {
            " (the kernel refused batches on some maps)"
        }
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_file_is_one_hole_that_reads_as_zeros() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = std::env::temp_dir().join(format!("vmscan-sparse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sparse-2M");
        // Made over an older file with data, as a bench directory may hold.
        make_file(&path, 1).unwrap();
        make_sparse(&path, 2).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), 2 << 20);
        // No data blocks: every read is a hole's (a file system without
        // holes would have given 4096 512-byte blocks).
        assert_eq!(meta.blocks(), 0, "{} blocks allocated", meta.blocks());
        let data = std::fs::read(&path).unwrap();
        assert!(data.iter().all(|&b| b == 0));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_median_interval_is_order_statistics_with_their_coverage() {
        // n = 5: only the extremes, 1 - 2/32 = 93.75%.
        let (m, lo, hi, c) = median_interval(&[3.0, 1.0, 5.0, 2.0, 4.0]);
        assert_eq!((m, lo, hi), (3.0, 1.0, 5.0));
        assert!((c - 0.9375).abs() < 1e-9, "{c}");
        // n = 9: the 2nd smallest and 2nd largest, 1 - 2 * 10/512 = 96.1%;
        // the 3rd would cover only 82%.
        let v: Vec<f64> = (1..=9).map(f64::from).rev().collect();
        let (m, lo, hi, c) = median_interval(&v);
        assert_eq!((m, lo, hi), (5.0, 2.0, 8.0));
        assert!((c - (1.0 - 20.0 / 512.0)).abs() < 1e-9, "{c}");
        // n = 15: the 4th, 1 - 2 * 576/32768 = 96.5%.
        let v: Vec<f64> = (1..=15).map(f64::from).collect();
        let (_, lo, hi, c) = median_interval(&v);
        assert_eq!((lo, hi), (4.0, 12.0));
        assert!((c - (1.0 - 1152.0 / 32768.0)).abs() < 1e-9, "{c}");
        // Too few rounds for 90%: the extremes, and their true coverage.
        let (_, lo, hi, c) = median_interval(&[2.0, 1.0, 3.0]);
        assert_eq!((lo, hi), (1.0, 3.0));
        assert!((c - 0.75).abs() < 1e-9, "{c}");
        assert_eq!(median_interval(&[]), (0.0, 0.0, 0.0, 0.0));
    }

    #[test]
    fn each_round_is_listed_with_the_configuration_that_ran_first() {
        let s = |cpu| Sample {
            rate: 1.0,
            cpu,
            scanned: None,
            tracer: 0.0,
        };
        // One workload, two configurations, two rounds.
        let mut results = vec![vec![vec![s(10.0), s(12.0)], vec![s(20.0), s(22.4)]]];
        results[0][1][1].tracer = 4.6;
        let rows = per_round_rows(
            &[("storm", "MB")],
            &[Config::None, Config::Bpftrace],
            &results,
        );
        assert_eq!(rows[2], "| workload | configuration | 1 | 2 |");
        assert_eq!(rows[4], "| storm (us/MB) | none | 10* | 12 |");
        assert_eq!(rows[5], "| storm (us/MB) | bpftrace | 20 | 22* |");
        assert_eq!(
            rows[6],
            "| storm (tracer's process, us/MB) | bpftrace | 0 | 5 |"
        );
        assert_eq!(rows.len(), 7, "no scanned pages, no rows for them");
        // Pages scanned where every run of a configuration has them.
        results[0][1][0].scanned = Some(300.4);
        results[0][1][1].scanned = Some(280.0);
        results[0][0][1].scanned = Some(290.0);
        let rows = per_round_rows(
            &[("stream", "MB")],
            &[Config::None, Config::Bpftrace],
            &results,
        );
        assert_eq!(
            rows[7..],
            ["| stream (pages scanned/MB) | bpftrace | 300 | 280 |"]
        );
    }

    #[test]
    fn rounds_balance_positions_and_neighbours() {
        assert_eq!(order(4, 0), [0, 1, 3, 2]);
        assert_eq!(order(4, 1), [2, 3, 1, 0]);
        assert_eq!(order(4, 2), [1, 2, 0, 3]);
        assert!(order(0, 3).is_empty());
        assert_eq!(order(1, 5), [0]);
        for n in 2..=10 {
            let mut at = vec![vec![0; n]; n];
            let mut after = vec![vec![0; n]; n];
            for r in 0..2 * n {
                let o = order(n, r);
                let mut seen = o.clone();
                seen.sort();
                assert_eq!(seen, (0..n).collect::<Vec<_>>(), "n {n} round {r}: {o:?}");
                for (i, &c) in o.iter().enumerate() {
                    at[c][i] += 1;
                }
                for w in o.windows(2) {
                    after[w[1]][w[0]] += 1;
                }
            }
            for c in 0..n {
                assert!(at[c].iter().all(|&k| k == 2), "n {n}: {c} at {:?}", at[c]);
                for p in (0..n).filter(|&p| p != c) {
                    assert_eq!(after[c][p], 2, "n {n}: {c} after {p}");
                }
            }
        }
        // Within the rounds a run takes (7 quick, 9 full, nine
        // configurations in the lab), the untraced run follows at least
        // four different configurations, where rotation gave it one.
        let before_none = |rounds: usize| {
            let mut p: Vec<usize> = (0..rounds)
                .filter_map(|r| {
                    let o = order(9, r);
                    let i = o.iter().position(|&c| c == 0)?;
                    i.checked_sub(1).map(|i| o[i])
                })
                .collect();
            p.sort();
            p.dedup();
            p.len()
        };
        assert!(before_none(7) >= 4, "{}", before_none(7));
        assert!(before_none(9) >= 4, "{}", before_none(9));
    }

    #[test]
    fn overheads_are_paired_with_the_same_rounds_untraced_run() {
        // A drift between rounds that hits both runs alike drops out.
        let base = [100.0, 200.0, 0.0];
        let traced = [110.0, 220.0, 5.0];
        let o = paired(&base, &traced);
        assert_eq!(o.len(), 2, "a round without a base run is left out");
        assert!(o.iter().all(|x| (x - 10.0).abs() < 1e-9), "{o:?}");
    }

    #[test]
    fn a_ratio_is_given_only_where_the_peers_overhead_is_above_zero() {
        let v = ("vmscan", (2.0, 1.0, 3.0, 0.94));
        let told = verdict(v, ("bpftrace", (8.0, 4.0, 12.0, 0.94)));
        assert!(told.starts_with("0.25 "), "{told}");
        let untold = verdict(v, ("bpftrace", (8.0, -1.0, 12.0, 0.94)));
        assert!(untold.starts_with("not resolvable"), "{untold}");
        assert!(untold.contains("-1.0% to +12.0%"), "{untold}");
        assert!(untold.contains("vmscan's is +2.0%"), "{untold}");
        let below = verdict(
            ("vmscan", (-0.1, -6.0, 10.0, 0.96)),
            ("bpftrace", (8.0, 4.0, 12.0, 0.96)),
        );
        assert!(below.starts_with("below 0 (vmscan -0.1%"), "{below}");
    }

    #[test]
    fn the_storm_is_weighed_against_the_empty_programs_floor() {
        let configs = [
            Config::None,
            Config::VmscanStat,
            Config::Bpftrace,
            Config::FentryFloor,
        ];
        // Nine rounds: untraced 100, the empty program 104, vmscan 106,
        // bpftrace 112, with a little noise that keeps every order.
        let round = |b: f64| (0..9).map(|r| b + (r % 3) as f64 * 0.1).collect::<Vec<_>>();
        let cpu = [round(100.0), round(106.0), round(112.0), round(104.0)];
        let mut rows = vec![];
        let s = compare_cpu(FLOOR_WORKLOAD, "us", "MB", &configs, &cpu, &mut rows);
        assert_eq!(s.len(), 5, "{s:#?}");
        assert!(
            s[0].contains("vmscan stat overhead / bpftrace overhead | 0.50 "),
            "{}",
            s[0]
        );
        assert!(
            s[1].contains("empty fentry program overhead / bpftrace overhead")
                && s[1].contains("| 0.33 (empty fentry program +4.0%"),
            "{}",
            s[1]
        );
        // Over the floor: 106/104 against 112/104, 1.9% against 7.7%.
        assert!(s[2].contains("| 0.25 (vmscan +1.9%"), "{}", s[2]);
        // Round by round: 4/12 and 6/12 in every round.
        assert!(
            s[3].contains("empty fentry program overhead / bpftrace overhead, round by round | 0.33 (0.33 to 0.33, 96% interval, 9 rounds)"),
            "{}",
            s[3]
        );
        assert!(
            s[4].contains("vmscan stat overhead / bpftrace overhead, round by round | 0.50 ("),
            "{}",
            s[4]
        );
        // A round where bpftrace's run cost no more than the untraced one
        // leaves the ratio out.
        let r = round_ratios(&[100.0, 100.0], &[104.0, 103.0], &[112.0, 99.0]);
        assert_eq!(
            r,
            "not computed: bpftrace's run cost no more than the untraced one in 1 of 2 rounds"
        );
        // Only the storm has the floor's rows.
        let s = compare_cpu(
            "memcg reclaim stream",
            "us",
            "MB",
            &configs,
            &cpu,
            &mut rows,
        );
        assert_eq!(s.len(), 1, "{s:#?}");
    }

    #[test]
    fn the_mark_loop_is_weighed_like_the_storm_and_in_ns_per_call() {
        let configs = [
            Config::None,
            Config::VmscanStat,
            Config::Bpftrace,
            Config::FentryFloor,
        ];
        // ns per read: untraced 1000, vmscan 1100, bpftrace 1300, the empty
        // program 1050, rounds a little apart.
        let round = |b: f64| (0..8).map(|r| b + r as f64).collect::<Vec<_>>();
        let per = [round(1000.0), round(1100.0), round(1300.0), round(1050.0)];
        let mut rows = vec![];
        let s = compare_cpu(MARK_LOOP, "ns", "call", &configs, &per, &mut rows);
        assert!(rows[0].contains("| 1004.0 ns/call |"), "{}", rows[0]);
        assert_eq!(s.len(), 5, "the floor's rows too: {s:#?}");
        assert!(
            s[1].contains("| 0.17 (empty fentry program +5."),
            "{}",
            s[1]
        );
        let added = added_ns_row(&configs, &per);
        assert!(
            added.contains("vmscan stat +100 ns (+100 to +100")
                && added.contains("bpftrace +300 ns")
                && added.contains("empty fentry program +50 ns"),
            "{added}"
        );
    }

    #[test]
    fn the_mark_loop_reads_two_pages_far_apart() {
        let dir = std::env::temp_dir().join(format!("vmscan-mark-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let small = dir.join("small");
        make_file(&small, 4).unwrap();
        let e = mark_loop(&small, 10).unwrap_err().to_string();
        assert!(e.contains("under 8 MiB"), "{e}");
        let big = dir.join("big");
        make_file(&big, 8).unwrap();
        let ns = mark_loop(&big, 2000).unwrap();
        assert!(ns > 0.0, "{ns}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_cpu_meter_counts_this_thread_and_reaped_children() {
        let m = CpuMeter::new(0);
        let c0 = m.now();
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let spent = m.now() - c0;
        assert!(spent >= 20e6, "30 ms of spinning counted as {spent} ns");
        let c1 = m.now();
        let st = Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"])
            .status()
            .expect("sh");
        assert!(st.success());
        assert!(m.now() - c1 > 1e6, "a reaped child's CPU is counted");
        assert!(process_cpu_ns(std::process::id()) > 0);
        assert_eq!(process_cpu_ns(u32::MAX), 0, "a process gone counts 0");
    }
}
