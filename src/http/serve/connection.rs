//! One connection's life: HTTP/1.1 served to a handler, the checks every
//! request passes first, and closing it when it ages out, must make room or the
//! server shuts down.

use super::listen::ConnectionLimits;
use crate::body::Chunks;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

/// Answers HTTP requests.
pub trait Handler: Send + Sync + 'static {
    /// Produces the response to `request`, which came from `peer`.
    fn handle(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response<Chunks>> + Send;
}

/// How long a connection asked to close to make room for a new one may take to
/// finish its current answer: a scrape takes milliseconds.
const EVICTION_GRACE: Duration = Duration::from_secs(1);

/// The open connections in the order they were accepted, each as the token that
/// asks it to close. A connection's task cancels its token when it ends too, so a
/// cancelled token means closing or closed; those are pruned lazily.
#[derive(Default)]
pub(super) struct OpenConnections {
    queue: VecDeque<CancellationToken>,
}

impl OpenConnections {
    /// Records a new connection and returns its token. Without a cap nothing needs tracking.
    pub(super) fn opened(&mut self, cap: usize) -> CancellationToken {
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
    pub(super) fn evict_oldest(&mut self) {
        while let Some(evict) = self.queue.pop_front() {
            if !evict.is_cancelled() {
                evict.cancel();
                return;
            }
        }
    }
}

/// One accepted connection and what serving it needs.
pub(super) struct Connection<H> {
    pub(super) handler: Arc<H>,
    pub(super) peer: SocketAddr,
    pub(super) shutdown: CancellationToken,
    /// Cancelled when the connection must make room for a newer one.
    pub(super) evict: CancellationToken,
    pub(super) limits: ConnectionLimits,
}

impl<H: Handler> Connection<H> {
    /// Serves HTTP/1.1 on `stream` until the client leaves, the connection ages out or shutdown.
    pub(super) async fn drive<S>(self, stream: S)
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
}
