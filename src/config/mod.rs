//! The configuration file: read into raw structs (see `raw`), checked as a
//! whole (`check`, `credentials`), and turned into a [`Config`] that cannot
//! be wrong.

mod check;
mod credentials;
mod describe;
mod raw;
#[cfg(test)]
mod tests;
mod types;

pub use types::{
    AccountConfig, CertificateDetail, Config, ConfigError, CredentialsConfig, DEFAULT_ACCOUNT,
    DEFAULT_CERTIFICATE_DETAIL, DEFAULT_CONCURRENCY, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DISCOVERY_INTERVAL, DEFAULT_FINISHED_JOB_RETENTION, DEFAULT_INTERVAL,
    DEFAULT_JOB_INFO_INTERVAL, DEFAULT_RATE_LIMIT, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRIES,
    DEFAULT_SETTLED_INTERVAL, DEFAULT_WORKER_DETAIL, Discovery, MAX_ACCOUNT_NAME_CHARS,
    MAX_ACCOUNTS, MAX_CONCURRENCY, MAX_PATTERN_CHARS, MAX_RETRY_DELAY, MAX_WORKERS_PER_ACCOUNT,
    MAX_WORKERS_PER_JOB, Polling, RateLimit, RetryPolicy, STALE_INTERVALS, WorkerDetail,
};

use crate::env::Env;
use crate::input::read_bounded;
use std::path::Path;

impl Config {
    /// Reads, parses and validates `path`; `env` resolves `${VAR}` references.
    pub fn load(path: impl AsRef<Path>, env: &Env) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = read_bounded(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string(), env)
    }

    /// Parses and validates `text`; `path` names it in errors.
    pub fn parse(text: &str, path: &str, env: &Env) -> Result<Self, ConfigError> {
        let raw = crate::yaml::from_str(text, "config.example.yaml")
            .map_err(|error| error.in_document(path))?;
        Ok(check::Checker::new(path, text, env).config(raw)?)
    }
}
