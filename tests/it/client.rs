//! The API client against the simulator over loopback: the request it sends,
//! the typed answers it parses, and the typed errors it returns.

use crate::support;

use aliyun_cas_exporter::api::model::DeploymentJobStatus;
use aliyun_cas_exporter::api::{
    Action, ApiError, Client, ClientOptions, Endpoint, RequestObserver,
};
use aliyun_cas_exporter::credentials::{Credentials, Secret, StaticProvider};
use aliyun_cas_exporter::simulator::{Fault, Simulator};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{KEY_ID, SAMPLE_JOB, SAMPLE_STATUS_JSON, SECRET, SimSpec, TOKEN};

#[derive(Default)]
struct Recorder(Mutex<Vec<(String, String)>>);

impl RequestObserver for Recorder {
    fn observe(&self, account: &str, action: Action, code: &str, _elapsed: Duration) {
        assert_eq!(account, "test-account");
        self.0
            .lock()
            .unwrap()
            .push((action.name().to_owned(), code.to_owned()));
    }
}

/// A plain key and an STS key with the same secret; the sample job and one of loose types.
async fn simulator() -> Simulator {
    SimSpec::new()
        .key(KEY_ID, SECRET)
        .key("STS.key", SECRET)
        .security_token(TOKEN)
        .jobs(SAMPLE_JOB)
        .job("{id: 7777, workers: {WAF: 2}, numbers_as_strings: true, omit_fields: [CostCount]}")
        .start()
        .await
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
    let sim = simulator().await;
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
    let sim = simulator().await;
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
    let sim = simulator().await;
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
    let sim = simulator().await;
    // Only a hang needs the deadline to pass; the others get time to arrive in
    // full even on a loaded machine (the oversized answer is 5 MiB).
    let (client, recorder) = client_for(
        &sim.endpoint(),
        KEY_ID,
        SECRET,
        None,
        Duration::from_secs(20),
    );
    let cases: [(Fault, &str, Option<u16>); 7] = [
        (Fault::InternalError, "InternalError", Some(500)),
        (Fault::ServiceUnavailable, "ServiceUnavailable", Some(503)),
        (Fault::Throttle, "Throttling.User", Some(400)),
        (Fault::BadGateway, "http", Some(502)),
        (Fault::Malformed, "decode", Some(200)),
        (Fault::Truncated, "decode", Some(200)),
        (Fault::Oversized, "ResponseTooLarge", Some(200)),
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

    let (impatient, _) = client_for(
        &sim.endpoint(),
        KEY_ID,
        SECRET,
        None,
        Duration::from_millis(400),
    );
    sim.set_job_fault(8888, Some(Fault::Hang));
    let error = impatient
        .describe_deployment_job_status(8888)
        .await
        .unwrap_err();
    assert_eq!(
        (error.code(), error.http_status()),
        ("timeout", None),
        "{error}"
    );

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

/// Serves `body` with `status` to every connection, as an API that sends odd bytes would.
async fn raw_server(status: u16, body: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0_u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            });
        }
    });
    format!("http://{address}")
}

#[tokio::test]
async fn odd_bytes_and_huge_fields_come_out_bounded() {
    // Invalid UTF-8, lone surrogates and (escaped) control characters in text
    // fields: the answer is still read. A raw control byte inside a string is not JSON: that answer is a decode error.
    let mut body = br#"{"Id":8888,"Name":"a"#.to_vec();
    body.extend_from_slice(b"\xff\xfeb\\u0000\\n\\\"c");
    body.extend_from_slice(br#"","Status":"x\u0007y","CertDomain":"d\ud800","ProductName":""#);
    body.extend_from_slice("é".repeat(1000).as_bytes());
    body.extend_from_slice(br#""}"#);
    let endpoint = raw_server(200, body).await;
    let (client, _) = client_for(&endpoint, KEY_ID, SECRET, None, Duration::from_secs(5));
    let job = client.describe_deployment_job(8888).await.unwrap();
    assert_eq!(job.name.as_deref(), Some("a\u{fffd}\u{fffd}b\"c"));
    assert_eq!(job.status.as_deref(), Some("xy"));
    assert_eq!(
        job.cert_domain.as_deref(),
        Some("d\u{fffd}"),
        "a lone surrogate"
    );
    let product = job.product_name.unwrap();
    assert_eq!(product.len(), 255, "254 bytes of é, then …");
    assert!(product.ends_with("é…"));

    // An error whose every field is huge or hostile: typed, classified, bounded.
    let error = serde_json::json!({
        "Code": format!("Throttling.{}", "Z".repeat(3 << 20)),
        "Message": format!("bad\n{SECRET}{}", "m".repeat(100_000)),
        "RequestId": format!("\u{0}{SECRET}{}", "r".repeat(1000)),
    });
    let endpoint = raw_server(400, error.to_string().into_bytes()).await;
    let (client, recorder) = client_for(&endpoint, KEY_ID, SECRET, None, Duration::from_secs(5));
    let error = client.describe_deployment_job_status(1).await.unwrap_err();
    assert_eq!(error.code(), "Throttling.other");
    assert!(
        error.hint().contains("quota"),
        "classified by the whole code"
    );
    let ApiError::Service(service) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        service.code.len(),
        11 + (3 << 20),
        "kept whole for classification"
    );
    assert!(service.message.starts_with("bad<redacted>mmm"));
    assert!(service.message.len() <= 1024);
    let request_id = service.request_id.as_deref().unwrap();
    assert!(request_id.starts_with("<redacted>rrr") && request_id.len() <= 64);
    let shown = error.to_string();
    assert!(
        shown.len() < 1200 && !shown.contains(SECRET),
        "{}",
        shown.len()
    );
    assert!(!shown.contains('\n'));
    assert_eq!(
        recorder.0.lock().unwrap().last().unwrap().1,
        "Throttling.other",
        "the observer counts the bounded label"
    );
}
