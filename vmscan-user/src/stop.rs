//! Stopping on SIGINT or SIGTERM, from the start of loading on.
//!
//! Loading makes things that outlive a killed process: the kprobe events
//! vmscan makes for its kretprobes stay in tracefs until someone removes
//! them. So from the moment loading begins ([`arm`]) a SIGINT or SIGTERM
//! only asks vmscan to stop: loading checks [`requested`] between hooks
//! and unwinds (removing what it made), and each run loop stops at once
//! ([`Signals::recv`]). While loading, a second signal ends the process as
//! the signal would (an escape hatch for a start-up that does not get to
//! its next check); once loaded ([`loaded`]) the run loops handle every
//! signal, as before.
//!
//! Commands that load nothing (replay, report) never arm: `report` and
//! `replay --json` keep the signals' default action, the replay UI its
//! own handling.

use std::sync::{
    Once,
    atomic::{AtomicBool, AtomicI32, Ordering},
};

use tokio::signal::unix::{Signal, SignalKind, signal};

/// The signals that ask vmscan to stop.
const SIGNALS: [i32; 2] = [libc::SIGINT, libc::SIGTERM];

/// The signal that asked for a stop, the first since [`arm`] (0: none yet).
static ASKED_BY: AtomicI32 = AtomicI32::new(0);
/// Loading is under way: a second signal ends the process.
static LOADING: AtomicBool = AtomicBool::new(false);
static ARMED: Once = Once::new();

/// Catches SIGINT and SIGTERM from now on (installed once) and marks
/// loading as under way. Where a handler cannot be installed that signal
/// keeps its default action: vmscan still stops, only without removing
/// what it made.
pub fn arm() {
    LOADING.store(true, Ordering::SeqCst);
    ARMED.call_once(|| {
        for sig in SIGNALS {
            // One action per signal, so no signal can come between two
            // registrations and be half handled. Async-signal-safe: atomics
            // and, for a second signal while loading, the default action.
            let action = move || {
                let first = ASKED_BY
                    .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok();
                if !first && LOADING.load(Ordering::SeqCst) {
                    let _ = signal_hook::low_level::emulate_default_handler(sig);
                }
            };
            // SAFETY: the action only touches atomics and calls
            // emulate_default_handler, both async-signal-safe.
            if let Err(e) = unsafe { signal_hook::low_level::register(sig, action) } {
                log::warn!(
                    "catching signal {sig}: {e} (a stop during start-up may leave kprobe events to the next vmscan)"
                );
            }
        }
    });
}

/// Loading is done: from now on a second signal no longer ends the
/// process at once (the run loops stop on the first and finish their
/// work: a report, removing the kprobe events).
pub fn loaded() {
    LOADING.store(false, Ordering::SeqCst);
}

/// Whether a stop was asked for since [`arm`].
pub fn requested() -> bool {
    ASKED_BY.load(Ordering::SeqCst) != 0
}

/// The error loading returns when a stop was asked for while it ran; main
/// then ends vmscan as the signal would (exit status 128 + its number).
#[derive(Debug)]
pub struct Interrupted {
    pub signal: i32,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stopped by {} while starting; what was attached is removed",
            if self.signal == libc::SIGTERM {
                "SIGTERM"
            } else {
                "SIGINT"
            }
        )
    }
}

impl std::error::Error for Interrupted {}

/// Err([`Interrupted`]) when a stop was asked for.
pub fn check() -> anyhow::Result<()> {
    match ASKED_BY.load(Ordering::SeqCst) {
        0 => Ok(()),
        signal => Err(Interrupted { signal }.into()),
    }
}

/// SIGINT and SIGTERM for a run loop, including one that came before the
/// loop began (while loading, caught by [`arm`]).
pub struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    /// Completes at the next SIGINT or SIGTERM, at once where one came
    /// since [`arm`] (the handlers above were installed first, so a signal
    /// in between is not lost).
    pub async fn recv(&mut self) {
        if requested() {
            return;
        }
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}
