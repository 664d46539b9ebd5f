//! The configuration file: read into raw structs (see [`raw`]), checked as a
//! whole, and turned into a [`Config`] that cannot be wrong.

mod raw;

pub use raw::MAX_DURATION;
pub(crate) use raw::{deserialize_duration, deserialize_optional_duration};

use crate::api::model::{JOB_STATUSES, JOB_TYPES};
use crate::api::{Endpoint, PerAction};
use crate::credentials::{
    ChainOptions, Credentials, CredentialsProvider, ProviderSpec, Secret, StaticProvider,
    role_settings,
};
use crate::env::Env;
use crate::input::{ReadError, YamlError, excerpt, from_yaml, read_bounded};
use raw::{RawAccount, RawConfig, RawCredentials, RawDiscovery, RawRateLimit};
use regex::Regex;
use std::collections::HashSet;
use std::path::Path;
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
    /// Whether a secret or token is written in the file by value (not as `${VARIABLE}`).
    pub secrets_in_file: bool,
}

impl Config {
    /// A warning when the file holds a secret by value yet group or others may read it.
    pub fn permission_warning(&self, path: &str) -> Option<String> {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        (self.secrets_in_file && mode & 0o077 != 0).then(|| {
            format!(
                "{path} holds a secret by value and is readable by group or others (mode {:o}): run chmod 600 {path}, or write the secret as ${{VARIABLE}}",
                mode & 0o777
            )
        })
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

/// The credential types a `credentials:` section may name.
pub const CREDENTIAL_TYPES: [&str; 6] = [
    "default",
    "access_key",
    "ram_role_arn",
    "oidc_role_arn",
    "ecs_ram_role",
    "credentials_uri",
];

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
/// Default number of polls in flight per account.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// The longest role session STS grants (a role's maximum session duration is at most 12 hours).
const MAX_ROLE_SESSION: Duration = Duration::from_secs(12 * 3600);
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
/// Default rate limits: each action's [`Action::default_rate`].
pub const DEFAULT_RATE_LIMIT: RateLimit = PerAction::default_rates();
/// The name of the account of a single-account file.
pub const DEFAULT_ACCOUNT: &str = "default";
/// The longest `name_include` / `name_exclude` pattern, in characters.
pub const MAX_PATTERN_CHARS: usize = 1024;
/// The most memory one compiled name pattern may take.
const MAX_PATTERN_PROGRAM_BYTES: usize = 1 << 20;
/// The most accounts one exporter polls: each has its own client, credentials and poller.
pub const MAX_ACCOUNTS: usize = 1000;
/// The longest account name: it is the `account` label of every series.
pub const MAX_ACCOUNT_NAME_CHARS: usize = 64;

/// What is wrong with a configuration, and where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}; check the path given to --config.file")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: ReadError,
    },
    /// The YAML is malformed, or a key or value is refused where it stands.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong and what to do.
        message: String,
    },
    /// A value is wrong in relation to others, or refers to something missing.
    #[error("{path}: `{key}`: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The key, as a dotted path.
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
}

/// Builds [`ConfigError::Invalid`] values for one file.
struct Checker<'a> {
    path: &'a str,
    env: &'a Env,
    /// Set when a secret is written by value.
    secrets_in_file: std::cell::Cell<bool>,
}

