//! The kernel lab: vmscan's kernel tests on stock Debian kernels in QEMU
//! (TCG), with two NUMA nodes, fentry and kprobes, MGLRU on 6.12.
//!
//! The host builds a static (musl) vmscan, fetches the kernel packages with
//! apt-get download (cached under target/lab), extracts the uncompressed
//! vmlinux (booted through its PVH entry), writes an initramfs of busybox,
//! vmscan and an /init that runs the selected scenarios and prints their
//! raw output between markers on the serial console; the host then checks
//! the figures and prints a kernel x scenario table.

use std::{
    collections::BTreeMap,
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::sh::run_ok;

pub const SCENARIOS: [&str; 7] = ["hooks", "truth", "numa", "mglru", "model", "exit", "swap"];
/// vm.swappiness values the swap scenario runs at.
const SWAPPINESS: [u32; 3] = [0, 60, 200];

struct Kernel {
    label: &'static str,
    /// apt-cache search pattern for the package name.
    pattern: &'static str,
}

const KERNELS: [Kernel; 2] = [
    Kernel { label: "6.1", pattern: r"^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$" },
    Kernel { label: "6.12", pattern: r"^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$" },
];

fn lab_dir() -> PathBuf {
    crate::sh::root().join("target/lab")
}

/// apt options for a private configuration (backports, when the system's
/// sources lack the kernel); empty for the system's own.
fn private_apt() -> anyhow::Result<Vec<String>> {
    let dir = lab_dir().join("apt");
    let sources = std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default()
        + &std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    // The first archive URI the machine is configured with (never a literal).
    let uri = sources
        .lines()
        .find_map(|l| l.strip_prefix("URIs:").map(str::trim).map(str::to_owned).or_else(|| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&"deb") && f.len() >= 3).then(|| f[1].to_owned())
        }))
        .context("no Debian archive URI in /etc/apt sources")?;
    std::fs::create_dir_all(dir.join("lists/partial"))?;
    std::fs::create_dir_all(dir.join("cache/archives/partial"))?;
    std::fs::write(
        dir.join("sources.list"),
        format!("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {uri} bookworm-backports main\n"),
    )?;
    let opts = vec![
        format!("-o=Dir::Etc::SourceList={}", dir.join("sources.list").display()),
        "-o=Dir::Etc::SourceParts=/dev/null".to_owned(),
        format!("-o=Dir::State::Lists={}", dir.join("lists").display()),
        format!("-o=Dir::Cache={}", dir.join("cache").display()),
    ];
    crate::sh::say("kernel lab: refreshing a private apt list for bookworm-backports");
    run_ok(Command::new("apt-get").args(&opts).args(["update", "-qq"]))?;
    Ok(opts)
}

fn find_package(pattern: &str, apt_opts: &[String]) -> anyhow::Result<Option<String>> {
    let out = run_ok(Command::new("apt-cache").args(apt_opts).args(["search", "--names-only", pattern]))?;
    let mut names: Vec<String> = out.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_owned).collect();
    // Highest version last: compare the dotted/dashed numbers.
    names.sort_by_key(|n| n.split(|c: char| !c.is_ascii_digit()).filter_map(|x| x.parse::<u64>().ok()).collect::<Vec<_>>());
    Ok(names.pop())
}

/// Downloads and unpacks a kernel; returns (vmlinux, unpacked root).
fn fetch_kernel(k: &Kernel) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = lab_dir().join(k.label);
    let vmlinux = dir.join("vmlinux");
    if vmlinux.exists() {
        return Ok((vmlinux, dir.join("root")));
    }
    std::fs::create_dir_all(lab_dir().join("cache"))?;
    let mut opts = vec![];
    let mut pkg = find_package(k.pattern, &opts)?;
    if pkg.is_none() {
        opts = private_apt()?;
        pkg = find_package(k.pattern, &opts)?;
    }
    let pkg = pkg.with_context(|| format!("no package matching {} in the configured Debian archives", k.pattern))?;
    crate::sh::say(&format!("kernel lab: downloading {pkg} (cached under target/lab/cache)"));
    run_ok(Command::new("apt-get").args(&opts).args(["download", "-qq", &pkg]).current_dir(lab_dir().join("cache")))?;
    let deb = std::fs::read_dir(lab_dir().join("cache"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&format!("{pkg}_"))))
        .context("downloaded package not found")?;
    let root = dir.join("root");
    std::fs::create_dir_all(&root)?;
    run_ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
    let vmlinuz = std::fs::read_dir(root.join("boot"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
        .context("no vmlinuz in the package")?;
    extract_vmlinux(&vmlinuz, &vmlinux)?;
    Ok((vmlinux, root))
}

/// Finds the compressed kernel inside a bzImage and decompresses it with xz
/// or zstd; the uncompressed ELF boots through its PVH note, skipping the
/// slow in-guest decompression under TCG.
fn extract_vmlinux(vmlinuz: &Path, out: &Path) -> anyhow::Result<()> {
    let data = std::fs::read(vmlinuz)?;
    let candidates: [(&[u8], &str, &[&str]); 3] = [
        (b"\xfd7zXZ\x00", "xz", &["-dc"]),
        (b"\x28\xb5\x2f\xfd", "zstd", &["-dcq"]),
        (b"\x1f\x8b\x08", "gzip", &["-dc"]),
    ];
    for (magic, tool, args) in candidates {
        let mut at = 0;
        while let Some(i) = data[at..].windows(magic.len()).position(|w| w == magic) {
            let start = at + i;
            let mut child = Command::new(tool)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("{tool} (apt install xz-utils zstd)"))?;
            let mut stdin = child.stdin.take().expect("stdin");
            let payload = data[start..].to_vec();
            let writer = std::thread::spawn(move || {
                let _ = stdin.write_all(&payload);
            });
            let outp = child.wait_with_output()?;
            let _ = writer.join();
            if outp.stdout.starts_with(b"\x7fELF") {
                std::fs::write(out, &outp.stdout)?;
                return Ok(());
            }
            at = start + 1;
        }
    }
    bail!("no compressed ELF kernel found in {}", vmlinuz.display())
}

