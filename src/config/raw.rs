//! The configuration file as written: serde structs that refuse unknown keys,
//! and value types that check themselves while being read, so that an error
//! carries the line and column of the value at fault.

use crate::acs::Network;
use crate::api::model::{check_job_id, parse_job_id};
use crate::api::{Action, PerAction};
use crate::input::excerpt;
use crate::yaml::DurationValue;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

/// The whole file. The account keys may stand at the top for a single account, or under `accounts`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub interval: Option<DurationValue>,
    #[serde(default)]
    pub settled_interval: Option<DurationValue>,
    #[serde(default)]
    pub stale_after: Option<DurationValue>,
    #[serde(default)]
    pub job_info_interval: Option<DurationValue>,
    #[serde(default)]
    pub concurrency: Option<PositiveCount>,
    #[serde(default)]
    pub finished_job_retention: Option<DurationValue>,
    #[serde(default)]
    pub worker_detail: Option<RawWorkerDetail>,
    #[serde(default)]
    pub certificate_detail: Option<RawCertificateDetail>,
    #[serde(default)]
    pub timeouts: Option<RawTimeouts>,
    #[serde(default)]
    pub retries: Option<RawRetries>,
    #[serde(default, deserialize_with = "deserialize_endpoint")]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub network: Option<NetworkValue>,
    #[serde(default)]
    pub allow_plain_http: Option<bool>,
    #[serde(default)]
    pub credentials: Option<RawCredentials>,
    #[serde(default)]
    pub jobs: Option<JobIds>,
    #[serde(default)]
    pub discovery: Option<RawDiscovery>,
    #[serde(default)]
    pub rate_limit: Option<RawRateLimit>,
    #[serde(default)]
    pub accounts: Option<Vec<RawAccount>>,
}

/// One entry of `accounts`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccount {
    pub name: String,
    #[serde(default, deserialize_with = "deserialize_endpoint")]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub network: Option<NetworkValue>,
    #[serde(default)]
    pub allow_plain_http: Option<bool>,
    #[serde(default)]
    pub credentials: Option<RawCredentials>,
    #[serde(default)]
    pub jobs: Option<JobIds>,
    #[serde(default)]
    pub discovery: Option<RawDiscovery>,
    #[serde(default)]
    pub rate_limit: Option<RawRateLimit>,
}

/// `credentials:`; which keys its type takes is checked after reading.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCredentials {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub access_key_secret: Option<String>,
    #[serde(default)]
    pub security_token: Option<String>,
    #[serde(default)]
    pub role_arn: Option<String>,
    #[serde(default)]
    pub role_session_name: Option<String>,
    #[serde(default)]
    pub policy: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub duration: Option<DurationValue>,
    #[serde(default)]
    pub oidc_provider_arn: Option<String>,
    #[serde(default)]
    pub oidc_token_file: Option<String>,
    #[serde(default)]
    pub role_name: Option<String>,
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub sts_endpoint: Option<String>,
    #[serde(default)]
    pub sts_region: Option<String>,
    #[serde(default)]
    pub sts_vpc: Option<bool>,
    #[serde(default)]
    pub metadata_endpoint: Option<String>,
}

