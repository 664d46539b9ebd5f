//! The credential files users already have: the SDKs' INI profile file and the
//! aliyun CLI's `~/.aliyun/config.json` (spec section 4.3), read into
//! [`ProviderSpec`]s.

mod cli;
mod ini;

pub(super) use cli::cli_profile;
pub(super) use ini::ini_profile;

use super::spec::ProviderSpec;
use super::{Credentials, Secret};

/// Fixed credentials read from a file, unless the key ID or the secret is empty.
fn static_spec(
    name: &'static str,
    id: &str,
    secret: &str,
    token: Option<&str>,
) -> Result<ProviderSpec, String> {
    if id.is_empty() || secret.is_empty() {
        return Err("the access key ID or secret is empty".into());
    }
    Ok(ProviderSpec::Static {
        name,
        credentials: Credentials {
            access_key_id: id.to_owned(),
            access_key_secret: Secret::new(secret),
            security_token: token.filter(|t| !t.is_empty()).map(Secret::new),
        },
    })
}

/// What the tests of both files share: role defaults, and a spec told in one line.
#[cfg(test)]
mod fixtures {
    use crate::credentials::spec::{ProviderSpec, RoleSettings, Sts};
    use std::time::Duration;

    /// Role defaults that no profile in the tests matches by accident.
    pub(in crate::credentials::files) fn role() -> RoleSettings {
        RoleSettings {
            session_name: "default-session".into(),
            duration: Duration::from_secs(3600),
            sts: Sts::default(),
            metadata_endpoint: "http://127.0.0.1:9".into(),
        }
    }

    /// The key, role or source a spec ends in, for comparing specs in one assertion.
    pub(in crate::credentials::files) fn key_of(spec: &ProviderSpec) -> String {
        match spec {
            ProviderSpec::Static { credentials, .. } => credentials.access_key_id.clone(),
            ProviderSpec::RamRoleArn {
                source, role_arn, ..
            } => format!("{role_arn} via {}", key_of(source)),
            ProviderSpec::Oidc {
                role_arn,
                token_file,
                ..
            } => format!("oidc {role_arn} {}", token_file.display()),
            ProviderSpec::EcsRamRole { role, .. } => format!("ecs {role:?}"),
            ProviderSpec::Uri { uri } => format!("uri {uri}"),
            ProviderSpec::External { command } => format!("external {}", command.program()),
        }
    }
}
