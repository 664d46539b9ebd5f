use super::*;
use crate::api::model::JobCertificates;
use crate::api::{ApiError, ServiceError, test_client};
use crate::config::{
    CertificateDetail, DEFAULT_RATE_LIMIT, DEFAULT_RETRIES, DEFAULT_WORKER_DETAIL, Discovery,
};
use crate::metrics::SelfMetrics;

const MINUTE: Duration = Duration::from_secs(60);

impl State {
    /// Checks what is kept as listings change against a full recount; `State` calls it
    /// after each change in unit tests, so that a path that forgets to keep it fails them.
    pub(super) fn check_tallies(&self) {
        let recount: BTreeMap<u64, usize> = self
            .jobs
            .iter()
            .filter_map(|(id, job)| Some((*id, job.snapshot.workers.as_deref()?.workers.len())))
            .filter(|(_, held)| *held > 0)
            .collect();
        assert_eq!(self.held.by_job(), &recount, "workers held, by job");
        assert_eq!(self.held.total(), recount.values().sum::<usize>());
        // What lets the left-out warning look at the job just listed only.
        for (id, job) in &self.jobs {
            if job
                .snapshot
                .workers
                .as_ref()
                .is_some_and(|l| l.left_out > 0)
            {
                assert!(
                    self.workers.warned().contains(id),
                    "job {id} has workers left out of its listing, yet was not named"
                );
            }
        }
    }
}

fn settings(jobs: &[u64], interval: Duration) -> Arc<AccountSettings> {
    let client = test_client("http://127.0.0.1:9", Arc::new(SelfMetrics::default()));
    Arc::new(AccountSettings {
        client: Arc::new(client),
        static_jobs: jobs.to_vec(),
        discovery: None,
        rate_limit: DEFAULT_RATE_LIMIT,
        polling: Polling {
            interval,
            settled_interval: MINUTE * 10,
            stale_after: MINUTE * 5,
            job_info_interval: MINUTE * 5,
            concurrency: 4,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(2),
            finished_job_retention: None,
        },
        retries: DEFAULT_RETRIES,
        worker_detail: DEFAULT_WORKER_DETAIL,
        certificate_detail: CertificateDetail { enabled: true },
    })
}

fn state(jobs: &[u64], shard: Shard) -> State {
    State::new(
        Arc::from("a"),
        shard,
        settings(jobs, MINUTE),
        Instant::now(),
    )
}

fn counts(workers: i64) -> DeploymentJobStatus {
    DeploymentJobStatus {
        worker_count: Some(workers),
        ..Default::default()
    }
}

/// Polls `job` now, as if its call returned `result`.
fn poll(state: &mut State, job: u64, result: Result<DeploymentJobStatus, ApiError>) {
    let now = Instant::now();
    assert_eq!(state.polls.take_due(now), Some(job), "job {job} is due");
    state.in_flight.start(Action::DescribeDeploymentJobStatus);
    let outcome = result
        .map(|status| Answer::Status(job, status, SystemTime::now()))
        .map_err(Failure::Api);
    state.finish(Call::Poll(job), outcome, now);
}

fn failure() -> ApiError {
    ApiError::Service(Box::new(ServiceError {
        status: 500,
        code: "InternalError".into(),
        message: String::new(),
        request_id: None,
        retry_after: None,
        signature: None,
    }))
}

fn status(state: &mut State, job: u64, status: &str) {
    let info = DeploymentJob {
        status: Some(status.into()),
        ..Default::default()
    };
    state.set_info(job, Arc::new(info), Instant::now());
}

fn listed(id: &str, name: &str, start: &str) -> DeploymentJob {
    serde_json::from_str(&format!(
        r#"{{"Id":{id},"Name":"{name}","StartTime":{start}}}"#
    ))
    .unwrap()
}

/// A state for `jobs` that also discovers, every minute, with `change` made to its settings.
fn discovering(jobs: &[u64], change: impl FnOnce(&mut AccountSettings)) -> State {
    let mut with_discovery = (*settings(jobs, MINUTE)).clone();
    with_discovery.discovery = Some(Discovery {
        refresh_interval: MINUTE,
        job_types: vec![],
        statuses: vec![],
        name_include: None,
        name_exclude: None,
    });
    change(&mut with_discovery);
    State::new(
        Arc::from("a"),
        Shard::default(),
        Arc::new(with_discovery),
        Instant::now(),
    )
}

