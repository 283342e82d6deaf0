//! What the UI remembers: the chosen tab and filters, the latest snapshot,
//! short histories for sparklines and rates, and the bounded event log.

use std::collections::{BTreeMap, VecDeque};

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use vmscan_common::reclaimer;

use crate::{
    model::{
        event::{Decoded, Episode},
        input::{HookStatus, Host},
        lruvec::Model,
        snapshot::Snapshot,
    },
    text,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Nodes,
    Reclaim,
    Latency,
    Cgroups,
    Access,
    Thrashing,
    Events,
    Probes,
}

impl Tab {
    pub const ALL: [Tab; 8] = [
        Tab::Nodes,
        Tab::Reclaim,
        Tab::Latency,
        Tab::Cgroups,
        Tab::Access,
        Tab::Thrashing,
        Tab::Events,
        Tab::Probes,
    ];
    pub fn title(self) -> &'static str {
        match self {
            Tab::Nodes => "Nodes",
            Tab::Reclaim => "Reclaim",
            Tab::Latency => "Latency",
            Tab::Cgroups => "Cgroups",
            Tab::Access => "Access",
            Tab::Thrashing => "Thrashing",
            Tab::Events => "Events",
            Tab::Probes => "Probes",
        }
    }
    fn index(self) -> usize {
        Self::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupSort {
    Reclaimed,
    Episodes,
    Latency,
    Size,
    Name,
}

impl CgroupSort {
    pub fn next(self) -> Self {
        match self {
            Self::Reclaimed => Self::Episodes,
            Self::Episodes => Self::Latency,
            Self::Latency => Self::Size,
            Self::Size => Self::Name,
            Self::Name => Self::Reclaimed,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Reclaimed => "reclaimed",
            Self::Episodes => "episodes",
            Self::Latency => "p99 latency",
            Self::Size => "size",
            Self::Name => "name",
        }
    }
}

/// One interval's figures of a node, for sparklines.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NodePoint {
    pub scanned_anon: f64,
    pub scanned_file: f64,
    pub reclaimed: f64,
    pub reclaimed_kswapd: f64,
    pub reclaimed_direct: f64,
}

pub const HISTORY: usize = 120;
pub const LOG_LINES: usize = 500;

pub struct App {
    pub tab: Tab,
    pub paused: bool,
    pub help: bool,
    pub windowed: bool,
    pub node_filter: Option<u32>,
    pub cgroup_filter: Option<String>,
    pub sort: CgroupSort,
    pub filter_text: String,
    pub editing_filter: bool,
    pub snap: Snapshot,
    prev_hook_events: Vec<u64>,
    /// Events per second per hook id over the last interval.
    pub hook_rates: Vec<f64>,
    pub hooks: Vec<HookStatus>,
    /// Each hook's program runs the kernel skipped since start (live only;
    /// None where this kernel does not count them for its mechanism).
    pub hook_missed: Vec<(vmscan_common::HookId, Option<u64>)>,
    pub system: Host,
    pub history: BTreeMap<u32, VecDeque<NodePoint>>,
    pub log: VecDeque<String>,
    pub log_dropped: u64,
    /// Direct stalls and memcg episodes at least this long go to the log.
    pub stall_threshold_us: u64,
    /// A line for the header (replay position, end of a recording, ...).
    pub notice: Option<String>,
    /// Whether `snap.lruvecs` is filled in: it is built only while a view
    /// reads it (see [`App::update_from`]).
    lruvecs_filled: bool,
}

impl App {
    pub fn new(hooks: Vec<HookStatus>, system: Host) -> Self {
        Self {
            tab: Tab::Nodes,
            paused: false,
            help: false,
            windowed: true,
            node_filter: None,
            cgroup_filter: None,
            sort: CgroupSort::Reclaimed,
            filter_text: String::new(),
            editing_filter: false,
            snap: Snapshot::default(),
            prev_hook_events: Vec::new(),
            hook_rates: Vec::new(),
            hooks,
            hook_missed: Vec::new(),
            system,
            history: BTreeMap::new(),
            log: VecDeque::new(),
            log_dropped: 0,
            stall_threshold_us: 1000,
            notice: None,
            lruvecs_filled: false,
        }
    }

