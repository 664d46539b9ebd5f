//! `worker_detail:` and `finished_job_retention:`: defaults, zero, bounds.

use super::*;

#[test]
fn retention_zero_keeps_finished_jobs() {
    let config = parse("jobs: [1]\nfinished_job_retention: 0s\n").unwrap();
    assert_eq!(config.polling.finished_job_retention, None);
    let config = parse("jobs: [1]\nfinished_job_retention: 1h\n").unwrap();
    assert_eq!(
        config.polling.finished_job_retention,
        Some(Duration::from_secs(3600))
    );
    assert_eq!(
        error("jobs: [1]\nfinished_job_retention: 7\n"),
        "cfg.yaml:2:25: finished_job_retention: \"7\" is not a duration (time unit needed, for example 7sec or 7ms); write it like 30s, 5m or 1h30m"
    );
}

#[test]
fn worker_detail_keys_default_one_by_one() {
    let config = parse("jobs: [1]\nworker_detail: {max_per_job: 5}\n").unwrap();
    assert_eq!(
        config.worker_detail,
        WorkerDetail {
            enabled: true,
            max_per_job: 5,
            max_per_account: 2000
        }
    );
    let config = parse("jobs: [1]\nworker_detail: {}\n").unwrap();
    assert_eq!(config.worker_detail, DEFAULT_WORKER_DETAIL);
    assert_eq!(
        config.certificate_detail,
        CertificateDetail { enabled: true }
    );
    let config = parse("jobs: [1]\ncertificate_detail: {enabled: false}\n").unwrap();
    assert_eq!(
        config.certificate_detail,
        CertificateDetail { enabled: false }
    );
}

#[test]
fn worker_detail_bounds_are_refused_with_the_key() {
    assert_eq!(
        error("jobs: [1]\nworker_detail:\n  max_per_job: 1001\n"),
        "cfg.yaml: `worker_detail.max_per_job`: 1001 is more than 1000: write 1 to 1000. Each failed worker is a series, and aliyun_cas_deployment_job_unlisted_workers counts those beyond the caps"
    );
    assert_eq!(
        error("jobs: [1]\nworker_detail:\n  max_per_account: 100001\n"),
        "cfg.yaml: `worker_detail.max_per_account`: 100001 is more than 100000: write 1 to 100000. Each failed worker is a series, and aliyun_cas_deployment_job_unlisted_workers counts those beyond the caps"
    );
    assert_eq!(
        error("jobs: [1]\nworker_detail:\n  max_per_job: 0\n"),
        "cfg.yaml:3:16: worker_detail.max_per_job: 0 is not allowed; write a whole number of at least 1, such as 4"
    );
    assert_eq!(
        error("jobs: [1]\nworker_detail:\n  enable: false\n"),
        "cfg.yaml:3:3: worker_detail: unknown field `enable`, expected one of `enabled`, `max_per_job`, `max_per_account`; check the spelling (config.example.yaml lists every key)"
    );
}
