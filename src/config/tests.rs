//! The configuration's unit tests: each file is read as a whole, and what it
//! becomes, or the refusal's exact words, is checked.

mod credentials;
mod details;
mod every_key;
mod properties;
mod rate_limit;

use super::*;
use crate::api::Action;
use crate::credentials::{Credentials, ProviderSpec};
use crate::yaml::MAX_DURATION;
use std::time::Duration;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "cfg.yaml", &Env::empty())
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

fn static_credentials(config: &CredentialsConfig) -> Credentials {
    match config {
        CredentialsConfig::Provider(ProviderSpec::Static { credentials, .. }) => {
            credentials.clone()
        }
        other => panic!("not fixed credentials: {other:?}"),
    }
}

fn one(config: &Config) -> &AccountConfig {
    assert_eq!(config.accounts.len(), 1);
    &config.accounts[0]
}

#[test]
fn minimal_file_gets_the_defaults() {
    let config = parse("jobs: [8888, \"9999\"]\n").unwrap();
    let account = one(&config);
    assert_eq!(account.name, "default");
    assert_eq!(account.jobs, vec![8888, 9999]);
    assert_eq!(account.endpoint.as_str(), "https://cas.aliyuncs.com/");
    assert!(
        matches!(account.credentials, CredentialsConfig::Chain(_)),
        "no section: the default chain"
    );
    assert!(account.discovery.is_none());
    assert_eq!(account.rate_limit, DEFAULT_RATE_LIMIT);
    assert_eq!(
        config.polling,
        Polling {
            interval: Duration::from_secs(60),
            settled_interval: Duration::from_secs(600),
            stale_after: Duration::from_secs(300),
            job_info_interval: Duration::from_secs(300),
            concurrency: 4,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            finished_job_retention: Some(Duration::from_secs(7 * 24 * 3600)),
        }
    );
    assert_eq!(config.worker_detail, DEFAULT_WORKER_DETAIL);
    assert_eq!(config.retries, DEFAULT_RETRIES);
}

#[test]
fn many_accounts() {
    let config = parse(
        "interval: 2m
accounts:
  - name: prod
    endpoint: cn
    jobs: [1]
  - name: intl-shop
    endpoint: intl
    discovery: {}
    rate_limit: {describe_deployment_job_status: 3}
",
    )
    .unwrap();
    let names: Vec<&str> = config.accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, vec!["prod", "intl-shop"]);
    assert_eq!(config.accounts[0].jobs, vec![1]);
    assert!(config.accounts[1].jobs.is_empty());
    assert_eq!(
        config.accounts[1]
            .discovery
            .as_ref()
            .unwrap()
            .refresh_interval,
        DEFAULT_DISCOVERY_INTERVAL
    );
    assert_eq!(
        config.accounts[1].rate_limit[Action::DescribeDeploymentJobStatus],
        3.0
    );
    assert_eq!(
        config.accounts[1].rate_limit[Action::ListDeploymentJob],
        2.0
    );
    assert_eq!(config.polling.interval, Duration::from_secs(120));
}

#[test]
fn account_errors() {
    assert_eq!(
        error("jobs: [1]\naccounts:\n  - name: a\n    jobs: [2]\n"),
        "cfg.yaml: `accounts`: with `accounts`, jobs belongs inside an account entry: move it under one of the accounts"
    );
    assert_eq!(
        error("accounts:\n  - name: a\n    jobs: [1]\n  - name: a\n    jobs: [2]\n"),
        "cfg.yaml: `accounts[1].name`: account \"a\" is listed twice; names must be unique"
    );
    assert_eq!(
        error("accounts:\n  - name: \"prod account\"\n    jobs: [1]\n"),
        "cfg.yaml: `accounts[0].name`: \"prod account\" is not a valid account name; use up to 64 letters, digits, '_', '.' and '-'"
    );
    assert_eq!(
        error("accounts:\n  - name: a\n"),
        "cfg.yaml: `accounts[0].jobs`: no deployment jobs to poll: list their IDs (for example `jobs: [8888]`) or add a `discovery:` section"
    );
    assert_eq!(
        error("accounts: []\n"),
        "cfg.yaml: `accounts`: is empty: list at least one account"
    );
    assert_eq!(
        error("accounts:\n  - name: a\n    jobs: [1]\n    endpoint: ftp://x\n"),
        "cfg.yaml:4:15: accounts[0].endpoint: endpoint \"ftp://x\" is not valid: the scheme must be https (or http for a local simulator); write a preset (cn, china, intl, international), a region ID such as eu-central-1, a host name such as cas.eu-central-1.aliyuncs.com, or a full URL such as https://cas.aliyuncs.com"
    );
}

