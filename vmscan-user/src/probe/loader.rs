//! Loads the embedded eBPF object with this kernel's offsets and attaches
//! every hook the kernel allows, recording for each one how it attached or,
//! in words a user can act on, why it did not. A hook that fails degrades its
//! view; it never stops the others.

use std::path::PathBuf;

use anyhow::{Context as _, anyhow};
use aya::{
    Ebpf, EbpfLoader,
    programs::{BtfTracePoint, FEntry, FExit, KProbe, ProgramError, RawTracePoint, TracePoint},
};
use vmscan_common::Offsets;

use super::{
    btf::Btf,
    resolve::{self, Attach, HOOKS},
    system::{self, SystemInfo},
};

use crate::model::{
    counters::Counting,
    input::{HookStatus, hook_attached},
};

#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Skip fentry/fexit even where the kernel allows them (tests the kprobe path).
    pub no_fentry: bool,
    /// Return instances per kretprobe (None: [`super::kretprobe::MAXACTIVE`];
    /// 0: the kernel's default, by the perf kprobe PMU).
    pub kretprobe_instances: Option<u32>,
    /// Size of the episode ring buffer in bytes (a power of two, at least a
    /// page); None keeps the compiled-in 4 MiB.
    pub ring_bytes: Option<u32>,
    /// Test hook: a consumer that waits this long before each drain.
    pub drain_delay: Option<std::time::Duration>,
    /// Attach the kprobe programs beside fentry, counting only their hits
    /// (hook::SHADOW_*): the two mechanisms compared in one window.
    pub compare_kprobes: bool,
    /// folio_mark_accessed filters (vmscan access --pid / --comm).
    pub access_tgid: u32,
    pub access_comm: Option<String>,
    /// Skip the kernel stack walk of folio_mark_accessed (stat and export,
    /// which never show stacks).
    pub no_stacks: bool,
    /// Skip keying refaults per file and per task (stat and export, which
    /// never show them).
    pub no_refault_detail: bool,
    /// Skip what only folio_mark_accessed's outcomes need (stat, which
    /// shows none, only how often it ran): the classification and its
    /// per-CPU hash update on every call, the teardown tag's lookup and,
    /// under MGLRU, the return program.
    pub no_access_detail: bool,
    /// Attach folio_mark_accessed's return program under MGLRU (`vmscan
    /// access` only): outcomes from what the call changed. Elsewhere MGLRU
    /// outcomes come from the entry flags (6.1-6.13's order). A fentry+fexit
    /// trampoline on this hottest of hooks crashed TCG lab guests while
    /// attaching (a NULL call from unmap_page_range, twice in one CI run).
    pub access_return: bool,
    /// `vmscan lab-irq-context`: attach hooks::context's programs, counting
    /// the getppid() calls of this process.
    pub context_check: bool,
    /// Tell interrupts from tasks by the kernel stack even where the
    /// preempt_count can be read (`vmscan lab-irq-context --by-stack`).
    pub irq_context_by_stack: bool,
    /// `vmscan bench-ingest`: the process whose getppid() calls emit a
    /// synthetic record storm (0 = none).
    pub storm_tgid: u32,
    /// How tracepoint hooks attach (auto: tp_btf, else raw_tp, else the
    /// classic tracepoint).
    pub tracepoints: TpMechanism,
    /// Skip counting LRU insertions per memory cgroup (stat, which models
    /// no lruvecs): the insertion hook then resolves no folio's memcg.
    pub no_memcg_insertions: bool,
    /// Skip the ring-buffer record of each inactive-list shrink pass (every
    /// command but record: the per-CPU aggregates count the passes).
    pub no_shrink_passes: bool,
    /// Skip keying refaults by memory cgroup and measuring their distances
    /// (stat, which shows only the kernel's workingset counters).
    pub no_refault_by_memcg: bool,
    /// Skip folio_add_lru (stat, which shows no batch residency), unless
    /// comparing kprobes with fentry on it.
    pub no_batch_residency: bool,
    /// Skip the ring-buffer record of each ended reclaim episode, and the
    /// memcg it names (stat, which shows episodes per reclaimer from the
    /// per-CPU aggregate).
    pub no_episode_records: bool,
}

/// How a tracepoint hook's program attaches. tp_btf and raw_tp get the
/// tracepoint's arguments and skip the kernel's filling of the trace record
/// that a classic (perf-event) tracepoint program reads from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TpMechanism {
    /// tp_btf where the kernel allows it, else raw_tp, else the classic one.
    #[default]
    Auto,
    TpBtf,
    RawTp,
    Tracepoint,
}

impl std::str::FromStr for TpMechanism {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "tp_btf" | "tp-btf" => Ok(Self::TpBtf),
            "raw_tp" | "raw-tp" => Ok(Self::RawTp),
            "tracepoint" => Ok(Self::Tracepoint),
            _ => Err(format!(
                "`{s}` is not a tracepoint mechanism (auto, tp_btf, raw_tp, tracepoint)"
            )),
        }
    }
}

/// The loaded object with its attached programs (links live as long as it).
pub struct Loaded {
    pub ebpf: Ebpf,
    pub hooks: Vec<HookStatus>,
    pub system: SystemInfo,
    pub offsets: Offsets,
    /// How this kernel counts reclaim (from its BTF).
    pub counting: Counting,
    /// How this kernel packs shadow entries and counts refaults.
    pub refault: resolve::RefaultLayout,
    /// Which mechanisms' skipped program runs this kernel counts.
    pub misses: super::misses::MissCounting,
    /// The kretprobes made through tracefs (detached and removed on drop).
    pub kretprobes: Vec<super::kretprobe::Kretprobe>,
    /// How the programs tell an interrupt from a task here.
    pub wake_context: super::irq::IrqContextSource,
}

/// The errno behind an aya error, if there is one.
fn errno_of(e: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(code) = io.raw_os_error()
        {
            return Some(code);
        }
        cur = err.source();
    }
    None
}

/// One short line for a program error (the verifier log stays out of it).
fn short(e: &ProgramError) -> String {
    match errno_of(e) {
        Some(libc::EPERM) => "refused with EPERM".into(),
        Some(libc::ENOENT) => "not found (ENOENT)".into(),
        Some(libc::EINVAL) => "rejected with EINVAL".into(),
        // 524 is the kernel-internal ENOTSUPP, which bpf(2) can return.
        Some(524) | Some(libc::EOPNOTSUPP) => "not supported by this kernel".into(),
        Some(code) => format!("failed: {}", std::io::Error::from_raw_os_error(code)),
        None => {
            let s = e.to_string();
            s.lines()
                .next()
                .unwrap_or("failed")
                .chars()
                .take(160)
                .collect()
        }
    }
}

/// Logs (debug) the process's resident and peak memory at a start-up step.
fn mem_step(step: &str) {
    if log::log_enabled!(log::Level::Debug) {
        let st = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let kib = |k: &str| {
            st.lines()
                .find(|l| l.starts_with(k))
                .and_then(|l| l.split_whitespace().nth(1))
                .unwrap_or("?")
                .to_owned()
        };
        log::debug!(
            "memory after {step}: VmRSS {} KiB, VmHWM {} KiB",
            kib("VmRSS:"),
            kib("VmHWM:")
        );
    }
}

