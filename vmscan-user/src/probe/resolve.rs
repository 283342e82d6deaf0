//! The hooks vmscan knows and how each one's offsets are resolved on the
//! running kernel: tracepoint fields from format files, struct fields and
//! flag bits from BTF. A hook whose fields cannot be resolved is reported
//! unavailable with the reason; nothing is guessed.

use std::path::Path;

use vmscan_common::{HookId, Offsets, UNRESOLVED, hook};

use super::{
    btf::{Btf, TpArg},
    format::Format,
    system,
};

/// How a hook attaches.
#[derive(Clone, Copy, Debug)]
pub enum Attach {
    /// A classic tracepoint; `events` lists the names it has had across
    /// kernels (the first that exists is used).
    Tracepoint {
        category: &'static str,
        events: &'static [&'static str],
        program: &'static str,
    },
    /// A kernel function: fentry preferred, kprobe as the fallback; `exit`
    /// names the fexit / kretprobe programs when the hook needs the return.
    Function {
        functions: &'static [&'static str],
        fentry: &'static str,
        kprobe: &'static str,
        exit: Option<Exit>,
    },
}

/// A function hook's return programs and when they are attached.
#[derive(Clone, Copy, Debug)]
pub struct Exit {
    pub fexit: &'static str,
    pub kretprobe: &'static str,
    pub when: ExitWhen,
}

/// When a function hook's return program is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitWhen {
    /// With the entry program, wherever it attaches.
    Always,
    /// Only under MGLRU and only for a command that shows access outcomes
    /// from what the call changed (`vmscan access`). On the classic LRU the
    /// entry flags decide the outcome, so a return program would be pure
    /// cost, and on 5.10 a kretprobe hides the callers from the entry
    /// program's stack walk (kretprobe_trampoline before 5.15's unwinder
    /// fix). A fentry+fexit trampoline on this hottest of hooks also crashed
    /// TCG lab guests while attaching, so other commands go without it.
    MglruOutcomes,
}

const fn exit(fexit: &'static str, kretprobe: &'static str) -> Option<Exit> {
    Some(Exit {
        fexit,
        kretprobe,
        when: ExitWhen::Always,
    })
}

#[derive(Clone, Copy, Debug)]
pub struct HookSpec {
    pub id: HookId,
    pub attach: Attach,
}

const fn tp(
    id: HookId,
    category: &'static str,
    events: &'static [&'static str],
    program: &'static str,
) -> HookSpec {
    HookSpec {
        id,
        attach: Attach::Tracepoint {
            category,
            events,
            program,
        },
    }
}

/// The LRU isolation function outside reclaim: folio_isolate_lru (6.1+),
/// before it isolate_lru_page (the first the kernel has is hooked).
pub const ISOLATE_LRU_FUNCTIONS: &[&str] = &["folio_isolate_lru", "isolate_lru_page"];

/// The mlock batch: mlock_folio_batch (6.3+), before it mlock_pagevec
/// (5.18-6.2); with the struct its argument points to and that struct's
/// count and array members.
pub const MLOCK_FUNCTIONS: &[(&str, &str, &str)] = &[
    ("mlock_folio_batch", "folio_batch", "folios"),
    ("mlock_pagevec", "pagevec", "pages"),
];

/// Every hook, in display order.
pub const HOOKS: &[HookSpec] = &[
    tp(
        hook::KSWAPD_WAKE,
        "vmscan",
        &["mm_vmscan_kswapd_wake"],
        "vmscan_kswapd_wake",
    ),
    tp(
        hook::KSWAPD_SLEEP,
        "vmscan",
        &["mm_vmscan_kswapd_sleep"],
        "vmscan_kswapd_sleep",
    ),
    tp(
        hook::WAKEUP_KSWAPD,
        "vmscan",
        &["mm_vmscan_wakeup_kswapd"],
        "vmscan_wakeup_kswapd",
    ),
    tp(
        hook::DIRECT_BEGIN,
        "vmscan",
        &["mm_vmscan_direct_reclaim_begin"],
        "vmscan_direct_reclaim_begin",
    ),
    tp(
        hook::DIRECT_END,
        "vmscan",
        &["mm_vmscan_direct_reclaim_end"],
        "vmscan_direct_reclaim_end",
    ),
    tp(
        hook::MEMCG_BEGIN,
        "vmscan",
        &["mm_vmscan_memcg_reclaim_begin"],
        "vmscan_memcg_reclaim_begin",
    ),
    tp(
        hook::MEMCG_END,
        "vmscan",
        &["mm_vmscan_memcg_reclaim_end"],
        "vmscan_memcg_reclaim_end",
    ),
    tp(
        hook::SOFTLIMIT_BEGIN,
        "vmscan",
        &["mm_vmscan_memcg_softlimit_reclaim_begin"],
        "vmscan_memcg_softlimit_reclaim_begin",
    ),
    tp(
        hook::SOFTLIMIT_END,
        "vmscan",
        &["mm_vmscan_memcg_softlimit_reclaim_end"],
        "vmscan_memcg_softlimit_reclaim_end",
    ),
    tp(
        hook::NODE_BEGIN,
        "vmscan",
        &["mm_vmscan_node_reclaim_begin"],
        "vmscan_node_reclaim_begin",
    ),
    tp(
        hook::NODE_END,
        "vmscan",
        &["mm_vmscan_node_reclaim_end"],
        "vmscan_node_reclaim_end",
    ),
    tp(
        hook::LRU_ISOLATE,
        "vmscan",
        &["mm_vmscan_lru_isolate"],
        "vmscan_lru_isolate",
    ),
    tp(
        hook::SHRINK_INACTIVE,
        "vmscan",
        &["mm_vmscan_lru_shrink_inactive"],
        "vmscan_lru_shrink_inactive",
    ),
    tp(
        hook::SHRINK_ACTIVE,
        "vmscan",
        &["mm_vmscan_lru_shrink_active"],
        "vmscan_lru_shrink_active",
    ),
    tp(
        hook::WRITE_FOLIO,
        "vmscan",
        &["mm_vmscan_write_folio", "mm_vmscan_writepage"],
        "vmscan_write_folio",
    ),
    tp(
        hook::THROTTLED,
        "vmscan",
        &["mm_vmscan_throttled"],
        "vmscan_throttled",
    ),
    tp(
        hook::RECLAIM_PAGES,
        "vmscan",
        &["mm_vmscan_reclaim_pages"],
        "vmscan_reclaim_pages",
    ),
    tp(
        hook::MIGRATE_PAGES,
        "migrate",
        &["mm_migrate_pages"],
        "migrate_mm_migrate_pages",
    ),
    tp(
        hook::LRU_INSERTION,
        "pagemap",
        &["mm_lru_insertion"],
        "pagemap_lru_insertion",
    ),
    tp(
        hook::LRU_ACTIVATE,
        "pagemap",
        &["mm_lru_activate"],
        "pagemap_lru_activate",
    ),
    HookSpec {
        id: hook::MARK_ACCESSED,
        attach: Attach::Function {
            functions: &["folio_mark_accessed", "mark_page_accessed"],
            fentry: "fentry_folio_mark_accessed",
            kprobe: "kprobe_folio_mark_accessed",
            exit: Some(Exit {
                fexit: "fexit_folio_mark_accessed",
                kretprobe: "kretprobe_folio_mark_accessed",
                when: ExitWhen::MglruOutcomes,
            }),
        },
    },
    HookSpec {
        id: hook::ADD_LRU,
        attach: Attach::Function {
            // lru_cache_add(page) before 5.16.
            functions: &["folio_add_lru", "lru_cache_add"],
            fentry: "fentry_folio_add_lru",
            kprobe: "kprobe_folio_add_lru",
            exit: None,
        },
    },
    HookSpec {
        id: hook::SHRINK_NODE,
        attach: Attach::Function {
            functions: &["shrink_node"],
            fentry: "fentry_shrink_node",
            kprobe: "kprobe_shrink_node",
            exit: exit("fexit_shrink_node", "kretprobe_shrink_node"),
        },
    },
    HookSpec {
        id: hook::MEMCG_TARGET,
        attach: Attach::Function {
            functions: &["try_to_free_mem_cgroup_pages"],
            fentry: "fentry_try_to_free_mem_cgroup_pages",
            kprobe: "kprobe_try_to_free_mem_cgroup_pages",
            exit: None,
        },
    },
    HookSpec {
        id: hook::TEARDOWN,
        attach: Attach::Function {
            functions: &["exit_mmap"],
            fentry: "fentry_exit_mmap",
            kprobe: "kprobe_exit_mmap",
            exit: exit("fexit_exit_mmap", "kretprobe_exit_mmap"),
        },
    },
    HookSpec {
        id: hook::LAZYFREE,
        attach: Attach::Function {
            functions: LAZYFREE_FUNCTIONS,
            fentry: "fentry_lru_lazyfree",
            kprobe: "kprobe_lru_lazyfree",
            exit: None,
        },
    },
    HookSpec {
        id: hook::DEACTIVATE,
        attach: Attach::Function {
            functions: DEACTIVATE_FUNCTIONS,
            fentry: "fentry_lru_deactivate",
            kprobe: "kprobe_lru_deactivate",
            exit: None,
        },
    },
    HookSpec {
        id: hook::DEACTIVATE_FILE,
        attach: Attach::Function {
            functions: DEACTIVATE_FILE_FUNCTIONS,
            fentry: "fentry_lru_deactivate_file",
            kprobe: "kprobe_lru_deactivate_file",
            exit: exit("fexit_lru_deactivate_file", "kretprobe_lru_deactivate_file"),
        },
    },
    HookSpec {
        id: hook::EVICT_FOLIOS,
        attach: Attach::Function {
            functions: &["evict_folios"],
            fentry: "fentry_evict_folios",
            kprobe: "kprobe_evict_folios",
            exit: exit("fexit_evict_folios", "kretprobe_evict_folios"),
        },
    },
    HookSpec {
        id: hook::SHRINK_FOLIO_LIST,
        attach: Attach::Function {
            // shrink_page_list before folios (5.10-5.19): the same
            // parameters and counting.
            functions: &["shrink_folio_list", "shrink_page_list"],
            fentry: "fentry_shrink_folio_list",
            kprobe: "kprobe_shrink_folio_list",
            exit: exit("fexit_shrink_folio_list", "kretprobe_shrink_folio_list"),
        },
    },
    HookSpec {
        id: hook::LRUVEC,
        attach: Attach::Function {
            functions: &["shrink_lruvec"],
            fentry: "fentry_shrink_lruvec",
            kprobe: "kprobe_shrink_lruvec",
            exit: exit("fexit_shrink_lruvec", "kretprobe_shrink_lruvec"),
        },
    },
    HookSpec {
        id: hook::LRUVEC_GEN,
        attach: Attach::Function {
            functions: &["try_to_shrink_lruvec"],
            fentry: "fentry_try_to_shrink_lruvec",
            kprobe: "kprobe_try_to_shrink_lruvec",
            exit: exit(
                "fexit_try_to_shrink_lruvec",
                "kretprobe_try_to_shrink_lruvec",
            ),
        },
    },
    HookSpec {
        id: hook::ISOLATE_LRU,
        attach: Attach::Function {
            // isolate_lru_page(page) before 6.1 (6.1-6.3's wraps this one).
            functions: ISOLATE_LRU_FUNCTIONS,
            fentry: "fentry_folio_isolate_lru",
            kprobe: "kprobe_folio_isolate_lru",
            exit: exit("fexit_folio_isolate_lru", "kretprobe_folio_isolate_lru"),
        },
    },
    HookSpec {
        id: hook::COMPACT,
        attach: Attach::Function {
            functions: &["isolate_migratepages_block"],
            fentry: "fentry_isolate_migratepages_block",
            kprobe: "kprobe_isolate_migratepages_block",
            exit: exit(
                "fexit_isolate_migratepages_block",
                "kretprobe_isolate_migratepages_block",
            ),
        },
    },
    HookSpec {
        id: hook::MLOCK,
        attach: Attach::Function {
            functions: &["mlock_folio_batch", "mlock_pagevec"],
            fentry: "fentry_mlock_folio_batch",
            kprobe: "kprobe_mlock_folio_batch",
            exit: exit("fexit_mlock_folio_batch", "kretprobe_mlock_folio_batch"),
        },
    },
    HookSpec {
        id: hook::REFAULT,
        attach: Attach::Function {
            functions: &["workingset_refault"],
            fentry: "fentry_workingset_refault",
            kprobe: "kprobe_workingset_refault",
            exit: exit("fexit_workingset_refault", "kretprobe_workingset_refault"),
        },
    },
];

