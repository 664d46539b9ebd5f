//! The API client against the simulator over loopback: the request it sends,
//! the typed answers it parses, and the typed errors it returns.

mod support;

use aliyun_cas_exporter::api::model::DeploymentJobStatus;
use aliyun_cas_exporter::api::{ApiError, Client, ClientOptions, Endpoint, RequestObserver};
use aliyun_cas_exporter::credentials::{Credentials, Secret, StaticProvider};
use aliyun_cas_exporter::simulator::{Fault, Simulator};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{KEY_ID, SAMPLE_JOB, SAMPLE_STATUS_JSON, SECRET, TOKEN, simulator};

#[derive(Default)]
struct Recorder(Mutex<Vec<(String, String)>>);

impl RequestObserver for Recorder {
    fn observe(&self, account: &str, action: &str, code: &str, _elapsed: Duration) {
        assert_eq!(account, "test-account");
        self.0
            .lock()
            .unwrap()
            .push((action.to_owned(), code.to_owned()));
    }
}

fn sim_yaml() -> String {
    format!(
        "access_keys:
  - id: {KEY_ID}
    secret: {SECRET}
  - id: STS.key
    secret: {SECRET}
    security_token: \"{TOKEN}\"
jobs:
{SAMPLE_JOB}  - id: 7777
    workers: {{WAF: 2}}
    numbers_as_strings: true
    omit_fields: [CostCount]
"
    )
}

fn client_for(
    endpoint: &str,
    key_id: &str,
    secret: &str,
    token: Option<&str>,
    timeout: Duration,
) -> (Client, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let credentials = Credentials {
        access_key_id: key_id.to_owned(),
        access_key_secret: Secret::new(secret),
        security_token: token.map(Secret::new),
    };
    let client = Client::new(
        ClientOptions {
            account: "test-account".into(),
            endpoint: Endpoint::parse(endpoint).unwrap(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: timeout,
            user_agent_suffix: None,
        },
        Arc::new(StaticProvider::new("test", credentials)),
        Arc::clone(&recorder) as Arc<dyn RequestObserver>,
    )
    .unwrap();
    (client, recorder)
}

fn client(sim: &Simulator) -> (Client, Arc<Recorder>) {
    client_for(
        &sim.endpoint(),
        KEY_ID,
        SECRET,
        None,
        Duration::from_secs(5),
    )
}

#[tokio::test]
async fn sends_what_the_sdk_sends_and_parses_the_answer() {
    let sim = simulator(&sim_yaml()).await;
    let (client, recorder) = client(&sim);
    let status = client.describe_deployment_job_status(8888).await.unwrap();
    let request_id = sim.requests()[0].request_id.clone();
    // The model's unit test pins the sample's parse field by field.
    let mut expected: DeploymentJobStatus = serde_json::from_str(SAMPLE_STATUS_JSON).unwrap();
    expected.request_id = Some(request_id);
    assert_eq!(status, expected);
    let strings = client.describe_deployment_job_status(7777).await.unwrap();
    assert_eq!(strings.worker_count, Some(2));
    assert_eq!(strings.cost_count, None, "an omitted field stays missing");

    let log = sim.requests();
    assert_eq!(log.len(), 2);
    let first = &log[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.body_len, 0);
    assert!(!first.security_token);
    let names: BTreeSet<&str> = first.params.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "AccessKeyId",
            "Action",
            "Format",
            "JobId",
            "SignatureMethod",
            "SignatureNonce",
            "SignatureVersion",
            "Timestamp",
            "Version",
        ])
    );
    assert_eq!(first.param("Format"), Some("JSON"));
    assert_eq!(first.param("Version"), Some("2020-04-07"));
    assert_eq!(first.param("SignatureMethod"), Some("HMAC-SHA1"));
    assert_eq!(first.param("SignatureVersion"), Some("1.0"));
    assert_eq!(first.param("JobId"), Some("8888"));
    let nonce = first.param("SignatureNonce").unwrap();
    assert!(uuid::Uuid::parse_str(nonce).is_ok(), "{nonce}");
    assert_ne!(
        log[1].param("SignatureNonce"),
        Some(nonce),
        "a fresh nonce per request"
    );
    assert_eq!(first.param("Timestamp").unwrap().len(), 20);

    let job = client.describe_deployment_job(8888).await.unwrap();
    assert_eq!(job.id, Some(Ok(8888)));
    assert_eq!(job.name.as_deref(), Some("cdn-renew"));
    assert_eq!(job.status.as_deref(), Some("error"));
    let page = client.list_deployment_jobs(1, 50).await.unwrap();
    assert_eq!(
        (page.current_page, page.show_size, page.total),
        (Some(1), Some(50), Some(2))
    );
    let ids: Vec<_> = page.data.unwrap().into_iter().map(|j| j.id).collect();
    assert_eq!(ids, vec![Some(Ok(7777)), Some(Ok(8888))]);
    assert_eq!(
        recorder.0.lock().unwrap().clone(),
        vec![
            ("DescribeDeploymentJobStatus".to_owned(), "OK".to_owned()),
            ("DescribeDeploymentJobStatus".to_owned(), "OK".to_owned()),
            ("DescribeDeploymentJob".to_owned(), "OK".to_owned()),
            ("ListDeploymentJob".to_owned(), "OK".to_owned()),
        ]
    );
}

