//! `rate_limit:` keys: a refused key is located where it stands, and the keys
//! are listed in the order config.example.yaml documents them.

use super::*;

const KEYS: &str = "expected one of `describe_deployment_job_status`, `list_deployment_job`, `describe_deployment_job`, `list_worker_resource`, `list_deployment_job_cert`; check the spelling (config.example.yaml lists every key)";

#[test]
fn an_unknown_key_is_located_where_it_stands() {
    assert_eq!(
        error("jobs: [1]\nrate_limit:\n  list_deployment_job: 1\n  list_deployment_jobs: 2\n"),
        format!("cfg.yaml:4:3: rate_limit: unknown field `list_deployment_jobs`, {KEYS}")
    );
    assert_eq!(
        error("jobs: [1]\nrate_limit: {describe_deployment_job: 1, x: 2}\n"),
        format!("cfg.yaml:2:42: rate_limit: unknown field `x`, {KEYS}")
    );
    assert_eq!(
        error("jobs: [1]\nrate_limit: {[a]: 2}\n"),
        "cfg.yaml:2:14: rate_limit: invalid type: sequence, expected field identifier; see config.example.yaml for the expected form"
    );
}

#[test]
fn the_documented_keys_are_every_actions_once() {
    let mut documented = super::super::raw::RATE_LIMIT_KEYS.to_vec();
    let mut keys = Action::ALL.map(Action::key).to_vec();
    documented.sort_unstable();
    keys.sort_unstable();
    assert_eq!(documented, keys);
}
