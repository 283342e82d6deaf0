//! Snapshot tests of every view on a fixed-size TestBackend: populated,
//! empty, and with the function hooks unavailable, at 120x40 and 80x24, plus
//! the too-small message.

use std::collections::BTreeMap;

use ratatui::{Terminal, backend::TestBackend};
use vmscan_common::{Event, event, hook, reclaimer};

use super::{App, Tab, view};
use crate::{
    model::{
        hist::Log2Hist,
        input::{HookStatus, Host},
        kswapd::{Kswapd, KswapdState, WakeContext, WakeReason},
        lruvec::Model,
        snapshot::{
            AccessRow, AccessStack, Finding, HistSnap, IsolationSnap, ListSnap, LruvecSnap,
            MemcgSnap, NodeSnap, Rates, Snapshot, Stall, ZoneSnap,
        },
    },
    probe::resolve,
};

fn system() -> Host {
    Host {
        kernel: "6.18.0-test".into(),
        numa_nodes: vec![0, 1],
        btf: true,
        kprobes: true,
    }
}

fn hooks(functions_available: bool) -> Vec<HookStatus> {
    resolve::HOOKS
        .iter()
        .map(|h| {
            let function = matches!(h.attach, resolve::Attach::Function { .. });
            let ok = !function || functions_available;
            HookStatus {
                id: h.id,
                name: resolve::hook_name(h.id),
                mechanism: ok.then(|| {
                    if function {
                        "fentry".into()
                    } else {
                        "tracepoint".into()
                    }
                }),
                error: (!ok).then(|| {
                    "kernel built without CONFIG_KPROBES and fentry refused with EPERM".into()
                }),
                notes: vec![],
            }
        })
        .collect()
}

fn hist(values: &[u64]) -> HistSnap {
    let mut h = Log2Hist::default();
    for v in values {
        h.record(*v);
    }
    HistSnap {
        unit: "us",
        cumulative_summary: h.summary(),
        window_summary: h.summary(),
        window: h.clone(),
        cumulative: h,
        available: true,
    }
}

fn node(n: u32, awake: bool) -> NodeSnap {
    let sizes = [12_000u64, 3_000, 250_000, 120_000, 2_600];
    NodeSnap {
        node: n,
        lists: vmscan_common::lru::NAMES
            .iter()
            .zip(sizes)
            .map(|(name, p)| ListSnap {
                name,
                pages: Some(p / (n as u64 + 1)),
                drift: Some(if n == 0 { -209 } else { 0 }),
                drift_noise: Some(96),
            })
            .collect(),
        free: if n == 0 { 20_000 } else { 900_000 },
        min: 16_894,
        low: 21_116,
        high: 25_338,
        zones: vec![ZoneSnap {
            zone: "Normal".into(),
            free: if n == 0 { 20_000 } else { 900_000 },
            min: 16_894,
            low: 21_116,
            high: 25_338,
        }],
        rates: Rates {
            inserted: [10.0, 0.0, 40_000.0, 5.0, 0.0],
            activated_by_access: 15.0,
            activated_by_reclaim: 3.0,
            deactivated: 120.0,
            scanned: if awake { 203_700.0 } else { 0.0 },
            scanned_file: if awake { 203_700.0 } else { 0.0 },
            reclaimed: if awake { 203_600.0 } else { 0.0 },
            reclaimed_kswapd: if awake { 150_000.0 } else { 0.0 },
            reclaimed_direct: if awake { 53_600.0 } else { 0.0 },
            ref_keep: 5.0,
            dirty: 12.0,
            ..Rates::default()
        },
        kswapd: Kswapd {
            state: if awake {
                KswapdState::Awake
            } else {
                KswapdState::Asleep
            },
            wake_reason: awake.then(|| WakeReason {
                zid: 2,
                order: 0,
                gfp: 0xcc0,
                pid: 4242,
                comm: "java\x1b[2J".into(),
                cgroup_id: 7,
                context: WakeContext::Task,
            }),
            episodes: 12,
            ..Default::default()
        },
        kswapd_awake_secs: if awake { 3.2 } else { 0.0 },
        direct_stalls: 7,
        balance: vec![(0, 100), (10, 300)],
        priority: vec![0, 0, 0, 0, 0, 0, 72, 60, 30, 15, 18, 41, 613],
        memory_tier: None,
        type_drift: vec![],
    }
}

