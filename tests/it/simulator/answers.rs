//! The answers about one job beyond its counts: its worker tasks page by page,
//! its certificates, faults limited to some actions (the listing among them),
//! and the demo's world.

use super::{Refusal, assert_error, params, send, spec};
use crate::support::{self, KEY_ID, SECRET, SimSpec};
use serde_json::{Value, json};
use std::time::SystemTime;

/// The `Data[]` of a paged answer as (Id, CloudProduct, Status).
fn workers_of(body: &Value) -> Vec<(u64, String, String)> {
    body["Data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["Id"].as_u64().unwrap(),
                w["CloudProduct"].as_str().unwrap().to_owned(),
                w["Status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `(CurrentPage, ShowSize, Total)` of a paged answer.
fn paging(body: &Value) -> (Value, Value, Value) {
    (
        body["CurrentPage"].clone(),
        body["ShowSize"].clone(),
        body["Total"].clone(),
    )
}

#[tokio::test]
async fn lists_worker_tasks_as_the_counts_say_page_by_page() {
    let sim = spec()
        .set("qps_limit", 0)
        .set("page_size_limit", 2)
        .job("{id: 31, cert_domain: '*.example.com', cert_ids: [777], workers: {CDN: 3, SLB: 2, TencentCDN: 2}, outcomes: {succeeded: 2, failed: 3, rollback_succeeded: 2}}")
        .start()
        .await;
    let workers = |extra: &[(&str, &str)]| {
        let mut all = vec![("JobId", "31")];
        all.extend_from_slice(extra);
        params("ListWorkerResource", KEY_ID, &all)
    };
    let w = |id: u64, product: &str, status: &str| (id, product.to_owned(), status.to_owned());
    // The failures are dealt across products: CDN #1, SLB #1, TencentCDN #1; two pages of two at most.
    let (status, first) = send(&sim, "POST", &workers(&[("Status", "error")]), SECRET).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(paging(&first), (json!(1), json!(2), json!(3)));
    assert_eq!(
        workers_of(&first),
        [w(31_000_001, "CDN", "error"), w(31_000_004, "SLB", "error")]
    );
    let (_, second) = send(
        &sim,
        "POST",
        &workers(&[
            ("Status", "error"),
            ("CurrentPage", "2"),
            ("ShowSize", "10"),
        ]),
        SECRET,
    )
    .await;
    assert_eq!(paging(&second), (json!(2), json!(2), json!(3)));
    assert_eq!(workers_of(&second), [w(31_000_006, "TencentCDN", "error")]);
    assert_eq!(second["Data"][0]["CloudName"], "Tencent");
    assert_eq!(second["Data"][0]["ResourceDomain"], "img1.example.com");
    let (_, past) = send(
        &sim,
        "POST",
        &workers(&[("Status", "error"), ("CurrentPage", "3")]),
        SECRET,
    )
    .await;
    assert_eq!(
        (paging(&past), past["Data"].clone()),
        ((json!(3), json!(2), json!(3)), json!([]))
    );
    let (_, rolled_back) = send(
        &sim,
        "POST",
        &workers(&[("Status", "rollback_success")]),
        SECRET,
    )
    .await;
    assert_eq!(
        (rolled_back["Total"].clone(), workers_of(&rolled_back)),
        (
            json!(2),
            vec![
                w(31_000_002, "CDN", "rollback_success"),
                w(31_000_005, "SLB", "rollback_success")
            ]
        )
    );
    let (_, succeeded) = send(&sim, "POST", &workers(&[("Status", "success")]), SECRET).await;
    assert_eq!(
        workers_of(&succeeded),
        [
            w(31_000_003, "CDN", "success"),
            w(31_000_007, "TencentCDN", "success")
        ]
    );
    // The counts agree.
    let (_, counts) = send(
        &sim,
        "POST",
        &params("DescribeDeploymentJobStatus", KEY_ID, &[("JobId", "31")]),
        SECRET,
    )
    .await;
    assert_eq!(
        (
            &counts["FailedCount"],
            &counts["RollbackSuccessCount"],
            &counts["SuccessCount"]
        ),
        (&json!(3), &json!(2), &json!(2))
    );
    // One whole worker, its times those of the job.
    let (_, job) = send(
        &sim,
        "POST",
        &params("DescribeDeploymentJob", KEY_ID, &[("JobId", "31")]),
        SECRET,
    )
    .await;
    let started = job["StartTime"].as_str().unwrap();
    let secs = &started[..started.len() - 3];
    assert_eq!(
        first["Data"][0],
        json!({"Id": 31_000_001, "JobId": 31, "UserId": 1_666_884_370_000_785_u64, "Status": "error",
            "CloudProduct": "CDN", "CloudRegion": "cn-hangzhou", "RegionId": "cn-hangzhou",
            "InstanceId": "", "ListenerId": "", "Port": 0, "DefaultResource": false,
            "ResourceId": 31_500_001, "ResourceCertId": 776, "ResourceDomain": "cdn-1.example.com",
            "CertId": 777, "CertInstanceId": "cas-ivauto-309", "CertName": "cert-777",
            "CertDomain": "*.example.com", "OrderId": 7_000_777, "GmtCreate": secs, "GmtModified": secs})
    );
    let slb = &first["Data"][1];
    assert!(slb.get("CloudName").is_none(), "{slb}");
    assert_eq!(
        (&slb["Port"], &slb["ResourceDomain"]),
        (&json!(443), &json!(""))
    );
    // Filters by product, and pages without a status.
    let (_, tencent) = send(
        &sim,
        "POST",
        &workers(&[("CloudProduct", "TencentCDN")]),
        SECRET,
    )
    .await;
    assert_eq!(paging(&tencent), (json!(1), json!(2), json!(2)));
    let (_, nothing) = send(&sim, "POST", &workers(&[("CloudProduct", "Nope")]), SECRET).await;
    assert_eq!(
        (nothing["Total"].clone(), nothing["Data"].clone()),
        (json!(0), json!([]))
    );
    let (_, page4) = send(&sim, "POST", &workers(&[("CurrentPage", "4")]), SECRET).await;
    assert_eq!(workers_of(&page4), [w(31_000_007, "TencentCDN", "success")]);
    // The limit holds for ListDeploymentJob too.
    let (_, jobs) = send(
        &sim,
        "POST",
        &params("ListDeploymentJob", KEY_ID, &[]),
        SECRET,
    )
    .await;
    assert_eq!(paging(&jobs), (json!(1), json!(2), json!(3)));
    assert_eq!(jobs["Data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn refuses_worker_queries_as_the_gateway_does() {
    let sim = spec().set("qps_limit", 0).start().await;
    let call = |extra: &[(&str, &str)]| params("ListWorkerResource", KEY_ID, extra);
    let refusals: [Refusal; 5] = [
        (
            call(&[("JobId", "8888"), ("Status", "failed")]),
            400,
            "InvalidParameter",
            "The specified parameter \"Status\" is not valid.".into(),
        ),
        (
            call(&[("JobId", "8888"), ("ShowSize", "0")]),
            400,
            "InvalidParameter",
            "The specified parameter \"ShowSize\" is not valid.".into(),
        ),
        (
            call(&[("JobId", "4242")]),
            400,
            "InvalidParameter.JobId",
            "The deployment job 4242 does not exist.".into(),
        ),
        (
            call(&[("Status", "error")]),
            400,
            "MissingParameter",
            "The input parameter \"JobId\" that is mandatory for processing this request is not supplied.".into(),
        ),
        (
            params("ListDeploymentJobCert", KEY_ID, &[("JobId", "4242")]),
            400,
            "InvalidParameter.JobId",
            "The deployment job 4242 does not exist.".into(),
        ),
    ];
    for (request, http_status, code, message) in &refusals {
        let answer = send(&sim, "POST", request, SECRET).await;
        assert_error(&answer, *http_status, code, message);
    }
}

#[tokio::test]
async fn lists_a_jobs_certificates() {
    let sim = spec()
        .job("{id: 32, cert_type: free, cert_domain: shop.example.com, certs: [{id: 12345, name: cert-example, common_name: www.example.com, sans: [www.example.com, example.com], expires_in: 30d}, {id: 12346, status_code: expired, expired_ago: 1d, valid_for: 90d, override_fields: {Month: 3}}]}")
        .start()
        .await;
    let call = |action: &str| params(action, KEY_ID, &[("JobId", "32")]);
    let (_, job) = send(&sim, "POST", &call("DescribeDeploymentJob"), SECRET).await;
    let start: u64 = job["StartTime"].as_str().unwrap().parse::<u64>().unwrap() / 1000;
    let (status, body) = send(&sim, "POST", &call("ListDeploymentJobCert"), SECRET).await;
    assert_eq!(status, 200, "{body}");
    let day = 86_400;
    assert_eq!(
        body,
        json!({"RequestId": body["RequestId"].clone(), "Data": [
            {"CertId": 12345, "CertInstanceId": "cas-ivauto-3039", "CertName": "cert-example",
             "CommonName": "www.example.com", "Sans": ["www.example.com", "example.com"], "Algorithm": "RSA",
             "CertType": "DV", "CertOrderType": "free", "IsTrustee": false, "Month": 12,
             "NotBeforeTime": start + 30 * day - 365 * day, "NotAfterTime": start + 30 * day,
             "OrderId": 7_012_345, "StatusCode": "issued"},
            {"CertId": 12346, "CertInstanceId": "cas-ivauto-303a", "CertName": "cert-12346",
             "CommonName": "shop.example.com", "Sans": ["shop.example.com"], "Algorithm": "RSA",
             "CertType": "DV", "CertOrderType": "free", "IsTrustee": false, "Month": 3,
             "NotBeforeTime": start - day - 90 * day, "NotAfterTime": start - day,
             "OrderId": 7_012_346, "StatusCode": "expired"}]})
    );
    let (_, counts) = send(&sim, "POST", &call("DescribeDeploymentJobStatus"), SECRET).await;
    assert_eq!(counts["CertCount"], 2, "the certificates counted");
    let list = |cert: &str| params("ListDeploymentJob", KEY_ID, &[("CertId", cert)]);
    let (_, by_cert) = send(&sim, "POST", &list("12346"), SECRET).await;
    assert_eq!(
        (by_cert["Total"].clone(), by_cert["Data"][0]["Id"].clone()),
        (json!(1), json!(32))
    );
    // A job that names no certificate deploys one derived from its ID.
    let (_, derived) = send(&sim, "POST", &list("1000009999"), SECRET).await;
    assert_eq!(
        (derived["Total"].clone(), derived["Data"][0]["Id"].clone()),
        (json!(1), json!(9999))
    );
}

#[tokio::test]
async fn a_fault_can_be_limited_to_some_actions() {
    let sim = spec()
        .set("qps_limit", 0)
        .job("{id: 33, workers: {CDN: 1}, fault: internal_error, fault_actions: [ListWorkerResource]}")
        .start()
        .await;
    let call = |action: &str| params(action, KEY_ID, &[("JobId", "33")]);
    let code = |answer: &(u16, Value)| {
        (
            answer.0,
            answer.1["Code"].as_str().unwrap_or("OK").to_owned(),
        )
    };
    let ok = (200, "OK".to_owned());
    let status = send(&sim, "POST", &call("DescribeDeploymentJobStatus"), SECRET).await;
    assert_eq!(code(&status), ok);
    let workers = send(&sim, "POST", &call("ListWorkerResource"), SECRET).await;
    assert_error(
        &workers,
        500,
        "InternalError",
        "The request processing has failed due to some unknown error.",
    );
    // Switched at runtime: now only the certificates fail, with a chosen error.
    let mut job = SimSpec::new()
        .key("a", "b")
        .job("{id: 33, workers: {CDN: 1}, error: {status: 403, code: Forbidden.Cert}, fault_actions: [ListDeploymentJobCert]}")
        .parse()
        .jobs
        .remove(0);
    sim.upsert_job(job.clone());
    let workers = send(&sim, "POST", &call("ListWorkerResource"), SECRET).await;
    assert_eq!(code(&workers), ok);
    let certs = send(&sim, "POST", &call("ListDeploymentJobCert"), SECRET).await;
    assert_eq!(code(&certs), (403, "Forbidden.Cert".to_owned()));
    // Without fault_actions, the fault is the whole job's, as before; a listing still holds the job.
    job.fault_actions.clear();
    sim.upsert_job(job.clone());
    let status = send(&sim, "POST", &call("DescribeDeploymentJobStatus"), SECRET).await;
    assert_eq!(code(&status), (403, "Forbidden.Cert".to_owned()));
    let list = |extra: &[(&str, &str)]| params("ListDeploymentJob", KEY_ID, extra);
    let listing = send(&sim, "POST", &list(&[]), SECRET).await;
    assert_eq!(code(&listing), ok);
    assert_eq!(listing.1["Data"][0]["Id"], json!(33));
    // Named, ListDeploymentJob fails every page that holds the job, and only that action.
    job.fault_actions = vec!["ListDeploymentJob".to_owned()];
    sim.upsert_job(job);
    let listing = send(&sim, "POST", &list(&[]), SECRET).await;
    assert_eq!(code(&listing), (403, "Forbidden.Cert".to_owned()));
    let status = send(&sim, "POST", &call("DescribeDeploymentJobStatus"), SECRET).await;
    assert_eq!(code(&status), ok);
    let empty = send(&sim, "POST", &list(&[("CurrentPage", "2")]), SECRET).await;
    assert_eq!(
        (code(&empty), empty.1["Data"].clone()),
        (ok, json!([])),
        "a page without the job is answered"
    );
}

#[tokio::test]
async fn the_demo_world_looks_real() {
    use aliyun_cas_exporter::simulator::DEMO_SPEC;
    let sim = support::simulator(DEMO_SPEC).await;
    let (key, secret) = (
        "demo-access-key-id",
        "demo-access-key-secret-not-a-real-one",
    );
    let ask = async |action: &str, extra: &[(&str, &str)]| {
        let (status, body) = send(&sim, "POST", &params(action, key, extra), secret).await;
        assert_eq!(status, 200, "{body}");
        body
    };
    let time =
        |body: &Value, name: &str| -> Option<u64> { body[name].as_str().unwrap().parse().ok() };
    // Finished a week ago, two hours after it started, with failures on a domain and a listener.
    let last_week = ask("DescribeDeploymentJob", &[("JobId", "100004")]).await;
    let (start, end) = (
        time(&last_week, "StartTime").unwrap(),
        time(&last_week, "EndTime").unwrap(),
    );
    assert_eq!(end - start, 2 * 3_600_000);
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(now_ms - end >= 7 * 86_400_000 && now_ms - end < 7 * 86_400_000 + 600_000);
    let failed = ask(
        "ListWorkerResource",
        &[("JobId", "100004"), ("Status", "error")],
    )
    .await;
    assert_eq!(failed["Total"], 2);
    assert_eq!(failed["Data"][0]["ResourceDomain"], "cdn-1.example.com");
    let instance = failed["Data"][1]["InstanceId"].as_str().unwrap();
    assert!(instance.starts_with("lb-bp1"), "{instance}");
    // Waiting for its schedule, two hours ahead.
    let scheduled = ask("DescribeDeploymentJob", &[("JobId", "100005")]).await;
    assert_eq!(scheduled["Status"], "scheduling");
    assert_eq!(scheduled["EndTime"], "");
    assert!(time(&scheduled, "ScheduleTime").unwrap() > now_ms + 3_600_000);
    let waiting = ask(
        "ListWorkerResource",
        &[("JobId", "100005"), ("Status", "scheduling")],
    )
    .await;
    assert_eq!(waiting["Total"], 8);
    // One certificate expires within ten days; one is shared by two jobs.
    let media = ask("ListDeploymentJobCert", &[("JobId", "100003")]).await;
    let expiry = media["Data"][0]["NotAfterTime"].as_u64().unwrap();
    assert!(expiry * 1000 > now_ms && expiry * 1000 < now_ms + 10 * 86_400_000);
    let shared = ask("ListDeploymentJob", &[("CertId", "23001001")]).await;
    let ids: Vec<&Value> = shared["Data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| &j["Id"])
        .collect();
    assert_eq!(ids, [&json!(100001), &json!(100002)]);
}
