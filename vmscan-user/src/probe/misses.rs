//! Program runs the kernel skipped: each hook's programs' recursion misses.
//!
//! The kernel does not run a BPF program on an event when running it could
//! recurse, and counts the skip in the program's `recursion_misses`
//! (struct bpf_prog_info):
//! - fentry/fexit (5.12+) and raw_tp/tp_btf skip a program already running
//!   on this CPU (an interrupt that hits the same hook while it runs);
//! - kprobes, kretprobes and classic tracepoints (trace_call_bpf) skip
//!   every program while any other such program runs on this CPU
//!   (bpf_prog_active): another tool's kprobe or tracepoint program can
//!   make vmscan's miss. The kernel counts these only since 6.7 ("bpf:
//!   Count missed stats in trace_call_bpf"); before, they are skipped
//!   silently.
//!
//! A kprobe can also miss before any program: its handler re-entered, or a
//! kretprobe out of return instances (maxactive). The kernel counts those
//! per kprobe, and shows them in the kprobe's bpf_link info (`missed`,
//! also 6.7+); vmscan adds them to the hook's figure.
//!
//! A skipped run is an event vmscan did not count. Where the kernel counts
//! skips, vmscan reports them per hook; where it does not, the figure is
//! unknown (None), never zero. The links are found at start-up, while
//! vmscan still holds its privileges (listing links needs them).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use aya::Ebpf;
use vmscan_common::HookId;

use super::btf::Btf;
use super::resolve::{Attach, HOOKS};
use crate::model::input::HookStatus;

/// Each hook's skipped runs at one reading (None: not counted here).
pub type Reading = Vec<(HookId, Option<u64>)>;

/// Which mechanisms' skips this kernel counts (from its BTF).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct MissCounting {
    /// struct bpf_prog_info has recursion_misses (5.12+): trampolines and
    /// raw tracepoints count theirs.
    pub prog_info: bool,
    /// trace_call_bpf counts its skips (6.7+; the same series added
    /// bpf_link_info's perf_event.kprobe.missed, which BTF shows).
    pub trace_call_bpf: bool,
}

impl MissCounting {
    pub fn of(btf: Option<&Btf>) -> Self {
        let Some(b) = btf else {
            return Self::default();
        };
        Self {
            prog_info: b
                .member_offset("bpf_prog_info", "recursion_misses")
                .is_some(),
            trace_call_bpf: b
                .path_offset("bpf_link_info", "perf_event.kprobe.missed")
                .is_some(),
        }
    }

    /// Whether runs skipped under `mechanism` are counted here.
    pub fn counts(&self, mechanism: &str) -> bool {
        self.prog_info && (!uses_trace_call_bpf(mechanism) || self.trace_call_bpf)
    }

    /// Why skipped runs under `mechanism` are not known here (None where
    /// they are).
    pub fn why_unknown(&self, mechanism: &str) -> Option<&'static str> {
        if !self.prog_info {
            Some("this kernel's bpf_prog_info has no recursion_misses (5.12+)")
        } else if uses_trace_call_bpf(mechanism) && !self.trace_call_bpf {
            Some("kprobe and classic tracepoint programs' skipped runs are counted from 6.7")
        } else {
            None
        }
    }
}

/// kprobes, kretprobes and classic tracepoints run through trace_call_bpf.
fn uses_trace_call_bpf(mechanism: &str) -> bool {
    mechanism.starts_with("kprobe") || mechanism == "tracepoint"
}

/// The programs a hook runs under `mechanism` (as the loader attaches them).
pub fn hook_programs(attach: &Attach, mechanism: &str) -> Vec<String> {
    match *attach {
        Attach::Tracepoint { program, .. } => vec![match mechanism {
            "tp_btf" => format!("btf_{program}"),
            "raw_tp" => format!("raw_{program}"),
            _ => program.to_owned(),
        }],
        Attach::Function {
            fentry,
            kprobe,
            exit,
            ..
        } => {
            let by_fentry = mechanism.starts_with("fentry");
            let mut v = vec![if by_fentry { fentry } else { kprobe }.to_owned()];
            if let Some(e) = exit.filter(|_| mechanism.contains('+')) {
                v.push(if by_fentry { e.fexit } else { e.kretprobe }.to_owned());
            }
            v
        }
    }
}

