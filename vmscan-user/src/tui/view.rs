//! Drawing. Every function here only reads the [`App`] and writes the frame:
//! no I/O, and no panic on empty data.

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Sparkline, Table, Tabs, Wrap},
};
use vmscan_common::{hook, lru};

use super::state::{App, Tab};
use crate::{
    model::{
        hist::Log2Hist,
        kswapd::KswapdState,
        named::Derives as _,
        selfcheck::SelfCheck,
        snapshot::{DEF_PRIORITY, NodeSnap, PRIORITY_LEVELS, Rates},
    },
    text::{fit, micros, pages, rate},
};

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

const TITLE: Style = Style::new().add_modifier(Modifier::BOLD);
const DIM: Style = Style::new().fg(Color::DarkGray);
const WARN: Style = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
const BAD: Style = Style::new().fg(Color::Red).add_modifier(Modifier::BOLD);

pub fn render(f: &mut Frame, app: &App) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "vmscan needs a terminal of at least {MIN_WIDTH}x{MIN_HEIGHT}; this one is {}x{}. Enlarge it, or press q.",
            area.width, area.height
        );
        f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let [top, body, bottom] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    render_header(f, app, top);
    match app.tab {
        Tab::Nodes => nodes_view(f, app, body),
        Tab::Reclaim => reclaim_view(f, app, body),
        Tab::Latency => latency_view(f, app, body),
        Tab::Cgroups => cgroups_view(f, app, body),
        Tab::Access => access_view(f, app, body),
        Tab::Thrashing => thrashing_view(f, app, body),
        Tab::Events => events_view(f, app, body),
        Tab::Probes => probes_view(f, app, body),
    }
    let hints = if app.editing_filter {
        format!(
            "filter: {}▏ (Enter to apply, Esc to close)",
            fit(&app.filter_text, 60)
        )
    } else {
        "q quit  p pause  1-8/Tab view  n node  c cgroup  s sort  / filter  w wndw  ? help"
            .to_owned()
    };
    f.render_widget(Paragraph::new(hints).style(DIM), bottom);
    if app.help {
        help_overlay(f, area);
    }
}

fn render_header(f: &mut Frame, app: &App, area: Rect) {
    let [tabs_area, status_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let titles: Vec<Line> = Tab::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| Line::from(format!("{} {}", i + 1, t.title())))
        .collect();
    let selected = Tab::ALL.iter().position(|t| *t == app.tab).unwrap_or(0);
    f.render_widget(
        Tabs::new(titles)
            .select(selected)
            .highlight_style(Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)),
        tabs_area,
    );
    let mut spans = vec![
        Span::styled("vmscan ", TITLE),
        Span::raw(format!("kernel {} ", fit(&app.system.kernel, 30))),
    ];
    let scheme = match app.snap.mglru {
        Some(true) => "MGLRU",
        _ => "classic LRU",
    };
    spans.push(Span::styled(format!("| {scheme} "), DIM));
    if let Some(n) = app.node_filter {
        spans.push(Span::raw(format!("| node {n} ")));
    }
    if let Some(c) = &app.cgroup_filter {
        spans.push(Span::raw(format!("| cgroup {} ", fit(c, 24))));
    }
    if !app.filter_text.is_empty() {
        spans.push(Span::raw(format!("| /{} ", fit(&app.filter_text, 16))));
    }
    if app.snap.lost_total > 0 {
        spans.push(Span::styled(
            format!(
                "| {} lost: episode figures incomplete ",
                app.snap.lost_total
            ),
            BAD,
        ));
    }
    if let Some(s) = self_check_span(&app.snap.self_check) {
        spans.push(s);
    }
    if let Some(n) = &app.notice {
        spans.push(Span::styled(format!("| {} ", fit(n, 60)), WARN));
    }
    if app.paused {
        spans.push(Span::styled("| PAUSED", WARN));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), status_area);
}

/// The self-check in the status line: "counters exact 14/14", or the first
/// divergent counter with its size (/proc/vmstat's first, then a memory
/// cgroup's against its memory.stat); nothing before a check has run.
fn self_check_span(c: &SelfCheck) -> Option<Span<'static>> {
    let memcg_checked: usize = c.memcgs.iter().map(|m| m.checked).sum();
    if c.checked + memcg_checked == 0 {
        return None;
    }
    let memcg_bad = c.memcgs.iter().find_map(|m| {
        let k = m.counters.iter().find(|k| !k.exact())?;
        Some((m, k))
    });
    if c.counters.iter().all(|k| k.exact())
        && let Some((m, k)) = memcg_bad
    {
        return Some(Span::styled(
            format!(
                "| memcg {} {} {:+} pages against its memory.stat ",
                crate::text::fit(&m.memcg, 30),
                k.counter,
                k.divergence_pages
            ),
            BAD,
        ));
    }
    if c.checked == 0 {
        let exact: usize = c.memcgs.iter().map(|m| m.exact).sum();
        return Some(Span::styled(
            format!("| memcg counters exact {exact}/{memcg_checked} "),
            DIM,
        ));
    }
    match c.counters.iter().find(|k| !k.exact()) {
        None => Some(Span::styled(
            format!("| counters exact {}/{} ", c.exact, c.checked),
            DIM,
        )),
        Some(k) => Some(Span::styled(
            format!(
                "| {} of {} counters diverge: {} {:+} pages ",
                c.checked - c.exact,
                c.checked,
                k.counter,
                k.divergence_pages
            ),
            BAD,
        )),
    }
}

