//! Which jobs' failed workers are to be listed, and for which plan: a job is
//! listed when the statuses its counts call for (or the cap) differ from those
//! of its last listing, never twice at once, and each job whose workers do not
//! all fit is named once. Each listing carries a ticket, so that an answer
//! outrun by a reload (the job dropped and added again, the detail turned off)
//! is recognised and ignored.

use crate::poller::workers::WorkerPlan;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The worker listings wanted, under way and done, by job.
#[derive(Debug, Default)]
pub(super) struct WorkerBook {
    queue: VecDeque<u64>,
    jobs: BTreeMap<u64, Entry>,
    /// Jobs whose left-out workers were logged.
    warned: BTreeSet<u64>,
    /// Jobs whose last listing the account's budget cut short: listed again when it grows.
    held_back: BTreeSet<u64>,
    /// The last ticket handed out; never reset, so no late answer matches a new listing.
    tickets: u64,
}

#[derive(Debug, Default)]
struct Entry {
    /// The plan the served listing was made for.
    listed_for: Option<WorkerPlan>,
    /// The listing under way: its ticket and plan.
    pending: Option<(u64, WorkerPlan)>,
    /// The budget grew while the listing was under way: list again after it.
    relist_after: bool,
    queued: bool,
}

impl WorkerBook {
    /// Forgets the jobs not in `wanted`.
    pub(super) fn retain(&mut self, wanted: &BTreeSet<u64>) {
        self.jobs.retain(|id, _| wanted.contains(id));
        self.queue.retain(|id| wanted.contains(id));
        self.warned.retain(|id| wanted.contains(id));
        self.held_back.retain(|id| wanted.contains(id));
    }

    /// Forgets every job (the detail was turned off); listings under way are ignored when they end.
    pub(super) fn clear(&mut self) {
        self.jobs.clear();
        self.queue.clear();
        self.warned.clear();
        self.held_back.clear();
    }

    /// Whether job `job_id` needs a listing for `plan` that is neither done nor under way.
    pub(super) fn wants(&self, job_id: u64, plan: &WorkerPlan) -> bool {
        self.jobs
            .get(&job_id)
            .is_none_or(|e| !e.queued && e.pending.is_none() && e.listed_for.as_ref() != Some(plan))
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

    /// Notes that the budget cut job `job_id`'s listing short (`held_back`), or not.
    pub(super) fn held_back(&mut self, job_id: u64, held_back: bool) {
        if held_back {
            self.held_back.insert(job_id);
        } else {
            self.held_back.remove(&job_id);
        }
    }

    /// The jobs the budget held back, each made due for a listing again at its next
    /// chance, whatever its plan (the budget grew: what it could not hold may fit now).
    pub(super) fn release_held_back(&mut self) -> Vec<u64> {
        let held_back = std::mem::take(&mut self.held_back);
        for id in &held_back {
            if let Some(entry) = self.jobs.get_mut(id) {
                entry.listed_for = None;
                entry.relist_after |= entry.pending.is_some();
            }
        }
        held_back.into_iter().collect()
    }

    /// Notes a listing of job `job_id` for `plan` that starts; returns its ticket.
    pub(super) fn start(&mut self, job_id: u64, plan: WorkerPlan) -> u64 {
        self.tickets += 1;
        self.jobs.entry(job_id).or_default().pending = Some((self.tickets, plan));
        self.tickets
    }

    /// Forgets job `job_id`, whose counts call for no listing: its next change decides anew.
    pub(super) fn forget(&mut self, job_id: u64) {
        self.jobs.remove(&job_id);
        self.warned.remove(&job_id);
        self.held_back.remove(&job_id);
    }

    /// Notes that the listing with `ticket` of job `job_id` ended, and whether it is
    /// still the one under way (else it is to be ignored). If it `succeeded`, its plan
    /// is what is served now; either way, another may start.
    pub(super) fn ended(&mut self, job_id: u64, ticket: u64, succeeded: bool) -> bool {
        let Some(entry) = self.jobs.get_mut(&job_id) else {
            return false;
        };
        let Some((_, plan)) = entry.pending.take_if(|(t, _)| *t == ticket) else {
            return false;
        };
        if succeeded && !std::mem::take(&mut entry.relist_after) {
            entry.listed_for = Some(plan);
        }
        true
    }

    /// Whether job `job_id`'s left-out workers are yet to be logged; they are, from now on.
    pub(super) fn first_warning(&mut self, job_id: u64) -> bool {
        self.warned.insert(job_id)
    }

    /// The jobs whose left-out workers were logged, for the tests' checks.
    #[cfg(test)]
    pub(super) fn warned(&self) -> &BTreeSet<u64> {
        &self.warned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::DeploymentJobStatus;

    fn plan(failed: i64, cap: usize) -> WorkerPlan {
        let counts = DeploymentJobStatus {
            failed_count: Some(failed),
            ..Default::default()
        };
        WorkerPlan::for_counts(&counts, cap).unwrap()
    }

    #[test]
    fn a_job_is_listed_once_per_change_of_its_plan() {
        let mut book = WorkerBook::default();
        assert!(book.wants(1, &plan(2, 50)));
        book.queue(1);
        book.queue(1);
        assert!(!book.wants(1, &plan(2, 50)), "queued already");
        assert_eq!(book.next(), Some(1));
        assert_eq!(book.next(), None, "queued once");
        let ticket = book.start(1, plan(2, 50));
        assert!(!book.wants(1, &plan(3, 50)), "a listing is under way");
        assert!(book.ended(1, ticket, true));
        assert!(!book.wants(1, &plan(2, 50)), "listed for this plan");
        assert!(book.wants(1, &plan(3, 50)));
        assert!(book.wants(1, &plan(2, 20)), "a new cap lists again");
        // A failed listing leaves the last good plan: the next change lists again.
        let ticket = book.start(1, plan(3, 50));
        assert!(book.ended(1, ticket, false));
        assert!(book.wants(1, &plan(3, 50)));
        book.queue(1);
        book.forget(1);
        assert_eq!(book.next(), None, "a forgotten job is no longer queued");
    }

    #[test]
    fn an_answer_outrun_by_a_reload_is_recognised() {
        let mut book = WorkerBook::default();
        let old = book.start(1, plan(2, 50));
        // The job leaves and comes back while its listing is under way: a second starts.
        book.retain(&BTreeSet::new());
        assert!(book.wants(1, &plan(2, 50)));
        let new = book.start(1, plan(2, 50));
        assert!(!book.ended(1, old, true), "the first answer is stale");
        assert!(
            !book.wants(1, &plan(2, 50)),
            "the second is still under way"
        );
        assert!(book.ended(1, new, true));
        assert!(!book.wants(1, &plan(2, 50)));
        let late = book.start(1, plan(4, 50));
        book.clear();
        assert!(!book.ended(1, late, true), "turned off meanwhile");
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
