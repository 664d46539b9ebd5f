//! What can go wrong with one API call, classified so that logs say what to do
//! and `aliyun_cas_api_requests_total` can count it by `code`.

use crate::acs::text::{MAX_LOGGED_ID_BYTES, escaped};
use crate::credentials::CredentialsError;
use std::time::Duration;

/// The marker after which a `SignatureDoesNotMatch` message carries the server's string-to-sign.
const SERVER_STRING_TO_SIGN_MARKER: &str = "server string to sign is:";

/// An error answer from the service itself (HTTP 4xx/5xx with a JSON body).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceError {
    /// The HTTP status.
    pub status: u16,
    /// The error code as the service sent it (secrets redacted), such as `Forbidden.RAM`;
    /// classification reads it whole, labels and logs never do (see [`ServiceError::logged_code`]).
    pub code: String,
    /// The service's message (for signature errors, without the string-to-sign).
    pub message: String,
    /// The request's ID, for support tickets (redacted, cut to a log's length).
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
    #[error("the API answered {} (HTTP {}): {}", .0.logged_code(), .0.status, .0.message)]
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

impl ServiceError {
    /// The code as a log line quotes it: no control characters, at most
    /// [`MAX_LOGGED_ID_BYTES`] bytes.
    pub fn logged_code(&self) -> std::borrow::Cow<'_, str> {
        // Escaped rather than stripped: `Throttling.User\n` is counted as
        // `Throttling.other`, and the log must show why.
        escaped(&self.code, MAX_LOGGED_ID_BYTES)
    }
}

/// The API error codes a `code` label carries as they are: those of spec
/// section 3, those the hints and the retry policy tell apart, and those the
/// simulator answers. Any other code is counted under [`code_label`]'s buckets.
pub const KNOWN_CODES: [&str; 27] = [
    "Throttling",
    "Throttling.User",
    "Throttling.Api",
    "Rejected.Throttling",
    "ServiceUnavailable",
    "InternalError",
    "UnknownError",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "SignatureNonceUsed",
    "InvalidAccessKeyId",
    "InvalidAccessKeyId.NotFound",
    "InvalidAccessKeyId.Inactive",
    "InvalidSecurityToken.Expired",
    "InvalidSecurityToken.Malformed",
    "InvalidSecurityToken.MismatchWithAccessKey",
    "InvalidTimeStamp.Expired",
    "InvalidTimeStamp.Format",
    "Forbidden",
    "Forbidden.RAM",
    "NoPermission",
    "MissingParameter",
    "InvalidParameter",
    "InvalidParameter.JobId",
    "InvalidVersion",
    "InvalidAction.NotFound",
    "UnsupportedHTTPMethod",
];

/// Code prefixes that alerts and the retry policy match as families, with the
/// label an unknown member gets: it stays inside its family (`Forbidden.*` still
/// matches it) without adding a series per spelling.
pub const CODE_FAMILIES: [(&str, &str); 7] = [
    ("Throttling", "Throttling.other"),
    ("Forbidden", "Forbidden.other"),
    ("NoPermission", "NoPermission.other"),
    ("InvalidAccessKeyId", "InvalidAccessKeyId.other"),
    ("InvalidSecurityToken", "InvalidSecurityToken.other"),
    ("InvalidTimeStamp", "InvalidTimeStamp.other"),
    ("InvalidParameter", "InvalidParameter.other"),
];

/// The label of any other API error code.
pub const OTHER_CODE: &str = "other";

/// The `code` label of an API error code: the code itself when known, its
/// family's bucket, or `other`. The set of values is fixed, whatever the API sends.
pub fn code_label(code: &str) -> &'static str {
    if let Some(known) = KNOWN_CODES.iter().find(|known| **known == code) {
        return known;
    }
    CODE_FAMILIES
        .iter()
        .find(|(prefix, _)| code.starts_with(prefix))
        .map_or(OTHER_CODE, |(_, label)| label)
}

