//! The checks of a configuration as a whole: polling, retries and accounts.
//! Each refusal names the key at fault as a dotted path.

use super::raw::{JobIds, RawAccount, RawConfig, RawCredentials, RawDiscovery, RawRateLimit};
use super::types::{
    AccountConfig, CertificateDetail, Config, DEFAULT_ACCOUNT, DEFAULT_CERTIFICATE_DETAIL,
    DEFAULT_CONCURRENCY, DEFAULT_CONNECT_TIMEOUT, DEFAULT_DISCOVERY_INTERVAL,
    DEFAULT_FINISHED_JOB_RETENTION, DEFAULT_INTERVAL, DEFAULT_JOB_INFO_INTERVAL,
    DEFAULT_RATE_LIMIT, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRIES, DEFAULT_SETTLED_INTERVAL,
    DEFAULT_WORKER_DETAIL, Discovery, MAX_ACCOUNT_NAME_CHARS, MAX_ACCOUNTS, MAX_CONCURRENCY,
    MAX_PATTERN_CHARS, MAX_RETRY_DELAY, MAX_WORKERS_PER_ACCOUNT, MAX_WORKERS_PER_JOB, Polling,
    RetryPolicy, STALE_INTERVALS, WorkerDetail,
};
use crate::acs::{Network, region_of};
use crate::api::Endpoint;
use crate::api::model::{JOB_STATUSES, JOB_TYPES};
use crate::env::Env;
use crate::input::excerpt;
use crate::yaml::DocumentError;
use std::cell::Cell;
use std::collections::HashSet;
use std::time::Duration;

/// The most memory one compiled name pattern may take.
const MAX_PATTERN_PROGRAM_BYTES: usize = 1 << 20;

/// Checks the raw configuration of one file, whose name it gives each refusal.
pub(super) struct Checker<'a> {
    path: &'a str,
    /// The file's text, to locate refusals made after reading it.
    text: &'a str,
    pub(super) env: &'a Env,
    /// Set when a secret is written by value.
    pub(super) secrets_in_file: Cell<bool>,
}

impl<'a> Checker<'a> {
    /// A checker for the file named `path` holding `text`; `env` resolves `${VAR}` references.
    pub(super) fn new(path: &'a str, text: &'a str, env: &'a Env) -> Self {
        Self {
            path,
            text,
            env,
            secrets_in_file: Cell::new(false),
        }
    }

    /// The value at `key` refused.
    pub(super) fn invalid(&self, key: &str, message: impl Into<String>) -> DocumentError {
        DocumentError::invalid(self.path, key, message)
    }

    /// The value at `key` refused, with its line when the file writes it.
    pub(super) fn invalid_at(&self, key: &str, message: impl Into<String>) -> DocumentError {
        DocumentError::invalid_at(self.path, self.text, key, message)
    }

    /// The whole configuration, checked.
    pub(super) fn config(self, mut raw: RawConfig) -> Result<Config, DocumentError> {
        let polling = self.polling(&raw)?;
        let retries = self.retries(&raw)?;
        let worker_detail = self.worker_detail(&raw)?;
        let certificate_detail = CertificateDetail {
            enabled: raw
                .certificate_detail
                .as_ref()
                .and_then(|c| c.enabled)
                .unwrap_or(DEFAULT_CERTIFICATE_DETAIL.enabled),
        };
        let top = AccountParts {
            endpoint: raw.endpoint.take(),
            network: raw.network.take().map(|n| n.0),
            allow_plain_http: raw.allow_plain_http.take(),
            credentials: raw.credentials.take(),
            jobs: raw.jobs.take(),
            discovery: raw.discovery.take(),
            rate_limit: raw.rate_limit.take(),
        };
        let accounts = self.accounts(top, raw.accounts.take())?;
        Ok(Config {
            accounts,
            polling,
            retries,
            worker_detail,
            certificate_detail,
            secrets_in_file: self.secrets_in_file.get(),
        })
    }