/// Modules the guest needs (Debian builds them as modules), loaded in
/// dependency order by /init. Missing optional ones are skipped.
const MODULES: [(&str, bool); 5] =
    [("virtio_pci", false), ("virtio_blk", true), ("crc32c_generic", false), ("ext4", true), ("zram", false)];

/// The `depends=` of a module's .modinfo (no depmod needed).
fn module_depends(ko: &[u8]) -> Vec<String> {
    let pat = b"depends=";
    ko.windows(pat.len())
        .position(|w| w == pat)
        .map(|i| {
            let rest = &ko[i + pat.len()..];
            let end = rest.iter().position(|&b| b == 0).unwrap_or(0);
            String::from_utf8_lossy(&rest[..end]).split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect()
        })
        .unwrap_or_default()
}

fn read_module(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path.extension().is_some_and(|e| e == "xz") {
        let out = Command::new("xz").arg("-dc").arg(path).output().context("xz (apt install xz-utils)")?;
        if !out.status.success() {
            bail!("xz -dc {} failed", path.display());
        }
        Ok(out.stdout)
    } else {
        Ok(std::fs::read(path)?)
    }
}

/// The wanted modules and their dependencies, dependencies first, as
/// (name, uncompressed .ko).
fn module_closure(root: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let base = std::fs::read_dir(root.join("lib/modules"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .next()
        .context("no lib/modules in the kernel package")?;
    let mut index: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut stack = vec![base.join("kernel")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)?.filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(n) = p.file_name().map(|n| n.to_string_lossy().into_owned())
                && let Some(stem) = n.strip_suffix(".ko").or_else(|| n.strip_suffix(".ko.xz")) {
                    index.insert(stem.replace('-', "_"), p.clone());
                }
        }
    }
    fn visit(
        name: &str,
        index: &BTreeMap<String, PathBuf>,
        done: &mut Vec<(String, Vec<u8>)>,
        seen: &mut std::collections::BTreeSet<String>,
    ) -> anyhow::Result<bool> {
        let name = name.replace('-', "_");
        if !seen.insert(name.clone()) {
            return Ok(true);
        }
        let Some(path) = index.get(&name) else { return Ok(false) };
        let ko = read_module(path)?;
        for dep in module_depends(&ko) {
            visit(&dep, index, done, seen)?;
        }
        done.push((name, ko));
        Ok(true)
    }
    let mut done = vec![];
    let mut seen = Default::default();
    for (m, required) in MODULES {
        // Built into the kernel when it is not a module: fine.
        let found = visit(m, &index, &mut done, &mut seen)?;
        if !found && required {
            let cfg = std::fs::read_dir(root.join("boot"))?
                .filter_map(Result::ok)
                .find(|e| e.file_name().to_string_lossy().starts_with("config-"))
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .unwrap_or_default();
            if !cfg.lines().any(|l| l.ends_with("=y") && l.to_lowercase().contains(&m.to_lowercase())) {
                crate::sh::say(&format!("kernel lab: module {m} not found (assuming it is built in)"));
            }
        }
    }
    Ok(done)
}

const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in /modules/*.ko; do [ -e "$m" ] && insmod "$m" 2>/dev/null; done
mdev -s 2>/dev/null
mount -t tracefs nodev /sys/kernel/tracing; mount -t debugfs nodev /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf; mount -t tmpfs tmpfs /tmp; mount -t cgroup2 none /sys/fs/cgroup
mkdir -p /mnt; mount -t ext4 /dev/vda /mnt || echo "@@ERROR no disk"
S=$(sed -n 's/.*vmscan.scenarios=\([^ ]*\).*/\1/p' /proc/cmdline)
echo "@@KERNEL $(uname -r)"
has() { case ",$S," in *",$1,"*) return 0;; esac; return 1; }
block() { echo "@@BEGIN $1"; cat "$2"; echo "@@END $1"; }
# Background jobs of a non-interactive shell ignore SIGINT: stop vmscan with
# SIGTERM. Every run writes its own files, so waitc never sees an older run.
waitc() { i=0; while [ $i -lt 900 ]; do grep -q "vmscan: counting" "$1" 2>/dev/null && return 0; sleep 0.1; i=$((i+1)); done; echo "@@ERROR $1 never counted"; cat "$1"; }
echo +memory > /sys/fs/cgroup/cgroup.subtree_control
mkdir -p /sys/fs/cgroup/t; echo 32M > /sys/fs/cgroup/t/memory.max
if has shell; then setsid cttyhack sh; poweroff -f; fi
if has hooks; then
  vmscan probes --json > /tmp/p1 2>&1; block probes-fentry /tmp/p1
  vmscan --no-fentry probes --json > /tmp/p2 2>&1; block probes-kprobe /tmp/p2
fi
if has truth; then
  dd if=/dev/zero of=/mnt/big bs=1M count=192 2>/dev/null; sync; echo 3 > /proc/sys/vm/drop_caches
  vmscan --compare-kprobes stat --json > /tmp/fe.json 2> /tmp/fe.err & A=$!
  waitc /tmp/fe.err
  vmscan --no-fentry stat --json > /tmp/kp.json 2> /tmp/kp.err & B=$!
  waitc /tmp/kp.err
  cat /proc/vmstat > /tmp/v0
  sh -c 'echo $$ > /sys/fs/cgroup/t/cgroup.procs; exec cat /mnt/big > /dev/null'
  cat /proc/vmstat > /tmp/v1
  kill -TERM $A $B; wait $A; wait $B
  block truth-fentry /tmp/fe.json; block truth-kprobe /tmp/kp.json
  block vmstat-before /tmp/v0; block vmstat-after /tmp/v1
