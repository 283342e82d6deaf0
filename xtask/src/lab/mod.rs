//! The kernel lab: vmscan's kernel tests on stock Debian kernels (5.10,
//! 6.1, 6.12, 7.2) in QEMU (TCG), with two NUMA nodes, fentry and kprobes,
//! each kernel that has MGLRU compiled in run with it on and off, and one
//! configuration on cgroup v1.
//!
//! The host builds a static (musl) vmscan, fetches the kernel packages with
//! apt-get download (cached under target/lab), extracts the uncompressed
//! vmlinux (booted through its PVH entry), writes an initramfs of busybox,
//! vmscan and an /init that runs the selected scenarios and prints their
//! raw output between markers on the serial console; the host then checks
//! the figures and prints a kernel x scenario table.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail};

use crate::sh::say;
use checks::{Blocks, Verdict, blocks};
use image::{disk, initramfs, prepare, tools_image};
use kernels::{KERNELS, Kernel, fetch_kernel};
use qemu::{Boot, boot, boot_finished};

mod checks;
mod image;
mod kernels;
mod qemu;

/// A scenario of the lab: the guest runs its branch of init.sh when its name
/// is on the kernel command line, the host judges what it printed. Adding
/// one is an entry here and a branch in init.sh.
struct Scenario {
    name: &'static str,
    /// Other scenarios whose output the check reads: the guest runs them too.
    needs: &'static [&'static str],
    /// Judges the console's blocks for the configuration booted.
    check: fn(&Blocks, &Config) -> Verdict,
    /// The guest needs the CPU-less third node that can be onlined as a
    /// slower memory tier (see qemu::Boot::tier_node).
    tier_node: bool,
    /// Where CI runs it only on some configurations (by label) of those
    /// whose lists name it: one kernel per answer is enough there.
    ci_only_on: Option<&'static [&'static str]>,
}

/// A kernel booted in one configuration: its LRU and its cgroup version.
/// The table's rows are named by `label`.
pub(super) struct Config {
    pub(super) label: &'static str,
    /// The [`Kernel`]'s label.
    pub(super) kernel: &'static str,
    /// MGLRU switched on (Some(true)) or off (Some(false)) through
    /// /sys/kernel/mm/lru_gen/enabled; None where it is compiled out.
    pub(super) mglru: Option<bool>,
    /// The memory controller mounted as cgroup v1 instead of v2.
    pub(super) cgroup_v1: bool,
    /// The scenarios `cargo xtask test` runs here (CI's fixed subset: every
    /// kernel at least once within CI's time); `cargo xtask lab` runs all.
    pub(super) ci: &'static [&'static str],
    /// How long one boot with every scenario may take here.
    pub(super) limit: Duration,
}

const fn cfg(
    label: &'static str,
    kernel: &'static str,
    mglru: Option<bool>,
    cgroup_v1: bool,
    ci: &'static [&'static str],
) -> Config {
    Config {
        label,
        kernel,
        mglru,
        cgroup_v1,
        ci,
        limit: SCENARIOS_LIMIT,
    }
}

/// Every scenario, for the configurations CI runs in full.
const ALL: &[&str] = &[
    "hooks",
    "truth",
    "numa",
    "mglru",
    "model",
    "exit",
    "swap",
    "refault",
    "ancestor",
    "softlimit",
    "hotplug",
    "proactive",
    "thp",
    "collapse",
    "pageout",
    "lazyfree",
    "deactivate",
    "mlock",
    "irqctx",
    "compact",
    "kretmiss",
    "rss",
    "demote",
];

/// Every configuration, in table order: each kernel with its default LRU
/// first, then the other one; 6.1 on cgroup v1 (Debian 12's hosts still
/// run it; soft-limit reclaim exists only there).
pub(super) static CONFIGS: [Config; 8] = [
    cfg("5.10", "5.10", None, false, ALL),
    cfg("6.1", "6.1", Some(false), false, ALL),
    cfg("6.1+mglru", "6.1", Some(true), false, ALL),
    cfg("6.1-cgv1", "6.1", Some(false), true, ALL),
    cfg("6.12", "6.12", Some(true), false, ALL),
    cfg("6.12-classic", "6.12", Some(false), false, &[]),
    // swap on 7.2 is slow under TCG: with MGLRU it took 5 minutes (its
    // counters equal /proc/vmstat; 121 million anon pages scanned for 4706
    // swapped at swappiness 200), with the classic LRU 13 minutes (below).
    // `cargo xtask lab` runs it; CI leaves it out.
    cfg(
        "7.2",
        "7.2",
        Some(true),
        false,
        &[
            "hooks",
            "truth",
            "numa",
            "mglru",
            "model",
            "exit",
            "refault",
            "ancestor",
            "hotplug",
            "thp",
            "collapse",
            "pageout",
            "lazyfree",
            "deactivate",
            "mlock",
            "irqctx",
            "compact",
            "kretmiss",
            "demote",
            "proactive",
        ],
    ),
    // Its swap scenario alone took 780 s under TCG (704 million anon pages
    // scanned at swappiness 200 for 4688 swapped out; counters = /proc/vmstat).
    Config {
        limit: Duration::from_secs(1500),
        ..cfg("7.2-classic", "7.2", Some(false), false, &[])
    },
];

