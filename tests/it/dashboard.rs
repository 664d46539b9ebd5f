//! The Grafana dashboard, checked statically: generated from the mixin, fit
//! for grafana.com's import, every query scoped by the variables, built on
//! documented metrics and parsed by promtool. `dashboard_queries` gives the
//! queries as Prometheus runs them, for tests against a real server.

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

fn panel<'a>(dashboard: &'a Value, title: &str) -> &'a Value {
    panels(dashboard)
        .into_iter()
        .find(|p| p["title"] == title)
        .unwrap_or_else(|| panic!("no panel {title:?}"))
}

fn exprs(panel: &Value) -> Vec<&str> {
    panel["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["expr"].as_str().unwrap())
        .collect()
}

/// Rewrites each `$name` and `${name}` of an expression to `f(name)`, or
/// leaves it as it is where `f` gives None. `$1` (label_replace's reference
/// to a group) is no variable.
fn replace_variables(expr: &str, mut f: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let braced = after.starts_with('{');
        let text = if braced { &after[1..] } else { after };
        let len = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(text.len());
        let name = &text[..len];
        let closed = !braced || text[len..].starts_with('}');
        let token = 1 + len + if braced { 1 + usize::from(closed) } else { 0 };
        let is_name = !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit());
        match (is_name && closed).then(|| f(name)).flatten() {
            Some(value) => out.push_str(&value),
            None => out.push_str(&rest[at..at + token]),
        }
        rest = &rest[at + token..];
    }
    out.push_str(rest);
    out
}

/// The template variables an expression refers to.
fn variables_in(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    replace_variables(expr, |name| {
        names.insert(name.to_owned());
        None
    });
    names
}

