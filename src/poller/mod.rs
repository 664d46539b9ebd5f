//! Polls one account's jobs in the background: each job at its own phase of
//! the interval (settled jobs less often), every call paced by the account's
//! rate limiter and retried when worth it; discovery and job details on their
//! own cadence. Results are published as an immutable snapshot; scrapes never
//! wait for any of it.

mod call;
mod caller;
mod certificates;
mod discovery;
mod episodes;
mod log;
mod rate_limit;
mod retry;
mod schedule;
mod settings;
mod state;
mod workers;

use call::Tasks;
use caller::Caller;
use rate_limit::RateLimiter;
use state::State;

pub use settings::AccountSettings;

use crate::metrics::SelfMetrics;
use crate::shard::Shard;
use crate::snapshot::SnapshotStore;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The background poller of one account.
pub struct AccountPoller {
    account: Arc<str>,
    settings: watch::Receiver<Arc<AccountSettings>>,
    store: Arc<SnapshotStore>,
    metrics: SelfMetrics,
    shard: Shard,
}

impl AccountPoller {
    /// A poller for `account`; publishes its jobs as down at once, so scrapes see them before the first poll.
    pub fn new(
        account: &str,
        settings: watch::Receiver<Arc<AccountSettings>>,
        store: Arc<SnapshotStore>,
        metrics: SelfMetrics,
        shard: Shard,
    ) -> Self {
        let poller = Self {
            account: Arc::from(account),
            settings,
            store,
            metrics,
            shard,
        };
        let initial = State::new(
            Arc::clone(&poller.account),
            poller.shard,
            Arc::clone(&poller.settings.borrow()),
            Instant::now(),
        );
        poller.store.publish(&poller.account, initial.snapshot());
        poller
    }

    /// Polls until `shutdown`; follows new settings as they are sent.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let now = Instant::now();
        let mut settings = Arc::clone(&self.settings.borrow_and_update());
        let mut state = State::new(
            Arc::clone(&self.account),
            self.shard,
            Arc::clone(&settings),
            now,
        );
        let limiter = Arc::new(RateLimiter::new(&settings.rate_limit));
        let mut caller = Caller::new(
            Arc::clone(&self.account),
            Arc::clone(&settings.client),
            Arc::clone(&limiter),
            settings.retries,
            self.metrics.clone(),
        );
        let mut tasks = Tasks::new(Arc::clone(&self.account));
        loop {
            let now = Instant::now();
            state.start_due(now, |call| tasks.spawn(&caller, call));
            if let Some(snapshot) = state.publish_due(now) {
                self.store.publish(&self.account, snapshot);
            }
            let wake = state.next_wakeup(now);
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = self.settings.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    settings = Arc::clone(&self.settings.borrow_and_update());
                    limiter.set_rates(&settings.rate_limit);
                    caller.follow(Arc::clone(&settings.client), settings.retries);
                    state.apply(Arc::clone(&settings), Instant::now());
                }
                Some((call, outcome)) = tasks.next(), if !tasks.is_empty() => {
                    state.finish(call, outcome, Instant::now());
                }
                () = sleep_until(wake) => {}
            }
        }
    }
}

/// Waits until `deadline`, or for ever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
