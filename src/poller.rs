//! Polls every job in the background, a bounded number at a time, and swaps in
//! a new snapshot after each sweep. Scrapes never wait for it.

use crate::api::model::DeploymentJobStatus;
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
                let result = client.describe_deployment_job_status(job_id).await;
                (job_id, result, Instant::now(), SystemTime::now())
            });
        }
        let mut outcomes = HashMap::with_capacity(self.options.jobs.len());
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((job_id, Ok(status), at, wall)) => {
                    outcomes.insert(job_id, Some((status, at, wall)));
                }
                Ok((job_id, Err(error), _, _)) => {
                    log_failure(job_id, &error);
                    outcomes.insert(job_id, None);
                }
                Err(error) => tracing::error!(%error, "a poll task ended abnormally"),
            }
        }
        let next = next_snapshot(
            &self.store.load(),
            &self.options.jobs,
            outcomes,
            Instant::now(),
            self.options.stale_after,
        );
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

/// A successful poll: its values and when they arrived; `None` for a failed one.
type Outcome = Option<(DeploymentJobStatus, Instant, SystemTime)>;

/// The snapshot after a sweep: successes replace values, failures keep the
/// last good ones until `stale_after`, and jobs no longer listed are gone.
fn next_snapshot(
    previous: &Snapshot,
    jobs: &[u64],
    mut outcomes: HashMap<u64, Outcome>,
    now: Instant,
    stale_after: Duration,
) -> Snapshot {
    let mut next = Snapshot {
        jobs: Default::default(),
        completed_sweeps: previous.completed_sweeps + 1,
    };
    for &job_id in jobs {
        let mut job = match outcomes.remove(&job_id).flatten() {
            Some((status, at, wall)) => JobSnapshot {
                up: true,
                last_success: Some(wall),
                last_success_at: Some(at),
                values: Some(Arc::new(status)),
            },
            None => JobSnapshot {
                up: false,
                ..previous.jobs.get(&job_id).cloned().unwrap_or_default()
            },
        };
        let fresh = job
            .last_success_at
            .is_some_and(|at| now.duration_since(at) <= stale_after);
        if !fresh {
            job.values = None;
        }
        next.jobs.insert(job_id, job);
    }
    next
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

#[cfg(test)]
mod tests {
    use super::*;

    fn status(workers: i64) -> DeploymentJobStatus {
        DeploymentJobStatus {
            worker_count: Some(workers),
            ..Default::default()
        }
    }

    fn success(workers: i64, at: Instant) -> Outcome {
        Some((
            status(workers),
            at,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1000),
        ))
    }

    const STALE: Duration = Duration::from_secs(300);

    #[tokio::test(start_paused = true)]
    async fn failures_keep_values_until_stale_then_only_up_remains() {
        let t0 = Instant::now();
        let first = next_snapshot(
            &Snapshot::default(),
            &[1, 2],
            HashMap::from([(1, success(20, t0)), (2, None)]),
            t0,
            STALE,
        );
        assert_eq!(first.completed_sweeps, 1);
        let one = &first.jobs[&1];
        assert!(one.up);
        assert_eq!(one.values.as_deref(), Some(&status(20)));
        assert_eq!(
            one.last_success,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1000))
        );
        assert_eq!(
            first.jobs[&2],
            JobSnapshot::default(),
            "never succeeded: up 0 alone"
        );

        tokio::time::advance(STALE).await;
        let failing = next_snapshot(
            &first,
            &[1, 2],
            HashMap::from([(1, None), (2, None)]),
            Instant::now(),
            STALE,
        );
        assert_eq!(
            failing.jobs[&1],
            JobSnapshot {
                up: false,
                ..one.clone()
            },
            "kept at exactly stale_after"
        );

        tokio::time::advance(Duration::from_millis(1)).await;
        let stale = next_snapshot(
            &failing,
            &[1, 2],
            HashMap::from([(1, None)]),
            Instant::now(),
            STALE,
        );
        assert_eq!(
            stale.jobs[&1],
            JobSnapshot {
                up: false,
                values: None,
                ..one.clone()
            },
            "values dropped, the last success is remembered"
        );
        assert_eq!(stale.completed_sweeps, 3);

        let back = next_snapshot(
            &stale,
            &[1],
            HashMap::from([(1, success(21, Instant::now()))]),
            Instant::now(),
            STALE,
        );
        assert_eq!(back.jobs[&1].values.as_deref(), Some(&status(21)));
        assert!(
            !back.jobs.contains_key(&2),
            "a job no longer listed disappears"
        );
    }
}
