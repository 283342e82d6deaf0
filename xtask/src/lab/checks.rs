//! The host's side of the scenarios: the console's marked blocks, parsed,
//! and a check per scenario that turns them into a verdict.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Config, SKIP};

/// The console's output by block name (`@@BEGIN name` ... `@@END name`).
pub(super) type Blocks = BTreeMap<String, String>;
/// A scenario's result: what it showed, or why it failed.
pub(super) type Verdict = Result<String, String>;

/// vm.swappiness values the swap scenario runs at.
const SWAPPINESS: [u32; 3] = [0, 60, 200];

/// The blocks the guest printed between its markers.
pub(super) fn blocks(console: &str) -> Blocks {
    let mut m = Blocks::new();
    let mut cur: Option<(String, String)> = None;
    for line in console.lines() {
        if let Some(name) = line.strip_prefix("@@BEGIN ") {
            cur = Some((name.trim().to_owned(), String::new()));
        } else if line.starts_with("@@END ") {
            if let Some((n, body)) = cur.take() {
                m.insert(n, body);
            }
        } else if let Some((_, body)) = cur.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    m
}

fn json(b: &Blocks, name: &str) -> Result<Value, String> {
    let text = b
        .get(name)
        .ok_or_else(|| format!("no `{name}` output (see the console log)"))?;
    let start = text
        .find('{')
        .ok_or_else(|| format!("`{name}`: no JSON: {}", text.lines().last().unwrap_or("")))?;
    serde_json::from_str(&text[start..]).map_err(|e| format!("`{name}`: {e}"))
}

fn vmstat(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect()
}

/// Hooks a kernel does not have, by the kernel's label: (kernel, hook as
/// vmscan names it, why). Such a hook must be reported unavailable with an
/// error that names what is missing; any other unavailable hook fails.
const KERNEL_GAPS: &[(&str, &str, &str)] = &[
    (
        "5.10",
        "vmscan:mm_vmscan_throttled",
        "5.10: no mm_vmscan_throttled (reclaim throttling tracepoint is 5.16+)",
    ),
    (
        "5.10",
        "vmscan:mm_vmscan_reclaim_pages",
        "5.10: no mm_vmscan_reclaim_pages (shrink_page_list stands in)",
    ),
    (
        "6.1",
        "vmscan:mm_vmscan_reclaim_pages",
        "6.1: no mm_vmscan_reclaim_pages (shrink_folio_list stands in)",
    ),
    (
        "6.12",
        "vmscan:mm_vmscan_reclaim_pages",
        "6.12: no mm_vmscan_reclaim_pages (shrink_folio_list stands in)",
    ),
    (
        "5.10",
        "migrate:mm_migrate_pages",
        "5.10: no demotion (MR_DEMOTION is 5.15+)",
    ),
    (
        "5.10",
        "isolate_migratepages_block",
        "5.10: compaction's isolations are walked in bpf_loop (5.17+)",
    ),
];

pub(super) fn hooks(b: &Blocks, c: &Config) -> Verdict {
    let fe = json(b, "probes-fentry")?;
    let kp = json(b, "probes-kprobe")?;
    // What BTF says about counting skipped runs: fentry's from 5.12 (every
    // lab kernel but Debian's 5.10), kprobes' from 6.7.
    let skips = &fe["skipped_runs"];
    let want = (c.kernel != "5.10", KPROBE_SKIPS_COUNTED.contains(&c.kernel));
    if (
        skips["prog_info"].as_bool(),
        skips["trace_call_bpf"].as_bool(),
    ) != (Some(want.0), Some(want.1))
    {
        return Err(format!(
            "probes: skipped runs counted {skips}, want prog_info {} and trace_call_bpf {} on {}",
            want.0, want.1, c.kernel
        ));
    }
    let mut notes = vec![];
    let mut gaps = vec![];
    for (name, j, want) in [("fentry", &fe, "fentry"), ("kprobe", &kp, "kprobe")] {
        let all = j["hooks"].as_array().ok_or("no hooks")?;
        for h in all {
            let n = h["name"].as_str().unwrap_or("?");
            let Some(m) = h["mechanism"].as_str() else {
                let gap = KERNEL_GAPS
                    .iter()
                    .find(|(k, hook, _)| *k == c.kernel && *hook == n);
                let err = h["error"].as_str().unwrap_or("");
                // MGLRU's eviction hooks stand in for tracepoints that only
                // MGLRU before 6.7 lacks: elsewhere they say why not.
                if err.starts_with("not needed on this kernel") {
                    if name == "fentry" {
                        notes.push(format!("{n} not needed here"));
                    }
                    continue;
                }
                match gap {
                    // The error must say the tracepoint or function is absent.
                    Some((_, _, why)) if err.contains("not found") => {
                        if name == "fentry" {
                            gaps.push(format!("{why}; vmscan says: {err}"));
                        }
                        continue;
                    }
                    _ => return Err(format!("{name} run: {n} not attached: {}", h["error"])),
                }
            };
            if !(n.contains(':') || m.starts_with(want)) {
                return Err(format!("{name} run: {n} attached by {m}, expected {want}"));
            }
        }
        let attached = all.iter().filter(|h| h["mechanism"].is_string()).count();
        notes.push(format!("{attached} of {} hooks by {want}", all.len()));
    }
    if !gaps.is_empty() {
        notes.push(format!("unavailable as expected: {}", gaps.join("; ")));
    }
    Ok(notes.join(", "))
}

/// Saves the tracepoint format files the guest printed (the `hooks`
/// scenario's `format-<event>` blocks) under target/lab/formats/<kernel>/:
/// the unit tests' fixtures are copied from there.
pub(super) fn save_formats(b: &Blocks, kernel: &str) {
    let dir = super::lab_dir().join("formats").join(kernel);
    for (name, text) in b
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("format-")?, v)))
    {
        if std::fs::create_dir_all(&dir).is_ok() {
            let _ = std::fs::write(dir.join(name), text);
        }
    }
}

/// /proc/vmstat's counters' growth between two printed copies of it. Gauges
/// that fell (nr_free_pages, ...) are left out: they are not counters.
fn vmstat_delta(b: &Blocks, before: &str, after: &str) -> Result<BTreeMap<String, u64>, String> {
    let v0 = vmstat(
        b.get(before)
            .ok_or_else(|| format!("no `{before}` output"))?,
    );
    let v1 = vmstat(b.get(after).ok_or_else(|| format!("no `{after}` output"))?);
    Ok(v1
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.checked_sub(v0.get(k).copied().unwrap_or(0))?)))
        .collect())
}

/// vmscan's counters (its JSON `vmstat` object) must equal the kernel's
/// growth over the same window, key by key; a counter vmscan leaves out must
/// be listed in its `underivable` object with the reason, which is returned
/// (the counters it could not derive and why; empty when all were there).
fn same_as_vmstat(
    j: &Value,
    delta: &BTreeMap<String, u64>,
    keys: &[&str],
    who: &str,
) -> Result<String, String> {
    let mut omitted = vec![];
    for k in keys {
        let kernel = delta.get(*k).copied().unwrap_or(0);
        let Some(ours) = j["vmstat"][*k].as_u64() else {
            match j["underivable"][*k].as_str() {
                Some(why) => {
                    omitted.push((*k, why.to_owned()));
                    continue;
                }
                None => {
                    return Err(format!(
                        "{who}: {k}: vmscan printed no figure and no reason (/proc/vmstat {kernel})"
                    ));
                }
            }
        };
        if ours != kernel {
            return Err(format!(
                "{who}: {k}: vmscan {ours} vs /proc/vmstat {kernel}"
            ));
        }
    }
    let Some((_, why)) = omitted.first() else {
        return Ok(String::new());
    };
    let names: Vec<&str> = omitted.iter().map(|(k, _)| *k).collect();
    Ok(format!("vmscan leaves out {} ({why})", names.join(", ")))
}

/// Kernels whose BTF cannot name a tracepoint's arguments (no
/// `__bpf_trace_<class>` functions in it: 5.10's pahole left static
/// functions out), where tracepoint hooks attach as classic tracepoints and
/// a forced raw_tp attaches nothing.
const NO_TRACEPOINT_ARGS: &[&str] = &["5.10"];
/// The lab kernels that count kprobes' skipped runs (trace_call_bpf, 6.7+).
const KPROBE_SKIPS_COUNTED: &[&str] = &["6.12", "7.2"];

pub(super) fn truth(b: &Blocks, c: &Config) -> Verdict {
    let fe = json(b, "truth-fentry")?;
    let kp = json(b, "truth-kprobe")?;
    let delta = vmstat_delta(b, "vmstat-before", "vmstat-after")?;
    let d = |k: &str| delta.get(k).copied().unwrap_or(0);
    if d("pgsteal_file") < 10_000 {
        return Err(format!(
            "the workload reclaimed only {} pages",
            d("pgsteal_file")
        ));
    }
    let keys = SCAN_STEAL;
    let raw = json(b, "truth-raw")?;
    let args = !NO_TRACEPOINT_ARGS.contains(&c.kernel);
    // Every tracepoint hook by the mechanism each run asked for: the default
    // is tp_btf where BTF names the arguments (every other lab kernel).
    let runs: &[(&Value, &str)] = if args {
        &[(&fe, "tp_btf"), (&kp, "tracepoint"), (&raw, "raw_tp")]
    } else {
        &[(&fe, "tracepoint"), (&kp, "tracepoint")]
    };
    for &(j, want) in runs {
        for h in j["hooks"].as_array().ok_or("no hooks")? {
            let n = h["name"].as_str().unwrap_or("?");
            let m = h["mechanism"].as_str();
            if n.contains(':') && m.is_some() && m != Some(want) {
                return Err(format!("{n} attached by {m:?} in the {want} run"));
            }
            // Each attached hook's skipped runs are reported exactly where
            // this kernel counts them for its mechanism.
            if let Some(m) = m {
                let trace_call_bpf = m.starts_with("kprobe") || m == "tracepoint";
                let counted = c.kernel != "5.10"
                    && (!trace_call_bpf || KPROBE_SKIPS_COUNTED.contains(&c.kernel));
                if h["missed"].is_u64() != counted {
                    return Err(format!(
                        "{n} ({m}) in the {want} run: skipped runs {}, want them {}",
                        h["missed"],
                        if counted {
                            "counted"
                        } else {
                            "absent (not counted here)"
                        }
                    ));
                }
            }
        }
    }
    let omitted = same_as_vmstat(&fe, &delta, &keys, "fentry + tp_btf")?;
    same_as_vmstat(&kp, &delta, &keys, "kprobe + classic tracepoints")?;
    if args {
        same_as_vmstat(&raw, &delta, &keys, "raw_tp")?;
    } else {
        let n = raw["hooks"].as_array().map_or(0, |a| {
            a.iter()
                .filter(|h| {
                    h["name"].as_str().is_some_and(|n| n.contains(':'))
                        && h["mechanism"].is_string()
                })
                .count()
        });
        if n != 0 {
            return Err(format!(
                "{n} tracepoint hooks attached by raw_tp, where BTF names no arguments"
            ));
        }
    }
    // Under MGLRU a node's scanning is the pages isolated from it (what
    // pgscan counts), not the shrink event's nr_scanned (sorted folios
    // included, repeated on retries): the nodes add up to pgscan.
    let mut node_scans = String::new();
    if c.mglru == Some(true) && fe["vmstat"]["pgscan_file"].is_u64() {
        let sum = |j: &Value| -> u64 {
            j["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| {
                    n["scanned_anon"].as_u64().unwrap_or(0)
                        + n["scanned_file"].as_u64().unwrap_or(0)
                })
                .sum()
        };
        let want = d("pgscan_anon") + d("pgscan_file");
        for (j, who) in [(&fe, "tp_btf"), (&kp, "classic")] {
            if sum(j) != want {
                return Err(format!(
                    "MGLRU, {who}: the nodes' scanned pages add up to {}, pgscan_anon + pgscan_file grew {want}",
                    sum(j)
                ));
            }
        }
        node_scans = format!("; MGLRU: nodes' scanned pages add up to pgscan ({want})");
    }
    // Before folios (5.10) the first two are mark_page_accessed and
    // lru_cache_add; the kprobe shadow keeps the hook's folio-era name.
    // Before 6.11 the batch functions end in _fn; before 6.0
    // shrink_folio_list is shrink_page_list.
    fn names(f: &str) -> [&str; 2] {
        match f {
            "folio_mark_accessed" => [f, "mark_page_accessed"],
            "folio_add_lru" => [f, "lru_cache_add"],
            "lru_lazyfree" => [f, "lru_lazyfree_fn"],
            "lru_deactivate" => [f, "lru_deactivate_fn"],
            "lru_deactivate_file" => [f, "lru_deactivate_file_fn"],
            "shrink_folio_list" => [f, "shrink_page_list"],
            _ => [f, f],
        }
    }
    // A hook's figure in a stat run, by either of its names.
    let field = |j: &Value, hook: &str, f: &str| {
        j["hooks"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|h| names(hook).iter().any(|n| h["name"] == *n))
            })
            .and_then(|h| h[f].as_u64())
    };
    let calls = |j: &Value, hook: &str| field(j, hook, "events").unwrap_or(0);
    // One process ran fentry and kprobes on the same functions over the
    // same window (--compare-kprobes). They must agree, except that a
    // kprobe program is skipped when another BPF program is already running
    // on that CPU (bpf_prog_active: trace_call_bpf), which fentry programs
    // are not: kprobes may miss, rarely (seen: 2-3 in 68,000). And the two
    // per-CPU counters are read one after the other while the guest keeps
    // adding folios, so kprobes have also been seen 1 ahead (65071 vs 65070).
    // With MGLRU on 6.1 more programs run in reclaim, and kprobes missed 11
    // of 63,851 folio_add_lru calls (0.017%), and on 7.2 12 of 13,244
    // folio_mark_accessed calls (0.09%): the bound is 0.05% or 16 calls,
    // whichever is more, kprobes behind; 2 ahead. On 7.2 kprobes were once
    // 11 ahead (12,641 vs 12,630): the other two instances were stopped at
    // the same moment, and their exits marked their mapped pages accessed
    // between the two reads; init.sh now stops this instance alone first.
    // Where the kernel counts skipped runs (fentry's 5.12+, kprobes' 6.7+:
    // every lab kernel but 5.10, and 6.12 and 7.2), stat reports them, and
    // every call either ran or was skipped: runs plus skips agree within the
    // read skew, whatever else ran.
    let shadow = |k: &str| fe["kprobe_shadow"][k].as_u64().unwrap_or(0);
    let shadow_missed = |k: &str| fe["kprobe_shadow_missed"][k].as_u64();
    let missed = |hook: &str| field(&fe, hook, "missed");
    // Every function hook has a comparison kprobe: the three that every
    // window exercises must be there; the others are compared where either
    // mechanism saw a call (the batches outside reclaim have none here).
    const ALWAYS: [&str; 3] = ["folio_mark_accessed", "folio_add_lru", "shrink_node"];
    let others: Vec<&str> = fe["kprobe_shadow"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .map(String::as_str)
        .filter(|k| !ALWAYS.contains(k))
        .collect();
    let mut same = vec![];
    let mut idle = vec![];
    for f in ALWAYS.into_iter().chain(others) {
        let (a, k) = (calls(&fe, f), shadow(f));
        if !ALWAYS.contains(&f) && a == 0 && k == 0 {
            idle.push(f);
            continue;
        }
        let (am, km) = (missed(f), shadow_missed(f));
        if am.is_some() != (c.kernel != "5.10")
            || km.is_some() != KPROBE_SKIPS_COUNTED.contains(&c.kernel)
        {
            return Err(format!(
                "{f}: skipped runs reported fentry {am:?}, kprobe {km:?}: they must be reported exactly where the kernel counts them (fentry 5.12+, kprobes 6.7+)"
            ));
        }
        if let (Some(am), Some(km)) = (am, km) {
            if (a + am).abs_diff(k + km) > 2 {
                return Err(format!(
                    "{f}: fentry ran {a} and skipped {am}, kprobe ran {k} and skipped {km} over the same window: runs plus skips must agree within 2"
                ));
            }
            same.push(if am + km == 0 && a == k {
                format!("{f} {a}")
            } else {
                format!("{f} {a}+{am} skipped (kprobe {k}+{km} skipped)")
            });
            continue;
        }
        if !kprobe_agrees(a, k) {
            return Err(format!(
                "{f}: fentry {a} vs kprobe {k} over the same window (kprobes may miss at most 0.05% or 16 calls, and be at most 2 ahead)"
            ));
        }
        same.push(if a == k {
            format!("{f} {a}")
        } else {
            format!("{f} {a} (kprobe {k})")
        });
    }
    let mechanisms = if args {
        "fentry+tp_btf, kprobes+tracepoints and raw_tp"
    } else {
        "fentry+tracepoints and kprobes+tracepoints (no raw_tp/tp_btf: BTF names no tracepoint arguments)"
    };
    let counted = if omitted.is_empty() {
        format!(
            "pgscan/pgsteal = /proc/vmstat (pgsteal_file {}) under {mechanisms}",
            d("pgsteal_file")
        )
    } else {
        format!(
            "/proc/vmstat pgsteal_file {}: {omitted} under {mechanisms}",
            d("pgsteal_file")
        )
    };
    let memcg = memcg_truth(b, &fe, omitted.is_empty())?;
    let idle = if idle.is_empty() {
        String::new()
    } else {
        format!(" (no calls here: {})", idle.join(", "))
    };
    Ok(format!(
        "{counted}{node_scans}; {memcg}; fentry vs kprobe: {}{idle}",
        same.join(", ")
    ))
}

/// The truth workload runs in /t alone, so its memcg limit reclaim is all
/// the memcg reclaim there is: vmscan's memcg_scanned / memcg_reclaimed must
/// equal /t's memory.stat pgscan / pgsteal (cgroup v2; v1's memory.stat has
/// neither), within what the kernel may not have flushed.
fn memcg_truth(b: &Blocks, j: &Value, derivable: bool) -> Result<String, String> {
    let Some(m) = vmstat_delta(b, "memstat-before", "memstat-after")
        .ok()
        .filter(|m| m.contains_key("pgscan"))
    else {
        return Ok("memory.stat has no pgscan (cgroup v1)".into());
    };
    if !derivable {
        // Not a zero that looks like truth: no figure at all.
        if !j["memcg_scanned"].is_null() || !j["memcg_reclaimed"].is_null() {
            return Err(format!(
                "memcg scans are not derivable here, yet vmscan printed memcg_scanned {} / memcg_reclaimed {}",
                j["memcg_scanned"], j["memcg_reclaimed"]
            ));
        }
        return Ok("memcg scans not derivable here either (vmscan prints none)".into());
    }
    let (scan, steal) = (
        m.get("pgscan").copied().unwrap_or(0),
        m.get("pgsteal").copied().unwrap_or(0),
    );
    let (ours_scan, ours_steal) = (
        j["memcg_scanned"].as_u64().unwrap_or(0),
        j["memcg_reclaimed"].as_u64().unwrap_or(0),
    );
    if ours_scan.abs_diff(scan) > MEMCG_STAT_SLACK || ours_steal.abs_diff(steal) > MEMCG_STAT_SLACK
    {
        return Err(format!(
            "/t: vmscan memcg_scanned {ours_scan} / memcg_reclaimed {ours_steal}, its memory.stat pgscan {scan} / pgsteal {steal}"
        ));
    }
    Ok(format!(
        "/t memory.stat pgscan {scan} / pgsteal {steal} = vmscan's memcg reclaim {ours_scan} / {ours_steal}"
    ))
}

