//! What the simulator answers: an HTTP status, a body and the code its log records.

use super::spec::Fault;
use bytes::Bytes;
use serde_json::{Map, Value};
use std::time::Duration;

/// An answer, decided while holding the state lock and sent after it is released.
pub(crate) struct Reply {
    pub(super) status: u16,
    pub(super) body: Bytes,
    pub(super) content_type: &'static str,
    pub(super) code: String,
    pub(super) hang: bool,
    /// `x-acs-retry-after`, on throttling when the spec asks for it.
    pub(super) retry_after: Option<Duration>,
}

impl Reply {
    /// A plain-text answer, as the metadata service gives.
    pub(crate) fn text(status: u16, code: &str, body: &str) -> Self {
        Self {
            status,
            body: Bytes::from(body.to_owned()),
            content_type: "text/plain",
            code: code.to_owned(),
            hang: false,
            retry_after: None,
        }
    }

    pub(crate) fn json(status: u16, code: &str, body: &Map<String, Value>) -> Self {
        Self {
            status,
            body: Bytes::from(Value::Object(body.clone()).to_string()),
            content_type: "application/json;charset=utf-8",
            code: code.to_owned(),
            hang: false,
            retry_after: None,
        }
    }

    pub(crate) fn error(status: u16, code: &str, message: &str, request_id: &str) -> Self {
        let mut body = Map::new();
        body.insert("RequestId".into(), request_id.into());
        body.insert("HostId".into(), "cas.aliyuncs.com".into());
        body.insert("Code".into(), code.into());
        body.insert("Message".into(), message.into());
        body.insert(
            "Recommend".into(),
            format!(
                "https://api.aliyun.com/troubleshoot?q={code}&product=cas&requestId={request_id}"
            )
            .into(),
        );
        Self::json(status, code, &body)
    }

    /// The answer `fault` gives to a request for `target` whose success would have been `ok_body`.
    pub(super) fn fault(
        fault: Fault,
        target: &str,
        request_id: &str,
        ok_body: &Map<String, Value>,
    ) -> Self {
        match fault {
            Fault::InternalError => Self::error(
                500,
                "InternalError",
                "The request processing has failed due to some unknown error.",
                request_id,
            ),
            Fault::ServiceUnavailable => Self::error(
                503,
                "ServiceUnavailable",
                "The request has failed due to a temporary failure of the server.",
                request_id,
            ),
            Fault::Throttle => Self::error(
                400,
                "Throttling.User",
                "Request was denied due to user flow control.",
                request_id,
            ),
            // Some proxies echo the request line, query string and all: the client must not log it as it is.
            Fault::BadGateway => Self {
                status: 502,
                body: Bytes::from(format!(
                    "<html><body><h1>502 Bad Gateway</h1><p>{}</p></body></html>",
                    target
                )),
                content_type: "text/html",
                code: fault.name().to_owned(),
                hang: false,
                retry_after: None,
            },
            Fault::Malformed => Self {
                status: 200,
                body: Bytes::from_static(
                    b"<html><body>upstream temporarily unavailable</body></html>",
                ),
                content_type: "text/html",
                code: fault.name().to_owned(),
                hang: false,
                retry_after: None,
            },
            Fault::Truncated => {
                let full = Value::Object(ok_body.clone()).to_string();
                let cut = full.len() / 2;
                Self {
                    status: 200,
                    body: Bytes::from(full.into_bytes()).slice(..cut),
                    content_type: "application/json;charset=utf-8",
                    code: fault.name().to_owned(),
                    hang: false,
                    retry_after: None,
                }
            }
            Fault::Oversized => {
                let mut body = ok_body.clone();
                body.insert("Padding".into(), "x".repeat(5 * 1024 * 1024).into());
                Self::json(200, fault.name(), &body)
            }
            Fault::Hang => Self {
                status: 504,
                body: Bytes::new(),
                content_type: "text/plain",
                code: fault.name().to_owned(),
                hang: true,
                retry_after: None,
            },
        }
    }
}
