//! kswapd of one node as a state machine over its wake-up requests, wakes
//! and sleeps. Tolerates lost records: a sleep without a wake and a wake
//! while awake are counted, not trusted.

use schemars::JsonSchema;
use serde::Serialize;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct WakeReason {
    pub zid: i32,
    pub order: i32,
    pub gfp: u64,
    pub pid: u32,
    pub comm: String,
    pub cgroup_id: u64,
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
    /// A wake while already awake (a lost sleep record).
    pub wakes_while_awake: u64,
    pub wakeups_requested: u64,
    /// Pages kswapd reclaimed on this node since the episode began.
    pub reclaimed_in_episode: u64,
    /// Direct-reclaim stalls that ended while this kswapd was awake.
    pub direct_stalls_in_episode: u64,
    pub last_episode_us: u64,
    #[serde(skip)]
    pub(crate) pending_wakeup: Option<WakeReason>,
}

impl Kswapd {
    pub fn is_awake(&self) -> bool {
        self.state == KswapdState::Awake
    }

    /// Seconds the running episode has lasted at `now_ns` (0 when not awake).
    pub fn awake_secs(&self, now_ns: u64) -> f64 {
        if self.is_awake() { now_ns.saturating_sub(self.since_ns) as f64 / 1e9 } else { 0.0 }
    }

    /// An allocation asked for kswapd: remembered as the reason of the next wake.
    pub fn wakeup_requested(&mut self, reason: WakeReason) {
        self.wakeups_requested += 1;
        self.pending_wakeup = Some(reason);
    }

    /// kswapd woke: a new episode begins.
    pub fn wake(&mut self, ts_ns: u64, order: i32, zid: i32) {
        if self.is_awake() {
            self.wakes_while_awake += 1;
        }
        self.state = KswapdState::Awake;
        self.since_ns = ts_ns;
        self.wake_order = order;
        self.wake_zid = zid;
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
        k.wakeup_requested(WakeReason { order: 3, pid: 42, comm: "java".into(), ..WakeReason::default() });
        k.wake(2 * S, 3, 2);
        assert!(k.is_awake());
        assert_eq!(k.awake_secs(3 * S), 1.0);
        assert_eq!(k.wake_reason.as_ref().map(|r| r.pid), Some(42));
        assert_eq!(k.sleep(2 * S + S / 2), Some(500_000));
        assert_eq!((k.episodes, k.last_episode_us, k.wakeups_requested), (1, 500_000, 1));
        assert_eq!(k.awake_secs(3 * S), 0.0, "asleep");
    }

    #[test]
    fn lost_records_are_counted_not_trusted() {
        let mut k = Kswapd::default();
        assert_eq!(k.sleep(S), None, "a sleep without a wake ends no episode");
        assert_eq!(k.sleeps_without_wake, 1);
        k.wake(2 * S, 0, 0);
        k.reclaimed_in_episode = 10;
        k.wake(3 * S, 0, 0);
        assert_eq!(k.wakes_while_awake, 1);
        assert_eq!((k.since_ns, k.reclaimed_in_episode), (3 * S, 0), "the second wake starts over");
        assert!(k.wake_reason.is_none());
        assert_eq!(k.episodes, 0);
    }
}
