//! Shared test harness: a simulator on loopback, the real exporter binary
//! started against it, builders of the files both read, a parser for what
//! `/metrics` serves, the lock that keeps heavy tests away from
//! timing-sensitive ones, and what the operations kit's tests share.

mod ops;
mod yaml;

pub use ops::{Daemon, Prometheus, free_port, is_documented, metric_names, repo, tool};
pub use yaml::{ConfigBuilder, SimSpec};

use aliyun_cas_exporter::simulator::{LoggedRequest, Simulator, SimulatorSpec};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The AccessKey ID every test signs with.
pub const KEY_ID: &str = "LTAItestkey0001";
/// A recognisable secret: no output may ever contain it.
pub const SECRET: &str = "SeCrEt-canary-7f3e1c9a-do-not-print";
/// A recognisable STS token with characters that change under encoding.
pub const TOKEN: &str = "CAIS+tOkEn/canary=5d2b&x";
/// The environment that gives the exporter the simulator's key ([`KEY_ID`], [`SECRET`]).
pub const KEY_ENV: [(&str, &str); 2] = [
    ("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID),
    ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET),
];

/// The spec's sample job (section 6) as a simulator job entry, indented for a `jobs:` list.
pub const SAMPLE_JOB: &str = "  - id: 8888
    name: cdn-renew
    cert_domain: www.example.com
    workers: {CDN: 12, SLB: 8}
    outcomes: {succeeded: 17, failed: 2, rollback_succeeded: 1}
    resources: 4127
    used_resources: 300
    purchased_resources: 500
    consumed_resources: 20
    certificates: 2
";

/// The spec's DescribeDeploymentJobStatus sample answer, which `SAMPLE_JOB` reproduces.
pub const SAMPLE_STATUS_JSON: &str = r#"{"RequestId":"CBF1E9B7-D6A0-4E9E-AD3E-2B47E6C2837D","ResourceCount":4127,"UseCount":300,"BuyCount":500,
 "WorkerCount":20,"MatchWorkerCount":20,"SuccessCount":17,"FailedCount":2,"RollbackCount":1,
 "RollbackSuccessCount":1,"RollbackFailedCount":0,"CostCount":20,"CertCount":2,
 "ProductWorkerCount":[{"ProductName":"CDN","Count":12},{"ProductName":"SLB","Count":8}]}"#;

/// The exporter binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_aliyun-cas-exporter");

/// All integration tests share one process and run in parallel. Most do not
/// notice their neighbours, but a few keep a core busy for seconds (measured
/// alone: 2 s of CPU or more, the exporter's and tools' included), and two
/// must not run beside them: the rate limit's test judges arrival times at the
/// simulator to within 15 ms, and the soak's counts of calls on both sides
/// came apart beside them. Heavy tests share this lock, a timing-sensitive
/// test takes it alone; it is fair, so a waiting timing-sensitive test is not
/// starved by heavy ones.
static MACHINE: RwLock<()> = RwLock::const_new(());

/// Held for the whole of a test that keeps a core busy for seconds.
pub async fn heavy() -> RwLockReadGuard<'static, ()> {
    MACHINE.read().await
}

/// `heavy`, for a test without a runtime.
pub fn heavy_blocking() -> RwLockReadGuard<'static, ()> {
    MACHINE.blocking_read()
}

/// Held for the whole of a test that heavy neighbours can make fail: none runs
/// meanwhile.
pub async fn timing_sensitive() -> RwLockWriteGuard<'static, ()> {
    MACHINE.write().await
}

/// Parses a simulator spec or panics with the reason.
pub fn spec(yaml: &str) -> SimulatorSpec {
    SimulatorSpec::parse(yaml, "test spec").expect("test spec is valid")
}

/// Starts a simulator on a free loopback port.
pub async fn simulator(yaml: &str) -> Simulator {
    Simulator::start(spec(yaml), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("simulator starts")
}

/// A config file in a temporary directory that lives as long as the value.
pub struct ConfigFile {
    _dir: tempfile::TempDir,
    /// Its path.
    pub path: PathBuf,
}

/// Writes `text` to a fresh `config.yaml`.
pub fn config_file(text: &str) -> ConfigFile {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, text).expect("write config");
    ConfigFile { _dir: dir, path }
}

/// A command for the binary with a clean credentials environment.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BINARY);
    command.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("ALIBABA_CLOUD_") {
            command.env_remove(name);
        }
    }
    // Tests never reach the real metadata service or the user's own credential files.
    command.env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true");
    command.env("HOME", empty_home());
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// An empty home directory, so that `~/.aliyun` and `~/.alibabacloud` of the machine are never read.
pub fn empty_home() -> PathBuf {
    let home = std::env::temp_dir().join("aliyun-cas-exporter-test-home");
    std::fs::create_dir_all(&home).expect("test home");
    home
}