fi
if has numa || has mglru; then
  dd if=/dev/zero of=/mnt/node bs=1M count=640 2>/dev/null; sync; echo 3 > /proc/sys/vm/drop_caches
  vmscan snapshot --json -d 20 > /tmp/numa.json 2> /tmp/numa.err & A=$!
  waitc /tmp/numa.err
  vmscan lab-read --node 0 /mnt/node; vmscan lab-read --node 0 /mnt/node
  kill -TERM $A; wait $A
  block numa /tmp/numa.json
fi
if has model; then
  vmscan snapshot --json -d 3 > /tmp/m.json 2> /tmp/m.err & A=$!
  waitc /tmp/m.err; sleep 2.7; cat /sys/devices/system/node/node*/meminfo > /tmp/mi; wait $A
  block model /tmp/m.json; block meminfo /tmp/mi
fi
if has exit; then
  dd if=/dev/zero of=/mnt/small bs=1M count=32 2>/dev/null; sync
  for mode in fentry kprobe sequential; do
    opt=""; [ $mode = kprobe ] && opt="--no-fentry"
    vmscan $opt access --json --exiting-only --comm vmscan -d 120 > /tmp/x-$mode.json 2> /tmp/x-$mode.err & A=$!
    waitc /tmp/x-$mode.err
    i=0; while [ $i -lt 10 ]; do
      if [ $mode = sequential ]; then vmscan lab-map --advice sequential /mnt/small; else vmscan lab-map /mnt/small; fi
      i=$((i+1)); done
    kill -TERM $A; wait $A
    block exit-$mode /tmp/x-$mode.json
  done
fi
if has swap; then
  # Anonymous reclaim with swap: shmem (swap-backed, on the anon LRU) and a
  # file read in a 48 MiB cgroup (64 MiB of shmem cannot all stay), zram as
  # swap, at three swappiness values.
  echo 256M > /sys/block/zram0/disksize && mkswap /dev/zram0 > /dev/null && swapon /dev/zram0 || echo "@@ERROR no zram swap"
  [ -e /mnt/big ] || { dd if=/dev/zero of=/mnt/big bs=1M count=192 2>/dev/null; sync; }
  mkdir -p /sys/fs/cgroup/s; echo 48M > /sys/fs/cgroup/s/memory.max
  for sw in 0 60 200; do
    echo $sw > /proc/sys/vm/swappiness; echo 3 > /proc/sys/vm/drop_caches
    vmscan stat --json > /tmp/sw$sw.json 2> /tmp/sw$sw.err & A=$!
    waitc /tmp/sw$sw.err
    cat /proc/vmstat > /tmp/sw$sw.v0
    sh -c 'echo $$ > /sys/fs/cgroup/s/cgroup.procs; dd if=/dev/urandom of=/tmp/shm bs=1M count=64 2>/dev/null; cat /mnt/big > /dev/null; cat /mnt/big > /dev/null; rm /tmp/shm'
    cat /proc/vmstat > /tmp/sw$sw.v1
    kill -TERM $A; wait $A
    block swap-$sw /tmp/sw$sw.json; block swap-$sw-before /tmp/sw$sw.v0; block swap-$sw-after /tmp/sw$sw.v1
  done
  swapoff /dev/zram0; echo 60 > /proc/sys/vm/swappiness
fi
if has bench; then
  # The host's bpftrace, perf and bpftool with their libraries, run in a
  # chroot on a second disk; swap on zram for the anonymous workload.
  mkdir -p /tools; mount -t ext4 /dev/vdb /tools || echo "@@ERROR no tools disk"
  for d in proc sys dev mnt tmp; do mount -o rbind /$d /tools/$d; done
  echo 384M > /sys/block/zram0/disksize && mkswap /dev/zram0 > /dev/null && swapon /dev/zram0
  q=""; has quick && q="--quick"
  # Progress goes to the console too (the host keeps a live log).
  xtask guest-bench $q 2>&1 > /tmp/bench.md | tee /tmp/bench.err
  block bench /tmp/bench.md; block bench-err /tmp/bench.err
fi
echo "@@DONE"
poweroff -f
"#;

fn initramfs(vmscan: &Path, xtask: Option<&Path>, label: &str, kroot: &Path) -> anyhow::Result<PathBuf> {
    let dir = lab_dir().join(format!("initramfs-{label}"));
    let _ = std::fs::remove_dir_all(&dir);
    for d in ["bin", "proc", "sys", "dev", "tmp", "mnt", "modules"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    for (i, (name, ko)) in module_closure(kroot)?.into_iter().enumerate() {
        std::fs::write(dir.join(format!("modules/{i:02}-{name}.ko")), ko)?;
    }
    std::fs::copy("/bin/busybox", dir.join("bin/busybox")).context("busybox (apt install busybox-static)")?;
    std::fs::copy(vmscan, dir.join("bin/vmscan"))?;
    if let Some(x) = xtask {
        std::fs::copy(x, dir.join("bin/xtask"))?;
    }
    std::fs::write(dir.join("init"), INIT)?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir.join("init"), std::fs::Permissions::from_mode(0o755))?;
    let out = lab_dir().join(format!("initramfs-{label}.cpio"));
    let list = run_ok(Command::new("find").arg(".").current_dir(&dir))?;
    let mut cpio = Command::new("cpio")
        .args(["-o", "-H", "newc", "--quiet"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&out)?)
        .spawn()
        .context("cpio")?;
    cpio.stdin.take().expect("stdin").write_all(list.as_bytes())?;
    if !cpio.wait()?.success() {
        bail!("cpio failed");
    }
    Ok(out)
}

