//! The default credentials chain of the official SDKs (spec section 4.2), with
//! the same variables, files and order, and the providers it can yield.

use super::build::{BuildContext, build};
use super::ecs::METADATA_ENDPOINT;
use super::spec::{ProviderSpec, RoleSettings, Sts};
use super::{CredentialsError, CredentialsProvider, StaticProvider, files};
use crate::env::Env;
use crate::input::{ReadError, read_bounded};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Overrides for the chain's endpoints (tests point them at the simulator).
#[derive(Debug, Clone, Default)]
pub struct ChainOptions {
    /// STS, instead of what the variables select.
    pub sts_endpoint: Option<String>,
    /// The ECS metadata service, instead of `http://100.100.100.200`.
    pub metadata_endpoint: Option<String>,
}

/// Role defaults from the environment: session name, STS region and VPC endpoint.
pub fn role_settings(env: &Env, options: &ChainOptions) -> RoleSettings {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    RoleSettings {
        session_name: env
            .non_empty("ALIBABA_CLOUD_ROLE_SESSION_NAME")
            .unwrap_or_else(|| format!("aliyun-cas-exporter-{unix}")),
        duration: Duration::from_secs(3600),
        sts: Sts {
            endpoint: options.sts_endpoint.clone(),
            region: env.non_empty("ALIBABA_CLOUD_STS_REGION"),
            vpc: env.flag("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED"),
        },
        metadata_endpoint: metadata_endpoint(options),
    }
}

/// A place of the chain: its name, and the provider it yields or why it does not.
pub type Place = (&'static str, Result<ProviderSpec, Skipped>);

/// Why a place of the chain yields no provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Why, in words.
    pub why: String,
    /// The place is there but refused (a half-set key pair, a profile file that
    /// cannot be used), which is a mistake to fix rather than a place not in use.
    pub refused: bool,
}

impl Skipped {
    fn absent(why: impl Into<String>) -> Self {
        Self {
            why: why.into(),
            refused: false,
        }
    }

    fn refused(why: impl Into<String>) -> Self {
        Self {
            why: why.into(),
            refused: true,
        }
    }
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

/// The chain's places in order, each with the provider it yields or why it does not apply.
pub fn default_chain(env: &Env, options: &ChainOptions) -> Result<Vec<Place>, CredentialsError> {
    let role = role_settings(env, options);
    let home = env.non_empty("HOME");
    let read = |path: &str| {
        read_bounded(Path::new(path)).map_err(|e| match e {
            ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Skipped::absent(format!("no file at {path}"))
            }
            e => Skipped::refused(format!("{path}: {e}")),
        })
    };
    let mut chain = Vec::new();

    let environment = match StaticProvider::from_environment(env) {
        Err(half_set) => Err(Skipped::refused(half_set.to_string())),
        Ok(None) => Err(Skipped::absent(
            "ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET are not set",
        )),
        Ok(Some(provider)) => provider
            .credentials()
            .map(|c| ProviderSpec::Static {
                name: "environment",
                credentials: (*c).clone(),
            })
            .map_err(|e| Skipped::refused(e.to_string())),
    };
    chain.push(("environment", environment));

    let oidc_vars = [
        "ALIBABA_CLOUD_ROLE_ARN",
        "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
        "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
    ];
    let oidc = match oidc_vars.map(|name| env.non_empty(name)) {
        [Some(role_arn), Some(provider_arn), Some(token_file)] => Ok(ProviderSpec::Oidc {
            role_arn,
            provider_arn,
            token_file: token_file.into(),
            session_name: role.session_name.clone(),
            policy: None,
            duration: role.duration,
            sts: role.sts.clone(),
        }),
        _ => Err(Skipped::absent(format!(
            "not all of {} are set",
            oidc_vars.join(", ")
        ))),
    };
    chain.push(("oidc_role_arn", oidc));

