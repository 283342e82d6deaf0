//! Reads of kernel memory and of tracepoints, all through offsets resolved
//! by userspace: tracepoint fields (record or arguments), the current task,
//! folios and their memory cgroups, NUMA nodes.

use core::{
    ffi::c_void,
    ptr::{addr_of, read_volatile},
};

use aya_ebpf::{
    EbpfContext,
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_current_task, bpf_probe_read_kernel,
        generated::{bpf_get_smp_processor_id, bpf_get_stack},
    },
    programs::{ProbeContext, TracePointContext},
};
use vmscan_common::{
    ARG, ARG_DEREF, ARG_FILE_FLAG, ARG_U32, DERIVED, IRQ_STACK_DEPTH, MAX_IRQ_RANGES,
    NODE_OVERFLOW, NODE_TABLE, RECLAIM_WB_ANON, RECLAIM_WB_ASYNC, RECLAIM_WB_FILE, TP_ARGS,
    UNRESOLVED, irq_context,
};

use crate::{
    globals::{
        IRQ_CONTEXT_SOURCE, IRQ_ENTRY_RANGES, IRQ_STACK_FULL_BYTES, OFFSETS, PER_CPU_OFFSET_ADDR,
        PREEMPT_COUNT_OFF, STRUCT_PAGE_SIZE, VMEMMAP_BASE_ADDR, global_u64,
    },
    maps::{IRQ_STACK, IRQ_STACK_LEVELS, IRQ_STACK_NEST, VMEMMAP_BASE_SEEN},
};

/// The context of a tracepoint program: the trace record (classic) or the
/// tracepoint's arguments as an array of u64 (tp_btf, raw_tp).
pub struct Tp {
    ctx: TracePointContext,
    args: bool,
    /// tp_btf / raw_tp: the first TP_ARGS arguments, copied with one helper
    /// call (a field read from the context would be one call each).
    a: [u64; TP_ARGS],
}

/// Words of a [`DerefBlock`]: struct reclaim_stat is 13 `unsigned` on 7.x.
pub const BLOCK_WORDS: usize = 16;
/// [`DerefBlock::arg`] of a block that holds nothing.
const NO_BLOCK: u32 = u32::MAX;

/// The start of a struct behind a tracepoint's pointer argument `arg`.
pub struct DerefBlock {
    arg: u32,
    words: [u32; BLOCK_WORDS],
}

/// The word of `block` that field `off` (behind the block's pointer
/// argument, 4-byte aligned, within it) is.
#[inline(always)]
fn word_in(b: &DerefBlock, off: u32) -> Option<u32> {
    if b.arg == NO_BLOCK
        || off == UNRESOLVED
        || off & (ARG | ARG_DEREF | DERIVED) != ARG | ARG_DEREF
        || (off >> 16) & 0xff != b.arg
    {
        return None;
    }
    block_word(&b.words, off & 0xffff)
}

/// The 4-byte field at byte `off` of a struct read as [`BLOCK_WORDS`]
/// words (aligned and within them; UNRESOLVED is neither).
#[inline(always)]
pub fn block_word(words: &[u32; BLOCK_WORDS], off: u32) -> Option<u32> {
    let byte = off as usize;
    (byte % 4 == 0 && byte < BLOCK_WORDS * 4).then(|| words[(byte / 4) & (BLOCK_WORDS - 1)])
}

impl Tp {
    #[inline(always)]
    pub fn record(ctx: *mut c_void) -> Self {
        Self {
            ctx: TracePointContext::new(ctx),
            args: false,
            a: [0; TP_ARGS],
        }
    }

    /// The arguments past a tracepoint's last lie on the kernel stack that
    /// holds them (bpf_trace_run's array): copied too, never read.
    #[inline(always)]
    pub fn args(ctx: *mut c_void) -> Self {
        let mut a = core::mem::MaybeUninit::<[u64; TP_ARGS]>::uninit();
        // SAFETY: the helper copes with any source address, writes exactly
        // `size` bytes to `a` and zeroes them where the read fails, so `a`
        // is initialized either way. Read in place: no copy of the words
        // through a Result.
        let a = unsafe {
            aya_ebpf::helpers::generated::bpf_probe_read_kernel(
                a.as_mut_ptr() as *mut c_void,
                core::mem::size_of::<[u64; TP_ARGS]>() as u32,
                ctx as *const c_void,
            );
            a.assume_init()
        };
        Self {
            ctx: TracePointContext::new(ctx),
            args: true,
            a,
        }
    }

