//! `cargo xtask soak [--minutes N]`: runs `vmscan export`, `vmscan record`
//! and the terminal UI (in tmux) together for N minutes while a driver
//! creates and deletes memory cgroups continuously, runs a reclaim burst
//! (a 64 MiB memcg reading an uncached 256 MiB file) every 15 s and scrapes
//! the exporter every second. It samples each process's RSS, open fds and
//! CPU every 5 s and the exporter's table sizes (series, memcg labels) at
//! every scrape, prints one row per period (a minute; 15 s for runs under
//! 10 minutes), and fails if anything grows beyond its bound or trends
//! upward after warm-up (the first third), or a scrape fails.

use std::{
    io::{Read as _, Write as _},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

use crate::sh::{is_root, root, say};

const PORT: u16 = 19437;
const MAX_MEMCGS: usize = 100;
const CG_ROOT: &str = "/sys/fs/cgroup/memory/vmscan-soak";
const SAMPLE: Duration = Duration::from_secs(5);

/// One process's figures over a period.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Figures {
    pub rss_mib: f64,
    pub fds: u64,
    pub cpu_pct: f64,
}

/// One row of the table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub at_s: u64,
    /// export, record, tui.
    pub procs: [Figures; 3],
    pub memcgs_churned: u64,
    pub bursts: u64,
    pub scrapes_ok: u64,
    pub scrapes_failed: u64,
    pub worst_scrape_ms: u64,
    pub series: u64,
    pub memcg_labels: u64,
}

const NAMES: [&str; 3] = ["export", "record", "tui"];

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// What failed: bounds after warm-up (the first third of the rows) and
/// upward trends (the last half of the post-warm-up rows against the first
/// half).
pub fn verdict(rows: &[Row]) -> Vec<String> {
    let mut bad = vec![];
    if rows.len() < 2 {
        return vec![format!("only {} rows: run longer", rows.len())];
    }
    let warm = (rows.len() / 3).max(1);
    let (before, after) = rows.split_at(warm);
    let (early, late) = after.split_at(after.len() / 2);
    for (i, name) in NAMES.iter().enumerate() {
        let col = |rs: &[Row], f: fn(&Figures) -> f64| {
            rs.iter().map(|r| f(&r.procs[i])).collect::<Vec<f64>>()
        };
        let rss_warm = col(before, |f| f.rss_mib).into_iter().fold(0.0, f64::max);
        let rss_max = col(after, |f| f.rss_mib).into_iter().fold(0.0, f64::max);
        if rss_max > rss_warm * 1.25 + 16.0 {
            bad.push(format!(
                "{name}: RSS {rss_max:.1} MiB after warm-up, bound {:.1}",
                rss_warm * 1.25 + 16.0
            ));
        }
        let fds_warm = col(before, |f| f.fds as f64)
            .into_iter()
            .fold(0.0, f64::max);
        let fds_max = col(after, |f| f.fds as f64).into_iter().fold(0.0, f64::max);
        if fds_max > fds_warm + 4.0 {
            bad.push(format!(
                "{name}: {fds_max} open fds after warm-up, {fds_warm} before"
            ));
        }
        if early.is_empty() || late.is_empty() {
            continue;
        }
        let (r0, r1) = (
            mean(&col(early, |f| f.rss_mib)),
            mean(&col(late, |f| f.rss_mib)),
        );
        if r1 > r0 * 1.10 + 2.0 {
            bad.push(format!("{name}: RSS trends upward, {r0:.1} -> {r1:.1} MiB"));
        }
        let (c0, c1) = (
            mean(&col(early, |f| f.cpu_pct)),
            mean(&col(late, |f| f.cpu_pct)),
        );
        if c1 > c0 * 1.5 + 2.0 {
            bad.push(format!(
                "{name}: CPU per interval trends upward, {c0:.1}% -> {c1:.1}%"
            ));
        }
    }
    let last = &rows[rows.len() - 1];
    if last.memcg_labels > MAX_MEMCGS as u64 + 1 {
        bad.push(format!(
            "{} memcg labels exported, bound {} (--max-memcgs and \"other\")",
            last.memcg_labels,
            MAX_MEMCGS + 1
        ));
    }
    let series_warm = before.iter().map(|r| r.series).max().unwrap_or(0);
    if let Some(r) = after.iter().find(|r| r.series > series_warm * 5 / 4 + 50) {
        bad.push(format!(
            "{} series at {} s, {series_warm} during warm-up",
            r.series, r.at_s
        ));
    }
    if last.scrapes_failed > 0 {
        bad.push(format!("{} scrapes failed", last.scrapes_failed));
    }
    bad
}