    let profile = env.non_empty("ALIBABA_CLOUD_PROFILE");
    let cli = if env.flag("ALIBABA_CLOUD_CLI_PROFILE_DISABLED") {
        Err(Skipped::absent(
            "ALIBABA_CLOUD_CLI_PROFILE_DISABLED is true",
        ))
    } else {
        match &home {
            None => Err(Skipped::absent("HOME is not set")),
            Some(home) => {
                let path = format!("{home}/.aliyun/config.json");
                read(&path).and_then(|text| {
                    files::cli_profile(&text, profile.as_deref(), &role)
                        .map_err(|e| Skipped::refused(format!("{path}: {e}")))
                })
            }
        }
    };
    chain.push(("cli_profile", cli));

    let ini_paths: Vec<String> = match env.non_empty("ALIBABA_CLOUD_CREDENTIALS_FILE") {
        Some(path) => vec![path],
        None => home
            .iter()
            .flat_map(|h| {
                [
                    format!("{h}/.alibabacloud/credentials"),
                    format!("{h}/.alibabacloud/credentials.ini"),
                ]
            })
            .collect(),
    };
    let section = profile.as_deref().unwrap_or("default");
    // The first file that exists is used; one that exists but cannot be read is reported as such.
    let mut found = if ini_paths.is_empty() {
        Err(Skipped::absent(
            "HOME and ALIBABA_CLOUD_CREDENTIALS_FILE are not set",
        ))
    } else {
        Err(Skipped::absent(format!(
            "no profile file at {}",
            ini_paths.join(" or ")
        )))
    };
    for path in &ini_paths {
        match read_bounded(Path::new(path)) {
            Ok(text) => {
                found = Ok((path, text));
                break;
            }
            Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                found = Err(Skipped::refused(format!("{path}: {e}")));
                break;
            }
        }
    }
    let ini = found.and_then(|(path, text)| {
        files::ini_profile(&text, section, &role)
            .map_err(|e| Skipped::refused(format!("{path}: {e}")))
    });
    chain.push(("profile", ini));

    let ecs = if env.flag("ALIBABA_CLOUD_ECS_METADATA_DISABLED") {
        Err(Skipped::absent(
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED is true",
        ))
    } else {
        Ok(ProviderSpec::EcsRamRole {
            role: env.non_empty("ALIBABA_CLOUD_ECS_METADATA"),
            endpoint: metadata_endpoint(options),
        })
    };
    chain.push(("ecs_ram_role", ecs));

    let uri = env
        .non_empty("ALIBABA_CLOUD_CREDENTIALS_URI")
        .map(|uri| ProviderSpec::Uri { uri })
        .ok_or_else(|| Skipped::absent("ALIBABA_CLOUD_CREDENTIALS_URI is not set"));
    chain.push(("credentials_uri", uri));
    Ok(chain)
}

/// Tries the chain's places in order and returns the first provider that yields credentials;
/// otherwise says, place by place, why none did.
pub async fn resolve_chain(
    env: &Env,
    options: &ChainOptions,
    ctx: &BuildContext,
) -> Result<Arc<dyn CredentialsProvider>, CredentialsError> {
    let mut tried = Vec::new();
    for (place, candidate) in default_chain(env, options)? {
        match candidate {
            Err(why) => tried.push(format!("{place}: {why}")),
            Ok(spec) => match build(&spec, ctx).await {
                Ok(provider) => return Ok(provider),
                Err(error) => tried.push(format!("{place}: {error}")),
            },
        }
    }
    Err(CredentialsError::NotFound { tried })
}

