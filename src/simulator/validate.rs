//! The checks one job of the spec must pass: each refusal says what is wrong,
//! in which job and key, and what to write instead.

use super::certs::STATUS_CODES;
use super::spec::JobSpec;
use super::workers::MAX_WORKERS;
use super::world::{STATUS_FIELDS, worker_total};
use crate::api::Action;
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
    let listed: i64 = job.workers.values().map(|c| (*c).max(0)).sum();
    if listed > MAX_WORKERS {
        return Err(format!(
            "job {id}: workers add up to {listed}, but the simulator plays at most {MAX_WORKERS} workers a job; split it into several jobs"
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
    if let Some(action) = job
        .fault_actions
        .iter()
        .find(|a| Action::from_name(a).is_none())
    {
        return Err(format!(
            "job {id}: fault_actions names {action}, which the simulator does not serve; use one of {}",
            Action::ALL.map(Action::name).join(", ")
        ));
    }
    check_times(job)?;
    check_certs(job)
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

/// `certs` entries are each given once, with one expiry and a known status.
fn check_certs(job: &JobSpec) -> Result<(), String> {
    let id = job.id;
    let Some(certs) = &job.certs else {
        return Ok(());
    };
    if !job.cert_ids.is_empty() {
        return Err(format!(
            "job {id}: both certs and cert_ids list certificates; list each as a certs entry and remove cert_ids"
        ));
    }
    for (i, cert) in certs.iter().enumerate() {
        let cert_id = cert.id;
        if certs[..i].iter().any(|c| c.id == cert_id) {
            return Err(format!(
                "job {id}: certs lists certificate {cert_id} twice; list each certificate once"
            ));
        }
        if cert.expires_in.is_some() && cert.expired_ago.is_some() {
            return Err(format!(
                "job {id}: certificate {cert_id} sets both expires_in and expired_ago, but it has one NotAfterTime; keep one of them"
            ));
        }
        if !STATUS_CODES.contains(&cert.status_code.as_str()) {
            return Err(format!(
                "job {id}: certificate {cert_id} has status_code {}, which ListDeploymentJobCert does not return; use one of {} (or override_fields for an odd value)",
                cert.status_code,
                STATUS_CODES.join(", ")
            ));
        }
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

    #[test]
    fn certificates_fault_actions_and_sizes_are_checked() {
        let cases = [
            (
                "id: 1\ncert_ids: [5]\ncerts: [{id: 6}]\n",
                "job 1: both certs and cert_ids list certificates; list each as a certs entry and remove cert_ids".to_owned(),
            ),
            (
                "id: 2\ncerts: [{id: 6}, {id: 7}, {id: 6, name: again}]\n",
                "job 2: certs lists certificate 6 twice; list each certificate once".to_owned(),
            ),
            (
                "id: 3\ncerts: [{id: 6, expires_in: 6d, expired_ago: 1d}]\n",
                "job 3: certificate 6 sets both expires_in and expired_ago, but it has one NotAfterTime; keep one of them".to_owned(),
            ),
            (
                "id: 4\ncerts: [{id: 6, status_code: Issued}]\n",
                format!(
                    "job 4: certificate 6 has status_code Issued, which ListDeploymentJobCert does not return; use one of {} (or override_fields for an odd value)",
                    STATUS_CODES.join(", ")
                ),
            ),
            (
                "id: 5\nfault: internal_error\nfault_actions: [ListWorkerResource, ListWorkers]\n",
                "job 5: fault_actions names ListWorkers, which the simulator does not serve; use one of DescribeDeploymentJobStatus, DescribeDeploymentJob, ListDeploymentJob, ListWorkerResource, ListDeploymentJobCert".to_owned(),
            ),
            (
                "id: 6\nworkers: {CDN: 400000, SLB: 100001, OSS: -5}\n",
                "job 6: workers add up to 500001, but the simulator plays at most 500000 workers a job; split it into several jobs".to_owned(),
            ),
        ];
        for (yaml, reason) in cases {
            assert_eq!(refusal(yaml), reason, "{yaml}");
        }
    }
}
