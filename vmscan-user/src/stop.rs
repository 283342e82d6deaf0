//! Stopping on SIGINT or SIGTERM, from the start of loading on.
//!
//! Loading makes things that outlive a killed process: the kprobe events
//! vmscan makes for its kretprobes stay in tracefs until someone removes
//! them. So from the moment loading begins ([`arm`]) the first SIGINT or
//! SIGTERM only asks vmscan to stop: loading checks [`requested`] between
//! hooks and unwinds (removing what it made), and each run loop stops at
//! once ([`Signals::recv`]). A second signal ends the process as the
//! signal would (an escape hatch for a start-up that does not get to its
//! next check).
//!
//! Commands that load nothing (replay, report) never arm, and die on the
//! first signal as before.

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

use tokio::signal::unix::{Signal, SignalKind, signal};

/// The signals that ask vmscan to stop.
const SIGNALS: [i32; 2] = [libc::SIGINT, libc::SIGTERM];

struct Flags {
    asked: Arc<AtomicBool>,
    which: Arc<AtomicUsize>,
}

static FLAGS: OnceLock<Option<Flags>> = OnceLock::new();

/// Catches SIGINT and SIGTERM from now on (once; later calls do nothing).
/// Where the handlers cannot be installed the signals keep their default
/// action: vmscan still stops, only without removing what it made.
pub fn arm() {
    FLAGS.get_or_init(|| {
        let asked = Arc::new(AtomicBool::new(false));
        let which = Arc::new(AtomicUsize::new(0));
        for sig in SIGNALS {
            // In this order: the first signal finds `asked` unset (no
            // default action) and then sets it; a second finds it set.
            let r = signal_hook::flag::register_conditional_default(sig, Arc::clone(&asked))
                .and_then(|_| signal_hook::flag::register_usize(sig, Arc::clone(&which), sig as usize))
                .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&asked)));
            if let Err(e) = r {
                log::warn!("catching signal {sig}: {e} (a stop during start-up may leave kprobe events to the next vmscan)");
                return None;
            }
        }
        Some(Flags { asked, which })
    });
}

/// Whether a stop was asked for since [`arm`].
pub fn requested() -> bool {
    FLAGS
        .get()
        .and_then(Option::as_ref)
        .is_some_and(|f| f.asked.load(Ordering::SeqCst))
}

/// The error loading returns when a stop was asked for while it ran; main
/// exits with 128 + the signal's number, as the shell reports a signal.
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
    let Some(f) = FLAGS.get().and_then(Option::as_ref) else {
        return Ok(());
    };
    if !f.asked.load(Ordering::SeqCst) {
        return Ok(());
    }
    let signal = match f.which.load(Ordering::SeqCst) {
        0 => libc::SIGINT,
        s => s as i32,
    };
    Err(Interrupted { signal }.into())
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
