//! Failed workers, certificates and retirement, as the state takes them in.

use super::*;
use crate::api::model::{JobCertificates, WorkerResource};
use crate::poller::workers::WorkerPlan;
use crate::snapshot::WorkerListing;
use std::time::UNIX_EPOCH;

fn failing(failed: i64, rolled_back: i64) -> DeploymentJobStatus {
    DeploymentJobStatus {
        worker_count: Some(20),
        failed_count: Some(failed),
        rollback_count: Some(rolled_back),
        rollback_success_count: Some(rolled_back),
        rollback_failed_count: Some(0),
        ..Default::default()
    }
}

/// The calls `start_due` starts now that list workers.
fn worker_calls(state: &mut State) -> Vec<Call> {
    let mut started = Vec::new();
    state.start_due(Instant::now(), |call| started.push(call));
    started.retain(|call| matches!(call, Call::Workers(..)));
    started
}

fn listing(ids: &[i64]) -> WorkerListing {
    WorkerListing {
        workers: ids
            .iter()
            .map(|id| WorkerResource {
                id: Some(*id),
                status: Some("error".into()),
                ..Default::default()
            })
            .collect(),
        left_out: 0,
        listed_at: UNIX_EPOCH,
    }
}

/// Ends worker listing `call` with the failed workers `ids`.
fn end_listing(state: &mut State, call: Call, ids: &[i64]) {
    let Call::Workers(job_id, _, ticket) = call else {
        panic!("not a worker listing: {call:?}");
    };
    let answer = Answer::Workers(job_id, listing(ids), ticket);
    state.finish(call, Ok(answer), Instant::now());
}

fn listed_ids(state: &State, job: u64) -> Option<Vec<i64>> {
    let listing = state.jobs[&job].snapshot.workers.as_deref()?;
    Some(listing.workers.iter().filter_map(|w| w.id).collect())
}

#[tokio::test(start_paused = true)]
async fn workers_are_listed_once_per_change_and_a_failure_keeps_the_last_listing() {
    let mut state = state(&[1], Shard::default());
    poll(&mut state, 1, Ok(failing(3, 2)));
    let calls = worker_calls(&mut state);
    assert!(matches!(calls[..], [Call::Workers(1, _, _)]), "{calls:?}");
    end_listing(&mut state, calls[0], &[11, 12]);
    assert_eq!(listed_ids(&state, 1), Some(vec![11, 12]));

    for _ in 0..3 {
        tokio::time::advance(MINUTE).await;
        poll(&mut state, 1, Ok(failing(3, 2)));
        assert_eq!(worker_calls(&mut state), [], "unchanged counts: no call");
    }

    tokio::time::advance(MINUTE).await;
    poll(&mut state, 1, Ok(failing(4, 2)));
    let calls = worker_calls(&mut state);
    assert_eq!(calls.len(), 1);
    state.finish(calls[0], Err(Failure::Api(failure())), Instant::now());
    assert_eq!(
        listed_ids(&state, 1),
        Some(vec![11, 12]),
        "the last listing stays"
    );
    assert_eq!(worker_calls(&mut state), [], "not tried again at once");

    tokio::time::advance(MINUTE).await;
    poll(&mut state, 1, Ok(failing(4, 2)));
    let calls = worker_calls(&mut state);
    assert_eq!(calls.len(), 1, "tried again with the next poll");
    end_listing(&mut state, calls[0], &[11, 12, 13]);
    assert_eq!(listed_ids(&state, 1), Some(vec![11, 12, 13]));

    // No failed worker any more: no listing, and no call.
    tokio::time::advance(MINUTE).await;
    poll(&mut state, 1, Ok(failing(0, 0)));
    assert_eq!(worker_calls(&mut state), []);
    assert_eq!(listed_ids(&state, 1), None);
}

