//! Scrapes: the cached gzip exposition against a static copy of it served by the
//! same HTTP stack in a process of its own, and the plain text rendered on demand.

use crate::support::Exporter;
use aliyun_cas_exporter::body::Chunks;
use aliyun_cas_exporter::http::serve::{ConnectionLimits, Handler, serve};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Concurrent scrapers, as several Prometheus servers might be.
pub const SCRAPERS: usize = 4;
const SCRAPES_EACH: usize = 50;
const ROUNDS: usize = 5;
/// The argument that makes the benchmark serve a static body instead.
pub const SERVE_STATIC: &str = "--serve-static";

/// Scrape latencies of the exporter and of the static body, each sorted.
pub struct Latencies {
    /// The exporter's.
    pub ours: Vec<Duration>,
    /// The static body's.
    pub baseline: Vec<Duration>,
    /// The gzip body's size in bytes.
    pub size: usize,
}

impl Latencies {
    /// The ratio of the exporter's latency to the static body's at quantile `q`.
    pub fn ratio(&self, q: f64) -> f64 {
        quantile(&self.ours, q).as_secs_f64() / quantile(&self.baseline, q).as_secs_f64()
    }
}

/// The element at quantile `q` of a sorted slice.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
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
pub async fn gzip_body(client: &reqwest::Client, url: &str) -> Bytes {
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

/// Scrapes the exporter and a static copy of its body in alternating rounds.
pub async fn compare(exporter: &Exporter) -> Latencies {
    let url = exporter.url("/metrics");
    // Warm the cache and the connections.
    let (_, size) = scrape_latencies(&url).await;
    let body = gzip_body(&reqwest::Client::new(), &url).await;
    let body_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(body_file.path(), &body).unwrap();
    let mut baseline_server = Command::new(std::env::current_exe().unwrap())
        .args([SERVE_STATIC, body_file.path().to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the benchmark runs itself as the static server");
    let mut address = String::new();
    std::io::BufReader::new(baseline_server.stdout.take().unwrap())
        .read_line(&mut address)
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
    Latencies {
        ours,
        baseline,
        size,
    }
}

/// The plain text, which the exporter renders when a client first asks for it.
pub struct PlainText {
    /// The first scrape without gzip: rendering and sending.
    pub first: Duration,
    /// The next one, from the cache: sending only.
    pub cached: Duration,
    /// Its size in bytes.
    pub size: usize,
    /// Worker series in it.
    pub worker_series: usize,
}

impl PlainText {
    /// What rendering took: the first scrape less the cached one.
    pub fn render(&self) -> Duration {
        self.first.saturating_sub(self.cached)
    }
}

/// Scrapes the plain text twice. Ask it last: the exporter keeps it beside the gzip body.
pub async fn plain_text(exporter: &Exporter) -> PlainText {
    let started = Instant::now();
    let text = exporter.get("/metrics").await.1;
    let first = started.elapsed();
    let started = Instant::now();
    exporter.get("/metrics").await;
    let cached = started.elapsed();
    PlainText {
        first,
        cached,
        size: text.len(),
        worker_series: text
            .lines()
            .filter(|l| l.starts_with("aliyun_cas_deployment_job_worker_info{"))
            .count(),
    }
}

/// `--serve-static FILE`: serves FILE's bytes as a gzip exposition on a loopback port
/// (printed on stdout) until stdin closes. Run as a child of the benchmark, so that
/// the baseline, like the exporter, is a process of its own.
pub async fn serve_static(file: &str) {
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