impl ApiError {
    /// The `code` label: a known API error code (see [`code_label`]), or a transport class.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Service(e) => code_label(&e.code),
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

    /// The code a log line quotes: the API's own (cut short), or the transport class.
    pub fn logged_code(&self) -> std::borrow::Cow<'_, str> {
        match self {
            ApiError::Service(e) => e.logged_code(),
            other => std::borrow::Cow::Borrowed(other.code()),
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
            ApiError::Credentials(_) => "provide credentials as docs/credentials.md describes",
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
            "the RAM user or role lacks permission for the action this line names: grant yundun-cert:<action>, such as yundun-cert:DescribeDeploymentJobStatus (docs/permissions.md lists the five actions the exporter calls)"
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
        _ => "see the API's message and docs/troubleshooting.md",
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
        assert!(service("Forbidden.RAM", 403).hint().contains(
            "grant yundun-cert:<action>, such as yundun-cert:DescribeDeploymentJobStatus"
        ));
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
    fn codes_become_a_fixed_set_of_labels() {
        for known in KNOWN_CODES {
            assert_eq!(code_label(known), known);
        }
        assert_eq!(code_label("Throttling.Brand.New"), "Throttling.other");
        assert_eq!(code_label("Forbidden.Whatever"), "Forbidden.other");
        assert_eq!(
            code_label("InvalidParameter.CertId"),
            "InvalidParameter.other"
        );
        assert_eq!(
            code_label("throttling.user"),
            OTHER_CODE,
            "codes are case-sensitive"
        );
        assert_eq!(code_label("Throttling.User\0"), "Throttling.other");
        assert_eq!(code_label(""), OTHER_CODE);
        let huge = "X".repeat(3 << 20);
        assert_eq!(service(&huge, 400).code(), OTHER_CODE);
        // A transport class sent as a code is not taken for the transport failure.
        assert_eq!(code_label("timeout"), OTHER_CODE);

        let mut labels = std::collections::BTreeSet::new();
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..10_000 {
            let len = rng.usize(0..40);
            let code: String = std::iter::repeat_with(|| rng.char(..)).take(len).collect();
            labels.insert(service(&code, 400).code());
        }
        let bound = KNOWN_CODES.len() + CODE_FAMILIES.len() + 1;
        assert!(labels.len() <= bound, "{labels:?}");
    }

    #[test]
    fn logs_quote_the_real_code_cut_short_and_clean() {
        let huge = service(&format!("Throttling.{}", "X".repeat(3 << 20)), 400);
        let logged = huge.logged_code();
        assert!(logged.starts_with("Throttling.XXX") && logged.ends_with('…'));
        assert_eq!(logged.len(), MAX_LOGGED_ID_BYTES);
        assert!(
            huge.to_string().len() < 200,
            "the error's text quotes the cut code"
        );
        assert!(is_throttling(&huge), "classification sees the whole code");
        assert_eq!(
            service("Bad\nCode\0", 400).logged_code(),
            "Bad\\nCode\\u{0}"
        );
    }

    fn is_throttling(error: &ApiError) -> bool {
        error.hint().contains("quota")
    }

    #[test]
    fn every_label_is_documented_beside_the_code_label() {
        let docs = include_str!("../../docs/metrics.md");
        let labels = KNOWN_CODES
            .iter()
            .chain(CODE_FAMILIES.iter().map(|(_, label)| label))
            .chain([&OTHER_CODE]);
        for label in labels {
            assert!(
                docs.contains(&format!("`{label}`")),
                "docs/metrics.md lacks `{label}`"
            );
        }
    }

    #[test]
    fn signature_messages_are_split() {
        let (text, server) = split_signature_message(
            "Specified signature is not matched with our calculation. server string to sign is:POST&%2F&A%3D1",
        );
        assert_eq!(
            text,
            "Specified signature is not matched with our calculation."
        );
        assert_eq!(server.as_deref(), Some("POST&%2F&A%3D1"));
        assert_eq!(split_signature_message("plain").1, None);
    }
}
