//! The simulator's input file: its AccessKeys, limits, faults and jobs.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Everything the simulator serves, as read from YAML or JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorSpec {
    /// The AccessKeys it knows; requests signed with any other get `InvalidAccessKeyId.NotFound`.
    pub access_keys: Vec<AccessKeySpec>,
    /// Calls per second allowed per account and action (the real service allows 10); 0 means no limit.
    #[serde(default = "default_qps_limit")]
    pub qps_limit: u32,
    /// HTTP status of `Throttling.User` answers (400 or 429 are both seen in the wild).
    #[serde(default = "default_throttle_status")]
    pub throttle_status: u16,
    /// When set, `Throttling.User` answers carry `x-acs-retry-after` with this many milliseconds.
    #[serde(
        default,
        deserialize_with = "crate::yaml::deserialize_optional_duration"
    )]
    pub throttle_retry_after: Option<Duration>,
    /// Delay added before every answer.
    #[serde(default, deserialize_with = "crate::yaml::deserialize_duration")]
    pub latency: Duration,
    /// Shares of requests answered with a fault.
    #[serde(default)]
    pub faults: FaultShares,
    /// The most items a page of ListDeploymentJob or ListWorkerResource holds,
    /// whatever `ShowSize` asks, as real services clamp page sizes; 0 means no limit.
    #[serde(default)]
    pub page_size_limit: u64,
    /// The deployment jobs.
    #[serde(default)]
    pub jobs: Vec<JobSpec>,
    /// The identity services it also plays (STS, ECS metadata, credentials URI).
    #[serde(default)]
    pub identity: IdentitySpec,
}

/// STS roles, the ECS instance's role and the credentials URI.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySpec {
    /// Roles STS lets any known key assume, and OIDC identities assume.
    #[serde(default)]
    pub roles: Vec<RoleSpec>,
    /// The RAM role of the simulated ECS instance; no role when absent.
    #[serde(default)]
    pub ecs_role: Option<String>,
    /// Refuse metadata requests without an IMDSv2 token.
    #[serde(default)]
    pub imdsv2_required: bool,
    /// Serve no IMDSv2 tokens (an older metadata service): clients must fall back to v1.
    #[serde(default)]
    pub imdsv2_unavailable: bool,
    /// Serve credentials at `/credentials`.
    #[serde(default)]
    pub credentials_uri: bool,
    /// How long issued credentials last, instead of what was asked (tests use short ones).
    #[serde(
        default,
        deserialize_with = "crate::yaml::deserialize_optional_duration"
    )]
    pub credential_lifetime: Option<Duration>,
}

/// A role STS knows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// `acs:ram::<account>:role/<name>`.
    pub arn: String,
    /// The OIDC provider trusted to assume it.
    #[serde(default)]
    pub oidc_provider_arn: Option<String>,
    /// The OIDC token it accepts.
    #[serde(default)]
    pub oidc_token: Option<String>,
}

fn default_qps_limit() -> u32 {
    10
}

fn default_throttle_status() -> u16 {
    400
}

/// An AccessKey the simulator accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKeySpec {
    /// The AccessKey ID.
    pub id: String,
    /// The AccessKey secret it verifies signatures with.
    pub secret: String,
    /// When set, requests must carry exactly this `SecurityToken` (STS credentials).
    #[serde(default)]
    pub security_token: Option<String>,
    /// Actions this key may not call: they answer `Forbidden.RAM`.
    #[serde(default)]
    pub denied_actions: Vec<String>,
    /// The main account the key belongs to; rate limits are per account.
    #[serde(default = "default_account")]
    pub account: String,
}

fn default_account() -> String {
    "default".to_owned()
}

/// Shares (0 to 1) of admitted requests that fail, spread evenly and deterministically.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultShares {
    /// HTTP 500 `InternalError`.
    #[serde(default)]
    pub internal_error: f64,
    /// HTTP 503 `ServiceUnavailable`.
    #[serde(default)]
    pub service_unavailable: f64,
    /// HTTP 200 with a body that is not JSON.
    #[serde(default)]
    pub malformed: f64,
    /// HTTP 200 with the JSON cut in half.
    #[serde(default)]
    pub truncated: f64,
    /// No answer at all.
    #[serde(default)]
    pub hang: f64,
}