/// Display name of a hook: "vmscan:mm_vmscan_kswapd_wake" or "folio_mark_accessed".
pub fn hook_name(id: HookId) -> String {
    if let Some(entry) = HOOKS
        .iter()
        .map(|h| h.id)
        .find(|&e| hook::return_of(e) == Some(id))
    {
        return format!("{} (return)", hook_name(entry));
    }
    match HOOKS.iter().find(|h| h.id == id).map(|h| h.attach) {
        Some(Attach::Tracepoint {
            category, events, ..
        }) => format!("{category}:{}", events[0]),
        Some(Attach::Function { functions, .. }) => functions[0].to_owned(),
        None => format!("hook {}", id.0),
    }
}

/// Fills the offsets of tracepoint hook `id` from its format file. A field
/// named `a|b` is `a` where the kernel has it, else `b` (pagemap's `folio`
/// was a `page` before 5.16: the same pointer to the head's struct page).
pub fn resolve_tracepoint(id: HookId, f: &Format, o: &mut Offsets) -> Result<(), String> {
    let fields =
        tracepoint_fields(id, o).ok_or_else(|| format!("hook {id} is not a tracepoint"))?;
    for (slot, names, sizes) in fields {
        let mut res = Err(String::new());
        for name in names.split('|') {
            res = f.offset(name, sizes);
            if res.is_ok() || f.fields.contains_key(name) {
                break;
            }
        }
        *slot = res?;
    }
    Ok(())
}

/// Event classes whose `__bpf_trace_` function may name `event`'s
/// arguments besides its own (include/trace/events/vmscan.h declares the
/// reclaim begin/end events through two templates).
pub fn event_classes(event: &str) -> Vec<String> {
    let mut v = vec![format!("{event}_template")];
    if event.ends_with("_reclaim_begin") {
        v.push("mm_vmscan_direct_reclaim_begin_template".into());
    }
    if event.ends_with("_reclaim_end") {
        v.push("mm_vmscan_direct_reclaim_end_template".into());
    }
    v
}

/// Fills the `ARG_OFFSETS` places of tracepoint hook `id` from the event's
/// arguments (tp_btf / raw_tp): a field is the argument of its name, a
/// counter of the `struct reclaim_stat *` argument, or derived from the
/// folio argument as TP_fast_assign derives it (its pfn, its list, its
/// reclaim_flags; the `file` argument for a shrink pass's reclaim_flags).
/// `folio_node` says whether a folio's node can be worked out (one node, or
/// vmemmap_base and sizeof(struct page) known): pagemap's pfn needs it.
pub fn resolve_tracepoint_args(
    id: HookId,
    args: &[TpArg],
    btf: &Btf,
    folio_node: bool,
    o: &mut Offsets,
) -> Result<(), String> {
    // The programs copy the first TP_ARGS arguments; a field only a later
    // one gives is not found.
    let args = &args[..args.len().min(vmscan_common::TP_ARGS)];
    let folio = args
        .iter()
        .position(|a| matches!(a.name.as_str(), "folio" | "page") && a.pointee.is_some());
    let fields =
        tracepoint_fields(id, o).ok_or_else(|| format!("hook {id} is not a tracepoint"))?;
    for (slot, names, sizes) in fields {
        *slot = arg_place(names, sizes, args, btf, folio, folio_node)?;
    }
    if id == hook::WRITE_FOLIO {
        o.wf_folio = folio
            .map(|i| vmscan_common::arg(i as u32))
            .ok_or("no folio argument")?;
    }
    Ok(())
}

/// Where one record field is among the arguments (see
/// [`resolve_tracepoint_args`]).
fn arg_place(
    names: &str,
    sizes: &[u32],
    args: &[TpArg],
    btf: &Btf,
    folio: Option<usize>,
    folio_node: bool,
) -> Result<u32, String> {
    use vmscan_common::{ARG_FILE_FLAG, ARG_U32, DERIVED, arg, arg_deref};
    for name in names.split('|') {
        if let Some(i) = args.iter().position(|a| a.name == name) {
            let size = args[i].size;
            return if sizes.contains(&size) {
                Ok(arg(i as u32))
            } else {
                Err(format!("argument {name} is {size} bytes, not {sizes:?}"))
            };
        }
    }
    let name = names.split('|').next().unwrap_or(names);
    if let Some(i) = args
        .iter()
        .position(|a| a.pointee.as_deref() == Some("reclaim_stat"))
    {
        // nr_activate0/1 are reclaim_stat.nr_activate[ANON_AND_FILE].
        let (member, index) = match name.strip_prefix("nr_activate") {
            Some(n @ ("0" | "1")) => ("nr_activate", n.parse::<u32>().unwrap_or(0)),
            _ => (name, 0),
        };
        if let Some((off, size)) = btf.member("reclaim_stat", member) {
            let size = if member == "nr_activate" {
                size / 2
            } else {
                size
            };
            let place = arg_deref(i as u32, off + index * size);
            if off + (index + 1) * size > 0xffff {
                return Err(format!(
                    "reclaim_stat.{member} beyond what an argument place can hold"
                ));
            }
            return match size {
                _ if sizes.contains(&size) => Ok(place),
                4 if sizes.contains(&8) => Ok(place | ARG_U32),
                _ => Err(format!(
                    "reclaim_stat.{member} is {size} bytes, not {sizes:?}"
                )),
            };
        }
    }
    match (name, folio) {
        ("reclaim_flags", _) if let Some(i) = args.iter().position(|a| a.name == "file" && a.size == 4) => Ok(arg(i as u32) | ARG_FILE_FLAG),
        ("reclaim_flags" | "lru", Some(_)) => Ok(DERIVED),
        ("pfn", Some(_)) if folio_node => Ok(DERIVED),
        ("pfn", Some(_)) => Err("the folio's node needs vmemmap_base from /proc/kallsyms on a machine with several nodes".into()),
        _ => Err(format!("no argument gives the record's {name}")),
    }
}