/// The help overlay's keys and what each does.
const HELP_KEYS: [(&str, &str); 9] = [
    ("1..8, Tab, Shift-Tab", "switch view"),
    ("q, Ctrl-C", "quit"),
    ("p", "pause / resume updates"),
    ("n", "cycle the node filter (all, 0, 1, ...)"),
    ("c", "cycle the memory cgroup filter"),
    ("s", "cycle the cgroup table's sort"),
    ("/", "filter cgroups by text"),
    ("w", "latency: last window / since start"),
    ("?, Esc", "close this help"),
];

fn help_overlay(f: &mut Frame, area: Rect) {
    let w = 64.min(area.width);
    let h = 17.min(area.height);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let mut text = vec![Line::styled("Keys", TITLE)];
    text.extend(
        HELP_KEYS
            .iter()
            .map(|(keys, what)| Line::raw(format!("{keys:<22}{what}"))),
    );
    text.extend([
        Line::raw(""),
        Line::raw("Counts are pages, as in /proc/vmstat; rates are per second"),
        Line::raw("over the last refresh interval."),
    ]);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(text).block(Block::default().borders(Borders::ALL).title(" help ")),
        r,
    );
}

fn unavailable(
    f: &mut Frame,
    area: Rect,
    app: &App,
    id: vmscan_common::HookId,
    what: &str,
) -> bool {
    let Some(h) = app.hooks.iter().find(|h| h.id == id) else {
        return false;
    };
    if h.attached() {
        return false;
    }
    let why = h.error.as_deref().unwrap_or("not attached");
    let p = Paragraph::new(vec![
        Line::styled(format!("{what} is unavailable on this kernel."), WARN),
        Line::raw(""),
        Line::raw(format!("hook {}: {}", h.name, fit(why, 300))),
        Line::raw(""),
        Line::styled(
            "This view shows no zeros in its place: run vmscan on a kernel with fentry or kprobes.",
            DIM,
        ),
    ])
    .wrap(Wrap { trim: true })
    .block(Block::default().borders(Borders::ALL));
    f.render_widget(p, area);
    true
}

fn filtered_nodes(app: &App) -> Vec<&NodeSnap> {
    app.snap
        .nodes
        .iter()
        .filter(|n| app.node_filter.is_none_or(|f| f == n.node))
        .collect()
}

fn bar(v: u64, max: u64, width: usize) -> String {
    if max == 0 || width == 0 {
        return " ".repeat(width);
    }
    let eighths = ((v as f64 / max as f64) * (width * 8) as f64).round() as usize;
    let full = eighths / 8;
    let part = eighths % 8;
    let mut s = "█".repeat(full.min(width));
    if full < width && part > 0 {
        s.push(['▏', '▎', '▍', '▌', '▋', '▊', '▉'][part - 1]);
    }
    let len = s.chars().count();
    s + &" ".repeat(width.saturating_sub(len))
}

fn kswapd_line(n: &NodeSnap) -> Span<'static> {
    match n.kswapd.state {
        KswapdState::Awake => {
            let why = n
                .kswapd
                .wake_reason
                .as_ref()
                .map(|w| {
                    // In an interrupt the task is only the one interrupted.
                    let who = if w.context.is_interrupt() {
                        format!(
                            "{} (interrupting {}[{}])",
                            w.context.name(),
                            fit(&w.comm, 16),
                            w.pid
                        )
                    } else {
                        format!("{}[{}]", fit(&w.comm, 16), w.pid)
                    };
                    format!(", woken by {who} order {} zone {}", w.order, w.zid)
                })
                .unwrap_or_default();
            Span::styled(
                format!("kswapd{} AWAKE {:.1} s{why}", n.node, n.kswapd_awake_secs),
                WARN,
            )
        }
        KswapdState::Asleep => Span::raw(format!("kswapd{} asleep", n.node)),
        KswapdState::Unknown => Span::styled(format!("kswapd{} no wake/sleep seen", n.node), DIM),
    }
}

/// `area` cut into `n` rows of equal height.
fn even_rows(area: Rect, n: usize) -> std::rc::Rc<[Rect]> {
    Layout::vertical(vec![Constraint::Ratio(1, n as u32); n]).split(area)
}

fn nodes_view(f: &mut Frame, app: &App, area: Rect) {
    let nodes = filtered_nodes(app);
    if nodes.is_empty() {
        f.render_widget(
            Paragraph::new("No node sampled yet (waiting for the first interval).")
                .block(Block::default().borders(Borders::ALL)),
            area,
        );
        return;
    }
    let rows = even_rows(area, nodes.len());
    for (n, r) in nodes.iter().zip(rows.iter()) {
        node_panel(f, app, n, *r);
    }
}