/// A fault forced on every request for one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// HTTP 500 `InternalError`.
    InternalError,
    /// HTTP 503 `ServiceUnavailable`.
    ServiceUnavailable,
    /// `Throttling.User`, whatever the rate.
    Throttle,
    /// HTTP 502 with an HTML body, as a gateway in front of the API would answer.
    BadGateway,
    /// HTTP 200 with a body that is not JSON.
    Malformed,
    /// HTTP 200 with the JSON cut in half.
    Truncated,
    /// HTTP 200 with a valid JSON body of 5 MiB, beyond what a client should read.
    Oversized,
    /// No answer at all.
    Hang,
}

impl Fault {
    /// The name written in the request log.
    pub fn name(self) -> &'static str {
        match self {
            Fault::InternalError => "InternalError",
            Fault::ServiceUnavailable => "ServiceUnavailable",
            Fault::Throttle => "Throttling.User",
            Fault::BadGateway => "bad_gateway",
            Fault::Malformed => "malformed",
            Fault::Truncated => "truncated",
            Fault::Oversized => "oversized",
            Fault::Hang => "hang",
        }
    }
}

/// One deployment job and how it behaves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// The job ID.
    pub id: u64,
    /// The job's name.
    #[serde(default)]
    pub name: String,
    /// `cloud`, `user` or `trustee`.
    #[serde(default = "default_job_type")]
    pub job_type: String,
    /// `upload`, `buy` or `free`.
    #[serde(default = "default_cert_type")]
    pub cert_type: String,
    /// The certificate's domains, comma-separated.
    #[serde(default)]
    pub cert_domain: String,
    /// The Alibaba Cloud region of the job's resources (`RegionId` of its workers).
    #[serde(default = "default_region")]
    pub region: String,
    /// How long before the simulator started the job started (`StartTime`).
    #[serde(default, deserialize_with = "crate::yaml::deserialize_duration")]
    pub started_ago: Duration,
    /// How long before the simulator started a job with fixed, finished outcomes
    /// ended (`EndTime`); when the simulator started if absent.
    #[serde(
        default,
        deserialize_with = "crate::yaml::deserialize_optional_duration"
    )]
    pub ended_ago: Option<Duration>,
    /// `ScheduleTime` this long after the simulator started.
    #[serde(
        default,
        deserialize_with = "crate::yaml::deserialize_optional_duration"
    )]
    pub scheduled_in: Option<Duration>,
    /// `ScheduleTime` this long before the simulator started.
    #[serde(
        default,
        deserialize_with = "crate::yaml::deserialize_optional_duration"
    )]
    pub scheduled_ago: Option<Duration>,
    /// A fixed job status; derived from the worker counts when absent.
    #[serde(default)]
    pub status: Option<String>,
    /// Worker tasks per product (`ProductWorkerCount`); `WorkerCount` is their sum.
    #[serde(default)]
    pub workers: BTreeMap<String, i64>,
    /// `MatchWorkerCount`; `WorkerCount` when absent.
    #[serde(default)]
    pub matched: Option<i64>,
    /// Fixed outcomes, used when there is no `evolution`.
    #[serde(default)]
    pub outcomes: Outcomes,
    /// When set, workers finish one per step and the outcomes follow a fixed pattern.
    #[serde(default)]
    pub evolution: Option<Evolution>,
    /// `ResourceCount`.
    #[serde(default)]
    pub resources: i64,
    /// `UseCount`.
    #[serde(default)]
    pub used_resources: i64,
    /// `BuyCount`.
    #[serde(default)]
    pub purchased_resources: i64,
    /// `CostCount`.
    #[serde(default)]
    pub consumed_resources: i64,
    /// `CertCount`; the number of the job's certificates when absent.
    #[serde(default)]
    pub certificates: Option<i64>,
    /// The certificates the job deploys, each generated with the defaults of
    /// [`CertSpec`]; ignored when `certs` is given.
    #[serde(default)]
    pub cert_ids: Vec<u64>,
    /// The certificates the job deploys, as ListDeploymentJobCert lists them;
    /// `[]` for none. Absent: one per `cert_ids` entry, or one derived from the job ID.
    #[serde(default)]
    pub certs: Option<Vec<CertSpec>>,
    /// A fault every request for this job gets (of the actions `fault_actions` names).
    #[serde(default)]
    pub fault: Option<Fault>,
    /// The actions, by API name, that `fault` and `error` apply to; all when empty.
    /// ListDeploymentJob only when named: then every listing page that holds the job fails.
    #[serde(default)]
    pub fault_actions: Vec<String>,
    /// Response fields to leave out, by wire name (such as `BuyCount`).
    #[serde(default)]
    pub omit_fields: Vec<String>,
    /// Send the counts as numeric strings, as some API versions do.
    #[serde(default)]
    pub numbers_as_strings: bool,
    /// Response fields sent with these values instead, by wire name, in every
    /// answer about the job (the listing included): odd answers such as `Id: 0`,
    /// a negative count or a name with control characters.
    #[serde(default)]
    pub override_fields: BTreeMap<String, serde_json::Value>,
    /// An error answer, with any code, every request for this job gets (of the actions `fault_actions` names).
    #[serde(default)]
    pub error: Option<ErrorAnswer>,
}

