//! What can go wrong with one API call, classified so that logs say what to do
//! and `aliyun_cas_api_requests_total` can count it by `code`.

use super::sign::percent_encode;
use crate::credentials::{Credentials, CredentialsError, Secret};
use std::time::Duration;

/// The marker after which a `SignatureDoesNotMatch` message carries the server's string-to-sign.
const SERVER_STRING_TO_SIGN_MARKER: &str = "server string to sign is:";

/// An error answer from the service itself (HTTP 4xx/5xx with a JSON body).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceError {
    /// The HTTP status.
    pub status: u16,
    /// The error code, such as `Forbidden.RAM`.
    pub code: String,
    /// The service's message (for signature errors, without the string-to-sign).
    pub message: String,
    /// The request's ID, for support tickets.
    pub request_id: Option<String>,
    /// `x-acs-retry-after`, when the service sent it.
    pub retry_after: Option<Duration>,
    /// For `SignatureDoesNotMatch`: both strings-to-sign, with any security token masked.
    pub signature: Option<SignatureMismatch>,
}

/// Our string-to-sign beside the server's, so a wrong secret can be told from a signing bug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureMismatch {
    /// What the exporter signed.
    pub ours: String,
    /// What the server says it expected, when its message carried it.
    pub server: Option<String>,
    /// The two are the same: the data was signed alike, so the secret must be wrong.
    pub same_string: bool,
}

/// One failed API call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The service answered with an error code.
    #[error("the API answered {} (HTTP {}): {}", .0.code, .0.status, .0.message)]
    Service(Box<ServiceError>),
    /// No complete answer within the request timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// No connection could be made.
    #[error("cannot connect to the endpoint: {0}")]
    Connect(String),
    /// The connection failed during the exchange.
    #[error("the connection failed: {0}")]
    Transport(String),
    /// An error status without an error body (a proxy or load balancer answered).
    #[error("HTTP {status} without an API error body: {snippet}")]
    Http {
        /// The HTTP status.
        status: u16,
        /// The start of the body, for the log.
        snippet: String,
        /// `x-acs-retry-after`, when sent.
        retry_after: Option<Duration>,
    },
    /// A success status whose body is not the expected JSON (malformed or truncated).
    #[error("cannot decode the response (HTTP {status}): {detail}")]
    Decode {
        /// The HTTP status.
        status: u16,
        /// The parser's complaint.
        detail: String,
    },
    /// The answer was larger than any answer of these actions can be.
    #[error("the answer is larger than {limit} bytes; it was not read further")]
    TooLarge {
        /// The HTTP status.
        status: u16,
        /// The cap.
        limit: usize,
    },
    /// No credentials to sign with.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
}

impl ApiError {
    /// The `code` label: the API's error code, or a transport class.
    pub fn code(&self) -> &str {
        match self {
            ApiError::Service(e) => &e.code,
            ApiError::Timeout(_) => "timeout",
            ApiError::Connect(_) => "connect",
            ApiError::Transport(_) => "transport",
            ApiError::Http { .. } => "http",
            ApiError::Decode { .. } => "decode",
            ApiError::TooLarge { .. } => "ResponseTooLarge",
            ApiError::Credentials(_) => "credentials",
        }
    }

    /// The HTTP status, when an answer came.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            ApiError::Service(e) => Some(e.status),
            ApiError::Http { status, .. }
            | ApiError::Decode { status, .. }
            | ApiError::TooLarge { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// How long the service asked to wait before trying again (`x-acs-retry-after`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Service(e) => e.retry_after,
            ApiError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The request ID the service gave, if any.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ApiError::Service(e) => e.request_id.as_deref(),
            _ => None,
        }
    }

    /// What a user should do about it, in one sentence.
    pub fn hint(&self) -> &'static str {
        match self {
            ApiError::Service(e) => service_hint(e),
            ApiError::Timeout(_) => {
                "the API did not answer in time: check the network path to the endpoint, or raise timeouts.request"
            }
            ApiError::Connect(_) => {
                "the endpoint cannot be reached: check the endpoint setting, DNS, proxies and firewalls"
            }
            ApiError::Transport(_) => {
                "the connection broke mid-request: usually transient, the next poll tries again"
            }
            ApiError::Http { .. } => {
                "something between the exporter and the API answered instead of it (proxy, gateway): check the endpoint and any proxy"
            }
            ApiError::Decode { .. } => {
                "the answer was not the JSON the API sends (malformed or cut off): usually transient, the next poll tries again"
            }
            ApiError::TooLarge { .. } => {
                "something answered with far more than the API ever sends (a proxy or a wrong endpoint?): check the endpoint"
            }
            ApiError::Credentials(_) => {
                "provide credentials as README's Credentials section describes"
            }
        }
    }
}

