//! Makes the provider a [`ProviderSpec`] describes, fetching temporary
//! credentials once and starting their refresh.

use super::ecs::EcsRamRole;
use super::external::{self, ExternalCommand};
use super::refresh::{RefreshObserver, RefreshingProvider};
use super::spec::ProviderSpec;
use super::sts::{AssumeRole, AssumeRoleWithOidc};
use super::uri::CredentialsUri;
use super::{CredentialsError, CredentialsProvider, StaticProvider};
use crate::env::Env;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

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
pub(super) struct Quiet;

impl RefreshObserver for Quiet {
    fn watching(&self, _: &str) {}
    fn refreshed(&self, _: Option<SystemTime>) {}
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
            ProviderSpec::External { command } => Arc::new(ExternalCommand {
                command: command.clone(),
                timeout: external::DEFAULT_TIMEOUT,
            }),
        };
        let provider =
            RefreshingProvider::start(fetcher, Arc::clone(&ctx.observer), attempt.clone()).await?;
        Ok(Arc::new(provider) as Arc<dyn CredentialsProvider>)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Sts;
    use crate::credentials::tests::env;

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
}
