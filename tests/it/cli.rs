//! The binary's handling of bad input: every mistake exits 1 with a message
//! that says where and what to do; and no secret ever reaches any output.

use crate::support;

use aliyun_cas_exporter::acs::sign::percent_encode;
use support::{
    ConfigBuilder, Exporter, KEY_ENV, KEY_ID, SECRET, SimSpec, TOKEN, config_file, run_to_end,
};

fn check(text: &str, env: &[(&str, &str)]) -> (i32, String, String, String) {
    let cfg = config_file(text);
    let path = cfg.path.to_str().unwrap().to_owned();
    let (status, stdout, stderr) = run_to_end(&["--config.check", "--config.file", &path], env);
    (status.code().unwrap(), stdout, stderr, path)
}

#[test]
fn config_check_accepts_a_valid_file() {
    let (code, stdout, stderr, path) = check("endpoint: intl\njobs: [8888, 9999]\n", &KEY_ENV);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(
        stdout,
        format!(
            "{path}: valid (accounts: 1, jobs listed by ID: 2, accounts with discovery: 0)
  account default: endpoint https://cas.ap-southeast-1.aliyuncs.com/
  account default: credentials: the default chain, trying in order: environment: static AccessKey LTAI**** from ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET
"
        )
    );
}

#[test]
fn config_check_names_file_line_column_and_remedy() {
    let cases: [(&str, &str); 7] = [
        ("jobs: [1\n", ":2:1: did not find expected ',' or ']'"),
        (
            "jobs: [1]\npoll_interval: 30s\n",
            ":2:1: unknown field `poll_interval`, expected one of",
        ),
        (
            "jobs:\n  - 12\n  - twelve\n",
            ":3:5: jobs[1]: job ID \"twelve\" is not a number; job IDs are the positive integers",
        ),
        (
            "jobs: [12, 12]\n",
            ":1:12: jobs[1]: job ID 12 is listed twice; remove the duplicate",
        ),
        ("jobs: [0]\n", ":1:8: jobs[0]: job ID 0 is not valid"),
        (
            "endpoint: ftp://cas.aliyuncs.com\njobs: [1]\n",
            ":1:11: endpoint: endpoint \"ftp://cas.aliyuncs.com\" is not valid: the scheme must be https",
        ),
        (
            "interval: soon\njobs: [1]\n",
            ":1:11: interval: \"soon\" is not a duration",
        ),
    ];
    for (text, expected) in cases {
        let (code, stdout, stderr, path) = check(text, &KEY_ENV);
        assert_eq!(code, 1, "{text}");
        assert_eq!(stdout, "");
        assert!(
            stderr.starts_with(&format!("{path}{expected}")),
            "{text}\ngot: {stderr}"
        );
    }
}

#[test]
fn missing_or_partial_credentials_are_explained() {
    let cfg = config_file("jobs: [1]\n");
    let path = cfg.path.to_str().unwrap();
    let (status, _, stderr) = run_to_end(
        &["--config.check.credentials", "--config.file", path],
        &[("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID)],
    );
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("\n  environment: ALIBABA_CLOUD_ACCESS_KEY_ID is set but ALIBABA_CLOUD_ACCESS_KEY_SECRET is empty or unset"), "{stderr}");
    let (code, _, stderr, path) = check(
        "jobs: [1]\ncredentials:\n  access_key_id: LTAI\n  access_key_secret: ${CAS_SECRET}\n",
        &[],
    );
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "{path}:4:22: credentials.access_key_secret: refers to ${{CAS_SECRET}}, which is not set or empty; export CAS_SECRET before starting the exporter\n"
        )
    );
}

