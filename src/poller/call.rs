//! The calls the poller makes in the background, each in a task of its own, and
//! what comes back: an answer, a failure, or a task that ended without either.

use super::caller::Caller;
use super::discovery;
use super::workers::{WorkerPlan, list_problem_workers};
use crate::api::model::{DeploymentJob, DeploymentJobStatus, JobCertificates};
use crate::api::{Action, ApiError};
use crate::snapshot::WorkerListing;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::task::{Id, JoinSet};

/// A call the poller makes in the background.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Call {
    /// A job's counts: the poll.
    Poll(u64),
    /// A job's details.
    Describe(u64),
    /// Every job of the account, page by page: discovery.
    Listing,
    /// A job's failed and rolled-back workers, as its counts put them, with the
    /// listing's ticket (see `WorkerBook`).
    Workers(u64, WorkerPlan, u64),
    /// A job's certificates.
    Certificates(u64),
}

/// What a call answered, with the job it is about.
#[derive(Debug)]
pub(super) enum Answer {
    /// A job's counts, and when they came.
    Status(u64, DeploymentJobStatus, SystemTime),
    /// A job's details.
    Job(u64, DeploymentJob),
    /// Every job listed, and when.
    Jobs(Vec<DeploymentJob>, SystemTime),
    /// A job's failed and rolled-back workers, with the listing's ticket.
    Workers(u64, WorkerListing, u64),
    /// A job's certificates.
    Certificates(u64, JobCertificates),
}

/// Why a call brought no answer.
#[derive(Debug)]
pub(super) enum Failure {
    /// The API, or the way to it, failed.
    Api(ApiError),
    /// The task making the call ended without returning (it panicked).
    Abandoned,
}

impl Failure {
    /// The error to report; an abandoned call's says which task ended, as `task` names it.
    pub(super) fn into_error(self, task: &str) -> ApiError {
        match self {
            Failure::Api(error) => error,
            Failure::Abandoned => ApiError::Transport(format!("the {task} task ended abnormally")),
        }
    }
}

/// How a call ended.
pub(super) type Outcome = Result<Answer, Failure>;

impl Call {
    /// The API action the call makes.
    pub(super) fn action(self) -> Action {
        match self {
            Call::Poll(_) => Action::DescribeDeploymentJobStatus,
            Call::Describe(_) => Action::DescribeDeploymentJob,
            Call::Listing => Action::ListDeploymentJob,
            Call::Workers(..) => Action::ListWorkerResource,
            Call::Certificates(_) => Action::ListDeploymentJobCert,
        }
    }

    /// The job the call is about; the listing is about none.
    pub(super) fn job_id(self) -> Option<u64> {
        match self {
            Call::Poll(job_id)
            | Call::Describe(job_id)
            | Call::Workers(job_id, ..)
            | Call::Certificates(job_id) => Some(job_id),
            Call::Listing => None,
        }
    }

    /// Makes the call, through `caller` like every call.
    async fn make(self, caller: &Caller) -> Result<Answer, ApiError> {
        let action = self.action();
        match self {
            Call::Poll(job_id) => {
                let status = caller
                    .call(action, Some(job_id), move |client| async move {
                        client.describe_deployment_job_status(job_id).await
                    })
                    .await?;
                Ok(Answer::Status(job_id, status, SystemTime::now()))
            }
            Call::Describe(job_id) => caller
                .call(action, Some(job_id), move |client| async move {
                    client.describe_deployment_job(job_id).await
                })
                .await
                .map(|info| Answer::Job(job_id, info)),
            Call::Listing => discovery::list_all(caller)
                .await
                .map(|jobs| Answer::Jobs(jobs, SystemTime::now())),
            Call::Workers(job_id, plan, ticket) => list_problem_workers(caller, job_id, plan)
                .await
                .map(|listing| Answer::Workers(job_id, listing, ticket)),
            Call::Certificates(job_id) => caller
                .call(action, Some(job_id), move |client| async move {
                    client.list_deployment_job_certs(job_id).await
                })
                .await
                .map(|certificates| Answer::Certificates(job_id, certificates)),
        }
    }
}

/// The calls under way, each in a task of its own.
pub(super) struct Tasks {
    account: Arc<str>,
    set: JoinSet<(Call, Result<Answer, ApiError>)>,
    /// Which call each task makes, to account for it should the task panic.
    calls: HashMap<Id, Call>,
}

impl Tasks {
    /// No calls yet, for `account`'s log lines.
    pub(super) fn new(account: Arc<str>) -> Self {
        Self {
            account,
            set: JoinSet::new(),
            calls: HashMap::new(),
        }
    }

    /// Whether no call is under way.
    pub(super) fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Starts `call` in a task of its own.
    pub(super) fn spawn(&mut self, caller: &Caller, call: Call) {
        let caller = caller.clone();
        let handle = self
            .set
            .spawn(async move { (call, call.make(&caller).await) });
        self.calls.insert(handle.id(), call);
    }

    /// The next call to end, and how; a task that panicked is its call [`Failure::Abandoned`].
    /// Cancel-safe, so that it can wait in a `select!`.
    pub(super) async fn next(&mut self) -> Option<(Call, Outcome)> {
        loop {
            match self.set.join_next_with_id().await? {
                Ok((id, (call, result))) => {
                    self.calls.remove(&id);
                    return Some((call, result.map_err(Failure::Api)));
                }
                Err(error) => {
                    tracing::error!(
                        account = &*self.account,
                        %error,
                        "a background call ended abnormally; it counts as failed"
                    );
                    if let Some(call) = self.calls.remove(&error.id()) {
                        return Some((call, Err(Failure::Abandoned)));
                    }
                }
            }
        }
    }
}
