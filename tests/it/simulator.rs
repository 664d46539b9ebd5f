//! The simulator is as strict as the real gateway: hand-built requests, each
//! wrong in one way, get the exact code, status and message of the spec.

mod answers;

use crate::support;

use aliyun_cas_exporter::acs::sign::{canonical_query, percent_encode, sign_query, signature};
use aliyun_cas_exporter::simulator::{Fault, Simulator};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};
use support::{KEY_ID, SAMPLE_JOB, SAMPLE_STATUS_JSON, SECRET, SimSpec, TOKEN};

/// Three keys (plain, STS, and one denied the status call) and two jobs; tests add settings.
fn spec() -> SimSpec {
    SimSpec::new()
        .key(KEY_ID, SECRET)
        .key("STS.key", "sts-secret")
        .security_token(TOKEN)
        .key("denied", "denied-secret")
        .denied_actions(&["DescribeDeploymentJobStatus"])
        .jobs(&format!("{SAMPLE_JOB}    cert_ids: [12345]\n"))
        .job("{id: 9999, job_type: cloud, workers: {OSS: 1}}")
}

fn timestamp(offset_secs: i64) -> String {
    let now = SystemTime::now();
    let at = if offset_secs >= 0 {
        now + Duration::from_secs(offset_secs as u64)
    } else {
        now - Duration::from_secs(offset_secs.unsigned_abs())
    };
    humantime::format_rfc3339_seconds(at).to_string()
}

/// A correct parameter set for `action`, with a fresh nonce.
fn params(action: &str, key_id: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all = vec![
        ("AccessKeyId".to_owned(), key_id.to_owned()),
        ("Action".to_owned(), action.to_owned()),
        ("Format".to_owned(), "JSON".to_owned()),
        ("SignatureMethod".to_owned(), "HMAC-SHA1".to_owned()),
        (
            "SignatureNonce".to_owned(),
            uuid::Uuid::new_v4().to_string(),
        ),
        ("SignatureVersion".to_owned(), "1.0".to_owned()),
        ("Timestamp".to_owned(), timestamp(0)),
        ("Version".to_owned(), "2020-04-07".to_owned()),
    ];
    all.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    all
}

fn set(params: &mut Vec<(String, String)>, name: &str, value: Option<&str>) {
    params.retain(|(k, _)| k != name);
    if let Some(value) = value {
        params.push((name.to_owned(), value.to_owned()));
    }
}