#[test]
fn durations_and_counts_that_would_overflow_are_refused() {
    assert_eq!(
        error("jobs: [1]\ninterval: 3689348814741910324s\n"),
        "cfg.yaml:2:11: interval: \"3689348814741910324s\" is longer than 366d, the longest duration any setting takes; write a shorter one"
    );
    for key in [
        "interval",
        "settled_interval",
        "stale_after",
        "job_info_interval",
        "timeouts: {connect",
        "timeouts: {request",
        "retries: {base_delay",
        "retries: {max_delay",
        "discovery: {refresh_interval",
        "credentials: {type: ram_role_arn, duration",
    ] {
        let close = if key.contains('{') { "}" } else { "" };
        let text = format!("jobs: [1]\n{key}: 18446744073709551615s{close}\n");
        assert!(
            error(&text).contains("is longer than 366d, the longest duration any setting takes"),
            "{key}: {}",
            error(&text)
        );
    }
    let longest = parse("jobs: [1]\ninterval: 366d\nrequest_timeout_is_default: x\n");
    assert!(longest.is_err(), "an unknown key is still refused");
    let longest = parse("jobs: [1]\ninterval: 366d\n").unwrap();
    assert_eq!(longest.polling.interval, MAX_DURATION);
    assert_eq!(longest.polling.stale_after, MAX_DURATION * 5);
    assert_eq!(
        error("jobs: [1]\nconcurrency: 4294967296000\n"),
        "cfg.yaml: `concurrency`: 4294967296000 polls in flight is more than the 256 allowed; the rate limit sets the pace, so a few suffice (4 is the default)"
    );
    for rate in ["0.001", "1e-300", "1001", ".nan", ".inf", "-1", "1e300"] {
        assert_eq!(
            error(&format!(
                "jobs: [1]\nrate_limit: {{describe_deployment_job: {rate}}}\n"
            )),
            format!(
                "cfg.yaml:2:39: rate_limit.describe_deployment_job: {} is not allowed; write requests per second from 0.01 to 1000, such as 5 (the account's quota is about 10 per API)",
                match rate {
                    ".nan" => "NaN",
                    ".inf" => "inf",
                    other => other,
                }
            )
        );
    }
    assert!(
        parse(
            "jobs: [1]\nrate_limit: {describe_deployment_job: 0.01, list_deployment_job: 1000}\n"
        )
        .is_ok()
    );
    let empty =
        parse("jobs: [1]\nrate_limit:\n  list_deployment_job:\n  describe_deployment_job: ~\n")
            .unwrap();
    assert_eq!(
        one(&empty).rate_limit,
        DEFAULT_RATE_LIMIT,
        "a key without a value keeps the default"
    );
    assert_eq!(
        error("jobs: [1]\nrate_limit:\n  list_deployment_job:\n  list_deployment_job: 2\n"),
        "cfg.yaml:3:3: rate_limit: duplicate field `list_deployment_job`; write each key once"
    );
    assert_eq!(
        error(
            "jobs: [1]\ncredentials: {type: ram_role_arn, access_key_id: a, access_key_secret: b, role_arn: r, duration: 13h}\n"
        ),
        "cfg.yaml: `credentials.duration`: STS issues credentials for 12h at most (and only up to the role's maximum session duration, 1h unless raised); write 12h or less"
    );
}

#[test]
fn retry_waits_are_at_most_ten_minutes() {
    assert_eq!(
        error("jobs: [1]\nretries: {base_delay: 1s, max_delay: 30m}\n"),
        "cfg.yaml: `retries.max_delay`: 30m is longer than 10m: a call waiting that long between attempts looks like a hang; use 10m or less (20s is the default)"
    );
    let longest = parse("jobs: [1]\nretries: {base_delay: 10m, max_delay: 10m}\n").unwrap();
    assert_eq!(longest.retries.max_delay, MAX_RETRY_DELAY);
}