#[tokio::test(start_paused = true)]
async fn disabled_worker_detail_makes_no_call_and_enabling_it_lists_at_once() {
    let mut off = (*settings(&[1], MINUTE)).clone();
    off.worker_detail.enabled = false;
    let mut state = State::new(
        Arc::from("a"),
        Shard::default(),
        Arc::new(off),
        Instant::now(),
    );
    poll(&mut state, 1, Ok(failing(3, 0)));
    assert_eq!(worker_calls(&mut state), []);
    assert_eq!(listed_ids(&state, 1), None);
    state.apply(settings(&[1], MINUTE), Instant::now());
    assert_eq!(worker_calls(&mut state).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_status_change_lists_the_certificates_again_at_once() {
    let mut state = state(&[1], Shard::default());
    let now = Instant::now();
    assert_eq!(
        state.certificates.take_due(now),
        Some(1),
        "due when first seen"
    );
    state.in_flight.start(Action::ListDeploymentJobCert);
    let listed: JobCertificates =
        serde_json::from_str(r#"{"Data":[{"CertId":5,"NotAfterTime":1746057599}]}"#).unwrap();
    state.finish(
        Call::Certificates(1),
        Ok(Answer::Certificates(1, listed)),
        now,
    );
    let certs = state.jobs[&1].snapshot.certificates.clone().unwrap();
    assert_eq!(certs[0].cert_id, Some(5));
    assert!(state.certificates.next_due().is_some_and(|due| due > now));
    status(&mut state, 1, "processing");
    assert!(
        state.certificates.next_due().is_some_and(|due| due > now),
        "the first status known is no change"
    );
    status(&mut state, 1, "error");
    assert_eq!(state.certificates.next_due(), Some(now));
}

#[tokio::test(start_paused = true)]
async fn finished_discovered_jobs_retire_and_listed_ones_stay() {
    let day = Duration::from_secs(86_400);
    let wall = UNIX_EPOCH + day * 100;
    let mut state = discovering(&[9], |s| {
        s.polling.finished_job_retention = Some(day * 7);
    });
    let job = |id: u64, status: &str, ended_days_ago: u32| -> DeploymentJob {
        let end = (day * (100 - ended_days_ago)).as_secs();
        serde_json::from_str(&format!(
            r#"{{"Id":{id},"Status":"{status}","EndTime":"{end}"}}"#
        ))
        .unwrap()
    };
    let listing = |recent: &str| {
        vec![
            job(7, "error", 10),
            job(8, recent, 1),
            job(9, "success", 30),
        ]
    };
    state.in_flight.start(Action::ListDeploymentJob);
    state.finish(
        Call::Listing,
        Ok(Answer::Jobs(listing("error"), wall)),
        Instant::now(),
    );
    assert_eq!(
        state.jobs.keys().copied().collect::<Vec<_>>(),
        [8, 9],
        "7 ended 10 days ago: retired without a poll; 9 is listed in the configuration"
    );
    assert_eq!(state.snapshot().retired_jobs, 1);

    // 8 retires once settled past the retention; 9 never does.
    let poll_at = |state: &mut State, id: u64, wall: SystemTime| {
        let now = Instant::now();
        if state.polls.take_due(now) != Some(id) {
            return;
        }
        state.in_flight.start(Action::DescribeDeploymentJobStatus);
        state.finish(Call::Poll(id), Ok(Answer::Status(id, counts(3), wall)), now);
    };
    let later = wall + day * 7;
    for _ in 0..30 {
        tokio::time::advance(MINUTE).await;
        poll_at(&mut state, 8, later);
        poll_at(&mut state, 9, later);
    }
    assert_eq!(state.jobs.keys().copied().collect::<Vec<_>>(), [9]);
    assert_eq!(state.snapshot().retired_jobs, 2);

    // A retired job that runs again comes back; one no longer listed is forgotten.
    state.in_flight.start(Action::ListDeploymentJob);
    let relisted = vec![job(8, "processing", 9), job(9, "success", 30)];
    state.finish(
        Call::Listing,
        Ok(Answer::Jobs(relisted, later)),
        Instant::now(),
    );
    assert_eq!(state.jobs.keys().copied().collect::<Vec<_>>(), [8, 9]);
    assert_eq!(state.snapshot().retired_jobs, 0);

    // A reload that keeps finished jobs lists again at once, and 7 comes back.
    let mut keep = (*state.settings).clone();
    keep.polling.finished_job_retention = None;
    let now = Instant::now();
    state.apply(Arc::new(keep), now);
    assert_eq!(state.next_listing, Some(now));
    state.in_flight.start(Action::ListDeploymentJob);
    state.finish(
        Call::Listing,
        Ok(Answer::Jobs(listing("error"), later)),
        now,
    );
    assert_eq!(state.jobs.keys().copied().collect::<Vec<_>>(), [7, 8, 9]);
}

#[tokio::test(start_paused = true)]
async fn certificates_turned_off_are_neither_listed_nor_served() {
    let mut state = state(&[1], Shard::default());
    let now = Instant::now();
    assert_eq!(state.certificates.take_due(now), Some(1));
    state.in_flight.start(Action::ListDeploymentJobCert);
    let listed: JobCertificates = serde_json::from_str(r#"{"Data":[{"CertId":5}]}"#).unwrap();
    state.finish(
        Call::Certificates(1),
        Ok(Answer::Certificates(1, listed)),
        now,
    );
    assert!(state.jobs[&1].snapshot.certificates.is_some());

    let mut off = (*state.settings).clone();
    off.certificate_detail.enabled = false;
    state.apply(Arc::new(off), now);
    assert_eq!(state.jobs[&1].snapshot.certificates, None, "gone at once");
    tokio::time::advance(MINUTE * 10).await;
    let mut started = Vec::new();
    state.start_due(Instant::now(), |call| started.push(call));
    assert!(
        !started.iter().any(|c| matches!(c, Call::Certificates(_))),
        "{started:?}"
    );
    state.apply(settings(&[1], MINUTE), Instant::now());
    started.clear();
    state.start_due(Instant::now(), |call| started.push(call));
    assert!(
        started.contains(&Call::Certificates(1)),
        "listed again at once when back on"
    );
}

#[tokio::test(start_paused = true)]
async fn a_new_cap_applies_even_to_a_listing_under_way() {
    let mut low = (*settings(&[1], MINUTE)).clone();
    low.worker_detail.max_per_job = 2;
    let mut state = State::new(
        Arc::from("a"),
        Shard::default(),
        Arc::new(low.clone()),
        Instant::now(),
    );
    poll(&mut state, 1, Ok(failing(5, 0)));
    let calls = worker_calls(&mut state);
    let mut high = low;
    high.worker_detail.max_per_job = 50;
    state.apply(Arc::new(high), Instant::now());
    end_listing(&mut state, calls[0], &[11, 12]);
    let again = worker_calls(&mut state);
    assert!(
        matches!(again[..], [Call::Workers(1, plan, _)] if plan == WorkerPlan::for_counts(&failing(5, 0), 50).unwrap()),
        "listed again with the new cap at once: {again:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_account_budget_bounds_what_is_listed_not_only_what_is_served() {
    let mut small = (*settings(&[1, 2, 3], MINUTE)).clone();
    small.worker_detail.max_per_account = 3;
    let mut state = State::new(
        Arc::from("a"),
        Shard::default(),
        Arc::new(small),
        Instant::now(),
    );
    for id in [1, 2, 3] {
        poll(&mut state, id, Ok(failing(5, 0)));
    }
    let calls = worker_calls(&mut state);
    assert_eq!(calls.len(), 2, "two listings at once: {calls:?}");
    end_listing(&mut state, calls[0], &[11, 12]);
    end_listing(&mut state, calls[1], &[21]);
    // Three workers held: job 3 gets no call, its five failed workers all count as unlisted.
    assert_eq!(worker_calls(&mut state), []);
    let listing = state.jobs[&3].snapshot.workers.clone().unwrap();
    assert_eq!((listing.workers.len(), listing.left_out), (0, 5));
}

#[tokio::test(start_paused = true)]
async fn a_refused_detail_action_pauses_for_the_account_until_an_hour_or_a_reload() {
    let mut state = state(&[1, 2], Shard::default());
    let now = Instant::now();
    let forbidden = ApiError::Service(Box::new(ServiceError {
        status: 403,
        code: "Forbidden.RAM".into(),
        message: String::new(),
        request_id: None,
        retry_after: None,
        signature: None,
    }));
    let certificate_calls = |state: &mut State| {
        let mut started = Vec::new();
        state.start_due(Instant::now(), |call| started.push(call));
        started.retain(|c| matches!(c, Call::Certificates(_)));
        started
    };
    assert_eq!(
        certificate_calls(&mut state),
        [Call::Certificates(1), Call::Certificates(2)]
    );
    state.finish(Call::Certificates(1), Err(Failure::Api(forbidden)), now);
    state.finish(Call::Certificates(2), Err(Failure::Api(failure())), now);
    assert_eq!(state.snapshot().refused, [Action::ListDeploymentJobCert]);
    tokio::time::advance(MINUTE * 30).await;
    assert_eq!(certificate_calls(&mut state), [], "paused for the account");
    tokio::time::advance(MINUTE * 31).await;
    assert_eq!(
        certificate_calls(&mut state).len(),
        2,
        "tried again after an hour"
    );
    let mut again = state;
    again
        .denials
        .deny(Action::ListDeploymentJobCert, Instant::now());
    again.apply(settings(&[1, 2], MINUTE), Instant::now());
    assert!(
        again
            .denials
            .allows(Action::ListDeploymentJobCert, Instant::now()),
        "a reload clears it"
    );
}

/// Takes in a poll of `job` answering `counts`, whether or not the schedule has it due.
fn answer_poll(state: &mut State, job: u64, counts: DeploymentJobStatus) {
    state.in_flight.start(Action::DescribeDeploymentJobStatus);
    let answer = Answer::Status(job, counts, SystemTime::now());
    state.finish(Call::Poll(job), Ok(answer), Instant::now());
}

#[tokio::test(start_paused = true)]
async fn a_job_the_budget_held_back_is_listed_once_the_budget_frees() {
    let mut small = (*settings(&[1, 2], MINUTE)).clone();
    small.worker_detail.max_per_account = 2;
    let mut state = State::new(
        Arc::from("a"),
        Shard::default(),
        Arc::new(small),
        Instant::now(),
    );
    answer_poll(&mut state, 1, failing(2, 0));
    answer_poll(&mut state, 2, failing(0, 0));
    let calls = worker_calls(&mut state);
    end_listing(&mut state, calls[0], &[11, 12]);
    // Job 2 fails once job 1 holds the whole budget: no call, all three unlisted.
    answer_poll(&mut state, 2, failing(3, 0));
    assert_eq!(worker_calls(&mut state), [], "no room left: no call");
    let held_back = state.jobs[&2].snapshot.workers.clone().unwrap();
    assert_eq!((held_back.workers.len(), held_back.left_out), (0, 3));
    // Job 1's failures are resolved: its two series go, and job 2 is listed.
    answer_poll(&mut state, 1, failing(0, 0));
    let calls = worker_calls(&mut state);
    assert!(matches!(calls[..], [Call::Workers(2, _, _)]), "{calls:?}");
}

/// The jobs named in the log for workers left out.
fn named(state: &State) -> Vec<u64> {
    state.workers.warned().iter().copied().collect()
}

/// The jobs with workers left out, added up over every listing as the metrics do.
fn short_over_all_jobs(state: &State) -> Vec<u64> {
    let listings = state
        .jobs
        .iter()
        .filter_map(|(id, job)| Some((*id, job.snapshot.workers.as_deref()?)));
    let budget = state.settings.worker_detail.max_per_account;
    crate::snapshot::share_workers(listings, budget)
        .filter(|(_, listing, shown)| listing.left_out > 0 || listing.workers.len() > *shown)
        .map(|(id, _, _)| id)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn what_listings_hold_follows_every_change_and_jobs_past_the_budget_are_named_once() {
    let with = |jobs: &[u64], max_per_account: usize, enabled: bool| {
        let mut changed = (*settings(jobs, MINUTE)).clone();
        changed.worker_detail.max_per_account = max_per_account;
        changed.worker_detail.enabled = enabled;
        Arc::new(changed)
    };
    let mut state = State::new(
        Arc::from("a"),
        Shard::default(),
        with(&[1, 2, 3], 4, true),
        Instant::now(),
    );
    for id in [1, 2] {
        answer_poll(&mut state, id, failing(3, 0));
    }
    let calls = worker_calls(&mut state);
    assert_eq!(calls.len(), 2, "{calls:?}");
    end_listing(&mut state, calls[1], &[21, 22]);
    assert_eq!((state.held.total(), named(&state)), (2, vec![]));
    // Both listings started with the whole budget: five held, and one of job 2's is
    // past it (the budget goes by job ID), though job 1 was listed last.
    end_listing(&mut state, calls[0], &[11, 12, 13]);
    assert_eq!((state.held.total(), named(&state)), (5, vec![2]));
    assert_eq!(short_over_all_jobs(&state), [2]);

    // A reload drops job 1: its three go, and job 2, held back, is listed again.
    state.apply(with(&[2, 3], 4, true), Instant::now());
    assert_eq!(state.held.total(), 2);
    answer_poll(&mut state, 3, failing(2, 0));
    let calls = worker_calls(&mut state);
    assert!(
        matches!(calls[..], [Call::Workers(2, ..), Call::Workers(3, ..)]),
        "{calls:?}"
    );
    end_listing(&mut state, calls[0], &[21, 22]);
    end_listing(&mut state, calls[1], &[31]);
    assert_eq!((state.held.total(), named(&state)), (3, vec![2]));
    assert!(short_over_all_jobs(&state).is_empty(), "all three fit");

    // A smaller budget names no one until a listing comes, then every job past it.
    state.apply(with(&[2, 3], 2, true), Instant::now());
    assert_eq!(named(&state), [2], "nothing listed yet");
    assert_eq!(short_over_all_jobs(&state), [3]);
    let calls = worker_calls(&mut state);
    assert!(matches!(calls[..], [Call::Workers(2, ..)]), "{calls:?}");
    let held_back = state.jobs[&3].snapshot.workers.clone().unwrap();
    assert_eq!(
        (held_back.workers.len(), held_back.left_out),
        (0, 2),
        "no room left for job 3: no call, both unlisted"
    );
    assert_eq!((state.held.total(), named(&state)), (2, vec![2, 3]));
    end_listing(&mut state, calls[0], &[21]);
    assert_eq!(short_over_all_jobs(&state), [3]);
    assert_eq!(
        (state.held.total(), named(&state)),
        (1, vec![2, 3]),
        "each named once"
    );

    // Job 2's failures are resolved: its listing goes, and its name with it.
    answer_poll(&mut state, 2, failing(0, 0));
    assert_eq!((state.held.total(), named(&state)), (0, vec![3]));

    // Turned off, the listings go at once; back on, nothing is held until listed.
    answer_poll(&mut state, 2, failing(1, 0));
    let calls = worker_calls(&mut state);
    end_listing(&mut state, calls[0], &[21]);
    assert_eq!(state.held.total(), 1);
    state.apply(with(&[2, 3], 2, false), Instant::now());
    assert_eq!((state.held.total(), named(&state)), (0, vec![]));
    state.apply(with(&[2, 3], 2, true), Instant::now());
    assert_eq!(state.held.total(), 0);
}
