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

use std::{
    fs::OpenOptions,
    io::Write as _,
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
    path::{Path, PathBuf},
};

/// The event group vmscan's kprobe events are made in.
const GROUP: &str = "vmscan";
/// The kernel's most (KRETPROBE_MAXACTIVE_MAX).
const MAXACTIVE_MAX: u32 = 4096;

/// Return instances to ask for: enough for 1,024 tasks inside the function
/// at once, and never fewer than four per possible CPU. Since 6.7 the
/// kernel keeps them in a per-CPU pool (objpool) whose rings are sized to
/// the count: 8 bytes per instance per possible CPU (1,024: 8 KiB a CPU).
pub fn maxactive(possible_cpus: u32) -> u32 {
    possible_cpus.saturating_mul(4).clamp(1024, MAXACTIVE_MAX)
}

/// The kernel's default for a kretprobe made without a count.
pub fn default_maxactive(possible_cpus: u32) -> u32 {
    possible_cpus.saturating_mul(2).max(10)
}

/// A kprobe event of vmscan's with a return program attached: detached
/// and removed when dropped.
pub struct Kretprobe {
    tracefs: PathBuf,
    event: String,
    link: Option<OwnedFd>,
    perf: Option<OwnedFd>,
    pub maxactive: u32,
}

impl Kretprobe {
    /// The event's name in kprobe_events ("vmscan/<event>").
    pub fn event(&self) -> String {
        format!("{GROUP}/{}", self.event)
    }
}

impl Drop for Kretprobe {
    fn drop(&mut self) {
        drop(self.link.take());
        drop(self.perf.take());
        // The event is busy until the kernel has let go of the perf event
        // (RCU): a few tries.
        let mut last = None;
        for _ in 0..50 {
            match remove_event(&self.tracefs, &self.event) {
                Ok(()) => return,
                Err(e) => last = Some(e),
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

/// The event name for `func` made by process `pid`: [A-Za-z0-9_] only
/// (a function may be "name.isra.0").
fn event_name(pid: u32, func: &str) -> String {
    let f: String = func
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("vmscan_{pid}_{f}")
}

/// The pid in one of vmscan's event names.
fn pid_of(event: &str) -> Option<u32> {
    event
        .strip_prefix("vmscan_")?
        .split('_')
        .next()?
        .parse()
        .ok()
}

fn write_events(tracefs: &Path, line: &str) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .append(true)
        .open(tracefs.join("kprobe_events"))?;
    f.write_all(line.as_bytes())
}

fn remove_event(tracefs: &Path, event: &str) -> std::io::Result<()> {
    write_events(tracefs, &format!("-:{GROUP}/{event}\n"))
}

/// Removes the events left by vmscan processes that are gone (killed
/// before they could remove them).
pub fn remove_stale(tracefs: &Path) {
    let Ok(text) = std::fs::read_to_string(tracefs.join("kprobe_events")) else {
        return;
    };
    for event in stale_events(&text, |pid| Path::new(&format!("/proc/{pid}")).exists()) {
        match remove_event(tracefs, &event) {
            Ok(()) => log::debug!("removed the stale kprobe event {GROUP}/{event}"),
            Err(e) => log::debug!("removing the stale kprobe event {GROUP}/{event}: {e}"),
        }
    }
}

/// vmscan's events in kprobe_events `text` whose process is not alive.
fn stale_events(text: &str, alive: impl Fn(u32) -> bool) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once(':')?;
            let name = rest.split_whitespace().next()?;
            let event = name.strip_prefix(GROUP)?.strip_prefix('/')?;
            let pid = pid_of(event)?;
            (!alive(pid)).then(|| event.to_owned())
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
    let event = event_name(std::process::id(), func);
    // One left by a process with this pid before.
    let _ = remove_event(tracefs, &event);
    write_events(tracefs, &format!("r{maxactive}:{GROUP}/{event} {func}\n"))
        .map_err(|e| format!("making the kprobe event in kprobe_events: {e}"))?;
    // From here on, dropping it removes the event.
    let mut k = Kretprobe {
        tracefs: tracefs.to_owned(),
        event,
        link: None,
        perf: None,
        maxactive,
    };
    let id_file = tracefs.join(format!("events/{GROUP}/{}/id", k.event));
    let id: u64 = std::fs::read_to_string(&id_file)
        .map_err(|e| format!("{}: {e}", id_file.display()))?
        .trim()
        .parse()
        .map_err(|e| format!("{}: {e}", id_file.display()))?;
    let perf = perf_event_open_tracepoint(id)
        .map_err(|e| format!("perf_event_open of the kprobe event: {e}"))?;
    match link_create(prog, perf.as_fd()) {
        Ok(link) => k.link = Some(link),
        // No perf-event links before 5.15: the program goes on the event.
        Err(_) => set_bpf(perf.as_fd(), prog)
            .map_err(|e| format!("attaching the program to the kprobe event: {e}"))?,
    }
    k.perf = Some(perf);
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
    fn instances_cover_many_tasks_and_stay_within_the_kernel_limit() {
        assert_eq!(maxactive(2), 1024);
        assert_eq!(maxactive(512), 2048);
        assert_eq!(maxactive(100_000), MAXACTIVE_MAX);
        assert_eq!(default_maxactive(2), 10);
        assert_eq!(default_maxactive(64), 128);
        for cpus in [1, 2, 16, 256, 1024] {
            assert!(maxactive(cpus) > default_maxactive(cpus));
        }
        // Beyond 2,048 CPUs the kernel's default is more than tracefs allows.
        assert!(maxactive(4096) < default_maxactive(4096));
    }

    #[test]
    fn event_names_are_tracefs_names_and_name_their_process() {
        let e = event_name(4242, "shrink_folio_list.isra.0");
        assert_eq!(e, "vmscan_4242_shrink_folio_list_isra_0");
        assert_eq!(pid_of(&e), Some(4242));
        assert_eq!(pid_of("other_1_x"), None);
    }

    #[test]
    fn only_events_of_dead_vmscan_processes_are_stale() {
        let text = "r1024:vmscan/vmscan_10_shrink_node shrink_node\n\
                    r1024:vmscan/vmscan_11_exit_mmap exit_mmap\n\
                    p:kprobes/mine do_sys_open\n\
                    r4096:other/vmscan_10_x x\n";
        assert_eq!(
            stale_events(text, |pid| pid == 11),
            ["vmscan_10_shrink_node"]
        );
        assert!(stale_events(text, |_| true).is_empty());
    }
}