fn node_panel(f: &mut Frame, app: &App, n: &NodeSnap, area: Rect) {
    let mut title = vec![
        Span::styled(format!(" node {} ", n.node), TITLE),
        kswapd_line(n),
        Span::raw(" "),
    ];
    for finding in app
        .snap
        .findings
        .iter()
        .filter(|x| x.text.starts_with(&format!("node {} ", n.node)))
    {
        title.push(Span::styled(
            format!("! {} ", finding.kind.replace('_', " ")),
            BAD,
        ));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Line::from(title));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(inner);
    let mut lines = list_lines(n, (left.width as usize).saturating_sub(34).max(4));
    lines.extend(free_lines(n));
    let room = (left.height as usize).saturating_sub(lines.len() + 1);
    // Reclaim episodes are not per node (direct reclaim walks the zonelist):
    // list them once, in the first panel shown.
    let first = filtered_nodes(app).first().map(|x| x.node) == Some(n.node);
    if first && room >= 2 && !app.snap.stalls.is_empty() {
        lines.extend(stall_lines(app, room));
    }
    f.render_widget(Paragraph::new(lines), left);
    f.render_widget(Paragraph::new(flow_lines(app, n)), right);
}

/// One line per LRU list: name, a bar of `bw` cells, pages, drift.
fn list_lines(n: &NodeSnap, bw: usize) -> Vec<Line<'static>> {
    let max = n.lists.iter().filter_map(|l| l.pages).max().unwrap_or(0);
    n.lists
        .iter()
        .map(|l| {
            let p = l.pages.unwrap_or(0);
            // The residual only: inside the kernel's counter noise it is ~0.
            // Under MGLRU a type's two lists share one drift, on the
            // inactive row ("Σ": both lists together).
            let typed = n
                .type_drift
                .iter()
                .find(|t| l.name.strip_prefix("inactive_") == Some(t.name));
            let (drift, noise, sum) = match typed {
                Some(t) => (t.drift, t.drift_noise, "Σ"),
                None => (l.drift, l.drift_noise, ""),
            };
            let drift = match (drift, noise) {
                (Some(d), Some(n)) if d.unsigned_abs() <= n => format!("{sum}~0"),
                (Some(d), _) => format!("{sum}{d:+}"),
                (None, _) if !n.type_drift.is_empty() && l.name.starts_with("active_") => {
                    "Σ↑".into()
                }
                (None, _) => "-".into(),
            };
            Line::from(vec![
                Span::raw(format!("{:<14}", l.name)),
                Span::styled(bar(p, max, bw), Style::new().fg(Color::Green)),
                Span::raw(format!(" {:>7}", pages(p))),
                Span::styled(format!(" {drift:>8}"), DIM),
            ])
        })
        .collect()
}

/// The node's free pages against its watermarks, then each zone's.
fn free_lines(n: &NodeSnap) -> Vec<Line<'static>> {
    let watermark = if n.high > 0 && n.free < n.min {
        Span::styled("below min", BAD)
    } else if n.high > 0 && n.free < n.low {
        Span::styled("below low", WARN)
    } else if n.high > 0 && n.free < n.high {
        Span::styled("below high", WARN)
    } else {
        Span::raw("above high")
    };
    let mut lines = vec![Line::from(vec![
        Span::raw(format!(
            "free {} (min {} low {} high {}) ",
            pages(n.free),
            pages(n.min),
            pages(n.low),
            pages(n.high)
        )),
        watermark,
    ])];
    for z in &n.zones {
        let mark = if z.free < z.min {
            " < min"
        } else if z.free < z.low {
            " < low"
        } else if z.free < z.high {
            " < high"
        } else {
            ""
        };
        lines.push(Line::styled(
            format!(
                "  {:<7} free {} min {} low {} high {}{mark}",
                fit(&z.zone, 7),
                pages(z.free),
                pages(z.min),
                pages(z.low),
                pages(z.high)
            ),
            DIM,
        ));
    }
    lines
}

/// The newest reclaim episodes under a heading, `room` lines in all.
fn stall_lines(app: &App, room: usize) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled(
        "recent reclaim episodes (newest first):",
        TITLE,
    )];
    for st in app.snap.stalls.iter().take(room.saturating_sub(1)) {
        let cg = st.memcg.as_deref().map(|m| fit(m, 24)).unwrap_or_default();
        lines.push(Line::raw(format!(
            "  {:<6} {:>7} us {:>5} pg {}[{}] {cg}",
            st.reclaimer,
            st.latency_us,
            st.reclaimed,
            fit(&st.comm, 16),
            st.pid
        )));
    }
    lines
}

/// Active -> inactive per second; the batches outside reclaim (MADV_COLD,
/// invalidation) and MADV_FREE's anon -> file moves where they moved pages.
fn deactivated_line(r: &Rates) -> String {
    let mut s = if r.derives("deactivated") {
        format!("deactivated {:>5}/s", rate(r.deactivated))
    } else {
        "deactivated     n/a (MGLRU ages generations unseen)".to_owned()
    };
    if let Some(b) = r.deactivated_by_batches.filter(|&b| b > 0.0) {
        s += &format!(" ({}/s by MADV_COLD, invalidation)", rate(b));
    }
    if let Some(l) = r.lazyfree.filter(|&l| l > 0.0) {
        s += &format!("  lazyfree {}/s", rate(l));
    }
    s
}