    /// Whether the view on screen reads the lruvec table (memcg x node).
    pub fn shows_lruvecs(&self) -> bool {
        self.tab == Tab::Cgroups
    }

    /// Whether handling `k` reads the lruvec table: the memcg filter cycles
    /// through its names, from any tab; pausing keeps the table of the
    /// snapshot on screen (filled later, it would be newer than the rest).
    pub fn key_reads_lruvecs(&self, k: &KeyEvent) -> bool {
        !self.editing_filter
            && !k.modifiers.contains(KeyModifiers::CONTROL)
            && (k.code == KeyCode::Char('c') || (k.code == KeyCode::Char('p') && !self.paused))
    }

    /// Takes the model's state as of its last interval: a snapshot with the
    /// lruvec table only while the view shows it. With 10,000 memory cgroups
    /// the table is most of a snapshot's cost, and the live view would pay
    /// it every interval on tabs that never read it.
    pub fn update_from(&mut self, model: &Model) {
        let lruvecs = self.shows_lruvecs();
        self.update(model.snapshot_with(lruvecs));
        self.lruvecs_filled = lruvecs;
    }

    /// Fills in the lruvec table if the snapshot was taken without it (on
    /// switching to a view that reads it, between intervals).
    pub fn fill_lruvecs(&mut self, model: &Model) {
        if !self.lruvecs_filled {
            self.snap.lruvecs = model.lruvecs();
            self.lruvecs_filled = true;
        }
    }

