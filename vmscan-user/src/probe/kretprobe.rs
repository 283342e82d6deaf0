//! kretprobes with room for every task inside the function.
//!
//! A kretprobe keeps one "instance" per call in flight: a call that finds
//! none free runs without its return being seen (the kernel counts it in
//! the kprobe's nmissed). The perf kprobe PMU, which aya attaches through,
//! gives no way to ask for more than the kernel's default, max(10, 2 x
//! possible CPUs). Reclaim functions sleep: in the lab (`kretmiss`, 32
//! readers in one 16 MiB cgroup, 2 CPUs) shrink_node's default kretprobe
//! missed 48-89% of its returns. A kprobe event made through tracefs's
//! kprobe_events takes its own count ("r<MAXACTIVE>:..."), so vmscan makes
//! its kretprobes there and attaches the return program to the event
//! (perf_event_open of the event's id, then a BPF link, or before 5.15
//! PERF_EVENT_IOC_SET_BPF). Where tracefs refuses, aya's attach is the
//! fallback, and the hook's notes say its returns may be missed.
//!
//! The events live in a group of their own ([`GROUP`], not the kernel's
//! `vmscan` tracepoints, which tools enable as a whole), named by the
//! process and its start time. A process killed before it could remove its
//! events leaves them to the next vmscan, which removes those whose process
//! is gone (the kernel refuses to remove one in use, so another pid
//! namespace's live events stay).

use std::{
    fs::{File, OpenOptions},
    io::Write as _,
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
    path::Path,
};

/// The event group vmscan's kprobe events are made in.
pub const GROUP: &str = "vmscan_kret";
/// The most return instances tracefs takes (KRETPROBE_MAXACTIVE_MAX, 4.12+).
pub const MAXACTIVE_MAX: u32 = 4096;
/// Return instances vmscan asks for: 1,024 tasks inside the function at
/// once. What matters is how many tasks sleep in it, not the CPUs. Since
/// 6.7 the kernel keeps them in a per-CPU pool (objpool) whose rings are
/// sized to the count: 8 bytes per instance per possible CPU, 8 KiB a CPU.
pub const MAXACTIVE: u32 = 1024;
const _: () = assert!(MAXACTIVE <= MAXACTIVE_MAX);

/// The kernel's default for a kretprobe made without a count: max(10, 2 x
/// possible CPUs) (before 6.x, on builds without CONFIG_PREEMPTION, the
/// possible CPUs alone: fewer still).
pub fn default_maxactive(possible_cpus: u32) -> u32 {
    possible_cpus.saturating_mul(2).max(10)
}

/// A kprobe event of vmscan's with a return program attached: detached
/// and removed when dropped.
pub struct Kretprobe {
    /// kprobe_events, opened while vmscan still had its privileges: the
    /// removal comes after it dropped them.
    events_file: File,
    event: String,
    link: Option<OwnedFd>,
    perf: Option<OwnedFd>,
    pub maxactive: u32,
}

impl Kretprobe {
    /// The event's name in kprobe_events ("vmscan_kret/<event>").
    pub fn event(&self) -> String {
        format!("{GROUP}/{}", self.event)
    }
}