/// The node's page flows per second, stalls and scan balance.
fn flow_lines(app: &App, n: &NodeSnap) -> Vec<Line<'static>> {
    let r = &n.rates;
    let (anon, file): (u64, u64) = n
        .balance
        .iter()
        .fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
    let balance = if anon + file == 0 {
        "-".to_owned()
    } else {
        format!(
            "{:.0}:{:.0}",
            100.0 * anon as f64 / (anon + file) as f64,
            100.0 * file as f64 / (anon + file) as f64
        )
    };
    let swp = app
        .snap
        .vm_swappiness
        .map(|s| s.to_string())
        .unwrap_or_else(|| "?".into());
    let ins: f64 = r.inserted.iter().sum();
    let inserted = Line::from(format!(
        "inserted  {:>7}/s  (active {}/s)",
        rate(ins),
        rate(r.inserted[lru::ACTIVE_ANON as usize] + r.inserted[lru::ACTIVE_FILE as usize])
    ));
    let stalls = Line::from(format!(
        "direct stalls {}  kswapd episodes {}",
        n.direct_stalls, n.kswapd.episodes
    ));
    if let Some(why) = r.why_not("scanned") {
        // MGLRU before 6.7: no shrink-pass tracepoint, so no zeros either.
        return vec![
            inserted,
            Line::from(format!(
                "activated {:>7}/s by access, by reclaim n/a",
                rate(r.activated_by_access)
            )),
            Line::from(deactivated_line(r)),
            Line::styled("scanned, reclaimed: not derivable here", WARN),
            Line::styled(format!("  ({why})"), DIM),
            stalls,
            Line::from(format!("swappiness {swp}")),
        ];
    }
    vec![
        inserted,
        Line::from(format!(
            "activated {:>7}/s by access, {}/s by reclaim",
            rate(r.activated_by_access),
            rate(r.activated_by_reclaim)
        )),
        Line::from(deactivated_line(r)),
        Line::from(format!(
            "scanned   {:>7}/s  reclaimed {}/s",
            rate(r.scanned),
            rate(r.reclaimed)
        )),
        Line::from(format!(
            "  kswapd {}/s direct {}/s memcg {}/s",
            rate(r.reclaimed_kswapd),
            rate(r.reclaimed_direct),
            rate(r.reclaimed_memcg)
        )),
        stalls,
        Line::from(format!("anon:file scanned {balance}  swappiness {swp}")),
    ]
}

fn reclaim_view(f: &mut Frame, app: &App, area: Rect) {
    let nodes = filtered_nodes(app);
    let [top, bottom] = Layout::vertical([Constraint::Min(8), Constraint::Length(9)]).areas(area);
    if nodes.is_empty() {
        f.render_widget(
            Paragraph::new("No reclaim data yet.").block(Block::default().borders(Borders::ALL)),
            top,
        );
    } else {
        for (n, r) in nodes.iter().zip(even_rows(top, nodes.len()).iter()) {
            reclaim_sparklines(f, app, n, *r);
        }
    }
    let [left, mid, right] = Layout::horizontal([
        Constraint::Min(20),
        Constraint::Length(56),
        Constraint::Length(28),
    ])
    .areas(bottom);
    outcomes_panel(f, &nodes, left);
    isolation_table(f, app, mid);
    priority_panel(f, &nodes, right);
}

/// A node's scan and reclaim rates over the history, one sparkline each.
fn reclaim_sparklines(f: &mut Frame, app: &App, n: &NodeSnap, area: Rect) {
    if let Some(why) = n.rates.why_not("scanned") {
        f.render_widget(
            Paragraph::new(format!(
                "Scan and reclaim rates are not derivable here: {why}."
            ))
            .wrap(Wrap { trim: true })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" node {}: scanned, reclaimed n/a ", n.node)),
            ),
            area,
        );
        return;
    }
    let hist = app.history.get(&n.node);
    let series = |g: fn(&super::state::NodePoint) -> f64| -> Vec<u64> {
        hist.map(|h| h.iter().map(|p| g(p).round() as u64).collect())
            .unwrap_or_default()
    };
    let block = Block::default().borders(Borders::ALL).title(format!(
        " node {}: scanned {}/s, reclaimed {}/s ",
        n.node,
        rate(n.rates.scanned),
        rate(n.rates.reclaimed)
    ));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let rows = Layout::vertical([Constraint::Ratio(1, 4); 4]).split(inner);
    let spark = [
        ("scan anon", series(|p| p.scanned_anon), Color::Magenta),
        ("scan file", series(|p| p.scanned_file), Color::Blue),
        ("rcl kswapd", series(|p| p.reclaimed_kswapd), Color::Green),
        ("rcl dir+mcg", series(|p| p.reclaimed_direct), Color::Red),
    ];
    for ((label, data, color), row) in spark.iter().zip(rows.iter()) {
        let [l, s] = Layout::horizontal([Constraint::Length(22), Constraint::Min(1)]).areas(*row);
        let last = data.last().copied().unwrap_or(0);
        f.render_widget(
            Paragraph::new(format!("{label:<11}{:>9}/s", pages(last))),
            l,
        );
        let w = s.width as usize;
        let tail: Vec<u64> = data.iter().rev().take(w).rev().copied().collect();
        f.render_widget(
            Sparkline::default()
                .data(&tail)
                .style(Style::new().fg(*color)),
            s,
        );
    }
}