/// Every scenario, in the order `--scenario` defaults to and the table lists.
static SCENARIOS: [Scenario; 24] = [
    Scenario {
        name: "hooks",
        needs: &[],
        check: checks::hooks,
        tier_node: false,
        ci_only_on: None,
    },
    Scenario {
        name: "truth",
        needs: &[],
        check: checks::truth,
        tier_node: false,
        ci_only_on: None,
    },
    Scenario {
        name: "numa",
        needs: &[],
        check: |b, _| checks::numa(b),
        tier_node: false,
        ci_only_on: None,
    },
    // The MGLRU check reads the probes and NUMA outputs.
    Scenario {
        name: "mglru",
        needs: &["hooks", "numa"],
        check: checks::mglru,
        tier_node: false,
        ci_only_on: None,
    },
    Scenario {
        name: "model",
        needs: &[],
        check: |b, _| checks::model(b),
        tier_node: false,
        ci_only_on: None,
    },
    Scenario {
        name: "exit",
        needs: &[],
        check: |b, _| checks::exit(b),
        tier_node: false,
        ci_only_on: None,
    },
    Scenario {
        name: "swap",
        needs: &[],
        check: |b, _| checks::swap(b),
        tier_node: false,
        ci_only_on: None,
    },
    Scenario {
        name: "refault",
        needs: &[],
        check: checks::refault,
        tier_node: false,
        ci_only_on: None,
    },
    Scenario {
        name: "ancestor",
        needs: &[],
        check: |b, _| checks::ancestor(b),
        tier_node: false,
        ci_only_on: None,
    },
    Scenario {
        name: "softlimit",
        needs: &[],
        check: checks::softlimit,
        tier_node: false,
        ci_only_on: None,
    },
    Scenario {
        name: "hotplug",
        needs: &[],
        check: |b, _| checks::hotplug(b),
        tier_node: false,
        ci_only_on: None,
    },
    Scenario {
        name: "proactive",
        needs: &[],
        check: |b, _| checks::proactive(b),
        tier_node: false,
        ci_only_on: None,
    },
    Scenario {
        name: "thp",
        needs: &[],
        check: |b, _| checks::thp(b),
        tier_node: false,
        ci_only_on: None,
    },
    Scenario {
        name: "collapse",
        needs: &[],
        check: |b, _| checks::collapse(b),
        tier_node: false,
        ci_only_on: None,
    },
    Scenario {
        name: "pageout",
        needs: &[],
        check: |b, _| checks::pageout(b),
        tier_node: false,
        ci_only_on: None,
    },
    Scenario {
        name: "lazyfree",
        needs: &[],
        check: |b, _| checks::lazyfree(b),
        tier_node: false,
        ci_only_on: None,
    },
    Scenario {
        name: "deactivate",
        needs: &[],
        check: |b, _| checks::deactivate(b),
        tier_node: false,
        ci_only_on: None,
    },
    Scenario {
        name: "mlock",
        needs: &[],
        check: |b, _| checks::mlock(b),
        tier_node: false,
        ci_only_on: None,
    },
    Scenario {
        name: "irqctx",
        needs: &[],
        check: |b, _| checks::irqctx(b),
        tier_node: false,
        ci_only_on: None,
    },
    Scenario {
        name: "compact",
        needs: &[],
        check: |b, _| checks::compact(b),
        tier_node: false,
        ci_only_on: None,
    },
    Scenario {
        name: "kretmiss",
        needs: &[],
        check: checks::kretmiss,
        tier_node: false,
        // Under TCG it takes 30 s to 3 minutes a configuration (millions of
        // shrink_node calls): CI runs it where the kernel counts kprobe
        // misses (6.12, 7.2) and on one kernel that does not (5.10).
        ci_only_on: Some(&["5.10", "6.12", "7.2"]),
    },
    Scenario {
        name: "rss",
        needs: &[],
        check: |b, _| checks::rss(b),
        tier_node: false,
        ci_only_on: None,
    },
    // A measurement run on demand (`--scenario memcgs`): about 13 minutes a
    // configuration under TCG; CI's lists leave it out.
    Scenario {
        name: "memcgs",
        needs: &[],
        check: |b, _| checks::memcgs(b),
        tier_node: false,
        ci_only_on: None,
    },
    Scenario {
        name: "demote",
        needs: &[],
        check: |b, _| checks::demote(b),
        tier_node: true,
        ci_only_on: None,
    },
];

