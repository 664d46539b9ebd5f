//! The accept loop shared by the exporter's web server and the simulator.

use super::web_config::WebGuard;
use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A response body of byte chunks sent one after another as they are, so that a
/// cached body and a part made per request go out without being copied together.
#[derive(Debug, Default)]
pub struct Chunks(VecDeque<Bytes>);

impl Chunks {
    /// The chunks, in order.
    pub fn new(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        Self(chunks.into_iter().filter(|c| !c.is_empty()).collect())
    }
}

impl From<Bytes> for Chunks {
    fn from(bytes: Bytes) -> Self {
        Self::new([bytes])
    }
}

impl From<&'static str> for Chunks {
    fn from(text: &'static str) -> Self {
        Self::from(Bytes::from_static(text.as_bytes()))
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.iter().map(|c| c.len() as u64).sum())
    }
}

/// Answers HTTP requests.
pub trait Handler: Send + Sync + 'static {
    /// Produces the response to `request`, which came from `peer`.
    fn handle(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response<Chunks>> + Send;
}

/// How many connections are served at once, and how long one may take over each part of its life.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections served at once, so that the process keeps file descriptors for
    /// its own API calls (0: no cap). Beyond it a new connection is still taken and
    /// the oldest is asked to close, so that no client keeps Prometheus out by
    /// holding every slot; accepting pauses only while an eighth more are closing.
    pub max_connections: usize,
    /// Time to receive a request's headers; hyper also runs this clock while a
    /// kept-alive connection waits for its next request, so it is the idle timeout too.
    pub header_read: Duration,
    /// Age after which a connection is asked to close once its current exchange ends.
    pub max_age: Duration,
    /// Time a connection asked to close gets to finish writing before it is dropped,
    /// so a client that never reads its response cannot hold the socket forever.
    pub close_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: default_max_connections(),
            header_read: Duration::from_secs(10),
            max_age: Duration::from_secs(120),
            close_grace: Duration::from_secs(30),
        }
    }
}

/// The most connections served by default: 512, or half the file descriptor limit when
/// that is lower, so that a flood of connections leaves descriptors for polling the API.
pub fn default_max_connections() -> usize {
    cap_for(half_the_file_limit())
}

fn cap_for(half_the_file_limit: Option<usize>) -> usize {
    half_the_file_limit.map_or(512, |half| half.clamp(1, 512))
}

/// Half the soft limit on open files, the most connections that leave enough for the
/// rest of the process; `None` when unlimited.
pub fn half_the_file_limit() -> Option<usize> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    limit.map(|n| usize::try_from(n / 2).unwrap_or(usize::MAX))
}

/// The listen backlog: the system's `net.core.somaxconn`, as Go uses, so that a burst of
/// connections waits in the kernel instead of costing clients a SYN retry.
fn listen_backlog() -> u32 {
    let configured = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok());
    // Kernels before 4.1 keep the backlog in 16 bits.
    configured.map_or(4096, |n| n.clamp(1, u32::from(u16::MAX)))
}

/// Binds `address` (`host:port`) with the system's listen backlog; the first address
/// the name resolves to that binds wins.
pub async fn bind(address: &str) -> std::io::Result<TcpListener> {
    let backlog = listen_backlog();
    let mut last_error = None;
    for candidate in tokio::net::lookup_host(address).await? {
        let socket = if candidate.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        };
        let bound = socket.and_then(|socket| {
            socket.set_reuseaddr(true)?;
            socket.bind(candidate)?;
            socket.listen(backlog)
        });
        match bound {
            Ok(listener) => return Ok(listener),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the address resolves to nothing",
        )
    }))
}