fn populated() -> Snapshot {
    let mut histograms = BTreeMap::new();
    histograms.insert("direct_reclaim".into(), hist(&[120, 300, 2_000, 9_000]));
    histograms.insert("memcg_reclaim".into(), hist(&[50, 60, 70, 800, 1_500]));
    histograms.insert("kswapd_episode".into(), hist(&[500_000, 1_000_000]));
    histograms.insert("shrink_node".into(), hist(&[30, 40, 90]));
    histograms.insert("batch_residency".into(), hist(&[1, 2, 3, 4]));
    Snapshot {
        ts_ns: 10_000_000_000,
        interval_secs: 1.0,
        mglru: Some(false),
        vm_swappiness: Some(60),
        nodes: vec![node(0, true), node(1, false)],
        lruvecs: vec![
            LruvecSnap { node: 0, memcg: "/".into(), memcg_id: 1, lists: Some([14, 360, 2, 49, 2611]), anon: 374, file: 51, unevictable: 2611, inserted: [0; 5], generations: None, kube: None, ..Default::default() },
            LruvecSnap {
                node: 0,
                memcg: "/system.slice/a-very-long-service-name-that-needs-truncation.service".into(),
                memcg_id: 7,
                lists: Some([8972, 4, 161_293, 120_345, 0]),
                anon: 8976,
                file: 281_638,
                unevictable: 0,
                inserted: [0, 0, 131_286, 0, 0],
                generations: None,
                kube: None,
                ..Default::default()
            },
            LruvecSnap { node: 1, memcg: "/batch".into(), memcg_id: 9, lists: None, anon: 10, file: 20, unevictable: 0, inserted: [0; 5], generations: None, kube: None, ..Default::default() },
        ],
        memcgs: vec![MemcgSnap {
            path: "/system.slice/a-very-long-service-name-that-needs-truncation.service".into(),
            id: 7,
            swappiness: Some(60),
            reclaim_episodes: 222,
            episodes_named_by_task: 0,
            reclaimed: 115_205,
            latency_us: crate::model::hist::HistSummary { count: 222, p50: 2048, p99: 8192, max: 7000 },
            kube: None,
        }],
        stalls: vec![Stall {
            end_ns: 9_000_000_000,
            pid: 4242,
            comm: "cat\n".into(),
            reclaimer: "memcg".into(),
            cgroup_id: 7,
            memcg: Some("/system.slice/app.service".into()),
            latency_us: 2100,
            reclaimed: 32,
            order: 0,
            nid: -1,
        }],
        isolation: vmscan_common::lru::NAMES
            .iter()
            .enumerate()
            .map(|(i, l)| IsolationSnap { lru: l, events: 10 * i as u64, requested: Some(9233 * (i == 2) as u64), scanned: Some(318_500 * (i == 2) as u64), skipped: Some(0), taken: 318_500 * (i == 2) as u64 })
            .collect(),
        histograms,
        findings: vec![Finding { kind: "numa_imbalance", text: "node 0 is reclaiming (kswapd0 awake 3.2 s, 203600 pages/s reclaimed) while node 1 has 900000 free pages, above its high watermark 25338".into() }],
        access: vec![
            AccessRow { outcome: "referenced", exiting: false, teardown: Some(false), file: true, calls: 5000, pages: 5000 },
            AccessRow { outcome: "activated", exiting: true, teardown: Some(true), file: true, calls: 812, pages: 812 },
        ],
        access_stacks: vec![AccessStack {
            stack_id: 3,
            calls: 812,
            exiting_calls: 812,
            teardown_calls: Some(812),
            activated: 700,
            frames: vec!["folio_mark_accessed".into(), "unmap_page_range".into(), "unmap_vmas".into(), "exit_mmap".into()],
        }],
        hook_events: (0..hook::SLOTS as u64).map(|i| i * 100).collect(),
        hook_lost: vec![0; hook::SLOTS as usize],
        refaults: refaults(),
        ..Snapshot::default()
    }
}

