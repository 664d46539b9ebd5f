//! How many failed workers the account's listings hold, and which jobs hold
//! them, kept up to date as each listing changes: the account's budget and the
//! left-out warning read them at every worker listing, and adding them up over
//! every job there cost more than the polls themselves (issue 17).

use std::collections::{BTreeMap, BTreeSet};

/// The workers held by each job whose listing holds any, and their total.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Held {
    by_job: BTreeMap<u64, usize>,
    total: usize,
}

impl Held {
    /// Workers held by all listings.
    pub(super) fn total(&self) -> usize {
        self.total
    }

    /// Notes that job `job_id`'s listing now holds `count` workers (0: none, or no listing).
    pub(super) fn set(&mut self, job_id: u64, count: usize) {
        let before = if count == 0 {
            self.by_job.remove(&job_id)
        } else {
            self.by_job.insert(job_id, count)
        };
        self.total = self.total - before.unwrap_or(0) + count;
    }

    /// Forgets the jobs not in `wanted`.
    pub(super) fn retain(&mut self, wanted: &BTreeSet<u64>) {
        self.by_job.retain(|id, _| wanted.contains(id));
        self.total = self.by_job.values().sum();
    }

    /// Forgets every listing.
    pub(super) fn clear(&mut self) {
        *self = Self::default();
    }

    /// The jobs with workers past `budget` when it is shared in job-ID order (as
    /// `snapshot::share_workers` shares it), each with how many, by job ID.
    /// Only the jobs at the end share in the excess, so only they are looked at.
    pub(super) fn beyond(&self, budget: usize) -> Vec<(u64, usize)> {
        let excess = self.total.saturating_sub(budget);
        let mut beyond = Vec::new();
        let mut after = 0;
        for (&id, &count) in self.by_job.iter().rev() {
            if after >= excess {
                break;
            }
            beyond.push((id, count.min(excess - after)));
            after += count;
        }
        beyond.reverse();
        beyond
    }

    /// Workers held by each job whose listing holds any, for the tests' full recount.
    #[cfg(test)]
    pub(super) fn by_job(&self) -> &BTreeMap<u64, usize> {
        &self.by_job
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::WorkerResource;
    use crate::snapshot::{WorkerListing, share_workers};
    use std::time::SystemTime;

    /// What `share_workers` leaves out of each of `counts` (by job ID 1, 2...) for `budget`.
    fn shared_beyond(counts: &[usize], budget: usize) -> Vec<(u64, usize)> {
        let listings: Vec<WorkerListing> = counts
            .iter()
            .map(|n| WorkerListing {
                workers: vec![WorkerResource::default(); *n],
                left_out: 0,
                listed_at: SystemTime::UNIX_EPOCH,
            })
            .collect();
        let ids = (1..).zip(listings.iter());
        share_workers(ids, budget)
            .map(|(id, listing, shown)| (id, listing.workers.len() - shown))
            .filter(|(_, beyond)| *beyond > 0)
            .collect()
    }

    #[test]
    fn the_jobs_past_the_budget_are_those_share_workers_leaves_out() {
        let counts = [3, 0, 4, 2, 1, 0, 5];
        let mut held = Held::default();
        for (id, n) in (1..).zip(counts) {
            held.set(id, n);
        }
        assert_eq!(held.total(), 15);
        for budget in 0..=17 {
            assert_eq!(
                held.beyond(budget),
                shared_beyond(&counts, budget),
                "budget {budget}"
            );
        }
        assert_eq!(held.beyond(8), [(4, 1), (5, 1), (7, 5)]);
    }

    #[test]
    fn the_total_follows_each_change_and_removal() {
        let mut held = Held::default();
        held.set(1, 3);
        held.set(2, 2);
        held.set(1, 1);
        assert_eq!(held.total(), 3);
        held.set(2, 0);
        assert_eq!((held.total(), held.by_job().len()), (1, 1));
        held.set(3, 4);
        held.retain(&BTreeSet::from([3]));
        assert_eq!(held.total(), 4);
        held.clear();
        assert_eq!(held, Held::default());
    }
}