/// The ECS metadata endpoint to use: the override, or the real one.
pub fn metadata_endpoint(options: &ChainOptions) -> String {
    options
        .metadata_endpoint
        .clone()
        .unwrap_or_else(|| METADATA_ENDPOINT.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::build::Quiet;
    use crate::credentials::tests::env;
    use tokio_util::sync::CancellationToken;

    #[tokio::test]
    async fn a_profile_the_official_library_refuses_passes_the_chain_on() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().to_str().unwrap();
        std::fs::create_dir_all(format!("{h}/.aliyun")).unwrap();
        std::fs::create_dir_all(format!("{h}/.alibabacloud")).unwrap();
        std::fs::write(
            format!("{h}/.alibabacloud/credentials.ini"),
            "[default]\ntype = access_key\naccess_key_id = LTAIini\naccess_key_secret = s\n",
        )
        .unwrap();
        let ctx = BuildContext::from_env(&env(&[]), Arc::new(Quiet), CancellationToken::new());
        for cli in [
            r#"{"profiles":[{"name":"default","mode":"AK","access_key_id":"LTAIcli","access_key_secret":"s"}]}"#,
            r#"{"current":"t","profiles":[{"name":"t","mode":"StsToken","access_key_id":"STS.a","access_key_secret":"s","sts_token":""}]}"#,
        ] {
            std::fs::write(format!("{h}/.aliyun/config.json"), cli).unwrap();
            let provider = resolve_chain(&env(&[("HOME", h)]), &ChainOptions::default(), &ctx)
                .await
                .unwrap();
            assert_eq!(provider.name(), "profile", "{cli}");
            assert_eq!(provider.credentials().unwrap().access_key_id, "LTAIini");
        }
    }

    fn places(pairs: &[(&str, &str)]) -> Vec<(String, Result<String, String>)> {
        default_chain(&env(pairs), &ChainOptions::default())
            .unwrap()
            .into_iter()
            .map(|(place, spec)| {
                let spec = spec.map(|s| match s {
                    ProviderSpec::Static { name, credentials } => {
                        format!("{name} {}", credentials.access_key_id)
                    }
                    ProviderSpec::Oidc {
                        role_arn,
                        token_file,
                        session_name,
                        ..
                    } => {
                        format!("oidc {role_arn} {} {session_name}", token_file.display())
                    }
                    ProviderSpec::EcsRamRole { role, .. } => format!("ecs {role:?}"),
                    ProviderSpec::Uri { uri } => format!("uri {uri}"),
                    ProviderSpec::External { command } => format!("external {}", command.program()),
                    ProviderSpec::RamRoleArn { role_arn, .. } => format!("arn {role_arn}"),
                });
                (place.to_owned(), spec.map_err(|skipped| skipped.why))
            })
            .collect()
    }

    #[test]
    fn the_chain_follows_the_sdk_order_and_variables() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().to_str().unwrap();
        std::fs::create_dir_all(format!("{h}/.alibabacloud")).unwrap();
        std::fs::write(
            format!("{h}/.alibabacloud/credentials.ini"),
            "[default]\ntype = access_key\naccess_key_id = LTAIini\naccess_key_secret = s\n[other]\ntype = ecs_ram_role\n",
        )
        .unwrap();
        std::fs::create_dir_all(format!("{h}/.aliyun")).unwrap();
        std::fs::write(
            format!("{h}/.aliyun/config.json"),
            r#"{"current":"main","profiles":[{"name":"main","mode":"AK","access_key_id":"LTAIcli","access_key_secret":"s"},{"name":"other","mode":"EcsRamRole"}]}"#,
        )
        .unwrap();
        let all = places(&[
            ("HOME", h),
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIenv"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "s"),
            ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/r"),
            ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "p"),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "/token"),
            ("ALIBABA_CLOUD_ROLE_SESSION_NAME", "sess"),
            ("ALIBABA_CLOUD_ECS_METADATA", "cas-role"),
            ("ALIBABA_CLOUD_CREDENTIALS_URI", "http://127.0.0.1:1/creds"),
        ]);
        let names: Vec<&str> = all.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "environment",
                "oidc_role_arn",
                "cli_profile",
                "profile",
                "ecs_ram_role",
                "credentials_uri"
            ]
        );
        let specs: Vec<Result<String, String>> = all.into_iter().map(|(_, s)| s).collect();
        assert_eq!(
            specs,
            vec![
                Ok("environment LTAIenv".into()),
                Ok("oidc acs:ram::1:role/r /token sess".into()),
                Ok("cli_profile LTAIcli".into()),
                Ok("profile LTAIini".into()),
                Ok("ecs Some(\"cas-role\")".into()),
                Ok("uri http://127.0.0.1:1/creds".into()),
            ]
        );

        // ALIBABA_CLOUD_PROFILE picks the INI section and the CLI profile; the switches take places out.
        let other = places(&[
            ("HOME", h),
            ("ALIBABA_CLOUD_PROFILE", "other"),
            ("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true"),
            ("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "TRUE"),
            ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/r"),
        ]);
        let specs: Vec<Result<String, String>> = other.into_iter().map(|(_, s)| s).collect();
        assert_eq!(
            specs[0],
            Err(
                "ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET are not set"
                    .into()
            )
        );
        assert_eq!(
            specs[1],
            Err("not all of ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE are set".into())
        );
        assert_eq!(
            specs[2],
            Err("ALIBABA_CLOUD_CLI_PROFILE_DISABLED is true".into())
        );
        assert_eq!(
            specs[3],
            Ok("ecs None".into()),
            "section [other] of credentials.ini"
        );
        assert_eq!(
            specs[4],
            Err("ALIBABA_CLOUD_ECS_METADATA_DISABLED is true".into())
        );
        assert_eq!(
            specs[5],
            Err("ALIBABA_CLOUD_CREDENTIALS_URI is not set".into())
        );

        // ALIBABA_CLOUD_CREDENTIALS_FILE replaces both default paths; credentials (no .ini) comes first.
        let file = home.path().join("custom.ini");
        std::fs::write(
            &file,
            "[default]\ntype = access_key\naccess_key_id = LTAIcustom\naccess_key_secret = s\n",
        )
        .unwrap();
        let custom = places(&[
            ("HOME", h),
            ("ALIBABA_CLOUD_CREDENTIALS_FILE", file.to_str().unwrap()),
        ]);
        assert_eq!(custom[3].1, Ok("profile LTAIcustom".into()));
        std::fs::write(
            format!("{h}/.alibabacloud/credentials"),
            "[default]\ntype = access_key\naccess_key_id = LTAIgo\naccess_key_secret = s\n",
        )
        .unwrap();
        assert_eq!(places(&[("HOME", h)])[3].1, Ok("profile LTAIgo".into()));
    }

    #[test]
    fn a_half_set_environment_is_one_failed_place_not_the_end_of_the_chain() {
        let all = places(&[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI"),
            ("ALIBABA_CLOUD_CREDENTIALS_URI", "http://127.0.0.1:9/c"),
        ]);
        assert!(
            all[0]
                .1
                .as_ref()
                .unwrap_err()
                .starts_with("ALIBABA_CLOUD_ACCESS_KEY_ID is set but")
        );
        assert_eq!(all[5].1, Ok("uri http://127.0.0.1:9/c".into()));
    }

    #[test]
    fn without_home_the_profile_file_place_says_so() {
        assert_eq!(
            places(&[])[3],
            (
                "profile".to_owned(),
                Err("HOME and ALIBABA_CLOUD_CREDENTIALS_FILE are not set".to_owned())
            )
        );
    }

    #[test]
    fn sts_settings_come_from_the_environment() {
        let role = role_settings(
            &env(&[
                ("ALIBABA_CLOUD_STS_REGION", "cn-shanghai"),
                ("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED", "true"),
            ]),
            &ChainOptions::default(),
        );
        assert_eq!(
            role.sts,
            Sts {
                endpoint: None,
                region: Some("cn-shanghai".into()),
                vpc: true
            }
        );
        assert!(role.session_name.starts_with("aliyun-cas-exporter-"));
        assert_eq!(role.duration, Duration::from_secs(3600));
    }
}
