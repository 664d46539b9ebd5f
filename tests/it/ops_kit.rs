//! The operations kit checked with real tools: the files generated from the
//! mixin (jsonnet), the alert rules and their unit tests (promtool), yamllint
//! on deploy/, the Alertmanager example (amtool and a real Alertmanager), the
//! exposition's lint, and a real Prometheus that scrapes the demo, fires the
//! alerts its jobs call for and keeps them through the exporter's death.

use crate::dashboard::dashboard_queries;
use crate::support;

use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{
    Daemon, Exporter, Prometheus, documented_metrics, free_port, is_documented, metric_names, repo,
    tool,
};

/// The files scripts/gen-mixin writes, as mixin/build.jsonnet names them.
const GENERATED: [&str; 3] = [
    "deploy/prometheus/alerts.yml",
    "deploy/kubernetes/prometheusrule.yaml",
    "dashboards/aliyun-cas-deployments.json",
];

/// Every alert the rules define, in the order the runbook has them.
const ALERTS: [&str; 18] = [
    "AliyunCasJobRollbackFailed",
    "AliyunCasJobFailed",
    "AliyunCasJobRolledBack",
    "AliyunCasJobPollFailing",
    "AliyunCasJobDataStale",
    "AliyunCasCertificateExpiring",
    "AliyunCasApiThrottled",
    "AliyunCasApiAuthErrors",
    "AliyunCasApiDetailDenied",
    "AliyunCasApiErrorRatioHigh",
    "AliyunCasDiscoveryFailing",
    "AliyunCasCredentialsRefreshFailing",
    "AliyunCasCredentialsExpiringSoon",
    "AliyunCasExporterConfigReloadFailed",
    "AliyunCasExporterNoJobs",
    "AliyunCasExporterDown",
    "AliyunCasExporterShardMissing",
    "AliyunCasExporterAbsent",
];

fn jsonnet(expr: &str) -> Value {
    let output = Command::new("jsonnet")
        .current_dir(repo(""))
        .args(["-J", "mixin", "-e", expr])
        .output()
        .expect(
            "jsonnet is needed for this test: apt-get install jsonnet (scripts/test installs it)",
        );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn the_generated_files_are_what_the_mixin_makes() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(repo("scripts/gen-mixin"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "scripts/gen-mixin: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for path in GENERATED {
        // Not assert_eq: two copies of a whole file would bury the message.
        assert!(
            std::fs::read_to_string(dir.path().join(path)).unwrap()
                == std::fs::read_to_string(repo(path)).unwrap(),
            "{path} is not what mixin/ generates: edit mixin/ and run scripts/gen-mixin"
        );
    }
    // The mixin's own YAML writer says what jsonnet means, and the PrometheusRule holds the same groups.
    let alerts = jsonnet("(import 'mixin.libsonnet').prometheusAlerts");
    let file: Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo(GENERATED[0])).unwrap()).unwrap();
    assert_eq!(file, alerts);
    let rule: Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo(GENERATED[1])).unwrap()).unwrap();
    assert_eq!(rule["kind"], "PrometheusRule");
    assert_eq!(rule["spec"], alerts);
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(repo(GENERATED[2])).unwrap()).unwrap();
    assert_eq!(
        dashboard,
        jsonnet("(import 'mixin.libsonnet').grafanaDashboards['aliyun-cas-deployments.json']")
    );
}

