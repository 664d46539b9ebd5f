//! Polls one account's jobs in the background: each job at its own phase of
//! the interval (settled jobs less often), every call paced by the account's
//! rate limiter and retried when worth it; discovery and job details on their
//! own cadence. Results are published as an immutable snapshot; scrapes never
//! wait for any of it.

mod caller;
mod discovery;
mod log;
mod rate_limit;
mod retry;
mod schedule;

use caller::Caller;
use log::{log_failure, warn_implausible};
use rate_limit::RateLimiter;
use schedule::Schedule;

use crate::api::model::{DeploymentJob, DeploymentJobStatus, MAX_PRODUCTS_PER_JOB};
use crate::api::{Action, ApiError, Client};
use crate::config::{Discovery, Polling, RateLimit, RetryPolicy};
use crate::metrics::SelfMetrics;
use crate::shard::Shard;
use crate::snapshot::{AccountSnapshot, JobSnapshot, JobSource, SnapshotStore};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Results are published at most this often while polls keep completing.
const PUBLISH_EVERY: Duration = Duration::from_millis(200);
/// Job-detail calls in flight at once (they have their own, lower rate).
const DESCRIBES_IN_FLIGHT: usize = 2;
/// A failed listing is tried again after at most this long.
const LISTING_RETRY: Duration = Duration::from_secs(30);
/// Distinct invalid job IDs from discovery that are logged; past this many, no more are
/// (the count of skipped entries still is), so a broken listing cannot fill memory or the log.
const MAX_REPORTED_INVALID_IDS: usize = 100;
/// Statuses after which a job no longer changes on its own.
const FINAL_STATUSES: [&str; 2] = ["success", "error"];

/// What an account's poller works with; replaced whole on reload.
#[derive(Clone)]
pub struct AccountSettings {
    /// The account's API client.
    pub client: Arc<Client>,
    /// Jobs listed by ID.
    pub static_jobs: Vec<u64>,
    /// Discovery, when configured.
    pub discovery: Option<Discovery>,
    /// This replica's share of the account's rate limit.
    pub rate_limit: RateLimit,
    /// Intervals, timeouts and concurrency.
    pub polling: Polling,
    /// How failed calls are retried.
    pub retries: RetryPolicy,
}

/// What a finished background call reports.
enum Done {
    Poll {
        job_id: u64,
        result: Result<DeploymentJobStatus, ApiError>,
        wall: SystemTime,
    },
    Describe {
        job_id: u64,
        result: Result<DeploymentJob, ApiError>,
    },
    Listing(Result<Vec<DeploymentJob>, ApiError>),
}

/// Which call a task makes, to account for it if it panics.
#[derive(Clone, Copy)]
enum Task {
    Poll(u64),
    Describe(u64),
    Listing,
}

/// The background poller of one account.
pub struct AccountPoller {
    account: Arc<str>,
    settings: watch::Receiver<Arc<AccountSettings>>,
    store: Arc<SnapshotStore>,
    metrics: SelfMetrics,
    shard: Shard,
}

impl AccountPoller {
    /// A poller for `account`; publishes its jobs as down at once, so scrapes see them before the first poll.
    pub fn new(
        account: &str,
        settings: watch::Receiver<Arc<AccountSettings>>,
        store: Arc<SnapshotStore>,
        metrics: SelfMetrics,
        shard: Shard,
    ) -> Self {
        let poller = Self {
            account: Arc::from(account),
            settings,
            store,
            metrics,
            shard,
        };
        let initial = State::new(
            Arc::clone(&poller.account),
            poller.shard,
            Arc::clone(&poller.settings.borrow()),
            Instant::now(),
        );
        poller.store.publish(&poller.account, initial.snapshot());
        poller
    }

