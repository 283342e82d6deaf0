//! A live session: the loaded programs, their reader and ring buffer, and the
//! sampler (all `probe`), feeding one [`Model`]. It sits above probe and
//! model so neither imports the other's driver. Every live command
//! (snapshot, the live view, the exporter, the recorder) drives the model
//! through this.

use std::{collections::BTreeSet, time::Instant};

use vmscan_common::{Event, HookId, hook};

use crate::{
    model::{
        event::{self, Decoded, Episode},
        input::Sample,
        lruvec::Model,
        totals::Totals,
    },
    probe::{
        loader::{self, LoadOptions, Loaded},
        logger,
        memcgs::{MemcgChecks, MemcgSampler},
        misses::{self, Misses},
        privs,
        read::{Events, Reader},
        sample,
        symbols::Kallsyms,
    },
};

/// Memory cgroups with activity in an interval, by kernfs id: LRU
/// insertions charged to them, list moves of the batches outside reclaim
/// (MADV_COLD, invalidation, MADV_FREE), reclaim scanning their lruvecs,
/// refaults, or reclaim episodes that ended in them.
fn active_memcgs(delta: &Totals, records: &[Decoded]) -> BTreeSet<u64> {
    let mut ids: BTreeSet<u64> = delta.memcg_insert.keys().map(|k| k.cgroup_id).collect();
    ids.extend(delta.memcg_moves.keys().map(|k| k.cgroup_id));
    ids.extend(delta.memcg_reclaim.keys().map(|k| k.cgroup_id));
    ids.extend(delta.refault.keys().map(|k| k.cgroup_id));
    for r in records {
        if let Ok(Episode::ReclaimEnd { cgroup_id, .. }) = r {
            ids.insert(*cgroup_id);
        }
    }
    ids.remove(&0);
    ids
}

/// Records the drain buffer keeps room for between drains.
const DRAIN_BUF_KEEP: usize = 1024;

/// Cgroups the sampler walks at most per sample.
pub const SAMPLE_MEMCG_LIMIT: usize = 16384;
/// Kernel stacks symbolized at most per tick.
pub const STACKS_PER_TICK: usize = 256;

pub struct Session {
    /// Each hook's skipped program runs, and the reading at start.
    /// Only for the commands that show them ([`Session::track_misses`]).
    /// First, so dropped first: it holds the kprobes' links, and vmscan's
    /// tracefs kretprobes (in `loaded`) can be removed only once their
    /// links are gone.
    misses: Option<(Misses, misses::Reading)>,
    pub loaded: Loaded,
    reader: Reader,
    events: Events,
    last: Totals,
    last_at: Instant,
    pub model: Model,
    /// None where the host has no memory cgroups.
    memcgs: Option<MemcgSampler>,
    /// The memcgs vmscan checks its per-memcg figures in.
    checks: Option<MemcgChecks>,
    lru_gen: sample::LruGenSchedule,
    page_size: u64,
    buf: Vec<Event>,
    /// Kernel symbols for folio_mark_accessed stacks (empty when that hook
    /// is not attached).
    kallsyms: Kallsyms,
    /// Records drained by the last tick.
    pending: Drained,
}

/// Ring-buffer records as drained: raw (what a recording stores) and decoded
/// once (what the model and the views read).
#[derive(Default)]
pub struct Drained {
    pub events: Vec<Event>,
    pub records: Vec<Decoded>,
}

impl Drained {
    fn from_raw(events: Vec<Event>) -> Self {
        let records = event::decode(&events);
        Self { events, records }
    }
}

/// What one tick read from the kernel (what a recording stores).
pub struct Tick {
    pub delta: Totals,
    pub secs: f64,
    pub sample: Sample,
}