/// Resolves offsets, loads the object and attaches every hook.
pub fn load(opts: LoadOptions) -> anyhow::Result<Loaded> {
    // From here on a stop unwinds through the drops below, which remove
    // the kprobe events made for kretprobes.
    crate::stop::arm();
    let tracefs = system::ensure_tracefs();
    let system = SystemInfo::gather(&tracefs);

    let mut offsets = Offsets::unresolved();
    let mut hooks = initial_statuses();
    resolve_tracepoints(&tracefs, &mut hooks, &mut offsets);
    mem_step("system facts and format files");
    let btf = resolve_from_btf(&mut offsets);
    mem_step("parsing BTF");
    resolve_node_table(&mut offsets);
    check_btf_requirements(&mut hooks, &offsets, btf.is_some());
    // The interrupt entry functions come from the same pass, for the
    // kernels whose kallsyms lists no per-CPU data.
    let mut entries = super::irq::EntryRanges::default();
    let [
        vmemmap,
        khugepaged,
        per_cpu_offset,
        preempt_count,
        pcpu_hot,
        local_interrupt_disable_state,
    ] = system::kallsyms_lookup(
        [
            "vmemmap_base",
            "khugepaged_thread",
            "__per_cpu_offset",
            "__preempt_count",
            "pcpu_hot",
            "local_interrupt_disable_state",
        ],
        |addr, kind, name| entries.add(addr, kind, name),
    );
    let (vmemmap, page_struct) =
        folio_node_inputs(btf.as_ref(), &mut hooks, offsets.nr_nodes, vmemmap);
    let folio_node = (vmemmap != 0 && page_struct != 0) || offsets.nr_nodes <= 1;
    let (arg_offsets, tp_args) = resolve_tracepoint_args(btf.as_ref(), folio_node);
    let mut counting = counting_of(btf.as_ref(), &system, mglru_tracepoints(&tracefs));
    let khugepaged = khugepaged_thread(&mut hooks, khugepaged);
    let refault = refault_layout(btf.as_ref(), &offsets, &system, &mut hooks);
    let misses = super::misses::MissCounting::of(btf.as_ref());
    let irq_context = super::irq::resolve(
        btf.as_ref(),
        super::irq::Symbols {
            per_cpu_offset,
            preempt_count,
            pcpu_hot,
            local_interrupt_disable_state,
        },
        opts.irq_context_by_stack,
        entries.finish(),
    );

    // Everything still needed from our BTF parse, so it can be freed before
    // aya parses the same BTF for fentry (halves the start-up peak).
    let present_funcs = present_functions(btf.as_ref());
    // MGLRU 6.4+ (the memcg LRU): global reclaim shrinks lruvecs through
    // try_to_shrink_lruvec, not shrink_lruvec.
    let memcg_lru = btf
        .as_ref()
        .is_some_and(|b| b.struct_size("lru_gen_memcg").is_some());
    drop(btf);
    trim_heap();

    mem_step("dropping BTF");
    crate::stop::check()?;
    let mut ebpf = load_object(
        &opts,
        &offsets,
        &arg_offsets,
        &Addresses {
            vmemmap,
            page_struct,
            khugepaged,
            softlimit_as_memcg: !counting.memcg_in_global,
        },
        &refault,
        &irq_context,
    )?;
    wake_context_note(&mut hooks, &irq_context);
    mem_step("loading the object");
    if let Some((name, _)) = vmscan_common::TASK_MAPS
        .iter()
        .find(|(name, _)| ebpf.map(name).is_none())
    {
        anyhow::bail!("the eBPF object has no map {name} (vmscan_common::TASK_MAPS names it)");
    }
    let reclaim_pages_tp = hooks
        .iter()
        .any(|h| h.id == vmscan_common::hook::RECLAIM_PAGES && h.error.is_none());
    not_needed_here(
        &mut hooks,
        system.mglru,
        counting.mglru_tracepoints,
        reclaim_pages_tp,
        memcg_lru,
    );
    no_mlock_batch(&mut hooks, &present_funcs);
    let mut kret = Kretprobes::new(tracefs.as_deref().ok(), opts.kretprobe_instances);
    attach_hooks(
        &mut ebpf,
        &mut hooks,
        &tp_args,
        &opts,
        &system,
        &present_funcs,
        &mut kret,
    );
    if let Err(e) = crate::stop::check() {
        // Each kretprobe closes its own link and perf event before it
        // removes its event.
        drop(kret);
        drop(ebpf);
        return Err(e);
    }
    set_runtime_flags(&mut ebpf, &hooks);
    {
        use vmscan_common::hook::{
            COMPACT, DEACTIVATE, DEACTIVATE_FILE, EVICT_FOLIOS, ISOLATE_LRU, LAZYFREE, LRUVEC,
            LRUVEC_GEN, MIGRATE_PAGES, MLOCK, REFAULT, SHRINK_FOLIO_LIST,
        };
        let attached = |id| hook_attached(&hooks, id);
        // Each with its return: the two make one eviction.
        counting.mglru_evict_hooks = [EVICT_FOLIOS, SHRINK_FOLIO_LIST]
            .iter()
            .all(|&id| hook_returned(&hooks, id));
        counting.refaults = attached(REFAULT);
        counting.lazyfree = attached(LAZYFREE);
        counting.deactivate = attached(DEACTIVATE) && attached(DEACTIVATE_FILE);
        counting.demote = attached(MIGRATE_PAGES);
        counting.isolate_lru = hook_returned(&hooks, ISOLATE_LRU);
        counting.mlock = hook_returned(&hooks, MLOCK);
        counting.compact = hook_returned(&hooks, COMPACT);
        // Every pass inside a scope with its return: shrink_lruvec's, and
        // under MGLRU 6.4+ try_to_shrink_lruvec's too.
        counting.memcg_reclaim = counting.passes_seen()
            && !opts.no_memcg_insertions
            && hook_returned(&hooks, LRUVEC)
            && (!(counting.mglru && memcg_lru) || hook_returned(&hooks, LRUVEC_GEN));
    }
    mem_step("attaching");
    if opts.storm_tgid != 0 {
        attach_tracepoint(&mut ebpf, "bench_storm", "syscalls", "sys_enter_getppid").map_err(
            |e| anyhow::anyhow!("attaching the synthetic storm to syscalls:sys_enter_getppid: {e}"),
        )?;
    }
    if opts.context_check {
        attach_context_checks(&mut ebpf)?;
    }
    // Parsing the kernel's BTF twice leaves tens of MiB of freed heap behind;
    // hand it back so the daemon's footprint is what it uses.
    trim_heap();
    crate::stop::loaded();
    Ok(Loaded {
        ebpf,
        hooks,
        system,
        offsets,
        counting,
        refault,
        misses,
        kretprobes: kret.made,
        wake_context: irq_context,
    })
}

/// Where kretprobes are made, and those made so far.
struct Kretprobes<'a> {
    tracefs: Option<&'a std::path::Path>,
    possible_cpus: u32,
    /// Instances asked for (None: the default count).
    instances: Option<u32>,
    made: Vec<super::kretprobe::Kretprobe>,
}

impl<'a> Kretprobes<'a> {
    fn new(tracefs: Option<&'a std::path::Path>, instances: Option<u32>) -> Self {
        if let Some(t) = tracefs {
            super::kretprobe::remove_stale(t);
        }
        let possible_cpus = possible_cpus();
        Self {
            tracefs,
            possible_cpus,
            instances,
            made: vec![],
        }
    }
}

/// One status per hook, neither attached nor failed yet.
fn initial_statuses() -> Vec<HookStatus> {
    HOOKS
        .iter()
        .map(|h| HookStatus {
            id: h.id,
            name: resolve::hook_name(h.id),
            mechanism: None,
            error: None,
            notes: vec![],
        })
        .collect()
}

