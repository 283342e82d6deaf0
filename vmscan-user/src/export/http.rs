//! A deliberately small HTTP/1.1 server for the exporter: GET /metrics and a
//! tiny index page; everything else 404 (unknown path) or 405 (other
//! methods). It reads only the request head (bounded in size and time),
//! answers one request per connection, and serves its scraper first: a
//! newcomer is never refused because others hold connections. A peer (an
//! IPv4 address, or an IPv6 /64) holds at most `MAX_PER_PEER` connections;
//! at that limit, or when all `MAX_CONNECTIONS` are taken, the oldest
//! connection still sending its request (from the peer holding the most) is
//! closed to make room. Requests are rate-limited per peer. What the limits
//! did is logged at most once per `LOG_EVERY`, with counts.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr, SocketAddr},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    task::AbortHandle,
};

/// Longest request head read (bytes); longer requests get 431.
pub const MAX_REQUEST: usize = 8192;
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 32;
/// Connections one peer may hold at once.
pub const MAX_PER_PEER: usize = 8;
/// Time a client has to send its whole request head (Prometheus sends it in
/// one segment right after connecting).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(2);
/// Time a client has to take the response.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests answered per second and peer at most (a burst of this many is
/// allowed); more get 429. Prometheus scrapes once every few seconds.
pub const MAX_RATE: f64 = 20.0;
/// The limits are logged at most this often (the first event at once).
pub const LOG_EVERY: Duration = Duration::from_secs(10);
/// Peers whose request rate is remembered at most.
const MAX_PEERS_TRACKED: usize = 4096;

/// A token bucket: `take` is true while the rate is not exceeded.
pub struct RateLimit {
    tokens: f64,
    last: Instant,
    rate: f64,
}

