//! The ring buffer's records as typed episodes. A raw [`Event`] is one
//! `#[repr(C)]` shape for every kind, with fields a kind does not use left
//! zero and some fields reused (a THROTTLED record carries its delay in
//! `scanned` and its timeout in `reclaimed`). It is decoded once, here, where
//! records enter the model; everything after matches on [`Episode`].

use vmscan_common::{Event, event};

/// One decoded ring-buffer record. Times are CLOCK_MONOTONIC nanoseconds;
/// `nid` is as the kernel reported it (negative when unknown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Episode {
    /// kswapd of `nid` woke (mm_vmscan_kswapd_wake).
    KswapdWake {
        ts_ns: u64,
        nid: i32,
        zid: i32,
        order: i32,
    },
    /// kswapd of `nid` went to sleep (mm_vmscan_kswapd_sleep).
    KswapdSleep { ts_ns: u64, nid: i32 },
    /// An allocation asked kswapd of `nid` to run (mm_vmscan_wakeup_kswapd).
    WakeupKswapd {
        ts_ns: u64,
        nid: i32,
        zid: i32,
        order: i32,
        gfp: u64,
        pid: u32,
        comm: String,
        cgroup_id: u64,
        /// vmscan_common::irq_context: where it was asked for.
        context: u32,
    },
    /// A direct, memcg or node reclaim episode ended.
    ReclaimEnd {
        ts_ns: u64,
        start_ns: u64,
        /// reclaimer::* kind.
        reclaimer: u32,
        nid: i32,
        order: i32,
        pid: u32,
        comm: String,
        cgroup_id: u64,
        /// `cgroup_id` is the memcg the kernel reclaimed
        /// (try_to_free_mem_cgroup_pages' argument), not the task's.
        target: bool,
        reclaimed: u64,
    },
    /// One shrink_inactive_list pass.
    ShrinkInactive {
        ts_ns: u64,
        reclaimer: u32,
        nid: i32,
        scanned: u64,
        reclaimed: u64,
        priority: i32,
        flags: u32,
    },
    /// One shrink_node pass ended.
    ShrinkNode {
        ts_ns: u64,
        start_ns: u64,
        reclaimer: u32,
        nid: i32,
        reclaimed: u64,
    },
    /// A task was throttled in reclaim (mm_vmscan_throttled).
    Throttled {
        ts_ns: u64,
        nid: i32,
        pid: u32,
        comm: String,
        reason: u32,
        delay_us: u64,
        timeout_us: u64,
    },
}

/// A record of a kind this build does not know; its time still counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownKind {
    pub kind: vmscan_common::EventKind,
    pub ts_ns: u64,
}

impl std::fmt::Display for UnknownKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown ring-buffer record kind {} at {} ns",
            self.kind, self.ts_ns
        )
    }
}

impl std::error::Error for UnknownKind {}

/// What one record decodes to.
pub type Decoded = Result<Episode, UnknownKind>;

/// A task's comm (NUL-padded) as text.
pub fn comm_str(c: &[u8; 16]) -> String {
    let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
    String::from_utf8_lossy(&c[..end]).into_owned()
}

impl TryFrom<&Event> for Episode {
    type Error = UnknownKind;

    fn try_from(e: &Event) -> Result<Self, UnknownKind> {
        let ts_ns = e.ts_ns;
        Ok(match e.kind {
            event::KSWAPD_WAKE => Episode::KswapdWake {
                ts_ns,
                nid: e.nid,
                zid: e.zid,
                order: e.order,
            },
            event::KSWAPD_SLEEP => Episode::KswapdSleep { ts_ns, nid: e.nid },
            event::WAKEUP_KSWAPD => Episode::WakeupKswapd {
                ts_ns,
                nid: e.nid,
                zid: e.zid,
                order: e.order,
                gfp: e.gfp,
                pid: e.pid,
                comm: comm_str(&e.comm),
                cgroup_id: e.cgroup_id,
                context: e.flags,
            },
            event::RECLAIM_END => Episode::ReclaimEnd {
                ts_ns,
                start_ns: e.start_ns,
                reclaimer: e.reclaimer,
                nid: e.nid,
                order: e.order,
                pid: e.pid,
                comm: comm_str(&e.comm),
                cgroup_id: e.cgroup_id,
                target: e.flags & vmscan_common::RECLAIM_TARGET != 0,
                reclaimed: e.reclaimed,
            },
            event::SHRINK_INACTIVE => Episode::ShrinkInactive {
                ts_ns,
                reclaimer: e.reclaimer,
                nid: e.nid,
                scanned: e.scanned,
                reclaimed: e.reclaimed,
                priority: e.priority,
                flags: e.flags,
            },
            event::SHRINK_NODE => Episode::ShrinkNode {
                ts_ns,
                start_ns: e.start_ns,
                reclaimer: e.reclaimer,
                nid: e.nid,
                reclaimed: e.reclaimed,
            },
            // The eBPF side stores the delay in `scanned` and the timeout in
            // `reclaimed` (both microseconds), the reason in `flags`.
            event::THROTTLED => Episode::Throttled {
                ts_ns,
                nid: e.nid,
                pid: e.pid,
                comm: comm_str(&e.comm),
                reason: e.flags,
                delay_us: e.scanned,
                timeout_us: e.reclaimed,
            },
            kind => return Err(UnknownKind { kind, ts_ns }),
        })
    }
}

