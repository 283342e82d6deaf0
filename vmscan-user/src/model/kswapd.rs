//! kswapd of one node as a state machine over its wake-up requests, wakes
//! and sleeps.
//!
//! mm/vmscan.c: kswapd() fires mm_vmscan_kswapd_wake before every
//! balance_pgdat() pass, but mm_vmscan_kswapd_sleep only when
//! kswapd_try_to_sleep() really sleeps: a wake while awake is the next pass
//! of the same episode, not a lost record. An episode runs from the first
//! wake after a sleep (or after nothing seen) to the next sleep. A sleep
//! without a wake (vmscan attached mid-episode) is counted, not trusted.

use schemars::JsonSchema;
use serde::Serialize;

/// The context a wake-up was asked for in (mm_vmscan_wakeup_kswapd fires in
/// wakeup_kswapd(), which atomic allocations reach from interrupts too).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WakeContext {
    /// vmscan cannot tell on this kernel (`vmscan probes` says why), the
    /// kernel stack was too deep or nested too far to tell, or a recording
    /// from before vmscan told.
    #[default]
    Unknown,
    Task,
    Softirq,
    Hardirq,
    Nmi,
}

impl WakeContext {
    /// From a WAKEUP_KSWAPD record's flags (vmscan_common::irq_context).
    pub fn of(flags: u32) -> Self {
        use vmscan_common::irq_context as c;
        match flags {
            c::TASK => Self::Task,
            c::SOFTIRQ => Self::Softirq,
            c::HARDIRQ => Self::Hardirq,
            c::NMI => Self::Nmi,
            _ => Self::Unknown,
        }
    }

    /// Asked for in an interrupt: the pid, comm and memcg are the
    /// interrupted task's, not the asker's.
    pub fn is_interrupt(self) -> bool {
        matches!(self, Self::Softirq | Self::Hardirq | Self::Nmi)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Task => "task",
            Self::Softirq => "softirq",
            Self::Hardirq => "hardirq",
            Self::Nmi => "nmi",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct WakeReason {
    pub zid: i32,
    pub order: i32,
    pub gfp: u64,
    /// The task that asked, or in an interrupt (`context`) the task it
    /// interrupted.
    pub pid: u32,
    pub comm: String,
    /// The asking task's memory cgroup; 0 in an interrupt. Where the
    /// context is unknown, current's (the asker's unless an interrupt asked).
    pub cgroup_id: u64,
    pub context: WakeContext,
}

/// Wake-up requests by the context they were asked for in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct WakeContexts {
    pub task: u64,
    pub softirq: u64,
    pub hardirq: u64,
    pub nmi: u64,
    /// Where the context could not be read.
    pub unknown: u64,
}

impl WakeContexts {
    pub fn count(&mut self, c: WakeContext) {
        *match c {
            WakeContext::Task => &mut self.task,
            WakeContext::Softirq => &mut self.softirq,
            WakeContext::Hardirq => &mut self.hardirq,
            WakeContext::Nmi => &mut self.nmi,
            WakeContext::Unknown => &mut self.unknown,
        } += 1;
    }

    pub fn interrupts(&self) -> u64 {
        self.softirq + self.hardirq + self.nmi
    }