#[test]
fn the_mixin_config_reaches_every_rule() {
    let alerts = jsonnet(
        "((import 'mixin.libsonnet') + {_config+:: {exporterSelector: 'job=\"cas\"', runbookURLPattern: 'https://runbooks.example/%s', lastValueWindow: '42m', severities: {page: 'p1', ticket: 'p3'}}}).prometheusAlerts",
    );
    let mut rules = 0;
    for group in alerts["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            rules += 1;
            let name = rule["alert"].as_str().unwrap();
            let expr = rule["expr"].as_str().unwrap();
            assert!(!expr.contains("aliyun-cas-exporter"), "{name}: {expr}");
            assert!(expr.contains("job=\"cas\""), "{name}: {expr}");
            assert_eq!(
                rule["annotations"]["runbook_url"],
                format!("https://runbooks.example/{}", name.to_lowercase()),
                "{name}"
            );
            assert!(
                ["p1", "p3"].contains(&rule["labels"]["severity"].as_str().unwrap()),
                "{name}"
            );
            // The alerts about jobs and certificates judge series by their last value of the
            // window; the others by what is served now.
            let last_values =
                name.starts_with("AliyunCasJob") || name == "AliyunCasCertificateExpiring";
            assert_eq!(expr.contains("[42m]"), last_values, "{name}: {expr}");
            assert_eq!(
                expr.matches("last_over_time(").count(),
                expr.matches("[42m]").count() + expr.matches("[1d]").count(),
                "{name}: {expr}"
            );
        }
    }
    assert_eq!(rules, 19, "18 alerts, AliyunCasCertificateExpiring twice");
}

#[test]
fn alert_rules_are_valid_and_their_unit_tests_pass() {
    let rules = repo(GENERATED[0]);
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
fn every_alert_is_documented_and_uses_only_documented_metrics() {
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo(GENERATED[0])).unwrap()).unwrap();
    let table = documented_metrics();
    let runbook = std::fs::read_to_string(repo("docs/runbook.md")).unwrap();
    let alert_table = std::fs::read_to_string(repo("docs/alerts.md")).unwrap();
    let mut names = Vec::new();
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let name = rule["alert"].as_str().unwrap();
            if names.last().map(String::as_str) != Some(name) {
                names.push(name.to_owned());
            }
            assert!(
                ["critical", "warning"].contains(&rule["labels"]["severity"].as_str().unwrap()),
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
            let url = rule["annotations"]["runbook_url"].as_str().unwrap();
            assert!(
                url.starts_with("https://"),
                "{name}: {url} is no link in Alertmanager or Grafana"
            );
            let anchor = url.rsplit_once('#').unwrap().1;
            assert_eq!(anchor, name.to_lowercase());
            assert!(
                runbook
                    .lines()
                    .any(|l| l.trim_start_matches('#').trim().to_lowercase() == anchor),
                "{name}: no runbook section #{anchor}"
            );
            assert!(
                alert_table.contains(&format!("`{name}`")),
                "{name}: not in the alert table of docs/alerts.md"
            );
            for metric in metric_names(rule["expr"].as_str().unwrap()) {
                assert!(
                    is_documented(&metric, &table),
                    "{name} uses {metric}, which docs/metrics.md does not list"
                );
            }
        }
    }
    assert_eq!(names, ALERTS);
}

#[test]
fn the_deploy_files_are_yamllint_clean() {
    // From the repository, as a user runs it: the ignore patterns of .yamllint are relative to it.
    let output = Command::new("yamllint")
        .current_dir(repo(""))
        .args(["--strict", "deploy/"])
        .output()
        .expect(
            "yamllint is needed for this test: apt-get install yamllint (scripts/test installs it)",
        );
    // Strict: a warning fails too.
    let (ok, out) = (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    );
    assert!(ok && out.trim().is_empty(), "yamllint deploy/:\n{out}");
}