#[test]
fn endpoints_an_operator_gets_wrong() {
    assert_eq!(
        error("jobs: [1]\nendpoint:\n"),
        "cfg.yaml:2:10: endpoint: is empty; write a preset (cn, intl), a region ID, a host name or a URL, or remove the key to use cn"
    );
    assert!(
            error("jobs: [1]\nendpoint: cas..aliyuncs.com\n").starts_with(
                "cfg.yaml:2:11: endpoint: endpoint \"cas..aliyuncs.com\" is not valid: the host name has an empty part"
            )
        );
    let plain = "is plain HTTP to a host that is not this machine: requests and their signatures would cross the network unencrypted; use https://, or add `allow_plain_http: true` to the account if a trusted proxy is in between";
    assert_eq!(
        error("jobs: [1]\nendpoint: http://cas.aliyuncs.com\n"),
        format!("cfg.yaml: `endpoint`: {plain}")
    );
    assert_eq!(
        error(
            "accounts:\n  - name: a\n    jobs: [1]\n    credentials: {type: default, sts_endpoint: http://sts.aliyuncs.com}\n"
        ),
        format!("cfg.yaml: `accounts[0].credentials.sts_endpoint`: {plain}")
    );
    let allowed =
        parse("jobs: [1]\nendpoint: http://cas.aliyuncs.com\nallow_plain_http: true\n").unwrap();
    assert_eq!(one(&allowed).endpoint.as_str(), "http://cas.aliyuncs.com/");
    let local = parse("jobs: [1]\nendpoint: http://127.0.0.1:9000\n").unwrap();
    assert_eq!(one(&local).endpoint.as_str(), "http://127.0.0.1:9000/");
    assert_eq!(
        error("allow_plain_http: true\naccounts:\n  - name: a\n    jobs: [1]\n"),
        "cfg.yaml: `accounts`: with `accounts`, allow_plain_http belongs inside an account entry: move it under one of the accounts"
    );
}

#[test]
fn endpoints_as_users_write_them() {
    let resolved = |text: &str| {
        one(&parse(&format!("jobs: [1]\n{text}")).unwrap())
            .endpoint
            .to_string()
    };
    for (text, url) in [
        ("", "https://cas.aliyuncs.com/"),
        ("endpoint: cn-hangzhou\n", "https://cas.aliyuncs.com/"),
        (
            "endpoint: eu-central-1\n",
            "https://cas.eu-central-1.aliyuncs.com/",
        ),
        (
            "endpoint: intl\nnetwork: vpc\n",
            "https://cas-vpc.ap-southeast-1.aliyuncs.com/",
        ),
        (
            "endpoint: ap-southeast-1\nnetwork: VPC\n",
            "https://cas-vpc.ap-southeast-1.aliyuncs.com/",
        ),
        (
            "endpoint: cn-hangzhou\nnetwork: vpc\n",
            "https://cas.aliyuncs.com/",
        ),
        ("network: vpc\n", "https://cas.aliyuncs.com/"),
        (
            "endpoint: eu-central-1\nnetwork: public\n",
            "https://cas.eu-central-1.aliyuncs.com/",
        ),
    ] {
        assert_eq!(resolved(text), url, "{text}");
    }
    let words = "it is neither a preset (cn, china, intl, international) nor a region ID the exporter knows";
    let forms = "write a preset (cn, china, intl, international), a region ID such as eu-central-1, a host name such as cas.eu-central-1.aliyuncs.com, or a full URL such as https://cas.aliyuncs.com";
    assert_eq!(
        error("jobs: [1]\nendpoint: internatinal\n"),
        format!(
            "cfg.yaml:2:11: endpoint: endpoint \"internatinal\" is not valid: {words}: did you mean `international`?; {forms}"
        )
    );
    assert_eq!(
        error("accounts:\n  - name: a\n    jobs: [1]\n    endpoint: prod\n"),
        format!(
            "cfg.yaml:4:15: accounts[0].endpoint: endpoint \"prod\" is not valid: {words}; {forms}"
        )
    );
    assert_eq!(
        error("jobs: [1]\nnetwork: private\n"),
        "cfg.yaml:2:10: network: \"private\" is not a network; write public (the default: the Internet endpoint) or vpc (the endpoint inside a VPC)"
    );
    assert_eq!(
        error(
            "accounts:\n  - name: a\n    jobs: [1]\n    endpoint: cas.eu-central-1.aliyuncs.com\n    network: vpc\n"
        ),
        "cfg.yaml:5:14: accounts[0].network: vpc applies to an endpoint written as a preset or region ID (such as ap-southeast-1), which it turns into the VPC host; with a host name or URL, write the VPC host itself (such as cas-vpc.ap-southeast-1.aliyuncs.com) and remove `network`"
    );
    assert_eq!(
        error("network: vpc\naccounts:\n  - name: a\n    jobs: [1]\n"),
        "cfg.yaml: `accounts`: with `accounts`, network belongs inside an account entry: move it under one of the accounts"
    );
}