    /// Polls until `shutdown`; follows new settings as they are sent.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let now = Instant::now();
        let mut settings = Arc::clone(&self.settings.borrow_and_update());
        let mut state = State::new(
            Arc::clone(&self.account),
            self.shard,
            Arc::clone(&settings),
            now,
        );
        let limiter = Arc::new(RateLimiter::new(&settings.rate_limit));
        let mut caller = Caller::new(
            Arc::clone(&self.account),
            Arc::clone(&settings.client),
            Arc::clone(&limiter),
            settings.retries,
            self.metrics.clone(),
        );
        let mut tasks: JoinSet<Done> = JoinSet::new();
        let mut kinds: HashMap<tokio::task::Id, Task> = HashMap::new();
        loop {
            let now = Instant::now();
            state.start_due(now, &caller, &mut tasks, &mut kinds);
            if state.dirty
                && (tasks.is_empty() || state.last_publish.is_none_or(|t| now >= t + PUBLISH_EVERY))
            {
                self.store.publish(&self.account, state.snapshot());
                state.dirty = false;
                state.last_publish = Some(now);
            }
            let wake = state.next_wakeup(now);
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = self.settings.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    settings = Arc::clone(&self.settings.borrow_and_update());
                    limiter.set_rates(&settings.rate_limit);
                    caller.follow(Arc::clone(&settings.client), settings.retries);
                    state.apply(Arc::clone(&settings), Instant::now());
                }
                Some(joined) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    let now = Instant::now();
                    match joined {
                        Ok((id, done)) => {
                            kinds.remove(&id);
                            state.finish(done, now);
                        }
                        Err(error) => {
                            let task = kinds.remove(&error.id());
                            tracing::error!(account = &*self.account, %error, "a background call ended abnormally; it counts as failed");
                            state.abandon(task, now);
                        }
                    }
                }
                () = sleep_until(wake) => {}
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// One job as its account's poller tracks it.
#[derive(Debug, Default)]
struct JobState {
    /// Shared with the published snapshot until it changes, so that publishing copies no job.
    snapshot: Arc<JobSnapshot>,
    last_success_at: Option<Instant>,
    settled: bool,
}

impl JobState {
    /// The snapshot to change; copied first only if a published snapshot still shares it.
    fn snapshot_mut(&mut self) -> &mut JobSnapshot {
        Arc::make_mut(&mut self.snapshot)
    }
}

/// Everything one account's poller knows; all of it is changed by the poller's own task only.
struct State {
    account: Arc<str>,
    shard: Shard,
    settings: Arc<AccountSettings>,
    jobs: BTreeMap<u64, JobState>,
    discovered: BTreeMap<u64, Arc<DeploymentJob>>,
    polls: Schedule,
    describes: Schedule,
    next_listing: Option<Instant>,
    listing_in_flight: bool,
    listed_once: bool,
    polls_in_flight: usize,
    describes_in_flight: usize,
    awaiting_first: BTreeSet<u64>,
    first_sweep_done: bool,
    round_started: Option<Instant>,
    round_remaining: BTreeSet<u64>,
    sweep_duration: Option<Duration>,
    dirty: bool,
    last_publish: Option<Instant>,
    /// Why listed entries were skipped, each logged once (see [`MAX_REPORTED_INVALID_IDS`]).
    reported_invalid_ids: BTreeSet<String>,
}

impl State {
    fn new(account: Arc<str>, shard: Shard, settings: Arc<AccountSettings>, now: Instant) -> Self {
        let mut state = Self {
            account,
            shard,
            polls: Schedule::new(settings.polling.interval, now),
            describes: Schedule::new(settings.polling.job_info_interval, now),
            next_listing: settings.discovery.as_ref().map(|_| now),
            settings,
            jobs: BTreeMap::new(),
            discovered: BTreeMap::new(),
            listing_in_flight: false,
            listed_once: false,
            polls_in_flight: 0,
            describes_in_flight: 0,
            awaiting_first: BTreeSet::new(),
            first_sweep_done: false,
            round_started: None,
            round_remaining: BTreeSet::new(),
            sweep_duration: None,
            dirty: true,
            last_publish: None,
            reported_invalid_ids: BTreeSet::new(),
        };
        state.sync_jobs(now);
        state
    }

