//! Polls every job in the background, a bounded number at a time, and swaps in
//! a new snapshot after each sweep. Scrapes never wait for it.

use crate::api::{ApiError, Client};
use crate::snapshot::{JobSnapshot, Snapshot, SnapshotStore};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// What to poll and how often.
#[derive(Debug, Clone)]
pub struct PollerOptions {
    /// The jobs.
    pub jobs: Vec<u64>,
    /// Time between two sweeps' starts.
    pub interval: Duration,
    /// After this long without success a job's values are dropped.
    pub stale_after: Duration,
    /// Polls in flight at once.
    pub concurrency: usize,
}

/// The background poller of one account.
pub struct Poller {
    client: Arc<Client>,
    options: PollerOptions,
    store: Arc<SnapshotStore>,
}

impl Poller {
    /// A poller that publishes into `store`.
    pub fn new(client: Arc<Client>, options: PollerOptions, store: Arc<SnapshotStore>) -> Self {
        Self {
            client,
            options,
            store,
        }
    }

    /// Sweeps at once, then every interval, until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.options.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.sweep() => {}
            }
        }
    }

    /// Polls every job once and publishes the result.
    pub async fn sweep(&self) {
        let started = Instant::now();
        let semaphore = Arc::new(Semaphore::new(self.options.concurrency));
        let mut tasks = JoinSet::new();
        for &job_id in &self.options.jobs {
            let client = Arc::clone(&self.client);
            let semaphore = Arc::clone(&semaphore);
            tasks.spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                (job_id, client.describe_deployment_job_status(job_id).await)
            });
        }
        let mut results = HashMap::with_capacity(self.options.jobs.len());
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((job_id, result)) => {
                    if let Err(error) = &result {
                        log_failure(job_id, error);
                    }
                    results.insert(job_id, result);
                }
                Err(error) => tracing::error!(%error, "a poll task ended abnormally"),
            }
        }
        let previous = self.store.load();
        let now = Instant::now();
        let wall = SystemTime::now();
        let mut next = Snapshot {
            jobs: Default::default(),
            completed_sweeps: previous.completed_sweeps + 1,
        };
        for &job_id in &self.options.jobs {
            let before = previous.jobs.get(&job_id);
            let mut job = match results.remove(&job_id) {
                Some(Ok(status)) => JobSnapshot {
                    up: true,
                    last_success: Some(wall),
                    last_success_at: Some(now),
                    values: Some(Arc::new(status)),
                },
                _ => JobSnapshot {
                    up: false,
                    ..before.cloned().unwrap_or(JobSnapshot {
                        up: false,
                        last_success: None,
                        last_success_at: None,
                        values: None,
                    })
                },
            };
            let stale = job
                .last_success_at
                .is_none_or(|at| now.duration_since(at) > self.options.stale_after);
            if stale {
                job.values = None;
            }
            next.jobs.insert(job_id, job);
        }
        let failed = next.jobs.values().filter(|j| !j.up).count();
        self.store.store(next);
        tracing::debug!(
            jobs = self.options.jobs.len(),
            failed,
            duration_seconds = started.elapsed().as_secs_f64(),
            "sweep finished"
        );
    }
}

fn log_failure(job_id: u64, error: &ApiError) {
    let code = error.code();
    let request_id = error.request_id().unwrap_or("-");
    let http_status = error
        .http_status()
        .map_or_else(|| "-".to_owned(), |s| s.to_string());
    let hint = error.hint();
    match error {
        ApiError::Service(e) if e.signature.is_some() => {
            let mismatch = e.signature.as_ref();
            tracing::warn!(
                job_id,
                code,
                request_id,
                http_status = %http_status,
                ours = mismatch.map_or("", |m| m.ours.as_str()),
                server = mismatch.and_then(|m| m.server.as_deref()).unwrap_or("-"),
                same_string = mismatch.is_some_and(|m| m.same_string),
                hint,
                "poll failed: {error}"
            );
        }
        _ => tracing::warn!(
            job_id,
            code,
            request_id,
            http_status = %http_status,
            hint,
            "poll failed: {error}"
        ),
    }
}