/// A verdict's detail that starts with this is a SKIP: the kernel lacks
/// what the scenario needs, and the rest of the detail says what.
pub(super) const SKIP: &str = "SKIP: ";

/// How long one boot running the scenarios may take, unless its
/// configuration says otherwise (VMSCAN_LAB_LIMIT_SECS overrides both).
const SCENARIOS_LIMIT: Duration = Duration::from_secs(900);

/// What the memcgs scenario adds to a boot's limit.
const MEMCGS_EXTRA: Duration = Duration::from_secs(1200);

fn scenarios_limit(c: &Config) -> Duration {
    std::env::var("VMSCAN_LAB_LIMIT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(c.limit, Duration::from_secs)
}
/// How long one boot running the benchmark may take, in full and --quick.
const BENCH_LIMIT: Duration = Duration::from_secs(3600);
const QUICK_BENCH_LIMIT: Duration = Duration::from_secs(1500);

fn lab_dir() -> PathBuf {
    crate::sh::root().join("target/lab")
}

/// The kernels the benchmark boots when none is named: those its published
/// results were measured on (5.10 and 7.2 can be named with --kernel).
const BENCH_KERNELS: [&str; 2] = ["6.1", "6.12"];

/// The benchmark's kernels: the one asked for, else [`BENCH_KERNELS`].
fn kernels(wanted: Option<&str>) -> Vec<&'static Kernel> {
    KERNELS
        .iter()
        .filter(|k| wanted.map_or(BENCH_KERNELS.contains(&k.label), |w| w == k.label))
        .collect()
}

