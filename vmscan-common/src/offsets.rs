//! [`Offsets`]: field offsets resolved at start-up and written into the eBPF
//! object as the `OFFSETS` global. Tracepoint fields come from tracefs
//! format files, struct fields and flag bits from /sys/kernel/btf/vmlinux.
//! [`UNRESOLVED`] marks a field that does not exist on this kernel; its hook
//! is not attached.
//!
//! The field list is written once, in the [`offsets!`] invocation below: the
//! struct, its all-unresolved default and its field names come from it.

/// Value of an [`Offsets`] field that could not be resolved on this kernel.
pub const UNRESOLVED: u32 = u32::MAX;

/// Tracepoint fields read as the tracepoint's arguments (tp_btf / raw_tp
/// programs, whose context is the TP_PROTO arguments as u64s) are encoded in
/// the `ARG_OFFSETS` copy of [`Offsets`]: [`ARG`] | index << 16, read as the
/// argument's low bytes; with [`ARG_DEREF`] the argument is a pointer and
/// the field is read at the low 16 bits' offset from it (reclaim_stat's
/// counters; [`ARG_U32`] when 4 bytes wide); with [`ARG_FILE_FLAG`] the argument is the `file` bool the
/// tracepoint turns into reclaim_flags (trace_reclaim_flags()).
/// [`DERIVED`] marks a field the program works out from the hook's folio
/// (its node, its list, whether it is file-backed), as the tracepoint's own
/// TP_fast_assign does.
pub const ARG: u32 = 1 << 30;
pub const ARG_DEREF: u32 = 1 << 29;
pub const ARG_FILE_FLAG: u32 = 1 << 28;
pub const DERIVED: u32 = 1 << 27;
/// With ARG_DEREF: a 4-byte counter (reclaim_stat's `unsigned`) that the
/// record widens to unsigned long: read as u32.
pub const ARG_U32: u32 = 1 << 26;

/// Arguments a tp_btf / raw_tp program copies (and so can read): the most
/// any hooked tracepoint has (mm_vmscan_lru_isolate before 6.7: 8).
pub const TP_ARGS: usize = 8;

/// Argument `i` of a tracepoint, read as a scalar.
pub const fn arg(i: u32) -> u32 {
    ARG | (i & 0xff) << 16
}

/// The field at `off` of the struct argument `i` points to.
pub const fn arg_deref(i: u32, off: u32) -> u32 {
    arg(i) | ARG_DEREF | (off & 0xffff)
}

/// include/trace/events/vmscan.h: RECLAIM_WB_ANON/FILE/ASYNC, the bits
/// trace_reclaim_flags(file) sets for a shrink pass's reclaim_flags.
pub const RECLAIM_WB_ANON: u32 = 0x0001;
pub const RECLAIM_WB_FILE: u32 = 0x0002;
pub const RECLAIM_WB_ASYNC: u32 = 0x0008;

/// Entries of the pfn -> node table (nodes with memory this table can place).
pub const NODE_TABLE: usize = 16;

