//! The rate limit and backoff, measured at the simulator. The limit's test
//! judges arrival times to within the limiter's 15 ms of tolerated jitter, so
//! it runs while no heavy test competes for the CPU (`support::timing_sensitive`).

use crate::support;

use aliyun_cas_exporter::simulator::LoggedRequest;
use std::time::Duration;
use support::{
    ConfigBuilder, Exporter, KEY_ENV, KEY_ID, SECRET, SimSpec, busiest_second, job_list,
    status_polls, up_count,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_holds_in_every_second_with_500_jobs_and_retries() {
    let _alone = support::timing_sensitive().await;
    // Every tenth call fails with 500 and is retried: retries draw from the same limit.
    let sim = SimSpec::new()
        .key(KEY_ID, SECRET)
        .set("qps_limit", 0)
        .set("faults", "{internal_error: 0.1}")
        .jobs(&job_list(1, 500))
        .start()
        .await;
    let cfg = ConfigBuilder::new(&sim)
        .interval("1h")
        .set("concurrency", 16)
        .set(
            "retries",
            "{max_attempts: 10, base_delay: 10ms, max_delay: 50ms}",
        )
        .set(
            "rate_limit",
            "{describe_deployment_job_status: 100, describe_deployment_job: 20}",
        )
        .jobs(1..=500)
        .file();
    let exporter = Exporter::start(&["--config.file", cfg.path.to_str().unwrap()], &KEY_ENV);
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
    let sim = SimSpec::new()
        .key(KEY_ID, SECRET)
        .set("qps_limit", 2)
        .set("throttle_status", 429)
        .set("throttle_retry_after", "1s")
        .jobs(&job_list(1, 6))
        .start()
        .await;
    // The exporter is allowed far more than the simulator takes: it must back off.
    let cfg = ConfigBuilder::new(&sim)
        .interval("1h")
        .set("concurrency", 6)
        .set(
            "retries",
            "{max_attempts: 6, base_delay: 10ms, max_delay: 2s}",
        )
        .set("rate_limit", "{describe_deployment_job_status: 50}")
        .jobs(1..=6)
        .file();
    let exporter = Exporter::start(&["--config.file", cfg.path.to_str().unwrap()], &KEY_ENV);
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
