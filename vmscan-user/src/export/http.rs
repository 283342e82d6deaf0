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
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

async fn serve_one(mut sock: TcpStream, metrics: Arc<dyn Fn(bool) -> String + Send + Sync>) -> std::io::Result<()> {
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
    loop {
        let Ok((sock, peer)) = listener.accept().await else { continue };
        if active.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
            log::warn!("exporter: {MAX_CONNECTIONS} connections open, dropping one from {peer}");
            drop(sock);
            continue;
        }
        active.fetch_add(1, Ordering::Relaxed);
        let (m, a) = (metrics.clone(), active.clone());
        tokio::spawn(async move {
            if let Err(e) = serve_one(sock, m).await {
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
    }
}