#[test]
fn a_secret_written_in_a_readable_file_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let cfg = config_file(&format!(
        "jobs: [1]\ncredentials:\n  access_key_id: {KEY_ID}\n  access_key_secret: {SECRET}\n"
    ));
    let path = cfg.path.to_str().unwrap();
    std::fs::set_permissions(&cfg.path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (status, _, stderr) = run_to_end(&["--config.check", "--config.file", path], &[]);
    assert!(status.success());
    assert_eq!(
        stderr,
        format!(
            "warning: {path} holds a secret by value and is readable by group or others (mode 644): run chmod 600 {path}, or write the secret as ${{VARIABLE}}\n"
        )
    );
    std::fs::set_permissions(&cfg.path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (status, _, stderr) = run_to_end(&["--config.check", "--config.file", path], &[]);
    assert!(status.success() && stderr.is_empty(), "{stderr}");
    // A reference to a variable is no secret in the file, whatever the mode.
    let by_reference = config_file(&format!(
        "jobs: [1]\ncredentials:\n  access_key_id: {KEY_ID}\n  access_key_secret: ${{CAS_SECRET}}\n"
    ));
    std::fs::set_permissions(&by_reference.path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (status, _, stderr) = run_to_end(
        &[
            "--config.check",
            "--config.file",
            by_reference.path.to_str().unwrap(),
        ],
        &[("CAS_SECRET", SECRET)],
    );
    assert!(status.success() && stderr.is_empty(), "{stderr}");
}

#[test]
fn startup_errors_exit_1_with_a_log_line() {
    let (status, _, stderr) = run_to_end(&["--config.file", "/nonexistent/cas.yaml"], &KEY_ENV);
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("level=error"), "{stderr}");
    assert!(
        stderr.contains("cannot read config file /nonexistent/cas.yaml: No such file or directory"),
        "{stderr}"
    );
    assert!(
        stderr.contains("check the path given to --config.file"),
        "{stderr}"
    );

    let (status, _, stderr) = run_to_end(&[], &KEY_ENV);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("no configuration: pass --config.file PATH"),
        "{stderr}"
    );

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = busy.local_addr().unwrap().to_string();
    let cfg = config_file("jobs: [1]\n");
    let (status, _, stderr) = run_to_end(
        &[
            "--config.file",
            cfg.path.to_str().unwrap(),
            "--web.listen-address",
            &taken,
        ],
        &KEY_ENV,
    );
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains(&format!("cannot listen on {taken}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("pick a free address with --web.listen-address"),
        "{stderr}"
    );

    let (status, stdout, _) = run_to_end(&["--version"], &[]);
    assert!(status.success());
    assert!(
        stdout.starts_with(&format!(
            "aliyun-cas-exporter {} (revision ",
            env!("CARGO_PKG_VERSION")
        )),
        "{stdout}"
    );
}

/// Every form the secret and the token could take on the way out.
fn forbidden() -> Vec<String> {
    let mut all = Vec::new();
    for value in [SECRET, TOKEN] {
        all.push(value.to_owned());
        all.push(percent_encode(value));
        all.push(percent_encode(&percent_encode(value)));
        all.push(value.replace('+', " "));
    }
    all.push("canary-7f3e1c9a".to_owned());
    all.push("tOkEn/canary".to_owned());
    all.push("tOkEn%2Fcanary".to_owned());
    all
}

fn assert_clean(what: &str, text: &str) {
    for needle in forbidden() {
        assert!(
            !text.contains(&needle),
            "{what} contains {needle:?}:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_token_in_any_output() {
    // The simulator knows the key with another secret: every answer is a
    // SignatureDoesNotMatch whose server string-to-sign carries the token.
    let sim = SimSpec::new()
        .key(KEY_ID, "another-secret")
        .security_token(TOKEN)
        .key("STS.good", SECRET)
        .security_token(TOKEN)
        .set("identity", r#"{roles: [{arn: "acs:ram::1:role/known"}]}"#)
        .job("{id: 1, workers: {CDN: 1}}")
        .job("{id: 2, fault: malformed}")
        .job("{id: 3, fault: hang}")
        .job("{id: 4, fault: bad_gateway}")
        .start()
        .await;
    let mut outputs: Vec<(String, String)> = Vec::new();
    for (format, key_id, in_file) in [
        ("logfmt", KEY_ID, false),
        ("json", KEY_ID, true),
        ("json", "STS.good", true),
    ] {
        let credentials: &[(&str, &str)] = if in_file {
            &[
                ("access_key_id", "${AK_ID}"),
                ("access_key_secret", "${AK_SECRET}"),
                ("security_token", "${AK_TOKEN}"),
            ]
        } else {
            &[]
        };
        let cfg = ConfigBuilder::new(&sim)
            .interval("1s")
            .set("timeouts", "{request: 300ms}")
            .credentials(credentials)
            .jobs(1..=4)
            .file();
        let env: Vec<(&str, &str)> = if in_file {
            vec![
                ("AK_ID", key_id),
                ("AK_SECRET", SECRET),
                ("AK_TOKEN", TOKEN),
            ]
        } else {
            vec![
                ("ALIBABA_CLOUD_ACCESS_KEY_ID", key_id),
                ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET),
                ("ALIBABA_CLOUD_SECURITY_TOKEN", TOKEN),
            ]
        };
        let exporter = Exporter::start(
            &[
                "--config.file",
                cfg.path.to_str().unwrap(),
                "--log.level=debug",
                &format!("--log.format={format}"),
            ],
            &env,
        );
        exporter.wait_ready().await;
        if key_id == KEY_ID {
            exporter
                .wait_for_log(&["SignatureDoesNotMatch", "<redacted>"])
                .await;
        } else {
            exporter.wait_for_log(&["decode"]).await;
            // The gateway's page echoes the request, token included: the log line must not.
            exporter
                .wait_for_log(&["502 Bad Gateway", "<redacted>"])
                .await;
        }
        for path in ["/metrics", "/", "/-/ready"] {
            outputs.push((
                format!("{format} {key_id} {path}"),
                exporter.get(path).await.1,
            ));
        }
        let (_, logs) = exporter.terminate();
        outputs.push((format!("{format} {key_id} logs"), logs.join("\n")));
    }
    let inline = config_file(&format!(
        "credentials:\n  access_key_id: {KEY_ID}\n  access_key_secret: {SECRET}\n  security_token: \"{TOKEN}\"\njobs: [1, 1]\n"
    ));
    let (_, stdout, stderr) = run_to_end(
        &[
            "--config.check",
            "--config.file",
            inline.path.to_str().unwrap(),
        ],
        &[],
    );
    outputs.push(("config.check".into(), format!("{stdout}{stderr}")));
    assert!(stderr.contains("listed twice"), "{stderr}");
    // A role that STS refuses: the startup error quotes STS, never the source secret or token.
    let role = ConfigBuilder::new(&sim)
        .credentials(&[
            ("type", "ram_role_arn"),
            ("role_arn", "acs:ram::1:role/unknown"),
            ("sts_endpoint", &sim.endpoint()),
        ])
        .jobs([1])
        .file();
    let (status, stdout, stderr) = run_to_end(
        &[
            "--config.file",
            role.path.to_str().unwrap(),
            "--log.level=debug",
        ],
        &[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET),
            ("ALIBABA_CLOUD_SECURITY_TOKEN", TOKEN),
        ],
    );
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("EntityNotExist.Role"), "{stderr}");
    outputs.push(("refused role".into(), format!("{stdout}{stderr}")));
    // A known role with the wrong source secret: STS echoes the string it signed, token and all.
    let known = std::fs::read_to_string(&role.path)
        .unwrap()
        .replace("role/unknown", "role/known");
    std::fs::write(&role.path, known).unwrap();
    let (status, stdout, stderr) = run_to_end(
        &[
            "--config.file",
            role.path.to_str().unwrap(),
            "--log.level=debug",
        ],
        &[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET),
            ("ALIBABA_CLOUD_SECURITY_TOKEN", TOKEN),
        ],
    );
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("SignatureDoesNotMatch") && stderr.contains("SecurityToken%3D<redacted>"),
        "{stderr}"
    );
    outputs.push(("STS signature error".into(), format!("{stdout}{stderr}")));
    let in_url = config_file(&format!(
        "endpoint: https://{KEY_ID}:{SECRET}@cas.aliyuncs.com\njobs: [1]\n"
    ));
    let (_, stdout, stderr) = run_to_end(
        &[
            "--config.check",
            "--config.file",
            in_url.path.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        stderr.contains("credentials do not belong in the endpoint"),
        "{stderr}"
    );
    outputs.push((
        "endpoint with credentials".into(),
        format!("{stdout}{stderr}"),
    ));
    for (what, text) in &outputs {
        assert_clean(what, text);
    }
    let signature_lines = outputs
        .iter()
        .filter(|(_, t)| t.contains("SignatureDoesNotMatch"))
        .count();
    assert!(
        signature_lines >= 2,
        "both log formats saw the signature error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_reloads_never_show_the_secret() {
    let sim = SimSpec::new()
        .key(KEY_ID, SECRET)
        .job("{id: 1, workers: {CDN: 1}}")
        .start()
        .await;
    let cfg = ConfigBuilder::new(&sim).jobs([1]).file();
    let exporter = Exporter::start(
        &[
            "--config.file",
            cfg.path.to_str().unwrap(),
            "--web.enable-lifecycle",
            "--log.level=debug",
        ],
        &KEY_ENV,
    );
    exporter.wait_ready().await;
    let credentials = format!("credentials:\n  access_key_id: {KEY_ID}\n");
    // Each file is broken right at, or right beside, a secret written by value.
    let broken = [
        (
            format!("{credentials}  access_key_secret: \"{SECRET}\njobs: [1]\n"),
            "while scanning a quoted scalar",
        ),
        (
            format!(
                "{credentials}  access_key_secret: {SECRET}\n  access_key_secret: {SECRET}x\njobs: [1]\n"
            ),
            "duplicate field `access_key_secret`",
        ),
        (
            format!(
                "{credentials}  access_key_secret: {SECRET}\n  security_token: [\"{TOKEN}\"]\njobs: [1]\n"
            ),
            "credentials.security_token: invalid type: sequence",
        ),
        (
            format!("{credentials}  access_key_secret: {{value: {SECRET}}}\njobs: [1]\n"),
            "credentials.access_key_secret: invalid type: map",
        ),
        (
            format!(
                "{credentials}  access_key_secret: {SECRET}\n  security_token: \"{TOKEN}\"\n  role_arn: acs:ram::1:role/x\njobs: [1]\n"
            ),
            "role_arn",
        ),
    ];
    let mut outputs = Vec::new();
    for (text, expected) in &broken {
        std::fs::write(&cfg.path, text).unwrap();
        let (status, body) = exporter.reload().await;
        assert_eq!(status, 500, "{body}");
        assert!(body.contains(expected), "{expected:?} not in {body}");
        outputs.push((format!("reload answer for {expected}"), body));
    }
    outputs.push(("metrics".into(), exporter.get("/metrics").await.1));
    let (_, logs) = exporter.terminate();
    let refused = logs
        .iter()
        .filter(|l| l.contains("configuration reload refused"))
        .count();
    assert_eq!(refused, broken.len(), "{logs:#?}");
    outputs.push(("logs".into(), logs.join("\n")));
    for (what, text) in &outputs {
        assert_clean(what, text);
    }
}
