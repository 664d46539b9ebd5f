//! The validated configuration and its defaults: what the rest of the exporter
//! reads, and what every check in this module produces.

use crate::api::{Endpoint, PerAction};
use crate::credentials::{ChainOptions, ProviderSpec};
use crate::input::{ReadError, permission_warning};
use crate::yaml::DocumentError;
use regex::Regex;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The accounts to poll, in the order written.
    pub accounts: Vec<AccountConfig>,
    /// How often and how hard to poll.
    pub polling: Polling,
    /// How failed calls are retried.
    pub retries: RetryPolicy,
    /// Which failed resources are listed, and how many.
    pub worker_detail: WorkerDetail,
    /// Whether each job's certificates are listed.
    pub certificate_detail: CertificateDetail,
    /// Whether a secret or token is written in the file by value (not as `${VARIABLE}`).
    pub secrets_in_file: bool,
}

impl Config {
    /// Jobs listed by ID, over every account.
    pub fn listed_jobs(&self) -> usize {
        self.accounts.iter().map(|a| a.jobs.len()).sum()
    }

    /// Accounts that discover their jobs.
    pub fn discovering_accounts(&self) -> usize {
        self.accounts
            .iter()
            .filter(|a| a.discovery.is_some())
            .count()
    }

    /// A warning when the file holds a secret by value yet group or others may read it.
    pub fn permission_warning(&self, path: impl AsRef<Path>) -> Option<String> {
        if !self.secrets_in_file {
            return None;
        }
        permission_warning(path.as_ref(), "a secret by value")
            .map(|warning| warning + ", or write the secret as ${VARIABLE}")
    }
}

/// Polling settings shared by every account.
#[derive(Debug, Clone, PartialEq)]
pub struct Polling {
    /// Time between two polls of a job.
    pub interval: Duration,
    /// Time between two polls of a finished job whose counts stopped changing.
    pub settled_interval: Duration,
    /// How long a job's last values are served after its polls start failing.
    pub stale_after: Duration,
    /// How often names and statuses of listed (static) jobs are read with DescribeDeploymentJob.
    pub job_info_interval: Duration,
    /// Polls in flight at once, per account.
    pub concurrency: usize,
    /// Time allowed to connect to the API.
    pub connect_timeout: Duration,
    /// Time allowed for one whole API request.
    pub request_timeout: Duration,
    /// How long a discovered job that finished stays polled after its end; `None` keeps it.
    pub finished_job_retention: Option<Duration>,
}

/// Listing each job's certificates (ListDeploymentJobCert).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateDetail {
    /// Whether to list them at all.
    pub enabled: bool,
}

/// Listing the worker tasks that failed or were rolled back (ListWorkerResource).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerDetail {
    /// Whether to list them at all.
    pub enabled: bool,
    /// The most worker series one job exports.
    pub max_per_job: usize,
    /// The most worker series one account exports, over all its jobs.
    pub max_per_account: usize,
}

/// How failed calls are retried (spec section 3.2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The backoff before the second attempt; it doubles each time.
    pub base_delay: Duration,
    /// The longest wait between two attempts, `x-acs-retry-after` included.
    pub max_delay: Duration,
}

/// One Alibaba Cloud account.
#[derive(Debug, Clone)]
pub struct AccountConfig {
    /// Its name, the `account` label.
    pub name: String,
    /// The CAS API endpoint.
    pub endpoint: Endpoint,
    /// Where the account's credentials come from.
    pub credentials: CredentialsConfig,
    /// Jobs listed by ID.
    pub jobs: Vec<u64>,
    /// Finding jobs with ListDeploymentJob, when configured.
    pub discovery: Option<Discovery>,
    /// Requests per second the exporter allows itself, per action.
    pub rate_limit: RateLimit,
}

/// Where an account's credentials come from.
#[derive(Debug, Clone)]
pub enum CredentialsConfig {
    /// The SDKs' default chain (no `credentials:` section, or `type: default`).
    Chain(ChainOptions),
    /// One provider, named in the file.
    Provider(ProviderSpec),
}

