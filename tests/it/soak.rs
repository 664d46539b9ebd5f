//! The fault soak: the exporter against a simulator that plays every fault at
//! once, scraped without pause and by clients too slow to read, for
//! `SOAK_SECONDS` (40 by default; `SOAK_SECONDS=300` for the full soak).

use crate::support;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::{ConfigBuilder, Exporter, KEY_ENV, KEY_ID, SECRET, SimSpec, job_list};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Allowed RSS growth from the second quarter of the soak (the first is
/// warm-up: pools, buffers and the allocator settling) to the last.
const RSS_MARGIN: f64 = 1.25;
/// Allowed absolute growth on top of it, for allocator noise at small sizes.
const RSS_SLACK_KIB: u64 = 4096;

fn soak_duration() -> Duration {
    let seconds = std::env::var("SOAK_SECONDS")
        .ok()
        .map(|s| s.parse::<u64>().expect("SOAK_SECONDS is a whole number"))
        .unwrap_or(40);
    Duration::from_secs(seconds)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

/// The code the exporter reports for what the simulator logged.
fn exporter_code(simulated: &str) -> &str {
    match simulated {
        "hang" => "timeout",
        "malformed" | "truncated" => "decode",
        "bad_gateway" => "http",
        "oversized" => "ResponseTooLarge",
        other => other,
    }
}

/// Asks for `/metrics` and then reads one small piece every half second, or never.
async fn slow_client(address: SocketAddr, reads: bool, until: Instant) {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: soak\r\n\r\n")
        .await
        .expect("request sent");
    let mut piece = [0_u8; 16];
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if reads && matches!(stream.read(&mut piece).await, Ok(0) | Err(_)) {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporter_survives_every_fault_at_once() {
    // Calls are counted on both sides and must agree; beside heavy tests, one run
    // counted a call in the exporter that the simulator never saw.
    let _alone = support::timing_sensitive().await;
    let duration = soak_duration();
    let sim = SimSpec::new()
        .key(KEY_ID, SECRET)
        .set("qps_limit", 15)
        .set("latency", "5ms")
        .set(
            "faults",
            "{internal_error: 0.04, service_unavailable: 0.04, malformed: 0.04, truncated: 0.04, hang: 0.02}",
        )
        .job("{id: 1, fault: bad_gateway}")
        .job("{id: 2, fault: oversized}")
        .job("{id: 3, fault: throttle}")
        .jobs(&job_list(10, 40))
        .start()
        .await;
    let body = |interval: &str| {
        ConfigBuilder::new(&sim)
            .interval(interval)
            .set("settled_interval", interval)
            .set("job_info_interval", interval)
            .set("concurrency", 8)
            .set("timeouts", "{connect: 1s, request: 1s}")
            .set(
                "retries",
                "{max_attempts: 2, base_delay: 50ms, max_delay: 200ms}",
            )
            .set(
                "rate_limit",
                "{describe_deployment_job_status: 20, describe_deployment_job: 5}",
            )
            .jobs([1, 2, 3].into_iter().chain(10..50))
    };
    let cfg = body("2s").file();
    let exporter = Exporter::start(
        &[
            "--config.file",
            cfg.path.to_str().unwrap(),
            "--web.enable-lifecycle",
            "--web.max-requests=0",
        ],
        &KEY_ENV,
    );
    let address = exporter.address;
    let started = Instant::now();
    let until = started + duration;
    let slow: Vec<_> = (0..6)
        .map(|i| tokio::spawn(slow_client(address, i % 2 == 0, until)))
        .collect();
    let client = reqwest::Client::new();
    let (mut scrapes, mut rss) = (0_u32, Vec::new());
    while Instant::now() < until {
        let response = client
            .get(exporter.url("/metrics"))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .expect("every scrape is answered");
        assert_eq!(response.status().as_u16(), 200);
        let compressed = response.bytes().await.expect("whole body");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_string(&mut text)
            .expect("gzip body");
        assert!(text.contains("aliyun_cas_exporter_build_info"));
        let (status, _) = exporter.get("/metrics").await;
        assert_eq!(status, 200);
        scrapes += 2;
        rss.push((started.elapsed(), rss_kib(exporter.pid())));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for client in slow {
        client.await.unwrap();
    }

    // Quiet the poller (every wait becomes an hour), let the calls in flight
    // end, then every call the simulator saw must be in the metrics.
    std::fs::write(&cfg.path, body("1h").yaml()).unwrap();
    assert_eq!(exporter.reload().await.0, 200);
    // Calls queued behind the rate limiter still leave after the reload: wait
    // until the simulator has seen nothing for longer than a timed-out call takes.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let last = sim.requests().last().map(|r| r.at.elapsed());
        if last.is_some_and(|idle| idle > Duration::from_secs(2)) {
            break;
        }
        assert!(Instant::now() < deadline, "the poller never went quiet");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut simulated: BTreeMap<(String, String), f64> = BTreeMap::new();
    for request in sim.requests() {
        let action = request.params.get("Action").cloned().unwrap_or_default();
        *simulated
            .entry((action, exporter_code(&request.code).to_owned()))
            .or_default() += 1.0;
    }
    let metrics = exporter.metrics().await;
    let exported: BTreeMap<(String, String), f64> = metrics
        .matching("aliyun_cas_api_requests_total", &[("account", "default")])
        .into_iter()
        .map(|s| {
            (
                (s.labels["action"].clone(), s.labels["code"].clone()),
                s.value,
            )
        })
        .collect();
    // Every call is counted exactly once. On a loaded machine the exporter may
    // give up on an answer the simulator did send (counted there under its
    // code, here as `timeout`), so codes agree up to such late answers.
    let per_action = |counts: &BTreeMap<(String, String), f64>| {
        let mut totals: BTreeMap<String, f64> = BTreeMap::new();
        for ((action, _), n) in counts {
            *totals.entry(action.clone()).or_default() += n;
        }
        totals
    };
    assert_eq!(per_action(&exported), per_action(&simulated));
    let mut late = 0.0;
    for (key, &simulated_n) in &simulated {
        let exported_n = exported.get(key).copied().unwrap_or(0.0);
        if key.1 == "timeout" {
            assert!(
                exported_n >= simulated_n,
                "{key:?}: {exported_n} < {simulated_n}"
            );
            late += exported_n - simulated_n;
        } else {
            assert!(
                exported_n <= simulated_n,
                "{key:?}: {exported_n} > {simulated_n}"
            );
        }
    }
    assert!(
        exported
            .keys()
            .all(|key| key.1 == "timeout" || simulated.contains_key(key)),
        "{exported:?}"
    );
    for code in [
        "OK",
        "InternalError",
        "ServiceUnavailable",
        "Throttling.User",
        "decode",
        "timeout",
        "http",
        "ResponseTooLarge",
    ] {
        assert!(
            simulated.keys().any(|(_, c)| c == code),
            "no {code} in {simulated:?}"
        );
    }

    let quarter = duration / 4;
    let peak = |from: Duration, to: Duration| {
        rss.iter()
            .filter(|(at, _)| *at >= from && *at < to)
            .map(|(_, kib)| *kib)
            .max()
            .expect("RSS samples in the window")
    };
    let first = peak(quarter, 2 * quarter);
    let last = peak(duration - quarter, duration);
    assert!(
        last as f64 <= first as f64 * RSS_MARGIN + RSS_SLACK_KIB as f64,
        "RSS grew from {first} KiB to {last} KiB over {duration:?}"
    );

    let (status, logs) = exporter.terminate();
    assert!(status.success(), "{status:?}");
    assert!(
        !logs.iter().any(|l| l.contains("panicked")),
        "{}",
        logs.join("\n")
    );
    eprintln!(
        "soak: {scrapes} scrapes over {duration:?}, {} API calls ({late} answered after the \
         client's timeout), RSS {first} KiB -> {last} KiB",
        simulated.values().sum::<f64>()
    );
}