impl RateLimit {
    pub fn new(rate: f64) -> Self {
        Self {
            tokens: rate,
            last: Instant::now(),
            rate,
        }
    }
    pub fn take(&mut self, now: Instant) -> bool {
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

/// The key limits are counted by: an IPv4 address, or the /64 of an IPv6
/// one (a single host commonly holds a whole /64).
pub fn peer_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

struct Conn {
    peer: IpAddr,
    since: Instant,
    /// Still sending its request head (the only state that gets evicted).
    reading: bool,
    abort: Option<AbortHandle>,
}

/// Why a connection was pushed out or refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    PerPeer,
    Total,
}

#[derive(Debug)]
pub enum Admission {
    /// Serve it as connection `id`; `evicted` names the connection closed
    /// to make room (and which limit it was).
    Admit {
        id: u64,
        evicted: Option<(Limit, Option<AbortHandle>)>,
    },
    /// Every connection of the limit is already answering a request.
    Refuse(Limit),
}

/// The open connections, and the choice of which to close for a newcomer.
pub struct Conns {
    map: HashMap<u64, Conn>,
    next: u64,
    max: usize,
    per_peer: usize,
}

impl Conns {
    pub fn new(max: usize, per_peer: usize) -> Self {
        Self {
            map: HashMap::new(),
            next: 0,
            max,
            per_peer,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn count(&self, peer: IpAddr) -> usize {
        self.map.values().filter(|c| c.peer == peer).count()
    }

    /// The connection to close so a newcomer from `peer` fits: at the
    /// peer's own limit, its oldest one still reading; when every slot is
    /// taken, the oldest still reading of the peer that holds the most.
    fn victim(&self, peer: IpAddr) -> Result<Option<(u64, Limit)>, Limit> {
        let reading = || self.map.iter().filter(|(_, c)| c.reading);
        if self.count(peer) >= self.per_peer {
            let oldest = reading()
                .filter(|(_, c)| c.peer == peer)
                .min_by_key(|(id, c)| (c.since, **id));
            return oldest
                .map(|(id, _)| Some((*id, Limit::PerPeer)))
                .ok_or(Limit::PerPeer);
        }
        if self.map.len() < self.max {
            return Ok(None);
        }
        let mut held: HashMap<IpAddr, usize> = HashMap::new();
        for c in self.map.values() {
            *held.entry(c.peer).or_default() += 1;
        }
        let pick =
            reading().max_by_key(|(id, c)| (held[&c.peer], std::cmp::Reverse((c.since, **id))));
        pick.map(|(id, _)| Some((*id, Limit::Total)))
            .ok_or(Limit::Total)
    }

    /// Admits a connection from `peer` (a `peer_key`), closing one to make
    /// room when a limit is reached.
    pub fn admit(&mut self, peer: IpAddr, now: Instant) -> Admission {
        let evicted = match self.victim(peer) {
            Err(limit) => return Admission::Refuse(limit),
            Ok(v) => v.map(|(id, limit)| (limit, self.map.remove(&id).and_then(|c| c.abort))),
        };
        let id = self.next;
        self.next += 1;
        self.map.insert(
            id,
            Conn {
                peer,
                since: now,
                reading: true,
                abort: None,
            },
        );
        Admission::Admit { id, evicted }
    }

    /// The task serving `id`, so evicting it can stop it (a no-op when it
    /// has already finished).
    pub fn set_abort(&mut self, id: u64, h: AbortHandle) {
        if let Some(c) = self.map.get_mut(&id) {
            c.abort = Some(h);
        }
    }

    /// `id` sent its whole request: it is being answered, not evicted.
    pub fn answering(&mut self, id: u64) {
        if let Some(c) = self.map.get_mut(&id) {
            c.reading = false;
        }
    }

    pub fn done(&mut self, id: u64) {
        self.map.remove(&id);
    }
}

/// What the limits did since the last log line.
#[derive(Default)]
pub struct Tally {
    pub pushed_per_peer: u64,
    pub pushed_total: u64,
    pub refused: u64,
    pub timed_out: u64,
    pub rate_limited: u64,
    by_peer: HashMap<IpAddr, u64>,
}

impl Tally {
    fn events(&self) -> u64 {
        self.pushed_per_peer + self.pushed_total + self.refused + self.timed_out + self.rate_limited
    }

    /// Counts one event from `peer` (peers beyond 64 are counted in the
    /// totals only).
    pub fn note(&mut self, peer: IpAddr, field: fn(&mut Tally) -> &mut u64) {
        *field(self) += 1;
        if self.by_peer.len() < 64 || self.by_peer.contains_key(&peer) {
            *self.by_peer.entry(peer).or_default() += 1;
        }
    }

    /// One line for the log.
    pub fn summary(&self, over: Duration) -> String {
        let (top, n) = self
            .by_peer
            .iter()
            .max_by_key(|(p, n)| (**n, std::cmp::Reverse(**p)))
            .map(|(p, n)| (*p, *n))
            .unwrap_or((IpAddr::from([0, 0, 0, 0]), 0));
        format!(
            "exporter: in {:.0} s, {} connections closed to make room ({} at the limit of {MAX_PER_PEER} per peer, {} with all {MAX_CONNECTIONS} taken), {} refused, {} sent no request within {} s, {} over {MAX_RATE} requests/s; most from {top} ({n})",
            over.as_secs_f64(),
            self.pushed_per_peer + self.pushed_total,
            self.pushed_per_peer,
            self.pushed_total,
            self.refused,
            self.timed_out,
            HEAD_TIMEOUT.as_secs(),
            self.rate_limited,
        )
    }
}

/// State shared by the accept loop and the connections.
struct Shared {
    conns: Conns,
    rates: HashMap<IpAddr, RateLimit>,
    tally: Tally,
    since: Instant,
    last_log: Option<Instant>,
}

impl Shared {
    fn new() -> Self {
        Self {
            conns: Conns::new(MAX_CONNECTIONS, MAX_PER_PEER),
            rates: HashMap::new(),
            tally: Tally::default(),
            since: Instant::now(),
            last_log: None,
        }
    }

    /// Whether `peer` is within its request rate.
    fn take(&mut self, peer: IpAddr, now: Instant) -> bool {
        if self.rates.len() >= MAX_PEERS_TRACKED && !self.rates.contains_key(&peer) {
            // A bucket idle for a second is full again: forgetting it
            // changes nothing.
            self.rates
                .retain(|_, r| now.saturating_duration_since(r.last) < Duration::from_secs(1));
            if self.rates.len() >= MAX_PEERS_TRACKED {
                self.rates.clear();
            }
        }
        self.rates
            .entry(peer)
            .or_insert_with(|| RateLimit::new(MAX_RATE))
            .take(now)
    }

    /// Counts one event and logs if it is time to.
    fn note(&mut self, peer: IpAddr, field: fn(&mut Tally) -> &mut u64, now: Instant) {
        if self.tally.events() == 0 {
            self.since = now;
        }
        self.tally.note(peer, field);
        self.maybe_log(now);
    }

    /// Logs the tally when there is one and the last line is old enough.
    fn maybe_log(&mut self, now: Instant) {
        if self.tally.events() == 0
            || self
                .last_log
                .is_some_and(|t| now.saturating_duration_since(t) < LOG_EVERY)
        {
            return;
        }
        log::warn!(
            "{}",
            self.tally
                .summary(now.saturating_duration_since(self.since))
        );
        self.tally = Tally::default();
        self.since = now;
        self.last_log = Some(now);
    }
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub allow: bool,
}

/// The OpenMetrics content type served.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The Prometheus text format served otherwise.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether an Accept header asks for OpenMetrics before the text format:
/// among the media ranges vmscan can serve (OpenMetrics 1.0.0 or 0.0.1;
/// text/plain 0.0.4 or 1.0.0, text/*, */*), the highest q wins, the first
/// listed on a tie. Anything else (no header, only other types) gets text.
pub fn wants_openmetrics(accept: &str) -> bool {
    let mut best: Option<(f32, bool)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let (mut q, mut version) = (1.0f32, None);
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"');
            match k.trim().to_ascii_lowercase().as_str() {
                "q" => {
                    q = v
                        .parse()
                        .ok()
                        .filter(|q: &f32| q.is_finite())
                        .unwrap_or(0.0)
                }
                "version" => version = Some(v.to_owned()),
                _ => {}
            }
        }
        let served = |ok: &[&str]| version.as_deref().is_none_or(|v| ok.contains(&v));
        let om = match media.as_str() {
            "application/openmetrics-text" if served(&["1.0.0", "0.0.1"]) => true,
            "text/plain" if served(&["0.0.4", "1.0.0"]) => false,
            "text/*" | "*/*" => false,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, om));
        }
    }
    best.is_some_and(|(_, om)| om)
}

