//! Load-time globals: filled in by the loader (EbpfLoader::override_global,
//! must_exist) before the programs are loaded.

use core::ptr::read_volatile;

use vmscan_common::Offsets;

#[unsafe(no_mangle)]
pub static OFFSETS: Offsets = Offsets::unresolved();
/// Tracepoint fields as tp_btf / raw_tp arguments (vmscan_common::ARG);
/// only the tracepoint fields are used, struct fields stay in `OFFSETS`.
#[unsafe(no_mangle)]
pub static ARG_OFFSETS: Offsets = Offsets::unresolved();
/// Address of the kernel's `vmemmap_base` variable (from /proc/kallsyms) and
/// sizeof(struct page) from BTF: turn a folio pointer into a pfn. 0 = unknown.
#[unsafe(no_mangle)]
pub static VMEMMAP_BASE_ADDR: u64 = 0;
#[unsafe(no_mangle)]
pub static STRUCT_PAGE_SIZE: u64 = 0;
/// Wake the consumer only once this many bytes are waiting (set by the
/// loader to a quarter of the ring). Waking it for every record costs an
/// irq_work and a wake-up per event (measured: shrink_inactive 5.4 us per
/// run with a wake-up each, against 0.4 us for programs that emit nothing);
/// userspace also drains at every refresh, so records wait at most one
/// interval.
#[unsafe(no_mangle)]
pub static RING_WAKEUP_BYTES: u64 = 1 << 20;
/// `vmscan access --pid / --comm`: only count folio_mark_accessed calls of
/// this process (tgid; 0 = any) and of tasks with this comm (all zero = any).
#[unsafe(no_mangle)]
pub static FILTER_TGID: u64 = 0;
#[unsafe(no_mangle)]
pub static FILTER_COMM: [u8; 16] = [0; 16];
/// 1 when the kprobe programs run beside the fentry ones to compare the two
/// mechanisms: they then only count their hits in the shadow slots.
#[unsafe(no_mangle)]
pub static KPROBE_SHADOW: u64 = 0;
/// 1 when MGLRU is on (/sys/kernel/mm/lru_gen/enabled at start-up): marks
/// are then classified by reference tier, not activation.
#[unsafe(no_mangle)]
pub static MGLRU: u64 = 0;
/// 1 when the kernel stacks of folio_mark_accessed calls are captured (the
/// commands that show them); stat and export set 0 and skip the stack walk,
/// the costliest part of that hook.
#[unsafe(no_mangle)]
pub static CAPTURE_STACKS: u64 = 1;
/// 0 when no consumer shows folio_mark_accessed's outcomes (stat, which
/// shows only how often it ran): each call is then counted and nothing more.
#[unsafe(no_mangle)]
pub static ACCESS_OUTCOMES: u64 = 1;
/// Address of the kernel's `khugepaged_thread` variable (mm/khugepaged.c,
/// from /proc/kallsyms): khugepaged is told by identity, as
/// current_is_khugepaged() does. 0 = unknown: then by its comm.
#[unsafe(no_mangle)]
pub static KHUGEPAGED_THREAD_ADDR: u64 = 0;
/// How the programs tell an interrupt from the task it interrupted
/// (vmscan_common::irq_context::SOURCE_*).
#[unsafe(no_mangle)]
pub static IRQ_CONTEXT_SOURCE: u64 = 0;
/// SOURCE_KALLSYMS: the per-CPU offset of the variable holding the
/// preempt_count (`__preempt_count`, or `pcpu_hot` plus its member's
/// offset) and the address of the kernel's `__per_cpu_offset` array.
#[unsafe(no_mangle)]
pub static PREEMPT_COUNT_OFF: u64 = 0;
#[unsafe(no_mangle)]
pub static PER_CPU_OFFSET_ADDR: u64 = 0;
/// SOURCE_STACK: the kernel's interrupt and softirq entry functions as
/// (start, length, irq_context class), sorted by start; unused ones start
/// at u64::MAX.
#[unsafe(no_mangle)]
pub static IRQ_ENTRY_RANGES: [[u64; 3]; vmscan_common::MAX_IRQ_RANGES] =
    [[u64::MAX, 0, 0]; vmscan_common::MAX_IRQ_RANGES];
