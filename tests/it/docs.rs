//! The documentation as a contract: the RAM policy users copy grants exactly
//! the actions the client can call, and no wildcard.

use aliyun_cas_exporter::api::Action;
use std::collections::BTreeSet;

use crate::support::repo;

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every `yundun-cert:` action a text names, as written.
fn ram_actions(text: &str) -> Vec<String> {
    text.match_indices("yundun-cert:")
        .map(|(at, _)| {
            text[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '*'))
                .collect()
        })
        .collect()
}

#[test]
fn the_ram_policy_grants_exactly_the_actions_the_client_calls() {
    let policy: serde_json::Value = serde_json::from_str(&read("deploy/ram-policy.json")).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0]["Effect"], "Allow");
    assert_eq!(statements[0]["Resource"], "*");
    let granted: Vec<&str> = statements[0]["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let called: Vec<String> = Action::ALL
        .iter()
        .map(|a| format!("yundun-cert:{}", a.name()))
        .collect();
    assert_eq!(
        granted, called,
        "deploy/ram-policy.json against Action::ALL"
    );
}

#[test]
fn the_documented_policy_is_the_shipped_one_and_no_text_suggests_a_wildcard() {
    let policy = read("deploy/ram-policy.json");
    let page = read("docs/permissions.md");
    assert!(
        page.contains(&format!("```json\n{policy}```")),
        "docs/permissions.md must show deploy/ram-policy.json verbatim"
    );
    for action in Action::ALL {
        assert!(
            page.contains(&format!("| `yundun-cert:{}` |", action.name())),
            "docs/permissions.md must say which feature needs {}",
            action.name()
        );
    }
    let mut texts = vec!["README.md".to_owned(), "config.example.yaml".to_owned()];
    for dir in ["docs", "deploy", "deploy/kubernetes"] {
        for entry in std::fs::read_dir(repo(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                texts.push(path.strip_prefix(repo("")).unwrap().display().to_string());
            }
        }
    }
    let allowed_mentions: BTreeSet<&str> = ["yundun-cert:Describe*", "yundun-cert:List*"].into();
    for path in &texts {
        for action in ram_actions(&read(path)) {
            if !action.contains('*') {
                continue;
            }
            // docs/permissions.md names the wildcards once, to warn against them.
            assert!(
                path == "docs/permissions.md" && allowed_mentions.contains(action.as_str()),
                "{path} names the wildcard action {action}"
            );
        }
    }
}

/// The rows of the README's table of the demo's jobs, as the demo's spec makes them once
/// every job has finished evolving (an hour in), so that the front page cannot drift.
#[test]
fn the_readme_table_of_the_demo_is_what_the_demo_serves() {
    use aliyun_cas_exporter::simulator::{DEMO_SPEC, SimulatorSpec, job_state};
    let spec = SimulatorSpec::parse(DEMO_SPEC, "demo").unwrap();
    let readme = read("README.md");
    let documented: Vec<String> = readme
        .lines()
        .filter(|line| line.starts_with("| 1000"))
        .map(|line| {
            // Everything but the last column, the alert, which the ops_kit test checks live.
            let cells: Vec<&str> = line.split(" | ").collect();
            cells[..cells.len() - 1].join(" | ")
        })
        .collect();
    let expected: Vec<String> = spec
        .jobs
        .iter()
        .map(|job| {
            let state = job_state(job, std::time::Duration::from_secs(3600));
            let o = &state.outcomes;
            let workers: i64 = job.workers.values().sum();
            let products: Vec<&str> = job.workers.keys().map(String::as_str).collect();
            format!(
                "| {} | {} | {} | {workers} | {} | {} | {} ({}) | {}",
                job.id,
                job.name,
                state.status,
                o.succeeded,
                o.failed,
                o.rollback_succeeded + o.rollback_failed,
                o.rollback_failed,
                products.join(",")
            )
        })
        .collect();
    assert_eq!(documented, expected);
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The text of a Markdown file without its fenced code blocks, where nothing is a link or heading.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// The anchors of a Markdown file's headings, with GitHub's `-1`, `-2` for repeats.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for line in prose(text) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let base = slug(heading.trim_start_matches('#'));
        let mut anchor = base.clone();
        let mut n = 0;
        while !seen.insert(anchor.clone()) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
    }
    seen
}

/// The targets of a line's inline links `[text](target)`.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            targets.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    targets
}

#[test]
fn every_relative_link_and_anchor_in_the_docs_leads_somewhere() {
    let mut pages = vec![
        "README.md".to_owned(),
        "CHANGELOG.md".to_owned(),
        "BENCHMARKS.md".to_owned(),
    ];
    for entry in std::fs::read_dir(repo("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(format!(
                "docs/{}",
                path.file_name().unwrap().to_str().unwrap()
            ));
        }
    }
    let mut checked = 0;
    let mut broken = Vec::new();
    for page in &pages {
        let text = read(page);
        let dir = std::path::Path::new(page).parent().unwrap();
        for line in prose(&text) {
            for target in link_targets(line) {
                if target.starts_with("http://")
                    || target.starts_with("https://")
                    || target.starts_with("mailto:")
                {
                    continue;
                }
                checked += 1;
                let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
                let file = if path.is_empty() {
                    page.clone()
                } else {
                    dir.join(path).to_str().unwrap().to_owned()
                };
                let resolved = repo(&file);
                if !resolved.exists() {
                    broken.push(format!("{page}: {target}: no such file"));
                    continue;
                }
                if !anchor.is_empty() && !anchors(&read(&file)).contains(anchor) {
                    broken.push(format!("{page}: {target}: no such heading"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked > 80, "only {checked} links checked");
}

#[test]
fn anchors_are_made_as_github_makes_them() {
    assert_eq!(
        slug(" Alerts, dashboard and deployment"),
        "alerts-dashboard-and-deployment"
    );
    assert_eq!(
        slug("The aliyun CLI's file (`config.json`)"),
        "the-aliyun-clis-file-configjson"
    );
    assert_eq!(
        anchors("# A\n## A\n```\n# not a heading\n```\n## B_c"),
        ["a", "a-1", "b_c"].map(String::from).into()
    );
}
