//! The aliyun CLI's `~/.aliyun/config.json`, read as the official library
//! reads it.

use super::static_spec;
use crate::credentials::ProcessCommand;
use crate::credentials::spec::{ProviderSpec, RoleSettings, Sts};
use crate::input::excerpt;
use serde::Deserialize;

/// The CLI's file as JSON values: read whole first, so that a key given twice
/// keeps its last value and only the profiles the chain reaches are read, as
/// Python's `json` and the library do.
struct CliConfig {
    current: Option<String>,
    profiles: Vec<serde_json::Value>,
}

impl CliConfig {
    fn parse(text: &str) -> Result<Self, String> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| format!("it is not the aliyun CLI's JSON: {e}"))?;
        let current = value
            .get("current")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        let profiles = match value.get("profiles") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(profiles)) => profiles.clone(),
            Some(_) => return Err("its `profiles` is not a list".into()),
        };
        Ok(Self { current, profiles })
    }

    /// The first profile named `name`; an entry before it that is not an object
    /// makes the file unreadable, as it does for the library.
    fn profile(&self, name: &str) -> Result<CliProfile, String> {
        for (index, entry) in self.profiles.iter().enumerate() {
            let Some(fields) = entry.as_object() else {
                return Err(format!("profiles[{index}] is not an object"));
            };
            if fields.get("name").and_then(serde_json::Value::as_str) == Some(name) {
                return CliProfile::deserialize(entry)
                    .map_err(|e| format!("profiles[{index}]: {e}"));
            }
        }
        Err(format!("it has no profile {}", excerpt(name)))
    }
}

#[derive(Deserialize, Clone)]
struct CliProfile {
    #[serde(default, deserialize_with = "loose")]
    mode: String,
    #[serde(default, deserialize_with = "loose")]
    access_key_id: String,
    #[serde(default, deserialize_with = "loose")]
    access_key_secret: String,
    #[serde(default, deserialize_with = "loose")]
    sts_token: String,
    #[serde(default, deserialize_with = "loose")]
    ram_role_arn: String,
    #[serde(default, deserialize_with = "loose")]
    ram_session_name: String,
    #[serde(default, deserialize_with = "loose")]
    role_session_name: String,
    #[serde(default, deserialize_with = "loose")]
    expired_seconds: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "loose")]
    policy: String,
    #[serde(default, deserialize_with = "loose")]
    external_id: String,
    #[serde(default, deserialize_with = "loose")]
    sts_region: String,
    #[serde(default, deserialize_with = "loose")]
    enable_vpc: bool,
    #[serde(default, deserialize_with = "loose")]
    ram_role_name: String,
    #[serde(default, deserialize_with = "loose")]
    oidc_provider_arn: String,
    #[serde(default, deserialize_with = "loose")]
    oidc_token_file: String,
    #[serde(default, deserialize_with = "loose")]
    process_command: String,
    #[serde(default, deserialize_with = "loose")]
    source_profile: String,
}

