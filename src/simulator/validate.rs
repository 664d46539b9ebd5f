//! The checks one job of the spec must pass: each refusal says what is wrong,
//! in which job and key, and what to write instead.

use super::spec::JobSpec;
use super::world::{STATUS_FIELDS, worker_total};
use humantime::format_duration;

/// Why `job` cannot be played, if it cannot.
pub fn check_job(job: &JobSpec) -> Result<(), String> {
    let id = job.id;
    if job.evolution.is_some_and(|e| e.step.is_zero()) {
        return Err(format!("job {id}: evolution.step must be longer than 0s"));
    }
    let total = worker_total(job);
    if job.evolution.is_none() && job.outcomes.finished() > total {
        return Err(format!(
            "job {id}: outcomes add up to {} finished workers, but workers add up to {total}",
            job.outcomes.finished()
        ));
    }
    if let Some(field) = job
        .omit_fields
        .iter()
        .find(|f| !STATUS_FIELDS.contains(&f.as_str()))
    {
        return Err(format!(
            "job {id}: omit_fields names {field}, which DescribeDeploymentJobStatus does not return; use one of {}",
            STATUS_FIELDS.join(", ")
        ));
    }
    check_times(job)
}

/// `started_ago`, `ended_ago` and the schedule make a possible history.
fn check_times(job: &JobSpec) -> Result<(), String> {
    let id = job.id;
    if job.scheduled_in.is_some() && job.scheduled_ago.is_some() {
        return Err(format!(
            "job {id}: scheduled_in and scheduled_ago are both set, but a job has one ScheduleTime; keep one of them"
        ));
    }
    let Some(ended_ago) = job.ended_ago else {
        return Ok(());
    };
    if job.evolution.is_some() {
        return Err(format!(
            "job {id}: ended_ago is set, but the job evolves and ends when its last worker finishes (workers × evolution.step after the simulator starts); remove ended_ago"
        ));
    }
    let (finished, total) = (job.outcomes.finished(), worker_total(job));
    if finished < total {
        return Err(format!(
            "job {id}: ended_ago is set, but outcomes finish {finished} of {total} workers, so the job has not ended; remove ended_ago or let the outcomes add up to the workers"
        ));
    }
    if ended_ago > job.started_ago {
        return Err(format!(
            "job {id}: ended_ago ({}) is further back than started_ago ({}), so the job would end before it started; make started_ago at least as long as ended_ago",
            format_duration(ended_ago),
            format_duration(job.started_ago)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(yaml: &str) -> String {
        let job: JobSpec = crate::yaml::from_str(yaml, "a test job").unwrap();
        check_job(&job).unwrap_err()
    }

    #[test]
    fn times_that_cannot_have_happened_are_refused() {
        let cases = [
            (
                "id: 1\nworkers: {CDN: 1}\noutcomes: {succeeded: 1}\nstarted_ago: 7d\nended_ago: 7d 2h\n",
                "job 1: ended_ago (7days 2h) is further back than started_ago (7days), so the job would end before it started; make started_ago at least as long as ended_ago",
            ),
            (
                "id: 2\nworkers: {CDN: 1}\noutcomes: {succeeded: 1}\nended_ago: 1h\n",
                "job 2: ended_ago (1h) is further back than started_ago (0s), so the job would end before it started; make started_ago at least as long as ended_ago",
            ),
            (
                "id: 3\nworkers: {CDN: 4}\nevolution: {step: 5s}\nstarted_ago: 2h\nended_ago: 1h\n",
                "job 3: ended_ago is set, but the job evolves and ends when its last worker finishes (workers × evolution.step after the simulator starts); remove ended_ago",
            ),
            (
                "id: 4\nworkers: {CDN: 4}\noutcomes: {succeeded: 3}\nstarted_ago: 2h\nended_ago: 1h\n",
                "job 4: ended_ago is set, but outcomes finish 3 of 4 workers, so the job has not ended; remove ended_ago or let the outcomes add up to the workers",
            ),
            (
                "id: 5\nscheduled_in: 2h\nscheduled_ago: 1h\n",
                "job 5: scheduled_in and scheduled_ago are both set, but a job has one ScheduleTime; keep one of them",
            ),
        ];
        for (yaml, reason) in cases {
            assert_eq!(refusal(yaml), reason, "{yaml}");
        }
        let fine: JobSpec = crate::yaml::from_str(
            "id: 6\nworkers: {CDN: 1}\noutcomes: {failed: 1}\nstarted_ago: 7d 2h\nended_ago: 7d\nscheduled_in: 1h\n",
            "a test job",
        )
        .unwrap();
        assert_eq!(check_job(&fine), Ok(()));
    }
}