impl Drop for Kretprobe {
    fn drop(&mut self) {
        drop(self.link.take());
        drop(self.perf.take());
        // The event is busy until the kernel has let go of the perf event
        // (the link's release is deferred): a few tries while it is.
        let mut last = None;
        for _ in 0..50 {
            match remove_event(&mut self.events_file, &self.event) {
                Ok(()) => return,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => last = Some(e),
                Err(e) => {
                    last = Some(e);
                    break;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        log::warn!(
            "could not remove the kprobe event {GROUP}/{}: {} (the next vmscan removes it)",
            self.event,
            last.map_or_else(String::new, |e| e.to_string())
        );
    }
}

/// The event name for `func` made by process `pid` started at `start`
/// (clock ticks after boot): [A-Za-z0-9_] only (a function may be
/// "name.isra.0"), at most 63 characters.
fn event_name(pid: u32, start: u64, func: &str) -> String {
    let f: String = func
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut name = format!("p{pid}_{start}_{f}");
    name.truncate(63);
    name
}

/// The (pid, start time) in one of vmscan's event names.
fn owner_of(event: &str) -> Option<(u32, u64)> {
    let mut it = event.strip_prefix('p')?.splitn(3, '_');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Process `pid`'s start time (clock ticks after boot; /proc/PID/stat's
/// 22nd field), in this process's pid namespace.
fn start_time(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command's closing parenthesis start at the 3rd.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

fn open_events(tracefs: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .append(true)
        .open(tracefs.join("kprobe_events"))
}

fn remove_event(f: &mut File, event: &str) -> std::io::Result<()> {
    f.write_all(format!("-:{GROUP}/{event}\n").as_bytes())
}

/// Removes the events left by vmscan processes that are gone (killed
/// before they could remove them).
pub fn remove_stale(tracefs: &Path) {
    let Ok(text) = std::fs::read_to_string(tracefs.join("kprobe_events")) else {
        return;
    };
    let stale = stale_events(&text, |pid, start| {
        start_time(&pid.to_string()) == Some(start)
    });
    if stale.is_empty() {
        return;
    }
    let Ok(mut f) = open_events(tracefs) else {
        return;
    };
    for event in stale {
        // Refused (EBUSY) where it is in use: another pid namespace's.
        match remove_event(&mut f, &event) {
            Ok(()) => log::debug!("removed the stale kprobe event {GROUP}/{event}"),
            Err(e) => log::debug!("removing the stale kprobe event {GROUP}/{event}: {e}"),
        }
    }
}

/// vmscan's events in kprobe_events `text` whose process is not alive
/// (`alive(pid, start time)`).
fn stale_events(text: &str, alive: impl Fn(u32, u64) -> bool) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once(':')?;
            let name = rest.split_whitespace().next()?;
            let event = name.strip_prefix(GROUP)?.strip_prefix('/')?;
            let (pid, start) = owner_of(event)?;
            (!alive(pid, start)).then(|| event.to_owned())
        })
        .collect()
}

/// Makes a kretprobe on `func` with `maxactive` instances and attaches the
/// loaded kprobe program `prog` to it.
pub fn attach(
    tracefs: &Path,
    prog: BorrowedFd<'_>,
    func: &str,
    maxactive: u32,
) -> Result<Kretprobe, String> {
    let start = start_time("self").unwrap_or(0);
    let event = event_name(std::process::id(), start, func);
    let mut f = open_events(tracefs).map_err(|e| format!("opening kprobe_events: {e}"))?;
    // Another vmscan's remove_stale (in a pid namespace where this pid is
    // not alive) can remove the event before perf_event_open makes it
    // busy: once more then.
    let mut tries = 0;
    let (mut k, perf) = loop {
        tries += 1;
        f.write_all(format!("r{maxactive}:{GROUP}/{event} {func}\n").as_bytes())
            .map_err(|e| format!("making the kprobe event in kprobe_events: {e}"))?;
        // From here on, dropping it removes the event.
        let k = Kretprobe {
            events_file: f.try_clone().map_err(|e| e.to_string())?,
            event: event.clone(),
            link: None,
            perf: None,
            maxactive,
        };
        let id_file = tracefs.join(format!("events/{GROUP}/{event}/id"));
        let opened = std::fs::read_to_string(&id_file)
            .map_err(|e| format!("{}: {e}", id_file.display()))
            .and_then(|t| {
                t.trim()
                    .parse::<u64>()
                    .map_err(|e| format!("{}: {e}", id_file.display()))
            })
            .and_then(|id| {
                perf_event_open_tracepoint(id)
                    .map_err(|e| format!("perf_event_open of the kprobe event: {e}"))
            });
        match opened {
            Ok(perf) => break (k, perf),
            Err(e) if tries >= 2 => return Err(e),
            Err(_) => drop(k),
        }
    };
    match link_create(prog, perf.as_fd()) {
        Ok(link) => k.link = Some(link),
        // No perf-event links before 5.15: the program goes on the event.
        Err(_) => set_bpf(perf.as_fd(), prog)
            .map_err(|e| format!("attaching the program to the kprobe event: {e}"))?,
    }
    k.perf = Some(perf);
    log::info!("made the kprobe event {GROUP}/{event} on {func} ({maxactive} return instances)");
    Ok(k)
}

/// perf_event_open(2) of tracepoint event `id` on CPU 0 for every process
/// (a BPF program on it runs on every CPU).
fn perf_event_open_tracepoint(id: u64) -> std::io::Result<OwnedFd> {
    use aya_obj::generated::{PERF_FLAG_FD_CLOEXEC, perf_event_attr, perf_type_id};
    // SAFETY: perf_event_attr is plain old data; all zeroes is valid.
    let mut attr: perf_event_attr = unsafe { std::mem::zeroed() };
    attr.type_ = perf_type_id::PERF_TYPE_TRACEPOINT as u32;
    attr.size = std::mem::size_of::<perf_event_attr>() as u32;
    attr.config = id;
    attr.__bindgen_anon_1.sample_period = 1;
    attr.__bindgen_anon_2.wakeup_events = 1;
    // SAFETY: attr is a live, sized perf_event_attr.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const perf_event_attr,
            -1 as libc::pid_t,
            0 as libc::c_int,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC as libc::c_ulong,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// BPF_LINK_CREATE of `prog` on perf event `perf` (5.15+).
fn link_create(prog: BorrowedFd<'_>, perf: BorrowedFd<'_>) -> std::io::Result<OwnedFd> {
    use aya_obj::generated::{bpf_attach_type, bpf_cmd};
    // attr.link_create: prog_fd, target_fd, attach_type, flags, then the
    // perf_event member's bpf_cookie (0).
    #[repr(C)]
    struct LinkCreate {
        prog_fd: u32,
        target_fd: u32,
        attach_type: u32,
        flags: u32,
        bpf_cookie: u64,
    }
    let attr = LinkCreate {
        prog_fd: prog.as_raw_fd() as u32,
        target_fd: perf.as_raw_fd() as u32,
        attach_type: bpf_attach_type::BPF_PERF_EVENT as u32,
        flags: 0,
        bpf_cookie: 0,
    };
    // SAFETY: attr is live and its size is passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf_cmd::BPF_LINK_CREATE as libc::c_long,
            &attr as *const LinkCreate,
            std::mem::size_of::<LinkCreate>() as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// PERF_EVENT_IOC_SET_BPF, then PERF_EVENT_IOC_ENABLE.
fn set_bpf(perf: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> std::io::Result<()> {
    use aya_obj::generated::{PERF_EVENT_IOC_ENABLE, PERF_EVENT_IOC_SET_BPF};
    for (req, arg) in [
        (PERF_EVENT_IOC_SET_BPF, prog.as_raw_fd()),
        (PERF_EVENT_IOC_ENABLE, 0),
    ] {
        // SAFETY: a perf event descriptor and an int argument.
        if unsafe { libc::ioctl(perf.as_raw_fd(), req as _, arg) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_beat_the_default_until_the_default_is_larger() {
        assert!(MAXACTIVE > default_maxactive(2));
        assert!(MAXACTIVE > default_maxactive(511));
        assert!(MAXACTIVE <= default_maxactive(512));
        assert_eq!(default_maxactive(2), 10);
    }

    #[test]
    fn event_names_are_tracefs_names_and_name_their_process() {
        let e = event_name(4242, 987_654, "shrink_folio_list.isra.0");
        assert_eq!(e, "p4242_987654_shrink_folio_list_isra_0");
        assert_eq!(owner_of(&e), Some((4242, 987_654)));
        assert_eq!(owner_of("other_1_x"), None);
        let long = event_name(u32::MAX, u64::MAX, &"f".repeat(80));
        assert_eq!(long.len(), 63);
        assert_eq!(owner_of(&long), Some((u32::MAX, u64::MAX)));
        // This process: its own start time, read as another's would be.
        let me = start_time(&std::process::id().to_string());
        assert!(me.is_some() && me == start_time("self"));
    }

    #[test]
    fn only_events_of_gone_vmscan_processes_are_stale() {
        let text = "r1024:vmscan_kret/p10_5_shrink_node shrink_node\n\
                    r1024:vmscan_kret/p11_7_exit_mmap exit_mmap\n\
                    r1024:vmscan_kret/p11_8_exit_mmap exit_mmap\n\
                    p:kprobes/mine do_sys_open\n\
                    r4096:vmscan/p10_5_x x\n";
        // Process 11 started at tick 7 is alive; 10, and a pid 11 that
        // started at 8 (an earlier process with the pid), are not.
        assert_eq!(
            stale_events(text, |pid, start| (pid, start) == (11, 7)),
            ["p10_5_shrink_node", "p11_8_exit_mmap"]
        );
        assert!(stale_events(text, |_, _| true).is_empty());
    }
}