    #[inline(always)]
    pub fn is_args(&self) -> bool {
        self.args
    }

    /// The program's context pointer, as the kernel passed it.
    #[inline(always)]
    pub fn ptr(&self) -> *mut c_void {
        self.ctx.as_ptr()
    }

    /// A field by its encoded place: a format-file offset into the record,
    /// or an argument (vmscan_common::ARG), possibly behind a pointer.
    #[inline(always)]
    pub fn field<T>(&self, off: u32) -> Result<T, i64> {
        if off == UNRESOLVED {
            return Err(-1);
        }
        // Decided by the entry point (a constant once inlined), so a classic
        // program is the plain record read it always was: 5.10's verifier
        // refuses some of what LLVM makes of the extra branches (a stack
        // slot reloaded on a path that never stored it).
        if !self.args {
            // SAFETY: the offset comes from this kernel's format file for
            // this event; bpf_probe_read copes with any address.
            return unsafe { self.ctx.read_at::<T>(off as usize) }.map_err(|e| e as i64);
        }
        if off & ARG == 0 || off & DERIVED != 0 {
            return Err(-1);
        }
        let i = ((off >> 16) & 0xff) as usize;
        if i >= TP_ARGS || core::mem::size_of::<T>() > 8 {
            return Err(-1);
        }
        let v = self.a[i];
        if off & ARG_DEREF != 0 {
            // The argument is a pointer by the BTF prototype.
            return kread::<T>(v, off & 0xffff);
        }
        // Arguments are u64 slots; a narrower one is in the low bytes.
        // SAFETY: T is at most 8 bytes (checked above), read from the start
        // of a u64 (little-endian: its low bytes).
        Ok(unsafe { core::mem::transmute_copy::<u64, T>(&v) })
    }

    /// tp_btf / raw_tp: the first 64 bytes behind the pointer argument that
    /// field `off` is read through (mm_vmscan_lru_shrink_inactive's `stat`),
    /// copied with one helper call; an empty block for a record, another
    /// field or a failed read. (Always fully written: an Option of it left
    /// bytes LLVM copied uninitialised, which the verifier refuses.)
    #[inline(always)]
    pub fn deref_block(&self, off: u32) -> DerefBlock {
        let mut b = DerefBlock {
            arg: NO_BLOCK,
            words: [0; BLOCK_WORDS],
        };
        if !self.args
            || off == UNRESOLVED
            || off & ARG == 0
            || off & ARG_DEREF == 0
            || off & DERIVED != 0
        {
            return b;
        }
        let arg = (off >> 16) & 0xff;
        let Some(&base) = self.a.get(arg as usize) else {
            return b;
        };
        if let Ok(words) = kread::<[u32; BLOCK_WORDS]>(base, 0) {
            b.words = words;
            b.arg = arg;
        }
        b
    }

    /// As [`Tp::count`], from `block` where the counter is a 4-byte one in
    /// it (no helper call), else read on its own.
    #[inline(always)]
    pub fn count_in(&self, block: &DerefBlock, off: u32) -> Result<u64, i64> {
        if off != UNRESOLVED
            && off & ARG_U32 != 0
            && let Some(w) = word_in(block, off)
        {
            return Ok(u64::from(w));
        }
        self.count(off)
    }

    /// A 4-byte field behind the pointer, from `block` where it lies in it.
    #[inline(always)]
    pub fn u32_in(&self, block: &DerefBlock, off: u32) -> Result<u32, i64> {
        match word_in(block, off) {
            Some(w) => Ok(w),
            None => self.field::<u32>(off),
        }
    }

    /// A counter the record holds as unsigned long: 8 bytes, or 4 where the
    /// argument's struct keeps it as `unsigned` (vmscan_common::ARG_U32).
    #[inline(always)]
    pub fn count(&self, off: u32) -> Result<u64, i64> {
        if self.args && off != UNRESOLVED && off & ARG_U32 != 0 {
            return self.field::<u32>(off).map(u64::from);
        }
        self.field::<u64>(off)
    }

