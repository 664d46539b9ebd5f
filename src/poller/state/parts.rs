//! The parts of a poller's state that keep account of its progress rather than
//! of its jobs: readiness, sweep timing, calls under way, publishing.

use crate::api::{Action, PerAction};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::time::Instant;

/// Results are published at most this often.
const PUBLISH_EVERY: Duration = Duration::from_millis(200);
/// How long a detail action the RAM policy refused is left alone before it is tried again.
pub(super) const DENIED_PAUSE: Duration = Duration::from_secs(3600);

/// Whether the account is ready: every job polled once, and the jobs listed once
/// where discovery is configured.
#[derive(Debug, Default)]
pub(super) struct Readiness {
    /// Jobs not yet polled since they came, while the first sweep is under way.
    awaiting_first: BTreeSet<u64>,
    listed_once: bool,
    first_sweep_done: bool,
}

impl Readiness {
    /// Whether the first sweep is done; it stays done.
    pub(super) fn done(&self) -> bool {
        self.first_sweep_done
    }

    /// Counts `job_id`, new to the account, in the first sweep unless that is done.
    pub(super) fn expect(&mut self, job_id: u64) {
        if !self.first_sweep_done {
            self.awaiting_first.insert(job_id);
        }
    }

    /// Waits for none of the jobs not in `wanted`.
    pub(super) fn retain(&mut self, wanted: &BTreeSet<u64>) {
        self.awaiting_first.retain(|id| wanted.contains(id));
    }

    /// Notes that `job_id` was polled, successfully or not.
    pub(super) fn polled(&mut self, job_id: u64) {
        self.awaiting_first.remove(&job_id);
    }

    /// Notes that a listing ended, successfully or not.
    pub(super) fn listed(&mut self) {
        self.listed_once = true;
    }

    /// Whether the first sweep just finished, now that every job was polled (and,
    /// when `listing_wanted`, the jobs listed).
    pub(super) fn finish(&mut self, listing_wanted: bool) -> bool {
        let listing_done = !listing_wanted || self.listed_once;
        let finished = !self.first_sweep_done && listing_done && self.awaiting_first.is_empty();
        self.first_sweep_done |= finished;
        finished
    }
}

/// How long a pass over the jobs that are not settled takes.
#[derive(Debug, Default)]
pub(super) struct SweepClock {
    round_started: Option<Instant>,
    /// Jobs the round under way has yet to poll.
    round_remaining: BTreeSet<u64>,
    sweep_duration: Option<Duration>,
}

impl SweepClock {
    /// How long the last finished round took.
    pub(super) fn duration(&self) -> Option<Duration> {
        self.sweep_duration
    }

    /// Whether a round is under way.
    pub(super) fn under_way(&self) -> bool {
        self.round_started.is_some()
    }

    /// Starts a round over `active` at `now`, unless one is under way.
    pub(super) fn start(&mut self, now: Instant, active: impl IntoIterator<Item = u64>) {
        if !self.under_way() {
            self.round_started = Some(now);
            self.round_remaining = active.into_iter().collect();
        }
    }

    /// Waits for none of the jobs not in `wanted`; the round ends if it waited for them only.
    pub(super) fn retain(&mut self, wanted: &BTreeSet<u64>, now: Instant) {
        self.round_remaining.retain(|id| wanted.contains(id));
        self.end_if_complete(now);
    }

    /// Notes that `job_id` was polled; the round ends if it was the last.
    pub(super) fn polled(&mut self, job_id: u64, now: Instant) {
        self.round_remaining.remove(&job_id);
        self.end_if_complete(now);
    }

    fn end_if_complete(&mut self, now: Instant) {
        if let Some(started) = self.round_started
            && self.round_remaining.is_empty()
        {
            self.sweep_duration = Some(now - started);
            self.round_started = None;
        }
    }
}

/// How many calls of each action are under way.
#[derive(Debug)]
pub(super) struct InFlight(PerAction<usize>);

impl Default for InFlight {
    fn default() -> Self {
        Self(PerAction::from_fn(|_| 0))
    }
}

impl InFlight {
    /// Whether fewer than `limit` calls of `action` are under way.
    pub(super) fn below(&self, action: Action, limit: usize) -> bool {
        self.0[action] < limit
    }

    /// Counts a call of `action` that starts.
    pub(super) fn start(&mut self, action: Action) {
        self.0[action] += 1;
    }

    /// Counts a call of `action` that ended.
    pub(super) fn end(&mut self, action: Action) {
        self.0[action] -= 1;
    }
}

/// Whether there is something new to publish, and when it may be.
#[derive(Debug)]
pub(super) struct Publishing {
    dirty: bool,
    last_publish: Option<Instant>,
}

impl Default for Publishing {
    /// Nothing published yet: the first snapshot is due at once.
    fn default() -> Self {
        Self {
            dirty: true,
            last_publish: None,
        }
    }
}

impl Publishing {
    /// Notes that the snapshot changed.
    pub(super) fn changed(&mut self) {
        self.dirty = true;
    }

    /// Whether something changed since the last publish.
    pub(super) fn pending(&self) -> bool {
        self.dirty
    }

    /// Whether to publish now: something changed and the last publish is
    /// [`PUBLISH_EVERY`] ago. Even when no call is under way: a publish copies
    /// every job (about 0.4 ms at 10,000), and with polls spaced wider than a
    /// call lasts, publishing whenever idle would pay that at nearly every poll.
    pub(super) fn due(&self, now: Instant) -> bool {
        self.pending() && self.last_publish.is_none_or(|t| now >= t + PUBLISH_EVERY)
    }

    /// Notes a publish at `now`.
    pub(super) fn published(&mut self, now: Instant) {
        self.dirty = false;
        self.last_publish = Some(now);
    }

    /// When to publish next at the latest, if anything changed.
    pub(super) fn next(&self, now: Instant) -> Option<Instant> {
        self.pending()
            .then(|| self.last_publish.map_or(now, |t| t + PUBLISH_EVERY))
    }
}

/// The detail actions (worker and certificate listings) the account's RAM policy
/// refuses: not called again for [`DENIED_PAUSE`], so that a policy without them
/// costs one call and one log line an hour, not one per job.
#[derive(Debug)]
pub(super) struct Denials(PerAction<Option<Instant>>);

impl Default for Denials {
    fn default() -> Self {
        Self(PerAction::from_fn(|_| None))
    }
}

impl Denials {
    /// Whether calls of `action` may be made at `now`.
    pub(super) fn allows(&self, action: Action, now: Instant) -> bool {
        self.0[action].is_none_or(|until| now >= until)
    }

    /// When calls of `action` may be made again, while they are refused.
    pub(super) fn until(&self, action: Action) -> Option<Instant> {
        self.0[action]
    }

    /// Notes that `action` was refused at `now`; true the first time since it last worked.
    pub(super) fn deny(&mut self, action: Action, now: Instant) -> bool {
        self.0[action].replace(now + DENIED_PAUSE).is_none()
    }

    /// Notes that `action` worked; true if it had been refused.
    pub(super) fn allow(&mut self, action: Action) -> bool {
        self.0[action].take().is_some()
    }

    /// Forgets every refusal (a reload may bring new credentials or settings).
    pub(super) fn clear(&mut self) {
        *self = Self::default();
    }
}
