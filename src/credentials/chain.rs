//! The default credentials chain of the official SDKs (spec section 4.2), with
//! the same variables, files and order, and the providers it can yield.

use super::ecs::{EcsRamRole, METADATA_ENDPOINT};
use super::refresh::{RefreshObserver, RefreshingProvider};
use super::sts::{AssumeRole, AssumeRoleWithOidc, StsEndpoint};
use super::uri::CredentialsUri;
use super::{Credentials, CredentialsError, CredentialsProvider, StaticProvider, files};
use crate::env::Env;
use crate::input::{ReadError, read_bounded};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// How STS is reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sts {
    /// An explicit endpoint (a test's simulator, say).
    pub endpoint: Option<String>,
    /// `ALIBABA_CLOUD_STS_REGION`.
    pub region: Option<String>,
    /// `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED`.
    pub vpc: bool,
}

impl Sts {
    /// The endpoint these settings resolve to.
    fn resolve(&self) -> Result<StsEndpoint, CredentialsError> {
        StsEndpoint::resolve(self.endpoint.as_deref(), self.region.as_deref(), self.vpc)
    }
}

/// Defaults for roles assumed through STS.
#[derive(Debug, Clone)]
pub struct RoleSettings {
    /// `RoleSessionName` when the source names none.
    pub session_name: String,
    /// How long assumed credentials last.
    pub duration: Duration,
    /// How STS is reached.
    pub sts: Sts,
    /// The ECS metadata service, for profiles that use the instance's role.
    pub metadata_endpoint: String,
}

/// A provider, described; [`build`] makes it.
#[derive(Debug, Clone)]
pub enum ProviderSpec {
    /// Fixed credentials (an AccessKey pair, or an STS token with it).
    Static {
        /// Where they come from, for logs.
        name: &'static str,
        /// The credentials.
        credentials: Credentials,
    },
    /// A role assumed with STS `AssumeRole`, signed by `source`.
    RamRoleArn {
        /// The credentials that assume the role.
        source: Box<ProviderSpec>,
        /// The role's ARN.
        role_arn: String,
        /// `RoleSessionName`.
        session_name: String,
        /// A policy narrowing the role.
        policy: Option<String>,
        /// The external ID the trust policy asks for.
        external_id: Option<String>,
        /// How long the credentials last.
        duration: Duration,
        /// How STS is reached.
        sts: Sts,
    },
    /// A role assumed with `AssumeRoleWithOIDC` (RRSA on ACK).
    Oidc {
        /// The role's ARN.
        role_arn: String,
        /// The OIDC provider's ARN.
        provider_arn: String,
        /// The token file, read on every refresh.
        token_file: String,
        /// `RoleSessionName`.
        session_name: String,
        /// A policy narrowing the role.
        policy: Option<String>,
        /// How long the credentials last.
        duration: Duration,
        /// How STS is reached.
        sts: Sts,
    },
    /// The ECS instance's RAM role, from the metadata service.
    EcsRamRole {
        /// The role; discovered when not given.
        role: Option<String>,
        /// The metadata service (normally `http://100.100.100.200`).
        endpoint: String,
    },
    /// A credentials URI.
    Uri {
        /// The URI.
        uri: String,
    },
}

/// What building a provider needs besides its description.
#[derive(Clone)]
pub struct BuildContext {
    /// Told about refreshes, for the self-metrics.
    pub observer: Arc<dyn RefreshObserver>,
    /// Stops the refresh tasks.
    pub shutdown: CancellationToken,
    /// `ALIBABA_CLOUD_IMDSV1_DISABLED`.
    pub imdsv1_disabled: bool,
    /// `ALIBABA_CLOUD_ECS_METADATA_DISABLED`: no ECS provider is built, wherever it
    /// is named (the config, a profile file, a role's source), as in the official SDKs.
    pub metadata_disabled: bool,
}

impl BuildContext {
    /// The context `env` asks for: the two metadata-service switches read from it.
    pub fn from_env(
        env: &Env,
        observer: Arc<dyn RefreshObserver>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            observer,
            shutdown,
            imdsv1_disabled: env.flag("ALIBABA_CLOUD_IMDSV1_DISABLED"),
            metadata_disabled: env.flag("ALIBABA_CLOUD_ECS_METADATA_DISABLED"),
        }
    }
}

/// Why no ECS provider is built while the metadata service is disabled.
const METADATA_DISABLED: &str = "ALIBABA_CLOUD_ECS_METADATA_DISABLED is true, so the metadata service is not contacted; unset it on an ECS instance, or give other credentials";