/// Routes one request: its request line ("GET /metrics HTTP/1.1") and its
/// Accept header. `metrics` gets true for OpenMetrics (asked for by Accept,
/// or by `/metrics?format=openmetrics`), false for the Prometheus text
/// format 0.0.4 (the default).
pub fn route(
    request_line: &str,
    accept: Option<&str>,
    metrics: impl FnOnce(bool) -> String,
) -> Response {
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let openmetrics = query.split('&').any(|kv| kv == "format=openmetrics")
        || accept.is_some_and(wants_openmetrics);
    let text = |status, body: &str| Response {
        status,
        content_type: "text/plain; charset=utf-8",
        body: body.to_owned(),
        allow: false,
    };
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
            OPENMETRICS
        } else {
            TEXT_FORMAT
        },
        body: metrics(openmetrics),
        allow: false,
    }
}

/// A request head: the request line and the Accept header (several joined
/// with commas), if any.
#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    pub request_line: String,
    pub accept: Option<String>,
}

/// Parses a complete head (up to, not including, the blank line).
pub fn parse_head(bytes: &[u8]) -> Head {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let request_line = lines.next().unwrap_or("").to_owned();
    let accepts: Vec<&str> = lines
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("accept"))
        .map(|(_, v)| v.trim())
        .collect();
    Head {
        request_line,
        accept: (!accepts.is_empty()).then(|| accepts.join(",")),
    }
}

/// Where the head ends (the index of its blank line), if it has.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = buf.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

enum Read {
    Closed,
    TooLarge,
    Head(Head),
}

