//! Discovered jobs that finished long enough ago: no longer polled, their
//! series gone, each retirement logged once.

use crate::api::model::DeploymentJob;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Statuses after which a job no longer changes on its own.
pub(super) const FINAL_STATUSES: [&str; 2] = ["success", "error"];

/// Whether `info` says the job finished (`success` or `error`) before `cutoff`.
pub(super) fn finished_before(info: &DeploymentJob, cutoff: Option<f64>) -> bool {
    let finished = info
        .status
        .as_deref()
        .is_some_and(|s| FINAL_STATUSES.contains(&s));
    finished && matches!((info.end_time, cutoff), (Some(end), Some(cutoff)) if end < cutoff)
}

/// The Unix time before which a job's end retires it, as of `wall`; `None`
/// when jobs are kept forever (or the clock stands before 1970 plus the retention).
pub(super) fn cutoff(wall: SystemTime, retention: Option<Duration>) -> Option<f64> {
    let since_epoch = wall.duration_since(UNIX_EPOCH).ok()?;
    Some(since_epoch.checked_sub(retention?)?.as_secs_f64())
}

/// The retired jobs of one account.
#[derive(Debug, Default)]
pub(super) struct Retirement {
    retired: BTreeSet<u64>,
}

impl Retirement {
    /// How many jobs are retired.
    pub(super) fn len(&self) -> usize {
        self.retired.len()
    }

    /// Whether job `job_id` is retired.
    pub(super) fn contains(&self, job_id: u64) -> bool {
        self.retired.contains(&job_id)
    }

    /// Retires job `job_id`, logging it the first time.
    pub(super) fn retire(&mut self, account: &str, job_id: u64, info: &DeploymentJob) {
        if self.retired.insert(job_id) {
            tracing::info!(
                account,
                job_id,
                status = info.status.as_deref().unwrap_or_default(),
                end_time = info.end_time.unwrap_or_default(),
                "a discovered job finished longer than finished_job_retention ago: it is no \
                 longer polled and its series are gone"
            );
        }
    }

    /// Forgets the retirement of `listed_by_id`: jobs the configuration lists never retire.
    pub(super) fn release(&mut self, listed_by_id: &BTreeSet<u64>) {
        self.retired.retain(|id| !listed_by_id.contains(id));
    }

    /// Keeps retired only the jobs still `listed` that still finished before
    /// `cutoff`: a job the API no longer lists is forgotten, one that runs again comes back.
    pub(super) fn review(
        &mut self,
        listed: &BTreeMap<u64, Arc<DeploymentJob>>,
        cutoff: Option<f64>,
    ) {
        self.retired.retain(|id| {
            listed
                .get(id)
                .is_some_and(|info| finished_before(info, cutoff))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(status: &str, end: Option<f64>) -> Arc<DeploymentJob> {
        Arc::new(DeploymentJob {
            status: Some(status.into()),
            end_time: end,
            ..Default::default()
        })
    }

    #[test]
    fn only_finished_jobs_that_ended_before_the_cutoff_retire() {
        let day = Duration::from_secs(86_400);
        let wall = UNIX_EPOCH + day * 20;
        let cut = cutoff(wall, Some(day * 7));
        assert_eq!(cut, Some(13.0 * 86_400.0));
        assert_eq!(cutoff(wall, None), None, "0: kept forever");
        assert_eq!(cutoff(UNIX_EPOCH, Some(day)), None);
        let ended = Some(12.0 * 86_400.0);
        assert!(finished_before(&job("error", ended), cut));
        assert!(finished_before(&job("success", ended), cut));
        assert!(!finished_before(&job("processing", ended), cut));
        assert!(!finished_before(&job("error", Some(14.0 * 86_400.0)), cut));
        assert!(
            !finished_before(&job("error", None), cut),
            "no end time: kept"
        );
        assert!(!finished_before(&job("error", ended), None));
    }

    #[test]
    fn retired_jobs_come_back_when_they_run_again_and_go_when_unlisted() {
        let mut retirement = Retirement::default();
        retirement.retire("a", 1, &job("error", Some(1.0)));
        retirement.retire("a", 2, &job("success", Some(1.0)));
        retirement.retire("a", 2, &job("success", Some(1.0)));
        assert_eq!(retirement.len(), 2);
        let listed = BTreeMap::from([(1, job("processing", Some(1.0)))]);
        retirement.review(&listed, Some(10.0));
        assert_eq!(retirement.len(), 0, "1 runs again; 2 is no longer listed");
        let listed = BTreeMap::from([(1, job("error", Some(1.0)))]);
        retirement.retire("a", 1, &listed[&1]);
        retirement.review(&listed, Some(10.0));
        assert!(retirement.contains(1));
    }
}