fn http(connect: Duration, request: Duration) -> Result<reqwest::Client, CredentialsError> {
    reqwest::Client::builder()
        .user_agent(concat!("aliyun-cas-exporter/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(connect)
        .timeout(request)
        .build()
        .map_err(|e| CredentialsError::Fetch {
            provider: "http",
            reason: e.without_url().to_string(),
        })
}

/// A built provider, shared by the client and its refresh task.
pub type SharedProvider = Arc<dyn CredentialsProvider>;

/// The boxed future [`build`] returns (boxed because a role's source is built recursively).
pub type BuildFuture<'a> =
    Pin<Box<dyn Future<Output = Result<SharedProvider, CredentialsError>> + Send + 'a>>;

/// Makes the provider `spec` describes; temporary credentials are fetched once now and then kept fresh.
pub fn build<'a>(spec: &'a ProviderSpec, ctx: &'a BuildContext) -> BuildFuture<'a> {
    Box::pin(async move {
        // Refresh tasks started by a build that then fails must not live on.
        let attempt = ctx.shutdown.child_token();
        let result = build_attempt(spec, ctx, &attempt).await;
        if result.is_err() {
            attempt.cancel();
        }
        result
    })
}

/// Reports nothing: a role's source credentials are not the account's.
struct Quiet;

impl RefreshObserver for Quiet {
    fn watching(&self, _: &str) {}
    fn refreshed(&self, _: SystemTime) {}
    fn refresh_failed(&self, _: &str) {}
}

fn build_attempt<'a>(
    spec: &'a ProviderSpec,
    ctx: &'a BuildContext,
    attempt: &'a CancellationToken,
) -> BuildFuture<'a> {
    Box::pin(async move {
        let sts_http = || http(Duration::from_secs(5), Duration::from_secs(10));
        let fetcher: Arc<dyn super::Fetcher> = match spec {
            ProviderSpec::Static { name, credentials } => {
                return Ok(Arc::new(StaticProvider::new(name, credentials.clone()))
                    as Arc<dyn CredentialsProvider>);
            }
            ProviderSpec::RamRoleArn {
                source,
                role_arn,
                session_name,
                policy,
                external_id,
                duration,
                sts,
            } => Arc::new(AssumeRole {
                http: sts_http()?,
                endpoint: sts.resolve()?,
                source: {
                    let quiet = BuildContext {
                        observer: Arc::new(Quiet),
                        shutdown: attempt.clone(),
                        ..ctx.clone()
                    };
                    build(source, &quiet).await?
                },
                role_arn: role_arn.clone(),
                session_name: session_name.clone(),
                policy: policy.clone(),
                external_id: external_id.clone(),
                duration: *duration,
            }),
            ProviderSpec::Oidc {
                role_arn,
                provider_arn,
                token_file,
                session_name,
                policy,
                duration,
                sts,
            } => Arc::new(AssumeRoleWithOidc {
                http: sts_http()?,
                endpoint: sts.resolve()?,
                role_arn: role_arn.clone(),
                provider_arn: provider_arn.clone(),
                token_file: token_file.clone(),
                session_name: session_name.clone(),
                policy: policy.clone(),
                duration: *duration,
            }),
            // The one place an ECS provider is made: the flag holds for every path to it.
            ProviderSpec::EcsRamRole { .. } if ctx.metadata_disabled => {
                return Err(CredentialsError::Fetch {
                    provider: "ecs_ram_role",
                    reason: METADATA_DISABLED.to_owned(),
                });
            }
            ProviderSpec::EcsRamRole { role, endpoint } => Arc::new(EcsRamRole {
                http: http(Duration::from_secs(1), Duration::from_secs(2))?,
                endpoint: endpoint.trim_end_matches('/').to_owned(),
                role: role.clone(),
                imdsv1_disabled: ctx.imdsv1_disabled,
            }),
            ProviderSpec::Uri { uri } => Arc::new(CredentialsUri {
                http: sts_http()?,
                uri: uri.clone(),
            }),
        };
        let provider =
            RefreshingProvider::start(fetcher, Arc::clone(&ctx.observer), attempt.clone()).await?;
        Ok(Arc::new(provider) as Arc<dyn CredentialsProvider>)
    })
}

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