/// One hook's programs, by duplicated descriptors (independent of the
/// object's borrows), and for kprobes their links: a kprobe that could not
/// fire (its handler re-entered) or a kretprobe out of instances (maxactive)
/// never runs the program, and the kernel counts that per kprobe, in the
/// link's `missed` (6.7+), not in the program's recursion_misses.
struct HookFds {
    id: HookId,
    fds: Vec<OwnedFd>,
    links: Vec<OwnedFd>,
}

/// Reads each attached hook's skipped runs. Each hook's descriptors go
/// with whether its figure is counted here (the mechanism's skips are, and
/// every program and kprobe link could be found).
pub struct Misses {
    hooks: Vec<(HookFds, bool)>,
    /// With --compare-kprobes: the kprobe program beside each fentry hook.
    shadow: Vec<(HookFds, bool)>,
}

/// The note the loader leaves on a hook with a comparison kprobe.
pub const SHADOW_NOTE: &str = "kprobe attached beside fentry (comparison)";

impl Misses {
    pub fn new(ebpf: &Ebpf, hooks: &[HookStatus], counting: MissCounting) -> Self {
        // Every link on the host, listed once, when a kprobe's is wanted.
        let mut all_links = None;
        let mut fds = |spec: &super::resolve::HookSpec, id, m: &str| {
            hook_fds(ebpf, &spec.attach, id, m, counting, &mut all_links)
        };
        let mut out = vec![];
        let mut shadow = vec![];
        for (spec, st) in HOOKS.iter().zip(hooks) {
            let Some(m) = st.mechanism.as_deref() else {
                continue;
            };
            out.push(fds(spec, st.id, m));
            if st.notes.iter().any(|n| n == SHADOW_NOTE) {
                shadow.push(fds(spec, st.id, "kprobe"));
            }
        }
        Self { hooks: out, shadow }
    }

    /// The comparison kprobes' skipped runs so far, by hook id (None where
    /// this kernel does not count kprobes' skips).
    pub fn read_shadow(&self) -> Vec<(HookId, Option<u64>)> {
        read_all(&self.shadow)
    }

    /// Each attached hook's skipped runs so far (None: not counted here, or
    /// unreadable), by hook id.
    pub fn read(&self) -> Vec<(HookId, Option<u64>)> {
        read_all(&self.hooks)
    }
}

fn read_all(hooks: &[(HookFds, bool)]) -> Vec<(HookId, Option<u64>)> {
    hooks
        .iter()
        .map(|(h, counted)| (h.id, counted.then(|| h.missed()).flatten()))
        .collect()
}

/// A hook's programs (and kprobe links) under `mechanism`, and whether its
/// figure is counted here.
fn hook_fds(
    ebpf: &Ebpf,
    attach: &Attach,
    id: HookId,
    mechanism: &str,
    counting: MissCounting,
    all_links: &mut Option<Vec<(u32, OwnedFd)>>,
) -> (HookFds, bool) {
    let names = hook_programs(attach, mechanism);
    let fds = program_fds(ebpf, &names);
    // Classic tracepoints have no kprobe to miss: their programs' skips are
    // all there is.
    let links = if mechanism.starts_with("kprobe") && counting.trace_call_bpf {
        kprobe_links(ebpf, &names, all_links)
    } else {
        Some(vec![])
    };
    // A program or link that cannot be asked leaves the hook's figure
    // unknown.
    let counted = counting.counts(mechanism) && fds.len() == names.len() && links.is_some();
    let links = links.unwrap_or_default();
    (HookFds { id, fds, links }, counted)
}

impl HookFds {
    /// The programs' skipped runs and the kprobes' misses (None when one
    /// cannot be read).
    fn missed(&self) -> Option<u64> {
        let progs: Option<u64> = self.fds.iter().map(|fd| recursion_misses(fd.as_fd())).sum();
        let links: Option<u64> = self
            .links
            .iter()
            .map(|fd| kprobe_link_missed(fd.as_fd()))
            .sum();
        Some(progs? + links?)
    }
}