    /// Makes the polled set (static ∪ discovered, within this shard) current.
    fn sync_jobs(&mut self, now: Instant) {
        let statics: BTreeSet<u64> = self
            .settings
            .static_jobs
            .iter()
            .copied()
            .filter(|id| self.shard.owns(&self.account, *id))
            .collect();
        let wanted: BTreeSet<u64> = statics
            .iter()
            .copied()
            .chain(
                self.discovered
                    .keys()
                    .copied()
                    .filter(|id| self.shard.owns(&self.account, *id)),
            )
            .collect();
        self.jobs.retain(|id, _| wanted.contains(id));
        self.awaiting_first.retain(|id| wanted.contains(id));
        self.round_remaining.retain(|id| wanted.contains(id));
        for &id in &wanted {
            let job = self.jobs.entry(id).or_insert_with(|| {
                if !self.first_sweep_done {
                    self.awaiting_first.insert(id);
                }
                JobState::default()
            });
            let source = if statics.contains(&id) {
                JobSource::Static
            } else {
                JobSource::Discovered
            };
            if job.snapshot.source != source {
                job.snapshot_mut().source = source;
            }
        }
        self.polls.set_jobs(&wanted, now);
        self.describes.set_jobs(&statics, now);
        // Discovered jobs take their details from the listing; listed ones from DescribeDeploymentJob.
        let listed: Vec<(u64, Arc<DeploymentJob>)> = wanted
            .iter()
            .filter(|id| !statics.contains(id))
            .filter_map(|id| Some((*id, Arc::clone(self.discovered.get(id)?))))
            .collect();
        for (id, info) in listed {
            self.set_info(id, info, now);
        }
        self.check_round(now);
        self.check_first_sweep();
        self.dirty = true;
    }

    /// Takes new settings: intervals apply at once (a job waiting longer than the
    /// new interval allows is brought forward), changed discovery lists again now.
    fn apply(&mut self, settings: Arc<AccountSettings>, now: Instant) {
        let (old, new) = (&self.settings.polling, &settings.polling);
        if new.interval != old.interval {
            self.polls.set_interval(new.interval, now);
        }
        if new.job_info_interval != old.job_info_interval {
            self.describes.set_interval(new.job_info_interval, now);
        }
        if new.settled_interval < old.settled_interval {
            for (id, job) in &self.jobs {
                if job.settled {
                    self.polls.bring_forward(*id, now + new.settled_interval);
                }
            }
        }
        match (&self.settings.discovery, &settings.discovery) {
            (_, None) => {
                self.discovered.clear();
                self.next_listing = None;
            }
            (Some(old), Some(new)) if old.same_as(new) => {}
            // New filters may keep jobs the old ones dropped: list again rather than wait
            // (a listing in flight is filtered with the settings current when it ends).
            (_, Some(_)) => self.next_listing = Some(now),
        }
        self.settings = settings;
        self.sync_jobs(now);
        for job in self.jobs.values_mut() {
            let at = stale_at(&self.settings.polling, job);
            if job.snapshot.stale_at != at {
                job.snapshot_mut().stale_at = at;
            }
        }
        self.check_first_sweep();
    }

    fn start_due(
        &mut self,
        now: Instant,
        caller: &Caller,
        tasks: &mut JoinSet<Done>,
        kinds: &mut HashMap<tokio::task::Id, Task>,
    ) {
        while self.polls_in_flight < self.settings.polling.concurrency {
            let Some(job_id) = self.polls.take_due(now) else {
                break;
            };
            self.polls_in_flight += 1;
            self.start_round(job_id, now);
            let caller = caller.clone();
            let handle = tasks.spawn(async move {
                let result =
                    caller
                        .call(
                            Action::DescribeDeploymentJobStatus,
                            Some(job_id),
                            move |client| async move {
                                client.describe_deployment_job_status(job_id).await
                            },
                        )
                        .await;
                Done::Poll {
                    job_id,
                    result,
                    wall: SystemTime::now(),
                }
            });
            kinds.insert(handle.id(), Task::Poll(job_id));
        }
        while self.describes_in_flight < DESCRIBES_IN_FLIGHT {
            let Some(job_id) = self.describes.take_due(now) else {
                break;
            };
            self.describes_in_flight += 1;
            let caller = caller.clone();
            let handle = tasks.spawn(async move {
                let result = caller
                    .call(
                        Action::DescribeDeploymentJob,
                        Some(job_id),
                        move |client| async move { client.describe_deployment_job(job_id).await },
                    )
                    .await;
                Done::Describe { job_id, result }
            });
            kinds.insert(handle.id(), Task::Describe(job_id));
        }
        if !self.listing_in_flight && self.next_listing.is_some_and(|t| t <= now) {
            self.listing_in_flight = true;
            self.next_listing = None;
            let caller = caller.clone();
            let handle =
                tasks.spawn(async move { Done::Listing(discovery::list_all(&caller).await) });
            kinds.insert(handle.id(), Task::Listing);
        }
    }

