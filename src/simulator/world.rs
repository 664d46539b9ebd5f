//! What each simulated job looks like at a given moment.

use super::certs::cert_count;
use super::spec::{Evolution, JobSpec, Outcomes};
use serde_json::{Map, Value};
use std::time::Duration;

/// The account every simulated job and worker belongs to (`UserId`, the spec's samples' value).
pub const USER_ID: u64 = 1_666_884_370_000_785;

/// A job's state at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobState {
    /// How many workers ended in each way.
    pub outcomes: Outcomes,
    /// The job status.
    pub status: String,
}

/// How one finished worker ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Succeeded.
    Succeeded,
    /// Failed, not rolled back.
    Failed,
    /// Failed, then rolled back.
    RollbackSucceeded,
    /// Failed, then failed to roll back.
    RollbackFailed,
}

impl Ending {
    /// The worker status ListWorkerResource reports for it.
    pub fn status(self) -> &'static str {
        match self {
            Ending::Succeeded => "success",
            Ending::Failed => "error",
            Ending::RollbackSucceeded => "rollback_success",
            Ending::RollbackFailed => "rollback_error",
        }
    }
}

/// How the `k`-th worker to finish (from 1) ends under `evolution`'s pattern:
/// every n-th worker fails, every n-th failure is rolled back, every n-th rollback fails.
pub fn evolved_ending(evolution: &Evolution, k: i64) -> Ending {
    let every = |n: u32, k: i64| n > 0 && k % i64::from(n) == 0;
    if !every(evolution.fail_every, k) {
        return Ending::Succeeded;
    }
    let failure = k / i64::from(evolution.fail_every);
    if !every(evolution.rollback_every, failure) {
        return Ending::Failed;
    }
    let rollback = failure / i64::from(evolution.rollback_every);
    if every(evolution.rollback_fail_every, rollback) {
        Ending::RollbackFailed
    } else {
        Ending::RollbackSucceeded
    }
}

/// The outcomes after `finished` workers under `evolution`'s pattern, counted
/// rather than walked so that a long job costs no more than a short one; they
/// are the tally of [`evolved_ending`] over workers 1 to `finished`.
fn evolve(evolution: &Evolution, finished: i64) -> Outcomes {
    let per = |n: u32, k: i64| if n == 0 { 0 } else { k / i64::from(n) };
    let finished = finished.max(0);
    let failures = per(evolution.fail_every, finished);
    let rollbacks = per(evolution.rollback_every, failures);
    let rollback_failed = per(evolution.rollback_fail_every, rollbacks);
    Outcomes {
        succeeded: finished - failures,
        failed: failures - rollbacks,
        rollback_succeeded: rollbacks - rollback_failed,
        rollback_failed,
    }
}

/// A job's times, in Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobTimes {
    /// `ScheduleTime`, when the job has one.
    pub schedule: Option<u64>,
    /// `StartTime`.
    pub start: u64,
    /// `EndTime`, once every worker finished.
    pub end: Option<u64>,
}

impl JobTimes {
    /// `GmtCreate`: a job is created no later than it is scheduled or started.
    pub fn created(&self) -> u64 {
        self.schedule.map_or(self.start, |s| s.min(self.start))
    }

    /// `GmtModified`: its end once it ended, else its start.
    pub fn modified(&self) -> u64 {
        self.end.unwrap_or(self.start)
    }
}

/// `duration` in whole milliseconds; spec durations are at most a year, far from overflow.
fn millis(duration: Duration) -> u64 {
    duration.as_millis() as u64
}

/// When `finished` workers of an evolving job have finished, in milliseconds after the start.
pub fn evolved_after_ms(evolution: &Evolution, finished: i64) -> u64 {
    let nanos = evolution.step.as_nanos() * finished.max(0) as u128;
    u64::try_from(nanos / 1_000_000).unwrap_or(u64::MAX)
}

