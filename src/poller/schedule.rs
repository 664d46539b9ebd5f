//! When each job is next due. Every job owns a phase within the interval, so
//! polls are spread evenly over it rather than bunched at its start; a job
//! new to the schedule is due at once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;

/// Due times of a set of jobs that repeat every `interval`.
#[derive(Debug)]
pub struct Schedule {
    interval: Duration,
    epoch: Instant,
    /// Phase within the interval, and the due time (`None` while the job is being polled).
    plans: BTreeMap<u64, (Duration, Option<Instant>)>,
    queue: BTreeSet<(Instant, u64)>,
}

impl Schedule {
    /// An empty schedule whose slots count from `epoch`.
    pub fn new(interval: Duration, epoch: Instant) -> Self {
        Self {
            interval,
            epoch,
            plans: BTreeMap::new(),
            queue: BTreeSet::new(),
        }
    }

    /// Changes the interval; phases are spread anew, and a job due later than its
    /// next slot under the new interval is brought forward to it.
    pub fn set_interval(&mut self, interval: Duration, now: Instant) {
        self.interval = interval;
        self.spread();
        let slots: Vec<(u64, Instant)> = self
            .plans
            .iter()
            .map(|(id, (phase, _))| (*id, next_slot(self.epoch + *phase, interval, now)))
            .collect();
        for (id, slot) in slots {
            self.bring_forward(id, slot);
        }
    }

    /// Moves `id`'s due time to `latest` if it waits for later (not while it is being polled).
    pub fn bring_forward(&mut self, id: u64, latest: Instant) {
        if let Some(plan) = self.plans.get_mut(&id)
            && let Some(due) = plan.1
            && due > latest
        {
            self.queue.remove(&(due, id));
            self.queue.insert((latest, id));
            plan.1 = Some(latest);
        }
    }

    /// Makes `ids` the scheduled jobs: new ones are due `now`, missing ones are dropped.
    pub fn set_jobs(&mut self, ids: &BTreeSet<u64>, now: Instant) {
        let gone: Vec<u64> = self
            .plans
            .keys()
            .filter(|id| !ids.contains(id))
            .copied()
            .collect();
        for id in gone {
            if let Some((_, Some(due))) = self.plans.remove(&id) {
                self.queue.remove(&(due, id));
            }
        }
        for &id in ids {
            if let std::collections::btree_map::Entry::Vacant(entry) = self.plans.entry(id) {
                entry.insert((Duration::ZERO, Some(now)));
                self.queue.insert((now, id));
            }
        }
        self.spread();
    }

    /// Phases `i × interval / n` in ID order.
    fn spread(&mut self) {
        let n = self.plans.len().max(1) as u32;
        let step = self.interval / n;
        for (i, plan) in self.plans.values_mut().enumerate() {
            plan.0 = step * i as u32;
        }
    }

    /// The earliest due time, if any job waits.
    pub fn next_due(&self) -> Option<Instant> {
        self.queue.first().map(|(due, _)| *due)
    }

    /// Takes the earliest job due by `now`; it stays out of the queue until rescheduled.
    pub fn take_due(&mut self, now: Instant) -> Option<u64> {
        let &(due, id) = self.queue.first().filter(|(due, _)| *due <= now)?;
        self.queue.remove(&(due, id));
        if let Some(plan) = self.plans.get_mut(&id) {
            plan.1 = None;
        }
        Some(id)
    }

    /// Schedules `id` again after a poll ending at `now`: after `wait` when given,
    /// otherwise at the phase slot nearest to one interval from now (so a job
    /// realigns to its phase without being polled twice within an interval).
    pub fn reschedule(&mut self, id: u64, now: Instant, wait: Option<Duration>) {
        let Some(plan) = self.plans.get_mut(&id) else {
            return;
        };
        if let Some(due) = plan.1.take() {
            self.queue.remove(&(due, id));
        }
        let due = match wait {
            Some(wait) => now + wait,
            None => next_slot(self.epoch + plan.0, self.interval, now + self.interval / 2),
        };
        plan.1 = Some(due);
        self.queue.insert((due, id));
    }

    /// Brings `id` forward to `now` if it waits for later.
    pub fn hurry(&mut self, id: u64, now: Instant) {
        self.bring_forward(id, now);
    }
}

