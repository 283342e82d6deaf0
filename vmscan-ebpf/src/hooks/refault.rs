//! workingset_refault (fentry + fexit, kprobe + kretprobe fallback): every
//! refault the kernel counts (mm/workingset.c), in pages, keyed by the
//! refaulting folio's memory cgroup and node as /proc/vmstat and
//! memory.stat count them; the refault distance (the eviction lruvec's
//! nonresident_age now minus the clock stored in the shadow entry, in
//! pages) as a histogram per cgroup; per file (inode) and per task; and on
//! return the kernel's verdict from the folio's flags: activated (PG_active,
//! classic LRU) and restored (PG_workingset).

use aya_ebpf::{
    helpers::bpf_get_current_comm,
    macros::{fentry, fexit, kprobe, kretprobe},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use vmscan_common::{
    HookId, PagesAgg, RefaultAgg, RefaultDistKey, RefaultFileKey, RefaultKey, RefaultTaskKey,
    distance_bucket, hook, refault_node_index, refault_rule,
};

use crate::{
    globals::{
        ANON_DISTANCE, BUCKET_ORDER, EVICTION_MASK, KPROBE_SHADOW, REFAULT_BY_MEMCG,
        REFAULT_DETAIL, REFAULT_ONE_PER_CALL, REFAULT_RULE, SHADOW_MEMCG_SHIFT, SHADOW_NODES_SHIFT,
        enabled, global_u64,
    },
    kernel::{
        bit, current_pid, current_tgid, fentry_arg, folio_flags, folio_memcg, folio_node,
        folio_pages, is_file, kread, memcg_cgroup_id,
    },
    maps::{
        REFAULT, REFAULT_CTX, REFAULT_DIST, REFAULT_FILES, REFAULT_NODE, REFAULT_TASKS, add_at,
        add_keyed, hit,
    },
};

/// One task's workingset_refault call between entry and return.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct RefaultCtx {
    folio: u64,
    pages: u64,
    key: RefaultKey,
}

#[fentry(function = "workingset_refault")]
pub fn fentry_workingset_refault(ctx: FEntryContext) -> u32 {
    hit(hook::REFAULT);
    refault_enter(fentry_arg(&ctx, 0), fentry_arg(&ctx, 1), true);
    0
}

#[fexit(function = "workingset_refault")]
pub fn fexit_workingset_refault(ctx: FExitContext) -> u32 {
    hit(hook::REFAULT_RET);
    let rule = global_u64(&REFAULT_RULE);
    if !judged_again(rule) {
        refault_exit();
        return 0;
    }
    // fexit sees the call's arguments: the verdict is judged and keyed
    // again from them, with no per-call state kept from entry, and only
    // where the folio's flags show one.
    let folio = fentry_arg(&ctx, 0);
    let flags = folio_flags(folio);
    if !has_verdict(flags) {
        return 0;
    }
    let j = if rule == refault_rule::CLASSIC {
        // Every refault counts; the key needs no shadow.
        Judged {
            key: refault_key(folio, flags, None),
            pages: refault_pages(folio, flags),
            counted: true,
            lruvec: 0,
            eviction: 0,
        }
    } else {
        judge(folio, fentry_arg(&ctx, 1), flags, rule)
    };
    if j.counted {
        refault_verdict(flags, j.pages, &j.key);
    }
    0
}

#[kprobe]
pub fn kprobe_workingset_refault(ctx: ProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        hit(hook::SHADOW_REFAULT);
        return 0;
    }
    hit(hook::REFAULT);
    if let (Some(folio), Some(shadow)) = (ctx.arg::<u64>(0), ctx.arg::<u64>(1)) {
        refault_enter(folio, shadow, false);
    }
    0
}

#[kretprobe]
pub fn kretprobe_workingset_refault(_ctx: RetProbeContext) -> u32 {
    if enabled(&KPROBE_SHADOW) {
        return 0;
    }
    hit(hook::REFAULT_RET);
    refault_exit();
    0
}

/// A shadow entry unpacked (mm/workingset.c: unpack_shadow).
struct Shadow {
    memcg_id: u64,
    nid: u64,
    eviction: u64,
}

#[inline(always)]
fn unpack(shadow: u64) -> Option<Shadow> {
    let nodes = global_u64(&SHADOW_NODES_SHIFT);
    let memcgs = global_u64(&SHADOW_MEMCG_SHIFT);
    if nodes >= 32 || memcgs >= 32 || shadow & 1 == 0 {
        return None;
    }
    // xa_to_value, then the workingset bit.
    let v = shadow >> 2;
    let nid = v & ((1u64 << nodes) - 1);
    let v = v >> nodes;
    let memcg_id = v & ((1u64 << memcgs) - 1);
    Some(Shadow {
        memcg_id,
        nid,
        eviction: v >> memcgs,
    })
}