fn node(snap: &Value, n: u64) -> Option<&Value> {
    snap["nodes"].as_array()?.iter().find(|x| x["node"] == n)
}

pub(super) fn numa(b: &Blocks) -> Verdict {
    let s = json(b, "numa")?;
    let (n0, n1) = (
        node(&s, 0).ok_or("no node 0")?,
        node(&s, 1).ok_or("no node 1")?,
    );
    let eps = |n: &Value| {
        n["kswapd"]["episodes"].as_u64().unwrap_or(0) + (n["kswapd"]["state"] == "awake") as u64
    };
    let rec = |i: u64| {
        s["totals"]["nodes"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["node"] == i))
            .map_or(0, |x| {
                x["reclaimed"]["kswapd"].as_u64().unwrap_or(0)
                    + x["reclaimed"]["direct"].as_u64().unwrap_or(0)
            })
    };
    if eps(n0) == 0 {
        return Err(format!("kswapd0 never woke: {}", n0["kswapd"]));
    }
    if eps(n1) != 0 || rec(1) != 0 {
        return Err(format!(
            "node 1 reclaimed too: kswapd1 {} episodes, {} pages",
            eps(n1),
            rec(1)
        ));
    }
    let found = s["recent_findings"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x["kind"] == "numa_imbalance"));
    if !found {
        return Err("no numa_imbalance finding".into());
    }
    // Where vmscan cannot see reclaimed pages (MGLRU before 6.7) it says so
    // instead of a zero.
    let reclaimed = match s["totals"]["underivable"]["pgsteal_kswapd"].as_str() {
        Some(why) => format!("node 0 reclaimed pages not derivable ({why})"),
        None => format!("node 0 reclaimed {} pages, node 1 none", rec(0)),
    };
    let inserted = node_insertions(&json(b, "numa-stat")?)?;
    // The reader's allocations woke kswapd0 in task context; the context
    // of every request is known on these kernels.
    let w = &n0["kswapd"]["wakeup_contexts"];
    let ctx = |k: &str| w[k].as_u64().unwrap_or(0);
    let requested = n0["kswapd"]["wakeups_requested"].as_u64().unwrap_or(0);
    let known = ctx("task") + ctx("softirq") + ctx("hardirq") + ctx("nmi");
    if ctx("unknown") != 0 || known != requested {
        return Err(format!(
            "kswapd0: {requested} wake-up requests, contexts {w}: every one's must be known"
        ));
    }
    Ok(format!(
        "kswapd0 {} episodes, {reclaimed}; imbalance raised; {inserted}; {requested} wake-up requests ({} task, {} softirq, {} hardirq)",
        eps(n0),
        ctx("task"),
        ctx("softirq"),
        ctx("hardirq")
    ))
}

/// The 640 MiB file read from disk onto node 0 (by memory policy) while
/// `vmscan stat` ran: stat puts each page's LRU insertion on the folio's
/// node (tp_btf works the node out from the folio's address, the classic
/// tracepoint from its pfn): at least the file's 163,840 pages on node 0's
/// file lists, and node 1 nearly none.
fn node_insertions(stat: &Value) -> Result<String, String> {
    const FILE_PAGES: u64 = 640 * 256;
    let file = |n: u64| {
        stat["nodes"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["node"] == n))
            .map(|x| {
                x["inserted"]["inactive_file"].as_u64().unwrap_or(0)
                    + x["inserted"]["active_file"].as_u64().unwrap_or(0)
            })
            .ok_or_else(|| format!("stat has no node {n}"))
    };
    let (n0, n1) = (file(0)?, file(1)?);
    if n0 < FILE_PAGES || n1 * 20 > n0 {
        return Err(format!(
            "stat's file insertions: node 0 {n0} (the read inserts at least {FILE_PAGES}), node 1 {n1} (should be under 5% of node 0's)"
        ));
    }
    Ok(format!(
        "stat: file pages inserted on node 0 {n0}, node 1 {n1}"
    ))
}

/// vmscan sees the LRU the configuration switched to: MGLRU with
/// generations, or the classic lists with none.
pub(super) fn mglru(b: &Blocks, c: &Config) -> Verdict {
    let p = json(b, "probes-fentry").or_else(|_| json(b, "numa"))?;
    let on = p["system"]["mglru"]
        .as_bool()
        .or_else(|| p["mglru"].as_bool());
    let s = json(b, "numa")?;
    let gens = s["lruvecs"].as_array().map_or(0, |a| {
        a.iter().filter(|l| l["generations"].is_array()).count()
    });
    match (c.mglru, on) {
        (Some(true), Some(true)) if gens > 0 => Ok(format!(
            "MGLRU on; generations for {gens} lruvecs; {}; {}",
            mglru_node_figures(&s)?,
            entry_access_labels(&s, true)?
        )),
        (Some(false), Some(false)) if gens == 0 => Ok(format!(
            "MGLRU switched off: classic lists, no generations; {}",
            entry_access_labels(&s, false)?
        )),
        (None, None | Some(false)) if gens == 0 => Ok(format!(
            "{SKIP}{}: MGLRU not compiled in; classic lists, no generations",
            c.kernel
        )),
        _ => Err(format!(
            "{}: MGLRU wanted {:?}, vmscan saw {on:?} and {gens} lruvecs with generations",
            c.label, c.mglru
        )),
    }
}

/// The snapshot's folio_mark_accessed outcomes come from the entry flags
/// (no return program outside `vmscan access`). Under MGLRU those settle
/// only referenced, unevictable or repeat (the workload's second read of
/// its file must show repeats); the classic LRU's labels never include the
/// MGLRU ones.
fn entry_access_labels(s: &Value, mglru: bool) -> Verdict {
    let mut by = std::collections::BTreeMap::<String, u64>::new();
    for r in s["access"].as_array().into_iter().flatten() {
        let o = r["outcome"].as_str().unwrap_or("?").to_owned();
        *by.entry(o).or_default() += r["calls"].as_u64().unwrap_or(0);
    }
    let allowed: &[&str] = if mglru {
        &["referenced", "unevictable", "repeat"]
    } else {
        &[
            "referenced",
            "activated",
            "activate_off_lru",
            "no_effect",
            "unevictable",
        ]
    };
    if let Some(bad) = by.keys().find(|o| !allowed.contains(&o.as_str())) {
        return Err(format!(
            "folio_mark_accessed labelled {bad} from entry flags ({by:?}); allowed here: {allowed:?}"
        ));
    }
    if mglru && by.get("repeat").copied().unwrap_or(0) == 0 {
        return Err(format!(
            "MGLRU: the file read twice shows no repeat marks ({by:?})"
        ));
    }
    Ok(format!("entry-flag marks {by:?}"))
}

/// Under MGLRU a snapshot's nodes show no figure the kernel gives no way to
/// derive, as a zero or otherwise: none of shrink_active_list's (MGLRU never
/// runs it), and before 6.7 (no MGLRU reclaim tracepoints: pgscan_* are
/// underivable) none of the shrink passes'; each left-out group names why.
fn mglru_node_figures(s: &Value) -> Verdict {
    let passes_seen = s["totals"]["underivable"].get("pgscan_file").is_none();
    let nodes = s["nodes"].as_array().ok_or("the snapshot has no nodes")?;
    for n in nodes {
        let r = &n["rates"];
        let why: Vec<&str> = r["not_derived"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g["reason"].as_str())
            .collect();
        let shown = |f: &str| !r[f].is_null();
        if shown("deactivated") || !why.iter().any(|w| w.contains("shrink_active_list")) {
            return Err(format!(
                "MGLRU: node {} shows reclaim's deactivations or does not say why not: {r}",
                n["node"]
            ));
        }
        let passes_shown = shown("scanned") && shown("reclaimed") && !n["priority"].is_null();
        let passes_hidden = !shown("scanned")
            && !shown("reclaimed")
            && !shown("activated_by_reclaim")
            && n["priority"].is_null()
            && why.iter().any(|w| w.contains("MGLRU before 6.7"));
        if passes_seen != passes_shown || passes_seen == passes_hidden {
            return Err(format!(
                "MGLRU with{} reclaim tracepoints: node {} should {} its scan/reclaim rates: {n}",
                if passes_seen { "" } else { "out" },
                n["node"],
                if passes_seen {
                    "show"
                } else {
                    "leave out, with the reason,"
                }
            ));
        }
    }
    Ok(if passes_seen {
        format!(
            "{} nodes show scan/reclaim rates, no deactivations",
            nodes.len()
        )
    } else {
        format!(
            "{} nodes leave scan/reclaim rates and deactivations out, with the reason (no MGLRU reclaim tracepoints)",
            nodes.len()
        )
    })
}

pub(super) fn model(b: &Blocks) -> Verdict {
    let s = json(b, "model")?;
    let mi = b.get("meminfo").ok_or("no meminfo")?;
    let mut worst = 0.0f64;
    let mut residuals = vec![];
    for n in s["nodes"].as_array().ok_or("no nodes")? {
        let id = n["node"].as_u64().unwrap_or(0);
        let get = |k: &str| -> u64 {
            mi.lines()
                .find_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    (f.len() >= 4 && f[1] == id.to_string() && f[2] == k)
                        .then(|| f[3].parse::<u64>().ok())
                        .flatten()
                })
                .unwrap_or(0)
                / 4
        };
        let kernel = [
            get("Inactive(anon):"),
            get("Active(anon):"),
            get("Inactive(file):"),
            get("Active(file):"),
            get("Unevictable:"),
        ];
        let total: u64 = kernel.iter().sum::<u64>().max(1);
        // 2% of the node's LRU pages, with a floor of 512 pages (2 MiB): a
        // node that holds almost nothing (node 1 here, ~3500 LRU pages)
        // moves by up to ~250 pages between the read and vmscan's sample 0.3 s
        // later (per-CPU LRU batches draining, vmscan's own allocations on
        // the CPU of that node; seen in CI runs).
        let tol = (total / 50).max(512);
        // Under MGLRU: one drift per type (aging moves pages between the
        // lists unseen), each with its noise floor.
        for t in n["type_drift"].as_array().into_iter().flatten() {
            let noise = t["drift_noise"]
                .as_u64()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("node {id} {}: no drift noise floor", t["name"]))?;
            let d = t["drift"]
                .as_i64()
                .ok_or_else(|| format!("node {id} {}: no drift by type", t["name"]))?;
            let name = t["name"].as_str().unwrap_or("?");
            residuals.push(if d.unsigned_abs() <= noise {
                format!("{name} ~0 (±{noise})")
            } else {
                format!("{name} {d:+} (±{noise})")
            });
        }
        for (i, l) in n["lists"].as_array().ok_or("no lists")?.iter().enumerate() {
            // Drift is shown against the kernel's per-CPU counter noise,
            // from zoneinfo's thresholds: 2 x CPUs x threshold, never 0.
            let noise = l["drift_noise"]
                .as_u64()
                .filter(|&n| n > 0)
                .ok_or_else(|| {
                    format!(
                        "node {id} {}: no drift noise floor ({})",
                        l["name"], l["drift_noise"]
                    )
                })?;
            if let Some(d) = l["drift"].as_i64() {
                residuals.push(if d.unsigned_abs() <= noise {
                    format!("~0 (±{noise})")
                } else {
                    format!("{d:+} (±{noise})")
                });
            } else if n["type_drift"].as_array().is_none_or(|t| t.is_empty()) {
                return Err(format!(
                    "node {id} {}: no drift, and no drift by type",
                    l["name"]
                ));
            }
            let ours = l["pages"].as_u64().unwrap_or(0);
            let diff = ours.abs_diff(kernel[i]);
            worst = worst.max(diff as f64 / total as f64);
            if diff > tol {
                return Err(format!(
                    "node {id} {}: vmscan {ours} vs meminfo {} (tolerance {tol} pages)",
                    l["name"], kernel[i]
                ));
            }
        }
    }
    let batch = batch_residency(&s)?;
    Ok(format!(
        "lists within {:.2}% of node meminfo; drift residuals {}{batch}",
        worst * 100.0,
        residuals.join(" ")
    ))
}

/// Where folio_add_lru is hooked, nearly every folio inserted into an LRU in
/// the window has its batch residency measured: its add was seen on the
/// CPU that drained it. Those added before vmscan attached (or moved to
/// another CPU's batch) have none, a few per window. Fails if the per-CPU
/// ring loses its place (too few) or counts a folio twice (too many).
fn batch_residency(s: &Value) -> Result<String, String> {
    let h = &s["histograms"]["batch_residency"];
    if h["available"] != Value::Bool(true) {
        return Ok(String::new());
    }
    let measured = h["window"]["count"]
        .as_u64()
        .ok_or("batch_residency: no window count")?;
    let inserted: u64 = s["totals"]["nodes"]
        .as_array()
        .ok_or("no totals.nodes")?
        .iter()
        .filter_map(|n| n["inserted_folios"].as_u64())
        .sum();
    // The maps are read one after another: an insertion between the two
    // reads lands in one window's histogram and the next one's count.
    if measured > inserted + inserted / 100 + 16 || measured * 10 < inserted * 9 {
        return Err(format!(
            "batch residency measured for {measured} folios, but {inserted} were inserted (want 90-101%)"
        ));
    }
    Ok(format!(
        "; batch residency for {measured} of {inserted} folios inserted"
    ))
}

/// Anonymous reclaim with swap at vm.swappiness 0, 60 and 200: vmscan's
/// anon and file scan/steal counters equal /proc/vmstat's in each run, anon
/// reclaimed equals pswpout, swappiness 200 swaps, and it scans a larger
/// anon share than swappiness 0.
pub(super) fn swap(b: &Blocks) -> Verdict {
    let mut parts = vec![];
    let mut anon_share = vec![];
    for sw in SWAPPINESS {
        let j = json(b, &format!("swap-{sw}"))?;
        let delta = vmstat_delta(b, &format!("swap-{sw}-before"), &format!("swap-{sw}-after"))?;
        let d = |k: &str| delta.get(k).copied().unwrap_or(0);
        let omitted = same_as_vmstat(
            &j,
            &delta,
            &["pgscan_anon", "pgsteal_anon", "pgscan_file", "pgsteal_file"],
            &format!("swappiness {sw}"),
        )?;
        if !omitted.is_empty() && !parts.iter().any(|p: &String| p == &omitted) {
            parts.push(omitted.clone());
        }
        // Every anon page reclaimed here is shmem written to zram.
        if d("pgsteal_anon") != d("pswpout") {
            return Err(format!(
                "swappiness {sw}: pgsteal_anon {} but pswpout {}",
                d("pgsteal_anon"),
                d("pswpout")
            ));
        }
        let scanned = d("pgscan_anon") + d("pgscan_file");
        if scanned == 0 {
            return Err(format!("swappiness {sw}: the workload caused no reclaim"));
        }
        anon_share.push(d("pgscan_anon") as f64 / scanned as f64);
        parts.push(format!(
            "{sw}: anon {}/{} file {}/{} scanned/stolen, pswpout {}",
            d("pgscan_anon"),
            d("pgsteal_anon"),
            d("pgscan_file"),
            d("pgsteal_file"),
            d("pswpout")
        ));
        if sw == 200 && (d("pswpout") == 0 || d("pgsteal_anon") == 0) {
            return Err(format!(
                "swappiness 200 swapped nothing: {}",
                parts.join("; ")
            ));
        }
    }
    if anon_share[2] <= anon_share[0] {
        return Err(format!(
            "swappiness 200 scanned no larger anon share than 0: {}",
            parts.join("; ")
        ));
    }
    Ok(format!(
        "vmscan = /proc/vmstat and anon reclaimed = pswpout at swappiness {}",
        parts.join("; ")
    ))
}

