//! The simulator's record of each request, for tests to assert on.

use std::collections::BTreeMap;
use tokio::time::Instant;

/// One request as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// When it arrived (tokio's clock, so paused-clock tests can reason about it).
    pub at: Instant,
    /// The HTTP method.
    pub method: String,
    /// The path (`/` for RPC calls).
    pub path: String,
    /// The User-Agent header.
    pub user_agent: String,
    /// Query and form parameters, without `Signature` and `SecurityToken`.
    pub params: BTreeMap<String, String>,
    /// Whether a `SecurityToken` was sent (never its value).
    pub security_token: bool,
    /// Length of the request body.
    pub body_len: usize,
    /// `OK`, the error code answered, or the fault played.
    pub code: String,
    /// The HTTP status answered (504 stands for "no answer" on a hang).
    pub status: u16,
    /// The `RequestId` answered.
    pub request_id: String,
}

impl LoggedRequest {
    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// `JobId`, if given and numeric.
    pub fn job_id(&self) -> Option<u64> {
        self.param("JobId").and_then(|v| v.parse().ok())
    }
}