async fn send(
    sim: &Simulator,
    method: &str,
    params: &[(String, String)],
    secret: &str,
) -> (u16, Value) {
    let signed = sign_query(method, params, secret);
    let url = format!("{}/?{}", sim.endpoint(), signed.query);
    let client = reqwest::Client::new();
    let request = if method == "GET" {
        client.get(url)
    } else {
        client.post(url)
    };
    let response = request.send().await.expect("simulator answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A request wrong in one way, and the HTTP status, code and message that refuse it.
type Refusal = (Vec<(String, String)>, u16, &'static str, String);

fn assert_error(answer: &(u16, Value), status: u16, code: &str, message: &str) {
    assert_eq!(answer.0, status, "{answer:?}");
    let body = &answer.1;
    assert_eq!(body["Code"], code, "{body}");
    assert_eq!(body["Message"], message, "{body}");
    assert_eq!(body["HostId"], "cas.aliyuncs.com");
    let request_id = body["RequestId"].as_str().unwrap();
    assert_eq!(
        body["Recommend"],
        format!("https://api.aliyun.com/troubleshoot?q={code}&product=cas&requestId={request_id}")
    );
}

#[tokio::test]
async fn answers_signed_get_and_post_with_the_spec_shape() {
    let sim = spec().start().await;
    for method in ["GET", "POST"] {
        let (status, body) = send(
            &sim,
            method,
            &params("DescribeDeploymentJobStatus", KEY_ID, &[("JobId", "8888")]),
            SECRET,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let request_id = body["RequestId"].as_str().unwrap().to_owned();
        assert_eq!(request_id.len(), 36);
        let mut expected: Value = serde_json::from_str(SAMPLE_STATUS_JSON).unwrap();
        expected["RequestId"] = Value::from(request_id);
        assert_eq!(body, expected);
    }
    let (status, body) = send(
        &sim,
        "POST",
        &params("DescribeDeploymentJob", KEY_ID, &[("JobId", "8888")]),
        SECRET,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["Id"], 8888);
    assert_eq!(body["Name"], "cdn-renew");
    assert_eq!(body["Status"], "error");
    assert_eq!(body["ProductName"], "CDN,SLB");
    assert_eq!(body["CertDomain"], "www.example.com");
    assert_eq!(
        body["EndTime"].as_str().unwrap().len(),
        13,
        "milliseconds as in the docs' example"
    );
    let log = sim.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[1].method, "POST");
    assert!(log.iter().all(|r| r.code == "OK" && r.status == 200));
}

#[tokio::test]
async fn refuses_each_authentication_fault_with_the_real_code() {
    let sim = spec().start().await;
    let good = || params("DescribeDeploymentJobStatus", KEY_ID, &[("JobId", "8888")]);

    let answer = send(&sim, "POST", &good(), "wrong-secret").await;
    assert_eq!(answer.0, 400);
    assert_eq!(answer.1["Code"], "SignatureDoesNotMatch");
    let message = answer.1["Message"].as_str().unwrap();
    let expected_sts = sign_query("POST", &good_with_nonce_of(&sim), SECRET).string_to_sign;
    assert!(message.starts_with("Specified signature is not matched with our calculation. server string to sign is:POST&%2F&AccessKeyId%3DLTAItestkey0001%26Action%3DDescribeDeploymentJobStatus"), "{message}");
    assert_eq!(message.split_once("is:").unwrap().1, expected_sts);

    let answer = send(
        &sim,
        "POST",
        &params(
            "DescribeDeploymentJobStatus",
            "nobody",
            &[("JobId", "8888")],
        ),
        SECRET,
    )
    .await;
    assert_error(
        &answer,
        404,
        "InvalidAccessKeyId.NotFound",
        "Specified access key is not found.",
    );

    let mut replayed = good();
    assert_eq!(send(&sim, "POST", &replayed, SECRET).await.0, 200);
    let answer = send(&sim, "POST", &replayed, SECRET).await;
    assert_error(
        &answer,
        400,
        "SignatureNonceUsed",
        "Specified signature nonce was used already.",
    );

    set(&mut replayed, "SignatureNonce", Some("fresh-nonce-1"));
    set(&mut replayed, "Timestamp", Some(&timestamp(-16 * 60)));
    let answer = send(&sim, "POST", &replayed, SECRET).await;
    assert_error(
        &answer,
        400,
        "InvalidTimeStamp.Expired",
        "Specified time stamp or date value is expired.",
    );
    set(&mut replayed, "Timestamp", Some(&timestamp(16 * 60)));
    assert_eq!(
        send(&sim, "POST", &replayed, SECRET).await.1["Code"],
        "InvalidTimeStamp.Expired"
    );
    set(&mut replayed, "Timestamp", Some(&timestamp(-14 * 60)));
    assert_eq!(
        send(&sim, "POST", &replayed, SECRET).await.0,
        200,
        "14 minutes off is still accepted"
    );
    set(&mut replayed, "SignatureNonce", Some("fresh-nonce-2"));
    set(&mut replayed, "Timestamp", Some("2024-05-01 08:00:00"));
    let answer = send(&sim, "POST", &replayed, SECRET).await;
    assert_error(
        &answer,
        400,
        "InvalidTimeStamp.Format",
        "Specified time stamp or date value is not well formatted.",
    );

    let answer = send(
        &sim,
        "POST",
        &params(
            "DescribeDeploymentJobStatus",
            "denied",
            &[("JobId", "8888")],
        ),
        "denied-secret",
    )
    .await;
    assert_error(
        &answer,
        403,
        "Forbidden.RAM",
        "User not authorized to operate on the specified resource, or this API doesn't support RAM.",
    );
    let answer = send(
        &sim,
        "POST",
        &params("DescribeDeploymentJob", "denied", &[("JobId", "8888")]),
        "denied-secret",
    )
    .await;
    assert_eq!(answer.0, 200, "only the listed action is denied");
}

/// The parameters of the first logged request, to recompute its string-to-sign.
fn good_with_nonce_of(sim: &Simulator) -> Vec<(String, String)> {
    sim.requests()[0]
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[tokio::test]
async fn security_tokens_must_match_the_key() {
    let sim = spec().start().await;
    let with_token = |token: Option<&str>| {
        let mut p = params(
            "DescribeDeploymentJobStatus",
            "STS.key",
            &[("JobId", "8888")],
        );
        set(&mut p, "SecurityToken", token);
        p
    };
    assert_eq!(
        send(&sim, "POST", &with_token(Some(TOKEN)), "sts-secret")
            .await
            .0,
        200
    );
    let answer = send(&sim, "POST", &with_token(None), "sts-secret").await;
    assert_error(
        &answer,
        400,
        "InvalidSecurityToken.Expired",
        "Specified SecurityToken is expired.",
    );
    let answer = send(&sim, "POST", &with_token(Some("other")), "sts-secret").await;
    assert_error(
        &answer,
        400,
        "InvalidSecurityToken.Malformed",
        "Specified SecurityToken is malformed.",
    );
    let mut plain = params("DescribeDeploymentJobStatus", KEY_ID, &[("JobId", "8888")]);
    set(&mut plain, "SecurityToken", Some("unexpected"));
    assert_eq!(
        send(&sim, "POST", &plain, SECRET).await.1["Code"],
        "InvalidSecurityToken.Malformed"
    );
    let log = sim.requests();
    assert!(log[0].security_token && !log[1].security_token);
    assert!(log.iter().all(|r| !r.params.contains_key("SecurityToken") && !r.params.contains_key("Signature")));
}

#[tokio::test]
async fn checks_version_action_and_parameters() {
    let sim = spec().start().await;
    let status = |extra: &[(&str, &str)]| params("DescribeDeploymentJobStatus", KEY_ID, extra);
    // A good status call for job 8888 with `name` set to `value`, or left out for `None`.
    let changed = |name: &str, value: Option<&str>| {
        let mut p = status(&[("JobId", "8888")]);
        set(&mut p, name, value);
        p
    };
    let missing = |name: &str| {
        format!(
            "The input parameter \"{name}\" that is mandatory for processing this request is not supplied."
        )
    };
    let not_valid = |name: &str| format!("The specified parameter \"{name}\" is not valid.");
    // Each request is wrong in one way; each answer names it with the gateway's code.
    let refusals: [Refusal; 11] = [
        (
            changed("Version", Some("2018-07-13")),
            400,
            "InvalidVersion",
            "Specified parameter Version is not valid.".into(),
        ),
        (
            params("DescribeNothing", KEY_ID, &[]),
            404,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.".into(),
        ),
        (status(&[]), 400, "MissingParameter", missing("JobId")),
        (
            changed("Timestamp", None),
            400,
            "MissingParameter",
            missing("Timestamp"),
        ),
        (
            changed("SignatureNonce", None),
            400,
            "MissingParameter",
            missing("SignatureNonce"),
        ),
        (
            changed("AccessKeyId", None),
            400,
            "MissingParameter",
            missing("AccessKeyId"),
        ),
        (
            status(&[("JobID", "8888")]),
            400,
            "InvalidParameter",
            "The parameter \"JobID\" is not recognised by DescribeDeploymentJobStatus.".into(),
        ),
        (
            status(&[("JobId", "abc")]),
            400,
            "InvalidParameter",
            not_valid("JobId"),
        ),
        (
            status(&[("JobId", "4242")]),
            400,
            "InvalidParameter.JobId",
            "The deployment job 4242 does not exist.".into(),
        ),
        (
            changed("SignatureMethod", Some("HMAC-SHA256")),
            400,
            "InvalidParameter",
            not_valid("SignatureMethod"),
        ),
        (
            changed("Format", Some("XML")),
            400,
            "InvalidParameter",
            not_valid("Format"),
        ),
    ];
    for (request, http_status, code, message) in &refusals {
        let answer = send(&sim, "POST", request, SECRET).await;
        assert_error(&answer, *http_status, code, message);
    }
    let mut p = status(&[
        ("JobId", "8888"),
        ("RegionId", "cn-hangzhou"),
        ("SignatureType", ""),
    ]);
    set(&mut p, "Format", Some("json"));
    assert_eq!(
        send(&sim, "GET", &p, SECRET).await.0,
        200,
        "the classic SDK's extra parameters are accepted"
    );

    let client = reqwest::Client::new();
    let put = client
        .put(format!("{}/", sim.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 405);
    let elsewhere = client
        .get(format!("{}/api", sim.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status().as_u16(), 404);
}

#[tokio::test(start_paused = true)]
async fn throttles_beyond_the_per_action_rate() {
    let sim = spec()
        .set("qps_limit", 3)
        .set("throttle_status", 429)
        .start()
        .await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        let answer = send(
            &sim,
            "POST",
            &params("DescribeDeploymentJobStatus", KEY_ID, &[("JobId", "8888")]),
            SECRET,
        )
        .await;
        codes.push((
            answer.0,
            answer.1["Code"].as_str().unwrap_or("OK").to_owned(),
        ));
    }
    let other_action = send(
        &sim,
        "POST",
        &params("DescribeDeploymentJob", KEY_ID, &[("JobId", "8888")]),
        SECRET,
    )
    .await;
    assert_eq!(other_action.0, 200, "limits are per action");
    let ok = (200, "OK".to_owned());
    let throttled = (429, "Throttling.User".to_owned());
    assert_eq!(
        codes,
        [ok.clone(), ok.clone(), ok, throttled.clone(), throttled]
    );
    let log = sim.requests();
    assert_eq!(
        (log[3].code.as_str(), log[3].status),
        ("Throttling.User", 429)
    );
}

#[tokio::test(start_paused = true)]
async fn rate_window_follows_tokio_time() {
    let sim = spec().set("qps_limit", 2).start().await;
    let call = || params("DescribeDeploymentJobStatus", KEY_ID, &[("JobId", "8888")]);
    assert_eq!(send(&sim, "POST", &call(), SECRET).await.0, 200);
    assert_eq!(send(&sim, "POST", &call(), SECRET).await.0, 200);
    let answer = send(&sim, "POST", &call(), SECRET).await;
    assert_error(
        &answer,
        400,
        "Throttling.User",
        "Request was denied due to user flow control.",
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(send(&sim, "POST", &call(), SECRET).await.0, 200);
}

#[tokio::test]
async fn plays_faults_per_job_and_by_share() {
    let sim = spec()
        .set("qps_limit", 0)
        .set("faults", "{internal_error: 0.25}")
        .start()
        .await;
    let call = || params("DescribeDeploymentJobStatus", KEY_ID, &[("JobId", "9999")]);
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(send(&sim, "POST", &call(), SECRET).await.0);
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 500, 200, 200, 200, 500],
        "every fourth request fails"
    );

    sim.set_job_fault(8888, Some(Fault::Truncated));
    let job = || params("DescribeDeploymentJobStatus", KEY_ID, &[("JobId", "8888")]);
    let (status, body) = send(&sim, "POST", &job(), SECRET).await;
    assert_eq!(status, 200);
    let text = body.as_str().expect("not JSON");
    assert!(
        text.starts_with("{\"") && serde_json::from_str::<Value>(text).is_err(),
        "{text}"
    );
    sim.set_job_fault(8888, Some(Fault::Malformed));
    let (status, body) = send(&sim, "POST", &job(), SECRET).await;
    assert_eq!(
        (status, body.as_str().unwrap()),
        (
            200,
            "<html><body>upstream temporarily unavailable</body></html>"
        )
    );
    sim.set_job_fault(8888, Some(Fault::ServiceUnavailable));
    let answer = send(&sim, "POST", &job(), SECRET).await;
    assert_error(
        &answer,
        503,
        "ServiceUnavailable",
        "The request has failed due to a temporary failure of the server.",
    );
    sim.set_job_fault(8888, Some(Fault::Hang));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let signed = sign_query("POST", &job(), SECRET);
    let hung = client
        .post(format!("{}/?{}", sim.endpoint(), signed.query))
        .send()
        .await;
    assert!(hung.unwrap_err().is_timeout());
    assert_eq!(sim.requests().last().unwrap().code, "hang");
    sim.set_job_fault(8888, None);
    sim.set_job_fault(8888, Some(Fault::BadGateway));
    let (status, body) = send(&sim, "POST", &job(), SECRET).await;
    let page = body.as_str().unwrap();
    assert_eq!(status, 502);
    assert!(page.starts_with("<html><body><h1>502 Bad Gateway</h1><p>/?AccessKeyId=LTAItestkey0001&Action=DescribeDeploymentJobStatus&"), "{page}");
    sim.set_job_fault(8888, None);
    sim.remove_job(8888);
    assert_eq!(
        send(&sim, "POST", &job(), SECRET).await.1["Code"],
        "InvalidParameter.JobId"
    );
}

#[tokio::test]
async fn lists_jobs_page_by_page_with_filters() {
    let sim = spec().start().await;
    let list = |extra: &[(&str, &str)]| params("ListDeploymentJob", KEY_ID, extra);
    let (status, body) = send(&sim, "POST", &list(&[("ShowSize", "1")]), SECRET).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            body["CurrentPage"].clone(),
            body["ShowSize"].clone(),
            body["Total"].clone()
        ),
        (json!(1), json!(1), json!(2))
    );
    assert_eq!(body["Data"].as_array().unwrap().len(), 1);
    assert_eq!(body["Data"][0]["Id"], 8888);
    let (_, page2) = send(
        &sim,
        "POST",
        &list(&[("ShowSize", "1"), ("CurrentPage", "2")]),
        SECRET,
    )
    .await;
    assert_eq!(page2["Data"][0]["Id"], 9999);
    let (_, page3) = send(
        &sim,
        "POST",
        &list(&[("ShowSize", "1"), ("CurrentPage", "3")]),
        SECRET,
    )
    .await;
    assert_eq!(page3["Data"], json!([]));
    let (_, cloud) = send(&sim, "POST", &list(&[("JobType", "cloud")]), SECRET).await;
    assert_eq!(
        (cloud["Total"].clone(), cloud["Data"][0]["Id"].clone()),
        (json!(1), json!(9999))
    );
    let (_, errors) = send(&sim, "POST", &list(&[("Status", "error")]), SECRET).await;
    assert_eq!(errors["Data"][0]["Id"], 8888);
    let answer = send(&sim, "POST", &list(&[("ShowSize", "0")]), SECRET).await;
    assert_error(
        &answer,
        400,
        "InvalidParameter",
        "The specified parameter \"ShowSize\" is not valid.",
    );
}

#[test]
fn refuses_an_invalid_spec_with_the_reason() {
    use aliyun_cas_exporter::simulator::SimulatorSpec;
    let err = |yaml: &str| {
        SimulatorSpec::parse(yaml, "sim.yaml")
            .unwrap_err()
            .to_string()
    };
    // The spec's text is under test here (a line and column among the reasons): written out.
    let cases = [
        (
            "access_keys: []\n",
            "access_keys is empty: list at least one key the exporter can sign with",
        ),
        (
            "access_keys: [{id: a, secret: b}]\njobs: [{id: 1}, {id: 1}]\n",
            "job 1 is listed twice",
        ),
        (
            "access_keys: [{id: a, secret: b}]\nfaults: {hang: 2}\n",
            "faults.hang is 2; a share lies between 0 and 1",
        ),
        (
            "access_keys: [{id: a, secret: b}]\nbogus: 1\n",
            "line 2, column 1: unknown field `bogus`, expected one of `access_keys`, `qps_limit`, `throttle_status`, `throttle_retry_after`, `latency`, `faults`, `page_size_limit`, `jobs`, `identity`; check the spelling (docs/simulator.md lists every key)",
        ),
        (
            "access_keys: [{id: a, secret: b}, {id: a, secret: c}]\n",
            "access key a is listed twice",
        ),
        (
            "access_keys: [{id: a, secret: b, denied_actions: [DescribeDeploymentJobStatu]}]\n",
            "access key a: denied_actions names DescribeDeploymentJobStatu, which the simulator does not serve; use one of DescribeDeploymentJobStatus, DescribeDeploymentJob, ListDeploymentJob, ListWorkerResource, ListDeploymentJobCert",
        ),
        (
            "access_keys: [{id: a, secret: b}]\nthrottle_status: 503\n",
            "throttle_status is 503; the API answers Throttling.User with 400 or 429",
        ),
        (
            "access_keys: [{id: a, secret: b}]\njobs: [{id: 1, workers: {CDN: 2}, outcomes: {succeeded: 2, failed: 1}}]\n",
            "job 1: outcomes add up to 3 finished workers, but workers add up to 2",
        ),
    ];
    for (yaml, reason) in cases {
        assert_eq!(
            err(yaml),
            format!("the simulator file sim.yaml is not valid: {reason}"),
            "{yaml}"
        );
    }
    assert!(err("access_keys: [{id: a, secret: b}]\njobs: [{id: 1, omit_fields: [BuyCnt]}]\n").starts_with(
        "the simulator file sim.yaml is not valid: job 1: omit_fields names BuyCnt, which DescribeDeploymentJobStatus does not return; use one of ResourceCount, "
    ));
}

#[tokio::test(start_paused = true)]
async fn latency_delays_every_answer() {
    let sim = spec().set("latency", "250ms").start().await;
    let started = tokio::time::Instant::now();
    let answer = send(
        &sim,
        "POST",
        &params("DescribeDeploymentJobStatus", KEY_ID, &[("JobId", "8888")]),
        SECRET,
    )
    .await;
    assert_eq!(answer.0, 200);
    // On the paused clock, time moves only by the simulator's sleep.
    assert_eq!(started.elapsed(), Duration::from_millis(250));
}

#[tokio::test]
async fn refuses_odd_bodies_signs_and_filters() {
    let sim = spec().start().await;
    let signed = sign_query(
        "POST",
        &params("DescribeDeploymentJobStatus", KEY_ID, &[("JobId", "8888")]),
        SECRET,
    );
    let with_body = reqwest::Client::new()
        .post(format!("{}/?{}", sim.endpoint(), signed.query))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(with_body.status().as_u16(), 400);
    let body: Value = serde_json::from_str(&with_body.text().await.unwrap()).unwrap();
    assert_eq!(
        body["Message"],
        "The request body must be empty or application/x-www-form-urlencoded."
    );

    // JobId travels in a form body: it is signed with the query parameters.
    let query_part = params("DescribeDeploymentJobStatus", KEY_ID, &[]);
    let mut signed_part = query_part.clone();
    signed_part.push(("JobId".into(), "8888".into()));
    let string_to_sign = sign_query("POST", &signed_part, SECRET).string_to_sign;
    let query = format!(
        "{}&Signature={}",
        canonical_query(&query_part),
        percent_encode(&signature(&string_to_sign, SECRET))
    );
    let form_post = reqwest::Client::new()
        .post(format!("{}/?{query}", sim.endpoint()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("JobId=8888")
        .send()
        .await
        .unwrap();
    assert_eq!(
        form_post.status().as_u16(),
        200,
        "form fields are parameters, and are signed"
    );

    let answer = send(
        &sim,
        "POST",
        &params("DescribeDeploymentJobStatus", KEY_ID, &[("JobId", "+8888")]),
        SECRET,
    )
    .await;
    assert_error(
        &answer,
        400,
        "InvalidParameter",
        "The specified parameter \"JobId\" is not valid.",
    );

    let list = |extra: &[(&str, &str)]| params("ListDeploymentJob", KEY_ID, extra);
    let (_, by_instance) = send(
        &sim,
        "POST",
        &list(&[("InstanceId", "cas-job-9999")]),
        SECRET,
    )
    .await;
    assert_eq!(
        (
            by_instance["Total"].clone(),
            by_instance["Data"][0]["Id"].clone()
        ),
        (json!(1), json!(9999))
    );
    let (_, by_cert) = send(&sim, "POST", &list(&[("CertId", "12345")]), SECRET).await;
    assert_eq!(
        (by_cert["Total"].clone(), by_cert["Data"][0]["Id"].clone()),
        (json!(1), json!(8888))
    );
    let (_, no_cert) = send(&sim, "POST", &list(&[("CertId", "1")]), SECRET).await;
    assert_eq!(no_cert["Total"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulate_subcommand_serves_a_jobs_file() {
    let file = support::config_file(&SimSpec::new().key(KEY_ID, SECRET).jobs(SAMPLE_JOB).yaml());
    let process = support::Exporter::spawn(
        &[
            "simulate",
            "--jobs",
            file.path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let signed = sign_query(
        "POST",
        &params("DescribeDeploymentJobStatus", KEY_ID, &[("JobId", "8888")]),
        SECRET,
    );
    let response = reqwest::Client::new()
        .post(format!("{}?{}", process.url("/"), signed.query))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    let mut expected: Value = serde_json::from_str(SAMPLE_STATUS_JSON).unwrap();
    expected["RequestId"] = body["RequestId"].clone();
    assert_eq!(body, expected);
    let (status, logs) = process.terminate();
    assert!(status.success(), "{logs:?}");

    let (status, _, stderr) =
        support::run_to_end(&["simulate", "--jobs", "/nonexistent.yaml"], &[]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("cannot read the simulator file /nonexistent.yaml"),
        "{stderr}"
    );
}

#[tokio::test]
async fn plays_chosen_errors_and_overridden_fields() {
    let sim = spec()
        .set("qps_limit", 0)
        .job(r#"{id: 41, error: {status: 429, code: "Odd.Code\0", message: m, request_id: R-1}}"#)
        .job(r#"{id: 42, workers: {CDN: 1}, override_fields: {Id: "1e3", WorkerCount: -1, Name: "a\0b"}}"#)
        .start()
        .await;
    let call = |action: &str, job: &str| params(action, KEY_ID, &[("JobId", job)]);
    let (status, body) = send(
        &sim,
        "POST",
        &call("DescribeDeploymentJobStatus", "41"),
        SECRET,
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(
        body,
        json!({"RequestId": "R-1", "HostId": "cas.aliyuncs.com", "Code": "Odd.Code\u{0}", "Message": "m"})
    );
    assert_eq!(sim.requests().last().unwrap().code, "Odd.Code\u{0}");

    let (_, status) = send(
        &sim,
        "POST",
        &call("DescribeDeploymentJobStatus", "42"),
        SECRET,
    )
    .await;
    assert_eq!(status["WorkerCount"], -1);
    assert_eq!(status["Id"], "1e3", "overrides add fields too");
    let (_, job) = send(&sim, "POST", &call("DescribeDeploymentJob", "42"), SECRET).await;
    assert_eq!(
        (&job["Id"], &job["Name"]),
        (&json!("1e3"), &json!("a\u{0}b"))
    );
    let list = params("ListDeploymentJob", KEY_ID, &[]);
    let (_, page) = send(&sim, "POST", &list, SECRET).await;
    let listed: Vec<&Value> = page["Data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| &j["Id"])
        .collect();
    assert!(listed.contains(&&json!("1e3")), "{listed:?}");
}