pub(super) fn exit(b: &Blocks) -> Verdict {
    // `vmscan access --exiting-only --comm vmscan` around 10 runs of a
    // process that maps a 32 MiB file (8192 pages), touches it and exits.
    // The process's own binary is mapped too and marked at exit as well, so
    // the file's share is what disappears under MADV_SEQUENTIAL. Counted in
    // pages: 7.2 caches the file in large folios (320 calls for 81,920
    // pages) and marks each folio once.
    const EXPECTED: u64 = 10 * 8192;
    // (pages, pages on the exit stack, activated (on or off the LRU), raised a
    // tier under MGLRU, lru)
    let summary = |name: &str| -> Result<(u64, u64, u64, u64, u64, String), String> {
        let j = json(b, name)?;
        let stacks = j["stacks"].as_array().cloned().unwrap_or_default();
        let pages = |s: &Value| s["pages"].as_u64().unwrap_or(0);
        let total: u64 = stacks.iter().map(pages).sum();
        // The unmap walk: unmap_page_range/zap_pte_range up to 6.x,
        // __zap_vma_range on 7.2 (the rest inlined into it).
        let on_exit: u64 = stacks
            .iter()
            .filter(|s| {
                let f = s["frames"].to_string();
                (f.contains("unmap_page_range")
                    || f.contains("zap_pte_range")
                    || f.contains("__zap_vma_range"))
                    && f.contains("exit_mmap")
            })
            .map(pages)
            .sum();
        let outcome = |o: &str| -> u64 {
            stacks
                .iter()
                .map(|s| s["outcomes"][o].as_u64().unwrap_or(0))
                .sum()
        };
        let tiers = outcome("workingset") + outcome("tier_up");
        // An activating mark that finds the folio off the LRU (in a per-CPU
        // batch: activate_off_lru) is an activation too, just not one that
        // becomes pgactivate.
        let unchanged = outcome("no_effect");
        Ok((
            total,
            on_exit,
            outcome("activated") + outcome("activate_off_lru"),
            tiers,
            unchanged,
            j["lru"].as_str().unwrap_or("?").to_owned(),
        ))
    };
    // The teardown tag (exit_mmap hooked) against the kernel stack, per
    // stack: every call of a stack through exit_mmap is tagged, none other.
    let tags_agree = |name: &str| -> Result<u64, String> {
        let j = json(b, name)?;
        if j["teardown_hooked"] != true {
            return Err(format!("{name}: exit_mmap not hooked"));
        }
        let mut tagged = 0;
        for s in j["stacks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["stack_id"].as_i64().unwrap_or(-1) >= 0)
        {
            let (calls, teardown) = (s["calls"].as_u64().unwrap_or(0), s["teardown"].as_u64());
            let through = s["frames"].to_string().contains("exit_mmap");
            if teardown != Some(if through { calls } else { 0 }) {
                return Err(format!(
                    "{name}: a stack {} exit_mmap with {calls} calls has {teardown:?} tagged teardown: {}",
                    if through { "through" } else { "outside" },
                    s["frames"]
                ));
            }
            tagged += teardown.unwrap_or(0);
        }
        Ok(tagged)
    };
    let mut parts = vec![];
    let mut plain = 0;
    for mech in ["fentry", "kprobe"] {
        let (total, on_exit, act, tiers, unchanged, lru) = summary(&format!("exit-{mech}"))?;
        if total < EXPECTED {
            return Err(format!(
                "{mech}: exit-time marks cover only {total} pages for 10 x 8192 touched pages"
            ));
        }
        if on_exit * 10 < total * 9 {
            return Err(format!(
                "{mech}: {on_exit} of {total} exit-time marked pages on the unmap walk + exit_mmap (< 90%)"
            ));
        }
        // Ten runs over the same pages: the later runs find them referenced.
        // The classic LRU activates them; MGLRU raises their tier and never
        // activates in folio_mark_accessed. Its outcome is what the call
        // changed (flags at entry against return): the tier saturates within
        // ten marks (PG_referenced, PG_workingset and an LRU_REFS counter of
        // at most 3 bits), so later marks change nothing.
        let effect = match lru.as_str() {
            "mglru" if act == 0 && tiers > 0 && unchanged > 0 => {
                format!(
                    "MGLRU: {tiers} raised a tier, {unchanged} found it saturated, none activated"
                )
            }
            "classic" if tiers == 0 && act > 0 => format!("{act} activated"),
            _ => {
                return Err(format!(
                    "{mech}: {lru} LRU but {act} activated, {tiers} raised a tier, {unchanged} changed nothing"
                ));
            }
        };
        plain = plain.max(total);
        let tagged = tags_agree(&format!("exit-{mech}"))?;
        parts.push(format!(
            "{mech}: {total} pages marked, {:.1}% on the unmap walk<-...<-exit_mmap, {effect}, teardown tag = stack on all {tagged} calls",
            on_exit as f64 * 100.0 / total as f64
        ));
    }
    // execve drops the old address space in a live task: the calls under
    // execve are inside exit_mmap (--teardown-only keeps only those) and
    // none is by an exiting task, so PF_EXITING would miss them all. (The
    // new image's own exit is teardown by an exiting task. Up to 6.x the
    // old mm goes before the task takes the new name; 7.2 renames it first,
    // so the shell's old mm counts under "vmscan" there too.)
    let tagged = tags_agree("exit-exec")?;
    let j = json(b, "exit-exec")?;
    let execve: Vec<&Value> = j["stacks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["frames"].to_string().contains("execve"))
        .collect();
    let sum = |k: &str| -> u64 { execve.iter().map(|s| s[k].as_u64().unwrap_or(0)).sum() };
    if sum("pages") < EXPECTED || sum("exiting") != 0 || sum("live") != sum("calls") {
        return Err(format!(
            "exec: {} pages marked inside exit_mmap under execve for {EXPECTED} touched, {} calls by exiting tasks, {} by live ones",
            sum("pages"),
            sum("exiting"),
            sum("live")
        ));
    }
    parts.push(format!(
        "exec: {} pages marked in the old mm's teardown under execve ({} calls, all by a live task: PF_EXITING would miss them; {tagged} tagged calls in all)",
        sum("pages"),
        sum("calls")
    ));
    let (seq, ..) = summary("exit-sequential")?;
    // The processes' own binary text is marked at exit whatever the file's
    // advice: none at all means the run was not observed.
    if seq < 1_000 {
        return Err(format!(
            "only {seq} exit-time marks in the MADV_SEQUENTIAL run: it was not observed"
        ));
    }
    let gone = plain.saturating_sub(seq);
    if gone * 10 < EXPECTED * 9 || gone * 10 > EXPECTED * 11 {
        return Err(format!(
            "MADV_SEQUENTIAL should remove the file's {EXPECTED} exit-time marks: {seq} with it vs {plain} without ({gone} gone)"
        ));
    }
    parts.push(format!("with MADV_SEQUENTIAL {seq} ({gone} of the file's {EXPECTED} gone; the rest is the binary's own text)"));
    Ok(parts.join("; "))
}

/// The growth of `key` in a cgroup's memory.stat (a "key value" list like
/// /proc/vmstat's) over block `name`'s window (`<name>-memcg-before/after`);
/// None where it keeps no such counter.
fn memory_stat_growth(b: &Blocks, name: &str, key: &str) -> Option<u64> {
    vmstat_delta(
        b,
        &format!("{name}-memcg-before"),
        &format!("{name}-memcg-after"),
    )
    .ok()
    .and_then(|d| d.get(key).copied())
}

/// memory.stat may lag by what is not flushed yet: up to MEMCG_CHARGE_BATCH
/// (64) updates per CPU before a flush is due (mm/memcontrol.c); the lab's
/// guests have at most 4 CPUs.
const MEMCG_STAT_SLACK: u64 = 64 * 4;

/// vmscan's refault totals (file, anon, restored, activated where the
/// LRU derives it) must equal /proc/vmstat's growth over the window.
fn refault_totals(j: &Value, d: &BTreeMap<String, u64>, who: &str) -> Result<(), String> {
    let v = |k: &str| d.get(k).copied().unwrap_or(0);
    let mut pairs = vec![
        (
            "file_pages",
            v("workingset_refault_file"),
            "workingset_refault_file",
        ),
        (
            "anon_pages",
            v("workingset_refault_anon"),
            "workingset_refault_anon",
        ),
        (
            "restored_pages",
            v("workingset_restore_file") + v("workingset_restore_anon"),
            "workingset_restore_*",
        ),
    ];
    if j["lru"] != "mglru" {
        pairs.push((
            "activated_pages",
            v("workingset_activate_file") + v("workingset_activate_anon"),
            "workingset_activate_*",
        ));
    } else if !j["activated_pages"].is_null() {
        return Err(format!(
            "{who}: MGLRU, yet activated_pages is {} (it is not derivable there)",
            j["activated_pages"]
        ));
    }
    for (ours, want, kernel) in pairs {
        if j[ours].as_u64() != Some(want) {
            return Err(format!(
                "{who}: vmscan {ours} {:?}, /proc/vmstat {kernel} grew {want}",
                j[ours].as_u64()
            ));
        }
    }
    Ok(())
}

/// vmscan's figure `ours` for a cgroup (`who` says whose, for the error)
/// against the growth of `key` in its memory.stat over block `name`'s
/// window (`<name>-memcg-before/after`), within what the kernel may not
/// have flushed; a note when memory.stat has no such counter.
fn same_as_memory_stat(
    b: &Blocks,
    name: &str,
    key: &str,
    ours: u64,
    who: &str,
) -> Result<String, String> {
    match memory_stat_growth(b, name, key) {
        None => Ok(format!("memory.stat has no {key} (cgroup v1)")),
        Some(k) if k == ours => Ok(format!("= its memory.stat {key} growth")),
        Some(k) if k.abs_diff(ours) <= MEMCG_STAT_SLACK => Ok(format!(
            "its memory.stat {key} grew {k}, within the unflushed per-CPU batches"
        )),
        Some(k) => Err(format!(
            "{who} {ours} pages, its memory.stat {key} grew {k}"
        )),
    }
}

/// Whether a kprobe's count `k` agrees with fentry's `a` over the same
/// window (see truth()): kprobes miss rarely and may be read a little
/// later.
fn kprobe_agrees(a: u64, k: u64) -> bool {
    a > 0 && k <= a + 2 && a.saturating_sub(k) <= (a / 2_000).max(16)
}

/// `vmscan stat` beside phase 1: its running self-check covers the
/// workingset counters (node counters: exact within the per-CPU slack) and
/// finds them all exact.
fn refault_self_check(b: &Blocks) -> Verdict {
    let j = json(b, "refault-stat")?;
    let sc = &j["self_check"];
    let counters = sc["counters"].as_array().cloned().unwrap_or_default();
    let ws: Vec<&Value> = counters
        .iter()
        .filter(|c| {
            c["counter"]
                .as_str()
                .is_some_and(|n| n.starts_with("workingset_"))
        })
        .collect();
    let file = ws
        .iter()
        .find(|c| c["counter"] == "workingset_refault_file")
        .ok_or_else(|| format!("stat's self-check has no workingset_refault_file: {}", sc))?;
    // Enough refaults for exactness to mean something, by the kernel's own
    // count: 5.10's shadow shrinker can drop most shadow entries between
    // passes (its re-reads then count as first faults; one run saw 2,304
    // refaults where others saw 32,000).
    let kernel = file["kernel_min"].as_u64().unwrap_or(0);
    if kernel < THRASH_REREADS / 32 {
        return Err(format!(
            "the kernel counted only {kernel} file refaults during stat (vmscan {})",
            file["vmscan"]
        ));
    }
    if let Some(bad) = ws.iter().find(|c| c["divergence_pages"] != 0) {
        return Err(format!("stat's self-check: {bad}"));
    }
    let slack: Vec<String> = ws
        .iter()
        .filter(|c| c["within_slack"] == true)
        .map(|c| c["counter"].as_str().unwrap_or("?").to_owned())
        .collect();
    Ok(format!(
        "stat's self-check: {} workingset counters exact (refault_file {}){}",
        ws.len(),
        file["vmscan"],
        if slack.is_empty() {
            String::new()
        } else {
            format!(", {} within the per-CPU slack", slack.join(", "))
        }
    ))
}

/// Anon refaults: shmem swapped to zram and read back, in the cgroup.
fn refault_anon(b: &Blocks) -> Verdict {
    let j = json(b, "refault-anon")?;
    let d = vmstat_delta(b, "refault-anon-before", "refault-anon-after")?;
    refault_totals(&j, &d, "anon phase")?;
    let anon = j["anon_pages"].as_u64().unwrap_or(0);
    if anon == 0 {
        return Err(format!(
            "40 MiB of shmem read back twice in a 32 MiB cgroup refaulted no anon pages (pswpin grew {})",
            d.get("pswpin").copied().unwrap_or(0)
        ));
    }
    let r = j["memcgs"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["path"] == "/r").cloned());
    let r_anon = r
        .as_ref()
        .and_then(|m| m["anon_pages"].as_u64())
        .unwrap_or(0);
    let memcg = same_as_memory_stat(
        b,
        "refault-anon",
        "workingset_refault_anon",
        r_anon,
        "refault-anon: vmscan /r",
    )?;
    Ok(format!(
        "anon: {anon} anon + {} file pages refaulted = /proc/vmstat; /r {r_anon} ({memcg})",
        j["file_pages"].as_u64().unwrap_or(0)
    ))
}

/// Pages the thrash phases read again after the first pass: three more
/// passes over the 48 MiB file.
const THRASH_REREADS: u64 = 3 * 48 * 256;

/// Pages the thrash phase's re-reads (passes 2-4) read from the disk:
/// pgpgin (KiB) over the four passes, less the first pass, which follows
/// drop_caches and reads the whole file. None where /proc/vmstat has no
/// pgpgin or it grew less than one pass (the file was not read from disk).
fn rereads_missed(d: &BTreeMap<String, u64>) -> Option<u64> {
    let pages = d.get("pgpgin")? / 4;
    pages.checked_sub(THRASH_REREADS / 3)
}

/// Thrashing: vmscan's refaults against /proc/vmstat's workingset_* and the
/// cgroup's memory.stat, then the what-if curve's prediction against a rerun
/// with the limit raised by what it said avoids 90% of the refaults.
pub(super) fn refault(b: &Blocks, c: &Config) -> Verdict {
    let mut parts = vec![refault_anon(b)?];
    let mut first: Option<(u64, Option<u64>)> = None;
    let mut curve: Vec<(u64, f64)> = vec![];
    for phase in [1, 2, 3] {
        let name = format!("refault-{phase}");
        if phase > 1 && !b.contains_key(&name) {
            break;
        }
        let j = json(b, &name)?;
        let d = vmstat_delta(b, &format!("{name}-before"), &format!("{name}-after"))?;
        let v = |k: &str| d.get(k).copied().unwrap_or(0);
        let mglru = j["lru"] == "mglru";
        refault_totals(&j, &d, &format!("phase {phase}"))?;
        let memcgs = j["memcgs"].as_array().cloned().unwrap_or_default();
        let r = memcgs.iter().find(|m| m["path"] == "/r");
        let r_file = r.and_then(|m| m["file_pages"].as_u64()).unwrap_or(0);
        let memcg_note = same_as_memory_stat(
            b,
            &name,
            "workingset_refault_file",
            r_file,
            &format!("{name}: vmscan /r"),
        )?;
        let extra = r.and_then(|m| m["extra_for_90"].as_u64());
        parts.push(format!(
            "phase {phase}: {} file + {} anon pages refaulted = /proc/vmstat; /r {r_file} ({memcg_note})",
            v("workingset_refault_file"),
            v("workingset_refault_anon")
        ));
        if phase == 1 {
            parts.push(refault_self_check(b)?);
            // cgroup v2: `vmscan snapshot` beside it checks /r's refaults
            // against its memory.stat (/r joins with the first pass's
            // insertions, before the re-reads refault).
            if memory_stat_growth(b, "refault-1", "workingset_refault_file").is_some() {
                let snap = json(b, "refault-snap")?;
                parts.push(memcg_checked(
                    &snap,
                    "/r",
                    "workingset_refault_file",
                    THRASH_REREADS / 32,
                )?);
                // The reclaim of its limit, keyed by lruvec.
                parts.push(memcg_reclaim_checked(
                    b,
                    "refault-1",
                    "refault-snap",
                    "/r",
                    THRASH_REREADS / 32,
                )?);
            }
            // At least a ninth of the re-reads: enough to draw a curve from,
            // allowing for shadows the shrinker takes (5.10: down to 5,696).
            if r_file < THRASH_REREADS / 9 {
                return Err(format!(
                    "the 32 MiB cgroup reading 48 MiB four times refaulted only {r_file} pages: {}",
                    parts.join("; ")
                ));
            }
            if mglru || c.mglru == Some(true) {
                let why = j["no_distance"].as_str().unwrap_or("");
                if !why.contains("MGLRU")
                    || r.is_some_and(|m| m["what_if"].as_array().is_some_and(|a| !a.is_empty()))
                {
                    return Err(format!(
                        "MGLRU: expected no what-if curve and the reason, got no_distance {:?}",
                        j["no_distance"]
                    ));
                }
                parts.push(format!("what-if: none under MGLRU, as vmscan says ({why})"));
                return Ok(parts.join("; "));
            }
            let Some(x) = extra else {
                return Err(format!(
                    "classic LRU, yet no what-if point for 90% of /r's refaults: {}",
                    parts.join("; ")
                ));
            };
            curve = r
                .and_then(|m| m["what_if"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|p| Some((p["extra_bytes"].as_u64()?, p["percent"].as_f64()?)))
                .collect();
            first = Some((r_file, Some(x)));
        } else if let Some((before, Some(x))) = first {
            // Phase 2 adds the 90% point, phase 3 half of it; the curve's
            // value there is its last point at or below the amount.
            let added = if phase == 2 { x } else { x / 2 };
            let predicted = curve
                .iter()
                .filter(|(e, _)| *e <= added)
                .map(|(_, p)| *p)
                .next_back()
                .unwrap_or(0.0);
            // Avoided out of what the reads could have missed: passes 2-4 of
            // the file. Counted as reads from the disk (pgpgin, in KiB), not
            // as refaults: a re-read whose shadow entry the shadow shrinker
            // took is a miss the kernel counts as a first fault, so refaults
            // alone read as avoided what was not (5.10 once kept 17,603 of
            // 36,864 in phase 1 and looked 28% "avoided" at +10 MiB).
            let misses = rereads_missed(&d).unwrap_or(r_file);
            let avoided = 100.0 * (1.0 - misses.min(THRASH_REREADS) as f64 / THRASH_REREADS as f64);
            parts.push(format!(
                "+{:.1} MiB: predicted {predicted:.0}% avoided, measured {avoided:.1}% ({misses} of {THRASH_REREADS} re-reads missed, {r_file} as refaults; {before} before{})",
                added as f64 / 1048576.0,
                match v("workingset_nodereclaim") {
                    0 => String::new(),
                    n => format!(", {n} shadow nodes reclaimed"),
                }
            ));
            if (avoided - predicted).abs() > 25.0 {
                return Err(format!(
                    "the what-if curve said +{added} bytes avoid {predicted:.0}% of the refaults; the rerun avoided {avoided:.1}%: {}",
                    parts.join("; ")
                ));
            }
        }
    }
    if c.mglru != Some(true) && first.is_some() && parts.len() < 6 {
        return Err(format!(
            "the reruns did not all run (see the console): {}",
            parts.join("; ")
        ));
    }
    Ok(parts.join("; "))
}

/// Reclaim of an ancestor: a task in /p/c charges past /p's limit; the
/// memcg episodes must name /p (the cgroup the kernel reclaims), none
/// /p/c, and none may have fallen back to the task's cgroup.
pub(super) fn ancestor(b: &Blocks) -> Verdict {
    let j = json(b, "ancestor")?;
    let memcgs = j["memcgs"].as_array().ok_or("no memcgs in the snapshot")?;
    let get = |p: &str, k: &str| {
        memcgs
            .iter()
            .find(|m| m["path"] == p)
            .and_then(|m| m[k].as_u64())
            .unwrap_or(0)
    };
    let (parent, child) = (
        get("/p", "reclaim_episodes"),
        get("/p/c", "reclaim_episodes"),
    );
    let fallback = get("/p", "episodes_named_by_task") + get("/p/c", "episodes_named_by_task");
    if parent == 0 || child != 0 || fallback != 0 {
        return Err(format!(
            "memcg episodes: /p {parent}, /p/c {child} ({fallback} named by the task's cgroup); expected all on /p"
        ));
    }
    Ok(format!(
        "{parent} memcg reclaim episodes named /p (the cgroup reclaimed), none the task's /p/c; {} pages reclaimed",
        get("/p", "reclaimed")
    ))
}

/// cgroup v1 soft-limit reclaim inside kswapd: the passes must have run,
/// and pgscan/pgsteal (kswapd's above all: the kernel keeps the soft-limit
/// passes out of it) equal /proc/vmstat.
pub(super) fn softlimit(b: &Blocks, c: &Config) -> Verdict {
    if !c.cgroup_v1 {
        return Ok(format!(
            "{SKIP}cgroup v2 has no soft limit (the 6.1-cgv1 configuration runs this)"
        ));
    }
    let j = json(b, "softlimit")?;
    let passes = j["hooks"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|h| h["name"] == "vmscan:mm_vmscan_memcg_softlimit_reclaim_begin")
        })
        .and_then(|h| h["events"].as_u64())
        .unwrap_or(0);
    let delta = vmstat_delta(b, "softlimit-before", "softlimit-after")?;
    let d = |k: &str| delta.get(k).copied().unwrap_or(0);
    if passes == 0 {
        return Err(format!(
            "soft-limit reclaim never ran (pgscan_kswapd grew {}): the scenario did not exercise it",
            d("pgscan_kswapd")
        ));
    }
    let keys = SCAN_STEAL;
    let omitted = same_as_vmstat(&j, &delta, &keys, "soft limit")?;
    let soft = d("pgscan_file") + d("pgscan_anon") - d("pgscan_kswapd") - d("pgscan_direct");
    let counted = if omitted.is_empty() {
        "pgscan/pgsteal = /proc/vmstat".to_owned()
    } else {
        omitted
    };
    Ok(format!(
        "{passes} soft-limit passes; {counted}: pgscan_kswapd {}, pgscan_file {} (the {soft} pages between them are the soft-limit and other cgroup passes, kept out of kswapd's as the kernel does)",
        d("pgscan_kswapd"),
        d("pgscan_file")
    ))
}