/// Requests per second per action, for one account (before sharding divides them).
pub type RateLimit = PerAction<f64>;

/// Which of the account's jobs discovery keeps.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// Time between two listings.
    pub refresh_interval: Duration,
    /// Job types kept; empty keeps all.
    pub job_types: Vec<String>,
    /// Job statuses kept; empty keeps all.
    pub statuses: Vec<String>,
    /// Only names matching this are kept.
    pub name_include: Option<Regex>,
    /// Names matching this are dropped.
    pub name_exclude: Option<Regex>,
}

impl Discovery {
    /// Whether `other` lists and filters the same way (regular expressions compared by their text).
    pub fn same_as(&self, other: &Discovery) -> bool {
        let pattern = |r: &Option<Regex>| r.as_ref().map(|r| r.as_str().to_owned());
        self.refresh_interval == other.refresh_interval
            && self.job_types == other.job_types
            && self.statuses == other.statuses
            && pattern(&self.name_include) == pattern(&other.name_include)
            && pattern(&self.name_exclude) == pattern(&other.name_exclude)
    }
}

/// Default time between polls.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Default time between polls of settled jobs.
pub const DEFAULT_SETTLED_INTERVAL: Duration = Duration::from_secs(600);
/// Default time between two reads of static jobs' names and statuses.
pub const DEFAULT_JOB_INFO_INTERVAL: Duration = Duration::from_secs(300);
/// Default time between two discovery listings.
pub const DEFAULT_DISCOVERY_INTERVAL: Duration = Duration::from_secs(300);
/// Default time a finished, discovered job stays polled after its end.
pub const DEFAULT_FINISHED_JOB_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default worker detail: on, 50 series per job, 2,000 per account.
pub const DEFAULT_WORKER_DETAIL: WorkerDetail = WorkerDetail {
    enabled: true,
    max_per_job: 50,
    max_per_account: 2000,
};
/// Default certificate detail: on.
pub const DEFAULT_CERTIFICATE_DETAIL: CertificateDetail = CertificateDetail { enabled: true };
/// The highest `worker_detail.max_per_job`: each is a series, and a page of 50 a call.
pub const MAX_WORKERS_PER_JOB: usize = 1000;
/// The highest `worker_detail.max_per_account`.
pub const MAX_WORKERS_PER_ACCOUNT: usize = 100_000;
/// Default number of polls in flight per account.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// The most polls in flight per account: each holds a connection and a file descriptor.
pub const MAX_CONCURRENCY: usize = 256;
/// Default connect timeout (the SDK's).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default request timeout (the SDK's read timeout).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// `stale_after` defaults to this many intervals.
pub const STALE_INTERVALS: u32 = 5;
/// Default retry policy: the spec's recommendation.
pub const DEFAULT_RETRIES: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    base_delay: Duration::from_millis(500),
    max_delay: Duration::from_secs(20),
};
/// The longest wait between two attempts of a call (the SDKs' default cap is 2 minutes).
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);
/// Default rate limits: each action's [`Action::default_rate`](crate::api::Action::default_rate).
pub const DEFAULT_RATE_LIMIT: RateLimit = PerAction::default_rates();
/// The name of the account of a single-account file.
pub const DEFAULT_ACCOUNT: &str = "default";
/// The longest `name_include` / `name_exclude` pattern, in characters.
pub const MAX_PATTERN_CHARS: usize = 1024;
/// The most accounts one exporter polls: each has its own client, credentials and poller.
pub const MAX_ACCOUNTS: usize = 1000;
/// The longest account name: it is the `account` label of every series.
pub const MAX_ACCOUNT_NAME_CHARS: usize = 64;

/// What is wrong with a configuration, and where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}; check the path given to --config.file", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: ReadError,
    },
    /// The YAML is malformed, or a key or value is refused where it stands or in
    /// relation to others.
    #[error(transparent)]
    Document(#[from] DocumentError),
}
