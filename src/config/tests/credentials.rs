//! `credentials:` sections: each type, the keys it refuses, and references.

use super::*;

#[test]
fn an_unclosed_reference_is_refused_without_being_shown() {
    let text = "jobs: [1]\ncredentials:\n  access_key_id: a\n  access_key_secret: ${AK_SECRET\n";
    assert_eq!(
        error(text),
        "cfg.yaml:4:22: credentials.access_key_secret: is not a valid reference; write ${VARIABLE_NAME}, with up to 128 letters, digits and _"
    );
}

#[test]
fn credential_types() {
    let env = Env::from_pairs(&[
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIenv"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "s"),
        ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/env"),
    ]);
    let spec = |section: &str| {
        Config::parse(
            &format!("jobs: [1]\ncredentials:\n{section}"),
            "cfg.yaml",
            &env,
        )
        .map(|c| format!("{:?}", c.accounts[0].credentials))
        .map_err(|e| e.to_string())
    };
    let arn = spec("  type: ram_role_arn\n  duration: 15m\n  sts_region: cn-shanghai\n").unwrap();
    assert!(arn.contains("role_arn: \"acs:ram::1:role/env\""), "{arn}");
    assert!(
        arn.contains("access_key_id: \"LTAI****\""),
        "the source keys come from the environment: {arn}"
    );
    assert!(
        arn.contains("duration: 900s") && arn.contains("region: Some(\"cn-shanghai\")"),
        "{arn}"
    );
    let oidc =
        spec("  type: oidc_role_arn\n  oidc_provider_arn: p\n  oidc_token_file: /t\n").unwrap();
    assert!(
        oidc.contains("Oidc") && oidc.contains("token_file: \"/t\""),
        "{oidc}"
    );
    let ecs =
        spec("  type: ecs_ram_role\n  role_name: r\n  metadata_endpoint: http://127.0.0.1:9\n")
            .unwrap();
    assert!(
        ecs.contains("EcsRamRole { role: Some(\"r\"), endpoint: \"http://127.0.0.1:9\" }"),
        "{ecs}"
    );
    assert!(
        spec("  type: credentials_uri\n  uri: http://127.0.0.1:9/c\n")
            .unwrap()
            .contains("Uri")
    );
    assert!(
        spec("  type: default\n  sts_endpoint: http://127.0.0.1:9\n")
            .unwrap()
            .starts_with("Chain")
    );
    assert_eq!(
        spec("  type: ecs_ram_role\n  role_arn: x\n").unwrap_err(),
        "cfg.yaml: `credentials.role_arn`: does not apply to credentials of type ecs_ram_role; it takes role_name, metadata_endpoint"
    );
    assert_eq!(
        spec("  type: ram_role_arn\n  duration: 5m\n").unwrap_err(),
        "cfg.yaml: `credentials.duration`: STS issues credentials for 15m at least; write 15m or more (1h is the default)"
    );
    assert_eq!(
        spec("  type: oidc_role_arn\n").unwrap_err(),
        "cfg.yaml: `credentials.oidc_provider_arn`: is required for credentials of type oidc_role_arn: write it here or set ALIBABA_CLOUD_OIDC_PROVIDER_ARN"
    );
    assert_eq!(
        spec("  type: saml\n").unwrap_err(),
        "cfg.yaml: `credentials.type`: \"saml\" is not a credentials type; use one of default, access_key, ram_role_arn, oidc_role_arn, ecs_ram_role, credentials_uri"
    );
    let no_source = Config::parse(
        "jobs: [1]\ncredentials:\n  type: ram_role_arn\n  role_arn: r\n",
        "cfg.yaml",
        &Env::empty(),
    );
    assert_eq!(
        no_source.unwrap_err().to_string(),
        "cfg.yaml: `credentials`: a ram_role_arn needs source credentials: give access_key_id and access_key_secret here, or set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"
    );
}

#[test]
fn credentials_references() {
    assert_eq!(
        error("jobs: [1]\ncredentials:\n  access_key_id: a\n  access_key_secret: ${NOPE}\n"),
        "cfg.yaml:4:22: credentials.access_key_secret: refers to ${NOPE}, which is not set or empty; export NOPE before starting the exporter"
    );
    assert_eq!(
        error("jobs: [1]\ncredentials:\n  access_key_id: ''\n  access_key_secret: x\n"),
        "cfg.yaml: `credentials`: access_key_id and access_key_secret must both be given and non-empty; remove both to use ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET instead"
    );
}