/// shrink_inactive's outcome rates, a line per node.
fn outcomes_panel(f: &mut Frame, nodes: &[&NodeSnap], area: Rect) {
    let mut dirty = vec![];
    for n in nodes {
        let r = &n.rates;
        if !r.derives("dirty") {
            dirty.push(Line::from(format!(
                "node {}: n/a (no shrink-pass tracepoint)",
                n.node
            )));
            continue;
        }
        dirty.push(Line::from(format!(
            "node {}: dirty {}/s writeback {}/s congested {}/s immediate {}/s unmap_fail {}/s ref_keep {}/s",
            n.node,
            rate(r.dirty),
            rate(r.writeback),
            rate(r.congested),
            rate(r.immediate),
            rate(r.unmap_fail),
            rate(r.ref_keep)
        )));
    }
    f.render_widget(
        Paragraph::new(dirty).wrap(Wrap { trim: true }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" shrink_inactive outcomes "),
        ),
        area,
    );
}

/// lru_isolate since start, a row per LRU list.
fn isolation_table(f: &mut Frame, app: &App, area: Rect) {
    let iso_rows: Vec<Row> = app
        .snap
        .isolation
        .iter()
        .map(|i| {
            let eff = match i.scanned {
                Some(s) if s > 0 => format!("{:.0}%", 100.0 * i.taken as f64 / s as f64),
                _ => "-".to_owned(),
            };
            let known = |v: Option<u64>| v.map_or("-".to_owned(), pages);
            Row::new(vec![
                Cell::from(i.lru),
                Cell::from(known(i.requested)),
                Cell::from(known(i.scanned)),
                Cell::from(known(i.skipped)),
                Cell::from(pages(i.taken)),
                Cell::from(eff),
            ])
        })
        .collect();
    f.render_widget(
        Table::new(
            iso_rows,
            [
                Constraint::Length(14),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Length(5),
            ],
        )
        .header(Row::new(vec!["isolation", "req", "scan", "skip", "taken", "eff"]).style(TITLE))
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(" lru_isolate since start "),
        ),
        area,
    );
}

/// Shrink passes per scan priority over the nodes shown: DEF_PRIORITY (12)
/// always, and the used priorities below it, at most 7 lines.
fn priority_panel(f: &mut Frame, nodes: &[&NodeSnap], area: Rect) {
    let mut prio = [0u64; PRIORITY_LEVELS];
    if nodes.iter().any(|n| !n.rates.derives("scanned")) {
        f.render_widget(
            Paragraph::new("n/a: no shrink-pass tracepoint")
                .wrap(Wrap { trim: true })
                .block(Block::default().borders(Borders::ALL).title(" priority ")),
            area,
        );
        return;
    }
    for n in nodes {
        for (p, v) in prio.iter_mut().zip(n.priority.iter()) {
            *p += v;
        }
    }
    let max = prio.iter().copied().max().unwrap_or(0);
    let bw = (area.width as usize).saturating_sub(13).max(2);
    let lines: Vec<Line> = (0..PRIORITY_LEVELS)
        .rev()
        .filter(|&p| prio[p] > 0 || p == DEF_PRIORITY)
        .take(7)
        .map(|p| {
            Line::from(format!(
                "{p:>2} {} {:>6}",
                bar(prio[p], max, bw),
                pages(prio[p])
            ))
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" priority ")),
        area,
    );
}

fn hist_lines(h: &Log2Hist, width: usize, unit: &str) -> Vec<Line<'static>> {
    let max = h.buckets.iter().copied().max().unwrap_or(0);
    let first = h.buckets.iter().position(|&n| n > 0).unwrap_or(0);
    let last = h.buckets.iter().rposition(|&n| n > 0).unwrap_or(0);
    (first..=last)
        .map(|b| {
            let lo = if b == 0 { 0 } else { 1u64 << (b - 1) };
            let n = h.buckets.get(b).copied().unwrap_or(0);
            let label = if unit == "us" {
                micros(lo)
            } else {
                format!("{}{unit}", pages(lo))
            };
            Line::from(format!(
                "{label:>8} {} {n}",
                bar(n, max, width.saturating_sub(22).max(4))
            ))
        })
        .collect()
}