impl Checker<'_> {
    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_owned(),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    fn polling(&self, raw: &RawConfig) -> Result<Polling, ConfigError> {
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
        Ok(Polling {
            interval,
            settled_interval,
            stale_after,
            job_info_interval,
            concurrency,
            connect_timeout,
            request_timeout,
        })
    }

    fn retries(&self, raw: &RawConfig) -> Result<RetryPolicy, ConfigError> {
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
    ) -> Result<AccountConfig, ConfigError> {
        let key = |k: &str| format!("{prefix}{k}");
        let endpoint = Endpoint::parse(raw.endpoint.as_deref().unwrap_or("cn"))
            .map_err(|e| self.invalid(&key("endpoint"), e.to_string()))?;
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

    fn credentials(&self, key: &str, c: RawCredentials) -> Result<CredentialsConfig, ConfigError> {
        let field = |name: &str| format!("{key}.{name}");
        let by_value = |v: &Option<String>| {
            v.as_deref()
                .is_some_and(|v| !v.is_empty() && !v.starts_with("${"))
        };
        if by_value(&c.access_key_secret) || by_value(&c.security_token) {
            self.secrets_in_file.set(true);
        }
        let resolve = |name: &str, value: &Option<String>| -> Result<Option<String>, ConfigError> {
            value
                .as_deref()
                .map(|v| resolve_reference(v, self.env).map_err(|m| self.invalid(&field(name), m)))
                .transpose()
                .map(|v| v.filter(|v| !v.is_empty()))
        };
        let kind = c.kind.clone().unwrap_or_else(|| {
            if c.access_key_id.is_some() {
                "access_key"
            } else {
                "default"
            }
            .to_owned()
        });
        let allowed: &[&str] = match kind.as_str() {
            "default" => &["sts_endpoint", "metadata_endpoint"],
            "access_key" => &["access_key_id", "access_key_secret", "security_token"],
            "ram_role_arn" => &[
                "access_key_id",
                "access_key_secret",
                "security_token",
                "role_arn",
                "role_session_name",
                "policy",
                "external_id",
                "duration",
                "sts_endpoint",
                "sts_region",
                "sts_vpc",
            ],
            "oidc_role_arn" => &[
                "role_arn",
                "oidc_provider_arn",
                "oidc_token_file",
                "role_session_name",
                "policy",
                "duration",
                "sts_endpoint",
                "sts_region",
                "sts_vpc",
            ],
            "ecs_ram_role" => &["role_name", "metadata_endpoint"],
            "credentials_uri" => &["uri"],
            other => {
                return Err(self.invalid(
                    &field("type"),
                    format!(
                        "{} is not a credentials type; use one of {}",
                        excerpt(other),
                        CREDENTIAL_TYPES.join(", ")
                    ),
                ));
            }
        };
        let given = [
            ("access_key_id", c.access_key_id.is_some()),
            ("access_key_secret", c.access_key_secret.is_some()),
            ("security_token", c.security_token.is_some()),
            ("role_arn", c.role_arn.is_some()),
            ("role_session_name", c.role_session_name.is_some()),
            ("policy", c.policy.is_some()),
            ("external_id", c.external_id.is_some()),
            ("duration", c.duration.is_some()),
            ("oidc_provider_arn", c.oidc_provider_arn.is_some()),
            ("oidc_token_file", c.oidc_token_file.is_some()),
            ("role_name", c.role_name.is_some()),
            ("uri", c.uri.is_some()),
            ("sts_endpoint", c.sts_endpoint.is_some()),
            ("sts_region", c.sts_region.is_some()),
            ("sts_vpc", c.sts_vpc.is_some()),
            ("metadata_endpoint", c.metadata_endpoint.is_some()),
        ];
        if let Some((name, _)) = given
            .iter()
            .find(|(name, present)| *present && !allowed.contains(name))
        {
            return Err(self.invalid(
                &field(name),
                format!(
                    "does not apply to credentials of type {kind}; it takes {}",
                    allowed.join(", ")
                ),
            ));
        }
        let options = ChainOptions {
            sts_endpoint: c.sts_endpoint.clone(),
            metadata_endpoint: c.metadata_endpoint.clone(),
        };
        let mut role = role_settings(self.env, &options);
        if let Some(region) = &c.sts_region {
            role.sts.region = Some(region.clone());
        }
        if let Some(vpc) = c.sts_vpc {
            role.sts.vpc = vpc;
        }
        let duration = match c.duration.as_ref().map(|d| d.0) {
            Some(d) if d < Duration::from_secs(900) => {
                return Err(self.invalid(&field("duration"), "STS issues credentials for 15m at least; write 15m or more (1h is the default)"));
            }
            Some(d) if d > MAX_ROLE_SESSION => {
                return Err(self.invalid(&field("duration"), "STS issues credentials for 12h at most (and only up to the role's maximum session duration, 1h unless raised); write 12h or less"));
            }
            Some(d) => d,
            None => role.duration,
        };
        let session_name = c
            .role_session_name
            .clone()
            .unwrap_or_else(|| role.session_name.clone());
        // As in the SDKs, a role's ARN, OIDC provider and token file default to their variables.
        let need = |name: &str, value: &Option<String>, variable: &str| {
            resolve(name, value)?
                .or_else(|| self.env.non_empty(variable))
                .ok_or_else(|| {
                    self.invalid(
                        &field(name),
                        format!("is required for credentials of type {kind}: write it here or set {variable}"),
                    )
                })
        };
        let key_pair = |name: &'static str| -> Result<Option<ProviderSpec>, ConfigError> {
            let id = resolve("access_key_id", &c.access_key_id)?;
            let secret = resolve("access_key_secret", &c.access_key_secret)?;
            let token = resolve("security_token", &c.security_token)?;
            match (id, secret) {
                (Some(id), Some(secret)) => Ok(Some(ProviderSpec::Static {
                    name,
                    credentials: Credentials {
                        access_key_id: id,
                        access_key_secret: Secret::new(secret),
                        security_token: token.map(Secret::new),
                    },
                })),
                (None, None) => Ok(None),
                _ => Err(self.invalid(
                    key,
                    "access_key_id and access_key_secret must both be given and non-empty; remove both to use ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET instead",
                )),
            }
        };
        let spec = match kind.as_str() {
            "default" => return Ok(CredentialsConfig::Chain(options)),
            "access_key" => key_pair("config")?.ok_or_else(|| {
                self.invalid(
                    key,
                    "access_key_id and access_key_secret must both be given and non-empty; remove the section to use the default chain (ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET and the rest)",
                )
            })?,
            "ram_role_arn" => {
                let source = match key_pair("config")? {
                    Some(spec) => spec,
                    None => match StaticProvider::from_environment(self.env)
                        .map_err(|e| self.invalid(key, e.to_string()))?
                    {
                        Some(env) => ProviderSpec::Static {
                            name: "environment",
                            credentials: (*env.credentials().map_err(|e| self.invalid(key, e.to_string()))?).clone(),
                        },
                        None => {
                            return Err(self.invalid(
                                key,
                                "a ram_role_arn needs source credentials: give access_key_id and access_key_secret here, or set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                            ));
                        }
                    },
                };
                ProviderSpec::RamRoleArn {
                    source: Box::new(source),
                    role_arn: need("role_arn", &c.role_arn, "ALIBABA_CLOUD_ROLE_ARN")?,
                    session_name,
                    policy: c.policy.clone(),
                    external_id: c.external_id.clone(),
                    duration,
                    sts: role.sts,
                }
            }
            "oidc_role_arn" => ProviderSpec::Oidc {
                role_arn: need("role_arn", &c.role_arn, "ALIBABA_CLOUD_ROLE_ARN")?,
                provider_arn: need("oidc_provider_arn", &c.oidc_provider_arn, "ALIBABA_CLOUD_OIDC_PROVIDER_ARN")?,
                token_file: need("oidc_token_file", &c.oidc_token_file, "ALIBABA_CLOUD_OIDC_TOKEN_FILE")?,
                session_name,
                policy: c.policy.clone(),
                duration,
                sts: role.sts,
            },
            "ecs_ram_role" => ProviderSpec::EcsRamRole {
                role: c.role_name.clone(),
                endpoint: role.metadata_endpoint,
            },
            _ => ProviderSpec::Uri {
                uri: need("uri", &c.uri, "ALIBABA_CLOUD_CREDENTIALS_URI")?,
            },
        };
        Ok(CredentialsConfig::Provider(spec))
    }

    fn discovery(&self, key: &str, d: RawDiscovery) -> Result<Discovery, ConfigError> {
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
    allow_plain_http: Option<bool>,
    credentials: Option<RawCredentials>,
    jobs: Option<raw::JobIds>,
    discovery: Option<RawDiscovery>,
    rate_limit: Option<RawRateLimit>,
}

impl From<RawAccount> for AccountParts {
    fn from(a: RawAccount) -> Self {
        Self {
            endpoint: a.endpoint,
            allow_plain_http: a.allow_plain_http,
            credentials: a.credentials,
            jobs: a.jobs,
            discovery: a.discovery,
            rate_limit: a.rate_limit,
        }
    }
}

impl Config {
    /// Reads, parses and validates `path`; `env` resolves `${VAR}` references.
    pub fn load(path: &str, env: &Env) -> Result<Self, ConfigError> {
        let text = read_bounded(Path::new(path)).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path, env)
    }

    /// Parses and validates `text`; `path` names it in errors.
    pub fn parse(text: &str, path: &str, env: &Env) -> Result<Self, ConfigError> {
        let mut raw: RawConfig =
            from_yaml(text, "config.example.yaml").map_err(|e| syntax_error(path, e))?;
        let check = Checker {
            path,
            env,
            secrets_in_file: std::cell::Cell::new(false),
        };
        let polling = check.polling(&raw)?;
        let retries = check.retries(&raw)?;
        let top = AccountParts {
            endpoint: raw.endpoint.take(),
            allow_plain_http: raw.allow_plain_http.take(),
            credentials: raw.credentials.take(),
            jobs: raw.jobs.take(),
            discovery: raw.discovery.take(),
            rate_limit: raw.rate_limit.take(),
        };
        let top_keys: Vec<&str> = [
            ("endpoint", top.endpoint.is_some()),
            ("allow_plain_http", top.allow_plain_http.is_some()),
            ("credentials", top.credentials.is_some()),
            ("jobs", top.jobs.is_some()),
            ("discovery", top.discovery.is_some()),
            ("rate_limit", top.rate_limit.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, present)| present.then_some(k))
        .collect();
        let accounts = match raw.accounts.take() {
            None => vec![check.account("", DEFAULT_ACCOUNT.to_owned(), top)?],
            Some(_) if !top_keys.is_empty() => {
                return Err(check.invalid(
                    "accounts",
                    format!(
                        "with `accounts`, {} belong inside an account entry: move them under one of the accounts",
                        top_keys.join(", ")
                    ),
                ));
            }
            Some(list) if list.is_empty() => {
                return Err(check.invalid("accounts", "is empty: list at least one account"));
            }
            Some(list) if list.len() > MAX_ACCOUNTS => {
                return Err(check.invalid(
                    "accounts",
                    format!(
                        "{} accounts are more than the {MAX_ACCOUNTS} one exporter polls; split them across several exporters",
                        list.len()
                    ),
                ));
            }
            Some(list) => {
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
                        return Err(check.invalid(
                            &format!("{prefix}name"),
                            format!("{} is not a valid account name; use up to {MAX_ACCOUNT_NAME_CHARS} letters, digits, '_', '.' and '-'", excerpt(&name)),
                        ));
                    }
                    if !names.insert(name.clone()) {
                        return Err(check.invalid(
                            &format!("{prefix}name"),
                            format!("account {name:?} is listed twice; names must be unique"),
                        ));
                    }
                    accounts.push(check.account(&prefix, name, account.into())?);
                }
                accounts
            }
        };
        Ok(Config {
            accounts,
            polling,
            retries,
            secrets_in_file: check.secrets_in_file.get(),
        })
    }
}