/// Descriptors of the named programs that are loaded, duplicated.
fn program_fds(ebpf: &Ebpf, names: &[String]) -> Vec<OwnedFd> {
    names
        .iter()
        .filter_map(|name| {
            let fd = ebpf.program(name)?.fd().ok()?;
            fd.as_fd().try_clone_to_owned().ok()
        })
        .collect()
}

/// Skipped runs between two readings, per hook id.
pub fn since(
    now: &[(HookId, Option<u64>)],
    then: &[(HookId, Option<u64>)],
) -> Vec<(HookId, Option<u64>)> {
    now.iter()
        .map(|&(id, n)| {
            let before = then.iter().find(|(i, _)| *i == id).and_then(|(_, b)| *b);
            (id, n.zip(before).map(|(a, b)| a.saturating_sub(b)))
        })
        .collect()
}

/// The kprobe links of the named programs (one each), from the host's
/// links (listed once into `all`: BPF_LINK_GET_NEXT_ID needs privileges,
/// so this runs at start-up). None when a program has no kprobe link (a
/// kernel that attaches kprobes without bpf_link, before 5.15).
fn kprobe_links(
    ebpf: &Ebpf,
    names: &[String],
    all: &mut Option<Vec<(u32, OwnedFd)>>,
) -> Option<Vec<OwnedFd>> {
    let all = all.get_or_insert_with(host_kprobe_links);
    names
        .iter()
        .map(|name| {
            let id = ebpf.program(name)?.info().ok()?.id();
            let (_, fd) = all.iter().find(|(prog, _)| *prog == id)?;
            fd.try_clone().ok()
        })
        .collect()
}

/// Every kprobe/kretprobe perf-event link on the host: (program id, link).
fn host_kprobe_links() -> Vec<(u32, OwnedFd)> {
    use std::os::fd::FromRawFd;

    use aya_obj::generated::{bpf_cmd, bpf_link_type, bpf_perf_event_type};
    let mut out = vec![];
    let mut id = 0u32;
    // Bounded: a link created while listing could extend it without end.
    for _ in 0..65_536 {
        // BPF_LINK_GET_NEXT_ID: attr { start_id, next_id, open_flags }.
        let mut attr = [id, 0u32, 0u32];
        if bpf(bpf_cmd::BPF_LINK_GET_NEXT_ID, &mut attr) != 0 {
            break;
        }
        id = attr[1];
        // BPF_LINK_GET_FD_BY_ID: attr { link_id, next_id, open_flags }.
        let mut by_id = [id, 0u32, 0u32];
        let fd = bpf(bpf_cmd::BPF_LINK_GET_FD_BY_ID, &mut by_id);
        if fd < 0 {
            continue;
        }
        // SAFETY: the kernel just returned this descriptor to us.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let Some(info) = link_info(fd.as_fd()) else {
            continue;
        };
        // SAFETY: perf_event is the union member a perf-event link fills.
        let pe_type = unsafe { info.__bindgen_anon_1.perf_event.type_ };
        if info.type_ == bpf_link_type::BPF_LINK_TYPE_PERF_EVENT as u32
            && (pe_type == bpf_perf_event_type::BPF_PERF_EVENT_KPROBE as u32
                || pe_type == bpf_perf_event_type::BPF_PERF_EVENT_KRETPROBE as u32)
        {
            out.push((info.prog_id, fd));
        }
    }
    out
}

/// A kprobe link's missed count (6.7+): the kprobe's nmissed, and a
/// kretprobe's returns missed for want of an instance.
fn kprobe_link_missed(fd: BorrowedFd<'_>) -> Option<u64> {
    let info = link_info(fd)?;
    // SAFETY: the union members a kprobe perf-event link fills.
    Some(unsafe {
        info.__bindgen_anon_1
            .perf_event
            .__bindgen_anon_1
            .kprobe
            .missed
    })
}

fn link_info(fd: BorrowedFd<'_>) -> Option<aya_obj::generated::bpf_link_info> {
    use aya_obj::generated::bpf_link_info;
    // SAFETY: bpf_link_info is plain old data; all zeroes is valid (and
    // leaves the kprobe's func_name buffer null: the kernel writes none).
    let mut info: bpf_link_info = unsafe { std::mem::zeroed() };
    (obj_info(fd, &mut info) == 0).then_some(info)
}

