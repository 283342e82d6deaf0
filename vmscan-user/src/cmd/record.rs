//! `vmscan record`: write the event stream and kernel samples to a file.

use std::{io::Write as _, path::PathBuf, time::Duration};

use crate::{
    export::record::{Header, VERSION, Writer},
    live::Session,
    probe::{loader::LoadOptions, sample},
};

pub struct RecordOptions {
    pub output: PathBuf,
    pub duration: Option<Duration>,
    pub interval: Duration,
    pub force: bool,
    pub mode: u32,
    /// Write the recording as the user who ran sudo (SUDO_UID / SUDO_GID).
    pub as_sudo_user: bool,
    pub load: LoadOptions,
}

/// Becomes the user who invoked sudo: groups, gid, then uid (which also
/// drops every capability). Errors when not started through sudo.
fn become_sudo_user() -> anyhow::Result<(u32, u32)> {
    let get = |k: &str| -> anyhow::Result<u32> {
        std::env::var(k)
            .map_err(|_| anyhow::anyhow!("--user needs vmscan started with sudo ({k} is not set)"))?
            .parse()
            .map_err(|_| anyhow::anyhow!("{k} is not a number"))
    };
    let (uid, gid) = (get("SUDO_UID")?, get("SUDO_GID")?);
    // SAFETY: plain syscalls changing this process's credentials, checked.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setresgid(gid, gid, gid) != 0
            || libc::setresuid(uid, uid, uid) != 0
        {
            return Err(anyhow::anyhow!(
                "switching to uid {uid} gid {gid}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok((uid, gid))
}

fn hostname() -> String {
    std::fs::read_to_string(crate::probe::paths::host("/proc/sys/kernel/hostname"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn is_tty(fd: i32) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

pub async fn run(o: RecordOptions) -> anyhow::Result<()> {
    let mut session = Session::start(o.load)?;
    let header = Header {
        format_version: VERSION,
        vmscan_version: env!("CARGO_PKG_VERSION").into(),
        kernel: session.loaded.system.kernel.clone(),
        hostname: hostname(),
        numa_nodes: session.loaded.system.numa_nodes.clone(),
        page_size: session.loaded.system.page_size,
        start_unix_secs: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
        start_monotonic_ns: sample::monotonic_ns(),
        counting: Some(session.loaded.counting),
        hooks: session
            .loaded
            .hooks
            .iter()
            .map(|h| {
                (
                    h.id,
                    h.name.clone(),
                    h.mechanism.clone().unwrap_or_default(),
                )
            })
            .collect(),
    };
    if o.as_sudo_user {
        let (uid, gid) = become_sudo_user()?;
        crate::note!("vmscan: recording as uid {uid} gid {gid}");
    }
    let mut w = Writer::create(&o.output, &header, o.force, o.mode)?;
    // A write that fails (a full disk) ends the recording with one line
    // naming the file; what was written before replays.
    let out_name = o.output.display().to_string();
    let writing = |e: anyhow::Error| {
        e.context(format!(
            "writing {out_name} (it replays up to its last complete record)"
        ))
    };
    let writing_io = |e: std::io::Error| writing(e.into());
    session.drop_privileges();
    let progress = is_tty(2);
    crate::note!(
        "vmscan: counting; recording to {} (Ctrl-C to stop)",
        o.output.display()
    );
    let mut stop = crate::stop::Signals::new()?;
    let deadline = o.duration.map(|d| tokio::time::Instant::now() + d);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + o.interval, o.interval);
    let start = std::time::Instant::now();
    // The first recorded sample carries every memcg and the generations; the
    // one the session started from is not in the file.
    session.full_next();
    loop {
        tokio::select! {
            _ = stop.recv() => break,
            _ = async { tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)).await }, if deadline.is_some() => break,
            _ = tick.tick() => {
                let t = session.tick()?;
                w.events(&session.tick_events().events).map_err(writing_io)?;
                w.tick(t.secs, &t.delta, &t.sample).map_err(writing)?;
                if progress {
                    let lost: u64 = session.model.totals().lost.iter().sum();
                    // A terminal that went away must not end the recording.
                    let _ = write!(
                        std::io::stderr(),
                        "\r\x1b[K{:>6.0} s  {} events  {:.1} MiB  {} lost",
                        start.elapsed().as_secs_f64(),
                        w.events,
                        w.bytes as f64 / 1048576.0,
                        lost
                    );
                    let _ = std::io::stderr().flush();
                }
            }
            r = session.pump_events() => {
                w.events(&r?.events).map_err(writing_io)?;
            }
        }
    }
    w.events(&session.pump_events_now().events)
        .map_err(writing_io)?;
    session.complete_next();
    let t = session.tick()?;
    w.events(&session.tick_events().events)
        .map_err(writing_io)?;
    w.tick(t.secs, &t.delta, &t.sample).map_err(writing)?;
    let lost: u64 = session.model.totals().lost.iter().sum();
    let (records, events, bytes) = (w.records, w.events, w.bytes);
    w.finish().map_err(writing_io)?;
    if progress {
        crate::note!("");
    }
    crate::note!(
        "vmscan: wrote {} ({records} records, {events} events, {bytes} bytes, {lost} lost) in {:.1} s",
        o.output.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
