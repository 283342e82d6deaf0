//! vmscan's kernel side: one thin entry point per hook, each calling a `try_*`
//! function that returns `Result` and never panics.
//!
//! Hot paths (LRU insertion, isolation, shrink passes, folio_mark_accessed)
//! only add to per-CPU aggregates; episodes (kswapd wake/sleep, reclaim
//! begin/end, shrink passes) also go to the `EVENTS` ring buffer, and every
//! reservation that fails is counted per hook and per CPU in `LOST`.
//!
//! Rust eBPF cannot emit CO-RE relocations, so every field offset is read
//! from the `OFFSETS` global that userspace fills from tracefs format files
//! and BTF before loading.
#![no_std]
#![no_main]

use core::ptr::{addr_of, read_volatile};

use aya_ebpf::{
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_task, bpf_ktime_get_ns,
        bpf_probe_read_kernel,
    },
    macros::{fentry, fexit, kprobe, kretprobe, map},
    maps::{LruHashMap, PerCpuArray, PerCpuHashMap, RingBuf, StackTrace},
    programs::{
        FEntryContext, FExitContext, ProbeContext, RetProbeContext, TracePointContext,
        tracing::StackIdContext,
    },
};
use vmscan_common::{
    AccessAgg, AccessKey, Event, MEMCG_LRU_ENTRIES, MemcgLruKey, FolioAgg, HIST_BUCKETS, HIST_SLOTS, ISOLATE_SLOTS, IsolateAgg,
    LRU_SLOTS, NODE_OVERFLOW, NODE_SLOTS, Offsets, PF_EXITING, PF_KSWAPD, SHRINK_SLOTS, STORM_BATCH,
    ShrinkActiveAgg, ShrinkInactiveAgg, THROTTLE_REASONS, THROTTLE_SLOTS, ThrottleAgg,
    UNRESOLVED, WRITE_SLOTS, event, hist, hook, log2_bucket, lru, outcome, reclaimer,
    shrink_index,
};

/// What a tracepoint program returns. A perf-event tracepoint program's
/// return value filters the event for every other perf listener of that
/// tracepoint (kernel/trace/trace_event_perf.c: perf_trace_run_bpf_submit
/// drops it on 0), so vmscan returns 1 and never hides events from
/// `perf stat` or other tools running beside it.
const PASS_ON: u32 = 1;

/// Entry point of a classic tracepoint program. aya-ebpf's #[tracepoint]
/// macro discards the function's result and returns 0, which would filter
/// the event out for every perf listener; this one returns what the body does.
macro_rules! tracepoint {
    ($name:ident, $body:ident) => {
        #[unsafe(no_mangle)]
        #[unsafe(link_section = "tracepoint")]
        pub fn $name(ctx: *mut core::ffi::c_void) -> u32 {
            $body(TracePointContext::new(ctx))
        }
    };
}

/// Filled in by the loader (EbpfLoader::override_global, must_exist).
#[unsafe(no_mangle)]
static OFFSETS: Offsets = Offsets::unresolved();
/// Address of the kernel's `vmemmap_base` variable (from /proc/kallsyms) and
/// sizeof(struct page) from BTF: turn a folio pointer into a pfn. 0 = unknown.
#[unsafe(no_mangle)]
static VMEMMAP_BASE_ADDR: u64 = 0;
#[unsafe(no_mangle)]
static STRUCT_PAGE_SIZE: u64 = 0;
/// Wake the consumer only once this many bytes are waiting (set by the
/// loader to a quarter of the ring). Waking it for every record costs an
/// irq_work and a wake-up per event (measured: shrink_inactive 5.4 us per
/// run with a wake-up each, against 0.4 us for programs that emit nothing);
/// userspace also drains at every refresh, so records wait at most one
/// interval.
#[unsafe(no_mangle)]
static RING_WAKEUP_BYTES: u64 = 1 << 20;

/// bpf_ringbuf_submit flags and bpf_ringbuf_query's BPF_RB_AVAIL_DATA.
const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const BPF_RB_AVAIL_DATA: u64 = 0;

macro_rules! off {
    ($field:ident) => {
        // SAFETY: OFFSETS is a plain static; the volatile read keeps the
        // compiler from folding the pre-load default into the code.
        unsafe { read_volatile(addr_of!(OFFSETS.$field)) }
    };
}

fn global_u64(v: &'static u64) -> u64 {
    // SAFETY: reading a static of plain integer type.
    unsafe { read_volatile(v) }
}

#[map]
static HITS: PerCpuArray<u64> = PerCpuArray::with_max_entries(hook::SLOTS, 0);
#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(hook::SLOTS, 0);
/// `vmscan access --pid / --comm`: only count folio_mark_accessed calls of
/// this process (tgid; 0 = any) and of tasks with this comm (all zero = any).
#[unsafe(no_mangle)]
static FILTER_TGID: u64 = 0;
#[unsafe(no_mangle)]
static FILTER_COMM: [u8; 16] = [0; 16];

/// 1 when the kprobe programs run beside the fentry ones to compare the two
/// mechanisms: they then only count their hits in the shadow slots.
#[unsafe(no_mangle)]
static KPROBE_SHADOW: u64 = 0;
/// 1 when MGLRU is on (/sys/kernel/mm/lru_gen/enabled at start-up): marks
/// are then classified by reference tier, not activation.
#[unsafe(no_mangle)]
static MGLRU: u64 = 0;
/// 1 when the kernel stacks of folio_mark_accessed calls are captured (the
/// commands that show them); stat and export set 0 and skip the stack walk,
/// the costliest part of that hook.
#[unsafe(no_mangle)]
static CAPTURE_STACKS: u64 = 1;
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(1 << 22, 0);
#[map]
static ISOLATE: PerCpuArray<IsolateAgg> = PerCpuArray::with_max_entries(ISOLATE_SLOTS, 0);
#[map]
static SHRINK_INACTIVE: PerCpuArray<ShrinkInactiveAgg> =
    PerCpuArray::with_max_entries(SHRINK_SLOTS, 0);