impl Session {
    pub fn start(opts: LoadOptions) -> anyhow::Result<Self> {
        loader::check_privileges()?;
        loader::raise_memlock();
        let mut loaded = loader::load(opts.clone())?;
        logger::start_ebpf_logger(&mut loaded.ebpf);
        let reader = Reader::new(&mut loaded.ebpf)?;
        let events = Events::new(&mut loaded.ebpf, opts.drain_delay)?;
        let mut model = Model::default();
        model.set_counting(loaded.counting);
        let attached = |id| crate::model::input::hook_attached(&loaded.hooks, id);
        model.set_hist_available("shrink_node", attached(hook::SHRINK_NODE));
        model.set_hist_available("batch_residency", attached(hook::ADD_LRU));
        let refault_error = loaded
            .hooks
            .iter()
            .find(|h| h.id == hook::REFAULT && !h.attached())
            .map(|h| {
                format!(
                    "workingset_refault not attached: {}",
                    h.error.as_deref().unwrap_or("unknown reason")
                )
            });
        model.set_refaults(
            refault_error,
            loaded.refault.no_distance.clone(),
            loaded.system.page_size,
        );
        let page_size = loaded.system.page_size;
        let mut memcgs = sample::memcg_root(&loaded.system.cgroups)
            .map(|(root, v1)| MemcgSampler::new(&root, v1, page_size, SAMPLE_MEMCG_LIMIT));
        let mut lru_gen = sample::LruGenSchedule::default();
        let mut first = sample::gather(
            memcgs
                .as_mut()
                .map(|m| m.sample(&BTreeSet::new()))
                .unwrap_or_default(),
            page_size,
            &mut lru_gen,
        );
        let (last, bracket) = reader.read_bracketed()?;
        first.vmstat = Some(bracket);
        model.apply_sample(&first);
        // Only stacks need names (not stat's or the exporter's counts).
        let kallsyms = if attached(hook::MARK_ACCESSED) && !opts.no_stacks {
            Kallsyms::load()
        } else {
            Default::default()
        };
        Ok(Self {
            misses: None,
            loaded,
            reader,
            events,
            last,
            last_at: Instant::now(),
            model,
            checks: memcgs.as_ref().map(|m| MemcgChecks::new(m.is_v1())),
            memcgs,
            lru_gen,
            page_size,
            buf: Vec::new(),
            kallsyms,
            pending: Drained::default(),
        })
    }

    /// Feeds the model for `duration` (or until SIGINT / SIGTERM), ticking
    /// every second, then drains and ticks once more so the model is current.
    pub async fn run_for(&mut self, duration: std::time::Duration) -> anyhow::Result<()> {
        self.run_for_each(duration, |_| {}).await
    }

