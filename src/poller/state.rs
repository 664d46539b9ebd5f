//! What one account's poller knows, and how each call's end changes it: the
//! jobs and their snapshots, their schedules, and the parts that keep account
//! of progress. Nothing here makes a call or reads a clock, so that tests can
//! drive it on tokio's paused clock.

mod detail;
mod held;
mod listing;
mod parts;
mod retire;
#[cfg(test)]
mod tests;
mod workers;

use super::call::{Answer, Call, Failure, Outcome};
use super::log::{CallLog, warn_implausible};
use super::schedule::Schedule;
use super::settings::AccountSettings;
use crate::api::Action;
use crate::api::model::{DeploymentJob, DeploymentJobStatus, MAX_PRODUCTS_PER_JOB};
use crate::config::Polling;
use crate::shard::Shard;
use crate::snapshot::{AccountSnapshot, DiscoveryHealth, JobSnapshot, JobSource};
use held::Held;
use parts::{Denials, InFlight, Publishing, Readiness, SweepClock};
use retire::{FINAL_STATUSES, Retirement};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;
use workers::WorkerBook;

/// Job-detail calls in flight at once (they have their own, lower rate).
const DESCRIBES_IN_FLIGHT: usize = 2;
/// Worker and certificate listings in flight at once, each (they have their own, lower rates).
const DETAILS_IN_FLIGHT: usize = 2;
/// A failed listing is tried again after at most this long.
const LISTING_RETRY: Duration = Duration::from_secs(30);
/// Distinct invalid job IDs from discovery that are logged; past this many, no more are
/// (the count of skipped entries still is), so a broken listing cannot fill memory or the log.
const MAX_REPORTED_INVALID_IDS: usize = 100;

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
pub(super) struct State {
    account: Arc<str>,
    shard: Shard,
    settings: Arc<AccountSettings>,
    jobs: BTreeMap<u64, JobState>,
    discovered: BTreeMap<u64, Arc<DeploymentJob>>,
    polls: Schedule,
    describes: Schedule,
    certificates: Schedule,
    workers: WorkerBook,
    /// What the jobs' worker listings hold, kept as each changes (see [`Held`]).
    held: Held,
    retirement: Retirement,
    denials: Denials,
    /// Which failures the log has told of, and which it holds back.
    calls: CallLog,
    next_listing: Option<Instant>,
    /// How the listings went since discovery was turned on.
    listing_health: DiscoveryHealth,
    /// Why listed entries were skipped, each logged once (see [`MAX_REPORTED_INVALID_IDS`]).
    reported_invalid_ids: BTreeSet<String>,
    in_flight: InFlight,
    readiness: Readiness,
    sweep: SweepClock,
    publishing: Publishing,
}