async fn read_head(sock: &mut TcpStream) -> std::io::Result<Read> {
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut len = 0;
    loop {
        let n = sock.read(&mut buf[len..]).await?;
        if n == 0 {
            return Ok(Read::Closed);
        }
        len += n;
        if let Some(end) = head_end(&buf[..len]) {
            return Ok(Read::Head(parse_head(&buf[..end])));
        }
        if len == buf.len() {
            return Ok(Read::TooLarge);
        }
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

async fn write_response(sock: &mut TcpStream, resp: &Response) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nVary: Accept\r\nConnection: close\r\n",
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

/// Renders /metrics: true for OpenMetrics, false for the text format.
pub type Render = Arc<dyn Fn(bool) -> String + Send + Sync>;

fn plain(status: u16, body: &str) -> Response {
    Response {
        status,
        content_type: "text/plain",
        body: body.to_owned(),
        allow: false,
    }
}

async fn serve_one(
    mut sock: TcpStream,
    peer: IpAddr,
    id: u64,
    shared: Arc<Mutex<Shared>>,
    metrics: Render,
) -> std::io::Result<()> {
    let resp = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut sock)).await {
        Err(_) => {
            lock(&shared).note(peer, |t| &mut t.timed_out, Instant::now());
            plain(408, "timeout\n")
        }
        Ok(Err(e)) => return Err(e),
        Ok(Ok(Read::Closed)) => return Ok(()),
        Ok(Ok(Read::TooLarge)) => plain(431, "request too large\n"),
        Ok(Ok(Read::Head(head))) => {
            let now = Instant::now();
            let allowed = {
                let mut s = lock(&shared);
                s.conns.answering(id);
                let ok = s.take(peer, now);
                if !ok {
                    s.note(peer, |t| &mut t.rate_limited, now);
                }
                ok
            };
            if allowed {
                let mut r = route(&head.request_line, head.accept.as_deref(), |om| metrics(om));
                if head.request_line.starts_with("HEAD ") {
                    r.body.clear();
                }
                r
            } else {
                plain(429, "too many requests\n")
            }
        }
    };
    match tokio::time::timeout(WRITE_TIMEOUT, write_response(&mut sock, &resp)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// Removes its connection from the table however the task ends (aborted
/// included).
struct Done(u64, Arc<Mutex<Shared>>);

impl Drop for Done {
    fn drop(&mut self) {
        lock(&self.1).conns.done(self.0);
    }
}

/// Admits or refuses one accepted connection and starts serving it.
fn accept_one(sock: TcpStream, addr: SocketAddr, shared: &Arc<Mutex<Shared>>, metrics: &Render) {
    let peer = peer_key(addr.ip());
    let now = Instant::now();
    let mut s = lock(shared);
    match s.conns.admit(peer, now) {
        Admission::Refuse(_) => {
            s.note(peer, |t| &mut t.refused, now);
            drop(sock);
        }
        Admission::Admit { id, evicted } => {
            if let Some((limit, abort)) = evicted {
                if let Some(h) = abort {
                    h.abort();
                }
                s.note(
                    peer,
                    if limit == Limit::PerPeer {
                        |t| &mut t.pushed_per_peer
                    } else {
                        |t| &mut t.pushed_total
                    },
                    now,
                );
            }
            let (sh, m) = (shared.clone(), metrics.clone());
            let task = tokio::spawn(async move {
                let _done = Done(id, sh.clone());
                if let Err(e) = serve_one(sock, peer, id, sh, m).await {
                    log::debug!("exporter: {addr}: {e}");
                }
            });
            s.conns.set_abort(id, task.abort_handle());
        }
    }
}

/// Accepts connections forever.
pub async fn serve(listener: TcpListener, metrics: Render) {
    let shared = Arc::new(Mutex::new(Shared::new()));
    let mut tick = tokio::time::interval(LOG_EVERY);
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((sock, addr)) => {
                    accept_one(sock, addr, &shared, &metrics);
                    // Let the new connection read its request before the
                    // next accept: a burst of newcomers from one peer must
                    // not push out a request that has already arrived.
                    tokio::task::yield_now().await;
                }
                Err(e) => {
                    // Out of descriptors, say: wait rather than spin.
                    log::debug!("exporter: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            _ = tick.tick() => lock(&shared).maybe_log(Instant::now()),
        }
    }
}

/// Serves on a thread of its own (with its own runtime), so a slow model
/// update (walking hundreds of memory cgroups on a busy host) delays a
/// scrape by at most the time `vmscan export` lets its render wait for a
/// fresh snapshot. Threads inherit the caller's credentials: call it after
/// dropping privileges.
pub fn serve_on_thread(
    listener: TcpListener,
    metrics: Render,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let std_listener = listener.into_std()?;
    std::thread::Builder::new()
        .name("vmscan-http".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return log::error!("exporter: starting the HTTP runtime: {e}"),
            };
            rt.block_on(async move {
                match TcpListener::from_std(std_listener) {
                    Ok(l) => serve(l, metrics).await,
                    Err(e) => log::error!("exporter: {e}"),
                }
            });
        })
}