    /// [`Session::run_for`], calling `each` after every tick with its delta.
    pub async fn run_for_each(
        &mut self,
        duration: std::time::Duration,
        mut each: impl FnMut(&Totals),
    ) -> anyhow::Result<()> {
        let mut stop = crate::stop::Signals::new()?;
        let deadline = tokio::time::sleep(duration);
        tokio::pin!(deadline);
        let period = std::time::Duration::from_secs(1).min(duration);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tokio::select! {
                _ = &mut deadline => break,
                _ = stop.recv() => break,
                _ = tick.tick() => { let t = self.tick()?; each(&t.delta); }
                r = self.pump_events() => { r?; }
            }
        }
        self.pump_events_now();
        self.complete_next();
        let t = self.tick()?;
        each(&t.delta);
        Ok(())
    }

    /// Makes the next tick's sample list every memory cgroup that exists
    /// then (a walk) and read MGLRU's generations whatever their schedule:
    /// for a run's last sample.
    pub fn complete_next(&mut self) {
        if let Some(m) = self.memcgs.as_mut() {
            m.walk_next();
        }
        self.lru_gen.force_next();
    }

    /// Makes the next tick's sample complete: every memory cgroup read
    /// (not only the active ones and the quiet ones in turn) and the
    /// generations read. A recording's first tick, which replays without
    /// the sample the session started from.
    pub fn full_next(&mut self) {
        if let Some(m) = self.memcgs.as_mut() {
            m.full_next();
        }
        self.lru_gen.force_next();
    }

    /// Gives up every capability: call once the command has opened what it
    /// writes (files, sockets). Failing to drop is logged, not fatal.
    pub fn drop_privileges(&self) {
        if let Err(e) = privs::drop_all() {
            log::warn!("could not drop capabilities: {e}");
        }
    }

    /// Waits for ring-buffer records and applies them; returns them too.
    pub async fn pump_events(&mut self) -> anyhow::Result<Drained> {
        self.events.drain_ready(&mut self.buf).await?;
        let out = Drained::from_raw(self.take_buf());
        self.model.apply_records(&out.records);
        Ok(out)
    }

    /// The records the last [`Session::tick`] drained (for recorders and logs).
    pub fn tick_events(&mut self) -> Drained {
        std::mem::take(&mut self.pending)
    }

    /// Drains records without waiting, and applies them.
    pub fn pump_events_now(&mut self) -> Drained {
        let out = self.drain_now();
        self.model.apply_records(&out.records);
        out
    }

    fn drain_now(&mut self) -> Drained {
        self.events.drain_now(&mut self.buf);
        Drained::from_raw(self.take_buf())
    }

    /// The drained records, leaving the buffer small: a full ring is 4 MiB
    /// of records, which a busy burst drains at once and which should not
    /// stay allocated between bursts.
    fn take_buf(&mut self) -> Vec<Event> {
        let out = self.buf.drain(..).collect();
        self.buf.shrink_to(DRAIN_BUF_KEEP);
        out
    }

    /// Starts following skipped runs (the TUI, the exporter): before
    /// dropping privileges, which finding the kprobes' links needs.
    pub fn track_misses(&mut self) {
        let m = Misses::new(&self.loaded.ebpf, &self.loaded.hooks, self.loaded.misses);
        let start = m.read();
        self.misses = Some((m, start));
    }

    /// Each attached hook's program runs the kernel skipped since
    /// [`Session::track_misses`] (nothing before it is called; None where
    /// this kernel does not count them for the hook's mechanism).
    pub fn hook_missed(&self) -> Vec<(HookId, Option<u64>)> {
        self.misses
            .as_ref()
            .map(|(m, start)| misses::since(&m.read(), start))
            .unwrap_or_default()
    }

    /// Run time and run count of every loaded vmscan program (non-zero only
    /// while BPF stats are enabled).
    pub fn bpf_stats(&self) -> Vec<(String, u64, u64)> {
        self.loaded
            .ebpf
            .programs()
            .filter_map(|(name, p)| {
                let info = p.info().ok()?;
                Some((
                    name.to_owned(),
                    info.run_time().as_nanos() as u64,
                    info.run_count(),
                ))
            })
            .collect()
    }

    /// Reads the aggregates and a kernel sample, and applies both. Records
    /// waiting in the ring (the kernel wakes us only when it fills up) are
    /// drained first: use [`Session::tick_events`] to see them.
    pub fn tick(&mut self) -> anyhow::Result<Tick> {
        self.pending = self.drain_now();
        let checks_before = self.checks.as_ref().map(MemcgChecks::read);
        let (now, bracket) = self.reader.read_bracketed()?;
        let memcg_vmstat = match (&self.checks, checks_before) {
            (Some(c), Some(before)) => c.brackets(before, c.read()),
            _ => Vec::new(),
        };
        let secs = self.last_at.elapsed().as_secs_f64();
        self.last_at = Instant::now();
        let delta = now.since(&self.last);
        self.last = now;
        let active = active_memcgs(&delta, &self.pending.records);
        let memcgs = self
            .memcgs
            .as_mut()
            .map(|m| m.sample(&active))
            .unwrap_or_default();
        let mut sample = sample::gather(memcgs, self.page_size, &mut self.lru_gen);
        sample.vmstat = Some(bracket);
        if let (Some(c), Some(m)) = (self.checks.as_mut(), self.memcgs.as_ref()) {
            // The slack only goes with brackets (a read of the online CPUs).
            sample.memcg_stat_slack = (!memcg_vmstat.is_empty()).then(sample::memcg_stat_slack);
            sample.memcg_vmstat = memcg_vmstat;
            // After the sample: a memcg new this interval is known by now.
            c.update(&active, m);
        }
        self.model
            .apply_tick(&self.pending.records, &delta, secs, &sample);
        // Name new folio_mark_accessed stacks (bounded work per tick).
        for id in self
            .model
            .unsymbolized_stacks()
            .into_iter()
            .take(STACKS_PER_TICK)
        {
            if let Some(ips) = self.reader.stack(id) {
                self.model.set_stack_frames(id, self.kallsyms.frames(&ips));
            }
        }
        Ok(Tick {
            delta,
            secs,
            sample,
        })
    }
}
