//! Routes of the exporter: the metrics, a landing page, health and readiness.

use super::negotiate;
use super::serve::Handler;
use super::web_config::{Policy, WebGuard};
use crate::body::Chunks;
use crate::metrics::{Exposition, Format, SelfMetrics, VERSION};
use crate::snapshot::SnapshotStore;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{
    ACCEPT, ACCEPT_ENCODING, ALLOW, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue,
    VARY,
};
use hyper::{Method, Request, Response, StatusCode};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// The web flags.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// `host:port` or `:port` to listen on.
    pub listen_address: String,
    /// Where the metrics are served.
    pub telemetry_path: String,
    /// Whether `POST /-/reload` is allowed.
    pub enable_lifecycle: bool,
    /// Requests handled at once; beyond, 503 (0: no limit).
    pub max_requests: usize,
    /// Connections open at once; beyond, a new one makes the oldest close (0: no limit).
    pub max_connections: usize,
    /// TLS, basic authentication and headers, in the exporter-toolkit format.
    pub config_file: Option<std::path::PathBuf>,
}

/// A request to read the configuration again; the answer says whether it took.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// `:port` means every IPv4 interface, as in other exporters.
pub fn listen_address(flag: &str) -> String {
    match flag.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => flag.to_owned(),
    }
}

/// Answers the exporter's HTTP routes from the current snapshot.
pub struct ExporterService {
    telemetry_path: String,
    store: Arc<SnapshotStore>,
    self_metrics: SelfMetrics,
    landing_page: Bytes,
    lifecycle: Option<mpsc::Sender<ReloadRequest>>,
    in_flight: Arc<Semaphore>,
    max_requests: usize,
    exposition: Arc<Exposition>,
    guard: Option<Arc<WebGuard>>,
}

impl ExporterService {
    /// Serves `store` and `self_metrics` at `telemetry_path`; reloads through `lifecycle` when given.
    pub fn new(
        telemetry_path: String,
        store: Arc<SnapshotStore>,
        self_metrics: SelfMetrics,
        lifecycle: Option<mpsc::Sender<ReloadRequest>>,
        max_requests: usize,
        guard: Option<Arc<WebGuard>>,
    ) -> Self {
        let landing_page = Bytes::from(format!(
            "<!DOCTYPE html>\n<html><head><title>Alibaba Cloud CAS exporter</title></head><body>\n\
             <h1>Alibaba Cloud CAS exporter</h1>\n<p>Version {VERSION}. Deployment-job metrics of Alibaba Cloud Certificate Management Service, polled in the background.</p>\n\
             <ul><li><a href=\"{telemetry_path}\">Metrics</a></li><li><a href=\"/-/healthy\">Health</a></li><li><a href=\"/-/ready\">Readiness</a></li></ul>\n</body></html>\n"
        ));
        Self {
            telemetry_path,
            store,
            self_metrics,
            landing_page,
            lifecycle,
            in_flight: Arc::new(Semaphore::new(if max_requests == 0 {
                Semaphore::MAX_PERMITS
            } else {
                max_requests
            })),
            max_requests,
            exposition: Arc::new(Exposition::default()),
            guard,
        }
    }

    /// Answers one request with the web config's headers added.
    async fn respond(&self, request: &RequestHead<'_>) -> Response<Chunks> {
        let policy = self.guard.as_ref().map(WebGuard::policy);
        let mut response = self.answer(request, policy.as_deref()).await;
        if let Some(policy) = &policy {
            policy.decorate(&mut response);
        }
        response
    }

