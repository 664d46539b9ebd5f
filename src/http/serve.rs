//! The accept loop shared by the exporter's web server and the simulator.

use super::web_config::WebGuard;
use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
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

/// How long one connection may take over each part of its life.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
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
            header_read: Duration::from_secs(10),
            max_age: Duration::from_secs(120),
            close_grace: Duration::from_secs(30),
        }
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
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Running out of file descriptors must not end the server.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // As Go's servers do: a response written in parts must not wait for the
        // client's delayed ACK (40 ms on Linux) before its last part goes out.
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            handler: Arc::clone(&handler),
            peer,
            shutdown: shutdown.clone(),
            limits,
        };
        let guard = guard.clone();
        connections.spawn(async move {
            let Some(acceptor) = guard.and_then(|g| g.policy().tls().cloned()) else {
                return connection.drive(stream).await;
            };
            match tokio::time::timeout(limits.header_read, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => connection.drive(stream).await,
                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
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

/// One accepted connection and what serving it needs.
struct Connection<H> {
    handler: Arc<H>,
    peer: SocketAddr,
    shutdown: CancellationToken,
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
            limits,
        } = self;
        let service = service_fn(move |request| {
            let handler = Arc::clone(&handler);
            async move { Ok::<_, Infallible>(handler.handle(request, peer).await) }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read)
            .serve_connection(TokioIo::new(stream), service);
        tokio::pin!(connection);
        tokio::select! {
            _ = connection.as_mut() => return,
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(limits.max_age) => {}
        }
        connection.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(limits.close_grace, connection).await;
    }
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
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
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
}