fn disk() -> anyhow::Result<PathBuf> {
    let img = lab_dir().join("disk.img");
    let f = std::fs::File::create(&img)?;
    f.set_len(1400 << 20)?;
    run_ok(Command::new("mkfs.ext4").args(["-F", "-q"]).arg(&img))?;
    Ok(img)
}

/// How a guest boots: the scenarios, an optional second disk (the bench's
/// tools) and how long it may run.
struct Boot<'a> {
    scenarios: String,
    tools: Option<&'a Path>,
    limit: Duration,
    interactive: bool,
}

fn boot(vmlinux: &Path, initrd: &Path, disk: &Path, b: &Boot, log: &Path) -> anyhow::Result<String> {
    let mut c = Command::new("qemu-system-x86_64");
    c.args(["-accel", "tcg,thread=multi", "-cpu", "max", "-m", "1024", "-smp", "2"])
        .args(["-object", "memory-backend-ram,id=m0,size=512M", "-object", "memory-backend-ram,id=m1,size=512M"])
        .args(["-numa", "node,nodeid=0,cpus=0,memdev=m0", "-numa", "node,nodeid=1,cpus=1,memdev=m1"])
        .arg("-kernel")
        .arg(vmlinux)
        .arg("-initrd")
        .arg(initrd)
        .arg("-drive")
        .arg(format!("file={},if=virtio,format=raw", disk.display()));
    if let Some(t) = b.tools {
        c.arg("-drive").arg(format!("file={},if=virtio,format=raw", t.display()));
    }
    c.args(["-append", &format!("console=ttyS0 quiet panic=-1 vmscan.scenarios={}", b.scenarios)])
        .args(["-nographic", "-no-reboot"]);
    if b.interactive {
        let st = c.status()?;
        if !st.success() {
            bail!("qemu: {st}");
        }
        return Ok(String::new());
    }
    let mut child = c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().context("qemu-system-x86_64")?;
    let start = Instant::now();
    let mut out = child.stdout.take().expect("stdout");
    // The console log is written as the guest prints, to follow long runs.
    let mut live = std::fs::File::create(log)?;
    // When the guest last printed (ms since start): a guest silent for 10
    // minutes has hung (the bench prints progress at least every few
    // minutes, the scenarios finish well within that).
    let last = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let heard = last.clone();
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut out, &mut buf) {
            if n == 0 {
                break;
            }
            heard.store(start.elapsed().as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
            let _ = live.write_all(&buf[..n]);
            s.extend_from_slice(&buf[..n]);
        }
        s
    });
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        let silent = start.elapsed().saturating_sub(Duration::from_millis(last.load(std::sync::atomic::Ordering::Relaxed)));
        if start.elapsed() > b.limit || silent > Duration::from_secs(600) {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let bytes = reader.join().unwrap_or_default();
    Ok(String::from_utf8_lossy(&bytes).replace('\r', ""))
}

/// Boots a guest on a fresh disk; one that does not print @@DONE is booted
/// once more (its first console log kept as `*-first-try.log`). TCG guests
/// have been seen to livelock while probes are patched in under disk
/// writeback (soft lockups of vmscan and jbd2), to Oops at boot on an int3
/// in sched_clock_cpu, and to fall silent mid-benchmark, each once in many
/// runs. Returns the console and the guest's kernel release.
fn boot_finished(vmlinux: &Path, initrd: &Path, b: &Boot, log: &Path, label: &str) -> anyhow::Result<(String, String)> {
    let mut console = boot(vmlinux, initrd, &disk()?, b, log)?;
    if !console.contains("@@DONE") {
        let why = if console.contains("soft lockup") { "soft lockup in the guest" } else { "no @@DONE" };
        crate::sh::say(&format!("kernel lab: {label} did not finish ({why}); booting it once more"));
        let stem = log.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let _ = std::fs::rename(log, log.with_file_name(format!("{stem}-first-try.log")));
        console = boot(vmlinux, initrd, &disk()?, b, log)?;
    }
    let release = console
        .lines()
        .find_map(|l| l.find("@@KERNEL ").map(|i| l[i + 9..].trim().to_owned()))
        .unwrap_or_else(|| label.to_owned());
    Ok((console, release))
}

