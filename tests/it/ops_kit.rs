//! The operations kit checked with real Prometheus tooling: the alert rules
//! and their unit tests (promtool), the generated PrometheusRule, the
//! exposition's lint, and a real Prometheus server that scrapes the exporter
//! and evaluates the rules end to end. The dashboard has its own module.

use crate::support;

use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{
    ConfigBuilder, Exporter, KEY_ENV, KEY_ID, SECRET, SimSpec, documented_metrics, is_documented,
    metric_names, repo, tool,
};

#[test]
fn alert_rules_are_valid_and_their_unit_tests_pass() {
    let rules = repo("deploy/prometheus/alerts.yml");
    let (ok, out) = tool(
        "promtool",
        &["check", "rules", rules.to_str().unwrap()],
        None,
    );
    assert!(ok, "{out}");
    let tests = repo("tests/prometheus/alerts_test.yml");
    let (ok, out) = tool(
        "promtool",
        &["test", "rules", tests.to_str().unwrap()],
        None,
    );
    assert!(ok, "{out}");
}

#[test]
fn alert_rules_use_only_documented_metrics() {
    let rules: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo("deploy/prometheus/alerts.yml")).unwrap(),
    )
    .unwrap();
    let table = documented_metrics();
    let groups = rules["groups"].as_sequence().unwrap();
    assert_eq!(groups.len(), 1, "one group");
    for rule in groups[0]["rules"].as_sequence().unwrap() {
        let name = rule["alert"].as_str().unwrap();
        assert!(name.starts_with("AliyunCas"), "{name}");
        assert!(
            ["critical", "warning", "info"].contains(&rule["labels"]["severity"].as_str().unwrap()),
            "{name}"
        );
        for annotation in ["summary", "description", "runbook_url"] {
            assert!(
                rule["annotations"][annotation]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
                "{name} {annotation}"
            );
        }
        let anchor = rule["annotations"]["runbook_url"]
            .as_str()
            .unwrap()
            .rsplit_once('#')
            .unwrap()
            .1
            .to_owned();
        let runbook = std::fs::read_to_string(repo("docs/runbook.md")).unwrap();
        assert!(
            runbook
                .lines()
                .any(|l| l.trim_start_matches('#').trim().to_lowercase() == anchor),
            "{name}: no runbook section #{anchor}"
        );
        for metric in metric_names(rule["expr"].as_str().unwrap()) {
            assert!(
                is_documented(&metric, &table),
                "{name} uses {metric}, which docs/metrics.md does not list"
            );
        }
    }
}

