//! Polls one account's jobs in the background: each job at its own phase of
//! the interval (settled jobs less often), every call paced by the account's
//! rate limiter and retried when worth it; discovery and job details on their
//! own cadence. Results are published as an immutable snapshot; scrapes never
//! wait for any of it.

mod discovery;
mod rate_limit;
mod retry;
mod schedule;

pub use discovery::PAGE_SIZE;
pub use rate_limit::{RateLimiter, spacing};
pub use retry::{backoff, is_retryable};
pub use schedule::Schedule;

use crate::api::model::{DeploymentJob, DeploymentJobStatus};
use crate::api::{
    ApiError, Client, DESCRIBE_DEPLOYMENT_JOB, DESCRIBE_DEPLOYMENT_JOB_STATUS, LIST_DEPLOYMENT_JOB,
};
use crate::config::{Discovery, Polling, RateLimit, RetryPolicy};
use crate::metrics::SelfMetrics;
use crate::shard::Shard;
use crate::snapshot::{AccountSnapshot, JobSnapshot, JobSource, SnapshotStore};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
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

impl AccountSettings {
    fn rates(&self) -> [(&'static str, f64); 3] {
        [
            (
                DESCRIBE_DEPLOYMENT_JOB_STATUS,
                self.rate_limit.describe_deployment_job_status,
            ),
            (LIST_DEPLOYMENT_JOB, self.rate_limit.list_deployment_job),
            (
                DESCRIBE_DEPLOYMENT_JOB,
                self.rate_limit.describe_deployment_job,
            ),
        ]
    }
}

/// Makes the API calls of one account: paced, retried, counted.
#[derive(Clone)]
pub(crate) struct Caller {
    account: Arc<str>,
    client: Arc<Client>,
    limiter: Arc<RateLimiter>,
    retries: RetryPolicy,
    metrics: SelfMetrics,
}

impl Caller {
    fn client(&self) -> Arc<Client> {
        Arc::clone(&self.client)
    }

    /// Calls `attempt` until it succeeds, fails for good, or runs out of attempts;
    /// every attempt waits for the rate limiter first.
    async fn call<T, F, Fut>(
        &self,
        action: &'static str,
        job_id: Option<u64>,
        attempt: F,
    ) -> Result<T, ApiError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mut tries = 1;
        loop {
            let waited = self.limiter.acquire(action).await;
            self.metrics
                .rate_limit_waited(&self.account, action, waited);
            let error = match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if tries >= self.retries.max_attempts || !is_retryable(&error) {
                return Err(error);
            }
            let delay = backoff(&self.retries, tries, &error, fastrand::f64());
            self.metrics.retried(&self.account, action, error.code());
            tracing::debug!(
                account = &*self.account,
                action,
                job_id,
                code = error.code(),
                attempt = tries,
                delay_seconds = delay.as_secs_f64(),
                "retrying"
            );
            tokio::time::sleep(delay).await;
            tries += 1;
        }
    }
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
        let initial = State::new(&poller, Instant::now());
        poller.store.publish(&poller.account, initial.snapshot());
        poller
    }

    /// Polls until `shutdown`; follows new settings as they are sent.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let now = Instant::now();
        let mut state = State::new(&self, now);
        let mut settings = Arc::clone(&self.settings.borrow_and_update());
        let limiter = Arc::new(RateLimiter::new(&settings.rates()));
        let mut caller = Caller {
            account: Arc::clone(&self.account),
            client: Arc::clone(&settings.client),
            limiter: Arc::clone(&limiter),
            retries: settings.retries,
            metrics: self.metrics.clone(),
        };
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
                    limiter.set_rates(&settings.rates());
                    caller.client = Arc::clone(&settings.client);
                    caller.retries = settings.retries;
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
    snapshot: JobSnapshot,
    last_success_at: Option<Instant>,
    settled: bool,
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
}

