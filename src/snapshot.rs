//! The state of every job as last polled: per account an immutable value,
//! replaced whole by that account's poller and read by scrapes without
//! waiting for anything.

use crate::api::Action;
use crate::api::model::{DeploymentJob, DeploymentJobStatus, JobCertificate, WorkerResource};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// How the exporter learned of a job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum JobSource {
    /// Listed by ID in the configuration.
    #[default]
    Static,
    /// Found by discovery (ListDeploymentJob).
    Discovered,
}

impl JobSource {
    /// The `source` label.
    pub fn as_str(self) -> &'static str {
        match self {
            JobSource::Static => "static",
            JobSource::Discovered => "discovered",
        }
    }
}

/// What the exporter knows about one job; the default is a job never polled successfully.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobSnapshot {
    /// How the job came to be polled.
    pub source: JobSource,
    /// Whether the last poll succeeded.
    pub up: bool,
    /// Wall-clock time of the last successful poll.
    pub last_success: Option<SystemTime>,
    /// Until when the last good values are served.
    pub stale_at: Option<Instant>,
    /// The last good values.
    pub values: Option<Arc<DeploymentJobStatus>>,
    /// Name, type, status and times, from ListDeploymentJob or DescribeDeploymentJob.
    pub info: Option<Arc<DeploymentJob>>,
    /// The worker tasks that failed or were rolled back, as last listed.
    pub workers: Option<Arc<WorkerListing>>,
    /// The certificates the job deploys, as last listed (distinct IDs).
    pub certificates: Option<Arc<[JobCertificate]>>,
}

/// The worker tasks of one job that failed or were rolled back, as last listed.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerListing {
    /// At most `worker_detail.max_per_job` workers with distinct worker IDs, the worst status first.
    pub workers: Vec<WorkerResource>,
    /// Workers in those statuses beyond the per-job cap, or without a usable worker ID.
    pub left_out: u64,
    /// When the listing was made; a job without failed workers needs no call, but gets a listing too.
    pub listed_at: SystemTime,
}

/// Shares `budget` worker series among `listings`, in the order given (by job
/// ID): each takes what it has, as long as the budget lasts. Yields each
/// listing with how many of its workers are served.
pub fn share_workers<'a>(
    listings: impl Iterator<Item = (u64, &'a WorkerListing)>,
    budget: usize,
) -> impl Iterator<Item = (u64, &'a WorkerListing, usize)> {
    listings.scan(budget, |left, (id, listing)| {
        let shown = listing.workers.len().min(*left);
        *left -= shown;
        Some((id, listing, shown))
    })
}

impl JobSnapshot {
    /// The last good values: always while the last poll succeeded (a poll still
    /// retrying does not hide them), after a failure only until `stale_at`.
    pub fn fresh_values(&self, now: Instant) -> Option<&DeploymentJobStatus> {
        let fresh = self.up || self.stale_at.is_some_and(|stale_at| now <= stale_at);
        fresh.then_some(self.values.as_deref()).flatten()
    }
}

/// One account's jobs as last published by its poller.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountSnapshot {
    /// Jobs by ID.
    pub jobs: BTreeMap<u64, Arc<JobSnapshot>>,
    /// Whether every job known at start has been polled once.
    pub first_sweep_done: bool,
    /// How long the last full pass over the account's jobs took.
    pub sweep_duration: Option<Duration>,
    /// The most worker series the account serves (`worker_detail.max_per_account`).
    pub max_workers: usize,
    /// Discovered jobs retired after they finished, still listed by the API.
    pub retired_jobs: usize,
    /// The detail actions the account's RAM policy refuses, paused for now.
    pub refused: Vec<Action>,
    /// How the account's discovery listings went; `None` when it has no discovery.
    pub discovery: Option<DiscoveryHealth>,
}

/// How an account's discovery listings (ListDeploymentJob, every page) went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiscoveryHealth {
    /// Whether the last listing to end got every page; false before the first ends.
    pub up: bool,
    /// Wall-clock time the last complete listing ended; kept through later failures.
    pub last_success: Option<SystemTime>,
}

/// Holds each account's current snapshot; pollers swap their own, scrapes read them all.
#[derive(Debug, Default)]
pub struct SnapshotStore {
    accounts: RwLock<BTreeMap<Arc<str>, Arc<AccountSnapshot>>>,
    ready: AtomicBool,
    /// Counts changes, so that what was rendered from a snapshot can be reused until the next.
    generation: AtomicU64,
}