/// An error answer with a chosen code, message and request ID.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorAnswer {
    /// The HTTP status.
    #[serde(default = "default_error_status")]
    pub status: u16,
    /// `Code`, sent as it is.
    pub code: String,
    /// `Message`.
    #[serde(default)]
    pub message: String,
    /// `RequestId`; the simulator's own when absent.
    #[serde(default)]
    pub request_id: Option<String>,
}

fn default_error_status() -> u16 {
    400
}

fn default_job_type() -> String {
    "user".to_owned()
}

fn default_cert_type() -> String {
    "buy".to_owned()
}

fn default_region() -> String {
    "cn-hangzhou".to_owned()
}

/// A certificate one job deploys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertSpec {
    /// `CertId`.
    pub id: u64,
    /// `CertName`; `cert-<id>` when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// `CommonName`; the first domain of the job's `cert_domain` when absent.
    #[serde(default)]
    pub common_name: Option<String>,
    /// `Sans`; the common name alone when absent.
    #[serde(default)]
    pub sans: Option<Vec<String>>,
    /// `CertType`: `DV`, `OV`, `EV`, ...
    #[serde(default = "default_cert_kind")]
    pub cert_type: String,
    /// `CertOrderType`; the job's `cert_type` when absent.
    #[serde(default)]
    pub order_type: Option<String>,
    /// `StatusCode`, one of the values of spec section 5.6.
    #[serde(default = "default_status_code")]
    pub status_code: String,
    /// `NotAfterTime` this long after the simulator started (90 days unless `expired_ago` is set).
    #[serde(
        default,
        deserialize_with = "crate::yaml::deserialize_optional_duration"
    )]
    pub expires_in: Option<Duration>,
    /// `NotAfterTime` this long before the simulator started.
    #[serde(
        default,
        deserialize_with = "crate::yaml::deserialize_optional_duration"
    )]
    pub expired_ago: Option<Duration>,
    /// `NotBeforeTime` is `NotAfterTime` minus this.
    #[serde(
        default = "default_valid_for",
        deserialize_with = "crate::yaml::deserialize_duration"
    )]
    pub valid_for: Duration,
    /// Fields sent with these values instead, by wire name, as they are:
    /// `NotAfterTime` in milliseconds or as a string, say.
    #[serde(default)]
    pub override_fields: BTreeMap<String, serde_json::Value>,
}

impl CertSpec {
    /// Certificate `id` with every default, as `cert_ids` entries are generated.
    pub fn with_id(id: u64) -> Self {
        Self {
            id,
            name: None,
            common_name: None,
            sans: None,
            cert_type: default_cert_kind(),
            order_type: None,
            status_code: default_status_code(),
            expires_in: None,
            expired_ago: None,
            valid_for: default_valid_for(),
            override_fields: BTreeMap::new(),
        }
    }
}

fn default_cert_kind() -> String {
    "DV".to_owned()
}

fn default_status_code() -> String {
    "issued".to_owned()
}

fn default_valid_for() -> Duration {
    Duration::from_secs(365 * 24 * 3600)
}

/// How many workers ended in each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcomes {
    /// Succeeded, rollbacks excluded.
    #[serde(default)]
    pub succeeded: i64,
    /// Failed, rollbacks excluded.
    #[serde(default)]
    pub failed: i64,
    /// Failed, then rolled back successfully.
    #[serde(default)]
    pub rollback_succeeded: i64,
    /// Failed, then failed to roll back.
    #[serde(default)]
    pub rollback_failed: i64,
}

impl Outcomes {
    /// Workers that have finished one way or another.
    pub fn finished(&self) -> i64 {
        self.succeeded + self.failed + self.rollback_succeeded + self.rollback_failed
    }
}

/// A deterministic progression: every `step` one more worker finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evolution {
    /// Time between two finished workers.
    #[serde(deserialize_with = "crate::yaml::deserialize_duration")]
    pub step: Duration,
    /// Every n-th worker fails (0: none).
    #[serde(default)]
    pub fail_every: u32,
    /// Every n-th failure is rolled back (0: none).
    #[serde(default)]
    pub rollback_every: u32,
    /// Every n-th rollback fails (0: none).
    #[serde(default)]
    pub rollback_fail_every: u32,
}
