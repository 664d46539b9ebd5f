//! The two exposition formats of `/metrics` against third-party judges: the
//! strict parsers of Python's prometheus_client, promtool, and a real
//! Prometheus scraping the demo in each format; and the negotiation headers.

use crate::support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Exporter, Prometheus, tool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What Prometheus 2.x (and 3.x by default) sends.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
const OPENMETRICS_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Parses stdin with prometheus_client's parser for the format named by the
/// first argument, which raises on anything the format does not allow, and
/// prints each family's name, type and unit.
const PARSE: &str = r#"
import sys
if sys.argv[1] == "openmetrics":
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
else:
    from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    print(family.name, family.type, family.unit or "-")
"#;

/// Each family of `body` as `name type unit`, as prometheus_client reads it in
/// `format` ("openmetrics" or "text"); panics with the parser's message on any error.
fn parsed_families(format: &str, body: &str) -> Vec<String> {
    // Debian's interpreter, where python3-prometheus-client installs the module
    // (a python3 earlier on PATH may be another installation without it).
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", PARSE, format])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 is needed for this test; install Debian's python3-prometheus-client, as scripts/test does");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "prometheus_client's {format} parser refused the body: {}\n(install Debian's python3-prometheus-client if the module is missing)\n{body}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// GETs `/metrics` with these request headers: the response's headers (names in lower case) and body bytes.
async fn scrape(
    exporter: &Exporter,
    headers: &[(&str, &str)],
) -> (BTreeMap<String, String>, Vec<u8>) {
    let mut request = reqwest::Client::new().get(exporter.url("/metrics"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("exporter answers");
    assert_eq!(response.status(), 200);
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap().to_owned()))
        .collect();
    (headers, response.bytes().await.unwrap().to_vec())
}