/// mem_cgroup_lruvec(memcg, NODE_DATA(nid)) for a memcg that has one.
#[inline(always)]
fn memcg_lruvec(memcg: u64, nid: u64) -> u64 {
    let nodeinfo = off!(memcg_nodeinfo);
    if memcg == 0 || nodeinfo == vmscan_common::UNRESOLVED || nid >= 1024 {
        return 0;
    }
    let Ok(pn) = kread::<u64>(memcg, nodeinfo + nid as u32 * 8) else {
        return 0;
    };
    if pn == 0 || off!(mpn_lruvec) == vmscan_common::UNRESOLVED {
        return 0;
    }
    pn + off!(mpn_lruvec) as u64
}

/// The pages a refault of `folio` counts.
#[inline(always)]
fn refault_pages(folio: u64, flags: u64) -> u64 {
    if enabled(&REFAULT_ONE_PER_CALL) {
        1
    } else {
        folio_pages(folio, flags)
    }
}

/// The REFAULT key of a refault of `folio` whose memcg is `memcg` (read
/// here when None and the key names it).
#[inline(always)]
fn refault_key(folio: u64, flags: u64, memcg: Option<u64>) -> RefaultKey {
    let cgroup_id = if enabled(&REFAULT_BY_MEMCG) {
        memcg_cgroup_id(memcg.unwrap_or_else(|| folio_memcg(folio)))
    } else {
        0
    };
    RefaultKey {
        cgroup_id,
        node: folio_node(folio),
        file: is_file(flags) as u32,
    }
}

/// What workingset_refault(folio, shadow) counts, as the running kernel's
/// rule decides it.
struct Judged {
    key: RefaultKey,
    pages: u64,
    counted: bool,
    /// The eviction lruvec, when the shadow names this folio's own cgroup
    /// (the usual case; a refault evicted from another cgroup has no
    /// measured distance), and the shadow's eviction clock.
    lruvec: u64,
    eviction: u64,
}

#[inline(always)]
fn judge(folio: u64, shadow: u64, flags: u64, rule: u64) -> Judged {
    let file = is_file(flags);
    let pages = refault_pages(folio, flags);
    // The folio's memcg keys the refault and, under MGLRU, decides whether
    // the kernel counts it; stat on the classic LRU needs it for neither.
    let need_memcg = enabled(&REFAULT_BY_MEMCG) || rule != refault_rule::CLASSIC;
    let memcg = if need_memcg { folio_memcg(folio) } else { 0 };
    let key = refault_key(folio, flags, Some(memcg));

    // `same_node`: the shadow's node is the folio's.
    let mut lruvec = 0u64;
    let mut eviction = 0u64;
    let mut same_node = false;
    if let Some(s) = unpack(shadow).filter(|_| need_memcg) {
        let own_id = kread::<u32>(memcg, off!(memcg_id)).map(|v| v as u64);
        if own_id == Ok(s.memcg_id) {
            lruvec = memcg_lruvec(memcg, s.nid);
            eviction = s.eviction;
            same_node = s.nid == key.node as u64;
        }
    }
    let counted = match rule {
        // MGLRU (6.2+): counted when the eviction lruvec is the folio's.
        refault_rule::MGLRU_LRUVEC => lruvec != 0 && same_node,
        // MGLRU (6.1): counted when memcg and node match and the token's
        // generation is still the oldest one (min_seq).
        refault_rule::MGLRU_MIN_SEQ => {
            lruvec != 0 && same_node && token_is_current(lruvec, eviction, file)
        }
        _ => true,
    };
    Judged {
        key,
        pages,
        counted,
        lruvec,
        eviction,
    }
}

/// Whether the return program judges the call again from its arguments
/// (fexit under a rule that the call itself cannot change: the classic
/// one, and 6.2+ MGLRU's, which compares memcg ids and nodes) instead of
/// taking the entry's judgement from REFAULT_CTX. 6.1's MGLRU rule reads
/// min_seq, which may move during the call.
#[inline(always)]
fn judged_again(rule: u64) -> bool {
    rule != refault_rule::MGLRU_MIN_SEQ
}

/// Adds to the refaults under `key`: per memory cgroup in the REFAULT hash
/// where a view names cgroups, else (stat) per node and type in the
/// REFAULT_NODE array, a lookup with no hashing.
#[inline(always)]
fn add_refault(key: &RefaultKey, a: &RefaultAgg, h: HookId) {
    if enabled(&REFAULT_BY_MEMCG) {
        add_keyed(&REFAULT, key, a, h);
    } else {
        add_at(&REFAULT_NODE, refault_node_index(key.node, key.file), a);
    }
}