/// CPU hotplug: cpu1 offline during one reclaiming read and online again
/// during the next, under vmscan stat: the counters still equal
/// /proc/vmstat (the kernel folds an offline CPU's events into another's;
/// vmscan's per-CPU maps keep the offline CPU's slots) and vmscan says
/// nothing went wrong.
pub(super) fn hotplug(b: &Blocks) -> Verdict {
    let states = b
        .get("hotplug-states")
        .ok_or("no `hotplug-states` output (see the console)")?;
    let lines: Vec<&str> = states.lines().collect();
    if lines.len() != 2 || !lines[0].starts_with("cpu1 0 ") || !lines[1].starts_with("cpu1 1 ") {
        return Err(format!("cpu1 did not go offline and back: {states:?}"));
    }
    let j = json(b, "hotplug")?;
    let err = b.get("hotplug-err").map(String::as_str).unwrap_or("");
    // Its start-up lines (hooks attached, unavailable) are expected; an
    // error, a warning or a loss after "counting" is not.
    let after = err
        .split_once("vmscan: counting")
        .map_or(err, |(_, rest)| rest);
    let said = |w: &str| after.lines().find(|l| l.to_lowercase().contains(w));
    if let Some(bad) = ["error", "warn", "lost", "panicked", "failed"]
        .into_iter()
        .find_map(said)
    {
        return Err(format!("vmscan said: {bad}"));
    }
    let delta = vmstat_delta(b, "hotplug-before", "hotplug-after")?;
    let d = |k: &str| delta.get(k).copied().unwrap_or(0);
    if d("pgsteal_file") < 10_000 {
        return Err(format!(
            "the reads reclaimed only {} pages",
            d("pgsteal_file")
        ));
    }
    let keys = SCAN_STEAL;
    let omitted = same_as_vmstat(&j, &delta, &keys, "hotplug")?;
    let lost: u64 = j["hooks"]
        .as_array()
        .map(|a| a.iter().filter_map(|h| h["lost"].as_u64()).sum())
        .unwrap_or(0);
    if lost > 0 {
        return Err(format!("{lost} events lost across the hotplug"));
    }
    let counted = if omitted.is_empty() {
        "pgscan/pgsteal = /proc/vmstat".to_owned()
    } else {
        omitted
    };
    Ok(format!(
        "cpu1 offline then online during reclaim ({}); {counted} (pgsteal_file {}), nothing lost",
        lines[1].trim_start_matches("cpu1 1 "),
        d("pgsteal_file")
    ))
}

/// Proactive reclaim (memory.reclaim, a node's reclaim file): every
/// pgscan/pgsteal counter vmscan derives equals /proc/vmstat's growth, the
/// proactive ones too where the kernel keeps them (6.16+), and vmscan's own
/// self-check says exact. SKIP where the kernel has neither path.
pub(super) fn proactive(b: &Blocks) -> Verdict {
    let paths: Vec<&str> = b
        .get("proactive-paths")
        .map(|t| t.lines().map(str::trim).filter(|l| !l.is_empty()).collect())
        .unwrap_or_default();
    if paths.is_empty() {
        return Ok(format!(
            "{SKIP}no memory.reclaim (cgroup v2, 5.19+) and no node reclaim file (6.16+) here"
        ));
    }
    let j = json(b, "proactive")?;
    let delta = vmstat_delta(b, "proactive-before", "proactive-after")?;
    let d = |k: &str| delta.get(k).copied().unwrap_or(0);
    if d("pgsteal_file") < 2_000 {
        return Err(format!(
            "proactive reclaim ({}) reclaimed only {} file pages",
            paths.join(", "),
            d("pgsteal_file")
        ));
    }
    let mut keys = SCAN_STEAL.to_vec();
    let counted_apart = delta.contains_key("pgscan_proactive");
    if counted_apart {
        keys.extend(["pgscan_proactive", "pgsteal_proactive"]);
    }
    let omitted = same_as_vmstat(&j, &delta, &keys, "proactive")?;
    let (exact, checked) = self_check_all_exact(&j)?;
    let how = if counted_apart {
        format!(
            "pgscan_proactive {} / pgsteal_proactive {}",
            d("pgscan_proactive"),
            d("pgsteal_proactive")
        )
    } else {
        format!(
            "kept out of pgscan_direct ({}) as cgroup reclaim; pgscan_file {}",
            d("pgscan_direct"),
            d("pgscan_file")
        )
    };
    let counted = if omitted.is_empty() {
        "pgscan/pgsteal = /proc/vmstat".to_owned()
    } else {
        omitted
    };
    let memcg = memcg_reclaim_checked(b, "proactive", "proactive-snap", "/pr", 2_000)?;
    Ok(format!(
        "{}: {counted}: {how}; self-check {exact} of {checked} exact; {memcg}",
        paths.join(" and ")
    ))
}

