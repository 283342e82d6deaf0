//! Overhead benchmark: workloads run with no tracing, with vmscan (stat and
//! record), with bpftrace counting the same tracepoints (bench/vmscan.bt) and
//! with `perf record` of the same events, interleaved in rounds (A B C D E,
//! A B C D E, ...) so that drift of a shared machine hits every
//! configuration alike. Reports medians, spreads and ratios.

use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

const CONFIGS: [&str; 5] = ["none", "vmscan stat", "vmscan record", "bpftrace", "perf record"];
const MEMCG: &str = "/sys/fs/cgroup/memory/vmscan-bench";

pub struct Sizes {
    pub rounds: usize,
    pub storm_passes: usize,
    pub storm_mib: usize,
    pub memcg_reads: usize,
    pub exit_procs: usize,
}

impl Sizes {
    pub fn new(quick: bool) -> Self {
        if quick {
            Self { rounds: 5, storm_passes: 8, storm_mib: 256, memcg_reads: 1, exit_procs: 100 }
        } else {
            Self { rounds: 7, storm_passes: 40, storm_mib: 512, memcg_reads: 3, exit_procs: 400 }
        }
    }
}

fn drop_caches() {
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "3");
}

fn make_file(path: &Path, mib: usize) -> anyhow::Result<()> {
    if std::fs::metadata(path).map(|m| m.len() == (mib as u64) << 20).unwrap_or(false) {
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

/// (a) page-cache storm: read a cached file again and again. MB/s.
fn storm(file: &Path, passes: usize) -> anyhow::Result<f64> {
    let mut buf = vec![0u8; 1 << 20];
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
    Ok(total as f64 / 1e6 / t.elapsed().as_secs_f64())
}

/// (b) memcg reclaim: a 64 MiB cgroup streams an uncached file. MB/s.
fn memcg_stream(file: &Path, reads: usize, mib: usize) -> anyhow::Result<f64> {
    let mut secs = 0.0;
    for _ in 0..reads {
        drop_caches();
        let t = Instant::now();
        let st = Command::new("sh")
            .arg("-c")
            .arg(format!("echo $$ > {MEMCG}/cgroup.procs && exec cat {} > /dev/null", file.display()))
            .status()?;
        if !st.success() {
            bail!("memcg workload failed: {st}");
        }
        secs += t.elapsed().as_secs_f64();
    }
    Ok((reads * mib) as f64 * 1.048576 / secs)
}

/// (d) short-lived processes mapping a file, touching it and exiting. procs/s.
fn exits(file: &Path, procs: usize) -> anyhow::Result<f64> {
    let me = std::env::current_exe()?;
    let t = Instant::now();
    for _ in 0..procs {
        let st = Command::new(&me).arg("map-touch").arg(file).status()?;
        if !st.success() {
            bail!("map-touch failed: {st}");
        }
    }
    Ok(procs as f64 / t.elapsed().as_secs_f64())
}

/// The `map-touch` helper: mmap the file, read one byte per page, exit.
pub fn map_touch(file: &Path) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd as _;
    let f = std::fs::File::open(file)?;
    let len = f.metadata()?.len() as usize;
    // SAFETY: a private read-only mapping of a file we hold open.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_PRIVATE, f.as_raw_fd(), 0) };
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

/// Starts a configuration's tracer and waits until it is attached.
fn start(config: &str, vmscan: &Path, tmp: &Path) -> anyhow::Result<Tracer> {
    let rec = tmp.join("bench.vmscan");
    let (mut cmd, ready): (Command, &str) = match config {
        "none" => return Ok(Tracer { child: None, pid: 0, record: None, stderr: None }),
        "vmscan stat" => {
            let mut c = Command::new(vmscan);
            c.arg("stat");
            (c, "vmscan: counting")
        }
        "vmscan record" => {
            let _ = std::fs::remove_file(&rec);
            let mut c = Command::new(vmscan);
            c.args(["record", "-o"]).arg(&rec);
            (c, "vmscan: counting")
        }
        "bpftrace" => {
            let mut c = Command::new("bpftrace");
            c.arg(crate::root().join("bench/vmscan.bt"));
            (c, "Attaching")
        }
        "perf record" => {
            let mut c = Command::new("perf");
            c.args(["record", "-q", "-a", "-e", "vmscan:*", "-e", "pagemap:*", "-o"]).arg(tmp.join("perf.data"));
            (c, "")
        }
        other => bail!("unknown configuration {other}"),
    };
    // bpftrace says "Attaching N probes..." on stdout; vmscan on stderr.
    let on_stdout = config == "bpftrace";
    if on_stdout {
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    } else {
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    }
    let mut child = cmd.stdin(Stdio::null()).spawn().with_context(|| config.to_owned())?;
    let pid = child.id();
    let err: Box<dyn std::io::Read + Send> = if on_stdout {
        Box::new(child.stdout.take().expect("stdout"))
    } else {
        Box::new(child.stderr.take().expect("stderr"))
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    if ready.is_empty() {
        std::thread::sleep(Duration::from_millis(1500));
    } else {
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(l) if l.contains(ready) => break,
                Ok(_) => {}
                Err(_) => {
                    // Never leave a tracer behind to distort later runs.
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!("{config} did not attach within 60 s");
                }
            }
        }
    }
    // bpftrace prints "Attaching" before it finishes attaching.
    if config == "bpftrace" {
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(Tracer { child: Some(child), pid, record: (config == "vmscan record").then_some(rec), stderr: Some(handle) })
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// Stops a tracer with SIGINT; returns its stderr.
fn stop(mut t: Tracer) -> String {
    if let Some(mut c) = t.child.take() {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
        let _ = c.wait();
    }
    t.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn spread(v: &[f64]) -> f64 {
    let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
    let m = {
        let mut c = v.to_vec();
        median(&mut c)
    };
    if m == 0.0 { 0.0 } else { (hi - lo) / m * 100.0 }
}

/// Runs the interleaved rounds; returns Markdown rows.
pub fn run(vmscan: &Path, sizes: &Sizes) -> anyhow::Result<Vec<String>> {
    let tmp = std::env::temp_dir().join("vmscan-bench");
    std::fs::create_dir_all(&tmp)?;
    let cached = tmp.join("cached");
    let big = tmp.join("uncached-512M");
    let small = tmp.join("mapped-4M");
    make_file(&cached, sizes.storm_mib)?;
    make_file(&big, 512)?;
    make_file(&small, 4)?;
    let _ = std::fs::create_dir(MEMCG);
    std::fs::write(format!("{MEMCG}/memory.limit_in_bytes"), (64u64 << 20).to_string())
        .context("the memcg workload needs the cgroup v1 memory controller at /sys/fs/cgroup/memory")?;

    let workloads = ["page-cache storm (MB/s)", "memcg reclaim stream (MB/s)", "short-lived mapping processes (procs/s)"];
    let mut results: Vec<Vec<Vec<f64>>> = vec![vec![vec![]; CONFIGS.len()]; workloads.len()];
    let mut rss = 0u64;
    let mut rec_bpe = Vec::new();
    for round in 0..sizes.rounds {
        for (ci, config) in CONFIGS.iter().enumerate() {
            eprint!("\rxtask: overhead round {}/{} {:<14}", round + 1, sizes.rounds, config);
            // Warm the cached file outside the traced window.
            storm(&cached, 1)?;
            let t = start(config, vmscan, &tmp)?;
            let a = storm(&cached, sizes.storm_passes)?;
            let b = memcg_stream(&big, sizes.memcg_reads, 512)?;
            let c = exits(&small, sizes.exit_procs)?;
            if *config == "vmscan stat" {
                rss = rss.max(peak_rss_kib(t.pid));
            }
            let rec = t.record.clone();
            let err = stop(t);
            if let Some(r) = rec {
                // "vmscan: wrote FILE (N records, E events, B bytes, ...)"
                let ev = err.split(" events").next().and_then(|s| s.rsplit(' ').next()).and_then(|s| s.parse::<f64>().ok());
                let by = std::fs::metadata(&r).map(|m| m.len() as f64).ok();
                if let (Some(e), Some(b)) = (ev, by) {
                    if e > 0.0 {
                        rec_bpe.push(b / e);
                    }
                }
            }
            results[0][ci].push(a);
            results[1][ci].push(b);
            results[2][ci].push(c);
        }
    }
    eprintln!();
    let _ = std::fs::remove_dir(MEMCG);

    let mut rows = vec!["| workload | configuration | median | spread | vs none | overhead |".to_owned(), "|---|---|---|---|---|---|".to_owned()];
    let mut summary = Vec::new();
    for (wi, w) in workloads.iter().enumerate() {
        let base = median(&mut results[wi][0].clone());
        let mut overheads = [0.0f64; 5];
        for (ci, config) in CONFIGS.iter().enumerate() {
            let v = &results[wi][ci];
            let m = median(&mut v.clone());
            let ratio = if base > 0.0 { m / base } else { 0.0 };
            overheads[ci] = (1.0 - ratio) * 100.0;
            rows.push(format!(
                "| {w} | {config} | {m:.1} | {:.1}% | {ratio:.3} | {:+.2}% |",
                spread(v),
                overheads[ci]
            ));
        }
        let bt = overheads[3];
        let vs = overheads[1];
        // Half the larger run-to-run spread of the two compared series is
        // what this machine can resolve.
        let noise = spread(&results[wi][0]).max(spread(&results[wi][3])) / 2.0;
        let rel = if bt <= noise {
            format!("not resolvable: bpftrace's overhead ({bt:+.1}%) is within the run-to-run noise (±{noise:.1}%); vmscan's is {vs:+.1}%")
        } else {
            format!("{:.2} (vmscan {vs:+.1}%, bpftrace {bt:+.1}%, noise ±{noise:.1}%)", vs / bt)
        };
        summary.push(format!("| {w}: vmscan stat overhead / bpftrace overhead | {rel} (target <= 0.5) |"));
    }
    rows.push(String::new());
    rows.push("| measure | result |".to_owned());
    rows.push("|---|---|".to_owned());
    rows.extend(summary);
    rows.push(format!("| vmscan stat peak RSS during the runs | {} KiB (target <= 40 MiB) |", rss));
    if !rec_bpe.is_empty() {
        rows.push(format!("| recording size on the real workloads | {:.0} bytes per episode event (ticks included) |", median(&mut rec_bpe)));
    }
    Ok(rows)
}

/// Per-program run time per event from the kernel (BPF_ENABLE_STATS via the
/// sysctl) while vmscan stat runs the memcg workload once.
pub fn program_costs(vmscan: &Path) -> anyhow::Result<Vec<String>> {
    let tmp = std::env::temp_dir().join("vmscan-bench");
    std::fs::create_dir_all(&tmp)?;
    let big = tmp.join("uncached-512M");
    make_file(&big, 512)?;
    let _ = std::fs::create_dir(MEMCG);
    std::fs::write(format!("{MEMCG}/memory.limit_in_bytes"), (64u64 << 20).to_string())?;
    let old = std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled").unwrap_or_else(|_| "0".into());
    std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "1").context("enabling kernel.bpf_stats_enabled")?;
    let t = start("vmscan stat", vmscan, &tmp)?;
    let res = (|| -> anyhow::Result<Vec<String>> {
        memcg_stream(&big, 1, 512)?;
        let out = Command::new("bpftool").args(["prog", "show", "--json"]).output().context("bpftool (apt install bpftool)")?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut rows = vec![];
        // Minimal JSON scan: objects with "name", "run_time_ns", "run_cnt".
        for obj in text.split("},{") {
            let field = |k: &str| -> Option<&str> {
                let i = obj.find(&format!("\"{k}\":"))? + k.len() + 3;
                let rest = &obj[i..];
                let end = rest.find([',', '}']).unwrap_or(rest.len());
                Some(rest[..end].trim_matches('"'))
            };
            let (Some(name), Some(rt), Some(rc)) = (field("name"), field("run_time_ns"), field("run_cnt")) else { continue };
            if !(name.starts_with("vmscan_") || name.starts_with("pagemap_lru_")) {
                continue;
            }
            let (rt, rc): (f64, f64) = (rt.parse().unwrap_or(0.0), rc.parse().unwrap_or(0.0));
            if rc > 0.0 {
                rows.push(format!("| BPF run time per event: {name} | {:.0} ns over {rc:.0} runs |", rt / rc));
            }
        }
        Ok(rows)
    })();
    stop(t);
    let _ = std::fs::write("/proc/sys/kernel/bpf_stats_enabled", old.trim());
    let _ = std::fs::remove_dir(MEMCG);
    res
}
