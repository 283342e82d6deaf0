//! A deliberately small HTTP/1.1 server for the exporter: GET /metrics and a
//! tiny index page; everything else 404 (unknown path) or 405 (other
//! methods). It reads only the request line (bounded), answers one request
//! per connection, and limits concurrent connections and request rate.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

/// Longest request head read (bytes); longer requests get 431.
pub const MAX_REQUEST: usize = 8192;
/// Connections served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 32;
/// Time a client has to send its request line.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests answered per second at most (a burst of this many is allowed);
/// more get 429. Prometheus scrapes once every few seconds.
pub const MAX_RATE: f64 = 20.0;

/// A token bucket: `take` is true while the rate is not exceeded.
pub struct RateLimit {
    tokens: f64,
    last: std::time::Instant,
    rate: f64,
}

impl RateLimit {
    pub fn new(rate: f64) -> Self {
        Self { tokens: rate, last: std::time::Instant::now(), rate }
    }
    pub fn take(&mut self, now: std::time::Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub allow: bool,
}

/// Routes one request line ("GET /metrics HTTP/1.1"). `metrics` gets true
/// for OpenMetrics (`/metrics?format=openmetrics`), false for the Prometheus
/// text format 0.0.4 (the default).
pub fn route(request_line: &str, metrics: impl FnOnce(bool) -> String) -> Response {
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let openmetrics = query.split('&').any(|kv| kv == "format=openmetrics");
    let text = |status, body: &str| Response { status, content_type: "text/plain; charset=utf-8", body: body.to_owned(), allow: false };
    if method.is_empty() || target.is_empty() {
        return text(400, "bad request\n");
    }
    if path != "/metrics" && path != "/" {
        return text(404, "not found: vmscan serves /metrics\n");
    }
    if method != "GET" && method != "HEAD" {
        let mut r = text(405, "method not allowed: use GET\n");
        r.allow = true;
        return r;
    }
    if path == "/" {
        return Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: "<html><head><title>vmscan</title></head><body><h1>vmscan</h1><p><a href=\"/metrics\">metrics</a></p></body></html>\n".into(),
            allow: false,
        };
    }
    Response {
        status: 200,
        content_type: if openmetrics {
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        } else {
            "text/plain; version=0.0.4; charset=utf-8"
        },
        body: metrics(openmetrics),
        allow: false,
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

async fn serve_one(
    mut sock: TcpStream,
    metrics: Arc<dyn Fn(bool) -> String + Send + Sync>,
    limit: Arc<std::sync::Mutex<RateLimit>>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut len = 0;
    let head = tokio::time::timeout(READ_TIMEOUT, async {
        loop {
            let n = sock.read(&mut buf[len..]).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(None);
            }
            len += n;
            if let Some(end) = buf[..len].windows(2).position(|w| w == b"\r\n") {
                return Ok(Some(end));
            }
            if len == buf.len() {
                return Ok(Some(usize::MAX));
            }
        }
    })
    .await;
    let resp = match head {
        Err(_) => Response { status: 408, content_type: "text/plain", body: "timeout\n".into(), allow: false },
        Ok(Err(e)) => return Err(e),
        Ok(Ok(None)) => return Ok(()),
        Ok(Ok(Some(usize::MAX))) => Response { status: 431, content_type: "text/plain", body: "request too large\n".into(), allow: false },
        Ok(Ok(Some(_))) if !limit.lock().map(|mut l| l.take(std::time::Instant::now())).unwrap_or(false) => {
            Response { status: 429, content_type: "text/plain", body: "too many requests\n".into(), allow: false }
        }
        Ok(Ok(Some(end))) => {
            let line = String::from_utf8_lossy(&buf[..end]).into_owned();
            let head_only = line.starts_with("HEAD ");
            let m = metrics.clone();
            let mut r = route(&line, move |om| m(om));
            if head_only {
                r.body.clear();
            }
            r
        }
    };
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type,
        resp.body.len()
    );
    if resp.allow {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str("\r\n");
    sock.write_all(out.as_bytes()).await?;
    sock.write_all(resp.body.as_bytes()).await?;
    sock.shutdown().await
}

/// Accepts connections forever.
pub async fn serve(listener: TcpListener, metrics: Arc<dyn Fn(bool) -> String + Send + Sync>) {
    let active = Arc::new(AtomicUsize::new(0));
    let limit = Arc::new(std::sync::Mutex::new(RateLimit::new(MAX_RATE)));
    loop {
        let Ok((sock, peer)) = listener.accept().await else { continue };
        if active.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
            log::warn!("exporter: {MAX_CONNECTIONS} connections open, dropping one from {peer}");
            drop(sock);
            continue;
        }
        active.fetch_add(1, Ordering::Relaxed);
        let (m, a, l) = (metrics.clone(), active.clone(), limit.clone());
        tokio::spawn(async move {
            if let Err(e) = serve_one(sock, m, l).await {
                log::debug!("exporter: {peer}: {e}");
            }
            a.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Whether an address is loopback (binding anything else needs --allow-remote).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket() {
        let t0 = std::time::Instant::now();
        let mut l = RateLimit::new(2.0);
        assert!(l.take(t0) && l.take(t0));
        assert!(!l.take(t0), "burst of 2 used up");
        assert!(l.take(t0 + Duration::from_millis(600)), "refilled at 2/s");
    }

    #[test]
    fn routes() {
        let m = |om: bool| if om { "om".to_owned() } else { "text".to_owned() };
        assert_eq!(route("GET /metrics HTTP/1.1", m).status, 200);
        assert_eq!(route("GET /metrics HTTP/1.1", m).body, "text");
        assert_eq!(route("GET /metrics?format=openmetrics HTTP/1.1", m).body, "om");
        assert_eq!(route("GET /metrics?x=1 HTTP/1.1", m).status, 200);
        assert_eq!(route("GET / HTTP/1.1", |_| unreachable!()).status, 200);
        assert_eq!(route("GET /etc/passwd HTTP/1.1", |_| unreachable!()).status, 404);
        let r = route("POST /metrics HTTP/1.1", |_| unreachable!());
        assert_eq!((r.status, r.allow), (405, true));
        assert_eq!(route("", |_| unreachable!()).status, 400);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn serves_real_sockets_with_limits() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(serve(l, Arc::new(|_| "vmscan_up 1\n# EOF\n".to_owned())));
        let get = |req: Vec<u8>| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(&req).await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let ok = get(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()).await;
        assert!(ok.starts_with("HTTP/1.1 200 OK") && ok.ends_with("# EOF\n"), "{ok}");
        assert!(get(b"DELETE /metrics HTTP/1.1\r\n\r\n".to_vec()).await.starts_with("HTTP/1.1 405"));
        assert!(get(b"GET /x HTTP/1.1\r\n\r\n".to_vec()).await.starts_with("HTTP/1.1 404"));
        let huge = vec![b'A'; MAX_REQUEST + 10];
        assert!(get(huge).await.starts_with("HTTP/1.1 431"));
        let mut limited = 0;
        for _ in 0..(MAX_RATE as usize * 2) {
            if get(b"GET /metrics HTTP/1.1\r\n\r\n".to_vec()).await.starts_with("HTTP/1.1 429") {
                limited += 1;
            }
        }
        assert!(limited > 0, "a burst of {} requests must hit the rate limit", MAX_RATE as usize * 2);
    }
}