/// A thrashing cgroup: 36864 file pages refaulted at distances near 4000
/// pages, and a quiet one; built by the model's own report builder.
fn refaults() -> crate::model::snapshot::RefaultsSnap {
    use std::collections::BTreeMap;
    use vmscan_common::{
        PagesAgg, RefaultAgg, RefaultDistKey, RefaultKey, RefaultTaskKey, distance_bucket,
    };
    let mut refault = BTreeMap::new();
    refault.insert(
        RefaultKey {
            cgroup_id: 7,
            node: 0,
            file: 1,
        },
        RefaultAgg {
            pages: 36864,
            folios: 36864,
            activated: 1200,
            restored: 300,
            measured: 36864,
            uncounted: 0,
        },
    );
    refault.insert(
        RefaultKey {
            cgroup_id: 9,
            node: 1,
            file: 0,
        },
        RefaultAgg {
            pages: 512,
            folios: 512,
            measured: 512,
            ..Default::default()
        },
    );
    let mut dist = BTreeMap::new();
    dist.insert(
        RefaultDistKey {
            cgroup_id: 7,
            file: 1,
            bucket: distance_bucket(3500),
        },
        PagesAgg {
            pages: 6000,
            folios: 6000,
        },
    );
    dist.insert(
        RefaultDistKey {
            cgroup_id: 7,
            file: 1,
            bucket: distance_bucket(4100),
        },
        PagesAgg {
            pages: 30864,
            folios: 30864,
        },
    );
    let mut tasks = BTreeMap::new();
    tasks.insert(
        RefaultTaskKey {
            cgroup_id: 7,
            tgid: 4242,
            file: 1,
            comm: *b"postgres\0\0\0\0\0\0\0\0",
        },
        PagesAgg {
            pages: 36864,
            folios: 36864,
        },
    );
    let files = BTreeMap::new();
    let input = crate::model::refaults::RefaultInput {
        refault: &refault,
        dist: &dist,
        files: &files,
        tasks: &tasks,
    };
    let names = |id: u64| {
        Some(if id == 7 {
            "/system.slice/postgresql.service".to_owned()
        } else {
            "/user.slice".to_owned()
        })
    };
    let no_file = |_: u32, _: u64| None;
    let view = crate::model::refaults::RefaultView {
        window_secs: 60.0,
        mglru: false,
        page_size: 4096,
        no_distance: None,
        memcg_path: &names,
        file_path: &no_file,
        only: None,
    };
    crate::model::snapshot::RefaultsSnap {
        unavailable: None,
        report: Some(crate::model::refaults::build(&input, &view)),
    }
}

fn app(snap: Option<Snapshot>, functions_available: bool) -> App {
    let mut a = App::new(hooks(functions_available), system());
    if let Some(s) = snap {
        a.update(s.clone());
        a.update(s);
        // Skips counted for fentry (3 on folio_mark_accessed), not for the
        // classic tracepoints (a kernel before 6.7): "-".
        a.hook_missed = a
            .hooks
            .iter()
            .filter(|h| h.attached())
            .map(|h| {
                let fentry = h.mechanism.as_deref() == Some("fentry");
                let n = u64::from(h.id == vmscan_common::hook::MARK_ACCESSED) * 3;
                (h.id, fentry.then_some(n))
            })
            .collect();
        let m = Model::default();
        let mut wake = Event {
            kind: event::KSWAPD_WAKE,
            ts_ns: 5_000_000_000,
            order: 0,
            zid: 2,
            ..Event::default()
        };
        wake.nid = 0;
        let stall = Event {
            kind: event::RECLAIM_END,
            reclaimer: reclaimer::DIRECT,
            ts_ns: 6_000_000_000,
            start_ns: 5_990_000_000,
            pid: 99,
            reclaimed: 64,
            comm: *b"postgres\0\0\0\0\0\0\0\0",
            ..Event::default()
        };
        a.log_events(&crate::model::event::decode(&[wake, stall]), &m);
    }
    a
}