impl RawCredentials {
    /// The keys written, `type` aside, in the order of the fields above.
    pub fn given(&self) -> impl Iterator<Item = &'static str> {
        [
            ("access_key_id", self.access_key_id.is_some()),
            ("access_key_secret", self.access_key_secret.is_some()),
            ("security_token", self.security_token.is_some()),
            ("role_arn", self.role_arn.is_some()),
            ("role_session_name", self.role_session_name.is_some()),
            ("policy", self.policy.is_some()),
            ("external_id", self.external_id.is_some()),
            ("duration", self.duration.is_some()),
            ("oidc_provider_arn", self.oidc_provider_arn.is_some()),
            ("oidc_token_file", self.oidc_token_file.is_some()),
            ("role_name", self.role_name.is_some()),
            ("uri", self.uri.is_some()),
            ("sts_endpoint", self.sts_endpoint.is_some()),
            ("sts_region", self.sts_region.is_some()),
            ("sts_vpc", self.sts_vpc.is_some()),
            ("metadata_endpoint", self.metadata_endpoint.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, given)| given.then_some(key))
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTimeouts {
    #[serde(default)]
    pub connect: Option<DurationValue>,
    #[serde(default)]
    pub request: Option<DurationValue>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkerDetail {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub max_per_job: Option<PositiveCount>,
    #[serde(default)]
    pub max_per_account: Option<PositiveCount>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCertificateDetail {
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetries {
    #[serde(default)]
    pub max_attempts: Option<PositiveCount>,
    #[serde(default)]
    pub base_delay: Option<DurationValue>,
    #[serde(default)]
    pub max_delay: Option<DurationValue>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDiscovery {
    #[serde(default)]
    pub refresh_interval: Option<DurationValue>,
    #[serde(default)]
    pub job_types: Option<Vec<String>>,
    #[serde(default)]
    pub statuses: Option<Vec<String>>,
    #[serde(default)]
    pub name_include: Option<String>,
    #[serde(default)]
    pub name_exclude: Option<String>,
}

/// `rate_limit:`: requests per second by action, keyed as [`Action::key`] spells them.
pub(super) struct RawRateLimit(pub PerAction<Option<Rate>>);

impl Default for RawRateLimit {
    fn default() -> Self {
        Self(PerAction::from_fn(|_| None))
    }
}

impl<'de> Deserialize<'de> for RawRateLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RateLimitVisitor)
    }
}

struct RateLimitVisitor;

impl<'de> Visitor<'de> for RateLimitVisitor {
    type Value = RawRateLimit;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct RawRateLimit")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<RawRateLimit, A::Error> {
        let mut limits = RawRateLimit::default();
        let mut seen = PerAction::from_fn(|_| false);
        while let Some(RateLimitKey(action)) = map.next_key()? {
            if std::mem::replace(&mut seen[action], true) {
                return Err(de::Error::duplicate_field(action.key()));
            }
            // A key with no value keeps the default, as an absent one does.
            limits.0[action] = map.next_value()?;
        }
        Ok(limits)
    }
}

/// The `rate_limit` keys in the order the file format documents them
/// (config.example.yaml, README), which refusals list.
pub(super) const RATE_LIMIT_KEYS: [&str; 5] = [
    "describe_deployment_job_status",
    "list_deployment_job",
    "describe_deployment_job",
    "list_worker_resource",
    "list_deployment_job_cert",
];

/// A `rate_limit` key, read as a field name: an unknown one is refused while it
/// is read, so that the refusal carries the key's own line and column.
struct RateLimitKey(Action);

impl<'de> Deserialize<'de> for RateLimitKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_identifier(RateLimitKeyVisitor)
    }
}

struct RateLimitKeyVisitor;

impl Visitor<'_> for RateLimitKeyVisitor {
    type Value = RateLimitKey;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("field identifier")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<RateLimitKey, E> {
        Action::from_key(key)
            .map(RateLimitKey)
            .ok_or_else(|| E::unknown_field(key, &RATE_LIMIT_KEYS))
    }
}

/// An endpoint written out: `endpoint:` with nothing after it is a value forgotten,
/// not a wish for the default, so it is refused where it stands.
fn deserialize_endpoint<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(EndpointVisitor).map(Some)
}

struct EndpointVisitor;

const EMPTY_ENDPOINT: &str = "is empty; write a preset (cn, intl), a region ID, a host name or a URL, or remove the key to use cn";

impl<'de> Visitor<'de> for EndpointVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an endpoint such as cn, intl or https://cas.aliyuncs.com")
    }

    // Failing inside the visitor lets the YAML parser attach the value's line and column.
    fn visit_none<E: de::Error>(self) -> Result<String, E> {
        Err(E::custom(EMPTY_ENDPOINT))
    }

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Err(E::custom(EMPTY_ENDPOINT))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<String, E> {
        if text.trim().is_empty() {
            return Err(E::custom(EMPTY_ENDPOINT));
        }
        Ok(text.to_owned())
    }
}

/// `network:`, refused where it stands unless it is one the SDK knows.
pub(super) struct NetworkValue(pub Network);

impl<'de> Deserialize<'de> for NetworkValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NetworkVisitor)
    }
}

struct NetworkVisitor;

const NETWORK_HINT: &str =
    "write public (the default: the Internet endpoint) or vpc (the endpoint inside a VPC)";

impl Visitor<'_> for NetworkVisitor {
    type Value = NetworkValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("public or vpc")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<NetworkValue, E> {
        match text.trim().to_ascii_lowercase().as_str() {
            "public" => Ok(NetworkValue(Network::Public)),
            "vpc" => Ok(NetworkValue(Network::Vpc)),
            _ => Err(E::custom(format!(
                "{} is not a network; {NETWORK_HINT}",
                excerpt(text)
            ))),
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<NetworkValue, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NetworkValue, E> {
        self.visit_str(&v.to_string())
    }
}

/// The job list: positive integers (or numeric strings), each once.
#[derive(Default)]
pub(super) struct JobIds(pub Vec<u64>);

impl<'de> Deserialize<'de> for JobIds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(JobIdsVisitor)
    }
}