    /// Starts a pass over the jobs that are not settled, unless one is under way;
    /// settled jobs wait by design and start none.
    fn start_round(&mut self, job_id: u64, now: Instant) {
        let settled = self.jobs.get(&job_id).is_some_and(|j| j.settled);
        if self.round_started.is_none() && !settled {
            self.round_started = Some(now);
            self.round_remaining = self
                .jobs
                .iter()
                .filter(|(_, j)| !j.settled)
                .map(|(id, _)| *id)
                .collect();
        }
    }

    fn next_wakeup(&self, now: Instant) -> Option<Instant> {
        let polls = (self.polls_in_flight < self.settings.polling.concurrency)
            .then(|| self.polls.next_due())
            .flatten();
        let describes = (self.describes_in_flight < DESCRIBES_IN_FLIGHT)
            .then(|| self.describes.next_due())
            .flatten();
        let listing = (!self.listing_in_flight)
            .then_some(self.next_listing)
            .flatten();
        let publish = self
            .dirty
            .then(|| self.last_publish.map_or(now, |t| t + PUBLISH_EVERY));
        [polls, describes, listing, publish]
            .into_iter()
            .flatten()
            .min()
    }

    fn finish(&mut self, done: Done, now: Instant) {
        match done {
            Done::Poll {
                job_id,
                result,
                wall,
            } => self.finish_poll(job_id, result, wall, now),
            Done::Describe { job_id, result } => {
                self.describes_in_flight -= 1;
                match result {
                    Ok(mut info) => {
                        let implausible = info.drop_implausible();
                        let known = self
                            .jobs
                            .get(&job_id)
                            .and_then(|j| j.snapshot.info.as_deref());
                        if !implausible.is_empty() && known != Some(&info) {
                            warn_implausible(
                                &self.account,
                                Action::DescribeDeploymentJob,
                                job_id,
                                &implausible,
                            );
                        }
                        self.set_info(job_id, Arc::new(info), now);
                    }
                    Err(error) => log_failure(
                        &self.account,
                        Action::DescribeDeploymentJob,
                        Some(job_id),
                        &error,
                    ),
                }
                self.describes.reschedule(job_id, now, None);
            }
            Done::Listing(result) => {
                self.listing_in_flight = false;
                self.listed_once = true;
                let Some(discovery) = self.settings.discovery.clone() else {
                    self.check_first_sweep();
                    return;
                };
                match result {
                    Ok(listed) => {
                        self.discovered = self.admit_listed(listed, &discovery);
                        self.next_listing = Some(now + discovery.refresh_interval);
                        tracing::debug!(
                            account = &*self.account,
                            jobs = self.discovered.len(),
                            "discovery listed the account's jobs"
                        );
                        self.sync_jobs(now);
                    }
                    Err(error) => {
                        log_failure(&self.account, Action::ListDeploymentJob, None, &error);
                        self.next_listing =
                            Some(now + discovery.refresh_interval.min(LISTING_RETRY));
                    }
                }
                self.check_first_sweep();
            }
        }
    }

    fn abandon(&mut self, task: Option<Task>, now: Instant) {
        match task {
            Some(Task::Poll(job_id)) => self.finish_poll(
                job_id,
                Err(ApiError::Transport("the poll task ended abnormally".into())),
                SystemTime::now(),
                now,
            ),
            Some(Task::Describe(job_id)) => {
                self.describes_in_flight -= 1;
                self.describes.reschedule(job_id, now, None);
            }
            Some(Task::Listing) => self.finish(
                Done::Listing(Err(ApiError::Transport(
                    "the listing task ended abnormally".into(),
                ))),
                now,
            ),
            None => {}
        }
    }