/// Whether an address is loopback (binding anything else needs --allow-remote).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMETHEUS_2: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    const PROMETHEUS_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";

    #[test]
    fn token_bucket() {
        let t0 = Instant::now();
        let mut l = RateLimit::new(2.0);
        assert!(l.take(t0) && l.take(t0));
        assert!(!l.take(t0), "burst of 2 used up");
        assert!(l.take(t0 + Duration::from_millis(600)), "refilled at 2/s");
    }

    #[test]
    fn accept_header_picks_the_format() {
        assert!(
            wants_openmetrics(PROMETHEUS_2),
            "Prometheus 2 asks for OpenMetrics first"
        );
        assert!(wants_openmetrics(PROMETHEUS_3), "Prometheus 3 too");
        assert!(!wants_openmetrics("*/*"), "curl gets text");
        assert!(!wants_openmetrics(""));
        assert!(!wants_openmetrics("text/plain;version=0.0.4"));
        assert!(
            !wants_openmetrics("application/json"),
            "nothing servable asked: text"
        );
        assert!(
            wants_openmetrics("Application/OpenMetrics-Text"),
            "media types are case-insensitive"
        );
        assert!(
            !wants_openmetrics("text/plain;q=0.9, application/openmetrics-text;q=0.5"),
            "higher q wins"
        );
        assert!(wants_openmetrics(
            "text/plain;q=0.5, application/openmetrics-text;q=0.9"
        ));
        assert!(
            !wants_openmetrics("text/plain, application/openmetrics-text"),
            "the first on a tie"
        );
        assert!(
            !wants_openmetrics("application/openmetrics-text;q=0, */*"),
            "q=0 means not acceptable"
        );
        assert!(
            !wants_openmetrics("application/openmetrics-text;version=2.0.0, text/plain;q=0.1"),
            "a version vmscan does not write"
        );
        assert!(
            !wants_openmetrics("application/openmetrics-text;q=nan"),
            "a broken q counts as 0"
        );
    }

    #[test]
    fn routes() {
        let m = |om: bool| {
            if om {
                "om".to_owned()
            } else {
                "text".to_owned()
            }
        };
        assert_eq!(route("GET /metrics HTTP/1.1", None, m).status, 200);
        let r = route("GET /metrics HTTP/1.1", None, m);
        assert_eq!((r.body.as_str(), r.content_type), ("text", TEXT_FORMAT));
        let r = route("GET /metrics HTTP/1.1", Some(PROMETHEUS_2), m);
        assert_eq!((r.body.as_str(), r.content_type), ("om", OPENMETRICS));
        assert_eq!(route("GET /metrics HTTP/1.1", Some("*/*"), m).body, "text");
        assert_eq!(
            route("GET /metrics?format=openmetrics HTTP/1.1", None, m).body,
            "om"
        );
        assert_eq!(route("GET /metrics?x=1 HTTP/1.1", None, m).status, 200);
        assert_eq!(
            route("GET / HTTP/1.1", None, |_| unreachable!()).status,
            200
        );
        assert_eq!(
            route("GET /etc/passwd HTTP/1.1", None, |_| unreachable!()).status,
            404
        );
        let r = route("POST /metrics HTTP/1.1", None, |_| unreachable!());
        assert_eq!((r.status, r.allow), (405, true));
        assert_eq!(route("", None, |_| unreachable!()).status, 400);
    }

    #[test]
    fn heads_parse_and_end() {
        let h =
            parse_head(b"GET /metrics HTTP/1.1\r\nHost: x\r\nACCEPT:  text/plain \r\naccept: */*");
        assert_eq!(
            h,
            Head {
                request_line: "GET /metrics HTTP/1.1".into(),
                accept: Some("text/plain,*/*".into())
            }
        );
        assert_eq!(parse_head(b"GET / HTTP/1.0").accept, None);
        assert_eq!(
            parse_head(b"GET / HTTP/1.0\nX-Accept: a").accept,
            None,
            "only the Accept header"
        );
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Some(23));
        assert_eq!(head_end(b"GET / HTTP/1.0\n\n"), Some(14));
        assert_eq!(
            head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"),
            None,
            "the blank line is still to come"
        );
    }

    #[test]
    fn peers_are_addresses_or_ipv6_64s() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(peer_key(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(
            peer_key(ip("::ffff:192.0.2.7")),
            ip("192.0.2.7"),
            "IPv4-mapped is the IPv4 peer"
        );
        assert_eq!(
            peer_key(ip("2001:db8:1:2:aaaa::1")),
            peer_key(ip("2001:db8:1:2:bbbb::9")),
            "one /64, one peer"
        );
        assert_ne!(
            peer_key(ip("2001:db8:1:2::1")),
            peer_key(ip("2001:db8:1:3::1"))
        );
    }

    fn admitted(a: Admission) -> (u64, Option<Limit>) {
        match a {
            Admission::Admit { id, evicted } => (id, evicted.map(|(l, _)| l)),
            Admission::Refuse(l) => panic!("refused ({l:?})"),
        }
    }

    #[test]
    fn a_newcomer_pushes_out_the_oldest_idle_connection_of_the_biggest_holder() {
        let (flood, other, scraper) = (
            [127, 0, 0, 1].into(),
            [127, 0, 0, 3].into(),
            [127, 0, 0, 2].into(),
        );
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut c = Conns::new(4, 3);
        let ids: Vec<u64> = (0..3).map(|i| admitted(c.admit(flood, at(i))).0).collect();
        // At its own limit the flooding peer displaces its own oldest.
        let (id3, why) = admitted(c.admit(flood, at(10)));
        assert_eq!(why, Some(Limit::PerPeer));
        assert!(!c.map.contains_key(&ids[0]) && c.map.contains_key(&id3));
        let (o, why) = admitted(c.admit(other, at(11)));
        assert_eq!((why, c.len()), (None, 4));
        // All slots taken: the scraper displaces the flood's oldest idle one,
        // not the other peer's older-than-that single connection.
        c.answering(ids[1]);
        let (s, why) = admitted(c.admit(scraper, at(12)));
        assert_eq!(why, Some(Limit::Total));
        assert!(
            c.map.contains_key(&ids[1]),
            "a connection being answered stays"
        );
        assert!(
            !c.map.contains_key(&ids[2]),
            "the flood's oldest still-reading connection went"
        );
        assert!(c.map.contains_key(&o) && c.map.contains_key(&s));
        // When every connection is being answered, a newcomer waits its turn.
        for id in c.map.keys().copied().collect::<Vec<_>>() {
            c.answering(id);
        }
        assert!(matches!(
            c.admit([127, 0, 0, 9].into(), at(13)),
            Admission::Refuse(Limit::Total)
        ));
        c.done(o);
        assert_eq!(admitted(c.admit([127, 0, 0, 9].into(), at(14))).1, None);
    }

    #[test]
    fn the_log_line_counts() {
        let mut t = Tally::default();
        for _ in 0..5 {
            t.note([127, 0, 0, 1].into(), |t| &mut t.pushed_per_peer);
        }
        t.note([127, 0, 0, 2].into(), |t| &mut t.timed_out);
        let line = t.summary(Duration::from_secs(10));
        assert!(
            line.contains("5 connections closed to make room (5 at the limit of 8 per peer"),
            "{line}"
        );
        assert!(
            line.contains("1 sent no request within 2 s")
                && line.ends_with("most from 127.0.0.1 (5)"),
            "{line}"
        );
        assert_eq!(t.events(), 6);
    }

    async fn get_from(addr: SocketAddr, from: [u8; 4], req: Vec<u8>) -> String {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(SocketAddr::from((from, 0))).unwrap();
        let mut s = sock.connect(addr).await.unwrap();
        s.write_all(&req).await.unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        out
    }

    #[tokio::test(flavor = "current_thread")]
    async fn serves_real_sockets_with_limits() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(serve(
            l,
            Arc::new(|om| {
                if om {
                    "vmscan_up 1\n# EOF\n"
                } else {
                    "vmscan_up 1\n"
                }
                .to_owned()
            }),
        ));
        let get = |req: &[u8]| get_from(addr, [127, 0, 0, 1], req.to_vec());
        let ok = get(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(
            ok.starts_with("HTTP/1.1 200 OK")
                && ok.contains(TEXT_FORMAT)
                && ok.ends_with("vmscan_up 1\n"),
            "{ok}"
        );
        let om = get(format!("GET /metrics HTTP/1.1\r\nAccept: {PROMETHEUS_2}\r\n\r\n").as_bytes())
            .await;
        assert!(om.contains(OPENMETRICS) && om.ends_with("# EOF\n"), "{om}");
        assert!(
            get(b"DELETE /metrics HTTP/1.1\r\n\r\n")
                .await
                .starts_with("HTTP/1.1 405")
        );
        assert!(
            get(b"GET /x HTTP/1.1\r\n\r\n")
                .await
                .starts_with("HTTP/1.1 404")
        );
        assert!(
            get(&vec![b'A'; MAX_REQUEST + 10])
                .await
                .starts_with("HTTP/1.1 431")
        );
        let mut limited = 0;
        for _ in 0..(MAX_RATE as usize * 2) {
            if get(b"GET /metrics HTTP/1.1\r\n\r\n")
                .await
                .starts_with("HTTP/1.1 429")
            {
                limited += 1;
            }
        }
        assert!(
            limited > 0,
            "a burst of {} requests must hit the rate limit",
            MAX_RATE as usize * 2
        );
        // The rate limit is the peer's own: another peer is still answered.
        let other = get_from(
            addr,
            [127, 0, 0, 2],
            b"GET /metrics HTTP/1.1\r\n\r\n".to_vec(),
        )
        .await;
        assert!(other.starts_with("HTTP/1.1 200"), "{other}");
    }

    #[test]
    fn a_blocked_caller_does_not_delay_scrapes() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let l = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = l.local_addr().unwrap();
        let _t = rt
            .block_on(async { serve_on_thread(l, Arc::new(|_| "vmscan_up 1\n".to_owned())) })
            .unwrap();
        // The caller's runtime is not polled from here on (as in a long
        // model update); the scrape is answered all the same.
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        std::io::Write::write_all(&mut s, b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut s, &mut out).unwrap();
        assert!(
            out.starts_with("HTTP/1.1 200") && out.ends_with("vmscan_up 1\n"),
            "{out}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn idle_connections_never_lock_out_a_new_peer() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(serve(l, Arc::new(|_| "vmscan_up 1\n".to_owned())));
        let mut idle = Vec::new();
        for i in 0..(MAX_CONNECTIONS + 8) {
            // Five peers of eight: together they fill every slot.
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.bind(SocketAddr::from(([127, 0, 1, (i % 5) as u8 + 1], 0)))
                .unwrap();
            idle.push(sock.connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t0 = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(1),
            get_from(
                addr,
                [127, 0, 0, 2],
                b"GET /metrics HTTP/1.1\r\n\r\n".to_vec(),
            ),
        )
        .await;
        assert!(
            r.as_ref().is_ok_and(|r| r.starts_with("HTTP/1.1 200")),
            "{r:?} after {:?}",
            t0.elapsed()
        );
        // The idle ones beyond the limits were closed.
        let mut closed = 0;
        for s in &mut idle {
            let mut b = [0u8; 1];
            if let Ok(Ok(0) | Err(_)) =
                tokio::time::timeout(Duration::from_millis(5), s.read(&mut b)).await
            {
                closed += 1;
            }
        }
        assert!(closed >= 9, "{closed} idle connections closed to make room");
    }
}