/// `by_args`: the return program reads the call's arguments (fexit).
#[inline(always)]
fn refault_enter(folio: u64, shadow: u64, by_args: bool) {
    let flags = folio_flags(folio);
    let file = is_file(flags);
    let rule = global_u64(&REFAULT_RULE);
    let by_memcg = enabled(&REFAULT_BY_MEMCG);
    let Judged {
        key,
        pages,
        counted,
        lruvec,
        eviction,
    } = judge(folio, shadow, flags, rule);
    if !counted {
        add_refault(
            &key,
            &RefaultAgg {
                uncounted: 1,
                ..Default::default()
            },
            hook::REFAULT,
        );
        return;
    }
    let measured = by_memcg
        && rule == refault_rule::CLASSIC
        && lruvec != 0
        && (file || enabled(&ANON_DISTANCE));
    let a = RefaultAgg {
        pages,
        folios: 1,
        measured: if measured { pages } else { 0 },
        ..Default::default()
    };
    add_refault(&key, &a, hook::REFAULT);
    if measured {
        // Refault distance (workingset_test_recent): the eviction clock is in
        // buckets of 2^bucket_order pages, modulo EVICTION_MASK.
        let mask = global_u64(&EVICTION_MASK);
        let age = kread::<u64>(lruvec, off!(lruvec_nonresident_age)).unwrap_or(0);
        let distance = age.wrapping_sub(eviction << (global_u64(&BUCKET_ORDER) & 63)) & mask;
        let k = RefaultDistKey {
            cgroup_id: key.cgroup_id,
            file: key.file,
            bucket: distance_bucket(distance),
        };
        add_keyed(
            &REFAULT_DIST,
            &k,
            &PagesAgg { pages, folios: 1 },
            hook::REFAULT,
        );
    }
    if !(by_args && judged_again(rule)) {
        let _ = REFAULT_CTX.insert(&current_pid(), &RefaultCtx { folio, pages, key }, 0);
    }
    if !enabled(&REFAULT_DETAIL) {
        return;
    }
    let one = PagesAgg { pages, folios: 1 };
    if file && let Some(ino) = inode_of(folio) {
        let k = RefaultFileKey {
            ino: ino.0,
            cgroup_id: key.cgroup_id,
            dev: ino.1,
            _pad: 0,
        };
        add_keyed(&REFAULT_FILES, &k, &one, hook::REFAULT);
    }
    let t = RefaultTaskKey {
        cgroup_id: key.cgroup_id,
        tgid: current_tgid() as u32,
        file: key.file,
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
    };
    add_keyed(&REFAULT_TASKS, &t, &one, hook::REFAULT);
}

/// MGLRU's LRU_REFS_WIDTH: the low bits of its eviction token (refs - 1).
/// min(2, the page flags' spare bits): 2 on Debian's amd64 configuration (a
/// macro, not in BTF; the lab's 6.1+mglru counts equal /proc/vmstat with it).
const LRU_REFS_WIDTH: u64 = 2;

/// 6.1 lru_gen_refault: (token >> LRU_REFS_WIDTH) must equal min_seq[type]
/// masked to the token's width.
#[inline(always)]
fn token_is_current(lruvec: u64, token: u64, file: bool) -> bool {
    let width = LRU_REFS_WIDTH;
    let Ok(min_seq) = kread::<u64>(lruvec, off!(lruvec_min_seq) + if file { 8 } else { 0 }) else {
        return false;
    };
    token >> width == min_seq & (global_u64(&EVICTION_MASK) >> width)
}

/// (i_ino, s_dev) of a file folio's inode: folio->mapping->host.
#[inline(always)]
fn inode_of(folio: u64) -> Option<(u64, u32)> {
    let mapping = kread::<u64>(folio, off!(folio_mapping)).ok()?;
    // An anon mapping has its low bit set (PAGE_MAPPING_ANON).
    if mapping & 3 != 0 {
        return None;
    }
    let host = kread::<u64>(mapping, off!(mapping_host)).ok()?;
    let ino = kread::<u64>(host, off!(inode_ino)).ok()?;
    let sb = kread::<u64>(host, off!(inode_sb)).ok()?;
    let dev = kread::<u32>(sb, off!(sb_dev)).ok()?;
    Some((ino, dev))
}

#[inline(always)]
fn refault_exit() {
    let pid = current_pid();
    // SAFETY: copied out before removal.
    let Some(c) = (unsafe { REFAULT_CTX.get(&pid) }).copied() else {
        return;
    };
    let _ = REFAULT_CTX.remove(&pid);
    refault_verdict(folio_flags(c.folio), c.pages, &c.key);
}

/// Whether the folio's flags on return hold a verdict.
#[inline(always)]
fn has_verdict(flags: u64) -> bool {
    bit(flags, off!(pg_active)) || bit(flags, off!(pg_workingset))
}

/// The kernel's verdict on a refault of `pages` under `key`, from the
/// folio's flags on return: activated (PG_active) and restored
/// (PG_workingset).
#[inline(always)]
fn refault_verdict(flags: u64, pages: u64, key: &RefaultKey) {
    if !has_verdict(flags) {
        return;
    }
    let a = RefaultAgg {
        activated: if bit(flags, off!(pg_active)) {
            pages
        } else {
            0
        },
        restored: if bit(flags, off!(pg_workingset)) {
            pages
        } else {
            0
        },
        ..Default::default()
    };
    add_refault(key, &a, hook::REFAULT_RET);
}