macro_rules! offsets {
    ($( $(#[$m:meta])* $f:ident, )*) => {
        /// See the module documentation. The u32 offsets follow the node
        /// table; `_pad` keeps the size a multiple of 8 with no implicit
        /// padding whatever the number of offsets.
        #[repr(C)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct Offsets {
            /// First pfn of each node, ascending, from /proc/zoneinfo: a pfn
            /// belongs to the last node whose start is <= pfn (pagemap events
            /// carry only a pfn).
            pub node_start_pfn: [u64; NODE_TABLE],
            pub node_id: [u32; NODE_TABLE],
            /// Number of entries used in `node_start_pfn` (1 on a single-node machine).
            pub nr_nodes: u32,
            $( $(#[$m])* pub $f: u32, )*
            pub _pad: [u32; OFFSET_PAD],
        }

        /// Names of the u32 offsets, in declaration order.
        pub const OFFSET_NAMES: &[&str] = &[$( stringify!($f), )*];
        const OFFSET_PAD: usize = (NODE_TABLE + 1 + OFFSET_NAMES.len()) % 2;

        impl Offsets {
            /// Every offset unresolved; one node starting at pfn 0.
            pub const fn unresolved() -> Self {
                Self {
                    node_start_pfn: [0; NODE_TABLE],
                    node_id: [0; NODE_TABLE],
                    nr_nodes: 1,
                    $( $f: UNRESOLVED, )*
                    _pad: [0; OFFSET_PAD],
                }
            }
        }
    };
}

offsets! {
    // vmscan:mm_vmscan_kswapd_wake
    kswapd_wake_nid,
    kswapd_wake_zid,
    kswapd_wake_order,
    // vmscan:mm_vmscan_kswapd_sleep
    kswapd_sleep_nid,
    // vmscan:mm_vmscan_wakeup_kswapd
    wakeup_nid,
    wakeup_zid,
    wakeup_order,
    wakeup_gfp,
    // vmscan:mm_vmscan_{direct,memcg}_reclaim_begin (same layout)
    direct_begin_order,
    direct_begin_gfp,
    memcg_begin_order,
    memcg_begin_gfp,
    // vmscan:mm_vmscan_node_reclaim_begin
    node_begin_nid,
    node_begin_order,
    node_begin_gfp,
    // vmscan:mm_vmscan_*_reclaim_end
    direct_end_reclaimed,
    memcg_end_reclaimed,
    node_end_reclaimed,
    // vmscan:mm_vmscan_lru_isolate
    iso_requested,
    iso_scanned,
    iso_skipped,
    iso_taken,
    iso_lru,
    // vmscan:mm_vmscan_lru_shrink_inactive
    si_nid,
    si_scanned,
    si_reclaimed,
    si_dirty,
    si_writeback,
    si_congested,
    si_immediate,
    si_activate0,
    si_activate1,
    si_ref_keep,
    si_unmap_fail,
    si_priority,
    si_flags,
    // vmscan:mm_vmscan_lru_shrink_active
    sa_nid,
    sa_taken,
    sa_active,
    sa_deactivated,
    sa_referenced,
    sa_priority,
    sa_flags,
    // vmscan:mm_vmscan_write_folio (wf_folio: as an argument only)
    wf_folio,
    wf_flags,
    // vmscan:mm_vmscan_throttled
    thr_nid,
    thr_timeout,
    thr_delayed,
    thr_reason,
    // vmscan:mm_vmscan_reclaim_pages
    rp_nid,
    rp_scanned,
    rp_reclaimed,
    rp_activate0,
    rp_activate1,
    // migrate:mm_migrate_pages
    mp_succeeded,
    mp_reason,
    /// BTF: enum migrate_reason's MR_DEMOTION (UNRESOLVED: no demotion).
    mr_demotion,
    // BTF: the per-CPU batches' move functions, e.g. lru_lazyfree(lruvec,
    // folio) (6.1+; _fn before 6.11), lru_lazyfree_fn(page, lruvec)
    // (5.11-6.0) or lru_lazyfree_fn(page, lruvec, arg) (5.10, the only
    // form that checks PG_lru itself). The folio's (page's) argument
    // number of lru_lazyfree, lru_deactivate and lru_deactivate_file:
    lazyfree_folio_arg,
    deactivate_folio_arg,
    deactivate_file_folio_arg,
    /// 1 where the move functions test PG_lru themselves (5.10; later their
    /// callers test-and-clear it).
    move_fn_checks_lru,
    // pagemap:mm_lru_insertion
    ins_folio,
    ins_pfn,
    ins_lru,
    // pagemap:mm_lru_activate
    act_folio,
    act_pfn,
    // BTF: struct folio / struct task_struct / struct pglist_data / scan_control
    folio_flags,
    /// folio->_nr_pages (6.x: in the second page's union); UNRESOLVED falls back
    /// to `folio_flags_1` (the order in its low byte).
    folio_nr_pages,
    folio_flags_1,
    folio_memcg_data,
    task_flags,
    pgdat_node_id,
    sc_nr_reclaimed,
    sc_nr_scanned,
    /// scan_control.priority (an s8).
    sc_priority,
    /// folio.lru (page.lru): a folio on a list_head of folios.
    folio_lru,
    // BTF: struct reclaim_stat's 4-byte counters (shrink_folio_list's
    // `stat`, read where MGLRU before 6.7 fires no shrink tracepoint);
    // rs_activate is nr_activate[0], [1] follows it.
    rs_dirty,
    rs_writeback,
    rs_congested,
    rs_immediate,
    rs_activate,
    rs_ref_keep,
    rs_unmap_fail,
    /// 1 where evict_folios takes (lruvec, sc, ...), as the MGLRU eviction
    /// hook reads it (6.1-6.6's).
    evict_fns,
    /// 1 where shrink_folio_list takes (folio_list, pgdat, sc, stat,
    /// ignore_references).
    shrink_fn,
    // BTF: who a reclaim pass runs for (mm/vmscan.c: reclaimer_offset()):
    // current->reclaim_state points into the pass's scan_control.
    task_reclaim_state,
    sc_reclaim_state,
    /// Byte of scan_control holding the `proactive` bitfield, and its bit.
    sc_proactive_byte,
    sc_proactive_bit,
    sc_target_mem_cgroup,
    // BTF: enum pageflags bit numbers
    pg_referenced,
    pg_active,
    pg_lru,
    pg_unevictable,
    pg_head,
    pg_swapbacked,
    /// PG_swapcache (an alias of PG_owner_priv_1; set only with PG_swapbacked).
    pg_swapcache,
    /// MGLRU's second reference tier (folio_inc_refs).
    pg_workingset,
    /// __NR_PAGEFLAGS: bits at and above it hold, among others, MGLRU's
    /// LRU_REFS counter.
    nr_pageflags,
    // BTF: the memory cgroup of a task or folio, as its cgroup's kernfs id
    // (the cgroup directory's inode number):
    // task->cgroups->subsys[memory_cgrp_id]->cgroup->kn->id and
    // ((struct mem_cgroup *)(folio->memcg_data & ~mask))->css.cgroup->kn->id
    task_cgroups,
    css_set_subsys,
    memory_cgrp_id,
    css_cgroup,
    cgroup_kn,
    kn_id,
    memcg_css,
    /// (1 << number of MEMCG_DATA_* flag bits) - 1, from enum page_memcg_data_flags.
    memcg_data_mask,
    /// obj_cgroup.memcg where folio->memcg_data holds an obj_cgroup (7.x,
    /// where LRU folios are reparented through objcgs); UNRESOLVED where it
    /// holds the mem_cgroup itself.
    objcg_memcg,
    // BTF: workingset_refault (mm/workingset.c): the eviction lruvec of a
    // shadow entry, mem_cgroup_lruvec(memcg, pgdat) =
    // memcg->nodeinfo[nid]->lruvec, its clock (nonresident_age) and MGLRU's
    // oldest generations (lrugen.min_seq[anon, file]); the memcg id the
    // shadow stores (memcg->id.id); and a file folio's inode
    // (folio->mapping->host: i_ino, i_sb->s_dev).
    memcg_id,
    memcg_nodeinfo,
    mpn_lruvec,
    /// mem_cgroup_per_node.memcg and lruvec.pgdat: the memory cgroup and
    /// node of an lruvec (lruvec_memcg(), lruvec_pgdat()), where reclaim
    /// shrinks one (shrink_lruvec, try_to_shrink_lruvec).
    mpn_memcg,
    lruvec_pgdat,
    /// BTF: 1 where folio_isolate_lru returns bool (true: isolated; 6.4+),
    /// 0 where it (or 5.10's isolate_lru_page) returns int (0: isolated).
    isolate_lru_bool,
    /// BTF: the mlock batch (mlock_folio_batch's struct folio_batch, 6.3+;
    /// mlock_pagevec's struct pagevec, 5.18-6.2): the offset of its count
    /// (one byte), of its array of tagged folio / page pointers, and that
    /// array's length.
    /// BTF: compact_control.migratepages, the list compaction's migrate
    /// scanner adds the folios it isolates to; and 1 where the kernel has
    /// the bpf_loop helper (enum bpf_func_id BPF_FUNC_loop, 5.17+), which
    /// the walk of that list runs in.
    cc_migratepages,
    has_bpf_loop,
    /// compact_control.alloc_contig (one byte): alloc_contig_range's scan
    /// (CMA, gigantic pages), which also isolates hugetlb folios onto the
    /// list; where page types cannot tell those apart, such calls are not
    /// counted.
    cc_alloc_contig,
    /// BTF: page.page_type (4 bytes), and 1 where page types live in its
    /// top byte (enum PGTY_buddy..., 6.10+): hugetlb folios and non-LRU
    /// movable pages (zsmalloc, balloon) are typed, LRU folios never are.
    /// Before, a non-LRU movable page's mapping has the low bits
    /// PAGE_MAPPING_MOVABLE (2). Compaction isolates those onto the same
    /// list; they were on no LRU list and are not counted.
    page_type,
    page_types,
    mlock_batch_nr,
    mlock_batch_items,
    mlock_batch_len,
    lruvec_nonresident_age,
    lruvec_min_seq,
    folio_mapping,
    mapping_host,
    inode_ino,
    inode_sb,
    sb_dev,
}

const _: () = assert!(
    core::mem::size_of::<Offsets>()
        == NODE_TABLE * 8 + NODE_TABLE * 4 + 4 + OFFSET_NAMES.len() * 4 + OFFSET_PAD * 4
);
const _: () = assert!(core::mem::size_of::<Offsets>().is_multiple_of(8));