/// Where `memcg`'s memory.stat has pgscan / pgsteal (cgroup v2: run
/// `name`'s blocks NAME-memcg-before/after have them), the snapshot in
/// block `snap_block` must
/// have keyed reclaim by lruvec: its self-check of `memcg` finds both
/// exact over at least `least` pages, and the cgroup's lruvecs hold at
/// least those pages (their figures run from the snapshot's start, the
/// check's from when the cgroup joined).
fn memcg_reclaim_checked(
    b: &Blocks,
    name: &str,
    snap_block: &str,
    memcg: &str,
    least: u64,
) -> Verdict {
    if memory_stat_growth(b, name, "pgscan").is_none() {
        return Ok(format!(
            "no per-memcg pgscan check ({memcg}'s memory.stat has no pgscan: cgroup v1)"
        ));
    }
    let snap = json(b, snap_block)?;
    let mut parts = vec![];
    for (counter, field) in [("pgscan", "scanned"), ("pgsteal", "reclaimed")] {
        parts.push(memcg_checked(&snap, memcg, counter, least)?);
        let checked = snap["self_check"]["memcgs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["memcg"] == memcg)
            .flat_map(|m| m["counters"].as_array().into_iter().flatten())
            .find(|k| k["counter"] == counter)
            .and_then(|k| k["vmscan"].as_u64())
            .unwrap_or(0);
        let lruvecs: Vec<&Value> = snap["lruvecs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|l| l["memcg"] == memcg)
            .collect();
        let mut held = 0;
        for l in &lruvecs {
            let r = &l["reclaim"];
            if !r.is_object() {
                return Err(format!(
                    "{memcg}'s lruvec on node {} has no reclaim figures: {l}",
                    l["node"]
                ));
            }
            held += r[format!("{field}_anon")].as_u64().unwrap_or(0)
                + r[format!("{field}_file")].as_u64().unwrap_or(0);
        }
        if held < checked {
            return Err(format!(
                "{memcg}'s lruvecs hold {held} {field} pages, fewer than the {checked} its self-check counted"
            ));
        }
    }
    // The classic LRU's active-list side too (MGLRU ages without a
    // tracepoint): pgrefill, and pgdeactivate (reclaim's, and the batches'
    // by folio).
    if snap["mglru"] != true {
        for counter in ["pgrefill", "pgdeactivate"] {
            parts.push(memcg_checked(&snap, memcg, counter, 0)?);
        }
    }
    // pgactivate (reclaim's by lruvec, lru_activate's by folio) on both
    // LRUs, wherever vmscan derives it (not under MGLRU before 6.7 without
    // its eviction hooks).
    if snap["totals"]["vmstat"]["pgactivate"].is_u64() {
        parts.push(memcg_checked(&snap, memcg, "pgactivate", 0)?);
    } else {
        parts.push(format!(
            "pgactivate not derived here: {}",
            snap["totals"]["underivable"]["pgactivate"]
        ));
    }
    Ok(parts.join("; "))
}

/// Large folios through reclaim: transparent huge pages in a cgroup half
/// their size, swapped to zram. THPs must have been faulted in and met
/// reclaim (swapped out whole or split); every pgscan/pgsteal counter
/// vmscan derives equals /proc/vmstat (the tracepoints count pages, not
/// folios) and its self-check is exact.
pub(super) fn thp(b: &Blocks) -> Verdict {
    let Ok(j) = json(b, "thp") else {
        return Ok(format!("{SKIP}no transparent huge pages on this kernel"));
    };
    let delta = vmstat_delta(b, "thp-before", "thp-after")?;
    let d = |k: &str| delta.get(k).copied().unwrap_or(0);
    let (faulted, swapped, split) = (d("thp_fault_alloc"), d("thp_swpout"), d("thp_split_page"));
    if faulted < 8 || swapped + split == 0 || d("pgsteal_anon") < 4096 {
        return Err(format!(
            "THP did not meet reclaim: {faulted} faulted, {swapped} swapped out whole, {split} split, pgsteal_anon {}",
            d("pgsteal_anon")
        ));
    }
    let keys = SCAN_STEAL;
    let omitted = same_as_vmstat(&j, &delta, &keys, "thp")?;
    let (exact, checked) = self_check_all_exact(&j)?;
    let counted = if omitted.is_empty() {
        format!(
            "pgscan_anon {} / pgsteal_anon {} = /proc/vmstat",
            d("pgscan_anon"),
            d("pgsteal_anon")
        )
    } else {
        omitted
    };
    Ok(format!(
        "{faulted} THPs faulted, {swapped} swapped out whole, {split} split: {counted}; self-check {exact} of {checked} exact"
    ))
}

/// The pgscan/pgsteal counters every reclaim scenario compares with
/// /proc/vmstat (the khugepaged and proactive ones only where a kernel has
/// them).
const SCAN_STEAL: [&str; 8] = [
    "pgscan_kswapd",
    "pgscan_direct",
    "pgscan_anon",
    "pgscan_file",
    "pgsteal_kswapd",
    "pgsteal_direct",
    "pgsteal_anon",
    "pgsteal_file",
];

/// The stat report's self-check: (exact, checked) when it checked counters
/// and found every one exact, else the error with the counters.
fn self_check_all_exact(j: &Value) -> Result<(u64, u64), String> {
    let sc = &j["self_check"];
    let (checked, exact) = (
        sc["checked"].as_u64().unwrap_or(0),
        sc["exact"].as_u64().unwrap_or(0),
    );
    if checked == 0 || exact != checked {
        return Err(format!(
            "self-check: {exact} of {checked} counters exact: {}",
            sc["counters"]
        ));
    }
    Ok((exact, checked))
}

/// khugepaged collapsing into a full memory cgroup (init.sh `collapse`): it
/// made huge pages; every counter equals /proc/vmstat, with khugepaged's
/// reclaim in the cgroup where the kernel counts it (where memcg reclaim
/// counts by who reclaims, 7.x: pgscan/pgsteal_khugepaged, which must then
/// have grown; before, outside every reclaimer counter); the self-check is
/// exact.
pub(super) fn collapse(b: &Blocks) -> Verdict {
    let Ok(j) = json(b, "collapse") else {
        return Ok(format!("{SKIP}no khugepaged on this kernel"));
    };
    let delta = vmstat_delta(b, "collapse-before", "collapse-after")?;
    let d = |k: &str| delta.get(k).copied().unwrap_or(0);
    let out = b.get("collapse-out").map_or("", |s| s.trim());
    let made = d("thp_collapse_alloc");
    if made == 0 {
        return Err(format!(
            "khugepaged made no huge page ({out}; thp_collapse_alloc_failed {})",
            d("thp_collapse_alloc_failed")
        ));
    }
    let mut keys = SCAN_STEAL.to_vec();
    let kernel_splits = b
        .get("collapse-after")
        .is_some_and(|v| v.lines().any(|l| l.starts_with("pgscan_khugepaged ")));
    if kernel_splits {
        keys.extend(["pgscan_khugepaged", "pgsteal_khugepaged"]);
    }
    let omitted = same_as_vmstat(&j, &delta, &keys, "collapse")?;
    let by_khugepaged = d("pgscan_khugepaged");
    let where_counted = if j["memcg_in_direct"] == true {
        if by_khugepaged == 0 {
            return Err(format!(
                "this kernel counts memcg reclaim by who reclaims, yet pgscan_khugepaged did not grow: khugepaged did not reclaim for its {made} huge pages ({out})"
            ));
        }
        format!(
            "khugepaged's reclaim in the cgroup: pgscan_khugepaged {by_khugepaged} / pgsteal_khugepaged {} = /proc/vmstat",
            d("pgsteal_khugepaged")
        )
    } else {
        format!(
            "khugepaged's reclaim in the cgroup kept out of the reclaimer counters as the kernel keeps it (memcg reclaim: {})",
            j["memcg_scanned"]
                .as_u64()
                .map_or("not derived here".to_owned(), |n| format!("{n} pages"))
        )
    };
    let (exact, checked) = self_check_all_exact(&j)?;
    let also = if omitted.is_empty() {
        String::new()
    } else {
        format!("; {omitted}")
    };
    Ok(format!(
        "{made} huge pages made by khugepaged ({out}); {where_counted}{also}; self-check {exact} of {checked} exact"
    ))
}

/// MADV_FREE of 16 MiB of anonymous memory in small pages and 16 MiB in huge
/// pages (init.sh `lazyfree`), once with lru_lazyfree hooked by fentry and
/// once by kprobe: pglazyfree, which only lru_lazyfree counts (no
/// tracepoint), equals /proc/vmstat and covers every page written (a huge
/// page as its 512); the self-check is exact.
pub(super) fn lazyfree(b: &Blocks) -> Verdict {
    let fentry = lazyfree_by(b, "fentry")?;
    let kprobe = lazyfree_by(b, "kprobe")?;
    Ok(format!("by fentry: {fentry}; by kprobe: {kprobe}"))
}

fn lazyfree_by(b: &Blocks, m: &str) -> Verdict {
    const PAGES: u64 = 2 * 16 * 256;
    let run = StatRun::read(b, &format!("lazyfree-{m}"), "pglazyfree")?;
    let out = &run.out;
    run.attached_by(&["lru_lazyfree"], m)?;
    // Huge pages count as their 512: the second range must have had some.
    let huge_kib: u64 = out
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if huge_kib == 0 {
        return Err(format!(
            "the huge-page range got no huge page ({out}): large folios untested"
        ));
    }
    if run.kernel < PAGES {
        return Err(format!(
            "MADV_FREE of {PAGES} written anonymous pages: /proc/vmstat pglazyfree grew only {} ({out})",
            run.kernel
        ));
    }
    let exact = run.exact()?;
    const MOVED: [&str; 2] = ["lazyfree_from_inactive", "lazyfree_from_active"];
    let nodes = run.per_node("lazyfree by node:", &MOVED, &[])?;
    if m != "fentry" {
        return Ok(format!("{exact} ({PAGES} pages written); {nodes}"));
    }
    let memcg = run.per_memcg(b, &format!("lazyfree-{m}"), "lazyfree by node:", &MOVED)?;
    let checked = memcg_self_check(b, &format!("lazyfree-{m}"), "pglazyfree", PAGES)?;
    Ok(format!(
        "{exact} ({PAGES} pages written); {nodes}; {memcg}; {checked}"
    ))
}

/// The self-check of `vmscan snapshot` (block `name`-snap) in memory cgroup
/// /mv, which the workload made active before its `counter` pages: on
/// cgroup v2 /mv must be checked against its memory.stat, `counter` exact
/// (within the memcg stat slack) and holding at least `least` pages; v1's
/// memory.stat keeps no such counter, which is said.
fn memcg_self_check(b: &Blocks, name: &str, counter: &str, least: u64) -> Verdict {
    if memory_stat_growth(b, name, counter).is_none() {
        return Ok(format!(
            "no memory.stat self-check (its memory.stat has no {counter})"
        ));
    }
    let snap = json(b, &format!("{name}-snap"))?;
    memcg_checked(&snap, "/mv", counter, least)
}

/// `memcg`'s entry in a snapshot's per-memcg self-check: `counter` checked
/// against its memory.stat, exact (within the memcg stat slack), over at
/// least `least` pages (so that it joined the check before the workload).
fn memcg_checked(snap: &Value, memcg: &str, counter: &str, least: u64) -> Verdict {
    let c = &snap["self_check"];
    let m = c["memcgs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["memcg"] == memcg)
        .ok_or_else(|| {
            format!("the snapshot did not check {memcg} against its memory.stat: {c}")
        })?;
    let k = m["counters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["counter"] == counter)
        .ok_or_else(|| format!("{memcg}'s self-check has no {counter}: {m}"))?;
    let ours = k["vmscan"].as_u64().unwrap_or(0);
    if k["divergence_pages"] != 0 {
        return Err(format!("{memcg}'s self-check: {counter} diverges: {k}"));
    }
    if ours < least {
        return Err(format!(
            "{memcg}'s self-check covered {ours} {counter} pages of the workload's {least} or more: it joined the check late ({k})"
        ));
    }
    let slack = if k["within_slack"] == true {
        format!(" within the slack of {} pages", k["slack_pages"])
    } else {
        String::new()
    };
    Ok(format!(
        "snapshot's self-check of {memcg} against memory.stat: {counter} {ours} exact{slack}, {} of {} counters",
        m["exact"], m["checked"]
    ))
}

/// One `vmscan stat --json` run around a workload (init.sh's blocks NAME,
/// NAME-err, NAME-before, NAME-after, NAME-out) and one counter of it.
struct StatRun {
    j: Value,
    counter: &'static str,
    /// /proc/vmstat's growth of the counter over the workload.
    kernel: u64,
    /// What the workload printed, its lines joined by "; " (the table's
    /// rows are one line).
    out: String,
}

/// The JSON block `name` a vmscan run printed; where it is missing or
/// broken, the error carries that run's stderr (block `{name}-err`).
fn stat_json(b: &Blocks, name: &str) -> Result<Value, String> {
    json(b, name).map_err(|e| {
        let err = b.get(format!("{name}-err").as_str());
        format!("{e}; its stderr: {}", err.map_or("(none)", |s| s.trim()))
    })
}

/// The number after "`key` " in a workload's line ("file 4096 pages",
/// "pgmigrate_success 12,").
fn number_after(line: &str, key: &str) -> Option<u64> {
    let at = line.find(&format!("{key} "))? + key.len() + 1;
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

impl StatRun {
    fn read(b: &Blocks, name: &str, counter: &'static str) -> Result<Self, String> {
        let j = stat_json(b, name)?;
        let delta = vmstat_delta(b, &format!("{name}-before"), &format!("{name}-after"))?;
        Ok(Self {
            j,
            counter,
            kernel: delta.get(counter).copied().unwrap_or(0),
            out: b
                .get(format!("{name}-out").as_str())
                .map_or("", |s| s.trim())
                .lines()
                .collect::<Vec<_>>()
                .join("; "),
        })
    }

    /// Each function hook attached by mechanism `m`, under its name or its
    /// _fn name (before 6.11); one with a return program as "m+...".
    fn attached_by(&self, functions: &[&str], m: &str) -> Result<(), String> {
        for f in functions {
            let mechanism = self.j["hooks"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|h| h["name"] == *f || h["name"] == format!("{f}_fn"))
                .and_then(|h| h["mechanism"].as_str())
                .unwrap_or("none");
            if mechanism.split('+').next() != Some(m) {
                return Err(format!("{f} attached by {mechanism}, not {m}"));
            }
        }
        Ok(())
    }

    /// The counter as vmscan derived it (None: listed as underivable) and
    /// the reason it gives where it did not.
    fn ours(&self) -> (Option<u64>, &str) {
        (
            self.j["vmstat"][self.counter].as_u64(),
            self.j["underivable"][self.counter].as_str().unwrap_or(""),
        )
    }

    /// vmscan derived the counter, equal to /proc/vmstat's growth, and the
    /// self-check, exact, covered it.
    fn exact(&self) -> Verdict {
        let (c, kernel, out) = (self.counter, self.kernel, &self.out);
        let (ours, why) = self.ours();
        let Some(ours) = ours else {
            return Err(format!(
                "vmscan derived no {c} (/proc/vmstat {kernel}): {why}"
            ));
        };
        let (exact, checked) = self_check_all_exact(&self.j)?;
        let listed = self.j["self_check"]["counters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|x| x["counter"] == c && x["vmscan"] == ours && x["divergence_pages"] == 0);
        if !listed {
            return Err(format!(
                "{c} {ours} not exact in the self-check: {}",
                self.j["self_check"]
            ));
        }
        // vmscan counts from attach to exit, a wider window than the
        // workload's /proc/vmstat readings: background work (reclaim still
        // running after an earlier scenario) can only add to vmscan's
        // figure, and its own bracketed self-check, exact, covers that.
        if ours < kernel {
            return Err(format!(
                "{c}: vmscan {ours} vs /proc/vmstat {kernel} ({out})"
            ));
        }
        let also = if ours > kernel {
            format!(", {} more in vmscan's wider window", ours - kernel)
        } else {
            String::new()
        };
        Ok(format!(
            "{c} {ours} = /proc/vmstat{also} ({out}); self-check {exact} of {checked} exact"
        ))
    }

    /// The workload's pages per node: its output line `prefix` "0=N 1=M"
    /// (from move_pages(2)), as (node, pages).
    fn workload_nodes(&self, prefix: &str) -> Result<Vec<(u64, u64)>, String> {
        self.out
            .split("; ")
            .find_map(|l| l.strip_prefix(prefix))
            .ok_or_else(|| format!("the workload printed no \"{prefix}\" line: {}", self.out))?
            .split_whitespace()
            .map(|kv| {
                kv.split_once('=')
                    .and_then(|(n, p)| Some((n.parse().ok()?, p.parse().ok()?)))
                    .ok_or_else(|| format!("{prefix} {kv}: not node=pages"))
            })
            .collect()
    }

    /// `vmscan snapshot` beside this run, the workload in memory cgroup /mv
    /// (init.sh's memcg_moves_*; blocks `name`-snap, `name`-memcg-before
    /// and -after): /mv's lruvecs derive the `moved` fields, hold on each
    /// node at least the pages the workload reported there (line
    /// `prefix`), and add up to at most the counter stat derived over the
    /// window (all of the batches' moves, every cgroup's) and, where /mv's
    /// memory.stat keeps the counter (cgroup v2), to its growth, within
    /// what the kernel may not have flushed.
    fn per_memcg(&self, b: &Blocks, name: &str, prefix: &str, moved: &[&str]) -> Verdict {
        let c = self.counter;
        let snap = json(b, &format!("{name}-snap")).map_err(|e| {
            let err = b.get(format!("{name}-snap-err").as_str());
            format!("{e}; its stderr: {}", err.map_or("(none)", |s| s.trim()))
        })?;
        let mv: Vec<&Value> = snap["lruvecs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|l| l["memcg"] == "/mv")
            .collect();
        if mv.is_empty() {
            return Err(format!(
                "snapshot has no lruvec of /mv: {}",
                snap["lruvecs"]
            ));
        }
        let sum = |l: &Value| -> Result<u64, String> {
            moved.iter().try_fold(0, |acc, f| {
                l[*f].as_u64().map(|v| acc + v).ok_or_else(|| {
                    format!("/mv's lruvec on node {} derives no {f}: {l}", l["node"])
                })
            })
        };
        let mut total = 0;
        for l in &mv {
            total += sum(l)?;
        }
        let mut seen = vec![];
        for (node, pages) in self.workload_nodes(prefix)? {
            let l = mv.iter().find(|l| l["node"] == node).ok_or_else(|| {
                format!("the workload moved {pages} pages on node {node}; /mv has no lruvec there")
            })?;
            let got = sum(l)?;
            if got < pages {
                return Err(format!(
                    "/mv node {node}: the workload moved {pages} pages there; its lruvec's {moved:?} {got}"
                ));
            }
            seen.push(format!("node {node} {got}"));
        }
        let ours = self
            .ours()
            .0
            .ok_or_else(|| format!("vmscan derived no {c}"))?;
        if total > ours {
            return Err(format!(
                "/mv's lruvecs moved {total} pages, more than stat's {c} {ours} over the window"
            ));
        }
        let memstat = same_as_memory_stat(
            b,
            name,
            c,
            total,
            &format!("/mv's lruvecs ({})", seen.join(", ")),
        )?;
        Ok(format!(
            "memcg /mv by snapshot: {total} pages ({}) {memstat}, of stat's {ours}",
            seen.join(", ")
        ))
    }

    /// The counter per node: each node's `moved` fields (stat's `nodes`,
    /// summed) hold at least the pages the workload reported on that node
    /// (its output line `prefix` "0=N 1=M", from move_pages(2)), and every
    /// node's `moved` and `rest` fields add up to the counter.
    fn per_node(&self, prefix: &str, moved: &[&str], rest: &[&str]) -> Verdict {
        let c = self.counter;
        let want = self.workload_nodes(prefix)?;
        let nodes = self.j["nodes"].as_array().ok_or("stat printed no nodes")?;
        let sum = |n: &Value, fields: &[&str]| -> Result<u64, String> {
            fields.iter().try_fold(0, |acc, f| {
                n[*f]
                    .as_u64()
                    .map(|v| acc + v)
                    .ok_or_else(|| format!("node {} has no {f}: {n}", n["node"]))
            })
        };
        let mut total = 0;
        for n in nodes {
            total += sum(n, moved)? + sum(n, rest)?;
        }
        let ours = self
            .ours()
            .0
            .ok_or_else(|| format!("vmscan derived no {c}"))?;
        if total != ours {
            return Err(format!(
                "{c} {ours}, but the nodes' {moved:?} and {rest:?} add up to {total}"
            ));
        }
        let mut seen = vec![];
        for (node, pages) in want {
            let n = nodes.iter().find(|n| n["node"] == node).ok_or_else(|| {
                format!("the workload moved {pages} pages on node {node}; stat has no node {node}")
            })?;
            let got = sum(n, moved)?;
            if got < pages {
                return Err(format!(
                    "node {node}: the workload moved {pages} pages there; vmscan's {moved:?} {got}"
                ));
            }
            seen.push(format!("node {node} {got} (workload {pages})"));
        }
        Ok(format!(
            "per node: {}; the nodes add up to {c}",
            seen.join(", ")
        ))
    }
}

/// The deactivation batches (init.sh `deactivate`), once with lru_deactivate
/// and lru_deactivate_file hooked by fentry and once by kprobe: MADV_COLD of
/// a mapped 16 MiB file made active, and POSIX_FADV_DONTNEED of a 16 MiB
/// file made active, half of it mapped and half held by pipes. On the
/// classic LRU, pgdeactivate equals /proc/vmstat, which counts at least the
/// MADV_COLD file's pages and the pipes' (not the mapped half's), and the
/// self-check is exact. Under MGLRU vmscan must print no pgdeactivate and
/// say why.
pub(super) fn deactivate(b: &Blocks) -> Verdict {
    // lru_gen/enabled's core bit (0x0001); "none" where MGLRU is not built.
    let mglru = b
        .get("deactivate-lrugen")
        .map(|s| s.trim())
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .is_some_and(|v| v & 1 != 0);
    let fentry = deactivate_by(b, "fentry", mglru)?;
    let kprobe = deactivate_by(b, "kprobe", mglru)?;
    Ok(format!("by fentry: {fentry}; by kprobe: {kprobe}"))
}

fn deactivate_by(b: &Blocks, m: &str, mglru: bool) -> Verdict {
    // MADV_COLD's file, and the invalidated file's half held by pipes.
    const PAGES: u64 = 16 * 256 + 8 * 256;
    let run = StatRun::read(b, &format!("deactivate-{m}"), "pgdeactivate")?;
    let (kernel, out) = (run.kernel, &run.out);
    run.attached_by(&["lru_deactivate", "lru_deactivate_file"], m)?;
    if mglru {
        let (ours, why) = run.ours();
        let per_node = run.j["nodes"].as_array().into_iter().flatten().any(|n| {
            !n["batch_deactivated_file"].is_null() || !n["batch_deactivated_anon"].is_null()
        });
        if per_node {
            return Err(format!(
                "MGLRU is on: no node may show batch deactivations; stat printed {}",
                run.j["nodes"]
            ));
        }
        if ours.is_some() || !why.contains("MGLRU") {
            return Err(format!(
                "MGLRU is on: pgdeactivate must be underivable, with the reason; vmscan printed {ours:?} ({why:?}; /proc/vmstat {kernel})"
            ));
        }
        if m == "fentry" {
            let snap = json(b, &format!("deactivate-{m}-snap"))?;
            let shown: Vec<&Value> = snap["lruvecs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|l| {
                    !l["batch_deactivated_file"].is_null() || !l["batch_deactivated_anon"].is_null()
                })
                .collect();
            if !shown.is_empty() {
                return Err(format!(
                    "MGLRU is on: no lruvec may show batch deactivations; snapshot printed {shown:?}"
                ));
            }
        }
        return Ok(format!(
            "MGLRU: pgdeactivate underivable, as it should be (/proc/vmstat {kernel}; {out})"
        ));
    }
    // Classic LRU: every page of both files was active.
    if kernel < PAGES {
        return Err(format!(
            "MADV_COLD and invalidation of {PAGES} active unmapped pages: /proc/vmstat pgdeactivate grew only {kernel} ({out})"
        ));
    }
    let exact = run.exact()?;
    // Page cache: active file -> inactive file, on each file's node (the
    // lab's two: MADV_COLD's file on node 1, the invalidated one on node 0).
    let nodes = run.per_node(
        "deactivated by node:",
        &["batch_deactivated_file"],
        &["batch_deactivated_anon", "deactivated"],
    )?;
    if m != "fentry" {
        return Ok(format!("{exact}; {nodes}"));
    }
    // memory.stat's pgdeactivate also counts reclaim's deactivations in the
    // cgroup; /mv has no limit, so there are none.
    let memcg = run.per_memcg(
        b,
        &format!("deactivate-{m}"),
        "deactivated by node:",
        &["batch_deactivated_file", "batch_deactivated_anon"],
    )?;
    // And its self-check (/mv made active first): pgdeactivate, the batches'
    // keyed by folio plus reclaim's keyed by lruvec (none here), exact.
    let checked = memcg_self_check(b, &format!("deactivate-{m}"), "pgdeactivate", PAGES)?;
    // pgactivate too: the reads made both files active, folio by folio
    // through folio_activate's batch (lru_activate, keyed by the folio's
    // memcg), all but the few still in an LRU-add batch (activated there,
    // which the kernel does not count).
    let activated = memcg_self_check(b, &format!("deactivate-{m}"), "pgactivate", PAGES / 2)?;
    Ok(format!("{exact}; {nodes}; {memcg}; {checked}; {activated}"))
}

/// The pages stat's nodes show folio_isolate_lru took off their lists,
/// all lists and nodes; None where it is not attached with its return (no
/// node has the field).
fn isolated_outside_reclaim(j: &Value) -> Option<u64> {
    let nodes = j["nodes"].as_array()?;
    let lists: Vec<&Value> = nodes
        .iter()
        .map(|n| &n["isolated_outside_reclaim"])
        .filter(|l| l.is_object())
        .collect();
    (!lists.is_empty()).then(|| {
        lists
            .iter()
            .flat_map(|l| l.as_object().into_iter().flatten())
            .map(|(_, v)| v.as_u64().unwrap_or(0))
            .sum()
    })
}

/// MADV_PAGEOUT of 64 MiB of anonymous memory with swap off: reclaim_pages()
/// activates every page. Through mm_vmscan_reclaim_pages (7.x), or
/// shrink_folio_list (6.0+) / shrink_page_list (5.10) standing in for it,
/// pgactivate equals /proc/vmstat and the self-check is exact (MGLRU before
/// 6.7 without its eviction hooks: underivable, with the reason).
pub(super) fn pageout(b: &Blocks) -> Verdict {
    const PAGES: u64 = 64 * 256;
    let j = json(b, "pageout")?;
    let delta = vmstat_delta(b, "pageout-before", "pageout-after")?;
    // MADV_PAGEOUT takes every page off its list (folio_isolate_lru) before
    // reclaim_pages: counted, with at most what migrations in the window
    // add.
    let isolated = match isolated_outside_reclaim(&j) {
        None => "folio_isolate_lru not hooked".to_owned(),
        Some(n) => {
            let migrated = ["pgmigrate_success", "pgmigrate_fail"]
                .iter()
                .map(|k| delta.get(*k).copied().unwrap_or(0))
                .sum::<u64>();
            if n < PAGES || n > PAGES + migrated + 512 {
                return Err(format!(
                    "MADV_PAGEOUT isolated {PAGES} pages; vmscan's isolated_outside_reclaim {n} ({migrated} migrations in the window)"
                ));
            }
            format!(
                "isolated by folio_isolate_lru {n} (the {PAGES} pages, {migrated} migrations in the window)"
            )
        }
    };
    let act = delta.get("pgactivate").copied().unwrap_or(0);
    if act < PAGES * 9 / 10 {
        return Err(format!(
            "MADV_PAGEOUT of {PAGES} anonymous pages without swap activated only {act} (/proc/vmstat pgactivate)"
        ));
    }
    // The tracepoint (7.x), or shrink_folio_list's calls outside reclaim
    // standing in for it (its return attached too).
    let hooked = j["hooks"].as_array().into_iter().flatten().any(|h| {
        let m = h["mechanism"].as_str().unwrap_or("");
        match h["name"].as_str().unwrap_or("") {
            n if n.ends_with("mm_vmscan_reclaim_pages") => !m.is_empty(),
            "shrink_folio_list" | "shrink_page_list" => m.contains('+'),
            _ => false,
        }
    });
    let sc = &j["self_check"];
    let counters = sc["counters"].as_array().cloned().unwrap_or_default();
    let others_exact = counters
        .iter()
        .filter(|c| c["counter"] != "pgactivate")
        .all(|c| c["divergence_pages"] == 0);
    // MGLRU before 6.7: eviction's activations have no tracepoint, so
    // vmscan lists pgactivate as underivable instead of a short figure.
    if let Some(why) = j["underivable"]["pgactivate"].as_str() {
        if !why.contains("MGLRU before 6.7") || !others_exact {
            return Err(format!(
                "pgactivate underivable ({why}); self-check {sc} (others exact: {others_exact})"
            ));
        }
        return Ok(format!(
            "pgactivate underivable here, with the reason ({act} activations by MADV_PAGEOUT in /proc/vmstat); every other counter exact; {isolated}"
        ));
    }
    let pa = counters
        .iter()
        .find(|c| c["counter"] == "pgactivate")
        .ok_or_else(|| format!("no pgactivate in the self-check: {sc}"))?;
    if hooked {
        // vmscan's window holds the /proc/vmstat reads around the workload
        // (stat starts before, stops after): a few activations elsewhere
        // in between are vmscan's and not in `act`. The self-check, read
        // by vmscan around its own window, must be exact.
        let ours = j["vmstat"]["pgactivate"].as_u64().unwrap_or(0);
        let by_rp = j["reclaim_pages"]["activated"].as_u64().unwrap_or(0);
        if ours < act
            || ours > act + 64
            || pa["divergence_pages"] != 0
            || !others_exact
            || by_rp < PAGES * 9 / 10
        {
            return Err(format!(
                "reclaim_pages hooked: pgactivate {ours} (/proc/vmstat around the workload {act}), {by_rp} activations through it; self-check {sc}"
            ));
        }
        return Ok(format!(
            "reclaim_pages hooked (mm_vmscan_reclaim_pages, else shrink_folio_list / shrink_page_list outside reclaim): pgactivate {ours} (/proc/vmstat around the workload {act}; {by_rp} through reclaim_pages); self-check exact; {isolated}"
        ));
    }
    // Every lab kernel has the tracepoint or shrink_folio_list /
    // shrink_page_list to stand in for it, by fentry and by kprobes.
    Err(format!(
        "reclaim_pages' activations not hooked (neither mm_vmscan_reclaim_pages nor shrink_folio_list / shrink_page_list with its return); self-check {pa}"
    ))
}

/// Peak RSS the rss scenario may show for `vmscan stat` (the cost issue's
/// target), and for the exporter, which also holds a burst of drained ring
/// records (up to the 4 MiB ring, raw and decoded) and its HTTP server.
const RSS_LIMIT_KIB: u64 = 32 * 1024;
const EXPORT_RSS_LIMIT_KIB: u64 = 40 * 1024;

/// Memory-cgroup reclaim above a slower memory tier (node 2: soft-reserved
/// RAM that dax_hmem and kmem online in a tier of its own): where the
/// kernel demotes (5.15+), vmscan's pgdemote_* and pgscan/pgsteal equal
/// /proc/vmstat's growth and its self-check finds every counter exact (or
/// within the per-CPU slack it states). Where the kernel has no demotion,
/// vmscan must list pgdemote_* as not derived, with its reason.
pub(super) fn demote(b: &Blocks) -> Verdict {
    let j = json(b, "demote")?;
    let delta = vmstat_delta(b, "demote-before", "demote-after")?;
    // "memory_tier4: 0-1; memory_tier22: 2" from the setup's listing.
    let tier = || {
        b.get("demote-setup").map_or(String::new(), |s| {
            s.lines()
                .filter_map(|l| {
                    l.split_once("memory_tiering/")
                        .map(|(_, t)| t.replace(": ", " nodes "))
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
    };
    let kernel: Vec<&str> = delta
        .keys()
        .map(String::as_str)
        .filter(|k| k.starts_with("pgdemote_"))
        .collect();
    if kernel.is_empty() {
        let why = j["underivable"]["pgdemote_*"].as_str().ok_or(
            "no pgdemote_* in /proc/vmstat, and vmscan gives no reason for leaving them out",
        )?;
        return Ok(format!(
            "{SKIP}no demotion on this kernel (no pgdemote_* in /proc/vmstat); vmscan says: {why}"
        ));
    }
    let demoted: u64 = kernel.iter().map(|k| delta[*k]).sum();
    if demoted < 1024 {
        let err = b
            .get("demote-err")
            .map_or("", |s| s.trim())
            .replace('\n', "; ");
        return Err(format!(
            "the kernel demoted {demoted} pages; tiers: {}; errors: {err}",
            tier()
        ));
    }
    // pgdemote_* must be there; pgscan/pgsteal may be left out with their
    // reason (6.1 under MGLRU).
    let missing = same_as_vmstat(&j, &delta, &kernel, "demote")?;
    if !missing.is_empty() {
        return Err(missing);
    }
    let omitted = same_as_vmstat(
        &j,
        &delta,
        &["pgscan_anon", "pgscan_file", "pgsteal_anon", "pgsteal_file"],
        "demote",
    )?;
    let sc = &j["self_check"];
    let (checked, exact) = (
        sc["checked"].as_u64().unwrap_or(0),
        sc["exact"].as_u64().unwrap_or(0),
    );
    let demote_checked = sc["counters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            c["counter"]
                .as_str()
                .is_some_and(|n| n.starts_with("pgdemote_"))
        })
        .count();
    if checked == 0 || exact != checked || demote_checked != kernel.len() {
        return Err(format!(
            "self-check: {exact} of {checked} counters exact ({demote_checked} pgdemote_* checked): {}",
            sc["counters"]
        ));
    }
    let figures: Vec<String> = kernel
        .iter()
        .filter(|k| delta[**k] > 0)
        .map(|k| format!("{k} {}", delta[*k]))
        .collect();
    let omitted = if omitted.is_empty() {
        String::new()
    } else {
        format!("; {omitted}")
    };
    Ok(format!(
        "{} = /proc/vmstat (tiers: {}); self-check {exact} of {checked} exact{omitted}",
        figures.join(", "),
        tier()
    ))
}

/// Number of CPUs in a cpulist ("0-255", "0,2-3").
fn cpulist_len(s: &str) -> u32 {
    s.trim()
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('-') {
            Some((a, b)) => {
                b.trim()
                    .parse::<u32>()
                    .unwrap_or(0)
                    .saturating_sub(a.trim().parse().unwrap_or(0))
                    + 1
            }
            None => 1,
        })
        .sum()
}

/// `vmscan lab-irq-context`, by the kernel's default way and by the stack:
/// every run of each probe read as the context it always runs in, each
/// probe seen (the local timer's too: the lab is x86), and the default the
/// exact one (the lab's Debian kernels list per-CPU data in kallsyms).
pub(super) fn irqctx(b: &Blocks) -> Verdict {
    let mut out = vec![];
    for m in ["default", "stack"] {
        let j = stat_json(b, &format!("irqctx-{m}"))?;
        let source = j["source"].as_str().unwrap_or("?");
        if j["readable"] != true {
            return Err(format!("{m}: the context is not readable: {source}"));
        }
        let wrong: Vec<&str> = j["wrong"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| w.as_str())
            .collect();
        if !wrong.is_empty() {
            return Err(format!("{m} ({source}): {}", wrong.join("; ")));
        }
        let want = if m == "stack" {
            "kernel stack"
        } else {
            "preempt_count"
        };
        if !source.contains(want) {
            return Err(format!("{m}: read from {source}, not the {want}"));
        }
        let runs = |probe: &str, ctx: &str| j["seen"][probe][ctx].as_u64().unwrap_or(0);
        let (soft, soft_tp, hard, task) = (
            runs("softirq_entry", "softirq"),
            runs("softirq_entry_tracepoint", "softirq"),
            runs("local_timer_entry", "hardirq"),
            runs("getppid", "task"),
        );
        if soft == 0 || soft_tp == 0 || hard == 0 || task == 0 {
            return Err(format!(
                "{m}: a probe never ran (softirq_entry {soft}, by tracepoint {soft_tp}, local_timer_entry {hard}, getppid {task}): {j}"
            ));
        }
        out.push(format!(
            "{m} ({source}): softirq_entry read as softirq {soft} times (tp_btf) and {soft_tp} (tracepoint), local_timer_entry as hardirq {hard}, all {task} getppid calls as task"
        ));
    }
    Ok(out.join("; "))
}

/// The mlock batch (init.sh: mlock), by fentry and by kprobe: a 16 MiB
/// file mapped and mlocked, 8 MiB of anonymous memory mlocked before it is
/// touched, both munlocked (`vmscan lab-mlock`). Where the kernel has the
/// batch (5.18+), stat's nodes must show exactly those pages: into the
/// unevictable list the file's pages (out of the file lists) and the new
/// anon folios (out of none), out of it all of them (into the inactive
/// lists), and the kernel's own unevictable_pgs_culled / rescued over the
/// workload must be the same figures. Where it has none (5.10), the hook
/// must say so and the nodes show no mlock moves.
pub(super) fn mlock(b: &Blocks) -> Verdict {
    let fentry = mlock_by(b, "fentry")?;
    let kprobe = mlock_by(b, "kprobe")?;
    Ok(format!("by fentry: {fentry}; by kprobe: {kprobe}"))
}

fn mlock_by(b: &Blocks, m: &str) -> Verdict {
    let name = format!("mlock-{m}");
    let j = stat_json(b, &name)?;
    let out = b
        .get(format!("{name}-out").as_str())
        .map_or("", |s| s.trim());
    let (file, anon) = out
        .lines()
        .find(|l| l.starts_with("file "))
        .and_then(|l| Some((number_after(l, "file")?, number_after(l, "anon")?)))
        .ok_or(format!("lab-mlock printed no page counts: {out:?}"))?;
    let vmstat = out
        .lines()
        .find_map(|l| l.strip_prefix("vmstat: "))
        .ok_or(format!("lab-mlock printed no vmstat growth: {out:?}"))?;
    let kernel = |k: &str| number_after(vmstat, k);
    let (culled, rescued) = (
        kernel("unevictable_pgs_culled").unwrap_or(0),
        kernel("unevictable_pgs_rescued").unwrap_or(0),
    );
    let hook = j["hooks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|h| h["name"] == "mlock_folio_batch" || h["name"] == "mlock_pagevec")
        .ok_or("stat lists no mlock batch hook")?;
    let nodes: Vec<&Value> = j["nodes"].as_array().into_iter().flatten().collect();
    if let Some(why) = hook["error"]
        .as_str()
        .and_then(|e| e.strip_prefix("not needed on this kernel: "))
    {
        if let Some(n) = nodes.iter().find(|n| !n["mlock_moved"].is_null()) {
            return Err(format!(
                "no mlock batch here, yet node {} shows mlock moves: {}",
                n["node"], n["mlock_moved"]
            ));
        }
        return Ok(format!(
            "no mlock batch on this kernel, as vmscan says ({why}); no node shows mlock moves (/proc/vmstat culled {culled}, rescued {rescued})"
        ));
    }
    let mechanism = hook["mechanism"].as_str().unwrap_or("none");
    if mechanism.split('+').next() != Some(m) {
        return Err(format!(
            "{} attached by {mechanism}, not {m} (error: {})",
            hook["name"], hook["error"]
        ));
    }
    const LISTS: [&str; 5] = [
        "inactive_anon",
        "active_anon",
        "inactive_file",
        "active_file",
        "unevictable",
    ];
    let mut into = [0u64; 5];
    let mut out_of = [0u64; 5];
    let mut per_node = vec![];
    for n in &nodes {
        let mm = &n["mlock_moved"];
        if mm.is_null() {
            return Err(format!(
                "{} hooked, yet node {} has no mlock_moved: {n}",
                hook["name"], n["node"]
            ));
        }
        for (l, name) in LISTS.iter().enumerate() {
            into[l] += mm["into"][name].as_u64().unwrap_or(0);
            out_of[l] += mm["out_of"][name].as_u64().unwrap_or(0);
        }
        let u = mm["into"]["unevictable"].as_u64().unwrap_or(0);
        if u > 0 {
            per_node.push(format!("{}={u}", n["node"]));
        }
    }
    let want = file + anon;
    let checks = [
        ("into unevictable", into[4], want),
        ("out of unevictable", out_of[4], want),
        ("out of the file lists", out_of[2] + out_of[3], file),
        ("into the file lists", into[2] + into[3], file),
        ("into the anon lists", into[0] + into[1], anon),
        ("out of the anon lists", out_of[0] + out_of[1], 0),
        ("/proc/vmstat unevictable_pgs_culled", culled, want),
        ("/proc/vmstat unevictable_pgs_rescued", rescued, want),
    ];
    if let Some((what, got, exp)) = checks.iter().find(|(_, got, exp)| got != exp) {
        return Err(format!(
            "{what}: {got}, want {exp} ({file} file pages mlocked, {anon} new anon pages; into {into:?}, out of {out_of:?} in {LISTS:?}; lab-mlock: {out})"
        ));
    }
    Ok(format!(
        "{} moved {want} pages into unevictable ({file} off the file lists, {anon} new anon folios) and {want} back out = /proc/vmstat unevictable_pgs_culled {culled} / rescued {rescued} (into unevictable by node: {})",
        hook["name"].as_str().unwrap_or("?"),
        per_node.join(" ")
    ))
}

/// Compaction's migrate scanner (init.sh: compact), by fentry and by
/// kprobe: 64 MiB of page cache with every other page dropped, then
/// compact_memory (`vmscan lab-compact`). Where the hook attaches (5.17+:
/// bpf_loop), the pages stat's nodes show as isolated by compaction must
/// equal the kernel's own total of each call's isolations
/// (mm_compaction_isolate_migratepages nr_taken, traced over the same
/// window, with no trace events lost), be at least what compaction
/// migrated, and at most /proc/vmstat's compact_isolated (which also counts
/// the free scanner's pages). Where it cannot attach (5.10), it must say
/// bpf_loop is missing and no node may show such isolations.
pub(super) fn compact(b: &Blocks) -> Verdict {
    let fentry = compact_by(b, "fentry")?;
    let kprobe = compact_by(b, "kprobe")?;
    Ok(format!("by fentry: {fentry}; by kprobe: {kprobe}"))
}

fn compact_by(b: &Blocks, m: &str) -> Verdict {
    let name = format!("compact-{m}");
    let j = stat_json(b, &name)?;
    let text = |what: &str| {
        b.get(format!("{name}-{what}").as_str())
            .map_or("", |s| s.trim())
            .to_owned()
    };
    let out = text("out");
    let moved = out
        .lines()
        .find_map(|l| l.strip_prefix("vmstat: "))
        .ok_or(format!("lab-compact printed no vmstat growth: {out:?}"))?;
    let migrated = number_after(moved, "pgmigrate_success").unwrap_or(0)
        + number_after(moved, "pgmigrate_fail").unwrap_or(0);
    let bracket = vmstat_delta(b, &format!("{name}-before"), &format!("{name}-after"))?;
    let compact_isolated = bracket.get("compact_isolated").copied().unwrap_or(0);
    let hook = j["hooks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|h| h["name"] == "isolate_migratepages_block")
        .ok_or("stat lists no isolate_migratepages_block hook")?;
    let nodes: Vec<&Value> = j["nodes"].as_array().into_iter().flatten().collect();
    let sum = |key: &str| -> u64 {
        nodes
            .iter()
            .flat_map(|n| n[key].as_object().into_iter().flatten())
            .filter_map(|(_, v)| v.as_u64())
            .sum()
    };
    let Some(mechanism) = hook["mechanism"].as_str() else {
        let err = hook["error"].as_str().unwrap_or("");
        if !err.contains("bpf_loop") {
            return Err(format!(
                "isolate_migratepages_block not attached, and not for want of bpf_loop: {err}"
            ));
        }
        if nodes.iter().any(|n| !n["isolated_by_compaction"].is_null()) {
            return Err("not hooked, yet a node shows isolated_by_compaction".into());
        }
        return Ok(format!(
            "not hooked, as vmscan says ({err}); no node shows compaction's isolations (compaction migrated {migrated} pages)"
        ));
    };
    if mechanism.split('+').next() != Some(m) {
        return Err(format!(
            "isolate_migratepages_block attached by {mechanism}, not {m}"
        ));
    }
    let (taken, calls) = text("taken")
        .split_once(' ')
        .and_then(|(t, c)| Some((t.parse::<u64>().ok()?, c.parse::<u64>().ok()?)))
        .ok_or(format!("no traced total: {:?}", text("taken")))?;
    let overrun = text("overrun");
    if overrun != "0" {
        return Err(format!(
            "the trace lost {overrun} events: its total ({taken}) is no reference"
        ));
    }
    if nodes.iter().any(|n| n["isolated_by_compaction"].is_null()) {
        return Err(format!(
            "hooked, yet a node has no isolated_by_compaction: {:?}",
            j["nodes"]
        ));
    }
    let ours = sum("isolated_by_compaction");
    let not_lru: u64 = nodes
        .iter()
        .filter_map(|n| n["isolated_by_compaction_not_lru"].as_u64())
        .sum();
    let by_lru = sum("isolated_outside_reclaim");
    if migrated == 0 || taken == 0 {
        return Err(format!(
            "compact_memory migrated {migrated} pages and the trace saw {taken} isolated: the workload tested nothing ({out})"
        ));
    }
    // The kernel's total also counts the non-LRU pages (zsmalloc's, left
    // by the zram scenarios before this one), which vmscan keeps apart.
    if ours + not_lru != taken {
        return Err(format!(
            "vmscan's isolated_by_compaction {ours} + {not_lru} not from an LRU list != the kernel's mm_compaction_isolate_migratepages nr_taken {taken} over {calls} calls ({out})"
        ));
    }
    if ours + not_lru + by_lru < migrated || ours + not_lru > compact_isolated {
        return Err(format!(
            "isolated_by_compaction {ours} (+ folio_isolate_lru's {by_lru}) must cover the {migrated} pages migrated and stay within compact_isolated {compact_isolated}"
        ));
    }
    let rounds = out
        .lines()
        .next()
        .and_then(|l| l.split("; ").nth(1))
        .unwrap_or("");
    Ok(format!(
        "isolated_by_compaction {ours} + {not_lru} not from an LRU list = the kernel's traced nr_taken {taken} ({calls} calls, {rounds}); migrated {migrated} (<= those + folio_isolate_lru's {by_lru}); compact_isolated {compact_isolated} (both scanners)"
    ))
}

/// 24 readers reclaiming one small cgroup at once with shrink_node hooked
/// by kprobe+kretprobe (init.sh: kretmiss): more tasks inside shrink_node
/// than the kernel's default kretprobe has return instances. vmscan's own
/// kretprobes (made through tracefs with 1024) must exist while it runs,
/// see every return, and be removed when it exits. With the kernel's default
/// (`--kretprobe-instances 0`), every call the entry program saw and the
/// return program did not is a return the kernel missed: where it counts
/// them (6.7+) stat's `missed` must cover them all; before 6.7 it must say
/// nothing (no figure, not 0). Last, a stop while attaching
/// ([`kretmiss_interrupted`]).
pub(super) fn kretmiss(b: &Blocks, c: &Config) -> Verdict {
    let counted = KPROBE_SKIPS_COUNTED.contains(&c.kernel);
    let mut out = vec![];
    for m in ["tracefs", "default"] {
        let j = json(b, &format!("kretmiss-{m}"))?;
        let count = |what: &str| kretmiss_text(b, &format!("{m}-{what}"));
        // vmscan's tracefs kretprobe on shrink_node exists exactly in the
        // run that asks for it, and is gone once vmscan exits.
        let (made, left) = (count("made"), count("left"));
        let want = if m == "tracefs" { "1" } else { "0" };
        if made != want {
            return Err(format!(
                "{m}: {made:?} 1024-instance kretprobes on shrink_node in kprobe_events while vmscan ran, want {want}"
            ));
        }
        if left != "0" {
            return Err(format!(
                "{m}: {left:?} of vmscan's kprobe events left in kprobe_events after it exited"
            ));
        }
        let h = j["hooks"]
            .as_array()
            .and_then(|a| a.iter().find(|h| h["name"] == "shrink_node"))
            .ok_or(format!("{m}: no shrink_node hook in stat's output"))?;
        if h["mechanism"] != "kprobe+kretprobe" {
            return Err(format!(
                "{m}: shrink_node attached by {} under --no-fentry",
                h["mechanism"]
            ));
        }
        let entries = h["events"].as_u64().ok_or("shrink_node: no events")?;
        let returns = h["returns"].as_u64().ok_or("shrink_node: no returns")?;
        if entries < 100 {
            return Err(format!(
                "{m}: the readers entered shrink_node only {entries} times"
            ));
        }
        let unseen = entries.saturating_sub(returns);
        let missed = h["missed"].as_u64();
        if missed.is_some() != counted {
            return Err(format!(
                "{m}: shrink_node missed {missed:?} on a kernel that {} kprobe misses",
                if counted { "counts" } else { "does not count" }
            ));
        }
        if m == "tracefs" {
            // Only calls in flight while stat read its two counters (the
            // readers are done; kswapd, one per node, may not be).
            if unseen > 4 || missed.is_some_and(|n| n > 4) {
                return Err(format!(
                    "vmscan's kretprobe: {unseen} of {entries} shrink_node returns unseen, {missed:?} missed"
                ));
            }
            out.push(format!(
                "vmscan's kretprobe: {entries} shrink_node calls, {returns} returns seen"
            ));
            continue;
        }
        // Whether or not the kernel counts them, the default's returns
        // must go unseen: else the workload tested nothing.
        let tries = count("tries");
        if unseen == 0 {
            return Err(format!(
                "the kernel's default kretprobe saw every one of {entries} shrink_node returns in the last of {tries} tries: the workload never ran it out of instances"
            ));
        }
        let tries = match tries.as_str() {
            "1" | "" => String::new(),
            n => format!(" (try {n}: the earlier ones never ran it out)"),
        };
        match missed {
            Some(n) if n < unseen => {
                return Err(format!(
                    "the kernel's default kretprobe: {unseen} of {entries} shrink_node returns unseen, but only {n} runs reported missed"
                ));
            }
            Some(n) => out.push(format!(
                "the kernel's default kretprobe{tries}: {entries} calls, {returns} returns seen, {unseen} missed for want of an instance, reported: missed {n}"
            )),
            None => out.push(format!(
                "the kernel's default kretprobe{tries}: {entries} calls, {returns} returns seen ({unseen} unseen); this kernel does not count kprobe misses (before 6.7) and vmscan reports none, not 0"
            )),
        }
    }
    out.push(kretmiss_interrupted(b)?);
    Ok(out.join("; "))
}

/// The kretmiss scenario's block `kretmiss-{name}`, trimmed ("" where
/// missing).
fn kretmiss_text(b: &Blocks, name: &str) -> String {
    b.get(&format!("kretmiss-{name}"))
        .map(|t| t.trim().to_owned())
        .unwrap_or_default()
}

/// The kretmiss scenario's last run: a SIGINT while vmscan was still
/// attaching, after it had made kprobe events (for shrink_node's and
/// workingset_refault's kretprobes at least). It must remove every one,
/// print nothing and end as SIGINT ends a process (the shell's status 130).
/// workingset_refault is the last hook attached: this is the unwind after
/// the attach loop, not the break inside it (the host test
/// `a_sigint_while_starting_stops_vmscan_cleanly` stops it mid-loop).
fn kretmiss_interrupted(b: &Blocks) -> Result<String, String> {
    let get = |what: &str| kretmiss_text(b, &format!("int-{what}"));
    let err = get("err");
    let made: Vec<&str> = err
        .lines()
        .filter_map(|l| l.split("made the kprobe event vmscan_kret/").nth(1))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for f in ["shrink_node", "workingset_refault"] {
        if !made.iter().any(|e| e.ends_with(&format!("_{f}"))) {
            return Err(format!(
                "stopped while starting: no kprobe event made for {f} before the SIGINT; stderr: {err}"
            ));
        }
    }
    if !err.contains("stopped by SIGINT while starting") {
        return Err(format!(
            "stopped while starting: vmscan did not say it was stopped; stderr: {err}"
        ));
    }
    let (rc, left, out) = (get("rc"), get("left"), get("out"));
    if rc != "130" {
        return Err(format!(
            "stopped while starting: exit status {rc:?}, want 130"
        ));
    }
    if out != "0" {
        return Err(format!(
            "stopped while starting: {out} bytes on stdout, want none"
        ));
    }
    if left != "0" {
        return Err(format!(
            "stopped while starting: {left:?} of the {} kprobe events it made ({}) left in kprobe_events",
            made.len(),
            made.join(", ")
        ));
    }
    Ok(format!(
        "a SIGINT while attaching, after {} kprobe events were made: all removed, ended by the signal (status 130)",
        made.len()
    ))
}

/// Peak RSS of `vmscan stat`, `vmscan export` and the terminal UI, and the
/// exporter's and the UI's CPU per one-second interval, with this boot's
/// possible CPUs; the peaks must stay within [`RSS_LIMIT_KIB`] (stat, the
/// UI) and [`EXPORT_RSS_LIMIT_KIB`]. A boot asked for `possible_cpus=N`
/// that got another count is a SKIP: the kernel sized its CPUs from the
/// firmware's table (6.9+ ignores the parameter).
/// One reading of every map (`vmscan bench-read`) must take batches
/// wherever the kernel has them for the map's type.
pub(super) fn rss(b: &Blocks) -> Verdict {
    let possible = cpulist_len(b.get("possible").ok_or("no `possible` output")?);
    if let Some(wanted) = b
        .get("possible-wanted")
        .and_then(|w| w.trim().parse::<u32>().ok())
        && wanted != possible
    {
        return Ok(format!(
            "{SKIP}asked for possible_cpus={wanted}, the kernel has {possible} possible CPUs (it ignores the parameter)"
        ));
    }
    let hwm = |k: &str| vmhwm_kib(b, k);
    let ticks = |k: &str| {
        b.get(k)
            .and_then(|t| crate::sh::stat_cpu_ticks(t))
            .ok_or_else(|| format!("no /proc/PID/stat in `{k}`"))
    };
    // USER_HZ ticks (10 ms) over 10 one-second intervals: ms per interval.
    let cpu_ms = |k: &str| -> Result<f64, String> {
        Ok(
            ticks(&format!("{k}-cpu1"))?.saturating_sub(ticks(&format!("{k}-cpu0"))?) as f64 * 10.0
                / 10.0,
        )
    };
    let (stat, export) = (hwm("rss-stat")?, hwm("rss-export")?);
    let tui = hwm("rss-tui").map_err(|e| {
        format!(
            "{e}: the terminal UI did not run on ttyS1 ({})",
            b.get("rss-tui-err").map_or("", |t| t.trim())
        )
    })?;
    let figures = format!(
        "{possible} possible CPUs: peak RSS vmscan stat {:.1} MiB, TUI {:.1} MiB, vmscan export {:.1} MiB; CPU per 1 s interval (TCG): TUI {:.0} ms, exporter {:.0} ms",
        stat as f64 / 1024.0,
        tui as f64 / 1024.0,
        export as f64 / 1024.0,
        cpu_ms("rss-tui")?,
        cpu_ms("rss-export")?,
    );
    // One reading of the maps (the part of an interval that grows with the
    // CPUs): every lab kernel (5.6+) must take batches on every map.
    let read = json(b, "rss-read").map_err(|e| {
        format!(
            "{figures}; bench-read: {e} ({})",
            b.get("rss-read-err").map_or("", |t| t.trim())
        )
    })?;
    let us = |k: &str| read[k].as_f64().unwrap_or(f64::NAN);
    // A map type the kernel has no batch operations for (ENOTSUPP: per-CPU
    // arrays on 5.10) is read element by element; any other refusal fails.
    let unbatched = read["unbatched"].as_object().cloned().unwrap_or_default();
    let (lacking, refused): (Vec<_>, Vec<_>) = unbatched
        .iter()
        .partition(|(_, why)| why.as_str().is_some_and(|w| w.starts_with("ENOTSUPP")));
    let figures = format!(
        "{figures}; one reading of the maps ({:.0} KiB of per-CPU values): {:.0} us in batches, {:.0} us element by element ({:.2}x){}",
        us("bytes_per_read") / 1024.0,
        us("batched_us"),
        us("element_us"),
        us("ratio"),
        if lacking.is_empty() {
            String::new()
        } else {
            format!(
                ", {} maps without kernel batch ops (ENOTSUPP) read element by element",
                lacking.len()
            )
        }
    );
    if !refused.is_empty() || (read["maps_batched"] != true && unbatched.is_empty()) {
        return Err(format!(
            "{figures}: the kernel refused BPF_MAP_LOOKUP_BATCH on {refused:?}"
        ));
    }
    if stat > RSS_LIMIT_KIB || tui > RSS_LIMIT_KIB || export > EXPORT_RSS_LIMIT_KIB {
        return Err(format!(
            "{figures}: above the {} MiB target (the exporter's: {} MiB)",
            RSS_LIMIT_KIB / 1024,
            EXPORT_RSS_LIMIT_KIB / 1024
        ));
    }
    Ok(figures)
}

/// The peak RSS (KiB) in block `k`, a `grep VmHWM /proc/PID/status` line.
fn vmhwm_kib(b: &Blocks, k: &str) -> Result<u64, String> {
    b.get(k)
        .and_then(|t| t.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no VmHWM in `{k}`"))
}

/// Memory cgroups the `memcgs` scenario makes, in turn.
const MEMCG_SIZES: [u64; 3] = [100, 1_000, 10_000];
/// How much more a 1 s interval may cost at 10,000 memcgs than at 100: the
/// host's exporter takes 2.9x (1.00% / 0.35%); reading every memcg's files
/// every interval (the cost issue's 55 us per memcg) would be about 100x.
const MEMCG_GROWTH_LIMIT: f64 = 10.0;

/// The exporter's and the terminal UI's CPU per 1 s interval (TCG: the
/// ratios between sizes matter, not the figures) in steady state and over
/// their start-up, peak RSS and the exporter's scrape time with 100, 1,000
/// and 10,000 memory cgroups, each charged a page. Steady cost at 10,000 at
/// most [`MEMCG_GROWTH_LIMIT`] times the cost at 100, for both programs.
pub(super) fn memcgs(b: &Blocks) -> Verdict {
    // /proc/PID/stat every 5 s for 100 s (21 readings) from the moment the
    // program counts: (ms per interval over the last 60 s, ms of CPU in the
    // first 40 s). A whole minute of steady state holds each once-a-minute
    // job (the hierarchy walk) exactly once, so no run's figure catches it
    // and another's misses it. USER_HZ ticks are 10 ms.
    let cpu = |k: &str| -> Result<(f64, f64), String> {
        let ticks: Vec<u64> = b
            .get(k)
            .map(|t| t.lines().filter_map(crate::sh::stat_cpu_ticks).collect())
            .unwrap_or_default();
        if ticks.len() < 21 {
            return Err(format!("{} of 21 CPU readings in `{k}`", ticks.len()));
        }
        let ms = |a: usize, z: usize| ticks[z].saturating_sub(ticks[a]) as f64 * 10.0;
        Ok((ms(8, 20) / 60.0, ms(0, 8)))
    };
    let hwm_mib = |k: &str| vmhwm_kib(b, k).map(|kib| kib as f64 / 1024.0);
    let mut rows = vec![];
    let mut cost = vec![];
    for n in MEMCG_SIZES {
        let made = b
            .get(format!("memcgs-{n}-made").as_str())
            .map_or("", |s| s.trim());
        if made
            .split_whitespace()
            .next()
            .and_then(|m| m.parse::<u64>().ok())
            != Some(n)
        {
            return Err(format!("{n} memcgs wanted: {made:?}"));
        }
        let export = cpu(&format!("memcgs-{n}-export-cpu")).map_err(|e| {
            let err = b.get(format!("memcgs-{n}-export-err").as_str());
            format!("{e}: {}", err.map_or("", |s| s.trim()))
        })?;
        let tui = cpu(&format!("memcgs-{n}-tui-cpu")).map_err(|e| {
            let err = b.get(format!("memcgs-{n}-tui-err").as_str());
            format!(
                "{e}: the terminal UI did not run: {}",
                err.map_or("", |s| s.trim())
            )
        })?;
        let times = b
            .get(format!("memcgs-{n}-export-scrape").as_str())
            .map_or("", String::as_str);
        let scrape = scrape_ms(times)
            .ok_or_else(|| format!("no scrape timed at {n} memcgs: {}", times.trim()))?;
        rows.push(format!(
            "{n} memcgs ({made}): steady exporter {:.0} ms, TUI {:.0} ms per interval (start-up: {:.0} / {:.0} ms of CPU in the first 40 s); scrape {scrape:.0} ms; peak RSS exporter {:.1} MiB, TUI {:.1} MiB",
            export.0,
            tui.0,
            export.1,
            tui.1,
            hwm_mib(&format!("memcgs-{n}-export-hwm"))?,
            hwm_mib(&format!("memcgs-{n}-tui-hwm"))?,
        ));
        cost.push((export.0, tui.0));
    }
    let (first, last) = (cost[0], cost[cost.len() - 1]);
    // A tick's resolution (10 ms over 60 intervals) is the floor.
    let growth = |a: f64, b: f64| b / a.max(0.5);
    let (ge, gt) = (growth(first.0, last.0), growth(first.1, last.1));
    let summary = format!(
        "{}; 10,000 vs 100: exporter {ge:.1}x, TUI {gt:.1}x (at most {MEMCG_GROWTH_LIMIT}x)",
        rows.join("; ")
    );
    if ge > MEMCG_GROWTH_LIMIT || gt > MEMCG_GROWTH_LIMIT {
        return Err(summary);
    }
    Ok(summary)
}

/// The median of busybox `time`'s "real" lines (`real\t0m 0.05s`), in ms;
/// None where a scrape failed (busybox `time` says "Command exited with
/// non-zero status") or none was timed.
fn scrape_ms(times: &str) -> Option<f64> {
    if times.contains("non-zero status") {
        return None;
    }
    let mut ms: Vec<f64> = times
        .lines()
        .filter_map(|l| l.trim().strip_prefix("real"))
        .filter_map(|t| {
            let (m, s) = t.trim().split_once('m')?;
            Some(
                m.trim().parse::<f64>().ok()? * 60e3
                    + s.trim().trim_end_matches('s').parse::<f64>().ok()? * 1e3,
            )
        })
        .collect();
    if ms.is_empty() {
        return None;
    }
    ms.sort_by(f64::total_cmp);
    Some(ms[ms.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memcg_costs_must_not_grow_with_every_memcg() {
        let stat = |ticks: u64| format!("1 (vmscan) S 0 0 0 0 0 0 0 0 0 0 {ticks} 0 0 0");
        // 21 readings 5 s apart: a start-up of 300 ticks, then `per20` ticks
        // in each 20 s.
        let series = |per20: u64| {
            (0..21u64)
                .map(|k| stat(if k == 0 { 0 } else { 300 } + k * per20 / 4))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let console = |export10k: u64| {
            let mut c = String::new();
            for (n, e) in [(100, 10), (1_000, 20), (10_000, export10k)] {
                for (name, text) in [
                    (
                        format!("memcgs-{n}-made"),
                        format!("{n} memcgs made in 3 s"),
                    ),
                    (format!("memcgs-{n}-export-cpu"), series(e)),
                    (format!("memcgs-{n}-tui-cpu"), series(20)),
                    (format!("memcgs-{n}-export-hwm"), "VmHWM: 20480 kB".into()),
                    (format!("memcgs-{n}-tui-hwm"), "VmHWM: 30720 kB".into()),
                    (
                        format!("memcgs-{n}-export-scrape"),
                        "real\t0m 0.05s\nuser\t0m 0.00s\nreal\t0m 1.20s\nreal\t0m 0.07s".into(),
                    ),
                ] {
                    c += &format!("@@BEGIN {name}\n{text}\n@@END {name}\n");
                }
            }
            c
        };
        // 10 ticks over 20 s at 100: 5 ms an interval; 40 ticks at 10,000:
        // 20 ms; the start-up's 300 ticks stay out of the steady figure.
        let ok = memcgs(&blocks(&console(40))).expect("4x");
        assert!(ok.contains("exporter 4.0x"), "{ok}");
        assert!(ok.contains("steady exporter 20 ms"), "{ok}");
        assert!(ok.contains("start-up: 3800 / 3400 ms"), "{ok}");
        assert!(ok.contains("scrape 70 ms"), "{ok}");
        assert!(ok.contains("peak RSS exporter 20.0 MiB"), "{ok}");
        // Every memcg read every interval: far past the limit.
        assert!(memcgs(&blocks(&console(500))).is_err());
        // A scrape that failed is no time.
        let failed = console(40).replace(
            "real\t0m 0.05s",
            "wget: can't connect\nCommand exited with non-zero status 1\nreal\t0m 0.00s",
        );
        assert!(
            memcgs(&blocks(&failed))
                .unwrap_err()
                .contains("no scrape timed")
        );
        // Fewer memcgs than asked for.
        let short = console(40).replace("10000 memcgs made", "9000 memcgs made");
        assert!(
            memcgs(&blocks(&short))
                .unwrap_err()
                .contains("10000 memcgs wanted")
        );
    }

    #[test]
    fn kprobes_may_miss_a_few_calls_only() {
        assert!(kprobe_agrees(13_244, 13_232));
        assert!(kprobe_agrees(65_071, 65_070));
        assert!(kprobe_agrees(63_851, 63_840));
        assert!(kprobe_agrees(65_070, 65_071));
        // Far behind, ahead by more than a read's lag, or nothing counted.
        assert!(!kprobe_agrees(13_244, 13_200));
        assert!(!kprobe_agrees(200_000, 199_800));
        assert!(!kprobe_agrees(1_000, 1_010));
        assert!(!kprobe_agrees(0, 0));
    }

    #[test]
    fn deactivate_needs_equality_on_the_classic_lru_and_a_reason_under_mglru() {
        // Both runs alike: vmscan's figure (None: underivable, with `why`)
        // against /proc/vmstat's growth.
        // Nodes 0 and 1 as stat prints them: the batches' file pages on
        // each, and reclaim's own deactivations on node 0.
        let nodes = |n0: u64, n1: u64, reclaim: u64| {
            serde_json::json!([
                {"node": 0, "batch_deactivated_file": n0, "batch_deactivated_anon": 0, "deactivated": reclaim},
                {"node": 1, "batch_deactivated_file": n1, "batch_deactivated_anon": 0, "deactivated": 0},
            ])
        };
        let console_with =
            |lrugen: &str, ours: Option<u64>, kernel: u64, why: &str, nodes: serde_json::Value| {
                let mut c =
                    format!("@@BEGIN deactivate-lrugen\n{lrugen}\n@@END deactivate-lrugen\n");
                for m in ["fentry", "kprobe"] {
                    let ret = if m == "fentry" { "fexit" } else { "kretprobe" };
                    let hook = |n: &str, m: String| serde_json::json!({"name": n, "mechanism": m});
                    let mut j = serde_json::json!({
                        "hooks": [hook("lru_deactivate_fn", m.into()),
                            hook("lru_deactivate_file", format!("{m}+{ret}"))],
                        "vmstat": {}, "underivable": {}, "nodes": nodes,
                        "self_check": {"checked": 1, "exact": 1,
                            "counters": [{"counter": "pgdeactivate", "vmscan": ours.unwrap_or(0),
                                "divergence_pages": 0}]},
                    });
                    match ours {
                        Some(v) => j["vmstat"]["pgdeactivate"] = v.into(),
                        None => j["underivable"]["pgdeactivate"] = why.into(),
                    }
                    for (name, text) in [
                        (format!("deactivate-{m}"), j.to_string()),
                        (format!("deactivate-{m}-before"), "pgdeactivate 100".into()),
                        (
                            format!("deactivate-{m}-after"),
                            format!("pgdeactivate {}", 100 + kernel),
                        ),
                        (
                            format!("deactivate-{m}-out"),
                            "cold 4096 pages\ndeactivated by node: 0=2048 1=4096".into(),
                        ),
                    ] {
                        c += &format!("@@BEGIN {name}\n{text}\n@@END {name}\n");
                    }
                }
                // The snapshot beside the fentry run: /mv's lruvecs with
                // the nodes' batch figures (the workload is all there), and
                // its memory.stat's growth, their sum.
                let mut lruvecs = vec![serde_json::json!({"node": 0, "memcg": "/"})];
                let mut moved = 0;
                for n in nodes.as_array().unwrap() {
                    let mut l = serde_json::json!({"node": n["node"], "memcg": "/mv"});
                    for f in ["batch_deactivated_file", "batch_deactivated_anon"] {
                        if let Some(v) = n[f].as_u64() {
                            l[f] = v.into();
                            moved += v;
                        }
                    }
                    lruvecs.push(l);
                }
                // Its self-check of /mv: pgdeactivate, exact.
                let check = serde_json::json!({"memcgs": [{"memcg": "/mv", "checked": 1, "exact": 1,
                    "counters": [{"counter": "pgdeactivate", "vmscan": moved,
                        "divergence_pages": 0, "within_slack": false, "slack_pages": 256}]}]});
                for (name, text) in [
                    (
                        "snap",
                        serde_json::json!({"lruvecs": lruvecs, "self_check": check}).to_string(),
                    ),
                    ("memcg-before", "pgdeactivate 5".into()),
                    ("memcg-after", format!("pgdeactivate {}", 5 + moved)),
                ] {
                    c += &format!(
                        "@@BEGIN deactivate-fentry-{name}\n{text}\n@@END deactivate-fentry-{name}\n"
                    );
                }
                c
            };
        // Nodes that add up to vmscan's figure, the workload's pages on
        // theirs (any more from reclaim), or none under MGLRU.
        let console = |lrugen: &str, ours: Option<u64>, kernel: u64, why: &str| {
            let n = match ours {
                Some(v) => nodes(2048, 4096, v.saturating_sub(6144)),
                None => serde_json::json!([{"node": 0, "deactivated": 0}]),
            };
            console_with(lrugen, ours, kernel, why, n)
        };
        let ok = deactivate(&blocks(&console("0x0000", Some(6144), 6144, ""))).expect("exact");
        assert!(ok.contains("pgdeactivate 6144 = /proc/vmstat"), "{ok}");
        assert!(
            ok.contains("/mv against memory.stat: pgdeactivate 6144 exact"),
            "{ok}"
        );
        // /mv's self-check diverging fails it.
        let c = console("0x0000", Some(6144), 6144, "").replace(
            "\"divergence_pages\":0,\"slack_pages\"",
            "\"divergence_pages\":-9,\"slack_pages\"",
        );
        assert!(deactivate(&blocks(&c)).is_err());
        // Classic: one short, too few deactivations, or no figure at all.
        assert!(deactivate(&blocks(&console("none", Some(6143), 6144, ""))).is_err());
        assert!(deactivate(&blocks(&console("0x0000", Some(4096), 4096, ""))).is_err());
        assert!(deactivate(&blocks(&console("0x0000", None, 6144, "MGLRU"))).is_err());
        // A wider window than the workload's may hold more, never less,
        // and only with the self-check exact on that figure.
        let ok = deactivate(&blocks(&console("0x0000", Some(6200), 6144, ""))).expect("wider");
        assert!(ok.contains("56 more"), "{ok}");
        let mut c = console("0x0000", Some(6200), 6144, "");
        c = c.replace("\"divergence_pages\":0", "\"divergence_pages\":56");
        assert!(deactivate(&blocks(&c)).is_err());
        // MGLRU: no figure, and the reason says why; a figure is wrong.
        let ok =
            deactivate(&blocks(&console("0x0007", None, 3, "under MGLRU, ..."))).expect("mglru");
        assert!(ok.contains("underivable"), "{ok}");
        assert!(deactivate(&blocks(&console("0x0001", Some(3), 3, ""))).is_err());
        // Per node: node 1's file counted on node 0, or nodes that do not
        // add up to the counter.
        let ok = deactivate(&blocks(&console("0x0000", Some(6144), 6144, ""))).unwrap();
        assert!(ok.contains("node 1 4096 (workload 4096)"), "{ok}");
        let c = console_with("0x0000", Some(6144), 6144, "", nodes(6144, 0, 0));
        assert!(deactivate(&blocks(&c)).unwrap_err().contains("node 1"));
        let c = console_with("0x0000", Some(6144), 6144, "", nodes(2048, 4000, 0));
        assert!(
            deactivate(&blocks(&c))
                .unwrap_err()
                .contains("add up to 6048")
        );
        // MGLRU: no node shows batch deactivations.
        let c = console_with("0x0007", None, 3, "under MGLRU", nodes(0, 0, 0));
        assert!(deactivate(&blocks(&c)).unwrap_err().contains("no node"));
        // Per memcg (the snapshot's /mv): its lruvecs, its memory.stat.
        let ok = deactivate(&blocks(&console("0x0000", Some(6144), 6144, ""))).unwrap();
        assert!(
            ok.contains("memcg /mv by snapshot: 6144 pages (node 0 2048, node 1 4096) = its memory.stat pgdeactivate growth, of stat's 6144"),
            "{ok}"
        );
        let c = console("0x0000", Some(6144), 6144, "");
        let short = c.replace("pgdeactivate 6149", "pgdeactivate 6549");
        assert!(
            deactivate(&blocks(&short))
                .unwrap_err()
                .contains("memory.stat pgdeactivate grew 6544")
        );
        let slack = c.replace("pgdeactivate 6149", "pgdeactivate 6159");
        assert!(
            deactivate(&blocks(&slack))
                .unwrap()
                .contains("within the unflushed")
        );
        // cgroup v1: no such counter in memory.stat; said so.
        let v1 = c
            .replace("pgdeactivate 6149", "pgpgin 7")
            .replace("pgdeactivate 5", "pgpgin 1");
        assert!(deactivate(&blocks(&v1)).unwrap().contains("(cgroup v1)"));
        // /mv's node 1 short of the workload's pages, or a lruvec that
        // derives nothing.
        let c1 = c.replace(
            "\"batch_deactivated_file\":4096,\"memcg\":\"/mv\"",
            "\"batch_deactivated_file\":4000,\"memcg\":\"/mv\"",
        );
        assert_ne!(c1, c, "the snapshot's JSON as the test writes it");
        assert!(deactivate(&blocks(&c1)).unwrap_err().contains("/mv node 1"));
        // MGLRU: a lruvec that shows batch deactivations is wrong.
        let c = console_with(
            "0x0007",
            None,
            3,
            "under MGLRU",
            serde_json::json!([{"node": 0}]),
        )
        .replace(
            "\"memcg\":\"/\"",
            "\"memcg\":\"/\",\"batch_deactivated_file\":1",
        );
        assert!(deactivate(&blocks(&c)).unwrap_err().contains("no lruvec"));
    }

    #[test]
    fn refault_self_check_needs_refaults_and_exactness() {
        let console = |vmscan: u64, kernel: u64| {
            let c = |name: &str, v: u64, k: u64| {
                serde_json::json!({"counter": name, "vmscan": v, "kernel_min": k,
                    "kernel_max": k, "divergence_pages": v.abs_diff(k), "within_slack": false})
            };
            let j = serde_json::json!({"self_check": {"counters": [
                c("workingset_refault_file", vmscan, kernel),
                c("workingset_refault_anon", 0, 0),
                c("pgscan_file", 7, 7),
            ]}});
            format!("@@BEGIN refault-stat\n{j}\n@@END refault-stat\n")
        };
        let ok = refault_self_check(&blocks(&console(2304, 2304))).expect("exact");
        assert!(ok.contains("2 workingset counters exact"), "{ok}");
        // Too few refaults to mean anything, or a divergence.
        assert!(refault_self_check(&blocks(&console(100, 100))).is_err());
        assert!(refault_self_check(&blocks(&console(30000, 30001))).is_err());
    }

    #[test]
    fn stat_must_put_the_read_on_node_0() {
        let stat = |n0: u64, n1: u64| {
            serde_json::json!({"nodes": [
                {"node": 0, "inserted": {"inactive_file": n0, "active_file": 0}},
                {"node": 1, "inserted": {"inactive_file": n1 / 2, "active_file": n1 - n1 / 2}},
            ]})
        };
        assert!(node_insertions(&stat(200_000, 300)).is_ok());
        // Short of the file's pages, or the pages put on the wrong node.
        assert!(node_insertions(&stat(100_000, 300)).is_err());
        assert!(node_insertions(&stat(200_000, 100_000)).is_err());
        assert!(node_insertions(&serde_json::json!({"nodes": []})).is_err());
    }

    #[test]
    fn blocks_are_the_lines_between_markers() {
        let console = "boot noise\n@@BEGIN a\n{\"x\": 1}\nsecond\n@@END a\nbetween\n@@BEGIN b\n@@END b\n@@BEGIN cut\nno end\n";
        let b = blocks(console);
        assert_eq!(b.get("a").map(String::as_str), Some("{\"x\": 1}\nsecond\n"));
        assert_eq!(b.get("b").map(String::as_str), Some(""));
        // A block the guest never closed (it hung or was killed) is left out.
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn json_skips_what_comes_before_the_object() {
        let b = blocks(
            "@@BEGIN j\nvmscan: counting\n{\"n\": 7}\n@@END j\n@@BEGIN bad\noops\n@@END bad\n",
        );
        assert_eq!(json(&b, "j").unwrap()["n"], 7);
        assert!(json(&b, "bad").unwrap_err().contains("no JSON: oops"));
        assert!(
            json(&b, "missing")
                .unwrap_err()
                .contains("no `missing` output")
        );
    }

    #[test]
    fn rereads_missed_are_disk_reads_past_the_first_pass() {
        let d = |kib: u64| BTreeMap::from([("pgpgin".to_owned(), kib)]);
        // The first pass (12,288 pages after drop_caches) and 20,000 more.
        assert_eq!(rereads_missed(&d(4 * (12288 + 20000))), Some(20000));
        // Every re-read hit: only the first pass came from the disk.
        assert_eq!(rereads_missed(&d(4 * 12288)), Some(0));
        // Less than one pass from the disk, or no pgpgin: not measured.
        assert_eq!(rereads_missed(&d(4 * 100)), None);
        assert_eq!(rereads_missed(&BTreeMap::new()), None);
    }

    #[test]
    fn numbers_after_their_names_in_workload_lines() {
        let l = "file 4096 pages, anon 2048 pages";
        assert_eq!(
            (number_after(l, "file"), number_after(l, "anon")),
            (Some(4096), Some(2048))
        );
        let v = "compact_isolated 704, compact_isolated_x 9, pgmigrate_success 129";
        assert_eq!(number_after(v, "compact_isolated"), Some(704));
        assert_eq!(number_after(v, "pgmigrate_success"), Some(129));
        assert_eq!(number_after(v, "pgmigrate_fail"), None);
    }

    #[test]
    fn vmstat_delta_keeps_counters_that_grew_and_drops_gauges_that_fell() {
        let b = blocks(
            "@@BEGIN v0\npgsteal_file 100\nnr_free_pages 5000\npgscan_anon 7\n@@END v0\n@@BEGIN v1\npgsteal_file 350\nnr_free_pages 4000\npgscan_anon 7\npswpout 3\n@@END v1\n",
        );
        let d = vmstat_delta(&b, "v0", "v1").unwrap();
        assert_eq!(d.get("pgsteal_file"), Some(&250));
        assert_eq!(d.get("pgscan_anon"), Some(&0));
        // Absent before: counted from zero.
        assert_eq!(d.get("pswpout"), Some(&3));
        assert_eq!(d.get("nr_free_pages"), None);
        assert!(vmstat_delta(&b, "v0", "nope").is_err());
    }

    #[test]
    fn same_as_vmstat_names_the_first_difference() {
        let delta: BTreeMap<String, u64> = [
            ("pgscan_file".to_owned(), 10),
            ("pgsteal_file".to_owned(), 4),
        ]
        .into();
        let j: Value = serde_json::json!({"vmstat": {"pgscan_file": 10, "pgsteal_file": 5}});
        assert_eq!(
            same_as_vmstat(&j, &delta, &["pgscan_file"], "fentry").unwrap(),
            ""
        );
        assert_eq!(
            same_as_vmstat(&j, &delta, &["pgscan_file", "pgsteal_file"], "fentry").unwrap_err(),
            "fentry: pgsteal_file: vmscan 5 vs /proc/vmstat 4"
        );
        // Left out with its reason: passes and says so; left out silently: fails.
        let j: Value =
            serde_json::json!({"vmstat": {}, "underivable": {"pgscan_file": "no tracepoints"}});
        assert_eq!(
            same_as_vmstat(&j, &delta, &["pgscan_file"], "fentry").unwrap(),
            "vmscan leaves out pgscan_file (no tracepoints)"
        );
        assert!(
            same_as_vmstat(&j, &delta, &["pgsteal_file"], "fentry")
                .unwrap_err()
                .contains("no figure and no reason")
        );
    }

    #[test]
    fn mglru_follows_the_kernel() {
        let active =
            r#"{"fields": ["deactivated"], "reason": "MGLRU never runs shrink_active_list"}"#;
        let passes = r#"{"fields": ["scanned"], "reason": "MGLRU before 6.7 fires no isolate/shrink tracepoints"}"#;
        let marks = |labels: &[&str]| {
            let rows: Vec<String> = labels
                .iter()
                .map(|o| format!(r#"{{"outcome": "{o}", "calls": 3}}"#))
                .collect();
            rows.join(", ")
        };
        let numa_with = |underivable: &str, node: &str, access: &str| {
            format!(
                "@@BEGIN numa\n{{\"mglru\": true, \"lruvecs\": [{{\"generations\": []}}], \"totals\": {{\"underivable\": {{{underivable}}}}}, \"nodes\": [{node}], \"access\": [{access}]}}\n@@END numa\n"
            )
        };
        let numa = |underivable: &str, node: &str| {
            numa_with(underivable, node, &marks(&["referenced", "repeat"]))
        };
        // 6.7+: the passes are seen; shrink_active_list's figures are out.
        let on = numa(
            "",
            &format!(
                r#"{{"node": 0, "priority": [1], "rates": {{"scanned": 2.0, "reclaimed": 1.0, "not_derived": [{active}]}}}}"#
            ),
        );
        let cfg = |l: &str| super::super::CONFIGS.iter().find(|c| c.label == l).unwrap();
        assert!(mglru(&blocks(&on), cfg("6.12")).is_ok());
        assert!(mglru(&blocks(&on), cfg("6.1")).is_err());
        // Before 6.7: the passes' figures are out too, with the reason.
        let before = |rates: &str| {
            numa(
                r#""pgscan_file": "MGLRU before 6.7""#,
                &format!(
                    r#"{{"node": 0, "rates": {{{rates}"not_derived": [{passes}, {active}]}}}}"#
                ),
            )
        };
        assert!(mglru(&blocks(&before("")), cfg("6.1+mglru")).is_ok());
        let zeros = before(r#""scanned": 0.0, "reclaimed": 0.0, "#);
        assert!(
            mglru(&blocks(&zeros), cfg("6.1+mglru")).is_err(),
            "zeros shown"
        );
        assert!(mglru(&blocks(&on), cfg("6.1+mglru")).is_ok());
        let silent = numa(
            r#""pgscan_file": "MGLRU before 6.7""#,
            &format!(r#"{{"node": 0, "rates": {{"not_derived": [{active}]}}}}"#),
        );
        assert!(
            mglru(&blocks(&silent), cfg("6.1+mglru")).is_err(),
            "no reason given"
        );
        let off = "@@BEGIN numa\n{\"mglru\": false, \"lruvecs\": [{}]}\n@@END numa\n";
        assert!(mglru(&blocks(off), cfg("6.12-classic")).is_ok());
        // Entry-flag labels: MGLRU's only referenced/unevictable/repeat, with
        // repeats; the classic LRU's never MGLRU's.
        let node = format!(
            r#"{{"node": 0, "priority": [1], "rates": {{"scanned": 2.0, "reclaimed": 1.0, "not_derived": [{active}]}}}}"#
        );
        for labels in [
            &["referenced", "tier_up", "repeat"][..],
            &["referenced"][..],
        ] {
            let j = numa_with("", &node, &marks(labels));
            assert!(mglru(&blocks(&j), cfg("6.12")).is_err(), "{labels:?}");
        }
        let classic = |labels: &[&str]| {
            format!(
                "@@BEGIN numa\n{{\"mglru\": false, \"lruvecs\": [{{}}], \"access\": [{}]}}\n@@END numa\n",
                marks(labels)
            )
        };
        assert!(
            mglru(
                &blocks(&classic(&["referenced", "activated", "no_effect"])),
                cfg("6.12-classic")
            )
            .is_ok()
        );
        assert!(
            mglru(
                &blocks(&classic(&["referenced", "repeat"])),
                cfg("6.12-classic")
            )
            .is_err()
        );
        assert!(mglru(&blocks(off), cfg("5.10")).unwrap().starts_with(SKIP));
    }

    #[test]
    fn rss_accepts_only_missing_batch_ops() {
        let stat = |ticks: u32| format!("1 (vmscan) S 0 0 0 0 0 0 0 0 0 0 {ticks} 0 0 0");
        let blocks = |read: &str| -> super::Blocks {
            [
                ("possible", "0-1".to_owned()),
                ("rss-stat", "VmHWM: 17000 kB".to_owned()),
                ("rss-export", "VmHWM: 18000 kB".to_owned()),
                ("rss-tui", "VmHWM: 19000 kB".to_owned()),
                ("rss-export-cpu0", stat(10)),
                ("rss-export-cpu1", stat(30)),
                ("rss-tui-cpu0", stat(10)),
                ("rss-tui-cpu1", stat(35)),
                ("rss-read", read.to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
        };
        let read = |unbatched: &str| {
            format!(
                r#"{{"batched_us":50.0,"element_us":100.0,"ratio":0.5,"bytes_per_read":27648,"maps_batched":{},"unbatched":{unbatched}}}"#,
                unbatched == "{}"
            )
        };
        let ok = super::rss(&blocks(&read("{}"))).unwrap();
        assert!(ok.contains("TUI 25 ms, exporter 20 ms"), "{ok}");
        assert!(
            ok.contains(
                "(27 KiB of per-CPU values): 50 us in batches, 100 us element by element (0.50x)"
            ),
            "{ok}"
        );
        let lacking = super::rss(&blocks(&read(
            r#"{"HIST":"ENOTSUPP: this kernel has no batch lookup"}"#,
        )))
        .unwrap();
        assert!(
            lacking.contains("1 maps without kernel batch ops"),
            "{lacking}"
        );
        let refused = super::rss(&blocks(&read(
            r#"{"HIST":"Invalid argument (os error 22)"}"#,
        )));
        assert!(refused.is_err_and(|e| e.contains("refused BPF_MAP_LOOKUP_BATCH")));
        assert!(super::rss(&blocks("")).is_err(), "no bench-read output");
    }

    #[test]
    fn cpulists_count_their_cpus() {
        assert_eq!(super::cpulist_len("0-1\n"), 2);
        assert_eq!(super::cpulist_len("0-255"), 256);
        assert_eq!(super::cpulist_len("0,2-3,7"), 4);
        assert_eq!(super::cpulist_len(""), 0);
    }
}