#[test]
fn the_prometheusrule_is_generated_from_the_alert_rules() {
    let alerts: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo("deploy/prometheus/alerts.yml")).unwrap(),
    )
    .unwrap();
    let rule: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo("deploy/kubernetes/prometheusrule.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(rule["kind"], "PrometheusRule");
    assert_eq!(
        rule["spec"]["groups"], alerts["groups"],
        "deploy/kubernetes/prometheusrule.yaml is out of date: regenerate it as README (Alert rules) says"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real Prometheus server on loopback, stopped when dropped.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Scrapes `target` every second and evaluates `rules` every second.
    fn start(target: &str, rules: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("alerts.yml"), rules).unwrap();
        std::fs::write(
            dir.path().join("prometheus.yml"),
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [alerts.yml]\nscrape_configs:\n  - job_name: aliyun-cas-exporter\n    static_configs: [{{targets: ['{target}']}}]\n"
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
            .expect("prometheus is needed for this test; install Debian's `prometheus` package, as .ci/run does");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    async fn get(&self, path: &str) -> Option<Value> {
        let response = reqwest::get(format!("{}{path}", self.url)).await.ok()?;
        serde_json::from_str(&response.text().await.ok()?).ok()
    }

    /// Instant query: labels and value of each series.
    async fn query(&self, expr: &str) -> Vec<(BTreeMap<String, String>, f64)> {
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

    /// The label sets of the firing alerts.
    async fn firing(&self) -> BTreeSet<BTreeMap<String, String>> {
        let Some(answer) = self.get("/api/v1/alerts").await else {
            return BTreeSet::new();
        };
        answer["data"]["alerts"]
            .as_array()
            .map(|alerts| {
                alerts
                    .iter()
                    .filter(|a| a["state"] == "firing")
                    .filter_map(|a| serde_json::from_value(a["labels"].clone()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The alert rules with every `for:` shortened to a second, for a test that cannot wait minutes.
fn quick_rules() -> String {
    let text = std::fs::read_to_string(repo("deploy/prometheus/alerts.yml")).unwrap();
    text.lines()
        .map(|line| match line.trim_start().strip_prefix("for:") {
            Some(_) => format!("{}for: 1s", &line[..line.len() - line.trim_start().len()]),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_exporter_and_fires_exactly_the_expected_alerts() {
    let _heavy = support::heavy().await;
    let sim = SimSpec::new()
        .key(KEY_ID, SECRET)
        .job("{id: 101, name: failing, workers: {CDN: 5}, outcomes: {succeeded: 3, failed: 2}}")
        .job("{id: 102, name: rolled-back, workers: {SLB: 4}, outcomes: {succeeded: 3, rollback_succeeded: 1}}")
        .job("{id: 103, name: rollback-failed, workers: {OSS: 4}, outcomes: {succeeded: 3, rollback_failed: 1}}")
        .job("{id: 104, name: healthy, workers: {CDN: 4, WAF: 2}, outcomes: {succeeded: 6}}")
        .job("{id: 105, name: running, workers: {CDN: 50}, evolution: {step: 10s}}")
        .job("{id: 106, name: broken, fault: internal_error}")
        .start()
        .await;
    let cfg = ConfigBuilder::new(&sim)
        .interval("2s")
        .set("timeouts", "{request: 1s}")
        .set("retries", "{base_delay: 10ms, max_delay: 20ms}")
        .jobs(101..=106)
        .file();
    let env = KEY_ENV;
    let exporter = Exporter::start(&["--config.file", cfg.path.to_str().unwrap()], &env);
    exporter.wait_ready().await;
    exporter
        .wait_for(Duration::from_secs(15), "job details", |m| {
            m.matching("aliyun_cas_deployment_job_info", &[]).len() == 5
        })
        .await;

    let (_, body) = exporter.get("/metrics").await;
    let (ok, lint) = tool("promtool", &["check", "metrics"], Some(&body));
    assert!(
        ok && lint.trim().is_empty(),
        "promtool check metrics: {lint}"
    );

    let prometheus = Prometheus::start(&exporter.address.to_string(), &quick_rules());
    let instance = exporter.address.to_string();
    let alert = |name: &str,
                 severity: &str,
                 job_id: &str,
                 job_name: Option<&str>|
     -> BTreeMap<String, String> {
        let mut labels: BTreeMap<String, String> = [
            ("alertname", name),
            ("severity", severity),
            ("job", "aliyun-cas-exporter"),
            ("instance", instance.as_str()),
            ("account", "default"),
            ("job_id", job_id),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if let Some(job_name) = job_name {
            labels.insert("name".into(), job_name.into());
        }
        labels
    };
    // The status alert keeps the one-hot series' `status` label.
    let errored = |mut labels: BTreeMap<String, String>| {
        labels.insert("status".into(), "error".into());
        labels
    };
    let expected: BTreeSet<BTreeMap<String, String>> = [
        alert(
            "AliyunCasJobFailedWorkers",
            "warning",
            "101",
            Some("failing"),
        ),
        errored(alert(
            "AliyunCasJobStatusError",
            "warning",
            "101",
            Some("failing"),
        )),
        alert(
            "AliyunCasJobRolledBackWorkers",
            "warning",
            "102",
            Some("rolled-back"),
        ),
        alert(
            "AliyunCasJobRolledBackWorkers",
            "warning",
            "103",
            Some("rollback-failed"),
        ),
        alert(
            "AliyunCasJobRollbackFailed",
            "critical",
            "103",
            Some("rollback-failed"),
        ),
        errored(alert(
            "AliyunCasJobStatusError",
            "warning",
            "103",
            Some("rollback-failed"),
        )),
        // Job 106 never answers: no details, so its alert carries no name.
        alert("AliyunCasJobPollFailing", "warning", "106", None),
    ]
    .into_iter()
    .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut firing = BTreeSet::new();
    while Instant::now() < deadline {
        firing = prometheus.firing().await;
        if firing == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(firing, expected, "exactly these alerts fire, and no others");
    // And it stays that way: nothing else starts firing over the next few evaluations.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(prometheus.firing().await, expected);
    }

    // The series arrive in Prometheus with the values the simulator holds.
    let by_job = |series: Vec<(BTreeMap<String, String>, f64)>| -> BTreeMap<String, f64> {
        series
            .into_iter()
            .map(|(labels, v)| (labels["job_id"].clone(), v))
            .collect()
    };
    let failed = by_job(
        prometheus
            .query("aliyun_cas_deployment_job_failed_workers")
            .await,
    );
    let expected_failed: BTreeMap<String, f64> = [
        ("101", 2.0),
        ("102", 0.0),
        ("103", 0.0),
        ("104", 0.0),
        ("105", 0.0),
    ]
    .iter()
    .map(|(j, v)| (j.to_string(), *v))
    .collect();
    assert_eq!(failed, expected_failed);
    let workers = by_job(prometheus.query("aliyun_cas_deployment_job_workers").await);
    let expected_workers: BTreeMap<String, f64> = [
        ("101", 5.0),
        ("102", 4.0),
        ("103", 4.0),
        ("104", 6.0),
        ("105", 50.0),
    ]
    .iter()
    .map(|(j, v)| (j.to_string(), *v))
    .collect();
    assert_eq!(workers, expected_workers);
    let up = prometheus.query("up{job=\"aliyun-cas-exporter\"}").await;
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].1, 1.0);
    let failing_status = by_job(
        prometheus
            .query("aliyun_cas_deployment_job_status{status=\"error\"} == 1")
            .await,
    );
    assert_eq!(
        failing_status.keys().cloned().collect::<Vec<_>>(),
        vec!["101", "103"]
    );
}

#[test]
fn the_kubernetes_manifests_parse_and_ship_a_valid_configuration() {
    let dir = repo("deploy/kubernetes");
    let mut kinds = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(document)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if let Some(kind) = value["kind"].as_str() {
                kinds.insert(kind.to_owned());
            }
        }
    }
    for kind in [
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "ServiceMonitor",
        "PrometheusRule",
        "StatefulSet",
        "ServiceAccount",
        "Kustomization",
    ] {
        assert!(
            kinds.contains(kind),
            "no {kind} in deploy/kubernetes: {kinds:?}"
        );
    }
    let configmap: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("configmap.yaml")).unwrap())
            .unwrap();
    let config = configmap["data"]["config.yaml"].as_str().unwrap();
    let env = aliyun_cas_exporter::env::Env::empty();
    aliyun_cas_exporter::config::Config::parse(config, "deploy/kubernetes/configmap.yaml", &env)
        .unwrap_or_else(|e| panic!("the shipped configuration is not valid: {e}"));
}