#[map]
static SHRINK_ACTIVE: PerCpuArray<ShrinkActiveAgg> =
    PerCpuArray::with_max_entries(SHRINK_SLOTS, 0);
#[map]
static LRU_INSERT: PerCpuArray<FolioAgg> = PerCpuArray::with_max_entries(LRU_SLOTS, 0);
#[map]
static LRU_ACTIVATE: PerCpuArray<FolioAgg> = PerCpuArray::with_max_entries(LRU_SLOTS, 0);
#[map]
static WRITE_FOLIO: PerCpuArray<u64> = PerCpuArray::with_max_entries(WRITE_SLOTS, 0);
#[map]
static THROTTLE: PerCpuArray<ThrottleAgg> = PerCpuArray::with_max_entries(THROTTLE_SLOTS, 0);
#[map]
static HIST: PerCpuArray<u64> = PerCpuArray::with_max_entries(HIST_SLOTS, 0);
/// LRU insertions per (memory cgroup, node, list).
#[map]
static LRU_INSERT_MEMCG: PerCpuHashMap<MemcgLruKey, FolioAgg> =
    PerCpuHashMap::with_max_entries(MEMCG_LRU_ENTRIES, 0);
#[map]
static ACCESS: PerCpuHashMap<AccessKey, AccessAgg> = PerCpuHashMap::with_max_entries(16384, 0);
#[map]
static STACKS: StackTrace = StackTrace::with_max_entries(16384, 0);
/// In-flight direct / memcg / node reclaim per task, keyed by pid.
#[map]
static RECLAIM_CTX: LruHashMap<u32, ReclaimCtx> = LruHashMap::with_max_entries(16384, 0);
/// folio pointer -> folio_add_lru time, until mm_lru_insertion drains it.
#[map]
static BATCH_START: LruHashMap<u64, u64> = LruHashMap::with_max_entries(65536, 0);
/// shrink_node entry state per task (fentry/kprobe -> fexit/kretprobe).
#[map]
static SHRINK_NODE_CTX: LruHashMap<u32, ShrinkNodeCtx> = LruHashMap::with_max_entries(4096, 0);