fn latency_view(f: &mut Frame, app: &App, area: Rect) {
    let names = [
        ("direct_reclaim", "direct reclaim", None),
        ("memcg_reclaim", "memcg reclaim", None),
        ("kswapd_episode", "kswapd episode", None),
        ("shrink_node", "shrink_node pass", Some(hook::SHRINK_NODE)),
        (
            "batch_residency",
            "per-CPU batch residency",
            Some(hook::ADD_LRU),
        ),
    ];
    let cols = Layout::horizontal([Constraint::Ratio(1, 2); 2]).split(area);
    let left = Layout::vertical([Constraint::Ratio(1, 3); 3]).split(cols[0]);
    let right = Layout::vertical([Constraint::Ratio(1, 2); 2]).split(cols[1]);
    let areas = [left[0], left[1], left[2], right[0], right[1]];
    for ((key, label, hook_id), r) in names.iter().zip(areas.iter()) {
        if let Some(id) = hook_id
            && unavailable(f, *r, app, *id, label)
        {
            continue;
        }
        let Some(h) = app.snap.histograms.get(*key) else {
            f.render_widget(
                Paragraph::new("no data")
                    .block(Block::default().borders(Borders::ALL).title(*label)),
                *r,
            );
            continue;
        };
        let (data, s, which) = if app.windowed {
            (&h.window, h.window_summary, "last 10 s")
        } else {
            (&h.cumulative, h.cumulative_summary, "since start")
        };
        let title = format!(
            " {label} ({which}): n={} p50<{} p99<{} max {} ",
            s.count,
            micros(s.p50),
            micros(s.p99),
            micros(s.max)
        );
        let body = if s.count == 0 {
            vec![Line::styled("no episodes in this window", DIM)]
        } else {
            hist_lines(data, r.width as usize, h.unit)
        };
        f.render_widget(
            Paragraph::new(body).block(Block::default().borders(Borders::ALL).title(title)),
            *r,
        );
    }
}

fn cgroups_view(f: &mut Frame, app: &App, area: Rect) {
    use super::state::CgroupSort;
    let filt = app.filter_text.to_lowercase();
    let by_id: std::collections::HashMap<u64, &crate::model::snapshot::MemcgSnap> =
        app.snap.memcgs.iter().map(|m| (m.id, m)).collect();
    let mut rows: Vec<_> = app
        .snap
        .lruvecs
        .iter()
        .filter(|l| app.node_filter.is_none_or(|n| n == l.node))
        .filter(|l| app.cgroup_filter.as_ref().is_none_or(|c| *c == l.memcg))
        .filter(|l| filt.is_empty() || l.memcg.to_lowercase().contains(&filt))
        .map(|l| (l, by_id.get(&l.memcg_id).copied()))
        .collect();
    rows.sort_by(|(a, am), (b, bm)| match app.sort {
        CgroupSort::Reclaimed => bm
            .map_or(0, |m| m.reclaimed)
            .cmp(&am.map_or(0, |m| m.reclaimed)),
        CgroupSort::Episodes => bm
            .map_or(0, |m| m.reclaim_episodes)
            .cmp(&am.map_or(0, |m| m.reclaim_episodes)),
        CgroupSort::Latency => bm
            .map_or(0, |m| m.latency_us.p99)
            .cmp(&am.map_or(0, |m| m.latency_us.p99)),
        CgroupSort::Size => {
            (b.anon + b.file + b.unevictable).cmp(&(a.anon + a.file + a.unevictable))
        }
        CgroupSort::Name => a.memcg.cmp(&b.memcg),
    });
    let name_w = (area.width as usize).saturating_sub(78).max(12);
    // Rows past the bottom are never drawn: format only those that fit
    // (borders and header take three lines).
    let fit_rows = (area.height as usize).saturating_sub(3);
    let matching = rows.len();
    let table_rows: Vec<Row> = rows
        .iter()
        .take(fit_rows)
        .map(|(l, m)| {
            let lists: Vec<String> = match l.lists {
                Some(ls) => ls.iter().map(|v| pages(*v)).collect(),
                None => vec![
                    "?".into(),
                    "?".into(),
                    "?".into(),
                    "?".into(),
                    pages(l.unevictable),
                ],
            };
            let name = l
                .kube
                .as_ref()
                .map_or_else(|| l.memcg.clone(), |k| k.short());
            let mut cells = vec![
                Cell::from(fit(&name, name_w)),
                Cell::from(l.node.to_string()),
            ];
            cells.extend(lists.into_iter().map(Cell::from));
            cells.push(Cell::from(
                m.map_or("-".into(), |m| m.reclaim_episodes.to_string()),
            ));
            cells.push(Cell::from(m.map_or("-".into(), |m| pages(m.reclaimed))));
            cells.push(Cell::from(
                m.map_or("-".into(), |m| format!("<{}", micros(m.latency_us.p99))),
            ));
            Row::new(cells)
        })
        .collect();
    let empty = matching == 0;
    let widths = [
        Constraint::Min(12),
        Constraint::Length(4),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(9),
    ];
    let shown = if matching > fit_rows {
        format!("{fit_rows} of {matching} rows, ")
    } else {
        String::new()
    };
    let title = format!(
        " memory cgroups x nodes ({shown}sorted by {}; pages) ",
        app.sort.name()
    );
    f.render_widget(
        Table::new(table_rows, widths)
            .header(
                Row::new(vec![
                    "memcg", "node", "inact_an", "act_anon", "inact_fi", "act_file", "unevict",
                    "episodes", "reclaimd", "p99",
                ])
                .style(TITLE),
            )
            .block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
    if empty {
        let inner = Rect {
            x: area.x + 2,
            y: area.y + 2,
            width: area.width.saturating_sub(4),
            height: 1,
        };
        f.render_widget(
            Paragraph::new("No memory cgroup matches (or no memory cgroup hierarchy is mounted).")
                .style(DIM),
            inner,
        );
    }
}

fn access_view(f: &mut Frame, app: &App, area: Rect) {
    if unavailable(
        f,
        area,
        app,
        hook::MARK_ACCESSED,
        "folio_mark_accessed attribution",
    ) {
        return;
    }
    let [top, bottom] = Layout::vertical([Constraint::Length(12), Constraint::Min(3)]).areas(area);
    let rows: Vec<Row> = app
        .snap
        .access
        .iter()
        .map(|a| {
            Row::new(vec![
                Cell::from(a.outcome),
                Cell::from(if a.exiting { "exiting" } else { "live" }),
                Cell::from(match a.teardown {
                    Some(true) => "exit_mmap",
                    Some(false) => "-",
                    None => "?",
                }),
                Cell::from(if a.file { "file" } else { "anon" }),
                Cell::from(pages(a.calls)),
                Cell::from(pages(a.pages)),
            ])
        })
        .collect();
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(12),
                Constraint::Length(8),
                Constraint::Length(9),
                Constraint::Length(6),
                Constraint::Length(9),
                Constraint::Length(9),
            ],
        )
        .header(
            Row::new(vec![
                "outcome", "task", "teardown", "type", "calls", "pages",
            ])
            .style(TITLE),
        )
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(" folio_mark_accessed since start "),
        ),
        top,
    );
    let total: u64 = app.snap.access_stacks.iter().map(|s| s.calls).sum();
    let lines: Vec<Line> = app
        .snap
        .access_stacks
        .iter()
        .take(bottom.height.saturating_sub(2) as usize)
        .map(|s| {
            let frames = if s.frames.is_empty() {
                format!("stack #{}", s.stack_id)
            } else {
                s.frames.join(" <- ")
            };
            let pct = if total == 0 {
                0.0
            } else {
                100.0 * s.calls as f64 / total as f64
            };
            let teardown = s
                .teardown_calls
                .map(|t| format!("{t} in exit_mmap, "))
                .unwrap_or_default();
            Line::from(format!(
                "{pct:>5.1}% {:>8} ({teardown}{} exiting, {} activated) {}",
                s.calls,
                s.exiting_calls,
                s.activated,
                fit(&frames, 200)
            ))
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" by kernel stack "),
        ),
        bottom,
    );
}