/// The configurations asked for: `--kernel 6.1` names every configuration
/// of that kernel, `--kernel 6.1+mglru` one (comma-separated lists too);
/// all of them when none is named.
fn configs(wanted: Option<&str>) -> anyhow::Result<Vec<&'static Config>> {
    let Some(wanted) = wanted else {
        return Ok(CONFIGS.iter().collect());
    };
    let mut out: Vec<&'static Config> = vec![];
    for w in wanted.split(',').map(str::trim) {
        let found: Vec<&Config> = CONFIGS
            .iter()
            .filter(|c| c.label == w || c.kernel == w)
            .collect();
        if found.is_empty() {
            let names: Vec<&str> = CONFIGS.iter().map(|c| c.label).collect();
            bail!("unknown kernel {w:?}: expected one of {names:?}");
        }
        for c in found {
            if !out.iter().any(|o| o.label == c.label) {
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// A kernel ready to boot: its vmlinux and an initramfs with vmscan (and
/// xtask, for the benchmark) and the kernel's modules.
fn guest(k: &Kernel, vmscan: &Path, xtask: Option<&Path>) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (vmlinux, kroot) = fetch_kernel(k)?;
    let initrd = initramfs(vmscan, xtask, k.label, &kroot)?;
    Ok((vmlinux, initrd))
}

/// `cargo xtask bench lab`: the overhead benchmark inside the lab's guests,
/// where the kernel takes fentry and kprobes. Returns (kernel, rows) each.
/// `marks_only`: only the folio_mark_accessed trigger loop.
pub fn bench(
    quick: bool,
    kernel: Option<&str>,
    marks_only: bool,
) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let bins = prepare(&["vmscan-user", "xtask"])?;
    let tools = tools_image()?;
    let mut out = vec![];
    for k in kernels(kernel) {
        let (vmlinux, initrd) = guest(k, &bins[0], Some(&bins[1]))?;
        let log = lab_dir().join(format!("console-bench-{}.log", k.label));
        say(&format!(
            "kernel lab: benchmarking in {} (console log: {})",
            k.label,
            log.display()
        ));
        let b = Boot {
            scenarios: format!(
                "bench{}{}",
                if quick { ",quick" } else { "" },
                if marks_only { ",marks" } else { "" }
            ),
            tools: Some(&tools),
            limit: if quick {
                QUICK_BENCH_LIMIT
            } else {
                BENCH_LIMIT
            },
            interactive: false,
            append: String::new(),
            tier_node: false,
        };
        let (console, release) = boot_finished(&vmlinux, &initrd, &b, &log, k.label)?;
        let bl = blocks(&console);
        let rows: Vec<String> = bl
            .get("bench")
            .map(|t| t.lines().map(str::to_owned).collect())
            .unwrap_or_default();
        if rows.iter().all(|r| !r.starts_with('|')) {
            bail!(
                "the benchmark in {release} printed no table; it said: {}",
                bl.get("bench-err")
                    .map(|e| e.trim())
                    .unwrap_or("nothing (see the console log)")
            );
        }
        out.push((release, rows));
    }
    Ok(out)
}

pub struct LabOptions {
    /// Only CI's fixed subset (each configuration's `ci` scenarios).
    pub ci: bool,
    pub kernel: Option<String>,
    pub scenario: Option<String>,
    pub shell: bool,
    /// Boot each configuration once per count with `possible_cpus=N` (the
    /// rss scenario's per-CPU figures); empty: the guest's own two.
    pub possible_cpus: Vec<u32>,
}

/// One line of the kernel x scenario table.
struct Row {
    kernel: String,
    scenario: &'static str,
    result: &'static str,
    detail: String,
}

pub fn run(o: &LabOptions) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let configs = configs(o.kernel.as_deref())?;
    let scenarios = select(o.scenario.as_deref())?;
    let vmscan = prepare(&["vmscan-user"])?.remove(0);
    if o.shell {
        return shell(&vmscan, configs[0]);
    }
    let mut rows = vec![];
    for c in configs {
        let mine: Vec<&Scenario> = if o.ci {
            scenarios
                .iter()
                .copied()
                .filter(|s| {
                    c.ci.contains(&s.name) && s.ci_only_on.is_none_or(|l| l.contains(&c.label))
                })
                .collect()
        } else {
            scenarios.clone()
        };
        if mine.is_empty() {
            continue;
        }
        if o.possible_cpus.is_empty() {
            rows.extend(run_config(&vmscan, c, &mine, None)?);
        }
        for &n in &o.possible_cpus {
            rows.extend(run_config(&vmscan, c, &mine, Some(n))?);
        }
    }
    print_table(&rows);
    println!("\nkernel lab: {:.0} s in all", t0.elapsed().as_secs_f64());
    let (pass, skip) = (
        rows.iter().filter(|r| r.result == "PASS").count(),
        rows.iter().filter(|r| r.result == "SKIP").count(),
    );
    println!(
        "kernel lab: {pass} PASS, {skip} SKIP, {} FAIL",
        rows.len() - pass - skip
    );
    if rows.iter().any(|r| r.result == "FAIL") {
        bail!("kernel lab: some scenarios failed (console logs under target/lab)");
    }
    Ok(())
}

/// The scenarios named in `--scenario` (comma-separated), or all of them.
fn select(wanted: Option<&str>) -> anyhow::Result<Vec<&'static Scenario>> {
    let Some(wanted) = wanted else {
        return Ok(SCENARIOS.iter().collect());
    };
    wanted
        .split(',')
        .map(str::trim)
        .map(|s| {
            SCENARIOS.iter().find(|x| x.name == s).ok_or_else(|| {
                let names: Vec<&str> = SCENARIOS.iter().map(|x| x.name).collect();
                anyhow!("unknown scenario `{s}`: expected one of {names:?}")
            })
        })
        .collect()
}

/// The guest's vmscan.scenarios=: the scenarios asked for, then those their
/// checks read as well.
fn guest_scenarios(scenarios: &[&Scenario]) -> String {
    let mut names: Vec<&str> = scenarios.iter().map(|s| s.name).collect();
    names.extend(scenarios.iter().flat_map(|s| s.needs.iter().copied()));
    names.join(",")
}

fn kernel_of(c: &Config) -> &'static Kernel {
    KERNELS
        .iter()
        .find(|k| k.label == c.kernel)
        .expect("every configuration names a kernel of KERNELS")
}

/// The guest's settings on its command line: the LRU to switch to and the
/// cgroup version to mount.
fn settings(c: &Config) -> String {
    let lru = match c.mglru {
        Some(true) => " vmscan.lru=y",
        Some(false) => " vmscan.lru=n",
        None => "",
    };
    format!("{lru}{}", if c.cgroup_v1 { " vmscan.cgroup=1" } else { "" })
}

