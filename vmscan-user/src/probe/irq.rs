//! How the programs tell an interrupt from the task it interrupted.
//!
//! wakeup_kswapd() runs for atomic allocations in softirqs and hardirqs too;
//! there `current` is whatever task was interrupted, and naming it (and its
//! memcg) as the one that woke kswapd would be wrong. Classic tracepoint
//! records carry the context in `common_flags`, but not for BPF: the kernel
//! writes the pt_regs pointer over the record's header before a program runs
//! (perf_trace_run_bpf_submit) and fills the header only afterwards
//! (perf_tp_event). So vmscan reads it one of two ways:
//!
//! - **preempt_count**, exact: this CPU's copy of the per-CPU variable that
//!   holds it (`__preempt_count`, x86 up to 6.1 and again since 6.15;
//!   `pcpu_hot.preempt_count` 6.2-6.14), at `__per_cpu_offset[cpu]` plus the
//!   variable's per-CPU offset, both from /proc/kallsyms. That needs data
//!   symbols there (CONFIG_KALLSYMS_ALL, as distribution kernels have). A
//!   typed ksym (bpf_this_cpu_ptr) would need them too: the kernel resolves
//!   one through kallsyms_lookup_name().
//! - **the kernel stack**, where kallsyms lists functions only: the
//!   innermost frame inside one of the kernel's interrupt or softirq entry
//!   functions (the NMI handler, the IDT and sysvec entries, the irq flow
//!   handlers, __do_softirq / handle_softirqs / run_ksoftirqd) names the
//!   context; no such frame is a task. `vmscan lab-irq-context` checks it
//!   where the answer is known, on every lab kernel and here.
//!
//! Otherwise the context is unknown and vmscan says so.

use vmscan_common::{
    IRQ_STACK_DEPTH, MAX_IRQ_RANGES,
    irq_context::{HARDIRQ, NMI, SOFTIRQ, SOURCE_KALLSYMS, SOURCE_NONE, SOURCE_STACK},
};

use super::btf::Btf;

/// Where the per-CPU variables are in /proc/kallsyms (0: not listed).
#[derive(Clone, Copy, Debug, Default)]
pub struct Symbols {
    pub per_cpu_offset: u64,
    pub preempt_count: u64,
    pub pcpu_hot: u64,
    /// Present only where preempt_count has another layout.
    pub local_interrupt_disable_state: u64,
}

/// How the programs tell the context on this kernel (the globals).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IrqContextSource {
    /// vmscan_common::irq_context::SOURCE_*.
    pub source: u64,
    /// PREEMPT_COUNT_OFF and PER_CPU_OFFSET_ADDR (kallsyms).
    pub preempt_count_off: u64,
    pub per_cpu_offset: u64,
    /// IRQ_ENTRY_RANGES (stack): (start, length, class) by start, unused
    /// ones at u64::MAX.
    pub ranges: [[u64; 3]; MAX_IRQ_RANGES],
    /// In words, for `vmscan probes`: how, or why it cannot be told.
    pub how: String,
}

impl IrqContextSource {
    fn none(why: String) -> Self {
        Self {
            source: SOURCE_NONE,
            preempt_count_off: 0,
            per_cpu_offset: 0,
            ranges: UNUSED,
            how: why,
        }
    }
}

/// IRQ_ENTRY_RANGES with no range: past every kernel address.
const UNUSED: [[u64; 3]; MAX_IRQ_RANGES] = [[u64::MAX, 0, 0]; MAX_IRQ_RANGES];

/// The preempt_count's per-CPU offset from kallsyms (and, for pcpu_hot,
/// its member's offset from BTF).
fn preempt_count_at(btf: Option<&Btf>, syms: Symbols) -> Option<(u64, &'static str)> {
    if syms.per_cpu_offset == 0 || preempt_count_unlike_ours(btf, syms).is_some() {
        return None;
    }
    if syms.preempt_count != 0 {
        return Some((syms.preempt_count, "__preempt_count"));
    }
    let member = btf?.member_offset("pcpu_hot", "preempt_count")?;
    (syms.pcpu_hot != 0).then(|| (syms.pcpu_hot + u64::from(member), "pcpu_hot.preempt_count"))
}