fn blocks(console: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut cur: Option<(String, String)> = None;
    for line in console.lines() {
        if let Some(name) = line.strip_prefix("@@BEGIN ") {
            cur = Some((name.trim().to_owned(), String::new()));
        } else if line.starts_with("@@END ") {
            if let Some((n, body)) = cur.take() {
                m.insert(n, body);
            }
        } else if let Some((_, body)) = cur.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    m
}

fn json(b: &BTreeMap<String, String>, name: &str) -> Result<Value, String> {
    let text = b.get(name).ok_or_else(|| format!("no `{name}` output (see the console log)"))?;
    let start = text.find('{').ok_or_else(|| format!("`{name}`: no JSON: {}", text.lines().last().unwrap_or("")))?;
    serde_json::from_str(&text[start..]).map_err(|e| format!("`{name}`: {e}"))
}

fn vmstat(text: &str) -> BTreeMap<String, u64> {
    text.lines().filter_map(|l| {
        let (k, v) = l.split_once(' ')?;
        Some((k.to_owned(), v.trim().parse().ok()?))
    }).collect()
}

type Verdict = Result<String, String>;

fn check_hooks(b: &BTreeMap<String, String>) -> Verdict {
    let fe = json(b, "probes-fentry")?;
    let kp = json(b, "probes-kprobe")?;
    let mut notes = vec![];
    for (name, j, want) in [("fentry", &fe, "fentry"), ("kprobe", &kp, "kprobe")] {
        for h in j["hooks"].as_array().ok_or("no hooks")? {
            let n = h["name"].as_str().unwrap_or("?");
            let m = h["mechanism"].as_str().ok_or_else(|| format!("{name} run: {n} not attached: {}", h["error"]))?;
            if !(n.contains(':') || m.starts_with(want)) {
                return Err(format!("{name} run: {n} attached by {m}, expected {want}"));
            }
        }
        notes.push(format!("{} hooks by {want}", j["hooks"].as_array().map_or(0, |a| a.len())));
    }
    Ok(notes.join(", "))
}

/// /proc/vmstat's counters' growth between two printed copies of it. Gauges
/// that fell (nr_free_pages, ...) are left out: they are not counters.
fn vmstat_delta(b: &BTreeMap<String, String>, before: &str, after: &str) -> Result<BTreeMap<String, u64>, String> {
    let v0 = vmstat(b.get(before).ok_or_else(|| format!("no `{before}` output"))?);
    let v1 = vmstat(b.get(after).ok_or_else(|| format!("no `{after}` output"))?);
    Ok(v1.iter().filter_map(|(k, v)| Some((k.clone(), v.checked_sub(v0.get(k).copied().unwrap_or(0))?))).collect())
}

/// vmscan's counters (its JSON `vmstat` object) must equal the kernel's
/// growth over the same window, key by key.
fn same_as_vmstat(j: &Value, delta: &BTreeMap<String, u64>, keys: &[&str], who: &str) -> Result<(), String> {
    for k in keys {
        let (ours, kernel) = (j["vmstat"][*k].as_u64().unwrap_or(u64::MAX), delta.get(*k).copied().unwrap_or(0));
        if ours != kernel {
            return Err(format!("{who}: {k}: vmscan {ours} vs /proc/vmstat {kernel}"));
        }
    }
    Ok(())
}

fn check_truth(b: &BTreeMap<String, String>) -> Verdict {
    let fe = json(b, "truth-fentry")?;
    let kp = json(b, "truth-kprobe")?;
    let delta = vmstat_delta(b, "vmstat-before", "vmstat-after")?;
    let d = |k: &str| delta.get(k).copied().unwrap_or(0);
    if d("pgsteal_file") < 10_000 {
        return Err(format!("the workload reclaimed only {} pages", d("pgsteal_file")));
    }
    let keys = ["pgscan_kswapd", "pgscan_direct", "pgscan_anon", "pgscan_file", "pgsteal_kswapd", "pgsteal_direct", "pgsteal_anon", "pgsteal_file"];
    same_as_vmstat(&fe, &delta, &keys, "fentry")?;
    same_as_vmstat(&kp, &delta, &keys, "kprobe")?;
    let calls = |j: &Value, hook: &str| {
        j["hooks"].as_array().and_then(|a| a.iter().find(|h| h["name"] == hook)).and_then(|h| h["events"].as_u64()).unwrap_or(0)
    };
    // One process ran fentry and kprobes on the same functions over the
    // same window (--compare-kprobes). They must agree, except that a
    // kprobe program is skipped when another BPF program is already running
    // on that CPU (bpf_prog_active: trace_call_bpf), which fentry programs
    // are not: kprobes may miss, rarely (seen: 2-3 in 68,000). And the two
    // per-CPU counters are read one after the other while the guest keeps
    // adding folios, so kprobes have also been seen 1 ahead (65071 vs 65070).
    let shadow = |k: &str| fe["kprobe_shadow"][k].as_u64().unwrap_or(0);
    let mut same = vec![];
    for f in ["folio_mark_accessed", "folio_add_lru", "shrink_node"] {
        let (a, k) = (calls(&fe, f), shadow(f));
        if a == 0 || a.abs_diff(k) * 10_000 > a {
            return Err(format!("{f}: fentry {a} vs kprobe {k} over the same window (they may differ by at most 0.01%)"));
        }
        same.push(if a == k { format!("{f} {a}") } else { format!("{f} {a} (kprobe {k})") });
    }
    Ok(format!("pgscan/pgsteal = /proc/vmstat (pgsteal_file {}) under fentry and kprobes; fentry vs kprobe: {}", d("pgsteal_file"), same.join(", ")))
}

fn node(snap: &Value, n: u64) -> Option<&Value> {
    snap["nodes"].as_array()?.iter().find(|x| x["node"] == n)
}

fn check_numa(b: &BTreeMap<String, String>) -> Verdict {
    let s = json(b, "numa")?;
    let (n0, n1) = (node(&s, 0).ok_or("no node 0")?, node(&s, 1).ok_or("no node 1")?);
    let eps = |n: &Value| n["kswapd"]["episodes"].as_u64().unwrap_or(0) + (n["kswapd"]["state"] == "awake") as u64;
    let rec = |i: u64| {
        s["totals"]["nodes"].as_array().and_then(|a| a.iter().find(|x| x["node"] == i)).map_or(0, |x| x["reclaimed"]["kswapd"].as_u64().unwrap_or(0) + x["reclaimed"]["direct"].as_u64().unwrap_or(0))
    };
    if eps(n0) == 0 {
        return Err(format!("kswapd0 never woke: {}", n0["kswapd"]));
    }
    if eps(n1) != 0 || rec(1) != 0 {
        return Err(format!("node 1 reclaimed too: kswapd1 {} episodes, {} pages", eps(n1), rec(1)));
    }
    let found = s["recent_findings"].as_array().is_some_and(|f| f.iter().any(|x| x["kind"] == "numa_imbalance"));
    if !found {
        return Err("no numa_imbalance finding".into());
    }
    Ok(format!("kswapd0 {} episodes, node 0 reclaimed {} pages, node 1 none; imbalance raised", eps(n0), rec(0)))
}

fn check_mglru(b: &BTreeMap<String, String>, kernel: &str) -> Verdict {
    let p = json(b, "probes-fentry").or_else(|_| json(b, "numa"))?;
    let on = p["system"]["mglru"].as_bool().or_else(|| p["mglru"].as_bool());
    let s = json(b, "numa")?;
    let gens = s["lruvecs"].as_array().map_or(0, |a| a.iter().filter(|l| l["generations"].is_array()).count());
    match (kernel, on) {
        ("6.12", Some(true)) if gens > 0 => Ok(format!("MGLRU on; generations for {gens} lruvecs")),
        ("6.1", Some(false)) | ("6.1", None) if gens == 0 => Ok("classic lists; no generations".into()),
        _ => Err(format!("kernel {kernel}: mglru {on:?}, {gens} lruvecs with generations")),
    }
}

fn check_model(b: &BTreeMap<String, String>) -> Verdict {
    let s = json(b, "model")?;
    let mi = b.get("meminfo").ok_or("no meminfo")?;
    let mut worst = 0.0f64;
    for n in s["nodes"].as_array().ok_or("no nodes")? {
        let id = n["node"].as_u64().unwrap_or(0);
        let get = |k: &str| -> u64 {
            mi.lines()
                .find_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    (f.len() >= 4 && f[1] == id.to_string() && f[2] == k).then(|| f[3].parse::<u64>().ok()).flatten()
                })
                .unwrap_or(0)
                / 4
        };
        let kernel = [get("Inactive(anon):"), get("Active(anon):"), get("Inactive(file):"), get("Active(file):"), get("Unevictable:")];
        let total: u64 = kernel.iter().sum::<u64>().max(1);
        // 2% of the node's LRU pages, with a floor of 512 pages (2 MiB): a
        // node that holds almost nothing (node 1 here, ~3500 LRU pages)
        // moves by up to ~250 pages between the read and vmscan's sample 0.3 s
        // later (per-CPU LRU batches draining, vmscan's own allocations on
        // the CPU of that node; seen in CI runs).
        let tol = (total / 50).max(512);
        for (i, l) in n["lists"].as_array().ok_or("no lists")?.iter().enumerate() {
            let ours = l["pages"].as_u64().unwrap_or(0);
            let diff = ours.abs_diff(kernel[i]);
            worst = worst.max(diff as f64 / total as f64);
            if diff > tol {
                return Err(format!("node {id} {}: vmscan {ours} vs meminfo {} (tolerance {tol} pages)", l["name"], kernel[i]));
            }
        }
    }
    Ok(format!("lists within {:.2}% of node meminfo", worst * 100.0))
}