    /// The one account written at the top, or the entries of `accounts`; not both.
    fn accounts(
        &self,
        top: AccountParts,
        list: Option<Vec<RawAccount>>,
    ) -> Result<Vec<AccountConfig>, DocumentError> {
        let Some(list) = list else {
            return Ok(vec![self.account("", DEFAULT_ACCOUNT.to_owned(), top)?]);
        };
        let top_keys = top.keys();
        if !top_keys.is_empty() {
            return Err(self.invalid(
                "accounts",
                format!(
                    "with `accounts`, {} {} inside an account entry: move {} under one of the accounts",
                    top_keys.join(", "),
                    if top_keys.len() == 1 { "belongs" } else { "belong" },
                    if top_keys.len() == 1 { "it" } else { "them" }
                ),
            ));
        }
        if list.is_empty() {
            return Err(self.invalid("accounts", "is empty: list at least one account"));
        }
        if list.len() > MAX_ACCOUNTS {
            return Err(self.invalid(
                "accounts",
                format!(
                    "{} accounts are more than the {MAX_ACCOUNTS} one exporter polls; split them across several exporters",
                    list.len()
                ),
            ));
        }
        let mut names = HashSet::new();
        let mut accounts = Vec::with_capacity(list.len());
        for (i, account) in list.into_iter().enumerate() {
            let prefix = format!("accounts[{i}].");
            let name = account.name.clone();
            if name.is_empty()
                || name.len() > MAX_ACCOUNT_NAME_CHARS
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            {
                return Err(self.invalid(
                    &format!("{prefix}name"),
                    format!("{} is not a valid account name; use up to {MAX_ACCOUNT_NAME_CHARS} letters, digits, '_', '.' and '-'", excerpt(&name)),
                ));
            }
            if !names.insert(name.clone()) {
                return Err(self.invalid(
                    &format!("{prefix}name"),
                    format!("account {name:?} is listed twice; names must be unique"),
                ));
            }
            accounts.push(self.account(&prefix, name, account.into())?);
        }
        Ok(accounts)
    }

    fn polling(&self, raw: &RawConfig) -> Result<Polling, DocumentError> {
        let interval = raw.interval.as_ref().map_or(DEFAULT_INTERVAL, |d| d.0);
        if interval < Duration::from_secs(1) {
            return Err(self.invalid(
                "interval",
                format!("{interval:?} is too short; poll at most once a second per job (60s is a good start)"),
            ));
        }
        let at_least_interval = |key: &str, value: Duration, what: &str| {
            if value < interval {
                return Err(self.invalid(
                    key,
                    format!(
                        "{} is shorter than interval ({}); {what}",
                        humantime::format_duration(value),
                        humantime::format_duration(interval)
                    ),
                ));
            }
            Ok(value)
        };
        let settled_interval = at_least_interval(
            "settled_interval",
            raw.settled_interval
                .as_ref()
                .map_or(DEFAULT_SETTLED_INTERVAL.max(interval), |d| d.0),
            "finished jobs would be polled more often than running ones: make it at least the interval",
        )?;
        let default_stale_after = interval.checked_mul(STALE_INTERVALS).ok_or_else(|| {
            self.invalid(
                "interval",
                "is too long to derive stale_after from it: shorten it, or set stale_after",
            )
        })?;
        let stale_after = at_least_interval(
            "stale_after",
            raw.stale_after
                .as_ref()
                .map_or(default_stale_after, |d| d.0),
            &format!(
                "values would vanish between two polls: make it at least the interval (default {STALE_INTERVALS} × interval)"
            ),
        )?;
        let job_info_interval = raw
            .job_info_interval
            .as_ref()
            .map_or(DEFAULT_JOB_INFO_INTERVAL, |d| d.0);
        if job_info_interval < Duration::from_secs(1) {
            return Err(self.invalid(
                "job_info_interval",
                "must be at least 1s (5m is a good start)",
            ));
        }
        let timeouts = raw.timeouts.as_ref();
        let connect_timeout = timeouts
            .and_then(|t| t.connect.as_ref())
            .map_or(DEFAULT_CONNECT_TIMEOUT, |d| d.0);
        let request_timeout = timeouts
            .and_then(|t| t.request.as_ref())
            .map_or(DEFAULT_REQUEST_TIMEOUT, |d| d.0);
        if connect_timeout.is_zero() {
            return Err(self.invalid("timeouts.connect", "must be longer than 0s"));
        }
        if request_timeout.is_zero() {
            return Err(self.invalid("timeouts.request", "must be longer than 0s"));
        }
        if request_timeout >= interval {
            return Err(self.invalid(
                "timeouts.request",
                "must be shorter than interval, or polls would overlap: lower it or lengthen interval",
            ));
        }
        let concurrency = raw
            .concurrency
            .as_ref()
            .map_or(DEFAULT_CONCURRENCY, |c| c.0);
        if concurrency > MAX_CONCURRENCY {
            return Err(self.invalid(
                "concurrency",
                format!(
                    "{concurrency} polls in flight is more than the {MAX_CONCURRENCY} allowed; the rate limit sets the pace, so a few suffice (4 is the default)"
                ),
            ));
        }
        let finished_job_retention = match &raw.finished_job_retention {
            None => Some(DEFAULT_FINISHED_JOB_RETENTION),
            Some(d) if d.0.is_zero() => None,
            Some(d) => Some(d.0),
        };
        Ok(Polling {
            interval,
            settled_interval,
            stale_after,
            job_info_interval,
            concurrency,
            connect_timeout,
            request_timeout,
            finished_job_retention,
        })
    }

