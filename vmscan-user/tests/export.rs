//! A real Prometheus scrapes `vmscan export` during a memcg reclaim workload;
//! the reclaimed-pages counter's increase must equal the kernel's pgsteal
//! delta, and a histogram_quantile over memcg reclaim latency must answer.

mod common;

use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    process::{Child, Command, Stdio},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use common::*;
use serde_json::Value;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn raw(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn urlencode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query; returns the single value (NaN when empty).
fn query(port: u16, q: &str, at: Option<f64>) -> f64 {
    let mut path = format!("/api/v1/query?query={}", urlencode(q));
    if let Some(t) = at {
        path.push_str(&format!("&time={t:.3}"));
    }
    let (status, body) = http_get(port, &path);
    // Chunked transfer encoding may wrap the JSON: take the outermost object.
    let json = &body[body.find('{').unwrap_or(0)..=body.rfind('}').unwrap_or(0)];
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{status} {e}: {body}"));
    assert_eq!(v["status"], "success", "{q}: {v}");
    v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn prometheus_scrapes_vmscan_and_counts_match_pgsteal() {
    if !require_root("prometheus_scrapes_vmscan_and_counts_match_pgsteal") {
        return;
    }
    let (vport, pport) = (free_port(), free_port());
    let file = uncached_file(512);
    let cg = Memcg::new("vmscan-test-export", 64 << 20);
    let listen = format!("127.0.0.1:{vport}");
    let vmscan = Vmscan::start(&["export", "--listen", &listen]);

    let dir = std::env::temp_dir().join(format!("vmscan-prom-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: vmscan\n    static_configs:\n      - targets: ['{listen}']\n"),
    )
    .unwrap();
    let prom = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{pport}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .expect("prometheus (cargo xtask test installs the Debian package)");
    let _prom = Kill(prom);
    let mut up = f64::NAN;
    for _ in 0..300 {
        std::thread::sleep(Duration::from_millis(100));
        if TcpStream::connect(("127.0.0.1", pport)).is_ok() && http_get(pport, "/-/ready").0 == 200
        {
            up = query(pport, "up{job=\"vmscan\"}", None);
            if up == 1.0 {
                break;
            }
        }
    }
    assert_eq!(
        up,
        1.0,
        "Prometheus never scraped vmscan; see {}",
        dir.join("prometheus.log").display()
    );
    std::thread::sleep(Duration::from_millis(1500));
    let t0 = now();
    let before = vmstat();
    let cmd = read_in_cgroup(&cg, &file);
    assert!(
        Command::new(&cmd[0])
            .args(&cmd[1..])
            .status()
            .unwrap()
            .success()
    );
    let after = vmstat();
    std::thread::sleep(Duration::from_millis(3500));
    let t1 = now();

    let steal =
        (delta(&before, &after, "pgsteal_anon") + delta(&before, &after, "pgsteal_file")) as f64;
    assert!(
        steal > 50_000.0,
        "the workload should reclaim, pgsteal moved {steal}"
    );
    let q = "sum(vmscan_pages_reclaimed_total)";
    let increase = query(pport, q, Some(t1)) - query(pport, q, Some(t0));
    assert_eq!(
        increase, steal,
        "increase of {q} between scrapes around the workload vs /proc/vmstat pgsteal"
    );

    let p99 = query(
        pport,
        "histogram_quantile(0.99, sum by (le) (rate(vmscan_memcg_reclaim_duration_seconds_bucket[1m])))",
        Some(t1),
    );
    assert!(p99.is_finite() && p99 > 0.0, "memcg reclaim p99 = {p99}");

    // vmscan's own figures, as Prometheus stored them.
    let rss = query(
        pport,
        "process_resident_memory_bytes{job=\"vmscan\"}",
        Some(t1),
    );
    assert!(rss > 1e6 && rss < 1e9, "vmscan's resident memory {rss}");
    assert!(query(pport, "process_open_fds{job=\"vmscan\"}", Some(t1)) >= 3.0);
    let started = query(
        pport,
        "process_start_time_seconds{job=\"vmscan\"}",
        Some(t1),
    );
    assert!(
        started > t0 - 600.0 && started < t1,
        "start time {started} vs the test's {t0}"
    );
    assert!(
        query(
            pport,
            "rate(process_cpu_seconds_total{job=\"vmscan\"}[1m])",
            Some(t1)
        ) >= 0.0
    );
    let info =
        "count(vmscan_build_info{job=\"vmscan\",version!=\"\",revision!=\"\",kernel!=\"\"} == 1)";
    assert_eq!(query(pport, info, Some(t1)), 1.0, "{info}");

    // Prometheus's own Accept header gets OpenMetrics; a plain GET the
    // text format 0.0.4.
    let om = raw(
        vport,
        "GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n\r\n",
    );
    assert!(
        om.contains("Content-Type: application/openmetrics-text; version=1.0.0")
            && om.trim_end().ends_with("# EOF"),
        "{om:.300}"
    );
    let text = raw(vport, "GET /metrics HTTP/1.1\r\nAccept: */*\r\n\r\n");
    assert!(
        text.contains("Content-Type: text/plain; version=0.0.4") && !text.contains("# EOF"),
        "{text:.300}"
    );

    let (status, body) = http_get(vport, "/metrics");
    assert_eq!(status, 200);
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The exporter's self-check: every pgscan/pgsteal counter equals
    // /proc/vmstat's since vmscan started.
    assert!(
        body.contains("vmscan_self_check_checked"),
        "self-check metrics present: {body}"
    );
    let diverging: Vec<&str> = body
        .lines()
        .filter(|l| {
            l.starts_with("vmscan_self_check_divergence_pages{counter=\"pgs") && !l.ends_with(" 0")
        })
        .collect();
    assert!(diverging.is_empty(), "self-check: {diverging:?}");

    assert!(raw(vport, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
    assert!(raw(vport, "GET /admin HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
    let (s, om) = http_get(vport, "/metrics?format=openmetrics");
    assert!(
        s == 200 && om.trim_end().ends_with("# EOF"),
        "OpenMetrics ends with # EOF"
    );
    vmscan.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn export_refuses_remote_addresses_without_the_flag() {
    let out = Command::new(bin())
        .args(["export", "--listen", "0.0.0.0:19436"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains("--allow-remote"), "{err}");
    let out = Command::new(bin())
        .args(["export", "--listen", "not-an-address"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not-an-address"));
}