/// Whether MGLRU's eviction fires mm_vmscan_lru_isolate and
/// lru_shrink_inactive on this kernel, from the isolate tracepoint's format:
/// the 6.7 change that added those calls to scan_folios()/evict_folios()
/// ("mm: multi-gen LRU: reuse some legacy trace events") dropped the
/// `isolate_mode` field in the same commit, since MGLRU has no isolate mode.
/// No BTF type changed with it, so the format file is the kernel's own word.
pub fn mglru_fires_tracepoints(isolate: &Format) -> bool {
    !isolate.fields.contains_key("isolate_mode")
}

/// A tracepoint field a hook reads: where its offset goes, its name in the
/// format file, and the sizes it may have.
type Field<'a> = (&'a mut u32, &'static str, &'static [u32]);

/// The fields each tracepoint hook reads, in the order they are resolved;
/// None for a hook that is not a tracepoint.
fn tracepoint_fields(id: HookId, o: &mut Offsets) -> Option<Vec<Field<'_>>> {
    const INT: &[u32] = &[4];
    const LONG: &[u32] = &[8];
    const PTR: &[u32] = &[8];
    // gfp_t (unsigned int) on 5.10, unsigned long on 6.x: the programs
    // read the low 32 bits, where every gfp flag lies (___GFP_LAST_BIT < 32).
    const GFP: &[u32] = &[4, 8];
    Some(match id {
        hook::KSWAPD_WAKE => vec![
            (&mut o.kswapd_wake_nid, "nid", INT),
            (&mut o.kswapd_wake_zid, "zid", INT),
            (&mut o.kswapd_wake_order, "order", INT),
        ],
        hook::KSWAPD_SLEEP => vec![(&mut o.kswapd_sleep_nid, "nid", INT)],
        hook::WAKEUP_KSWAPD => vec![
            (&mut o.wakeup_nid, "nid", INT),
            (&mut o.wakeup_zid, "zid", INT),
            (&mut o.wakeup_order, "order", INT),
            (&mut o.wakeup_gfp, "gfp_flags", GFP),
        ],
        hook::DIRECT_BEGIN => vec![
            (&mut o.direct_begin_order, "order", INT),
            (&mut o.direct_begin_gfp, "gfp_flags", GFP),
        ],
        hook::MEMCG_BEGIN => vec![
            (&mut o.memcg_begin_order, "order", INT),
            (&mut o.memcg_begin_gfp, "gfp_flags", GFP),
        ],
        // Only where the pass begins and ends matters.
        hook::SOFTLIMIT_BEGIN | hook::SOFTLIMIT_END => vec![],
        hook::NODE_BEGIN => vec![
            (&mut o.node_begin_nid, "nid", INT),
            (&mut o.node_begin_order, "order", INT),
            (&mut o.node_begin_gfp, "gfp_flags", GFP),
        ],
        hook::DIRECT_END => vec![(&mut o.direct_end_reclaimed, "nr_reclaimed", LONG)],
        hook::MEMCG_END => vec![(&mut o.memcg_end_reclaimed, "nr_reclaimed", LONG)],
        hook::NODE_END => vec![(&mut o.node_end_reclaimed, "nr_reclaimed", LONG)],
        hook::LRU_ISOLATE => vec![
            (&mut o.iso_requested, "nr_requested", LONG),
            (&mut o.iso_scanned, "nr_scanned", LONG),
            (&mut o.iso_skipped, "nr_skipped", LONG),
            (&mut o.iso_taken, "nr_taken", LONG),
            (&mut o.iso_lru, "lru", INT),
        ],
        hook::MIGRATE_PAGES => vec![
            (&mut o.mp_succeeded, "succeeded", LONG),
            (&mut o.mp_reason, "reason", INT),
        ],
        hook::RECLAIM_PAGES => vec![
            (&mut o.rp_nid, "nid", INT),
            (&mut o.rp_scanned, "nr_scanned", LONG),
            (&mut o.rp_reclaimed, "nr_reclaimed", LONG),
            (&mut o.rp_activate0, "nr_activate0", INT),
            (&mut o.rp_activate1, "nr_activate1", INT),
        ],
        hook::SHRINK_INACTIVE => vec![
            (&mut o.si_nid, "nid", INT),
            (&mut o.si_scanned, "nr_scanned", LONG),
            (&mut o.si_reclaimed, "nr_reclaimed", LONG),
            (&mut o.si_dirty, "nr_dirty", LONG),
            (&mut o.si_writeback, "nr_writeback", LONG),
            (&mut o.si_congested, "nr_congested", LONG),
            (&mut o.si_immediate, "nr_immediate", LONG),
            (&mut o.si_activate0, "nr_activate0", INT),
            (&mut o.si_activate1, "nr_activate1", INT),
            (&mut o.si_ref_keep, "nr_ref_keep", LONG),
            (&mut o.si_unmap_fail, "nr_unmap_fail", LONG),
            (&mut o.si_priority, "priority", INT),
            (&mut o.si_flags, "reclaim_flags", INT),
        ],
        hook::SHRINK_ACTIVE => vec![
            (&mut o.sa_nid, "nid", INT),
            (&mut o.sa_taken, "nr_taken", LONG),
            (&mut o.sa_active, "nr_active", LONG),
            (&mut o.sa_deactivated, "nr_deactivated", LONG),
            (&mut o.sa_referenced, "nr_referenced", LONG),
            (&mut o.sa_priority, "priority", INT),
            (&mut o.sa_flags, "reclaim_flags", INT),
        ],
        hook::WRITE_FOLIO => vec![(&mut o.wf_flags, "reclaim_flags", INT)],
        hook::THROTTLED => vec![
            (&mut o.thr_nid, "nid", INT),
            (&mut o.thr_timeout, "usec_timeout", INT),
            (&mut o.thr_delayed, "usec_delayed", INT),
            (&mut o.thr_reason, "reason", INT),
        ],
        hook::LRU_INSERTION => vec![
            (&mut o.ins_folio, "folio|page", PTR),
            (&mut o.ins_pfn, "pfn", LONG),
            (&mut o.ins_lru, "lru", INT),
        ],
        hook::LRU_ACTIVATE => vec![
            (&mut o.act_folio, "folio|page", PTR),
            (&mut o.act_pfn, "pfn", LONG),
        ],
        _ => return None,
    })
}