    fn worker_detail(&self, raw: &RawConfig) -> Result<WorkerDetail, DocumentError> {
        let Some(w) = &raw.worker_detail else {
            return Ok(DEFAULT_WORKER_DETAIL);
        };
        let detail = WorkerDetail {
            enabled: w.enabled.unwrap_or(DEFAULT_WORKER_DETAIL.enabled),
            max_per_job: w
                .max_per_job
                .as_ref()
                .map_or(DEFAULT_WORKER_DETAIL.max_per_job, |n| n.0),
            max_per_account: w
                .max_per_account
                .as_ref()
                .map_or(DEFAULT_WORKER_DETAIL.max_per_account, |n| n.0),
        };
        for (key, value, most) in [
            (
                "worker_detail.max_per_job",
                detail.max_per_job,
                MAX_WORKERS_PER_JOB,
            ),
            (
                "worker_detail.max_per_account",
                detail.max_per_account,
                MAX_WORKERS_PER_ACCOUNT,
            ),
        ] {
            if value > most {
                return Err(self.invalid(
                    key,
                    format!(
                        "{value} is more than {most}: write 1 to {most}. Each failed worker \
                         is a series, and aliyun_cas_deployment_job_unlisted_workers counts \
                         those beyond the caps"
                    ),
                ));
            }
        }
        Ok(detail)
    }

    fn retries(&self, raw: &RawConfig) -> Result<RetryPolicy, DocumentError> {
        let Some(r) = &raw.retries else {
            return Ok(DEFAULT_RETRIES);
        };
        let policy = RetryPolicy {
            max_attempts: r
                .max_attempts
                .as_ref()
                .map_or(DEFAULT_RETRIES.max_attempts, |n| {
                    u32::try_from(n.0).unwrap_or(u32::MAX)
                }),
            base_delay: r
                .base_delay
                .as_ref()
                .map_or(DEFAULT_RETRIES.base_delay, |d| d.0),
            max_delay: r
                .max_delay
                .as_ref()
                .map_or(DEFAULT_RETRIES.max_delay, |d| d.0),
        };
        if policy.max_attempts > 10 {
            return Err(self.invalid(
                "retries.max_attempts",
                format!(
                    "{} attempts would hammer a failing API; use 10 or fewer (3 is the default)",
                    policy.max_attempts
                ),
            ));
        }
        if policy.max_delay > MAX_RETRY_DELAY {
            return Err(self.invalid(
                "retries.max_delay",
                format!(
                    "{} is longer than {}: a call waiting that long between attempts looks like a hang; use {} or less (20s is the default)",
                    humantime::format_duration(policy.max_delay),
                    humantime::format_duration(MAX_RETRY_DELAY),
                    humantime::format_duration(MAX_RETRY_DELAY)
                ),
            ));
        }
        if policy.base_delay.is_zero() || policy.base_delay > policy.max_delay {
            return Err(self.invalid(
                "retries.base_delay",
                "must be above 0s and at most retries.max_delay",
            ));
        }
        Ok(policy)
    }

    fn account(
        &self,
        prefix: &str,
        name: String,
        raw: AccountParts,
    ) -> Result<AccountConfig, DocumentError> {
        let key = |k: &str| format!("{prefix}{k}");
        let network = raw.network.unwrap_or_default();
        let written = raw.endpoint.as_deref().unwrap_or("cn");
        if network == Network::Vpc && region_of(written).is_none() {
            return Err(self.invalid_at(
                &key("network"),
                "vpc applies to an endpoint written as a preset or region ID (such as ap-southeast-1), which it turns into the VPC host; with a host name or URL, write the VPC host itself (such as cas-vpc.ap-southeast-1.aliyuncs.com) and remove `network`",
            ));
        }
        let endpoint = Endpoint::cas(written, network)
            .map_err(|e| self.invalid_at(&key("endpoint"), e.to_string()))?;
        let sts_endpoint = raw
            .credentials
            .as_ref()
            .and_then(|c| c.sts_endpoint.as_deref())
            .map(|sts| {
                Endpoint::parse(sts)
                    .map_err(|e| self.invalid(&key("credentials.sts_endpoint"), e.to_string()))
            })
            .transpose()?;
        let plain_http_allowed = raw.allow_plain_http.unwrap_or(false);
        for (name, url) in [
            ("endpoint", Some(&endpoint)),
            ("credentials.sts_endpoint", sts_endpoint.as_ref()),
        ] {
            if url.is_some_and(Endpoint::is_plain_http_to_remote) && !plain_http_allowed {
                return Err(self.invalid(
                    &key(name),
                    "is plain HTTP to a host that is not this machine: requests and their signatures would cross the network unencrypted; use https://, or add `allow_plain_http: true` to the account if a trusted proxy is in between",
                ));
            }
        }
        let credentials =
            self.credentials(&key("credentials"), raw.credentials.unwrap_or_default())?;
        let discovery = raw
            .discovery
            .map(|d| self.discovery(&key("discovery"), d))
            .transpose()?;
        let jobs = raw.jobs.map(|j| j.0).unwrap_or_default();
        if jobs.is_empty() && discovery.is_none() {
            return Err(self.invalid(
                &key("jobs"),
                "no deployment jobs to poll: list their IDs (for example `jobs: [8888]`) or add a `discovery:` section",
            ));
        }
        let rate_limit = raw
            .rate_limit
            .unwrap_or_default()
            .0
            .map(|action, rate| rate.as_ref().map_or(DEFAULT_RATE_LIMIT[action], |r| r.0));
        Ok(AccountConfig {
            name,
            endpoint,
            credentials,
            jobs,
            discovery,
            rate_limit,
        })
    }

