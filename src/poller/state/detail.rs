//! How answers about a job's details change the state: its failed workers
//! (listed when its counts change), its certificates, and its retirement once
//! it finished long enough ago.

use super::State;
use super::retire::{cutoff, finished_before};
use crate::api::model::JobCertificates;
use crate::api::{Action, ApiError};
use crate::poller::call::{Call, Failure};
use crate::poller::certificates::{MAX_CERTS_PER_JOB, admit};
use crate::poller::log::warn_implausible;
use crate::poller::workers::WorkerPlan;
use crate::snapshot::{JobSource, WorkerListing};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::time::Instant;

impl State {
    /// Retires the listed jobs that finished before the retention's cutoff at
    /// `wall`: at once if not polled yet (a finished job's counts no longer
    /// change, and polling it would only show old failures), once settled if polled.
    pub(super) fn retire_listed(&mut self, wall: SystemTime) {
        let cut = cutoff(wall, self.settings.polling.finished_job_retention);
        self.retirement.review(&self.discovered, cut);
        let statics: BTreeSet<u64> = self.settings.static_jobs.iter().copied().collect();
        for (id, info) in &self.discovered {
            let settled = self.jobs.get(id).is_none_or(|job| job.settled);
            if settled
                && !statics.contains(id)
                && self.shard.owns(&self.account, *id)
                && finished_before(info, cut)
            {
                self.retirement.retire(&self.account, *id, info);
            }
        }
    }

    /// Retires discovered job `job_id` if it is settled and finished before the cutoff at `wall`.
    pub(super) fn retire_if_done(&mut self, job_id: u64, wall: SystemTime, now: Instant) {
        let Some(job) = self.jobs.get(&job_id) else {
            return;
        };
        let Some(info) = job.snapshot.info.as_deref() else {
            return;
        };
        let cut = cutoff(wall, self.settings.polling.finished_job_retention);
        if job.snapshot.source == JobSource::Discovered && job.settled && finished_before(info, cut)
        {
            self.retirement.retire(&self.account, job_id, info);
            self.sync_jobs(now);
        }
    }

    /// Queues job `job_id`'s failed workers for a listing if the statuses its
    /// counts call for changed since the last (or `max_per_job` did).
    pub(super) fn want_workers(&mut self, job_id: u64) {
        if !self.settings.worker_detail.enabled {
            return;
        }
        let Some(counts) = self
            .jobs
            .get(&job_id)
            .and_then(|j| j.snapshot.values.as_deref())
        else {
            return;
        };
        match WorkerPlan::for_counts(counts, self.settings.worker_detail.max_per_job) {
            Some(plan) if self.workers.wants(job_id, &plan) => self.workers.queue(job_id),
            Some(_) => {}
            None => self.nothing_failed(job_id),
        }
    }

    /// The call that lists job `job_id`'s failed workers now, within what is left
    /// of the account's `max_per_account` (`held` by all listings); with nothing
    /// left, no call: the workers are all counted as left out.
    pub(super) fn start_worker_listing(&mut self, job_id: u64, held: usize) -> Option<Call> {
        let job = self.jobs.get(&job_id)?;
        let detail = self.settings.worker_detail;
        let Some(plan) = job
            .snapshot
            .values
            .as_deref()
            .and_then(|counts| WorkerPlan::for_counts(counts, detail.max_per_job))
        else {
            self.nothing_failed(job_id);
            return None;
        };
        let own = job.snapshot.workers.as_ref().map_or(0, |l| l.workers.len());
        let room = detail
            .max_per_account
            .saturating_sub(held.saturating_sub(own));
        let ticket = self.workers.start(job_id, plan);
        self.workers.held_back(job_id, room < detail.max_per_job);
        if room == 0 {
            let at = job.snapshot.last_success.unwrap_or(SystemTime::UNIX_EPOCH);
            self.workers.ended(job_id, ticket, true);
            self.set_workers(
                job_id,
                WorkerListing {
                    workers: Vec::new(),
                    left_out: plan.expected_total(),
                    listed_at: at,
                },
            );
            self.warn_left_out(job_id);
            return None;
        }
        Some(Call::Workers(
            job_id,
            plan.with_cap(room.min(detail.max_per_job)),
            ticket,
        ))
    }

    /// Drops job `job_id`'s listing: its counts put no worker in a problem status, so
    /// there is nothing to list, and nothing to keep (most jobs: no allocation each).
    pub(super) fn nothing_failed(&mut self, job_id: u64) {
        self.workers.forget(job_id);
        if let Some(job) = self.jobs.get_mut(&job_id)
            && job.snapshot.workers.is_some()
            && let Some(dropped) = job.snapshot_mut().workers.take()
        {
            self.held.set(job_id, 0);
            self.publishing.changed();
            if !dropped.workers.is_empty() {
                self.revisit_held_back();
            }
        }
    }

    /// Lists again the jobs the account's budget held back: it just grew.
    pub(super) fn revisit_held_back(&mut self) {
        for id in self.workers.release_held_back() {
            self.want_workers(id);
        }
    }

    /// Takes in the listing with `ticket` of job `job_id`'s failed workers, or its
    /// failure (the last listing stays); a listing outrun by a reload is ignored.
    pub(super) fn workers_listed(
        &mut self,
        job_id: u64,
        ticket: u64,
        result: Result<WorkerListing, Failure>,
        now: Instant,
    ) {
        let current = self.workers.ended(job_id, ticket, result.is_ok());
        match result {
            Ok(listing) => {
                self.allowed(Action::ListWorkerResource);
                if current {
                    self.set_workers(job_id, listing);
                    self.warn_left_out(job_id);
                }
                // The counts may have changed while the listing was under way.
                self.want_workers(job_id);
            }
            // Tried again when the next poll comes, not at once: a failing API is not hammered.
            Err(failure) => self.detail_failed(
                Action::ListWorkerResource,
                job_id,
                failure.into_error("worker listing"),
                now,
            ),
        }
    }

