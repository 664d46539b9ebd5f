//! The credential files users already have: the SDKs' INI profile file and the
//! aliyun CLI's `~/.aliyun/config.json` (spec section 4.3), read into
//! [`ProviderSpec`]s.

use super::chain::{ProviderSpec, RoleSettings, Sts};
use super::{Credentials, Secret};
use crate::input::excerpt;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Sections of an INI file; keys and values trimmed, `#` and what follows it dropped, as the SDK does.
fn parse_ini(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.trim().to_owned());
            sections.entry(name.trim().to_owned()).or_default();
            continue;
        }
        if let (Some(section), Some((key, value))) = (&current, line.split_once('=')) {
            let value = value.split('#').next().unwrap_or("").trim();
            sections
                .entry(section.clone())
                .or_default()
                .insert(key.trim().to_owned(), value.to_owned());
        }
    }
    sections
}

fn static_spec(
    name: &'static str,
    id: &str,
    secret: &str,
    token: Option<&str>,
) -> Result<ProviderSpec, String> {
    if id.is_empty() || secret.is_empty() {
        return Err("the access key ID or secret is empty".into());
    }
    Ok(ProviderSpec::Static {
        name,
        credentials: Credentials {
            access_key_id: id.to_owned(),
            access_key_secret: Secret::new(secret),
            security_token: token.filter(|t| !t.is_empty()).map(Secret::new),
        },
    })
}

