//! End to end: the real binary polls the simulator over loopback, and what it
//! serves is checked value by value against what the simulator holds.

use crate::support;

use aliyun_cas_exporter::metrics::{REVISION, VERSION};
use aliyun_cas_exporter::simulator::{Fault, Simulator};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::{
    ConfigBuilder, Exporter, KEY_ENV, KEY_ID, Metrics, SAMPLE_JOB, SECRET, SimSpec,
    documented_metrics, field, worker_series,
};

/// A simulator spec that knows the key of `KEY_ENV`.
fn sim_spec() -> SimSpec {
    SimSpec::new().key(KEY_ID, SECRET)
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_every_metric_of_the_table_with_exact_values() {
    let sim_started = now_unix();
    // Temporary credentials from a credentials URI, lasting 15 min + 1 s: refreshed after a second.
    let sim = sim_spec()
        .set(
            "identity",
            "{credentials_uri: true, credential_lifetime: 901s}",
        )
        .jobs(SAMPLE_JOB)
        .jobs(
            "  - id: 7777
    workers: {OSS: 3, \"Brand New\": 2}
    outcomes: {succeeded: 4, rollback_failed: 1}
    resources: 5
    certificates: 1
    scheduled_in: 1h
    numbers_as_strings: true
    omit_fields: [BuyCount, MatchWorkerCount]
",
        )
        .job("{id: 3, fault: internal_error}")
        .start()
        .await;
    let before = now_unix();
    // Discovery finds only the jobs listed by ID, which stay static, but serves its own families.
    let cfg = ConfigBuilder::new(&sim)
        .interval("1h")
        .set("retries", "{base_delay: 10ms, max_delay: 20ms}")
        .set("discovery", "{refresh_interval: 1h}")
        .jobs([8888, 7777, 3])
        .file();
    let uri = format!("{}/credentials", sim.endpoint());
    let exporter = Exporter::start(
        &["--config.file", cfg.path.to_str().unwrap()],
        &[("ALIBABA_CLOUD_CREDENTIALS_URI", &uri)],
    );
    exporter.wait_ready().await;
    // The first refresh fails: the error is counted and the first credentials stay in use.
    sim.set_identity_failing(true);
    let refresh_errors = [("account", "default"), ("provider", "credentials_uri")];
    let retried = |action: &'static str| {
        [
            ("account", "default"),
            ("action", action),
            ("code", "InternalError"),
        ]
    };
    // Job details come from DescribeDeploymentJob, in the background beside the polls.
    let m = exporter
        .wait_for(Duration::from_secs(15), "job details and retries", |m| {
            m.get(
                "aliyun_cas_api_retries_total",
                &retried("DescribeDeploymentJob"),
            ) == Some(2.0)
                && m.matching("aliyun_cas_deployment_job_info", &[]).len() == 2
                && m.matching("aliyun_cas_deployment_job_certificate_info", &[])
                    .len()
                    == 2
                && m.get(
                    "aliyun_cas_credentials_refresh_errors_total",
                    &refresh_errors,
                ) >= Some(1.0)
        })
        .await;
    let after = now_unix();

    let job = |id: &'static str| [("account", "default"), ("job_id", id)];
    let expected_8888 = [
        ("aliyun_cas_deployment_job_workers", 20.0),
        ("aliyun_cas_deployment_job_matched_workers", 20.0),
        ("aliyun_cas_deployment_job_succeeded_workers", 17.0),
        ("aliyun_cas_deployment_job_failed_workers", 2.0),
        ("aliyun_cas_deployment_job_rollback_workers", 1.0),
        ("aliyun_cas_deployment_job_rollback_succeeded_workers", 1.0),
        ("aliyun_cas_deployment_job_rollback_failed_workers", 0.0),
        ("aliyun_cas_deployment_job_resources", 4127.0),
        ("aliyun_cas_deployment_job_used_resources", 300.0),
        ("aliyun_cas_deployment_job_purchased_resources", 500.0),
        ("aliyun_cas_deployment_job_consumed_resources", 20.0),
        ("aliyun_cas_deployment_job_certificates", 2.0),
        ("aliyun_cas_deployment_job_up", 1.0),
    ];
    for (name, value) in expected_8888 {
        assert_eq!(m.get(name, &job("8888")), Some(value), "{name} of 8888");
    }
    let expected_7777 = [
        ("aliyun_cas_deployment_job_workers", Some(5.0)),
        ("aliyun_cas_deployment_job_matched_workers", None),
        ("aliyun_cas_deployment_job_succeeded_workers", Some(4.0)),
        ("aliyun_cas_deployment_job_failed_workers", Some(0.0)),
        ("aliyun_cas_deployment_job_rollback_workers", Some(1.0)),
        (
            "aliyun_cas_deployment_job_rollback_succeeded_workers",
            Some(0.0),
        ),
        (
            "aliyun_cas_deployment_job_rollback_failed_workers",
            Some(1.0),
        ),
        ("aliyun_cas_deployment_job_resources", Some(5.0)),
        ("aliyun_cas_deployment_job_used_resources", Some(0.0)),
        ("aliyun_cas_deployment_job_purchased_resources", None),
        ("aliyun_cas_deployment_job_consumed_resources", Some(0.0)),
        ("aliyun_cas_deployment_job_certificates", Some(1.0)),
        ("aliyun_cas_deployment_job_up", Some(1.0)),
    ];
    for (name, value) in expected_7777 {
        assert_eq!(m.get(name, &job("7777")), value, "{name} of 7777");
    }
    let products: BTreeMap<(String, String), f64> = m
        .matching("aliyun_cas_deployment_job_product_workers", &[])
        .into_iter()
        .map(|s| {
            (
                (s.labels["job_id"].clone(), s.labels["product"].clone()),
                s.value,
            )
        })
        .collect();
    let expected_products: BTreeMap<(String, String), f64> = [
        (("7777", "Brand New"), 2.0),
        (("7777", "OSS"), 3.0),
        (("8888", "CDN"), 12.0),
        (("8888", "SLB"), 8.0),
    ]
    .into_iter()
    .map(|((j, p), v)| ((j.to_owned(), p.to_owned()), v))
    .collect();
    assert_eq!(products, expected_products);
    for id in ["8888", "7777"] {
        let ts = m
            .get(
                "aliyun_cas_deployment_job_last_success_timestamp_seconds",
                &job(id),
            )
            .expect("timestamp");
        assert!(
            ts >= before.floor() && ts <= after,
            "timestamp {ts} outside [{before}, {after}]"
        );
    }

    let info = |id: &str, name: &str, cert_domain: &str, product: &str| {
        m.get(
            "aliyun_cas_deployment_job_info",
            &[
                ("account", "default"),
                ("job_id", id),
                ("name", name),
                ("job_type", "user"),
                ("cert_type", "buy"),
                ("cert_domain", cert_domain),
                ("products", product),
            ],
        )
    };
    assert_eq!(
        info("8888", "cdn-renew", "www.example.com", "CDN,SLB"),
        Some(1.0)
    );
    assert_eq!(info("7777", "", "", "Brand New,OSS"), Some(1.0));
    for id in ["8888", "7777"] {
        let statuses: Vec<(String, f64)> = m
            .matching("aliyun_cas_deployment_job_status", &[("job_id", id)])
            .into_iter()
            .map(|s| (s.labels["status"].clone(), s.value))
            .collect();
        let expected: Vec<(String, f64)> = [
            "pending",
            "editing",
            "scheduling",
            "processing",
            "success",
            "error",
        ]
        .iter()
        .map(|s| (s.to_string(), if *s == "error" { 1.0 } else { 0.0 }))
        .collect();
        assert_eq!(statuses, expected, "job {id} finished with failures");
        for name in [
            "aliyun_cas_deployment_job_start_timestamp_seconds",
            "aliyun_cas_deployment_job_end_timestamp_seconds",
        ] {
            let ts = m.get(name, &job(id)).expect(name);
            assert!(
                ts >= sim_started.floor() - 1.0 && ts <= before,
                "{name} {ts}"
            );
        }
    }
    let job3: Vec<&str> = m
        .samples
        .iter()
        .filter(|s| s.labels.get("job_id").map(String::as_str) == Some("3"))
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        job3,
        vec!["aliyun_cas_deployment_job_up"],
        "job 3 never succeeded"
    );
    assert_eq!(
        m.get(
            "aliyun_cas_api_retries_total",
            &retried("DescribeDeploymentJobStatus")
        ),
        Some(2.0)
    );
    assert_eq!(
        (m.jobs_from("static"), m.jobs_from("discovered")),
        (Some(3.0), Some(0.0))
    );
    let account = [("account", "default")];
    assert_eq!(m.get("aliyun_cas_discovery_up", &account), Some(1.0));
    let listed = m
        .get(
            "aliyun_cas_discovery_last_success_timestamp_seconds",
            &account,
        )
        .unwrap();
    assert!(listed >= before.floor() && listed <= after, "{listed}");
    let sweep = m
        .get(
            "aliyun_cas_exporter_poll_sweep_duration_seconds",
            &[("account", "default")],
        )
        .unwrap();
    assert!(sweep > 0.0 && sweep < after - before + 1.0, "sweep {sweep}");
    assert_eq!(
        (
            m.get("aliyun_cas_exporter_shard_index", &[]),
            m.get("aliyun_cas_exporter_shards", &[])
        ),
        (Some(0.0), Some(1.0))
    );
    assert_eq!(
        m.get("aliyun_cas_exporter_config_last_reload_successful", &[]),
        Some(1.0)
    );
    let loaded = m
        .get(
            "aliyun_cas_exporter_config_last_reload_success_timestamp_seconds",
            &[],
        )
        .unwrap();
    assert!(loaded >= before.floor() && loaded <= after, "{loaded}");
    let expiry = m
        .get(
            "aliyun_cas_credentials_expiry_timestamp_seconds",
            &[("account", "default")],
        )
        .unwrap();
    assert!(
        expiry >= before.floor() + 900.0 && expiry <= after + 901.0,
        "{expiry}"
    );
    let waited = m
        .get(
            "aliyun_cas_api_rate_limit_wait_seconds_total",
            &[
                ("account", "default"),
                ("action", "DescribeDeploymentJobStatus"),
            ],
        )
        .unwrap();
    assert!(waited > 0.0, "five polls at 5/s wait for the limiter");

    let logged: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.param("Action") == Some("DescribeDeploymentJobStatus"))
        .collect();
    let per_job: Vec<(u64, String)> = logged
        .iter()
        .map(|r| (r.job_id().unwrap(), r.code.clone()))
        .collect();
    assert_eq!(
        per_job.len(),
        5,
        "one poll per good job, three attempts for job 3: {per_job:?}"
    );
    assert_eq!(
        per_job
            .iter()
            .filter(|(id, code)| *id == 3 && code == "InternalError")
            .count(),
        3
    );
    let ok = [
        ("account", "default"),
        ("action", "DescribeDeploymentJobStatus"),
        ("code", "OK"),
    ];
    assert_eq!(m.get("aliyun_cas_api_requests_total", &ok), Some(2.0));
    let action = [
        ("account", "default"),
        ("action", "DescribeDeploymentJobStatus"),
    ];
    // Every attempt is timed: two good polls and job 3's three.
    assert_eq!(
        m.get("aliyun_cas_api_request_duration_seconds_count", &action),
        Some(5.0)
    );
    let plus_inf = [
        ("account", "default"),
        ("action", "DescribeDeploymentJobStatus"),
        ("le", "+Inf"),
    ];
    assert_eq!(
        m.get("aliyun_cas_api_request_duration_seconds_bucket", &plus_inf),
        Some(5.0)
    );
    assert_eq!(
        m.get(
            "aliyun_cas_exporter_build_info",
            &[("version", VERSION), ("revision", REVISION)]
        ),
        Some(1.0)
    );
    assert!(m.get("process_resident_memory_bytes", &[]).unwrap() > 0.0);
    assert!(
        !m.text.contains(" 1e")
            && m.samples
                .iter()
                .all(|s| s.value.is_finite() || s.labels.contains_key("le"))
    );

    assert_answers(&m, sim_started, before, after);
    assert_served_families_match_the_table(&m);
}