/// Tracepoint fields from format files; a tracepoint hook whose format cannot
/// be read or resolved gets its error, and the event name found is kept.
fn resolve_tracepoints(
    tracefs: &Result<PathBuf, String>,
    hooks: &mut [HookStatus],
    offsets: &mut Offsets,
) {
    for (spec, st) in HOOKS.iter().zip(hooks.iter_mut()) {
        if let Attach::Tracepoint {
            category, events, ..
        } = spec.attach
        {
            let res = match tracefs {
                Ok(dir) => resolve::read_format(dir, category, events).and_then(|(ev, f)| {
                    st.name = format!("{category}:{ev}");
                    resolve::resolve_tracepoint(spec.id, &f, offsets)
                }),
                Err(e) => Err(e.clone()),
            };
            if let Err(e) = res {
                st.error = Some(e);
            }
        }
    }
}

/// Where each tracepoint hook's fields are among its event's arguments, for
/// tp_btf and raw_tp: the `ARG_OFFSETS` global and, per hook (in HOOKS
/// order), the event whose arguments they are or why there are none.
fn resolve_tracepoint_args(
    btf: Option<&Btf>,
    folio_node: bool,
) -> (Offsets, Vec<Result<&'static str, String>>) {
    let mut o = Offsets::unresolved();
    let per_hook = HOOKS
        .iter()
        .map(|spec| {
            let Attach::Tracepoint { events, .. } = spec.attach else {
                return Err("not a tracepoint".into());
            };
            let btf = btf.ok_or("no kernel BTF")?;
            let mut why = String::new();
            for &event in events {
                let classes = resolve::event_classes(event);
                let classes: Vec<&str> = classes.iter().map(String::as_str).collect();
                match btf.tracepoint_args(event, &classes) {
                    Ok(args) => {
                        resolve::resolve_tracepoint_args(spec.id, &args, btf, folio_node, &mut o)?;
                        return Ok(event);
                    }
                    Err(e) => why = e,
                }
            }
            Err(why)
        })
        .collect();
    (o, per_hook)
}

/// Struct fields and flag bits from BTF; the parsed BTF, if there is one.
fn resolve_from_btf(offsets: &mut Offsets) -> Option<Btf> {
    match Btf::from_file(std::path::Path::new(system::BTF_VMLINUX)) {
        Ok(b) => {
            resolve::resolve_btf(&b, offsets);
            Some(b)
        }
        Err(e) => {
            log::warn!("kernel BTF unavailable ({e}): hooks that read struct folio are disabled");
            None
        }
    }
}

/// The pfn to node table from /proc/zoneinfo.
fn resolve_node_table(offsets: &mut Offsets) {
    let zones = system::parse_zoneinfo(
        &std::fs::read_to_string(crate::probe::paths::host("/proc/zoneinfo")).unwrap_or_default(),
    );
    if let Err(e) = resolve::resolve_nodes(&zones, offsets) {
        log::warn!("pfn to node table: {e}; pagemap events are counted on node 0");
    }
}

/// Fails the hooks whose BTF-derived fields are missing, and notes the ones
/// that run degraded without task_struct.flags.
fn check_btf_requirements(hooks: &mut [HookStatus], offsets: &Offsets, have_btf: bool) {
    for st in hooks.iter_mut().filter(|s| s.error.is_none()) {
        if !have_btf
            && matches!(
                st.id,
                vmscan_common::hook::LRU_INSERTION | vmscan_common::hook::LRU_ACTIVATE
            )
        {
            st.error = Some(format!(
                "needs kernel BTF ({} missing) to size folios",
                system::BTF_VMLINUX
            ));
            continue;
        }
        if let Err(e) = resolve::btf_requirements(st.id, offsets) {
            st.error = Some(e);
        }
    }
    if offsets.task_flags == vmscan_common::UNRESOLVED {
        for st in hooks.iter_mut() {
            if matches!(
                st.id,
                vmscan_common::hook::LRU_ISOLATE | vmscan_common::hook::SHRINK_INACTIVE
            ) {
                st.notes.push(
                    "task_struct.flags not in BTF: kswapd passes are counted as `other`".into(),
                );
            }
        }
    }
}

/// (vmemmap_base, sizeof(struct page)) for folio_mark_accessed's node
/// lookup; either is 0 when unknown, which that hook notes.
fn folio_node_inputs(
    btf: Option<&Btf>,
    hooks: &mut [HookStatus],
    nr_nodes: u32,
    vmemmap: u64,
) -> (u64, u64) {
    let page_struct = btf.and_then(|b| b.struct_size("page")).unwrap_or(0) as u64;
    // With one node every folio is on it (see kernel::folio_node).
    if (vmemmap == 0 || page_struct == 0) && nr_nodes > 1 {
        for st in hooks
            .iter_mut()
            .filter(|s| s.id == vmscan_common::hook::MARK_ACCESSED)
        {
            st.notes
                .push("vmemmap_base not readable in /proc/kallsyms: folio node unknown".into());
        }
    }
    (vmemmap, page_struct)
}

/// The function hooks' kernel functions that BTF lists (all of them when
/// there is no BTF to ask).
fn present_functions(btf: Option<&Btf>) -> Vec<&'static str> {
    HOOKS
        .iter()
        .flat_map(|h| match h.attach {
            Attach::Function { functions, .. } => functions.to_vec(),
            Attach::Tracepoint { .. } => vec![],
        })
        .filter(|f| btf.is_none_or(|b| b.has_func(f)))
        .collect()
}

/// The machine's possible CPUs (the per-CPU maps' width): aya's reading of
/// /sys/devices/system/cpu/possible. Where that cannot be read, 1024 CPUs,
/// not the CPUs this process may use (a cpuset would undercount them): a
/// larger map, never an evicting one.
fn possible_cpus() -> u32 {
    aya::util::nr_cpus().map_or(1024, |n| n as u32)
}

/// The kernel's comm is at most 15 bytes and NUL-padded to 16.
fn comm_filter(comm: Option<&str>) -> [u8; 16] {
    let mut out = [0u8; 16];
    if let Some(c) = comm {
        let b = c.as_bytes();
        out[..b.len().min(15)].copy_from_slice(&b[..b.len().min(15)]);
    }
    out
}

/// Whether MGLRU's eviction fires the isolate/shrink tracepoints here (see
/// [`resolve::mglru_fires_tracepoints`]); true when the format cannot be
/// read (the isolation hook then reports itself unavailable).
fn mglru_tracepoints(tracefs: &Result<PathBuf, String>) -> bool {
    let Ok(dir) = tracefs else { return true };
    resolve::read_format(dir, "vmscan", &["mm_vmscan_lru_isolate"])
        .map_or(true, |(_, f)| resolve::mglru_fires_tracepoints(&f))
}