/// A place of the chain: its name, and the provider it yields or why it does not apply.
pub type Place = (&'static str, Result<ProviderSpec, String>);

/// The chain's places in order, each with the provider it yields or why it does not apply.
pub fn default_chain(env: &Env, options: &ChainOptions) -> Result<Vec<Place>, CredentialsError> {
    let role = role_settings(env, options);
    let home = env.non_empty("HOME");
    let read = |path: &str| {
        read_bounded(Path::new(path)).map_err(|e| match e {
            ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
                format!("no file at {path}")
            }
            e => format!("{path}: {e}"),
        })
    };
    let mut chain = Vec::new();

    let environment = match StaticProvider::from_environment(env) {
        Err(half_set) => Err(half_set.to_string()),
        Ok(None) => Err(
            "ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET are not set".into(),
        ),
        Ok(Some(provider)) => provider
            .credentials()
            .map(|c| ProviderSpec::Static {
                name: "environment",
                credentials: (*c).clone(),
            })
            .map_err(|e| e.to_string()),
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
            token_file,
            session_name: role.session_name.clone(),
            policy: None,
            duration: role.duration,
            sts: role.sts.clone(),
        }),
        _ => Err(format!("not all of {} are set", oidc_vars.join(", "))),
    };
    chain.push(("oidc_role_arn", oidc));

    let profile = env.non_empty("ALIBABA_CLOUD_PROFILE");
    let cli = if env.flag("ALIBABA_CLOUD_CLI_PROFILE_DISABLED") {
        Err("ALIBABA_CLOUD_CLI_PROFILE_DISABLED is true".into())
    } else {
        match &home {
            None => Err("HOME is not set".into()),
            Some(home) => {
                let path = format!("{home}/.aliyun/config.json");
                read(&path).and_then(|text| {
                    files::cli_profile(&text, profile.as_deref(), &role)
                        .map_err(|e| format!("{path}: {e}"))
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
    let mut found = Err(format!("no profile file at {}", ini_paths.join(" or ")));
    for path in &ini_paths {
        match read_bounded(Path::new(path)) {
            Ok(text) => {
                found = Ok((path, text));
                break;
            }
            Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                found = Err(format!("{path}: {e}"));
                break;
            }
        }
    }
    let ini = found.and_then(|(path, text)| {
        files::ini_profile(&text, section, &role).map_err(|e| format!("{path}: {e}"))
    });
    chain.push(("profile", ini));

    let ecs = if env.flag("ALIBABA_CLOUD_ECS_METADATA_DISABLED") {
        Err("ALIBABA_CLOUD_ECS_METADATA_DISABLED is true".into())
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
        .ok_or_else(|| "ALIBABA_CLOUD_CREDENTIALS_URI is not set".into());
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
    use crate::credentials::tests::env;

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

    #[tokio::test]
    async fn no_ecs_provider_is_built_while_the_metadata_service_is_disabled() {
        // A listener standing in for the metadata service: nothing may connect to it.
        let metadata = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        metadata.set_nonblocking(true).unwrap();
        let endpoint = format!("http://{}", metadata.local_addr().unwrap());
        let ecs = ProviderSpec::EcsRamRole {
            role: Some("r".into()),
            endpoint: endpoint.clone(),
        };
        let as_source = ProviderSpec::RamRoleArn {
            source: Box::new(ecs.clone()),
            role_arn: "acs:ram::1:role/r".into(),
            session_name: "s".into(),
            policy: None,
            external_id: None,
            duration: Duration::from_secs(3600),
            sts: Sts {
                endpoint: Some(endpoint),
                region: None,
                vpc: false,
            },
        };
        let ctx = BuildContext::from_env(
            &env(&[("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "True")]),
            Arc::new(Quiet),
            CancellationToken::new(),
        );
        for spec in [&ecs, &as_source] {
            let Err(error) = build(spec, &ctx).await else {
                panic!("an ECS provider was built");
            };
            assert_eq!(
                error.to_string(),
                format!("cannot get credentials from ecs_ram_role: {METADATA_DISABLED}")
            );
        }
        assert!(
            metadata.accept().is_err(),
            "something connected to the metadata service"
        );
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
                        format!("oidc {role_arn} {token_file} {session_name}")
                    }
                    ProviderSpec::EcsRamRole { role, .. } => format!("ecs {role:?}"),
                    ProviderSpec::Uri { uri } => format!("uri {uri}"),
                    ProviderSpec::RamRoleArn { role_arn, .. } => format!("arn {role_arn}"),
                });
                (place.to_owned(), spec)
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
