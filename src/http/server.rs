//! Routes of the exporter: the metrics, a landing page, health and readiness.

use super::serve::Handler;
use crate::metrics::{self, SelfMetrics, VERSION};
use crate::snapshot::SnapshotStore;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;

/// The web flags.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// `host:port` or `:port` to listen on.
    pub listen_address: String,
    /// Where the metrics are served.
    pub telemetry_path: String,
}

/// The text format's content type.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

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
}

impl ExporterService {
    /// Serves `store` and `self_metrics` at `telemetry_path`.
    pub fn new(
        telemetry_path: String,
        store: Arc<SnapshotStore>,
        self_metrics: SelfMetrics,
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
        }
    }

    fn route(&self, method: &Method, path: &str) -> Response<Full<Bytes>> {
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
        if path == self.telemetry_path {
            let body = metrics::render(&self.store.load(), &self.self_metrics);
            return with_type(StatusCode::OK, Bytes::from(body), METRICS_CONTENT_TYPE);
        }
        match path {
            "/" => with_type(
                StatusCode::OK,
                self.landing_page.clone(),
                "text/html; charset=utf-8",
            ),
            "/-/healthy" => text(StatusCode::OK, "Healthy\n"),
            _ if self.store.load().completed_sweeps > 0 => text(StatusCode::OK, "Ready\n"),
            _ => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "Not ready: the first poll sweep has not finished\n",
            ),
        }
    }
}

fn with_type(status: StatusCode, body: Bytes, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    with_type(
        status,
        Bytes::from_static(body.as_bytes()),
        "text/plain; charset=utf-8",
    )
}

impl Handler for ExporterService {
    async fn handle(&self, request: Request<Incoming>, _peer: SocketAddr) -> Response<Full<Bytes>> {
        self.route(request.method(), request.uri().path())
    }
}