/// How the kernel counts reclaim, from the items its enum vm_event_item has
/// (PGSCAN_KHUGEPAGED 6.2+, PGSCAN_PROACTIVE 6.16+) and which enum holds
/// PGSCAN_DIRECT (node_stat_item in 7.x: cgroup reclaim counted globally;
/// unknown without BTF, taken as not). Without BTF, the
/// counters in /proc/vmstat say the same. `mglru_tracepoints` comes from the
/// isolate tracepoint's format.
pub fn counting_of(btf: Option<&Btf>, system: &SystemInfo, mglru_tracepoints: bool) -> Counting {
    let vmstat = if btf.is_none() {
        system::read_vmstat()
    } else {
        Default::default()
    };
    let has = |item: &str, name: &str| match btf {
        Some(b) => b.enum_value(item).is_some(),
        None => vmstat.contains_key(name),
    };
    Counting {
        mglru: system.mglru == Some(true),
        khugepaged: has("PGSCAN_KHUGEPAGED", "pgscan_khugepaged"),
        proactive: has("PGSCAN_PROACTIVE", "pgscan_proactive"),
        mglru_tracepoints,
        // 7.x moved the scan/steal items into enum node_stat_item.
        memcg_in_global: btf.is_some_and(|b| b.enum_has("node_stat_item", "PGSCAN_DIRECT")),
        // Set once the hooks are attached.
        refaults: false,
        demote: false,
        demote_node_stat: btf.is_some_and(|b| b.enum_has("node_stat_item", "PGDEMOTE_KSWAPD")),
        lazyfree: false,
        deactivate: false,
        mglru_evict_hooks: false,
        memcg_reclaim: false,
        isolate_lru: false,
        mlock: false,
        compact: false,
    }
}

/// Address of the kernel's `khugepaged_thread` (0 when /proc/kallsyms does
/// not show it: khugepaged is then told by its comm, which the isolation
/// hook notes).
fn khugepaged_thread(hooks: &mut [HookStatus], addr: u64) -> u64 {
    if addr == 0 {
        for st in hooks
            .iter_mut()
            .filter(|s| s.id == vmscan_common::hook::LRU_ISOLATE && s.error.is_none())
        {
            st.notes.push(
                "khugepaged_thread not in /proc/kallsyms: khugepaged is told by its comm".into(),
            );
        }
    }
    addr
}

/// The shadow layout and counting rule of workingset_refault. Under MGLRU
/// the kernel's counting depends on the shadow's lruvec, so a layout that
/// cannot be worked out fails the hook rather than print wrong counts.
fn refault_layout(
    btf: Option<&Btf>,
    offsets: &Offsets,
    system: &SystemInfo,
    hooks: &mut [HookStatus],
) -> resolve::RefaultLayout {
    let layout = match btf {
        Some(b) => resolve::refault_layout(b, offsets, system.mglru == Some(true), system::config_nodes_shift(&system.kernel), system::total_ram_pages(system.page_size)),
        None => resolve::RefaultLayout {
            no_distance: Some("no kernel BTF".into()),
            no_counts: (system.mglru == Some(true)).then(|| "MGLRU counts a refault only when the shadow's lruvec is the folio's, and there is no kernel BTF to unpack the shadow".into()),
            ..Default::default()
        },
    };
    for st in hooks
        .iter_mut()
        .filter(|s| s.id == vmscan_common::hook::REFAULT && s.error.is_none())
    {
        if let Some(why) = &layout.no_counts {
            st.error = Some(why.clone());
        } else if let Some(why) = &layout.no_distance {
            st.notes
                .push(format!("refault distances not measured: {why}"));
        } else if !layout.anon_distance {
            st.notes.push("anon refault distances not measured: this kernel keeps anon shadows in the swap table with their own clock width".into());
        }
    }
    layout
}

/// `vmscan lab-irq-context`'s programs (hooks::context): the timer one only
/// where the kernel has irq_vectors:local_timer_entry (x86).
fn attach_context_checks(ebpf: &mut Ebpf) -> anyhow::Result<()> {
    let btf = &aya::Btf::from_sys_fs().context("the context check needs the kernel's BTF")?;
    attach_btf_tracepoint(ebpf, "ctx_softirq_entry", "softirq_entry", btf)
        .map_err(|e| anyhow!("attaching to irq:softirq_entry: {e}"))?;
    attach_tracepoint(ebpf, "ctx_softirq_entry_tp", "irq", "softirq_entry")
        .map_err(|e| anyhow!("attaching to irq:softirq_entry (tracepoint): {e}"))?;
    if let Err(e) = attach_btf_tracepoint(ebpf, "ctx_local_timer_entry", "local_timer_entry", btf) {
        log::info!("irq_vectors:local_timer_entry not checked: {e}");
    }
    attach_btf_tracepoint(ebpf, "ctx_sys_enter", "sys_enter", btf)
        .map_err(|e| anyhow!("attaching to raw_syscalls:sys_enter: {e}"))?;
    Ok(())
}

/// Says on the kswapd wake-up hook how it tells an interrupt from a task.
fn wake_context_note(hooks: &mut [HookStatus], p: &super::irq::IrqContextSource) {
    for st in hooks
        .iter_mut()
        .filter(|s| s.id == vmscan_common::hook::WAKEUP_KSWAPD && s.error.is_none())
    {
        st.notes.push(if p.source == vmscan_common::irq_context::SOURCE_NONE {
            format!(
                "wake-up context unknown ({}): a wake-up asked for in an interrupt names the interrupted task",
                p.how
            )
        } else {
            format!("wake-up context (task, softirq, hardirq, NMI) from {}", p.how)
        });
    }
}

/// Kernel addresses and sizes the programs need, 0 when unknown.
struct Addresses {
    vmemmap: u64,
    page_struct: u64,
    khugepaged: u64,
    /// Whether a soft-limit pass counts as memcg reclaim here (see
    /// SOFTLIMIT_AS_MEMCG in the eBPF object).
    softlimit_as_memcg: bool,
}