/// Logs failed accepts at most once a second, with how many were not logged since.
#[derive(Debug, Default)]
struct AcceptErrors {
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl AcceptErrors {
    /// At `now`: `Some(suppressed)` when this error is to be logged, else `None`.
    fn record(&mut self, now: Instant) -> Option<u64> {
        if self
            .last_logged
            .is_some_and(|last| now.saturating_duration_since(last) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            return None;
        }
        self.last_logged = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Connections closed that make it worth handing freed memory back to the system.
const TRIM_AFTER_CLOSED: usize = 256;
/// Quiet time after the last close before the memory is handed back: a burst ends first.
const TRIM_QUIET: Duration = Duration::from_secs(1);
/// The longest a hand-back waits for quiet once due, so that a steady flood gets them too.
const TRIM_LATEST: Duration = Duration::from_secs(10);

/// When to hand the memory of closed connections back to the system. glibc keeps freed
/// pages that lie below memory still in use, and connection floods leave many: RSS grew
/// from 53 to 83 MB over 20 rounds of 2,000 slowloris connections though nothing was kept.
#[derive(Debug, Default)]
struct TrimSchedule {
    closed: usize,
    /// When enough connections had closed.
    since: Option<Instant>,
    due: Option<Instant>,
}

impl TrimSchedule {
    /// A connection closed at `now`.
    fn closed(&mut self, now: Instant) {
        self.closed += 1;
        if self.closed < TRIM_AFTER_CLOSED {
            return;
        }
        let since = *self.since.get_or_insert(now);
        self.due = Some((now + TRIM_QUIET).min(since + TRIM_LATEST));
    }

    /// The memory was handed back.
    fn trimmed(&mut self) {
        *self = Self::default();
    }
}

/// Hands the heap's free pages back to the system, off the async workers.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::task::spawn_blocking(|| {
        // SAFETY: malloc_trim only returns free pages to the kernel; it takes the
        // allocator's own locks and touches no memory in use.
        unsafe { libc::malloc_trim(0) };
    });
}

