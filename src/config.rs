//! The configuration file: YAML mirrored by raw structs (unknown keys refused,
//! values checked as they are read so errors carry line and column), then
//! checked as a whole and turned into a [`Config`] that cannot be wrong.

use crate::api::Endpoint;
use crate::credentials::{Credentials, Secret};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The CAS API endpoint.
    pub endpoint: Endpoint,
    /// Credentials written in the file; `None` means: take them from the environment.
    pub credentials: Option<Credentials>,
    /// Time between two polls of a job.
    pub interval: Duration,
    /// After this long without a successful poll a job's values are dropped.
    pub stale_after: Duration,
    /// Polls in flight at once.
    pub concurrency: usize,
    /// Time allowed to connect to the API.
    pub connect_timeout: Duration,
    /// Time allowed for one whole API request.
    pub request_timeout: Duration,
    /// The deployment jobs to poll, in the order written.
    pub jobs: Vec<u64>,
}

/// Default time between polls.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Default number of polls in flight.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Default connect timeout (the SDK's).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default request timeout (the SDK's read timeout).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// `stale_after` defaults to this many intervals.
pub const STALE_INTERVALS: u32 = 5;

/// What is wrong with a configuration, and where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}; check the path given to --config.file")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    credentials: Option<RawCredentials>,
    #[serde(default)]
    interval: Option<DurationValue>,
    #[serde(default)]
    stale_after: Option<DurationValue>,
    #[serde(default)]
    concurrency: Option<PositiveCount>,
    #[serde(default)]
    timeouts: Option<RawTimeouts>,
    #[serde(default)]
    jobs: JobIds,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredentials {
    access_key_id: String,
    access_key_secret: String,
    #[serde(default)]
    security_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeouts {
    #[serde(default)]
    connect: Option<DurationValue>,
    #[serde(default)]
    request: Option<DurationValue>,
}

/// A duration written like `30s`, `5m` or `1h30m`.
struct DurationValue(Duration);

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Failing inside the visitor lets serde_yaml attach the value's line and column.
        d.deserialize_str(DurationVisitor)
    }
}

/// Reads a duration written like `30s`; for `deserialize_with`.
pub(crate) fn deserialize_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    DurationValue::deserialize(d).map(|v| v.0)
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = DurationValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as 30s, 5m or 1h30m")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<DurationValue, E> {
        humantime::parse_duration(text.trim())
            .map(DurationValue)
            .map_err(|e| {
                E::custom(format!(
                    "{text:?} is not a duration ({e}); write it like 30s, 5m or 1h30m"
                ))
            })
    }
}

/// The job list: positive integers (or numeric strings), each once.
#[derive(Default)]
struct JobIds(Vec<u64>);

impl<'de> Deserialize<'de> for JobIds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(JobIdsVisitor)
    }
}

struct JobIdsVisitor;

impl<'de> Visitor<'de> for JobIdsVisitor {
    type Value = JobIds;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of deployment job IDs, such as [8888, 9999]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JobIds, A::Error> {
        let mut ids = Vec::new();
        let mut seen = HashSet::new();
        while let Some(id) = seq.next_element_seed(JobIdVisitor { seen: &mut seen })? {
            ids.push(id);
        }
        Ok(JobIds(ids))
    }
}

/// Reads one job ID; checks it against those before it, so that an error
/// raised here carries the position of the offending entry.
struct JobIdVisitor<'a> {
    seen: &'a mut HashSet<u64>,
}

impl<'de> DeserializeSeed<'de> for JobIdVisitor<'_> {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_any(self)
    }
}

const JOB_ID_HINT: &str =
    "job IDs are the positive integers ListDeploymentJob and the CAS console show";

impl Visitor<'_> for JobIdVisitor<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a deployment job ID (a positive integer)")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        if v == 0 {
            return Err(E::custom(format!("job ID 0 is not valid; {JOB_ID_HINT}")));
        }
        if !self.seen.insert(v) {
            return Err(E::custom(format!(
                "job ID {v} is listed twice; remove the duplicate"
            )));
        }
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format!("job ID {v} is not valid; {JOB_ID_HINT}"))),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        match v.trim().parse::<u64>() {
            Ok(id) => self.visit_u64(id),
            Err(_) => Err(E::custom(format!(
                "job ID {v:?} is not a number; {JOB_ID_HINT}"
            ))),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        Err(E::custom(format!(
            "job ID {v} is not an integer; {JOB_ID_HINT}"
        )))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<u64, E> {
        Err(E::custom(format!(
            "job ID {v} is not a number; {JOB_ID_HINT}"
        )))
    }
}