impl State {
    /// The state of `account`'s jobs in `shard` before any call, as of `now`.
    pub(super) fn new(
        account: Arc<str>,
        shard: Shard,
        settings: Arc<AccountSettings>,
        now: Instant,
    ) -> Self {
        let mut state = Self {
            calls: CallLog::new(Arc::clone(&account)),
            account,
            shard,
            polls: Schedule::new(settings.polling.interval, now),
            describes: Schedule::new(settings.polling.job_info_interval, now),
            certificates: Schedule::new(settings.polling.job_info_interval, now),
            workers: WorkerBook::default(),
            held: Held::default(),
            retirement: Retirement::default(),
            denials: Denials::default(),
            next_listing: settings.discovery.as_ref().map(|_| now),
            listing_health: DiscoveryHealth::default(),
            settings,
            jobs: BTreeMap::new(),
            discovered: BTreeMap::new(),
            reported_invalid_ids: BTreeSet::new(),
            in_flight: InFlight::default(),
            readiness: Readiness::default(),
            sweep: SweepClock::default(),
            publishing: Publishing::default(),
        };
        state.sync_jobs(now);
        #[cfg(test)]
        state.check_tallies();
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
                    .filter(|id| !self.retirement.contains(*id))
                    .filter(|id| self.shard.owns(&self.account, *id)),
            )
            .collect();
        let held_before = self.held.total();
        self.jobs.retain(|id, _| wanted.contains(id));
        self.held.retain(&wanted);
        let freed = self.held.total() < held_before;
        self.retirement.release(&statics);
        self.readiness.retain(&wanted);
        self.sweep.retain(&wanted, now);
        for &id in &wanted {
            let job = self.jobs.entry(id).or_insert_with(|| {
                self.readiness.expect(id);
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
        self.certificates.set_jobs(&wanted, now);
        self.workers.retain(&wanted);
        self.calls.retain_jobs(&wanted);
        // Discovered jobs take their details from the listing; listed ones from DescribeDeploymentJob.
        let listed: Vec<(u64, Arc<DeploymentJob>)> = wanted
            .iter()
            .filter(|id| !statics.contains(id))
            .filter_map(|id| Some((*id, Arc::clone(self.discovered.get(id)?))))
            .collect();
        for (id, info) in listed {
            self.set_info(id, info, now);
        }
        if freed {
            self.revisit_held_back();
        }
        self.check_first_sweep();
        self.publishing.changed();
    }

    /// Takes new settings: intervals apply at once (a job waiting longer than the
    /// new interval allows is brought forward), changed discovery lists again now.
    pub(super) fn apply(&mut self, settings: Arc<AccountSettings>, now: Instant) {
        let (old, new) = (&self.settings.polling, &settings.polling);
        if new.interval != old.interval {
            self.polls.set_interval(new.interval, now);
        }
        if new.job_info_interval != old.job_info_interval {
            self.describes.set_interval(new.job_info_interval, now);
            self.certificates.set_interval(new.job_info_interval, now);
        }
        let details_changed = settings.worker_detail != self.settings.worker_detail;
        if !settings.certificate_detail.enabled {
            for job in self.jobs.values_mut() {
                if job.snapshot.certificates.is_some() {
                    job.snapshot_mut().certificates = None;
                    self.publishing.changed();
                }
            }
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
                self.retirement = Retirement::default();
                self.next_listing = None;
                // Listings made before say nothing of a discovery turned on again later.
                self.listing_health = DiscoveryHealth::default();
            }
            (Some(old_discovery), Some(new_discovery))
                if old_discovery.same_as(new_discovery)
                    && old.finished_job_retention == new.finished_job_retention => {}
            // New filters may keep jobs the old ones dropped, and a new retention may retire
            // or bring back jobs: list again rather than wait (a listing in flight is
            // filtered with the settings current when it ends).
            (_, Some(_)) => self.next_listing = Some(now),
        }
        self.settings = settings;
        self.sync_jobs(now);
        // A reload may bring the permissions that were missing, or turn the listing off.
        self.denials.clear();
        self.publishing.changed();
        if details_changed {
            if !self.settings.worker_detail.enabled {
                self.workers.clear();
                self.held.clear();
                for job in self.jobs.values_mut() {
                    if job.snapshot.workers.is_some() {
                        job.snapshot_mut().workers = None;
                    }
                }
            }
            // A new max_per_job is a new plan: those jobs are listed again; a larger
            // budget lets the jobs it held back list what they could not.
            let ids: Vec<u64> = self.jobs.keys().copied().collect();
            for id in ids {
                self.want_workers(id);
            }
            self.revisit_held_back();
            self.publishing.changed();
        }
        for job in self.jobs.values_mut() {
            let at = stale_at(&self.settings.polling, job);
            if job.snapshot.stale_at != at {
                job.snapshot_mut().stale_at = at;
            }
        }
        self.check_first_sweep();
        #[cfg(test)]
        self.check_tallies();
    }

    /// How many calls of `action` may be under way at once.
    fn limit(&self, action: Action) -> usize {
        match action {
            Action::DescribeDeploymentJobStatus => self.settings.polling.concurrency,
            Action::DescribeDeploymentJob => DESCRIBES_IN_FLIGHT,
            // A listing walks every page; two at once would only race each other.
            Action::ListDeploymentJob => 1,
            Action::ListWorkerResource | Action::ListDeploymentJobCert => DETAILS_IN_FLIGHT,
        }
    }

    /// Whether another call of `action` may start.
    fn has_room(&self, action: Action) -> bool {
        self.in_flight.below(action, self.limit(action))
    }

    /// Counts `call` as under way and hands it to `start`.
    fn begin(&mut self, call: Call, start: &mut impl FnMut(Call)) {
        self.in_flight.start(call.action());
        start(call);
    }

    /// Hands every call due at `now` to `start`, as far as the limits on calls under way allow.
    pub(super) fn start_due(&mut self, now: Instant, mut start: impl FnMut(Call)) {
        while self.has_room(Action::DescribeDeploymentJobStatus) {
            let Some(job_id) = self.polls.take_due(now) else {
                break;
            };
            self.start_round(job_id, now);
            self.begin(Call::Poll(job_id), &mut start);
        }
        while self.has_room(Action::DescribeDeploymentJob) {
            let Some(job_id) = self.describes.take_due(now) else {
                break;
            };
            self.begin(Call::Describe(job_id), &mut start);
        }
        if self.has_room(Action::ListDeploymentJob) && self.next_listing.is_some_and(|t| t <= now) {
            self.next_listing = None;
            self.begin(Call::Listing, &mut start);
        }
        while self.settings.certificate_detail.enabled
            && self.denials.allows(Action::ListDeploymentJobCert, now)
            && self.has_room(Action::ListDeploymentJobCert)
        {
            let Some(job_id) = self.certificates.take_due(now) else {
                break;
            };
            self.begin(Call::Certificates(job_id), &mut start);
        }
        // Listings under way hold nothing yet, and one the budget refuses holds none:
        // what is held changes only as answers come, so it is read once for the pass.
        let held = self.held.total();
        while self.denials.allows(Action::ListWorkerResource, now)
            && self.has_room(Action::ListWorkerResource)
        {
            let Some(job_id) = self.workers.next() else {
                break;
            };
            if let Some(call) = self.start_worker_listing(job_id, held) {
                self.begin(call, &mut start);
            }
        }
        #[cfg(test)]
        self.check_tallies();
    }

    /// Starts a pass over the jobs that are not settled, unless one is under way;
    /// settled jobs wait by design and start none.
    fn start_round(&mut self, job_id: u64, now: Instant) {
        if !self.jobs.get(&job_id).is_some_and(|j| j.settled) {
            let active = self.jobs.iter().filter(|(_, j)| !j.settled);
            self.sweep.start(now, active.map(|(id, _)| *id));
        }
    }

    /// When something is next due: a call there is room for, or a publish.
    pub(super) fn next_wakeup(&self, now: Instant) -> Option<Instant> {
        let polls = self
            .has_room(Action::DescribeDeploymentJobStatus)
            .then(|| self.polls.next_due())
            .flatten();
        let describes = self
            .has_room(Action::DescribeDeploymentJob)
            .then(|| self.describes.next_due())
            .flatten();
        let listing = self
            .has_room(Action::ListDeploymentJob)
            .then_some(self.next_listing)
            .flatten();
        let later = |action| self.denials.until(action).filter(|until| *until > now);
        let certificates = (self.settings.certificate_detail.enabled
            && self.has_room(Action::ListDeploymentJobCert))
        .then(|| self.certificates.next_due())
        .flatten()
        .map(|due| later(Action::ListDeploymentJobCert).map_or(due, |until| due.max(until)));
        let workers = (self.has_room(Action::ListWorkerResource) && self.workers.has_queued())
            .then(|| later(Action::ListWorkerResource).unwrap_or(now));
        [
            polls,
            describes,
            listing,
            certificates,
            workers,
            self.publishing.next(now),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Takes in how `call` ended.
    pub(super) fn finish(&mut self, call: Call, outcome: Outcome, now: Instant) {
        self.in_flight.end(call.action());
        if outcome.is_ok() {
            self.calls.succeeded(call.action(), call.job_id(), now);
        }
        match outcome {
            Ok(Answer::Status(job_id, status, wall)) => {
                self.polled(job_id, Ok((status, wall)), now)
            }
            Ok(Answer::Job(job_id, info)) => self.described(job_id, Ok(info), now),
            Ok(Answer::Jobs(jobs, wall)) => self.listed(Ok((jobs, wall)), now),
            Ok(Answer::Workers(job_id, listing, ticket)) => {
                self.workers_listed(job_id, ticket, Ok(listing), now)
            }
            Ok(Answer::Certificates(job_id, certificates)) => {
                self.certificates_listed(job_id, Ok(certificates), now)
            }
            Err(failure) => match call {
                Call::Poll(job_id) => self.polled(job_id, Err(failure), now),
                Call::Describe(job_id) => self.described(job_id, Err(failure), now),
                Call::Listing => self.listed(Err(failure), now),
                Call::Workers(job_id, _, ticket) => {
                    self.workers_listed(job_id, ticket, Err(failure), now)
                }
                Call::Certificates(job_id) => self.certificates_listed(job_id, Err(failure), now),
            },
        }
        #[cfg(test)]
        self.check_tallies();
    }

    /// Takes in a poll's counts (and when they came), or its failure.
    fn polled(
        &mut self,
        job_id: u64,
        result: Result<(DeploymentJobStatus, SystemTime), Failure>,
        now: Instant,
    ) {
        self.readiness.polled(job_id);
        let polling = self.settings.polling.clone();
        let wall = result.as_ref().ok().map(|(_, wall)| *wall);
        if let Some(job) = self.jobs.get_mut(&job_id) {
            match result {
                Ok((mut status, wall)) => {
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
                Err(failure) => {
                    self.calls.failed(
                        Action::DescribeDeploymentJobStatus,
                        Some(job_id),
                        &failure.into_error("poll"),
                        now,
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
        self.want_workers(job_id);
        if let Some(wall) = wall {
            self.retire_if_done(job_id, wall, now);
        }
        self.sweep.polled(job_id, now);
        self.check_first_sweep();
        self.publishing.changed();
    }

    /// Takes in a job's details, or their failure; an abandoned call is only rescheduled.
    fn described(&mut self, job_id: u64, result: Result<DeploymentJob, Failure>, now: Instant) {
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
            Err(Failure::Api(error)) => {
                self.calls
                    .failed(Action::DescribeDeploymentJob, Some(job_id), &error, now)
            }
            Err(Failure::Abandoned) => {}
        }
        self.describes.reschedule(job_id, now, None);
    }

    /// Sets a job's details; a settled job whose status left the final states is polled again at once.
    fn set_info(&mut self, job_id: u64, info: Arc<DeploymentJob>, now: Instant) {
        if let Some(job) = self.jobs.get_mut(&job_id) {
            if job.snapshot.info.as_deref() == Some(&*info) {
                // Nothing new: the published snapshot, and what was rendered from it, stay.
                return;
            }
            let old_status = job.snapshot.info.as_ref().map(|i| i.status.clone());
            if old_status.is_some_and(|old| old != info.status) {
                self.certificates.hurry(job_id, now);
            }
            job.snapshot_mut().info = Some(info);
            if job.settled && !is_final(&job.snapshot) {
                job.settled = false;
                let at = stale_at(&self.settings.polling, job);
                job.snapshot_mut().stale_at = at;
                self.polls.hurry(job_id, now);
            }
            self.publishing.changed();
        }
    }

    fn check_first_sweep(&mut self) {
        if self.readiness.finish(self.settings.discovery.is_some()) {
            // Readiness is read from the published snapshot: publish even if nothing else changed.
            self.publishing.changed();
            tracing::info!(
                account = &*self.account,
                jobs = self.jobs.len(),
                "first poll sweep finished"
            );
        }
    }

    /// The snapshot to publish at `now`, if one is due.
    pub(super) fn publish_due(&mut self, now: Instant) -> Option<AccountSnapshot> {
        if !self.publishing.due(now) {
            return None;
        }
        self.publishing.published(now);
        Some(self.snapshot())
    }

    /// What the account's jobs look like now, to publish.
    pub(super) fn snapshot(&self) -> AccountSnapshot {
        AccountSnapshot {
            jobs: self
                .jobs
                .iter()
                .map(|(id, job)| (*id, Arc::clone(&job.snapshot)))
                .collect(),
            first_sweep_done: self.readiness.done(),
            sweep_duration: self.sweep.duration(),
            max_workers: self.settings.worker_detail.max_per_account,
            retired_jobs: self.retirement.len(),
            refused: Action::ALL
                .into_iter()
                .filter(|action| self.denials.until(*action).is_some())
                .collect(),
            discovery: self
                .settings
                .discovery
                .as_ref()
                .map(|_| self.listing_health),
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