/// The first `start + k × interval` strictly after `now`.
fn next_slot(start: Instant, interval: Duration, now: Instant) -> Instant {
    if now < start {
        return start;
    }
    let periods = (now - start).as_nanos() / interval.as_nanos().max(1) + 1;
    start + interval * u32::try_from(periods).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn ids(list: &[u64]) -> BTreeSet<u64> {
        list.iter().copied().collect()
    }

    fn drain(schedule: &mut Schedule, now: Instant) -> Vec<u64> {
        std::iter::from_fn(|| schedule.take_due(now)).collect()
    }

    #[test]
    fn new_jobs_are_due_at_once_then_spread_over_the_interval() {
        let t0 = Instant::now();
        let mut s = Schedule::new(MINUTE, t0);
        s.set_jobs(&ids(&[30, 10, 20]), t0);
        assert_eq!(drain(&mut s, t0), vec![10, 20, 30]);
        assert_eq!(s.next_due(), None);
        let done = t0 + Duration::from_secs(1);
        for id in [10, 20, 30] {
            s.reschedule(id, done, None);
        }
        // Phases 0, 20 and 40 s: the slots nearest to 61 s (after 31 s) are 40 s, 60 s and 80 s.
        assert_eq!(s.take_due(t0 + Duration::from_secs(39)), None);
        assert_eq!(drain(&mut s, t0 + Duration::from_secs(40)), vec![30]);
        assert_eq!(drain(&mut s, t0 + MINUTE), vec![10]);
        assert_eq!(s.next_due(), Some(t0 + Duration::from_secs(80)));
        // In step, each job comes back exactly one interval later.
        s.reschedule(30, t0 + Duration::from_secs(40), None);
        assert!(s.queue.contains(&(t0 + Duration::from_secs(100), 30)));
    }

    #[test]
    fn waits_removals_and_hurries() {
        let t0 = Instant::now();
        let mut s = Schedule::new(MINUTE, t0);
        s.set_jobs(&ids(&[1, 2]), t0);
        assert_eq!(drain(&mut s, t0), vec![1, 2]);
        s.reschedule(1, t0, Some(Duration::from_secs(600)));
        s.reschedule(2, t0, None);
        assert_eq!(
            s.next_due(),
            Some(t0 + Duration::from_secs(90)),
            "phase 30 s, nearest to 60 s"
        );
        s.hurry(1, t0 + Duration::from_secs(5));
        s.hurry(1, t0 + Duration::from_secs(8));
        assert_eq!(s.next_due(), Some(t0 + Duration::from_secs(5)));
        s.set_jobs(&ids(&[2, 3]), t0 + Duration::from_secs(6));
        assert_eq!(
            drain(&mut s, t0 + Duration::from_secs(10)),
            vec![3],
            "1 is gone, 3 is new"
        );
        s.reschedule(1, t0, None);
        assert_eq!(
            s.next_due(),
            Some(t0 + Duration::from_secs(90)),
            "rescheduling a removed job does nothing"
        );
    }

    #[test]
    fn a_shorter_interval_brings_waiting_jobs_forward() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Duration::from_secs(3600), t0);
        s.set_jobs(&ids(&[1, 2]), t0);
        assert_eq!(drain(&mut s, t0), vec![1, 2]);
        s.reschedule(1, t0, None);
        s.reschedule(2, t0, None);
        assert_eq!(s.next_due(), Some(t0 + Duration::from_secs(3600)));
        let now = t0 + Duration::from_secs(5);
        s.set_interval(MINUTE, now);
        // Phases 0 and 30 s under the new interval: slots after 5 s are 30 s and 60 s.
        assert_eq!(drain(&mut s, t0 + Duration::from_secs(30)), vec![2]);
        assert_eq!(s.next_due(), Some(t0 + MINUTE));
        s.set_interval(Duration::from_secs(3600), now);
        assert_eq!(
            s.next_due(),
            Some(t0 + MINUTE),
            "a longer interval waits for the job's next poll"
        );
    }

    #[test]
    fn slots_skip_what_is_already_past() {
        let t0 = Instant::now();
        assert_eq!(next_slot(t0 + MINUTE, MINUTE, t0), t0 + MINUTE);
        assert_eq!(next_slot(t0, MINUTE, t0), t0 + MINUTE);
        assert_eq!(
            next_slot(t0, MINUTE, t0 + Duration::from_secs(150)),
            t0 + Duration::from_secs(180)
        );
    }
}