/// A count of at least 1, such as `concurrency`.
struct PositiveCount(usize);

impl<'de> Deserialize<'de> for PositiveCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PositiveCountVisitor)
    }
}

struct PositiveCountVisitor;

impl Visitor<'_> for PositiveCountVisitor {
    type Value = PositiveCount;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a whole number of at least 1, such as 4")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<PositiveCount, E> {
        match usize::try_from(v) {
            Ok(n) if n >= 1 => Ok(PositiveCount(n)),
            _ => Err(E::custom(format!(
                "{v} is not allowed; write a whole number of at least 1, such as 4"
            ))),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<PositiveCount, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format!(
                "{v} is not allowed; write a whole number of at least 1, such as 4"
            ))),
        }
    }
}

impl Config {
    /// Reads, parses and validates `path`; `env` resolves `${VAR}` references.
    pub fn load(path: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path, env)
    }

    /// Parses and validates `text`; `path` names it in errors.
    pub fn parse(
        text: &str,
        path: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let raw: RawConfig = serde_yaml::from_str(text).map_err(|e| syntax_error(path, &e))?;
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            key: key.to_owned(),
            message,
        };
        let endpoint = Endpoint::parse(raw.endpoint.as_deref().unwrap_or("cn"))
            .map_err(|e| invalid("endpoint", e.to_string()))?;
        let credentials = raw
            .credentials
            .map(|c| -> Result<Credentials, ConfigError> {
                let resolve = |key: &str, value: &str| {
                    resolve_reference(value, env).map_err(|message| invalid(&format!("credentials.{key}"), message))
                };
                let access_key_id = resolve("access_key_id", &c.access_key_id)?;
                let secret = resolve("access_key_secret", &c.access_key_secret)?;
                let token = c
                    .security_token
                    .map(|t| resolve("security_token", &t))
                    .transpose()?
                    .filter(|t| !t.is_empty());
                if access_key_id.is_empty() || secret.is_empty() {
                    return Err(invalid(
                        "credentials",
                        "access_key_id and access_key_secret must both be non-empty; remove the section to use ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET instead".into(),
                    ));
                }
                Ok(Credentials {
                    access_key_id,
                    access_key_secret: Secret::new(secret),
                    security_token: token.map(Secret::new),
                })
            })
            .transpose()?;
        let interval = raw.interval.map_or(DEFAULT_INTERVAL, |d| d.0);
        if interval < Duration::from_secs(1) {
            return Err(invalid(
                "interval",
                format!(
                    "{interval:?} is too short; poll at most once a second per job (60s is a good start)"
                ),
            ));
        }
        let stale_after = raw.stale_after.map_or(interval * STALE_INTERVALS, |d| d.0);
        if stale_after < interval {
            return Err(invalid(
                "stale_after",
                format!(
                    "{} is shorter than interval ({}); values would vanish between two polls: make it at least the interval (default {STALE_INTERVALS} × interval)",
                    humantime::format_duration(stale_after),
                    humantime::format_duration(interval)
                ),
            ));
        }
        let concurrency = raw.concurrency.map_or(DEFAULT_CONCURRENCY, |c| c.0);
        let timeouts = raw.timeouts.unwrap_or(RawTimeouts {
            connect: None,
            request: None,
        });
        let connect_timeout = timeouts.connect.map_or(DEFAULT_CONNECT_TIMEOUT, |d| d.0);
        let request_timeout = timeouts.request.map_or(DEFAULT_REQUEST_TIMEOUT, |d| d.0);
        if connect_timeout.is_zero() {
            return Err(invalid("timeouts.connect", "must be longer than 0s".into()));
        }
        if request_timeout.is_zero() {
            return Err(invalid("timeouts.request", "must be longer than 0s".into()));
        }
        if request_timeout >= interval {
            return Err(invalid(
                "timeouts.request",
                "must be shorter than interval, or polls would overlap: lower it or lengthen interval".into(),
            ));
        }
        if raw.jobs.0.is_empty() {
            return Err(invalid(
                "jobs",
                "no deployment jobs to poll: list their IDs, for example `jobs: [8888]`".into(),
            ));
        }
        Ok(Config {
            endpoint,
            credentials,
            interval,
            stale_after,
            concurrency,
            connect_timeout,
            request_timeout,
            jobs: raw.jobs.0,
        })
    }
}

