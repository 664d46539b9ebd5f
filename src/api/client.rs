//! Sends signed RPC requests the way the current SDK does: POST to `/`, every
//! parameter in the query, an empty body, a fresh nonce and timestamp each time.

use super::error::split_signature_message;
use super::model::lenient::mend_lone_surrogates;
use super::model::{
    DeploymentJob, DeploymentJobPage, DeploymentJobStatus, ErrorBody, JobCertificates, WorkerPage,
};
use super::{API_VERSION, Action, ApiError, ServiceError, SignatureMismatch};
use crate::acs::redact::redact;
use crate::acs::sign::sign_rpc;
use crate::acs::text::{
    MAX_LOGGED_ID_BYTES, MAX_LOGGED_MESSAGE_BYTES, MAX_LOGGED_SIGNATURE_BYTES, bounded,
};
use crate::acs::{Endpoint, read_capped};
use crate::credentials::CredentialsProvider;
use reqwest::header::{HeaderName, HeaderValue};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Receives the outcome of every call, for the self-metrics.
pub trait RequestObserver: Send + Sync {
    /// One call of `action` for `account` ended with `code` (`OK` or an error class) after `elapsed`;
    /// `code` is one of a fixed set (see [`ApiError::code`]), never text from the API.
    fn observe(&self, account: &str, action: Action, code: &'static str, elapsed: Duration);
}

/// How to reach the API.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOptions {
    /// The account's name, for the self-metrics.
    pub account: String,
    /// Base URL of the API.
    pub endpoint: Endpoint,
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, connection included.
    pub request_timeout: Duration,
    /// Text appended to the User-Agent (`ALIBABA_CLOUD_USER_AGENT`, as in the SDKs).
    pub user_agent_suffix: Option<String>,
}

/// A CAS API client for one account.
pub struct Client {
    http: reqwest::Client,
    options: ClientOptions,
    credentials: Arc<dyn CredentialsProvider>,
    observer: Arc<dyn RequestObserver>,
}

const USER_AGENT: &str = concat!("aliyun-cas-exporter/", env!("CARGO_PKG_VERSION"));
/// The largest answer read: a page of 50 jobs is a few tens of kilobytes.
pub const MAX_BODY: usize = 4 * 1024 * 1024;
/// Longest part of an unexpected body quoted in a log line, in bytes.
const SNIPPET_BYTES: usize = 200;

/// Headers the SDK sends with every call, named once rather than parsed at each.
const ACS_ACTION: HeaderName = HeaderName::from_static("x-acs-action");
const ACS_VERSION: HeaderName = HeaderName::from_static("x-acs-version");

