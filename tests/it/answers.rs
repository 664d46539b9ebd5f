//! End to end, the answers beyond the counts: which workers failed (listed only
//! when a job's counts change, within the caps, kept through a failed listing),
//! which certificates the jobs deploy (each validity once per account), and
//! discovered jobs that retire once finished long enough ago.

use crate::support;

use aliyun_cas_exporter::simulator::{JobSpec, Simulator};
use std::collections::BTreeSet;
use std::time::Duration;
use support::{ConfigBuilder, Exporter, KEY_ENV, KEY_ID, Metrics, SECRET, SimSpec, worker_series};

fn sim_spec() -> SimSpec {
    SimSpec::new().key(KEY_ID, SECRET).set("qps_limit", 0)
}

/// One job entry as the simulator reads it, to replace a running simulator's job.
fn job_spec(entry: &str) -> JobSpec {
    let yaml = format!("access_keys: [{{id: k, secret: s}}]\njobs:\n  - {entry}\n");
    support::spec(&yaml).jobs.remove(0)
}

/// The calls of `action` the simulator received.
fn calls(sim: &Simulator, action: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.param("Action") == Some(action))
        .count()
}

/// A configuration that polls every job of `sim` every second, settled or not.
fn fast(sim: &Simulator) -> ConfigBuilder {
    ConfigBuilder::new(sim)
        .interval("1s")
        .set("settled_interval", "1s")
        .set("timeouts", "{request: 500ms}")
}

fn set(lines: &[&str]) -> BTreeSet<String> {
    lines.iter().map(|l| l.to_string()).collect()
}