/// The profile `profile` of an INI credentials file.
pub(super) fn ini_profile(
    text: &str,
    profile: &str,
    role: &RoleSettings,
) -> Result<ProviderSpec, String> {
    let sections = parse_ini(text);
    let section = sections
        .get(profile)
        .ok_or_else(|| format!("it has no [{}] section", shown(profile)))?;
    let get = |key: &str| {
        section
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let need = |key: &str| get(key).ok_or_else(|| format!("[{}] has no {key}", shown(profile)));
    match get("type").unwrap_or("") {
        "access_key" => static_spec("profile", need("access_key_id")?, need("access_key_secret")?, None),
        "ram_role_arn" => Ok(ProviderSpec::RamRoleArn {
            source: Box::new(static_spec("profile", need("access_key_id")?, need("access_key_secret")?, None)?),
            role_arn: need("role_arn")?.to_owned(),
            session_name: get("role_session_name").map_or_else(|| role.session_name.clone(), str::to_owned),
            policy: get("policy").map(str::to_owned),
            external_id: None,
            duration: role.duration,
            sts: role.sts.clone(),
        }),
        "oidc_role_arn" => Ok(ProviderSpec::Oidc {
            role_arn: need("role_arn")?.to_owned(),
            provider_arn: need("oidc_provider_arn")?.to_owned(),
            token_file: need("oidc_token_file_path")?.to_owned(),
            session_name: get("role_session_name").map_or_else(|| role.session_name.clone(), str::to_owned),
            policy: get("policy").map(str::to_owned),
            duration: role.duration,
            sts: role.sts.clone(),
        }),
        "ecs_ram_role" => Ok(ProviderSpec::EcsRamRole {
            role: get("role_name").map(str::to_owned),
            endpoint: role.metadata_endpoint.clone(),
        }),
        "rsa_key_pair" => Err("type rsa_key_pair is a legacy type the exporter does not support; use access_key or a role".into()),
        other => Err(format!(
            "[{}] has type {}; use access_key, ram_role_arn, oidc_role_arn or ecs_ram_role",
            shown(profile),
            excerpt(other)
        )),
    }
}

#[derive(Deserialize)]
struct CliConfig {
    #[serde(default)]
    current: Option<String>,
    #[serde(default)]
    profiles: Vec<CliProfile>,
}

#[derive(Deserialize, Clone)]
struct CliProfile {
    name: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    access_key_id: String,
    #[serde(default)]
    access_key_secret: String,
    #[serde(default)]
    sts_token: String,
    #[serde(default)]
    ram_role_arn: String,
    #[serde(default)]
    ram_session_name: String,
    #[serde(default)]
    role_session_name: String,
    #[serde(default)]
    expired_seconds: u64,
    #[serde(default)]
    policy: String,
    #[serde(default)]
    external_id: String,
    #[serde(default)]
    sts_region: String,
    #[serde(default)]
    enable_vpc: bool,
    #[serde(default)]
    ram_role_name: String,
    #[serde(default)]
    oidc_provider_arn: String,
    #[serde(default)]
    oidc_token_file: String,
    #[serde(default)]
    source_profile: String,
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// The profile `wanted` (or the file's `current`) of the aliyun CLI's config.json.
pub(super) fn cli_profile(
    text: &str,
    wanted: Option<&str>,
    role: &RoleSettings,
) -> Result<ProviderSpec, String> {
    let config: CliConfig =
        serde_json::from_str(text).map_err(|e| format!("it is not the aliyun CLI's JSON: {e}"))?;
    let name = wanted
        .map(str::to_owned)
        .or(config.current.clone())
        .unwrap_or_else(|| "default".to_owned());
    cli_spec(&config, &name, role, 0)
}

fn cli_spec(
    config: &CliConfig,
    name: &str,
    role: &RoleSettings,
    depth: usize,
) -> Result<ProviderSpec, String> {
    if depth > 5 {
        return Err("source_profile chains more than five profiles deep (a loop?)".into());
    }
    let profile = config
        .profiles
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| format!("it has no profile {}", excerpt(name)))?;
    let sts = |p: &CliProfile| Sts {
        region: non_empty(&p.sts_region).or_else(|| role.sts.region.clone()),
        vpc: p.enable_vpc || role.sts.vpc,
        endpoint: role.sts.endpoint.clone(),
    };
    let duration = |p: &CliProfile| {
        if p.expired_seconds > 0 {
            std::time::Duration::from_secs(p.expired_seconds)
        } else {
            role.duration
        }
    };
    let session = |p: &CliProfile| {
        non_empty(&p.ram_session_name)
            .or_else(|| non_empty(&p.role_session_name))
            .unwrap_or_else(|| role.session_name.clone())
    };
    let assume = |p: &CliProfile, source: ProviderSpec| ProviderSpec::RamRoleArn {
        source: Box::new(source),
        role_arn: p.ram_role_arn.clone(),
        session_name: session(p),
        policy: non_empty(&p.policy),
        external_id: non_empty(&p.external_id),
        duration: duration(p),
        sts: sts(p),
    };
    match profile.mode.as_str() {
        "AK" => static_spec(
            "cli_profile",
            &profile.access_key_id,
            &profile.access_key_secret,
            None,
        ),
        "StsToken" => static_spec(
            "cli_profile",
            &profile.access_key_id,
            &profile.access_key_secret,
            Some(&profile.sts_token),
        ),
        "RamRoleArn" => Ok(assume(
            profile,
            static_spec(
                "cli_profile",
                &profile.access_key_id,
                &profile.access_key_secret,
                None,
            )?,
        )),
        "EcsRamRole" => Ok(ProviderSpec::EcsRamRole {
            role: non_empty(&profile.ram_role_name),
            endpoint: role.metadata_endpoint.clone(),
        }),
        "OIDC" => Ok(ProviderSpec::Oidc {
            role_arn: profile.ram_role_arn.clone(),
            provider_arn: profile.oidc_provider_arn.clone(),
            token_file: profile.oidc_token_file.clone(),
            session_name: session(profile),
            policy: non_empty(&profile.policy),
            duration: duration(profile),
            sts: sts(profile),
        }),
        "ChainableRamRoleArn" => {
            let source = cli_spec(config, &profile.source_profile, role, depth + 1)?;
            Ok(assume(profile, source))
        }
        "CloudSSO" | "OAuth" | "External" => Err(format!(
            "profile {} uses mode {}, which the exporter does not support; use AK, StsToken, RamRoleArn, EcsRamRole, OIDC or ChainableRamRoleArn",
            excerpt(name),
            profile.mode
        )),
        other => Err(format!(
            "profile {} has an unknown mode {}",
            excerpt(name),
            excerpt(other)
        )),
    }
}

/// A profile name as messages show it: names come from the environment or a file, unbounded.
fn shown(profile: &str) -> String {
    if profile.chars().count() <= crate::input::EXCERPT_CHARS && !profile.contains(char::is_control)
    {
        profile.to_owned()
    } else {
        excerpt(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn role() -> RoleSettings {
        RoleSettings {
            session_name: "default-session".into(),
            duration: Duration::from_secs(3600),
            sts: Sts::default(),
            metadata_endpoint: "http://127.0.0.1:9".into(),
        }
    }

    fn key_of(spec: &ProviderSpec) -> String {
        match spec {
            ProviderSpec::Static { credentials, .. } => credentials.access_key_id.clone(),
            ProviderSpec::RamRoleArn {
                source, role_arn, ..
            } => format!("{role_arn} via {}", key_of(source)),
            ProviderSpec::Oidc {
                role_arn,
                token_file,
                ..
            } => format!("oidc {role_arn} {token_file}"),
            ProviderSpec::EcsRamRole { role, .. } => format!("ecs {role:?}"),
            ProviderSpec::Uri { uri } => format!("uri {uri}"),
        }
    }

    const INI: &str = "
[default]
type = access_key                  # the key of the ops team
access_key_id = LTAIdefault
access_key_secret = secret#1

[role]
type = ram_role_arn
access_key_id = LTAIsource
access_key_secret = s2
role_arn = acs:ram::1:role/cas
role_session_name = mine

[oidc]
type = oidc_role_arn
role_arn = acs:ram::1:role/rrsa
oidc_provider_arn = acs:ram::1:oidc-provider/ack
oidc_token_file_path = /var/run/token

[ecs]
type = ecs_ram_role
role_name = cas-role

[old]
type = rsa_key_pair
";

    #[test]
    fn ini_profiles_of_every_type() {
        let spec = |p: &str| ini_profile(INI, p, &role()).map(|s| key_of(&s));
        assert_eq!(spec("default"), Ok("LTAIdefault".into()));
        assert_eq!(
            spec("role"),
            Ok("acs:ram::1:role/cas via LTAIsource".into())
        );
        assert_eq!(
            spec("oidc"),
            Ok("oidc acs:ram::1:role/rrsa /var/run/token".into())
        );
        assert_eq!(spec("ecs"), Ok("ecs Some(\"cas-role\")".into()));
        assert!(spec("old").unwrap_err().contains("rsa_key_pair"));
        assert_eq!(spec("nope"), Err("it has no [nope] section".into()));
        let default = ini_profile(INI, "default", &role()).unwrap();
        let ProviderSpec::Static { credentials, .. } = default else {
            panic!()
        };
        assert_eq!(
            credentials.access_key_secret.expose(),
            "secret",
            "text after # is dropped, as the SDK does"
        );
    }

    const CLI: &str = r#"{"current":"ak","profiles":[
        {"name":"ak","mode":"AK","access_key_id":"LTAIak","access_key_secret":"s","region_id":"cn-hangzhou"},
        {"name":"sts","mode":"StsToken","access_key_id":"STS.x","access_key_secret":"s","sts_token":"t"},
        {"name":"arn","mode":"RamRoleArn","access_key_id":"LTAIsrc","access_key_secret":"s","ram_role_arn":"acs:ram::1:role/a","ram_session_name":"n","expired_seconds":900},
        {"name":"ecs","mode":"EcsRamRole","ram_role_name":"r"},
        {"name":"oidc","mode":"OIDC","ram_role_arn":"acs:ram::1:role/o","oidc_provider_arn":"p","oidc_token_file":"/t"},
        {"name":"chain","mode":"ChainableRamRoleArn","source_profile":"arn","ram_role_arn":"acs:ram::1:role/b"},
        {"name":"sso","mode":"CloudSSO"}]}"#;

    #[test]
    fn cli_profiles_of_every_mode() {
        let spec = |p: Option<&str>| cli_profile(CLI, p, &role()).map(|s| key_of(&s));
        assert_eq!(
            spec(None),
            Ok("LTAIak".into()),
            "the file's current profile"
        );
        assert_eq!(spec(Some("sts")), Ok("STS.x".into()));
        assert_eq!(
            spec(Some("arn")),
            Ok("acs:ram::1:role/a via LTAIsrc".into())
        );
        assert_eq!(spec(Some("ecs")), Ok("ecs Some(\"r\")".into()));
        assert_eq!(spec(Some("oidc")), Ok("oidc acs:ram::1:role/o /t".into()));
        assert_eq!(
            spec(Some("chain")),
            Ok("acs:ram::1:role/b via acs:ram::1:role/a via LTAIsrc".into())
        );
        assert!(spec(Some("sso")).unwrap_err().contains("CloudSSO"));
        let ProviderSpec::RamRoleArn {
            duration,
            session_name,
            ..
        } = cli_profile(CLI, Some("arn"), &role()).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (duration, session_name.as_str()),
            (Duration::from_secs(900), "n")
        );
    }
}
