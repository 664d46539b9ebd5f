//! What the log says, read as a log pipeline reads it: a failure of the whole
//! account is one warning and one line when it ends, an unknown job one warning,
//! JSON lines parse with typed values, logfmt values read back as written, and
//! the start-up line names what runs.

use crate::support::{
    self, ConfigBuilder, Exporter, KEY_ENV, KEY_ID, SECRET, SimSpec, field, logfmt,
};
use aliyun_cas_exporter::simulator::Simulator;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

/// The simulator's calls of `action` that were answered `code`.
fn answered(sim: &Simulator, action: &str, code: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.param("Action") == Some(action) && r.code == code)
        .count()
}

/// Waits until `done` holds, or panics with `what` and the logs after a generous limit.
async fn wait_until(exporter: &Exporter, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; logs:\n{}",
            exporter.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The lines at `level`.
fn at_level(logs: &[String], level: &str) -> Vec<String> {
    logs.iter()
        .filter(|l| field(l, "level").as_deref() == Some(level))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_one_warning_then_one_line_when_a_reload_fixes_it() {
    let mut spec = SimSpec::new().key(KEY_ID, SECRET);
    for id in 1..=20 {
        spec = spec.job(&format!(
            "{{id: {id}, workers: {{CDN: 1}}, outcomes: {{succeeded: 1}}}}"
        ));
    }
    let sim = spec.start().await;
    let config = |secret: &str| {
        ConfigBuilder::new(&sim)
            .interval("1s")
            .set("timeouts", "{request: 500ms}")
            .credentials(&[("access_key_id", KEY_ID), ("access_key_secret", secret)])
            .jobs(1..=20)
            .yaml()
    };
    // An apostrophe in the path shows in the start-up line as it is, unescaped.
    let dir = tempfile::tempdir().unwrap();
    let team = dir.path().join("the team's config");
    std::fs::create_dir(&team).unwrap();
    let path = team.join("cas.yaml");
    std::fs::write(&path, config("a-wrong-secret")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let path_text = path.to_str().unwrap();
    let exporter = Exporter::start(&["--config.file", path_text, "--web.enable-lifecycle"], &[]);
    exporter.wait_ready().await;
    // Three intervals: every job polled three times, every poll refused.
    let poll = "DescribeDeploymentJobStatus";
    wait_until(&exporter, "three rounds of polls", || {
        answered(&sim, poll, "SignatureDoesNotMatch") >= 60
    })
    .await;
    assert_eq!(answered(&sim, poll, "OK"), 0);

    let logs = exporter.logs();
    let start = logs
        .iter()
        .find(|l| l.contains("Starting aliyun-cas-exporter"))
        .expect("start-up line");
    let build_info = exporter.metrics().await;
    let revision = &build_info
        .matching("aliyun_cas_exporter_build_info", &[])
        .first()
        .expect("build_info")
        .labels["revision"];
    let pairs: Vec<(String, String)> = logfmt(start)
        .into_iter()
        .filter(|(k, _)| k != "ts" && k != "caller")
        .collect();
    let expected: Vec<(&str, &str)> = vec![
        ("level", "info"),
        ("msg", "Starting aliyun-cas-exporter"),
        ("version", env!("CARGO_PKG_VERSION")),
        ("revision", revision),
        ("config_file", path_text),
        ("listen_address", "127.0.0.1:0"),
        ("accounts", "1"),
        ("static_jobs", "20"),
        ("discovery_accounts", "0"),
        ("jobs_by_account", "default=20"),
    ];
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(pairs, expected, "{start}");

    let warnings = at_level(&logs, "warn");
    assert_eq!(warnings.len(), 1, "{}", logs.join("\n"));
    let warning = &warnings[0];
    assert_eq!(field(warning, "account").as_deref(), Some("default"));
    assert_eq!(
        field(warning, "code").as_deref(),
        Some("SignatureDoesNotMatch")
    );
    assert_eq!(field(warning, "failed_calls").as_deref(), Some("1"));
    assert_eq!(field(warning, "http_status").as_deref(), Some("400"));
    let request_id = field(warning, "request_id").unwrap();
    assert!(
        sim.requests().iter().any(|r| r.request_id == request_id),
        "{warning}"
    );
    assert!(
        field(warning, "hint")
            .unwrap()
            .contains("the AccessKey secret is wrong for this AccessKey ID"),
        "{warning}"
    );
    assert!(
        field(warning, "msg").unwrap().contains(
            "(this concerns the whole account, not one job: logged again every 5 minutes"
        ),
        "{warning}"
    );
    assert_eq!(
        field(warning, "ours"),
        None,
        "strings to sign are for debug level"
    );
    assert_eq!(at_level(&logs, "debug"), Vec::<String>::new());
    assert!(logs.iter().all(|l| l.len() < 1024 && !l.contains(SECRET)));

    std::fs::write(&path, config(SECRET)).unwrap();
    let (status, body) = exporter.reload().await;
    assert_eq!(status, 200, "{body}");
    let recovered = exporter.wait_for_log(&["account recovered after"]).await;
    let failed: u64 = field(&recovered, "failed_calls").unwrap().parse().unwrap();
    // Every refused poll, description and certificate listing before the first
    // success; calls signed with the old secret may still end after it.
    let refused: u64 = sim
        .requests()
        .iter()
        .filter(|r| r.code == "SignatureDoesNotMatch")
        .count() as u64;
    assert!(
        (60..=refused).contains(&failed),
        "{recovered}: {refused} refused"
    );
    let duration = field(&recovered, "duration").unwrap();
    assert_eq!(
        field(&recovered, "msg").unwrap(),
        format!("account recovered after {failed} failed calls over {duration}")
    );
    assert_eq!(field(&recovered, "level").as_deref(), Some("info"));
    // Another round of polls, all answered: nothing more to say.
    let ok_before = answered(&sim, poll, "OK");
    wait_until(&exporter, "a round of answered polls", || {
        answered(&sim, poll, "OK") >= ok_before + 20
    })
    .await;
    let logs = exporter.logs();
    assert_eq!(at_level(&logs, "warn").len(), 1, "{}", logs.join("\n"));
    let ends = logs
        .iter()
        .filter(|l| l.contains("account recovered"))
        .count();
    assert_eq!(ends, 1, "{}", logs.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_job_warns_once_in_json_and_says_when_it_is_back() {
    let sim = SimSpec::new()
        .key(KEY_ID, SECRET)
        .job("{id: 1, workers: {CDN: 1}, outcomes: {succeeded: 1}}")
        .start()
        .await;
    let cfg = ConfigBuilder::new(&sim)
        .interval("1s")
        .set("timeouts", "{request: 500ms}")
        .jobs([1, 404])
        .file();
    let exporter = Exporter::start(
        &[
            "--config.file",
            cfg.path.to_str().unwrap(),
            "--log.format=json",
        ],
        &KEY_ENV,
    );
    exporter.wait_ready().await;
    let poll = "DescribeDeploymentJobStatus";
    wait_until(&exporter, "four polls of the unknown job", || {
        answered(&sim, poll, "InvalidParameter.JobId") >= 4
    })
    .await;

    let lines: Vec<serde_json::Value> = exporter
        .logs()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    for line in &lines {
        let ts = line["ts"].as_str().unwrap();
        assert!(
            humantime::parse_rfc3339(ts).is_ok() && ts.len() == 24 && ts.ends_with('Z'),
            "{line}"
        );
        let level = line["level"].as_str().unwrap();
        assert!(["info", "warn"].contains(&level), "{line}");
        assert!(line["msg"].is_string(), "{line}");
    }
    let about_404: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["job_id"].as_u64() == Some(404))
        .collect();
    assert_eq!(about_404.len(), 1, "{about_404:?}");
    let warning = about_404[0];
    assert_eq!(warning["level"], "warn");
    assert_eq!(warning["code"], "InvalidParameter.JobId");
    assert_eq!(warning["http_status"], 400);
    assert_eq!(warning["failed_calls"], 1);
    assert!(
        warning["msg"].as_str().unwrap().ends_with(
            "(logged again every hour while it lasts, and once when the API knows the job again)"
        ),
        "{warning}"
    );
    let start = lines
        .iter()
        .find(|l| l["msg"] == "Starting aliyun-cas-exporter")
        .unwrap();
    assert_eq!(start["static_jobs"], 2);
    assert_eq!(start["accounts"], 1);

    sim.upsert_job(
        support::spec(
            "access_keys: [{id: k, secret: s}]\njobs:\n  - {id: 404, workers: {CDN: 1}}\n",
        )
        .jobs
        .remove(0),
    );
    let back = exporter
        .wait_for_log(&["\"job_id\":404", "is known to the API again"])
        .await;
    let back: serde_json::Value = serde_json::from_str(&back).unwrap();
    assert_eq!(back["level"], "info");
    let failed = back["failed_calls"].as_u64().unwrap();
    assert!(failed >= 4, "{back}");
    assert_eq!(
        back["msg"],
        format!(
            "job 404 is known to the API again, after {failed} failed calls over {}",
            back["duration"].as_str().unwrap()
        )
    );
    let warnings = exporter
        .logs()
        .iter()
        .filter(|l| l.contains("\"level\":\"warn\""))
        .count();
    assert_eq!(warnings, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logfmt_values_read_back_as_written() {
    let sim = SimSpec::new()
        .key(KEY_ID, SECRET)
        .job("{id: 1, workers: {CDN: 1}}")
        .start()
        .await;
    let cfg = ConfigBuilder::new(&sim).interval("1h").jobs([1]).file();
    let exporter = Exporter::start(
        &["--config.file", cfg.path.to_str().unwrap()],
        &[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIunknown"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET),
        ],
    );
    let line = exporter
        .wait_for_log(&["level=warn", "code=InvalidAccessKeyId.NotFound"])
        .await;
    assert!(line.contains(" hint=\"this AccessKey ID does not exist: check the ID, and that it belongs to the endpoint's site (China `cn` or international `intl`)\""), "{line}");
    assert_eq!(
        field(&line, "hint").as_deref(),
        Some(
            "this AccessKey ID does not exist: check the ID, and that it belongs to the endpoint's site (China `cn` or international `intl`)"
        )
    );
    let keys: Vec<String> = logfmt(&line).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys[..4], ["ts", "caller", "level", "msg"], "{line}");
}