#[tokio::test(start_paused = true)]
async fn discovery_polls_only_valid_ids_and_leaves_out_implausible_times() {
    let mut state = discovering(&[], |_| {});
    let listing = || {
        vec![
            listed("7", "ok", r#""1714550460000""#),
            listed("0", "zero", "null"),
            listed(r#""1e3""#, "exp", "null"),
            listed("1000.0", "float", "null"),
            listed("-4", "negative", "null"),
            listed("null", "none", "null"),
            listed(r#""x\u0000y""#, "text", "null"),
            listed("8", "bad-time", r#""-5""#),
        ]
    };
    for _ in 0..2 {
        state.in_flight.start(Action::ListDeploymentJob);
        state.finish(
            Call::Listing,
            Ok(Answer::Jobs(listing(), SystemTime::now())),
            Instant::now(),
        );
        assert_eq!(
            state.jobs.keys().copied().collect::<Vec<_>>(),
            [7, 8],
            "0, 1e3 (as 1000), 1000.0, -4, a missing and a text ID are not polled"
        );
    }
    assert_eq!(
        state.reported_invalid_ids.len(),
        6,
        "each reason is kept once, whatever the number of listings: {:?}",
        state.reported_invalid_ids
    );
    assert!(
        state
            .reported_invalid_ids
            .iter()
            .any(|r| r.starts_with("job ID \"1e3\" is not an integer"))
    );
    assert_eq!(state.discovered[&7].start_time, Some(1_714_550_460.0));
    assert_eq!(
        state.discovered[&8].start_time, None,
        "a time before 1970 is left out"
    );
}

#[tokio::test(start_paused = true)]
async fn a_shard_with_no_jobs_is_ready_at_once() {
    let owner = |index| Shard { index, count: 2 }.owns("a", 1);
    let other = if owner(0) { 1 } else { 0 };
    let state = state(
        &[1],
        Shard {
            index: other,
            count: 2,
        },
    );
    assert!(state.jobs.is_empty());
    assert!(state.snapshot().first_sweep_done);
    assert!(
        state.publishing.pending(),
        "readiness is published, even with nothing else to show"
    );
}

#[tokio::test(start_paused = true)]
async fn finished_jobs_settle_and_failures_unsettle_them() {
    let mut state = state(&[1], Shard::default());
    let t0 = Instant::now();
    poll(&mut state, 1, Ok(counts(3)));
    assert!(state.readiness.done());
    status(&mut state, 1, "success");
    tokio::time::advance(MINUTE).await;
    poll(&mut state, 1, Ok(counts(3)));
    let job = &state.jobs[&1];
    assert!(job.settled, "final status, counts unchanged");
    assert_eq!(state.polls.next_due(), Some(t0 + MINUTE + MINUTE * 10));
    assert_eq!(
        job.snapshot.stale_at,
        Some(t0 + MINUTE + MINUTE * 5 + MINUTE * 9),
        "fresh across the longer wait"
    );

    tokio::time::advance(MINUTE * 10).await;
    poll(&mut state, 1, Err(failure()));
    let job = &state.jobs[&1];
    assert!(!job.settled && !job.snapshot.up);
    assert_eq!(
        job.snapshot.stale_at,
        Some(t0 + MINUTE * 15),
        "kept from the last success"
    );
    assert_eq!(
        state.polls.next_due(),
        Some(t0 + MINUTE * 12),
        "back to the normal pace"
    );
    let now = Instant::now();
    assert!(
        job.snapshot.fresh_values(now).is_some(),
        "values still within the settled window"
    );

    // Unchanged again: settled again. Then a status that leaves success brings it back at once.
    tokio::time::advance(MINUTE).await;
    poll(&mut state, 1, Ok(counts(3)));
    assert!(state.jobs[&1].settled);
    status(&mut state, 1, "processing");
    assert!(!state.jobs[&1].settled);
    assert_eq!(state.polls.next_due(), Some(Instant::now()));
}

#[tokio::test(start_paused = true)]
async fn reload_applies_intervals_and_jobs_at_once() {
    let mut state = state(&[1, 2], Shard::default());
    let t0 = Instant::now();
    state.apply(settings(&[1, 2], MINUTE * 60), t0);
    poll(&mut state, 1, Ok(counts(1)));
    poll(&mut state, 2, Ok(counts(1)));
    assert!(state.polls.next_due().unwrap() >= t0 + MINUTE * 30);
    tokio::time::advance(Duration::from_secs(5)).await;
    state.apply(settings(&[2, 3], MINUTE), Instant::now());
    assert!(!state.jobs.contains_key(&1), "a removed job is gone");
    assert_eq!(
        state.polls.take_due(Instant::now()),
        Some(3),
        "an added job is due at once"
    );
    assert!(
        state.polls.next_due().unwrap() <= t0 + MINUTE,
        "job 2 waits at most the new interval"
    );
    assert_eq!(
        state.jobs[&2].snapshot.values.as_deref(),
        Some(&counts(1)),
        "job 2 keeps its values"
    );
}

#[tokio::test(start_paused = true)]
async fn sweep_duration_covers_a_pass_over_active_jobs() {
    let mut state = state(&[1, 2, 3], Shard::default());
    let t0 = Instant::now();
    state.start_round(1, t0);
    state.start_round(2, t0);
    poll(&mut state, 1, Ok(counts(1)));
    tokio::time::advance(Duration::from_secs(3)).await;
    poll(&mut state, 2, Ok(counts(1)));
    assert_eq!(state.sweep.duration(), None, "job 3 is still to come");
    tokio::time::advance(Duration::from_secs(2)).await;
    poll(&mut state, 3, Ok(counts(1)));
    assert_eq!(state.sweep.duration(), Some(Duration::from_secs(5)));
    assert!(!state.sweep.under_way());
    // Settled jobs start no round of their own.
    state.jobs.values_mut().for_each(|j| j.settled = true);
    state.start_round(1, Instant::now());
    assert!(!state.sweep.under_way());
}

#[tokio::test(start_paused = true)]
async fn calls_start_as_far_as_their_limits_allow() {
    let mut state = state(&[1, 2, 3, 4, 5], Shard::default());
    let now = Instant::now();
    let mut started = Vec::new();
    state.start_due(now, |call| started.push(call));
    assert_eq!(
        started,
        [
            Call::Poll(1),
            Call::Poll(2),
            Call::Poll(3),
            Call::Poll(4),
            Call::Describe(1),
            Call::Describe(2),
            Call::Certificates(1),
            Call::Certificates(2),
        ]
    );
    state.finish(
        Call::Poll(1),
        Ok(Answer::Status(1, counts(1), SystemTime::now())),
        now,
    );
    state.finish(
        Call::Describe(1),
        Ok(Answer::Job(1, DeploymentJob::default())),
        now,
    );
    state.finish(
        Call::Certificates(2),
        Ok(Answer::Certificates(2, JobCertificates::default())),
        now,
    );
    started.clear();
    state.start_due(now, |call| started.push(call));
    assert_eq!(
        started,
        [Call::Poll(5), Call::Describe(3), Call::Certificates(3)],
        "each ended call frees its slot"
    );
}

#[tokio::test(start_paused = true)]
async fn a_result_held_back_by_the_publish_pace_goes_out_without_another_event() {
    let mut state = state(&[1], Shard::default());
    let first = Instant::now();
    assert!(state.publish_due(first).is_some(), "the first at once");
    tokio::time::advance(Duration::from_millis(50)).await;
    let mut started = Vec::new();
    state.start_due(Instant::now(), |call| started.push(call));
    assert_eq!(
        started,
        [Call::Poll(1), Call::Describe(1), Call::Certificates(1)]
    );
    for call in [Call::Describe(1), Call::Certificates(1)] {
        state.finish(call, Err(Failure::Abandoned), Instant::now());
    }
    let answer = Answer::Status(1, counts(3), SystemTime::now());
    state.finish(Call::Poll(1), Ok(answer), Instant::now());
    // Nothing under way, nothing else due for a minute: only the publish wakes the loop.
    let now = Instant::now();
    assert!(state.publish_due(now).is_none(), "50 ms after the last");
    let wake = state.next_wakeup(now);
    assert_eq!(wake, Some(first + Duration::from_millis(200)));
    let published = state.publish_due(wake.unwrap()).expect("due when it wakes");
    assert_eq!(published.jobs[&1].values.as_deref(), Some(&counts(3)));
    assert!(published.first_sweep_done);
    assert!(state.publish_due(wake.unwrap()).is_none());
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_call_ends_as_its_failure_would() {
    let mut state = state(&[1], Shard::default());
    poll(&mut state, 1, Ok(counts(1)));
    tokio::time::advance(MINUTE).await;
    let now = Instant::now();
    let mut started = Vec::new();
    state.start_due(now, |call| started.push(call));
    assert_eq!(
        started,
        [Call::Poll(1), Call::Describe(1), Call::Certificates(1)]
    );

    state.finish(Call::Poll(1), Err(Failure::Abandoned), now);
    let job = &state.jobs[&1];
    assert!(!job.snapshot.up, "down, as after a failed poll");
    assert_eq!(
        job.snapshot.values.as_deref(),
        Some(&counts(1)),
        "values kept"
    );
    assert_eq!(state.polls.next_due(), Some(now + MINUTE));

    state.finish(Call::Describe(1), Err(Failure::Abandoned), now);
    assert_eq!(state.jobs[&1].snapshot.info, None);
    assert!(
        state.describes.next_due().is_some_and(|due| due > now),
        "rescheduled, not lost"
    );
    state.finish(Call::Certificates(1), Err(Failure::Abandoned), now);
    assert_eq!(state.jobs[&1].snapshot.certificates, None);
    assert!(state.certificates.next_due().is_some_and(|due| due > now));
    started.clear();
    state.start_due(now, |call| started.push(call));
    assert!(started.is_empty(), "{started:?}");
}

mod detail;
mod discovery;
