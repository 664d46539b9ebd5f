//! The one way the poller calls the API: every attempt paced by the account's
//! rate limiter, failures worth it retried after a backoff, both counted.

use super::rate_limit::RateLimiter;
use super::retry::{backoff, is_retryable};
use crate::api::{Action, ApiError, Client};
use crate::config::RetryPolicy;
use crate::metrics::SelfMetrics;
use std::future::Future;
use std::sync::Arc;

/// Makes the API calls of one account: paced, retried, counted.
#[derive(Clone)]
pub(super) struct Caller {
    account: Arc<str>,
    client: Arc<Client>,
    limiter: Arc<RateLimiter>,
    retries: RetryPolicy,
    metrics: SelfMetrics,
}

impl Caller {
    /// A caller for `account` through `client`, paced by `limiter`.
    pub(super) fn new(
        account: Arc<str>,
        client: Arc<Client>,
        limiter: Arc<RateLimiter>,
        retries: RetryPolicy,
        metrics: SelfMetrics,
    ) -> Self {
        Self {
            account,
            client,
            limiter,
            retries,
            metrics,
        }
    }

    /// Calls through `client` with `retries` from now on (on reload); calls under way keep theirs.
    pub(super) fn follow(&mut self, client: Arc<Client>, retries: RetryPolicy) {
        self.client = client;
        self.retries = retries;
    }

    /// The account the calls are made for.
    pub(super) fn account(&self) -> &str {
        &self.account
    }

    /// Calls `attempt` with the client until it succeeds, fails for good, or runs
    /// out of attempts; every attempt waits for the rate limiter first.
    pub(super) async fn call<T, F, Fut>(
        &self,
        action: Action,
        job_id: Option<u64>,
        attempt: F,
    ) -> Result<T, ApiError>
    where
        F: Fn(Arc<Client>) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mut tries = 1;
        loop {
            let waited = self.limiter.acquire(action).await;
            self.metrics
                .rate_limit_waited(&self.account, action, waited);
            let error = match attempt(Arc::clone(&self.client)).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if tries >= self.retries.max_attempts || !is_retryable(&error) {
                return Err(error);
            }
            let delay = backoff(&self.retries, tries, &error, fastrand::f64());
            self.metrics.retried(&self.account, action, error.code());
            tracing::debug!(
                account = &*self.account,
                action = action.name(),
                job_id,
                code = &*error.logged_code(),
                attempt = tries,
                delay_seconds = delay.as_secs_f64(),
                "retrying"
            );
            tokio::time::sleep(delay).await;
            tries += 1;
        }
    }
}

/// A caller for unit tests: a client of `endpoint`, no real rate limit, the default retries.
#[cfg(test)]
pub(super) fn test_caller(endpoint: &str) -> Caller {
    use super::rate_limit::RateLimiter;
    use crate::api::{PerAction, test_client};
    use crate::config::DEFAULT_RETRIES;
    let metrics = SelfMetrics::default();
    let client = test_client(endpoint, Arc::new(metrics.clone()));
    Caller::new(
        Arc::from("a"),
        Arc::new(client),
        Arc::new(RateLimiter::new(&PerAction::from_fn(|_| 1000.0))),
        DEFAULT_RETRIES,
        metrics,
    )
}
