//! Polling at account scale, end to end: the real binary against the
//! simulator, with the simulator's request log as the witness.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use support::{
    ConfigBuilder, Exporter, KEY_ENV, KEY_ID, Metrics, SECRET, SimSpec, config_file,
    job_list as jobs, status_polls, up_count,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_finds_1000_jobs_across_pages_and_drops_vanished_ones() {
    let _heavy = support::heavy().await;
    let sim = SimSpec::new()
        .key(KEY_ID, SECRET)
        .set("qps_limit", 0)
        .jobs(&jobs(1, 1000))
        .job("{id: 5000, name: job-5000-test, workers: {CDN: 1}}")
        .start()
        .await;
    let cfg = ConfigBuilder::new(&sim)
        .interval("1h")
        .set("concurrency", 16)
        .set(
            "rate_limit",
            "{describe_deployment_job_status: 500, list_deployment_job: 50}",
        )
        .set("discovery", "{refresh_interval: 1s, name_exclude: -test$}")
        .file();
    let exporter = Exporter::start(&["--config.file", cfg.path.to_str().unwrap()], &KEY_ENV);
    exporter.wait_ready().await;
    let m = exporter
        .wait_for(Duration::from_secs(30), "1000 discovered jobs up", |m| {
            up_count(m, 1.0) == 1000
        })
        .await;
    assert_eq!(m.jobs_from("discovered"), Some(1000.0));
    assert!(
        !m.has_job_series("aliyun_cas_deployment_job_up", 5000),
        "excluded by name"
    );
    assert_eq!(
        m.get(
            "aliyun_cas_deployment_job_info",
            &[
                ("account", "default"),
                ("job_id", "17"),
                ("name", "job-17"),
                ("job_type", "user"),
                ("cert_type", "buy"),
                ("cert_domain", ""),
                ("products", "CDN"),
            ]
        ),
        Some(1.0),
        "details of discovered jobs come from the listing"
    );
    let log = sim.requests();
    let first_listing: Vec<(String, String)> = log
        .iter()
        .filter(|r| r.param("Action") == Some("ListDeploymentJob"))
        .take(21)
        .map(|r| {
            (
                r.param("CurrentPage").unwrap().to_owned(),
                r.param("ShowSize").unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> =
        (1..=21).map(|p| (p.to_string(), "50".to_owned())).collect();
    assert_eq!(first_listing, expected, "1001 jobs take 21 pages of 50");
    assert!(
        log.iter().all(|r| r.param("CurrentPage") != Some("22")),
        "and never a 22nd"
    );
    assert!(
        log.iter()
            .all(|r| r.param("Action") != Some("DescribeDeploymentJob")),
        "discovered jobs need no DescribeDeploymentJob"
    );

    sim.remove_job(17);
    let gone = exporter
        .wait_for(Duration::from_secs(15), "job 17 to disappear", |m| {
            !m.has_job_series("aliyun_cas_deployment_job_up", 17)
        })
        .await;
    assert_eq!(up_count(&gone, 1.0) + up_count(&gone, 0.0), 999);
    assert!(
        gone.matching("aliyun_cas_deployment_job_info", &[("job_id", "17")])
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settled_jobs_are_polled_less_often_until_their_status_moves() {
    let finished = "{id: 1, workers: {CDN: 2}, outcomes: {succeeded: 2}}";
    let sim = SimSpec::new()
        .key(KEY_ID, SECRET)
        .job(finished)
        .job("{id: 2, workers: {CDN: 100}, evolution: {step: 200ms}}")
        .start()
        .await;
    let cfg = ConfigBuilder::new(&sim)
        .interval("1s")
        .set("settled_interval", "1h")
        .set("job_info_interval", "1s")
        .set("timeouts", "{request: 900ms}")
        .jobs([1, 2])
        .file();
    let exporter = Exporter::start(&["--config.file", cfg.path.to_str().unwrap()], &KEY_ENV);
    let polls_of = |job: u64| {
        status_polls(&sim.requests())
            .iter()
            .filter(|r| r.job_id() == Some(job))
            .count()
    };
    let status = |m: &Metrics, job: &str, status: &str| {
        m.get(
            "aliyun_cas_deployment_job_status",
            &[("account", "default"), ("job_id", job), ("status", status)],
        )
    };
    // Once job 1's details say "success", one more poll with unchanged counts settles it.
    exporter
        .wait_for(Duration::from_secs(20), "job 1's details", |m| {
            status(m, "1", "success") == Some(1.0)
        })
        .await;
    let known = polls_of(1);
    let job2 = polls_of(2);
    exporter
        .wait_for(Duration::from_secs(20), "four more polls of job 2", |_| {
            polls_of(2) >= job2 + 4
        })
        .await;
    let settled = polls_of(1);
    assert!(
        settled - known <= 1,
        "{known} polls when the status came, {settled} after"
    );
    let job2 = polls_of(2);
    exporter
        .wait_for(Duration::from_secs(20), "three more polls of job 2", |_| {
            polls_of(2) >= job2 + 3
        })
        .await;
    assert_eq!(
        polls_of(1),
        settled,
        "a settled job is left alone while the others are polled every second"
    );
    let m = exporter.metrics().await;
    assert_eq!(status(&m, "1", "success"), Some(1.0));
    assert_eq!(status(&m, "2", "processing"), Some(1.0));
    assert_eq!(
        m.get(
            "aliyun_cas_deployment_job_up",
            &[("account", "default"), ("job_id", "1")]
        ),
        Some(1.0),
        "a settled job's values do not go stale"
    );

    // The job is set back to pending: its details show it, and it is polled again at once.
    let mut reopened = SimSpec::new()
        .key("a", "b")
        .job(finished)
        .parse()
        .jobs
        .remove(0);
    reopened.status = Some("pending".into());
    sim.upsert_job(reopened);
    exporter
        .wait_for(Duration::from_secs(10), "job 1 to be polled again", |m| {
            status(m, "1", "pending") == Some(1.0) && polls_of(1) >= 3
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_split_the_jobs_exactly() {
    let sim = SimSpec::new()
        .key("replica-a", SECRET)
        .key("replica-b", SECRET)
        .set("qps_limit", 0)
        .jobs(&jobs(1, 40))
        .start()
        .await;
    // Jobs 1 to 20 are listed; discovery finds all 40: both kinds are sharded.
    let cfg = ConfigBuilder::new(&sim)
        .interval("1h")
        .set(
            "rate_limit",
            "{describe_deployment_job_status: 100, describe_deployment_job: 40, list_deployment_job: 40}",
        )
        .set("discovery", "{}")
        .jobs(1..=20)
        .file();
    let path = cfg.path.to_str().unwrap();
    let env = |key: &'static str| {
        [
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", key),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET),
        ]
    };
    let a = Exporter::start(
        &["--config.file", path, "--shard.count=2", "--shard.index=0"],
        &env("replica-a"),
    );
    // The second replica takes its index from a StatefulSet-style host name.
    let mut env_b = env("replica-b").to_vec();
    env_b.push(("HOSTNAME", "cas-exporter-1"));
    let b = Exporter::start(&["--config.file", path, "--shard.count=2"], &env_b);
    a.wait_ready().await;
    b.wait_ready().await;
    let log = sim.requests();
    let polled_by = |key: &str| -> Vec<u64> {
        status_polls(&log)
            .iter()
            .filter(|r| r.param("AccessKeyId") == Some(key))
            .map(|r| r.job_id().unwrap())
            .collect()
    };
    let (from_a, from_b) = (polled_by("replica-a"), polled_by("replica-b"));
    let set_a: BTreeSet<u64> = from_a.iter().copied().collect();
    let set_b: BTreeSet<u64> = from_b.iter().copied().collect();
    assert_eq!(from_a.len(), set_a.len(), "each job once");
    assert_eq!(from_b.len(), set_b.len(), "each job once");
    assert!(set_a.is_disjoint(&set_b));
    assert_eq!(
        set_a.union(&set_b).copied().collect::<Vec<_>>(),
        (1..=40).collect::<Vec<_>>()
    );
    assert!(
        set_a.len() >= 10 && set_b.len() >= 10,
        "{} / {}",
        set_a.len(),
        set_b.len()
    );
    for (exporter, index, polled) in [(&a, 0.0, &set_a), (&b, 1.0, &set_b)] {
        let m = exporter.metrics().await;
        assert_eq!(m.get("aliyun_cas_exporter_shard_index", &[]), Some(index));
        assert_eq!(m.get("aliyun_cas_exporter_shards", &[]), Some(2.0));
        let served: BTreeSet<u64> = m
            .matching("aliyun_cas_deployment_job_up", &[])
            .iter()
            .map(|s| s.labels["job_id"].parse().unwrap())
            .collect();
        assert_eq!(&served, polled, "a replica serves exactly its shard");
        let count = |source: &str, listed: bool| {
            let expected = polled.iter().filter(|id| (**id <= 20) == listed).count() as f64;
            let served = m.jobs_from(source);
            assert_eq!(served, Some(expected), "{source} jobs of shard {index}");
        };
        count("static", true);
        count("discovered", false);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_accounts_each_with_its_own_label() {
    let sim = SimSpec::new()
        .key("key-prod", SECRET)
        .account("prod")
        .key("key-intl", SECRET)
        .account("intl")
        .jobs(&jobs(1, 3))
        .start()
        .await;
    // Each account has its endpoint: the file has none at the top.
    let cfg = config_file(&format!(
        "interval: 1h
accounts:
  - name: prod
    endpoint: {e}
    credentials:
      access_key_id: key-prod
      access_key_secret: ${{CAS_SECRET}}
    jobs: [1, 2]
  - name: intl
    endpoint: {e}
    credentials:
      access_key_id: key-intl
      access_key_secret: ${{CAS_SECRET}}
    jobs: [3]
",
        e = sim.endpoint()
    ));
    let exporter = Exporter::start(
        &["--config.file", cfg.path.to_str().unwrap()],
        &[("CAS_SECRET", SECRET)],
    );
    exporter.wait_ready().await;
    let m = exporter.metrics().await;
    let ups: BTreeMap<(String, String), f64> = m
        .matching("aliyun_cas_deployment_job_up", &[])
        .iter()
        .map(|s| {
            (
                (s.labels["account"].clone(), s.labels["job_id"].clone()),
                s.value,
            )
        })
        .collect();
    let expected: BTreeMap<(String, String), f64> = [("prod", "1"), ("prod", "2"), ("intl", "3")]
        .iter()
        .map(|(a, j)| ((a.to_string(), j.to_string()), 1.0))
        .collect();
    assert_eq!(ups, expected);
    for (account, calls) in [("prod", 2.0), ("intl", 1.0)] {
        assert_eq!(
            m.get(
                "aliyun_cas_api_requests_total",
                &[
                    ("account", account),
                    ("action", "DescribeDeploymentJobStatus"),
                    ("code", "OK")
                ]
            ),
            Some(calls)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_a_good_file_and_refuses_a_bad_one() {
    let sim = SimSpec::new()
        .key(KEY_ID, SECRET)
        .jobs(&jobs(1, 4))
        .start()
        .await;
    let body = |jobs: [u64; 2]| ConfigBuilder::new(&sim).interval("1h").jobs(jobs);
    let cfg = body([1, 2]).file();
    let exporter = Exporter::reloadable(&cfg).await;
    assert_eq!(exporter.metrics().await.served_jobs(), vec!["1", "2"]);

    std::fs::write(&cfg.path, body([2, 3]).yaml()).unwrap();
    assert_eq!(exporter.reload().await, (200, "Reloaded\n".to_owned()));
    let m = exporter
        .wait_for(Duration::from_secs(10), "job 3 polled", |m| {
            m.get(
                "aliyun_cas_deployment_job_up",
                &[("account", "default"), ("job_id", "3")],
            ) == Some(1.0)
        })
        .await;
    assert_eq!(
        m.served_jobs(),
        vec!["2", "3"],
        "job 1 is gone, job 3 arrived"
    );
    assert_eq!(
        m.get("aliyun_cas_exporter_config_last_reload_successful", &[]),
        Some(1.0)
    );
    let polls_of_2 = status_polls(&sim.requests())
        .iter()
        .filter(|r| r.job_id() == Some(2))
        .count();
    assert_eq!(polls_of_2, 1, "a job that stays is not disturbed");

    std::fs::write(&cfg.path, "jobs: [2, 3]\nintervall: 1m\n").unwrap();
    let (status, message) = exporter.reload().await;
    assert_eq!(status, 500);
    assert!(
        message.starts_with("Reload refused, the running configuration stays: ")
            && message.contains(":2:1: unknown field `intervall`"),
        "{message}"
    );
    let m = exporter.metrics().await;
    assert_eq!(
        m.get("aliyun_cas_exporter_config_last_reload_successful", &[]),
        Some(0.0)
    );
    assert_eq!(m.served_jobs(), vec!["2", "3"]);
    exporter
        .wait_for_log(&["level=error", "configuration reload refused"])
        .await;

    // SIGHUP reloads as well.
    std::fs::write(&cfg.path, body([3, 4]).yaml()).unwrap();
    let pid = exporter.pid().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let m = exporter
        .wait_for(Duration::from_secs(10), "job 4 polled after SIGHUP", |m| {
            m.get(
                "aliyun_cas_deployment_job_up",
                &[("account", "default"), ("job_id", "4")],
            ) == Some(1.0)
        })
        .await;
    assert_eq!(m.served_jobs(), vec!["3", "4"]);
    assert_eq!(
        m.get("aliyun_cas_exporter_config_last_reload_successful", &[]),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_over_http_needs_the_lifecycle_flag() {
    let sim = SimSpec::new()
        .key(KEY_ID, SECRET)
        .jobs(&jobs(1, 1))
        .start()
        .await;
    let cfg = ConfigBuilder::new(&sim).interval("1h").jobs([1]).file();
    let exporter = Exporter::start(&["--config.file", cfg.path.to_str().unwrap()], &KEY_ENV);
    assert_eq!(
        exporter.reload().await,
        (
            403,
            "Lifecycle API is not enabled: start with --web.enable-lifecycle\n".to_owned()
        )
    );
    assert_eq!(exporter.get("/-/reload").await.0, 405);
}