/// Loads the eBPF object with the resolved offsets and the options as globals.
fn load_object(
    opts: &LoadOptions,
    offsets: &Offsets,
    arg_offsets: &Offsets,
    a: &Addresses,
    r: &resolve::RefaultLayout,
    irq: &super::irq::IrqContextSource,
) -> anyhow::Result<Ebpf> {
    if crate::EBPF_OBJECT.is_empty() {
        anyhow::bail!(
            "this vmscan was built with AYA_BUILD_SKIP=1 and carries no eBPF programs; rebuild it normally"
        );
    }
    // EbpfLoader::new() parses the kernel's BTF (about 20 MiB for vmlinux);
    // the programs carry no CO-RE relocations (every offset is a global),
    // so it is dropped before the object is loaded, not kept beside it.
    let mut loader = EbpfLoader::new();
    loader.btf(None);
    trim_heap();
    if let Some(b) = opts.ring_bytes {
        loader.map_max_entries("EVENTS", b);
    }
    // The per-task LRU hashes, sized so that the kernel's per-CPU free
    // lists cannot make it evict a live entry (an open episode, a shrink_node
    // call) before the base is reached.
    let cpus = possible_cpus();
    for (name, base) in vmscan_common::TASK_MAPS {
        loader.map_max_entries(name, vmscan_common::task_map_entries(base, cpus));
    }
    let wakeup_bytes = (opts.ring_bytes.unwrap_or(vmscan_common::RING_BYTES) / 4) as u64;
    // Read once: a switch of MGLRU while vmscan runs is not followed.
    let mglru = system::mglru_enabled() == Some(true);
    let comm_filter = comm_filter(opts.access_comm.as_deref());
    loader
        .override_global("OFFSETS", offsets, true)
        .override_global("ARG_OFFSETS", arg_offsets, true)
        .override_global("VMEMMAP_BASE_ADDR", &a.vmemmap, true)
        .override_global("STRUCT_PAGE_SIZE", &a.page_struct, true)
        .override_global("KHUGEPAGED_THREAD_ADDR", &a.khugepaged, true)
        .override_global("SOFTLIMIT_AS_MEMCG", &(a.softlimit_as_memcg as u64), true)
        .override_global("RING_WAKEUP_BYTES", &wakeup_bytes, true)
        .override_global("KPROBE_SHADOW", &(opts.compare_kprobes as u64), true)
        .override_global("MGLRU", &(mglru as u64), true)
        .override_global("CAPTURE_STACKS", &(!opts.no_stacks as u64), true)
        .override_global("ACCESS_OUTCOMES", &(!opts.no_access_detail as u64), true)
        .override_global(
            "MEMCG_INSERTIONS",
            &(!opts.no_memcg_insertions as u64),
            true,
        )
        .override_global("EMIT_SHRINK_PASSES", &(!opts.no_shrink_passes as u64), true)
        .override_global("EMIT_EPISODES", &(!opts.no_episode_records as u64), true)
        .override_global("FILTER_TGID", &(opts.access_tgid as u64), true)
        .override_global("FILTER_COMM", &comm_filter, true)
        .override_global("STORM_TGID", &(opts.storm_tgid as u64), true)
        .override_global(
            "CONTEXT_TGID",
            &(if opts.context_check {
                u64::from(std::process::id())
            } else {
                0
            }),
            true,
        )
        .override_global("CONTEXT_SYSCALL", &(libc::SYS_getppid as u64), true)
        .override_global("REFAULT_RULE", &r.rule, true)
        .override_global("REFAULT_DETAIL", &(!opts.no_refault_detail as u64), true)
        .override_global(
            "REFAULT_BY_MEMCG",
            &(!opts.no_refault_by_memcg as u64),
            true,
        )
        .override_global(
            "SHADOW_NODES_SHIFT",
            &r.nodes_shift.map_or(64, u64::from),
            true,
        )
        .override_global("SHADOW_MEMCG_SHIFT", &u64::from(r.memcg_shift), true)
        .override_global("EVICTION_MASK", &r.eviction_mask, true)
        .override_global("BUCKET_ORDER", &u64::from(r.bucket_order), true)
        .override_global("REFAULT_ONE_PER_CALL", &u64::from(r.one_per_call), true)
        .override_global("ANON_DISTANCE", &u64::from(r.anon_distance), true)
        .override_global("IRQ_CONTEXT_SOURCE", &irq.source, true)
        .override_global("PREEMPT_COUNT_OFF", &irq.preempt_count_off, true)
        .override_global("PER_CPU_OFFSET_ADDR", &irq.per_cpu_offset, true)
        .override_global("IRQ_ENTRY_RANGES", &irq.ranges, true)
        .override_global(
            "IRQ_STACK_FULL_BYTES",
            &super::irq::stack_full_bytes(
                std::fs::read_to_string(super::paths::host(
                    "/proc/sys/kernel/perf_event_max_stack",
                ))
                .ok()
                .and_then(|v| v.trim().parse().ok()),
            ),
            true,
        )
        .load(crate::EBPF_OBJECT)
        .context("loading the vmscan eBPF object (maps and programs)")
}