fn service_hint(e: &ServiceError) -> &'static str {
    let code = e.code.as_str();
    match code {
        "SignatureDoesNotMatch" => match &e.signature {
            Some(m) if m.same_string => {
                "both sides signed the same string, so the AccessKey secret is wrong for this AccessKey ID: check ALIBABA_CLOUD_ACCESS_KEY_SECRET or credentials.access_key_secret"
            }
            Some(m) if m.server.is_some() => {
                "the server signed a different string than the exporter (a proxy rewriting the request?): compare ours and server in this line, and report it if no proxy is involved"
            }
            _ => "check the AccessKey secret; if it is right, a proxy may be rewriting the request",
        },
        "InvalidAccessKeyId.NotFound" | "InvalidAccessKeyId" => {
            "this AccessKey ID does not exist: check the ID, and that it belongs to the endpoint's site (China `cn` or international `intl`)"
        }
        "InvalidAccessKeyId.Inactive" => {
            "this AccessKey is disabled: enable it in the RAM console or use another"
        }
        "SignatureNonceUsed" => {
            "a request was replayed or the nonce repeated: if it persists, report it as a bug"
        }
        "IncompleteSignature"
        | "MissingParameter"
        | "InvalidParameter"
        | "InvalidVersion"
        | "InvalidAction.NotFound" => {
            "the request was refused as malformed: check the job ID exists in this account, and report a bug if it does"
        }
        _ if code.starts_with("InvalidTimeStamp") => {
            "the request's timestamp was refused: synchronise this machine's clock (NTP)"
        }
        _ if code.starts_with("InvalidSecurityToken") => {
            "the STS security token is invalid or expired: renew it (ALIBABA_CLOUD_SECURITY_TOKEN) or use long-term credentials"
        }
        _ if code.starts_with("Forbidden") || code.starts_with("NoPermission") => {
            "the RAM user or role lacks permission: grant yundun-cert:DescribeDeploymentJobStatus (and yundun-cert:List*, yundun-cert:Describe*)"
        }
        _ if code.starts_with("Throttling") || code == "Rejected.Throttling" => {
            "the account's CAS API quota is used up (about 10 calls/s per API, shared by everything in the account): lengthen interval, lower concurrency, or find the other consumer"
        }
        _ if e.status >= 500 || code == "InternalError" || code == "ServiceUnavailable" => {
            "the service failed on its side: usually transient, the next poll tries again"
        }
        _ if code.contains("NotFound") || code.contains("JobId") => {
            "check that the job ID exists in this account (ListDeploymentJob or the CAS console)"
        }
        _ => "see the API's message and README's troubleshooting section",
    }
}

/// Splits a `SignatureDoesNotMatch` message into its text and the server's string-to-sign.
pub(crate) fn split_signature_message(message: &str) -> (String, Option<String>) {
    match message.find(SERVER_STRING_TO_SIGN_MARKER) {
        Some(at) => {
            let text = message[..at].trim_end().to_owned();
            let server = message[at + SERVER_STRING_TO_SIGN_MARKER.len()..]
                .trim()
                .to_owned();
            (text, Some(server))
        }
        None => (message.to_owned(), None),
    }
}

/// What stands in for a removed secret.
const REDACTED: &str = "<redacted>";