    /// reclaim_flags: read from the record, or made from the `file`
    /// argument as trace_reclaim_flags() makes it.
    #[inline(always)]
    pub fn reclaim_flags(&self, off: u32) -> Result<i32, i64> {
        if self.args && off != UNRESOLVED && off & ARG_FILE_FLAG != 0 {
            let file: u32 = self.field(off & !ARG_FILE_FLAG)?;
            return Ok(trace_reclaim_flags(file != 0));
        }
        self.field(off)
    }
}

/// include/trace/events/vmscan.h: trace_reclaim_flags(file), a shrink
/// pass's or a written folio's reclaim_flags.
#[inline(always)]
pub fn trace_reclaim_flags(file: bool) -> i32 {
    let kind = if file {
        RECLAIM_WB_FILE
    } else {
        RECLAIM_WB_ANON
    };
    (kind | RECLAIM_WB_ASYNC) as i32
}

/// A field of a kernel object at a BTF offset.
#[inline(always)]
pub fn kread<T>(base: u64, off: u32) -> Result<T, i64> {
    if off == UNRESOLVED || base == 0 {
        return Err(-1);
    }
    // SAFETY: bpf_probe_read_kernel copes with any address; the offset is
    // from this kernel's BTF.
    unsafe { bpf_probe_read_kernel((base + off as u64) as *const T) }.map_err(|e| e as i64)
}

/// Argument `n` of an fentry/fexit program as a plain number. Read through
/// ctx directly the verifier types it as a BTF pointer (ptr_folio) and
/// refuses the pointer arithmetic vmscan does (folio - vmemmap); copied
/// with bpf_probe_read_kernel it is a scalar.
#[inline(always)]
pub fn fentry_arg(ctx: &impl EbpfContext, n: usize) -> u64 {
    let p = (ctx.as_ptr() as *const u64).wrapping_add(n);
    // SAFETY: fentry/fexit ctx is an array of u64 arguments; the helper
    // copes with any address.
    unsafe { bpf_probe_read_kernel(p) }.unwrap_or(0)
}

/// Argument 0 or 1 (`n`) of an fentry/fexit program (see [`fentry_arg`]).
#[inline(always)]
pub fn fentry_arg01(ctx: &impl EbpfContext, n: u32) -> u64 {
    if n == 0 {
        fentry_arg(ctx, 0)
    } else {
        fentry_arg(ctx, 1)
    }
}

/// Argument 0 or 1 (`n`) of a kprobe program. Both registers are read,
/// each at its fixed place, and the argument is picked from the values by a
/// mask: choosing the register by the run-time argument number made the
/// compiler load through a computed context offset, which verifiers before
/// 7.x refuse (EACCES).
#[inline(always)]
pub fn probe_arg01(ctx: &ProbeContext, n: u32) -> Option<u64> {
    let (Some(a0), Some(a1)) = (ctx.arg::<u64>(0), ctx.arg::<u64>(1)) else {
        return None;
    };
    // All ones for argument 1, zero for argument 0 (the resolver allows no
    // other). Spelled as negation, not as a comparison, which the compiler
    // turned back into a choice of register (5.10's verifier: EACCES).
    let second = u64::from(n).wrapping_neg();
    Some((a0 & !second) | (a1 & second))
}

#[inline(always)]
pub fn current_task() -> u64 {
    // SAFETY: the helper returns the current task_struct pointer.
    unsafe { bpf_get_current_task() }
}

#[inline(always)]
pub fn current_task_flags() -> u32 {
    kread::<u32>(current_task(), off!(task_flags)).unwrap_or(0)
}