/// SOURCE_STACK: the bytes bpf_get_stack writes for a stack it had to cut:
/// IRQ_STACK_DEPTH frames, or kernel.perf_event_max_stack's where fewer.
#[unsafe(no_mangle)]
pub static IRQ_STACK_FULL_BYTES: u64 = (vmscan_common::IRQ_STACK_DEPTH * 8) as u64;
/// `vmscan lab-irq-context`: the command's own process, whose getppid()
/// calls hooks::context counts (0 = off), and getppid's syscall number.
#[unsafe(no_mangle)]
pub static CONTEXT_TGID: u64 = 0;
#[unsafe(no_mangle)]
pub static CONTEXT_SYSCALL: u64 = 0;
/// `vmscan bench-ingest`: the generator process (0 = off); see hooks::storm.
#[unsafe(no_mangle)]
pub static STORM_TGID: u64 = 0;

/// Reads a u64 global as the loader left it.
#[inline(always)]
pub fn global_u64(v: &'static u64) -> u64 {
    // SAFETY: reading a static of plain integer type.
    unsafe { read_volatile(v) }
}

/// A flag global is set (non-zero).
#[inline(always)]
pub fn enabled(v: &'static u64) -> bool {
    global_u64(v) != 0
}

/// How this kernel counts workingset_refault (set by the loader from BTF and
/// MGLRU's state): see [`vmscan_common::refault_rule`].
#[unsafe(no_mangle)]
pub static REFAULT_RULE: u64 = 0;
/// The shadow entry's layout (mm/workingset.c: pack_shadow): NODES_SHIFT and
/// MEM_CGROUP_ID_SHIFT bits above the workingset bit, then the eviction
/// clock masked by EVICTION_MASK, in buckets of 2^bucket_order pages.
/// SHADOW_NODES_SHIFT = 64 (the default) means the layout is unknown: no
/// distances and no MGLRU lruvec match.
#[unsafe(no_mangle)]
pub static SHADOW_NODES_SHIFT: u64 = 64;
#[unsafe(no_mangle)]
pub static SHADOW_MEMCG_SHIFT: u64 = 16;
#[unsafe(no_mangle)]
pub static EVICTION_MASK: u64 = 0;
#[unsafe(no_mangle)]
pub static BUCKET_ORDER: u64 = 0;
/// 5.10: workingset_refault counts one per call (inc_lruvec_state).
#[unsafe(no_mangle)]
pub static REFAULT_ONE_PER_CALL: u64 = 0;
/// Whether anon refault distances use the same shadow clock as file ones.
#[unsafe(no_mangle)]
pub static ANON_DISTANCE: u64 = 1;
/// 1 when refaults are also keyed per file and per task (the commands that
/// show them); stat and export set 0 and skip those two maps.
#[unsafe(no_mangle)]
pub static REFAULT_DETAIL: u64 = 1;
/// 1 when refaults are keyed by memory cgroup and their distances measured
/// (every command but stat, which shows only the kernel's counters): stat
/// sets 0, and on the classic LRU a refault then needs neither the folio's
/// memcg nor its shadow entry unpacked.
#[unsafe(no_mangle)]
pub static REFAULT_BY_MEMCG: u64 = 1;
/// 1 where the kernel keeps cgroup reclaim out of pgscan_kswapd/direct
/// (cgroup_reclaim(sc) skips them before 7.x): a soft-limit pass is then
/// counted as memcg reclaim; 0 where cgroup reclaim is counted by who runs
/// it (7.x), so the pass keeps kswapd's or direct's label.
#[unsafe(no_mangle)]
pub static SOFTLIMIT_AS_MEMCG: u64 = 1;
/// 1 when LRU insertions, and the moves of the batches outside reclaim
/// (LRU_MOVE_MEMCG), are also counted per memory cgroup (the commands that
/// model lruvecs); stat sets 0 and skips resolving each folio's memcg.
#[unsafe(no_mangle)]
pub static MEMCG_INSERTIONS: u64 = 1;
/// 1 when every inactive-list shrink pass and shrink_node pass also goes to
/// the ring buffer as a record (`record`, whose recordings keep them); the
/// other commands only use the per-CPU aggregates and set 0.
#[unsafe(no_mangle)]
pub static EMIT_SHRINK_PASSES: u64 = 1;
/// 1 when each ended reclaim episode also goes to the ring buffer as a
/// record (the commands whose views name its memory cgroup and task); stat
/// sets 0: it shows only the per-reclaimer aggregate (EPISODES), so the
/// episode skips resolving the task's memcg and the record.
#[unsafe(no_mangle)]
pub static EMIT_EPISODES: u64 = 1;
