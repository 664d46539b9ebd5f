//! Which worker tasks of a job failed or were rolled back: what to ask
//! ListWorkerResource for, given the job's counts, and the listing itself,
//! page by page within the per-job cap.

use super::caller::Caller;
use crate::api::model::{DeploymentJobStatus, PROBLEM_STATUSES, WorkerResource};
use crate::api::{Action, ApiError};
use crate::snapshot::WorkerListing;
use std::collections::HashSet;
use std::time::SystemTime;

/// The page size asked for (the API's default).
const PAGE_SIZE: u32 = 50;

/// What to list for one job: how many workers its counts put in each of
/// [`PROBLEM_STATUSES`], and the most to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct WorkerPlan {
    expected: [u64; PROBLEM_STATUSES.len()],
    cap: usize,
}

impl WorkerPlan {
    /// The plan for a job with `counts`, keeping at most `cap` workers; `None`
    /// when the counts put no worker in those statuses (nothing to call for).
    pub(super) fn for_counts(counts: &DeploymentJobStatus, cap: usize) -> Option<Self> {
        let count = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
        let succeeded = count(counts.rollback_success_count);
        let failed = count(counts.rollback_failed_count);
        // Rollbacks neither succeeded nor failed yet are under way (`rollback`): the spec's
        // RollbackCount counts every rolled-back worker, its two parts the finished ones.
        let under_way =
            count(counts.rollback_count).saturating_sub(succeeded.saturating_add(failed));
        let expected = [count(counts.failed_count), failed, under_way, succeeded];
        expected
            .iter()
            .any(|n| *n > 0)
            .then_some(Self { expected, cap })
    }

    /// The same plan, keeping at most `cap` workers.
    pub(super) fn with_cap(self, cap: usize) -> Self {
        Self { cap, ..self }
    }

    /// The workers the counts put in the problem statuses, in all.
    pub(super) fn expected_total(&self) -> u64 {
        self.expected
            .iter()
            .fold(0, |sum, n| sum.saturating_add(*n))
    }

    /// The statuses to list, each with the workers the counts put in it.
    fn statuses(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        PROBLEM_STATUSES
            .into_iter()
            .zip(self.expected)
            .filter(|(_, n)| *n > 0)
    }
}

