//! Every credentials provider end to end: the real binary obtains credentials
//! from the simulator playing STS, the ECS metadata service or a credentials
//! URI (or reads the user's files), polls with them, and refreshes them.

use crate::support;

use aliyun_cas_exporter::simulator::{LoggedRequest, Simulator};
use std::time::Duration;
use support::{
    ConfigBuilder, Exporter, KEY_ENV, KEY_ID, Metrics, SAMPLE_JOB, SECRET, SimSpec, simulator,
};

const ROLE: &str = "acs:ram::123456789012:role/cas-exporter";
const OIDC_PROVIDER: &str = "acs:ram::123456789012:oidc-provider/ack-rrsa";
const OIDC_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjYXMifQ.c2lnbmF0dXJl";

/// A simulator whose issued credentials last `lifetime`, refreshed 15 minutes before that.
async fn identity_simulator(lifetime: &str) -> Simulator {
    simulator(&format!(
        "access_keys: [{{id: {KEY_ID}, secret: {SECRET}}}]
identity:
  roles:
    - arn: {ROLE}
      oidc_provider_arn: {OIDC_PROVIDER}
      oidc_token: {OIDC_TOKEN}
  ecs_role: cas-role
  imdsv2_required: true
  credentials_uri: true
  credential_lifetime: {lifetime}
jobs:
{SAMPLE_JOB}"
    ))
    .await
}

fn polls(sim: &Simulator) -> Vec<LoggedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.param("Action") == Some("DescribeDeploymentJobStatus"))
        .collect()
}

fn up(m: &Metrics) -> Option<f64> {
    m.get(
        "aliyun_cas_deployment_job_up",
        &[("account", "default"), ("job_id", "8888")],
    )
}

/// Starts the exporter with the fields of its `credentials` section (none: no section)
/// and `env`, and waits for a successful poll.
async fn start(
    sim: &Simulator,
    credentials: &[(&str, &str)],
    env: &[(&str, &str)],
) -> (Exporter, support::ConfigFile) {
    let cfg = ConfigBuilder::new(sim)
        .interval("1s")
        .set("settled_interval", "1s")
        .set("timeouts", "{request: 900ms}")
        .credentials(credentials)
        .jobs([8888])
        .file();
    let exporter = Exporter::start(&["--config.file", cfg.path.to_str().unwrap()], env);
    exporter
        .wait_for(Duration::from_secs(15), "a successful poll", |m| {
            up(m) == Some(1.0)
        })
        .await;
    (exporter, cfg)
}

/// `--config.check.credentials` of a file polling `sim` with the fields of its
/// `credentials` section: the exit status and stderr.
fn config_check(
    sim: &Simulator,
    credentials: &[(&str, &str)],
    env: &[(&str, &str)],
) -> (std::process::ExitStatus, String) {
    let cfg = ConfigBuilder::new(sim)
        .credentials(credentials)
        .jobs([8888])
        .file();
    let (status, _, stderr) = support::run_to_end(
        &[
            "--config.check.credentials",
            "--config.file",
            cfg.path.to_str().unwrap(),
        ],
        env,
    );
    (status, stderr)
}

/// The AccessKey IDs the polls were signed with, in order, without repeats.
fn keys_used(sim: &Simulator) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for poll in polls(sim) {
        let key = poll.param("AccessKeyId").unwrap().to_owned();
        assert!(
            poll.security_token,
            "temporary credentials carry their token"
        );
        if keys.last() != Some(&key) {
            keys.push(key);
        }
    }
    keys
}