/// Anonymous reclaim with swap at vm.swappiness 0, 60 and 200: vmscan's
/// anon and file scan/steal counters equal /proc/vmstat's in each run, anon
/// reclaimed equals pswpout, swappiness 200 swaps, and it scans a larger
/// anon share than swappiness 0.
fn check_swap(b: &BTreeMap<String, String>) -> Verdict {
    let mut parts = vec![];
    let mut anon_share = vec![];
    for sw in SWAPPINESS {
        let j = json(b, &format!("swap-{sw}"))?;
        let delta = vmstat_delta(b, &format!("swap-{sw}-before"), &format!("swap-{sw}-after"))?;
        let d = |k: &str| delta.get(k).copied().unwrap_or(0);
        same_as_vmstat(&j, &delta, &["pgscan_anon", "pgsteal_anon", "pgscan_file", "pgsteal_file"], &format!("swappiness {sw}"))?;
        // Every anon page reclaimed here is shmem written to zram.
        if d("pgsteal_anon") != d("pswpout") {
            return Err(format!("swappiness {sw}: pgsteal_anon {} but pswpout {}", d("pgsteal_anon"), d("pswpout")));
        }
        let scanned = d("pgscan_anon") + d("pgscan_file");
        if scanned == 0 {
            return Err(format!("swappiness {sw}: the workload caused no reclaim"));
        }
        anon_share.push(d("pgscan_anon") as f64 / scanned as f64);
        parts.push(format!("{sw}: anon {}/{} file {}/{} scanned/stolen, pswpout {}", d("pgscan_anon"), d("pgsteal_anon"), d("pgscan_file"), d("pgsteal_file"), d("pswpout")));
        if sw == 200 && (d("pswpout") == 0 || d("pgsteal_anon") == 0) {
            return Err(format!("swappiness 200 swapped nothing: {}", parts.join("; ")));
        }
    }
    if anon_share[2] <= anon_share[0] {
        return Err(format!("swappiness 200 scanned no larger anon share than 0: {}", parts.join("; ")));
    }
    Ok(format!("vmscan = /proc/vmstat and anon reclaimed = pswpout at swappiness {}", parts.join("; ")))
}

