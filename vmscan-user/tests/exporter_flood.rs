//! The exporter serves its scraper first: while one peer (127.0.0.1) holds an
//! idle flood (40 connections that never send) and a slow-sender flood (32
//! connections sending one byte every 1-3 s), each reconnecting as soon as
//! it is closed, another peer (127.0.0.2) scrapes /metrics every 100 ms and
//! every scrape must answer 200 within 1 s. The exporter's log must name
//! the limits without a line per connection.
//!
//! VMSCAN_FLOOD_SECS sets the scrape period (default 30 s);
//! VMSCAN_FLOOD_SCRAPER the scraper's address (default 127.0.0.2; 127.0.0.1
//! puts it in the flooding peer's own share).

mod common;

use std::{
    io::{ErrorKind, Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use common::*;

const IDLE: usize = 40;
const SLOW: usize = 32;
const DEADLINE: Duration = Duration::from_secs(1);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One flooding connection, kept open (reconnecting when the server closes
/// it) until `stop`: idle when `byte_every` is None, else it sends one byte
/// of a request every `byte_every`. Returns how many times it connected.
fn flood(addr: SocketAddr, byte_every: Option<Duration>, stop: Arc<AtomicBool>) -> usize {
    let request = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: slowslowslowslowslowslowslowslowslowslowslowslow\r\n\r\n";
    let mut connects = 0;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        connects += 1;
        s.set_read_timeout(Some(byte_every.unwrap_or(Duration::from_millis(500))))
            .unwrap();
        let mut sent = 0;
        let mut buf = [0u8; 4096];
        while !stop.load(Ordering::Relaxed) {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if byte_every.is_some() {
                        if s.write_all(&request[sent % request.len()..][..1]).is_err() {
                            break;
                        }
                        sent += 1;
                    }
                }
                Err(_) => break,
            }
        }
        // A flooder reconnects at once; a short pause keeps this test's own
        // CPU use modest on a small machine.
        std::thread::sleep(Duration::from_millis(200));
    }
    connects
}

/// One scrape from `from`: (latency, answered with 200 and metrics).
fn scrape(addr: SocketAddr, from: std::net::Ipv4Addr) -> (Duration, bool) {
    let t0 = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ok = rt.block_on(async {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let sock = tokio::net::TcpSocket::new_v4().ok()?;
        sock.bind(SocketAddr::from((from, 0))).ok()?;
        let mut s = tokio::time::timeout(Duration::from_secs(3), sock.connect(addr))
            .await
            .ok()?
            .ok()?;
        s.write_all(
            b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain;version=0.0.4\r\n\r\n",
        )
        .await
        .ok()?;
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut out))
            .await
            .ok()?
            .ok()?;
        let text = String::from_utf8_lossy(&out);
        Some(text.starts_with("HTTP/1.1 200") && text.contains("vmscan_events_total"))
    });
    (t0.elapsed(), ok == Some(true))
}

#[test]
fn scrapes_answer_within_a_second_under_idle_and_slow_floods() {
    if !require_root("scrapes_answer_within_a_second_under_idle_and_slow_floods") {
        return;
    }
    let secs: u64 = std::env::var("VMSCAN_FLOOD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let from = std::env::var("VMSCAN_FLOOD_SCRAPER")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or([127, 0, 0, 2].into());
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let vmscan = Vmscan::start(&["export", "--listen", &listen]);
    let addr: SocketAddr = listen.parse().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let mut floods = Vec::new();
    for i in 0..IDLE + SLOW {
        let every = (i >= IDLE)
            .then(|| Duration::from_millis(1000 + 2000 * (i - IDLE) as u64 / SLOW as u64));
        let stop = stop.clone();
        floods.push(std::thread::spawn(move || flood(addr, every, stop)));
    }
    // Let the flood fill every slot before the first scrape.
    std::thread::sleep(Duration::from_secs(2));

    let (answered, mut worst, mut late) = (AtomicUsize::new(0), Duration::ZERO, 0);
    let mut latencies = Vec::new();
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        let t = Instant::now();
        let (lat, ok) = scrape(addr, from);
        if ok {
            answered.fetch_add(1, Ordering::Relaxed);
        }
        if !ok || lat > DEADLINE {
            late += 1;
        }
        worst = worst.max(lat);
        latencies.push(lat);
        std::thread::sleep(Duration::from_millis(100).saturating_sub(t.elapsed()));
    }
    stop.store(true, Ordering::Relaxed);
    let connects: usize = floods.into_iter().map(|h| h.join().unwrap()).sum();
    let log: Vec<String> = vmscan.stderr.try_iter().collect();
    let _ = vmscan.stop();

    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let n = latencies.len();
    let answered = answered.into_inner();
    let exporter_lines = log.iter().filter(|l| l.contains("exporter")).count();
    eprintln!(
        "flood {secs} s, scraper {from}: {answered}/{n} scrapes answered 200, {late} failed or over {DEADLINE:?}; latency p50 {p50:?}, worst {worst:?}; flood connections made {connects}; exporter log lines {exporter_lines}"
    );
    for l in log.iter().filter(|l| l.contains("exporter")).take(5) {
        eprintln!("  log: {l}");
    }
    assert!(n >= secs as usize * 5, "scraped only {n} times in {secs} s");
    assert_eq!(
        late, 0,
        "every scrape must answer 200 within {DEADLINE:?}: {answered}/{n} answered, worst {worst:?}"
    );
    assert!(
        connects > IDLE + SLOW,
        "the flood should have been pushed out and reconnected ({connects} connects)"
    );
    assert!(exporter_lines >= 1, "the limits should be logged: {log:#?}");
    assert!(
        exporter_lines <= 2 + secs as usize / 5,
        "the log must not get a line per connection: {exporter_lines} lines in {secs} s"
    );
}