/// Runs the binary to completion and returns its status, stdout and stderr.
pub fn run_to_end(args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String, String) {
    let output = command(args, env)
        .stdin(Stdio::null())
        .output()
        .expect("binary runs");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A running exporter process; killed when dropped.
pub struct Exporter {
    child: Child,
    /// Where it listens.
    pub address: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
    http: reqwest::Client,
}

impl Exporter {
    /// Starts the exporter with `args` (a loopback listen address is added) and waits until it listens.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut all: Vec<&str> = args.to_vec();
        all.push("--web.listen-address=127.0.0.1:0");
        Self::spawn(&all, env)
    }

    /// Starts the exporter on `cfg` with the lifecycle API on and the test key, and waits until it is ready.
    pub async fn reloadable(cfg: &ConfigFile) -> Self {
        let path = cfg.path.to_str().unwrap();
        let exporter = Self::start(&["--config.file", path, "--web.enable-lifecycle"], &KEY_ENV);
        exporter.wait_ready().await;
        exporter
    }

    /// Starts the binary with exactly `args` and waits for its "listening" log line.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = command(args, env)
            .stdin(Stdio::null())
            // Nothing reads what it prints there: its logs go to stderr.
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary starts");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let err_pipe = child.stderr.take().expect("stderr piped");
        let lines = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(err_pipe).lines().map_while(Result::ok) {
                if let Some(address) = listening_address(&line) {
                    let _ = tx.send(address);
                }
                lines.lock().unwrap().push(line);
            }
        });
        let address = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(address) => address.parse().expect("listen address"),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "exporter did not start listening; stderr:\n{}",
                    stderr.lock().unwrap().join("\n")
                );
            }
        };
        Self {
            child,
            address,
            stderr,
            http: reqwest::Client::new(),
        }
    }

    /// The process ID, to send it signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every stderr line so far.
    pub fn logs(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// GETs `path`: status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(self.url(path))
            .send()
            .await
            .expect("exporter answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// POSTs `/-/reload`: status and body.
    pub async fn reload(&self) -> (u16, String) {
        let response = self
            .http
            .post(self.url("/-/reload"))
            .send()
            .await
            .expect("exporter answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// The parsed `/metrics`.
    pub async fn metrics(&self) -> Metrics {
        let (status, body) = self.get("/metrics").await;
        assert_eq!(status, 200, "{body}");
        Metrics::parse(&body)
    }

    /// Scrapes until `done` holds, or panics after `limit` with the last scrape.
    pub async fn wait_for(
        &self,
        limit: Duration,
        what: &str,
        done: impl Fn(&Metrics) -> bool,
    ) -> Metrics {
        let deadline = Instant::now() + limit;
        loop {
            let metrics = self.metrics().await;
            if done(&metrics) {
                return metrics;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; last scrape:\n{}\nlogs:\n{}",
                    metrics.text,
                    self.logs().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `/-/ready` answers 200.
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.get("/-/ready").await.0 != 200 {
            assert!(
                Instant::now() < deadline,
                "never ready; logs:\n{}",
                self.logs().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until a log line contains every one of `parts`, and returns it.
    pub async fn wait_for_log(&self, parts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(line) = self
                .logs()
                .into_iter()
                .find(|l| parts.iter().all(|p| l.contains(p)))
            {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {parts:?}; logs:\n{}",
                self.logs().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(mut self) -> (ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                std::thread::sleep(Duration::from_millis(100));
                return (status, self.logs());
            }
            assert!(Instant::now() < deadline, "did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address of the "listening" line, in logfmt or JSON.
fn listening_address(line: &str) -> Option<String> {
    if line.contains(" msg=listening ") {
        return field(line, "address");
    }
    let json: serde_json::Value = serde_json::from_str(line).ok()?;
    (json["msg"] == "listening").then(|| json["address"].as_str().map(str::to_owned))?
}

/// The value of `key` in a logfmt line, unquoted and unescaped.
pub fn field(line: &str, key: &str) -> Option<String> {
    logfmt(line)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// A logfmt line's pairs in order, read as log pipelines read them: a quoted
/// value ends at the first unescaped `"`, and `\"`, `\\`, `\n`, `\r`, `\t`
/// and `\uXXXX` are its only escapes.
pub fn logfmt(line: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut chars = line.trim_end().chars().peekable();
    loop {
        while chars.next_if_eq(&' ').is_some() {}
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ' ')).collect();
        if key.is_empty() || chars.next_if_eq(&'=').is_none() {
            return pairs;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('n') => value.push('\n'),
                        Some('r') => value.push('\r'),
                        Some('t') => value.push('\t'),
                        Some('u') => {
                            let hex: String = chars.by_ref().take(4).collect();
                            let code = u32::from_str_radix(&hex, 16).ok();
                            value.extend(code.and_then(char::from_u32));
                        }
                        Some(other) => value.push(other),
                        None => {}
                    },
                    c => value.push(c),
                }
            }
        } else {
            value.extend(std::iter::from_fn(|| chars.next_if(|c| *c != ' ')));
        }
        pairs.push((key, value));
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// A parsed exposition.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// The text as served.
    pub text: String,
    /// Samples in order.
    pub samples: Vec<Sample>,
    /// HELP by family.
    pub help: BTreeMap<String, String>,
    /// TYPE by family.
    pub types: BTreeMap<String, String>,
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let eq = rest.find("=\"").expect("label =");
        let name = rest[..eq].trim_start_matches(',').to_owned();
        let mut value = String::new();
        let mut chars = rest[eq + 2..].char_indices();
        let mut end = 0;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => {}
                },
                '"' => {
                    end = eq + 2 + i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.insert(name, value);
        rest = &rest[end..];
    }
    labels
}

impl Metrics {
    /// Parses the text format.
    pub fn parse(text: &str) -> Self {
        let mut metrics = Metrics {
            text: text.to_owned(),
            ..Default::default()
        };
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("help text");
                metrics.help.insert(name.to_owned(), help.to_owned());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("type");
                metrics.types.insert(name.to_owned(), kind.to_owned());
            } else if !line.is_empty() && !line.starts_with('#') {
                let (series, value) = line.rsplit_once(' ').expect("sample value");
                let (name, labels) = match series.split_once('{') {
                    Some((name, labels)) => (name, parse_labels(labels.trim_end_matches('}'))),
                    None => (series, BTreeMap::new()),
                };
                let value = match value {
                    "+Inf" => f64::INFINITY,
                    "-Inf" => f64::NEG_INFINITY,
                    v => v.parse().expect("numeric sample"),
                };
                metrics.samples.push(Sample {
                    name: name.to_owned(),
                    labels,
                    value,
                });
            }
        }
        metrics
    }

    /// The value of the series `name` with exactly `labels`.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == wanted)
            .map(|s| s.value)
    }

    /// Every sample of `name` whose labels include `labels`.
    pub fn matching(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// Whether any series of `name` carries `job_id`.
    pub fn has_job_series(&self, name: &str, job_id: u64) -> bool {
        !self
            .matching(name, &[("job_id", &job_id.to_string())])
            .is_empty()
    }

    /// The IDs of the jobs served (those with an `aliyun_cas_deployment_job_up` series).
    pub fn served_jobs(&self) -> Vec<String> {
        self.matching("aliyun_cas_deployment_job_up", &[])
            .iter()
            .map(|s| s.labels["job_id"].clone())
            .collect()
    }

    /// `aliyun_cas_exporter_jobs` of the account `default` from `source` (`static`, `discovered`).
    pub fn jobs_from(&self, source: &str) -> Option<f64> {
        self.get(
            "aliyun_cas_exporter_jobs",
            &[("account", "default"), ("source", source)],
        )
    }
}

/// The rows of the metric table in `docs/metrics.md`: name → (type, labels, help).
pub fn documented_metrics() -> BTreeMap<String, (String, Vec<String>, String)> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md"))
            .expect("docs/metrics.md");
    let mut rows = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(cells.len(), 5, "table row {line}");
        let name = cells[0].trim_matches('`').to_owned();
        let labels = if cells[2] == "—" {
            Vec::new()
        } else {
            cells[2]
                .split(", ")
                .map(|l| l.trim_matches('`').to_owned())
                .collect()
        };
        rows.insert(name, (cells[1].to_owned(), labels, cells[4].to_owned()));
    }
    rows
}

/// `count` jobs from `first`, one worker each, finished, named `job-<id>`.
pub fn job_list(first: u64, count: u64) -> String {
    (first..first + count)
        .map(|id| format!("  - {{id: {id}, name: job-{id}, workers: {{CDN: 1}}, outcomes: {{succeeded: 1}}}}\n"))
        .collect()
}

/// The DescribeDeploymentJobStatus requests of a log.
pub fn status_polls(log: &[LoggedRequest]) -> Vec<&LoggedRequest> {
    log.iter()
        .filter(|r| r.param("Action") == Some("DescribeDeploymentJobStatus"))
        .collect()
}

/// The most requests of `action` that arrived within any one second.
pub fn busiest_second(log: &[LoggedRequest], action: &str) -> usize {
    // The log is appended as answers are decided, not quite in arrival order.
    let mut times: Vec<_> = log
        .iter()
        .filter(|r| r.param("Action") == Some(action))
        .map(|r| r.at)
        .collect();
    times.sort();
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| t.duration_since(times[i]) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// How many jobs show `up` with `value`.
pub fn up_count(m: &Metrics, value: f64) -> usize {
    m.matching("aliyun_cas_deployment_job_up", &[])
        .iter()
        .filter(|s| s.value == value)
        .count()
}

/// Each worker series as `job worker status product region instance resource cloud`.
pub fn worker_series(m: &Metrics) -> BTreeSet<String> {
    m.matching("aliyun_cas_deployment_job_worker_info", &[])
        .into_iter()
        .map(|s| {
            let l = &s.labels;
            format!(
                "{} {} {} {} {} {} {} {}",
                l["job_id"],
                l["worker_id"],
                l["status"],
                l["product"],
                l["region"],
                l["instance_id"],
                l["resource"],
                l["cloud"]
            )
            .trim_end()
            .to_owned()
        })
        .collect()
}