/// Refaults since start: cgroups by refaulted pages with the kernel's
/// verdicts and the what-if curve, then tasks.
fn thrashing_view(f: &mut Frame, app: &App, area: Rect) {
    use crate::model::refaults::{curve_line, size};
    if unavailable(
        f,
        area,
        app,
        hook::REFAULT,
        "Refault attribution (workingset_refault)",
    ) {
        return;
    }
    let Some(rep) = app.snap.refaults.report.as_ref() else {
        let why = app
            .snap
            .refaults
            .unavailable
            .clone()
            .unwrap_or_else(|| "no refault data".into());
        f.render_widget(
            Paragraph::new(Line::styled(why, WARN)).block(Block::default().borders(Borders::ALL)),
            area,
        );
        return;
    };
    let [top, bottom] = Layout::vertical([Constraint::Min(6), Constraint::Length(8)]).areas(area);
    let mut rows: Vec<Row> = rep
        .memcgs
        .iter()
        .map(|m| {
            Row::new(vec![
                Cell::from(fit(m.path.as_deref().unwrap_or("(unknown cgroup)"), 40)),
                Cell::from(pages(m.file_pages)),
                Cell::from(pages(m.anon_pages)),
                Cell::from(format!("{:.0}", m.pages_per_sec)),
                Cell::from(m.activated_pages.map_or("-".into(), pages)),
                Cell::from(pages(m.restored_pages)),
                Cell::from(
                    m.extra_for_90
                        .map_or("-".into(), |b| format!("+{}", size(b))),
                ),
            ])
        })
        .collect();
    if rows.is_empty() {
        rows.push(Row::new(vec![Cell::from("no refaults since start")]).style(DIM));
    }
    let title = format!(
        " refaults since start ({} LRU): {} file + {} anon pages; +mem 90%: what would have avoided 90% of them ",
        rep.lru, rep.file_pages, rep.anon_pages
    );
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(40),
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Length(8),
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Length(12),
            ],
        )
        .header(
            Row::new(vec![
                "memory cgroup",
                "file",
                "anon",
                "pages/s",
                "activated",
                "restored",
                "+mem 90%",
            ])
            .style(TITLE),
        )
        .block(Block::default().borders(Borders::ALL).title(title)),
        top,
    );
    let mut lines: Vec<Line> = vec![];
    if let Some(why) = &rep.no_distance {
        lines.push(Line::styled(
            format!("no what-if curve: {}", fit(why, 200)),
            DIM,
        ));
    }
    for m in rep.memcgs.iter().filter(|m| !m.what_if.is_empty()).take(3) {
        lines.push(Line::from(format!(
            "{}: {}",
            fit(m.path.as_deref().unwrap_or("?"), 30),
            curve_line(m, 5)
        )));
    }
    for t in rep
        .tasks
        .iter()
        .take(bottom.height.saturating_sub(2 + lines.len() as u16) as usize)
    {
        lines.push(Line::from(format!(
            "{:>7} {:<16} {:>9} file {:>9} anon  {}",
            t.pid,
            t.comm,
            t.file_pages,
            t.anon_pages,
            t.cgroup.as_deref().unwrap_or("?")
        )));
    }
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" what if, and the tasks that refault "),
        ),
        bottom,
    );
}