/// Fills struct offsets and flag bits from BTF. Each field that is absent stays
/// UNRESOLVED; [`btf_requirements`] says which hooks that disables.
pub fn resolve_btf(btf: &Btf, o: &mut Offsets) {
    let get = |s: &str, m: &str| btf.member_offset(s, m).unwrap_or(UNRESOLVED);
    if btf.struct_size("folio").is_some() {
        resolve_folio(btf, o);
    } else {
        resolve_page(btf, o);
    }
    o.task_flags = btf
        .member("task_struct", "flags")
        .filter(|&(_, s)| s == 4)
        .map_or(UNRESOLVED, |(o, _)| o);
    o.pgdat_node_id = get("pglist_data", "node_id");
    o.sc_nr_reclaimed = get("scan_control", "nr_reclaimed");
    resolve_evict(btf, o);
    o.task_reclaim_state = get("task_struct", "reclaim_state");
    o.sc_reclaim_state = get("scan_control", "reclaim_state");
    o.sc_target_mem_cgroup = get("scan_control", "target_mem_cgroup");
    if let Some(bits) = btf.member_bit_offset("scan_control", "proactive") {
        (o.sc_proactive_byte, o.sc_proactive_bit) = (bits / 8, bits % 8);
    }
    let bit = |n: &str| {
        btf.enum_value(n)
            .filter(|v| (0..64).contains(v))
            .map_or(UNRESOLVED, |v| v as u32)
    };
    o.pg_referenced = bit("PG_referenced");
    o.pg_active = bit("PG_active");
    o.pg_lru = bit("PG_lru");
    o.pg_unevictable = bit("PG_unevictable");
    o.pg_head = bit("PG_head");
    o.pg_swapbacked = bit("PG_swapbacked");
    o.pg_swapcache = bit("PG_swapcache");
    o.pg_workingset = bit("PG_workingset");
    o.nr_pageflags = bit("__NR_PAGEFLAGS");
    o.task_cgroups = get("task_struct", "cgroups");
    o.css_set_subsys = get("css_set", "subsys");
    o.memory_cgrp_id = btf
        .enum_value("memory_cgrp_id")
        .filter(|v| (0..64).contains(v))
        .map_or(UNRESOLVED, |v| v as u32);
    // Demotion (5.15+): migrate_pages() for it carries this reason.
    o.mr_demotion = btf
        .enum_value("MR_DEMOTION")
        .filter(|v| (0..64).contains(v))
        .map_or(UNRESOLVED, |v| v as u32);
    resolve_move_fns(btf, o);
    o.css_cgroup = get("cgroup_subsys_state", "cgroup");
    o.cgroup_kn = get("cgroup", "kn");
    o.kn_id = btf
        .member("kernfs_node", "id")
        .filter(|&(_, s)| s == 8)
        .map_or(UNRESOLVED, |(o, _)| o);
    o.memcg_css = get("mem_cgroup", "css");
    // 7.x reparents LRU folios through obj_cgroups (mm/memcontrol.c:
    // reparent_memcg_lruvec_state_local, lru_gen_reparent_memcg), and
    // folio->memcg_data then always holds an obj_cgroup (folio_memcg() =
    // obj_cgroup_memcg(folio_objcg())).
    if btf.has_func("reparent_memcg_lruvec_state_local") || btf.has_func("lru_gen_reparent_memcg") {
        o.objcg_memcg = get("obj_cgroup", "memcg");
    }
    o.memcg_id = btf.path_offset("mem_cgroup", "id.id").unwrap_or(UNRESOLVED);
    o.memcg_nodeinfo = get("mem_cgroup", "nodeinfo");
    o.mpn_lruvec = get("mem_cgroup_per_node", "lruvec");
    o.mpn_memcg = get("mem_cgroup_per_node", "memcg");
    o.lruvec_pgdat = get("lruvec", "pgdat");
    o.isolate_lru_bool = ISOLATE_LRU_FUNCTIONS
        .iter()
        .find_map(|f| btf.func_returns_bool(f))
        .map_or(UNRESOLVED, u32::from);
    resolve_mlock(btf, o);
    o.cc_migratepages = get("compact_control", "migratepages");
    o.cc_alloc_contig = btf
        .member("compact_control", "alloc_contig")
        .filter(|&(_, size)| size == 1)
        .map_or(UNRESOLVED, |(o, _)| o);
    o.page_type = btf
        .member("page", "page_type")
        .filter(|&(_, size)| size == 4)
        .map_or(UNRESOLVED, |(o, _)| o);
    o.page_types = u32::from(
        o.page_type != UNRESOLVED
            && btf.enum_value("PGTY_buddy") == Some(0xf0)
            && btf.enum_value("PGTY_mapcount_underflow") == Some(0xff),
    );
    o.has_bpf_loop = u32::from(btf.enum_value("BPF_FUNC_loop").is_some());
    o.lruvec_nonresident_age = get("lruvec", "nonresident_age");
    o.lruvec_min_seq = btf
        .path_offset("lruvec", "lrugen.min_seq")
        .unwrap_or(UNRESOLVED);
    o.mapping_host = get("address_space", "host");
    o.inode_ino = btf
        .member("inode", "i_ino")
        .filter(|&(_, s)| s == 8)
        .map_or(UNRESOLVED, |(o, _)| o);
    o.inode_sb = get("inode", "i_sb");
    o.sb_dev = btf
        .member("super_block", "s_dev")
        .filter(|&(_, s)| s == 4)
        .map_or(UNRESOLVED, |(o, _)| o);
    if o.memcg_data_mask == UNRESOLVED {
        o.memcg_data_mask = btf
            .enum_value("__NR_MEMCG_DATA_FLAGS")
            .filter(|v| (1..=64).contains(v))
            .map_or(UNRESOLVED, |v| (v - 1) as u32);
    }
}

/// The mlock batch's struct (the first of MLOCK_FUNCTIONS the kernel has):
/// its one-byte count, its array of 8-byte tagged pointers and that
/// array's length; unresolved where the shape differs.
fn resolve_mlock(btf: &Btf, o: &mut Offsets) {
    let Some(&(_, strukt, array)) = MLOCK_FUNCTIONS.iter().find(|(f, ..)| btf.has_func(f)) else {
        return;
    };
    if let (Some((nr, 1)), Some((items, size))) =
        (btf.member(strukt, "nr"), btf.member(strukt, array))
        && size > 0
        && size % 8 == 0
    {
        (o.mlock_batch_nr, o.mlock_batch_items, o.mlock_batch_len) = (nr, items, size / 8);
    }
}

/// 5.16+: struct folio.
fn resolve_folio(btf: &Btf, o: &mut Offsets) {
    let get = |s: &str, m: &str| btf.member_offset(s, m).unwrap_or(UNRESOLVED);
    o.folio_flags = get("folio", "flags");
    // 6.12+: _nr_pages; 6.1..6.11: _folio_nr_pages; else the order byte of _flags_1.
    o.folio_nr_pages = ["_nr_pages", "_folio_nr_pages"]
        .iter()
        .find_map(|m| {
            btf.member("folio", m)
                .filter(|&(_, size)| size == 4 || size == 8)
                .map(|(o, _)| o)
        })
        .unwrap_or(UNRESOLVED);
    o.folio_flags_1 = get("folio", "_flags_1");
    o.folio_memcg_data = get("folio", "memcg_data");
    o.folio_mapping = get("folio", "mapping");
}

/// Before 5.16 there are no folios: the hooks get the head struct page.
/// Its flags are page->flags; a compound page's order is the u8
/// compound_order in its first tail page (read where a folio's _flags_1
/// is, the programs take the low bits); its memory cgroup is
/// page->memcg_data (5.11+) or page->mem_cgroup (5.10), a pointer whose low
/// bit tags an obj_cgroup vector (never on an LRU page).
fn resolve_page(btf: &Btf, o: &mut Offsets) {
    o.folio_flags = btf.member_offset("page", "flags").unwrap_or(UNRESOLVED);
    o.folio_nr_pages = UNRESOLVED;
    o.folio_flags_1 = match (
        btf.struct_size("page"),
        btf.member("page", "compound_order"),
    ) {
        (Some(size), Some((off, 1))) => size + off,
        _ => UNRESOLVED,
    };
    o.folio_memcg_data = ["memcg_data", "mem_cgroup"]
        .iter()
        .find_map(|m| btf.member_offset("page", m))
        .unwrap_or(UNRESOLVED);
    o.folio_mapping = btf.member_offset("page", "mapping").unwrap_or(UNRESOLVED);
    if btf.enum_value("__NR_MEMCG_DATA_FLAGS").is_none()
        && btf.member_offset("page", "mem_cgroup").is_some()
    {
        o.memcg_data_mask = 1;
    }
}

/// The folio argument of a per-CPU batch's move function (the first of
/// `names` in BTF), by name: (lruvec, folio) on 6.1+, (page, lruvec) on
/// 5.11-6.0, (page, lruvec, arg) on 5.10. None for any other shape. With
/// it: whether the function tests PG_lru itself (5.10's form; from 5.11
/// the callers test-and-clear it).
fn move_fn_arg(btf: &Btf, names: &[&str]) -> Option<(u32, bool)> {
    let params = names.iter().find_map(|f| btf.func_params(f))?;
    let i = params.iter().position(|p| p == "folio" || p == "page")?;
    if i > 1 {
        return None;
    }
    Some((i as u32, params.len() == 3 && params[0] == "page"))
}

/// lru_lazyfree's, lru_deactivate's and lru_deactivate_file's folio
/// arguments, and whether they test PG_lru themselves (all or none: one
/// convention per kernel). Unresolved where a function is not found.
fn resolve_move_fns(btf: &Btf, o: &mut Offsets) {
    let mut checks_lru = None;
    for (names, arg) in [
        (LAZYFREE_FUNCTIONS, &mut o.lazyfree_folio_arg),
        (DEACTIVATE_FUNCTIONS, &mut o.deactivate_folio_arg),
        (DEACTIVATE_FILE_FUNCTIONS, &mut o.deactivate_file_folio_arg),
    ] {
        if let Some((i, checks)) = move_fn_arg(btf, names) {
            *arg = i;
            checks_lru = checks_lru.or(Some(checks));
        }
    }
    if let Some(c) = checks_lru {
        o.move_fn_checks_lru = u32::from(c);
    }
}

