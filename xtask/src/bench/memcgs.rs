//! `cargo xtask bench memcgs`: what vmscan costs as the number of memory
//! cgroups grows. For each size, that many memcgs are made under one parent
//! (cgroup v1's memory controller where mounted, else v2), each charged one
//! page of page cache (as the lab's `memcgs` scenario does), then `vmscan
//! export` and the TUI (on its default tab, then on the Cgroups tab, which
//! shows every memcg) run in turn at the default 1 s interval: CPU share,
//! peak RSS and the exporter's scrape time.

use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context as _;

use crate::sh::{apt_install, cpu_share, proc_status_kib, root, say};

const SIZES: [usize; 3] = [100, 1_000, 10_000];
const QUICK_SIZES: [usize; 2] = [100, 1_000];
const WARM_UP: Duration = Duration::from_secs(6);
const SECS: u64 = 20;
const QUICK_SECS: u64 = 10;
const SCRAPES: usize = 5;

/// Many memcgs under one parent, each charged a page; removed on drop.
struct Memcgs {
    parent: PathBuf,
    n: usize,
    /// The charged files (removed before the memcgs).
    files: PathBuf,
}

impl Memcgs {
    fn make(n: usize) -> anyhow::Result<Self> {
        let v1 = Path::new("/sys/fs/cgroup/memory");
        let parent = if v1.join("memory.limit_in_bytes").exists() {
            v1.join("vmscan-bench-memcgs")
        } else {
            let p = PathBuf::from("/sys/fs/cgroup/vmscan-bench-memcgs");
            let _ = std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
            std::fs::create_dir_all(&p)?;
            std::fs::write(p.join("cgroup.subtree_control"), "+memory")
                .context("enabling the memory controller")?;
            p
        };
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        for i in 0..n {
            std::fs::create_dir_all(parent.join(format!("cg{i}")))?;
        }
        // One shell moves itself into each memcg in turn and writes a small
        // file there: a page of page cache charged to each, no fork per memcg.
        let files =
            std::env::temp_dir().join(format!("vmscan-bench-memcgs-{}", std::process::id()));
        std::fs::create_dir_all(&files)?;
        let script = format!(
            "i=0; while [ $i -lt {n} ]; do echo $$ > {p}/cg$i/cgroup.procs && echo x > {f}/f$i || exit 1; i=$((i+1)); done",
            p = parent.display(),
            f = files.display()
        );
        let charged = Command::new("sh").args(["-c", &script]).status()?;
        let me = Self { parent, n, files };
        anyhow::ensure!(charged.success(), "charging a page to each memcg failed");
        Ok(me)
    }
}

impl Drop for Memcgs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.files);
        for i in 0..self.n {
            let _ = std::fs::remove_dir(self.parent.join(format!("cg{i}")));
        }
        let _ = std::fs::remove_dir(&self.parent);
    }
}

/// CPU share (% of one core) of `pid` over `secs`, and its peak RSS in KiB.
fn cpu_and_peak(pid: u32, secs: u64) -> anyhow::Result<(f64, u64)> {
    Ok((cpu_share(pid, secs)?, proc_status_kib(pid, "VmHWM:")))
}

/// Median time of a /metrics scrape, in milliseconds.
fn scrape_ms(port: u16) -> anyhow::Result<f64> {
    let mut times = vec![];
    for _ in 0..SCRAPES {
        let t = Instant::now();
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
        let mut body = Vec::new();
        s.read_to_end(&mut body)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn exporter(bin: &Path, n: usize, secs: u64) -> anyhow::Result<String> {
    let port = 19_500 + (std::process::id() % 400) as u16;
    let mut child = Command::new(bin)
        .args(["export", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting vmscan export")?;
    let res = (|| {
        std::thread::sleep(WARM_UP);
        let (cpu, peak) = cpu_and_peak(child.id(), secs)?;
        let ms = scrape_ms(port)?;
        anyhow::Ok(format!(
            "| exporter at {n} memcgs, 1 s interval | {cpu:.2}% of one core over {secs} s, peak RSS {} MiB, scrape {ms:.0} ms (target <= 2% at 10,000) |",
            peak / 1024
        ))
    })();
    let _ = child.kill();
    let _ = child.wait();
    res
}

/// The TUI on its default tab (keys "") or another ("4": Cgroups).
fn tui(n: usize, secs: u64, keys: &str) -> anyhow::Result<String> {
    let tab = if keys.is_empty() { "" } else { ", Cgroups tab" };
    super::with_tui_keys(WARM_UP, keys, |pid| {
        let (cpu, peak) = cpu_and_peak(pid, secs)?;
        Ok(format!(
            "| TUI at {n} memcgs{tab}, 1 s interval | {cpu:.2}% of one core over {secs} s, peak RSS {} MiB |",
            peak / 1024
        ))
    })
}

/// The benchmark's rows, one exporter and one TUI row per size.
pub(crate) fn rows(quick: bool) -> anyhow::Result<Vec<String>> {
    apt_install(&["tmux"])?;
    crate::build()?;
    let bin = root().join("target/release/vmscan");
    let secs = if quick { QUICK_SECS } else { SECS };
    let sizes: &[usize] = if quick { &QUICK_SIZES } else { &SIZES };
    let mut out = vec![];
    for &n in sizes {
        say(&format!("memcg scaling: {n} memory cgroups"));
        let _cgs = Memcgs::make(n)?;
        out.push(exporter(&bin, n, secs)?);
        out.push(tui(n, secs, "")?);
        out.push(tui(n, secs, "4")?);
    }
    Ok(out)
}