/// Why this kernel's preempt_count does not say what the masks read from
/// it (vmscan_common::irq_context) expect, if it does not:
/// - PREEMPT_RT keeps the softirq count in the task
///   (`task_struct.softirq_disable_cnt`, in BTF only there), so a softirq
///   would read as a task;
/// - a kernel that counts disabled interrupts in preempt_count (the
///   proposed HARDIRQ_DISABLE_BITS layout, with its per-CPU
///   `local_interrupt_disable_state`) moves the hardirq and NMI bits.
fn preempt_count_unlike_ours(btf: Option<&Btf>, syms: Symbols) -> Option<&'static str> {
    if btf.is_some_and(|b| {
        b.member_offset("task_struct", "softirq_disable_cnt")
            .is_some()
    }) {
        Some("PREEMPT_RT keeps the softirq count in the task")
    } else if syms.local_interrupt_disable_state != 0 {
        Some("this kernel's preempt_count has another layout (local_interrupt_disable_state)")
    } else {
        None
    }
}

/// Works out how the programs tell the context: the preempt_count where
/// kallsyms lists the variables (unless `by_stack`), else the kernel stack
/// against the entry functions `ranges` (or why there are none).
pub fn resolve(
    btf: Option<&Btf>,
    syms: Symbols,
    by_stack: bool,
    ranges: Result<Vec<[u64; 3]>, String>,
) -> IrqContextSource {
    if !by_stack && let Some((off, var)) = preempt_count_at(btf, syms) {
        return IrqContextSource {
            source: SOURCE_KALLSYMS,
            preempt_count_off: off,
            per_cpu_offset: syms.per_cpu_offset,
            ranges: UNUSED,
            how: format!("the preempt_count (per-CPU {var}, by kallsyms)"),
        };
    }
    match ranges {
        Ok(found) => {
            let mut r = UNUSED;
            for (slot, x) in r.iter_mut().zip(&found) {
                *slot = *x;
            }
            IrqContextSource {
                source: SOURCE_STACK,
                preempt_count_off: 0,
                per_cpu_offset: 0,
                ranges: r,
                how: format!(
                    "the kernel stack's innermost interrupt or softirq entry ({} address ranges; {})",
                    found.len(),
                    if by_stack {
                        "asked for"
                    } else {
                        preempt_count_unlike_ours(btf, syms)
                            .unwrap_or("/proc/kallsyms lists no per-CPU data")
                    }
                ),
            }
        }
        Err(why) => IrqContextSource::none(why),
    }
}

/// The IRQ_STACK_FULL_BYTES global: what bpf_get_stack writes for a stack
/// it cut, IRQ_STACK_DEPTH frames or kernel.perf_event_max_stack's
/// (`max_stack`, None where unreadable) where fewer.
pub fn stack_full_bytes(max_stack: Option<u64>) -> u64 {
    let depth = IRQ_STACK_DEPTH as u64;
    max_stack.unwrap_or(depth).clamp(1, depth) * 8
}

/// The entry functions whose frames name a context, by exact name or
/// prefix, most telling first (kept first when there are too many).
fn class_of(name: &str) -> Option<(u64, u8)> {
    // A compiler's clone ("__sysvec_x.cold") is part of its function.
    let base = name.split('.').next().unwrap_or(name);
    const NMI_FNS: [&str; 4] = ["asm_exc_nmi", "exc_nmi", "default_do_nmi", "nmi_handle"];
    const SOFTIRQ_FNS: [&str; 5] = [
        "handle_softirqs",
        "__do_softirq",
        "run_ksoftirqd",
        "do_softirq_own_stack",
        "do_softirq",
    ];
    // The entry stubs come first: an interrupt's chain always has one.
    const HARDIRQ_ENTRY: [&str; 2] = ["asm_sysvec_", "asm_common_interrupt"];
    const HARDIRQ_FNS: [&str; 5] = [
        "common_interrupt",
        "__common_interrupt",
        "handle_irq_event",
        "__handle_irq_event_percpu",
        "hrtimer_interrupt",
    ];
    if NMI_FNS.contains(&base) {
        Some((u64::from(NMI), 0))
    } else if SOFTIRQ_FNS.contains(&base) {
        Some((u64::from(SOFTIRQ), 0))
    } else if HARDIRQ_ENTRY.iter().any(|p| base.starts_with(p)) {
        Some((u64::from(HARDIRQ), 1))
    } else if HARDIRQ_FNS.contains(&base)
        || base.starts_with("sysvec_")
        || base.starts_with("__sysvec_")
    {
        Some((u64::from(HARDIRQ), 2))
    } else {
        None
    }
}

/// The entry functions' address ranges, from /proc/kallsyms's lines of the
/// kernel proper in address order as the kernel lists them (`add` each,
/// then `finish`): each from its symbol to the next text symbol (weak ones
/// too; function-padding `__pfx_` symbols aside), neighbours of one class
/// merged. At most MAX_IRQ_RANGES, the least telling (hardirq functions
/// past the entry stubs) dropped first.
#[derive(Default)]
pub struct EntryRanges {
    /// (start, length, class) and the rank class_of gave it.
    out: Vec<([u64; 3], u8)>,
    /// An entry function whose end (the next text symbol) is not seen yet.
    open: Option<(u64, u64, u8)>,
}