    /// For an authorised client, within the concurrency limit: metrics in the format
    /// and coding asked for. Password checks come first and have their own queue, as in
    /// exporter-toolkit, so that clients with wrong passwords never take a scrape's place.
    async fn answer(&self, request: &RequestHead<'_>, policy: Option<&Policy>) -> Response<Chunks> {
        if let Some(policy) = policy
            && let Err(denied) = policy.authorize(request.authorization, request.peer).await
        {
            return denied;
        }
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return with_type(
                StatusCode::SERVICE_UNAVAILABLE,
                Bytes::from(format!(
                    "Too many concurrent requests: at most {} at a time (--web.max-requests)\n",
                    self.max_requests
                )),
                "text/plain; charset=utf-8",
            );
        };
        if request.path == "/-/reload" {
            return self.reload(request.method).await;
        }
        if request.path == self.telemetry_path
            && (request.method == Method::GET || request.method == Method::HEAD)
        {
            return self.metrics(request.format, request.accepts_gzip).await;
        }
        self.route(request.method, request.path)
    }

    /// `POST /-/reload`, as in Prometheus: 403 unless lifecycle is enabled, 500 with the reason when refused.
    async fn reload(&self, method: &Method) -> Response<Chunks> {
        if method != Method::POST && method != Method::PUT {
            let mut response = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "Only POST and PUT are allowed\n",
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST, PUT"));
            return response;
        }
        let Some(lifecycle) = &self.lifecycle else {
            return text(
                StatusCode::FORBIDDEN,
                "Lifecycle API is not enabled: start with --web.enable-lifecycle\n",
            );
        };
        let (reply, answer) = oneshot::channel();
        if lifecycle.send(reply).await.is_err() {
            return text(StatusCode::SERVICE_UNAVAILABLE, "Shutting down\n");
        }
        match answer.await {
            Ok(Ok(())) => text(StatusCode::OK, "Reloaded\n"),
            Ok(Err(message)) => with_type(
                StatusCode::INTERNAL_SERVER_ERROR,
                Bytes::from(format!(
                    "Reload refused, the running configuration stays: {message}\n"
                )),
                "text/plain; charset=utf-8",
            ),
            Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "Shutting down\n"),
        }
    }

    /// The exposition: copied from the cache, or rendered off the async workers after a change.
    async fn metrics(&self, format: Format, gzip: bool) -> Response<Chunks> {
        let body = match self
            .exposition
            .cached(&self.store, &self.self_metrics, format, gzip)
        {
            Some(body) => body,
            None => {
                let (exposition, store, self_metrics) = (
                    Arc::clone(&self.exposition),
                    Arc::clone(&self.store),
                    self.self_metrics.clone(),
                );
                match tokio::task::spawn_blocking(move || {
                    exposition.render(&store, &self_metrics, format, gzip)
                })
                .await
                {
                    Ok(body) => body,
                    Err(_) => return text(StatusCode::INTERNAL_SERVER_ERROR, "Rendering failed\n"),
                }
            }
        };
        let mut response = with_type(StatusCode::OK, body, format.content_type());
        let headers = response.headers_mut();
        // Every answer, plain or not, in either format: a cache must not serve one client's to another.
        headers.insert(VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
        if gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        response
    }

    fn route(&self, method: &Method, path: &str) -> Response<Chunks> {
        let known = path == self.telemetry_path || matches!(path, "/" | "/-/healthy" | "/-/ready");
        if !known {
            return text(StatusCode::NOT_FOUND, "Not found\n");
        }
        if method != Method::GET && method != Method::HEAD {
            let mut response = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "Only GET and HEAD are allowed\n",
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        match path {
            "/" => with_type(
                StatusCode::OK,
                self.landing_page.clone(),
                "text/html; charset=utf-8",
            ),
            "/-/healthy" => text(StatusCode::OK, "Healthy\n"),
            _ if self.store.is_ready() => text(StatusCode::OK, "Ready\n"),
            _ => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "Not ready: the first poll sweep has not finished\n",
            ),
        }
    }
}