/// With credentials lasting 15 min + 2 s: the provider refreshes after 2 s (polls
/// switch keys), then, with the identity service down, counts failed refreshes
/// while polls go on with the current key.
async fn refreshes_and_survives_a_failed_refresh(
    sim: &Simulator,
    exporter: &Exporter,
    provider: &str,
) {
    exporter
        .wait_for_log(&["credentials refreshed", &format!("provider={provider}")])
        .await;
    exporter
        .wait_for(
            Duration::from_secs(10),
            "polls with the refreshed key",
            |_| keys_used(sim).len() >= 2,
        )
        .await;
    assert!(keys_used(sim).iter().all(|k| k.starts_with("STS.")));
    sim.set_identity_failing(true);
    let m = exporter
        .wait_for(Duration::from_secs(15), "a failed refresh", |m| {
            m.get(
                "aliyun_cas_credentials_refresh_errors_total",
                &[("account", "default"), ("provider", provider)],
            )
            .is_some_and(|n| n >= 1.0)
        })
        .await;
    assert_eq!(up(&m), Some(1.0));
    let before = polls(sim).len();
    exporter
        .wait_for(Duration::from_secs(10), "more polls", |_| {
            polls(sim).len() >= before + 2
        })
        .await;
    assert!(
        polls(sim).iter().skip(before).all(|p| p.code == "OK"),
        "still valid, still used"
    );
    exporter
        .wait_for_log(&[
            "level=warn",
            "refreshing credentials failed",
            &format!("provider={provider}"),
        ])
        .await;
    sim.set_identity_failing(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ram_role_arn_refreshes_ahead_of_expiry_and_survives_a_failed_refresh() {
    // Credentials that last 15 min + 2 s are refreshed after 2 s.
    let sim = identity_simulator("902s").await;
    let (exporter, _cfg) = start(
        &sim,
        &[
            ("type", "ram_role_arn"),
            ("role_arn", ROLE),
            ("role_session_name", "cas"),
            ("sts_endpoint", &sim.endpoint()),
        ],
        &KEY_ENV,
    )
    .await;
    exporter
        .wait_for_log(&[
            "account configured",
            "provider=ram_role_arn",
            "access_key_id=STS.****",
        ])
        .await;
    let assume: Vec<LoggedRequest> = sim
        .requests()
        .into_iter()
        .filter(|r| r.param("Action") == Some("AssumeRole"))
        .collect();
    assert_eq!(assume[0].method, "GET");
    assert_eq!(
        assume[0].param("AccessKeyId"),
        Some(KEY_ID),
        "signed by the source key"
    );
    assert_eq!(assume[0].param("RoleArn"), Some(ROLE));
    assert_eq!(assume[0].param("RoleSessionName"), Some("cas"));
    assert_eq!(assume[0].param("DurationSeconds"), Some("3600"));
    assert_eq!(assume[0].code, "OK");
    refreshes_and_survives_a_failed_refresh(&sim, &exporter, "ram_role_arn").await;
    let m = exporter.metrics().await;
    let expiry = m
        .get(
            "aliyun_cas_credentials_expiry_timestamp_seconds",
            &[("account", "default")],
        )
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        expiry > now + 800.0 && expiry < now + 903.0,
        "{expiry} vs {now}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_from_the_environment_reads_its_token_file_at_every_refresh() {
    let sim = identity_simulator("902s").await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, OIDC_TOKEN).unwrap();
    let (exporter, _cfg) = start(
        &sim,
        &[("type", "default"), ("sts_endpoint", &sim.endpoint())],
        &[
            ("ALIBABA_CLOUD_ROLE_ARN", ROLE),
            ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", OIDC_PROVIDER),
            (
                "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
                token_file.to_str().unwrap(),
            ),
            ("ALIBABA_CLOUD_ROLE_SESSION_NAME", "rrsa"),
        ],
    )
    .await;
    exporter
        .wait_for_log(&["account configured", "provider=oidc_role_arn"])
        .await;
    let oidc: Vec<LoggedRequest> = sim
        .requests()
        .into_iter()
        .filter(|r| r.param("Action") == Some("AssumeRoleWithOIDC"))
        .collect();
    assert_eq!(oidc[0].param("OIDCProviderArn"), Some(OIDC_PROVIDER));
    assert_eq!(oidc[0].param("RoleSessionName"), Some("rrsa"));
    assert_eq!(oidc[0].param("AccessKeyId"), None, "unsigned");
    refreshes_and_survives_a_failed_refresh(&sim, &exporter, "oidc_role_arn").await;
    // Kubernetes rotates the token: a token STS does not trust now fails the refresh.
    std::fs::write(&token_file, "rotated-but-untrusted").unwrap();
    exporter
        .wait_for(
            Duration::from_secs(15),
            "a refresh refused for the new token",
            |m| {
                m.get(
                    "aliyun_cas_credentials_refresh_errors_total",
                    &[("account", "default"), ("provider", "oidc_role_arn")],
                )
                .is_some_and(|n| n >= 1.0)
            },
        )
        .await;
    exporter
        .wait_for_log(&[
            "refreshing credentials failed",
            "AuthenticationFail.OIDCToken.Invalid",
        ])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecs_ram_role_uses_an_imdsv2_token_and_discovers_the_role() {
    let sim = identity_simulator("902s").await;
    let (exporter, _cfg) = start(
        &sim,
        &[("type", "default"), ("metadata_endpoint", &sim.endpoint())],
        &[("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "false")],
    )
    .await;
    exporter
        .wait_for_log(&["account configured", "provider=ecs_ram_role"])
        .await;
    let metadata: Vec<(String, String, u16)> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/latest/"))
        .map(|r| (r.method, r.path, r.status))
        .collect();
    assert_eq!(
        metadata[..3],
        [
            ("PUT".to_owned(), "/latest/api/token".to_owned(), 200),
            (
                "GET".to_owned(),
                "/latest/meta-data/ram/security-credentials/".to_owned(),
                200
            ),
            (
                "GET".to_owned(),
                "/latest/meta-data/ram/security-credentials/cas-role".to_owned(),
                200
            ),
        ]
    );
    refreshes_and_survives_a_failed_refresh(&sim, &exporter, "ecs_ram_role").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecs_ram_role_falls_back_to_imdsv1_unless_disabled() {
    let sim = SimSpec::new()
        .key(KEY_ID, SECRET)
        .set("identity", "{ecs_role: cas-role, imdsv2_unavailable: true}")
        .jobs(SAMPLE_JOB)
        .start()
        .await;
    let endpoint = sim.endpoint();
    let credentials = [
        ("type", "default"),
        ("metadata_endpoint", endpoint.as_str()),
    ];
    // ALIBABA_CLOUD_ECS_METADATA names the role: no need to ask for it.
    let env = [
        ("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "false"),
        ("ALIBABA_CLOUD_ECS_METADATA", "cas-role"),
    ];
    let (exporter, _cfg) = start(&sim, &credentials, &env).await;
    exporter
        .wait_for_log(&["account configured", "provider=ecs_ram_role"])
        .await;
    let metadata: Vec<(String, u16)> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/latest/"))
        .map(|r| (r.path, r.status))
        .collect();
    assert_eq!(
        metadata[..2],
        [
            ("/latest/api/token".to_owned(), 404),
            (
                "/latest/meta-data/ram/security-credentials/cas-role".to_owned(),
                200
            ),
        ]
    );
    drop(exporter);

    let (status, stderr) = config_check(
        &sim,
        &credentials,
        &[
            ("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "false"),
            ("ALIBABA_CLOUD_IMDSV1_DISABLED", "true"),
        ],
    );
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains(
            "ecs_ram_role: cannot get credentials from ecs_ram_role: no IMDSv2 token from"
        ) && stderr.contains("IMDSv1 is disabled (ALIBABA_CLOUD_IMDSV1_DISABLED)"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_uri_from_the_environment() {
    let sim = identity_simulator("902s").await;
    let uri = format!("{}/credentials", sim.endpoint());
    let (exporter, _cfg) = start(
        &sim,
        &[],
        &[
            ("ALIBABA_CLOUD_CREDENTIALS_URI", &uri),
            ("ALIBABA_CLOUD_USER_AGENT", "team-sre/1.0"),
        ],
    )
    .await;
    exporter
        .wait_for_log(&["account configured", "provider=credentials_uri"])
        .await;
    assert_eq!(keys_used(&sim).len(), 1);
    let agent = &polls(&sim)[0].user_agent;
    assert_eq!(
        agent,
        &format!(
            "aliyun-cas-exporter/{} team-sre/1.0",
            env!("CARGO_PKG_VERSION")
        )
    );
    refreshes_and_survives_a_failed_refresh(&sim, &exporter, "credentials_uri").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_files_users_already_have() {
    let sim = identity_simulator("1h").await;
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_str().unwrap().to_owned();
    std::fs::create_dir_all(format!("{h}/.alibabacloud")).unwrap();
    std::fs::write(
        format!("{h}/.alibabacloud/credentials.ini"),
        format!(
            "[default]\ntype = access_key\naccess_key_id = {KEY_ID}\naccess_key_secret = {SECRET}\n"
        ),
    )
    .unwrap();
    let (exporter, _cfg) = start(&sim, &[], &[("HOME", &h)]).await;
    exporter
        .wait_for_log(&[
            "account configured",
            "provider=profile",
            "access_key_id=LTAI****",
        ])
        .await;
    drop(exporter);

    // The aliyun CLI's file comes before the INI file in the chain.
    std::fs::create_dir_all(format!("{h}/.aliyun")).unwrap();
    std::fs::write(
        format!("{h}/.aliyun/config.json"),
        format!(
            r#"{{"current":"main","profiles":[{{"name":"main","mode":"AK","access_key_id":"{KEY_ID}","access_key_secret":"{SECRET}"}}]}}"#
        ),
    )
    .unwrap();
    let (exporter, _cfg) = start(&sim, &[], &[("HOME", &h)]).await;
    exporter
        .wait_for_log(&["account configured", "provider=cli_profile"])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_path_reaches_the_metadata_service_while_it_is_disabled() {
    let sim = identity_simulator("1h").await;
    let endpoint = sim.endpoint();
    let metadata = ("metadata_endpoint", endpoint.as_str());
    let ini = "[default]\ntype = ecs_ram_role\nrole_name = cas-role\n";
    let cli = |mode: &str| {
        format!(
            r#"{{"current":"main","profiles":[{{"name":"main","mode":"{mode}","ram_role_name":"cas-role","ram_role_arn":"{ROLE}","source_profile":"ecs"}},{{"name":"ecs","mode":"EcsRamRole","ram_role_name":"cas-role"}}]}}"#
        )
    };
    // Each way to name an ECS role: the config, an INI profile, a CLI profile, and
    // a CLI role whose source credentials come from the instance.
    // What each case is, its credentials section, and a file written under HOME.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<(&'a str, String)>);
    let cases: [Case; 4] = [
        (
            "the config",
            vec![
                ("type", "ecs_ram_role"),
                ("role_name", "cas-role"),
                metadata,
            ],
            None,
        ),
        (
            "an INI profile",
            vec![("type", "default"), metadata],
            Some((".alibabacloud/credentials.ini", ini.to_owned())),
        ),
        (
            "a CLI profile",
            vec![("type", "default"), metadata],
            Some((".aliyun/config.json", cli("EcsRamRole"))),
        ),
        (
            "a CLI role chained to the instance's",
            vec![
                ("type", "default"),
                metadata,
                ("sts_endpoint", endpoint.as_str()),
            ],
            Some((".aliyun/config.json", cli("ChainableRamRoleArn"))),
        ),
    ];
    for (what, credentials, file) in cases {
        let home = tempfile::tempdir().unwrap();
        if let Some((name, text)) = &file {
            let path = home.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
        }
        let (status, stderr) = config_check(
            &sim,
            &credentials,
            &[
                ("HOME", home.path().to_str().unwrap()),
                ("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true"),
            ],
        );
        assert_eq!(status.code(), Some(1), "{what}: {stderr}");
        assert!(
            stderr.contains("ALIBABA_CLOUD_ECS_METADATA_DISABLED is true"),
            "{what}: {stderr}"
        );
        let asked: Vec<String> = sim
            .requests()
            .into_iter()
            .filter(|r| r.path.starts_with("/latest/"))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert_eq!(
            asked,
            Vec::<String>::new(),
            "{what} reached the metadata service"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_profile_runs_its_command_for_credentials() {
    use std::os::unix::fs::PermissionsExt;
    let sim = identity_simulator("1h").await;
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_str().unwrap().to_owned();
    // The helper takes the secret as an argument with a space, so the quoting is exercised too.
    let helper = format!("{h}/get creds.sh");
    std::fs::write(
        &helper,
        "#!/bin/sh\nprintf '{\"mode\":\"AK\",\"access_key_id\":\"%s\",\"access_key_secret\":\"%s\"}' \"$1\" \"$2\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::create_dir_all(format!("{h}/.aliyun")).unwrap();
    let command = format!("'{helper}' {KEY_ID} {SECRET}");
    std::fs::write(
        format!("{h}/.aliyun/config.json"),
        serde_json::json!({
            "current": "ext",
            "profiles": [{"name": "ext", "mode": "External", "process_command": command}],
        })
        .to_string(),
    )
    .unwrap();
    let (exporter, _cfg) = start(&sim, &[], &[("HOME", &h)]).await;
    exporter
        .wait_for_log(&["account configured", "provider=external"])
        .await;
    let m = exporter.metrics().await;
    assert_eq!(
        m.get(
            "aliyun_cas_credentials_expiry_timestamp_seconds",
            &[("account", "default")]
        ),
        None,
        "credentials that name no expiry have none"
    );
    let logs = exporter.logs().join("\n");
    assert!(!logs.contains(SECRET), "{logs}");
}