    pub(super) fn set_workers(&mut self, job_id: u64, listing: WorkerListing) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        let before = job.snapshot.workers.as_ref().map_or(0, |l| l.workers.len());
        let after = listing.workers.len();
        job.snapshot_mut().workers = Some(Arc::new(listing));
        self.held.set(job_id, after);
        self.publishing.changed();
        if after < before {
            self.revisit_held_back();
        }
    }

    /// Names each job once in the log whose failed workers are not all served, now
    /// that job `listed`'s listing changed (and the account's budget with it):
    /// beyond the caps, or missing from the API's answer.
    pub(super) fn warn_left_out(&mut self, listed: u64) {
        let detail = self.settings.worker_detail;
        // Any other job with workers left out of its own listing was named when that
        // listing came, and stays named while it lasts: only the job just listed and
        // those past the account's budget can be new, so only they are looked at.
        let mut short: BTreeMap<u64, u64> = self
            .held
            .beyond(detail.max_per_account)
            .into_iter()
            .map(|(id, beyond)| (id, beyond as u64))
            .collect();
        short.entry(listed).or_default();
        for (id, unlisted) in &mut short {
            let left_out = self
                .jobs
                .get(id)
                .and_then(|job| job.snapshot.workers.as_deref())
                .map_or(0, |listing| listing.left_out);
            *unlisted = left_out.saturating_add(*unlisted);
        }
        short.retain(|_, unlisted| *unlisted > 0);
        for (job_id, unlisted) in short {
            if self.workers.first_warning(job_id) {
                tracing::warn!(
                    account = &*self.account,
                    job_id,
                    unlisted,
                    max_per_job = detail.max_per_job,
                    max_per_account = detail.max_per_account,
                    "some failed or rolled-back workers of the job have no worker_info series: \
                     aliyun_cas_deployment_job_unlisted_workers counts them. Beyond the caps, \
                     raise worker_detail.max_per_job or max_per_account to see them; if the \
                     job has fewer workers than the caps, the API left them out of its answer \
                     (report it)"
                );
            }
        }
    }

    /// Takes in job `job_id`'s certificates, or their failure (the last listing stays).
    pub(super) fn certificates_listed(
        &mut self,
        job_id: u64,
        result: Result<JobCertificates, Failure>,
        now: Instant,
    ) {
        self.certificates.reschedule(job_id, now, None);
        let listed = match result {
            // Turned off by a reload while the call was under way.
            Ok(_) if !self.settings.certificate_detail.enabled => return,
            Ok(listed) => listed,
            Err(failure) => {
                let error = failure.into_error("certificate listing");
                self.detail_failed(Action::ListDeploymentJobCert, job_id, error, now);
                return;
            }
        };
        self.allowed(Action::ListDeploymentJobCert);
        let admitted = admit(listed);
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        if job.snapshot.certificates.as_deref() == Some(&*admitted.certificates) {
            return;
        }
        if !admitted.refused.is_empty() {
            let refused: Vec<String> = admitted.refused.iter().map(|r| r.to_string()).collect();
            warn_implausible(
                &self.account,
                Action::ListDeploymentJobCert,
                job_id,
                &refused,
            );
        }
        if admitted.skipped > 0 {
            tracing::warn!(
                account = &*self.account,
                job_id,
                skipped = admitted.skipped,
                limit = MAX_CERTS_PER_JOB,
                "ListDeploymentJobCert listed certificates without a usable CertId, or more \
                 than the exporter keeps per job; those are not exported"
            );
        }
        job.snapshot_mut().certificates = Some(admitted.certificates);
        self.publishing.changed();
    }

    /// Logs a failed detail call; one the RAM policy refuses pauses that action for the
    /// whole account (see `Denials`), logged once with what to do.
    fn detail_failed(&mut self, action: Action, job_id: u64, error: ApiError, now: Instant) {
        let enabled = match action {
            Action::ListWorkerResource => self.settings.worker_detail.enabled,
            _ => self.settings.certificate_detail.enabled,
        };
        if !enabled {
            // Turned off by a reload while the call was under way: nothing to say or pause.
            return;
        }
        let code = error.code();
        if !(code.starts_with("Forbidden") || code.starts_with("NoPermission")) {
            self.calls.failed(action, Some(job_id), &error, now);
            return;
        }
        let switch = match action {
            Action::ListWorkerResource => "worker_detail",
            _ => "certificate_detail",
        };
        self.publishing.changed();
        if self.denials.deny(action, now) {
            tracing::warn!(
                account = &*self.account,
                action = action.name(),
                job_id,
                code,
                "the RAM policy of the account refuses {action}: grant yundun-cert:{action} to the \
                 exporter's RAM user or role, or set {switch}: {{enabled: false}}; the counts \
                 are still served, and {action} is tried again in an hour (or at a reload)"
            );
        } else {
            tracing::debug!(
                account = &*self.account,
                action = action.name(),
                code,
                "still refused"
            );
        }
    }

    /// Notes that `action` worked, saying so if it had been refused.
    fn allowed(&mut self, action: Action) {
        if self.denials.allow(action) {
            self.publishing.changed();
            tracing::info!(
                account = &*self.account,
                action = action.name(),
                "the RAM policy of the account allows {action} again"
            );
        }
    }
}
