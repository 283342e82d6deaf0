//! Plain records shared by the eBPF programs and the userspace daemon.
//!
//! Everything here is `#[repr(C)]`, `Copy`, padded explicitly and checked for
//! size, so both sides agree on the bytes without a serialisation step.
//! Kernel struct offsets are *not* here: they are resolved at start-up from
//! tracefs format files and BTF and passed in through [`Offsets`].
//!
//! - [`ids`]: reclaimers, LRU lists, hook ids and event kinds (distinct types)
//! - [`agg`]: the per-CPU aggregates, each declared once, and their slots
//! - [`offsets`]: the load-time offsets global
//! - [`Event`]: the ring buffer's episode record
#![no_std]

pub mod agg;
pub mod ids;
pub mod offsets;

pub use agg::*;
pub use ids::*;
pub use offsets::*;

/// Highest NUMA node id (exclusive) the per-node aggregate arrays cover.
/// A node id at or above it is counted in the `NODE_OVERFLOW` slot so that
/// nothing is silently dropped; userspace reports that slot when non-zero.
pub const MAX_NODES: u32 = 64;

/// Records the synthetic storm program (`vmscan bench-ingest`) emits per
/// getppid() call of its generator.
pub const STORM_BATCH: u32 = 16;

/// Default size of the episode ring buffer (`EVENTS`), in bytes: the eBPF
/// object's own size and the loader's default (`--ring-kib`).
pub const RING_BYTES: u32 = 4 << 20;

/// DEF_PRIORITY (mm/vmscan.c): the first (gentlest) scan priority of a pass.
pub const DEF_PRIORITY: i32 = 12;

/// PF_* task flags (include/linux/sched.h). These are constants of the kernel
/// ABI rather than struct layout, unchanged for these values since 2.6.
pub const PF_EXITING: u32 = 0x0000_0004;
pub const PF_KSWAPD: u32 = 0x0002_0000;

/// [`Event::flags`] of a memcg reclaim episode whose `cgroup_id` is
/// try_to_free_mem_cgroup_pages' own argument.
pub const RECLAIM_TARGET: u32 = 1;

/// The context a program ran in, from the CPU's preempt_count (see
/// [`irq_context::of_preempt_count`]) or the kernel stack: [`Event::flags`] of a WAKEUP_KSWAPD
/// record. In an interrupt `current` is the task it interrupted, not the
/// one that asked for memory.
pub mod irq_context {
    /// Not told: no way on this kernel, or a kernel stack too deep or
    /// nested too far to tell.
    pub const UNKNOWN: u32 = 0;
    pub const TASK: u32 = 1;
    /// Serving a softirq (in_serving_softirq(); BH merely disabled is TASK).
    pub const SOFTIRQ: u32 = 2;
    pub const HARDIRQ: u32 = 3;
    pub const NMI: u32 = 4;
    pub const COUNT: u32 = 5;

    /// include/linux/preempt.h: SOFTIRQ_OFFSET (bit 8), HARDIRQ_MASK (bits
    /// 16-19), NMI_MASK (bit 20 on 5.10, bits 20-23 since 5.11). Constants
    /// of the kernel's ABI, not struct layout; x86's inverted
    /// PREEMPT_NEED_RESCHED bit (31) lies outside all three.
    pub const SOFTIRQ_OFFSET: u32 = 1 << 8;
    pub const HARDIRQ_MASK: u32 = 0xf << 16;
    pub const NMI_MASK: u32 = 0xf << 20;

    /// The context a preempt_count value says the CPU is in, innermost
    /// first: an NMI can interrupt a hardirq, which can interrupt a softirq.
    pub const fn of_preempt_count(pc: u32) -> u32 {
        if pc & NMI_MASK != 0 {
            NMI
        } else if pc & HARDIRQ_MASK != 0 {
            HARDIRQ
        } else if pc & SOFTIRQ_OFFSET != 0 {
            SOFTIRQ
        } else {
            TASK
        }
    }

    /// How the programs tell the context (the `IRQ_CONTEXT_SOURCE` global):
    /// not at all; from the preempt_count, at kallsyms addresses
    /// (__per_cpu_offset[cpu] + the variable's per-CPU offset); from the
    /// kernel stack's innermost interrupt or softirq entry function.
    pub const SOURCE_NONE: u64 = 0;
    pub const SOURCE_KALLSYMS: u64 = 1;
    pub const SOURCE_STACK: u64 = 2;
}