#[repr(C)]
#[derive(Clone, Copy)]
struct ReclaimCtx {
    kind: u32,
    order: i32,
    start_ns: u64,
    gfp: u64,
    nid: i32,
    _pad: u32,
    cgroup_id: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct ShrinkNodeCtx {
    start_ns: u64,
    sc: u64,
    reclaimed_before: u64,
    nid: u32,
    reclaimer: u32,
}

#[inline(always)]
fn bump(map: &PerCpuArray<u64>, idx: u32, by: u64) {
    if let Some(p) = map.get_ptr_mut(idx) {
        // SAFETY: per-CPU slot owned by this CPU for the program's duration.
        unsafe { *p += by };
    }
}

#[inline(always)]
fn hit(h: u32) {
    bump(&HITS, h, 1);
}

#[inline(always)]
fn node_slot(nid: i64) -> u32 {
    if nid < 0 || nid >= NODE_OVERFLOW as i64 { NODE_OVERFLOW } else { nid as u32 }
}

#[inline(always)]
fn tp<T>(ctx: &TracePointContext, off: u32) -> Result<T, i64> {
    if off == UNRESOLVED {
        return Err(-1);
    }
    // SAFETY: the offset comes from this kernel's format file for this event.
    unsafe { ctx.read_at::<T>(off as usize) }.map_err(|e| e as i64)
}

#[inline(always)]
fn kread<T>(base: u64, off: u32) -> Result<T, i64> {
    if off == UNRESOLVED || base == 0 {
        return Err(-1);
    }
    // SAFETY: bpf_probe_read_kernel copes with any address; the offset is
    // from this kernel's BTF.
    unsafe { bpf_probe_read_kernel((base + off as u64) as *const T) }.map_err(|e| e as i64)
}

#[inline(always)]
fn current_task_flags() -> u32 {
    // SAFETY: the helper returns the current task_struct pointer.
    let task = unsafe { bpf_get_current_task() };
    kread::<u32>(task, off!(task_flags)).unwrap_or(0)
}

#[inline(always)]
fn current_pid() -> u32 {
    bpf_get_current_pid_tgid() as u32
}

/// Who is running this reclaim pass: an open begin/end episode of this task,
/// else kswapd by PF_KSWAPD, else OTHER (mm/vmscan.c: reclaimer_offset).
#[inline(always)]
fn current_reclaimer() -> (u32, i32) {
    let pid = current_pid();
    // SAFETY: the value is copied out at once.
    if let Some(c) = unsafe { RECLAIM_CTX.get(&pid) } {
        return (c.kind, c.nid);
    }
    if current_task_flags() & PF_KSWAPD != 0 {
        return (reclaimer::KSWAPD, -1);
    }
    (reclaimer::OTHER, -1)
}

/// Node of a pfn from the node start table (ascending starts).
#[inline(always)]
fn pfn_node(pfn: u64) -> u32 {
    let n = off!(nr_nodes);
    let mut node = 0u32;
    let mut i = 0usize;
    while i < 16 {
        if i as u32 >= n {
            break;
        }
        // SAFETY: i < 16, the array's length.
        let start = unsafe { read_volatile(addr_of!(OFFSETS.node_start_pfn[i])) };
        if pfn >= start {
            // SAFETY: as above.
            node = unsafe { read_volatile(addr_of!(OFFSETS.node_id[i])) };
        }
        i += 1;
    }
    node_slot(node as i64)
}

#[inline(always)]
fn folio_flags(folio: u64) -> u64 {
    kread::<u64>(folio, off!(folio_flags)).unwrap_or(0)
}

#[inline(always)]
fn bit(flags: u64, b: u32) -> bool {
    b < 64 && flags & (1u64 << b) != 0
}

/// folio_nr_pages(): 1 for a small folio, else _nr_pages (or 1 << order).
#[inline(always)]
fn folio_pages(folio: u64, flags: u64) -> u64 {
    if !bit(flags, off!(pg_head)) {
        return 1;
    }
    if let Ok(n) = kread::<u32>(folio, off!(folio_nr_pages)) {
        return n as u64;
    }
    match kread::<u64>(folio, off!(folio_flags_1)) {
        Ok(f1) => 1u64 << (f1 & 0x1f),
        Err(_) => 1,
    }
}

#[inline(always)]
fn folio_node(folio: u64) -> u32 {
    let base_addr = global_u64(&VMEMMAP_BASE_ADDR);
    let page_size = global_u64(&STRUCT_PAGE_SIZE);
    if base_addr == 0 || page_size == 0 {
        return NODE_OVERFLOW;
    }
    // SAFETY: reading the kernel's vmemmap_base variable.
    let base = match unsafe { bpf_probe_read_kernel(base_addr as *const u64) } {
        Ok(b) => b,
        Err(_) => return NODE_OVERFLOW,
    };
    if folio < base {
        return NODE_OVERFLOW;
    }
    pfn_node((folio - base) / page_size)
}

/// kernfs id of a memory cgroup's css: css->cgroup->kn->id.
#[inline(always)]
fn css_cgroup_id(css: u64) -> u64 {
    let Ok(cgrp) = kread::<u64>(css, off!(css_cgroup)) else { return 0 };
    let Ok(kn) = kread::<u64>(cgrp, off!(cgroup_kn)) else { return 0 };
    kread::<u64>(kn, off!(kn_id)).unwrap_or(0)
}

/// Memory cgroup of the current task (task->cgroups->subsys[memory_cgrp_id]).
#[inline(always)]
fn current_memcg_id() -> u64 {
    let id = off!(memory_cgrp_id);
    let subsys = off!(css_set_subsys);
    if id == UNRESOLVED || subsys == UNRESOLVED || id >= 64 {
        return 0;
    }
    // SAFETY: the helper returns the current task_struct pointer.
    let task = unsafe { bpf_get_current_task() };
    let Ok(cset) = kread::<u64>(task, off!(task_cgroups)) else { return 0 };
    let Ok(css) = kread::<u64>(cset, subsys + id * 8) else { return 0 };
    css_cgroup_id(css)
}

/// Memory cgroup a folio is charged to (folio_memcg()), 0 when none.
#[inline(always)]
fn folio_memcg_id(folio: u64) -> u64 {
    let mask = off!(memcg_data_mask);
    if mask == UNRESOLVED {
        return 0;
    }
    let Ok(data) = kread::<u64>(folio, off!(folio_memcg_data)) else { return 0 };
    let memcg = data & !(mask as u64);
    if memcg == 0 {
        return 0;
    }
    let css = off!(memcg_css);
    if css == UNRESOLVED {
        return 0;
    }
    css_cgroup_id(memcg + css as u64)
}

#[inline(always)]
fn emit(h: u32, fill: impl FnOnce(&mut Event)) -> bool {
    match EVENTS.reserve::<Event>(0) {
        Some(mut entry) => {
            let mut ev = zero_event();
            // SAFETY: the helper takes no arguments.
            ev.ts_ns = unsafe { bpf_ktime_get_ns() };
            ev.pid = current_pid();
            ev.comm = bpf_get_current_comm().unwrap_or([0; 16]);
            fill(&mut ev);
            entry.write(ev);
            let flags = if EVENTS.query(BPF_RB_AVAIL_DATA) >= global_u64(&RING_WAKEUP_BYTES) {
                BPF_RB_FORCE_WAKEUP
            } else {
                BPF_RB_NO_WAKEUP
            };
            entry.submit(flags);
            true
        }
        None => {
            bump(&LOST, h, 1);
            false
        }
    }
}

// ------------------------------------------- synthetic storm (benchmark) ---

/// `vmscan bench-ingest`: the generator process (STORM_TGID; 0 = off) calls
/// getppid() in a loop and every call emits STORM_BATCH shrink-pass records
/// through the same ring buffer and wake-up policy as the real hooks.
/// Never attached outside that command.
#[unsafe(no_mangle)]
static STORM_TGID: u64 = 0;
/// [records submitted, reserves that failed (lost)].
#[map]
static STORM: PerCpuArray<u64> = PerCpuArray::with_max_entries(2, 0);

tracepoint!(bench_storm, bench_storm_impl);
#[inline(always)]
fn bench_storm_impl(_ctx: TracePointContext) -> u32 {
    let tgid = global_u64(&STORM_TGID);
    if tgid == 0 || (bpf_get_current_pid_tgid() >> 32) != tgid {
        return PASS_ON;
    }
    for i in 0..STORM_BATCH {
        let ok = emit(hook::SHRINK_INACTIVE, |e| {
            e.kind = hook::SHRINK_INACTIVE;
            e.reclaimer = reclaimer::OTHER;
            e.scanned = 32;
            e.reclaimed = (i & 31) as u64;
            e.priority = 12;
        });
        bump(&STORM, if ok { 0 } else { 1 }, 1);
    }
    PASS_ON
}

#[inline(always)]
const fn zero_event() -> Event {
    Event {
        kind: 0,
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

// ---------------------------------------------------------------- kswapd ---

tracepoint!(vmscan_kswapd_wake, vmscan_kswapd_wake_impl);
#[inline(always)]
fn vmscan_kswapd_wake_impl(ctx: TracePointContext) -> u32 {
    hit(hook::KSWAPD_WAKE);
    let _ = try_kswapd_wake(&ctx);
    PASS_ON
}

fn try_kswapd_wake(ctx: &TracePointContext) -> Result<(), i64> {
    let nid: i32 = tp(ctx, off!(kswapd_wake_nid))?;
    let zid: i32 = tp(ctx, off!(kswapd_wake_zid))?;
    let order: i32 = tp(ctx, off!(kswapd_wake_order))?;
    emit(hook::KSWAPD_WAKE, |e| {
        e.kind = event::KSWAPD_WAKE;
        e.reclaimer = reclaimer::KSWAPD;
        e.nid = nid;
        e.zid = zid;
        e.order = order;
    });
    Ok(())
}

tracepoint!(vmscan_kswapd_sleep, vmscan_kswapd_sleep_impl);
#[inline(always)]
fn vmscan_kswapd_sleep_impl(ctx: TracePointContext) -> u32 {
    hit(hook::KSWAPD_SLEEP);
    if let Ok(nid) = tp::<i32>(&ctx, off!(kswapd_sleep_nid)) {
        emit(hook::KSWAPD_SLEEP, |e| {
            e.kind = event::KSWAPD_SLEEP;
            e.reclaimer = reclaimer::KSWAPD;
            e.nid = nid;
        });
    }
    PASS_ON
}

tracepoint!(vmscan_wakeup_kswapd, vmscan_wakeup_kswapd_impl);
#[inline(always)]
fn vmscan_wakeup_kswapd_impl(ctx: TracePointContext) -> u32 {
    hit(hook::WAKEUP_KSWAPD);
    let _ = try_wakeup_kswapd(&ctx);
    PASS_ON
}

fn try_wakeup_kswapd(ctx: &TracePointContext) -> Result<(), i64> {
    let nid: i32 = tp(ctx, off!(wakeup_nid))?;
    let zid: i32 = tp(ctx, off!(wakeup_zid))?;
    let order: i32 = tp(ctx, off!(wakeup_order))?;
    let gfp: u64 = tp(ctx, off!(wakeup_gfp))?;
    let cgroup_id = current_memcg_id();
    emit(hook::WAKEUP_KSWAPD, |e| {
        e.kind = event::WAKEUP_KSWAPD;
        e.cgroup_id = cgroup_id;
        e.nid = nid;
        e.zid = zid;
        e.order = order;
        e.gfp = gfp;
    });
    Ok(())
}

// ------------------------------------------------- reclaim begin / end ---

#[inline(always)]
fn begin(kind: u32, order: i32, gfp: u64, nid: i32) {
    let mut kind = kind;
    if kind == reclaimer::DIRECT {
        // mm/vmscan.c: current_is_khugepaged() makes it pgscan_khugepaged.
        if let Ok(comm) = bpf_get_current_comm() {
            if comm.starts_with(b"khugepaged\0") {
                kind = reclaimer::KHUGEPAGED;
            }
        }
    }
    let ctx = ReclaimCtx {
        kind,
        order,
        // SAFETY: the helper takes no arguments.
        start_ns: unsafe { bpf_ktime_get_ns() },
        gfp,
        nid,
        _pad: 0,
        cgroup_id: current_memcg_id(),
    };
    let _ = RECLAIM_CTX.insert(&current_pid(), &ctx, 0);
}

#[inline(always)]
fn end(h: u32, reclaimed: u64) {
    let pid = current_pid();
    // SAFETY: copied out before the entry is removed.
    let Some(c) = (unsafe { RECLAIM_CTX.get(&pid) }).copied() else {
        // The episode began before vmscan attached: no start time to report.
        return;
    };
    let _ = RECLAIM_CTX.remove(&pid);
    emit(h, |e| {
        e.kind = event::RECLAIM_END;
        e.reclaimer = c.kind;
        e.start_ns = c.start_ns;
        e.order = c.order;
        e.gfp = c.gfp;
        e.nid = c.nid;
        e.reclaimed = reclaimed;
        e.cgroup_id = c.cgroup_id;
    });
}

tracepoint!(vmscan_direct_reclaim_begin, vmscan_direct_reclaim_begin_impl);
#[inline(always)]
fn vmscan_direct_reclaim_begin_impl(ctx: TracePointContext) -> u32 {
    hit(hook::DIRECT_BEGIN);
    let order = tp::<i32>(&ctx, off!(direct_begin_order)).unwrap_or(-1);
    let gfp = tp::<u64>(&ctx, off!(direct_begin_gfp)).unwrap_or(0);
    begin(reclaimer::DIRECT, order, gfp, -1);
    PASS_ON
}

tracepoint!(vmscan_direct_reclaim_end, vmscan_direct_reclaim_end_impl);
#[inline(always)]
fn vmscan_direct_reclaim_end_impl(ctx: TracePointContext) -> u32 {
    hit(hook::DIRECT_END);
    end(hook::DIRECT_END, tp::<u64>(&ctx, off!(direct_end_reclaimed)).unwrap_or(0));
    PASS_ON
}

tracepoint!(vmscan_memcg_reclaim_begin, vmscan_memcg_reclaim_begin_impl);
#[inline(always)]
fn vmscan_memcg_reclaim_begin_impl(ctx: TracePointContext) -> u32 {
    hit(hook::MEMCG_BEGIN);
    let order = tp::<i32>(&ctx, off!(memcg_begin_order)).unwrap_or(-1);
    let gfp = tp::<u64>(&ctx, off!(memcg_begin_gfp)).unwrap_or(0);
    begin(reclaimer::MEMCG, order, gfp, -1);
    PASS_ON
}

tracepoint!(vmscan_memcg_reclaim_end, vmscan_memcg_reclaim_end_impl);
#[inline(always)]
fn vmscan_memcg_reclaim_end_impl(ctx: TracePointContext) -> u32 {
    hit(hook::MEMCG_END);
    end(hook::MEMCG_END, tp::<u64>(&ctx, off!(memcg_end_reclaimed)).unwrap_or(0));
    PASS_ON
}

tracepoint!(vmscan_node_reclaim_begin, vmscan_node_reclaim_begin_impl);
#[inline(always)]
fn vmscan_node_reclaim_begin_impl(ctx: TracePointContext) -> u32 {
    hit(hook::NODE_BEGIN);
    let nid = tp::<i32>(&ctx, off!(node_begin_nid)).unwrap_or(-1);
    let order = tp::<i32>(&ctx, off!(node_begin_order)).unwrap_or(-1);
    let gfp = tp::<u64>(&ctx, off!(node_begin_gfp)).unwrap_or(0);
    begin(reclaimer::NODE, order, gfp, nid);
    PASS_ON
}

tracepoint!(vmscan_node_reclaim_end, vmscan_node_reclaim_end_impl);
#[inline(always)]
fn vmscan_node_reclaim_end_impl(ctx: TracePointContext) -> u32 {
    hit(hook::NODE_END);
    end(hook::NODE_END, tp::<u64>(&ctx, off!(node_end_reclaimed)).unwrap_or(0));
    PASS_ON
}

// ------------------------------------------------ isolation and shrink ---

tracepoint!(vmscan_lru_isolate, vmscan_lru_isolate_impl);
#[inline(always)]
fn vmscan_lru_isolate_impl(ctx: TracePointContext) -> u32 {
    hit(hook::LRU_ISOLATE);
    let _ = try_lru_isolate(&ctx);
    PASS_ON
}

fn try_lru_isolate(ctx: &TracePointContext) -> Result<(), i64> {
    let lru_id: i32 = tp(ctx, off!(iso_lru))?;
    if lru_id < 0 || lru_id as u32 >= lru::COUNT {
        aya_log_ebpf::warn!(ctx, "mm_vmscan_lru_isolate: lru {} is not a known list", lru_id);
        return Err(-1);
    }
    let (rec, _) = current_reclaimer();
    let idx = rec * lru::COUNT + lru_id as u32;
    let requested: u64 = tp(ctx, off!(iso_requested))?;
    let scanned: u64 = tp(ctx, off!(iso_scanned))?;
    let skipped: u64 = tp(ctx, off!(iso_skipped))?;
    let taken: u64 = tp(ctx, off!(iso_taken))?;
    if let Some(a) = ISOLATE.get_ptr_mut(idx) {
        // SAFETY: per-CPU slot.
        let a = unsafe { &mut *a };
        a.events += 1;
        a.requested += requested;
        a.scanned += scanned;
        a.skipped += skipped;
        a.taken += taken;
    }
    Ok(())
}

/// reclaim_flags: RECLAIM_WB_FILE is 0x2 (include/trace/events/vmscan.h).
const RECLAIM_WB_FILE: i32 = 0x0002;

tracepoint!(vmscan_lru_shrink_inactive, vmscan_lru_shrink_inactive_impl);
#[inline(always)]
fn vmscan_lru_shrink_inactive_impl(ctx: TracePointContext) -> u32 {
    hit(hook::SHRINK_INACTIVE);
    let _ = try_shrink_inactive(&ctx);
    PASS_ON
}

fn try_shrink_inactive(ctx: &TracePointContext) -> Result<(), i64> {
    let nid: i32 = tp(ctx, off!(si_nid))?;
    let flags: i32 = tp(ctx, off!(si_flags))?;
    let priority: i32 = tp(ctx, off!(si_priority))?;
    let scanned: u64 = tp(ctx, off!(si_scanned))?;
    let reclaimed: u64 = tp(ctx, off!(si_reclaimed))?;
    let file = (flags & RECLAIM_WB_FILE != 0) as u32;
    let (rec, _) = current_reclaimer();
    let node = node_slot(nid as i64);
    if let Some(a) = SHRINK_INACTIVE.get_ptr_mut(shrink_index(node, rec, file)) {
        // SAFETY: per-CPU slot.
        let a = unsafe { &mut *a };
        a.passes += 1;
        a.scanned += scanned;
        a.reclaimed += reclaimed;
        a.dirty += tp::<u64>(ctx, off!(si_dirty)).unwrap_or(0);
        a.writeback += tp::<u64>(ctx, off!(si_writeback)).unwrap_or(0);
        a.congested += tp::<u64>(ctx, off!(si_congested)).unwrap_or(0);
        a.immediate += tp::<u64>(ctx, off!(si_immediate)).unwrap_or(0);
        a.activate_anon += tp::<u32>(ctx, off!(si_activate0)).unwrap_or(0) as u64;
        a.activate_file += tp::<u32>(ctx, off!(si_activate1)).unwrap_or(0) as u64;
        a.ref_keep += tp::<u64>(ctx, off!(si_ref_keep)).unwrap_or(0);
        a.unmap_fail += tp::<u64>(ctx, off!(si_unmap_fail)).unwrap_or(0);
        let p = (priority & 15) as usize;
        a.priority[p] += 1;
    }
    emit(hook::SHRINK_INACTIVE, |e| {
        e.kind = event::SHRINK_INACTIVE;
        e.reclaimer = rec;
        e.nid = nid;
        e.scanned = scanned;
        e.reclaimed = reclaimed;
        e.priority = priority;
        e.flags = flags as u32;
    });
    Ok(())
}

tracepoint!(vmscan_lru_shrink_active, vmscan_lru_shrink_active_impl);
#[inline(always)]
fn vmscan_lru_shrink_active_impl(ctx: TracePointContext) -> u32 {
    hit(hook::SHRINK_ACTIVE);
    let _ = try_shrink_active(&ctx);
    PASS_ON
}

fn try_shrink_active(ctx: &TracePointContext) -> Result<(), i64> {
    let nid: i32 = tp(ctx, off!(sa_nid))?;
    let flags: i32 = tp(ctx, off!(sa_flags))?;
    let file = (flags & RECLAIM_WB_FILE != 0) as u32;
    let (rec, _) = current_reclaimer();
    if let Some(a) = SHRINK_ACTIVE.get_ptr_mut(shrink_index(node_slot(nid as i64), rec, file)) {
        // SAFETY: per-CPU slot.
        let a = unsafe { &mut *a };
        a.passes += 1;
        a.taken += tp::<u64>(ctx, off!(sa_taken)).unwrap_or(0);
        a.active += tp::<u64>(ctx, off!(sa_active)).unwrap_or(0);
        a.deactivated += tp::<u64>(ctx, off!(sa_deactivated)).unwrap_or(0);
        a.referenced += tp::<u64>(ctx, off!(sa_referenced)).unwrap_or(0);
    }
    Ok(())
}

tracepoint!(vmscan_write_folio, vmscan_write_folio_impl);
#[inline(always)]
fn vmscan_write_folio_impl(ctx: TracePointContext) -> u32 {
    hit(hook::WRITE_FOLIO);
    if let Ok(flags) = tp::<i32>(&ctx, off!(wf_flags)) {
        let file = (flags & RECLAIM_WB_FILE != 0) as u32;
        let (rec, _) = current_reclaimer();
        bump(&WRITE_FOLIO, rec * 2 + file, 1);
    }
    PASS_ON
}

tracepoint!(vmscan_throttled, vmscan_throttled_impl);
#[inline(always)]
fn vmscan_throttled_impl(ctx: TracePointContext) -> u32 {
    hit(hook::THROTTLED);
    let _ = try_throttled(&ctx);
    PASS_ON
}

fn try_throttled(ctx: &TracePointContext) -> Result<(), i64> {
    let nid: i32 = tp(ctx, off!(thr_nid))?;
    let reason: i32 = tp(ctx, off!(thr_reason))?;
    let timeout: i32 = tp(ctx, off!(thr_timeout))?;
    let delayed: i32 = tp(ctx, off!(thr_delayed))?;
    // reason is 1 << enum vmscan_throttle_state.
    let r = log2_bucket(reason as u32 as u64).saturating_sub(1);
    let r = if r >= THROTTLE_REASONS { THROTTLE_REASONS - 1 } else { r };
    let idx = node_slot(nid as i64) * THROTTLE_REASONS + r;
    if let Some(a) = THROTTLE.get_ptr_mut(idx) {
        // SAFETY: per-CPU slot.
        let a = unsafe { &mut *a };
        a.events += 1;
        a.usec_timeout += timeout.max(0) as u64;
        a.usec_delayed += delayed.max(0) as u64;
    }
    emit(hook::THROTTLED, |e| {
        e.kind = event::THROTTLED;
        e.nid = nid;
        e.flags = reason as u32;
        e.scanned = delayed.max(0) as u64;
        e.reclaimed = timeout.max(0) as u64;
    });
    Ok(())
}

// -------------------------------------------------------------- pagemap ---

tracepoint!(pagemap_lru_insertion, pagemap_lru_insertion_impl);
#[inline(always)]
fn pagemap_lru_insertion_impl(ctx: TracePointContext) -> u32 {
    hit(hook::LRU_INSERTION);
    let _ = try_lru_insertion(&ctx);
    PASS_ON
}

fn try_lru_insertion(ctx: &TracePointContext) -> Result<(), i64> {
    let folio: u64 = tp(ctx, off!(ins_folio))?;
    let pfn: u64 = tp(ctx, off!(ins_pfn))?;
    let lru_id: u32 = tp(ctx, off!(ins_lru))?;
    if lru_id >= lru::COUNT {
        aya_log_ebpf::warn!(ctx, "mm_lru_insertion: lru {} is not a known list", lru_id);
        return Err(-1);
    }
    let node = pfn_node(pfn);
    let pages = folio_pages(folio, folio_flags(folio));
    if let Some(a) = LRU_INSERT.get_ptr_mut(node * lru::COUNT + lru_id) {
        // SAFETY: per-CPU slot.
        let a = unsafe { &mut *a };
        a.folios += 1;
        a.pages += pages;
    }
    let key = MemcgLruKey { cgroup_id: folio_memcg_id(folio), node, lru: lru_id };
    match LRU_INSERT_MEMCG.get_ptr_mut(&key) {
        Some(a) => {
            // SAFETY: per-CPU value of this CPU.
            let a = unsafe { &mut *a };
            a.folios += 1;
            a.pages += pages;
        }
        None => {
            if LRU_INSERT_MEMCG.insert(&key, &FolioAgg { folios: 1, pages }, 0).is_err() {
                bump(&LOST, hook::LRU_INSERTION, 1);
            }
        }
    }
    // Per-CPU batch residency, when folio_add_lru is hooked (fentry/kprobe).
    // SAFETY: copied out at once.
    if let Some(start) = unsafe { BATCH_START.get(&folio) }.copied() {
        let _ = BATCH_START.remove(&folio);
        // SAFETY: the helper takes no arguments.
        let now = unsafe { bpf_ktime_get_ns() };
        let us = now.saturating_sub(start) / 1000;
        let idx = (hist::BATCH_RESIDENCY_US * NODE_SLOTS + node) * HIST_BUCKETS + log2_bucket(us);
        bump(&HIST, idx, 1);
    }
    Ok(())
}

tracepoint!(pagemap_lru_activate, pagemap_lru_activate_impl);
#[inline(always)]
fn pagemap_lru_activate_impl(ctx: TracePointContext) -> u32 {
    hit(hook::LRU_ACTIVATE);
    let _ = try_lru_activate(&ctx);
    PASS_ON
}

fn try_lru_activate(ctx: &TracePointContext) -> Result<(), i64> {
    let folio: u64 = tp(ctx, off!(act_folio))?;
    let pfn: u64 = tp(ctx, off!(act_pfn))?;
    let flags = folio_flags(folio);
    // folio_is_file_lru(): !PG_swapbacked.
    let list = if bit(flags, off!(pg_swapbacked)) { lru::ACTIVE_ANON } else { lru::ACTIVE_FILE };
    let node = pfn_node(pfn);
    if let Some(a) = LRU_ACTIVATE.get_ptr_mut(node * lru::COUNT + list) {
        // SAFETY: per-CPU slot.
        let a = unsafe { &mut *a };
        a.folios += 1;
        a.pages += folio_pages(folio, flags);
    }
    Ok(())
}

// ------------------------------------------- folio_mark_accessed (fentry/kprobe) ---

/// Argument `n` of an fentry/fexit program as a plain number. Read through
/// ctx directly the verifier types it as a BTF pointer (ptr_folio) and
/// refuses the pointer arithmetic vmscan does (folio - vmemmap); copied
/// with bpf_probe_read_kernel it is a scalar.
#[inline(always)]
fn fentry_arg(ctx: &impl aya_ebpf::EbpfContext, n: usize) -> u64 {
    let p = (ctx.as_ptr() as *const u64).wrapping_add(n);
    // SAFETY: fentry/fexit ctx is an array of u64 arguments; the helper
    // copes with any address.
    unsafe { bpf_probe_read_kernel(p) }.unwrap_or(0)
}

#[fentry(function = "folio_mark_accessed")]
pub fn fentry_folio_mark_accessed(ctx: FEntryContext) -> u32 {
    hit(hook::MARK_ACCESSED);
    let folio = fentry_arg(&ctx, 0);
    mark_accessed(&ctx, folio);
    0
}

#[kprobe]
pub fn kprobe_folio_mark_accessed(ctx: ProbeContext) -> u32 {
    if global_u64(&KPROBE_SHADOW) != 0 {
        hit(hook::SHADOW_MARK_ACCESSED);
        return 0;
    }
    hit(hook::MARK_ACCESSED);
    if let Some(folio) = ctx.arg::<u64>(0) {
        mark_accessed(&ctx, folio);
    }
    0
}

/// The calling kernel stack's id in STACKS, or -1 when stacks are not
/// captured (or the walk failed).
#[inline(always)]
fn stack_id<C: StackIdContext>(ctx: &C) -> i32 {
    if global_u64(&CAPTURE_STACKS) == 0 {
        return -1;
    }
    ctx.get_stackid(&STACKS, 0).map(|s| s as i32).unwrap_or(-1)
}

#[inline(always)]
fn access_filtered_out() -> bool {
    let tgid = global_u64(&FILTER_TGID);
    if tgid != 0 && (bpf_get_current_pid_tgid() >> 32) != tgid {
        return true;
    }
    // SAFETY: reading a plain static byte array.
    let want: [u8; 16] = unsafe { read_volatile(addr_of!(FILTER_COMM)) };
    if want[0] != 0 {
        let comm = bpf_get_current_comm().unwrap_or([0; 16]);
        if comm != want {
            return true;
        }
    }
    false
}

/// Classify one call by the folio flags it found (mm/swap.c:
/// folio_mark_accessed; under MGLRU folio_inc_refs).
#[inline(always)]
fn mark_accessed<C: StackIdContext>(ctx: &C, folio: u64) {
    if access_filtered_out() {
        return;
    }
    let flags = folio_flags(folio);
    let result = if global_u64(&MGLRU) != 0 {
        if bit(flags, off!(pg_unevictable)) {
            outcome::UNEVICTABLE
        } else if !bit(flags, off!(pg_referenced)) {
            outcome::REFERENCED
        } else if !bit(flags, off!(pg_workingset)) {
            outcome::WORKINGSET
        } else {
            outcome::TIER_UP
        }
    } else if !bit(flags, off!(pg_referenced)) {
        outcome::REFERENCED
    } else if bit(flags, off!(pg_unevictable)) {
        outcome::UNEVICTABLE
    } else if !bit(flags, off!(pg_active)) {
        outcome::ACTIVATED
    } else {
        outcome::NO_EFFECT
    };
    let key = AccessKey {
        stack_id: stack_id(ctx),
        node: folio_node(folio),
        outcome: result,
        file: (!bit(flags, off!(pg_swapbacked))) as u32,
        exiting: (current_task_flags() & PF_EXITING != 0) as u32,
        _pad: 0,
    };
    let pages = folio_pages(folio, flags);
    match ACCESS.get_ptr_mut(&key) {
        Some(a) => {
            // SAFETY: per-CPU value of this CPU.
            let a = unsafe { &mut *a };
            a.calls += 1;
            a.pages += pages;
        }
        None => {
            if ACCESS.insert(&key, &AccessAgg { calls: 1, pages }, 0).is_err() {
                bump(&LOST, hook::MARK_ACCESSED, 1);
            }
        }
    }
}

// ------------------------------------------------- folio_add_lru (fentry/kprobe) ---

#[fentry(function = "folio_add_lru")]
pub fn fentry_folio_add_lru(ctx: FEntryContext) -> u32 {
    hit(hook::ADD_LRU);
    let folio = fentry_arg(&ctx, 0);
    add_lru(folio);
    0
}

#[kprobe]
pub fn kprobe_folio_add_lru(ctx: ProbeContext) -> u32 {
    if global_u64(&KPROBE_SHADOW) != 0 {
        hit(hook::SHADOW_ADD_LRU);
        return 0;
    }
    hit(hook::ADD_LRU);
    if let Some(folio) = ctx.arg::<u64>(0) {
        add_lru(folio);
    }
    0
}

#[inline(always)]
fn add_lru(folio: u64) {
    // SAFETY: the helper takes no arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let _ = BATCH_START.insert(&folio, &now, 0);
}

// ------------------------------------------ shrink_node (fentry+fexit / kprobes) ---

#[fentry(function = "shrink_node")]
pub fn fentry_shrink_node(ctx: FEntryContext) -> u32 {
    hit(hook::SHRINK_NODE);
    let pgdat = fentry_arg(&ctx, 0);
    let sc = fentry_arg(&ctx, 1);
    shrink_node_enter(pgdat, sc);
    0
}

#[fexit(function = "shrink_node")]
pub fn fexit_shrink_node(_ctx: FExitContext) -> u32 {
    hit(hook::SHRINK_NODE_RET);
    shrink_node_exit();
    0
}

#[kprobe]
pub fn kprobe_shrink_node(ctx: ProbeContext) -> u32 {
    if global_u64(&KPROBE_SHADOW) != 0 {
        hit(hook::SHADOW_SHRINK_NODE);
        return 0;
    }
    hit(hook::SHRINK_NODE);
    if let (Some(pgdat), Some(sc)) = (ctx.arg::<u64>(0), ctx.arg::<u64>(1)) {
        shrink_node_enter(pgdat, sc);
    }
    0
}

#[kretprobe]
pub fn kretprobe_shrink_node(_ctx: RetProbeContext) -> u32 {
    if global_u64(&KPROBE_SHADOW) != 0 {
        return 0;
    }
    hit(hook::SHRINK_NODE_RET);
    shrink_node_exit();
    0
}

#[inline(always)]
fn shrink_node_enter(pgdat: u64, sc: u64) {
    let nid = kread::<i32>(pgdat, off!(pgdat_node_id)).unwrap_or(-1);
    let (rec, _) = current_reclaimer();
    let c = ShrinkNodeCtx {
        // SAFETY: the helper takes no arguments.
        start_ns: unsafe { bpf_ktime_get_ns() },
        sc,
        reclaimed_before: kread::<u64>(sc, off!(sc_nr_reclaimed)).unwrap_or(0),
        nid: node_slot(nid as i64),
        reclaimer: rec,
    };
    let _ = SHRINK_NODE_CTX.insert(&current_pid(), &c, 0);
}

#[inline(always)]
fn shrink_node_exit() {
    let pid = current_pid();
    // SAFETY: copied out before removal.
    let Some(c) = (unsafe { SHRINK_NODE_CTX.get(&pid) }).copied() else {
        return;
    };
    let _ = SHRINK_NODE_CTX.remove(&pid);
    // SAFETY: the helper takes no arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let us = now.saturating_sub(c.start_ns) / 1000;
    let after = kread::<u64>(c.sc, off!(sc_nr_reclaimed)).unwrap_or(c.reclaimed_before);
    let idx = (hist::SHRINK_NODE_US * NODE_SLOTS + c.nid) * HIST_BUCKETS + log2_bucket(us);
    bump(&HIST, idx, 1);
    emit(hook::SHRINK_NODE_RET, |e| {
        e.kind = event::SHRINK_NODE;
        e.reclaimer = c.reclaimer;
        e.start_ns = c.start_ns;
        e.nid = c.nid as i32;
        e.reclaimed = after.saturating_sub(c.reclaimed_before);
    });
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