#[test]
fn at_most_a_thousand_accounts() {
    let accounts = |n: usize| {
        let mut text = String::from("accounts:\n");
        for i in 0..n {
            text.push_str(&format!("  - {{name: a{i}, jobs: [1]}}\n"));
        }
        text
    };
    assert_eq!(
        parse(&accounts(MAX_ACCOUNTS)).unwrap().accounts.len(),
        MAX_ACCOUNTS
    );
    assert_eq!(
        error(&accounts(MAX_ACCOUNTS + 1)),
        "cfg.yaml: `accounts`: 1001 accounts are more than the 1000 one exporter polls; split them across several exporters"
    );
}

#[test]
fn job_ids_follow_the_rule_discovery_follows() {
    for (jobs, expected) in [
        ("[0]", "1:8: jobs[0]: job ID 0 is not valid"),
        ("[-3]", "1:8: jobs[0]: job ID -3 is not valid"),
        (
            "[\"1e3\"]",
            "1:8: jobs[0]: job ID \"1e3\" is not an integer",
        ),
        ("[1e3]", "1:8: jobs[0]: job ID \"1000.0\" is not an integer"),
        ("[true]", "1:8: jobs[0]: job ID \"true\" is not a number"),
        (
            "[9223372036854775808]",
            "1:8: jobs[0]: job ID 9223372036854775808 is too large (at most 9223372036854775807)",
        ),
        (
            "[\" 7\", 7]",
            "1:14: jobs[1]: job ID 7 is listed twice; remove the duplicate",
        ),
    ] {
        let text = format!("jobs: {jobs}\n");
        let message = error(&text);
        assert!(
            message.starts_with(&format!("cfg.yaml:{expected}")),
            "{message}"
        );
    }
    let top = parse("jobs: [\"9223372036854775807\"]\n").unwrap();
    assert_eq!(one(&top).jobs, [crate::api::model::MAX_JOB_ID]);
}

#[test]
fn at_most_fifty_thousand_jobs_an_account() {
    let ids = |n: usize| (1..=n).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    let full = parse(&format!("jobs: [{}]\n", ids(super::raw::MAX_JOBS))).unwrap();
    assert_eq!(one(&full).jobs.len(), super::raw::MAX_JOBS);
    let over = error(&format!("jobs: [{}]\n", ids(super::raw::MAX_JOBS + 1)));
    assert!(
            over.ends_with(": jobs[50000]: more than 50000 jobs in one account; split them across accounts or exporters, or use discovery"),
            "{over}"
        );
}

