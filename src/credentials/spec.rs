//! Providers described, not yet built: what the configuration file, the
//! default chain and the credential files name, and what [`build`](super::build()) makes.

use super::external::ProcessCommand;
use super::sts::StsEndpoint;
use super::{Credentials, CredentialsError};
use std::path::PathBuf;
use std::time::Duration;

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
    pub(super) fn resolve(&self) -> Result<StsEndpoint, CredentialsError> {
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

/// A provider, described; [`build`](super::build()) makes it.
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
        token_file: PathBuf,
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
    /// A command that prints credentials (the aliyun CLI's External profile mode).
    External {
        /// The command line.
        command: ProcessCommand,
    },
}