    fn discovery(&self, key: &str, d: RawDiscovery) -> Result<Discovery, DocumentError> {
        let refresh_interval = d
            .refresh_interval
            .map_or(DEFAULT_DISCOVERY_INTERVAL, |v| v.0);
        if refresh_interval < Duration::from_secs(1) {
            return Err(self.invalid(
                &format!("{key}.refresh_interval"),
                "must be at least 1s; each listing costs one call per 50 jobs (5m is a good start)",
            ));
        }
        let known = |field: &str, values: Option<Vec<String>>, allowed: &[&str]| {
            let values = values.unwrap_or_default();
            match values.iter().find(|v| !allowed.contains(&v.as_str())) {
                Some(bad) => Err(self.invalid(
                    &format!("{key}.{field}"),
                    format!("{} is not one of {}", excerpt(bad), allowed.join(", ")),
                )),
                None => Ok(values),
            }
        };
        let regex = |field: &str, pattern: Option<String>| {
            pattern
                .map(|p| {
                    let invalid = |why: String| self.invalid(&format!("{key}.{field}"), why);
                    if p.chars().count() > MAX_PATTERN_CHARS {
                        return Err(invalid(format!(
                            "{} is longer than {MAX_PATTERN_CHARS} characters; match on a shorter pattern, such as a prefix (^prod-)",
                            excerpt(&p)
                        )));
                    }
                    regex::RegexBuilder::new(&p)
                        .size_limit(MAX_PATTERN_PROGRAM_BYTES)
                        .build()
                        .map_err(|e| {
                            invalid(format!(
                                "{} is not a valid regular expression: {}",
                                excerpt(&p),
                                // The regex crate's message repeats the pattern around a caret.
                                crate::acs::text::bounded(&e.to_string().replace('\n', " "), 300)
                            ))
                        })
                })
                .transpose()
        };
        Ok(Discovery {
            refresh_interval,
            job_types: known("job_types", d.job_types, &JOB_TYPES)?,
            statuses: known("statuses", d.statuses, &JOB_STATUSES)?,
            name_include: regex("name_include", d.name_include)?,
            name_exclude: regex("name_exclude", d.name_exclude)?,
        })
    }
}

/// The keys an account has, whether written at the top or under `accounts`.
struct AccountParts {
    endpoint: Option<String>,
    network: Option<Network>,
    allow_plain_http: Option<bool>,
    credentials: Option<RawCredentials>,
    jobs: Option<JobIds>,
    discovery: Option<RawDiscovery>,
    rate_limit: Option<RawRateLimit>,
}

impl AccountParts {
    /// The keys given, in the order the file format lists them.
    fn keys(&self) -> Vec<&'static str> {
        [
            ("endpoint", self.endpoint.is_some()),
            ("network", self.network.is_some()),
            ("allow_plain_http", self.allow_plain_http.is_some()),
            ("credentials", self.credentials.is_some()),
            ("jobs", self.jobs.is_some()),
            ("discovery", self.discovery.is_some()),
            ("rate_limit", self.rate_limit.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, present)| present.then_some(k))
        .collect()
    }
}

impl From<RawAccount> for AccountParts {
    fn from(a: RawAccount) -> Self {
        Self {
            endpoint: a.endpoint,
            network: a.network.map(|n| n.0),
            allow_plain_http: a.allow_plain_http,
            credentials: a.credentials,
            jobs: a.jobs,
            discovery: a.discovery,
            rate_limit: a.rate_limit,
        }
    }
}