/// What the MGLRU eviction hooks (before 6.7) read: the three functions'
/// parameters as 6.1-6.6 have them, scan_control.priority (s8), the
/// folio's list_head and reclaim_stat's 4-byte counters.
fn resolve_evict(btf: &Btf, o: &mut Offsets) {
    let params = |f: &str| btf.func_params(f).unwrap_or_default();
    let evict = params("evict_folios");
    o.evict_fns = u32::from(evict.len() >= 3 && evict[..2] == ["lruvec", "sc"]);
    o.shrink_fn = u32::from(
        SHRINK_FUNCTIONS
            .iter()
            .any(|(f, list)| params(f) == [*list, "pgdat", "sc", "stat", "ignore_references"]),
    );
    o.sc_nr_scanned = btf
        .member("scan_control", "nr_scanned")
        .filter(|&(_, size)| size == 8)
        .map_or(UNRESOLVED, |(off, _)| off);
    o.sc_priority = btf
        .member("scan_control", "priority")
        .filter(|&(_, size)| size == 1)
        .map_or(UNRESOLVED, |(off, _)| off);
    o.folio_lru = ["folio", "page"]
        .iter()
        .find_map(|s| btf.member_offset(s, "lru"))
        .unwrap_or(UNRESOLVED);
    // Within the 16 words the programs read of it.
    let counter = |m: &str| {
        btf.member("reclaim_stat", m)
            .filter(|&(off, size)| (size == 4 || (m == "nr_activate" && size == 8)) && off < 60)
            .map_or(UNRESOLVED, |(off, _)| off)
    };
    o.rs_dirty = counter("nr_dirty");
    o.rs_writeback = counter("nr_writeback");
    o.rs_congested = counter("nr_congested");
    o.rs_immediate = counter("nr_immediate");
    o.rs_activate = counter("nr_activate");
    o.rs_ref_keep = counter("nr_ref_keep");
    o.rs_unmap_fail = counter("nr_unmap_fail");
}

/// shrink_folio_list (6.0+) and shrink_page_list (5.10-5.19) with their
/// list parameter's name; the rest is the same in both.
const SHRINK_FUNCTIONS: &[(&str, &str)] = &[
    ("shrink_folio_list", "folio_list"),
    ("shrink_page_list", "page_list"),
];

/// The move functions' names: 6.11+, then before.
const LAZYFREE_FUNCTIONS: &[&str] = &["lru_lazyfree", "lru_lazyfree_fn"];
const DEACTIVATE_FUNCTIONS: &[&str] = &["lru_deactivate", "lru_deactivate_fn"];
const DEACTIVATE_FILE_FUNCTIONS: &[&str] = &["lru_deactivate_file", "lru_deactivate_file_fn"];

/// Why a hook cannot run with these BTF-derived offsets, if it cannot.
pub fn btf_requirements(id: HookId, o: &Offsets) -> Result<(), String> {
    let need = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("{what} not found in kernel BTF"))
        }
    };
    // A folio's flags, these page flags and its size (large folios count
    // as all their pages).
    let folio = |bits: &[(u32, &str)]| -> Result<(), String> {
        need(
            o.folio_flags != UNRESOLVED,
            "struct folio.flags (page.flags)",
        )?;
        for &(v, n) in bits {
            need(v != UNRESOLVED, &format!("enum pageflags {n}"))?;
        }
        need(
            o.folio_nr_pages != UNRESOLVED || o.folio_flags_1 != UNRESOLVED,
            "struct folio._nr_pages / _flags_1 (page.compound_order)",
        )
    };
    match id {
        hook::LRU_INSERTION => folio(&[(o.pg_head, "PG_head")]),
        hook::LRU_ACTIVATE => folio(&[(o.pg_head, "PG_head"), (o.pg_swapbacked, "PG_swapbacked")]),
        hook::MARK_ACCESSED => {
            need(o.task_flags != UNRESOLVED, "struct task_struct.flags")?;
            folio(&[
                (o.pg_referenced, "PG_referenced"),
                (o.pg_active, "PG_active"),
                (o.pg_lru, "PG_lru"),
                (o.pg_unevictable, "PG_unevictable"),
                (o.pg_swapbacked, "PG_swapbacked"),
                (o.pg_head, "PG_head"),
                (o.pg_workingset, "PG_workingset"),
                (o.nr_pageflags, "__NR_PAGEFLAGS"),
            ])
        }
        hook::REFAULT => folio(&[
            (o.pg_active, "PG_active"),
            (o.pg_swapbacked, "PG_swapbacked"),
            (o.pg_head, "PG_head"),
            (o.pg_workingset, "PG_workingset"),
        ]),
        // Without it the hook could only count nothing: no demotion (5.15+).
        hook::MIGRATE_PAGES => need(
            o.mr_demotion != UNRESOLVED,
            "enum migrate_reason MR_DEMOTION (demotion to a memory tier, 5.15+)",
        ),
        hook::LAZYFREE => {
            need(
                o.lazyfree_folio_arg != UNRESOLVED,
                "lru_lazyfree(lruvec, folio) / lru_lazyfree_fn(page, ...) parameters",
            )?;
            need(
                o.folio_mapping != UNRESOLVED,
                "struct folio.mapping (page.mapping)",
            )?;
            folio(&[
                (o.pg_lru, "PG_lru"),
                (o.pg_unevictable, "PG_unevictable"),
                (o.pg_swapbacked, "PG_swapbacked"),
                (o.pg_swapcache, "PG_swapcache"),
                (o.pg_head, "PG_head"),
            ])
        }
        hook::DEACTIVATE => {
            need(
                o.deactivate_folio_arg != UNRESOLVED,
                "lru_deactivate(lruvec, folio) / lru_deactivate_fn(page, ...) parameters",
            )?;
            folio(&[
                (o.pg_lru, "PG_lru"),
                (o.pg_active, "PG_active"),
                (o.pg_unevictable, "PG_unevictable"),
                (o.pg_head, "PG_head"),
            ])
        }
        hook::DEACTIVATE_FILE => {
            need(
                o.deactivate_file_folio_arg != UNRESOLVED,
                "lru_deactivate_file(lruvec, folio) / lru_deactivate_file_fn(page, ...) parameters",
            )?;
            folio(&[
                (o.pg_active, "PG_active"),
                (o.pg_unevictable, "PG_unevictable"),
                (o.pg_head, "PG_head"),
            ])
        }
        hook::EVICT_FOLIOS => need(
            o.evict_fns == 1,
            "evict_folios(lruvec, sc, ...) parameters (6.1-6.6)",
        ),
        hook::SHRINK_FOLIO_LIST => {
            need(
                o.shrink_fn == 1,
                "shrink_folio_list(folio_list, pgdat, sc, stat, ignore_references) (6.0+) or shrink_page_list(page_list, pgdat, sc, stat, ignore_references) (5.10-5.19)",
            )?;
            need(o.pgdat_node_id != UNRESOLVED, "struct pglist_data.node_id")?;
            need(
                o.sc_nr_scanned != UNRESOLVED,
                "struct scan_control.nr_scanned",
            )?;
            need(
                o.task_reclaim_state != UNRESOLVED,
                "struct task_struct.reclaim_state",
            )?;
            need(
                o.sc_priority != UNRESOLVED,
                "struct scan_control.priority (s8)",
            )?;
            for (v, m) in [
                (o.rs_dirty, "nr_dirty"),
                (o.rs_writeback, "nr_writeback"),
                (o.rs_congested, "nr_congested"),
                (o.rs_immediate, "nr_immediate"),
                (o.rs_activate, "nr_activate"),
                (o.rs_ref_keep, "nr_ref_keep"),
                (o.rs_unmap_fail, "nr_unmap_fail"),
            ] {
                need(
                    v != UNRESOLVED,
                    &format!("struct reclaim_stat.{m} (4 bytes)"),
                )?;
            }
            // The isolated folios on its list.
            need(o.folio_lru != UNRESOLVED, "struct folio.lru")?;
            folio(&[(o.pg_head, "PG_head"), (o.pg_swapbacked, "PG_swapbacked")])
        }
        hook::COMPACT => {
            need(
                o.cc_migratepages != UNRESOLVED,
                "struct compact_control.migratepages",
            )?;
            need(o.folio_lru != UNRESOLVED, "struct folio.lru")?;
            need(
                o.cc_alloc_contig != UNRESOLVED,
                "struct compact_control.alloc_contig (1 byte)",
            )?;
            need(
                o.page_types == 1 || o.folio_mapping != UNRESOLVED,
                "page types (page.page_type, PGTY_*) or struct folio.mapping",
            )?;
            need(
                o.has_bpf_loop == 1,
                "the bpf_loop helper (enum bpf_func_id BPF_FUNC_loop, 5.17+; walking the isolated folios as a bounded loop exceeds the verifier)",
            )?;
            folio(&[
                (o.pg_active, "PG_active"),
                (o.pg_unevictable, "PG_unevictable"),
                (o.pg_swapbacked, "PG_swapbacked"),
                (o.pg_head, "PG_head"),
            ])
        }
        hook::MLOCK => {
            need(
                o.mlock_batch_items != UNRESOLVED && o.mlock_batch_len <= 32,
                "struct folio_batch (pagevec before 6.3): nr (1 byte) and folios (pages), at most 32 pointers",
            )?;
            folio(&[
                (o.pg_lru, "PG_lru"),
                (o.pg_active, "PG_active"),
                (o.pg_unevictable, "PG_unevictable"),
                (o.pg_swapbacked, "PG_swapbacked"),
                (o.pg_head, "PG_head"),
            ])
        }
        hook::SHRINK_NODE => {
            need(o.pgdat_node_id != UNRESOLVED, "struct pglist_data.node_id")?;
            need(
                o.sc_nr_reclaimed != UNRESOLVED,
                "struct scan_control.nr_reclaimed",
            )
        }
        _ => Ok(()),
    }
}