    pub fn update(&mut self, snap: Snapshot) {
        let secs = snap.interval_secs.max(1e-9);
        self.hook_rates = snap
            .hook_events
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                self.prev_hook_events
                    .get(i)
                    .map_or(0.0, |&p| v.saturating_sub(p) as f64 / secs)
            })
            .collect();
        self.prev_hook_events = snap.hook_events.clone();
        for n in &snap.nodes {
            let h = self.history.entry(n.node).or_default();
            h.push_back(NodePoint {
                scanned_anon: n.rates.scanned_anon,
                scanned_file: n.rates.scanned_file,
                reclaimed: n.rates.reclaimed,
                reclaimed_kswapd: n.rates.reclaimed_kswapd,
                reclaimed_direct: n.rates.reclaimed_direct + n.rates.reclaimed_memcg,
            });
            while h.len() > HISTORY {
                h.pop_front();
            }
        }
        self.snap = snap;
        self.lruvecs_filled = true;
    }

    fn push_log(&mut self, line: String) {
        if self.log.len() >= LOG_LINES {
            self.log.pop_front();
            self.log_dropped += 1;
        }
        self.log.push_back(line);
    }

    /// Turns decoded ring-buffer records into log lines (bounded; oldest
    /// dropped first).
    pub fn log_events(&mut self, records: &[Decoded], model: &Model) {
        for e in records.iter().flatten() {
            if let Some(l) = self.log_line(e, model) {
                self.push_log(l);
            }
        }
    }

    fn log_line(&self, e: &Episode, model: &Model) -> Option<String> {
        let t = e.ts_ns() as f64 / 1e9;
        match e {
            Episode::KswapdWake {
                nid, zid, order, ..
            } => Some(format!(
                "{t:>12.3}  kswapd{nid} wake (order {order}, zone {zid})"
            )),
            Episode::KswapdSleep { nid, .. } => Some(format!("{t:>12.3}  kswapd{nid} sleep")),
            Episode::ReclaimEnd {
                ts_ns,
                start_ns,
                reclaimer: rec,
                order,
                pid,
                comm,
                cgroup_id,
                reclaimed,
                ..
            } => {
                let us = ts_ns.saturating_sub(*start_ns) / 1000;
                (us >= self.stall_threshold_us).then(|| {
                    let who = reclaimer::NAMES.get(*rec as usize).copied().unwrap_or("other");
                    let cg = model.memcg_path(*cgroup_id).map(|p| text::fit(p, 40)).unwrap_or_default();
                    let comm = text::fit(comm, 16);
                    format!("{t:>12.3}  {who} reclaim {us} us, {reclaimed} pages, order {order}: {comm}[{pid}] {cg}")
                })
            }
            Episode::Throttled {
                nid,
                pid,
                comm,
                reason,
                delay_us,
                ..
            } => Some(format!(
                "{t:>12.3}  throttled on node {nid} for {delay_us} us (reason {reason:#x}): {}[{pid}]",
                text::fit(comm, 16)
            )),
            _ => None,
        }
    }

    fn nodes(&self) -> Vec<u32> {
        self.snap.nodes.iter().map(|n| n.node).collect()
    }

    /// Handles a key; returns false to quit.
    pub fn handle_key(&mut self, k: KeyEvent) -> bool {
        if self.editing_filter {
            match k.code {
                KeyCode::Enter | KeyCode::Esc => self.editing_filter = false,
                KeyCode::Backspace => {
                    self.filter_text.pop();
                }
                KeyCode::Char(c) if !c.is_control() && self.filter_text.len() < 64 => {
                    self.filter_text.push(c)
                }
                _ => {}
            }
            return true;
        }
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            return false;
        }
        match k.code {
            KeyCode::Char('q') => return false,
            KeyCode::Esc if self.help => self.help = false,
            KeyCode::Char('?') => self.help = !self.help,
            KeyCode::Char('p') => self.paused = !self.paused,
            KeyCode::Char('w') => self.windowed = !self.windowed,
            KeyCode::Char('s') => self.sort = self.sort.next(),
            KeyCode::Char('/') => self.editing_filter = true,
            KeyCode::Char('n') => {
                let nodes = self.nodes();
                self.node_filter = match self.node_filter {
                    None => nodes.first().copied(),
                    Some(cur) => nodes
                        .iter()
                        .position(|&n| n == cur)
                        .and_then(|i| nodes.get(i + 1).copied()),
                };
            }
            KeyCode::Char('c') => {
                let mut names: Vec<String> =
                    self.snap.lruvecs.iter().map(|l| l.memcg.clone()).collect();
                names.sort();
                names.dedup();
                self.cgroup_filter = match &self.cgroup_filter {
                    None => names.first().cloned(),
                    Some(cur) => names
                        .iter()
                        .position(|n| n == cur)
                        .and_then(|i| names.get(i + 1).cloned()),
                };
            }
            KeyCode::Tab => self.tab = Tab::ALL[(self.tab.index() + 1) % Tab::ALL.len()],
            KeyCode::BackTab => {
                self.tab = Tab::ALL[(self.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len()]
            }
            KeyCode::Char(c @ '1'..='8') => self.tab = Tab::ALL[(c as u8 - b'1') as usize],
            _ => {}
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::KeyEvent;
    use vmscan_common::{Event, event};

    use crate::model::event::decode;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn app() -> App {
        let sys = Host {
            kernel: "test".into(),
            numa_nodes: vec![0],
            btf: true,
            kprobes: false,
        };
        App::new(vec![], sys)
    }

    #[test]
    fn keys_switch_tabs_filters_and_quit() {
        let mut a = app();
        assert!(a.handle_key(key(KeyCode::Char('3'))));
        assert_eq!(a.tab, Tab::Latency);
        a.handle_key(key(KeyCode::Tab));
        assert_eq!(a.tab, Tab::Cgroups);
        a.handle_key(key(KeyCode::BackTab));
        a.handle_key(key(KeyCode::BackTab));
        assert_eq!(a.tab, Tab::Reclaim);
        a.handle_key(key(KeyCode::Char('p')));
        assert!(a.paused);
        a.handle_key(key(KeyCode::Char('/')));
        a.handle_key(key(KeyCode::Char('q')));
        assert_eq!(a.filter_text, "q", "q types into the filter while editing");
        a.handle_key(key(KeyCode::Enter));
        assert!(!a.handle_key(key(KeyCode::Char('q'))));
    }

    #[test]
    fn log_is_bounded() {
        let mut a = app();
        let m = Model::default();
        let evs: Vec<Event> = (0..(LOG_LINES + 7))
            .map(|i| Event {
                kind: event::KSWAPD_WAKE,
                ts_ns: i as u64,
                ..Event::default()
            })
            .collect();
        a.log_events(&decode(&evs), &m);
        assert_eq!(a.log.len(), LOG_LINES);
        assert_eq!(a.log_dropped, 7);
    }
}
