//! The accept loop shared by the exporter's web server and the simulator.

mod connection;
mod listen;
mod memory;

pub use connection::Handler;
pub use listen::{ConnectionLimits, bind, default_max_connections, half_the_file_limit};
pub(crate) use memory::release_free_memory;

use super::web_config::WebGuard;
use connection::{Connection, OpenConnections};
use memory::TrimSchedule;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::Chunks;
    use bytes::Bytes;
    use hyper::body::Incoming;
    use hyper::{Request, Response};
    use std::net::SocketAddr;
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
}