    /// Each context's name (as `WakeContext::name` gives it) and count.
    pub fn by_name(&self) -> [(&'static str, u64); 5] {
        [
            (WakeContext::Task.name(), self.task),
            (WakeContext::Softirq.name(), self.softirq),
            (WakeContext::Hardirq.name(), self.hardirq),
            (WakeContext::Nmi.name(), self.nmi),
            (WakeContext::Unknown.name(), self.unknown),
        ]
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KswapdState {
    /// Nothing seen yet.
    #[default]
    Unknown,
    Asleep,
    Awake,
}

/// kswapd of one node as a state machine over wake / sleep events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(transform = kswapd_schema)]
pub struct Kswapd {
    pub state: KswapdState,
    pub since_ns: u64,
    /// Why the running (or last) episode began: the last mm_vmscan_wakeup_kswapd
    /// for this node before the wake, with the allocating task.
    pub wake_reason: Option<WakeReason>,
    pub wake_order: i32,
    pub wake_zid: i32,
    pub episodes: u64,
    /// A sleep without a wake (vmscan attached mid-episode, or a lost record).
    pub sleeps_without_wake: u64,
    /// balance_pgdat() passes in the running (or last) episode.
    pub passes_in_episode: u64,
    /// balance_pgdat() passes since vmscan started.
    pub passes: u64,
    pub wakeups_requested: u64,
    /// `wakeups_requested` by the context each was asked for in.
    pub wakeup_contexts: WakeContexts,
    /// Pages kswapd reclaimed on this node since the episode began.
    pub reclaimed_in_episode: u64,
    /// Direct-reclaim stalls that ended while this kswapd was awake.
    pub direct_stalls_in_episode: u64,
    pub last_episode_us: u64,
    #[serde(skip)]
    pub(crate) pending_wakeup: Option<WakeReason>,
}

/// `reclaimed_in_episode` comes from the shrink passes, which a kernel may
/// not show (a node's `rates.not_derived` says so).
fn kswapd_schema(schema: &mut schemars::Schema) {
    super::named::optional(schema, &["reclaimed_in_episode"]);
}

impl Kswapd {
    pub fn is_awake(&self) -> bool {
        self.state == KswapdState::Awake
    }

    /// Seconds the running episode has lasted at `now_ns` (0 when not awake).
    pub fn awake_secs(&self, now_ns: u64) -> f64 {
        if self.is_awake() {
            now_ns.saturating_sub(self.since_ns) as f64 / 1e9
        } else {
            0.0
        }
    }

    /// An allocation asked for kswapd: remembered as the reason of the next wake.
    pub fn wakeup_requested(&mut self, reason: WakeReason) {
        self.wakeups_requested += 1;
        self.wakeup_contexts.count(reason.context);
        self.pending_wakeup = Some(reason);
    }

    /// kswapd starts a balance_pgdat() pass: a new episode when it was
    /// asleep (or not seen yet), the next pass of the running one otherwise.
    pub fn wake(&mut self, ts_ns: u64, order: i32, zid: i32) {
        self.passes += 1;
        self.wake_order = order;
        self.wake_zid = zid;
        if self.is_awake() {
            self.passes_in_episode += 1;
            return;
        }
        self.passes_in_episode = 1;
        self.state = KswapdState::Awake;
        self.since_ns = ts_ns;
        self.wake_reason = self.pending_wakeup.take();
        self.reclaimed_in_episode = 0;
        self.direct_stalls_in_episode = 0;
    }

    /// kswapd went to sleep; returns the episode's length in microseconds
    /// when an episode (one that began with a seen wake) ended.
    pub fn sleep(&mut self, ts_ns: u64) -> Option<u64> {
        let awake = self.is_awake();
        let us = ts_ns.saturating_sub(self.since_ns) / 1000;
        if awake {
            self.episodes += 1;
            self.last_episode_us = us;
        } else {
            self.sleeps_without_wake += 1;
        }
        self.state = KswapdState::Asleep;
        self.since_ns = ts_ns;
        awake.then_some(us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn an_episode_runs_from_wake_to_sleep_with_its_reason() {
        let mut k = Kswapd::default();
        assert_eq!(k.state, KswapdState::Unknown);
        k.wakeup_requested(WakeReason {
            order: 3,
            pid: 42,
            comm: "java".into(),
            ..WakeReason::default()
        });
        k.wake(2 * S, 3, 2);
        assert!(k.is_awake());
        assert_eq!(k.awake_secs(3 * S), 1.0);
        assert_eq!(k.wake_reason.as_ref().map(|r| r.pid), Some(42));
        assert_eq!(k.sleep(2 * S + S / 2), Some(500_000));
        assert_eq!(
            (k.episodes, k.last_episode_us, k.wakeups_requested),
            (1, 500_000, 1)
        );
        assert_eq!(k.awake_secs(3 * S), 0.0, "asleep");
    }

    #[test]
    fn wake_ups_are_counted_by_the_context_they_were_asked_for_in() {
        use vmscan_common::irq_context as c;
        let mut k = Kswapd::default();
        for flags in [
            c::TASK,
            c::SOFTIRQ,
            c::SOFTIRQ,
            c::HARDIRQ,
            c::NMI,
            c::UNKNOWN,
            99,
        ] {
            k.wakeup_requested(WakeReason {
                context: WakeContext::of(flags),
                ..WakeReason::default()
            });
        }
        assert_eq!(
            k.wakeup_contexts,
            WakeContexts {
                task: 1,
                softirq: 2,
                hardirq: 1,
                nmi: 1,
                // An unknown flag value is no context vmscan knows.
                unknown: 2,
            }
        );
        assert_eq!(k.wakeup_contexts.interrupts(), 4);
        assert_eq!(k.wakeups_requested, 7);
        k.wake(S, 0, 2);
        let r = k
            .wake_reason
            .as_ref()
            .expect("the last request is the reason");
        assert_eq!(r.context, WakeContext::Unknown);
        assert!(!r.context.is_interrupt());
        assert!(WakeContext::of(c::HARDIRQ).is_interrupt());
        assert!(!WakeContext::of(c::TASK).is_interrupt());
    }

    #[test]
    fn a_sleep_without_a_wake_is_counted_not_trusted() {
        let mut k = Kswapd::default();
        assert_eq!(k.sleep(S), None, "a sleep without a wake ends no episode");
        assert_eq!(k.sleeps_without_wake, 1);
        assert_eq!(k.episodes, 0);
    }

    #[test]
    fn wakes_without_a_sleep_are_passes_of_one_episode() {
        let mut k = Kswapd::default();
        k.wakeup_requested(WakeReason {
            pid: 7,
            ..WakeReason::default()
        });
        k.wake(2 * S, 0, 1);
        k.reclaimed_in_episode = 10;
        // balance_pgdat() returned and kswapd_try_to_sleep() did not sleep.
        k.wake(3 * S, 2, 2);
        k.wake(4 * S, 0, 2);
        assert_eq!(
            (k.since_ns, k.reclaimed_in_episode),
            (2 * S, 10),
            "one episode from the first wake"
        );
        assert_eq!((k.passes_in_episode, k.passes, k.wake_order), (3, 3, 0));
        assert_eq!(
            k.wake_reason.as_ref().map(|r| r.pid),
            Some(7),
            "the episode keeps why it began"
        );
        assert_eq!(k.sleep(5 * S), Some(3_000_000));
        assert_eq!(k.episodes, 1);
        k.wake(6 * S, 0, 0);
        assert_eq!(
            (k.passes_in_episode, k.passes),
            (1, 4),
            "a new episode after the sleep"
        );
    }
}
