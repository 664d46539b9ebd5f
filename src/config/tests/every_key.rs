//! A file that sets every key, and what each becomes.

use super::*;

#[test]
fn every_key() {
    let env = Env::from_fn(|name| (name == "MY_SECRET").then(|| "from-env".to_owned()));
    let config = Config::parse(
        "endpoint: intl
network: vpc
credentials:
  access_key_id: LTAI
  access_key_secret: ${MY_SECRET}
  security_token: tok
interval: 30s
settled_interval: 15m
stale_after: 10m
job_info_interval: 2m
concurrency: 2
finished_job_retention: 36h
worker_detail:
  enabled: false
  max_per_job: 10
  max_per_account: 300
certificate_detail:
  enabled: false
timeouts:
  connect: 2s
  request: 8s
retries:
  max_attempts: 5
  base_delay: 200ms
  max_delay: 5s
rate_limit:
  describe_deployment_job_status: 8
  list_deployment_job: 1
  describe_deployment_job: 0.5
  list_worker_resource: 3
  list_deployment_job_cert: 0.25
discovery:
  refresh_interval: 1m
  job_types: [user]
  statuses: [processing, error]
  name_include: ^prod-
  name_exclude: -test$
jobs:
  - 1
  - 2
",
        "cfg.yaml",
        &env,
    )
    .unwrap();
    let account = one(&config);
    assert_eq!(
        account.endpoint.as_str(),
        "https://cas-vpc.ap-southeast-1.aliyuncs.com/"
    );
    let creds = static_credentials(&account.credentials);
    assert_eq!(creds.access_key_id, "LTAI");
    assert_eq!(creds.access_key_secret.expose(), "from-env");
    assert_eq!(creds.security_token.unwrap().expose(), "tok");
    let rates: Vec<(Action, f64)> = account.rate_limit.iter().map(|(a, r)| (a, *r)).collect();
    assert_eq!(
        rates,
        [
            (Action::DescribeDeploymentJobStatus, 8.0),
            (Action::DescribeDeploymentJob, 0.5),
            (Action::ListDeploymentJob, 1.0),
            (Action::ListWorkerResource, 3.0),
            (Action::ListDeploymentJobCert, 0.25),
        ]
    );
    let discovery = account.discovery.clone().unwrap();
    assert_eq!(discovery.refresh_interval, Duration::from_secs(60));
    assert_eq!(discovery.job_types, vec!["user"]);
    assert_eq!(discovery.statuses, vec!["processing", "error"]);
    assert_eq!(
        config.polling,
        Polling {
            interval: Duration::from_secs(30),
            settled_interval: Duration::from_secs(900),
            stale_after: Duration::from_secs(600),
            job_info_interval: Duration::from_secs(120),
            concurrency: 2,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(8),
            finished_job_retention: Some(Duration::from_secs(36 * 3600)),
        }
    );
    assert_eq!(
        config.worker_detail,
        WorkerDetail {
            enabled: false,
            max_per_job: 10,
            max_per_account: 300
        }
    );
    assert_eq!(
        config.certificate_detail,
        CertificateDetail { enabled: false }
    );
    assert_eq!(
        config.retries,
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5)
        }
    );
}