    fn finish_poll(
        &mut self,
        job_id: u64,
        result: Result<DeploymentJobStatus, ApiError>,
        wall: SystemTime,
        now: Instant,
    ) {
        self.polls_in_flight -= 1;
        self.awaiting_first.remove(&job_id);
        let polling = self.settings.polling.clone();
        if let Some(job) = self.jobs.get_mut(&job_id) {
            match result {
                Ok(mut status) => {
                    // The request ID differs every time; the counts are what matter.
                    status.request_id = None;
                    let implausible = status.drop_implausible();
                    let dropped = status.bound_products();
                    let unchanged = job.snapshot.values.as_deref() == Some(&status);
                    if !implausible.is_empty() && !unchanged {
                        warn_implausible(
                            &self.account,
                            Action::DescribeDeploymentJobStatus,
                            job_id,
                            &implausible,
                        );
                    }
                    if dropped > 0 && !unchanged {
                        tracing::warn!(
                            account = %self.account,
                            job_id,
                            dropped,
                            kept = MAX_PRODUCTS_PER_JOB,
                            "the job's answer names more products than the exporter keeps; \
                             the extra products' worker counts are not exported (report this \
                             if CAS really deploys this job to that many products)"
                        );
                    }
                    job.settled = unchanged && is_final(&job.snapshot);
                    job.last_success_at = Some(now);
                    // A settled job's values stay fresh across its longer wait.
                    let at = stale_at(&polling, job);
                    let snapshot = job.snapshot_mut();
                    snapshot.up = true;
                    snapshot.last_success = Some(wall);
                    if !unchanged {
                        snapshot.values = Some(Arc::new(status));
                    }
                    snapshot.stale_at = at;
                }
                Err(error) => {
                    log_failure(
                        &self.account,
                        Action::DescribeDeploymentJobStatus,
                        Some(job_id),
                        &error,
                    );
                    if job.snapshot.up {
                        job.snapshot_mut().up = false;
                    }
                    // A failing job is tried again at the normal pace, settled or not.
                    job.settled = false;
                }
            }
            let wait = job.settled.then_some(polling.settled_interval);
            self.polls.reschedule(job_id, now, wait);
        }
        self.round_remaining.remove(&job_id);
        self.check_round(now);
        self.check_first_sweep();
        self.dirty = true;
    }

    /// The listed jobs discovery keeps, by ID: those its filters accept whose ID
    /// follows the job-ID rule (the others are skipped, each reason logged once),
    /// implausible times left out (logged when they change what is known).
    fn admit_listed(
        &mut self,
        listed: Vec<DeploymentJob>,
        discovery: &Discovery,
    ) -> BTreeMap<u64, Arc<DeploymentJob>> {
        let mut admitted = BTreeMap::new();
        let mut skipped = 0_usize;
        for mut job in listed
            .into_iter()
            .filter(|job| discovery::accepts(discovery, job))
        {
            let id = match job.id.clone() {
                Some(Ok(id)) => id,
                invalid => {
                    skipped += 1;
                    let reason = match invalid {
                        Some(Err(error)) => error.to_string(),
                        _ => "the entry has no job ID".to_owned(),
                    };
                    if self.reported_invalid_ids.len() < MAX_REPORTED_INVALID_IDS
                        && self.reported_invalid_ids.insert(reason.clone())
                    {
                        tracing::warn!(
                            account = &*self.account,
                            action = Action::ListDeploymentJob.name(),
                            name = job.name.as_deref().unwrap_or("-"),
                            "discovery skips a listed job: {reason}; it is not polled \
                             (report this: the API should only list valid job IDs)"
                        );
                    }
                    continue;
                }
            };
            let implausible = job.drop_implausible();
            let known = self.discovered.get(&id).map(|j| &**j);
            if !implausible.is_empty() && known != Some(&job) {
                warn_implausible(&self.account, Action::ListDeploymentJob, id, &implausible);
            }
            admitted.insert(id, Arc::new(job));
        }
        if skipped > 0 {
            tracing::debug!(
                account = &*self.account,
                skipped,
                "discovery skipped listed jobs without a valid job ID"
            );
        }
        admitted
    }