/// The context this program runs in ([`irq_context`]), read as the loader
/// found it can be on this kernel; `ctx` is the program's context (for the
/// kernel stack).
#[inline(always)]
pub fn irq_context(ctx: *mut c_void) -> u32 {
    match global_u64(&IRQ_CONTEXT_SOURCE) {
        irq_context::SOURCE_KALLSYMS => {
            // SAFETY: the helper takes no arguments.
            let cpu = u64::from(unsafe { bpf_get_smp_processor_id() });
            let table = global_u64(&PER_CPU_OFFSET_ADDR);
            let off = global_u64(&PREEMPT_COUNT_OFF);
            // SAFETY: reading __per_cpu_offset[cpu], then this CPU's copy of
            // the variable, at addresses from kallsyms.
            unsafe { bpf_probe_read_kernel((table + cpu * 8) as *const u64) }
                .and_then(|base| unsafe { bpf_probe_read_kernel((base + off) as *const u32) })
                .map_or(irq_context::UNKNOWN, irq_context::of_preempt_count)
        }
        irq_context::SOURCE_STACK => context_by_stack(ctx),
        _ => irq_context::UNKNOWN,
    }
}

/// The context from the kernel stack: the class of the innermost frame in
/// one of IRQ_ENTRY_RANGES (the kernel's interrupt and softirq entry
/// functions), TASK when no frame is, UNKNOWN when the stack cannot be read
/// or fills the buffer without one.
#[inline(always)]
fn context_by_stack(ctx: *mut c_void) -> u32 {
    // One buffer per nesting level: a program that an interrupt's program
    // interrupts between filling its buffer and reading it must not find
    // the interrupt's stack there. Levels nest strictly on a CPU.
    let Some(level) = IRQ_STACK_NEST.get_ptr_mut(0) else {
        return irq_context::UNKNOWN;
    };
    // SAFETY: this CPU's counter; whatever nests inside restores it.
    let depth = unsafe { *level };
    if depth >= IRQ_STACK_LEVELS {
        return irq_context::UNKNOWN;
    }
    // SAFETY: as above.
    unsafe { *level = depth + 1 };
    let context = match IRQ_STACK.get_ptr_mut(depth) {
        Some(buf) => context_of_stack(ctx, buf),
        None => irq_context::UNKNOWN,
    };
    // SAFETY: as above.
    unsafe { *level = depth };
    context
}

#[inline(always)]
fn context_of_stack(ctx: *mut c_void, buf: *mut [u64; IRQ_STACK_DEPTH]) -> u32 {
    let size = (IRQ_STACK_DEPTH * 8) as u32;
    // SAFETY: a kernel stack into this CPU's buffer, which the helper
    // zero-fills past the frames it writes.
    let n = unsafe { bpf_get_stack(ctx, buf as *mut c_void, size, 0) };
    if n <= 0 {
        return irq_context::UNKNOWN;
    }
    for i in 0..IRQ_STACK_DEPTH {
        // SAFETY: within the per-CPU buffer.
        let ret = unsafe { (*buf)[i] };
        if ret == 0 {
            // Past the last frame (the helper zero-fills).
            break;
        }
        // A return address: the call it returns from is the byte before,
        // which a function ending in a call may leave as the next one's
        // start.
        let ip = ret - 1;
        // The ranges are sorted by start, unused ones start at u64::MAX:
        // count those starting at or below ip without a branch per range
        // (each would be a state for the verifier to walk). Kernel
        // addresses all have the top bit set, so ip - start borrows into
        // bit 63 exactly when ip < start.
        let mut below = 0u64;
        for r in 0..MAX_IRQ_RANGES {
            // SAFETY: reading the frozen global.
            let start = unsafe { read_volatile(addr_of!(IRQ_ENTRY_RANGES[r][0])) };
            below += (ip.wrapping_sub(start) >> 63) ^ 1;
        }
        if below == 0 {
            continue;
        }
        let r = (below as usize - 1) & (MAX_IRQ_RANGES - 1);
        // SAFETY: as above, within the array.
        let [start, len, class] = unsafe { read_volatile(addr_of!(IRQ_ENTRY_RANGES[r])) };
        if ip.wrapping_sub(start) < len {
            return class as u32;
        }
    }
    // A stack cut at the buffer, or at kernel.perf_event_max_stack where
    // that is shorter, may hold its entry frame beyond the cut.
    if n as u64 >= global_u64(&IRQ_STACK_FULL_BYTES) {
        irq_context::UNKNOWN
    } else {
        irq_context::TASK
    }
}

#[inline(always)]
pub fn current_pid() -> u32 {
    bpf_get_current_pid_tgid() as u32
}

#[inline(always)]
pub fn current_tgid() -> u64 {
    bpf_get_current_pid_tgid() >> 32
}

