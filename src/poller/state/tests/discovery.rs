//! Whether discovery's listings work, as the snapshot says: after each listing,
//! across reloads, and on a replica that owns none of the jobs found.

use super::*;
use crate::config::Discovery;
use crate::snapshot::DiscoveryHealth;
use regex::Regex;
use std::time::UNIX_EPOCH;

/// Ends a listing of the account with `result`: the jobs listed and when, or the failure.
fn listing_ends(state: &mut State, result: Result<(Vec<DeploymentJob>, SystemTime), ApiError>) {
    state.in_flight.start(Action::ListDeploymentJob);
    let outcome = result
        .map(|(jobs, wall)| Answer::Jobs(jobs, wall))
        .map_err(Failure::Api);
    state.finish(Call::Listing, outcome, Instant::now());
}

/// A listing of jobs `ids`, made at `wall`.
fn jobs(ids: &[u64], wall: SystemTime) -> Result<(Vec<DeploymentJob>, SystemTime), ApiError> {
    let listed = ids
        .iter()
        .map(|id| listed(&id.to_string(), &format!("job-{id}"), "null"))
        .collect();
    Ok((listed, wall))
}

fn health(up: bool, last_success: Option<SystemTime>) -> Option<DiscoveryHealth> {
    Some(DiscoveryHealth { up, last_success })
}

/// The settings of `state` with discovery as `discovery` makes it.
fn with_discovery(state: &State, discovery: Option<Discovery>) -> Arc<AccountSettings> {
    let mut settings = (*state.settings).clone();
    settings.discovery = discovery;
    Arc::new(settings)
}

#[tokio::test(start_paused = true)]
async fn discovery_is_up_after_a_whole_listing_and_a_failure_keeps_the_last_success() {
    let (w1, w2) = (
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        UNIX_EPOCH + Duration::from_secs(1_700_000_060),
    );
    let mut state = discovering(&[], |_| {});
    assert_eq!(state.snapshot().discovery, health(false, None), "none yet");
    listing_ends(&mut state, Err(failure()));
    assert_eq!(state.snapshot().discovery, health(false, None));

    listing_ends(&mut state, jobs(&[1, 2], w1));
    assert_eq!(state.snapshot().discovery, health(true, Some(w1)));
    state.publish_due(Instant::now());

    listing_ends(&mut state, Err(failure()));
    let snapshot = state.snapshot();
    assert_eq!(snapshot.discovery, health(false, Some(w1)));
    assert_eq!(
        snapshot.jobs.keys().copied().collect::<Vec<_>>(),
        [1, 2],
        "the jobs of the last good listing stay"
    );
    assert!(state.publishing.pending(), "the failure is published");
    state.publish_due(Instant::now() + Duration::from_secs(1));
    listing_ends(&mut state, Err(failure()));
    assert!(
        !state.publishing.pending(),
        "another failure changes nothing to publish"
    );

    listing_ends(&mut state, jobs(&[], w2));
    let snapshot = state.snapshot();
    assert_eq!(snapshot.discovery, health(true, Some(w2)));
    assert!(snapshot.jobs.is_empty());

    assert_eq!(
        super::state(&[1], Shard::default()).snapshot().discovery,
        None,
        "an account without discovery has no discovery health"
    );
}

#[tokio::test(start_paused = true)]
async fn a_reload_keeps_discovery_health_unless_it_turns_discovery_off() {
    let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut state = discovering(&[], |_| {});
    let discovery = state.settings.discovery.clone();
    listing_ends(&mut state, jobs(&[1], wall));
    listing_ends(&mut state, Err(failure()));

    let now = Instant::now();
    let listing_due = state.next_listing;
    state.apply(with_discovery(&state, discovery.clone()), now);
    assert_eq!(state.snapshot().discovery, health(false, Some(wall)));
    assert_eq!(state.next_listing, listing_due, "the same discovery waits");

    let mut narrower = discovery.clone().unwrap();
    narrower.name_include = Some(Regex::new("^job-").unwrap());
    state.apply(with_discovery(&state, Some(narrower)), now);
    assert_eq!(
        state.snapshot().discovery,
        health(false, Some(wall)),
        "kept until the listing made at once ends"
    );
    assert_eq!(state.next_listing, Some(now));
    let later = wall + Duration::from_secs(5);
    listing_ends(&mut state, jobs(&[1], later));
    assert_eq!(state.snapshot().discovery, health(true, Some(later)));

    state.apply(with_discovery(&state, None), now);
    assert_eq!(state.snapshot().discovery, None, "turned off: no series");
    listing_ends(&mut state, jobs(&[1], later));
    assert_eq!(
        state.snapshot().discovery,
        None,
        "a listing under way as discovery was turned off counts for nothing"
    );

    state.apply(with_discovery(&state, discovery), now);
    assert_eq!(
        state.snapshot().discovery,
        health(false, None),
        "turned on again: nothing listed yet"
    );
}

#[tokio::test(start_paused = true)]
async fn a_replica_that_owns_none_of_the_jobs_found_still_says_its_listing_worked() {
    let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let owner = |index| Shard { index, count: 2 }.owns("a", 1);
    let other = if owner(0) { 1 } else { 0 };
    let mut state = discovering(&[], |_| {});
    state.shard = Shard {
        index: other,
        count: 2,
    };
    listing_ends(&mut state, jobs(&[1], wall));
    let snapshot = state.snapshot();
    assert!(snapshot.jobs.is_empty(), "job 1 is the other replica's");
    assert_eq!(snapshot.discovery, health(true, Some(wall)));
}
