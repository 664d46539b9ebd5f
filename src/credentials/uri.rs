//! Credentials from `ALIBABA_CLOUD_CREDENTIALS_URI` (spec section 4.7), and
//! the answer shape it shares with the ECS metadata service.

use super::refresh::{Expiring, FetchFuture, Fetcher};
use super::sts::parse_expiration;
use super::{Credentials, CredentialsError, Secret};
use serde::Deserialize;

/// `{"Code":"Success","AccessKeyId","AccessKeySecret","SecurityToken","Expiration"}`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    #[serde(default)]
    code: Option<String>,
    access_key_id: String,
    access_key_secret: String,
    security_token: String,
    expiration: String,
}

/// Reads the credentials answer of the metadata service or a credentials URI.
pub(super) fn parse_answer(
    provider: &'static str,
    body: &[u8],
) -> Result<Expiring, CredentialsError> {
    let fail = |reason: String| CredentialsError::Fetch { provider, reason };
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        fail(format!(
            "the answer is not the expected credentials JSON: {e}"
        ))
    })?;
    if answer.code.as_deref() != Some("Success") {
        return Err(fail(format!(
            "the answer's Code is {:?}, not \"Success\"",
            answer.code.as_deref().unwrap_or("")
        )));
    }
    Ok(Expiring {
        expiration: Some(parse_expiration(provider, &answer.expiration)?),
        credentials: Credentials {
            access_key_id: answer.access_key_id,
            access_key_secret: Secret::new(answer.access_key_secret),
            security_token: Some(Secret::new(answer.security_token)),
        },
    })
}

/// GETs credentials from a URI (a sidecar or local credentials server).
pub struct CredentialsUri {
    /// The HTTP client.
    pub http: reqwest::Client,
    /// The URI.
    pub uri: String,
}

impl CredentialsUri {
    /// The URI as logs may show it: scheme, host, port and path (a query or user info may hold a token).
    fn shown(&self) -> String {
        match reqwest::Url::parse(&self.uri) {
            Ok(url) => format!(
                "{}://{}{}{}",
                url.scheme(),
                url.host_str().unwrap_or_default(),
                url.port().map(|p| format!(":{p}")).unwrap_or_default(),
                url.path()
            ),
            Err(_) => "(an unparsable URI)".to_owned(),
        }
    }
}

impl std::fmt::Debug for CredentialsUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsUri")
            .field("uri", &self.shown())
            .finish()
    }
}

impl Fetcher for CredentialsUri {
    fn name(&self) -> &'static str {
        "credentials_uri"
    }

    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            let fail = |reason: String| CredentialsError::Fetch {
                provider: "credentials_uri",
                reason,
            };
            let response = self.http.get(&self.uri).send().await.map_err(|e| {
                fail(format!(
                    "{} cannot be reached: {}; check ALIBABA_CLOUD_CREDENTIALS_URI",
                    self.shown(),
                    e.without_url()
                ))
            })?;
            let status = response.status().as_u16();
            if !(200..300).contains(&status) {
                return Err(fail(format!("{} answered HTTP {status}", self.shown())));
            }
            let body = super::answer_body(response).await.map_err(fail)?;
            parse_answer(self.name(), &body)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uri_is_shown_without_its_query_or_user_info() {
        let uri = CredentialsUri {
            http: reqwest::Client::new(),
            uri: "http://user:pw@127.0.0.1:8080/creds?token=abc".into(),
        };
        assert_eq!(uri.shown(), "http://127.0.0.1:8080/creds");
        assert_eq!(
            format!("{uri:?}"),
            "CredentialsUri { uri: \"http://127.0.0.1:8080/creds\" }"
        );
    }

    #[tokio::test]
    async fn an_answer_larger_than_credentials_take_is_not_read_on() {
        let (address, _) = crate::acs::answering(" ".repeat(1 << 20)).await;
        let uri = CredentialsUri {
            http: reqwest::Client::new(),
            uri: format!("{address}/creds"),
        };
        assert_eq!(
            uri.fetch().await.unwrap_err().to_string(),
            "cannot get credentials from credentials_uri: the answer is larger than 64 KiB, far more than credentials take; check the endpoint"
        );
    }

    #[test]
    fn answers_must_say_success_and_carry_a_utc_expiry() {
        let ok = parse_answer(
            "x",
            br#"{"Code":"Success","AccessKeyId":"STS.a","AccessKeySecret":"s","SecurityToken":"t","Expiration":"2024-05-01T14:00:00Z","LastUpdated":"x"}"#,
        )
        .unwrap();
        assert_eq!(ok.credentials.access_key_id, "STS.a");
        assert_eq!(
            ok.expiration,
            Some(humantime::parse_rfc3339("2024-05-01T14:00:00Z").unwrap())
        );
        let refused = parse_answer(
            "x",
            br#"{"Code":"Failed","AccessKeyId":"a","AccessKeySecret":"s","SecurityToken":"t","Expiration":"2024-05-01T14:00:00Z"}"#,
        );
        assert_eq!(
            refused.unwrap_err().to_string(),
            "cannot get credentials from x: the answer's Code is \"Failed\", not \"Success\""
        );
        assert!(parse_answer("x", b"<html>").is_err());
    }
}