    /// Sets a job's details; a settled job whose status left the final states is polled again at once.
    fn set_info(&mut self, job_id: u64, info: Arc<DeploymentJob>, now: Instant) {
        if let Some(job) = self.jobs.get_mut(&job_id) {
            if job.snapshot.info.as_deref() == Some(&*info) {
                // Nothing new: the published snapshot, and what was rendered from it, stay.
                return;
            }
            job.snapshot_mut().info = Some(info);
            if job.settled && !is_final(&job.snapshot) {
                job.settled = false;
                let at = stale_at(&self.settings.polling, job);
                job.snapshot_mut().stale_at = at;
                self.polls.hurry(job_id, now);
            }
            self.dirty = true;
        }
    }

    fn check_round(&mut self, now: Instant) {
        if let Some(started) = self.round_started
            && self.round_remaining.is_empty()
        {
            self.sweep_duration = Some(now - started);
            self.round_started = None;
        }
    }

    fn check_first_sweep(&mut self) {
        let listing_done = self.settings.discovery.is_none() || self.listed_once;
        if !self.first_sweep_done && listing_done && self.awaiting_first.is_empty() {
            self.first_sweep_done = true;
            // Readiness is read from the published snapshot: publish even if nothing else changed.
            self.dirty = true;
            tracing::info!(
                account = &*self.account,
                jobs = self.jobs.len(),
                "first poll sweep finished"
            );
        }
    }

    fn snapshot(&self) -> AccountSnapshot {
        AccountSnapshot {
            jobs: self
                .jobs
                .iter()
                .map(|(id, job)| (*id, Arc::clone(&job.snapshot)))
                .collect(),
            first_sweep_done: self.first_sweep_done,
            sweep_duration: self.sweep_duration,
        }
    }
}

fn is_final(job: &JobSnapshot) -> bool {
    job.info
        .as_ref()
        .and_then(|i| i.status.as_deref())
        .is_some_and(|s| FINAL_STATUSES.contains(&s))
}

/// Until when a job's last values are served: `stale_after` past the last
/// success, plus the longer wait of a settled job.
fn stale_at(polling: &Polling, job: &JobState) -> Option<Instant> {
    let extra = if job.settled {
        polling.settled_interval.saturating_sub(polling.interval)
    } else {
        Duration::ZERO
    };
    job.last_success_at
        .map(|at| at + polling.stale_after + extra)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ServiceError, test_client};
    use crate::config::{DEFAULT_RATE_LIMIT, DEFAULT_RETRIES};

    const MINUTE: Duration = Duration::from_secs(60);

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
            },
            retries: DEFAULT_RETRIES,
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
        state.polls_in_flight += 1;
        state.finish(
            Done::Poll {
                job_id: job,
                result,
                wall: SystemTime::now(),
            },
            now,
        );
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

    #[tokio::test(start_paused = true)]
    async fn discovery_polls_only_valid_ids_and_leaves_out_implausible_times() {
        let mut with_discovery = (*settings(&[], MINUTE)).clone();
        with_discovery.discovery = Some(Discovery {
            refresh_interval: MINUTE,
            job_types: vec![],
            statuses: vec![],
            name_include: None,
            name_exclude: None,
        });
        let mut state = State::new(
            Arc::from("a"),
            Shard::default(),
            Arc::new(with_discovery),
            Instant::now(),
        );
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
            state.listing_in_flight = true;
            state.finish(Done::Listing(Ok(listing())), Instant::now());
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
            state.dirty,
            "readiness is published, even with nothing else to show"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn finished_jobs_settle_and_failures_unsettle_them() {
        let mut state = state(&[1], Shard::default());
        let t0 = Instant::now();
        poll(&mut state, 1, Ok(counts(3)));
        assert!(state.first_sweep_done);
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
        assert_eq!(state.sweep_duration, None, "job 3 is still to come");
        tokio::time::advance(Duration::from_secs(2)).await;
        poll(&mut state, 3, Ok(counts(1)));
        assert_eq!(state.sweep_duration, Some(Duration::from_secs(5)));
        assert_eq!(state.round_started, None);
        // Settled jobs start no round of their own.
        state.jobs.values_mut().for_each(|j| j.settled = true);
        state.start_round(1, Instant::now());
        assert_eq!(state.round_started, None);
    }
}