/// Accepts connections on `listener` until `shutdown`, then lets open exchanges finish for up to `drain`.
/// With a `guard`, each connection gets the TLS settings of the web config as it accepts it.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    shutdown: CancellationToken,
    drain: Duration,
    limits: ConnectionLimits,
    guard: Option<Arc<WebGuard>>,
) {
    let mut connections = JoinSet::new();
    let cap = limits.max_connections.min(Semaphore::MAX_PERMITS / 2);
    // Beyond the cap, a new connection is taken and the oldest one asked to close,
    // so that no client can keep Prometheus out by holding every slot; the margin
    // bounds how many of those closes may be pending before accepting pauses.
    let hard_cap = match cap {
        0 => Semaphore::MAX_PERMITS,
        cap => cap + (cap / 8).max(1),
    };
    let slots = Arc::new(Semaphore::new(hard_cap));
    let mut open = OpenConnections::default();
    let mut slot = None;
    let mut accept_errors = AcceptErrors::default();
    let mut trim = TrimSchedule::default();
    loop {
        let trim_at = trim.due.map(tokio::time::Instant::from_std);
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {
                trim.closed(Instant::now());
                continue;
            }
            () = tokio::time::sleep_until(trim_at.unwrap_or_else(tokio::time::Instant::now)), if trim_at.is_some() => {
                release_free_memory();
                trim.trimmed();
                continue;
            }
            permit = Arc::clone(&slots).acquire_owned(), if slot.is_none() => {
                slot = permit.ok();
                continue;
            }
            accepted = listener.accept(), if slot.is_some() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Running out of file descriptors must not end the server, nor flood the log.
                if let Some(suppressed) = accept_errors.record(Instant::now()) {
                    tracing::warn!(%error, suppressed, "accepting a connection failed");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let held = slot.take();
        // As Go's servers do: a response written in parts must not wait for the
        // client's delayed ACK (40 ms on Linux) before its last part goes out.
        let _ = stream.set_nodelay(true);
        let evict = open.opened(cap);
        if cap != 0 && hard_cap - slots.available_permits() > cap {
            open.evict_oldest();
        }
        let connection = Connection {
            handler: Arc::clone(&handler),
            peer,
            shutdown: shutdown.clone(),
            evict: evict.clone(),
            limits,
        };
        let guard = guard.clone();
        connections.spawn(async move {
            let _slot = held;
            let _closed = evict.clone().drop_guard();
            let Some(acceptor) = guard.and_then(|g| g.policy().tls().cloned()) else {
                return connection.drive(stream).await;
            };
            tokio::select! {
                handshake = tokio::time::timeout(limits.header_read, acceptor.accept(stream)) => match handshake {
                    Ok(Ok(stream)) => connection.drive(stream).await,
                    Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
                () = evict.cancelled() => {}
            }
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(drain, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::debug!(
            open = connections.len(),
            "closing connections that did not finish in time"
        );
    }
}

/// How long a connection asked to close to make room for a new one may take to
/// finish its current answer: a scrape takes milliseconds.
const EVICTION_GRACE: Duration = Duration::from_secs(1);

/// The open connections in the order they were accepted, each as the token that
/// asks it to close. A connection's task cancels its token when it ends too, so a
/// cancelled token means closing or closed; those are pruned lazily.
#[derive(Default)]
struct OpenConnections {
    queue: VecDeque<CancellationToken>,
}

impl OpenConnections {
    /// Records a new connection and returns its token. Without a cap nothing needs tracking.
    fn opened(&mut self, cap: usize) -> CancellationToken {
        let evict = CancellationToken::new();
        if cap != 0 {
            if self.queue.len() >= 2 * cap.max(64) {
                self.queue.retain(|open| !open.is_cancelled());
            }
            self.queue.push_back(evict.clone());
        }
        evict
    }

    /// Asks the oldest connection still open to close after its current answer.
    fn evict_oldest(&mut self) {
        while let Some(evict) = self.queue.pop_front() {
            if !evict.is_cancelled() {
                evict.cancel();
                return;
            }
        }
    }
}

/// One accepted connection and what serving it needs.
struct Connection<H> {
    handler: Arc<H>,
    peer: SocketAddr,
    shutdown: CancellationToken,
    /// Cancelled when the connection must make room for a newer one.
    evict: CancellationToken,
    limits: ConnectionLimits,
}

impl<H: Handler> Connection<H> {
    /// Serves HTTP/1.1 on `stream` until the client leaves, the connection ages out or shutdown.
    async fn drive<S>(self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Self {
            handler,
            peer,
            shutdown,
            evict,
            limits,
        } = self;
        let service = service_fn(move |request| {
            let handler = Arc::clone(&handler);
            async move {
                if let Some(refusal) = host_refusal(&request) {
                    return Ok::<_, Infallible>(refusal);
                }
                Ok(handler.handle(request, peer).await)
            }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read)
            .serve_connection(TokioIo::new(stream), service);
        tokio::pin!(connection);
        let grace = tokio::select! {
            _ = connection.as_mut() => return,
            () = shutdown.cancelled() => limits.close_grace,
            () = tokio::time::sleep(limits.max_age) => limits.close_grace,
            () = evict.cancelled() => EVICTION_GRACE,
        };
        connection.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(grace, connection).await;
    }
}

/// A 400 answer, as Go's server gives, unless an HTTP/1.1 request has exactly one
/// well-formed `Host` header; HTTP/1.0 may go without.
fn host_refusal<B>(request: &Request<B>) -> Option<Response<Chunks>> {
    let mut hosts = request.headers().get_all(HOST).iter();
    let reason = match (hosts.next(), hosts.next()) {
        (None, _) if request.version() >= Version::HTTP_11 => "missing required Host header",
        (None, _) => return None,
        (Some(_), Some(_)) => "too many Host headers",
        (Some(host), None) if !host.as_bytes().iter().all(|&b| valid_host_byte(b)) => {
            "malformed Host header"
        }
        (Some(_), None) => return None,
    };
    let mut response = Response::new(Chunks::from(Bytes::from(format!(
        "400 Bad Request: {reason}\n"
    ))));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    Some(response)
}

/// The bytes Go's `httpguts.ValidHostHeader` allows: a host name, an IP literal, a port.
fn valid_host_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!$%&'()*+,-.:;=@[]_~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    const BODY_LEN: usize = 32 << 20;

    struct Fixed;

    impl Handler for Fixed {
        async fn handle(&self, request: Request<Incoming>, _: SocketAddr) -> Response<Chunks> {
            let body = if request.uri().path() == "/big" {
                Bytes::from(vec![b'x'; BODY_LEN])
            } else {
                Bytes::from_static(b"ok")
            };
            Response::new(Chunks::from(body))
        }
    }

    async fn start(limits: ConnectionLimits) -> (SocketAddr, CancellationToken) {
        let listener = bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        tokio::spawn(serve(
            listener,
            Arc::new(Fixed),
            shutdown.clone(),
            Duration::ZERO,
            limits,
            None,
        ));
        (address, shutdown)
    }

    async fn read_until_closed(stream: &mut TcpStream) -> usize {
        let mut total = 0;
        let mut buffer = vec![0; 64 << 10];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n,
            }
        }
    }

    #[tokio::test]
    async fn an_idle_kept_alive_connection_is_closed_after_the_header_read_timeout() {
        let limits = ConnectionLimits {
            header_read: Duration::from_millis(300),
            ..ConnectionLimits::default()
        };
        let (address, shutdown) = start(limits).await;
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        let read = tokio::time::timeout(Duration::from_secs(20), read_until_closed(&mut stream))
            .await
            .expect("the idle connection was never closed");
        let date = "Sat, 28 Nov 2026 06:00:00 GMT";
        let response = format!("HTTP/1.1 200 OK\r\ncontent-length: 2\r\ndate: {date}\r\n\r\nok");
        assert_eq!(read, response.len());
        shutdown.cancel();
    }

    #[tokio::test]
    async fn a_client_that_never_reads_is_dropped_after_max_age_and_grace() {
        let limits = ConnectionLimits {
            max_connections: 4,
            header_read: Duration::from_secs(10),
            max_age: Duration::from_millis(300),
            close_grace: Duration::from_millis(300),
        };
        let (address, shutdown) = start(limits).await;
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream
            .write_all(b"GET /big HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let read = tokio::time::timeout(Duration::from_secs(20), read_until_closed(&mut stream))
            .await
            .expect("the stalled connection was never dropped");
        assert!(read < BODY_LEN, "the whole body arrived: {read} bytes");
        shutdown.cancel();
    }

    /// Sends `request` on a fresh connection and reads until the server closes it.
    async fn exchange(address: SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer))
            .await
            .expect("the server never closed the connection");
        String::from_utf8(answer).unwrap()
    }

    #[tokio::test]
    async fn http_1_1_requests_need_exactly_one_well_formed_host() {
        let (address, shutdown) = start(ConnectionLimits::default()).await;
        for (request, reason) in [
            (
                "GET / HTTP/1.1\r\n\r\n",
                Some("missing required Host header"),
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                Some("too many Host headers"),
            ),
            (
                "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
                Some("malformed Host header"),
            ),
            (
                "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
                Some("malformed Host header"),
            ),
            ("GET / HTTP/1.0\r\n\r\n", None),
            (
                "GET / HTTP/1.1\r\nHost: [::1]:9100\r\nConnection: close\r\n\r\n",
                None,
            ),
            ("GET / HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n", None),
        ] {
            let answer = exchange(address, request).await;
            match reason {
                Some(reason) => {
                    assert!(
                        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
                        "{request:?}: {answer}"
                    );
                    assert!(answer.contains("connection: close\r\n"), "{answer}");
                    assert!(
                        answer.ends_with(&format!("\r\n\r\n400 Bad Request: {reason}\n")),
                        "{request:?}: {answer}"
                    );
                }
                None => assert!(answer.ends_with("\r\n\r\nok"), "{request:?}: {answer}"),
            }
        }
        shutdown.cancel();
    }

    async fn read_answer(stream: &mut TcpStream) -> Vec<u8> {
        let mut buffer = [0; 1024];
        let read = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buffer))
            .await
            .expect("no answer")
            .unwrap_or(0);
        buffer[..read].to_vec()
    }

    #[tokio::test]
    async fn beyond_the_cap_the_oldest_connection_makes_room() {
        let limits = ConnectionLimits {
            max_connections: 2,
            ..ConnectionLimits::default()
        };
        let (address, shutdown) = start(limits).await;
        let request = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n";
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut stream = TcpStream::connect(address).await.unwrap();
            stream.write_all(request).await.unwrap();
            assert!(
                read_answer(&mut stream)
                    .await
                    .starts_with(b"HTTP/1.1 200 OK\r\n")
            );
            held.push(stream);
        }
        // Both kept alive and idle: a third client is served all the same, and the
        // oldest connection is the one closed for it.
        let mut newcomer = TcpStream::connect(address).await.unwrap();
        newcomer.write_all(request).await.unwrap();
        assert!(
            read_answer(&mut newcomer)
                .await
                .starts_with(b"HTTP/1.1 200 OK\r\n")
        );
        assert_eq!(
            read_answer(&mut held[0]).await,
            b"",
            "the oldest was closed"
        );
        held[1].write_all(request).await.unwrap();
        assert!(
            read_answer(&mut held[1])
                .await
                .starts_with(b"HTTP/1.1 200 OK\r\n"),
            "the younger one still serves"
        );
        shutdown.cancel();
    }

    #[tokio::test]
    async fn clients_that_never_finish_their_headers_cannot_hold_every_slot() {
        let limits = ConnectionLimits {
            max_connections: 4,
            // Longer than the test: only eviction can free these slots.
            header_read: Duration::from_secs(600),
            ..ConnectionLimits::default()
        };
        let (address, shutdown) = start(limits).await;
        let mut stalled = Vec::new();
        for _ in 0..12 {
            let mut stream = TcpStream::connect(address).await.unwrap();
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: te")
                .await
                .unwrap();
            stalled.push(stream);
        }
        let mut scrape = TcpStream::connect(address).await.unwrap();
        scrape
            .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        assert!(
            read_answer(&mut scrape)
                .await
                .starts_with(b"HTTP/1.1 200 OK\r\n")
        );
        assert_eq!(
            read_answer(&mut stalled[0]).await,
            b"",
            "the oldest was dropped"
        );
        shutdown.cancel();
    }

    #[test]
    fn only_open_connections_are_evicted_and_closed_ones_are_pruned() {
        let mut open = OpenConnections::default();
        let first = open.opened(2);
        let second = open.opened(2);
        // The first connection's task ended: its token was cancelled as it closed.
        first.cancel();
        open.evict_oldest();
        assert!(second.is_cancelled(), "a closed connection is skipped");
        let untracked = open.opened(0);
        assert!(open.queue.is_empty());
        open.evict_oldest();
        assert!(
            !untracked.is_cancelled(),
            "without a cap nothing is evicted"
        );
        let held: Vec<_> = (0..200).map(|_| open.opened(2)).collect();
        assert!(open.queue.len() <= 2 * 64 + 200);
        held.iter().for_each(CancellationToken::cancel);
        for _ in 0..200 {
            open.opened(2).cancel();
        }
        assert!(open.queue.len() <= 2 * 64, "{}", open.queue.len());
    }

    #[test]
    fn accept_errors_are_logged_once_a_second_with_the_count_left_out() {
        let mut errors = AcceptErrors::default();
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        assert_eq!(errors.record(at(0)), Some(0));
        assert_eq!(errors.record(at(1)), None);
        assert_eq!(errors.record(at(999)), None);
        assert_eq!(errors.record(at(1000)), Some(2));
        assert_eq!(errors.record(at(1500)), None);
        assert_eq!(errors.record(at(5000)), Some(1));
        assert_eq!(errors.record(at(6000)), Some(0));
    }

    #[test]
    fn memory_is_handed_back_once_many_connections_closed_and_closes_paused() {
        let mut trim = TrimSchedule::default();
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        for _ in 1..TRIM_AFTER_CLOSED {
            trim.closed(at(0));
        }
        assert_eq!(trim.due, None);
        trim.closed(at(100));
        assert_eq!(trim.due, Some(at(1100)));
        trim.closed(at(600));
        assert_eq!(trim.due, Some(at(1600)), "a close puts it off");
        // A steady flood puts it off 10 s at most.
        for ms in (1000..12_000).step_by(500) {
            trim.closed(at(ms));
        }
        assert_eq!(trim.due, Some(at(10_100)));
        trim.trimmed();
        assert_eq!((trim.closed, trim.since, trim.due), (0, None, None));
        trim.closed(at(20_000));
        assert_eq!(trim.due, None);
    }

    #[test]
    fn the_default_cap_leaves_half_the_descriptors() {
        assert_eq!(cap_for(Some(64)), 64);
        assert_eq!(cap_for(Some(512)), 512);
        assert_eq!(cap_for(Some(524_288)), 512);
        assert_eq!(cap_for(None), 512);
        assert_eq!(cap_for(Some(0)), 1);
        let half = half_the_file_limit();
        assert_eq!(default_max_connections(), cap_for(half));
    }

    #[tokio::test]
    async fn the_listener_takes_the_system_backlog() {
        let backlog = listen_backlog();
        let expected = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .map_or(4096, |text| text.trim().parse::<u32>().unwrap().min(65535));
        assert_eq!(backlog, expected);
        assert!(bind("127.0.0.1:0").await.is_ok());
        assert!(bind("[::1]:0").await.is_ok() || std::net::TcpListener::bind("[::1]:0").is_err());
    }
}
