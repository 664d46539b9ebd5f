//! Which jobs' failed workers are to be listed, and for which counts: a job is
//! listed when its counts differ from those of its last listing, never twice
//! at once, and each job whose workers do not all fit is named once.

use crate::api::model::DeploymentJobStatus;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// The worker listings wanted, under way and done, by job.
#[derive(Debug, Default)]
pub(super) struct WorkerBook {
    queue: VecDeque<u64>,
    jobs: BTreeMap<u64, Entry>,
    /// Jobs whose left-out workers were logged.
    warned: BTreeSet<u64>,
}

#[derive(Debug, Default)]
struct Entry {
    /// The counts the served listing was made for.
    listed_for: Option<Arc<DeploymentJobStatus>>,
    /// The counts of the listing under way.
    pending_for: Option<Arc<DeploymentJobStatus>>,
    queued: bool,
}

impl WorkerBook {
    /// Forgets the jobs not in `wanted`.
    pub(super) fn retain(&mut self, wanted: &BTreeSet<u64>) {
        self.jobs.retain(|id, _| wanted.contains(id));
        self.queue.retain(|id| wanted.contains(id));
        self.warned.retain(|id| wanted.contains(id));
    }

    /// Forgets every listing's counts, so that each job is listed anew (the caps changed).
    pub(super) fn reset(&mut self) {
        self.queue.clear();
        self.warned.clear();
        for entry in self.jobs.values_mut() {
            entry.listed_for = None;
            entry.queued = false;
        }
    }

    /// Whether job `job_id`, now at `counts`, needs a listing that is neither done nor under way.
    pub(super) fn wants(&self, job_id: u64, counts: &DeploymentJobStatus) -> bool {
        self.jobs.get(&job_id).is_none_or(|e| {
            !e.queued && e.pending_for.is_none() && e.listed_for.as_deref() != Some(counts)
        })
    }

    /// Queues job `job_id` for a listing.
    pub(super) fn queue(&mut self, job_id: u64) {
        let entry = self.jobs.entry(job_id).or_default();
        if !entry.queued {
            entry.queued = true;
            self.queue.push_back(job_id);
        }
    }

    /// Whether a queued job waits.
    pub(super) fn has_queued(&self) -> bool {
        !self.queue.is_empty()
    }

    /// The next queued job, taken off the queue.
    pub(super) fn next(&mut self) -> Option<u64> {
        while let Some(id) = self.queue.pop_front() {
            if let Some(entry) = self.jobs.get_mut(&id).filter(|e| e.queued) {
                entry.queued = false;
                return Some(id);
            }
        }
        None
    }

    /// Notes a listing of job `job_id` for `counts` that starts.
    pub(super) fn start(&mut self, job_id: u64, counts: Arc<DeploymentJobStatus>) {
        self.jobs.entry(job_id).or_default().pending_for = Some(counts);
    }

    /// Forgets job `job_id`, whose counts call for no listing: its next change decides anew.
    pub(super) fn forget(&mut self, job_id: u64) {
        self.jobs.remove(&job_id);
        self.warned.remove(&job_id);
    }

    /// Notes that the listing under way for job `job_id` ended: it is what is served
    /// now if it `succeeded`; either way, another may start.
    pub(super) fn ended(&mut self, job_id: u64, succeeded: bool) {
        if let Some(entry) = self.jobs.get_mut(&job_id) {
            let pending = entry.pending_for.take();
            if succeeded {
                entry.listed_for = pending;
            }
        }
    }

    /// Whether job `job_id`'s left-out workers are yet to be logged; they are, from now on.
    pub(super) fn first_warning(&mut self, job_id: u64) -> bool {
        self.warned.insert(job_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(failed: i64) -> Arc<DeploymentJobStatus> {
        Arc::new(DeploymentJobStatus {
            failed_count: Some(failed),
            ..Default::default()
        })
    }

    #[test]
    fn a_job_is_listed_once_per_change_of_its_counts() {
        let mut book = WorkerBook::default();
        assert!(book.wants(1, &counts(2)));
        book.queue(1);
        book.queue(1);
        assert!(!book.wants(1, &counts(2)), "queued already");
        assert_eq!(book.next(), Some(1));
        assert_eq!(book.next(), None, "queued once");
        book.start(1, counts(2));
        assert!(!book.wants(1, &counts(3)), "a listing is under way");
        book.ended(1, true);
        assert!(!book.wants(1, &counts(2)), "listed for these counts");
        assert!(book.wants(1, &counts(3)));
        // A failed listing leaves the last good one's counts: the next change lists again.
        book.start(1, counts(3));
        book.ended(1, false);
        assert!(book.wants(1, &counts(3)));
        book.start(1, counts(3));
        book.ended(1, true);
        book.reset();
        assert!(
            book.wants(1, &counts(3)),
            "after a reset every job is listed anew"
        );
        book.queue(1);
        book.forget(1);
        assert_eq!(book.next(), None, "a forgotten job is no longer queued");
    }

    #[test]
    fn jobs_that_leave_are_forgotten_and_warnings_are_once() {
        let mut book = WorkerBook::default();
        book.queue(1);
        book.queue(2);
        assert!(book.first_warning(2));
        assert!(!book.first_warning(2));
        book.retain(&BTreeSet::from([1]));
        assert!(book.first_warning(2), "a job that came back is named again");
        assert_eq!(book.next(), Some(1));
        assert!(!book.has_queued());
    }
}