impl State {
    fn new(poller: &AccountPoller, now: Instant) -> Self {
        let settings = Arc::clone(&poller.settings.borrow());
        let mut state = Self {
            account: Arc::clone(&poller.account),
            shard: poller.shard,
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
            job.snapshot.source = if statics.contains(&id) {
                JobSource::Static
            } else {
                JobSource::Discovered
            };
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
        self.dirty = true;
    }

    fn apply(&mut self, settings: Arc<AccountSettings>, now: Instant) {
        if settings.polling.interval != self.settings.polling.interval {
            self.polls.set_interval(settings.polling.interval);
        }
        if settings.polling.job_info_interval != self.settings.polling.job_info_interval {
            self.describes
                .set_interval(settings.polling.job_info_interval);
        }
        match (&self.settings.discovery, &settings.discovery) {
            (_, None) => {
                self.discovered.clear();
                self.next_listing = None;
            }
            (None, Some(_)) => self.next_listing = Some(now),
            (Some(_), Some(_)) => {}
        }
        self.settings = settings;
        self.sync_jobs(now);
        for job in self.jobs.values_mut() {
            job.snapshot.stale_at = stale_at(&self.settings.polling, job);
        }
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
            if self.round_started.is_none() {
                self.round_started = Some(now);
                let active: BTreeSet<u64> = self
                    .jobs
                    .iter()
                    .filter(|(_, j)| !j.settled)
                    .map(|(id, _)| *id)
                    .collect();
                self.round_remaining = if active.is_empty() {
                    self.jobs.keys().copied().collect()
                } else {
                    active
                };
            }
            let caller = caller.clone();
            let handle = tasks.spawn(async move {
                let client = caller.client();
                let result = caller
                    .call(DESCRIBE_DEPLOYMENT_JOB_STATUS, Some(job_id), move || {
                        let client = client.clone();
                        async move { client.describe_deployment_job_status(job_id).await }
                    })
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
                let client = caller.client();
                let result = caller
                    .call(DESCRIBE_DEPLOYMENT_JOB, Some(job_id), move || {
                        let client = client.clone();
                        async move { client.describe_deployment_job(job_id).await }
                    })
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
                    Ok(info) => self.set_info(job_id, Arc::new(info), now),
                    Err(error) => {
                        log_failure(&self.account, DESCRIBE_DEPLOYMENT_JOB, Some(job_id), &error)
                    }
                }
                self.describes.reschedule(job_id, now, None);
            }
            Done::Listing(result) => {
                self.listing_in_flight = false;
                self.listed_once = true;
                let Some(discovery) = self.settings.discovery.clone() else {
                    return;
                };
                match result {
                    Ok(listed) => {
                        self.discovered = listed
                            .into_iter()
                            .filter(|job| discovery.accepts(job))
                            .filter_map(|job| Some((u64::try_from(job.id?).ok()?, Arc::new(job))))
                            .collect();
                        self.next_listing = Some(now + discovery.refresh_interval);
                        tracing::debug!(
                            account = &*self.account,
                            jobs = self.discovered.len(),
                            "discovery listed the account's jobs"
                        );
                        self.sync_jobs(now);
                    }
                    Err(error) => {
                        log_failure(&self.account, LIST_DEPLOYMENT_JOB, None, &error);
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
                    let unchanged = job.snapshot.values.as_deref() == Some(&status);
                    job.settled = unchanged && is_final(&job.snapshot);
                    job.snapshot.up = true;
                    job.snapshot.last_success = Some(wall);
                    job.last_success_at = Some(now);
                    job.snapshot.values = Some(Arc::new(status));
                }
                Err(error) => {
                    log_failure(
                        &self.account,
                        DESCRIBE_DEPLOYMENT_JOB_STATUS,
                        Some(job_id),
                        &error,
                    );
                    job.snapshot.up = false;
                }
            }
            job.snapshot.stale_at = stale_at(&polling, job);
            let wait = job.settled.then_some(polling.settled_interval);
            if job.settled {
                self.round_remaining.remove(&job_id);
            }
            self.polls.reschedule(job_id, now, wait);
        }
        self.round_remaining.remove(&job_id);
        self.check_round(now);
        self.check_first_sweep();
        self.dirty = true;
    }

    /// Sets a job's details; a settled job whose status left the final states is polled again at once.
    fn set_info(&mut self, job_id: u64, info: Arc<DeploymentJob>, now: Instant) {
        if let Some(job) = self.jobs.get_mut(&job_id) {
            job.snapshot.info = Some(info);
            if job.settled && !is_final(&job.snapshot) {
                job.settled = false;
                job.snapshot.stale_at = stale_at(&self.settings.polling, job);
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
                .map(|(id, job)| (*id, Arc::new(job.snapshot.clone())))
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

fn log_failure(account: &str, action: &str, job_id: Option<u64>, error: &ApiError) {
    let code = error.code();
    let request_id = error.request_id().unwrap_or("-");
    let http_status = error
        .http_status()
        .map_or_else(|| "-".to_owned(), |s| s.to_string());
    let hint = error.hint();
    let what = if action == DESCRIBE_DEPLOYMENT_JOB_STATUS {
        "poll failed"
    } else {
        "call failed"
    };
    match error {
        ApiError::Service(e) if e.signature.is_some() => {
            let mismatch = e.signature.as_ref();
            tracing::warn!(
                account,
                action,
                job_id,
                code,
                request_id,
                http_status = %http_status,
                ours = mismatch.map_or("", |m| m.ours.as_str()),
                server = mismatch.and_then(|m| m.server.as_deref()).unwrap_or("-"),
                same_string = mismatch.is_some_and(|m| m.same_string),
                hint,
                "{what}: {error}"
            );
        }
        _ => tracing::warn!(
            account,
            action,
            job_id,
            code,
            request_id,
            http_status = %http_status,
            hint,
            "{what}: {error}"
        ),
    }
}