#[test]
fn the_alertmanager_example_routes_pages_and_tickets() {
    let config = repo("deploy/alertmanager/alertmanager.yml");
    let config = config.to_str().unwrap();
    let (ok, out) = tool("amtool", &["check-config", config], None);
    assert!(ok, "{out}");
    for (labels, receiver) in [
        (
            "alertname=AliyunCasJobRollbackFailed severity=critical job_id=1",
            "cas-pager",
        ),
        (
            "alertname=AliyunCasJobFailed severity=critical job_id=1",
            "cas-pager",
        ),
        (
            "alertname=AliyunCasJobRolledBack severity=warning job_id=1",
            "cas-tickets",
        ),
        (
            "alertname=AliyunCasCertificateExpiring severity=critical cert_id=1",
            "cas-pager",
        ),
        (
            "alertname=AliyunCasCertificateExpiring severity=warning cert_id=1",
            "cas-tickets",
        ),
        (
            "alertname=AliyunCasExporterDown severity=critical",
            "cas-pager",
        ),
        (
            "alertname=AliyunCasApiThrottled severity=warning",
            "cas-tickets",
        ),
        (
            "alertname=AliyunCasJobPollFailing severity=warning job_id=1",
            "cas-tickets",
        ),
    ] {
        let mut args = vec![
            "config",
            "routes",
            "test",
            "--config.file",
            config,
            "--verify.receivers",
            receiver,
        ];
        args.extend(labels.split(' '));
        let (ok, out) = tool("amtool", &args, None);
        assert!(ok, "{labels} should go to {receiver}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alertmanager_example_keeps_one_page_per_job_and_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", repo("deploy/alertmanager/alertmanager.yml").display()))
        .arg(format!("--storage.path={}", dir.path().display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-alertmanager is needed for this test; install Debian's `prometheus-alertmanager` package, as scripts/test does");
    let _alertmanager = Daemon::new(child, dir);
    let url = format!("http://127.0.0.1:{port}");
    let alert = |labels: &[(&str, &str)]| {
        let mut all: BTreeMap<&str, &str> =
            [("job", "aliyun-cas-exporter"), ("account", "prod")].into();
        all.extend(labels.iter().copied());
        json!({ "labels": all })
    };
    // Job 8888 just got worse (all three kept firing a while); job 9999 only rolled back;
    // certificate 1 crossed into critical; certificate 2 is only a warning.
    let alerts = json!([
        alert(&[
            ("alertname", "AliyunCasJobRollbackFailed"),
            ("severity", "critical"),
            ("job_id", "8888")
        ]),
        alert(&[
            ("alertname", "AliyunCasJobFailed"),
            ("severity", "critical"),
            ("job_id", "8888")
        ]),
        alert(&[
            ("alertname", "AliyunCasJobRolledBack"),
            ("severity", "warning"),
            ("job_id", "8888")
        ]),
        alert(&[
            ("alertname", "AliyunCasJobRolledBack"),
            ("severity", "warning"),
            ("job_id", "9999")
        ]),
        alert(&[
            ("alertname", "AliyunCasCertificateExpiring"),
            ("severity", "critical"),
            ("cert_id", "1")
        ]),
        alert(&[
            ("alertname", "AliyunCasCertificateExpiring"),
            ("severity", "warning"),
            ("cert_id", "1")
        ]),
        alert(&[
            ("alertname", "AliyunCasCertificateExpiring"),
            ("severity", "warning"),
            ("cert_id", "2")
        ]),
        // Polls of two jobs fail because the key is wrong: the account-wide page covers them.
        alert(&[
            ("alertname", "AliyunCasApiAuthErrors"),
            ("severity", "critical"),
            ("instance", "a:19525"),
            ("action", "DescribeDeploymentJobStatus"),
            ("code", "SignatureDoesNotMatch"),
        ]),
        alert(&[
            ("alertname", "AliyunCasJobPollFailing"),
            ("severity", "warning"),
            ("job_id", "1")
        ]),
        alert(&[
            ("alertname", "AliyunCasJobPollFailing"),
            ("severity", "warning"),
            ("job_id", "2")
        ]),
    ]);
    let client = reqwest::Client::new();
    let expected: BTreeSet<(String, String, String)> = [
        ("AliyunCasJobRollbackFailed", "8888", "active"),
        ("AliyunCasJobFailed", "8888", "suppressed"),
        ("AliyunCasJobRolledBack", "8888", "suppressed"),
        ("AliyunCasJobRolledBack", "9999", "active"),
        ("AliyunCasCertificateExpiring", "critical 1", "active"),
        ("AliyunCasCertificateExpiring", "warning 1", "suppressed"),
        ("AliyunCasCertificateExpiring", "warning 2", "active"),
        ("AliyunCasApiAuthErrors", "account", "active"),
        ("AliyunCasJobPollFailing", "1", "suppressed"),
        ("AliyunCasJobPollFailing", "2", "suppressed"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = BTreeSet::new();
    while Instant::now() < deadline {
        // Posted again each round: the first post may come before Alertmanager listens.
        let _ = client
            .post(format!("{url}/api/v2/alerts"))
            .header("content-type", "application/json")
            .body(alerts.to_string())
            .send()
            .await;
        if let Ok(response) = client.get(format!("{url}/api/v2/alerts")).send().await {
            let listed: Value = serde_json::from_str(&response.text().await.unwrap_or_default())
                .unwrap_or(Value::Null);
            seen = listed
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    let labels = &a["labels"];
                    let which = match (labels["job_id"].as_str(), labels["cert_id"].as_str()) {
                        (Some(job), _) => job.to_owned(),
                        (None, None) => "account".to_owned(),
                        (None, Some(_)) => format!(
                            "{} {}",
                            labels["severity"].as_str().unwrap(),
                            labels["cert_id"].as_str().unwrap()
                        ),
                    };
                    (
                        labels["alertname"].as_str().unwrap().to_owned(),
                        which,
                        a["status"]["state"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            if seen == expected {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        seen, expected,
        "the lesser alert of a job or certificate is inhibited, the others are not"
    );
}

/// The alert rules with every `for:` shortened to a second, for a test that cannot wait minutes;
/// the window of last values (`last_over_time`) stays as it is.
fn quick_rules() -> String {
    let text = std::fs::read_to_string(repo(GENERATED[0])).unwrap();
    text.lines()
        .map(|line| match line.trim_start().strip_prefix("for:") {
            Some(_) => format!("{}for: 1s", &line[..line.len() - line.trim_start().len()]),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_fires_the_demo_alerts_and_keeps_them_three_minutes_after_the_exporter_dies()
 {
    let heavy = support::heavy().await;
    let exporter = Exporter::start(&["--demo"], &[]);
    exporter.wait_ready().await;
    let (_, body) = exporter.get("/metrics").await;
    let (ok, lint) = tool("promtool", &["check", "metrics"], Some(&body));
    assert!(
        ok && lint.trim().is_empty(),
        "promtool check metrics: {lint}"
    );

    let prometheus = Prometheus::start(&exporter.address.to_string(), &quick_rules());
    let label_set = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        let mut labels: BTreeMap<String, String> =
            [("job", "aliyun-cas-exporter"), ("account", "default")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        labels.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        labels
    };
    // The demo (src/simulator/demo.yaml): api-gateway-rotation fails workers, waf-and-media
    // fails rollbacks, the media certificate expires in 6 days and the 2024 shop
    // certificate a rollback put back expired 2 days ago. finished-last-week failed too,
    // but it ended 7 days ago: no page.
    let expected: BTreeSet<BTreeMap<String, String>> = [
        label_set(&[
            ("alertname", "AliyunCasJobFailed"),
            ("severity", "critical"),
            ("job_id", "100002"),
        ]),
        label_set(&[
            ("alertname", "AliyunCasJobRollbackFailed"),
            ("severity", "critical"),
            ("job_id", "100003"),
        ]),
        label_set(&[
            ("alertname", "AliyunCasCertificateExpiring"),
            ("severity", "warning"),
            ("cert_id", "23001003"),
            ("common_name", "media.example.com"),
        ]),
        label_set(&[
            ("alertname", "AliyunCasCertificateExpiring"),
            ("severity", "critical"),
            ("cert_id", "22000871"),
            ("common_name", "shop.example.com"),
        ]),
    ]
    .into_iter()
    .collect();
    let deadline = Instant::now() + Duration::from_secs(150);
    let mut firing = BTreeSet::new();
    while Instant::now() < deadline {
        firing = prometheus.firing().await;
        if firing == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        firing, expected,
        "exactly these alerts fire for the demo, and no others"
    );

    // What the page says: the failed job's name and resources come from queries. The worker
    // listing follows the poll that saw the counts change, and the annotations are expanded
    // again at every evaluation: wait for the lists.
    let description = |alerts: &[Value], name: &str| {
        alerts
            .iter()
            .find(|a| a["labels"]["alertname"] == name)
            .and_then(|a| a["annotations"]["description"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let (failed, rollback) = loop {
        let alerts = prometheus.alerts().await;
        let failed = description(&alerts, "AliyunCasJobFailed");
        let rollback = description(&alerts, "AliyunCasJobRollbackFailed");
        let listed = failed.contains("\nFailed resources:\n- ")
            && rollback.contains("\nResources whose rollback failed:\n- ");
        if listed || Instant::now() > deadline {
            break (failed, rollback);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        failed.starts_with(
            "Deployment job 100002 (api-gateway-rotation) of account default failed:\n"
        ),
        "{failed}"
    );
    assert!(failed.contains("\nFailed resources:\n- "), "{failed}");
    assert!(
        rollback.starts_with("Deployment job 100003 (waf-and-media) of account default: "),
        "{rollback}"
    );
    assert!(
        rollback.contains("\nResources whose rollback failed:\n- "),
        "{rollback}"
    );

    // Every dashboard query has data (or its explicit 0) against the demo.
    for (title, expr) in dashboard_queries() {
        assert!(
            !prometheus.query(&expr).await.is_empty(),
            "dashboard panel {title}: no data for {expr}"
        );
    }

    // So has every example query of docs/metrics.md, with the demo's failed job for 8888.
    for expr in documented_queries() {
        let expr = expr.replace("\"8888\"", "\"100002\"");
        assert!(
            !prometheus.query(&expr).await.is_empty(),
            "docs/metrics.md: no data for {expr}"
        );
    }

    // The exporter dies: the job and certificate alerts keep firing, three minutes later as at
    // once, and AliyunCasExporterDown joins them once most scrapes of 5 minutes failed (about
    // 2.5 minutes: its `for:` is shortened here).
    let stopped = Instant::now();
    drop(exporter);
    // Waiting on an idle Prometheus for minutes disturbs no timing-sensitive test.
    drop(heavy);
    let down: BTreeMap<String, String> = [
        ("alertname", "AliyunCasExporterDown"),
        ("severity", "critical"),
        ("job", "aliyun-cas-exporter"),
        ("instance", prometheus.target.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut firing = prometheus.firing().await;
    while stopped.elapsed() < Duration::from_secs(185) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        firing = prometheus.firing().await;
        let mut without_down = firing.clone();
        without_down.remove(&down);
        assert_eq!(
            without_down,
            expected,
            "{}s after the exporter stopped",
            stopped.elapsed().as_secs()
        );
    }
    let mut after = expected.clone();
    after.insert(down);
    assert_eq!(firing, after, "AliyunCasExporterDown fires too");
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

/// The queries of docs/metrics.md's `promql` blocks, each the lines after one comment line.
fn documented_queries() -> Vec<String> {
    let doc = std::fs::read_to_string(repo("docs/metrics.md")).unwrap();
    let mut queries = Vec::new();
    for block in doc.split("```promql\n").skip(1) {
        let block = block.split("```").next().unwrap();
        for query in block.split('#').skip(1) {
            let expr = query.split_once('\n').unwrap().1.trim();
            assert!(!expr.is_empty(), "a comment without its query: {query}");
            queries.push(expr.to_owned());
        }
    }
    assert_eq!(queries.len(), 5, "docs/metrics.md's examples");
    queries
}
