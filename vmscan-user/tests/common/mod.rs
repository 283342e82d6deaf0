//! Helpers for tests that run vmscan against the real kernel: a memory-cgroup
//! reclaim workload, /proc/vmstat snapshots, perf stat as the peer counter.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::{
    collections::BTreeMap,
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

pub fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Returns false (after saying why) when the test cannot run here.
pub fn require_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    eprintln!(
        "skipping {test}: needs root to load eBPF programs, kernel {}",
        kernel()
    );
    false
}

pub fn vmstat() -> BTreeMap<String, u64> {
    std::fs::read_to_string("/proc/vmstat")
        .expect("/proc/vmstat")
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect()
}

/// Each of `keys` in vmscan's JSON `vmstat` equals /proc/vmstat's delta.
pub fn assert_equal_to_vmstat(
    v: &serde_json::Value,
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    keys: &[&str],
) {
    for key in keys {
        let ours = v[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} missing: {v}"));
        assert_eq!(
            ours,
            delta(before, after, key),
            "{key}: vmscan vs /proc/vmstat (kernel {})",
            kernel()
        );
    }
}

pub fn delta(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>, key: &str) -> u64 {
    b.get(key).copied().unwrap_or(0) - a.get(key).copied().unwrap_or(0)
}

/// A memory cgroup with a limit, removed on drop.
pub struct Memcg {
    pub dir: PathBuf,
    pub procs: PathBuf,
}

impl Memcg {
    pub fn new(name: &str, limit: u64) -> Self {
        let v1 = Path::new("/sys/fs/cgroup/memory");
        let v2 = Path::new("/sys/fs/cgroup");
        let (dir, limit_file, procs) = if v1.join("memory.limit_in_bytes").exists() {
            let d = v1.join(name);
            (
                d.clone(),
                d.join("memory.limit_in_bytes"),
                d.join("cgroup.procs"),
            )
        } else if v2.join("cgroup.controllers").exists() {
            let ctl =
                std::fs::read_to_string(v2.join("cgroup.subtree_control")).unwrap_or_default();
            if !ctl.contains("memory") {
                std::fs::write(v2.join("cgroup.subtree_control"), "+memory")
                    .expect("enable memory controller");
            }
            let d = v2.join(name);
            (d.clone(), d.join("memory.max"), d.join("cgroup.procs"))
        } else {
            panic!(
                "no memory cgroup hierarchy (v1 memory controller or v2) on kernel {}",
                kernel()
            );
        };
        let _ = std::fs::create_dir(&dir);
        std::fs::write(&limit_file, limit.to_string())
            .unwrap_or_else(|e| panic!("{}: {e}", limit_file.display()));
        Self { dir, procs }
    }
}

impl Drop for Memcg {
    fn drop(&mut self) {
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A file of `mib` MiB that is not in the page cache.
pub fn uncached_file(mib: usize) -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let path = dir.join(format!("vmscan-workload-{mib}M"));
    let ok = std::fs::metadata(&path)
        .map(|m| m.len() == (mib as u64) << 20)
        .unwrap_or(false);
    if !ok {
        let chunk = vec![0x5au8; 1 << 20];
        let mut f = std::fs::File::create(&path).expect("create workload file");
        for _ in 0..mib {
            std::io::Write::write_all(&mut f, &chunk).expect("write workload file");
        }
        f.sync_all().expect("sync workload file");
    }
    drop_caches();
    path
}

pub fn drop_caches() {
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", "3").expect("drop_caches (needs root)");
}

/// The shell command that moves itself into `cg` and reads `file`.
pub fn read_in_cgroup(cg: &Memcg, file: &Path) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!(
            "echo $$ > {} && exec cat {} > /dev/null",
            cg.procs.display(),
            file.display()
        ),
    ]
}

/// `vmscan` started with `args`, waited on until it reports it is counting.
pub struct Vmscan {
    pub child: Child,
    pub stderr: mpsc::Receiver<String>,
    _guard: KillOnDrop,
}