/// `--shell`: boots the kernel with vmscan inside and a shell on the console.
fn shell(vmscan: &Path, c: &Config) -> anyhow::Result<()> {
    let (vmlinux, initrd) = guest(kernel_of(c), vmscan, None)?;
    say("booting with a shell on the serial console (poweroff -f to leave)");
    let b = Boot {
        scenarios: format!("shell{}", settings(c)),
        tools: None,
        limit: Duration::MAX,
        interactive: true,
        append: String::new(),
        tier_node: false,
    };
    boot(
        &vmlinux,
        &initrd,
        &disk()?,
        &b,
        &lab_dir().join("shell.log"),
    )?;
    Ok(())
}

/// Boots one configuration with the scenarios (and `possible_cpus=N`) and
/// checks what it printed; prints a line per scenario as it goes.
fn run_config(
    vmscan: &Path,
    c: &Config,
    scenarios: &[&Scenario],
    possible: Option<u32>,
) -> anyhow::Result<Vec<Row>> {
    let t0 = Instant::now();
    let (vmlinux, initrd) = guest(kernel_of(c), vmscan, None)?;
    let cpus = possible.map(|n| format!("-{n}cpus")).unwrap_or_default();
    let log = lab_dir().join(format!("console-{}{cpus}.log", c.label));
    say(&format!(
        "kernel lab: booting {}{cpus} (console log: {})",
        c.label,
        log.display()
    ));
    let append = possible
        .map(|n| format!(" possible_cpus={n}"))
        .unwrap_or_default();
    let tier_node = scenarios.iter().any(|s| s.tier_node);
    let b = Boot {
        scenarios: format!("{}{}", guest_scenarios(scenarios), settings(c)),
        tools: None,
        // memcgs measures for about 13 minutes under TCG on its own.
        limit: scenarios_limit(c)
            + if scenarios.iter().any(|s| s.name == "memcgs") {
                MEMCGS_EXTRA
            } else {
                Duration::ZERO
            },
        interactive: false,
        append,
        tier_node,
    };
    let (console, release) = boot_finished(&vmlinux, &initrd, &b, &log, c.label)?;
    let b = blocks(&console);
    checks::save_formats(&b, c.kernel);
    let done = console.contains("@@DONE");
    let name = match possible {
        Some(n) => format!("{} ({release}, possible_cpus={n})", c.label),
        None => format!("{} ({release})", c.label),
    };
    let account = qemu::account(&console);
    let timeline = qemu::timeline(&console);
    let finished = |name: &str| timeline.iter().any(|(n, took)| n == name && took.is_some());
    let rows = scenarios.iter().map(|s| {
        let v = if !done && b.is_empty() {
            Err("the guest printed nothing (boot failed or timed out)".into())
        } else if !done && !finished(s.name) {
            // Its output, if any, is partial: say why rather than which
            // block is missing.
            let started = timeline.iter().any(|(n, _)| n == s.name);
            let what = if started {
                "did not finish"
            } else {
                "not reached"
            };
            Err(if account.contains("killed") {
                format!("{what} ({account})")
            } else {
                format!("{what}: the guest stopped first (see the console log)")
            })
        } else {
            (s.check)(&b, c)
        };
        let (result, detail) = match v {
            Ok(d) => match d.strip_prefix(SKIP) {
                Some(why) => ("SKIP", why.to_owned()),
                None => ("PASS", d),
            },
            Err(e) => ("FAIL", e),
        };
        println!("{result} {name} {}: {detail}", s.name);
        Row {
            kernel: name.clone(),
            scenario: s.name,
            result,
            detail,
        }
    });
    let rows = rows.collect();
    say(&format!(
        "kernel lab: {} took {:.0} s{}",
        c.label,
        t0.elapsed().as_secs_f64(),
        if account.is_empty() {
            String::new()
        } else {
            format!(" ({account})")
        }
    ));
    Ok(rows)
}

