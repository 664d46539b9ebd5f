//! Where AccessKeys come from. Pollers ask a provider for the current
//! credentials and never wait on it: providers that fetch temporary
//! credentials refresh them in the background and hand out what they hold.

mod build;
mod chain;
mod ecs;
mod external;
mod files;
mod refresh;
mod spec;
mod sts;
mod uri;

pub use build::{BuildContext, build};
pub use chain::{ChainOptions, Place, Skipped, default_chain, resolve_chain, role_settings};
pub use ecs::EcsRamRole;
pub use external::{ExternalCommand, ProcessCommand};
pub use refresh::{
    Expiring, FetchFuture, Fetcher, REFRESH_MARGIN, RefreshObserver, RefreshingProvider,
};
pub use spec::{ProviderSpec, RoleSettings, Sts};
pub use sts::{AssumeRole, AssumeRoleWithOidc, StsEndpoint};
pub use uri::CredentialsUri;

/// What every provider hands out, and the wrapper that keeps its secrets out of logs.
pub use crate::acs::{Credentials, Secret};

use crate::env::Env;
use std::fmt;
use std::sync::Arc;

/// The most a credentials service (STS, the metadata service, a credentials URI)
/// may answer: real answers are under 2 KiB.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The body of a credentials service's answer, within [`MAX_ANSWER_BYTES`]; `Err` says why not.
async fn answer_body(response: reqwest::Response) -> Result<Vec<u8>, String> {
    match crate::acs::read_capped(response, MAX_ANSWER_BYTES).await {
        Ok(Some(body)) => Ok(body),
        Ok(None) => Err(format!(
            "the answer is larger than {} KiB, far more than credentials take; check the endpoint",
            MAX_ANSWER_BYTES / 1024
        )),
        Err(e) => Err(format!("the answer broke off: {}", e.without_url())),
    }
}

/// The environment variable holding the AccessKey ID.
pub const ENV_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
/// The environment variable holding the AccessKey secret.
pub const ENV_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
/// The environment variable holding an optional STS security token.
pub const ENV_SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";

/// What to do when no place of the default chain yields credentials.
pub const NOT_FOUND_ADVICE: &str = "Set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, run on ECS with a RAM role, or add a `credentials:` section (docs/credentials.md)";

/// Why no usable credentials could be had.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// Nothing in the default chain yielded credentials.
    #[error("no credentials found; tried, in order: {}. {NOT_FOUND_ADVICE}", .tried.join("; "))]
    NotFound {
        /// Each place tried and why it did not apply.
        tried: Vec<String>,
    },
    /// A provider could not obtain credentials.
    #[error("cannot get credentials from {provider}: {reason}")]
    Fetch {
        /// The provider.
        provider: &'static str,
        /// Why, and what to do.
        reason: String,
    },
    /// Temporary credentials ran out and every refresh failed.
    #[error(
        "the {provider} credentials expired and could not be refreshed: see the log for why, and what the provider needs"
    )]
    Expired {
        /// The provider.
        provider: &'static str,
    },
    /// Only part of a pair was given.
    #[error("{what}: {hint}")]
    Incomplete {
        /// What is incomplete.
        what: String,
        /// What to do.
        hint: String,
    },
}

/// A source of credentials. `credentials` returns at once with what the provider holds.
pub trait CredentialsProvider: Send + Sync + fmt::Debug {
    /// A short name for logs, such as `environment` or `static`.
    fn name(&self) -> &'static str;
    /// The credentials to sign the next request with.
    fn credentials(&self) -> Result<Arc<Credentials>, CredentialsError>;
}

/// Credentials that never change: given in the config file or the environment.
#[derive(Debug, Clone)]
pub struct StaticProvider {
    name: &'static str,
    credentials: Arc<Credentials>,
}

impl StaticProvider {
    /// A provider that always returns `credentials`, reported under `name`.
    pub fn new(name: &'static str, credentials: Credentials) -> Self {
        Self {
            name,
            credentials: Arc::new(credentials),
        }
    }

    /// Reads the three `ALIBABA_CLOUD_*` variables from `env`; `Ok(None)` when neither key variable is set.
    pub fn from_environment(env: &Env) -> Result<Option<Self>, CredentialsError> {
        let id = env.non_empty(ENV_ACCESS_KEY_ID);
        let secret = env.non_empty(ENV_ACCESS_KEY_SECRET);
        let token = env.non_empty(ENV_SECURITY_TOKEN);
        match (id, secret) {
            (None, None) => Ok(None),
            (Some(access_key_id), Some(secret)) => Ok(Some(Self::new(
                "environment",
                Credentials {
                    access_key_id,
                    access_key_secret: Secret::new(secret),
                    security_token: token.map(Secret::new),
                },
            ))),
            (Some(_), None) => Err(CredentialsError::Incomplete {
                what: format!(
                    "{ENV_ACCESS_KEY_ID} is set but {ENV_ACCESS_KEY_SECRET} is empty or unset"
                ),
                hint: format!("set {ENV_ACCESS_KEY_SECRET} to the AccessKey secret of that key"),
            }),
            (None, Some(_)) => Err(CredentialsError::Incomplete {
                what: format!(
                    "{ENV_ACCESS_KEY_SECRET} is set but {ENV_ACCESS_KEY_ID} is empty or unset"
                ),
                hint: format!("set {ENV_ACCESS_KEY_ID} to the AccessKey ID of that secret"),
            }),
        }
    }
}

impl CredentialsProvider for StaticProvider {
    fn name(&self) -> &'static str {
        self.name
    }

    fn credentials(&self) -> Result<Arc<Credentials>, CredentialsError> {
        Ok(Arc::clone(&self.credentials))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed set of variables, standing in for the process environment.
    pub(super) fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs)
    }

    #[test]
    fn environment_with_token() {
        let provider = StaticProvider::from_environment(&env(&[
            (ENV_ACCESS_KEY_ID, "LTAI-id"),
            (ENV_ACCESS_KEY_SECRET, "sekrit"),
            (ENV_SECURITY_TOKEN, "tok"),
        ]))
        .unwrap()
        .unwrap();
        let creds = provider.credentials().unwrap();
        assert_eq!(provider.name(), "environment");
        assert_eq!(creds.access_key_id, "LTAI-id");
        assert_eq!(creds.access_key_secret.expose(), "sekrit");
        assert_eq!(creds.security_token.as_ref().unwrap().expose(), "tok");
    }

    #[test]
    fn environment_absent_or_partial() {
        assert!(
            StaticProvider::from_environment(&env(&[]))
                .unwrap()
                .is_none()
        );
        let err =
            StaticProvider::from_environment(&env(&[(ENV_ACCESS_KEY_ID, "LTAI-id")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ALIBABA_CLOUD_ACCESS_KEY_ID is set but ALIBABA_CLOUD_ACCESS_KEY_SECRET is empty or unset: set ALIBABA_CLOUD_ACCESS_KEY_SECRET to the AccessKey secret of that key"
        );
        let err = StaticProvider::from_environment(&env(&[
            (ENV_ACCESS_KEY_ID, ""),
            (ENV_ACCESS_KEY_SECRET, "x"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("ALIBABA_CLOUD_ACCESS_KEY_SECRET is set but")
        );
    }
}