fn job(id: &'static str) -> [(&'static str, &'static str); 2] {
    [("account", "default"), ("job_id", id)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_workers_are_listed_across_pages_once_per_change_of_the_counts() {
    let _heavy = support::heavy().await;
    // Two workers a page: the three failed ones take two pages, the two rolled back one.
    let sim = sim_spec()
        .set("page_size_limit", 2)
        .job("{id: 31, cert_domain: '*.example.com', workers: {CDN: 3, SLB: 2, TencentCDN: 2}, outcomes: {succeeded: 2, failed: 3, rollback_succeeded: 2}}")
        .start()
        .await;
    let cfg = fast(&sim).jobs([31]).file();
    let exporter = Exporter::start(&["--config.file", cfg.path.to_str().unwrap()], &KEY_ENV);
    let m = exporter
        .wait_for(Duration::from_secs(15), "five worker series", |m| {
            worker_series(m).len() == 5
        })
        .await;
    assert_eq!(
        worker_series(&m),
        set(&[
            "31 31000001 error CDN cn-hangzhou  cdn-1.example.com",
            "31 31000004 error SLB cn-hangzhou lb-bp1zyjfhhen68y90i0j4 lb-bp1zyjfhhen68y90i0j4:443",
            "31 31000006 error TencentCDN ap-guangzhou  img1.example.com Tencent",
            "31 31000002 rollback_success CDN cn-hangzhou  cdn-2.example.com",
            "31 31000005 rollback_success SLB cn-hangzhou lb-bp19fd49efajdsw77iu9 lb-bp19fd49efajdsw77iu9:443",
        ])
    );
    assert_eq!(
        m.get("aliyun_cas_deployment_job_unlisted_workers", &job("31")),
        Some(0.0)
    );
    let listings: Vec<(String, String)> = sim
        .requests()
        .iter()
        .filter(|r| r.param("Action") == Some("ListWorkerResource"))
        .map(|r| {
            (
                r.param("Status").unwrap().to_owned(),
                r.param("CurrentPage").unwrap().to_owned(),
            )
        })
        .collect();
    let pages = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(s, p)| (s.to_string(), p.to_string()))
            .collect()
    };
    assert_eq!(
        listings,
        pages(&[("error", "1"), ("error", "2"), ("rollback_success", "1")])
    );

    // Several more sweeps of unchanged counts: no further listing.
    let polls = calls(&sim, "DescribeDeploymentJobStatus");
    exporter
        .wait_for(Duration::from_secs(15), "four more polls", |_| {
            calls(&sim, "DescribeDeploymentJobStatus") >= polls + 4
        })
        .await;
    assert_eq!(
        calls(&sim, "ListWorkerResource"),
        3,
        "the counts did not change"
    );
    let listed_at = exporter.metrics().await.get(
        "aliyun_cas_deployment_job_worker_listing_timestamp_seconds",
        &job("31"),
    );
    assert_eq!(
        listed_at,
        m.get(
            "aliyun_cas_deployment_job_worker_listing_timestamp_seconds",
            &job("31")
        )
    );

    // One more failure: listed again, once.
    sim.upsert_job(job_spec("{id: 31, cert_domain: '*.example.com', workers: {CDN: 3, SLB: 2, TencentCDN: 2}, outcomes: {succeeded: 1, failed: 4, rollback_succeeded: 2}}"));
    let m = exporter
        .wait_for(Duration::from_secs(15), "six worker series", |m| {
            worker_series(m).len() == 6
        })
        .await;
    // The fourth failure is dealt to CDN's second worker, which was rolled back before.
    assert_eq!(
        worker_series(&m),
        set(&[
            "31 31000001 error CDN cn-hangzhou  cdn-1.example.com",
            "31 31000004 error SLB cn-hangzhou lb-bp1zyjfhhen68y90i0j4 lb-bp1zyjfhhen68y90i0j4:443",
            "31 31000006 error TencentCDN ap-guangzhou  img1.example.com Tencent",
            "31 31000002 error CDN cn-hangzhou  cdn-2.example.com",
            "31 31000005 rollback_success SLB cn-hangzhou lb-bp19fd49efajdsw77iu9 lb-bp19fd49efajdsw77iu9:443",
            "31 31000007 rollback_success TencentCDN ap-guangzhou  img2.example.com Tencent",
        ])
    );
    let polls = calls(&sim, "DescribeDeploymentJobStatus");
    exporter
        .wait_for(Duration::from_secs(15), "three more polls", |_| {
            calls(&sim, "DescribeDeploymentJobStatus") >= polls + 3
        })
        .await;
    assert_eq!(
        calls(&sim, "ListWorkerResource"),
        6,
        "three more pages, once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_leave_workers_out_counted_and_named_once() {
    let sim = sim_spec()
        .job("{id: 41, cert_domain: www.example.com, workers: {CDN: 3}, outcomes: {failed: 3}}")
        .job("{id: 42, cert_domain: www.example.com, workers: {CDN: 3}, outcomes: {failed: 3}}")
        .job("{id: 43, cert_domain: www.example.com, workers: {CDN: 3}, outcomes: {succeeded: 3}}")
        .start()
        .await;
    let cfg = ConfigBuilder::new(&sim)
        .interval("1h")
        .set("worker_detail", "{max_per_job: 2, max_per_account: 3}")
        .jobs([41, 42, 43])
        .file();
    let exporter = Exporter::start(&["--config.file", cfg.path.to_str().unwrap()], &KEY_ENV);
    let unlisted = |m: &Metrics, id: &'static str| {
        m.get("aliyun_cas_deployment_job_unlisted_workers", &job(id))
    };
    let m = exporter
        .wait_for(Duration::from_secs(15), "both listings", |m| {
            unlisted(m, "41").is_some() && unlisted(m, "42").is_some()
        })
        .await;
    // Each job keeps at most 2 of its 3; the account serves 3 in all. Which job gets the
    // third depends on which listing came first (first listed, first served).
    let served = worker_series(&m);
    let of = |id: &str| {
        served
            .iter()
            .filter(|s| s.starts_with(&format!("{id} ")))
            .count()
    };
    assert_eq!(served.len(), 3, "{served:?}");
    assert!(
        [(2, 1), (1, 2)].contains(&(of("41"), of("42"))),
        "{served:?}"
    );
    for id in ["41", "42"] {
        assert!(served.contains(&format!(
            "{id} {id}000001 error CDN cn-hangzhou  cdn-1.example.com"
        )));
        assert_eq!(
            unlisted(&m, id),
            Some(3.0 - of(id) as f64),
            "job {id}: 3 failed workers, shown or counted"
        );
    }
    assert_eq!(
        unlisted(&m, "43"),
        None,
        "job 43 has nothing failed: no call, no series"
    );
    assert_eq!(
        calls(&sim, "ListWorkerResource"),
        2,
        "one page each for 41 and 42"
    );
    let (_, logs) = exporter.terminate();
    assert_logged_once(
        &logs,
        "failed or rolled-back workers of the job have no worker_info series",
        &["41", "42"],
    );
}

