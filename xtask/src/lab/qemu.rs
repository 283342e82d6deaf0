//! Booting a guest in QEMU (TCG, two NUMA nodes) and collecting its serial
//! console, with a watchdog for a guest that falls silent and one more boot
//! for a guest that does not finish.

use std::{
    io::Write as _,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

use super::image::disk;

/// The guest's memory, split evenly between its two NUMA nodes (one vCPU
/// each).
const GUEST_MIB: u64 = 1024;
/// A guest silent this long has hung: the bench prints progress at least
/// every few minutes, the scenarios finish well within that.
const SILENCE_LIMIT: Duration = Duration::from_secs(600);
/// How often the watchdog looks at the guest.
const WATCH_INTERVAL: Duration = Duration::from_millis(200);

/// How a guest boots: the scenarios, an optional second disk (the bench's
/// tools) and how long it may run.
pub(super) struct Boot<'a> {
    pub(super) scenarios: String,
    pub(super) tools: Option<&'a Path>,
    pub(super) limit: Duration,
    pub(super) interactive: bool,
    /// More kernel command-line parameters (`possible_cpus=N`).
    pub(super) append: String,
    /// A third NUMA node without CPUs whose memory the kernel sees as soft
    /// reserved, for the demote scenario to online as a slower tier.
    pub(super) tier_node: bool,
}

/// The tier node's memory, after the two nodes' [`GUEST_MIB`].
const TIER_MIB: u64 = 256;

/// Boots a guest; returns its console (nothing for an interactive boot).
pub(super) fn boot(
    vmlinux: &Path,
    initrd: &Path,
    disk: &Path,
    b: &Boot,
    log: &Path,
) -> anyhow::Result<String> {
    let mut c = qemu(vmlinux, initrd, disk, b);
    if b.interactive {
        let st = c.status()?;
        if !st.success() {
            bail!("qemu: {st}");
        }
        return Ok(String::new());
    }
    let child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("qemu-system-x86_64")?;
    watch(child, b.limit, log)
}

/// How TCG runs the two vCPUs: one host thread for both unless
/// VMSCAN_LAB_TCG_THREAD=multi gives each its own.
///
/// With a thread each, guests crashed now and then while vmscan attached or
/// detached its programs on folio_mark_accessed, the hottest patched
/// function: "Oops: int3" at folio_mark_accessed+0x5 (6.12), a call to
/// address 0 from unmap_page_range (6.1) and soft lockups with both CPUs
/// at folio_mark_accessed+0x0 (5.10, 6.1): four times in one day of lab
/// runs, and once in CI (each time a retry passed). The kernel's text_poke_bp
/// protocol (int3, IPI sync, rewrite, IPI sync) rules these out on real
/// CPUs; they are what a vCPU still running translated code from before
/// the rewrite does. One thread runs one vCPU at a time, so a rewrite
/// reaches the other vCPU before it runs again. It cost 16% more time
/// (hooks, truth, numa, swap, exit and model on 6.12: 138 s against 119 s).
fn tcg_thread() -> &'static str {
    match std::env::var("VMSCAN_LAB_TCG_THREAD").as_deref() {
        Ok("multi") => "multi",
        _ => "single",
    }
}

