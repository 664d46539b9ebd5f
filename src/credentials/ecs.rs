//! ECS RAM role credentials from the instance metadata service (spec section
//! 4.4): an IMDSv2 token first, falling back to v1 unless that is disabled.

use super::CredentialsError;
use super::refresh::{FetchFuture, Fetcher};
use super::uri::parse_answer;

/// The metadata service's address on ECS.
pub const METADATA_ENDPOINT: &str = "http://100.100.100.200";
const TOKEN_TTL_HEADER: &str = "X-aliyun-ecs-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "X-aliyun-ecs-metadata-token";
const CREDENTIALS_PATH: &str = "/latest/meta-data/ram/security-credentials/";

/// Fetches the instance's RAM role credentials.
#[derive(Debug)]
pub struct EcsRamRole {
    /// The HTTP client (1 s timeouts, as the SDK's).
    pub http: reqwest::Client,
    /// The metadata service, normally `METADATA_ENDPOINT` (`http://100.100.100.200`).
    pub endpoint: String,
    /// The role; discovered from the metadata service when not given.
    pub role: Option<String>,
    /// Require an IMDSv2 token (`ALIBABA_CLOUD_IMDSV1_DISABLED`).
    pub imdsv1_disabled: bool,
}

impl EcsRamRole {
    fn fail(&self, reason: String) -> CredentialsError {
        CredentialsError::Fetch {
            provider: "ecs_ram_role",
            reason,
        }
    }

    async fn token(&self) -> Result<Option<String>, CredentialsError> {
        let answer = self
            .http
            .put(format!("{}/latest/api/token", self.endpoint))
            .header(TOKEN_TTL_HEADER, "21600")
            .send()
            .await;
        let token = match answer {
            Ok(r) if r.status().is_success() => super::answer_body(r)
                .await
                .ok()
                .and_then(|b| String::from_utf8(b).ok()),
            _ => None,
        };
        match token {
            Some(token) => Ok(Some(token)),
            None if self.imdsv1_disabled => Err(self.fail(format!(
                "no IMDSv2 token from {} and IMDSv1 is disabled (ALIBABA_CLOUD_IMDSV1_DISABLED); is this an ECS instance?",
                self.endpoint
            ))),
            None => Ok(None),
        }
    }

    /// GETs `path`, with the token when there is one; a refused request with a token is tried once without.
    async fn get(&self, path: &str, token: Option<&str>) -> Result<Vec<u8>, CredentialsError> {
        let attempt = |token: Option<&str>| {
            let mut request = self.http.get(format!("{}{path}", self.endpoint));
            if let Some(token) = token {
                request = request.header(TOKEN_HEADER, token);
            }
            request.send()
        };
        let mut response = attempt(token).await;
        let refused = response.as_ref().map_or(true, |r| !r.status().is_success());
        if refused && token.is_some() && !self.imdsv1_disabled {
            response = attempt(None).await;
        }
        let response = response.map_err(|e| {
            self.fail(format!(
                "the metadata service {} cannot be reached ({}); off ECS, set ALIBABA_CLOUD_ECS_METADATA_DISABLED=true",
                self.endpoint,
                e.without_url()
            ))
        })?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(self.fail(format!(
                "the metadata service answered HTTP {status} for {path}; check that the instance has a RAM role attached"
            )));
        }
        super::answer_body(response)
            .await
            .map_err(|why| self.fail(format!("the metadata service: {why}")))
    }
}

impl Fetcher for EcsRamRole {
    fn name(&self) -> &'static str {
        "ecs_ram_role"
    }

    /// The SDK refreshes instance credentials an hour after each fetch, well before they expire.
    fn prefetch_after(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_secs(3600))
    }

    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            let token = self.token().await?;
            let role = match &self.role {
                Some(role) => role.clone(),
                None => {
                    let listed = self.get(CREDENTIALS_PATH, token.as_deref()).await?;
                    let role = String::from_utf8_lossy(&listed)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_owned();
                    if role.is_empty() {
                        return Err(self.fail("the instance has no RAM role attached; attach one, or set ALIBABA_CLOUD_ECS_METADATA to its name".into()));
                    }
                    role
                }
            };
            let body = self
                .get(&format!("{CREDENTIALS_PATH}{role}"), token.as_deref())
                .await?;
            parse_answer(self.name(), &body)
        })
    }
}
