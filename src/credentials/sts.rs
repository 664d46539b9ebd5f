//! RAM role ARN and OIDC (RRSA) credentials: STS `AssumeRole`, signed with the
//! source credentials, and `AssumeRoleWithOIDC`, unsigned, with a token file
//! read again on every refresh (spec sections 4.5 and 4.6).

use super::refresh::{Expiring, FetchFuture, Fetcher};
use super::{Credentials, CredentialsError, CredentialsProvider, Secret};
use crate::acs::Endpoint;
use crate::acs::redact::{redact, redact_parameters};
use crate::acs::sign::{percent_encode, sign_rpc};
use crate::acs::text::{MAX_LOGGED_ID_BYTES, MAX_LOGGED_MESSAGE_BYTES, bounded};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The STS API version.
const STS_VERSION: &str = "2015-04-01";

/// Where STS is: an explicit endpoint, `sts[-vpc].<region>.aliyuncs.com`, or `sts.aliyuncs.com`.
#[derive(Debug, Clone)]
pub struct StsEndpoint(Endpoint);

impl StsEndpoint {
    /// Resolves the endpoint as the SDK does (spec section 4.5).
    pub fn resolve(
        explicit: Option<&str>,
        region: Option<&str>,
        vpc: bool,
    ) -> Result<Self, CredentialsError> {
        let host = match (explicit, region) {
            (Some(explicit), _) => explicit.to_owned(),
            (None, Some(region)) if vpc => format!("sts-vpc.{region}.aliyuncs.com"),
            (None, Some(region)) => format!("sts.{region}.aliyuncs.com"),
            (None, None) => "sts.aliyuncs.com".to_owned(),
        };
        Endpoint::parse(&host)
            .map(Self)
            .map_err(|e| CredentialsError::Fetch {
                provider: "sts",
                reason: e.to_string(),
            })
    }

    /// The base URL, ending in `/`.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// The STS answer: the new credentials, or an error body.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsAnswer {
    #[serde(default)]
    credentials: Option<StsCredentials>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    request_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsCredentials {
    access_key_id: String,
    access_key_secret: String,
    security_token: String,
    expiration: String,
}

/// Parses an expiry written `2024-05-01T14:00:00Z`.
pub(super) fn parse_expiration(
    provider: &'static str,
    text: &str,
) -> Result<SystemTime, CredentialsError> {
    humantime::parse_rfc3339(text).map_err(|e| CredentialsError::Fetch {
        provider,
        reason: format!(
            "the expiration {} is not a UTC time such as 2024-05-01T14:00:00Z: {e}",
            crate::input::excerpt(text)
        ),
    })
}

async fn call_sts(
    http: &reqwest::Client,
    provider: &'static str,
    url: String,
    source: Option<&Credentials>,
) -> Result<Expiring, CredentialsError> {
    let fail = |reason: String| CredentialsError::Fetch { provider, reason };
    // The URL carries a signature, token or OIDC token: errors are reported without it.
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| fail(format!("STS cannot be reached: {}", e.without_url())))?;
    let status = response.status().as_u16();
    let body = super::answer_body(response)
        .await
        .map_err(|why| fail(format!("STS: {why}")))?;
    let answer: StsAnswer = serde_json::from_slice(&body).map_err(|e| {
        fail(format!(
            "the STS answer (HTTP {status}) is not the expected JSON: {e}"
        ))
    })?;
    match answer.credentials {
        Some(c) if (200..300).contains(&status) => Ok(Expiring {
            expiration: Some(parse_expiration(provider, &c.expiration)?),
            credentials: Credentials {
                access_key_id: c.access_key_id,
                access_key_secret: Secret::new(c.access_key_secret),
                security_token: Some(Secret::new(c.security_token)),
            },
        }),
        _ => Err(fail(refusal(status, &answer, source))),
    }
}

/// What a refusal by STS says in the log. STS echoes the string it signed, source
/// token included: that is never repeated, nor may anything it sends grow the
/// line without bound.
fn refusal(status: u16, answer: &StsAnswer, source: Option<&Credentials>) -> String {
    let redacted = |text: &str| match source {
        Some(source) => redact(text, source),
        None => redact_parameters(text),
    };
    let quoted = |text: Option<&str>, absent: &str, max: usize| {
        text.map_or_else(
            || absent.to_owned(),
            |t| bounded(&redacted(t), max).into_owned(),
        )
    };
    format!(
        "STS answered {} (HTTP {status}, RequestId {}): {}; check the role ARN, its trust policy and the source credentials' permission to assume it",
        quoted(answer.code.as_deref(), "no code", MAX_LOGGED_ID_BYTES),
        quoted(answer.request_id.as_deref(), "-", MAX_LOGGED_ID_BYTES),
        quoted(
            answer.message.as_deref(),
            "no message",
            MAX_LOGGED_MESSAGE_BYTES
        ),
    )
}

/// STS `AssumeRole`, signed by `source`.
#[derive(Debug)]
pub struct AssumeRole {
    /// The HTTP client (5 s connect, 10 s request).
    pub http: reqwest::Client,
    /// Where STS is.
    pub endpoint: StsEndpoint,
    /// The credentials that assume the role.
    pub source: Arc<dyn CredentialsProvider>,
    /// `acs:ram::<account>:role/<name>`.
    pub role_arn: String,
    /// `RoleSessionName`.
    pub session_name: String,
    /// An optional policy that narrows the role's permissions.
    pub policy: Option<String>,
    /// An optional external ID the role's trust policy asks for.
    pub external_id: Option<String>,
    /// How long the credentials last (900 s at least).
    pub duration: Duration,
}