/// The QEMU command line: TCG ([`tcg_thread`]), two vCPUs on two NUMA nodes, the scratch
/// disk (and the tools disk), the scenarios on the kernel command line.
fn qemu(vmlinux: &Path, initrd: &Path, disk: &Path, b: &Boot) -> Command {
    let mut c = Command::new("qemu-system-x86_64");
    let node = format!("size={}M", GUEST_MIB / 2);
    let total = GUEST_MIB + if b.tier_node { TIER_MIB } else { 0 };
    c.args([
        "-accel",
        &format!("tcg,thread={}", tcg_thread()),
        "-cpu",
        "max",
        "-m",
        &total.to_string(),
        "-smp",
        "2",
    ])
    .args([
        "-object",
        &format!("memory-backend-ram,id=m0,{node}"),
        "-object",
        &format!("memory-backend-ram,id=m1,{node}"),
    ])
    .args([
        "-numa",
        "node,nodeid=0,cpus=0,memdev=m0",
        "-numa",
        "node,nodeid=1,cpus=1,memdev=m1",
    ]);
    // Node 2 follows the others in the physical map (below 4 GiB): the
    // kernel is told its RAM is soft reserved (E820 type 0xefffffff), which
    // dax_hmem turns into a device DAX instead of boot memory. The range
    // must be 2 MiB-aligned (dax_hmem refuses it otherwise), and the
    // firmware keeps its ACPI tables in the node's last pages: the 2 MiB
    // holding them are reserved, so that node 2 has no memory at boot and
    // kmem's becomes a tier of its own.
    let mut append = b.append.clone();
    if b.tier_node {
        c.args([
            "-object",
            &format!("memory-backend-ram,id=m2,size={TIER_MIB}M"),
            "-numa",
            "node,nodeid=2,memdev=m2",
        ]);
        let last = GUEST_MIB + TIER_MIB - 2;
        append.push_str(&format!(
            " memmap={}M%{GUEST_MIB}M-1+0xefffffff memmap=2M${last}M",
            TIER_MIB - 2
        ));
    }
    c.arg("-kernel")
        .arg(vmlinux)
        .arg("-initrd")
        .arg(initrd)
        .arg("-drive")
        .arg(format!("file={},if=virtio,format=raw", disk.display()));
    if let Some(t) = b.tools {
        c.arg("-drive")
            .arg(format!("file={},if=virtio,format=raw", t.display()));
    }
    c.args([
        "-append",
        &format!(
            "console=ttyS0 quiet panic=-1 vmscan.scenarios={}{append}",
            b.scenarios
        ),
    ])
    // ttyS0 is the console; ttyS1, whose output goes nowhere, is a real
    // terminal for the TUI in the rss scenario.
    .args(["-serial", "mon:stdio", "-serial", "null"])
    .args(["-nographic", "-no-reboot"]);
    c
}

/// Collects a running guest's console into `log` as it prints and returns
/// it; kills the guest past `limit` or after [`SILENCE_LIMIT`] of silence.
fn watch(mut child: Child, limit: Duration, log: &Path) -> anyhow::Result<String> {
    let start = Instant::now();
    let mut out = child.stdout.take().expect("stdout");
    // The console log is written as the guest prints, to follow long runs.
    let mut live = std::fs::File::create(log)?;
    // When the guest last printed (ms since start), for the silence watchdog.
    let last = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let heard = last.clone();
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut out, &mut buf) {
            if n == 0 {
                break;
            }
            heard.store(
                start.elapsed().as_millis() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            let _ = live.write_all(&buf[..n]);
            s.extend_from_slice(&buf[..n]);
        }
        s
    });
    let mut killed = None;
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        let silent = start.elapsed().saturating_sub(Duration::from_millis(
            last.load(std::sync::atomic::Ordering::Relaxed),
        ));
        if start.elapsed() > limit {
            killed = Some(format!("at its {} s limit", limit.as_secs()));
        } else if silent > SILENCE_LIMIT {
            killed = Some(format!("after {} s of silence", silent.as_secs()));
        }
        if killed.is_some() {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(WATCH_INTERVAL);
    }
    let bytes = reader.join().unwrap_or_default();
    let mut console = String::from_utf8_lossy(&bytes).replace('\r', "");
    if let Some(why) = killed {
        // The host's own marker, after all the guest printed.
        console.push_str(&format!("\n{KILLED}{why}\n"));
    }
    Ok(console)
}

/// The line the watchdog adds to a console when it kills the guest.
pub(super) const KILLED: &str = "@@KILLED ";

/// Each scenario the guest started (`@@AT name uptime`, in order) with the
/// seconds it ran: up to the next one's start, or to the end of the
/// console's record for the last (None when the guest never marked an end).
pub(super) fn timeline(console: &str) -> Vec<(String, Option<f64>)> {
    let marks: Vec<(&str, f64)> = console
        .lines()
        .filter_map(|l| {
            let rest = &l[l.find("@@AT ")? + 5..];
            let (name, at) = rest.trim().split_once(' ')?;
            Some((name, at.trim().parse().ok()?))
        })
        .collect();
    marks
        .iter()
        .enumerate()
        .filter(|(_, (name, _))| *name != "end")
        .map(|(i, (name, at))| {
            let took = marks.get(i + 1).map(|(_, next)| next - at);
            ((*name).to_owned(), took)
        })
        .collect()
}

/// A one-line account of a boot: the scenarios that took longest, and for
/// a guest killed by the watchdog, why and during which scenario.
pub(super) fn account(console: &str) -> String {
    let t = timeline(console);
    let mut done: Vec<(&str, f64)> = t
        .iter()
        .filter_map(|(n, took)| Some((n.as_str(), (*took)?)))
        .collect();
    done.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut parts: Vec<String> = done
        .iter()
        .take(4)
        .map(|(n, s)| format!("{n} {s:.0} s"))
        .collect();
    if done.len() > 4 {
        parts.push(format!("{} more", done.len() - 4));
    }
    let mut s = if parts.is_empty() {
        String::new()
    } else {
        format!("longest: {}", parts.join(", "))
    };
    let killed = console
        .lines()
        .find_map(|l| l.strip_prefix(KILLED).map(str::trim));
    if let Some(why) = killed {
        let during = match t.last() {
            Some((n, None)) => format!("during {n}"),
            Some((n, Some(_))) => format!("after its last scenario, {n}, ended"),
            None => "before any scenario started".to_owned(),
        };
        if !s.is_empty() {
            s.push_str("; ");
        }
        s.push_str(&format!("killed {why}, {during}"));
    }
    s
}