/// The longest variable name a `${NAME}` reference may give (it is quoted in errors).
const MAX_VARIABLE_NAME: usize = 128;

/// `${NAME}` is replaced by the variable's value; anything else is taken literally.
fn resolve_reference(value: &str, env: &Env) -> Result<String, String> {
    let Some(reference) = value.strip_prefix("${") else {
        return Ok(value.to_owned());
    };
    // An unclosed `${NAME` is a reference gone wrong, never a secret to sign with.
    let name = reference.strip_suffix('}').unwrap_or("");
    if name.is_empty()
        || name.len() > MAX_VARIABLE_NAME
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        // The value may be a secret that merely looks like a reference: never quote it.
        return Err(format!(
            "is not a valid reference; write ${{VARIABLE_NAME}}, with up to {MAX_VARIABLE_NAME} letters, digits and _"
        ));
    }
    env.non_empty(name).ok_or_else(|| {
        format!("refers to ${{{name}}}, which is not set or empty; export {name} before starting the exporter")
    })
}

fn syntax_error(path: &str, error: YamlError) -> ConfigError {
    ConfigError::Syntax {
        path: path.to_owned(),
        line: error.line,
        column: error.column,
        message: error.message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Action;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, "cfg.yaml", &Env::empty())
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    fn static_credentials(config: &CredentialsConfig) -> Credentials {
        match config {
            CredentialsConfig::Provider(ProviderSpec::Static { credentials, .. }) => {
                credentials.clone()
            }
            other => panic!("not fixed credentials: {other:?}"),
        }
    }

    fn one(config: &Config) -> &AccountConfig {
        assert_eq!(config.accounts.len(), 1);
        &config.accounts[0]
    }

    #[test]
    fn minimal_file_gets_the_defaults() {
        let config = parse("jobs: [8888, \"9999\"]\n").unwrap();
        let account = one(&config);
        assert_eq!(account.name, "default");
        assert_eq!(account.jobs, vec![8888, 9999]);
        assert_eq!(account.endpoint.as_str(), "https://cas.aliyuncs.com/");
        assert!(
            matches!(account.credentials, CredentialsConfig::Chain(_)),
            "no section: the default chain"
        );
        assert!(account.discovery.is_none());
        assert_eq!(account.rate_limit, DEFAULT_RATE_LIMIT);
        assert_eq!(
            config.polling,
            Polling {
                interval: Duration::from_secs(60),
                settled_interval: Duration::from_secs(600),
                stale_after: Duration::from_secs(300),
                job_info_interval: Duration::from_secs(300),
                concurrency: 4,
                connect_timeout: Duration::from_secs(5),
                request_timeout: Duration::from_secs(10),
            }
        );
        assert_eq!(config.retries, DEFAULT_RETRIES);
    }

    #[test]
    fn every_key() {
        let env = Env::from_fn(|name| (name == "MY_SECRET").then(|| "from-env".to_owned()));
        let config = Config::parse(
            "endpoint: intl
credentials:
  access_key_id: LTAI
  access_key_secret: ${MY_SECRET}
  security_token: tok
interval: 30s
settled_interval: 15m
stale_after: 10m
job_info_interval: 2m
concurrency: 2
timeouts:
  connect: 2s
  request: 8s
retries:
  max_attempts: 5
  base_delay: 200ms
  max_delay: 5s
rate_limit:
  describe_deployment_job_status: 8
  list_deployment_job: 1
  describe_deployment_job: 0.5
discovery:
  refresh_interval: 1m
  job_types: [user]
  statuses: [processing, error]
  name_include: ^prod-
  name_exclude: -test$
jobs:
  - 1
  - 2
",
            "cfg.yaml",
            &env,
        )
        .unwrap();
        let account = one(&config);
        assert_eq!(
            account.endpoint.as_str(),
            "https://cas.ap-southeast-1.aliyuncs.com/"
        );
        let creds = static_credentials(&account.credentials);
        assert_eq!(creds.access_key_id, "LTAI");
        assert_eq!(creds.access_key_secret.expose(), "from-env");
        assert_eq!(creds.security_token.unwrap().expose(), "tok");
        let rates: Vec<(Action, f64)> = account.rate_limit.iter().map(|(a, r)| (a, *r)).collect();
        assert_eq!(
            rates,
            [
                (Action::DescribeDeploymentJobStatus, 8.0),
                (Action::DescribeDeploymentJob, 0.5),
                (Action::ListDeploymentJob, 1.0),
            ]
        );
        let discovery = account.discovery.clone().unwrap();
        assert_eq!(discovery.refresh_interval, Duration::from_secs(60));
        assert_eq!(discovery.job_types, vec!["user"]);
        assert_eq!(discovery.statuses, vec!["processing", "error"]);
        assert_eq!(
            config.polling,
            Polling {
                interval: Duration::from_secs(30),
                settled_interval: Duration::from_secs(900),
                stale_after: Duration::from_secs(600),
                job_info_interval: Duration::from_secs(120),
                concurrency: 2,
                connect_timeout: Duration::from_secs(2),
                request_timeout: Duration::from_secs(8),
            }
        );
        assert_eq!(
            config.retries,
            RetryPolicy {
                max_attempts: 5,
                base_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(5)
            }
        );
    }

    #[test]
    fn many_accounts() {
        let config = parse(
            "interval: 2m
accounts:
  - name: prod
    endpoint: cn
    jobs: [1]
  - name: intl-shop
    endpoint: intl
    discovery: {}
    rate_limit: {describe_deployment_job_status: 3}
",
        )
        .unwrap();
        let names: Vec<&str> = config.accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, vec!["prod", "intl-shop"]);
        assert_eq!(config.accounts[0].jobs, vec![1]);
        assert!(config.accounts[1].jobs.is_empty());
        assert_eq!(
            config.accounts[1]
                .discovery
                .as_ref()
                .unwrap()
                .refresh_interval,
            DEFAULT_DISCOVERY_INTERVAL
        );
        assert_eq!(
            config.accounts[1].rate_limit[Action::DescribeDeploymentJobStatus],
            3.0
        );
        assert_eq!(
            config.accounts[1].rate_limit[Action::ListDeploymentJob],
            2.0
        );
        assert_eq!(config.polling.interval, Duration::from_secs(120));
    }

    #[test]
    fn account_errors() {
        assert_eq!(
            error("jobs: [1]\naccounts:\n  - name: a\n    jobs: [2]\n"),
            "cfg.yaml: `accounts`: with `accounts`, jobs belong inside an account entry: move them under one of the accounts"
        );
        assert_eq!(
            error("accounts:\n  - name: a\n    jobs: [1]\n  - name: a\n    jobs: [2]\n"),
            "cfg.yaml: `accounts[1].name`: account \"a\" is listed twice; names must be unique"
        );
        assert_eq!(
            error("accounts:\n  - name: \"prod account\"\n    jobs: [1]\n"),
            "cfg.yaml: `accounts[0].name`: \"prod account\" is not a valid account name; use up to 64 letters, digits, '_', '.' and '-'"
        );
        assert_eq!(
            error("accounts:\n  - name: a\n"),
            "cfg.yaml: `accounts[0].jobs`: no deployment jobs to poll: list their IDs (for example `jobs: [8888]`) or add a `discovery:` section"
        );
        assert_eq!(
            error("accounts: []\n"),
            "cfg.yaml: `accounts`: is empty: list at least one account"
        );
        assert_eq!(
            error("accounts:\n  - name: a\n    jobs: [1]\n    endpoint: ftp://x\n"),
            "cfg.yaml: `accounts[0].endpoint`: endpoint \"ftp://x\" is not valid: the scheme must be https (or http for a local simulator); write `cn`, `intl`, a host name such as cas.eu-central-1.aliyuncs.com, or a full URL such as https://cas.aliyuncs.com"
        );
    }

    #[test]
    fn durations_and_counts_that_would_overflow_are_refused() {
        assert_eq!(
            error("jobs: [1]\ninterval: 3689348814741910324s\n"),
            "cfg.yaml:2:11: interval: \"3689348814741910324s\" is longer than 366d, the longest duration any setting takes; write a shorter one"
        );
        for key in [
            "interval",
            "settled_interval",
            "stale_after",
            "job_info_interval",
            "timeouts: {connect",
            "timeouts: {request",
            "retries: {base_delay",
            "retries: {max_delay",
            "discovery: {refresh_interval",
            "credentials: {type: ram_role_arn, duration",
        ] {
            let close = if key.contains('{') { "}" } else { "" };
            let text = format!("jobs: [1]\n{key}: 18446744073709551615s{close}\n");
            assert!(
                error(&text)
                    .contains("is longer than 366d, the longest duration any setting takes"),
                "{key}: {}",
                error(&text)
            );
        }
        let longest = parse("jobs: [1]\ninterval: 366d\nrequest_timeout_is_default: x\n");
        assert!(longest.is_err(), "an unknown key is still refused");
        let longest = parse("jobs: [1]\ninterval: 366d\n").unwrap();
        assert_eq!(longest.polling.interval, MAX_DURATION);
        assert_eq!(longest.polling.stale_after, MAX_DURATION * 5);
        assert_eq!(
            error("jobs: [1]\nconcurrency: 4294967296000\n"),
            "cfg.yaml: `concurrency`: 4294967296000 polls in flight is more than the 256 allowed; the rate limit sets the pace, so a few suffice (4 is the default)"
        );
        for rate in ["0.001", "1e-300", "1001", ".nan", ".inf", "-1", "1e300"] {
            assert_eq!(
                error(&format!(
                    "jobs: [1]\nrate_limit: {{describe_deployment_job: {rate}}}\n"
                )),
                format!(
                    "cfg.yaml:2:39: rate_limit.describe_deployment_job: {} is not allowed; write requests per second from 0.01 to 1000, such as 5 (the account's quota is about 10 per API)",
                    match rate {
                        ".nan" => "NaN",
                        ".inf" => "inf",
                        other => other,
                    }
                )
            );
        }
        assert!(parse("jobs: [1]\nrate_limit: {describe_deployment_job: 0.01, list_deployment_job: 1000}\n").is_ok());
        assert_eq!(
            error(
                "jobs: [1]\ncredentials: {type: ram_role_arn, access_key_id: a, access_key_secret: b, role_arn: r, duration: 13h}\n"
            ),
            "cfg.yaml: `credentials.duration`: STS issues credentials for 12h at most (and only up to the role's maximum session duration, 1h unless raised); write 12h or less"
        );
    }

    #[test]
    fn retry_waits_are_at_most_ten_minutes() {
        assert_eq!(
            error("jobs: [1]\nretries: {base_delay: 1s, max_delay: 30m}\n"),
            "cfg.yaml: `retries.max_delay`: 30m is longer than 10m: a call waiting that long between attempts looks like a hang; use 10m or less (20s is the default)"
        );
        let longest = parse("jobs: [1]\nretries: {base_delay: 10m, max_delay: 10m}\n").unwrap();
        assert_eq!(longest.retries.max_delay, MAX_RETRY_DELAY);
    }

    #[test]
    fn endpoints_an_operator_gets_wrong() {
        assert_eq!(
            error("jobs: [1]\nendpoint:\n"),
            "cfg.yaml:2:10: endpoint: is empty; write cn, intl, a host name or a URL, or remove the key to use cn"
        );
        assert!(
            error("jobs: [1]\nendpoint: cas..aliyuncs.com\n").starts_with(
                "cfg.yaml: `endpoint`: endpoint \"cas..aliyuncs.com\" is not valid: the host name has an empty part"
            )
        );
        let plain = "is plain HTTP to a host that is not this machine: requests and their signatures would cross the network unencrypted; use https://, or add `allow_plain_http: true` to the account if a trusted proxy is in between";
        assert_eq!(
            error("jobs: [1]\nendpoint: http://cas.aliyuncs.com\n"),
            format!("cfg.yaml: `endpoint`: {plain}")
        );
        assert_eq!(
            error(
                "accounts:\n  - name: a\n    jobs: [1]\n    credentials: {type: default, sts_endpoint: http://sts.aliyuncs.com}\n"
            ),
            format!("cfg.yaml: `accounts[0].credentials.sts_endpoint`: {plain}")
        );
        let allowed =
            parse("jobs: [1]\nendpoint: http://cas.aliyuncs.com\nallow_plain_http: true\n")
                .unwrap();
        assert_eq!(one(&allowed).endpoint.as_str(), "http://cas.aliyuncs.com/");
        let local = parse("jobs: [1]\nendpoint: http://127.0.0.1:9000\n").unwrap();
        assert_eq!(one(&local).endpoint.as_str(), "http://127.0.0.1:9000/");
        assert_eq!(
            error("allow_plain_http: true\naccounts:\n  - name: a\n    jobs: [1]\n"),
            "cfg.yaml: `accounts`: with `accounts`, allow_plain_http belong inside an account entry: move them under one of the accounts"
        );
    }

    #[test]
    fn at_most_a_thousand_accounts() {
        let accounts = |n: usize| {
            let mut text = String::from("accounts:\n");
            for i in 0..n {
                text.push_str(&format!("  - {{name: a{i}, jobs: [1]}}\n"));
            }
            text
        };
        assert_eq!(
            parse(&accounts(MAX_ACCOUNTS)).unwrap().accounts.len(),
            MAX_ACCOUNTS
        );
        assert_eq!(
            error(&accounts(MAX_ACCOUNTS + 1)),
            "cfg.yaml: `accounts`: 1001 accounts are more than the 1000 one exporter polls; split them across several exporters"
        );
    }

    #[test]
    fn job_ids_follow_the_rule_discovery_follows() {
        for (jobs, expected) in [
            ("[0]", "1:8: jobs[0]: job ID 0 is not valid"),
            ("[-3]", "1:8: jobs[0]: job ID -3 is not valid"),
            (
                "[\"1e3\"]",
                "1:8: jobs[0]: job ID \"1e3\" is not an integer",
            ),
            ("[1e3]", "1:8: jobs[0]: job ID \"1000.0\" is not an integer"),
            ("[true]", "1:8: jobs[0]: job ID \"true\" is not a number"),
            (
                "[9223372036854775808]",
                "1:8: jobs[0]: job ID 9223372036854775808 is too large (at most 9223372036854775807)",
            ),
            (
                "[\" 7\", 7]",
                "1:14: jobs[1]: job ID 7 is listed twice; remove the duplicate",
            ),
        ] {
            let text = format!("jobs: {jobs}\n");
            let message = error(&text);
            assert!(
                message.starts_with(&format!("cfg.yaml:{expected}")),
                "{message}"
            );
        }
        let top = parse("jobs: [\"9223372036854775807\"]\n").unwrap();
        assert_eq!(one(&top).jobs, [crate::api::model::MAX_JOB_ID]);
    }

    #[test]
    fn at_most_fifty_thousand_jobs_an_account() {
        let ids = |n: usize| (1..=n).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        let full = parse(&format!("jobs: [{}]\n", ids(raw::MAX_JOBS))).unwrap();
        assert_eq!(one(&full).jobs.len(), raw::MAX_JOBS);
        let over = error(&format!("jobs: [{}]\n", ids(raw::MAX_JOBS + 1)));
        assert!(
            over.ends_with(": jobs[50000]: more than 50000 jobs in one account; split them across accounts or exporters, or use discovery"),
            "{over}"
        );
    }

    #[test]
    fn an_unclosed_reference_is_refused_without_being_shown() {
        let text =
            "jobs: [1]\ncredentials:\n  access_key_id: a\n  access_key_secret: ${AK_SECRET\n";
        assert_eq!(
            error(text),
            "cfg.yaml: `credentials.access_key_secret`: is not a valid reference; write ${VARIABLE_NAME}, with up to 128 letters, digits and _"
        );
    }

    #[test]
    fn huge_deep_or_marked_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.yaml");
        let big = format!(
            "jobs: [1]\ndiscovery:\n  name_include: {}\n",
            "a".repeat(50 << 20)
        );
        std::fs::write(&path, &big).unwrap();
        let refused = Config::load(path.to_str().unwrap(), &Env::empty())
            .unwrap_err()
            .to_string();
        assert_eq!(
            refused,
            format!(
                "cannot read config file {}: it is larger than 1024 KiB, far more than any valid file; check the path given to --config.file",
                path.display()
            )
        );
        let deep = format!("jobs: {}1{}\n", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            error(&deep),
            "cfg.yaml:1:71: collections nest more than 64 levels deep; no setting needs more than three (see config.example.yaml)"
        );
        let marked = parse("\u{feff}jobs: [7]\n").unwrap();
        assert_eq!(one(&marked).jobs, [7]);
        let long_pattern = format!(
            "jobs: [1]\ndiscovery:\n  name_include: {}\n",
            "a".repeat(100_000)
        );
        assert_eq!(
            error(&long_pattern),
            format!(
                "cfg.yaml: `discovery.name_include`: \"{}…\" (100000 bytes in all) is longer than 1024 characters; match on a shorter pattern, such as a prefix (^prod-)",
                "a".repeat(64)
            )
        );
        let costly = "jobs: [1]\ndiscovery:\n  name_include: \"\\\\w{1000}\\\\w{1000}\"\n";
        let costly = error(costly);
        assert!(
            costly.starts_with("cfg.yaml: `discovery.name_include`: \"\\\\w{1000}\\\\w{1000}\" is not a valid regular expression: ")
                && costly.len() < 400,
            "{costly}"
        );
        let many_keys = format!("jobs: [1]\n{}: 1\n", "k".repeat(900));
        assert!(error(&many_keys).len() < 600, "{}", error(&many_keys));
    }

    #[test]
    fn discovery_rate_and_retry_errors() {
        assert_eq!(
            error("discovery:\n  job_types: [users]\n"),
            "cfg.yaml: `discovery.job_types`: \"users\" is not one of cloud, user, trustee"
        );
        assert_eq!(
            error("discovery:\n  statuses: [done]\n"),
            "cfg.yaml: `discovery.statuses`: \"done\" is not one of pending, editing, scheduling, processing, success, error"
        );
        assert!(
            error("discovery:\n  name_include: \"(\"\n")
                .starts_with("cfg.yaml: `discovery.name_include`: \"(\" is not a valid regular expression: regex parse error")
        );
        assert_eq!(
            error("discovery:\n  refresh_interval: 500ms\n"),
            "cfg.yaml: `discovery.refresh_interval`: must be at least 1s; each listing costs one call per 50 jobs (5m is a good start)"
        );
        assert_eq!(
            error("jobs: [1]\nrate_limit:\n  list_deployment_job: 0\n"),
            "cfg.yaml:3:24: rate_limit.list_deployment_job: 0 is not allowed; write requests per second from 0.01 to 1000, such as 5 (the account's quota is about 10 per API)"
        );
        assert_eq!(
            error("jobs: [1]\nretries:\n  max_attempts: 50\n"),
            "cfg.yaml: `retries.max_attempts`: 50 attempts would hammer a failing API; use 10 or fewer (3 is the default)"
        );
        assert_eq!(
            error("jobs: [1]\nretries:\n  base_delay: 1m\n"),
            "cfg.yaml: `retries.base_delay`: must be above 0s and at most retries.max_delay"
        );
        assert_eq!(
            error("jobs: [1]\nsettled_interval: 30s\n"),
            "cfg.yaml: `settled_interval`: 30s is shorter than interval (1m); finished jobs would be polled more often than running ones: make it at least the interval"
        );
    }

    #[test]
    fn the_example_file_is_valid_and_shows_the_defaults() {
        let config = parse(include_str!("../../config.example.yaml")).unwrap();
        let defaults = parse("jobs: [8888, 9999]\n").unwrap();
        assert_eq!(format!("{config:?}"), format!("{defaults:?}"));
    }

    /// The commented block that starts with `# {key}:` in the example, uncommented.
    fn example_block(key: &str) -> String {
        let example = include_str!("../../config.example.yaml");
        let start = example
            .find(&format!("\n# {key}:"))
            .expect("block in the example")
            + 1;
        example[start..]
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_examples_commented_blocks_are_valid() {
        let env = Env::from_fn(|_| Some("value".to_owned()));
        let discovery = Config::parse(&example_block("discovery"), "example", &env).unwrap();
        let found = one(&discovery).discovery.clone().unwrap();
        assert_eq!((found.job_types.len(), found.statuses.len()), (2, 2));
        let accounts = Config::parse(&example_block("accounts"), "example", &env).unwrap();
        let names: Vec<&str> = accounts.accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, vec!["prod", "intl-shop"]);
        let credentials = Config::parse(
            &format!("jobs: [1]\n{}", example_block("credentials")),
            "example",
            &env,
        )
        .unwrap();
        assert!(
            static_credentials(&one(&credentials).credentials)
                .security_token
                .is_some()
        );
    }

    #[test]
    fn credential_types() {
        let env = Env::from_pairs(&[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIenv"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "s"),
            ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/env"),
        ]);
        let spec = |section: &str| {
            Config::parse(
                &format!("jobs: [1]\ncredentials:\n{section}"),
                "cfg.yaml",
                &env,
            )
            .map(|c| format!("{:?}", c.accounts[0].credentials))
            .map_err(|e| e.to_string())
        };
        let arn =
            spec("  type: ram_role_arn\n  duration: 15m\n  sts_region: cn-shanghai\n").unwrap();
        assert!(arn.contains("role_arn: \"acs:ram::1:role/env\""), "{arn}");
        assert!(
            arn.contains("access_key_id: \"LTAI****\""),
            "the source keys come from the environment: {arn}"
        );
        assert!(
            arn.contains("duration: 900s") && arn.contains("region: Some(\"cn-shanghai\")"),
            "{arn}"
        );
        let oidc =
            spec("  type: oidc_role_arn\n  oidc_provider_arn: p\n  oidc_token_file: /t\n").unwrap();
        assert!(
            oidc.contains("Oidc") && oidc.contains("token_file: \"/t\""),
            "{oidc}"
        );
        let ecs =
            spec("  type: ecs_ram_role\n  role_name: r\n  metadata_endpoint: http://127.0.0.1:9\n")
                .unwrap();
        assert!(
            ecs.contains("EcsRamRole { role: Some(\"r\"), endpoint: \"http://127.0.0.1:9\" }"),
            "{ecs}"
        );
        assert!(
            spec("  type: credentials_uri\n  uri: http://127.0.0.1:9/c\n")
                .unwrap()
                .contains("Uri")
        );
        assert!(
            spec("  type: default\n  sts_endpoint: http://127.0.0.1:9\n")
                .unwrap()
                .starts_with("Chain")
        );
        assert_eq!(
            spec("  type: ecs_ram_role\n  role_arn: x\n").unwrap_err(),
            "cfg.yaml: `credentials.role_arn`: does not apply to credentials of type ecs_ram_role; it takes role_name, metadata_endpoint"
        );
        assert_eq!(
            spec("  type: ram_role_arn\n  duration: 5m\n").unwrap_err(),
            "cfg.yaml: `credentials.duration`: STS issues credentials for 15m at least; write 15m or more (1h is the default)"
        );
        assert_eq!(
            spec("  type: oidc_role_arn\n").unwrap_err(),
            "cfg.yaml: `credentials.oidc_provider_arn`: is required for credentials of type oidc_role_arn: write it here or set ALIBABA_CLOUD_OIDC_PROVIDER_ARN"
        );
        assert_eq!(
            spec("  type: saml\n").unwrap_err(),
            "cfg.yaml: `credentials.type`: \"saml\" is not a credentials type; use one of default, access_key, ram_role_arn, oidc_role_arn, ecs_ram_role, credentials_uri"
        );
        let no_source = Config::parse(
            "jobs: [1]\ncredentials:\n  type: ram_role_arn\n  role_arn: r\n",
            "cfg.yaml",
            &Env::empty(),
        );
        assert_eq!(
            no_source.unwrap_err().to_string(),
            "cfg.yaml: `credentials`: a ram_role_arn needs source credentials: give access_key_id and access_key_secret here, or set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"
        );
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        assert_eq!(
            error("jobs: [1]\nintervall: 30s\n"),
            "cfg.yaml:2:1: unknown field `intervall`, expected one of `interval`, `settled_interval`, `stale_after`, `job_info_interval`, `concurrency`, `timeouts`, `retries`, `endpoint`, `allow_plain_http`, `credentials`, `jobs`, `discovery`, `rate_limit`, `accounts`; check the spelling (config.example.yaml lists every key)"
        );
        assert_eq!(
            error("jobs: [1]\ntimeouts:\n  read: 3s\n"),
            "cfg.yaml:3:3: timeouts: unknown field `read`, expected `connect` or `request`; check the spelling (config.example.yaml lists every key)"
        );
    }

    #[test]
    fn invalid_yaml() {
        assert_eq!(
            error("jobs: [1\n"),
            "cfg.yaml:2:1: did not find expected ',' or ']', while parsing a flow sequence"
        );
    }

    #[test]
    fn bad_job_ids() {
        assert_eq!(
            error("jobs:\n  - 1\n  - abc\n"),
            "cfg.yaml:3:5: jobs[1]: job ID \"abc\" is not a number; job IDs are the positive integers ListDeploymentJob and the CAS console show"
        );
        assert_eq!(
            error("jobs: [5, 7, 5]\n"),
            "cfg.yaml:1:14: jobs[2]: job ID 5 is listed twice; remove the duplicate"
        );
        assert_eq!(
            error("jobs: [-3]\n"),
            "cfg.yaml:1:8: jobs[0]: job ID -3 is not valid; job IDs are the positive integers ListDeploymentJob and the CAS console show"
        );
        assert_eq!(
            error("jobs: []\n"),
            "cfg.yaml: `jobs`: no deployment jobs to poll: list their IDs (for example `jobs: [8888]`) or add a `discovery:` section"
        );
    }

    #[test]
    fn bad_values() {
        assert_eq!(
            error("jobs: [1]\ninterval: 30\n"),
            "cfg.yaml:2:11: interval: \"30\" is not a duration (time unit needed, for example 30sec or 30ms); write it like 30s, 5m or 1h30m"
        );
        assert_eq!(
            error("jobs: [1]\nendpoint: https://cas.aliyuncs.com/api\n"),
            "cfg.yaml: `endpoint`: endpoint \"https://cas.aliyuncs.com/api\" is not valid: the API is served at path / with no query; write `cn`, `intl`, a host name such as cas.eu-central-1.aliyuncs.com, or a full URL such as https://cas.aliyuncs.com"
        );
        assert_eq!(
            error("jobs: [1]\ninterval: 1m\nstale_after: 30s\n"),
            "cfg.yaml: `stale_after`: 30s is shorter than interval (1m); values would vanish between two polls: make it at least the interval (default 5 × interval)"
        );
        assert_eq!(
            error("jobs: [1]\ninterval: 5s\n"),
            "cfg.yaml: `timeouts.request`: must be shorter than interval, or polls would overlap: lower it or lengthen interval"
        );
        assert_eq!(
            error("jobs: [1]\nconcurrency: -1\n"),
            "cfg.yaml:2:14: concurrency: -1 is not allowed; write a whole number of at least 1, such as 4"
        );
        assert_eq!(
            error("jobs: 5\n"),
            "cfg.yaml:1:7: jobs: invalid type: integer `5`, expected a list of deployment job IDs, such as [8888, 9999]; see config.example.yaml for the expected form"
        );
        assert_eq!(
            error("jobs: [1]\ninterval: 1m\ninterval: 2m\n"),
            "cfg.yaml:1:1: duplicate field `interval`; write each key once"
        );
        assert_eq!(
            error("jobs: [1]\nconcurrency: 0\n"),
            "cfg.yaml:2:14: concurrency: 0 is not allowed; write a whole number of at least 1, such as 4"
        );
    }

    #[test]
    fn credentials_references() {
        assert_eq!(
            error("jobs: [1]\ncredentials:\n  access_key_id: a\n  access_key_secret: ${NOPE}\n"),
            "cfg.yaml: `credentials.access_key_secret`: refers to ${NOPE}, which is not set or empty; export NOPE before starting the exporter"
        );
        assert_eq!(
            error("jobs: [1]\ncredentials:\n  access_key_id: ''\n  access_key_secret: x\n"),
            "cfg.yaml: `credentials`: access_key_id and access_key_secret must both be given and non-empty; remove both to use ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET instead"
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_is_parsed_or_refused_with_a_located_message(text in "\\PC{0,200}") {
            if let Err(error) = Config::parse(&text, "cfg.yaml", &Env::empty()) {
                prop_assert!(error.to_string().starts_with("cfg.yaml"), "{}", error);
            }
        }

        #[test]
        fn distinct_positive_job_ids_come_back_in_order(ids in proptest::collection::btree_set(1u64..=crate::api::model::MAX_JOB_ID, 1..30), seed in any::<u64>()) {
            let mut ids: Vec<u64> = ids.into_iter().collect();
            let len = ids.len();
            for i in 0..len {
                ids.swap(i, (seed.wrapping_mul(i as u64 + 3) % len as u64) as usize);
            }
            let text = format!("jobs: [{}]\n", ids.iter().map(u64::to_string).collect::<Vec<_>>().join(", "));
            let config = Config::parse(&text, "cfg.yaml", &Env::empty()).unwrap();
            prop_assert_eq!(&config.accounts[0].jobs, &ids);
        }

        #[test]
        fn any_duration_or_count_in_any_key_is_taken_or_refused_without_panic(
            key in 0usize..12,
            value in prop_oneof![
                any::<u64>().prop_map(|n| format!("{n}s")),
                any::<u64>().prop_map(|n| format!("{n}ns")),
                any::<u32>().prop_map(|n| format!("{n}d")),
                any::<u64>().prop_map(|n| format!("{n}y")),
                (0u64..MAX_DURATION.as_secs() + 2).prop_map(|n| format!("{n}s")),
                any::<u64>().prop_map(|n| n.to_string()),
                any::<i64>().prop_map(|n| n.to_string()),
                any::<f64>().prop_map(|n| format!("{n:?}")),
            ],
        ) {
            const KEYS: [&str; 12] = [
                "interval: {}", "settled_interval: {}", "stale_after: {}", "job_info_interval: {}",
                "timeouts: {connect: {}}", "timeouts: {request: {}}", "retries: {base_delay: {}}",
                "retries: {max_delay: {}}", "discovery: {refresh_interval: {}}", "concurrency: {}",
                "retries: {max_attempts: {}}", "rate_limit: {describe_deployment_job_status: {}}",
            ];
            let text = format!("jobs: [1]\n{}\n", KEYS[key].replacen("{}", &value, 1));
            match Config::parse(&text, "cfg.yaml", &Env::empty()) {
                Ok(config) => {
                    let p = &config.polling;
                    for d in [p.interval, p.settled_interval, p.stale_after, p.job_info_interval, p.connect_timeout, p.request_timeout, config.retries.max_delay] {
                        prop_assert!(d <= MAX_DURATION * STALE_INTERVALS, "{:?}", d);
                    }
                    prop_assert!(p.concurrency <= MAX_CONCURRENCY);
                }
                Err(error) => prop_assert!(error.to_string().starts_with("cfg.yaml"), "{}", error),
            }
        }

        #[test]
        fn durations_round_trip(seconds in 1u64..86_400) {
            let text = format!("jobs: [1]\ninterval: {seconds}s\nstale_after: {}s\nsettled_interval: {}s\n", seconds * 5, seconds.max(600));
            let config = Config::parse(&text, "cfg.yaml", &Env::empty());
            // A request timeout of 10 s must stay under the interval.
            if seconds > 10 {
                prop_assert_eq!(config.unwrap().polling.interval, Duration::from_secs(seconds));
            } else {
                prop_assert!(config.is_err());
            }
        }
    }
}