#[test]
fn huge_deep_or_marked_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.yaml");
    let big = format!(
        "jobs: [1]\ndiscovery:\n  name_include: {}\n",
        "a".repeat(50 << 20)
    );
    std::fs::write(&path, &big).unwrap();
    let refused = Config::load(path.to_str().unwrap(), &Env::empty())
        .unwrap_err()
        .to_string();
    assert_eq!(
        refused,
        format!(
            "cannot read config file {}: it is larger than 1024 KiB, far more than any valid file; check the path given to --config.file",
            path.display()
        )
    );
    let deep = format!("jobs: {}1{}\n", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        error(&deep),
        "cfg.yaml:1:71: collections nest more than 64 levels deep; no setting needs more than three (see config.example.yaml)"
    );
    let marked = parse("\u{feff}jobs: [7]\n").unwrap();
    assert_eq!(one(&marked).jobs, [7]);
    let long_pattern = format!(
        "jobs: [1]\ndiscovery:\n  name_include: {}\n",
        "a".repeat(100_000)
    );
    assert_eq!(
        error(&long_pattern),
        format!(
            "cfg.yaml: `discovery.name_include`: \"{}…\" (100000 bytes in all) is longer than 1024 characters; match on a shorter pattern, such as a prefix (^prod-)",
            "a".repeat(64)
        )
    );
    let costly = "jobs: [1]\ndiscovery:\n  name_include: \"\\\\w{1000}\\\\w{1000}\"\n";
    let costly = error(costly);
    assert!(
            costly.starts_with("cfg.yaml: `discovery.name_include`: \"\\\\w{1000}\\\\w{1000}\" is not a valid regular expression: ")
                && costly.len() < 400,
            "{costly}"
        );
    let many_keys = format!("jobs: [1]\n{}: 1\n", "k".repeat(900));
    assert!(error(&many_keys).len() < 600, "{}", error(&many_keys));
}

#[test]
fn discovery_rate_and_retry_errors() {
    assert_eq!(
        error("discovery:\n  job_types: [users]\n"),
        "cfg.yaml: `discovery.job_types`: \"users\" is not one of cloud, user, trustee"
    );
    assert_eq!(
        error("discovery:\n  statuses: [done]\n"),
        "cfg.yaml: `discovery.statuses`: \"done\" is not one of pending, editing, scheduling, processing, success, error"
    );
    assert!(
            error("discovery:\n  name_include: \"(\"\n")
                .starts_with("cfg.yaml: `discovery.name_include`: \"(\" is not a valid regular expression: regex parse error")
        );
    assert_eq!(
        error("discovery:\n  refresh_interval: 500ms\n"),
        "cfg.yaml: `discovery.refresh_interval`: must be at least 1s; each listing costs one call per 50 jobs (5m is a good start)"
    );
    assert_eq!(
        error("jobs: [1]\nrate_limit:\n  list_deployment_job: 0\n"),
        "cfg.yaml:3:24: rate_limit.list_deployment_job: 0 is not allowed; write requests per second from 0.01 to 1000, such as 5 (the account's quota is about 10 per API)"
    );
    assert_eq!(
        error("jobs: [1]\nretries:\n  max_attempts: 50\n"),
        "cfg.yaml: `retries.max_attempts`: 50 attempts would hammer a failing API; use 10 or fewer (3 is the default)"
    );
    assert_eq!(
        error("jobs: [1]\nretries:\n  base_delay: 1m\n"),
        "cfg.yaml: `retries.base_delay`: must be above 0s and at most retries.max_delay"
    );
    assert_eq!(
        error("jobs: [1]\nsettled_interval: 30s\n"),
        "cfg.yaml: `settled_interval`: 30s is shorter than interval (1m); finished jobs would be polled more often than running ones: make it at least the interval"
    );
}

#[test]
fn the_example_file_is_valid_and_shows_the_defaults() {
    let config = parse(include_str!("../../config.example.yaml")).unwrap();
    let defaults = parse("jobs: [8888, 9999]\n").unwrap();
    assert_eq!(format!("{config:?}"), format!("{defaults:?}"));
}

/// The commented block that starts with `# {key}:` in the example, uncommented.
fn example_block(key: &str) -> String {
    let example = include_str!("../../config.example.yaml");
    let start = example
        .find(&format!("\n# {key}:"))
        .expect("block in the example")
        + 1;
    example[start..]
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_examples_commented_blocks_are_valid() {
    let env = Env::from_fn(|_| Some("value".to_owned()));
    let discovery = Config::parse(&example_block("discovery"), "example", &env).unwrap();
    let found = one(&discovery).discovery.clone().unwrap();
    assert_eq!((found.job_types.len(), found.statuses.len()), (2, 2));
    let accounts = Config::parse(&example_block("accounts"), "example", &env).unwrap();
    let names: Vec<&str> = accounts.accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, vec!["prod", "intl-shop"]);
    let credentials = Config::parse(
        &format!("jobs: [1]\n{}", example_block("credentials")),
        "example",
        &env,
    )
    .unwrap();
    assert!(
        static_credentials(&one(&credentials).credentials)
            .security_token
            .is_some()
    );
}