/// Attaches every hook that nothing has failed yet, recording how or why not.
fn attach_hooks(
    ebpf: &mut Ebpf,
    hooks: &mut [HookStatus],
    tp_args: &[Result<&'static str, String>],
    opts: &LoadOptions,
    system: &SystemInfo,
    present_funcs: &[&'static str],
    kret: &mut Kretprobes,
) {
    let aya_btf = aya::Btf::from_sys_fs().ok();
    // Fault injection for the tests: a SIGINT to vmscan itself once the
    // hook of that name is attached, to interrupt a start-up at a known
    // point.
    let sigint_after = std::env::var("VMSCAN_TEST_SIGINT_AFTER").ok();
    for ((spec, st), args) in HOOKS.iter().zip(hooks.iter_mut()).zip(tp_args) {
        if crate::stop::requested() {
            // load() unwinds what was attached.
            break;
        }
        if st.error.is_none()
            && let Some(why) = not_needed(spec.id, opts)
        {
            st.error = Some(format!("{NOT_ATTACHED_BY_COMMAND}: {why}"));
        }
        if st.error.is_some() {
            continue;
        }
        match spec.attach {
            Attach::Tracepoint {
                category, program, ..
            } => {
                let event = st
                    .name
                    .split_once(':')
                    .map(|(_, e)| e.to_owned())
                    .unwrap_or_default();
                let t = TracepointPrograms {
                    category,
                    event: &event,
                    program,
                    args,
                };
                attach_tracepoint_hook(ebpf, st, &t, opts.tracepoints, aya_btf.as_ref());
            }
            Attach::Function {
                functions,
                fentry,
                kprobe,
                exit,
            } => {
                let func = functions
                    .iter()
                    .find(|f| present_funcs.contains(f))
                    .copied()
                    .unwrap_or(functions[0]);
                st.name = func.to_owned();
                let exit = exit
                    .filter(|e| exit_wanted(e.when, opts, system))
                    .map(|e| (e.fexit, e.kretprobe));
                let programs = FunctionPrograms {
                    func,
                    fentry,
                    kprobe,
                    exit,
                };
                attach_function(ebpf, st, &programs, opts, system, aya_btf.as_ref(), kret);
            }
        }
        if st.error.is_none() && sigint_after.as_deref() == Some(st.name.as_str()) {
            // SAFETY: raise takes a signal number only.
            unsafe { libc::raise(libc::SIGINT) };
        }
    }
}

/// The start of a hook's error where the command leaves it unattached
/// because nothing it shows uses the hook (not because the kernel lacks it).
pub const NOT_ATTACHED_BY_COMMAND: &str = "not attached by this command";
/// The start of a hook's error where this kernel has no use for it: it
/// would count what a tracepoint already counts here.
pub const NOT_NEEDED_HERE: &str = "not needed on this kernel";

/// MGLRU's eviction hooks (evict_folios, shrink_folio_list) stand in for the isolate/shrink tracepoints that
/// MGLRU before 6.7 does not fire: elsewhere they would count its passes
/// twice, or have nothing to count. shrink_folio_list also stands in for
/// mm_vmscan_reclaim_pages (7.x) where that is missing
/// (`reclaim_pages_tp` false). `mglru`: None where MGLRU is compiled out.
/// try_to_shrink_lruvec's scope is needed only under MGLRU 6.4+
/// (`memcg_lru`).
fn not_needed_here(
    hooks: &mut [HookStatus],
    mglru: Option<bool>,
    mglru_tracepoints: bool,
    reclaim_pages_tp: bool,
    memcg_lru: bool,
) {
    use vmscan_common::hook::{EVICT_FOLIOS, SHRINK_FOLIO_LIST};
    // try_to_shrink_lruvec: MGLRU 6.4+'s (`memcg_lru`: struct
    // lru_gen_memcg in BTF); before, MGLRU shrinks every lruvec through
    // shrink_lruvec.
    let lruvec_gen_unused = match (mglru, memcg_lru) {
        (None, _) => Some("this kernel has no MGLRU (only MGLRU's reclaim calls it)"),
        (Some(_), false) => {
            Some("MGLRU before 6.4 (no memcg LRU) shrinks every lruvec through shrink_lruvec")
        }
        (Some(_), true) => None,
    };
    if let Some(why) = lruvec_gen_unused {
        for st in hooks
            .iter_mut()
            .filter(|h| h.id == vmscan_common::hook::LRUVEC_GEN)
        {
            st.error = Some(format!("{NOT_NEEDED_HERE}: {why}"));
        }
    }
    let why = match (mglru, mglru_tracepoints) {
        (None, _) => "this kernel has no MGLRU",
        (_, true) => {
            "MGLRU's eviction fires mm_vmscan_lru_isolate and lru_shrink_inactive here (6.7+), which count it"
        }
        // vmscan decides how to count when it starts (Counting::mglru).
        (Some(false), false) => "MGLRU is off (/sys/kernel/mm/lru_gen/enabled)",
        (Some(true), false) => return,
    };
    for st in hooks
        .iter_mut()
        .filter(|h| h.id == EVICT_FOLIOS || (h.id == SHRINK_FOLIO_LIST && reclaim_pages_tp))
    {
        st.error = Some(if st.id == SHRINK_FOLIO_LIST {
            format!("{NOT_NEEDED_HERE}: {why}, and mm_vmscan_reclaim_pages counts reclaim_pages()")
        } else {
            format!("{NOT_NEEDED_HERE}: {why}")
        });
    }
}

/// Before 5.18 mlock has no batch to hook (`present_funcs` has neither
/// mlock_folio_batch nor mlock_pagevec): it isolates with isolate_lru_page
/// (hooked) and puts back through the LRU-add batch, which fires
/// mm_lru_insertion.
fn no_mlock_batch(hooks: &mut [HookStatus], present_funcs: &[&str]) {
    if resolve::MLOCK_FUNCTIONS
        .iter()
        .any(|(f, ..)| present_funcs.contains(f))
    {
        return;
    }
    for st in hooks
        .iter_mut()
        .filter(|h| h.id == vmscan_common::hook::MLOCK)
    {
        st.error = Some(format!(
            "{NOT_NEEDED_HERE}: mlock has no batch before 5.18: it isolates with isolate_lru_page (hooked) and puts back through the LRU-add batch (mm_lru_insertion); munlock's own isolation (inline in __munlock_pagevec) stays in the drift residual"
        ));
    }
}

/// Why the command these options are for has no use for hook `id`, if it
/// has none: each such hook runs on every call of its kernel function.
fn not_needed(id: vmscan_common::HookId, opts: &LoadOptions) -> Option<&'static str> {
    use vmscan_common::hook;
    match id {
        // exit_mmap only tags folio_mark_accessed's outcomes as teardown.
        hook::TEARDOWN if opts.no_access_detail => {
            Some("only used to tag access outcomes as page-table teardown")
        }
        // folio_add_lru (on every LRU add) only starts each folio's batch
        // residency; --compare-kprobes compares its calls by both mechanisms.
        hook::ADD_LRU if opts.no_batch_residency && !opts.compare_kprobes => {
            Some("only used to time each folio's stay in its CPU's LRU-add batch")
        }
        // The lruvec scopes only key reclaim by memory cgroup; the kprobe
        // comparison runs without lruvecs (stat).
        hook::LRUVEC | hook::LRUVEC_GEN if opts.no_memcg_insertions && !opts.compare_kprobes => {
            Some("only used to count reclaim per memory cgroup (pgscan / pgsteal in memory.stat)")
        }
        // try_to_free_mem_cgroup_pages only names a memcg episode's cgroup.
        hook::MEMCG_TARGET if opts.no_episode_records => {
            Some("only used to name each memcg reclaim episode's cgroup")
        }
        _ => None,
    }
}

/// Whether a function hook's return program is attached, by its `when`.
fn exit_wanted(when: resolve::ExitWhen, opts: &LoadOptions, system: &SystemInfo) -> bool {
    match when {
        resolve::ExitWhen::Always => true,
        resolve::ExitWhen::MglruOutcomes => system.mglru == Some(true) && opts.access_return,
    }
}

/// A function hook's mechanism with its return program.
const FENTRY_FEXIT: &str = "fentry+fexit";
const KPROBE_KRETPROBE: &str = "kprobe+kretprobe";

/// Whether a function hook's mechanism includes its return program.
fn return_attached(mechanism: &str) -> bool {
    mechanism == FENTRY_FEXIT || mechanism == KPROBE_KRETPROBE
}

/// Whether hook `id` attached with its return program.
pub fn hook_returned(hooks: &[HookStatus], id: vmscan_common::HookId) -> bool {
    hooks
        .iter()
        .any(|h| h.id == id && h.mechanism.as_deref().is_some_and(return_attached))
}

/// Why this kernel has no use for hook `h`, where that is why it is not
/// attached ([`NOT_NEEDED_HERE`]).
pub fn not_needed_here_reason(h: &HookStatus) -> Option<&str> {
    h.error
        .as_deref()?
        .strip_prefix(NOT_NEEDED_HERE)
        .map(|w| w.trim_start_matches(": "))
}

/// A function hook's kernel function and the programs that can attach to it.
struct FunctionPrograms<'a> {
    func: &'a str,
    fentry: &'a str,
    kprobe: &'a str,
    /// (fexit, kretprobe) when the hook needs the return.
    exit: Option<(&'a str, &'a str)>,
}

/// fentry (with kprobes beside it when comparing), else kprobes.
fn attach_function(
    ebpf: &mut Ebpf,
    st: &mut HookStatus,
    p: &FunctionPrograms,
    opts: &LoadOptions,
    system: &SystemInfo,
    aya_btf: Option<&aya::Btf>,
    kret: &mut Kretprobes,
) {
    let fentry_result = if opts.no_fentry {
        Err("not tried (--no-fentry)".to_owned())
    } else {
        match aya_btf {
            Some(b) => attach_fentry(ebpf, p.fentry, p.exit.map(|e| e.0), p.func, b),
            None => Err("no kernel BTF for fentry".to_owned()),
        }
    };
    match fentry_result {
        Ok(m) => {
            st.mechanism = Some(m);
            if opts.compare_kprobes {
                match attach_kprobe(ebpf, p.kprobe, None, p.func, kret) {
                    Ok(_) => st.notes.push(super::misses::SHADOW_NOTE.into()),
                    Err(e) => st.notes.push(format!("comparison kprobe failed: {e}")),
                }
            }
        }
        Err(fe) => {
            if !system.kprobes {
                st.error = Some(format!(
                    "kernel built without CONFIG_KPROBES and fentry {fe}"
                ));
                return;
            }
            match attach_kprobe(ebpf, p.kprobe, p.exit.map(|e| e.1), p.func, kret) {
                Ok((m, ret_note)) => {
                    st.mechanism = Some(m);
                    st.notes.push(format!("fentry {fe}; using kprobes"));
                    st.notes.extend(ret_note);
                }
                Err(ke) => st.error = Some(format!("fentry {fe}; kprobe {ke}")),
            }
        }
    }
}