/// The schedule, failed workers and certificates of `serves_every_metric_of_the_table_with_exact_values`.
fn assert_answers(m: &Metrics, sim_started: f64, before: f64, after: f64) {
    let job = |id: &'static str| [("account", "default"), ("job_id", id)];
    let scheduled = m
        .get(
            "aliyun_cas_deployment_job_schedule_timestamp_seconds",
            &job("7777"),
        )
        .unwrap();
    assert!(
        scheduled >= sim_started.floor() + 3599.0 && scheduled <= before + 3600.0,
        "scheduled_in: 1h gives {scheduled}"
    );
    assert!(!m.has_job_series("aliyun_cas_deployment_job_schedule_timestamp_seconds", 8888));
    let expected: BTreeSet<String> = [
        "7777 7777000001 rollback_error Brand New cn-hangzhou i-8ld064we58eip6qqwq10 i-8ld064we58eip6qqwq10",
        "8888 8888000001 error CDN cn-hangzhou  cdn-1.example.com",
        "8888 8888000013 error SLB cn-hangzhou lb-bp1ga3y8y8jrlpyb78rx lb-bp1ga3y8y8jrlpyb78rx:443",
        "8888 8888000002 rollback_success CDN cn-hangzhou  cdn-2.example.com",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(
        worker_series(m),
        expected,
        "FailedCount 2 + RollbackSuccessCount 1, RollbackFailedCount 1"
    );
    for id in ["7777", "8888"] {
        assert_eq!(
            m.get("aliyun_cas_deployment_job_unlisted_workers", &job(id)),
            Some(0.0)
        );
        let listed = m
            .get(
                "aliyun_cas_deployment_job_worker_listing_timestamp_seconds",
                &job(id),
            )
            .unwrap();
        assert!(listed >= before.floor() && listed <= after, "{listed}");
    }
    let cert = |id: &str, cert_id: &str, common_name: &str| {
        m.get(
            "aliyun_cas_deployment_job_certificate_info",
            &[
                ("account", "default"),
                ("job_id", id),
                ("cert_id", cert_id),
                ("common_name", common_name),
                ("cert_name", &format!("cert-{cert_id}")),
                ("cert_type", "DV"),
                ("order_type", "buy"),
                ("status_code", "issued"),
            ],
        )
    };
    assert_eq!(cert("8888", "1000008888", "www.example.com"), Some(1.0));
    assert_eq!(cert("7777", "1000007777", ""), Some(1.0));
    assert_eq!(
        m.matching("aliyun_cas_deployment_job_certificate_info", &[])
            .len(),
        2
    );
    for (cert_id, common_name) in [("1000008888", "www.example.com"), ("1000007777", "")] {
        let labels = [
            ("account", "default"),
            ("cert_id", cert_id),
            ("common_name", common_name),
        ];
        let not_after = m
            .get(
                "aliyun_cas_certificate_not_after_timestamp_seconds",
                &labels,
            )
            .unwrap();
        let ninety_days = 90.0 * 86_400.0;
        assert!(
            not_after >= sim_started.floor() + ninety_days - 1.0
                && not_after <= before + ninety_days,
            "expires_in defaults to 90d: {not_after}"
        );
        assert_eq!(
            m.get(
                "aliyun_cas_certificate_not_before_timestamp_seconds",
                &labels
            ),
            Some(not_after - 365.0 * 86_400.0),
            "valid_for defaults to 365d"
        );
    }
    assert_eq!(
        m.get(
            "aliyun_cas_exporter_retired_jobs",
            &[("account", "default")]
        ),
        Some(0.0)
    );
}

/// Every served family is in docs/metrics.md with the same type, labels and HELP, and the reverse.
fn assert_served_families_match_the_table(m: &Metrics) {
    let documented = documented_metrics();
    let served: BTreeSet<&String> = m.types.keys().collect();
    let listed: BTreeSet<&String> = documented.keys().collect();
    assert_eq!(served, listed, "families served vs documented");
    for (name, (kind, labels, help)) in &documented {
        assert_eq!(&m.types[name], kind, "TYPE of {name}");
        assert_eq!(&m.help[name], help, "HELP of {name}");
        let mut expected: BTreeSet<&str> = labels.iter().map(String::as_str).collect();
        if kind == "histogram" {
            expected.insert("le");
        }
        for sample in m.samples.iter().filter(|s| {
            let suffix = s.name.strip_prefix(name.as_str());
            suffix == Some("")
                || (kind == "histogram" && matches!(suffix, Some("_bucket" | "_sum" | "_count")))
        }) {
            let has: BTreeSet<&str> = sample.labels.keys().map(String::as_str).collect();
            let mut want = expected.clone();
            if !sample.name.ends_with("_bucket") {
                want.remove("le");
            }
            assert_eq!(has, want, "labels of {}", sample.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_leaves_the_job_down_counted_and_explained() {
    let sim = sim_spec()
        .job("{id: 1, workers: {CDN: 1}, outcomes: {succeeded: 1}}")
        .job("{id: 2, fault: internal_error}")
        .job("{id: 3, fault: service_unavailable}")
        .job("{id: 4, fault: throttle}")
        .job("{id: 5, fault: malformed}")
        .job("{id: 6, fault: truncated}")
        .job("{id: 7, fault: hang}")
        .job("{id: 8, fault: bad_gateway}")
        .start()
        .await;
    let cfg = ConfigBuilder::new(&sim)
        .interval("1h")
        .set("timeouts", "{request: 1s}")
        .set("retries", "{base_delay: 10ms, max_delay: 20ms}")
        .jobs(1..=9)
        .file();
    let exporter = Exporter::start(
        &[
            "--config.file",
            cfg.path.to_str().unwrap(),
            "--log.level=debug",
        ],
        &KEY_ENV,
    );
    exporter.wait_ready().await;
    let m = exporter.metrics().await;

    assert_eq!(
        m.get(
            "aliyun_cas_deployment_job_up",
            &[("account", "default"), ("job_id", "1")]
        ),
        Some(1.0)
    );
    for id in 2..=9_u64 {
        let label = id.to_string();
        assert_eq!(
            m.get(
                "aliyun_cas_deployment_job_up",
                &[("account", "default"), ("job_id", &label)]
            ),
            Some(0.0),
            "up of {id}"
        );
        let series: Vec<&str> = m
            .samples
            .iter()
            .filter(|s| s.labels.get("job_id") == Some(&label))
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(
            series,
            vec!["aliyun_cas_deployment_job_up"],
            "job {id} exports up alone"
        );
    }
    // Transient failures are tried three times; the others once.
    let expected_codes = [
        ("OK", 1.0),
        ("InternalError", 3.0),
        ("ServiceUnavailable", 3.0),
        ("Throttling.User", 3.0),
        ("decode", 2.0),
        ("timeout", 3.0),
        ("http", 3.0),
        ("InvalidParameter.JobId", 1.0),
    ];
    let served: BTreeMap<String, f64> = m
        .matching(
            "aliyun_cas_api_requests_total",
            &[
                ("account", "default"),
                ("action", "DescribeDeploymentJobStatus"),
            ],
        )
        .into_iter()
        .map(|s| (s.labels["code"].clone(), s.value))
        .collect();
    let expected: BTreeMap<String, f64> = expected_codes
        .iter()
        .map(|(c, v)| (c.to_string(), *v))
        .collect();
    assert_eq!(served, expected);
    let retries: BTreeMap<String, f64> = m
        .matching(
            "aliyun_cas_api_retries_total",
            &[
                ("account", "default"),
                ("action", "DescribeDeploymentJobStatus"),
            ],
        )
        .into_iter()
        .map(|s| (s.labels["code"].clone(), s.value))
        .collect();
    let expected_retries: BTreeMap<String, f64> = [
        "InternalError",
        "ServiceUnavailable",
        "Throttling.User",
        "timeout",
        "http",
    ]
    .iter()
    .map(|c| (c.to_string(), 2.0))
    .collect();
    assert_eq!(
        retries, expected_retries,
        "never a retry for decode or an unknown job"
    );

    let logged: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.param("Action") == Some("DescribeDeploymentJobStatus"))
        .collect();
    assert_eq!(logged.len(), 19);
    let sim_codes: BTreeMap<u64, (String, String)> = logged
        .iter()
        .map(|r| (r.job_id().unwrap(), (r.code.clone(), r.request_id.clone())))
        .collect();
    let expected_sim: [(u64, &str); 9] = [
        (1, "OK"),
        (2, "InternalError"),
        (3, "ServiceUnavailable"),
        (4, "Throttling.User"),
        (5, "malformed"),
        (6, "truncated"),
        (7, "hang"),
        (8, "bad_gateway"),
        (9, "InvalidParameter.JobId"),
    ];
    for (id, code) in expected_sim {
        assert_eq!(sim_codes[&id].0, code, "simulator's answer to job {id}");
    }

    let logs = exporter.logs();
    let lines_for = |id: u64, level: &str| -> Vec<String> {
        logs.iter()
            .filter(|l| {
                l.contains("poll failed")
                    && field(l, "level").as_deref() == Some(level)
                    && field(l, "job_id").as_deref() == Some(&id.to_string())
            })
            .cloned()
            .collect()
    };
    // (job, code, request ID sent, hint, a warning of its own rather than the account's)
    let expected_lines: [(u64, &str, bool, &str, bool); 8] = [
        (2, "InternalError", true, "transient", false),
        (3, "ServiceUnavailable", true, "transient", false),
        (4, "Throttling.User", true, "quota", false),
        (5, "decode", false, "not the JSON", true),
        (6, "decode", false, "not the JSON", true),
        (7, "timeout", false, "timeouts.request", false),
        (8, "http", false, "proxy", false),
        (9, "InvalidParameter.JobId", true, "job ID exists", true),
    ];
    let account_warnings: usize = expected_lines
        .iter()
        .filter(|line| !line.4)
        .map(|line| lines_for(line.0, "warn").len())
        .sum();
    assert_eq!(
        account_warnings,
        1,
        "failures of the whole account are one warning:\n{}",
        logs.join("\n")
    );
    for (id, code, has_request_id, hint, own_warning) in expected_lines {
        let debug = lines_for(id, "debug");
        assert_eq!(debug.len(), 1, "job {id}: {debug:?}");
        let warnings = lines_for(id, "warn");
        if own_warning {
            assert_eq!(warnings.len(), 1, "job {id}: {warnings:?}");
            assert_eq!(
                field(&warnings[0], "code").as_deref(),
                Some(code),
                "{warnings:?}"
            );
        }
        let line = &debug[0];
        assert_eq!(field(line, "code").as_deref(), Some(code), "{line}");
        let request_id = field(line, "request_id").unwrap();
        if has_request_id {
            assert_eq!(request_id, sim_codes[&id].1, "{line}");
        } else {
            assert_eq!(request_id, "-", "{line}");
        }
        assert!(field(line, "hint").unwrap().contains(hint), "{line}");
    }
    let (healthy, _) = exporter.get("/-/healthy").await;
    assert_eq!(healthy, 200);
}

/// The samples of job 8888 other than `up`, as (series, value).
/// The value series of job 8888: all but `up` and the job's details (info, status, times).
fn job_values(m: &Metrics) -> Vec<(String, f64)> {
    const DETAILS: [&str; 7] = [
        "aliyun_cas_deployment_job_up",
        "aliyun_cas_deployment_job_info",
        "aliyun_cas_deployment_job_status",
        "aliyun_cas_deployment_job_start_timestamp_seconds",
        "aliyun_cas_deployment_job_end_timestamp_seconds",
        "aliyun_cas_deployment_job_schedule_timestamp_seconds",
        "aliyun_cas_deployment_job_certificate_info",
    ];
    m.samples
        .iter()
        .filter(|s| s.labels.get("job_id").map(String::as_str) == Some("8888"))
        .filter(|s| !DETAILS.contains(&s.name.as_str()))
        .map(|s| (format!("{}{:?}", s.name, s.labels), s.value))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_first_sweep_jobs_are_down_and_the_exporter_not_ready() {
    let sim = sim_spec()
        .jobs(SAMPLE_JOB)
        .job("{id: 7, fault: hang}")
        .start()
        .await;
    // The hanging job holds the first sweep for a minute: long enough to look, short of the test's patience.
    let cfg = ConfigBuilder::new(&sim)
        .interval("1h")
        .set("timeouts", "{request: 1m}")
        .jobs([8888, 7])
        .file();
    let exporter = Exporter::start(&["--config.file", cfg.path.to_str().unwrap()], &KEY_ENV);
    let up = |m: &Metrics, job: &str| {
        m.get(
            "aliyun_cas_deployment_job_up",
            &[("account", "default"), ("job_id", job)],
        )
    };
    // From the first scrape on, every configured job is there; job 7 stays down while its poll hangs.
    let first = exporter.metrics().await;
    assert_eq!(up(&first, "7"), Some(0.0));
    assert!(up(&first, "8888").is_some());
    // Job 8888's result is published as it arrives, without waiting for job 7.
    let m = exporter
        .wait_for(Duration::from_secs(10), "job 8888 up", |m| {
            up(m, "8888") == Some(1.0)
        })
        .await;
    assert_eq!(up(&m, "7"), Some(0.0));
    assert!(sim.requests().iter().any(|r| r.code == "hang"));
    assert_eq!(
        exporter.get("/-/ready").await,
        (
            503,
            "Not ready: the first poll sweep has not finished\n".to_owned()
        )
    );
    assert_eq!(exporter.get("/-/healthy").await.0, 200);
    // Shutting down does not wait for the hanging poll.
    let (exit, logs) = exporter.terminate();
    assert!(exit.success(), "{logs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_polls_keep_last_values_until_stale() {
    let sim = sim_spec().jobs(SAMPLE_JOB).start().await;
    let start = |stale_after: &str| {
        let cfg = ConfigBuilder::new(&sim)
            .interval("1s")
            .set("settled_interval", "1s")
            .set("stale_after", stale_after)
            .set("timeouts", "{request: 500ms}")
            .jobs([8888])
            .file();
        let exporter = Exporter::start(&["--config.file", cfg.path.to_str().unwrap()], &KEY_ENV);
        (cfg, exporter)
    };
    // One exporter whose values never go stale here, one whose values go stale after 2 s.
    let (_keep_cfg, keeping) = start("1h");
    let (_stale_cfg, staling) = start("2s");
    let id = [("account", "default"), ("job_id", "8888")];
    let up_is =
        |value: f64| move |m: &Metrics| m.get("aliyun_cas_deployment_job_up", &id) == Some(value);
    let listed = |m: &Metrics| {
        up_is(1.0)(m)
            && m.has_job_series(
                "aliyun_cas_deployment_job_worker_listing_timestamp_seconds",
                8888,
            )
    };
    let good = keeping
        .wait_for(Duration::from_secs(10), "a poll and its workers", listed)
        .await;
    staling
        .wait_for(Duration::from_secs(10), "a poll and its workers", listed)
        .await;
    assert_eq!(
        job_values(&good).len(),
        20,
        "12 counts, 2 products, 1 timestamp, 3 failed or rolled-back workers, their left-out count and listing time"
    );

    sim.set_job_fault(8888, Some(Fault::InternalError));
    let down = keeping
        .wait_for(Duration::from_secs(10), "up 0", up_is(0.0))
        .await;
    assert_eq!(
        job_values(&down),
        job_values(&good),
        "every value and the timestamp are kept"
    );

    let stale = staling
        .wait_for(Duration::from_secs(15), "stale values to disappear", |m| {
            !m.has_job_series("aliyun_cas_deployment_job_workers", 8888)
        })
        .await;
    assert_eq!(
        job_values(&stale),
        vec![],
        "only up and the job's details remain"
    );
    assert_eq!(
        stale.get("aliyun_cas_deployment_job_up", &id),
        Some(0.0),
        "{}",
        stale.text
    );

    sim.set_job_fault(8888, None);
    for exporter in [&keeping, &staling] {
        let back = exporter
            .wait_for(Duration::from_secs(10), "recovery", up_is(1.0))
            .await;
        assert_eq!(
            back.get("aliyun_cas_deployment_job_workers", &id),
            Some(20.0)
        );
    }
}

/// The configuration of `discovery_health_says_when_listing_last_worked`: `found` discovers
/// every job (or, once `found_discovers` is false, polls job 2 by ID), `nothing` discovers
/// with a filter no job passes, `listed` has no discovery.
fn three_accounts(sim: &Simulator, found_discovers: bool) -> String {
    let found = if found_discovers {
        "discovery: {refresh_interval: 1s}"
    } else {
        "jobs: [2]"
    };
    format!(
        "interval: 1h
timeouts: {{request: 500ms}}
retries: {{base_delay: 10ms, max_delay: 20ms}}
accounts:
  - {{name: found, endpoint: {e}, {found}}}
  - {{name: nothing, endpoint: {e}, discovery: {{refresh_interval: 1h, name_include: ^none$}}}}
  - {{name: listed, endpoint: {e}, jobs: [1]}}
",
        e = sim.endpoint()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_health_says_when_listing_last_worked() {
    let sim = sim_spec()
        .set("qps_limit", 0)
        .job("{id: 1, name: job-1, workers: {CDN: 1}, outcomes: {succeeded: 1}}")
        .job("{id: 2, name: job-2, workers: {CDN: 1}, outcomes: {succeeded: 1}, fault_actions: [ListDeploymentJob]}")
        .start()
        .await;
    let cfg = support::config_file(&three_accounts(&sim, true));
    let before = now_unix();
    let exporter = Exporter::reloadable(&cfg).await;
    let up = |m: &Metrics, account: &str| m.get("aliyun_cas_discovery_up", &[("account", account)]);
    let last_success = |m: &Metrics, account: &str| {
        m.get(
            "aliyun_cas_discovery_last_success_timestamp_seconds",
            &[("account", account)],
        )
    };
    let jobs = |m: &Metrics, account: &str| {
        ["static", "discovered"].map(|source| {
            m.get(
                "aliyun_cas_exporter_jobs",
                &[("account", account), ("source", source)],
            )
        })
    };
    let m = exporter
        .wait_for(
            Duration::from_secs(10),
            "both discovered jobs polled",
            |m| {
                m.matching("aliyun_cas_deployment_job_up", &[("account", "found")])
                    .len()
                    == 2
            },
        )
        .await;
    let after = now_unix();
    for account in ["found", "nothing"] {
        assert_eq!(up(&m, account), Some(1.0), "{account}");
        let at = last_success(&m, account).unwrap();
        assert!(at >= before.floor() && at <= after, "{account}: {at}");
    }
    assert_eq!(up(&m, "listed"), None, "no discovery, no series");
    assert_eq!(last_success(&m, "listed"), None);
    assert_eq!(jobs(&m, "found"), [Some(0.0), Some(2.0)]);
    assert_eq!(
        jobs(&m, "nothing"),
        [Some(0.0), Some(0.0)],
        "an account that polls no job counts 0 from both sources"
    );
    assert_eq!(jobs(&m, "listed"), [Some(1.0), Some(0.0)]);

    // Job 2 now breaks every listing of the page that holds it; its own calls still work.
    let good = last_success(&m, "found").unwrap();
    let nothing_listed = last_success(&m, "nothing").unwrap();
    sim.set_job_fault(2, Some(Fault::InternalError));
    let m = exporter
        .wait_for(Duration::from_secs(10), "a failed listing", |m| {
            up(m, "found") == Some(0.0)
        })
        .await;
    assert_eq!(
        last_success(&m, "found"),
        Some(good),
        "the last success is kept"
    );
    assert_eq!(
        jobs(&m, "found"),
        [Some(0.0), Some(2.0)],
        "and so are the jobs it found"
    );
    assert_eq!(
        up(&m, "nothing"),
        Some(1.0),
        "other accounts list on their own"
    );

    sim.set_job_fault(2, None);
    let m = exporter
        .wait_for(Duration::from_secs(10), "a good listing again", |m| {
            up(m, "found") == Some(1.0)
        })
        .await;
    let again = last_success(&m, "found").unwrap();
    assert!(again > good && again <= now_unix(), "{good} then {again}");

    // A reload that turns discovery off removes its series; one that keeps it keeps its values.
    std::fs::write(&cfg.path, three_accounts(&sim, false)).unwrap();
    assert_eq!(exporter.reload().await, (200, "Reloaded\n".to_owned()));
    let m = exporter
        .wait_for(Duration::from_secs(10), "found without discovery", |m| {
            jobs(m, "found") == [Some(1.0), Some(0.0)]
        })
        .await;
    assert_eq!(up(&m, "found"), None);
    assert_eq!(last_success(&m, "found"), None);
    assert_eq!(up(&m, "nothing"), Some(1.0));
    assert_eq!(last_success(&m, "nothing"), Some(nothing_listed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_and_permission_errors_say_what_to_do() {
    let sim = SimSpec::new()
        .key(KEY_ID, "the-right-secret")
        .key("LTAIdenied", SECRET)
        .denied_actions(&["DescribeDeploymentJobStatus"])
        .jobs(SAMPLE_JOB)
        .start()
        .await;
    let cfg = ConfigBuilder::new(&sim).interval("1h").jobs([8888]).file();
    let path = cfg.path.to_str().unwrap();
    let cases: [(&str, &str, u16, &str); 3] = [
        (
            KEY_ID,
            "SignatureDoesNotMatch",
            400,
            "AccessKey secret is wrong",
        ),
        (
            "LTAIunknown",
            "InvalidAccessKeyId.NotFound",
            404,
            "does not exist",
        ),
        (
            "LTAIdenied",
            "Forbidden.RAM",
            403,
            "yundun-cert:DescribeDeploymentJobStatus",
        ),
    ];
    for (key_id, code, status, hint) in cases {
        let env = [
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", key_id),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET),
        ];
        let exporter = Exporter::start(&["--config.file", path, "--log.level=debug"], &env);
        exporter.wait_ready().await;
        let m = exporter.metrics().await;
        assert_eq!(
            m.get(
                "aliyun_cas_deployment_job_up",
                &[("account", "default"), ("job_id", "8888")]
            ),
            Some(0.0),
            "{code}"
        );
        assert_eq!(
            m.get(
                "aliyun_cas_api_requests_total",
                &[
                    ("account", "default"),
                    ("action", "DescribeDeploymentJobStatus"),
                    ("code", code)
                ]
            ),
            Some(1.0),
            "{code}"
        );
        // Every failed call has a debug line with all there is to know; the warning
        // has all but the strings to sign.
        let warning = exporter
            .wait_for_log(&["level=warn", &format!("code={code}")])
            .await;
        assert!(field(&warning, "hint").unwrap().contains(hint), "{warning}");
        assert_eq!(field(&warning, "ours"), None, "{warning}");
        let line = exporter
            .wait_for_log(&["level=debug", "poll failed", &format!("code={code}")])
            .await;
        assert_eq!(
            field(&line, "http_status").as_deref(),
            Some(status.to_string().as_str()),
            "{line}"
        );
        assert_eq!(field(&line, "job_id").as_deref(), Some("8888"), "{line}");
        assert!(field(&line, "hint").unwrap().contains(hint), "{line}");
        let request_id = field(&line, "request_id").unwrap();
        assert!(
            sim.requests().iter().any(|r| r.request_id == request_id),
            "{line}"
        );
        if code == "SignatureDoesNotMatch" {
            assert_eq!(
                field(&line, "same_string").as_deref(),
                Some("true"),
                "{line}"
            );
            let ours = field(&line, "ours").unwrap();
            assert!(
                ours.starts_with(
                    "POST&%2F&AccessKeyId%3DLTAItestkey0001%26Action%3DDescribeDeploymentJobStatus"
                ),
                "{line}"
            );
            assert_eq!(field(&line, "server"), Some(ours), "{line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_and_graceful_shutdown() {
    let sim = sim_spec().jobs(SAMPLE_JOB).start().await;
    let cfg = ConfigBuilder::new(&sim).interval("1h").jobs([8888]).file();
    let exporter = Exporter::start(
        &[
            "--config.file",
            cfg.path.to_str().unwrap(),
            "--web.telemetry-path=/probe",
        ],
        &KEY_ENV,
    );
    exporter.wait_ready().await;
    let (status, landing) = exporter.get("/").await;
    assert_eq!(status, 200);
    assert!(landing.contains("Alibaba Cloud CAS exporter") && landing.contains("href=\"/probe\""));
    assert!(landing.contains(&format!("Version {VERSION}")));
    assert_eq!(
        exporter.get("/-/healthy").await,
        (200, "Healthy\n".to_owned())
    );
    assert_eq!(exporter.get("/-/ready").await, (200, "Ready\n".to_owned()));
    assert_eq!(exporter.get("/metrics").await.0, 404);
    let (status, body) = exporter.get("/probe").await;
    assert_eq!(status, 200);
    assert!(body.contains("aliyun_cas_deployment_job_up{account=\"default\",job_id=\"8888\"} 1\n"));
    let client = reqwest::Client::new();
    let post = client.post(exporter.url("/probe")).send().await.unwrap();
    assert_eq!(post.status().as_u16(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    let head = client.head(exporter.url("/probe")).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(
        head.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let (exit, logs) = exporter.terminate();
    assert!(exit.success(), "{exit:?}");
    assert!(
        logs.iter().any(|l| l.contains("msg=\"shutting down\"")),
        "{logs:?}"
    );
    assert!(logs.last().unwrap().contains("msg=stopped"), "{logs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_mode_serves_the_built_in_jobs() {
    let exporter = Exporter::start(&["--demo"], &[]);
    exporter.wait_ready().await;
    let logs = exporter.logs();
    assert!(
        logs.iter()
            .any(|l| l.contains("level=warn") && l.contains("DEMO MODE")),
        "{logs:?}"
    );
    let m = exporter.metrics().await;
    let id = [("account", "default"), ("job_id", "100004")];
    assert_eq!(m.get("aliyun_cas_deployment_job_workers", &id), Some(20.0));
    assert_eq!(
        m.get("aliyun_cas_deployment_job_succeeded_workers", &id),
        Some(17.0)
    );
    assert_eq!(
        m.get("aliyun_cas_deployment_job_failed_workers", &id),
        Some(2.0)
    );
    for job in ["100001", "100002", "100003", "100004"] {
        assert_eq!(
            m.get(
                "aliyun_cas_deployment_job_up",
                &[("account", "default"), ("job_id", job)]
            ),
            Some(1.0),
            "{job}"
        );
    }
    assert_eq!(
        m.get(
            "aliyun_cas_deployment_job_product_workers",
            &[
                ("account", "default"),
                ("job_id", "100003"),
                ("product", "TencentCDN")
            ]
        ),
        Some(4.0)
    );
}

/// The `code` label values an API error can take (see docs/metrics.md).
fn allowed_codes() -> BTreeSet<String> {
    use aliyun_cas_exporter::api::{CODE_FAMILIES, KNOWN_CODES, OTHER_CODE};
    KNOWN_CODES
        .iter()
        .chain(CODE_FAMILIES.iter().map(|(_, label)| label))
        .chain([&OTHER_CODE, &"OK"])
        .map(|c| c.to_string())
        .collect()
}

/// GETs `/metrics` asking for gzip: the compressed body and its text.
async fn gzip_metrics(exporter: &Exporter) -> (usize, String) {
    use std::io::Read;
    let response = reqwest::Client::new()
        .get(exporter.url("/metrics"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-encoding"].to_str().unwrap(),
        "gzip"
    );
    let body = response.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .unwrap();
    (body.len(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_answers_stay_bounded_in_metrics_and_logs() {
    let long_name = format!(
        "nul\\0 nl\\n quote\\\" bs\\\\ tab\\t {}",
        "n".repeat(1 << 20)
    );
    let huge_code = "X".repeat(3 << 20);
    let request_id = format!("R\\n{SECRET}{}", "r".repeat(10_000));
    let mut jobs = format!(
        "  - id: 11
    name: \"{long_name}\"
    cert_domain: \"a\\tb\\u0085c\"
    job_type: \"u\\0ser\"
    cert_type: \"b\\\"uy\\n\"
    status: \"odd\\u0085status\"
    workers: {{\"C\\0DN\": 2}}
  - id: 12
    name: zero
    override_fields: {{Id: 0}}
  - id: 13
    name: exponent
    override_fields: {{Id: \"1e3\"}}
  - id: 14
    name: huge-code
    error: {{code: {huge_code}, request_id: \"{request_id}\", message: \"m\\0m\"}}
  - id: 15
    name: odd-numbers
    workers: {{CDN: 1}}
    override_fields: {{WorkerCount: -1, FailedCount: 9007199254740993, StartTime: 1e300, EndTime: \"-5\"}}
"
    );
    // Codes never seen before, one job each: they must not add a series each.
    let mut rng = fastrand::Rng::with_seed(4);
    for id in 100..140 {
        let random: String = std::iter::repeat_with(|| rng.alphanumeric())
            .take(12)
            .collect();
        let code = match id % 3 {
            0 => format!("Forbidden.{random}"),
            1 => format!("Brand.{random}"),
            _ => format!("{random}\\0\\n\\\""),
        };
        jobs.push_str(&format!(
            "  - id: {id}\n    name: r{id}\n    error: {{code: \"{code}\"}}\n"
        ));
    }
    let sim = sim_spec().jobs(&jobs).start().await;
    let cfg = ConfigBuilder::new(&sim)
        .interval("1h")
        .set("retries", "{base_delay: 10ms, max_delay: 20ms}")
        .set("discovery", "{refresh_interval: 1h}")
        .file();
    let exporter = Exporter::start(&["--config.file", cfg.path.to_str().unwrap()], &KEY_ENV);
    exporter.wait_ready().await;
    let (gzip_len, text) = gzip_metrics(&exporter).await;
    let (_, plain) = exporter.get("/metrics").await;
    let m = Metrics::parse(&plain);

    // Only valid IDs are polled: not 0, not "1e3" read as 1000, and not the jobs listed so.
    let polled: BTreeSet<String> = m
        .matching("aliyun_cas_deployment_job_up", &[])
        .iter()
        .map(|s| s.labels["job_id"].clone())
        .collect();
    let mut expected: BTreeSet<String> = ["11", "14", "15"].map(String::from).into();
    expected.extend((100..140).map(|id: u64| id.to_string()));
    assert_eq!(polled, expected);
    assert!(sim.requests().iter().all(|r| r.job_id() != Some(1000)));

    // Label values: no control character, at most 256 bytes, the same in both bodies.
    let cut = |text: &str| text[..text.find("# HELP process_").unwrap()].to_owned();
    assert_eq!(cut(&text), cut(&plain));
    assert!(
        !plain
            .chars()
            .any(|c| c != '\n' && (c.is_control() || c == '\u{2028}')),
        "a control character in the exposition"
    );
    let info = m.matching("aliyun_cas_deployment_job_info", &[("job_id", "11")]);
    let name = &info[0].labels["name"];
    assert!(name.starts_with("nul nl quote\" bs\\ tab nnn"), "{name}");
    assert!(name.len() <= 256 && name.ends_with('…'), "{}", name.len());
    assert_eq!(info[0].labels["cert_domain"], "abc");
    assert_eq!(info[0].labels["job_type"], "user");
    assert_eq!(info[0].labels["cert_type"], "b\"uy");
    assert_eq!(
        m.get(
            "aliyun_cas_deployment_job_status",
            &[
                ("account", "default"),
                ("job_id", "11"),
                ("status", "oddstatus")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "aliyun_cas_deployment_job_product_workers",
            &[("account", "default"), ("job_id", "11"), ("product", "CDN")]
        ),
        Some(2.0)
    );

    // Implausible numbers are left out (not shown as read), and said so.
    for family in [
        "aliyun_cas_deployment_job_workers",
        "aliyun_cas_deployment_job_failed_workers",
        "aliyun_cas_deployment_job_start_timestamp_seconds",
        "aliyun_cas_deployment_job_end_timestamp_seconds",
    ] {
        assert!(!m.has_job_series(family, 15), "{family}");
    }
    assert_eq!(
        m.get(
            "aliyun_cas_deployment_job_product_workers",
            &[("account", "default"), ("job_id", "15"), ("product", "CDN")]
        ),
        Some(1.0)
    );
    exporter
        .wait_for_log(&[
            "values no job can have",
            "job_id=15",
            "WorkerCount=-1",
            "FailedCount=9007199254740993",
        ])
        .await;
    exporter
        .wait_for_log(&[
            "values no job can have",
            "job_id=15",
            "StartTime=1e297",
            "EndTime=-5.0",
        ])
        .await;

    // Codes: a fixed set of labels, whatever came; the bodies stay small.
    let codes: BTreeSet<String> = m
        .matching("aliyun_cas_api_requests_total", &[])
        .iter()
        .chain(m.matching("aliyun_cas_api_retries_total", &[]).iter())
        .map(|s| s.labels["code"].clone())
        .collect();
    assert!(codes.is_subset(&allowed_codes()), "{codes:?}");
    assert_eq!(
        m.get(
            "aliyun_cas_api_requests_total",
            &[
                ("account", "default"),
                ("action", "DescribeDeploymentJobStatus"),
                ("code", "other")
            ]
        ),
        Some(1.0 + 27.0),
        "the huge code and the 27 codes outside any family"
    );
    assert_eq!(
        m.get(
            "aliyun_cas_api_requests_total",
            &[
                ("account", "default"),
                ("action", "DescribeDeploymentJobStatus"),
                ("code", "Forbidden.other")
            ]
        ),
        Some(13.0)
    );
    assert!(
        plain.len() < 256 << 10,
        "plain /metrics: {} bytes",
        plain.len()
    );
    assert!(gzip_len < 32 << 10, "gzip /metrics: {gzip_len} bytes");

    // Logs quote the code and the request ID cut short, redacted, on one line each.
    let line = exporter.wait_for_log(&["poll failed", "job_id=14"]).await;
    let code = field(&line, "code").unwrap();
    assert!(
        code.starts_with("XXXX") && code.ends_with('…') && code.len() <= 64,
        "{code}"
    );
    let request_id = field(&line, "request_id").unwrap();
    assert!(
        request_id.starts_with("R<redacted>rrr") && request_id.len() <= 64,
        "{request_id}"
    );
    exporter
        .wait_for_log(&[
            "discovery skips a listed job",
            "job ID 0 is not valid",
            "name=zero",
        ])
        .await;
    exporter
        .wait_for_log(&[
            "discovery skips a listed job",
            "1e3",
            "is not an integer",
            "name=exponent",
        ])
        .await;
    let logs = exporter.logs();
    assert!(logs.iter().all(|l| !l.contains(SECRET)));
    let longest = logs.iter().map(String::len).max().unwrap();
    assert!(longest < 4096, "a log line of {longest} bytes");
}
