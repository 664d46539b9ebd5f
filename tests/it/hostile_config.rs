//! Hostile configuration files: whatever the file, `--config.check` answers
//! with a short located error and exit 1, and a reload (over HTTP or SIGHUP)
//! refuses it while the running exporter keeps serving, without keeping the
//! memory the refused file cost.

use crate::support;

use std::time::Duration;
use support::{ConfigBuilder, Exporter, KEY_ENV, KEY_ID, SECRET, SimSpec, config_file, run_to_end};

/// Files that once crashed the exporter, held it for seconds, or filled its
/// memory and log, each with the part of the answer that says why it is refused.
fn hostile_files() -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "an interval whose multiples overflow",
            "jobs: [1]\ninterval: 3689348814741910324s\n".to_owned(),
            ":2:11: interval: \"3689348814741910324s\" is longer than 366d",
        ),
        (
            "the largest duration in every key at once",
            "jobs: [1]\ninterval: 18446744073709551615s\nsettled_interval: 18446744073709551615s\n"
                .to_owned(),
            "is longer than 366d",
        ),
        (
            "a 50 MB regular expression",
            format!(
                "jobs: [1]\ndiscovery:\n  name_include: {}\n",
                "a".repeat(50 << 20)
            ),
            "it is larger than 1024 KiB, far more than any valid file",
        ),
        (
            "100,000 nested lists",
            format!("jobs: {}\n", "[".repeat(100_000)),
            ":1:71: collections nest more than 64 levels deep",
        ),
        (
            "a pattern just under the file bound",
            format!(
                "jobs: [1]\ndiscovery:\n  name_include: {}\n",
                "a".repeat(1_000_000)
            ),
            "is longer than 1024 characters",
        ),
        (
            "a rate whose spacing overflows",
            "jobs: [1]\nrate_limit: {describe_deployment_job_status: 1e-300}\n".to_owned(),
            "1e-300 is not allowed",
        ),
        (
            "an alias repeating a large node",
            format!(
                "accounts:\n  - &a {{name: a, jobs: [1], discovery: {{name_include: \"{}\"}}}}\n{}",
                "x".repeat(500_000),
                "  - *a\n".repeat(50_000)
            ),
            ":3:5: YAML aliases (*name) are not accepted",
        ),
        (
            "nesting hidden behind a tag",
            format!("jobs: !t {}\n", "[".repeat(100_000)),
            ":1:74: collections nest more than 64 levels deep",
        ),
        (
            "a 900 KB endpoint",
            format!("jobs: [1]\nendpoint: \"https://cas.aliyuncs.com/{}\"\n", "a".repeat(900_000)),
            "is not valid: the API is served at path / with no query",
        ),
        (
            "a 900 KB reference",
            format!(
                "jobs: [1]\ncredentials: {{access_key_id: a, access_key_secret: \"${{{}}}\"}}\n",
                "A".repeat(900_000)
            ),
            "is not a valid reference",
        ),
        (
            "a secret glued to its key",
            "jobs: [1]\ncredentials: {access_key_id: LTAI, access_key_secret:Zq9SuperSecretValue0123456789ab}\n"
                .to_owned(),
            "unknown field (not shown: it holds ':', '=' or a blank",
        ),
        (
            "four trillion polls in flight",
            "jobs: [1]\nconcurrency: 4294967296000\n".to_owned(),
            "more than the 256 allowed",
        ),
    ]
}

#[test]
fn config_check_refuses_each_hostile_file_briefly() {
    for (what, text, expected) in hostile_files() {
        let cfg = config_file(&text);
        let path = cfg.path.to_str().unwrap().to_owned();
        let (status, stdout, stderr) =
            run_to_end(&["--config.check", "--config.file", &path], &KEY_ENV);
        assert_eq!(status.code(), Some(1), "{what}: {stderr}");
        assert_eq!(stdout, "", "{what}");
        assert!(
            stderr.contains(expected),
            "{what}: {expected:?} not in {stderr}"
        );
        assert!(
            stderr.len() < 600,
            "{what}: {} bytes: {stderr}",
            stderr.len()
        );
    }
}

/// Resident memory of a process, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_reloads_are_refused_and_the_exporter_keeps_serving() {
    let _heavy = support::heavy().await;
    let sim = SimSpec::new()
        .key(KEY_ID, SECRET)
        .job("{id: 1, workers: {CDN: 1}}")
        .start()
        .await;
    let good = ConfigBuilder::new(&sim).jobs([1]).yaml();
    let cfg = config_file(&good);
    let exporter = Exporter::reloadable(&cfg).await;
    let files = hostile_files();
    for (what, text, expected) in &files {
        std::fs::write(&cfg.path, text).unwrap();
        let (status, body) = exporter.reload().await;
        assert_eq!(status, 500, "{what}: {body}");
        assert!(
            body.contains(expected),
            "{what}: {expected:?} not in {body}"
        );
        assert!(body.len() < 600, "{what}: {} bytes", body.len());
        let (status, metrics) = exporter.get("/metrics").await;
        assert_eq!(status, 200, "{what}");
        assert!(
            metrics.contains("aliyun_cas_exporter_config_last_reload_successful 0\n"),
            "{what}"
        );
    }
    // A FIFO would hold the reload (and shutdown behind it) until a writer came.
    std::fs::remove_file(&cfg.path).unwrap();
    let fifo = std::ffi::CString::new(cfg.path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let (status, body) = exporter.reload().await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("it is not a regular file"), "{body}");
    std::fs::remove_file(&cfg.path).unwrap();

    // SIGHUP takes the same path: the process survives the worst of them.
    std::fs::write(&cfg.path, &files[0].1).unwrap();
    let signalled = std::process::Command::new("kill")
        .args(["-HUP", &exporter.pid().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    exporter
        .wait_for_log(&["configuration reload refused", "is longer than 366d"])
        .await;
    assert_eq!(exporter.get("/-/healthy").await.0, 200);

    // Memory taken by refused files is given back: twenty more refusals of the
    // costliest file that is still parsed leave the process about where it was.
    let costliest = format!(
        "jobs: [1]\nx:\n{}",
        "- - - - - - - - - - - -\n".repeat(40_000)
    );
    assert!(costliest.len() < 1 << 20);
    std::fs::write(&cfg.path, &costliest).unwrap();
    assert_eq!(exporter.reload().await.0, 500);
    let before = rss(exporter.pid());
    for _ in 0..20 {
        assert_eq!(exporter.reload().await.0, 500);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = rss(exporter.pid());
    eprintln!(
        "RSS before and after 20 refused reloads of the costliest file: {before} -> {after} bytes"
    );
    assert!(
        after < before + (16 << 20),
        "RSS grew from {before} to {after} bytes over 20 refused reloads"
    );

    // And a good file still applies afterwards.
    std::fs::write(&cfg.path, &good).unwrap();
    assert_eq!(exporter.reload().await, (200, "Reloaded\n".to_owned()));
    let (status, logs) = exporter.terminate();
    assert!(status.success(), "{logs:#?}");
    assert!(
        logs.iter().all(|l| l.len() < 2_000),
        "no log line echoes a file: {:?}",
        logs.iter().map(String::len).max()
    );
}
