//! The rate limit and backoff, measured at the simulator. The limit's test
//! judges arrival times to within the limiter's 15 ms of tolerated jitter, so
//! it runs while no heavy test competes for the CPU (`support::timing_sensitive`).

use crate::support;

use aliyun_cas_exporter::simulator::LoggedRequest;
use std::time::Duration;
use support::{
    Exporter, KEY_ID, SECRET, busiest_second, config_file, job_list, simulator, status_polls,
    up_count,
};

const ENV: [(&str, &str); 2] = [
    ("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID),
    ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_holds_in_every_second_with_500_jobs_and_retries() {
    let _alone = support::timing_sensitive().await;
    // Every tenth call fails with 500 and is retried: retries draw from the same limit.
    let sim = simulator(&format!(
        "access_keys: [{{id: {KEY_ID}, secret: {SECRET}}}]\nqps_limit: 0\nfaults: {{internal_error: 0.1}}\njobs:\n{}",
        job_list(1, 500)
    ))
    .await;
    let ids: Vec<String> = (1..=500).map(|id| id.to_string()).collect();
    let cfg = config_file(&format!(
        "endpoint: {}\ninterval: 1h\nconcurrency: 16\nretries: {{max_attempts: 10, base_delay: 10ms, max_delay: 50ms}}\nrate_limit: {{describe_deployment_job_status: 100, describe_deployment_job: 20}}\njobs: [{}]\n",
        sim.endpoint(),
        ids.join(", ")
    ));
    let exporter = Exporter::start(&["--config.file", cfg.path.to_str().unwrap()], &ENV);
    exporter.wait_ready().await;
    let m = exporter
        .wait_for(Duration::from_secs(30), "all 500 jobs up", |m| {
            up_count(m, 1.0) == 500
        })
        .await;
    let log = sim.requests();
    let polls = status_polls(&log);
    let retried = m
        .get(
            "aliyun_cas_api_retries_total",
            &[
                ("account", "default"),
                ("action", "DescribeDeploymentJobStatus"),
                ("code", "InternalError"),
            ],
        )
        .unwrap_or(0.0);
    assert!(retried >= 20.0, "retries went on: {retried}");
    assert_eq!(
        polls.len(),
        500 + retried as usize,
        "one good poll per job, plus each retry"
    );
    assert!(
        busiest_second(&log, "DescribeDeploymentJobStatus") <= 100,
        "{}",
        busiest_second(&log, "DescribeDeploymentJobStatus")
    );
    assert!(busiest_second(&log, "DescribeDeploymentJob") <= 20);
    let waited = m
        .get(
            "aliyun_cas_api_rate_limit_wait_seconds_total",
            &[
                ("account", "default"),
                ("action", "DescribeDeploymentJobStatus"),
            ],
        )
        .unwrap();
    assert!(
        waited > 1.0,
        "16 pollers queued for 100 slots a second: {waited}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_calls_back_off_as_the_service_says() {
    let sim = simulator(&format!(
        "access_keys: [{{id: {KEY_ID}, secret: {SECRET}}}]\nqps_limit: 2\nthrottle_status: 429\nthrottle_retry_after: 1s\njobs:\n{}",
        job_list(1, 6)
    ))
    .await;
    // The exporter is allowed far more than the simulator takes: it must back off.
    let cfg = config_file(&format!(
        "endpoint: {}\ninterval: 1h\nconcurrency: 6\nretries: {{max_attempts: 6, base_delay: 10ms, max_delay: 2s}}\nrate_limit: {{describe_deployment_job_status: 50}}\njobs: [1, 2, 3, 4, 5, 6]\n",
        sim.endpoint()
    ));
    let exporter = Exporter::start(&["--config.file", cfg.path.to_str().unwrap()], &ENV);
    exporter.wait_ready().await;
    let m = exporter
        .wait_for(Duration::from_secs(20), "all six jobs up", |m| {
            up_count(m, 1.0) == 6
        })
        .await;
    let log = sim.requests();
    let polls = status_polls(&log);
    let throttled: Vec<&&LoggedRequest> = polls
        .iter()
        .filter(|r| r.code == "Throttling.User")
        .collect();
    assert!(!throttled.is_empty());
    for throttle in &throttled {
        let job = throttle.job_id();
        let next = polls
            .iter()
            .find(|r| r.job_id() == job && r.at > throttle.at)
            .expect("the throttled job is polled again");
        let gap = next.at.duration_since(throttle.at);
        assert!(
            gap >= Duration::from_secs(1),
            "job {job:?} retried after {gap:?}, before x-acs-retry-after"
        );
    }
    assert_eq!(
        m.get(
            "aliyun_cas_api_retries_total",
            &[
                ("account", "default"),
                ("action", "DescribeDeploymentJobStatus"),
                ("code", "Throttling.User")
            ]
        ),
        Some(throttled.len() as f64)
    );
}
