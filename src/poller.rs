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
    /// A poller that publishes into `store`, where every job shows as down until polled.
    pub fn new(client: Arc<Client>, options: PollerOptions, store: Arc<SnapshotStore>) -> Self {
        store.store(Snapshot {
            jobs: options
                .jobs
                .iter()
                .map(|id| (*id, JobSnapshot::default()))
                .collect(),
            completed_sweeps: 0,
            stale_after: options.stale_after,
        });
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
        let mut task_jobs = HashMap::with_capacity(self.options.jobs.len());
        for &job_id in &self.options.jobs {
            let client = Arc::clone(&self.client);
            let semaphore = Arc::clone(&semaphore);
            let task = tasks.spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                let result = client.describe_deployment_job_status(job_id).await;
                (job_id, result, Instant::now(), SystemTime::now())
            });
            task_jobs.insert(task.id(), job_id);
        }
        let mut outcomes = HashMap::with_capacity(self.options.jobs.len());
        while let Some(joined) = tasks.join_next_with_id().await {
            match joined {
                Ok((_, (job_id, Ok(status), at, wall))) => {
                    outcomes.insert(job_id, Some((status, at, wall)));
                }
                Ok((_, (job_id, Err(error), _, _))) => {
                    log_failure(job_id, &error);
                    outcomes.insert(job_id, None);
                }
                Err(error) => {
                    let job_id = task_jobs.get(&error.id()).copied().unwrap_or_default();
                    tracing::error!(job_id, %error, "the poll of this job ended abnormally; it counts as failed");
                    outcomes.insert(job_id, None);
                }
            }
        }
        let next = next_snapshot(&self.store.load(), &self.options.jobs, outcomes);
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
/// last good ones (the renderer hides them once stale), and jobs no longer
/// listed are gone.
fn next_snapshot(
    previous: &Snapshot,
    jobs: &[u64],
    mut outcomes: HashMap<u64, Outcome>,
) -> Snapshot {
    let mut next = Snapshot {
        jobs: Default::default(),
        completed_sweeps: previous.completed_sweeps + 1,
        stale_after: previous.stale_after,
    };
    for &job_id in jobs {
        let job = match outcomes.remove(&job_id).flatten() {
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

    const STALE: Duration = Duration::from_secs(300);

    #[tokio::test(start_paused = true)]
    async fn failures_keep_values_until_stale_then_only_up_remains() {
        let start = Snapshot {
            stale_after: STALE,
            ..Default::default()
        };
        let t0 = Instant::now();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let first = next_snapshot(
            &start,
            &[1, 2],
            HashMap::from([(1, Some((status(20), t0, wall))), (2, None)]),
        );
        assert_eq!((first.completed_sweeps, first.stale_after), (1, STALE));
        let one = first.jobs[&1].clone();
        assert!(one.up);
        assert_eq!(one.last_success, Some(wall));
        assert_eq!(one.fresh_values(t0, STALE), Some(&status(20)));
        assert_eq!(
            first.jobs[&2],
            JobSnapshot::default(),
            "never succeeded: up 0 alone"
        );
        assert_eq!(first.jobs[&2].fresh_values(t0, STALE), None);

        let failing = next_snapshot(&first, &[1, 2], HashMap::from([(1, None), (2, None)]));
        assert_eq!(
            failing.jobs[&1],
            JobSnapshot {
                up: false,
                ..one.clone()
            },
            "last values kept"
        );
        assert_eq!(
            failing.jobs[&1].fresh_values(t0 + STALE, STALE),
            Some(&status(20))
        );
        let later = t0 + STALE + Duration::from_millis(1);
        assert_eq!(
            failing.jobs[&1].fresh_values(later, STALE),
            None,
            "stale after stale_after"
        );

        let back = next_snapshot(
            &failing,
            &[1],
            HashMap::from([(1, Some((status(21), later, wall)))]),
        );
        assert_eq!(back.jobs[&1].fresh_values(later, STALE), Some(&status(21)));
        assert!(
            !back.jobs.contains_key(&2),
            "a job no longer listed disappears"
        );
        assert_eq!(back.completed_sweeps, 3);
    }
}
