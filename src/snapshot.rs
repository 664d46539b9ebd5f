//! The state of every job as last polled: an immutable value, replaced whole
//! by the poller and read by scrapes without waiting for anything.

use crate::api::model::DeploymentJobStatus;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// What the exporter knows about one job; the default is a job never polled successfully.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobSnapshot {
    /// Whether the last poll succeeded.
    pub up: bool,
    /// Wall-clock time of the last successful poll.
    pub last_success: Option<SystemTime>,
    /// Monotonic time of the last successful poll, to judge staleness.
    pub last_success_at: Option<Instant>,
    /// The last good values, served while younger than the snapshot's `stale_after`.
    pub values: Option<Arc<DeploymentJobStatus>>,
}

impl JobSnapshot {
    /// The last good values, unless the last success is older than `stale_after` at `now`.
    pub fn fresh_values(
        &self,
        now: Instant,
        stale_after: Duration,
    ) -> Option<&DeploymentJobStatus> {
        let at = self.last_success_at?;
        (now.saturating_duration_since(at) <= stale_after)
            .then_some(self.values.as_deref())
            .flatten()
    }
}

/// Every job's state after a sweep.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Jobs by ID.
    pub jobs: BTreeMap<u64, JobSnapshot>,
    /// Sweeps finished since start; the exporter is ready after the first.
    pub completed_sweeps: u64,
    /// How long values are served after the last successful poll.
    pub stale_after: Duration,
}

/// Holds the current snapshot; one writer swaps it, any number of readers clone the `Arc`.
#[derive(Debug, Default)]
pub struct SnapshotStore {
    current: RwLock<Arc<Snapshot>>,
}

impl SnapshotStore {
    /// The current snapshot.
    pub fn load(&self) -> Arc<Snapshot> {
        // The lock only guards an Arc swap: a poisoned one still holds a whole value.
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Replaces the current snapshot.
    pub fn store(&self, snapshot: Snapshot) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
    }
}