/// Flags the programs read once the hooks are attached (the RUNTIME map):
/// LRU insertions look up a batch start only where folio_add_lru is hooked,
/// memcg reclaim episodes the reclaimed memcg only where
/// try_to_free_mem_cgroup_pages is.
fn set_runtime_flags(ebpf: &mut Ebpf, hooks: &[HookStatus]) {
    use vmscan_common::{
        RUNTIME_ACCESS_RETURN, RUNTIME_BATCH, RUNTIME_MEMCG_TARGET, RUNTIME_PAGEOUT,
        RUNTIME_PASS_CACHE, RUNTIME_TEARDOWN, hook,
    };
    let attached = |id| u64::from(hook_attached(hooks, id));
    let returned = |id| u64::from(hook_returned(hooks, id));
    let flags = [
        (RUNTIME_BATCH, attached(hook::ADD_LRU)),
        (RUNTIME_MEMCG_TARGET, attached(hook::MEMCG_TARGET)),
        // Read only where the outcomes are (ACCESS_OUTCOMES, off for stat).
        (RUNTIME_TEARDOWN, attached(hook::TEARDOWN)),
        // Whatever decided it (ExitWhen), the entry program leaves the
        // outcome to the return program exactly where that attached.
        (RUNTIME_ACCESS_RETURN, returned(hook::MARK_ACCESSED)),
        // Not by kprobes: a kretprobe that misses a return would leave the
        // entry open, and the task's later passes outside shrink_node
        // would take its reclaimer.
        // shrink_folio_list's calls outside reclaim stand in for
        // mm_vmscan_reclaim_pages, never beside it.
        (
            RUNTIME_PAGEOUT,
            returned(hook::SHRINK_FOLIO_LIST) * (1 - attached(hook::RECLAIM_PAGES)),
        ),
        (
            RUNTIME_PASS_CACHE,
            u64::from(hooks.iter().any(|h| {
                h.id == hook::SHRINK_NODE && h.mechanism.as_deref() == Some(FENTRY_FEXIT)
            })),
        ),
    ];
    let res = ebpf
        .map_mut("RUNTIME")
        .ok_or_else(|| "no RUNTIME map".to_owned())
        .and_then(|m| aya::maps::Array::<_, u64>::try_from(m).map_err(|e| e.to_string()))
        .and_then(|mut a| {
            flags
                .iter()
                .try_for_each(|&(slot, v)| a.set(slot, v, 0).map_err(|e| e.to_string()))
        });
    if let Err(e) = res {
        log::warn!(
            "setting the programs' runtime flags: {e}; batch residency, reclaimed memcgs and the teardown tag are not measured"
        );
    }
}

/// A tracepoint hook's event and programs, and where its arguments are.
struct TracepointPrograms<'a> {
    category: &'a str,
    /// The event from its format file ("" when that could not be read).
    event: &'a str,
    /// The classic program; `btf_<program>` and `raw_<program>` take the
    /// arguments.
    program: &'a str,
    /// The event whose arguments ARG_OFFSETS resolved, or why none.
    args: &'a Result<&'static str, String>,
}

/// tp_btf, else raw_tp, else the classic tracepoint (or the one `forced`);
/// the reason a preferred mechanism was passed over becomes a note.
fn attach_tracepoint_hook(
    ebpf: &mut Ebpf,
    st: &mut HookStatus,
    t: &TracepointPrograms,
    forced: TpMechanism,
    btf: Option<&aya::Btf>,
) {
    use TpMechanism::*;
    let order: &[TpMechanism] = match forced {
        Auto => &[TpBtf, RawTp, Tracepoint],
        TpBtf => &[TpBtf],
        RawTp => &[RawTp],
        Tracepoint => &[Tracepoint],
    };
    let mut passed_over = vec![];
    for &m in order {
        let res = match (m, t.args) {
            (Tracepoint, _) => attach_tracepoint(ebpf, t.program, t.category, t.event),
            (_, Err(why)) => Err(format!("its arguments: {why}")),
            (TpBtf, Ok(event)) => match btf {
                Some(b) => attach_btf_tracepoint(ebpf, &format!("btf_{}", t.program), event, b),
                None => Err("kernel BTF unreadable by aya".into()),
            },
            (_, Ok(event)) => attach_raw_tracepoint(ebpf, &format!("raw_{}", t.program), event),
        };
        match res {
            Ok(()) => {
                let name = mechanism_name(m);
                st.mechanism = Some(name.into());
                // Passing over tp_btf for raw_tp is worth a note; for the
                // classic tracepoint, the reason each faster one failed.
                if forced == Auto && !passed_over.is_empty() {
                    st.notes
                        .push(format!("{}; using {name}", passed_over.join("; ")));
                }
                return;
            }
            Err(e) => passed_over.push(format!("{} {e}", mechanism_name(m))),
        }
    }
    st.error = Some(passed_over.join("; "));
}

fn mechanism_name(m: TpMechanism) -> &'static str {
    match m {
        TpMechanism::TpBtf => "tp_btf",
        TpMechanism::RawTp => "raw_tp",
        TpMechanism::Tracepoint | TpMechanism::Auto => "tracepoint",
    }
}

/// Program `name` of the object as the program type `P` it must be.
fn typed_program<'a, P>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut P, String>
where
    &'a mut P: TryFrom<&'a mut aya::programs::Program, Error = ProgramError>,
{
    ebpf.program_mut(name)
        .ok_or_else(|| format!("program {name} missing from the eBPF object"))?
        .try_into()
        .map_err(|e: ProgramError| e.to_string())
}

fn attach_btf_tracepoint(
    ebpf: &mut Ebpf,
    program: &str,
    event: &str,
    btf: &aya::Btf,
) -> Result<(), String> {
    let prog: &mut BtfTracePoint = typed_program(ebpf, program)?;
    prog.load(event, btf).map_err(|e| {
        log::debug!("loading {program} as tp_btf on {event}: {e:#?}");
        short(&e)
    })?;
    prog.attach().map_err(|e| short(&e))?;
    Ok(())
}

fn attach_raw_tracepoint(ebpf: &mut Ebpf, program: &str, event: &str) -> Result<(), String> {
    let prog: &mut RawTracePoint = typed_program(ebpf, program)?;
    prog.load().map_err(|e| {
        log::debug!("loading {program} as raw_tp: {e:#?}");
        short(&e)
    })?;
    prog.attach(event).map_err(|e| short(&e))?;
    Ok(())
}

fn attach_tracepoint(
    ebpf: &mut Ebpf,
    program: &str,
    category: &str,
    event: &str,
) -> Result<(), String> {
    let prog: &mut TracePoint = typed_program(ebpf, program)?;
    prog.load().map_err(|e| {
        log::debug!("loading {program} as a tracepoint: {e:#?}");
        format!("loading {program}: {}", short(&e))
    })?;
    prog.attach(category, event)
        .map_err(|e| format!("attaching {category}:{event}: {}", short(&e)))?;
    Ok(())
}

fn attach_fentry(
    ebpf: &mut Ebpf,
    entry: &str,
    exit: Option<&str>,
    func: &str,
    btf: &aya::Btf,
) -> Result<String, String> {
    {
        let prog: &mut FEntry = typed_program(ebpf, entry)?;
        prog.load(func, btf).map_err(|e| {
            log::debug!("loading {entry} as fentry on {func}: {e:#?}");
            short(&e)
        })?;
        prog.attach().map_err(|e| short(&e))?;
    }
    let Some(exit) = exit else {
        return Ok("fentry".into());
    };
    let prog: &mut FExit = typed_program(ebpf, exit)?;
    prog.load(func, btf)
        .map_err(|e| format!("(fexit) {}", short(&e)))?;
    prog.attach()
        .map_err(|e| format!("(fexit) {}", short(&e)))?;
    Ok(FENTRY_FEXIT.into())
}