/// The table, Markdown.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| s | export RSS MiB / fds / CPU % | record RSS / fds / CPU % | tui RSS / fds / CPU % | memcgs churned | bursts | scrapes ok / failed / worst ms | series | memcg labels |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let p = |f: &Figures| format!("{:.1} / {} / {:.1}", f.rss_mib, f.fds, f.cpu_pct);
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} / {} / {} | {} | {} |\n",
            r.at_s,
            p(&r.procs[0]),
            p(&r.procs[1]),
            p(&r.procs[2]),
            r.memcgs_churned,
            r.bursts,
            r.scrapes_ok,
            r.scrapes_failed,
            r.worst_scrape_ms,
            r.series,
            r.memcg_labels
        ));
    }
    out
}

/// (RSS MiB, open fds, CPU ticks) of a process, from /proc.
fn proc_figures(pid: u32) -> Option<(f64, u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((rss_kib / 1024.0, fds, ticks))
}

#[derive(Default)]
struct Counters {
    memcgs: AtomicU64,
    bursts: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    worst_ms: AtomicU64,
    series: AtomicU64,
    memcg_labels: AtomicU64,
}

/// Creates and deletes memory cgroups (about five a second, ten alive at a
/// time) and runs a reclaim burst every 15 s, until `stop`.
fn drive(file: PathBuf, c: Arc<Counters>, stop: Arc<AtomicBool>) {
    let burst = Path::new(CG_ROOT).join("burst");
    let _ = std::fs::create_dir_all(&burst);
    let _ = std::fs::write(
        burst.join("memory.limit_in_bytes"),
        (64u64 << 20).to_string(),
    );
    let mut alive = std::collections::VecDeque::new();
    let mut n = 0u64;
    let mut last_burst = Instant::now() - Duration::from_secs(15);
    while !stop.load(Ordering::Relaxed) {
        let cg = Path::new(CG_ROOT).join(format!("c{n}"));
        n += 1;
        if std::fs::create_dir(&cg).is_ok() {
            alive.push_back(cg);
            c.memcgs.fetch_add(1, Ordering::Relaxed);
        }
        while alive.len() > 10 {
            if let Some(old) = alive.pop_front() {
                let _ = std::fs::remove_dir(old);
            }
        }
        if last_burst.elapsed() >= Duration::from_secs(15) {
            last_burst = Instant::now();
            let sh = format!(
                "echo $$ > {}/cgroup.procs && exec cat {} > /dev/null",
                burst.display(),
                file.display()
            );
            if Command::new("sh")
                .args(["-c", &sh])
                .status()
                .is_ok_and(|s| s.success())
            {
                c.bursts.fetch_add(1, Ordering::Relaxed);
            }
            uncache(&file);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for cg in alive {
        let _ = std::fs::remove_dir(cg);
    }
}

/// Drops `file` from the page cache.
fn uncache(file: &Path) {
    if let Ok(f) = std::fs::File::open(file) {
        use std::os::fd::AsRawFd as _;
        // SAFETY: posix_fadvise on a descriptor we hold open; no memory is passed.
        unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
}

/// One scrape: (ok, latency, series, distinct memcg labels).
fn scrape() -> (bool, Duration, u64, u64) {
    let t0 = Instant::now();
    let body = (|| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", PORT)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        out.starts_with("HTTP/1.1 200").then_some(out)
    })();
    let Some(body) = body else {
        return (false, t0.elapsed(), 0, 0);
    };
    let series = body
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(' '))
        .count() as u64
        - 1;
    let labels: std::collections::BTreeSet<&str> = body
        .lines()
        .filter(|l| l.starts_with("vmscan_lruvec_pages{"))
        .filter_map(|l| l.split("memcg=\"").nth(1)?.split('"').next())
        .collect();
    (true, t0.elapsed(), series, labels.len() as u64)
}

fn scraper(c: Arc<Counters>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let (ok, lat, series, labels) = scrape();
        if ok {
            c.ok.fetch_add(1, Ordering::Relaxed);
            c.series.store(series, Ordering::Relaxed);
            c.memcg_labels.store(labels, Ordering::Relaxed);
        } else {
            c.failed.fetch_add(1, Ordering::Relaxed);
        }
        c.worst_ms
            .fetch_max(lat.as_millis() as u64, Ordering::Relaxed);
        std::thread::sleep(Duration::from_secs(1).saturating_sub(lat));
    }
}

/// The three processes under test; stopped (and the tmux session killed)
/// on drop.
struct Under {
    export: Child,
    record: Child,
    tui_pid: u32,
    session: String,
}

