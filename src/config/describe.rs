//! Where an account's credentials would come from, told without a network
//! call: what `--config.check` prints for a CI job that has no secrets.

use super::types::CredentialsConfig;
use crate::credentials::{ProviderSpec, StsEndpoint, default_chain};
use crate::env::Env;
use reqwest::Url;

impl CredentialsConfig {
    /// The provider the file names, or the places of the default chain that
    /// apply now, in order, as far as they can be told without asking any service.
    pub fn describe(&self, env: &Env) -> String {
        let options = match self {
            CredentialsConfig::Provider(spec) => return describe(spec),
            CredentialsConfig::Chain(options) => options,
        };
        let chain = match default_chain(env, options) {
            Ok(chain) => chain,
            Err(error) => return format!("the default chain, which cannot be read: {error}"),
        };
        let mut places = Vec::new();
        // A place that is there but refused (a CloudSSO profile, a half-set key
        // pair) is passed over at start-up too: said here, it is a mistake found
        // before it costs a page.
        let mut refused = Vec::new();
        for (place, spec) in chain {
            match spec {
                Ok(spec) => places.push(format!("{place}: {}", describe(&spec))),
                Err(skipped) if skipped.refused => refused.push(format!("{place}: {skipped}")),
                Err(_) => {}
            }
        }
        let passed_over = if refused.is_empty() {
            String::new()
        } else {
            format!(
                " (passed over, as they cannot be used: {})",
                refused.join("; ")
            )
        };
        if places.is_empty() {
            return format!(
                "the default chain, where no place applies now{passed_over} (--config.check.credentials says why, place by place)"
            );
        }
        format!(
            "the default chain, trying in order: {}{passed_over}",
            places.join("; then ")
        )
    }
}

/// One provider in words; secrets never, the AccessKey ID by its first four characters.
fn describe(spec: &ProviderSpec) -> String {
    match spec {
        ProviderSpec::Static { name, credentials } => {
            let from = match *name {
                "config" => " from the config file",
                "environment" => {
                    " from ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET"
                }
                _ => "",
            };
            let token = if credentials.security_token.is_some() {
                " with an STS token"
            } else {
                ""
            };
            format!(
                "static AccessKey {}{token}{from}",
                credentials.key_id_hint()
            )
        }
        ProviderSpec::RamRoleArn {
            source,
            role_arn,
            sts,
            ..
        } => format!(
            "role {role_arn} assumed through {}, signed with {}",
            sts_at(sts),
            describe(source)
        ),
        ProviderSpec::Oidc {
            role_arn,
            token_file,
            sts,
            ..
        } => format!(
            "role {role_arn} assumed through {} with the OIDC token in {}",
            sts_at(sts),
            token_file.display()
        ),
        ProviderSpec::EcsRamRole {
            role: Some(role),
            endpoint,
        } => format!(
            "the ECS instance RAM role {role} from the metadata service at {endpoint} (not asked by --config.check)"
        ),
        ProviderSpec::EcsRamRole {
            role: None,
            endpoint,
        } => format!(
            "the ECS instance RAM role, as the metadata service at {endpoint} names it (not asked by --config.check)"
        ),
        ProviderSpec::Uri { uri } => format!(
            "the credentials URI at {} (not asked by --config.check)",
            origin(uri)
        ),
        ProviderSpec::External { command } => format!(
            "the credentials the command {} prints (not run by --config.check)",
            command.program()
        ),
    }
}

/// Where STS is, as the role's settings resolve it.
fn sts_at(sts: &crate::credentials::Sts) -> String {
    match StsEndpoint::resolve(sts.endpoint.as_deref(), sts.region.as_deref(), sts.vpc) {
        Ok(endpoint) => format!("STS at {} (not asked by --config.check)", endpoint.as_str()),
        Err(error) => format!("STS, whose endpoint is refused: {error}"),
    }
}

/// Scheme, host and port of a URI: its path or query may carry a token.
fn origin(uri: &str) -> String {
    Url::parse(uri).map_or_else(
        |_| "(not shown: it is not a URL)".to_owned(),
        |url| url.origin().ascii_serialization(),
    )
}
