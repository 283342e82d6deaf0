//! `vmscan export`: serve OpenMetrics at /metrics for Prometheus.

use std::{
    net::SocketAddr,
    sync::{Arc, RwLock},
    time::Duration,
};

use anyhow::Context as _;

use crate::{
    export::{
        http,
        metrics::{self, ExportState},
    },
    live::Session,
    probe::loader::LoadOptions,
};

/// vmscan's documented default: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9436";

pub struct ExportOptions {
    pub listen: SocketAddr,
    pub allow_remote: bool,
    pub interval: Duration,
    pub max_memcgs: usize,
    pub bpf_stats: bool,
    pub load: LoadOptions,
}

/// The exposure check, separate for tests: anything but loopback needs an
/// explicit flag.
pub fn check_listen(addr: &SocketAddr, allow_remote: bool) -> Result<Option<String>, String> {
    if http::is_loopback(addr) {
        return Ok(None);
    }
    if !allow_remote {
        return Err(format!(
            "refusing to listen on {addr}: not a loopback address, and /metrics shows this host's memory activity; pass --allow-remote to expose it"
        ));
    }
    Ok(Some(format!(
        "warning: serving /metrics on {addr}, reachable from other hosts"
    )))
}

/// The longest a scrape waits for a fresh snapshot (the HTTP thread waits
/// with it).
const SCRAPE_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

pub async fn run(o: ExportOptions) -> anyhow::Result<()> {
    if let Some(w) = check_listen(&o.listen, o.allow_remote).map_err(anyhow::Error::msg)? {
        crate::note!("vmscan: {w}");
    }
    let mut session = Session::start(o.load)?;
    session.track_misses();
    // Keep BPF run-time statistics on while we run, if asked.
    let _stats_fd = if o.bpf_stats {
        Some(
            aya::sys::enable_stats(aya::sys::Stats::RunTime)
                .context("enabling BPF run-time statistics (BPF_ENABLE_STATS)")?,
        )
    } else {
        None
    };
    let stats_on = o.bpf_stats
        || std::fs::read_to_string(crate::probe::paths::host(
            "/proc/sys/kernel/bpf_stats_enabled",
        ))
        .is_ok_and(|s| s.trim() == "1");
    let state = Arc::new(RwLock::new(ExportState {
        hooks: session.loaded.hooks.clone(),
        max_memcgs: o.max_memcgs,
        bpf_stats_enabled: stats_on,
        snap: session.model.snapshot(),
        ..ExportState::default()
    }));
    let registry = Arc::new(metrics::exporter_registry(state.clone()));
    let listener = tokio::net::TcpListener::bind(o.listen)
        .await
        .with_context(|| {
            format!(
                "listening on {} (is another exporter using the port? choose one with --listen)",
                o.listen
            )
        })?;
    if !o.bpf_stats {
        // With --bpf-stats the BPF_ENABLE_STATS descriptor is all we need
        // too, but keep the capability set simple: drop only without it.
        session.drop_privileges();
    }
    // A scrape asks the loop below for a snapshot of the model as its last
    // interval left it, and waits for it: building one costs in proportion
    // to the lruvecs (10,000 memcgs: most of the exporter's own work), so it
    // is built when a scrape wants it, at most once an interval, not every
    // interval. Were the loop busy past SCRAPE_WAIT (a long interval's read
    // on a loaded host), the scrape renders the snapshot it last got rather
    // than hold the HTTP thread.
    let (want_tx, mut want_rx) = tokio::sync::mpsc::channel::<std::sync::mpsc::SyncSender<()>>(8);
    let r = registry.clone();
    let render: Arc<dyn Fn(bool) -> String + Send + Sync> = Arc::new(move |openmetrics| {
        let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
        if want_tx.try_send(done_tx).is_ok() {
            let _ = done_rx.recv_timeout(SCRAPE_WAIT);
        }
        let om = metrics::render(&r).unwrap_or_else(|e| format!("# encoding failed: {e}\n# EOF\n"));
        if openmetrics {
            om
        } else {
            metrics::to_prometheus_text(&om)
        }
    });
    // After dropping privileges: the server's thread inherits them.
    http::serve_on_thread(listener, render).context("starting the HTTP server's thread")?;
    crate::note!(
        "vmscan: counting; serving http://{}/metrics (Ctrl-C to stop)",
        o.listen
    );

    let mut stop = crate::stop::Signals::new()?;
    let mut tick = tokio::time::interval(o.interval);
    // Intervals read so far, and the one the state's snapshot is of.
    let (mut ticks, mut snapped) = (0u64, None);
    loop {
        tokio::select! {
            _ = stop.recv() => break,
            _ = tick.tick() => {
                session.tick()?;
                ticks += 1;
            }
            Some(done) = want_rx.recv() => {
                // One build an interval, however many scrapes ask.
                if snapped != Some(ticks) {
                    snapped = Some(ticks);
                    let snap = session.model.snapshot();
                    let totals = session.model.totals().clone();
                    let stats = if stats_on { session.bpf_stats() } else { vec![] };
                    let missed = session.hook_missed();
                    let mut st = match state.write() { Ok(g) => g, Err(p) => p.into_inner() };
                    st.snap = snap;
                    st.totals = totals;
                    st.bpf_stats = stats;
                    st.hook_missed = missed;
                }
                let _ = done.try_send(());
            }
            r = session.pump_events() => { r?; }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_without_the_flag() {
        assert_eq!(
            check_listen(&"127.0.0.1:9436".parse().unwrap(), false),
            Ok(None)
        );
        assert_eq!(
            check_listen(&"[::1]:9436".parse().unwrap(), false),
            Ok(None)
        );
        let e = check_listen(&"0.0.0.0:9436".parse().unwrap(), false).unwrap_err();
        assert!(
            e.contains("--allow-remote") && e.contains("0.0.0.0:9436"),
            "{e}"
        );
        assert!(
            check_listen(&"0.0.0.0:9436".parse().unwrap(), true)
                .unwrap()
                .unwrap()
                .contains("warning")
        );
    }
}