/// Each of `jobs` has exactly one line with `text` in `logs`.
fn assert_logged_once(logs: &[String], text: &str, jobs: &[&str]) {
    for id in jobs {
        let lines = logs
            .iter()
            .filter(|l| l.contains(text))
            .filter(|l| support::field(l, "job_id").as_deref() == Some(*id))
            .count();
        assert_eq!(lines, 1, "job {id}: {text:?} logged once: {logs:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_certificate_is_served_once_and_leaves_with_its_last_job() {
    let shared = "{id: 501, name: www, common_name: www.example.com, override_fields: {NotAfterTime: 1900000000, NotBeforeTime: 1800000000}}";
    let sim = sim_spec()
        .job(&format!(
            "{{id: 51, workers: {{CDN: 1}}, outcomes: {{succeeded: 1}}, certs: [{shared}]}}"
        ))
        .job(&format!(
            "{{id: 52, workers: {{CDN: 1}}, outcomes: {{succeeded: 1}}, certs: [{shared}, {{id: 502, name: api, common_name: api.example.com, status_code: willExpired, override_fields: {{NotAfterTime: \"1893456000000\", NotBeforeTime: 100}}}}]}}"
        ))
        .start()
        .await;
    let body = |jobs: &[u64]| {
        ConfigBuilder::new(&sim)
            .interval("1h")
            .jobs(jobs.iter().copied())
    };
    let cfg = body(&[51, 52]).file();
    let path = cfg.path.to_str().unwrap();
    let exporter = Exporter::start(&["--config.file", path, "--web.enable-lifecycle"], &KEY_ENV);
    let info = |m: &Metrics| -> BTreeSet<String> {
        m.matching("aliyun_cas_deployment_job_certificate_info", &[])
            .into_iter()
            .map(|s| {
                let l = &s.labels;
                format!(
                    "{} {} {} {} {} {} {}",
                    l["job_id"],
                    l["cert_id"],
                    l["common_name"],
                    l["cert_name"],
                    l["cert_type"],
                    l["order_type"],
                    l["status_code"]
                )
            })
            .collect()
    };
    let m = exporter
        .wait_for(Duration::from_secs(15), "three certificate series", |m| {
            info(m).len() == 3
        })
        .await;
    assert_eq!(
        info(&m),
        set(&[
            "51 501 www.example.com www DV buy issued",
            "52 501 www.example.com www DV buy issued",
            "52 502 api.example.com api DV buy willExpired",
        ])
    );
    let validity = |m: &Metrics, name: &str| -> Vec<(String, String, f64)> {
        m.matching(name, &[])
            .into_iter()
            .map(|s| {
                (
                    s.labels["cert_id"].clone(),
                    s.labels["common_name"].clone(),
                    s.value,
                )
            })
            .collect()
    };
    let after = |cert: &str, name: &str, at: f64| (cert.to_owned(), name.to_owned(), at);
    // Once per certificate; milliseconds read as such; a NotBeforeTime in 1970 refused.
    assert_eq!(
        validity(&m, "aliyun_cas_certificate_not_after_timestamp_seconds"),
        [
            after("501", "www.example.com", 1_900_000_000.0),
            after("502", "api.example.com", 1_893_456_000.0)
        ]
    );
    assert_eq!(
        validity(&m, "aliyun_cas_certificate_not_before_timestamp_seconds"),
        [after("501", "www.example.com", 1_800_000_000.0)]
    );
    exporter
        .wait_for_log(&[
            "the NotBeforeTime of certificate 502 is 100.0 seconds",
            "job_id=52",
        ])
        .await;

    // Job 52 is no longer polled: certificate 502 goes, 501 stays for job 51.
    std::fs::write(&cfg.path, body(&[51]).yaml()).unwrap();
    assert_eq!(exporter.reload().await, (200, "Reloaded\n".to_owned()));
    let m = exporter
        .wait_for(Duration::from_secs(10), "job 52's certificates gone", |m| {
            info(m).len() == 1
        })
        .await;
    assert_eq!(
        validity(&m, "aliyun_cas_certificate_not_after_timestamp_seconds"),
        [after("501", "www.example.com", 1_900_000_000.0)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_discovered_jobs_retire_and_listed_ones_stay() {
    let _heavy = support::heavy().await;
    let finished = |id: u64, ago: &str| {
        format!(
            "{{id: {id}, name: job-{id}, workers: {{CDN: 2}}, outcomes: {{succeeded: 1, failed: 1}}, started_ago: 3h, ended_ago: {ago}}}"
        )
    };
    let sim = sim_spec()
        .job(&finished(61, "2h"))
        .job(&finished(62, "2h"))
        .job(&finished(63, "0s"))
        .job("{id: 64, name: job-64, workers: {CDN: 2}, outcomes: {succeeded: 1}, started_ago: 3h}")
        .start()
        .await;
    let cfg = fast(&sim)
        .set("finished_job_retention", "10s")
        .set("discovery", "{refresh_interval: 1h}")
        .jobs([62])
        .file();
    let exporter = Exporter::start(&["--config.file", cfg.path.to_str().unwrap()], &KEY_ENV);
    exporter.wait_ready().await;
    let retired = |m: &Metrics| {
        m.get(
            "aliyun_cas_exporter_retired_jobs",
            &[("account", "default")],
        )
    };
    let m = exporter.metrics().await;
    // 61 ended two hours ago: retired at discovery, never polled; 62 is listed in the configuration.
    assert_eq!(m.served_jobs(), ["62", "63", "64"]);
    assert_eq!(retired(&m), Some(1.0));
    assert!(!sim.requests().iter().any(|r| r.param("Action")
        == Some("DescribeDeploymentJobStatus")
        && r.job_id() == Some(61)));

    // 63 ended as the simulator started: once settled and 10 s past its end, it retires too.
    let m = exporter
        .wait_for(Duration::from_secs(30), "job 63 retired", |m| {
            retired(m) == Some(2.0)
        })
        .await;
    assert_eq!(m.served_jobs(), ["62", "64"], "64 is still running");
    assert!(
        !m.text.contains("job_id=\"63\""),
        "every series of 63 is gone"
    );
    assert!(m.get("aliyun_cas_deployment_job_failed_workers", &job("62")) == Some(1.0));
    assert_eq!(
        (m.jobs_from("static"), m.jobs_from("discovered")),
        (Some(1.0), Some(1.0))
    );
    let (_, logs) = exporter.terminate();
    assert_logged_once(
        &logs,
        "finished longer than finished_job_retention ago",
        &["61", "63"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_worker_listing_keeps_the_previous_one() {
    let _heavy = support::heavy().await;
    let entry = |failed: u32, fault: &str| {
        format!(
            "{{id: 71, cert_domain: www.example.com, workers: {{CDN: 4}}, outcomes: {{succeeded: {}, failed: {failed}}}{fault}}}",
            4 - failed
        )
    };
    let sim = sim_spec().job(&entry(2, "")).start().await;
    let cfg = fast(&sim)
        .set("retries", "{base_delay: 10ms, max_delay: 20ms}")
        .jobs([71])
        .file();
    let exporter = Exporter::start(&["--config.file", cfg.path.to_str().unwrap()], &KEY_ENV);
    let listed_at = |m: &Metrics| {
        m.get(
            "aliyun_cas_deployment_job_worker_listing_timestamp_seconds",
            &job("71"),
        )
    };
    let first = exporter
        .wait_for(Duration::from_secs(15), "two failed workers", |m| {
            worker_series(m).len() == 2
        })
        .await;
    let two = set(&[
        "71 71000001 error CDN cn-hangzhou  cdn-1.example.com",
        "71 71000002 error CDN cn-hangzhou  cdn-2.example.com",
    ]);
    assert_eq!(worker_series(&first), two);

    sim.upsert_job(job_spec(&entry(
        3,
        ", fault: internal_error, fault_actions: [ListWorkerResource]",
    )));
    let failing = [
        ("account", "default"),
        ("action", "ListWorkerResource"),
        ("code", "InternalError"),
    ];
    let m = exporter
        .wait_for(Duration::from_secs(15), "a failed listing", |m| {
            m.get("aliyun_cas_deployment_job_failed_workers", &job("71")) >= Some(3.0)
                && m.get("aliyun_cas_api_requests_total", &failing) >= Some(3.0)
        })
        .await;
    assert_eq!(worker_series(&m), two, "the previous listing stays");
    assert_eq!(listed_at(&m), listed_at(&first), "and so does its time");

    sim.upsert_job(job_spec(&entry(3, "")));
    let m = exporter
        .wait_for(Duration::from_secs(15), "listed again", |m| {
            worker_series(m).len() == 3
        })
        .await;
    assert!(listed_at(&m) > listed_at(&first));
}
