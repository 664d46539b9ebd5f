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