/// Fills the pfn -> node table from /proc/zoneinfo.
pub fn resolve_nodes(zones: &[system::Zone], o: &mut Offsets) -> Result<(), String> {
    let starts = system::node_start_pfns(zones);
    if starts.is_empty() {
        return Err("no zone with memory in /proc/zoneinfo".into());
    }
    if starts.len() > o.node_start_pfn.len() {
        return Err(format!(
            "{} NUMA nodes with memory; vmscan maps pfns to at most {} nodes",
            starts.len(),
            o.node_start_pfn.len()
        ));
    }
    o.nr_nodes = starts.len() as u32;
    for (i, (pfn, node)) in starts.into_iter().enumerate() {
        o.node_start_pfn[i] = pfn;
        o.node_id[i] = node;
    }
    Ok(())
}

/// Reads the format file of a tracepoint hook, trying each of its names.
pub fn read_format(
    tracefs: &Path,
    category: &str,
    events: &[&str],
) -> Result<(String, Format), String> {
    let mut last = String::new();
    for ev in events {
        let path = tracefs
            .join("events")
            .join(category)
            .join(ev)
            .join("format");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                return Format::parse(&text)
                    .map(|f| ((*ev).to_owned(), f))
                    .map_err(|e| format!("{}: {e}", path.display()));
            }
            Err(e) => {
                last = format!(
                    "tracepoint {category}:{ev} not found ({}: {e})",
                    path.display()
                )
            }
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refault_layout_follows_the_kernels_shadow_packing() {
        let Ok(btf) = Btf::from_file(Path::new(system::BTF_VMLINUX)) else {
            eprintln!("SKIP: no {} on this machine", system::BTF_VMLINUX);
            return;
        };
        let mut o = Offsets::unresolved();
        resolve_btf(&btf, &mut o);
        assert_ne!(
            o.memcg_id, UNRESOLVED,
            "mem_cgroup.id.id through the nested path"
        );
        assert_ne!(o.lruvec_nonresident_age, UNRESOLVED);
        // Debian's NODES_SHIFT=10: EVICTION_SHIFT = 1 + 1 + 10 + 16 = 28.
        let l = refault_layout(&btf, &o, false, Some(10), 1 << 20);
        assert_eq!(
            (l.rule, l.nodes_shift, l.memcg_shift),
            (vmscan_common::refault_rule::CLASSIC, Some(10), 16)
        );
        assert_eq!(l.eviction_mask, u64::MAX >> 28);
        assert_eq!(l.bucket_order, 0, "4 GiB of 4 KiB pages fits 36 clock bits");
        assert_eq!(l.no_distance, None);
        // 2^40 pages need 40 bits: the clock counts buckets of 2^4 pages.
        assert_eq!(
            refault_layout(&btf, &o, false, Some(10), 1 << 40).bucket_order,
            4
        );
        let m = refault_layout(&btf, &o, true, Some(10), 1 << 20);
        assert_ne!(m.rule, vmscan_common::refault_rule::CLASSIC);
        assert!(
            m.no_distance
                .as_deref()
                .is_some_and(|w| w.contains("MGLRU"))
        );
        assert_eq!(m.no_counts, None, "this BTF unpacks shadows");
        // Without NODES_SHIFT (no config, and a nodemask_t of 64 nodes or
        // fewer, as here), MGLRU's counting rule cannot be applied: the hook
        // must fail rather than count; the classic LRU only loses distances.
        let c = refault_layout(&btf, &o, false, None, 1 << 20);
        if c.nodes_shift.is_none() {
            assert!(
                refault_layout(&btf, &o, true, None, 1 << 20)
                    .no_counts
                    .is_some_and(|w| w.contains("NODES_SHIFT"))
            );
            assert!(
                c.no_counts.is_none() && c.no_distance.is_some_and(|w| w.contains("NODES_SHIFT"))
            );
        }
        assert_eq!(
            system::parse_config_int("CONFIG_NODES_SHIFT=6\n", "CONFIG_NODES_SHIFT"),
            Some(6)
        );
        assert_eq!(
            system::parse_config_int("# CONFIG_NUMA is not set\n", "CONFIG_NODES_SHIFT"),
            Some(0)
        );
        assert_eq!(system::parse_config_int("", "CONFIG_NODES_SHIFT"), None);
    }

    /// Kernels whose tracefs format files are fixtures (captured in the lab's
    /// guests, and 6.18 on the development host).
    const FIXTURE_KERNELS: [&str; 5] = ["5.10", "6.1", "6.12", "6.18", "7.2"];

    fn fixture_dir(kernel: &str) -> std::path::PathBuf {
        // read_format wants <tracefs>/events/<category>/<event>/format; the
        // fixtures are flat, so resolve through Format::parse directly.
        std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/format"
        ))
        .join(kernel)
    }

    /// Tracepoints a fixture kernel does not have (its tracefs was captured
    /// whole, so an absent file is an absent tracepoint; reclaim_pages is
    /// in neither Debian 6.1 nor 6.12).
    const ABSENT: &[(&str, &str)] = &[
        ("5.10", "mm_vmscan_throttled"),
        ("5.10", "mm_vmscan_reclaim_pages"),
        ("6.1", "mm_vmscan_reclaim_pages"),
        ("6.12", "mm_vmscan_reclaim_pages"),
    ];

    fn resolve_all(kernel: &str) -> Offsets {
        let mut o = Offsets::unresolved();
        for h in HOOKS {
            if let Attach::Tracepoint { events, .. } = h.attach {
                let text = events
                    .iter()
                    .find_map(|e| std::fs::read_to_string(fixture_dir(kernel).join(e)).ok());
                let absent = ABSENT.contains(&(kernel, events[0]));
                assert_eq!(
                    text.is_none(),
                    absent,
                    "{kernel}: fixture for {events:?} (listed absent: {absent})"
                );
                let Some(text) = text else { continue };
                let f = Format::parse(&text).unwrap();
                resolve_tracepoint(h.id, &f, &mut o).unwrap_or_else(|e| panic!("{kernel}: {e}"));
            }
        }
        o
    }

    #[test]
    fn every_tracepoint_hook_resolves_on_every_fixture_kernel() {
        for k in FIXTURE_KERNELS {
            let o = resolve_all(k);
            assert_eq!(o.si_scanned, 16, "{k}");
            assert_eq!(o.si_flags, 92, "{k}");
            assert_eq!(o.ins_lru, 24, "{k}");
            assert_eq!(o.ins_folio, 8, "{k}: folio, or page before folios");
            assert_eq!(o.direct_end_reclaimed, 8, "{k}");
            assert_eq!(o.mp_succeeded, 8, "{k}");
        }
        // mm_migrate_pages gained large_folio_split before mode and reason.
        assert_eq!(resolve_all("5.10").mp_reason, 52);
        assert_eq!(resolve_all("6.18").mp_reason, 60);
        assert_eq!(resolve_all("6.1").iso_lru, 52);
        assert_eq!(resolve_all("6.18").iso_lru, 48);
        // gfp_t was 4 bytes on 5.10 (the programs read the low 32 bits).
        assert_eq!(resolve_all("5.10").wakeup_gfp, 20);
        assert_eq!(resolve_all("6.1").wakeup_gfp, 24);
        assert_eq!(
            resolve_all("5.10").thr_nid,
            UNRESOLVED,
            "5.10 has no mm_vmscan_throttled"
        );
    }

    #[test]
    fn mglru_tracepoints_are_told_from_the_isolate_format() {
        let fires = |k: &str| {
            let text =
                std::fs::read_to_string(fixture_dir(k).join("mm_vmscan_lru_isolate")).unwrap();
            mglru_fires_tracepoints(&Format::parse(&text).unwrap())
        };
        assert!(
            !fires("6.1"),
            "6.1's MGLRU fires no isolate/shrink tracepoints"
        );
        assert!(!fires("5.10"));
        assert!(fires("6.12") && fires("6.18") && fires("7.2"));
    }

    #[test]
    fn a_moved_or_missing_field_is_an_error_not_a_guess() {
        let text =
            std::fs::read_to_string(fixture_dir("6.18").join("mm_vmscan_lru_isolate")).unwrap();
        let broken = text.replace("nr_taken", "nr_took");
        let mut o = Offsets::unresolved();
        let e = resolve_tracepoint(hook::LRU_ISOLATE, &Format::parse(&broken).unwrap(), &mut o)
            .unwrap_err();
        assert!(e.contains("nr_taken"), "{e}");
        let widened = text.replace(
            "int lru;\toffset:48;\tsize:4",
            "long lru;\toffset:48;\tsize:8",
        );
        let e = resolve_tracepoint(hook::LRU_ISOLATE, &Format::parse(&widened).unwrap(), &mut o)
            .unwrap_err();
        assert!(e.contains("size 8"), "{e}");
    }

    #[test]
    fn node_table_from_zoneinfo() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/zoneinfo-2node"
        ))
        .unwrap();
        let mut o = Offsets::unresolved();
        resolve_nodes(&system::parse_zoneinfo(&text), &mut o).unwrap();
        assert_eq!(o.nr_nodes, 2);
        assert_eq!(&o.node_start_pfn[..2], &[1, 262_144]);
        assert_eq!(&o.node_id[..2], &[0, 1]);
        assert!(resolve_nodes(&[], &mut o).is_err());
    }

    #[test]
    fn move_fn_argument_by_kernel_form() {
        use crate::probe::btf::{KIND_FUNC, KIND_PTR, tests::Builder};
        let form = |name: &str, params: &[&str]| {
            let mut b = Builder::new();
            b.refer(KIND_PTR, "", 0); // 1
            let p: Vec<(&str, u32)> = params.iter().map(|&n| (n, 1)).collect();
            b.proto(&p); // 2
            b.refer(KIND_FUNC, name, 2); // 3
            let btf = Btf::parse(&b.finish()).unwrap();
            let mut o = Offsets::unresolved();
            resolve_move_fns(&btf, &mut o);
            (
                o.lazyfree_folio_arg,
                o.deactivate_folio_arg,
                o.deactivate_file_folio_arg,
                o.move_fn_checks_lru,
            )
        };
        let u = UNRESOLVED;
        // 6.11+, and 6.1-6.10's _fn with the same parameters.
        assert_eq!(form("lru_lazyfree", &["lruvec", "folio"]), (1, u, u, 0));
        assert_eq!(form("lru_lazyfree_fn", &["lruvec", "folio"]), (1, u, u, 0));
        assert_eq!(form("lru_deactivate", &["lruvec", "folio"]), (u, 1, u, 0));
        assert_eq!(
            form("lru_deactivate_file_fn", &["lruvec", "folio"]),
            (u, u, 1, 0)
        );
        // 5.11-6.0: the page first, PG_lru tested by the callers.
        assert_eq!(form("lru_lazyfree_fn", &["page", "lruvec"]), (0, u, u, 0));
        // 5.10: the page first and an unused arg; PG_lru tested inside.
        assert_eq!(
            form("lru_lazyfree_fn", &["page", "lruvec", "arg"]),
            (0, u, u, 1)
        );
        assert_eq!(
            form("lru_deactivate_fn", &["page", "lruvec", "arg"]),
            (u, 0, u, 1)
        );
        // Unknown shapes leave the hook unresolved.
        assert_eq!(form("lru_lazyfree", &["lruvec"]).0, u);
        assert_eq!(form("lru_lazyfree", &["a", "b", "folio"]).0, u);
        assert_eq!(form("other_fn", &["lruvec", "folio"]), (u, u, u, u));
        // lru_deactivate is not lru_deactivate_file's prefix match.
        assert_eq!(form("lru_deactivate_file", &["lruvec", "folio"]).1, u);
    }

    #[test]
    fn compaction_needs_bpf_loop_and_mlock_a_batch_that_fits() {
        let mut o = Offsets::unresolved();
        (o.folio_flags, o.folio_nr_pages, o.folio_lru) = (0, 52, 8);
        (
            o.pg_lru,
            o.pg_active,
            o.pg_unevictable,
            o.pg_swapbacked,
            o.pg_head,
        ) = (4, 5, 18, 19, 6);
        (o.cc_migratepages, o.cc_alloc_contig, o.page_types) = (0, 96, 1);
        o.has_bpf_loop = 0;
        let e = btf_requirements(hook::COMPACT, &o).unwrap_err();
        assert!(e.contains("bpf_loop") && e.contains("not found"), "{e}");
        o.has_bpf_loop = 1;
        btf_requirements(hook::COMPACT, &o).unwrap();
        (o.mlock_batch_nr, o.mlock_batch_items, o.mlock_batch_len) = (0, 8, 64);
        let e = btf_requirements(hook::MLOCK, &o).unwrap_err();
        assert!(e.contains("at most 32"), "{e}");
        o.mlock_batch_len = 31;
        btf_requirements(hook::MLOCK, &o).unwrap();
    }

    #[test]
    fn btf_requirements_name_the_missing_piece() {
        let mut o = Offsets::unresolved();
        let e = btf_requirements(hook::LRU_INSERTION, &o).unwrap_err();
        assert!(e.contains("folio.flags"), "{e}");
        o.folio_flags = 0;
        o.pg_head = 6;
        o.folio_flags_1 = 64;
        assert!(btf_requirements(hook::LRU_INSERTION, &o).is_ok());
        assert!(
            btf_requirements(hook::SHRINK_NODE, &o)
                .unwrap_err()
                .contains("node_id")
        );
        assert!(btf_requirements(hook::KSWAPD_WAKE, &o).is_ok());
    }

    #[test]
    fn running_kernel_btf_resolves_folio_and_flags() {
        let p = std::path::Path::new(system::BTF_VMLINUX);
        if !p.exists() {
            eprintln!("skipping: no BTF on kernel {}", system::kernel_release());
            return;
        }
        let btf = Btf::from_file(p).unwrap();
        let mut o = Offsets::unresolved();
        resolve_btf(&btf, &mut o);
        for id in [
            hook::LRU_INSERTION,
            hook::LRU_ACTIVATE,
            hook::MARK_ACCESSED,
            hook::REFAULT,
            hook::LAZYFREE,
            hook::DEACTIVATE,
            hook::DEACTIVATE_FILE,
            hook::SHRINK_NODE,
        ] {
            btf_requirements(id, &o).unwrap_or_else(|e| panic!("{}: {e}", hook_name(id)));
        }
        // 6.1+: lru_lazyfree[_fn](lruvec, folio), PG_lru cleared by the
        // callers (the host runs 6.18).
        if btf.has_func("lru_lazyfree") {
            assert_eq!((o.lazyfree_folio_arg, o.move_fn_checks_lru), (1, 0));
            assert_eq!(
                (o.deactivate_folio_arg, o.deactivate_file_folio_arg),
                (1, 1)
            );
        }
        assert_eq!(
            o.folio_flags, 0,
            "folio.flags overlays page.flags at offset 0"
        );
        assert!(o.pg_active < 64 && o.pg_referenced < o.pg_active);
        // Who a pass runs for: current->reclaim_state -> scan_control.
        assert_ne!(o.task_reclaim_state, UNRESOLVED);
        assert_ne!(o.sc_target_mem_cgroup, UNRESOLVED);
        if btf.enum_value("PGSCAN_PROACTIVE").is_some() {
            assert!(
                o.sc_proactive_bit < 8
                    && o.sc_proactive_byte < btf.struct_size("scan_control").unwrap()
            );
        }
        // The mlock batch (5.18+) and compaction's walk (bpf_loop, 5.17+):
        // both resolve where the kernel has them; page types (6.10+) tell
        // the non-LRU pages on compaction's list apart.
        if MLOCK_FUNCTIONS.iter().any(|(f, ..)| btf.has_func(f)) {
            btf_requirements(hook::MLOCK, &o).unwrap();
            assert!(o.mlock_batch_len >= 15 && o.mlock_batch_nr < o.mlock_batch_items);
        }
        if btf.has_func("isolate_migratepages_block") && o.has_bpf_loop == 1 {
            btf_requirements(hook::COMPACT, &o).unwrap();
        }
        if btf.enum_value("PGTY_hugetlb").is_some() {
            assert_eq!(o.page_types, 1);
        }
    }

    fn arg(name: &str, size: u32, pointee: Option<&str>) -> TpArg {
        TpArg {
            name: name.into(),
            size,
            pointee: pointee.map(Into::into),
        }
    }

    /// Where each record field is among a tracepoint's arguments, on the
    /// running kernel's reclaim_stat: by name, behind the stat pointer
    /// (4-byte counters widened), reclaim_flags from `file`, and what the
    /// record derives from a folio; a size that does not fit is an error.
    #[test]
    fn tracepoint_fields_map_to_arguments() {
        use vmscan_common::{ARG_DEREF, ARG_FILE_FLAG, ARG_U32, DERIVED, arg as a};
        let Ok(btf) = Btf::from_file(Path::new(system::BTF_VMLINUX)) else {
            eprintln!("SKIP: no {} on this machine", system::BTF_VMLINUX);
            return;
        };
        let shrink = [
            arg("nid", 4, None),
            arg("nr_scanned", 8, None),
            arg("nr_reclaimed", 8, None),
            arg("stat", 8, Some("reclaim_stat")),
            arg("priority", 4, None),
            arg("file", 4, None),
        ];
        let mut o = Offsets::unresolved();
        resolve_tracepoint_args(hook::SHRINK_INACTIVE, &shrink, &btf, true, &mut o).unwrap();
        assert_eq!(
            (o.si_nid, o.si_scanned, o.si_reclaimed, o.si_priority),
            (a(0), a(1), a(2), a(4))
        );
        assert_eq!(o.si_flags, a(5) | ARG_FILE_FLAG);
        let (dirty, size) = btf.member("reclaim_stat", "nr_dirty").unwrap();
        assert_eq!(o.si_dirty & !ARG_U32, vmscan_common::arg_deref(3, dirty));
        assert_eq!(
            o.si_dirty & ARG_U32 != 0,
            size == 4,
            "a 4-byte counter is widened"
        );
        let (act, act_size) = btf.member("reclaim_stat", "nr_activate").unwrap();
        assert_eq!(
            o.si_activate1,
            vmscan_common::arg_deref(3, act + act_size / 2),
            "nr_activate[1]"
        );
        assert_ne!(o.si_activate0 & ARG_DEREF, 0);

        // 6.x pagemap: only the folio; list and node derived from it.
        let mut o = Offsets::unresolved();
        resolve_tracepoint_args(
            hook::LRU_INSERTION,
            &[arg("folio", 8, Some("folio"))],
            &btf,
            true,
            &mut o,
        )
        .unwrap();
        assert_eq!(
            (o.ins_folio, o.ins_pfn, o.ins_lru),
            (a(0), DERIVED, DERIVED)
        );
        // Several nodes and no vmemmap_base: the node cannot be derived.
        let err = resolve_tracepoint_args(
            hook::LRU_INSERTION,
            &[arg("folio", 8, Some("folio"))],
            &btf,
            false,
            &mut o,
        )
        .unwrap_err();
        assert!(err.contains("vmemmap_base"), "{err}");
        // 5.10 pagemap: the list is an argument.
        resolve_tracepoint_args(
            hook::LRU_INSERTION,
            &[arg("page", 8, Some("page")), arg("lru", 4, None)],
            &btf,
            true,
            &mut o,
        )
        .unwrap();
        assert_eq!(o.ins_lru, a(1));
        // An argument of another size than the record's field fails.
        let err = resolve_tracepoint_args(
            hook::KSWAPD_SLEEP,
            &[arg("nid", 8, None)],
            &btf,
            true,
            &mut o,
        )
        .unwrap_err();
        assert!(err.contains("nid"), "{err}");
        // A field no argument gives fails.
        assert!(
            resolve_tracepoint_args(
                hook::KSWAPD_WAKE,
                &[arg("nid", 4, None)],
                &btf,
                true,
                &mut o
            )
            .is_err()
        );
    }
}

