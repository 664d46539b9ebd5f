//! The Grafana dashboard, checked statically: every query scoped by the
//! variables, built on documented metrics and parsed by promtool.
//! `dashboard_queries` gives the queries as Prometheus runs them, for tests
//! against a real server.

use crate::support::{documented_metrics, is_documented, metric_names, repo, tool};

use serde_json::{Value, json};
use std::collections::BTreeSet;

const DASHBOARD: &str = "dashboards/aliyun-cas-deployments.json";

fn dashboard() -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo(DASHBOARD)).unwrap()).expect("valid JSON")
}

/// Every panel, rows' nested panels included, rows themselves left out.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        all.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            all.extend(nested);
        }
    }
    all.retain(|p| p["type"] != "row");
    all
}

fn exprs(panel: &Value) -> Vec<&str> {
    panel["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["expr"].as_str().unwrap())
        .collect()
}

/// The template variables an expression refers to, as `$name` or `${name}`.
fn variables_in(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let braced = rest.strip_prefix('{');
        let text = braced.unwrap_or(rest);
        let len = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(text.len());
        // `$1` is label_replace's group reference, not a variable.
        if len > 0 && !text.starts_with(|c: char| c.is_ascii_digit()) {
            names.insert(text[..len].to_owned());
        }
    }
    names
}

/// An expression as Prometheus would run it from the dashboard with every
/// variable at "All" (`.+`) and Grafana's intervals at fixed durations.
fn concrete(expr: &str) -> String {
    let mut text = expr
        .replace("$__rate_interval", "1m")
        .replace("$__range", "1h")
        .replace("$__interval", "15s");
    for name in variables_in(&text) {
        text = text
            .replace(&format!("${{{name}}}"), ".+")
            .replace(&format!("${name}"), ".+");
    }
    text
}

/// (panel title, expression) for every query of the dashboard, ready to send
/// to Prometheus: the template variables replaced by `.+` (their "All"),
/// `$__rate_interval` by 1m, `$__range` by 1h and `$__interval` by 15s.
pub fn dashboard_queries() -> Vec<(String, String)> {
    let dashboard = dashboard();
    panels(&dashboard)
        .into_iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap().to_owned();
            exprs(p)
                .into_iter()
                .map(move |e| (title.clone(), concrete(e)))
        })
        .collect()
}

#[test]
fn the_dashboard_is_valid_and_queries_only_documented_metrics() {
    let dashboard = dashboard();
    let table = documented_metrics();
    let panels = panels(&dashboard);
    for panel in &panels {
        let title = panel["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "a panel without a title: {panel}");
        assert!(
            panel["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{title}: description"
        );
        assert!(
            panel["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .is_some_and(|u| !u.is_empty()),
            "{title}: unit"
        );
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no query");
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            assert_eq!(
                target["datasource"]["uid"], "${datasource}",
                "{title}: {expr}"
            );
            if panel["type"] == "table" {
                assert_eq!(
                    (&target["instant"], &target["format"]),
                    (&json!(true), &json!("table")),
                    "{title}: {expr}"
                );
            }
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{title}: {expr}");
            for metric in &names {
                assert!(
                    is_documented(metric, &table),
                    "{title} uses {metric}, which docs/metrics.md does not list"
                );
            }
            assert!(
                expr.contains("job=~\"$job\"") && expr.contains("instance=~\"$instance\""),
                "{title}: {expr}"
            );
        }
    }
    // Grafana wants each panel's id once, and panels that overlap hide each other.
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        assert!(ids.insert(panel["id"].as_u64().unwrap()), "{panel}");
        let at = |k: &str| panel["gridPos"][k].as_u64().unwrap();
        assert!(
            at("x") + at("w") <= 24,
            "{}: wider than the grid",
            panel["title"]
        );
        for x in at("x")..at("x") + at("w") {
            for y in at("y")..at("y") + at("h") {
                assert!(
                    cells.insert((x, y)),
                    "{} overlaps another panel",
                    panel["title"]
                );
            }
        }
    }

    let queries = dashboard_queries();
    assert_eq!(queries.len(), 40, "queries");
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (n, (_, expr)) in queries.iter().enumerate() {
        rules.push_str(&format!(
            "      - record: dashboard:query{n}\n        expr: {}\n",
            serde_json::to_string(expr).unwrap()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard-queries.yml");
    std::fs::write(&file, &rules).unwrap();
    let (ok, out) = tool(
        "promtool",
        &["check", "rules", file.to_str().unwrap()],
        None,
    );
    assert!(
        ok,
        "every dashboard query must parse as PromQL:\n{out}\n{rules}"
    );
}

#[test]
fn the_variables_select_everything_with_a_non_empty_match() {
    let dashboard = dashboard();
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let names: Vec<&str> = variables
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "datasource",
            "job",
            "instance",
            "account",
            "job_id",
            "product"
        ]
    );
    assert_eq!(variables[0]["type"], "datasource");
    assert_eq!(variables[0]["query"], "prometheus");
    for variable in &variables[1..] {
        let name = &variable["name"];
        assert_eq!(variable["type"], "query", "{name}");
        // The grafana dashboard-linter's rule: `.*` would also match series without the label.
        assert_eq!(variable["allValue"], ".+", "{name}");
        assert_eq!(variable["includeAll"], true, "{name}");
        assert_eq!(variable["datasource"]["uid"], "${datasource}", "{name}");
        let query = variable["query"]["query"].as_str().unwrap();
        assert_eq!(variable["definition"], query, "{name}");
        for metric in metric_names(query) {
            assert!(
                is_documented(&metric, &documented_metrics()),
                "{name}: {metric}"
            );
        }
    }
    let builtin = ["__rate_interval", "__range", "__interval"];
    for (title, expr) in panels(&dashboard)
        .into_iter()
        .flat_map(|p| exprs(p).into_iter().map(move |e| (&p["title"], e)))
    {
        for used in variables_in(expr) {
            assert!(
                names.contains(&used.as_str()) || builtin.contains(&used.as_str()),
                "{title}: ${used} is no variable of the dashboard"
            );
        }
    }
}
