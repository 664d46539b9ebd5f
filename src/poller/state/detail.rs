//! How answers about a job's details change the state: its failed workers
//! (listed when its counts change), its certificates, and its retirement once
//! it finished long enough ago.

use super::State;
use super::retire::{cutoff, finished_before};
use crate::api::Action;
use crate::api::model::JobCertificates;
use crate::poller::call::Failure;
use crate::poller::certificates::{MAX_CERTS_PER_JOB, admit};
use crate::poller::log::log_failure;
use crate::poller::workers::WorkerPlan;
use crate::snapshot::{JobSource, WorkerListing, share_workers};
use std::collections::BTreeSet;
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

    /// Queues job `job_id`'s failed workers for a listing if its counts changed since the last.
    pub(super) fn want_workers(&mut self, job_id: u64) {
        if !self.settings.worker_detail.enabled {
            return;
        }
        let Some(counts) = self
            .jobs
            .get(&job_id)
            .and_then(|j| j.snapshot.values.clone())
        else {
            return;
        };
        if !self.workers.wants(job_id, &counts) {
            return;
        }
        if WorkerPlan::for_counts(&counts, self.settings.worker_detail.max_per_job).is_some() {
            self.workers.queue(job_id);
        } else {
            self.nothing_failed(job_id);
        }
    }

    /// Drops job `job_id`'s listing: its counts put no worker in a problem status, so
    /// there is nothing to list, and nothing to keep (most jobs: no allocation each).
    pub(super) fn nothing_failed(&mut self, job_id: u64) {
        self.workers.forget(job_id);
        if let Some(job) = self.jobs.get_mut(&job_id)
            && job.snapshot.workers.is_some()
        {
            job.snapshot_mut().workers = None;
            self.publishing.changed();
        }
    }

    /// Takes in a listing of job `job_id`'s failed workers, or its failure (the last listing stays).
    pub(super) fn workers_listed(&mut self, job_id: u64, result: Result<WorkerListing, Failure>) {
        self.workers.ended(job_id, result.is_ok());
        match result {
            Ok(listing) => {
                if self.settings.worker_detail.enabled {
                    self.set_workers(job_id, listing);
                    self.warn_left_out(job_id);
                }
                // The counts may have changed while the listing was under way.
                self.want_workers(job_id);
            }
            // Tried again when the next poll comes, not at once: a failing API is not hammered.
            Err(failure) => log_failure(
                &self.account,
                Action::ListWorkerResource,
                Some(job_id),
                &failure.into_error("worker listing"),
            ),
        }
    }

    pub(super) fn set_workers(&mut self, job_id: u64, listing: WorkerListing) {
        if let Some(job) = self.jobs.get_mut(&job_id) {
            job.snapshot_mut().workers = Some(Arc::new(listing));
            self.publishing.changed();
        }
    }

    /// Names job `job_id` once in the log when some of its failed workers are not served.
    pub(super) fn warn_left_out(&mut self, job_id: u64) {
        let listings = self
            .jobs
            .iter()
            .filter_map(|(id, job)| Some((*id, job.snapshot.workers.as_deref()?)));
        let detail = self.settings.worker_detail;
        let Some((_, listing, shown)) =
            share_workers(listings, detail.max_per_account).find(|(id, _, _)| *id == job_id)
        else {
            return;
        };
        let left_out = listing.left_out + (listing.workers.len() - shown) as u64;
        if left_out > 0 && self.workers.first_warning(job_id) {
            tracing::warn!(
                account = &*self.account,
                job_id,
                left_out,
                max_per_job = detail.max_per_job,
                max_per_account = detail.max_per_account,
                "the job has more failed or rolled-back workers than worker_detail lets the \
                 exporter serve; aliyun_cas_deployment_job_unlisted_workers counts the \
                 rest (raise worker_detail.max_per_job or max_per_account to see them)"
            );
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
                log_failure(
                    &self.account,
                    Action::ListDeploymentJobCert,
                    Some(job_id),
                    &failure.into_error("certificate listing"),
                );
                return;
            }
        };
        let admitted = admit(listed);
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        if job.snapshot.certificates.as_deref() == Some(&*admitted.certificates) {
            return;
        }
        for refused in &admitted.refused {
            tracing::warn!(account = &*self.account, job_id, "{refused}");
        }
        if admitted.skipped > 0 {
            tracing::warn!(
                account = &*self.account,
                job_id,
                skipped = admitted.skipped,
                kept = MAX_CERTS_PER_JOB,
                "ListDeploymentJobCert listed certificates without a usable CertId, or more \
                 than the exporter keeps per job; those are not exported"
            );
        }
        job.snapshot_mut().certificates = Some(admitted.certificates);
        self.publishing.changed();
    }
}
