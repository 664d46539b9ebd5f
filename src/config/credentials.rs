//! The `credentials:` section. Each type has one entry in [`TYPES`]: its name,
//! the keys it takes and how its section is built, so that the list of types,
//! the keys each refuses and the provider each makes cannot drift apart.

use super::check::Checker;
use super::raw::RawCredentials;
use super::types::CredentialsConfig;
use crate::credentials::{
    ChainOptions, Credentials, CredentialsProvider, ProviderSpec, RoleSettings, Secret,
    StaticProvider, role_settings,
};
use crate::env::Env;
use crate::input::excerpt;
use crate::yaml::DocumentError;
use std::time::Duration;

/// One credentials type: the name `type:` gives it, the keys its section may hold
/// (in the order refusals list them), and how the section becomes a [`CredentialsConfig`].
struct CredentialType {
    name: &'static str,
    keys: &'static [&'static str],
    build: fn(&Section<'_>) -> Result<CredentialsConfig, DocumentError>,
}

/// Every credentials type, in the order refusals list them.
const TYPES: [CredentialType; 6] = [
    CredentialType {
        name: "default",
        keys: &["sts_endpoint", "metadata_endpoint"],
        build: |section| section.default_chain(),
    },
    CredentialType {
        name: "access_key",
        keys: &["access_key_id", "access_key_secret", "security_token"],
        build: |section| section.access_key(),
    },
    CredentialType {
        name: "ram_role_arn",
        keys: &[
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
        build: |section| section.ram_role_arn(),
    },
    CredentialType {
        name: "oidc_role_arn",
        keys: &[
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
        build: |section| section.oidc_role_arn(),
    },
    CredentialType {
        name: "ecs_ram_role",
        keys: &["role_name", "metadata_endpoint"],
        build: |section| section.ecs_ram_role(),
    },
    CredentialType {
        name: "credentials_uri",
        keys: &["uri"],
        build: |section| section.credentials_uri(),
    },
];

/// The longest role session STS grants (a role's maximum session duration is at most 12 hours).
const MAX_ROLE_SESSION: Duration = Duration::from_secs(12 * 3600);

/// The longest variable name a `${NAME}` reference may give (it is quoted in errors).
const MAX_VARIABLE_NAME: usize = 128;

impl Checker<'_> {
    /// The `credentials:` section at `key`, checked against its type's entry in [`TYPES`].
    pub(super) fn credentials(
        &self,
        key: &str,
        raw: RawCredentials,
    ) -> Result<CredentialsConfig, DocumentError> {
        let by_value = |v: &Option<String>| {
            v.as_deref()
                .is_some_and(|v| !v.is_empty() && !v.starts_with("${"))
        };
        if by_value(&raw.access_key_secret) || by_value(&raw.security_token) {
            self.secrets_in_file.set(true);
        }
        let named = raw
            .kind
            .as_deref()
            .unwrap_or(if raw.access_key_id.is_some() {
                "access_key"
            } else {
                "default"
            });
        let Some(kind) = TYPES.iter().find(|t| t.name == named) else {
            return Err(self.invalid(
                &format!("{key}.type"),
                format!(
                    "{} is not a credentials type; use one of {}",
                    excerpt(named),
                    TYPES.map(|t| t.name).join(", ")
                ),
            ));
        };
        if let Some(stray) = raw.given().find(|given| !kind.keys.contains(given)) {
            return Err(self.invalid(
                &format!("{key}.{stray}"),
                format!(
                    "does not apply to credentials of type {}; it takes {}",
                    kind.name,
                    kind.keys.join(", ")
                ),
            ));
        }
        (kind.build)(&Section {
            check: self,
            key,
            kind: kind.name,
            raw,
        })
    }
}

/// A `credentials:` section whose keys suit its type, being built.
struct Section<'a> {
    check: &'a Checker<'a>,
    /// Where the section stands, such as `accounts[0].credentials`.
    key: &'a str,
    /// The type's name.
    kind: &'static str,
    raw: RawCredentials,
}