/// The per-node slot of a node id ([`NODE_OVERFLOW`] when out of range).
#[inline(always)]
pub fn node_slot(nid: i64) -> u32 {
    if nid < 0 || nid >= NODE_OVERFLOW as i64 {
        NODE_OVERFLOW
    } else {
        nid as u32
    }
}

/// Node of a pfn from the node start table (ascending starts).
#[inline(always)]
pub fn pfn_node(pfn: u64) -> u32 {
    let n = off!(nr_nodes);
    let mut node = 0u32;
    let mut i = 0usize;
    while i < NODE_TABLE {
        if i as u32 >= n {
            break;
        }
        // SAFETY: i < NODE_TABLE, the array's length.
        let start = unsafe { read_volatile(addr_of!(OFFSETS.node_start_pfn[i])) };
        if pfn >= start {
            // SAFETY: as above.
            node = unsafe { read_volatile(addr_of!(OFFSETS.node_id[i])) };
        }
        i += 1;
    }
    node_slot(node as i64)
}

/// tp_btf only: the flags of the folio that is the tracepoint's first
/// argument, where `place` (the field's ARG_OFFSETS entry) says it is that
/// argument itself and this kernel's BTF puts the flags at the start of
/// struct folio. Two plain loads and no helper call: a tp_btf context holds
/// the kernel's typed pointers, and a load through one at a constant offset
/// is a fault-safe PROBE_MEM load. None where it does not apply.
#[inline(always)]
pub fn btf_arg0_folio_flags(ctx: *mut c_void, place: u32) -> Option<u64> {
    if place != ARG || off!(folio_flags) != 0 {
        return None;
    }
    // SAFETY: a tp_btf context is the array of the tracepoint's arguments;
    // the verifier types argument 0 by the tracepoint's prototype.
    let folio = unsafe { read_volatile(ctx as *const u64) };
    if folio == 0 {
        return None;
    }
    // SAFETY: the verifier makes this load through a typed kernel pointer a
    // PROBE_MEM load, which cannot fault; offset 0 is `flags` (checked).
    Some(unsafe { read_volatile(folio as *const u64) })
}

#[inline(always)]
pub fn folio_flags(folio: u64) -> u64 {
    kread::<u64>(folio, off!(folio_flags)).unwrap_or(0)
}

#[inline(always)]
pub fn bit(flags: u64, b: u32) -> bool {
    b < 64 && flags & (1u64 << b) != 0
}

/// folio_is_file_lru(): !PG_swapbacked.
#[inline(always)]
pub fn is_file(flags: u64) -> bool {
    !bit(flags, off!(pg_swapbacked))
}