impl EntryRanges {
    /// One kallsyms line: address, type, name.
    pub fn add(&mut self, addr: u64, kind: &str, name: &str) {
        if addr == 0 || !matches!(kind, "t" | "T" | "w" | "W") || name.starts_with("__pfx_") {
            return;
        }
        if let Some((start, class, rank)) = self.open
            && addr > start
        {
            self.open = None;
            match self.out.last_mut() {
                Some((last, r)) if last[0] + last[1] == start && last[2] == class => {
                    last[1] = addr - last[0];
                    *r = (*r).min(rank);
                }
                _ => self.out.push(([start, addr - start, class], rank)),
            }
        }
        if self.open.is_none()
            && let Some((class, rank)) = class_of(name)
        {
            self.open = Some((addr, class, rank));
        }
    }

    pub fn finish(self) -> Result<Vec<[u64; 3]>, String> {
        let mut out = self.out;
        if out.is_empty() {
            return Err(
                "/proc/kallsyms lists neither the per-CPU preempt_count nor the interrupt entry functions"
                    .into(),
            );
        }
        if out.len() > MAX_IRQ_RANGES {
            log::info!(
                "{} interrupt entry ranges, {MAX_IRQ_RANGES} kept: the innermost hardirq functions past the entry stubs are left out",
                out.len()
            );
            out.sort_by_key(|(r, rank)| (*rank, r[0]));
            out.truncate(MAX_IRQ_RANGES);
            out.sort_by_key(|(r, _)| r[0]);
        }
        Ok(out.into_iter().map(|(r, _)| r).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EntryRanges over a kallsyms text, as the loader's one pass feeds it.
    fn entry_ranges(text: &str) -> Result<Vec<[u64; 3]>, String> {
        let mut e = EntryRanges::default();
        crate::probe::system::kallsyms_symbols(text.as_bytes(), [], |a, k, n| e.add(a, k, n));
        e.finish()
    }

    const H: u64 = HARDIRQ as u64;
    const S: u64 = SOFTIRQ as u64;
    const N: u64 = NMI as u64;

    const KALLSYMS: &str = "\
ffffffff81000000 T _stext
ffffffff81000d30 t __pfx_asm_common_interrupt
ffffffff81000d40 T asm_common_interrupt
ffffffff81000d80 T asm_sysvec_apic_timer_interrupt
ffffffff81000dc0 T asm_exc_page_fault
ffffffff810015b0 T asm_exc_nmi
ffffffff810016b1 T asm_exc_int3
ffffffff81200000 D some_data
ffffffff81360070 t handle_softirqs
ffffffff81360300 t __pfx_run_ksoftirqd
ffffffff81360310 t run_ksoftirqd
ffffffff81360350 W takeover_tasklets
ffffffff813e98e0 T __handle_irq_event_percpu
ffffffff813e9b00 T wakeup_kswapd
ffffffff821f1390 T sysvec_apic_timer_interrupt.cold
ffffffff821f13a0 T some_function
ffffffffc0000000 t helper_in_module\t[some_module]
ffffffffc0000100 t __do_softirq\t[not_the_kernel]
";

    #[test]
    fn a_cut_stack_is_known_by_the_shorter_of_the_buffer_and_the_sysctl() {
        assert_eq!(stack_full_bytes(None), 512);
        assert_eq!(stack_full_bytes(Some(127)), 512);
        assert_eq!(stack_full_bytes(Some(20)), 160);
        assert_eq!(stack_full_bytes(Some(0)), 8);
    }

    #[test]
    fn the_preempt_count_names_the_innermost_context() {
        use vmscan_common::irq_context::{TASK, of_preempt_count as of};
        assert_eq!(of(0), TASK);
        // x86's inverted PREEMPT_NEED_RESCHED bit, and a preempt depth.
        assert_eq!(of(0x8000_0003), TASK);
        // BH disabled (SOFTIRQ_DISABLE_OFFSET) is not serving a softirq.
        assert_eq!(of(0x200), TASK);
        assert_eq!(of(0x100), SOFTIRQ);
        assert_eq!(of(0x300), SOFTIRQ);
        // A hardirq over a softirq, an NMI over a hardirq (5.10's one NMI
        // bit and 5.11+'s four).
        assert_eq!(of(0x1_0100), HARDIRQ);
        assert_eq!(of(0x11_0000), NMI);
        assert_eq!(of(0x80_0000), NMI);
    }

    #[test]
    fn entry_ranges_span_each_function_and_merge_neighbours_of_a_class() {
        let r = entry_ranges(KALLSYMS).unwrap();
        assert_eq!(
            r,
            vec![
                // asm_common_interrupt + asm_sysvec_apic_timer_interrupt,
                // up to asm_exc_page_fault (a task's fault, not an
                // interrupt).
                [0xffffffff81000d40, 0x80, H],
                [0xffffffff810015b0, 0x101, N],
                // handle_softirqs to takeover_tasklets (weak, but text):
                // the __pfx_ padding before run_ksoftirqd is passed over.
                [0xffffffff81360070, 0x2e0, S],
                [0xffffffff813e98e0, 0x220, H],
                [0xffffffff821f1390, 0x10, H],
            ]
        );
    }

    #[test]
    fn too_many_ranges_keep_the_entry_stubs_and_softirqs() {
        let mut text = String::new();
        let mut a = 0xffffffff81000000u64;
        // 70 hardirq C handlers, each followed by an unrelated function.
        for i in 0..70 {
            text.push_str(&format!("{a:x} T sysvec_x{i}\n{:x} T other{i}\n", a + 0x10));
            a += 0x20;
        }
        text.push_str(&format!("{a:x} T asm_sysvec_y\n{:x} T other\n", a + 0x10));
        text.push_str(&format!(
            "{:x} T __do_softirq\n{:x} T other2\n",
            a + 0x20,
            a + 0x30
        ));
        let r = entry_ranges(&text).unwrap();
        assert_eq!(r.len(), MAX_IRQ_RANGES);
        assert!(r.windows(2).all(|w| w[0][0] < w[1][0]), "sorted by address");
        assert!(r.contains(&[a, 0x10, H]), "the entry stub is kept");
        assert!(
            r.contains(&[a + 0x20, 0x10, S]),
            "the softirq entry is kept"
        );
    }

    #[test]
    fn the_preempt_count_is_preferred_and_the_stack_is_the_fallback() {
        let syms = Symbols {
            per_cpu_offset: 0xffff_ffff_8260_0000,
            preempt_count: 0x1f9c0,
            ..Symbols::default()
        };
        let ranges = || entry_ranges(KALLSYMS);
        // 5.10, 6.1, 7.2 (Debian: CONFIG_KALLSYMS_ALL).
        let k = resolve(None, syms, false, ranges());
        assert_eq!(
            (k.source, k.preempt_count_off, k.per_cpu_offset),
            (SOURCE_KALLSYMS, 0x1f9c0, 0xffff_ffff_8260_0000)
        );
        // Asked for the stack (the lab's check of that path).
        let s = resolve(None, syms, true, ranges());
        assert_eq!(s.source, SOURCE_STACK);
        assert_eq!(s.ranges[0], [0xffffffff81000d40, 0x80, H]);
        assert_eq!(s.ranges[5], [u64::MAX, 0, 0]);
        // No data symbols (this host): the stack.
        let s = resolve(None, Symbols::default(), false, ranges());
        assert_eq!(s.source, SOURCE_STACK);
        assert!(s.how.contains("5 address ranges"), "{}", s.how);
        // pcpu_hot (6.12) needs its member's offset from BTF.
        let hot = Symbols {
            preempt_count: 0,
            pcpu_hot: 0x2000,
            ..syms
        };
        assert_eq!(resolve(None, hot, false, ranges()).source, SOURCE_STACK);
        // Where the masks would misread the count: the stack, saying why.
        let mut b = crate::probe::btf::tests::Builder::new();
        b.int("int", 4);
        b.composite(4, "task_struct", 64, &[("softirq_disable_cnt", 1, 0)]);
        let rt = Btf::parse(&b.finish()).unwrap();
        let s = resolve(Some(&rt), syms, false, ranges());
        assert_eq!(s.source, SOURCE_STACK);
        assert!(s.how.contains("PREEMPT_RT"), "{}", s.how);
        let moved = Symbols {
            local_interrupt_disable_state: 0x3000,
            ..syms
        };
        let s = resolve(None, moved, false, ranges());
        assert_eq!(s.source, SOURCE_STACK);
        assert!(s.how.contains("another layout"), "{}", s.how);
        // Nothing: unknown, and why.
        let n = resolve(
            None,
            Symbols::default(),
            false,
            entry_ranges("ffffffff81000000 T _stext\n"),
        );
        assert_eq!(n.source, SOURCE_NONE);
        assert!(n.how.contains("entry functions"), "{}", n.how);
    }
}