/// `${NAME}` is replaced by the variable's value; anything else is taken literally.
fn resolve_reference(value: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let Some(name) = value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) else {
        return Ok(value.to_owned());
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "{value:?} is not a valid reference; write ${{VARIABLE_NAME}}"
        ));
    }
    env(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("refers to ${{{name}}}, which is not set or empty; export {name} before starting the exporter"))
}

fn syntax_error(path: &str, error: &serde_yaml::Error) -> ConfigError {
    let (line, column, message) = describe_yaml_error(error);
    ConfigError::Syntax {
        path: path.to_owned(),
        line,
        column,
        message,
    }
}

/// Line, column and message of a YAML error, the message without serde_yaml's
/// own position suffixes and with a remedy where serde's words lack one.
pub(crate) fn describe_yaml_error(error: &serde_yaml::Error) -> (usize, usize, String) {
    let (line, column) = error.location().map_or((0, 0), |l| (l.line(), l.column()));
    let mut message = error.to_string();
    while let Some(at) = message.find(" at line ") {
        let rest = &message[at + " at line ".len()..];
        let digits_and_column = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ' ' || "column".contains(c)))
            .unwrap_or(rest.len());
        message.replace_range(at..at + " at line ".len() + digits_and_column, "");
    }
    let remedy = if message.contains("unknown field") {
        "; check the spelling (config.example.yaml lists every key)"
    } else if message.contains("duplicate field") {
        "; write each key once"
    } else if message.contains("invalid type") || message.contains("invalid value") {
        "; see config.example.yaml for the expected form"
    } else {
        ""
    };
    message.push_str(remedy);
    (line, column, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, "cfg.yaml", &no_env)
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn minimal_file_gets_the_defaults() {
        let config = parse("jobs: [8888, \"9999\"]\n").unwrap();
        assert_eq!(config.jobs, vec![8888, 9999]);
        assert_eq!(config.endpoint.as_str(), "https://cas.aliyuncs.com/");
        assert_eq!(config.interval, Duration::from_secs(60));
        assert_eq!(config.stale_after, Duration::from_secs(300));
        assert_eq!(config.concurrency, 4);
        assert_eq!(config.connect_timeout, Duration::from_secs(5));
        assert_eq!(config.request_timeout, Duration::from_secs(10));
        assert!(config.credentials.is_none());
    }

    #[test]
    fn every_key() {
        let env = |name: &str| (name == "MY_SECRET").then(|| "from-env".to_owned());
        let config = Config::parse(
            "endpoint: intl\ncredentials:\n  access_key_id: LTAI\n  access_key_secret: ${MY_SECRET}\n  security_token: tok\ninterval: 30s\nstale_after: 10m\nconcurrency: 2\ntimeouts:\n  connect: 2s\n  request: 8s\njobs:\n  - 1\n  - 2\n",
            "cfg.yaml",
            &env,
        )
        .unwrap();
        assert_eq!(
            config.endpoint.as_str(),
            "https://cas.ap-southeast-1.aliyuncs.com/"
        );
        let creds = config.credentials.unwrap();
        assert_eq!(creds.access_key_id, "LTAI");
        assert_eq!(creds.access_key_secret.expose(), "from-env");
        assert_eq!(creds.security_token.unwrap().expose(), "tok");
        assert_eq!(config.interval, Duration::from_secs(30));
        assert_eq!(config.stale_after, Duration::from_secs(600));
        assert_eq!(config.concurrency, 2);
        assert_eq!(config.connect_timeout, Duration::from_secs(2));
        assert_eq!(config.request_timeout, Duration::from_secs(8));
    }

    #[test]
    fn the_example_file_is_valid_and_shows_the_defaults() {
        let config = parse(include_str!("../config.example.yaml")).unwrap();
        let defaults = parse("jobs: [8888, 9999]\n").unwrap();
        assert_eq!(format!("{config:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        assert_eq!(
            error("jobs: [1]\nintervall: 30s\n"),
            "cfg.yaml:2:1: unknown field `intervall`, expected one of `endpoint`, `credentials`, `interval`, `stale_after`, `concurrency`, `timeouts`, `jobs`; check the spelling (config.example.yaml lists every key)"
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
            "cfg.yaml: `jobs`: no deployment jobs to poll: list their IDs, for example `jobs: [8888]`"
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
            "cfg.yaml: `credentials`: access_key_id and access_key_secret must both be non-empty; remove the section to use ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET instead"
        );
    }
}
