//! What each simulated job looks like at a given moment.

use super::spec::{Evolution, JobSpec, Outcomes};
use serde_json::{Map, Value};
use std::time::Duration;

/// A job's state at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobState {
    /// How many workers ended in each way.
    pub outcomes: Outcomes,
    /// The job status.
    pub status: String,
}

/// The outcomes after `finished` workers under `evolution`'s pattern.
fn evolve(evolution: &Evolution, finished: i64) -> Outcomes {
    let every = |n: u32, k: i64| n > 0 && k % i64::from(n) == 0;
    let mut outcomes = Outcomes::default();
    let (mut failures, mut rollbacks) = (0_i64, 0_i64);
    for worker in 1..=finished {
        if !every(evolution.fail_every, worker) {
            outcomes.succeeded += 1;
            continue;
        }
        failures += 1;
        if !every(evolution.rollback_every, failures) {
            outcomes.failed += 1;
            continue;
        }
        rollbacks += 1;
        if every(evolution.rollback_fail_every, rollbacks) {
            outcomes.rollback_failed += 1;
        } else {
            outcomes.rollback_succeeded += 1;
        }
    }
    outcomes
}

/// The names of DescribeDeploymentJobStatus' fields, which `omit_fields` may name.
pub const STATUS_FIELDS: [&str; 13] = [
    "ResourceCount",
    "UseCount",
    "BuyCount",
    "WorkerCount",
    "MatchWorkerCount",
    "SuccessCount",
    "FailedCount",
    "RollbackCount",
    "RollbackSuccessCount",
    "RollbackFailedCount",
    "CostCount",
    "CertCount",
    "ProductWorkerCount",
];

/// The certificate instance of a job, as DescribeDeploymentJob names it.
pub fn instance_id(job: &JobSpec) -> String {
    format!("cas-job-{}", job.id)
}

/// The total of worker tasks: the sum over products.
pub fn worker_total(job: &JobSpec) -> i64 {
    job.workers.values().sum()
}

/// The state of `job` once `elapsed` has passed since the simulator started.
pub fn job_state(job: &JobSpec, elapsed: Duration) -> JobState {
    let total = worker_total(job);
    let outcomes = match &job.evolution {
        Some(evolution) => {
            let steps = (elapsed.as_nanos() / evolution.step.as_nanos().max(1)) as i64;
            evolve(evolution, steps.min(total))
        }
        None => job.outcomes,
    };
    let status = job.status.clone().unwrap_or_else(|| {
        if outcomes.finished() < total {
            "processing"
        } else if outcomes.failed + outcomes.rollback_failed > 0 {
            "error"
        } else {
            "success"
        }
        .to_owned()
    });
    JobState { outcomes, status }
}

/// The DescribeDeploymentJobStatus body for `job` in `state` (without `RequestId`).
pub fn status_body(job: &JobSpec, state: &JobState) -> Map<String, Value> {
    let total = worker_total(job);
    let o = &state.outcomes;
    let number = |v: i64| {
        if job.numbers_as_strings {
            Value::String(v.to_string())
        } else {
            Value::from(v)
        }
    };
    let mut body = Map::new();
    let fields = [
        ("ResourceCount", job.resources),
        ("UseCount", job.used_resources),
        ("BuyCount", job.purchased_resources),
        ("WorkerCount", total),
        ("MatchWorkerCount", job.matched.unwrap_or(total)),
        ("SuccessCount", o.succeeded),
        ("FailedCount", o.failed),
        ("RollbackCount", o.rollback_succeeded + o.rollback_failed),
        ("RollbackSuccessCount", o.rollback_succeeded),
        ("RollbackFailedCount", o.rollback_failed),
        ("CostCount", job.consumed_resources),
        ("CertCount", job.certificates),
    ];
    for (name, value) in fields {
        body.insert(name.to_owned(), number(value));
    }
    let products: Vec<Value> = job
        .workers
        .iter()
        .map(|(product, count)| {
            let mut entry = Map::new();
            entry.insert("ProductName".to_owned(), Value::from(product.as_str()));
            entry.insert("Count".to_owned(), number(*count));
            Value::Object(entry)
        })
        .collect();
    body.insert("ProductWorkerCount".to_owned(), Value::Array(products));
    for omitted in &job.omit_fields {
        body.remove(omitted);
    }
    overridden(job, body)
}

/// `body` with the job's `override_fields` put in.
fn overridden(job: &JobSpec, mut body: Map<String, Value>) -> Map<String, Value> {
    for (name, value) in &job.override_fields {
        body.insert(name.clone(), value.clone());
    }
    body
}