impl SnapshotStore {
    /// Every account's snapshot and the generation they make up, read together: the
    /// self-metrics sent with what is rendered from them are chosen by that generation
    /// (a poll's calls are counted before its snapshot is published), so it must be
    /// theirs exactly, not one read before a publish that they include.
    pub fn load_with_generation(&self) -> (u64, BTreeMap<Arc<str>, Arc<AccountSnapshot>>) {
        // Publishes and removals move the generation while they hold the write lock.
        let accounts = self.accounts.read().unwrap_or_else(|e| e.into_inner());
        (self.generation(), accounts.clone())
    }

    /// Replaces `account`'s snapshot; the first time every account has swept once, the store turns ready.
    pub fn publish(&self, account: &Arc<str>, snapshot: AccountSnapshot) {
        let mut accounts = self.accounts.write().unwrap_or_else(|e| e.into_inner());
        accounts.insert(Arc::clone(account), Arc::new(snapshot));
        self.generation.fetch_add(1, Ordering::AcqRel);
        if !accounts.is_empty() && accounts.values().all(|a| a.first_sweep_done) {
            self.ready.store(true, Ordering::Release);
        }
    }

    /// Forgets `account` (removed by a reload): its series disappear.
    pub fn remove(&self, account: &str) {
        let mut accounts = self.accounts.write().unwrap_or_else(|e| e.into_inner());
        accounts.remove(account);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Changes so far; equal values mean the same snapshots.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// True once every account present at start finished its first sweep; stays true after.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_once_every_account_swept_and_for_good() {
        let store = SnapshotStore::default();
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        store.publish(&a, AccountSnapshot::default());
        store.publish(&b, AccountSnapshot::default());
        assert!(!store.is_ready());
        let done = AccountSnapshot {
            first_sweep_done: true,
            ..Default::default()
        };
        store.publish(&a, done.clone());
        assert!(!store.is_ready());
        store.publish(&b, done);
        assert!(store.is_ready());
        store.publish(&"c".into(), AccountSnapshot::default());
        assert!(
            store.is_ready(),
            "an account added later does not take readiness away"
        );
        store.remove("c");
        assert_eq!(
            store
                .load_with_generation()
                .1
                .keys()
                .map(|k| k.to_string())
                .collect::<Vec<_>>(),
            vec!["a", "b"]
        );
    }

    #[test]
    fn snapshots_come_with_their_own_generation_while_publishes_go_on() {
        let store = SnapshotStore::default();
        let account: Arc<str> = "a".into();
        const PUBLISHES: usize = 100_000;
        std::thread::scope(|scope| {
            scope.spawn(|| {
                // Publish number i is the i-th change: generation i, and it says i.
                for i in 1..=PUBLISHES {
                    let snapshot = AccountSnapshot {
                        retired_jobs: i,
                        ..Default::default()
                    };
                    store.publish(&account, snapshot);
                }
            });
            loop {
                let (generation, accounts) = store.load_with_generation();
                let says = accounts.get("a").map_or(0, |a| a.retired_jobs);
                assert_eq!(generation, says as u64);
                if says == PUBLISHES {
                    break;
                }
            }
        });
    }

    #[test]
    fn worker_series_are_shared_in_job_order_until_the_budget_is_spent() {
        let listing = |n: usize| WorkerListing {
            workers: vec![WorkerResource::default(); n],
            left_out: 0,
            listed_at: SystemTime::UNIX_EPOCH,
        };
        let (a, b, c) = (listing(3), listing(4), listing(2));
        let shares: Vec<(u64, usize)> = share_workers([(1, &a), (2, &b), (3, &c)].into_iter(), 5)
            .map(|(id, _, shown)| (id, shown))
            .collect();
        assert_eq!(shares, [(1, 3), (2, 2), (3, 0)]);
    }

    #[test]
    fn values_are_served_until_stale_at() {
        let now = Instant::now();
        let job = JobSnapshot {
            stale_at: Some(now),
            values: Some(Arc::new(DeploymentJobStatus::default())),
            ..Default::default()
        };
        assert!(job.fresh_values(now).is_some());
        assert!(job.fresh_values(now + Duration::from_nanos(1)).is_none());
        let up = JobSnapshot { up: true, ..job };
        assert!(
            up.fresh_values(now + Duration::from_secs(3600)).is_some(),
            "the last poll succeeded: a retrying poll does not hide its values"
        );
        assert!(JobSnapshot::default().fresh_values(now).is_none());
    }
}