fn screen(a: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    t.draw(|f| view::render(f, a)).expect("draw");
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let line: String = (0..w).map(|x| buf[(x, y)].symbol().to_owned()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[test]
fn every_view_in_every_state_and_size() {
    for (state, snap, functions) in [
        ("populated", Some(populated()), true),
        ("empty", None, true),
        ("unavailable", Some(populated()), false),
    ] {
        for tab in Tab::ALL {
            for (w, h) in [(120, 40), (80, 24)] {
                let mut a = app(snap.clone(), functions);
                a.tab = tab;
                let text = screen(&a, w, h);
                assert!(
                    !text.contains('\x1b'),
                    "escape sequences must not reach the terminal"
                );
                insta::assert_snapshot!(
                    format!("{}_{}_{}x{}", tab.title().to_lowercase(), state, w, h),
                    text
                );
            }
        }
    }
}

#[test]
fn a_wake_up_from_an_interrupt_names_the_context_not_the_task_as_the_waker() {
    let mut snap = populated();
    let reason = snap.nodes[0]
        .kswapd
        .wake_reason
        .as_mut()
        .expect("node 0 is awake");
    reason.context = WakeContext::Softirq;
    reason.cgroup_id = 0;
    let text = screen(&app(Some(snap), true), 120, 40);
    assert!(
        text.contains("woken by softirq (interrupting java\\x1b[2J[4242]) order 0 zone 2"),
        "{text}"
    );
}

#[test]
fn too_small_and_help_overlay() {
    let a = app(Some(populated()), true);
    insta::assert_snapshot!("too_small_79x24", screen(&a, 79, 24));
    let mut a = app(Some(populated()), true);
    a.help = true;
    insta::assert_snapshot!("help_overlay_80x24", screen(&a, 80, 24));
}

#[test]
fn unavailable_views_say_why_instead_of_zeros() {
    let mut a = app(Some(populated()), false);
    a.tab = Tab::Access;
    let s = screen(&a, 120, 40);
    assert!(s.contains("unavailable on this kernel"), "{s}");
    assert!(s.contains("CONFIG_KPROBES"), "{s}");
    a.tab = Tab::Latency;
    let s = screen(&a, 120, 40);
    assert!(s.contains("shrink_node pass is unavailable"), "{s}");
    a.tab = Tab::Thrashing;
    let s = screen(&a, 120, 40);
    assert!(
        s.contains("workingset_refault) is unavailable") && !s.contains("36864"),
        "{s}"
    );
}

#[test]
fn mglru_before_6_7_shows_no_scan_or_reclaim_rates_rather_than_zeros() {
    use crate::model::counters::{Counting, NO_MGLRU_TRACEPOINTS};
    use crate::model::snapshot::{RATE_PASS_FIELDS, RATE_REFILL_FIELDS};
    let k = Counting {
        mglru: true,
        mglru_tracepoints: false,
        ..Counting::default()
    };
    let mut snap = populated();
    for n in &mut snap.nodes {
        n.rates.not_derived = k.node_not_derived(&RATE_PASS_FIELDS, &RATE_REFILL_FIELDS);
    }
    let mut a = app(Some(snap), true);
    let s = screen(&a, 160, 50);
    assert!(
        s.contains("scanned, reclaimed: not derivable here")
            && s.contains("by reclaim n/a")
            && !s.contains("reclaimed 0/s"),
        "{s}"
    );
    a.tab = Tab::Reclaim;
    let s = screen(&a, 160, 50);
    assert!(
        s.contains("scanned, reclaimed n/a") && s.contains(&NO_MGLRU_TRACEPOINTS[..40]),
        "{s}"
    );
    // The classic LRU shows the rates.
    let a = app(Some(populated()), true);
    let s = screen(&a, 160, 50);
    assert!(
        s.contains("/s by reclaim") && !s.contains("not derivable"),
        "{s}"
    );
}

#[test]
fn thrashing_shows_the_curve_and_its_absence_under_mglru() {
    let mut a = app(Some(populated()), true);
    a.tab = Tab::Thrashing;
    let s = screen(&a, 120, 40);
    assert!(s.contains("+20.0 MiB: 100%"), "{s}");
    let mut snap = populated();
    if let Some(r) = snap.refaults.report.as_mut() {
        r.no_distance = Some("MGLRU is on: a shadow entry holds a generation".into());
        for m in &mut r.memcgs {
            m.what_if.clear();
            m.extra_for_90 = None;
        }
    }
    let mut a = app(Some(snap), true);
    a.tab = Tab::Thrashing;
    let s = screen(&a, 120, 40);
    assert!(
        s.contains("no what-if curve: MGLRU is on") && !s.contains("MiB: 100%"),
        "{s}"
    );
}

#[test]
fn status_line_shows_the_self_check() {
    use crate::model::selfcheck::{CounterCheck, SelfCheck};
    let check = |divergence_pages| CounterCheck {
        counter: "pgactivate",
        vmscan: 100,
        kernel_min: 100,
        kernel_max: 100,
        slack_pages: 0,
        divergence_pages,
        within_slack: false,
        likely_cause: None,
    };
    let mut snap = populated();
    snap.self_check = SelfCheck {
        checked: 1,
        exact: 1,
        within_slack: 0,
        counters: vec![check(0)],
        ..SelfCheck::default()
    };
    let s = screen(&app(Some(snap.clone()), true), 120, 40);
    assert!(s.contains("counters exact 1/1"), "{s}");
    snap.self_check = SelfCheck {
        checked: 1,
        exact: 0,
        within_slack: 0,
        counters: vec![check(-6148)],
        ..SelfCheck::default()
    };
    let s = screen(&app(Some(snap.clone()), true), 160, 40);
    assert!(
        s.contains("1 of 1 counters diverge: pgactivate -6148 pages"),
        "{s}"
    );
    // /proc/vmstat's counters exact, a memory cgroup's not: that one shows.
    snap.self_check = SelfCheck {
        checked: 1,
        exact: 1,
        within_slack: 0,
        counters: vec![check(0)],
        memcgs: vec![crate::model::selfcheck::MemcgSelfCheck {
            memcg: "/mv".into(),
            checked: 1,
            exact: 0,
            counters: vec![check(-40)],
        }],
    };
    let s = screen(&app(Some(snap), true), 160, 40);
    assert!(
        s.contains("memcg /mv pgactivate -40 pages against its memory.stat"),
        "{s}"
    );
}

#[test]
fn cgroups_view_names_kubernetes_pods() {
    let mut snap = populated();
    let path = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod8d3b7a36_6e0f_4a8c_b7c0_1f2e3d4c5b6a.slice/cri-containerd-4f8c2d1e0b9a87654321fedcba0987654321fedcba0987654321fedcba098765.scope";
    snap.lruvecs.push(LruvecSnap {
        node: 0,
        memcg: path.into(),
        memcg_id: 42,
        lists: Some([1, 2, 3, 4, 0]),
        anon: 3,
        file: 7,
        kube: crate::model::kube::parse(path),
        ..Default::default()
    });
    let mut a = app(Some(snap), true);
    a.tab = Tab::Cgroups;
    let s = screen(&a, 120, 40);
    assert!(s.contains("pod 8d3b7a36/4f8c2d1e0b9a burstable"), "{s}");
    assert!(
        !s.contains("kubepods-burstable-pod"),
        "the pod's short name replaces its path: {s}"
    );
}

#[test]
fn the_lruvec_table_is_built_only_while_shown_or_read() {
    use crate::model::input::{MemcgNode, MemcgSample, Sample};
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let memcg = |id: u64, path: &str| MemcgSample {
        path: path.into(),
        id,
        nodes: BTreeMap::from([(
            0,
            MemcgNode {
                lists: Some([id, 0, 0, 0, 0]),
                anon: id,
                file: 0,
                unevictable: 0,
            },
        )]),
        ..MemcgSample::default()
    };
    let mut m = Model::default();
    m.apply_sample(&Sample {
        memcgs: vec![memcg(1, "/"), memcg(2, "/a"), memcg(3, "/b")],
        ..Sample::default()
    });
    let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    let mut a = App::new(hooks(true), system());
    a.update_from(&m);
    assert!(a.snap.lruvecs.is_empty(), "the Nodes tab does not read it");
    // The memcg filter reads the names from any tab.
    assert!(super::handle_key(&mut a, &m, key('c')));
    assert_eq!(a.cgroup_filter.as_deref(), Some("/"));
    assert_eq!(a.snap.lruvecs.len(), 3);
    a.update_from(&m);
    assert!(
        a.snap.lruvecs.is_empty(),
        "the next interval leaves it out again"
    );
    assert!(super::handle_key(&mut a, &m, key('c')));
    assert_eq!(a.cgroup_filter.as_deref(), Some("/a"), "the cycle goes on");
    a.cgroup_filter = None;
    // Switching to the Cgroups tab builds it at once, and every interval after.
    assert!(super::handle_key(&mut a, &m, key('4')));
    assert_eq!(a.tab, Tab::Cgroups);
    assert_eq!(a.snap.lruvecs.len(), 3);
    let s = screen(&a, 120, 40);
    assert!(s.contains("/b") && s.contains("/a"), "{s}");
    a.update_from(&m);
    assert_eq!(a.snap.lruvecs.len(), 3);
    // Typing a filter is not cycling it.
    assert!(super::handle_key(&mut a, &m, key('1')));
    a.update_from(&m);
    a.editing_filter = true;
    assert!(super::handle_key(&mut a, &m, key('c')));
    assert!(a.snap.lruvecs.is_empty());
    assert_eq!(a.filter_text, "c");
    a.editing_filter = false;
    a.filter_text.clear();
    // Paused, the table shown later is the paused snapshot's, not newer.
    assert!(super::handle_key(&mut a, &m, key('p')));
    assert!(a.paused);
    assert_eq!(a.snap.lruvecs.len(), 3, "filled on pausing");
    m.apply_sample(&Sample {
        memcgs: vec![
            memcg(1, "/"),
            memcg(2, "/a"),
            memcg(3, "/b"),
            memcg(4, "/c"),
        ],
        ..Sample::default()
    });
    assert!(super::handle_key(&mut a, &m, key('4')));
    assert_eq!(a.snap.lruvecs.len(), 3, "the paused one");
    assert!(super::handle_key(&mut a, &m, key('p')));
    a.update_from(&m);
    assert_eq!(a.snap.lruvecs.len(), 4, "unpaused: current again");
}

#[test]
fn cgroups_view_formats_only_the_rows_that_fit() {
    let mut snap = populated();
    snap.lruvecs = (0..500u64)
        .map(|i| LruvecSnap {
            node: 0,
            memcg: format!("/cg{i:03}"),
            memcg_id: 1000 + i,
            lists: Some([i, 0, 0, 0, 0]),
            anon: i,
            ..Default::default()
        })
        .collect();
    let mut a = app(Some(snap), true);
    a.tab = Tab::Cgroups;
    a.sort = super::state::CgroupSort::Size;
    let s = screen(&a, 120, 40);
    // The largest first; the title says how many of how many are shown.
    assert!(s.contains("/cg499") && s.contains("/cg498"), "{s}");
    assert!(!s.contains("/cg000"), "{s}");
    let shown = s.lines().filter(|l| l.contains("/cg")).count();
    assert!(
        s.contains(&format!("{shown} of 500 rows, sorted by size")),
        "{shown} rows: {s}"
    );
    a.filter_text = "cg00".into();
    let s = screen(&a, 120, 40);
    assert!(s.contains("(sorted by size") && s.contains("/cg009"), "{s}");
}