/// Boots a guest on a fresh disk; one that does not print @@DONE is booted
/// once more (its first console log kept as `*-first-try.log`). TCG guests
/// have been seen to livelock while probes are patched in under disk
/// writeback (soft lockups of vmscan and jbd2), to Oops at boot on an int3
/// in sched_clock_cpu, and to fall silent mid-benchmark, each once in many
/// runs. Returns the console and the guest's kernel release.
pub(super) fn boot_finished(
    vmlinux: &Path,
    initrd: &Path,
    b: &Boot,
    log: &Path,
    label: &str,
) -> anyhow::Result<(String, String)> {
    let mut console = boot(vmlinux, initrd, &disk()?, b, log)?;
    if !console.contains("@@DONE") {
        let at_limit = console.contains(&format!("{KILLED}at its"));
        let why = if console.contains("soft lockup") {
            "soft lockup in the guest".to_owned()
        } else {
            match account(&console) {
                a if a.contains("killed") => format!("no @@DONE; {a}"),
                _ => "no @@DONE".to_owned(),
            }
        };
        // A guest cut off by its limit was slow, not stuck (the silence
        // watchdog catches stuck ones): the same limit would cut it again.
        let limit = if at_limit { b.limit * 3 / 2 } else { b.limit };
        let longer = if at_limit {
            format!(" with {} s", limit.as_secs())
        } else {
            String::new()
        };
        crate::sh::say(&format!(
            "kernel lab: {label} did not finish ({why}); booting it once more{longer}"
        ));
        let stem = log
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = std::fs::rename(log, log.with_file_name(format!("{stem}-first-try.log")));
        let again = Boot {
            scenarios: b.scenarios.clone(),
            append: b.append.clone(),
            limit,
            ..*b
        };
        console = boot(vmlinux, initrd, &disk()?, &again, log)?;
    }
    let release = console
        .lines()
        .find_map(|l| l.find("@@KERNEL ").map(|i| l[i + 9..].trim().to_owned()))
        .unwrap_or_else(|| label.to_owned());
    Ok((console, release))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CUT: &str = "@@KERNEL 5.10\n@@AT hooks 3.10\n@@BEGIN x\n@@AT b\n@@END x\n\
        @@AT swap 40.5\nnoise\n@@AT kretmiss 160.0\n@@AT rss 421.9\n\
        @@KILLED at its 480 s limit\n";

    #[test]
    fn timeline_times_each_scenario_to_the_next_start() {
        let t = timeline(CUT);
        let names: Vec<&str> = t.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["hooks", "swap", "kretmiss", "rss"]);
        let took: Vec<Option<i64>> = t.iter().map(|(_, s)| s.map(|s| s.round() as i64)).collect();
        assert_eq!(took, [Some(37), Some(120), Some(262), None]);
        // A finished boot marks the end, so the last scenario has a time.
        let done = "@@AT demote 10\n@@AT end 25.5\n@@DONE\n";
        assert_eq!(timeline(done), [("demote".to_owned(), Some(15.5))]);
    }

    #[test]
    fn account_names_the_longest_and_the_scenario_cut_short() {
        assert_eq!(
            account(CUT),
            "longest: kretmiss 262 s, swap 120 s, hooks 37 s; \
             killed at its 480 s limit, during rss"
        );
        let done = "@@AT a 0\n@@AT b 1\n@@AT c 3\n@@AT d 6\n@@AT e 10\n@@AT end 15\n";
        assert_eq!(account(done), "longest: e 5 s, d 4 s, c 3 s, b 2 s, 1 more");
        assert_eq!(
            account("@@KILLED after 600 s of silence\n"),
            "killed after 600 s of silence, before any scenario started"
        );
        assert_eq!(account("@@KERNEL x\n"), "");
        assert_eq!(
            account("@@AT a 0\n@@AT end 2\n@@KILLED after 600 s of silence\n"),
            "longest: a 2 s; killed after 600 s of silence, after its last scenario, a, ended"
        );
    }
}
