//! End-to-end figures at account scale: the release binary polling the simulator
//! (10,000 jobs, 3 products each, 1,000 calls/s allowed, 5 ms added latency), then
//! scraped by concurrent clients beside a static body of the same size served by
//! the same HTTP stack. Run with `cargo bench --bench e2e`; `BENCH_JOBS` changes
//! the job count. Loopback only.

// The integration tests' harness; this benchmark uses part of it.
#[allow(dead_code, unused_imports)]
#[path = "../tests/it/support/mod.rs"]
mod support;

use aliyun_cas_exporter::body::Chunks;
use aliyun_cas_exporter::http::serve::{ConnectionLimits, Handler, serve};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Exporter, KEY_ID, SECRET, busiest_second, config_file, simulator, status_polls};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const RATE: u64 = 1_000;
/// Worker listings allowed per second: fast enough to finish within the run.
const DETAIL_RATE: u64 = 100;
/// Certificate listings allowed per second: every job's, within the run.
const CERT_RATE: u64 = 250;
const SCRAPERS: usize = 4;
const SCRAPES_EACH: usize = 50;
const ROUNDS: usize = 5;

fn jobs_wanted() -> u64 {
    std::env::var("BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// CPU seconds (user + system) the process has used, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc is readable");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / USER_HZ
}

/// /proc counts CPU time in USER_HZ ticks, 100 a second on Linux whatever the kernel's own HZ.
const USER_HZ: f64 = 100.0;

