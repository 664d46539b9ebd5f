//! The simulator's HTTP entry point: reads a request, lets the identity
//! services or the checks and answers decide, logs it, and sends the reply.

use super::check::parse_params;
use super::logged::LoggedRequest;
use super::service::SimService;
use crate::body::Chunks;
use crate::http::serve::Handler;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// How long a hanging answer hangs: longer than any client timeout.
const HANG_FOR: Duration = Duration::from_secs(3600);
/// The largest request body read.
const MAX_BODY: usize = 64 * 1024;

impl Handler for SimService {
    async fn handle(&self, request: Request<Incoming>, _peer: SocketAddr) -> Response<Chunks> {
        let (parts, body) = request.into_parts();
        let is_form = parts
            .headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(_) => Err("The request body is too large or broken.".to_owned()),
        };
        let body_len = body.as_ref().map_or(0, Bytes::len);
        let params = body.and_then(|b| {
            if !b.is_empty() && !is_form {
                return Err(
                    "The request body must be empty or application/x-www-form-urlencoded."
                        .to_owned(),
                );
            }
            parse_params(parts.uri.query().unwrap_or(""), is_form.then_some(&b[..]))
        });
        let request_id = uuid::Uuid::new_v4().to_string().to_uppercase();
        let mut entry = LoggedRequest {
            at: Instant::now(),
            method: parts.method.to_string(),
            path: String::new(),
            user_agent: parts
                .headers
                .get(hyper::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            params: BTreeMap::new(),
            security_token: false,
            body_len,
            code: String::new(),
            status: 0,
            request_id: request_id.clone(),
        };
        let identity = params.as_ref().ok().and_then(|p| {
            self.identity(
                &parts.method,
                parts.uri.path(),
                &parts.headers,
                p,
                &request_id,
            )
        });
        let reply = match identity {
            Some(reply) => {
                entry.params = params.unwrap_or_default();
                entry.params.remove("Signature");
                entry.params.remove("OIDCToken");
                entry.params.remove("SecurityToken");
                reply
            }
            None => self.decide(&parts.method, &parts.uri, params, &request_id, &mut entry),
        };
        entry.path = parts.uri.path().to_owned();
        entry.code = reply.code.clone();
        entry.status = reply.status;
        let latency = {
            let mut state = self.lock();
            state.log.push(entry);
            state.latency
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if reply.hang {
            tokio::time::sleep(HANG_FOR).await;
        }
        let mut response = Response::new(Chunks::from(reply.body));
        *response.status_mut() =
            StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(reply.content_type),
        );
        if let Some(after) = reply.retry_after {
            response.headers_mut().insert(
                "x-acs-retry-after",
                hyper::header::HeaderValue::from(after.as_millis() as u64),
            );
        }
        response
    }
}