/// Kills a vmscan child that a failing test did not stop, so that (say) an
/// exporter does not outlive the test run.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let mut status = 0;
        // SAFETY: waitpid and kill on our own child: WNOHANG returns 0 only
        // while it runs unreaped, so the pid cannot belong to another process.
        unsafe {
            if libc::waitpid(self.0, &mut status, libc::WNOHANG) == 0 {
                libc::kill(self.0, libc::SIGKILL);
                libc::waitpid(self.0, &mut status, 0);
            }
        }
    }
}

/// Runs vmscan with `args` and then `path`, which must succeed; its stdout.
#[allow(dead_code)] // not every test file uses it
pub fn vmscan_ok(args: &[&str], path: &Path) -> Vec<u8> {
    let out = std::process::Command::new(bin())
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "vmscan {args:?} {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_vmscan")
}

impl Vmscan {
    pub fn start(args: &[&str]) -> Self {
        Self::start_with(args, &[])
    }

    /// Starts vmscan with more environment variables.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(bin())
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start vmscan");
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    let counting = line.starts_with("vmscan: counting");
                    let failed = line.starts_with("vmscan: ") && line.contains("refusing");
                    seen.push(line);
                    if failed {
                        panic!("vmscan refused to start: {seen:#?}");
                    }
                    if counting {
                        break;
                    }
                }
                Err(e) => panic!("vmscan did not start counting ({e}); stderr so far: {seen:#?}"),
            }
        }
        let guard = KillOnDrop(child.id() as i32);
        Self {
            child,
            stderr: rx,
            _guard: guard,
        }
    }

    /// Waits for vmscan to finish by itself (--duration) and returns stdout.
    pub fn finish(self) -> String {
        let out = self.child.wait_with_output().expect("wait vmscan");
        let rest: Vec<String> = self.stderr.try_iter().collect();
        assert!(
            out.status.success(),
            "vmscan exited with {:?}; stderr: {rest:#?}",
            out.status
        );
        String::from_utf8(out.stdout).expect("utf8 stdout")
    }

    /// Sends SIGINT and returns stdout after a clean exit.
    pub fn stop(self) -> String {
        // SAFETY: kill with a pid we own.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let out = self.child.wait_with_output().expect("wait vmscan");
        let rest: Vec<String> = self.stderr.try_iter().collect();
        assert!(
            out.status.success(),
            "vmscan exited with {:?}; stderr: {rest:#?}",
            out.status
        );
        String::from_utf8(out.stdout).expect("utf8 stdout")
    }
}

/// Runs `cmd` under `perf stat -a` counting `events`; returns event -> count.
pub fn perf_stat(events: &[String], cmd: &[String]) -> BTreeMap<String, u64> {
    let perf = which_perf();
    let out = std::env::temp_dir().join(format!("vmscan-perf-{}.csv", std::process::id()));
    let mut c = Command::new(perf);
    c.args(["stat", "-a", "-x", ",", "-o"]).arg(&out);
    for e in events {
        c.args(["-e", e]);
    }
    c.arg("--").args(cmd);
    let status = c.status().expect("run perf stat");
    assert!(status.success(), "perf stat failed: {status:?}");
    let text = std::fs::read_to_string(&out).expect("perf output");
    let _ = std::fs::remove_file(&out);
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() >= 3
            && let Ok(n) = f[0].parse::<u64>()
        {
            counts.insert(f[2].to_owned(), n);
        }
    }
    counts
}

pub fn which_perf() -> String {
    for p in ["/usr/bin/perf", "/usr/local/bin/perf"] {
        if Path::new(p).exists() {
            return p.to_owned();
        }
    }
    panic!("perf not found: install linux-perf (cargo xtask test installs it)");
}

/// tmux on the server named `socket` (`-L`), of the test's own: a session
/// killed on a shared server leaves that server exiting in the background,
/// and a new-session from another test that reaches it fails ("server
/// exited unexpectedly").
pub fn tmux_on(socket: &str) -> Command {
    let mut c = Command::new("tmux");
    c.args(["-L", socket]);
    c
}