/// A field read as the official library reads the profile: only the fields its
/// mode needs matter, so a `null` or a value of another type in any field is as if
/// the field were absent (a field the mode needs is then reported missing).
fn loose<'de, D: serde::Deserializer<'de>, T: serde::de::DeserializeOwned + Default>(
    d: D,
) -> Result<T, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(T::deserialize(value).unwrap_or_default())
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// The profile `wanted` (or the file's `current`) of the aliyun CLI's config.json.
pub(in crate::credentials) fn cli_profile(
    text: &str,
    wanted: Option<&str>,
    role: &RoleSettings,
) -> Result<ProviderSpec, String> {
    let config = CliConfig::parse(text)?;
    // As the official library does: no profile named and none current is no profile.
    let name = wanted
        .map(str::to_owned)
        .or(config.current.clone().filter(|c| !c.is_empty()))
        .ok_or("it names no current profile and ALIBABA_CLOUD_PROFILE is not set; set `current` in the file (aliyun configure does) or ALIBABA_CLOUD_PROFILE")?;
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
    let profile = &config.profile(name)?;
    let sts = |p: &CliProfile| Sts {
        region: non_empty(&p.sts_region).or_else(|| role.sts.region.clone()),
        vpc: p.enable_vpc || role.sts.vpc,
        endpoint: role.sts.endpoint.clone(),
    };
    // As the library does: absent means an hour; present, it must be a whole number
    // of seconds STS accepts, or the profile is refused before STS is asked.
    let duration = |p: &CliProfile| match &p.expired_seconds {
        None => Ok(role.duration),
        Some(value) => value
            .as_u64()
            .filter(|seconds| *seconds >= 900)
            .map(std::time::Duration::from_secs)
            .ok_or_else(|| {
                format!(
                    "profile {} has expired_seconds {}; STS takes a whole number of at least 900",
                    excerpt(name),
                    excerpt(&value.to_string())
                )
            }),
    };
    let session = |p: &CliProfile| {
        non_empty(&p.ram_session_name)
            .or_else(|| non_empty(&p.role_session_name))
            .unwrap_or_else(|| role.session_name.clone())
    };
    let assume = |p: &CliProfile, source: ProviderSpec| -> Result<ProviderSpec, String> {
        Ok(ProviderSpec::RamRoleArn {
            source: Box::new(source),
            role_arn: p.ram_role_arn.clone(),
            session_name: session(p),
            policy: non_empty(&p.policy),
            external_id: non_empty(&p.external_id),
            duration: duration(p)?,
            sts: sts(p),
        })
    };
    match profile.mode.as_str() {
        "AK" => static_spec(
            "cli_profile",
            &profile.access_key_id,
            &profile.access_key_secret,
            None,
        ),
        // As the official library does: a temporary key is useless without its token.
        "StsToken" if profile.sts_token.is_empty() => Err(format!(
            "profile {} of mode StsToken has no sts_token",
            excerpt(name)
        )),
        "StsToken" => static_spec(
            "cli_profile",
            &profile.access_key_id,
            &profile.access_key_secret,
            Some(&profile.sts_token),
        ),
        "RamRoleArn" => assume(
            profile,
            static_spec(
                "cli_profile",
                &profile.access_key_id,
                &profile.access_key_secret,
                None,
            )?,
        ),
        "EcsRamRole" => Ok(ProviderSpec::EcsRamRole {
            role: non_empty(&profile.ram_role_name),
            endpoint: role.metadata_endpoint.clone(),
        }),
        "OIDC" => Ok(ProviderSpec::Oidc {
            role_arn: profile.ram_role_arn.clone(),
            provider_arn: profile.oidc_provider_arn.clone(),
            token_file: profile.oidc_token_file.clone().into(),
            session_name: session(profile),
            policy: non_empty(&profile.policy),
            duration: duration(profile)?,
            sts: sts(profile),
        }),
        "ChainableRamRoleArn" => {
            let source = cli_spec(config, &profile.source_profile, role, depth + 1)?;
            assume(profile, source)
        }
        "External" if profile.process_command.trim().is_empty() => Err(format!(
            "profile {} of mode External has no process_command",
            excerpt(name)
        )),
        "External" => Ok(ProviderSpec::External {
            command: ProcessCommand::new(profile.process_command.clone()),
        }),
        "CloudSSO" | "OAuth" => Err(format!(
            "profile {} uses mode {}, which the exporter does not support (it needs a browser sign-in); use AK, StsToken, RamRoleArn, EcsRamRole, OIDC, ChainableRamRoleArn or External",
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::{key_of, role};
    use super::*;
    use std::time::Duration;

    const CLI: &str = r#"{"current":"ak","profiles":[
        {"name":"ak","mode":"AK","access_key_id":"LTAIak","access_key_secret":"s","region_id":"cn-hangzhou"},
        {"name":"sts","mode":"StsToken","access_key_id":"STS.x","access_key_secret":"s","sts_token":"t"},
        {"name":"arn","mode":"RamRoleArn","access_key_id":"LTAIsrc","access_key_secret":"s","ram_role_arn":"acs:ram::1:role/a","ram_session_name":"n","expired_seconds":900},
        {"name":"ecs","mode":"EcsRamRole","ram_role_name":"r"},
        {"name":"oidc","mode":"OIDC","ram_role_arn":"acs:ram::1:role/o","oidc_provider_arn":"p","oidc_token_file":"/t"},
        {"name":"chain","mode":"ChainableRamRoleArn","source_profile":"arn","ram_role_arn":"acs:ram::1:role/b"},
        {"name":"sso","mode":"CloudSSO"},
        {"name":"oauth","mode":"OAuth","oauth_site_type":"CN"},
        {"name":"ext","mode":"External","process_command":"/opt/bin/creds --role 'read only'"},
        {"name":"noext","mode":"External","process_command":" "},
        {"name":"nots","mode":"StsToken","access_key_id":"STS.y","access_key_secret":"s","sts_token":""},
        {"name":"nulls","mode":"AK","access_key_id":"LTAInulls","access_key_secret":"s","sts_token":null,"ram_role_arn":null,"expired_seconds":"soon","enable_vpc":null},
        {"name":null,"mode":null}]}"#;

    #[test]
    fn the_cli_file_is_read_as_the_library_reads_it() {
        let key = |text: &str| cli_profile(text, None, &role()).map(|s| key_of(&s));
        // A key given twice keeps its last value.
        assert_eq!(
            key(
                r#"{"current":"x","current":"a","profiles":[{"name":"a","mode":"AK","access_key_id":"LTAIone","access_key_id":"LTAItwo","access_key_secret":"s"}]}"#
            ),
            Ok("LTAItwo".into())
        );
        // Entries after the profile are never read; one before it that is not an object is an error.
        assert_eq!(
            key(
                r#"{"current":"a","profiles":[{"name":"a","mode":"AK","access_key_id":"LTAIa","access_key_secret":"s"},"junk"]}"#
            ),
            Ok("LTAIa".into())
        );
        assert_eq!(
            key(
                r#"{"current":"a","profiles":["junk",{"name":"a","mode":"AK","access_key_id":"LTAIa","access_key_secret":"s"}]}"#
            ),
            Err("profiles[0] is not an object".into())
        );
        assert!(
            key("\u{feff}{}")
                .unwrap_err()
                .starts_with("it is not the aliyun CLI's JSON")
        );
        let role_with = |seconds: &str| {
            key(&format!(
                r#"{{"current":"r","profiles":[{{"name":"r","mode":"RamRoleArn","access_key_id":"LTAIsrc","access_key_secret":"s","ram_role_arn":"acs:ram::1:role/a","expired_seconds":{seconds}}}]}}"#
            ))
        };
        assert_eq!(role_with("900"), Ok("acs:ram::1:role/a via LTAIsrc".into()));
        assert_eq!(
            role_with("null"),
            Ok("acs:ram::1:role/a via LTAIsrc".into())
        );
        for refused in ["0", "600", "\"3600\"", "true"] {
            let error = role_with(refused).unwrap_err();
            assert!(
                error.ends_with("; STS takes a whole number of at least 900"),
                "{refused}: {error}"
            );
        }
    }

    #[test]
    fn a_file_without_current_names_no_profile() {
        let file = r#"{"profiles":[{"name":"default","mode":"AK","access_key_id":"LTAId","access_key_secret":"s"}]}"#;
        assert_eq!(
            cli_profile(file, None, &role()).map(|s| key_of(&s)),
            Err("it names no current profile and ALIBABA_CLOUD_PROFILE is not set; set `current` in the file (aliyun configure does) or ALIBABA_CLOUD_PROFILE".into())
        );
        assert_eq!(
            cli_profile(file, Some("default"), &role()).map(|s| key_of(&s)),
            Ok("LTAId".into())
        );
        let empty = r#"{"current":"","profiles":[]}"#;
        assert!(
            cli_profile(empty, None, &role())
                .unwrap_err()
                .starts_with("it names no current profile")
        );
    }

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
        assert_eq!(
            spec(Some("sso")),
            Err("profile \"sso\" uses mode CloudSSO, which the exporter does not support (it needs a browser sign-in); use AK, StsToken, RamRoleArn, EcsRamRole, OIDC, ChainableRamRoleArn or External".into())
        );
        assert!(spec(Some("oauth")).unwrap_err().contains("uses mode OAuth"));
        assert_eq!(spec(Some("ext")), Ok("external /opt/bin/creds".into()));
        assert_eq!(
            spec(Some("noext")),
            Err("profile \"noext\" of mode External has no process_command".into())
        );
        assert_eq!(
            spec(Some("nots")),
            Err("profile \"nots\" of mode StsToken has no sts_token".into()),
            "the official library refuses it and the chain goes on"
        );
        assert_eq!(
            spec(Some("nulls")),
            Ok("LTAInulls".into()),
            "fields the mode does not use may be null or of another type"
        );
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