fn check_exit(b: &BTreeMap<String, String>) -> Verdict {
    // `vmscan access --exiting-only --comm vmscan` around 10 runs of a
    // process that maps a 32 MiB file (8192 pages), touches it and exits.
    // The process's own binary is mapped too and marked at exit as well, so
    // the file's share is what disappears under MADV_SEQUENTIAL.
    const EXPECTED: u64 = 10 * 8192;
    // (total, on the exit stack, activated, raised a tier under MGLRU, lru)
    let summary = |name: &str| -> Result<(u64, u64, u64, u64, String), String> {
        let j = json(b, name)?;
        let stacks = j["stacks"].as_array().cloned().unwrap_or_default();
        let total = j["total_calls"].as_u64().unwrap_or(0);
        let on_exit: u64 = stacks
            .iter()
            .filter(|s| {
                let f = s["frames"].to_string();
                (f.contains("unmap_page_range") || f.contains("zap_pte_range")) && f.contains("exit_mmap")
            })
            .map(|s| s["calls"].as_u64().unwrap_or(0))
            .sum();
        let outcome = |o: &str| -> u64 { stacks.iter().map(|s| s["outcomes"][o].as_u64().unwrap_or(0)).sum() };
        let tiers = outcome("workingset") + outcome("tier_up");
        Ok((total, on_exit, outcome("activated"), tiers, j["lru"].as_str().unwrap_or("?").to_owned()))
    };
    let mut parts = vec![];
    let mut plain = 0;
    for mech in ["fentry", "kprobe"] {
        let (total, on_exit, act, tiers, lru) = summary(&format!("exit-{mech}"))?;
        if total < EXPECTED {
            return Err(format!("{mech}: only {total} exit-time marks for 10 x 8192 touched pages"));
        }
        if on_exit * 10 < total * 9 {
            return Err(format!("{mech}: {on_exit} of {total} exit-time marks on unmap_page_range/zap_pte_range + exit_mmap (< 90%)"));
        }
        // Ten runs over the same pages: the later runs find them referenced.
        // The classic LRU activates them; MGLRU raises their tier and never
        // activates in folio_mark_accessed.
        let effect = match lru.as_str() {
            "mglru" if act == 0 && tiers > 0 => format!("MGLRU: {tiers} raised a tier, none activated"),
            "classic" if tiers == 0 && act > 0 => format!("{act} activated"),
            _ => return Err(format!("{mech}: {lru} LRU but {act} activated and {tiers} raised a tier")),
        };
        plain = plain.max(total);
        parts.push(format!("{mech}: {total} marks, {:.1}% on unmap_page_range<-...<-exit_mmap, {effect}", on_exit as f64 * 100.0 / total as f64));
    }
    let (seq, ..) = summary("exit-sequential")?;
    // The processes' own binary text is marked at exit whatever the file's
    // advice: none at all means the run was not observed.
    if seq < 1_000 {
        return Err(format!("only {seq} exit-time marks in the MADV_SEQUENTIAL run: it was not observed"));
    }
    let gone = plain.saturating_sub(seq);
    if gone * 10 < EXPECTED * 9 || gone * 10 > EXPECTED * 11 {
        return Err(format!(
            "MADV_SEQUENTIAL should remove the file's {EXPECTED} exit-time marks: {seq} with it vs {plain} without ({gone} gone)"
        ));
    }
    parts.push(format!("with MADV_SEQUENTIAL {seq} ({gone} of the file's {EXPECTED} gone; the rest is the binary's own text)"));
    Ok(parts.join("; "))
}

/// Installs what the lab needs and builds static (musl) binaries of the
/// given packages; returns their paths.
fn prepare(packages: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    crate::sh::apt_install(&["qemu-system-x86", "busybox-static", "e2fsprogs", "cpio", "xz-utils", "zstd"])?;
    let targets = run_ok(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if !targets.lines().any(|l| l.trim() == "x86_64-unknown-linux-musl") {
        crate::sh::say("installing the x86_64-unknown-linux-musl target (rustup) for static guest binaries");
        run_ok(Command::new("rustup").args(["target", "add", "x86_64-unknown-linux-musl"]))?;
    }
    let mut c = crate::sh::cargo();
    c.args(["build", "--release", "--target", "x86_64-unknown-linux-musl"]);
    for p in packages {
        c.args(["-p", p]);
    }
    crate::sh::status(&mut c)?;
    std::fs::create_dir_all(lab_dir())?;
    Ok(packages
        .iter()
        .map(|p| crate::sh::root().join("target/x86_64-unknown-linux-musl/release").join(if *p == "vmscan-user" { "vmscan" } else { p }))
        .collect())
}

/// The shared libraries a dynamically linked binary loads, as ldd names them
/// (the loader included).
fn shared_libs(bin: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let out = run_ok(Command::new("ldd").arg(bin))?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let p = match l.split_once("=>") {
                Some((_, r)) => r.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            p.starts_with('/').then(|| PathBuf::from(p))
        })
        .collect())
}