/// Removes the secret and the token from text that may echo a request: every
/// `SecurityToken` value by its position, and both values in every encoding
/// they can take on the way (raw, percent-encoded once or twice, form-encoded).
pub(crate) fn redact(text: &str, credentials: &Credentials) -> String {
    let mut out = redact_parameters(text);
    let mut values = vec![credentials.access_key_secret.expose()];
    values.extend(credentials.security_token.as_ref().map(Secret::expose));
    for value in values.into_iter().filter(|v| !v.is_empty()) {
        let once = percent_encode(value);
        let twice = percent_encode(&once);
        let form: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
        for form in [twice, once, form, value.to_owned()] {
            out = out.replace(&form, REDACTED);
        }
    }
    out
}

/// Masks the values of the parameters that carry secrets (`SecurityToken`,
/// `OIDCToken`) wherever a request is echoed, by their position.
pub(crate) fn redact_parameters(text: &str) -> String {
    let mut out = text.to_owned();
    for marker in [
        "SecurityToken%3D",
        "SecurityToken=",
        "OIDCToken%3D",
        "OIDCToken=",
    ] {
        out = mask_after(&out, marker);
    }
    out
}

/// Replaces what follows each `marker`, up to the next parameter separator, with the placeholder.
fn mask_after(text: &str, marker: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        let value_start = at + marker.len();
        out.push_str(&rest[..value_start]);
        let value = &rest[value_start..];
        let end = ["%26", "&", " ", "\"", "\n"]
            .iter()
            .filter_map(|sep| value.find(sep))
            .min()
            .unwrap_or(value.len());
        out.push_str(REDACTED);
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(code: &str, status: u16) -> ApiError {
        ApiError::Service(Box::new(ServiceError {
            status,
            code: code.into(),
            message: "m".into(),
            request_id: Some("R-1".into()),
            retry_after: None,
            signature: None,
        }))
    }

    #[test]
    fn codes_and_hints() {
        assert_eq!(service("Throttling.User", 400).code(), "Throttling.User");
        assert!(service("Throttling.User", 400).hint().contains("quota"));
        assert!(
            service("Forbidden.RAM", 403)
                .hint()
                .contains("yundun-cert:DescribeDeploymentJobStatus")
        );
        assert!(
            service("InvalidAccessKeyId.NotFound", 404)
                .hint()
                .contains("does not exist")
        );
        assert!(service("InternalError", 500).hint().contains("transient"));
        assert!(
            service("InvalidTimeStamp.Expired", 400)
                .hint()
                .contains("clock")
        );
        assert_eq!(ApiError::Timeout(Duration::from_secs(10)).code(), "timeout");
        assert_eq!(
            ApiError::Decode {
                status: 200,
                detail: "x".into()
            }
            .code(),
            "decode"
        );
        assert_eq!(service("X", 400).request_id(), Some("R-1"));
    }

    #[test]
    fn signature_message_and_mask() {
        let (text, server) = split_signature_message(
            "Specified signature is not matched with our calculation. server string to sign is:POST&%2F&A%3D1",
        );
        assert_eq!(
            text,
            "Specified signature is not matched with our calculation."
        );
        assert_eq!(server.as_deref(), Some("POST&%2F&A%3D1"));
        assert_eq!(split_signature_message("plain").1, None);
        let credentials = Credentials {
            access_key_id: "id".into(),
            access_key_secret: Secret::new("se cret/+"),
            security_token: Some(Secret::new("CAIS+tok")),
        };
        let sts = "GET&%2F&SecurityToken%3DCAIS%252Btok%26X%3D1";
        assert_eq!(
            redact(sts, &credentials),
            "GET&%2F&SecurityToken%3D<redacted>%26X%3D1"
        );
        let rewritten = "GET&%2F&SecurityToken%3DCAIS%2520tok";
        assert_eq!(
            redact(rewritten, &credentials),
            "GET&%2F&SecurityToken%3D<redacted>"
        );
        let page = "<p>GET /?SecurityToken=CAIS%2Btok&AccessKeyId=id</p> echo: se cret/+ se+cret%2F%2B se%20cret%2F%2B CAIS+tok";
        assert_eq!(
            redact(page, &credentials),
            "<p>GET /?SecurityToken=<redacted>&AccessKeyId=id</p> echo: <redacted> <redacted> <redacted> <redacted>"
        );
    }
}
