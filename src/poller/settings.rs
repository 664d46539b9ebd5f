//! What an account's poller is told to do, as one value a reload replaces.

use crate::api::Client;
use crate::config::{CertificateDetail, Discovery, Polling, RateLimit, RetryPolicy, WorkerDetail};
use std::sync::Arc;

/// What an account's poller works with; replaced whole on reload.
#[derive(Clone)]
pub struct AccountSettings {
    /// The account's API client.
    pub client: Arc<Client>,
    /// Jobs listed by ID.
    pub static_jobs: Vec<u64>,
    /// Discovery, when configured.
    pub discovery: Option<Discovery>,
    /// This replica's share of the account's rate limit.
    pub rate_limit: RateLimit,
    /// Intervals, timeouts and concurrency.
    pub polling: Polling,
    /// How failed calls are retried.
    pub retries: RetryPolicy,
    /// Which failed resources are listed, and how many.
    pub worker_detail: WorkerDetail,
    /// Whether each job's certificates are listed.
    pub certificate_detail: CertificateDetail,
}