fn events_view(f: &mut Frame, app: &App, area: Rect) {
    let h = area.height.saturating_sub(2) as usize;
    let mut lines: Vec<Line> = app
        .log
        .iter()
        .rev()
        .take(h)
        .rev()
        .map(|l| Line::raw(fit(l, 400)))
        .collect();
    if lines.is_empty() {
        lines.push(Line::styled(
            format!("No kswapd wake/sleep, direct stall or memcg episode over {} us, or throttling, yet.", app.stall_threshold_us),
            DIM,
        ));
    }
    let title = if app.log_dropped > 0 {
        format!(" events (newest last; {} older dropped) ", app.log_dropped)
    } else {
        " events (newest last) ".to_owned()
    };
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}

fn probes_view(f: &mut Frame, app: &App, area: Rect) {
    let rows: Vec<Row> = app
        .hooks
        .iter()
        .map(|h| {
            let id = h.id.slot() as usize;
            let (state, style) = match &h.mechanism {
                Some(m) => (m.clone(), Style::new().fg(Color::Green)),
                None => ("unavailable (below)".to_owned(), WARN),
            };
            let (events, lost) = crate::model::totals::hook_figures(
                &app.snap.hook_events,
                &app.snap.hook_lost,
                h.id,
            );
            Row::new(vec![
                Cell::from(fit(&h.name, 40)),
                Cell::from(fit(&state, 200)).style(style),
                Cell::from(rate(app.hook_rates.get(id).copied().unwrap_or(0.0))),
                Cell::from(pages(events)),
                Cell::from(lost.to_string()).style(if lost > 0 { BAD } else { Style::new() }),
                // "-": not counted here (a replay, or a mechanism this kernel
                // counts no skips for).
                match app
                    .hook_missed
                    .iter()
                    .find(|(i, _)| *i == h.id)
                    .and_then(|(_, n)| *n)
                {
                    Some(n) => {
                        Cell::from(n.to_string()).style(if n > 0 { BAD } else { Style::new() })
                    }
                    None => Cell::from("-").style(DIM),
                },
            ])
        })
        .collect();
    let reasons: Vec<Line> = app
        .hooks
        .iter()
        .filter(|h| !h.attached())
        .map(|h| {
            Line::from(format!(
                "{}: {}",
                fit(&h.name, 40),
                fit(h.error.as_deref().unwrap_or("not attached"), 300)
            ))
        })
        .chain(app.hooks.iter().flat_map(|h| {
            h.notes
                .iter()
                .map(move |n| Line::styled(format!("{}: {}", fit(&h.name, 40), fit(n, 300)), DIM))
        }))
        .collect();
    let reasons_h = if reasons.is_empty() {
        0
    } else {
        (reasons.len() as u16 + 2).min(area.height / 2)
    };
    let [area, reasons_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(reasons_h)]).areas(area);
    // More hooks than rows: say how many are cut rather than drop them
    // silently.
    let fit_rows = area.height.saturating_sub(3) as usize;
    let mut rows = rows;
    if rows.len() > fit_rows && fit_rows > 0 {
        let hidden = rows.len() - (fit_rows - 1);
        rows.truncate(fit_rows - 1);
        rows.push(
            Row::new(vec![
                Cell::from(format!("+{hidden} more hooks")),
                Cell::from("see a taller terminal or `vmscan probes`"),
            ])
            .style(DIM),
        );
    }
    if reasons_h > 0 {
        f.render_widget(
            Paragraph::new(reasons).wrap(Wrap { trim: true }).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" why not attached "),
            ),
            reasons_area,
        );
    }
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(38),
                Constraint::Min(20),
                Constraint::Length(9),
                Constraint::Length(9),
                Constraint::Length(6),
                Constraint::Length(6),
            ],
        )
        .header(
            Row::new(vec![
                "hook", "attached", "events/s", "events", "lost", "missed",
            ])
            .style(TITLE),
        )
        .block(Block::default().borders(Borders::ALL).title(format!(
            " probes: kernel {}, {} NUMA node(s), BTF {}, kprobes {} ",
            fit(&app.system.kernel, 30),
            app.system.numa_nodes.len(),
            if app.system.btf { "yes" } else { "no" },
            if app.system.kprobes { "yes" } else { "no" }
        ))),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_and_never_overflow() {
        assert_eq!(bar(0, 0, 4), "    ");
        assert_eq!(bar(10, 10, 4), "████");
        assert_eq!(bar(5, 10, 4), "██  ");
        assert_eq!(bar(20, 10, 4).chars().count(), 4);
        assert_eq!(bar(1, 16, 4), "▎   ", "2/8 of a cell");
    }
}