/// folio_nr_pages(): 1 for a small folio, else _nr_pages (or 1 << order).
#[inline(always)]
pub fn folio_pages(folio: u64, flags: u64) -> u64 {
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

/// Node of a folio, from its place in vmemmap (the only node where there
/// is one).
#[inline(always)]
pub fn folio_node(folio: u64) -> u32 {
    // One node with memory: every folio is on it, vmemmap or not.
    if off!(nr_nodes) <= 1 {
        return pfn_node(0);
    }
    let page_size = global_u64(&STRUCT_PAGE_SIZE);
    let Some(base) = vmemmap_base() else {
        return NODE_OVERFLOW;
    };
    if page_size == 0 || folio < base {
        return NODE_OVERFLOW;
    }
    pfn_node((folio - base) / page_size)
}

/// The kernel's vmemmap_base: read once, then from VMEMMAP_BASE_SEEN.
#[inline(always)]
fn vmemmap_base() -> Option<u64> {
    let seen = VMEMMAP_BASE_SEEN.get_ptr_mut(0)?;
    // SAFETY: the map's one slot; a u64 store of the same value from any CPU.
    let cached = unsafe { read_volatile(seen) };
    if cached != 0 {
        return Some(cached);
    }
    let base_addr = global_u64(&VMEMMAP_BASE_ADDR);
    if base_addr == 0 {
        return None;
    }
    // SAFETY: reading the kernel's vmemmap_base variable.
    let base = unsafe { bpf_probe_read_kernel(base_addr as *const u64) }.ok()?;
    if base != 0 {
        // SAFETY: as above.
        unsafe { core::ptr::write_volatile(seen, base) };
    }
    Some(base)
}

/// tp_btf only: argument 0 as a plain number (loaded from the context it
/// would be a typed pointer, on which the verifier refuses arithmetic).
#[inline(always)]
pub fn btf_arg0_scalar(ctx: *mut c_void) -> u64 {
    // SAFETY: the helper copes with any address.
    unsafe { bpf_probe_read_kernel(ctx as *const u64) }.unwrap_or(0)
}

/// kernfs id of a memory cgroup's css: css->cgroup->kn->id.
#[inline(always)]
fn css_cgroup_id(css: u64) -> u64 {
    let Ok(cgrp) = kread::<u64>(css, off!(css_cgroup)) else {
        return 0;
    };
    let Ok(kn) = kread::<u64>(cgrp, off!(cgroup_kn)) else {
        return 0;
    };
    kread::<u64>(kn, off!(kn_id)).unwrap_or(0)
}

/// Memory cgroup of the current task (task->cgroups->subsys[memory_cgrp_id]).
#[inline(always)]
pub fn current_memcg_id() -> u64 {
    let id = off!(memory_cgrp_id);
    let subsys = off!(css_set_subsys);
    if id == UNRESOLVED || subsys == UNRESOLVED || id >= 64 {
        return 0;
    }
    let Ok(cset) = kread::<u64>(current_task(), off!(task_cgroups)) else {
        return 0;
    };
    let Ok(css) = kread::<u64>(cset, subsys + id * 8) else {
        return 0;
    };
    css_cgroup_id(css)
}

/// The struct mem_cgroup a folio is charged to (folio_memcg()), 0 when none.
#[inline(always)]
pub fn folio_memcg(folio: u64) -> u64 {
    let mask = off!(memcg_data_mask);
    if mask == UNRESOLVED {
        return 0;
    }
    let Ok(data) = kread::<u64>(folio, off!(folio_memcg_data)) else {
        return 0;
    };
    let ptr = data & !(mask as u64);
    let objcg = off!(objcg_memcg);
    if objcg == UNRESOLVED || ptr == 0 {
        return ptr;
    }
    // 7.x: an obj_cgroup; its memcg is obj_cgroup_memcg().
    kread::<u64>(ptr, objcg).unwrap_or(0)
}

/// kernfs id of a struct mem_cgroup (0 for none).
#[inline(always)]
pub fn memcg_cgroup_id(memcg: u64) -> u64 {
    let css = off!(memcg_css);
    if memcg == 0 || css == UNRESOLVED {
        return 0;
    }
    css_cgroup_id(memcg + css as u64)
}

/// The memory cgroup (kernfs id) and node slot of an lruvec: the back
/// pointer of the mem_cgroup_per_node holding it, checked against that
/// memcg's nodeinfo[node]. 0 for an lruvec outside any (the node's own,
/// where memory cgroups are disabled) or one that cannot be read.
#[inline(always)]
pub fn lruvec_memcg_node(lruvec: u64) -> (u64, u32) {
    let (in_pn, memcg_off, nodeinfo) = (off!(mpn_lruvec), off!(mpn_memcg), off!(memcg_nodeinfo));
    let nid = kread::<u64>(lruvec, off!(lruvec_pgdat))
        .and_then(|pgdat| kread::<i32>(pgdat, off!(pgdat_node_id)))
        .unwrap_or(-1);
    if in_pn == UNRESOLVED || nodeinfo == UNRESOLVED || !(0..1024).contains(&nid) {
        return (0, node_slot(i64::from(nid)));
    }
    let pn = lruvec.wrapping_sub(u64::from(in_pn));
    let memcg = kread::<u64>(pn, memcg_off).unwrap_or(0);
    let own = kread::<u64>(memcg, nodeinfo + nid as u32 * 8).is_ok_and(|p| p == pn);
    (
        if own { memcg_cgroup_id(memcg) } else { 0 },
        node_slot(i64::from(nid)),
    )
}

/// Memory cgroup a folio is charged to, as its kernfs id; 0 when none.
#[inline(always)]
pub fn folio_memcg_id(folio: u64) -> u64 {
    memcg_cgroup_id(folio_memcg(folio))
}