/// Decodes a batch of records, in order.
pub fn decode(evs: &[Event]) -> Vec<Decoded> {
    evs.iter().map(Episode::try_from).collect()
}

/// When a decoded record happened.
pub fn ts_ns(d: &Decoded) -> u64 {
    match d {
        Ok(e) => e.ts_ns(),
        Err(u) => u.ts_ns,
    }
}

impl Episode {
    pub fn ts_ns(&self) -> u64 {
        match self {
            Episode::KswapdWake { ts_ns, .. }
            | Episode::KswapdSleep { ts_ns, .. }
            | Episode::WakeupKswapd { ts_ns, .. }
            | Episode::ReclaimEnd { ts_ns, .. }
            | Episode::ShrinkInactive { ts_ns, .. }
            | Episode::ShrinkNode { ts_ns, .. }
            | Episode::Throttled { ts_ns, .. } => *ts_ns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmscan_common::reclaimer;

    #[test]
    fn throttled_fields_mean_delay_and_timeout() {
        let mut e = Event {
            kind: event::THROTTLED,
            ts_ns: 7,
            nid: 1,
            pid: 42,
            flags: 0x4,
            scanned: 1500,
            reclaimed: 100_000,
            ..Event::default()
        };
        e.comm[..4].copy_from_slice(b"java");
        let d = Episode::try_from(&e).unwrap();
        assert_eq!(
            d,
            Episode::Throttled {
                ts_ns: 7,
                nid: 1,
                pid: 42,
                comm: "java".into(),
                reason: 0x4,
                delay_us: 1500,
                timeout_us: 100_000
            }
        );
    }

    #[test]
    fn reclaim_end_keeps_its_episode_fields() {
        let e = Event {
            kind: event::RECLAIM_END,
            reclaimer: reclaimer::MEMCG,
            start_ns: 1_000,
            ts_ns: 5_000,
            nid: -1,
            order: 2,
            cgroup_id: 77,
            reclaimed: 32,
            ..Event::default()
        };
        let Ok(Episode::ReclaimEnd {
            start_ns,
            reclaimer: r,
            nid,
            order,
            cgroup_id,
            reclaimed,
            comm,
            ..
        }) = Episode::try_from(&e)
        else {
            panic!("not a reclaim end");
        };
        assert_eq!(
            (start_ns, r, nid, order, cgroup_id, reclaimed),
            (1_000, reclaimer::MEMCG, -1, 2, 77, 32)
        );
        assert_eq!(comm, "");
    }

    #[test]
    fn every_known_kind_decodes_and_keeps_its_time() {
        for kind in [
            event::KSWAPD_WAKE,
            event::KSWAPD_SLEEP,
            event::WAKEUP_KSWAPD,
            event::RECLAIM_END,
            event::SHRINK_INACTIVE,
            event::SHRINK_NODE,
            event::THROTTLED,
        ] {
            let d = Episode::try_from(&Event {
                kind,
                ts_ns: 99,
                ..Event::default()
            });
            assert_eq!(d.map(|e| e.ts_ns()), Ok(99), "kind {kind}");
        }
    }

    #[test]
    fn unknown_kind_is_an_error_with_its_time() {
        // Kind 10 is what bench_storm once wrote (the hook id of
        // SHRINK_INACTIVE where its event kind, 5, was meant).
        let bad = vmscan_common::EventKind(10);
        let e = Event {
            kind: bad,
            ts_ns: 5,
            ..Event::default()
        };
        let d = Episode::try_from(&e);
        assert_eq!(
            d,
            Err(UnknownKind {
                kind: bad,
                ts_ns: 5
            })
        );
        assert_eq!(ts_ns(&d), 5);
        assert_eq!(
            decode(&[
                e,
                Event {
                    kind: event::KSWAPD_SLEEP,
                    nid: 3,
                    ..Event::default()
                }
            ])
            .len(),
            2
        );
        assert!(
            Episode::try_from(&Event {
                kind: vmscan_common::EventKind(0),
                ..Event::default()
            })
            .is_err()
        );
    }
}