/// Kernel frames the stack source looks through for an entry function.
pub const IRQ_STACK_DEPTH: usize = 64;
/// Entry-function address ranges the stack source can hold.
pub const MAX_IRQ_RANGES: usize = 64;

/// `vmscan lab-irq-context`'s probes, where the context is known.
pub mod context_check {
    pub const SOFTIRQ_ENTRY: u32 = 0;
    pub const SOFTIRQ_ENTRY_TP: u32 = 1;
    pub const LOCAL_TIMER_ENTRY: u32 = 2;
    pub const SYS_ENTER: u32 = 3;
    pub const COUNT: u32 = 4;
}

/// One episode record (ring buffer). Fields not used by a kind are zero.
///
/// THROTTLED records (mm_vmscan_throttled) carry the delay actually waited in
/// `scanned` and the timeout asked for in `reclaimed`, both in microseconds,
/// and the reason bit in `flags`; userspace decodes them once, by kind.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// Reclaimer kind (reclaimer::*), for reclaim and shrink records.
    pub reclaimer: u32,
    pub ts_ns: u64,
    pub start_ns: u64,
    pub pid: u32,
    pub nid: i32,
    pub zid: i32,
    pub order: i32,
    pub gfp: u64,
    /// Pages reclaimed (episode end / shrink pass).
    pub reclaimed: u64,
    pub scanned: u64,
    pub priority: i32,
    /// Reclaim episodes: [`RECLAIM_TARGET`] when `cgroup_id` is the memory
    /// cgroup the kernel reclaimed, not the task's. kswapd wake-up requests:
    /// the [`irq_context`] the request was made in.
    pub flags: u32,
    pub comm: [u8; 16],
    /// Memory cgroup (kernfs id = cgroup directory inode) of the task, for
    /// reclaim episodes and kswapd wake-ups; 0 when unknown, and for a
    /// wake-up asked for in an interrupt (the task is not the asker).
    pub cgroup_id: u64,
}

impl Event {
    /// A record of `kind` with every other field zero.
    pub const fn new(kind: EventKind) -> Self {
        Self {
            kind,
            reclaimer: 0,
            ts_ns: 0,
            start_ns: 0,
            pid: 0,
            nid: 0,
            zid: 0,
            order: 0,
            gfp: 0,
            reclaimed: 0,
            scanned: 0,
            priority: 0,
            flags: 0,
            comm: [0; 16],
            cgroup_id: 0,
        }
    }
}

const _: () = assert!(core::mem::size_of::<Event>() == 96);

#[cfg(feature = "user")]
mod pod {
    use super::*;
    // SAFETY: every type below is #[repr(C)] (or transparent over u32), made
    // only of integers and integer arrays, with explicit padding, so any byte
    // pattern is valid.
    unsafe impl aya::Pod for Offsets {}
    // SAFETY: as above.
    unsafe impl aya::Pod for IsolateAgg {}
    // SAFETY: as above.
    unsafe impl aya::Pod for ShrinkInactiveAgg {}
    // SAFETY: as above.
    unsafe impl aya::Pod for ShrinkActiveAgg {}
    // SAFETY: as above.
    unsafe impl aya::Pod for FolioAgg {}
    // SAFETY: as above.
    unsafe impl aya::Pod for ThrottleAgg {}
    // SAFETY: as above.
    unsafe impl aya::Pod for AccessKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for AccessAgg {}
    // SAFETY: as above.
    unsafe impl aya::Pod for Event {}
    // SAFETY: as above.
    unsafe impl aya::Pod for MemcgLruKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for MemcgMoveKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for ReclaimPagesAgg {}
    // SAFETY: as above.
    unsafe impl aya::Pod for EpisodeAgg {}
    // SAFETY: as above.
    unsafe impl aya::Pod for RefaultKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for RefaultAgg {}
    // SAFETY: as above.
    unsafe impl aya::Pod for RefaultDistKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for RefaultFileKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for RefaultTaskKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for PagesAgg {}
}