/// A disk image holding the host's bpftrace, perf and bpftool with every
/// library they load, at their own paths (the guest chroots into it), and
/// the bpftrace script for the guest's hooks.
fn tools_image() -> anyhow::Result<PathBuf> {
    crate::sh::apt_install(&["bpftrace", "bpftool", "linux-perf"])?;
    let dir = lab_dir().join("tools-root");
    let _ = std::fs::remove_dir_all(&dir);
    for d in ["proc", "sys", "dev", "mnt", "tmp", "bench"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    let mut n = 0;
    for bin in ["/usr/bin/bpftrace", "/usr/bin/perf", "/usr/sbin/bpftool"] {
        let bin = Path::new(bin);
        for f in std::iter::once(bin.to_owned()).chain(shared_libs(bin)?) {
            let to = dir.join(f.strip_prefix("/")?);
            std::fs::create_dir_all(to.parent().expect("parent"))?;
            if !to.exists() {
                std::fs::copy(&f, &to).with_context(|| f.display().to_string())?;
                n += 1;
            }
        }
    }
    // bpftrace runs `sh -c "clang-14 -Wp,-v ..."` for include paths and
    // crashes when there is no shell at all.
    std::fs::create_dir_all(dir.join("bin"))?;
    std::fs::copy("/bin/busybox", dir.join("bin/sh")).context("busybox (apt install busybox-static)")?;
    let bench = crate::sh::root().join("bench");
    let script = std::fs::read_to_string(bench.join("vmscan.bt"))? + "\n" + &std::fs::read_to_string(bench.join("vmscan-fentry.bt"))?;
    std::fs::write(dir.join("bench/vmscan-lab.bt"), script)?;
    std::fs::copy(bench.join("access.bt"), dir.join("bench/access.bt"))?;
    let bytes: u64 = run_ok(Command::new("du").args(["-sb"]).arg(&dir))?.split_whitespace().next().unwrap_or("0").parse()?;
    let img = lab_dir().join("tools.img");
    let _ = std::fs::remove_file(&img);
    run_ok(Command::new("mkfs.ext4").args(["-F", "-q", "-d"]).arg(&dir).arg(&img).arg(format!("{}M", bytes / (1 << 20) + 64)))?;
    crate::sh::say(&format!("kernel lab: tools disk with bpftrace, perf, bpftool and {} files ({} MiB)", n, bytes >> 20));
    Ok(img)
}

/// `cargo xtask bench lab`: the overhead benchmark inside the lab's guests,
/// where the kernel takes fentry and kprobes. Returns (kernel, rows) each.
pub fn bench(quick: bool, kernel: Option<&str>) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let bins = prepare(&["vmscan-user", "xtask"])?;
    let tools = tools_image()?;
    let mut out = vec![];
    for k in KERNELS.iter().filter(|k| kernel.is_none_or(|w| w == k.label)) {
        let (vmlinux, kroot) = fetch_kernel(k)?;
        let initrd = initramfs(&bins[0], Some(&bins[1]), k.label, &kroot)?;
        let log = lab_dir().join(format!("console-bench-{}.log", k.label));
        crate::sh::say(&format!("kernel lab: benchmarking in {} (console log: {})", k.label, log.display()));
        let b = Boot {
            scenarios: if quick { "bench,quick".into() } else { "bench".into() },
            tools: Some(&tools),
            limit: Duration::from_secs(if quick { 1500 } else { 3600 }),
            interactive: false,
        };
        let (console, release) = boot_finished(&vmlinux, &initrd, &b, &log, k.label)?;
        let bl = blocks(&console);
        let rows: Vec<String> = bl.get("bench").map(|t| t.lines().map(str::to_owned).collect()).unwrap_or_default();
        if rows.iter().all(|r| !r.starts_with('|')) {
            bail!(
                "the benchmark in {release} printed no table; it said: {}",
                bl.get("bench-err").map(|e| e.trim()).unwrap_or("nothing (see the console log)")
            );
        }
        out.push((release, rows));
    }
    Ok(out)
}

pub struct LabOptions {
    pub kernel: Option<String>,
    pub scenario: Option<String>,
    pub shell: bool,
}

pub fn run(o: &LabOptions) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let vmscan = prepare(&["vmscan-user"])?.remove(0);

    let kernels: Vec<&Kernel> = KERNELS.iter().filter(|k| o.kernel.as_deref().is_none_or(|w| w == k.label)).collect();
    if kernels.is_empty() {
        bail!("unknown kernel {:?}: expected one of 6.1, 6.12", o.kernel);
    }
    let scenarios: Vec<&str> = match &o.scenario {
        Some(s) => s.split(',').map(str::trim).collect(),
        None => SCENARIOS.to_vec(),
    };
    for s in &scenarios {
        if !SCENARIOS.contains(s) {
            bail!("unknown scenario `{s}`: expected one of {SCENARIOS:?}");
        }
    }
    if o.shell {
        let (vmlinux, kroot) = fetch_kernel(kernels[0])?;
        let initrd = initramfs(&vmscan, None, kernels[0].label, &kroot)?;
        crate::sh::say("booting with a shell on the serial console (poweroff -f to leave)");
        let b = Boot { scenarios: "shell".into(), tools: None, limit: Duration::MAX, interactive: true };
        boot(&vmlinux, &initrd, &disk()?, &b, &lab_dir().join("shell.log"))?;
        return Ok(());
    }
    // The MGLRU check reads the probes and NUMA outputs.
    let mut run_set: Vec<&str> = scenarios.clone();
    if run_set.contains(&"mglru") {
        run_set.extend(["hooks", "numa"]);
    }
    let mut rows = vec![];
    let mut failed = false;
    for k in &kernels {
        let (vmlinux, kroot) = fetch_kernel(k)?;
        let initrd = initramfs(&vmscan, None, k.label, &kroot)?;
        let log = lab_dir().join(format!("console-{}.log", k.label));
        crate::sh::say(&format!("kernel lab: booting {} (console log: {})", k.label, log.display()));
        let b = Boot { scenarios: run_set.join(","), tools: None, limit: Duration::from_secs(480), interactive: false };
        let (console, release) = boot_finished(&vmlinux, &initrd, &b, &log, k.label)?;
        let b = blocks(&console);
        let done = console.contains("@@DONE");
        for s in &scenarios {
            let v = if !done && b.is_empty() {
                Err("the guest printed nothing (boot failed or timed out)".into())
            } else {
                match *s {
                    "hooks" => check_hooks(&b),
                    "truth" => check_truth(&b),
                    "numa" => check_numa(&b),
                    "mglru" => check_mglru(&b, k.label),
                    "model" => check_model(&b),
                    "exit" => check_exit(&b),
                    "swap" => check_swap(&b),
                    _ => Err("unknown".into()),
                }
            };
            let (res, detail) = match v {
                Ok(d) => ("PASS", d),
                Err(e) => {
                    failed = true;
                    ("FAIL", e)
                }
            };
            println!("{res} {release} {s}: {detail}");
            rows.push((release.clone(), s.to_string(), res, detail));
        }
    }
    println!("\n| kernel | scenario | result | detail |\n|---|---|---|---|");
    for (k, s, r, d) in &rows {
        println!("| {k} | {s} | {r} | {d} |");
    }
    println!("\nkernel lab: {:.0} s in all", t0.elapsed().as_secs_f64());
    if failed {
        bail!("kernel lab: some scenarios failed (console logs under target/lab)");
    }
    Ok(())
}