/// bpf(2) with a small attr of u32 words; returns the syscall's result.
fn bpf(cmd: aya_obj::generated::bpf_cmd, attr: &mut [u32; 3]) -> i64 {
    // SAFETY: attr is a live 12-byte buffer and its size is passed.
    unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr.as_mut_ptr(),
            std::mem::size_of_val(attr) as libc::c_uint,
        )
    }
}

/// BPF_OBJ_GET_INFO_BY_FD into `info`; returns the syscall's result.
fn obj_info<T>(fd: BorrowedFd<'_>, info: &mut T) -> i64 {
    use aya_obj::generated::bpf_cmd;
    #[repr(C)]
    struct InfoAttr {
        bpf_fd: u32,
        info_len: u32,
        info: u64,
    }
    let mut attr = InfoAttr {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: std::mem::size_of::<T>() as u32,
        info: info as *mut T as u64,
    };
    // SAFETY: attr points at a live, correctly sized info buffer; the
    // kernel writes at most info_len bytes into it.
    unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf_cmd::BPF_OBJ_GET_INFO_BY_FD as libc::c_long,
            &mut attr as *mut InfoAttr,
            std::mem::size_of::<InfoAttr>() as libc::c_uint,
        )
    }
}

/// A program's recursion_misses (BPF_OBJ_GET_INFO_BY_FD).
fn recursion_misses(fd: BorrowedFd<'_>) -> Option<u64> {
    use aya_obj::generated::bpf_prog_info;
    // SAFETY: bpf_prog_info is plain old data; all zeroes is valid.
    let mut info: bpf_prog_info = unsafe { std::mem::zeroed() };
    (obj_info(fd, &mut info) == 0).then_some(info.recursion_misses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_call_bpf_mechanisms_need_six_seven() {
        let old = MissCounting {
            prog_info: true,
            trace_call_bpf: false,
        };
        for m in ["fentry", "fentry+fexit", "tp_btf", "raw_tp"] {
            assert!(old.counts(m), "{m}");
            assert_eq!(old.why_unknown(m), None);
        }
        for m in ["kprobe", "kprobe+kretprobe", "tracepoint"] {
            assert!(!old.counts(m), "{m}");
            assert!(old.why_unknown(m).unwrap().contains("6.7"));
        }
        let none = MissCounting::default();
        assert!(!none.counts("fentry"));
        assert!(none.why_unknown("tp_btf").unwrap().contains("5.12"));
        let new = MissCounting {
            prog_info: true,
            trace_call_bpf: true,
        };
        assert!(new.counts("kprobe+kretprobe") && new.counts("tracepoint"));
    }

    #[test]
    fn programs_follow_the_mechanism() {
        let by_name = |name: &str| {
            HOOKS
                .iter()
                .find(|h| super::super::resolve::hook_name(h.id) == name)
                .unwrap()
        };
        let sn = by_name("shrink_node");
        assert_eq!(
            hook_programs(&sn.attach, "fentry+fexit"),
            ["fentry_shrink_node", "fexit_shrink_node"]
        );
        assert_eq!(hook_programs(&sn.attach, "kprobe"), ["kprobe_shrink_node"]);
        let tp = HOOKS
            .iter()
            .find(|h| matches!(h.attach, Attach::Tracepoint { .. }))
            .unwrap();
        let Attach::Tracepoint { program, .. } = tp.attach else {
            unreachable!()
        };
        assert_eq!(
            hook_programs(&tp.attach, "tp_btf"),
            [format!("btf_{program}")]
        );
        assert_eq!(
            hook_programs(&tp.attach, "raw_tp"),
            [format!("raw_{program}")]
        );
        assert_eq!(
            hook_programs(&tp.attach, "tracepoint"),
            [program.to_owned()]
        );
    }

    #[test]
    fn since_keeps_unknown_unknown() {
        let a = [
            (HookId(1), Some(10)),
            (HookId(2), None),
            (HookId(3), Some(4)),
        ];
        let b = [(HookId(1), Some(3)), (HookId(2), None), (HookId(3), None)];
        assert_eq!(
            since(&a, &b),
            [(HookId(1), Some(7)), (HookId(2), None), (HookId(3), None)]
        );
    }
}