/// Lists job `job_id`'s workers in each status `plan` names, worst first, until
/// `plan`'s cap is reached; what is beyond it, or has no usable worker ID, is
/// counted as left out. So is what a status' `Total` promised but its pages
/// did not hold: the workers read are served, the gap is visible.
pub(super) async fn list_problem_workers(
    caller: &Caller,
    job_id: u64,
    plan: WorkerPlan,
) -> Result<WorkerListing, ApiError> {
    let mut workers: Vec<WorkerResource> = Vec::new();
    let mut seen = HashSet::new();
    let mut left_out: u64 = 0;
    for (status, expected) in plan.statuses() {
        if workers.len() >= plan.cap {
            left_out = left_out.saturating_add(expected);
            continue;
        }
        let mut read: u64 = 0;
        let mut total = expected;
        // Each page read brings a new worker, or the loop ends: at most cap + 1 pages.
        for page in 1..=u32::try_from(plan.cap)
            .unwrap_or(u32::MAX)
            .saturating_add(1)
        {
            let answer = caller
                .call(
                    Action::ListWorkerResource,
                    Some(job_id),
                    |client| async move {
                        client
                            .list_worker_resources(job_id, status, page, PAGE_SIZE)
                            .await
                    },
                )
                .await?;
            if page == 1 {
                // The counts bound what a Total may claim: a broken one cannot inflate the gap.
                total = answer
                    .total
                    .and_then(|t| u64::try_from(t).ok())
                    .map_or(expected, |t| t.min(expected));
            }
            let data = answer.data.unwrap_or_default();
            // An empty page, or one that repeats what was read, ends the status.
            let fresh = data.iter().any(|w| {
                w.status.as_deref().is_none_or(|s| s == status)
                    && w.worker_id().is_some_and(|id| !seen.contains(&id))
            });
            if !fresh {
                break;
            }
            read = read.saturating_add(data.len() as u64);
            for mut worker in data {
                // The filter should return only `status`; a worker without one is taken as asked.
                if worker.status.as_deref().is_some_and(|s| s != status) {
                    continue;
                }
                worker.status = Some(status.to_owned());
                match worker.worker_id() {
                    // Pages that overlap (the list changed between two) repeat a worker.
                    Some(id) if seen.contains(&id) => {}
                    Some(id) if workers.len() < plan.cap => {
                        seen.insert(id);
                        workers.push(worker);
                    }
                    _ => left_out = left_out.saturating_add(1),
                }
            }
            if workers.len() >= plan.cap || read >= total {
                break;
            }
        }
        left_out = left_out.saturating_add(total.saturating_sub(read));
    }
    Ok(WorkerListing {
        workers,
        left_out,
        listed_at: SystemTime::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(
        failed: i64,
        rollback: i64,
        succeeded: i64,
        rollback_failed: i64,
    ) -> DeploymentJobStatus {
        DeploymentJobStatus {
            failed_count: Some(failed),
            rollback_count: Some(rollback),
            rollback_success_count: Some(succeeded),
            rollback_failed_count: Some(rollback_failed),
            ..Default::default()
        }
    }

    use crate::poller::caller::test_caller as caller;

    #[tokio::test]
    async fn pages_that_repeat_or_promise_too_much_end_with_the_gap_counted() {
        use crate::acs::answering;
        use std::sync::atomic::Ordering;
        // Every page is the same: two workers, one without an ID, one of another status.
        let (endpoint, served) = answering(
            r#"{"Total":1000000,"Data":[{"Id":1,"Status":"error"},{"Id":"2"},{"Id":0},{"Id":3,"Status":"rollback"}]}"#
                .to_owned(),
        )
        .await;
        let plan = WorkerPlan::for_counts(&counts(4, 2, 2, 0), 5).unwrap();
        let listing = list_problem_workers(&caller(&endpoint), 9, plan)
            .await
            .unwrap();
        let kept: Vec<(Option<i64>, Option<&str>)> = listing
            .workers
            .iter()
            .map(|w| (w.id, w.status.as_deref()))
            .collect();
        assert_eq!(kept, [(Some(1), Some("error")), (Some(2), Some("error"))]);
        // Total is bounded by the counts (4 failed, 2 rolled back), not taken at its word:
        // error: the one without an ID; rollback_success: the 2 no page held.
        assert_eq!(listing.left_out, 1 + 2);
        assert_eq!(
            served.load(Ordering::SeqCst),
            2,
            "the first page held the 4 failed; a repeated page ends rollback_success"
        );
    }

    #[tokio::test]
    async fn the_cap_ends_the_listing_and_counts_the_rest() {
        use crate::acs::answering;
        let data: Vec<String> = (1..=50)
            .map(|id| format!(r#"{{"Id":{id},"Status":"error"}}"#))
            .collect();
        let (endpoint, _) =
            answering(format!(r#"{{"Total":120,"Data":[{}]}}"#, data.join(","))).await;
        let plan = WorkerPlan::for_counts(&counts(120, 3, 3, 0), 10).unwrap();
        let listing = list_problem_workers(&caller(&endpoint), 9, plan)
            .await
            .unwrap();
        assert_eq!(listing.workers.len(), 10);
        // 40 read past the cap, 70 never read, 3 rolled back not listed at all.
        assert_eq!(listing.left_out, 40 + 70 + 3);
    }

    #[test]
    fn the_plan_lists_only_statuses_the_counts_put_workers_in() {
        assert_eq!(WorkerPlan::for_counts(&counts(0, 0, 0, 0), 50), None);
        assert_eq!(
            WorkerPlan::for_counts(&DeploymentJobStatus::default(), 50),
            None
        );
        let plan = WorkerPlan::for_counts(&counts(3, 2, 2, 0), 50).unwrap();
        assert_eq!(
            plan.statuses().collect::<Vec<_>>(),
            [("error", 3), ("rollback_success", 2)]
        );
        // Two of five rollbacks are still under way; a broken count never underflows.
        let plan = WorkerPlan::for_counts(&counts(0, 5, 2, 1), 50).unwrap();
        assert_eq!(
            plan.statuses().collect::<Vec<_>>(),
            [
                ("rollback_error", 1),
                ("rollback", 2),
                ("rollback_success", 2)
            ]
        );
        let plan = WorkerPlan::for_counts(&counts(0, 1, 4, 0), 50).unwrap();
        assert_eq!(
            plan.statuses().collect::<Vec<_>>(),
            [("rollback_success", 4)]
        );
    }
}
