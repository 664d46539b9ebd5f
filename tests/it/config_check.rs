//! `--config.check` as CI runs it: offline, without secrets, saying per account
//! where the API is and where credentials would come from; and
//! `--config.check.credentials`, which does obtain them.

use crate::support;

use aliyun_cas_exporter::simulator::Simulator;
use std::path::Path;
use std::process::{Command, Stdio};
use support::{KEY_ID, SECRET, SimSpec, config_file};

const ROLE: &str = "acs:ram::123456789012:role/cas-exporter";

/// Runs the binary with exactly `env` as its environment: status code, stdout, stderr.
fn run_with_only(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(support::BINARY)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("binary runs");
    (
        output.status.code().expect("exited"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_example_file_checks_with_an_empty_environment() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.yaml");
    let path = example.to_str().unwrap();
    let (code, stdout, stderr) = run_with_only(&["--config.file", path, "--config.check"], &[]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(
        stdout,
        format!(
            "{path}: valid (accounts: 1, jobs listed by ID: 2, accounts with discovery: 0)
  account default: endpoint https://cas.aliyuncs.com/
  account default: credentials: the default chain, trying in order: ecs_ram_role: the ECS instance RAM role, as the metadata service at http://100.100.100.200 names it (not asked by --config.check)
"
        )
    );
}

/// A simulator playing CAS, STS, the ECS metadata service and a credentials URI.
async fn identity_simulator() -> Simulator {
    SimSpec::new()
        .key(KEY_ID, SECRET)
        .set(
            "identity",
            format!("{{ecs_role: cas-role, credentials_uri: true, roles: [{{arn: \"{ROLE}\"}}]}}"),
        )
        .jobs(support::SAMPLE_JOB)
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_sends_nothing_where_the_credentials_check_asks() {
    let sim = identity_simulator().await;
    let at = sim.endpoint();
    let cfg = config_file(&format!(
        "accounts:
  - name: chain
    endpoint: {at}
    credentials: {{type: default, metadata_endpoint: \"{at}\"}}
    jobs: [8888]
  - name: role
    endpoint: {at}
    credentials:
      type: ram_role_arn
      access_key_id: {KEY_ID}
      access_key_secret: ${{CAS_SECRET}}
      role_arn: {ROLE}
      sts_endpoint: {at}
    jobs: [8888]
"
    ));
    let path = cfg.path.to_str().unwrap();
    let uri = format!("{at}/credentials?token=t0ps3cret");
    let env = [
        ("CAS_SECRET", SECRET),
        ("ALIBABA_CLOUD_ECS_METADATA", "cas-role"),
        ("ALIBABA_CLOUD_CREDENTIALS_URI", uri.as_str()),
    ];
    let (code, stdout, stderr) = run_with_only(&["--config.file", path, "--config.check"], &env);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(
        stdout,
        format!(
            "{path}: valid (accounts: 2, jobs listed by ID: 2, accounts with discovery: 0)
  account chain: endpoint {at}/
  account chain: credentials: the default chain, trying in order: ecs_ram_role: the ECS instance RAM role cas-role from the metadata service at {at} (not asked by --config.check); then credentials_uri: the credentials URI at {at} (not asked by --config.check)
  account role: endpoint {at}/
  account role: credentials: role {ROLE} assumed through STS at {at}/ (not asked by --config.check), signed with static AccessKey LTAI**** from the config file
"
        )
    );
    assert_eq!(sim.requests().len(), 0, "--config.check sent a request");

    let (code, stdout, stderr) =
        run_with_only(&["--config.file", path, "--config.check.credentials"], &env);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(
        stdout.contains(
            "  account chain: credentials: obtained from ecs_ram_role (AccessKey STS.****)\n"
        ) && stdout.contains(
            "  account role: credentials: obtained from ram_role_arn (AccessKey STS.****)\n"
        ),
        "{stdout}"
    );
    let asked: Vec<String> = sim
        .requests()
        .into_iter()
        .map(|r| r.param("Action").map_or(r.path.clone(), str::to_owned))
        .collect();
    assert!(
        asked.contains(&"/latest/meta-data/ram/security-credentials/cas-role".to_owned())
            && asked.contains(&"AssumeRole".to_owned()),
        "{asked:?}"
    );
}

#[test]
fn a_failed_credentials_check_lists_each_place_on_its_own_line() {
    let cfg = config_file("jobs: [1]\n");
    let path = cfg.path.to_str().unwrap();
    let (status, stdout, stderr) =
        support::run_to_end(&["--config.check.credentials", "--config.file", path], &[]);
    assert_eq!((status.code(), stdout.as_str()), (Some(1), ""));
    assert_eq!(
        stderr,
        format!(
            "{path}: account default: no credentials found; tried, in order:
  environment: ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET are not set
  oidc_role_arn: not all of ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE are set
  cli_profile: no file at {home}/.aliyun/config.json
  profile: no profile file at {home}/.alibabacloud/credentials or {home}/.alibabacloud/credentials.ini
  ecs_ram_role: ALIBABA_CLOUD_ECS_METADATA_DISABLED is true
  credentials_uri: ALIBABA_CLOUD_CREDENTIALS_URI is not set
Set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, run on ECS with a RAM role, or add a `credentials:` section (docs/credentials.md)
",
            home = support::empty_home().display()
        )
    );
    let (status, stdout, stderr) = support::run_to_end(
        &["--config.check.credentials", "--config.file", path],
        &support::KEY_ENV,
    );
    assert_eq!((status.code(), stderr.as_str()), (Some(0), ""));
    assert_eq!(
        stdout,
        format!(
            "{path}: valid (accounts: 1, jobs listed by ID: 1, accounts with discovery: 0)
  account default: endpoint https://cas.aliyuncs.com/
  account default: credentials: obtained from environment (AccessKey LTAI****)
"
        )
    );
}

#[test]
fn endpoints_and_variables_are_refused_with_file_line_and_key() {
    for (text, expected) in [
        (
            "endpoint: internatinal\njobs: [1]\n",
            ":1:11: endpoint: endpoint \"internatinal\" is not valid: it is neither a preset (cn, china, intl, international) nor a region ID the exporter knows: did you mean `international`?; write a preset",
        ),
        (
            "endpoint: eu-central-1\nnetwork: private\njobs: [1]\n",
            ":2:10: network: \"private\" is not a network; write public (the default: the Internet endpoint) or vpc (the endpoint inside a VPC)\n",
        ),
        (
            "jobs: [1]\ncredentials:\n  access_key_id: LTAI\n  access_key_secret: ${CAS_SECRET}\n",
            ":4:22: credentials.access_key_secret: refers to ${CAS_SECRET}, which is not set or empty; export CAS_SECRET before starting the exporter\n",
        ),
    ] {
        let cfg = config_file(text);
        let path = cfg.path.to_str().unwrap();
        let (code, stdout, stderr) = run_with_only(&["--config.file", path, "--config.check"], &[]);
        assert_eq!((code, stdout.as_str()), (1, ""), "{text}");
        assert!(
            stderr.starts_with(&format!("{path}{expected}")),
            "{text}\ngot: {stderr}"
        );
    }
    let cfg = config_file("endpoint: eu-central-1\njobs: [1]\n");
    let path = cfg.path.to_str().unwrap();
    let (code, stdout, _) = run_with_only(&["--config.file", path, "--config.check"], &[]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("  account default: endpoint https://cas.eu-central-1.aliyuncs.com/\n"),
        "{stdout}"
    );
}

#[test]
fn places_the_chain_would_pass_over_as_unusable_are_named() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_str().unwrap();
    std::fs::create_dir_all(format!("{h}/.aliyun")).unwrap();
    std::fs::write(
        format!("{h}/.aliyun/config.json"),
        r#"{"current":"sso","profiles":[{"name":"sso","mode":"CloudSSO"}]}"#,
    )
    .unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.yaml");
    let path = example.to_str().unwrap();
    let (code, stdout, stderr) = run_with_only(
        &["--config.file", path, "--config.check"],
        &[
            ("HOME", h),
            ("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true"),
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIhalf"),
        ],
    );
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(
        stdout.lines().nth(2).unwrap(),
        format!(
            "  account default: credentials: the default chain, where no place applies now (passed over, as they cannot be used: environment: ALIBABA_CLOUD_ACCESS_KEY_ID is set but ALIBABA_CLOUD_ACCESS_KEY_SECRET is empty or unset: set ALIBABA_CLOUD_ACCESS_KEY_SECRET to the AccessKey secret of that key; cli_profile: {h}/.aliyun/config.json: profile \"sso\" uses mode CloudSSO, which the exporter does not support (it needs a browser sign-in); use AK, StsToken, RamRoleArn, EcsRamRole, OIDC, ChainableRamRoleArn or External) (--config.check.credentials says why, place by place)"
        )
    );
}