/// The job as DescribeDeploymentJob and ListDeploymentJob describe it (without `RequestId`).
pub fn job_body(job: &JobSpec, state: &JobState, started_unix_ms: u64) -> Map<String, Value> {
    let ms = |v: u64| Value::String(v.to_string());
    let finished = state.outcomes.finished() >= worker_total(job);
    let mut body = Map::new();
    body.insert("Id".to_owned(), Value::from(job.id));
    body.insert("Name".to_owned(), Value::from(job.name.as_str()));
    body.insert("JobType".to_owned(), Value::from(job.job_type.as_str()));
    body.insert("Status".to_owned(), Value::from(state.status.as_str()));
    body.insert("CertType".to_owned(), Value::from(job.cert_type.as_str()));
    body.insert(
        "CertDomain".to_owned(),
        Value::from(job.cert_domain.as_str()),
    );
    body.insert("InstanceId".to_owned(), Value::from(instance_id(job)));
    let products: Vec<&str> = job.workers.keys().map(String::as_str).collect();
    body.insert("ProductName".to_owned(), Value::from(products.join(",")));
    body.insert("GmtCreate".to_owned(), ms(started_unix_ms));
    body.insert("GmtModified".to_owned(), ms(started_unix_ms));
    body.insert("ScheduleTime".to_owned(), Value::from(""));
    body.insert("StartTime".to_owned(), ms(started_unix_ms));
    body.insert(
        "EndTime".to_owned(),
        if finished {
            ms(started_unix_ms)
        } else {
            Value::from("")
        },
    );
    body.insert("UserId".to_owned(), Value::from(1_666_884_370_000_785_u64));
    body.insert("Del".to_owned(), Value::from(0));
    body.insert(
        "Rollback".to_owned(),
        Value::from(i64::from(
            state.outcomes.rollback_succeeded + state.outcomes.rollback_failed > 0,
        )),
    );
    overridden(job, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(yaml: &str) -> JobSpec {
        crate::yaml::from_str(yaml, "a test job").unwrap()
    }

    #[test]
    fn evolution_follows_its_pattern_and_stops_at_the_total() {
        let spec = job(
            "id: 1\nworkers: {CDN: 8, SLB: 4}\nevolution: {step: 2s, fail_every: 3, rollback_every: 2, rollback_fail_every: 2}\n",
        );
        let at = |secs| job_state(&spec, Duration::from_secs(secs));
        assert_eq!(at(0).outcomes, Outcomes::default());
        assert_eq!(at(0).status, "processing");
        assert_eq!(at(1).outcomes, Outcomes::default());
        // 6 workers: #3 fails, #6 fails and is rolled back.
        assert_eq!(
            at(12).outcomes,
            Outcomes {
                succeeded: 4,
                failed: 1,
                rollback_succeeded: 1,
                rollback_failed: 0
            }
        );
        // 12 workers: failures #3, #6, #9, #12; rollbacks at #6 (ok) and #12 (fails).
        let done = at(24);
        assert_eq!(
            done.outcomes,
            Outcomes {
                succeeded: 8,
                failed: 2,
                rollback_succeeded: 1,
                rollback_failed: 1
            }
        );
        assert_eq!(done.status, "error");
        assert_eq!(at(1000), done);
    }

    #[test]
    fn fixed_outcomes_body() {
        let spec = job(
            "id: 8888\nworkers: {CDN: 12, SLB: 8}\noutcomes: {succeeded: 17, failed: 2, rollback_succeeded: 1}\nresources: 4127\nused_resources: 300\npurchased_resources: 500\nconsumed_resources: 20\ncertificates: 2\n",
        );
        let state = job_state(&spec, Duration::ZERO);
        assert_eq!(state.status, "error");
        let body = Value::Object(status_body(&spec, &state));
        assert_eq!(
            body,
            serde_json::json!({"ResourceCount":4127,"UseCount":300,"BuyCount":500,
                "WorkerCount":20,"MatchWorkerCount":20,"SuccessCount":17,"FailedCount":2,"RollbackCount":1,
                "RollbackSuccessCount":1,"RollbackFailedCount":0,"CostCount":20,"CertCount":2,
                "ProductWorkerCount":[{"ProductName":"CDN","Count":12},{"ProductName":"SLB","Count":8}]})
        );
    }

    #[test]
    fn strings_and_omitted_fields() {
        let spec = job(
            "id: 2\nworkers: {OSS: 3}\nnumbers_as_strings: true\nomit_fields: [BuyCount, ProductWorkerCount]\n",
        );
        let body = status_body(&spec, &job_state(&spec, Duration::ZERO));
        assert_eq!(body["WorkerCount"], Value::from("3"));
        assert!(!body.contains_key("BuyCount"));
        assert!(!body.contains_key("ProductWorkerCount"));
    }
}