fn with_type(
    status: StatusCode,
    body: impl Into<Chunks>,
    content_type: &'static str,
) -> Response<Chunks> {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Chunks> {
    with_type(
        status,
        Bytes::from_static(body.as_bytes()),
        "text/plain; charset=utf-8",
    )
}

/// What routing needs of a request.
struct RequestHead<'a> {
    method: &'a Method,
    path: &'a str,
    format: Format,
    accepts_gzip: bool,
    authorization: Option<&'a HeaderValue>,
    peer: IpAddr,
}

impl Handler for ExporterService {
    async fn handle(&self, request: Request<Incoming>, peer: SocketAddr) -> Response<Chunks> {
        let head = RequestHead {
            method: request.method(),
            path: request.uri().path(),
            format: negotiate::format(request.headers().get_all(ACCEPT)),
            accepts_gzip: negotiate::prefers_gzip(request.headers().get_all(ACCEPT_ENCODING)),
            authorization: request.headers().get(AUTHORIZATION),
            peer: peer.ip(),
        };
        self.respond(&head).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exporter_service(max_requests: usize) -> ExporterService {
        ExporterService::new(
            "/metrics".into(),
            Arc::new(SnapshotStore::default()),
            SelfMetrics::default(),
            None,
            max_requests,
            None,
        )
    }

    fn get(path: &str, accepts_gzip: bool) -> RequestHead<'_> {
        RequestHead {
            method: &Method::GET,
            path,
            format: Format::Text,
            accepts_gzip,
            authorization: None,
            peer: std::net::Ipv4Addr::LOCALHOST.into(),
        }
    }

    #[tokio::test]
    async fn requests_beyond_the_limit_get_503() {
        let service = exporter_service(1);
        let held = service.in_flight.try_acquire().unwrap();
        let busy = service.respond(&get("/-/healthy", false)).await;
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        drop(held);
        assert_eq!(
            service.respond(&get("/-/healthy", false)).await.status(),
            StatusCode::OK
        );
        let unlimited = exporter_service(0);
        let _held: Vec<_> = (0..1000)
            .map(|_| unlimited.in_flight.try_acquire().unwrap())
            .collect();
        assert_eq!(
            unlimited.respond(&get("/-/healthy", false)).await.status(),
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn metrics_are_gzipped_when_asked_for() {
        use std::io::Read;
        let service = exporter_service(4);
        let zipped = service.respond(&get("/metrics", true)).await;
        assert_eq!(zipped.headers()[CONTENT_ENCODING], "gzip");
        assert_eq!(zipped.headers()[VARY], "Accept, Accept-Encoding");
        let body = http_body_util::BodyExt::collect(zipped.into_body())
            .await
            .unwrap()
            .to_bytes();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut text)
            .unwrap();
        assert!(
            text.contains("# TYPE aliyun_cas_exporter_build_info gauge\n"),
            "{text}"
        );
        let plain = service.respond(&get("/metrics", false)).await;
        assert!(!plain.headers().contains_key(CONTENT_ENCODING));
        assert_eq!(plain.headers()[VARY], "Accept, Accept-Encoding");
        let healthy = service.respond(&get("/-/healthy", true)).await;
        assert!(
            !healthy.headers().contains_key(CONTENT_ENCODING),
            "only the metrics are compressed"
        );
    }

    #[tokio::test]
    async fn openmetrics_is_served_with_its_content_type_when_asked_for() {
        let service = exporter_service(4);
        let head = RequestHead {
            format: Format::OpenMetrics,
            ..get("/metrics", false)
        };
        let response = service.respond(&head).await;
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
        assert_eq!(response.headers()[VARY], "Accept, Accept-Encoding");
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.ends_with("\n# EOF\n"), "{text}");
        assert!(
            text.contains(
                "# TYPE process_cpu_seconds counter\n# UNIT process_cpu_seconds seconds\n"
            ),
            "{text}"
        );
        let text_format = service.respond(&get("/metrics", false)).await;
        assert_eq!(
            text_format.headers()[CONTENT_TYPE],
            "text/plain; version=0.0.4; charset=utf-8"
        );
    }
}
