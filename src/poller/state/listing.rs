//! How a discovery listing changes the state: which listed jobs are kept,
//! when the next listing comes, and whether listings work.

use super::{LISTING_RETRY, MAX_REPORTED_INVALID_IDS, State};
use crate::api::Action;
use crate::api::model::DeploymentJob;
use crate::config::Discovery;
use crate::poller::call::Failure;
use crate::poller::discovery;
use crate::poller::log::warn_implausible;
use crate::snapshot::DiscoveryHealth;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::time::Instant;

impl State {
    /// Takes in the listed jobs, or the listing's failure (tried again soon).
    pub(super) fn listed(
        &mut self,
        result: Result<(Vec<DeploymentJob>, SystemTime), Failure>,
        now: Instant,
    ) {
        self.readiness.listed();
        let Some(discovery) = self.settings.discovery.clone() else {
            self.check_first_sweep();
            return;
        };
        let before = self.listing_health;
        match result {
            Ok((listed, wall)) => {
                self.listing_health = DiscoveryHealth {
                    up: true,
                    last_success: Some(wall),
                };
                self.discovered = self.admit_listed(listed, &discovery);
                self.retire_listed(wall);
                self.next_listing = Some(now + discovery.refresh_interval);
                tracing::debug!(
                    account = &*self.account,
                    jobs = self.discovered.len(),
                    "discovery listed the account's jobs"
                );
                self.sync_jobs(now);
            }
            Err(failure) => {
                // A listing cut short is refused whole (see `discovery::list_all`): a failure too.
                self.listing_health.up = false;
                self.calls.failed(
                    Action::ListDeploymentJob,
                    None,
                    &failure.into_error("listing"),
                    now,
                );
                self.next_listing = Some(now + discovery.refresh_interval.min(LISTING_RETRY));
            }
        }
        if self.listing_health != before {
            self.publishing.changed();
        }
        self.check_first_sweep();
    }

    /// The listed jobs discovery keeps, by ID: those its filters accept whose ID
    /// follows the job-ID rule (the others are skipped, each reason logged once),
    /// implausible times left out (logged when they change what is known).
    pub(super) fn admit_listed(
        &mut self,
        listed: Vec<DeploymentJob>,
        discovery: &Discovery,
    ) -> BTreeMap<u64, Arc<DeploymentJob>> {
        let mut admitted = BTreeMap::new();
        let mut skipped = 0_usize;
        for mut job in listed
            .into_iter()
            .filter(|job| discovery::accepts(discovery, job))
        {
            let id = match job.id.clone() {
                Some(Ok(id)) => id,
                invalid => {
                    skipped += 1;
                    let reason = match invalid {
                        Some(Err(error)) => error.to_string(),
                        _ => "the entry has no job ID".to_owned(),
                    };
                    if self.reported_invalid_ids.len() < MAX_REPORTED_INVALID_IDS
                        && self.reported_invalid_ids.insert(reason.clone())
                    {
                        tracing::warn!(
                            account = &*self.account,
                            action = Action::ListDeploymentJob.name(),
                            name = job.name.as_deref().unwrap_or("-"),
                            "discovery skips a listed job: {reason}; it is not polled \
                             (report this: the API should only list valid job IDs)"
                        );
                    }
                    continue;
                }
            };
            let implausible = job.drop_implausible();
            let known = self.discovered.get(&id).map(|j| &**j);
            if !implausible.is_empty() && known != Some(&job) {
                warn_implausible(&self.account, Action::ListDeploymentJob, id, &implausible);
            }
            admitted.insert(id, Arc::new(job));
        }
        if skipped > 0 {
            tracing::debug!(
                account = &*self.account,
                skipped,
                "discovery skipped listed jobs without a valid job ID"
            );
        }
        admitted
    }
}