async fn scrape_text(exporter: &Exporter, accept: &str) -> (BTreeMap<String, String>, String) {
    let (headers, body) = scrape(exporter, &[("accept", accept)]).await;
    (headers, String::from_utf8(body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_formats_of_the_demo_pass_strict_parsers_with_the_same_families() {
    let exporter = Exporter::start(&["--demo"], &[]);
    exporter.wait_ready().await;
    // A self-metric family (a first retry, say) may appear between two scrapes: take the
    // OpenMetrics scrape between two text scrapes that agree.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (text, openmetrics, text_families, openmetrics_families) = loop {
        let (text_headers, text) = scrape_text(&exporter, "text/plain;version=0.0.4").await;
        let (om_headers, openmetrics) = scrape_text(&exporter, PROMETHEUS_ACCEPT).await;
        let (_, again) = scrape_text(&exporter, "text/plain;version=0.0.4").await;
        assert_eq!(text_headers["content-type"], TEXT_TYPE);
        assert_eq!(om_headers["content-type"], OPENMETRICS_TYPE);
        let text_families = parsed_families("text", &text);
        let openmetrics_families = parsed_families("openmetrics", &openmetrics);
        if text_families == parsed_families("text", &again) || Instant::now() > deadline {
            break (text, openmetrics, text_families, openmetrics_families);
        }
    };
    let (ok, lint) = tool("promtool", &["check", "metrics"], Some(&text));
    assert!(
        ok && lint.trim().is_empty(),
        "promtool check metrics: {lint}"
    );
    assert!(openmetrics.ends_with("\n# EOF\n"));
    assert!(!text.contains("# EOF"));

    // The same families, the same types; OpenMetrics declares the units.
    let without_unit = |families: &[String]| -> Vec<String> {
        families
            .iter()
            .map(|f| f.rsplit_once(' ').unwrap().0.to_owned())
            .collect()
    };
    assert_eq!(
        without_unit(&openmetrics_families),
        without_unit(&text_families)
    );
    assert!(text_families.len() >= 40, "{text_families:#?}");
    assert!(text_families.iter().all(|f| f.ends_with(" -")));
    for family in [
        "aliyun_cas_api_requests counter -",
        "aliyun_cas_api_rate_limit_wait_seconds counter seconds",
        "aliyun_cas_api_request_duration_seconds histogram seconds",
        "aliyun_cas_certificate_not_after_timestamp_seconds gauge seconds",
        "aliyun_cas_deployment_job_info gauge -",
        "aliyun_cas_deployment_job_failed_workers gauge -",
        "process_cpu_seconds counter seconds",
        "process_resident_memory_bytes gauge bytes",
    ] {
        assert!(
            openmetrics_families.iter().any(|f| f == family),
            "{family} in {openmetrics_families:#?}"
        );
    }
    // Counters: the family without `_total`, the samples with it.
    assert!(openmetrics.contains("\n# TYPE aliyun_cas_api_requests counter\n"));
    assert!(openmetrics.contains("\naliyun_cas_api_requests_total{"));
    assert!(text.contains("\n# TYPE aliyun_cas_api_requests_total counter\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answers_negotiate_format_and_coding_and_vary_on_both() {
    let exporter = Exporter::start(&["--demo"], &[]);
    exporter.wait_ready().await;
    // (Accept, Accept-Encoding, gzipped, OpenMetrics)
    let cases = [
        (None, None, false, false),
        (Some(PROMETHEUS_ACCEPT), Some("gzip"), true, true),
        (Some(PROMETHEUS_ACCEPT), Some("GZip"), true, true),
        (Some(PROMETHEUS_ACCEPT), Some("gzip;q=0"), false, true),
        (Some(PROMETHEUS_ACCEPT), Some("*"), true, true),
        (Some(PROMETHEUS_ACCEPT), Some("gzip;q=0, *"), false, true),
        (Some(PROMETHEUS_ACCEPT), Some("identity;q=0"), false, true),
        (
            Some(PROMETHEUS_ACCEPT),
            Some("br, x-gzip;q=0.5"),
            true,
            true,
        ),
        (Some("text/plain;version=0.0.4"), Some("gzip"), true, false),
        (Some("*/*"), Some("deflate"), false, false),
        (
            Some("application/openmetrics-text;version=0.0.1"),
            None,
            false,
            false,
        ),
        (
            Some("application/openmetrics-text; version=1.0.0;q=0.2, text/plain;q=0.9"),
            None,
            false,
            false,
        ),
        (Some("application/json"), Some("gzip"), true, false),
    ];
    for (accept, encoding, gzipped, openmetrics) in cases {
        let mut headers = Vec::new();
        headers.extend(accept.map(|a| ("accept", a)));
        headers.extend(encoding.map(|e| ("accept-encoding", e)));
        let (answer, body) = scrape(&exporter, &headers).await;
        let case = format!("Accept: {accept:?}, Accept-Encoding: {encoding:?}");
        assert_eq!(answer["vary"], "Accept, Accept-Encoding", "{case}");
        assert_eq!(
            answer.get("content-encoding").map(String::as_str),
            gzipped.then_some("gzip"),
            "{case}"
        );
        assert_eq!(
            answer["content-type"],
            if openmetrics {
                OPENMETRICS_TYPE
            } else {
                TEXT_TYPE
            },
            "{case}"
        );
        let text = if gzipped {
            let mut text = String::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_string(&mut text)
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            text
        } else {
            String::from_utf8(body).unwrap()
        };
        assert_eq!(text.ends_with("\n# EOF\n"), openmetrics, "{case}");
        assert!(
            text.contains(
                "aliyun_cas_deployment_job_up{account=\"default\",job_id=\"100002\"} 1\n"
            ),
            "{case}"
        );
    }
    let head = reqwest::Client::new()
        .head(exporter.url("/metrics"))
        .header("accept", PROMETHEUS_ACCEPT)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(head.headers()["vary"], "Accept, Accept-Encoding");
    assert_eq!(head.headers()["content-type"], OPENMETRICS_TYPE);
    assert_eq!(head.headers()["content-encoding"], "gzip");
}

/// A loopback HTTP proxy in front of `upstream`, one request a connection: it
/// replaces the scraper's `Accept` with `accept` when given, and records each
/// request's `Accept` and the answer's `Content-Type`. Prometheus 2.42, the
/// version Debian ships, has no `scrape_protocols` (2.49 added it) and always
/// asks for OpenMetrics first: this is how it is made to scrape the text format.
struct Proxy {
    address: String,
    seen: Arc<Mutex<Vec<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String, accept: Option<&'static str>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, record) = (upstream.clone(), Arc::clone(&record));
                tokio::spawn(async move {
                    let _ = relay(client, &upstream, accept, &record).await;
                });
            }
        });
        Self {
            address,
            seen,
            task,
        }
    }

    /// Each request's `Accept` and the `Content-Type` of its answer, so far.
    fn seen(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The value of header `name` in an HTTP head.
fn header_value(head: &str, name: &str) -> String {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
}

/// Relays one GET (no body) with `Accept` replaced, and its answer up to the upstream's close.
async fn relay(
    mut client: TcpStream,
    upstream: &str,
    accept: Option<&str>,
    record: &Mutex<Vec<(String, String)>>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await? == 0 || head.len() > 16 << 10 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut request = String::new();
    for line in head.trim_end().split("\r\n") {
        let name = line.split(':').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("connection")
            || (accept.is_some() && name.eq_ignore_ascii_case("accept"))
        {
            continue;
        }
        request.push_str(line);
        request.push_str("\r\n");
    }
    if let Some(accept) = accept {
        request.push_str(&format!("Accept: {accept}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).await?;
    let answer_head = String::from_utf8_lossy(&answer[..answer.len().min(4096)]).into_owned();
    record.lock().unwrap().push((
        header_value(&request, "accept"),
        header_value(
            answer_head.split("\r\n\r\n").next().unwrap_or_default(),
            "content-type",
        ),
    ));
    client.write_all(&answer).await?;
    client.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_reads_the_same_series_from_both_formats() {
    let _heavy = support::heavy().await;
    let exporter = Exporter::start(&["--demo"], &[]);
    exporter.wait_ready().await;
    let upstream = exporter.address.to_string();
    let as_asked = Proxy::start(upstream.clone(), None).await;
    let text_only = Proxy::start(upstream, Some("text/plain;version=0.0.4")).await;
    let prometheus = Prometheus::with_jobs(
        &[
            ("openmetrics", as_asked.address.as_str()),
            ("text", text_only.address.as_str()),
        ],
        "groups: []\n",
    );
    let by_job = |series: Vec<(BTreeMap<String, String>, f64)>| {
        series
            .into_iter()
            .map(|(mut labels, value)| {
                let job = labels.remove("job").unwrap_or_default();
                labels.remove("instance");
                (job, (labels, value))
            })
            .fold(BTreeMap::<String, Vec<_>>::new(), |mut jobs, (job, s)| {
                jobs.entry(job).or_default().push(s);
                jobs
            })
    };
    // The demo's jobs move on every few seconds and the two jobs are scraped at
    // different instants: wait for two scrapes that saw the same values.
    let queries = [
        "up",
        "aliyun_cas_deployment_job_failed_workers",
        "aliyun_cas_deployment_job_info",
        "aliyun_cas_certificate_not_after_timestamp_seconds",
        "count by (job) ({__name__=~\"aliyun_cas_deployment_job_.+\"})",
    ];
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut answers = Vec::new();
    loop {
        answers.clear();
        for query in queries {
            answers.push((query, by_job(prometheus.query(query).await)));
        }
        let agree = answers
            .iter()
            .all(|(_, jobs)| jobs.len() == 2 && jobs.get("openmetrics") == jobs.get("text"));
        if agree || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for (query, jobs) in &answers {
        assert_eq!(jobs.len(), 2, "{query}: {jobs:#?}");
        assert_eq!(jobs.get("openmetrics"), jobs.get("text"), "{query}");
    }
    let up = &answers[0].1["openmetrics"];
    let up_labels: BTreeMap<String, String> = [("__name__".to_owned(), "up".to_owned())].into();
    assert_eq!(up, &vec![(up_labels, 1.0)], "up in both jobs");
    let failed = &answers[1].1["openmetrics"];
    assert!(
        failed
            .iter()
            .any(|(labels, _)| labels["job_id"] == "100002"),
        "{failed:?}"
    );
    // Prometheus asked as it always does, and got what each side asked for.
    for (proxy, accept, content_type) in [
        (&as_asked, PROMETHEUS_ACCEPT, OPENMETRICS_TYPE),
        (&text_only, "text/plain;version=0.0.4", TEXT_TYPE),
    ] {
        let seen = proxy.seen();
        assert!(!seen.is_empty());
        for (asked, got) in seen {
            assert_eq!((asked.as_str(), got.as_str()), (accept, content_type));
        }
    }
}