impl Fetcher for AssumeRole {
    fn name(&self) -> &'static str {
        "ram_role_arn"
    }

    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            let source = self.source.credentials()?;
            let duration = self.duration.as_secs().to_string();
            let mut params = vec![
                ("DurationSeconds", duration.as_str()),
                ("RoleArn", self.role_arn.as_str()),
                ("RoleSessionName", self.session_name.as_str()),
            ];
            if let Some(policy) = &self.policy {
                params.push(("Policy", policy));
            }
            if let Some(external_id) = &self.external_id {
                params.push(("ExternalId", external_id));
            }
            let signed = sign_rpc("GET", STS_VERSION, "AssumeRole", &params, &source);
            let url = format!("{}?{}", self.endpoint.0.as_str(), signed.query);
            call_sts(&self.http, self.name(), url, Some(&source)).await
        })
    }
}

/// STS `AssumeRoleWithOIDC`, unsigned, with the OIDC token read from a file each time.
#[derive(Debug)]
pub struct AssumeRoleWithOidc {
    /// The HTTP client (5 s connect, 10 s request).
    pub http: reqwest::Client,
    /// Where STS is.
    pub endpoint: StsEndpoint,
    /// The role to assume.
    pub role_arn: String,
    /// The OIDC provider's ARN.
    pub provider_arn: String,
    /// The file Kubernetes keeps the service account token in (rotated, hence read every time).
    pub token_file: PathBuf,
    /// `RoleSessionName`.
    pub session_name: String,
    /// An optional policy that narrows the role's permissions.
    pub policy: Option<String>,
    /// How long the credentials last.
    pub duration: Duration,
}

impl Fetcher for AssumeRoleWithOidc {
    fn name(&self) -> &'static str {
        "oidc_role_arn"
    }

    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            // Small and local: reading it inline does not hold the runtime up.
            let token = crate::input::read_bounded(&self.token_file).map_err(|e| CredentialsError::Fetch {
                    provider: self.name(),
                    reason: format!(
                        "cannot read the OIDC token file {}: {e}; check ALIBABA_CLOUD_OIDC_TOKEN_FILE and the pod's RRSA mount",
                        self.token_file.display()
                    ),
                })?;
            let timestamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
            let duration = self.duration.as_secs().to_string();
            let mut params = vec![
                ("Action", "AssumeRoleWithOIDC"),
                ("DurationSeconds", duration.as_str()),
                ("Format", "JSON"),
                ("OIDCProviderArn", self.provider_arn.as_str()),
                ("OIDCToken", token.trim()),
                ("RoleArn", self.role_arn.as_str()),
                ("RoleSessionName", self.session_name.as_str()),
                ("Timestamp", timestamp.as_str()),
                ("Version", STS_VERSION),
            ];
            if let Some(policy) = &self.policy {
                params.push(("Policy", policy));
            }
            let query: Vec<String> = params
                .iter()
                .map(|(k, v)| format!("{k}={}", percent_encode(v)))
                .collect();
            let url = format!("{}?{}", self.endpoint.0.as_str(), query.join("&"));
            call_sts(&self.http, self.name(), url, None).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_logged_bounded_and_without_the_source_secret() {
        let source = Credentials {
            access_key_id: "LTAIsource".into(),
            access_key_secret: Secret::new("source-secret".to_owned()),
            security_token: None,
        };
        let answer = StsAnswer {
            credentials: None,
            code: Some(format!("Bad\n{}", "C".repeat(3 << 20))),
            message: Some(format!("signed with source-secret {}", "m".repeat(1 << 20))),
            request_id: Some("R".repeat(1 << 20)),
        };
        let line = refusal(400, &answer, Some(&source));
        assert!(
            !line.contains("source-secret") && !line.contains('\n'),
            "{line}"
        );
        assert!(line.len() < 1300, "{} bytes", line.len());
        assert!(
            line.starts_with(&format!(
                "STS answered Bad{}… (HTTP 400, RequestId {}…): ",
                "C".repeat(58),
                "R".repeat(61)
            )),
            "{line}"
        );
    }

    #[test]
    fn endpoints_follow_the_sdk() {
        let host = |e: StsEndpoint| e.0.as_str().to_owned();
        assert_eq!(
            host(StsEndpoint::resolve(None, None, false).unwrap()),
            "https://sts.aliyuncs.com/"
        );
        assert_eq!(
            host(StsEndpoint::resolve(None, Some("cn-hangzhou"), false).unwrap()),
            "https://sts.cn-hangzhou.aliyuncs.com/"
        );
        assert_eq!(
            host(StsEndpoint::resolve(None, Some("cn-hangzhou"), true).unwrap()),
            "https://sts-vpc.cn-hangzhou.aliyuncs.com/"
        );
        assert_eq!(
            host(StsEndpoint::resolve(Some("http://127.0.0.1:1"), Some("x"), true).unwrap()),
            "http://127.0.0.1:1/"
        );
        assert!(StsEndpoint::resolve(Some("ftp://x"), None, false).is_err());
    }
}