/// How this kernel packs shadow entries and counts refaults
/// (mm/workingset.c), as the workingset_refault hook needs them.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct RefaultLayout {
    /// vmscan_common::refault_rule.
    pub rule: u64,
    /// NODES_SHIFT and MEM_CGROUP_ID_SHIFT; None when this kernel's layout
    /// could not be worked out (then neither distances nor MGLRU's lruvec
    /// match are possible, and `why` says so).
    pub nodes_shift: Option<u32>,
    pub memcg_shift: u32,
    /// ~0 >> EVICTION_SHIFT.
    pub eviction_mask: u64,
    /// workingset_init's bucket_order: the clock counts 2^bucket_order pages.
    pub bucket_order: u32,
    /// Why refault distances are not measured here, if they are not.
    pub no_distance: Option<String>,
    /// Why refaults cannot be counted as this kernel counts them, if they
    /// cannot: MGLRU counts one only when the shadow's lruvec is the
    /// folio's, which needs the shadow unpacked.
    pub no_counts: Option<String>,
    /// 5.10 (struct page): the kernel counts one per call
    /// (inc_lruvec_state), whatever the page's size.
    pub one_per_call: bool,
    /// Whether anon (swap) refault distances are measured: 7.x keeps anon
    /// shadows in the swap table with a narrower clock and its own
    /// bucket_order, which vmscan does not decode.
    pub anon_distance: bool,
}