/// The times of `job` in `state`, the simulator having started at `started_unix_ms`:
/// it started `started_ago` before; with fixed outcomes it ended `ended_ago`
/// before once all its workers finished, while an evolving job ends when its
/// last worker does.
pub fn job_times(job: &JobSpec, state: &JobState, started_unix_ms: u64) -> JobTimes {
    let total = worker_total(job);
    let end = (state.outcomes.finished() >= total).then(|| match &job.evolution {
        Some(evolution) => started_unix_ms.saturating_add(evolved_after_ms(evolution, total)),
        None => started_unix_ms.saturating_sub(job.ended_ago.map_or(0, millis)),
    });
    let schedule = match (job.scheduled_in, job.scheduled_ago) {
        (Some(within), _) => Some(started_unix_ms.saturating_add(millis(within))),
        (None, Some(ago)) => Some(started_unix_ms.saturating_sub(millis(ago))),
        (None, None) => None,
    };
    JobTimes {
        schedule,
        start: started_unix_ms.saturating_sub(millis(job.started_ago)),
        end,
    }
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
        ("CertCount", cert_count(job)),
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
    let times = job_times(job, state, started_unix_ms);
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
    let or_empty = |v: Option<u64>| v.map_or_else(|| Value::from(""), ms);
    body.insert("GmtCreate".to_owned(), ms(times.created()));
    body.insert("GmtModified".to_owned(), ms(times.modified()));
    body.insert("ScheduleTime".to_owned(), or_empty(times.schedule));
    // A job that has not started yet (still being edited, waiting or scheduled) has no start.
    let started = !["editing", "pending", "scheduling"].contains(&state.status.as_str());
    body.insert(
        "StartTime".to_owned(),
        or_empty(started.then_some(times.start)),
    );
    body.insert("EndTime".to_owned(), or_empty(times.end));
    body.insert("UserId".to_owned(), Value::from(USER_ID));
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
    fn the_pattern_counted_is_the_pattern_dealt_worker_by_worker() {
        for (fail, rollback, rollback_fail) in
            [(0, 0, 0), (1, 1, 1), (3, 2, 2), (2, 3, 0), (5, 0, 4)]
        {
            let evolution = Evolution {
                step: Duration::from_secs(1),
                fail_every: fail,
                rollback_every: rollback,
                rollback_fail_every: rollback_fail,
            };
            let mut tally = Outcomes::default();
            for k in 1..=60 {
                match evolved_ending(&evolution, k) {
                    Ending::Succeeded => tally.succeeded += 1,
                    Ending::Failed => tally.failed += 1,
                    Ending::RollbackSucceeded => tally.rollback_succeeded += 1,
                    Ending::RollbackFailed => tally.rollback_failed += 1,
                }
                assert_eq!(evolve(&evolution, k), tally, "{evolution:?} after {k}");
            }
        }
    }

    /// The simulator's start in the tests: 2024-05-01T08:00:00Z, in milliseconds.
    const START_MS: u64 = 1_714_550_400_000;
    const HOUR_MS: u64 = 3_600_000;

    fn times_of(body: &Map<String, Value>) -> [&str; 5] {
        [
            "ScheduleTime",
            "StartTime",
            "EndTime",
            "GmtCreate",
            "GmtModified",
        ]
        .map(|name| body[name].as_str().unwrap())
    }

    #[test]
    fn a_finished_job_ended_after_it_started() {
        let spec = job(
            "id: 1\nworkers: {CDN: 2}\noutcomes: {succeeded: 1, failed: 1}\nstarted_ago: 7d 2h\nended_ago: 7d\nscheduled_ago: 7d 3h\n",
        );
        let body = job_body(&spec, &job_state(&spec, Duration::ZERO), START_MS);
        let (start, end, schedule) = (
            START_MS - 170 * HOUR_MS,
            START_MS - 168 * HOUR_MS,
            START_MS - 171 * HOUR_MS,
        );
        assert_eq!(
            times_of(&body).map(str::to_owned),
            [schedule, start, end, schedule, end].map(|t| t.to_string())
        );
        // Without the keys, every time is the simulator's start.
        let plain = job("id: 2\nworkers: {CDN: 1}\noutcomes: {succeeded: 1}\n");
        let body = job_body(&plain, &job_state(&plain, Duration::ZERO), START_MS);
        let start = START_MS.to_string();
        assert_eq!(times_of(&body), ["", &start, &start, &start, &start]);
    }

    #[test]
    fn a_scheduled_job_has_neither_started_nor_ended() {
        let spec = job(
            "id: 3\nstatus: scheduling\nworkers: {SLB: 2}\nstarted_ago: 30m\nscheduled_in: 2h\n",
        );
        let state = job_state(&spec, Duration::from_secs(3600));
        assert_eq!(state.status, "scheduling");
        let body = job_body(&spec, &state, START_MS);
        let start = (START_MS - HOUR_MS / 2).to_string();
        let schedule = (START_MS + 2 * HOUR_MS).to_string();
        // Created half an hour ago (started_ago), to run in two hours: no start, no end yet.
        assert_eq!(times_of(&body), [&schedule, "", "", &start, &start]);
    }

    #[test]
    fn an_evolving_job_ends_when_its_last_worker_finishes() {
        let spec =
            job("id: 4\nworkers: {CDN: 3, OSS: 1}\nevolution: {step: 1500ms}\nstarted_ago: 1h\n");
        let start = (START_MS - HOUR_MS).to_string();
        let running = job_body(&spec, &job_state(&spec, Duration::from_secs(5)), START_MS);
        assert_eq!(times_of(&running), ["", &start, "", &start, &start]);
        let end = (START_MS + 6_000).to_string();
        let done = job_body(&spec, &job_state(&spec, Duration::from_secs(6)), START_MS);
        assert_eq!(times_of(&done), ["", &start, &end, &start, &end]);
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