impl Drop for Under {
    fn drop(&mut self) {
        for c in [&mut self.export, &mut self.record] {
            // SAFETY: kill with the pid of a child we own.
            unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
            let _ = c.wait();
        }
        let _ = crate::sh::tmux(&self.session)
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

fn start(bin: &Path, recording: &Path, log: &Path) -> anyhow::Result<Under> {
    let logf = |n: &str| std::fs::File::create(log.join(n)).map(Stdio::from);
    let export = Command::new(bin)
        .args([
            "export",
            "--listen",
            &format!("127.0.0.1:{PORT}"),
            "--max-memcgs",
            &MAX_MEMCGS.to_string(),
        ])
        .stdout(logf("export.out")?)
        .stderr(logf("export.err")?)
        .spawn()
        .context("starting vmscan export")?;
    let record = Command::new(bin)
        .args(["record", "--force", "-o"])
        .arg(recording)
        .stdout(logf("record.out")?)
        .stderr(logf("record.err")?)
        .spawn()
        .context("starting vmscan record")?;
    let session = format!("vmscan-soak-{}", std::process::id());
    let cmd = format!(
        "exec {} --interval 1 2>{}",
        bin.display(),
        log.join("tui.err").display()
    );
    crate::sh::status(crate::sh::tmux(&session).args([
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "160",
        "-y",
        "48",
        &cmd,
    ]))?;
    let out = crate::sh::tmux(&session)
        .args(["list-panes", "-t", &session, "-F", "#{pane_pid}"])
        .output()?;
    let tui_pid = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("the TUI's pid")?;
    Ok(Under {
        export,
        record,
        tui_pid,
        session,
    })
}

/// Figures over a period from CPU ticks at its start and samples within it.
struct Period {
    start_ticks: [u64; 3],
    start: Instant,
    max_rss: [f64; 3],
    max_fds: [u64; 3],
}

impl Period {
    fn begin(pids: [u32; 3]) -> Self {
        let t = pids.map(|p| proc_figures(p).map_or(0, |f| f.2));
        Self {
            start_ticks: t,
            start: Instant::now(),
            max_rss: [0.0; 3],
            max_fds: [0; 3],
        }
    }

    /// Samples every process; an error names one that is gone.
    fn sample(&mut self, pids: [u32; 3]) -> anyhow::Result<()> {
        for (i, pid) in pids.iter().enumerate() {
            let (rss, fds, _) = proc_figures(*pid)
                .with_context(|| format!("vmscan {} (pid {pid}) is gone", NAMES[i]))?;
            self.max_rss[i] = self.max_rss[i].max(rss);
            self.max_fds[i] = self.max_fds[i].max(fds);
        }
        Ok(())
    }

    fn end(&self, pids: [u32; 3], at: Duration, c: &Counters) -> Row {
        let hz = crate::sh::clk_tck();
        let secs = self.start.elapsed().as_secs_f64().max(0.001);
        let procs = std::array::from_fn(|i| {
            let ticks = proc_figures(pids[i]).map_or(self.start_ticks[i], |f| f.2);
            Figures {
                rss_mib: self.max_rss[i],
                fds: self.max_fds[i],
                cpu_pct: (ticks - self.start_ticks[i]) as f64 / hz / secs * 100.0,
            }
        });
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Row {
            at_s: at.as_secs(),
            procs,
            memcgs_churned: l(&c.memcgs),
            bursts: l(&c.bursts),
            scrapes_ok: l(&c.ok),
            scrapes_failed: l(&c.failed),
            worst_scrape_ms: l(&c.worst_ms),
            series: l(&c.series),
            memcg_labels: l(&c.memcg_labels),
        }
    }
}

/// Runs the three together with the driver and the scraper; one row per
/// `period`.
fn observe(
    u: &Under,
    total: Duration,
    period: Duration,
    c: &Arc<Counters>,
) -> anyhow::Result<Vec<Row>> {
    let pids = [u.export.id(), u.record.id(), u.tui_pid];
    let t0 = Instant::now();
    let mut rows = vec![];
    while t0.elapsed() < total {
        let mut p = Period::begin(pids);
        while p.start.elapsed() < period {
            p.sample(pids)?;
            std::thread::sleep(SAMPLE.min(period.saturating_sub(p.start.elapsed())));
        }
        p.sample(pids)?;
        let row = p.end(pids, t0.elapsed(), c);
        eprint!(
            "{}",
            table(std::slice::from_ref(&row))
                .lines()
                .nth(2)
                .map(|l| format!("{l}\n"))
                .unwrap_or_default()
        );
        rows.push(row);
    }
    Ok(rows)
}

pub fn run(minutes: f64) -> anyhow::Result<()> {
    if !is_root() {
        bail!("the soak loads eBPF programs and creates memory cgroups: run it as root");
    }
    if !Path::new("/sys/fs/cgroup/memory").is_dir() {
        bail!("the soak drives cgroup v1 memory cgroups (/sys/fs/cgroup/memory)");
    }
    crate::build()?;
    let bin = root().join("target/release/vmscan");
    let dir = root().join("target/soak");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("uncached.dat");
    if std::fs::metadata(&file).map_or(true, |m| m.len() != 256 << 20) {
        std::fs::write(&file, vec![0x5au8; 256 << 20])?;
    }
    uncache(&file);
    std::fs::create_dir_all(CG_ROOT)?;
    let total = Duration::from_secs_f64(minutes * 60.0);
    let period = if minutes < 10.0 {
        Duration::from_secs(15)
    } else {
        Duration::from_secs(60)
    };
    say(&format!(
        "soak: {minutes} minutes, a row every {} s; logs in {}",
        period.as_secs(),
        dir.display()
    ));
    let recording = dir.join("soak.vmscan");
    let under = start(&bin, &recording, &dir)?;
    // Let all three attach before driving load.
    std::thread::sleep(Duration::from_secs(5));
    let (c, stop) = (
        Arc::new(Counters::default()),
        Arc::new(AtomicBool::new(false)),
    );
    let threads = [
        std::thread::spawn({
            let (c, s) = (c.clone(), stop.clone());
            move || drive(file, c, s)
        }),
        std::thread::spawn({
            let (c, s) = (c.clone(), stop.clone());
            move || scraper(c, s)
        }),
    ];
    let rows = observe(&under, total, period, &c);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    drop(under);
    let _ = std::fs::remove_dir(Path::new(CG_ROOT).join("burst"));
    let _ = std::fs::remove_dir(CG_ROOT);
    let rows = rows?;
    let report = crate::sh::run_ok(Command::new(&bin).arg("report").arg(&recording));
    let text = format!(
        "{}\nrecording: {}\n",
        table(&rows),
        if report.is_ok() {
            "replays (vmscan report)"
        } else {
            "DOES NOT REPLAY"
        }
    );
    std::fs::write(dir.join(format!("soak-{minutes}min.md")), &text)?;
    println!("{text}");
    let mut bad = verdict(&rows);
    if let Err(e) = report {
        bad.push(format!("the recording does not replay: {e}"));
    }
    if !bad.is_empty() {
        bail!("soak failed:\n  {}", bad.join("\n  "));
    }
    say("soak: PASS (bounds and trends held)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(at_s: u64, rss: f64, fds: u64, cpu: f64) -> Row {
        let f = Figures {
            rss_mib: rss,
            fds,
            cpu_pct: cpu,
        };
        Row {
            at_s,
            procs: [f; 3],
            scrapes_ok: at_s,
            series: 400,
            memcg_labels: 12,
            ..Row::default()
        }
    }

    #[test]
    fn steady_figures_pass() {
        let rows: Vec<Row> = (0..12)
            .map(|i| row(i * 60, 40.0 + (i % 2) as f64, 20, 3.0))
            .collect();
        assert_eq!(verdict(&rows), Vec::<String>::new());
        assert!(
            table(&rows).lines().count() == 14 && table(&rows).contains("| 60 | 41.0 / 20 / 3.0 |")
        );
    }

    #[test]
    fn growth_leaks_and_failures_are_named() {
        let leak: Vec<Row> = (0..12)
            .map(|i| row(i * 60, 40.0 + 3.0 * i as f64, 20, 3.0))
            .collect();
        let v = verdict(&leak);
        assert!(
            v.iter().any(|m| m.contains("export: RSS trends upward")),
            "{v:?}"
        );
        let mut fds: Vec<Row> = (0..12).map(|i| row(i * 60, 40.0, 20, 3.0)).collect();
        fds[9].procs[1].fds = 30;
        assert!(
            verdict(&fds)
                .iter()
                .any(|m| m.starts_with("record: 30 open fds")),
            "{:?}",
            verdict(&fds)
        );
        let mut cpu: Vec<Row> = (0..12).map(|i| row(i * 60, 40.0, 20, 3.0)).collect();
        for r in &mut cpu[8..] {
            r.procs[2].cpu_pct = 12.0;
        }
        assert!(
            verdict(&cpu).iter().any(|m| m.starts_with("tui: CPU")),
            "{:?}",
            verdict(&cpu)
        );
        let mut other = (0..6)
            .map(|i| row(i * 60, 40.0, 20, 3.0))
            .collect::<Vec<_>>();
        other[5].scrapes_failed = 2;
        other[5].memcg_labels = 150;
        other[4].series = 4000;
        let v = verdict(&other);
        assert_eq!(v.len(), 3, "{v:?}");
        assert_eq!(
            verdict(&other[..1]),
            vec!["only 1 rows: run longer".to_owned()]
        );
    }
}
