//! What the tests of the operations kit (alert rules, dashboard) and of the
//! formats share: the repository's files, the Prometheus tools, a real
//! Prometheus server, and the metric names a PromQL expression uses, judged
//! against docs/metrics.md.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A file of the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs a Prometheus tool; CI installs them (Debian's `prometheus` package).
pub fn tool(name: &str, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut command = Command::new(name);
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{name} is needed for this test ({e}); install Debian's `prometheus` package, as .ci/run does"));
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Every metric-looking name in a PromQL expression (`aliyun_cas_…` or `process_…`).
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts = (bytes[i].is_ascii_alphabetic() || bytes[i] == '_')
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == '_'));
        if starts {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == '_') {
                i += 1;
            }
            let word: String = bytes[start..i].iter().collect();
            if word.starts_with("aliyun_cas_") || word.starts_with("process_") {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// A documented family, allowing the histogram series suffixes.
pub fn is_documented(name: &str, table: &BTreeMap<String, (String, Vec<String>, String)>) -> bool {
    table.contains_key(name)
        || ["_bucket", "_sum", "_count"].iter().any(|s| {
            name.strip_suffix(s).is_some_and(|base| {
                table
                    .get(base)
                    .is_some_and(|(kind, _, _)| kind == "histogram")
            })
        })
}

/// A server process of a test (Prometheus, Alertmanager) with its scratch folder, stopped when dropped.
pub struct Daemon {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Owns `child` and the folder it works in.
    pub fn new(child: Child, dir: tempfile::TempDir) -> Self {
        Self { child, _dir: dir }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real Prometheus server on loopback, stopped when dropped.
pub struct Prometheus {
    _daemon: Daemon,
    url: String,
    /// The address of its first job, the `instance` label of the exporter's series.
    pub target: String,
}

impl Prometheus {
    /// Scrapes `target` every second as job `aliyun-cas-exporter` and evaluates `rules` every second.
    pub fn start(target: &str, rules: &str) -> Self {
        Self::with_jobs(&[("aliyun-cas-exporter", target)], rules)
    }

    /// Scrapes each `(job name, target)` every second and evaluates `rules` every second.
    pub fn with_jobs(jobs: &[(&str, &str)], rules: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("alerts.yml"), rules).unwrap();
        let scrape_configs: String = jobs
            .iter()
            .map(|(job, target)| {
                format!("  - job_name: {job}\n    static_configs: [{{targets: ['{target}']}}]\n")
            })
            .collect();
        std::fs::write(
            dir.path().join("prometheus.yml"),
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [alerts.yml]\nscrape_configs:\n{scrape_configs}"
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is needed for this test; install Debian's `prometheus` package, as scripts/test does");
        Self {
            _daemon: Daemon::new(child, dir),
            url: format!("http://127.0.0.1:{port}"),
            target: jobs[0].1.to_owned(),
        }
    }

    async fn get(&self, path: &str) -> Option<Value> {
        let response = reqwest::get(format!("{}{path}", self.url)).await.ok()?;
        serde_json::from_str(&response.text().await.ok()?).ok()
    }

    /// Instant query: labels and value of each series.
    pub async fn query(&self, expr: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let encoded: String = form_urlencoded::byte_serialize(expr.as_bytes()).collect();
        let Some(answer) = self.get(&format!("/api/v1/query?query={encoded}")).await else {
            return Vec::new();
        };
        answer["data"]["result"]
            .as_array()
            .map(|series| {
                series
                    .iter()
                    .map(|s| {
                        let labels = serde_json::from_value(s["metric"].clone()).unwrap();
                        (labels, s["value"][1].as_str().unwrap().parse().unwrap())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The firing alerts, as /api/v1/alerts describes them.
    pub async fn alerts(&self) -> Vec<Value> {
        let Some(answer) = self.get("/api/v1/alerts").await else {
            return Vec::new();
        };
        answer["data"]["alerts"]
            .as_array()
            .map(|alerts| {
                alerts
                    .iter()
                    .filter(|a| a["state"] == "firing")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The label sets of the firing alerts.
    pub async fn firing(&self) -> BTreeSet<BTreeMap<String, String>> {
        self.alerts()
            .await
            .iter()
            .filter_map(|a| serde_json::from_value(a["labels"].clone()).ok())
            .collect()
    }
}