impl Client {
    /// Builds a client; fails only if the TLS stack cannot be initialised.
    pub fn new(
        options: ClientOptions,
        credentials: Arc<dyn CredentialsProvider>,
        observer: Arc<dyn RequestObserver>,
    ) -> Result<Self, ApiError> {
        let user_agent = match &options.user_agent_suffix {
            Some(suffix) => format!("{USER_AGENT} {suffix}"),
            None => USER_AGENT.to_owned(),
        };
        let http = reqwest::Client::builder()
            .user_agent(user_agent)
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| ApiError::Transport(e.without_url().to_string()))?;
        Ok(Self {
            http,
            options,
            credentials,
            observer,
        })
    }

    /// DescribeDeploymentJobStatus: the counts of job `job_id`.
    pub async fn describe_deployment_job_status(
        &self,
        job_id: u64,
    ) -> Result<DeploymentJobStatus, ApiError> {
        self.call(
            Action::DescribeDeploymentJobStatus,
            &[("JobId", job_id.to_string())],
        )
        .await
    }

    /// DescribeDeploymentJob: name, type, status and times of job `job_id`.
    pub async fn describe_deployment_job(&self, job_id: u64) -> Result<DeploymentJob, ApiError> {
        self.call(
            Action::DescribeDeploymentJob,
            &[("JobId", job_id.to_string())],
        )
        .await
    }

    /// ListDeploymentJob: page `page` (from 1) of `page_size` jobs.
    pub async fn list_deployment_jobs(
        &self,
        page: u32,
        page_size: u32,
    ) -> Result<DeploymentJobPage, ApiError> {
        self.call(
            Action::ListDeploymentJob,
            &[
                ("CurrentPage", page.to_string()),
                ("ShowSize", page_size.to_string()),
            ],
        )
        .await
    }

    /// ListWorkerResource: page `page` (from 1) of `page_size` worker tasks of
    /// job `job_id` whose status is `status`.
    pub async fn list_worker_resources(
        &self,
        job_id: u64,
        status: &str,
        page: u32,
        page_size: u32,
    ) -> Result<WorkerPage, ApiError> {
        self.call(
            Action::ListWorkerResource,
            &[
                ("JobId", job_id.to_string()),
                ("Status", status.to_owned()),
                ("CurrentPage", page.to_string()),
                ("ShowSize", page_size.to_string()),
            ],
        )
        .await
    }

    /// ListDeploymentJobCert: the certificates of job `job_id`.
    pub async fn list_deployment_job_certs(
        &self,
        job_id: u64,
    ) -> Result<JobCertificates, ApiError> {
        self.call(
            Action::ListDeploymentJobCert,
            &[("JobId", job_id.to_string())],
        )
        .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        action: Action,
        params: &[(&'static str, String)],
    ) -> Result<T, ApiError> {
        let started = Instant::now();
        let result = self.attempt(action, params).await;
        let code = match &result {
            Ok(_) => "OK",
            Err(e) => e.code(),
        };
        self.observer
            .observe(&self.options.account, action, code, started.elapsed());
        result
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        action: Action,
        params: &[(&'static str, String)],
    ) -> Result<T, ApiError> {
        let credentials = self.credentials.credentials()?;
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let signed = sign_rpc("POST", API_VERSION, action.name(), &params, &credentials);
        let mut url = self.options.endpoint.url().clone();
        url.set_query(Some(&signed.query));

        let response = self
            .http
            .post(url)
            .header(ACS_ACTION, HeaderValue::from_static(action.name()))
            .header(ACS_VERSION, HeaderValue::from_static(API_VERSION))
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("x-acs-retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis);
        let Some(mut body) = read_capped(response, MAX_BODY)
            .await
            .map_err(|e| self.transport_error(e))?
        else {
            return Err(ApiError::TooLarge {
                status,
                limit: MAX_BODY,
            });
        };

        // Invalid UTF-8 or a lone surrogate inside a string would fail the whole answer:
        // such text becomes U+FFFD instead (no copy when the body is valid, as it should be).
        mend_lone_surrogates(&mut body);
        let body = String::from_utf8_lossy(&body);
        if (200..300).contains(&status) {
            // serde quotes the text it could not read, which may echo the request.
            return serde_json::from_str(&body).map_err(|e| ApiError::Decode {
                status,
                detail: bounded(
                    &redact(&e.to_string(), &credentials),
                    MAX_LOGGED_MESSAGE_BYTES,
                )
                .into_owned(),
            });
        }
        let Some(error) = serde_json::from_str::<ErrorBody>(&body)
            .ok()
            .filter(|b| b.code.is_some())
        else {
            return Err(ApiError::Http {
                status,
                snippet: bounded(&redact(&body, &credentials), SNIPPET_BYTES).into_owned(),
                retry_after,
            });
        };
        // Kept whole for classification; labels and logs take bounded forms of it.
        let code = redact(&error.code.unwrap_or_default(), &credentials);
        let mut message = error.message.unwrap_or_default();
        let mut signature = None;
        if code == "SignatureDoesNotMatch" {
            let (text, server) = split_signature_message(&message);
            let same_string = server.as_deref() == Some(signed.string_to_sign.as_str());
            signature = Some(SignatureMismatch {
                ours: redact(&signed.string_to_sign, &credentials),
                server: server.map(|s| {
                    bounded(&redact(&s, &credentials), MAX_LOGGED_SIGNATURE_BYTES).into_owned()
                }),
                same_string,
            });
            message = text;
        }
        // Services echo parameters in messages (a malformed token, for one): redact
        // first, then cut, so that no partial secret survives the cut.
        let logged = |text: &str, max| bounded(&redact(text, &credentials), max).into_owned();
        let message = logged(&message, MAX_LOGGED_MESSAGE_BYTES);
        let request_id = error.request_id.map(|id| logged(&id, MAX_LOGGED_ID_BYTES));
        Err(ApiError::Service(Box::new(ServiceError {
            status,
            code,
            message,
            request_id,
            retry_after,
            signature,
        })))
    }

    fn transport_error(&self, error: reqwest::Error) -> ApiError {
        // The URL carries the signature and any security token: never print it.
        let error = error.without_url();
        if error.is_timeout() {
            ApiError::Timeout(self.options.request_timeout)
        } else if error.is_connect() {
            ApiError::Connect(error_chain(&error))
        } else {
            ApiError::Transport(error_chain(&error))
        }
    }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A client for unit tests: `endpoint`, fixed test credentials, short timeouts.
#[cfg(test)]
pub(crate) fn test_client(endpoint: &str, observer: Arc<dyn RequestObserver>) -> Client {
    use crate::credentials::{Credentials, Secret, StaticProvider};
    Client::new(
        ClientOptions {
            account: "a".into(),
            endpoint: Endpoint::parse(endpoint).unwrap(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            user_agent_suffix: None,
        },
        Arc::new(StaticProvider::new(
            "test",
            Credentials {
                access_key_id: "id".into(),
                access_key_secret: Secret::new("secret"),
                security_token: None,
            },
        )),
        observer,
    )
    .unwrap()
}
