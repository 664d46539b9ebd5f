use super::*;
use crate::simulator::world::job_state;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// The simulator's start in the tests: 2024-05-01T08:00:00Z, in milliseconds.
const START_MS: u64 = 1_714_550_400_000;
const START: u64 = START_MS / 1000;

fn job(yaml: &str) -> JobSpec {
    crate::yaml::from_str(yaml, "a test job").unwrap()
}

fn all() -> WorkerQuery<'static> {
    WorkerQuery {
        status: None,
        product: None,
        offset: 0,
        limit: u64::MAX,
    }
}

fn list(spec: &JobSpec, elapsed: Duration, query: &WorkerQuery<'_>) -> WorkerPage {
    list_workers(spec, &job_state(spec, elapsed), START_MS, query)
}

fn field<'a>(page: &'a WorkerPage, name: &str) -> Vec<&'a Value> {
    page.data.iter().map(|w| &w[name]).collect()
}

/// How many listed workers have each status.
fn tally(page: &WorkerPage) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for worker in &page.data {
        *counts
            .entry(worker["Status"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    counts
}

/// The status counts DescribeDeploymentJobStatus gives for `spec` after `elapsed`.
fn expected_tally(spec: &JobSpec, elapsed: Duration) -> BTreeMap<String, i64> {
    let o = job_state(spec, elapsed).outcomes;
    let total: i64 = spec.workers.values().sum();
    [
        ("error", o.failed),
        ("rollback_error", o.rollback_failed),
        ("rollback_success", o.rollback_succeeded),
        ("success", o.succeeded),
        ("processing", total - o.finished()),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(s, n)| (s.to_owned(), n))
    .collect()
}

const SAMPLE: &str = "id: 8888\ncert_domain: www.example.com\ncert_ids: [12345]\nworkers: {CDN: 12, SLB: 8}\noutcomes: {succeeded: 17, failed: 2, rollback_succeeded: 1}\nstarted_ago: 2h\nended_ago: 1h\n";

#[test]
fn fixed_outcomes_are_dealt_across_products_and_match_the_counts() {
    let spec = job(SAMPLE);
    let page = list(&spec, Duration::ZERO, &all());
    assert_eq!(page.total, 20);
    assert_eq!(tally(&page), expected_tally(&spec, Duration::ZERO));
    let ids: Vec<u64> = field(&page, "Id")
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(ids, (8_888_000_001..=8_888_000_020).collect::<Vec<_>>());
    // Deal order: CDN #1, SLB #1, CDN #2, ...: the two failures and the rollback come first.
    let problems: Vec<(u64, &str, &str)> = page
        .data
        .iter()
        .filter(|w| w["Status"] != "success")
        .map(|w| {
            (
                w["Id"].as_u64().unwrap(),
                w["CloudProduct"].as_str().unwrap(),
                w["Status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            (8_888_000_001, "CDN", "error"),
            (8_888_000_002, "CDN", "rollback_success"),
            (8_888_000_013, "SLB", "error"),
        ]
    );
}

#[test]
fn an_evolving_job_lists_what_its_counts_say_at_every_moment() {
    let spec = job(
        "id: 7\nworkers: {CDN: 8, SLB: 4, TencentCDN: 3}\nevolution: {step: 2s, fail_every: 3, rollback_every: 2, rollback_fail_every: 2}\n",
    );
    for secs in [0, 1, 6, 12, 17, 24, 29, 30, 100] {
        let elapsed = Duration::from_secs(secs);
        let page = list(&spec, elapsed, &all());
        assert_eq!(
            tally(&page),
            expected_tally(&spec, elapsed),
            "after {secs}s"
        );
    }
    // After 12 s, six dealt workers finished: CDN #1, SLB #1, TencentCDN #1, CDN #2, SLB #2, TencentCDN #2;
    // the third fails, the sixth fails and is rolled back, at the second it finished.
    let page = list(&spec, Duration::from_secs(12), &all());
    let finished: Vec<(&str, &str, &str)> = page
        .data
        .iter()
        .filter(|w| w["Status"] != "processing")
        .map(|w| {
            (
                w["CloudProduct"].as_str().unwrap(),
                w["Status"].as_str().unwrap(),
                w["GmtModified"].as_str().unwrap(),
            )
        })
        .collect();
    let at = |secs: u64| (START + secs).to_string();
    assert_eq!(
        finished
            .iter()
            .map(|(p, s, _)| (*p, *s))
            .collect::<Vec<_>>(),
        [
            ("CDN", "success"),
            ("CDN", "success"),
            ("SLB", "success"),
            ("SLB", "success"),
            ("TencentCDN", "error"),
            ("TencentCDN", "rollback_success"),
        ]
    );
    let modified: Vec<&str> = finished.iter().map(|(_, _, m)| *m).collect();
    assert_eq!(modified, [at(2), at(8), at(4), at(10), at(6), at(12)]);
}

#[test]
fn a_waiting_job_has_waiting_workers() {
    let spec = job("id: 5\nstatus: scheduling\nworkers: {SLB: 2}\nscheduled_in: 2h\n");
    let page = list(&spec, Duration::from_secs(60), &all());
    assert_eq!(field(&page, "Status"), [&json!("scheduling"); 2]);
}

#[test]
fn workers_describe_their_resources_plausibly() {
    let spec = job(
        "id: 42\ncert_domain: '*.example.com'\nregion: cn-shanghai\ncerts: [{id: 500, name: shop}, {id: 501}]\nworkers: {CDN: 2, SLB: 1, TencentCDN: 1, CR: 1, SAE: 1}\noutcomes: {succeeded: 6}\nstarted_ago: 1h\nended_ago: 30m\n",
    );
    let page = list(&spec, Duration::ZERO, &all());
    let (created, modified) = ((START - 3600).to_string(), (START - 1800).to_string());
    let cdn = json!({"Id": 42_000_001, "JobId": 42, "UserId": 1_666_884_370_000_785_u64,
        "Status": "success", "CloudProduct": "CDN", "CloudRegion": "cn-shanghai", "RegionId": "cn-shanghai",
        "InstanceId": "", "ListenerId": "", "Port": 0, "DefaultResource": false, "ResourceId": 42_500_001,
        "ResourceCertId": 499, "ResourceDomain": "cdn-1.example.com", "CertId": 500,
        "CertInstanceId": "cas-ivauto-1f4", "CertName": "shop", "CertDomain": "*.example.com",
        "OrderId": 7_000_500, "GmtCreate": created, "GmtModified": modified});
    assert_eq!(page.data[0], cdn);
    assert_eq!(page.data[1]["ResourceDomain"], "cdn-2.example.com");
    assert_eq!(
        (&page.data[1]["CertId"], &page.data[1]["CertName"]),
        (&json!(501), &json!("cert-501"))
    );
    let sae = &page.data[3];
    assert_eq!(
        (&sae["ResourceDomain"], &sae["NamespaceId"]),
        (&json!("app-1.example.com"), &json!("cn-shanghai:prod"))
    );
    let slb = &page.data[4];
    assert_eq!(slb["CloudProduct"], "SLB");
    assert!(
        slb.get("CloudName").is_none(),
        "absent for Alibaba Cloud: {slb}"
    );
    let instance = slb["InstanceId"].as_str().unwrap();
    let listener = slb["ListenerId"].as_str().unwrap();
    assert!(
        instance.starts_with("lb-bp1") && instance.len() == 23,
        "{instance}"
    );
    assert!(
        listener.starts_with("lsn-") && listener.len() == 24,
        "{listener}"
    );
    assert_eq!(
        (
            &slb["Port"],
            &slb["DefaultResource"],
            &slb["ResourceDomain"]
        ),
        (&json!(443), &json!(true), &json!(""))
    );
    let tencent = &page.data[5];
    assert_eq!(
        (
            &tencent["CloudName"],
            &tencent["CloudRegion"],
            &tencent["RegionId"],
            &tencent["ResourceDomain"]
        ),
        (
            &json!("Tencent"),
            &json!("ap-guangzhou"),
            &json!("cn-shanghai"),
            &json!("img1.example.com")
        )
    );
    let cr = page.data[2]["InstanceId"].as_str().unwrap();
    assert!(cr.starts_with("cri-") && cr.len() == 20, "{cr}");
    assert_eq!(page.data[2]["ResourceDomain"], "");
    let aliyun = page.data.iter().filter(|w| w.get("CloudName").is_none());
    assert_eq!(aliyun.count(), 5, "only TencentCDN names its cloud");
}

#[test]
fn resources_are_named_under_the_certificate_domain() {
    let base =
        |domain: &str| domain_base(&job(&format!("id: 1\ncert_domain: '{domain}'\n"))).to_owned();
    assert_eq!(base("*.example.com"), "example.com");
    assert_eq!(base("www.example.com, example.com"), "example.com");
    assert_eq!(base("a.b.example.com"), "b.example.com");
    assert_eq!(base("example.com"), "example.com");
    assert_eq!(base(""), "example.com");
}

#[test]
fn pages_and_filters() {
    let spec = job(SAMPLE);
    let query = |status, product, offset, limit| WorkerQuery {
        status,
        product,
        offset,
        limit,
    };
    let ids = |page: &WorkerPage| -> Vec<u64> {
        field(page, "Id")
            .iter()
            .map(|v| v.as_u64().unwrap() - 8_888_000_000)
            .collect()
    };
    let page = list(&spec, Duration::ZERO, &query(None, None, 10, 4));
    assert_eq!((page.total, ids(&page)), (20, vec![11, 12, 13, 14]));
    let past = list(&spec, Duration::ZERO, &query(None, None, 40, 4));
    assert_eq!((past.total, past.data.len()), (20, 0));
    let slb = list(&spec, Duration::ZERO, &query(None, Some("SLB"), 2, 3));
    assert_eq!((slb.total, ids(&slb)), (8, vec![15, 16, 17]));
    let errors = list(&spec, Duration::ZERO, &query(Some("error"), None, 0, 1));
    assert_eq!((errors.total, ids(&errors)), (2, vec![1]));
    let second = list(&spec, Duration::ZERO, &query(Some("error"), None, 1, 1));
    assert_eq!((second.total, ids(&second)), (2, vec![13]));
    let slb_errors = list(
        &spec,
        Duration::ZERO,
        &query(Some("error"), Some("SLB"), 0, 50),
    );
    assert_eq!((slb_errors.total, ids(&slb_errors)), (1, vec![13]));
    let none = list(&spec, Duration::ZERO, &query(Some("rollback"), None, 0, 50));
    assert_eq!((none.total, none.data.len()), (0, 0));
    let unknown = list(&spec, Duration::ZERO, &query(None, Some("cdn"), 0, 50));
    assert_eq!((unknown.total, unknown.data.len()), (0, 0));
}

#[test]
fn ids_stay_int64_for_the_largest_job_ids() {
    let last = MAX_WORKERS as u64 - 1;
    // The highest block belongs to job 9,223,372,036,853; larger IDs start over.
    assert_eq!(worker_id(ID_BLOCKS - 1, last), 9_223_372_036_853_500_000);
    assert_eq!(resource_id(ID_BLOCKS - 1, last), 9_223_372_036_854_000_000);
    assert!(resource_id(ID_BLOCKS - 1, last) <= i64::MAX as u64);
    assert_eq!(worker_id(i64::MAX as u64, last), 775_807_500_000);
    assert_eq!(worker_id(u64::MAX, 0), 1_551_615_000_001);
    assert_eq!(worker_id(8888, 0), 8_888_000_001);
    assert_eq!(resource_id(8888, 0), 8_888_500_001);
}
