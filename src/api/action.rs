//! The CAS API actions the exporter calls: each knows its name, its parameters
//! and its default rate, so that adding one is a change in one place here.

use std::fmt;
use std::ops::{Index, IndexMut};

/// An action of the CAS API (version 2020-04-07) that the exporter calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// The counts of one deployment job: the exporter's main call.
    DescribeDeploymentJobStatus,
    /// Name, type, status and times of one deployment job.
    DescribeDeploymentJob,
    /// The account's deployment jobs, page by page (discovery).
    ListDeploymentJob,
    /// One job's worker tasks in a given status, page by page (which resources failed).
    ListWorkerResource,
    /// The certificates one job deploys, with their validity.
    ListDeploymentJobCert,
}

/// How many actions there are.
const COUNT: usize = 5;

impl Action {
    /// Every action, in declaration order (the order of [`PerAction`]'s slots).
    pub const ALL: [Action; COUNT] = [
        Action::DescribeDeploymentJobStatus,
        Action::DescribeDeploymentJob,
        Action::ListDeploymentJob,
        Action::ListWorkerResource,
        Action::ListDeploymentJobCert,
    ];

    /// The name the API knows it by (the `Action` parameter and the `action` label).
    pub const fn name(self) -> &'static str {
        match self {
            Action::DescribeDeploymentJobStatus => "DescribeDeploymentJobStatus",
            Action::ListDeploymentJob => "ListDeploymentJob",
            Action::DescribeDeploymentJob => "DescribeDeploymentJob",
            Action::ListWorkerResource => "ListWorkerResource",
            Action::ListDeploymentJobCert => "ListDeploymentJobCert",
        }
    }

    /// The name in snake case, as the configuration's `rate_limit` keys spell it.
    pub const fn key(self) -> &'static str {
        match self {
            Action::DescribeDeploymentJobStatus => "describe_deployment_job_status",
            Action::ListDeploymentJob => "list_deployment_job",
            Action::DescribeDeploymentJob => "describe_deployment_job",
            Action::ListWorkerResource => "list_worker_resource",
            Action::ListDeploymentJobCert => "list_deployment_job_cert",
        }
    }

    /// The action's own parameters the API requires.
    pub const fn required_params(self) -> &'static [&'static str] {
        match self {
            Action::DescribeDeploymentJobStatus
            | Action::DescribeDeploymentJob
            | Action::ListWorkerResource
            | Action::ListDeploymentJobCert => &["JobId"],
            Action::ListDeploymentJob => &[],
        }
    }

    /// The action's own parameters the API accepts but does not require.
    pub const fn optional_params(self) -> &'static [&'static str] {
        match self {
            Action::DescribeDeploymentJobStatus
            | Action::DescribeDeploymentJob
            | Action::ListDeploymentJobCert => &[],
            Action::ListWorkerResource => &["CloudProduct", "Status", "CurrentPage", "ShowSize"],
            Action::ListDeploymentJob => &[
                "JobType",
                "Status",
                "InstanceId",
                "CertId",
                "CurrentPage",
                "ShowSize",
            ],
        }
    }

    /// Calls per second per account unless configured: half the API's quota of
    /// 10 (each action has its own) for the poll, a fifth for each of the others.
    pub const fn default_rate(self) -> f64 {
        match self {
            Action::DescribeDeploymentJobStatus => 5.0,
            Action::ListDeploymentJob
            | Action::DescribeDeploymentJob
            | Action::ListWorkerResource
            | Action::ListDeploymentJobCert => 2.0,
        }
    }

    /// The action the API calls `name`.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The action whose configuration key is `key`.
    pub fn from_key(key: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.key() == key)
    }

    const fn slot(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One value per action, stored without a map: a rate, a pacer, a count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerAction<T>([T; COUNT]);

impl<T> PerAction<T> {
    /// `value(action)` for every action.
    pub fn from_fn(mut value: impl FnMut(Action) -> T) -> Self {
        Self(std::array::from_fn(|i| value(Action::ALL[i])))
    }

    /// Every action with its value, in [`Action::ALL`]'s order.
    pub fn iter(&self) -> impl Iterator<Item = (Action, &T)> {
        Action::ALL.into_iter().zip(self.0.iter())
    }

    /// `f(action, value)` for every action.
    pub fn map<U>(&self, mut f: impl FnMut(Action, &T) -> U) -> PerAction<U> {
        PerAction::from_fn(|action| f(action, &self[action]))
    }
}

impl PerAction<f64> {
    /// Every action's [`Action::default_rate`].
    pub const fn default_rates() -> Self {
        let mut rates = [0.0; COUNT];
        let mut i = 0;
        while i < COUNT {
            rates[i] = Action::ALL[i].default_rate();
            i += 1;
        }
        Self(rates)
    }
}

impl<T> Index<Action> for PerAction<T> {
    type Output = T;

    fn index(&self, action: Action) -> &T {
        &self.0[action.slot()]
    }
}

impl<T> IndexMut<Action> for PerAction<T> {
    fn index_mut(&mut self, action: Action) -> &mut T {
        &mut self.0[action.slot()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keys_and_slots_agree() {
        for (slot, action) in Action::ALL.into_iter().enumerate() {
            assert_eq!(action.slot(), slot);
            assert_eq!(Action::from_name(action.name()), Some(action));
            assert_eq!(Action::from_key(action.key()), Some(action));
        }
        assert_eq!(Action::from_name("describeDeploymentJobStatus"), None);
        assert_eq!(
            Action::DescribeDeploymentJobStatus.to_string(),
            "DescribeDeploymentJobStatus"
        );
    }

    #[test]
    fn default_rates_stay_within_the_quota() {
        let rates = PerAction::default_rates();
        assert_eq!(rates[Action::DescribeDeploymentJobStatus], 5.0);
        assert_eq!(rates[Action::ListDeploymentJob], 2.0);
        assert_eq!(rates[Action::DescribeDeploymentJob], 2.0);
        assert_eq!(rates[Action::ListWorkerResource], 2.0);
        assert_eq!(rates[Action::ListDeploymentJobCert], 2.0);
        let halved = rates.map(|_, r| r / 2.0);
        assert_eq!(halved[Action::DescribeDeploymentJobStatus], 2.5);
    }
}