#[tokio::test]
async fn sends_the_security_token_of_sts_credentials() {
    let sim = simulator(&sim_yaml()).await;
    let (client, _) = client_for(
        &sim.endpoint(),
        "STS.key",
        SECRET,
        Some(TOKEN),
        Duration::from_secs(5),
    );
    assert_eq!(
        client
            .describe_deployment_job_status(8888)
            .await
            .unwrap()
            .worker_count,
        Some(20)
    );
    assert!(sim.requests()[0].security_token);
}

#[tokio::test]
async fn signature_errors_carry_both_strings_without_the_token() {
    let sim = simulator(&sim_yaml()).await;
    let (client, _) = client_for(
        &sim.endpoint(),
        "STS.key",
        "wrong",
        Some(TOKEN),
        Duration::from_secs(5),
    );
    let error = client
        .describe_deployment_job_status(8888)
        .await
        .unwrap_err();
    let ApiError::Service(service) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        (service.status, service.code.as_str()),
        (400, "SignatureDoesNotMatch")
    );
    assert_eq!(
        service.message,
        "Specified signature is not matched with our calculation."
    );
    assert_eq!(
        service.request_id.as_deref(),
        Some(sim.requests()[0].request_id.as_str())
    );
    let mismatch = service.signature.as_ref().unwrap();
    assert!(mismatch.same_string);
    assert_eq!(mismatch.server.as_deref(), Some(mismatch.ours.as_str()));
    assert!(
        mismatch.ours.contains("SecurityToken%3D<redacted>%26"),
        "{}",
        mismatch.ours
    );
    let shown = format!("{error} {error:?} {}", error.hint());
    for leak in [TOKEN, "CAIS%252BtOkEn", "CAIS%2BtOkEn", SECRET] {
        assert!(!shown.contains(leak), "{leak} in {shown}");
    }
    assert!(error.hint().contains("AccessKey secret is wrong"));
}

#[tokio::test]
async fn every_transport_and_body_fault_is_typed() {
    let sim = simulator(&sim_yaml()).await;
    let (client, recorder) = client_for(
        &sim.endpoint(),
        KEY_ID,
        SECRET,
        None,
        Duration::from_millis(400),
    );
    let cases: [(Fault, &str, Option<u16>); 8] = [
        (Fault::InternalError, "InternalError", Some(500)),
        (Fault::ServiceUnavailable, "ServiceUnavailable", Some(503)),
        (Fault::Throttle, "Throttling.User", Some(400)),
        (Fault::BadGateway, "http", Some(502)),
        (Fault::Malformed, "decode", Some(200)),
        (Fault::Truncated, "decode", Some(200)),
        (Fault::Oversized, "ResponseTooLarge", Some(200)),
        (Fault::Hang, "timeout", None),
    ];
    for (fault, code, status) in cases {
        sim.set_job_fault(8888, Some(fault));
        let error = client
            .describe_deployment_job_status(8888)
            .await
            .unwrap_err();
        assert_eq!(error.code(), code, "{fault:?}: {error}");
        assert_eq!(error.http_status(), status, "{fault:?}");
    }
    let codes: Vec<String> = recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(_, c)| c.clone())
        .collect();
    let expected: Vec<&str> = cases.iter().map(|(_, c, _)| *c).collect();
    assert_eq!(codes, expected);

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (nowhere, _) = client_for(
        &format!("http://{closed}"),
        KEY_ID,
        SECRET,
        None,
        Duration::from_secs(2),
    );
    let error = nowhere.describe_deployment_job_status(1).await.unwrap_err();
    assert_eq!(error.code(), "connect", "{error}");
    assert!(!error.to_string().contains("Signature="), "{error}");
}