/// An expression as Prometheus would run it from the dashboard with every
/// variable at "All" (`.+`) and Grafana's intervals at fixed durations.
fn concrete(expr: &str) -> String {
    replace_variables(expr, |name| {
        Some(
            match name {
                "__rate_interval" => "1m",
                "__range" => "1h",
                "__interval" => "15s",
                _ => ".+",
            }
            .to_owned(),
        )
    })
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

#[test]
fn the_dashboard_imports_from_grafana_com_and_is_not_edited_in_grafana() {
    let dashboard = dashboard();
    assert_eq!(dashboard["editable"], false);
    assert_eq!(
        dashboard["__inputs"],
        json!([{
            "name": "DS_PROMETHEUS",
            "label": "Prometheus",
            "description": "The Prometheus server that scrapes aliyun-cas-exporter.",
            "type": "datasource",
            "pluginId": "prometheus",
            "pluginName": "Prometheus",
        }])
    );
    // The import's choice becomes the datasource variable's, which every panel uses.
    assert_eq!(
        dashboard["templating"]["list"][0]["current"]["value"],
        "${DS_PROMETHEUS}"
    );
    let requires = dashboard["__requires"].as_array().unwrap();
    let required = |kind: &str| -> BTreeSet<&str> {
        requires
            .iter()
            .filter(|r| r["type"] == kind)
            .map(|r| r["id"].as_str().unwrap())
            .collect()
    };
    assert_eq!(required("grafana"), BTreeSet::from(["grafana"]));
    assert_eq!(required("datasource"), BTreeSet::from(["prometheus"]));
    let used: BTreeSet<&str> = panels(&dashboard)
        .into_iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(required("panel"), used);
    assert_eq!(
        used,
        BTreeSet::from(["bargauge", "stat", "table", "timeseries"])
    );
    let grafana = requires.iter().find(|r| r["type"] == "grafana").unwrap();
    assert_eq!(grafana["version"], "10.0.0");
}

/// The range of every `rate(`, `irate(` and `increase(` call, e.g. `$__rate_interval`.
fn ranges(expr: &str) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    for function in ["rate", "irate", "increase"] {
        let call = format!("{function}(");
        let mut from = 0;
        while let Some(at) = expr[from..].find(&call).map(|i| from + i) {
            from = at + call.len();
            let whole_word = expr[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
            if !whole_word {
                continue;
            }
            let mut depth = 1;
            let end = expr[from..]
                .char_indices()
                .find_map(|(i, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    (depth == 0).then_some(from + i)
                })
                .unwrap_or_else(|| panic!("unbalanced {function}( in {expr}"));
            let argument = &expr[from..end];
            let range = argument
                .rsplit_once('[')
                .and_then(|(_, r)| r.strip_suffix(']'))
                .unwrap_or_else(|| panic!("{function}( without a range in {expr}"));
            found.push((function, range.to_owned()));
        }
    }
    found
}

#[test]
fn rates_use_the_rate_interval_and_totals_the_range() {
    let dashboard = dashboard();
    let mut calls = 0;
    for panel in panels(&dashboard) {
        for expr in exprs(panel) {
            for (function, range) in ranges(expr) {
                calls += 1;
                let allowed: &[&str] = match function {
                    // A total over the dashboard's range is what an increase may show.
                    "increase" => &["$__rate_interval", "$__range"],
                    _ => &["$__rate_interval"],
                };
                assert!(
                    allowed.contains(&range.as_str()),
                    "{}: {function}(…[{range}]) in {expr}",
                    panel["title"]
                );
            }
        }
    }
    assert_eq!(calls, 6, "rate and increase calls");
    assert_eq!(
        ranges("sum(rate(x{a=~\"$a\"}[$__rate_interval])) / increase(y[$__range])"),
        [
            ("rate", "$__rate_interval".to_owned()),
            ("increase", "$__range".to_owned())
        ]
    );
    assert_eq!(ranges("irate(x[5m])"), [("irate", "5m".to_owned())]);
}

#[test]
fn the_panels_show_what_the_users_asked_for() {
    let dashboard = dashboard();
    assert_eq!(
        panel(&dashboard, "Rate-limit wait")["fieldConfig"]["defaults"]["unit"],
        "percentunit"
    );

    // histogram_quantile over a zero rate is NaN: the p95 filters it.
    let p95 = exprs(panel(&dashboard, "API latency p95"));
    assert_eq!(p95.len(), 1);
    assert!(
        p95[0].starts_with("histogram_quantile(0.95, "),
        "{}",
        p95[0]
    );
    assert!(p95[0].ends_with("[$__rate_interval]))) >= 0"), "{}", p95[0]);

    // Counts that can legitimately be empty fall back to a zero, or say why they are empty.
    for title in [
        "Failed and rolled-back workers now",
        "Unlisted failed workers",
        "Jobs with failed or rolled-back workers",
        "Job polls now",
        "Time until credentials expire",
        "Credential refresh errors",
        "API throttling",
    ] {
        for expr in exprs(panel(&dashboard, title)) {
            assert!(
                expr.contains(" or on() 0 * count(aliyun_cas_exporter_build_info{")
                    || expr.contains(
                        " or on() label_replace(0 * count(aliyun_cas_exporter_build_info{"
                    )
                    || expr.contains(
                        " or on(account) 0 * max by (account) (aliyun_cas_exporter_jobs{"
                    ),
                "{title}: no zero to fall back to in {expr}"
            );
        }
    }
    for panel in panels(&dashboard) {
        if ["stat", "bargauge"].contains(&panel["type"].as_str().unwrap()) {
            assert!(
                panel["fieldConfig"]["defaults"]["noValue"].is_string(),
                "{}: says nothing when empty",
                panel["title"]
            );
        }
    }
    let credentials = panel(&dashboard, "Time until credentials expire");
    assert_eq!(
        credentials["fieldConfig"]["defaults"]["mappings"],
        json!([{"type": "value", "options": {"0": {"text": "no temporary credentials", "color": "blue", "index": 0}}}])
    );

    let unlisted = panel(&dashboard, "Unlisted failed workers");
    assert!(exprs(unlisted)[0].starts_with("sum(aliyun_cas_deployment_job_unlisted_workers{"));

    let workers = panel(&dashboard, "Failed and rolled-back workers");
    let workers_expr = exprs(workers)[0];
    assert!(
        workers_expr.starts_with("(max by (account, job_id, worker_id, status, product, region, instance_id, resource, cloud) (aliyun_cas_deployment_job_worker_info{"),
        "{workers_expr}"
    );
    assert!(
        workers_expr.contains("group_left(name) max by (account, job_id, name) (topk by (account, job_id) (1, aliyun_cas_deployment_job_info{"),
        "{workers_expr}"
    );
    let organize = &workers["transformations"][1]["options"];
    assert_eq!(
        organize["indexByName"],
        json!({"account": 0, "job_id": 1, "name": 2, "status": 3, "product": 4, "region": 5, "instance_id": 6, "resource": 7, "cloud": 8, "worker_id": 9})
    );
    assert_eq!(
        organize["excludeByName"],
        json!({"Time": true, "Value": true, "__name__": true, "job": true, "instance": true})
    );

    let certificates = panel(&dashboard, "Certificate expiry");
    let certificates_expr = exprs(certificates)[0];
    assert!(
        certificates_expr.starts_with("sort("),
        "{certificates_expr}"
    );
    assert!(
        certificates_expr.contains("(aliyun_cas_deployment_job_certificate_info{")
            && certificates_expr.contains(
                "(min by (account, cert_id) (aliyun_cas_certificate_not_after_timestamp_seconds{"
            )
            && certificates_expr.contains("}) - time())"),
        "{certificates_expr}"
    );
    assert_eq!(
        certificates["options"]["sortBy"],
        json!([{"displayName": "Time left", "desc": false}])
    );
    let time_left = certificates["fieldConfig"]["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["matcher"]["options"] == "Time left")
        .unwrap();
    let property = |id: &str| {
        time_left["properties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .map(|p| p["value"].clone())
    };
    assert_eq!(property("unit"), Some(json!("dtdurations")));
    assert_eq!(
        property("thresholds"),
        Some(json!({"mode": "absolute", "steps": [
            {"color": "red", "value": null},
            {"color": "orange", "value": 3 * 86400},
            {"color": "green", "value": 14 * 86400},
        ]}))
    );
}

#[test]
fn concrete_queries_replace_every_variable() {
    // `$job` must not take the start of `$job_id`.
    assert_eq!(
        concrete(
            "sum(rate(x{job=~\"$job\", job_id=~\"$job_id\", product=~\"${product}\"}[$__rate_interval])) + increase(y[$__range]) + z[$__interval] + label_replace(w, \"a\", \"$1\", \"b\", \"(.*)\")"
        ),
        "sum(rate(x{job=~\".+\", job_id=~\".+\", product=~\".+\"}[1m])) + increase(y[1h]) + z[15s] + label_replace(w, \"a\", \"$1\", \"b\", \"(.*)\")"
    );
    assert_eq!(
        variables_in("a{b=~\"$job_id\", c=~\"${job}\"} + $1 + $"),
        BTreeSet::from(["job".to_owned(), "job_id".to_owned()])
    );
    for (title, expr) in dashboard_queries() {
        let whole = expr.match_indices(".+").all(|(at, _)| {
            !expr[at + 2..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        });
        assert!(!expr.contains('$') && whole, "{title}: {expr}");
    }
}