/// A `/proc/PID/status` figure in kB.
fn status_kb(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Serves one fixed gzip body: the baseline a cached exposition is compared with.
struct Static(Bytes);

impl Handler for Static {
    async fn handle(&self, _: Request<Incoming>, _: SocketAddr) -> Response<Chunks> {
        let mut response = Response::new(Chunks::from(self.0.clone()));
        let headers = response.headers_mut();
        headers.insert(
            "content-type",
            "text/plain; version=0.0.4; charset=utf-8".parse().unwrap(),
        );
        headers.insert("content-encoding", "gzip".parse().unwrap());
        response
    }
}

/// The body of `url` as sent when gzip is asked for, as Prometheus does (not decompressed).
async fn gzip_body(client: &reqwest::Client, url: &str) -> Bytes {
    client
        .get(url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
}

/// Latencies of `SCRAPERS` clients each fetching `url` `SCRAPES_EACH` times, gzip asked for.
async fn scrape_latencies(url: &str) -> (Vec<Duration>, usize) {
    let mut tasks = Vec::new();
    for _ in 0..SCRAPERS {
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut times = Vec::new();
            let mut size = 0;
            for _ in 0..SCRAPES_EACH {
                let started = Instant::now();
                let body = gzip_body(&client, &url).await;
                times.push(started.elapsed());
                size = body.len();
            }
            (times, size)
        }));
    }
    let mut all = Vec::new();
    let mut size = 0;
    for task in tasks {
        let (times, body) = task.await.unwrap();
        all.extend(times);
        size = body;
    }
    all.sort();
    (all, size)
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// `--serve-static FILE`: serves FILE's bytes as a gzip exposition on a loopback port
/// (printed on stdout) until stdin closes. Run as a child of the benchmark, so that
/// the baseline, like the exporter, is a process of its own.
async fn serve_static(file: &str) {
    let body = Bytes::from(std::fs::read(file).expect("the body file"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        stop.cancel();
    });
    serve(
        listener,
        Arc::new(Static(body)),
        shutdown,
        Duration::ZERO,
        ConnectionLimits::default(),
        None,
    )
    .await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--serve-static") {
        return serve_static(&args[at + 1]).await;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` would run this too, so only run when benchmarking.
    if !args.iter().any(|a| a == "--bench") {
        println!("e2e: run with `cargo bench --bench e2e`");
        return;
    }
    let jobs = jobs_wanted();
    let job_lines: String = (1..=jobs)
        .map(|id| {
            // One job in ten has a failed worker, whose listing the exporter makes once.
            let outcomes = if id % 10 == 0 {
                "{succeeded: 8, failed: 1}"
            } else {
                "{succeeded: 9}"
            };
            format!("  - {{id: {id}, name: job-{id}, workers: {{CDN: 4, SLB: 3, OSS: 2}}, outcomes: {outcomes}}}\n")
        })
        .collect();
    let sim = simulator(&format!(
        "access_keys: [{{id: {KEY_ID}, secret: {SECRET}}}]\nqps_limit: {RATE}\nlatency: 5ms\njobs:\n{job_lines}"
    ))
    .await;
    let cfg = config_file(&format!(
        "endpoint: {}\ninterval: 10m\nconcurrency: 64\nrate_limit: {{describe_deployment_job_status: {RATE}, list_deployment_job: 50, list_worker_resource: {DETAIL_RATE}, list_deployment_job_cert: {CERT_RATE}}}\ndiscovery:\n  refresh_interval: 1h\n",
        sim.endpoint()
    ));
    let env = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET),
    ];
    let started = Instant::now();
    let exporter = Exporter::start(&["--config.file", cfg.path.to_str().unwrap()], &env);
    let pid = exporter.pid();
    let cpu_at_start = cpu_seconds(pid);
    let deadline = Instant::now() + Duration::from_secs(jobs / RATE * 3 + 60);
    while exporter.get("/-/ready").await.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "never ready:\n{}",
            exporter.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready_after = started.elapsed();
    let cpu_sweep = cpu_seconds(pid) - cpu_at_start;
    let log = sim.requests();
    let polls = status_polls(&log);
    let mut first_arrivals: Vec<_> = polls.iter().map(|r| r.at).collect();
    first_arrivals.sort();
    let sweep = *first_arrivals.last().unwrap() - first_arrivals[0];
    let throttled = polls.iter().filter(|r| r.code != "OK").count();
    let busiest = busiest_second(&log, "DescribeDeploymentJobStatus");
    let bound = Duration::from_secs_f64(jobs as f64 / RATE as f64);

    // Every job's certificates listed, every failing job's workers: the state is steady,
    // as it stays between changes, before scrapes and memory are measured.
    let failing = (jobs / 10) as usize;
    let calls_of = |action: &str| -> Vec<u64> {
        sim.requests()
            .iter()
            .filter(|r| r.param("Action") == Some(action))
            .filter_map(|r| r.job_id())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(jobs / CERT_RATE * 2 + 60);
    while calls_of("ListDeploymentJobCert").len() < jobs as usize
        || calls_of("ListWorkerResource").len() < failing
    {
        assert!(Instant::now() < deadline, "listings never finished");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let url = exporter.url("/metrics");
    // Warm the cache and the connections.
    let (_, size) = scrape_latencies(&url).await;
    let body = gzip_body(&reqwest::Client::new(), &url).await;
    let body_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(body_file.path(), &body).unwrap();
    let mut baseline_server = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--serve-static", body_file.path().to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the benchmark runs itself as the static server");
    let mut address = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(baseline_server.stdout.take().unwrap()),
        &mut address,
    )
    .unwrap();
    let static_url = format!("http://{}/metrics", address.trim());
    let _ = scrape_latencies(&static_url).await;
    // Rounds taken in turn, so that a noisy moment of the machine hits both alike.
    let (mut ours, mut baseline) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        ours.extend(scrape_latencies(&url).await.0);
        baseline.extend(scrape_latencies(&static_url).await.0);
    }
    ours.sort();
    baseline.sort();
    drop(baseline_server.stdin.take());
    let _ = baseline_server.wait();
    let worker_calls = calls_of("ListWorkerResource");
    let listed_jobs: std::collections::BTreeSet<u64> = worker_calls.iter().copied().collect();
    let peak_rss_kb = status_kb(pid, "VmHWM:");
    let rss_kb = status_kb(pid, "VmRSS:");
    // Asked last: the plain text is then kept beside the compressed one.
    let plain_text = exporter.get("/metrics").await.1;
    let plain = plain_text.len();
    let worker_series = plain_text
        .lines()
        .filter(|l| l.starts_with("aliyun_cas_deployment_job_worker_info{"))
        .count();

    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "e2e benchmark: {jobs} jobs x 3 products, limit {RATE} calls/s, 5 ms added latency, {cpus} CPUs"
    );
    println!();
    println!("| figure | value | goal |");
    println!("|---|---|---|");
    println!(
        "| first sweep: first to last poll | {:.3} s | within 5% of {:.3} s (jobs / limit): {:+.1}% |",
        sweep.as_secs_f64(),
        bound.as_secs_f64(),
        (sweep.as_secs_f64() / bound.as_secs_f64() - 1.0) * 100.0
    );
    println!(
        "| ready after start | {:.3} s | |",
        ready_after.as_secs_f64()
    );
    println!("| busiest second of polls | {busiest} calls | at most {RATE} |");
    println!("| polls answered other than OK | {throttled} | 0 |");
    println!(
        "| CPU per polled job (first sweep) | {:.1} us | |",
        cpu_sweep / jobs as f64 * 1e6
    );
    println!(
        "| scrape latency, median / p99 ({SCRAPERS} concurrent, {} scrapes, gzip body {:.2} MB) | {} / {} | |",
        ours.len(),
        size as f64 / 1e6,
        ms(quantile(&ours, 0.5)),
        ms(quantile(&ours, 0.99))
    );
    println!(
        "| static body, median / p99 | {} / {} | |",
        ms(quantile(&baseline, 0.5)),
        ms(quantile(&baseline, 0.99))
    );
    println!(
        "| ratio, median / p99 | {:.2} / {:.2} | at most 1.5 |",
        quantile(&ours, 0.5).as_secs_f64() / quantile(&baseline, 0.5).as_secs_f64(),
        quantile(&ours, 0.99).as_secs_f64() / quantile(&baseline, 0.99).as_secs_f64()
    );
    println!(
        "| plain text size (a client not asking for gzip) | {:.1} MB | |",
        plain as f64 / 1e6
    );
    println!(
        "| ListWorkerResource calls (limit {DETAIL_RATE}/s) | {} for {} jobs, {} with a failed worker; {worker_series} worker series | one per failing job, none for the others |",
        worker_calls.len(),
        listed_jobs.len(),
        failing
    );
    println!(
        "| ListDeploymentJobCert calls (limit {CERT_RATE}/s) | {} | one per job |",
        calls_of("ListDeploymentJobCert").len()
    );
    println!(
        "| exporter RSS: peak / now, gzip scrapes only, every listing done | {:.1} MB / {:.1} MB | peak under 40 MB |",
        peak_rss_kb as f64 / 1024.0,
        rss_kb as f64 / 1024.0
    );
}