impl Section<'_> {
    fn invalid(&self, name: &str, message: impl Into<String>) -> DocumentError {
        self.check.invalid(&format!("{}.{name}", self.key), message)
    }

    /// `value` with a `${NAME}` reference resolved; empty counts as not given.
    fn resolve(&self, name: &str, value: &Option<String>) -> Result<Option<String>, DocumentError> {
        value
            .as_deref()
            .map(|v| {
                resolve_reference(v, self.check.env)
                    .map_err(|m| self.check.invalid_at(&format!("{}.{name}", self.key), m))
            })
            .transpose()
            .map(|v| v.filter(|v| !v.is_empty()))
    }

    /// As in the SDKs, a role's ARN, OIDC provider and token file default to their variables.
    fn need(
        &self,
        name: &str,
        value: &Option<String>,
        variable: &str,
    ) -> Result<String, DocumentError> {
        self.resolve(name, value)?
            .or_else(|| self.check.env.non_empty(variable))
            .ok_or_else(|| {
                self.invalid(
                    name,
                    format!(
                        "is required for credentials of type {}: write it here or set {variable}",
                        self.kind
                    ),
                )
            })
    }

    /// The AccessKey pair written in the section, if any; half a pair is refused.
    fn key_pair(&self) -> Result<Option<ProviderSpec>, DocumentError> {
        let raw = &self.raw;
        let id = self.resolve("access_key_id", &raw.access_key_id)?;
        let secret = self.resolve("access_key_secret", &raw.access_key_secret)?;
        let token = self.resolve("security_token", &raw.security_token)?;
        match (id, secret) {
            (Some(id), Some(secret)) => Ok(Some(ProviderSpec::Static {
                name: "config",
                credentials: Credentials {
                    access_key_id: id,
                    access_key_secret: Secret::new(secret),
                    security_token: token.map(Secret::new),
                },
            })),
            (None, None) => Ok(None),
            _ => Err(self.check.invalid(
                self.key,
                "access_key_id and access_key_secret must both be given and non-empty; remove both to use ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET instead",
            )),
        }
    }

    fn options(&self) -> ChainOptions {
        ChainOptions {
            sts_endpoint: self.raw.sts_endpoint.clone(),
            metadata_endpoint: self.raw.metadata_endpoint.clone(),
        }
    }

    /// The environment's role defaults, with what the section sets instead.
    fn role(&self) -> Result<RoleSettings, DocumentError> {
        let raw = &self.raw;
        let mut role = role_settings(self.check.env, &self.options());
        if let Some(region) = &raw.sts_region {
            role.sts.region = Some(region.clone());
        }
        if let Some(vpc) = raw.sts_vpc {
            role.sts.vpc = vpc;
        }
        match raw.duration.as_ref().map(|d| d.0) {
            Some(d) if d < Duration::from_secs(900) => {
                return Err(self.invalid(
                    "duration",
                    "STS issues credentials for 15m at least; write 15m or more (1h is the default)",
                ));
            }
            Some(d) if d > MAX_ROLE_SESSION => {
                return Err(self.invalid(
                    "duration",
                    "STS issues credentials for 12h at most (and only up to the role's maximum session duration, 1h unless raised); write 12h or less",
                ));
            }
            Some(d) => role.duration = d,
            None => {}
        }
        if let Some(name) = &raw.role_session_name {
            role.session_name = name.clone();
        }
        Ok(role)
    }

    fn default_chain(&self) -> Result<CredentialsConfig, DocumentError> {
        Ok(CredentialsConfig::Chain(self.options()))
    }

    fn access_key(&self) -> Result<CredentialsConfig, DocumentError> {
        let spec = self.key_pair()?.ok_or_else(|| {
            self.check.invalid(
                self.key,
                "access_key_id and access_key_secret must both be given and non-empty; remove the section to use the default chain (ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET and the rest)",
            )
        })?;
        Ok(CredentialsConfig::Provider(spec))
    }

    fn ram_role_arn(&self) -> Result<CredentialsConfig, DocumentError> {
        let role = self.role()?;
        let source = match self.key_pair()? {
            Some(spec) => spec,
            None => self.environment_key_pair()?,
        };
        Ok(CredentialsConfig::Provider(ProviderSpec::RamRoleArn {
            source: Box::new(source),
            role_arn: self.need("role_arn", &self.raw.role_arn, "ALIBABA_CLOUD_ROLE_ARN")?,
            session_name: role.session_name,
            policy: self.raw.policy.clone(),
            external_id: self.raw.external_id.clone(),
            duration: role.duration,
            sts: role.sts,
        }))
    }

    /// The AccessKey pair of the environment, for a role whose section gives none.
    fn environment_key_pair(&self) -> Result<ProviderSpec, DocumentError> {
        let invalid = |message: String| self.check.invalid(self.key, message);
        let Some(env) =
            StaticProvider::from_environment(self.check.env).map_err(|e| invalid(e.to_string()))?
        else {
            return Err(invalid(
                "a ram_role_arn needs source credentials: give access_key_id and access_key_secret here, or set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET".to_owned(),
            ));
        };
        Ok(ProviderSpec::Static {
            name: "environment",
            credentials: (*env.credentials().map_err(|e| invalid(e.to_string()))?).clone(),
        })
    }

    fn oidc_role_arn(&self) -> Result<CredentialsConfig, DocumentError> {
        let role = self.role()?;
        let raw = &self.raw;
        Ok(CredentialsConfig::Provider(ProviderSpec::Oidc {
            role_arn: self.need("role_arn", &raw.role_arn, "ALIBABA_CLOUD_ROLE_ARN")?,
            provider_arn: self.need(
                "oidc_provider_arn",
                &raw.oidc_provider_arn,
                "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
            )?,
            token_file: self
                .need(
                    "oidc_token_file",
                    &raw.oidc_token_file,
                    "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
                )?
                .into(),
            session_name: role.session_name,
            policy: raw.policy.clone(),
            duration: role.duration,
            sts: role.sts,
        }))
    }

    fn ecs_ram_role(&self) -> Result<CredentialsConfig, DocumentError> {
        Ok(CredentialsConfig::Provider(ProviderSpec::EcsRamRole {
            role: self.raw.role_name.clone(),
            endpoint: role_settings(self.check.env, &self.options()).metadata_endpoint,
        }))
    }

    fn credentials_uri(&self) -> Result<CredentialsConfig, DocumentError> {
        Ok(CredentialsConfig::Provider(ProviderSpec::Uri {
            uri: self.need("uri", &self.raw.uri, "ALIBABA_CLOUD_CREDENTIALS_URI")?,
        }))
    }
}

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