/// The kprobe `entry` on `func`, and the kretprobe `exit` where given;
/// returns the mechanism and a note on the kretprobe's return instances.
fn attach_kprobe(
    ebpf: &mut Ebpf,
    entry: &str,
    exit: Option<&str>,
    func: &str,
    kret: &mut Kretprobes,
) -> Result<(String, Option<String>), String> {
    let prog: &mut KProbe = typed_program(ebpf, entry)?;
    prog.load().map_err(|e| short(&e))?;
    prog.attach(func, 0).map_err(|e| short(&e))?;
    let Some(exit) = exit else {
        return Ok(("kprobe".into(), None));
    };
    let prog: &mut KProbe = typed_program(ebpf, exit)?;
    prog.load()
        .map_err(|e| format!("(kretprobe) {}", short(&e)))?;
    let default = super::kretprobe::default_maxactive(kret.possible_cpus);
    let want = kret.instances.unwrap_or(super::kretprobe::MAXACTIVE);
    let tried =
        match kret.tracefs {
            // Asked for the kernel's default (0), or no more than it.
            Some(_) if want == 0 || (kret.instances.is_none() && want <= default) => None,
            Some(t) => Some(prog.fd().map_err(|e| short(&e)).and_then(|fd| {
                super::kretprobe::attach(t, std::os::fd::AsFd::as_fd(fd), func, want)
            })),
            None => Some(Err("no tracefs".to_owned())),
        };
    let note = match tried {
        Some(Ok(k)) => {
            let note = format!(
                "kretprobe {} with {} return instances (the kernel's default: {default})",
                k.event(),
                k.maxactive
            );
            kret.made.push(k);
            note
        }
        why => {
            prog.attach(func, 0)
                .map_err(|e| format!("(kretprobe) {}", short(&e)))?;
            let why = match why {
                Some(Err(e)) => format!(" ({e})"),
                _ => String::new(),
            };
            format!(
                "kretprobe with the kernel's default {default} return instances{why}: returns are missed while more tasks are inside {func} (counted in `missed` on 6.7+)"
            )
        }
    };
    Ok((KPROBE_KRETPROBE.into(), Some(note)))
}

/// Returns freed heap to the system (glibc; musl's allocator does so itself).
fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Raises RLIMIT_MEMLOCK for kernels that still charge BPF maps to it
/// (before 5.11's memcg accounting).
pub fn raise_memlock() {
    let rlim = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads a valid rlimit struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &rlim) } != 0 {
        log::debug!(
            "raising RLIMIT_MEMLOCK failed: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Exits early with a clear message when the process lacks privileges.
pub fn check_privileges() -> anyhow::Result<()> {
    match system::missing_privilege(system::effective_caps()) {
        None => Ok(()),
        Some(msg) => Err(anyhow!(crate::PrivilegeError(msg))),
    }
}

pub fn tracefs_path() -> Option<PathBuf> {
    system::ensure_tracefs().ok()
}

#[cfg(test)]
mod tests {
    use vmscan_common::hook;

    use super::*;

    #[test]
    fn a_command_skips_only_the_hooks_it_has_no_use_for() {
        // stat's options (main.rs): no access detail, no episode records,
        // no batch residency.
        let stat = LoadOptions {
            no_access_detail: true,
            no_episode_records: true,
            no_batch_residency: true,
            ..LoadOptions::default()
        };
        for id in [hook::TEARDOWN, hook::MEMCG_TARGET, hook::ADD_LRU] {
            assert!(not_needed(id, &stat).is_some(), "{id}");
            assert_eq!(not_needed(id, &LoadOptions::default()), None, "{id}");
        }
        // Comparing mechanisms keeps folio_add_lru (the lab's truth check).
        let compare = LoadOptions {
            compare_kprobes: true,
            ..stat.clone()
        };
        assert_eq!(not_needed(hook::ADD_LRU, &compare), None);
        // Every hook stat's counters or self-check read stays.
        for id in [
            hook::MARK_ACCESSED,
            hook::SHRINK_NODE,
            hook::REFAULT,
            hook::MEMCG_BEGIN,
        ] {
            assert_eq!(not_needed(id, &stat), None, "{id}");
        }
    }

    #[test]
    fn mlock_batch_not_needed_only_without_one() {
        let error = |funcs: &[&str]| {
            let mut hooks = initial_statuses();
            no_mlock_batch(&mut hooks, funcs);
            for h in hooks.iter().filter(|h| h.id != hook::MLOCK) {
                assert_eq!(h.error, None, "{}", h.name);
            }
            hooks
                .iter()
                .find(|h| h.id == hook::MLOCK)
                .and_then(|h| h.error.clone())
        };
        assert_eq!(error(&["mlock_folio_batch"]), None);
        assert_eq!(error(&["mlock_pagevec", "shrink_node"]), None);
        let e = error(&["shrink_node", "isolate_lru_page"]).unwrap_or_default();
        assert!(e.starts_with(NOT_NEEDED_HERE) && e.contains("5.18"), "{e}");
    }

    #[test]
    fn mglru_eviction_hooks_only_where_mglru_fires_no_tracepoints() {
        let evict = [hook::EVICT_FOLIOS, hook::SHRINK_FOLIO_LIST];
        let errors = |mglru, tracepoints| {
            let mut hooks = initial_statuses();
            not_needed_here(&mut hooks, mglru, tracepoints, true, true);
            let mut out = vec![];
            for h in &hooks {
                let e = h.error.clone();
                if evict.contains(&h.id) {
                    out.push(e);
                } else if h.id == hook::LRUVEC_GEN {
                    // Only MGLRU's reclaim calls try_to_shrink_lruvec.
                    assert_eq!(e.is_some(), mglru.is_none(), "{}", h.name);
                } else {
                    assert_eq!(e, None, "{}: only the eviction hooks", h.name);
                }
            }
            assert_eq!(out.len(), 2);
            out
        };
        // 6.1-6.6 with MGLRU on: hooked.
        assert!(errors(Some(true), false).iter().all(Option::is_none));
        // 6.7+ (they would count its passes twice), MGLRU off (vmscan
        // counts as the classic LRU) and no MGLRU at all.
        for (mglru, tp, why) in [
            (Some(true), true, "6.7+"),
            (Some(false), false, "MGLRU is off"),
            (None, false, "no MGLRU"),
        ] {
            for e in errors(mglru, tp) {
                let e = e.unwrap_or_default();
                assert!(e.starts_with(NOT_NEEDED_HERE) && e.contains(why), "{e}");
            }
        }
        // try_to_shrink_lruvec: MGLRU 6.4+ only (6.1 has no such function).
        let gen_error = |mglru, memcg_lru| {
            let mut hooks = initial_statuses();
            not_needed_here(&mut hooks, mglru, false, true, memcg_lru);
            hooks
                .iter()
                .find(|h| h.id == hook::LRUVEC_GEN)
                .and_then(|h| h.error.clone())
        };
        assert_eq!(gen_error(Some(true), true), None);
        assert_eq!(
            gen_error(Some(false), true),
            None,
            "MGLRU can be switched on"
        );
        let e = gen_error(Some(true), false).unwrap_or_default();
        assert!(
            e.starts_with(NOT_NEEDED_HERE) && e.contains("before 6.4"),
            "{e}"
        );
        // Without mm_vmscan_reclaim_pages (before 7.x) shrink_folio_list
        // stays for reclaim_pages' activations, evict_folios does not.
        let mut hooks = initial_statuses();
        not_needed_here(&mut hooks, Some(true), true, false, true);
        for h in hooks.iter().filter(|h| evict.contains(&h.id)) {
            assert_eq!(
                h.error.is_none(),
                h.id == hook::SHRINK_FOLIO_LIST,
                "{}: {:?}",
                h.name,
                h.error
            );
        }
    }
}