fn print_table(rows: &[Row]) {
    println!("\n| kernel | scenario | result | detail |\n|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} |",
            r.kernel, r.scenario, r.result, r.detail
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_keep_their_order() {
        let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "hooks",
                "truth",
                "numa",
                "mglru",
                "model",
                "exit",
                "swap",
                "refault",
                "ancestor",
                "softlimit",
                "hotplug",
                "proactive",
                "thp",
                "collapse",
                "pageout",
                "lazyfree",
                "deactivate",
                "mlock",
                "irqctx",
                "compact",
                "kretmiss",
                "rss",
                "memcgs",
                "demote"
            ]
        );
    }

    #[test]
    fn the_help_names_every_scenario() {
        let help = include_str!("../main.rs");
        let at = help
            .find("/// Only these scenarios")
            .expect("the option's help");
        let text: String = help[at..]
            .lines()
            .take_while(|l| l.trim().starts_with("///"))
            .map(|l| l.trim().trim_start_matches("///").trim())
            .collect();
        let listed = &text[text.find(": ").unwrap() + 2..text.find(").").unwrap()];
        let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
        assert_eq!(listed.split(',').collect::<Vec<_>>(), names);
    }

    #[test]
    fn every_scenario_has_a_branch_in_init() {
        let init = include_str!("init.sh");
        for s in &SCENARIOS {
            assert!(
                init.contains(&format!("if run {}; then", s.name))
                    || init.contains(&format!("run {} || ", s.name))
                    || init.contains(&format!("|| run {}; then", s.name)),
                "no branch for {} in init.sh",
                s.name
            );
        }
    }

    #[test]
    fn selection_follows_the_option() {
        let names = |v: Vec<&Scenario>| v.iter().map(|s| s.name).collect::<Vec<_>>();
        assert_eq!(
            names(select(Some("truth, hooks")).unwrap()),
            ["truth", "hooks"]
        );
        assert_eq!(names(select(None).unwrap()).len(), SCENARIOS.len());
        let e = select(Some("hooks,nope")).err().unwrap().to_string();
        assert!(
            e.starts_with("unknown scenario `nope`: expected one of [\"hooks\", \"truth\""),
            "{e}"
        );
    }

    #[test]
    fn a_scenario_ci_runs_on_some_configurations_runs_on_each_of_them() {
        for s in &SCENARIOS {
            for label in s.ci_only_on.unwrap_or_default() {
                let c = CONFIGS.iter().find(|c| c.label == *label);
                assert!(
                    c.is_some_and(|c| c.ci.contains(&s.name)),
                    "{}: CI is to run it on {label}, whose list does not name it",
                    s.name
                );
            }
        }
    }

    #[test]
    fn configurations_cover_every_kernel_and_both_lrus() {
        for k in &KERNELS {
            assert!(
                CONFIGS.iter().any(|c| c.kernel == k.label),
                "no configuration boots {}",
                k.label
            );
            let lrus: Vec<Option<bool>> = CONFIGS
                .iter()
                .filter(|c| c.kernel == k.label)
                .map(|c| c.mglru)
                .collect();
            assert!(
                lrus == [None] || (lrus.contains(&Some(true)) && lrus.contains(&Some(false))),
                "{}: {lrus:?}",
                k.label
            );
        }
        assert!(CONFIGS.iter().any(|c| c.cgroup_v1));
        for k in &KERNELS {
            assert!(
                CONFIGS
                    .iter()
                    .any(|c| c.kernel == k.label && !c.ci.is_empty()),
                "CI never boots {}",
                k.label
            );
        }
        for c in &CONFIGS {
            assert!(
                c.ci.iter().all(|n| SCENARIOS.iter().any(|s| s.name == *n)),
                "{}: {:?}",
                c.label,
                c.ci
            );
        }
        let labels = |w| {
            configs(Some(w))
                .unwrap()
                .iter()
                .map(|c| c.label)
                .collect::<Vec<_>>()
        };
        assert_eq!(labels("6.1"), ["6.1", "6.1+mglru", "6.1-cgv1"]);
        assert_eq!(labels("6.12-classic,5.10"), ["6.12-classic", "5.10"]);
        assert!(configs(Some("4.19")).is_err());
        assert_eq!(settings(&CONFIGS[3]), " vmscan.lru=n vmscan.cgroup=1");
        assert_eq!(settings(&CONFIGS[0]), "");
    }

    #[test]
    fn the_guest_also_runs_what_a_check_reads() {
        assert_eq!(
            guest_scenarios(&select(Some("mglru")).unwrap()),
            "mglru,hooks,numa"
        );
        assert_eq!(
            guest_scenarios(&select(Some("truth,exit")).unwrap()),
            "truth,exit"
        );
        assert_eq!(
            guest_scenarios(&select(None).unwrap()),
            "hooks,truth,numa,mglru,model,exit,swap,refault,ancestor,softlimit,hotplug,proactive,thp,collapse,pageout,lazyfree,deactivate,mlock,irqctx,compact,kretmiss,rss,memcgs,demote,hooks,numa"
        );
    }
}