#[test]
fn unknown_key_names_line_and_column() {
    assert_eq!(
        error("jobs: [1]\nintervall: 30s\n"),
        "cfg.yaml:2:1: unknown field `intervall`, expected one of `interval`, `settled_interval`, `stale_after`, `job_info_interval`, `concurrency`, `finished_job_retention`, `worker_detail`, `certificate_detail`, `timeouts`, `retries`, `endpoint`, `network`, `allow_plain_http`, `credentials`, `jobs`, `discovery`, `rate_limit`, `accounts`; check the spelling (config.example.yaml lists every key)"
    );
    assert_eq!(
        error("jobs: [1]\ntimeouts:\n  read: 3s\n"),
        "cfg.yaml:3:3: timeouts: unknown field `read`, expected `connect` or `request`; check the spelling (config.example.yaml lists every key)"
    );
}

#[test]
fn invalid_yaml() {
    assert_eq!(
        error("jobs: [1\n"),
        "cfg.yaml:2:1: did not find expected ',' or ']', while parsing a flow sequence"
    );
}

#[test]
fn bad_job_ids() {
    assert_eq!(
        error("jobs:\n  - 1\n  - abc\n"),
        "cfg.yaml:3:5: jobs[1]: job ID \"abc\" is not a number; job IDs are the positive integers ListDeploymentJob and the CAS console show"
    );
    assert_eq!(
        error("jobs: [5, 7, 5]\n"),
        "cfg.yaml:1:14: jobs[2]: job ID 5 is listed twice; remove the duplicate"
    );
    assert_eq!(
        error("jobs: [-3]\n"),
        "cfg.yaml:1:8: jobs[0]: job ID -3 is not valid; job IDs are the positive integers ListDeploymentJob and the CAS console show"
    );
    assert_eq!(
        error("jobs: []\n"),
        "cfg.yaml: `jobs`: no deployment jobs to poll: list their IDs (for example `jobs: [8888]`) or add a `discovery:` section"
    );
}

#[test]
fn bad_values() {
    assert_eq!(
        error("jobs: [1]\ninterval: 30\n"),
        "cfg.yaml:2:11: interval: \"30\" is not a duration (time unit needed, for example 30sec or 30ms); write it like 30s, 5m or 1h30m"
    );
    assert_eq!(
        error("jobs: [1]\nendpoint: https://cas.aliyuncs.com/api\n"),
        "cfg.yaml:2:11: endpoint: endpoint \"https://cas.aliyuncs.com/api\" is not valid: the API is served at path / with no query; write a preset (cn, china, intl, international), a region ID such as eu-central-1, a host name such as cas.eu-central-1.aliyuncs.com, or a full URL such as https://cas.aliyuncs.com"
    );
    assert_eq!(
        error("jobs: [1]\ninterval: 1m\nstale_after: 30s\n"),
        "cfg.yaml: `stale_after`: 30s is shorter than interval (1m); values would vanish between two polls: make it at least the interval (default 5 × interval)"
    );
    assert_eq!(
        error("jobs: [1]\ninterval: 5s\n"),
        "cfg.yaml: `timeouts.request`: must be shorter than interval, or polls would overlap: lower it or lengthen interval"
    );
    assert_eq!(
        error("jobs: [1]\nconcurrency: -1\n"),
        "cfg.yaml:2:14: concurrency: -1 is not allowed; write a whole number of at least 1, such as 4"
    );
    assert_eq!(
        error("jobs: 5\n"),
        "cfg.yaml:1:7: jobs: invalid type: integer `5`, expected a list of deployment job IDs, such as [8888, 9999]; see config.example.yaml for the expected form"
    );
    assert_eq!(
        error("jobs: [1]\ninterval: 1m\ninterval: 2m\n"),
        "cfg.yaml:1:1: duplicate field `interval`; write each key once"
    );
    assert_eq!(
        error("jobs: [1]\nconcurrency: 0\n"),
        "cfg.yaml:2:14: concurrency: 0 is not allowed; write a whole number of at least 1, such as 4"
    );
}