/// Works out the shadow layout. `config_nodes_shift` is CONFIG_NODES_SHIFT
/// from the kernel's config when it can be read; otherwise the size of
/// nodemask_t gives MAX_NUMNODES when it is above 64 (Debian: 1024).
/// `total_pages` is totalram_pages (MemTotal).
pub fn refault_layout(
    btf: &Btf,
    o: &Offsets,
    mglru: bool,
    config_nodes_shift: Option<u32>,
    total_pages: u64,
) -> RefaultLayout {
    use vmscan_common::refault_rule;
    let nodes_shift = config_nodes_shift.or_else(|| {
        // nodemask_t is a typedef of an unnamed struct: its size is read off a
        // member of that type (MAX_NUMNODES bits, rounded up to longs).
        let bytes = btf
            .member("task_struct", "mems_allowed")
            .or_else(|| btf.member("mempolicy", "nodes"))?
            .1;
        let bits = bytes * 8;
        (bits > 64 && bits.is_power_of_two()).then(|| bits.trailing_zeros())
    });
    let memcg = btf.struct_size("mem_cgroup").is_some();
    let memcg_shift = if memcg { 16 } else { 0 };
    let rule = if !mglru {
        refault_rule::CLASSIC
    } else if btf.has_func("workingset_test_recent") {
        refault_rule::MGLRU_LRUVEC
    } else {
        refault_rule::MGLRU_MIN_SEQ
    };
    let one_per_call = btf.struct_size("folio").is_none();
    let anon_distance =
        !btf.has_func("swap_cache_alloc_folio") && !btf.has_func("__swap_cache_alloc");
    let mut l = RefaultLayout {
        rule,
        nodes_shift,
        memcg_shift,
        one_per_call,
        anon_distance,
        ..Default::default()
    };
    // What unpacking a shadow into its eviction lruvec needs, and what the
    // rule then reads there: the clock (classic) or min_seq (6.1's MGLRU).
    let mut needed = vec![
        (o.memcg_id, "mem_cgroup.id.id"),
        (o.memcg_nodeinfo, "mem_cgroup.nodeinfo"),
        (o.mpn_lruvec, "mem_cgroup_per_node.lruvec"),
    ];
    match rule {
        refault_rule::CLASSIC => needed.push((o.lruvec_nonresident_age, "lruvec.nonresident_age")),
        refault_rule::MGLRU_MIN_SEQ => needed.push((o.lruvec_min_seq, "lruvec.lrugen.min_seq")),
        _ => {}
    }
    let missing: Vec<&str> = needed
        .iter()
        .filter(|(v, _)| *v == UNRESOLVED)
        .map(|(_, n)| *n)
        .collect();
    let unpack_gap = match nodes_shift {
        None => Some("NODES_SHIFT unknown (no kernel config and nodemask_t holds 64 nodes or fewer): the shadow entry cannot be unpacked".to_owned()),
        Some(_) if !missing.is_empty() => Some(format!("{} not in kernel BTF", missing.join(", "))),
        Some(_) => None,
    };
    if let Some(ns) = nodes_shift {
        let eviction_shift = 1 + 1 + ns + memcg_shift;
        l.eviction_mask = u64::MAX >> eviction_shift;
        let timestamp_bits = 64 - eviction_shift;
        let max_order = 64 - total_pages.saturating_sub(1).leading_zeros();
        l.bucket_order = max_order.saturating_sub(timestamp_bits);
    }
    if mglru {
        l.no_counts = unpack_gap.map(|why| {
            format!(
                "MGLRU counts a refault only when the shadow's lruvec is the folio's, and {why}"
            )
        });
        l.no_distance = Some("MGLRU is on: a shadow entry holds a generation, not an eviction clock, so refault distances do not exist".into());
    } else {
        l.no_distance = unpack_gap;
    }
    l
}