struct JobIdsVisitor;

impl<'de> Visitor<'de> for JobIdsVisitor {
    type Value = JobIds;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of deployment job IDs, such as [8888, 9999]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JobIds, A::Error> {
        let mut ids = Vec::new();
        let mut seen = HashSet::new();
        while let Some(id) = seq.next_element_seed(JobIdVisitor {
            seen: &mut seen,
            full: ids.len() >= MAX_JOBS,
        })? {
            ids.push(id);
        }
        Ok(JobIds(ids))
    }
}

/// Reads one job ID; checks it against those before it, so that an error
/// raised here carries the position of the offending entry.
struct JobIdVisitor<'a> {
    seen: &'a mut HashSet<u64>,
    /// The list already holds [`MAX_JOBS`]: this entry is one too many.
    full: bool,
}

/// The most jobs an account lists by ID, as many as discovery finds at most.
pub const MAX_JOBS: usize = 50_000;

impl<'de> DeserializeSeed<'de> for JobIdVisitor<'_> {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_any(self)
    }
}

/// Every form a YAML value takes goes through the API model's one job-ID rule,
/// which discovery applies to listed jobs too.
impl Visitor<'_> for JobIdVisitor<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a deployment job ID (a positive integer)")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        if self.full {
            return Err(E::custom(format!(
                "more than {MAX_JOBS} jobs in one account; split them across accounts or exporters, or use discovery"
            )));
        }
        let id = check_job_id(v).map_err(E::custom)?;
        if !self.seen.insert(id) {
            return Err(E::custom(format!(
                "job ID {id} is listed twice; remove the duplicate"
            )));
        }
        Ok(id)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => parse_job_id(&v.to_string()).map_err(E::custom),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        let id = parse_job_id(v).map_err(E::custom)?;
        self.visit_u64(id)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        parse_job_id(&format!("{v:?}")).map_err(E::custom)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<u64, E> {
        parse_job_id(&v.to_string()).map_err(E::custom)
    }
}

/// A count of at least 1, such as `concurrency`.
pub(super) struct PositiveCount(pub usize);

impl<'de> Deserialize<'de> for PositiveCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PositiveCountVisitor)
    }
}

struct PositiveCountVisitor;

const POSITIVE_COUNT_HINT: &str = "write a whole number of at least 1, such as 4";

impl Visitor<'_> for PositiveCountVisitor {
    type Value = PositiveCount;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a whole number of at least 1, such as 4")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<PositiveCount, E> {
        match usize::try_from(v) {
            Ok(n) if n >= 1 => Ok(PositiveCount(n)),
            _ => Err(E::custom(format!(
                "{v} is not allowed; {POSITIVE_COUNT_HINT}"
            ))),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<PositiveCount, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format!(
                "{v} is not allowed; {POSITIVE_COUNT_HINT}"
            ))),
        }
    }
}

/// Requests per second: a number above 0, such as 5 or 0.5.
pub(super) struct Rate(pub f64);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RateVisitor)
    }
}

struct RateVisitor;

/// The slowest pace allowed: one call every 100 seconds. Slower, a sweep of a few
/// jobs outlasts any sensible interval and their values go stale.
pub const MIN_RATE: f64 = 0.01;
/// The fastest pace allowed, far above any account's quota (about 10 per second per API).
pub const MAX_RATE: f64 = 1000.0;

const RATE_HINT: &str = "write requests per second from 0.01 to 1000, such as 5 (the account's quota is about 10 per API)";

impl Visitor<'_> for RateVisitor {
    type Value = Rate;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("requests per second, such as 5")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Rate, E> {
        if (MIN_RATE..=MAX_RATE).contains(&v) {
            Ok(Rate(v))
        } else {
            // 1e-300 written out in full would be 300 digits long.
            let shown = if v.is_finite() && v != 0.0 && (v.abs() < 1e-6 || v.abs() > 1e15) {
                format!("{v:e}")
            } else {
                v.to_string()
            };
            Err(E::custom(format!("{shown} is not allowed; {RATE_HINT}")))
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Rate, E> {
        self.visit_f64(v as f64)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Rate, E> {
        self.visit_f64(v as f64)
    }
}
